/** Cloud provider access (unified AWS access): list, create, get, authorize (PATCH), deauthorize (DELETE). */
import { randomUUID } from 'node:crypto';
import { apiError, newId } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  invalid,
  isoNow,
  missing,
  objectBody,
  requireGroup,
} from '../context.js';
import type { AccessRole } from '../types.js';

const PROVIDERS = ['AWS', 'AZURE', 'GCP'];
const ROLE_ARN = /^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export function atlasAccountArn(ctx: HandlerContext): string {
  return `arn:aws:iam::${ctx.store.atlasAwsAccountId}:root`;
}

export function renderRole(ctx: HandlerContext, role: AccessRole): Record<string, unknown> {
  const featureUsages = ctx.store.exportBuckets
    .filter((b) => b.iamRoleId === role.roleId)
    .map((b) => ({
      featureType: 'EXPORT_SNAPSHOT',
      featureId: { exportBucketId: b._id, groupId: b.groupId },
    }));
  return {
    providerName: 'AWS',
    roleId: role.roleId,
    atlasAWSAccountArn: role.atlasAWSAccountArn,
    atlasAssumedRoleExternalId: role.atlasAssumedRoleExternalId,
    createdDate: role.createdDate,
    featureUsages,
    ...(role.iamAssumedRoleArn ? { iamAssumedRoleArn: role.iamAssumedRoleArn } : {}),
    ...(role.authorizedDate ? { authorizedDate: role.authorizedDate } : {}),
  };
}

export function findRole(ctx: HandlerContext, roleId: string): AccessRole {
  const role = ctx.store.accessRoles.find(
    (r) => r.roleId === roleId && r.groupId === ctx.params.groupId,
  );
  if (!role) {
    throw apiError(
      404,
      'CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND',
      `No Cloud Provider Access role with ID ${roleId} exists in group ${ctx.params.groupId}.`,
      [roleId],
    );
  }
  return role;
}

export const listAccessRoles: Handler = (ctx) => {
  const group = requireGroup(ctx);
  return {
    awsIamRoles: ctx.store.accessRoles
      .filter((r) => r.groupId === group.id)
      .map((r) => renderRole(ctx, r)),
    azureServicePrincipals: [],
    gcpServiceAccounts: [],
  };
};

function providerName(body: Record<string, unknown>): 'AWS' {
  if (body.providerName === undefined) missing('providerName');
  if (!PROVIDERS.includes(body.providerName as string)) invalid('providerName', body.providerName);
  if (body.providerName !== 'AWS') {
    throw apiError(
      400,
      'VALIDATION_ERROR',
      `The simulator supports only provider AWS, not ${String(body.providerName)}.`,
      ['providerName'],
    );
  }
  return 'AWS';
}

export const createAccessRole: Handler = (ctx) => {
  const group = requireGroup(ctx);
  providerName(objectBody(ctx));
  const role: AccessRole = {
    roleId: newId(),
    groupId: group.id,
    atlasAWSAccountArn: atlasAccountArn(ctx),
    atlasAssumedRoleExternalId: randomUUID(),
    createdDate: isoNow(),
  };
  ctx.store.accessRoles.push(role);
  return renderRole(ctx, role);
};

export const getAccessRole: Handler = (ctx) => {
  requireGroup(ctx);
  return renderRole(ctx, findRole(ctx, ctx.params.roleId ?? ''));
};

function cannotAssume(arn: string, why: string) {
  // CANNOT_ASSUME_ROLE is what Atlas answers while a new IAM role has not propagated (the Terraform
  // provider retries on it); the detail wording is the simulator's.
  return apiError(
    400,
    'CANNOT_ASSUME_ROLE',
    `Atlas cannot assume the AWS IAM role ${arn}: ${why}`,
    [arn],
  );
}

export const authorizeAccessRole: Handler = async (ctx) => {
  requireGroup(ctx);
  const role = findRole(ctx, ctx.params.roleId ?? '');
  const body = objectBody(ctx);
  providerName(body);
  const arn = body.iamAssumedRoleArn;
  if (arn === undefined) missing('iamAssumedRoleArn');
  if (typeof arn !== 'string' || arn.length < 20 || arn.length > 2048 || !ROLE_ARN.test(arn))
    invalid('iamAssumedRoleArn', arn);
  const check = await ctx.checks.checkAssumeRole(ctx.aws, {
    roleArn: arn,
    atlasAWSAccountArn: role.atlasAWSAccountArn,
    externalId: role.atlasAssumedRoleExternalId,
  });
  if (!check.ok) throw cannotAssume(arn, check.reason);
  // IAM propagation runs from the role's creation in IAM (its CreateDate), whenever Atlas first hears of it.
  const createdAt = check.roleCreatedAt?.getTime() ?? Date.now();
  if (Date.now() - createdAt < ctx.delays.iamPropagationMs) {
    throw cannotAssume(
      arn,
      'the role is not yet assumable (AWS IAM changes take time to propagate); retry shortly.',
    );
  }
  role.iamAssumedRoleArn = arn;
  role.authorizedDate = isoNow();
  return renderRole(ctx, role);
};

export const deauthorizeAccessRole: Handler = (ctx) => {
  requireGroup(ctx);
  const provider = ctx.params.cloudProvider ?? '';
  if (!PROVIDERS.includes(provider)) invalid('cloudProvider', provider);
  const role = findRole(ctx, ctx.params.roleId ?? '');
  const bucket = ctx.store.exportBuckets.find((b) => b.iamRoleId === role.roleId);
  if (bucket) {
    // Atlas refuses while a feature still uses the role; the exact errorCode is not documented.
    throw apiError(
      400,
      'CLOUD_PROVIDER_ACCESS_ROLE_IN_USE',
      `Cloud Provider Access role ${role.roleId} is in use by export bucket ${bucket._id}; delete the export bucket first.`,
      [role.roleId, bucket._id],
    );
  }
  ctx.store.accessRoles = ctx.store.accessRoles.filter((r) => r !== role);
  return undefined;
};
