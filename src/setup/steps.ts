/**
 * The setup runbook as steps. Each step discovers what exists (the state file first, then the
 * clouds), creates or adopts, verifies, and records its result before any dependent step starts.
 *
 *   preflight ─┬─ bucket ───────────────┬─ bucketPolicy ─┐
 *              ├─ atlasRole ─ iamRole ──┴─ authorize ────┼─ exportBucket ─┬─ exportNow
 *              └─ endpoint ─ endpointActive ─────────────┘                └─ schedule
 *
 * The private endpoint starts as soon as the region is known and provisions while the AWS steps run.
 */
import { CliError, ExitCode } from '../errors.js';
import type { Step, StepResult } from './runner.js';
import { clearPending, markPending, pendingSince, type SetupContext } from './context.js';
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
  ]).then(([projects, clusters, access, endpoints, exportBuckets, schedule, errors]) => ({
    projects,
    clusters,
    access,
    endpoints,
    exportBuckets,
    schedule,
    errors,
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
      run: (p) => authorize(ctx, p),
    },
    {
      id: 'bucketPolicy',
      title: 'Bucket policy',
      needs: ['bucket', 'iamRole'],
      run: () => bucketPolicy(ctx),
    },
    {
      id: 'endpointActive',
      title: 'Private endpoint ACTIVE',
      needs: ['endpoint'],
      run: (p) => endpointActive(ctx, p),
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
// 0. Preflight

async function preflight(ctx: SetupContext, progress: (text: string) => void): Promise<StepResult> {
  const { state, input, facts } = ctx;
  const { toAtlasRegion, toAwsRegion } = await regionsApi();
  if (state.completedSteps.includes('preflight') && state.atlas.clusterRegion) {
    // A rerun: the recorded facts stand; every later step verifies its own resource.
    facts.clusterRegion = state.atlas.clusterRegion;
    facts.bucketRegion = state.aws.region;
    facts.bucketRegionAtlas = toAtlasRegion(state.aws.region);
    facts.partition = partitionOf(state.resources.iamRole?.arn) ?? facts.partition;
    return done(
      'unchanged',
      `checked before; project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}`,
    );
  }
  progress('checking Atlas credentials, project and cluster, and AWS credentials');
  // The Atlas reads go out first; the AWS SDK, whose loading keeps the thread busy for a few hundred
  // milliseconds, is loaded while they are on the wire. The private endpoint (the longest wait)
  // starts right after this step.
  const [atlas, api] = await Promise.all([ctx.session.atlas(), atlasApi(), import('urllib')]);
  const atlasReads = Promise.all([
    api,
    api.projects.getProject(atlas, input.projectId),
    api.clusters.getCluster(atlas, input.projectId, input.clusterName),
  ]);
  await new Promise((resolve) => setImmediate(resolve));
  const awsIdentity = Promise.all([
    import('../aws/sts.js'),
    ctx.session.aws(input.bucket.region),
  ]).then(([sts, aws]) => sts.getCallerIdentity(aws));
  const [[, project, cluster], identity] = await Promise.all([atlasReads, awsIdentity]);
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
  const crossRegion = facts.bucketRegionAtlas !== facts.clusterRegion;
  return done(
    'done',
    `project "${project.name}", cluster ${input.clusterName} (${facts.clusterRegion}), AWS account ${identity.account}` +
      (crossRegion ? `; bucket in ${bucketRegion} (cross-region endpoint)` : ''),
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
      return done('unchanged', `${name} (${recorded.origin}) in ${recorded.region}`);
    if (!gone) {
      const desired = {
        name,
        region,
        encryption: input.bucket.encryption,
        kmsKeyArn: input.bucket.kmsKeyArn,
      };
      if (input.dryRun)
        return done(
          'planned',
          `would check ${name}'s Block Public Access and encryption and turn on what is off`,
        );
      const changes: string[] = await s3.hardenBucket(aws, name, desired);
      return changes.length > 0
        ? done('updated', `${name}: turned back on ${changes.join(', ')}`)
        : done(
            'unchanged',
            `${name} (${recorded.origin}) in ${recorded.region}; Block Public Access and encryption in place`,
          );
    }
    ctx.out.warn(
      `The bucket ${name} recorded in the state file no longer exists; creating it again.`,
    );
    ctx.forget('bucketPolicy');
    delete state.resources.bucket;
    delete state.resources.bucketPolicy;
  }
  const found = await s3.inspectBucket(aws, name, state.aws.accountId);
  const desired = {
    name,
    region,
    encryption: input.bucket.encryption,
    kmsKeyArn: input.bucket.kmsKeyArn,
  };
  if (!found.exists) {
    if (input.dryRun)
      return done(
        'planned',
        `would create ${name} in ${region} (${describeEncryption(input)}, Block Public Access on)`,
      );
    await markPending(ctx, 'bucket');
    await s3.createPrivateBucket(aws, desired);
    state.resources.bucket = { ...desired, origin: 'created' };
    clearPending(ctx, 'bucket');
    return done(
      'created',
      `${name} in ${region}, ${describeEncryption(input)}, all Block Public Access settings on`,
    );
  }
  if (!found.owned) {
    throw new CliError(
      `The bucket ${name} exists but does not belong to AWS account ${state.aws.accountId}.`,
      {
        code: 'BUCKET_NOT_OWNED',
        exitCode: ExitCode.cloud,
        hint: 'Bucket names are global: choose another name (--bucket).',
      },
    );
  }
  if (found.region !== region) {
    throw new CliError(`The bucket ${name} is in ${found.region}, not in ${region} as expected.`, {
      code: 'BUCKET_WRONG_REGION',
      exitCode: ExitCode.usage,
      hint: `Pass --region ${found.region} to use it there, or choose another bucket name.`,
    });
  }
  const origin = pendingSince(ctx, 'bucket') ? 'created' : 'adopted';
  if (input.dryRun)
    return done(
      'planned',
      `would adopt ${name} and turn on what is missing of Block Public Access and encryption`,
    );
  const changes: string[] = await s3.hardenBucket(aws, name, desired);
  state.resources.bucket = { ...desired, origin };
  clearPending(ctx, 'bucket');
  return done(
    origin === 'created' ? 'created' : 'adopted',
    `${name} in ${region}${changes.length ? `; turned on: ${changes.join(', ')}` : ''}`,
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
    if (role) return done('unchanged', `roleId ${recorded.roleId} (${recorded.origin})`);
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
  let role = since ? await findRoleCreatedSince(ctx, since) : undefined;
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

async function findRoleCreatedSince(ctx: SetupContext, since: Date) {
  const { access } = await atlasApi();
  const roles = await access.listAccessRoles(await ctx.session.atlas(), ctx.input.projectId);
  const skewMs = 5 * 60_000;
  return roles
    .filter((role) => !role.authorizedDate && (role.featureUsages ?? []).length === 0)
    .filter((role) => role.createdDate && Date.parse(role.createdDate) >= since.getTime() - skewMs)
    .sort((a, b) => Date.parse(b.createdDate ?? '') - Date.parse(a.createdDate ?? ''))[0];
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
  const existing = await iam.getRole(aws, name);
  if (!existing) {
    if (input.dryRun || !trust)
      return done(
        'planned',
        `would create IAM role ${name} trusting only Atlas's AWS account, with a least-privilege S3 policy`,
      );
    await markPending(ctx, 'iamRole');
    const created = await iam.createRole(aws, {
      name,
      trustPolicy: trust,
      description: `Lets MongoDB Atlas write snapshot exports to s3://${input.bucket.name} (managed by atlas-pl-export)`,
      tags: { 'managed-by': 'atlas-pl-export', 'atlas-project-id': input.projectId },
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
  const origin = ours
    ? state.resources.iamRole!.origin
    : pendingSince(ctx, 'iamRole')
      ? 'created'
      : 'adopted';
  if (
    !ours &&
    origin === 'adopted' &&
    trust &&
    !policies.policiesEquivalent(existing.trustPolicy, trust)
  ) {
    // Rewriting its trust policy would cut off whatever uses it now (another setup, another Atlas project).
    throw new CliError(
      `The IAM role ${name} already exists and trusts someone else than this setup's Atlas access role (external ID ${role?.externalId}).`,
      {
        code: 'IAM_ROLE_IN_USE',
        exitCode: ExitCode.usage,
        hint: 'Choose another name with --iam-role-name (or "iamRoleName" in the config file); atlas-pl-export does not take over a role that another setup may depend on.',
      },
    );
  }
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

async function authorize(ctx: SetupContext, progress: (text: string) => void): Promise<StepResult> {
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
        `Atlas could not assume ${iamRoleArn} (${lastCode || 'CANNOT_ASSUME_ROLE'}) within ${formatDuration(input.timeouts.authorizeMs)}.`,
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
  const ours = policies.bucketPolicyStatements({
    bucket: input.bucket.name,
    partition: ctx.facts.partition,
    roleArn,
  });
  const merged = policies.mergeBucketPolicy(current, ours);
  const sids = ours
    .map((statement) => statement.Sid)
    .filter((sid): sid is string => typeof sid === 'string');
  const createdPolicy = state.resources.bucketPolicy?.createdPolicy ?? current === undefined;
  if (!merged.changed) {
    state.resources.bucketPolicy = { statementSids: sids, createdPolicy };
    return done(
      'unchanged',
      `TLS-only deny and role allow in place (${policies.statementsOf(current).length} statement(s) on the bucket)`,
    );
  }
  if (input.dryRun)
    return done('planned', `would add or repair statements ${sids.join(', ')}, keeping the others`);
  const aws = await ctx.session.aws(ctx.facts.bucketRegion);
  await putPolicyThroughPropagation(ctx, () =>
    s3.putBucketPolicy(aws, input.bucket.name, merged.document),
  );
  ctx.forget('bucketPolicy');
  state.resources.bucketPolicy = { statementSids: sids, createdPolicy };
  const kept = policies.statementsOf(merged.document).length - ours.length;
  return done(
    'updated',
    `added ${sids.join(', ')}${kept > 0 ? `; kept ${kept} existing statement(s)` : ''}`,
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
  const existing = (await endpoints.listPrivateEndpoints(atlas, input.projectId)).find(
    (item) =>
      item.regionName === regionName && item.status !== 'DELETING' && item.status !== 'FAILED',
  );
  if (existing) {
    const origin = pendingSince(ctx, 'endpoint') ? 'created' : 'adopted';
    state.resources.privateEndpoint = {
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
  if (input.dryRun)
    return done(
      'planned',
      `would create an object-storage private endpoint for ${regionName}${vpcRegionName ? ` from ${vpcRegionName}` : ''}`,
    );
  await markPending(ctx, 'endpoint');
  const created = await endpoints.createPrivateEndpoint(atlas, input.projectId, {
    regionName,
    vpcRegionName,
  });
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

async function endpointActive(
  ctx: SetupContext,
  progress: (text: string) => void,
): Promise<StepResult> {
  const { state, input } = ctx;
  const recorded = state.resources.privateEndpoint;
  if (!recorded) return done('planned', 'would wait for the private endpoint to become ACTIVE');
  if (recorded.status === 'ACTIVE') return done('unchanged', `${recorded.id} is ACTIVE`);
  const { endpoints } = await atlasApi();
  const atlas = await ctx.session.atlas();
  let first = true;
  const active = await waitFor(
    async () => {
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
  return done('done', `${active.id} is ACTIVE`);
}

// ---------------------------------------------------------------------------------------------
// 7. Export bucket

async function exportBucket(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const role = state.resources.atlasRole;
  if (!role || (input.dryRun && !state.resources.exportBucket)) {
    return done(
      'planned',
      `would create an export bucket for ${input.bucket.name} with requirePrivateNetworking: true`,
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
    current = (await exportBuckets.listExportBuckets(atlas, input.projectId)).find(
      (item) => item.bucketName === input.bucket.name && item.cloudProvider === 'AWS',
    );
    origin = current && !pendingSince(ctx, 'exportBucket') ? 'adopted' : 'created';
    if (current && current.iamRoleId !== role.roleId) {
      throw new CliError(
        `Atlas already has export bucket ${current._id} for ${input.bucket.name}, using another access role (${current.iamRoleId}).`,
        {
          code: 'EXPORT_BUCKET_OTHER_ROLE',
          exitCode: ExitCode.cloud,
          hint: 'Remove that export bucket in Atlas (after turning off any auto-export that uses it), or use another S3 bucket.',
        },
      );
    }
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
  let patched = state.resources.exportBucket?.patchedPrivateNetworking;
  if (current.requirePrivateNetworking !== true) {
    if (input.dryRun)
      return done('planned', `would set requirePrivateNetworking: true on ${current._id}`);
    current = await exportBuckets.updatePrivateNetworking(
      atlas,
      input.projectId,
      current._id,
      true,
    );
    patched = true;
  }
  state.resources.exportBucket = {
    id: current._id,
    origin: origin ?? 'adopted',
    ...(patched ? { patchedPrivateNetworking: true } : {}),
  };
  clearPending(ctx, 'exportBucket');
  const how = recorded ? 'unchanged' : origin === 'created' ? 'created' : 'adopted';
  return done(
    patched && !recorded?.patchedPrivateNetworking ? 'updated' : how,
    `${current._id} → s3://${input.bucket.name}, requirePrivateNetworking: true${patched ? ' (patched from false)' : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------
// 8. Export now

async function exportNow(ctx: SetupContext, progress: (text: string) => void): Promise<StepResult> {
  const { state, input } = ctx;
  if (input.dryRun)
    return done('planned', `would export snapshot ${input.exportNow} and wait for it`);
  const exporting = await import('../exporting.js');
  const bucketId = state.resources.exportBucket!.id;
  const request = input.exportNow!;
  // Resume: a job this tool started for the same request and has not seen finish.
  const previous = [...state.exports]
    .reverse()
    .find((job) => request === 'latest' || job.snapshotId === request);
  if (previous && previous.state === 'Successful' && previous.filesVerified) {
    return done('unchanged', `job ${previous.id} already exported snapshot ${previous.snapshotId}`);
  }
  const result = await exporting.runExport(
    {
      session: ctx.session,
      out: ctx.out,
      projectId: input.projectId,
      clusterName: input.clusterName,
      exportBucketId: bucketId,
      bucketName: input.bucket.name,
      bucketRegion: ctx.facts.bucketRegion,
      state,
      save: () => ctx.save(),
    },
    {
      snapshot:
        previous && previous.state !== 'Failed' && previous.state !== 'Cancelled'
          ? undefined
          : request,
      resumeJobId:
        previous && previous.state !== 'Failed' && previous.state !== 'Cancelled'
          ? previous.id
          : undefined,
      timeoutMs: input.timeouts.exportMs,
      progress,
    },
  );
  return done('done', result.summary);
}

// ---------------------------------------------------------------------------------------------
// 9. Auto-export schedule

async function schedule(ctx: SetupContext): Promise<StepResult> {
  const { state, input } = ctx;
  const bucketId = state.resources.exportBucket?.id;
  const frequency = input.schedule!;
  if (!bucketId) return done('planned', `would turn on ${frequency} auto-export`);
  const { schedule: api } = await atlasApi();
  const atlas = await ctx.session.atlas();
  const current = await api.getSchedule(atlas, input.projectId, input.clusterName);
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
