/** Maps each operationId to its handler. */
import type { Handler } from './context.js';
import * as access from './handlers/access.js';
import * as buckets from './handlers/buckets.js';
import * as endpoints from './handlers/endpoints.js';
import * as exportsJobs from './handlers/exports.js';
import * as project from './handlers/project.js';
import * as schedule from './handlers/schedule.js';

export const HANDLERS: Record<string, Handler> = {
  getSystemStatus: project.getSystemStatus,
  listGroups: project.listGroups,
  getGroup: project.getGroup,
  listGroupClusters: project.listClusters,
  getGroupCluster: project.getCluster,
  listGroupFlexClusters: project.listFlexClusters,
  getGroupFlexCluster: project.getFlexCluster,
  getGroupServerlessInstance: project.getServerlessInstance,
  listGroupCloudProviderAccess: access.listAccessRoles,
  createGroupCloudProviderAccess: access.createAccessRole,
  getGroupCloudProviderAccess: access.getAccessRole,
  authorizeGroupCloudProviderAccessRole: access.authorizeAccessRole,
  deauthorizeGroupCloudProviderAccessRole: access.deauthorizeAccessRole,
  listGroupBackupPrivateEndpoints: endpoints.listEndpoints,
  createGroupBackupPrivateEndpoint: endpoints.createEndpoint,
  getGroupBackupPrivateEndpoint: endpoints.getEndpoint,
  deleteGroupBackupPrivateEndpoint: endpoints.deleteEndpoint,
  listGroupBackupExportBuckets: buckets.listBuckets,
  createGroupBackupExportBucket: buckets.createBucket,
  getGroupBackupExportBucket: buckets.getBucket,
  updateGroupBackupExportBucket: buckets.updateBucket,
  deleteGroupBackupExportBucket: buckets.deleteBucket,
  listGroupClusterBackupExports: exportsJobs.listExports,
  createGroupClusterBackupExport: exportsJobs.createExport,
  getGroupClusterBackupExport: exportsJobs.getExport,
  listGroupClusterBackupSnapshots: project.listSnapshots,
  listGroupClusterBackupSnapshotShardedClusters: project.listShardedSnapshots,
  getGroupClusterBackupSnapshotShardedCluster: project.getShardedSnapshot,
  getGroupClusterBackupSnapshot: project.getSnapshot,
  getGroupClusterBackupSchedule: schedule.getSchedule,
  updateGroupClusterBackupSchedule: schedule.updateSchedule,
};
