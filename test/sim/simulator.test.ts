import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../src/aws/clients.js';
import { awsClientsFor } from '../helpers/sandbox.js';
import type { MotoServer } from '../../src/sandbox/moto.js';
import type { AtlasSimulator } from '../../src/sim/index.js';
import { privateEndpointRegions } from '../../src/regions.js';
import { OPERATIONS } from '../../src/atlas/operations.js';
import {
  FAST,
  atlasTrust,
  call,
  digestHeader,
  parseChallenge,
  startAll,
  token,
} from './sim-helpers.js';

let moto: MotoServer;
let sim: AtlasSimulator;
let aws: AwsClients;
let owner: { publicKey: string; privateKey: string };
let G: string;

beforeAll(async () => {
  ({ moto, sim } = await startAll());
  aws = await awsClientsFor({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_CA_BUNDLE: moto.caFile,
  });
  owner = sim.seed.credentials.owner;
  G = `/groups/${sim.seed.projectId}`;
});
afterAll(async () => {
  await sim?.close();
  await moto?.stop();
});
beforeEach(async () => {
  await sim.reset();
  sim.setDelays(FAST);
  sim.setFaults({ rateLimit: { capacity: 1000, refillPerSec: 1000 } });
  await moto.reset();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An export bucket without private networking (id c...c), straight into the store. */
function addPublicExportBucket(): void {
  sim.state.exportBuckets.push({
    _id: 'c'.repeat(24),
    groupId: sim.seed.projectId,
    bucketName: 'x-bucket',
    cloudProvider: 'AWS',
    iamRoleId: 'd'.repeat(24),
    requirePrivateNetworking: false,
    region: 'us-east-1',
  });
}

/** Whether a concrete path under /api/atlas/v2 fits an operation's path template. */
function matches(template: string, path: string): boolean {
  const pattern = template.replace(/\{\w+\}/g, '[^/]+');
  return new RegExp(`^${pattern}$`).test(path);
}

describe('digest authentication', () => {
  it('challenges with realm, MD5, qop=auth and a fresh nonce, then accepts a correct response', async () => {
    const a = await fetch(`${sim.url}/api/atlas/v2`, {
      headers: { Accept: 'application/vnd.atlas.2023-01-01+json' },
    });
    const b = await fetch(`${sim.url}/api/atlas/v2`, {
      headers: { Accept: 'application/vnd.atlas.2023-01-01+json' },
    });
    expect(a.status).toBe(401);
    const ca = parseChallenge(a.headers.get('www-authenticate')!);
    const cb = parseChallenge(b.headers.get('www-authenticate')!);
    expect(ca).toMatchObject({
      realm: 'MMS Public API',
      algorithm: 'MD5',
      qop: 'auth',
      stale: 'false',
    });
    expect(ca.nonce).not.toBe(cb.nonce);
    expect(await a.json()).toMatchObject({
      error: 401,
      errorCode: 'USER_UNAUTHORIZED',
      reason: 'Unauthorized',
    });
    const ok = await call(sim, owner, '');
    expect(ok.status).toBe(200);
    expect(ok.body.apiKey.publicKey).toBe(owner.publicKey);
    expect(ok.headers.get('content-type')).toBe('application/vnd.atlas.2023-01-01+json');
  });

  it('refuses a wrong password and Basic auth', async () => {
    expect((await call(sim, { publicKey: owner.publicKey, privateKey: 'wrong' }, '')).status).toBe(
      401,
    );
    const basic = await fetch(`${sim.url}/api/atlas/v2`, {
      headers: {
        Authorization: `Basic ${Buffer.from(`${owner.publicKey}:${owner.privateKey}`).toString('base64')}`,
      },
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toMatch(/^Digest /);
  });

  it('answers a replayed nc and an expired nonce with stale=true', async () => {
    // Atlas has no default version: without the versioned Accept an authenticated request gets 406.
    const V1 = 'application/vnd.atlas.2023-01-01+json';
    const first = await fetch(`${sim.url}/api/atlas/v2`);
    const c = parseChallenge(first.headers.get('www-authenticate')!);
    const auth = digestHeader(
      c,
      owner.publicKey,
      owner.privateKey,
      'GET',
      '/api/atlas/v2',
      1,
      'abc',
    );
    expect(
      (await fetch(`${sim.url}/api/atlas/v2`, { headers: { Accept: V1, Authorization: auth } }))
        .status,
    ).toBe(200);
    const replay = await fetch(`${sim.url}/api/atlas/v2`, {
      headers: { Accept: V1, Authorization: auth },
    });
    expect(replay.status).toBe(401);
    expect(replay.headers.get('www-authenticate')).toContain('stale=true');
    const next = digestHeader(
      c,
      owner.publicKey,
      owner.privateKey,
      'GET',
      '/api/atlas/v2',
      2,
      'abd',
    );
    expect(
      (await fetch(`${sim.url}/api/atlas/v2`, { headers: { Accept: V1, Authorization: next } }))
        .status,
    ).toBe(200);
    sim.setDelays({ nonceTtlMs: 1 });
    await sleep(5);
    const late = digestHeader(
      c,
      owner.publicKey,
      owner.privateKey,
      'GET',
      '/api/atlas/v2',
      3,
      'abe',
    );
    const expired = await fetch(`${sim.url}/api/atlas/v2`, {
      headers: { Accept: V1, Authorization: late },
    });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('stale=true');
  });

  it('refuses a digest whose uri is not the request uri', async () => {
    const first = await fetch(`${sim.url}/api/atlas/v2/groups`);
    const c = parseChallenge(first.headers.get('www-authenticate')!);
    const auth = digestHeader(c, owner.publicKey, owner.privateKey, 'GET', '/api/atlas/v2');
    expect(
      (await fetch(`${sim.url}/api/atlas/v2/groups`, { headers: { Authorization: auth } })).status,
    ).toBe(401);
  });
});

describe('service accounts', () => {
  it('issues bearer tokens that work, expire and can be revoked', async () => {
    const t = await token(sim);
    expect((await call(sim, { token: t }, G)).status).toBe(200);
    const { clientId, clientSecret } = sim.seed.credentials.serviceAccount;
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const revoke = await fetch(`${sim.url}/api/oauth/revoke`, {
      method: 'POST',
      headers: { Authorization: basic, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${t}&token_type_hint=access_token`,
    });
    expect(revoke.status).toBe(200);
    expect((await call(sim, { token: t }, G)).status).toBe(401);
    sim.setDelays({ tokenTtlSec: 0.5 });
    const short = await token(sim);
    expect((await call(sim, { token: short }, G)).status).toBe(200);
    await sleep(600);
    expect((await call(sim, { token: short }, G)).status).toBe(401);
  });

  it('refuses bad client credentials', async () => {
    const res = await fetch(`${sim.url}/api/oauth/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from('x:y').toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
  });
});

const NOT_AUTHORIZED = {
  detail: 'Current user is not authorized to perform this action.',
  error: 401,
  errorCode: 'USER_UNAUTHORIZED',
  parameters: [],
  reason: 'Unauthorized',
};

describe('authorization', () => {
  it('answers a key of another organization and a role that does not cover the call alike: 401 USER_UNAUTHORIZED', async () => {
    const other = await call(sim, sim.seed.credentials.otherOrg, G);
    expect(other.status).toBe(401);
    expect(other.body).toEqual(NOT_AUTHORIZED);
    const ro = sim.seed.credentials.readOnly;
    expect((await call(sim, ro, `${G}/cloudProviderAccess`)).status).toBe(200);
    const write = await call(sim, ro, `${G}/cloudProviderAccess`, {
      method: 'POST',
      body: { providerName: 'AWS' },
    });
    expect(write.status).toBe(401);
    expect(write.body).toEqual(NOT_AUTHORIZED);
    expect(write.headers.get('www-authenticate')).toBeNull();
    expect(sim.state.accessRoles).toHaveLength(0);
  });

  it("takes each operation's role from the spec and models the role hierarchy", async () => {
    const orgId = sim.seed.orgId;
    sim.state.apiKeys.push(
      {
        id: '6650a1b2c3d4e5f6060000a1',
        publicKey: 'orgowner',
        privateKey: 'org-owner-secret',
        orgId,
        roles: [{ orgId, roleName: 'ORG_OWNER' }],
      },
      {
        id: '6650a1b2c3d4e5f6060000a2',
        publicKey: 'orgreado',
        privateKey: 'org-read-secret',
        orgId,
        roles: [{ orgId, roleName: 'ORG_READ_ONLY' }],
      },
      {
        id: '6650a1b2c3d4e5f6060000a3',
        publicKey: 'orgmembr',
        privateKey: 'org-member-secret',
        orgId,
        roles: [
          { orgId, roleName: 'ORG_MEMBER' },
          // A project role in another project does not count here.
          { groupId: '6650a1b2c3d4e5f601000002', roleName: 'GROUP_OWNER' },
        ],
      },
    );
    const keys = {
      owner,
      backupManager: sim.seed.credentials.backupManager,
      readOnly: sim.seed.credentials.readOnly,
      orgOwner: { publicKey: 'orgowner', privateKey: 'org-owner-secret' },
      orgReadOnly: { publicKey: 'orgreado', privateKey: 'org-read-secret' },
      member: { publicKey: 'orgmembr', privateKey: 'org-member-secret' },
    };
    const C = `${G}/clusters/Cluster0`;
    const id = 'a'.repeat(24);
    // One operation per role the spec names, with the keys whose roles cover it.
    const cases: Array<{
      role: string;
      method: string;
      path: string;
      version: string;
      allowed: string[];
    }> = [
      {
        role: 'Project Read Only',
        method: 'GET',
        path: `${C}/backup/schedule`,
        version: '2024-08-05',
        allowed: ['owner', 'backupManager', 'readOnly', 'orgOwner', 'orgReadOnly'],
      },
      {
        role: 'Project Backup Manager',
        method: 'GET',
        path: `${C}/backup/exports`,
        version: '2023-01-01',
        allowed: ['owner', 'backupManager', 'orgOwner'],
      },
      {
        role: 'Project Backup Export Operator',
        method: 'POST',
        path: `${C}/backup/exports`,
        version: '2023-01-01',
        allowed: ['owner', 'backupManager', 'orgOwner'],
      },
      {
        role: 'Project Owner',
        method: 'GET',
        path: `${G}/backup/AWS/privateEndpoints/${id}`,
        version: '2024-11-13',
        allowed: ['owner', 'orgOwner'],
      },
    ];
    for (const c of cases) {
      expect(OPERATIONS.find((o) => o.method === c.method && matches(o.path, c.path))?.role).toBe(
        c.role,
      );
      for (const [name, creds] of Object.entries(keys)) {
        const body = c.method === 'POST' ? { snapshotId: id, exportBucketId: id } : undefined;
        const r = await call(sim, creds, c.path, { method: c.method, version: c.version, body });
        if (c.allowed.includes(name)) expect(r.status, `${name} ${c.role}`).not.toBe(401);
        else expect(r.body, `${name} ${c.role}`).toEqual(NOT_AUTHORIZED);
      }
    }
    // The credential-level operations need no project role.
    for (const creds of Object.values(keys)) expect((await call(sim, creds, '')).status).toBe(200);
  });

  it('answers 403 IP_ADDRESS_NOT_ON_ACCESS_LIST when the knob is set', async () => {
    sim.setFaults({ ipNotOnAccessList: true });
    const res = await call(sim, owner, G);
    expect(res.status).toBe(403);
    expect(res.body.errorCode).toBe('IP_ADDRESS_NOT_ON_ACCESS_LIST');
    expect(res.headers.get('content-type')).toBe('application/json');
  });
});

describe('versions, pagination and errors', () => {
  it('answers each cluster version in its own shape and refuses others with 406', async () => {
    const path = `${G}/clusters/Cluster0`;
    const legacy = await call(sim, owner, path, { version: '2023-01-01' });
    expect(legacy.body.providerSettings).toMatchObject({
      providerName: 'AWS',
      regionName: 'US_EAST_1',
      instanceSizeName: 'M10',
    });
    expect(legacy.body.providerBackupEnabled).toBe(true);
    const adv = await call(sim, owner, path, { version: '2023-02-01' });
    expect(adv.body.replicationSpecs[0].numShards).toBe(1);
    const cur = await call(sim, owner, path, { version: '2024-08-05' });
    expect(cur.headers.get('content-type')).toBe('application/vnd.atlas.2024-08-05+json');
    expect(cur.body.replicationSpecs[0].regionConfigs[0].electableSpecs.instanceSize).toBe('M10');
    expect(cur.body.providerBackupEnabled).toBeUndefined();
    const bad = await call(sim, owner, path, { version: '2024-05-30' });
    expect(bad.status).toBe(406);
    expect(bad.body).toMatchObject({ error: 406, errorCode: 'INVALID_VERSION_DATE' });
    expect(
      (
        await call(sim, owner, `${G}/backup/exportBuckets/${'a'.repeat(24)}`, {
          method: 'PATCH',
          version: '2023-01-01',
          body: { requirePrivateNetworking: true },
        })
      ).status,
    ).toBe(406);
  });

  it("answers Atlas's 406 to a missing, unversioned or wildcard Accept and to an unlisted version, after authentication", async () => {
    const notAcceptable = {
      detail: 'Invalid accept header or version date.',
      error: 406,
      errorCode: 'INVALID_VERSION_DATE',
      parameters: [],
      reason: 'Not Acceptable',
    };
    for (const accept of [
      null,
      'application/json',
      '*/*',
      'application/vnd.atlas.2099-01-01+json',
      'application/vnd.atlas.2024-08-05+json',
    ]) {
      // call() fails unless the first, unauthenticated answer is the Digest challenge.
      const r = await call(sim, owner, G, { accept });
      expect(r.status, String(accept)).toBe(406);
      expect(r.body, String(accept)).toEqual(notAcceptable);
      expect(r.headers.get('content-type')).toBe('application/json');
    }
    const ok = await call(sim, owner, G, {
      accept: 'application/json, application/vnd.atlas.2023-01-01+json',
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/vnd.atlas.2023-01-01+json');
    // The OAuth token endpoint is not versioned: a plain application/json Accept gets a token.
    expect(await token(sim)).toMatch(/\S{20,}/);
  });

  it('refuses, on every operation, any version it does not list, and accepts the ones it does', async () => {
    for (const op of OPERATIONS) {
      const path = op.path
        .replace('{groupId}', sim.seed.projectId)
        .replace('{cloudProvider}', 'AWS')
        .replace('{clusterName}', 'Cluster0')
        .replace(/\{\w+\}/g, 'a'.repeat(24));
      const body = op.bodyVersions ? {} : undefined;
      for (const version of [
        '2022-12-31',
        '2023-01-01',
        '2023-02-01',
        '2024-05-30',
        '2024-08-05',
        '2024-11-13',
      ]) {
        const r = await call(sim, owner, path, { method: op.method, version, body });
        if (op.versions.includes(version))
          expect(r.status, `${op.operationId} ${version}`).not.toBe(406);
        else expect(r.status, `${op.operationId} ${version}`).toBe(406);
      }
    }
  });

  it('paginates with links and totalCount, and validates the parameters', async () => {
    const p1 = await call(sim, owner, `${G}/clusters?itemsPerPage=2`, { version: '2024-08-05' });
    expect(p1.body.results).toHaveLength(2);
    expect(p1.body.totalCount).toBe(5);
    expect(p1.body.links.map((l: { rel: string }) => l.rel)).toEqual(['self', 'next']);
    const p3 = await call(sim, owner, `${G}/clusters?itemsPerPage=2&pageNum=3&includeCount=false`, {
      version: '2024-08-05',
    });
    expect(p3.body.results).toHaveLength(1);
    expect(p3.body.totalCount).toBeUndefined();
    expect(p3.body.links.map((l: { rel: string }) => l.rel)).toEqual(['self', 'previous']);
    for (const q of ['itemsPerPage=0', 'itemsPerPage=501', 'pageNum=0', 'includeCount=maybe']) {
      const r = await call(sim, owner, `${G}/clusters?${q}`, { version: '2024-08-05' });
      expect(r.status, q).toBe(400);
    }
  });

  it('lists sharded-cluster snapshots in one answer (the spec gives that list no pagination parameters)', async () => {
    const sharded = `${G}/clusters/ShardedCluster0/backup/snapshots/shardedClusters`;
    const all = await call(sim, owner, sharded);
    expect(all.body.results.length).toBeGreaterThan(1);
    const asked = await call(sim, owner, `${sharded}?itemsPerPage=1&pageNum=2`);
    expect(asked.body.results).toEqual(all.body.results);
    expect(asked.body.totalCount).toBe(all.body.results.length);
    expect(asked.body.links).toEqual([{ href: `${sim.url}/api/atlas/v2${sharded}`, rel: 'self' }]);
    // The replica-set list, which has them, still pages.
    const rs = `${G}/clusters/Cluster0/backup/snapshots?itemsPerPage=1&pageNum=2`;
    expect((await call(sim, owner, rs)).body.results).toHaveLength(1);
  });

  it('answers 404s with Atlas error codes', async () => {
    expect((await call(sim, owner, `/groups/${'f'.repeat(24)}`)).body.errorCode).toBe(
      'GROUP_NOT_FOUND',
    );
    expect(
      (await call(sim, owner, `${G}/clusters/Nope`, { version: '2024-08-05' })).body.errorCode,
    ).toBe('CLUSTER_NOT_FOUND');
    expect(
      (await call(sim, owner, `${G}/cloudProviderAccess/${'a'.repeat(24)}`)).body.errorCode,
    ).toBe('CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND');
    expect(
      (
        await call(sim, owner, `${G}/backup/exportBuckets/${'a'.repeat(24)}`, {
          version: '2024-05-30',
        })
      ).body.errorCode,
    ).toBe('EXPORT_BUCKET_NOT_FOUND');
    expect((await call(sim, owner, `${G}/serverless/Cluster0`)).status).toBe(404);
  });

  it('requires the versioned Content-Type on bodies and validates them', async () => {
    const wrongType = await call(sim, owner, `${G}/cloudProviderAccess`, {
      method: 'POST',
      body: { providerName: 'AWS' },
      contentType: 'application/json',
    });
    expect(wrongType.status).toBe(415);
    expect(
      (await call(sim, owner, `${G}/cloudProviderAccess`, { method: 'POST', body: {} })).body
        .errorCode,
    ).toBe('MISSING_ATTRIBUTE');
    const bucket = await call(sim, owner, `${G}/backup/exportBuckets`, {
      method: 'POST',
      version: '2024-05-30',
      body: { bucketName: 'b-1', cloudProvider: 'AWS', iamRoleId: 'AROAEXAMPLE' },
    });
    expect(bucket.body.errorCode).toBe('INVALID_JSON_ATTRIBUTE');
  });
});

describe('rate limits and faults', () => {
  it('sends RateLimit headers and 429 with Retry-After from the token bucket', async () => {
    sim.setFaults({ rateLimit: { capacity: 2, refillPerSec: 0.5 } });
    const a = await call(sim, owner, G);
    expect(a.headers.get('ratelimit-limit')).toBe('2');
    expect(a.headers.get('ratelimit-remaining')).toBe('1');
    await call(sim, owner, G);
    const limited = await call(sim, owner, G);
    expect(limited.status).toBe(429);
    expect(limited.body.errorCode).toBe('RATE_LIMITED_TOKEN_BUCKET');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('applies rateLimitBurst, errorRate, latency and dropConnection', async () => {
    sim.setFaults({ rateLimitBurst: { count: 1, retryAfterSec: 7 } });
    const burst = await call(sim, owner, G);
    expect(burst.status).toBe(429);
    expect(burst.headers.get('retry-after')).toBe('7');
    expect((await call(sim, owner, G)).status).toBe(200);

    sim.setFaults({ errorRate: { status: 503, rate: 1 } });
    expect((await call(sim, owner, G)).status).toBe(503);
    sim.setFaults({ errorRate: undefined, latencyMs: 60 });
    const t0 = Date.now();
    await call(sim, owner, G);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110); // challenge + answer
    sim.setFaults({ latencyMs: 0, dropConnection: { onCreate: 1 } });
    await expect(
      call(sim, owner, `${G}/cloudProviderAccess`, {
        method: 'POST',
        body: { providerName: 'AWS' },
      }),
    ).rejects.toThrow();
    // The create was processed before the connection dropped.
    expect(sim.state.accessRoles).toHaveLength(1);
    expect(
      (
        await call(sim, owner, `${G}/cloudProviderAccess`, {
          method: 'POST',
          body: { providerName: 'AWS' },
        })
      ).status,
    ).toBe(200);
  });
});

describe('private endpoints', () => {
  it('moves INITIATING -> PENDING_ACCEPTANCE -> ACTIVE, one per region, and deletes', async () => {
    const path = `${G}/backup/AWS/privateEndpoints`;
    sim.setDelays({ endpointProvisionMs: 600 });
    const created = await call(sim, owner, path, {
      method: 'POST',
      version: '2024-11-13',
      body: { cloudProvider: 'AWS', regionName: 'US_EAST_1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'INITIATING', vpcRegionName: 'US_EAST_1' });
    const dup = await call(sim, owner, path, {
      method: 'POST',
      version: '2024-11-13',
      body: { regionName: 'US_EAST_1' },
    });
    expect(dup.status).toBe(409);
    await sleep(250);
    expect(
      (await call(sim, owner, `${path}/${created.body.id}`, { version: '2024-11-13' })).body.status,
    ).toBe('PENDING_ACCEPTANCE');
    await sleep(400);
    expect(
      (await call(sim, owner, `${path}/${created.body.id}`, { version: '2024-11-13' })).body.status,
    ).toBe('ACTIVE');
    expect(
      (await call(sim, owner, `${G}/backup/GCP/privateEndpoints`, { version: '2024-11-13' }))
        .status,
    ).toBe(400);
    expect(
      (
        await call(sim, owner, `${path}/${created.body.id}`, {
          method: 'DELETE',
          version: '2024-11-13',
        })
      ).status,
    ).toBe(204);
    expect(
      (await call(sim, owner, `${path}/${created.body.id}`, { version: '2024-11-13' })).body.status,
    ).toBe('DELETING');
    await sleep(220);
    expect(
      (await call(sim, owner, `${path}/${created.body.id}`, { version: '2024-11-13' })).status,
    ).toBe(404);
  });

  it("takes regionName and vpcRegionName from the spec's enum and names the VPC endpoint like AWS", async () => {
    const path = `${G}/backup/AWS/privateEndpoints`;
    const create = (body: object) =>
      call(sim, owner, path, { method: 'POST', version: '2024-11-13', body });
    // Region names of the right shape that the spec's enum does not hold.
    for (const regionName of ['AP_SOUTHEAST_4', 'IL_CENTRAL_1', 'EU_CENTRAL_2', 'us-east-1']) {
      const refused = await create({ regionName });
      expect(refused.status, regionName).toBe(400);
      expect(refused.body.errorCode, regionName).toBe('INVALID_JSON_ATTRIBUTE');
      expect(refused.body.parameters, regionName).toEqual(['regionName', regionName]);
    }
    const badVpc = await create({ regionName: 'US_EAST_1', vpcRegionName: 'MX_CENTRAL_1' });
    expect(badVpc.body.parameters).toEqual(['vpcRegionName', 'MX_CENTRAL_1']);
    for (const regionName of [...privateEndpointRegions, 'GLOBAL']) {
      const created = await create({ regionName, vpcRegionName: 'EU_SOUTH_1' });
      expect(created.status, regionName).toBe(201);
    }
    expect(sim.state.privateEndpoints).toHaveLength(27);
    await sleep(FAST.endpointProvisionMs + 20);
    const listed = await call(sim, owner, path, { version: '2024-11-13' });
    const names = listed.body.results.map(
      (ep: { privateEndpointConnectionName: string }) => ep.privateEndpointConnectionName,
    );
    for (const name of names) expect(name).toMatch(/^vpce-[0-9a-f]{17}$/);
    expect(new Set(names).size).toBe(27);
  });

  it('fails with errorMessage when endpointFailure is set', async () => {
    sim.setFaults({ endpointFailure: { errorMessage: 'quota exceeded' } });
    const created = await call(sim, owner, `${G}/backup/AWS/privateEndpoints`, {
      method: 'POST',
      version: '2024-11-13',
      body: { regionName: 'EU_WEST_1' },
    });
    await sleep(30);
    const got = await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${created.body.id}`, {
      version: '2024-11-13',
    });
    expect(got.body).toMatchObject({ status: 'FAILED', errorMessage: 'quota exceeded' });
  });
});

async function awsSetup(
  externalId: string,
  atlasArn: string,
  bucket = 'export-bucket-1',
): Promise<string> {
  const role = await aws.iam.send(
    new CreateRoleCommand({
      RoleName: 'atlas-export',
      AssumeRolePolicyDocument: atlasTrust(atlasArn, externalId),
    }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: 'atlas-export',
      PolicyName: 'export',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: `arn:aws:s3:::${bucket}` },
          { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/*` },
        ],
      }),
    }),
  );
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return role.Role!.Arn!;
}

describe('IAM propagation', () => {
  it("runs from the IAM role's CreateDate, not from Atlas's first authorize attempt", async () => {
    const authorize = (roleId: string, arn: string) =>
      call(sim, owner, `${G}/cloudProviderAccess/${roleId}`, {
        method: 'PATCH',
        body: { providerName: 'AWS', iamAssumedRoleArn: arn },
      });
    const newRole = async () =>
      (
        await call(sim, owner, `${G}/cloudProviderAccess`, {
          method: 'POST',
          body: { providerName: 'AWS' },
        })
      ).body;
    sim.setDelays({ iamPropagationMs: 1500 });

    // A role created long enough ago is assumable at the first attempt.
    const early = await newRole();
    const arn = await awsSetup(early.atlasAssumedRoleExternalId, early.atlasAWSAccountArn);
    await sleep(1550);
    expect((await authorize(early.roleId, arn)).status).toBe(200);

    // A fresh role: refused while it propagates, accepted once 1.5 s have passed since its creation,
    // though only about 1.3 s after the first attempt.
    const fresh = await newRole();
    const created = await aws.iam.send(
      new CreateRoleCommand({
        RoleName: 'atlas-export-fresh',
        AssumeRolePolicyDocument: atlasTrust(
          fresh.atlasAWSAccountArn,
          fresh.atlasAssumedRoleExternalId,
        ),
      }),
    );
    const createdAt = created.Role!.CreateDate!.getTime();
    await sleep(Math.max(0, createdAt + 300 - Date.now()));
    const refused = await authorize(fresh.roleId, created.Role!.Arn!);
    expect(refused.body.errorCode).toBe('CANNOT_ASSUME_ROLE');
    expect(refused.body.detail).toMatch(/propagate/);
    await sleep(Math.max(0, createdAt + 1600 - Date.now()));
    expect(Date.now() - createdAt).toBeGreaterThanOrEqual(1500);
    expect((await authorize(fresh.roleId, created.Role!.Arn!)).status).toBe(200);
  });
});

describe('the export flow against moto', () => {
  it('authorizes, creates a private bucket, exports once, and guards deletes', async () => {
    const role = (
      await call(sim, owner, `${G}/cloudProviderAccess`, {
        method: 'POST',
        body: { providerName: 'AWS' },
      })
    ).body;
    expect(role.roleId).toMatch(/^[a-f0-9]{24}$/);
    expect(role.atlasAWSAccountArn).toMatch(/^arn:aws:iam::\d{12}:root$/);
    const unauthorized = await call(sim, owner, `${G}/backup/exportBuckets`, {
      method: 'POST',
      version: '2024-05-30',
      body: { bucketName: 'export-bucket-1', cloudProvider: 'AWS', iamRoleId: role.roleId },
    });
    expect(unauthorized.body.errorCode).toBe('CLOUD_PROVIDER_ACCESS_ROLE_NOT_AUTHORIZED');

    const arn = await awsSetup(role.atlasAssumedRoleExternalId, role.atlasAWSAccountArn);
    sim.setDelays({ iamPropagationMs: 5000 });
    const early = await call(sim, owner, `${G}/cloudProviderAccess/${role.roleId}`, {
      method: 'PATCH',
      body: { providerName: 'AWS', iamAssumedRoleArn: arn },
    });
    expect(early.status).toBe(400);
    expect(early.body.errorCode).toBe('CANNOT_ASSUME_ROLE');
    sim.setDelays({ iamPropagationMs: 0 });
    const authorized = await call(sim, owner, `${G}/cloudProviderAccess/${role.roleId}`, {
      method: 'PATCH',
      body: { providerName: 'AWS', iamAssumedRoleArn: arn },
    });
    expect(authorized.status).toBe(200);
    expect(authorized.body.authorizedDate).toBeDefined();

    const body = {
      bucketName: 'export-bucket-1',
      cloudProvider: 'AWS',
      iamRoleId: role.roleId,
      requirePrivateNetworking: true,
    };
    const noEndpoint = await call(sim, owner, `${G}/backup/exportBuckets`, {
      method: 'POST',
      version: '2024-05-30',
      body,
    });
    expect(noEndpoint.status).toBe(400);
    const ep = await call(sim, owner, `${G}/backup/AWS/privateEndpoints`, {
      method: 'POST',
      version: '2024-11-13',
      body: { regionName: 'US_EAST_1' },
    });
    await sleep(70);
    expect(
      (
        await call(sim, owner, `${G}/backup/AWS/privateEndpoints/${ep.body.id}`, {
          version: '2024-11-13',
        })
      ).body.status,
    ).toBe('ACTIVE');
    const bucket = await call(sim, owner, `${G}/backup/exportBuckets`, {
      method: 'POST',
      version: '2024-05-30',
      body,
    });
    expect(bucket.status).toBe(200);
    expect(bucket.body).toMatchObject({
      bucketName: 'export-bucket-1',
      region: 'us-east-1',
      requirePrivateNetworking: true,
    });
    expect(bucket.body._id).toMatch(/^[a-f0-9]{24}$/);
    const roleNow = await call(sim, owner, `${G}/cloudProviderAccess/${role.roleId}`);
    expect(roleNow.body.featureUsages).toEqual([
      {
        featureType: 'EXPORT_SNAPSHOT',
        featureId: { exportBucketId: bucket.body._id, groupId: sim.seed.projectId },
      },
    ]);

    const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
    const fallback = snaps.body.results.find(
      (s: { snapshotType: string }) => s.snapshotType === 'fallback',
    );
    const running = snaps.body.results.find((s: { status: string }) => s.status === 'inProgress');
    const good = snaps.body.results.find(
      (s: { status: string; snapshotType: string }) =>
        s.status === 'completed' && s.snapshotType === 'scheduled',
    );
    const exportsPath = `${G}/clusters/Cluster0/backup/exports`;
    expect(
      (
        await call(sim, owner, exportsPath, {
          method: 'POST',
          body: { snapshotId: fallback.id, exportBucketId: bucket.body._id },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call(sim, owner, exportsPath, {
          method: 'POST',
          body: { snapshotId: running.id, exportBucketId: bucket.body._id },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call(sim, owner, exportsPath, {
          method: 'POST',
          body: { snapshotId: good.id, exportBucketId: 'b'.repeat(24) },
        })
      ).status,
    ).toBe(400);
    sim.setDelays({ exportMs: 1600 });
    const job = await call(sim, owner, exportsPath, {
      method: 'POST',
      body: { snapshotId: good.id, exportBucketId: bucket.body._id },
    });
    expect(job.status).toBe(200);
    expect(job.body.state).toBe('Queued');
    expect(job.body.prefix).toMatch(
      /^\/exported_snapshots\/Sandbox_Org\/sandbox-project\/Cluster0\/\d{4}-\d{2}-\d{2}T\d{4}\/\d+$/,
    );
    expect(
      (
        await call(sim, owner, exportsPath, {
          method: 'POST',
          body: { snapshotId: good.id, exportBucketId: bucket.body._id },
        })
      ).body.errorCode,
    ).toBe('EXPORT_ALREADY_IN_PROGRESS');
    await sleep(600);
    expect((await call(sim, owner, `${exportsPath}/${job.body.id}`)).body.state).toBe('InProgress');
    await sleep(1100);
    const done = await Promise.all(
      [1, 2, 3].map(() => call(sim, owner, `${exportsPath}/${job.body.id}`)),
    );
    for (const d of done) expect(d.body.state).toBe('Successful');
    expect(done[0]!.body.exportStatus).toEqual({ exportedCollections: 3, totalCollections: 3 });
    const listed = await aws.s3.send(
      new ListObjectsV2Command({ Bucket: 'export-bucket-1', Prefix: job.body.prefix.slice(1) }),
    );
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys.filter((k) => k.endsWith('/.complete'))).toHaveLength(1);

    // Auto-export pins the bucket; the role is pinned by the bucket.
    const sched = await call(sim, owner, `${G}/clusters/Cluster0/backup/schedule`, {
      version: '2024-08-05',
    });
    const badFreq = await call(sim, owner, `${G}/clusters/Cluster0/backup/schedule`, {
      method: 'PATCH',
      version: '2024-08-05',
      body: {
        policies: sched.body.policies,
        autoExportEnabled: true,
        export: { exportBucketId: bucket.body._id, frequencyType: 'daily' },
      },
    });
    expect(badFreq.status).toBe(400);
    expect(
      (
        await call(sim, owner, `${G}/clusters/Cluster0/backup/schedule`, {
          method: 'PATCH',
          version: '2024-08-05',
          body: { autoExportEnabled: true },
        })
      ).body.errorCode,
    ).toBe('MISSING_ATTRIBUTE');
    const patched = await call(sim, owner, `${G}/clusters/Cluster0/backup/schedule`, {
      method: 'PATCH',
      version: '2024-08-05',
      body: {
        policies: sched.body.policies,
        autoExportEnabled: true,
        export: { exportBucketId: bucket.body._id, frequencyType: 'monthly' },
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.referenceHourOfDay).toBe(sched.body.referenceHourOfDay);
    const del = await call(sim, owner, `${G}/backup/exportBuckets/${bucket.body._id}`, {
      method: 'DELETE',
    });
    expect(del.body.errorCode).toBe('EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE');
    const deauth = await call(sim, owner, `${G}/cloudProviderAccess/AWS/${role.roleId}`, {
      method: 'DELETE',
    });
    expect(deauth.status).toBe(400);
    await call(sim, owner, `${G}/clusters/Cluster0/backup/schedule`, {
      method: 'PATCH',
      version: '2024-08-05',
      body: { policies: sched.body.policies, autoExportEnabled: false },
    });
    expect(
      (await call(sim, owner, `${G}/backup/exportBuckets/${bucket.body._id}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    expect(
      (await call(sim, owner, `${G}/cloudProviderAccess/AWS/${role.roleId}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
  });

  it('names the export path as Atlas does: spaces become underscores, characters S3 handles specially go', async () => {
    sim.state.orgs[0]!.name = 'Sandbox Org & Co: "R/D"';
    sim.state.groups[0]!.name = 'Data {Lake} #1?';
    addPublicExportBucket();
    const snaps = await call(sim, owner, `${G}/clusters/Cluster0/backup/snapshots`);
    const good = snaps.body.results.find(
      (x: { status: string; snapshotType: string }) =>
        x.status === 'completed' && x.snapshotType !== 'fallback',
    );
    const job = await call(sim, owner, `${G}/clusters/Cluster0/backup/exports`, {
      method: 'POST',
      body: { snapshotId: good.id, exportBucketId: 'c'.repeat(24) },
    });
    expect(job.body.prefix).toMatch(
      /^\/exported_snapshots\/Sandbox_Org__Co_RD\/Data_Lake_1\/Cluster0\/\d{4}-\d{2}-\d{2}T\d{4}\/\d+$/,
    );
  });

  it('fails export jobs when exportFailure is set and refuses ineligible clusters', async () => {
    addPublicExportBucket();
    sim.setFaults({ exportFailure: { errorCode: 'EXPORT_FAILED', message: 'disk full' } });
    const snaps = await call(
      sim,
      owner,
      `${G}/clusters/ShardedCluster0/backup/snapshots/shardedClusters`,
    );
    const job = await call(sim, owner, `${G}/clusters/ShardedCluster0/backup/exports`, {
      method: 'POST',
      body: { snapshotId: snaps.body.results[0].id, exportBucketId: 'c'.repeat(24) },
    });
    expect(job.body.components).toHaveLength(3);
    await sleep(50);
    const failed = await call(
      sim,
      owner,
      `${G}/clusters/ShardedCluster0/backup/exports/${job.body.id}`,
    );
    expect(failed.body).toMatchObject({
      state: 'Failed',
      stateReason: { errorCode: 'EXPORT_FAILED', message: 'disk full' },
    });
    for (const name of ['FreeCluster0', 'GcpCluster0', 'NoBackupCluster0']) {
      const r = await call(sim, owner, `${G}/clusters/${name}/backup/exports`, {
        method: 'POST',
        body: { snapshotId: 'a'.repeat(24), exportBucketId: 'c'.repeat(24) },
      });
      expect(r.status, name).toBe(400);
    }
  });
});
