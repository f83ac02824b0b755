/**
 * `atlas-pl-export report`: reads the live configuration of everything the state file names and
 * writes an evidence report (Markdown by default, JSON with --format json) to --out or stdout.
 * Exit 0 when every control that could be checked passed; 6 when a control failed or nothing could
 * be checked.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { CliError, ExitCode, UsageError } from '../errors.js';
import type { CommandContext } from '../run.js';
import { redact } from '../secrets.js';

type Format = 'md' | 'json';

function formatOf(options: Record<string, unknown>): Format {
  const format = options.format ?? 'md';
  if (format !== 'md' && format !== 'json')
    throw new UsageError(`--format ${String(format)}: must be md or json`, {
      hint: 'Use --format md (default) or --format json.',
    });
  return format;
}

function toolInfo(): { name: string; version: string } {
  const pkg = createRequire(import.meta.url)('../../package.json') as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
}

async function writeReport(path: string, text: string): Promise<void> {
  const { default: writeFileAtomic } = await import('write-file-atomic');
  try {
    await writeFileAtomic(path, text, { mode: 0o644 });
  } catch (error) {
    throw new CliError(`Could not write the report to ${path}: ${(error as Error).message}`, {
      code: 'REPORT_UNWRITABLE',
      exitCode: ExitCode.usage,
      hint: 'Choose a path in a directory you can write to (--out).',
      cause: error,
    });
  }
}

export async function run(ctx: CommandContext): Promise<number> {
  const { options, out } = ctx;
  const format = formatOf(options);
  const outPath = typeof options.out === 'string' ? resolve(options.out) : undefined;
  const { openSession } = await import('../session.js');
  const { requireState } = await import('../state/require.js');
  const { buildReport } = await import('../report/build.js');
  const session = openSession(out, options);
  const state = requireState(session.statePath);
  const spinner = await out.spinner('Reading the live configuration in Atlas and AWS');
  const report = await buildReport({
    session,
    state,
    statePath: session.statePath,
    tool: toolInfo(),
  });
  const { counts, verdict } = report;
  const line = `${verdict.toUpperCase()}: ${counts.pass} passed, ${counts.fail} failed, ${counts.notChecked} not checked`;
  if (verdict === 'pass') spinner.succeed(`Evidence gathered. ${line}`);
  else spinner.fail(`Evidence gathered. ${line}`);
  for (const control of report.controls.filter((c) => c.status === 'fail'))
    out.info(`  ✖ ${control.title}: ${control.findings[0] ?? control.observed}`);

  if (outPath) {
    const { renderMarkdown } = await import('../report/markdown.js');
    const text =
      format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderMarkdown(report);
    await writeReport(outPath, redact(text));
    out.info(`Report written to ${outPath} (${format === 'json' ? 'JSON' : 'Markdown'}).`);
    if (out.json) out.printJson({ ok: verdict === 'pass', verdict, counts, out: outPath, format });
  } else if (format === 'json' || out.json) {
    // --json and --format json both make the report itself the one JSON document on stdout.
    out.printJson(report);
  } else {
    const { renderMarkdown } = await import('../report/markdown.js');
    out.result(renderMarkdown(report));
  }
  return verdict === 'pass' ? ExitCode.ok : ExitCode.notInPlace;
}
