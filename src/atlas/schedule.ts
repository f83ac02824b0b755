/**
 * The cluster's backup schedule, 2024-08-05 (NOTES section 7). The PATCH schema requires
 * `policies`, and Atlas would read a missing or altered policy list as a change to the snapshot
 * policies, so every update sends the current policies back exactly as read.
 */
import { UsageError } from '../errors.js';
import type { AtlasClient } from './http.js';
import { clusterPath } from './paths.js';
import type { AutoExportFrequency, BackupSchedule } from './types.js';

export const SCHEDULE_VERSION = '2024-08-05';

/** Fields Atlas sets and never accepts as input. */
const READ_ONLY_FIELDS = ['clusterId', 'clusterName', 'nextSnapshot', 'links'] as const;
const FREQUENCIES: readonly AutoExportFrequency[] = ['monthly', 'yearly'];

const schedulePath = (groupId: string, clusterName: string) => clusterPath(groupId, clusterName, 'backup', 'schedule');

export function getSchedule(client: AtlasClient, groupId: string, clusterName: string): Promise<BackupSchedule> {
  return client.request<BackupSchedule>({ method: 'GET', path: schedulePath(groupId, clusterName), version: SCHEDULE_VERSION });
}

/** PATCHes the schedule; build `body` with withAutoExport so the policies stay as they are. */
export function updateSchedule(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  body: Partial<BackupSchedule> & Pick<BackupSchedule, 'policies'>,
): Promise<BackupSchedule> {
  return client.request<BackupSchedule>({ method: 'PATCH', path: schedulePath(groupId, clusterName), version: SCHEDULE_VERSION, body });
}

export interface AutoExportChange {
  enabled: boolean;
  /** Needed to enable when the schedule has no export bucket yet. */
  exportBucketId?: string;
  /** monthly or yearly (checked). @default the current frequency, else 'monthly' */
  frequencyType?: AutoExportFrequency | (string & {});
}

/**
 * The PATCH body that turns auto-export on or off: the current schedule without its read-only
 * fields, with every policy (item ids included, which is how Atlas matches them) kept exactly.
 */
export function withAutoExport(schedule: BackupSchedule, change: AutoExportChange): BackupSchedule {
  const body = structuredClone(schedule);
  for (const field of READ_ONLY_FIELDS) delete body[field];
  body.autoExportEnabled = change.enabled;
  if (!change.enabled) return body;
  const frequencyType = change.frequencyType ?? schedule.export?.frequencyType ?? 'monthly';
  if (!FREQUENCIES.includes(frequencyType as AutoExportFrequency)) {
    throw new UsageError(`Auto-export frequency ${String(frequencyType)} is not one Atlas accepts.`, {
      code: 'INVALID_EXPORT_FREQUENCY',
      hint: 'Use monthly or yearly.',
    });
  }
  const exportBucketId = change.exportBucketId ?? schedule.export?.exportBucketId;
  if (!exportBucketId) {
    throw new UsageError('Turning on auto-export needs an export bucket.', {
      code: 'EXPORT_BUCKET_REQUIRED',
      hint: 'Run setup first so that the export bucket exists.',
    });
  }
  body.export = { exportBucketId, frequencyType: frequencyType as AutoExportFrequency };
  return body;
}
