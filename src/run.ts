/**
 * The boundary every command runs inside: it loads `.env`, registers secrets for redaction, builds
 * the output, runs the command and turns any error into one clear message and an exit code.
 */
import { existsSync, statSync } from 'node:fs';
import { AbortError, CliError, ExitCode, signalExitCode } from './errors.js';
import { Output } from './output.js';
import { registerSecret } from './secrets.js';

export interface CommandContext {
  /** The command's parsed flags, as commander gives them. */
  options: Record<string, unknown>;
  out: Output;
}

export type CommandModule = { run(ctx: CommandContext): Promise<number> };

/** Environment variables whose values must never be printed or stored. */
export const SECRET_ENV = [
  'MONGODB_ATLAS_PRIVATE_API_KEY',
  'MONGODB_ATLAS_CLIENT_SECRET',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;

const loaders: Record<string, () => Promise<CommandModule>> = {
  setup: () => import('./commands/setup.js'),
  export: () => import('./commands/export.js'),
  schedule: () => import('./commands/schedule.js'),
  status: () => import('./commands/status.js'),
  teardown: () => import('./commands/teardown.js'),
  report: () => import('./commands/report.js'),
  sandbox: () => import('./commands/sandbox.js'),
};

/** Reads `./.env` if present, without overriding variables already set, and warns if others can read it. */
export function loadDotEnv(out: Output, file = '.env'): void {
  if (!existsSync(file)) return;
  warnIfExposed(out, file);
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new CliError(`Could not read ${file}: ${(error as Error).message}`, {
      code: 'DOTENV_UNREADABLE',
      exitCode: ExitCode.usage,
      hint: 'Fix or remove the file; each line must be NAME=value.',
    });
  }
}

/** Warns when a file that may hold secrets is readable or writable by group or others. */
export function warnIfExposed(out: Output, file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    out.warn(
      `${file} may hold secrets and is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`,
    );
  }
}

let interruptHandler: ((out: Output) => Promise<void>) | undefined;

/**
 * What the running command says and does on Ctrl-C (or SIGTERM) instead of the default "rerun to
 * continue", e.g. stop what it started; the process then exits 130 (SIGINT) or 143 (SIGTERM). A
 * second signal exits at once.
 */
export function onInterrupt(handler: (out: Output) => Promise<void>): void {
  interruptHandler = handler;
}

export async function runCommand(name: string, options: Record<string, unknown>): Promise<void> {
  const out = new Output({ json: Boolean(options.json), debug: Boolean(options.debug) });
  const onSignal = (signal: NodeJS.Signals) => {
    const handler = interruptHandler;
    if (handler) {
      interruptHandler = undefined;
      const now = () => process.exit(signalExitCode(signal));
      process.once('SIGINT', now);
      process.once('SIGTERM', now);
      void handler(out).finally(now);
      return;
    }
    // Ctrl-C (SIGINT) or a `kill` (SIGTERM) ends the process at once, with 130 or 143; the state
    // file is only ever replaced whole, so whatever was recorded stays valid.
    out.error(
      `${signal === 'SIGINT' ? 'Interrupted' : `Stopped by ${signal}`}. Everything finished so far is recorded in the state file; rerun to continue.`,
    );
    process.exit(signalExitCode(signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  keepGoingWithoutReader(process.stdout);
  keepGoingWithoutReader(process.stderr);
  try {
    loadDotEnv(out);
    for (const key of SECRET_ENV) registerSecret(process.env[key]);
    const load = loaders[name];
    if (!load) throw new CliError(`Unknown command ${name}`);
    const command = await load();
    process.exitCode = await command.run({ options, out });
  } catch (error) {
    process.exitCode = report(out, error);
  } finally {
    const { closeSessions } = await import('./session.js');
    await closeSessions().catch(() => undefined);
  }
}

/**
 * When whoever reads the output goes away (`| head`, a closed terminal pipe), writing fails with
 * EPIPE. Stopping there would leave a run halfway through its changes; it goes on silently instead
 * and ends with the exit code of what it did, which the state file records.
 */
function keepGoingWithoutReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
    throw error;
  });
}

/** Prints an error the way users should see it and returns the exit code. */
export function report(out: Output, error: unknown): number {
  if (isPromptExit(error)) error = new AbortError();
  if (error instanceof CliError) {
    // Stopping at the user's request is their decision, not a failure to report as an error.
    if (error instanceof AbortError) out.info(error.message);
    else out.error(error.message);
    if (error.hint) out.info(`  what to do: ${error.hint}`);
    if (out.debugEnabled && error.cause !== undefined) out.debug(describeCause(error.cause));
    printFailure(out, error.code, error.message, error.hint, error.exitCode);
    return error.exitCode;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  out.error(`Unexpected error: ${err.message}`);
  const hint = 'Run again with --debug for details, and report it if it persists.';
  out.info(out.debugEnabled ? (err.stack ?? '') : `  ${hint}`);
  printFailure(out, 'INTERNAL', err.message, hint, ExitCode.internal);
  return ExitCode.internal;
}

/**
 * With --json, the one document of a failed run on stdout, unless the command printed its own
 * (which carries the same `ok` and `error` fields): the same shape for every command and for the
 * argument parser's usage errors.
 */
export function printFailure(
  out: Output,
  code: string,
  message: string,
  hint: string | undefined,
  exitCode: number,
): void {
  if (!out.json || out.jsonPrinted) return;
  out.printJson({ ok: false, error: { code, message, hint }, exitCode });
}

/**
 * The error behind a CliError, for --debug: its name, Node error code and message on the first line
 * (a stack's own first line may show a generic "Error" for a class that names itself later), then
 * the stack frames.
 */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return `caused by: ${String(cause)}`;
  const code = (cause as NodeJS.ErrnoException).code;
  const frames = (cause.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return [`caused by ${cause.name}${code ? ` (${code})` : ''}: ${cause.message}`, ...frames].join(
    '\n',
  );
}

/** @inquirer/prompts throws ExitPromptError on Ctrl-C inside a prompt. */
function isPromptExit(error: unknown): boolean {
  return error instanceof Error && error.name === 'ExitPromptError';
}
