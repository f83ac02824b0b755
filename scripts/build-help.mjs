// Writes dist/help.json: the exact text commander prints for each plain help or version request, so
// the launcher (dist/cli.cjs) can answer those without loading commander. Run by `npm run build`.
// Also makes the launcher executable: tsc writes it without the bit, and `npx atlas-pl-export` run
// from this tree (linked once, then rebuilt) executes the file itself.
import { chmodSync, writeFileSync } from 'node:fs';

const { buildProgram } = await import(new URL('../dist/program.js', import.meta.url));
const program = buildProgram();
const texts = {};
const root = program.helpInformation();
for (const key of ['--help', '-h', 'help']) texts[key] = root;
for (const key of ['--version', '-V']) texts[key] = `${program.version()}\n`;
for (const command of program.commands) {
  const name = command.name();
  const help = command.helpInformation();
  for (const key of [`${name} --help`, `${name} -h`, `help ${name}`]) texts[key] = help;
}
writeFileSync(new URL('../dist/help.json', import.meta.url), `${JSON.stringify(texts, null, 2)}\n`);
chmodSync(new URL('../dist/cli.cjs', import.meta.url), 0o755);
