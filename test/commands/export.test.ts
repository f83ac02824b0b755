/**
 * `export` end to end: the built CLI against the sandbox (Atlas simulator + moto), after a real
 * `setup`. Assertions read moto (objects), the simulator (jobs, calls), the state file and output.
 */
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freshScenario, runSetup } from '../helpers/setup.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startTerminal } from '../helpers/pty.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';

const sandbox = useSandbox();
const SNAP = {
  latest: '6650a1b2c3d4e5f603000003',
  older: '6650a1b2c3d4e5f603000002',
  fallback: '6650a1b2c3d4e5f603000004',
  inProgress: '6650a1b2c3d4e5f603000005',
  unknown: '6650a1b2c3d4e5f6030000ff',
  shardedLatest: '6650a1b2c3d4e5f60300000b',
};

interface Ready {
  statePath: string;
  bucket: string;
}

async function setUp(cluster = 'Cluster0'): Promise<Ready> {
  const { statePath, bucket } = freshScenario('export');
  await runSetup(sandbox, statePath, bucket, [], cluster);
  return { statePath, bucket };
}

const cli = (ready: Ready, args: string[]): Promise<CliResult> =>
  runCli(['export', '--state', ready.statePath, '--non-interactive', ...args], {
    env: sandbox.env,
  });

const readState = (ready: Ready) => JSON.parse(readFileSync(ready.statePath, 'utf8'));
/** Every POST to the export-jobs collection the simulator received (digest challenges included). */
const exportPosts = () =>
  sandbox.atlas.calls.filter(
    (call) => call.method === 'POST' && call.path.endsWith('/backup/exports'),
  );
/** The ones that created a job. */
const exportCreates = () => exportPosts().filter((call) => call.status === 200);

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const aws = await awsClientsFor(sandbox.env);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await aws.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((object) => object.Key ?? ''));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

describe('export', () => {
  it('exports the latest snapshot, waits, and checks every file the .complete object lists in S3', async () => {
    const ready = await setUp();
    const result = await cli(ready, [
      '--latest',
      '--custom',
      'ticket=OPS-1',
      '--custom',
      'owner=data-team',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.job.state).toBe('Successful');
    expect(doc.job.snapshotId).toBe(SNAP.latest);
    expect(doc.files.allPresent).toBe(true);
    expect(doc.files.found.length).toBeGreaterThan(0);

    // In moto: the .complete object and every file found are under the job's prefix.
    const prefix = String(doc.job.prefix).replace(/^\//, '');
    const keys = await keysUnder(ready.bucket, `${prefix}/`);
    expect(keys).toContain(`${prefix}/.complete`);
    for (const file of doc.files.found) expect(keys).toContain(file);

    // In the simulator: one job, with the custom data as [{key, value}].
    expect(exportCreates()).toHaveLength(1);
    const job = sandbox.atlas.state.exportJobs.find((item) => item.id === doc.job.id);
    expect(job?.customData).toEqual([
      { key: 'ticket', value: 'OPS-1' },
      { key: 'owner', value: 'data-team' },
    ]);

    // In the state file: the job, finished, files verified.
    const record = readState(ready).exports.find((item: { id: string }) => item.id === doc.job.id);
    expect(record).toMatchObject({
      snapshotId: SNAP.latest,
      state: 'Successful',
      filesVerified: true,
      prefix: doc.job.prefix,
    });
    expect(readState(ready).pending.exportJob).toBeUndefined();
    // Human output went to stderr: the spinner's end and the file list.
    expect(result.stderr).toContain(
      `All ${doc.files.found.length} files that .complete counts are present.`,
    );

    // A collection's metadata.json deleted afterwards (.complete names no files, only their number):
    // inspecting the job finds it missing, exit 6, recorded in the state file.
    const gone = (doc.files.found as string[]).find((key) => key.endsWith('/metadata.json'))!;
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(new DeleteObjectCommand({ Bucket: ready.bucket, Key: gone }));
    const inspected = await cli(ready, ['--job', doc.job.id, '--json']);
    expect(inspected.code).toBe(6);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      ok: false,
      files: { missing: [gone], allPresent: false },
      error: { code: 'EXPORT_FILES_MISSING' },
    });
    expect(inspected.stderr).toContain(`MISSING  ${gone.slice(prefix.length + 1)}`);
    expect(readState(ready).exports[0]).toMatchObject({ id: doc.job.id, filesVerified: false });
  });

  it("reports a failed job: Atlas's reason, a warning about partial files, a non-zero exit", async () => {
    const ready = await setUp();
    sandbox.atlas.setFaults({
      exportFailure: { errorCode: 'EXPORT_FAILED', message: 'Access denied writing to the bucket' },
    });
    const result = await cli(ready, ['--snapshot', SNAP.older, '--json']);
    expect(result.code).toBe(6);
    // One JSON document on stdout, with Atlas's reason.
    const doc = JSON.parse(result.stdout);
    expect(doc).toMatchObject({
      ok: false,
      job: {
        state: 'Failed',
        stateReason: { errorCode: 'EXPORT_FAILED', message: 'Access denied writing to the bucket' },
      },
      exitCode: 6,
    });
    expect(result.stderr).toContain('Access denied writing to the bucket');
    expect(result.stderr).toContain(
      `Partial files may remain under s3://${ready.bucket}/exported_snapshots/`,
    );
    const [record] = readState(ready).exports;
    expect(record).toMatchObject({ snapshotId: SNAP.older, state: 'Failed' });
    expect(record.filesVerified).toBeUndefined();
  });

  it('--no-wait prints the job id and returns; --job then watches it to the end and checks the files', async () => {
    const ready = await setUp();
    sandbox.atlas.setDelays({ exportMs: 6000 });
    const started = await cli(ready, ['--snapshot', SNAP.latest, '--no-wait']);
    expect(started.code, started.stderr).toBe(0);
    const jobId = started.stdout.trim();
    expect(jobId).toMatch(/^[0-9a-f]{24}$/);
    expect(readState(ready).exports[0]).toMatchObject({ id: jobId, state: 'Queued' });

    const inspected = await cli(ready, ['--job', jobId, '--no-wait', '--json']);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      ok: true,
      waited: false,
      job: { id: jobId },
    });

    const watched = await cli(ready, ['--job', jobId, '--json']);
    expect(watched.code, watched.stderr).toBe(0);
    const doc = JSON.parse(watched.stdout);
    expect(doc.job).toMatchObject({ id: jobId, state: 'Successful' });
    expect(doc.files.allPresent).toBe(true);
    expect(readState(ready).exports[0]).toMatchObject({
      id: jobId,
      state: 'Successful',
      filesVerified: true,
    });
    expect(exportCreates()).toHaveLength(1);

    // One object with ok and the payload, as every command prints (it was a bare array).
    const listed = await cli(ready, ['--list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({
      ok: true,
      cluster: 'Cluster0',
      jobs: [expect.objectContaining({ id: jobId, state: 'Successful', startedByThisTool: true })],
    });
    const table = await cli(ready, ['--list']);
    expect(table.stdout).toMatch(new RegExp(`${jobId}\\s+Successful\\s+${SNAP.latest}`));

    const unknown = await cli(ready, ['--job', 'aaaaaaaaaaaaaaaaaaaaaaaa']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('has no export job aaaaaaaaaaaaaaaaaaaaaaaa');
  });

  it('refuses fallback, unfinished and unknown snapshots before any job is created', async () => {
    const ready = await setUp();
    const fallback = await cli(ready, ['--snapshot', SNAP.fallback]);
    expect(fallback.code).toBe(3);
    expect(fallback.stderr).toContain('fallback snapshot');
    const unfinished = await cli(ready, ['--snapshot', SNAP.inProgress]);
    expect(unfinished.code).toBe(3);
    expect(unfinished.stderr).toContain('inProgress, not completed');
    const unknown = await cli(ready, ['--snapshot', SNAP.unknown]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain(
      `Snapshot ${SNAP.unknown} does not exist for cluster Cluster0`,
    );
    // The hint points at a list this tool shows, not at something it cannot do.
    expect(unknown.stderr).toContain(
      'what to do: List the snapshots that can be exported with `atlas-pl-export export --list-snapshots`',
    );
    expect(exportPosts()).toHaveLength(0);
    expect(sandbox.atlas.state.exportJobs).toHaveLength(0);
    expect(readState(ready).exports).toEqual([]);

    // A wait that runs out of time exits 4 and says how to keep watching; the job stays recorded.
    sandbox.atlas.setDelays({ exportMs: 20_000 });
    const slow = await cli(ready, ['--snapshot', SNAP.older, '--timeout', '0.5']);
    expect(slow.code).toBe(4);
    const [record] = readState(ready).exports;
    expect(record).toMatchObject({ snapshotId: SNAP.older });
    expect(slow.stderr).toContain(`atlas-pl-export export --job ${record.id}`);
  });

  it('refuses bad input with a usage error and no cloud call', async () => {
    const ready = await setUp();
    const before = sandbox.atlas.calls.length;
    const none = await cli(ready, []);
    expect(none.code).toBe(2);
    for (const option of [
      '--snapshot <id>',
      '--latest',
      '--job <id>',
      '--list',
      '--list-snapshots',
    ])
      expect(none.stderr).toContain(option);
    const both = await cli(ready, ['--latest', '--snapshot', SNAP.latest]);
    expect(both.code).toBe(2);
    const badCustom = await cli(ready, [
      '--latest',
      '--custom',
      'novalue',
      '--custom',
      '=x',
      '--custom',
      'a=1',
      '--custom',
      'a=2',
    ]);
    expect(badCustom.code).toBe(2);
    expect(badCustom.stderr).toContain('"novalue": must be key=value');
    expect(badCustom.stderr).toContain('"a=2": key a is given twice');
    const badId = await cli(ready, ['--snapshot', 'not-an-id']);
    expect(badId.code).toBe(2);
    // Each usage error says what is wrong and what to do instead.
    for (const [args, hint] of [
      [['--latest', '--timeout', 'soon'], 'what to do: Give the number of seconds'],
      [['--latest', '--timeout', '-5'], 'what to do: Give the number of seconds'],
      [['--list', '--no-wait'], 'what to do: Drop --no-wait, or use it with'],
      [['--list', '--custom', 'a=1'], 'what to do: Drop --custom, or use it with'],
    ] as const) {
      const bad = await cli(ready, [...args, '--json']);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr, args.join(' ')).toContain(hint);
      expect(JSON.parse(bad.stdout).error.hint, args.join(' ')).toEqual(expect.any(String));
    }
    expect(sandbox.atlas.calls.length).toBe(before);
  });

  it('exports a sharded cluster through its components', async () => {
    const ready = await setUp('ShardedCluster0');
    const result = await cli(ready, ['--latest', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc.job.snapshotId).toBe(SNAP.shardedLatest);
    expect(doc.job.state).toBe('Successful');
    expect(
      doc.job.components.map((c: { replicaSetName: string }) => c.replicaSetName).sort(),
    ).toEqual(['atlas-shd123-config-0', 'atlas-shd123-shard-0', 'atlas-shd123-shard-1']);
    expect(result.stderr).toMatch(/atlas-shd123-shard-1 \(export [0-9a-f]{24}\)/);
    expect(doc.files.allPresent).toBe(true);
    const prefix = String(doc.job.prefix).replace(/^\//, '');
    const keys = await keysUnder(ready.bucket, `${prefix}/`);
    for (const file of doc.files.found) expect(keys).toContain(file);
    expect(readState(ready).exports[0]).toMatchObject({
      snapshotId: SNAP.shardedLatest,
      state: 'Successful',
      filesVerified: true,
    });
  });
});

/** GETs and lists of the project's object-storage private endpoints the simulator answered since `from`. */
const endpointReads = (from: number) =>
  sandbox.atlas.calls
    .slice(from)
    .filter(
      (call) =>
        call.method === 'GET' &&
        /\/backup\/AWS\/privateEndpoints/.test(call.path) &&
        call.status !== 401,
    );

describe('export and the private endpoint', () => {
  it('refuses before creating a job when the recorded endpoint is gone: one GET, exit 3, names it, says to rerun setup', async () => {
    const ready = await setUp();
    const endpointId = readState(ready).resources.privateEndpoint.id as string;
    sandbox.atlas.state.privateEndpoints = sandbox.atlas.state.privateEndpoints.filter(
      (ep) => ep.id !== endpointId,
    );
    const before = sandbox.atlas.calls.length;
    const result = await cli(ready, ['--latest', '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      `The private endpoint ${endpointId} (US_EAST_1) recorded in the state file no longer exists`,
    );
    expect(result.stderr).toContain('requires private networking');
    expect(result.stderr).toContain('atlas-pl-export setup');
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      error: { code: 'PRIVATE_ENDPOINT_NOT_ACTIVE' },
    });
    expect(endpointReads(before).map((call) => call.path)).toEqual([
      expect.stringContaining(`/privateEndpoints/${endpointId}`),
    ]);
    expect(exportPosts()).toHaveLength(0);
    expect(sandbox.atlas.state.exportJobs).toHaveLength(0);
  });

  it('refuses when the endpoint is not ACTIVE, naming its status', async () => {
    const ready = await setUp();
    const endpointId = readState(ready).resources.privateEndpoint.id as string;
    const endpoint = sandbox.atlas.state.privateEndpoints.find((ep) => ep.id === endpointId)!;
    endpoint.forcedStatus = 'PENDING_ACCEPTANCE';
    const result = await cli(ready, ['--snapshot', SNAP.latest]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      `The private endpoint ${endpointId} (US_EAST_1) is PENDING_ACCEPTANCE, not ACTIVE`,
    );
    expect(exportPosts()).toHaveLength(0);
    // Once it is ACTIVE again, the same command exports.
    endpoint.forcedStatus = 'ACTIVE';
    const again = await cli(ready, ['--snapshot', SNAP.latest, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(exportCreates()).toHaveLength(1);
  });

  it("refuses an ACTIVE endpoint whose VPC endpoint is not in the cluster's region", async () => {
    const ready = await setUp();
    const endpointId = readState(ready).resources.privateEndpoint.id as string;
    const endpoint = sandbox.atlas.state.privateEndpoints.find((ep) => ep.id === endpointId)!;
    endpoint.vpcRegionName = 'EU_WEST_1';
    const result = await cli(ready, ['--snapshot', SNAP.latest]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      `The private endpoint ${endpointId} for US_EAST_1 has its VPC endpoint in EU_WEST_1, not in US_EAST_1, the cluster's region`,
    );
    expect(exportPosts()).toHaveLength(0);
  });

  it("without a recorded endpoint, lists the project's endpoints once and refuses when the region has none", async () => {
    const ready = await setUp();
    const state = readState(ready);
    delete state.resources.privateEndpoint;
    writeFileSync(ready.statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
    sandbox.atlas.state.privateEndpoints = [];
    const before = sandbox.atlas.calls.length;
    const result = await cli(ready, ['--latest']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      'The project has no object-storage private endpoint for US_EAST_1',
    );
    expect(endpointReads(before).map((call) => call.path)).toEqual([
      expect.stringMatching(/\/privateEndpoints(\?.*)?$/),
    ]);
    expect(exportPosts()).toHaveLength(0);
  });
});

const terminal = (args: string[]) => startTerminal(args, sandbox.env);

describe('export and the export bucket', () => {
  const exportBucketOf = (ready: Ready) => {
    const id = readState(ready).resources.exportBucket.id as string;
    const bucket = sandbox.atlas.state.exportBuckets.find((item) => item._id === id);
    if (!bucket) throw new Error('setup left no export bucket in the simulator');
    return bucket;
  };

  it('refuses to start a job when the export bucket no longer requires private networking (exit 3, no job)', async () => {
    const ready = await setUp();
    const bucket = exportBucketOf(ready);
    bucket.requirePrivateNetworking = false; // someone PATCHed it
    const result = await cli(ready, ['--latest', '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain(
      `The export bucket ${bucket._id} (s3://${ready.bucket}) has requirePrivateNetworking: false`,
    );
    expect(result.stderr).toContain('No export job was started.');
    expect(result.stderr).toContain('atlas-pl-export setup');
    expect(result.stderr).not.toContain('Started export job');
    const doc = JSON.parse(result.stdout);
    expect(doc).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { code: 'EXPORT_BUCKET_NOT_PRIVATE' },
    });
    expect(doc.error.hint).toContain('atlas-pl-export setup');
    expect(exportPosts()).toHaveLength(0);
    expect(sandbox.atlas.state.exportJobs).toHaveLength(0);
    expect(readState(ready).exports).toEqual([]);
    expect(readState(ready).pending.exportJob).toBeUndefined();
  });

  it('records the requirePrivateNetworking it read before starting a job; inspecting the job later says when the bucket is not private now', async () => {
    const ready = await setUp();
    const started = await cli(ready, ['--latest', '--no-wait', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const jobId = JSON.parse(started.stdout).job.id as string;
    expect(readState(ready).exports).toEqual([
      expect.objectContaining({ id: jobId, requirePrivateNetworking: true }),
    ]);

    const bucket = exportBucketOf(ready);
    bucket.requirePrivateNetworking = false;
    const inspected = await cli(ready, ['--job', jobId, '--json']);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ ok: true, job: { id: jobId } });
    expect(inspected.stderr).toContain(
      `The export bucket ${bucket._id} (s3://${ready.bucket}) does not require private networking now`,
    );
    expect(inspected.stderr).toContain(
      'When this tool started the job, it read requirePrivateNetworking: true.',
    );
    // Inspecting never starts a job.
    expect(exportCreates()).toHaveLength(1);

    // Private again: no warning.
    bucket.requirePrivateNetworking = true;
    const again = await cli(ready, ['--job', jobId]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('does not require private networking');
  });
});

describe('export, more', () => {
  it("--list-snapshots lists the exportable snapshots newest first, the pick list's data (table and --json)", async () => {
    const ready = await setUp();
    const table = await cli(ready, ['--list-snapshots']);
    expect(table.code, table.stderr).toBe(0);
    const ids = table.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s+/)[0]);
    expect(ids.slice(0, 2)).toEqual([SNAP.latest, SNAP.older]);
    expect(ids).not.toContain(SNAP.fallback);
    expect(ids).not.toContain(SNAP.inProgress);
    const json = await cli(ready, ['--list-snapshots', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ ok: true, cluster: 'Cluster0' });
    expect(doc.snapshots.map((snapshot: { id: string }) => snapshot.id)).toEqual(ids);
    expect(exportPosts()).toHaveLength(0);
  });

  it('names the running job when Atlas refuses a second export of the same snapshot (EXPORT_ALREADY_IN_PROGRESS)', async () => {
    const ready = await setUp();
    sandbox.atlas.setDelays({ exportMs: 60_000 });
    const first = await cli(ready, ['--snapshot', SNAP.latest, '--no-wait']);
    expect(first.code, first.stderr).toBe(0);
    const running = first.stdout.trim();
    const second = await cli(ready, ['--snapshot', SNAP.latest]);
    expect(second.code, second.stderr).toBe(3);
    expect(second.stderr).toContain(
      `Atlas is already exporting snapshot ${SNAP.latest} (export job ${running})`,
    );
    expect(second.stderr).toContain(
      `what to do: Watch that job with: atlas-pl-export export --job ${running}`,
    );
  });

  it('after a kill between the create and its record, says it resumed watching the job it had started', async () => {
    const ready = await setUp();
    const started = await cli(ready, ['--latest', '--no-wait']);
    expect(started.code, started.stderr).toBe(0);
    const jobId = started.stdout.trim();
    // As a run killed after Atlas created the job and before the state file recorded it leaves it.
    const state = readState(ready);
    state.pending.exportJob = state.exports[0].startedAt;
    state.exports = [];
    writeFileSync(ready.statePath, JSON.stringify(state, null, 2), { mode: 0o600 });

    const resumed = await cli(ready, ['--latest']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(
      `Resumed watching export job ${jobId}, which an earlier run started`,
    );
    expect(resumed.stderr).not.toContain('Started export job');
    expect(exportCreates()).toHaveLength(1);
    expect(readState(ready).exports).toEqual([
      expect.objectContaining({ id: jobId, state: 'Successful', filesVerified: true }),
    ]);
  });

  it('after a teardown, says the export bucket may have been removed by teardown', async () => {
    const ready = await setUp();
    const down = await runCli(['teardown', '--state', ready.statePath, '--yes'], {
      env: sandbox.env,
    });
    expect(down.code, down.stderr).toBe(0);
    const result = await cli(ready, ['--latest']);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(
      'records no export bucket: setup has not made it yet, or teardown removed it',
    );
    expect(result.stderr).toMatch(/what to do: Run `atlas-pl-export setup`/);
  });
});

/** Starts `export --snapshot <latest>` and resolves, with its run, once the state file records the job. */
async function exportRecorded(ready: Ready): Promise<{ run: Promise<CliResult> }> {
  const run = cli(ready, ['--snapshot', SNAP.latest]);
  const deadline = Date.now() + 30_000;
  while (readState(ready).exports.length === 0) {
    if (Date.now() > deadline) throw new Error('the export job was never recorded');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { run };
}

describe('export and the state file', () => {
  it('does not bring back a state file that teardown deleted while it waited, and says no partial files remain in a deleted bucket', async () => {
    const ready = await setUp();
    sandbox.atlas.setDelays({ exportMs: 4000 });
    const exporting = (await exportRecorded(ready)).run;
    const down = await runCli(
      ['teardown', '--state', ready.statePath, '--yes', '--delete-bucket', '--force'],
      { env: sandbox.env },
    );
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/Going on \(--force\)/);
    expect(existsSync(ready.statePath)).toBe(false);

    const exported = await exporting;
    expect(exported.code).toBe(6);
    expect(existsSync(ready.statePath)).toBe(false);
    expect(existsSync(`${ready.statePath}.lock`)).toBe(false);
    expect(exported.stderr).toContain(
      `The state file ${ready.statePath} was deleted while this export ran`,
    );
    // The job's outcome is still shown; no partial files can remain in a bucket that is gone.
    expect(exported.stderr).toMatch(/Export job \w+: Failed/);
    expect(exported.stderr).toContain(`The bucket s3://${ready.bucket} no longer exists`);
    expect(exported.stderr).not.toContain('Partial files may remain');
  });

  it('keeps what another command records while it waits (each write merges under the lock)', async () => {
    const ready = await setUp();
    sandbox.atlas.setDelays({ exportMs: 5000 });
    const exporting = (await exportRecorded(ready)).run;
    // While export waits, schedule takes the lock and records auto-export.
    const scheduled = await runCli(
      ['schedule', '--state', ready.statePath, '--non-interactive', '--frequency', 'monthly'],
      { env: sandbox.env },
    );
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const exported = await exporting;
    expect(exported.code, exported.stderr).toBe(0);
    const state = readState(ready);
    expect(state.resources.schedule).toMatchObject({ frequency: 'monthly', origin: 'created' });
    expect(state.exports).toEqual([
      expect.objectContaining({
        snapshotId: SNAP.latest,
        state: 'Successful',
        filesVerified: true,
      }),
    ]);
    expect(existsSync(`${ready.statePath}.lock`)).toBe(false);
  });
});

describe('export, interactive', () => {
  it('offers a pick list of exportable snapshots only, newest first, and exports the one chosen', async () => {
    const ready = await setUp();
    const term = await terminal(['export', '--state', ready.statePath]);
    await term.waitFor('Snapshot of Cluster0 to export');
    await term.waitFor(SNAP.latest);
    const screen = term.output();
    expect(screen).not.toContain(SNAP.fallback);
    expect(screen).not.toContain(SNAP.inProgress);
    term.type('\x1b[B\r'); // the second newest: SNAP.older
    expect(await term.exited).toBe(0);
    const [record] = readState(ready).exports;
    expect(record).toMatchObject({
      snapshotId: SNAP.older,
      state: 'Successful',
      filesVerified: true,
    });
  });
});
