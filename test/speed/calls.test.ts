/**
 * Few calls: every step of `setup` issues only the calls it needs, exactly counted. Atlas calls are
 * read from the simulator's own log (by operationId; digest challenges, answered 401, are not calls),
 * AWS calls from the `--debug` trace, and both are checked against the `calls` the --json summary
 * reports (counted by src/session.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
import { freshScenario, setupArgs } from '../helpers/setup.js';

const sandbox = useSandbox();

function scenario(): { statePath: string; args: string[] } {
  const { statePath, bucket } = freshScenario('calls');
  const args = setupArgs(sandbox, statePath, bucket, [
    '--debug',
    '--export-now',
    'latest',
    '--schedule',
    'monthly',
  ]);
  return { statePath, args };
}

type Counts = Record<string, number>;

function tally(names: string[]): Counts {
  const counts: Counts = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/**
 * Atlas calls the simulator answered. A 401 is the digest challenge of the same call and a 429 (the
 * simulator's rate limit, on a loaded machine) is retried by the client: neither is a call of its own.
 */
function answered() {
  return sandbox.atlas.calls.filter((call) => call.status !== 401 && call.status !== 429);
}

function atlasCalls(): string[] {
  return answered().map((call) => String(call.operationId));
}

/** AWS operations from the --debug trace ("debug: aws s3 CreateBucket"). */
function awsCalls(result: CliResult): string[] {
  return [...result.stderr.matchAll(/^debug: aws (\w+ \w+)$/gm)].map((match) => match[1]!);
}

function summaryOf(result: CliResult): {
  calls: { atlas: { reads: number; writes: number }; aws: { reads: number; writes: number } };
  steps: Record<string, { status: string }>;
} {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

const AWS_READ = /^\w+ (Get|List|Head|Describe)/;

/** Calls that repeat by nature (polls), checked separately. */
const POLLS = [
  'getGroupBackupPrivateEndpoint',
  'getGroupClusterBackupExport',
  'authorizeGroupCloudProviderAccessRole',
];

/** Collects Atlas error codes of authorize attempts, to tell propagation retries from other failures. */
function recordAuthorizeAnswers(): { codes: string[]; stop: () => void } {
  const codes: string[] = [];
  const stop = sandbox.atlas.onExchange((exchange) => {
    if (
      exchange.operationId !== 'authorizeGroupCloudProviderAccessRole' ||
      exchange.response.status === 401
    )
      return;
    const body = exchange.response.body as { errorCode?: string } | undefined;
    codes.push(exchange.response.status === 200 ? 'OK' : String(body?.errorCode));
  });
  return { codes, stop };
}

describe('setup makes only the calls it needs', () => {
  it('a fresh setup: one create per resource, one read per lookup, polls only while waiting', async () => {
    const { args } = scenario();
    const authorize = recordAuthorizeAnswers();
    const result = await runCli(args, { env: sandbox.env });
    authorize.stop();
    const summary = summaryOf(result);
    const atlas = atlasCalls();
    const counts = tally(atlas.filter((name) => !POLLS.includes(name)));
    expect(
      answered()
        .filter((call) => !call.operationId)
        .map((call) => `${call.method} ${call.path} ${call.status}`),
    ).toEqual([]);

    expect(counts).toEqual({
      // preflight: the project, the cluster, and the API key's roles (Project Owner is needed)
      getGroup: 1,
      getGroupCluster: 1,
      getSystemStatus: 1,
      // endpoint: preflight looks for one to adopt (the plan says which), then create
      listGroupBackupPrivateEndpoints: 1,
      createGroupBackupPrivateEndpoint: 1,
      // access role: the list is the baseline that lets an uncertain create be recovered
      listGroupCloudProviderAccess: 1,
      createGroupCloudProviderAccess: 1,
      // export bucket: preflight looks for one to adopt (or refuse), then create
      listGroupBackupExportBuckets: 1,
      createGroupBackupExportBucket: 1,
      // export now
      listGroupClusterBackupSnapshots: 1,
      createGroupClusterBackupExport: 1,
      // schedule
      getGroupClusterBackupSchedule: 1,
      updateGroupClusterBackupSchedule: 1,
    });
    // The role the create returned is not read again before authorizing it.
    expect(atlas).not.toContain('getGroupCloudProviderAccess');
    // Authorize: exactly one success; every other attempt is an IAM-propagation refusal.
    expect(authorize.codes.filter((code) => code === 'OK')).toHaveLength(1);
    expect(authorize.codes.at(-1)).toBe('OK');
    expect(
      authorize.codes
        .filter((code) => code !== 'OK')
        .every((code) => code === 'CANNOT_ASSUME_ROLE'),
    ).toBe(true);
    // Polls: at least one each, and the waits back off (a few polls for sub-second waits).
    for (const poll of ['getGroupBackupPrivateEndpoint', 'getGroupClusterBackupExport']) {
      const polls = atlas.filter((name) => name === poll).length;
      expect(polls, poll).toBeGreaterThanOrEqual(1);
      expect(polls, poll).toBeLessThanOrEqual(15);
    }

    const aws = awsCalls(result);
    expect(tally(aws)).toEqual({
      // preflight: the account, and whether the bucket and the IAM role exist (read once, reused)
      'sts GetCallerIdentity': 1,
      's3 HeadBucket': 1,
      's3 CreateBucket': 1,
      // whose create made the bucket is read, not taken from the create's answer (us-east-1 answers
      // success for a bucket the account already owns): its creation date against the pending mark
      's3 ListBuckets': 1,
      's3 PutPublicAccessBlock': 1,
      's3 PutBucketEncryption': 1,
      's3 PutBucketOwnershipControls': 1,
      // before the write, and once after it: S3 has no conditional write, so the step checks that
      // another writer did not replace the policy meanwhile
      's3 GetBucketPolicy': 2,
      's3 PutBucketPolicy': 1,
      'iam GetRole': 1,
      'iam CreateRole': 1,
      'iam PutRolePolicy': 1,
      // the export's files: .complete, then one listing of the prefix
      's3 GetObject': 1,
      's3 ListObjectsV2': 1,
    });

    // The --json summary counts the same calls the servers saw.
    const atlasWrites = answered().filter((call) => call.method !== 'GET').length;
    expect(summary.calls.atlas).toEqual({ reads: atlas.length - atlasWrites, writes: atlasWrites });
    expect(summary.calls.aws).toEqual({
      reads: aws.filter((op) => AWS_READ.test(op)).length,
      writes: aws.filter((op) => !AWS_READ.test(op)).length,
    });
    // 7 reads: the ListBuckets after CreateBucket (see above) is the seventh.
    expect(summary.calls.aws).toEqual({ reads: 8, writes: 7 });
  });

  it('a rerun of a finished setup: no write, one read per resource at most (exactly these reads)', async () => {
    const { args, statePath } = scenario();
    summaryOf(await runCli(args, { env: sandbox.env }));
    sandbox.atlas.calls.length = 0;

    const rerun = await runCli(args, { env: sandbox.env });
    const summary = summaryOf(rerun);
    expect(Object.values(summary.steps).every((step) => step.status === 'unchanged')).toBe(true);
    expect(tally(atlasCalls())).toEqual({
      getGroupCloudProviderAccess: 1, // the role and its authorization
      getGroupBackupPrivateEndpoint: 1, // the endpoint, ACTIVE
      getGroupBackupExportBucket: 1, // the export bucket, private networking on
      getGroupClusterBackupSchedule: 1, // auto-export on
    });
    expect(tally(awsCalls(rerun))).toEqual({
      's3 GetBucketPolicy': 1, // the bucket (exists, ours) and its policy
      'iam GetRole': 1, // the role and its trust policy; its ARN names the AWS account, checked against the state
      'iam GetRolePolicy': 1, // its permission policy
    });
    expect(summary.calls).toEqual({ atlas: { reads: 4, writes: 0 }, aws: { reads: 3, writes: 0 } });
    const resources = Object.keys(JSON.parse(readFileSync(statePath, 'utf8')).resources).length;
    expect(summary.calls.atlas.reads + summary.calls.aws.reads).toBeLessThanOrEqual(resources);
  });

  it('a setup killed after the IAM role step, rerun: nothing recorded is created again or reread twice', async () => {
    const { args, statePath } = scenario();
    let recordedAtKill: string[] = [];
    const killed = await runCli(args, {
      env: sandbox.env,
      onSpawn: (child) => {
        const timer = setInterval(() => {
          if (!existsSync(statePath)) return;
          try {
            const steps = JSON.parse(readFileSync(statePath, 'utf8')).completedSteps as string[];
            if (steps.includes('iamRole')) {
              recordedAtKill = steps;
              child.kill('SIGKILL');
              clearInterval(timer);
            }
          } catch {
            // Read between two atomic replacements; the next poll sees the file whole.
          }
        }, 5);
        child.on('exit', () => clearInterval(timer));
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(recordedAtKill).toContain('atlasRole');
    // A request of the killed run that the simulator was still answering (an authorize checks moto)
    // is recorded when answered: let it land before counting the rerun's calls.
    for (let seen = -1; seen !== sandbox.atlas.calls.length;) {
      seen = sandbox.atlas.calls.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    sandbox.atlas.calls.length = 0;

    const resumed = await runCli(args, { env: sandbox.env });
    const summary = summaryOf(resumed);
    const atlas = atlasCalls();
    const aws = awsCalls(resumed);
    // Recorded before the kill, so only verified now, never created again.
    expect(atlas).not.toContain('createGroupCloudProviderAccess');
    expect(atlas).not.toContain('listGroupCloudProviderAccess');
    expect(aws).not.toContain('iam CreateRole');
    expect(aws).not.toContain('iam PutRolePolicy');
    expect(atlas).not.toContain('getGroup'); // preflight facts come from the state file
    expect(aws).not.toContain('sts GetCallerIdentity');
    if (recordedAtKill.includes('bucket')) expect(aws).not.toContain('s3 CreateBucket');
    if (recordedAtKill.includes('endpoint'))
      expect(atlas).not.toContain('createGroupBackupPrivateEndpoint');
    // Each recorded resource is read once: the role, the IAM role and its policy, the bucket policy.
    const reads = tally(atlas.filter((name) => !POLLS.includes(name) && name.startsWith('get')));
    for (const [name, count] of Object.entries(reads)) expect(count, name).toBe(1);
    const awsReads = aws.filter(
      (op) => AWS_READ.test(op) && op !== 's3 GetObject' && op !== 's3 ListObjectsV2',
    );
    // Known gap: when the bucket step was cut short, the rerun adopts the bucket through
    // s3.hardenBucket, which reads the bucket policy itself before the bucket-policy step reads it
    // again (needs hardenBucket to hand back what it read; see the speed report).
    const adoptsBucket = !recordedAtKill.includes('bucket');
    // A policy written by this run is read back once after the write.
    const writesPolicy = aws.includes('s3 PutBucketPolicy');
    for (const [op, count] of Object.entries(tally(awsReads))) {
      if (op === 's3 GetBucketPolicy')
        expect(count, op).toBeLessThanOrEqual(1 + Number(adoptsBucket) + Number(writesPolicy));
      else expect(count, op).toBe(1);
    }
    // One of each in the end.
    expect(sandbox.atlas.state.accessRoles).toHaveLength(1);
    expect(sandbox.atlas.state.privateEndpoints).toHaveLength(1);
    expect(sandbox.atlas.state.exportBuckets).toHaveLength(1);
    expect(summary.calls.atlas.writes).toBe(
      atlas.length - atlas.filter((name) => /^(get|list)/.test(name)).length,
    );
  });
});
