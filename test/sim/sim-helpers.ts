/** Starting moto + the simulator for a test file, and a small HTTP Digest client for the tests. */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { startMoto, type MotoServer } from '../../src/sandbox/moto.js';
import { startAtlasSimulator, type AtlasSimulator } from '../../src/sim/index.js';

export const FAST = {
  iamPropagationMs: 0,
  endpointProvisionMs: 60,
  exportMs: 80,
  tokenTtlSec: 3600,
  nonceTtlMs: 60_000,
};

export async function startAll(): Promise<{ moto: MotoServer; sim: AtlasSimulator }> {
  const moto = await startMoto();
  const sim = await startAtlasSimulator({
    aws: {
      endpoint: moto.url,
      region: 'us-east-1',
      accessKeyId: 'testing',
      secretAccessKey: 'testing',
      caPem: moto.ca,
    },
    delays: FAST,
    faults: { rateLimit: { capacity: 1000, refillPerSec: 1000 } },
  });
  return { moto, sim };
}

/** The trust policy Atlas documents: its account may assume the role presenting the external id. */
export function atlasTrust(atlasArn: string, externalId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: atlasArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalId } },
      },
    ],
  });
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.replace(/^Digest\s+/, '').matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g))
    out[m[1]!] = m[2] ?? m[3]!;
  return out;
}

export function digestHeader(
  c: Record<string, string>,
  user: string,
  pass: string,
  method: string,
  uri: string,
  nc = 1,
  cnonce = randomBytes(8).toString('hex'),
): string {
  const ha1 = md5(`${user}:${c.realm}:${pass}`);
  const ha2 = md5(`${method}:${uri}`);
  const ncs = nc.toString(16).padStart(8, '0');
  const response = md5(`${ha1}:${c.nonce}:${ncs}:${cnonce}:auth:${ha2}`);
  return `Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${ncs}, cnonce="${cnonce}", response="${response}"`;
}

export interface Reply {
  status: number;
  headers: Headers;

  body: any;
}

export type Creds = { publicKey: string; privateKey: string } | { token: string };

export interface CallOptions {
  method?: string;
  version?: string;
  body?: unknown;
  contentType?: string;
  /** The Accept header; `null` sends none at all (fetch would add its own). Default: the version's media type. */
  accept?: string | null;
}

/** One HTTP exchange with node:http, which (unlike fetch) sends no header it was not given. */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const replyHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (typeof value === 'string') replyHeaders.set(name, value);
        resolve({
          status: res.statusCode ?? 0,
          headers: replyHeaders,
          body: text ? JSON.parse(text) : undefined,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Calls the simulator's API with Digest (challenge first) or a bearer token. */
export async function call(
  sim: AtlasSimulator,
  creds: Creds,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const method = options.method ?? 'GET';
  const uri = `/api/atlas/v2${path}`;
  const media = `application/vnd.atlas.${options.version ?? '2023-01-01'}+json`;
  const headers: Record<string, string> = {};
  if (options.accept !== null) headers.Accept = options.accept ?? media;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] = options.contentType ?? media;
  }
  if ('token' in creds) {
    headers.Authorization = `Bearer ${creds.token}`;
    return send(`${sim.url}${uri}`, method, headers, body);
  }
  const first = await send(`${sim.url}${uri}`, method, headers, body);
  const challenge = first.headers.get('www-authenticate');
  if (first.status !== 401 || !challenge)
    throw new Error(`expected a digest challenge, got ${first.status}`);
  headers.Authorization = digestHeader(
    parseChallenge(challenge),
    creds.publicKey,
    creds.privateKey,
    method,
    uri,
  );
  return send(`${sim.url}${uri}`, method, headers, body);
}

export async function token(sim: AtlasSimulator): Promise<string> {
  const { clientId, clientSecret } = sim.seed.credentials.serviceAccount;
  const res = await fetch(`${sim.url}/api/oauth/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
      Accept: 'application/json',
    },
    body: 'grant_type=client_credentials',
  });
  const json = (await res.json()) as { access_token: string };
  return json.access_token;
}
