/**
 * Ctrl-C typed in a real terminal while a progress spinner runs: the command stops at once with 130,
 * leaves a valid state file, and a rerun finishes. (A spinner that takes over the terminal's input
 * must not swallow the keystroke.)
 */
import { readFileSync } from 'node:fs';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../src/aws/clients.js';
import { runCli } from './helpers/cli.js';
import { running, startTerminal, type Terminal } from './helpers/pty.js';
import { awsClientsFor, useSandbox } from './helpers/sandbox.js';
import { freshScenario, readState, runSetup } from './helpers/setup.js';

const sandbox = useSandbox();
let aws: AwsClients;

beforeAll(async () => {
  aws = await awsClientsFor(sandbox.env);
});

async function roleExists(name: string): Promise<boolean> {
  try {
    await aws.iam.send(new GetRoleCommand({ RoleName: name }));
    return true;
  } catch {
    return false;
  }
}

/**
 * The program ends within seconds with `code`. node-pty now and then never reports the exit of a
 * program that ended at once; then the process must be gone, having said it was interrupted.
 */
async function expectExit(term: Terminal, code: number): Promise<void> {
  const ended = await Promise.race([
    term.exited,
    new Promise<'no exit event'>((resolve) => setTimeout(() => resolve('no exit event'), 15_000)),
  ]);
  if (ended !== 'no exit event') {
    expect(ended, term.output()).toBe(code);
    return;
  }
  // Gone, or a zombie nobody has collected yet.
  const stillRunning = running(term.pid);
  if (stillRunning) term.kill();
  expect(stillRunning, `still running after Ctrl-C:\n${term.output().slice(-2000)}`).toBe(false);
}

describe('Ctrl-C in a terminal during a spinner', () => {
  it('stops an export wait with 130; the job stays recorded and --job picks it up', async () => {
    const { statePath, bucket } = freshScenario('interrupt');
    await runSetup(sandbox, statePath, bucket, []);
    sandbox.atlas.setDelays({ exportMs: 60_000 });

    const term = await startTerminal(['export', '--latest', '--state', statePath], sandbox.env);
    await term.waitFor(/Export job [0-9a-f]{24}/, 60_000);
    term.type('\x03');
    await expectExit(term, 130);
    expect(term.output()).toContain('Interrupted');

    const state = readState(statePath);
    expect(state.exports).toHaveLength(1);
    sandbox.atlas.setDelays({ exportMs: 200 });
    const watched = await runCli(
      ['export', '--job', state.exports[0].id, '--state', statePath, '--json'],
      { env: sandbox.env },
    );
    expect(watched.code, watched.stderr).toBe(0);
    expect(JSON.parse(watched.stdout).job.state).toBe('Successful');
  });

  it('stops teardown --yes between removals with 130; a rerun removes the rest', async () => {
    const { statePath, bucket } = freshScenario('interrupt');
    const state = await runSetup(sandbox, statePath, bucket, []);
    sandbox.atlas.setFaults({ latencyMs: 3000 });

    const term = await startTerminal(['teardown', '--yes', '--state', statePath], sandbox.env);
    await term.waitFor(/Removing/, 60_000);
    term.type('\x03');
    await expectExit(term, 130);
    // It stopped before reaching the AWS side: the IAM role is still there, and recorded.
    expect(await roleExists(state.resources.iamRole.name)).toBe(true);
    expect(() => JSON.parse(readFileSync(statePath, 'utf8'))).not.toThrow();

    sandbox.atlas.setFaults({ latencyMs: 0 });
    const rerun = await runCli(['teardown', '--yes', '--state', statePath], { env: sandbox.env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await roleExists(state.resources.iamRole.name)).toBe(false);
  });
});
