/**
 * Every resource function against the real Atlas simulator (and moto behind it for the AWS side):
 * the whole export-over-PrivateLink flow, the flex fallback, and a create whose answer is lost.
 */
import { describe, expect, it } from 'vitest';
import * as access from '../../src/atlas/access.js';
import * as clusters from '../../src/atlas/clusters.js';
import * as buckets from '../../src/atlas/exportBuckets.js';
import * as jobs from '../../src/atlas/exportJobs.js';
import {
  AtlasApiError,
  AtlasClient,
  baseUrlFromEnv,
  credentialsFromEnv,
  type AtlasCallRecord,
} from '../../src/atlas/http.js';
import * as endpoints from '../../src/atlas/privateEndpoints.js';
import * as projects from '../../src/atlas/projects.js';
import * as schedule from '../../src/atlas/schedule.js';
import * as snapshots from '../../src/atlas/snapshots.js';
import { getSystemStatus } from '../../src/atlas/system.js';
import * as iam from '../../src/aws/iam.js';
import * as policies from '../../src/aws/policies.js';
import * as s3 from '../../src/aws/s3.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';

const sandbox = useSandbox({
  delays: { endpointProvisionMs: 150, iamPropagationMs: 100, exportMs: 200 },
});
const GROUP = '6650a1b2c3d4e5f601000001';
const FAST = { budgetMs: 5000, baseDelayMs: 10, maxDelayMs: 100 };

function atlasClient(calls: AtlasCallRecord[] = []): AtlasClient {
  return new AtlasClient({
    baseUrl: baseUrlFromEnv(sandbox.env),
    credentials: credentialsFromEnv(sandbox.env),
    retry: FAST,
    onCall: (call) => calls.push(call),
  });
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The AWS side a user's setup creates: bucket, IAM role trusted by Atlas, permission and bucket policies. */
async function prepareAws(
  role: { atlasAWSAccountArn?: string; atlasAssumedRoleExternalId?: string },
  bucket: string,
) {
  const aws = await awsClientsFor(sandbox.env);
  await s3.createPrivateBucket(aws, { name: bucket, region: 'us-east-1', encryption: 'SSE-S3' });
  const created = await iam.createRole(aws, {
    name: `atlas-export-${bucket}`,
    trustPolicy: policies.trustPolicy({
      atlasAWSAccountArn: role.atlasAWSAccountArn!,
      externalId: role.atlasAssumedRoleExternalId!,
    }),
  });
  await iam.putInlinePolicy(
    aws,
    created.name ?? `atlas-export-${bucket}`,
    'export',
    policies.permissionPolicy({ bucket, partition: 'aws' }),
  );
  const statements = policies.bucketPolicyStatements({
    bucket,
    partition: 'aws',
    roleArn: created.arn,
  });
  await s3.putBucketPolicy(aws, bucket, policies.mergeBucketPolicy(undefined, statements).document);
  return created.arn;
}

describe('resource functions against the simulator', () => {
  it('read the system status, projects, clusters and snapshots', async () => {
    const client = atlasClient();
    const status = await getSystemStatus(client);
    expect(status.appName).toBe('MongoDB Atlas');

    const all = await projects.listProjects(client);
    expect(all.map((p) => p.id)).toContain(GROUP);
    expect((await projects.getProject(client, GROUP)).name).toBe('sandbox-project');

    const list = await clusters.listClusters(client, GROUP);
    expect(list.map((c) => c.name)).toEqual(
      expect.arrayContaining(['Cluster0', 'ShardedCluster0', 'FreeCluster0']),
    );
    const cluster0 = await clusters.getCluster(client, GROUP, 'Cluster0');
    expect(clusters.clusterEligibility(cluster0)).toEqual([]);
    expect(clusters.clusterSummary(cluster0)).toMatchObject({
      provider: 'AWS',
      region: 'US_EAST_1',
      instanceSize: 'M10',
      backupEnabled: true,
    });
    expect(
      clusters.clusterEligibility(await clusters.getCluster(client, GROUP, 'FreeCluster0'))[0],
    ).toMatch(/shared-tier/);
    expect(
      clusters.clusterEligibility(await clusters.getCluster(client, GROUP, 'GcpCluster0'))[0],
    ).toMatch(/GCP/);
    expect(
      clusters.clusterEligibility(await clusters.getCluster(client, GROUP, 'NoBackupCluster0')),
    ).toEqual(['Cloud Backup is turned off for it']);

    const flex = await clusters.getCluster(client, GROUP, 'FlexCluster0');
    expect(flex.flex?.providerSettings.providerName).toBe('FLEX');
    expect(clusters.clusterEligibility(flex)[0]).toMatch(/Flex/);
    expect((await clusters.listFlexClusters(client, GROUP)).map((f) => f.name)).toContain(
      'FlexCluster0',
    );
    const missing = await clusters
      .getCluster(client, GROUP, 'NoSuchCluster')
      .catch((e: unknown) => e as AtlasApiError);
    expect(missing).toBeInstanceOf(AtlasApiError);
    expect((missing as AtlasApiError).errorCode).toBe('CLUSTER_NOT_FOUND');

    const snaps = await snapshots.listSnapshots(client, GROUP, 'Cluster0');
    expect(snaps.length).toBeGreaterThan(2);
    expect((await snapshots.getSnapshot(client, GROUP, 'Cluster0', snaps[0]!.id)).id).toBe(
      snaps[0]!.id,
    );
    const sharded = await snapshots.listShardedSnapshots(client, GROUP, 'ShardedCluster0');
    expect(sharded.length).toBeGreaterThan(0);
    const one = await snapshots.getShardedSnapshot(
      client,
      GROUP,
      'ShardedCluster0',
      sharded[0]!.id,
    );
    expect(one.members?.length).toBeGreaterThan(0);
    await client.close();
  });

  it('run the whole export flow, then tear it down', async () => {
    const calls: AtlasCallRecord[] = [];
    const client = atlasClient(calls);

    // Atlas role, and the IAM role that trusts it.
    const role = await access.createAccessRole(client, GROUP);
    expect(role.roleId).toMatch(/^[0-9a-f]{24}$/);
    expect((await access.listAccessRoles(client, GROUP)).map((r) => r.roleId)).toContain(
      role.roleId,
    );
    expect(
      (await access.getAccessRole(client, GROUP, role.roleId)).atlasAssumedRoleExternalId,
    ).toBe(role.atlasAssumedRoleExternalId);
    const bucket = `export-flow-${Date.now()}`;
    const roleArn = await prepareAws(role, bucket);
    const authorized = await until('authorization', () =>
      access.authorizeAccessRole(client, GROUP, role.roleId, roleArn).catch((error: unknown) => {
        if (error instanceof AtlasApiError && error.errorCode === 'CANNOT_ASSUME_ROLE')
          return undefined; // IAM propagation
        throw error;
      }),
    );
    expect(authorized.iamAssumedRoleArn).toBe(roleArn);

    // The PrivateLink endpoint.
    const endpoint = await endpoints.createPrivateEndpoint(client, GROUP, {
      regionName: 'US_EAST_1',
    });
    expect((await endpoints.listPrivateEndpoints(client, GROUP)).map((e) => e.id)).toContain(
      endpoint.id,
    );
    await until('ACTIVE endpoint', async () => {
      const current = await endpoints.getPrivateEndpoint(client, GROUP, endpoint.id);
      return current.status === 'ACTIVE' ? current : undefined;
    });

    // The export bucket over private networking.
    const exportBucket = await buckets.createExportBucket(client, GROUP, {
      bucketName: bucket,
      iamRoleId: role.roleId,
      requirePrivateNetworking: true,
    });
    expect(exportBucket).toMatchObject({
      bucketName: bucket,
      iamRoleId: role.roleId,
      requirePrivateNetworking: true,
    });
    expect((await buckets.listExportBuckets(client, GROUP)).map((b) => b._id)).toContain(
      exportBucket._id,
    );
    expect(
      (await buckets.updatePrivateNetworking(client, GROUP, exportBucket._id, false))
        .requirePrivateNetworking,
    ).toBe(false);
    expect(
      (await buckets.updatePrivateNetworking(client, GROUP, exportBucket._id, true))
        .requirePrivateNetworking,
    ).toBe(true);
    expect(
      (await buckets.getExportBucket(client, GROUP, exportBucket._id)).requirePrivateNetworking,
    ).toBe(true);

    // Auto-export on and off, policies untouched.
    const current = await schedule.getSchedule(client, GROUP, 'Cluster0');
    const on = await schedule.updateSchedule(
      client,
      GROUP,
      'Cluster0',
      schedule.withAutoExport(current, {
        enabled: true,
        exportBucketId: exportBucket._id,
        frequencyType: 'monthly',
      }),
    );
    expect(on.autoExportEnabled).toBe(true);
    expect(on.export).toEqual({ exportBucketId: exportBucket._id, frequencyType: 'monthly' });
    expect(on.policies).toEqual(current.policies);

    // An export job, to completion.
    const snapshot = (await snapshots.listSnapshots(client, GROUP, 'Cluster0')).find(
      (s) => s.status === 'completed' && s.snapshotType !== 'fallback',
    )!;
    const job = await jobs.createExportJob(client, GROUP, 'Cluster0', {
      snapshotId: snapshot.id,
      exportBucketId: exportBucket._id,
      customData: [{ key: 'by', value: 'atlas-pl-export' }],
    });
    expect(job.exportBucketId).toBe(exportBucket._id);
    expect((await jobs.listExportJobs(client, GROUP, 'Cluster0')).map((j) => j.id)).toContain(
      job.id,
    );
    const finished = await until('export job', async () => {
      const state = await jobs.getExportJob(client, GROUP, 'Cluster0', job.id);
      return state.state === 'Successful' || state.state === 'Failed' ? state : undefined;
    });
    expect(finished.state).toBe('Successful');

    // Teardown: the bucket in use cannot go until auto-export is off.
    const inUse = await buckets
      .deleteExportBucket(client, GROUP, exportBucket._id)
      .catch((e: unknown) => e as AtlasApiError);
    expect(inUse).toBeInstanceOf(AtlasApiError);
    expect((inUse as AtlasApiError).errorCode).toBe('EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE');
    expect((inUse as AtlasApiError).hint).toMatch(/disable auto export/);
    const off = await schedule.updateSchedule(
      client,
      GROUP,
      'Cluster0',
      schedule.withAutoExport(on, { enabled: false }),
    );
    expect(off.autoExportEnabled).toBe(false);
    expect(off.policies).toEqual(current.policies);
    await buckets.deleteExportBucket(client, GROUP, exportBucket._id);
    await endpoints.deletePrivateEndpoint(client, GROUP, endpoint.id);
    await access.deauthorizeAccessRole(client, GROUP, role.roleId);
    expect((await access.listAccessRoles(client, GROUP)).map((r) => r.roleId)).not.toContain(
      role.roleId,
    );

    expect(calls.filter((c) => c.status === 0 || c.status >= 500)).toEqual([]);
    expect(
      calls.find((c) => c.method === 'POST' && c.path.endsWith('/backup/exportBuckets')),
    ).toMatchObject({ status: 200, kind: 'write', attempts: 1 });
    expect(client.stats.writes).toBeGreaterThan(8);
    await client.close();
  });

  it('a create whose connection drops is recovered, not repeated', async () => {
    const client = atlasClient();
    sandbox.atlas.setFaults({ dropConnection: { onCreate: 1 } });
    const before = (await access.listAccessRoles(client, GROUP)).length;
    const role = await access.createAccessRole(client, GROUP);
    const after = await access.listAccessRoles(client, GROUP);
    expect(after).toHaveLength(before + 1);
    expect(after.map((r) => r.roleId)).toContain(role.roleId);
    await client.close();
  });

  it('classifies the simulator errors by errorCode', async () => {
    const client = atlasClient();
    sandbox.atlas.setFaults({ ipNotOnAccessList: true });
    const error = await getSystemStatus(client).catch((e: unknown) => e as AtlasApiError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect((error as AtlasApiError).errorCode).toBe('IP_ADDRESS_NOT_ON_ACCESS_LIST');
    expect((error as AtlasApiError).hint).toMatch(/egress IP/);
    sandbox.atlas.setFaults({ ipNotOnAccessList: false });
    const other = await projects
      .getProject(client, '6650a1b2c3d4e5f601000002')
      .catch((e: unknown) => e as AtlasApiError);
    expect(other).toBeInstanceOf(AtlasApiError);
    expect([401, 403]).toContain((other as AtlasApiError).status);
    await client.close();
  });

  it('service accounts, other keys and rate limits behave as the hints say', async () => {
    const { credentials } = sandbox.atlas.seed;
    const baseUrl = baseUrlFromEnv(sandbox.env);
    const make = (c: ConstructorParameters<typeof AtlasClient>[0]['credentials']) =>
      new AtlasClient({ baseUrl, credentials: c, retry: FAST });

    const account = make({ kind: 'serviceAccount', ...credentials.serviceAccount });
    expect((await projects.getProject(account, GROUP)).id).toBe(GROUP);
    expect((await clusters.listClusters(account, GROUP)).length).toBeGreaterThan(0);
    await account.close();

    const readOnly = make({ kind: 'apiKey', ...credentials.readOnly });
    expect((await projects.getProject(readOnly, GROUP)).id).toBe(GROUP);
    const denied = await access
      .createAccessRole(readOnly, GROUP)
      .catch((e: unknown) => e as AtlasApiError);
    expect(denied).toBeInstanceOf(AtlasApiError);
    // Atlas answers a role that does not cover the call with 401 USER_UNAUTHORIZED, not 403.
    expect((denied as AtlasApiError).status).toBe(401);
    expect((denied as AtlasApiError).errorCode).toBe('USER_UNAUTHORIZED');
    expect((denied as AtlasApiError).hint).toMatch(
      /lacks the role the call needs \(Project Owner\) or belongs to another organization/,
    );
    expect((denied as AtlasApiError).hint).toMatch(/Project Owner role on project/);
    await readOnly.close();

    const other = make({ kind: 'apiKey', ...credentials.otherOrg });
    const outside = await projects
      .getProject(other, GROUP)
      .catch((e: unknown) => e as AtlasApiError);
    expect(outside).toBeInstanceOf(AtlasApiError);
    expect((outside as AtlasApiError).status).toBe(401);
    expect((outside as AtlasApiError).hint).toMatch(/organization that owns project/);
    await other.close();

    sandbox.atlas.setFaults({ rateLimitBurst: { count: 1, retryAfterSec: 1 } });
    const calls: AtlasCallRecord[] = [];
    const client = atlasClient(calls);
    const started = Date.now();
    await getSystemStatus(client);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(calls[0]).toMatchObject({ status: 200, attempts: 2 });
    await client.close();
  });
});
