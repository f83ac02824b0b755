/**
 * Starts moto (S3, IAM, STS) on loopback over TLS through the project's launcher, which teaches moto
 * the `aws:SecureTransport` condition key. Used by `atlas-pl-export sandbox`, `setup --sandbox` and
 * the tests (one server per test file, reset between tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/**
 * The Python launcher, beside this module: src/sandbox when run from the sources, dist/sandbox in a
 * build or an installed package (`npm run build` copies it there).
 */
const LAUNCHER = fileURLToPath(new URL('./moto_server.py', import.meta.url));

/**
 * What moto_server.py exits with when a Python package is missing (after a line `missing-module: NAME`)
 * or is of a version without what it imports (`incompatible-module: NAME`).
 */
const MISSING_MODULE_EXIT = 3;

const ELSEWHERE =
  'or point the sandbox at another AWS-compatible endpoint with --aws-endpoint URL.';

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
  if (!existsSync(LAUNCHER)) {
    throw new CliError(
      `Could not start moto (the local AWS emulator): this installation of atlas-pl-export lacks the sandbox's moto launcher, ${LAUNCHER}.`,
      {
        code: 'SANDBOX_LAUNCHER_MISSING',
        exitCode: ExitCode.usage,
        hint: `Reinstall atlas-pl-export (its package ships the launcher in dist/sandbox; from a clone, run \`npm run build\`), ${ELSEWHERE}`,
      },
    );
  }
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
  await waitForReady(child, python, () => stderr);
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

function waitForReady(child: ChildProcess, python: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string, hint: string) =>
      reject(
        new CliError(`Could not start moto (the local AWS emulator): ${why}`, {
          code: 'MOTO_UNAVAILABLE',
          exitCode: ExitCode.usage,
          hint,
        }),
      );
    const install = `Install moto with \`${python} -m pip install "moto[server]"\`, ${ELSEWHERE}`;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(
        `no answer within 30 s. ${lastLine(stderr())}`.trim(),
        `Rerun; if it happens again, ${ELSEWHERE}`,
      );
    }, 30_000);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT')
        fail(
          `${python} was not found.`,
          `Install Python 3 with moto (\`python3 -m pip install "moto[server]"\`), or set PYTHON to the Python 3 that has moto, ${ELSEWHERE}`,
        );
      else
        fail(
          `${python} could not be started (${error.code ?? error.message}).`,
          `Set PYTHON to a Python 3 you can run, ${ELSEWHERE}`,
        );
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const imported = /^(missing|incompatible)-module: (\S+)$/m.exec(stderr());
      if (code === MISSING_MODULE_EXIT && imported?.[1] === 'missing')
        fail(
          `${python} lacks the Python package "${imported[2]}" that the sandbox's moto needs.`,
          install,
        );
      else if (code === MISSING_MODULE_EXIT && imported)
        fail(
          `the Python package "${imported[2]}" of ${python} lacks what the sandbox's moto launcher imports (another version is needed).`,
          `Upgrade it with \`${python} -m pip install --upgrade "moto[server]"\`, ${ELSEWHERE}`,
        );
      else
        fail(
          `it exited with code ${code}. ${lastLine(stderr())}`.trim(),
          `The line above is what Python said; fix what it names, ${ELSEWHERE}`,
        );
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
