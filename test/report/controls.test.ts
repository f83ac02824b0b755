/**
 * The controls, the report assembly and the Markdown renderer on hand-made observations: the
 * not-checked paths (a failed read, a resource the state file does not record), the verdict, the
 * schema, and cell escaping. The live behaviour is tested in test/commands/report.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { permissionPolicy, trustPolicy, bucketPolicyStatements } from '../../src/aws/policies.js';
import { assembleReport, exitCodeOf, verdictOf } from '../../src/report/build.js';
import { evaluateControls } from '../../src/report/controls.js';
import { cell, renderMarkdown } from '../../src/report/markdown.js';
import type { Facts, Observation, Subject } from '../../src/report/observe.js';
import { EvidenceReport } from '../../src/report/schema.js';

const AT = '2026-12-03T19:00:00.000Z';
const ok = <T>(call: string, value: T): Observation<T> => ({ ok: true, call, at: AT, value });
const failed = <T>(call: string, error: string, exitCode = 3, gone = false): Observation<T> => ({
  ok: false,
  call,
  at: AT,
  error,
  code: gone ? 'NOT_FOUND' : 'SOME_ERROR',
  exitCode,
  hint: 'do something',
  gone,
});

const P = '6650a1b2c3d4e5f601000001';
const EB = 'af5bc7c1994962993e14906e';
const ROLE_ID = '196c18c0ce25ef00c597367f';
const ATLAS = 'arn:aws:iam::536727724300:root';
const EXT = 'b23fa59b-3bc9-4823-ba4f-18057880b955';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/r';

const subject: Subject = {
  statePath: '/tmp/state.json',
  accountId: '123456789012',
  baseUrl: 'https://cloud.mongodb.com',
  projectId: P,
  clusterName: 'Cluster0',
  bucketName: 'b',
  bucketRegion: 'us-east-1',
  exportBucketId: EB,
  atlasRoleId: ROLE_ID,
  iamRoleName: 'r',
  iamRoleArn: ROLE_ARN,
  privateEndpointId: 'e'.repeat(24),
};

function goodFacts(): Facts {
  const exportBucket = {
    _id: EB,
    bucketName: 'b',
    cloudProvider: 'AWS' as const,
    iamRoleId: ROLE_ID,
    requirePrivateNetworking: true,
    region: 'us-east-1',
  };
  return {
    identity: ok('sts:GetCallerIdentity', {
      account: '123456789012',
      arn: 'arn:aws:iam::123456789012:user/u',
      userId: 'U',
      partition: 'aws',
    }),
    project: ok(`GET /api/atlas/v2/groups/${P}`, {
      id: P,
      name: 'proj',
      orgId: 'o'.repeat(24),
      clusterCount: 1,
      created: AT,
    }),
    cluster: ok('GET cluster', {
      id: 'c',
      name: 'Cluster0',
      replicationSpecs: [
        {
          regionConfigs: [
            { providerName: 'AWS', regionName: 'US_EAST_1', electableSpecs: { nodeCount: 3 } },
          ],
        },
      ],
    }),
    exportBucket: ok(`GET /api/atlas/v2/groups/${P}/backup/exportBuckets/${EB}`, exportBucket),
    exportBuckets: ok('GET buckets', [exportBucket]),
    endpoints: ok('GET endpoints', [
      {
        id: 'e'.repeat(24),
        cloudProvider: 'AWS' as const,
        regionName: 'US_EAST_1',
        status: 'ACTIVE' as const,
      },
    ]),
    schedule: ok('GET schedule', {
      autoExportEnabled: true,
      export: { exportBucketId: EB, frequencyType: 'monthly' as const },
      policies: [],
    }),
    jobs: ok('GET jobs', []),
    atlasRole: ok('GET role', {
      providerName: 'AWS' as const,
      roleId: ROLE_ID,
      atlasAWSAccountArn: ATLAS,
      atlasAssumedRoleExternalId: EXT,
      iamAssumedRoleArn: ROLE_ARN,
    }),
    bucketRegion: ok('s3:GetBucketLocation b', 'us-east-1'),
    bucketSecurity: ok('s3:...', {
      publicAccessBlock: {
        blockPublicAcls: true,
        ignorePublicAcls: true,
        blockPublicPolicy: true,
        restrictPublicBuckets: true,
      },
      encryption: { kind: 'SSE-S3' as const },
      policy: {
        Version: '2012-10-17',
        Statement: bucketPolicyStatements({ bucket: 'b', partition: 'aws', roleArn: ROLE_ARN }),
      },
      objectOwnership: 'BucketOwnerEnforced',
    }),
    iamRole: ok('iam:GetRole r', {
      name: 'r',
      arn: ROLE_ARN,
      roleId: 'AROA',
      createDate: undefined,
      trustPolicy: trustPolicy({ atlasAWSAccountArn: ATLAS, externalId: EXT }),
    }),
    rolePolicies: ok('iam:...', [
      {
        kind: 'inline' as const,
        name: 'p',
        document: permissionPolicy({ bucket: 'b', partition: 'aws' }),
      },
    ]),
    recentJobs: [],
  };
}

const statuses = (facts: Facts, s: Subject = subject) =>
  Object.fromEntries(evaluateControls(facts, s).map((c) => [c.id, c.status]));

describe('controls on observations', () => {
  it('pass on a correct configuration; with no export job the files control does not apply, saying why', () => {
    const controls = evaluateControls(goodFacts(), subject);
    expect(
      controls.filter((c) => c.status !== 'pass').map((c) => [c.id, c.status, c.reason]),
    ).toEqual([
      [
        'exports.files-complete',
        'not_applicable',
        'the cluster has no export jobs yet, so no export has files to check',
      ],
    ]);
    expect(verdictOf(controls)).toBe('pass');
  });

  it('auto-export off does not apply (a legitimate state, with the reason); the verdict stays pass', () => {
    const facts = goodFacts();
    facts.schedule = ok('GET schedule', { autoExportEnabled: false, policies: [] });
    const controls = evaluateControls(facts, subject);
    expect(controls.find((c) => c.id === 'atlas.auto-export.private-bucket')).toMatchObject({
      status: 'not_applicable',
      reason: 'auto-export is off, so no scheduled export goes to any bucket',
    });
    expect(verdictOf(controls)).toBe('pass');
  });

  it("a failed read makes the controls that need it not checked, with the call and the error, and the verdict inconclusive with that error's exit code", () => {
    const facts = goodFacts();
    facts.bucketSecurity = failed(
      's3:GetBucketPolicy b',
      'Access denied to s3:GetBucketPolicy on bucket "b".',
      3,
    );
    const controls = evaluateControls(facts, subject);
    const tls = controls.find((c) => c.id === 's3.tls-only');
    expect(tls).toMatchObject({
      status: 'not_checked',
      cause: { code: 'SOME_ERROR', exitCode: 3, hint: 'do something' },
      evidence: [
        {
          call: 's3:GetBucketPolicy b',
          error: 'Access denied to s3:GetBucketPolicy on bucket "b".',
        },
      ],
    });
    expect(tls?.reason).toContain('Access denied');
    expect(statuses(facts)).toMatchObject({
      's3.block-public-access': 'not_checked',
      's3.default-encryption': 'not_checked',
      'iam.permissions-minimum': 'not_checked',
      'iam.trust-atlas-only': 'pass',
    });
    expect(verdictOf(controls)).toBe('inconclusive');
    expect(exitCodeOf({ verdict: verdictOf(controls), controls })).toBe(3);
  });

  it('a read that finds the resource gone fails the control it is about (a missing resource is a failure)', () => {
    const facts = goodFacts();
    facts.exportBucket = failed(
      `GET /api/atlas/v2/groups/${P}/backup/exportBuckets/${EB}`,
      'Not found (404)',
      3,
      true,
    );
    const controls = evaluateControls(facts, subject);
    const control = controls.find((c) => c.id === 'atlas.export-bucket.private-networking');
    expect(control?.status).toBe('fail');
    expect(control?.findings[0]).toContain('it is gone (Not found (404))');
    expect(verdictOf(controls)).toBe('fail');
    expect(exitCodeOf({ verdict: verdictOf(controls), controls })).toBe(6);
  });

  it('a state file without an IAM role or bucket fails those controls: there is nothing to show', () => {
    const partial: Subject = {
      ...subject,
      bucketName: undefined,
      iamRoleName: undefined,
      iamRoleArn: undefined,
    };
    const facts = goodFacts();
    delete facts.bucketSecurity;
    delete facts.iamRole;
    delete facts.rolePolicies;
    const controls = evaluateControls(facts, partial);
    const tls = controls.find((c) => c.id === 's3.tls-only');
    expect(tls?.status).toBe('fail');
    expect(tls?.findings).toEqual([
      'the state file records no S3 bucket (setup has not made it yet, or teardown removed it), so there is nothing to show',
    ]);
    expect(tls?.evidence).toEqual([{ call: 'state file', at: expect.any(String) }]);
    expect(statuses(facts, partial)['iam.trust-atlas-only']).toBe('fail');
    expect(verdictOf(controls)).toBe('fail');
  });

  it('export jobs none of which succeeded leave the files control not checked: no pass', () => {
    const facts = goodFacts();
    const bucket = facts.exportBuckets.ok ? facts.exportBuckets.value[0] : undefined;
    facts.recentJobs = [
      { job: { id: 'j'.repeat(24), exportBucketId: EB, state: 'Failed' }, bucket },
    ];
    const controls = evaluateControls(facts, subject);
    expect(controls.find((c) => c.id === 'exports.files-complete')).toMatchObject({
      status: 'not_checked',
      cause: { code: 'NO_SUCCESSFUL_EXPORT', exitCode: 3 },
    });
    expect(verdictOf(controls)).toBe('inconclusive');
  });

  it('fails the owner-only control for a role statement naming another account, and for a grant to another account', () => {
    const facts = goodFacts();
    const statements = bucketPolicyStatements({
      bucket: 'b',
      partition: 'aws',
      roleArn: 'arn:aws:iam::222222222222:role/r',
    });
    facts.bucketSecurity = ok('s3:...', {
      ...(facts.bucketSecurity?.ok ? facts.bucketSecurity.value : ({} as never)),
      policy: {
        Version: '2012-10-17',
        Statement: [
          ...statements,
          {
            Sid: 'Partner',
            Effect: 'Allow',
            Principal: { AWS: '999999999999' },
            Action: ['s3:GetObject', 's3:ListBucket'],
            Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'],
          },
          {
            Sid: 'SameAccount',
            Effect: 'Allow',
            Principal: { AWS: 'arn:aws:iam::123456789012:role/reader' },
            Action: 's3:GetObject',
            Resource: 'arn:aws:s3:::b/*',
          },
        ],
      },
    });
    const control = evaluateControls(facts, subject).find(
      (c) => c.id === 's3.bucket-policy.owner-only',
    );
    expect(control?.status).toBe('fail');
    expect(control?.findings).toEqual([
      `statement AtlasPlExportAllowBucketLocation names arn:aws:iam::222222222222:role/r, not the setup's role ${ROLE_ARN}`,
      `statement AtlasPlExportAllowPutObject names arn:aws:iam::222222222222:role/r, not the setup's role ${ROLE_ARN}`,
      "statement Partner grants s3:GetObject, s3:ListBucket to arn:aws:iam::999999999999:root, outside the bucket owner's account 123456789012",
    ]);
  });

  it('every read failing gives the inconclusive verdict, with the exit code of the first error', () => {
    const down = 'Could not reach Atlas';
    const facts: Facts = {
      identity: failed('sts:GetCallerIdentity', 'no credentials', 2),
      project: failed('GET p', down),
      cluster: failed('GET c', down),
      exportBucket: failed('GET eb', down),
      exportBuckets: failed('GET b', down),
      endpoints: failed('GET e', down),
      schedule: failed('GET s', down),
      jobs: failed('GET j', down),
      atlasRole: failed('GET r', down),
      bucketRegion: failed('s3:GetBucketLocation b', 'no credentials', 2),
      bucketSecurity: failed('s3:... b', 'no credentials', 2),
      iamRole: failed('iam:GetRole r', 'no credentials', 2),
      rolePolicies: failed('iam:... r', 'no credentials', 2),
      recentJobs: [],
    };
    const controls = evaluateControls(facts, subject);
    expect(controls.every((c) => c.status === 'not_checked')).toBe(true);
    expect(verdictOf(controls)).toBe('inconclusive');
    const report = assembleReport({
      facts,
      subject,
      controls,
      tool: { name: 't', version: '1' },
      generatedAt: AT,
      calls: { atlas: { reads: 0, writes: 0 }, aws: { reads: 0, writes: 0 } },
    });
    expect(report.verdict).toBe('inconclusive');
    expect(exitCodeOf(report)).toBe(3);
    expect(report.summary).toContain('could not be checked');
    expect(report.verdictRule).toMatch(/evidence with gaps is never a pass/);
  });

  it('a schedule to a deleted export bucket and a job to a public one fail the cluster-exports control', () => {
    const facts = goodFacts();
    facts.schedule = ok('GET schedule', {
      autoExportEnabled: true,
      export: { exportBucketId: 'f'.repeat(24) },
      policies: [],
    });
    const publicBucket = {
      _id: 'a'.repeat(24),
      bucketName: 'pub',
      cloudProvider: 'AWS' as const,
      iamRoleId: ROLE_ID,
      requirePrivateNetworking: false,
    };
    facts.exportBuckets = ok('GET buckets', [
      ...(facts.exportBuckets.ok ? facts.exportBuckets.value : []),
      publicBucket,
    ]);
    facts.recentJobs = [
      {
        job: { id: 'j'.repeat(24), exportBucketId: publicBucket._id, state: 'Failed' },
        bucket: publicBucket,
      },
    ];
    const control = evaluateControls(facts, subject).find(
      (c) => c.id === 'atlas.export-buckets.cluster-exports-private',
    );
    expect(control?.status).toBe('fail');
    expect(control?.findings).toEqual([
      `export bucket ${'a'.repeat(24)} (s3://pub, used by job ${'j'.repeat(24)}) has requirePrivateNetworking: false`,
      `auto-export used export bucket ${'f'.repeat(24)}, which no longer exists; its networking setting cannot be shown`,
    ]);
  });

  it('a job to a deleted export bucket is a note on the cluster-exports control, not a failure (shown in the Markdown findings)', () => {
    const facts = goodFacts();
    facts.recentJobs = [
      {
        job: { id: 'j'.repeat(24), exportBucketId: 'f'.repeat(24), state: 'Successful' },
        bucket: undefined,
      },
      ...facts.recentJobs,
    ];
    const control = evaluateControls(facts, subject).find(
      (c) => c.id === 'atlas.export-buckets.cluster-exports-private',
    );
    expect(control?.status).toBe('pass');
    expect(control?.findings).toEqual([
      `job ${'j'.repeat(24)} used export bucket ${'f'.repeat(24)}, which no longer exists; its networking setting cannot be shown`,
    ]);
    const controls = evaluateControls(facts, subject);
    const markdown = renderMarkdown(
      assembleReport({
        facts,
        subject,
        controls,
        tool: { name: 'atlas-pl-export', version: '0.1.0' },
        generatedAt: AT,
        calls: { atlas: { reads: 1, writes: 0 }, aws: { reads: 1, writes: 0 } },
      }),
    );
    expect(markdown).toContain(
      `- Note on **${control?.title}** (\`atlas.export-buckets.cluster-exports-private\`, passed):`,
    );
    expect(markdown).toContain(`  - job ${'j'.repeat(24)} used export bucket`);
  });
});

describe('report assembly and Markdown', () => {
  const assemble = (facts: Facts) =>
    assembleReport({
      facts,
      subject,
      controls: evaluateControls(facts, subject),
      tool: { name: 'atlas-pl-export', version: '0.1.0' },
      generatedAt: AT,
      calls: { atlas: { reads: 8, writes: 0 }, aws: { reads: 10, writes: 0 } },
    });

  it('validates against the exported schema and round-trips through JSON', () => {
    const report = assemble(goodFacts());
    expect(EvidenceReport.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(report.scope).toMatchObject({
      aws: { accountId: '123456789012' },
      atlas: { projectName: 'proj', clusterRegion: 'US_EAST_1' },
      bucket: { name: 'b', region: 'us-east-1' },
    });
    expect(() => EvidenceReport.parse({ ...report, verdict: 'maybe' })).toThrow();
  });

  it('escapes pipes and line breaks in cells, so a hostile value cannot add columns', () => {
    expect(cell('a|b\nc')).toBe('a\\|b<br>c');
    expect(cell('')).toBe('–');
    const facts = goodFacts();
    facts.endpoints = ok('GET endpoints', [
      {
        id: 'e'.repeat(24),
        cloudProvider: 'AWS' as const,
        regionName: 'US_EAST_1',
        status: 'FAILED' as const,
        errorMessage: 'bad | worse\nworst',
      },
    ]);
    const markdown = renderMarkdown(assemble(facts));
    const row = markdown.split('\n').find((line) => line.startsWith('| 3 |'));
    expect(row).toContain('bad \\| worse<br>worst');
    expect(row?.split(/(?<!\\)\|/).length).toBe(8);
    expect(markdown).toContain('**Verdict: FAIL**');
    expect(markdown).toContain('- **Object-storage private endpoint is ACTIVE**');
  });
});
