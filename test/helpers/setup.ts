/**
 * For tests that start from a finished setup: a fresh state path and bucket name per scenario, the
 * non-interactive setup arguments, and setup itself run through the built CLI against the sandbox.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli, type CliResult } from './cli.js';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import {
  GetBucketPolicyCommand,
  PutBucketPolicyCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { awsClientsFor, TEST_DELAYS, type SandboxHandle } from './sandbox.js';

/** A state path in a new temporary folder. */
export function tempState(label: string): string {
  return join(mkdtempSync(join(tmpdir(), `${label}-`)), 'state.json');
}

let counter = 0;
/** A bucket name no other scenario in this run uses (`pl-<label>-<pid>-<n>`). */
export function uniqueBucket(label: string): string {
  counter += 1;
  return `pl-${label}-${process.pid}-${counter}`;
}

export function freshScenario(label: string): { statePath: string; bucket: string } {
  return { statePath: tempState(`${label}-test`), bucket: uniqueBucket(label) };
}

/** `setup --non-interactive --json` for `cluster` (the sandbox's eligible one unless named), plus `extra`. */
export function setupArgs(
  sandbox: SandboxHandle,
  statePath: string,
  bucket: string,
  extra: string[] = [],
  cluster = sandbox.atlas.seed.clusters.eligible,
): string[] {
  return [
    'setup',
    '--non-interactive',
    '--project-id',
    sandbox.atlas.seed.projectId,
    '--cluster',
    cluster,
    '--bucket',
    bucket,
    '--state',
    statePath,
    '--json',
    ...extra,
  ];
}

export function readState(statePath: string): Record<string, any> {
  return JSON.parse(readFileSync(statePath, 'utf8'));
}

/** A full setup with monthly auto-export (unless `extra` says otherwise); fails the test if it fails. */
export async function runSetup(
  sandbox: SandboxHandle,
  statePath: string,
  bucket: string,
  extra: string[] = ['--schedule', 'monthly'],
  cluster?: string,
): Promise<Record<string, any>> {
  const result = await runCli(setupArgs(sandbox, statePath, bucket, extra, cluster), {
    env: sandbox.env,
  });
  expect(result.code, `setup failed:\n${result.stderr}`).toBe(0);
  return readState(statePath);
}

/** A second Atlas simulator on the same moto: "another Atlas" for the identity checks. */
export async function startOtherAtlas(sandbox: SandboxHandle) {
  const { startAtlasSimulator } = await import('../../src/sim/index.js');
  return startAtlasSimulator({
    aws: {
      endpoint: sandbox.env.AWS_ENDPOINT_URL!,
      region: 'us-east-1',
      accessKeyId: sandbox.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: sandbox.env.AWS_SECRET_ACCESS_KEY!,
      caFile: sandbox.env.AWS_CA_BUNDLE!,
    },
    delays: TEST_DELAYS,
  });
}

/** The sandbox's settings with credentials of another AWS account (222233334444), by moto's AssumeRole. */
export async function otherAccountEnv(sandbox: SandboxHandle): Promise<Record<string, string>> {
  const aws = await awsClientsFor(sandbox.env);
  const assumed = await aws.sts.send(
    new AssumeRoleCommand({
      RoleArn: 'arn:aws:iam::222233334444:role/someone-else',
      RoleSessionName: 'other-account',
    }),
  );
  return {
    ...sandbox.env,
    AWS_ACCESS_KEY_ID: assumed.Credentials!.AccessKeyId!,
    AWS_SECRET_ACCESS_KEY: assumed.Credentials!.SecretAccessKey!,
    AWS_SESSION_TOKEN: assumed.Credentials!.SessionToken!,
  };
}

/**
 * Runs the CLI with `args` and SIGKILLs it the instant the simulator has processed the first
 * successful `method` request whose path matches `path`, before it answers: the create is made in
 * Atlas, and the run never records it.
 */
export async function runKilledAtAtlasWrite(
  sandbox: SandboxHandle,
  args: string[],
  method: string,
  path: RegExp,
): Promise<CliResult> {
  let hit = false;
  const killed = await runCli(args, {
    env: sandbox.env,
    onSpawn: (child) => {
      const stop = sandbox.atlas.onExchange((exchange) => {
        if (hit || exchange.request.method !== method || exchange.response.status >= 300) return;
        if (!path.test(exchange.request.path.split('?')[0]!)) return;
        hit = true;
        child.kill('SIGKILL');
      });
      child.on('exit', stop);
    },
  });
  expect(hit, `no ${method} ${path} reached the simulator`).toBe(true);
  expect(killed.signal).toBe('SIGKILL');
  return killed;
}

interface PolicyStatementLike {
  Sid?: string;
  [key: string]: unknown;
}

/** Changes a bucket's policy behind the tool's back: `edit` gets its statements and returns the new ones. */
export async function editBucketPolicy(
  sandbox: SandboxHandle,
  bucket: string,
  edit: (statements: PolicyStatementLike[]) => PolicyStatementLike[],
): Promise<void> {
  const aws = await awsClientsFor(sandbox.env);
  const policy = JSON.parse(
    (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
  );
  policy.Statement = edit(policy.Statement);
  await aws.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
}

/**
 * Turns BlockPublicPolicy off behind the tool's back (S3 refuses a public bucket policy while it is
 * on), and any other Block Public Access setting given.
 */
export async function allowPublicPolicies(
  sandbox: SandboxHandle,
  bucket: string,
  alsoOff: { BlockPublicAcls?: false; RestrictPublicBuckets?: false } = {},
): Promise<void> {
  const aws = await awsClientsFor(sandbox.env);
  await aws.s3.send(
    new PutPublicAccessBlockCommand({
      Bucket: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: false,
        RestrictPublicBuckets: true,
        ...alsoOff,
      },
    }),
  );
}
