/** Types shared by the Atlas simulator's modules: the in-memory store, the knobs and the observations. */

export interface SimDelays {
  /** How long after an IAM role's creation Atlas still cannot assume it (authorize answers CANNOT_ASSUME_ROLE). */
  iamPropagationMs: number;
  /** Time a backup private endpoint takes from INITIATING to ACTIVE. */
  endpointProvisionMs: number;
  /** Time an export job takes from Queued to Successful. */
  exportMs: number;
  /** Lifetime of service-account bearer tokens. */
  tokenTtlSec: number;
  /** How long a digest nonce stays valid. */
  nonceTtlMs: number;
}

export interface SimFaults {
  latencyMs: number;
  errorRate: { status: 500 | 503; rate: number } | undefined;
  rateLimitBurst: { count: number; retryAfterSec: number } | undefined;
  dropConnection: { onCreate: number } | undefined;
  ipNotOnAccessList: boolean;
  endpointFailure: { errorMessage: string } | undefined;
  exportFailure: { errorCode: string; message: string } | undefined;
  /** Token bucket per credential. */
  rateLimit: { capacity: number; refillPerSec: number };
  /** Seed of the PRNG behind errorRate. */
  seed: number;
}

export type RoleName =
  | 'ORG_OWNER'
  | 'ORG_MEMBER'
  | 'ORG_READ_ONLY'
  | 'GROUP_OWNER'
  | 'GROUP_BACKUP_MANAGER'
  | 'GROUP_READ_ONLY';

export interface RoleAssignment {
  orgId?: string;
  groupId?: string;
  roleName: RoleName;
}

export interface ApiKeyCred {
  id: string;
  publicKey: string;
  privateKey: string;
  orgId: string;
  roles: RoleAssignment[];
}

export interface ServiceAccountCred {
  clientId: string;
  clientSecret: string;
  orgId: string;
  roles: RoleAssignment[];
}

export interface Org {
  id: string;
  name: string;
}

export interface Group {
  id: string;
  name: string;
  orgId: string;
  created: string;
}

export type Provider = 'AWS' | 'GCP' | 'AZURE' | 'TENANT';

export interface Cluster {
  id: string;
  groupId: string;
  name: string;
  clusterType: 'REPLICASET' | 'SHARDED';
  providerName: Provider;
  backingProviderName?: 'AWS' | 'GCP' | 'AZURE';
  regionName: string;
  instanceSize: string;
  numShards: number;
  backupEnabled: boolean;
  mongoDBVersion: string;
  createDate: string;
  diskSizeGB: number;
}

export interface FlexCluster {
  id: string;
  groupId: string;
  name: string;
  backingProviderName: 'AWS' | 'GCP' | 'AZURE';
  regionName: string;
  mongoDBVersion: string;
  createDate: string;
}

/** A serverless instance (deprecated in Atlas; never eligible for export). Same fields as a flex cluster. */
export type ServerlessInstance = FlexCluster;

export interface Snapshot {
  id: string;
  groupId: string;
  clusterName: string;
  type: 'replicaSet' | 'shardedCluster';
  status: 'queued' | 'inProgress' | 'completed' | 'failed';
  snapshotType: 'onDemand' | 'scheduled' | 'fallback';
  frequencyType: 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
  createdAt: string;
  expiresAt: string;
  mongodVersion: string;
  storageSizeBytes: number;
  replicaSetName?: string;
  cloudProvider?: 'AWS' | 'GCP' | 'AZURE';
  policyItems: string[];
  /** Sharded snapshots only. */
  members?: Array<{ id: string; replicaSetName: string; cloudProvider: 'AWS' | 'GCP' | 'AZURE' }>;
  snapshotIds?: string[];
  /** For a shard member snapshot: the sharded snapshot it belongs to. */
  memberOf?: string;
}

export interface PolicyItem {
  id: string;
  frequencyInterval: number;
  frequencyType: 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'ondemand';
  retentionUnit: 'days' | 'weeks' | 'months' | 'years';
  retentionValue: number;
}

export interface Schedule {
  groupId: string;
  clusterName: string;
  clusterId: string;
  autoExportEnabled: boolean;
  export?: { exportBucketId?: string; frequencyType?: 'monthly' | 'yearly' };
  useOrgAndGroupNamesInExportPrefix: boolean;
  policies: Array<{ id: string; policyItems: PolicyItem[] }>;
  referenceHourOfDay: number;
  referenceMinuteOfHour: number;
  restoreWindowDays: number;
  copySettings: unknown[];
  extraRetentionSettings: unknown[];
}

export interface AccessRole {
  roleId: string;
  groupId: string;
  atlasAWSAccountArn: string;
  atlasAssumedRoleExternalId: string;
  iamAssumedRoleArn?: string;
  createdDate: string;
  authorizedDate?: string;
}

export interface PrivateEndpoint {
  id: string;
  groupId: string;
  regionName: string;
  vpcRegionName: string;
  /** The interface VPC endpoint Atlas deploys (privateEndpointConnectionName; aws:SourceVpce of requests through it). */
  vpcEndpointId: string;
  createdAtMs: number;
  /** Set to force a state regardless of elapsed time (tests may also set it directly). */
  forcedStatus?:
    'INITIATING' | 'PENDING_ACCEPTANCE' | 'ACTIVE' | 'FAILED' | 'PENDING_RECREATION' | 'DELETING';
  errorMessage?: string;
  deletingSinceMs?: number;
}

export interface ExportBucket {
  _id: string;
  groupId: string;
  bucketName: string;
  cloudProvider: 'AWS';
  iamRoleId: string;
  requirePrivateNetworking: boolean;
  region: string;
}

export interface ExportJob {
  id: string;
  groupId: string;
  clusterName: string;
  snapshotId: string;
  exportBucketId: string;
  createdAtMs: number;
  prefix: string;
  customData: Array<{ key: string; value: string }>;
  components?: Array<{ exportId: string; replicaSetName: string }>;
  failure?: { errorCode: string; message: string };
  totalCollections: number;
  /** Set once the export files are written (or writing failed). */
  finished?: { atMs: number; ok: boolean; message?: string };
  writing?: Promise<void>;
  /** The checks Atlas makes when the job starts running (assume the role, reach the bucket), run once. */
  starting?: Promise<void>;
  /** The VPC endpoint a private-networking export travels through, chosen when the job starts. */
  sourceVpce?: string;
}

export interface ExportCollection {
  db: string;
  collection: string;
  documents: object[];
}

export interface SimStore {
  orgs: Org[];
  groups: Group[];
  clusters: Cluster[];
  flexClusters: FlexCluster[];
  serverlessInstances: ServerlessInstance[];
  snapshots: Snapshot[];
  schedules: Schedule[];
  accessRoles: AccessRole[];
  privateEndpoints: PrivateEndpoint[];
  exportBuckets: ExportBucket[];
  exportJobs: ExportJob[];
  apiKeys: ApiKeyCred[];
  serviceAccounts: ServiceAccountCred[];
  tokens: Map<string, { clientId: string; expiresAtMs: number }>;
  exportData: Record<string, ExportCollection[]>;
  atlasAwsAccountId: string;
}

export interface SeedInfo {
  orgId: string;
  orgName: string;
  projectId: string;
  projectName: string;
  otherOrgId: string;
  clusters: {
    eligible: string;
    sharded: string;
    tenant: string;
    gcp: string;
    noBackup: string;
    flex: string;
    serverless: string;
  };
  credentials: {
    owner: { publicKey: string; privateKey: string };
    readOnly: { publicKey: string; privateKey: string };
    backupManager: { publicKey: string; privateKey: string };
    otherOrg: { publicKey: string; privateKey: string };
    serviceAccount: { clientId: string; clientSecret: string };
  };
}

export interface SimIdentity {
  kind: 'apiKey' | 'serviceAccount';
  id: string;
  orgId: string;
  roles: RoleAssignment[];
}

export interface SimCall {
  method: string;
  path: string;
  operationId: string | undefined;
  status: number;
  version: string | undefined;
  timestamp: number;
  identity: string | undefined;
}

export interface SimExchange {
  request: { method: string; path: string; headers: Record<string, string>; body: unknown };
  response: { status: number; headers: Record<string, string>; body: unknown };
  operationId: string | undefined;
  version: string | undefined;
}
