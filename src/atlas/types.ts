/**
 * The Atlas Administration API v2 objects this tool reads and writes, typed with only the fields it
 * uses (Atlas sends more; extra fields pass through untouched). Field names and enums follow the
 * media-type versions named in each resource module (see NOTES.md sections 1-10).
 *
 * Each object has a zod schema of the fields the tool relies on, which the resource modules hand to
 * the client so that every answer is checked once, where it arrives. The schemas are lenient: extra
 * fields are kept, optional fields may be null, and enums are plain strings (Atlas adds values); only
 * what the tool cannot do without is required, such as the id a later call or the state file needs.
 */
import { z } from 'zod';

export interface Link {
  href: string;
  rel: string;
}

/** The body of every paginated list answer. */
export interface Paginated<T> {
  results: T[];
  totalCount?: number;
  links?: Link[];
}

/** GET /api/atlas/v2 (2023-01-01). */
export interface SystemStatus {
  appName: string;
  build: string;
  throttling: boolean;
  apiKey?: {
    id: string;
    publicKey: string;
    roles: Array<{ groupId?: string; orgId?: string; roleName?: string }>;
    accessList: Array<{ cidrBlock?: string; ipAddress?: string }>;
  };
  links?: Link[];
}

/** A project (GET /groups, /groups/{groupId}; 2023-01-01). */
export interface Project {
  id: string;
  name: string;
  orgId: string;
  clusterCount: number;
  created: string;
  links?: Link[];
}

export type ProviderName = 'AWS' | 'AZURE' | 'GCP' | 'TENANT';

export interface HardwareSpec {
  instanceSize?: string;
  nodeCount?: number;
}

export interface RegionConfig {
  providerName: ProviderName;
  regionName?: string;
  /** Tenant (M0/M2/M5) configs: the cloud the shared cluster runs on. */
  backingProviderName?: 'AWS' | 'AZURE' | 'GCP';
  priority?: number;
  electableSpecs?: HardwareSpec;
  readOnlySpecs?: HardwareSpec;
  analyticsSpecs?: HardwareSpec;
  effectiveElectableSpecs?: HardwareSpec;
}

export interface ReplicationSpec {
  id?: string;
  zoneId?: string;
  zoneName?: string;
  regionConfigs: RegionConfig[];
}

export type ClusterState = 'IDLE' | 'CREATING' | 'UPDATING' | 'DELETING' | 'REPAIRING';

/** ClusterDescription20240805, plus `flex` set by this tool when the answer came from the flex endpoint. */
export interface Cluster {
  id: string;
  groupId?: string;
  name: string;
  clusterType?: 'REPLICASET' | 'SHARDED' | 'GEOSHARDED';
  stateName?: ClusterState;
  backupEnabled?: boolean;
  pitEnabled?: boolean;
  paused?: boolean;
  mongoDBVersion?: string;
  replicationSpecs?: ReplicationSpec[];
  /** Set by getCluster when the cluster is a flex cluster (never sent by Atlas). */
  flex?: FlexCluster;
}

/** FlexClusterDescription20241113. */
export interface FlexCluster {
  id: string;
  groupId?: string;
  name: string;
  clusterType?: 'REPLICASET';
  stateName?: ClusterState;
  providerSettings: {
    providerName: 'FLEX';
    backingProviderName?: 'AWS' | 'AZURE' | 'GCP';
    regionName?: string;
  };
  backupSettings?: { enabled?: boolean };
}

export interface ClusterSummary {
  name: string;
  id: string;
  provider: string | undefined;
  region: string | undefined;
  instanceSize: string | undefined;
  backupEnabled: boolean;
  clusterType: string | undefined;
  stateName: string | undefined;
}

export type FeatureType =
  | 'ATLAS_DATA_LAKE'
  | 'ENCRYPTION_AT_REST'
  | 'EXPORT_SNAPSHOT'
  | 'PUSH_BASED_LOG_EXPORT'
  | 'ATLAS_LOG_INTEGRATION';

/** CloudProviderAccessAWSIAMRole (2023-01-01). The id is `roleId`. */
export interface AwsIamRole {
  providerName: 'AWS';
  roleId: string;
  atlasAWSAccountArn?: string;
  atlasAssumedRoleExternalId?: string;
  iamAssumedRoleArn?: string;
  createdDate?: string;
  authorizedDate?: string;
  featureUsages?: Array<{ featureType: FeatureType; featureId?: unknown }>;
}

export interface CloudProviderAccessRoles {
  awsIamRoles?: AwsIamRole[];
  azureServicePrincipals?: unknown[];
  gcpServiceAccounts?: unknown[];
}

export type PrivateEndpointStatus =
  'INITIATING' | 'PENDING_ACCEPTANCE' | 'ACTIVE' | 'FAILED' | 'PENDING_RECREATION' | 'DELETING';

/** ObjectStoragePrivateEndpointResponse (2024-11-13). The id is `id`. */
export interface PrivateEndpoint {
  id: string;
  cloudProvider: 'AWS';
  regionName: string;
  vpcRegionName?: string;
  privateEndpointConnectionName?: string;
  errorMessage?: string;
  status: PrivateEndpointStatus;
}

/** DiskBackupSnapshotAWSExportBucketResponse (2024-05-30). The id is `_id`. */
export interface ExportBucket {
  _id: string;
  bucketName: string;
  cloudProvider: 'AWS' | 'AZURE' | 'GCP';
  iamRoleId: string;
  requirePrivateNetworking?: boolean;
  /** AWS form (`us-east-1`), set by Atlas. */
  region?: string;
  links?: Link[];
}

export type ExportJobState = 'Cancelled' | 'Failed' | 'InProgress' | 'Queued' | 'Successful';

export interface BackupLabel {
  key: string;
  value: string;
}

/** DiskBackupExportJob (2023-01-01). The id is `id`; `state` is mixed case. */
export interface ExportJob {
  id: string;
  exportBucketId: string;
  snapshotId?: string;
  createdAt?: string;
  finishedAt?: string;
  state: ExportJobState;
  stateReason?: { errorCode?: string; message?: string };
  exportStatus?: { exportedCollections?: number; totalCollections?: number };
  prefix?: string;
  components?: Array<{ exportId?: string; replicaSetName?: string }>;
  customData?: BackupLabel[];
}

export type SnapshotStatus = 'queued' | 'inProgress' | 'completed' | 'failed';

/** DiskBackupReplicaSet (2023-01-01). */
export interface Snapshot {
  id: string;
  createdAt?: string;
  expiresAt?: string;
  status?: SnapshotStatus;
  snapshotType?: 'onDemand' | 'scheduled' | 'fallback';
  frequencyType?: 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
  policyItems?: string[];
  type?: 'replicaSet' | 'shardedCluster';
  cloudProvider?: string;
  replicaSetName?: string;
  mongodVersion?: string;
  storageSizeBytes?: number;
  description?: string;
}

/** DiskBackupShardedClusterSnapshot (2023-01-01). */
export interface ShardedSnapshot extends Omit<Snapshot, 'cloudProvider' | 'replicaSetName'> {
  members?: Array<{ cloudProvider?: string; id?: string; replicaSetName?: string }>;
  snapshotIds?: string[];
  configServerType?: 'EMBEDDED' | 'DEDICATED';
}

export type AutoExportFrequency = 'monthly' | 'yearly';

export interface BackupPolicyItem {
  id?: string;
  frequencyInterval: number;
  frequencyType: string;
  retentionUnit: string;
  retentionValue: number;
}

/** DiskBackupSnapshotSchedule20240805. */
export interface BackupSchedule {
  clusterId?: string;
  clusterName?: string;
  nextSnapshot?: string;
  links?: Link[];
  autoExportEnabled?: boolean;
  export?: { exportBucketId?: string; frequencyType?: AutoExportFrequency };
  useOrgAndGroupNamesInExportPrefix?: boolean;
  policies: Array<{ id?: string; policyItems: BackupPolicyItem[] }>;
  referenceHourOfDay?: number;
  referenceMinuteOfHour?: number;
  restoreWindowDays?: number;
  copySettings?: unknown[];
  copyPolicyItemsEnabled?: boolean;
  autoCopySettingsEnabled?: boolean;
  extraRetentionSettings?: unknown[];
  [field: string]: unknown;
}

/** The body Atlas sends with every error (ApiError). */
export interface AtlasErrorBody {
  error?: number;
  errorCode?: string;
  detail?: string;
  reason?: string;
  parameters?: unknown[];
  badRequestDetail?: { fields?: Array<{ field?: string; description?: string }> };
}

// --- response schemas -----------------------------------------------------------------------------

const text = z.string();
const maybeText = z.string().nullish();
const maybeFlag = z.boolean().nullish();
const maybeNumber = z.number().nullish();

export const SystemStatusSchema = z.looseObject({
  appName: maybeText,
  build: maybeText,
  throttling: maybeFlag,
});

export const ProjectSchema = z.looseObject({ id: text, name: text, orgId: text });

const HardwareSpecSchema = z
  .looseObject({ instanceSize: maybeText, nodeCount: maybeNumber })
  .nullish();

const RegionConfigSchema = z.looseObject({
  providerName: text,
  regionName: maybeText,
  backingProviderName: maybeText,
  priority: maybeNumber,
  electableSpecs: HardwareSpecSchema,
  readOnlySpecs: HardwareSpecSchema,
  analyticsSpecs: HardwareSpecSchema,
  effectiveElectableSpecs: HardwareSpecSchema,
});

export const ClusterSchema = z.looseObject({
  id: text,
  name: text,
  groupId: maybeText,
  clusterType: maybeText,
  stateName: maybeText,
  backupEnabled: maybeFlag,
  pitEnabled: maybeFlag,
  paused: maybeFlag,
  replicationSpecs: z
    .array(z.looseObject({ regionConfigs: z.array(RegionConfigSchema).nullish() }))
    .nullish(),
});

export const FlexClusterSchema = z.looseObject({
  id: text,
  name: text,
  groupId: maybeText,
  clusterType: maybeText,
  stateName: maybeText,
  providerSettings: z.looseObject({
    providerName: text,
    backingProviderName: maybeText,
    regionName: maybeText,
  }),
  backupSettings: z.looseObject({ enabled: maybeFlag }).nullish(),
});

/** Atlas's account ARN and the external id are what the IAM role's trust policy is built from. */
export const AwsIamRoleSchema = z.looseObject({
  providerName: maybeText,
  roleId: text,
  atlasAWSAccountArn: text,
  atlasAssumedRoleExternalId: text,
  iamAssumedRoleArn: maybeText,
  createdDate: maybeText,
  authorizedDate: maybeText,
  featureUsages: z.array(z.looseObject({ featureType: text })).nullish(),
});

export const CloudProviderAccessRolesSchema = z.looseObject({
  awsIamRoles: z.array(AwsIamRoleSchema).nullish(),
});

export const PrivateEndpointSchema = z.looseObject({
  id: text,
  regionName: text,
  status: text,
  cloudProvider: maybeText,
  vpcRegionName: maybeText,
  privateEndpointConnectionName: maybeText,
  errorMessage: maybeText,
});

export const ExportBucketSchema = z.looseObject({
  _id: text,
  bucketName: text,
  iamRoleId: text,
  cloudProvider: maybeText,
  requirePrivateNetworking: maybeFlag,
  region: maybeText,
});

export const ExportJobSchema = z.looseObject({
  id: text,
  state: text,
  exportBucketId: text,
  snapshotId: maybeText,
  createdAt: maybeText,
  finishedAt: maybeText,
  prefix: maybeText,
  stateReason: z.looseObject({ errorCode: maybeText, message: maybeText }).nullish(),
  exportStatus: z
    .looseObject({ exportedCollections: maybeNumber, totalCollections: maybeNumber })
    .nullish(),
  components: z.array(z.looseObject({ exportId: maybeText, replicaSetName: maybeText })).nullish(),
  customData: z.array(z.looseObject({ key: text, value: text })).nullish(),
});

const snapshotFields = {
  id: text,
  createdAt: maybeText,
  expiresAt: maybeText,
  status: maybeText,
  snapshotType: maybeText,
  frequencyType: maybeText,
  type: maybeText,
  mongodVersion: maybeText,
  description: maybeText,
  storageSizeBytes: maybeNumber,
  policyItems: z.array(text).nullish(),
};

export const SnapshotSchema = z.looseObject({
  ...snapshotFields,
  cloudProvider: maybeText,
  replicaSetName: maybeText,
});

export const ShardedSnapshotSchema = z.looseObject({
  ...snapshotFields,
  members: z.array(z.looseObject({ id: maybeText, replicaSetName: maybeText })).nullish(),
  snapshotIds: z.array(text).nullish(),
  configServerType: maybeText,
});

/** The policies are sent back exactly as read with every schedule change, so they must be whole. */
export const BackupScheduleSchema = z.looseObject({
  clusterId: maybeText,
  clusterName: maybeText,
  autoExportEnabled: maybeFlag,
  export: z.looseObject({ exportBucketId: maybeText, frequencyType: maybeText }).nullish(),
  policies: z.array(
    z.looseObject({
      id: maybeText,
      policyItems: z.array(
        z.looseObject({
          id: maybeText,
          frequencyInterval: z.number(),
          frequencyType: text,
          retentionUnit: text,
          retentionValue: z.number(),
        }),
      ),
    }),
  ),
});
