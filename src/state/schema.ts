/**
 * The state file: every id this tool created or adopted, so any run can stop and resume.
 * It never holds a secret. Bump STATE_SCHEMA_VERSION on any incompatible change.
 */
import { z } from 'zod';

export const STATE_SCHEMA_VERSION = 1;

/** Whether this tool made the resource (and may remove it on teardown) or found it in place. */
export const Origin = z.enum(['created', 'adopted']);
export type Origin = z.infer<typeof Origin>;

const hex24 = z.string().regex(/^[0-9a-f]{24}$/, 'must be 24 hexadecimal characters');
const timestamp = z.string().datetime({ offset: true });

export const BucketState = z.strictObject({
  name: z.string(),
  /** AWS form, e.g. us-east-1 */
  region: z.string(),
  encryption: z.enum(['SSE-S3', 'SSE-KMS']),
  kmsKeyArn: z.string().optional(),
  origin: Origin,
  /**
   * Set on an adopted bucket whose object ownership was not BucketOwnerEnforced: the setting it had
   * (e.g. ObjectWriter, or "not set"), which setup left as it was on purpose.
   */
  keptObjectOwnership: z.string().optional(),
});

export const AtlasRoleState = z.strictObject({
  roleId: hex24,
  atlasAWSAccountArn: z.string(),
  externalId: z.string(),
  origin: Origin,
  /** Set once Atlas has authorized the role (authorizedDate from Atlas). */
  authorizedAt: timestamp.optional(),
  iamAssumedRoleArn: z.string().optional(),
});

export const IamRoleState = z.strictObject({
  name: z.string(),
  arn: z.string(),
  /** Name of the inline policy holding the S3 (and KMS) permissions. */
  policyName: z.string(),
  origin: Origin,
});

export const BucketPolicyState = z.strictObject({
  /** Sids of the statements this tool added; other statements on the bucket are never touched. */
  statementSids: z.array(z.string()),
  /** True when the bucket had no policy before this tool added its statements. */
  createdPolicy: z.boolean(),
});

export const PrivateEndpointState = z.strictObject({
  id: hex24,
  /** Atlas form, e.g. US_EAST_1 */
  regionName: z.string(),
  vpcRegionName: z.string().optional(),
  origin: Origin,
  status: z.string().optional(),
});

export const ExportBucketState = z.strictObject({
  id: hex24,
  origin: Origin,
  /** True when this tool patched an adopted bucket's requirePrivateNetworking from false to true. */
  patchedPrivateNetworking: z.boolean().optional(),
});

export const ScheduleState = z.strictObject({
  frequency: z.string(),
  /** Whether auto-export was already on (to another bucket or frequency) before this tool changed it. */
  previous: z
    .strictObject({
      autoExportEnabled: z.boolean(),
      exportBucketId: z.string().optional(),
      frequencyType: z.string().optional(),
    })
    .optional(),
  origin: Origin,
});

export const ExportJobState = z.strictObject({
  id: hex24,
  snapshotId: hex24,
  state: z.string(),
  prefix: z.string().optional(),
  startedAt: timestamp,
  /** Outcome of the S3 check of the job's `.complete` object, when it was checked. */
  filesVerified: z.boolean().optional(),
  /**
   * The export bucket's requirePrivateNetworking as this tool read it just before starting the job
   * (absent for jobs recorded before it was kept, and for a job a killed run started).
   */
  requirePrivateNetworking: z.boolean().optional(),
});

/** What the run that wrote the file was asked to build, so a rerun after an interruption needs no answers again. */
export const PlanState = z.strictObject({
  bucketName: z.string(),
  bucketRegion: z.string().optional(),
  encryption: z.enum(['SSE-S3', 'SSE-KMS']),
  kmsKeyArn: z.string().optional(),
  iamRoleName: z.string(),
  exportNow: z.string().optional(),
  schedule: z.string().optional(),
});

export const StateFile = z.strictObject({
  schemaVersion: z.literal(STATE_SCHEMA_VERSION),
  createdAt: timestamp,
  updatedAt: timestamp,
  atlas: z.strictObject({
    baseUrl: z.string(),
    orgId: hex24.optional(),
    projectId: hex24,
    clusterName: z.string(),
    /** Atlas form of the cluster's region, e.g. US_EAST_1 */
    clusterRegion: z.string().optional(),
    clusterType: z.string().optional(),
  }),
  aws: z.strictObject({
    accountId: z.string().regex(/^\d{12}$/),
    /** Bucket region in AWS form. */
    region: z.string(),
  }),
  plan: PlanState.optional(),
  resources: z.strictObject({
    bucket: BucketState.optional(),
    atlasRole: AtlasRoleState.optional(),
    iamRole: IamRoleState.optional(),
    bucketPolicy: BucketPolicyState.optional(),
    privateEndpoint: PrivateEndpointState.optional(),
    exportBucket: ExportBucketState.optional(),
    schedule: ScheduleState.optional(),
  }),
  /** Export jobs started by this tool, newest last. */
  exports: z.array(ExportJobState),
  /** Steps finished, in the order they finished. */
  completedSteps: z.array(z.string()),
  /**
   * Creates that were sent but whose result is not yet recorded (kind -> when the request was sent).
   * A rerun that finds such a resource knows this tool made it, and adopts it as created instead of
   * creating a duplicate.
   */
  pending: z.record(z.string(), timestamp).default({}),
});

export type StateFile = z.infer<typeof StateFile>;
export type Resources = StateFile['resources'];

/** What each create setup marks as pending (state.pending's keys) makes, in words. */
export const PENDING_LABELS: Readonly<Record<string, string>> = {
  bucket: 'the S3 bucket',
  atlasRole: 'the Atlas access role',
  iamRole: 'the IAM role',
  endpoint: 'the private endpoint',
  exportBucket: 'the export bucket',
};
