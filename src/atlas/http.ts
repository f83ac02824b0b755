/**
 * AtlasClient: the one HTTP layer every Atlas Administration API call goes through. It adds the
 * versioned media type, authenticates (HTTP Digest for API keys, OAuth client credentials for
 * service accounts), retries what is safe to retry within a time budget, never blindly repeats a
 * create, turns failures into AtlasApiErrors, and traces each exchange through `out.debug`.
 *
 * urllib (and so undici) is imported on first use, so that `--help` never loads it.
 */
import type { HttpClient } from 'urllib';
import type { ZodType } from 'zod';
import { CliError, ExitCode } from '../errors.js';
import type { Output } from '../output.js';
import { registerSecret } from '../secrets.js';
import type { AtlasCredentials } from './credentials.js';
import { AtlasApiError, type AtlasErrorInfo } from './errors.js';
import { DEFAULT_BASE_URL } from './credentials.js';
import {
  DEFAULT_RETRY,
  MAX_REFUSED_RETRIES,
  RETRY_STATUSES,
  backoffMs,
  classifyTransportError,
  retryAfterMs,
  sleep,
  transportErrorCode,
  transportProblem,
  type RetryPolicy,
  type TransportFailure,
} from './retry.js';
import type { AtlasErrorBody, Paginated } from './types.js';

export { AtlasApiError, explainAtlasError, isAtlasApiError } from './errors.js';
export { baseUrlFromEnv, credentialsFromEnv, type AtlasCredentials } from './credentials.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface AtlasCallRecord {
  method: string;
  path: string;
  /** Final HTTP status; 0 when Atlas was never reached. */
  status: number;
  kind: 'read' | 'write';
  attempts: number;
}

export interface AtlasClientOptions {
  baseUrl: string;
  credentials: AtlasCredentials;
  /** For --debug traces (Authorization never appears in them). */
  out?: Output;
  retry?: Partial<RetryPolicy>;
  /** Per-attempt limit for Atlas to answer. @default 30000 */
  timeoutMs?: number;
  /** Called once per logical call (after all its attempts). */
  onCall?: (call: AtlasCallRecord) => void;
  /** @default 'atlas-pl-export' */
  userAgent?: string;
}

export interface AtlasRequest<T> {
  method: HttpMethod;
  /** Starts with /api/atlas/v2. */
  path: string;
  /** The media-type date, e.g. '2024-08-05'. */
  version: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /**
   * For creates: finds what an uncertain POST may have made. Called when a POST may have been
   * processed but no answer arrived; a value is taken as the POST's result, undefined allows a retry.
   */
  recover?: () => Promise<T | undefined>;
  /**
   * The fields of a successful answer the caller relies on (see the schemas in types.ts). An answer
   * that does not match, an empty body included, is an ATLAS_INVALID_RESPONSE error, never a value.
   * For paginate: the schema of each result.
   */
  schema?: ZodType;
}

export type AtlasListRequest = Omit<AtlasRequest<never>, 'method' | 'body' | 'recover'>;

/** Atlas's largest page. */
export const PAGE_SIZE = 500;
const MAX_PAGES = 1000;
/** How long one request may wait for its answer (setup bounds a killed create's window with it). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** A digest nonce can go stale between challenge and answer; each retry gets a new challenge. */
const MAX_STALE_RETRIES = 2;
const TRACE_BODY_LIMIT = 4000;
/** A call that has been retrying this long (counting the next wait) says so on stderr. */
const RETRY_NOTICE_MS = 2000;
/** The wait before each quick retry of a refused connection (doubled for the next one). */
const REFUSED_RETRY_MS = 250;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Per logical call bookkeeping. */
interface CallState {
  started: number;
  attempts: number;
  staleRetries: number;
  tokenRefreshed: boolean;
  /** An earlier attempt may have been processed (matters for a DELETE that then finds nothing). */
  hadUncertain: boolean;
  /** Attempts whose connection was refused (or found no route): only a couple are repeated. */
  refusals: number;
}

interface Retry {
  kind: 'retry';
  status: number;
  error: AtlasApiError;
  uncertain: boolean;
  delayMs?: number;
  /** Set when the request failed on the wire rather than with an HTTP status. */
  transport?: { code: string; failure: TransportFailure };
}

type Outcome<T> = { kind: 'done'; value: T; status: number } | Retry;

/** A transient failure while fetching the OAuth token: the API call itself was not sent. */
class TokenUnavailable extends Error {
  constructor(
    readonly error: AtlasApiError,
    readonly delayMs?: number,
    readonly transport?: Retry['transport'],
  ) {
    super(error.message);
  }
}

export class AtlasClient {
  readonly stats = { reads: 0, writes: 0 };
  private readonly baseUrl: string;
  private readonly credentials: AtlasCredentials;
  private readonly out: Output | undefined;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly onCall: ((call: AtlasCallRecord) => void) | undefined;
  private readonly userAgent: string;
  private http: HttpClient | undefined;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenFetch: Promise<string> | undefined;
  /** RateLimit-Remaining reached 0: no request starts before this time. */
  private notBefore = 0;

  constructor(options: AtlasClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.credentials = options.credentials;
    this.out = options.out;
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onCall = options.onCall;
    this.userAgent = options.userAgent ?? 'atlas-pl-export';
    if (options.credentials.kind === 'apiKey') registerSecret(options.credentials.privateKey);
    else registerSecret(options.credentials.clientSecret);
  }

  async request<T>(req: AtlasRequest<T>): Promise<T> {
    const call: CallState = {
      started: Date.now(),
      attempts: 0,
      staleRetries: 0,
      tokenRefreshed: false,
      hadUncertain: false,
      refusals: 0,
    };
    let status = 0;
    try {
      const done = await this.run(req, call);
      status = done.status;
      return done.value;
    } catch (error) {
      status = error instanceof AtlasApiError ? error.status : 0;
      throw error;
    } finally {
      this.record(req, call, status);
    }
  }

  /** Every result of a paginated list, following pageNum with Atlas's largest page size. */
  async paginate<T>(req: AtlasListRequest): Promise<T[]> {
    const items: T[] = [];
    for (let pageNum = 1; pageNum <= MAX_PAGES; pageNum += 1) {
      const query = { ...req.query, itemsPerPage: PAGE_SIZE, pageNum };
      const page = await this.listPage<T>(req, query);
      items.push(...page.results);
      const complete = page.totalCount !== undefined && items.length >= page.totalCount;
      if (page.results.length < PAGE_SIZE || complete) break;
    }
    return items;
  }

  /** Every result of a list the spec gives no pagination parameters: one request, no page parameters. */
  async listUnpaged<T>(req: AtlasListRequest): Promise<T[]> {
    return (await this.listPage<T>(req, req.query)).results;
  }

  /** One page of a list, its `results` checked against the request's schema. */
  private async listPage<T>(
    req: AtlasListRequest,
    query: AtlasListRequest['query'],
  ): Promise<Paginated<T>> {
    const { schema, ...list } = req;
    const page = await this.request<Paginated<T>>({
      ...list,
      method: 'GET',
      ...(query ? { query } : {}),
    });
    if (!page || !Array.isArray(page.results))
      throw this.malformed(
        req,
        page === undefined ? 'the body is empty' : 'a list without `results`',
      );
    if (schema) {
      page.results.forEach((item, i) => {
        const problem = mismatch(schema, item, ['results', i]);
        if (problem) throw this.malformed(req, problem);
      });
    }
    return page;
  }

  /** Releases the connection pool (idle keep-alive sockets). */
  async close(): Promise<void> {
    const http = this.http;
    this.http = undefined;
    await http?.getDispatcher().close();
  }

  // --- the retry loop -------------------------------------------------------------------------

  private async run<T>(
    req: AtlasRequest<T>,
    call: CallState,
  ): Promise<{ value: T; status: number }> {
    for (;;) {
      call.attempts += 1;
      const outcome = await this.attempt(req, call);
      if (outcome.kind === 'done') return outcome;
      if (outcome.uncertain && req.method === 'POST') {
        const recovered = await this.recover(req, outcome);
        if (recovered !== undefined) return { value: recovered, status: outcome.status };
      }
      if (outcome.uncertain) call.hadUncertain = true;
      await this.waitBeforeRetry(req, call, outcome);
    }
  }

  private async attempt<T>(req: AtlasRequest<T>, call: CallState): Promise<Outcome<T>> {
    await this.pace();
    let authorization: string | undefined;
    try {
      authorization = await this.bearer();
    } catch (error) {
      if (error instanceof TokenUnavailable) {
        return {
          kind: 'retry',
          status: error.error.status,
          error: error.error,
          uncertain: false,
          delayMs: error.delayMs,
          ...(error.transport ? { transport: error.transport } : {}),
        };
      }
      throw error;
    }
    const started = performance.now();
    this.traceRequest(req, call);
    let res: RawResponse;
    try {
      res = await this.send(req, authorization);
    } catch (error) {
      return this.transportOutcome(req, call, error, started);
    }
    this.traceResponse(req, call, res, started);
    this.notePace(res.headers);
    if (res.status >= 200 && res.status < 300)
      return { kind: 'done', value: this.parse<T>(req, res), status: res.status };
    return this.failureOutcome(req, call, res);
  }

  /** Decides what an HTTP failure means: retry now, retry later, or give up (throws). */
  private failureOutcome<T>(req: AtlasRequest<T>, call: CallState, res: RawResponse): Outcome<T> {
    const error = this.apiError(req, res);
    if (res.status === 401 && this.isStaleNonce(res) && call.staleRetries < MAX_STALE_RETRIES) {
      call.staleRetries += 1;
      return { kind: 'retry', status: 401, error, uncertain: false, delayMs: 0 };
    }
    if (res.status === 401 && this.credentials.kind === 'serviceAccount' && !call.tokenRefreshed) {
      // The cached token may have expired early (revoked, clock skew): fetch a new one, once.
      call.tokenRefreshed = true;
      this.token = undefined;
      return { kind: 'retry', status: 401, error, uncertain: false, delayMs: 0 };
    }
    if (res.status === 404 && req.method === 'DELETE' && call.hadUncertain) {
      // An earlier attempt of this DELETE was probably processed: the resource is gone, as asked.
      return { kind: 'done', value: undefined as T, status: 404 };
    }
    if (!RETRY_STATUSES.has(res.status)) throw error;
    const waitMs = retryAfterMs(res.headers['retry-after']) ?? this.retryAfterFromBody(error);
    // Atlas rate limits per credential: every call of this client holds off, not only the refused one.
    if (res.status === 429 && waitMs !== undefined)
      this.notBefore = Math.max(this.notBefore, Date.now() + waitMs);
    // 429 means Atlas refused the request before processing it; a 5xx may have come after it acted.
    return {
      kind: 'retry',
      status: res.status,
      error,
      uncertain: res.status !== 429,
      delayMs: waitMs,
    };
  }

  private transportOutcome<T>(
    req: AtlasRequest<T>,
    call: CallState,
    cause: unknown,
    started: number,
  ): Outcome<T> {
    const code = transportErrorCode(cause);
    const failure = classifyTransportError(cause);
    const ms = Math.round(performance.now() - started);
    this.out?.debug(
      `atlas ✖ ${req.method} ${req.path}: ${code} after ${ms}ms (attempt ${call.attempts})`,
    );
    const error = this.unreachable(req, code, cause, call.attempts);
    if (failure === 'fatal') throw error;
    return {
      kind: 'retry',
      status: 0,
      error,
      uncertain: failure === 'uncertain',
      transport: { code, failure },
    };
  }

  /** After an uncertain POST: the resource it may have created, or undefined to allow a retry. */
  private async recover<T>(req: AtlasRequest<T>, outcome: Retry): Promise<T | undefined> {
    if (!req.recover) {
      throw new AtlasApiError(
        {
          status: outcome.status,
          errorCode: 'OUTCOME_UNKNOWN',
          method: req.method,
          path: req.path,
        },
        {
          cause: outcome.error,
          message: `The outcome of ${req.method} ${req.path} is unknown (${outcome.error.message}); it was not repeated, so as not to create a duplicate.`,
          hint: 'Check in Atlas whether the resource was created, then rerun; a rerun adopts what exists.',
        },
      );
    }
    this.out?.debug(
      `atlas ? ${req.method} ${req.path} may have been processed; checking before any retry`,
    );
    const found = await req.recover();
    this.out?.debug(
      `atlas ? ${req.method} ${req.path}: ${found === undefined ? 'nothing found, will retry' : 'found what it created'}`,
    );
    return found;
  }

  private async waitBeforeRetry<T>(req: AtlasRequest<T>, call: CallState, outcome: Retry) {
    let delay: number;
    if (outcome.transport?.failure === 'refused') {
      // Nothing listens there (or no route): a couple of quick retries cover a restarting proxy or
      // service; waiting out the whole budget for a wrong address would only keep the user waiting.
      call.refusals += 1;
      if (call.refusals > MAX_REFUSED_RETRIES) throw outcome.error;
      delay = Math.min(REFUSED_RETRY_MS, this.policy.baseDelayMs) * 2 ** (call.refusals - 1);
    } else {
      // Atlas's own Retry-After is the wait, plus a little jitter; exponential backoff is for when
      // it gives none.
      delay =
        outcome.delayMs === 0
          ? 0
          : outcome.delayMs !== undefined
            ? outcome.delayMs + backoffMs(this.policy, 1)
            : backoffMs(this.policy, call.attempts);
    }
    const elapsed = Date.now() - call.started;
    if (elapsed + delay > this.policy.budgetMs) throw this.exhausted(req, call, outcome.error);
    this.out?.debug(`atlas ↻ ${req.method} ${req.path}: retry ${call.attempts + 1} in ${delay}ms`);
    if (elapsed + delay >= RETRY_NOTICE_MS)
      this.out?.info(retryNotice(req, call, outcome, elapsed, delay));
    if (delay > 0) await sleep(delay);
  }

  // --- transport ------------------------------------------------------------------------------

  private async client(): Promise<HttpClient> {
    if (!this.http) {
      const { HttpClient } = await import('urllib');
      // Own connection pool (not undici's global one), so close() can release it.
      this.http = new HttpClient({ connect: { timeout: Math.min(this.timeoutMs, 10_000) } });
    }
    return this.http;
  }

  /**
   * One HTTP exchange. For API keys, urllib answers the Digest challenge itself: every request
   * first goes out without credentials, and urllib answers the 401's challenge with a new cnonce
   * (it keeps no nonce between requests, so a stale nonce is never reused). urllib does not act on
   * `stale=true` in a second 401; failureOutcome does, by repeating the exchange, which fetches a
   * fresh challenge. The body is a string, so it is sent again unchanged on the answering request.
   */
  private async send(
    req: AtlasRequest<unknown>,
    authorization: string | undefined,
  ): Promise<RawResponse> {
    const http = await this.client();
    const media = `application/vnd.atlas.${req.version}+json`;
    const headers: Record<string, string> = { accept: media, 'user-agent': this.userAgent };
    if (authorization) headers.authorization = authorization;
    const content = req.body === undefined ? undefined : JSON.stringify(req.body);
    if (content !== undefined) headers['content-type'] = media;
    const creds = this.credentials;
    const res = await http.request<string>(this.url(req), {
      method: req.method,
      headers,
      content,
      dataType: 'text',
      timeout: this.timeoutMs,
      followRedirect: false,
      retry: 0,
      // urllib would repeat any method once on a socket error; this client decides instead.
      socketErrorRetry: 0,
      digestAuth: creds.kind === 'apiKey' ? `${creds.publicKey}:${creds.privateKey}` : undefined,
    });
    return {
      status: res.status,
      headers: res.headers as RawResponse['headers'],
      text: res.data ?? '',
    };
  }

  private url(req: AtlasListRequest): string {
    const url = new URL(`${this.baseUrl}${req.path}`);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private isStaleNonce(res: RawResponse): boolean {
    if (this.credentials.kind !== 'apiKey') return false;
    const header = res.headers['www-authenticate'];
    const challenges = Array.isArray(header) ? header : [header ?? ''];
    return challenges.some((c) => /^digest\s/i.test(c) && /\bstale\s*=\s*"?true"?/i.test(c));
  }

  // --- service-account tokens -----------------------------------------------------------------

  /** `Bearer <token>` for service accounts (cached; one fetch shared by concurrent calls). */
  private async bearer(): Promise<string | undefined> {
    if (this.credentials.kind !== 'serviceAccount') return undefined;
    if (this.token && Date.now() < this.token.refreshAt) return `Bearer ${this.token.value}`;
    this.tokenFetch ??= this.fetchToken(this.credentials).finally(() => {
      this.tokenFetch = undefined;
    });
    return `Bearer ${await this.tokenFetch}`;
  }

  private async fetchToken(
    creds: Extract<AtlasCredentials, { kind: 'serviceAccount' }>,
  ): Promise<string> {
    const http = await this.client();
    const basic = Buffer.from(`${creds.clientId}:${creds.clientSecret}`).toString('base64');
    registerSecret(basic);
    const path = '/api/oauth/token';
    let res: RawResponse;
    try {
      const answer = await http.request<string>(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          accept: 'application/json',
          'user-agent': this.userAgent,
        },
        content: 'grant_type=client_credentials',
        contentType: 'application/x-www-form-urlencoded',
        dataType: 'text',
        timeout: this.timeoutMs,
        followRedirect: false,
        retry: 0,
        socketErrorRetry: 0,
      });
      res = {
        status: answer.status,
        headers: answer.headers as RawResponse['headers'],
        text: answer.data ?? '',
      };
    } catch (error) {
      const code = transportErrorCode(error);
      const unreachable = this.unreachable({ method: 'POST', path }, code, error);
      const failure = classifyTransportError(error);
      if (failure === 'fatal') throw unreachable;
      throw new TokenUnavailable(unreachable, undefined, { code, failure });
    }
    this.out?.debug(`atlas ← ${res.status} POST ${path} (service account token)`);
    return this.acceptToken(res, path);
  }

  private acceptToken(res: RawResponse, path: string): string {
    if (RETRY_STATUSES.has(res.status)) {
      throw new TokenUnavailable(
        this.apiError({ method: 'POST', path }, res),
        retryAfterMs(res.headers['retry-after']),
      );
    }
    const body = safeJson(res.text) as
      { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
    if (res.status !== 200 || typeof body?.access_token !== 'string') {
      const code = typeof body?.error === 'string' ? body.error : `HTTP_${res.status}`;
      throw new AtlasApiError(
        {
          status: res.status,
          errorCode: code,
          method: 'POST',
          path,
          credentialKind: 'serviceAccount',
        },
        {
          message: `Atlas did not issue a service account token (${res.status} ${code}).`,
          hint: 'Check MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET: the service account may be wrong, deleted, or its secret expired.',
        },
      );
    }
    registerSecret(body.access_token);
    const lifetimeMs = (typeof body.expires_in === 'number' ? body.expires_in : 3600) * 1000;
    // Renew a little before Atlas would reject it: a tenth of its life, at most a minute.
    this.token = {
      value: body.access_token,
      refreshAt: Date.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 10),
    };
    return body.access_token;
  }

  // --- rate-limit pacing ----------------------------------------------------------------------

  private async pace(): Promise<void> {
    const wait = this.notBefore - Date.now();
    if (wait > 0) await sleep(wait);
  }

  /** RateLimit-Remaining: 0 means the next request would be refused: space the next ones out. */
  private notePace(headers: RawResponse['headers']): void {
    const remaining = headers['ratelimit-remaining'];
    if ((Array.isArray(remaining) ? remaining[0] : remaining)?.trim() !== '0') return;
    const pause = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2);
    this.notBefore = Math.max(this.notBefore, Date.now() + pause);
    this.out?.debug(`atlas rate limit nearly reached (RateLimit-Remaining: 0); pausing ${pause}ms`);
  }

  // --- answers and errors ---------------------------------------------------------------------

  private parse<T>(req: AtlasRequest<T>, res: RawResponse): T {
    const empty = res.status === 204 || res.text.trim() === '';
    let value: unknown;
    if (!empty) {
      try {
        value = JSON.parse(res.text);
      } catch (error) {
        throw this.malformed(req, `the body is not JSON (status ${res.status})`, error);
      }
    }
    if (req.schema) {
      const problem = mismatch(req.schema, value, []);
      if (problem) throw this.malformed(req, problem);
    }
    // The answer as Atlas sent it, extra fields included (a schedule is sent back whole, say).
    return value as T;
  }

  private apiError(
    req: Pick<AtlasRequest<unknown>, 'method' | 'path'>,
    res: RawResponse,
  ): AtlasApiError {
    const body = (safeJson(res.text) ?? {}) as AtlasErrorBody;
    const info: AtlasErrorInfo = {
      status: res.status,
      errorCode: typeof body.errorCode === 'string' ? body.errorCode : `HTTP_${res.status}`,
      detail: typeof body.detail === 'string' ? body.detail : undefined,
      reason: typeof body.reason === 'string' ? body.reason : undefined,
      parameters: Array.isArray(body.parameters) ? body.parameters : undefined,
      method: req.method,
      path: req.path,
      credentialKind: this.credentials.kind,
    };
    return new AtlasApiError(info);
  }

  /** Retry delay from a RATE_LIMITED_TOKEN_BUCKET body (parameters: path, retryAfterSec, ...). */
  private retryAfterFromBody(error: AtlasApiError): number | undefined {
    if (error.errorCode !== 'RATE_LIMITED_TOKEN_BUCKET') return undefined;
    const seconds = Number(error.parameters?.[1]);
    return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
  }

  private unreachable(
    req: Pick<AtlasRequest<unknown>, 'method' | 'path'>,
    code: string,
    cause: unknown,
    attempts = 1,
  ): AtlasApiError {
    const url = new URL(this.baseUrl);
    const { what, hint } = explainTransport(transportProblem(code), url, this.timeoutMs);
    const tries = attempts > 1 ? `, ${attempts} attempts` : '';
    return new AtlasApiError(
      { status: 0, errorCode: 'ATLAS_UNREACHABLE', method: req.method, path: req.path },
      {
        cause,
        message: `Could not reach Atlas at ${url.origin} for ${req.method} ${req.path}: ${what} (${code}${tries}).`,
        hint,
      },
    );
  }

  private exhausted(
    req: AtlasRequest<unknown>,
    call: CallState,
    last: AtlasApiError,
  ): AtlasApiError {
    const seconds = Math.round((Date.now() - call.started) / 1000);
    return new AtlasApiError(
      {
        status: last.status,
        errorCode: last.errorCode,
        detail: last.detail,
        parameters: last.parameters,
        method: req.method,
        path: req.path,
      },
      {
        cause: last,
        message: `Gave up on ${req.method} ${req.path} after ${call.attempts} ${call.attempts === 1 ? 'attempt' : 'attempts'} in ${seconds}s; the last one failed: ${last.message}`,
        hint: last.hint ?? 'Atlas is busy or unreachable; wait a few minutes and rerun.',
      },
    );
  }

  private malformed(
    req: Pick<AtlasRequest<unknown>, 'path'> & { method?: HttpMethod },
    what: string,
    cause?: unknown,
  ): CliError {
    return new CliError(
      `Atlas answered ${req.method ?? 'GET'} ${req.path} with a response this tool cannot read: ${what}.`,
      {
        code: 'ATLAS_INVALID_RESPONSE',
        hint: 'Check that MONGODB_ATLAS_BASE_URL points at Atlas (not a proxy or another service), then rerun; if it does, rerun with --debug and report the response.',
        exitCode: ExitCode.cloud,
        cause,
      },
    );
  }

  // --- tracing and accounting -----------------------------------------------------------------

  private traceRequest(req: AtlasRequest<unknown>, call: CallState): void {
    if (!this.out?.debugEnabled) return;
    // In parentheses, so that the redaction of Authorization values leaves the description whole.
    const auth =
      this.credentials.kind === 'apiKey'
        ? '(digest, answered by urllib)'
        : '(bearer token, not shown)';
    const body = req.body === undefined ? '' : ` body=${clip(JSON.stringify(req.body))}`;
    this.out.debug(
      `atlas → ${req.method} ${this.url(req)} version=${req.version} attempt=${call.attempts} authorization=${auth}${body}`,
    );
  }

  private traceResponse(
    req: AtlasRequest<unknown>,
    call: CallState,
    res: RawResponse,
    started: number,
  ): void {
    if (!this.out?.debugEnabled) return;
    const ms = Math.round(performance.now() - started);
    const limit = res.headers['ratelimit-remaining'];
    const rate = limit === undefined ? '' : ` ratelimit-remaining=${String(limit)}`;
    this.out.debug(
      `atlas ← ${res.status} ${req.method} ${req.path} ${ms}ms attempt=${call.attempts}${rate} body=${clip(res.text)}`,
    );
  }

  private record(req: AtlasRequest<unknown>, call: CallState, status: number): void {
    const kind = req.method === 'GET' ? 'read' : 'write';
    if (kind === 'read') this.stats.reads += 1;
    else this.stats.writes += 1;
    this.onCall?.({ method: req.method, path: req.path, status, kind, attempts: call.attempts });
  }
}

/** How far `value` is from `schema`, in words ("id is missing, status is a number"); undefined when it fits. */
function mismatch(schema: ZodType, value: unknown, at: Array<string | number>): string | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return undefined;
  if (value === undefined) return 'the body is empty';
  if (value === null) return at.length ? `${at.join('.')} is null` : 'the body is null';
  const shown = 4;
  const problems = parsed.error.issues.slice(0, shown).map((issue) => {
    const path = [...at, ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key))];
    const where = path.join('.');
    const found = issue.path.reduce<unknown>(
      (node, key) =>
        node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
      value,
    );
    if (found === undefined) return `${where || 'the body'} is missing`;
    return `${where || 'the body'} is ${kindOf(found)}${issue.code === 'invalid_type' ? `, not ${issue.expected}` : ''}`;
  });
  const more = parsed.error.issues.length - shown;
  return `${problems.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** What a transport failure means for the user, and what to check, naming the origin in use. */
function explainTransport(
  problem: ReturnType<typeof transportProblem>,
  url: URL,
  timeoutMs: number,
): { what: string; hint: string } {
  const origin = url.origin;
  const check =
    origin === new URL(DEFAULT_BASE_URL).origin
      ? `Check the network connection and any proxy or firewall on the way to ${origin} (the default; MONGODB_ATLAS_BASE_URL changes it), then rerun.`
      : `MONGODB_ATLAS_BASE_URL points at ${origin}: check that the service there is running and that the network, proxy or firewall lets this machine reach it, then rerun.`;
  switch (problem) {
    case 'refused':
      return {
        what: 'the connection was refused, nothing accepts connections there',
        hint: check,
      };
    case 'dns':
      return {
        what: `the host name ${url.hostname} does not resolve`,
        hint: `Check MONGODB_ATLAS_BASE_URL for a typo, and this machine's DNS, network and proxy settings, then rerun.`,
      };
    case 'unreachable':
      return { what: 'there is no route to that network or host', hint: check };
    case 'tls':
      return {
        what: 'the TLS handshake failed',
        hint:
          url.protocol === 'https:'
            ? `If ${url.host} serves plain HTTP, MONGODB_ATLAS_BASE_URL must start with http://; otherwise check any proxy that intercepts TLS.`
            : check,
      };
    case 'certificate':
      return {
        what: 'its TLS certificate is not trusted here',
        hint: `Check that MONGODB_ATLAS_BASE_URL names the right host; behind a proxy or private certificate authority, set NODE_EXTRA_CA_CERTS to its CA file.`,
      };
    case 'notHttp':
      return {
        what: 'what answered there does not speak HTTP',
        hint: `Check the scheme and port in MONGODB_ATLAS_BASE_URL, and any proxy, then rerun.`,
      };
    case 'connectTimeout':
      return { what: 'no connection could be made in time', hint: check };
    case 'answerTimeout':
      return { what: `no answer came within ${Math.round(timeoutMs / 1000)} s`, hint: check };
    case 'dropped':
      return {
        what: 'the connection was closed before an answer came',
        hint:
          url.protocol === 'http:'
            ? `${check} A server that expects TLS closes plain-HTTP connections: if ${url.host} does, use https://.`
            : check,
      };
    default:
      return { what: 'the request failed on the way', hint: check };
  }
}

/** The line a retrying call prints once it has taken a couple of seconds. */
function retryNotice(
  req: AtlasRequest<unknown>,
  call: CallState,
  outcome: Retry,
  elapsedMs: number,
  delayMs: number,
): string {
  const target = `${req.method} ${req.path}`;
  const what =
    outcome.transport !== undefined
      ? `Atlas did not answer ${target} (${outcome.transport.code})`
      : outcome.status === 429
        ? `Atlas is rate limiting ${target} (429)`
        : `Atlas answered ${outcome.status} to ${target}`;
  return `${what}; retrying in ${seconds(delayMs)} (attempt ${call.attempts + 1}, ${seconds(elapsedMs)} so far).`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function clip(text: string): string {
  return text.length > TRACE_BODY_LIMIT
    ? `${text.slice(0, TRACE_BODY_LIMIT)}… (${text.length} chars)`
    : text;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
