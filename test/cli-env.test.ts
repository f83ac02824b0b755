/**
 * The environment that says where the clouds are, through the built CLI after a real setup against
 * the sandbox: malformed settings are usage errors (exit 2) before any call, credentials inside a URL
 * are never printed, an unreachable Atlas or AWS endpoint fails in seconds with what to check, and a
 * call that keeps being retried says so.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../src/sandbox/moto.js';
import { startAtlasProxy, type AtlasProxy } from './atlas/proxy.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { useSandbox } from './helpers/sandbox.js';
import { freshScenario, readState, runSetup } from './helpers/setup.js';

const sandbox = useSandbox();
/** A state path with nothing behind it, for the checks that come before the state file is read. */
let statePath = '';

beforeEach(() => {
  ({ statePath } = freshScenario('cli-env'));
});

/** A finished setup (a few seconds) for the tests that need resources to check. */
async function finishedSetup(): Promise<void> {
  const { bucket } = freshScenario('cli-env');
  await runSetup(sandbox, statePath, bucket, []);
  sandbox.atlas.calls.length = 0;
}

/**
 * The state file as if setup had run against the Atlas at `baseUrl` (which now fails or goes
 * through a proxy): a state file belongs to one Atlas, and commands refuse any other.
 */
function recordAtlasAt(baseUrl: string): void {
  const state = readState(statePath);
  state.atlas.baseUrl = baseUrl;
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
}

async function status(env: Record<string, string | undefined>, extra: string[] = []) {
  const started = Date.now();
  const result = await runCli(['status', '--state', statePath, ...extra], {
    env: { ...sandbox.env, ...env },
    timeoutMs: 60_000,
  });
  return { ...result, ms: Date.now() - started };
}

/** No stack trace, no "undefined", no internal-error exit. */
function expectClean(result: CliResult) {
  expect(result.code).not.toBe(1);
  expect(result.stderr).not.toMatch(/Unexpected error|TypeError|\bundefined\b|at .*\.js:\d+/);
}

describe('malformed settings fail before any call (exit 2)', () => {
  it.each([
    ['AWS_ENDPOINT_URL', 'not-a-url', /AWS_ENDPOINT_URL \(not-a-url\) is not an absolute URL\./],
    [
      'AWS_ENDPOINT_URL_S3',
      'ftp://s3.internal',
      /AWS_ENDPOINT_URL_S3 \(ftp:\/\/s3\.internal\) must start with https:\/\/ or http:\/\//,
    ],
    [
      'AWS_ENDPOINT_URL_STS',
      'localhost:4566',
      /AWS_ENDPOINT_URL_STS \(localhost:4566\) must start with/,
    ],
    [
      'MONGODB_ATLAS_BASE_URL',
      'cloud.mongodb.com',
      /MONGODB_ATLAS_BASE_URL \(cloud\.mongodb\.com\) is not a URL\./,
    ],
  ])('%s=%s', async (name, value, message) => {
    const result = await status({ [name]: value });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/what to do: .*unset it/);
    expect(result.stdout).toBe('');
    expect(sandbox.atlas.calls).toEqual([]);
    expectClean(result);
  });

  it('--json prints the error document on stdout', async () => {
    const result = await status({ AWS_ENDPOINT_URL: 'not-a-url' }, ['--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      error: {
        code: 'INVALID_AWS_ENDPOINT_URL',
        message: 'AWS_ENDPOINT_URL (not-a-url) is not an absolute URL.',
        hint: expect.stringContaining('AWS_ENDPOINT_URL'),
      },
      exitCode: 2,
    });
  });
});

describe('credentials inside a URL are never printed', () => {
  it('MONGODB_ATLAS_BASE_URL with user:password is refused with the userinfo masked, also with --debug', async () => {
    for (const extra of [[], ['--debug'], ['--json']]) {
      const result = await status(
        { MONGODB_ATLAS_BASE_URL: 'http://admin:hunter2-secret@127.0.0.1:1' },
        extra,
      );
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(
        'MONGODB_ATLAS_BASE_URL (http://****@127.0.0.1:1) must not contain credentials.',
      );
      expect(`${result.stdout}${result.stderr}`).not.toMatch(/hunter2|admin:/);
    }
  });

  it('AWS_ENDPOINT_URL with user:password likewise', async () => {
    const endpoint = sandbox.env.AWS_ENDPOINT_URL!.replace('https://', 'https://key:s3cr3t-value@');
    const result = await status({ AWS_ENDPOINT_URL: endpoint }, ['--debug']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(
      /AWS_ENDPOINT_URL \(https:\/\/\*\*\*\*@127\.0\.0\.1:\d+\) must not contain credentials/,
    );
    expect(`${result.stdout}${result.stderr}`).not.toContain('s3cr3t-value');
  });
});

describe('AWS_PROFILE', () => {
  it('a profile that cannot be loaded is named, and is an environment error (exit 2)', async () => {
    await finishedSetup();
    const dir = mkdtempSync(join(tmpdir(), 'cli-env-aws-'));
    writeFileSync(join(dir, 'config'), '[profile other]\nregion = us-east-1\n');
    writeFileSync(join(dir, 'credentials'), '');
    const result = await status({
      AWS_PROFILE: 'nonexistentprofile',
      AWS_CONFIG_FILE: join(dir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(
      /No AWS credentials could be loaded from the profile "nonexistentprofile" \(AWS_PROFILE\)/,
    );
    expect(result.stderr).toMatch(/aws sso login --profile nonexistentprofile/);
    expect(result.stderr).toMatch(/unset AWS_PROFILE/);
    expectClean(result);
  });
});

describe('MONGODB_ATLAS_PRIVATE_API_KEY', () => {
  it('a rejected API key gets a 401 hint in plain English ("an API key", exit 3)', async () => {
    await finishedSetup();
    const result = await status({ MONGODB_ATLAS_PRIVATE_API_KEY: 'not-the-right-private-key' });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/USER_UNAUTHORIZED|401/);
    expect(result.stderr).toMatch(/Use an API key of the organization that owns/);
    expect(result.stderr).not.toMatch(/\ba API\b/);
    expectClean(result);
  });
});

describe('an unreachable Atlas fails in seconds, naming the origin and what to check', () => {
  it('a refused connection (nothing listens at MONGODB_ATLAS_BASE_URL)', async () => {
    await finishedSetup();
    const port = await freePort();
    recordAtlasAt(`http://127.0.0.1:${port}`);
    const result = await status({ MONGODB_ATLAS_BASE_URL: `http://127.0.0.1:${port}` });
    expect(result.code, result.stderr).toBe(3);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.stderr).toMatch(
      new RegExp(
        `Could not reach Atlas at http://127\\.0\\.0\\.1:${port} for GET \\S+: the connection was refused, nothing accepts connections there \\(ECONNREFUSED, 3 attempts\\)`,
      ),
    );
    expect(result.stderr).toContain(
      `what to do: MONGODB_ATLAS_BASE_URL points at http://127.0.0.1:${port}: check that the service there is running`,
    );
    expect(result.stderr).not.toMatch(/unset/);
    // The AWS side was still checked.
    expect(result.stdout).toMatch(/^in place +S3 bucket /m);
    expectClean(result);
  });

  it('https:// to the plain-HTTP simulator (a TLS error): one attempt, the scheme in the hint', async () => {
    await finishedSetup();
    const base = sandbox.env.MONGODB_ATLAS_BASE_URL!.replace('http://', 'https://');
    recordAtlasAt(base);
    const result = await status({ MONGODB_ATLAS_BASE_URL: base });
    expect(result.code, result.stderr).toBe(3);
    expect(result.ms).toBeLessThan(15_000);
    expect(result.stderr).toContain(`Could not reach Atlas at ${base} for GET`);
    expect(result.stderr).toMatch(/the TLS handshake failed \(ERR_SSL_WRONG_VERSION_NUMBER\)/);
    expect(result.stderr).toMatch(/MONGODB_ATLAS_BASE_URL must start with http:\/\//);
    expect(sandbox.atlas.calls).toEqual([]);
    expectClean(result);
  });
});

describe('an unreachable AWS endpoint is not retried for minutes', () => {
  it('a refused connection, even with AWS_MAX_ATTEMPTS=10', async () => {
    await finishedSetup();
    const port = await freePort();
    const result = await status({
      AWS_ENDPOINT_URL: `https://127.0.0.1:${port}`,
      AWS_MAX_ATTEMPTS: '10',
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.ms).toBeLessThan(10_000);
    expect(result.stderr).toMatch(
      /Could not reach the AWS endpoint for s3:HeadBucket .*\(ECONNREFUSED\)/,
    );
    expect(result.stderr).toMatch(
      /what to do: Nothing accepts connections there: check AWS_ENDPOINT_URL/,
    );
    expect(result.stdout).toMatch(/^in place +Atlas access role /m);
  });

  it('https:// to a plain-HTTP port is a TLS error, explained as such', async () => {
    await finishedSetup();
    const result = await status({
      AWS_ENDPOINT_URL: sandbox.moto.plainUrl.replace('http://', 'https://'),
      AWS_MAX_ATTEMPTS: '10',
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.ms).toBeLessThan(10_000);
    expect(result.stderr).toMatch(
      /Could not reach the AWS endpoint for s3:HeadBucket .*\((EPROTO|ERR_SSL_[A-Z_]+)\)/,
    );
    expect(result.stderr).toMatch(
      /TLS handshake failed: if AWS_ENDPOINT_URL is set, check its scheme/,
    );
    expect(result.stderr).not.toMatch(/AWS refused/);
  });
});

describe('a call Atlas keeps refusing with 503 is announced while it retries', () => {
  let proxy: AtlasProxy;
  beforeAll(async () => {
    proxy = await startAtlasProxy(sandbox.env.MONGODB_ATLAS_BASE_URL!);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('prints what Atlas answered, the attempt and the time so far, then succeeds', async () => {
    await finishedSetup();
    let until = 0;
    proxy.rewrite = (exchange) => {
      if (exchange.method !== 'GET' || !exchange.url.includes('/cloudProviderAccess/'))
        return undefined;
      until ||= Date.now() + 2500;
      return Date.now() < until
        ? { status: 503, body: '{"error":503,"errorCode":"SERVICE_UNAVAILABLE"}' }
        : undefined;
    };
    recordAtlasAt(proxy.url);
    const result = await status({ MONGODB_ATLAS_BASE_URL: proxy.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /^Atlas answered 503 to GET \/api\/atlas\/v2\/groups\/[0-9a-f]{24}\/cloudProviderAccess\/[0-9a-f]{24}; retrying in \d+(\.\d)? s \(attempt \d+, \d+(\.\d)? s so far\)\.$/m,
    );
    expect(result.stdout).toMatch(/^in place +Atlas access role /m);
  });
});

describe('--debug', () => {
  it("never shows the AWS SDK's Node version notice; the digest trace line is balanced", async () => {
    await finishedSetup();
    const result = await status({}, ['--debug']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^debug: aws s3 HeadBucket$/m);
    // (On Node 20 the SDK emits the notice whenever a client is made; newer Node never shows it.)
    expect(result.stderr).not.toMatch(/NodeVersionSupportWarning|will require node/);
    expect(result.stderr).toMatch(
      /^debug: atlas → GET http:\/\/127\.0\.0\.1:\d+\/api\/atlas\/v2\/\S+ version=[\d-]+ attempt=1 authorization=\(digest, answered by urllib\)$/m,
    );
  });
});
