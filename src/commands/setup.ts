/**
 * `atlas-pl-export setup`: the whole PrivateLink export runbook as one resumable run.
 *
 * Order of work: resolve the input (flags over config file over state file), refuse bad or missing
 * values before any cloud call, take the state-file lock, ask for what is missing (interactive
 * only), show the plan and its charges, then run the steps, saving the state after each.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  failWithProblems,
  isInteractive,
  readConfigFile,
  secondsOption,
  type SetupConfig,
} from '../config.js';
import { AbortError, CliError, ExitCode, UsageError } from '../errors.js';
import type { Output } from '../output.js';
import type { CommandContext } from '../run.js';
import { openSession, type Session } from '../session.js';
import type { StateFile } from '../state/schema.js';
import { assertStateWritable, lockState, newState, readState } from '../state/store.js';
import { createContext, type Encryption, type SetupInput } from '../setup/context.js';
import { runSteps, type StepResult } from '../setup/runner.js';
import { buildSteps, type StepId } from '../setup/steps.js';
import { formatDuration } from '../wait.js';
import { chargesNotice } from '../setup/charges.js';
import type { Check } from '../validate.js';
import { toAwsRegion } from '../regions.js';

const DEFAULT_TIMEOUTS = { authorizeSeconds: 300, endpointSeconds: 1800, exportSeconds: 3600 };

/** What the flags and the config file say, before prompting; every field may still be missing. */
interface Draft {
  projectId?: string;
  clusterName?: string;
  bucketName?: string;
  region?: string;
  encryption?: string;
  kmsKeyArn?: string;
  iamRoleName?: string;
  exportNow?: string;
  schedule?: string;
  timeouts: { authorizeMs: number; endpointMs: number; exportMs: number };
  repair: boolean;
}

export async function run({ options, out }: CommandContext): Promise<number> {
  let stopSandbox: (() => Promise<void>) | undefined;
  try {
    if (options.sandbox) stopSandbox = await startOwnSandbox(options, out, isInteractive(options));
    return await setup(options, out);
  } finally {
    if (stopSandbox) {
      await stopSandbox();
      out.info('The sandbox was stopped; everything it held is gone.');
    }
  }
}

async function setup(options: Record<string, unknown>, out: Output): Promise<number> {
  const interactive = isInteractive(options);
  const config: SetupConfig =
    typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const draft = mergeDraft(options, config);
  const session = openSession(out, options);
  session.warmUp();
  const dryRun = Boolean(options.dryRun);

  // Values given but malformed fail now, all together, before the state file or any cloud is touched.
  await validateDraft(draft);
  if (!dryRun) await assertStateWritable(session.statePath);
  const lock = dryRun ? undefined : lockState(session.statePath, (message) => out.warn(message));
  try {
    const previous = readState(session.statePath);
    fillFromState(draft, previous);
    if (interactive) await askForMissing(draft, session, out);
    const input = finish(draft, dryRun);
    checkAgainstState(input, previous, session.statePath);
    const state =
      previous ??
      newState({
        atlas: { baseUrl: '', projectId: input.projectId, clusterName: input.clusterName },
        aws: { accountId: '000000000000', region: input.bucket.region ?? 'us-east-1' },
      });
    state.atlas.baseUrl = (await import('../atlas/credentials.js')).baseUrlFromEnv(process.env);
    state.plan = {
      bucketName: input.bucket.name,
      ...(input.bucket.region ? { bucketRegion: input.bucket.region } : {}),
      encryption: input.bucket.encryption,
      ...(input.bucket.kmsKeyArn ? { kmsKeyArn: input.bucket.kmsKeyArn } : {}),
      iamRoleName: input.iamRoleName,
      ...(input.exportNow ? { exportNow: input.exportNow } : {}),
      ...(input.schedule ? { schedule: input.schedule } : {}),
    };

    printPlan(out, input, previous, session.statePath);
    if (!dryRun && !previous?.completedSteps.includes('exportBucket'))
      out.info(`\n${chargesNotice()}\n`);
    if (interactive && !options.yes && !dryRun) {
      const { confirm } = await import('@inquirer/prompts');
      const go = await confirm(
        { message: 'Make these changes?', default: true },
        { output: process.stderr },
      );
      if (!go) throw new AbortError('Nothing was changed.');
    }
    return await execute(
      input,
      state,
      session,
      out,
      Boolean(options.json),
      Boolean(options.sandbox),
    );
  } finally {
    lock?.release();
  }
}

function mergeDraft(options: Record<string, unknown>, config: SetupConfig): Draft {
  const str = (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  const seconds = (
    flag: string,
    fromFlag: unknown,
    fromConfig: number | undefined,
    fallback: number,
  ) => (secondsOption(flag, fromFlag) ?? fromConfig ?? fallback) * 1000;
  return {
    projectId: str(options.projectId) ?? config.projectId,
    clusterName: str(options.cluster) ?? config.clusterName,
    bucketName: str(options.bucket) ?? config.bucket?.name,
    region: str(options.region) ?? config.bucket?.region,
    encryption: str(options.encryption) ?? config.bucket?.encryption,
    kmsKeyArn: str(options.kmsKeyArn) ?? config.bucket?.kmsKeyArn,
    iamRoleName: str(options.iamRoleName) ?? config.iamRoleName,
    exportNow: str(options.exportNow) ?? config.exportNow?.snapshotId,
    schedule: str(options.schedule) ?? config.schedule?.frequency,
    timeouts: {
      authorizeMs: seconds(
        '--authorize-timeout',
        options.authorizeTimeout,
        config.timeouts?.authorizeSeconds,
        DEFAULT_TIMEOUTS.authorizeSeconds,
      ),
      endpointMs: seconds(
        '--endpoint-timeout',
        options.endpointTimeout,
        config.timeouts?.endpointSeconds,
        DEFAULT_TIMEOUTS.endpointSeconds,
      ),
      exportMs: (config.timeouts?.exportSeconds ?? DEFAULT_TIMEOUTS.exportSeconds) * 1000,
    },
    repair: Boolean(options.repair),
  };
}

/** Checks every value that was given; missing ones are checked after prompting. */
async function validateDraft(draft: Draft): Promise<void> {
  const v = await import('../validate.js');
  const { parseRegion, privateEndpointRegions } = await import('../regions.js');
  const given = (<Check[]>[
    ['project id', draft.projectId, v.validateProjectId],
    ['cluster name', draft.clusterName, v.validateClusterName],
    ['bucket name', draft.bucketName, v.validateBucketName],
    ['IAM role name', draft.iamRoleName, v.validateRoleName],
    ['KMS key ARN', draft.kmsKeyArn, v.validateKmsKeyArn],
  ]).filter(([, value]) => value !== undefined);
  const problems = v.collectProblems(given);
  if (draft.region) {
    // The bucket's region is where the object-storage private endpoint goes, so it must be one of those.
    const region = parseRegion(draft.region, {
      allowed: privateEndpointRegions,
      label: 'bucket region',
    });
    if (!region.ok) problems.push(region.problem);
  }
  if (draft.encryption && draft.encryption !== 'SSE-S3' && draft.encryption !== 'SSE-KMS') {
    problems.push(`encryption "${draft.encryption}": must be SSE-S3 or SSE-KMS`);
  }
  if (
    draft.kmsKeyArn &&
    v.validateKmsKeyArn(draft.kmsKeyArn) === undefined &&
    v.isKmsAliasArn(draft.kmsKeyArn)
  ) {
    // IAM grants on an alias ARN do not cover the key behind it, so the role would not be able to encrypt.
    problems.push(
      `KMS key ARN "${draft.kmsKeyArn}": names an alias; give the key's own ARN (arn:aws:kms:<region>:<account>:key/<id>), since IAM permissions on an alias do not cover its key`,
    );
  }
  if (draft.encryption === 'SSE-KMS' && !draft.kmsKeyArn)
    problems.push('encryption SSE-KMS needs a KMS key ARN (--kms-key-arn or bucket.kmsKeyArn)');
  if (draft.kmsKeyArn && draft.encryption !== 'SSE-KMS' && draft.encryption !== undefined) {
    problems.push('a KMS key ARN was given but encryption is not SSE-KMS');
  }
  if (draft.exportNow && draft.exportNow !== 'latest') {
    const problem = v.validateSnapshotId(draft.exportNow, 'snapshot to export now');
    if (problem) problems.push(`${problem} (or "latest")`);
  }
  if (draft.schedule !== undefined && draft.schedule !== 'monthly' && draft.schedule !== 'yearly') {
    // Atlas enables other frequencies per project; `atlas-pl-export schedule --frequency` passes those on.
    problems.push(
      `schedule frequency "${draft.schedule}": must be monthly or yearly (for another frequency Atlas enabled for your project, use \`atlas-pl-export schedule --frequency\` after setup)`,
    );
  }
  failWithProblems(
    problems,
    'Fix the values above (flags or config file) and run again; nothing was changed.',
  );
}

/** A rerun takes what the state file recorded for anything the flags and config leave out. */
function fillFromState(draft: Draft, state: StateFile | undefined): void {
  if (!state) return;
  const plan = state.plan;
  draft.projectId ??= state.atlas.projectId;
  draft.clusterName ??= state.atlas.clusterName;
  draft.bucketName ??= state.resources.bucket?.name ?? plan?.bucketName;
  draft.region ??=
    state.resources.bucket?.region ??
    plan?.bucketRegion ??
    (state.completedSteps.includes('preflight') ? state.aws.region : undefined);
  draft.encryption ??= state.resources.bucket?.encryption ?? plan?.encryption;
  draft.kmsKeyArn ??= state.resources.bucket?.kmsKeyArn ?? plan?.kmsKeyArn;
  draft.iamRoleName ??= state.resources.iamRole?.name ?? plan?.iamRoleName;
  draft.schedule ??= state.resources.schedule?.frequency ?? plan?.schedule;
  if (!state.completedSteps.includes('exportNow')) draft.exportNow ??= plan?.exportNow;
}

/** Names the project too, so two projects' clusters of the same name never share a role in one AWS account. */
function defaultRoleName(clusterName: string, projectId: string): string {
  const suffix = `-${projectId.slice(-6)}`;
  return (
    `atlas-pl-export-${clusterName}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64 - suffix.length) +
    suffix
  );
}

/** Turns the draft into the input, or fails listing every missing value (non-interactive runs). */
function finish(draft: Draft, dryRun: boolean): SetupInput {
  const missing: string[] = [];
  if (!draft.projectId) missing.push('project id: --project-id or "projectId" in the config file');
  if (!draft.clusterName) missing.push('cluster name: --cluster or "clusterName"');
  if (!draft.bucketName) missing.push('bucket name: --bucket or "bucket.name"');
  failWithProblems(
    missing.map((item) => `missing ${item}`),
    'Pass the missing values as flags or in --config FILE (see atlas-pl-export.example.json); nothing was changed.',
  );
  return {
    projectId: draft.projectId!,
    clusterName: draft.clusterName!,
    bucket: {
      name: draft.bucketName!,
      region: draft.region ? toAwsRegion(draft.region) : undefined,
      encryption: (draft.encryption ?? 'SSE-S3') as Encryption,
      kmsKeyArn: draft.kmsKeyArn,
    },
    iamRoleName: draft.iamRoleName ?? defaultRoleName(draft.clusterName!, draft.projectId!),
    exportNow: draft.exportNow,
    schedule: draft.schedule,
    timeouts: draft.timeouts,
    dryRun,
    repair: draft.repair,
  };
}

/** The state file belongs to one setup; refuse to point it at another project, cluster or bucket. */
function checkAgainstState(input: SetupInput, state: StateFile | undefined, path: string): void {
  if (!state) return;
  const clashes: string[] = [];
  if (state.atlas.projectId !== input.projectId)
    clashes.push(`project ${state.atlas.projectId} (asked: ${input.projectId})`);
  if (state.atlas.clusterName !== input.clusterName)
    clashes.push(`cluster ${state.atlas.clusterName} (asked: ${input.clusterName})`);
  const bucket =
    state.resources.bucket?.name ?? (state.pending.bucket ? state.plan?.bucketName : undefined);
  if (bucket && bucket !== input.bucket.name)
    clashes.push(`bucket ${bucket} (asked: ${input.bucket.name})`);
  const role =
    state.resources.iamRole?.name ?? (state.pending.iamRole ? state.plan?.iamRoleName : undefined);
  if (role && role !== input.iamRoleName)
    clashes.push(`IAM role ${role} (asked: ${input.iamRoleName})`);
  if (clashes.length > 0) {
    throw new UsageError(
      `The state file ${path} records a different setup: ${clashes.join(', ')}.`,
      {
        code: 'STATE_MISMATCH',
        hint: 'Use another --state file for a second setup, or run teardown for the recorded one first.',
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Interactive questions

async function askForMissing(draft: Draft, session: Session, out: Output): Promise<void> {
  const prompts = await import('@inquirer/prompts');
  const io = { output: process.stderr };
  const v = await import('../validate.js');
  const asValidator = (validator: (value: string) => string | undefined) => (value: string) =>
    validator(value.trim()) ?? true;
  if (!draft.projectId || !draft.clusterName) {
    const atlas = await session.atlas();
    const { listProjects } = await import('../atlas/projects.js');
    const clusters = await import('../atlas/clusters.js');
    if (!draft.projectId) {
      const projects = await listProjects(atlas);
      if (projects.length === 0) {
        throw new CliError('These Atlas credentials cannot see any project.', {
          code: 'NO_PROJECTS',
          exitCode: ExitCode.cloud,
          hint: 'Use an API key or service account with the Project Owner role on the project to export.',
        });
      }
      draft.projectId = await prompts.select(
        {
          message: 'Atlas project',
          choices: projects.map((p) => ({ name: `${p.name} (${p.id})`, value: p.id })),
        },
        io,
      );
    }
    if (!draft.clusterName) {
      const all = await clusters.listClusters(atlas, draft.projectId);
      const choices = all.map((cluster) => {
        const reasons = clusters.clusterEligibility(cluster);
        const summary = clusters.clusterSummary(cluster);
        return {
          name: `${summary.name} (${summary.provider ?? '?'} ${summary.instanceSize ?? ''} ${summary.region ?? ''})`.replace(
            /\s+\)/,
            ')',
          ),
          value: summary.name,
          disabled: reasons.length > 0 ? reasons.join('; ') : false,
        };
      });
      if (!choices.some((choice) => choice.disabled === false)) {
        throw new CliError(
          `Project ${draft.projectId} has no cluster that can export over PrivateLink.`,
          {
            code: 'CLUSTER_NOT_ELIGIBLE',
            exitCode: ExitCode.cloud,
            hint: 'Export needs an AWS cluster of tier M10 or larger with Cloud Backup on.',
          },
        );
      }
      draft.clusterName = await prompts.select({ message: 'Cluster to export', choices }, io);
    }
  }
  if (!draft.bucketName) {
    const suggestion =
      `atlas-export-${draft.clusterName!.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${draft.projectId!.slice(-6)}`.slice(
        0,
        63,
      );
    draft.bucketName = (
      await prompts.input(
        {
          message: 'S3 bucket for the exports (created if missing)',
          default: suggestion,
          validate: asValidator((x) => v.validateBucketName(x)),
        },
        io,
      )
    ).trim();
  }
  if (!draft.region) {
    const { getCluster, clusterRegion } = await import('../atlas/clusters.js');
    const { toAwsRegion, parseRegion, privateEndpointRegions } = await import('../regions.js');
    const atlasRegion = clusterRegion(
      await getCluster(await session.atlas(), draft.projectId!, draft.clusterName!),
    );
    const suggested = atlasRegion ? toAwsRegion(atlasRegion) : undefined;
    const answer = (
      await prompts.input(
        {
          message: `Bucket region${suggested ? " (the cluster's region keeps traffic in one region)" : ''}`,
          default: suggested,
          validate: (value: string) => {
            const region = parseRegion(value.trim(), {
              allowed: privateEndpointRegions,
              label: 'bucket region',
            });
            return region.ok ? true : region.problem;
          },
        },
        io,
      )
    ).trim();
    if (answer) draft.region = answer;
  }
  if (!draft.iamRoleName) {
    draft.iamRoleName = (
      await prompts.input(
        {
          message: 'IAM role that Atlas will assume',
          default: defaultRoleName(draft.clusterName!, draft.projectId!),
          validate: asValidator((x) => v.validateRoleName(x)),
        },
        io,
      )
    ).trim();
  }
  if (draft.exportNow === undefined) {
    const now = await prompts.confirm(
      { message: 'Export the latest snapshot when setup is done?', default: false },
      io,
    );
    if (now) draft.exportNow = 'latest';
  }
  if (draft.schedule === undefined) {
    const frequency = await prompts.select(
      {
        message: 'Auto-export snapshots to the bucket?',
        choices: [
          { name: 'No', value: '' },
          { name: 'Monthly', value: 'monthly' },
          { name: 'Yearly', value: 'yearly' },
        ],
      },
      io,
    );
    if (frequency) draft.schedule = frequency;
  }
  out.info('');
  await validateDraft(draft);
}

// ---------------------------------------------------------------------------------------------
// Plan, run, summary

function printPlan(
  out: Output,
  input: SetupInput,
  previous: StateFile | undefined,
  statePath: string,
): void {
  const recorded = (present: unknown) => (present ? ' (recorded; will be checked)' : '');
  const r = previous?.resources ?? {};
  const lines = [
    `S3 bucket ${input.bucket.name} in ${input.bucket.region ?? "the cluster's region"}: private, ${input.bucket.encryption}${recorded(r.bucket)}`,
    `Atlas cloud provider access role${recorded(r.atlasRole)}`,
    `IAM role ${input.iamRoleName}: trusts only Atlas with the external ID; s3:GetBucketLocation + s3:PutObject${recorded(r.iamRole)}`,
    'Authorize the role in Atlas (retrying while IAM propagates)',
    `Bucket policy: deny requests without TLS, allow the role${recorded(r.bucketPolicy)}`,
    `Object-storage private endpoint for the bucket's region, waiting until ACTIVE${recorded(r.privateEndpoint)}`,
    `Export bucket with requirePrivateNetworking: true${recorded(r.exportBucket)}`,
    ...(input.exportNow ? [`Export snapshot ${input.exportNow} and check its files in S3`] : []),
    ...(input.schedule
      ? [`Auto-export ${input.schedule}, keeping the cluster's snapshot policies`]
      : []),
  ];
  out.info(input.dryRun ? 'Dry run: nothing will be changed. Plan:' : 'Plan:');
  out.info(`  Atlas project ${input.projectId}, cluster ${input.clusterName}`);
  lines.forEach((line, index) => out.info(`  ${index + 1}. ${line}`));
  if (input.repair)
    out.info(
      '  (--repair: every recorded resource is checked in full and repaired where it drifted)',
    );
  out.info(`  State file: ${statePath}`);
}

async function execute(
  input: SetupInput,
  state: StateFile,
  session: Session,
  out: Output,
  json: boolean,
  sandbox: boolean,
): Promise<number> {
  const ctx = createContext({ input, session, out, state, facts: { partition: 'aws' } });
  const started = Date.now();
  const steps = buildSteps(ctx);
  let results = new Map<StepId, StepResult>();
  let failure: unknown;
  try {
    const summary = await runSteps(steps, {
      out,
      onStepDone: async (id, result) => {
        if (!input.dryRun && !state.completedSteps.includes(id)) state.completedSteps.push(id);
        await ctx.save();
        results.set(id, result);
      },
    });
    results = summary.results;
  } catch (error) {
    failure = error;
    await ctx.save().catch(() => undefined);
  }
  const elapsed = formatDuration(Date.now() - started);
  if (json) {
    out.printJson({
      ok: failure === undefined,
      dryRun: input.dryRun,
      statePath: session.statePath,
      elapsedMs: Date.now() - started,
      steps: Object.fromEntries([...results].map(([id, result]) => [id, result])),
      resources: state.resources,
      exports: state.exports,
      calls: session.counts,
      ...(failure instanceof CliError
        ? { error: { code: failure.code, message: failure.message, hint: failure.hint } }
        : {}),
    });
  }
  if (failure !== undefined) throw failure;
  if (input.dryRun) {
    out.info(`Dry run finished in ${elapsed}; no write call was made.`);
  } else {
    const changed = [...results.values()].filter((r) => r.status !== 'unchanged').length;
    out.info(
      changed === 0
        ? `Everything is in place (checked in ${elapsed}); nothing was changed.`
        : `Setup finished in ${elapsed}. State: ${session.statePath}`,
    );
    out.info(
      sandbox
        ? 'That was a rehearsal on a throwaway sandbox. To try export, status, report and teardown too, keep one running with `atlas-pl-export sandbox` and use the settings it prints.'
        : 'Next: `atlas-pl-export export --latest` to export a snapshot, `atlas-pl-export status` to check for drift.',
    );
  }
  return ExitCode.ok;
}

// ---------------------------------------------------------------------------------------------
// --sandbox

async function startOwnSandbox(
  options: Record<string, unknown>,
  out: Output,
  interactive: boolean,
): Promise<() => Promise<void>> {
  const { startSandbox } = await import('../sandbox/index.js');
  const spinner = await out.spinner('Starting the sandbox (Atlas simulator and moto)');
  const sandbox = await startSandbox({});
  spinner.succeed(
    `Sandbox running: Atlas at ${sandbox.env.MONGODB_ATLAS_BASE_URL}, AWS (moto) at ${sandbox.env.AWS_ENDPOINT_URL}`,
  );
  for (const [key, value] of Object.entries(sandbox.env)) process.env[key] = value;
  const { registerSecret } = await import('../secrets.js');
  registerSecret(sandbox.env.MONGODB_ATLAS_PRIVATE_API_KEY);
  if (!interactive) {
    // Without anyone to ask, rehearse on the sandbox's eligible cluster with a fresh bucket name.
    options.projectId ??= sandbox.atlas.seed.projectId;
    options.cluster ??= sandbox.atlas.seed.clusters.eligible;
    options.bucket ??= `atlas-pl-export-sandbox-${Date.now().toString(36)}`;
  }
  let scratch: string | undefined;
  if (options.state === undefined) {
    scratch = mkdtempSync(join(tmpdir(), 'atlas-pl-export-'));
    options.state = join(scratch, 'sandbox.state.json');
  }
  return async () => {
    await sandbox.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  };
}
