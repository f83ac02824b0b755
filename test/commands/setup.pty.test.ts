/**
 * The interactive wizard, driven through a real pseudo-terminal as a person would: pick the project
 * and cluster from lists, accept or type answers, confirm the plan, and watch the steps run.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOWN, ENTER, startTerminal } from '../helpers/pty.js';
import { useSandbox } from '../helpers/sandbox.js';

const sandbox = useSandbox();

describe('setup, interactive in a pseudo-terminal', () => {
  it('asks for what is missing, shows the plan and charges, and runs every step on confirmation', async () => {
    const statePath = join(mkdtempSync(join(tmpdir(), 'setup-pty-')), 'state.json');
    const bucket = `pl-export-pty-${process.pid}`;
    const term = await startTerminal(['setup', '--state', statePath], sandbox.env);

    await term.waitFor('Atlas project');
    term.type(ENTER);
    await term.waitFor('Cluster to export');
    // Ineligible clusters are listed but cannot be chosen, each with its reason.
    await term.waitFor(/FreeCluster0|GcpCluster0/);
    term.type(ENTER);
    await term.waitFor('S3 bucket for the exports');
    term.type(bucket + ENTER);
    await term.waitFor('Bucket region');
    await term.waitFor('us-east-1');
    term.type(ENTER);
    await term.waitFor('IAM role that Atlas will assume');
    term.type(ENTER);
    await term.waitFor('Export the latest snapshot when setup is done?');
    term.type('y' + ENTER);
    await term.waitFor('Auto-export snapshots to the bucket?');
    term.type(DOWN + ENTER);
    await term.waitFor('Make these changes?');
    expect(term.output()).toMatch(/Plan:/);
    expect(term.output()).toMatch(/\$0\.125 per GB/);
    expect(existsSync(statePath)).toBe(false);
    term.type(ENTER);

    const code = await term.exited;
    expect(code, term.output().slice(-3000)).toBe(0);
    expect(term.output()).toMatch(/Setup finished/);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(state.resources.bucket.name).toBe(bucket);
    expect(state.exports[0]).toMatchObject({ state: 'Successful', filesVerified: true });
    expect(state.resources.schedule.frequency).toBe('monthly');
    const exportBucket = sandbox.atlas.state.exportBuckets.find(
      (b) => b._id === state.resources.exportBucket.id,
    );
    expect(exportBucket?.requirePrivateNetworking).toBe(true);
  }, 120_000);

  it('answering no at the confirmation changes nothing', async () => {
    const statePath = join(mkdtempSync(join(tmpdir(), 'setup-pty-')), 'state.json');
    const term = await startTerminal(
      [
        'setup',
        '--state',
        statePath,
        '--project-id',
        sandbox.atlas.seed.projectId,
        '--cluster',
        'Cluster0',
        '--bucket',
        `pl-export-no-${process.pid}`,
        '--region',
        'us-east-1',
        '--iam-role-name',
        'no-role',
        '--schedule',
        'monthly',
        '--export-now',
        'latest',
      ],
      sandbox.env,
    );
    await term.waitFor('Make these changes?');
    term.type('n' + ENTER);
    const code = await term.exited;
    expect(code).toBe(130);
    expect(term.output()).toMatch(/Nothing was changed/);
    expect(existsSync(statePath)).toBe(false);
    expect(sandbox.atlas.calls.filter((call) => call.method !== 'GET')).toEqual([]);
  }, 60_000);
});
