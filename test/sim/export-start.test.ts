/**
 * An export job re-checks, when it starts running, what real Atlas needs at that moment: it assumes the
 * IAM role (trust policy, external id), writes with the role's permissions, and for a bucket that
 * requires private networking goes through an ACTIVE private endpoint. Against moto and the simulator.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import {
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../src/aws/clients.js';
import type { MotoServer } from '../../src/sandbox/moto.js';
import type { AtlasSimulator } from '../../src/sim/index.js';
import { awsClientsFor } from '../helpers/sandbox.js';
import { FAST, call, startAll } from './sim-helpers.js';

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

const trust = (atlasArn: string, externalId: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: atlasArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalId } },
      },
    ],
  });

interface Ready {
  atlasArn: string;
  externalId: string;
  bucketId: string;
  endpointId: string;
}

/** Everything an export over PrivateLink needs, in place and checked by the simulator when created. */
async function ready(requirePrivateNetworking = true): Promise<Ready> {
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
        Statement: [
          { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: `arn:aws:s3:::${BUCKET}` },
          { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${BUCKET}/*` },
        ],
      }),
    }),
  );
  await aws.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const authorized = await call(sim, owner, `${G}/cloudProviderAccess/${role.roleId}`, {
    method: 'PATCH',
    body: { providerName: 'AWS', iamAssumedRoleArn: created.Role!.Arn },
  });
  expect(authorized.status, JSON.stringify(authorized.body)).toBe(200);
  const endpoint = await call(sim, owner, `${G}/backup/AWS/privateEndpoints`, {
    method: 'POST',
    version: '2024-11-13',
    body: { regionName: 'US_EAST_1' },
  });
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
  };
}

/** Starts an export of Cluster0's latest completed snapshot and polls it until it ends. */
async function exportAndWait(bucketId: string): Promise<Record<string, any>> {
  const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
  const good = snaps.body.results.find(
    (s: { status: string; snapshotType: string }) =>
      s.status === 'completed' && s.snapshotType === 'scheduled',
  );
  const path = `${G}/clusters/Cluster0/backup/exports`;
  const job = await call(sim, owner, path, {
    method: 'POST',
    body: { snapshotId: good.id, exportBucketId: bucketId },
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
