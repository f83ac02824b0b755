/** The launcher's exit codes for what the argument parser decides on its own (dist/cli.cjs, as users run it). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../src/errors.js';
import type { buildProgram as BuildProgram } from '../src/program.js';
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

describe('--json failures print one document on stdout, the human message on stderr', () => {
  it.each([
    [['status', '--json', '--bogus'], 'UNKNOWN_OPTION', "unknown option '--bogus'", 'status'],
    [
      ['report', '--format', 'pdf', '--json'],
      'INVALID_ARGUMENT',
      "option '--format <format>' argument 'pdf' is invalid. Allowed choices are md, json.",
      'report',
    ],
    [
      ['setup', '--json', '--project-id'],
      'OPTION_MISSING_ARGUMENT',
      "option '--project-id <id>' argument missing",
      'setup',
    ],
  ])('atlas-pl-export %j', async (args, code, message, command) => {
    const result = await runCli(args, { timeoutMs: 20_000 });
    expect(result.code).toBe(ExitCode.usage);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      error: { code, message, hint: `Run \`atlas-pl-export ${command} --help\` for the options.` },
      exitCode: ExitCode.usage,
    });
    expect(result.stderr).toContain(`error: ${message}`);
  });

  it('without --json, stdout stays empty', async () => {
    const result = await runCli(['status', '--bogus'], { timeoutMs: 20_000 });
    expect(result.code).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
  });

  it('an error inside a command has the same shape, with its own exit code', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'cli-test-')), 'none.json');
    const result = await runCli(['status', '--json', '--state', state], { timeoutMs: 20_000 });
    expect(result.code).toBe(ExitCode.state);
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      error: {
        code: expect.any(String),
        message: `No state file at ${state}.`,
        hint: expect.stringContaining('atlas-pl-export setup'),
      },
      exitCode: ExitCode.state,
    });
    expect(result.stderr).toContain(`error: No state file at ${state}.`);
  });
});

describe("the README's exit-code table", () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const table = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('## When something'));

  it('lists exactly the codes of ExitCode', () => {
    const listed = [...table.matchAll(/^\| (\d+) +\|/gm)].map((match) => Number(match[1]));
    expect(listed).toEqual(Object.values(ExitCode));
  });

  it.each([
    [['status']],
    [['export', '--latest']],
    [['schedule']],
    [['schedule', '--frequency', 'monthly']],
    [['report']],
    [['teardown', '--yes']],
  ])('atlas-pl-export %j without a state file exits 5, as the table says', async (args) => {
    const state = join(mkdtempSync(join(tmpdir(), 'cli-test-')), 'none.json');
    const result = await runCli([...args, '--state', state], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(ExitCode.state);
    expect(result.stderr).toContain(`error: No state file at ${state}.`);
    expect(table).toMatch(
      /^\| 5 +\| the state file is missing \(`status`, `export`, `schedule`, `report` and `teardown`/m,
    );
  });

  it('teardown that cannot ask needs --yes, and says so before reading the state file (exit 2)', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'cli-test-')), 'none.json');
    const result = await runCli(['teardown', '--state', state], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(ExitCode.usage);
    expect(result.stderr).toMatch(
      /needs confirmation, but this run cannot ask[\s\S]*Rerun with --yes/,
    );
    expect(readme).toMatch(
      /when it cannot\s+ask it needs `--yes` \(without it, it stops before reading anything: exit 2\)/,
    );
  });
});

describe('--help shows the defaults, which stay out of the parsed options', () => {
  it.each([
    [['setup', '--help'], /--authorize-timeout <seconds>[\s\S]*?\(default 300\)/],
    [['setup', '--help'], /--endpoint-timeout <seconds>[\s\S]*?\(default 1800\)/],
    [
      ['setup', '--help'],
      /--iam-role-name <name>[\s\S]*?default\s+atlas-pl-export-<bucket>-<last 6 characters of\s+the project id>/,
    ],
    [['export', '--help'], /--timeout <seconds>[\s\S]*?\(default 3600\)/],
    [['report', '--help'], /--format <format>[\s\S]*?\(default md\)/],
  ])('atlas-pl-export %j', async (args, text) => {
    const result = await runCli(args, { timeoutMs: 20_000 });
    expect(result.stdout).toMatch(text);
  });

  it("no option has a commander default, which would hide the config file's value", async () => {
    const { buildProgram } = (await import(PROGRAM)) as { buildProgram: typeof BuildProgram };
    const defaults = buildProgram().commands.flatMap((command) =>
      command.options
        .filter((option) => option.defaultValue !== undefined && !option.negate)
        .map((option) => `${command.name()} ${option.long}`),
    );
    expect(defaults).toEqual([]);
  });
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

describe('the built launcher', () => {
  it('is executable and runs by its own path (npx runs the linked file itself)', () => {
    const launcher = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
    const result = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version,
    );
  });
});
