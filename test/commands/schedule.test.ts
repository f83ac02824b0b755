/**
 * `schedule` end to end: the built CLI against the sandbox after a real `setup`. At every step the
 * cluster's snapshot policies in the simulator are compared field by field with what it held before.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scheduleBody } from '../../src/commands/schedule.js';
import { comparePolicies } from '../../src/atlas/schedule.js';
import type { BackupSchedule } from '../../src/atlas/types.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startTerminal } from '../helpers/pty.js';
import { useSandbox } from '../helpers/sandbox.js';
import { freshScenario, runSetup } from '../helpers/setup.js';

const sandbox = useSandbox();

interface Ready {
  statePath: string;
  bucket: string;
  exportBucketId: string;
}

async function setUp(): Promise<Ready> {
  const { statePath, bucket } = freshScenario('schedule');
  const state = await runSetup(sandbox, statePath, bucket, []);
  return { statePath, bucket, exportBucketId: state.resources.exportBucket.id };
}

const cli = (ready: Ready, args: string[]): Promise<CliResult> =>
  runCli(['schedule', '--state', ready.statePath, '--non-interactive', ...args], {
    env: sandbox.env,
  });
const simSchedule = () => {
  const schedule = sandbox.atlas.state.schedules.find((item) => item.clusterName === 'Cluster0');
  if (!schedule) throw new Error('the seed has no schedule for Cluster0');
  return schedule;
};
const recorded = (ready: Ready) =>
  JSON.parse(readFileSync(ready.statePath, 'utf8')).resources.schedule;
/** The auto-export frequency the state's plan asks setup for. */
const planned = (ready: Ready) => JSON.parse(readFileSync(ready.statePath, 'utf8')).plan.schedule;
const patches = () =>
  sandbox.atlas.calls.filter(
    (call) =>
      call.method === 'PATCH' && call.path.endsWith('/backup/schedule') && call.status === 200,
  );

/** Every policy and policy item, field by field, as the simulator holds them. */
function policyFields(policies: ReturnType<typeof simSchedule>['policies']): string[] {
  return policies.flatMap((policy) =>
    policy.policyItems.map((item) =>
      [
        policy.id,
        item.id,
        item.frequencyType,
        item.frequencyInterval,
        item.retentionUnit,
        item.retentionValue,
      ].join('|'),
    ),
  );
}

describe('schedule', () => {
  it('shows, enables, changes and disables auto-export, keeping the snapshot policies exactly as they were', async () => {
    const ready = await setUp();
    const before = structuredClone(simSchedule());
    const beforeFields = policyFields(before.policies);
    expect(beforeFields).toHaveLength(4);

    const shown = await cli(ready, []);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/hourly\s+6 hours\s+2 days/);
    expect(shown.stdout).toMatch(/monthly\s+last day of the month\s+12 months/);
    // Atlas counts weekdays from 1 = Monday to 7 = Sunday.
    expect(shown.stdout).toMatch(/weekly\s+Saturday\s+/);
    expect(shown.stdout).not.toMatch(/of the week/);
    expect(shown.stdout).toContain('Auto-export: off');
    expect(patches()).toHaveLength(0);

    const enabled = await cli(ready, ['--frequency', 'monthly', '--json']);
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({
      ok: true,
      changed: true,
      policiesUnchanged: true,
      policyDifferences: [],
    });
    expect(simSchedule().autoExportEnabled).toBe(true);
    expect(simSchedule().export).toEqual({
      exportBucketId: ready.exportBucketId,
      frequencyType: 'monthly',
    });
    expect(policyFields(simSchedule().policies)).toEqual(beforeFields);
    expect(simSchedule().policies).toEqual(before.policies);
    expect(recorded(ready)).toEqual({
      frequency: 'monthly',
      origin: 'created',
      previous: { autoExportEnabled: false },
    });
    // What the user chose last is what a rerun of setup keeps.
    expect(planned(ready)).toBe('monthly');

    const again = await cli(ready, ['--frequency', 'monthly']);
    expect(again.code, again.stderr).toBe(0);
    // Said once (on stdout), not once on each stream.
    expect(`${again.stdout}${again.stderr}`.match(/already monthly/g)).toHaveLength(1);
    expect(again.stdout).toBe(
      `Auto-export is already monthly, to export bucket ${ready.exportBucketId}; nothing changed.\n`,
    );
    expect(patches()).toHaveLength(1);

    const changed = await cli(ready, ['--frequency', 'yearly']);
    expect(changed.code, changed.stderr).toBe(0);
    const target = `export bucket ${ready.exportBucketId} (s3://${ready.bucket})`;
    expect(changed.stderr).toContain(
      `Change: make auto-export yearly instead of monthly, still to ${target}, keeping every snapshot policy as it is.`,
    );
    expect(changed.stderr).toContain(
      `Done: auto-export changed from monthly to yearly, still to ${target}. Snapshot policies checked: unchanged.`,
    );
    expect(planned(ready)).toBe('yearly');
    expect(simSchedule().export).toEqual({
      exportBucketId: ready.exportBucketId,
      frequencyType: 'yearly',
    });
    expect(policyFields(simSchedule().policies)).toEqual(beforeFields);
    expect(simSchedule().policies).toEqual(before.policies);
    // origin and previous stay those of the first change (teardown restores what was there before this tool).
    expect(recorded(ready)).toEqual({
      frequency: 'yearly',
      origin: 'created',
      previous: { autoExportEnabled: false },
    });

    const disabled = await cli(ready, ['--disable', '--json']);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(JSON.parse(disabled.stdout)).toMatchObject({
      ok: true,
      changed: true,
      policiesUnchanged: true,
      schedule: { autoExportEnabled: false },
    });
    expect(simSchedule().autoExportEnabled).toBe(false);
    expect(policyFields(simSchedule().policies)).toEqual(beforeFields);
    expect(simSchedule().policies).toEqual(before.policies);
    expect(simSchedule().referenceHourOfDay).toBe(before.referenceHourOfDay);
    expect(simSchedule().restoreWindowDays).toBe(before.restoreWindowDays);
    expect(recorded(ready)).toBeUndefined();
    expect(disabled.stderr).toContain(
      `Done: auto-export turned off (it was yearly, to export bucket ${ready.exportBucketId}). Snapshot policies checked: unchanged.`,
    );
    // Off is the user's last choice: a rerun of setup must not turn it back on from the plan.
    expect(planned(ready)).toBeUndefined();
    expect(patches()).toHaveLength(3);
  });

  it('passes an undocumented frequency to Atlas and shows its refusal; nothing changes', async () => {
    const ready = await setUp();
    const before = structuredClone(simSchedule());
    const result = await cli(ready, ['--frequency', 'daily']);
    expect(result.code).toBe(3);
    // Atlas's own answer (errorCode and detail) is shown.
    expect(result.stderr).toContain('INVALID_JSON_ATTRIBUTE');
    expect(result.stderr).toContain('export.frequencyType');
    expect(result.stderr).toContain('Atlas did not accept auto-export frequency "daily"');
    // One PATCH reached Atlas (401s are digest challenges) and Atlas refused it.
    const sent = sandbox.atlas.calls.filter(
      (call) =>
        call.method === 'PATCH' && call.path.endsWith('/backup/schedule') && call.status !== 401,
    );
    expect(sent.map((call) => call.status)).toEqual([400]);
    expect(simSchedule()).toEqual(before);
    expect(recorded(ready)).toBeUndefined();

    // Atlas decides whether the project allows it, said once; its refusal's hint names what the tool knows.
    expect(result.stderr.match(/decides whether this project allows it/g)).toHaveLength(1);
    expect(result.stderr).toMatch(
      /what to do: atlas-pl-export knows the frequencies monthly and yearly[^\n]*--frequency monthly or --frequency yearly/,
    );

    const conflict = await cli(ready, ['--frequency', 'monthly', '--disable']);
    expect(conflict.code).toBe(2);
    expect(simSchedule()).toEqual(before);
  });

  it('checks the form of --frequency (one lowercase word) before any call, and warns about the snapshot policy only for frequencies a policy item can have', async () => {
    const ready = await setUp();
    const before = structuredClone(simSchedule());
    const callsBefore = sandbox.atlas.calls.length;
    for (const bad of ['every-day', 'Monthly', ' monthly', '', 'x'.repeat(33)]) {
      const refused = await cli(ready, ['--frequency', bad]);
      expect(refused.code, `${bad}: ${refused.stderr}`).toBe(2);
      expect(refused.stderr).toContain(
        `--frequency "${bad}": must be one lowercase word (letters a-z only, at most 32)`,
      );
      expect(refused.stderr).toContain('what to do: Use --frequency monthly or --frequency yearly');
      expect(refused.stderr).not.toMatch(/\bat .*\.js:\d+|undefined/);
    }
    expect(sandbox.atlas.calls.length).toBe(callsBefore);

    // A lowercase word no snapshot policy item can have: passed to Atlas, no policy warning.
    const bogus = await cli(ready, ['--frequency', 'bogus']);
    expect(bogus.code, bogus.stderr).toBe(3);
    expect(bogus.stderr).not.toContain('snapshot policy has no');
    expect(bogus.stderr).not.toContain('auto-exports only bogus');
    expect(
      bogus.stderr.match(
        /"bogus" is passed to Atlas, which decides whether this project allows it/g,
      ),
    ).toHaveLength(1);
    expect(bogus.stderr).toContain('Atlas did not accept auto-export frequency "bogus"');
    expect(bogus.stderr).toMatch(
      /what to do: atlas-pl-export knows the frequencies monthly and yearly/,
    );
    expect(simSchedule()).toEqual(before);

    // A policy-item frequency the policy lacks is still warned about (ondemand: the seed has none).
    const ondemand = await cli(ready, ['--frequency', 'ondemand']);
    expect(ondemand.code).toBe(3);
    expect(ondemand.stderr).toContain("The cluster's snapshot policy has no ondemand item");
    // The documented ones get no note.
    const monthly = await cli(ready, ['--frequency', 'monthly']);
    expect(monthly.code, monthly.stderr).toBe(0);
    expect(monthly.stderr).not.toContain('decides whether this project allows it');
  });

  it('refuses (exit 3, before the PATCH) to turn auto-export on or change it while the export bucket does not require private networking; plain schedule says so', async () => {
    const ready = await setUp();
    const bucket = sandbox.atlas.state.exportBuckets.find((b) => b._id === ready.exportBucketId)!;
    const on = await cli(ready, ['--frequency', 'monthly']);
    expect(on.code, on.stderr).toBe(0);
    const shownPrivate = await cli(ready, ['--json']);
    expect(JSON.parse(shownPrivate.stdout).exportBucketRequirePrivateNetworking).toBe(true);
    expect(shownPrivate.stderr).not.toContain('does not require private networking');

    bucket.requirePrivateNetworking = false; // someone PATCHed it
    const before = structuredClone(simSchedule());
    const patchesBefore = patches().length;
    const change = await cli(ready, ['--frequency', 'yearly', '--json']);
    expect(change.code, change.stderr).toBe(3);
    expect(change.stderr).toContain(
      `The export bucket ${bucket._id} (s3://${ready.bucket}) has requirePrivateNetworking: false, so Atlas would send every scheduled export over public networks`,
    );
    expect(change.stderr).toContain('Auto-export was not changed.');
    expect(change.stderr).not.toContain('Done:');
    expect(JSON.parse(change.stdout)).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { code: 'EXPORT_BUCKET_NOT_PRIVATE' },
    });
    expect(patches().length).toBe(patchesBefore);
    expect(simSchedule()).toEqual(before);
    expect(recorded(ready).frequency).toBe('monthly');
    // Already as asked: nothing is sent, but the bucket's setting is still said.
    const same = await cli(ready, ['--frequency', 'monthly']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('nothing changed');
    expect(same.stderr).toContain('which does not require private networking');
    expect(patches().length).toBe(patchesBefore);

    // Off, then on again: refused the same way.
    expect((await cli(ready, ['--disable'])).code).toBe(0);
    const again = await cli(ready, ['--frequency', 'monthly']);
    expect(again.code, again.stderr).toBe(3);
    expect(again.stderr).toContain('requirePrivateNetworking: false');
    expect(simSchedule().autoExportEnabled).toBe(false);

    // Plain schedule: a warning line, and the field in --json.
    Object.assign(simSchedule(), {
      autoExportEnabled: true,
      export: { exportBucketId: bucket._id, frequencyType: 'monthly' },
    });
    const shown = await cli(ready, []);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stderr).toContain(
      `auto-export goes to export bucket ${bucket._id}, which does not require private networking (requirePrivateNetworking: false)`,
    );
    expect(shown.stderr.match(/does not require private networking/g)).toHaveLength(1);
    const shownJson = await cli(ready, ['--json']);
    expect(JSON.parse(shownJson.stdout)).toMatchObject({
      ok: true,
      exportBucketRequirePrivateNetworking: false,
    });
  });
});

describe("schedule and another setup's auto-export", () => {
  /** Points the cluster's auto-export at another export bucket of the project (another setup's). */
  function pointAtOtherSetup(ready: Ready, frequencyType = 'monthly'): string {
    const store = sandbox.atlas.state;
    const ours = store.exportBuckets.find((bucket) => bucket._id === ready.exportBucketId);
    if (!ours) throw new Error('setup left no export bucket in the simulator');
    const otherId = 'bbbbbbbbbbbbbbbbbbbbbbbb';
    store.exportBuckets.push({ ...ours, _id: otherId, bucketName: `${ready.bucket}-other` });
    Object.assign(simSchedule(), {
      autoExportEnabled: true,
      export: { exportBucketId: otherId, frequencyType },
    });
    return otherId;
  }

  it('refuses (exit 2) to disable or change auto-export that goes to an export bucket not in the state file, without --yes; --yes does it', async () => {
    const ready = await setUp();
    const otherId = pointAtOtherSetup(ready);
    const before = structuredClone(simSchedule());
    for (const args of [['--disable'], ['--frequency', 'monthly']]) {
      const refused = await cli(ready, [...args, '--json']);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toContain(
        `auto-export now goes to export bucket ${otherId} (s3://${ready.bucket}-other), which this state file does not record`,
      );
      expect(refused.stderr).toContain('--yes');
      expect(JSON.parse(refused.stdout)).toMatchObject({
        ok: false,
        exitCode: 2,
        error: { code: 'CONFIRMATION_REQUIRED' },
      });
      expect(patches()).toHaveLength(0);
      expect(simSchedule()).toEqual(before);
    }
    const disabled = await cli(ready, ['--disable', '--yes']);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(patches()).toHaveLength(1);
    expect(simSchedule().autoExportEnabled).toBe(false);
    expect(simSchedule().policies).toEqual(before.policies);
  });

  it('asks on a terminal, defaulting to no, naming the other export bucket', async () => {
    const ready = await setUp();
    const otherId = pointAtOtherSetup(ready);
    const before = structuredClone(simSchedule());
    const term = await startTerminal(
      ['schedule', '--state', ready.statePath, '--disable'],
      sandbox.env,
    );
    await term.waitFor('Make this change?');
    expect(term.output()).toContain(`auto-export now goes to export bucket ${otherId}`);
    term.type('\r'); // the default
    expect(await term.exited).toBe(130);
    expect(patches()).toHaveLength(0);
    expect(simSchedule()).toEqual(before);
  });

  it('warns when the frequency has no snapshot policy item (nothing would be exported), and not when it has one', async () => {
    const ready = await setUp();
    const yearly = await cli(ready, ['--frequency', 'yearly']);
    expect(yearly.code, yearly.stderr).toBe(0);
    expect(yearly.stderr).toContain(
      "The cluster's snapshot policy has no yearly item (it has hourly, daily, weekly, monthly): Atlas auto-exports only yearly snapshots, so nothing would be exported",
    );
    const monthly = await cli(ready, ['--frequency', 'monthly']);
    expect(monthly.code, monthly.stderr).toBe(0);
    expect(monthly.stderr).not.toContain('has no monthly item');
  });
});

describe('schedule, interactive', () => {
  it('asks before changing: no leaves everything as it was, yes makes the change', async () => {
    const ready = await setUp();
    const before = structuredClone(simSchedule());
    const ask = async (answer: string) => {
      const term = await startTerminal(
        ['schedule', '--state', ready.statePath, '--frequency', 'yearly'],
        sandbox.env,
      );
      await term.waitFor('Make this change?');
      expect(term.output()).toContain('keeping every snapshot policy as it is');
      term.type(`${answer}\r`);
      return term.exited;
    };
    expect(await ask('n')).toBe(130);
    expect(patches()).toHaveLength(0);
    expect(simSchedule()).toEqual(before);
    expect(await ask('y')).toBe(0);
    expect(simSchedule().export).toEqual({
      exportBucketId: ready.exportBucketId,
      frequencyType: 'yearly',
    });
    expect(simSchedule().policies).toEqual(before.policies);
    expect(recorded(ready)).toMatchObject({ frequency: 'yearly', origin: 'created' });
  });
});

describe('schedule helpers', () => {
  const policies: BackupSchedule['policies'] = [
    {
      id: 'p1',
      policyItems: [
        {
          id: 'i1',
          frequencyInterval: 6,
          frequencyType: 'hourly',
          retentionUnit: 'days',
          retentionValue: 2,
        },
        {
          id: 'i2',
          frequencyInterval: 1,
          frequencyType: 'daily',
          retentionUnit: 'days',
          retentionValue: 7,
        },
      ],
    },
  ];

  it('comparePolicies names every changed, lost or added field', () => {
    expect(comparePolicies(policies, structuredClone(policies))).toEqual([]);
    const changed = structuredClone(policies);
    changed[0]!.policyItems[1]!.retentionValue = 14;
    expect(comparePolicies(policies, changed)).toEqual([
      'policy p1, item i2 (daily): retentionValue 7 -> 14',
    ]);
    const lost = structuredClone(policies);
    lost[0]!.policyItems.pop();
    expect(comparePolicies(policies, lost)).toEqual(
      expect.arrayContaining(['policy p1, item i2 (daily) is gone']),
    );
    const added = structuredClone(policies);
    added[0]!.policyItems.push({
      id: 'i3',
      frequencyInterval: 6,
      frequencyType: 'weekly',
      retentionUnit: 'weeks',
      retentionValue: 4,
    });
    expect(comparePolicies(policies, added).join('\n')).toContain('new item i3');
  });

  it('scheduleBody keeps the policies and drops only read-only fields', () => {
    const current: BackupSchedule = {
      clusterId: 'c',
      clusterName: 'n',
      nextSnapshot: 'x',
      links: [],
      policies,
      restoreWindowDays: 2,
      autoExportEnabled: false,
    };
    const body = scheduleBody(current, {
      enabled: true,
      exportBucketId: 'b',
      frequencyType: 'monthly',
    });
    expect(body).toEqual({
      policies,
      restoreWindowDays: 2,
      autoExportEnabled: true,
      export: { exportBucketId: 'b', frequencyType: 'monthly' },
    });
    expect(body.policies).not.toBe(policies);
  });
});
