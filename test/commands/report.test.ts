/**
 * `report` against the sandbox, through the built CLI: a real `setup` first, then each control
 * broken on purpose in moto or the simulator must flip to fail with the observed value shown.
 * Run `npm run build` before these tests.
 */
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteBucketEncryptionCommand,
  DeleteObjectCommand,
  GetBucketPolicyCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
} from '@aws-sdk/client-s3';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { describe, expect, it } from 'vitest';
import { EvidenceReport, type Control } from '../../src/report/schema.js';
import { runCli } from '../helpers/cli.js';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { allowPublicPolicies } from '../helpers/setup.js';

const sandbox = useSandbox({
  delays: { endpointProvisionMs: 150, iamPropagationMs: 50, exportMs: 150 },
});

const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'report-test-role';

interface Setup {
  dir: string;
  bucket: string;
  state: {
    resources: {
      exportBucket: { id: string };
      privateEndpoint: { id: string };
      atlasRole: { roleId: string; atlasAWSAccountArn: string; externalId: string };
    };
    exports: Array<{ id: string; prefix?: string }>;
  };
}

let counter = 0;

/** A finished setup (export now and a monthly schedule) in a fresh directory. */
async function setup(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'report-test-'));
  const bucket = `report-test-${process.pid}-${Date.now() % 100000}-${(counter += 1)}`;
  const result = await runCli(
    [
      'setup',
      '--non-interactive',
      '--json',
      '--project-id',
      sandbox.atlas.seed.projectId,
      '--cluster',
      'Cluster0',
      '--bucket',
      bucket,
      '--iam-role-name',
      ROLE,
      // SSE-KMS: setup currently insists on a KMS key ARN even for SSE-S3 (see the report's notes).
      '--encryption',
      'SSE-KMS',
      '--kms-key-arn',
      KMS_KEY,
      '--export-now',
      'latest',
      '--schedule',
      'monthly',
    ],
    { cwd: dir, env: sandbox.env },
  );
  expect(result.code, result.stderr).toBe(0);
  return {
    dir,
    bucket,
    state: JSON.parse(
      readFileSync(join(dir, 'atlas-pl-export.state.json'), 'utf8'),
    ) as Setup['state'],
  };
}

async function reportJson(
  s: Setup,
): Promise<{ code: number | null; report: EvidenceReport; stderr: string }> {
  const result = await runCli(['report', '--format', 'json'], { cwd: s.dir, env: sandbox.env });
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`report printed no JSON (exit ${result.code}): ${result.stderr}`);
  }
  return { code: result.code, report: EvidenceReport.parse(parsed), stderr: result.stderr };
}

const byId = (report: EvidenceReport, id: string): Control => {
  const found = report.controls.find((c) => c.id === id);
  if (!found) throw new Error(`no control ${id}`);
  return found;
};

const statusMap = (report: EvidenceReport) =>
  Object.fromEntries(report.controls.map((c) => [c.id, c.status]));

const ALL = [
  'atlas.export-bucket.private-networking',
  'atlas.export-buckets.cluster-exports-private',
  'atlas.private-endpoint.active',
  'atlas.auto-export.private-bucket',
  's3.block-public-access',
  's3.default-encryption',
  's3.tls-only',
  's3.bucket-policy.no-public-grant',
  's3.bucket-policy.owner-only',
  'iam.trust-atlas-only',
  'iam.permissions-minimum',
  'exports.files-complete',
];

/** Asserts exactly these controls fail and every other passes. */
function expectOnlyFailing(report: EvidenceReport, failing: string[]): void {
  const expected = Object.fromEntries(
    ALL.map((id) => [id, failing.includes(id) ? 'fail' : 'pass']),
  );
  expect(statusMap(report)).toEqual(expected);
  expect(report.verdict).toBe('fail');
}

/** Splits a Markdown table row into its cells, honouring `\|` escapes. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < inner.length; i += 1) {
    const ch = inner[i];
    if (ch === '\\' && i + 1 < inner.length) {
      current += inner[i + 1];
      i += 1;
    } else if (ch === '|') {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  out.push(current.trim());
  return out;
}

/** The table that follows a `## heading`: header cells and rows of cells. */
function tableAfter(markdown: string, heading: string): { header: string[]; rows: string[][] } {
  const lines = markdown.split('\n');
  const start = lines.indexOf(`## ${heading}`);
  expect(start, `heading ${heading}`).toBeGreaterThanOrEqual(0);
  const tableLines: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) tableLines.push(line);
    else if (tableLines.length) break;
  }
  const [header, separator, ...rows] = tableLines;
  expect(separator).toMatch(/^\|(-{3,}\|)+$/);
  const head = cells(header as string);
  const body = rows.map(cells);
  for (const row of body) expect(row).toHaveLength(head.length);
  return { header: head, rows: body };
}

describe('report', () => {
  it('a full setup yields a report with every control passing, valid JSON, and a readable Markdown table', async () => {
    const s = await setup();
    const json = await reportJson(s);
    expect(json.code).toBe(0);
    expect(statusMap(json.report)).toEqual(Object.fromEntries(ALL.map((id) => [id, 'pass'])));
    expect(json.report.verdict).toBe('pass');
    expect(json.report.scope).toMatchObject({
      aws: { accountId: '123456789012' },
      atlas: {
        projectId: sandbox.atlas.seed.projectId,
        orgId: sandbox.atlas.seed.orgId,
        projectName: sandbox.atlas.seed.projectName,
        clusterName: 'Cluster0',
      },
      bucket: { name: s.bucket, region: 'us-east-1' },
    });
    expect(json.report.calls.atlas.writes + json.report.calls.aws.writes).toBe(0);
    expect(byId(json.report, 'atlas.export-bucket.private-networking').evidence[0]?.call).toBe(
      `GET /api/atlas/v2/groups/${sandbox.atlas.seed.projectId}/backup/exportBuckets/${s.state.resources.exportBucket.id}`,
    );
    expect(byId(json.report, 's3.tls-only').evidence[0]?.call).toBe(
      `s3:GetBucketPolicy ${s.bucket}`,
    );
    const [job] = json.report.exportJobs;
    expect(job).toMatchObject({
      id: s.state.exports[0]?.id,
      state: 'Successful',
      completePresent: true,
      filesMissing: [],
    });
    expect(job?.filesFound).toBeGreaterThan(0);

    const md = await runCli(['report', '--out', 'evidence.md'], { cwd: s.dir, env: sandbox.env });
    expect(md.code).toBe(0);
    expect(md.stdout).toBe('');
    // Gathering succeeded; the verdict is its own line (never "✖ Evidence gathered. FAIL").
    expect(md.stderr).toMatch(/✔ Read the live configuration: \d+ Atlas and \d+ AWS reads/);
    expect(md.stderr).toContain(
      'Verdict: PASS (12 passed, 0 failed, 0 not applicable, 0 not checked).',
    );
    const markdown = readFileSync(join(s.dir, 'evidence.md'), 'utf8');
    expect(markdown).toMatch(/\*\*Verdict: PASS\*\*/);
    expect(markdown).toContain('How the verdict is reached: PASS when every control passed');
    const controls = tableAfter(markdown, 'Controls');
    expect(controls.header).toEqual([
      '#',
      'Control',
      'Status',
      'Observed',
      'Observed by',
      'When (UTC)',
    ]);
    expect(controls.rows).toHaveLength(ALL.length);
    for (const row of controls.rows) {
      expect(row[2]).toBe('PASS');
      expect(row[4]).toMatch(/`(GET \/api\/atlas\/v2\/|s3:|iam:)/);
      expect(row[5]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    }
    const scope = tableAfter(markdown, 'Scope');
    expect(Object.fromEntries(scope.rows.map(([k, v]) => [k, v]))).toMatchObject({
      'AWS account': '123456789012',
      'S3 bucket': s.bucket,
      'Bucket region': 'us-east-1',
    });
    const jobs = tableAfter(markdown, 'Recent export jobs');
    expect(jobs.rows[0]?.[0]).toBe(s.state.exports[0]?.id);
    expect(jobs.rows[0]?.[6]).toBe('present');

    for (const text of [markdown, json.stderr, JSON.stringify(json.report)]) {
      expect(text).not.toContain(sandbox.env.AWS_SECRET_ACCESS_KEY);
      expect(text).not.toContain(sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY);
      expect(text).not.toMatch(/authorization\s*:/i);
      expect(text).not.toMatch(/\b(Digest|Bearer) [A-Za-z0-9]/);
    }
  });

  // Each test below breaks controls that do not depend on each other, so one setup serves two.

  it('fails the S3 controls (BPA off, encryption removed, TLS-deny removed) and the Atlas networking controls (requirePrivateNetworking false, endpoint FAILED)', async () => {
    const s = await setup();
    await breakS3(s);
    const endpointId = breakAtlasNetworking(s);

    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expectOnlyFailing(report, [
      's3.block-public-access',
      's3.default-encryption',
      's3.tls-only',
      's3.bucket-policy.no-public-grant',
      // The role's KMS permissions are beyond the minimum once the bucket has no SSE-KMS.
      'iam.permissions-minimum',
      'atlas.export-bucket.private-networking',
      'atlas.export-buckets.cluster-exports-private',
      'atlas.private-endpoint.active',
      'atlas.auto-export.private-bucket',
    ]);
    expect(byId(report, 's3.block-public-access').observed).toContain('BlockPublicPolicy=false');
    expect(byId(report, 's3.block-public-access').findings).toEqual(['BlockPublicPolicy is off']);
    expect(byId(report, 's3.default-encryption').observed).toBe('no default encryption configured');
    expect(byId(report, 's3.tls-only').findings).toEqual([
      'no statement denies requests without TLS',
    ]);
    expect(byId(report, 's3.bucket-policy.no-public-grant').findings).toEqual([
      'statement PublicRead allows everyone s3:GetObject',
    ]);
    expect(byId(report, 'iam.permissions-minimum').findings.join(' ')).toContain(
      'kms:GenerateDataKey',
    );
    // The observed value states the extra grants, never "grants the minimum", when the control fails.
    expect(byId(report, 'iam.permissions-minimum').observed).toMatch(
      /grants beyond the minimum: .*allows kms:GenerateDataKey/,
    );
    expect(byId(report, 'iam.permissions-minimum').observed).not.toContain('grants the minimum');
    expect(byId(report, 'atlas.export-bucket.private-networking').observed).toContain(
      'requirePrivateNetworking: false',
    );
    expect(byId(report, 'atlas.private-endpoint.active').observed).toBe(
      `${endpointId} FAILED (VPC endpoint service rejected the connection)`,
    );
    expect(byId(report, 'atlas.auto-export.private-bucket').findings[0]).toContain(
      'does not require private networking',
    );
  });

  it("fails the endpoint control for an ACTIVE endpoint whose VPC endpoint is not in the cluster's region", async () => {
    const s = await setup();
    const state = JSON.parse(readFileSync(join(s.dir, 'atlas-pl-export.state.json'), 'utf8'));
    const endpoint = sandbox.atlas.state.privateEndpoints.find(
      (e) => e.id === state.resources.privateEndpoint.id,
    )!;
    endpoint.vpcRegionName = 'EU_WEST_1';
    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expect(byId(report, 'atlas.private-endpoint.active')).toMatchObject({
      status: 'fail',
      findings: [
        `the ACTIVE endpoint ${endpoint.id} has its VPC endpoint in EU_WEST_1, not in US_EAST_1 (the cluster's region): Atlas cannot export through it`,
      ],
    });
  });

  it('fails the auto-export control when the schedule points at a public export bucket, and the files control when a listed file is deleted', async () => {
    const s = await setup();
    const publicId = pointScheduleAtPublicBucket(s);
    const key = await deleteListedFile(s);

    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expectOnlyFailing(report, [
      'atlas.auto-export.private-bucket',
      'atlas.export-buckets.cluster-exports-private',
      'exports.files-complete',
    ]);
    expect(byId(report, 'atlas.auto-export.private-bucket').observed).toContain(
      `export bucket ${publicId} (s3://${s.bucket}-public, requirePrivateNetworking: false)`,
    );
    expect(
      byId(report, 'atlas.export-buckets.cluster-exports-private').findings.join(' '),
    ).toContain(`${publicId} (s3://${s.bucket}-public, used by auto-export)`);
    expect(byId(report, 'atlas.export-bucket.private-networking').status).toBe('pass');
    expect(byId(report, 'exports.files-complete').findings[0]).toContain(key);
    expect(report.exportJobs[0]?.filesMissing).toEqual([key]);
  });

  it('fails the IAM controls when the trust policy is widened and the role gets extra S3 permissions', async () => {
    const s = await setup();
    const role = s.state.resources.atlasRole;
    const managedArn = await widenIam(s);
    // An older export job of the cluster (another pipeline) used an export bucket deleted since.
    const sim = sandbox.atlas.state;
    const ours = { ...sim.exportJobs.find((job) => job.id === s.state.exports[0]?.id)! };
    delete ours.writing;
    delete ours.starting;
    const deletedBucket = 'ecececececececececececec';
    sim.exportJobs.push({
      ...structuredClone(ours),
      id: 'edededededededededededed',
      exportBucketId: deletedBucket,
      createdAtMs: ours.createdAtMs - 60_000,
    });

    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expectOnlyFailing(report, ['iam.trust-atlas-only', 'iam.permissions-minimum']);
    expect(byId(report, 'atlas.export-buckets.cluster-exports-private').findings).toEqual([
      `job edededededededededededed used export bucket ${deletedBucket}, which no longer exists; its networking setting cannot be shown`,
    ]);
    expect(byId(report, 'iam.permissions-minimum').observed).toMatch(
      /grants beyond the minimum: .*allows s3:\* \(a wildcard\)/,
    );
    expect(byId(report, 'iam.trust-atlas-only').findings).toEqual([
      `Allow statement 1 also trusts arn:aws:iam::111122223333:root (Atlas's account is ${role.atlasAWSAccountArn})`,
    ]);
    const permissions = byId(report, 'iam.permissions-minimum').findings;
    expect(permissions).toContain(
      'inline policy extra (statement 1) allows s3:* (a wildcard), which is not in the minimum',
    );
    expect(permissions).toContain(
      `managed policy ${managedArn} (ReadAll) allows s3:GetObject, which is not in the minimum`,
    );
  });

  it('fails the trust control when the external id is changed, and the files control when .complete is deleted (Markdown)', async () => {
    const s = await setup();
    const role = s.state.resources.atlasRole;
    await changeExternalId(s);
    const prefix = await deleteComplete(s);

    const json = await reportJson(s);
    expect(json.code).toBe(6);
    expectOnlyFailing(json.report, ['iam.trust-atlas-only', 'exports.files-complete']);
    expect(byId(json.report, 'iam.trust-atlas-only').findings).toEqual([
      `Allow statement 1 accepts external id not-the-atlas-id; Atlas's is ${role.externalId}`,
    ]);

    const result = await runCli(['report'], { cwd: s.dir, env: sandbox.env });
    expect(result.code).toBe(6);
    const controls = tableAfter(result.stdout, 'Controls');
    const failing = controls.rows.filter((r) => r[2] === 'FAIL').map((r) => r[1]);
    expect(failing).toEqual([
      "IAM role trusts only Atlas's AWS account, with the external id",
      'Recent successful exports: .complete present and every file it counts in the bucket',
    ]);
    expect(tableAfter(result.stdout, 'Recent export jobs').rows[0]?.[6]).toBe('MISSING');
    expect(result.stdout).toContain(`${prefix}/.complete is missing`);
    expect(result.stdout).toMatch(/\*\*Verdict: FAIL\*\*/);
  });
});

describe('report and the path of past export jobs', () => {
  it("shows for each job the requirePrivateNetworking this tool recorded at its start, else the bucket's setting now, labelled as not evidence of the job's path", async () => {
    const s = await setup();
    const setupJob = s.state.exports[0]?.id as string;
    // setup records the value too; a state file from before that field existed holds none.
    const statePath = join(s.dir, 'atlas-pl-export.state.json');
    const recorded = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(recorded.exports[0].requirePrivateNetworking).toBe(true);
    delete recorded.exports[0].requirePrivateNetworking;
    writeFileSync(statePath, JSON.stringify(recorded, null, 2), { mode: 0o600 });
    // A job the export command starts is recorded with the value it read just before.
    const started = await runCli(['export', '--latest', '--json'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(started.code, started.stderr).toBe(0);
    const exportJob = JSON.parse(started.stdout).job.id as string;
    const bucket = sandbox.atlas.state.exportBuckets.find(
      (b) => b._id === s.state.resources.exportBucket.id,
    );
    if (!bucket) throw new Error('setup left no export bucket in the simulator');
    bucket.requirePrivateNetworking = false; // drifted after both jobs ran

    const { report } = await reportJson(s);
    const jobs = Object.fromEntries(report.exportJobs.map((job) => [job.id, job]));
    // The job started over PrivateLink keeps its recorded "at start" value, not today's false.
    expect(jobs[exportJob]).toMatchObject({
      requirePrivateNetworkingAtStart: true,
      requirePrivateNetworking: false,
    });
    // A job with no record: only the setting now, no "at start" value made up.
    expect(jobs[setupJob]?.requirePrivateNetworkingAtStart).toBeUndefined();
    expect(jobs[setupJob]?.requirePrivateNetworking).toBe(false);

    const md = await runCli(['report', '--out', 'evidence.md'], { cwd: s.dir, env: sandbox.env });
    expect(md.code, md.stderr).toBe(6);
    const markdown = readFileSync(join(s.dir, 'evidence.md'), 'utf8');
    const table = tableAfter(markdown, 'Recent export jobs');
    const column = table.header.indexOf('Private networking');
    expect(column).toBeGreaterThan(0);
    const rowOf = (id: string) => table.rows.find((row) => row[0] === id);
    expect(rowOf(exportJob)?.[column]).toBe('at start: yes');
    expect(rowOf(setupJob)?.[column]).toBe('now: NO');
    expect(markdown).toContain(
      '"now": the export bucket\'s requirePrivateNetworking when this report was made',
    );
    expect(markdown).toContain('It is not evidence of the path the job took');
  });
});

describe('report --out', () => {
  it('refuses, before any call, an --out that is the state file or its lock (also through a symlink), or in a directory that does not exist; never shows a temporary name', async () => {
    const s = await setup();
    const statePath = join(s.dir, 'atlas-pl-export.state.json');
    const stateBefore = readFileSync(statePath, 'utf8');
    symlinkSync(statePath, join(s.dir, 'link.json'));
    const callsBefore = sandbox.atlas.calls.length;
    for (const out of [
      'atlas-pl-export.state.json',
      'link.json',
      'atlas-pl-export.state.json.lock',
    ]) {
      const result = await runCli(['report', '--out', out, '--format', 'json', '--json'], {
        cwd: s.dir,
        env: sandbox.env,
      });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`--out ${join(s.dir, out)} is the state file`);
      // Each worded for what it is: the state's ids, or the lock.
      if (out.endsWith('.lock')) {
        expect(result.stderr).toContain(
          `is the state file's lock (${statePath}.lock): writing the report there would break the lock that keeps two runs on ${statePath} apart.`,
        );
        expect(result.stderr).not.toContain('lose every id');
      } else expect(result.stderr).toContain('would lose every id it records');
      expect(result.stderr).not.toContain('Read the live configuration');
      expect(JSON.parse(result.stdout)).toMatchObject({
        ok: false,
        exitCode: 2,
        error: { code: 'REPORT_OUT_IS_STATE' },
      });
    }
    expect(readFileSync(statePath, 'utf8')).toBe(stateBefore);
    expect(existsSync(`${statePath}.lock`)).toBe(false);
    expect(sandbox.atlas.calls.length).toBe(callsBefore);
    // The next command still reads the state file.
    const status = await runCli(['status'], { cwd: s.dir, env: sandbox.env });
    expect(status.code, status.stderr).toBe(0);

    // A directory that does not exist (inside the test's own folder: nothing else can create it).
    const absent = join(s.dir, 'no-such-dir', 'r.md');
    const missingDir = await runCli(['report', '--out', absent], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(missingDir.code, missingDir.stderr).toBe(2);
    expect(missingDir.stderr).toContain(
      `Cannot write the report to ${absent}: its directory does not exist`,
    );
    expect(missingDir.stderr).not.toMatch(/r\.md\.\d+/);
    expect(missingDir.stderr).not.toContain('Read the live configuration');
    expect(existsSync(absent)).toBe(false);
  });

  it('prints every finding of a failed control in the summary, not only the first', async () => {
    const s = await setup();
    await allowPublicPolicies(sandbox, s.bucket, { BlockPublicAcls: false });
    const result = await runCli(['report', '--out', 'evidence.md'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toMatch(/✖ [^\n]*: BlockPublicAcls is off; BlockPublicPolicy is off\n/);
  });
});

describe('report verdict', () => {
  it("is INCONCLUSIVE with the error's exit code (3), never PASS, when AWS cannot be reached; auto-export off does not apply and still passes", async () => {
    const s = await setup();
    const unreachable = await runCli(['report', '--format', 'json'], {
      cwd: s.dir,
      env: { ...sandbox.env, AWS_ENDPOINT_URL: 'https://127.0.0.1:1', AWS_MAX_ATTEMPTS: '1' },
    });
    expect(unreachable.code, unreachable.stderr).toBe(3);
    const report = EvidenceReport.parse(JSON.parse(unreachable.stdout));
    expect(report.verdict).toBe('inconclusive');
    expect(report.counts.fail).toBe(0);
    expect(report.counts.notChecked).toBeGreaterThan(0);
    const tls = byId(report, 's3.tls-only');
    expect(tls.status).toBe('not_checked');
    expect(tls.cause).toMatchObject({ code: 'AWS_UNREACHABLE', exitCode: 3 });
    // The files of a successful export could not be read: that control is not a pass either.
    expect(byId(report, 'exports.files-complete').status).toBe('not_checked');
    expect(byId(report, 'atlas.export-bucket.private-networking').status).toBe('pass');
    expect(unreachable.stderr).toMatch(/Verdict: INCONCLUSIVE \(\d+ passed, 0 failed/);
    expect(unreachable.stderr).toMatch(
      /what to do: Nothing accepts connections there: check AWS_ENDPOINT_URL/,
    );
    expect(unreachable.stderr).not.toMatch(/PASS:|Verdict: PASS/);

    // --json: one document with ok, the verdict and the exit code, and the report itself.
    const json = await runCli(['report', '--json'], {
      cwd: s.dir,
      env: { ...sandbox.env, AWS_ENDPOINT_URL: 'https://127.0.0.1:1', AWS_MAX_ATTEMPTS: '1' },
    });
    expect(json.code).toBe(3);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ ok: false, verdict: 'inconclusive', exitCode: 3 });
    expect(EvidenceReport.parse(doc.report).verdict).toBe('inconclusive');
    // --format md with --json on stdout is refused before any call; with --out it is a summary.
    const calls = sandbox.atlas.calls.length;
    const both = await runCli(['report', '--format', 'md', '--json'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--format md and --json both want stdout/);
    expect(both.stderr).toMatch(/what to do: Add --out FILE/);
    // A --config that cannot be read is refused too, before any call (it is never silently ignored).
    const noConfig = await runCli(['report', '--config', '/nonexistent.json'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toMatch(/Cannot read the config file \/nonexistent\.json/);
    expect(sandbox.atlas.calls.length).toBe(calls);

    // Auto-export turned off: a legitimate state, so that control does not apply and the verdict passes.
    const off = await runCli(['schedule', '--disable', '--non-interactive'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(off.code, off.stderr).toBe(0);
    const summary = await runCli(['report', '--format', 'md', '--json', '--out', 'r.md'], {
      cwd: s.dir,
      env: sandbox.env,
    });
    expect(summary.code, summary.stderr).toBe(0);
    expect(JSON.parse(summary.stdout)).toMatchObject({
      ok: true,
      verdict: 'pass',
      exitCode: 0,
      counts: { pass: 11, notApplicable: 1, fail: 0, notChecked: 0 },
      format: 'md',
    });
    const markdown = readFileSync(join(s.dir, 'r.md'), 'utf8');
    expect(markdown).toMatch(
      /\| Auto-export goes only to a private-networking export bucket \| NOT APPLICABLE \| auto-export is off: does not apply, auto-export is off, so no scheduled export goes to any bucket \|/,
    );
  });

  it('exits as status does when the environment is broken (AWS CA file gone, Atlas not answering): 2, with the same error in --json', async () => {
    const s = await setup();
    const statePath = join(s.dir, 'atlas-pl-export.state.json');
    // The sandbox as it is once stopped: its CA file gone, nothing listening at its Atlas URL.
    const stoppedAtlas = 'http://127.0.0.1:1';
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    state.atlas.baseUrl = stoppedAtlas;
    writeFileSync(statePath, JSON.stringify(state, null, 2));
    const env = {
      ...sandbox.env,
      MONGODB_ATLAS_BASE_URL: stoppedAtlas,
      AWS_CA_BUNDLE: join(s.dir, 'no-such-ca.pem'),
    };
    const status = await runCli(['status', '--json'], { cwd: s.dir, env });
    const report = await runCli(['report', '--json'], { cwd: s.dir, env });
    expect(status.code, status.stderr).toBe(2);
    expect(report.code, report.stderr).toBe(2);
    const statusDoc = JSON.parse(status.stdout);
    const reportDoc = JSON.parse(report.stdout);
    expect(statusDoc.error.code).toBe('AWS_CA_BUNDLE_UNREADABLE');
    expect(reportDoc).toMatchObject({ ok: false, verdict: 'inconclusive', exitCode: 2 });
    expect(reportDoc.error).toEqual({
      code: statusDoc.error.code,
      message: expect.stringContaining(
        `AWS_CA_BUNDLE points at ${join(s.dir, 'no-such-ca.pem')}, which cannot be read`,
      ),
      hint: statusDoc.error.hint,
    });
    expect(reportDoc.error.hint).toContain('Point AWS_CA_BUNDLE at a PEM file');
    expect(report.stderr).toContain(`what to do: ${statusDoc.error.hint}`);
    // Without --json too, and with the report on stdout.
    const plain = await runCli(['report', '--format', 'json'], { cwd: s.dir, env });
    expect(plain.code, plain.stderr).toBe(2);
    expect(EvidenceReport.parse(JSON.parse(plain.stdout)).verdict).toBe('inconclusive');
  });

  it('is INCONCLUSIVE (exit 3), not FAIL, for a project Atlas cannot find (GROUP_NOT_FOUND), as status is (not checked, exit 3); a deleted export bucket still FAILS', async () => {
    const s = await setup();
    const statePath = join(s.dir, 'atlas-pl-export.state.json');
    const original = readFileSync(statePath, 'utf8');
    const state = JSON.parse(original);
    state.atlas.projectId = '6650a1b2c3d4e5f601000009';
    writeFileSync(statePath, JSON.stringify(state, null, 2));

    const status = await runCli(['status', '--json'], { cwd: s.dir, env: sandbox.env });
    expect(status.code, status.stderr).toBe(3);
    const statusDoc = JSON.parse(status.stdout);
    const atlasKinds = ['atlasRole', 'privateEndpoint', 'exportBucket', 'schedule'];
    for (const kind of atlasKinds) {
      const result = statusDoc.resources.find((r: { resource: string }) => r.resource === kind);
      expect(result, kind).toMatchObject({
        status: 'not-checked',
        error: { code: 'GROUP_NOT_FOUND', exitCode: 3 },
      });
    }
    expect(statusDoc.error.code).toBe('GROUP_NOT_FOUND');
    expect(status.stderr).not.toMatch(/missing|rerun `atlas-pl-export setup`|not in place/);
    const statusText = await runCli(['status'], { cwd: s.dir, env: sandbox.env });
    expect(statusText.code).toBe(3);
    expect(statusText.stdout).toMatch(/^not checked +Atlas access role /m);
    expect(statusText.stdout).not.toMatch(/^missing/m);

    const { code, report } = await reportJson(s);
    expect(code).toBe(3);
    expect(report.verdict).toBe('inconclusive');
    expect(report.counts.fail).toBe(0);
    for (const id of [
      'atlas.export-bucket.private-networking',
      'atlas.private-endpoint.active',
      'atlas.auto-export.private-bucket',
    ]) {
      const control = byId(report, id);
      expect(control.status, id).toBe('not_checked');
      expect(control.cause, id).toMatchObject({ code: 'GROUP_NOT_FOUND', exitCode: 3 });
      expect(JSON.stringify(control), id).not.toContain('it is gone');
    }

    // A resource Atlas says is gone (its own errorCode) is still a failure.
    writeFileSync(statePath, original);
    const store = sandbox.atlas.state;
    store.exportBuckets.splice(
      store.exportBuckets.findIndex((bucket) => bucket._id === s.state.resources.exportBucket.id),
      1,
    );
    const gone = await reportJson(s);
    expect(gone.code).toBe(6);
    expect(byId(gone.report, 'atlas.export-bucket.private-networking')).toMatchObject({
      status: 'fail',
      findings: [expect.stringMatching(/: it is gone \(.*EXPORT_BUCKET_NOT_FOUND/)],
    });
    const goneStatus = await runCli(['status', '--json'], { cwd: s.dir, env: sandbox.env });
    expect(goneStatus.code).toBe(6);
    expect(
      JSON.parse(goneStatus.stdout).resources.find(
        (r: { resource: string }) => r.resource === 'exportBucket',
      ),
    ).toMatchObject({ status: 'missing' });
  });

  it('FAILS (exit 6) when a resource a control is about is gone: an IAM role deleted by hand, then everything after a teardown', async () => {
    const s = await setup();
    const aws = await awsClientsFor(sandbox.env);
    await aws.iam.send(
      new DeleteRolePolicyCommand({ RoleName: ROLE, PolicyName: 'atlas-pl-export-s3' }),
    );
    await aws.iam.send(new DeleteRoleCommand({ RoleName: ROLE }));
    const deleted = await reportJson(s);
    expect(deleted.code).toBe(6);
    expect(byId(deleted.report, 'iam.trust-atlas-only').findings).toEqual([
      `IAM role ${ROLE} does not exist`,
    ]);
    expect(byId(deleted.report, 'iam.permissions-minimum')).toMatchObject({
      status: 'fail',
      findings: [expect.stringMatching(/^iam:ListRolePolicies.*: it is gone \(/)],
    });

    const down = await runCli(['teardown', '--yes'], { cwd: s.dir, env: sandbox.env });
    expect(down.code, down.stderr).toBe(0);
    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expect(report.verdict).toBe('fail');
    expect(byId(report, 'atlas.export-bucket.private-networking')).toMatchObject({
      status: 'fail',
      findings: [
        'the state file records no export bucket (setup has not made it yet, or teardown removed it), so there is nothing to show',
      ],
    });
    expect(byId(report, 'iam.trust-atlas-only').status).toBe('fail');
    expect(byId(report, 'atlas.private-endpoint.active').status).toBe('fail');
    expect(report.counts.pass).toBeLessThan(ALL.length / 2);
  });

  it("fails the owner-only control (and status reports drift) for a role statement naming another account's role and a grant to another account", async () => {
    const s = await setup();
    const aws = await awsClientsFor(sandbox.env);
    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: s.bucket }))).Policy ?? '{}',
    ) as { Statement: Array<{ Sid?: string; Principal?: unknown }> };
    const foreignRole = `arn:aws:iam::222222222222:role/${ROLE}`;
    for (const statement of policy.Statement)
      if (statement.Sid?.startsWith('AtlasPlExportAllow'))
        statement.Principal = { AWS: foreignRole };
    policy.Statement.push({
      Sid: 'PartnerRead',
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::999999999999:root' },
      Action: ['s3:GetObject', 's3:ListBucket'],
      Resource: [`arn:aws:s3:::${s.bucket}`, `arn:aws:s3:::${s.bucket}/*`],
    } as never);
    await aws.s3.send(
      new PutBucketPolicyCommand({ Bucket: s.bucket, Policy: JSON.stringify(policy) }),
    );

    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expectOnlyFailing(report, ['s3.bucket-policy.owner-only']);
    const roleArn = `arn:aws:iam::123456789012:role/${ROLE}`;
    expect(byId(report, 's3.bucket-policy.owner-only').findings).toEqual([
      `statement AtlasPlExportAllowBucketLocation names ${foreignRole}, not the setup's role ${roleArn}`,
      `statement AtlasPlExportAllowPutObject names ${foreignRole}, not the setup's role ${roleArn}`,
      "statement PartnerRead grants s3:GetObject, s3:ListBucket to arn:aws:iam::999999999999:root, outside the bucket owner's account 123456789012",
    ]);

    const bucketPolicy = await driftOf(s, 'bucketPolicy');
    expect(bucketPolicy?.findings).toEqual([
      expect.stringMatching(
        /^the statement AtlasPlExportAllowBucketLocation \(s3:GetBucketLocation for Atlas's role\) was changed to: .*222222222222/,
      ),
      expect.stringMatching(
        /^the statement AtlasPlExportAllowPutObject \(s3:PutObject for Atlas's role\) was changed to: /,
      ),
      "statement PartnerRead grants s3:GetObject, s3:ListBucket to arn:aws:iam::999999999999:root, outside the bucket owner's account 123456789012",
    ]);
    expect(bucketPolicy?.fixes).toEqual([
      'rerun `atlas-pl-export setup`',
      'remove the statement from the bucket policy by hand if it is not meant to be there (setup keeps statements it did not add)',
    ]);
  });

  it('fails the owner-only control for Principal * scoped by aws:PrincipalAccount to another account, and the public-grant control for an IP condition covering all of IPv4; status reports both as drift', async () => {
    const s = await setup();
    const aws = await awsClientsFor(sandbox.env);
    await allowPublicPolicies(sandbox, s.bucket);
    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: s.bucket }))).Policy ?? '{}',
    ) as { Statement: unknown[] };
    const resources = [`arn:aws:s3:::${s.bucket}`, `arn:aws:s3:::${s.bucket}/*`];
    policy.Statement.push(
      {
        Sid: 'PartnerByCondition',
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: resources,
        Condition: { StringEquals: { 'aws:PrincipalAccount': '999999999999' } },
      },
      {
        Sid: 'AllOfIpv4',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: resources,
        Condition: { IpAddress: { 'aws:SourceIp': ['0.0.0.0/1', '128.0.0.0/1'] } },
      },
      // Neither of these reaches outside: the owner's own account, and a VPC endpoint.
      {
        Sid: 'OwnerAccount',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: resources,
        Condition: { StringEquals: { 'aws:PrincipalAccount': '123456789012' } },
      },
      {
        Sid: 'ViaVpce',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: resources,
        Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d5e6f' } },
      },
    );
    await aws.s3.send(
      new PutBucketPolicyCommand({ Bucket: s.bucket, Policy: JSON.stringify(policy) }),
    );

    const { code, report } = await reportJson(s);
    expect(code).toBe(6);
    expectOnlyFailing(report, [
      's3.block-public-access',
      's3.bucket-policy.no-public-grant',
      's3.bucket-policy.owner-only',
    ]);
    expect(byId(report, 's3.bucket-policy.no-public-grant').findings).toEqual([
      'statement AllOfIpv4 allows everyone s3:GetObject',
    ]);
    const partner =
      "statement PartnerByCondition grants s3:GetObject, s3:ListBucket to any principal of account 999999999999 (Principal * limited by aws:PrincipalAccount), outside the bucket owner's account 123456789012";
    expect(byId(report, 's3.bucket-policy.owner-only').findings).toEqual([partner]);
    expect(byId(report, 's3.bucket-policy.owner-only').observed).not.toContain(
      'grants to another account',
    );

    const bucketPolicy = await driftOf(s, 'bucketPolicy');
    expect(bucketPolicy?.status).toBe('drifted');
    expect(bucketPolicy?.findings).toEqual([
      expect.stringContaining('statement AllOfIpv4 allows everyone s3:GetObject'),
      partner,
    ]);
  });
});

// Breaking things on purpose ---------------------------------------------------------------------

/** `status --json` after a break (exit 6): the result for one resource. */
async function driftOf(s: Setup, resource: string) {
  const status = await runCli(['status', '--json'], { cwd: s.dir, env: sandbox.env });
  expect(status.code, status.stderr).toBe(6);
  return (
    JSON.parse(status.stdout).resources as Array<{
      resource: string;
      status: string;
      findings: string[];
      fixes: string[];
    }>
  ).find((result) => result.resource === resource);
}

async function breakS3(s: Setup): Promise<void> {
  const aws = await awsClientsFor(sandbox.env);
  await allowPublicPolicies(sandbox, s.bucket);
  await aws.s3.send(new DeleteBucketEncryptionCommand({ Bucket: s.bucket }));
  const current = JSON.parse(
    (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: s.bucket }))).Policy ?? '{}',
  ) as { Statement: Array<{ Sid?: string }> };
  current.Statement = current.Statement.filter(
    (statement) => statement.Sid !== 'AtlasPlExportDenyInsecureTransport',
  );
  // A public read, which S3 accepts only because BlockPublicPolicy was turned off above.
  current.Statement.push({
    Sid: 'PublicRead',
    Effect: 'Allow',
    Principal: '*',
    Action: 's3:GetObject',
    Resource: `arn:aws:s3:::${s.bucket}/*`,
  } as never);
  await aws.s3.send(
    new PutBucketPolicyCommand({ Bucket: s.bucket, Policy: JSON.stringify(current) }),
  );
}

/** requirePrivateNetworking false and the endpoint FAILED, in the simulator's state; returns the endpoint id. */
function breakAtlasNetworking(s: Setup): string {
  const bucket = sandbox.atlas.state.exportBuckets.find(
    (b) => b._id === s.state.resources.exportBucket.id,
  );
  const endpoint = sandbox.atlas.state.privateEndpoints.find(
    (e) => e.id === s.state.resources.privateEndpoint.id,
  );
  if (!bucket || !endpoint)
    throw new Error('setup left no export bucket or endpoint in the simulator');
  bucket.requirePrivateNetworking = false;
  endpoint.forcedStatus = 'FAILED';
  endpoint.errorMessage = 'VPC endpoint service rejected the connection';
  return endpoint.id;
}

/** Adds a public export bucket and points auto-export at it; returns its id. */
function pointScheduleAtPublicBucket(s: Setup): string {
  const store = sandbox.atlas.state;
  const ours = store.exportBuckets.find((b) => b._id === s.state.resources.exportBucket.id);
  const schedule = store.schedules.find((sc) => sc.clusterName === 'Cluster0');
  if (!ours || !schedule)
    throw new Error('setup left no export bucket or schedule in the simulator');
  const publicId = 'aaaaaaaaaaaaaaaaaaaaaaaa';
  store.exportBuckets.push({
    ...ours,
    _id: publicId,
    bucketName: `${s.bucket}-public`,
    requirePrivateNetworking: false,
  });
  schedule.export = { exportBucketId: publicId, frequencyType: 'monthly' };
  return publicId;
}

/** Trusts a second account, adds an inline s3:* and a managed s3:GetObject policy; returns the managed ARN. */
async function widenIam(s: Setup): Promise<string> {
  const role = s.state.resources.atlasRole;
  const aws = await awsClientsFor(sandbox.env);
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: [role.atlasAWSAccountArn, 'arn:aws:iam::111122223333:root'] },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': role.externalId } },
      },
    ],
  };
  await aws.iam.send(
    new UpdateAssumeRolePolicyCommand({ RoleName: ROLE, PolicyDocument: JSON.stringify(trust) }),
  );
  await aws.iam.send(
    new PutRolePolicyCommand({
      RoleName: ROLE,
      PolicyName: 'extra',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
      }),
    }),
  );
  const managed = await aws.iam.send(
    new CreatePolicyCommand({
      PolicyName: 'report-test-read',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ReadAll',
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: `arn:aws:s3:::${s.bucket}/*`,
          },
        ],
      }),
    }),
  );
  await aws.iam.send(
    new AttachRolePolicyCommand({ RoleName: ROLE, PolicyArn: managed.Policy?.Arn }),
  );
  return managed.Policy?.Arn ?? '';
}

async function changeExternalId(s: Setup): Promise<void> {
  const role = s.state.resources.atlasRole;
  const aws = await awsClientsFor(sandbox.env);
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: role.atlasAWSAccountArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'not-the-atlas-id' } },
      },
    ],
  };
  await aws.iam.send(
    new UpdateAssumeRolePolicyCommand({ RoleName: ROLE, PolicyDocument: JSON.stringify(trust) }),
  );
}

const exportPrefix = (s: Setup) =>
  (s.state.exports[0]?.prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');

/** Deletes a collection's metadata.json under the export's prefix (.complete lists no files); returns its key. */
async function deleteListedFile(s: Setup): Promise<string> {
  const prefix = exportPrefix(s);
  const aws = await awsClientsFor(sandbox.env);
  const listed = await aws.s3.send(
    new ListObjectsV2Command({ Bucket: s.bucket, Prefix: `${prefix}/` }),
  );
  const key = (listed.Contents ?? [])
    .map((object) => object.Key ?? '')
    .find((name) => name.endsWith('/metadata.json'));
  if (!key) throw new Error(`no metadata.json under ${prefix}/`);
  await aws.s3.send(new DeleteObjectCommand({ Bucket: s.bucket, Key: key }));
  return key;
}

async function deleteComplete(s: Setup): Promise<string> {
  const prefix = exportPrefix(s);
  const aws = await awsClientsFor(sandbox.env);
  await aws.s3.send(new DeleteObjectCommand({ Bucket: s.bucket, Key: `${prefix}/.complete` }));
  return prefix;
}
