/** What the setup steps share: the resolved input, the session, the state and a per-run read cache. */
import type { BackupSchedule, ExportBucket, PrivateEndpoint } from '../atlas/types.js';
import type { RoleInfo } from '../aws/iam.js';
import type { BucketChange, BucketInspection, BucketSecurity } from '../aws/s3.js';
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
  /**
   * An existing bucket this setup does not record: its settings, and what adopting it changes
   * (never its object ownership, never a weaker encryption). Absent when the bucket is the result of
   * this setup's own interrupted create (`bucketRecovered`), which gets every setting as on a create.
   */
  bucketAdoption?: { security: BucketSecurity; changes: BucketChange[] };
  /** The existing bucket is what an interrupted create of this setup made (created in its window). */
  bucketRecovered?: boolean;
  /** The existing IAM role is what an interrupted create of this setup made. */
  iamRoleRecovered?: boolean;
  /** The cluster's backup schedule, read in preflight when this run turns auto-export on. */
  schedule?: BackupSchedule;
  /** Why the auto-export asked for would export nothing (no snapshot policy item of its frequency). */
  scheduleWarning?: string;
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
export async function markPending(ctx: SetupContext, kind: string): Promise<Date> {
  const at = new Date();
  ctx.state.pending[kind] = at.toISOString();
  await ctx.save();
  return at;
}

/**
 * How far a cloud's clock (and the whole seconds some of them report creation times in) may be
 * from this machine's. A resource created more than this before a create was sent is not its result.
 */
export const CLOCK_SKEW_MS = 2_000;

/**
 * How long an AWS create (S3 CreateBucket, IAM CreateRole) of a killed run could have taken after
 * its pending mark: the SDK's attempts (three in the standard retry mode), each allowed 10 s to
 * connect, with their backoff.
 */
export const AWS_CREATE_MS = 60_000;

/**
 * Whether `created` (a cloud's creation time) falls in the window a create could have taken: from
 * its pending mark (less the clock-skew margin) to `until` (the answer, or the longest the request
 * could have taken; plus the margin). Outside it, the resource was someone else's create.
 */
export function createdInWindow(
  since: Date,
  until: Date,
  created: Date | string | undefined,
): boolean {
  if (created === undefined) return false;
  const at = typeof created === 'string' ? Date.parse(created) : created.getTime();
  return (
    Number.isFinite(at) &&
    at >= since.getTime() - CLOCK_SKEW_MS &&
    at <= until.getTime() + CLOCK_SKEW_MS
  );
}

/** Whether a resource made by an AWS create of a killed run, pending since `since`, was created at `created`. */
export function createdByPending(since: Date, created: Date | string | undefined): boolean {
  return createdInWindow(since, new Date(since.getTime() + AWS_CREATE_MS), created);
}

/**
 * Whether a resource made by an Atlas create of a killed run, pending since `since`, was created at
 * `created`: Atlas makes it while the request is open, and the client gives a request at most
 * DEFAULT_TIMEOUT_MS.
 */
export function createdByAtlasPending(
  since: Date,
  created: Date | string | undefined,
  timeoutMs: number,
): boolean {
  return createdInWindow(since, new Date(since.getTime() + timeoutMs), created);
}

/** The time a pending create was sent, if one is recorded. */
export function pendingSince(ctx: SetupContext, kind: string): Date | undefined {
  const at = ctx.state.pending[kind];
  return at ? new Date(at) : undefined;
}

export function clearPending(ctx: SetupContext, kind: string): void {
  delete ctx.state.pending[kind];
}
