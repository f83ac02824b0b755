/** What the setup steps share: the resolved input, the session, the state and a per-run read cache. */
import type { ExportBucket, PrivateEndpoint } from '../atlas/types.js';
import type { RoleInfo } from '../aws/iam.js';
import type { BucketInspection } from '../aws/s3.js';
import type { Output } from '../output.js';
import type { Session } from '../session.js';
import type { StateFile } from '../state/schema.js';
import { writeState } from '../state/store.js';

export type Encryption = 'SSE-S3' | 'SSE-KMS';

export interface SetupInput {
  projectId: string;
  clusterName: string;
  bucket: {
    name: string;
    /** AWS form; undefined means the cluster's region */ region?: string;
    encryption: Encryption;
    kmsKeyArn?: string;
  };
  iamRoleName: string;
  /** 'latest' or a snapshot id. */
  exportNow?: string;
  /** Auto-export frequency: monthly or yearly (others are passed to Atlas). */
  schedule?: string;
  timeouts: { authorizeMs: number; endpointMs: number; exportMs: number };
  dryRun: boolean;
  /** Re-check every setting of recorded resources (more reads) and repair what drifted. */
  repair: boolean;
}

export interface SetupFacts {
  partition: string;
  /** Cluster region, Atlas form (US_EAST_1). */
  clusterRegion?: string;
  /** Bucket region, AWS form (us-east-1) and Atlas form (US_EAST_1). */
  bucketRegion?: string;
  bucketRegionAtlas?: string;
  /**
   * What preflight found of the resources the state does not record yet, so the plan can say what
   * will be created and what adopted: the bucket, the IAM role (null: none of that name), the live
   * private endpoint for the bucket's region and the Atlas export bucket for the S3 bucket (null: none).
   */
  found: {
    bucket?: BucketInspection;
    iamRole?: RoleInfo | null;
    endpoint?: PrivateEndpoint | null;
    exportBucket?: ExportBucket | null;
  };
}

export interface SetupContext {
  input: SetupInput;
  session: Session;
  out: Output;
  state: StateFile;
  facts: SetupFacts;
  /**
   * Whether save() writes. Off until the run is confirmed: preflight and the plan write nothing, so
   * a run refused or declined there leaves no state file behind. Always off on a dry run.
   */
  persist: boolean;
  /** Persists the state file now (atomically; calls are serialised). No-op on a dry run. */
  save(): Promise<void>;
  /** Runs `load` once per key during this run, so two steps never read the same resource twice. */
  memo<T>(key: string, load: () => Promise<T>): Promise<T>;
  /** Forgets a cached read after the resource changed. */
  forget(key: string): void;
}

export function createContext(
  init: Omit<SetupContext, 'save' | 'memo' | 'forget' | 'persist'>,
): SetupContext {
  const cache = new Map<string, Promise<unknown>>();
  let chain: Promise<void> = Promise.resolve();
  const ctx: SetupContext = {
    ...init,
    persist: false,
    save() {
      if (init.input.dryRun || !ctx.persist) return Promise.resolve();
      const next = chain.then(() => writeState(init.session.statePath, init.state));
      chain = next.catch(() => undefined);
      return next;
    },
    memo<T>(key: string, load: () => Promise<T>): Promise<T> {
      let value = cache.get(key) as Promise<T> | undefined;
      if (!value) {
        value = load();
        cache.set(key, value);
        value.catch(() => cache.delete(key));
      }
      return value;
    },
    forget(key: string) {
      cache.delete(key);
    },
  };
  return ctx;
}

/**
 * Marks a create as sent (so a rerun after a kill adopts what it made), and saves. The time is
 * that of this create: a recovery looks for what was made right then, not since an earlier attempt.
 */
export async function markPending(ctx: SetupContext, kind: string): Promise<void> {
  ctx.state.pending[kind] = new Date().toISOString();
  await ctx.save();
}

/**
 * How close to the recorded create a resource's creation time must be for a rerun to take it as
 * that create's result: the request goes out right after the mark is saved, so a minute either way
 * covers clock differences between this machine and the cloud.
 */
export const PENDING_WINDOW_MS = 60_000;

/** Whether `created` (a cloud's creation time) falls in the window around the pending create. */
export function createdByPending(since: Date, created: Date | string | undefined): boolean {
  if (created === undefined) return false;
  const at = typeof created === 'string' ? Date.parse(created) : created.getTime();
  return Number.isFinite(at) && Math.abs(at - since.getTime()) <= PENDING_WINDOW_MS;
}

/** The time a pending create was sent, if one is recorded. */
export function pendingSince(ctx: SetupContext, kind: string): Date | undefined {
  const at = ctx.state.pending[kind];
  return at ? new Date(at) : undefined;
}

export function clearPending(ctx: SetupContext, kind: string): void {
  delete ctx.state.pending[kind];
}
