/**
 * Snapshot export buckets, 2024-05-30 (the PATCH exists only there); DELETE exists only in
 * 2023-01-01 (NOTES sections 4 and 10). The id field is `_id`.
 */
import type { AtlasClient } from './http.js';
import { groupPath } from './paths.js';
import { ExportBucketSchema, type ExportBucket } from './types.js';

export const BUCKETS_VERSION = '2024-05-30';
export const BUCKETS_DELETE_VERSION = '2023-01-01';

const bucketsPath = (groupId: string, ...rest: string[]) =>
  groupPath(groupId, 'backup', 'exportBuckets', ...rest);

export interface CreateExportBucketInput {
  bucketName: string;
  /** The Atlas roleId of the cloud provider access role (not the AWS role id or ARN). */
  iamRoleId: string;
  requirePrivateNetworking: boolean;
}

export function listExportBuckets(client: AtlasClient, groupId: string): Promise<ExportBucket[]> {
  return client.paginate<ExportBucket>({
    path: bucketsPath(groupId),
    version: BUCKETS_VERSION,
    schema: ExportBucketSchema,
  });
}

/** Creates the export bucket; should the answer be lost, the one for the same bucket and role is the result. */
export function createExportBucket(
  client: AtlasClient,
  groupId: string,
  input: CreateExportBucketInput,
): Promise<ExportBucket> {
  return client.request<ExportBucket>({
    method: 'POST',
    path: bucketsPath(groupId),
    version: BUCKETS_VERSION,
    body: {
      bucketName: input.bucketName,
      cloudProvider: 'AWS',
      iamRoleId: input.iamRoleId,
      requirePrivateNetworking: input.requirePrivateNetworking,
    },
    schema: ExportBucketSchema,
    recover: async () =>
      (await listExportBuckets(client, groupId)).find(
        (item) => item.bucketName === input.bucketName && item.iamRoleId === input.iamRoleId,
      ),
  });
}

export function getExportBucket(
  client: AtlasClient,
  groupId: string,
  exportBucketId: string,
): Promise<ExportBucket> {
  return client.request<ExportBucket>({
    method: 'GET',
    path: bucketsPath(groupId, exportBucketId),
    version: BUCKETS_VERSION,
    schema: ExportBucketSchema,
  });
}

/** Sets requirePrivateNetworking (idempotent: the same PATCH may be repeated). */
export function updatePrivateNetworking(
  client: AtlasClient,
  groupId: string,
  exportBucketId: string,
  requirePrivateNetworking: boolean,
): Promise<ExportBucket> {
  return client.request<ExportBucket>({
    method: 'PATCH',
    path: bucketsPath(groupId, exportBucketId),
    version: BUCKETS_VERSION,
    body: { requirePrivateNetworking },
    schema: ExportBucketSchema,
  });
}

export async function deleteExportBucket(
  client: AtlasClient,
  groupId: string,
  exportBucketId: string,
): Promise<void> {
  await client.request<void>({
    method: 'DELETE',
    path: bucketsPath(groupId, exportBucketId),
    version: BUCKETS_DELETE_VERSION,
  });
}
