/**
 * `setup` refusing what would break a working setup or change something it then cannot finish:
 * another Atlas or AWS account behind a state file, changed bucket settings, resources that
 * cannot be adopted, keys without the role setup needs. Each refusal comes before any write. Also
 * what the plan and the summary say, and the recoveries of creates cut short by a kill.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolesCommand,
} from '@aws-sdk/client-iam';
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import {
  freshScenario,
  otherAccountEnv,
  readState,
  runSetup,
  setupArgs,
  startOtherAtlas,
} from '../helpers/setup.js';
import { lockState, newState, writeState } from '../../src/state/store.js';
import { startAwsProxy } from '../setup/aws-proxy.js';
import { permissionPolicyText } from '../setup/inspect.js';
import { killAtAtlasRequest } from '../setup/kill.js';

const sandbox = useSandbox();

const WRITE = new Set(['POST', 'PATCH', 'DELETE', 'PUT']);
const KEY_US_EAST_1 = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_EU_WEST_1 = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const FALLBACK_SNAPSHOT = '6650a1b2c3d4e5f603000004';

function json(result: CliResult): Record<string, any> {
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`stdout is not JSON.\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

function atlasWrites(): string[] {
  return sandbox.atlas.calls
    .filter((call) => WRITE.has(call.method))
    .map((call) => `${call.method} ${call.path}`);
}

async function ourRoles(env: Record<string, string>): Promise<string[]> {
  const aws = await awsClientsFor(env);
  const roles = (await aws.iam.send(new ListRolesCommand({}))).Roles ?? [];
  return roles
    .map((role) => role.RoleName ?? '')
    .filter((name) => name.startsWith('atlas-pl-export'));
}

async function trustOf(roleName: string): Promise<string | undefined> {
  const aws = await awsClientsFor(sandbox.env);
  return (await aws.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role
    ?.AssumeRolePolicyDocument;
}

/** Nothing was made: no Atlas write, no AWS write, no state file. */
function expectNothingChanged(result: CliResult, statePath: string) {
  expect(atlasWrites()).toEqual([]);
  expect(json(result).calls.aws.writes).toBe(0);
  expect(existsSync(statePath)).toBe(false);
}

/** Kills setup the instant Atlas has processed the access-role create, before it answers. */
function killAtAccessRoleCreate(args: string[]) {
  return killAtAtlasRequest(sandbox, args, /\/cloudProviderAccess$/);
}

describe('a state file belongs to one Atlas and one AWS account', () => {
  it('a rerun against another Atlas (MONGODB_ATLAS_BASE_URL) refuses before any call to it', async () => {
    const { statePath, bucket } = freshScenario('other-atlas');
    const state = await runSetup(sandbox, statePath, bucket, []);
    const trustBefore = await trustOf(state.resources.iamRole.name);
    const other = await startOtherAtlas(sandbox);
    try {
      const rerun = await runCli(setupArgs(sandbox, statePath, bucket), {
        env: { ...sandbox.env, MONGODB_ATLAS_BASE_URL: other.url },
      });
      expect(rerun.code, rerun.stderr).toBe(2);
      expect(rerun.stderr).toContain(
        `records a setup in the Atlas at ${new URL(sandbox.env.MONGODB_ATLAS_BASE_URL!).origin}, but MONGODB_ATLAS_BASE_URL points at ${new URL(other.url).origin}`,
      );
      expect(rerun.stderr).toMatch(/what to do: Set MONGODB_ATLAS_BASE_URL=/);
      expect(other.calls).toEqual([]);
      expect(other.state.accessRoles).toEqual([]);
      expect(await trustOf(state.resources.iamRole.name)).toBe(trustBefore);
      expect(readState(statePath)).toEqual(state);
    } finally {
      await other.close();
    }
  });

  it("a rerun with another AWS account's credentials refuses before any write, naming both accounts", async () => {
    const { statePath, bucket } = freshScenario('other-aws');
    const state = await runSetup(sandbox, statePath, bucket, []);
    const aws = await awsClientsFor(sandbox.env);
    const policyBefore = (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy;
    const otherAccount = await otherAccountEnv(sandbox);
    sandbox.atlas.calls.length = 0;

    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: otherAccount });
    expect(rerun.code, rerun.stderr).toBe(2);
    expect(rerun.stderr).toContain(
      `records AWS account ${state.aws.accountId}, but the AWS credentials in use belong to account 222233334444`,
    );
    expect(rerun.stderr).toMatch(/what to do: Use credentials of account \d{12}/);
    expect(json(rerun).calls.aws.writes).toBe(0);
    expect(atlasWrites()).toEqual([]);
    expect(await ourRoles(otherAccount)).toEqual([]);
    expect((await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy).toBe(
      policyBefore,
    );
    expect(readState(statePath)).toEqual(state);
  });
});

describe('a rerun asking for other bucket settings', () => {
  it('another --region, --encryption or --kms-key-arn is refused, naming the recorded and the asked value', async () => {
    const { statePath, bucket } = freshScenario('settings');
    const state = await runSetup(sandbox, statePath, bucket, []);
    const aws = await awsClientsFor(sandbox.env);
    const policy = async () =>
      (
        await aws.iam.send(
          new GetRolePolicyCommand({
            RoleName: state.resources.iamRole.name,
            PolicyName: 'atlas-pl-export-s3',
          }),
        )
      ).PolicyDocument;
    const permissionsBefore = await policy();
    sandbox.atlas.calls.length = 0;

    const region = await runCli(setupArgs(sandbox, statePath, bucket, ['--region', 'eu-west-1']), {
      env: sandbox.env,
    });
    expect(region.code, region.stderr).toBe(2);
    expect(region.stderr).toMatch(/bucket region us-east-1 \(asked: eu-west-1\)/);
    expect(region.stderr).toMatch(/what to do: Leave out --region, --encryption and --kms-key-arn/);
    expect(region.stderr).not.toMatch(/Plan:/);

    const kms = await runCli(
      setupArgs(sandbox, statePath, bucket, [
        '--encryption',
        'SSE-KMS',
        '--kms-key-arn',
        KEY_US_EAST_1,
      ]),
      { env: sandbox.env },
    );
    expect(kms.code, kms.stderr).toBe(2);
    expect(kms.stderr).toMatch(/encryption SSE-S3 \(asked: SSE-KMS\)/);
    expect(sandbox.atlas.calls).toEqual([]);
    expect(await policy()).toBe(permissionsBefore);
    expect(readState(statePath)).toEqual(state);
  });
});

describe('refusals come before any write, and their hint works', () => {
  it('an existing bucket in another region: refused in preflight; the hinted --region then works', async () => {
    const { statePath, bucket } = freshScenario('wrong-region');
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
      }),
    );
    const refused = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/The bucket \S+ is in eu-west-1, not in us-east-1/);
    expect(refused.stderr).toMatch(/what to do: Pass --region eu-west-1/);
    expectNothingChanged(refused, statePath);
    expect(sandbox.atlas.state.accessRoles).toEqual([]);
    expect(await ourRoles(sandbox.env)).toEqual([]);

    const hinted = await runCli(setupArgs(sandbox, statePath, bucket, ['--region', 'eu-west-1']), {
      env: sandbox.env,
    });
    expect(hinted.code, hinted.stderr).toBe(0);
    const state = readState(statePath);
    expect(state.resources.bucket).toMatchObject({ region: 'eu-west-1', origin: 'adopted' });
    expect(state.resources.privateEndpoint.regionName).toBe('EU_WEST_1');
  });

  it('a failed preflight (unknown project) writes no state file, so the corrected id just works', async () => {
    const { statePath, bucket } = freshScenario('no-project');
    const args = setupArgs(sandbox, statePath, bucket);
    const wrong = [...args];
    wrong[wrong.indexOf('--project-id') + 1] = '5f1a2b3c4d5e6f7a8b9c0d1e';
    const failed = await runCli(wrong, { env: sandbox.env });
    expect(failed.code, failed.stderr).toBe(3);
    expect(failed.stderr).toMatch(/404/);
    expect(existsSync(statePath)).toBe(false);
    const fixed = await runCli(args, { env: sandbox.env });
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(readState(statePath).atlas.projectId).toBe(sandbox.atlas.seed.projectId);
  });

  it('a state file that holds no resource (as older versions left after a failed preflight) pins nothing', async () => {
    const { statePath, bucket } = freshScenario('empty-state');
    await writeState(
      statePath,
      newState({
        atlas: {
          baseUrl: 'https://cloud.mongodb.com',
          projectId: '5f1a2b3c4d5e6f7a8b9c0d1e',
          clusterName: 'Cluster0',
        },
        aws: { accountId: '000000000000', region: 'us-east-1' },
      }),
    );
    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(result.code, result.stderr).toBe(0);
    expect(readState(statePath).atlas).toMatchObject({
      projectId: sandbox.atlas.seed.projectId,
      baseUrl: sandbox.env.MONGODB_ATLAS_BASE_URL,
    });
  });

  it('a read-only API key is refused in preflight with the Project Owner explanation; a service account goes on', async () => {
    const { statePath, bucket } = freshScenario('read-only');
    const readOnly = sandbox.atlas.seed.credentials.readOnly;
    const result = await runCli(setupArgs(sandbox, statePath, bucket), {
      env: {
        ...sandbox.env,
        MONGODB_ATLAS_PUBLIC_API_KEY: readOnly.publicKey,
        MONGODB_ATLAS_PRIVATE_API_KEY: readOnly.privateKey,
      },
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(
      /The API key lacks Project Owner on project [0-9a-f]{24} \(its roles there: ORG_MEMBER, GROUP_READ_ONLY\)/,
    );
    expect(result.stderr).toMatch(/what to do: Grant the key the Project Owner role/);
    expectNothingChanged(result, statePath);

    sandbox.atlas.calls.length = 0;
    const account = sandbox.atlas.seed.credentials.serviceAccount;
    const dry = await runCli(setupArgs(sandbox, statePath, bucket, ['--dry-run']), {
      env: {
        ...sandbox.env,
        MONGODB_ATLAS_PUBLIC_API_KEY: undefined,
        MONGODB_ATLAS_PRIVATE_API_KEY: undefined,
        MONGODB_ATLAS_CLIENT_ID: account.clientId,
        MONGODB_ATLAS_CLIENT_SECRET: account.clientSecret,
      },
    });
    expect(dry.code, dry.stderr).toBe(0);
    expect(sandbox.atlas.calls.map((call) => call.operationId)).not.toContain('getSystemStatus');
  });

  it('an empty --iam-role-name is refused, not replaced by the default', async () => {
    const { statePath, bucket } = freshScenario('empty-flag');
    const result = await runCli(setupArgs(sandbox, statePath, bucket, ['--iam-role-name', '']), {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/--iam-role-name is empty/);
    expect(sandbox.atlas.calls).toEqual([]);
  });

  it('config file problems and value problems come in one message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setup-config-'));
    const config = join(dir, 'export.json');
    writeFileSync(
      config,
      JSON.stringify({
        projectId: 'xyz',
        clusterName: 'Cluster0',
        bucket: { name: 'My.Bucket', colour: 'blue' },
        timeouts: { authorizeSeconds: 'soon' },
      }),
    );
    const result = await runCli(
      [
        'setup',
        '--non-interactive',
        '--config',
        config,
        '--authorize-timeout',
        'soon',
        '--state',
        join(dir, 's.json'),
      ],
      { env: sandbox.env },
    );
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/5 problems must be fixed before anything is changed/);
    expect(result.stderr).toMatch(/--authorize-timeout must be a positive number of seconds/);
    expect(result.stderr).toMatch(/bucket: unknown key\(s\) "colour"/);
    expect(result.stderr).toMatch(/timeouts\.authorizeSeconds:/);
    expect(result.stderr).toMatch(/project id "xyz"/);
    expect(result.stderr).toMatch(/bucket name "My\.Bucket"/);
    expect(sandbox.atlas.calls).toEqual([]);
  });
});

describe('IAM role names', () => {
  it('the default name is one per setup: a second setup of the same cluster gets its own role', async () => {
    const first = freshScenario('role-a');
    const second = freshScenario('role-b');
    const a = await runSetup(sandbox, first.statePath, first.bucket, []);
    const b = await runSetup(sandbox, second.statePath, second.bucket, []);
    expect(a.resources.iamRole.name).toContain(first.bucket);
    expect(b.resources.iamRole.name).toContain(second.bucket);
    expect(a.resources.iamRole.name).not.toBe(b.resources.iamRole.name);
    expect(b.resources.iamRole.origin).toBe('created');
    expect((await ourRoles(sandbox.env)).sort()).toEqual(
      [a.resources.iamRole.name, b.resources.iamRole.name].sort(),
    );
  });

  it('a long bucket name gives a role name within 64 characters, the same on every run', async () => {
    const { statePath } = freshScenario('long');
    const bucket = `pl-long-${process.pid}-${'x'.repeat(40)}`.slice(0, 63);
    const names = [];
    for (let run = 0; run < 2; run += 1) {
      const dry = await runCli(setupArgs(sandbox, statePath, bucket, ['--dry-run']), {
        env: sandbox.env,
      });
      expect(dry.code, dry.stderr).toBe(0);
      names.push(/IAM role (\S+): create/.exec(dry.stderr)?.[1]);
    }
    expect(names[0]).toBeDefined();
    expect(names[0]!.length).toBeLessThanOrEqual(64);
    expect(names[0]).toMatch(/^atlas-pl-export-pl-long-/);
    expect(names[1]).toBe(names[0]);
  });

  it("--dry-run with another setup's role name predicts the refusal; the real run changes nothing", async () => {
    const first = freshScenario('taken-a');
    const taken = await runSetup(sandbox, first.statePath, first.bucket, []);
    const roleName = taken.resources.iamRole.name;
    const trustBefore = await trustOf(roleName);
    const second = freshScenario('taken-b');
    const args = setupArgs(sandbox, second.statePath, second.bucket, ['--iam-role-name', roleName]);
    sandbox.atlas.calls.length = 0;

    const dry = await runCli([...args, '--dry-run'], { env: sandbox.env });
    expect(dry.code, dry.stderr).toBe(2);
    expect(dry.stderr).toContain(
      `The IAM role ${roleName} already exists and trusts a principal other than this setup's Atlas access role`,
    );
    const real = await runCli(args, { env: sandbox.env });
    expect(real.code, real.stderr).toBe(2);
    expect(real.stderr).toMatch(/IAM role \S+ already exists/);
    expectNothingChanged(real, second.statePath);
    expect(sandbox.atlas.state.accessRoles).toHaveLength(1);
    expect(await trustOf(roleName)).toBe(trustBefore);
  });
});

describe('creates cut short by a kill', () => {
  function anotherUnusedRole(createdDate: string) {
    const ours = sandbox.atlas.state.accessRoles[0]!;
    const roleId = randomBytes(12).toString('hex');
    sandbox.atlas.state.accessRoles.push({
      ...structuredClone(ours),
      roleId,
      atlasAssumedRoleExternalId: randomUUID(),
      createdDate,
    });
    return roleId;
  }

  it('with two unused access roles created around the killed create, neither is adopted; both are named', async () => {
    const { statePath, bucket } = freshScenario('orphans');
    const args = setupArgs(sandbox, statePath, bucket);
    await killAtAccessRoleCreate(args);
    const pendingAt = Date.parse(readState(statePath).pending.atlasRole);
    const ours = sandbox.atlas.state.accessRoles[0]!.roleId;
    const theirs = anotherUnusedRole(new Date(pendingAt + 2000).toISOString());

    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    const recorded = readState(statePath).resources.atlasRole.roleId;
    expect([ours, theirs]).not.toContain(recorded);
    expect(rerun.stderr).toMatch(/may have left one behind/);
    expect(rerun.stderr).toContain(ours);
    expect(rerun.stderr).toContain(theirs);
    expect(sandbox.atlas.state.accessRoles).toHaveLength(3);
  });

  it('an unused access role created minutes after the killed create is not taken for its result', async () => {
    const { statePath, bucket } = freshScenario('late-role');
    const args = setupArgs(sandbox, statePath, bucket);
    await killAtAccessRoleCreate(args);
    const pendingAt = Date.parse(readState(statePath).pending.atlasRole);
    const ours = sandbox.atlas.state.accessRoles[0]!.roleId;
    anotherUnusedRole(new Date(pendingAt + 3 * 60_000).toISOString());

    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(readState(statePath).resources.atlasRole).toMatchObject({
      roleId: ours,
      origin: 'created',
    });
    expect(rerun.stderr).not.toMatch(/may have left one behind/);
  });

  it("an unused access role created after the killed create's request could have ended is not adopted", async () => {
    const { statePath, bucket } = freshScenario('outside-window');
    const args = setupArgs(sandbox, statePath, bucket);
    await killAtAccessRoleCreate(args);
    const pendingAt = Date.parse(readState(statePath).pending.atlasRole);
    // The killed create made nothing here; another setup's unused role came 40 s after it was sent,
    // later than the create's request (30 s at most) could have been open.
    const ours = sandbox.atlas.state.accessRoles[0]!.roleId;
    const theirs = anotherUnusedRole(new Date(pendingAt + 40_000).toISOString());
    sandbox.atlas.state.accessRoles.splice(
      sandbox.atlas.state.accessRoles.findIndex((role) => role.roleId === ours),
      1,
    );

    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    const recorded = readState(statePath).resources.atlasRole.roleId;
    expect(recorded).not.toBe(theirs);
    expect(sandbox.atlas.state.accessRoles.map((role) => role.roleId)).toEqual([theirs, recorded]);
  });

  it('a rerun with another bucket and region while a private-endpoint create is pending is refused, naming it', async () => {
    const { statePath, bucket } = freshScenario('pending-endpoint');
    await killAtAtlasRequest(sandbox, setupArgs(sandbox, statePath, bucket), /\/privateEndpoints$/);
    // Only the endpoint create is pending, as when the kill comes before the other creates start.
    const state = readState(statePath);
    expect(state.pending.endpoint).toBeDefined();
    state.pending = { endpoint: state.pending.endpoint };
    writeFileSync(statePath, JSON.stringify(state));
    sandbox.atlas.calls.length = 0;

    const other = freshScenario('pending-endpoint-2');
    const rerun = await runCli(
      setupArgs(sandbox, statePath, other.bucket, ['--region', 'eu-west-1']),
      { env: sandbox.env },
    );
    expect(rerun.code, rerun.stderr).toBe(2);
    expect(rerun.stderr).toContain(
      `records a different setup: bucket ${bucket} (asked: ${other.bucket}).`,
    );
    expect(rerun.stderr).toContain(
      `A create of the private endpoint (sent ${state.pending.endpoint}) is pending`,
    );
    expect(rerun.stderr).toMatch(/what to do: Rerun with the recorded values/);
    expect(atlasWrites()).toEqual([]);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);

    // Following the hint: the rerun finds the endpoint the killed run made and records it.
    const resumed = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
    expect(readState(statePath).resources.privateEndpoint).toMatchObject({
      id: sandbox.atlas.state.privateEndpoints[0]!.id,
      origin: 'created',
    });
  });

  it('an IAM role of the pending name that the killed run did not create is refused, not taken over', async () => {
    const { statePath, bucket } = freshScenario('pending-role');
    const roleName = `pending-role-${process.pid}`;
    const args = setupArgs(sandbox, statePath, bucket, ['--iam-role-name', roleName]);
    await killAtAccessRoleCreate(args);
    // The killed run's IAM create was recorded ten minutes ago; the role of that name was made by
    // someone else just now, trusting someone else.
    const state = readState(statePath);
    state.pending.iamRole = new Date(Date.now() - 10 * 60_000).toISOString();
    writeFileSync(statePath, JSON.stringify(state));
    const aws = await awsClientsFor(sandbox.env);
    await aws.iam.send(
      new CreateRoleCommand({
        RoleName: roleName,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: 'arn:aws:iam::999999999999:root' },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    );
    const trustBefore = await trustOf(roleName);
    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(2);
    expect(rerun.stderr).toMatch(/IAM role \S+ already exists and trusts a principal other than/);
    expect(await trustOf(roleName)).toBe(trustBefore);
  });

  it('a private endpoint another setup created for the region meanwhile (409) is adopted', async () => {
    const { statePath, bucket } = freshScenario('endpoint-race');
    let injected: string | undefined;
    const stop = sandbox.atlas.onExchange((exchange) => {
      if (injected || exchange.operationId !== 'listGroupBackupPrivateEndpoints') return;
      // Another setup's create lands right after this setup listed the endpoints.
      injected = randomBytes(12).toString('hex');
      sandbox.atlas.state.privateEndpoints.push({
        id: injected,
        groupId: sandbox.atlas.seed.projectId,
        regionName: 'US_EAST_1',
        vpcRegionName: 'US_EAST_1',
        vpcEndpointId: `vpce-${randomBytes(9).toString('hex').slice(0, 17)}`,
        createdAtMs: Date.now(),
      });
    });
    try {
      const result = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
      expect(result.code, result.stderr).toBe(0);
    } finally {
      stop();
    }
    expect(
      sandbox.atlas.calls.some(
        (call) => call.operationId === 'createGroupBackupPrivateEndpoint' && call.status === 409,
      ),
    ).toBe(true);
    expect(readState(statePath).resources.privateEndpoint).toMatchObject({
      id: injected,
      origin: 'adopted',
    });
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
  });
});

describe('KMS', () => {
  it('a key given without --encryption means SSE-KMS, and the plan says so', async () => {
    const { statePath, bucket } = freshScenario('kms');
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--kms-key-arn', KEY_US_EAST_1]),
      {
        env: sandbox.env,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /SSE-KMS encryption with key \S+ \(SSE-KMS because a KMS key was given\)/,
    );
    expect(result.stderr).toMatch(/KMS requests/);
    const aws = await awsClientsFor(sandbox.env);
    const rule = (await aws.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })))
      .ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
    expect(rule).toMatchObject({ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY_US_EAST_1 });
    const state = readState(statePath);
    expect(state.resources.bucket).toMatchObject({
      encryption: 'SSE-KMS',
      kmsKeyArn: KEY_US_EAST_1,
    });
    const permissions = await permissionPolicyText(sandbox.env, state.resources.iamRole.name);
    expect(permissions).toContain('kms:GenerateDataKey');
  });

  it('--encryption is case-insensitive', async () => {
    const { statePath, bucket } = freshScenario('kms-case');
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, [
        '--encryption',
        'sse-kms',
        '--kms-key-arn',
        KEY_US_EAST_1,
        '--dry-run',
      ]),
      { env: sandbox.env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/not SSE-KMS|must be SSE-S3 or SSE-KMS/);
    expect(result.stderr).toMatch(/SSE-KMS encryption with key/);
  });

  it('a key of another region or partition than the bucket is refused before any write', async () => {
    const { statePath, bucket } = freshScenario('kms-region');
    const given = await runCli(
      setupArgs(sandbox, statePath, bucket, [
        '--region',
        'us-east-1',
        '--kms-key-arn',
        KEY_EU_WEST_1,
      ]),
      { env: sandbox.env },
    );
    expect(given.code, given.stderr).toBe(2);
    expect(given.stderr).toMatch(/is in eu-west-1, but the bucket is in us-east-1/);
    const partition = await runCli(
      setupArgs(sandbox, statePath, bucket, [
        '--kms-key-arn',
        KEY_US_EAST_1.replace('arn:aws:', 'arn:aws-cn:'),
      ]),
      { env: sandbox.env },
    );
    expect(partition.code, partition.stderr).toBe(2);
    expect(partition.stderr).toMatch(/is in the aws-cn partition/);
    expect(sandbox.atlas.calls).toEqual([]);

    // Without --region the bucket goes to the cluster's region, known after preflight's reads.
    const defaulted = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--kms-key-arn', KEY_EU_WEST_1]),
      {
        env: sandbox.env,
      },
    );
    expect(defaulted.code, defaulted.stderr).toBe(2);
    expect(defaulted.stderr).toMatch(/is in eu-west-1, but the bucket is in us-east-1/);
    expectNothingChanged(defaulted, statePath);
  });
});

describe('what the plan and the summary say', () => {
  it('the plan names the regions, says an existing endpoint is used, lists only the charges that apply, in run order', async () => {
    const first = freshScenario('plan-a');
    await runSetup(sandbox, first.statePath, first.bucket, []);
    const endpointId = sandbox.atlas.state.privateEndpoints[0]!.id;
    const second = freshScenario('plan-b');
    const result = await runCli(
      setupArgs(sandbox, second.statePath, second.bucket, [
        '--schedule',
        'monthly',
        '--export-now',
        'latest',
      ]),
      { env: sandbox.env },
    );
    expect(result.code, result.stderr).toBe(0);
    const plan = result.stderr.slice(
      result.stderr.indexOf('Plan:'),
      result.stderr.indexOf('Charges'),
    );
    expect(plan).toMatch(/S3 bucket \S+ in us-east-1: create/);
    expect(plan).toContain(
      `Object-storage private endpoint for US_EAST_1: use the existing ${endpointId} (ACTIVE)`,
    );
    expect(plan).not.toMatch(/cluster's region|bucket's region/);
    expect(plan.indexOf('Auto-export monthly')).toBeLessThan(
      plan.indexOf('Export snapshot latest'),
    );
    const charges = result.stderr.slice(
      result.stderr.indexOf('Charges'),
      result.stderr.indexOf('✔ ', result.stderr.indexOf('Charges')),
    );
    expect(charges.replace(/\s+/g, ' ')).toContain(
      `the existing endpoint ${endpointId} is used, so no new hourly charge`,
    );
    expect(charges).not.toMatch(/KMS/);
    for (const line of charges.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    // Without a terminal each step prints one line, when it ends.
    expect(result.stderr).not.toMatch(/^… /m);
    expect(readState(second.statePath).resources.privateEndpoint).toMatchObject({
      id: endpointId,
      origin: 'adopted',
    });
  });

  it('a cross-region bucket: the plan says so before anything is created', async () => {
    const { statePath, bucket } = freshScenario('plan-cross');
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--region', 'eu-west-1', '--dry-run']),
      {
        env: sandbox.env,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /Object-storage private endpoint for EU_WEST_1 \(cross-region: its VPC endpoint in the cluster's region US_EAST_1\): create/,
    );
  });

  it('--dry-run checks the snapshot to export like the export command does', async () => {
    const { statePath, bucket } = freshScenario('dry-export');
    const fallback = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--dry-run', '--export-now', FALLBACK_SNAPSHOT]),
      { env: sandbox.env },
    );
    expect(fallback.code, fallback.stderr).toBe(3);
    expect(fallback.stderr).toMatch(
      new RegExp(`Snapshot ${FALLBACK_SNAPSHOT} cannot be exported: it is a fallback snapshot`),
    );
    expect(fallback.stderr).not.toMatch(/would export/);
    const latest = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--dry-run', '--export-now', 'latest']),
      {
        env: sandbox.env,
      },
    );
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.stderr).toMatch(/would export snapshot 6650a1b2c3d4e5f603000003/);
    expect(atlasWrites()).toEqual([]);
  });

  it('"patched from false" shows on the run that patched requirePrivateNetworking, not on later ones', async () => {
    const { statePath, bucket } = freshScenario('patched');
    const state = await runSetup(sandbox, statePath, bucket, []);
    const exportBucket = sandbox.atlas.state.exportBuckets.find(
      (item) => item._id === state.resources.exportBucket.id,
    )!;
    exportBucket.requirePrivateNetworking = false;
    const patching = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(patching.code, patching.stderr).toBe(0);
    expect(json(patching).steps.exportBucket).toMatchObject({ status: 'updated' });
    expect(patching.stderr).toMatch(/requirePrivateNetworking: true \(patched from false\)/);
    expect(exportBucket.requirePrivateNetworking).toBe(true);

    const later = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(later.code, later.stderr).toBe(0);
    expect(json(later).steps.exportBucket.status).toBe('unchanged');
    expect(json(later).steps.exportBucket.detail).not.toMatch(/patched from false/);
    expect(later.stderr).not.toMatch(/patched from false/);
    expect(readState(statePath).resources.exportBucket.patchedPrivateNetworking).toBe(true);
  });
});

describe('auto-export turned off with the schedule command', () => {
  it('a rerun of setup leaves it off; an explicit --schedule turns it back on', async () => {
    const { statePath, bucket } = freshScenario('schedule-off');
    await runSetup(sandbox, statePath, bucket, ['--schedule', 'monthly']);
    const schedule = () =>
      sandbox.atlas.state.schedules.find(
        (item) => item.clusterName === sandbox.atlas.seed.clusters.eligible,
      )!;
    const off = await runCli(
      ['schedule', '--disable', '--yes', '--non-interactive', '--state', statePath],
      {
        env: sandbox.env,
      },
    );
    expect(off.code, off.stderr).toBe(0);
    expect(schedule().autoExportEnabled).toBe(false);

    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(schedule().autoExportEnabled).toBe(false);
    expect(json(rerun).steps.schedule).toBeUndefined();

    const on = await runCli(setupArgs(sandbox, statePath, bucket, ['--schedule', 'monthly']), {
      env: sandbox.env,
    });
    expect(on.code, on.stderr).toBe(0);
    expect(schedule()).toMatchObject({
      autoExportEnabled: true,
      export: { frequencyType: 'monthly' },
    });
  });
});

describe('the state-file lock', () => {
  it('a symlink to a state file shares its lock, so a second run through it is refused', async () => {
    const { statePath, bucket } = freshScenario('symlink');
    const link = join(mkdtempSync(join(tmpdir(), 'setup-link-')), 'link.json');
    symlinkSync(statePath, link);
    const lock = lockState(statePath, () => undefined);
    try {
      const result = await runCli(setupArgs(sandbox, link, bucket), { env: sandbox.env });
      expect(result.code, result.stderr).toBe(5);
      expect(result.stderr).toMatch(
        new RegExp(`Another atlas-pl-export run \\(pid ${process.pid}\\) is using the state file`),
      );
      expect(sandbox.atlas.calls).toEqual([]);
    } finally {
      lock.release();
    }
    expect(existsSync(statePath)).toBe(false);
  });
});

describe('a create the SDK retried', () => {
  it("CreateRole whose first attempt succeeded before the connection dropped: the retry's EntityAlreadyExists is this run's role", async () => {
    const { statePath, bucket } = freshScenario('iam-retry');
    const proxy = await startAwsProxy(sandbox.env);
    try {
      let dropped = 0;
      proxy.intercept = (exchange) =>
        exchange.body.includes('Action=CreateRole') && dropped++ === 0 ? { drop: true } : undefined;
      const result = await runCli(setupArgs(sandbox, statePath, bucket), {
        env: { ...sandbox.env, AWS_ENDPOINT_URL_IAM: proxy.url },
      });
      expect(dropped).toBeGreaterThan(1);
      expect(result.code, result.stderr).toBe(0);
      const state = readState(statePath);
      expect(state.resources.iamRole.origin).toBe('created');
      expect(state.pending).toEqual({});
      expect(await ourRoles(sandbox.env)).toEqual([state.resources.iamRole.name]);
    } finally {
      await proxy.close();
    }
  });
});
