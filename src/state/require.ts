/** For the commands that work on a finished (or partly finished) setup: the state file must exist. */
import { CliError, ExitCode } from '../errors.js';
import { assertSameIdentity } from './identity.js';
import type { StateFile } from './schema.js';
import { readState } from './store.js';

/**
 * The state file, which must exist and belong to the Atlas the session talks to (its ids mean
 * nothing in another Atlas, where every resource would look gone).
 */
export function requireState(session: { statePath: string; atlasBaseUrl: string }): StateFile {
  const path = session.statePath;
  const state = readState(path);
  if (!state) {
    throw new CliError(`No state file at ${path}.`, {
      code: 'STATE_FILE_MISSING',
      exitCode: ExitCode.state,
      hint: 'Run `atlas-pl-export setup` first, or point --state at the file setup wrote.',
    });
  }
  assertSameIdentity(state, { atlasBaseUrl: session.atlasBaseUrl }, path);
  return state;
}

/** The export bucket the state records, or a clear error saying setup has not got that far. */
export function requireExportBucket(state: StateFile, path: string): string {
  const id = state.resources.exportBucket?.id;
  if (!id) {
    throw new CliError(
      `The state file ${path} records no export bucket yet: setup has not finished.`,
      {
        code: 'SETUP_INCOMPLETE',
        exitCode: ExitCode.state,
        hint: 'Run `atlas-pl-export setup` again to finish it.',
      },
    );
  }
  return id;
}
