import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AtlasApiError,
  AtlasClient,
  type AtlasCallRecord,
  type AtlasClientOptions,
  PAGE_SIZE,
} from '../../src/atlas/http.js';
import { ExitCode } from '../../src/errors.js';
import { Output } from '../../src/output.js';
import { clearSecrets } from '../../src/secrets.js';
import {
  atlasError,
  sendJson,
  startStub,
  type Handler,
  type Stub,
  type StubOptions,
} from './stub.js';

const USER = 'abcdefgh';
const PASS = 'private-key-0123456789abcdef';
const CLIENT_ID = 'mdb_sa_id_0123456789';
const CLIENT_SECRET = 'mdb_sa_sk_secret_abcdefghijkl';
const GROUP = '5f0000000000000000000001';
const asError = (e: unknown) => e as AtlasApiError;
const unexpected = (): never => {
  throw new Error('expected the call to fail');
};
const FAST = { budgetMs: 3000, baseDelayMs: 5, maxDelayMs: 40 };

let stub: Stub | undefined;
let client: AtlasClient | undefined;

afterEach(async () => {
  await client?.close();
  await stub?.close();
  stub = undefined;
  client = undefined;
  clearSecrets();
});

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    out: new Output({ debug: true, stderr: stream, stdout: stream, interactive: false }),
    text: () => text,
  };
}

async function digestSetup(
  handler: Handler,
  extra: Partial<StubOptions> = {},
  opts: Partial<AtlasClientOptions> = {},
) {
  stub = await startStub({ auth: 'digest', user: USER, pass: PASS, handler, ...extra });
  client = new AtlasClient({
    baseUrl: stub.url,
    credentials: { kind: 'apiKey', publicKey: USER, privateKey: PASS },
    retry: FAST,
    ...opts,
  });
  return { stub, client };
}

async function oauthSetup(
  handler: Handler,
  extra: Partial<StubOptions> = {},
  opts: Partial<AtlasClientOptions> = {},
) {
  stub = await startStub({
    auth: 'oauth',
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    handler,
    ...extra,
  });
  client = new AtlasClient({
    baseUrl: stub.url,
    credentials: { kind: 'serviceAccount', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    retry: FAST,
    ...opts,
  });
  return { stub, client };
}

const echo: Handler = (req, res) =>
  sendJson(res, 200, {
    method: req.method,
    url: req.url,
    body: req.body ? JSON.parse(req.body) : null,
  });

describe('digest authentication (API keys)', () => {
  it('answers the challenge correctly and sends the versioned media type', async () => {
    const { stub, client } = await digestSetup(echo);
    const answer = await client.request<{ url: string }>({
      method: 'GET',
      path: `/api/atlas/v2/groups/${GROUP}`,
      version: '2023-01-01',
      query: { pretty: false, skip: undefined },
    });
    expect(answer.url).toBe(`/api/atlas/v2/groups/${GROUP}?pretty=false`);
    const authed = stub.log.filter((r) => r.authenticated);
    expect(authed).toHaveLength(1);
    expect(authed[0]!.headers.accept).toBe('application/vnd.atlas.2023-01-01+json');
    expect(stub.log[0]!.headers.authorization).toBeUndefined();
  });

  it('keeps POST and PATCH bodies across the challenge round trip', async () => {
    const { stub, client } = await digestSetup(echo);
    const body = {
      providerName: 'AWS',
      iamAssumedRoleArn: 'arn:aws:iam::123456789012:role/x',
      n: [1, 2],
    };
    const posted = await client.request<{ body: unknown }>({
      method: 'POST',
      path: '/api/atlas/v2/a',
      version: '2024-05-30',
      body,
    });
    const patched = await client.request<{ body: unknown }>({
      method: 'PATCH',
      path: '/api/atlas/v2/b',
      version: '2024-05-30',
      body,
    });
    expect(posted.body).toEqual(body);
    expect(patched.body).toEqual(body);
    for (const r of stub.log.filter((e) => e.authenticated)) {
      expect(r.headers['content-type']).toBe('application/vnd.atlas.2024-05-30+json');
      expect(JSON.parse(r.body)).toEqual(body);
    }
  });

  it('answers every challenge with a fresh nonce and recovers from stale=true without reusing it', async () => {
    const { stub, client } = await digestSetup(echo, { staleAnswers: 2 });
    await client.request({ method: 'GET', path: '/api/atlas/v2/one', version: '2023-01-01' });
    await client.request({
      method: 'POST',
      path: '/api/atlas/v2/two',
      version: '2023-01-01',
      body: { a: 1 },
    });
    // 2 stale answers refused, then 2 accepted: 4 answers, each with a different nonce.
    expect(stub.answeredNonces).toHaveLength(4);
    expect(new Set(stub.answeredNonces).size).toBe(4);
    expect(stub.log.filter((r) => r.authenticated)).toHaveLength(2);
  });

  it('gives up with a clear error when nonces keep going stale', async () => {
    const { client } = await digestSetup(echo, { staleAnswers: 10 });
    const error = await client
      .request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' })
      .then(unexpected, asError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.status).toBe(401);
  });

  it('a rejected key is a clear 401 error naming the organization fix, after a single exchange', async () => {
    stub = await startStub({
      auth: 'digest',
      user: USER,
      pass: 'the-right-private-key',
      handler: echo,
    });
    const calls: AtlasCallRecord[] = [];
    client = new AtlasClient({
      baseUrl: stub.url,
      credentials: { kind: 'apiKey', publicKey: USER, privateKey: PASS },
      retry: FAST,
      onCall: (c) => calls.push(c),
    });
    const error = await client
      .request({
        method: 'GET',
        path: `/api/atlas/v2/groups/${GROUP}/clusters`,
        version: '2024-08-05',
      })
      .then(unexpected, asError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.status).toBe(401);
    expect(error.exitCode).toBe(ExitCode.cloud);
    expect(error.message).toMatch(/rejected the credentials for GET .*401 UNAUTHORIZED/);
    expect(error.hint).toContain(`add the API key to the organization that owns project ${GROUP}`);
    expect(stub.log).toHaveLength(2);
    expect(calls).toEqual([
      {
        method: 'GET',
        path: `/api/atlas/v2/groups/${GROUP}/clusters`,
        status: 401,
        kind: 'read',
        attempts: 1,
      },
    ]);
  });

  it('never sends Basic credentials with an API key', async () => {
    const { stub, client } = await digestSetup(echo);
    await client.request({ method: 'GET', path: '/api/atlas/v2', version: '2023-01-01' });
    await client.request({ method: 'DELETE', path: '/api/atlas/v2/x', version: '2023-01-01' });
    expect(stub.log.length).toBeGreaterThan(0);
    for (const r of stub.log) expect(String(r.headers.authorization ?? '')).not.toMatch(/^basic/i);
  });
});

describe('service accounts (OAuth client credentials)', () => {
  it('fetches one token, reuses it, and sends it as Bearer', async () => {
    const { stub, client } = await oauthSetup(echo);
    await Promise.all(
      [1, 2, 3].map((n) =>
        client.request({ method: 'GET', path: `/api/atlas/v2/p${n}`, version: '2023-01-01' }),
      ),
    );
    await client.request({ method: 'GET', path: '/api/atlas/v2/p4', version: '2023-01-01' });
    expect(stub.tokensIssued).toHaveLength(1);
    const api = stub.log.filter((r) => r.url !== '/api/oauth/token');
    expect(api.every((r) => r.headers.authorization === `Bearer ${stub.tokensIssued[0]}`)).toBe(
      true,
    );
    const tokenCalls = stub.log.filter((r) => r.url === '/api/oauth/token');
    expect(tokenCalls).toHaveLength(1);
    expect(tokenCalls[0]!.body).toBe('grant_type=client_credentials');
  });

  it('renews the token shortly before it expires', async () => {
    const { stub, client } = await oauthSetup(echo, { expiresIn: 1 });
    await client.request({ method: 'GET', path: '/api/atlas/v2/a', version: '2023-01-01' });
    await client.request({ method: 'GET', path: '/api/atlas/v2/a', version: '2023-01-01' });
    expect(stub.tokensIssued).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 950));
    await client.request({ method: 'GET', path: '/api/atlas/v2/a', version: '2023-01-01' });
    expect(stub.tokensIssued).toHaveLength(2);
  });

  it('refreshes once on a 401 with an expired token, and stops there', async () => {
    const { stub, client } = await oauthSetup(echo);
    await client.request({ method: 'GET', path: '/api/atlas/v2/a', version: '2023-01-01' });
    stub.revokeTokens();
    await client.request({ method: 'GET', path: '/api/atlas/v2/a', version: '2023-01-01' });
    expect(stub.tokensIssued).toHaveLength(2);

    // A server that rejects every token: one refresh, then a clear error (no loop).
    const rejecting = await startStub({
      auth: 'oauth',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      handler: (_req, res) => atlasError(res, 401, 'UNAUTHORIZED', 'Not in this organization.'),
    });
    const c2 = new AtlasClient({
      baseUrl: rejecting.url,
      credentials: { kind: 'serviceAccount', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      retry: FAST,
    });
    const error = await c2
      .request({ method: 'GET', path: `/api/atlas/v2/groups/${GROUP}`, version: '2023-01-01' })
      .then(unexpected, asError);
    await c2.close();
    await rejecting.close();
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.status).toBe(401);
    expect(error.hint).toContain('MONGODB_ATLAS_CLIENT_ID');
    expect(error.hint).toContain(`organization that owns project ${GROUP}`);
    expect(rejecting.tokensIssued).toHaveLength(2);
  });

  it('wrong client secret: a clear error without calling the API', async () => {
    stub = await startStub({
      auth: 'oauth',
      clientId: CLIENT_ID,
      clientSecret: 'other-secret-value',
      handler: echo,
    });
    client = new AtlasClient({
      baseUrl: stub.url,
      credentials: { kind: 'serviceAccount', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      retry: FAST,
    });
    const error = await client
      .request({ method: 'GET', path: '/api/atlas/v2', version: '2023-01-01' })
      .then(unexpected, asError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.message).toContain('did not issue a service account token');
    expect(stub.log.every((r) => r.url === '/api/oauth/token')).toBe(true);
  });
});

describe('retries', () => {
  it('honours Retry-After on 429, then succeeds', async () => {
    let n = 0;
    const calls: AtlasCallRecord[] = [];
    const { client } = await digestSetup(
      (_req, res) => {
        n += 1;
        if (n === 1)
          return atlasError(res, 429, 'RATE_LIMITED', 'Too many requests.', { 'retry-after': '1' });
        return sendJson(res, 200, { ok: true });
      },
      {},
      { onCall: (c) => calls.push(c) },
    );
    const started = Date.now();
    const answer = await client.request({
      method: 'POST',
      path: '/api/atlas/v2/x',
      version: '2023-01-01',
      body: {},
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(answer).toEqual({ ok: true });
    expect(calls[0]).toMatchObject({ status: 200, attempts: 2, kind: 'write' });
  });

  it('retries 503 and 502 until success', async () => {
    const statuses = [503, 502, 200];
    const { client } = await digestSetup((_req, res) => {
      const status = statuses.shift()!;
      if (status !== 200) return atlasError(res, status, 'SERVICE_UNAVAILABLE', 'Busy.');
      return sendJson(res, 200, { ok: 1 });
    });
    expect(
      await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' }),
    ).toEqual({ ok: 1 });
    expect(statuses).toHaveLength(0);
  });

  it('stops when the budget is spent, with a clear error', async () => {
    let n = 0;
    const { client } = await digestSetup(
      (_req, res) => {
        n += 1;
        atlasError(res, 503, 'SERVICE_UNAVAILABLE', 'Atlas is down.');
      },
      {},
      { retry: { budgetMs: 150, baseDelayMs: 20, maxDelayMs: 40 } },
    );
    const started = Date.now();
    const error = await client
      .request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' })
      .then(unexpected, asError);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.status).toBe(503);
    expect(error.message).toMatch(/^Gave up on GET \/api\/atlas\/v2\/x after \d+ attempts/);
    expect(error.message).toContain('Atlas is down');
    expect(n).toBeGreaterThan(1);
  });

  it('retries a GET whose answer timed out', async () => {
    let n = 0;
    const { client } = await digestSetup(
      (_req, res) => {
        n += 1;
        if (n === 1) return; // never answers
        sendJson(res, 200, { ok: true });
      },
      {},
      { timeoutMs: 150 },
    );
    expect(
      await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' }),
    ).toEqual({ ok: true });
    expect(n).toBe(2);
  });

  it('a GET whose connection is reset is retried', async () => {
    let n = 0;
    const { client } = await digestSetup((_req, res) => {
      n += 1;
      if (n === 1) return res.socket?.destroy();
      sendJson(res, 200, { ok: true });
    });
    expect(
      await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' }),
    ).toEqual({ ok: true });
  });

  it('slows down when RateLimit-Remaining reaches 0', async () => {
    const seen: number[] = [];
    const { client } = await digestSetup(
      (_req, res) => {
        seen.push(Date.now());
        sendJson(
          res,
          200,
          {},
          { 'ratelimit-remaining': seen.length === 1 ? '0' : '5', 'ratelimit-limit': '100' },
        );
      },
      {},
      { retry: { budgetMs: 3000, baseDelayMs: 150, maxDelayMs: 1000 } },
    );
    await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' });
    await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' });
    await client.request({ method: 'GET', path: '/api/atlas/v2/x', version: '2023-01-01' });
    expect(seen[1]! - seen[0]!).toBeGreaterThanOrEqual(280);
    expect(seen[2]! - seen[1]!).toBeLessThan(150);
  });
});

describe('uncertain creates', () => {
  /** A create endpoint that makes the resource, then drops the connection instead of answering. */
  function dropAfterCreate(made: Array<{ id: string }>, { dropTimes = 1 } = {}): Handler {
    let drops = dropTimes;
    return (req, res) => {
      if (req.method === 'GET')
        return sendJson(res, 200, { results: made, totalCount: made.length });
      made.push({ id: `r${made.length + 1}` });
      if (drops-- > 0) return res.socket?.destroy();
      sendJson(res, 200, made.at(-1));
    };
  }

  it('consults recover() and does not POST again when it finds the resource', async () => {
    const made: Array<{ id: string }> = [];
    const { stub, client } = await digestSetup(dropAfterCreate(made));
    let recovered = 0;
    const result = await client.request<{ id: string }>({
      method: 'POST',
      path: '/api/atlas/v2/things',
      version: '2023-01-01',
      body: { name: 'x' },
      recover: async () => {
        recovered += 1;
        const list = await client!.paginate<{ id: string }>({
          path: '/api/atlas/v2/things',
          version: '2023-01-01',
        });
        return list[0];
      },
    });
    expect(result).toEqual({ id: 'r1' });
    expect(recovered).toBe(1);
    expect(stub.log.filter((r) => r.authenticated && r.method === 'POST')).toHaveLength(1);
    expect(made).toHaveLength(1);
  });

  it('without recover(), an uncertain POST is not repeated and the error says so', async () => {
    const made: Array<{ id: string }> = [];
    const { stub, client } = await digestSetup(dropAfterCreate(made));
    const error = await client
      .request({ method: 'POST', path: '/api/atlas/v2/things', version: '2023-01-01', body: {} })
      .then(unexpected, asError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.errorCode).toBe('OUTCOME_UNKNOWN');
    expect(error.message).toContain('not repeated');
    expect(stub.log.filter((r) => r.authenticated && r.method === 'POST')).toHaveLength(1);
  });

  it('retries the POST when recover() finds nothing', async () => {
    let posts = 0;
    const { client } = await digestSetup((req, res) => {
      if (req.method !== 'POST') return sendJson(res, 404, {});
      posts += 1;
      if (posts === 1) return atlasError(res, 500, 'UNEXPECTED_ERROR', 'Oops.');
      sendJson(res, 200, { id: 'made' });
    });
    let recovered = 0;
    const result = await client.request({
      method: 'POST',
      path: '/api/atlas/v2/things',
      version: '2023-01-01',
      body: {},
      recover: async () => {
        recovered += 1;
        return undefined;
      },
    });
    expect(result).toEqual({ id: 'made' });
    expect(recovered).toBe(1);
    expect(posts).toBe(2);
  });

  it('a 429 on a POST is retried without recover() (Atlas did not process it)', async () => {
    let posts = 0;
    const { client } = await digestSetup((_req, res) => {
      posts += 1;
      if (posts === 1)
        return atlasError(res, 429, 'RATE_LIMITED', 'Slow down.', { 'retry-after': '0' });
      sendJson(res, 200, { id: 'x' });
    });
    const result = await client.request({
      method: 'POST',
      path: '/api/atlas/v2/t',
      version: '2023-01-01',
      body: {},
    });
    expect(result).toEqual({ id: 'x' });
  });

  it('a DELETE that was processed before its connection dropped ends as done on the 404', async () => {
    let deletes = 0;
    const { client } = await digestSetup((_req, res) => {
      deletes += 1;
      if (deletes === 1) return res.socket?.destroy();
      atlasError(res, 404, 'RESOURCE_NOT_FOUND', 'No such thing.');
    });
    await expect(
      client.request({ method: 'DELETE', path: '/api/atlas/v2/t/1', version: '2023-01-01' }),
    ).resolves.toBeUndefined();
  });
});

describe('errors and answers', () => {
  const cases: Array<[number, string, RegExp]> = [
    [
      403,
      'IP_ADDRESS_NOT_ON_ACCESS_LIST',
      /add this machine's egress IP \(203\.0\.113\.9\) to the API key's access list/i,
    ],
    [403, 'SOME_NEW_FORBIDDEN_CODE', new RegExp(`Project Owner role on project ${GROUP}`)],
    [
      401,
      'USER_UNAUTHORIZED',
      new RegExp(
        `rejects the API key and when the API key may not make this call, because it lacks the role the call needs \\(Project Backup Manager\\) or belongs to another organization.*Project Owner role on project ${GROUP}`,
      ),
    ],
    [400, 'CANNOT_ASSUME_ROLE', /trust policy names Atlas's AWS account ARN and the external id/],
    [409, 'EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE', /disable auto export on every cluster/],
  ];
  for (const [status, code, hint] of cases) {
    it(`explains ${status} ${code}`, async () => {
      const { client } = await digestSetup((_req, res) =>
        // The detail deliberately talks about something else: only errorCode may decide the hint.
        atlasError(
          res,
          status,
          code,
          'IP address 203.0.113.9 is not allowed; export bucket in use; role.',
        ),
      );
      const error = await client
        .request({
          method: 'DELETE',
          path: `/api/atlas/v2/groups/${GROUP}/backup/exportBuckets/b`,
          version: '2023-01-01',
        })
        .then(unexpected, asError);
      expect(error).toBeInstanceOf(AtlasApiError);
      expect(error.status).toBe(status);
      expect(error.errorCode).toBe(code);
      expect(error.code).toBe(code);
      expect(error.exitCode).toBe(ExitCode.cloud);
      expect(error.detail).toContain('203.0.113.9');
      expect(error.message).toContain(`(${status} ${code})`);
      expect(error.hint).toMatch(hint);
    });
  }

  it('parses JSON, returns undefined for 204, and rejects non-JSON answers clearly', async () => {
    const { client } = await digestSetup((req, res) => {
      if (req.url.endsWith('/empty')) {
        res.writeHead(204);
        return res.end();
      }
      if (req.url.endsWith('/html')) {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<html>proxy</html>');
      }
      sendJson(res, 200, { a: [1] });
    });
    expect(
      await client.request({ method: 'GET', path: '/api/atlas/v2/json', version: '2023-01-01' }),
    ).toEqual({ a: [1] });
    expect(
      await client.request({
        method: 'DELETE',
        path: '/api/atlas/v2/empty',
        version: '2023-01-01',
      }),
    ).toBeUndefined();
    await expect(
      client.request({ method: 'GET', path: '/api/atlas/v2/html', version: '2023-01-01' }),
    ).rejects.toMatchObject({
      code: 'ATLAS_INVALID_RESPONSE',
    });
  });

  it('an unreachable Atlas is a clear error', async () => {
    client = new AtlasClient({
      baseUrl: 'http://127.0.0.1:9',
      credentials: { kind: 'apiKey', publicKey: USER, privateKey: PASS },
      retry: { budgetMs: 100, baseDelayMs: 10, maxDelayMs: 20 },
    });
    const error = await client
      .request({ method: 'GET', path: '/api/atlas/v2', version: '2023-01-01' })
      .then(unexpected, asError);
    expect(error).toBeInstanceOf(AtlasApiError);
    expect(error.status).toBe(0);
    expect(error.message).toContain('Could not reach Atlas at http://127.0.0.1:9');
  });

  it('follows pageNum with 500 items per page until every result is in', async () => {
    const all = Array.from({ length: 1203 }, (_, i) => ({ id: i }));
    const pages: string[] = [];
    const { client } = await digestSetup((req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      pages.push(`${q.get('pageNum')}/${q.get('itemsPerPage')}`);
      const size = Number(q.get('itemsPerPage'));
      const start = (Number(q.get('pageNum')) - 1) * size;
      sendJson(res, 200, { results: all.slice(start, start + size), totalCount: all.length });
    });
    const items = await client.paginate<{ id: number }>({
      path: '/api/atlas/v2/groups',
      version: '2023-01-01',
    });
    expect(PAGE_SIZE).toBe(500);
    expect(items).toEqual(all);
    expect(pages).toEqual(['1/500', '2/500', '3/500']);
    expect(client.stats).toEqual({ reads: 3, writes: 0 });
  });
});

describe('debug traces', () => {
  it('show method, URL, version, status, timing and attempt, but never credentials', async () => {
    const { out, text } = capture();
    const { stub, client } = await digestSetup(echo, {}, { out });
    await client.request({
      method: 'POST',
      path: '/api/atlas/v2/things',
      version: '2023-01-01',
      body: { bucketName: 'b1' },
    });
    const trace = text();
    expect(trace).toMatch(
      new RegExp(`POST ${stub.url}/api/atlas/v2/things version=2023-01-01 attempt=1`),
    );
    expect(trace).toMatch(/← 200 POST \/api\/atlas\/v2\/things \d+ms attempt=1/);
    expect(trace).toContain('"bucketName":"b1"');
    expect(trace).not.toContain(PASS);
    expect(trace).not.toMatch(/Digest username/i);
  });

  it('never show the service account secret or token', async () => {
    const { out, text } = capture();
    const { stub, client } = await oauthSetup(
      (req, res) => sendJson(res, 200, { echoedAuth: req.headers.authorization }),
      {},
      { out },
    );
    const answer = await client.request<{ echoedAuth: string }>({
      method: 'GET',
      path: '/api/atlas/v2',
      version: '2023-01-01',
    });
    expect(answer.echoedAuth).toContain(stub.tokensIssued[0]); // the token really went out...
    const trace = text();
    expect(trace).toContain('GET');
    expect(trace).not.toContain(stub.tokensIssued[0]); // ...yet never reached the trace
    expect(trace).not.toContain(CLIENT_SECRET);
    expect(trace).not.toContain(Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'));
  });
});

describe('failures that will not pass fail fast', () => {
  const makeClient = (baseUrl: string) =>
    new AtlasClient({
      baseUrl,
      credentials: { kind: 'apiKey', publicKey: USER, privateKey: PASS },
      // The default budget: a refused connection must not be retried until it runs out.
      retry: { budgetMs: 120_000, baseDelayMs: 500, maxDelayMs: 30_000 },
    });
  const call = (c: AtlasClient, calls: AtlasCallRecord[] = []) => {
    const started = Date.now();
    return c
      .request({ method: 'GET', path: '/api/atlas/v2', version: '2023-01-01' })
      .then(unexpected, (e: unknown) => ({ error: asError(e), ms: Date.now() - started, calls }));
  };

  it('a refused connection: a couple of quick retries, then the origin and what to check', async () => {
    const { freePort } = await import('../../src/sandbox/moto.js');
    const port = await freePort();
    const calls: AtlasCallRecord[] = [];
    const c = new AtlasClient({
      baseUrl: `http://127.0.0.1:${port}`,
      credentials: { kind: 'apiKey', publicKey: USER, privateKey: PASS },
      onCall: (record) => calls.push(record),
    });
    client = c;
    const { error, ms } = await call(c);
    expect(ms).toBeLessThan(3000);
    expect(calls).toEqual([expect.objectContaining({ status: 0, attempts: 3 })]);
    expect(error.code).toBe('ATLAS_UNREACHABLE');
    expect(error.exitCode).toBe(ExitCode.cloud);
    expect(error.message).toBe(
      `Could not reach Atlas at http://127.0.0.1:${port} for GET /api/atlas/v2: the connection was refused, nothing accepts connections there (ECONNREFUSED, 3 attempts).`,
    );
    expect(error.hint).toMatch(/MONGODB_ATLAS_BASE_URL/);
    expect(error.hint).toMatch(/network/);
    expect(error.hint).toMatch(/proxy/);
  });

  it('https:// to a plain-HTTP server: one attempt, and the hint names the scheme', async () => {
    await digestSetup(echo);
    const c = makeClient(stub!.url.replace('http:', 'https:'));
    client = c;
    const { error, ms } = await call(c);
    expect(ms).toBeLessThan(2000);
    expect(stub!.log).toHaveLength(0);
    expect(error.message).toMatch(/the TLS handshake failed \(ERR_SSL_WRONG_VERSION_NUMBER\)\.$/);
    expect(error.message).toContain(`at ${stub!.url.replace('http:', 'https:')} for GET`);
    expect(error.hint).toMatch(/MONGODB_ATLAS_BASE_URL must start with http:\/\//);
  });

  it('a certificate this machine does not trust: one attempt, NODE_EXTRA_CA_CERTS in the hint', async () => {
    const { createServer } = await import('node:https');
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'http-test-cert-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    let hits = 0;
    const server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (_req, res) => {
        hits += 1;
        res.end('{}');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const c = makeClient(`https://127.0.0.1:${port}`);
      client = c;
      const { error, ms } = await call(c);
      expect(ms).toBeLessThan(2000);
      expect(hits).toBe(0);
      expect(error.message).toMatch(/its TLS certificate is not trusted here \([A-Z_]+\)\.$/);
      expect(error.hint).toMatch(/NODE_EXTRA_CA_CERTS/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a host name that does not resolve: no waiting out the budget', async () => {
    const c = makeClient('https://atlas-pl-export-test.invalid');
    client = c;
    const { error, ms } = await call(c);
    expect(ms).toBeLessThan(5000);
    expect(error.message).toMatch(
      /^Could not reach Atlas at https:\/\/atlas-pl-export-test\.invalid for GET \/api\/atlas\/v2: the host name atlas-pl-export-test\.invalid does not resolve \(E[A-Z_]+/,
    );
    expect(error.hint).toMatch(/MONGODB_ATLAS_BASE_URL for a typo/);
  });
});

describe('retrying for more than a couple of seconds is announced', () => {
  it('says what Atlas answered, the attempt and the time so far; quick retries stay quiet', async () => {
    const { out, text } = capture();
    const statuses = [503, 503, 200];
    const { client } = await digestSetup(
      (_req, res) => {
        const status = statuses.shift()!;
        if (status === 200) return sendJson(res, 200, { ok: true });
        // Atlas asks for 1.2 s each time: only the second wait takes the call past 2 s.
        return atlasError(res, status, 'SERVICE_UNAVAILABLE', 'Busy.', { 'retry-after': '1.2' });
      },
      {},
      { out },
    );
    expect(
      await client.request({ method: 'GET', path: '/api/atlas/v2/busy', version: '2023-01-01' }),
    ).toEqual({ ok: true });
    const notices = text()
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('debug:'));
    expect(notices).toEqual([
      expect.stringMatching(
        /^Atlas answered 503 to GET \/api\/atlas\/v2\/busy; retrying in 1\.2 s \(attempt 3, 1\.\d s so far\)\.$/,
      ),
    ]);
  });
});

describe('answers are checked against the fields the tool relies on', () => {
  it('an empty, null, incomplete or mistyped body is a clear error; extra fields are kept', async () => {
    const { PrivateEndpointSchema } = await import('../../src/atlas/types.js');
    const bodies: Record<string, string> = {
      '/empty': '',
      '/null': 'null',
      '/object': '{}',
      '/typed': '{"id":"e1","regionName":"US_EAST_1","status":7}',
      '/fine': '{"id":"e1","regionName":"US_EAST_1","status":"ACTIVE","errorMessage":null,"new":1}',
      '/list': '{"results":[{"id":"e1","regionName":"US_EAST_1","status":"ACTIVE"},{"id":"e2"}]}',
    };
    const { client } = await digestSetup((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bodies[req.url.replace(/^\/api\/atlas\/v2|\?.*$/g, '')]);
    });
    const get = (path: string) =>
      client.request({
        method: 'GET',
        path: `/api/atlas/v2${path}`,
        version: '2024-11-13',
        schema: PrivateEndpointSchema,
      });
    const problem = (path: string) => get(path).then(unexpected, asError);
    const prefix = (path: string) =>
      `Atlas answered GET /api/atlas/v2${path} with a response this tool cannot read: `;
    for (const [path, what] of [
      ['/empty', 'the body is empty'],
      ['/null', 'the body is null'],
      ['/object', 'id is missing, regionName is missing, status is missing'],
      ['/typed', 'status is a number, not string'],
    ] as const) {
      const error = await problem(path);
      expect(error).not.toBeInstanceOf(AtlasApiError); // never read as a 404 ("gone")
      expect(error).toMatchObject({
        code: 'ATLAS_INVALID_RESPONSE',
        exitCode: ExitCode.cloud,
        message: `${prefix(path)}${what}.`,
      });
      expect(error.hint).toMatch(/MONGODB_ATLAS_BASE_URL/);
    }
    expect(await get('/fine')).toEqual({
      id: 'e1',
      regionName: 'US_EAST_1',
      status: 'ACTIVE',
      errorMessage: null,
      new: 1,
    });
    const listed = await client
      .paginate({
        path: '/api/atlas/v2/list',
        version: '2024-11-13',
        schema: PrivateEndpointSchema,
      })
      .then(unexpected, asError);
    expect(listed.message).toBe(
      `${prefix('/list')}results.1.regionName is missing, results.1.status is missing.`,
    );
  });
});

describe('debug trace wording', () => {
  it('describes the digest exchange in balanced parentheses, untouched by redaction', async () => {
    const { out, text } = capture();
    await digestSetup(echo, {}, { out });
    await client!.request({ method: 'GET', path: '/api/atlas/v2', version: '2023-01-01' });
    expect(text()).toContain('authorization=(digest, answered by urllib)');
    expect(text()).not.toContain('****');
  });
});
