/** Cloud provider access roles (the Atlas side of the IAM role), 2023-01-01 (NOTES section 2). */
import type { AtlasClient } from './http.js';
import { groupPath } from './paths.js';
import {
  AwsIamRoleSchema,
  CloudProviderAccessRolesSchema,
  type AwsIamRole,
  type CloudProviderAccessRoles,
} from './types.js';

export const ACCESS_VERSION = '2023-01-01';

const rolesPath = (groupId: string) => groupPath(groupId, 'cloudProviderAccess');

/** The project's AWS IAM roles (this list is not paginated: one object with a list per cloud). */
export async function listAccessRoles(client: AtlasClient, groupId: string): Promise<AwsIamRole[]> {
  const roles = await client.request<CloudProviderAccessRoles>({
    method: 'GET',
    path: rolesPath(groupId),
    version: ACCESS_VERSION,
    schema: CloudProviderAccessRolesSchema,
  });
  return roles.awsIamRoles ?? [];
}

/**
 * Creates an AWS access role. Should the answer be lost, the role that did not exist before the
 * call (the newest, if several) is taken as the result instead of creating a second one.
 */
export async function createAccessRole(client: AtlasClient, groupId: string): Promise<AwsIamRole> {
  const before = new Set((await listAccessRoles(client, groupId)).map((role) => role.roleId));
  return client.request<AwsIamRole>({
    method: 'POST',
    path: rolesPath(groupId),
    version: ACCESS_VERSION,
    body: { providerName: 'AWS' },
    schema: AwsIamRoleSchema,
    recover: async () => {
      const fresh = (await listAccessRoles(client, groupId)).filter(
        (role) => !before.has(role.roleId),
      );
      return fresh.sort(
        (a, b) => Date.parse(b.createdDate ?? '') - Date.parse(a.createdDate ?? ''),
      )[0];
    },
  });
}

export function getAccessRole(
  client: AtlasClient,
  groupId: string,
  roleId: string,
): Promise<AwsIamRole> {
  return client.request<AwsIamRole>({
    method: 'GET',
    path: groupPath(groupId, 'cloudProviderAccess', roleId),
    version: ACCESS_VERSION,
    schema: AwsIamRoleSchema,
  });
}

/** Points the Atlas role at the customer's IAM role (idempotent: the same PATCH may be repeated). */
export function authorizeAccessRole(
  client: AtlasClient,
  groupId: string,
  roleId: string,
  iamRoleArn: string,
): Promise<AwsIamRole> {
  return client.request<AwsIamRole>({
    method: 'PATCH',
    path: groupPath(groupId, 'cloudProviderAccess', roleId),
    version: ACCESS_VERSION,
    body: { providerName: 'AWS', iamAssumedRoleArn: iamRoleArn },
    schema: AwsIamRoleSchema,
  });
}

export async function deauthorizeAccessRole(
  client: AtlasClient,
  groupId: string,
  roleId: string,
): Promise<void> {
  await client.request<void>({
    method: 'DELETE',
    path: groupPath(groupId, 'cloudProviderAccess', 'AWS', roleId),
    version: ACCESS_VERSION,
  });
}
