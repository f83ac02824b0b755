/**
 * Contract test: drives every simulator operation in every version it supports, records the exchanges
 * with onExchange, and validates each response body against openapi-subset.json for that operation,
 * status and media type. Only the places NOTES.md section 13 lists are relaxed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MotoServer } from '../../src/sandbox/moto.js';
import type { AtlasSimulator, SimExchange } from '../../src/sim/index.js';
import { OPERATIONS } from '../../src/sim/operations.js';
import { awsClientsFor } from '../helpers/sandbox.js';
import { call, startAll, token, type Creds } from './sim-helpers.js';

const SPEC_FILE = resolve(process.cwd(), '../shared/atlas-admin-api/openapi-subset.json');
const hasSpec = existsSync(SPEC_FILE);
if (!hasSpec) console.warn(`contract tests skipped: ${SPEC_FILE} is absent`);

type Json = Record<string, any>;

/** Applies exactly the relaxations of NOTES.md section 13. */
function relax(spec: Json): Json {
  const s = structuredClone(spec);
  const walk = (node: Json | undefined): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(walk);
    if (node.oneOf && !node.discriminator) {
      // 13.1: oneOfs without a discriminator have overlapping branches (hardware specs, instance
      // sizes, region names; 11 places); Atlas's values match several, so check them as anyOf.
      node.anyOf = node.oneOf;
      delete node.oneOf;
      // 13.2: region names and instance sizes are declared `type: object` with string branches; Atlas sends strings.
      if (node.type === 'object' && node.anyOf.every((b: Json) => b.type === 'string'))
        delete node.type;
    }
    Object.values(node).forEach(walk);
  };
  walk(s.components);
  walk(s.paths);
  // 13.3: the prefix pattern is a literal template ({ORG-NAME}...), not a regex of real values.
  delete s.components.schemas.DiskBackupExportJob.properties.prefix.pattern;
  // 13.4: adaptiveCapacity is nullable but its enum has no null.
  const adaptive = s.components.schemas.ClusterDescription20240805.properties.adaptiveCapacity;
  if (adaptive.enum) adaptive.enum = [...adaptive.enum, null];
  // 13.5: ApiError.parameters items are declared objects; Atlas sends strings and numbers.
  s.components.schemas.ApiError.properties.parameters.items = {};
  return s;
}

/**
 * Ajv has no OpenAPI discriminator over allOf-based, recursive subtypes. Each discriminated schema B
 * becomes an if/then dispatch on the property's value to its mapped subtype, and the subtypes' allOf
 * reference a copy of B without the dispatch (B__base), which breaks the recursion. This is a
 * translation of the same constraint, not a relaxation.
 */
function translateDiscriminators(s: Json): void {
  const schemas = s.components.schemas as Json;
  for (const [name, schema] of Object.entries(schemas)) {
    const disc = schema.discriminator;
    if (!disc?.mapping) continue;
    const base = { ...schema };
    delete base.discriminator;
    delete base.oneOf;
    schemas[`${name}__base`] = base;
    const ref = `#/components/schemas/${name}`;
    for (const target of Object.values(disc.mapping) as string[]) {
      const t = schemas[target.split('/').pop()!];
      if (t?.allOf)
        t.allOf = t.allOf.map((p: Json) => (p.$ref === ref ? { $ref: `${ref}__base` } : p));
    }
    const branches = Object.entries(disc.mapping).map(([value, target]) => ({
      if: { properties: { [disc.propertyName]: { const: value } }, required: [disc.propertyName] },
      then: { $ref: target },
    }));
    schemas[name] = { allOf: [{ $ref: `${ref}__base` }, ...branches] };
  }
  const strip = (node: Json | undefined): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(strip);
    delete node.discriminator;
    Object.values(node).forEach(strip);
  };
  strip(s);
}

function pointer(...segments: string[]): string {
  return segments
    .map((seg) => encodeURIComponent(seg.replace(/~/g, '~0').replace(/\//g, '~1')))
    .join('/');
}

describe.skipIf(!hasSpec)('contract: simulator responses match the Atlas spec', () => {
  let moto: MotoServer;
  let sim: AtlasSimulator;
  const exchanges: SimExchange[] = [];
  let ajv: Ajv;
  let spec: Json;

  beforeAll(async () => {
    spec = relax(JSON.parse(readFileSync(SPEC_FILE, 'utf8')));
    translateDiscriminators(spec);
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    const addFormats = addFormatsModule as unknown as (a: Ajv) => void;
    addFormats(ajv);
    for (const f of ['int32', 'int64', 'double', 'float']) ajv.addFormat(f, true);
    ajv.addSchema(spec, 'spec');
    ({ moto, sim } = await startAll());
    sim.onExchange((e) => exchanges.push(e));
    await drive(sim, moto);
  }, 120_000);

  afterAll(async () => {
    await sim?.close();
    await moto?.stop();
  });

  const validators = new Map<string, ValidateFunction>();
  function validatorFor(e: SimExchange): ValidateFunction | undefined {
    const op = OPERATIONS.find((o) => o.operationId === e.operationId);
    const status = String(e.response.status);
    const type = e.response.headers['Content-Type'] ?? '';
    const responses = op
      ? spec.paths[`/api/atlas/v2${op.path}`]?.[op.method.toLowerCase()]?.responses
      : undefined;
    const declared = responses?.[status]?.content?.[type];
    let key: string;
    if (op && declared) {
      key = `spec#/${pointer('paths', `/api/atlas/v2${op.path}`, op.method.toLowerCase(), 'responses', status, 'content', type, 'schema')}`;
    } else if (type === 'application/json' && e.response.status >= 400) {
      // Error answers the operation does not declare (401 before routing, 406, 415): still an ApiError.
      key = 'spec#/components/schemas/ApiError';
    } else return undefined;
    let v = validators.get(key);
    if (!v) {
      v = ajv.compile({ $ref: key });
      validators.set(key, v);
    }
    return v;
  }

  it('covers every operation in every version it supports', () => {
    const seen = new Set(
      exchanges.filter((e) => e.response.status < 300).map((e) => `${e.operationId}@${e.version}`),
    );
    // The seed holds no serverless instance, so getGroupServerlessInstance is driven to its 404 only.
    const expected = OPERATIONS.filter(
      (o) => o.operationId !== 'getGroupServerlessInstance',
    ).flatMap((o) => o.versions.map((v) => `${o.operationId}@${v}`));
    expect(expected.filter((k) => !seen.has(k))).toEqual([]);
  });

  it('answers with bodies that validate against the spec', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const e of exchanges) {
      // The OAuth token endpoint is not part of the Administration API spec.
      if (e.response.body === undefined || e.request.path.startsWith('/api/oauth/')) continue;
      const v = validatorFor(e);
      if (!v) {
        failures.push(
          `${e.request.method} ${e.request.path} -> ${e.response.status} ${e.response.headers['Content-Type']}: no schema`,
        );
        continue;
      }
      checked += 1;
      if (!v(e.response.body)) {
        failures.push(
          `${e.operationId}@${e.version} ${e.response.status}: ${ajv.errorsText(v.errors).slice(0, 600)}`,
        );
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(60);
  });

  it('sends rate-limit headers on every 2xx answer of the API', () => {
    const ok = exchanges.filter((e) => e.operationId && e.response.status < 300);
    for (const e of ok) {
      expect(e.response.headers['RateLimit-Limit'], e.operationId).toBeDefined();
      expect(e.response.headers['RateLimit-Remaining'], e.operationId).toBeDefined();
    }
  });
});

async function drive(sim: AtlasSimulator, moto: MotoServer): Promise<void> {
  const owner: Creds = sim.seed.credentials.owner;
  const G = `/groups/${sim.seed.projectId}`;
  const aws = await awsClientsFor({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_CA_BUNDLE: moto.caFile,
  });
  const get = (path: string, version: string) => call(sim, owner, path, { version });
  const send = (method: string, path: string, version: string, body?: unknown) =>
    call(sim, owner, path, { method, version, ...(body !== undefined ? { body } : {}) });

  await get('', '2023-01-01');
  await call(sim, { token: await token(sim) }, '', { version: '2023-01-01' });
  await get('/groups', '2023-01-01');
  await get(G, '2023-01-01');
  for (const v of ['2023-01-01', '2023-02-01', '2024-08-05']) {
    await get(`${G}/clusters`, v);
    for (const name of ['Cluster0', 'ShardedCluster0', 'FreeCluster0', 'GcpCluster0'])
      await get(`${G}/clusters/${name}`, v);
  }
  await get(`${G}/flexClusters`, '2024-11-13');
  await get(`${G}/flexClusters/FlexCluster0`, '2024-11-13');
  await get(`${G}/serverless/Nope`, '2023-01-01');

  const role = (
    await send('POST', `${G}/cloudProviderAccess`, '2023-01-01', { providerName: 'AWS' })
  ).body;
  await get(`${G}/cloudProviderAccess`, '2023-01-01');
  await get(`${G}/cloudProviderAccess/${role.roleId}`, '2023-01-01');
  const trust = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: role.atlasAWSAccountArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': role.atlasAssumedRoleExternalId } },
      },
    ],
  });
  const iamRole = await aws.iam.send(
    new CreateRoleCommand({ RoleName: 'contract-export', AssumeRolePolicyDocument: trust }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: 'contract-export',
      PolicyName: 'p',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['s3:GetBucketLocation', 's3:PutObject'],
            Resource: ['arn:aws:s3:::contract-bucket', 'arn:aws:s3:::contract-bucket/*'],
          },
        ],
      }),
    }),
  );
  await aws.s3.send(new CreateBucketCommand({ Bucket: 'contract-bucket' }));
  await send('PATCH', `${G}/cloudProviderAccess/${role.roleId}`, '2023-01-01', {
    providerName: 'AWS',
    iamAssumedRoleArn: iamRole.Role!.Arn,
  });

  sim.setDelays({ endpointProvisionMs: 30 });
  const ep = (
    await send('POST', `${G}/backup/AWS/privateEndpoints`, '2024-11-13', {
      cloudProvider: 'AWS',
      regionName: 'US_EAST_1',
    })
  ).body;
  await new Promise((r) => setTimeout(r, 50));
  await get(`${G}/backup/AWS/privateEndpoints`, '2024-11-13');
  await get(`${G}/backup/AWS/privateEndpoints/${ep.id}`, '2024-11-13');

  const buckets: string[] = [];
  for (const v of ['2023-01-01', '2024-05-30']) {
    await aws.s3.send(new CreateBucketCommand({ Bucket: `contract-${v}` })).catch(() => undefined);
    const b = await send('POST', `${G}/backup/exportBuckets`, v, {
      bucketName: 'contract-bucket',
      cloudProvider: 'AWS',
      iamRoleId: role.roleId,
      requirePrivateNetworking: v === '2024-05-30',
    });
    buckets.push(b.body._id);
    await get(`${G}/backup/exportBuckets`, v);
    await get(`${G}/backup/exportBuckets/${b.body._id}`, v);
  }
  await send('PATCH', `${G}/backup/exportBuckets/${buckets[0]}`, '2024-05-30', {
    requirePrivateNetworking: true,
  });

  for (const cluster of ['Cluster0', 'ShardedCluster0']) {
    const C = `${G}/clusters/${cluster}`;
    const list =
      cluster === 'Cluster0'
        ? await get(`${C}/backup/snapshots`, '2023-01-01')
        : await get(`${C}/backup/snapshots/shardedClusters`, '2023-01-01');
    const snap = list.body.results.find(
      (s: Json) => s.status === 'completed' && s.snapshotType !== 'fallback',
    );
    await get(
      cluster === 'Cluster0'
        ? `${C}/backup/snapshots/${snap.id}`
        : `${C}/backup/snapshots/shardedCluster/${snap.id}`,
      '2023-01-01',
    );
    const job = (
      await send('POST', `${C}/backup/exports`, '2023-01-01', {
        snapshotId: snap.id,
        exportBucketId: buckets[1],
        customData: [{ key: 'k', value: 'v' }],
      })
    ).body;
    await new Promise((r) => setTimeout(r, 120));
    await get(`${C}/backup/exports`, '2023-01-01');
    await get(`${C}/backup/exports/${job.id}`, '2023-01-01');
    for (const v of ['2023-01-01', '2024-08-05']) {
      const sched = (await get(`${C}/backup/schedule`, v)).body;
      await send('PATCH', `${C}/backup/schedule`, v, {
        policies: sched.policies,
        autoExportEnabled: true,
        export: { exportBucketId: buckets[1], frequencyType: 'monthly' },
      });
    }
  }
  // A failed job with stateReason.
  sim.setFaults({ exportFailure: { errorCode: 'EXPORT_FAILED', message: 'simulated' } });
  const snaps = (
    await get(`${G}/clusters/Cluster0/backup/snapshots`, '2023-01-01')
  ).body.results.filter((s: Json) => s.status === 'completed' && s.snapshotType !== 'fallback');
  const failed = (
    await send('POST', `${G}/clusters/Cluster0/backup/exports`, '2023-01-01', {
      snapshotId: snaps[1].id,
      exportBucketId: buckets[1],
    })
  ).body;
  await new Promise((r) => setTimeout(r, 80));
  await get(`${G}/clusters/Cluster0/backup/exports/${failed.id}`, '2023-01-01');
  sim.setFaults({ exportFailure: undefined });

  // Error answers.
  await send('DELETE', `${G}/backup/exportBuckets/${buckets[1]}`, '2023-01-01');
  await send('POST', `${G}/backup/exportBuckets`, '2024-05-30', { bucketName: 'x' });
  await get(`${G}/clusters/Nope`, '2024-08-05');
  await get(`${G}/clusters?itemsPerPage=0`, '2024-08-05');
  await get(G, '2099-01-01');
  await call(sim, sim.seed.credentials.otherOrg, G, { version: '2023-01-01' });
  await call(sim, sim.seed.credentials.readOnly, `${G}/cloudProviderAccess`, {
    method: 'POST',
    version: '2023-01-01',
    body: { providerName: 'AWS' },
  });
  sim.setFaults({ rateLimitBurst: { count: 1, retryAfterSec: 1 } });
  await get(G, '2023-01-01');

  // Deletes last.
  for (const C of ['Cluster0', 'ShardedCluster0']) {
    const sched = (await get(`${G}/clusters/${C}/backup/schedule`, '2024-08-05')).body;
    await send('PATCH', `${G}/clusters/${C}/backup/schedule`, '2024-08-05', {
      policies: sched.policies,
      autoExportEnabled: false,
    });
  }
  for (const id of buckets) await send('DELETE', `${G}/backup/exportBuckets/${id}`, '2023-01-01');
  await send('DELETE', `${G}/backup/AWS/privateEndpoints/${ep.id}`, '2024-11-13');
  await send('DELETE', `${G}/cloudProviderAccess/AWS/${role.roleId}`, '2023-01-01');
}
