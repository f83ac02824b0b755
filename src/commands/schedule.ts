/**
 * `atlas-pl-export schedule`: show the cluster's snapshot schedule and auto-export setting, or turn
 * auto-export on (`--frequency monthly|yearly`, to the export bucket setup made) or off (`--disable`).
 *
 * A change sends the schedule back exactly as read (every snapshot policy and policy item, ids
 * included) with only the auto-export fields changed, then reads the schedule again and compares
 * the policies field by field with what it was before. The result is recorded in
 * state.resources.schedule, which teardown uses to undo what this tool turned on.
 */
import { isInteractive, readConfigFile, type SetupConfig, warnIfConfigDiffers } from '../config.js';
import { comparePolicies, withAutoExport } from '../atlas/schedule.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { confirmOrStop, counted, formatTable, type Output } from '../output.js';
import type { CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import { requireState } from '../state/require.js';
import { exportBucketOf, refuseUnlessPrivate } from './export.js';
import type { StateFile } from '../state/schema.js';
import { lockState, writeState } from '../state/store.js';
import type { BackupPolicyItem, BackupSchedule, ExportBucket } from '../atlas/types.js';

/** The frequencies the API documents for auto-export; others are passed on for Atlas to judge. */
const DOCUMENTED_FREQUENCIES = ['monthly', 'yearly'];

/** The frequencies a snapshot policy item can have (the spec's DiskBackupApiPolicyItem.frequencyType). */
const POLICY_ITEM_FREQUENCIES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly', 'ondemand'];

/** What `--frequency` must look like before anything is sent: Atlas's frequencies are lowercase words. */
const FREQUENCY_FORM = /^[a-z]{1,32}$/;

type Change = { kind: 'show' } | { kind: 'enable'; frequency: string } | { kind: 'disable' };

interface Flags {
  change: Change;
  interactive: boolean;
  yes: boolean;
  json: boolean;
  config: SetupConfig;
}

export async function run({ options, out }: CommandContext): Promise<number> {
  const flags = parseFlags(options, out);
  const session = openSession(out, options);
  const state = requireState(session);
  warnIfConfigDiffers(flags.config, state, out);
  if (flags.change.kind === 'show') return show(session, state, flags);
  return change(session, flags);
}

function parseFlags(options: Record<string, unknown>, out: Output): Flags {
  const config = typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const interactive = isInteractive(options);
  const frequency = typeof options.frequency === 'string' ? options.frequency : undefined;
  if (frequency !== undefined && options.disable) {
    throw new UsageError('--frequency and --disable cannot be used together.', {
      hint: 'Use --frequency monthly|yearly to turn auto-export on, or --disable to turn it off.',
    });
  }
  if (frequency !== undefined && !FREQUENCY_FORM.test(frequency)) {
    throw new UsageError(
      `--frequency "${frequency}": must be one lowercase word (letters a-z only, at most 32), such as monthly or yearly.`,
      {
        code: 'INVALID_EXPORT_FREQUENCY',
        hint: 'Use --frequency monthly or --frequency yearly (the frequencies the API documents).',
      },
    );
  }
  const change: Change = options.disable
    ? { kind: 'disable' }
    : frequency !== undefined
      ? { kind: 'enable', frequency }
      : { kind: 'show' };
  return { change, interactive, yes: Boolean(options.yes), json: Boolean(options.json), config };
}

const scheduleApi = () => import('../atlas/schedule.js');

// ---------------------------------------------------------------------------------------------
// Showing

async function show(session: Session, state: StateFile, flags: Flags): Promise<number> {
  const api = await scheduleApi();
  const schedule = await api.getSchedule(
    await session.atlas(),
    state.atlas.projectId,
    state.atlas.clusterName,
  );
  const ourBucket = state.resources.exportBucket?.id;
  const privateNetworking = await warnIfNotPrivate(session, state, schedule);
  if (flags.json) {
    session.out.printJson({
      ok: true,
      cluster: state.atlas.clusterName,
      schedule: scheduleSummary(schedule),
      exportBucketRequirePrivateNetworking: privateNetworking ?? null,
      recorded: state.resources.schedule ?? null,
    });
    return ExitCode.ok;
  }
  session.out.result(renderSchedule(state.atlas.clusterName, schedule, ourBucket));
  return ExitCode.ok;
}

/**
 * The requirePrivateNetworking of the export bucket auto-export goes to (one GET), with a warning
 * line when it is false; undefined when auto-export is off or the bucket cannot be read (said too).
 */
async function warnIfNotPrivate(
  session: Session,
  state: StateFile,
  schedule: BackupSchedule,
): Promise<boolean | undefined> {
  const read = await autoExportBucket(session, state, schedule);
  if (!read) return undefined;
  if (!('bucket' in read)) {
    session.out.warn(
      `Could not read export bucket ${read.id}, where auto-export goes, to see whether it requires private networking: ${(read.error as Error).message}`,
    );
    return undefined;
  }
  if (read.bucket.requirePrivateNetworking === true) return true;
  session.out.warn(
    `Warning: auto-export goes to export bucket ${read.id}, which does not require private networking (requirePrivateNetworking: false): scheduled exports may travel over public networks instead of the private endpoint. ${read.id === state.resources.exportBucket?.id ? 'Rerun `atlas-pl-export setup` (with the same --state) to set it back to true.' : 'That export bucket is not the one in the state file.'}`,
  );
  return false;
}

/** The export bucket auto-export goes to, read (one GET), or why it could not be; undefined when off. */
async function autoExportBucket(
  session: Session,
  state: StateFile,
  schedule: BackupSchedule,
): Promise<{ id: string; bucket: ExportBucket } | { id: string; error: unknown } | undefined> {
  const id = schedule.export?.exportBucketId;
  if (!schedule.autoExportEnabled || !id) return undefined;
  const buckets = await import('../atlas/exportBuckets.js');
  return buckets
    .getExportBucket(await session.atlas(), state.atlas.projectId, id)
    .then((bucket) => ({ id, bucket }))
    .catch((error: unknown) => ({ id, error }));
}

export function renderSchedule(
  clusterName: string,
  schedule: BackupSchedule,
  ourBucket: string | undefined,
): string {
  const lines = [`Snapshot schedule of ${clusterName}`];
  const items = schedule.policies.flatMap((policy) => policy.policyItems);
  if (items.length === 0) lines.push('  (no snapshot policy items)');
  else {
    const rows = items.map((item) => [
      item.frequencyType,
      every(item),
      `${item.retentionValue} ${item.retentionUnit}`,
      item.id ?? '',
    ]);
    lines.push(indent(formatTable(['FREQUENCY', 'EVERY', 'KEEP FOR', 'POLICY ITEM'], rows)));
  }
  const hour = schedule.referenceHourOfDay;
  const minute = schedule.referenceMinuteOfHour;
  if (hour !== undefined)
    lines.push(
      `  Snapshot time: ${String(hour).padStart(2, '0')}:${String(minute ?? 0).padStart(2, '0')} UTC`,
    );
  if (schedule.restoreWindowDays !== undefined)
    lines.push(`  Restore window: ${counted(schedule.restoreWindowDays, 'day')}`);
  if (schedule.nextSnapshot) lines.push(`  Next snapshot: ${schedule.nextSnapshot}`);
  lines.push(`Auto-export: ${describeAutoExport(schedule, ourBucket)}`);
  return lines.join('\n');
}

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function every(item: BackupPolicyItem): string {
  switch (item.frequencyType) {
    case 'hourly':
      return counted(item.frequencyInterval, 'hour');
    case 'daily':
      return counted(item.frequencyInterval, 'day');
    case 'weekly':
      // Atlas: 1 is Monday ... 7 is Sunday.
      return WEEKDAYS[item.frequencyInterval - 1] ?? `day ${item.frequencyInterval} of the week`;
    case 'monthly':
      return item.frequencyInterval === 40
        ? 'last day of the month'
        : `day ${item.frequencyInterval} of the month`;
    case 'yearly':
      // Atlas: 1 is the first day of January ... 12 the first day of December.
      return MONTHS[item.frequencyInterval - 1]
        ? `1 ${MONTHS[item.frequencyInterval - 1]}`
        : `month ${item.frequencyInterval} of the year`;
    default:
      return String(item.frequencyInterval);
  }
}

function describeAutoExport(schedule: BackupSchedule, ourBucket: string | undefined): string {
  const target = schedule.export?.exportBucketId;
  const whose =
    target && target === ourBucket
      ? ' (the export bucket setup made)'
      : target
        ? ' (not the export bucket in the state file)'
        : '';
  if (!schedule.autoExportEnabled) return 'off';
  return `on, ${schedule.export?.frequencyType ?? 'unknown frequency'}, to export bucket ${target ?? '(none)'}${whose}`;
}

function scheduleSummary(schedule: BackupSchedule): Record<string, unknown> {
  return {
    autoExportEnabled: schedule.autoExportEnabled ?? false,
    export: schedule.export ?? null,
    policies: schedule.policies,
    referenceHourOfDay: schedule.referenceHourOfDay,
    referenceMinuteOfHour: schedule.referenceMinuteOfHour,
    restoreWindowDays: schedule.restoreWindowDays,
    nextSnapshot: schedule.nextSnapshot,
  };
}

// ---------------------------------------------------------------------------------------------
// Changing

async function change(session: Session, flags: Flags): Promise<number> {
  const out = session.out;
  const lock = lockState(session.statePath, (message) => out.warn(message));
  try {
    // Read under the lock, so nothing written meanwhile by another run is lost.
    const state = requireState(session);
    const api = await scheduleApi();
    const atlas = await session.atlas();
    const { projectId, clusterName } = state.atlas;
    const before = await api.getSchedule(atlas, projectId, clusterName);
    const plan = planChange(flags.change, before, state, session.statePath);
    if (!plan) return nothingToDo(session, state, before, flags);
    if (flags.change.kind === 'enable') {
      // Scheduled exports would take the bucket's path: refused as `export` refuses a job.
      await refuseUnlessPrivate(session, projectId, plan.autoExport.exportBucketId!, {
        what: 'every scheduled export',
        unchanged: 'Auto-export was not changed.',
        then: `rerun \`atlas-pl-export schedule --frequency ${flags.change.frequency}\``,
      });
      noteUndocumented(out, flags.change.frequency);
      warnIfNoPolicyItem(out, before, flags.change.frequency);
    }
    await confirm(out, flags, plan.description, await otherSetupsBucket(session, state, before));
    const updated = await patch(
      session,
      projectId,
      clusterName,
      scheduleBody(before, plan.autoExport),
      flags.change,
    );
    const after = await api.getSchedule(atlas, projectId, clusterName);
    const differences = comparePolicies(before.policies, after.policies);
    const applied =
      autoExportMatches(after, plan.autoExport) && autoExportMatches(updated, plan.autoExport);
    record(state, flags.change, before);
    await writeState(session.statePath, state);
    return finish(session, state, { before, after, differences, applied, done: plan.done }, flags);
  } finally {
    lock.release();
  }
}

interface AutoExport {
  enabled: boolean;
  exportBucketId?: string;
  frequencyType?: string;
}

interface Plan {
  autoExport: AutoExport;
  /** What will change, for the `Change:` line. */
  description: string;
  /** What changed, for the `Done:` line. */
  done: string;
}

/** What to send, or undefined when the schedule already is as asked. */
function planChange(
  requested: Change,
  before: BackupSchedule,
  state: StateFile,
  statePath: string,
): Plan | undefined {
  if (requested.kind === 'disable') {
    if (!before.autoExportEnabled) return undefined;
    const now = `${before.export?.frequencyType ?? 'on'}, to export bucket ${before.export?.exportBucketId ?? '?'}`;
    return {
      autoExport: { enabled: false },
      description: `turn auto-export off (it is ${now}), keeping every snapshot policy as it is`,
      done: `auto-export turned off (it was ${now})`,
    };
  }
  if (requested.kind !== 'enable') return undefined;
  const bucketId = exportBucketOf(state, statePath);
  if (
    before.autoExportEnabled &&
    before.export?.exportBucketId === bucketId &&
    before.export.frequencyType === requested.frequency
  )
    return undefined;
  const target = `export bucket ${bucketId} (s3://${state.resources.bucket?.name ?? '?'})`;
  const from = before.export?.frequencyType ?? 'unknown';
  const sameBucket = before.export?.exportBucketId === bucketId;
  const [what, done] = !before.autoExportEnabled
    ? [
        `turn ${requested.frequency} auto-export on, to ${target}`,
        `${requested.frequency} auto-export turned on, to ${target}`,
      ]
    : sameBucket
      ? [
          `make auto-export ${requested.frequency} instead of ${from}, still to ${target}`,
          `auto-export changed from ${from} to ${requested.frequency}, still to ${target}`,
        ]
      : [
          `move auto-export from export bucket ${before.export?.exportBucketId ?? '(none)'} (${from}) to ${target}, ${requested.frequency}`,
          `auto-export moved from export bucket ${before.export?.exportBucketId ?? '(none)'} (${from}) to ${target}, ${requested.frequency}`,
        ];
  return {
    autoExport: { enabled: true, exportBucketId: bucketId, frequencyType: requested.frequency },
    description: `${what}, keeping every snapshot policy as it is`,
    done,
  };
}

/**
 * The PATCH body: the schedule as read, without Atlas's read-only fields, with only the auto-export
 * fields changed. Policies (and their item ids, by which Atlas matches them) go back untouched.
 */
export function scheduleBody(current: BackupSchedule, change: AutoExport): BackupSchedule {
  return withAutoExport(current, change);
}

/**
 * Atlas auto-exports only the snapshots whose frequency matches the auto-export frequency: with no
 * snapshot policy item of that frequency, nothing would ever be exported.
 */
function warnIfNoPolicyItem(out: Output, schedule: BackupSchedule, frequency: string): void {
  // A frequency no policy item can have says nothing about the policy: Atlas judges it.
  if (!POLICY_ITEM_FREQUENCIES.includes(frequency)) return;
  const items = schedule.policies.flatMap((policy) => policy.policyItems);
  if (items.some((item) => item.frequencyType === frequency)) return;
  const has = [...new Set(items.map((item) => item.frequencyType))];
  out.warn(
    `The cluster's snapshot policy has no ${frequency} item (it has ${has.length ? has.join(', ') : 'none'}): Atlas auto-exports only ${frequency} snapshots, so nothing would be exported until a ${frequency} policy item is added (Atlas: Backup > Backup Policy).`,
  );
}

/** Once, for a frequency the API does not document: whether the project allows it is Atlas's call. */
function noteUndocumented(out: Output, frequency: string): void {
  if (DOCUMENTED_FREQUENCIES.includes(frequency)) return;
  out.warn(
    `Note: the API documents auto-export frequencies monthly and yearly only; "${frequency}" is passed to Atlas, which decides whether this project allows it.`,
  );
}

/**
 * When auto-export goes now to an export bucket this state file does not record (another setup's),
 * a description of that bucket ("export bucket <id> (s3://<name>)"); undefined when it is off or
 * goes to the state's export bucket. One GET for the bucket's name; without it, the id alone.
 */
async function otherSetupsBucket(
  session: Session,
  state: StateFile,
  schedule: BackupSchedule,
): Promise<string | undefined> {
  if (schedule.export?.exportBucketId === state.resources.exportBucket?.id) return undefined;
  const read = await autoExportBucket(session, state, schedule);
  if (!read) return undefined;
  return `export bucket ${read.id}${'bucket' in read ? ` (s3://${read.bucket.bucketName})` : ''}`;
}

/**
 * Prints the change and asks for it on a terminal (unless --yes). A change to auto-export that goes
 * to another setup's export bucket is never made without a yes: refused without a terminal.
 */
async function confirm(
  out: Output,
  flags: Flags,
  description: string,
  otherBucket: string | undefined,
): Promise<void> {
  out.info(`Change: ${description}.`);
  if (flags.yes) return;
  if (otherBucket) {
    const why = `auto-export now goes to ${otherBucket}, which this state file does not record (another setup's?)`;
    if (!flags.interactive)
      throw new UsageError(`Not changing auto-export without confirmation: ${why}.`, {
        code: 'CONFIRMATION_REQUIRED',
        hint: 'Rerun with --yes if this setup should take over auto-export of the cluster, or run it in a terminal to be asked. Nothing was changed.',
      });
    out.warn(`Note: ${why}.`);
  } else if (!flags.interactive) return;
  await confirmOrStop(
    { message: 'Make this change?', default: otherBucket === undefined },
    {
      message: 'Nothing was changed.',
      hint: 'Run `atlas-pl-export schedule` to see the current schedule.',
    },
  );
}

async function patch(
  session: Session,
  projectId: string,
  clusterName: string,
  body: BackupSchedule,
  requested: Change,
): Promise<BackupSchedule> {
  const api = await scheduleApi();
  const { isAtlasApiError } = await import('../atlas/errors.js');
  try {
    return await api.updateSchedule(await session.atlas(), projectId, clusterName, body);
  } catch (error) {
    if (
      requested.kind === 'enable' &&
      !DOCUMENTED_FREQUENCIES.includes(requested.frequency) &&
      isAtlasApiError(error) &&
      error.status === 400
    ) {
      throw new CliError(
        `Atlas did not accept auto-export frequency "${requested.frequency}": ${error.message}`,
        {
          code: error.errorCode,
          exitCode: ExitCode.cloud,
          hint: `atlas-pl-export knows the frequencies monthly and yearly (the ones the API documents): use --frequency monthly or --frequency yearly; "${requested.frequency}" works only where Atlas has enabled it for the project. Nothing was changed.`,
          cause: error,
        },
      );
    }
    throw error;
  }
}

function autoExportMatches(schedule: BackupSchedule, wanted: AutoExport): boolean {
  if (!wanted.enabled) return !schedule.autoExportEnabled;
  return (
    Boolean(schedule.autoExportEnabled) &&
    schedule.export?.exportBucketId === wanted.exportBucketId &&
    schedule.export?.frequencyType === wanted.frequencyType
  );
}

/**
 * Every difference between two policy lists, field by field (policies and items matched by id,
 * else by position), e.g. "policy 0, item 2 (daily): retentionValue 7 -> 14".
 */
/**
 * The state after a change: state.resources.schedule (`previous` is what was there before this tool
 * first changed it), and the plan setup follows on a rerun, so setup keeps what the user chose last.
 */
function record(state: StateFile, requested: Change, before: BackupSchedule): void {
  rememberChoice(state, requested);
  if (requested.kind === 'disable') {
    delete state.resources.schedule;
    return;
  }
  if (requested.kind !== 'enable') return;
  const existing = state.resources.schedule;
  const previous = existing?.previous ?? {
    autoExportEnabled: before.autoExportEnabled ?? false,
    ...(before.export?.exportBucketId ? { exportBucketId: before.export.exportBucketId } : {}),
    ...(before.export?.frequencyType ? { frequencyType: before.export.frequencyType } : {}),
  };
  state.resources.schedule = {
    frequency: requested.frequency,
    previous,
    origin: existing?.origin ?? 'created',
  };
}

/** plan.schedule: the frequency asked for last, or none once auto-export was turned off. */
function rememberChoice(state: StateFile, requested: Change): void {
  if (!state.plan) return;
  if (requested.kind === 'disable') delete state.plan.schedule;
  else if (requested.kind === 'enable') state.plan.schedule = requested.frequency;
}

async function nothingToDo(
  session: Session,
  state: StateFile,
  schedule: BackupSchedule,
  flags: Flags,
): Promise<number> {
  const out = session.out;
  let message: string;
  const planned = state.plan?.schedule;
  rememberChoice(state, flags.change);
  let changed = state.plan?.schedule !== planned;
  if (flags.change.kind === 'disable') {
    message = 'Auto-export is already off; nothing changed.';
    if (state.resources.schedule) {
      delete state.resources.schedule;
      changed = true;
    }
  } else {
    // Nothing is sent, but a bucket that lost private networking is still said.
    await warnIfNotPrivate(session, state, schedule);
    message = `Auto-export is already ${schedule.export?.frequencyType}, to export bucket ${schedule.export?.exportBucketId}; nothing changed.`;
    if (!state.resources.schedule) {
      state.resources.schedule = {
        frequency: schedule.export?.frequencyType ?? '',
        origin: 'adopted',
      };
      changed = true;
    }
  }
  if (changed) await writeState(session.statePath, state);
  // Once: on stdout as the result, or on stderr beside the JSON document.
  if (flags.json) {
    out.info(message);
    out.printJson({
      ok: true,
      changed: false,
      schedule: scheduleSummary(schedule),
      recorded: state.resources.schedule ?? null,
    });
  } else out.result(message);
  return ExitCode.ok;
}

interface Result {
  before: BackupSchedule;
  after: BackupSchedule;
  differences: string[];
  applied: boolean;
  /** What changed, in the past tense. */
  done: string;
}

async function finish(
  session: Session,
  state: StateFile,
  result: Result,
  flags: Flags,
): Promise<number> {
  const out = session.out;
  const policiesUnchanged = result.differences.length === 0;
  if (!policiesUnchanged) {
    out.warn(
      "!!! ATLAS CHANGED THE CLUSTER'S SNAPSHOT POLICIES while changing auto-export. They were sent back unchanged; Atlas now holds:",
    );
    for (const difference of result.differences) out.warn(`  ${difference}`);
    out.warn(
      'Review the schedule in Atlas (Backup > Backup Policy) and restore the policies you want.',
    );
  }
  if (!result.applied)
    out.warn(
      `Atlas answered, but its schedule does not show the change: auto-export is ${describeAutoExport(result.after, state.resources.exportBucket?.id)}.`,
    );
  if (result.applied) {
    const summary = `Done: ${result.done}.`;
    out.info(policiesUnchanged ? `${summary} Snapshot policies checked: unchanged.` : summary);
  }
  const ok = policiesUnchanged && result.applied;
  if (flags.json) {
    out.printJson({
      ok,
      changed: true,
      policiesUnchanged,
      policyDifferences: result.differences,
      schedule: scheduleSummary(result.after),
      recorded: state.resources.schedule ?? null,
    });
  } else {
    out.result(
      renderSchedule(state.atlas.clusterName, result.after, state.resources.exportBucket?.id),
    );
  }
  return ok ? ExitCode.ok : ExitCode.notInPlace;
}

// ---------------------------------------------------------------------------------------------

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
