/**
 * Turns AWS SDK failures into CliErrors with a plain message and a hint. Failures are classified by
 * the error's name / Code, its HTTP status and Node's network error codes, never by message text.
 * Messages name the action and resource we were attempting, never credentials or request headers.
 */
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
const NETWORK = [
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'TimeoutError',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/** Node network errors sometimes arrive wrapped; look one level into `cause` too. */
function networkCode(error: unknown): string | undefined {
  for (const candidate of [shape(error), shape(shape(error).cause)]) {
    const found = NETWORK.find((code) => code === candidate.code || code === candidate.name);
    if (found) return found;
  }
  return undefined;
}

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
    return make(
      `No AWS credentials were found for ${target(context)}.`,
      'AWS_NO_CREDENTIALS',
      'configure AWS credentials: AWS_PROFILE (with `aws sso login` for SSO profiles), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an instance/container role.',
      error,
    );
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
  const network = networkCode(error);
  if (network) {
    return make(
      `Could not reach the AWS endpoint for ${target(context)} (${network}).`,
      'AWS_UNREACHABLE',
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
