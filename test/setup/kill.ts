/** Killing setup at a chosen moment of a run against the sandbox, for the recovery tests. */
import { runKilledAtAtlasWrite } from '../helpers/setup.js';
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
  await runKilledAtAtlasWrite(sandbox, args, method, path);
}
