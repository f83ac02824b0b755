/**
 * `atlas-pl-export status`: checks every resource the state file records against Atlas and AWS (read
 * calls only) and prints one line each. With --json, stdout holds the results array (see src/checks.ts
 * for its shape).
 *
 * Exit codes, so a monitoring job can tell drift from a check that could not run:
 *   0  every resource is in place;
 *   6  (notInPlace) something drifted or is missing, whether or not other checks could run;
 *   otherwise, when nothing drifted but some check could not run, the exit code of the first error
 *   behind it (2 for missing or invalid credentials and settings, 3 for a call Atlas or AWS refused or
 *   could not answer, 5 for an incomplete state file), printed with its message and hint.
 */
import { CliError, ExitCode, type ExitCodeValue } from '../errors.js';
import type { CommandContext } from '../run.js';
import { openSession } from '../session.js';
import { requireState } from '../state/require.js';

export async function run({ options, out }: CommandContext): Promise<number> {
  const session = openSession(out, options);
  const state = requireState(session.statePath);
  const { checkAll, formatResult, allInPlace, RESOURCE_LABELS } = await import('../checks.js');
  const results = await checkAll(session, state);
  if (out.json) out.printJson(results);
  else for (const result of results) out.result(formatResult(result));

  if (results.length === 0) {
    out.info(`The state file ${session.statePath} records no resources: nothing to check.`);
    return ExitCode.ok;
  }
  const wrong = results.filter(
    (result) => result.status === 'drifted' || result.status === 'missing',
  );
  const unchecked = results.filter((result) => result.status === 'not-checked');
  if (allInPlace(results)) {
    out.info(
      `All ${results.length} resources are in place (project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}).`,
    );
    return ExitCode.ok;
  }
  if (wrong.length > 0) {
    out.info(`${wrong.length} of ${results.length} resources are not in place.`);
    if (unchecked.length > 0)
      out.info(`${unchecked.length} more could not be checked (see above).`);
    out.info(
      '  what to do: rerun `atlas-pl-export setup` to repair drift and recreate what is missing, or fix it by hand.',
    );
    return ExitCode.notInPlace;
  }
  // Nothing is known to be wrong, but not everything could be checked: that is not drift.
  const first = unchecked.find((result) => result.error)?.error;
  const which = unchecked
    .map((result) => `${RESOURCE_LABELS[result.resource]} ${result.id}`)
    .join(', ');
  throw new CliError(
    `The check could not run for ${unchecked.length} of ${results.length} resources (${which}): ${first?.message ?? unchecked[0]?.findings[0] ?? 'unknown reason'}`,
    {
      code: first?.code ?? 'NOT_CHECKED',
      exitCode: (first?.exitCode ?? ExitCode.cloud) as ExitCodeValue,
      hint: first?.hint ?? 'Rerun `atlas-pl-export status --debug` to see the calls that failed.',
    },
  );
}
