/**
 * The failing-calls budget of Billecta (issue #7) shared through the database: two clients
 * (two kontor processes: a `run` and a `backfill`, or two instances on PostgreSQL) counting in
 * one database never together send more than the budget within 60 s, and sending resumes
 * once the window has passed.
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateLatest } from '../src/db/migrate.js';
import { pruneTargetFailures, recordTargetFailure, targetFailuresSince } from '../src/store/target-failures.js';
import { BillectaClient, BillectaRejectedError, BillectaThrottledError, type BillectaFailures } from '../src/targets/billecta/client.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

const BASE = 'https://apitest.billecta.com';
let received = 0;
const server = setupServer(
  http.all(`${BASE}/*`, () => {
    received++;
    return new HttpResponse(null, { status: 400, headers: { ErrorMessage: 'Felaktig' } });
  }),
);
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

type Db = Awaited<ReturnType<typeof freshDatabase>>['db'];

/** The port as src/service/runtime.ts wires it. */
function port(db: Db, target: string): BillectaFailures {
  return {
    record: (at) => recordTargetFailure(db, target, new Date(at)),
    countSince: async (since) => (await targetFailuresSince(db, target, new Date(since))).count,
    oldestSince: async (since) => (await targetFailuresSince(db, target, new Date(since))).oldest?.getTime() ?? null,
  };
}

describe.each(DIALECTS)('shared failing-calls budget on %s', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('two clients together stay within the budget, and resume after the window', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      let clock = Date.parse('2024-05-02T10:00:00Z');
      const budget = 5;
      const make = () =>
        new BillectaClient({
          name: 'billecta',
          baseUrl: BASE,
          username: 'api-user@shop.se',
          password: 'hemligt-Lösen-9f8e7d',
          auth: 'basic',
          failingCallsPerMinute: budget,
          requestsPerSecond: 1_000,
          failures: port(db, 'billecta'),
          now: () => clock,
          http: { transport: 'fetch', sleep: async () => {}, retries: 0 },
        });
      const a = make();
      const b = make();
      const send = (c: BillectaClient) => c.send({ method: 'POST', path: '/v1/invoice/payment', body: {}, purpose: 'test' }).catch((e: unknown) => e);
      received = 0;

      const outcomes: unknown[] = [];
      for (let i = 0; i < 8; i++) {
        outcomes.push(await send(a), await send(b));
        clock += 1_000;
      }
      expect(received).toBe(budget);
      expect(outcomes.filter((e) => e instanceof BillectaRejectedError)).toHaveLength(budget);
      expect(outcomes.filter((e) => e instanceof BillectaThrottledError)).toHaveLength(16 - budget);
      // Each client alone is below the budget: only the shared count stopped them.
      expect(a.failingCallsInWindow()).toBeLessThan(budget);
      expect(b.failingCallsInWindow()).toBeLessThan(budget);
      const throttled = outcomes.at(-1) as BillectaThrottledError;
      expect(throttled.retryAt).toBe(Date.parse('2024-05-02T10:00:00Z') + 60_000);

      // A third client (another process, started later) is refused too, without sending.
      const c = make();
      expect(await send(c)).toBeInstanceOf(BillectaThrottledError);
      expect(received).toBe(budget);

      // Once the window has passed, sending resumes, and the budget holds again.
      clock = Date.parse('2024-05-02T10:00:00Z') + 60_000 + 5_000;
      for (let i = 0; i < 4; i++) outcomes.push(await send(a), await send(b));
      expect(received).toBe(2 * budget);

      await Promise.all([a.close(), b.close(), c.close()]);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('counts per target and prunes old rows', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      const t0 = Date.parse('2024-05-02T10:00:00Z');
      await recordTargetFailure(db, 'one', new Date(t0));
      await recordTargetFailure(db, 'one', new Date(t0 + 30_000));
      await recordTargetFailure(db, 'two', new Date(t0 + 30_000));
      expect(await targetFailuresSince(db, 'one', new Date(t0 - 1))).toEqual({ count: 2, oldest: new Date(t0) });
      expect(await targetFailuresSince(db, 'one', new Date(t0))).toEqual({ count: 1, oldest: new Date(t0 + 30_000) });
      expect(await targetFailuresSince(db, 'three', new Date(t0 - 1))).toEqual({ count: 0, oldest: null });
      // Recording prunes the target's rows older than a few minutes.
      await recordTargetFailure(db, 'one', new Date(t0 + 10 * 60_000));
      expect((await targetFailuresSince(db, 'one', new Date(0))).count).toBe(1);
      expect((await targetFailuresSince(db, 'two', new Date(0))).count).toBe(1);
      expect(await pruneTargetFailures(db, new Date(t0 + 60 * 60_000))).toBe(2);
    } finally {
      await drop();
    }
  });
});
