/**
 * What `setup` checks and says before and while it changes anything: another setup's auto-export,
 * a frequency no snapshot policy has, serverless instances, KMS key forms, values taken from the
 * state file or a config file, the default role name, and the plan and progress lines of a run
 * that resumes an interrupted create or stops because another step failed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { GetBucketPolicyCommand } from '@aws-sdk/client-s3';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import {
  allowPublicPolicies,
  editBucketPolicy,
  freshScenario,
  readState,
  runSetup,
  setupArgs,
} from '../helpers/setup.js';
import { newState, writeState } from '../../src/state/store.js';
import { killAtAtlasRequest } from '../setup/kill.js';

const sandbox = useSandbox();
const WRITE = new Set(['POST', 'PATCH', 'DELETE', 'PUT']);

const atlasWrites = () => sandbox.atlas.calls.filter((call) => WRITE.has(call.method));

function scheduleOfCluster() {
  return sandbox.atlas.state.schedules.find(
    (item) => item.clusterName === sandbox.atlas.seed.clusters.eligible,
  );
}

describe('auto-export', () => {
  it("--schedule on a cluster whose auto-export goes to another setup's export bucket is refused before any write", async () => {
    const first = freshScenario('schedule-a');
    const a = await runSetup(sandbox, first.statePath, first.bucket, ['--schedule', 'monthly']);
    const theirs = a.resources.exportBucket.id;
    sandbox.atlas.calls.length = 0;

    const second = freshScenario('schedule-b');
    const refused = await runCli(
      setupArgs(sandbox, second.statePath, second.bucket, ['--schedule', 'monthly']),
      { env: sandbox.env },
    );
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain(
      `Auto-export of cluster ${sandbox.atlas.seed.clusters.eligible} is on and goes to export bucket ${theirs} (s3://${first.bucket}), not to this setup's; --schedule would take it over; nothing was changed.`,
    );
    expect(refused.stderr).toMatch(/what to do: Turn it off there first .*schedule --disable/);
    expect(refused.stderr).toMatch(/or leave out --schedule/);
    expect(atlasWrites()).toEqual([]);
    expect(scheduleOfCluster()?.export?.exportBucketId).toBe(theirs);

    // Without --schedule the second setup goes ahead and leaves the first one's auto-export alone.
    const without = await runCli(setupArgs(sandbox, second.statePath, second.bucket), {
      env: sandbox.env,
    });
    expect(without.code, without.stderr).toBe(0);
    expect(scheduleOfCluster()?.export?.exportBucketId).toBe(theirs);
  });

  it('a frequency with no matching snapshot policy item is warned about in the plan and the output', async () => {
    const { statePath, bucket } = freshScenario('schedule-yearly');
    const result = await runCli(setupArgs(sandbox, statePath, bucket, ['--schedule', 'yearly']), {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /\d+\. Auto-export: turn on yearly auto-export to the export bucket \(off now\), keeping the cluster's snapshot policies\. Warning: cluster \S+ has no yearly snapshot policy item/,
    );
    expect(result.stderr).toMatch(
      /warning: Auto-export: cluster \S+ has no yearly snapshot policy item.*nothing would be exported/,
    );
    expect(scheduleOfCluster()?.autoExportEnabled).toBe(true);
  });
});

describe('clusters that cannot export', () => {
  it('a serverless instance is refused as not eligible, not as not found', async () => {
    const { statePath, bucket } = freshScenario('serverless');
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, [], sandbox.atlas.seed.clusters.serverless),
      {
        env: sandbox.env,
      },
    );
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      'Cluster ServerlessInstance0 cannot export snapshots over PrivateLink: it is a serverless instance',
    );
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'CLUSTER_NOT_ELIGIBLE' });
    expect(result.stderr).not.toMatch(/404|CLUSTER_NOT_FOUND/);
  });

  it("a snapshot named by --export-now that cannot be exported is refused before any write, with setup's own flag in the hint", async () => {
    const cluster = sandbox.atlas.state.clusters.find(
      (c) => c.name === sandbox.atlas.seed.clusters.eligible,
    )!;
    const fallback = sandbox.atlas.state.snapshots.find(
      (snap) => snap.clusterName === cluster.name && snap.snapshotType === 'fallback',
    )!;
    for (const [id, code] of [
      [fallback.id, 'SNAPSHOT_NOT_EXPORTABLE'],
      ['6650a1b2c3d4e5f6030000ff', 'SNAPSHOT_NOT_FOUND'],
    ] as const) {
      const { statePath, bucket } = freshScenario('export-now-id');
      sandbox.atlas.calls.length = 0;
      const result = await runCli(setupArgs(sandbox, statePath, bucket, ['--export-now', id]), {
        env: sandbox.env,
      });
      expect(result.code, result.stderr).toBe(3);
      expect(JSON.parse(result.stdout).error).toMatchObject({ code });
      expect(result.stderr).toMatch(
        /what to do: Use --export-now latest, or .*Backup page in Atlas/,
      );
      expect(result.stderr).not.toMatch(/--latest\b/);
      expect(atlasWrites()).toEqual([]);
    }
  });

  it('a bucket region of another AWS partition (China, GovCloud) is refused before any write', async () => {
    for (const region of ['cn-north-1', 'us-gov-west-1']) {
      const { statePath, bucket } = freshScenario('partition');
      sandbox.atlas.calls.length = 0;
      const result = await runCli(setupArgs(sandbox, statePath, bucket, ['--region', region]), {
        env: sandbox.env,
      });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(
        `The bucket region ${region} is in the AWS partition ${region.startsWith('cn-') ? 'aws-cn' : 'aws-us-gov'}, but cluster ${sandbox.atlas.seed.clusters.eligible} runs in US_EAST_1 (partition aws)`,
      );
      expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'REGION_OTHER_PARTITION' });
      expect(atlasWrites()).toEqual([]);
      const aws = await awsClientsFor(sandbox.env);
      const { ListBucketsCommand } = await import('@aws-sdk/client-s3');
      const buckets = await aws.s3.send(new ListBucketsCommand({}));
      expect((buckets.Buckets ?? []).map((b) => b.Name)).not.toContain(bucket);
    }
  });
});

describe('values', () => {
  it('a KMS value that is not a key ARN gets the rule actually applied (no alias)', async () => {
    const { statePath, bucket } = freshScenario('kms-alias');
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--kms-key-arn', 'alias/foo']),
      {
        env: sandbox.env,
      },
    );
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(
      'must be a KMS key ARN, arn:aws:kms:<region>:<12-digit account>:key/<key id> (not an alias',
    );
    expect(result.stderr).not.toMatch(/:alias\/<name>/);
  });

  it('a value taken from the state file is validated like a flag', async () => {
    const { statePath } = freshScenario('state-upper');
    const state = newState({
      atlas: {
        baseUrl: sandbox.env.MONGODB_ATLAS_BASE_URL!,
        projectId: sandbox.atlas.seed.projectId,
        clusterName: sandbox.atlas.seed.clusters.eligible,
      },
      aws: { accountId: '123456789012', region: 'us-east-1' },
    });
    state.plan = { bucketName: 'UPPER', encryption: 'SSE-S3', iamRoleName: 'atlas-pl-export-x' };
    await writeState(statePath, state);
    const result = await runCli(['setup', '--non-interactive', '--state', statePath, '--json'], {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/bucket name "UPPER"/);
    expect(result.stderr).toMatch(
      new RegExp(`what to do: .*${statePath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
    );
    expect(sandbox.atlas.calls).toEqual([]);
  });

  it('a config file: a UTF-8 BOM is accepted, and a problem is reported once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setup-config-'));
    const bom = join(dir, 'bom.json');
    writeFileSync(
      bom,
      `\uFEFF${JSON.stringify({
        projectId: sandbox.atlas.seed.projectId,
        clusterName: sandbox.atlas.seed.clusters.eligible,
        bucket: { name: freshScenario('bom').bucket },
      })}`,
    );
    const accepted = await runCli(
      ['setup', '--non-interactive', '--config', bom, '--state', join(dir, 'a.json'), '--dry-run'],
      { env: sandbox.env },
    );
    expect(accepted.code, accepted.stderr).toBe(0);

    const empty = join(dir, 'empty-export.json');
    writeFileSync(
      empty,
      JSON.stringify({
        projectId: sandbox.atlas.seed.projectId,
        clusterName: sandbox.atlas.seed.clusters.eligible,
        bucket: { name: freshScenario('empty-export').bucket },
        exportNow: {},
      }),
    );
    const refused = await runCli(
      ['setup', '--non-interactive', '--config', empty, '--state', join(dir, 'b.json')],
      { env: sandbox.env },
    );
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr.match(/exportNow\.snapshotId/g)).toHaveLength(1);
  });

  it('the default role name does not repeat the project suffix the default bucket name ends with', async () => {
    const { statePath } = freshScenario('role-name');
    const suffix = sandbox.atlas.seed.projectId.slice(-6);
    const bucket = `atlas-export-cluster0-${suffix}`;
    const result = await runCli(setupArgs(sandbox, statePath, bucket, ['--dry-run']), {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`IAM role atlas-pl-export-atlas-export-cluster0-${suffix}:`);
    expect(result.stderr).not.toContain(`${suffix}-${suffix}`);
  });
});

describe('plan and progress lines', () => {
  it('a rerun where only the TLS-deny statement was missing names only that one as added', async () => {
    const { statePath, bucket } = freshScenario('deny-missing');
    await runSetup(sandbox, statePath, bucket, []);
    await editBucketPolicy(sandbox, bucket, (statements) =>
      statements.filter((statement) => statement.Sid !== 'AtlasPlExportDenyInsecureTransport'),
    );
    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/✔ Bucket policy: added AtlasPlExportDenyInsecureTransport\n/);
    expect(readState(statePath).resources.bucketPolicy.statementSids).toHaveLength(3);
  });

  it('a private endpoint the killed run created: "finish creating", charged as a new one', async () => {
    const { statePath, bucket } = freshScenario('finish-endpoint');
    const args = setupArgs(sandbox, statePath, bucket);
    await killAtAtlasRequest(sandbox, args, /\/privateEndpoints$/);
    expect(readState(statePath).pending.endpoint).toBeDefined();
    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(
      /Object-storage private endpoint for US_EAST_1: finish creating it \(the interrupted run created [0-9a-f]{24}/,
    );
    expect(rerun.stderr).not.toMatch(/no new hourly charge/);
    expect(rerun.stderr).toMatch(/an hourly charge for each region/);
    expect(readState(statePath).resources.privateEndpoint.origin).toBe('created');
  });

  it('a wait stopped because another step failed says so, with a neutral mark; a sub-second timeout reads in ms', async () => {
    sandbox.atlas.setDelays({ endpointProvisionMs: 60_000, iamPropagationMs: 30_000 });
    const { statePath, bucket } = freshScenario('stopped-wait');
    const started = Date.now();
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--authorize-timeout', '0.5']),
      { env: sandbox.env },
    );
    expect(result.code, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/within 500 ms/);
    expect(result.stderr).toContain(
      'ℹ Wait for the private endpoint: stopped because "Authorize the role in Atlas" failed',
    );
    expect(result.stderr).not.toMatch(/✖ Wait for the private endpoint/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('charges on a rerun', () => {
  it('a rerun that turns auto-export on names the export charge; a plain rerun names none', async () => {
    const { statePath, bucket } = freshScenario('rerun-charges');
    await runSetup(sandbox, statePath, bucket, []);
    const plain = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toMatch(/Charges this/);

    const withSchedule = await runCli(
      setupArgs(sandbox, statePath, bucket, ['--schedule', 'monthly']),
      { env: sandbox.env },
    );
    expect(withSchedule.code, withSchedule.stderr).toBe(0);
    expect(withSchedule.stderr).toMatch(/Charges this change brings/);
    expect(withSchedule.stderr).toMatch(/\$0\.125 per GB exported to S3/);
    expect(withSchedule.stderr).not.toMatch(/hourly charge/);
  });
});

describe('a public grant on the bucket', () => {
  it('a rerun warns about a bucket-policy statement that lets anyone in, and leaves it as it is', async () => {
    const { statePath, bucket } = freshScenario('public-grant');
    await runSetup(sandbox, statePath, bucket, []);
    await allowPublicPolicies(sandbox, bucket);
    await editBucketPolicy(sandbox, bucket, (statements) => [
      ...statements,
      {
        Sid: 'Public',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${bucket}/*`,
      },
    ]);

    const rerun = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(rerun.stderr).toMatch(
      new RegExp(
        `warning: The bucket policy of ${bucket} lets anyone in: statement Public allows everyone s3:GetObject\\.`,
      ),
    );
    const aws = await awsClientsFor(sandbox.env);
    const after = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    expect(after.Statement.map((statement: { Sid: string }) => statement.Sid)).toContain('Public');
  });
});
