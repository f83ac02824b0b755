/**
 * An export job re-checks, when it starts running, what real Atlas needs at that moment: it assumes the
 * IAM role (trust policy, external id), writes with the role's permissions, and for a bucket that
 * requires private networking goes through an ACTIVE private endpoint. Against moto and the simulator.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import {
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../src/aws/clients.js';
import type { MotoServer } from '../../src/sandbox/moto.js';
import { PERMISSION_CHECK_KEY } from '../../src/sim/aws-checks.js';
import type { AtlasSimulator } from '../../src/sim/index.js';
import { awsClientsFor } from '../helpers/sandbox.js';
import { FAST, atlasTrust, call, startAll } from './sim-helpers.js';

let moto: MotoServer;
let sim: AtlasSimulator;
let aws: AwsClients;
let owner: { publicKey: string; privateKey: string };
let G: string;

const ROLE = 'atlas-export-start';
const BUCKET = 'export-start-bucket';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ({ moto, sim } = await startAll());
  aws = await awsClientsFor({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_CA_BUNDLE: moto.caFile,
  });
  owner = sim.seed.credentials.owner;
  G = `/groups/${sim.seed.projectId}`;
});
afterAll(async () => {
  await sim?.close();
  await moto?.stop();
});
beforeEach(async () => {
  await sim.reset();
  sim.setDelays(FAST);
  sim.setFaults({ rateLimit: { capacity: 1000, refillPerSec: 1000 } });
  await moto.reset();
});

const trust = atlasTrust;

interface Ready {
  atlasArn: string;
  externalId: string;
  bucketId: string;
  endpointId: string;
  /** The endpoint's VPC endpoint id. */
  vpce: string;
}

interface ReadyOptions {
  requirePrivateNetworking?: boolean;
  /** The bucket's region (AWS form); its private endpoint serves it from `vpcRegionName`. */
  bucketRegion?: string;
  vpcRegionName?: string;
  /** The role's inline permission statements (default: what Atlas documents). */
  statements?: object[];
}

const documented = [
  { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: `arn:aws:s3:::${BUCKET}` },
  { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/*` },
];

/** Everything an export over PrivateLink needs, in place and checked by the simulator when created. */
async function ready(options: ReadyOptions | boolean = {}): Promise<Ready> {
  const o = typeof options === 'boolean' ? { requirePrivateNetworking: options } : options;
  const requirePrivateNetworking = o.requirePrivateNetworking ?? true;
  const bucketRegion = o.bucketRegion ?? 'us-east-1';
  const regionName = bucketRegion.toUpperCase().replace(/-/g, '_');
  const role = (
    await call(sim, owner, `${G}/cloudProviderAccess`, {
      method: 'POST',
      body: { providerName: 'AWS' },
    })
  ).body;
  const created = await aws.iam.send(
    new CreateRoleCommand({
      RoleName: ROLE,
      AssumeRolePolicyDocument: trust(role.atlasAWSAccountArn, role.atlasAssumedRoleExternalId),
    }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: ROLE,
      PolicyName: 'export',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: o.statements ?? documented,
      }),
    }),
  );
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: BUCKET,
      ...(bucketRegion === 'us-east-1'
        ? {}
        : { CreateBucketConfiguration: { LocationConstraint: bucketRegion as 'eu-west-1' } }),
    }),
  );
  const authorized = await call(sim, owner, `${G}/cloudProviderAccess/${role.roleId}`, {
    method: 'PATCH',
    body: { providerName: 'AWS', iamAssumedRoleArn: created.Role!.Arn },
  });
  expect(authorized.status, JSON.stringify(authorized.body)).toBe(200);
  const endpoint = await call(sim, owner, `${G}/backup/AWS/privateEndpoints`, {
    method: 'POST',
    version: '2024-11-13',
    body: { regionName, ...(o.vpcRegionName ? { vpcRegionName: o.vpcRegionName } : {}) },
  });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  await sleep(FAST.endpointProvisionMs + 20);
  const bucket = await call(sim, owner, `${G}/backup/exportBuckets`, {
    method: 'POST',
    version: '2024-05-30',
    body: {
      bucketName: BUCKET,
      cloudProvider: 'AWS',
      iamRoleId: role.roleId,
      requirePrivateNetworking,
    },
  });
  expect(bucket.status, JSON.stringify(bucket.body)).toBe(200);
  return {
    atlasArn: role.atlasAWSAccountArn,
    externalId: role.atlasAssumedRoleExternalId,
    bucketId: bucket.body._id,
    endpointId: endpoint.body.id,
    vpce: (
      await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${endpoint.body.id}`, {
        version: '2024-11-13',
      })
    ).body.privateEndpointConnectionName,
  };
}

/** Starts an export of Cluster0's latest completed snapshot (or `snapshotId`) and polls it until it ends. */
async function exportAndWait(bucketId: string, snapshotId?: string): Promise<Record<string, any>> {
  const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
  const good = snaps.body.results.find(
    (s: { status: string; snapshotType: string }) =>
      s.status === 'completed' && s.snapshotType === 'scheduled',
  );
  const path = `${G}/clusters/Cluster0/backup/exports`;
  const job = await call(sim, owner, path, {
    method: 'POST',
    body: { snapshotId: snapshotId ?? good.id, exportBucketId: bucketId },
  });
  expect(job.status, JSON.stringify(job.body)).toBe(200);
  expect(job.body.state).toBe('Queued');
  for (let i = 0; i < 100; i += 1) {
    const now = await call(sim, owner, `${path}/${job.body.id}`);
    if (now.body.state === 'Successful' || now.body.state === 'Failed') return now.body;
    await sleep(15);
  }
  throw new Error('the export job did not end');
}

describe('export job start checks', () => {
  it('succeeds when everything is still in place (the control case)', async () => {
    const { bucketId } = await ready();
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Successful');
    expect(done.stateReason).toBeUndefined();
  });

  it('fails when the role lost its inline permission policy', async () => {
    const { bucketId } = await ready();
    await aws.iam.send(new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'export' }));
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Failed');
    expect(done.stateReason.errorCode).toBe('EXPORT_BUCKET_NOT_ACCESSIBLE');
    expect(done.stateReason.message).toMatch(
      new RegExp(`cannot write to S3 bucket ${BUCKET} with role arn:aws:iam::\\d{12}:role/${ROLE}`),
    );
    expect(done.stateReason.message).toMatch(/s3:(GetBucketLocation|PutObject)/);
  });

  it('fails when the trust policy expects another external id', async () => {
    const { bucketId, atlasArn, externalId } = await ready();
    await aws.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: ROLE,
        PolicyDocument: trust(atlasArn, 'some-other-external-id'),
      }),
    );
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Failed');
    expect(done.stateReason.errorCode).toBe('CANNOT_ASSUME_ROLE');
    expect(done.stateReason.message).toContain(`does not accept the external id ${externalId}`);
    expect(done.stateReason.message).toContain('some-other-external-id');
  });

  it('fails when a requirePrivateNetworking bucket has no private endpoint left', async () => {
    const { bucketId, endpointId } = await ready();
    expect(
      (
        await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${endpointId}`, {
          method: 'DELETE',
          version: '2024-11-13',
        })
      ).status,
    ).toBeLessThan(300);
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Failed');
    expect(done.stateReason.errorCode).toBe('PRIVATE_ENDPOINT_NOT_ACTIVE_FOR_REGION');
    expect(done.stateReason.message).toMatch(
      /requires private networking.*no ACTIVE Cloud Backup private endpoint in US_EAST_1/,
    );
  });

  it('does not need an endpoint for a bucket without requirePrivateNetworking', async () => {
    const { bucketId, endpointId } = await ready(false);
    await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${endpointId}`, {
      method: 'DELETE',
      version: '2024-11-13',
    });
    expect((await exportAndWait(bucketId)).state).toBe('Successful');
  });
});

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix.replace(/^\//, '') }),
  );
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('export writes as the role, key by key', () => {
  it('a role that may write only .permissioncheck adds the bucket, then the export fails on its first data file', async () => {
    const permissionCheckOnly = [
      documented[0]!,
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: `arn:aws:s3:::${BUCKET}/exported_snapshots/.permissioncheck`,
      },
    ];
    const { bucketId } = await ready({ statements: permissionCheckOnly });
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Failed');
    expect(done.stateReason.errorCode).toBe('EXPORT_BUCKET_NOT_ACCESSIBLE');
    expect(done.stateReason.message).toMatch(
      new RegExp(
        `could not write s3://${BUCKET}/${done.prefix.slice(1).replace(/[.]/g, '\\.')}/\\w+/\\w+/[\\w-]+\\.0\\.json\\.gz with role .*do not allow s3:PutObject`,
      ),
    );
    expect(await keysUnder(done.prefix)).toEqual([]);
  });

  it('a role that may write the data files but not .complete leaves them and fails; with the documented policy all is written', async () => {
    const noComplete = [
      documented[0]!,
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: `arn:aws:s3:::${BUCKET}/*`,
      },
      {
        Effect: 'Deny',
        Action: 's3:PutObject',
        Resource: `arn:aws:s3:::${BUCKET}/*/.complete`,
      },
    ];
    const { bucketId } = await ready({ statements: noComplete });
    const failed = await exportAndWait(bucketId);
    expect(failed.state).toBe('Failed');
    expect(failed.stateReason.message).toMatch(
      /\/\.complete with role .*explicitly deny s3:PutObject/,
    );
    const left = await keysUnder(failed.prefix);
    expect(left.length).toBeGreaterThan(0);
    expect(left.some((k) => k.endsWith('/.complete'))).toBe(false);

    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: 'export',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: documented }),
      }),
    );
    const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
    const other = snaps.body.results.filter(
      (x: { status: string; snapshotType: string; id: string }) =>
        x.status === 'completed' && x.snapshotType !== 'fallback' && x.id !== failed.snapshotId,
    )[0];
    const ok = await exportAndWait(bucketId, other.id);
    expect(ok.state).toBe('Successful');
    expect((await keysUnder(ok.prefix)).some((k) => k.endsWith('/.complete'))).toBe(true);
  });

  it('writes .permissioncheck when an export starts', async () => {
    const { bucketId } = await ready();
    await aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: PERMISSION_CHECK_KEY }));
    await expect(
      aws.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: PERMISSION_CHECK_KEY })),
    ).rejects.toThrow();
    expect((await exportAndWait(bucketId)).state).toBe('Successful');
    await expect(
      aws.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: PERMISSION_CHECK_KEY })),
    ).resolves.toBeDefined();
  });

  it('requests over the private endpoint carry its aws:SourceVpce, so a "Deny unless that endpoint" bucket policy works', async () => {
    const { bucketId, vpce } = await ready();
    expect(vpce).toMatch(/^vpce-[0-9a-f]{17}$/);
    const onlyThrough = (id: string) =>
      aws.s3.send(
        new PutBucketPolicyCommand({
          Bucket: BUCKET,
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'OnlyThroughTheEndpoint',
                Effect: 'Deny',
                Principal: '*',
                Action: 's3:PutObject',
                Resource: `arn:aws:s3:::${BUCKET}/*`,
                Condition: { StringNotEquals: { 'aws:SourceVpce': id } },
              },
            ],
          }),
        }),
      );
    await onlyThrough(vpce);
    expect((await exportAndWait(bucketId)).state).toBe('Successful');
    await onlyThrough('vpce-0000000000000000f');
    const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
    const second = snaps.body.results.filter(
      (x: { status: string; snapshotType: string }) =>
        x.status === 'completed' && x.snapshotType !== 'fallback',
    )[1];
    const denied = await exportAndWait(bucketId, second.id);
    expect(denied.state).toBe('Failed');
    expect(denied.stateReason.message).toMatch(/OnlyThroughTheEndpoint/);
  });
});

describe('cross-region exports over PrivateLink', () => {
  it('a bucket in another region than the cluster needs an endpoint with vpcRegionName = the cluster region', async () => {
    // Cluster0 runs in US_EAST_1; the bucket is in eu-west-1, its endpoint a same-region one.
    const { bucketId, endpointId } = await ready({ bucketRegion: 'eu-west-1' });
    const refused = await exportAndWait(bucketId);
    expect(refused.state).toBe('Failed');
    expect(refused.stateReason.errorCode).toBe('PRIVATE_ENDPOINT_NOT_ACTIVE_FOR_REGION');
    expect(refused.stateReason.message).toContain(
      'cluster Cluster0 runs in US_EAST_1: an export across regions needs an ACTIVE cross-region Cloud Backup private endpoint with regionName EU_WEST_1 and vpcRegionName US_EAST_1',
    );
    expect(refused.stateReason.message).toContain(
      `${endpointId} ACTIVE with vpcRegionName EU_WEST_1`,
    );

    // Replace it with a cross-region endpoint: the next export goes through.
    await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${endpointId}`, {
      method: 'DELETE',
      version: '2024-11-13',
    });
    await sleep(FAST.endpointProvisionMs);
    const cross = await call(sim, owner, `${G}/backup/AWS/privateEndpoints`, {
      method: 'POST',
      version: '2024-11-13',
      body: { regionName: 'EU_WEST_1', vpcRegionName: 'US_EAST_1' },
    });
    expect(cross.status, JSON.stringify(cross.body)).toBe(201);
    await sleep(FAST.endpointProvisionMs + 20);
    const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
    const second = snaps.body.results.filter(
      (x: { status: string; snapshotType: string }) =>
        x.status === 'completed' && x.snapshotType !== 'fallback',
    )[1];
    expect((await exportAndWait(bucketId, second.id)).state).toBe('Successful');
  });

  it('a same-region export refuses a cross-region endpoint that serves another VPC region', async () => {
    const { bucketId } = await ready({ bucketRegion: 'us-east-1', vpcRegionName: 'EU_WEST_1' });
    const done = await exportAndWait(bucketId);
    expect(done.state).toBe('Failed');
    expect(done.stateReason.message).toMatch(
      /no ACTIVE Cloud Backup private endpoint in US_EAST_1 whose vpcRegionName is US_EAST_1, the region of cluster Cluster0/,
    );
  });
});
