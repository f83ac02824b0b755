/**
 * Assembles the evidence report: scope (who and what it covers, observed live), the controls, the
 * recent export jobs, the summary and the verdict. The result is validated against EvidenceReport.
 */
import { CliError, ExitCode, type ExitCodeValue } from '../errors.js';
import type { Session } from '../session.js';
import type { StateFile } from '../state/schema.js';
import { clusterRegionOf, evaluateControls, exportJobEvidence } from './controls.js';
import { gatherFacts, subjectFromState, type Facts, type Subject } from './observe.js';
import {
  EvidenceReport,
  REPORT_KIND,
  REPORT_SCHEMA_VERSION,
  VERDICT_RULE,
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
  // Evidence read with another account's credentials would describe that account's resources.
  if (facts.identity.ok) {
    const { assertSameIdentity } = await import('../state/identity.js');
    assertSameIdentity(
      input.state,
      {
        awsAccountId: facts.identity.value.account,
        awsAccountSource: 'from STS GetCallerIdentity',
      },
      input.statePath,
    );
  }
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

/** The verdict, by VERDICT_RULE: any failure fails; any gap is inconclusive; else pass. */
export function verdictOf(controls: Control[]): Verdict {
  if (controls.some((c) => c.status === 'fail')) return 'fail';
  if (controls.some((c) => c.status === 'not_checked')) return 'inconclusive';
  return controls.some((c) => c.status === 'pass') ? 'pass' : 'inconclusive';
}

/**
 * The exit code for a report, as `status` does it: 0 pass, 6 when a control failed, and when controls
 * merely could not be checked, the exit code of the first error behind them (2 for credentials or
 * settings, 3 for a call refused or unanswered).
 */
export function exitCodeOf(
  report: Pick<EvidenceReport, 'verdict' | 'controls'>,
  /** A problem the up-front environment check found (src/checks.ts environmentProblem): it decides. */
  problem?: { exitCode: number },
): ExitCodeValue {
  if (report.verdict === 'pass') return ExitCode.ok;
  if (report.verdict === 'fail') return ExitCode.notInPlace;
  const cause = problem ?? report.controls.find((c) => c.status === 'not_checked')?.cause;
  // Never 0 or 6 for a gap: those mean "in place" and "not in place".
  const gaps: number[] = [
    ExitCode.internal,
    ExitCode.usage,
    ExitCode.cloud,
    ExitCode.timeout,
    ExitCode.state,
  ];
  return (
    cause && gaps.includes(cause.exitCode) ? cause.exitCode : ExitCode.cloud
  ) as ExitCodeValue;
}

export function assembleReport(input: AssembleInput): EvidenceReport {
  const { facts: f, subject: s, controls } = input;
  const counts = {
    pass: controls.filter((c) => c.status === 'pass').length,
    fail: controls.filter((c) => c.status === 'fail').length,
    notApplicable: controls.filter((c) => c.status === 'not_applicable').length,
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
  const exportJobs = exportJobEvidence(f, s);
  const draft = {
    kind: REPORT_KIND,
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: input.generatedAt,
    tool: input.tool,
    scope,
    verdict,
    verdictRule: VERDICT_RULE,
    summary: summarize(
      verdict,
      counts,
      scope,
      controls,
      exportJobs.some((job) => job.requirePrivateNetworkingAtStart !== undefined),
    ),
    counts,
    controls,
    exportJobs,
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

function summarize(
  verdict: Verdict,
  counts: EvidenceReport['counts'],
  scope: EvidenceReport['scope'],
  controls: Control[],
  recorded: boolean,
): string {
  const where =
    `This report covers Atlas project ${scope.atlas.projectName ? `"${scope.atlas.projectName}" ` : ''}(${scope.atlas.projectId})` +
    `${scope.atlas.orgId ? ` of organization ${scope.atlas.orgId}` : ''}, cluster ${scope.atlas.clusterName}, ` +
    `and S3 bucket ${scope.bucket.name ?? '(none recorded)'}${scope.bucket.region ? ` in ${scope.bucket.region}` : ''} ` +
    `of AWS account ${scope.aws.accountId ?? '(not observed)'}. Every fact below was read live from Atlas and AWS when the report was made${recorded ? ", except the export jobs' private networking at their start, which this tool recorded when it started each job" : ''}; no change was made.`;
  const tally = `${controls.length} controls: ${describeCounts(counts)}.`;
  const titles = (status: Control['status']) =>
    controls.filter((c) => c.status === status).map((c) => c.title);
  const conclusion =
    verdict === 'pass'
      ? counts.notApplicable
        ? 'Every control passed or does not apply (the reason is given for each that does not): snapshot exports of this cluster can only travel over the Atlas-managed AWS PrivateLink to a private, encrypted, TLS-only bucket.'
        : 'Every control passed: snapshot exports of this cluster can only travel over the Atlas-managed AWS PrivateLink to a private, encrypted, TLS-only bucket.'
      : verdict === 'fail'
        ? `Not in place: ${titles('fail').join('; ')}.`
        : counts.notChecked
          ? `Not shown: ${titles('not_checked').join('; ')} could not be checked (the reasons are below), so the evidence is incomplete.`
          : 'No control applies, so nothing is shown.';
  return `${where} ${tally} ${conclusion}`;
}

/** `9 passed, 1 failed, 1 not applicable, 0 not checked`. */
export function describeCounts(counts: EvidenceReport['counts']): string {
  return `${counts.pass} passed, ${counts.fail} failed, ${counts.notApplicable} not applicable, ${counts.notChecked} not checked`;
}
