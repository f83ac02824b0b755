/**
 * The Atlas Administration API operations this tool uses, with the media-type versions and the role
 * the official spec lists for each (read from openapi-subset.json; NOTES.md sections 1-8). The
 * simulator serves exactly these (any other version is refused), and the client's error hints name
 * the role an operation needs from here.
 */

/** The project roles the spec's `x-rolesRequirements` names (NOTES.md sections 1-8). */
export type RoleRequirement =
  | 'Project Read Only'
  | 'Project Backup Manager'
  | 'Project Backup Export Operator'
  | 'Project Owner';

export interface OperationDef {
  operationId: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path template under /api/atlas/v2, with {param} segments. */
  path: string;
  versions: string[];
  /** Versions accepted for the request body (writes with a body only). */
  bodyVersions?: string[];
  /** The role the spec requires (`x-rolesRequirements`); none for the credential-level operations. */
  role?: RoleRequirement;
  /** Success status. */
  status: number;
  paginated?: boolean;
}

const CLUSTER_VERSIONS = ['2023-01-01', '2023-02-01', '2024-08-05'];
const BUCKET_VERSIONS = ['2023-01-01', '2024-05-30'];
const SCHEDULE_VERSIONS = ['2023-01-01', '2024-08-05'];
const V1 = ['2023-01-01'];
const PE = ['2024-11-13'];
const READ_ONLY: RoleRequirement = 'Project Read Only';
const BACKUP_MANAGER: RoleRequirement = 'Project Backup Manager';
const EXPORT_OPERATOR: RoleRequirement = 'Project Backup Export Operator';
const OWNER: RoleRequirement = 'Project Owner';
const G = '/groups/{groupId}';
const C = `${G}/clusters/{clusterName}`;

export const OPERATIONS: OperationDef[] = [
  {
    operationId: 'getSystemStatus',
    method: 'GET',
    path: '',
    versions: V1,
    status: 200,
  },
  {
    operationId: 'listGroups',
    method: 'GET',
    path: '/groups',
    versions: V1,
    status: 200,
    paginated: true,
  },
  { operationId: 'getGroup', method: 'GET', path: G, versions: V1, role: READ_ONLY, status: 200 },
  {
    operationId: 'listGroupClusters',
    method: 'GET',
    path: `${G}/clusters`,
    versions: CLUSTER_VERSIONS,
    role: READ_ONLY,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'getGroupCluster',
    method: 'GET',
    path: C,
    versions: CLUSTER_VERSIONS,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'listGroupFlexClusters',
    method: 'GET',
    path: `${G}/flexClusters`,
    versions: PE,
    role: READ_ONLY,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'getGroupFlexCluster',
    method: 'GET',
    path: `${G}/flexClusters/{name}`,
    versions: PE,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'getGroupServerlessInstance',
    method: 'GET',
    path: `${G}/serverless/{name}`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'listGroupCloudProviderAccess',
    method: 'GET',
    path: `${G}/cloudProviderAccess`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'createGroupCloudProviderAccess',
    method: 'POST',
    path: `${G}/cloudProviderAccess`,
    versions: V1,
    bodyVersions: V1,
    role: OWNER,
    status: 200,
  },
  {
    operationId: 'getGroupCloudProviderAccess',
    method: 'GET',
    path: `${G}/cloudProviderAccess/{roleId}`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'authorizeGroupCloudProviderAccessRole',
    method: 'PATCH',
    path: `${G}/cloudProviderAccess/{roleId}`,
    versions: V1,
    bodyVersions: V1,
    role: OWNER,
    status: 200,
  },
  {
    operationId: 'deauthorizeGroupCloudProviderAccessRole',
    method: 'DELETE',
    path: `${G}/cloudProviderAccess/{cloudProvider}/{roleId}`,
    versions: V1,
    role: OWNER,
    status: 204,
  },
  {
    operationId: 'listGroupBackupPrivateEndpoints',
    method: 'GET',
    path: `${G}/backup/{cloudProvider}/privateEndpoints`,
    versions: PE,
    role: OWNER,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'createGroupBackupPrivateEndpoint',
    method: 'POST',
    path: `${G}/backup/{cloudProvider}/privateEndpoints`,
    versions: PE,
    bodyVersions: PE,
    role: OWNER,
    status: 201,
  },
  {
    operationId: 'getGroupBackupPrivateEndpoint',
    method: 'GET',
    path: `${G}/backup/{cloudProvider}/privateEndpoints/{endpointId}`,
    versions: PE,
    role: OWNER,
    status: 200,
  },
  {
    operationId: 'deleteGroupBackupPrivateEndpoint',
    method: 'DELETE',
    path: `${G}/backup/{cloudProvider}/privateEndpoints/{endpointId}`,
    versions: PE,
    role: OWNER,
    status: 204,
  },
  {
    operationId: 'listGroupBackupExportBuckets',
    method: 'GET',
    path: `${G}/backup/exportBuckets`,
    versions: BUCKET_VERSIONS,
    role: READ_ONLY,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'createGroupBackupExportBucket',
    method: 'POST',
    path: `${G}/backup/exportBuckets`,
    versions: BUCKET_VERSIONS,
    bodyVersions: BUCKET_VERSIONS,
    role: BACKUP_MANAGER,
    status: 200,
  },
  {
    operationId: 'getGroupBackupExportBucket',
    method: 'GET',
    path: `${G}/backup/exportBuckets/{exportBucketId}`,
    versions: BUCKET_VERSIONS,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'updateGroupBackupExportBucket',
    method: 'PATCH',
    path: `${G}/backup/exportBuckets/{exportBucketId}`,
    versions: ['2024-05-30'],
    bodyVersions: ['2024-05-30'],
    role: BACKUP_MANAGER,
    status: 200,
  },
  {
    operationId: 'deleteGroupBackupExportBucket',
    method: 'DELETE',
    path: `${G}/backup/exportBuckets/{exportBucketId}`,
    versions: V1,
    role: BACKUP_MANAGER,
    status: 204,
  },
  {
    operationId: 'listGroupClusterBackupExports',
    method: 'GET',
    path: `${C}/backup/exports`,
    versions: V1,
    role: BACKUP_MANAGER,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'createGroupClusterBackupExport',
    method: 'POST',
    path: `${C}/backup/exports`,
    versions: V1,
    bodyVersions: V1,
    role: EXPORT_OPERATOR,
    status: 200,
  },
  {
    operationId: 'getGroupClusterBackupExport',
    method: 'GET',
    path: `${C}/backup/exports/{exportId}`,
    versions: V1,
    role: BACKUP_MANAGER,
    status: 200,
  },
  {
    operationId: 'listGroupClusterBackupSnapshots',
    method: 'GET',
    path: `${C}/backup/snapshots`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'listGroupClusterBackupSnapshotShardedClusters',
    method: 'GET',
    path: `${C}/backup/snapshots/shardedClusters`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
    paginated: true,
  },
  {
    operationId: 'getGroupClusterBackupSnapshotShardedCluster',
    method: 'GET',
    path: `${C}/backup/snapshots/shardedCluster/{snapshotId}`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'getGroupClusterBackupSnapshot',
    method: 'GET',
    path: `${C}/backup/snapshots/{snapshotId}`,
    versions: V1,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'getGroupClusterBackupSchedule',
    method: 'GET',
    path: `${C}/backup/schedule`,
    versions: SCHEDULE_VERSIONS,
    role: READ_ONLY,
    status: 200,
  },
  {
    operationId: 'updateGroupClusterBackupSchedule',
    method: 'PATCH',
    path: `${C}/backup/schedule`,
    versions: SCHEDULE_VERSIONS,
    bodyVersions: SCHEDULE_VERSIONS,
    role: BACKUP_MANAGER,
    status: 200,
  },
];

interface CompiledOperation {
  def: OperationDef;
  regex: RegExp;
  names: string[];
  /** Literal segments count, so /snapshots/shardedClusters wins over /snapshots/{snapshotId}. */
  literals: number;
}

const COMPILED: CompiledOperation[] = OPERATIONS.map((def) => {
  const names: string[] = [];
  const segments = def.path.split('/').filter(Boolean);
  const pattern = segments
    .map((segment) => {
      const match = /^\{(\w+)\}$/.exec(segment);
      if (!match) return segment;
      names.push(match[1] as string);
      return '([^/]+)';
    })
    .join('/');
  const regex = new RegExp(`^/api/atlas/v2${pattern ? `/${pattern}` : ''}/?$`);
  const literals = segments.filter((segment) => !segment.startsWith('{')).length;
  return { def, regex, names, literals };
});

export interface RouteMatch {
  def: OperationDef;
  params: Record<string, string>;
}

/** Finds the operation for a method and path; `pathKnown` tells a 405 from a 404 when no method matches. */
export function matchRoute(
  method: string,
  path: string,
): { match?: RouteMatch; pathKnown: boolean } {
  const candidates = COMPILED.map((op) => ({ op, m: op.regex.exec(path) }))
    .filter((c): c is { op: CompiledOperation; m: RegExpExecArray } => c.m !== null)
    .sort((a, b) => b.op.literals - a.op.literals);
  const hit = candidates.find((c) => c.op.def.method === method);
  if (!hit) return { pathKnown: candidates.length > 0 };
  const params: Record<string, string> = {};
  hit.op.names.forEach((name, i) => {
    params[name] = decodeURIComponent(hit.m[i + 1] as string);
  });
  return { match: { def: hit.op.def, params }, pathKnown: true };
}
