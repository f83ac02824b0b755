/**
 * `atlas-pl-export sandbox`: runs moto and the Atlas simulator until Ctrl-C (or SIGTERM, SIGHUP), and prints the settings
 * that point this tool (or curl, the AWS CLI, the Atlas CLI) at them: an `unset` line for the
 * settings of the caller's shell that would send clients elsewhere or make them use other
 * credentials, then `export NAME=value` lines, on stdout; or one JSON document with --json (`unset`
 * and `env`); a short explanation on stderr.
 */
import { signalExitCode, UsageError } from '../errors.js';
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
 * Settings in the caller's shell that would make a client ignore what the sandbox prints: another
 * endpoint per service, FIPS or dual-stack endpoints (which refuse a custom endpoint), the setting
 * that ignores endpoint settings, and other credentials. AWS_PROFILE in particular: the SDK's default
 * credential chain skips AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY whenever AWS_PROFILE is set
 * (@aws-sdk/credential-provider-node, defaultProvider: its first link, fromEnv, gives way to the
 * profile with only a warning), so the printed keys would not be used. A session token belongs to
 * other keys than the sandbox's; with an external endpoint and the caller's own keys, it stays.
 */
function settingsToClear(sandbox: Sandbox, env: NodeJS.ProcessEnv = process.env): string[] {
  const ownKeys = sandbox.env.AWS_ACCESS_KEY_ID !== undefined;
  const names = new Set([
    'AWS_PROFILE',
    'AWS_DEFAULT_PROFILE',
    ...(ownKeys ? ['AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'AWS_CREDENTIAL_EXPIRATION'] : []),
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_IAM',
    'AWS_ENDPOINT_URL_STS',
    ...Object.keys(env).filter((name) => name.startsWith('AWS_ENDPOINT_URL_')),
    'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
    'AWS_USE_FIPS_ENDPOINT',
    'AWS_USE_DUALSTACK_ENDPOINT',
    'MONGODB_ATLAS_CLIENT_ID',
    'MONGODB_ATLAS_CLIENT_SECRET',
  ]);
  for (const name of Object.keys(sandbox.env)) names.delete(name);
  return [...names];
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
  out.info(`Clusters: ${c.eligible} (replica set, eligible), ${c.sharded} (sharded, eligible),`);
  out.info(
    `  ${c.tenant} (M0), ${c.gcp} (GCP), ${c.noBackup} (backup off), ${c.flex} (flex): not eligible for export.`,
  );
  if (out.json) {
    out.info(
      'To use it, in another shell unset the variables listed in `unset` of the JSON document on stdout',
    );
    out.info('and set those in `env`, then run atlas-pl-export setup as you would against Atlas.');
  } else {
    out.info(
      'To use it, in another terminal paste the unset and export lines above (or start this command',
    );
    out.info(
      'with `> sandbox.env` and run `source sandbox.env`), then run atlas-pl-export setup as you would against Atlas.',
    );
  }
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
      out.info(`Received ${signal}; stopping the sandbox (press Ctrl-C again to quit at once).`);
      for (const other of STOP_SIGNALS) process.once(other, (s) => process.exit(signalExitCode(s)));
      resolve();
    };
    for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  });
}
