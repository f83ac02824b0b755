/**
 * `atlas-pl-export sandbox`: runs moto and the Atlas simulator until Ctrl-C (or SIGTERM, SIGHUP), and prints the settings
 * that point this tool (or curl, the AWS CLI, boto3, the Atlas CLI) at them: an `unset` line for
 * every setting that would send clients elsewhere or make them use other credentials (a fixed list:
 * the shell the lines are pasted into is not this one), then `export NAME=value` lines, on stdout;
 * or one JSON document with --json (`ok`, `unset`, `env`, `seed`); a short explanation on stderr.
 */
import { existsSync } from 'node:fs';
import { CliError, ExitCode, signalExitCode, UsageError } from '../errors.js';
import type { Output } from '../output.js';
import { SECRET_ENV, type CommandContext } from '../run.js';
import {
  SANDBOX_AWS_SECRET_ACCESS_KEY,
  startSandbox,
  type Sandbox,
  type SandboxOptions,
} from '../sandbox/index.js';
import { portInUse, portInUseError } from '../sandbox/moto.js';
import { clearSecrets, registerSecret } from '../secrets.js';

export async function run(ctx: CommandContext): Promise<number> {
  const options = parseOptions(ctx.options);
  const atlasPort = options.atlasPort;
  if (atlasPort !== undefined && (await portInUse(atlasPort)))
    throw portInUseError(atlasPort, '--port', 'the Atlas simulator');
  if (options.awsEndpoint) await assertReachable(options.awsEndpoint);
  const spinner = await ctx.out.spinner('Starting the sandbox (moto and the Atlas simulator)');
  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox(options);
  } catch (error) {
    spinner.fail('The sandbox did not start.');
    // Taken between the check above and the simulator's start.
    if (atlasPort !== undefined && (error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw portInUseError(atlasPort, '--port', 'the Atlas simulator');
    throw error;
  }
  spinner.succeed('Sandbox running.');
  unmaskSandboxValues(sandbox);
  printSettings(ctx.out, sandbox);
  explain(ctx.out, sandbox);
  await untilStopSignal(ctx.out);
  await sandbox.stop();
  ctx.out.info('Sandbox stopped.');
  return 0;
}

function parseOptions(raw: Record<string, unknown>): SandboxOptions {
  const options: SandboxOptions = {};
  if (raw.port !== undefined) options.atlasPort = parsePort(raw.port, '--port');
  if (raw.motoPort !== undefined) options.motoPort = parsePort(raw.motoPort, '--moto-port');
  if (raw.awsEndpoint !== undefined) options.awsEndpoint = parseEndpoint(raw.awsEndpoint);
  if (options.awsEndpoint && options.motoPort !== undefined) {
    throw new UsageError('--moto-port and --aws-endpoint cannot be used together.', {
      hint: 'Give --aws-endpoint to use your own AWS-compatible endpoint, or --moto-port to choose the port of the moto this command starts.',
    });
  }
  return options;
}

function parsePort(value: unknown, flag: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${flag} ${String(value)} is not a port number.`, {
      hint: `Give ${flag} a whole number from 1 to 65535.`,
    });
  }
  return port;
}

function parseEndpoint(value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new UsageError(`--aws-endpoint ${String(value)} is not a URL.`, {
      hint: 'Give the endpoint as a full URL, for example --aws-endpoint https://127.0.0.1:4566.',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--aws-endpoint must be an http or https URL, not ${url.protocol}.`, {
      hint: 'Give the endpoint as a full URL, for example --aws-endpoint https://127.0.0.1:4566.',
    });
  }
  // The endpoint is printed for others to use; the SDK does not take credentials from a URL anyway.
  if (url.username || url.password) {
    throw new UsageError('--aws-endpoint must not contain a user name or password.', {
      hint: 'Give the endpoint without them; the sandbox uses AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for credentials.',
    });
  }
  return url.toString().replace(/\/$/, '');
}

/** Something must accept connections at --aws-endpoint, or every AWS check of the simulator would fail later. */
async function assertReachable(endpoint: string): Promise<void> {
  const url = new URL(endpoint);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const { connect } = await import('node:net');
  const problem = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: url.hostname, port, timeout: 5000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 5 s');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  if (problem) {
    throw new CliError(`Nothing accepts connections at --aws-endpoint ${endpoint} (${problem}).`, {
      code: 'AWS_ENDPOINT_UNREACHABLE',
      exitCode: ExitCode.usage,
      hint: 'Start your AWS-compatible endpoint first, or leave --aws-endpoint out to let the sandbox start moto itself.',
    });
  }
}

/**
 * The sandbox's own keys are fake and printing them is this command's purpose. `run.ts` registered
 * the secrets of the caller's environment for redaction; when that environment came from an earlier
 * sandbox, the values are the same and would print as ****. Only the sandbox's values are released;
 * every other secret stays registered.
 */
function unmaskSandboxValues(sandbox: Sandbox): void {
  const own = new Set([sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY, SANDBOX_AWS_SECRET_ACCESS_KEY]);
  const keep = SECRET_ENV.map((key) => process.env[key]).filter(
    (v): v is string => !!v && !own.has(v),
  );
  clearSecrets();
  for (const value of keep) registerSecret(value);
}

/** Quotes a value for POSIX shells when it holds anything beyond a safe set of characters. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Every setting that would make an Atlas or AWS client ignore what the sandbox prints, whatever is
 * set where the sandbox runs: the lines are pasted into another shell, whose settings this command
 * cannot see. AWS: profiles (the SDK's default credential chain skips AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY whenever AWS_PROFILE is set, with only a warning), other credentials (a
 * session token of other keys, a web-identity role, container and instance credentials, the config
 * and credentials files' locations), other endpoints (per service for every service the sandbox
 * serves or a credential flow calls, FIPS or dual-stack endpoints, which refuse a custom endpoint, and
 * the setting that ignores endpoint settings). Atlas: a service account (which wins over the API
 * key), and the Atlas CLI's organization, project and base-URL settings. With an external endpoint
 * and the caller's own keys, the session token that belongs to them stays.
 */
const CREDENTIAL_SETTINGS = [
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE',
];
const SESSION_SETTINGS = ['AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_EXPIRATION'];
const ENDPOINT_SETTINGS = [
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_IAM',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ENDPOINT_URL_SSO',
  'AWS_ENDPOINT_URL_SSO_OIDC',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
];
const ATLAS_SETTINGS = [
  'MONGODB_ATLAS_CLIENT_ID',
  'MONGODB_ATLAS_CLIENT_SECRET',
  'MONGODB_ATLAS_ORG_ID',
  'MONGODB_ATLAS_PROJECT_ID',
  'MONGODB_ATLAS_OPS_MANAGER_URL',
];

/** The `unset` list: the settings above, less those the sandbox sets itself. */
export function settingsToClear(sandbox: Pick<Sandbox, 'env'>): string[] {
  const ownKeys = sandbox.env.AWS_ACCESS_KEY_ID !== undefined;
  return [
    ...CREDENTIAL_SETTINGS,
    ...(ownKeys ? SESSION_SETTINGS : []),
    ...ENDPOINT_SETTINGS,
    ...ATLAS_SETTINGS,
  ].filter((name) => !(name in sandbox.env));
}

function printSettings(out: Output, sandbox: Sandbox): void {
  const unset = settingsToClear(sandbox);
  if (out.json) {
    const seed = sandbox.atlas.seed;
    out.printJson({
      ok: true,
      unset,
      env: sandbox.env,
      seed: {
        orgId: seed.orgId,
        projectId: seed.projectId,
        projectName: seed.projectName,
        clusters: seed.clusters,
      },
    });
    return;
  }
  out.result(`unset ${unset.join(' ')}`);
  for (const [name, value] of Object.entries(sandbox.env))
    out.result(`export ${name}=${shellQuote(value)}`);
}

function explain(out: Output, sandbox: Sandbox): void {
  const seed = sandbox.atlas.seed;
  const c = seed.clusters;
  const aws = sandbox.moto
    ? `moto (S3, IAM, STS) at ${sandbox.moto.url}`
    : `AWS endpoint ${sandbox.env.AWS_ENDPOINT_URL}`;
  out.info('');
  out.info(`Atlas simulator at ${sandbox.atlas.url}; ${aws}.`);
  out.info(`Seed project: ${seed.projectName} (${seed.projectId}) in organization ${seed.orgId}.`);
  out.info(`Clusters eligible for export: ${c.eligible} (replica set), ${c.sharded} (sharded).`);
  out.info(
    `Not eligible: ${c.tenant} (M0), ${c.gcp} (GCP), ${c.noBackup} (backup off), ${c.flex} (flex), ${c.serverless} (serverless).`,
  );
  if (out.json) {
    out.info(
      'To use it, in another shell unset the variables listed in `unset` of the JSON document on stdout and set those in `env`, then run atlas-pl-export setup there as you would against Atlas.',
    );
  } else if (out.stdoutIsTerminal) {
    out.info(
      'To use it, paste the unset and export lines above into another terminal, then run atlas-pl-export setup there as you would against Atlas.',
    );
    out.info(
      'To keep them in a file instead, start this command with `> sandbox.env` and run `source sandbox.env` in the other terminal.',
    );
  } else {
    out.info(
      'To use it, run `source` on the file that standard output went to (the unset and export lines) in another terminal, then run atlas-pl-export setup there as you would against Atlas.',
    );
  }
  out.info(
    `Every atlas-pl-export command reads a .env file in the directory it runs in, which can set AWS_PROFILE, MONGODB_ATLAS_CLIENT_ID and the like again after the unset: run it from a directory without one.${existsSync('.env') ? ' This directory has one.' : ''}`,
  );
  out.info('Everything lives in memory and is gone when the sandbox stops. Press Ctrl-C to stop.');
}

/** Closing the terminal sends SIGHUP: it stops the sandbox like Ctrl-C and `kill` do. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Waits for SIGINT, SIGTERM or SIGHUP. The boundary in run.ts exits at once on a signal, which would
 * leave moto running; this long-running command takes the signals over to stop both servers first. A
 * second signal while stopping ends the process. (A SIGKILL cannot be caught: moto_server.py then
 * notices that its parent is gone and exits by itself.)
 */
function untilStopSignal(out: Output): Promise<void> {
  for (const signal of STOP_SIGNALS) process.removeAllListeners(signal);
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      for (const other of STOP_SIGNALS) process.removeListener(other, onSignal);
      const again = signal === 'SIGINT' ? 'press Ctrl-C again' : `send ${signal} again`;
      out.info(`Received ${signal}; stopping the sandbox (${again} to quit at once).`);
      for (const other of STOP_SIGNALS) process.once(other, (s) => process.exit(signalExitCode(s)));
      resolve();
    };
    for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  });
}
