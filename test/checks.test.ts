/**
 * src/checks.ts in process: checkAll against moto and the Atlas simulator after a real setup (the
 * built CLI), what each result carries, and how an unreadable resource is reported; plus the pure
 * helpers (broadening, formatting).
 */
import { Writable } from 'node:stream';
import { PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { awsClientsFor, useSandbox } from './helpers/sandbox.js';
import { freshScenario, runSetup } from './helpers/setup.js';
import {
  allInPlace,
  broadenedBy,
  checkAll,
  formatResult,
  type CheckResult,
} from '../src/checks.js';
import { Output } from '../src/output.js';
import { openSession } from '../src/session.js';
import { permissionPolicy } from '../src/aws/policies.js';
import type { StateFile } from '../src/state/schema.js';

const sandbox = useSandbox();

function quietOutput(): Output {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  return new Output({ stdout: sink, stderr: sink, interactive: false });
}

async function setupState(): Promise<{ statePath: string; state: StateFile; bucket: string }> {
  const { statePath, bucket } = freshScenario('checks');
  const state = (await runSetup(sandbox, statePath, bucket)) as StateFile;
  return { statePath, state, bucket };
}

describe('checkAll', () => {
  it('checks every recorded resource with read calls only, naming the call and time of each observation; an unreadable side is not-checked with the reason', async () => {
    const { statePath, state, bucket } = await setupState();
    const started = Date.now();
    const callsBefore = sandbox.atlas.calls.length;
    const session = openSession(
      quietOutput(),
      { state: statePath },
      { ...process.env, ...sandbox.env },
    );
    const results = await checkAll(session, state);
    expect(allInPlace(results), JSON.stringify(results, null, 2)).toBe(true);
    expect(results).toHaveLength(7);
    for (const result of results) {
      expect(Date.parse(result.at)).toBeGreaterThanOrEqual(started - 1000);
    }
    const byKind = Object.fromEntries(results.map((result) => [result.resource, result]));
    expect(byKind.atlasRole!.call).toBe(
      `GET /api/atlas/v2/groups/${state.atlas.projectId}/cloudProviderAccess/${state.resources.atlasRole!.roleId}`,
    );
    expect(byKind.schedule!.call).toBe(
      `GET /api/atlas/v2/groups/${state.atlas.projectId}/clusters/${state.atlas.clusterName}/backup/schedule`,
    );
    expect(byKind.bucket!.call).toContain('s3:GetBucketPublicAccessBlock');
    expect(byKind.bucketPolicy!.observed.ourStatements).toHaveLength(3);
    expect(byKind.iamRole!.observed.arn).toBe(state.resources.iamRole!.arn);
    expect(byKind.atlasRole!.observed.iamAssumedRoleArn).toBe(state.resources.iamRole!.arn);
    expect(sandbox.atlas.calls.slice(callsBefore).every((call) => call.method === 'GET')).toBe(
      true,
    );
    expect(session.counts.atlas.writes).toBe(0);
    expect(session.counts.aws.writes).toBe(0);

    // Drift on the AWS side and wrong Atlas credentials: the AWS checks still report, the Atlas ones are not-checked.
    const aws = await awsClientsFor(sandbox.env);
    await aws.s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: false,
          IgnorePublicAcls: true,
          BlockPublicPolicy: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
    const badAtlas = openSession(
      quietOutput(),
      { state: statePath },
      { ...process.env, ...sandbox.env, MONGODB_ATLAS_PRIVATE_API_KEY: 'not-the-key' },
    );
    const mixed = Object.fromEntries(
      (await checkAll(badAtlas, state)).map((result) => [result.resource, result]),
    );
    expect(mixed.bucket!.status).toBe('drifted');
    expect(mixed.bucket!.findings).toEqual(['Block Public Access is turned off (BlockPublicAcls)']);
    expect(mixed.iamRole!.status).toBe('in-place');
    for (const kind of ['atlasRole', 'privateEndpoint', 'exportBucket', 'schedule']) {
      expect(mixed[kind]!.status).toBe('not-checked');
      expect(mixed[kind]!.findings[0]).toMatch(/^could not check: /);
      expect(mixed[kind]!.findings[0]).not.toContain('not-the-key');
    }
  });

  it('reports what the state records, a bucket policy without its bucket as not checked, and the missing bucket record as one "not checked" bucket line', async () => {
    const { statePath, state } = await setupState();
    const partial: StateFile = structuredClone(state);
    partial.resources = {
      bucketPolicy: state.resources.bucketPolicy,
      exportBucket: state.resources.exportBucket,
    };
    const session = openSession(
      quietOutput(),
      { state: statePath },
      { ...process.env, ...sandbox.env },
    );
    const results = await checkAll(session, partial);
    expect(results.map((result) => [result.resource, result.status])).toEqual([
      ['bucket', 'not-checked'],
      ['bucketPolicy', 'not-checked'],
      ['exportBucket', 'in-place'],
    ]);
    expect(results[0]).toMatchObject({
      id: '(none)',
      findings: ['no bucket recorded in the state file, so the bucket was not checked'],
      error: { code: 'SETUP_INCOMPLETE', exitCode: 5 },
    });
  });
});

describe('broadenedBy', () => {
  const expected = permissionPolicy({ bucket: 'b', partition: 'aws' });

  it('is empty for the least-privilege policy itself and for a narrower one', () => {
    expect(broadenedBy(expected, expected)).toEqual([]);
    expect(
      broadenedBy(
        {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/*' }],
        },
        expected,
      ),
    ).toEqual([]);
  });

  it('names the extra actions and resources, wildcards and NotAction', () => {
    const wider = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow' as const,
          Action: ['s3:PutObject', 's3:GetObject'],
          Resource: 'arn:aws:s3:::b/*',
        },
        { Effect: 'Allow' as const, Action: 's3:PutObject', Resource: '*' },
        { Effect: 'Allow' as const, NotAction: 'iam:*', Resource: '*' },
        { Effect: 'Deny' as const, Action: 's3:*', Resource: '*' },
      ],
    };
    expect(broadenedBy(wider, expected)).toEqual([
      's3:getobject on arn:aws:s3:::b/*',
      's3:putobject on *',
      'all actions but iam:* on *',
    ]);
  });
});

describe('formatResult', () => {
  const base: CheckResult = {
    resource: 'exportBucket',
    id: 'abc',
    status: 'in-place',
    findings: [],
    fixes: [],
    observed: {},
    call: 'GET x',
    at: new Date(0).toISOString(),
  };
  it('prints one line with the status, the resource and the findings, then a line per fix', () => {
    expect(formatResult(base)).toBe('in place    export bucket abc');
    expect(formatResult({ ...base, status: 'drifted', findings: ['one', 'two'] })).toBe(
      'drifted     export bucket abc: one; two',
    );
    expect(
      formatResult({
        ...base,
        status: 'drifted',
        findings: ['one'],
        fixes: ['do this', 'then that'],
      }),
    ).toBe('drifted     export bucket abc: one\n  fix: do this\n  fix: then that');
    expect(allInPlace([base, { ...base, status: 'not-checked' }])).toBe(false);
  });
});
