/** Loads the seed file (fixtures/sandbox-seed.json by default) into a fresh in-memory store. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { SeedInfo, SimStore } from './types.js';

export const DEFAULT_SEED_FILE = fileURLToPath(
  new URL('../../fixtures/sandbox-seed.json', import.meta.url),
);

type Optional =
  'accessRoles' | 'privateEndpoints' | 'exportBuckets' | 'exportJobs' | 'serverlessInstances';
type SeedFile = Omit<SimStore, 'tokens' | Optional> & Partial<Pick<SimStore, Optional>>;

export async function loadSeed(file: string = DEFAULT_SEED_FILE): Promise<SeedFile> {
  return JSON.parse(await readFile(file, 'utf8')) as SeedFile;
}

/** A deep copy of the seed as a live store (the seed object itself is never mutated). */
export function storeFromSeed(seed: SeedFile): SimStore {
  const copy = structuredClone(seed);
  return {
    ...copy,
    accessRoles: copy.accessRoles ?? [],
    privateEndpoints: copy.privateEndpoints ?? [],
    exportBuckets: copy.exportBuckets ?? [],
    exportJobs: copy.exportJobs ?? [],
    serverlessInstances: copy.serverlessInstances ?? [],
    tokens: new Map(),
  };
}

function pick<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new TypeError(`The simulator seed has no ${what}.`);
  return value;
}

/** What tests and the sandbox need to know about the seed: ids, names and credentials. */
export function seedInfo(store: SimStore): SeedInfo {
  const owner = pick(
    store.apiKeys.find((k) => k.roles.some((r) => r.roleName === 'GROUP_OWNER')),
    'project-owner API key',
  );
  const group = pick(
    store.groups.find((g) => g.orgId === owner.orgId),
    'project',
  );
  const org = pick(
    store.orgs.find((o) => o.id === group.orgId),
    'organization',
  );
  const readOnly = pick(
    store.apiKeys.find((k) => k.roles.some((r) => r.roleName === 'GROUP_READ_ONLY')),
    'read-only API key',
  );
  const backupManager = pick(
    store.apiKeys.find((k) => k.roles.some((r) => r.roleName === 'GROUP_BACKUP_MANAGER')),
    'backup-manager API key',
  );
  const other = pick(
    store.apiKeys.find((k) => k.orgId !== org.id),
    'API key of another organization',
  );
  const sa = pick(store.serviceAccounts[0], 'service account');
  const cluster = (predicate: (c: SimStore['clusters'][number]) => boolean, what: string) =>
    pick(
      store.clusters.find((c) => c.groupId === group.id && predicate(c)),
      what,
    ).name;
  return {
    orgId: org.id,
    orgName: org.name,
    projectId: group.id,
    projectName: group.name,
    otherOrgId: other.orgId,
    clusters: {
      eligible: cluster(
        (c) => c.providerName === 'AWS' && c.clusterType === 'REPLICASET' && c.backupEnabled,
        'eligible cluster',
      ),
      sharded: cluster((c) => c.clusterType === 'SHARDED', 'sharded cluster'),
      tenant: cluster((c) => c.providerName === 'TENANT', 'tenant cluster'),
      gcp: cluster((c) => c.providerName === 'GCP', 'GCP cluster'),
      noBackup: cluster(
        (c) => !c.backupEnabled && c.providerName === 'AWS',
        'cluster without backup',
      ),
      flex: pick(
        store.flexClusters.find((f) => f.groupId === group.id),
        'flex cluster',
      ).name,
      serverless: pick(
        store.serverlessInstances.find((i) => i.groupId === group.id),
        'serverless instance',
      ).name,
    },
    credentials: {
      owner: { publicKey: owner.publicKey, privateKey: owner.privateKey },
      readOnly: { publicKey: readOnly.publicKey, privateKey: readOnly.privateKey },
      backupManager: { publicKey: backupManager.publicKey, privateKey: backupManager.privateKey },
      otherOrg: { publicKey: other.publicKey, privateKey: other.privateKey },
      serviceAccount: { clientId: sa.clientId, clientSecret: sa.clientSecret },
    },
  };
}
