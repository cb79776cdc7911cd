/**
 * The HTTP client's adaptive rate limit (AIMD) against a loopback server, on a fake clock: a
 * 429 halves the rate, successes win it back step by step, never above the configured rate.
 * Requests are counted per second of the fake clock, so nothing depends on real timing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, type RateLimit } from '../src/http/client.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/**
 * A server answering `statusOf(n)` to its n-th request (1-based), and a client on a fake clock
 * that only moves when the client sleeps; each request is stamped with that clock.
 */
async function setup(statusOf: (n: number) => number, rateLimit: RateLimit) {
  let clock = 0;
  const stamps: { at: number; status: number }[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = statusOf(stamps.length + 1);
      stamps.push({ at: clock, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new HttpClient({
    name: 'target test',
    rateLimit,
    retries: 10,
    throttleRetries: 20,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
    // Retries right away: only the rate limit spaces the requests.
    random: () => 0,
  });
  cleanups.push(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  /** Requests per second of the fake clock, second 0 first. */
  const perSecond = () => {
    const counts: number[] = [];
    for (const s of stamps) {
      const second = Math.floor(s.at / 1000);
      while (counts.length <= second) counts.push(0);
      counts[second]!++;
    }
    return counts;
  };
  const get = (i: number) => client.request({ method: 'GET', url: `${url}/orders?page=${i}` });
  return {
    client,
    stamps,
    perSecond,
    get,
    clock: () => clock,
    /** Time passing without requests. */
    advance: (ms: number) => void (clock += ms),
  };
}

describe('adaptive rate limit', () => {
  it('halves the rate on each 429, recovers gradually after successes, and never exceeds the configured rate', async () => {
    // Requests 21–24 are refused with 429; everything else succeeds.
    const t = await setup((n) => (n >= 21 && n <= 24 ? 429 : 200), { perSecond: 10, burst: 1 });
    for (let i = 0; i < 20; i++) await t.get(i);
    // Two seconds at the configured rate.
    expect(t.perSecond()).toEqual([10, 10]);
    expect(t.client.rate).toBe(10);

    // One request that meets four 429s in a row: 10 → 5 → 2.5 → 1.25 → floor 0.625 per second.
    await t.get(20);
    expect(t.stamps.filter((s) => s.status === 429)).toHaveLength(4);
    expect(t.client.rate).toBeCloseTo(0.625 + 0.5, 5); // the success that ended it added a step back

    for (let i = 21; i < 120; i++) await t.get(i);
    const counts = t.perSecond();
    // Right after the 429s the client sends far fewer requests per second …
    const afterThrottle = counts[2]! + counts[3]!;
    expect(afterThrottle).toBeLessThan(10);
    // … and comes back to the configured rate over some twenty successes, without a dip below the floor
    // or a jump above the configured rate in any second.
    expect(t.client.rate).toBe(10);
    expect(counts.slice(-3)).toEqual([10, 10, 10]);
    expect(Math.max(...counts)).toBeLessThanOrEqual(10);
    // Recovery is gradual: from the slowest second after the throttle, the counts rise step by step
    // (here 0, 2, 2, 3, 5, 8, 10) over several seconds to the full rate.
    const slowest = counts.indexOf(Math.min(...counts.slice(2)), 2);
    const recovery = counts.slice(slowest, counts.indexOf(10, slowest) + 1);
    expect(recovery[0]).toBeLessThanOrEqual(1);
    expect(recovery.length).toBeGreaterThan(4);
    for (let i = 1; i < recovery.length; i++) expect(recovery[i]!).toBeGreaterThanOrEqual(recovery[i - 1]!);
  });

  it('keeps a floor: a long 429 storm does not stop the client', async () => {
    const t = await setup((n) => (n <= 12 ? 429 : 200), { perSecond: 8, burst: 1, minPerSecond: 2 });
    await t.get(0);
    expect(t.stamps).toHaveLength(13);
    // Eleven waits between the twelve 429s and the success, none longer than the floor's spacing.
    const gaps = t.stamps.slice(1).map((s, i) => s.at - t.stamps[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(500);
    expect(t.client.rate).toBe(2 + 8 / 20);
  });

  it('does not slow down on 5xx, nor when adaptive is off', async () => {
    const t5 = await setup((n) => (n === 3 ? 503 : 200), { perSecond: 10, burst: 1 });
    for (let i = 0; i < 10; i++) await t5.get(i);
    expect(t5.client.rate).toBe(10);

    const off = await setup((n) => (n <= 3 ? 429 : 200), { perSecond: 10, burst: 1, adaptive: false });
    for (let i = 0; i < 20; i++) await off.get(i);
    expect(off.client.rate).toBe(10);
    // 23 requests (3 refused, 20 answered) at 10 per second.
    expect(off.perSecond()).toEqual([10, 10, 3]);
  });

  it('shrinks the burst with the rate', async () => {
    const t = await setup((n) => (n === 6 ? 429 : 200), { perSecond: 10, burst: 5 });
    // Five at once at the full rate …
    for (let i = 0; i < 5; i++) await t.get(i);
    expect(t.stamps.every((s) => s.at === 0)).toBe(true);
    await t.get(5); // waits for a token, then meets the 429: rate 5 per second, the bucket emptied
    expect(t.client.rate).toBe(5 + 0.5);
    // … after a quiet spell, the bucket holds only the smaller burst (5 × 5.5 / 10 = 2.75 requests).
    t.advance(10_000);
    const quietEnd = t.clock();
    for (let i = 6; i < 10; i++) await t.get(i);
    expect(t.stamps.slice(-4).filter((s) => s.at === quietEnd)).toHaveLength(2);
  });
});
