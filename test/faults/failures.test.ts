/**
 * Lasting faults end in a clear failure (message, hint, documented exit code) with a valid state file,
 * before any cloud change where the fault is local; waits stop at once on errors waiting cannot fix.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AtlasClient } from '../../src/atlas/http.js';
import { getProject } from '../../src/atlas/projects.js';
import { runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
import {
  atlasWrites,
  cloudCounts,
  expectFinalState,
  setupArgs,
  tempDir,
  tempState,
  uniqueBucket,
  validState,
} from './helpers.js';

const sandbox = useSandbox({
  delays: { endpointProvisionMs: 100, iamPropagationMs: 100, exportMs: 100 },
});

function json(stdout: string): Record<string, any> {
  return JSON.parse(stdout);
}

describe('IAM propagation slower than the authorize budget', () => {
  it('fails clearly with CANNOT_ASSUME_ROLE (exit 4) and a valid state file; a later rerun succeeds', async () => {
    sandbox.atlas.setDelays({ iamPropagationMs: 5000 });
    const statePath = tempState();
    const args = setupArgs(sandbox, statePath, uniqueBucket(), ['--authorize-timeout', '1']);
    const first = await runCli(args, { env: sandbox.env });
    expect(first.code, first.stderr).toBe(4);
    expect(json(first.stdout).error.code).toBe('CANNOT_ASSUME_ROLE');
    expect(first.stderr).toMatch(
      /Atlas could not assume arn:aws:iam::\d{12}:role\/\S+ \(CANNOT_ASSUME_ROLE\) within 1s/,
    );
    expect(first.stderr).toMatch(/what to do: .*propagate.*rerun setup/);
    const afterFailure = validState(statePath)!;
    expect(afterFailure.resources.atlasRole?.authorizedAt).toBeUndefined();
    expect(afterFailure.completedSteps).not.toContain('authorize');

    // Later: IAM has caught up.
    sandbox.atlas.setDelays({ iamPropagationMs: 100 });
    const rerun = await runCli(args, { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expectFinalState(sandbox, validState(statePath));
    expect(await cloudCounts(sandbox)).toMatchObject({
      accessRoles: 1,
      privateEndpoints: 1,
      exportBuckets: 1,
      iamRoles: 1,
      s3Buckets: 1,
    });
  });
});

describe('a refused schedule change', () => {
  it('Atlas refusing the auto-export PATCH (400) leaves no schedule recorded, so status and teardown do not believe it is on', async () => {
    const statePath = tempState();
    // A policy Atlas itself now refuses: the PATCH sends the policies back unchanged, so Atlas answers 400.
    const schedule = sandbox.atlas.state.schedules.find(
      (s) => s.clusterName === sandbox.atlas.seed.clusters.eligible,
    )!;
    (schedule.policies[0]!.policyItems[0] as { retentionUnit: string }).retentionUnit =
      'fortnights';
    const result = await runCli(
      setupArgs(sandbox, statePath, uniqueBucket(), ['--schedule', 'monthly']),
      { env: sandbox.env },
    );
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/400 INVALID_JSON_ATTRIBUTE/);
    const state = validState(statePath)!;
    expect(state.resources.exportBucket?.id).toBeTruthy();
    expect(state.resources.schedule).toBeUndefined();
  });
});

describe('a state file that cannot be written', () => {
  const mounts: string[] = [];
  /** A tmpfs (root only); undefined when mounting is not possible here. */
  function mountTmpfs(options: string): string | undefined {
    const dir = tempDir('mnt');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
    } catch {
      return undefined;
    }
    mounts.push(dir);
    return dir;
  }
  afterAll(() => {
    for (const dir of mounts) spawnSync('umount', [dir]);
  });

  async function expectRefusedBeforeAnyChange(statePath: string, reason: RegExp) {
    const bucket = uniqueBucket();
    const result = await runCli(setupArgs(sandbox, statePath, bucket), { env: sandbox.env });
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toMatch(
      /The state file cannot be written in .*Nothing was changed in Atlas or AWS/,
    );
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toMatch(/what to do: .*--state/);
    expect(atlasWrites(sandbox)).toEqual([]);
    expect(sandbox.atlas.calls).toEqual([]);
    expect((await cloudCounts(sandbox)).s3Buckets).toBe(0);
  }

  it('a read-only directory (a read-only tmpfs, since root ignores file modes)', async (ctx) => {
    const dir = mountTmpfs('ro,size=64k');
    if (!dir) ctx.skip();
    await expectRefusedBeforeAnyChange(join(dir!, 'state.json'), /EROFS|read-only/i);
  });

  it('a full directory (a 16 KiB tmpfs filled up)', async (ctx) => {
    const dir = mountTmpfs('size=16k');
    if (!dir) ctx.skip();
    const filler = join(dir!, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1k', 'count=64'], { stdio: 'pipe' });
    await expectRefusedBeforeAnyChange(join(dir!, 'state.json'), /ENOSPC|no space/i);
  });

  it('a directory that does not exist (a typo in --state) is refused, not created', async () => {
    const missing = join(tempDir('parent'), 'no', 'such', 'dir');
    const result = await runCli(setupArgs(sandbox, join(missing, 'state.json'), uniqueBucket()), {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toContain(`The directory ${missing} for the state file`);
    expect(result.stderr).toMatch(/what to do: Create the directory first, or give --state/);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'STATE_DIRECTORY_MISSING' });
    expect(existsSync(missing)).toBe(false);
    expect(sandbox.atlas.calls).toEqual([]);
  });
});

describe('waits stop at once on an error that waiting cannot fix', () => {
  async function setupWithFaultDuringEndpointWait(fault: () => void) {
    sandbox.atlas.setDelays({ endpointProvisionMs: 30_000 });
    const statePath = tempState();
    let faultAt = 0;
    const result = await runCli(setupArgs(sandbox, statePath, uniqueBucket()), {
      env: sandbox.env,
      onSpawn: (child) => {
        // The fault comes once the role is authorized and the endpoint was polled after that: by then
        // the endpoint wait is the only step still calling Atlas.
        let mark = -1;
        const timer = setInterval(() => {
          if (mark < 0 && sandbox.atlas.state.accessRoles[0]?.authorizedDate)
            mark = sandbox.atlas.calls.length;
          const polled =
            mark >= 0 &&
            sandbox.atlas.calls
              .slice(mark)
              .some(
                (c) =>
                  c.method === 'GET' &&
                  /privateEndpoints\/[0-9a-f]{24}$/.test(c.path) &&
                  c.status === 200,
              );
          if (faultAt || !polled) return;
          faultAt = Date.now();
          fault();
        }, 5);
        child.on('exit', () => clearInterval(timer));
      },
    });
    expect(faultAt).toBeGreaterThan(0);
    validState(statePath);
    return { result, stoppedAfterMs: Date.now() - faultAt };
  }

  it('the API key revoked mid-wait: 401 ends the wait with the real error', async () => {
    const { result, stoppedAfterMs } = await setupWithFaultDuringEndpointWait(() => {
      sandbox.atlas.state.apiKeys.splice(0, sandbox.atlas.state.apiKeys.length);
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/✖ Wait for the private endpoint: failed/);
    expect(result.stderr).toMatch(
      /Atlas rejected the credentials for GET \S+\/privateEndpoints\/[0-9a-f]{24} \(401 USER_UNAUTHORIZED\)/,
    );
    expect(result.stderr).toMatch(/what to do: Check MONGODB_ATLAS_PUBLIC_API_KEY/);
    expect(result.stderr).not.toMatch(/Timed out/);
    expect(stoppedAfterMs).toBeLessThan(10_000);
  });

  it('the endpoint removed mid-wait: 404 ends the wait with the real error', async () => {
    const { result, stoppedAfterMs } = await setupWithFaultDuringEndpointWait(() => {
      sandbox.atlas.state.privateEndpoints.splice(0, sandbox.atlas.state.privateEndpoints.length);
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/✖ Wait for the private endpoint: failed/);
    expect(result.stderr).toMatch(/GET \S+\/privateEndpoints\/[0-9a-f]{24} \(404 [A-Z_]+\)/);
    expect(result.stderr).not.toMatch(/Timed out/);
    expect(stoppedAfterMs).toBeLessThan(10_000);
  });
});

describe('Atlas refusals users hit', () => {
  it('IP_ADDRESS_NOT_ON_ACCESS_LIST: the plain explanation naming the IP and where to add it, no write, no retry', async () => {
    sandbox.atlas.setFaults({ ipNotOnAccessList: true });
    const statePath = tempState();
    const result = await runCli(setupArgs(sandbox, statePath, uniqueBucket()), {
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/IP_ADDRESS_NOT_ON_ACCESS_LIST/);
    expect(result.stderr).toMatch(
      /what to do: Add this machine's egress IP \(127\.0\.0\.1\) to the API key's access list \(Organization > Access Manager > Applications\)/,
    );
    expect(atlasWrites(sandbox)).toEqual([]);
    // Each refused call was tried once (one challenge and one answered request), not retried.
    const refused = sandbox.atlas.calls.filter((c) => c.status === 403);
    expect(new Set(refused.map((c) => c.path)).size).toBe(refused.length);
    validState(statePath);
  });

  it('a stale digest nonce is never reused: the retry answers a fresh challenge', async () => {
    // The first answered request arrives after its nonce expired (latency > nonce TTL); then latency goes.
    sandbox.atlas.setDelays({ nonceTtlMs: 20 });
    sandbox.atlas.setFaults({ latencyMs: 60 });
    const nonces: Array<{ status: number; nonce?: string; stale: boolean }> = [];
    const stop = sandbox.atlas.onExchange((exchange) => {
      const auth = exchange.request.headers.authorization ?? '';
      const nonce = /nonce="([^"]+)"/.exec(auth)?.[1];
      const stale = /stale=true/.test(exchange.response.headers['WWW-Authenticate'] ?? '');
      nonces.push({ status: exchange.response.status, nonce, stale });
      if (stale) sandbox.atlas.setFaults({ latencyMs: 0 });
    });
    const { credentials, projectId } = {
      credentials: sandbox.atlas.seed.credentials.owner,
      projectId: sandbox.atlas.seed.projectId,
    };
    const client = new AtlasClient({
      baseUrl: sandbox.atlas.url,
      credentials: { kind: 'apiKey', ...credentials },
    });
    try {
      const project = await getProject(client, projectId);
      expect(project.id).toBe(projectId);
    } finally {
      stop();
      await client.close();
    }
    const answered = nonces.filter((n) => n.nonce !== undefined);
    expect(nonces.some((n) => n.stale)).toBe(true);
    expect(answered.at(-1)?.status).toBe(200);
    // Every nonce was answered once: the one Atlas called stale was not sent again.
    expect(new Set(answered.map((n) => n.nonce)).size).toBe(answered.length);
  });
});

describe('local hazards are explained', () => {
  it('a stale lock left by a killed run is explained and taken over; a live one refuses', async () => {
    const statePath = tempState();
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    writeFileSync(`${statePath}.lock`, `${dead}\n`);
    const args = setupArgs(sandbox, statePath, uniqueBucket(), ['--dry-run']);
    // A dry run takes no lock; a real run does.
    const real = args.filter((a) => a !== '--dry-run');
    const taken = await runCli(real, { env: sandbox.env });
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stderr).toMatch(
      new RegExp(
        `A previous run \\(pid ${dead}\\) ended without releasing \\S+\\.lock \\(it was killed or crashed\\); taking the lock over`,
      ),
    );
    expect(existsSync(`${statePath}.lock`)).toBe(false);

    writeFileSync(`${statePath}.lock`, `${process.pid}\n`);
    const refused = await runCli(real, { env: sandbox.env });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(
      new RegExp(`Another atlas-pl-export run \\(pid ${process.pid}\\) is using the state file`),
    );
    expect(refused.stderr).toMatch(/what to do: Wait for it to finish/);
    rmSync(`${statePath}.lock`);
  });

  it('warns when .env or a config file holding secrets is readable by others, not when it is private', async () => {
    const dir = tempDir('exposed');
    const env = { ...sandbox.env };
    const privateKey = env.MONGODB_ATLAS_PRIVATE_API_KEY!;
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, `MONGODB_ATLAS_PRIVATE_API_KEY=${privateKey}\n`);
    chmodSync(dotenv, 0o644);
    const config = join(dir, 'export.json');
    writeFileSync(
      config,
      JSON.stringify({ projectId: sandbox.atlas.seed.projectId, privateApiKey: privateKey }),
    );
    chmodSync(config, 0o644);
    const args = [
      'setup',
      '--non-interactive',
      '--dry-run',
      '--config',
      config,
      '--state',
      join(dir, 's.json'),
    ];
    const exposed = await runCli(args, { env, cwd: dir });
    expect(exposed.stderr).toMatch(
      /\.env may hold secrets and is readable by other users \(mode 644\); run: chmod 600 \.env/,
    );
    expect(exposed.stderr).toMatch(/export\.json appears to hold credentials/);
    expect(exposed.stderr).toMatch(
      /export\.json may hold secrets and is readable by other users \(mode 644\)/,
    );
    expect(exposed.stdout + exposed.stderr).not.toContain(privateKey);

    chmodSync(dotenv, 0o600);
    chmodSync(config, 0o600);
    const quiet = await runCli(args, { env, cwd: dir });
    expect(quiet.stderr).not.toMatch(/readable by other users/);
  });
});
