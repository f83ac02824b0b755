/**
 * Reading, validating, locking and atomically replacing the state file.
 *
 * - Writes go to a temporary file in the same directory that is then renamed over the old one
 *   (write-file-atomic), with mode 0600, so a kill at any instant leaves the old or the new file.
 * - A corrupt or unknown file is an error that names the problem; it is never treated as empty.
 * - A lock file beside the state file (`<state>.lock`, holding the owner's pid; beside the real file
 *   when the path is a symlink) keeps two runs apart. It is created whole (never seen empty), and a
 *   lock left by a process that no longer exists is reported and taken over (see removeStaleLock).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  constants,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { CliError, ExitCode } from '../errors.js';
import { parseJsonFile } from '../json.js';
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
    data = parseJsonFile(text);
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
  // A typo in --state must not scatter state files over the disk: the directory has to exist.
  if (!existsSync(dir)) {
    throw stateError(
      `The directory ${dir} for the state file ${path} does not exist. Nothing was changed in Atlas or AWS.`,
      'Create the directory first, or give --state a path in an existing directory.',
      'STATE_DIRECTORY_MISSING',
    );
  }
  try {
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
 * The file a state path really names: symlinks resolved (also a dangling one, whose target does not
 * exist yet), so two paths to one state file share one lock.
 */
export function canonicalStatePath(path: string): string {
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops += 1) {
    try {
      return realpathSync(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return current;
    }
    let link: string | undefined;
    try {
      if (lstatSync(current).isSymbolicLink()) link = readlinkSync(current);
    } catch {
      // Nothing at this path yet.
    }
    if (link === undefined) {
      // The file does not exist yet: resolve the folder it will be created in.
      try {
        return join(realpathSync(dirname(current)), basename(current));
      } catch {
        return current;
      }
    }
    current = resolve(dirname(current), link);
  }
  return current;
}

/** Blocks the thread for a moment (the lock is taken before anything else runs). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A lock file caught between its creation and its pid being written (by an older version) is this young at most. */
const FRESH_LOCK_MS = 10_000;

interface LockHolder {
  pid: number | undefined;
  ino: number;
  ageMs: number;
}

function readHolder(lockPath: string): LockHolder | undefined {
  try {
    const stats = statSync(lockPath);
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    return {
      pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
      ino: stats.ino,
      ageMs: Date.now() - stats.mtimeMs,
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Creates the lock file holding our pid in one step: the pid is written to a private file first,
 * which is then hard-linked to the lock's name (link fails if the name exists), so no other run
 * ever sees the lock empty. False when the lock exists.
 */
function createLock(lockPath: string): boolean {
  const draft = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(draft, lockPath);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

/** A takeover left behind by a run killed in the middle of one is this old at least (a takeover takes milliseconds). */
const STALE_TAKEOVER_MS = 5_000;

/**
 * Removes a stale lock, and only a stale one. Removing is reserved to the holder of a second,
 * short-lived lock (`<lock>.takeover`, created exclusively): under it the lock is read again and
 * removed only if it is still the one judged stale, so two runs taking over at once can never
 * remove the lock the first of them has just created. True when this run removed it.
 */
function removeStaleLock(lockPath: string, stale: LockHolder): boolean {
  const takeover = `${lockPath}.takeover`;
  try {
    writeFileSync(takeover, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const left = readHolder(takeover);
    if (left && left.ageMs > STALE_TAKEOVER_MS) rmSync(takeover, { force: true });
    return false;
  }
  try {
    const now = readHolder(lockPath);
    if (!now || now.ino !== stale.ino || now.pid !== stale.pid) return false;
    unlinkSync(lockPath);
    return true;
  } finally {
    rmSync(takeover, { force: true });
  }
}

/**
 * Takes the lock beside the state file (the real file, symlinks resolved). A live owner means
 * another run is using the file: fail. A dead owner (killed, crashed) left a stale lock: say so
 * through `onStale` and take it over.
 */
export function lockState(path: string, onStale: (message: string) => void): StateLock {
  const lockPath = `${canonicalStatePath(path)}.lock`;
  const fail = (error: unknown) =>
    stateError(
      `Cannot create the lock file ${lockPath}: ${(error as Error).message}. Nothing was changed in Atlas or AWS.`,
      'Make the directory writable, or choose another place with --state.',
      'STATE_FILE_UNWRITABLE',
      error,
    );
  for (let attempt = 0; attempt < 50; attempt += 1) {
    let created: boolean;
    try {
      created = createLock(lockPath);
    } catch (error) {
      throw fail(error);
    }
    if (created) {
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
    }
    let holder: LockHolder | undefined;
    try {
      holder = readHolder(lockPath);
    } catch (error) {
      throw fail(error);
    }
    if (!holder) continue; // released meanwhile; try again
    const live =
      holder.pid === undefined
        ? holder.ageMs < FRESH_LOCK_MS
        : holder.pid !== process.pid && processAlive(holder.pid);
    if (live) {
      throw stateError(
        `Another atlas-pl-export run (${holder.pid !== undefined ? `pid ${holder.pid}` : 'its pid not written yet'}) is using the state file ${path}.`,
        'Wait for it to finish. If no such run exists, delete the lock file and retry: ' + lockPath,
        'STATE_FILE_LOCKED',
      );
    }
    let removed: boolean;
    try {
      removed = removeStaleLock(lockPath, holder);
    } catch (error) {
      throw fail(error);
    }
    if (removed) {
      onStale(
        `A previous run (pid ${holder.pid ?? 'unknown'}) ended without releasing ${lockPath} (it was killed or crashed); taking the lock over.`,
      );
    } else {
      // Another run is taking the same stale lock over, or has: let it finish, then look again.
      sleepSync(20);
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
