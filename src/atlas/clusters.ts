/**
 * Clusters: dedicated clusters through 2024-08-05 (ClusterDescription20240805) and flex clusters
 * through 2024-11-13, plus the checks that decide whether a cluster can export over PrivateLink.
 */
import { isAtlasApiError } from './errors.js';
import type { AtlasClient } from './http.js';
import { groupPath } from './paths.js';
import {
  ClusterSchema,
  FlexClusterSchema,
  type Cluster,
  type ClusterSummary,
  type FlexCluster,
  type RegionConfig,
} from './types.js';

export const CLUSTERS_VERSION = '2024-08-05';
export const FLEX_VERSION = '2024-11-13';

/** The smallest dedicated tier that can export snapshots. */
const MIN_TIER = 10;

export function listClusters(client: AtlasClient, groupId: string): Promise<Cluster[]> {
  return client.paginate<Cluster>({
    path: groupPath(groupId, 'clusters'),
    version: CLUSTERS_VERSION,
    schema: ClusterSchema,
  });
}

export function listFlexClusters(client: AtlasClient, groupId: string): Promise<FlexCluster[]> {
  return client.paginate<FlexCluster>({
    path: groupPath(groupId, 'flexClusters'),
    version: FLEX_VERSION,
    schema: FlexClusterSchema,
  });
}

export function getFlexCluster(
  client: AtlasClient,
  groupId: string,
  name: string,
): Promise<FlexCluster> {
  return client.request<FlexCluster>({
    method: 'GET',
    path: groupPath(groupId, 'flexClusters', name),
    version: FLEX_VERSION,
    schema: FlexClusterSchema,
  });
}

/**
 * The cluster by name. When Atlas answers that the name is a flex cluster (or knows no such
 * cluster), the flex endpoint is asked too and a flex cluster comes back marked with `flex`.
 */
export async function getCluster(
  client: AtlasClient,
  groupId: string,
  name: string,
): Promise<Cluster> {
  try {
    return await client.request<Cluster>({
      method: 'GET',
      path: groupPath(groupId, 'clusters', name),
      version: CLUSTERS_VERSION,
      schema: ClusterSchema,
    });
  } catch (error) {
    const maybeFlex =
      isAtlasApiError(error, 'CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API') ||
      (isAtlasApiError(error) && error.status === 404);
    if (!maybeFlex) throw error;
    const notFound = (other: unknown) => isAtlasApiError(other) && other.status === 404;
    try {
      return flexAsCluster(await getFlexCluster(client, groupId, name));
    } catch (flexError) {
      if (!notFound(flexError)) throw flexError;
    }
    // Nor a flex cluster: a serverless instance has its own endpoint (NOTES.md section 1).
    try {
      return serverlessAsCluster(await getServerlessInstance(client, groupId, name));
    } catch (serverlessError) {
      if (notFound(serverlessError)) throw error;
      throw serverlessError;
    }
  }
}

export const SERVERLESS_VERSION = '2023-01-01';

/** What setup needs of a serverless instance (ServerlessInstanceDescription): that it is one, and where. */
export interface ServerlessInstance {
  id?: string;
  groupId?: string;
  name?: string;
  stateName?: string;
  providerSettings?: { backingProviderName?: string; regionName?: string };
}

export function getServerlessInstance(
  client: AtlasClient,
  groupId: string,
  name: string,
): Promise<ServerlessInstance> {
  return client.request<ServerlessInstance>({
    method: 'GET',
    path: groupPath(groupId, 'serverless', name),
    version: SERVERLESS_VERSION,
  });
}

/** A serverless instance as a cluster whose one region config is SERVERLESS (so it is not eligible). */
function serverlessAsCluster(instance: ServerlessInstance): Cluster {
  return {
    id: instance.id ?? '',
    groupId: instance.groupId,
    name: instance.name ?? '',
    replicationSpecs: [
      {
        regionConfigs: [
          {
            // Not among the dedicated API's provider names; clusterEligibility recognises it.
            providerName: 'SERVERLESS' as RegionConfig['providerName'],
            regionName: instance.providerSettings?.regionName,
          },
        ],
      },
    ],
  };
}

function flexAsCluster(flex: FlexCluster): Cluster {
  return {
    id: flex.id,
    groupId: flex.groupId,
    name: flex.name,
    clusterType: flex.clusterType ?? 'REPLICASET',
    stateName: flex.stateName,
    backupEnabled: flex.backupSettings?.enabled ?? true,
    replicationSpecs: [],
    flex,
  };
}

function regionConfigs(cluster: Cluster): RegionConfig[] {
  return (cluster.replicationSpecs ?? []).flatMap((spec) => spec.regionConfigs ?? []);
}

/** The first region config with electable nodes (the first config when none says so). */
function electableConfig(cluster: Cluster): RegionConfig | undefined {
  const configs = regionConfigs(cluster);
  return configs.find((c) => (c.electableSpecs?.nodeCount ?? 0) > 0) ?? configs[0];
}

function tierNumber(instanceSize: string | undefined): number | undefined {
  const match = instanceSize ? /^[MR](\d+)/.exec(instanceSize) : null;
  return match ? Number(match[1]) : undefined;
}

/** Reasons the cluster cannot export snapshots over PrivateLink; empty when it can. */
export function clusterEligibility(cluster: Cluster): string[] {
  if (cluster.flex) return ['it is a Flex cluster, and Flex clusters cannot export snapshots'];
  const configs = regionConfigs(cluster);
  const providers = new Set(configs.map((c) => String(c.providerName)));
  if (providers.has('SERVERLESS'))
    return ['it is a serverless instance, and serverless instances cannot export snapshots'];
  if (providers.has('TENANT'))
    return ['it is a shared-tier cluster (M0/M2/M5), and export needs M10 or larger'];
  const reasons: string[] = [];
  const others = [...providers].filter((p) => p !== 'AWS');
  if (providers.size === 0) reasons.push('Atlas reported no region configuration for it');
  else if (others.length > 0)
    reasons.push(`it runs on ${others.join(' and ')}, and export over PrivateLink needs AWS`);
  const size = electableConfig(cluster)?.electableSpecs?.instanceSize;
  const tier = tierNumber(size);
  if (size !== undefined && (tier === undefined || tier < MIN_TIER))
    reasons.push(`its tier ${size} is below M10`);
  if (cluster.backupEnabled !== true) reasons.push('Cloud Backup is turned off for it');
  return reasons;
}

/** Conditions worth a warning that do not block export (a cluster that is busy or paused). */
export function clusterWarnings(cluster: Cluster): string[] {
  const warnings: string[] = [];
  if (cluster.stateName && cluster.stateName !== 'IDLE')
    warnings.push(`the cluster is ${cluster.stateName}, not IDLE`);
  if (cluster.paused) warnings.push('the cluster is paused');
  return warnings;
}

/** The cluster's region in Atlas form (US_EAST_1), from its first electable region config. */
export function clusterRegion(cluster: Cluster): string | undefined {
  if (cluster.flex) return cluster.flex.providerSettings.regionName;
  return electableConfig(cluster)?.regionName;
}

export function clusterSummary(cluster: Cluster): ClusterSummary {
  const config = electableConfig(cluster);
  const provider = cluster.flex
    ? cluster.flex.providerSettings.backingProviderName
    : config?.providerName === 'TENANT'
      ? config.backingProviderName
      : config?.providerName;
  return {
    name: cluster.name,
    id: cluster.id,
    provider,
    region: clusterRegion(cluster),
    instanceSize: cluster.flex
      ? 'FLEX'
      : (config?.electableSpecs?.instanceSize ?? config?.effectiveElectableSpecs?.instanceSize),
    backupEnabled: cluster.backupEnabled === true,
    clusterType: cluster.clusterType,
    stateName: cluster.stateName,
  };
}
