/**
 * Stop signals at the run boundary (src/run.ts), through the built CLI: Ctrl-C (SIGINT) exits 130 and
 * SIGTERM 143 (128 + 15), each with the line saying that what is done is recorded. The command is
 * held in its first Atlas call by a server that accepts connections and never answers.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

let silent: Server;
const sockets = new Set<Socket>();
let url = '';
/** Called when the CLI's first call reaches the silent server. */
let onFirstCall: (() => void) | undefined;

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const hook = onFirstCall;
    onFirstCall = undefined;
    hook?.();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

describe('stop signals', () => {
  it.each([
    ['SIGINT', ExitCode.aborted, /error: Interrupted\. Everything finished so far is recorded/],
    [
      'SIGTERM',
      ExitCode.terminated,
      /error: Stopped by SIGTERM\. Everything finished so far is recorded/,
    ],
  ] as const)('%s during a call exits %i', async (signal, code, message) => {
    expect(ExitCode.terminated).toBe(143);
    const state = join(mkdtempSync(join(tmpdir(), 'run-signals-')), 'state.json');
    let sent = false;
    const result = await runCli(
      [
        'setup',
        '--non-interactive',
        '--project-id',
        '5f0000000000000000000001',
        '--cluster',
        'Cluster0',
        '--bucket',
        'pl-signal-test-bucket',
        '--state',
        state,
      ],
      {
        env: {
          MONGODB_ATLAS_BASE_URL: url,
          MONGODB_ATLAS_PUBLIC_API_KEY: 'abcdefgh',
          MONGODB_ATLAS_PRIVATE_API_KEY: 'not-a-real-private-key',
          AWS_ENDPOINT_URL: url,
          AWS_ACCESS_KEY_ID: 'AKIANOTREAL000000001',
          AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key',
          AWS_REGION: 'us-east-1',
        },
        timeoutMs: 30_000,
        onSpawn: (child) => {
          // Preflight's first call reaches the silent server, which holds it: stop the run then.
          onFirstCall = () => {
            sent = true;
            setTimeout(() => child.kill(signal), 300);
          };
        },
      },
    );
    expect(sent, result.stderr).toBe(true);
    expect(result.signal).toBeNull();
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
  });
});
