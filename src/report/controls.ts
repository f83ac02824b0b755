/**
 * The report's controls: each judges live observations (see observe.ts) and yields one row with its
 * status, the observed value, the findings, and the calls that observed it. Pure: no cloud calls.
 */
import { vpcRegionOf } from '../atlas/privateEndpoints.js';
import type { ExportBucket } from '../atlas/types.js';
import { ExitCode } from '../errors.js';
import { counted } from '../output.js';
import { toAtlasRegion } from '../regions.js';
import type { Control, Evidence, ExportJobEvidence } from './schema.js';
import type { Facts, Observation, Subject } from './observe.js';
import { BUCKET_POLICY_SIDS, statementsOf, type PolicyDocument } from '../aws/policies.js';
import {
  findTlsDeny,
  foreignGrantFindings,
  foreignGrants,
  principalsOf,
  roleStatementFindings,
  minimumPermissions,
  missingPermissions,
  permissionFindings,
  publicGrantFindings,
  publicGrants,
  trustFindings,
  type NamedPolicy,
} from './policy-checks.js';

type Definition = Pick<Control, 'id' | 'title' | 'expected'>;
type Outcome =
  | {
      status: 'pass' | 'fail';
      observed: string;
      findings?: string[];
      data?: Record<string, unknown>;
    }
  | {
      status: 'not_applicable';
      observed: string;
      /** Why it does not apply (a legitimate state, not a gap). */
      reason: string;
      findings?: string[];
      data?: Record<string, unknown>;
    };

type Failed = Extract<Observation<unknown>, { ok: false }>;

const evidenceOf = (observations: Array<Observation<unknown> | undefined>): Evidence[] =>
  observations
    .filter((o): o is Observation<unknown> => o !== undefined)
    .map((o) => (o.ok ? { call: o.call, at: o.at } : { call: o.call, at: o.at, error: o.error }));

const orCall = (evidence: Evidence[], call: string): Evidence[] =>
  evidence.length ? evidence : [{ call, at: new Date().toISOString() }];

const causeOf = (o: Failed): NonNullable<Control['cause']> => ({
  code: o.code,
  exitCode: o.exitCode,
  ...(o.hint ? { hint: o.hint } : {}),
});

function notChecked(
  def: Definition,
  reason: string,
  evidence: Evidence[],
  fallbackCall: string,
  cause: NonNullable<Control['cause']>,
): Control {
  return {
    ...def,
    status: 'not_checked',
    observed: '',
    reason,
    cause,
    findings: [],
    evidence: orCall(evidence, fallbackCall),
  };
}

/** The resource the control is about is missing: a failure, since nothing shows the control is met. */
function missingResource(
  def: Definition,
  finding: string,
  evidence: Evidence[],
  fallbackCall: string,
): Control {
  return {
    ...def,
    status: 'fail',
    observed: finding,
    findings: [finding],
    evidence: orCall(evidence, fallbackCall),
  };
}

const isFailed = (o: Observation<unknown> | undefined): o is Failed => o !== undefined && !o.ok;

/**
 * Builds a control: failed when the resource it is about is missing (the state file records none, or a
 * read found it gone), not checked when a read failed otherwise, else judged.
 * `missing` names what the state file lacks (e.g. "no export bucket"), if anything.
 */
function control(
  def: Definition,
  observations: Array<Observation<unknown> | undefined>,
  missing: string | undefined,
  judge: () => Outcome,
): Control {
  const evidence = evidenceOf(observations);
  if (missing)
    return missingResource(
      def,
      `the state file records ${missing} (setup has not made it yet, or teardown removed it), so there is nothing to show`,
      evidence,
      'state file',
    );
  const failures = observations.filter(isFailed);
  const gone = failures.find((o) => o.gone);
  if (gone)
    return missingResource(def, `${gone.call}: it is gone (${gone.error})`, evidence, gone.call);
  const failed = failures[0];
  if (failed)
    return notChecked(
      def,
      `${failed.call} failed: ${failed.error}`,
      evidence,
      failed.call,
      causeOf(failed),
    );
  return judged(def, judge(), evidence);
}

function judged(def: Definition, outcome: Outcome, evidence: Evidence[]): Control {
  return {
    ...def,
    status: outcome.status,
    observed: outcome.observed,
    ...(outcome.status === 'not_applicable' ? { reason: outcome.reason } : {}),
    findings: outcome.findings ?? [],
    evidence,
    ...(outcome.data ? { data: outcome.data } : {}),
  };
}

/** The same observation, named by the one call (of a combined read) a control relies on. */
/**
 * The observation under the name of the one call a control relies on, when the combined read it
 * came from succeeded; a failed read keeps its own name, since its error may be another call's.
 */
const as = <T>(o: Observation<T> | undefined, call: string): Observation<T> | undefined =>
  o?.ok ? { ...o, call } : o;

const value = <T>(o: Observation<T> | undefined): T => {
  if (!o || !o.ok) throw new Error('internal: control judged without its observation');
  return o.value;
};

const passIf = (findings: string[], observed: string, data?: Record<string, unknown>): Outcome => ({
  status: findings.length === 0 ? 'pass' : 'fail',
  observed,
  findings,
  ...(data ? { data } : {}),
});

// Atlas ------------------------------------------------------------------------------------------

function exportBucketPrivate(f: Facts, s: Subject): Control {
  const def = {
    id: 'atlas.export-bucket.private-networking',
    title: 'Export bucket requires private networking',
    expected: `the export bucket has requirePrivateNetworking: true and points at ${s.bucketName ? `s3://${s.bucketName}` : 'the bucket (no bucket recorded)'}`,
  };
  return control(def, [f.exportBucket], s.exportBucketId ? undefined : 'no export bucket', () => {
    const bucket = value(f.exportBucket);
    const findings: string[] = [];
    if (bucket.requirePrivateNetworking !== true)
      findings.push(
        `requirePrivateNetworking is ${String(bucket.requirePrivateNetworking ?? 'unset (false)')}: exports may use public IPs`,
      );
    if (s.bucketName && bucket.bucketName !== s.bucketName)
      findings.push(`it points at s3://${bucket.bucketName}, not s3://${s.bucketName}`);
    if (s.atlasRoleId && bucket.iamRoleId !== s.atlasRoleId)
      findings.push(`it uses access role ${bucket.iamRoleId}, not ${s.atlasRoleId}`);
    return passIf(
      findings,
      `export bucket ${bucket._id}: s3://${bucket.bucketName} (${bucket.region ?? 'region not reported'}), requirePrivateNetworking: ${String(bucket.requirePrivateNetworking ?? false)}`,
      { exportBucket: bucket },
    );
  });
}

/** The export bucket ids the cluster exports to: its auto-export bucket and those of its recent jobs. */
function clusterBucketUses(f: Facts, s: Subject): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  const add = (id: string | undefined, why: string) => {
    if (!id) return;
    uses.set(id, [...(uses.get(id) ?? []), why]);
  };
  add(s.exportBucketId, 'the state file');
  const schedule = f.schedule.ok ? f.schedule.value : undefined;
  if (schedule?.autoExportEnabled) add(schedule.export?.exportBucketId, 'auto-export');
  for (const { job } of f.recentJobs) add(job.exportBucketId, `job ${job.id}`);
  return uses;
}

function clusterExportsPrivate(f: Facts, s: Subject): Control {
  const def = {
    id: 'atlas.export-buckets.cluster-exports-private',
    title: 'Every export bucket the cluster exports to requires private networking',
    expected:
      'the auto-export bucket and the bucket of each recent export job have requirePrivateNetworking: true',
  };
  return control(def, [f.exportBuckets, f.schedule, f.jobs], undefined, () => {
    const byId = new Map(value(f.exportBuckets).map((bucket) => [bucket._id, bucket]));
    const failing: string[] = [];
    // A deleted export bucket exports nothing any more: noted, never a failure.
    const notes: string[] = [];
    const seen: string[] = [];
    for (const [id, why] of clusterBucketUses(f, s)) {
      const bucket = byId.get(id);
      const users = why.join(', ');
      if (!bucket)
        notes.push(
          `${users} used export bucket ${id}, which no longer exists; its networking setting cannot be shown`,
        );
      else if (bucket.requirePrivateNetworking !== true)
        failing.push(
          `export bucket ${id} (s3://${bucket.bucketName}, used by ${users}) has requirePrivateNetworking: false`,
        );
      seen.push(
        bucket
          ? `${id} s3://${bucket.bucketName} private=${String(bucket.requirePrivateNetworking === true)} (${users})`
          : `${id} deleted (${users})`,
      );
    }
    const data = {
      buckets: [...clusterBucketUses(f, s)].map(([id, usedBy]) => ({
        id,
        usedBy,
        exists: byId.has(id),
        requirePrivateNetworking: byId.get(id)?.requirePrivateNetworking ?? null,
      })),
    };
    if (!data.buckets.some((bucket) => bucket.exists))
      return {
        status: 'not_applicable',
        observed: seen.length ? seen.join('; ') : 'the cluster exports to no export bucket',
        reason: seen.length
          ? 'every export bucket the cluster used is deleted, so none can receive exports'
          : 'the cluster exports to no export bucket (no auto-export, no recent export job)',
        findings: notes,
        data,
      };
    return {
      status: failing.length === 0 ? 'pass' : 'fail',
      observed: seen.join('; '),
      findings: [...failing, ...notes],
      data,
    };
  });
}

/** The cluster's region (Atlas form), from the cluster read: its electable region. */
export function clusterRegionOf(f: Facts): string | undefined {
  if (!f.cluster.ok) return undefined;
  const configs = (f.cluster.value.replicationSpecs ?? []).flatMap(
    (spec) => spec.regionConfigs ?? [],
  );
  return (
    configs.find((c) => (c.electableSpecs?.nodeCount ?? 0) > 0)?.regionName ??
    configs[0]?.regionName
  );
}

function endpointActive(f: Facts, s: Subject): Control {
  const region = safeAtlasRegion(s.bucketRegion);
  const def = {
    id: 'atlas.private-endpoint.active',
    title: 'Object-storage private endpoint is ACTIVE',
    expected: `an object-storage private endpoint for ${region} (the bucket's region) with status ACTIVE`,
  };
  return control(def, [f.endpoints], undefined, () => {
    const endpoints = value(f.endpoints).filter((endpoint) => endpoint.regionName === region);
    const active = endpoints.find((endpoint) => endpoint.status === 'ACTIVE');
    const described = endpoints.map(
      (e) =>
        `${e.id} ${e.status}${e.errorMessage ? ` (${e.errorMessage})` : ''}${e.vpcRegionName && e.vpcRegionName !== e.regionName ? `, VPC in ${e.vpcRegionName}` : ''}`,
    );
    const findings: string[] = [];
    if (!active)
      findings.push(
        endpoints.length
          ? `no endpoint for ${region} is ACTIVE: ${described.join('; ')}`
          : `there is no object-storage private endpoint for ${region}`,
      );
    const clusterRegion = clusterRegionOf(f);
    const vpcRegion = active ? vpcRegionOf(active) : undefined;
    if (active && clusterRegion && vpcRegion !== clusterRegion)
      findings.push(
        `the ACTIVE endpoint ${active.id} has its VPC endpoint in ${vpcRegion}, not in ${clusterRegion} (the cluster's region): Atlas cannot export through it`,
      );
    if (active && s.privateEndpointId && active.id !== s.privateEndpointId)
      described.push(`(the state file records ${s.privateEndpointId})`);
    return passIf(findings, described.length ? described.join('; ') : `none for ${region}`, {
      endpoints,
    });
  });
}

function safeAtlasRegion(region: string): string {
  try {
    return toAtlasRegion(region);
  } catch {
    return region;
  }
}

function autoExportPrivate(f: Facts): Control {
  const def = {
    id: 'atlas.auto-export.private-bucket',
    title: 'Auto-export goes only to a private-networking export bucket',
    expected: 'auto-export is off, or its export bucket has requirePrivateNetworking: true',
  };
  return control(def, [f.schedule, f.exportBuckets], undefined, () => {
    const schedule = value(f.schedule);
    if (!schedule.autoExportEnabled)
      return {
        status: 'not_applicable',
        observed: 'auto-export is off',
        reason: 'auto-export is off, so no scheduled export goes to any bucket',
        data: { autoExportEnabled: false },
      };
    const id = schedule.export?.exportBucketId;
    const data = { autoExportEnabled: true, export: schedule.export ?? null };
    if (!id)
      return {
        status: 'fail',
        observed: 'auto-export is on without an export bucket',
        findings: ['auto-export names no export bucket'],
        data,
      };
    const bucket: ExportBucket | undefined = value(f.exportBuckets).find((b) => b._id === id);
    const observed = `auto-export ${schedule.export?.frequencyType ?? ''} to export bucket ${id}${bucket ? ` (s3://${bucket.bucketName}, requirePrivateNetworking: ${String(bucket.requirePrivateNetworking === true)})` : ' (not found)'}`;
    const findings = !bucket
      ? [`auto-export points at export bucket ${id}, which does not exist`]
      : bucket.requirePrivateNetworking !== true
        ? [
            `auto-export points at export bucket ${id} (s3://${bucket.bucketName}), which does not require private networking`,
          ]
        : [];
    return passIf(findings, observed, data);
  });
}

// S3 ---------------------------------------------------------------------------------------------

const noBucket = (s: Subject) => (s.bucketName ? undefined : 'no S3 bucket');

function blockPublicAccess(f: Facts, s: Subject): Control {
  const def = {
    id: 's3.block-public-access',
    title: 'S3 Block Public Access: all four settings on',
    expected:
      'BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy and RestrictPublicBuckets all true',
  };
  return control(
    def,
    [as(f.bucketSecurity, `s3:GetBucketPublicAccessBlock ${s.bucketName}`)],
    noBucket(s),
    () => {
      const block = value(f.bucketSecurity).publicAccessBlock;
      if (!block)
        return {
          status: 'fail',
          observed: 'no Block Public Access configuration on the bucket',
          findings: ['Block Public Access is not configured'],
        };
      const settings = {
        BlockPublicAcls: block.blockPublicAcls,
        IgnorePublicAcls: block.ignorePublicAcls,
        BlockPublicPolicy: block.blockPublicPolicy,
        RestrictPublicBuckets: block.restrictPublicBuckets,
      };
      const off = Object.entries(settings)
        .filter(([, on]) => !on)
        .map(([name]) => `${name} is off`);
      return passIf(
        off,
        Object.entries(settings)
          .map(([name, on]) => `${name}=${String(on)}`)
          .join(', '),
        settings,
      );
    },
  );
}

function defaultEncryption(f: Facts, s: Subject): Control {
  const def = {
    id: 's3.default-encryption',
    title: 'S3 default encryption',
    expected: 'default encryption SSE-S3 or SSE-KMS (for SSE-KMS: the key is named)',
  };
  return control(
    def,
    [as(f.bucketSecurity, `s3:GetBucketEncryption ${s.bucketName}`)],
    noBucket(s),
    () => {
      const encryption = value(f.bucketSecurity).encryption;
      if (!encryption)
        return {
          status: 'fail',
          observed: 'no default encryption configured',
          findings: ['the bucket has no default encryption configuration'],
        };
      if (encryption.kind === 'SSE-KMS') {
        const findings = encryption.kmsKeyArn
          ? []
          : ['SSE-KMS is set without a key (the AWS managed key aws/s3 is used)'];
        return passIf(
          findings,
          `SSE-KMS with key ${encryption.kmsKeyArn ?? '(aws/s3)'}, bucket key ${encryption.bucketKeyEnabled ? 'on' : 'off'}`,
          { ...encryption },
        );
      }
      if (encryption.kind === 'SSE-S3')
        return {
          status: 'pass',
          observed: 'SSE-S3 (AES256, keys managed by S3)',
          data: { ...encryption },
        };
      return {
        status: 'pass',
        observed: 'default encryption with another algorithm (not SSE-S3 or SSE-KMS)',
        data: { ...encryption },
      };
    },
  );
}

/** A control on the bucket policy: judged on the policy, or on `absent` when the bucket has none. */
function policyControl(
  def: Definition,
  f: Facts,
  s: Subject,
  absent: Outcome,
  judge: (policy: PolicyDocument) => Outcome,
): Control {
  return control(
    def,
    [as(f.bucketSecurity, `s3:GetBucketPolicy ${s.bucketName}`)],
    noBucket(s),
    () => {
      const policy = value(f.bucketSecurity).policy;
      return policy ? judge(policy) : absent;
    },
  );
}

const NO_POLICY = 'the bucket has no bucket policy';

function tlsOnly(f: Facts, s: Subject, partition: string): Control {
  const arn = `arn:${partition}:s3:::${s.bucketName ?? ''}`;
  const where = s.bucketName
    ? `${arn} and ${arn}/*`
    : 'the bucket and its objects (no bucket recorded)';
  const def = {
    id: 's3.tls-only',
    title: 'Bucket policy denies requests without TLS',
    expected: `a Deny for Principal * of s3:* (or at least s3:PutObject and s3:GetObject) on ${where} when aws:SecureTransport is false`,
  };
  const absent: Outcome = {
    status: 'fail',
    observed: NO_POLICY,
    findings: ['no bucket policy, so requests without TLS are not denied'],
  };
  return policyControl(def, f, s, absent, (policy) => {
    const result = findTlsDeny(policy, arn);
    if (result.statement)
      return {
        status: 'pass',
        observed: `statement ${result.statement} denies every request without TLS`,
        data: { statement: result.statement },
      };
    const findings = result.near.length
      ? result.near
      : ['no statement denies requests without TLS'];
    return {
      status: 'fail',
      observed: `no qualifying Deny among ${counted(policyStatementCount(policy), 'statement')}`,
      findings,
    };
  });
}

function noPublicGrant(f: Facts, s: Subject): Control {
  const def = {
    id: 's3.bucket-policy.no-public-grant',
    title: 'Bucket policy grants nothing to everyone',
    expected:
      'no Allow statement for Principal * (or {"AWS": "*"}, or a NotPrincipal) unless a condition pins it to a VPC endpoint or VPC (aws:SourceVpce, aws:SourceVpc) or to named principals (aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn, aws:userid, aws:SourceAccount, ...; who those are is judged by the owner-only control); an IP address condition (aws:SourceIp) does not count',
  };
  return policyControl(def, f, s, { status: 'pass', observed: NO_POLICY }, (policy) => {
    const findings = publicGrantFindings(policy);
    return passIf(
      findings,
      findings.length
        ? findings.join('; ')
        : `none of ${counted(policyStatementCount(policy), 'statement')} grants to everyone without a restricting condition`,
      { publicGrants: publicGrants(policy) },
    );
  });
}

/** The Allow statements setup adds for the role Atlas assumes (the TLS deny names everyone on purpose). */
const ROLE_ALLOW_SIDS: readonly string[] = [
  BUCKET_POLICY_SIDS.allowBucketLocation,
  BUCKET_POLICY_SIDS.allowPutObject,
];

function ownerOnly(f: Facts, s: Subject): Control {
  const def = {
    id: 's3.bucket-policy.owner-only',
    title: "Bucket policy grants only to the setup's role, within the bucket owner's account",
    expected: `the Allow statements setup added (${ROLE_ALLOW_SIDS.join(', ')}) name exactly ${s.iamRoleArn ?? "the setup's IAM role"}, and no Allow statement names a principal outside AWS account ${s.accountId} (the bucket owner)`,
  };
  return policyControl(def, f, s, { status: 'pass', observed: NO_POLICY }, (policy) => {
    const findings = [
      ...(s.iamRoleArn ? roleStatementFindings(policy, ROLE_ALLOW_SIDS, s.iamRoleArn) : []),
      ...foreignGrantFindings(policy, s.accountId, ROLE_ALLOW_SIDS),
    ];
    const ours = statementsOf(policy).filter((statement) =>
      ROLE_ALLOW_SIDS.includes(statement.Sid ?? ''),
    );
    return passIf(
      findings,
      findings.length
        ? findings.join('; ')
        : `${counted(ours.length, 'statement')} setup added name only ${s.iamRoleArn ?? '(no role recorded)'}; none of ${counted(policyStatementCount(policy), 'statement')} grants to another account`,
      {
        roleStatements: ours.map((statement) => ({
          sid: statement.Sid,
          principals: principalsOf(statement.Principal),
        })),
        foreignGrants: foreignGrants(policy, s.accountId, ROLE_ALLOW_SIDS),
      },
    );
  });
}

function policyStatementCount(policy: { Statement: unknown }): number {
  return Array.isArray(policy.Statement) ? policy.Statement.length : 1;
}

// IAM --------------------------------------------------------------------------------------------

function trustsOnlyAtlas(f: Facts, s: Subject): Control {
  const def = {
    id: 'iam.trust-atlas-only',
    title: "IAM role trusts only Atlas's AWS account, with the external id",
    expected:
      "trust policy allows sts:AssumeRole only to the Atlas access role's atlasAWSAccountArn, with StringEquals sts:ExternalId = atlasAssumedRoleExternalId",
  };
  const missing = !s.iamRoleName
    ? 'no IAM role'
    : !s.atlasRoleId
      ? 'no Atlas access role'
      : undefined;
  return control(def, [f.iamRole, f.atlasRole], missing, () => {
    const role = value(f.iamRole);
    const atlasRole = value(f.atlasRole);
    if (!role)
      return {
        status: 'fail',
        observed: `IAM role ${s.iamRoleName} does not exist`,
        findings: [`IAM role ${s.iamRoleName} does not exist`],
      };
    if (!atlasRole.atlasAWSAccountArn || !atlasRole.atlasAssumedRoleExternalId) {
      return {
        status: 'fail',
        observed: `Atlas access role ${atlasRole.roleId} reports no AWS account or external id`,
        findings: ['the Atlas access role is incomplete'],
      };
    }
    const findings = trustFindings(
      role.trustPolicy,
      atlasRole.atlasAWSAccountArn,
      atlasRole.atlasAssumedRoleExternalId,
    );
    if (atlasRole.iamAssumedRoleArn !== role.arn) {
      findings.push(
        `the Atlas access role ${atlasRole.roleId} is authorized for ${atlasRole.iamAssumedRoleArn ?? 'no IAM role'}, not ${role.arn}`,
      );
    }
    return passIf(
      findings,
      `${role.arn} trusts ${trustedPrincipals(role.trustPolicy)}; Atlas access role ${atlasRole.roleId} uses account ${atlasRole.atlasAWSAccountArn} and external id ${atlasRole.atlasAssumedRoleExternalId}`,
      {
        roleArn: role.arn,
        trustPolicy: role.trustPolicy,
        atlasAWSAccountArn: atlasRole.atlasAWSAccountArn,
        externalId: atlasRole.atlasAssumedRoleExternalId,
      },
    );
  });
}

function trustedPrincipals(trust: { Statement: unknown } | undefined): string {
  const statements = (
    Array.isArray(trust?.Statement) ? trust.Statement : [trust?.Statement]
  ) as Array<{ Effect?: string; Principal?: unknown }>;
  const principals = statements
    .filter((st) => st?.Effect === 'Allow')
    .map((st) => JSON.stringify(st.Principal ?? null));
  return principals.length ? principals.join(', ') : 'no one';
}

function leastPrivilege(f: Facts, s: Subject, partition: string): Control {
  const def = {
    id: 'iam.permissions-minimum',
    title: 'IAM role permissions are no broader than the documented minimum',
    expected:
      's3:GetBucketLocation on the bucket, s3:PutObject on its objects, and for SSE-KMS kms:GenerateDataKey and kms:Decrypt on its key; nothing else',
  };
  const missing = !s.iamRoleName ? 'no IAM role' : noBucket(s);
  // The bucket's encryption only says whether the minimum includes a KMS key; a bucket found gone
  // fails the S3 controls, and the role is judged against the minimum without one.
  const security = f.bucketSecurity;
  const bucketGone = security !== undefined && !security.ok && security.gone;
  return control(
    def,
    [
      f.rolePolicies,
      bucketGone ? undefined : as(security, `s3:GetBucketEncryption ${s.bucketName}`),
    ],
    missing,
    () => {
      const encryption = bucketGone ? undefined : value(security).encryption;
      const minimum = minimumPermissions({
        bucket: s.bucketName as string,
        partition,
        ...(encryption?.kind === 'SSE-KMS' && encryption.kmsKeyArn
          ? { kmsKeyArn: encryption.kmsKeyArn }
          : {}),
      });
      const policies: NamedPolicy[] = value(f.rolePolicies).map((p) => ({
        label: `${p.kind} policy ${p.name}`,
        document: p.document,
      }));
      const findings = permissionFindings(policies, minimum);
      const absent = missingPermissions(policies, minimum).map(
        (p) => `${p.action} on ${p.resource}`,
      );
      const names = policies.map((p) => p.label).join(', ') || 'no policies';
      // Say what was found: the grants beyond the minimum whenever there are any (that is when it fails).
      const parts = [
        ...(findings.length ? [`grants beyond the minimum: ${findings.join('; ')}`] : []),
        ...(absent.length
          ? [`not granted (Atlas would fail to export): ${absent.join(', ')}`]
          : []),
      ];
      const observed = `${names}; ${parts.length ? parts.join('; ') : 'grants the minimum'}`;
      return passIf(findings, observed, {
        policies: value(f.rolePolicies),
        minimum,
        notGranted: absent,
      });
    },
  );
}

// Export jobs ------------------------------------------------------------------------------------

export function exportJobEvidence(f: Facts, s: Subject): ExportJobEvidence[] {
  return f.recentJobs.map(({ job, bucket, files }) => {
    const atStart = s.privateNetworkingAtStart?.[job.id];
    const row: ExportJobEvidence = {
      id: job.id,
      state: job.state,
      exportBucketId: job.exportBucketId,
      ...(job.snapshotId ? { snapshotId: job.snapshotId } : {}),
      ...(bucket
        ? {
            bucketName: bucket.bucketName,
            requirePrivateNetworking: bucket.requirePrivateNetworking === true,
          }
        : {}),
      ...(atStart !== undefined ? { requirePrivateNetworkingAtStart: atStart } : {}),
      ...(job.prefix ? { prefix: job.prefix } : {}),
      ...(job.createdAt ? { createdAt: job.createdAt } : {}),
      ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    };
    if (job.state !== 'Successful') return { ...row, filesNotChecked: `the job is ${job.state}` };
    if (!bucket) return { ...row, filesNotChecked: 'its export bucket no longer exists' };
    if (!files || !files.ok)
      return { ...row, filesNotChecked: files && !files.ok ? files.error : 'not read' };
    const completeKey = `${(job.prefix ?? '').replace(/^\/+|\/+$/g, '')}/.complete`;
    const completePresent = !files.value.missing.includes(completeKey);
    return {
      ...row,
      completePresent,
      filesFound: files.value.found.length,
      filesMissing: files.value.missing,
    };
  });
}

function exportFiles(f: Facts, s: Subject): Control {
  const def = {
    id: 'exports.files-complete',
    title: 'Recent successful exports: .complete present and every file it counts in the bucket',
    expected: `for each successful export job among the ${f.recentJobs.length || 'recent'} newest, <prefix>/.complete exists, the bucket holds the totalFiles it counts under the prefix, and each collection its metadata.json`,
  };
  const fileReads = f.recentJobs.map((j) => j.files);
  const evidence = evidenceOf([f.jobs, f.exportBuckets, ...fileReads]);
  const listing = [f.jobs, f.exportBuckets].find(isFailed);
  if (listing?.gone)
    return missingResource(
      def,
      `${listing.call}: it is gone (${listing.error})`,
      evidence,
      listing.call,
    );
  if (listing)
    return notChecked(
      def,
      `${listing.call} failed: ${listing.error}`,
      evidence,
      listing.call,
      causeOf(listing),
    );
  const rows = exportJobEvidence(f, s);
  if (rows.length === 0)
    return judged(
      def,
      {
        status: 'not_applicable',
        observed: 'no export jobs',
        reason: 'the cluster has no export jobs yet, so no export has files to check',
      },
      orCall(evidence, f.jobs.call),
    );
  const successful = rows.filter((row) => row.state === 'Successful');
  if (successful.length === 0) {
    return notChecked(
      def,
      `none of the ${counted(rows.length, 'recent export job')} succeeded (${[...new Set(rows.map((row) => row.state))].join(', ')}), so no export can be shown complete`,
      evidence,
      f.jobs.call,
      {
        code: 'NO_SUCCESSFUL_EXPORT',
        exitCode: ExitCode.cloud,
        hint: 'See why with `atlas-pl-export export --list`, fix it, and export again (`atlas-pl-export export --latest`).',
      },
    );
  }
  // A job whose export bucket is deleted since cannot be located; it is noted, not counted.
  const located = successful.filter((row) => row.bucketName !== undefined);
  const unlocated = successful
    .filter((row) => row.bucketName === undefined)
    .map((row) => `job ${row.id}: ${row.filesNotChecked ?? 'not checked'}`);
  const checked = located.filter((row) => row.filesNotChecked === undefined);
  const findings = checked.flatMap((row) =>
    !row.completePresent
      ? [`job ${row.id}: ${row.prefix ?? ''}/.complete is missing`]
      : (row.filesMissing ?? []).length
        ? [
            `job ${row.id}: ${counted((row.filesMissing ?? []).length, 'problem')} against .complete (${counted(row.filesFound ?? 0, 'file')} found): ${(row.filesMissing ?? []).slice(0, 5).join(', ')}`,
          ]
        : [],
  );
  const reads = f.recentJobs.map((job) => job.files).filter(isFailed);
  const unreadable = reads.filter((read) => !read.gone);
  findings.push(...reads.filter((read) => read.gone).map((read) => `${read.call}: ${read.error}`));
  const observed = [
    `${successful.length} successful of ${counted(rows.length, 'recent job')}; ${checked.length} checked`,
    ...checked.map(
      (row) =>
        `${row.id}: ${row.completePresent ? `.complete present, ${counted(row.filesFound ?? 0, 'file')} found, ${(row.filesMissing ?? []).length} missing` : '.complete missing'}`,
    ),
    ...located
      .filter((row) => row.filesNotChecked !== undefined)
      .map((row) => `job ${row.id} not checked: ${row.filesNotChecked}`),
    ...unlocated,
  ].join('; ');
  if (findings.length > 0)
    return { ...def, status: 'fail', observed, findings: [...findings, ...unlocated], evidence };
  // Files that could not be read, or no job left to check: nothing shows the exports are complete.
  const gap = unreadable[0];
  if (gap || checked.length === 0)
    return notChecked(
      def,
      gap
        ? `${gap.call} failed: ${gap.error}`
        : `no successful job's files can be located: ${unlocated.join('; ')}`,
      evidence,
      gap?.call ?? f.jobs.call,
      gap
        ? causeOf(gap)
        : {
            code: 'EXPORT_FILES_UNLOCATED',
            exitCode: ExitCode.cloud,
            hint: 'Export again to the current export bucket (`atlas-pl-export export --latest`).',
          },
    );
  return { ...def, status: 'pass', observed, findings: unlocated, evidence };
}

// All --------------------------------------------------------------------------------------------

/** The partition of the AWS account in use (aws, aws-cn, aws-us-gov), from the caller's ARN or the role's. */
export function partitionOf(f: Facts, s: Subject): string {
  const arn = f.identity.ok ? f.identity.value.arn : s.iamRoleArn;
  return arn?.split(':')[1] || 'aws';
}

export function evaluateControls(f: Facts, s: Subject): Control[] {
  const partition = partitionOf(f, s);
  return [
    exportBucketPrivate(f, s),
    clusterExportsPrivate(f, s),
    endpointActive(f, s),
    autoExportPrivate(f),
    blockPublicAccess(f, s),
    defaultEncryption(f, s),
    tlsOnly(f, s, partition),
    noPublicGrant(f, s),
    ownerOnly(f, s),
    trustsOnlyAtlas(f, s),
    leastPrivilege(f, s, partition),
    exportFiles(f, s),
  ];
}
