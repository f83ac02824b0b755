/**
 * Assembles the evidence report: scope (who and what it covers, observed live), the controls, the
 * recent export jobs, the summary and the verdict. The result is validated against EvidenceReport.
 */
import { CliError, ExitCode } from '../errors.js';
import type { Session } from '../session.js';
import type { StateFile } from '../state/schema.js';
import { evaluateControls, exportJobEvidence } from './controls.js';
import { gatherFacts, subjectFromState, type Facts, type Subject } from './observe.js';
import {
  EvidenceReport,
  REPORT_KIND,
  REPORT_SCHEMA_VERSION,
  type Control,
  type Verdict,
} from './schema.js';

export interface BuildInput {
  session: Session;
  state: StateFile;
  statePath: string;
  tool: { name: string; version: string };
  /** For tests: the clock. */
  now?: () => Date;
}

export async function buildReport(input: BuildInput): Promise<EvidenceReport> {
  const subject = subjectFromState(input.state, input.statePath);
  const facts = await gatherFacts(input.session, subject);
  const controls = evaluateControls(facts, subject);
  return assembleReport({
    facts,
    subject,
    controls,
    tool: input.tool,
    generatedAt: (input.now?.() ?? new Date()).toISOString(),
    calls: input.session.counts,
  });
}

export interface AssembleInput {
  facts: Facts;
  subject: Subject;
  controls: Control[];
  tool: { name: string; version: string };
  generatedAt: string;
  calls: EvidenceReport['calls'];
}

export function verdictOf(controls: Control[]): Verdict {
  if (controls.some((c) => c.status === 'fail')) return 'fail';
  if (controls.every((c) => c.status === 'not_checked')) return 'inconclusive';
  return 'pass';
}

export function assembleReport(input: AssembleInput): EvidenceReport {
  const { facts: f, subject: s, controls } = input;
  const counts = {
    pass: controls.filter((c) => c.status === 'pass').length,
    fail: controls.filter((c) => c.status === 'fail').length,
    notChecked: controls.filter((c) => c.status === 'not_checked').length,
  };
  const scope: EvidenceReport['scope'] = {
    aws: {
      ...(f.identity.ok
        ? { accountId: f.identity.value.account, callerArn: f.identity.value.arn }
        : {}),
    },
    atlas: {
      baseUrl: s.baseUrl,
      projectId: s.projectId,
      clusterName: s.clusterName,
      ...(f.project.ok ? { orgId: f.project.value.orgId, projectName: f.project.value.name } : {}),
      ...(clusterRegionOf(f) ? { clusterRegion: clusterRegionOf(f) } : {}),
    },
    bucket: {
      ...(s.bucketName ? { name: s.bucketName } : {}),
      ...(f.bucketRegion?.ok ? { region: f.bucketRegion.value } : {}),
    },
    ...(s.exportBucketId ? { exportBucketId: s.exportBucketId } : {}),
    ...(s.iamRoleArn ? { iamRoleArn: s.iamRoleArn } : {}),
    ...(s.atlasRoleId ? { atlasRoleId: s.atlasRoleId } : {}),
    ...(s.privateEndpointId ? { privateEndpointId: s.privateEndpointId } : {}),
    stateFile: s.statePath,
  };
  const verdict = verdictOf(controls);
  const draft = {
    kind: REPORT_KIND,
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: input.generatedAt,
    tool: input.tool,
    scope,
    verdict,
    summary: summarize(verdict, counts, scope, controls),
    counts,
    controls,
    exportJobs: exportJobEvidence(f),
    calls: { atlas: { ...input.calls.atlas }, aws: { ...input.calls.aws } },
  };
  const parsed = EvidenceReport.safeParse(draft);
  if (!parsed.success) {
    throw new CliError(
      `Internal: the evidence report does not match its schema: ${parsed.error.message}`,
      {
        code: 'REPORT_INVALID',
        exitCode: ExitCode.internal,
        hint: 'Report this as a bug, with the output of --debug.',
      },
    );
  }
  return parsed.data;
}

function clusterRegionOf(f: Facts): string | undefined {
  if (!f.cluster.ok) return undefined;
  const configs = (f.cluster.value.replicationSpecs ?? []).flatMap(
    (spec) => spec.regionConfigs ?? [],
  );
  return (
    configs.find((c) => (c.electableSpecs?.nodeCount ?? 0) > 0)?.regionName ??
    configs[0]?.regionName
  );
}

function summarize(
  verdict: Verdict,
  counts: EvidenceReport['counts'],
  scope: EvidenceReport['scope'],
  controls: Control[],
): string {
  const where =
    `This report covers Atlas project ${scope.atlas.projectName ? `"${scope.atlas.projectName}" ` : ''}(${scope.atlas.projectId})` +
    `${scope.atlas.orgId ? ` of organization ${scope.atlas.orgId}` : ''}, cluster ${scope.atlas.clusterName}, ` +
    `and S3 bucket ${scope.bucket.name ?? '(none recorded)'}${scope.bucket.region ? ` in ${scope.bucket.region}` : ''} ` +
    `of AWS account ${scope.aws.accountId ?? '(not observed)'}. Every fact below was read live from Atlas and AWS when the report was made; no change was made.`;
  const tally = `${controls.length} controls: ${counts.pass} passed, ${counts.fail} failed, ${counts.notChecked} not checked.`;
  const failed = controls.filter((c) => c.status === 'fail').map((c) => c.title);
  const conclusion =
    verdict === 'pass'
      ? counts.notChecked
        ? 'Every control that could be checked passed; the ones not checked are listed with the reason.'
        : 'Every control passed: snapshot exports of this cluster can only travel over the Atlas-managed AWS PrivateLink to a private, encrypted, TLS-only bucket.'
      : verdict === 'fail'
        ? `Not in place: ${failed.join('; ')}.`
        : 'Nothing could be checked, so nothing is shown; see the reasons below.';
  return `${where} ${tally} ${conclusion}`;
}
