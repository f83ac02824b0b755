/**
 * `atlas-pl-export status`: checks every resource the state file records against Atlas and AWS (read
 * calls only) and prints one line each. Exit 0 when all are in place, ExitCode.notInPlace otherwise.
 * With --json, stdout holds the results array (see src/checks.ts for its shape).
 */
import { ExitCode } from '../errors.js';
import type { CommandContext } from '../run.js';
import { openSession } from '../session.js';
import { requireState } from '../state/require.js';

export async function run({ options, out }: CommandContext): Promise<number> {
  const session = openSession(out, options);
  const state = requireState(session.statePath);
  const { checkAll, formatResult, allInPlace } = await import('../checks.js');
  const results = await checkAll(session, state);
  if (out.json) out.printJson(results);
  else for (const result of results) out.result(formatResult(result));

  if (results.length === 0) {
    out.info(`The state file ${session.statePath} records no resources: nothing to check.`);
    return ExitCode.ok;
  }
  const good = results.filter((result) => result.status === 'in-place').length;
  if (allInPlace(results)) {
    out.info(`All ${results.length} resources are in place (project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}).`);
    return ExitCode.ok;
  }
  out.info(`${results.length - good} of ${results.length} resources are not in place.`);
  out.info('  what to do: rerun `atlas-pl-export setup` to repair drift and recreate what is missing, or fix it by hand.');
  return ExitCode.notInPlace;
}
