/** Killing setup at a chosen moment of a run against the sandbox, for the recovery tests. */
import { expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { SandboxHandle } from '../helpers/sandbox.js';

/**
 * Runs setup and kills it the instant Atlas has processed a `method` request (POST by default) to a
 * path matching `path`, before it answers.
 */
export async function killAtAtlasRequest(
  sandbox: SandboxHandle,
  args: string[],
  path: RegExp,
  method = 'POST',
): Promise<void> {
  let hit = false;
  const killed = await runCli(args, {
    env: sandbox.env,
    onSpawn: (child) => {
      const stop = sandbox.atlas.onExchange((exchange) => {
        if (hit || exchange.request.method !== method || exchange.response.status >= 300) return;
        if (!path.test(exchange.request.path.split('?')[0]!)) return;
        hit = true;
        child.kill('SIGKILL');
      });
      child.on('exit', stop);
    },
  });
  expect(hit).toBe(true);
  expect(killed.signal).toBe('SIGKILL');
}
