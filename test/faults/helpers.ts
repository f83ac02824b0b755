/** Shared pieces of the fault suite: temp state files, setup arguments, state-file validation, cloud counts. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListRolesCommand } from '@aws-sdk/client-iam';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { StateFile } from '../../src/state/schema.js';
import { awsClientsFor, type SandboxHandle } from '../helpers/sandbox.js';
import { uniqueBucket as sharedUniqueBucket } from '../helpers/setup.js';

export const WRITE = new Set(['POST', 'PATCH', 'DELETE', 'PUT']);

export { setupArgs } from '../helpers/setup.js';

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `faults-${label}-`));
}

export function tempState(label = 'state'): string {
  return join(tempDir(label), 'state.json');
}

export const uniqueBucket = (): string => sharedUniqueBucket('faults');

/** Reads the state file and validates it with the project's zod schema; fails the test when it is not valid. */
export function validState(statePath: string): StateFile | undefined {
  if (!existsSync(statePath)) return undefined;
  const text = readFileSync(statePath, 'utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`state file ${statePath} is not JSON: ${(error as Error).message}\n${text}`);
  }
  const parsed = StateFile.safeParse(data);
  if (!parsed.success)
    throw new Error(`state file ${statePath} does not match the schema: ${parsed.error.message}`);
  return parsed.data;
}

export function atlasWrites(sandbox: SandboxHandle): string[] {
  return sandbox.atlas.calls
    .filter((call) => WRITE.has(call.method))
    .map((call) => `${call.method} ${call.path}`);
}

/** What the clouds hold that setup makes: exactly one of each is expected after any sequence of runs. */
export async function cloudCounts(sandbox: SandboxHandle, bucketPrefix = 'pl-faults-') {
  const aws = await awsClientsFor(sandbox.env);
  const roles = (await aws.iam.send(new ListRolesCommand({}))).Roles ?? [];
  const buckets = (await aws.s3.send(new ListBucketsCommand({}))).Buckets ?? [];
  const s = sandbox.atlas.state;
  return {
    accessRoles: s.accessRoles.length,
    privateEndpoints: s.privateEndpoints.length,
    exportBuckets: s.exportBuckets.length,
    exportJobs: s.exportJobs.length,
    iamRoles: roles.filter((r) => r.RoleName?.startsWith('atlas-pl-export')).length,
    s3Buckets: buckets.filter((b) => b.Name?.startsWith(bucketPrefix)).length,
  };
}

/** The state file's ids agree with the clouds', every resource was created by the tool, nothing pending. */
export function expectFinalState(
  sandbox: SandboxHandle,
  state: StateFile | undefined,
  options: { exportJob?: boolean; schedule?: boolean } = {},
): void {
  expect(state).toBeDefined();
  const r = state!.resources;
  const s = sandbox.atlas.state;
  expect(state!.pending).toEqual({});
  expect(r.bucket?.origin, 'bucket origin').toBe('created');
  expect(r.iamRole?.origin, 'iamRole origin').toBe('created');
  expect(r.atlasRole?.origin, 'atlasRole origin').toBe('created');
  expect(r.privateEndpoint?.origin, 'privateEndpoint origin').toBe('created');
  expect(r.exportBucket?.origin, 'exportBucket origin').toBe('created');
  expect(r.atlasRole?.roleId).toBe(s.accessRoles[0]?.roleId);
  expect(r.atlasRole?.authorizedAt).toBeTruthy();
  expect(r.privateEndpoint?.id).toBe(s.privateEndpoints[0]?.id);
  expect(r.exportBucket?.id).toBe(s.exportBuckets[0]?._id);
  if (options.exportJob) {
    expect(state!.exports.map((job) => job.id)).toEqual([s.exportJobs[0]?.id]);
    expect(state!.exports[0]).toMatchObject({ state: 'Successful', filesVerified: true });
  }
  if (options.schedule) {
    expect(r.schedule?.origin, 'schedule origin').toBe('created');
    const schedule = s.schedules.find(
      (item) => item.clusterName === sandbox.atlas.seed.clusters.eligible,
    );
    expect(schedule?.autoExportEnabled).toBe(true);
    expect(schedule?.export?.exportBucketId).toBe(r.exportBucket?.id);
  }
}
