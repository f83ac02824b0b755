/**
 * Snapshot export jobs (2023-01-01): Queued -> InProgress -> Successful over delays.exportMs (or Failed
 * when the exportFailure knob was set at creation). When the job starts running (the first read after
 * the Queued phase), Atlas's own checks are made as they stand then: the role can be assumed, it may
 * write to the bucket, and a bucket that requires private networking has an ACTIVE private endpoint;
 * a job that fails one ends Failed with a stateReason saying why. The files are written once, when a
 * read first sees the job complete.
 */
import { HEX24, apiError, newId, paginate } from '../api-error.js';
import {
  type Handler,
  type HandlerContext,
  exportIneligibility,
  invalid,
  isoNow,
  missing,
  objectBody,
  requireCluster,
  selfLinks,
  toAtlasRegion,
} from '../context.js';
import type { Cluster, ExportBucket, ExportJob, PrivateEndpoint, Snapshot } from '../types.js';
import { findBucket } from './buckets.js';
import { endpointStatus } from './endpoints.js';

/** 2026-02-09T06:00:00Z -> 2026-02-09T0600 (the date segment of Atlas's export prefix). */
function initiationSegment(createdAt: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(createdAt);
  return m ? `${m[1]}T${m[2]}${m[3]}` : createdAt;
}

/**
 * An organization or project name as Atlas puts it in the export path: spaces become underscores,
 * and the characters S3 says may need special handling (& $ @ = ; / : + , ? and control characters)
 * or should be avoided (\ { } ^ % ` [ ] " < > ~ # | and non-printable bytes 128-255) are removed.
 */
export function pathName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/ /g, '_').replace(/[&$@=;/:+,?\\{}^%`[\]"<>~#|\x00-\x1f\x7f-\xff]/g, '');
}

function replicaSetNames(snapshot: Snapshot): string[] {
  // Data lives on the shards; the config server replica set holds none of the exported collections.
  if (snapshot.members)
    return snapshot.members.map((m) => m.replicaSetName).filter((name) => !/config/.test(name));
  return snapshot.replicaSetName ? [snapshot.replicaSetName] : [];
}

type JobState = 'Queued' | 'InProgress' | 'Successful' | 'Failed';

function phase(ctx: HandlerContext, job: ExportJob, now = Date.now()): JobState | 'Writing' {
  if (job.finished) return job.finished.ok ? 'Successful' : 'Failed';
  const elapsed = now - job.createdAtMs;
  if (elapsed < ctx.delays.exportMs / 4) return 'Queued';
  if (job.failure) {
    if (elapsed < ctx.delays.exportMs / 2) return 'InProgress';
    job.finished = {
      atMs: job.createdAtMs + ctx.delays.exportMs / 2,
      ok: false,
      message: job.failure.message,
    };
    return 'Failed';
  }
  return elapsed < ctx.delays.exportMs ? 'InProgress' : 'Writing';
}

/** Writes the export files exactly once, however many reads arrive at the same time. */
function writeFiles(ctx: HandlerContext, job: ExportJob): Promise<void> {
  job.writing ??= (async () => {
    const bucket = ctx.store.exportBuckets.find((b) => b._id === job.exportBucketId);
    const snapshot = ctx.store.snapshots.find((s) => s.id === job.snapshotId);
    const cluster = ctx.store.clusters.find(
      (c) => c.groupId === job.groupId && c.name === job.clusterName,
    );
    const group = ctx.store.groups.find((g) => g.id === job.groupId);
    const org = ctx.store.orgs.find((o) => o.id === group?.orgId);
    const roleArn = ctx.store.accessRoles.find(
      (r) => r.roleId === bucket?.iamRoleId && r.groupId === job.groupId,
    )?.iamAssumedRoleArn;
    let failure: StartFailure | undefined;
    try {
      if (!bucket || !snapshot || !cluster || !group || !org || !roleArn)
        throw new TypeError(
          'the export bucket, its role, the snapshot or the cluster no longer exists',
        );
      // Every object is written by Atlas's session of the role, so each key is checked against the
      // role's and the bucket's policies as they stand now.
      const access = await ctx.checks.loadExportAccess(ctx.aws, {
        roleArn,
        bucketName: bucket.bucketName,
        ...(job.sourceVpce ? { sourceVpce: job.sourceVpce } : {}),
      });
      if ('reason' in access) {
        failure = {
          errorCode: START_FAILURES.bucketNotWritable,
          message: `Atlas cannot write to S3 bucket ${bucket.bucketName} with role ${roleArn}: ${access.reason}`,
        };
      } else {
        const result = await ctx.checks.writeExportFiles(ctx.aws, {
          bucketName: bucket.bucketName,
          prefix: job.prefix.replace(/^\//, ''),
          meta: {
            orgId: org.id,
            orgName: org.name,
            groupId: group.id,
            groupName: group.name,
            clusterName: cluster.name,
            clusterUniqueId: cluster.id,
            snapshotId: snapshot.id,
            snapshotInitiationDate: snapshot.createdAt,
            replicaSetNames: replicaSetNames(snapshot),
            customData: job.customData,
          },
          collections: ctx.store.exportData[cluster.name] ?? [],
          access,
        });
        if (result.denied) {
          failure = {
            errorCode: START_FAILURES.bucketNotWritable,
            message: `Atlas could not write s3://${bucket.bucketName}/${result.denied.key} with role ${roleArn}: ${result.denied.reason}`,
          };
        }
      }
    } catch (error) {
      failure = { errorCode: 'EXPORT_FAILED', message: (error as Error).message };
    }
    if (failure) job.failure = failure;
    job.finished = {
      atMs: Date.now(),
      ok: !failure,
      ...(failure ? { message: failure.message } : {}),
    };
  })();
  return job.writing;
}

// Failure codes of a job that cannot start. Plausible, Atlas-like codes: Atlas does not document the
// errorCode values of an export job's stateReason.
const START_FAILURES = {
  bucketGone: 'EXPORT_BUCKET_NOT_FOUND',
  roleNotAuthorized: 'CLOUD_PROVIDER_ACCESS_ROLE_NOT_AUTHORIZED',
  cannotAssumeRole: 'CANNOT_ASSUME_ROLE',
  bucketNotWritable: 'EXPORT_BUCKET_NOT_ACCESSIBLE',
  noPrivateEndpoint: 'PRIVATE_ENDPOINT_NOT_ACTIVE_FOR_REGION',
} as const;

type StartFailure = { errorCode: string; message: string };

/**
 * Why the job cannot run now, as Atlas finds out when it assumes the role and writes over
 * PrivateLink; when it can, Atlas's `.permissioncheck` object is written (as Atlas does when an
 * export starts).
 */
async function startProblem(
  ctx: HandlerContext,
  job: ExportJob,
): Promise<StartFailure | undefined> {
  const bucket = ctx.store.exportBuckets.find(
    (b) => b._id === job.exportBucketId && b.groupId === job.groupId,
  );
  if (!bucket)
    return {
      errorCode: START_FAILURES.bucketGone,
      message: `Export bucket ${job.exportBucketId} no longer exists.`,
    };
  const role = ctx.store.accessRoles.find(
    (r) => r.roleId === bucket.iamRoleId && r.groupId === job.groupId,
  );
  if (!role?.iamAssumedRoleArn || !role.authorizedDate) {
    return {
      errorCode: START_FAILURES.roleNotAuthorized,
      message: `The Cloud Provider Access role ${bucket.iamRoleId} of export bucket ${bucket.bucketName} is not authorized.`,
    };
  }
  const roleArn = role.iamAssumedRoleArn;
  const assume = await ctx.checks.checkAssumeRole(ctx.aws, {
    roleArn,
    atlasAWSAccountArn: role.atlasAWSAccountArn,
    externalId: role.atlasAssumedRoleExternalId,
  });
  if (!assume.ok)
    return {
      errorCode: START_FAILURES.cannotAssumeRole,
      message: `Atlas could not assume the IAM role ${roleArn}: ${assume.reason}`,
    };
  if (bucket.requirePrivateNetworking) {
    const cluster = ctx.store.clusters.find(
      (c) => c.groupId === job.groupId && c.name === job.clusterName,
    );
    const route = privateRoute(ctx, bucket, {
      name: job.clusterName,
      regionName: cluster?.regionName ?? '',
    });
    if ('errorCode' in route) return route;
    job.sourceVpce = route.vpcEndpointId;
  }
  const write = await ctx.checks.checkExportPermissions(ctx.aws, {
    roleArn,
    bucketName: bucket.bucketName,
    ...(job.sourceVpce ? { sourceVpce: job.sourceVpce } : {}),
  });
  if (!write.ok) {
    return {
      errorCode: START_FAILURES.bucketNotWritable,
      message: `Atlas cannot write to S3 bucket ${bucket.bucketName} with role ${roleArn}: ${write.reason}`,
    };
  }
  await ctx.checks.writePermissionCheck(ctx.aws, bucket.bucketName);
  return undefined;
}

/**
 * The ACTIVE object-storage private endpoint an export from `cluster` to a private-networking
 * bucket goes through: regionName is the bucket's region and vpcRegionName the
 * cluster's (the same region for a same-region export, a cross-region endpoint otherwise).
 */
function privateRoute(
  ctx: HandlerContext,
  bucket: ExportBucket,
  cluster: { name: string; regionName: string },
): PrivateEndpoint | StartFailure {
  const regionName = toAtlasRegion(bucket.region);
  const live = ctx.store.privateEndpoints
    .filter((ep) => ep.groupId === bucket.groupId && ep.regionName === regionName)
    .map((ep) => ({ ep, status: endpointStatus(ep, ctx.delays) }))
    .filter((e) => e.status !== undefined);
  const active = live.filter((e) => e.status === 'ACTIVE');
  const route = active.find((e) => e.ep.vpcRegionName === cluster.regionName);
  if (route) return route.ep;
  const found = (list: typeof live) =>
    list.length
      ? ` (found: ${list.map((e) => `${e.ep.id} ${e.status} with vpcRegionName ${e.ep.vpcRegionName}`).join(', ')})`
      : ' (there is none)';
  if (active.length === 0) {
    return {
      errorCode: START_FAILURES.noPrivateEndpoint,
      message: `Export bucket ${bucket.bucketName} requires private networking, but the project has no ACTIVE Cloud Backup private endpoint in ${regionName}${found(live)}.`,
    };
  }
  if (cluster.regionName !== regionName) {
    return {
      errorCode: START_FAILURES.noPrivateEndpoint,
      message: `Export bucket ${bucket.bucketName} is in ${regionName} and requires private networking, but cluster ${cluster.name} runs in ${cluster.regionName}: an export across regions needs an ACTIVE cross-region Cloud Backup private endpoint with regionName ${regionName} and vpcRegionName ${cluster.regionName}${found(active)}.`,
    };
  }
  return {
    errorCode: START_FAILURES.noPrivateEndpoint,
    message: `Export bucket ${bucket.bucketName} requires private networking, but the project has no ACTIVE Cloud Backup private endpoint in ${regionName} whose vpcRegionName is ${regionName}, the region of cluster ${cluster.name}${found(active)}.`,
  };
}

/** Runs the start checks once per job; a failure makes the job fail like the exportFailure knob does. */
function startJob(ctx: HandlerContext, job: ExportJob): Promise<void> {
  job.starting ??= (async () => {
    if (job.failure) return; // the exportFailure knob decided already
    let problem: StartFailure | undefined;
    try {
      problem = await startProblem(ctx, job);
    } catch (error) {
      problem = {
        errorCode: START_FAILURES.bucketNotWritable,
        message: `Atlas could not reach AWS: ${(error as Error).message}`,
      };
    }
    if (problem) job.failure = problem;
  })();
  return job.starting;
}

async function render(ctx: HandlerContext, job: ExportJob): Promise<Record<string, unknown>> {
  let state = phase(ctx, job);
  if (state !== 'Queued' && !job.finished) {
    // The checks take a moment (IAM and S3 calls); this read answers for the instant it arrived.
    await startJob(ctx, job);
    if (job.failure) state = phase(ctx, job);
  }
  if (state === 'Writing') {
    await writeFiles(ctx, job);
    state = phase(ctx, job);
  }
  const elapsed = Date.now() - job.createdAtMs;
  const progress =
    state === 'Successful'
      ? 1
      : state === 'InProgress'
        ? Math.min(0.99, Math.max(0, elapsed / ctx.delays.exportMs))
        : 0;
  const out: Record<string, unknown> = {
    id: job.id,
    exportBucketId: job.exportBucketId,
    snapshotId: job.snapshotId,
    createdAt: isoNow(job.createdAtMs),
    state,
    prefix: job.prefix,
    customData: job.customData,
    exportStatus: {
      exportedCollections: Math.floor(job.totalCollections * progress),
      totalCollections: job.totalCollections,
    },
    links: selfLinks(
      `${ctx.baseUrl}/api/atlas/v2/groups/${job.groupId}/clusters/${job.clusterName}/backup/exports/${job.id}`,
    ),
  };
  if (job.components) out.components = job.components;
  if (job.finished) out.finishedAt = isoNow(job.finished.atMs);
  if (state === 'Failed' && job.failure)
    out.stateReason = { errorCode: job.failure.errorCode, message: job.failure.message };
  return out;
}

function clusterJobs(ctx: HandlerContext, cluster: Cluster): ExportJob[] {
  return ctx.store.exportJobs.filter(
    (j) => j.groupId === cluster.groupId && j.clusterName === cluster.name,
  );
}

export const listExports: Handler = async (ctx) => {
  const cluster = requireCluster(ctx);
  const jobs = await Promise.all(clusterJobs(ctx, cluster).map((j) => render(ctx, j)));
  return paginate(jobs, ctx.query, ctx.selfUrl);
};

export const getExport: Handler = async (ctx) => {
  const cluster = requireCluster(ctx);
  const job = clusterJobs(ctx, cluster).find((j) => j.id === ctx.params.exportId);
  if (!job)
    throw apiError(404, 'EXPORT_JOB_NOT_FOUND', `Export job ${ctx.params.exportId} not found.`, [
      ctx.params.exportId,
    ]);
  return render(ctx, job);
};

function validateBody(ctx: HandlerContext): {
  snapshotId: string;
  exportBucketId: string;
  customData: ExportJob['customData'];
} {
  const body = objectBody(ctx);
  const unknown = Object.keys(body).find(
    (key) => !['snapshotId', 'exportBucketId', 'customData'].includes(key),
  );
  if (unknown)
    throw apiError(400, 'INVALID_JSON_ATTRIBUTE', `Invalid attribute ${unknown} specified.`, [
      unknown,
    ]);
  for (const field of ['snapshotId', 'exportBucketId']) {
    if (body[field] === undefined) missing(field);
    if (typeof body[field] !== 'string' || !HEX24.test(body[field])) invalid(field, body[field]);
  }
  const customData = body.customData ?? [];
  if (
    !Array.isArray(customData) ||
    customData.some((d) => !d || typeof d.key !== 'string' || typeof d.value !== 'string')
  ) {
    invalid('customData', JSON.stringify(customData));
  }
  return {
    snapshotId: body.snapshotId as string,
    exportBucketId: body.exportBucketId as string,
    customData: customData as ExportJob['customData'],
  };
}

/** Refusals below use Atlas-like codes; Atlas's exact codes for these cases are not documented. */
function exportableSnapshot(ctx: HandlerContext, cluster: Cluster, snapshotId: string): Snapshot {
  const type = cluster.clusterType === 'SHARDED' ? 'shardedCluster' : 'replicaSet';
  const snapshot = ctx.store.snapshots.find(
    (s) =>
      s.id === snapshotId &&
      s.groupId === cluster.groupId &&
      s.clusterName === cluster.name &&
      s.type === type,
  );
  if (!snapshot)
    throw apiError(404, 'SNAPSHOT_NOT_FOUND', `Snapshot ${snapshotId} not found.`, [snapshotId]);
  if (snapshot.snapshotType === 'fallback') {
    throw apiError(
      400,
      'CANNOT_EXPORT_FALLBACK_SNAPSHOT',
      `Snapshot ${snapshotId} is a fallback snapshot; fallback snapshots cannot be exported.`,
      [snapshotId],
    );
  }
  if (snapshot.status !== 'completed') {
    throw apiError(
      400,
      'SNAPSHOT_NOT_COMPLETE',
      `Snapshot ${snapshotId} is ${snapshot.status}; only completed snapshots can be exported.`,
      [snapshotId],
    );
  }
  const running = ctx.store.exportJobs.find(
    (j) =>
      j.snapshotId === snapshotId &&
      !j.finished &&
      !(j.failure && Date.now() - j.createdAtMs >= ctx.delays.exportMs / 2),
  );
  if (running) {
    throw apiError(
      400,
      'EXPORT_ALREADY_IN_PROGRESS',
      `Snapshot ${snapshotId} is already being exported (export ${running.id}).`,
      [snapshotId, running.id],
    );
  }
  return snapshot;
}

export const createExport: Handler = (ctx) => {
  const cluster = requireCluster(ctx);
  const why = exportIneligibility(cluster);
  if (why) throw apiError(400, why.errorCode, why.detail, [cluster.name]);
  const input = validateBody(ctx);
  findBucket(ctx, input.exportBucketId, 400);
  const snapshot = exportableSnapshot(ctx, cluster, input.snapshotId);
  const group = ctx.store.groups.find((g) => g.id === cluster.groupId);
  const org = ctx.store.orgs.find((o) => o.id === group?.orgId);
  const now = Date.now();
  const job: ExportJob = {
    id: newId(),
    groupId: cluster.groupId,
    clusterName: cluster.name,
    snapshotId: snapshot.id,
    exportBucketId: input.exportBucketId,
    createdAtMs: now,
    prefix: `/exported_snapshots/${pathName(org?.name ?? '')}/${pathName(group?.name ?? '')}/${cluster.name}/${initiationSegment(snapshot.createdAt)}/${Math.floor(now / 1000)}`,
    customData: input.customData,
    totalCollections: (ctx.store.exportData[cluster.name] ?? []).length,
  };
  if (snapshot.members)
    job.components = snapshot.members.map((m) => ({
      exportId: newId(),
      replicaSetName: m.replicaSetName,
    }));
  if (ctx.faults.exportFailure) job.failure = { ...ctx.faults.exportFailure };
  ctx.store.exportJobs.push(job);
  return render(ctx, job);
};
