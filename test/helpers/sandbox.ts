/**
 * Vitest harness for tests that need the sandbox: one moto and one Atlas simulator per test file,
 * both reset before every test (with the file's delays and faults applied again), stopped at the end.
 *
 *   const sandbox = useSandbox({ delays: { exportMs: 50 } });
 *   it('...', async () => { runCli([...], { env: sandbox.env }); sandbox.atlas.calls; ... });
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createAwsClients, type AwsClients } from '../../src/aws/clients.js';
import type { MotoServer } from '../../src/sandbox/moto.js';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/index.js';

type AtlasSimulator = Sandbox['atlas'];
type Delays = NonNullable<SandboxOptions['delays']>;
type Faults = NonNullable<SandboxOptions['faults']>;

export interface UseSandboxOptions {
  delays?: Delays;
  faults?: Faults;
}

export interface SandboxHandle {
  readonly env: Record<string, string>;
  readonly atlas: AtlasSimulator;
  readonly moto: MotoServer;
}

/** Tiny delays so state machines move on within a test: endpoint 300 ms, IAM 200 ms, export 300 ms. */
export const TEST_DELAYS = {
  endpointProvisionMs: 300,
  iamPropagationMs: 200,
  exportMs: 300,
} as const;

export function useSandbox(options: UseSandboxOptions = {}): SandboxHandle {
  let sandbox: Sandbox | undefined;
  const delays = { ...TEST_DELAYS, ...options.delays } as Delays;
  const faults = options.faults;

  beforeAll(async () => {
    const { startSandbox } = await import('../../src/sandbox/index.js');
    sandbox = await startSandbox({ delays, ...(faults ? { faults } : {}) });
  });

  beforeEach(async () => {
    if (!sandbox) throw new Error('the sandbox did not start');
    await sandbox.moto?.reset();
    await sandbox.atlas.reset();
    sandbox.atlas.setDelays(delays);
    if (faults) sandbox.atlas.setFaults(faults);
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  const started = (): Sandbox => {
    if (!sandbox) throw new Error('useSandbox() values are available inside tests and hooks only');
    return sandbox;
  };
  return {
    get env() {
      return started().env;
    },
    get atlas() {
      return started().atlas;
    },
    get moto() {
      const moto = started().moto;
      if (!moto) throw new Error('this sandbox uses an external AWS endpoint, not moto');
      return moto;
    },
  };
}

/** In-process AWS clients pointed at the sandbox's moto (or any settings given), to set up or inspect AWS state. */
export async function awsClientsFor(env: Record<string, string>): Promise<AwsClients> {
  return createAwsClients({ env });
}
