/** Snapshot export jobs, 2023-01-01 (NOTES section 5). `state` is mixed case (Queued, InProgress, ...). */
import type { AtlasClient } from './http.js';
import { clusterPath } from './paths.js';
import { ExportJobSchema, type BackupLabel, type ExportJob } from './types.js';

export const EXPORTS_VERSION = '2023-01-01';

/** Allowed difference between this machine's clock and Atlas's when matching a lost create. */
const CLOCK_SKEW_MS = 60_000;

const exportsPath = (groupId: string, clusterName: string, ...rest: string[]) =>
  clusterPath(groupId, clusterName, 'backup', 'exports', ...rest);

export interface CreateExportJobInput {
  snapshotId: string;
  exportBucketId: string;
  customData?: BackupLabel[];
}

export function listExportJobs(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
): Promise<ExportJob[]> {
  return client.paginate<ExportJob>({
    path: exportsPath(groupId, clusterName),
    version: EXPORTS_VERSION,
    schema: ExportJobSchema,
  });
}

/**
 * Starts an export. Should the answer be lost, a job for the same snapshot and bucket created
 * after this call started is the result instead of starting a second export.
 */
export function createExportJob(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  input: CreateExportJobInput,
): Promise<ExportJob> {
  const started = Date.now();
  const body: Record<string, unknown> = {
    snapshotId: input.snapshotId,
    exportBucketId: input.exportBucketId,
  };
  if (input.customData?.length) body.customData = input.customData;
  return client.request<ExportJob>({
    method: 'POST',
    path: exportsPath(groupId, clusterName),
    version: EXPORTS_VERSION,
    body,
    schema: ExportJobSchema,
    recover: async () =>
      (await listExportJobs(client, groupId, clusterName))
        .filter(
          (job) =>
            job.snapshotId === input.snapshotId && job.exportBucketId === input.exportBucketId,
        )
        .filter((job) => !job.createdAt || Date.parse(job.createdAt) >= started - CLOCK_SKEW_MS)
        .sort((a, b) => Date.parse(b.createdAt ?? '') - Date.parse(a.createdAt ?? ''))[0],
  });
}

export function getExportJob(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  exportId: string,
): Promise<ExportJob> {
  return client.request<ExportJob>({
    method: 'GET',
    path: exportsPath(groupId, clusterName, exportId),
    version: EXPORTS_VERSION,
    schema: ExportJobSchema,
  });
}
