import { describe, expect, it } from 'vitest';
import {
  clusterEligibility,
  clusterRegion,
  clusterSummary,
  clusterWarnings,
} from '../../src/atlas/clusters.js';
import { baseUrlFromEnv, credentialsFromEnv } from '../../src/atlas/credentials.js';
import { withAutoExport } from '../../src/atlas/schedule.js';
import type { BackupSchedule, Cluster } from '../../src/atlas/types.js';
import { UsageError } from '../../src/errors.js';
import { clearSecrets, redact } from '../../src/secrets.js';

const aws = (size = 'M10', extra: Partial<Cluster> = {}): Cluster => ({
  id: 'c1',
  name: 'Cluster0',
  clusterType: 'REPLICASET',
  stateName: 'IDLE',
  backupEnabled: true,
  replicationSpecs: [
    {
      regionConfigs: [
        {
          providerName: 'AWS',
          regionName: 'EU_WEST_1',
          priority: 7,
          electableSpecs: { instanceSize: size, nodeCount: 3 },
        },
      ],
    },
  ],
  ...extra,
});

describe('cluster checks', () => {
  it('an AWS M10 with backups is eligible and summarised', () => {
    expect(clusterEligibility(aws())).toEqual([]);
    expect(clusterRegion(aws())).toBe('EU_WEST_1');
    expect(clusterSummary(aws('M30_NVME'))).toEqual({
      name: 'Cluster0',
      id: 'c1',
      provider: 'AWS',
      region: 'EU_WEST_1',
      instanceSize: 'M30_NVME',
      backupEnabled: true,
      clusterType: 'REPLICASET',
      stateName: 'IDLE',
    });
  });

  it('names every blocking reason', () => {
    const tenant: Cluster = {
      ...aws(),
      replicationSpecs: [
        {
          regionConfigs: [
            {
              providerName: 'TENANT',
              backingProviderName: 'AWS',
              electableSpecs: { instanceSize: 'M0' },
            },
          ],
        },
      ],
    };
    expect(clusterEligibility(tenant)[0]).toMatch(/shared-tier/);
    expect(clusterSummary(tenant).provider).toBe('AWS');
    const gcp: Cluster = {
      ...aws(),
      backupEnabled: false,
      replicationSpecs: [
        { regionConfigs: [{ providerName: 'GCP', electableSpecs: { instanceSize: 'M10' } }] },
      ],
    };
    expect(clusterEligibility(gcp)).toEqual([
      'it runs on GCP, and export over PrivateLink needs AWS',
      'Cloud Backup is turned off for it',
    ]);
    expect(clusterEligibility(aws('M5'))).toEqual(['its tier M5 is below M10']);
    const flex = {
      ...aws(),
      flex: {
        id: 'f',
        name: 'F',
        providerSettings: { providerName: 'FLEX' as const, regionName: 'US_EAST_1' },
      },
    };
    expect(clusterEligibility(flex)[0]).toMatch(/Flex/);
    expect(clusterRegion(flex)).toBe('US_EAST_1');
  });

  it('a cluster that is not IDLE is only a warning', () => {
    const busy = aws('M10', { stateName: 'UPDATING' });
    expect(clusterEligibility(busy)).toEqual([]);
    expect(clusterWarnings(busy)).toEqual(['the cluster is UPDATING, not IDLE']);
  });
});

describe('withAutoExport', () => {
  const schedule: BackupSchedule = {
    clusterId: 'c1',
    clusterName: 'Cluster0',
    nextSnapshot: '2026-03-01T00:00:00Z',
    links: [{ href: 'x', rel: 'self' }],
    autoExportEnabled: false,
    referenceHourOfDay: 3,
    policies: [
      {
        id: 'p1',
        policyItems: [
          {
            id: 'i1',
            frequencyInterval: 6,
            frequencyType: 'hourly',
            retentionUnit: 'days',
            retentionValue: 2,
          },
          {
            id: 'i2',
            frequencyInterval: 1,
            frequencyType: 'monthly',
            retentionUnit: 'months',
            retentionValue: 12,
          },
        ],
      },
    ],
  };

  it('keeps every policy exactly, drops read-only fields and sets the export', () => {
    const before = structuredClone(schedule);
    const body = withAutoExport(schedule, {
      enabled: true,
      exportBucketId: 'b'.repeat(24),
      frequencyType: 'yearly',
    });
    expect(body.policies).toEqual(schedule.policies);
    expect(body).not.toHaveProperty('clusterId');
    expect(body).not.toHaveProperty('clusterName');
    expect(body).not.toHaveProperty('nextSnapshot');
    expect(body).not.toHaveProperty('links');
    expect(body.referenceHourOfDay).toBe(3);
    expect(body.autoExportEnabled).toBe(true);
    expect(body.export).toEqual({ exportBucketId: 'b'.repeat(24), frequencyType: 'yearly' });
    expect(schedule).toEqual(before); // the input is not modified
  });

  it('defaults to monthly, refuses other frequencies, and needs a bucket to enable', () => {
    expect(
      withAutoExport(schedule, { enabled: true, exportBucketId: 'x' }).export?.frequencyType,
    ).toBe('monthly');
    // Atlas enables other frequencies per project: they are sent as asked, and Atlas decides.
    expect(
      withAutoExport(schedule, { enabled: true, exportBucketId: 'x', frequencyType: 'daily' })
        .export?.frequencyType,
    ).toBe('daily');
    expect(() => withAutoExport(schedule, { enabled: true })).toThrow(/needs an export bucket/);
    const off = withAutoExport(
      {
        ...schedule,
        autoExportEnabled: true,
        export: { exportBucketId: 'x', frequencyType: 'monthly' },
      },
      { enabled: false },
    );
    expect(off.autoExportEnabled).toBe(false);
    expect(off.policies).toEqual(schedule.policies);
  });
});

describe('environment', () => {
  it('reads an API key pair and registers the private key as a secret', () => {
    clearSecrets();
    const creds = credentialsFromEnv({
      MONGODB_ATLAS_PUBLIC_API_KEY: 'abcdefgh',
      MONGODB_ATLAS_PRIVATE_API_KEY: 'priv-1234567890',
    });
    expect(creds).toEqual({ kind: 'apiKey', publicKey: 'abcdefgh', privateKey: 'priv-1234567890' });
    expect(redact('key priv-1234567890')).toBe('key ****');
  });

  it('reads a service account and registers its secret', () => {
    clearSecrets();
    const creds = credentialsFromEnv({
      MONGODB_ATLAS_CLIENT_ID: 'mdb_sa_id_1',
      MONGODB_ATLAS_CLIENT_SECRET: 'mdb_sa_sk_abcdef',
    });
    expect(creds.kind).toBe('serviceAccount');
    expect(redact('mdb_sa_sk_abcdef')).toBe('****');
  });

  it('names what is missing or half set', () => {
    expect(() => credentialsFromEnv({})).toThrow(/No Atlas credentials/);
    expect(() => credentialsFromEnv({ MONGODB_ATLAS_PUBLIC_API_KEY: 'abcdefgh' })).toThrow(
      'MONGODB_ATLAS_PUBLIC_API_KEY is set but MONGODB_ATLAS_PRIVATE_API_KEY is not.',
    );
    expect(() => credentialsFromEnv({ MONGODB_ATLAS_CLIENT_SECRET: 'secret-value' })).toThrow(
      'MONGODB_ATLAS_CLIENT_SECRET is set but MONGODB_ATLAS_CLIENT_ID is not.',
    );
    expect(() =>
      credentialsFromEnv({
        MONGODB_ATLAS_PUBLIC_API_KEY: 'a',
        MONGODB_ATLAS_PRIVATE_API_KEY: 'b',
        MONGODB_ATLAS_CLIENT_ID: 'c',
        MONGODB_ATLAS_CLIENT_SECRET: 'd',
      }),
    ).toThrow(/Both/);
  });

  it('validates the base URL', () => {
    expect(baseUrlFromEnv({})).toBe('https://cloud.mongodb.com');
    expect(baseUrlFromEnv({ MONGODB_ATLAS_BASE_URL: 'http://127.0.0.1:8080/' })).toBe(
      'http://127.0.0.1:8080',
    );
    expect(() => baseUrlFromEnv({ MONGODB_ATLAS_BASE_URL: 'ftp://x' })).toThrow(UsageError);
    expect(() => baseUrlFromEnv({ MONGODB_ATLAS_BASE_URL: 'not a url' })).toThrow(/not a URL/);
    expect(() =>
      baseUrlFromEnv({ MONGODB_ATLAS_BASE_URL: 'https://cloud.mongodb.com/api/atlas/v2' }),
    ).toThrow(/API path/);
  });
});
