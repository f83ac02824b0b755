/**
 * Transient Atlas faults: 503s on a share of the calls, a burst of 429s with Retry-After, and
 * connections dropped after a create was received. Setup must complete (or fail clearly and complete
 * on a rerun) with exactly one of each resource.
 */
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
  delays: { endpointProvisionMs: 100, iamPropagationMs: 100, exportMs: 100 },
});

const RETRY_AFTER_SEC = 1;
const ONE_OF_EACH = {
  accessRoles: 1,
  privateEndpoints: 1,
  exportBuckets: 1,
  exportJobs: 1,
  iamRoles: 1,
  s3Buckets: 1,
};

describe('transient Atlas faults', () => {
  it('30 % of calls answered 503, then a burst of 429s with Retry-After: setup completes, honouring Retry-After', async () => {
    sandbox.atlas.setFaults({ errorRate: { status: 503, rate: 0.3 }, seed: 7 });
    const statePath = tempState();
    const args = setupArgs(sandbox, statePath, uniqueBucket(), ['--export-now', 'latest']);
    let burstSent = false;
    const result = await runCli(args, {
      env: sandbox.env,
      onSpawn: (child) => {
        // Once the role is authorized (setup is well under way), switch from 503s to a burst of 429s.
        const timer = setInterval(() => {
          if (burstSent || !sandbox.atlas.state.accessRoles[0]?.authorizedDate) return;
          burstSent = true;
          sandbox.atlas.setFaults({
            errorRate: undefined,
            rateLimitBurst: { count: 4, retryAfterSec: RETRY_AFTER_SEC },
          });
        }, 5);
        child.on('exit', () => clearInterval(timer));
      },
    });
    expect(result.code, result.stderr).toBe(0);
    const calls = sandbox.atlas.calls;
    expect(calls.filter((c) => c.status === 503).length).toBeGreaterThanOrEqual(3);
    const limited = calls.filter((c) => c.status === 429);
    expect(limited).toHaveLength(4);
    // The call that was refused came back no sooner than Retry-After (1 s) later.
    for (const refused of limited) {
      const index = calls.indexOf(refused);
      const next = calls
        .slice(index + 1)
        .find((c) => c.method === refused.method && c.path === refused.path);
      expect(next, `no retry of ${refused.method} ${refused.path}`).toBeDefined();
      expect(next!.timestamp - refused.timestamp).toBeGreaterThanOrEqual(
        RETRY_AFTER_SEC * 1000 - 10,
      );
    }
    // And no request of this client reached Atlas within Retry-After of the last 429 it got
    // (the limit is per credential, so the whole client pauses, not just the refused call).
    const last = limited.at(-1)!;
    const after = calls.slice(calls.indexOf(last) + 1);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.timestamp - last.timestamp).toBeGreaterThanOrEqual(
      RETRY_AFTER_SEC * 1000 - 10,
    );
    expectFinalState(sandbox, validState(statePath), { exportJob: true });
    expect(await cloudCounts(sandbox)).toEqual(ONE_OF_EACH);
  }, 120_000);

  it('connections dropped after create requests were received: no duplicate, and setup (or its rerun) completes', async () => {
    // Each create (POST) and update (PATCH) right after one of these lists is processed, then its
    // connection is cut before the answer: the client cannot know whether it worked and must look
    // before it repeats anything.
    // The schedule is read in preflight (with --schedule), so the schedule PATCH is armed by the
    // export bucket's create, the step it waits for, instead of by that read.
    const triggers = [
      /\/cloudProviderAccess$/,
      /\/privateEndpoints$/,
      /\/exportBuckets$/,
      /\/backup\/snapshots$/,
    ];
    const exportBucketCreated = /\/exportBuckets$/;
    const fired = new Set<RegExp>();
    let armed = 0;
    let armedBySchedule = false;
    const stop = sandbox.atlas.onExchange((exchange) => {
      const method = exchange.request.method;
      const path = exchange.request.path.split('?')[0]!;
      const ok = exchange.response.status < 300;
      if ((method === 'POST' || method === 'PATCH') && ok && armed > 0) armed -= 1;
      if (method === 'POST' && ok && exportBucketCreated.test(path) && !armedBySchedule) {
        armedBySchedule = true;
        armed += 1;
        sandbox.atlas.setFaults({ dropConnection: { onCreate: armed } });
        return;
      }
      if (method !== 'GET' || exchange.response.status !== 200) return;
      const trigger = triggers.find((re) => re.test(path) && !fired.has(re));
      if (!trigger) return;
      fired.add(trigger);
      armed += 1;
      sandbox.atlas.setFaults({ dropConnection: { onCreate: armed } });
    });
    try {
      const statePath = tempState();
      const args = setupArgs(sandbox, statePath, uniqueBucket(), [
        '--export-now',
        'latest',
        '--schedule',
        'monthly',
        '--debug',
      ]);
      const first = await runCli(args, { env: sandbox.env });
      validState(statePath);
      let log = first.stderr;
      if (first.code !== 0) {
        // A clear failure: one message, a hint, a documented exit code; then a rerun completes.
        expect(first.stderr).toMatch(/what to do:/);
        expect([3, 4]).toContain(first.code);
        const rerun = await runCli(args, { env: sandbox.env });
        expect(rerun.code, rerun.stderr).toBe(0);
        log += rerun.stderr;
      }
      // Lost create answers made the client look for what it may have made, and find it.
      expect(log.match(/: found what it created/g)?.length ?? 0, log).toBeGreaterThanOrEqual(3);
      expectFinalState(sandbox, validState(statePath), { exportJob: true, schedule: true });
      expect(await cloudCounts(sandbox)).toEqual(ONE_OF_EACH);
    } finally {
      stop();
    }
  }, 120_000);
});
