import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { awsClientsFor } from '../helpers/sandbox.js';
import { CLI, cleanEnv, runCli } from '../helpers/cli.js';
import { alive, running } from '../helpers/pty.js';

const run = promisify(execFile);

interface Started {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let started: Started | undefined;

/**
 * An "external AWS endpoint" that only accepts connections: enough for the sandbox to start the
 * simulator without moto (it checks that something listens there).
 */
let external: TcpServer;
let EXTERNAL = '';
beforeAll(async () => {
  external = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => external.listen(0, '127.0.0.1', resolve));
  EXTERNAL = `https://127.0.0.1:${(external.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((resolve) => external.close(() => resolve())));

afterEach(() => {
  if (started && started.child.exitCode === null) started.child.kill('SIGKILL');
  started = undefined;
});

/** Spawns `sandbox` and resolves once its explanation says it is ready. */
async function startCli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'sandbox', ...args], {
    cwd,
    env: cleanEnv(env),
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox did not start: ${stderr}`)), 90_000);
    child.stderr.on('data', () => {
      if (stderr.includes('Press Ctrl-C to stop')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`sandbox exited early: ${stderr}`));
    });
  });
  // stdout is written before the explanation, but the two pipes are read independently: drain stdout.
  for (let i = 0; i < 100 && !stdout.includes('MONGODB_ATLAS_BASE_URL'); i += 1) await sleep(20);
  await sleep(50);
  started = { child, stdout: () => stdout, stderr: () => stderr, exited };
  return started;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends a signal and waits for the exit, failing with the CLI's stderr if it does not come. */
async function stopCli(cli: Started, signal: NodeJS.Signals = 'SIGINT') {
  cli.child.kill(signal);
  const timeout = sleep(30_000).then(() => {
    throw new Error(`sandbox did not exit on ${signal}; stderr:\n${cli.stderr()}`);
  });
  return Promise.race([cli.exited, timeout]);
}

function parseExports(stdout: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^'(.*)'$/, '$1');
  }
  return env;
}

async function childPids(pid: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(pid)]).catch(() => ({
    stdout: '',
  }));
  return stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

/** Polls until the process has ended; false if it still runs after `ms`. */
async function endsWithin(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100))
    if (!running(pid)) return true;
  return !running(pid);
}

async function curlStatus(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
  return stdout;
}

describe('atlas-pl-export sandbox', () => {
  it('prints export lines that work with curl and the AWS SDK, and SIGINT stops both servers', async () => {
    const cli = await startCli([]);
    const env = parseExports(cli.stdout());
    expect(Object.keys(env)).toEqual([
      'MONGODB_ATLAS_BASE_URL',
      'MONGODB_ATLAS_PUBLIC_API_KEY',
      'MONGODB_ATLAS_PRIVATE_API_KEY',
      'AWS_ENDPOINT_URL',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_CA_BUNDLE',
      'NODE_EXTRA_CA_CERTS',
    ]);
    expect(cli.stderr()).toMatch(/Seed project: .*\([0-9a-f]{24}\)/);
    // stdout is a pipe here, not a terminal: nothing to paste from the screen.
    expect(cli.stderr()).toMatch(
      /^To use it, run `source` on the file that standard output went to \(the unset and export lines\) in another terminal, then run atlas-pl-export setup there as you would against Atlas\.$/m,
    );
    expect(cli.stderr()).not.toMatch(/paste/);
    expect(cli.stderr()).toMatch(
      /^Every atlas-pl-export command reads a \.env file in the directory it runs in, which can set AWS_PROFILE, MONGODB_ATLAS_CLIENT_ID and the like again after the unset: run it from a directory without one\.$/m,
    );
    expect(cli.stderr()).toMatch(/Cluster0/);

    const url = `${env.MONGODB_ATLAS_BASE_URL}/api/atlas/v2`;
    const accept = ['-H', 'Accept: application/vnd.atlas.2023-01-01+json'];
    const credentials = `${env.MONGODB_ATLAS_PUBLIC_API_KEY}:${env.MONGODB_ATLAS_PRIVATE_API_KEY}`;
    expect(await curlStatus(['--digest', '-u', credentials, ...accept, url])).toBe('200');
    expect(await curlStatus(['-u', credentials, ...accept, url])).toBe('401');

    const aws = await awsClientsFor(env);
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'printed-settings-test' }));
    const buckets = await aws.s3.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toContain('printed-settings-test');
    aws.s3.destroy();

    const pythons = await childPids(cli.child.pid!);
    expect(pythons.length).toBe(1);
    expect(alive(pythons[0]!)).toBe(true);
    const exit = await stopCli(cli);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toMatch(/Sandbox stopped/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(alive(pythons[0]!)).toBe(false);
    expect(await curlStatus([url]).catch(() => '000')).toBe('000');
  }, 120_000);

  it('on a terminal, says to paste the lines, each instruction on one line; Ctrl-C ends it with 0', async () => {
    const { startTerminal } = await import('../helpers/pty.js');
    // No moto needed: an external endpoint is enough to start the simulator.
    const term = await startTerminal(['sandbox', '--aws-endpoint', EXTERNAL], {});
    try {
      await term.waitFor('Press Ctrl-C to stop');
      const screen = term.output().replace(/\r/g, '');
      expect(screen).toMatch(
        /^To use it, paste the unset and export lines above into another terminal, then run atlas-pl-export setup there as you would against Atlas\.$/m,
      );
      expect(screen).toMatch(
        /^To keep them in a file instead, start this command with `> sandbox\.env` and run `source sandbox\.env` in the other terminal\.$/m,
      );
      expect(screen).toMatch(
        /^Clusters eligible for export: \S+ \(replica set\), \S+ \(sharded\)\.$/m,
      );
      expect(screen).toMatch(/^Not eligible: .*\S+ \(flex\), \S+ \(serverless\)\.$/m);
      expect(screen).not.toMatch(/standard output went to/);
      term.type('\x03');
      // node-pty now and then never reports the exit of a program that ended at once; then the
      // process must be gone, having said it stopped (the last line before its exit with 0).
      const code = await Promise.race([
        term.exited,
        new Promise<'no exit event'>((resolve) =>
          setTimeout(() => resolve('no exit event'), 20_000),
        ),
      ]);
      if (code === 'no exit event') {
        expect(term.output()).toMatch(/Sandbox stopped\./);
        expect(running(term.pid)).toBe(false);
      } else expect(code).toBe(0);
    } finally {
      term.kill();
    }
  }, 60_000);

  it('SIGHUP (the terminal closed) stops both servers like Ctrl-C', async () => {
    const cli = await startCli([]);
    const [moto] = await childPids(cli.child.pid!);
    expect(moto && running(moto)).toBe(true);
    expect(await stopCli(cli, 'SIGHUP')).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toMatch(/Received SIGHUP/);
    expect(await endsWithin(moto!, 3000)).toBe(true);
  }, 120_000);

  it('after SIGKILL of the command, moto notices its parent is gone and exits within seconds', async () => {
    const cli = await startCli([]);
    const env = parseExports(cli.stdout());
    const [moto] = await childPids(cli.child.pid!);
    expect(moto && running(moto)).toBe(true);
    expect(await curlStatus(['--cacert', env.AWS_CA_BUNDLE!, env.AWS_ENDPOINT_URL!])).toBe('200');
    cli.child.kill('SIGKILL');
    expect((await cli.exited).signal).toBe('SIGKILL');
    expect(await endsWithin(moto!, 5000)).toBe(true);
    expect(await curlStatus(['-k', env.AWS_ENDPOINT_URL!]).catch(() => '000')).toBe('000');
  }, 120_000);

  it('--json prints one document with the settings and the seed; SIGTERM stops it', async () => {
    const cli = await startCli(['--json']);
    const document = JSON.parse(cli.stdout()) as {
      env: Record<string, string>;
      seed: { projectId: string; clusters: object };
    };
    expect(document.env.MONGODB_ATLAS_BASE_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(document.env.AWS_ENDPOINT_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(document.seed.projectId).toMatch(/^[0-9a-f]{24}$/);
    expect((document as unknown as { ok: boolean }).ok).toBe(true);
    expect((document as unknown as { unset: string[] }).unset).toContain('AWS_PROFILE');
    expect(cli.stderr()).not.toMatch(/paste the export lines/);
    expect(cli.stderr()).toMatch(
      /^To use it, in another shell unset the variables listed in `unset` of the JSON document on stdout and set those in `env`, then run atlas-pl-export setup there as you would against Atlas\.$/m,
    );
    expect(await stopCli(cli, 'SIGTERM')).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('prints the keys even when the caller already exported the same values (no **** masking)', async () => {
    // No moto needed: an external endpoint is enough to start the simulator.
    const endpoint = ['--aws-endpoint', EXTERNAL];
    const first = await startCli([...endpoint, '--json']);
    const key = (JSON.parse(first.stdout()) as { env: Record<string, string> }).env
      .MONGODB_ATLAS_PRIVATE_API_KEY!;
    await stopCli(first);
    const second = await startCli(endpoint, {
      MONGODB_ATLAS_PRIVATE_API_KEY: key,
      AWS_ACCESS_KEY_ID: 'AKIACALLERKEY0000001',
      AWS_SECRET_ACCESS_KEY: 'real-looking-secret-123',
    });
    expect(second.stdout()).toContain(`export MONGODB_ATLAS_PRIVATE_API_KEY=${key}`);
    expect(second.stdout()).not.toContain('****');
    // With an external endpoint the caller's own AWS credentials are used but never echoed.
    expect(second.stdout()).not.toContain('real-looking-secret-123');
    expect(second.stdout()).not.toMatch(/AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID/);
    expect((await stopCli(second)).code).toBe(0);
  }, 120_000);

  it('uses --port for the simulator', async () => {
    const { freePort } = await import('../../src/sandbox/moto.js');
    const port = await freePort();
    const cli = await startCli(['--port', String(port), '--aws-endpoint', EXTERNAL]);
    expect(parseExports(cli.stdout()).MONGODB_ATLAS_BASE_URL).toBe(`http://127.0.0.1:${port}`);
    expect(cli.stderr()).toContain(`AWS endpoint ${EXTERNAL}`);
    expect((await stopCli(cli)).code).toBe(0);
  }, 120_000);

  it('without moto, fails with what is missing and how to install it or use --aws-endpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-no-moto-'));
    // A real Python without its site-packages: moto and its dependencies cannot be imported.
    const bare = join(dir, 'python3');
    writeFileSync(bare, `#!/bin/sh\nexec ${process.env.PYTHON ?? 'python3'} -S "$@"\n`);
    chmodSync(bare, 0o755);
    const withoutMoto = await runCli(['sandbox'], { env: { PYTHON: bare }, timeoutMs: 30_000 });
    expect(withoutMoto.code).toBe(2);
    expect(withoutMoto.stderr).toMatch(
      new RegExp(
        `error: Could not start moto \\(the local AWS emulator\\): ${bare} lacks the Python package "\\w+" that the sandbox's moto needs\\.`,
      ),
    );
    expect(withoutMoto.stderr).toContain(
      `what to do: Install moto with \`${bare} -m pip install "moto[server]"\``,
    );
    const missing = join(dir, 'missing-python3');
    const noPython = await runCli(['sandbox'], { env: { PYTHON: missing }, timeoutMs: 30_000 });
    expect(noPython.code).toBe(2);
    expect(noPython.stderr).toContain(
      `error: Could not start moto (the local AWS emulator): ${missing} was not found.`,
    );
    expect(noPython.stderr).toMatch(/what to do: Install Python 3 with moto .*set PYTHON/);
    for (const result of [withoutMoto, noPython]) {
      expect(result.stderr).toMatch(/--aws-endpoint URL/);
      expect(result.stderr).not.toMatch(/Traceback|Unexpected error|\n\s+at /);
    }
  });

  it('prints a fixed unset line, whatever its own shell holds, that clears what would redirect or re-credential clients in the shell it is pasted into', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-unset-'));
    const config = join(dir, 'config');
    writeFileSync(
      config,
      '[profile work]\naws_access_key_id = AKIAWORKPROFILE00001\naws_secret_access_key = work-profile-secret\n',
    );
    // The engineer's shell, where the lines are pasted; the sandbox itself runs with none of it, and
    // in a directory holding a .env file.
    const shell = {
      AWS_PROFILE: 'work',
      AWS_CONFIG_FILE: config,
      AWS_DEFAULT_REGION: 'eu-central-1',
      AWS_SESSION_TOKEN: 'a-session-token-of-other-keys',
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/ci',
      AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
      AWS_ENDPOINT_URL_S3: 'https://s3.elsewhere.example',
      AWS_ENDPOINT_URL_STS: 'https://sts.elsewhere.example',
      AWS_USE_FIPS_ENDPOINT: 'true',
      MONGODB_ATLAS_CLIENT_ID: 'mdb_sa_id_elsewhere',
      MONGODB_ATLAS_CLIENT_SECRET: 'mdb_sa_sk_elsewhere',
      MONGODB_ATLAS_PROJECT_ID: '0123456789abcdef01234567',
    };
    writeFileSync(join(dir, '.env'), 'SOMETHING_ELSE=1\n');
    const cli = await startCli([], {}, dir);
    expect(cli.stderr()).toMatch(
      /run it from a directory without one\. This directory has one\.$/m,
    );
    const lines = cli.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^unset [A-Z0-9_ ]+$/);
    const unset = lines[0]!.split(' ').slice(1);
    for (const name of Object.keys(shell).filter((n) => n !== 'AWS_DEFAULT_REGION'))
      expect(unset).toContain(name);
    expect(unset).not.toContain('AWS_ACCESS_KEY_ID');
    expect(lines.slice(1).every((line) => line.startsWith('export '))).toBe(true);
    const printed = parseExports(cli.stdout());
    expect(printed.AWS_DEFAULT_REGION).toBe('us-east-1');

    // Which access key the SDK's default chain picks, in the caller's shell before and after the lines.
    const inShell = (lines: string, command: string) =>
      run('bash', ['-c', `${lines}\n${command}`], {
        env: cleanEnv(shell),
        cwd: join(dirname(CLI), '..'),
      }).then(
        (r) => r.stdout.trim(),
        (e: { stdout: string; stderr: string }) => `${e.stdout}${e.stderr}`.trim(),
      );
    const jsKey = `node --input-type=module -e "const { S3Client } = await import('@aws-sdk/client-s3'); console.log((await new S3Client({}).config.credentials()).accessKeyId)"`;
    expect(await inShell('', jsKey)).toBe('AKIAWORKPROFILE00001');
    expect(await inShell(cli.stdout(), jsKey)).toBe(printed.AWS_ACCESS_KEY_ID);
    // boto3 (the AWS CLI's library) reads AWS_DEFAULT_REGION, not AWS_REGION: after the lines it
    // lists the sandbox's IAM roles in its region.
    const boto = `python3 -c "import boto3; iam = boto3.client('iam'); print(iam.meta.region_name, len(iam.list_roles()['Roles']))"`;
    expect(await inShell(cli.stdout(), boto)).toBe('us-east-1 0');
    const after = await run('bash', ['-c', `${cli.stdout()}\nenv`], { env: cleanEnv(shell) });
    for (const name of unset) expect(after.stdout).not.toMatch(new RegExp(`^${name}=`, 'm'));
    expect(after.stdout).toContain(`AWS_ENDPOINT_URL=${printed.AWS_ENDPOINT_URL}\n`);
    expect(after.stdout).toContain('AWS_DEFAULT_REGION=us-east-1\n');
    expect((await stopCli(cli)).code).toBe(0);
  }, 120_000);

  it('a --port or --moto-port already in use is a usage error that says so (exit 2)', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const atlas = await runCli(['sandbox', '--port', String(port), '--aws-endpoint', EXTERNAL]);
      expect(atlas.code, atlas.stderr).toBe(2);
      expect(atlas.stderr).toContain(
        `error: --port ${port}: another program already listens on 127.0.0.1:${port}, so the Atlas simulator cannot start there.`,
      );
      expect(atlas.stderr).toMatch(/what to do: Give --port a free port, or leave --port out/);
      const moto = await runCli(['sandbox', '--moto-port', String(port)]);
      expect(moto.code, moto.stderr).toBe(2);
      expect(moto.stderr).toContain(
        `error: --moto-port ${port}: another program already listens on 127.0.0.1:${port}, so moto cannot start there.`,
      );
      expect(moto.stderr).toMatch(/what to do: Give --moto-port a free port/);
      for (const result of [atlas, moto]) {
        expect(result.stderr).not.toMatch(/Unexpected error|EADDRINUSE|pip install/);
        expect(result.stdout).toBe('');
      }
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('rejects a bad port and a bad endpoint before starting anything', async () => {
    const badPort = await runCli(['sandbox', '--port', 'abc']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--port abc is not a port number/);
    const badEndpoint = await runCli(['sandbox', '--aws-endpoint', 'ftp://example']);
    expect(badEndpoint.code).toBe(2);
    expect(badEndpoint.stderr).toMatch(/http or https/);
    const withUser = await runCli([
      'sandbox',
      '--aws-endpoint',
      'https://key:pa55word@127.0.0.1:9',
    ]);
    expect(withUser.code).toBe(2);
    expect(withUser.stderr).toMatch(/--aws-endpoint must not contain a user name or password/);
    expect(withUser.stderr).not.toContain('pa55word');
    const { freePort } = await import('../../src/sandbox/moto.js');
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await runCli(['sandbox', '--aws-endpoint', nobody]);
    expect(unreachable.code, unreachable.stderr).toBe(2);
    expect(unreachable.stderr).toContain(
      `error: Nothing accepts connections at --aws-endpoint ${nobody} (ECONNREFUSED).`,
    );
    expect(unreachable.stderr).toMatch(/what to do: Start your AWS-compatible endpoint first/);
    expect(unreachable.stderr).not.toMatch(/Sandbox running/);
  });
});
