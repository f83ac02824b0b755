/**
 * Renders the evidence report as Markdown for people: the verdict and summary first, then what it
 * covers, one table row per control (status, observed value, the API call and when), the findings,
 * and the recent export jobs. Plain GitHub-flavoured Markdown tables; every cell is escaped.
 */
import { describeCounts } from './build.js';
import type { Control, EvidenceReport, ExportJobEvidence } from './schema.js';

const STATUS_LABEL: Record<Control['status'], string> = {
  pass: 'PASS',
  fail: 'FAIL',
  not_applicable: 'NOT APPLICABLE',
  not_checked: 'NOT CHECKED',
};
const VERDICT_LABEL: Record<EvidenceReport['verdict'], string> = {
  pass: 'PASS',
  fail: 'FAIL',
  inconclusive: 'INCONCLUSIVE',
};

/** One table cell: pipes escaped, line breaks turned into `<br>`, never empty. */
export function cell(text: string | number | boolean | undefined): string {
  const value = text === undefined || text === '' ? '–' : String(text);
  return value.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function scopeRows(report: EvidenceReport): string[][] {
  const { scope } = report;
  const rows: Array<[string, string | undefined]> = [
    ['AWS account', scope.aws.accountId],
    ['AWS identity used', scope.aws.callerArn],
    ['Atlas organization', scope.atlas.orgId],
    [
      'Atlas project',
      scope.atlas.projectName
        ? `${scope.atlas.projectName} (${scope.atlas.projectId})`
        : scope.atlas.projectId,
    ],
    ['Atlas API', scope.atlas.baseUrl],
    [
      'Cluster',
      scope.atlas.clusterRegion
        ? `${scope.atlas.clusterName} (${scope.atlas.clusterRegion})`
        : scope.atlas.clusterName,
    ],
    ['S3 bucket', scope.bucket.name],
    ['Bucket region', scope.bucket.region],
    ['Export bucket id', scope.exportBucketId],
    ['Private endpoint id', scope.privateEndpointId],
    ['IAM role', scope.iamRoleArn],
    ['Atlas access role id', scope.atlasRoleId],
    ['State file', scope.stateFile],
    ['Generated', report.generatedAt],
    ['Tool', `${report.tool.name} ${report.tool.version}`],
  ];
  return rows.map(([name, value]) => [cell(name), cell(value)]);
}

function controlRow(control: Control, index: number): string[] {
  const observed =
    control.status === 'not_checked'
      ? `not checked: ${control.reason ?? ''}`
      : control.status === 'not_applicable'
        ? `${control.observed}: does not apply, ${control.reason ?? ''}`
        : control.observed;
  const calls = control.evidence
    .map((e) => `${code(e.call)}${e.error ? ' (failed)' : ''}`)
    .join('<br>');
  const when = [...new Set(control.evidence.map((e) => e.at))].join('<br>');
  return [
    String(index + 1),
    cell(control.title),
    STATUS_LABEL[control.status],
    cell(observed),
    cell(calls),
    cell(when),
  ];
}

function findingLines(controls: Control[]): string[] {
  const failed = controls.filter((c) => c.status === 'fail');
  const gaps = controls.filter((c) => c.status === 'not_checked');
  // A passing (or not applicable) control may still carry notes (e.g. a job whose export bucket was deleted since).
  const notes = controls.filter(
    (c) => (c.status === 'pass' || c.status === 'not_applicable') && c.findings.length > 0,
  );
  if (failed.length === 0 && gaps.length === 0 && notes.length === 0) return ['No findings.'];
  return [
    ...failed.flatMap((c) => [
      `- **${c.title}** (${code(c.id)}): expected ${c.expected}.`,
      ...c.findings.map((line) => `  - ${line}`),
    ]),
    ...gaps.flatMap((c) => [
      `- **${c.title}** (${code(c.id)}) could not be checked: ${c.reason ?? 'no reason recorded'}.`,
      ...(c.cause?.hint ? [`  - what to do: ${c.cause.hint}`] : []),
    ]),
    ...notes.flatMap((c) => [
      `- Note on **${c.title}** (${code(c.id)}, ${c.status === 'pass' ? 'passed' : 'does not apply'}):`,
      ...c.findings.map((line) => `  - ${line}`),
    ]),
  ];
}

function stateFileRole(report: EvidenceReport): string {
  return report.exportJobs.some((job) => job.requirePrivateNetworkingAtStart !== undefined)
    ? 'The state file named the resources to inspect, and gave the "at start" values of the export jobs table (recorded by this tool when it started each job).'
    : 'The state file only named the resources to inspect.';
}

function jobRow(job: ExportJobEvidence): string[] {
  const complete =
    job.filesNotChecked !== undefined
      ? `not checked: ${job.filesNotChecked}`
      : job.completePresent
        ? 'present'
        : 'MISSING';
  const missing =
    job.filesMissing === undefined
      ? '–'
      : job.filesMissing.length === 0
        ? '0'
        : `${job.filesMissing.length}: ${job.filesMissing.slice(0, 3).join(', ')}`;
  const bucket = job.bucketName
    ? `${job.exportBucketId} (s3://${job.bucketName})`
    : `${job.exportBucketId} (gone)`;
  return [
    cell(job.id),
    cell(job.state),
    cell(job.createdAt),
    cell(bucket),
    cell(privateNetworkingCell(job)),
    cell(job.prefix),
    cell(complete),
    cell(job.filesFound),
    cell(missing),
  ];
}

const yesNo = (value: boolean) => (value ? 'yes' : 'NO');

/**
 * What this tool read just before starting the job, when it recorded that ("at start"); otherwise the
 * export bucket's setting when the report was made ("now"), which says nothing of the path the job took.
 */
function privateNetworkingCell(job: ExportJobEvidence): string | undefined {
  if (job.requirePrivateNetworkingAtStart !== undefined)
    return `at start: ${yesNo(job.requirePrivateNetworkingAtStart)}`;
  if (job.requirePrivateNetworking === undefined) return undefined;
  return `now: ${yesNo(job.requirePrivateNetworking)}`;
}

/** Says what the private-networking column's values are, under the jobs table. */
function jobTableNotes(jobs: ExportJobEvidence[]): string[] {
  const notes: string[] = [];
  if (jobs.some((job) => job.requirePrivateNetworkingAtStart !== undefined))
    notes.push(
      '"at start": the export bucket\'s requirePrivateNetworking as this tool read it just before it started the job, from its record in the state file.',
    );
  if (
    jobs.some(
      (job) =>
        job.requirePrivateNetworkingAtStart === undefined &&
        job.requirePrivateNetworking !== undefined,
    )
  )
    notes.push(
      '"now": the export bucket\'s requirePrivateNetworking when this report was made (no record of it from the job\'s start). It is not evidence of the path the job took: the setting may have been different while the job ran.',
    );
  return notes.length ? ['', ...notes] : [];
}

export function renderMarkdown(report: EvidenceReport): string {
  const lines: string[] = [
    '# Evidence report: Atlas snapshot exports travel only over AWS PrivateLink',
    '',
    `**Verdict: ${VERDICT_LABEL[report.verdict]}** (${describeCounts(report.counts)})`,
    '',
    report.summary,
    '',
    `How the verdict is reached: ${report.verdictRule}`,
    '',
    '## Scope',
    '',
    ...table(['Item', 'Value'], scopeRows(report)),
    '',
    '## Controls',
    '',
    ...table(
      ['#', 'Control', 'Status', 'Observed', 'Observed by', 'When (UTC)'],
      report.controls.map(controlRow),
    ),
    '',
    '## Findings',
    '',
    ...findingLines(report.controls),
    '',
    '## Recent export jobs',
    '',
    ...(report.exportJobs.length
      ? table(
          [
            'Job',
            'State',
            'Created',
            'Export bucket',
            'Private networking',
            'Prefix',
            '.complete',
            'Files found',
            'Files missing',
          ],
          report.exportJobs.map(jobRow),
        ).concat(jobTableNotes(report.exportJobs))
      : ['The cluster has no export jobs.']),
    '',
    '## How this was made',
    '',
    `Generated ${report.generatedAt} by ${report.tool.name} ${report.tool.version} from live reads only: ` +
      `${report.calls.atlas.reads} Atlas API reads and ${report.calls.aws.reads} AWS reads; ` +
      `${report.calls.atlas.writes + report.calls.aws.writes} writes. ${stateFileRole(report)} ` +
      'No credential, key or Authorization header appears in this report.',
    '',
  ];
  return lines.join('\n');
}
