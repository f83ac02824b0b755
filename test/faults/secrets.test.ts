/**
 * setup, export and teardown with --debug, with an API key and with a service account: no secret in
 * use (Atlas private key, AWS secret key, client secret, the simulator's bearer tokens) appears in
 * anything the tool wrote: stdout, stderr, the state file or any other file it left.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
import { tempDir, uniqueBucket } from './helpers.js';

const sandbox = useSandbox({
  delays: { endpointProvisionMs: 50, iamPropagationMs: 50, exportMs: 50 },
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function runAll(
  env: Record<string, string>,
): Promise<{ results: CliResult[]; written: string }> {
  const dir = tempDir('secrets');
  const state = join(dir, 'state.json');
  const common = ['--state', state, '--debug', '--non-interactive'];
  const seed = sandbox.atlas.seed;
  const steps = [
    [
      'setup',
      '--project-id',
      seed.projectId,
      '--cluster',
      seed.clusters.eligible,
      '--bucket',
      uniqueBucket(),
      '--export-now',
      'latest',
      '--schedule',
      'monthly',
      ...common,
    ],
    ['export', '--latest', ...common],
    ['teardown', '--yes', '--delete-bucket', '--force', ...common],
  ];
  const results: CliResult[] = [];
  for (const args of steps) {
    const result = await runCli(args, { env, cwd: dir });
    expect(result.code, `${args[0]}: ${result.stderr}`).toBe(0);
    results.push(result);
  }
  const files = filesUnder(dir)
    .map((path) => readFileSync(path, 'utf8'))
    .join('\n');
  return { results, written: files + results.map((r) => r.stdout + r.stderr).join('\n') };
}

function expectNoSecret(written: string, secrets: Record<string, string | undefined>): void {
  for (const [name, secret] of Object.entries(secrets)) {
    expect(secret, name).toBeTruthy();
    expect(written.includes(secret!), `${name} found in what the tool wrote`).toBe(false);
  }
}

describe('no secret in anything the tool writes, even with --debug', () => {
  it('API key: setup, export, teardown', async () => {
    const { results, written } = await runAll(sandbox.env);
    expect(results[0]!.stderr).toMatch(/debug: atlas → /);
    expectNoSecret(written, {
      'Atlas private key': sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY,
      'AWS secret key': sandbox.env.AWS_SECRET_ACCESS_KEY,
    });
  }, 180_000);

  it('service account: setup, export, teardown (client secret and every bearer token issued)', async () => {
    const tokens: string[] = [];
    const stop = sandbox.atlas.onExchange((exchange) => {
      const body = exchange.response.body as { access_token?: string } | undefined;
      if (exchange.request.path.startsWith('/api/oauth/token') && body?.access_token)
        tokens.push(body.access_token);
    });
    const account = sandbox.atlas.seed.credentials.serviceAccount;
    const env = {
      ...sandbox.env,
      MONGODB_ATLAS_CLIENT_ID: account.clientId,
      MONGODB_ATLAS_CLIENT_SECRET: account.clientSecret,
    };
    delete (env as Record<string, string | undefined>).MONGODB_ATLAS_PUBLIC_API_KEY;
    delete (env as Record<string, string | undefined>).MONGODB_ATLAS_PRIVATE_API_KEY;
    try {
      const { results, written } = await runAll(env);
      expect(results[0]!.stderr).toMatch(/debug: atlas → /);
      expect(tokens.length).toBeGreaterThanOrEqual(3);
      const basic = Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64');
      expectNoSecret(written, {
        'client secret': account.clientSecret,
        'client credentials (Basic)': basic,
        'AWS secret key': sandbox.env.AWS_SECRET_ACCESS_KEY,
        ...Object.fromEntries(tokens.map((token, i) => [`bearer token ${i + 1}`, token])),
      });
    } finally {
      stop();
    }
  }, 180_000);
});
