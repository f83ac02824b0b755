/**
 * Per-resource checks of a setup against the clouds: each resource the state file records is read
 * (read calls only) and compared with what setup made. `status` prints the results; `report` reuses
 * them as evidence, which is why every result names the call that observed it and when.
 *
 *   const results = await checkAll(session, state);
 *   results.every((r) => r.status === 'in-place');
 *
 * A check never throws: a failed read becomes `not-checked` with the reason as a finding.
 */
import { CliError, ExitCode } from './errors.js';
import type { Session } from './session.js';
import type { Resources, StateFile } from './state/schema.js';
import type { BucketSecurity } from './aws/s3.js';
import type { describePolicyChange, PolicyDocument, PolicyStatement } from './aws/policies.js';

export type CheckStatus = 'in-place' | 'drifted' | 'missing' | 'not-checked';

export type ResourceKind = keyof Resources;

export interface CheckResult {
  resource: ResourceKind;
  /** The resource's id: bucket or role name, Atlas id, or the cluster name for the schedule. */
  id: string;
  status: CheckStatus;
  /** Plain sentences saying what is wrong; empty when in place. */
  findings: string[];
  /** What repairs what was found: the command (or the manual step) for each kind of finding, once each. */
  fixes: string[];
  /** What the read returned (the fields the check looked at). */
  observed: Record<string, unknown>;
  /** The API call(s) that observed it, e.g. `GET /api/atlas/v2/groups/.../backup/exportBuckets/...`. */
  call: string;
  /** ISO time of the observation. */
  at: string;
  /** Why the check could not run (not-checked only): the underlying error, with its hint and exit code. */
  error?: CheckError;
}

export interface CheckError {
  code: string;
  message: string;
  hint?: string;
  exitCode: number;
}

/** The order results come in: AWS first, then Atlas, roughly as setup makes them. */
export const RESOURCE_ORDER: readonly ResourceKind[] = [
  'bucket',
  'bucketPolicy',
  'iamRole',
  'atlasRole',
  'privateEndpoint',
  'exportBucket',
  'schedule',
];

export const RESOURCE_LABELS: Record<ResourceKind, string> = {
  bucket: 'S3 bucket',
  bucketPolicy: 'bucket policy',
  iamRole: 'IAM role',
  atlasRole: 'Atlas access role',
  privateEndpoint: 'private endpoint',
  exportBucket: 'export bucket',
  schedule: 'auto-export',
};

const STATUS_WORDS: Record<CheckStatus, string> = {
  'in-place': 'in place',
  drifted: 'drifted',
  missing: 'missing',
  'not-checked': 'not checked',
};

/**
 * One line for a person, `drifted     IAM role atlas-export: trust policy changed (...)`, then one
 * `  fix: ...` line for each repair it needs.
 */
export function formatResult(result: CheckResult): string {
  const head = `${STATUS_WORDS[result.status].padEnd(11)} ${RESOURCE_LABELS[result.resource]} ${result.id}`;
  const line = result.findings.length > 0 ? `${head}: ${result.findings.join('; ')}` : head;
  return [line, ...result.fixes.map((fix) => `  fix: ${fix}`)].join('\n');
}

/** What repairs each kind of drift: only what the named command really repairs. */
export const FIX = {
  /** A plain rerun repairs what setup manages (policies, statements, authorization, requirePrivateNetworking) and recreates what is gone. */
  setup: 'rerun `atlas-pl-export setup`',
  /** Block Public Access, default encryption and object ownership are re-checked only with --repair. */
  repair:
    "run `atlas-pl-export setup --repair` (a plain rerun does not re-check the bucket's settings)",
  schedule: (frequency: string) => `run \`atlas-pl-export schedule --frequency ${frequency}\``,
  foreignStatement:
    'remove the statement from the bucket policy by hand if it is not meant to be there (setup keeps statements it did not add)',
  otherPolicies:
    'detach or delete those policies by hand if they are not needed (setup keeps policies it did not add)',
  rebuild:
    'this cannot be repaired in place: run `atlas-pl-export teardown`, then `atlas-pl-export setup` (with another --bucket if the name is taken)',
} as const;

export function allInPlace(results: readonly CheckResult[]): boolean {
  return results.every((result) => result.status === 'in-place');
}

// ---------------------------------------------------------------------------------------------

const atlasApi = () =>
  Promise.all([
    import('./atlas/access.js'),
    import('./atlas/privateEndpoints.js'),
    import('./atlas/exportBuckets.js'),
    import('./atlas/schedule.js'),
    import('./atlas/errors.js'),
    import('./atlas/paths.js'),
  ]).then(([access, endpoints, exportBuckets, schedule, errors, paths]) => ({
    access,
    endpoints,
    exportBuckets,
    schedule,
    errors,
    paths,
  }));

const awsApi = () =>
  Promise.all([import('./aws/s3.js'), import('./aws/iam.js'), import('./aws/policies.js')]).then(
    ([s3, iam, policies]) => ({
      s3,
      iam,
      policies,
    }),
  );

/** What is wrong, and what repairs it. */
interface Finding {
  text: string;
  fix: string;
}

interface Draft {
  status: CheckStatus;
  findings: Finding[];
  observed: Record<string, unknown>;
  error?: CheckError;
}

const fromFindings = (findings: Finding[], observed: Record<string, unknown>): Draft => ({
  status: findings.length > 0 ? 'drifted' : 'in-place',
  findings,
  observed,
});
/** Gone: a rerun of setup recreates it, unless `fix` says otherwise. */
const missing = (
  text: string,
  observed: Record<string, unknown> = {},
  fix: string = FIX.setup,
): Draft => ({
  status: 'missing',
  findings: [{ text, fix }],
  observed,
});
const notChecked = (text: string, error: CheckError): Draft => ({
  status: 'not-checked',
  findings: [{ text, fix: error.hint ?? 'rerun with --debug to see the calls that failed' }],
  observed: {},
  error,
});

/** The error behind a check that could not run, as status reports it (and exits with its code). */
function checkErrorOf(error: unknown): CheckError {
  if (error instanceof CliError) {
    return {
      code: error.code,
      message: error.message,
      exitCode: error.exitCode,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
  return {
    code: 'INTERNAL',
    message: error instanceof Error ? error.message : String(error),
    exitCode: ExitCode.internal,
  };
}

/**
 * The up-front environment check `status` and `report` share, before any call: makes the clients
 * their reads need (the AWS clients, which read AWS_CA_BUNDLE; the Atlas client, which reads the
 * credentials), AWS first as the results are listed. The first setting that keeps them from being
 * made, or undefined. The reads that need that client then fail alike, so this is the error behind
 * the exit code when nothing is found out of place: both commands exit the same way for it.
 */
export async function environmentProblem(
  session: Session,
  needs: { aws?: string | false; atlas: boolean },
): Promise<CheckError | undefined> {
  const makers: Array<() => Promise<unknown>> = [];
  const region = needs.aws;
  if (region !== false) makers.push(() => session.aws(region));
  if (needs.atlas) makers.push(() => session.atlas());
  for (const make of makers) {
    try {
      await make();
    } catch (error) {
      return checkErrorOf(error);
    }
  }
  return undefined;
}

/** What status needs for the resources the state file records. */
export function environmentNeeds(state: StateFile): { aws: string | false; atlas: boolean } {
  const r = state.resources;
  return {
    aws: r.bucket || r.bucketPolicy || r.iamRole ? state.aws.region : false,
    atlas: Boolean(r.atlasRole || r.privateEndpoint || r.exportBucket || r.schedule),
  };
}

/** Runs one check; a failure to read becomes `not-checked` with the reason. */
async function guard(
  resource: ResourceKind,
  id: string,
  call: string,
  check: () => Promise<Draft>,
): Promise<CheckResult> {
  let draft: Draft;
  try {
    draft = await check();
  } catch (error) {
    const info = checkErrorOf(error);
    draft = notChecked(`could not check: ${info.message}`, info);
  }
  const { findings, ...rest } = draft;
  return {
    resource,
    id,
    ...rest,
    findings: findings.map((finding) => finding.text),
    fixes: [...new Set(findings.map((finding) => finding.fix))],
    call,
    at: new Date().toISOString(),
  };
}

/**
 * The errorCode with which Atlas answers a read of each resource that is itself gone. Any other 404
 * (GROUP_NOT_FOUND for a project Atlas cannot find, CLUSTER_NOT_FOUND for a read of a cluster's
 * schedule or jobs) says nothing about the resource: the read could not run.
 */
export const ATLAS_GONE_CODES = {
  atlasRole: 'CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND',
  privateEndpoint: 'PRIVATE_ENDPOINT_NOT_FOUND',
  exportBucket: 'EXPORT_BUCKET_NOT_FOUND',
  cluster: 'CLUSTER_NOT_FOUND',
  exportJob: 'EXPORT_JOB_NOT_FOUND',
  snapshot: 'SNAPSHOT_NOT_FOUND',
} as const;

export type AtlasGoneKind = keyof typeof ATLAS_GONE_CODES;

/** True when the Atlas error says the resource read (`kind`) is gone: a 404 with its own errorCode. */
export async function isAtlasGone(error: unknown, kind: AtlasGoneKind): Promise<boolean> {
  const { isAtlasApiError } = await import('./atlas/errors.js');
  return isAtlasApiError(error, ATLAS_GONE_CODES[kind]) && error.status === 404;
}

/** Reads, turning "that resource is gone" into undefined. */
async function orGone<T>(read: Promise<T>, kind: AtlasGoneKind): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (await isAtlasGone(error, kind)) return undefined;
    throw error;
  }
}

function partitionOf(state: StateFile): string {
  return state.resources.iamRole?.arn.split(':')[1] || 'aws';
}

// ---------------------------------------------------------------------------------------------

/** Checks every resource the state file records, AWS and Atlas reads running side by side. */
export async function checkAll(session: Session, state: StateFile): Promise<CheckResult[]> {
  const r = state.resources;
  const bucketRead = r.bucket ? readBucket(session, state) : undefined;
  const pending: Array<Promise<CheckResult>> = [];
  if (r.bucket) pending.push(bucketRead!.then((read) => read.result));
  else if (Object.keys(r).length > 0) pending.push(noBucketRecorded(session));
  if (r.bucketPolicy) pending.push(checkBucketPolicy(session, state, bucketRead));
  if (r.iamRole) pending.push(checkIamRole(session, state));
  if (r.atlasRole) pending.push(checkAtlasRole(session, state));
  if (r.privateEndpoint) pending.push(checkPrivateEndpoint(session, state));
  if (r.exportBucket) pending.push(checkExportBucket(session, state));
  if (r.schedule) pending.push(checkSchedule(session, state));
  const results = await Promise.all(pending);
  return results.sort(
    (a, b) => RESOURCE_ORDER.indexOf(a.resource) - RESOURCE_ORDER.indexOf(b.resource),
  );
}

// S3 bucket -------------------------------------------------------------------------------------

/** Other resources but no bucket (setup stopped before it, or a hand-edited file): said, not skipped. */
function noBucketRecorded(session: Session): Promise<CheckResult> {
  const error: CheckError = {
    code: 'SETUP_INCOMPLETE',
    message: `the state file ${session.statePath} records no S3 bucket`,
    hint: 'Run `atlas-pl-export setup` (with the same --state) to create it, or finish it, again.',
    exitCode: ExitCode.state,
  };
  return guard('bucket', '(none)', 'state file', async () =>
    notChecked('no bucket recorded in the state file, so the bucket was not checked', error),
  );
}

interface BucketRead {
  result: CheckResult;
  /** The bucket's settings, when the bucket could be read. */
  security?: BucketSecurity;
}

const BUCKET_CALLS =
  's3:HeadBucket, s3:ListAllMyBuckets, s3:GetBucketPublicAccessBlock, s3:GetBucketEncryption, s3:GetBucketPolicy, s3:GetBucketOwnershipControls';

/** Reads the bucket once; its policy serves the bucket-policy check too. */
async function readBucket(session: Session, state: StateFile): Promise<BucketRead> {
  const recorded = state.resources.bucket!;
  let security: BucketSecurity | undefined;
  const result = await guard('bucket', recorded.name, BUCKET_CALLS, async () => {
    const { s3 } = await awsApi();
    const aws = await session.aws(recorded.region);
    const found = await s3.inspectBucket(aws, recorded.name, state.aws.accountId);
    if (!found.exists) return missing(`the bucket s3://${recorded.name} no longer exists`);
    if (!found.owned)
      return missing(
        `the bucket name ${recorded.name} now belongs to another AWS account`,
        { owned: false },
        FIX.rebuild,
      );
    security = await s3.readBucketSecurity(aws, recorded.name);
    const findings = [
      ...(found.region !== recorded.region
        ? [{ text: `it is in ${found.region}, not ${recorded.region}`, fix: FIX.rebuild }]
        : []),
      ...bucketFindings(security, recorded).map((text) => ({ text, fix: FIX.repair })),
    ];
    return fromFindings(findings, {
      region: found.region,
      publicAccessBlock: security.publicAccessBlock ?? null,
      encryption: security.encryption ?? null,
      objectOwnership: security.objectOwnership ?? null,
    });
  });
  return { result, security };
}

function bucketFindings(
  security: BucketSecurity,
  recorded: NonNullable<Resources['bucket']>,
): string[] {
  const findings: string[] = [];
  const block = security.publicAccessBlock;
  if (!block) findings.push('Block Public Access is off (no configuration on the bucket)');
  else {
    const off = Object.entries({
      BlockPublicAcls: block.blockPublicAcls,
      IgnorePublicAcls: block.ignorePublicAcls,
      BlockPublicPolicy: block.blockPublicPolicy,
      RestrictPublicBuckets: block.restrictPublicBuckets,
    })
      .filter(([, on]) => !on)
      .map(([name]) => name);
    if (off.length > 0) findings.push(`Block Public Access is turned off (${off.join(', ')})`);
  }
  const encryption = security.encryption;
  if (!encryption) findings.push('default encryption is off');
  else if (encryption.kind !== recorded.encryption) {
    findings.push(
      `default encryption changed to ${encryption.kind === 'other' ? 'an unknown algorithm' : encryption.kind}${encryption.kmsKeyArn ? ` (${encryption.kmsKeyArn})` : ''}, not ${recorded.encryption}`,
    );
  } else if (recorded.encryption === 'SSE-KMS' && encryption.kmsKeyArn !== recorded.kmsKeyArn) {
    findings.push(
      `default encryption uses KMS key ${encryption.kmsKeyArn ?? '(default aws/s3 key)'}, not ${recorded.kmsKeyArn}`,
    );
  }
  // Setup enforces bucket-owner ownership on a bucket it creates, and leaves an adopted bucket's as
  // it found it: only the former is drift.
  if (
    recorded.origin === 'created' &&
    security.objectOwnership !== undefined &&
    security.objectOwnership !== 'BucketOwnerEnforced'
  ) {
    findings.push(`object ownership is ${security.objectOwnership}: ACLs are enabled again`);
  }
  return findings;
}

// Bucket policy ---------------------------------------------------------------------------------

/** What each statement setup adds is for, said after its Sid: `the statement X (the TLS-only deny)`. */
const SID_PURPOSE: Record<string, string> = {
  AtlasPlExportDenyInsecureTransport: 'the TLS-only deny',
  AtlasPlExportAllowBucketLocation: "s3:GetBucketLocation for Atlas's role",
  AtlasPlExportAllowPutObject: "s3:PutObject for Atlas's role",
};

const statementLabel = (sid: string) =>
  SID_PURPOSE[sid] ? `the statement ${sid} (${SID_PURPOSE[sid]})` : `the statement ${sid}`;

async function checkBucketPolicy(
  session: Session,
  state: StateFile,
  bucketRead: Promise<BucketRead> | undefined,
): Promise<CheckResult> {
  const recorded = state.resources.bucketPolicy!;
  const name = state.resources.bucket?.name;
  return guard('bucketPolicy', name ?? '(unknown bucket)', 's3:GetBucketPolicy', async () => {
    if (!name || !bucketRead) {
      return notChecked('the state file records no bucket for this policy', {
        code: 'STATE_INCOMPLETE',
        message: 'The state file records a bucket policy but no bucket.',
        hint: 'Rerun `atlas-pl-export setup` to record the bucket again.',
        exitCode: ExitCode.state,
      });
    }
    const read = await bucketRead;
    if (read.result.status === 'missing')
      return missing('the bucket is gone, and its policy with it');
    if (!read.security) {
      const cause = read.result.error ?? {
        code: 'NOT_CHECKED',
        message: 'The bucket could not be read.',
        exitCode: ExitCode.cloud,
      };
      return notChecked(`could not check: the bucket could not be read (${cause.message})`, cause);
    }
    const { policies } = await awsApi();
    const current = read.security.policy;
    const roleArn = state.resources.iamRole?.arn;
    const expected = policies.bucketPolicyStatements({
      bucket: name,
      partition: partitionOf(state),
      roleArn: roleArn ?? '',
    });
    const statements = policies.statementsOf(current);
    const findings: Finding[] = [];
    let present = 0;
    for (const sid of recorded.statementSids) {
      const found = statements.find((statement) => statement.Sid === sid);
      if (!found) {
        findings.push({ text: `${statementLabel(sid)} is gone`, fix: FIX.setup });
        continue;
      }
      present += 1;
      const want = expected.find((statement) => statement.Sid === sid);
      // Without a recorded role ARN only the presence of the role statements can be checked.
      if (
        want &&
        (roleArn || sid === policies.BUCKET_POLICY_SIDS.denyInsecureTransport) &&
        !policies.statementsEquivalent(found, want)
      ) {
        findings.push({
          text: `${statementLabel(sid)} was changed to: ${policies.describeStatement(found)}`,
          fix: FIX.setup,
        });
      }
    }
    // Anyone's statement counts: a grant to everyone, or to another account, undoes the private path
    // whoever added it. Setup keeps statements it did not add, so only a person can remove them.
    const { publicGrantFindings, foreignGrantFindings } = await import('./report/policy-checks.js');
    findings.push(
      ...publicGrantFindings(current).map((finding) => ({
        text: `${finding} (no condition limits it to a VPC endpoint, account or organization)`,
        fix: FIX.foreignStatement,
      })),
      ...foreignGrantFindings(current, state.aws.accountId, recorded.statementSids).map((text) => ({
        text,
        fix: FIX.foreignStatement,
      })),
    );
    const observed = {
      statementCount: statements.length,
      ourStatements: statements.filter((statement) =>
        recorded.statementSids.includes(statement.Sid ?? ''),
      ),
      otherStatementSids: statements
        .filter((s) => !recorded.statementSids.includes(s.Sid ?? ''))
        .map((s) => s.Sid ?? null),
    };
    if (present === 0 && recorded.statementSids.length > 0) {
      return {
        status: 'missing',
        findings: [
          {
            text: current
              ? 'none of the statements this tool added remain'
              : 'the bucket has no policy any more',
            fix: FIX.setup,
          },
          ...findings.filter((finding) => finding.fix !== FIX.setup),
        ],
        observed,
      };
    }
    return fromFindings(findings, observed);
  });
}

// IAM role ---------------------------------------------------------------------------------------

async function checkIamRole(session: Session, state: StateFile): Promise<CheckResult> {
  const recorded = state.resources.iamRole!;
  const calls = `iam:GetRole, iam:GetRolePolicy (${recorded.policyName}), iam:ListRolePolicies, iam:ListAttachedRolePolicies`;
  return guard('iamRole', recorded.name, calls, async () => {
    const { iam, policies } = await awsApi();
    const aws = await session.aws(state.aws.region);
    const role = await iam.getRole(aws, recorded.name);
    if (!role) return missing(`the IAM role ${recorded.name} no longer exists`);
    const findings: Finding[] = [];
    const add = (text: string, fix: string = FIX.setup) => findings.push({ text, fix });
    if (role.arn !== recorded.arn)
      add(`its ARN is ${role.arn}, not ${recorded.arn} (the role was replaced)`);
    const atlasRole = state.resources.atlasRole;
    if (atlasRole) {
      const trust = policies.trustPolicy({
        atlasAWSAccountArn: atlasRole.atlasAWSAccountArn,
        externalId: atlasRole.externalId,
      });
      if (!policies.policiesEquivalent(role.trustPolicy, trust)) {
        add(`the trust policy changed (${policyDrift(policies, role.trustPolicy, trust)})`);
      }
    }
    const [inline, names, attached] = await Promise.all([
      iam.getInlinePolicy(aws, recorded.name, recorded.policyName),
      iam.listInlinePolicyNames(aws, recorded.name),
      iam.listAttachedPolicies(aws, recorded.name),
    ]);
    const bucket = state.resources.bucket;
    const expected = policies.permissionPolicy({
      bucket: bucket?.name ?? '',
      partition: partitionOf(state),
      kmsKeyArn: bucket?.encryption === 'SSE-KMS' ? bucket.kmsKeyArn : undefined,
    });
    if (!inline) add(`the permission policy ${recorded.policyName} is gone`);
    else if (bucket && !policies.policiesEquivalent(inline, expected)) {
      const wider = broadenedBy(inline, expected);
      // "Broadened" only when it still allows all it should and gained more; replaced is "changed".
      const gainedOnly = broadenedBy(expected, inline).length === 0;
      const change = policyDrift(policies, inline, expected);
      add(
        wider.length > 0
          ? `the permission policy ${recorded.policyName} ${gainedOnly ? 'was broadened' : 'changed'}: it now also allows ${wider.join(', ')} (${change})`
          : `the permission policy ${recorded.policyName} changed (${change})`,
      );
    }
    if (recorded.origin === 'created') {
      const others = names.filter((name) => name !== recorded.policyName);
      if (others.length > 0)
        add(`other inline policies were added: ${others.join(', ')}`, FIX.otherPolicies);
      if (attached.length > 0)
        add(
          `managed policies were attached: ${attached.map((policy) => policy.arn).join(', ')}`,
          FIX.otherPolicies,
        );
    }
    return fromFindings(findings, {
      arn: role.arn,
      trustPolicy: role.trustPolicy ?? null,
      permissionPolicy: inline ?? null,
      inlinePolicyNames: names,
      attachedPolicies: attached.map((policy) => policy.arn),
    });
  });
}

/**
 * How a policy found on AWS differs from what setup expects, in words that say which side is which:
 * "expected, missing: ...", "found, not expected: ...", "found ..., expected ...". The lines come
 * from the change setup's repair prints (found -> expected), so both name the same statements.
 */
function policyDrift(
  policies: { describePolicyChange: typeof describePolicyChange },
  found: PolicyDocument | undefined,
  expected: PolicyDocument,
): string {
  const lines = policies.describePolicyChange(found, expected).map((line) => line.trim());
  const parts: string[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    const next = lines[index + 1];
    if (line.startsWith('+ add ')) parts.push(`expected, missing: ${line.slice(6)}`);
    else if (line.startsWith('- remove ')) parts.push(`found, not expected: ${line.slice(9)}`);
    else if (line.startsWith('~ change Version from ')) {
      const [from, to] = line.slice(22).split(' to ');
      parts.push(`found Version ${from}, expected ${to}`);
    } else if (line.startsWith('~ change ') && next?.startsWith('to ')) {
      parts.push(`found ${line.slice(9)}, expected ${next.slice(3)}`);
      index += 1;
    } else parts.push(line);
  }
  return parts.join('; ');
}

function listOf<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Action-on-resource pairs an Allow statement grants; NotAction/NotResource grant "everything but". */
function allowPairs(statement: PolicyStatement): string[] {
  if (statement.Effect !== 'Allow') return [];
  const actions =
    statement.Action !== undefined
      ? listOf(statement.Action).map((a) => a.toLowerCase())
      : [`all actions but ${listOf(statement.NotAction).join('|')}`];
  const resources =
    statement.Resource !== undefined
      ? listOf(statement.Resource)
      : [`all resources but ${listOf(statement.NotResource).join('|')}`];
  return actions.flatMap((action) => resources.map((resource) => `${action} on ${resource}`));
}

/** What `current` allows that `expected` does not (conditions aside). */
export function broadenedBy(current: PolicyDocument, expected: PolicyDocument): string[] {
  const statements = (doc: PolicyDocument) => listOf(doc.Statement);
  const allowed = new Set(statements(expected).flatMap(allowPairs));
  return [...new Set(statements(current).flatMap(allowPairs))].filter((pair) => !allowed.has(pair));
}

// Atlas ------------------------------------------------------------------------------------------

async function checkAtlasRole(session: Session, state: StateFile): Promise<CheckResult> {
  const recorded = state.resources.atlasRole!;
  const { paths } = await atlasApi();
  const call = `GET ${paths.groupPath(state.atlas.projectId, 'cloudProviderAccess', recorded.roleId)}`;
  return guard('atlasRole', recorded.roleId, call, async () => {
    const { access } = await atlasApi();
    const role = await orGone(
      access.getAccessRole(await session.atlas(), state.atlas.projectId, recorded.roleId),
      'atlasRole',
    );
    if (!role) return missing(`Atlas no longer has the access role ${recorded.roleId}`);
    const findings: Finding[] = [];
    const add = (text: string) => findings.push({ text, fix: FIX.setup });
    const expectedArn = state.resources.iamRole?.arn ?? recorded.iamAssumedRoleArn;
    if (!role.authorizedDate || !role.iamAssumedRoleArn) {
      // The state records when setup saw the role authorized; without that, setup never got that far.
      add(
        recorded.authorizedAt
          ? `the role was deauthorized in Atlas (it was authorized ${recorded.authorizedAt}; no IAM role is authorized now)`
          : 'the role is not authorized yet: setup has not finished its authorize step (interrupted, or still running)',
      );
    } else if (expectedArn && role.iamAssumedRoleArn !== expectedArn) {
      add(
        `the role is authorized for another IAM role: ${role.iamAssumedRoleArn}, not ${expectedArn}`,
      );
    }
    if (
      role.atlasAssumedRoleExternalId &&
      role.atlasAssumedRoleExternalId !== recorded.externalId
    ) {
      add(
        `its external id is ${role.atlasAssumedRoleExternalId}, not the ${recorded.externalId} the trust policy names`,
      );
    }
    if (role.atlasAWSAccountArn && role.atlasAWSAccountArn !== recorded.atlasAWSAccountArn) {
      add(
        `Atlas now assumes it from ${role.atlasAWSAccountArn}, not ${recorded.atlasAWSAccountArn}`,
      );
    }
    return fromFindings(findings, {
      iamAssumedRoleArn: role.iamAssumedRoleArn ?? null,
      authorizedDate: role.authorizedDate ?? null,
      atlasAWSAccountArn: role.atlasAWSAccountArn ?? null,
      featureUsages: role.featureUsages ?? [],
    });
  });
}

async function checkPrivateEndpoint(session: Session, state: StateFile): Promise<CheckResult> {
  const recorded = state.resources.privateEndpoint!;
  const { paths } = await atlasApi();
  const call = `GET ${paths.groupPath(state.atlas.projectId, 'backup', 'AWS', 'privateEndpoints', recorded.id)}`;
  return guard('privateEndpoint', recorded.id, call, async () => {
    const { endpoints } = await atlasApi();
    const found = await orGone(
      endpoints.getPrivateEndpoint(await session.atlas(), state.atlas.projectId, recorded.id),
      'privateEndpoint',
    );
    if (!found) return missing(`Atlas no longer has the private endpoint ${recorded.id}`);
    const findings: Finding[] = [];
    if (found.status !== 'ACTIVE') {
      findings.push({
        text: `the endpoint is ${found.status}, not ACTIVE${found.errorMessage ? ` (${found.errorMessage})` : ''}: exports that require private networking cannot run`,
        // A rerun waits for a pending endpoint and replaces a FAILED or DELETING one.
        fix: FIX.setup,
      });
    }
    if (found.regionName !== recorded.regionName)
      findings.push({
        text: `it serves ${found.regionName}, not ${recorded.regionName}`,
        fix: FIX.rebuild,
      });
    const clusterRegion = state.atlas.clusterRegion;
    if (clusterRegion && endpoints.vpcRegionOf(found) !== clusterRegion)
      findings.push({
        text: `its VPC endpoint is in ${endpoints.vpcRegionOf(found)}, not in ${clusterRegion}, the cluster's region: Atlas cannot export through it`,
        fix: FIX.rebuild,
      });
    return fromFindings(findings, {
      status: found.status,
      regionName: found.regionName,
      vpcRegionName: found.vpcRegionName ?? null,
      privateEndpointConnectionName: found.privateEndpointConnectionName ?? null,
    });
  });
}

async function checkExportBucket(session: Session, state: StateFile): Promise<CheckResult> {
  const recorded = state.resources.exportBucket!;
  const { paths } = await atlasApi();
  const call = `GET ${paths.groupPath(state.atlas.projectId, 'backup', 'exportBuckets', recorded.id)}`;
  return guard('exportBucket', recorded.id, call, async () => {
    const { exportBuckets } = await atlasApi();
    const found = await orGone(
      exportBuckets.getExportBucket(await session.atlas(), state.atlas.projectId, recorded.id),
      'exportBucket',
    );
    if (!found) return missing(`Atlas no longer has the export bucket ${recorded.id}`);
    const findings: Finding[] = [];
    if (found.requirePrivateNetworking !== true) {
      findings.push({
        text: 'requirePrivateNetworking is false: exports may travel over public networks instead of the private endpoint',
        fix: FIX.setup,
      });
    }
    const bucketName = state.resources.bucket?.name;
    if (bucketName && found.bucketName !== bucketName)
      findings.push({
        text: `it points to s3://${found.bucketName}, not s3://${bucketName}`,
        fix: FIX.rebuild,
      });
    const roleId = state.resources.atlasRole?.roleId;
    if (roleId && found.iamRoleId !== roleId)
      findings.push({
        text: `it uses access role ${found.iamRoleId}, not ${roleId}`,
        fix: FIX.rebuild,
      });
    return fromFindings(findings, {
      bucketName: found.bucketName,
      iamRoleId: found.iamRoleId,
      requirePrivateNetworking: found.requirePrivateNetworking ?? false,
      region: found.region ?? null,
    });
  });
}

async function checkSchedule(session: Session, state: StateFile): Promise<CheckResult> {
  const recorded = state.resources.schedule!;
  const { paths } = await atlasApi();
  const call = `GET ${paths.clusterPath(state.atlas.projectId, state.atlas.clusterName, 'backup', 'schedule')}`;
  return guard('schedule', state.atlas.clusterName, call, async () => {
    const { schedule } = await atlasApi();
    // The schedule is a part of the cluster, never gone on its own: a 404 (the cluster or the
    // project Atlas cannot find) means the check could not run.
    const current = await schedule.getSchedule(
      await session.atlas(),
      state.atlas.projectId,
      state.atlas.clusterName,
    );
    const observed = {
      autoExportEnabled: current.autoExportEnabled ?? false,
      exportBucketId: current.export?.exportBucketId ?? null,
      frequencyType: current.export?.frequencyType ?? null,
    };
    const fix = FIX.schedule(recorded.frequency);
    if (!current.autoExportEnabled)
      return fromFindings([{ text: 'auto-export is off', fix }], observed);
    const findings: Finding[] = [];
    const ours = state.resources.exportBucket?.id;
    if (ours && current.export?.exportBucketId !== ours) {
      findings.push({
        text: `auto-export points to export bucket ${current.export?.exportBucketId ?? '(none)'}, not ${ours}`,
        fix,
      });
    }
    if (current.export?.frequencyType !== recorded.frequency) {
      findings.push({
        text: `auto-export runs ${current.export?.frequencyType ?? '(no frequency)'}, not ${recorded.frequency}`,
        fix,
      });
    }
    return fromFindings(findings, observed);
  });
}
