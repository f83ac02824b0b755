/**
 * A small local HTTP server standing in for Atlas in the HTTP-layer tests. It checks HTTP Digest
 * (RFC 7616, MD5, qop=auth) with its own code, independent of the client's, hands out one-time
 * nonces, can declare nonces stale, and serves OAuth client-credentials tokens.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Logged {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The request carried valid credentials (digest answer or bearer token). */
  authenticated: boolean;
  nonce?: string;
}

export type Handler = (req: Logged, res: ServerResponse) => unknown;

export interface StubOptions {
  auth: 'digest' | 'oauth';
  user?: string;
  pass?: string;
  clientId?: string;
  clientSecret?: string;
  /** Token lifetime in seconds. */
  expiresIn?: number;
  /** The first N correct digest answers are refused as stale (with a fresh challenge). */
  staleAnswers?: number;
  handler: Handler;
}

export interface Stub {
  url: string;
  log: Logged[];
  tokensIssued: string[];
  /** Every nonce seen in an answer, in order (each must be a nonce this server issued, used once). */
  answeredNonces: string[];
  revokeTokens(): void;
  close(): Promise<void>;
}

const REALM = 'MMS Public API';

export const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** Parses `Digest a=b, c="d, e"` into its parameters (values may be quoted and contain commas). */
export function parseDigest(header: string): Record<string, string> | undefined {
  const match = /^Digest\s+(.*)$/is.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const re = /([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gi;
  for (const m of (match[1] ?? '').matchAll(re)) params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return params;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

export function atlasError(
  res: ServerResponse,
  status: number,
  errorCode: string,
  detail: string,
  headers = {},
) {
  sendJson(res, status, { error: status, errorCode, detail, reason: 'Reason' }, headers);
}

export async function startStub(options: StubOptions): Promise<Stub> {
  const issued = new Set<string>();
  const used = new Set<string>();
  const answeredNonces: string[] = [];
  const tokens = new Set<string>();
  const tokensIssued: string[] = [];
  const log: Logged[] = [];
  let staleLeft = options.staleAnswers ?? 0;

  const challenge = (res: ServerResponse, stale = false) => {
    const nonce = randomBytes(12).toString('hex');
    issued.add(nonce);
    const header = `Digest realm="${REALM}", domain="", nonce="${nonce}", algorithm=MD5, qop="auth", stale=${stale}`;
    sendJson(
      res,
      401,
      {
        error: 401,
        errorCode: 'UNAUTHORIZED',
        detail: 'You are not authorized for this resource.',
      },
      {
        'www-authenticate': header,
      },
    );
  };

  /** 'ok', 'stale' (a good answer we refuse as stale), or 'bad'. */
  const checkDigest = (entry: Logged): 'ok' | 'stale' | 'bad' => {
    const p = parseDigest(String(entry.headers.authorization ?? ''));
    if (!p || !p.nonce) return 'bad';
    entry.nonce = p.nonce;
    answeredNonces.push(p.nonce);
    if (!issued.has(p.nonce) || used.has(p.nonce)) return 'stale';
    used.add(p.nonce);
    if (p.username !== options.user || p.realm !== REALM || p.uri !== entry.url || p.qop !== 'auth')
      return 'bad';
    if (!p.nc || !p.cnonce) return 'bad';
    const ha1 = md5(`${options.user}:${REALM}:${options.pass}`);
    const ha2 = md5(`${entry.method}:${p.uri}`);
    const expected = md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
    if (p.response !== expected) return 'bad';
    if (staleLeft > 0) {
      staleLeft -= 1;
      return 'stale';
    }
    return 'ok';
  };

  const token = (entry: Logged, res: ServerResponse) => {
    const expected = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
    const form = new URLSearchParams(entry.body);
    const okHeaders =
      entry.headers.authorization === expected &&
      entry.headers.accept === 'application/json' &&
      String(entry.headers['content-type']).startsWith('application/x-www-form-urlencoded');
    if (!okHeaders || form.get('grant_type') !== 'client_credentials') {
      sendJson(res, 401, { error: 'invalid_client', error_description: 'bad client' });
      return;
    }
    const value = `tok-${tokensIssued.length + 1}-${randomBytes(6).toString('hex')}`;
    tokens.add(value);
    tokensIssued.push(value);
    sendJson(res, 200, {
      access_token: value,
      token_type: 'Bearer',
      expires_in: options.expiresIn ?? 3600,
    });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Logged = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        authenticated: false,
      };
      log.push(entry);
      if (entry.url === '/api/oauth/token') return token(entry, res);
      if (options.auth === 'oauth') {
        const bearer = /^Bearer (.+)$/.exec(String(entry.headers.authorization ?? ''))?.[1];
        if (!bearer || !tokens.has(bearer))
          return atlasError(res, 401, 'UNAUTHORIZED', 'Invalid or expired token.');
      } else {
        if (!entry.headers.authorization) return challenge(res);
        const verdict = checkDigest(entry);
        if (verdict === 'stale') return challenge(res, true);
        if (verdict === 'bad') return challenge(res);
      }
      entry.authenticated = true;
      void Promise.resolve(options.handler(entry, res)).catch((error: unknown) => {
        res.destroy(error as Error);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    tokensIssued,
    answeredNonces,
    revokeTokens: () => tokens.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
