/**
 * `status` end to end: a real setup through the built CLI against moto and the Atlas simulator, then
 * drift made directly in moto (AWS SDK) or in the simulator's state, and `status` must report each
 * kind with its explanation and exit 6; a clean setup reports everything in place with exit 0.
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketEncryptionCommand,
  DeleteBucketPolicyCommand,
  GetBucketPolicyCommand,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutBucketOwnershipControlsCommand,
} from '@aws-sdk/client-s3';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { awsClientsFor, useSandbox } from '../helpers/sandbox.js';
import { allowPublicPolicies, freshScenario, readState, runSetup } from '../helpers/setup.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import type { AwsClients } from '../../src/aws/clients.js';
import { emptyBucket } from '../../src/aws/s3.js';
import type { CheckResult } from '../../src/checks.js';

const sandbox = useSandbox();
let aws: AwsClients;

beforeAll(async () => {
  aws = await awsClientsFor(sandbox.env);
});

async function status(statePath: string, json = true): Promise<CliResult> {
  return runCli(['status', '--state', statePath, ...(json ? ['--json'] : [])], {
    env: sandbox.env,
  });
}

/** The `resources` of `status --json`'s one document, after checking its `ok` and `exitCode` match the exit. */
function results(result: CliResult): CheckResult[] {
  let doc: { ok: boolean; exitCode: number; resources: CheckResult[] };
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    throw new Error(`stdout is not JSON.\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  expect(doc.exitCode).toBe(result.code);
  expect(doc.ok).toBe(result.code === 0);
  return doc.resources;
}

function byResource(list: CheckResult[]): Record<string, CheckResult> {
  return Object.fromEntries(list.map((result) => [result.resource, result]));
}

describe('status', () => {
  it('reports every resource in place after a clean setup, exit 0, with read calls only', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const writesBefore = sandbox.atlas.calls.filter((call) => call.method !== 'GET').length;
    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(0);
    const list = results(result);
    expect(list.map((item) => item.resource)).toEqual([
      'bucket',
      'bucketPolicy',
      'iamRole',
      'atlasRole',
      'privateEndpoint',
      'exportBucket',
      'schedule',
    ]);
    for (const item of list) {
      expect(item.status, `${item.resource}: ${item.findings.join('; ')}`).toBe('in-place');
      expect(item.findings).toEqual([]);
      expect(item.call).not.toBe('');
      expect(Number.isNaN(Date.parse(item.at))).toBe(false);
    }
    const r = byResource(list);
    expect(r.exportBucket!.id).toBe(state.resources.exportBucket.id);
    expect(r.exportBucket!.observed.requirePrivateNetworking).toBe(true);
    expect(r.exportBucket!.call).toContain(
      `/backup/exportBuckets/${state.resources.exportBucket.id}`,
    );
    expect(r.privateEndpoint!.observed.status).toBe('ACTIVE');
    expect(r.schedule!.observed).toMatchObject({
      autoExportEnabled: true,
      exportBucketId: state.resources.exportBucket.id,
    });
    // Status makes no write call in Atlas.
    expect(sandbox.atlas.calls.filter((call) => call.method !== 'GET').length).toBe(writesBefore);

    const human = await status(statePath, false);
    expect(human.code).toBe(0);
    const lines = human.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(line).toMatch(/^in place /);
    expect(human.stderr).toContain('All 7 resources are in place');
  });

  it('reports AWS drift: trust policy, replaced permissions, Block Public Access, encryption, TLS-deny statement', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const roleName = state.resources.iamRole.name;
    const policyName = state.resources.iamRole.policyName;

    // Trust policy: the external-id condition removed.
    await aws.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: roleName,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: state.resources.atlasRole.atlasAWSAccountArn },
              Action: 'sts:AssumeRole',
            },
          ],
        }),
      }),
    );
    // Permission policy: s3:* on every bucket.
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: roleName,
        PolicyName: policyName,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
        }),
      }),
    );
    // Block Public Access: two settings turned off.
    await allowPublicPolicies(sandbox, bucket, { RestrictPublicBuckets: false });
    // Encryption: switched to SSE-KMS with some key.
    const kmsKey = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    await aws.s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [
            {
              ApplyServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: kmsKey,
              },
            },
          ],
        },
      }),
    );
    // Bucket policy: the TLS-only deny statement removed, everything else kept; a public read added (Block
    // Public Access's BlockPublicPolicy is off above, so S3 accepts it), and a grant pinned to a VPC endpoint.
    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    policy.Statement = policy.Statement.filter(
      (s: { Sid?: string }) => s.Sid !== 'AtlasPlExportDenyInsecureTransport',
    );
    policy.Statement.push(
      {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
      },
      {
        Sid: 'ReadFromOurVpce',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        Resource: `arn:aws:s3:::${bucket}/*`,
        Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1a2b3c4d' } },
      },
    );
    await aws.s3.send(
      new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }),
    );

    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(6);
    const r = byResource(results(result));
    expect(r.iamRole!.status).toBe('drifted');
    const iamFindings = r.iamRole!.findings.join('\n');
    expect(iamFindings).toMatch(/trust policy changed/);
    expect(iamFindings).toMatch(/sts:externalid/i);
    // Said as what setup expects and what was found (setup --repair prints the same change as
    // "+ add" expected, "- remove" found), never as an instruction to drop the external id.
    const trustLine = r.iamRole!.findings.find((finding) => finding.includes('trust policy'))!;
    expect(trustLine).toMatch(
      /expected, missing: Allow sts:AssumeRole .*when sts:ExternalId = .*; found, not expected: Allow sts:AssumeRole /,
    );
    expect(trustLine.split('found, not expected:')[1]).not.toMatch(/ExternalId/);
    expect(trustLine).not.toMatch(/[+-] (add|remove) /);
    // The expected statements were replaced, not added to: "changed", not "broadened".
    expect(iamFindings).toMatch(
      /permission policy atlas-pl-export-s3 changed: it now also allows s3:\* on \* \(expected, missing: /,
    );
    expect(iamFindings).not.toContain('broadened');
    expect(r.bucket!.status).toBe('drifted');
    expect(r.bucket!.findings.join('\n')).toMatch(
      /Block Public Access is turned off \(BlockPublicPolicy, RestrictPublicBuckets\)/,
    );
    expect(r.bucket!.findings.join('\n')).toMatch(
      new RegExp(`default encryption changed to SSE-KMS \\(${kmsKey}\\), not SSE-S3`),
    );
    expect(r.bucketPolicy!.status).toBe('drifted');
    expect(r.bucketPolicy!.findings).toEqual([
      'the statement AtlasPlExportDenyInsecureTransport (the TLS-only deny) is gone',
      'statement #3 allows everyone s3:GetObject, s3:ListBucket (no condition limits it to a VPC endpoint, account or organization)',
    ]);
    // Each drift names what repairs it: a plain rerun of setup does not touch Block Public Access or
    // encryption (only --repair does), and setup never removes a statement it did not add.
    expect(r.bucket!.fixes).toEqual([
      "run `atlas-pl-export setup --repair` (a plain rerun does not re-check the bucket's settings)",
    ]);
    expect(r.iamRole!.fixes).toEqual(['rerun `atlas-pl-export setup`']);
    expect(r.bucketPolicy!.fixes).toEqual([
      'rerun `atlas-pl-export setup`',
      'remove the statement from the bucket policy by hand if it is not meant to be there (setup keeps statements it did not add)',
    ]);
    // The Atlas side is untouched.
    for (const kind of ['atlasRole', 'privateEndpoint', 'exportBucket', 'schedule'])
      expect(r[kind]!.status).toBe('in-place');

    const human = await status(statePath, false);
    expect(human.code).toBe(6);
    expect(human.stdout).toMatch(/^drifted +IAM role .*trust policy changed/m);
    expect(human.stdout).toMatch(/^drifted +S3 bucket .*Block Public Access is turned off/m);
    expect(human.stderr).toContain('3 of 7 resources are not in place');
    expect(human.stderr).not.toContain('resources is not');
    expect(human.stdout).toMatch(
      /^drifted +S3 bucket .*\n {2}fix: run `atlas-pl-export setup --repair`/m,
    );
    // The summary names each repair once; --repair does all a plain rerun does, so that one is not repeated.
    const todo = human.stderr.slice(human.stderr.indexOf('what to do:'));
    expect(todo).toContain('- run `atlas-pl-export setup --repair`');
    expect(todo).not.toContain('- rerun `atlas-pl-export setup`');
    expect(todo).toContain('- remove the statement from the bucket policy by hand');
  });

  it('reports Atlas drift: requirePrivateNetworking false, endpoint not ACTIVE, role deauthorized, auto-export off', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const sim = sandbox.atlas.state;
    sim.exportBuckets.find(
      (b) => b._id === state.resources.exportBucket.id,
    )!.requirePrivateNetworking = false;
    const endpoint = sim.privateEndpoints.find((e) => e.id === state.resources.privateEndpoint.id)!;
    endpoint.forcedStatus = 'FAILED';
    endpoint.errorMessage = 'the VPC endpoint service rejected the connection';
    endpoint.vpcRegionName = 'EU_WEST_1';
    const role = sim.accessRoles.find((a) => a.roleId === state.resources.atlasRole.roleId)!;
    delete role.authorizedDate;
    delete role.iamAssumedRoleArn;
    const schedule = sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!;
    schedule.autoExportEnabled = false;

    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(6);
    const r = byResource(results(result));
    expect(r.exportBucket!.status).toBe('drifted');
    expect(r.exportBucket!.findings.join()).toMatch(/requirePrivateNetworking is false/);
    expect(r.privateEndpoint!.status).toBe('drifted');
    expect(r.privateEndpoint!.findings.join()).toMatch(
      /the endpoint is FAILED, not ACTIVE \(the VPC endpoint service rejected the connection\)/,
    );
    expect(r.privateEndpoint!.findings.join()).toMatch(
      /its VPC endpoint is in EU_WEST_1, not in US_EAST_1, the cluster's region/,
    );
    expect(r.atlasRole!.status).toBe('drifted');
    expect(r.atlasRole!.findings.join()).toMatch(/deauthorized in Atlas/);
    expect(r.schedule!.status).toBe('drifted');
    expect(r.schedule!.findings).toEqual(['auto-export is off']);
    for (const kind of ['bucket', 'bucketPolicy', 'iamRole'])
      expect(r[kind]!.status).toBe('in-place');
  });

  it('says an access role that was never authorized is waiting for setup to finish, not "deauthorized"; one that lost its authorization is deauthorized', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const role = sandbox.atlas.state.accessRoles.find(
      (a) => a.roleId === state.resources.atlasRole.roleId,
    )!;
    delete role.authorizedDate;
    delete role.iamAssumedRoleArn;
    expect(state.resources.atlasRole.authorizedAt).toEqual(expect.any(String));

    const lost = results(await status(statePath));
    expect(byResource(lost).atlasRole!.findings).toEqual([
      `the role was deauthorized in Atlas (it was authorized ${state.resources.atlasRole.authorizedAt}; no IAM role is authorized now)`,
    ]);

    // As a setup interrupted before its authorize step leaves the state file: no authorization recorded.
    const interrupted = structuredClone(state);
    delete interrupted.resources.atlasRole.authorizedAt;
    delete interrupted.resources.atlasRole.iamAssumedRoleArn;
    interrupted.completedSteps = interrupted.completedSteps.filter(
      (step: string) => step !== 'authorize',
    );
    writeFileSync(statePath, JSON.stringify(interrupted));
    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(6);
    const r = byResource(results(result));
    expect(r.atlasRole!.status).toBe('drifted');
    expect(r.atlasRole!.findings).toEqual([
      'the role is not authorized yet: setup has not finished its authorize step (interrupted, or still running)',
    ]);
    expect(r.atlasRole!.findings.join()).not.toMatch(/deauthorized/);
    expect(r.atlasRole!.fixes).toEqual(['rerun `atlas-pl-export setup`']);
  });

  it('reports a role authorized for another ARN, auto-export pointing elsewhere, a role-allow statement gone, managed policies attached, encryption off', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const sim = sandbox.atlas.state;
    const otherArn = `arn:aws:iam::${state.aws.accountId}:role/someone-elses-role`;
    sim.accessRoles.find((a) => a.roleId === state.resources.atlasRole.roleId)!.iamAssumedRoleArn =
      otherArn;
    const otherBucketId = 'aaaaaaaaaaaaaaaaaaaaaaaa';
    sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!.export = {
      exportBucketId: otherBucketId,
      frequencyType: 'yearly',
    };

    const policy = JSON.parse(
      (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!,
    );
    policy.Statement = policy.Statement.filter(
      (s: { Sid?: string }) => s.Sid !== 'AtlasPlExportAllowPutObject',
    );
    await aws.s3.send(
      new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }),
    );

    const managed = await aws.iam.send(
      new CreatePolicyCommand({
        PolicyName: `wide-${bucket}`,
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
        }),
      }),
    );
    await aws.iam.send(
      new AttachRolePolicyCommand({
        RoleName: state.resources.iamRole.name,
        PolicyArn: managed.Policy!.Arn!,
      }),
    );
    // Default encryption removed (moto then reports none configured, as S3 did before default SSE-S3).
    await aws.s3.send(new DeleteBucketEncryptionCommand({ Bucket: bucket }));

    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(6);
    const r = byResource(results(result));
    expect(r.atlasRole!.findings.join()).toContain(
      `authorized for another IAM role: ${otherArn}, not ${state.resources.iamRole.arn}`,
    );
    expect(r.schedule!.findings).toEqual([
      `auto-export points to export bucket ${otherBucketId}, not ${state.resources.exportBucket.id}`,
      'auto-export runs yearly, not monthly',
    ]);
    expect(r.bucketPolicy!.status).toBe('drifted');
    expect(r.bucketPolicy!.findings).toEqual([
      "the statement AtlasPlExportAllowPutObject (s3:PutObject for Atlas's role) is gone",
    ]);
    expect(r.schedule!.fixes).toEqual(['run `atlas-pl-export schedule --frequency monthly`']);
    expect(r.iamRole!.fixes).toEqual([
      'detach or delete those policies by hand if they are not needed (setup keeps policies it did not add)',
    ]);
    expect(r.iamRole!.findings.join()).toContain(
      `managed policies were attached: ${managed.Policy!.Arn}`,
    );
    expect(r.bucket!.findings).toEqual(['default encryption is off']);
  });

  it('reports deleted resources as missing', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const sim = sandbox.atlas.state;
    sim.privateEndpoints = sim.privateEndpoints.filter(
      (e) => e.id !== state.resources.privateEndpoint.id,
    );
    sim.schedules.find((s) => s.clusterName === state.atlas.clusterName)!.autoExportEnabled = false;
    sim.exportBuckets = sim.exportBuckets.filter((b) => b._id !== state.resources.exportBucket.id);
    await aws.s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    await emptyBucket(aws, bucket);
    await aws.s3.send(new DeleteBucketCommand({ Bucket: bucket }));

    const result = await status(statePath);
    expect(result.code, result.stderr).toBe(6);
    const r = byResource(results(result));
    expect(r.privateEndpoint!.status).toBe('missing');
    expect(r.exportBucket!.status).toBe('missing');
    expect(r.exportBucket!.findings).toEqual([
      `Atlas no longer has the export bucket ${state.resources.exportBucket.id}`,
    ]);
    expect(r.bucket!.status).toBe('missing');
    expect(r.bucket!.findings).toEqual([`the bucket s3://${bucket} no longer exists`]);
    expect(r.bucketPolicy!.status).toBe('missing');
    expect(r.iamRole!.status).toBe('in-place');
  });

  it('says "broadened" for a permission policy that only gained statements; a state with no bucket recorded gets a "not checked" bucket line and the report shows "(no bucket recorded)"', async () => {
    const { statePath, bucket } = freshScenario('status');
    const state = await runSetup(sandbox, statePath, bucket);
    const { GetRolePolicyCommand } = await import('@aws-sdk/client-iam');
    const { iamRole } = state.resources;
    const current = await aws.iam.send(
      new GetRolePolicyCommand({ RoleName: iamRole.name, PolicyName: iamRole.policyName }),
    );
    const doc = JSON.parse(decodeURIComponent(current.PolicyDocument!));
    doc.Statement.push({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' });
    await aws.iam.send(
      new PutRolePolicyCommand({
        RoleName: iamRole.name,
        PolicyName: iamRole.policyName,
        PolicyDocument: JSON.stringify(doc),
      }),
    );
    const widened = await status(statePath);
    expect(widened.code, widened.stderr).toBe(6);
    // The S3 read is named by its API operation, as the report names it.
    expect(byResource(results(widened)).bucket!.call).toContain('s3:GetBucketEncryption');
    expect(widened.stdout).not.toContain('GetEncryptionConfiguration');
    expect(byResource(results(widened)).iamRole!.findings.join('\n')).toMatch(
      /permission policy atlas-pl-export-s3 was broadened: it now also allows s3:getobject on \* \(found, not expected: /,
    );

    const edited = readState(statePath);
    delete edited.resources.bucket;
    writeFileSync(statePath, JSON.stringify(edited, null, 2));
    const text = await status(statePath, false);
    expect(text.stdout).toMatch(
      /^not checked S3 bucket \(none\): no bucket recorded in the state file, so the bucket was not checked$/m,
    );
    expect(text.stdout.match(/S3 bucket/g)).toHaveLength(1);
    const json = await status(statePath);
    expect(byResource(results(json)).bucket).toMatchObject({
      status: 'not-checked',
      error: { code: 'SETUP_INCOMPLETE' },
    });
    const report = await runCli(['report', '--state', statePath, '--format', 'json'], {
      env: sandbox.env,
    });
    const tls = JSON.parse(report.stdout).controls.find(
      (c: { id: string }) => c.id === 's3.tls-only',
    );
    expect(tls.expected).toContain('(no bucket recorded)');
    expect(tls.expected).not.toContain('arn:aws:s3:::');
  });

  it("exits with the error's own code, not 6, when it merely could not check (missing or refused credentials), and 6 when there is drift as well", async () => {
    const { statePath, bucket } = freshScenario('status');
    await runSetup(sandbox, statePath, bucket);
    const noAtlasKeys = Object.fromEntries(
      Object.entries(sandbox.env).filter(
        ([key]) => !/^MONGODB_ATLAS_(PUBLIC|PRIVATE)_API_KEY$/.test(key),
      ),
    );

    const missingKeys = await runCli(['status', '--state', statePath, '--json'], {
      env: noAtlasKeys,
    });
    expect(missingKeys.code, missingKeys.stderr).toBe(2);
    const list = results(missingKeys);
    expect(
      list.filter((item) => item.status === 'not-checked').map((item) => item.resource),
    ).toEqual(['atlasRole', 'privateEndpoint', 'exportBucket', 'schedule']);
    expect(list.filter((item) => item.status === 'in-place').map((item) => item.resource)).toEqual([
      'bucket',
      'bucketPolicy',
      'iamRole',
    ]);
    expect(list.find((item) => item.resource === 'schedule')!.error).toMatchObject({
      code: 'ATLAS_CREDENTIALS_MISSING',
      exitCode: 2,
    });
    expect(missingKeys.stderr).toMatch(
      /The check could not run for 4 of 7 resources \(Atlas access role .*\): No Atlas credentials are set/,
    );
    expect(missingKeys.stderr).toMatch(/what to do: /);
    expect(missingKeys.stderr).not.toMatch(/not in place/);
    // The failure document carries the error behind the exit code, as every command's does.
    const missingDoc = JSON.parse(missingKeys.stdout);
    expect(missingDoc.error).toMatchObject({
      code: 'ATLAS_CREDENTIALS_MISSING',
      message: expect.stringMatching(/^The check could not run for 4 of 7 resources/),
      hint: expect.any(String),
    });

    const refused = await runCli(['status', '--state', statePath], {
      env: { ...sandbox.env, MONGODB_ATLAS_PRIVATE_API_KEY: 'not-the-private-key' },
    });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stdout).toMatch(/^not checked +Atlas access role /m);
    expect(refused.stderr).toMatch(/The check could not run for 4 of 7 resources/);
    // The 401's hint (four lines on a terminal) is printed once among the resource lines, then "see
    // above"; the closing error on stderr carries it once more (stderr may be all a CI log keeps).
    const fixLines = refused.stdout
      .split('\n')
      .filter((line) => line.startsWith('  fix: '))
      .map((line) => line.slice('  fix: '.length));
    const hints = fixLines.filter((line) => line !== 'see above');
    expect(hints.length).toBeGreaterThan(0);
    expect(new Set(hints).size).toBe(hints.length);
    expect(fixLines.filter((line) => line === 'see above').length).toBe(4 - hints.length);
    expect(refused.stdout.match(/Atlas answers 401 both when/g)).toHaveLength(hints.length);
    expect(refused.stderr.match(/Atlas answers 401 both when/g)).toHaveLength(1);
    expect(refused.stderr).not.toMatch(/not in place/);

    // Drift on the AWS side while Atlas cannot be checked: drift wins, 6.
    await aws.s3.send(new DeleteBucketEncryptionCommand({ Bucket: bucket }));
    const driftedJson = await runCli(['status', '--state', statePath, '--json'], {
      env: noAtlasKeys,
    });
    expect(driftedJson.code).toBe(6);
    expect(JSON.parse(driftedJson.stdout).error).toMatchObject({
      code: 'NOT_IN_PLACE',
      message: '1 of 7 resources is not in place',
      hint: expect.stringContaining('atlas-pl-export setup --repair'),
    });
    const drifted = await runCli(['status', '--state', statePath], { env: noAtlasKeys });
    expect(drifted.code, drifted.stderr).toBe(6);
    expect(drifted.stderr).toContain('1 of 7 resources is not in place');
    expect(drifted.stderr).toContain('4 more could not be checked');
  });

  it('--json carries the error of an unreachable AWS endpoint (code, message, hint), exit 3', async () => {
    const { statePath, bucket } = freshScenario('status');
    await runSetup(sandbox, statePath, bucket);
    const result = await runCli(['status', '--state', statePath, '--json'], {
      env: { ...sandbox.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' },
    });
    expect(result.code, result.stderr).toBe(3);
    const doc = JSON.parse(result.stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 3 });
    expect(doc.error.code).toEqual(expect.any(String));
    expect(doc.error.message).toMatch(
      /^The check could not run for \d+ of 7 resources \(S3 bucket /,
    );
    expect(doc.error.hint).toEqual(expect.any(String));
    expect(doc.error.hint.length).toBeGreaterThan(0);
    expect(doc.resources.find((item: CheckResult) => item.resource === 'bucket').status).toBe(
      'not-checked',
    );
  });

  it('reports object ownership ObjectWriter as drift on a bucket setup created, not on one it adopted (whose ownership setup leaves as it is)', async () => {
    const writer = (bucket: string) =>
      aws.s3.send(
        new PutBucketOwnershipControlsCommand({
          Bucket: bucket,
          OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] },
        }),
      );
    const created = freshScenario('status');
    await runSetup(sandbox, created.statePath, created.bucket, []);
    await writer(created.bucket);
    const createdResult = await status(created.statePath);
    expect(createdResult.code, createdResult.stderr).toBe(6);
    expect(byResource(results(createdResult)).bucket).toMatchObject({
      status: 'drifted',
      findings: ['object ownership is ObjectWriter: ACLs are enabled again'],
    });

    const adopted = freshScenario('status');
    await aws.s3.send(new CreateBucketCommand({ Bucket: adopted.bucket }));
    const state = await runSetup(sandbox, adopted.statePath, adopted.bucket, []);
    expect(state.resources.bucket.origin).toBe('adopted');
    await writer(adopted.bucket);
    const adoptedResult = await status(adopted.statePath);
    expect(adoptedResult.code, adoptedResult.stderr).toBe(0);
    expect(byResource(results(adoptedResult)).bucket!.status).toBe('in-place');
  });

  it('reads --config like the other commands: a missing file is a usage error before any call; one naming another project is warned about', async () => {
    const { statePath, bucket } = freshScenario('status');
    await runSetup(sandbox, statePath, bucket);
    const callsBefore = sandbox.atlas.calls.length;
    const absent = await runCli(['status', '--state', statePath, '--config', '/nonexistent.json'], {
      env: sandbox.env,
    });
    expect(absent.code).toBe(2);
    expect(absent.stderr).toMatch(/Cannot read the config file \/nonexistent\.json/);
    expect(absent.stderr).toMatch(/what to do: Check the path given to --config/);
    expect(sandbox.atlas.calls.length).toBe(callsBefore);

    const other = join(dirname(statePath), 'other-project.json');
    writeFileSync(other, JSON.stringify({ projectId: 'ffffffffffffffffffffffff' }));
    const warned = await runCli(['status', '--state', statePath, '--config', other], {
      env: sandbox.env,
    });
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain(
      'warning: The config file names project ffffffffffffffffffffffff, but the state file is for project',
    );
  });

  it('fails clearly without a state file', async () => {
    const { statePath } = freshScenario('status');
    const result = await status(statePath);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain('No state file at');
  });
});
