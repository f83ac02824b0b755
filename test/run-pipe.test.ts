/**
 * A reader that goes away (`setup ... | head -3`): writing then fails with EPIPE. The run must not
 * die halfway through its changes as an internal error; it finishes and exits with its own code.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { useSandbox } from './helpers/sandbox.js';
import { freshScenario, readState, setupArgs } from './helpers/setup.js';

const sandbox = useSandbox();

describe('output whose reader went away', () => {
  it('setup goes on to the end when stdout and stderr are closed after its first lines', async () => {
    const { statePath, bucket } = freshScenario('epipe');
    let closed = false;
    const result = await runCli(
      setupArgs(sandbox, statePath, bucket).filter((arg) => arg !== '--json'),
      {
        env: sandbox.env,
        onSpawn: (child) => {
          child.stderr?.once('data', () => {
            closed = true;
            child.stdout?.destroy();
            child.stderr?.destroy();
          });
        },
      },
    );
    expect(closed).toBe(true);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    const state = readState(statePath);
    expect(state.pending).toEqual({});
    expect(state.resources.exportBucket?.id).toMatch(/^[0-9a-f]{24}$/);
  });
});
