/** The IAM operations the tool uses on the role Atlas assumes, and its inline permission policy. */
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { CliError, ExitCode } from '../errors.js';
import type { AwsClients } from './clients.js';
import { awsError, isAwsError, withAwsErrors } from './errors.js';
import { parsePolicyDocument, type PolicyDocument } from './policies.js';

export interface RoleInfo {
  name: string;
  arn: string;
  /** AWS's own id (AROA...), not the Atlas roleId. */
  roleId: string;
  createDate: Date | undefined;
  trustPolicy: PolicyDocument | undefined;
}

const roleLabel = (name: string) => `IAM role "${name}"`;

export async function getRole(clients: AwsClients, name: string): Promise<RoleInfo | undefined> {
  try {
    const answer = await clients.iam.send(new GetRoleCommand({ RoleName: name }));
    const role = answer.Role;
    if (!role) return undefined;
    return {
      name: role.RoleName ?? name,
      arn: role.Arn ?? '',
      roleId: role.RoleId ?? '',
      createDate: role.CreateDate,
      trustPolicy: role.AssumeRolePolicyDocument
        ? parsePolicyDocument(role.AssumeRolePolicyDocument)
        : undefined,
    };
  } catch (error) {
    if (isAwsError(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw awsError(error, { action: 'iam:GetRole', resource: roleLabel(name) });
  }
}

export interface CreateRoleInput {
  name: string;
  trustPolicy: PolicyDocument;
  description?: string;
  tags?: Record<string, string>;
}

/** Creates the role; a role of that name already existing is a clear error, not an adoption. */
export async function createRole(clients: AwsClients, input: CreateRoleInput): Promise<RoleInfo> {
  try {
    const answer = await clients.iam.send(
      new CreateRoleCommand({
        RoleName: input.name,
        AssumeRolePolicyDocument: JSON.stringify(input.trustPolicy),
        Description: input.description,
        Tags: Object.entries(input.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
      }),
    );
    const role = answer.Role;
    return {
      name: role?.RoleName ?? input.name,
      arn: role?.Arn ?? '',
      roleId: role?.RoleId ?? '',
      createDate: role?.CreateDate,
      trustPolicy: input.trustPolicy,
    };
  } catch (error) {
    if (isAwsError(error, 'EntityAlreadyExists', 'EntityAlreadyExistsException')) {
      throw new CliError(`An IAM role named "${input.name}" already exists in this account.`, {
        code: 'IAM_ROLE_EXISTS',
        exitCode: ExitCode.cloud,
        hint: 'Choose another role name, or delete that role if it is a leftover of an earlier run.',
        cause: error,
      });
    }
    throw awsError(error, { action: 'iam:CreateRole', resource: roleLabel(input.name) });
  }
}

export async function updateTrustPolicy(
  clients: AwsClients,
  name: string,
  trustPolicy: PolicyDocument,
): Promise<void> {
  await withAwsErrors({ action: 'iam:UpdateAssumeRolePolicy', resource: roleLabel(name) }, () =>
    clients.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: name,
        PolicyDocument: JSON.stringify(trustPolicy),
      }),
    ),
  );
}

export async function getInlinePolicy(
  clients: AwsClients,
  role: string,
  policyName: string,
): Promise<PolicyDocument | undefined> {
  try {
    const answer = await clients.iam.send(
      new GetRolePolicyCommand({ RoleName: role, PolicyName: policyName }),
    );
    return answer.PolicyDocument ? parsePolicyDocument(answer.PolicyDocument) : undefined;
  } catch (error) {
    if (isAwsError(error, 'NoSuchEntity', 'NoSuchEntityException')) return undefined;
    throw awsError(error, {
      action: 'iam:GetRolePolicy',
      resource: `${roleLabel(role)} policy "${policyName}"`,
    });
  }
}

export async function putInlinePolicy(
  clients: AwsClients,
  role: string,
  policyName: string,
  policy: PolicyDocument,
): Promise<void> {
  await withAwsErrors({ action: 'iam:PutRolePolicy', resource: roleLabel(role) }, () =>
    clients.iam.send(
      new PutRolePolicyCommand({
        RoleName: role,
        PolicyName: policyName,
        PolicyDocument: JSON.stringify(policy),
      }),
    ),
  );
}

export async function listInlinePolicyNames(clients: AwsClients, role: string): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await withAwsErrors(
      { action: 'iam:ListRolePolicies', resource: roleLabel(role) },
      () => clients.iam.send(new ListRolePoliciesCommand({ RoleName: role, Marker: marker })),
    );
    names.push(...(page.PolicyNames ?? []));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return names;
}

export interface AttachedPolicy {
  name: string;
  arn: string;
}

export async function listAttachedPolicies(
  clients: AwsClients,
  role: string,
): Promise<AttachedPolicy[]> {
  const policies: AttachedPolicy[] = [];
  let marker: string | undefined;
  do {
    const page = await withAwsErrors(
      { action: 'iam:ListAttachedRolePolicies', resource: roleLabel(role) },
      () =>
        clients.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, Marker: marker })),
    );
    for (const item of page.AttachedPolicies ?? [])
      policies.push({ name: item.PolicyName ?? '', arn: item.PolicyArn ?? '' });
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return policies;
}

/** Deletes an inline policy; false when it did not exist. */
export async function deleteInlinePolicy(
  clients: AwsClients,
  role: string,
  policyName: string,
): Promise<boolean> {
  try {
    await clients.iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: policyName }));
    return true;
  } catch (error) {
    if (isAwsError(error, 'NoSuchEntity', 'NoSuchEntityException')) return false;
    throw awsError(error, {
      action: 'iam:DeleteRolePolicy',
      resource: `${roleLabel(role)} policy "${policyName}"`,
    });
  }
}

/**
 * Deletes the role; false when it did not exist. Refuses, naming them, while any inline or managed
 * policy is still on the role: those are not this tool's to remove silently.
 */
export async function deleteRole(clients: AwsClients, name: string): Promise<boolean> {
  if (!(await getRole(clients, name))) return false;
  const [inline, attached] = await Promise.all([
    listInlinePolicyNames(clients, name),
    listAttachedPolicies(clients, name),
  ]);
  const remaining = [
    ...inline.map((policy) => `inline "${policy}"`),
    ...attached.map((policy) => `managed ${policy.arn}`),
  ];
  if (remaining.length > 0) {
    throw new CliError(
      `IAM role "${name}" still has policies: ${remaining.join(', ')}; it was not deleted.`,
      {
        code: 'IAM_ROLE_HAS_POLICIES',
        exitCode: ExitCode.cloud,
        hint: 'Remove those policies from the role (or keep the role), then rerun.',
      },
    );
  }
  try {
    await clients.iam.send(new DeleteRoleCommand({ RoleName: name }));
    return true;
  } catch (error) {
    if (isAwsError(error, 'NoSuchEntity', 'NoSuchEntityException')) return false;
    throw awsError(error, { action: 'iam:DeleteRole', resource: roleLabel(name) });
  }
}

export interface WaitOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Default 1 s. */
  intervalMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * IAM is eventually consistent: a role just created can answer NoSuchEntity for a few seconds.
 * Polls GetRole until the role is visible, or throws a timeout error.
 */
export async function waitUntilRoleVisible(
  clients: AwsClients,
  name: string,
  options: WaitOptions = {},
): Promise<RoleInfo> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 1_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const role = await getRole(clients, name);
    if (role) return role;
    if (Date.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  throw new CliError(
    `IAM role "${name}" did not become visible within ${Math.round(timeoutMs / 1000)} s.`,
    {
      code: 'IAM_ROLE_NOT_VISIBLE',
      exitCode: ExitCode.timeout,
      hint: 'IAM changes can take a little while to propagate; rerun to continue.',
    },
  );
}
