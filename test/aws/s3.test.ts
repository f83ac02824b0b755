import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { awsError, awsHttpStatus } from '../../src/aws/errors.js';
import {
  bucketPolicyStatements,
  mergeBucketPolicy,
  ourBucketPolicySids,
  removeStatements,
  statementsOf,
  type PolicyDocument,
} from '../../src/aws/policies.js';
import {
  createPrivateBucket,
  deleteBucket,
  deleteBucketPolicy,
  describeBucketConflict,
  emptyBucket,
  getBucketPolicy,
  hardenBucket,
  inspectBucket,
  listKeys,
  objectExists,
  putBucketPolicy,
  readBucketSecurity,
  readObjectText,
} from '../../src/aws/s3.js';
import { getCallerIdentity } from '../../src/aws/sts.js';
import { CliError } from '../../src/errors.js';
import { startMoto, type MotoServer } from '../../src/sandbox/moto.js';

let moto: MotoServer;
let env: NodeJS.ProcessEnv;
let account: string;
const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const clientsFor = (region: string) => createAwsClients({ env, region });

/** An S3 client with its own credentials or endpoint, for another account or plain HTTP. */
function s3Client(options: {
  endpoint: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: options.endpoint,
    forcePathStyle: true,
    credentials: options.credentials ?? {
      accessKeyId: 'AKIDSANDBOX',
      secretAccessKey: 'sandbox-secret',
    },
    requestHandler: new NodeHttpHandler({
      httpsAgent: new Agent({ ca: readFileSync(moto.caFile, 'utf8') }),
    }),
  });
}

beforeAll(async () => {
  moto = await startMoto();
  env = {
    AWS_ENDPOINT_URL: moto.url,
    AWS_CA_BUNDLE: moto.caFile,
    AWS_ACCESS_KEY_ID: 'AKIDSANDBOX',
    AWS_SECRET_ACCESS_KEY: 'sandbox-secret',
    AWS_REGION: 'us-east-1',
  };
  // createAwsClients reads region and CA bundle from `env`, but the SDK's credential and endpoint
  // chains read process.env, so the same settings go there too.
  Object.assign(process.env, env);
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  account = (await getCallerIdentity(await clientsFor('us-east-1'))).account;
});

describe('createPrivateBucket', () => {
  it('creates a us-east-1 bucket (no LocationConstraint) with every setting, read back', async () => {
    const clients = await clientsFor('us-east-1');
    expect(
      await createPrivateBucket(clients, {
        name: 'exports-use1',
        region: 'us-east-1',
        encryption: 'SSE-S3',
      }),
    ).toEqual({ created: true });
    const security = await readBucketSecurity(clients, 'exports-use1');
    expect(security.publicAccessBlock).toEqual({
      blockPublicAcls: true,
      ignorePublicAcls: true,
      blockPublicPolicy: true,
      restrictPublicBuckets: true,
    });
    expect(security.encryption).toEqual({ kind: 'SSE-S3' });
    expect(security.objectOwnership).toBe('BucketOwnerEnforced');
    expect(security.policy).toBeUndefined();
    expect(await inspectBucket(clients, 'exports-use1', account)).toEqual({
      exists: true,
      owned: true,
      region: 'us-east-1',
      // From ListBuckets: setup tells its own interrupted create's bucket from another's by it.
      createdAt: expect.any(Date),
    });
  });

  it('creates an eu-west-1 bucket with SSE-KMS and a bucket key, and adopts it on a second run', async () => {
    const clients = await clientsFor('eu-west-1');
    const input = {
      name: 'exports-euw1',
      region: 'eu-west-1',
      encryption: 'SSE-KMS' as const,
      kmsKeyArn: KMS_KEY,
    };
    expect(await createPrivateBucket(clients, input)).toEqual({ created: true });
    const security = await readBucketSecurity(clients, 'exports-euw1');
    expect(security.encryption).toEqual({
      kind: 'SSE-KMS',
      kmsKeyArn: KMS_KEY,
      bucketKeyEnabled: true,
    });
    expect(security.publicAccessBlock?.restrictPublicBuckets).toBe(true);
    expect(await inspectBucket(clients, 'exports-euw1', account)).toEqual({
      exists: true,
      owned: true,
      region: 'eu-west-1',
      // From ListBuckets: setup tells its own interrupted create's bucket from another's by it.
      createdAt: expect.any(Date),
    });
    expect(await createPrivateBucket(clients, input)).toEqual({ created: false });
  });

  it('refuses clients of another region than the bucket', async () => {
    const clients = await clientsFor('us-east-1');
    await expect(
      createPrivateBucket(clients, {
        name: 'exports-x',
        region: 'eu-west-1',
        encryption: 'SSE-S3',
      }),
    ).rejects.toThrow(/clients for us-east-1/);
  });
});

describe('buckets of other accounts and regions', () => {
  async function foreignS3(): Promise<S3Client> {
    const clients = await clientsFor('us-east-1');
    const assumed = await clients.sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::222222222222:role/other',
        RoleSessionName: 'test',
      }),
    );
    const c = assumed.Credentials!;
    return s3Client({
      endpoint: moto.url,
      credentials: {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken,
      },
    });
  }

  it('reports a missing bucket', async () => {
    expect(await inspectBucket(await clientsFor('us-east-1'), 'nobody-has-this', account)).toEqual({
      exists: false,
    });
  });

  it('sees a bucket of another account as not owned, and creating it is a clear error', async () => {
    await (await foreignS3()).send(new CreateBucketCommand({ Bucket: 'someone-elses' }));
    const clients = await clientsFor('us-east-1');
    const inspection = await inspectBucket(clients, 'someone-elses', account);
    expect(inspection).toEqual({ exists: true, owned: false, region: 'us-east-1' });
    expect(describeBucketConflict('someone-elses', inspection, 'us-east-1')).toContain(
      'taken by another AWS account',
    );
    const error = await createPrivateBucket(clients, {
      name: 'someone-elses',
      region: 'us-east-1',
      encryption: 'SSE-S3',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('BUCKET_NAME_TAKEN');
    expect((error as CliError).exitCode).toBe(3);
  });

  it('says which region an own bucket is in when it is not the wanted one', async () => {
    const eu = await clientsFor('eu-west-1');
    await createPrivateBucket(eu, {
      name: 'in-ireland',
      region: 'eu-west-1',
      encryption: 'SSE-S3',
    });
    const inspection = await inspectBucket(await clientsFor('us-east-1'), 'in-ireland', account);
    expect(inspection).toEqual({
      exists: true,
      owned: true,
      region: 'eu-west-1',
      createdAt: expect.any(Date),
    });
    expect(describeBucketConflict('in-ireland', inspection, 'us-east-1')).toBe(
      'Bucket "in-ireland" already exists in this account, but in eu-west-1, not us-east-1.',
    );
    expect(describeBucketConflict('in-ireland', inspection, 'eu-west-1')).toBeUndefined();
  });
});

describe('hardening', () => {
  it('applies only what is missing', async () => {
    const clients = await clientsFor('us-east-1');
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'bare' }));
    const changes = await hardenBucket(clients, 'bare', { encryption: 'SSE-S3' });
    expect(changes).toHaveLength(3);
    const security = await readBucketSecurity(clients, 'bare');
    expect(security.objectOwnership).toBe('BucketOwnerEnforced');
    expect(security.encryption?.kind).toBe('SSE-S3');
    expect(await hardenBucket(clients, 'bare', { encryption: 'SSE-S3' })).toEqual([]);
  });
});

describe('bucket policy', () => {
  const roleArn = 'arn:aws:iam::123456789012:role/atlas-export';
  const foreign = {
    Sid: 'KeepAuditRead',
    Effect: 'Allow' as const,
    Principal: { AWS: 'arn:aws:iam::123456789012:role/auditor' },
    Action: 's3:GetObject',
    Resource: 'arn:aws:s3:::with-policy/*',
  };

  async function bucketWithForeignStatement(): Promise<AwsClients> {
    const clients = await clientsFor('us-east-1');
    await createPrivateBucket(clients, {
      name: 'with-policy',
      region: 'us-east-1',
      encryption: 'SSE-S3',
    });
    await putBucketPolicy(clients, 'with-policy', { Version: '2012-10-17', Statement: [foreign] });
    return clients;
  }

  it('merges ours next to a foreign statement, as stored in S3, and removes ours leaving it', async () => {
    const clients = await bucketWithForeignStatement();
    const ours = bucketPolicyStatements({ bucket: 'with-policy', partition: 'aws', roleArn });
    const merged = mergeBucketPolicy(await getBucketPolicy(clients, 'with-policy'), ours);
    await putBucketPolicy(clients, 'with-policy', merged.document);
    const stored = await getBucketPolicy(clients, 'with-policy');
    expect(statementsOf(stored).map((s) => s.Sid)).toEqual([
      'KeepAuditRead',
      ...ourBucketPolicySids,
    ]);
    expect(statementsOf(stored)[0]).toEqual(foreign);
    expect(mergeBucketPolicy(stored, ours).changed).toBe(false);

    const remaining = removeStatements(stored, ourBucketPolicySids) as PolicyDocument;
    await putBucketPolicy(clients, 'with-policy', remaining);
    expect(statementsOf(await getBucketPolicy(clients, 'with-policy'))).toEqual([foreign]);
    await deleteBucketPolicy(clients, 'with-policy');
    expect(await getBucketPolicy(clients, 'with-policy')).toBeUndefined();
  });

  it('the TLS-only statement denies PutObject over plain HTTP but not over HTTPS', async () => {
    const clients = await bucketWithForeignStatement();
    const plain = s3Client({ endpoint: moto.plainUrl });
    // Before our statements, plain HTTP is allowed: the deny below is what makes the difference.
    await plain.send(new PutObjectCommand({ Bucket: 'with-policy', Key: 'before.txt', Body: 'x' }));
    const merged = mergeBucketPolicy(
      await getBucketPolicy(clients, 'with-policy'),
      bucketPolicyStatements({ bucket: 'with-policy', partition: 'aws', roleArn }),
    );
    await putBucketPolicy(clients, 'with-policy', merged.document);
    const denied = await plain
      .send(new PutObjectCommand({ Bucket: 'with-policy', Key: 'plain.txt', Body: 'x' }))
      .catch((e: unknown) => e);
    expect(awsHttpStatus(denied)).toBe(403);
    expect(awsError(denied, { action: 's3:PutObject' }).code).toBe('AWS_ACCESS_DENIED');
    await clients.s3.send(
      new PutObjectCommand({ Bucket: 'with-policy', Key: 'tls.txt', Body: 'over tls' }),
    );
    expect(await readObjectText(clients, 'with-policy', 'tls.txt')).toBe('over tls');
    expect(await objectExists(clients, 'with-policy', 'plain.txt')).toBe(false);
  });
});

describe('objects and clean-up', () => {
  it('reads, lists, empties and deletes', async () => {
    const clients = await clientsFor('us-east-1');
    await createPrivateBucket(clients, {
      name: 'scratch',
      region: 'us-east-1',
      encryption: 'SSE-S3',
    });
    for (const key of ['a/1.json', 'a/2.json', 'b/3.json']) {
      await clients.s3.send(
        new PutObjectCommand({ Bucket: 'scratch', Key: key, Body: `{"key":"${key}"}` }),
      );
    }
    expect(await listKeys(clients, 'scratch', 'a/')).toEqual(['a/1.json', 'a/2.json']);
    expect(await listKeys(clients, 'scratch')).toHaveLength(3);
    expect(await readObjectText(clients, 'scratch', 'b/3.json')).toBe('{"key":"b/3.json"}');
    expect(await readObjectText(clients, 'scratch', 'missing')).toBeUndefined();
    expect(await objectExists(clients, 'scratch', 'a/1.json')).toBe(true);
    await expect(deleteBucket(clients, 'scratch')).rejects.toMatchObject({
      code: 'BUCKET_NOT_EMPTY',
    });
    expect(await emptyBucket(clients, 'scratch')).toBe(3);
    expect(await deleteBucket(clients, 'scratch')).toBe(true);
    expect(await deleteBucket(clients, 'scratch')).toBe(false);
    expect(await inspectBucket(clients, 'scratch', account)).toEqual({ exists: false });
  });
});
