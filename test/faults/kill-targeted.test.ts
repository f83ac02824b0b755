/**
 * SIGKILL the instant the simulator has processed each write setup sends (before it answers), then a
 * rerun: the rerun adopts what the killed run made, so there is one of each resource, the state
 * file's ids match the clouds, every origin is 'created' and nothing is left pending.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
import { killAtAtlasRequest } from '../setup/kill.js';
import {
  cloudCounts,
  expectFinalState,
  setupArgs,
  tempState,
  uniqueBucket,
  validState,
} from './helpers.js';

const sandbox = useSandbox({
  delays: { endpointProvisionMs: 50, iamPropagationMs: 50, exportMs: 50 },
});

const ONE_OF_EACH = {
  accessRoles: 1,
  privateEndpoints: 1,
  exportBuckets: 1,
  exportJobs: 1,
  iamRoles: 1,
  s3Buckets: 1,
};

describe('setup killed the instant Atlas received each write', () => {
  const TARGETS: Array<[string, RegExp]> = [
    ['POST', /\/cloudProviderAccess$/],
    ['POST', /\/privateEndpoints$/],
    ['PATCH', /\/cloudProviderAccess\/[0-9a-f]{24}$/],
    ['POST', /\/exportBuckets$/],
    ['POST', /\/backup\/exports$/],
    ['PATCH', /\/backup\/schedule$/],
  ];
  it.each(TARGETS)(
    '%s %s: the rerun adopts what the killed run made; one of each, nothing pending',
    async (method, path) => {
      const statePath = tempState('target');
      const args = setupArgs(sandbox, statePath, uniqueBucket(), [
        '--export-now',
        'latest',
        '--schedule',
        'monthly',
      ]);
      // Killed when the simulator has processed the request, before it answers.
      await killAtAtlasRequest(sandbox, args, path, method);
      validState(statePath);
      const rerun = await runCli(args, { env: sandbox.env });
      expect(rerun.code, rerun.stderr).toBe(0);
      expectFinalState(sandbox, validState(statePath), { exportJob: true, schedule: true });
      expect(await cloudCounts(sandbox)).toEqual(ONE_OF_EACH);
    },
    60_000,
  );
});
