/**
 * Turns AWS SDK failures into CliErrors with a plain message and a hint. Failures are classified by
 * the error's name / Code, its HTTP status and Node's network error codes, never by message text.
 * Messages name the action and resource we were attempting, never credentials or request headers.
 */
import { accessSync, constants } from 'node:fs';
import { transportErrorCode, transportProblem, type TransportProblem } from '../atlas/retry.js';
import { CliError, ExitCode } from '../errors.js';

/**
 * A failure of the SDK's credential chain (any of its links: environment keys, a profile, SSO, a
 * web-identity token file, container or instance credentials). `createAwsClients` wraps the clients'
 * credential provider so that whatever it throws (often a bare Node error, such as ENOENT for a
 * missing token file) is told apart from a call AWS refused. `cause` is the provider's own error.
 */
export class AwsCredentialsError extends Error {
  constructor(cause: unknown) {
    super('The AWS credential chain failed', { cause });
    this.name = 'AwsCredentialsError';
  }
}

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

/** Names the SDK's credential and token providers give their own failures. */
const NO_CREDENTIALS = ['CredentialsProviderError', 'TokenProviderError'];
/** Names that say nothing about what failed: the message then says what we know instead. */
const GENERIC = ['Error', 'UnknownError', 'Unknown', 'TypeError'];
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
  if (error instanceof AwsCredentialsError || NO_CREDENTIALS.includes(name))
    return credentialsError(error instanceof AwsCredentialsError ? error.cause : error, context);
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
  if (status === undefined) {
    // No answer from AWS: the SDK failed before or while sending (a client-side error).
    const code = shape(error).code;
    const what = [
      GENERIC.includes(name) ? undefined : name,
      code && code !== name ? code : undefined,
    ]
      .filter(Boolean)
      .join(' ');
    return make(
      `The AWS SDK could not complete ${target(context)}${what ? ` (${what})` : ''}: ${firstLine(shape(error).message) || 'no reason given'}.`,
      'AWS_SDK_ERROR',
      'Rerun with --debug to see the underlying error and the AWS call trace.',
      error,
    );
  }
  const answer = GENERIC.includes(name) ? 'an answer without an AWS error code' : name;
  return make(
    `AWS refused ${target(context)}: ${answer} (HTTP ${status}).`,
    `AWS_${(GENERIC.includes(name) ? `HTTP_${status}` : name).replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`,
    'Rerun with --debug for the AWS call trace.',
    error,
  );
}

function firstLine(text: string | undefined): string {
  return (
    (text ?? '')
      .trim()
      .split('\n')[0]
      ?.replace(/[.\s]+$/, '')
      .slice(0, 300) ?? ''
  );
}

/** Why `file` cannot be read (its Node error code), or undefined when it can. */
function unreadable(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/**
 * No credentials: an environment error (exit 2). The message names the settings involved and what
 * is wrong with them, the hint what to fix; the provider's own error is the cause (shown by --debug).
 */
function credentialsError(
  cause: unknown,
  context: AwsErrorContext,
  env: NodeJS.ProcessEnv = process.env,
): CliError {
  const value = (name: string) => env[name]?.trim() || undefined;
  const profile = value('AWS_PROFILE');
  const keyId = value('AWS_ACCESS_KEY_ID');
  const secret = value('AWS_SECRET_ACCESS_KEY');
  const role = value('AWS_ROLE_ARN');
  const tokenFile = value('AWS_WEB_IDENTITY_TOKEN_FILE');
  const problems: string[] = [];
  const fixes: string[] = [];
  if (profile) {
    // Keys beside the profile are ignored by the SDK; createAwsClients warns about that already.
    problems.push(`the profile "${profile}" (AWS_PROFILE) gave none`);
    fixes.push(
      `check that the profile exists (\`aws configure list-profiles\`; it is read from ~/.aws/config and ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE) and has credentials (for an SSO profile run \`aws sso login --profile ${profile}\`), or unset AWS_PROFILE to use other credentials`,
    );
  } else if (Boolean(keyId) !== Boolean(secret)) {
    const [set, unset] = keyId
      ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']
      : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID'];
    problems.push(`${set} is set but ${unset} is not`);
    fixes.push(`set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither`);
  }
  if (role && !tokenFile) {
    problems.push(`AWS_ROLE_ARN (${role}) is set but AWS_WEB_IDENTITY_TOKEN_FILE is not`);
    fixes.push(
      'set AWS_WEB_IDENTITY_TOKEN_FILE to the file holding the web-identity (OIDC) token your CI issues, or unset AWS_ROLE_ARN',
    );
  } else if (tokenFile && unreadable(tokenFile)) {
    problems.push(
      `AWS_WEB_IDENTITY_TOKEN_FILE names ${tokenFile}, which cannot be read (${unreadable(tokenFile)})`,
    );
    fixes.push(
      'point AWS_WEB_IDENTITY_TOKEN_FILE at the token file, and make sure the CI step that requests the OIDC token runs first and writes it there',
    );
  } else if (tokenFile && !role) {
    problems.push('AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not');
    fixes.push('set AWS_ROLE_ARN to the IAM role to assume with the token');
  } else if (tokenFile && role) {
    const refused =
      awsHttpStatus(cause) !== undefined ? ` (STS answered ${awsErrorName(cause)})` : '';
    problems.push(
      `the token in AWS_WEB_IDENTITY_TOKEN_FILE could not be exchanged for the role in AWS_ROLE_ARN (${role})${refused}`,
    );
    fixes.push(
      "check that the role's trust policy allows your CI's OIDC provider and this token's subject, and that the token has not expired",
    );
  }
  if (problems.length === 0) {
    return new CliError(`No AWS credentials were found for ${target(context)}.`, {
      code: 'AWS_NO_CREDENTIALS',
      exitCode: ExitCode.usage,
      hint: "configure AWS credentials: AWS_PROFILE (with `aws sso login` for SSO profiles), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE, or an instance/container role. Rerun with --debug to see the credential chain's own error.",
      cause,
    });
  }
  const hint = fixes.join('; ');
  const message =
    profile && problems.length === 1
      ? `No AWS credentials could be loaded from the profile "${profile}" (AWS_PROFILE) for ${target(context)}.`
      : `No AWS credentials could be loaded for ${target(context)}: ${problems.join('; ')}.`;
  return new CliError(message, {
    code: 'AWS_NO_CREDENTIALS',
    exitCode: ExitCode.usage,
    hint: `${hint.charAt(0).toUpperCase()}${hint.slice(1)}.`,
    cause,
  });
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
