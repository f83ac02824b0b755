/**
 * `teardown` end to end: a real setup through the built CLI against moto and the Atlas simulator,
 * then teardown, asserting on what is left in moto, in the simulator, in the state file and in the
 * output: only what this tool created goes, others' objects and statements stay, a kill halfway is
 * finished by a rerun, and the bucket goes only with --delete-bucket (non-empty only with --force).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetBucketPolicyCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import {
  freshScenario,
  readState,
  runKilledAtAtlasWrite,
  runSetup,
  setupArgs,
} from '../helpers/setup.js';
import { runCli, type CliResult, type RunCliOptions } from '../helpers/cli.js';
import { startTerminal } from '../helpers/pty.js';
import type { AwsClients } from '../../src/aws/clients.js';

const sandbox = useSandbox();
let aws: AwsClients;

beforeAll(async () => {
  aws = await awsClientsFor(sandbox.env);
});

function teardown(
  statePath: string,
  extra: string[] = [],
  onSpawn?: RunCliOptions['onSpawn'],
): Promise<CliResult> {
  return runCli(['teardown', '--state', statePath, ...extra], { env: sandbox.env, onSpawn });
}

/** A statement and an object that someone else put in the bucket. */
const FOREIGN_SID = 'SomeoneElsesReadOnlyAccess';
async function addForeignContent(bucket: string): Promise<void> {
  const policy = JSON.parse(
    (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
  );
  policy.Statement.push({
    Sid: FOREIGN_SID,
    Effect: 'Allow',
    Principal: { AWS: 'arn:aws:iam::123456789012:root' },
    Action: 's3:GetObject',
    Resource: `arn:aws:s3:::${bucket}/*`,
  });
  await aws.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  await aws.s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'someone-else/notes.txt', Body: 'keep me' }),
  );
}

async function bucketPolicySids(bucket: string): Promise<string[]> {
  const policy = JSON.parse(
    (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
  );
  return policy.Statement.map((statement: { Sid?: string }) => statement.Sid);
}

async function roleExists(name: string): Promise<boolean> {
  try {
    await aws.iam.send(new GetRoleCommand({ RoleName: name }));
    return true;
  } catch (error) {
    if (
      (error as { name?: string }).name === 'NoSuchEntity' ||
      (error as { name?: string }).name === 'NoSuchEntityException'
    )
      return false;
    throw error;
  }
}

async function bucketExists(bucket: string): Promise<boolean> {
  try {
    await aws.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch {
    return false;
  }
}

/** Asserts that nothing this tool created in Atlas remains, and auto-export is off with the policies unchanged. */
function expectAtlasClean(state: Record<string, any>, policiesBefore: unknown): void {
  const sim = sandbox.atlas.state;
  const r = state.resources;
  expect(sim.exportBuckets.find((b) => b._id === r.exportBucket.id)).toBeUndefined();
  expect(sim.accessRoles.find((a) => a.roleId === r.atlasRole.roleId)).toBeUndefined();
  const endpoint = sim.privateEndpoints.find((e) => e.id === r.privateEndpoint.id);
  // The simulator drops an endpoint once its DELETING phase is over, on the next read.
  expect(endpoint === undefined || endpoint.deletingSinceMs !== undefined).toBe(true);
  const schedule = sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!;
  expect(schedule.autoExportEnabled).toBe(false);
  expect(schedule.policies).toEqual(policiesBefore);
}

/** Runs the CLI in a pseudo-terminal, answers the confirmation with `answer`, and returns the exit code and screen. */
async function inTerminal(
  args: string[],
  answer: string,
): Promise<{ code: number; screen: string }> {
  const term = await startTerminal(args, sandbox.env);
  await term.waitFor('Remove these resources?', 60_000);
  term.type(`${answer}\r`);
  return { code: await term.exited, screen: term.output() };
}

describe('teardown', () => {
  it('removes nothing and keeps every id when Atlas cannot find the project (GROUP_NOT_FOUND is not "already gone")', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    await runSetup(sandbox, statePath, bucket);
    const edited = readState(statePath);
    edited.atlas.projectId = '6650a1b2c3d4e5f601000009';
    writeFileSync(statePath, JSON.stringify(edited, null, 2));
    const atlasBefore = structuredClone({
      exportBuckets: sandbox.atlas.state.exportBuckets,
      accessRoles: sandbox.atlas.state.accessRoles,
      privateEndpoints: sandbox.atlas.state.privateEndpoints,
    });
    const result = await teardown(statePath, ['--yes', '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { code: 'GROUP_NOT_FOUND' },
    });
    expect(result.stderr).not.toMatch(/already gone|\bat .*\.js:\d+/);
    // The state file still records every resource; nothing was removed anywhere.
    expect(Object.keys(readState(statePath).resources).sort()).toEqual(
      Object.keys(edited.resources).sort(),
    );
    expect({
      exportBuckets: sandbox.atlas.state.exportBuckets,
      accessRoles: sandbox.atlas.state.accessRoles,
      privateEndpoints: sandbox.atlas.state.privateEndpoints,
    }).toEqual(atlasBefore);
    expect(await roleExists(edited.resources.iamRole.name)).toBe(true);
  });

  it("removes everything it created after a full setup with auto-export, leaving others' objects and statements; --delete-bucket refuses a non-empty bucket without --force and empties and deletes it with it", async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    await addForeignContent(bucket);
    const policiesBefore = structuredClone(
      sandbox.atlas.state.schedules.find((s) => s.clusterName === state.atlas.clusterName)!
        .policies,
    );

    const result = await teardown(statePath, ['--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.ok).toBe(true);
    expect(summary.removed.map((item: { resource: string }) => item.resource)).toEqual([
      'schedule',
      'exportBucket',
      'privateEndpoint',
      'atlasRole',
      'iamRole',
      'bucketPolicy',
    ]);
    expect(summary.kept).toEqual([expect.objectContaining({ resource: 'bucket' })]);
    // The plan was shown before anything was removed, and the endpoint wait finished.
    expect(result.stderr).toMatch(/Teardown will remove, in this order/);
    expect(result.stderr).toMatch(/Removed private endpoint .*: deleted/);

    // Atlas: our export bucket, endpoint and access role are gone; auto-export is off, policies unchanged.
    expectAtlasClean(state, policiesBefore);
    const writes = sandbox.atlas.calls
      .filter((call) => call.method === 'DELETE')
      .map((call) => call.path);
    expect(writes).toContain(
      `/api/atlas/v2/groups/${state.atlas.projectId}/cloudProviderAccess/AWS/${state.resources.atlasRole.roleId}`,
    );

    // AWS: the IAM role is gone; the bucket stays with the other party's object and statement only.
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
    expect(await bucketPolicySids(bucket)).toEqual([FOREIGN_SID]);
    const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect((listed.Contents ?? []).map((item) => item.Key)).toContain('someone-else/notes.txt');

    // The state file now records only the kept bucket.
    const after = readState(statePath);
    expect(Object.keys(after.resources)).toEqual(['bucket']);
    expect(result.stderr).toContain('now records only the bucket');
    // The command that deletes it: the --state in use, and --force since it holds objects.
    expect(result.stderr).toContain(
      `To delete it too, run: atlas-pl-export teardown --state ${statePath} --delete-bucket --force (it holds objects, your exports: --force deletes them first)`,
    );
    // The TLS-deny statement setup added is gone from a bucket kept with objects: said, with the
    // statement to put back.
    expect(result.stderr).toContain(
      `The bucket s3://${bucket} is kept with objects in it and no longer denies requests without TLS: teardown removed the statement AtlasPlExportDenyInsecureTransport`,
    );
    expect(result.stderr).toContain('"aws:SecureTransport":"false"');
    // --json carries that warning too, statement and all.
    expect(summary.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^The bucket s3://${bucket} is kept with objects in it and no longer denies requests without TLS: .*"aws:SecureTransport":"false"`,
        ),
      ),
    ]);

    // --delete-bucket on the non-empty bucket: refused, nothing changed. The flags are valid; the
    // bucket's contents block the step (3), as the README's table says.
    const refused = await teardown(statePath, ['--yes', '--delete-bucket']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/holds \d+ objects?, so --delete-bucket will not delete it/);
    expect(refused.stderr).toContain('--force');
    expect(await bucketExists(bucket)).toBe(true);
    expect(existsSync(statePath)).toBe(true);

    // With --force: emptied, deleted, and the state file is gone.
    const forced = await teardown(statePath, ['--yes', '--delete-bucket', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await bucketExists(bucket)).toBe(false);
    expect(existsSync(statePath)).toBe(false);
    expect(forced.stderr).toMatch(/state file .* was deleted/);
  });

  it('after a setup killed while creating the private endpoint, neither claims nothing remains nor deletes the state file (exit 3); setup then teardown removes it', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const args = setupArgs(sandbox, statePath, bucket, []);
    // The simulator has made the endpoint; setup never hears back, so it is only pending.
    await runKilledAtAtlasWrite(sandbox, args, 'POST', /\/privateEndpoints$/);
    expect(readState(statePath).pending.endpoint).toBeDefined();
    expect(readState(statePath).resources.privateEndpoint).toBeUndefined();
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
    const before = readFileSync(statePath, 'utf8');
    const deletesBefore = sandbox.atlas.calls.filter((call) => call.method === 'DELETE').length;

    const result = await teardown(statePath, ['--yes', '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(
      /An earlier setup was stopped while creating [^\n]*the private endpoint[^\n]*: (it|they) may exist in Atlas or AWS without being recorded/,
    );
    expect(result.stderr).toContain('Nothing was removed.');
    expect(result.stderr).not.toContain('Nothing this tool created remains');
    expect(result.stderr).not.toContain('Nothing to remove');
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { code: 'CREATE_PENDING' },
    });
    expect(JSON.parse(result.stdout).error.hint).toContain('atlas-pl-export setup');
    // Nothing changed: the state file with its pending mark, the endpoint in Atlas.
    expect(readFileSync(statePath, 'utf8')).toBe(before);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
    expect(sandbox.atlas.calls.filter((call) => call.method === 'DELETE')).toHaveLength(
      deletesBefore,
    );

    // --force removes what is recorded, and still keeps the state file with its pending marks.
    const forced = await teardown(statePath, ['--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(3);
    expect(forced.stderr).toContain('Going on (--force)');
    expect(forced.stderr).not.toContain('Nothing this tool created remains');
    expect(existsSync(statePath)).toBe(true);
    expect(readState(statePath).pending.endpoint).toBeDefined();

    // What the message says to do works: setup adopts the endpoint, teardown removes everything.
    const resumed = await runCli(args, { env: sandbox.env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readState(statePath).pending).toEqual({});
    const removed = await teardown(statePath, ['--yes', '--delete-bucket', '--force']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(0);
    expect(sandbox.atlas.state.accessRoles ?? []).toHaveLength(0);
    expect(existsSync(statePath)).toBe(false);
  });

  it('finishes after being killed halfway', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    const policiesBefore = structuredClone(
      sandbox.atlas.state.schedules.find((s) => s.clusterName === state.atlas.clusterName)!
        .policies,
    );

    let killed = false;
    const first = await teardown(statePath, ['--yes'], (child) => {
      let seen = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (!killed && /Removed export bucket/.test(seen)) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
    });
    expect(killed, first.stderr).toBe(true);
    expect(first.signal).toBe('SIGKILL');
    // Some removals are done and recorded; others are not.
    const halfway = readState(statePath);
    expect(halfway.resources.schedule).toBeUndefined();
    expect(halfway.resources.exportBucket).toBeUndefined();
    expect(halfway.resources.bucketPolicy).toBeDefined();
    expect(halfway.resources.iamRole).toBeDefined();
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);

    const second = await teardown(statePath, ['--yes', '--delete-bucket', '--force']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/ended without releasing/);
    expectAtlasClean(state, policiesBefore);
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
    expect(await bucketExists(bucket)).toBe(false);
    expect(existsSync(statePath)).toBe(false);
  });

  it("stops with Atlas's explanation when the export bucket is still used by auto-export on another cluster", async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    const sim = sandbox.atlas.state;
    const ours = sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!;
    const other = sandbox.atlas.seed.clusters.sharded;
    sim.schedules = sim.schedules.filter((s) => s.clusterName !== other);
    sim.schedules.push({
      ...structuredClone(ours),
      clusterName: other,
      clusterId: 'bbbbbbbbbbbbbbbbbbbbbbbb',
    });

    const result = await teardown(statePath, ['--yes']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE');
    expect(result.stderr).toContain(other);
    expect(result.stderr).toMatch(/what to do: .*disable auto export on every cluster/i);
    // Our own auto-export was turned off and recorded; the export bucket and everything after it remain.
    const after = readState(statePath);
    expect(after.resources.schedule).toBeUndefined();
    expect(after.resources.exportBucket).toBeDefined();
    expect(after.resources.iamRole).toBeDefined();
    expect(sim.exportBuckets.some((b) => b._id === state.resources.exportBucket.id)).toBe(true);
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);
  });

  it('refuses to run unattended without --yes, and a --config file that cannot be read, changing nothing', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    await runSetup(sandbox, statePath, bucket);
    const before = readFileSync(statePath, 'utf8');
    const callsBefore = sandbox.atlas.calls.length;

    const noYes = await teardown(statePath, ['--non-interactive']);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/--yes/);
    const noConfig = await teardown(statePath, ['--yes', '--config', '/nonexistent.json']);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toMatch(/Cannot read the config file \/nonexistent\.json/);

    expect(readFileSync(statePath, 'utf8')).toBe(before);
    expect(sandbox.atlas.calls.length).toBe(callsBefore);
  });

  it('will not go ahead while an export job to the export bucket is running (exit 3, naming the job), unless --force', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket, []);
    sandbox.atlas.setDelays({ exportMs: 60_000 });
    const started = await runCli(
      ['export', '--state', statePath, '--latest', '--no-wait', '--non-interactive'],
      { env: sandbox.env },
    );
    expect(started.code, started.stderr).toBe(0);
    const jobId = started.stdout.trim();
    const before = readFileSync(statePath, 'utf8');

    const refused = await teardown(statePath, ['--yes']);
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(
      new RegExp(
        `Export job ${jobId} \\(snapshot \\w+\\) of cluster Cluster0 to export bucket ${state.resources.exportBucket.id} is (Queued|InProgress): Atlas would keep writing into s3://${bucket}`,
      ),
    );
    expect(refused.stderr).toContain(`atlas-pl-export export --job ${jobId}`);
    expect(refused.stderr).toMatch(/--force/);
    expect(readFileSync(statePath, 'utf8')).toBe(before);
    expect(
      sandbox.atlas.state.exportBuckets.some((b) => b._id === state.resources.exportBucket.id),
    ).toBe(true);

    const forced = await teardown(statePath, ['--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/Going on \(--force\)/);
    expect(
      sandbox.atlas.state.exportBuckets.some((b) => b._id === state.resources.exportBucket.id),
    ).toBe(false);
  });

  it('gives up waiting for a slow endpoint deletion at the configured timeout, and a rerun finishes', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    // From now on a deletion stays DELETING for minutes; the wait is bounded by timeouts.endpointSeconds.
    sandbox.atlas.setDelays({ endpointProvisionMs: 600_000 });
    const config = join(mkdtempSync(join(tmpdir(), 'teardown-config-')), 'config.json');
    // A config file naming another project: teardown says so (it uses the state file's project).
    writeFileSync(
      config,
      JSON.stringify({ projectId: 'ffffffffffffffffffffffff', timeouts: { endpointSeconds: 1 } }),
    );

    const started = Date.now();
    const slow = await teardown(statePath, ['--yes', '--config', config]);
    expect(slow.code, slow.stderr).toBe(4);
    expect(slow.stderr).toContain(
      `warning: The config file names project ffffffffffffffffffffffff, but the state file is for project ${state.atlas.projectId}`,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(slow.stderr).toMatch(
      /Timed out after .* waiting for private endpoint .* to finish DELETING/,
    );
    expect(slow.stderr).toMatch(/rerun teardown/);
    const halfway = readState(statePath);
    expect(halfway.resources.exportBucket).toBeUndefined();
    expect(halfway.resources.privateEndpoint).toBeDefined();
    const endpoint = sandbox.atlas.state.privateEndpoints.find(
      (e) => e.id === state.resources.privateEndpoint.id,
    )!;
    expect(endpoint.deletingSinceMs).toBeDefined();

    // The deletion completes; the rerun sees the endpoint gone and carries on.
    sandbox.atlas.setDelays({ endpointProvisionMs: 300 });
    const rerun = await teardown(statePath, ['--yes']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/ℹ Already gone: private endpoint \S+/);
    expect(rerun.stderr).not.toMatch(/Removed private endpoint/);
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
  });

  it('restores the auto-export that was on before setup, keeping the snapshot policies', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const sim = sandbox.atlas.state;
    const cluster = sim.clusters.find((c) => c.name === sandbox.atlas.seed.clusters.eligible)!;
    const earlierBucketId = 'cccccccccccccccccccccccc';
    sim.exportBuckets.push({
      _id: earlierBucketId,
      groupId: cluster.groupId,
      bucketName: 'someone-elses-exports',
      cloudProvider: 'AWS',
      iamRoleId: 'dddddddddddddddddddddddd',
      requirePrivateNetworking: false,
      region: 'us-east-1',
    });
    sim.schedules = sim.schedules.filter((s) => s.clusterName !== cluster.name);
    sim.schedules.push({
      groupId: cluster.groupId,
      clusterName: cluster.name,
      clusterId: cluster.id,
      autoExportEnabled: true,
      export: { exportBucketId: earlierBucketId, frequencyType: 'yearly' },
      useOrgAndGroupNamesInExportPrefix: false,
      policies: [
        {
          id: 'eeeeeeeeeeeeeeeeeeeeeeee',
          policyItems: [
            {
              id: 'ffffffffffffffffffffffff',
              frequencyInterval: 1,
              frequencyType: 'daily',
              retentionUnit: 'days',
              retentionValue: 7,
            },
          ],
        },
      ],
      referenceHourOfDay: 0,
      referenceMinuteOfHour: 0,
      restoreWindowDays: 2,
      copySettings: [],
      extraRetentionSettings: [],
    });
    // setup --schedule refuses to take over another export bucket's auto-export; the schedule
    // command does it when told to (--yes), and records what was there before.
    await runSetup(sandbox, statePath, bucket, []);
    const takeover = await runCli(
      ['schedule', '--state', statePath, '--frequency', 'yearly', '--yes', '--non-interactive'],
      { env: sandbox.env },
    );
    expect(takeover.code, takeover.stderr).toBe(0);
    const state = readState(statePath);
    expect(state.resources.schedule.previous).toEqual({
      autoExportEnabled: true,
      exportBucketId: earlierBucketId,
      frequencyType: 'yearly',
    });
    const policiesBefore = structuredClone(
      sim.schedules.find((s) => s.clusterName === cluster.name)!.policies,
    );

    const result = await teardown(statePath, ['--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`back to the earlier yearly export to ${earlierBucketId}`);
    const schedule = sim.schedules.find((s) => s.clusterName === cluster.name)!;
    expect(schedule.autoExportEnabled).toBe(true);
    expect(schedule.export).toEqual({ exportBucketId: earlierBucketId, frequencyType: 'yearly' });
    expect(schedule.policies).toEqual(policiesBefore);
    // Our export bucket is gone; the earlier one is untouched.
    expect(sim.exportBuckets.map((b) => b._id)).toEqual([earlierBucketId]);
  });

  it('asks before removing anything in a terminal: no stops with nothing changed, yes removes', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    const before = readFileSync(statePath, 'utf8');

    const declined = await inTerminal(['teardown', '--state', statePath], 'n');
    expect(declined.code).toBe(130);
    expect(declined.screen).toMatch(/Teardown will remove, in this order/);
    expect(declined.screen).toMatch(/Nothing was removed/);
    expect(readFileSync(statePath, 'utf8')).toBe(before);
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);

    const accepted = await inTerminal(['teardown', '--state', statePath], 'y');
    expect(accepted.code, accepted.screen).toBe(0);
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
    expect(
      sandbox.atlas.state.exportBuckets.some((b) => b._id === state.resources.exportBucket.id),
    ).toBe(false);
  });

  it('leaves an adopted export bucket whose private networking setup turned on as is, with what it still uses, and says so', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    // As recorded when setup finds an export bucket for this S3 bucket and patches requirePrivateNetworking.
    const edited = readState(statePath);
    edited.resources.exportBucket = {
      id: state.resources.exportBucket.id,
      origin: 'adopted',
      patchedPrivateNetworking: true,
    };
    writeFileSync(statePath, JSON.stringify(edited));

    const result = await teardown(statePath, ['--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /export bucket \S+ in Atlas: adopted; setup turned on its requirePrivateNetworking, which stays on/,
    );
    expect(result.stderr).toMatch(/IAM role \S+: still used by the adopted export bucket/);
    const summary = JSON.parse(result.stdout);
    expect(summary.removed.map((item: { resource: string }) => item.resource)).toEqual([
      'schedule',
    ]);
    const sim = sandbox.atlas.state;
    const exportBucket = sim.exportBuckets.find((b) => b._id === state.resources.exportBucket.id);
    expect(exportBucket?.requirePrivateNetworking).toBe(true);
    expect(sim.accessRoles.some((a) => a.roleId === state.resources.atlasRole.roleId)).toBe(true);
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);
    expect(
      sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!.autoExportEnabled,
    ).toBe(false);
    // The state keeps the export bucket and what it pins, so a rerun does not remove them either.
    const after = readState(statePath);
    expect(Object.keys(after.resources).sort()).toEqual([
      'atlasRole',
      'bucket',
      'bucketPolicy',
      'exportBucket',
      'iamRole',
      'privateEndpoint',
    ]);
    const rerun = await teardown(statePath, ['--yes']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);
  });

  it('says "Kept" (not "Removed") for an auto-export now pointing elsewhere, and "already gone" (not "kept") for a bucket deleted by hand', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const state = await runSetup(sandbox, statePath, bucket);
    const sim = sandbox.atlas.state;
    const elsewhere = 'aaaaaaaaaaaaaaaaaaaaaaaa';
    sim.exportBuckets.push({
      ...structuredClone(sim.exportBuckets.find((b) => b._id === state.resources.exportBucket.id)!),
      _id: elsewhere,
      bucketName: 'someone-elses-exports',
      iamRoleId: 'dddddddddddddddddddddddd',
      requirePrivateNetworking: false,
    });
    sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!.export = {
      exportBucketId: elsewhere,
      frequencyType: 'monthly',
    };
    const { DeleteBucketCommand, DeleteBucketPolicyCommand } = await import('@aws-sdk/client-s3');
    const { emptyBucket } = await import('../../src/aws/s3.js');
    await aws.s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    await emptyBucket(aws, bucket);
    await aws.s3.send(new DeleteBucketCommand({ Bucket: bucket }));

    const result = await teardown(statePath, ['--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    // The plan already says auto-export is left alone (it is read before the plan is shown), and
    // does not list it among the removals.
    const plan = result.stderr.slice(0, result.stderr.indexOf('…'));
    expect(plan).toMatch(
      new RegExp(
        `It leaves alone:\\n {2}- auto-export \\(monthly\\) on cluster \\S+: it now goes to export bucket ${elsewhere}, not ours`,
      ),
    );
    expect(plan).not.toMatch(/turned off/);
    expect(result.stderr).not.toMatch(/Removed auto-export/);
    expect(result.stderr).toMatch(new RegExp(`S3 bucket s3://${bucket}: already gone`));
    expect(result.stderr).toMatch(
      /ℹ Already gone: bucket-policy statements on \S+ \(the bucket is gone, and its policy with it\)/,
    );
    expect(result.stderr).not.toMatch(/was kept|which is kept|kept with the exports/);
    const summary = JSON.parse(result.stdout);
    expect(summary.removed.map((item: { resource: string }) => item.resource)).toEqual([
      'exportBucket',
      'privateEndpoint',
      'atlasRole',
      'iamRole',
    ]);
    expect(summary.kept.map((item: { resource: string }) => item.resource)).toEqual(['schedule']);
    expect(summary.alreadyGone.map((item: { resource: string }) => item.resource).sort()).toEqual([
      'bucket',
      'bucketPolicy',
    ]);
    // Auto-export that is not ours stays on; nothing is recorded any more.
    expect(
      sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!.autoExportEnabled,
    ).toBe(true);
    expect(existsSync(statePath)).toBe(false);
  });

  it('keeps the private endpoint another setup adopted and the access role another export bucket uses, says why, records them, and removes them once they are free', async () => {
    const a = freshScenario('teardown');
    const stateA = await runSetup(sandbox, a.statePath, a.bucket);
    // A second setup (another bucket and IAM role, same project and region) adopts the same endpoint.
    const b = freshScenario('teardown');
    const second = await runCli(
      setupArgs(sandbox, b.statePath, b.bucket, ['--iam-role-name', `pl-teardown-b-${b.bucket}`]),
      { env: sandbox.env },
    );
    expect(second.code, second.stderr).toBe(0);
    const stateB = readState(b.statePath);
    expect(stateB.resources.privateEndpoint).toMatchObject({
      id: stateA.resources.privateEndpoint.id,
      origin: 'adopted',
    });
    // Some other pipeline's export bucket (to another S3 bucket, in another region) uses A's access role.
    const sim = sandbox.atlas.state;
    const borrowed = 'abababababababababababab';
    sim.exportBuckets.push({
      ...structuredClone(
        sim.exportBuckets.find((x) => x._id === stateA.resources.exportBucket.id)!,
      ),
      _id: borrowed,
      bucketName: 'another-pipeline',
      requirePrivateNetworking: false,
      region: 'eu-west-1',
    });

    const first = await teardown(a.statePath, ['--yes', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const plan = first.stderr.slice(0, first.stderr.indexOf('…'));
    expect(plan).toMatch(
      new RegExp(
        `private endpoint ${stateA.resources.privateEndpoint.id}: still needed by export bucket ${stateB.resources.exportBucket.id} \\(s3://${b.bucket}\\), which requires private networking in US_EAST_1`,
      ),
    );
    expect(plan).toMatch(
      new RegExp(
        `Atlas access role ${stateA.resources.atlasRole.roleId}: still used by export bucket ${borrowed} \\(s3://another-pipeline\\)`,
      ),
    );
    expect(plan).toMatch(/IAM role \S+: the Atlas access role \S+ is authorized for it/);
    expect(first.stderr).not.toMatch(/Removed (private endpoint|Atlas access role|IAM role)/);
    // One level of parentheses at most: one line per kept resource.
    expect(first.stderr).toMatch(
      /still records what was kept, for a later teardown:\n {2}- private endpoint \S+: still needed by/,
    );
    const summary = JSON.parse(first.stdout);
    expect(summary.removed.map((item: { resource: string }) => item.resource)).toEqual([
      'schedule',
      'exportBucket',
      'bucketPolicy',
    ]);
    expect(summary.kept.map((item: { resource: string }) => item.resource)).toEqual([
      'privateEndpoint',
      'atlasRole',
      'iamRole',
      'bucket',
    ]);
    const endpoint = sim.privateEndpoints.find((e) => e.id === stateA.resources.privateEndpoint.id);
    expect(endpoint?.deletingSinceMs).toBeUndefined();
    expect(sim.accessRoles.some((role) => role.roleId === stateA.resources.atlasRole.roleId)).toBe(
      true,
    );
    expect(await roleExists(stateA.resources.iamRole.name)).toBe(true);
    expect(Object.keys(readState(a.statePath).resources).sort()).toEqual([
      'atlasRole',
      'bucket',
      'iamRole',
      'privateEndpoint',
    ]);

    // Once the others are gone, a rerun removes what was kept.
    sim.exportBuckets = sim.exportBuckets.filter((x) => x._id !== borrowed);
    const teardownB = await teardown(b.statePath, ['--yes']);
    expect(teardownB.code, teardownB.stderr).toBe(0);
    const rerun = await teardown(a.statePath, ['--yes', '--delete-bucket', '--force']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/Removed private endpoint \S+: deleted/);
    expect(sim.accessRoles.some((role) => role.roleId === stateA.resources.atlasRole.roleId)).toBe(
      false,
    );
    expect(await roleExists(stateA.resources.iamRole.name)).toBe(false);
    expect(existsSync(a.statePath)).toBe(false);
  });

  it('leaves an adopted bucket alone, even with --delete-bucket --force', async () => {
    const { statePath, bucket } = freshScenario('teardown');
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const state = await runSetup(sandbox, statePath, bucket);
    expect(state.resources.bucket.origin).toBe('adopted');

    const result = await teardown(statePath, ['--yes', '--delete-bucket', '--force']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /S3 bucket s3:\/\/\S+: adopted; never deleted, even with --delete-bucket/,
    );
    expect(await bucketExists(bucket)).toBe(true);
    expect(existsSync(statePath)).toBe(false);
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
  });
});
