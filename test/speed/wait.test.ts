/** Poll backoff: the delay grows with the time waited (a twentieth), within its bounds and the deadline. */
import { describe, expect, it } from 'vitest';
import { BACKOFF_DIVISOR, nextDelay, waitFor } from '../../src/wait.js';

describe('poll backoff', () => {
  it('starts at minMs, grows to a twentieth of the time waited, stops at maxMs', () => {
    expect(BACKOFF_DIVISOR).toBe(20);
    expect(nextDelay(0, 250, 15_000, 600_000)).toBe(250);
    expect(nextDelay(4_000, 250, 15_000, 600_000)).toBe(250);
    expect(nextDelay(6_000, 250, 15_000, 600_000)).toBe(300);
    expect(nextDelay(120_000, 250, 15_000, 600_000)).toBe(6_000);
    expect(nextDelay(3_600_000, 250, 15_000, 7_200_000)).toBe(15_000);
  });

  it('does not sleep far past the deadline', () => {
    expect(nextDelay(590_000, 250, 15_000, 600_000)).toBe(10_250);
  });

  it('a wait ends on the first poll that sees the value, with the polls the backoff implies', async () => {
    let polls = 0;
    const value = await waitFor(async () => (++polls === 4 ? 'ready' : undefined), {
      what: 'test',
      timeoutMs: 5_000,
      minMs: 5,
      maxMs: 50,
    });
    expect(value).toBe('ready');
    expect(polls).toBe(4);
  });

  it('times out with the wait timeout code', async () => {
    await expect(
      waitFor(async () => undefined, { what: 'nothing', timeoutMs: 30, minMs: 5 }),
    ).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' });
  });
});
