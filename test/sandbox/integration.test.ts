/**
 * The simulator and the AWS checks together, through the Atlas API as a client sees it: authorizing
 * an IAM role, adding an export bucket and exporting a snapshot decide on the IAM and S3 state in
 * moto, and the export leaves its files in the bucket.
 */
import {
  CreateRoleCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { AwsClients } from '../../src/aws/clients.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { atlasTrust } from '../sim/sim-helpers.js';

const sandbox = useSandbox({ delays: { iamPropagationMs: 200, exportMs: 200 } });

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function atlas(
  method: string,
  path: string,
  body?: object,
  version = '2023-01-01',
): Promise<Answer> {
  const { request } = await import('urllib');
  const env = sandbox.env;
  const type = `application/vnd.atlas.${version}+json`;
  const response = await request(`${env.MONGODB_ATLAS_BASE_URL}/api/atlas/v2${path}`, {
    method: method as 'GET',
    digestAuth: `${env.MONGODB_ATLAS_PUBLIC_API_KEY}:${env.MONGODB_ATLAS_PRIVATE_API_KEY}`,
    headers: { Accept: type, ...(body ? { 'Content-Type': type } : {}) },
    ...(body ? { content: JSON.stringify(body) } : {}),
    dataType: 'json',
  });
  return { status: response.status, body: response.data as Record<string, unknown> };
}

const trust = atlasTrust;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readJson(
  aws: AwsClients,
  bucket: string,
  key: string,
): Promise<Record<string, unknown>> {
  const object = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>;
}

describe('simulator + AWS checks against moto', () => {
  it('authorize, add an export bucket and export a snapshot, each decided on moto’s IAM and S3', async () => {
    const aws = await awsClientsFor(sandbox.env);
    const group = sandbox.atlas.seed.projectId;
    const cluster = sandbox.atlas.seed.clusters.eligible;

    // Cloud provider access role: a wrong external id in the trust policy is refused.
    const created = await atlas('POST', `/groups/${group}/cloudProviderAccess`, {
      providerName: 'AWS',
    });
    expect(created.status).toBe(200);
    const { roleId, atlasAWSAccountArn, atlasAssumedRoleExternalId } = created.body as Record<
      string,
      string
    >;
    const role = await aws.iam.send(
      new CreateRoleCommand({
        RoleName: 'atlas-export-it',
        AssumeRolePolicyDocument: trust(atlasAWSAccountArn!, 'not-the-id'),
      }),
    );
    const roleArn = role.Role!.Arn!;
    const wrong = await atlas('PATCH', `/groups/${group}/cloudProviderAccess/${roleId}`, {
      providerName: 'AWS',
      iamAssumedRoleArn: roleArn,
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errorCode).toBe('CANNOT_ASSUME_ROLE');
    expect(String(wrong.body.detail)).toMatch(/external id/);

    await aws.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: 'atlas-export-it',
        PolicyDocument: trust(atlasAWSAccountArn!, atlasAssumedRoleExternalId!),
      }),
    );
    await sleep(250);
    const authorized = await atlas('PATCH', `/groups/${group}/cloudProviderAccess/${roleId}`, {
      providerName: 'AWS',
      iamAssumedRoleArn: roleArn,
    });
    expect(authorized.status).toBe(200);
    expect(authorized.body.authorizedDate).toBeTruthy();

    // Export bucket: refused until the role may PutObject, then .permissioncheck is written.
    const bucketName = 'atlas-it-exports';
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    const statement = (action: string, resource: string) => ({
      Effect: 'Allow',
      Action: action,
      Resource: resource,
    });
    const policy = (statements: object[]) =>
      JSON.stringify({ Version: '2012-10-17', Statement: statements });
    const location = statement('s3:GetBucketLocation', `arn:aws:s3:::${bucketName}`);
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: 'atlas-export-it',
        PolicyName: 'export',
        PolicyDocument: policy([location]),
      }),
    );
    const bucketBody = { bucketName, cloudProvider: 'AWS', iamRoleId: roleId };
    const refused = await atlas('POST', `/groups/${group}/backup/exportBuckets`, bucketBody);
    expect(refused.status).toBe(400);
    expect(String(refused.body.detail)).toMatch(/s3:PutObject/);

    const put = statement('s3:PutObject', `arn:aws:s3:::${bucketName}/*`);
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: 'atlas-export-it',
        PolicyName: 'export',
        PolicyDocument: policy([location, put]),
      }),
    );
    const bucket = await atlas('POST', `/groups/${group}/backup/exportBuckets`, bucketBody);
    expect(bucket.status).toBe(200);
    await expect(
      aws.s3.send(
        new HeadObjectCommand({ Bucket: bucketName, Key: 'exported_snapshots/.permissioncheck' }),
      ),
    ).resolves.toBeDefined();

    // Export job: the files and .complete land in the bucket.
    const snapshots = await atlas('GET', `/groups/${group}/clusters/${cluster}/backup/snapshots`);
    const results = snapshots.body.results as Array<Record<string, unknown>>;
    const snapshot = results.find((s) => s.status === 'completed' && s.snapshotType !== 'fallback');
    expect(snapshot).toBeDefined();
    const job = await atlas('POST', `/groups/${group}/clusters/${cluster}/backup/exports`, {
      snapshotId: snapshot!.id,
      exportBucketId: bucket.body._id,
    });
    expect(job.status).toBe(200);
    let state = '';
    let current: Answer = job;
    for (let i = 0; i < 50 && state !== 'Successful' && state !== 'Failed'; i += 1) {
      await sleep(100);
      current = await atlas(
        'GET',
        `/groups/${group}/clusters/${cluster}/backup/exports/${String(job.body.id)}`,
      );
      state = String(current.body.state);
    }
    expect(state).toBe('Successful');
    const prefix = String(current.body.prefix).replace(/^\//, '');
    const complete = await readJson(aws, bucketName, `${prefix}/.complete`);
    expect(complete).toMatchObject({ groupId: group, clusterName: cluster });
    // .complete counts the files (totalFiles) and lists none; every collection has data and metadata.json.
    expect(complete.files).toBeUndefined();
    const listed = await aws.s3.send(
      new ListObjectsV2Command({ Bucket: bucketName, Prefix: `${prefix}/` }),
    );
    const files = (listed.Contents ?? [])
      .map((o) => (o.Key ?? '').slice(prefix.length + 1))
      .filter((key) => key !== '.complete');
    expect(files.length).toBe(complete.totalFiles);
    const collections = sandbox.atlas.state.exportData[cluster] ?? [];
    for (const { db, collection } of collections) {
      expect(files).toContain(`${db}/${collection}/metadata.json`);
      expect(
        files.some((f) => f.startsWith(`${db}/${collection}/`) && f.endsWith('.json.gz')),
      ).toBe(true);
    }
  });
});
