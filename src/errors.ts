/**
 * Every failure the tool reports on purpose is a CliError: a one-line message saying what happened,
 * an optional hint saying what to do, a stable code for scripts, and the process exit code.
 */

import { constants } from 'node:os';

/** Exit codes; the README's "Exit codes" section documents the same table. */
export const ExitCode = {
  ok: 0,
  /** An unexpected internal error (a bug): the stack is printed with --debug. */
  internal: 1,
  /** Bad flags, config file, environment or identifiers; nothing was changed in either cloud. */
  usage: 2,
  /** Atlas or AWS refused a call, or a resource is in a state that blocks the step. */
  cloud: 3,
  /** A wait (endpoint, authorization, export job) ran out of time; rerun to continue. */
  timeout: 4,
  /** The state file is missing (a command that needs setup's), corrupt, unwritable, or locked by another run. */
  state: 5,
  /** A check found something not in place: drift (status), a failed control (report), a failed export. */
  notInPlace: 6,
  /** The user declined at a prompt or pressed Ctrl-C (SIGINT: 128 + 2); `sandbox` ends with 0 on Ctrl-C instead. */
  aborted: 130,
  /** The process was told to stop with SIGTERM (128 + 15), e.g. by `kill`, a CI runner or systemd. */
  terminated: 143,
} as const;

/** The exit code for a stop signal, by the shell convention 128 + signal number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface CliErrorOptions {
  /** Stable machine-readable code, e.g. `INVALID_BUCKET_NAME` or Atlas's own `errorCode`. */
  code?: string;
  /** What the user should do about it. */
  hint?: string;
  exitCode?: ExitCodeValue;
  cause?: unknown;
}

export class CliError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCodeValue;

  constructor(message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = options.code ?? 'ERROR';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.internal;
  }
}

/** Input that is wrong before any cloud call: flags, config, environment, identifiers. */
export class UsageError extends CliError {
  constructor(message: string, options: Omit<CliErrorOptions, 'exitCode'> = {}) {
    super(message, { code: 'INVALID_INPUT', ...options, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/** The user said no, or pressed Ctrl-C. */
export class AbortError extends CliError {
  constructor(
    message = 'Stopped at your request. Nothing more was changed; rerun to continue.',
    hint?: string,
  ) {
    super(message, { code: 'ABORTED', exitCode: ExitCode.aborted, ...(hint ? { hint } : {}) });
    this.name = 'AbortError';
  }
}

export function isCliError(error: unknown): error is CliError {
  return error instanceof CliError;
}
