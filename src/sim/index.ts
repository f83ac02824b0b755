/**
 * The Atlas simulator: an HTTP server that behaves like the Atlas Administration API v2 for the
 * operations this project uses (see operations.ts), checking IAM and S3 in moto through aws-checks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAwsClients } from '../aws/clients.js';
import { apiError, SimApiError } from './api-error.js';
import {
  authenticate,
  DigestNonces,
  issueToken,
  revokeToken,
  TokenBuckets,
  unauthorized,
} from './auth.js';
import { loadAwsChecks } from './aws-port.js';
import type { HandlerContext } from './context.js';
import { matchRoute, type OperationDef, type RoleRequirement } from '../atlas/operations.js';
import { HANDLERS } from './router.js';
import { DEFAULT_SEED_FILE, loadSeed, seedInfo, storeFromSeed } from './seed.js';
import type {
  SeedInfo,
  SimCall,
  SimDelays,
  SimExchange,
  SimFaults,
  SimIdentity,
  RoleName,
  SimStore,
} from './types.js';

export type { SeedInfo, SimCall, SimDelays, SimExchange, SimFaults, SimStore } from './types.js';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  seedFile?: string;
  aws: {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    caPem?: string;
    caFile?: string;
  };
  delays?: Partial<SimDelays>;
  faults?: Partial<SimFaults>;
}

export interface AtlasSimulator {
  url: string;
  seed: SeedInfo;
  setDelays(d: Partial<SimDelays>): void;
  setFaults(f: Partial<SimFaults>): void;
  reset(): Promise<void>;
  calls: SimCall[];
  onExchange(fn: (exchange: SimExchange) => void): () => void;
  state: SimStore;
  close(): Promise<void>;
}

export const DEFAULT_DELAYS: SimDelays = {
  iamPropagationMs: 10_000,
  endpointProvisionMs: 60_000,
  exportMs: 30_000,
  tokenTtlSec: 3600,
  nonceTtlMs: 300_000,
};

export const DEFAULT_FAULTS: SimFaults = {
  latencyMs: 0,
  errorRate: undefined,
  rateLimitBurst: undefined,
  dropConnection: undefined,
  ipNotOnAccessList: false,
  endpointFailure: undefined,
  exportFailure: undefined,
  rateLimit: { capacity: 100, refillPerSec: 10 },
  seed: 1,
};

/** What the simulator has understood of a request so far: who sent it, which operation, which version. */
interface RequestState {
  identity?: SimIdentity;
  def?: OperationDef;
  version?: string;
  parsed?: unknown;
  drop: boolean;
}

const VERSIONED = /^application\/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json$/;

/** mulberry32: a small seeded PRNG so errorRate is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function errorAnswer(error: SimApiError, extra: Record<string, string> = {}): Answer {
  return {
    status: error.status,
    headers: { 'Content-Type': 'application/json', ...error.headers, ...extra },
    body: error.body,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The requested version: the first versioned media type in Accept that the operation lists. Atlas has
 * no default version: a missing Accept, a plain `application/json` or a wildcard, and a version the
 * operation does not list all get the same 406 (body as seen in logs of real Atlas traffic).
 */
function negotiate(def: OperationDef, accept: string | undefined): string {
  const versions = (accept ?? '')
    .split(',')
    .map((t) => VERSIONED.exec(t.split(';')[0]?.trim() ?? '')?.[1])
    .filter((v): v is string => v !== undefined);
  const hit = versions.find((v) => def.versions.includes(v));
  if (hit) return hit;
  throw apiError(406, 'INVALID_VERSION_DATE', 'Invalid accept header or version date.');
}

/** Which spec role requirements each Atlas role satisfies (ORG_* roles only in their own organization). */
const COVERS: Partial<Record<RoleName, readonly RoleRequirement[] | 'all'>> = {
  ORG_OWNER: 'all',
  GROUP_OWNER: 'all',
  GROUP_BACKUP_MANAGER: [
    'Project Backup Manager',
    'Project Backup Export Operator',
    'Project Read Only',
  ],
  GROUP_READ_ONLY: ['Project Read Only'],
  ORG_READ_ONLY: ['Project Read Only'],
};

function hasRole(
  identity: SimIdentity,
  groupId: string,
  orgId: string,
  needed: RoleRequirement,
): boolean {
  return identity.roles.some((r) => {
    const inScope = r.roleName.startsWith('ORG_') ? r.orgId === orgId : r.groupId === groupId;
    const covers = COVERS[r.roleName];
    return inScope && covers !== undefined && (covers === 'all' || covers.includes(needed));
  });
}

class Simulator {
  store: SimStore;
  calls: SimCall[] = [];
  delays: SimDelays;
  faults: SimFaults;
  private random: () => number;
  private readonly listeners = new Set<(exchange: SimExchange) => void>();
  private readonly nonces = new DigestNonces(() => this.delays.nonceTtlMs);
  private readonly buckets = new TokenBuckets(() => this.faults.rateLimit);
  baseUrl = '';

  constructor(
    private readonly seed: Awaited<ReturnType<typeof loadSeed>>,
    private readonly aws: HandlerContext['aws'],
    private readonly checks: HandlerContext['checks'],
    private readonly initial: { delays: SimDelays; faults: SimFaults },
  ) {
    this.store = storeFromSeed(seed);
    this.delays = { ...initial.delays };
    this.faults = { ...initial.faults };
    this.random = prng(this.faults.seed);
  }

  setFaults(f: Partial<SimFaults>): void {
    this.faults = { ...this.faults, ...f };
    if (f.seed !== undefined) this.random = prng(f.seed);
  }

  reset(): void {
    this.store = storeFromSeed(this.seed);
    this.calls.length = 0;
    this.delays = { ...this.initial.delays };
    this.faults = { ...this.initial.faults };
    this.random = prng(this.faults.seed);
    this.nonces.clear();
    this.buckets.clear();
  }

  onExchange(fn: (exchange: SimExchange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', this.baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    // Filled in as the request is understood, so an error thrown later is still recorded against its operation.
    const state: RequestState = { drop: false };
    let answer: Answer;
    try {
      if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);
      if (url.pathname === '/api/oauth/token' || url.pathname === '/api/oauth/revoke') {
        answer = this.oauth(method, url.pathname, req.headers.authorization, raw);
      } else {
        answer = await this.api(req, url, method, raw, state);
      }
    } catch (error) {
      if (!(error instanceof SimApiError)) console.error('[atlas-sim] unexpected error', error);
      answer = errorAnswer(
        error instanceof SimApiError
          ? error
          : apiError(500, 'UNEXPECTED_ERROR', 'Unexpected error.'),
      );
    }
    const { identity, def, version, parsed, drop } = state;
    this.record(req, url, method, raw, parsed, answer, def, version, identity);
    if (drop) {
      req.socket.destroy();
      return;
    }
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      ...answer.headers,
      ...(text ? { 'Content-Length': Buffer.byteLength(text) } : {}),
    });
    res.end(text);
  }

  private oauth(
    method: string,
    path: string,
    authorization: string | undefined,
    raw: string,
  ): Answer {
    if (method !== 'POST')
      throw apiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}.`);
    const form = new URLSearchParams(raw);
    const out = path.endsWith('/token')
      ? issueToken(this.store, authorization, form, this.delays.tokenTtlSec)
      : revokeToken(this.store, authorization, form);
    const headers: Record<string, string> = out.body
      ? { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }
      : {};
    return { status: out.status, headers, body: out.body };
  }

  private async api(
    req: IncomingMessage,
    url: URL,
    method: string,
    raw: string,
    state: RequestState,
  ): Promise<Answer> {
    const auth = authenticate(this.store, this.nonces, {
      method,
      uri: req.url ?? '/',
      authorization: req.headers.authorization,
    });
    if (!auth.ok) {
      const challenge = auth.challenge
        ? { 'WWW-Authenticate': this.nonces.challenge(auth.challenge.stale) }
        : undefined;
      return errorAnswer(auth.error, challenge);
    }
    state.identity = auth.identity;
    if (this.faults.ipNotOnAccessList) {
      const ip = req.socket.remoteAddress ?? 'unknown';
      throw apiError(
        403,
        'IP_ADDRESS_NOT_ON_ACCESS_LIST',
        `IP address ${ip} is not allowed to access this resource.`,
        [ip],
      );
    }
    const limit = this.rateLimit(auth.identity, url.pathname);
    if (limit.error) return errorAnswer(limit.error);
    if (this.faults.errorRate && this.random() < this.faults.errorRate.rate) {
      const status = this.faults.errorRate.status;
      throw status === 503
        ? apiError(503, 'SERVICE_UNAVAILABLE', 'Service unavailable.')
        : apiError(500, 'UNEXPECTED_ERROR', 'Unexpected error.');
    }
    const route = matchRoute(method, url.pathname);
    if (!route.match) {
      if (route.pathKnown)
        throw apiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}.`, [
          method,
        ]);
      throw apiError(404, 'RESOURCE_NOT_FOUND', `Cannot find resource ${url.pathname}.`, [
        url.pathname,
      ]);
    }
    const def = route.match.def;
    state.def = def;
    const version = negotiate(def, req.headers.accept);
    state.version = version;
    state.parsed = this.parseBody(def, req.headers['content-type'], raw);
    this.authorize(auth.identity, def, route.match.params);
    const handler = HANDLERS[def.operationId];
    if (!handler) throw apiError(500, 'UNEXPECTED_ERROR', `No handler for ${def.operationId}.`);
    const ctx: HandlerContext = {
      store: this.store,
      params: route.match.params,
      query: url.searchParams,
      body: state.parsed,
      version,
      identity: auth.identity,
      selfUrl: `${this.baseUrl}${url.pathname}`,
      baseUrl: this.baseUrl,
      delays: this.delays,
      faults: this.faults,
      aws: this.aws,
      checks: this.checks,
    };
    const body = await handler(ctx);
    state.drop = method !== 'GET' && method !== 'DELETE' && this.takeDrop();
    const headers: Record<string, string> = {
      'RateLimit-Limit': String(limit.limit),
      'RateLimit-Remaining': String(limit.remaining),
    };
    if (body !== undefined) headers['Content-Type'] = `application/vnd.atlas.${version}+json`;
    return { status: def.status, headers, body };
  }

  private takeDrop(): boolean {
    const drop = this.faults.dropConnection;
    if (!drop || drop.onCreate <= 0) return false;
    this.faults.dropConnection = { onCreate: drop.onCreate - 1 };
    return true;
  }

  private rateLimit(
    identity: SimIdentity,
    path: string,
  ): { error?: SimApiError; limit: number; remaining: number } {
    const burst = this.faults.rateLimitBurst;
    const { capacity, refillPerSec } = this.faults.rateLimit;
    if (burst && burst.count > 0) {
      this.faults.rateLimitBurst = { ...burst, count: burst.count - 1 };
      const headers = {
        'Retry-After': String(burst.retryAfterSec),
        'RateLimit-Limit': String(capacity),
        'RateLimit-Remaining': '0',
      };
      return {
        limit: capacity,
        remaining: 0,
        error: new SimApiError(
          429,
          'RATE_LIMITED',
          'You have exceeded the rate limit. Please try again later.',
          [],
          headers,
        ),
      };
    }
    const take = this.buckets.take(identity.id);
    if (!take.ok) {
      const headers = {
        'Retry-After': String(take.retryAfterSec),
        'RateLimit-Limit': String(take.limit),
        'RateLimit-Remaining': '0',
      };
      const params = [path, take.retryAfterSec, capacity, refillPerSec, 1];
      const detail = `You have exceeded the rate limit for ${path}. Retry after ${take.retryAfterSec} seconds.`;
      return {
        limit: take.limit,
        remaining: 0,
        error: new SimApiError(429, 'RATE_LIMITED_TOKEN_BUCKET', detail, params, headers),
      };
    }
    return { limit: take.limit, remaining: take.remaining };
  }

  private parseBody(def: OperationDef, contentType: string | undefined, raw: string): unknown {
    if (!def.bodyVersions) return undefined;
    const type = (contentType ?? '').split(';')[0]?.trim() ?? '';
    const version = VERSIONED.exec(type)?.[1];
    if (!version || !def.bodyVersions.includes(version)) {
      // The spec lists only versioned request media types; the errorCode is the simulator's choice.
      throw apiError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${type || '(none)'} is not supported. Use one of: ${def.bodyVersions.map((v) => `application/vnd.atlas.${v}+json`).join(', ')}.`,
        [type],
      );
    }
    if (raw.trim() === '') return {};
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      throw apiError(400, 'INVALID_JSON', 'Received JSON is malformed.');
    }
  }

  private authorize(
    identity: SimIdentity,
    def: OperationDef,
    params: Record<string, string>,
  ): void {
    const groupId = params.groupId;
    if (!groupId) return;
    const group = this.store.groups.find((g) => g.id === groupId);
    if (!group)
      throw apiError(404, 'GROUP_NOT_FOUND', `No group with ID ${groupId} exists.`, [groupId]);
    // A credential of another organization, and one without the role the operation needs: Atlas
    // answers both with the same 401 (public logs of real Atlas traffic show 401, not 403).
    if (group.orgId !== identity.orgId) throw unauthorized();
    if (def.role && !hasRole(identity, groupId, group.orgId, def.role)) throw unauthorized();
  }

  private record(
    req: IncomingMessage,
    url: URL,
    method: string,
    raw: string,
    parsed: unknown,
    answer: Answer,
    def?: OperationDef,
    version?: string,
    identity?: SimIdentity,
  ): void {
    this.calls.push({
      method,
      path: url.pathname,
      operationId: def?.operationId,
      status: answer.status,
      version,
      timestamp: Date.now(),
      identity: identity?.id,
    });
    if (this.listeners.size === 0) return;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    let body = parsed;
    if (body === undefined && raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const exchange: SimExchange = {
      request: { method, path: `${url.pathname}${url.search}`, headers, body },
      response: { status: answer.status, headers: { ...answer.headers }, body: answer.body },
      operationId: def?.operationId,
      version,
    };
    for (const fn of this.listeners) fn(exchange);
  }
}

async function awsClients(options: SimulatorOptions['aws']) {
  let caFile = options.caFile;
  if (!caFile && options.caPem) {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    caFile = join(mkdtempSync(join(tmpdir(), 'atlas-sim-ca-')), 'ca.pem');
    writeFileSync(caFile, options.caPem);
  }
  const env: NodeJS.ProcessEnv = {
    AWS_ENDPOINT_URL: options.endpoint,
    AWS_ACCESS_KEY_ID: options.accessKeyId,
    AWS_SECRET_ACCESS_KEY: options.secretAccessKey,
    AWS_REGION: options.region,
    ...(caFile ? { AWS_CA_BUNDLE: caFile } : {}),
  };
  return createAwsClients({ region: options.region, env });
}

export async function startAtlasSimulator(options: SimulatorOptions): Promise<AtlasSimulator> {
  const seed = await loadSeed(options.seedFile ?? DEFAULT_SEED_FILE);
  const sim = new Simulator(seed, await awsClients(options.aws), await loadAwsChecks(), {
    delays: { ...DEFAULT_DELAYS, ...options.delays },
    faults: { ...DEFAULT_FAULTS, ...options.faults },
  });
  const server: Server = createServer((req, res) => {
    sim.handle(req, res).catch((error: unknown) => {
      console.error('[atlas-sim] request failed', error);
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  sim.baseUrl = `http://${host}:${address.port}`;
  return {
    url: sim.baseUrl,
    seed: seedInfo(sim.store),
    setDelays: (d) => {
      Object.assign(sim.delays, d);
    },
    setFaults: (f) => sim.setFaults(f),
    reset: async () => sim.reset(),
    get calls() {
      return sim.calls;
    },
    onExchange: (fn) => sim.onExchange(fn),
    get state() {
      return sim.store;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
