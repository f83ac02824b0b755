/**
 * The simulator's view of AWS: the functions of src/sim/aws-checks.ts (written separately), loaded at
 * start. Until that module exists, a minimal stand-in with the same signatures is used so the
 * simulator can run; it is deliberately simple (no policy evaluation).
 * TODO: remove the stand-in once src/sim/aws-checks.ts has landed.
 */
import type { AwsClients } from '../aws/clients.js';

export type CheckResult = { ok: true } | { ok: false; reason: string };

export interface ExportMeta {
  orgId: string;
  orgName: string;
  groupId: string;
  groupName: string;
  clusterName: string;
  clusterUniqueId: string;
  snapshotId: string;
  snapshotInitiationDate: string;
  replicaSetNames: string[];
}

export interface AwsChecks {
  checkAssumeRole(aws: AwsClients, input: { roleArn: string; atlasAWSAccountArn: string; externalId: string }): Promise<CheckResult & { roleCreatedAt?: Date }>;
  checkExportPermissions(aws: AwsClients, input: { roleArn: string; bucketName: string; kmsKeyArn?: string }): Promise<CheckResult>;
  bucketRegion(aws: AwsClients, bucketName: string): Promise<string | undefined>;
  writePermissionCheck(aws: AwsClients, bucketName: string): Promise<void>;
  writeExportFiles(
    aws: AwsClients,
    input: { bucketName: string; prefix: string; meta: ExportMeta; collections: Array<{ db: string; collection: string; documents: object[] }> },
  ): Promise<{ files: string[] }>;
}

export async function loadAwsChecks(): Promise<AwsChecks> {
  const specifier = './aws-checks.js';
  try {
    return (await import(specifier)) as AwsChecks;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return standIn;
  }
}

function roleName(arn: string): string {
  return arn.split('/').pop() ?? arn;
}

const standIn: AwsChecks = {
  async checkAssumeRole(aws, input) {
    const { GetRoleCommand } = await import('@aws-sdk/client-iam');
    try {
      const out = await aws.iam.send(new GetRoleCommand({ RoleName: roleName(input.roleArn) }));
      const trust = decodeURIComponent(out.Role?.AssumeRolePolicyDocument ?? '');
      if (!trust.includes(input.atlasAWSAccountArn) || !trust.includes(input.externalId)) {
        return { ok: false, reason: 'the trust policy does not name the Atlas account and external id' };
      }
      return { ok: true, ...(out.Role?.CreateDate ? { roleCreatedAt: out.Role.CreateDate } : {}) };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  },
  async checkExportPermissions(aws, input) {
    const { GetRoleCommand } = await import('@aws-sdk/client-iam');
    try {
      await aws.iam.send(new GetRoleCommand({ RoleName: roleName(input.roleArn) }));
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  },
  async bucketRegion(aws, bucketName) {
    const { GetBucketLocationCommand } = await import('@aws-sdk/client-s3');
    try {
      const out = await aws.s3.send(new GetBucketLocationCommand({ Bucket: bucketName }));
      return out.LocationConstraint || 'us-east-1';
    } catch {
      return undefined;
    }
  },
  async writePermissionCheck(aws, bucketName) {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await aws.s3.send(new PutObjectCommand({ Bucket: bucketName, Key: '.atlas-permission-check', Body: 'ok' }));
  },
  async writeExportFiles(aws, input) {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const files: string[] = [];
    for (const c of input.collections) {
      const key = `${input.prefix}/${c.db}/${c.collection}/1-1.json`;
      await aws.s3.send(new PutObjectCommand({ Bucket: input.bucketName, Key: key, Body: c.documents.map((d) => JSON.stringify(d)).join('\n') }));
      files.push(key);
    }
    const done = `${input.prefix}/.complete`;
    await aws.s3.send(new PutObjectCommand({ Bucket: input.bucketName, Key: done, Body: JSON.stringify(input.meta) }));
    files.push(done);
    return { files };
  },
};
