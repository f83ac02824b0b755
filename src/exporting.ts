/**
 * One snapshot export, shared by `setup` (export now) and `export`: check the snapshot, start the job
 * (or resume one), wait for it, and check in S3 that the files its `.complete` object counts are there.
 */
import { z } from 'zod';
import { CliError, ExitCode, UsageError, type CliErrorOptions } from './errors.js';
import type { Output } from './output.js';
import type { Session } from './session.js';
import type { StateFile } from './state/schema.js';
import { formatDuration, waitFor } from './wait.js';
import { ATLAS_GONE_CODES } from './checks.js';
import type { ExportJob, Snapshot } from './atlas/types.js';

export interface ExportEnv {
  session: Session;
  out: Output;
  projectId: string;
  clusterName: string;
  exportBucketId: string;
  bucketName: string;
  bucketRegion?: string;
  state: StateFile;
  save(): Promise<void>;
}

export interface ExportOptions {
  /** 'latest' or a snapshot id; omitted when resuming a job. */
  snapshot?: string;
  resumeJobId?: string;
  customData?: Array<{ key: string; value: string }>;
  /** Wait for the job to finish (default true). */
  wait?: boolean;
  timeoutMs: number;
  progress?: (text: string) => void;
  /** Called with every job read while waiting (state, counts, sharded components). */
  onJob?: (job: ExportJob, elapsedMs: number) => void;
  /**
   * The export bucket's requirePrivateNetworking as the caller read it just before starting the job;
   * recorded with a job this run starts (not with one a killed run started, read at another time).
   */
  privateNetworking?: boolean;
}

export interface FileCheck {
  /** The objects found under the export's prefix (`.complete` and `.permissioncheck` left out). */
  found: string[];
  /** What is missing: `.complete` itself, a collection's metadata.json, or files short of totalFiles. */
  missing: string[];
  /** `.complete`'s totalFiles, when it was read. */
  expected?: number;
}

export interface ExportOutcome {
  job: ExportJob;
  files?: FileCheck;
  summary: string;
}

const FINISHED = new Set(['Successful', 'Failed', 'Cancelled']);

/** Whether Atlas has finished with the job (Successful, Failed or Cancelled). */
export function isFinished(job: ExportJob): boolean {
  return FINISHED.has(job.state);
}

/**
 * An export that ended without a complete set of files: the job Failed or was Cancelled, or it
 * succeeded but its files in S3 do not match its `.complete` object. Carries the job for reports.
 */
export class ExportEndedError extends CliError {
  readonly job: ExportJob;
  readonly files: FileCheck | undefined;

  constructor(message: string, options: CliErrorOptions & { job: ExportJob; files?: FileCheck }) {
    super(message, options);
    this.name = 'ExportEndedError';
    this.job = options.job;
    this.files = options.files;
  }
}

const api = () =>
  Promise.all([
    import('./atlas/exportJobs.js'),
    import('./atlas/snapshots.js'),
    import('./atlas/errors.js'),
  ]).then(([jobs, snapshots, errors]) => ({ jobs, snapshots, errors }));

function isSharded(env: Pick<ExportEnv, 'state'>): boolean {
  return env.state.atlas.clusterType === 'SHARDED' || env.state.atlas.clusterType === 'GEOSHARDED';
}

/** Why a snapshot cannot be exported, or undefined when it can. */
export function snapshotProblem(snapshot: Snapshot): string | undefined {
  if (snapshot.snapshotType === 'fallback')
    return 'it is a fallback snapshot, which Atlas cannot export';
  if (snapshot.status !== 'completed') return `it is ${snapshot.status}, not completed`;
  return undefined;
}

/** Finds and checks the snapshot to export, before any job is created. */
/**
 * What choosing a snapshot needs. `ask` says, in the calling command's own terms, how to ask for the
 * latest snapshot and where to find the ids of the others.
 */
export type SnapshotEnv = Pick<ExportEnv, 'session' | 'projectId' | 'clusterName' | 'state'> & {
  ask?: { latest: string; list: string };
};

export async function chooseSnapshot(env: SnapshotEnv, request: string): Promise<Snapshot> {
  const ask = env.ask ?? { latest: '--latest', list: '`atlas-pl-export export --list-snapshots`' };
  const { snapshots, errors } = await api();
  const atlas = await env.session.atlas();
  const sharded = isSharded(env);
  if (request === 'latest') {
    const all: Snapshot[] = sharded
      ? await snapshots.listShardedSnapshots(atlas, env.projectId, env.clusterName)
      : await snapshots.listSnapshots(atlas, env.projectId, env.clusterName);
    const exportable = all
      .filter((snapshot) => snapshotProblem(snapshot) === undefined)
      .sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''));
    const latest = exportable[0];
    if (!latest) {
      throw new CliError(
        `Cluster ${env.clusterName} has no completed snapshot that can be exported.`,
        {
          code: 'NO_EXPORTABLE_SNAPSHOT',
          exitCode: ExitCode.cloud,
          hint: 'Take an on-demand snapshot in Atlas (or wait for the next scheduled one), then rerun.',
        },
      );
    }
    return latest;
  }
  if (!/^[0-9a-f]{24}$/.test(request)) {
    throw new UsageError(
      `Snapshot id "${request}" must be 24 hexadecimal characters (or "latest").`,
      { code: 'INVALID_SNAPSHOT_ID' },
    );
  }
  let snapshot: Snapshot;
  try {
    snapshot = sharded
      ? await snapshots.getShardedSnapshot(atlas, env.projectId, env.clusterName, request)
      : await snapshots.getSnapshot(atlas, env.projectId, env.clusterName, request);
  } catch (error) {
    if (errors.isAtlasApiError(error, ATLAS_GONE_CODES.snapshot) && error.status === 404) {
      throw new CliError(`Snapshot ${request} does not exist for cluster ${env.clusterName}.`, {
        code: 'SNAPSHOT_NOT_FOUND',
        exitCode: ExitCode.cloud,
        hint: `Use ${ask.latest}, or an id that ${ask.list} lists.`,
        cause: error,
      });
    }
    throw error;
  }
  const problem = snapshotProblem(snapshot);
  if (problem) {
    throw new CliError(`Snapshot ${request} cannot be exported: ${problem}.`, {
      code: 'SNAPSHOT_NOT_EXPORTABLE',
      exitCode: ExitCode.cloud,
      hint: `Use ${ask.latest}, or the id of a completed, non-fallback snapshot that ${ask.list} lists.`,
    });
  }
  return snapshot;
}

export async function runExport(env: ExportEnv, options: ExportOptions): Promise<ExportOutcome> {
  const { jobs } = await api();
  const atlas = await env.session.atlas();
  let job: ExportJob;
  if (options.resumeJobId) {
    job = await jobs.getExportJob(atlas, env.projectId, env.clusterName, options.resumeJobId);
  } else {
    const snapshot = await chooseSnapshot(env, options.snapshot ?? 'latest');
    // A create sent by a run that was killed before recording the job: adopt that job, never start a second.
    const sent = env.state.pending.exportJob;
    const lost = sent ? await findJobSentSince(env, snapshot.id, sent) : undefined;
    const startedAt = lost ? sent! : new Date().toISOString();
    env.state.pending.exportJob = startedAt;
    await env.save();
    job =
      lost ??
      (await jobs.createExportJob(atlas, env.projectId, env.clusterName, {
        snapshotId: snapshot.id,
        exportBucketId: env.exportBucketId,
        ...(options.customData?.length ? { customData: options.customData } : {}),
      }));
    env.state.exports.push({
      id: job.id,
      snapshotId: snapshot.id,
      state: job.state,
      startedAt,
      ...(job.prefix ? { prefix: job.prefix } : {}),
      ...(!lost && options.privateNetworking !== undefined
        ? { requirePrivateNetworking: options.privateNetworking }
        : {}),
    });
    delete env.state.pending.exportJob;
    await env.save();
  }
  if (options.wait === false) {
    return {
      job,
      summary: `export job ${job.id} started for snapshot ${job.snapshotId ?? ''} (${job.state})`,
    };
  }
  return finishExport(env, job, options);
}

/** Allowed difference between this machine's clock and Atlas's when matching a job a killed run started. */
const CLOCK_SKEW_MS = 60_000;

/** The job for this snapshot and export bucket that a create sent at `sent` made, if Atlas has one not yet recorded. */
async function findJobSentSince(
  env: ExportEnv,
  snapshotId: string,
  sent: string,
): Promise<ExportJob | undefined> {
  const { jobs } = await api();
  const known = new Set(env.state.exports.map((item) => item.id));
  const since = Date.parse(sent) - CLOCK_SKEW_MS;
  return (await jobs.listExportJobs(await env.session.atlas(), env.projectId, env.clusterName))
    .filter(
      (job) =>
        !known.has(job.id) &&
        job.snapshotId === snapshotId &&
        job.exportBucketId === env.exportBucketId,
    )
    .filter((job) => !job.createdAt || Date.parse(job.createdAt) >= since)
    .sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''))[0];
}

/** Waits for a job to finish, records it, and checks its files when it succeeded. */
export async function finishExport(
  env: ExportEnv,
  job: ExportJob,
  options: ExportOptions,
): Promise<ExportOutcome> {
  const { jobs } = await api();
  const atlas = await env.session.atlas();
  const started = Date.now();
  let current = job;
  if (!FINISHED.has(current.state)) {
    current = await waitFor(
      async () => {
        const next = await jobs.getExportJob(atlas, env.projectId, env.clusterName, job.id);
        options.progress?.(describeProgress(next, Date.now() - started));
        options.onJob?.(next, Date.now() - started);
        return FINISHED.has(next.state) ? next : undefined;
      },
      {
        what: `export job ${job.id} to finish`,
        timeoutMs: options.timeoutMs,
        minMs: 250,
        maxMs: 15_000,
        timeoutHint: `The job goes on in Atlas. Watch it with: atlas-pl-export export --job ${job.id}`,
      },
    );
  }
  const record = env.state.exports.find((item) => item.id === current.id);
  if (record) {
    record.state = current.state;
    if (current.prefix) record.prefix = current.prefix;
  }
  if (current.state !== 'Successful') {
    await env.save();
    const reason =
      current.stateReason?.message ?? current.stateReason?.errorCode ?? 'Atlas gave no reason';
    throw new ExportEndedError(
      `Export job ${current.id} ended ${current.state}: ${reason}. Partial files may remain under ${current.prefix ?? 'the export prefix'} in s3://${env.bucketName}.`,
      {
        code: current.stateReason?.errorCode ?? `EXPORT_${current.state.toUpperCase()}`,
        exitCode: ExitCode.notInPlace,
        hint: 'Fix the cause named above, remove the partial files if you do not want them, and export again.',
        job: current,
      },
    );
  }
  const files = await checkExportFiles(env, current);
  if (record) record.filesVerified = files.missing.length === 0;
  await env.save();
  if (files.missing.length > 0) {
    throw new ExportEndedError(
      `Export job ${current.id} reported success, but its files in S3 do not match its .complete object: ${files.missing.slice(0, 5).join('; ')}.`,
      {
        code: 'EXPORT_FILES_MISSING',
        exitCode: ExitCode.notInPlace,
        hint: 'Check lifecycle rules or other processes deleting objects in the bucket, then export again.',
        job: current,
        files,
      },
    );
  }
  return {
    job: current,
    files,
    summary: `job ${current.id}: snapshot ${current.snapshotId ?? ''} exported to s3://${env.bucketName}/${stripSlash(current.prefix ?? '')} (${files.found.length} files, all present)`,
  };
}

export function describeProgress(job: ExportJob, elapsedMs: number): string {
  const status = job.exportStatus;
  const counts = status?.totalCollections
    ? `, ${status.exportedCollections ?? 0}/${status.totalCollections} collections`
    : '';
  return `${job.state}${counts} (${formatDuration(elapsedMs)})`;
}

function stripSlash(prefix: string): string {
  return prefix.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Reads `<prefix>/.complete` and checks the prefix against it (one listing): the objects under the
 * prefix number its totalFiles, and every collection directory holds its metadata.json.
 */
export async function checkExportFiles(
  env: Pick<ExportEnv, 'session' | 'bucketName' | 'bucketRegion'>,
  job: ExportJob,
): Promise<FileCheck> {
  const prefix = stripSlash(job.prefix ?? '');
  if (!prefix) {
    throw new CliError(`Export job ${job.id} has no prefix, so its files cannot be checked.`, {
      code: 'EXPORT_NO_PREFIX',
      exitCode: ExitCode.cloud,
    });
  }
  const s3 = await import('./aws/s3.js');
  const aws = await env.session.aws(env.bucketRegion);
  const completeKey = `${prefix}/.complete`;
  let text: string | undefined;
  try {
    text = await s3.readObjectText(aws, env.bucketName, completeKey);
  } catch (error) {
    throw new CliError(
      `Cannot read s3://${env.bucketName}/${completeKey}: ${(error as Error).message}`,
      {
        code: 'EXPORT_COMPLETE_UNREADABLE',
        exitCode: ExitCode.cloud,
        hint: 'Check that your AWS identity may read the bucket (s3:GetObject, s3:ListBucket) over TLS.',
        cause: error,
      },
    );
  }
  if (text === undefined) return { found: [], missing: [completeKey] };
  const totalFiles = completeTotalFiles(text, `s3://${env.bucketName}/${completeKey}`);
  const present = await s3.listKeys(aws, env.bucketName, `${prefix}/`);
  return compareWithComplete(totalFiles, prefix, present);
}

/** What the client relies on in `.complete` (Atlas documents more fields; they are not needed here). */
const CompleteDocument = z.looseObject({ totalFiles: z.number().int().nonnegative() });

/** `.complete`'s totalFiles; a document that is not JSON, not an object or without a usable count is malformed. */
export function completeTotalFiles(text: string, where: string): number {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = Symbol('not JSON');
  }
  const parsed = CompleteDocument.safeParse(doc);
  if (parsed.success) return parsed.data.totalFiles;
  const what =
    typeof doc === 'symbol'
      ? 'it is not JSON'
      : doc === null || typeof doc !== 'object' || Array.isArray(doc)
        ? `it is ${JSON.stringify(doc)}, not a JSON object`
        : `its totalFiles is ${JSON.stringify((doc as { totalFiles?: unknown }).totalFiles) ?? 'missing'}, not a non-negative integer`;
  throw new CliError(`The export's .complete object ${where} is malformed: ${what}.`, {
    code: 'EXPORT_COMPLETE_MALFORMED',
    exitCode: ExitCode.cloud,
    hint: 'The export cannot be verified: look at the object in S3, export the snapshot again, and tell MongoDB support if a new export writes the same.',
  });
}

/** Keys Atlas writes that are not export files: the summary itself and the permission probe. */
function isExportFile(key: string, prefix: string): boolean {
  return (
    key.startsWith(`${prefix}/`) &&
    key !== `${prefix}/.complete` &&
    !key.endsWith('/.permissioncheck')
  );
}

/**
 * Compares the objects under the prefix with `.complete`'s totalFiles, and checks that every
 * collection directory (`<prefix>/<db>/<collection>/`) holds its metadata.json. Missing metadata
 * files are named; a count that still differs is described.
 */
export function compareWithComplete(
  totalFiles: number,
  prefix: string,
  presentKeys: string[],
): FileCheck {
  const found = presentKeys.filter((key) => isExportFile(key, prefix));
  const present = new Set(found);
  const directories = new Set(
    found
      .map((key) => key.slice(prefix.length + 1).split('/'))
      .filter((parts) => parts.length >= 3)
      .map((parts) => parts.slice(0, -1).join('/')),
  );
  const missing = [...directories]
    .map((dir) => `${prefix}/${dir}/metadata.json`)
    .filter((key) => !present.has(key));
  const unexplained = totalFiles - found.length - missing.length;
  if (unexplained > 0) {
    missing.push(
      `${unexplained} of the ${totalFiles} files .complete counts (totalFiles) under ${prefix}/`,
    );
  } else if (found.length > totalFiles) {
    missing.push(
      `${found.length} objects under ${prefix}/ where .complete counts ${totalFiles} (totalFiles)`,
    );
  }
  return { found, missing, expected: totalFiles };
}
