#!/usr/bin/env node
/**
 * The launcher. A plain `--help`, `-h`, `--version`, `-V`, `help [command]` or `<command> --help` is
 * answered from dist/help.json, written at build time from the same commander definition
 * (scripts/build-help.mjs), so it loads nothing at all; anything else loads the definition
 * (src/program.ts) and runs the command. test/speed/startup.test.ts checks what each path loads, and
 * test/cli.test.ts that both paths print the same text.
 */
// A CommonJS file on purpose: Node starts a CommonJS entry a few milliseconds sooner than an ES module.
import fs = require('node:fs');
import path = require('node:path');

// The AWS SDK warns on every run that its releases from 2027 on will need a newer Node. This tool
// pins its SDK version and documents the Node it needs (README), so the notice is never shown, with
// --debug neither; the SDK's own switch turns it off (unless the user set the switch).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Node prints other process warnings (deprecations) on stderr by default; they are noise for people
// running this tool, so show them only with --debug.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (process.argv.includes('--debug'))
    process.stderr.write(`debug: ${warning.name}: ${warning.message}\n`);
});

function prebuiltAnswer(args: string[]): string | undefined {
  try {
    const texts = JSON.parse(fs.readFileSync(path.join(__dirname, 'help.json'), 'utf8')) as Record<
      string,
      string
    >;
    return texts[args.join(' ')];
  } catch {
    return undefined; // No generated texts (a build without them): commander answers instead.
  }
}

async function main(): Promise<void> {
  const answer = process.argv.length <= 4 ? prebuiltAnswer(process.argv.slice(2)) : undefined;
  if (answer !== undefined) {
    process.stdout.write(answer);
    return;
  }
  const { parse } = await import('./program.js');
  await parse(process.argv);
  // The command has finished: its results are printed, the state file written and its lock released.
  // Idle keep-alive connections (Atlas and AWS clients) and SDK timers would still hold the process
  // for a moment; end it as soon as everything written to stdout and stderr has been flushed.
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit();
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) =>
    stream.writableLength === 0 ? resolve() : stream.write('', () => resolve()),
  );
}

void main();
