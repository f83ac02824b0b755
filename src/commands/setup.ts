/**
 * `atlas-pl-export setup`: the whole PrivateLink export runbook as one resumable run.
 *
 * Order of work: resolve the input (flags over config file over state file), refuse bad or missing
 * values before any cloud call, take the state-file lock, check the state file belongs to the Atlas
 * this run talks to, ask for what is missing (interactive only), run the read-only preflight (so the
 * plan says what will really happen and a refusal changes nothing), show the plan and its charges,
 * then run the steps, saving the state after each.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  failWithProblems,
  isInteractive,
  readConfigFileProblems,
  secondsOption,
  type SetupConfig,
} from '../config.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { confirmOrStop, type Output } from '../output.js';
import { onInterrupt, type CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import { PENDING_LABELS, type StateFile } from '../state/schema.js';
import { assertStateWritable, lockState, newState, readState } from '../state/store.js';
import { assertSameIdentity, holdsResources } from '../state/identity.js';
import {
  createContext,
  type Encryption,
  type SetupContext,
  type SetupInput,
} from '../setup/context.js';
import { runSteps, type StepResult } from '../setup/runner.js';
import { buildSteps, type StepId } from '../setup/steps.js';
import { formatDuration } from '../wait.js';
import { chargesNotice, exportChargesNotice, wrap } from '../setup/charges.js';
import type { Check } from '../validate.js';
import { toAtlasRegion, toAwsRegion } from '../regions.js';

const DEFAULT_TIMEOUTS = { authorizeSeconds: 300, endpointSeconds: 1800, exportSeconds: 3600 };

/** What the flags and the config file say, before prompting; every field may still be missing. */
interface Draft {
  projectId?: string;
  clusterName?: string;
  bucketName?: string;
  region?: string;
  encryption?: string;
  /** True when no encryption was given but a KMS key was: the bucket is then SSE-KMS with that key. */
  encryptionFromKey?: boolean;
  kmsKeyArn?: string;
  iamRoleName?: string;
  exportNow?: string;
  schedule?: string;
  timeouts: { authorizeMs: number; endpointMs: number; exportMs: number };
  repair: boolean;
  /** Problems found while reading the flags and the config file, reported with the values' own. */
  problems: string[];
}

/** How this run was started with --sandbox: a rehearsal whose state file may go with the sandbox. */
interface Rehearsal {
  /** The state file is a temporary one, removed when the sandbox stops. */
  scratchState: boolean;
}

export async function run({ options, out }: CommandContext): Promise<number> {
  let sandbox: OwnSandbox | undefined;
  try {
    if (options.sandbox) sandbox = await startOwnSandbox(options, out, isInteractive(options));
    return await setup(options, out, sandbox ? { scratchState: sandbox.scratchState } : undefined);
  } finally {
    if (sandbox) await sandbox.stop();
  }
}

async function setup(
  options: Record<string, unknown>,
  out: Output,
  rehearsal: Rehearsal | undefined,
): Promise<number> {
  const interactive = isInteractive(options);
  const read =
    typeof options.config === 'string'
      ? readConfigFileProblems(options.config, out)
      : { config: {}, problems: [] };
  const draft = mergeDraft(options, read.config, options.config as string | undefined);
  draft.problems.push(...read.problems.map((problem) => `config file: ${problem}`));
  const session = openSession(out, options);
  session.warmUp();
  const dryRun = Boolean(options.dryRun);

  // Values given but malformed fail now, all together, before the state file or any cloud is touched.
  await validateDraft(draft);
  const { baseUrlFromEnv } = await import('../atlas/credentials.js');
  const baseUrl = baseUrlFromEnv(process.env);
  if (!dryRun) await assertStateWritable(session.statePath);
  const lock = dryRun ? undefined : lockState(session.statePath, (message) => out.warn(message));
  try {
    const previous = readState(session.statePath);
    // A state file that holds no resource (a run stopped before creating anything) pins nothing:
    // its answers are reused, but another project, cluster, bucket or account may replace them.
    const pinned = previous && holdsResources(previous) ? previous : undefined;
    // Before any call: this state file's ids belong to one Atlas.
    if (pinned) assertSameIdentity(pinned, { atlasBaseUrl: baseUrl }, session.statePath);
    const given = { ...draft };
    fillFromState(draft, previous);
    // The state file can be edited by hand: what it supplies is checked like a flag.
    await validateFromState(given, draft, session.statePath);
    if (interactive) await askForMissing(draft, session, out);
    const input = finish(draft, dryRun);
    if (pinned) {
      checkAgainstState(input, pinned, session.statePath);
      checkSettingsAgainstState(input, pinned, session.statePath);
    }
    const state =
      pinned ??
      newState({
        atlas: { baseUrl, projectId: input.projectId, clusterName: input.clusterName },
        aws: { accountId: '000000000000', region: input.bucket.region ?? 'us-east-1' },
      });
    state.atlas.baseUrl = baseUrl;
    state.plan = {
      bucketName: input.bucket.name,
      ...(input.bucket.region ? { bucketRegion: input.bucket.region } : {}),
      encryption: input.bucket.encryption,
      ...(input.bucket.kmsKeyArn ? { kmsKeyArn: input.bucket.kmsKeyArn } : {}),
      iamRoleName: input.iamRoleName,
      ...(input.exportNow ? { exportNow: input.exportNow } : {}),
      ...(input.schedule ? { schedule: input.schedule } : {}),
    };
    const ask = interactive && !options.yes && !dryRun;
    return await execute(input, state, session, out, {
      json: Boolean(options.json),
      rehearsal,
      // Shown once preflight has read what exists, so it says what will really be created or adopted.
      beforeChanges: async (ctx) => {
        printPlan(out, ctx, Boolean(draft.encryptionFromKey), rehearsal);
        if (!dryRun && !previous?.completedSteps.includes('exportBucket')) {
          // An endpoint the interrupted run created is a new one, charged as such.
          const recorded =
            state.resources.privateEndpoint?.id ??
            (state.pending.endpoint ? undefined : ctx.facts.found.endpoint?.id);
          out.info(
            `\n${chargesNotice({
              endpoint: recorded ? { create: false, id: recorded } : { create: true },
              kms: input.bucket.encryption === 'SSE-KMS',
              width: terminalWidth(),
            })}\n`,
          );
        } else if (!dryRun && bringsNewExports(input, state)) {
          out.info(`\n${exportChargesNotice(terminalWidth())}\n`);
        }
        if (ask)
          await confirmOrStop(
            { message: 'Make these changes?', default: true },
            {
              message: 'Nothing was changed.',
              hint: 'Rerun setup when the plan is what you want; flags or --config change its answers.',
            },
          );
      },
    });
  } finally {
    lock?.release();
  }
}

/** Columns for wrapped text: the terminal's, or 80 without one. */
/** A rerun that turns auto-export on (or changes it) or exports a snapshot not exported before. */
function bringsNewExports(input: SetupInput, state: StateFile): boolean {
  const schedule =
    input.schedule !== undefined && state.resources.schedule?.frequency !== input.schedule;
  const exportNow =
    input.exportNow !== undefined &&
    !state.exports.some(
      (job) =>
        job.state === 'Successful' &&
        (input.exportNow === 'latest' || job.snapshotId === input.exportNow),
    );
  return schedule || exportNow;
}

function terminalWidth(): number {
  const columns = process.stderr.isTTY ? process.stderr.columns : undefined;
  return columns && columns >= 40 ? columns : 80;
}

function mergeDraft(
  options: Record<string, unknown>,
  config: SetupConfig,
  configPath: string | undefined,
): Draft {
  const problems: string[] = [];
  // A value given as an empty string is a mistake (an unset shell variable, a missing argument),
  // never a request for the default.
  const given = (label: string, value: unknown): string | undefined => {
    if (typeof value !== 'string') return undefined;
    if (value.trim() === '') {
      problems.push(`${label} is empty: give a value, or leave it out to use the default`);
      return undefined;
    }
    return value.trim();
  };
  const flag = (name: string, value: unknown) => given(`--${name}`, value);
  const key = (name: string, value: unknown) => given(`"${name}" in ${configPath}`, value);
  const seconds = (
    name: string,
    fromFlag: unknown,
    fromConfig: number | undefined,
    fallback: number,
  ) => {
    let fromFlagSeconds: number | undefined;
    try {
      fromFlagSeconds = secondsOption(name, fromFlag);
    } catch (error) {
      // Reported with every other problem.
      if (!(error instanceof CliError)) throw error;
      problems.push(error.message.replace(/\.$/, ''));
    }
    return (fromFlagSeconds ?? fromConfig ?? fallback) * 1000;
  };
  const pick = (flagName: string, fromFlag: unknown, keyName: string, fromConfig: unknown) =>
    flag(flagName, fromFlag) ?? key(keyName, fromConfig);
  return {
    projectId: pick('project-id', options.projectId, 'projectId', config.projectId),
    clusterName: pick('cluster', options.cluster, 'clusterName', config.clusterName),
    bucketName: pick('bucket', options.bucket, 'bucket.name', config.bucket?.name),
    region: pick('region', options.region, 'bucket.region', config.bucket?.region),
    encryption: pick(
      'encryption',
      options.encryption,
      'bucket.encryption',
      config.bucket?.encryption,
    ),
    kmsKeyArn: pick('kms-key-arn', options.kmsKeyArn, 'bucket.kmsKeyArn', config.bucket?.kmsKeyArn),
    iamRoleName: pick('iam-role-name', options.iamRoleName, 'iamRoleName', config.iamRoleName),
    exportNow: pick(
      'export-now',
      options.exportNow,
      'exportNow.snapshotId',
      config.exportNow?.snapshotId,
    ),
    schedule: pick('schedule', options.schedule, 'schedule.frequency', config.schedule?.frequency),
    timeouts: {
      authorizeMs: seconds(
        '--authorize-timeout',
        options.authorizeTimeout,
        config.timeouts?.authorizeSeconds,
        DEFAULT_TIMEOUTS.authorizeSeconds,
      ),
      endpointMs: seconds(
        '--endpoint-timeout',
        options.endpointTimeout,
        config.timeouts?.endpointSeconds,
        DEFAULT_TIMEOUTS.endpointSeconds,
      ),
      exportMs: (config.timeouts?.exportSeconds ?? DEFAULT_TIMEOUTS.exportSeconds) * 1000,
    },
    repair: Boolean(options.repair),
    problems,
  };
}

/**
 * Checks every value that was given (missing ones are checked after prompting), and reports them
 * in one message together with the problems of the flags and the config file.
 */
async function validateDraft(draft: Draft): Promise<void> {
  const v = await import('../validate.js');
  const { parseRegion, privateEndpointRegions } = await import('../regions.js');
  const given = (<Check[]>[
    ['project id', draft.projectId, v.validateProjectId],
    ['cluster name', draft.clusterName, v.validateClusterName],
    ['bucket name', draft.bucketName, v.validateBucketName],
    ['IAM role name', draft.iamRoleName, v.validateRoleName],
    ['KMS key ARN', draft.kmsKeyArn, v.validateKmsKeyArn],
  ]).filter(([, value]) => value !== undefined);
  const problems = [...draft.problems, ...v.collectProblems(given)];
  let region: string | undefined;
  if (draft.region) {
    // The bucket's region is where the object-storage private endpoint goes, so it must be one of those.
    const parsed = parseRegion(draft.region, {
      allowed: privateEndpointRegions,
      label: 'bucket region',
    });
    if (parsed.ok) region = parsed.aws;
    else problems.push(parsed.problem);
  }
  if (draft.encryption) {
    const kind = draft.encryption.toUpperCase();
    if (kind === 'SSE-S3' || kind === 'SSE-KMS') draft.encryption = kind;
    else problems.push(`encryption "${draft.encryption}": must be SSE-S3 or SSE-KMS`);
  }
  const keyValid =
    draft.kmsKeyArn !== undefined && v.validateKmsKeyArn(draft.kmsKeyArn) === undefined;
  if (keyValid && v.isKmsAliasArn(draft.kmsKeyArn!)) {
    // IAM grants on an alias ARN do not cover the key behind it, so the role would not be able to encrypt.
    problems.push(
      `KMS key ARN "${draft.kmsKeyArn}": names an alias; give the key's own ARN (arn:aws:kms:<region>:<account>:key/<id>), since IAM permissions on an alias do not cover its key`,
    );
  }
  if (keyValid) {
    const placement = v.kmsKeyPlacementProblem(draft.kmsKeyArn!, region);
    if (placement) problems.push(placement);
  }
  if (draft.kmsKeyArn && draft.encryption === undefined) {
    // A key given on its own can only mean SSE-KMS; the plan says so.
    draft.encryption = 'SSE-KMS';
    draft.encryptionFromKey = true;
  }
  if (draft.encryption === 'SSE-KMS' && !draft.kmsKeyArn)
    problems.push('encryption SSE-KMS needs a KMS key ARN (--kms-key-arn or bucket.kmsKeyArn)');
  if (draft.kmsKeyArn && draft.encryption === 'SSE-S3') {
    problems.push(
      'a KMS key ARN was given with encryption SSE-S3: use --encryption SSE-KMS to encrypt with the key, or leave the key out',
    );
  }
  if (draft.exportNow && draft.exportNow !== 'latest') {
    const problem = v.validateSnapshotId(draft.exportNow, 'snapshot to export now');
    if (problem) problems.push(`${problem} (or "latest")`);
  }
  if (draft.schedule !== undefined && draft.schedule !== 'monthly' && draft.schedule !== 'yearly') {
    // Atlas enables other frequencies per project; `atlas-pl-export schedule --frequency` passes those on.
    problems.push(
      `schedule frequency "${draft.schedule}": must be monthly or yearly (for another frequency Atlas enabled for your project, use \`atlas-pl-export schedule --frequency\` after setup)`,
    );
  }
  draft.problems = [];
  failWithProblems(
    problems,
    'Fix the values above (flags or config file) and run again; nothing was changed.',
  );
}

/** Checks the values fillFromState took from the state file (those `given` left out). */
async function validateFromState(given: Draft, draft: Draft, statePath: string): Promise<void> {
  const v = await import('../validate.js');
  const { parseRegion, privateEndpointRegions } = await import('../regions.js');
  const taken = (value: string | undefined, before: string | undefined) =>
    before === undefined ? value : undefined;
  const checks = (<Check[]>[
    ['project id', taken(draft.projectId, given.projectId), v.validateProjectId],
    ['cluster name', taken(draft.clusterName, given.clusterName), v.validateClusterName],
    ['bucket name', taken(draft.bucketName, given.bucketName), v.validateBucketName],
    ['IAM role name', taken(draft.iamRoleName, given.iamRoleName), v.validateRoleName],
    ['KMS key ARN', taken(draft.kmsKeyArn, given.kmsKeyArn), v.validateKmsKeyArn],
  ]).filter(([, value]) => value !== undefined);
  const problems = v.collectProblems(checks);
  const region = taken(draft.region, given.region);
  if (region) {
    const parsed = parseRegion(region, { allowed: privateEndpointRegions, label: 'bucket region' });
    if (!parsed.ok) problems.push(parsed.problem);
  }
  failWithProblems(
    problems.map((problem) => `${problem} (from the state file)`),
    `Fix the value in the state file ${statePath} (or pass a valid one as a flag), then run again; nothing was changed.`,
  );
}

/** A rerun takes what the state file recorded for anything the flags and config leave out. */
function fillFromState(draft: Draft, state: StateFile | undefined): void {
  if (!state) return;
  const plan = state.plan;
  draft.projectId ??= state.atlas.projectId;
  draft.clusterName ??= state.atlas.clusterName;
  draft.bucketName ??= state.resources.bucket?.name ?? plan?.bucketName;
  draft.region ??=
    state.resources.bucket?.region ??
    plan?.bucketRegion ??
    (state.completedSteps.includes('preflight') ? state.aws.region : undefined);
  draft.encryption ??= state.resources.bucket?.encryption ?? plan?.encryption;
  draft.kmsKeyArn ??= state.resources.bucket?.kmsKeyArn ?? plan?.kmsKeyArn;
  draft.iamRoleName ??= state.resources.iamRole?.name ?? plan?.iamRoleName;
  if (draft.schedule === undefined) {
    // The plan says whether auto-export is wanted (without a plan, in older files, the record).
    // Set up once and its record gone since, auto-export was turned off on purpose
    // (`schedule --disable`): a rerun leaves it off. An explicit --schedule always wins.
    const turnedOff = !state.resources.schedule && state.completedSteps.includes('schedule');
    draft.schedule = turnedOff
      ? undefined
      : plan
        ? plan.schedule
        : state.resources.schedule?.frequency;
  }
  if (!state.completedSteps.includes('exportNow')) draft.exportNow ??= plan?.exportNow;
}

/**
 * The default IAM role name: one per setup, so a second setup (another bucket, another state file)
 * of the same cluster never lands on the first one's role. It names the bucket and the project and
 * is computed the same way on every run; a bucket name too long for IAM's 64 characters is
 * shortened, with a hash of the whole name keeping it unique.
 */
export function defaultRoleName(bucketName: string, projectId: string): string {
  const prefix = 'atlas-pl-export-';
  const suffix = `-${projectId.slice(-6)}`;
  // A bucket already named after the tool does not repeat the prefix.
  // Nor the suffix: the default bucket name already ends with it.
  const bucket = bucketName
    .replace(/^atlas-pl-export-/, '')
    .replace(/[^\w+=,.@-]/g, '-')
    .replace(new RegExp(`${suffix}$`), '');
  if (prefix.length + bucket.length + suffix.length <= 64) return `${prefix}${bucket}${suffix}`;
  const hash = createHash('sha256').update(bucketName).digest('hex').slice(0, 8);
  const room = 64 - prefix.length - suffix.length - hash.length - 1;
  return `${prefix}${bucket.slice(0, room)}-${hash}${suffix}`;
}

/** Turns the draft into the input, or fails listing every missing value (non-interactive runs). */
function finish(draft: Draft, dryRun: boolean): SetupInput {
  const missing: string[] = [];
  if (!draft.projectId) missing.push('project id: --project-id or "projectId" in the config file');
  if (!draft.clusterName) missing.push('cluster name: --cluster or "clusterName"');
  if (!draft.bucketName) missing.push('bucket name: --bucket or "bucket.name"');
  failWithProblems(
    missing.map((item) => `missing ${item}`),
    'Pass the missing values as flags or in --config FILE (see atlas-pl-export.example.json); nothing was changed.',
  );
  return {
    projectId: draft.projectId!,
    clusterName: draft.clusterName!,
    bucket: {
      name: draft.bucketName!,
      region: draft.region ? toAwsRegion(draft.region) : undefined,
      encryption: (draft.encryption ?? 'SSE-S3') as Encryption,
      kmsKeyArn: draft.kmsKeyArn,
    },
    iamRoleName: draft.iamRoleName ?? defaultRoleName(draft.bucketName!, draft.projectId!),
    exportNow: draft.exportNow,
    schedule: draft.schedule,
    timeouts: draft.timeouts,
    dryRun,
    repair: draft.repair,
  };
}

/**
 * A create sent by a run that stopped before recording its result pins the answers it was sent
 * with: a rerun with others would never look for what it made (and would make another).
 */
function pendingCreates(state: StateFile): string | undefined {
  const kinds = Object.keys(state.pending);
  if (kinds.length === 0) return undefined;
  return kinds
    .map((kind) => `${PENDING_LABELS[kind] ?? kind} (sent ${state.pending[kind]})`)
    .join(', ');
}

function mismatchHint(state: StateFile): string {
  return pendingCreates(state)
    ? 'Rerun with the recorded values (or leave those flags out) so setup finds and records what the pending create made; then run teardown, or use another --state file for a second setup.'
    : 'Use another --state file for a second setup, or run teardown for the recorded one first.';
}

function pendingNote(state: StateFile): string {
  const pending = pendingCreates(state);
  if (!pending) return '';
  return Object.keys(state.pending).length === 1
    ? ` A create of ${pending} is pending: its result is not recorded yet, so the answers it was sent with stay.`
    : ` Creates of ${pending} are pending: their results are not recorded yet, so the answers they were sent with stay.`;
}

/** The state file belongs to one setup; refuse to point it at another project, cluster or bucket. */
function checkAgainstState(input: SetupInput, state: StateFile, path: string): void {
  const clashes: string[] = [];
  const pending = pendingCreates(state) !== undefined;
  if (state.atlas.projectId !== input.projectId)
    clashes.push(`project ${state.atlas.projectId} (asked: ${input.projectId})`);
  if (state.atlas.clusterName !== input.clusterName)
    clashes.push(`cluster ${state.atlas.clusterName} (asked: ${input.clusterName})`);
  const bucket = state.resources.bucket?.name ?? (pending ? state.plan?.bucketName : undefined);
  if (bucket && bucket !== input.bucket.name)
    clashes.push(`bucket ${bucket} (asked: ${input.bucket.name})`);
  const role = state.resources.iamRole?.name ?? (pending ? state.plan?.iamRoleName : undefined);
  if (role && role !== input.iamRoleName)
    clashes.push(`IAM role ${role} (asked: ${input.iamRoleName})`);
  if (clashes.length > 0) {
    throw new UsageError(
      `The state file ${path} records a different setup: ${clashes.join(', ')}.${pendingNote(state)}`,
      { code: 'STATE_MISMATCH', hint: mismatchHint(state) },
    );
  }
}

/**
 * The bucket's region and encryption are fixed once it exists (and the private endpoint's region
 * with them): a rerun asking for others is refused, naming both, rather than planning one thing
 * and doing another. Before the bucket or endpoint exists, the new values simply apply, unless a
 * create sent with the recorded ones is pending.
 */
function checkSettingsAgainstState(input: SetupInput, state: StateFile, path: string): void {
  const plan = state.plan;
  const pending = pendingCreates(state) !== undefined;
  const bucket =
    state.resources.bucket ??
    (pending && plan
      ? {
          region:
            plan.bucketRegion ??
            (state.completedSteps.includes('preflight') ? state.aws.region : undefined),
          // Only a pending bucket create was sent with the encryption.
          ...(state.pending.bucket
            ? { encryption: plan.encryption, kmsKeyArn: plan.kmsKeyArn }
            : {}),
        }
      : undefined);
  const clashes: string[] = [];
  const asked = input.bucket;
  if (bucket?.region && asked.region && asked.region !== bucket.region)
    clashes.push(`bucket region ${bucket.region} (asked: ${asked.region})`);
  const endpoint = state.resources.privateEndpoint;
  if (!bucket && endpoint && asked.region && toAtlasRegion(asked.region) !== endpoint.regionName)
    clashes.push(`private endpoint region ${endpoint.regionName} (asked: ${asked.region})`);
  if (bucket?.encryption && asked.encryption !== bucket.encryption)
    clashes.push(`encryption ${bucket.encryption} (asked: ${asked.encryption})`);
  else if (bucket?.encryption && (asked.kmsKeyArn ?? '') !== (bucket.kmsKeyArn ?? ''))
    clashes.push(`KMS key ${bucket.kmsKeyArn ?? 'none'} (asked: ${asked.kmsKeyArn ?? 'none'})`);
  if (clashes.length > 0) {
    throw new UsageError(
      `The state file ${path} records the bucket ${input.bucket.name} with other settings: ${clashes.join(', ')}; nothing was changed.${pendingNote(state)}`,
      {
        code: 'STATE_SETTINGS_MISMATCH',
        hint: 'Leave out --region, --encryption and --kms-key-arn (and their config keys) to keep what the state file records. To change them, run teardown and set up again, or set up another bucket with its own --state file.',
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Interactive questions

async function askForMissing(draft: Draft, session: Session, out: Output): Promise<void> {
  const prompts = await import('@inquirer/prompts');
  const io = { output: process.stderr };
  const v = await import('../validate.js');
  const asValidator = (validator: (value: string) => string | undefined) => (value: string) =>
    validator(value.trim()) ?? true;
  if (!draft.projectId || !draft.clusterName) {
    const atlas = await session.atlas();
    const { listProjects } = await import('../atlas/projects.js');
    const clusters = await import('../atlas/clusters.js');
    if (!draft.projectId) {
      const projects = await listProjects(atlas);
      if (projects.length === 0) {
        throw new CliError('These Atlas credentials cannot see any project.', {
          code: 'NO_PROJECTS',
          exitCode: ExitCode.cloud,
          hint: 'Use an API key or service account with the Project Owner role on the project to export.',
        });
      }
      draft.projectId = await prompts.select(
        {
          message: 'Atlas project',
          choices: projects.map((p) => ({ name: `${p.name} (${p.id})`, value: p.id })),
        },
        io,
      );
    }
    if (!draft.clusterName) {
      const all = await clusters.listClusters(atlas, draft.projectId);
      const choices = all.map((cluster) => {
        const reasons = clusters.clusterEligibility(cluster);
        const summary = clusters.clusterSummary(cluster);
        return {
          name: `${summary.name} (${summary.provider ?? '?'} ${summary.instanceSize ?? ''} ${summary.region ?? ''})`.replace(
            /\s+\)/,
            ')',
          ),
          value: summary.name,
          disabled: reasons.length > 0 ? reasons.join('; ') : false,
        };
      });
      if (!choices.some((choice) => choice.disabled === false)) {
        throw new CliError(
          `Project ${draft.projectId} has no cluster that can export over PrivateLink.`,
          {
            code: 'CLUSTER_NOT_ELIGIBLE',
            exitCode: ExitCode.cloud,
            hint: 'Export needs an AWS cluster of tier M10 or larger with Cloud Backup on.',
          },
        );
      }
      draft.clusterName = await prompts.select({ message: 'Cluster to export', choices }, io);
    }
  }
  if (!draft.bucketName) {
    const suggestion =
      `atlas-export-${draft.clusterName!.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${draft.projectId!.slice(-6)}`.slice(
        0,
        63,
      );
    draft.bucketName = (
      await prompts.input(
        {
          message: 'S3 bucket for the exports (created if missing)',
          default: suggestion,
          validate: asValidator((x) => v.validateBucketName(x)),
        },
        io,
      )
    ).trim();
  }
  if (!draft.region) {
    const { getCluster, clusterRegion } = await import('../atlas/clusters.js');
    const { toAwsRegion, parseRegion, privateEndpointRegions } = await import('../regions.js');
    const atlasRegion = clusterRegion(
      await getCluster(await session.atlas(), draft.projectId!, draft.clusterName!),
    );
    const suggested = atlasRegion ? toAwsRegion(atlasRegion) : undefined;
    const answer = (
      await prompts.input(
        {
          message: `Bucket region${suggested ? " (the cluster's region keeps traffic in one region)" : ''}`,
          default: suggested,
          validate: (value: string) => {
            const region = parseRegion(value.trim(), {
              allowed: privateEndpointRegions,
              label: 'bucket region',
            });
            return region.ok ? true : region.problem;
          },
        },
        io,
      )
    ).trim();
    if (answer) draft.region = answer;
  }
  if (!draft.iamRoleName) {
    draft.iamRoleName = (
      await prompts.input(
        {
          message: 'IAM role that Atlas will assume',
          default: defaultRoleName(draft.bucketName!, draft.projectId!),
          validate: asValidator((x) => v.validateRoleName(x)),
        },
        io,
      )
    ).trim();
  }
  if (draft.exportNow === undefined) {
    const now = await prompts.confirm(
      { message: 'Export the latest snapshot when setup is done?', default: false },
      io,
    );
    if (now) draft.exportNow = 'latest';
  }
  if (draft.schedule === undefined) {
    const frequency = await prompts.select(
      {
        message: 'Auto-export snapshots to the bucket?',
        choices: [
          { name: 'No', value: '' },
          { name: 'Monthly', value: 'monthly' },
          { name: 'Yearly', value: 'yearly' },
        ],
      },
      io,
    );
    if (frequency) draft.schedule = frequency;
  }
  out.info('');
  await validateDraft(draft);
}

// ---------------------------------------------------------------------------------------------
// Plan, run, summary

/** The plan, from what preflight found: what will be created, adopted, or only checked. */
function printPlan(
  out: Output,
  ctx: SetupContext,
  encryptionFromKey: boolean,
  rehearsal: Rehearsal | undefined,
): void {
  const { input, state, facts } = ctx;
  const r = state.resources;
  const found = facts.found;
  const checked = ' (recorded; will be checked)';
  const region = facts.bucketRegion ?? input.bucket.region ?? '?';
  const kms = input.bucket.encryption === 'SSE-KMS';
  const encryption = kms
    ? `SSE-KMS encryption with key ${input.bucket.kmsKeyArn}${encryptionFromKey ? ' (SSE-KMS because a KMS key was given)' : ''}`
    : 'SSE-S3 encryption';
  const bucket = input.bucket.name;
  const grants = `s3:GetBucketLocation + s3:PutObject${kms ? ' + kms:GenerateDataKey, kms:Decrypt on the key' : ''}`;
  const endpointRegion = facts.bucketRegionAtlas ?? '?';
  const crossRegion =
    facts.clusterRegion && facts.bucketRegionAtlas && facts.clusterRegion !== endpointRegion
      ? ` (cross-region: its VPC endpoint in the cluster's region ${facts.clusterRegion})`
      : '';
  const lines = [
    r.bucket
      ? `S3 bucket ${bucket} in ${r.bucket.region}, ${r.bucket.encryption}${checked}`
      : found.bucket?.exists && facts.bucketRecovered
        ? `S3 bucket ${bucket} in ${region}: finish creating it (the interrupted run created it), private (all Block Public Access settings on), ${encryption}`
        : found.bucket?.exists
          ? `S3 bucket ${bucket} in ${region}: adopt the existing bucket; ${adoptedBucketChanges(facts)}`
          : `S3 bucket ${bucket} in ${region}: create, private (all Block Public Access settings on), ${encryption}`,
    r.atlasRole
      ? `Atlas cloud provider access role ${r.atlasRole.roleId}${checked}`
      : state.pending.atlasRole
        ? 'Atlas cloud provider access role: finish creating it (find the one the interrupted run created, or create one)'
        : 'Atlas cloud provider access role: create',
    r.iamRole
      ? `IAM role ${input.iamRoleName}${checked}; its trust and permission policies repaired if they drifted`
      : found.iamRole && facts.iamRoleRecovered
        ? `IAM role ${input.iamRoleName}: finish creating it (the interrupted run created it), trusting only Atlas with the external ID; ${grants}`
        : found.iamRole
          ? `IAM role ${input.iamRoleName}: adopt the existing role; trusts only Atlas with the external ID; ${grants}`
          : `IAM role ${input.iamRoleName}: create, trusting only Atlas with the external ID; ${grants}`,
    r.atlasRole?.authorizedAt
      ? `Authorization of the role in Atlas${checked}`
      : 'Authorize the role in Atlas (retrying while IAM propagates)',
    `Bucket policy: deny requests without TLS, allow the role; other statements kept${r.bucketPolicy ? checked : ''}`,
    r.privateEndpoint
      ? `Object-storage private endpoint ${r.privateEndpoint.id} for ${r.privateEndpoint.regionName}${checked}`
      : found.endpoint && state.pending.endpoint
        ? `Object-storage private endpoint for ${endpointRegion}: finish creating it (the interrupted run created ${found.endpoint.id}, ${found.endpoint.status ?? 'status unknown'})${found.endpoint.status === 'ACTIVE' ? '' : ', waiting until ACTIVE'}`
        : found.endpoint
          ? `Object-storage private endpoint for ${endpointRegion}: use the existing ${found.endpoint.id} (${found.endpoint.status ?? 'status unknown'})${found.endpoint.status === 'ACTIVE' ? '' : ', waiting until ACTIVE'}`
          : `Object-storage private endpoint for ${endpointRegion}${crossRegion}: create, and wait until ACTIVE (this takes minutes)`,
    r.exportBucket
      ? `Export bucket ${r.exportBucket.id}${checked}; requirePrivateNetworking: true`
      : found.exportBucket && state.pending.exportBucket
        ? `Export bucket: finish creating it (the interrupted run created ${found.exportBucket._id} for s3://${bucket})${found.exportBucket.requirePrivateNetworking === true ? '' : ', setting requirePrivateNetworking: true'}`
        : found.exportBucket
          ? `Export bucket: adopt the existing ${found.exportBucket._id} for s3://${bucket}${found.exportBucket.requirePrivateNetworking === true ? '' : ', setting requirePrivateNetworking: true'}`
          : `Export bucket for s3://${bucket}: create, with requirePrivateNetworking: true`,
    // Both start once the export bucket is in place; turning on auto-export is one call and ends first.
    ...(input.schedule ? [scheduleLine(ctx)] : []),
    ...(input.exportNow ? [`Export snapshot ${input.exportNow} and check its files in S3`] : []),
  ];
  out.info(input.dryRun ? 'Dry run: nothing will be changed. Plan:' : 'Plan:');
  // On a terminal, long lines are wrapped under their number; in a log, each stays one line.
  const width = process.stderr.isTTY ? terminalWidth() : Infinity;
  const scope = `Atlas project ${input.projectId}, cluster ${input.clusterName}${facts.clusterRegion ? ` (${facts.clusterRegion})` : ''}; AWS account ${state.aws.accountId}`;
  for (const part of wrap(scope, width, '  ', '  ')) out.info(part);
  lines.forEach((line, index) => {
    const number = `  ${index + 1}. `;
    for (const part of wrap(line, width, number, ' '.repeat(number.length))) out.info(part);
  });
  if (input.repair)
    out.info(
      '  (--repair: every recorded resource is checked in full and repaired where it drifted)',
    );
  out.info(
    `  State file: ${rehearsal?.scratchState ? 'a temporary one, removed with the sandbox' : ctx.session.statePath}`,
  );
}

/** What happens to the cluster's auto-export, from the schedule preflight read. */
function scheduleLine(ctx: SetupContext): string {
  const { input, facts, state } = ctx;
  const frequency = input.schedule!;
  const current = facts.schedule;
  const on = current?.autoExportEnabled === true;
  const sameFrequency = current?.export?.frequencyType === frequency;
  const what = !current
    ? `turn on ${frequency} auto-export to the export bucket`
    : on && sameFrequency
      ? `${frequency} auto-export to this setup's export bucket is on already${state.resources.schedule ? ' (recorded; will be checked)' : ''}`
      : on
        ? `change auto-export to this setup's export bucket from ${current.export?.frequencyType ?? 'its frequency'} to ${frequency}`
        : `turn on ${frequency} auto-export to the export bucket (off now)`;
  return `Auto-export: ${what}, keeping the cluster's snapshot policies${facts.scheduleWarning ? `. Warning: ${facts.scheduleWarning}` : ''}`;
}

/** Every change adopting the existing bucket makes, and what it leaves as it is. */
function adoptedBucketChanges(facts: SetupContext['facts']): string {
  const adoption = facts.bucketAdoption;
  if (!adoption) return 'its settings are read when the step runs';
  const ownership = adoption.security.objectOwnership;
  const changes = adoption.changes.map((change) => `turn on ${change.what}`);
  return [
    ...(changes.length ? changes : ['no change to its Block Public Access or default encryption']),
    ownership === 'BucketOwnerEnforced'
      ? 'object ownership already bucket-owner-enforced'
      : `object ownership left as it is (${ownership ?? 'not set'})`,
  ].join('; ');
}

interface ExecuteOptions {
  json: boolean;
  rehearsal: Rehearsal | undefined;
  /** Runs after preflight, before the first change: prints the plan, asks for confirmation. */
  beforeChanges(ctx: SetupContext): Promise<void>;
}

async function execute(
  input: SetupInput,
  state: StateFile,
  session: Session,
  out: Output,
  options: ExecuteOptions,
): Promise<number> {
  const ctx = createContext({ input, session, out, state, facts: { partition: 'aws', found: {} } });
  const started = Date.now();
  const steps = buildSteps(ctx);
  const results = new Map<StepId, StepResult>();
  const record = async (id: StepId, result: StepResult) => {
    if (!input.dryRun && !state.completedSteps.includes(id)) state.completedSteps.push(id);
    await ctx.save();
    results.set(id, result);
  };
  let failure: unknown;
  try {
    // Preflight only reads, so it runs before the plan is shown; nothing is saved before the run
    // goes ahead, so a refusal there (or a "no" to the question) leaves no state file behind.
    const checked = await runSteps(
      steps.filter((step) => step.id === 'preflight'),
      { out, onStepDone: record },
    );
    await options.beforeChanges(ctx);
    ctx.persist = !input.dryRun;
    await runSteps(steps, { out, onStepDone: record, finished: checked.results });
  } catch (error) {
    failure = error;
    await ctx.save().catch(() => undefined);
  }
  const elapsed = formatDuration(Date.now() - started);
  const scratch = options.rehearsal?.scratchState ?? false;
  if (options.json) {
    out.printJson({
      ok: failure === undefined,
      dryRun: input.dryRun,
      // A rehearsal's temporary state file is gone when the command ends.
      statePath: scratch ? null : session.statePath,
      elapsedMs: Date.now() - started,
      steps: Object.fromEntries([...results].map(([id, result]) => [id, result])),
      resources: state.resources,
      exports: state.exports,
      calls: session.counts,
      ...(failure === undefined ? {} : failureFields(failure)),
    });
  }
  if (failure !== undefined) throw failure;
  if (input.dryRun) {
    out.info(`Dry run finished in ${elapsed}; no write call was made.`);
  } else {
    const changed = [...results.values()].filter((r) => r.status !== 'unchanged').length;
    out.info(
      changed === 0
        ? `Everything is in place (checked in ${elapsed}); nothing was changed.`
        : `Setup finished in ${elapsed}.${scratch ? '' : ` State: ${session.statePath}`}`,
    );
    out.info(
      options.rehearsal
        ? 'That was a rehearsal on a throwaway sandbox. To try export, status, report and teardown too, keep one running with `atlas-pl-export sandbox` and use the settings it prints.'
        : 'Next: `atlas-pl-export export --latest` to export a snapshot, `atlas-pl-export status` to check for drift.',
    );
  }
  return ExitCode.ok;
}

// ---------------------------------------------------------------------------------------------
// --sandbox

interface OwnSandbox {
  /** The state file is a temporary one, removed with the sandbox. */
  scratchState: boolean;
  /** Stops the sandbox, removes the temporary folder and says so; safe to call more than once. */
  stop(): Promise<void>;
}

async function startOwnSandbox(
  options: Record<string, unknown>,
  out: Output,
  interactive: boolean,
): Promise<OwnSandbox> {
  const { startSandbox, clearCallerSettings, useSandboxEnvironment } =
    await import('../sandbox/index.js');
  // Nothing of the caller's own environment (or .env) may send the rehearsal to real accounts or
  // give it other credentials: the sandbox's settings replace every one of them.
  clearCallerSettings(process.env);
  const spinner = await out.spinner('Starting the sandbox (Atlas simulator and moto)');
  const sandbox = await startSandbox({});
  spinner.succeed(
    `Sandbox running: Atlas at ${sandbox.env.MONGODB_ATLAS_BASE_URL}, AWS (moto) at ${sandbox.env.AWS_ENDPOINT_URL}`,
  );
  useSandboxEnvironment(process.env, sandbox.env);
  const { registerSecret } = await import('../secrets.js');
  registerSecret(sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY);
  if (!interactive) {
    // Without anyone to ask, rehearse the whole runbook on the sandbox's eligible cluster with a
    // fresh bucket name: an export of the latest snapshot, and monthly auto-export.
    options.projectId ??= sandbox.atlas.seed.projectId;
    options.cluster ??= sandbox.atlas.seed.clusters.eligible;
    options.bucket ??= `atlas-pl-export-sandbox-${Date.now().toString(36)}`;
    options.exportNow ??= 'latest';
    options.schedule ??= 'monthly';
  }
  let scratch: string | undefined;
  if (options.state === undefined) {
    scratch = mkdtempSync(join(tmpdir(), 'atlas-pl-export-'));
    options.state = join(scratch, 'sandbox.state.json');
  }
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      try {
        await sandbox.stop();
      } finally {
        if (scratch) rmSync(scratch, { recursive: true, force: true });
      }
      out.info('The sandbox was stopped; everything it held is gone.');
    })());
  onInterrupt(async (interrupted) => {
    interrupted.error(
      'Interrupted. That was a rehearsal on a throwaway sandbox, so there is nothing to resume; stopping it.',
    );
    await stop().catch(() => undefined);
  });
  return { scratchState: scratch !== undefined, stop };
}

/** The `error` and `exitCode` of a failed run's --json document, the shape every command prints. */
function failureFields(failure: unknown): Record<string, unknown> {
  if (failure instanceof CliError)
    return {
      error: { code: failure.code, message: failure.message, hint: failure.hint },
      exitCode: failure.exitCode,
    };
  const message = failure instanceof Error ? failure.message : String(failure);
  return { error: { code: 'INTERNAL', message }, exitCode: ExitCode.internal };
}
