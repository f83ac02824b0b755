/**
 * The sandbox: moto (S3, IAM, STS over TLS, see moto.ts) and the Atlas simulator started together,
 * plus the environment a user would export to point this tool (or any Atlas/AWS client) at them.
 * Used by `atlas-pl-export sandbox`, `setup --sandbox` and the tests (test/helpers/sandbox.ts).
 */
import { devNull } from 'node:os';
import type { AtlasSimulator, SimDelays, SimFaults } from '../sim/index.js';
import { startMoto, type MotoServer } from './moto.js';

export interface SandboxOptions {
  /** Atlas simulator port (default: any free port). */
  atlasPort?: number;
  /** moto's HTTPS port (default: any free port). */
  motoPort?: number;
  /**
   * Use this AWS endpoint instead of starting moto. Credentials come from AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY when both are set (and are then left out of `env`), else fake ones.
   */
  awsEndpoint?: string;
  /** Simulator delays; default DEFAULT_SANDBOX_DELAYS, paced for a human rehearsal. */
  delays?: Partial<SimDelays>;
  faults?: Partial<SimFaults>;
  /** Simulator seed file (default fixtures/sandbox-seed.json). */
  seedFile?: string;
}

export interface Sandbox {
  /** The settings to export: Atlas base URL and API key, AWS endpoint, credentials, region, CA. */
  env: Record<string, string>;
  atlas: AtlasSimulator;
  /** Absent when `awsEndpoint` was given. */
  moto?: MotoServer;
  /** Stops the simulator and moto; safe to call more than once. */
  stop(): Promise<void>;
}

/** Delays that let a person watch each stage: endpoint ~20 s, IAM propagation ~5 s, export ~5 s. */
export const DEFAULT_SANDBOX_DELAYS: Partial<SimDelays> = {
  endpointProvisionMs: 20_000,
  iamPropagationMs: 5_000,
  exportMs: 5_000,
};

/** Obviously fake credentials: moto accepts any. */
export const SANDBOX_AWS_ACCESS_KEY_ID = 'AKIASANDBOXNOTREAL01';
export const SANDBOX_AWS_SECRET_ACCESS_KEY = 'sandbox-secret-key-not-a-real-aws-secret';
export const SANDBOX_AWS_REGION = 'us-east-1';

interface AwsSide {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  caFile?: string;
  moto?: MotoServer;
  /** The credentials came from the caller's environment (an external endpoint): never echoed in `env`. */
  callerCredentials?: boolean;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const aws = await startAws(options);
  const awsEnv = awsEnvironment(aws);
  let atlas: AtlasSimulator;
  try {
    const { startAtlasSimulator } = await import('../sim/index.js');
    atlas = await startAtlasSimulator({
      ...(options.atlasPort !== undefined ? { port: options.atlasPort } : {}),
      ...(options.seedFile ? { seedFile: options.seedFile } : {}),
      aws: {
        endpoint: aws.endpoint,
        region: SANDBOX_AWS_REGION,
        accessKeyId: aws.accessKeyId,
        secretAccessKey: aws.secretAccessKey,
        ...(aws.caFile ? { caFile: aws.caFile } : {}),
      },
      delays: { ...DEFAULT_SANDBOX_DELAYS, ...options.delays },
      ...(options.faults ? { faults: options.faults } : {}),
    });
  } catch (error) {
    await aws.moto?.stop();
    throw error;
  }
  const owner = atlas.seed.credentials.owner;
  const env = {
    MONGODB_ATLAS_BASE_URL: atlas.url,
    MONGODB_ATLAS_PUBLIC_API_KEY: owner.publicKey,
    MONGODB_ATLAS_PRIVATE_API_KEY: owner.privateKey,
    ...awsEnv,
  };
  return { env, atlas, ...(aws.moto ? { moto: aws.moto } : {}), stop: stopper(atlas, aws.moto) };
}

async function startAws(options: SandboxOptions): Promise<AwsSide> {
  if (options.awsEndpoint) {
    const caFile = process.env.AWS_CA_BUNDLE;
    const own = process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY;
    return {
      endpoint: options.awsEndpoint,
      accessKeyId: own ? (process.env.AWS_ACCESS_KEY_ID ?? '') : SANDBOX_AWS_ACCESS_KEY_ID,
      secretAccessKey: own
        ? (process.env.AWS_SECRET_ACCESS_KEY ?? '')
        : SANDBOX_AWS_SECRET_ACCESS_KEY,
      callerCredentials: Boolean(own),
      ...(caFile ? { caFile } : {}),
    };
  }
  const moto = await startMoto(options.motoPort !== undefined ? { port: options.motoPort } : {});
  return {
    endpoint: moto.url,
    accessKeyId: SANDBOX_AWS_ACCESS_KEY_ID,
    secretAccessKey: SANDBOX_AWS_SECRET_ACCESS_KEY,
    caFile: moto.caFile,
    moto,
  };
}

function awsEnvironment(aws: AwsSide): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: aws.endpoint,
    ...(aws.callerCredentials
      ? {}
      : { AWS_ACCESS_KEY_ID: aws.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.secretAccessKey }),
    AWS_REGION: SANDBOX_AWS_REGION,
    // Read by boto3 and the AWS CLI (AWS_REGION by the SDKs for JavaScript, Go and Java): both, so
    // that neither a missing region nor another shell's AWS_DEFAULT_REGION gets in the way.
    AWS_DEFAULT_REGION: SANDBOX_AWS_REGION,
    ...(aws.caFile ? { AWS_CA_BUNDLE: aws.caFile, NODE_EXTRA_CA_CERTS: aws.caFile } : {}),
  };
}

/**
 * Settings of the caller's own environment (or of a .env file, loaded into it) that would send a
 * run somewhere else or give it other credentials than the sandbox's: every AWS_ variable (profile,
 * endpoint overrides, session token, config and credentials files, region, role and container
 * credentials...) and every MONGODB_ATLAS_ variable (a service account beside the sandbox's key,
 * another base URL).
 */
export function isCallerSetting(name: string): boolean {
  return /^(AWS_|MONGODB_ATLAS_)/.test(name);
}

/** Removes the caller's settings (see isCallerSetting) from `target`. */
export function clearCallerSettings(target: NodeJS.ProcessEnv): void {
  for (const name of Object.keys(target)) if (isCallerSetting(name)) delete target[name];
}

/**
 * Points `target` (process.env for `setup --sandbox`) at the sandbox and nothing else: the caller's
 * settings are removed, the sandbox's set, and the AWS SDK is kept from the caller's ~/.aws files and
 * from instance metadata, which would otherwise still supply a profile's endpoint or credentials.
 */
export function useSandboxEnvironment(
  target: NodeJS.ProcessEnv,
  env: Record<string, string>,
): void {
  clearCallerSettings(target);
  Object.assign(target, {
    AWS_CONFIG_FILE: devNull,
    AWS_SHARED_CREDENTIALS_FILE: devNull,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...env,
  });
}

function stopper(atlas: AtlasSimulator, moto: MotoServer | undefined): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      // Stop moto even if the simulator fails to close, then report the simulator's failure.
      const closed = await atlas.close().then(
        () => undefined,
        (error: unknown) => error,
      );
      await moto?.stop();
      if (closed) throw closed;
    })();
    return stopping;
  };
}
