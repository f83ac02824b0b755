/**
 * The evidence report as data: what `report --format json` prints, and what the Markdown renderer
 * reads. Every fact in it was observed live; each control names the call that observed it and when.
 * Bump REPORT_SCHEMA_VERSION on any incompatible change.
 */
import { z } from 'zod';

export const REPORT_SCHEMA_VERSION = 3;
export const REPORT_KIND = 'atlas-pl-export/evidence-report';

const timestamp = z.string().datetime({ offset: true });

/**
 * pass / fail; not_applicable when what the control judges is legitimately absent (auto-export off,
 * no export job yet; the reason says why); not_checked when it could not be observed (a read failed;
 * the reason and the cause say why). A resource the control is about that is missing is a fail.
 */
export const ControlStatus = z.enum(['pass', 'fail', 'not_applicable', 'not_checked']);
export type ControlStatus = z.infer<typeof ControlStatus>;

/** One API call that observed a fact: `GET /api/atlas/v2/...` or `s3:GetBucketPolicy bucket`. */
export const Evidence = z.strictObject({
  call: z.string().min(1),
  at: timestamp,
  /** Set when the call failed; the message is redacted. */
  error: z.string().optional(),
});
export type Evidence = z.infer<typeof Evidence>;

export const Control = z.strictObject({
  /** Stable id, e.g. `s3.tls-only`. */
  id: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/),
  title: z.string().min(1),
  /** What passing means. */
  expected: z.string().min(1),
  status: ControlStatus,
  /** The observed value, in words (for a failed control: what is wrong). */
  observed: z.string(),
  /** Why the control does not apply (not_applicable) or could not be checked (not_checked). */
  reason: z.string().optional(),
  /** not_checked only: the error behind it, and the exit code `report` gives for it (2 or 3). */
  cause: z
    .strictObject({
      code: z.string(),
      exitCode: z.number().int(),
      hint: z.string().optional(),
    })
    .optional(),
  /** Each deviation from what is expected, one line each. */
  findings: z.array(z.string()),
  evidence: z.array(Evidence).min(1),
  /** The observed values as data, for machines. */
  data: z.record(z.string(), z.unknown()).optional(),
});
export type Control = z.infer<typeof Control>;

export const ExportJobEvidence = z.strictObject({
  id: z.string(),
  state: z.string(),
  snapshotId: z.string().optional(),
  exportBucketId: z.string(),
  bucketName: z.string().optional(),
  /**
   * The export bucket's requirePrivateNetworking when the report was made: its setting now, not
   * evidence of the path the job took (the bucket may have been changed since).
   */
  requirePrivateNetworking: z.boolean().optional(),
  /**
   * The export bucket's requirePrivateNetworking as this tool read it just before starting the job,
   * from the state file's record of the job; absent for jobs it did not start or did not record it for.
   */
  requirePrivateNetworkingAtStart: z.boolean().optional(),
  prefix: z.string().optional(),
  createdAt: z.string().optional(),
  finishedAt: z.string().optional(),
  /** For successful jobs: whether `<prefix>/.complete` exists, and the files it lists and those missing. */
  completePresent: z.boolean().optional(),
  filesFound: z.number().int().nonnegative().optional(),
  filesMissing: z.array(z.string()).optional(),
  /** Why the files were not checked. */
  filesNotChecked: z.string().optional(),
});
export type ExportJobEvidence = z.infer<typeof ExportJobEvidence>;

export const Verdict = z.enum(['pass', 'fail', 'inconclusive']);
export type Verdict = z.infer<typeof Verdict>;

/** How the verdict follows from the controls; printed in every report. */
export const VERDICT_RULE =
  'PASS when every control passed or does not apply (each control that does not apply says why). ' +
  'FAIL (exit code 6) when any control failed; a missing resource that a control is about is a failure. ' +
  'Otherwise INCONCLUSIVE when any control could not be checked (exit code 2 or 3, that of the first error behind it): ' +
  'evidence with gaps is never a pass.';

export const EvidenceReport = z.strictObject({
  kind: z.literal(REPORT_KIND),
  schemaVersion: z.literal(REPORT_SCHEMA_VERSION),
  generatedAt: timestamp,
  tool: z.strictObject({ name: z.string(), version: z.string() }),
  /** What the report covers; every value observed live except the ids taken from the state file. */
  scope: z.strictObject({
    aws: z.strictObject({ accountId: z.string().optional(), callerArn: z.string().optional() }),
    atlas: z.strictObject({
      baseUrl: z.string(),
      orgId: z.string().optional(),
      projectId: z.string(),
      projectName: z.string().optional(),
      clusterName: z.string(),
      clusterRegion: z.string().optional(),
    }),
    bucket: z.strictObject({ name: z.string().optional(), region: z.string().optional() }),
    exportBucketId: z.string().optional(),
    iamRoleArn: z.string().optional(),
    atlasRoleId: z.string().optional(),
    privateEndpointId: z.string().optional(),
    stateFile: z.string(),
  }),
  verdict: Verdict,
  /** The rule the verdict follows (VERDICT_RULE). */
  verdictRule: z.string().min(1),
  summary: z.string().min(1),
  counts: z.strictObject({
    pass: z.number().int().nonnegative(),
    fail: z.number().int().nonnegative(),
    notApplicable: z.number().int().nonnegative(),
    notChecked: z.number().int().nonnegative(),
  }),
  controls: z.array(Control).min(1),
  exportJobs: z.array(ExportJobEvidence),
  /** Calls made to gather the evidence; the report makes no write call. */
  calls: z.strictObject({
    atlas: z.strictObject({ reads: z.number().int(), writes: z.number().int() }),
    aws: z.strictObject({ reads: z.number().int(), writes: z.number().int() }),
  }),
});
export type EvidenceReport = z.infer<typeof EvidenceReport>;
