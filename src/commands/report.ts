/**
 * `atlas-pl-export report`: reads the live configuration of everything the state file names and
 * writes an evidence report (Markdown by default, JSON with --format json) to --out or stdout.
 *
 * The verdict follows VERDICT_RULE (src/report/schema.ts), and so does the exit code, as `status`
 * does it: 0 when every control passed or does not apply; 6 when a control failed (a missing resource
 * a control is about is a failure); otherwise, when controls could not be checked, the exit code of
 * the first error behind them (2 for credentials or settings, 3 for a call refused or unanswered).
 *
 * stdout: without --json, the report (unless --out takes it). With --json, one JSON document
 * `{ ok, verdict, exitCode, counts, ... }` holding the report itself (JSON) or, with --out, where it
 * was written. `--format md --json` without --out would need both on stdout, and is refused.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { readConfigFile, warnIfConfigDiffers } from '../config.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import type { CommandContext } from '../run.js';
import { redact } from '../secrets.js';
import type { CheckError } from '../checks.js';
import type { EvidenceReport } from '../report/schema.js';

type Format = 'md' | 'json';

function formatOf(options: Record<string, unknown>, outPath: string | undefined): Format {
  const format = options.format ?? 'md';
  if (format !== 'md' && format !== 'json')
    throw new UsageError(`--format ${String(format)}: must be md or json`, {
      hint: 'Use --format md (default) or --format json.',
    });
  if (format === 'md' && options.format !== undefined && options.json && !outPath)
    throw new UsageError(
      '--format md and --json both want stdout: the Markdown report, and one JSON document.',
      {
        hint: 'Add --out FILE to write the Markdown there (stdout then holds the JSON summary), or drop --format md (--json then prints the report as JSON).',
      },
    );
  return format;
}

function toolInfo(): { name: string; version: string } {
  const pkg = createRequire(import.meta.url)('../../package.json') as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
}

const OUT_HINT = 'Choose another --out: a new file in a directory you can write to.';

const unwritable = (message: string, cause?: unknown) =>
  new CliError(message, {
    code: 'REPORT_UNWRITABLE',
    exitCode: ExitCode.usage,
    hint: OUT_HINT,
    ...(cause ? { cause } : {}),
  });

/** What a failed write means, from its error code (the message would name a temporary file). */
function whyUnwritable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'its directory does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ? `the write failed (${code})` : 'the write failed';
  }
}

/**
 * Before any call: --out must not be the state file or its lock (even through a symlink), nor a
 * directory, and its directory must exist and be writable.
 */
async function checkOutPath(outPath: string, statePath: string): Promise<void> {
  const { accessSync, constants, statSync } = await import('node:fs');
  const { canonicalStatePath } = await import('../state/store.js');
  const target = canonicalStatePath(outPath);
  const state = canonicalStatePath(statePath);
  if (target === state)
    throw new UsageError(
      `--out ${outPath} is the state file (${state}): writing the report there would lose every id it records.`,
      { code: 'REPORT_OUT_IS_STATE', hint: OUT_HINT },
    );
  if (target === `${state}.lock`)
    throw new UsageError(
      `--out ${outPath} is the state file's lock (${target}): writing the report there would break the lock that keeps two runs on ${state} apart.`,
      { code: 'REPORT_OUT_IS_STATE', hint: OUT_HINT },
    );
  const dir = dirname(target);
  try {
    if (!statSync(dir).isDirectory())
      throw unwritable(`--out ${outPath}: ${dir} is not a directory.`);
    accessSync(dir, constants.W_OK);
    if (statSync(target, { throwIfNoEntry: false })?.isDirectory())
      throw unwritable(`--out ${outPath} is a directory; it needs a file name.`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw unwritable(
      `Cannot write the report to ${outPath}: ${whyUnwritable(error)} (${dir}).`,
      error,
    );
  }
}

async function writeReport(path: string, text: string): Promise<void> {
  const { default: writeFileAtomic } = await import('write-file-atomic');
  try {
    await writeFileAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    throw unwritable(`Could not write the report to ${path}: ${whyUnwritable(error)}.`, error);
  }
}

/**
 * The error behind an inconclusive verdict, as `status` gives it in --json: the problem the up-front
 * environment check found, else the first control that could not be checked.
 */
function errorOf(
  report: EvidenceReport,
  problem: CheckError | undefined,
): { code: string; message: string; hint?: string } | undefined {
  if (report.verdict !== 'inconclusive') return undefined;
  const gaps = report.controls.filter((c) => c.status === 'not_checked');
  const first = gaps.find((c) => c.cause);
  const code = problem?.code ?? first?.cause?.code;
  if (!code) return undefined;
  const hint = problem ? problem.hint : gaps.find((c) => c.cause?.hint)?.cause?.hint;
  return {
    code,
    message: `${gaps.length} of ${report.controls.length} controls could not be checked: ${problem?.message ?? first?.reason ?? 'see the report'}`,
    ...(hint ? { hint } : {}),
  };
}

export async function run(ctx: CommandContext): Promise<number> {
  const { options, out } = ctx;
  const outPath = typeof options.out === 'string' ? resolve(options.out) : undefined;
  const format = formatOf(options, outPath);
  const config = typeof options.config === 'string' ? readConfigFile(options.config, out) : {};
  const { openSession } = await import('../session.js');
  const { requireState } = await import('../state/require.js');
  const { buildReport, describeCounts, exitCodeOf } = await import('../report/build.js');
  const session = openSession(out, options);
  const state = requireState(session);
  if (outPath) await checkOutPath(outPath, session.statePath);
  warnIfConfigDiffers(config, state, out);
  // Before any call, as `status` does: a setting that keeps a client from being made is the error
  // behind an inconclusive verdict, and its exit code the report's.
  const { environmentProblem } = await import('../checks.js');
  const problem = await environmentProblem(session, {
    aws: state.resources.bucket?.region ?? state.aws.region,
    atlas: true,
  });
  const spinner = await out.spinner('Reading the live configuration in Atlas and AWS');
  const report = await buildReport({
    session,
    state,
    statePath: session.statePath,
    tool: toolInfo(),
  });
  const { counts, verdict } = report;
  const exitCode = exitCodeOf(report, problem);
  spinner.succeed(
    `Read the live configuration: ${report.calls.atlas.reads} Atlas and ${report.calls.aws.reads} AWS reads, no change made.`,
  );
  out.info(`Verdict: ${verdict.toUpperCase()} (${describeCounts(counts)}).`);
  for (const control of report.controls.filter((c) => c.status === 'fail'))
    out.info(
      `  ✖ ${control.title}: ${control.findings.length ? control.findings.join('; ') : control.observed}`,
    );
  const gaps = report.controls.filter((c) => c.status === 'not_checked');
  for (const control of gaps) out.info(`  ? ${control.title}: not checked, ${control.reason}`);
  const error = errorOf(report, problem);
  if (error?.hint) out.info(`  what to do: ${error.hint}`);
  if (verdict !== 'pass') out.info(`  ${report.verdictRule}`);

  const summary = {
    ok: verdict === 'pass',
    verdict,
    exitCode,
    counts,
    ...(error ? { error } : {}),
  };
  if (outPath) {
    const { renderMarkdown } = await import('../report/markdown.js');
    const text =
      format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderMarkdown(report);
    await writeReport(outPath, redact(text));
    out.info(`Report written to ${outPath} (${format === 'json' ? 'JSON' : 'Markdown'}).`);
    if (out.json) out.printJson({ ...summary, out: outPath, format });
  } else if (out.json) {
    out.printJson({ ...summary, report });
  } else if (format === 'json') {
    out.result(JSON.stringify(report, null, 2));
  } else {
    const { renderMarkdown } = await import('../report/markdown.js');
    out.result(renderMarkdown(report));
  }
  return exitCode;
}
