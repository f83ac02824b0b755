import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import {
  assertStateWritable,
  canonicalStatePath,
  lockState,
  newState,
  readState,
  writeState,
} from '../../src/state/store.js';

const dir = () => mkdtempSync(join(tmpdir(), 'state-test-'));

const sample = () =>
  newState({
    atlas: {
      baseUrl: 'https://cloud.mongodb.com',
      projectId: '0123456789abcdef01234567',
      clusterName: 'Cluster0',
    },
    aws: { accountId: '123456789012', region: 'us-east-1' },
  });

function expectStateError(fn: () => unknown, code: string, text: RegExp) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe(code);
    expect((error as CliError).exitCode).toBe(ExitCode.state);
    expect((error as CliError).message).toMatch(text);
    return;
  }
  throw new Error('expected an error');
}

describe('state file', () => {
  it('round-trips with mode 0600 and a schema version', async () => {
    const path = join(dir(), 's.json');
    const state = sample();
    state.resources.bucket = {
      name: 'my-bucket',
      region: 'us-east-1',
      encryption: 'SSE-S3',
      origin: 'created',
    };
    await writeState(path, state);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const back = readState(path)!;
    expect(back.schemaVersion).toBe(1);
    expect(back.resources.bucket?.name).toBe('my-bucket');
  });

  it('is undefined only when the file does not exist', () => {
    expect(readState(join(dir(), 'absent.json'))).toBeUndefined();
  });

  it('refuses invalid JSON, naming the problem, and never treats it as empty', () => {
    const path = join(dir(), 's.json');
    writeFileSync(path, '{"schemaVersion": 1, ');
    expectStateError(() => readState(path), 'STATE_FILE_CORRUPT', /not valid JSON/);
    expect(readFileSync(path, 'utf8')).toBe('{"schemaVersion": 1, ');
  });

  it('names the invalid field', async () => {
    const path = join(dir(), 's.json');
    await writeState(path, sample());
    const data = JSON.parse(readFileSync(path, 'utf8'));
    data.atlas.projectId = 'nope';
    writeFileSync(path, JSON.stringify(data));
    expectStateError(
      () => readState(path),
      'STATE_FILE_CORRUPT',
      /atlas\.projectId: must be 24 hexadecimal/,
    );
  });

  it('reports unknown keys and other schema versions', async () => {
    const path = join(dir(), 's.json');
    await writeState(path, sample());
    const data = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...data, surprise: true }));
    expectStateError(() => readState(path), 'STATE_FILE_CORRUPT', /surprise/);
    writeFileSync(path, JSON.stringify({ ...data, schemaVersion: 99 }));
    expectStateError(() => readState(path), 'STATE_FILE_VERSION', /schemaVersion 99/);
  });

  it('a lock held by a live process stops a second run', () => {
    const path = join(dir(), 's.json');
    writeFileSync(`${path}.lock`, `${process.ppid}\n`);
    expectStateError(
      () => lockState(path, () => undefined),
      'STATE_FILE_LOCKED',
      /Another atlas-pl-export run \(pid \d+\)/,
    );
  });

  it('a stale lock from a dead process is explained and taken over', () => {
    const path = join(dir(), 's.json');
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    writeFileSync(`${path}.lock`, `${dead}\n`);
    const messages: string[] = [];
    const lock = lockState(path, (message) => messages.push(message));
    expect(messages.join()).toMatch(new RegExp(`pid ${dead}.*killed or crashed`));
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('an empty lock file, caught between its creation and its pid, counts as live while young', () => {
    const path = join(dir(), 's.json');
    writeFileSync(`${path}.lock`, '');
    expectStateError(
      () => lockState(path, () => undefined),
      'STATE_FILE_LOCKED',
      /its pid not written yet/,
    );
    // Old and still empty: its writer died before writing its pid.
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(`${path}.lock`, old, old);
    const messages: string[] = [];
    const lock = lockState(path, (message) => messages.push(message));
    expect(messages.join()).toMatch(/pid unknown.*taking the lock over/);
    expect(readFileSync(`${path}.lock`, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('a symlink and its target share one lock; a dangling link locks beside its future target', () => {
    const d = dir();
    const target = join(d, 'real.json');
    const link = join(d, 'link.json');
    symlinkSync(target, link);
    expect(canonicalStatePath(link)).toBe(canonicalStatePath(target));
    const lock = lockState(link, () => undefined);
    expect(existsSync(`${target}.lock`)).toBe(true);
    expect(existsSync(`${link}.lock`)).toBe(false);
    lock.release();
    expect(existsSync(`${target}.lock`)).toBe(false);
  });

  it('runs racing to take over stale locks never hold the lock at the same time', async () => {
    const d = dir();
    const path = join(d, 's.json');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${path}.lock`, `${dead}\n`);
    const store = fileURLToPath(new URL('../../dist/state/store.js', import.meta.url));
    // Each contender keeps trying for a while. Whenever it gets the lock it holds it for 10 ms,
    // logs the interval, and then "crashes": it leaves the lock behind with a dead pid in it, so
    // every turn is a race to take a stale lock over.
    const contender = `
      import { appendFileSync, writeFileSync } from 'node:fs';
      import { setTimeout as sleep } from 'node:timers/promises';
      process.setMaxListeners(0);
      const { lockState } = await import(${JSON.stringify(store)});
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline) {
        try {
          lockState(${JSON.stringify(path)}, () => {});
        } catch (error) {
          if (error.code !== 'STATE_FILE_LOCKED') throw error;
          await sleep(1);
          continue;
        }
        const start = Date.now();
        await sleep(10);
        const end = Date.now();
        appendFileSync(${JSON.stringify(join(d, 'held'))}, start + ' ' + end + '\\n');
        writeFileSync(${JSON.stringify(`${path}.lock`)}, '${dead}\\n');
      }`;
    const runs = Array.from(
      { length: 5 },
      () =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', contender], {
            stdio: 'inherit',
          });
          child.on('close', resolve);
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0]);
    const held = readFileSync(join(d, 'held'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ').map(Number) as [number, number])
      .sort((a, b) => a[0] - b[0]);
    expect(held.length).toBeGreaterThan(5);
    const overlaps = held.filter((interval, i) => i > 0 && interval[0] < held[i - 1]![1]);
    expect(overlaps).toEqual([]);
    // No leftovers: no draft lock file, no takeover file.
    expect(readdirSync(d).filter((name) => name !== 's.json.lock' && name !== 'held')).toEqual([]);
  });

  it('a read-only directory is reported before anything else happens', async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; a path under a regular file fails the same check.
      const file = join(dir(), 'file');
      writeFileSync(file, '');
      await expect(assertStateWritable(join(file, 'state.json'))).rejects.toMatchObject({
        code: 'STATE_FILE_UNWRITABLE',
      });
      return;
    }
    const d = dir();
    chmodSync(d, 0o500);
    await expect(assertStateWritable(join(d, 'state.json'))).rejects.toMatchObject({
      code: 'STATE_FILE_UNWRITABLE',
    });
  });
});
