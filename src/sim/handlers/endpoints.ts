/** Object-storage private endpoints for Cloud Backup export (AWS PrivateLink), version 2024-11-13. */
import { randomBytes } from 'node:crypto';
import { privateEndpointRegions } from '../../regions.js';
import { apiError, newId, paginate } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  invalid,
  missing,
  objectBody,
  requireGroup,
} from '../context.js';
import type { PrivateEndpoint, SimDelays } from '../types.js';

type Status = NonNullable<PrivateEndpoint['forcedStatus']>;

/**
 * The spec's enum for ObjectStoragePrivateEndpointRequest regionName and vpcRegionName (27 values): the
 * client's list of regions with object-storage private endpoints, plus Atlas's GLOBAL.
 */
const ENDPOINT_REGIONS: readonly string[] = [...privateEndpointRegions, 'GLOBAL'];

/** An AWS VPC endpoint id: `vpce-` and 17 hexadecimal digits. */
export function newVpcEndpointId(): string {
  return `vpce-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** Derived from elapsed time on each read; `undefined` once a deletion has completed. */
export function endpointStatus(
  ep: PrivateEndpoint,
  delays: SimDelays,
  now = Date.now(),
): Status | undefined {
  if (ep.deletingSinceMs !== undefined) {
    return now - ep.deletingSinceMs < Math.max(1, delays.endpointProvisionMs / 3)
      ? 'DELETING'
      : undefined;
  }
  if (ep.forcedStatus) return ep.forcedStatus;
  const elapsed = now - ep.createdAtMs;
  const third = delays.endpointProvisionMs / 3;
  if (elapsed < third) return 'INITIATING';
  if (ep.errorMessage) return 'FAILED';
  return elapsed < delays.endpointProvisionMs ? 'PENDING_ACCEPTANCE' : 'ACTIVE';
}

/** Drops endpoints whose deletion has finished. */
function sweep(ctx: HandlerContext): void {
  ctx.store.privateEndpoints = ctx.store.privateEndpoints.filter(
    (ep) => endpointStatus(ep, ctx.delays) !== undefined,
  );
}

function render(ctx: HandlerContext, ep: PrivateEndpoint): Record<string, unknown> {
  const status = endpointStatus(ep, ctx.delays);
  const out: Record<string, unknown> = {
    id: ep.id,
    cloudProvider: 'AWS',
    regionName: ep.regionName,
    vpcRegionName: ep.vpcRegionName,
    status,
  };
  if (status !== 'INITIATING' && status !== 'FAILED') {
    out.privateEndpointConnectionName = ep.vpcEndpointId;
  }
  if (status === 'FAILED')
    out.errorMessage = ep.errorMessage ?? 'The private endpoint could not be created.';
  return out;
}

function requireAws(ctx: HandlerContext): void {
  if (ctx.params.cloudProvider !== 'AWS') {
    throw apiError(
      400,
      'INVALID_ENUM_VALUE',
      `Invalid cloud provider ${ctx.params.cloudProvider}: private endpoints for Cloud Backup exist for AWS only.`,
      ['cloudProvider', ctx.params.cloudProvider],
    );
  }
}

function groupEndpoints(ctx: HandlerContext): PrivateEndpoint[] {
  const group = requireGroup(ctx);
  requireAws(ctx);
  sweep(ctx);
  return ctx.store.privateEndpoints.filter((ep) => ep.groupId === group.id);
}

export const listEndpoints: Handler = (ctx) =>
  paginate(
    groupEndpoints(ctx).map((ep) => render(ctx, ep)),
    ctx.query,
    ctx.selfUrl,
  );

function region(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !ENDPOINT_REGIONS.includes(value)) invalid(field, value);
  return value;
}

export const createEndpoint: Handler = (ctx) => {
  const existing = groupEndpoints(ctx);
  const body = objectBody(ctx);
  const unknown = Object.keys(body).find(
    (key) => !['cloudProvider', 'regionName', 'vpcRegionName'].includes(key),
  );
  if (unknown)
    throw apiError(400, 'INVALID_JSON_ATTRIBUTE', `Invalid attribute ${unknown} specified.`, [
      unknown,
    ]);
  if (body.cloudProvider !== undefined && body.cloudProvider !== 'AWS')
    invalid('cloudProvider', body.cloudProvider);
  // The schema marks no field required, but an endpoint without a region cannot exist.
  const regionName = region(body, 'regionName') ?? missing('regionName');
  const vpcRegionName = region(body, 'vpcRegionName') ?? regionName;
  const clash = existing.find(
    (ep) => ep.regionName === regionName && ep.deletingSinceMs === undefined,
  );
  if (clash) {
    // Plausible errorCode: Atlas allows one backup private endpoint per region; the exact code is undocumented.
    throw apiError(
      409,
      'PRIVATE_ENDPOINT_ALREADY_EXISTS_FOR_REGION',
      `A Cloud Backup private endpoint already exists for region ${regionName} (${clash.id}).`,
      [regionName, clash.id],
    );
  }
  const ep: PrivateEndpoint = {
    id: newId(),
    groupId: ctx.params.groupId ?? '',
    regionName,
    vpcRegionName,
    vpcEndpointId: newVpcEndpointId(),
    createdAtMs: Date.now(),
  };
  if (ctx.faults.endpointFailure) ep.errorMessage = ctx.faults.endpointFailure.errorMessage;
  ctx.store.privateEndpoints.push(ep);
  return render(ctx, ep);
};

function findEndpoint(ctx: HandlerContext): PrivateEndpoint {
  const ep = groupEndpoints(ctx).find((e) => e.id === ctx.params.endpointId);
  if (!ep) {
    throw apiError(
      404,
      'PRIVATE_ENDPOINT_NOT_FOUND',
      `No Cloud Backup private endpoint with ID ${ctx.params.endpointId} exists.`,
      [ctx.params.endpointId],
    );
  }
  return ep;
}

export const getEndpoint: Handler = (ctx) => render(ctx, findEndpoint(ctx));

export const deleteEndpoint: Handler = (ctx) => {
  const ep = findEndpoint(ctx);
  ep.deletingSinceMs ??= Date.now();
  return undefined;
};
