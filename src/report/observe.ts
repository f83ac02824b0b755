/**
 * Gathers the live facts the report's controls judge. Every fact is an Observation: the call that
 * observed it, when, and the value or the (redacted) error. Only read calls are made. The state
 * file says which resources to look at; it is never taken as evidence of their configuration.
 */
import type { AtlasClient } from '../atlas/http.js';
import type {
  AwsIamRole,
  BackupSchedule,
  Cluster,
  ExportBucket,
  ExportJob,
  PrivateEndpoint,
  Project,
} from '../atlas/types.js';
import type { AwsClients } from '../aws/clients.js';
import type { RoleInfo } from '../aws/iam.js';
import type { PolicyDocument } from '../aws/policies.js';
import type { BucketSecurity } from '../aws/s3.js';
import type { CallerIdentity } from '../aws/sts.js';
import type { FileCheck } from '../exporting.js';
import { CliError, ExitCode } from '../errors.js';
import { redact } from '../secrets.js';
import type { Session } from '../session.js';
import type { AtlasGoneKind } from '../checks.js';
import type { StateFile } from '../state/schema.js';

export type Observation<T> =
  | { ok: true; call: string; at: string; value: T }
  | {
      ok: false;
      call: string;
      at: string;
      /** The error's message, redacted. */
      error: string;
      /** The error's code and exit code (CliError), and its hint when it has one. */
      code: string;
      exitCode: number;
      hint?: string;
      /** The read found the resource gone (Atlas 404, NoSuchBucket): a fact, not a failure to observe. */
      gone: boolean;
    };

/** Errors that mean the resource read is not there (rather than that it could not be read). */
const GONE_CODES = new Set(['AWS_NOSUCHBUCKET', 'AWS_NOSUCHENTITY', 'AWS_NOSUCHENTITYEXCEPTION']);

/** A NoSuchBucket, or an error caused by one (a read of an object in a bucket that is gone). */
function isGone(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof CliError && GONE_CODES.has(e.code)) return true;
  }
  return false;
}

/**
 * Runs one read and records what it observed (or why it could not). An Atlas error marks the
 * resource gone only when the read is of a resource (`atlasKind`) and its errorCode says that one is
 * gone; any other (GROUP_NOT_FOUND, a cluster Atlas cannot find behind its schedule) means the read
 * could not run.
 */
export async function observe<T>(
  call: string,
  read: () => Promise<T>,
  atlasKind?: AtlasGoneKind,
): Promise<Observation<T>> {
  const at = new Date().toISOString();
  try {
    return { ok: true, call, at, value: await read() };
  } catch (error) {
    const { isAtlasApiError } = await import('../atlas/errors.js');
    const { isAtlasGone } = await import('../checks.js');
    const known = error instanceof CliError;
    return {
      ok: false,
      call,
      at,
      error: redact(error instanceof Error ? error.message : String(error)),
      code: known ? error.code : 'INTERNAL',
      exitCode: known ? error.exitCode : ExitCode.internal,
      ...(known && error.hint ? { hint: redact(error.hint) } : {}),
      gone: isAtlasApiError(error)
        ? atlasKind !== undefined && (await isAtlasGone(error, atlasKind))
        : isGone(error),
    };
  }
}

/** The resources the report covers, as the state file names them. */
export interface Subject {
  statePath: string;
  /** The AWS account that owns the bucket (setup checked it when it made or adopted the bucket). */
  accountId: string;
  baseUrl: string;
  projectId: string;
  clusterName: string;
  bucketName?: string;
  /** AWS form. */
  bucketRegion: string;
  exportBucketId?: string;
  atlasRoleId?: string;
  iamRoleName?: string;
  iamRoleArn?: string;
  privateEndpointId?: string;
  /**
   * Job id -> the export bucket's requirePrivateNetworking as this tool read it just before starting
   * that job (the state file's export records). A record, not a live read: the report says so.
   */
  privateNetworkingAtStart?: Record<string, boolean>;
}

export function subjectFromState(state: StateFile, statePath: string): Subject {
  const r = state.resources;
  return {
    statePath,
    accountId: state.aws.accountId,
    baseUrl: state.atlas.baseUrl,
    projectId: state.atlas.projectId,
    clusterName: state.atlas.clusterName,
    bucketName: r.bucket?.name,
    bucketRegion: r.bucket?.region ?? state.aws.region,
    exportBucketId: r.exportBucket?.id,
    atlasRoleId: r.atlasRole?.roleId,
    iamRoleName: r.iamRole?.name,
    iamRoleArn: r.iamRole?.arn,
    privateEndpointId: r.privateEndpoint?.id,
    privateNetworkingAtStart: Object.fromEntries(
      state.exports.flatMap((record) =>
        record.requirePrivateNetworking === undefined
          ? []
          : [[record.id, record.requirePrivateNetworking]],
      ),
    ),
  };
}

/** A permission policy on the IAM role: inline (by name) or managed (by ARN). */
export interface RolePolicy {
  kind: 'inline' | 'managed';
  name: string;
  document: PolicyDocument | undefined;
}

export interface JobFiles {
  job: ExportJob;
  bucket: ExportBucket | undefined;
  files?: Observation<FileCheck>;
}

export interface Facts {
  identity: Observation<CallerIdentity>;
  project: Observation<Project>;
  cluster: Observation<Cluster>;
  exportBucket?: Observation<ExportBucket>;
  exportBuckets: Observation<ExportBucket[]>;
  endpoints: Observation<PrivateEndpoint[]>;
  schedule: Observation<BackupSchedule>;
  jobs: Observation<ExportJob[]>;
  atlasRole?: Observation<AwsIamRole>;
  bucketRegion?: Observation<string>;
  bucketSecurity?: Observation<BucketSecurity>;
  iamRole?: Observation<RoleInfo | undefined>;
  rolePolicies?: Observation<RolePolicy[]>;
  /** The recent jobs, newest first, with the check of their files (successful jobs only). */
  recentJobs: JobFiles[];
}

/** How many of the cluster's export jobs, newest first, the report covers. */
export const RECENT_JOBS = 10;

const atlasModules = () =>
  Promise.all([
    import('../atlas/paths.js'),
    import('../atlas/projects.js'),
    import('../atlas/clusters.js'),
    import('../atlas/exportBuckets.js'),
    import('../atlas/privateEndpoints.js'),
    import('../atlas/schedule.js'),
    import('../atlas/exportJobs.js'),
    import('../atlas/access.js'),
  ]).then(([paths, projects, clusters, buckets, endpoints, schedule, jobs, access]) => ({
    paths,
    projects,
    clusters,
    buckets,
    endpoints,
    schedule,
    jobs,
    access,
  }));

type AtlasModules = Awaited<ReturnType<typeof atlasModules>>;

/** Reads everything the controls need, in parallel where the calls do not depend on each other. */
export async function gatherFacts(session: Session, subject: Subject): Promise<Facts> {
  const api = await atlasModules();
  // A client that cannot be made (credentials missing) fails each read that needs it, so every
  // control that depends on it says why it could not be checked; the others still are.
  const atlas = session.atlas();
  const aws = session.aws(subject.bucketRegion);
  atlas.catch(() => undefined);
  aws.catch(() => undefined);
  const [atlasFacts, awsFacts] = await Promise.all([
    gatherAtlas(api, atlas, subject),
    gatherAws(aws, subject),
  ]);
  const recentJobs = await checkRecentJobs(session, atlasFacts.jobs, atlasFacts.exportBuckets);
  return { ...atlasFacts, ...awsFacts, recentJobs };
}

async function gatherAtlas(api: AtlasModules, client: Promise<AtlasClient>, s: Subject) {
  const { groupPath, clusterPath } = api.paths;
  const get = (path: string) => `GET ${path}`;
  const [project, cluster, exportBucket, exportBuckets, endpoints, schedule, jobs, atlasRole] =
    await Promise.all([
      observe(get(groupPath(s.projectId)), async () =>
        api.projects.getProject(await client, s.projectId),
      ),
      observe(
        get(groupPath(s.projectId, 'clusters', s.clusterName)),
        async () => api.clusters.getCluster(await client, s.projectId, s.clusterName),
        'cluster',
      ),
      s.exportBucketId
        ? observe(
            get(groupPath(s.projectId, 'backup', 'exportBuckets', s.exportBucketId)),
            async () =>
              api.buckets.getExportBucket(await client, s.projectId, s.exportBucketId as string),
            'exportBucket',
          )
        : undefined,
      observe(get(groupPath(s.projectId, 'backup', 'exportBuckets')), async () =>
        api.buckets.listExportBuckets(await client, s.projectId),
      ),
      observe(get(groupPath(s.projectId, 'backup', 'AWS', 'privateEndpoints')), async () =>
        api.endpoints.listPrivateEndpoints(await client, s.projectId),
      ),
      observe(get(clusterPath(s.projectId, s.clusterName, 'backup', 'schedule')), async () =>
        api.schedule.getSchedule(await client, s.projectId, s.clusterName),
      ),
      observe(get(clusterPath(s.projectId, s.clusterName, 'backup', 'exports')), async () =>
        api.jobs.listExportJobs(await client, s.projectId, s.clusterName),
      ),
      s.atlasRoleId
        ? observe(
            get(groupPath(s.projectId, 'cloudProviderAccess', s.atlasRoleId)),
            async () =>
              api.access.getAccessRole(await client, s.projectId, s.atlasRoleId as string),
            'atlasRole',
          )
        : undefined,
    ]);
  return { project, cluster, exportBucket, exportBuckets, endpoints, schedule, jobs, atlasRole };
}

async function gatherAws(client: Promise<AwsClients>, s: Subject) {
  const [sts, s3, iam] = await Promise.all([
    import('../aws/sts.js'),
    import('../aws/s3.js'),
    import('../aws/iam.js'),
  ]);
  const bucket = s.bucketName;
  const role = s.iamRoleName;
  const [identity, bucketRegion, bucketSecurity, iamRole, rolePolicies] = await Promise.all([
    observe('sts:GetCallerIdentity', async () => sts.getCallerIdentity(await client)),
    bucket
      ? observe(`s3:GetBucketLocation ${bucket}`, async () =>
          s3.getBucketRegion(await client, bucket),
        )
      : undefined,
    bucket
      ? observe(
          `s3:GetBucketPublicAccessBlock, s3:GetBucketEncryption, s3:GetBucketPolicy, s3:GetBucketOwnershipControls ${bucket}`,
          async () => s3.readBucketSecurity(await client, bucket),
        )
      : undefined,
    role ? observe(`iam:GetRole ${role}`, async () => iam.getRole(await client, role)) : undefined,
    role
      ? observe(
          `iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicyVersion ${role}`,
          async () => readRolePolicies(await client, role),
        )
      : undefined,
  ]);
  return { identity, bucketRegion, bucketSecurity, iamRole, rolePolicies };
}

/** Every permission policy on the role: its inline policies and the default version of each managed one. */
async function readRolePolicies(aws: AwsClients, role: string): Promise<RolePolicy[]> {
  const iam = await import('../aws/iam.js');
  const { readManagedPolicy } = await import('./managed-policy.js');
  const [inlineNames, attached] = await Promise.all([
    iam.listInlinePolicyNames(aws, role),
    iam.listAttachedPolicies(aws, role),
  ]);
  const inline = await Promise.all(
    inlineNames.map(async (name): Promise<RolePolicy> => ({
      kind: 'inline',
      name,
      document: await iam.getInlinePolicy(aws, role, name),
    })),
  );
  const managed = await Promise.all(
    attached.map(async (policy): Promise<RolePolicy> => ({
      kind: 'managed',
      name: policy.arn,
      document: await readManagedPolicy(aws, policy.arn),
    })),
  );
  return [...inline, ...managed];
}

function newestFirst(jobs: ExportJob[]): ExportJob[] {
  return [...jobs].sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''));
}

/** The recent jobs; for each successful one, its `.complete` object and the files it lists. */
async function checkRecentJobs(
  session: Session,
  jobs: Observation<ExportJob[]>,
  buckets: Observation<ExportBucket[]>,
): Promise<JobFiles[]> {
  if (!jobs.ok) return [];
  const { checkExportFiles } = await import('../exporting.js');
  const byId = new Map((buckets.ok ? buckets.value : []).map((bucket) => [bucket._id, bucket]));
  const recent = newestFirst(jobs.value).slice(0, RECENT_JOBS);
  return Promise.all(
    recent.map(async (job): Promise<JobFiles> => {
      const bucket = byId.get(job.exportBucketId);
      if (job.state !== 'Successful' || !bucket) return { job, bucket };
      const prefix = (job.prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
      const files = await observe(
        `s3:GetObject s3://${bucket.bucketName}/${prefix}/.complete, s3:ListBucket`,
        () =>
          checkExportFiles(
            { session, bucketName: bucket.bucketName, bucketRegion: bucket.region ?? 'us-east-1' },
            job,
          ),
      );
      return { job, bucket, files };
    }),
  );
}
