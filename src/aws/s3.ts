/**
 * The S3 operations the tool uses: finding out whether a bucket exists and whose it is, creating a
 * private encrypted bucket, reading and hardening its security settings, its bucket policy, and the
 * object reads and clean-up used by verification and teardown.
 *
 * Calls on one bucket must go to that bucket's region: create the clients with
 * `createAwsClients({ region })` for the bucket's region.
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetBucketLocationCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type ServerSideEncryptionRule,
} from '@aws-sdk/client-s3';
import { CliError, ExitCode } from '../errors.js';
import { locationConstraintFor, regionFromLocationConstraint } from '../regions.js';
import type { AwsClients } from './clients.js';
import { awsError, awsHttpStatus, isAwsError, withAwsErrors } from './errors.js';
import { parsePolicyDocument, type PolicyDocument } from './policies.js';

const bucketLabel = (name: string) => `bucket "${name}"`;

// Inspecting -------------------------------------------------------------------------------------

export type BucketInspection =
  | { exists: false }
  | {
      exists: true;
      /** False when the bucket belongs to another AWS account. */
      owned: boolean;
      region: string;
    };

/**
 * Whether a bucket exists, whether this account owns it, and its region. HeadBucket with
 * ExpectedBucketOwner answers 403 for a bucket of another account and 301 for one in another region
 * than the client's; both name the region in `x-amz-bucket-region`. S3-compatible endpoints may
 * ignore ExpectedBucketOwner, so ownership is confirmed against the account's bucket list when the
 * identity may list it.
 */
export async function inspectBucket(
  clients: AwsClients,
  name: string,
  accountId: string,
): Promise<BucketInspection> {
  let region: string | undefined;
  let status = 200;
  try {
    const head = await clients.s3.send(
      new HeadBucketCommand({ Bucket: name, ExpectedBucketOwner: accountId }),
    );
    region = head.BucketRegion;
  } catch (error) {
    status = awsHttpStatus(error) ?? 0;
    if (status === 404 || isAwsError(error, 'NotFound', 'NoSuchBucket')) return { exists: false };
    if (status !== 301 && status !== 403)
      throw awsError(error, { action: 's3:HeadBucket', resource: bucketLabel(name) });
    region = bucketRegionHeader(error);
  }
  if (status === 403) return { exists: true, owned: false, region: region ?? 'unknown' };
  const listed = await isInOwnBucketList(clients, name);
  const owned = listed ?? true;
  return {
    exists: true,
    owned,
    region: region ?? (owned ? await getBucketRegion(clients, name) : 'unknown'),
  };
}

function bucketRegionHeader(error: unknown): string | undefined {
  const response = (error as { $response?: { headers?: Record<string, string> } }).$response;
  return response?.headers?.['x-amz-bucket-region'];
}

/** True/false from ListBuckets, or undefined when the identity may not list buckets. */
async function isInOwnBucketList(clients: AwsClients, name: string): Promise<boolean | undefined> {
  let token: string | undefined;
  try {
    do {
      const page = await clients.s3.send(
        new ListBucketsCommand({ Prefix: name, ContinuationToken: token }),
      );
      if (page.Buckets?.some((bucket) => bucket.Name === name)) return true;
      token = page.ContinuationToken;
    } while (token);
    return false;
  } catch (error) {
    if (isAwsError(error, 'AccessDenied')) return undefined;
    throw awsError(error, { action: 's3:ListAllMyBuckets' });
  }
}

export async function getBucketRegion(clients: AwsClients, name: string): Promise<string> {
  const answer = await withAwsErrors(
    { action: 's3:GetBucketLocation', resource: bucketLabel(name) },
    () => clients.s3.send(new GetBucketLocationCommand({ Bucket: name })),
  );
  return regionFromLocationConstraint(answer.LocationConstraint);
}

/** Why an inspected bucket cannot be used for a bucket wanted in `region`, or undefined. */
export function describeBucketConflict(
  name: string,
  inspection: BucketInspection,
  region: string,
): string | undefined {
  if (!inspection.exists) return undefined;
  if (!inspection.owned)
    return `The bucket name "${name}" is taken by another AWS account; bucket names are global.`;
  if (inspection.region !== region) {
    return `Bucket "${name}" already exists in this account, but in ${inspection.region}, not ${region}.`;
  }
  return undefined;
}

// Creating and hardening -------------------------------------------------------------------------

export type BucketEncryptionKind = 'SSE-S3' | 'SSE-KMS';

export interface BucketSecurityDesired {
  encryption: BucketEncryptionKind;
  /** Required with SSE-KMS. */
  kmsKeyArn?: string;
}

export interface CreateBucketInput extends BucketSecurityDesired {
  name: string;
  /** AWS form, e.g. eu-west-1. */
  region: string;
}

export interface CreateBucketResult {
  /** False when the bucket already existed in this account and was adopted. */
  created: boolean;
}

/**
 * Creates the bucket (adopting it when this account already owns it), then blocks all public
 * access, sets default encryption and enforces bucket-owner object ownership.
 */
export async function createPrivateBucket(
  clients: AwsClients,
  input: CreateBucketInput,
): Promise<CreateBucketResult> {
  assertClientRegion(clients, input.region, input.name);
  const constraint = locationConstraintFor(input.region);
  let created = true;
  try {
    await clients.s3.send(
      new CreateBucketCommand({
        Bucket: input.name,
        ...(constraint
          ? {
              CreateBucketConfiguration: {
                LocationConstraint: constraint as BucketLocationConstraint,
              },
            }
          : {}),
      }),
    );
  } catch (error) {
    if (!isAwsError(error, 'BucketAlreadyOwnedByYou')) throw createBucketError(error, input.name);
    created = false;
  }
  await applyBucketSecurity(clients, input.name, input);
  return { created };
}

function assertClientRegion(clients: AwsClients, region: string, name: string): void {
  if (clients.region === region) return;
  throw new CliError(
    `Internal: S3 clients for ${clients.region} were used to create bucket "${name}" in ${region}.`,
    {
      code: 'AWS_CLIENT_REGION_MISMATCH',
      hint: 'Create the AWS clients with the bucket region: createAwsClients({ region }).',
    },
  );
}

function createBucketError(error: unknown, name: string): CliError {
  if (isAwsError(error, 'BucketAlreadyExists')) {
    return new CliError(
      `The bucket name "${name}" is taken by another AWS account; bucket names are global.`,
      {
        code: 'BUCKET_NAME_TAKEN',
        exitCode: ExitCode.cloud,
        hint: 'Choose another bucket name (for example with your account id or a random suffix) and rerun.',
        cause: error,
      },
    );
  }
  return awsError(error, { action: 's3:CreateBucket', resource: bucketLabel(name) });
}

function encryptionRule(desired: BucketSecurityDesired): ServerSideEncryptionRule {
  if (desired.encryption === 'SSE-S3')
    return { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } };
  if (!desired.kmsKeyArn) {
    throw new CliError('Internal: SSE-KMS bucket encryption was requested without a KMS key ARN.', {
      code: 'KMS_KEY_MISSING',
    });
  }
  return {
    ApplyServerSideEncryptionByDefault: {
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: desired.kmsKeyArn,
    },
    BucketKeyEnabled: true,
  };
}

async function putPublicAccessBlock(clients: AwsClients, name: string): Promise<void> {
  await withAwsErrors(
    { action: 's3:PutBucketPublicAccessBlock', resource: bucketLabel(name) },
    () =>
      clients.s3.send(
        new PutPublicAccessBlockCommand({
          Bucket: name,
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            IgnorePublicAcls: true,
            BlockPublicPolicy: true,
            RestrictPublicBuckets: true,
          },
        }),
      ),
  );
}

async function putEncryption(
  clients: AwsClients,
  name: string,
  desired: BucketSecurityDesired,
): Promise<void> {
  const rule = encryptionRule(desired);
  await withAwsErrors(
    { action: 's3:PutEncryptionConfiguration', resource: bucketLabel(name) },
    () =>
      clients.s3.send(
        new PutBucketEncryptionCommand({
          Bucket: name,
          ServerSideEncryptionConfiguration: { Rules: [rule] },
        }),
      ),
  );
}

async function putOwnershipControls(clients: AwsClients, name: string): Promise<void> {
  await withAwsErrors(
    { action: 's3:PutBucketOwnershipControls', resource: bucketLabel(name) },
    () =>
      clients.s3.send(
        new PutBucketOwnershipControlsCommand({
          Bucket: name,
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        }),
      ),
  );
}

async function applyBucketSecurity(
  clients: AwsClients,
  name: string,
  desired: BucketSecurityDesired,
): Promise<void> {
  await putPublicAccessBlock(clients, name);
  await putEncryption(clients, name, desired);
  await putOwnershipControls(clients, name);
}

export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

export interface BucketEncryption {
  kind: BucketEncryptionKind | 'other';
  kmsKeyArn?: string;
  bucketKeyEnabled?: boolean;
}

export interface BucketSecurity {
  publicAccessBlock: PublicAccessBlock | undefined;
  encryption: BucketEncryption | undefined;
  policy: PolicyDocument | undefined;
  /** The object ownership setting, e.g. BucketOwnerEnforced; undefined when none is set. */
  objectOwnership: string | undefined;
}

/** Reads the bucket's security settings; a setting that is not configured reads as undefined. */
export async function readBucketSecurity(
  clients: AwsClients,
  name: string,
): Promise<BucketSecurity> {
  const [publicAccessBlock, encryption, policy, objectOwnership] = await Promise.all([
    readPublicAccessBlock(clients, name),
    readEncryption(clients, name),
    getBucketPolicy(clients, name),
    readObjectOwnership(clients, name),
  ]);
  return { publicAccessBlock, encryption, policy, objectOwnership };
}

/** Runs a read whose "not configured" answer is one of `absent` error names. */
async function readOptional<T>(
  action: string,
  name: string,
  absent: string[],
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isAwsError(error, ...absent)) return undefined;
    throw awsError(error, { action, resource: bucketLabel(name) });
  }
}

async function readPublicAccessBlock(
  clients: AwsClients,
  name: string,
): Promise<PublicAccessBlock | undefined> {
  const answer = await readOptional(
    's3:GetBucketPublicAccessBlock',
    name,
    ['NoSuchPublicAccessBlockConfiguration'],
    () => clients.s3.send(new GetPublicAccessBlockCommand({ Bucket: name })),
  );
  const config = answer?.PublicAccessBlockConfiguration;
  if (!config) return undefined;
  return {
    blockPublicAcls: config.BlockPublicAcls === true,
    ignorePublicAcls: config.IgnorePublicAcls === true,
    blockPublicPolicy: config.BlockPublicPolicy === true,
    restrictPublicBuckets: config.RestrictPublicBuckets === true,
  };
}

async function readEncryption(
  clients: AwsClients,
  name: string,
): Promise<BucketEncryption | undefined> {
  const answer = await readOptional(
    's3:GetEncryptionConfiguration',
    name,
    ['ServerSideEncryptionConfigurationNotFoundError'],
    () => clients.s3.send(new GetBucketEncryptionCommand({ Bucket: name })),
  );
  const rule = answer?.ServerSideEncryptionConfiguration?.Rules?.[0];
  const byDefault = rule?.ApplyServerSideEncryptionByDefault;
  if (!byDefault) return undefined;
  if (byDefault.SSEAlgorithm === 'AES256') return { kind: 'SSE-S3' };
  if (byDefault.SSEAlgorithm === 'aws:kms') {
    return {
      kind: 'SSE-KMS',
      kmsKeyArn: byDefault.KMSMasterKeyID,
      bucketKeyEnabled: rule?.BucketKeyEnabled === true,
    };
  }
  return { kind: 'other' };
}

async function readObjectOwnership(clients: AwsClients, name: string): Promise<string | undefined> {
  const answer = await readOptional(
    's3:GetBucketOwnershipControls',
    name,
    ['OwnershipControlsNotFoundError'],
    () => clients.s3.send(new GetBucketOwnershipControlsCommand({ Bucket: name })),
  );
  return answer?.OwnershipControls?.Rules?.[0]?.ObjectOwnership;
}

function publicAccessFullyBlocked(block: PublicAccessBlock | undefined): boolean {
  return (
    !!block &&
    block.blockPublicAcls &&
    block.ignorePublicAcls &&
    block.blockPublicPolicy &&
    block.restrictPublicBuckets
  );
}

function encryptionMatches(
  current: BucketEncryption | undefined,
  desired: BucketSecurityDesired,
): boolean {
  if (!current || current.kind !== desired.encryption) return false;
  if (desired.encryption === 'SSE-S3') return true;
  return current.kmsKeyArn === desired.kmsKeyArn && current.bucketKeyEnabled === true;
}

/** Applies whichever of the three settings is missing or different; returns what it changed. */
export async function hardenBucket(
  clients: AwsClients,
  name: string,
  desired: BucketSecurityDesired,
): Promise<string[]> {
  const current = await readBucketSecurity(clients, name);
  const changes: string[] = [];
  if (!publicAccessFullyBlocked(current.publicAccessBlock)) {
    await putPublicAccessBlock(clients, name);
    changes.push('blocked all public access');
  }
  if (!encryptionMatches(current.encryption, desired)) {
    await putEncryption(clients, name, desired);
    changes.push(
      `set default encryption to ${desired.encryption}${desired.kmsKeyArn ? ` with ${desired.kmsKeyArn}` : ''}`,
    );
  }
  if (current.objectOwnership !== 'BucketOwnerEnforced') {
    await putOwnershipControls(clients, name);
    changes.push('enforced bucket-owner object ownership (ACLs disabled)');
  }
  return changes;
}

// Bucket policy ----------------------------------------------------------------------------------

export async function getBucketPolicy(
  clients: AwsClients,
  name: string,
): Promise<PolicyDocument | undefined> {
  const answer = await readOptional('s3:GetBucketPolicy', name, ['NoSuchBucketPolicy'], () =>
    clients.s3.send(new GetBucketPolicyCommand({ Bucket: name })),
  );
  return answer?.Policy ? parsePolicyDocument(answer.Policy) : undefined;
}

export async function putBucketPolicy(
  clients: AwsClients,
  name: string,
  policy: PolicyDocument,
): Promise<void> {
  await withAwsErrors({ action: 's3:PutBucketPolicy', resource: bucketLabel(name) }, () =>
    clients.s3.send(new PutBucketPolicyCommand({ Bucket: name, Policy: JSON.stringify(policy) })),
  );
}

export async function deleteBucketPolicy(clients: AwsClients, name: string): Promise<void> {
  await withAwsErrors({ action: 's3:DeleteBucketPolicy', resource: bucketLabel(name) }, () =>
    clients.s3.send(new DeleteBucketPolicyCommand({ Bucket: name })),
  );
}

// Objects ----------------------------------------------------------------------------------------

/** The object's body as text, or undefined when there is no such object. */
export async function readObjectText(
  clients: AwsClients,
  bucket: string,
  key: string,
): Promise<string | undefined> {
  const answer = await readOptional('s3:GetObject', bucket, ['NoSuchKey'], () =>
    clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })),
  );
  return answer?.Body ? answer.Body.transformToString('utf8') : undefined;
}

export async function objectExists(
  clients: AwsClients,
  bucket: string,
  key: string,
): Promise<boolean> {
  try {
    await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (awsHttpStatus(error) === 404 || isAwsError(error, 'NotFound', 'NoSuchKey')) return false;
    throw awsError(error, { action: 's3:GetObject', resource: `s3://${bucket}/${key}` });
  }
}

/** Every key under the prefix, in S3's order. */
export async function listKeys(
  clients: AwsClients,
  bucket: string,
  prefix = '',
): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await withAwsErrors(
      { action: 's3:ListBucket', resource: bucketLabel(bucket) },
      () =>
        clients.s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix || undefined,
            ContinuationToken: token,
          }),
        ),
    );
    for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Deletes every object version and delete marker; returns how many were deleted. */
export async function emptyBucket(clients: AwsClients, bucket: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await withAwsErrors(
      { action: 's3:ListBucketVersions', resource: bucketLabel(bucket) },
      () => clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 })),
    );
    const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
      .filter((item) => item.Key)
      .map((item) => ({ Key: item.Key as string, VersionId: item.VersionId }));
    if (objects.length === 0) return deleted;
    await deleteBatch(clients, bucket, objects);
    deleted += objects.length;
  }
}

async function deleteBatch(
  clients: AwsClients,
  bucket: string,
  objects: Array<{ Key: string; VersionId?: string }>,
): Promise<void> {
  const answer = await withAwsErrors(
    { action: 's3:DeleteObject', resource: bucketLabel(bucket) },
    () =>
      clients.s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      ),
  );
  const failed = answer.Errors ?? [];
  if (failed.length > 0) {
    const first = failed[0];
    throw new CliError(
      `${failed.length} objects in bucket "${bucket}" could not be deleted (first: ${first?.Key}: ${first?.Code}).`,
      {
        code: 'AWS_DELETE_OBJECTS_FAILED',
        exitCode: ExitCode.cloud,
        hint: 'Check s3:DeleteObject / s3:DeleteObjectVersion permissions and any object lock on the bucket, then rerun.',
      },
    );
  }
}

/** Deletes the (empty) bucket; false when it did not exist. */
export async function deleteBucket(clients: AwsClients, bucket: string): Promise<boolean> {
  try {
    await clients.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    return true;
  } catch (error) {
    if (isAwsError(error, 'NoSuchBucket')) return false;
    if (isAwsError(error, 'BucketNotEmpty')) {
      throw new CliError(`Bucket "${bucket}" is not empty, so it was not deleted.`, {
        code: 'BUCKET_NOT_EMPTY',
        exitCode: ExitCode.cloud,
        hint: 'Empty it first (teardown does so only when asked to delete exported data).',
        cause: error,
      });
    }
    throw awsError(error, { action: 's3:DeleteBucket', resource: bucketLabel(bucket) });
  }
}
