/**
 * Contract tests against openapi-subset.json (found by test/sim/spec.ts; skipped with a message when
 * it is absent). Two phases feed them, both recorded with onExchange on one sandbox:
 * - a drive of every operation in every version it lists, plus the error answers;
 * - the real CLI (setup with export-now and schedule, export, schedule change and disable, status,
 *   teardown; and a sharded-cluster setup) against the sandbox.
 * Every answer is validated for its operation, status and media type; every request the CLI sends
 * is validated too (media type, body against the request schema with no undeclared field, query
 * parameters the operation declares). Coverage is counted against the spec's operations, not the
 * simulator's list. Only the places NOTES.md section 13 lists are relaxed.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { privateEndpointRegions } from '../../src/regions.js';
import type { SimExchange } from '../../src/sim/index.js';
import { OPERATIONS } from '../../src/atlas/operations.js';
import { runCli } from '../helpers/cli.js';
import { awsClientsFor, useSandbox, type SandboxHandle } from '../helpers/sandbox.js';
import { freshScenario, runSetup } from '../helpers/setup.js';
import { atlasTrust, call, token, type Creds } from './sim-helpers.js';
import { Contract, findSpec, versionOf, type Json } from './spec.js';

const found = findSpec();
if (!found.file) console.warn(`contract tests skipped: ${found.why}`);

describe('finding the spec', () => {
  it('walks up from the repository root through every ancestor; ATLAS_ADMIN_API_SPEC overrides', () => {
    const top = mkdtempSync(join(tmpdir(), 'spec-find-'));
    const deep = join(top, 'a', 'b', 'c', 'clone');
    mkdirSync(deep, { recursive: true });
    expect(findSpec({}, deep).file).toBeUndefined();
    expect(findSpec({}, deep).why).toContain('any folder above it');
    mkdirSync(join(top, 'shared', 'atlas-admin-api'), { recursive: true });
    const file = join(top, 'shared', 'atlas-admin-api', 'openapi-subset.json');
    writeFileSync(file, '{}');
    expect(findSpec({}, deep).file).toBe(file);
    const other = join(top, 'elsewhere.json');
    writeFileSync(other, '{}');
    expect(findSpec({ ATLAS_ADMIN_API_SPEC: other }, deep).file).toBe(other);
    expect(findSpec({ ATLAS_ADMIN_API_SPEC: join(top, 'missing.json') }, deep)).toEqual({
      why: `ATLAS_ADMIN_API_SPEC=${join(top, 'missing.json')} names no file`,
    });
  });
});

const isChallenge = (e: SimExchange) =>
  e.response.status === 401 && e.response.headers['WWW-Authenticate'] !== undefined;
const isOAuth = (e: SimExchange) => e.request.path.startsWith('/api/oauth/');

describe.skipIf(!found.file)('contract: the simulator and the CLI against the Atlas spec', () => {
  const sandbox = useSandbox({ faults: { rateLimit: { capacity: 5000, refillPerSec: 5000 } } });
  const driven: SimExchange[] = [];
  const fromCli: SimExchange[] = [];
  let contract: Contract;

  beforeAll(async () => {
    contract = Contract.load(found.file!);
    let sink = driven;
    const stop = sandbox.atlas.onExchange((e) => sink.push(e));
    try {
      await driveEveryOperation(sandbox);
      await sandbox.atlas.reset();
      await sandbox.moto.reset();
      sink = fromCli;
      await runCliFlows(sandbox);
    } finally {
      stop();
    }
  }, 300_000);

  const all = () => [...driven, ...fromCli];

  /** Checks one answer; returns problems, and the `operationId status version` it covers when 2xx. */
  function checkAnswer(e: SimExchange): { problems: string[]; covers?: string } {
    const where = `${e.request.method} ${e.request.path} -> ${e.response.status}`;
    const o = contract.match(e.request.method, e.request.path);
    if (!o) return { problems: [`${where}: no such operation in the spec`] };
    const problems: string[] = [];
    // Answers given before routing (Digest challenges, rate limits) name no operation; 2xx ones must.
    if ((e.operationId !== undefined || e.response.status < 300) && e.operationId !== o.operationId)
      problems.push(
        `${where}: the simulator routed it to ${e.operationId}, the spec says ${o.operationId}`,
      );
    const status = String(e.response.status);
    const type = e.response.headers['Content-Type'];
    if (e.response.status < 300) {
      const version = versionOf(type) ?? versionOf(e.request.headers.accept);
      if (!o.answers.includes(`${status} ${version}`))
        return {
          problems: [...problems, `${where}: the spec declares no ${status} in ${version}`],
        };
      if (e.response.status === 204) {
        if (e.response.body !== undefined || type !== undefined)
          problems.push(`${where}: a 204 with a body or a Content-Type`);
        return { problems, covers: `${o.operationId} ${status} ${version}` };
      }
      const v = contract.validator(contract.responseSchema(o, status, type!));
      if (!v(e.response.body))
        problems.push(
          `${o.operationId}@${version} ${status}: ${contract.ajv.errorsText(v.errors).slice(0, 600)}`,
        );
      return { problems, covers: `${o.operationId} ${status} ${version}` };
    }
    // Errors: the operation's declared response when it has this status, else Atlas's ApiError.
    if (type !== 'application/json')
      return { problems: [...problems, `${where}: Content-Type ${type}`] };
    const declared = contract.resolve(o.op.responses?.[status]);
    const v = contract.validator(
      declared?.content?.[type]
        ? contract.responseSchema(o, status, type)
        : 'components/schemas/ApiError',
    );
    if (!v(e.response.body))
      problems.push(`${where}: ${contract.ajv.errorsText(v.errors).slice(0, 400)}`);
    return { problems };
  }

  it('the simulator serves exactly the spec operations, with their versions, statuses and roles', () => {
    const problems: string[] = [];
    for (const o of contract.operations) {
      const def = OPERATIONS.find(
        (d) => d.method === o.method && `/api/atlas/v2${d.path}` === o.path.replace(/\/$/, ''),
      );
      if (!def) {
        problems.push(`${o.operationId}: not served`);
        continue;
      }
      if (def.operationId !== o.operationId)
        problems.push(`${o.path}: ${def.operationId} vs ${o.operationId}`);
      const specVersions = [...new Set(o.answers.map((a) => a.split(' ')[1]))].sort();
      const specStatus = [...new Set(o.answers.map((a) => Number(a.split(' ')[0])))];
      expect(def.versions.slice().sort(), o.operationId).toEqual(specVersions);
      expect([def.status], o.operationId).toEqual(specStatus);
      expect((def.bodyVersions ?? []).slice().sort(), o.operationId).toEqual(
        o.bodyVersions.slice().sort(),
      );
      // The role: the spec's x-rolesRequirements (one role per operation here, none for two).
      const roles = (o.op['x-rolesRequirements'] ?? []) as string[];
      expect(def.role ? [def.role] : [], o.operationId).toEqual(roles);
    }
    expect(problems).toEqual([]);
    expect(OPERATIONS).toHaveLength(contract.operations.length);
  });

  it("the client's regions with object-storage private endpoints are the spec's enum without GLOBAL", () => {
    const props = contract.raw.components.schemas.ObjectStoragePrivateEndpointRequest.properties;
    for (const field of ['regionName', 'vpcRegionName']) {
      const values = props[field].oneOf[0].enum as string[];
      expect(values, field).toHaveLength(27);
      expect([...privateEndpointRegions, 'GLOBAL'].sort(), field).toEqual([...values].sort());
    }
  });

  it('answers every spec operation in every version 2xx at least once, each validated', () => {
    const wanted = contract.operations.flatMap((o) =>
      o.answers.map((a) => `${o.operationId} ${a}`),
    );
    const covered = new Set(
      all()
        .filter((e) => !isOAuth(e) && !isChallenge(e) && e.response.status < 300)
        .map((e) => checkAnswer(e))
        .filter((r) => r.problems.length === 0 && r.covers)
        .map((r) => r.covers),
    );
    expect(wanted.length).toBeGreaterThanOrEqual(contract.operations.length);
    expect(wanted.filter((key) => !covered.has(key))).toEqual([]);
  });

  it('answers with status, media type and body as the spec declares them (errors as ApiError)', () => {
    const problems: string[] = [];
    let answered = 0;
    let challenges = 0;
    for (const e of all()) {
      if (isOAuth(e)) continue;
      if (isChallenge(e)) challenges += 1;
      else answered += 1;
      problems.push(...checkAnswer(e).problems);
    }
    expect(problems).toEqual([]);
    // The answers after authentication, not the Digest challenges, are what is checked.
    expect(answered).toBeGreaterThan(contract.operations.length * 2);
    expect(challenges).toBeGreaterThan(0);
    const cliAnswers = fromCli.filter((e) => !isOAuth(e) && !isChallenge(e));
    expect(cliAnswers.length).toBeGreaterThan(40);
  });

  it('the CLI sends only what the spec declares: media types, bodies, query parameters', () => {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const e of fromCli) {
      if (isOAuth(e)) continue;
      const where = `${e.request.method} ${e.request.path}`;
      const o = contract.match(e.request.method, e.request.path);
      if (!o) {
        problems.push(`${where}: no such operation in the spec`);
        continue;
      }
      seen.add(o.operationId);
      const accept = versionOf(e.request.headers.accept);
      if (!o.answers.some((a) => a.endsWith(` ${accept}`)))
        problems.push(
          `${where}: Accept ${e.request.headers.accept} is not a version of ${o.operationId}`,
        );
      const query = new URL(e.request.path, 'http://x').searchParams;
      const declared = contract.queryParameters(o);
      for (const name of new Set(query.keys()))
        if (!declared.includes(name))
          problems.push(`${where}: query parameter ${name} is not in the spec`);
      const hasBody = e.request.body !== undefined && e.request.body !== '';
      if (!hasBody) {
        if (o.op.requestBody?.required) problems.push(`${where}: no body, the spec requires one`);
        continue;
      }
      if (!o.op.requestBody) {
        problems.push(`${where}: a body the spec does not take`);
        continue;
      }
      for (const p of contract.requestProblems(
        o,
        e.request.headers['content-type'],
        e.request.body,
      ))
        problems.push(`${where}: ${p}`);
    }
    expect(problems).toEqual([]);
    // The flows reached the writes whose bodies matter.
    for (const id of [
      'createGroupCloudProviderAccess',
      'authorizeGroupCloudProviderAccessRole',
      'createGroupBackupPrivateEndpoint',
      'createGroupBackupExportBucket',
      'createGroupClusterBackupExport',
      'updateGroupClusterBackupSchedule',
      'listGroupClusterBackupSnapshotShardedClusters',
      'deleteGroupBackupExportBucket',
      'deleteGroupBackupPrivateEndpoint',
      'deauthorizeGroupCloudProviderAccessRole',
    ])
      expect(seen, id).toContain(id);
  });

  it('the request check fails a field the spec does not have, and a missing or unmapped discriminator', () => {
    const sent = (operationId: string) =>
      fromCli.find(
        (e) =>
          contract.match(e.request.method, e.request.path)?.operationId === operationId &&
          e.request.body !== undefined,
      )!;
    const problemsWith = (e: SimExchange, body: unknown) =>
      contract.requestProblems(
        contract.match(e.request.method, e.request.path)!,
        e.request.headers['content-type'],
        body,
      );
    const bucket = sent('createGroupBackupExportBucket');
    const body = bucket.request.body as Json;
    expect(problemsWith(bucket, body)).toEqual([]);
    expect(problemsWith(bucket, { ...body, region: 'us-east-1' })).toEqual([
      'body.region is not in the spec',
    ]);
    const noProvider = { ...body };
    delete noProvider.cloudProvider;
    expect(problemsWith(bucket, noProvider).join(' ')).toMatch(/cloudProvider/);
    expect(problemsWith(bucket, { ...body, cloudProvider: 'OCI' }).length).toBeGreaterThan(0);
    const schedule = sent('updateGroupClusterBackupSchedule');
    const patch = schedule.request.body as Json;
    expect(problemsWith(schedule, patch)).toEqual([]);
    expect(
      problemsWith(schedule, { ...patch, policies: [{ ...patch.policies[0], cadence: 'x' }] }),
    ).toEqual(['body.policies[0].cadence is not in the spec']);
    const job = sent('createGroupClusterBackupExport');
    expect(
      problemsWith(job, {
        ...(job.request.body as Json),
        customData: [{ key: 'k', value: 'v', note: 1 }],
      }),
    ).toEqual(['body.customData[0].note is not in the spec']);
  });

  it('the discriminator translation keeps the check that a discriminator value is present and mapped', () => {
    const answer = (version: string) =>
      driven.find(
        (e) =>
          e.operationId === 'getGroupCluster' &&
          e.version === version &&
          e.response.status === 200 &&
          e.request.path.endsWith('/Cluster0'),
      )!;
    const valid = (e: SimExchange, body: Json) => {
      const o = contract.match(e.request.method, e.request.path)!;
      const type = e.response.headers['Content-Type']!;
      return contract.validator(contract.responseSchema(o, '200', type))(body);
    };
    // CloudRegionConfig20240805 does not list providerName as required: only the translation does.
    const current = answer('2024-08-05');
    const body = current.response.body as Json;
    expect(valid(current, body)).toBe(true);
    const noProvider = structuredClone(body);
    delete noProvider.replicationSpecs[0].regionConfigs[0].providerName;
    expect(valid(current, noProvider)).toBe(false);
    // ClusterProviderSettings gives providerName no enum: an unmapped value fails only by the mapping.
    const legacy = answer('2023-01-01');
    expect(valid(legacy, legacy.response.body as Json)).toBe(true);
    const unmapped = structuredClone(legacy.response.body as Json);
    unmapped.providerSettings.providerName = 'OCI';
    expect(valid(legacy, unmapped)).toBe(false);
  });

  it('sends rate-limit headers on every 2xx answer of the API', () => {
    for (const e of all().filter((x) => x.operationId && x.response.status < 300)) {
      expect(e.response.headers['RateLimit-Limit'], e.operationId).toBeDefined();
      expect(e.response.headers['RateLimit-Remaining'], e.operationId).toBeDefined();
    }
  });
});

/** The real CLI through the flows a user runs, against the sandbox. */
async function runCliFlows(sandbox: SandboxHandle): Promise<void> {
  const expectOk = (result: { code: number | null; stderr: string }, what: string) =>
    expect(result.code, `${what}:\n${result.stderr}`).toBe(0);
  const { statePath, bucket } = freshScenario('contract');
  await runSetup(sandbox, statePath, bucket, ['--export-now', 'latest', '--schedule', 'monthly']);
  const run = (args: string[]) =>
    runCli([...args, '--state', statePath, '--non-interactive', '--json'], { env: sandbox.env });
  expectOk(await run(['status']), 'status');
  expectOk(await run(['export', '--latest', '--custom', 'ticket=OPS-1']), 'export');
  expectOk(await run(['export', '--list']), 'export --list');
  expectOk(await run(['schedule', '--frequency', 'yearly', '--yes']), 'schedule --frequency');
  expectOk(await run(['schedule', '--disable', '--yes']), 'schedule --disable');
  expectOk(await run(['teardown', '--yes']), 'teardown');
  const sharded = freshScenario('contract-sharded');
  await runSetup(
    sandbox,
    sharded.statePath,
    sharded.bucket,
    ['--export-now', 'latest'],
    sandbox.atlas.seed.clusters.sharded,
  );
}

/** Every simulator operation in every version it lists, and the error answers. */
async function driveEveryOperation(sandbox: SandboxHandle): Promise<void> {
  const sim = sandbox.atlas;
  const owner: Creds = sim.seed.credentials.owner;
  const G = `/groups/${sim.seed.projectId}`;
  const aws = await awsClientsFor(sandbox.env);
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
  await get(`${G}/serverless/${sim.state.serverlessInstances[0]!.name}`, '2023-01-01');
  await get(`${G}/serverless/Nope`, '2023-01-01');

  const role = (
    await send('POST', `${G}/cloudProviderAccess`, '2023-01-01', { providerName: 'AWS' })
  ).body;
  await get(`${G}/cloudProviderAccess`, '2023-01-01');
  await get(`${G}/cloudProviderAccess/${role.roleId}`, '2023-01-01');
  const iamRole = await aws.iam.send(
    new CreateRoleCommand({
      RoleName: 'contract-export',
      AssumeRolePolicyDocument: atlasTrust(
        role.atlasAWSAccountArn,
        role.atlasAssumedRoleExternalId,
      ),
    }),
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
  sim.setDelays({ iamPropagationMs: 0, endpointProvisionMs: 30, exportMs: 80 });
  await send('PATCH', `${G}/cloudProviderAccess/${role.roleId}`, '2023-01-01', {
    providerName: 'AWS',
    iamAssumedRoleArn: iamRole.Role!.Arn,
  });

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
  await call(sim, owner, G, { accept: null });
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
