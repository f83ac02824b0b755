/** The launcher's exit codes for what the argument parser decides on its own (dist/cli.cjs, as users run it). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

const PROGRAM = fileURLToPath(new URL('../dist/program.js', import.meta.url));

describe('argument parser exit codes', () => {
  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['report', '--format', 'pdf'], /Allowed choices are md, json/],
    [['setup', '--project-id'], /argument missing/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [[], /Usage: atlas-pl-export/],
  ])(
    "atlas-pl-export %j is a usage error (exit 2), with commander's message",
    async (args, message) => {
      const result = await runCli(args, { timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(ExitCode.usage);
      expect(result.stderr).toMatch(message);
    },
  );

  it.each([[['--help']], [['--version']], [['status', '--help']], [['help', 'export']]])(
    'atlas-pl-export %j exits 0',
    async (args) => {
      const result = await runCli(args, { timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.length).toBeGreaterThan(0);
    },
  );
});

describe('prebuilt help', () => {
  const viaCommander = (args: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import(process.argv[1]); await m.parse(['node', 'atlas-pl-export', ...process.argv.slice(2)]);",
        PROGRAM,
        ...args,
      ],
      { encoding: 'utf8' },
    ).stdout;

  it.each([
    [['--help']],
    [['-h']],
    [['--version']],
    [['setup', '--help']],
    [['report', '-h']],
    [['help', 'teardown']],
    [['sandbox', '--help']],
  ])('atlas-pl-export %j prints exactly what commander prints', async (args) => {
    const fast = await runCli(args, { timeoutMs: 20_000 });
    expect(fast.code).toBe(0);
    expect(fast.stdout).toBe(viaCommander(args));
  });
});
