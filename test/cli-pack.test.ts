/**
 * The npm package as users get it: `npm pack` of this tree (built by `npm test` first), installed
 * into an empty project from the local npm cache, and its `atlas-pl-export sandbox` run from there.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanEnv } from './helpers/cli.js';

const run = promisify(execFile);
const ROOT = join(dirname(CLI), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir: string;
let bin: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-pl-export-pack-'));
  // dist is already built; --ignore-scripts keeps `prepare` from building it again.
  await run(npm, ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
    cwd: ROOT,
  });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${dir}`);
  const app = join(dir, 'app');
  await run('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), '{ "name": "pack-check", "private": true }\n');
  await run(
    npm,
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      join(dir, tarball),
    ],
    { cwd: app },
  );
  bin = join(app, 'node_modules', '.bin', 'atlas-pl-export');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the installed bin; `stopWhenReady` sends SIGINT once the sandbox says it is running. */
function runInstalled(args: string[], env: Record<string, string> = {}, stopWhenReady = false) {
  return new Promise<Exit & { ready: boolean }>((resolve, reject) => {
    const child = spawn(bin, args, { cwd: dirname(dirname(dirname(bin))), env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    let ready = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stopWhenReady && !ready && stderr.includes('Press Ctrl-C to stop')) {
        ready = true;
        // The document is written to stdout before this line; give the pipe a moment to drain.
        setTimeout(() => child.kill('SIGINT'), 200);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ready });
    });
  });
}

describe('the packed npm package', () => {
  it('runs `sandbox --json` from an installed tarball until ready, and stops on Ctrl-C', async () => {
    const result = await runInstalled(['sandbox', '--json'], {}, true);
    expect(result.ready, result.stderr).toBe(true);
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout) as { ok: boolean; env: Record<string, string> };
    expect(document.ok).toBe(true);
    expect(document.env.AWS_ENDPOINT_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(result.stderr).toMatch(/Sandbox stopped/);
    expect(result.stderr).not.toMatch(/can't open file|pip install/);
  }, 90_000);

  it('an installation without the moto launcher says that, not that moto is missing', async () => {
    const launcher = join(
      dirname(dirname(dirname(bin))),
      'node_modules',
      'atlas-pl-export',
      'dist',
      'sandbox',
      'moto_server.py',
    );
    rmSync(launcher);
    const result = await runInstalled(['sandbox']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `error: Could not start moto (the local AWS emulator): this installation of atlas-pl-export lacks the sandbox's moto launcher, ${launcher}.`,
    );
    expect(result.stderr).toMatch(/what to do: Reinstall atlas-pl-export/);
    expect(result.stderr).not.toMatch(/pip install|Unexpected error|\n\s+at /);
  }, 60_000);
});
