import { describe, expect, it } from 'vitest';
import { Output } from '../../src/output.js';
import { runSteps, type Step } from '../../src/setup/runner.js';
import { Writable } from 'node:stream';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
const out = () => new Output({ interactive: false, stderr: sink(), stdout: sink() });
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function step(id: string, needs: string[], ms: number, log: string[], fail = false): Step<string> {
  return {
    id,
    title: id,
    needs,
    run: async () => {
      log.push(`start ${id}`);
      await wait(ms);
      if (fail) throw new Error(`${id} failed`);
      log.push(`end ${id}`);
      return { status: 'done', detail: id };
    },
  };
}

describe('runSteps', () => {
  it('starts each step as soon as its needs are done, so independent chains overlap', async () => {
    const log: string[] = [];
    await runSteps(
      [
        step('a', [], 10, log),
        step('slow', ['a'], 200, log),
        step('b', ['a'], 50, log),
        step('c', ['b'], 50, log),
        step('d', ['slow', 'c'], 10, log),
      ],
      { out: out(), onStepDone: async () => undefined },
    );
    // b and c ran while slow was still running; d waited for both chains.
    expect(log.indexOf('end c')).toBeLessThan(log.indexOf('end slow'));
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end slow'));
  });

  it('records each result before a dependent starts', async () => {
    const log: string[] = [];
    await runSteps([step('a', [], 5, log), step('b', ['a'], 5, log)], {
      out: out(),
      onStepDone: async (id) => {
        await wait(20);
        log.push(`saved ${id}`);
      },
    });
    expect(log.indexOf('saved a')).toBeLessThan(log.indexOf('start b'));
  });

  it('after a failure starts nothing new, lets running steps finish and record, then throws', async () => {
    const log: string[] = [];
    const saved: string[] = [];
    await expect(
      runSteps(
        [
          step('a', [], 5, log),
          step('bad', ['a'], 10, log, true),
          step('long', ['a'], 60, log),
          step('after', ['bad'], 5, log),
        ],
        {
          out: out(),
          onStepDone: async (id) => {
            saved.push(id);
          },
        },
      ),
    ).rejects.toThrow('bad failed');
    expect(saved).toEqual(['a', 'long']);
    expect(log).not.toContain('start after');
  });

  it('rejects a cycle and an unknown dependency', async () => {
    await expect(
      runSteps([step('a', ['b'], 1, []), step('b', ['a'], 1, [])], {
        out: out(),
        onStepDone: async () => undefined,
      }),
    ).rejects.toThrow(/cycle/);
    await expect(
      runSteps([step('a', ['zzz'], 1, [])], { out: out(), onStepDone: async () => undefined }),
    ).rejects.toThrow(/unknown step/);
  });
});
