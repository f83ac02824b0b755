/**
 * Reading, validating, locking and atomically replacing the state file.
 *
 * - Writes go to a temporary file in the same directory that is then renamed over the old one
 *   (write-file-atomic), with mode 0600, so a kill at any instant leaves the old or the new file.
 * - A corrupt or unknown file is an error that names the problem; it is never treated as empty.
 * - A lock file beside the state file (`<state>.lock`, holding the owner's pid) keeps two runs apart.
 *   A lock left by a process that no longer exists is reported and taken over.
 */
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { CliError, ExitCode } from '../errors.js';
import { STATE_SCHEMA_VERSION, StateFile } from './schema.js';

export const DEFAULT_STATE_PATH = './atlas-pl-export.state.json';

function stateError(
  message: string,
  hint: string,
  code = 'STATE_FILE_INVALID',
  cause?: unknown,
): CliError {
  return new CliError(message, { code, hint, exitCode: ExitCode.state, cause });
}

/** Reads and validates the state file; returns undefined only when the file does not exist. */
export function readState(path: string): StateFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw stateError(
      `Cannot read the state file ${path}: ${(error as Error).message}`,
      'Check the path and its permissions.',
      'STATE_FILE_UNREADABLE',
      error,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw stateError(
      `The state file ${path} is not valid JSON (${(error as Error).message}).`,
      'Restore it from a backup or fix it by hand; it is never replaced with an empty one, because it records what exists in your accounts.',
      'STATE_FILE_CORRUPT',
      error,
    );
  }
  const version = (data as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== STATE_SCHEMA_VERSION) {
    throw stateError(
      `The state file ${path} has schemaVersion ${JSON.stringify(version)}; this version of atlas-pl-export reads version ${STATE_SCHEMA_VERSION}.`,
      typeof version === 'number' && version > STATE_SCHEMA_VERSION
        ? 'Upgrade atlas-pl-export to read it.'
        : 'The file does not look like an atlas-pl-export state file; check --state.',
      'STATE_FILE_VERSION',
    );
  }
  const parsed = StateFile.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw stateError(
      `The state file ${path} is not valid: ${problems.join('; ')}.`,
      'Restore it from a backup or fix the fields named above; it is never replaced with an empty one.',
      'STATE_FILE_CORRUPT',
    );
  }
  return parsed.data;
}

/** Atomically replaces the state file (mode 0600). */
export async function writeState(path: string, state: StateFile): Promise<void> {
  const checked = StateFile.parse({ ...state, updatedAt: new Date().toISOString() });
  try {
    await writeFileAtomic(path, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
  } catch (error) {
    throw stateError(
      `Cannot write the state file ${path}: ${(error as Error).message}`,
      'Make its directory writable and check free space, or choose another place with --state.',
      'STATE_FILE_UNWRITABLE',
      error,
    );
  }
}

/**
 * Checks, before any cloud call, that the state file's directory exists and is writable, by
 * creating and removing a probe file there (this also catches a full disk).
 */
export async function assertStateWritable(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
    const probe = `${resolve(path)}.probe-${process.pid}`;
    const fd = openSync(probe, 'w', 0o600);
    try {
      writeSync(fd, 'x'.repeat(4096));
    } finally {
      closeSync(fd);
      unlinkSync(probe);
    }
  } catch (error) {
    throw stateError(
      `The state file cannot be written in ${dir}: ${(error as Error).message}. Nothing was changed in Atlas or AWS.`,
      'Make the directory writable and check free space, or choose another place with --state.',
      'STATE_FILE_UNWRITABLE',
      error,
    );
  }
}

export interface StateLock {
  release(): void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock beside the state file. A live owner means another run is using the file: fail.
 * A dead owner (killed, crashed) left a stale lock: say so through `onStale` and take it over.
 */
export function lockState(path: string, onStale: (message: string) => void): StateLock {
  const lockPath = `${resolve(path)}.lock`;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
      process.once('exit', release);
      return { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw stateError(
          `Cannot create the lock file ${lockPath}: ${(error as Error).message}. Nothing was changed in Atlas or AWS.`,
          'Make the directory writable, or choose another place with --state.',
          'STATE_FILE_UNWRITABLE',
          error,
        );
      }
      const owner = Number.parseInt(existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : '', 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw stateError(
          `Another atlas-pl-export run (pid ${owner}) is using the state file ${path}.`,
          'Wait for it to finish. If no such run exists, delete the lock file and retry: ' +
            lockPath,
          'STATE_FILE_LOCKED',
        );
      }
      onStale(
        `A previous run (pid ${Number.isNaN(owner) ? 'unknown' : owner}) ended without releasing ${lockPath} (it was killed or crashed); taking the lock over.`,
      );
      try {
        unlinkSync(lockPath);
      } catch {
        // Another run removed it first; try again.
      }
    }
  }
  throw stateError(
    `Could not take the lock ${lockPath}.`,
    'Retry; if it persists, delete the lock file.',
    'STATE_FILE_LOCKED',
  );
}

export function newState(init: Pick<StateFile, 'atlas' | 'aws'>): StateFile {
  const now = new Date().toISOString();
  return {
    schemaVersion: STATE_SCHEMA_VERSION,
    createdAt: now,
    updatedAt: now,
    atlas: init.atlas,
    aws: init.aws,
    resources: {},
    exports: [],
    completedSteps: [],
    pending: {},
  };
}
