/**
 * SIGKILL at random instants during setup, each followed by a rerun: every run must end in the same
 * final state (one of each resource, ids matching the clouds, origins 'created', nothing pending),
 * and the state file must be valid after every kill. The instants come from a seeded PRNG; the seed
 * is printed so a failure reproduces (FAULT_SEED=<seed> npx vitest run test/faults/kill-random.test.ts).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useSandbox } from '../helpers/sandbox.js';
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

const KILLS = Number(process.env.FAULT_KILLS ?? 20);
const SEED = Number(process.env.FAULT_SEED ?? Date.now() % 100_000);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The export job is left out of the random kills to keep them quick; kill-targeted.test.ts covers it.
const EXTRA = ['--schedule', 'monthly', '--authorize-timeout', '20'];
const ONE_OF_EACH = {
  accessRoles: 1,
  privateEndpoints: 1,
  exportBuckets: 1,
  exportJobs: 0,
  iamRoles: 1,
  s3Buckets: 1,
};

describe('setup killed with SIGKILL at random instants', () => {
  it(`ends in the same final state after a rerun, with a valid state file after every kill (${KILLS} kills)`, async () => {
    console.log(`kill test seed: ${SEED} (rerun with FAULT_SEED=${SEED})`);
    const random = prng(SEED);

    // A whole run, to learn how long setup takes here.
    const began = Date.now();
    const reference = await runCli(setupArgs(sandbox, tempState(), uniqueBucket(), EXTRA), {
      env: sandbox.env,
    });
    expect(reference.code, reference.stderr).toBe(0);
    const fullMs = Date.now() - began;

    for (let i = 0; i < KILLS; i += 1) {
      await sandbox.moto.reset();
      await sandbox.atlas.reset();
      const killAtMs = Math.round(random() * fullMs);
      const label = `seed ${SEED}, kill ${i + 1} at ${killAtMs} ms of ~${fullMs} ms`;
      const statePath = tempState('kill');
      const args = setupArgs(sandbox, statePath, uniqueBucket(), EXTRA);
      const killed = await runCli(args, {
        env: sandbox.env,
        onSpawn: (child) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), killAtMs);
          child.on('exit', () => clearTimeout(timer));
        },
      });
      expect(() => validState(statePath), label).not.toThrow();
      const lockLeft = existsSync(`${statePath}.lock`);
      if (killed.signal === null) expect(killed.code, `${label}: ${killed.stderr}`).toBe(0);

      const rerun = await runCli(args, { env: sandbox.env });
      expect(rerun.code, `${label}: ${rerun.stderr}`).toBe(0);
      try {
        expectFinalState(sandbox, validState(statePath), { schedule: true });
        expect(await cloudCounts(sandbox)).toEqual(ONE_OF_EACH);
        if (killed.signal !== null && existsSync(`${statePath}.lock`))
          throw new Error('lock left after the rerun');
        if (killed.signal !== null && lockLeft)
          expect(rerun.stderr).toMatch(/ended without releasing .*taking the lock over/);
      } catch (error) {
        (error as Error).message =
          `${label}: ${(error as Error).message}\nkilled run stderr:\n${killed.stderr}\nrerun stderr:\n${rerun.stderr}`;
        throw error;
      }
    }
  }, 300_000);
});
