/**
 * Authentication as Atlas does it: HTTP Digest (RFC 7616, MD5, qop=auth, realm "MMS Public API") for
 * API keys, OAuth 2.0 client credentials for service accounts (bearer tokens with a TTL), and a token
 * bucket per credential for rate limiting.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { apiError, type SimApiError } from './api-error.js';
import type { SimIdentity, SimStore } from './types.js';

export const REALM = 'MMS Public API';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/**
 * Atlas's body for a request it cannot authenticate. The classic answer seen from Atlas is
 * errorCode USER_UNAUTHORIZED with this detail; the spec only gives a placeholder example.
 */
export function unauthorized(): SimApiError {
  return apiError(
    401,
    'USER_UNAUTHORIZED',
    'Current user is not authorized to perform this action.',
  );
}

export class DigestNonces {
  private readonly nonces = new Map<string, { issuedAtMs: number; lastNc: number }>();

  constructor(private readonly ttlMs: () => number) {}

  challenge(stale: boolean): string {
    const nonce = randomBytes(24).toString('base64url');
    this.nonces.set(nonce, { issuedAtMs: Date.now(), lastNc: 0 });
    this.prune();
    return `Digest realm="${REALM}", domain="", nonce="${nonce}", algorithm=MD5, qop="auth", stale=${stale}`;
  }

  /** Records nc for the nonce; false when the nonce is unknown, expired or nc was already used. */
  accept(nonce: string, nc: number): boolean {
    const entry = this.nonces.get(nonce);
    if (!entry) return false;
    if (Date.now() - entry.issuedAtMs > this.ttlMs()) {
      this.nonces.delete(nonce);
      return false;
    }
    if (nc <= entry.lastNc) return false;
    entry.lastNc = nc;
    return true;
  }

  clear(): void {
    this.nonces.clear();
  }

  private prune(): void {
    const limit = Date.now() - this.ttlMs() * 2;
    for (const [nonce, entry] of this.nonces)
      if (entry.issuedAtMs < limit) this.nonces.delete(nonce);
  }
}

/** Parses `Digest k=v, k="v"` into a map (quoted values may hold commas). */
export function parseDigestHeader(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header.replace(/^Digest\s+/i, ''))) !== null) {
    out[(m[1] as string).toLowerCase()] =
      m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] as string);
  }
  return out;
}

export type AuthOutcome =
  | { ok: true; identity: SimIdentity }
  | { ok: false; error: SimApiError; challenge?: { stale: boolean } };

export interface AuthRequest {
  method: string;
  /** Path plus query, as sent on the request line. */
  uri: string;
  authorization: string | undefined;
}

export function authenticate(store: SimStore, nonces: DigestNonces, req: AuthRequest): AuthOutcome {
  const header = req.authorization ?? '';
  if (/^Digest\s/i.test(header)) return digest(store, nonces, req, parseDigestHeader(header));
  if (/^Bearer\s/i.test(header)) return bearer(store, header.replace(/^Bearer\s+/i, '').trim());
  // No credentials, or Basic: the API only speaks Digest and Bearer, so answer with a challenge.
  return { ok: false, error: unauthorized(), challenge: { stale: false } };
}

function digest(
  store: SimStore,
  nonces: DigestNonces,
  req: AuthRequest,
  p: Record<string, string>,
): AuthOutcome {
  const fail: AuthOutcome = { ok: false, error: unauthorized(), challenge: { stale: false } };
  const key = store.apiKeys.find((k) => k.publicKey === p.username);
  if (!key || p.realm !== REALM || !p.nonce || !p.response || !p.cnonce || !p.nc) return fail;
  if (p.qop !== 'auth' || (p.algorithm !== undefined && p.algorithm.toUpperCase() !== 'MD5'))
    return fail;
  if (p.uri !== req.uri) return fail;
  const ha1 = md5(`${key.publicKey}:${REALM}:${key.privateKey}`);
  const ha2 = md5(`${req.method}:${p.uri}`);
  const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
  if (expected !== p.response.toLowerCase()) return fail;
  const nc = Number.parseInt(p.nc, 16);
  if (!Number.isFinite(nc) || !nonces.accept(p.nonce, nc)) {
    return { ok: false, error: unauthorized(), challenge: { stale: true } };
  }
  return {
    ok: true,
    identity: { kind: 'apiKey', id: key.publicKey, orgId: key.orgId, roles: key.roles },
  };
}

function bearer(store: SimStore, token: string): AuthOutcome {
  const entry = store.tokens.get(token);
  if (!entry || entry.expiresAtMs <= Date.now()) {
    if (entry) store.tokens.delete(token);
    return { ok: false, error: unauthorized() };
  }
  const account = store.serviceAccounts.find((a) => a.clientId === entry.clientId);
  if (!account) return { ok: false, error: unauthorized() };
  return {
    ok: true,
    identity: {
      kind: 'serviceAccount',
      id: account.clientId,
      orgId: account.orgId,
      roles: account.roles,
    },
  };
}

/** An OAuth endpoint answer (RFC 6749 error bodies, not ApiError). */
export interface OAuthAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
}

function basicClient(store: SimStore, authorization: string | undefined) {
  const m = /^Basic\s+(.+)$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const clientId = decoded.slice(0, colon);
  const secret = decoded.slice(colon + 1);
  return store.serviceAccounts.find((a) => a.clientId === clientId && a.clientSecret === secret);
}

export function issueToken(
  store: SimStore,
  authorization: string | undefined,
  form: URLSearchParams,
  ttlSec: number,
): OAuthAnswer {
  const account = basicClient(store, authorization);
  if (!account)
    return {
      status: 401,
      body: { error: 'invalid_client', error_description: 'Invalid client credentials.' },
    };
  if (form.get('grant_type') !== 'client_credentials') {
    return {
      status: 400,
      body: {
        error: 'unsupported_grant_type',
        error_description: 'Only client_credentials is supported.',
      },
    };
  }
  const token = `${randomUUID()}.${randomBytes(24).toString('base64url')}`;
  store.tokens.set(token, { clientId: account.clientId, expiresAtMs: Date.now() + ttlSec * 1000 });
  return { status: 200, body: { access_token: token, expires_in: ttlSec, token_type: 'Bearer' } };
}

export function revokeToken(
  store: SimStore,
  authorization: string | undefined,
  form: URLSearchParams,
): OAuthAnswer {
  const account = basicClient(store, authorization);
  if (!account)
    return {
      status: 401,
      body: { error: 'invalid_client', error_description: 'Invalid client credentials.' },
    };
  const token = form.get('token') ?? '';
  const entry = store.tokens.get(token);
  if (entry && entry.clientId === account.clientId) store.tokens.delete(token);
  // RFC 7009: revoking an unknown token also answers 200.
  return { status: 200, body: undefined };
}

/** A token bucket per credential: capacity tokens, refilled continuously at refillPerSec. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly settings: () => { capacity: number; refillPerSec: number }) {}

  take(id: string): { ok: boolean; limit: number; remaining: number; retryAfterSec: number } {
    const { capacity, refillPerSec } = this.settings();
    const now = Date.now();
    const bucket = this.buckets.get(id) ?? { tokens: capacity, atMs: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.atMs) / 1000) * refillPerSec);
    bucket.atMs = now;
    this.buckets.set(id, bucket);
    if (bucket.tokens < 1) {
      const retryAfterSec = Math.max(
        1,
        Math.ceil((1 - bucket.tokens) / Math.max(refillPerSec, 1e-9)),
      );
      return { ok: false, limit: capacity, remaining: 0, retryAfterSec };
    }
    bucket.tokens -= 1;
    return { ok: true, limit: capacity, remaining: Math.floor(bucket.tokens), retryAfterSec: 0 };
  }

  clear(): void {
    this.buckets.clear();
  }
}
