/**
 * Starts moto (S3, IAM, STS) on loopback over TLS through the project's launcher, which teaches moto
 * the `aws:SecureTransport` condition key. Used by `atlas-pl-export sandbox`, `setup --sandbox` and
 * the tests (one server per test file, reset between tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, ExitCode } from '../errors.js';

export interface MotoServer {
  /** HTTPS endpoint, e.g. https://127.0.0.1:PORT */
  url: string;
  /** Plain-HTTP endpoint of the same server (used to show that TLS-only bucket policies bite). */
  plainUrl: string;
  /** PEM file of the server's self-signed certificate; point AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS at it. */
  caFile: string;
  /** The certificate itself, for in-process clients. */
  ca: string;
  /** Clears every resource in moto. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const LAUNCHER = fileURLToPath(new URL('../../src/sandbox/moto_server.py', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether something already listens on 127.0.0.1:port (where the sandbox's servers listen). */
export async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(true) : reject(error),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/** The error for a port another program holds; `flag` is the option that chose it. */
export function portInUseError(port: number, flag: string, server: string): CliError {
  return new CliError(
    `${flag} ${port}: another program already listens on 127.0.0.1:${port}, so ${server} cannot start there.`,
    {
      code: 'PORT_IN_USE',
      exitCode: ExitCode.usage,
      hint: `Give ${flag} a free port, or leave ${flag} out to use any free port.`,
    },
  );
}

export async function startMoto(
  options: { port?: number; python?: string } = {},
): Promise<MotoServer> {
  const python = options.python ?? process.env.PYTHON ?? 'python3';
  // A chosen port that is taken would make moto exit with a Python traceback: say so plainly first.
  if (options.port !== undefined && (await portInUse(options.port)))
    throw portInUseError(options.port, '--moto-port', 'moto');
  const port = options.port ?? (await freePort());
  const plainPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'atlas-pl-export-moto-'));
  const caFile = join(dir, 'moto-ca.pem');
  const child = spawn(
    python,
    [
      LAUNCHER,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--plain-port',
      String(plainPort),
      '--cert-file',
      caFile,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  await waitForReady(child, () => stderr);
  const ca = readFileSync(caFile, 'utf8');
  const plainUrl = `http://127.0.0.1:${plainPort}`;
  return {
    url: `https://127.0.0.1:${port}`,
    plainUrl,
    caFile,
    ca,
    reset: async () => {
      const response = await fetch(`${plainUrl}/moto-api/reset`, { method: 'POST' });
      if (!response.ok) throw new CliError(`moto reset failed with HTTP ${response.status}`);
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function waitForReady(child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) =>
      reject(
        new CliError(`Could not start moto (the local AWS emulator): ${why}`, {
          code: 'MOTO_UNAVAILABLE',
          exitCode: ExitCode.usage,
          hint:
            'Install it with `python3 -m pip install "moto[server]"`, or point the sandbox at another ' +
            'AWS-compatible endpoint with --aws-endpoint URL.',
        }),
      );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`no answer within 30 s. ${stderr().trim()}`);
    }, 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(error.message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(`it exited with code ${code}. ${lastLine(stderr())}`);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve();
      }
    });
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
