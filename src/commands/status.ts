/**
 * `atlas-pl-export status`: checks every resource the state file records against Atlas and AWS (read
 * calls only) and prints one line each, with a `fix:` line naming what repairs each drift. With --json,
 * stdout holds `{ ok, exitCode, resources: [...] }` (see src/checks.ts for a result's shape), and on
 * a non-zero exit `error: { code, message, hint }`, the error behind the exit code.
 *
 * Exit codes, so a monitoring job can tell drift from a check that could not run:
 *   0  every resource is in place;
 *   6  (notInPlace) something drifted or is missing, whether or not other checks could run;
 *   otherwise, when nothing drifted but some check could not run, the exit code of the first error
 *   behind it (2 for missing or invalid credentials and settings, 3 for a call Atlas or AWS refused or
 *   could not answer, 5 for an incomplete state file), printed with its message and hint.
 *
 * A --config file is read only to warn when it names another project or cluster than the state file
 * (the state file says what to check); it must exist and be valid, as for every command.
 */
import { readConfigFile, warnIfConfigDiffers } from '../config.js';
import { CliError, ExitCode, type ExitCodeValue } from '../errors.js';
import type { CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import type { StateFile } from '../state/schema.js';
import { requireState } from '../state/require.js';
import type { CheckError, CheckResult } from '../checks.js';

export async function run({ options, out }: CommandContext): Promise<number> {
  const config = typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const session = openSession(out, options);
  const state = requireState(session);
  warnIfConfigDiffers(config, state, out);
  const checks = await import('../checks.js');
  const { checkAll, formatResult, allInPlace, RESOURCE_LABELS, FIX } = checks;
  // Before any call: a setting that keeps a client from being made decides the exit code (as in `report`).
  const problem = await checks.environmentProblem(session, checks.environmentNeeds(state));
  await refuseOtherAwsAccount(session, state);
  const results = await checkAll(session, state);
  const verdict = judge(results, problem);
  const wrong = results.filter(
    (result) => result.status === 'drifted' || result.status === 'missing',
  );
  const unchecked = results.filter((result) => result.status === 'not-checked');
  // `setup --repair` does all a plain rerun does, and more.
  const fixes = new Set(wrong.flatMap((result) => result.fixes));
  if (fixes.has(FIX.repair)) fixes.delete(FIX.setup);
  const failure = failureOf(results, wrong, unchecked, fixes, RESOURCE_LABELS, problem);
  if (out.json)
    out.printJson({
      ok: verdict.exitCode === ExitCode.ok,
      exitCode: verdict.exitCode,
      resources: results,
      ...(failure
        ? { error: { code: failure.code, message: failure.message, hint: failure.hint } }
        : {}),
    });
  else {
    // The closing error keeps its whole hint: it is on stderr, which may be all a CI log shows.
    const shown = new Set<string>();
    for (const result of results) out.result(formatResult(hintOnce(result, shown)));
  }

  if (results.length === 0) {
    out.info(`The state file ${session.statePath} records no resources: nothing to check.`);
    return ExitCode.ok;
  }
  if (allInPlace(results)) {
    out.info(
      `${results.length === 1 ? 'The 1 resource is' : `All ${results.length} resources are`} in place (project ${state.atlas.projectId}, cluster ${state.atlas.clusterName}).`,
    );
    return ExitCode.ok;
  }
  if (wrong.length > 0) {
    out.info(`${failure?.message ?? ''}.`);
    if (unchecked.length > 0)
      out.info(`${unchecked.length} more could not be checked (see above).`);
    out.info('  what to do:');
    for (const fix of fixes) out.info(`    - ${fix}`);
    return ExitCode.notInPlace;
  }
  // Nothing is known to be wrong, but not everything could be checked: that is not drift.
  if (failure) throw failure;
  return verdict.exitCode;
}

/**
 * A check that could not run, with each distinct hint (a 401's runs to four lines) shown only on the
 * first line that needs it: later ones say "see above". `shown` collects the hints printed.
 */
function hintOnce(result: CheckResult, shown: Set<string>): CheckResult {
  if (result.status !== 'not-checked') return result;
  const fixes = result.fixes.map((fix) => (shown.has(fix) ? 'see above' : fix));
  for (const fix of result.fixes) shown.add(fix);
  return { ...result, fixes: [...new Set(fixes)] };
}

/**
 * The error behind a non-zero exit: drift (what is not in place, and what repairs it), or, when
 * nothing drifted, the first error that kept a check from running. Undefined when all is in place.
 */
function failureOf(
  results: CheckResult[],
  wrong: CheckResult[],
  unchecked: CheckResult[],
  fixes: Set<string>,
  labels: Record<CheckResult['resource'], string>,
  problem: CheckError | undefined,
): CliError | undefined {
  if (wrong.length > 0)
    return new CliError(
      `${wrong.length} of ${results.length} ${results.length === 1 ? 'resource' : 'resources'} ${wrong.length === 1 ? 'is' : 'are'} not in place`,
      {
        code: 'NOT_IN_PLACE',
        exitCode: ExitCode.notInPlace,
        hint: [...fixes].join('; '),
      },
    );
  if (unchecked.length === 0) return undefined;
  const first = problem ?? unchecked.find((result) => result.error)?.error;
  const which = unchecked.map((result) => `${labels[result.resource]} ${result.id}`).join(', ');
  return new CliError(
    `The check could not run for ${unchecked.length} of ${results.length} ${results.length === 1 ? 'resource' : 'resources'} (${which}): ${first?.message ?? unchecked[0]?.findings[0] ?? 'unknown reason'}`,
    {
      code: first?.code ?? 'NOT_CHECKED',
      exitCode: judge(results, problem).exitCode,
      hint: first?.hint ?? 'Rerun `atlas-pl-export status --debug` to see the calls that failed.',
    },
  );
}

/**
 * The exit code the results give (see the module comment); when checks could not run, a problem
 * the up-front environment check found is the error behind them.
 */
function judge(
  results: CheckResult[],
  problem: CheckError | undefined,
): { exitCode: ExitCodeValue } {
  if (results.some((result) => result.status === 'drifted' || result.status === 'missing'))
    return { exitCode: ExitCode.notInPlace };
  const unchecked = results.filter((result) => result.status === 'not-checked');
  if (unchecked.length === 0) return { exitCode: ExitCode.ok };
  const first = problem ?? unchecked.find((result) => result.error)?.error;
  return { exitCode: (first?.exitCode ?? ExitCode.cloud) as ExitCodeValue };
}

/**
 * Another account's credentials would make every AWS resource look missing: refuse them. When the
 * account cannot be read at all, the AWS checks themselves report why.
 */
async function refuseOtherAwsAccount(session: Session, state: StateFile): Promise<void> {
  const aws = ['bucket', 'iamRole', 'bucketPolicy'] as const;
  if (!aws.some((kind) => state.resources[kind])) return;
  try {
    await session.assertAwsAccount(state, state.aws.region);
  } catch (error) {
    if (error instanceof CliError && error.code === 'STATE_OTHER_AWS_ACCOUNT') throw error;
  }
}
