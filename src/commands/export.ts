/**
 * `atlas-pl-export export`: export one snapshot to the export bucket that setup made, or watch,
 * inspect or list export jobs.
 *
 *   export --snapshot <id> | --latest    check the snapshot, start the job, wait, check the files in S3
 *   export --job <id>                    watch (or, with --no-wait, inspect) an existing job
 *   export --list                        recent jobs of the cluster
 *   export --list-snapshots              the cluster's exportable snapshots, newest first
 *
 * Jobs this tool starts are recorded in the state file (state.exports). The lock is taken only for
 * each write, and every write merges into the file as it is on disk then, so a long wait does not
 * keep other commands from using the state file. A state file deleted meanwhile (teardown) is not
 * written again: the run says so and still reports the job's outcome.
 */
import {
  isInteractive,
  readConfigFile,
  secondsOption,
  type SetupConfig,
  warnIfConfigDiffers,
} from '../config.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import type { ExportEnv, ExportEndedError, ExportOutcome, FileCheck } from '../exporting.js';
import { counted, formatTable, type Output, type Spinner } from '../output.js';
import type { CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import { requireState } from '../state/require.js';
import type { StateFile } from '../state/schema.js';
import { lockState, readState, writeState } from '../state/store.js';
import { formatDuration, sleep } from '../wait.js';
import type {
  BackupLabel,
  ExportBucket,
  ExportJob,
  PrivateEndpoint,
  Snapshot,
} from '../atlas/types.js';
import { toAtlasRegion } from '../regions.js';

const DEFAULT_TIMEOUT_SECONDS = 3600;
/** How many jobs `--list` shows in its table (all of them with --json). */
const LIST_LIMIT = 20;
const CUSTOM_KEY = /^[A-Za-z0-9_.:/@+-]{1,255}$/;
const SNAPSHOT_HINT =
  'List the snapshots that can be exported with `atlas-pl-export export --list-snapshots`, or use --latest.';
const MAX_CUSTOM_VALUE = 255;

type Mode =
  | { kind: 'list' }
  | { kind: 'snapshots' }
  | { kind: 'job'; id: string }
  | { kind: 'start'; snapshot?: string };

interface Flags {
  mode: Mode;
  customData: BackupLabel[];
  wait: boolean;
  timeoutMs: number;
  interactive: boolean;
  json: boolean;
  config: SetupConfig;
}

export async function run({ options, out }: CommandContext): Promise<number> {
  const flags = parseFlags(options, out);
  const session = openSession(out, options);
  const state = requireState(session);
  warnIfConfigDiffers(flags.config, state, out);
  if (flags.mode.kind === 'list') return listJobs(session, state, out, flags.json);
  if (flags.mode.kind === 'snapshots') return listSnapshots(session, state, out, flags.json);
  const env = exportEnv(session, state, out);
  if (flags.mode.kind === 'job') return watchJob(env, flags.mode.id, flags);
  return startExport(env, flags.mode.snapshot, flags);
}

// ---------------------------------------------------------------------------------------------
// Flags

function parseFlags(options: Record<string, unknown>, out: Output): Flags {
  const interactive = isInteractive(options);
  const config = typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const seconds =
    timeoutOption(options.timeout) ?? config.timeouts?.exportSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const wait = options.wait !== false;
  const custom = Array.isArray(options.custom)
    ? (options.custom as string[])
    : typeof options.custom === 'string'
      ? [options.custom]
      : [];
  const snapshot = typeof options.snapshot === 'string' ? options.snapshot.trim() : undefined;
  const job = typeof options.job === 'string' ? options.job.trim() : undefined;
  const chosen = [
    snapshot !== undefined && '--snapshot',
    options.latest && '--latest',
    job !== undefined && '--job',
    options.list && '--list',
    options.listSnapshots && '--list-snapshots',
  ].filter((flag): flag is string => typeof flag === 'string');
  if (chosen.length > 1) {
    throw new UsageError(`${chosen.join(' and ')} cannot be used together.`, {
      hint: 'Use one of --snapshot <id>, --latest, --job <id>, --list or --list-snapshots.',
    });
  }
  let mode: Mode;
  if (options.list) mode = { kind: 'list' };
  else if (options.listSnapshots) mode = { kind: 'snapshots' };
  else if (job !== undefined) mode = { kind: 'job', id: checkId(job, 'export job id', '--job') };
  else if (options.latest) mode = { kind: 'start', snapshot: 'latest' };
  else if (snapshot !== undefined)
    mode = { kind: 'start', snapshot: checkId(snapshot, 'snapshot id', '--snapshot') };
  else if (interactive) mode = { kind: 'start' };
  else {
    throw new UsageError('Say which snapshot to export, or what to inspect.', {
      code: 'MISSING_INPUT',
      hint: 'Use one of: --snapshot <id> (export that snapshot), --latest (export the latest completed snapshot), --job <id> (watch or inspect an export job), --list (list recent export jobs), --list-snapshots (list the snapshots that can be exported).',
    });
  }
  if (custom.length > 0 && mode.kind !== 'start') {
    throw new UsageError(
      '--custom applies only when starting an export (--snapshot or --latest).',
      {
        hint: 'Drop --custom, or use it with --snapshot <id> or --latest.',
      },
    );
  }
  if (!wait && (mode.kind === 'list' || mode.kind === 'snapshots'))
    throw new UsageError('--no-wait applies only to starting or watching an export job.', {
      hint: 'Drop --no-wait, or use it with --snapshot <id>, --latest or --job <id>.',
    });
  return {
    mode,
    customData: parseCustomData(custom),
    wait,
    timeoutMs: seconds * 1000,
    interactive,
    json: Boolean(options.json),
    config,
  };
}

/** --timeout, as a positive number of seconds; a bad one says what to give instead. */
function timeoutOption(value: unknown): number | undefined {
  try {
    return secondsOption('--timeout', value);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    throw new UsageError(error.message, {
      code: error.code,
      hint: `Give the number of seconds to wait for the export, e.g. --timeout ${DEFAULT_TIMEOUT_SECONDS} (the default); --no-wait does not wait at all.`,
    });
  }
}

function checkId(value: string, label: string, flag: string): string {
  if (!/^[0-9a-f]{24}$/.test(value)) {
    throw new UsageError(
      `${flag} "${value}": the ${label} must be 24 hexadecimal characters (lower case).`,
      {
        code: 'INVALID_INPUT',
        hint:
          flag === '--snapshot'
            ? SNAPSHOT_HINT
            : 'Copy the id from `atlas-pl-export export --list`.',
      },
    );
  }
  return value;
}

/** `--custom key=value` (repeatable) -> Atlas customData; every bad entry is listed at once. */
export function parseCustomData(entries: string[]): BackupLabel[] {
  const problems: string[] = [];
  const labels: BackupLabel[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0) {
      problems.push(`"${entry}": must be key=value`);
      continue;
    }
    const key = entry.slice(0, at).trim();
    const value = entry.slice(at + 1);
    if (!CUSTOM_KEY.test(key))
      problems.push(`"${entry}": the key may use letters, digits and _ . : / @ + - (at most 255)`);
    else if (seen.has(key)) problems.push(`"${entry}": key ${key} is given twice`);
    if (value.length === 0) problems.push(`"${entry}": the value is empty`);
    else if (value.length > MAX_CUSTOM_VALUE || hasControlCharacter(value))
      problems.push(
        `"${entry}": the value must be at most ${MAX_CUSTOM_VALUE} printable characters`,
      );
    seen.add(key);
    labels.push({ key, value });
  }
  if (problems.length > 0) {
    throw new UsageError(`--custom: ${problems.join('; ')}.`, {
      code: 'INVALID_CUSTOM_DATA',
      hint: 'Give each label as --custom key=value, e.g. --custom ticket=OPS-123.',
    });
  }
  return labels;
}

function hasControlCharacter(text: string): boolean {
  return [...text].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
}

// ---------------------------------------------------------------------------------------------
// The export environment, with state writes merged under the lock

/**
 * The export bucket the state records. Without one, setup has not made it yet, or teardown removed
 * it (teardown keeps the state file while it keeps the S3 bucket).
 */
export function exportBucketOf(state: StateFile, path: string): string {
  const id = state.resources.exportBucket?.id;
  const bucket = state.resources.bucket;
  if (!id || !bucket) {
    throw new CliError(
      `The state file ${path} records no ${id ? 'S3 bucket' : 'export bucket'}: setup has not made it yet, or teardown removed it.`,
      {
        code: 'SETUP_INCOMPLETE',
        exitCode: ExitCode.state,
        hint: 'Run `atlas-pl-export setup` (with the same --state) to create it, or finish it, again.',
      },
    );
  }
  return id;
}

function exportEnv(session: Session, state: StateFile, out: Output): ExportEnv {
  const exportBucketId = exportBucketOf(state, session.statePath);
  const bucket = state.resources.bucket!;
  const written = { gone: false };
  return {
    session,
    out,
    projectId: state.atlas.projectId,
    clusterName: state.atlas.clusterName,
    exportBucketId,
    bucketName: bucket.name,
    bucketRegion: bucket.region,
    state,
    save: () => mergeExports(session.statePath, state, out, written),
  };
}

/**
 * Writes this run's export records into the state file as it is on disk now, under the lock, so
 * whatever another command recorded meanwhile is kept. A lock held by a live run is waited for briefly.
 */
async function mergeExports(
  path: string,
  mine: StateFile,
  out: Output,
  written: { gone: boolean },
): Promise<void> {
  if (written.gone) return;
  const lock = await lockWithRetry(path, out);
  try {
    const fresh = readState(path);
    if (!fresh) {
      // Deleted while this run waited (teardown removes it once nothing is left): never bring it back.
      written.gone = true;
      out.warn(
        `The state file ${path} was deleted while this export ran (by teardown?); it is not created again, so this job is not recorded.`,
      );
      return;
    }
    for (const record of mine.exports) {
      const at = fresh.exports.findIndex((item) => item.id === record.id);
      if (at >= 0) fresh.exports[at] = { ...record };
      else fresh.exports.push({ ...record });
    }
    if (mine.pending.exportJob) fresh.pending.exportJob = mine.pending.exportJob;
    else delete fresh.pending.exportJob;
    await writeState(path, fresh);
  } finally {
    lock.release();
  }
}

async function lockWithRetry(path: string, out: Output): Promise<{ release(): void }> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return lockState(path, (message) => out.warn(message));
    } catch (error) {
      if (!(error instanceof CliError) || error.code !== 'STATE_FILE_LOCKED' || attempt >= 20)
        throw error;
      await sleep(250);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Starting an export

async function startExport(
  env: ExportEnv,
  request: string | undefined,
  flags: Flags,
): Promise<number> {
  const exporting = await import('../exporting.js');
  const out = env.out;
  // Both read before anything else; a bucket that would send the export over public networks is
  // named first, since it decides the path.
  const [bucket, endpoint] = await Promise.allSettled([
    requirePrivateExportBucket(env),
    requireActivePrivateEndpoint(env),
  ]);
  if (bucket.status === 'rejected') throw bucket.reason;
  if (endpoint.status === 'rejected') throw endpoint.reason;
  const snapshot = request ?? (await pickSnapshot(env));
  out.info(
    snapshot === 'latest'
      ? `Finding the latest exportable snapshot of cluster ${env.clusterName}…`
      : `Checking snapshot ${snapshot} of cluster ${env.clusterName}…`,
  );
  const checked = await exporting.chooseSnapshot(env, snapshot).catch((error: unknown) => {
    // Point at a list this tool can show.
    if (error instanceof CliError && error.code === 'SNAPSHOT_NOT_FOUND')
      throw new CliError(error.message, {
        code: error.code,
        exitCode: error.exitCode,
        hint: SNAPSHOT_HINT,
        cause: error,
      });
    throw error;
  });
  out.info(`Snapshot ${checked.id} (${describeSnapshot(checked)}) can be exported.`);
  // A create sent by a run killed before recording its job: runExport adopts that job.
  const sentBefore = env.state.pending.exportJob;
  const started = await exporting
    .runExport(env, {
      snapshot: checked.id,
      customData: flags.customData,
      wait: false,
      timeoutMs: flags.timeoutMs,
      privateNetworking: bucket.value,
    })
    .catch(async (error: unknown) => {
      throw await explainAlreadyRunning(error, checked.id);
    });
  const adopted =
    sentBefore !== undefined &&
    env.state.exports.find((record) => record.id === started.job.id)?.startedAt === sentBefore;
  out.info(
    adopted
      ? `Resumed watching export job ${started.job.id}, which an earlier run started (it stopped before recording it), to s3://${env.bucketName} (export bucket ${env.exportBucketId}).`
      : `Started export job ${started.job.id} to s3://${env.bucketName} (export bucket ${env.exportBucketId}).`,
  );
  if (!flags.wait) {
    out.info(`Not waiting. Follow it with: atlas-pl-export export --job ${started.job.id}`);
    if (flags.json) out.printJson({ ok: true, waited: false, job: jobSummary(started.job) });
    else out.result(started.job.id);
    return ExitCode.ok;
  }
  return follow(env, started.job, flags);
}

/**
 * Atlas refuses a second export of a snapshot it is exporting (EXPORT_ALREADY_IN_PROGRESS): point at
 * the running job when Atlas names it (a parameter that is a job id, not the snapshot's), or at the list.
 */
async function explainAlreadyRunning(error: unknown, snapshotId: string): Promise<unknown> {
  const { isAtlasApiError } = await import('../atlas/errors.js');
  if (!isAtlasApiError(error, 'EXPORT_ALREADY_IN_PROGRESS')) return error;
  const running = (error.parameters ?? []).find(
    (value): value is string =>
      typeof value === 'string' && /^[0-9a-f]{24}$/.test(value) && value !== snapshotId,
  );
  return new CliError(
    `Atlas is already exporting snapshot ${snapshotId}${running ? ` (export job ${running})` : ''}, so it refused to start another (EXPORT_ALREADY_IN_PROGRESS).`,
    {
      code: error.errorCode,
      exitCode: ExitCode.cloud,
      hint: running
        ? `Watch that job with: atlas-pl-export export --job ${running}`
        : 'Find the running job with `atlas-pl-export export --list`, then watch it with `atlas-pl-export export --job <id>`.',
      cause: error,
    },
  );
}

/**
 * The export bucket's requirePrivateNetworking, read (one GET) just before a job is started: with
 * false, Atlas would send the export over public networks, so no job is started. The value read is
 * recorded with the job (the report shows it as observed at the job's start).
 */
async function requirePrivateExportBucket(env: ExportEnv): Promise<boolean> {
  await refuseUnlessPrivate(env.session, env.projectId, env.exportBucketId, {
    what: 'the export',
    unchanged: 'No export job was started.',
    then: 'rerun this export',
  });
  return true;
}

/**
 * Reads the export bucket (one GET) and refuses (exit 3) unless it has requirePrivateNetworking:
 * true, before anything would send data to it: `export` before it starts a job, `schedule` before it
 * turns auto-export on or changes it. `wording` fits the messages to the command.
 */
export async function refuseUnlessPrivate(
  session: Session,
  projectId: string,
  exportBucketId: string,
  wording: { what: string; unchanged: string; then: string },
): Promise<ExportBucket> {
  const buckets = await import('../atlas/exportBuckets.js');
  const { isAtlasGone } = await import('../checks.js');
  let bucket: ExportBucket;
  try {
    bucket = await buckets.getExportBucket(await session.atlas(), projectId, exportBucketId);
  } catch (error) {
    if (await isAtlasGone(error, 'exportBucket'))
      throw new CliError(
        `The export bucket ${exportBucketId} recorded in the state file no longer exists in Atlas, so there is nothing to export to. ${wording.unchanged}`,
        {
          code: 'EXPORT_BUCKET_NOT_FOUND',
          exitCode: ExitCode.cloud,
          hint: `Run \`atlas-pl-export setup\` again (with the same --state): it creates the export bucket again. Then ${wording.then}.`,
          cause: error,
        },
      );
    throw error;
  }
  if (bucket.requirePrivateNetworking === true) return bucket;
  throw new CliError(
    `The export bucket ${bucket._id} (s3://${bucket.bucketName}) has requirePrivateNetworking: ${String(bucket.requirePrivateNetworking ?? false)}, so Atlas would send ${wording.what} over public networks instead of the private endpoint. ${wording.unchanged}`,
    {
      code: 'EXPORT_BUCKET_NOT_PRIVATE',
      exitCode: ExitCode.cloud,
      hint: `Run \`atlas-pl-export setup\` again (with the same --state): it sets requirePrivateNetworking back to true. Then ${wording.then}.`,
    },
  );
}

/**
 * The state's export bucket requires private networking (setup creates it so, and turns it on for a
 * bucket it adopts), so Atlas can export to it only through an ACTIVE object-storage private endpoint
 * in the bucket's region; otherwise the job would be created only to fail. One GET of the endpoint the
 * state records, or one list when it records none (or one for another region).
 */
async function requireActivePrivateEndpoint(env: ExportEnv): Promise<void> {
  const recorded = env.state.resources.privateEndpoint;
  const region = env.bucketRegion ? toAtlasRegion(env.bucketRegion) : recorded?.regionName;
  if (!region) return; // nothing says where the bucket is; Atlas will decide
  const found =
    recorded && recorded.regionName === region
      ? await recordedEndpoint(env, recorded.id)
      : await regionEndpoint(env, region);
  const clusterRegion = env.state.atlas.clusterRegion;
  if (found.endpoint?.status === 'ACTIVE') {
    const { endpointServes, vpcRegionOf } = await import('../atlas/privateEndpoints.js');
    if (!clusterRegion || endpointServes(found.endpoint, region, clusterRegion)) return;
    throw new CliError(
      `The private endpoint ${found.endpoint.id} for ${region} has its VPC endpoint in ${vpcRegionOf(found.endpoint)}, not in ${clusterRegion}, the cluster's region: Atlas cannot export from the cluster through it to s3://${env.bucketName}.`,
      {
        code: 'PRIVATE_ENDPOINT_OTHER_VPC_REGION',
        exitCode: ExitCode.cloud,
        hint: 'Run `atlas-pl-export status` to see the endpoint setup recorded, and `atlas-pl-export setup` to repair it.',
      },
    );
  }
  const why = endpointProblem(found, region);
  throw new CliError(
    `${why} Atlas cannot export to s3://${env.bucketName}: its export bucket ${env.exportBucketId} requires private networking.`,
    {
      code: 'PRIVATE_ENDPOINT_NOT_ACTIVE',
      exitCode: ExitCode.cloud,
      hint: 'Run `atlas-pl-export setup` again: it recreates the private endpoint (or waits for it to become ACTIVE). Then rerun this export.',
    },
  );
}

interface EndpointLookup {
  /** The endpoint looked at; undefined when it is gone (or the region has none). */
  endpoint?: PrivateEndpoint;
  /** The id the state file records, when it was looked up by id. */
  recordedId?: string;
}

async function recordedEndpoint(env: ExportEnv, id: string): Promise<EndpointLookup> {
  const endpoints = await import('../atlas/privateEndpoints.js');
  const { isAtlasGone } = await import('../checks.js');
  try {
    return {
      endpoint: await endpoints.getPrivateEndpoint(await env.session.atlas(), env.projectId, id),
      recordedId: id,
    };
  } catch (error) {
    if (await isAtlasGone(error, 'privateEndpoint')) return { recordedId: id };
    throw error;
  }
}

/** The region's ACTIVE endpoint if there is one, else the one closest to being usable. */
async function regionEndpoint(env: ExportEnv, region: string): Promise<EndpointLookup> {
  const endpoints = await import('../atlas/privateEndpoints.js');
  const all = (
    await endpoints.listPrivateEndpoints(await env.session.atlas(), env.projectId)
  ).filter((item) => item.regionName === region);
  return {
    endpoint:
      all.find((item) => item.status === 'ACTIVE') ??
      all.find((item) => item.status !== 'DELETING' && item.status !== 'FAILED') ??
      all[0],
  };
}

function endpointProblem(found: EndpointLookup, region: string): string {
  const { endpoint, recordedId } = found;
  if (!endpoint) {
    return recordedId
      ? `The private endpoint ${recordedId} (${region}) recorded in the state file no longer exists.`
      : `The project has no object-storage private endpoint for ${region}, the bucket's region.`;
  }
  const detail = endpoint.errorMessage ? ` (${endpoint.errorMessage})` : '';
  return `The private endpoint ${endpoint.id} (${region}) is ${endpoint.status}${detail}, not ACTIVE.`;
}

/** The cluster's snapshots that can be exported (completed, not fallback), newest first. */
async function exportableSnapshots(session: Session, state: StateFile): Promise<Snapshot[]> {
  const { snapshotProblem } = await import('../exporting.js');
  const snapshots = await import('../atlas/snapshots.js');
  const atlas = await session.atlas();
  const { projectId, clusterName, clusterType } = state.atlas;
  const sharded = clusterType === 'SHARDED' || clusterType === 'GEOSHARDED';
  const all: Snapshot[] = sharded
    ? await snapshots.listShardedSnapshots(atlas, projectId, clusterName)
    : await snapshots.listSnapshots(atlas, projectId, clusterName);
  return all
    .filter((snapshot) => snapshotProblem(snapshot) === undefined)
    .sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''));
}

const noExportableSnapshot = (clusterName: string) =>
  new CliError(`Cluster ${clusterName} has no completed snapshot that can be exported.`, {
    code: 'NO_EXPORTABLE_SNAPSHOT',
    exitCode: ExitCode.cloud,
    hint: 'Take an on-demand snapshot in Atlas (or wait for the next scheduled one), then rerun.',
  });

/** `--list-snapshots`: the pick list's data, as a table (or `{ ok, snapshots }` with --json). */
async function listSnapshots(
  session: Session,
  state: StateFile,
  output: Output,
  json: boolean,
): Promise<number> {
  const exportable = await exportableSnapshots(session, state);
  if (json) {
    output.printJson({ ok: true, cluster: state.atlas.clusterName, snapshots: exportable });
    return ExitCode.ok;
  }
  if (exportable.length === 0) throw noExportableSnapshot(state.atlas.clusterName);
  output.result(
    formatTable(
      ['SNAPSHOT', 'CREATED', 'TYPE', 'FREQUENCY', 'SIZE'],
      exportable.map((snapshot) => [
        snapshot.id,
        snapshot.createdAt ?? '',
        snapshot.snapshotType ?? '',
        snapshot.frequencyType ?? '',
        mebibytes(snapshot) ?? '',
      ]),
    ),
  );
  output.info(
    `Export one with: atlas-pl-export export --snapshot <id> (or --latest for the first one).`,
  );
  return ExitCode.ok;
}

/** Interactive only: a pick list of the cluster's exportable snapshots, newest first. */
async function pickSnapshot(env: ExportEnv): Promise<string> {
  const exportable = await exportableSnapshots(env.session, env.state);
  if (exportable.length === 0) throw noExportableSnapshot(env.clusterName);
  const { select } = await import('@inquirer/prompts');
  return select(
    {
      message: `Snapshot of ${env.clusterName} to export`,
      choices: exportable.map((snapshot) => ({
        name: `${snapshot.id}  ${describeSnapshot(snapshot)}`,
        value: snapshot.id,
      })),
    },
    { output: process.stderr },
  );
}

function describeSnapshot(snapshot: Snapshot): string {
  const parts = [
    snapshot.createdAt,
    snapshot.snapshotType,
    snapshot.frequencyType,
    snapshot.status,
  ].filter(Boolean);
  return [...parts, mebibytes(snapshot)].filter(Boolean).join(', ');
}

function mebibytes(snapshot: Snapshot): string | undefined {
  return snapshot.storageSizeBytes
    ? `${(snapshot.storageSizeBytes / 1024 / 1024).toFixed(0)} MiB`
    : undefined;
}

// ---------------------------------------------------------------------------------------------
// Watching a job to its end

async function watchJob(env: ExportEnv, jobId: string, flags: Flags): Promise<number> {
  const jobs = await import('../atlas/exportJobs.js');
  const { isAtlasGone } = await import('../checks.js');
  const atlas = await env.session.atlas();
  let job: ExportJob;
  try {
    job = await jobs.getExportJob(atlas, env.projectId, env.clusterName, jobId);
  } catch (error) {
    if (await isAtlasGone(error, 'exportJob')) {
      throw new CliError(`Cluster ${env.clusterName} has no export job ${jobId}.`, {
        code: 'EXPORT_JOB_NOT_FOUND',
        exitCode: ExitCode.cloud,
        hint: "List the cluster's export jobs with: atlas-pl-export export --list",
        cause: error,
      });
    }
    throw error;
  }
  const ours = env.state.exports.some((record) => record.id === job.id);
  if (!ours)
    env.out.info(
      `Export job ${job.id} was not started by this tool (it is not in the state file); inspecting it.`,
    );
  const jobEnv = await envForJob(env, job);
  const { isFinished } = await import('../exporting.js');
  if (!flags.wait && !isFinished(job)) {
    env.out.info(`Export job ${job.id}: ${describeJob(job)}`);
    for (const line of componentLines(job)) env.out.info(`  ${line}`);
    if (flags.json) env.out.printJson({ ok: true, waited: false, job: jobSummary(job) });
    else env.out.result(`${job.id} ${job.state}`);
    return ExitCode.ok;
  }
  return follow(jobEnv, job, flags);
}

/**
 * The job's export bucket, read once: its files are checked in that bucket (which may not be the
 * state's), and a bucket that does not require private networking now is pointed out. That is its
 * setting today, not a record of the path the job took; what this tool read just before starting the
 * job, when it started it, is said too.
 */
async function envForJob(env: ExportEnv, job: ExportJob): Promise<ExportEnv> {
  const buckets = await import('../atlas/exportBuckets.js');
  const { isAtlasGone } = await import('../checks.js');
  const id = job.exportBucketId || env.exportBucketId;
  const ours = id === env.exportBucketId;
  let bucket: ExportBucket;
  try {
    bucket = await buckets.getExportBucket(await env.session.atlas(), env.projectId, id);
  } catch (error) {
    if (!(ours && (await isAtlasGone(error, 'exportBucket')))) throw error;
    env.out.warn(
      `The export bucket ${id} of export job ${job.id} no longer exists in Atlas; its files are looked for in s3://${env.bucketName}.`,
    );
    return env;
  }
  if (!ours)
    env.out.info(
      `Export job ${job.id} writes to export bucket ${bucket._id} (s3://${bucket.bucketName}), not the one setup made.`,
    );
  if (bucket.requirePrivateNetworking !== true) {
    const recorded = env.state.exports.find((record) => record.id === job.id);
    const atStart =
      recorded?.requirePrivateNetworking === undefined
        ? ''
        : ` When this tool started the job, it read requirePrivateNetworking: ${String(recorded.requirePrivateNetworking)}.`;
    env.out.warn(
      `The export bucket ${bucket._id} (s3://${bucket.bucketName}) does not require private networking now (requirePrivateNetworking: ${String(bucket.requirePrivateNetworking ?? false)}): new exports to it may travel over public networks. This is its setting today, not a record of the path this job took.${atStart} Run \`atlas-pl-export setup\` (with the same --state) to set it back to true.`,
    );
  }
  if (ours) return env;
  return {
    ...env,
    exportBucketId: bucket._id,
    bucketName: bucket.bucketName,
    bucketRegion: bucket.region ?? env.bucketRegion,
  };
}

/** Waits with a spinner, then reports the outcome (files checked on success). */
async function follow(env: ExportEnv, job: ExportJob, flags: Flags): Promise<number> {
  const exporting = await import('../exporting.js');
  const spinner = await env.out.spinner(`Export job ${job.id}: ${describeJob(job)}`);
  let lastComponents = '';
  let lastState: string = job.state;
  let outcome: ExportOutcome;
  try {
    outcome = await exporting.finishExport(env, job, {
      timeoutMs: flags.timeoutMs,
      onJob: (next, elapsedMs) => {
        lastState = next.state;
        spinner.update(
          `Export job ${next.id}: ${describeJob(next)} (${formatDuration(elapsedMs)})`,
        );
        lastComponents = showComponents(env.out, next, lastComponents);
      },
    });
  } catch (error) {
    if (error instanceof exporting.ExportEndedError)
      return reportEnded(env, error, spinner, flags, await bucketIsGone(env, error.job));
    spinner.fail(`Export job ${job.id}: stopped waiting while it was ${lastState}`);
    throw error;
  }
  spinner.succeed(`Export job ${outcome.job.id}: ${outcome.job.state}`);
  for (const line of componentLines(outcome.job)) env.out.info(`  ${line}`);
  reportFiles(env, outcome.job, outcome.files);
  if (flags.json)
    env.out.printJson({
      ok: true,
      waited: true,
      job: jobSummary(outcome.job),
      bucket: env.bucketName,
      files: filesSummary(outcome.files),
    });
  else env.out.result(outcome.summary);
  return ExitCode.ok;
}

/** Sharded clusters: one line per component (shard or config server), printed when it changes. */
function showComponents(output: Output, job: ExportJob, last: string): string {
  const lines = componentLines(job);
  const text = lines.join('\n');
  if (lines.length > 0 && text !== last) for (const line of lines) output.info(`  ${line}`);
  return text;
}

/** Atlas documents only exportId and replicaSetName per component; a state it sends is shown too. */
export function componentLines(job: ExportJob): string[] {
  return (job.components ?? []).map((component) => {
    const extra = component as {
      state?: unknown;
      exportStatus?: { exportedCollections?: number; totalCollections?: number };
    };
    const state = typeof extra.state === 'string' ? extra.state : `part of job ${job.state}`;
    const counts = extra.exportStatus?.totalCollections
      ? `, ${extra.exportStatus.exportedCollections ?? 0}/${extra.exportStatus.totalCollections} collections`
      : '';
    return `${component.replicaSetName ?? 'component'} (export ${component.exportId ?? '?'}): ${state}${counts}`;
  });
}

function describeJob(job: ExportJob): string {
  const status = job.exportStatus;
  const counts = status?.totalCollections
    ? `, ${status.exportedCollections ?? 0}/${status.totalCollections} collections`
    : '';
  const parts = job.components?.length ? `, ${job.components.length} components` : '';
  return `${job.state}${counts}${parts}`;
}

const allPresent = (count: number): string =>
  count === 1
    ? 'The 1 file that .complete counts is present.'
    : `All ${count} files that .complete counts are present.`;

function reportFiles(env: ExportEnv, job: ExportJob, files: FileCheck | undefined): void {
  if (!files) return;
  const prefix = (job.prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  const expected = files.expected === undefined ? '' : `, .complete counts ${files.expected}`;
  env.out.info(`Files under s3://${env.bucketName}/${prefix}/ (${files.found.length}${expected}):`);
  const relative = (key: string) =>
    key.startsWith(`${prefix}/`) ? key.slice(prefix.length + 1) : key;
  for (const key of files.found) env.out.info(`  present  ${relative(key)}`);
  for (const problem of files.missing) env.out.info(`  MISSING  ${relative(problem)}`);
  env.out.info(
    files.missing.length === 0
      ? allPresent(files.expected ?? files.found.length)
      : `${counted(files.missing.length, 'problem')} with the files.`,
  );
}

/** Whether the S3 bucket is gone (deleted while the job ran, by teardown for one); false when unsure. */
async function bucketIsGone(env: ExportEnv, job: ExportJob): Promise<boolean> {
  if (job.state === 'Successful') return false;
  const s3 = await import('../aws/s3.js');
  const aws = await env.session.aws(env.bucketRegion);
  const found = await s3
    .inspectBucket(aws, env.bucketName, env.state.aws.accountId)
    .catch(() => undefined);
  return found?.exists === false;
}

/**
 * Failed, Cancelled, or files missing: the reason, a warning about partial files (unless the bucket
 * itself is gone), a non-zero exit.
 */
function reportEnded(
  env: ExportEnv,
  ended: ExportEndedError,
  spinner: Spinner,
  flags: Flags,
  bucketGone: boolean,
): never {
  const job = ended.job;
  let error: CliError = ended;
  spinner.fail(`Export job ${job.id}: ${job.state}`);
  if (job.state !== 'Successful') {
    const reason = job.stateReason?.message ?? job.stateReason?.errorCode ?? 'Atlas gave no reason';
    env.out.error(
      `Atlas says: ${reason}${job.stateReason?.errorCode ? ` (${job.stateReason.errorCode})` : ''}`,
    );
    const prefix = (job.prefix ?? '').replace(/^\/+/, '');
    if (bucketGone) {
      env.out.info(
        `The bucket s3://${env.bucketName} no longer exists, so no partial files remain.`,
      );
      error = new CliError(`Export job ${job.id} ended ${job.state}: ${reason}.`, {
        code: ended.code,
        exitCode: ended.exitCode,
        hint: `The bucket s3://${env.bucketName} is gone (teardown --delete-bucket removes it); run \`atlas-pl-export setup\` before exporting again.`,
        cause: ended,
      });
    } else
      env.out.warn(
        `Partial files may remain under s3://${env.bucketName}/${prefix}${prefix ? '/' : ''}. They are not a usable export; delete them if you do not want them.`,
      );
  } else {
    reportFiles(env, job, ended.files);
  }
  if (flags.json) {
    env.out.printJson({
      ok: false,
      job: jobSummary(job),
      bucket: env.bucketName,
      ...(ended.files ? { files: filesSummary(ended.files) } : {}),
      error: { code: error.code, message: error.message, hint: error.hint },
      exitCode: error.exitCode,
    });
  }
  throw error;
}

function jobSummary(job: ExportJob): Record<string, unknown> {
  return {
    id: job.id,
    state: job.state,
    snapshotId: job.snapshotId,
    exportBucketId: job.exportBucketId,
    prefix: job.prefix,
    createdAt: job.createdAt,
    finishedAt: job.finishedAt,
    exportStatus: job.exportStatus,
    ...(job.stateReason ? { stateReason: job.stateReason } : {}),
    ...(job.components?.length ? { components: job.components } : {}),
    ...(job.customData?.length ? { customData: job.customData } : {}),
  };
}

function filesSummary(files: FileCheck | undefined): Record<string, unknown> | undefined {
  if (!files) return undefined;
  return { found: files.found, missing: files.missing, allPresent: files.missing.length === 0 };
}

// ---------------------------------------------------------------------------------------------
// Listing jobs

async function listJobs(
  session: Session,
  state: StateFile,
  output: Output,
  json: boolean,
): Promise<number> {
  const jobs = await import('../atlas/exportJobs.js');
  const atlas = await session.atlas();
  const all = (
    await jobs.listExportJobs(atlas, state.atlas.projectId, state.atlas.clusterName)
  ).sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''));
  const ours = new Set(state.exports.map((record) => record.id));
  if (json) {
    output.printJson({
      ok: true,
      cluster: state.atlas.clusterName,
      jobs: all.map((job) => ({ ...jobSummary(job), startedByThisTool: ours.has(job.id) })),
    });
    return ExitCode.ok;
  }
  if (all.length === 0) {
    output.info(`Cluster ${state.atlas.clusterName} has no export jobs.`);
    return ExitCode.ok;
  }
  const rows = all
    .slice(0, LIST_LIMIT)
    .map((job) => [
      job.id,
      job.state,
      job.snapshotId ?? '',
      job.createdAt ?? '',
      job.exportStatus?.totalCollections
        ? `${job.exportStatus.exportedCollections ?? 0}/${job.exportStatus.totalCollections}`
        : '',
      ours.has(job.id) ? 'yes' : '',
    ]);
  output.result(formatTable(['JOB', 'STATE', 'SNAPSHOT', 'CREATED', 'COLLECTIONS', 'OURS'], rows));
  if (all.length > LIST_LIMIT)
    output.info(
      `${counted(all.length - LIST_LIMIT, 'older job')} not shown; --json lists them all.`,
    );
  return ExitCode.ok;
}
