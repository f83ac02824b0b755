import { CliError } from '../errors.js';
import type { CommandContext } from '../run.js';

export async function run(_ctx: CommandContext): Promise<number> {
  throw new CliError('The teardown command is not built yet.');
}
