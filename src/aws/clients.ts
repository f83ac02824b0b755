/**
 * The AWS SDK clients, configured once: the SDK's default credential chain and region resolution,
 * its standard endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ... and profile
 * `endpoint_url`), its own retry modes (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS; default "standard"), and
 * AWS_CA_BUNDLE for a private certificate authority. With an endpoint override S3 uses path-style
 * addressing, which S3-compatible endpoints need. Connections time out after a few seconds, and a
 * failure no retry can cure (an unknown host, a TLS or certificate problem) is not retried; a
 * refused connection only a couple of times.
 *
 * The SDK is imported when the clients are made, so that the settings can be checked
 * (checkAwsEndpointSettings) without loading it.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { classifyTransportError, MAX_REFUSED_RETRIES } from '../atlas/retry.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import type { Output } from '../output.js';
import { maskUrlCredentials } from '../secrets.js';
import { AwsCredentialsError } from './errors.js';

export interface AwsCallRecord {
  service: 's3' | 'iam' | 'sts';
  operation: string;
  kind: 'read' | 'write';
}

export interface AwsClientsOptions {
  /** Region for S3 calls (the bucket's region). IAM and STS are global and use the same setting. */
  region?: string;
  /** Environment to read the standard settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Called once per AWS API call (not per retry), for --debug traces and call counting. */
  onCall?: (call: AwsCallRecord) => void;
  /** Where the SDK's own warnings go (as --debug lines), and this module's warning about them. */
  out?: Pick<Output, 'warn' | 'debug'>;
}

export interface AwsClients {
  s3: S3Client;
  iam: IAMClient;
  sts: STSClient;
  region: string;
  /** True when an endpoint override is in effect (a sandbox or S3-compatible service). */
  endpointOverride: boolean;
}

/** The one middleware shape used here; the SDK's own union type is not callable from generic code. */
interface MiddlewareStackLike {
  add(
    middleware: (
      next: (args: unknown) => Promise<unknown>,
      context: { commandName?: string },
    ) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize'; name: string },
  ): void;
}

const READ_PREFIXES = ['Get', 'List', 'Head', 'Describe'];

export function isReadOperation(operation: string): boolean {
  return READ_PREFIXES.some((prefix) => operation.startsWith(prefix));
}

/** How long a connection to an AWS endpoint may take before the attempt fails. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Reads AWS_CA_BUNDLE (the AWS tools' standard variable): the PEM text, or undefined when unset. */
function caBundle(env: NodeJS.ProcessEnv): string | undefined {
  const bundle = env.AWS_CA_BUNDLE;
  if (!bundle) return undefined;
  try {
    return readFileSync(bundle, 'utf8');
  } catch (error) {
    throw new CliError(
      `AWS_CA_BUNDLE points at ${bundle}, which cannot be read: ${(error as Error).message}`,
      {
        code: 'AWS_CA_BUNDLE_UNREADABLE',
        exitCode: ExitCode.usage,
        hint: 'Point AWS_CA_BUNDLE at a PEM file of certificate authorities, or unset it.',
      },
    );
  }
}

/** The endpoint settings that reach the clients this tool makes, or the SSO credential flow. */
const ENDPOINT_SETTINGS = [
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_IAM',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ENDPOINT_URL_SSO',
  'AWS_ENDPOINT_URL_SSO_OIDC',
] as const;

function endpointProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return 'must start with https:// or http://';
  if (!url.hostname) return 'names no host';
  if (url.username || url.password) return 'must not contain credentials';
  return undefined;
}

/**
 * Checks AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> before any call: each must be an absolute
 * http(s) URL. The SDK would otherwise fail each call with a bare TypeError.
 */
export function checkAwsEndpointSettings(env: NodeJS.ProcessEnv): void {
  for (const name of ENDPOINT_SETTINGS) {
    const value = env[name]?.trim();
    if (!value) continue;
    const problem = endpointProblem(value);
    if (!problem) continue;
    throw new UsageError(`${name} (${maskUrlCredentials(value)}) ${problem}.`, {
      code: 'INVALID_AWS_ENDPOINT_URL',
      hint: `Set ${name} to the endpoint's full URL, for example https://s3.example.internal:9000, or unset it to use AWS's own endpoints.`,
    });
  }
}

function hasEndpointOverride(env: NodeJS.ProcessEnv): boolean {
  return Object.entries(env).some(
    ([key, value]) =>
      (key === 'AWS_ENDPOINT_URL' || key.startsWith('AWS_ENDPOINT_URL_')) && !!value?.trim(),
  );
}

/** The retry strategy interface (v2) the SDK's standard and adaptive strategies implement. */
interface RetryStrategyLike {
  acquireInitialRetryToken(scope: string): Promise<RetryTokenLike>;
  refreshRetryTokenForRetry(token: RetryTokenLike, info: { error?: unknown }): Promise<unknown>;
  recordSuccess(token: RetryTokenLike): void;
}
interface RetryTokenLike {
  getRetryCount(): number;
}

function isRetryStrategyV2(value: unknown): value is RetryStrategyLike {
  const strategy = value as Partial<RetryStrategyLike> | undefined;
  return (
    typeof strategy?.acquireInitialRetryToken === 'function' &&
    typeof strategy.refreshRetryTokenForRetry === 'function' &&
    typeof strategy.recordSuccess === 'function'
  );
}

/**
 * Wraps the strategy the SDK chose (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS) so that it gives up at once
 * on a failure no retry cures, and after a couple of quick retries on a refused connection, instead
 * of spending every attempt (and, with a high AWS_MAX_ATTEMPTS, minutes) on them.
 */
function failFast(strategy: RetryStrategyLike): RetryStrategyLike {
  return {
    acquireInitialRetryToken: (scope) => strategy.acquireInitialRetryToken(scope),
    recordSuccess: (token) => strategy.recordSuccess(token),
    refreshRetryTokenForRetry: async (token, info) => {
      const failure = classifyTransportError(info.error);
      const spent = failure === 'refused' && token.getRetryCount() >= MAX_REFUSED_RETRIES;
      // Refusing the token makes the SDK throw the call's own error.
      if (failure === 'fatal' || spent) throw new Error('No retry for this failure');
      return strategy.refreshRetryTokenForRetry(token, info);
    },
  };
}

/** The SDK resolves its retry strategy when the first call starts; this wraps whatever it picks. */
function withFailFastRetries(client: S3Client | IAMClient | STSClient): void {
  const config = client.config as unknown as { retryStrategy: () => Promise<unknown> };
  const resolve = config.retryStrategy;
  let wrapped: Promise<unknown> | undefined;
  config.retryStrategy = () =>
    (wrapped ??= resolve().then((strategy) =>
      isRetryStrategyV2(strategy) ? failFast(strategy) : strategy,
    ));
}

/**
 * The SDK reads credentials and endpoints from process.env itself. When the caller passes another
 * environment (the simulator, tests), the same standard variables are read from it here instead.
 */
function explicitSettings(env: NodeJS.ProcessEnv): {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
} {
  if (env === process.env || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return {};
  return {
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    },
  };
}

function endpointFor(env: NodeJS.ProcessEnv, service: 'S3' | 'IAM' | 'STS') {
  if (env === process.env) return {};
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
  return endpoint ? { endpoint } : {};
}

/**
 * The clients' credential provider, wrapped so that whatever it throws reaches awsError as an
 * AwsCredentialsError: the SDK signs each request with `config.credentials`, read per request.
 */
function withCredentialErrors(client: S3Client | IAMClient | STSClient): void {
  const config = client.config as unknown as { credentials?: unknown };
  const provider = config.credentials;
  if (typeof provider !== 'function') return;
  config.credentials = async (...args: unknown[]) => {
    try {
      return (await (provider as (...a: unknown[]) => Promise<unknown>)(...args)) as unknown;
    } catch (error) {
      throw new AwsCredentialsError(error);
    }
  };
}

/**
 * The SDK's logger. Its per-call info and error records are dropped (the tool traces calls and
 * explains errors itself); its warnings, which it would otherwise print with console.warn as
 * several raw lines, become one --debug line each.
 */
function sdkLogger(out: AwsClientsOptions['out']) {
  const ignore = () => undefined;
  return {
    trace: ignore,
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (...content: unknown[]) => {
      const text = content.filter((part) => typeof part === 'string').join(' ');
      if (text) out?.debug(`AWS SDK: ${text.replace(/\s+/g, ' ').trim()}`);
    },
  };
}

let warnedProfileAndKeys = false;

/**
 * AWS_PROFILE beside AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: the SDK's default chain uses the
 * profile and ignores the keys (and warns in its own words, which sdkLogger keeps to --debug). Said
 * once per run, in one line.
 */
function warnIfProfileAndKeys(env: NodeJS.ProcessEnv, out: AwsClientsOptions['out']): void {
  const profile = env.AWS_PROFILE?.trim();
  if (!out || warnedProfileAndKeys || !profile) return;
  if (!env.AWS_ACCESS_KEY_ID?.trim() || !env.AWS_SECRET_ACCESS_KEY?.trim()) return;
  warnedProfileAndKeys = true;
  out.warn(
    `AWS_PROFILE ("${profile}") and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are all set: the AWS SDK uses the profile and ignores the keys. Unset AWS_PROFILE to use the keys, or unset the keys.`,
  );
}

export async function createAwsClients(options: AwsClientsOptions = {}): Promise<AwsClients> {
  const env = options.env ?? process.env;
  checkAwsEndpointSettings(env);
  const ca = caBundle(env);
  const [{ S3Client }, { IAMClient }, { STSClient }, { NodeHttpHandler }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-iam'),
    import('@aws-sdk/client-sts'),
    import('@smithy/node-http-handler'),
  ]);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpointOverride = hasEndpointOverride(env);
  // One handler per client: destroying a client closes its handler's sockets.
  const handler = (): NodeHttpHandler =>
    new NodeHttpHandler({
      connectionTimeout: CONNECT_TIMEOUT_MS,
      ...(ca ? { httpsAgent: new Agent({ keepAlive: true, ca: [...rootCertificates, ca] }) } : {}),
    });
  const explicit = explicitSettings(env);
  if (!explicit.credentials) warnIfProfileAndKeys(env, options.out);
  const common = {
    region,
    retryMode: env.AWS_RETRY_MODE ?? 'standard',
    logger: sdkLogger(options.out),
    ...explicit,
  };
  const s3 = new S3Client({
    ...common,
    requestHandler: handler(),
    ...endpointFor(env, 'S3'),
    forcePathStyle: endpointOverride || undefined,
  });
  const iam = new IAMClient({ ...common, requestHandler: handler(), ...endpointFor(env, 'IAM') });
  const sts = new STSClient({ ...common, requestHandler: handler(), ...endpointFor(env, 'STS') });
  for (const client of [s3, iam, sts]) {
    withFailFastRetries(client);
    withCredentialErrors(client);
  }
  if (options.onCall) {
    const onCall = options.onCall;
    const attach = (
      client: S3Client | IAMClient | STSClient,
      service: AwsCallRecord['service'],
    ) => {
      const stack = client.middlewareStack as unknown as MiddlewareStackLike;
      stack.add(
        (next, context) => async (args) => {
          const operation = String(context.commandName ?? 'Unknown').replace(/Command$/, '');
          onCall({ service, operation, kind: isReadOperation(operation) ? 'read' : 'write' });
          return next(args);
        },
        { step: 'initialize', name: 'atlasPlExportCallRecorder' },
      );
    };
    attach(s3, 's3');
    attach(iam, 'iam');
    attach(sts, 'sts');
  }
  return { s3, iam, sts, region, endpointOverride };
}
