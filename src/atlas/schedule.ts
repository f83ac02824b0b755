/**
 * The cluster's backup schedule, 2024-08-05 (NOTES section 7). The PATCH schema requires
 * `policies`, and Atlas would read a missing or altered policy list as a change to the snapshot
 * policies, so every update sends the current policies back exactly as read.
 */
import { UsageError } from '../errors.js';
import type { AtlasClient } from './http.js';
import { clusterPath } from './paths.js';
import { BackupScheduleSchema, type AutoExportFrequency, type BackupSchedule } from './types.js';

export const SCHEDULE_VERSION = '2024-08-05';

/** Fields Atlas sets and never accepts as input. */
const READ_ONLY_FIELDS = ['clusterId', 'clusterName', 'nextSnapshot', 'links'] as const;

const schedulePath = (groupId: string, clusterName: string) =>
  clusterPath(groupId, clusterName, 'backup', 'schedule');

export function getSchedule(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
): Promise<BackupSchedule> {
  return client.request<BackupSchedule>({
    method: 'GET',
    path: schedulePath(groupId, clusterName),
    version: SCHEDULE_VERSION,
    schema: BackupScheduleSchema,
  });
}

/** PATCHes the schedule; build `body` with withAutoExport so the policies stay as they are. */
export function updateSchedule(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  body: Partial<BackupSchedule> & Pick<BackupSchedule, 'policies'>,
): Promise<BackupSchedule> {
  return client.request<BackupSchedule>({
    method: 'PATCH',
    path: schedulePath(groupId, clusterName),
    version: SCHEDULE_VERSION,
    body,
    schema: BackupScheduleSchema,
  });
}

export interface AutoExportChange {
  enabled: boolean;
  /** Needed to enable when the schedule has no export bucket yet. */
  exportBucketId?: string;
  /**
   * The spec lists monthly and yearly; Atlas enables other frequencies per project, so any value is
   * sent and Atlas decides. @default the current frequency, else 'monthly'
   */
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

const POLICY_ITEM_FIELDS = [
  'id',
  'frequencyType',
  'frequencyInterval',
  'retentionUnit',
  'retentionValue',
] as const;

/** Every difference between two versions of a schedule's snapshot policies, one line each (none: unchanged). */
export function comparePolicies(
  before: BackupSchedule['policies'],
  after: BackupSchedule['policies'],
): string[] {
  const differences: string[] = [];
  if (before.length !== after.length)
    differences.push(`${before.length} policies before, ${after.length} after`);
  before.forEach((policy, p) => {
    const other =
      after.find((candidate) => policy.id !== undefined && candidate.id === policy.id) ?? after[p];
    if (!other) {
      differences.push(`policy ${policy.id ?? p} is gone`);
      return;
    }
    if (policy.id !== other.id)
      differences.push(`policy ${p}: id ${policy.id ?? '(none)'} -> ${other.id ?? '(none)'}`);
    if (policy.policyItems.length !== other.policyItems.length) {
      differences.push(
        `policy ${policy.id ?? p}: ${policy.policyItems.length} items before, ${other.policyItems.length} after`,
      );
    }
    policy.policyItems.forEach((item, i) => {
      const match =
        other.policyItems.find((candidate) => item.id !== undefined && candidate.id === item.id) ??
        other.policyItems[i];
      const label = `policy ${policy.id ?? p}, item ${item.id ?? i} (${item.frequencyType})`;
      if (!match) {
        differences.push(`${label} is gone`);
        return;
      }
      for (const field of POLICY_ITEM_FIELDS) {
        if (item[field] !== match[field])
          differences.push(`${label}: ${field} ${String(item[field])} -> ${String(match[field])}`);
      }
    });
    const known = new Set(policy.policyItems.map((item) => item.id));
    const added =
      policy.policyItems.length < other.policyItems.length
        ? other.policyItems.filter((item) => !known.has(item.id))
        : [];
    for (const extra of added) {
      differences.push(
        `policy ${policy.id ?? p}: new item ${extra.id} (${extra.frequencyType} every ${extra.frequencyInterval}, keep ${extra.retentionValue} ${extra.retentionUnit})`,
      );
    }
  });
  return differences;
}
