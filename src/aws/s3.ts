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
      /** When S3 says it was created (ListBuckets), when the identity may list buckets. */
      createdAt?: Date;
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
  const listed = await findInOwnBucketList(clients, name);
  const owned = listed === undefined ? true : listed !== null;
  return {
    exists: true,
    owned,
    region: region ?? (owned ? await getBucketRegion(clients, name) : 'unknown'),
    ...(listed?.createdAt ? { createdAt: listed.createdAt } : {}),
  };
}

function bucketRegionHeader(error: unknown): string | undefined {
  const response = (error as { $response?: { headers?: Record<string, string> } }).$response;
  return response?.headers?.['x-amz-bucket-region'];
}

/**
 * The bucket's entry in this account's bucket list (with its creation date), null when the account
 * has no such bucket, or undefined when the identity may not list buckets.
 */
async function findInOwnBucketList(
  clients: AwsClients,
  name: string,
): Promise<{ createdAt?: Date } | null | undefined> {
  let token: string | undefined;
  try {
    do {
      const page = await clients.s3.send(
        new ListBucketsCommand({ Prefix: name, ContinuationToken: token }),
      );
      const found = page.Buckets?.find((bucket) => bucket.Name === name);
      if (found) return found.CreationDate ? { createdAt: found.CreationDate } : {};
      token = page.ContinuationToken;
    } while (token);
    return null;
  } catch (error) {
    if (isAwsError(error, 'AccessDenied')) return undefined;
    throw awsError(error, { action: 's3:ListAllMyBuckets' });
  }
}

/**
 * What this account's bucket list says of the bucket: whether it is there and when it was created
 * (undefined when the identity may not list buckets). One ListBuckets call.
 */
export async function bucketListing(
  clients: AwsClients,
  name: string,
): Promise<{ listed: boolean; createdAt?: Date } | undefined> {
  const found = await findInOwnBucketList(clients, name);
  if (found === undefined) return undefined;
  return found === null ? { listed: false } : { listed: true, ...found };
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

export interface CreateBucketAnswer {
  /**
   * S3 answered BucketAlreadyOwnedByYou. On the first attempt that means the bucket was there
   * before this call; after a retry it may be this call's own first attempt. In us-east-1 S3 answers
   * success either way, so only a read (the creation date) tells whose create made the bucket.
   */
  alreadyOwned: boolean;
  /** How many attempts the SDK made. */
  attempts: number;
}

/** Sends CreateBucket only (no settings). */
export async function createBucket(
  clients: AwsClients,
  input: Pick<CreateBucketInput, 'name' | 'region'>,
): Promise<CreateBucketAnswer> {
  assertClientRegion(clients, input.region, input.name);
  const constraint = locationConstraintFor(input.region);
  try {
    const answer = await clients.s3.send(
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
    return { alreadyOwned: false, attempts: answer.$metadata.attempts ?? 1 };
  } catch (error) {
    if (!isAwsError(error, 'BucketAlreadyOwnedByYou')) throw createBucketError(error, input.name);
    const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
    return { alreadyOwned: true, attempts };
  }
}

/**
 * Creates the bucket (adopting it when this account already owns it), then blocks all public
 * access, sets default encryption and enforces bucket-owner object ownership.
 */
export async function createPrivateBucket(
  clients: AwsClients,
  input: CreateBucketInput,
): Promise<CreateBucketResult> {
  const answer = await createBucket(clients, input);
  await applyBucketSecurity(clients, input.name, input);
  return { created: !answer.alreadyOwned };
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

/** Blocks all public access, sets default encryption and enforces bucket-owner object ownership. */
export async function applyBucketSecurity(
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

const PUBLIC_ACCESS_SETTINGS: Array<[keyof PublicAccessBlock, string]> = [
  ['blockPublicAcls', 'BlockPublicAcls'],
  ['ignorePublicAcls', 'IgnorePublicAcls'],
  ['blockPublicPolicy', 'BlockPublicPolicy'],
  ['restrictPublicBuckets', 'RestrictPublicBuckets'],
];

/** `SSE-S3`, `SSE-KMS with <key>`, or what else S3 reported. */
export function describeBucketEncryption(encryption: BucketEncryption | undefined): string {
  if (!encryption) return 'no default encryption';
  if (encryption.kind === 'SSE-KMS')
    return `SSE-KMS with ${encryption.kmsKeyArn ?? 'the AWS managed key aws/s3'}`;
  return encryption.kind === 'SSE-S3' ? 'SSE-S3' : 'an encryption other than SSE-S3 or SSE-KMS';
}

export interface BucketChange {
  setting: 'publicAccessBlock' | 'encryption' | 'objectOwnership';
  /** What is turned on, for people: `Block Public Access (all four settings; ... was off)`. */
  what: string;
}

export interface BucketChangeOptions {
  /** Leave the object ownership as it is (a bucket adopted, not created, by this tool). */
  keepObjectOwnership?: boolean;
  /** Accept SSE-KMS with the wanted key whether or not S3 Bucket Keys are on (an adopted bucket). */
  keepBucketKey?: boolean;
}

/** What must change on a bucket with the `current` settings to have the `desired` ones. */
export function bucketChanges(
  current: BucketSecurity,
  desired: BucketSecurityDesired,
  options: BucketChangeOptions = {},
): BucketChange[] {
  const changes: BucketChange[] = [];
  if (!publicAccessFullyBlocked(current.publicAccessBlock)) {
    const off = PUBLIC_ACCESS_SETTINGS.filter(
      ([key]) => current.publicAccessBlock?.[key] !== true,
    ).map(([, label]) => label);
    changes.push({
      setting: 'publicAccessBlock',
      what: `Block Public Access (all four settings; ${off.length === 4 ? 'all were off' : `${off.join(', ')} ${off.length === 1 ? 'was' : 'were'} off`})`,
    });
  }
  const encryption = current.encryption;
  const keyMatches =
    encryption?.kind === desired.encryption &&
    (desired.encryption === 'SSE-S3' ||
      (encryption.kmsKeyArn === desired.kmsKeyArn &&
        (options.keepBucketKey || encryption.bucketKeyEnabled === true)));
  if (!keyMatches) {
    const wanted =
      desired.encryption === 'SSE-KMS' ? `SSE-KMS with ${desired.kmsKeyArn}` : 'SSE-S3';
    const was = describeBucketEncryption(encryption);
    changes.push({
      setting: 'encryption',
      what: `default encryption ${wanted}${was === wanted ? ' with S3 Bucket Keys' : ''} (was ${was})`,
    });
  }
  if (!options.keepObjectOwnership && current.objectOwnership !== 'BucketOwnerEnforced') {
    changes.push({
      setting: 'objectOwnership',
      what: `bucket-owner-enforced object ownership, ACLs off (was ${current.objectOwnership ?? 'not set'})`,
    });
  }
  return changes;
}

/** Makes the changes bucketChanges listed. */
export async function applyBucketChanges(
  clients: AwsClients,
  name: string,
  desired: BucketSecurityDesired,
  changes: readonly BucketChange[],
): Promise<void> {
  for (const change of changes) {
    if (change.setting === 'publicAccessBlock') await putPublicAccessBlock(clients, name);
    else if (change.setting === 'encryption') await putEncryption(clients, name, desired);
    else await putOwnershipControls(clients, name);
  }
}

/** Applies whichever of the three settings is missing or different; returns what it changed. */
export async function hardenBucket(
  clients: AwsClients,
  name: string,
  desired: BucketSecurityDesired,
  options: BucketChangeOptions = {},
): Promise<string[]> {
  const current = await readBucketSecurity(clients, name);
  const changes = bucketChanges(current, desired, options);
  await applyBucketChanges(clients, name, desired, changes);
  return changes.map((change) => change.what);
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
