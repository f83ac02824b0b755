import { AttachRolePolicyCommand, CreatePolicyCommand } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsClients, type AwsClients } from '../../src/aws/clients.js';
import { awsError } from '../../src/aws/errors.js';
import {
  createRole,
  deleteInlinePolicy,
  deleteRole,
  getInlinePolicy,
  getRole,
  listAttachedPolicies,
  listInlinePolicyNames,
  putInlinePolicy,
  updateTrustPolicy,
  waitUntilRoleVisible,
} from '../../src/aws/iam.js';
import { permissionPolicy, policiesEquivalent, trustPolicy } from '../../src/aws/policies.js';
import { getCallerIdentity } from '../../src/aws/sts.js';
import { CliError } from '../../src/errors.js';
import { startMoto, type MotoServer } from '../../src/sandbox/moto.js';

let moto: MotoServer;
let clients: AwsClients;
const atlas = {
  atlasAWSAccountArn: 'arn:aws:iam::536727724300:root',
  externalId: '3b9e6f0c-1c1a-4c57-9c5e-0f4f1b0c2d11',
};

beforeAll(async () => {
  moto = await startMoto();
  const env = {
    AWS_ENDPOINT_URL: moto.url,
    AWS_CA_BUNDLE: moto.caFile,
    AWS_ACCESS_KEY_ID: 'AKIDSANDBOX',
    AWS_SECRET_ACCESS_KEY: 'sandbox-secret',
    AWS_REGION: 'us-east-1',
  };
  // The SDK's credential and endpoint chains read process.env, not createAwsClients' `env`.
  Object.assign(process.env, env);
  clients = await createAwsClients({ env });
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
});

describe('STS', () => {
  it('names the caller, its account and partition', async () => {
    const identity = await getCallerIdentity(clients);
    expect(identity.account).toMatch(/^\d{12}$/);
    expect(identity.arn).toMatch(/^arn:aws:/);
    expect(identity.partition).toBe('aws');
    expect(identity.userId).not.toBe('');
  });
});

describe('roles', () => {
  it('creates, reads back (URL-encoded trust policy parsed) and updates the trust policy', async () => {
    const created = await createRole(clients, {
      name: 'atlas-export',
      trustPolicy: trustPolicy(atlas),
      description: 'Atlas snapshot export',
      tags: { tool: 'atlas-pl-export' },
    });
    expect(created.arn).toMatch(/^arn:aws:iam::\d{12}:role\/atlas-export$/);
    const role = await waitUntilRoleVisible(clients, 'atlas-export', {
      timeoutMs: 2000,
      intervalMs: 10,
    });
    expect(role.roleId).toMatch(/^AROA/);
    expect(policiesEquivalent(role.trustPolicy, trustPolicy(atlas))).toBe(true);

    const rotated = trustPolicy({ ...atlas, externalId: 'another-external-id' });
    await updateTrustPolicy(clients, 'atlas-export', rotated);
    const after = await getRole(clients, 'atlas-export');
    expect(policiesEquivalent(after?.trustPolicy, rotated)).toBe(true);
    expect(policiesEquivalent(after?.trustPolicy, trustPolicy(atlas))).toBe(false);
  });

  it('returns undefined for a missing role and refuses to create a duplicate', async () => {
    expect(await getRole(clients, 'nope')).toBeUndefined();
    await createRole(clients, { name: 'dup', trustPolicy: trustPolicy(atlas) });
    await expect(
      createRole(clients, { name: 'dup', trustPolicy: trustPolicy(atlas) }),
    ).rejects.toMatchObject({ code: 'IAM_ROLE_EXISTS', exitCode: 3 });
  });

  it('times out waiting for a role that never appears', async () => {
    await expect(
      waitUntilRoleVisible(clients, 'ghost', { timeoutMs: 50, intervalMs: 10 }),
    ).rejects.toMatchObject({ code: 'IAM_ROLE_NOT_VISIBLE', exitCode: 4 });
  });

  it('manages the inline policy and reads it back equivalent', async () => {
    await createRole(clients, { name: 'r', trustPolicy: trustPolicy(atlas) });
    const policy = permissionPolicy({ bucket: 'exports', partition: 'aws' });
    expect(await getInlinePolicy(clients, 'r', 'atlas-export')).toBeUndefined();
    await putInlinePolicy(clients, 'r', 'atlas-export', policy);
    expect(policiesEquivalent(await getInlinePolicy(clients, 'r', 'atlas-export'), policy)).toBe(
      true,
    );
    expect(await listInlinePolicyNames(clients, 'r')).toEqual(['atlas-export']);
    expect(await deleteInlinePolicy(clients, 'r', 'atlas-export')).toBe(true);
    expect(await deleteInlinePolicy(clients, 'r', 'atlas-export')).toBe(false);
    expect(await listInlinePolicyNames(clients, 'r')).toEqual([]);
  });

  it('deletes a role only once nothing else is on it', async () => {
    await createRole(clients, { name: 'r2', trustPolicy: trustPolicy(atlas) });
    await putInlinePolicy(
      clients,
      'r2',
      'atlas-export',
      permissionPolicy({ bucket: 'exports', partition: 'aws' }),
    );
    const managed = await clients.iam.send(
      new CreatePolicyCommand({
        PolicyName: 'extra',
        PolicyDocument: JSON.stringify(permissionPolicy({ bucket: 'other', partition: 'aws' })),
      }),
    );
    const arn = managed.Policy?.Arn ?? '';
    await clients.iam.send(new AttachRolePolicyCommand({ RoleName: 'r2', PolicyArn: arn }));
    expect(await listAttachedPolicies(clients, 'r2')).toEqual([{ name: 'extra', arn }]);

    const error = await deleteRole(clients, 'r2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('IAM_ROLE_HAS_POLICIES');
    expect((error as CliError).message).toContain('inline "atlas-export"');
    expect((error as CliError).message).toContain(arn);
    expect(await getRole(clients, 'r2')).toBeDefined();

    await deleteInlinePolicy(clients, 'r2', 'atlas-export');
    await expect(deleteRole(clients, 'r2')).rejects.toMatchObject({
      code: 'IAM_ROLE_HAS_POLICIES',
    });
  });

  it('deletes a bare role, and reports false when it is already gone', async () => {
    await createRole(clients, { name: 'r3', trustPolicy: trustPolicy(atlas) });
    expect(await deleteRole(clients, 'r3')).toBe(true);
    expect(await getRole(clients, 'r3')).toBeUndefined();
    expect(await deleteRole(clients, 'r3')).toBe(false);
  });
});

describe('error classification', () => {
  it('explains an unreachable endpoint without leaking the secret key', async () => {
    const unreachable = await createAwsClients({ env: { AWS_REGION: 'us-east-1' } });
    // A closed local port: connection refused, quickly.
    const { STSClient } = await import('@aws-sdk/client-sts');
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      maxAttempts: 1,
      credentials: { accessKeyId: 'AKIDSANDBOX', secretAccessKey: 'sandbox-secret' },
    });
    const error = await getCallerIdentity({ ...unreachable, sts }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe('AWS_UNREACHABLE');
    expect((error as CliError).exitCode).toBe(3);
    expect((error as CliError).hint).toContain('AWS_ENDPOINT_URL');
    expect(`${(error as CliError).message} ${(error as CliError).hint}`).not.toContain(
      'sandbox-secret',
    );
  });

  it('classifies by name: missing, expired and rejected credentials, access denied, throttling', () => {
    const named = (name: string, status?: number) =>
      Object.assign(new Error('ignored text'), { name, $metadata: { httpStatusCode: status } });
    const context = { action: 's3:CreateBucket', resource: 'bucket "b"' };
    const missing = awsError(named('CredentialsProviderError'), context);
    expect(missing.code).toBe('AWS_NO_CREDENTIALS');
    expect(missing.hint).toMatch(/^configure AWS credentials: AWS_PROFILE.*aws sso login/);
    expect(awsError(named('ExpiredToken', 400), context).code).toBe('AWS_CREDENTIALS_EXPIRED');
    expect(awsError(named('InvalidAccessKeyId', 403), context).code).toBe(
      'AWS_CREDENTIALS_REJECTED',
    );
    const denied = awsError(named('AccessDenied', 403), context);
    expect(denied.message).toBe(
      'AWS denied s3:CreateBucket on bucket "b": your identity is not allowed s3:CreateBucket.',
    );
    expect(awsError(named('SlowDown', 503), context).code).toBe('AWS_THROTTLED');
    expect(awsError(named('NoSuchBucket', 404), context).message).toBe(
      'AWS refused s3:CreateBucket on bucket "b": NoSuchBucket (HTTP 404).',
    );
    const passthrough = new CliError('already explained');
    expect(awsError(passthrough, context)).toBe(passthrough);
  });
});
