/**
 * `setup` end to end: the built CLI against moto and the Atlas simulator, asserting on the clouds'
 * resulting state, the state file and the output.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeletePublicAccessBlockCommand,
  GetBucketEncryptionCommand,
  GetBucketPolicyCommand,
  GetPublicAccessBlockCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { GetRoleCommand, GetRolePolicyCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import { describe, expect, it } from 'vitest';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { emptyBucket } from '../../src/aws/s3.js';
import {
  setupArgs,
  tempState as sharedTempState,
  uniqueBucket as sharedUniqueBucket,
} from '../helpers/setup.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const sandbox = useSandbox();

const WRITE = new Set(['POST', 'PATCH', 'DELETE', 'PUT']);

const tempState = () => sharedTempState('setup-test');
const uniqueBucket = () => sharedUniqueBucket('export-test');
const baseArgs = (statePath: string, bucket: string, cluster?: string): string[] =>
  setupArgs(sandbox, statePath, bucket, [], cluster);

function json(result: CliResult): Record<string, any> {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(
      `stdout is not one JSON document.\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
}

function atlasWrites(): string[] {
  return sandbox.atlas.calls
    .filter((call) => WRITE.has(call.method))
    .map((call) => `${call.method} ${call.path}`);
}

/** The parts of the final state that must not depend on how many runs it took to get there. */
function essence(statePath: string) {
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  const r = state.resources;
  return {
    bucket: r.bucket,
    atlasRole: {
      roleId: r.atlasRole?.roleId,
      origin: r.atlasRole?.origin,
      authorized: Boolean(r.atlasRole?.authorizedAt),
    },
    iamRole: r.iamRole,
    bucketPolicy: r.bucketPolicy,
    privateEndpoint: { id: r.privateEndpoint?.id, origin: r.privateEndpoint?.origin },
    exportBucket: r.exportBucket,
    schedule: r.schedule && { frequency: r.schedule.frequency, origin: r.schedule.origin },
    pending: state.pending,
  };
}

describe('setup, non-interactive', () => {
  it('builds the whole PrivateLink export path, exports a snapshot and schedules auto-export', async () => {
    const statePath = tempState();
    const bucket = uniqueBucket();
    const result = await runCli(
      [...baseArgs(statePath, bucket), '--export-now', 'latest', '--schedule', 'monthly'],
      {
        env: sandbox.env,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const summary = json(result);
    expect(summary.ok).toBe(true);

    // S3: private, encrypted, with the TLS-only deny and the role's allow.
    const aws = await awsClientsFor(sandbox.env);
    const pab = await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(pab.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    });
    const encryption = await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(
      encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault
        ?.SSEAlgorithm,
    ).toBe('AES256');

    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    const roleArn: string = state.resources.iamRole.arn;
    const atlasRole = sandbox.atlas.state.accessRoles.find(
      (role) => role.roleId === state.resources.atlasRole.roleId,
    )!;
    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    const deny = policy.Statement.find((s: any) => s.Effect === 'Deny');
    expect(deny).toMatchObject({
      Principal: '*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const allow = policy.Statement.find((s: any) => s.Effect === 'Allow');
    expect(allow.Principal).toEqual({ AWS: roleArn });

    // IAM: exactly the trust and permissions Atlas documents.
    const role = await aws.iam.send(new GetRoleCommand({ RoleName: state.resources.iamRole.name }));
    const trust = JSON.parse(decodeURIComponent(role.Role!.AssumeRolePolicyDocument!));
    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: atlasRole.atlasAWSAccountArn },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': atlasRole.atlasAssumedRoleExternalId } },
    });
    const inline = await aws.iam.send(
      new GetRolePolicyCommand({
        RoleName: state.resources.iamRole.name,
        PolicyName: 'atlas-pl-export-s3',
      }),
    );
    const permissions = JSON.parse(decodeURIComponent(inline.PolicyDocument!));
    const granted = permissions.Statement.flatMap((s: any) =>
      [s.Action].flat().map((a: string) => `${a} ${[s.Resource].flat().join(',')}`),
    );
    expect(granted.sort()).toEqual([
      `s3:GetBucketLocation arn:aws:s3:::${bucket}`,
      `s3:PutObject arn:aws:s3:::${bucket}/*`,
    ]);

    // Atlas: role authorized for that ARN, endpoint ACTIVE, export bucket private, export done, schedule set.
    expect(atlasRole.iamAssumedRoleArn).toBe(roleArn);
    expect(atlasRole.authorizedDate).toBeTruthy();
    const endpoint = sandbox.atlas.state.privateEndpoints.find(
      (e) => e.id === state.resources.privateEndpoint.id,
    )!;
    expect(endpoint.regionName).toBe('US_EAST_1');
    const exportBucket = sandbox.atlas.state.exportBuckets.find(
      (b) => b._id === state.resources.exportBucket.id,
    )!;
    expect(exportBucket).toMatchObject({
      bucketName: bucket,
      requirePrivateNetworking: true,
      iamRoleId: atlasRole.roleId,
    });
    expect(state.exports).toHaveLength(1);
    expect(state.exports[0]).toMatchObject({
      state: 'Successful',
      filesVerified: true,
      requirePrivateNetworking: true,
    });
    const prefix = String(state.exports[0].prefix).replace(/^\//, '');
    const objects = await aws.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }),
    );
    expect(objects.Contents?.map((o) => o.Key)).toContain(`${prefix}/.complete`);
    const schedule = sandbox.atlas.state.schedules.find(
      (s) => s.clusterName === sandbox.atlas.seed.clusters.eligible,
    )!;
    expect(schedule.autoExportEnabled).toBe(true);
    expect(schedule.export).toMatchObject({
      exportBucketId: exportBucket._id,
      frequencyType: 'monthly',
    });

    // The state file: mode 0600, every id, no secret.
    const raw = readFileSync(statePath, 'utf8');
    for (const secret of [
      sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY,
      sandbox.env.AWS_SECRET_ACCESS_KEY,
    ]) {
      expect(raw).not.toContain(secret);
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
    expect(state.resources.bucket.origin).toBe('created');
    expect(state.pending).toEqual({});
  });

  it('a second run makes no write call and reads each resource at most once', async () => {
    const statePath = tempState();
    const bucket = uniqueBucket();
    const first = await runCli([...baseArgs(statePath, bucket), '--schedule', 'monthly'], {
      env: sandbox.env,
    });
    expect(first.code, first.stderr).toBe(0);
    const before = essence(statePath);
    sandbox.atlas.calls.length = 0;

    const second = await runCli(baseArgs(statePath, bucket), { env: sandbox.env });
    expect(second.code, second.stderr).toBe(0);
    const summary = json(second);
    expect(summary.calls.atlas.writes).toBe(0);
    expect(summary.calls.aws.writes).toBe(0);
    expect(atlasWrites()).toEqual([]);
    const resources = Object.keys(JSON.parse(readFileSync(statePath, 'utf8')).resources).length;
    expect(summary.calls.atlas.reads + summary.calls.aws.reads).toBeLessThanOrEqual(resources);
    expect(Object.values(summary.steps).every((step: any) => step.status === 'unchanged')).toBe(
      true,
    );
    expect(essence(statePath)).toEqual(before);
  });

  it('--dry-run makes no write call and writes no state file', async () => {
    const statePath = tempState();
    const result = await runCli([...baseArgs(statePath, uniqueBucket()), '--dry-run'], {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(atlasWrites()).toEqual([]);
    expect(json(result).calls.aws.writes).toBe(0);
    expect(existsSync(statePath)).toBe(false);
    expect(result.stderr).toMatch(/would create/);
  });

  it('a bucket in another region gets a cross-region endpoint (vpcRegionName = the cluster region)', async () => {
    const statePath = tempState();
    // The Atlas form of a region name is accepted too, and stored in AWS form.
    const result = await runCli([...baseArgs(statePath, uniqueBucket()), '--region', 'EU_WEST_1'], {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(0);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    const endpoint = sandbox.atlas.state.privateEndpoints.find(
      (e) => e.id === state.resources.privateEndpoint.id,
    )!;
    expect(endpoint).toMatchObject({ regionName: 'EU_WEST_1', vpcRegionName: 'US_EAST_1' });
    expect(state.resources.bucket.region).toBe('eu-west-1');
  });

  it("an endpoint for the bucket's region whose VPC endpoint is elsewhere is refused before any write", async () => {
    // Another setup (a cluster in eu-west-1) made the EU_WEST_1 endpoint with its VPC endpoint there;
    // exports of this US_EAST_1 cluster could not use it, and Atlas keeps one per bucket region.
    sandbox.atlas.state.privateEndpoints.push({
      id: 'e0e0e0e0e0e0e0e0e0e0e0e0',
      groupId: sandbox.atlas.seed.projectId,
      regionName: 'EU_WEST_1',
      vpcRegionName: 'EU_WEST_1',
      vpcEndpointId: 'vpce-0123456789abcdef0',
      createdAtMs: Date.now() - 3_600_000,
    });
    const statePath = tempState();
    const result = await runCli([...baseArgs(statePath, uniqueBucket()), '--region', 'eu-west-1'], {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      "The project's object-storage private endpoint e0e0e0e0e0e0e0e0e0e0e0e0 for EU_WEST_1 has its VPC endpoint in EU_WEST_1, but cluster Cluster0 is in US_EAST_1",
    );
    expect(sandbox.atlas.calls.filter((call) => WRITE.has(call.method))).toEqual([]);
    expect(existsSync(statePath)).toBe(false);
  });

  it('killed at each step boundary in turn, then rerun, ends in the same state with no duplicates', async () => {
    const reference = tempState();
    const refBucket = uniqueBucket();
    expect(
      (
        await runCli([...baseArgs(reference, refBucket), '--schedule', 'monthly'], {
          env: sandbox.env,
        })
      ).code,
    ).toBe(0);
    const steps: string[] = JSON.parse(readFileSync(reference, 'utf8')).completedSteps;

    for (let boundary = 1; boundary < steps.length; boundary += 1) {
      await sandbox.moto.reset();
      await sandbox.atlas.reset();
      const statePath = tempState();
      const bucket = uniqueBucket();
      const args = [...baseArgs(statePath, bucket), '--schedule', 'monthly'];
      const killed = await runCli(args, {
        env: sandbox.env,
        onSpawn: (child) => {
          const timer = setInterval(() => {
            if (!existsSync(statePath)) return;
            try {
              const done = JSON.parse(readFileSync(statePath, 'utf8')).completedSteps as string[];
              if (done.length >= boundary) {
                child.kill('SIGKILL');
                clearInterval(timer);
              }
            } catch {
              // Read between writes: the file is replaced atomically, so the next poll sees it whole.
            }
          }, 5);
          child.on('exit', () => clearInterval(timer));
        },
      });
      const rerun = await runCli(args, { env: sandbox.env });
      expect(
        rerun.code,
        `boundary ${boundary} (${killed.signal ?? killed.code}): ${rerun.stderr}`,
      ).toBe(0);
      const final = essence(statePath);
      expect(final.pending).toEqual({});
      expect(Object.keys(final).sort()).toEqual(Object.keys(essence(reference)).sort());
      expect(final.bucket?.origin).toBe('created');
      expect(final.iamRole?.origin).toBe('created');
      expect(final.atlasRole.origin).toBe('created');
      expect(final.exportBucket?.origin).toBe('created');
      expect(sandbox.atlas.state.accessRoles).toHaveLength(1);
      expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
      expect(sandbox.atlas.state.exportBuckets).toHaveLength(1);
      const aws = await awsClientsFor(sandbox.env);
      const roles = await aws.iam.send(new ListRolesCommand({}));
      expect(roles.Roles?.filter((r) => r.RoleName?.startsWith('atlas-pl-export'))).toHaveLength(1);
    }
  }, 240_000);
});

describe('setup repairs and recovers', () => {
  it('recreates a bucket deleted behind its back, and --repair turns Block Public Access back on', async () => {
    const statePath = tempState();
    const bucket = uniqueBucket();
    expect((await runCli(baseArgs(statePath, bucket), { env: sandbox.env })).code).toBe(0);
    const aws = await awsClientsFor(sandbox.env);

    await aws.s3.send(new DeletePublicAccessBlockCommand({ Bucket: bucket }));
    const plain = await runCli(baseArgs(statePath, bucket), { env: sandbox.env });
    expect(plain.code, plain.stderr).toBe(0);
    const repaired = await runCli([...baseArgs(statePath, bucket), '--repair'], {
      env: sandbox.env,
    });
    expect(repaired.code, repaired.stderr).toBe(0);
    // Names what was restored (it said "turned back on blocked all public access" before).
    expect(repaired.stderr).toMatch(
      /: restored Block Public Access \(all four settings; all were off\)/,
    );
    const pab = await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(Object.values(pab.PublicAccessBlockConfiguration ?? {})).toEqual([
      true,
      true,
      true,
      true,
    ]);

    await aws.s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    await emptyBucket(aws, bucket);
    await aws.s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    const again = await runCli(baseArgs(statePath, bucket), { env: sandbox.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/no longer exists; creating it again/);
    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    expect(policy.Statement.some((statement: any) => statement.Effect === 'Deny')).toBe(true);
  });

  it('after a kill, a rerun with no answers takes them from the state file', async () => {
    const statePath = tempState();
    const bucket = uniqueBucket();
    const args = [
      ...baseArgs(statePath, bucket),
      '--schedule',
      'monthly',
      '--iam-role-name',
      `resume-${process.pid}`,
    ];
    await runCli(args, {
      env: sandbox.env,
      onSpawn: (child) => {
        const timer = setInterval(() => {
          try {
            if (JSON.parse(readFileSync(statePath, 'utf8')).completedSteps.includes('preflight')) {
              child.kill('SIGKILL');
              clearInterval(timer);
            }
          } catch {
            // not written yet
          }
        }, 5);
        child.on('exit', () => clearInterval(timer));
      },
    });
    const rerun = await runCli(['setup', '--non-interactive', '--state', statePath, '--json'], {
      env: sandbox.env,
    });
    expect(rerun.code, rerun.stderr).toBe(0);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(state.resources.bucket.name).toBe(bucket);
    expect(state.resources.iamRole.name).toBe(`resume-${process.pid}`);
    expect(state.resources.schedule.frequency).toBe('monthly');
  });

  it('refuses to take over an IAM role that trusts another setup, and changes nothing in it', async () => {
    const first = tempState();
    const role = `shared-role-${process.pid}`;
    expect(
      (
        await runCli([...baseArgs(first, uniqueBucket()), '--iam-role-name', role], {
          env: sandbox.env,
        })
      ).code,
    ).toBe(0);
    const aws = await awsClientsFor(sandbox.env);
    const before = (await aws.iam.send(new GetRoleCommand({ RoleName: role }))).Role!
      .AssumeRolePolicyDocument;

    const second = await runCli(
      [...baseArgs(tempState(), uniqueBucket()), '--iam-role-name', role],
      { env: sandbox.env },
    );
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      /already exists and trusts a principal other than this setup's Atlas access role/,
    );
    expect(second.stderr).toMatch(/--iam-role-name/);
    // Refused in preflight: the second setup created nothing, in Atlas or AWS.
    expect(sandbox.atlas.state.accessRoles).toHaveLength(1);
    expect(json(second).calls.aws.writes).toBe(0);
    expect(
      (await aws.iam.send(new GetRoleCommand({ RoleName: role }))).Role!.AssumeRolePolicyDocument,
    ).toBe(before);
  });
});

describe('setup refuses before any write', () => {
  it.each([
    ['tenant', 'tenant', /M10|tier|tenant|free/i],
    ['gcp', 'gcp', /AWS/],
    ['noBackup', 'noBackup', /backup/i],
    ['flex', 'flex', /flex/i],
  ] as const)('an ineligible cluster (%s)', async (_label, key, reason) => {
    const statePath = tempState();
    const cluster = sandbox.atlas.seed.clusters[key];
    const result = await runCli(baseArgs(statePath, uniqueBucket(), cluster), { env: sandbox.env });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(new RegExp(`Cluster ${cluster} cannot export`));
    expect(result.stderr).toMatch(reason);
    expect(atlasWrites()).toEqual([]);
    expect(json(result).calls.aws.writes).toBe(0);
    expect(json(result)).toMatchObject({
      ok: false,
      error: { code: 'CLUSTER_NOT_ELIGIBLE' },
      exitCode: 3,
    });
  });

  it('bad identifiers and missing values, all listed in one message, with no cloud call', async () => {
    const statePath = tempState();
    const result = await runCli(
      [
        'setup',
        '--non-interactive',
        '--project-id',
        'xyz',
        '--bucket',
        'My.Bucket',
        '--region',
        'moon-1',
        '--state',
        statePath,
      ],
      { env: sandbox.env },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/project id/);
    expect(result.stderr).toMatch(/24 hexadecimal/);
    expect(result.stderr).toMatch(/bucket name/);
    expect(result.stderr).toMatch(/region/);
    expect(sandbox.atlas.calls).toEqual([]);
    expect(existsSync(statePath)).toBe(false);
  });

  it('an auto-export frequency other than monthly or yearly, before any call', async () => {
    const statePath = tempState();
    const result = await runCli([...baseArgs(statePath, uniqueBucket()), '--schedule', 'daily'], {
      env: sandbox.env,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/must be monthly or yearly/);
    expect(sandbox.atlas.calls).toEqual([]);
    expect(existsSync(statePath)).toBe(false);
  });

  it('a missing config value, and an unknown config key, are reported before any call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setup-config-'));
    const config = join(dir, 'export.json');
    writeFileSync(
      config,
      JSON.stringify({
        projectId: sandbox.atlas.seed.projectId,
        bucket: { name: 'fine-bucket-name' },
      }),
    );
    const missing = await runCli(
      ['setup', '--non-interactive', '--config', config, '--state', join(dir, 's.json')],
      { env: sandbox.env },
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing cluster name/);
    writeFileSync(
      config,
      JSON.stringify({
        projectId: sandbox.atlas.seed.projectId,
        clusterName: 'Cluster0',
        bucket: { name: 'ok-name', colour: 'blue' },
      }),
    );
    const unknown = await runCli(
      ['setup', '--non-interactive', '--config', config, '--state', join(dir, 's.json')],
      { env: sandbox.env },
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/bucket: unknown key\(s\) "colour"/);
    expect(sandbox.atlas.calls).toEqual([]);
  });

  it('a corrupt state file is an error naming the problem, and is left as it was', async () => {
    const statePath = tempState();
    writeFileSync(statePath, '{ not json');
    const result = await runCli(baseArgs(statePath, uniqueBucket()), { env: sandbox.env });
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/not valid JSON/);
    expect(readFileSync(statePath, 'utf8')).toBe('{ not json');
    expect(sandbox.atlas.calls).toEqual([]);
  });
});
