/**
 * What every cloud-facing command shares: where the state file is, the Atlas client, the AWS clients
 * (created on first use, for the bucket's region), and counts of the calls made (reads and writes),
 * which --json summaries report and the benchmark reads.
 */
import { resolve } from 'node:path';
import { baseUrlFromEnv } from './atlas/credentials.js';
import type { AtlasClient } from './atlas/http.js';
import { checkAwsEndpointSettings, type AwsClients } from './aws/clients.js';
import type { Output } from './output.js';
import type { StateFile } from './state/schema.js';
import { DEFAULT_STATE_PATH } from './state/store.js';

export interface CallCounts {
  atlas: { reads: number; writes: number };
  aws: { reads: number; writes: number };
}

export interface Session {
  out: Output;
  statePath: string;
  /** The Atlas base URL in use (MONGODB_ATLAS_BASE_URL or its default). */
  atlasBaseUrl: string;
  counts: CallCounts;
  /** The Atlas client; credentials are read from the environment on first use. */
  atlas(): Promise<AtlasClient>;
  /** AWS clients for a region (the bucket's); one set per region. */
  aws(region?: string): Promise<AwsClients>;
  close(): Promise<void>;
  /**
   * Refuses (exit 2) when the AWS credentials belong to another account than the state file
   * records: one sts:GetCallerIdentity, for commands about to read or change the AWS side.
   */
  assertAwsAccount(state: StateFile, region?: string): Promise<void>;
  /** Starts loading the Atlas HTTP client in the background, so the first Atlas call goes out sooner. */
  warmUp(): void;
}

const open = new Set<Session>();

/** Closes every session's connections (keep-alive sockets would otherwise hold the process open). */
export async function closeSessions(): Promise<void> {
  const sessions = [...open];
  open.clear();
  await Promise.all(sessions.map((session) => session.close()));
}

export function statePathFrom(options: Record<string, unknown>): string {
  return resolve(typeof options.state === 'string' ? options.state : DEFAULT_STATE_PATH);
}

/**
 * Checks the settings that say where the clouds are (MONGODB_ATLAS_BASE_URL, AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE>): a malformed one is a usage error (exit 2) before any call is made.
 */
export function checkEndpointSettings(env: NodeJS.ProcessEnv = process.env): void {
  baseUrlFromEnv(env);
  checkAwsEndpointSettings(env);
}

/** A session for one command; the endpoint settings are checked first (see checkEndpointSettings). */
export function openSession(
  out: Output,
  options: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Session {
  checkEndpointSettings(env);
  const counts: CallCounts = { atlas: { reads: 0, writes: 0 }, aws: { reads: 0, writes: 0 } };
  let atlas: Promise<AtlasClient> | undefined;
  const awsByRegion = new Map<string, Promise<AwsClients>>();
  const session: Session = {
    out,
    statePath: statePathFrom(options),
    atlasBaseUrl: baseUrlFromEnv(env),
    counts,
    atlas() {
      atlas ??= (async () => {
        const { AtlasClient, baseUrlFromEnv, credentialsFromEnv } = await import('./atlas/http.js');
        return new AtlasClient({
          baseUrl: baseUrlFromEnv(env),
          credentials: credentialsFromEnv(env),
          out,
          onCall: (call) => {
            counts.atlas[call.kind === 'read' ? 'reads' : 'writes'] += 1;
          },
        });
      })();
      return atlas;
    },
    aws(region) {
      const key = region ?? '';
      let clients = awsByRegion.get(key);
      if (!clients) {
        clients = (async () => {
          const { createAwsClients } = await import('./aws/clients.js');
          return createAwsClients({
            region,
            env,
            out,
            onCall: (call) => {
              counts.aws[call.kind === 'read' ? 'reads' : 'writes'] += 1;
              out.debug(`aws ${call.service} ${call.operation}`);
            },
          });
        })();
        awsByRegion.set(key, clients);
      }
      return clients;
    },
    warmUp() {
      const quietly = (load: Promise<unknown>) => void load.catch(() => undefined);
      quietly(import('urllib'));
      quietly(import('./atlas/http.js'));
    },
    async assertAwsAccount(state, region) {
      if (!state.aws.accountId) return;
      const [{ getCallerIdentity }, { assertSameIdentity }] = await Promise.all([
        import('./aws/sts.js'),
        import('./state/identity.js'),
      ]);
      const identity = await getCallerIdentity(await session.aws(region));
      assertSameIdentity(
        state,
        { awsAccountId: identity.account, awsAccountSource: 'from STS GetCallerIdentity' },
        session.statePath,
      );
    },
    async close() {
      if (atlas) await (await atlas.catch(() => undefined))?.close();
      for (const clients of awsByRegion.values()) {
        const set = await clients.catch(() => undefined);
        set?.s3.destroy();
        set?.iam.destroy();
        set?.sts.destroy();
      }
    },
  };
  open.add(session);
  return session;
}
