/**
 * Turns AWS SDK failures into CliErrors with a plain message and a hint. Failures are classified by
 * the error's name / Code, its HTTP status and Node's network error codes, never by message text.
 * Messages name the action and resource we were attempting, never credentials or request headers.
 */
import { transportErrorCode, transportProblem, type TransportProblem } from '../atlas/retry.js';
import { CliError, ExitCode } from '../errors.js';

export interface AwsErrorContext {
  /** The IAM action we attempted, e.g. `s3:PutBucketPolicy`. */
  action: string;
  /** What it was attempted on, e.g. `bucket "my-exports"`. */
  resource?: string;
}

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

function shape(error: unknown): SdkErrorShape {
  return error && typeof error === 'object' ? (error as SdkErrorShape) : {};
}

/** The AWS error name (`NoSuchBucket`, `AccessDenied`, ...), or the Node error code for network errors. */
export function awsErrorName(error: unknown): string {
  const value = shape(error);
  return value.Code ?? value.name ?? value.code ?? 'UnknownError';
}

export function awsHttpStatus(error: unknown): number | undefined {
  return shape(error).$metadata?.httpStatusCode;
}

export function isAwsError(error: unknown, ...names: string[]): boolean {
  const value = shape(error);
  return names.some((name) => name === value.name || name === value.Code);
}

const NO_CREDENTIALS = ['CredentialsProviderError'];
const EXPIRED = ['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'RequestExpired'];
const REJECTED_CREDENTIALS = [
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
];
const ACCESS_DENIED = [
  'AccessDenied',
  'AccessDeniedException',
  'AllAccessDisabled',
  'UnauthorizedOperation',
];
/** Names the SDK gives a 403 whose body it could not read (HEAD requests, some S3-compatible endpoints). */
const BODYLESS = ['Forbidden', 'Unknown', 'UnknownError', '403'];
const THROTTLED = [
  'Throttling',
  'ThrottlingException',
  'SlowDown',
  'TooManyRequestsException',
  'RequestLimitExceeded',
];
/** A network failure (Node's error code, on the error or its cause), with what it means. */
function networkFailure(error: unknown): { code: string; problem: TransportProblem } | undefined {
  for (const candidate of [error, shape(error).cause]) {
    const code = transportErrorCode(candidate);
    const problem = transportProblem(code);
    if (problem) return { code, problem };
  }
  return undefined;
}

const NETWORK_HINTS: Partial<Record<TransportProblem, string>> = {
  refused:
    'Nothing accepts connections there: check AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) if set, your network, and any proxy or firewall.',
  dns: "The host name does not resolve: check AWS_ENDPOINT_URL for a typo if set, and this machine's DNS and network.",
  tls: 'The TLS handshake failed: if AWS_ENDPOINT_URL is set, check its scheme (an http:// endpoint cannot be reached with https://), and any proxy that intercepts TLS.',
  certificate:
    "The endpoint's certificate is not trusted: set AWS_CA_BUNDLE to the PEM file of the certificate authority that signed it (a proxy or private CA), or check AWS_ENDPOINT_URL.",
  notHttp: 'What answered does not speak HTTP: check the scheme and port in AWS_ENDPOINT_URL.',
};

function target(context: AwsErrorContext): string {
  return context.resource ? `${context.action} on ${context.resource}` : context.action;
}

function make(message: string, code: string, hint: string, cause: unknown): CliError {
  return new CliError(message, { code, hint, exitCode: ExitCode.cloud, cause });
}

/** A CliError (exit code "cloud") explaining an AWS failure; CliErrors pass through unchanged. */
export function awsError(error: unknown, context: AwsErrorContext): CliError {
  if (error instanceof CliError) return error;
  const name = awsErrorName(error);
  if (NO_CREDENTIALS.includes(name)) {
    // Credentials come from the environment: their absence is an environment error (exit 2).
    const profile = process.env.AWS_PROFILE?.trim();
    if (profile) {
      return new CliError(
        `No AWS credentials could be loaded from the profile "${profile}" (AWS_PROFILE) for ${target(context)}.`,
        {
          code: 'AWS_NO_CREDENTIALS',
          exitCode: ExitCode.usage,
          hint: `Check that the profile exists (\`aws configure list-profiles\`; it is read from ~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE) and has credentials; for an SSO profile run \`aws sso login --profile ${profile}\`. Or unset AWS_PROFILE to use other credentials.`,
          cause: error,
        },
      );
    }
    return new CliError(`No AWS credentials were found for ${target(context)}.`, {
      code: 'AWS_NO_CREDENTIALS',
      exitCode: ExitCode.usage,
      hint: 'configure AWS credentials: AWS_PROFILE (with `aws sso login` for SSO profiles), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance/container role.',
      cause: error,
    });
  }
  if (EXPIRED.includes(name)) {
    return make(
      `The AWS session has expired (${target(context)}).`,
      'AWS_CREDENTIALS_EXPIRED',
      'Refresh your credentials (for example `aws sso login --profile <name>`) and rerun; completed steps are kept.',
      error,
    );
  }
  if (REJECTED_CREDENTIALS.includes(name)) {
    return make(
      `AWS rejected the credentials in use (${name}) for ${target(context)}.`,
      'AWS_CREDENTIALS_REJECTED',
      'Check AWS_PROFILE / AWS_ACCESS_KEY_ID: the key may be deleted, mistyped, or belong to another partition.',
      error,
    );
  }
  if (ACCESS_DENIED.includes(name) || (awsHttpStatus(error) === 403 && BODYLESS.includes(name))) {
    return make(
      `AWS denied ${target(context)}: your identity is not allowed ${context.action}.`,
      'AWS_ACCESS_DENIED',
      `Grant ${context.action} to the identity you use (see \`aws sts get-caller-identity\`), or run with one that has it. An SCP or permissions boundary may also deny it.`,
      error,
    );
  }
  const network = networkFailure(error);
  if (network) {
    return make(
      `Could not reach the AWS endpoint for ${target(context)} (${network.code}).`,
      'AWS_UNREACHABLE',
      NETWORK_HINTS[network.problem] ??
        'Check your network or proxy, AWS_ENDPOINT_URL if set, and AWS_CA_BUNDLE for a private certificate authority.',
      error,
    );
  }
  if (THROTTLED.includes(name)) {
    return make(
      `AWS throttled ${target(context)} (${name}) after retries.`,
      'AWS_THROTTLED',
      'Wait a minute and rerun; raise AWS_MAX_ATTEMPTS if it keeps happening.',
      error,
    );
  }
  const status = awsHttpStatus(error);
  return make(
    `AWS refused ${target(context)}: ${name}${status ? ` (HTTP ${status})` : ''}.`,
    `AWS_${name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`,
    'Rerun with --debug for the AWS call trace.',
    error,
  );
}

/** Runs an AWS call, converting its failure with awsError. */
export async function withAwsErrors<T>(
  context: AwsErrorContext,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw awsError(error, context);
  }
}
