import {
  CreateBucketCommand,
  ListBucketsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/index.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';

const sandbox = useSandbox();

describe('startSandbox', () => {
  it('exposes every setting a user exports, pointing at the running servers', () => {
    const env = sandbox.env;
    expect(Object.keys(env).sort()).toEqual(
      [
        'AWS_ACCESS_KEY_ID',
        'AWS_CA_BUNDLE',
        'AWS_ENDPOINT_URL',
        'AWS_REGION',
        'AWS_DEFAULT_REGION',
        'AWS_SECRET_ACCESS_KEY',
        'MONGODB_ATLAS_BASE_URL',
        'MONGODB_ATLAS_PRIVATE_API_KEY',
        'MONGODB_ATLAS_PUBLIC_API_KEY',
        'NODE_EXTRA_CA_CERTS',
      ].sort(),
    );
    expect(env.MONGODB_ATLAS_BASE_URL).toBe(sandbox.atlas.url);
    expect(env.MONGODB_ATLAS_PUBLIC_API_KEY).toBe(sandbox.atlas.seed.credentials.owner.publicKey);
    expect(env.MONGODB_ATLAS_PRIVATE_API_KEY).toBe(sandbox.atlas.seed.credentials.owner.privateKey);
    expect(env.AWS_ENDPOINT_URL).toBe(sandbox.moto.url);
    expect(env.AWS_ENDPOINT_URL).toMatch(/^https:/);
    expect(env.AWS_CA_BUNDLE).toBe(sandbox.moto.caFile);
    expect(env.AWS_REGION).toBe('us-east-1');
  });

  it('the AWS SDK reaches moto over TLS with those settings', async () => {
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'sandbox-reach-test' }));
    const buckets = await aws.s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toContain('sandbox-reach-test');
    const identity = await aws.sts.send(new GetCallerIdentityCommand({}));
    expect(identity.Account).toMatch(/^\d{12}$/);
  });

  it('the Atlas simulator answers with digest auth and refuses Basic', async () => {
    const { request } = await import('urllib');
    const env = sandbox.env;
    const url = `${env.MONGODB_ATLAS_BASE_URL}/api/atlas/v2/groups/${sandbox.atlas.seed.projectId}`;
    const headers = { Accept: 'application/vnd.atlas.2023-01-01+json' };
    const auth = `${env.MONGODB_ATLAS_PUBLIC_API_KEY}:${env.MONGODB_ATLAS_PRIVATE_API_KEY}`;
    const digest = await request(url, { digestAuth: auth, headers, dataType: 'json' });
    expect(digest.status).toBe(200);
    expect((digest.data as { id: string }).id).toBe(sandbox.atlas.seed.projectId);
    const basic = await request(url, { auth, headers });
    expect(basic.status).toBe(401);
  });

  it('reset between tests: the bucket made by an earlier test is gone', async () => {
    const aws = await awsClientsFor(sandbox.env);
    const buckets = await aws.s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets ?? []).toEqual([]);
  });
});

describe('TLS-only bucket policy on the sandbox moto', () => {
  it('denies PutObject over plain HTTP and allows it over HTTPS', async () => {
    const aws = await awsClientsFor(sandbox.env);
    const bucket = 'tls-only-test';
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    };
    await aws.s3.send(
      new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }),
    );

    await expect(
      aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'over-tls', Body: 'x' })),
    ).resolves.toBeDefined();

    const plain = new S3Client({
      endpoint: sandbox.moto.plainUrl,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: {
        accessKeyId: sandbox.env.AWS_ACCESS_KEY_ID!,
        secretAccessKey: sandbox.env.AWS_SECRET_ACCESS_KEY!,
      },
    });
    const denied = plain.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'over-http', Body: 'x' }),
    );
    await expect(denied).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    // The same plain-HTTP client can write to a bucket without that policy: the denial is the policy's.
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'no-policy-test' }));
    await expect(
      plain.send(new PutObjectCommand({ Bucket: 'no-policy-test', Key: 'k', Body: 'x' })),
    ).resolves.toBeDefined();
    plain.destroy();
  });
});

describe('startSandbox with an external AWS endpoint', () => {
  it('starts no moto and points the settings at the given endpoint', async () => {
    const other = await startSandbox({ awsEndpoint: sandbox.moto.url, delays: { exportMs: 10 } });
    try {
      expect(other.moto).toBeUndefined();
      expect(other.env.AWS_ENDPOINT_URL).toBe(sandbox.moto.url);
      expect(other.env.MONGODB_ATLAS_BASE_URL).not.toBe(sandbox.env.MONGODB_ATLAS_BASE_URL);
      const response = await fetch(`${other.env.MONGODB_ATLAS_BASE_URL}/api/atlas/v2`);
      expect(response.status).toBe(401);
    } finally {
      await other.stop();
      await other.stop();
    }
    await expect(fetch(`${other.env.MONGODB_ATLAS_BASE_URL}/api/atlas/v2`)).rejects.toThrow();
  });
});
