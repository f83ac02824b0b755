/** Snapshot export buckets (2023-01-01 and 2024-05-30; PATCH 2024-05-30 only; DELETE 2023-01-01 only). */
import { HEX24, apiError, newId, paginate } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  invalid,
  missing,
  objectBody,
  requireGroup,
  selfLinks,
  toAtlasRegion,
} from '../context.js';
import type { ExportBucket, PrivateEndpoint } from '../types.js';
import { findRole } from './access.js';
import { endpointStatus } from './endpoints.js';

function render(ctx: HandlerContext, bucket: ExportBucket): Record<string, unknown> {
  return {
    _id: bucket._id,
    bucketName: bucket.bucketName,
    cloudProvider: bucket.cloudProvider,
    iamRoleId: bucket.iamRoleId,
    requirePrivateNetworking: bucket.requirePrivateNetworking,
    region: bucket.region,
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${bucket.groupId}/backup/exportBuckets/${bucket._id}`,
    ),
  };
}

export const listBuckets: Handler = (ctx) => {
  const group = requireGroup(ctx);
  const buckets = ctx.store.exportBuckets.filter((b) => b.groupId === group.id);
  return paginate(
    buckets.map((b) => render(ctx, b)),
    ctx.query,
    ctx.selfUrl,
  );
};

/**
 * requirePrivateNetworking needs an ACTIVE backup private endpoint in the bucket's region; Atlas's
 * requests to such a bucket travel through it. (Which cluster exports, and so which VPC region the
 * endpoint must serve, is known only when an export starts.)
 */
function requireActiveEndpoint(ctx: HandlerContext, awsRegion: string): PrivateEndpoint {
  const regionName = toAtlasRegion(awsRegion);
  const active = ctx.store.privateEndpoints.find(
    (ep) =>
      ep.groupId === ctx.params.groupId &&
      ep.regionName === regionName &&
      endpointStatus(ep, ctx.delays) === 'ACTIVE',
  );
  if (!active) {
    // Plausible errorCode; Atlas's exact code for this case is not documented.
    throw apiError(
      400,
      'PRIVATE_ENDPOINT_NOT_ACTIVE_FOR_REGION',
      `requirePrivateNetworking needs an ACTIVE Cloud Backup private endpoint in ${regionName}, the bucket's region.`,
      [regionName],
    );
  }
  return active;
}

const CREATE_FIELDS = ['bucketName', 'cloudProvider', 'iamRoleId', 'requirePrivateNetworking'];

function validateCreate(body: Record<string, unknown>): {
  bucketName: string;
  iamRoleId: string;
  requirePrivateNetworking: boolean;
} {
  const unknown = Object.keys(body).find((key) => !CREATE_FIELDS.includes(key));
  if (unknown)
    throw apiError(400, 'INVALID_JSON_ATTRIBUTE', `Invalid attribute ${unknown} specified.`, [
      unknown,
    ]);
  for (const field of ['bucketName', 'cloudProvider', 'iamRoleId'])
    if (body[field] === undefined) missing(field);
  const { bucketName, cloudProvider, iamRoleId, requirePrivateNetworking } = body;
  if (typeof bucketName !== 'string' || bucketName.length < 3 || bucketName.length > 63)
    invalid('bucketName', bucketName);
  if (!['AWS', 'AZURE', 'GCP'].includes(cloudProvider as string))
    invalid('cloudProvider', cloudProvider);
  if (cloudProvider !== 'AWS')
    throw apiError(400, 'VALIDATION_ERROR', 'The simulator supports only AWS export buckets.', [
      'cloudProvider',
    ]);
  // A malformed iamRoleId (e.g. an AWS role id or ARN) is INVALID_JSON_ATTRIBUTE (mongodb-atlas-cli issue #1609).
  if (typeof iamRoleId !== 'string' || !HEX24.test(iamRoleId)) invalid('iamRoleId', iamRoleId);
  if (requirePrivateNetworking !== undefined && typeof requirePrivateNetworking !== 'boolean')
    invalid('requirePrivateNetworking', requirePrivateNetworking);
  return { bucketName, iamRoleId, requirePrivateNetworking: requirePrivateNetworking === true };
}

export const createBucket: Handler = async (ctx) => {
  const group = requireGroup(ctx);
  const input = validateCreate(objectBody(ctx));
  const role = findRole(ctx, input.iamRoleId);
  if (!role.iamAssumedRoleArn || !role.authorizedDate) {
    throw apiError(
      400,
      'CLOUD_PROVIDER_ACCESS_ROLE_NOT_AUTHORIZED',
      `The specified Cloud Provider Access role (${role.roleId}) has not been authorized.`,
      [role.roleId],
    );
  }
  const region = await ctx.checks.bucketRegion(ctx.aws, input.bucketName);
  if (!region) {
    // Plausible errorCode: Atlas validates the bucket on creation; its exact code is not documented.
    throw apiError(
      400,
      'EXPORT_BUCKET_NOT_ACCESSIBLE',
      `S3 bucket ${input.bucketName} does not exist or cannot be reached.`,
      [input.bucketName],
    );
  }
  // Atlas writes .permissioncheck as the role, through the private endpoint when the bucket requires it.
  const endpoint = input.requirePrivateNetworking ? requireActiveEndpoint(ctx, region) : undefined;
  const permissions = await ctx.checks.checkExportPermissions(ctx.aws, {
    roleArn: role.iamAssumedRoleArn,
    bucketName: input.bucketName,
    ...(endpoint ? { sourceVpce: endpoint.vpcEndpointId } : {}),
  });
  if (!permissions.ok) {
    throw apiError(
      400,
      'EXPORT_BUCKET_NOT_ACCESSIBLE',
      `Atlas cannot write to S3 bucket ${input.bucketName} with role ${role.iamAssumedRoleArn}: ${permissions.reason}`,
      [input.bucketName],
    );
  }
  await ctx.checks.writePermissionCheck(ctx.aws, input.bucketName);
  const bucket: ExportBucket = {
    _id: newId(),
    groupId: group.id,
    cloudProvider: 'AWS',
    region,
    ...input,
  };
  ctx.store.exportBuckets.push(bucket);
  return render(ctx, bucket);
};

export function findBucket(ctx: HandlerContext, id: string, status = 404): ExportBucket {
  const bucket = ctx.store.exportBuckets.find(
    (b) => b._id === id && b.groupId === ctx.params.groupId,
  );
  if (!bucket)
    throw apiError(status, 'EXPORT_BUCKET_NOT_FOUND', `Export bucket ${id} not found.`, [id]);
  return bucket;
}

export const getBucket: Handler = (ctx) => {
  requireGroup(ctx);
  return render(ctx, findBucket(ctx, ctx.params.exportBucketId ?? ''));
};

export const updateBucket: Handler = (ctx) => {
  requireGroup(ctx);
  const bucket = findBucket(ctx, ctx.params.exportBucketId ?? '');
  const body = objectBody(ctx);
  const unknown = Object.keys(body).find((key) => key !== 'requirePrivateNetworking');
  if (unknown)
    throw apiError(400, 'INVALID_JSON_ATTRIBUTE', `Invalid attribute ${unknown} specified.`, [
      unknown,
    ]);
  if (body.requirePrivateNetworking === undefined) missing('requirePrivateNetworking');
  if (typeof body.requirePrivateNetworking !== 'boolean')
    invalid('requirePrivateNetworking', body.requirePrivateNetworking);
  if (body.requirePrivateNetworking) requireActiveEndpoint(ctx, bucket.region);
  bucket.requirePrivateNetworking = body.requirePrivateNetworking;
  return render(ctx, bucket);
};

export const deleteBucket: Handler = (ctx) => {
  requireGroup(ctx);
  const bucket = findBucket(ctx, ctx.params.exportBucketId ?? '');
  const user = ctx.store.schedules.find(
    (s) =>
      s.groupId === bucket.groupId &&
      s.autoExportEnabled &&
      s.export?.exportBucketId === bucket._id,
  );
  if (user) {
    // The errorCode is Atlas's (terraform-provider-mongodbatlas issue #2325); the status is assumed.
    throw apiError(
      400,
      'EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE',
      `Export bucket ${bucket._id} is in use by the auto-export policy of cluster ${user.clusterName}; disable auto export first.`,
      [bucket._id, user.clusterName],
    );
  }
  ctx.store.exportBuckets = ctx.store.exportBuckets.filter((b) => b !== bucket);
  return undefined;
};
