/**
 * Atlas failures as CliErrors. Atlas's `errorCode` (never its message text) picks the explanation;
 * the HTTP status is the fallback for codes this table does not know.
 */
import { CliError, ExitCode } from '../errors.js';
import { matchRoute } from './operations.js';

export interface AtlasErrorInfo {
  status: number;
  errorCode: string;
  detail?: string;
  reason?: string;
  parameters?: unknown[];
  method?: string;
  path?: string;
  /** Which credentials were used, so the hint names the right variables. */
  credentialKind?: 'apiKey' | 'serviceAccount';
}

export class AtlasApiError extends CliError {
  readonly status: number;
  readonly errorCode: string;
  readonly detail: string | undefined;
  readonly reason: string | undefined;
  readonly parameters: unknown[] | undefined;

  constructor(
    info: AtlasErrorInfo,
    options: { cause?: unknown; message?: string; hint?: string } = {},
  ) {
    const explained = explainAtlasError(info);
    super(options.message ?? explained.message, {
      code: info.errorCode,
      hint: options.hint ?? explained.hint,
      exitCode: ExitCode.cloud,
      cause: options.cause,
    });
    this.name = 'AtlasApiError';
    this.status = info.status;
    this.errorCode = info.errorCode;
    this.detail = info.detail;
    this.reason = info.reason;
    this.parameters = info.parameters;
  }
}

export function isAtlasApiError(error: unknown, errorCode?: string): error is AtlasApiError {
  return (
    error instanceof AtlasApiError && (errorCode === undefined || error.errorCode === errorCode)
  );
}

type HintFn = (info: AtlasErrorInfo, project: string) => string;

const keyWord = (info: AtlasErrorInfo) =>
  info.credentialKind === 'serviceAccount' ? 'service account' : 'API key';

/** Explanations by Atlas errorCode. */
const BY_CODE: Record<string, HintFn> = {
  IP_ADDRESS_NOT_ON_ACCESS_LIST: (i) =>
    `Add this machine's egress IP${ipFrom(i)} to the ${keyWord(i)}'s access list (Organization > Access Manager > Applications), then rerun.`,
  ORG_REQUIRES_ACCESS_LIST: (i) =>
    `The organization requires an access list on every ${keyWord(i)}: add this machine's egress IP${ipFrom(i)} to it, then rerun.`,
  CANNOT_ASSUME_ROLE: () =>
    "Atlas could not assume the IAM role. Check that the role's trust policy names Atlas's AWS account ARN and the external id Atlas returned; a new role can take a few seconds to propagate in IAM, so rerun shortly.",
  CLOUD_PROVIDER_ACCESS_ROLE_NOT_AUTHORIZED: () =>
    'Authorize the Atlas cloud provider access role with the IAM role ARN first (rerun setup to do it), then retry.',
  CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND: (_i, p) =>
    `The Atlas cloud provider access role does not exist in ${p}; rerun setup to create it again.`,
  EXPORT_BUCKET_DELETE_FAILED_BUCKET_IN_USE: () =>
    'The export bucket is still in use: disable auto export on every cluster that exports to it and wait for running export jobs to finish, then delete it again.',
  INVALID_JSON_ATTRIBUTE: () =>
    'Atlas rejected a field of the request. If an IAM role id was involved, it must be the Atlas roleId (24 hex characters), not the AWS role id or ARN.',
  VERSION_GONE: () =>
    'This version of atlas-pl-export uses an Atlas API version that has been retired; upgrade atlas-pl-export.',
  RATE_LIMITED: () => 'Atlas is rate limiting these credentials; wait a minute and rerun.',
  RATE_LIMITED_TOKEN_BUCKET: () =>
    'Atlas is rate limiting these credentials; wait a minute and rerun.',
  GROUP_NOT_FOUND: (_i, p) =>
    `Check the project id (${p}): it must be the 24-hex id shown in Project Settings.`,
  INVALID_GROUP_ID: (_i, p) =>
    `Check the project id (${p}): it must be the 24-hex id shown in Project Settings.`,
};

/** Explanations by HTTP status, when the errorCode has none of its own. */
function byStatus(info: AtlasErrorInfo, project: string): string | undefined {
  const key = keyWord(info);
  const vars =
    info.credentialKind === 'serviceAccount'
      ? 'MONGODB_ATLAS_CLIENT_ID / MONGODB_ATLAS_CLIENT_SECRET'
      : 'MONGODB_ATLAS_PUBLIC_API_KEY / MONGODB_ATLAS_PRIVATE_API_KEY';
  if (info.status === 401) return unauthorizedHint(info, project, vars);
  if (info.status === 403) {
    const role = neededRole(info);
    return `The ${key} lacks a role this call needs${role ? ` (${role})` : ''}: give it the Project Owner role on ${project} (Project > Access Manager > Applications), then rerun.`;
  }
  if (info.status === 404)
    return `Check the ids and names given for ${project}; Atlas has no such resource.`;
  if (info.status === 409)
    return 'Atlas reports a conflict with the current state; run `atlas-pl-export status`, then rerun.';
  if (info.status === 429)
    return 'Atlas is rate limiting these credentials; wait a minute and rerun.';
  if (info.status >= 500)
    return 'Atlas had a problem on its side; wait a few minutes and rerun (see status.mongodb.com).';
  return undefined;
}

/**
 * Atlas answers 401 USER_UNAUTHORIZED alike for credentials it rejects and for credentials it accepts
 * that may not make the call (no role that covers it, or a key of another organization than the
 * project's), so the hint names both, with the role the call needs.
 */
function unauthorizedHint(info: AtlasErrorInfo, project: string, vars: string): string {
  const key = keyWord(info);
  const role = neededRole(info);
  const lacks = role ? `the role the call needs (${role})` : 'a role that covers the call';
  return (
    `Check ${vars}: Atlas answers 401 both when it rejects the ${key} and when the ${key} may not make this call, ` +
    `because it lacks ${lacks} or belongs to another organization. ` +
    `Use ${key === 'API key' ? 'an' : 'a'} ${key} of the organization that owns ${project} (or add the ${key} to the organization that owns ${project}) ` +
    `with the Project Owner role on ${project}, which covers every call atlas-pl-export makes.`
  );
}

/** The role the spec names for the failing call (`x-rolesRequirements`), when the call is known. */
function neededRole(info: AtlasErrorInfo): string | undefined {
  const path = info.path?.split('?')[0];
  return info.method && path ? matchRoute(info.method, path).match?.def.role : undefined;
}

export function explainAtlasError(info: AtlasErrorInfo): {
  message: string;
  hint: string | undefined;
} {
  const project = projectFrom(info.path);
  const hint = BY_CODE[info.errorCode]?.(info, project) ?? byStatus(info, project);
  return { message: messageFor(info), hint };
}

function messageFor(info: AtlasErrorInfo): string {
  const call = info.method && info.path ? `${info.method} ${info.path}` : 'the request';
  const what = info.status === 401 ? 'Atlas rejected the credentials for' : 'Atlas refused';
  const detail = info.detail ?? info.reason;
  const suffix = detail ? `: ${stripPeriod(detail)}` : '';
  return `${what} ${call} (${info.status} ${info.errorCode})${suffix}.`;
}

function stripPeriod(text: string): string {
  return text.trim().replace(/\.+$/, '');
}

function projectFrom(path: string | undefined): string {
  const match = path ? /\/groups\/([^/?]+)/.exec(path) : null;
  return match ? `project ${match[1]}` : 'the project';
}

/** The caller's IP when Atlas names it (first parameter, or an address in the detail). */
function ipFrom(info: AtlasErrorInfo): string {
  const fromParam = info.parameters?.find(
    (p) => typeof p === 'string' && /^[0-9a-f.:]+$/i.test(p) && /[.:]/.test(p),
  );
  const fromDetail = info.detail
    ? /\b(\d{1,3}(?:\.\d{1,3}){3})\b/.exec(info.detail)?.[1]
    : undefined;
  const ip = (fromParam as string | undefined) ?? fromDetail;
  return ip ? ` (${ip})` : '';
}
