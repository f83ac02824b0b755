/**
 * The AWS SDK clients, configured once: the SDK's default credential chain and region resolution,
 * its standard endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, ... and profile
 * `endpoint_url`), its own retry modes (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS; default "standard"), and
 * AWS_CA_BUNDLE for a private certificate authority. With an endpoint override S3 uses path-style
 * addressing, which S3-compatible endpoints need.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import type { STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { CliError, ExitCode } from '../errors.js';

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

/** Reads AWS_CA_BUNDLE (the AWS tools' standard variable) into an HTTPS agent that also trusts the system roots. */
function requestHandler(env: NodeJS.ProcessEnv): NodeHttpHandler | undefined {
  const bundle = env.AWS_CA_BUNDLE;
  if (!bundle) return undefined;
  let pem: string;
  try {
    pem = readFileSync(bundle, 'utf8');
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
  return new NodeHttpHandler({
    httpsAgent: new Agent({ keepAlive: true, ca: [...rootCertificates, pem] }),
  });
}

function hasEndpointOverride(env: NodeJS.ProcessEnv): boolean {
  return Object.keys(env).some(
    (key) => key === 'AWS_ENDPOINT_URL' || key.startsWith('AWS_ENDPOINT_URL_'),
  );
}

/**
 * The SDK reads credentials and endpoints from process.env itself. When the caller passes another
 * environment (the simulator, tests), the same standard variables are read from it here instead.
 */
function explicitSettings(env: NodeJS.ProcessEnv) {
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

export async function createAwsClients(options: AwsClientsOptions = {}): Promise<AwsClients> {
  const env = options.env ?? process.env;
  const [{ S3Client }, { IAMClient }, { STSClient }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-iam'),
    import('@aws-sdk/client-sts'),
  ]);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpointOverride = hasEndpointOverride(env);
  const handler = requestHandler(env);
  const common = {
    region,
    retryMode: env.AWS_RETRY_MODE ?? 'standard',
    ...(handler ? { requestHandler: handler } : {}),
    ...explicitSettings(env),
  };
  const s3 = new S3Client({
    ...common,
    ...endpointFor(env, 'S3'),
    forcePathStyle: endpointOverride || undefined,
  });
  const iam = new IAMClient({ ...common, ...endpointFor(env, 'IAM') });
  const sts = new STSClient({ ...common, ...endpointFor(env, 'STS') });
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
