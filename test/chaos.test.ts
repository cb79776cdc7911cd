/**
 * The chaos run of chaos/harness.ts, small (issue #8, item 6: at least 5 kills over at least 300
 * orders): the built CLI (`node dist/cli.js`, built by the global setup) backfills generated
 * orders into a Run my Accounts emulator with faults and a rate limit, is killed with SIGKILL at
 * random (seeded) moments and restarted, then runs to the end. Nothing may be lost or booked
 * twice, the transfer account must be back at zero, and the emulator's rate limit never exceeded.
 * `npm run chaos` is the full run (2,000 orders, 20 kills).
 */
import { describe, expect, it } from 'vitest';
import { formatReport, removeProject, runChaos } from '../chaos/harness.js';
import { RateMeter } from '../src/targets/emulator-kit.js';
import { startRunMyAccounts } from '../src/targets/runmyaccounts/emulator.js';

describe('what the chaos run adds to the emulators', () => {
  it('a rate meter counts every arrival in a sliding window and refuses those over the limit', () => {
    let now = 10_000;
    const meter = new RateMeter({ requests: 3, windowMs: 1000 }, () => now);
    expect([meter.arrive(), meter.arrive(), meter.arrive()]).toEqual([null, null, null]);
    expect(meter.arrive()).toBe(1);
    now += 999;
    expect(meter.arrive()).toBe(1);
    now += 1;
    // The first three left the window (it ends at now - 1000, exclusive); the two refused ones count.
    expect(meter.arrive()).toBeNull();
    expect(meter.stats).toEqual({ limit: 3, windowMs: 1000, maxInWindow: 5, refused: 2 });
    const measuring = new RateMeter(null, () => now);
    for (let i = 0; i < 10; i++) expect(measuring.arrive()).toBeNull();
    expect(measuring.stats).toMatchObject({ limit: null, maxInWindow: 10, refused: 0 });
    expect(() => new RateMeter({ requests: 0 })).toThrow(RangeError);
  });

  it('the Run my Accounts emulator answers 429 beyond its rate limit, apart from the throttle fault', async () => {
    const emu = await startRunMyAccounts({ mandants: ['m'], key: 'k', rateLimit: { requests: 5 }, faults: { throttle: 1 } });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 8 }, async () => (await fetch(`${emu.apiBase('m')}/customers`, { headers: { authorization: 'Bearer k', accept: 'application/json' } })).status),
      );
      expect(statuses.filter((s) => s === 429)).toHaveLength(4);
      expect(emu.stats.rate).toMatchObject({ limit: 5, refused: 3, maxInWindow: 8 });
      expect(emu.stats.faults.throttled).toBe(1);
      expect(emu.requests.filter((r) => r.fault === 'rate-limit')).toHaveLength(3);
      const control = (await (await fetch(`${emu.url}/_control/rate-limit`)).json()) as { limit: unknown; stats: unknown };
      expect(control).toEqual({ limit: { requests: 5 }, stats: emu.stats.rate });
      emu.rateLimit = null;
      expect(emu.stats.rate).toMatchObject({ limit: null, refused: 0, maxInWindow: 0 });
    } finally {
      await emu.close();
    }
  });

  it('a write stalled after the commit is booked, and its connection cut after stallMs without an answer', async () => {
    const emu = await startRunMyAccounts({ mandants: ['m'], key: 'k', faults: { stallAfterCommit: 1, stallMs: 300 } });
    try {
      const started = Date.now();
      const send = fetch(`${emu.apiBase('m')}/customers`, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
        body: JSON.stringify({ customernumber: 'C1', name: 'Anna' }),
      });
      await expect(send).rejects.toThrow();
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(emu.customers('m').map((c) => c.customernumber)).toEqual(['C1']);
      expect(emu.stats.faults.stalled).toBe(1);
      expect(emu.requests[0]).toMatchObject({ status: 'dropped', fault: 'stall' });
    } finally {
      await emu.close();
    }
  });
});

describe('chaos: kontor killed and restarted during a backfill', () => {
  it('books every document exactly once, the transfer account at zero, within the rate limit', async () => {
    const report = await runChaos({
      orders: 300,
      kills: 6,
      seed: 20_261_121,
      dialect: 'sqlite',
      requestsPerSecond: 125,
      rateLimit: 300,
      timeoutMs: 150_000,
    });
    const text = formatReport(report);
    console.log(text);
    expect(report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`), text).toEqual([]);
    expect(report.kills.total).toBeGreaterThanOrEqual(5);
    expect(report.orders.first).toBeGreaterThanOrEqual(300);
    expect(report.books.customers.lost + report.books.invoices.lost + report.books.payments.lost, 'lost').toBe(0);
    expect(report.books.customers.extra + report.books.invoices.extra + report.books.payments.duplicated, 'duplicated').toBe(0);
    expect(report.books.transferBalance).toBe(0);
    expect(report.books.transferPayments).toBeGreaterThan(0);
    expect(report.rate.violations).toBe(0);
    removeProject(report);
  }, 180_000);
});
