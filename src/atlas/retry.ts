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
 * What went wrong on the wire, from the error code Node, undici or urllib gives a failed request:
 * - `refused`: nothing accepts connections at that address (ECONNREFUSED);
 * - `dns`: the host name does not resolve;
 * - `unreachable`: no route to the network or host;
 * - `tls`: the TLS handshake failed (often https:// to a plain-HTTP server);
 * - `certificate`: the server's certificate is not trusted or does not match the host;
 * - `notHttp`: what came back is not HTTP (the wrong port or service);
 * - `connectTimeout` / `answerTimeout`: no connection, or no answer, in time;
 * - `dropped`: the connection was reset or closed mid-exchange.
 */
export type TransportProblem =
  | 'refused'
  | 'dns'
  | 'unreachable'
  | 'tls'
  | 'certificate'
  | 'notHttp'
  | 'connectTimeout'
  | 'answerTimeout'
  | 'dropped';

const PROBLEM_BY_CODE: Record<string, TransportProblem> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NONAME: 'dns',
  ENETUNREACH: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETDOWN: 'unreachable',
  EHOSTDOWN: 'unreachable',
  EPROTO: 'tls',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate',
  HOSTNAME_MISMATCH: 'certificate',
  ETIMEDOUT: 'answerTimeout',
  UND_ERR_CONNECT_TIMEOUT: 'connectTimeout',
  HttpClientConnectTimeoutError: 'connectTimeout',
  HttpClientRequestTimeoutError: 'answerTimeout',
  UND_ERR_HEADERS_TIMEOUT: 'answerTimeout',
  UND_ERR_BODY_TIMEOUT: 'answerTimeout',
  TimeoutError: 'answerTimeout',
  ECONNRESET: 'dropped',
  ECONNABORTED: 'dropped',
  EPIPE: 'dropped',
  UND_ERR_SOCKET: 'dropped',
  UND_ERR_CLOSED: 'dropped',
};

export function transportProblem(code: string): TransportProblem | undefined {
  const known = PROBLEM_BY_CODE[code];
  if (known) return known;
  // OpenSSL's certificate verdicts (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...).
  if (/CERT|^UNABLE_TO_/.test(code)) return 'certificate';
  if (/^ERR_(SSL|TLS)_/.test(code)) return 'tls';
  if (/^HPE_/.test(code)) return 'notHttp';
  return undefined;
}

/**
 * What a failed send means for a retry:
 * - `notSent`: the request never reached Atlas (connect timeout); safe to repeat any method.
 * - `refused`: the request never reached anything (connection refused, no route, a DNS answer to
 *   try again later); worth a couple of quick retries in case a proxy or service is restarting,
 *   no more: waiting minutes for a wrong address helps no one.
 * - `uncertain`: the request may have reached Atlas (reset, hang up, answer timeout); a POST may have
 *   created something, so it is repeated only after `recover()` found nothing.
 * - `fatal`: retrying will not help (unknown host, TLS or certificate problems, not HTTP at all).
 */
export type TransportFailure = 'notSent' | 'refused' | 'uncertain' | 'fatal';

/** Retries after a refused connection before giving up: a couple, quickly. */
export const MAX_REFUSED_RETRIES = 2;

export function transportErrorCode(error: unknown): string {
  const err = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  const code = err?.code ?? err?.cause?.code;
  if (typeof code === 'string') return code;
  return typeof err?.name === 'string' ? err.name : 'UNKNOWN';
}

export function classifyTransportError(error: unknown): TransportFailure {
  const code = transportErrorCode(error);
  if (code === 'ERR_INVALID_URL') return 'fatal';
  switch (transportProblem(code)) {
    case 'dns':
      return code === 'EAI_AGAIN' ? 'refused' : 'fatal';
    case 'tls':
    case 'certificate':
    case 'notHttp':
      return 'fatal';
    case 'refused':
    case 'unreachable':
      return 'refused';
    case 'connectTimeout':
      return 'notSent';
    default:
      // Resets, "other side closed", EPIPE, answer timeouts and anything unrecognised: the request
      // may have been processed.
      return 'uncertain';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
