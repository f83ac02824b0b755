import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../../src/errors.js';
import {
  assertStateWritable,
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
