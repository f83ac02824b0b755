/** Reading Atlas credentials and the base URL from the environment (nothing here touches the network). */
import { UsageError } from '../errors.js';
import { maskUrlCredentials, registerSecret } from '../secrets.js';

export type AtlasCredentials =
  | { kind: 'apiKey'; publicKey: string; privateKey: string }
  | { kind: 'serviceAccount'; clientId: string; clientSecret: string };

export const DEFAULT_BASE_URL = 'https://cloud.mongodb.com';

const API_KEY_VARS = ['MONGODB_ATLAS_PUBLIC_API_KEY', 'MONGODB_ATLAS_PRIVATE_API_KEY'] as const;
const SERVICE_ACCOUNT_VARS = ['MONGODB_ATLAS_CLIENT_ID', 'MONGODB_ATLAS_CLIENT_SECRET'] as const;

const CREDENTIALS_HINT =
  'Set MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY (an API key), or MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET (a service account), in the environment or in .env.';

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The pair's values, undefined when neither is set; throws when only one of the two is set. */
function readPair(
  env: NodeJS.ProcessEnv,
  names: readonly [string, string],
): [string, string] | undefined {
  const [a, b] = [read(env, names[0]), read(env, names[1])];
  if (a === undefined && b === undefined) return undefined;
  if (a === undefined || b === undefined) {
    const [set, missing] = a === undefined ? [names[1], names[0]] : [names[0], names[1]];
    throw new UsageError(`${set} is set but ${missing} is not.`, {
      code: 'ATLAS_CREDENTIALS_INCOMPLETE',
      hint: `Set ${missing} too, or unset ${set}.`,
    });
  }
  return [a, b];
}

/**
 * The Atlas credentials from the environment: an API key pair or a service account pair, never
 * both. The secret halves are registered for redaction before anything else can print them.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): AtlasCredentials {
  registerSecret(read(env, API_KEY_VARS[1]));
  registerSecret(read(env, SERVICE_ACCOUNT_VARS[1]));
  const apiKey = readPair(env, API_KEY_VARS);
  const account = readPair(env, SERVICE_ACCOUNT_VARS);
  if (apiKey && account) {
    throw new UsageError('Both an Atlas API key and an Atlas service account are set.', {
      code: 'ATLAS_CREDENTIALS_AMBIGUOUS',
      hint: 'Unset one pair: MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY or MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET.',
    });
  }
  if (apiKey) return { kind: 'apiKey', publicKey: apiKey[0], privateKey: apiKey[1] };
  if (account) return { kind: 'serviceAccount', clientId: account[0], clientSecret: account[1] };
  throw new UsageError('No Atlas credentials are set.', {
    code: 'ATLAS_CREDENTIALS_MISSING',
    hint: CREDENTIALS_HINT,
  });
}

/** MONGODB_ATLAS_BASE_URL (default https://cloud.mongodb.com), checked, without a trailing slash. */
export function baseUrlFromEnv(env: NodeJS.ProcessEnv): string {
  const raw = read(env, 'MONGODB_ATLAS_BASE_URL');
  if (raw === undefined) return DEFAULT_BASE_URL;
  // A URL with a user name and password in it is refused, and never printed with them.
  const invalid = (why: string) =>
    new UsageError(`MONGODB_ATLAS_BASE_URL (${maskUrlCredentials(raw)}) ${why}.`, {
      code: 'INVALID_ATLAS_BASE_URL',
      hint: `Set it to the Atlas origin, e.g. ${DEFAULT_BASE_URL}, or unset it.`,
    });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid('must start with https:// or http://');
  if (!url.hostname) throw invalid('names no host');
  if (url.username || url.password) throw invalid('must not contain credentials');
  if (url.search || url.hash) throw invalid('must not contain a query or fragment');
  if (url.pathname.includes('/api/atlas'))
    throw invalid('must not include the API path /api/atlas/v2');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
