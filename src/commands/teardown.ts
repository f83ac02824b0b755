/**
 * `atlas-pl-export teardown`: removes what this tool created (origin `created`), in the order the
 * APIs need: auto-export off (or back to what it was), export bucket, private endpoint, Atlas access
 * role, IAM role, our bucket-policy statements, and the bucket itself only with --delete-bucket.
 * Adopted resources are left alone.
 *
 * Resumable: after each removal the state file drops that resource (under the state lock), and a
 * resource already gone counts as removed, so a rerun after a kill finishes the job. When nothing is
 * left the state file is deleted.
 */
import { unlinkSync } from 'node:fs';
import { isInteractive, readConfigFile, type SetupConfig, warnIfConfigDiffers } from '../config.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { confirmOrStop, counted, type Output } from '../output.js';
import type { CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import { requireState } from '../state/require.js';
import { PENDING_LABELS, type Resources, type StateFile } from '../state/schema.js';
import { lockState, writeState } from '../state/store.js';
import type { BackupSchedule, ExportBucket } from '../atlas/types.js';
import type { AtlasGoneKind } from '../checks.js';
import { toAtlasRegion } from '../regions.js';
import { formatDuration, waitFor } from '../wait.js';

type Kind = keyof Resources;

/** The order removals must happen in: each one frees what the next needs gone. */
const ORDER: readonly Kind[] = [
  'schedule',
  'exportBucket',
  'privateEndpoint',
  'atlasRole',
  'iamRole',
  'bucketPolicy',
  'bucket',
];

const DEFAULT_ENDPOINT_TIMEOUT_MS = 15 * 60_000;

/** The setup steps whose result each resource is; they are no longer complete once it is removed. */
const STEPS_OF: Record<Kind, readonly string[]> = {
  schedule: ['schedule'],
  exportBucket: ['exportBucket', 'exportNow'],
  privateEndpoint: ['endpoint', 'endpointActive'],
  atlasRole: ['atlasRole', 'authorize'],
  iamRole: ['iamRole', 'authorize'],
  bucketPolicy: ['bucketPolicy'],
  bucket: ['bucket'],
};

interface Removal {
  kind: Kind;
  /** What will be removed, for the plan. */
  what: string;
  /** A short name for the progress line. */
  label: string;
  /** Removes it (a resource already gone counts as removed); says what was done. */
  remove(): Promise<Outcome>;
}

/** What a removal did: removed it, found it already gone, or left it alone (it is no longer ours). */
interface Outcome {
  done: 'removed' | 'gone' | 'left';
  text: string;
}
const removedAs = (text: string): Outcome => ({ done: 'removed', text });
const goneAs = (text = ''): Outcome => ({ done: 'gone', text });
const leftAs = (text: string): Outcome => ({ done: 'left', text });

interface Done {
  resource: Kind;
  what: string;
  result: string;
}

interface Kept {
  kind: Kind;
  what: string;
  why: string;
  /** Whether the state file keeps recording it (this tool's resources that stay, and what pins them). */
  retain?: boolean;
}

/** What an adopted export bucket needs to keep working: removing any of these would break it. */
const PINNED_BY_EXPORT_BUCKET: readonly Kind[] = [
  'privateEndpoint',
  'atlasRole',
  'iamRole',
  'bucketPolicy',
  'bucket',
];

interface Plan {
  removals: Removal[];
  kept: Kept[];
  /** Recorded resources found already gone while planning; the state file drops them. */
  gone: Kept[];
}

interface Teardown {
  session: Session;
  out: Output;
  state: StateFile;
  deleteBucket: boolean;
  force: boolean;
  endpointTimeoutMs: number;
  /** The bucket (name and region) whose TLS-deny statement this run removed, when it did. */
  tlsDenyRemovedFrom?: { name: string; region: string };
  /** Whether that bucket holds objects, once asked (undefined: not asked yet). */
  holdsObjects?: Promise<boolean | undefined>;
  /** Prints a warning on stderr and keeps it for --json's `warnings`. */
  warn: (message: string) => void;
}

export async function run({ options, out }: CommandContext): Promise<number> {
  const interactive = isInteractive(options);
  if (!options.yes && !interactive) {
    throw new UsageError(
      'teardown removes resources and needs confirmation, but this run cannot ask (not interactive).',
      {
        code: 'CONFIRMATION_REQUIRED',
        hint: 'Rerun with --yes to confirm, or run it in a terminal to be asked.',
      },
    );
  }
  const config = typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const session = openSession(out, options);
  warnIfConfigDiffers(config, requireState(session), out);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    out.warn(message);
  };
  const lock = lockState(session.statePath, warn);
  try {
    // Read again under the lock: another run may have changed it meanwhile.
    const state = requireState(session);
    const ctx: Teardown = {
      session,
      out,
      warn,
      state,
      deleteBucket: Boolean(options.deleteBucket),
      force: Boolean(options.force),
      endpointTimeoutMs: endpointTimeout(config),
    };
    // Removing by name with another account's credentials would remove that account's resources.
    if (['bucket', 'iamRole', 'bucketPolicy'].some((kind) => kind in state.resources))
      await session.assertAwsAccount(state, state.aws.region);
    const plan = await buildPlan(ctx);
    printPlan(out, plan, state);
    refusePendingCreates(ctx);
    await refuseRunningExport(ctx, plan);
    await refuseNonEmptyBucket(ctx, plan);
    if (plan.removals.length > 0 && !options.yes)
      await confirmOrStop(
        { message: 'Remove these resources?', default: false },
        {
          message: 'Nothing was removed.',
          hint: 'Run `atlas-pl-export status` to see what is in place; rerun teardown to remove it.',
        },
      );
    const done = await execute(ctx, plan);
    const bucketRemoved = [...done.removed, ...done.gone].some(
      (item) => item.resource === 'bucket',
    );
    if (ctx.tlsDenyRemovedFrom && !bucketRemoved) await warnNoTlsDeny(ctx, ctx.tlsDenyRemovedFrom);
    const stateDeleted = await finish(ctx, plan);
    if (pendingCreates(state).length > 0) {
      // --force: what was recorded is gone, what the pending creates made may not be.
      const { message, hint } = pendingProblem(state, session.statePath);
      throw new CliError(`${message}.`, { code: 'CREATE_PENDING', exitCode: ExitCode.cloud, hint });
    }
    if (out.json) {
      out.printJson({
        ok: true,
        removed: done.removed,
        alreadyGone: [
          ...plan.gone.map(({ kind, what, why }) => ({ resource: kind, what, result: why })),
          ...done.gone,
        ],
        kept: [
          ...plan.kept.map(({ kind, what, why }) => ({ resource: kind, what, why })),
          ...done.left.map(({ resource, what, result }) => ({ resource, what, why: result })),
        ],
        stateFile: { path: session.statePath, deleted: stateDeleted },
        warnings,
      });
    }
    return ExitCode.ok;
  } finally {
    lock.release();
  }
}

function endpointTimeout(config: SetupConfig): number {
  // The setup config file's timeouts.endpointSeconds also bounds the wait for the endpoint's deletion.
  const seconds = config.timeouts?.endpointSeconds;
  return seconds !== undefined ? seconds * 1000 : DEFAULT_ENDPOINT_TIMEOUT_MS;
}

// Planning ---------------------------------------------------------------------------------------

async function buildPlan(ctx: Teardown): Promise<Plan> {
  const plan: Plan = { removals: [], kept: [], gone: [] };
  const adopted =
    ctx.state.resources.exportBucket?.origin === 'adopted'
      ? ctx.state.resources.exportBucket.id
      : undefined;
  const items = ORDER.map((kind) => planFor(ctx, kind));
  const [users, schedule] = await Promise.all([sharedUsers(ctx, items), scheduleNow(ctx, items)]);
  if (schedule) {
    // Planned from what Atlas has now, so the plan says what will really happen to auto-export.
    const index = ORDER.indexOf('schedule');
    if (schedule.done === 'gone') {
      items[index] = undefined;
      plan.gone.push({ kind: 'schedule', what: scheduleWhat(ctx), why: schedule.text });
    } else if (schedule.done === 'left')
      items[index] = { kind: 'schedule', what: scheduleWhat(ctx), why: schedule.text };
  }
  for (const kind of ORDER) {
    let item = items[ORDER.indexOf(kind)];
    if (!item) continue;
    if (adopted && 'remove' in item && PINNED_BY_EXPORT_BUCKET.includes(kind)) {
      // The adopted export bucket uses this tool's role, endpoint and bucket; it stays, so they stay.
      item = {
        kind,
        what: item.label,
        why: `still used by the adopted export bucket ${adopted}, which is left in place`,
        retain: true,
      };
    }
    const why = 'remove' in item ? users.get(kind) : undefined;
    // Others' export buckets use it: it stays recorded, so a later teardown removes it once they are gone.
    if (why && 'remove' in item) item = { kind, what: item.label, why, retain: true };
    if ('remove' in item) plan.removals.push(item);
    else plan.kept.push(item);
  }
  await dropGoneBucket(ctx, plan);
  return plan;
}

/** Atlas form of an export bucket's region (Atlas reports it in AWS form). */
function atlasRegionOf(region: string): string {
  try {
    return toAtlasRegion(region);
  } catch {
    return region.toUpperCase().replace(/-/g, '_');
  }
}

const describeBuckets = (buckets: ExportBucket[]) =>
  `${buckets.length === 1 ? 'export bucket' : 'export buckets'} ${buckets.map((b) => `${b._id} (s3://${b.bucketName})`).join(', ')}`;

/**
 * Why each resource we would remove is still needed by other export buckets of the project (not the
 * one this tool recorded): the object-storage endpoint serves every export bucket with
 * requirePrivateNetworking in its region (Atlas keeps one per region, and other setups adopt it), and
 * the access role (with the IAM role it is authorized for) serves every export bucket naming its
 * roleId. Lists the project's export buckets only when there is such a resource to remove.
 */
async function sharedUsers(
  ctx: Teardown,
  items: Array<Removal | Kept | undefined>,
): Promise<Map<Kind, string>> {
  const why = new Map<Kind, string>();
  const removing = (kind: Kind) =>
    items.some((item) => item && 'remove' in item && item.kind === kind);
  if (!removing('privateEndpoint') && !removing('atlasRole') && !removing('iamRole')) return why;
  const { exportBuckets } = await atlasApi();
  const r = ctx.state.resources;
  const all = await exportBuckets.listExportBuckets(
    await ctx.session.atlas(),
    ctx.state.atlas.projectId,
  );
  const others = all.filter(
    (bucket) => bucket._id !== r.exportBucket?.id && (bucket.cloudProvider ?? 'AWS') === 'AWS',
  );
  const endpoint = r.privateEndpoint;
  if (endpoint && removing('privateEndpoint')) {
    const region = endpoint.regionName;
    const users = others.filter(
      (b) =>
        b.requirePrivateNetworking === true &&
        (b.region === undefined || atlasRegionOf(b.region) === region),
    );
    if (users.length > 0) {
      why.set(
        'privateEndpoint',
        `still needed by ${describeBuckets(users)}, which require${users.length === 1 ? 's' : ''} private networking in ${region} (Atlas has one object-storage endpoint per region); deleting it would stop their exports. Rerun teardown once they are gone to remove it`,
      );
    }
  }
  const roleId = r.atlasRole?.roleId;
  const roleUsers = roleId ? others.filter((b) => b.iamRoleId === roleId) : [];
  if (roleUsers.length > 0) {
    const tail = 'Rerun teardown once they no longer use it to remove it';
    why.set(
      'atlasRole',
      `still used by ${describeBuckets(roleUsers)}; Atlas refuses to delete an access role an export bucket uses. ${tail}`,
    );
    why.set(
      'iamRole',
      `the Atlas access role ${roleId} is authorized for it, and ${describeBuckets(roleUsers)} export${roleUsers.length === 1 ? 's' : ''} through it. ${tail}`,
    );
    const onOurBucket = roleUsers.filter((b) => b.bucketName === r.bucket?.name);
    if (onOurBucket.length > 0) {
      const text = `${describeBuckets(onOurBucket)} also export${onOurBucket.length === 1 ? 's' : ''} to this bucket through this role. ${tail}`;
      why.set('bucketPolicy', text);
      why.set('bucket', text);
    }
  }
  return why;
}

/**
 * A bucket this tool keeps (no --delete-bucket) but that someone already deleted is not "kept": it is
 * reported as already gone and dropped from the state file. When the check cannot run, it counts as kept.
 */
async function dropGoneBucket(ctx: Teardown, plan: Plan): Promise<void> {
  const bucket = ctx.state.resources.bucket;
  const index = plan.kept.findIndex((item) => item.kind === 'bucket' && item.retain);
  if (!bucket || index < 0) return;
  const s3 = await import('../aws/s3.js');
  const aws = await ctx.session.aws(bucket.region);
  const found = await s3
    .inspectBucket(aws, bucket.name, ctx.state.aws.accountId)
    .catch(() => undefined);
  if (found?.exists !== false) return;
  plan.kept.splice(index, 1);
  plan.gone.push({
    kind: 'bucket',
    what: `S3 bucket s3://${bucket.name}`,
    why: 'already gone (deleted outside this tool)',
  });
}

const scheduleWhat = (ctx: Teardown) =>
  `auto-export (${ctx.state.resources.schedule?.frequency}) on cluster ${ctx.state.atlas.clusterName}`;

/**
 * When teardown would undo auto-export: what Atlas's schedule says now (one read). Auto-export
 * already off, or a cluster without a schedule, is already gone; auto-export that now goes to another
 * export bucket is no longer ours, and is left as is. Undefined when it is still ours to undo.
 */
async function scheduleNow(
  ctx: Teardown,
  items: Array<Removal | Kept | undefined>,
): Promise<Outcome | undefined> {
  const item = items[ORDER.indexOf('schedule')];
  if (!item || !('remove' in item)) return undefined;
  const { schedule } = await atlasApi();
  const { projectId, clusterName } = ctx.state.atlas;
  const current = await unlessGone(
    schedule.getSchedule(await ctx.session.atlas(), projectId, clusterName),
    'cluster',
  );
  return judgeSchedule(ctx, current);
}

/** Whether auto-export is still ours to undo (undefined), already gone, or now someone else's. */
function judgeSchedule(ctx: Teardown, current: BackupSchedule | 'gone'): Outcome | undefined {
  if (current === 'gone')
    return goneAs(`cluster ${ctx.state.atlas.clusterName} has no backup schedule any more`);
  if (!current.autoExportEnabled) return goneAs('auto-export was already off');
  const ours = ctx.state.resources.exportBucket?.id;
  if (ours && current.export?.exportBucketId !== ours)
    return leftAs(
      `it now goes to export bucket ${current.export?.exportBucketId}, not ours, so it is left as is`,
    );
  return undefined;
}

function planFor(ctx: Teardown, kind: Kind): Removal | Kept | undefined {
  const { state } = ctx;
  const r = state.resources;
  const project = state.atlas.projectId;
  switch (kind) {
    case 'schedule': {
      const s = r.schedule;
      if (!s) return undefined;
      const what = scheduleWhat(ctx);
      if (s.origin === 'adopted') return { kind, what, why: 'it was on before setup; left as is' };
      const restore = restorable(ctx);
      return {
        kind,
        what: `${what}: ${restore ? `back to the earlier ${restore.frequencyType ? `${restore.frequencyType} ` : ''}export to ${restore.exportBucketId}` : 'turned off'} (snapshot policies unchanged)`,
        label: `auto-export on ${state.atlas.clusterName}`,
        remove: () => removeSchedule(ctx),
      };
    }
    case 'exportBucket': {
      const b = r.exportBucket;
      if (!b) return undefined;
      const what = `export bucket ${b.id} in Atlas`;
      if (b.origin === 'adopted') {
        return {
          kind,
          what,
          why: b.patchedPrivateNetworking
            ? 'adopted; setup turned on its requirePrivateNetworking, which stays on (it needs a private endpoint in its region to export)'
            : 'adopted; left as is',
          retain: true,
        };
      }
      return {
        kind,
        what,
        label: `export bucket ${b.id}`,
        remove: () => removeExportBucket(ctx, b.id),
      };
    }
    case 'privateEndpoint': {
      const e = r.privateEndpoint;
      if (!e) return undefined;
      const what = `private endpoint ${e.id} (${e.regionName})`;
      if (e.origin === 'adopted') return { kind, what, why: 'adopted; left as is' };
      return {
        kind,
        what,
        label: `private endpoint ${e.id}`,
        remove: () => removeEndpoint(ctx, e.id),
      };
    }
    case 'atlasRole': {
      const a = r.atlasRole;
      if (!a) return undefined;
      const what = `Atlas access role ${a.roleId} (deauthorized and deleted in project ${project})`;
      if (a.origin === 'adopted')
        return { kind, what: `Atlas access role ${a.roleId}`, why: 'adopted; left as is' };
      return {
        kind,
        what,
        label: `Atlas access role ${a.roleId}`,
        remove: () => removeAtlasRole(ctx, a.roleId),
      };
    }
    case 'iamRole': {
      const i = r.iamRole;
      if (!i) return undefined;
      if (i.origin === 'adopted')
        return { kind, what: `IAM role ${i.name}`, why: 'adopted; left as is, with its policies' };
      return {
        kind,
        what: `IAM role ${i.name} and its inline policy ${i.policyName}`,
        label: `IAM role ${i.name}`,
        remove: () => removeIamRole(ctx),
      };
    }
    case 'bucketPolicy': {
      const p = r.bucketPolicy;
      if (!p) return undefined;
      const bucket = r.bucket?.name ?? '(unknown bucket)';
      return {
        kind,
        what: `bucket-policy statements ${p.statementSids.join(', ')} on s3://${bucket} (other statements are kept)`,
        label: `bucket-policy statements on s3://${bucket}`,
        remove: () => removeBucketPolicy(ctx),
      };
    }
    case 'bucket': {
      const b = r.bucket;
      if (!b) return undefined;
      const what = `S3 bucket s3://${b.name}`;
      if (b.origin === 'adopted')
        return {
          kind,
          what,
          why: `adopted; never deleted${ctx.deleteBucket ? ', even with --delete-bucket' : ''}`,
        };
      if (!ctx.deleteBucket)
        return {
          kind,
          what,
          why: 'kept with the exports in it (pass --delete-bucket to delete it)',
          retain: true,
        };
      return {
        kind,
        what: `${what}${ctx.force ? ' and every object in it' : ' (it must be empty)'}`,
        label: what,
        remove: () => removeBucket(ctx),
      };
    }
  }
}

function restorable(ctx: Teardown) {
  const previous = ctx.state.resources.schedule?.previous;
  const ours = ctx.state.resources.exportBucket?.id;
  if (previous?.autoExportEnabled && previous.exportBucketId && previous.exportBucketId !== ours)
    return previous;
  return undefined;
}

function printPlan(out: Output, plan: Plan, state: StateFile): void {
  if (plan.removals.length === 0)
    out.info(
      pendingCreates(state).length > 0
        ? 'The state file records nothing this tool created that may go, but an earlier setup was stopped while creating resources (see below).'
        : 'Nothing to remove: the state file records nothing this tool created that may go.',
    );
  else {
    out.info(
      `Teardown will remove, in this order (project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}):`,
    );
    plan.removals.forEach((item, index) => out.info(`  ${index + 1}. ${item.what}`));
  }
  if (plan.kept.length > 0) {
    out.info('It leaves alone:');
    for (const item of plan.kept) out.info(`  - ${item.what}: ${item.why}`);
  }
  if (plan.gone.length > 0) {
    out.info('Already gone (dropped from the state file):');
    for (const item of plan.gone) out.info(`  - ${item.what}: ${item.why}`);
  }
}

/**
 * Creates setup sent whose result it never recorded (it was stopped in between): each may have made
 * a resource that is in no state file. Only setup finds and adopts them (by name, region or creation
 * time), so teardown cannot remove them. An export job's create is not a resource to remove (a job
 * that runs stops teardown on its own).
 */
function pendingCreates(state: StateFile): string[] {
  return Object.keys(state.pending)
    .filter((kind) => kind !== 'exportJob')
    .map((kind) => PENDING_LABELS[kind] ?? kind);
}

function pendingProblem(state: StateFile, path: string): { message: string; hint: string } {
  const creates = pendingCreates(state);
  return {
    message: `An earlier setup was stopped while creating ${joinAnd(creates)}: ${creates.length === 1 ? 'it' : 'they'} may exist in Atlas or AWS without being recorded in the state file ${path}, so teardown cannot remove ${creates.length === 1 ? 'it' : 'them'}`,
    hint: `Run \`atlas-pl-export setup\` with the same --state first (it finds what those creates made and records it), then \`atlas-pl-export teardown\` removes everything. --force removes what is recorded now and keeps the state file with the pending marks.`,
  };
}

function joinAnd(items: string[]): string {
  return items.length <= 1
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Pending creates stop teardown before any change, unless --force. */
function refusePendingCreates(ctx: Teardown): void {
  if (pendingCreates(ctx.state).length === 0) return;
  const { message, hint } = pendingProblem(ctx.state, ctx.session.statePath);
  if (ctx.force) {
    ctx.warn(`${message}. Going on (--force) with what is recorded; the state file is kept.`);
    return;
  }
  throw new CliError(`${message}. Nothing was removed.`, {
    code: 'CREATE_PENDING',
    exitCode: ExitCode.cloud,
    hint,
  });
}

/** What a running export of the cluster needs (all but auto-export): removing any makes Atlas fail it midway. */
const USED_BY_RUNNING_EXPORT: readonly Kind[] = ORDER.filter((kind) => kind !== 'schedule');

/**
 * An export job of this cluster to this export bucket that is Queued or InProgress stops teardown
 * before any change (one list of the cluster's export jobs), unless --force: Atlas would keep writing
 * into the bucket while teardown removes what the export goes through.
 */
async function refuseRunningExport(ctx: Teardown, plan: Plan): Promise<void> {
  const exportBucket = ctx.state.resources.exportBucket;
  if (!exportBucket || !plan.removals.some((item) => USED_BY_RUNNING_EXPORT.includes(item.kind)))
    return;
  const { exportJobs } = await atlasApi();
  const { projectId, clusterName } = ctx.state.atlas;
  const running = (
    await exportJobs.listExportJobs(await ctx.session.atlas(), projectId, clusterName)
  )
    .filter((job) => job.exportBucketId === exportBucket.id)
    .filter((job) => job.state === 'Queued' || job.state === 'InProgress');
  const [job] = running;
  if (!job) return;
  const bucket = ctx.state.resources.bucket?.name;
  const what = `Export job ${job.id} (snapshot ${job.snapshotId ?? '?'}) of cluster ${clusterName} to export bucket ${exportBucket.id} is ${job.state}${running.length > 1 ? ` (and ${running.length - 1} more)` : ''}: Atlas would keep writing into ${bucket ? `s3://${bucket}` : 'the bucket'} while teardown removes what the export goes through`;
  if (ctx.force) {
    ctx.warn(`${what}. Going on (--force): the job will fail and may leave partial files.`);
    return;
  }
  throw new CliError(`${what}. Nothing was removed.`, {
    code: 'EXPORT_IN_PROGRESS',
    exitCode: ExitCode.cloud,
    hint: `Wait for it to finish (watch it with \`atlas-pl-export export --job ${job.id}\`), then rerun teardown; or add --force to tear down anyway.`,
  });
}

/** With --delete-bucket and without --force, a non-empty bucket stops teardown before any change. */
async function refuseNonEmptyBucket(ctx: Teardown, plan: Plan): Promise<void> {
  const bucket = ctx.state.resources.bucket;
  if (!bucket || ctx.force || !plan.removals.some((item) => item.kind === 'bucket')) return;
  const s3 = await import('../aws/s3.js');
  const aws = await ctx.session.aws(bucket.region);
  const keys = await s3.listKeys(aws, bucket.name).catch((error: unknown) => {
    if (error instanceof CliError && error.code === 'AWS_NOSUCHBUCKET') return [];
    throw error;
  });
  if (keys.length === 0) return;
  throw new CliError(
    `The bucket s3://${bucket.name} holds ${counted(keys.length, 'object')}, so --delete-bucket will not delete it. Nothing was removed.`,
    {
      code: 'BUCKET_NOT_EMPTY',
      // The flags are fine; the bucket's contents block the step.
      exitCode: ExitCode.cloud,
      hint: 'Add --force to delete the objects (your exports) and the bucket, or drop --delete-bucket to keep the bucket.',
    },
  );
}

// Running ----------------------------------------------------------------------------------------

interface Executed {
  removed: Done[];
  gone: Done[];
  /** Found no longer ours at run time (e.g. auto-export now goes elsewhere), so left as is. */
  left: Done[];
}

async function execute(ctx: Teardown, plan: Plan): Promise<Executed> {
  const executed: Executed = { removed: [], gone: [], left: [] };
  for (const item of plan.removals) {
    const spinner = await ctx.out.spinner(`Removing ${item.label}`);
    let outcome: Outcome;
    try {
      outcome = await item.remove();
    } catch (error) {
      spinner.fail(`Could not remove ${item.label}`);
      ctx.out.info(
        'Everything removed before this point is recorded in the state file; rerun teardown to continue.',
      );
      throw error;
    }
    forget(ctx.state, item.kind);
    await writeState(ctx.session.statePath, ctx.state);
    const entry = { resource: item.kind, what: item.what, result: outcome.text };
    if (outcome.done === 'removed') {
      spinner.succeed(`Removed ${item.label}: ${outcome.text}`);
      executed.removed.push(entry);
    } else if (outcome.done === 'gone') {
      spinner.info(`Already gone: ${item.label}${outcome.text ? ` (${outcome.text})` : ''}`);
      executed.gone.push({ ...entry, result: outcome.text || 'already gone' });
    } else {
      spinner.info(`Kept ${item.label}: ${outcome.text}`);
      executed.left.push(entry);
    }
  }
  return executed;
}

/** Drops a resource from the state, with the setup steps that made it. */
function forget(state: StateFile, kind: Kind): void {
  delete state.resources[kind];
  state.completedSteps = state.completedSteps.filter((step) => !STEPS_OF[kind].includes(step));
}

/** Drops adopted entries, then deletes the state file when nothing is left; true when deleted. */
async function finish(ctx: Teardown, plan: Plan): Promise<boolean> {
  const { state, out, session } = ctx;
  for (const item of [...plan.kept, ...plan.gone]) if (!item.retain) forget(state, item.kind);
  // The pending marks are what lets setup adopt what those creates made: never dropped here.
  if (pendingCreates(state).length > 0) {
    await writeState(session.statePath, state);
    out.info(
      `Teardown removed what the state file records; the state file ${session.statePath} is kept for the creates that were in flight.`,
    );
    return false;
  }
  if (Object.keys(state.resources).length === 0) {
    unlinkSync(session.statePath);
    out.info(
      `Teardown finished. Nothing this tool created remains, and the state file ${session.statePath} was deleted.`,
    );
    return true;
  }
  await writeState(session.statePath, state);
  const left = Object.keys(state.resources) as Kind[];
  const bucket = state.resources.bucket;
  if (left.length === 1 && bucket) {
    const holds = await holdsObjects(ctx, bucket);
    const command = `atlas-pl-export teardown --state ${shellArg(session.statePath)} --delete-bucket`;
    out.info(
      `Teardown finished. The state file ${session.statePath} now records only the bucket s3://${bucket.name}, which is kept. To delete it too, run: ${
        holds === false
          ? command
          : `${command} --force${holds ? ' (it holds objects, your exports: --force deletes them first)' : ' (--force, needed when it holds objects, deletes them first)'}`
      }`,
    );
  } else {
    out.info(
      `Teardown finished. The state file ${session.statePath} still records what was kept, for a later teardown:`,
    );
    for (const item of plan.kept.filter((kept) => kept.retain))
      out.info(`  - ${item.what}: ${item.why}`);
  }
  return false;
}

// Removals ---------------------------------------------------------------------------------------

const atlasApi = () =>
  Promise.all([
    import('../atlas/access.js'),
    import('../atlas/privateEndpoints.js'),
    import('../atlas/exportBuckets.js'),
    import('../atlas/schedule.js'),
    import('../atlas/errors.js'),
    import('../atlas/exportJobs.js'),
  ]).then(([access, endpoints, exportBuckets, schedule, errors, exportJobs]) => ({
    access,
    endpoints,
    exportBuckets,
    schedule,
    errors,
    exportJobs,
  }));

/**
 * Runs an Atlas call; a 404 whose errorCode says the resource (`kind`) is gone gives `gone` instead
 * of an error. Any other 404 (GROUP_NOT_FOUND: a project Atlas cannot find) is an error, so nothing
 * is dropped from the state file that may still exist.
 */
async function unlessGone<T>(call: Promise<T>, kind: AtlasGoneKind): Promise<T | 'gone'> {
  try {
    return await call;
  } catch (error) {
    // Imported only here: awaiting anything before `call` would leave its rejection unhandled.
    const { isAtlasGone } = await import('../checks.js');
    if (await isAtlasGone(error, kind)) return 'gone';
    throw error;
  }
}

async function removeSchedule(ctx: Teardown): Promise<Outcome> {
  const { schedule } = await atlasApi();
  const { projectId, clusterName } = ctx.state.atlas;
  const atlas = await ctx.session.atlas();
  // Read again: the schedule may have changed since the plan was shown.
  const current = await unlessGone(schedule.getSchedule(atlas, projectId, clusterName), 'cluster');
  const changed = judgeSchedule(ctx, current);
  if (changed || current === 'gone') return changed ?? goneAs();
  const previous = restorable(ctx);
  if (previous) {
    try {
      await schedule.updateSchedule(
        atlas,
        projectId,
        clusterName,
        schedule.withAutoExport(current, {
          enabled: true,
          exportBucketId: previous.exportBucketId,
          frequencyType: previous.frequencyType,
        }),
      );
      return removedAs(
        `restored the earlier auto-export to ${previous.exportBucketId}; snapshot policies unchanged`,
      );
    } catch (error) {
      ctx.warn(
        `Could not restore the earlier auto-export to ${previous.exportBucketId} (${(error as Error).message}); turning auto-export off instead.`,
      );
    }
  }
  await schedule.updateSchedule(
    atlas,
    projectId,
    clusterName,
    schedule.withAutoExport(current, { enabled: false }),
  );
  return removedAs('auto-export turned off; snapshot policies unchanged');
}

async function removeExportBucket(ctx: Teardown, id: string): Promise<Outcome> {
  const { exportBuckets, errors } = await atlasApi();
  try {
    const done = await unlessGone(
      exportBuckets.deleteExportBucket(await ctx.session.atlas(), ctx.state.atlas.projectId, id),
      'exportBucket',
    );
    return done === 'gone' ? goneAs() : removedAs('deleted');
  } catch (error) {
    if (errors.isAtlasApiError(error, 'EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE')) {
      throw new CliError(
        `Atlas refused to delete export bucket ${id} (EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE): ${error.detail ?? 'it is still in use by auto-export'}. Teardown stopped here.`,
        { code: error.errorCode, exitCode: ExitCode.cloud, hint: error.hint, cause: error },
      );
    }
    throw error;
  }
}

async function removeEndpoint(ctx: Teardown, id: string): Promise<Outcome> {
  const { endpoints } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const projectId = ctx.state.atlas.projectId;
  const current = await unlessGone(
    endpoints.getPrivateEndpoint(atlas, projectId, id),
    'privateEndpoint',
  );
  if (current === 'gone') return goneAs();
  if (current.status !== 'DELETING') {
    if (
      (await unlessGone(
        endpoints.deletePrivateEndpoint(atlas, projectId, id),
        'privateEndpoint',
      )) === 'gone'
    )
      return goneAs();
  }
  const started = Date.now();
  await waitFor(
    async () =>
      (await unlessGone(endpoints.getPrivateEndpoint(atlas, projectId, id), 'privateEndpoint')) ===
      'gone'
        ? true
        : undefined,
    {
      what: `private endpoint ${id} to finish DELETING`,
      timeoutMs: ctx.endpointTimeoutMs,
      minMs: 100,
      maxMs: 10_000,
      timeoutHint:
        'Atlas is still deleting the endpoint; rerun teardown to keep waiting (nothing is removed twice).',
    },
  );
  return removedAs(`deleted (DELETING took ${formatDuration(Date.now() - started)})`);
}

async function removeAtlasRole(ctx: Teardown, roleId: string): Promise<Outcome> {
  const { access } = await atlasApi();
  const done = await unlessGone(
    access.deauthorizeAccessRole(await ctx.session.atlas(), ctx.state.atlas.projectId, roleId),
    'atlasRole',
  );
  return done === 'gone' ? goneAs() : removedAs('deauthorized and deleted');
}

async function removeIamRole(ctx: Teardown): Promise<Outcome> {
  const role = ctx.state.resources.iamRole!;
  const iam = await import('../aws/iam.js');
  const aws = await ctx.session.aws(ctx.state.aws.region);
  const policyDeleted = await iam.deleteInlinePolicy(aws, role.name, role.policyName);
  const roleDeleted = await iam.deleteRole(aws, role.name);
  if (!roleDeleted) return goneAs();
  return removedAs(
    policyDeleted
      ? 'deleted with its inline policy'
      : 'deleted (its inline policy was already gone)',
  );
}

async function removeBucketPolicy(ctx: Teardown): Promise<Outcome> {
  const bucket = ctx.state.resources.bucket;
  const recorded = ctx.state.resources.bucketPolicy!;
  if (!bucket) return goneAs('no bucket is recorded for it');
  const [s3, policies] = await Promise.all([import('../aws/s3.js'), import('../aws/policies.js')]);
  const aws = await ctx.session.aws(bucket.region);
  let current;
  try {
    current = await s3.getBucketPolicy(aws, bucket.name);
  } catch (error) {
    if (error instanceof CliError && error.code === 'AWS_NOSUCHBUCKET')
      return goneAs('the bucket is gone, and its policy with it');
    throw error;
  }
  const ours = policies
    .statementsOf(current)
    .filter((statement) => recorded.statementSids.includes(statement.Sid ?? ''));
  if (ours.length === 0) return goneAs('the statements were removed outside this tool');
  if (ours.some((statement) => statement.Sid === policies.BUCKET_POLICY_SIDS.denyInsecureTransport))
    ctx.tlsDenyRemovedFrom = { name: bucket.name, region: bucket.region };
  const rest = policies.removeStatements(current, recorded.statementSids);
  if (rest) {
    await s3.putBucketPolicy(aws, bucket.name, rest);
    return removedAs(
      `removed ${counted(ours.length, 'statement')}; kept ${counted(policies.statementsOf(rest).length, 'other statement')}`,
    );
  }
  // S3 has no empty policy: with nothing else left, the policy goes.
  await s3.deleteBucketPolicy(aws, bucket.name);
  return removedAs(
    recorded.createdPolicy
      ? 'removed the policy (it held only these statements)'
      : 'removed the policy: it held only these statements (the others were removed since setup)',
  );
}

/** One ListObjectsV2 of at most one key (asked once per run); undefined when it cannot be told. */
function holdsObjects(
  ctx: Teardown,
  bucket: { name: string; region: string },
): Promise<boolean | undefined> {
  ctx.holdsObjects ??= (async () => {
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const aws = await ctx.session.aws(bucket.region);
    const page = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket.name, MaxKeys: 1 }));
    return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
  })().catch(() => undefined);
  return ctx.holdsObjects;
}

/**
 * Teardown removes the statements setup added, the TLS-deny one too; a bucket kept with objects in
 * it then no longer refuses requests without TLS. Says so, with the statement to put back.
 */
async function warnNoTlsDeny(
  ctx: Teardown,
  bucket: { name: string; region: string },
): Promise<void> {
  const holds = await holdsObjects(ctx, bucket);
  if (holds === false) return;
  const [policies, { partitionOf }] = await Promise.all([
    import('../aws/policies.js'),
    import('../regions.js'),
  ]);
  const [deny] = policies.bucketPolicyStatements({
    bucket: bucket.name,
    partition: partitionOf(bucket.region),
    roleArn: '',
  });
  ctx.warn(
    `The bucket s3://${bucket.name} is kept${holds ? ' with objects in it' : ''} and no longer denies requests without TLS: teardown removed the statement ${deny?.Sid ?? ''} setup had added. To deny them again, add this statement to its bucket policy (S3 console: Permissions > Bucket policy; or aws s3api get-bucket-policy, then put-bucket-policy with it added): ${JSON.stringify(deny)}`,
  );
}

/** A path as one shell word (quoted when it needs to be). */
function shellArg(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

async function removeBucket(ctx: Teardown): Promise<Outcome> {
  const bucket = ctx.state.resources.bucket!;
  const s3 = await import('../aws/s3.js');
  const aws = await ctx.session.aws(bucket.region);
  let emptied = 0;
  if (ctx.force) {
    emptied = await s3.emptyBucket(aws, bucket.name).catch((error: unknown) => {
      if (error instanceof CliError && error.code === 'AWS_NOSUCHBUCKET') return 0;
      throw error;
    });
  }
  const deleted = await s3.deleteBucket(aws, bucket.name);
  if (!deleted) return goneAs();
  return removedAs(
    emptied > 0 ? `deleted ${counted(emptied, 'object version')}, then the bucket` : 'deleted',
  );
}
