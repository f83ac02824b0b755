/** Object-storage private endpoints for Cloud Backup (the PrivateLink), 2024-11-13 (NOTES section 3). */
import type { AtlasClient } from './http.js';
import { groupPath } from './paths.js';
import { PrivateEndpointSchema, type PrivateEndpoint } from './types.js';

export const ENDPOINTS_VERSION = '2024-11-13';

const endpointsPath = (groupId: string, ...rest: string[]) =>
  groupPath(groupId, 'backup', 'AWS', 'privateEndpoints', ...rest);

export interface CreatePrivateEndpointInput {
  /** The bucket's region, Atlas form (US_EAST_1). */
  regionName: string;
  /** Where the VPC endpoint lives when it differs from regionName (a cross-region endpoint). */
  vpcRegionName?: string;
}

/**
 * The AWS region (Atlas form) of an endpoint's VPC interface endpoint: vpcRegionName, which echoes
 * regionName for a same-region endpoint (older answers may leave it out).
 */
export function vpcRegionOf(
  endpoint: Pick<PrivateEndpoint, 'regionName' | 'vpcRegionName'>,
): string {
  return endpoint.vpcRegionName || endpoint.regionName;
}

/**
 * Whether exports of a cluster in `clusterRegion` reach a bucket in `bucketRegion` through this
 * endpoint: it must be for the bucket's region, with its VPC endpoint in the cluster's region.
 */
export function endpointServes(
  endpoint: Pick<PrivateEndpoint, 'regionName' | 'vpcRegionName'>,
  bucketRegion: string,
  clusterRegion: string,
): boolean {
  return endpoint.regionName === bucketRegion && vpcRegionOf(endpoint) === clusterRegion;
}

export function listPrivateEndpoints(
  client: AtlasClient,
  groupId: string,
): Promise<PrivateEndpoint[]> {
  return client.paginate<PrivateEndpoint>({
    path: endpointsPath(groupId),
    version: ENDPOINTS_VERSION,
    schema: PrivateEndpointSchema,
  });
}

/** Creates the endpoint; should the answer be lost, the live endpoint for the region is the result. */
export function createPrivateEndpoint(
  client: AtlasClient,
  groupId: string,
  input: CreatePrivateEndpointInput,
): Promise<PrivateEndpoint> {
  const body: Record<string, string> = { cloudProvider: 'AWS', regionName: input.regionName };
  if (input.vpcRegionName) body.vpcRegionName = input.vpcRegionName;
  return client.request<PrivateEndpoint>({
    method: 'POST',
    path: endpointsPath(groupId),
    version: ENDPOINTS_VERSION,
    body,
    schema: PrivateEndpointSchema,
    recover: async () =>
      (await listPrivateEndpoints(client, groupId)).find(
        (item) =>
          item.regionName === input.regionName &&
          item.status !== 'DELETING' &&
          item.status !== 'FAILED',
      ),
  });
}

export function getPrivateEndpoint(
  client: AtlasClient,
  groupId: string,
  endpointId: string,
): Promise<PrivateEndpoint> {
  return client.request<PrivateEndpoint>({
    method: 'GET',
    path: endpointsPath(groupId, endpointId),
    version: ENDPOINTS_VERSION,
    schema: PrivateEndpointSchema,
  });
}

export async function deletePrivateEndpoint(
  client: AtlasClient,
  groupId: string,
  endpointId: string,
): Promise<void> {
  await client.request<void>({
    method: 'DELETE',
    path: endpointsPath(groupId, endpointId),
    version: ENDPOINTS_VERSION,
  });
}
