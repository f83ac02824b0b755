/**
 * Start-up: `--help`, `--version` and a command's `--help` load commander and the launcher only.
 * Which modules a run loads is recorded by bench/trace-modules.mjs (a loader hook for ES modules
 * plus the require cache for CommonJS), not guessed from timings.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv } from '../helpers/cli.js';

const TRACE = fileURLToPath(new URL('../../bench/trace-modules.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Module URLs loaded by `node <args>`, relative to the project root. */
function loadedBy(args: string[], options: { cwd?: string; mayFail?: boolean } = {}): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'startup-test-'));
  const file = join(dir, 'modules.txt');
  try {
    const result = spawnSync(process.execPath, ['--import', TRACE, ...args], {
      cwd: options.cwd ?? dir,
      env: cleanEnv({ ATLAS_PL_EXPORT_TRACE_MODULES: file }),
      encoding: 'utf8',
    });
    if (!options.mayFail) expect(result.status, result.stderr).toBe(0);
    const urls = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    return [...new Set(urls)]
      .filter((url) => url.startsWith('file:'))
      .map((url) => fileURLToPath(url).replace(ROOT, ''));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HEAVY =
  /node_modules\/(@aws-sdk|@smithy|@inquirer|ora|urllib|undici|zod|write-file-atomic)\//;

describe('start-up loads only what it needs', () => {
  it('the tracer sees modules loaded by import and by require (so an empty result means something)', () => {
    const script =
      "await import('zod'); (await import('node:module')).createRequire(process.cwd() + '/')('commander');";
    const loaded = loadedBy(['--input-type=module', '-e', script], { cwd: ROOT });
    expect(loaded.some((file) => /node_modules\/zod\//.test(file))).toBe(true);
    expect(loaded.some((file) => file.endsWith('node_modules/commander/index.js'))).toBe(true);
  });

  it.each([
    [['--help']],
    [['--version']],
    [['status', '--help']],
    [['setup', '--help']],
    [['report', '--help']],
    [['help', 'export']],
  ])('atlas-pl-export %j loads the launcher only (the text was written at build time)', (args) => {
    expect(loadedBy([CLI, ...args])).toEqual(['dist/cli.cjs']);
  });

  it('help mixed with other options goes through commander, and still loads nothing heavy', () => {
    const loaded = loadedBy([CLI, 'setup', '--bucket', 'x', '--help']);
    expect(loaded.filter((file) => HEAVY.test(file))).toEqual([]);
    expect(loaded.filter((file) => !file.includes('node_modules/')).sort()).toEqual([
      'dist/cli.cjs',
      'dist/program.js',
      'package.json',
    ]);
    expect(
      loaded
        .filter((file) => file.includes('node_modules/'))
        .every((file) => file.includes('node_modules/commander/')),
    ).toBe(true);
  });

  it('a command that runs loads the run boundary and its command module', () => {
    const loaded = loadedBy(
      [CLI, 'status', '--state', join(tmpdir(), 'no-such-dir', 'x.json'), '--non-interactive'],
      { mayFail: true },
    );
    expect(loaded).toContain('dist/run.js');
    expect(loaded).toContain('dist/commands/status.js');
  });
});
