/**
 * The setup runbook as steps. Preflight makes every read-only check first (accounts, cluster,
 * regions, and whether what is not recorded yet exists and may be adopted), so a refusal comes
 * before any write. Each step then discovers what exists (the state file first, then the clouds,
 * reusing preflight's reads), creates or adopts, verifies, and records its result before any
 * dependent step starts.
 *
 *   preflight ─┬─ bucket ───────────────┬─ bucketPolicy ─┐
 *              ├─ atlasRole ─ iamRole ──┴─ authorize ────┼─ exportBucket ─┬─ exportNow
 *              └─ endpoint ─ endpointActive ─────────────┘                └─ schedule
 *
 * The private endpoint starts as soon as the region is known and provisions while the AWS steps run.
 */
import { endpointServes, vpcRegionOf } from '../atlas/privateEndpoints.js';
import type { ExportBucket, PrivateEndpoint, SystemStatus } from '../atlas/types.js';
import type { RoleInfo } from '../aws/iam.js';
import type { BucketEncryption, BucketInspection, BucketSecurity } from '../aws/s3.js';
import type { PolicyDocument, PolicyStatement } from '../aws/policies.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { counted } from '../output.js';
import { accountOfArn, assertSameIdentity } from '../state/identity.js';
import { kmsKeyPlacementProblem } from '../validate.js';
import { StepStopped, type Step, type StepResult, type StopSignal } from './runner.js';
import {
  clearPending,
  createdByAtlasPending,
  createdByPending,
  createdInWindow,
  markPending,
  pendingSince,
  type SetupContext,
} from './context.js';
import { formatDuration, waitFor } from '../wait.js';

export type StepId =
  | 'preflight'
  | 'bucket'
  | 'atlasRole'
  | 'iamRole'
  | 'authorize'
  | 'bucketPolicy'
  | 'endpoint'
  | 'endpointActive'
  | 'exportBucket'
  | 'exportNow'
  | 'schedule';

/** Name of the inline policy on the IAM role that holds the S3 (and KMS) permissions. */
export const PERMISSION_POLICY_NAME = 'atlas-pl-export-s3';

/** Atlas errorCodes that mean "IAM has not propagated the role or its trust policy yet". */
const PROPAGATION_ERROR_CODES = new Set([
  'CANNOT_ASSUME_ROLE',
  'INVALID_AWS_CREDENTIALS',
  'CLOUD_PROVIDER_ACCESS_ROLE_NOT_AUTHORIZED',
]);

const done = (status: StepResult['status'], detail: string): StepResult => ({ status, detail });

/** Loads the Atlas API modules only when a step needs them. */
const atlasApi = () =>
  Promise.all([
    import('../atlas/projects.js'),
    import('../atlas/clusters.js'),
    import('../atlas/access.js'),
    import('../atlas/privateEndpoints.js'),
    import('../atlas/exportBuckets.js'),
    import('../atlas/schedule.js'),
    import('../atlas/errors.js'),
    import('../atlas/system.js'),
  ]).then(([projects, clusters, access, endpoints, exportBuckets, schedule, errors, system]) => ({
    projects,
    clusters,
    access,
    endpoints,
    exportBuckets,
    schedule,
    errors,
    system,
  }));

const awsApi = () =>
  Promise.all([
    import('../aws/s3.js'),
    import('../aws/iam.js'),
    import('../aws/sts.js'),
    import('../aws/policies.js'),
  ]).then(([s3, iam, sts, policies]) => ({ s3, iam, sts, policies }));

const regionsApi = () => import('../regions.js');

export function buildSteps(ctx: SetupContext): Step<StepId>[] {
  const steps: Step<StepId>[] = [
    { id: 'preflight', title: 'Preflight checks', needs: [], run: (p) => preflight(ctx, p) },
    // Listed first among the steps that start together, so its calls go out first: it heads the
    // longest chain (the private endpoint takes minutes to become ACTIVE).
    {
      id: 'endpoint',
      title: 'Object-storage private endpoint',
      needs: ['preflight'],
      run: () => endpoint(ctx),
    },
    { id: 'bucket', title: 'S3 bucket', needs: ['preflight'], run: () => bucket(ctx) },
    {
      id: 'atlasRole',
      title: 'Atlas cloud provider access role',
      needs: ['preflight'],
      run: () => atlasRole(ctx),
    },
    { id: 'iamRole', title: 'IAM role', needs: ['atlasRole'], run: () => iamRole(ctx) },
    {
      id: 'authorize',
      title: 'Authorize the role in Atlas',
      needs: ['iamRole'],
      run: (p, stop) => authorize(ctx, p, stop),
    },
    {
      id: 'bucketPolicy',
      title: 'Bucket policy',
      needs: ['bucket', 'iamRole'],
      run: () => bucketPolicy(ctx),
    },
    {
      id: 'endpointActive',
      title: 'Wait for the private endpoint',
      needs: ['endpoint'],
      run: (p, stop) => endpointActive(ctx, p, stop),
    },
    {
      id: 'exportBucket',
      title: 'Export bucket (private networking)',
      needs: ['authorize', 'bucketPolicy', 'endpointActive'],
      run: () => exportBucket(ctx),
    },
  ];
  if (ctx.input.exportNow) {
    steps.push({
      id: 'exportNow',
      title: 'Export a snapshot now',
      needs: ['exportBucket'],
      run: (p) => exportNow(ctx, p),
    });
  }
  if (ctx.input.schedule) {
    steps.push({
      id: 'schedule',
      title: 'Auto-export schedule',
      needs: ['exportBucket'],
      run: () => schedule(ctx),
    });
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// 0. Preflight: every read-only check, before any write. A refusal here changes nothing.

/** One read of the IAM role per run: preflight checks who it trusts and which account it is in; the IAM role step builds on it. */
function readIamRole(ctx: SetupContext) {
  return ctx.memo(`iamRole:${ctx.input.iamRoleName}`, async () => {
    const { iam } = await awsApi();
    const aws = await ctx.session.aws(ctx.facts.bucketRegion ?? ctx.input.bucket.region);
    return iam.getRole(aws, ctx.input.iamRoleName);
  });
}

/** One look per run at whether the bucket exists, is ours and where (preflight, then the bucket step). */
function inspectBucketOnce(ctx: SetupContext, accountId: string) {
  return ctx.memo('bucketInspection', async () => {
    const { s3 } = await awsApi();
    const aws = await ctx.session.aws(ctx.facts.bucketRegion ?? ctx.input.bucket.region);
    return s3.inspectBucket(aws, ctx.input.bucket.name, accountId);
  });
}

/** One list of the project's private endpoints per run (preflight, then the endpoint step). */
function listEndpointsOnce(ctx: SetupContext) {
  return ctx.memo('privateEndpoints', async () => {
    const { endpoints } = await atlasApi();
    return endpoints.listPrivateEndpoints(await ctx.session.atlas(), ctx.input.projectId);
  });
}

/** One list of the project's export buckets per run (preflight, then the export bucket step). */
function listExportBucketsOnce(ctx: SetupContext) {
  return ctx.memo('exportBuckets', async () => {
    const { exportBuckets } = await atlasApi();
    return exportBuckets.listExportBuckets(await ctx.session.atlas(), ctx.input.projectId);
  });
}

/** Atlas's export bucket for the setup's S3 bucket, if there is one. */
function exportBucketFor(ctx: SetupContext, list: ExportBucket[]): ExportBucket | undefined {
  return list.find(
    (item) => item.bucketName === ctx.input.bucket.name && item.cloudProvider === 'AWS',
  );
}

/** The live endpoint for a region (Atlas form) in a list, if any. */
function liveEndpointFor(list: PrivateEndpoint[], regionName: string): PrivateEndpoint | undefined {
  return list.find(
    (item) =>
      item.regionName === regionName && item.status !== 'DELETING' && item.status !== 'FAILED',
  );
}

/**
 * An existing endpoint for the bucket's region is this setup's only if its VPC endpoint is in the
 * cluster's region: Atlas exports over it from there (a cross-region endpoint when they differ), and
 * keeps one endpoint per bucket region, so a second one cannot be made beside it.
 */
function assertEndpointServes(ctx: SetupContext, endpoint: PrivateEndpoint): void {
  const { bucketRegionAtlas, clusterRegion } = ctx.facts;
  if (!bucketRegionAtlas || !clusterRegion) return;
  if (endpointServes(endpoint, bucketRegionAtlas, clusterRegion)) return;
  throw new CliError(
    `The project's object-storage private endpoint ${endpoint.id} for ${bucketRegionAtlas} has its VPC endpoint in ${vpcRegionOf(endpoint)}, but cluster ${ctx.input.clusterName} is in ${clusterRegion}: exports over it would fail, and Atlas keeps one endpoint per bucket region; nothing was changed.`,
    {
      code: 'PRIVATE_ENDPOINT_OTHER_VPC_REGION',
      exitCode: ExitCode.cloud,
      hint: `Use a bucket in another region (--region), or remove that endpoint once nothing uses it (teardown of the setup that made it), then rerun.`,
    },
  );
}

/** Waits for every read and throws the first failure in the order given (not the order they failed). */
async function settleInOrder<T extends readonly unknown[]>(
  reads: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const settled = await Promise.allSettled(reads);
  for (const result of settled) if (result.status === 'rejected') throw result.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

async function preflight(ctx: SetupContext, progress: (text: string) => void): Promise<StepResult> {
  const { state, input } = ctx;
  // A rerun keeps the facts recorded by the first run, unless this run asks for another region.
  const recorded =
    state.completedSteps.includes('preflight') &&
    state.atlas.clusterRegion !== undefined &&
    (input.bucket.region === undefined || input.bucket.region === state.aws.region);
  return recorded ? preflightAgain(ctx) : firstPreflight(ctx, progress);
}

async function firstPreflight(
  ctx: SetupContext,
  progress: (text: string) => void,
): Promise<StepResult> {
  const { state, input, facts } = ctx;
  const regions = await regionsApi();
  const { toAtlasRegion, toAwsRegion, privateEndpointRegions } = regions;
  progress('checking Atlas credentials, project and cluster, and AWS credentials');
  // The Atlas reads go out first; the AWS SDK, whose loading keeps the thread busy for a few hundred
  // milliseconds, is loaded while they are on the wire. The private endpoint (the longest wait)
  // starts right after this step.
  const [atlas, api] = await Promise.all([ctx.session.atlas(), atlasApi(), import('urllib')]);
  const { credentialsFromEnv } = await import('../atlas/credentials.js');
  // An API key's roles are known (getSystemStatus); a service account's are not, so it is not asked.
  const apiKey = credentialsFromEnv(process.env).kind === 'apiKey';
  const atlasReads = [
    api.projects.getProject(atlas, input.projectId),
    api.clusters.getCluster(atlas, input.projectId, input.clusterName),
    apiKey ? api.system.getSystemStatus(atlas) : Promise.resolve(undefined),
    state.resources.privateEndpoint ? Promise.resolve(undefined) : listEndpointsOnce(ctx),
    state.resources.exportBucket ? Promise.resolve(undefined) : listExportBucketsOnce(ctx),
  ] as const;
  // Read with the others (checked once they are in), so it adds no round trip to preflight.
  if (input.schedule) readScheduleOnce(ctx).catch(() => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  const awsReads = (async () => {
    const [{ sts }, aws] = await Promise.all([awsApi(), ctx.session.aws(input.bucket.region)]);
    // The role lookup needs no account; the bucket lookup names the expected owner, so it follows STS.
    const identity = sts.getCallerIdentity(aws);
    const [who, bucketFound, role] = await settleInOrder([
      identity,
      state.resources.bucket
        ? Promise.resolve(undefined)
        : identity.then((found) => inspectBucketOnce(ctx, found.account)),
      readIamRole(ctx),
    ] as const);
    return { identity: who, bucketFound, role };
  })();
  // A key without Project Owner is refused by the reads that need it (the endpoint list): the
  // check of its roles comes first, so the refusal says why.
  const ownerCheck = Promise.all([atlasReads[0], atlasReads[2]]).then(([project, status]) => {
    if (status) assertProjectOwner(status, input.projectId, project.orgId);
  });
  const [, project, cluster, , endpointList, exportBucketList, { identity, bucketFound, role }] =
    await settleInOrder([ownerCheck, ...atlasReads, awsReads] as const);

  const reasons = api.clusters.clusterEligibility(cluster);
  if (reasons.length > 0) {
    throw new CliError(
      `Cluster ${input.clusterName} cannot export snapshots over PrivateLink: ${reasons.join('; ')}.`,
      {
        code: 'CLUSTER_NOT_ELIGIBLE',
        exitCode: ExitCode.cloud,
        hint: 'Use an AWS cluster of tier M10 or larger with Cloud Backup turned on (not Flex, serverless or a free tier).',
      },
    );
  }
  const clusterRegion = api.clusters.clusterRegion(cluster);
  if (!clusterRegion) {
    throw new CliError(
      `Cannot tell the region of cluster ${input.clusterName} (multi-region clusters do not report one).`,
      {
        code: 'CLUSTER_REGION_UNKNOWN',
        exitCode: ExitCode.usage,
        hint: 'Pass the bucket region with --region (or bucket.region in the config file).',
      },
    );
  }
  const bucketRegion = toAwsRegion(input.bucket.region ?? clusterRegion);
  if (
    !input.bucket.region &&
    !(privateEndpointRegions as readonly string[]).includes(toAtlasRegion(bucketRegion))
  ) {
    throw new UsageError(
      `The cluster's region ${toAtlasRegion(clusterRegion)} has no object-storage private endpoints, so the bucket cannot default to it; nothing was changed.`,
      {
        code: 'REGION_WITHOUT_PRIVATE_ENDPOINTS',
        hint: 'Pass --region with a region that has them (the bucket gets a cross-region endpoint from the cluster).',
      },
    );
  }
  kmsKeyInRegion(input, bucketRegion);
  // An AWS partition (aws, aws-cn, aws-us-gov) is a world of its own: accounts, roles and
  // PrivateLink do not cross it, so an export can only stay inside the cluster's.
  const partitions = {
    bucket: regions.partitionOf(bucketRegion),
    cluster: regions.partitionOf(toAwsRegion(clusterRegion)),
  };
  if (partitions.bucket !== partitions.cluster || partitions.bucket !== identity.partition) {
    throw new UsageError(
      `The bucket region ${bucketRegion} is in the AWS partition ${partitions.bucket}, but cluster ${input.clusterName} runs in ${toAtlasRegion(clusterRegion)} (partition ${partitions.cluster}) and the AWS credentials belong to partition ${identity.partition}; an export cannot leave a partition, so nothing was changed.`,
      {
        code: 'REGION_OTHER_PARTITION',
        hint: "Leave --region out (the bucket then goes in the cluster's region), or give a region of the cluster's partition with the credentials of an account there.",
      },
    );
  }
  assertSameIdentity(
    state,
    {
      orgId: project.orgId,
      awsAccountId: identity.account,
      awsAccountSource: 'from STS GetCallerIdentity',
    },
    ctx.session.statePath,
  );
  facts.clusterRegion = toAtlasRegion(clusterRegion);
  facts.bucketRegion = bucketRegion;
  facts.bucketRegionAtlas = toAtlasRegion(bucketRegion);
  facts.partition = identity.partition;
  state.atlas = {
    ...state.atlas,
    orgId: project.orgId,
    projectId: input.projectId,
    clusterName: input.clusterName,
    clusterRegion: facts.clusterRegion,
    clusterType: api.clusters.clusterSummary(cluster).clusterType,
  };
  state.aws = { accountId: identity.account, region: bucketRegion };
  await checkBeforeWrites(ctx, { bucketFound, role, endpointList, exportBucketList });
  const crossRegion = facts.bucketRegionAtlas !== facts.clusterRegion;
  return done(
    'done',
    `project "${project.name}", cluster ${input.clusterName} (${facts.clusterRegion}), AWS account ${identity.account}` +
      (crossRegion ? `; bucket in ${bucketRegion} (cross-region endpoint)` : ''),
  );
}

/**
 * A rerun: the facts the first run recorded stand, and only what tells the accounts apart is
 * read: the IAM role (its ARN names the AWS account; the IAM role step reads it anyway), or STS when
 * the role is not there. The Atlas side was checked by origin before the run started.
 */
async function preflightAgain(ctx: SetupContext): Promise<StepResult> {
  const { state, input, facts } = ctx;
  const { toAtlasRegion } = await regionsApi();
  facts.clusterRegion = state.atlas.clusterRegion;
  facts.bucketRegion = state.aws.region;
  facts.bucketRegionAtlas = toAtlasRegion(state.aws.region);
  const role = await readIamRole(ctx);
  let account = accountOfArn(role?.arn);
  let source = `from the ARN of IAM role ${input.iamRoleName}`;
  let partition = partitionOf(role?.arn);
  if (!account) {
    const [{ sts }, aws] = await Promise.all([awsApi(), ctx.session.aws(facts.bucketRegion)]);
    const identity = await sts.getCallerIdentity(aws);
    account = identity.account;
    partition = identity.partition;
    source = 'from STS GetCallerIdentity';
  }
  assertSameIdentity(
    state,
    { awsAccountId: account, awsAccountSource: source },
    ctx.session.statePath,
  );
  facts.partition = partition ?? facts.partition;
  kmsKeyInRegion(input, state.aws.region);
  // What this setup has not recorded yet gets the same checks as on a first run.
  if (input.schedule) readScheduleOnce(ctx).catch(() => undefined);
  const [bucketFound, endpointList, exportBucketList] = await settleInOrder([
    state.resources.bucket ? Promise.resolve(undefined) : inspectBucketOnce(ctx, account),
    state.resources.privateEndpoint ? Promise.resolve(undefined) : listEndpointsOnce(ctx),
    state.resources.exportBucket ? Promise.resolve(undefined) : listExportBucketsOnce(ctx),
  ] as const);
  await checkBeforeWrites(ctx, { bucketFound, role, endpointList, exportBucketList });
  return done(
    'unchanged',
    `checked before; project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}, AWS account ${account}`,
  );
}

/** S3 encrypts with a KMS key of the bucket's own region only. */
function kmsKeyInRegion(input: SetupContext['input'], bucketRegion: string): void {
  if (input.bucket.encryption !== 'SSE-KMS' || !input.bucket.kmsKeyArn) return;
  const problem = kmsKeyPlacementProblem(input.bucket.kmsKeyArn, bucketRegion);
  if (problem) {
    throw new UsageError(`${problem}; nothing was changed.`, {
      code: 'KMS_KEY_ELSEWHERE',
      hint: 'Give a key of the bucket region (--kms-key-arn), or put the bucket in the key region (--region).',
    });
  }
}

/** An API key whose roles are known must be Project Owner (or Organization Owner): setup creates project resources. */
function assertProjectOwner(status: SystemStatus, projectId: string, orgId: string): void {
  const roles = status.apiKey?.roles;
  if (!Array.isArray(roles)) return;
  const owner = roles.some(
    (role) =>
      (role.roleName === 'GROUP_OWNER' && role.groupId === projectId) ||
      (role.roleName === 'ORG_OWNER' && role.orgId === orgId),
  );
  if (owner) return;
  const held = roles
    .filter((role) => role.groupId === projectId || role.orgId === orgId)
    .map((role) => role.roleName)
    .filter((name): name is string => Boolean(name));
  throw new CliError(
    `The API key lacks Project Owner on project ${projectId} (its roles there: ${held.length ? held.join(', ') : 'none'}); setup would fail at its first Atlas change, so nothing was changed.`,
    {
      code: 'ATLAS_KEY_NOT_OWNER',
      exitCode: ExitCode.cloud,
      hint: `Grant the key the Project Owner role on ${projectId} (Project > Access Manager > Applications), or use a key or service account that has it, then rerun.`,
    },
  );
}

/**
 * The read-only checks of the resources setup will create or adopt, made before the first write:
 * an existing bucket must be ours and in the bucket region, and an existing IAM role of that name
 * must be this setup's. Records what was found for the plan.
 */
async function checkBeforeWrites(
  ctx: SetupContext,
  found: {
    bucketFound: BucketInspection | undefined;
    role: RoleInfo | undefined;
    endpointList: PrivateEndpoint[] | undefined;
    exportBucketList: ExportBucket[] | undefined;
  },
): Promise<void> {
  const { state, input, facts } = ctx;
  const bucketFound = found.bucketFound;
  if (bucketFound) checkBucketFound(ctx, bucketFound, true);
  if (found.role && (await roleBelongsElsewhere(ctx, found.role))) {
    throw roleInUse(input.iamRoleName, state.resources.atlasRole?.externalId, true);
  }
  const iamSince = pendingSince(ctx, 'iamRole');
  facts.iamRoleRecovered =
    !state.resources.iamRole &&
    iamSince !== undefined &&
    createdByPending(iamSince, found.role?.createDate);
  if (bucketFound?.exists && !state.resources.bucket)
    await checkBucketToAdopt(ctx, bucketFound, ourRoleArn(ctx, found.role));
  const exportBucket = found.exportBucketList && exportBucketFor(ctx, found.exportBucketList);
  if (exportBucket) checkExportBucketRole(ctx, exportBucket, true);
  const endpoint =
    found.endpointList && liveEndpointFor(found.endpointList, facts.bucketRegionAtlas!);
  if (endpoint) assertEndpointServes(ctx, endpoint);
  await checkSnapshotToExport(ctx);
  facts.found = {
    ...(bucketFound ? { bucket: bucketFound } : {}),
    iamRole: found.role ?? null,
    ...(found.endpointList ? { endpoint: endpoint ?? null } : {}),
    ...(found.exportBucketList ? { exportBucket: exportBucket ?? null } : {}),
  };
  await checkSchedule(ctx, found.exportBucketList, true);
}

/** One read of the cluster's backup schedule per run (preflight, then the schedule step). */
function readScheduleOnce(ctx: SetupContext) {
  return ctx.memo('schedule', async () => {
    const { schedule } = await atlasApi();
    return schedule.getSchedule(
      await ctx.session.atlas(),
      ctx.input.projectId,
      ctx.input.clusterName,
    );
  });
}

/**
 * With --schedule: the cluster has one auto-export, so one that goes to another export bucket (another
 * setup's) is refused rather than taken over. Also notes when no snapshot policy item has the
 * frequency asked for: Atlas exports only snapshots of the auto-export's frequency.
 */
async function checkSchedule(
  ctx: SetupContext,
  exportBucketList: ExportBucket[] | undefined,
  beforeWrites: boolean,
): Promise<void> {
  const { input, state, facts } = ctx;
  const frequency = input.schedule;
  if (!frequency) return;
  const current = await readScheduleOnce(ctx);
  facts.schedule = current;
  const ours = state.resources.exportBucket?.id ?? facts.found.exportBucket?._id;
  const target = current.autoExportEnabled ? current.export?.exportBucketId : undefined;
  if (target && target !== ours) {
    const name = exportBucketList?.find((item) => item._id === target)?.bucketName;
    throw new CliError(
      `Auto-export of cluster ${input.clusterName} is on and goes to export bucket ${target}${name ? ` (s3://${name})` : ''}, not to this setup's; --schedule would take it over${beforeWrites ? '; nothing was changed' : ''}.`,
      {
        code: 'AUTO_EXPORT_ELSEWHERE',
        exitCode: ExitCode.cloud,
        hint: `Turn it off there first (\`atlas-pl-export schedule --disable --state <that setup's state file>\`), or leave out --schedule (schedule in the config file).`,
      },
    );
  }
  const items = current.policies.flatMap((policy) => policy.policyItems ?? []);
  facts.scheduleWarning = items.some((item) => item.frequencyType === frequency)
    ? undefined
    : `cluster ${input.clusterName} has no ${frequency} snapshot policy item, and Atlas auto-exports only snapshots of the auto-export's frequency: nothing would be exported until a ${frequency} policy item is added`;
}

/**
 * Atlas has one export bucket per S3 bucket: an existing one is this setup's only when it uses this
 * setup's access role (with no access role recorded yet, it cannot).
 */
function checkExportBucketRole(
  ctx: SetupContext,
  existing: ExportBucket,
  beforeWrites: boolean,
): void {
  if (existing.iamRoleId === ctx.state.resources.atlasRole?.roleId) return;
  throw new CliError(
    `Atlas already has export bucket ${existing._id} for ${ctx.input.bucket.name}, using another access role (${existing.iamRoleId})${beforeWrites ? '; nothing was changed' : ''}.`,
    {
      code: 'EXPORT_BUCKET_OTHER_ROLE',
      exitCode: ExitCode.cloud,
      hint: 'Remove that export bucket in Atlas (after turning off any auto-export that uses it), or use another S3 bucket.',
    },
  );
}

/** An existing bucket is adopted only when this AWS account owns it and it is in the bucket region. */
function checkBucketFound(
  ctx: SetupContext,
  bucketFound: BucketInspection,
  beforeWrites: boolean,
): void {
  const name = ctx.input.bucket.name;
  const region = ctx.facts.bucketRegion!;
  const unchanged = beforeWrites ? '; nothing was changed' : '';
  if (bucketFound.exists && !bucketFound.owned) {
    throw new CliError(
      `The bucket ${name} exists but does not belong to AWS account ${ctx.state.aws.accountId}${unchanged}.`,
      {
        code: 'BUCKET_NOT_OWNED',
        exitCode: ExitCode.cloud,
        hint: 'Bucket names are global: choose another name (--bucket).',
      },
    );
  }
  if (bucketFound.exists && bucketFound.region !== region) {
    throw new UsageError(
      `The bucket ${name} is in ${bucketFound.region}, not in ${region} as expected${unchanged}.`,
      {
        code: 'BUCKET_WRONG_REGION',
        hint: `Pass --region ${bucketFound.region} to use it there, or choose another bucket name.`,
      },
    );
  }
}

/**
 * Whether an existing IAM role of the setup's name is someone else's: not recorded by this setup,
 * not made by this setup's interrupted create (created within the window of the pending mark), and
 * not trusting this setup's Atlas access role (with no access role yet, it cannot be trusting it).
 */
async function roleBelongsElsewhere(ctx: SetupContext, role: RoleInfo): Promise<boolean> {
  const { state, input } = ctx;
  if (state.resources.iamRole?.name === input.iamRoleName) return false;
  const since = pendingSince(ctx, 'iamRole');
  if (since && createdByPending(since, role.createDate)) return false;
  const atlasRole = state.resources.atlasRole;
  if (!atlasRole) return true;
  const { policies } = await awsApi();
  const trust = policies.trustPolicy({
    atlasAWSAccountArn: atlasRole.atlasAWSAccountArn,
    externalId: atlasRole.externalId,
  });
  return !policies.policiesEquivalent(role.trustPolicy, trust);
}

/** Rewriting another setup's role's trust policy would cut off whatever uses it now. */
function roleInUse(name: string, externalId: string | undefined, beforeWrites: boolean): CliError {
  return new UsageError(
    `The IAM role ${name} already exists and trusts a principal other than this setup's Atlas access role${externalId ? ` (external ID ${externalId})` : ''}${beforeWrites ? '; nothing was changed' : ''}.`,
    {
      code: 'IAM_ROLE_IN_USE',
      hint: 'Choose another name with --iam-role-name (or "iamRoleName" in the config file); atlas-pl-export does not take over a role that another setup may depend on.',
    },
  );
}

/** The ARN of this setup's IAM role: recorded, found under its name, or the one it will get. */
function ourRoleArn(ctx: SetupContext, found?: RoleInfo | null): string {
  const { state, facts, input } = ctx;
  return (
    state.resources.iamRole?.arn ??
    found?.arn ??
    `arn:${facts.partition}:iam::${state.aws.accountId}:role/${input.iamRoleName}`
  );
}

/** What an adopted bucket keeps as it is: its object ownership, and S3 Bucket Keys with its KMS key. */
const ADOPTED_BUCKET = { keepObjectOwnership: true, keepBucketKey: true } as const;

function desiredBucket(ctx: SetupContext) {
  const { input, facts } = ctx;
  return {
    name: input.bucket.name,
    region: facts.bucketRegion!,
    encryption: input.bucket.encryption,
    kmsKeyArn: input.bucket.kmsKeyArn,
  };
}

/**
 * An existing bucket this setup does not record: the result of its own interrupted create (created
 * within the pending window), which gets every setting as on a create; or someone's bucket to
 * adopt, whose settings are read so the plan names every change, and which is refused when adopting
 * it would weaken its encryption or rewrite another setup's bucket-policy statements.
 */
async function checkBucketToAdopt(
  ctx: SetupContext,
  found: Extract<BucketInspection, { exists: true }>,
  roleArn: string,
): Promise<void> {
  const since = pendingSince(ctx, 'bucket');
  if (since && createdByPending(since, found.createdAt)) {
    ctx.facts.bucketRecovered = true;
    await assertBucketPolicyFree(ctx, await readBucketPolicy(ctx), roleArn, true);
    return;
  }
  const security = await readSecurityToAdopt(ctx);
  assertNoWeakerEncryption(ctx, security.encryption, true);
  await assertBucketPolicyFree(ctx, security.policy, roleArn, true);
}

/** Reads an existing bucket's settings (its policy is the bucket-policy step's read too) and what adopting it changes. */
async function readSecurityToAdopt(ctx: SetupContext): Promise<BucketSecurity> {
  const { s3 } = await awsApi();
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  const security = await s3.readBucketSecurity(aws, ctx.input.bucket.name);
  ctx.forget('bucketPolicy');
  void ctx.memo('bucketPolicy', async () => security.policy);
  ctx.facts.bucketAdoption = {
    security,
    changes: s3.bucketChanges(security, desiredBucket(ctx), ADOPTED_BUCKET),
  };
  return security;
}

/** Whether an SSE-KMS key the bucket names (a key ARN or a bare key id) is the asked key ARN. */
function sameKmsKey(bucketKey: string, asked: string | undefined): boolean {
  if (!asked) return false;
  return bucketKey === asked || asked.endsWith(`:key/${bucketKey}`);
}

/**
 * Adopting a bucket never weakens its default encryption: a bucket on SSE-KMS is adopted only with
 * SSE-KMS and its own key (changing a bucket's key is its owner's decision, not this tool's).
 */
function assertNoWeakerEncryption(
  ctx: SetupContext,
  current: BucketEncryption | undefined,
  beforeWrites: boolean,
): void {
  const { input } = ctx;
  const name = input.bucket.name;
  const unchanged = beforeWrites ? '; nothing was changed' : '';
  if (!current || current.kind === 'SSE-S3') return;
  if (current.kind === 'other') {
    throw new UsageError(
      `The bucket ${name} has a default encryption other than SSE-S3 or SSE-KMS (such as DSSE-KMS); atlas-pl-export does not replace it${unchanged}.`,
      {
        code: 'BUCKET_ENCRYPTION_OTHER',
        hint: 'Choose another bucket (--bucket), or give this one SSE-S3 or SSE-KMS default encryption yourself first.',
      },
    );
  }
  const key = current.kmsKeyArn;
  if (input.bucket.encryption === 'SSE-KMS' && key && sameKmsKey(key, input.bucket.kmsKeyArn))
    return;
  if (!key) {
    throw new UsageError(
      `The bucket ${name} is encrypted with SSE-KMS under the AWS managed key aws/s3, which the IAM role cannot be granted; adopting it would change its encryption${unchanged}.`,
      {
        code: 'BUCKET_ENCRYPTION_WEAKER',
        hint: 'Choose another bucket (--bucket), or give this one a customer managed KMS key yourself, then rerun with --encryption SSE-KMS --kms-key-arn <that key ARN>.',
      },
    );
  }
  const keyArn = key.startsWith('arn:') ? key : `<the ARN of key ${key}>`;
  if (input.bucket.encryption === 'SSE-S3') {
    throw new UsageError(
      `The bucket ${name} is encrypted with SSE-KMS (key ${key}); adopting it with SSE-S3 would weaken its encryption${unchanged}.`,
      {
        code: 'BUCKET_ENCRYPTION_WEAKER',
        hint: `Rerun with --encryption SSE-KMS --kms-key-arn ${keyArn} to keep its key (the IAM role then gets kms:GenerateDataKey and kms:Decrypt on it), or choose another bucket (--bucket).`,
      },
    );
  }
  throw new UsageError(
    `The bucket ${name} is encrypted with SSE-KMS key ${key}, not with the key asked for (${input.bucket.kmsKeyArn}); atlas-pl-export does not change an existing bucket's key${unchanged}.`,
    {
      code: 'BUCKET_KMS_KEY_DIFFERS',
      hint: `Rerun with --encryption SSE-KMS --kms-key-arn ${keyArn} to use the bucket's key, or choose another bucket (--bucket).`,
    },
  );
}

/**
 * Two setups sharing a bucket would overwrite each other's statements (they have the same Sids):
 * a bucket whose policy holds atlas-pl-export statements for another role is another setup's.
 */
async function assertBucketPolicyFree(
  ctx: SetupContext,
  policy: PolicyDocument | undefined,
  roleArn: string,
  beforeWrites: boolean,
): Promise<void> {
  const { policies } = await awsApi();
  const foreign = policies.foreignExportStatements(policy, roleArn);
  if (foreign.length === 0) return;
  const name = ctx.input.bucket.name;
  const principals = [...new Set(foreign.flatMap((found) => found.principals))];
  throw new CliError(
    `The bucket policy of ${name} already holds atlas-pl-export statements (${foreign.map((found) => found.sid).join(', ')}) for another role, ${principals.join(', ')}: another setup uses this bucket, and this one would rewrite its statements${beforeWrites ? '; nothing was changed' : ''}.`,
    {
      code: 'BUCKET_POLICY_OTHER_SETUP',
      exitCode: ExitCode.cloud,
      hint: `Give this setup a bucket of its own (another --bucket); the setup of ${principals[0]} keeps ${name}.`,
    },
  );
}

function partitionOf(arn: string | undefined): string | undefined {
  return arn?.split(':')[1];
}

// ---------------------------------------------------------------------------------------------
// 1. S3 bucket

/** One read of the bucket policy per run; it also proves the bucket exists and is ours. */
function readBucketPolicy(ctx: SetupContext) {
  return ctx.memo('bucketPolicy', async () => {
    const { s3 } = await awsApi();
    const aws = await ctx.session.aws(ctx.facts.bucketRegion);
    return s3.getBucketPolicy(aws, ctx.input.bucket.name);
  });
}

async function bucket(ctx: SetupContext): Promise<StepResult> {
  const { input, state } = ctx;
  const name = input.bucket.name;
  const recorded = state.resources.bucket;
  const { s3 } = await awsApi();
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  const region = ctx.facts.bucketRegion!;
  const desired = desiredBucket(ctx);
  if (recorded && recorded.name === name) {
    // Verified through the bucket-policy read the next step needs anyway; NoSuchBucket means it is gone.
    const gone = await readBucketPolicy(ctx).then(
      () => false,
      (error: unknown) => {
        if (error instanceof CliError && error.code === 'AWS_NOSUCHBUCKET') return true;
        throw error;
      },
    );
    if (!gone && !input.repair)
      return done('unchanged', `${name} (${earlier(recorded.origin)}) in ${recorded.region}`);
    if (!gone) {
      if (input.dryRun)
        return done(
          'planned',
          `would check ${name}'s Block Public Access and encryption and turn on what is off`,
        );
      // An adopted bucket keeps the object ownership it had.
      const changes: string[] = await s3.hardenBucket(
        aws,
        name,
        desired,
        recorded.origin === 'adopted' ? ADOPTED_BUCKET : {},
      );
      return changes.length > 0
        ? done('updated', `${name}: restored ${changes.join('; ')}`)
        : done(
            'unchanged',
            `${name} (${earlier(recorded.origin)}) in ${recorded.region}; Block Public Access and encryption in place`,
          );
    }
    ctx.out.warn(
      `The bucket ${name} recorded in the state file no longer exists; creating it again.`,
    );
    ctx.forget('bucketPolicy');
    delete state.resources.bucket;
    delete state.resources.bucketPolicy;
  }
  // Preflight made this read (and refused a bucket of another account or region); a bucket deleted
  // behind this setup's back is looked at here.
  const found = await inspectBucketOnce(ctx, state.aws.accountId);
  if (!found.exists) {
    if (input.dryRun)
      return done(
        'planned',
        `would create ${name} in ${region} (${describeEncryption(input)}, Block Public Access on)`,
      );
    return createBucket(ctx);
  }
  checkBucketFound(ctx, found, false);
  if (ctx.facts.bucketRecovered) {
    if (input.dryRun)
      return done('planned', `would finish creating ${name} (the interrupted run created it)`);
    await s3.applyBucketSecurity(aws, name, desired);
    state.resources.bucket = { ...desired, origin: 'created' };
    clearPending(ctx, 'bucket');
    return done(
      'created',
      `${name} in ${region} (finished the interrupted run's create), ${describeEncryption(input)}, all Block Public Access settings on`,
    );
  }
  if (!ctx.facts.bucketAdoption) {
    // Found here, not in preflight (the recorded bucket was deleted and another one made since).
    const security = await readSecurityToAdopt(ctx);
    assertNoWeakerEncryption(ctx, security.encryption, false);
    await assertBucketPolicyFree(ctx, security.policy, ourRoleArn(ctx), false);
  }
  return adoptBucket(ctx);
}

/**
 * Creates the bucket. Whose create made it is decided from a read, not from the create's answer (in
 * us-east-1 S3 answers success to a create of a bucket the account already owns): the bucket is
 * this setup's only if S3's creation date falls between the pending mark and the answer.
 */
async function createBucket(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const { s3 } = await awsApi();
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  const desired = desiredBucket(ctx);
  const since = await markPending(ctx, 'bucket');
  let answer;
  try {
    answer = await s3.createBucket(aws, desired);
  } catch (error) {
    // Answered with a failure: when no bucket of that name is there, no create is left pending.
    const listing = await s3.bucketListing(aws, desired.name).catch(() => undefined);
    if (listing && !listing.listed) {
      clearPending(ctx, 'bucket');
      await ctx.save();
    }
    throw error;
  }
  const listing = await s3.bucketListing(aws, desired.name);
  const ours = listing
    ? listing.listed && createdInWindow(since, new Date(), listing.createdAt)
    : !answer.alreadyOwned;
  if (!ours) {
    // Another setup (or someone) created it since preflight: adopted under the same rules.
    clearPending(ctx, 'bucket');
    ctx.out.warn(
      `The bucket ${desired.name} was created by someone else while this setup was creating it; adopting it instead (teardown will not delete it).`,
    );
    const security = await readSecurityToAdopt(ctx);
    assertNoWeakerEncryption(ctx, security.encryption, false);
    await assertBucketPolicyFree(ctx, security.policy, ourRoleArn(ctx), false);
    return adoptBucket(ctx);
  }
  await s3.applyBucketSecurity(aws, desired.name, desired);
  state.resources.bucket = { ...desired, origin: 'created' };
  clearPending(ctx, 'bucket');
  return done(
    'created',
    `${desired.name} in ${desired.region}, ${describeEncryption(input)}, all Block Public Access settings on`,
  );
}

/** Adopts an existing bucket: makes the changes preflight listed (never its object ownership), records it as adopted. */
async function adoptBucket(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const { s3 } = await awsApi();
  const adoption = ctx.facts.bucketAdoption!;
  const desired = desiredBucket(ctx);
  const changes = adoption.changes.map((change) => change.what);
  if (input.dryRun)
    return done(
      'planned',
      `would adopt ${desired.name}${changes.length ? `, turning on ${changes.join('; ')}` : ' as it is'}`,
    );
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  await s3.applyBucketChanges(aws, desired.name, desired, adoption.changes);
  const ownership = adoption.security.objectOwnership;
  state.resources.bucket = {
    ...desired,
    origin: 'adopted',
    ...(ownership !== 'BucketOwnerEnforced' ? { keptObjectOwnership: ownership ?? 'not set' } : {}),
  };
  clearPending(ctx, 'bucket');
  return done(
    'adopted',
    `${desired.name} in ${desired.region}${changes.length ? `; turned on ${changes.join('; ')}` : '; no setting changed'}${ownership !== 'BucketOwnerEnforced' ? `; object ownership left as it is (${ownership ?? 'not set'})` : ''}`,
  );
}

function describeEncryption(input: SetupContext['input']): string {
  return input.bucket.encryption === 'SSE-KMS'
    ? `SSE-KMS with ${input.bucket.kmsKeyArn}`
    : 'SSE-S3 encryption';
}

// ---------------------------------------------------------------------------------------------
// 2. Atlas cloud provider access role

function readAtlasRole(ctx: SetupContext, roleId: string) {
  return ctx.memo(`atlasRole:${roleId}`, async () => {
    const { access, errors } = await atlasApi();
    try {
      return await access.getAccessRole(await ctx.session.atlas(), ctx.input.projectId, roleId);
    } catch (error) {
      if (errors.isAtlasApiError(error) && error.status === 404) return undefined;
      throw error;
    }
  });
}

async function atlasRole(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const recorded = state.resources.atlasRole;
  if (recorded) {
    const role = await readAtlasRole(ctx, recorded.roleId);
    if (role) return done('unchanged', `roleId ${recorded.roleId} (${earlier(recorded.origin)})`);
    ctx.out.warn(
      `The Atlas access role ${recorded.roleId} recorded in the state file no longer exists; creating a new one.`,
    );
    delete state.resources.atlasRole;
  }
  const { access } = await atlasApi();
  const atlas = await ctx.session.atlas();
  if (input.dryRun)
    return done('planned', 'would create an AWS cloud provider access role in Atlas');
  // A create sent by a run that was killed before recording its result: adopt what it made.
  const since = pendingSince(ctx, 'atlasRole');
  let role = since ? await findRoleOfKilledCreate(ctx, since) : undefined;
  if (!role) {
    await markPending(ctx, 'atlasRole');
    role = await access.createAccessRole(atlas, input.projectId);
  }
  if (!role.atlasAWSAccountArn || !role.atlasAssumedRoleExternalId) {
    throw new CliError(
      `Atlas created access role ${role.roleId} without its AWS account ARN or external ID.`,
      {
        code: 'ATLAS_ROLE_INCOMPLETE',
        exitCode: ExitCode.cloud,
        hint: 'Rerun setup; if it persists, contact MongoDB support with the role id.',
      },
    );
  }
  state.resources.atlasRole = {
    roleId: role.roleId,
    atlasAWSAccountArn: role.atlasAWSAccountArn,
    externalId: role.atlasAssumedRoleExternalId,
    origin: 'created',
  };
  clearPending(ctx, 'atlasRole');
  // The authorize step reads the role first; the create's answer is that read.
  const created = role;
  void ctx.memo(`atlasRole:${role.roleId}`, async () => created);
  return done('created', `roleId ${role.roleId}; Atlas assumes it from ${role.atlasAWSAccountArn}`);
}

/**
 * The access role an interrupted create made: an unused role (not authorized, no feature using it)
 * created while that create's request could have been open (from the pending mark to the mark plus
 * the client's request timeout, with a clock-skew margin), and only if exactly one is. Roles cannot be
 * told apart otherwise, so with several candidates none is adopted (another setup's role would be
 * recorded as this one's and removed by its teardown); they are named as possible leftovers.
 */
async function findRoleOfKilledCreate(ctx: SetupContext, since: Date) {
  const [{ access }, { DEFAULT_TIMEOUT_MS }] = await Promise.all([
    atlasApi(),
    import('../atlas/http.js'),
  ]);
  const roles = await access.listAccessRoles(await ctx.session.atlas(), ctx.input.projectId);
  const candidates = roles.filter(
    (role) =>
      !role.authorizedDate &&
      (role.featureUsages ?? []).length === 0 &&
      createdByAtlasPending(since, role.createdDate, DEFAULT_TIMEOUT_MS),
  );
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    ctx.out.warn(
      `The run that was stopped while creating the Atlas access role may have left one behind: ${candidates.map((role) => role.roleId).join(', ')} were created around then (${since.toISOString()}) and none is in use. They cannot be told apart from another setup's, so none is adopted and a new one is created; remove the leftover in Atlas once you know which it is.`,
    );
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 3. IAM role

async function iamRole(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const role = state.resources.atlasRole;
  const { iam, policies } = await awsApi();
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  const name = input.iamRoleName;
  const trust = role
    ? policies.trustPolicy({
        atlasAWSAccountArn: role.atlasAWSAccountArn,
        externalId: role.externalId,
      })
    : undefined;
  const permissions = policies.permissionPolicy({
    bucket: input.bucket.name,
    partition: ctx.facts.partition,
    kmsKeyArn: input.bucket.encryption === 'SSE-KMS' ? input.bucket.kmsKeyArn : undefined,
  });
  const existing = await readIamRole(ctx);
  if (!existing) {
    if (input.dryRun || !trust)
      return done(
        'planned',
        `would create IAM role ${name} trusting only Atlas's AWS account, with a least-privilege S3 policy`,
      );
    const since = await markPending(ctx, 'iamRole');
    const created = await iam
      .createRole(aws, {
        name,
        trustPolicy: trust,
        description: `Lets MongoDB Atlas write snapshot exports to s3://${input.bucket.name} (managed by atlas-pl-export)`,
        tags: { 'managed-by': 'atlas-pl-export', 'atlas-project-id': input.projectId },
      })
      .catch(async (error: unknown) => {
        if (!(error instanceof CliError) || error.code !== 'IAM_ROLE_EXISTS') throw error;
        // After the SDK retried a create whose first attempt went through, the role is this
        // run's: created between the mark and the answer. Otherwise it is someone else's, made
        // since preflight, and this create made nothing (so nothing is left pending).
        const found = await iam.getRole(aws, name);
        if (found && createdInWindow(since, new Date(), found.createDate)) return found;
        clearPending(ctx, 'iamRole');
        await ctx.save();
        throw new CliError(
          `An IAM role named "${name}" was created by someone else while this setup was creating it; nothing of it is recorded.`,
          {
            code: 'IAM_ROLE_EXISTS',
            exitCode: ExitCode.cloud,
            hint: 'Rerun with another name (--iam-role-name or "iamRoleName" in the config file).',
          },
        );
      });
    await iam.putInlinePolicy(aws, name, PERMISSION_POLICY_NAME, permissions);
    state.resources.iamRole = {
      name,
      arn: created.arn,
      policyName: PERMISSION_POLICY_NAME,
      origin: 'created',
    };
    clearPending(ctx, 'iamRole');
    return done('created', `${created.arn} with inline policy ${PERMISSION_POLICY_NAME}`);
  }
  const ours = state.resources.iamRole?.name === name;
  // Preflight refused a role of this name that belongs to someone else; checked again here, since
  // the access role may have been created since.
  if (await roleBelongsElsewhere(ctx, existing)) throw roleInUse(name, role?.externalId, false);
  const since = pendingSince(ctx, 'iamRole');
  const origin = ours
    ? state.resources.iamRole!.origin
    : since && createdByPending(since, existing.createDate)
      ? 'created'
      : 'adopted';
  const repairs: string[] = [];
  if (trust && !policies.policiesEquivalent(existing.trustPolicy, trust)) {
    ctx.out.info(`The trust policy of ${name} differs from what Atlas needs:`);
    for (const line of policies.describePolicyChange(existing.trustPolicy, trust))
      ctx.out.info(`    ${line}`);
    if (!input.dryRun) await iam.updateTrustPolicy(aws, name, trust);
    repairs.push('repaired the trust policy');
  }
  if (input.repair) await warnAboutOtherPolicies(ctx, aws, name);
  const current = await iam.getInlinePolicy(aws, name, PERMISSION_POLICY_NAME);
  if (!current || !policies.policiesEquivalent(current, permissions)) {
    if (current) {
      ctx.out.info(
        `The permission policy ${PERMISSION_POLICY_NAME} of ${name} differs from the least-privilege policy:`,
      );
      for (const line of policies.describePolicyChange(current, permissions))
        ctx.out.info(`    ${line}`);
    }
    if (!input.dryRun) await iam.putInlinePolicy(aws, name, PERMISSION_POLICY_NAME, permissions);
    repairs.push(current ? 'repaired the permission policy' : 'added the permission policy');
  }
  if (input.dryRun)
    return done(
      'planned',
      repairs.length ? `${name}: would have ${repairs.join(' and ')}` : `${name} is in place`,
    );
  state.resources.iamRole = { name, arn: existing.arn, policyName: PERMISSION_POLICY_NAME, origin };
  clearPending(ctx, 'iamRole');
  if (repairs.length > 0) return done('updated', `${existing.arn}; ${repairs.join(' and ')}`);
  return done(
    state.completedSteps.includes('iamRole')
      ? 'unchanged'
      : origin === 'created'
        ? 'created'
        : 'adopted',
    existing.arn,
  );
}

/** Other policies on the role widen what Atlas may do; they are someone's decision, so only say so. */
async function warnAboutOtherPolicies(
  ctx: SetupContext,
  aws: Awaited<ReturnType<SetupContext['session']['aws']>>,
  name: string,
) {
  const { iam } = await awsApi();
  const [inline, attached] = await Promise.all([
    iam.listInlinePolicyNames(aws, name),
    iam.listAttachedPolicies(aws, name),
  ]);
  const others = [
    ...inline.filter((policy) => policy !== PERMISSION_POLICY_NAME),
    ...attached.map((policy) => policy.arn),
  ];
  if (others.length > 0) {
    ctx.out.warn(
      `The IAM role ${name} has other policies too (${others.join(', ')}); they let Atlas do more than exports need. atlas-pl-export leaves them alone: remove them unless you need them.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Authorize

async function authorize(
  ctx: SetupContext,
  progress: (text: string) => void,
  stop: StopSignal,
): Promise<StepResult> {
  const { state, input } = ctx;
  const recorded = state.resources.atlasRole;
  const iamRoleArn = state.resources.iamRole?.arn;
  if (!recorded || !iamRoleArn) return done('planned', 'would authorize the IAM role in Atlas');
  const role = await readAtlasRole(ctx, recorded.roleId);
  if (role?.authorizedDate && role.iamAssumedRoleArn === iamRoleArn) {
    recorded.authorizedAt ??= role.authorizedDate;
    recorded.iamAssumedRoleArn = iamRoleArn;
    return done('unchanged', `authorized for ${iamRoleArn} since ${role.authorizedDate}`);
  }
  if (input.dryRun)
    return done('planned', `would authorize roleId ${recorded.roleId} for ${iamRoleArn}`);
  const { access, errors } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const started = Date.now();
  let attempts = 0;
  let lastCode = '';
  const authorized = await waitFor(
    async () => {
      if (stop.because) throw new StepStopped(stop.because);
      attempts += 1;
      try {
        return await access.authorizeAccessRole(
          atlas,
          input.projectId,
          recorded.roleId,
          iamRoleArn,
        );
      } catch (error) {
        if (errors.isAtlasApiError(error) && PROPAGATION_ERROR_CODES.has(error.errorCode)) {
          lastCode = error.errorCode;
          progress(
            `waiting for IAM to propagate the role (${lastCode}, attempt ${attempts}, ${formatDuration(Date.now() - started)})`,
          );
          return undefined;
        }
        throw error;
      }
    },
    {
      what: 'Atlas to be able to assume the IAM role',
      timeoutMs: input.timeouts.authorizeMs,
      minMs: 500,
      maxMs: 10_000,
      timeoutHint: `Atlas still answered ${lastCode || 'CANNOT_ASSUME_ROLE'}. IAM changes can take a few minutes to propagate: rerun setup to continue. If it keeps failing, check that role ${iamRoleArn} trusts ${recorded.atlasAWSAccountArn} with external ID ${recorded.externalId}, or raise --authorize-timeout.`,
    },
  ).catch((error: unknown) => {
    if (error instanceof CliError && error.code === 'WAIT_TIMEOUT') {
      throw new CliError(
        `Atlas could not assume ${iamRoleArn} (${lastCode || 'CANNOT_ASSUME_ROLE'}) within ${input.timeouts.authorizeMs < 1000 ? `${input.timeouts.authorizeMs} ms` : formatDuration(input.timeouts.authorizeMs)}.`,
        {
          code: 'CANNOT_ASSUME_ROLE',
          exitCode: ExitCode.timeout,
          hint: error.hint,
        },
      );
    }
    throw error;
  });
  recorded.authorizedAt = authorized.authorizedDate ?? new Date().toISOString();
  recorded.iamAssumedRoleArn = iamRoleArn;
  ctx.forget(`atlasRole:${recorded.roleId}`);
  return done(
    'done',
    `Atlas can assume ${iamRoleArn}${attempts > 1 ? ` (after ${attempts} attempts, ${formatDuration(Date.now() - started)})` : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------
// 5. Bucket policy

async function bucketPolicy(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const roleArn = state.resources.iamRole?.arn;
  if (!roleArn || !state.resources.bucket)
    return done(
      'planned',
      'would add a TLS-only deny and an allow for the role to the bucket policy',
    );
  const { s3, policies } = await awsApi();
  const current = await readBucketPolicy(ctx);
  // Checked again: another setup may have added its statements since preflight.
  await assertBucketPolicyFree(ctx, current, roleArn, false);
  const ours = policies.bucketPolicyStatements({
    bucket: input.bucket.name,
    partition: ctx.facts.partition,
    roleArn,
  });
  // A statement under one of our Sids is this setup's when it recorded it, or when it names this
  // setup's role; any other (a TLS deny someone else put there) is left as it is, and not recorded.
  const recordedSids = state.resources.bucketPolicy?.statementSids ?? [];
  const isOurs = (statement: PolicyStatement) =>
    recordedSids.includes(statement.Sid ?? '') ||
    policies.awsPrincipalsOf(statement).includes(roleArn);
  const merged = policies.mergeBucketPolicy(current, ours, isOurs);
  const present = policies.statementsOf(current);
  const sids = ours
    .map((statement) => statement.Sid!)
    .filter((sid) => {
      const there = present.find((statement) => statement.Sid === sid);
      return !there || isOurs(there) || merged.added.includes(sid);
    });
  const createdPolicy = state.resources.bucketPolicy?.createdPolicy ?? current === undefined;
  const notOurs = ours.length - sids.length;
  const keptNote =
    notOurs > 0 ? ` (${notOurs} of them already there, not added by this setup)` : '';
  if (merged.left.length > 0) {
    ctx.out.warn(
      `The bucket policy of ${input.bucket.name} holds ${merged.left.join(', ')}, which this setup did not add and which differs from atlas-pl-export's; it is left as it is.`,
    );
  }
  const { publicGrantFindings } = await import('../report/policy-checks.js');
  const publicGrants = publicGrantFindings(current);
  if (publicGrants.length > 0) {
    ctx.out.warn(
      `The bucket policy of ${input.bucket.name} lets anyone in: ${publicGrants.join('; ')}. Setup leaves statements it did not add as they are; remove ${publicGrants.length === 1 ? 'it' : 'them'} for exports that only the bucket owner and Atlas can reach (status and report flag this too).`,
    );
  }
  if (!merged.changed) {
    state.resources.bucketPolicy = { statementSids: sids, createdPolicy };
    return done(
      'unchanged',
      `TLS-only deny and role allow in place${keptNote} (${counted(present.length, 'statement')} on the bucket)`,
    );
  }
  const changes = [
    ...(merged.added.length ? [`added ${merged.added.join(', ')}`] : []),
    ...(merged.replaced.length ? [`repaired ${merged.replaced.join(', ')}`] : []),
  ].join('; ');
  if (input.dryRun) return done('planned', `would have ${changes}, keeping the other statements`);
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  // Recorded before the write, so a run killed after S3 applied it still knows which statements are its own.
  const before = state.resources.bucketPolicy;
  state.resources.bucketPolicy = { statementSids: sids, createdPolicy };
  await ctx.save();
  try {
    await putPolicyThroughPropagation(ctx, () =>
      s3.putBucketPolicy(aws, input.bucket.name, merged.document),
    );
  } catch (error) {
    // Refused by S3 (an answer, not a lost connection): nothing was written.
    const { awsHttpStatus } = await import('../aws/errors.js');
    const status = awsHttpStatus(error instanceof CliError ? error.cause : error) ?? 0;
    if (status >= 400 && status < 500) {
      if (before) state.resources.bucketPolicy = before;
      else delete state.resources.bucketPolicy;
    }
    throw error;
  }
  ctx.forget('bucketPolicy');
  await assertPolicyWritten(ctx, ours, roleArn);
  const kept = policies.statementsOf(merged.document).length - ours.length + notOurs;
  return done(
    'updated',
    `${changes}${kept > 0 ? `; kept ${counted(kept, 'other statement')}` : ''}`,
  );
}

/**
 * S3 has no conditional write for a bucket policy: another setup that read the policy before this
 * one wrote it, and writes after, replaces it whole. The policy is read back once after the write;
 * when this setup's statements are no longer there, the run stops instead of claiming them, and the
 * state file records no statement of that policy (teardown would otherwise remove the other's).
 */
async function assertPolicyWritten(
  ctx: SetupContext,
  ours: PolicyStatement[],
  roleArn: string,
): Promise<void> {
  const { policies } = await awsApi();
  const after = policies.statementsOf(await readBucketPolicy(ctx));
  const missing = ours.filter(
    (statement) =>
      !after.some(
        (there) =>
          there.Sid === statement.Sid &&
          (statement.Effect === 'Deny' || policies.awsPrincipalsOf(there).includes(roleArn)),
      ),
  );
  if (missing.length === 0) return;
  const others = [
    ...new Set(
      after
        .filter((there) => there.Sid?.startsWith('AtlasPlExport'))
        .flatMap((there) => policies.awsPrincipalsOf(there))
        .filter((principal) => principal !== roleArn),
    ),
  ];
  // The policy there now is the other writer's, its TLS deny included: none of it is this setup's.
  delete ctx.state.resources.bucketPolicy;
  await ctx.save();
  throw new CliError(
    `The bucket policy of ${ctx.input.bucket.name} was replaced while this setup wrote it: ${missing.map((statement) => statement.Sid).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not there any more${others.length ? `, and the atlas-pl-export statements there now allow ${others.join(', ')}` : ''}. Another setup (or someone else) wrote the policy at the same time.`,
    {
      code: 'BUCKET_POLICY_CONFLICT',
      exitCode: ExitCode.cloud,
      hint: others.length
        ? `Each setup needs a bucket of its own: give this one another --bucket (the setup of ${others[0]} keeps ${ctx.input.bucket.name}).`
        : 'Rerun setup once the other writer is done; it puts the statements back.',
    },
  );
}

/**
 * S3 refuses a bucket policy naming a role it cannot see yet ("Invalid principal in policy") for a
 * short while after the role is created; retry that one error, by its code, within the authorize budget.
 */
async function putPolicyThroughPropagation(
  ctx: SetupContext,
  put: () => Promise<void>,
): Promise<void> {
  const invalidPrincipal = (error: unknown) =>
    error instanceof CliError &&
    error.code === 'AWS_MALFORMEDPOLICY' &&
    /principal/i.test(error.message);
  let last: unknown;
  await waitFor(
    async () => {
      try {
        await put();
        return true;
      } catch (error) {
        if (!invalidPrincipal(error)) throw error;
        last = error;
        return undefined;
      }
    },
    {
      what: 'S3 to accept the new IAM role in the bucket policy',
      timeoutMs: ctx.input.timeouts.authorizeMs,
      minMs: 1000,
      maxMs: 10_000,
    },
  ).catch((error: unknown) => {
    throw last ?? error;
  });
}

// ---------------------------------------------------------------------------------------------
// 6. Private endpoint

async function endpoint(ctx: SetupContext): Promise<StepResult> {
  const { state, input, facts } = ctx;
  const { endpoints, errors } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const recorded = state.resources.privateEndpoint;
  if (recorded) {
    const found = await ctx.memo(`endpoint:${recorded.id}`, () =>
      endpoints.getPrivateEndpoint(atlas, input.projectId, recorded.id).catch((error: unknown) => {
        if (errors.isAtlasApiError(error) && error.status === 404) return undefined;
        throw error;
      }),
    );
    if (found && found.status !== 'DELETING' && found.status !== 'FAILED') {
      recorded.status = found.status;
      return done('unchanged', `${recorded.id} in ${recorded.regionName} (${found.status})`);
    }
    ctx.out.warn(
      `The private endpoint ${recorded.id} recorded in the state file is ${found ? found.status : 'gone'}; creating a new one.`,
    );
    delete state.resources.privateEndpoint;
  }
  const regionName = facts.bucketRegionAtlas!;
  const vpcRegionName =
    facts.clusterRegion && facts.clusterRegion !== regionName ? facts.clusterRegion : undefined;
  const existing = liveEndpointFor(await listEndpointsOnce(ctx), regionName);
  if (existing && input.dryRun)
    return done(
      'planned',
      `would use the existing ${existing.id} in ${regionName} (${existing.status})`,
    );
  if (existing)
    return adoptEndpoint(ctx, existing, pendingSince(ctx, 'endpoint') ? 'created' : 'adopted');
  if (input.dryRun)
    return done(
      'planned',
      `would create an object-storage private endpoint for ${regionName}${vpcRegionName ? ` from ${vpcRegionName}` : ''}`,
    );
  await markPending(ctx, 'endpoint');
  let created: PrivateEndpoint;
  try {
    created = await endpoints.createPrivateEndpoint(atlas, input.projectId, {
      regionName,
      vpcRegionName,
    });
  } catch (error) {
    // Another setup of the project created the region's endpoint since the list: Atlas allows one
    // per region, so that one is this setup's endpoint too.
    if (!errors.isAtlasApiError(error, 'PRIVATE_ENDPOINT_ALREADY_EXISTS_FOR_REGION')) throw error;
    ctx.forget('privateEndpoints');
    const theirs = liveEndpointFor(await listEndpointsOnce(ctx), regionName);
    if (!theirs) throw error;
    return adoptEndpoint(ctx, theirs, 'adopted');
  }
  state.resources.privateEndpoint = {
    id: created.id,
    regionName,
    vpcRegionName: created.vpcRegionName,
    origin: 'created',
    status: created.status,
  };
  clearPending(ctx, 'endpoint');
  ctx.memo(`endpoint:${created.id}`, async () => created);
  return done(
    'created',
    `${created.id} for ${regionName}${vpcRegionName ? ` (VPC endpoint in ${vpcRegionName})` : ''}, ${created.status}`,
  );
}

function adoptEndpoint(
  ctx: SetupContext,
  existing: PrivateEndpoint,
  origin: 'created' | 'adopted',
): StepResult {
  assertEndpointServes(ctx, existing);
  const regionName = ctx.facts.bucketRegionAtlas!;
  ctx.state.resources.privateEndpoint = {
    id: existing.id,
    regionName,
    vpcRegionName: existing.vpcRegionName,
    origin,
    status: existing.status,
  };
  clearPending(ctx, 'endpoint');
  ctx.memo(`endpoint:${existing.id}`, async () => existing);
  return done(
    origin === 'created' ? 'created' : 'adopted',
    `${existing.id} in ${regionName} (${existing.status})`,
  );
}

async function endpointActive(
  ctx: SetupContext,
  progress: (text: string) => void,
  stop: StopSignal,
): Promise<StepResult> {
  const { state, input } = ctx;
  const recorded = state.resources.privateEndpoint;
  if (!recorded) return done('planned', 'would wait for the private endpoint to become ACTIVE');
  if (recorded.status === 'ACTIVE') return done('unchanged', `${recorded.id} is ACTIVE`);
  const { endpoints } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const waitStarted = Date.now();
  let first = true;
  const active = await waitFor(
    async () => {
      if (stop.because) throw new StepStopped(stop.because);
      // The first poll reuses the read the endpoint step already made.
      const current = first
        ? await ctx.memo(`endpoint:${recorded.id}`, () =>
            endpoints.getPrivateEndpoint(atlas, input.projectId, recorded.id),
          )
        : await endpoints.getPrivateEndpoint(atlas, input.projectId, recorded.id);
      first = false;
      if (!current) return undefined;
      recorded.status = current.status;
      if (current.status === 'ACTIVE') return current;
      if (current.status === 'FAILED' || current.status === 'DELETING') {
        throw new CliError(
          `The private endpoint ${recorded.id} is ${current.status}: ${current.errorMessage ?? 'Atlas gave no reason'}.`,
          {
            code: 'PRIVATE_ENDPOINT_FAILED',
            exitCode: ExitCode.cloud,
            hint: 'Check the region supports object-storage private endpoints; rerun setup to create a new endpoint, or contact MongoDB support with the endpoint id.',
          },
        );
      }
      progress(`${current.status}`);
      return undefined;
    },
    {
      what: `private endpoint ${recorded.id} to become ACTIVE`,
      timeoutMs: input.timeouts.endpointMs,
      minMs: 250,
      maxMs: 15_000,
      onPoll: (elapsed) => progress(`${recorded.status ?? 'waiting'} (${formatDuration(elapsed)})`),
      timeoutHint:
        'Provisioning can take several minutes. Rerun setup to keep waiting (nothing is created twice), or raise --endpoint-timeout.',
    },
  );
  return done(
    'done',
    `${active.id} became ACTIVE (after ${formatDuration(Date.now() - waitStarted)})`,
  );
}

// ---------------------------------------------------------------------------------------------
// 7. Export bucket

async function exportBucket(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const role = state.resources.atlasRole;
  if (!role || (input.dryRun && !state.resources.exportBucket)) {
    const existing = ctx.facts.found.exportBucket;
    return done(
      'planned',
      existing
        ? `would adopt export bucket ${existing._id}${existing.requirePrivateNetworking === true ? '' : ' and set requirePrivateNetworking: true'}`
        : `would create an export bucket for ${input.bucket.name} with requirePrivateNetworking: true`,
    );
  }
  const { exportBuckets, errors } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const recorded = state.resources.exportBucket;
  let current = recorded
    ? await exportBuckets
        .getExportBucket(atlas, input.projectId, recorded.id)
        .catch((error: unknown) => {
          if (errors.isAtlasApiError(error) && error.status === 404) return undefined;
          throw error;
        })
    : undefined;
  let origin = recorded?.origin;
  if (!current) {
    if (recorded) {
      ctx.out.warn(
        `The export bucket ${recorded.id} recorded in the state file no longer exists in Atlas; creating a new one.`,
      );
      delete state.resources.exportBucket;
    }
    current = exportBucketFor(ctx, await listExportBucketsOnce(ctx));
    origin = current && !pendingSince(ctx, 'exportBucket') ? 'adopted' : 'created';
    if (current) checkExportBucketRole(ctx, current, false);
  }
  if (!current) {
    if (input.dryRun)
      return done('planned', `would create the export bucket for ${input.bucket.name}`);
    await markPending(ctx, 'exportBucket');
    current = await exportBuckets.createExportBucket(atlas, input.projectId, {
      bucketName: input.bucket.name,
      iamRoleId: role.roleId,
      requirePrivateNetworking: true,
    });
    state.resources.exportBucket = { id: current._id, origin: 'created' };
    clearPending(ctx, 'exportBucket');
    return done(
      'created',
      `${current._id} → s3://${input.bucket.name}, requirePrivateNetworking: true`,
    );
  }
  // The record keeps that this tool patched the bucket (teardown and report use it); the summary
  // says so only on the run that made the change.
  let patchedNow = false;
  if (current.requirePrivateNetworking !== true) {
    if (input.dryRun)
      return done('planned', `would set requirePrivateNetworking: true on ${current._id}`);
    current = await exportBuckets.updatePrivateNetworking(
      atlas,
      input.projectId,
      current._id,
      true,
    );
    patchedNow = true;
  }
  const patched = patchedNow || state.resources.exportBucket?.patchedPrivateNetworking;
  state.resources.exportBucket = {
    id: current._id,
    origin: origin ?? 'adopted',
    ...(patched ? { patchedPrivateNetworking: true } : {}),
  };
  clearPending(ctx, 'exportBucket');
  const how = recorded ? 'unchanged' : origin === 'created' ? 'created' : 'adopted';
  return done(
    patchedNow ? 'updated' : how,
    `${current._id} → s3://${input.bucket.name}, requirePrivateNetworking: true${patchedNow ? ' (patched from false)' : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------
// 9. Export now

/** How setup's own options ask for a snapshot, for the hints of a snapshot that cannot be exported. */
const SETUP_SNAPSHOT_ASK = {
  latest: '--export-now latest',
  list: "the cluster's Backup page in Atlas",
};

/**
 * A snapshot named by --export-now is checked (exists, completed, not a fallback) before any write,
 * so that a wrong id does not wait for the whole runbook to fail at its last step. A rerun whose
 * export of it already started or finished has nothing to check.
 */
async function checkSnapshotToExport(ctx: SetupContext): Promise<void> {
  const request = ctx.input.exportNow;
  if (!request || request === 'latest' || ctx.input.dryRun) return;
  const started = ctx.state.exports.some(
    (job) => job.snapshotId === request && job.state !== 'Failed' && job.state !== 'Cancelled',
  );
  if (started) return;
  const { chooseSnapshot } = await import('../exporting.js');
  await chooseSnapshot(
    {
      session: ctx.session,
      projectId: ctx.input.projectId,
      clusterName: ctx.input.clusterName,
      state: ctx.state,
      ask: SETUP_SNAPSHOT_ASK,
    },
    request,
  );
}

async function exportNow(ctx: SetupContext, progress: (text: string) => void): Promise<StepResult> {
  const { state, input } = ctx;
  const exporting = await import('../exporting.js');
  const request = input.exportNow!;
  const env = {
    session: ctx.session,
    out: ctx.out,
    projectId: input.projectId,
    clusterName: input.clusterName,
    exportBucketId: state.resources.exportBucket?.id ?? '',
    bucketName: input.bucket.name,
    bucketRegion: ctx.facts.bucketRegion,
    state,
    save: () => ctx.save(),
    ask: SETUP_SNAPSHOT_ASK,
  };
  if (input.dryRun) {
    // The same checks as the export command (exists, completed, not a fallback), with one read.
    const snapshot = await exporting.chooseSnapshot(env, request);
    return done(
      'planned',
      `would export snapshot ${snapshot.id}${snapshot.createdAt ? ` (taken ${snapshot.createdAt})` : ''} and wait for it`,
    );
  }
  // Resume: a job this tool started for the same request and has not seen finish.
  const previous = [...state.exports]
    .reverse()
    .find((job) => request === 'latest' || job.snapshotId === request);
  if (previous && previous.state === 'Successful' && previous.filesVerified) {
    return done('unchanged', `job ${previous.id} already exported snapshot ${previous.snapshotId}`);
  }
  const resume = previous && previous.state !== 'Failed' && previous.state !== 'Cancelled';
  const result = await exporting.runExport(env, {
    snapshot: resume ? undefined : request,
    resumeJobId: resume ? previous.id : undefined,
    timeoutMs: input.timeouts.exportMs,
    progress,
    // This step runs only after this run's export-bucket step read or set requirePrivateNetworking: true.
    privateNetworking: true,
  });
  return done('done', result.summary);
}

// ---------------------------------------------------------------------------------------------
// 8. Auto-export schedule

async function schedule(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const bucketId = state.resources.exportBucket?.id;
  const frequency = input.schedule!;
  if (!bucketId) return done('planned', `would turn on ${frequency} auto-export`);
  const { schedule: api } = await atlasApi();
  const atlas = await ctx.session.atlas();
  // Preflight's read (and its check that auto-export goes nowhere else), unless the run was resumed here.
  if (!ctx.facts.schedule) await checkSchedule(ctx, undefined, false);
  const current = await readScheduleOnce(ctx);
  ctx.forget('schedule');
  if (ctx.facts.scheduleWarning) ctx.out.warn(`Auto-export: ${ctx.facts.scheduleWarning}.`);
  if (
    current.autoExportEnabled &&
    current.export?.exportBucketId === bucketId &&
    current.export.frequencyType === frequency
  ) {
    state.resources.schedule ??= { frequency, origin: 'adopted' };
    return done('unchanged', `${frequency} auto-export to ${bucketId} is on`);
  }
  if (input.dryRun)
    return done(
      'planned',
      `would turn on ${frequency} auto-export to ${bucketId}, keeping every snapshot policy`,
    );
  const previous = {
    autoExportEnabled: current.autoExportEnabled ?? false,
    ...(current.export?.exportBucketId ? { exportBucketId: current.export.exportBucketId } : {}),
    ...(current.export?.frequencyType ? { frequencyType: current.export.frequencyType } : {}),
  };
  // Recorded before the PATCH, so a run killed after Atlas applied it still knows this tool turned
  // auto-export on (origin 'created') and what was there before; a rerun PATCHes again if it did not apply.
  const recorded = state.resources.schedule;
  state.resources.schedule = { frequency, previous, origin: 'created' };
  await ctx.save();
  const updated = await api
    .updateSchedule(
      atlas,
      input.projectId,
      input.clusterName,
      api.withAutoExport(current, {
        enabled: true,
        exportBucketId: bucketId,
        frequencyType: frequency,
      }),
    )
    .catch(async (error: unknown) => {
      // Atlas answered and refused (4xx): nothing changed, so the record goes back to what it was.
      const { errors } = await atlasApi();
      if (errors.isAtlasApiError(error) && error.status >= 400 && error.status < 500) {
        if (recorded) state.resources.schedule = recorded;
        else delete state.resources.schedule;
      }
      throw error;
    });
  const changed = api.comparePolicies(current.policies, updated.policies);
  if (changed.length > 0) {
    ctx.out.warn(
      `Atlas changed the snapshot policies while turning on auto-export: ${changed.join('; ')}. Review them with \`atlas-pl-export schedule\`.`,
    );
  }
  state.resources.schedule = { frequency, previous, origin: 'created' };
  return done('updated', `${frequency} auto-export to ${bucketId}; snapshot policies unchanged`);
}

/** How a rerun names a resource recorded by an earlier run: who made it, and that it was earlier. */
function earlier(origin: 'created' | 'adopted'): string {
  return origin === 'created' ? 'created by an earlier run' : 'adopted by an earlier run';
}
