/**
 * AWS credentials that cannot be loaded (a web-identity role without its token file, as in a CI job
 * whose OIDC step did not run; a profile that does not exist) and AWS_PROFILE beside static keys,
 * through the built CLI against the sandbox.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { awsError } from '../../src/aws/errors.js';
import { runCli } from '../helpers/cli.js';
import { useSandbox, type SandboxHandle } from '../helpers/sandbox.js';
import { freshScenario, runSetup, setupArgs } from '../helpers/setup.js';

const sandbox = useSandbox();
const ROLE = 'arn:aws:iam::123456789012:role/ci-deploy';

/** The sandbox's settings without its AWS keys, and with no ~/.aws files or instance metadata to fall back on. */
function withoutKeys(
  sandbox: SandboxHandle,
  extra: Record<string, string>,
): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'credentials-home-'));
  const env: Record<string, string> = {
    ...sandbox.env,
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
  delete env.AWS_ACCESS_KEY_ID;
  delete env.AWS_SECRET_ACCESS_KEY;
  return env;
}

/** `setup --non-interactive --dry-run` of the sandbox's eligible cluster, human output unless `extra` says --json. */
function dryRunSetup(statePath: string, bucket: string, extra: string[] = []): string[] {
  const args = setupArgs(sandbox, statePath, bucket, ['--dry-run']).filter(
    (arg) => arg !== '--json',
  );
  return [...args, ...extra];
}

describe('AWS credentials that cannot be loaded', () => {
  it('AWS_ROLE_ARN with a missing AWS_WEB_IDENTITY_TOKEN_FILE: exit 2 naming the file, --debug shows the cause', async () => {
    const { statePath, bucket } = freshScenario('no-token');
    const tokenFile = join(tmpdir(), `no-such-dir-${process.pid}`, 'token');
    const env = withoutKeys(sandbox, {
      AWS_ROLE_ARN: ROLE,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    });
    const result = await runCli(dryRunSetup(statePath, bucket), { env });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(
      `error: No AWS credentials could be loaded for sts:GetCallerIdentity: AWS_WEB_IDENTITY_TOKEN_FILE names ${tokenFile}, which cannot be read (ENOENT).`,
    );
    expect(result.stderr).toMatch(
      /what to do: Point AWS_WEB_IDENTITY_TOKEN_FILE at the token file, and make sure the CI step that requests the OIDC token runs first/,
    );
    expect(result.stderr).not.toMatch(/: Error\.|Unexpected error|\n\s+at /);

    const debug = await runCli(dryRunSetup(statePath, bucket, ['--debug']), { env });
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(
      /debug: caused by Error \(ENOENT\): ENOENT: no such file or directory, open '.*token'/,
    );
  });

  it('AWS_ROLE_ARN alone names the missing AWS_WEB_IDENTITY_TOKEN_FILE; --json carries the same error', async () => {
    const { statePath, bucket } = freshScenario('role-only');
    const env = withoutKeys(sandbox, { AWS_ROLE_ARN: ROLE });
    const result = await runCli(dryRunSetup(statePath, bucket, ['--json']), { env });
    expect(result.code, result.stderr).toBe(2);
    const document = JSON.parse(result.stdout) as {
      ok: boolean;
      exitCode: number;
      error: { code: string; message: string; hint: string };
    };
    expect(document.ok).toBe(false);
    expect(document.exitCode).toBe(2);
    expect(document.error.code).toBe('AWS_NO_CREDENTIALS');
    expect(document.error.message).toBe(
      `No AWS credentials could be loaded for sts:GetCallerIdentity: AWS_ROLE_ARN (${ROLE}) is set but AWS_WEB_IDENTITY_TOKEN_FILE is not.`,
    );
    expect(document.error.hint).toMatch(
      /^Set AWS_WEB_IDENTITY_TOKEN_FILE to the file .* or unset AWS_ROLE_ARN\.$/,
    );
  });

  it('a status whose profile does not exist, beside a web-identity role, names both (s3:HeadBucket, exit 2)', async () => {
    const { statePath, bucket } = freshScenario('bad-profile');
    await runSetup(sandbox, statePath, bucket, []);
    const tokenFile = join(tmpdir(), `no-such-dir-${process.pid}`, 'token');
    const env = withoutKeys(sandbox, {
      AWS_PROFILE: 'does-not-exist',
      AWS_ROLE_ARN: ROLE,
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    });
    const result = await runCli(['status', '--state', statePath], { env });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(
      `No AWS credentials could be loaded for s3:HeadBucket on bucket "${bucket}": the profile "does-not-exist" (AWS_PROFILE) gave none; AWS_WEB_IDENTITY_TOKEN_FILE names ${tokenFile}, which cannot be read (ENOENT).`,
    );
    expect(result.stderr).toMatch(/aws sso login --profile does-not-exist/);
    expect(result.stderr).not.toMatch(/: Error\.|Unexpected error/);
  });
});

describe('AWS_PROFILE beside AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY', () => {
  it("prints one warning line of its own instead of the SDK's raw multi-line warning", async () => {
    const { statePath, bucket } = freshScenario('profile-and-keys');
    const dir = mkdtempSync(join(tmpdir(), 'profile-and-keys-'));
    const config = join(dir, 'config');
    // The profile holds the sandbox's keys, so the run works whichever source the SDK picks.
    writeFileSync(
      config,
      `[profile work]\naws_access_key_id = ${sandbox.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${sandbox.env.AWS_SECRET_ACCESS_KEY}\n`,
    );
    const env = { ...sandbox.env, AWS_PROFILE: 'work', AWS_CONFIG_FILE: config };
    const result = await runCli(dryRunSetup(statePath, bucket), { env });
    expect(result.code, result.stderr).toBe(0);
    const warnings = result.stderr.split('\n').filter((line) => /AWS_PROFILE/.test(line));
    expect(warnings).toEqual([
      'warning: AWS_PROFILE ("work") and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are all set: the AWS SDK uses the profile and ignores the keys. Unset AWS_PROFILE to use the keys, or unset the keys.',
    ]);
    expect(result.stderr).not.toMatch(/Multiple credential sources|@aws-sdk/);
  });
});

describe('an AWS failure without an AWS error code', () => {
  it('never reads as a bare "Error."', () => {
    const context = { action: 's3:HeadBucket', resource: 'bucket "x"' };
    const clientSide = awsError(new Error('socket hang up in signer'), context);
    expect(clientSide.message).toBe(
      'The AWS SDK could not complete s3:HeadBucket on bucket "x": socket hang up in signer.',
    );
    expect(clientSide.hint).toMatch(/--debug/);
    const answered = awsError(
      Object.assign(new Error(''), { name: 'Error', $metadata: { httpStatusCode: 500 } }),
      context,
    );
    expect(answered.message).toBe(
      'AWS refused s3:HeadBucket on bucket "x": an answer without an AWS error code (HTTP 500).',
    );
    expect(answered.code).toBe('AWS_HTTP_500');
    const empty = awsError(new Error(''), context);
    expect(empty.message).not.toMatch(/: Error\.$/);
    expect(empty.message).toMatch(/no reason given\.$/);
  });
});
