/**
 * Which Atlas and which AWS account a state file belongs to. Its ids mean nothing elsewhere: a run
 * pointed at another Atlas (MONGODB_ATLAS_BASE_URL) or holding another AWS account's credentials
 * would find none of them and build a second setup over the first. Every command that acts on a
 * state file compares what it talks to with what the file records, before any write.
 */
import { UsageError } from '../errors.js';
import type { StateFile } from './schema.js';

/** What a run found out about where it is: any field left out is not checked. */
export interface ObservedIdentity {
  /** The Atlas base URL in use (MONGODB_ATLAS_BASE_URL or its default). Compared by origin. */
  atlasBaseUrl?: string;
  /** The organization Atlas reports for the state's project (getGroup's orgId). */
  orgId?: string;
  /** The AWS account of the credentials in use. */
  awsAccountId?: string;
  /** How the account was learned, for the message (e.g. "from the IAM role's ARN"). */
  awsAccountSource?: string;
}

/** The origin (scheme, host, port) of an Atlas base URL; the text itself when it is not a URL. */
export function atlasOrigin(baseUrl: string): string {
  try {
    return new URL(baseUrl).origin;
  } catch {
    return baseUrl;
  }
}

/** The 12-digit account of an ARN (arn:partition:service:region:account:resource), if it has one. */
export function accountOfArn(arn: string | undefined): string | undefined {
  const account = arn?.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}

/**
 * Whether the state file holds anything to protect: a resource, a create in flight, an export.
 * A file that holds none of these (a run that stopped before creating anything) pins nothing.
 */
export function holdsResources(state: StateFile): boolean {
  return (
    Object.keys(state.resources).length > 0 ||
    Object.keys(state.pending).length > 0 ||
    state.exports.length > 0
  );
}

/**
 * Refuses (exit 2, nothing changed) when the Atlas origin, the project's organization or the AWS
 * account differs from what the state file records. Only fields present on both sides are compared,
 * and a state file that holds no resource is never refused.
 */
export function assertSameIdentity(
  state: StateFile,
  observed: ObservedIdentity,
  statePath: string,
): void {
  if (!holdsResources(state)) return;
  const recordedAtlas = state.atlas.baseUrl ? atlasOrigin(state.atlas.baseUrl) : undefined;
  if (observed.atlasBaseUrl && recordedAtlas) {
    const current = atlasOrigin(observed.atlasBaseUrl);
    if (current !== recordedAtlas) {
      throw new UsageError(
        `The state file ${statePath} records a setup in the Atlas at ${recordedAtlas}, but MONGODB_ATLAS_BASE_URL points at ${current}; nothing was changed.`,
        {
          code: 'STATE_OTHER_ATLAS',
          hint: `Set MONGODB_ATLAS_BASE_URL=${state.atlas.baseUrl} (or unset it if that is the default) to work on this setup, or use another --state file for a setup in ${current}.`,
        },
      );
    }
  }
  if (observed.orgId && state.atlas.orgId && observed.orgId !== state.atlas.orgId) {
    throw new UsageError(
      `The state file ${statePath} records project ${state.atlas.projectId} in organization ${state.atlas.orgId}, but Atlas now reports it in organization ${observed.orgId}; nothing was changed.`,
      {
        code: 'STATE_OTHER_ORG',
        hint: 'Check MONGODB_ATLAS_BASE_URL and the Atlas credentials: they must reach the Atlas and organization this setup was made in. If the project was moved on purpose, use another --state file.',
      },
    );
  }
  const recordedAccount = state.aws.accountId;
  if (
    observed.awsAccountId &&
    recordedAccount !== '000000000000' &&
    observed.awsAccountId !== recordedAccount
  ) {
    const source = observed.awsAccountSource ? ` (${observed.awsAccountSource})` : '';
    throw new UsageError(
      `The state file ${statePath} records AWS account ${recordedAccount}, but the AWS credentials in use belong to account ${observed.awsAccountId}${source}; nothing was changed.`,
      {
        code: 'STATE_OTHER_AWS_ACCOUNT',
        hint: `Use credentials of account ${recordedAccount} (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ...) for this setup, or use another --state file for a setup in account ${observed.awsAccountId}.`,
      },
    );
  }
}
