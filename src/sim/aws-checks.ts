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
  arnAccount,
  canAssumeRole,
  expectedExternalIds,
  isActionAllowed,
  evaluate,
  parsePolicy,
  PolicyParseError,
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
  /** The cluster's labels, copied into `.complete` (default none). */
  labels?: Array<{ key: string; value: string }>;
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
  const result = canAssumeRole(trust, { principal, externalId: input.externalId });
  if (result.decision === 'explicitDeny') {
    return `The trust policy of ${input.roleArn} explicitly denies sts:AssumeRole to ${principal}${sidNote(result)}.`;
  }
  if (!result.allowed) {
    const ignoringConditions = canAssumeRole(
      trust,
      { principal, externalId: input.externalId },
      { ignoreConditions: true },
    );
    if (!ignoringConditions.allowed) {
      return `The trust policy of ${input.roleArn} does not trust ${principal} to call sts:AssumeRole.`;
    }
    const expected = expectedExternalIds(trust);
    const shown = expected.length > 0 ? ` (it expects ${expected.join(', ')})` : '';
    return `The trust policy of ${input.roleArn} does not accept the external id ${input.externalId}${shown}.`;
  }
  // Allowed with the right id; it must not be allowed with any other (or none).
  const other = `sim-probe-${randomBytes(6).toString('hex')}`;
  const withOther = canAssumeRole(trust, { principal, externalId: other });
  const withNone = canAssumeRole(trust, { principal });
  if (withOther.allowed || withNone.allowed) {
    return (
      `The trust policy of ${input.roleArn} does not require the external id: add the condition ` +
      `StringEquals {"sts:ExternalId": "${input.externalId}"}.`
    );
  }
  return undefined;
}

function sidNote(result: Evaluation): string {
  const sid = result.matched.find((s) => s.sid)?.sid;
  return sid ? ` (statement ${sid})` : '';
}

// ---------------------------------------------------------------------------------------------
// checkExportPermissions

interface RequiredPermission {
  action: string;
  resource: string;
}

/**
 * Whether the role may write exports to the bucket: the bucket exists; the role's inline and attached
 * managed policies (within its permissions boundary, if any) allow s3:GetBucketLocation on the bucket
 * and s3:PutObject on the keys Atlas writes; kms:GenerateDataKey on the bucket's default SSE-KMS key
 * (or `kmsKeyArn`); and the bucket policy does not deny the role any of these over TLS.
 */
export async function checkExportPermissions(
  aws: AwsClients,
  input: { roleArn: string; bucketName: string; kmsKeyArn?: string },
): Promise<CheckResult> {
  const parsed = parseRoleArn(input.roleArn);
  if (!parsed) return { ok: false, reason: `${input.roleArn} is not an IAM role ARN.` };
  const region = await bucketRegion(aws, input.bucketName);
  if (region === undefined)
    return { ok: false, reason: `The S3 bucket ${input.bucketName} does not exist.` };
  const role = await getRole(aws, parsed.name);
  if (!role || role.Arn !== input.roleArn)
    return { ok: false, reason: `No IAM role ${input.roleArn} exists.` };

  const required = await requiredPermissions(aws, input, region, parsed.account);
  const identity = await rolePolicies(aws, parsed.name);
  if (typeof identity === 'string') return { ok: false, reason: identity };
  const boundary = await boundaryPolicy(aws, role);
  if (typeof boundary === 'string') return { ok: false, reason: boundary };
  const bucketPolicy = await getBucketPolicy(aws, input.bucketName);
  if (typeof bucketPolicy === 'string') return { ok: false, reason: bucketPolicy };

  for (const need of required) {
    const problem =
      identityProblem(identity, need, input.roleArn) ??
      boundaryProblem(boundary, need, input.roleArn) ??
      bucketPolicyProblem(bucketPolicy, need, input);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true };
}

async function requiredPermissions(
  aws: AwsClients,
  input: { bucketName: string; kmsKeyArn?: string },
  region: string,
  account: string,
): Promise<RequiredPermission[]> {
  const bucket = `arn:aws:s3:::${input.bucketName}`;
  const required: RequiredPermission[] = [
    { action: 's3:GetBucketLocation', resource: bucket },
    { action: 's3:PutObject', resource: `${bucket}/${PERMISSION_CHECK_KEY}` },
    {
      action: 's3:PutObject',
      resource: `${bucket}/exported_snapshots/org/project/cluster/2024-01-01T0000/1700000000/db/coll/rs0.0.json.gz`,
    },
  ];
  const keys = new Set<string>();
  if (input.kmsKeyArn) keys.add(input.kmsKeyArn);
  const defaultKey = await bucketKmsKey(aws, input.bucketName);
  if (defaultKey !== undefined) keys.add(kmsKeyArn(defaultKey, region, account));
  for (const key of keys) required.push({ action: 'kms:GenerateDataKey', resource: key });
  return required;
}

function kmsKeyArn(key: string, region: string, account: string): string {
  if (key.startsWith('arn:')) return key;
  return key.startsWith('alias/')
    ? `arn:aws:kms:${region}:${account}:${key}`
    : `arn:aws:kms:${region}:${account}:key/${key}`;
}

/** The key id of the bucket's default SSE-KMS encryption; '' for the AWS managed key; undefined without SSE-KMS. */
async function bucketKmsKey(aws: AwsClients, bucketName: string): Promise<string | undefined> {
  const { GetBucketEncryptionCommand } = await import('@aws-sdk/client-s3');
  try {
    const response = await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucketName }));
    for (const rule of response.ServerSideEncryptionConfiguration?.Rules ?? []) {
      const byDefault = rule.ApplyServerSideEncryptionByDefault;
      if (byDefault?.SSEAlgorithm?.startsWith('aws:kms'))
        return byDefault.KMSMasterKeyID ?? 'alias/aws/s3';
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

function identityProblem(
  policies: PolicyDocument[],
  need: RequiredPermission,
  roleArn: string,
): string | undefined {
  const result = isActionAllowed(policies, need.action, need.resource);
  if (result.allowed) return undefined;
  if (result.decision === 'explicitDeny') {
    return `The policies of role ${roleArn} explicitly deny ${need.action} on ${need.resource}${sidNote(result)}.`;
  }
  return `The policies of role ${roleArn} do not allow ${need.action} on ${need.resource}.`;
}

function boundaryProblem(
  boundary: PolicyDocument | undefined,
  need: RequiredPermission,
  roleArn: string,
) {
  if (!boundary || isActionAllowed(boundary, need.action, need.resource).allowed) return undefined;
  return `The permissions boundary of role ${roleArn} does not allow ${need.action} on ${need.resource}.`;
}

function bucketPolicyProblem(
  policy: PolicyDocument | undefined,
  need: RequiredPermission,
  input: { roleArn: string; bucketName: string },
): string | undefined {
  if (!policy || !need.action.startsWith('s3:')) return undefined;
  const context = {
    'aws:SecureTransport': true,
    'aws:PrincipalArn': input.roleArn,
    'aws:PrincipalAccount': arnAccount(input.roleArn),
    'aws:PrincipalType': 'AssumedRole',
  };
  const result = evaluate(policy, {
    action: need.action,
    resource: need.resource,
    principal: input.roleArn,
    context,
  });
  if (result.decision !== 'explicitDeny') return undefined;
  return `The bucket policy of ${input.bucketName} denies ${need.action} on ${need.resource} to ${input.roleArn}${sidNote(result)}.`;
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
 * `<prefix>/.complete`. Returns every key written, `.complete` last.
 */
export async function writeExportFiles(
  aws: AwsClients,
  input: { bucketName: string; prefix: string; meta: ExportMeta; collections: ExportCollection[] },
): Promise<{ files: string[] }> {
  const prefix = input.prefix.replace(/^\/+|\/+$/g, '');
  const replicaSets =
    input.meta.replicaSetNames.length > 0
      ? input.meta.replicaSetNames
      : [`${input.meta.clusterName}-shard-0`];
  const objects = input.collections.flatMap((c) => collectionObjects(prefix, c, replicaSets));
  const written: string[] = [];
  for (const object of objects) {
    await putObject(aws, input.bucketName, object.key, await object.body(), object.contentType);
    written.push(object.key);
  }
  const completeKey = `${prefix}/.complete`;
  const complete = completeDocument(input.meta, written, prefix);
  await putObject(
    aws,
    input.bucketName,
    completeKey,
    JSON.stringify(complete, null, 2),
    'application/json',
  );
  return { files: [...written, completeKey] };
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
 * The `.complete` document. Field names are the ones MongoDB documents for it (orgId, orgName,
 * groupId, groupName, clusterUniqueId, clusterName, snapshotInitiationDate, totalFiles, labels,
 * customData). `files`, the keys written relative to the prefix, is the simulator's own addition so
 * tests and rehearsals can check the export is whole; real Atlas files carry only `totalFiles`.
 */
function completeDocument(meta: ExportMeta, written: string[], prefix: string): object {
  return {
    orgId: meta.orgId,
    orgName: meta.orgName,
    groupId: meta.groupId,
    groupName: meta.groupName,
    clusterUniqueId: meta.clusterUniqueId,
    clusterName: meta.clusterName,
    snapshotInitiationDate: meta.snapshotInitiationDate,
    totalFiles: written.length,
    labels: meta.labels ?? [],
    customData: meta.customData ?? [],
    files: written.map((key) => key.slice(prefix.length + 1)),
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
