/**
 * `setup` on a bucket that is not (only) its own: a bucket someone else created after a failed or
 * concurrent create is recorded as adopted (so teardown never deletes it); a bucket whose policy
 * holds another setup's statements is refused before any write; adopting a bucket never weakens
 * its encryption nor changes its object ownership, and the plan names every change it makes.
 */
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketPolicyCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
  PutBucketOwnershipControlsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { freshScenario, readState, runSetup, setupArgs } from '../helpers/setup.js';
import { permissionPolicyText } from '../setup/inspect.js';
import { isCreateBucket, isHeadBucket, startAwsProxy, type AwsProxy } from '../setup/aws-proxy.js';

const sandbox = useSandbox();
const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const OTHER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/99999999-12ab-34cd-56ef-1234567890ab';

let proxy: AwsProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

async function withProxy(): Promise<{ proxy: AwsProxy; env: Record<string, string> }> {
  proxy = await startAwsProxy(sandbox.env);
  return { proxy, env: { ...sandbox.env, AWS_ENDPOINT_URL_S3: proxy.url } };
}

/** Another party's bucket of that name, with two objects in it. */
async function theirBucket(bucket: string): Promise<void> {
  const aws = await awsClientsFor(sandbox.env);
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const key of ['theirs/a.json', 'theirs/b.json'])
    await aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{}' }));
}

async function objectKeys(bucket: string): Promise<string[]> {
  const aws = await awsClientsFor(sandbox.env);
  const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((item) => item.Key!).sort();
}

async function teardownKeepsTheirObjects(statePath: string, bucket: string): Promise<CliResult> {
  const down = await runCli(
    ['teardown', '--state', statePath, '--yes', '--delete-bucket', '--force'],
    { env: sandbox.env },
  );
  expect(down.code, down.stderr).toBe(0);
  // The bucket is still there with their objects (beside what the export bucket's check wrote).
  expect(await objectKeys(bucket)).toEqual(
    expect.arrayContaining(['theirs/a.json', 'theirs/b.json']),
  );
  return down;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a bucket someone else created is adopted, never recorded as created', () => {
  it('after a create that S3 answered 503, a bucket made by someone else before the rerun is adopted; teardown keeps its objects', async () => {
    const { statePath, bucket } = freshScenario('after-503');
    const { proxy, env } = await withProxy();
    proxy.intercept = (exchange) =>
      isCreateBucket(exchange, bucket) ? { status: 503 } : undefined;
    const failed = await runCli(setupArgs(sandbox, statePath, bucket), { env });
    expect(failed.code, failed.stderr).toBe(3);
    expect(proxy.log.filter((exchange) => isCreateBucket(exchange, bucket)).length).toBeGreaterThan(
      0,
    );
    // The failed create made nothing, so nothing of it stays pending.
    expect(readState(statePath).pending.bucket).toBeUndefined();

    await theirBucket(bucket);
    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/adopt the existing bucket/);
    expect(readState(statePath).resources.bucket.origin).toBe('adopted');
    const down = await teardownKeepsTheirObjects(statePath, bucket);
    expect(down.stderr).toMatch(/never deleted/);
  });

  it('a pending create left by a killed run does not make a bucket created after its window "created"', async () => {
    const { statePath, bucket } = freshScenario('stale-pending');
    // A run stopped while creating the bucket, long ago: its mark is older than any create could take.
    const { proxy, env } = await withProxy();
    proxy.intercept = (exchange) =>
      isCreateBucket(exchange, bucket) ? { status: 503 } : undefined;
    await runCli(setupArgs(sandbox, statePath, bucket), { env });
    const { writeState } = await import('../../src/state/store.js');
    const { StateFile } = await import('../../src/state/schema.js');
    const state = StateFile.parse(readState(statePath));
    state.pending.bucket = new Date(Date.now() - 10 * 60_000).toISOString();
    await writeState(statePath, state);

    await theirBucket(bucket);
    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/adopt the existing bucket/);
    expect(rerun.stderr).not.toMatch(/finish creating/);
    expect(readState(statePath).resources.bucket.origin).toBe('adopted');
    expect(readState(statePath).pending).toEqual({});
    await teardownKeepsTheirObjects(statePath, bucket);
  });

  it('a bucket another setup created after this one checked (us-east-1 answers the second create with success) is adopted', async () => {
    const { statePath, bucket } = freshScenario('concurrent');
    const { proxy, env } = await withProxy();
    let raced = false;
    // The other setup creates the bucket right after this one's preflight found none; this one's
    // create comes a few seconds later and S3 (us-east-1) answers it with success.
    proxy.intercept = (exchange) =>
      isHeadBucket(exchange, bucket) && !raced
        ? {
            after: async (status) => {
              if (status !== 404) return;
              raced = true;
              await theirBucket(bucket);
              await sleep(3_500);
            },
          }
        : undefined;
    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env });
    expect(raced).toBe(true);
    expect(result.code, result.stderr).toBe(0);
    expect(proxy.log.some((exchange) => isCreateBucket(exchange, bucket))).toBe(true);
    expect(result.stderr).toMatch(/created by someone else while this setup was creating it/);
    expect(readState(statePath).resources.bucket.origin).toBe('adopted');
    await teardownKeepsTheirObjects(statePath, bucket);
  });
});

describe('two setups on one bucket', () => {
  it("a second setup on a bucket whose policy holds the first setup's statements is refused before any write; teardown of the first keeps working", async () => {
    const first = freshScenario('shared');
    const firstState = await runSetup(sandbox, first.statePath, first.bucket, []);
    const aws = await awsClientsFor(sandbox.env);
    const policyBefore = (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: first.bucket })))
      .Policy;

    const second = freshScenario('shared-2');
    const refused = await runCli(
      setupArgs(sandbox, second.statePath, first.bucket, [
        '--iam-role-name',
        'atlas-pl-export-second',
      ]),
      { env: sandbox.env },
    );
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain(
      `for another role, ${firstState.resources.iamRole.arn}: another setup uses this bucket`,
    );
    expect(refused.stderr).toMatch(/nothing was changed/);
    expect(refused.stderr).toMatch(/what to do: Give this setup a bucket of its own/);
    expect(JSON.parse(refused.stdout).calls.aws.writes).toBe(0);
    expect((await aws.s3.send(new GetBucketPolicyCommand({ Bucket: first.bucket }))).Policy).toBe(
      policyBefore,
    );
  });

  it('a policy another writer replaced right after this setup wrote it is caught by the read-back: the run stops and records no statement of that policy', async () => {
    const { statePath, bucket } = freshScenario('policy-race');
    const { env, proxy } = await withProxy();
    const otherRole = 'arn:aws:iam::123456789012:role/atlas-pl-export-other-setup';
    const { bucketPolicyStatements, mergeBucketPolicy } = await import('../../src/aws/policies.js');
    const { putBucketPolicy } = await import('../../src/aws/s3.js');
    const aws = await awsClientsFor(sandbox.env);
    let raced = false;
    // The other setup read the policy before this one wrote it, and writes its own version after.
    proxy.intercept = (exchange) =>
      !raced && exchange.method === 'PUT' && /\?policy/.test(exchange.url)
        ? {
            after: async () => {
              raced = true;
              const theirs = bucketPolicyStatements({
                bucket,
                partition: 'aws',
                roleArn: otherRole,
              });
              await putBucketPolicy(aws, bucket, mergeBucketPolicy(undefined, theirs).document);
            },
          }
        : undefined;
    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env });
    expect(raced).toBe(true);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      `The bucket policy of ${bucket} was replaced while this setup wrote it: AtlasPlExportAllowBucketLocation, AtlasPlExportAllowPutObject are not there any more, and the atlas-pl-export statements there now allow ${otherRole}.`,
    );
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'BUCKET_POLICY_CONFLICT' });
    expect(readState(statePath).resources.bucketPolicy).toBeUndefined();
  });

  it('statements under our Sids that this setup did not add are neither recorded nor removed by its teardown', async () => {
    const { statePath, bucket } = freshScenario('their-deny');
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const { bucketPolicyStatements, mergeBucketPolicy } = await import('../../src/aws/policies.js');
    const deny = bucketPolicyStatements({ bucket, partition: 'aws', roleArn: 'unused' })[0]!;
    const { putBucketPolicy } = await import('../../src/aws/s3.js');
    await putBucketPolicy(aws, bucket, mergeBucketPolicy(undefined, [deny]).document);

    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /Bucket policy: added AtlasPlExportAllowBucketLocation, AtlasPlExportAllowPutObject;/,
    );
    expect(readState(statePath).resources.bucketPolicy).toEqual({
      statementSids: ['AtlasPlExportAllowBucketLocation', 'AtlasPlExportAllowPutObject'],
      createdPolicy: false,
    });
    const down = await runCli(['teardown', '--state', statePath, '--yes'], { env: sandbox.env });
    expect(down.code, down.stderr).toBe(0);
    const left = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    expect(left.Statement.map((statement: { Sid: string }) => statement.Sid)).toEqual([
      'AtlasPlExportDenyInsecureTransport',
    ]);
  });
});

describe('adopting a bucket never weakens it', () => {
  async function kmsBucket(bucket: string, key = KEY) {
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await aws.s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [
            {
              ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key },
              BucketKeyEnabled: false,
            },
          ],
        },
      }),
    );
    await aws.s3.send(
      new PutBucketOwnershipControlsCommand({
        Bucket: bucket,
        OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] },
      }),
    );
    return aws;
  }

  async function encryptionOf(bucket: string) {
    const aws = await awsClientsFor(sandbox.env);
    return (await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })))
      .ServerSideEncryptionConfiguration?.Rules?.[0];
  }

  async function ownershipOf(bucket: string) {
    const aws = await awsClientsFor(sandbox.env);
    return (await aws.s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket })))
      .OwnershipControls?.Rules?.[0]?.ObjectOwnership;
  }

  it('an SSE-KMS bucket adopted with default flags is refused before any write; the hinted flags work and keep its key and ownership', async () => {
    const { statePath, bucket } = freshScenario('adopt-kms');
    await kmsBucket(bucket);
    const refused = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `The bucket ${bucket} is encrypted with SSE-KMS (key ${KEY}); adopting it with SSE-S3 would weaken its encryption; nothing was changed.`,
    );
    expect(refused.stderr).toContain(
      `what to do: Rerun with --encryption SSE-KMS --kms-key-arn ${KEY} to keep its key`,
    );
    expect(JSON.parse(refused.stdout).calls.aws.writes).toBe(0);
    expect((await encryptionOf(bucket))?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe(
      'aws:kms',
    );

    const adopted = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--encryption', 'SSE-KMS', '--kms-key-arn', KEY]),
      { env: sandbox.env },
    );
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(adopted.stderr).toMatch(/adopt the existing bucket; turn on Block Public Access/);
    expect(adopted.stderr).not.toMatch(/turn on default encryption/);
    expect(adopted.stderr).toMatch(/object ownership left as it is \(ObjectWriter\)/);
    expect((await encryptionOf(bucket))?.ApplyServerSideEncryptionByDefault).toMatchObject({
      SSEAlgorithm: 'aws:kms',
      KMSMasterKeyID: KEY,
    });
    expect(await ownershipOf(bucket)).toBe('ObjectWriter');
    const state = readState(statePath);
    expect(state.resources.bucket).toMatchObject({
      origin: 'adopted',
      encryption: 'SSE-KMS',
      kmsKeyArn: KEY,
      keptObjectOwnership: 'ObjectWriter',
    });
    const permissions = await permissionPolicyText(sandbox.env, state.resources.iamRole.name);
    expect(permissions).toContain(KEY);
    expect(permissions).toContain('kms:GenerateDataKey');

    // A rerun with --repair leaves the ownership of an adopted bucket alone too.
    const repaired = await runCli(setupArgs(sandbox, statePath, bucket, ['--repair']), {
      env: sandbox.env,
    });
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(await ownershipOf(bucket)).toBe('ObjectWriter');
  });

  it('SSE-KMS with another key than the bucket has is refused before any write', async () => {
    const { statePath, bucket } = freshScenario('adopt-kms-other');
    await kmsBucket(bucket);
    const refused = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--kms-key-arn', OTHER_KEY]),
      { env: sandbox.env },
    );
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `is encrypted with SSE-KMS key ${KEY}, not with the key asked for (${OTHER_KEY})`,
    );
    expect(refused.stderr).toContain(`--kms-key-arn ${KEY} to use the bucket's key`);
    expect(JSON.parse(refused.stdout).calls.aws.writes).toBe(0);
    expect((await encryptionOf(bucket))?.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID).toBe(
      KEY,
    );
  });

  it('a bucket without settings: the plan lists each change, and object ownership stays as it was', async () => {
    const { statePath, bucket } = freshScenario('adopt-bare');
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await aws.s3.send(
      new PutBucketOwnershipControlsCommand({
        Bucket: bucket,
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] },
      }),
    );
    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    const plan = result.stderr.split('\n').find((line) => /S3 bucket .*adopt/.test(line))!;
    expect(plan).toMatch(/turn on Block Public Access \(all four settings; all were off\)/);
    expect(plan).toMatch(/object ownership left as it is \(BucketOwnerPreferred\)/);
    expect(await ownershipOf(bucket)).toBe('BucketOwnerPreferred');
    expect(readState(statePath).resources.bucket.keptObjectOwnership).toBe('BucketOwnerPreferred');
  });
});
