/** What every operation handler receives, plus the lookups several handlers share. */
import type { AwsClients } from '../aws/clients.js';
import { apiError } from './api-error.js';
import type { AwsChecks } from './aws-port.js';
import type { Cluster, Group, SimDelays, SimFaults, SimIdentity, SimStore } from './types.js';

export interface HandlerContext {
  store: SimStore;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  version: string;
  identity: SimIdentity;
  /** Absolute URL of the request path (no query), for `links`. */
  selfUrl: string;
  baseUrl: string;
  delays: SimDelays;
  faults: SimFaults;
  aws: AwsClients;
  checks: AwsChecks;
}

/** Returns the response body, or undefined for 204. */
export type Handler = (ctx: HandlerContext) => unknown;

export function selfLinks(href: string): Array<{ href: string; rel: string }> {
  return [{ href, rel: 'self' }];
}

export function requireGroup(ctx: HandlerContext): Group {
  const group = ctx.store.groups.find((g) => g.id === ctx.params.groupId);
  if (!group)
    throw apiError(404, 'GROUP_NOT_FOUND', `No group with ID ${ctx.params.groupId} exists.`, [
      ctx.params.groupId,
    ]);
  return group;
}

export function requireCluster(ctx: HandlerContext): Cluster {
  const group = requireGroup(ctx);
  const name = ctx.params.clusterName ?? '';
  const cluster = ctx.store.clusters.find((c) => c.groupId === group.id && c.name === name);
  if (!cluster) {
    throw apiError(
      404,
      'CLUSTER_NOT_FOUND',
      `No cluster named ${name} exists in group ${group.id}.`,
      [name, group.id],
    );
  }
  return cluster;
}

/** Why a cluster cannot use Cloud Backup export (undefined when it can). */
export function exportIneligibility(
  cluster: Cluster,
): { errorCode: string; detail: string } | undefined {
  // Atlas answers tenant clusters' backup calls with TENANT_CLUSTER_... family codes; the exact one for
  // export is not documented, so this is a plausible choice.
  if (cluster.providerName === 'TENANT') {
    return {
      errorCode: 'TENANT_CLUSTER_UNSUPPORTED_FOR_CLOUD_BACKUP',
      detail: `Cluster ${cluster.name} is a shared-tier (${cluster.instanceSize}) cluster; Cloud Backup export is not available for it.`,
    };
  }
  if (!cluster.backupEnabled) {
    return {
      errorCode: 'BACKUP_NOT_ENABLED',
      detail: `Cloud Backup is not enabled for cluster ${cluster.name}.`,
    };
  }
  // Export over PrivateLink exists for AWS only (the privateEndpoints cloudProvider enum is AWS).
  if (cluster.providerName !== 'AWS') {
    return {
      errorCode: 'EXPORT_NOT_SUPPORTED_FOR_CLOUD_PROVIDER',
      detail: `Cluster ${cluster.name} runs on ${cluster.providerName}; snapshot export to S3 needs an AWS cluster.`,
    };
  }
  return undefined;
}

export function requireBackupCluster(ctx: HandlerContext): Cluster {
  const cluster = requireCluster(ctx);
  const why = exportIneligibility(cluster);
  if (why && why.errorCode !== 'EXPORT_NOT_SUPPORTED_FOR_CLOUD_PROVIDER')
    throw apiError(400, why.errorCode, why.detail, [cluster.name]);
  return cluster;
}

/** US_EAST_1 -> us-east-1 */
export function toAwsRegion(atlasRegion: string): string {
  return atlasRegion.toLowerCase().replace(/_/g, '-');
}

/** us-east-1 -> US_EAST_1 */
export function toAtlasRegion(awsRegion: string): string {
  return awsRegion.toUpperCase().replace(/-/g, '_');
}

export function isoNow(ms: number = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function objectBody(ctx: HandlerContext): Record<string, unknown> {
  if (ctx.body === null || typeof ctx.body !== 'object' || Array.isArray(ctx.body)) {
    throw apiError(400, 'INVALID_JSON', 'The request body must be a JSON object.');
  }
  return ctx.body as Record<string, unknown>;
}

export function missing(attribute: string): never {
  throw apiError(
    400,
    'MISSING_ATTRIBUTE',
    `The required attribute ${attribute} was not specified.`,
    [attribute],
  );
}

export function invalid(attribute: string, value: unknown): never {
  throw apiError(
    400,
    'INVALID_JSON_ATTRIBUTE',
    `Received JSON for the ${attribute} attribute does not match expected format.`,
    [attribute, String(value)],
  );
}
