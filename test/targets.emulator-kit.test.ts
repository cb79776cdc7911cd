/**
 * The emulators' latency timers (src/targets/emulator-kit.ts): `awake` waits end on their
 * deadline, in deadline order, without holding timers or I/O up, and the loop that checks them
 * stops once none is pending.
 */
import { describe, expect, it } from 'vitest';
import { AwakeWaits, latencyWait } from '../src/targets/emulator-kit.js';

describe('AwakeWaits', () => {
  it('ends each wait at or after its deadline, the earliest first', async () => {
    const waits = new AwakeWaits();
    const started = performance.now();
    const ended: [number, number][] = [];
    const wait = (ms: number) => waits.wait(ms).then(() => ended.push([ms, performance.now() - started]));
    await Promise.all([wait(30), wait(10), wait(0), wait(20)]);
    expect(ended.map(([ms]) => ms)).toEqual([0, 10, 20, 30]);
    for (const [ms, after] of ended) expect(after).toBeGreaterThanOrEqual(ms);
  });

  it('lets timers fire while it waits, and stops turning the loop once nothing waits', async () => {
    const waits = new AwakeWaits();
    let timerAt = Infinity;
    setTimeout(() => (timerAt = performance.now()), 2);
    const waiting = waits.wait(25);
    expect([waits.size, waits.turningLoop]).toEqual([1, true]);
    await waiting;
    expect(timerAt).toBeLessThan(performance.now());
    expect([waits.size, waits.turningLoop]).toEqual([0, false]);
    // A new wait starts the loop again.
    const again = waits.wait(1);
    expect(waits.turningLoop).toBe(true);
    await again;
    expect(waits.turningLoop).toBe(false);
  });
});

describe('latencyWait', () => {
  it('sleep (the default) and awake both wait at least the time asked', async () => {
    for (const wait of [latencyWait(), latencyWait('sleep'), latencyWait('awake')]) {
      const started = performance.now();
      await wait(15);
      // setTimeout may fire up to a millisecond early by performance.now() (it counts whole ms).
      expect(performance.now() - started).toBeGreaterThanOrEqual(14);
    }
  });
});
