/** Cloud Backup snapshots, replica set and sharded, 2023-01-01 (NOTES section 6). */
import type { AtlasClient } from './http.js';
import { clusterPath } from './paths.js';
import {
  ShardedSnapshotSchema,
  SnapshotSchema,
  type ShardedSnapshot,
  type Snapshot,
} from './types.js';

export const SNAPSHOTS_VERSION = '2023-01-01';

const snapshotsPath = (groupId: string, clusterName: string, ...rest: string[]) =>
  clusterPath(groupId, clusterName, 'backup', 'snapshots', ...rest);

export function listSnapshots(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
): Promise<Snapshot[]> {
  return client.paginate<Snapshot>({
    path: snapshotsPath(groupId, clusterName),
    version: SNAPSHOTS_VERSION,
    schema: SnapshotSchema,
  });
}

export function getSnapshot(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  snapshotId: string,
): Promise<Snapshot> {
  return client.request<Snapshot>({
    method: 'GET',
    path: snapshotsPath(groupId, clusterName, snapshotId),
    version: SNAPSHOTS_VERSION,
    schema: SnapshotSchema,
  });
}

/** Sharded-cluster snapshots. The spec lists no pagination parameters for this operation: one request. */
export function listShardedSnapshots(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
): Promise<ShardedSnapshot[]> {
  return client.listUnpaged<ShardedSnapshot>({
    path: snapshotsPath(groupId, clusterName, 'shardedClusters'),
    version: SNAPSHOTS_VERSION,
    schema: ShardedSnapshotSchema,
  });
}

export function getShardedSnapshot(
  client: AtlasClient,
  groupId: string,
  clusterName: string,
  snapshotId: string,
): Promise<ShardedSnapshot> {
  return client.request<ShardedSnapshot>({
    method: 'GET',
    path: clusterPath(groupId, clusterName, 'backup', 'snapshots', 'shardedCluster', snapshotId),
    version: SNAPSHOTS_VERSION,
    schema: ShardedSnapshotSchema,
  });
}
