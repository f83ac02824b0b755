/** Retry policy pieces for the Atlas client: backoff, Retry-After, and what a transport error means. */

export interface RetryPolicy {
  /** Overall time a logical call may spend retrying. @default 120000 */
  budgetMs: number;
  /** First backoff ceiling. @default 500 */
  baseDelayMs: number;
  /** Largest backoff ceiling. @default 30000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  budgetMs: 120_000,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};

/** HTTP statuses worth another try: Atlas overloaded or briefly unavailable. */
export const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Exponential backoff with full jitter: a random wait in [0, min(max, base * 2^(n-1))]. */
export function backoffMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/** Retry-After in milliseconds: seconds (Atlas) or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(
  header: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * What a failed send means for a retry:
 * - `notSent`: the request never reached Atlas (refused, connect timeout); safe to repeat any method.
 * - `uncertain`: the request may have reached Atlas (reset, hang up, answer timeout); a POST may have
 *   created something, so it is repeated only after `recover()` found nothing.
 * - `fatal`: retrying will not help (unknown host, certificate problems).
 */
export type TransportFailure = 'notSent' | 'uncertain' | 'fatal';

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
]);
const FATAL_CODES = new Set([
  'ENOTFOUND',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_INVALID_URL',
]);

export function transportErrorCode(error: unknown): string {
  const err = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  const code = err?.code ?? err?.cause?.code;
  if (typeof code === 'string') return code;
  return typeof err?.name === 'string' ? err.name : 'UNKNOWN';
}

export function classifyTransportError(error: unknown): TransportFailure {
  const code = transportErrorCode(error);
  if (FATAL_CODES.has(code)) return 'fatal';
  if (NOT_SENT_CODES.has(code) || code === 'HttpClientConnectTimeoutError') return 'notSent';
  // ECONNRESET, UND_ERR_SOCKET ("other side closed"), EPIPE, "socket hang up", answer timeouts
  // (HttpClientRequestTimeoutError) and anything unrecognised: the request may have been processed.
  return 'uncertain';
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
