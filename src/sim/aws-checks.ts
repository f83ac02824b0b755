/**
 * What the simulated Atlas checks and writes on the customer's AWS side (moto): whether it may assume
 * the customer's IAM role, whether that role may write exports to the bucket, the bucket's region,
 * and the files an export leaves in the bucket. moto does not evaluate trust policies, external ids
 * or identity policies, so the decisions are made by `policy-eval.ts` on the documents moto stores.
 */
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { AwsClients } from '../aws/clients.js';
import {
  canAssumeRole,
  evaluate,
  expectedExternalIds,
  parsePolicy,
  PolicyParseError,
  type AuthzRequest,
  type ConditionIssue,
  type Evaluation,
  type PolicyDocument,
} from './policy-eval.js';

export type CheckResult = { ok: true } | { ok: false; reason: string };

export interface ExportMeta {
  orgId: string;
  orgName: string;
  groupId: string;
  groupName: string;
  clusterName: string;
  clusterUniqueId: string;
  snapshotId: string;
  snapshotInitiationDate: string;
  replicaSetNames: string[];
  /** The export job's customData, copied into `.complete` (default none). */
  customData?: Array<{ key: string; value: string }>;
}

export interface ExportCollection {
  db: string;
  collection: string;
  documents: object[];
}

/** Key Atlas writes when an export bucket is added and when an export starts. */
export const PERMISSION_CHECK_KEY = 'exported_snapshots/.permissioncheck';

/** Documents per data file; Atlas splits large collections into numbered chunks starting at 0. */
export const DOCUMENTS_PER_FILE = 1000;

const gzipAsync = promisify(gzip);

// ---------------------------------------------------------------------------------------------
// Small AWS helpers

function errorName(error: unknown): string {
  const e = error as { name?: string; Code?: string; Error?: { Code?: string } };
  return e?.Code ?? e?.Error?.Code ?? e?.name ?? '';
}

function isNotFound(error: unknown, ...names: string[]): boolean {
  const name = errorName(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return names.includes(name) || (names.includes('404') && status === 404);
}

interface ParsedRoleArn {
  account: string;
  name: string;
}

/** `arn:aws:iam::123456789012:role/path/name` -> account and name (IAM's GetRole takes the name only). */
export function parseRoleArn(roleArn: string): ParsedRoleArn | undefined {
  const match = /^arn:aws[\w-]*:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/.exec(
    roleArn,
  );
  return match ? { account: match[1] ?? '', name: match[2] ?? '' } : undefined;
}

type IamRole = {
  Arn?: string;
  CreateDate?: Date;
  AssumeRolePolicyDocument?: string;
  PermissionsBoundary?: { PermissionsBoundaryArn?: string };
};

async function getRole(aws: AwsClients, name: string): Promise<IamRole | undefined> {
  const { GetRoleCommand } = await import('@aws-sdk/client-iam');
  try {
    const response = await aws.iam.send(new GetRoleCommand({ RoleName: name }));
    return response.Role;
  } catch (error) {
    if (isNotFound(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw error;
  }
}

function parseOrReason(document: string | undefined, what: string): PolicyDocument | string {
  if (!document) return `${what} is empty.`;
  try {
    return parsePolicy(document);
  } catch (error) {
    if (error instanceof PolicyParseError) return `${what} cannot be read: ${error.message}`;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// checkAssumeRole

/**
 * Whether Atlas (`atlasAWSAccountArn`) may assume `roleArn` presenting `externalId`: the role exists
 * with exactly that ARN, its trust policy allows sts:AssumeRole for that principal, and it requires
 * that external id (a trust policy without the condition would let anyone's Atlas project use the
 * role, which Atlas refuses too).
 */
export async function checkAssumeRole(
  aws: AwsClients,
  input: { roleArn: string; atlasAWSAccountArn: string; externalId: string },
): Promise<CheckResult & { roleCreatedAt?: Date }> {
  const parsed = parseRoleArn(input.roleArn);
  if (!parsed) return { ok: false, reason: `${input.roleArn} is not an IAM role ARN.` };
  const role = await getRole(aws, parsed.name);
  if (!role)
    return { ok: false, reason: `No IAM role named ${parsed.name} exists (${input.roleArn}).` };
  const roleCreatedAt = role.CreateDate;
  if (role.Arn !== input.roleArn) {
    return {
      ok: false,
      reason: `The IAM role ${parsed.name} has the ARN ${role.Arn}, not ${input.roleArn}.`,
      roleCreatedAt,
    };
  }
  const trust = parseOrReason(
    role.AssumeRolePolicyDocument,
    `The trust policy of ${input.roleArn}`,
  );
  if (typeof trust === 'string') return { ok: false, reason: trust, roleCreatedAt };
  const reason = trustProblem(trust, input);
  return reason ? { ok: false, reason, roleCreatedAt } : { ok: true, roleCreatedAt };
}

function trustProblem(
  trust: PolicyDocument,
  input: { roleArn: string; atlasAWSAccountArn: string; externalId: string },
) {
  const principal = input.atlasAWSAccountArn;
  const policy = `The trust policy of ${input.roleArn}`;
  const result = canAssumeRole(trust, { principal, externalId: input.externalId });
  if (result.decision === 'explicitDeny') {
    return `${policy} explicitly denies sts:AssumeRole to ${principal}${sidNote(result)}.`;
  }
  if (!result.allowed) {
    const unmet = result.unmet[0];
    if (!unmet) return untrustedReason(trust, policy, principal);
    const { issue } = unmet;
    if (issue.kind === 'fails' && issue.key.toLowerCase() === 'sts:externalid') {
      const expected = expectedExternalIds(trust);
      const shown = expected.length > 0 ? ` (it expects ${expected.join(', ')})` : '';
      return `${policy} does not accept the external id ${input.externalId}${shown}.`;
    }
    const sid = unmet.statement.sid ? ` (statement ${unmet.statement.sid})` : '';
    return `${policy} trusts ${principal} only under a condition Atlas's AssumeRole request does not meet: ${describeIssue(issue)}${sid}.`;
  }
  // Allowed with the right id; it must not be allowed with any other (or none).
  const other = `sim-probe-${randomBytes(6).toString('hex')}`;
  const withOther = canAssumeRole(trust, { principal, externalId: other });
  const withNone = canAssumeRole(trust, { principal });
  if (withOther.allowed || withNone.allowed) {
    return (
      `${policy} does not require the external id: add the condition ` +
      `StringEquals {"sts:ExternalId": "${input.externalId}"}.`
    );
  }
  return undefined;
}

/** Why no statement trusts the principal at all (conditions aside). */
function untrustedReason(trust: PolicyDocument, policy: string, principal: string): string {
  const notPrincipal = trust.statements.some((s) => s.effect === 'Allow' && s.notPrincipal);
  if (notPrincipal) {
    return `${policy} grants sts:AssumeRole with NotPrincipal, which IAM does not accept in a trust policy (an Allow needs Principal): it does not trust ${principal}.`;
  }
  return `${policy} does not trust ${principal} to call sts:AssumeRole.`;
}

function sidNote(result: Evaluation): string {
  const sid = result.matched.find((s) => s.sid)?.sid;
  return sid ? ` (statement ${sid})` : '';
}

// ---------------------------------------------------------------------------------------------
// What Atlas's assumed-role session may do in the bucket

/** The session name the simulated Atlas gives its AssumeRole sessions (Atlas does not document its own). */
export const ATLAS_SESSION_NAME = 'mongodb-atlas-export';

/** The condition keys a request of Atlas's session to S3 carries, as the simulator models it. */
export const EXPORT_REQUEST_KEYS = [
  'aws:SecureTransport',
  'aws:PrincipalArn',
  'aws:PrincipalAccount',
  'aws:PrincipalType',
  'aws:SourceVpce',
] as const;

export interface ExportAccessInput {
  roleArn: string;
  bucketName: string;
  /** A KMS key to require besides the bucket's default encryption key. */
  kmsKeyArn?: string;
  /** The VPC endpoint the requests travel through (a private-networking export), if any. */
  sourceVpce?: string;
}

/** What Atlas's session may do in one bucket, from the role's and the bucket's policies read once. */
export interface ExportAccess {
  /** Why the session may not call s3:GetBucketLocation on the bucket, or undefined when it may. */
  locationProblem(): string | undefined;
  /** Why it may not write `key` (s3:PutObject, and the KMS actions with SSE-KMS), or undefined. */
  writeProblem(key: string): string | undefined;
}

/** `arn:aws:iam::123456789012:role/path/name` -> its session ARN `arn:aws:sts::123456789012:assumed-role/name/<session>`. */
export function sessionArn(roleArn: string): string {
  const parsed = parseRoleArn(roleArn);
  const partition = roleArn.split(':')[1] ?? 'aws';
  return `arn:${partition}:sts::${parsed?.account ?? ''}:assumed-role/${parsed?.name ?? ''}/${ATLAS_SESSION_NAME}`;
}

/**
 * Reads the role (inline and attached managed policies, permissions boundary), the bucket policy and
 * the bucket's default encryption, and answers for the session Atlas gets by assuming the role: its
 * requests carry TLS, the role's ARN and account, and aws:SourceVpce when they travel over the
 * private endpoint. With SSE-KMS under a customer key, every write needs kms:GenerateDataKey and
 * kms:Decrypt on the key's ARN; the AWS managed key (aws/s3) needs nothing in the role's policies.
 */
export async function loadExportAccess(
  aws: AwsClients,
  input: ExportAccessInput,
): Promise<ExportAccess | { reason: string }> {
  const parsed = parseRoleArn(input.roleArn);
  if (!parsed) return { reason: `${input.roleArn} is not an IAM role ARN.` };
  const region = await bucketRegion(aws, input.bucketName);
  if (region === undefined) return { reason: `The S3 bucket ${input.bucketName} does not exist.` };
  const role = await getRole(aws, parsed.name);
  if (!role || role.Arn !== input.roleArn)
    return { reason: `No IAM role ${input.roleArn} exists.` };
  const identity = await rolePolicies(aws, parsed.name);
  if (typeof identity === 'string') return { reason: identity };
  const boundary = await boundaryPolicy(aws, role);
  if (typeof boundary === 'string') return { reason: boundary };
  const bucketPolicy = await getBucketPolicy(aws, input.bucketName);
  if (typeof bucketPolicy === 'string') return { reason: bucketPolicy };
  const kms = await kmsKeys(aws, input, region, parsed.account);
  if (typeof kms === 'string') return { reason: kms };

  const request = {
    principal: sessionArn(input.roleArn),
    principalRole: input.roleArn,
    context: {
      'aws:SecureTransport': true,
      'aws:PrincipalArn': input.roleArn,
      'aws:PrincipalAccount': parsed.account,
      'aws:PrincipalType': 'AssumedRole',
      'aws:SourceVpce': input.sourceVpce,
    },
    knownKeys: EXPORT_REQUEST_KEYS,
  };
  const problem = (need: RequiredPermission) =>
    identityProblem(identity, need, input.roleArn, request) ??
    boundaryProblem(boundary, need, input.roleArn, request) ??
    bucketPolicyProblem(bucketPolicy, need, input, request);
  const kmsNeeds = kms.flatMap((key) =>
    KMS_ACTIONS.map((action): RequiredPermission => ({ action, resource: key })),
  );
  const kmsProblem = kmsNeeds.map(problem).find((p) => p !== undefined);
  const bucketArn = `arn:aws:s3:::${input.bucketName}`;
  return {
    locationProblem: () => problem({ action: 's3:GetBucketLocation', resource: bucketArn }),
    writeProblem: (key) =>
      problem({ action: 's3:PutObject', resource: `${bucketArn}/${key}` }) ?? kmsProblem,
  };
}

// ---------------------------------------------------------------------------------------------
// checkExportPermissions

interface RequiredPermission {
  action: string;
  resource: string;
}

const KMS_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'];

/**
 * Whether Atlas's session may do what adding an export bucket or starting an export does: read the
 * bucket's location and write each of `keys` (default: the `.permissioncheck` object Atlas writes
 * then). The bucket must exist, and the role's policies (within its permissions boundary), the bucket
 * policy and, with SSE-KMS, the key permissions must allow it.
 */
export async function checkExportPermissions(
  aws: AwsClients,
  input: ExportAccessInput & { keys?: string[] },
): Promise<CheckResult> {
  const access = await loadExportAccess(aws, input);
  if ('reason' in access) return { ok: false, reason: access.reason };
  const problem =
    access.locationProblem() ??
    (input.keys ?? [PERMISSION_CHECK_KEY]).map((key) => access.writeProblem(key)).find(Boolean);
  return problem ? { ok: false, reason: problem } : { ok: true };
}

/**
 * The KMS key ARNs a write must be allowed to use: the bucket's default SSE-KMS key (unless it is the
 * AWS managed aws/s3 key) and `kmsKeyArn`; or a reason when the default key is named by an alias,
 * which the simulator cannot resolve to the key's ARN (its AWS clients have no KMS).
 */
async function kmsKeys(
  aws: AwsClients,
  input: { bucketName: string; kmsKeyArn?: string },
  region: string,
  account: string,
): Promise<string[] | string> {
  const keys = new Set<string>();
  if (input.kmsKeyArn) keys.add(input.kmsKeyArn);
  const defaultKey = await bucketKmsKey(aws, input.bucketName);
  if (defaultKey !== undefined && !isAwsManagedS3Key(defaultKey)) {
    if (/(^|:)alias\//.test(defaultKey)) {
      return (
        `The default encryption of ${input.bucketName} names the KMS alias ${defaultKey}; KMS decides on ` +
        'the key ARN, which the simulator cannot look up: set the key ARN as the default encryption key.'
      );
    }
    keys.add(
      defaultKey.startsWith('arn:')
        ? defaultKey
        : `arn:aws:kms:${region}:${account}:key/${defaultKey}`,
    );
  }
  return [...keys];
}

/** The AWS managed key for S3: no key id at all, `alias/aws/s3`, or that alias's ARN. */
function isAwsManagedS3Key(key: string): boolean {
  return (
    key === '' || key === 'alias/aws/s3' || /^arn:[\w-]+:kms:[^:]*:\d{12}:alias\/aws\/s3$/.test(key)
  );
}

/** The key id of the bucket's default SSE-KMS encryption; '' for the AWS managed key; undefined without SSE-KMS. */
async function bucketKmsKey(aws: AwsClients, bucketName: string): Promise<string | undefined> {
  const { GetBucketEncryptionCommand } = await import('@aws-sdk/client-s3');
  try {
    const response = await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucketName }));
    for (const rule of response.ServerSideEncryptionConfiguration?.Rules ?? []) {
      const byDefault = rule.ApplyServerSideEncryptionByDefault;
      if (byDefault?.SSEAlgorithm?.startsWith('aws:kms')) return byDefault.KMSMasterKeyID ?? '';
    }
    return undefined;
  } catch (error) {
    if (isNotFound(error, 'ServerSideEncryptionConfigurationNotFoundError')) return undefined;
    throw error;
  }
}

/** All inline and attached managed policy documents of a role, or a reason one cannot be read. */
async function rolePolicies(aws: AwsClients, roleName: string): Promise<PolicyDocument[] | string> {
  const documents: PolicyDocument[] = [];
  for (const [name, text] of await inlinePolicies(aws, roleName)) {
    const doc = parseOrReason(text, `The inline policy ${name} of role ${roleName}`);
    if (typeof doc === 'string') return doc;
    documents.push(doc);
  }
  for (const arn of await attachedPolicyArns(aws, roleName)) {
    const doc = parseOrReason(await managedPolicyDocument(aws, arn), `The managed policy ${arn}`);
    if (typeof doc === 'string') return doc;
    documents.push(doc);
  }
  return documents;
}

async function inlinePolicies(
  aws: AwsClients,
  roleName: string,
): Promise<Array<[string, string | undefined]>> {
  const { ListRolePoliciesCommand, GetRolePolicyCommand } = await import('@aws-sdk/client-iam');
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await aws.iam.send(
      new ListRolePoliciesCommand({ RoleName: roleName, Marker: marker }),
    );
    names.push(...(page.PolicyNames ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return Promise.all(
    names.map(async (name): Promise<[string, string | undefined]> => {
      const response = await aws.iam.send(
        new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }),
      );
      return [name, response.PolicyDocument];
    }),
  );
}

async function attachedPolicyArns(aws: AwsClients, roleName: string): Promise<string[]> {
  const { ListAttachedRolePoliciesCommand } = await import('@aws-sdk/client-iam');
  const arns: string[] = [];
  let marker: string | undefined;
  do {
    const page = await aws.iam.send(
      new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker: marker }),
    );
    for (const policy of page.AttachedPolicies ?? [])
      if (policy.PolicyArn) arns.push(policy.PolicyArn);
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return arns;
}

async function managedPolicyDocument(
  aws: AwsClients,
  policyArn: string,
): Promise<string | undefined> {
  const { GetPolicyCommand, GetPolicyVersionCommand } = await import('@aws-sdk/client-iam');
  const policy = await aws.iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
  const versionId = policy.Policy?.DefaultVersionId;
  if (!versionId) return undefined;
  const version = await aws.iam.send(
    new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: versionId }),
  );
  return version.PolicyVersion?.Document;
}

async function boundaryPolicy(
  aws: AwsClients,
  role: IamRole,
): Promise<PolicyDocument | undefined | string> {
  const arn = role.PermissionsBoundary?.PermissionsBoundaryArn;
  if (!arn) return undefined;
  return parseOrReason(await managedPolicyDocument(aws, arn), `The permissions boundary ${arn}`);
}

/** The bucket policy, undefined if the bucket has none, or a reason it cannot be read. */
async function getBucketPolicy(
  aws: AwsClients,
  bucketName: string,
): Promise<PolicyDocument | undefined | string> {
  const { GetBucketPolicyCommand } = await import('@aws-sdk/client-s3');
  try {
    const response = await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucketName }));
    return parseOrReason(response.Policy, `The bucket policy of ${bucketName}`);
  } catch (error) {
    if (isNotFound(error, 'NoSuchBucketPolicy')) return undefined;
    throw error;
  }
}

type SessionRequest = Omit<AuthzRequest, 'action' | 'resource'>;

function identityProblem(
  policies: PolicyDocument[],
  need: RequiredPermission,
  roleArn: string,
  request: SessionRequest,
): string | undefined {
  const result = evaluate(policies, { ...request, principal: undefined, ...need });
  if (result.allowed) return undefined;
  if (result.decision === 'explicitDeny') {
    return `The policies of role ${roleArn} explicitly deny ${need.action} on ${need.resource}${sidNote(result)}.`;
  }
  return `The policies of role ${roleArn} do not allow ${need.action} on ${need.resource}${unmetNote(result)}.`;
}

function boundaryProblem(
  boundary: PolicyDocument | undefined,
  need: RequiredPermission,
  roleArn: string,
  request: SessionRequest,
) {
  if (!boundary) return undefined;
  const result = evaluate(boundary, { ...request, principal: undefined, ...need });
  if (result.allowed) return undefined;
  return `The permissions boundary of role ${roleArn} does not allow ${need.action} on ${need.resource}${unmetNote(result)}.`;
}

function bucketPolicyProblem(
  policy: PolicyDocument | undefined,
  need: RequiredPermission,
  input: { roleArn: string; bucketName: string },
  request: SessionRequest,
): string | undefined {
  if (!policy || !need.action.startsWith('s3:')) return undefined;
  const result = evaluate(policy, { ...request, ...need });
  if (result.decision !== 'explicitDeny') return undefined;
  return `The bucket policy of ${input.bucketName} denies ${need.action} on ${need.resource} to ${request.principal} (a session of ${input.roleArn})${sidNote(result)}.`;
}

/** Names the condition that kept an otherwise matching Allow from applying, if one did. */
function unmetNote(result: Evaluation): string {
  const first = result.unmet[0];
  return first
    ? ` (${describeIssue(first.issue)}${first.statement.sid ? ` in statement ${first.statement.sid}` : ''})`
    : '';
}

/** A condition that did not hold or could not be decided, in words. */
export function describeIssue(issue: ConditionIssue): string {
  if (issue.kind === 'unknownOperator')
    return `the condition operator ${issue.operator} is one the simulator cannot evaluate`;
  if (issue.kind === 'unknownKey')
    return `the condition ${issue.operator} on ${issue.key} uses a key the simulator does not know for this request`;
  const actual = issue.actual?.length ? issue.actual.join(', ') : 'absent';
  return `the condition ${issue.operator} on ${issue.key} does not hold (${issue.key} is ${actual})`;
}

// ---------------------------------------------------------------------------------------------
// Bucket region and writes

/** The bucket's region in AWS form ('us-east-1'), or undefined when there is no such bucket. */
export async function bucketRegion(
  aws: AwsClients,
  bucketName: string,
): Promise<string | undefined> {
  const { GetBucketLocationCommand } = await import('@aws-sdk/client-s3');
  try {
    const response = await aws.s3.send(new GetBucketLocationCommand({ Bucket: bucketName }));
    const constraint = response.LocationConstraint as string | undefined;
    // S3 reports us-east-1 as an empty constraint and the oldest eu-west-1 buckets as "EU".
    if (!constraint) return 'us-east-1';
    return constraint === 'EU' ? 'eu-west-1' : constraint;
  } catch (error) {
    if (isNotFound(error, 'NoSuchBucket', 'NotFound', '404')) return undefined;
    throw error;
  }
}

/** Writes the empty object Atlas writes when a bucket is added and when an export starts. */
export async function writePermissionCheck(aws: AwsClients, bucketName: string): Promise<void> {
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await aws.s3.send(
    new PutObjectCommand({
      Bucket: bucketName,
      Key: PERMISSION_CHECK_KEY,
      Body: Buffer.alloc(0),
      ContentLength: 0,
    }),
  );
}

/**
 * Writes an export as Atlas lays it out: per collection, gzip-compressed extended JSON data files
 * `<prefix>/<db>/<collection>/<replicaSetName>.<n>.json.gz` (n from 0; a sharded cluster's documents
 * are spread over its shards' replica sets) and `<prefix>/<db>/<collection>/metadata.json`; then, last,
 * `<prefix>/.complete`. With `access`, each object is written only if Atlas's session may write that
 * key; the first it may not stops the export there (what was written stays, as in Atlas). Returns
 * every key written, `.complete` last, and the refusal if there was one.
 */
export async function writeExportFiles(
  aws: AwsClients,
  input: {
    bucketName: string;
    prefix: string;
    meta: ExportMeta;
    collections: ExportCollection[];
    access?: Pick<ExportAccess, 'writeProblem'>;
  },
): Promise<{ files: string[]; denied?: { key: string; reason: string } }> {
  const prefix = input.prefix.replace(/^\/+|\/+$/g, '');
  const replicaSets =
    input.meta.replicaSetNames.length > 0
      ? input.meta.replicaSetNames
      : [`${input.meta.clusterName}-shard-0`];
  const objects = input.collections.flatMap((c) => collectionObjects(prefix, c, replicaSets));
  const written: string[] = [];
  const completeKey = `${prefix}/.complete`;
  const all: PendingObject[] = [
    ...objects,
    {
      key: completeKey,
      contentType: 'application/json',
      body: async () => JSON.stringify(completeDocument(input.meta, written.length), null, 2),
    },
  ];
  for (const object of all) {
    const reason = input.access?.writeProblem(object.key);
    if (reason) return { files: written, denied: { key: object.key, reason } };
    await putObject(aws, input.bucketName, object.key, await object.body(), object.contentType);
    written.push(object.key);
  }
  return { files: written };
}

interface PendingObject {
  key: string;
  contentType: string;
  body: () => Promise<Buffer | string>;
}

function collectionObjects(
  prefix: string,
  collection: ExportCollection,
  replicaSets: string[],
): PendingObject[] {
  const dir = `${prefix}/${collection.db}/${collection.collection}`;
  const objects: PendingObject[] = [];
  replicaSets.forEach((replicaSet, shard) => {
    const documents = collection.documents.filter((_, i) => i % replicaSets.length === shard);
    const chunks = chunk(documents, DOCUMENTS_PER_FILE);
    chunks.forEach((docs, n) => {
      objects.push({
        key: `${dir}/${replicaSet}.${n}.json.gz`,
        contentType: 'application/gzip',
        body: () =>
          gzipAsync(
            Buffer.from(docs.map((d) => `${JSON.stringify(toExtendedJson(d))}\n`).join('')),
          ),
      });
    });
  });
  objects.push({
    key: `${dir}/metadata.json`,
    contentType: 'application/json',
    body: async () => JSON.stringify(collectionMetadata(collection)),
  });
  return objects;
}

/** Splits into chunks of `size`; an empty list still gives one (empty) chunk, so every shard has a file. */
function chunk<T>(items: T[], size: number): T[][] {
  if (items.length === 0) return [[]];
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Relaxed extended JSON for the value types plain seed documents can hold. */
export function toExtendedJson(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (typeof value === 'bigint') return { $numberLong: value.toString() };
  if (Array.isArray(value)) return value.map(toExtendedJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toExtendedJson(v)]));
  }
  return value;
}

function collectionMetadata(collection: ExportCollection): object {
  return {
    collectionName: collection.collection,
    db: collection.db,
    type: 'collection',
    options: {},
    indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }],
    uuid: randomBytes(16).toString('hex'),
  };
}

/**
 * The `.complete` document, with exactly the fields MongoDB documents for it (orgId, orgName, groupId,
 * groupName, clusterUniqueId, clusterName, snapshotInitiationDate, totalFiles: the objects written
 * before it), plus the job's customData when it has some ("custom data to add to the metadata file").
 */
function completeDocument(meta: ExportMeta, totalFiles: number): object {
  return {
    orgId: meta.orgId,
    orgName: meta.orgName,
    groupId: meta.groupId,
    groupName: meta.groupName,
    clusterUniqueId: meta.clusterUniqueId,
    clusterName: meta.clusterName,
    snapshotInitiationDate: meta.snapshotInitiationDate,
    totalFiles,
    ...(meta.customData?.length ? { customData: meta.customData } : {}),
  };
}

async function putObject(
  aws: AwsClients,
  bucket: string,
  key: string,
  body: Buffer | string,
  contentType: string,
) {
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await aws.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
  );
}
