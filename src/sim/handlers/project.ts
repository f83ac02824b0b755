/** Read-mostly operations: system status, projects, clusters (three versions), flex, serverless, snapshots. */
import { apiError, paginate } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  requireCluster,
  requireGroup,
  selfLinks,
} from '../context.js';
import type { Cluster, Group, Snapshot } from '../types.js';

export const getSystemStatus: Handler = (ctx) => {
  const key = ctx.store.apiKeys.find((k) => k.publicKey === ctx.identity.id);
  return {
    apiKey: {
      id:
        key?.id ??
        ctx.identity.id
          .replace(/[^a-f0-9]/g, '')
          .padEnd(24, '0')
          .slice(0, 24),
      // The spec requires exactly 8 characters; a service account has no public key, so its id is cut to fit.
      publicKey: key?.publicKey ?? ctx.identity.id.slice(-8),
      roles: ctx.identity.roles,
      accessList: [],
    },
    appName: 'MongoDB Atlas',
    build: '0f1e2d3c4b5a69788796a5b4c3d2e1f001234567',
    throttling: false,
    links: selfLinks(ctx.selfUrl),
  };
};

function renderGroup(ctx: HandlerContext, group: Group) {
  return {
    id: group.id,
    name: group.name,
    orgId: group.orgId,
    clusterCount: ctx.store.clusters.filter((c) => c.groupId === group.id).length,
    created: group.created,
    regionUsageRestrictions: 'COMMERCIAL_FEDRAMP_REGIONS_ONLY',
    tags: [],
    withDefaultAlertsSettings: true,
    links: selfLinks(`${ctx.baseUrl}/api/atlas/v2/groups/${group.id}`),
  };
}

export const listGroups: Handler = (ctx) => {
  const groups = ctx.store.groups.filter((g) => g.orgId === ctx.identity.orgId);
  return paginate(
    groups.map((g) => renderGroup(ctx, g)),
    ctx.query,
    ctx.selfUrl,
  );
};

export const getGroup: Handler = (ctx) => renderGroup(ctx, requireGroup(ctx));

function hardware(cluster: Cluster, version: string): Record<string, unknown> {
  if (cluster.providerName === 'TENANT') return { instanceSize: cluster.instanceSize };
  const spec: Record<string, unknown> = { instanceSize: cluster.instanceSize, nodeCount: 3 };
  if (version === '2024-08-05') spec.diskSizeGB = cluster.diskSizeGB;
  if (cluster.providerName === 'AWS') spec.ebsVolumeType = 'STANDARD';
  return spec;
}

function regionConfig(cluster: Cluster, version: string): Record<string, unknown> {
  const config: Record<string, unknown> = {
    providerName: cluster.providerName,
    regionName: cluster.regionName,
    priority: 7,
    electableSpecs: hardware(cluster, version),
  };
  if (cluster.providerName === 'TENANT') config.backingProviderName = cluster.backingProviderName;
  return config;
}

function common(ctx: HandlerContext, cluster: Cluster): Record<string, unknown> {
  return {
    id: cluster.id,
    groupId: cluster.groupId,
    name: cluster.name,
    clusterType: cluster.clusterType,
    createDate: cluster.createDate,
    mongoDBVersion: cluster.mongoDBVersion,
    mongoDBMajorVersion: cluster.mongoDBVersion.split('.').slice(0, 2).join('.'),
    stateName: 'IDLE',
    paused: false,
    pitEnabled: false,
    terminationProtectionEnabled: false,
    versionReleaseSystem: 'LTS',
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${cluster.groupId}/clusters/${cluster.name}`,
    ),
  };
}

const ZONE_ID = '6650a1b2c3d4e5f60a000001';

/** Renders a cluster in the shape of the requested version (LegacyAtlasCluster, Advanced, 20240805). */
export function renderCluster(ctx: HandlerContext, cluster: Cluster): Record<string, unknown> {
  const base = common(ctx, cluster);
  if (ctx.version === '2023-01-01') {
    const providerSettings: Record<string, unknown> = {
      providerName: cluster.providerName,
      regionName: cluster.regionName,
      instanceSizeName: cluster.instanceSize,
    };
    if (cluster.providerName === 'TENANT')
      providerSettings.backingProviderName = cluster.backingProviderName;
    return {
      ...base,
      // In the legacy shape backupEnabled is the retired legacy backup; Cloud Backup is providerBackupEnabled.
      backupEnabled: false,
      providerBackupEnabled: cluster.backupEnabled,
      providerSettings,
      numShards: cluster.numShards,
      replicationFactor: 3,
      // Shared-tier disks (0.5 GB) fall below the schema's minimum of 10; Atlas omits the size for them here.
      ...(cluster.providerName === 'TENANT' ? {} : { diskSizeGB: cluster.diskSizeGB }),
    };
  }
  if (ctx.version === '2023-02-01') {
    return {
      ...base,
      backupEnabled: cluster.backupEnabled,
      diskSizeGB: cluster.diskSizeGB,
      replicationSpecs: [
        {
          id: ZONE_ID,
          numShards: cluster.numShards,
          zoneName: 'Zone 1',
          regionConfigs: [regionConfig(cluster, ctx.version)],
        },
      ],
    };
  }
  const specs = Array.from({ length: cluster.numShards }, (_, i) => ({
    id: `${cluster.id.slice(0, 20)}${(0xb000 + i).toString(16)}`,
    zoneId: ZONE_ID,
    zoneName: 'Zone 1',
    regionConfigs: [regionConfig(cluster, ctx.version)],
  }));
  return { ...base, backupEnabled: cluster.backupEnabled, replicationSpecs: specs };
}

export const listClusters: Handler = (ctx) => {
  const group = requireGroup(ctx);
  const clusters = ctx.store.clusters.filter((c) => c.groupId === group.id);
  return paginate(
    clusters.map((c) => renderCluster(ctx, c)),
    ctx.query,
    ctx.selfUrl,
  );
};

export const getCluster: Handler = (ctx) => {
  const group = requireGroup(ctx);
  const name = ctx.params.clusterName ?? '';
  const flex = ctx.store.flexClusters.find((f) => f.groupId === group.id && f.name === name);
  if (flex) {
    // Flex clusters created through the flex API are not served by getCluster.
    throw apiError(
      400,
      'CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API',
      `Cluster ${name} is a flex cluster; use the flex cluster API.`,
      [name],
    );
  }
  return renderCluster(ctx, requireCluster(ctx));
};

function renderFlex(ctx: HandlerContext, flex: HandlerContext['store']['flexClusters'][number]) {
  return {
    id: flex.id,
    groupId: flex.groupId,
    name: flex.name,
    clusterType: 'REPLICASET',
    createDate: flex.createDate,
    mongoDBVersion: flex.mongoDBVersion,
    stateName: 'IDLE',
    terminationProtectionEnabled: false,
    versionReleaseSystem: 'LTS',
    backupSettings: { enabled: true },
    providerSettings: {
      providerName: 'FLEX',
      backingProviderName: flex.backingProviderName,
      regionName: flex.regionName,
      diskSizeGB: 5,
    },
    tags: [],
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${flex.groupId}/flexClusters/${flex.name}`,
    ),
  };
}

export const listFlexClusters: Handler = (ctx) => {
  const group = requireGroup(ctx);
  return paginate(
    ctx.store.flexClusters.filter((f) => f.groupId === group.id).map((f) => renderFlex(ctx, f)),
    ctx.query,
    ctx.selfUrl,
  );
};

export const getFlexCluster: Handler = (ctx) => {
  const group = requireGroup(ctx);
  const flex = ctx.store.flexClusters.find(
    (f) => f.groupId === group.id && f.name === ctx.params.name,
  );
  if (!flex)
    throw apiError(
      404,
      'FLEX_CLUSTER_NOT_FOUND',
      `Flex cluster ${ctx.params.name} cannot be found.`,
      [ctx.params.name],
    );
  return renderFlex(ctx, flex);
};

export const getServerlessInstance: Handler = (ctx) => {
  const group = requireGroup(ctx);
  const instance = ctx.store.serverlessInstances.find(
    (i) => i.groupId === group.id && i.name === ctx.params.name,
  );
  if (!instance) {
    throw apiError(
      404,
      'SERVERLESS_INSTANCE_NOT_FOUND',
      `No serverless instance with name ${ctx.params.name} exists in group ${ctx.params.groupId}.`,
      [ctx.params.name, ctx.params.groupId],
    );
  }
  return {
    id: instance.id,
    groupId: instance.groupId,
    name: instance.name,
    createDate: instance.createDate,
    mongoDBVersion: instance.mongoDBVersion,
    stateName: 'IDLE',
    terminationProtectionEnabled: false,
    providerSettings: {
      providerName: 'SERVERLESS',
      backingProviderName: instance.backingProviderName,
      regionName: instance.regionName,
    },
    serverlessBackupOptions: { serverlessContinuousBackupEnabled: false },
    tags: [],
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${instance.groupId}/serverless/${instance.name}`,
    ),
  };
};

function renderSnapshot(ctx: HandlerContext, s: Snapshot): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: s.id,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    status: s.status,
    snapshotType: s.snapshotType,
    frequencyType: s.frequencyType,
    type: s.type,
    mongodVersion: s.mongodVersion,
    storageSizeBytes: s.storageSizeBytes,
    policyItems: s.policyItems,
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${s.groupId}/clusters/${s.clusterName}/backup/snapshots/${s.type === 'replicaSet' ? '' : 'shardedCluster/'}${s.id}`,
    ),
  };
  if (s.type === 'replicaSet') {
    out.replicaSetName = s.replicaSetName;
    out.cloudProvider = s.cloudProvider;
  } else {
    out.members = s.members;
    out.snapshotIds = s.snapshotIds;
    out.configServerType = 'DEDICATED';
  }
  return out;
}

function clusterSnapshots(ctx: HandlerContext, type: Snapshot['type']): Snapshot[] {
  const cluster = requireCluster(ctx);
  return ctx.store.snapshots
    .filter(
      (s) =>
        s.groupId === cluster.groupId &&
        s.clusterName === cluster.name &&
        s.type === type &&
        !s.memberOf,
    )
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

export const listSnapshots: Handler = (ctx) =>
  paginate(
    clusterSnapshots(ctx, 'replicaSet').map((s) => renderSnapshot(ctx, s)),
    ctx.query,
    ctx.selfUrl,
  );

/** The spec lists no pagination parameters for this operation: every snapshot in one answer. */
export const listShardedSnapshots: Handler = (ctx) => {
  const results = clusterSnapshots(ctx, 'shardedCluster').map((s) => renderSnapshot(ctx, s));
  return { links: selfLinks(ctx.selfUrl), results, totalCount: results.length };
};

function findSnapshot(ctx: HandlerContext, type: Snapshot['type']): Snapshot {
  const cluster = requireCluster(ctx);
  const snapshot = ctx.store.snapshots.find(
    (s) =>
      s.id === ctx.params.snapshotId &&
      s.groupId === cluster.groupId &&
      s.clusterName === cluster.name &&
      s.type === type,
  );
  if (!snapshot)
    throw apiError(404, 'SNAPSHOT_NOT_FOUND', `Snapshot ${ctx.params.snapshotId} not found.`, [
      ctx.params.snapshotId,
    ]);
  return snapshot;
}

export const getSnapshot: Handler = (ctx) => renderSnapshot(ctx, findSnapshot(ctx, 'replicaSet'));
export const getShardedSnapshot: Handler = (ctx) =>
  renderSnapshot(ctx, findSnapshot(ctx, 'shardedCluster'));
