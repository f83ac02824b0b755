/**
 * What counts as CI (isCi in src/output.ts, used by the prompts and the spinners): CI set to anything
 * but "", "false" or "0". Driven through a pseudo-terminal, where only CI can turn the prompts off.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCi } from '../src/output.js';
import { startTerminal } from './helpers/pty.js';
import { useSandbox } from './helpers/sandbox.js';

const sandbox = useSandbox();

const statePath = () => join(mkdtempSync(join(tmpdir(), 'run-ci-')), 'state.json');

describe('CI', () => {
  it('is set by any value but "", "false" and "0"', () => {
    for (const value of ['true', '1', 'yes', 'woodpecker'])
      expect(isCi({ CI: value }), value).toBe(true);
    for (const value of [undefined, '', 'false', 'FALSE', '0', ' false '])
      expect(isCi({ CI: value }), String(value)).toBe(false);
  });

  it.each(['false', '0'])('CI=%s at a terminal: the wizard asks', async (value) => {
    const term = await startTerminal(['setup', '--state', statePath()], {
      ...sandbox.env,
      CI: value,
    });
    try {
      await term.waitFor('Atlas project');
    } finally {
      term.kill();
    }
  });

  it('CI=true at a terminal: no prompt, the missing values are listed (exit 2)', async () => {
    const term = await startTerminal(['setup', '--state', statePath()], {
      ...sandbox.env,
      CI: 'true',
    });
    const code = await term.exited;
    expect(code, term.output()).toBe(2);
    expect(term.output()).toMatch(/--project-id/);
    expect(term.output()).not.toMatch(/Atlas project/);
  });
});
