/** The backup schedule (2023-01-01 and 2024-08-05), including the auto-export settings. */
import { HEX24, apiError, newId } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  invalid,
  missing,
  objectBody,
  requireBackupCluster,
  selfLinks,
} from '../context.js';
import type { PolicyItem, Schedule } from '../types.js';

function findSchedule(ctx: HandlerContext): Schedule {
  const cluster = requireBackupCluster(ctx);
  let schedule = ctx.store.schedules.find(
    (s) => s.groupId === cluster.groupId && s.clusterName === cluster.name,
  );
  if (!schedule) {
    schedule = {
      groupId: cluster.groupId,
      clusterName: cluster.name,
      clusterId: cluster.id,
      autoExportEnabled: false,
      useOrgAndGroupNamesInExportPrefix: false,
      policies: [
        {
          id: newId(),
          policyItems: [
            {
              id: newId(),
              frequencyInterval: 1,
              frequencyType: 'daily',
              retentionUnit: 'days',
              retentionValue: 7,
            },
          ],
        },
      ],
      referenceHourOfDay: 0,
      referenceMinuteOfHour: 0,
      restoreWindowDays: 2,
      copySettings: [],
      extraRetentionSettings: [],
    };
    ctx.store.schedules.push(schedule);
  }
  return schedule;
}

function nextSnapshot(schedule: Schedule): string {
  const next = new Date();
  next.setUTCHours(schedule.referenceHourOfDay, schedule.referenceMinuteOfHour, 0, 0);
  if (next.getTime() <= Date.now()) next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function render(ctx: HandlerContext, schedule: Schedule): Record<string, unknown> {
  const out: Record<string, unknown> = {
    clusterId: schedule.clusterId,
    clusterName: schedule.clusterName,
    autoExportEnabled: schedule.autoExportEnabled,
    useOrgAndGroupNamesInExportPrefix: schedule.useOrgAndGroupNamesInExportPrefix,
    policies: schedule.policies,
    referenceHourOfDay: schedule.referenceHourOfDay,
    referenceMinuteOfHour: schedule.referenceMinuteOfHour,
    restoreWindowDays: schedule.restoreWindowDays,
    copySettings: schedule.copySettings,
    extraRetentionSettings: schedule.extraRetentionSettings,
    copyPolicyItemsEnabled: false,
    nextSnapshot: nextSnapshot(schedule),
    links: selfLinks(ctx.selfUrl),
  };
  if (schedule.export) out.export = schedule.export;
  if (ctx.version === '2024-08-05') out.autoCopySettingsEnabled = false;
  return out;
}

export const getSchedule: Handler = (ctx) => render(ctx, findSchedule(ctx));

const COMMON_FIELDS = [
  'autoExportEnabled',
  'export',
  'useOrgAndGroupNamesInExportPrefix',
  'policies',
  'referenceHourOfDay',
  'referenceMinuteOfHour',
  'restoreWindowDays',
  'copySettings',
  'extraRetentionSettings',
  'copyPolicyItemsEnabled',
  'deleteCopiedBackups',
  'deleteCopySnapshots',
  'deleteSnapshots',
  'updateSnapshots',
  'updateCopySnapshots',
  // readOnly fields a client may echo back from a GET; Atlas ignores them.
  'clusterId',
  'clusterName',
  'nextSnapshot',
  'links',
];
const FIELDS: Record<string, string[]> = {
  '2023-01-01': COMMON_FIELDS,
  '2024-08-05': [...COMMON_FIELDS, 'autoCopySettingsEnabled'],
};

const FREQUENCIES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly', 'ondemand'];
const UNITS = ['days', 'weeks', 'months', 'years'];

function policyItem(raw: unknown, path: string): PolicyItem {
  if (!raw || typeof raw !== 'object') invalid(path, raw);
  const item = raw as Record<string, unknown>;
  for (const field of ['frequencyInterval', 'frequencyType', 'retentionUnit', 'retentionValue']) {
    if (item[field] === undefined) missing(`${path}.${field}`);
  }
  if (!Number.isInteger(item.frequencyInterval))
    invalid(`${path}.frequencyInterval`, item.frequencyInterval);
  if (!Number.isInteger(item.retentionValue))
    invalid(`${path}.retentionValue`, item.retentionValue);
  if (!FREQUENCIES.includes(item.frequencyType as string))
    invalid(`${path}.frequencyType`, item.frequencyType);
  if (!UNITS.includes(item.retentionUnit as string))
    invalid(`${path}.retentionUnit`, item.retentionUnit);
  return {
    id: typeof item.id === 'string' && HEX24.test(item.id) ? item.id : newId(),
    frequencyInterval: item.frequencyInterval as number,
    frequencyType: item.frequencyType as PolicyItem['frequencyType'],
    retentionUnit: item.retentionUnit as PolicyItem['retentionUnit'],
    retentionValue: item.retentionValue as number,
  };
}

function policies(raw: unknown): Schedule['policies'] {
  if (!Array.isArray(raw)) invalid('policies', raw);
  return (raw as unknown[]).map((p, i) => {
    if (!p || typeof p !== 'object') invalid(`policies[${i}]`, p);
    const policy = p as Record<string, unknown>;
    if (!Array.isArray(policy.policyItems)) missing(`policies[${i}].policyItems`);
    return {
      id: typeof policy.id === 'string' && HEX24.test(policy.id) ? policy.id : newId(),
      policyItems: (policy.policyItems as unknown[]).map((item, j) =>
        policyItem(item, `policies[${i}].policyItems[${j}]`),
      ),
    };
  });
}

function exportPolicy(ctx: HandlerContext, raw: unknown): NonNullable<Schedule['export']> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) invalid('export', raw);
  const policy = raw as Record<string, unknown>;
  const out: NonNullable<Schedule['export']> = {};
  if (policy.frequencyType !== undefined) {
    // The spec's AutoExportPolicyView enum is monthly | yearly only.
    if (policy.frequencyType !== 'monthly' && policy.frequencyType !== 'yearly')
      invalid('export.frequencyType', policy.frequencyType);
    out.frequencyType = policy.frequencyType;
  }
  if (policy.exportBucketId !== undefined) {
    if (typeof policy.exportBucketId !== 'string' || !HEX24.test(policy.exportBucketId))
      invalid('export.exportBucketId', policy.exportBucketId);
    const id = policy.exportBucketId;
    if (!ctx.store.exportBuckets.some((b) => b._id === id && b.groupId === ctx.params.groupId)) {
      throw apiError(404, 'EXPORT_BUCKET_NOT_FOUND', `Export bucket ${id} not found.`, [id]);
    }
    out.exportBucketId = id;
  }
  return out;
}

function number(
  body: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    invalid(field, value);
  return value as number;
}

function flag(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') invalid(field, value);
  return value;
}

export const updateSchedule: Handler = (ctx) => {
  const schedule = findSchedule(ctx);
  const body = objectBody(ctx);
  const allowed = FIELDS[ctx.version] ?? COMMON_FIELDS;
  const unknown = Object.keys(body).find((key) => !allowed.includes(key));
  if (unknown)
    throw apiError(400, 'INVALID_JSON_ATTRIBUTE', `Invalid attribute ${unknown} specified.`, [
      unknown,
    ]);
  // Both versions' schemas mark policies as required, even though the operation is a partial update.
  if (body.policies === undefined) missing('policies');
  const next: Schedule = { ...schedule, policies: policies(body.policies) };
  const autoExport = flag(body, 'autoExportEnabled');
  if (autoExport !== undefined) next.autoExportEnabled = autoExport;
  if (body.export !== undefined)
    next.export = { ...schedule.export, ...exportPolicy(ctx, body.export) };
  const prefix = flag(body, 'useOrgAndGroupNamesInExportPrefix');
  if (prefix !== undefined) next.useOrgAndGroupNamesInExportPrefix = prefix;
  next.referenceHourOfDay =
    number(body, 'referenceHourOfDay', 0, 23) ?? schedule.referenceHourOfDay;
  next.referenceMinuteOfHour =
    number(body, 'referenceMinuteOfHour', 0, 59) ?? schedule.referenceMinuteOfHour;
  next.restoreWindowDays = number(body, 'restoreWindowDays', 1, 365) ?? schedule.restoreWindowDays;
  if (next.autoExportEnabled && (!next.export?.exportBucketId || !next.export.frequencyType)) {
    throw apiError(
      400,
      'INVALID_AUTO_EXPORT_POLICY',
      'Auto export needs export.exportBucketId and export.frequencyType.',
      ['export'],
    );
  }
  Object.assign(schedule, next);
  return render(ctx, schedule);
};
