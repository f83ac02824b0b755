/**
 * `setup --sandbox`: a rehearsal on a sandbox of its own, isolated from the caller's Atlas and AWS
 * settings (environment and ./.env alike), and stopped cleanly on Ctrl-C.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** Settings a user's shell may hold, each of which would send the rehearsal elsewhere or re-credential it. */
function callerSettings(dir: string): Record<string, string> {
  const config = join(dir, 'aws-config');
  writeFileSync(
    config,
    '[profile prod]\nregion = eu-west-3\nendpoint_url = https://127.0.0.1:9\ncredential_process = /bin/false\n',
  );
  const credentials = join(dir, 'aws-credentials');
  writeFileSync(
    credentials,
    '[prod]\naws_access_key_id = AKIAPRODNOTREAL0000\naws_secret_access_key = prod\n',
  );
  return {
    AWS_PROFILE: 'prod',
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_ENDPOINT_URL_S3: 'https://127.0.0.1:9',
    AWS_ENDPOINT_URL_IAM: 'https://127.0.0.1:9',
    AWS_ENDPOINT_URL_STS: 'https://127.0.0.1:9',
    AWS_SESSION_TOKEN: 'a-token-of-the-real-account',
    AWS_DEFAULT_REGION: 'eu-west-3',
    MONGODB_ATLAS_CLIENT_ID: 'mdb_sa_id_of_the_real_org',
    MONGODB_ATLAS_CLIENT_SECRET: 'mdb_sa_sk_of_the_real_org',
    MONGODB_ATLAS_BASE_URL: 'https://127.0.0.1:9',
  };
}

describe('setup --sandbox', () => {
  it('ignores the caller’s AWS and Atlas settings, from the environment and from ./.env', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'setup-sandbox-'));
    const args = ['setup', '--sandbox', '--non-interactive', '--dry-run', '--json'];
    const fromEnv = await runCli(args, { env: callerSettings(dir), cwd: dir, timeoutMs: 60_000 });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const summary = JSON.parse(fromEnv.stdout);
    expect(summary.ok).toBe(true);
    // The rehearsal's state file is a temporary one, gone with the sandbox: nothing points at it.
    expect(summary.statePath).toBeNull();
    expect(fromEnv.stderr).toMatch(/State file: a temporary one, removed with the sandbox/);
    expect(fromEnv.stderr).toMatch(/The sandbox was stopped/);
    expect(fromEnv.stderr).toMatch(/AWS account 123456789012/);

    const dotenv = Object.entries(callerSettings(dir))
      .map(([key, value]) => `${key}=${value}`)
      .join('\n');
    writeFileSync(join(dir, '.env'), `${dotenv}\n`, { mode: 0o600 });
    const fromFile = await runCli(args, { cwd: dir, timeoutMs: 60_000 });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout).ok).toBe(true);
  }, 120_000);

  it('Ctrl-C during a wait says it was a rehearsal, stops the sandbox and removes its files', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'setup-sandbox-tmp-'));
    let interrupted = false;
    const result = await runCli(['setup', '--sandbox', '--non-interactive'], {
      env: { TMPDIR: scratch },
      timeoutMs: 90_000,
      onSpawn: (child) => {
        let seen = '';
        child.stderr?.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          // The endpoint was created: the run now waits minutes for it to become ACTIVE.
          if (!interrupted && /✔ Object-storage private endpoint:/.test(seen)) {
            interrupted = true;
            child.kill('SIGINT');
          }
        });
      },
    });
    expect(interrupted, result.stderr).toBe(true);
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).toMatch(/That was a rehearsal on a throwaway sandbox/);
    expect(result.stderr).toMatch(/The sandbox was stopped; everything it held is gone/);
    expect(result.stderr).not.toMatch(/rerun to continue/);
    expect(readdirSync(scratch).filter((name) => name.startsWith('atlas-pl-export-'))).toEqual([]);
  }, 120_000);
});
