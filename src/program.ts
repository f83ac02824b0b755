/**
 * The command-line definition (commander) and the parse that runs one command. Loaded by the launcher
 * (src/cli.cts) whenever a command runs; a plain `--help` or `--version` is answered from help texts
 * generated from this definition at build time (scripts/build-help.mjs), without loading commander.
 * Commander is loaded with `require` (it is CommonJS): importing it would make Node scan its source
 * for export names first.
 */
import { createRequire } from 'node:module';
import type {
  Command as CommandClass,
  CommanderError as CommanderErrorClass,
  Option as OptionClass,
} from 'commander';

const require = createRequire(import.meta.url);
const { Command, Option, CommanderError } = require('commander') as {
  Command: typeof CommandClass;
  Option: typeof OptionClass;
  CommanderError: typeof CommanderErrorClass;
};
type Command = CommandClass;

/** Loads the run boundary (output, errors, secrets) only when a command actually runs. */
async function runCommand(name: string, options: Record<string, unknown>): Promise<void> {
  const run = await import('./run.js');
  await run.runCommand(name, options);
}

const pkg = require('../package.json') as { version: string };

/**
 * Options every command understands. Defaults live in config resolution, not here, so a config file
 * can set them: commander's `.default()` would hand every command the default as if it were a flag,
 * hiding the file's value. The help shows each default in the option's description instead.
 */
function common(command: Command): Command {
  return command
    .option('--state <path>', 'state file (default ./atlas-pl-export.state.json)')
    .option('--config <file>', 'JSON config file (see atlas-pl-export.example.json)')
    .option(
      '--non-interactive',
      'never prompt; fail with a list of what is missing (default when stdin is not a TTY)',
    )
    .option(
      '--json',
      'print one machine-readable JSON document on stdout; human output goes to stderr',
    )
    .option('--debug', 'trace every Atlas and AWS call on stderr (credentials are redacted)');
}

export function buildProgram(): Command {
  const program = new Command()
    .name('atlas-pl-export')
    .description(
      'Export MongoDB Atlas Cloud Backup snapshots to your own S3 bucket over AWS PrivateLink.',
    )
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    // Commander would exit 1 on a usage error, which means "a bug" here. It throws instead (every
    // command defined below inherits this), and the launcher exits with the usage code; see `parse`.
    .exitOverride();

  common(
    program
      .command('setup')
      .description(
        'create or adopt everything the PrivateLink export needs, step by step, resumably',
      ),
  )
    .option('--project-id <id>', 'Atlas project (group) id, 24 hex characters')
    .option('--cluster <name>', 'Atlas cluster name')
    .option('--bucket <name>', 'S3 bucket name (created if missing)')
    .option(
      '--region <region>',
      'bucket region, AWS (us-east-1) or Atlas (US_EAST_1) form; default: the cluster region',
    )
    .option('--encryption <kind>', 'bucket default encryption: SSE-S3 or SSE-KMS')
    .option('--kms-key-arn <arn>', 'KMS key for SSE-KMS')
    .option(
      '--iam-role-name <name>',
      'IAM role that Atlas assumes (created if missing); default atlas-pl-export-<bucket>-<last 6 characters of the project id>',
    )
    .option(
      '--export-now <snapshot>',
      'export a snapshot when setup is done: a snapshot id or "latest"',
    )
    .option('--schedule <frequency>', 'turn on auto-export: monthly or yearly')
    .option(
      '--authorize-timeout <seconds>',
      'how long to retry authorization through IAM propagation (default 300)',
    )
    .option(
      '--endpoint-timeout <seconds>',
      'how long to wait for the private endpoint to become ACTIVE (default 1800)',
    )
    .option('--dry-run', 'print what would be created, adopted or changed; make no write call')
    .option(
      '--repair',
      'also re-check every setting of recorded resources (Block Public Access, encryption) and repair drift',
    )
    .option('-y, --yes', 'do not ask for confirmation before making changes')
    .option(
      '--sandbox',
      'rehearse on a local sandbox (Atlas simulator and moto) started for this run; without a terminal it picks the eligible cluster, a new bucket, --export-now latest and --schedule monthly',
    )
    .action((options: Record<string, unknown>) => runCommand('setup', options));

  common(
    program
      .command('export')
      .description('export one snapshot to the export bucket, or inspect export jobs'),
  )
    .option('--snapshot <id>', 'snapshot id to export')
    .option('--latest', 'export the latest completed snapshot')
    .option('--job <id>', 'watch or inspect an existing export job')
    .option('--list', 'list recent export jobs')
    .option('--list-snapshots', "list the cluster's snapshots that can be exported, newest first")
    .option('--custom <key=value...>', 'custom data attached to the export job (repeatable)')
    .option('--no-wait', 'start the export and print its job id without waiting')
    .option('--timeout <seconds>', 'how long to wait for the export job (default 3600)')
    .action((options: Record<string, unknown>) => runCommand('export', options));

  common(
    program.command('schedule').description("show or change the cluster's auto-export schedule"),
  )
    .addOption(new Option('--frequency <frequency>', 'turn on auto-export: monthly or yearly'))
    .option('--disable', 'turn auto-export off')
    .option('-y, --yes', 'do not ask for confirmation')
    .action((options: Record<string, unknown>) => runCommand('schedule', options));

  common(
    program
      .command('status')
      .description('check every resource in the state file against the clouds'),
  ).action((options: Record<string, unknown>) => runCommand('status', options));

  common(
    program
      .command('teardown')
      .description('remove what this tool created, in the order the APIs need'),
  )
    .option('--delete-bucket', 'also delete the S3 bucket this tool created (only when empty)')
    .option(
      '--force',
      'go ahead while an export job to the export bucket is running; with --delete-bucket, empty the bucket first',
    )
    .option('-y, --yes', 'do not ask for confirmation')
    .action((options: Record<string, unknown>) => runCommand('teardown', options));

  common(
    program
      .command('report')
      .description('write evidence that exports travel only over PrivateLink'),
  )
    .addOption(
      new Option('--format <format>', 'report format (default md)').choices(['md', 'json']),
    )
    .option('--out <file>', 'write the report to this file (default: stdout)')
    .action((options: Record<string, unknown>) => runCommand('report', options));

  program
    .command('sandbox')
    .description(
      'run a local Atlas simulator and moto, and print the settings that point clients at them',
    )
    .option('--port <port>', 'Atlas simulator port (default: any free port)')
    .option('--moto-port <port>', 'moto port (default: any free port)')
    .option('--aws-endpoint <url>', 'use this AWS endpoint instead of starting moto')
    .option('--json', 'print the settings as JSON')
    .action((options: Record<string, unknown>) => runCommand('sandbox', options));

  return program;
}

/**
 * Parses and runs. Commander has already printed its message (or the help, or the version) when it
 * throws: `--help` and `--version` exit 0, every other parser complaint (unknown option or command,
 * missing or invalid option value, no command at all) exits with ExitCode.usage, and with --json
 * also prints the failure document every command prints (see printFailure in run.ts) on stdout.
 */
export async function parse(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) {
      process.exitCode = 0;
      return;
    }
    const { ExitCode } = await import('./errors.js');
    process.exitCode = ExitCode.usage;
    const args = argv.slice(2);
    const end = args.indexOf('--');
    if (!(end === -1 ? args : args.slice(0, end)).includes('--json')) return;
    const command = args.find((arg) => program.commands.some((c) => c.name() === arg));
    const { Output } = await import('./output.js');
    const { printFailure } = await import('./run.js');
    printFailure(
      new Output({ json: true }),
      usageCode(error.code),
      error.message.replace(/^error: /, ''),
      `Run \`atlas-pl-export ${command ? `${command} ` : ''}--help\` for the options.`,
      ExitCode.usage,
    );
  }
}

/** Commander's error code as one of this tool's codes: `commander.unknownOption` -> `UNKNOWN_OPTION`. */
function usageCode(code: string): string {
  const name = code.replace(/^commander\./, '');
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase() || 'INVALID_INPUT';
}
