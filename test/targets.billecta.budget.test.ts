/**
 * The failing-calls budget of Billecta (issue #7) shared through the database: two clients
 * (two kontor processes: a `run` and a `backfill`, or two instances on PostgreSQL, each on its
 * own connection) counting in one database never together send more than the budget within
 * 60 s, not even when all their calls go out at the same instant, and sending resumes once the
 * window has passed.
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { migrateLatest } from '../src/db/migrate.js';
import { IN_FLIGHT_STALE_MS, pruneTargetFailures, settleCallSlot, sharedCallBudget, takeCallSlot, targetFailuresSince } from '../src/store/target-failures.js';
import { BillectaClient, BillectaRejectedError, BillectaThrottledError, type BillectaFailures } from '../src/targets/billecta/client.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

const BASE = 'https://apitest.billecta.com';
let received = 0;
/** `received` when the current burst began. */
let receivedBefore = 0;
let inFlight = 0;
let mostInFlight = 0;
/** The answer's status; while `held`, answers wait until `release()` (calls stay in flight). */
let answerStatus = 400;
let held: Promise<void> | null = null;
let release: () => void = () => {};
function hold(): void {
  held = new Promise<void>((resolve) => (release = resolve));
}
const server = setupServer(
  http.all(`${BASE}/*`, async () => {
    received++;
    mostInFlight = Math.max(mostInFlight, ++inFlight);
    if (held) await held;
    inFlight--;
    return answerStatus >= 400 ? new HttpResponse(null, { status: answerStatus, headers: { ErrorMessage: 'Felaktig' } }) : HttpResponse.json({ PublicId: 'x' });
  }),
);
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());
beforeEach(() => {
  received = 0;
  receivedBefore = 0;
  mostInFlight = 0;
  answerStatus = 400;
  held = null;
});

function client(budget: number, failures: BillectaFailures | undefined, now: () => number = Date.now): BillectaClient {
  return new BillectaClient({
    name: 'billecta',
    baseUrl: BASE,
    username: 'api-user@shop.se',
    password: 'hemligt-Lösen-9f8e7d',
    auth: 'basic',
    failingCallsPerMinute: budget,
    requestsPerSecond: 1_000,
    ...(failures ? { failures } : {}),
    now,
    http: { transport: 'fetch', sleep: async () => {}, retries: 0 },
  });
}

/**
 * One call per client given, all at once, while answers are held: once every call has gone out
 * (and waits for its answer) or been refused, the answers are released. Answers the outcomes.
 */
async function heldBurst(clients: BillectaClient[]): Promise<unknown[]> {
  receivedBefore = received;
  let refused = 0;
  const calls = clients.map((c) =>
    send(c).then((outcome) => {
      if (outcome instanceof BillectaThrottledError) refused++;
      return outcome;
    }),
  );
  await vi.waitFor(() => expect(received - receivedBefore + refused).toBe(clients.length), { timeout: 10_000, interval: 5 });
  release();
  return Promise.all(calls);
}

const rowCount = async (db: Awaited<ReturnType<typeof freshDatabase>>['db']) => Number(((await db('target_failures').count({ n: '*' }).first()) as { n: number | string }).n);

const send = (c: BillectaClient) => c.send({ method: 'POST', path: '/v1/invoice/payment', body: {}, purpose: 'test' }).catch((e: unknown) => e);

describe.each(DIALECTS)('shared failing-calls budget on %s', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('two clients together stay within the budget, and resume after the window', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      let clock = Date.parse('2024-05-02T10:00:00Z');
      const budget = 5;
      const make = () => client(budget, sharedCallBudget(db, 'billecta'), () => clock);
      const a = make();
      const b = make();

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

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('a burst of concurrent calls from two processes never passes the budget', async () => {
    const { db, drop, open } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      const budget = 5;
      hold();
      // Two processes, each with its own connection to PostgreSQL, 25 calls each at once. On
      // SQLite both share this process's one connection: better-sqlite3 waits for a lock by
      // blocking its thread, so a second connection in the same process would wait on itself.
      const a = client(budget, sharedCallBudget(db, 'billecta'));
      const b = client(budget, sharedCallBudget(dialect === 'postgres' ? open() : db, 'billecta'));
      const outcomes = await heldBurst([...Array.from({ length: 25 }, () => a), ...Array.from({ length: 25 }, () => b)]);
      expect(received).toBe(budget);
      expect(mostInFlight).toBeLessThanOrEqual(budget);
      expect(outcomes.filter((e) => e instanceof BillectaRejectedError)).toHaveLength(budget);
      expect(outcomes.filter((e) => e instanceof BillectaThrottledError)).toHaveLength(50 - budget);
      expect((await targetFailuresSince(db, 'billecta', new Date(Date.now() - 60_000))).count).toBe(budget);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('good answers free their slots: only calls in flight and failures count', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      answerStatus = 200;
      const a = client(3, sharedCallBudget(db, 'billecta'));
      for (let i = 0; i < 10; i++) expect(await send(a)).toEqual({ status: 200, body: { PublicId: 'x' } });
      expect(received).toBe(10);
      // At most 3 at once, refused beyond that while they are in flight.
      hold();
      const burst = await heldBurst(Array.from({ length: 8 }, () => a));
      expect(mostInFlight).toBe(3);
      expect(burst.filter((e) => e instanceof BillectaThrottledError)).toHaveLength(5);
      expect(await rowCount(db)).toBe(0);
      await a.close();
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('a client without the shared count holds the budget alone, in flight included', async () => {
    hold();
    const a = client(4, undefined);
    const outcomes = await heldBurst(Array.from({ length: 20 }, () => a));
    expect(received).toBe(4);
    expect(outcomes.filter((e) => e instanceof BillectaThrottledError)).toHaveLength(16);
    expect(a.failingCallsInWindow()).toBe(4);
    await a.close();
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('slots: per target, a dead process\'s slot counts until it is stale, old rows are pruned', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      const t0 = Date.parse('2024-05-02T10:00:00Z');
      const at = (ms: number) => new Date(t0 + ms);
      const first = await takeCallSlot(db, 'one', at(0), 60_000, 2);
      const second = await takeCallSlot(db, 'one', at(1_000), 60_000, 2);
      expect('slot' in first && 'slot' in second).toBe(true);
      // Two in flight: the third waits, though nothing has failed yet; another target is not affected.
      expect(await takeCallSlot(db, 'one', at(2_000), 60_000, 2)).toEqual({ refused: { count: 2, oldest: null } });
      expect('slot' in (await takeCallSlot(db, 'two', at(2_000), 60_000, 2))).toBe(true);
      // One fails at 5 s, one is never settled (its process was killed).
      await settleCallSlot(db, (first as { slot: number }).slot, true, at(5_000));
      expect(await takeCallSlot(db, 'one', at(6_000), 60_000, 2)).toEqual({ refused: { count: 2, oldest: at(5_000) } });
      expect(await targetFailuresSince(db, 'one', at(0))).toEqual({ count: 1, oldest: at(5_000) });
      // After the window the failure is gone, but the dead slot still counts until it is stale.
      expect('slot' in (await takeCallSlot(db, 'one', at(66_000), 60_000, 2))).toBe(true);
      expect(await takeCallSlot(db, 'one', at(67_000), 60_000, 2)).toEqual({ refused: { count: 2, oldest: null } });
      expect('slot' in (await takeCallSlot(db, 'one', at(1_000 + IN_FLIGHT_STALE_MS + 1), 60_000, 3))).toBe(true);
      expect(await pruneTargetFailures(db, at(60 * 60_000))).toBeGreaterThan(0);
      expect(await rowCount(db)).toBe(0);
    } finally {
      await drop();
    }
  });
});
