/**
 * Polling with backoff and a deadline. The delay between polls grows with the time already waited
 * (a twentieth of it, between `minMs` and `maxMs`), so a wait never overshoots the moment the
 * resource is ready by more than about 5% (or `minMs`), and long waits do not flood the API (one
 * poll per `maxMs`, 15 s by default, once the wait is past five minutes). A poll that throws ends
 * the wait at once with that error: a 401, 403 or 404 will not pass by waiting (the HTTP layer
 * already retried the transient ones).
 */
import { CliError, ExitCode } from './errors.js';

export interface WaitOptions {
  /** What is being waited for, for the timeout message. */
  what: string;
  timeoutMs: number;
  minMs?: number;
  maxMs?: number;
  /** Called after each poll with the elapsed time, to update a spinner. */
  onPoll?: (elapsedMs: number) => void;
  /** Hint shown when the deadline passes. */
  timeoutHint?: string;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  options: WaitOptions,
): Promise<T> {
  const started = Date.now();
  const minMs = options.minMs ?? 250;
  const maxMs = options.maxMs ?? 15_000;
  for (;;) {
    const value = await check();
    const elapsed = Date.now() - started;
    options.onPoll?.(elapsed);
    if (value !== undefined) return value;
    if (elapsed >= options.timeoutMs) {
      throw new CliError(
        `Timed out after ${formatDuration(elapsed)} waiting for ${options.what}.`,
        {
          code: 'WAIT_TIMEOUT',
          exitCode: ExitCode.timeout,
          hint:
            options.timeoutHint ?? 'Nothing was lost: rerun the same command to continue waiting.',
        },
      );
    }
    const delay = nextDelay(elapsed, minMs, maxMs, options.timeoutMs);
    await sleep(delay);
  }
}

/** Delay before the next poll: a twentieth of the time waited, within [minMs, maxMs], never far past the deadline. */
export function nextDelay(
  elapsedMs: number,
  minMs: number,
  maxMs: number,
  timeoutMs: number,
): number {
  return Math.min(
    maxMs,
    Math.max(minMs, elapsedMs / BACKOFF_DIVISOR),
    timeoutMs - elapsedMs + minMs,
  );
}

/** The delay between polls is the time already waited divided by this (bounds the overshoot to ~5%). */
export const BACKOFF_DIVISOR = 20;

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
}
