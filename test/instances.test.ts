/**
 * Several kontor instances on one database (issue #8, item 7).
 *
 * - Three `kontor run` processes (the built CLI, dist/cli.js) on a PostgreSQL database of their
 *   own, one Run my Accounts emulator, 2,000 generated orders (chaos/orders.ts): every document
 *   reaches the emulator exactly once, each write is sent once, and all three deliver.
 * - Leases, in this process: two deliverers on one database (SQLite and PostgreSQL), one of them
 *   reaching the emulator through a slow path. A round whose batch outlives its lease must not
 *   send what the other instance reaped and delivered meanwhile; a single delivery that takes
 *   longer than the lease keeps it (it is renewed while it runs). Before the fix in
 *   deliver.ts/claim.ts (renewLease), both booked payments twice.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import { CLEARING, chaosConfig, freshPostgresDatabase, KONTOR_ENV, MANDANT, outboxStates, recordsTakenIn, spawnKontor, writeProject } from '../chaos/harness.js';
import { generateChaosOrders } from '../chaos/orders.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { startRunMyAccounts, type RmaEmulator } from '../src/targets/runmyaccounts/emulator.js';
import { openDatabase } from '../src/db/connect.js';
import { captureStream, DIALECTS, freshDatabase, HAS_POSTGRES, POSTGRES_URL, waitFor } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Every write the emulator booked more than once, by what it booked. */
function doubleBookings(emu: RmaEmulator): string[] {
  const seen = new Map<string, number>();
  for (const p of emu.payments(MANDANT)) {
    const key = `payment ${p.invnumber} ${p.payment_accno} ${p.amount} ${p.memo}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const refused = emu.requests.filter((r) => r.status === 400 && /already exists/.test(r.error ?? '')).map((r) => `invoice sent again: ${r.error}`);
  return [...[...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`), ...refused];
}

/**
 * A loopback proxy in front of the emulator for one instance only: the n-th request through it
 * (from 1) waits `delayOf(n)` ms before it is passed on (a slow path to the target, a long GC
 * pause, a 429 storm that only this instance sees).
 */
async function slowPath(target: string, delayOf: (n: number) => number): Promise<{ url: string; close: () => Promise<void> }> {
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const wait = delayOf(++n);
      setTimeout(() => {
        const out = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      }, wait);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface TwoInstances {
  emu: RmaEmulator;
  db: Knex;
  /** Through the slow path. */
  first: Runtime;
  /** Straight to the emulator. */
  second: Runtime;
  logs: () => string;
  /** Outbox entries of payments, held back (customers and invoices delivered) and then released: how many. */
  payments: number;
}

/**
 * 40 orders taken in; customers, invoices and what does not wait for a payment delivered; the
 * payments ready to go. The first instance reaches the emulator through `slowPath(delayOf)`.
 */
async function twoInstances(dialect: (typeof DIALECTS)[number], delayOf: (n: number) => number): Promise<TwoInstances> {
  const emu = await startRunMyAccounts({ mandants: [MANDANT], key: KONTOR_ENV.RMA_KEY, accounts: CLEARING });
  cleanups.push(() => emu.close());
  const slow = await slowPath(emu.url, delayOf);
  cleanups.push(() => slow.close());
  const dir = writeProject(generateChaosOrders(40, 7), () => chaosConfig({ database: { file: './data/unused.sqlite' }, targetUrl: slow.url, requestsPerSecond: 200 }), 'kontor-instances-');
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'config-b.yaml'), chaosConfig({ database: { file: './data/unused.sqlite' }, targetUrl: emu.url, requestsPerSecond: 200 }));
  const { db, open, drop } = await freshDatabase(dialect);
  cleanups.push(drop);
  const logs = captureStream();
  const runtime = async (file: string, handle: Knex): Promise<Runtime> => {
    const rt = await openRuntime(loadConfig(path.join(dir, file), KONTOR_ENV), createLogger({ format: 'json', level: 'info', stream: logs.stream }), { db: handle });
    cleanups.push(async () => {
      for (const t of rt.targets.values()) await t.close?.();
    });
    return rt;
  };
  const first = await runtime('config.yaml', db);
  const second = await runtime('config-b.yaml', open());
  await pullSource(first, 'shop');
  const payments = () => db('outbox_entries').whereIn('document_id', db('documents').select('id').where({ kind: 'payment' }));
  await payments().update({ available_at: '9999-12-31T00:00:00.000Z' });
  await new Deliverer(second).drain();
  const held = await payments().update({ available_at: '2000-01-01T00:00:00.000Z' });
  expect(held).toBeGreaterThan(10);
  return { emu, db, first, second, logs: logs.text, payments: held };
}

/** Every payment sent once, none booked twice, no invoice sent twice, and the whole outbox delivered. */
async function expectEachOnce({ emu, db }: TwoInstances): Promise<void> {
  expect(doubleBookings(emu)).toEqual([]);
  expect(emu.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/payments')).length).toBe(emu.payments(MANDANT).length);
  const states = (await db('outbox_entries').select('state').count({ n: '*' }).groupBy('state')) as { state: string; n: number | string }[];
  expect(states.map((r) => r.state)).toEqual(['delivered']);
}

describe.each(DIALECTS)('leases of several instances (%s)', (dialect) => {
  const it_ = it.skipIf(dialect === 'postgres' && !HAS_POSTGRES);

  it_('a round that outlives its lease does not send what another instance took over and delivered', async () => {
    // 300 ms a request on the first instance's path.
    const setup = await twoInstances(dialect, () => 300);
    // The first instance claims every payment with a lease of 1 s and needs 600 ms for each (a
    // GET of the invoice, then the POST), and its heartbeat stalls (a process frozen, or its
    // lease renewals failing): only an entry about to start renews its own lease. The second
    // one's round, after 1.2 s (`kontor run` polls for due entries), finds the leases of the
    // batch's later entries run out: it reaps them and delivers those payments itself.
    const a = new Deliverer(setup.first, { leaseMs: 1000, batchSize: 500, renewEveryMs: 600_000 });
    const b = new Deliverer(setup.second, { leaseMs: 1000 });
    const long = a.drain();
    await new Promise((r) => setTimeout(r, 1200));
    const taken = await b.drain();
    const stats = await long;
    expect(taken.delivered, 'the second instance took over').toBeGreaterThan(0);
    expect(setup.logs()).toContain('its lease ran out before its turn and another instance took it over; not sent from here');
    expect(stats.delivered + taken.delivered).toBeGreaterThanOrEqual(setup.payments);
    await expectEachOnce(setup);
  }, 60_000);

  it_('the heartbeat keeps the leases of claimed entries that wait for their turn', async () => {
    // As above, but with the heartbeat running: nothing the first instance claimed runs out.
    const setup = await twoInstances(dialect, () => 300);
    const a = new Deliverer(setup.first, { leaseMs: 1000, batchSize: 500 });
    const b = new Deliverer(setup.second, { leaseMs: 1000 });
    const long = a.drain();
    await new Promise((r) => setTimeout(r, 1200));
    const taken = await b.drain();
    const stats = await long;
    // The second instance may deliver what became ready after the first one's claim (an entry
    // queued behind a payment the first one delivered), but nothing the first one claimed.
    const claimedBy = async (owner: string) =>
      new Set(((await setup.db('outbox_events').where({ to_state: 'leased', cause: `claimed by ${owner}` }).select('entry_id')) as { entry_id: number | string }[]).map((r) => Number(r.entry_id)));
    const byA = await claimedBy(a.owner);
    const byB = await claimedBy(b.owner);
    expect(byA.size).toBeGreaterThan(10);
    expect([...byB].filter((id) => byA.has(id)), 'entries the second instance took over').toEqual([]);
    expect(byB.size).toBe(taken.delivered);
    expect(stats.delivered + taken.delivered).toBe(byA.size + byB.size);
    expect(setup.logs()).not.toContain('expired leases are now in-doubt');
    await expectEachOnce(setup);
  }, 60_000);

  it_('a delivery that takes longer than its lease keeps it', async () => {
    // The first instance's first request (the GET before its payment) takes 2.5 s.
    const setup = await twoInstances(dialect, (n) => (n === 1 ? 2500 : 0));
    const a = new Deliverer(setup.first, { leaseMs: 1000, batchSize: 1 });
    const b = new Deliverer(setup.second, { leaseMs: 1000 });
    const one = a.drain();
    await new Promise((r) => setTimeout(r, 1500));
    // Past the lease the claim gave it: the second instance must not take the payment in flight.
    await b.drain();
    await one;
    await a.drain();
    await expectEachOnce(setup);
    expect(setup.logs()).not.toContain('expired leases are now in-doubt');
  }, 60_000);
});

// ── three processes ────────────────────────────────────────────────────────────────────────

interface DocumentRow {
  kind: string;
  body: string;
}

describe.skipIf(!HAS_POSTGRES)('three kontor instances on PostgreSQL', () => {
  it('deliver 2,000 orders: every document exactly once, and all three do work', async () => {
    const started = Date.now();
    const emu = await startRunMyAccounts({ mandants: [MANDANT], key: KONTOR_ENV.RMA_KEY, accounts: CLEARING });
    cleanups.push(() => emu.close());
    const generated = generateChaosOrders(2000, 11);
    const records = generated.expected.orders + generated.expected.changes;
    const pg = await freshPostgresDatabase(POSTGRES_URL, `kontor_instances_${process.pid}_${Math.random().toString(36).slice(2, 8)}`);
    cleanups.push(pg.drop);
    const db = openDatabase({ client: 'postgres', url: pg.url, busyTimeoutMs: 5000, poolMax: 2 });
    cleanups.push(() => db.destroy());
    const dir = writeProject(generated, () => chaosConfig({ database: { url: pg.url }, targetUrl: emu.url, requestsPerSecond: 100, deliveryIntervalSeconds: 1 }), 'kontor-instances-');
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));

    // One config for all three. The first pulls the orders; the other two start once it has
    // taken them all in (the source's cursor is then past every file), so that no two pull the
    // same files at once whether or not the source pull lease is there, and then all three deliver.
    const instances = [spawnKontor(dir, ['run'], path.join(dir, 'a.log'))];
    cleanups.push(async () => {
      for (const i of instances) i.child.kill('SIGKILL');
    });
    await waitFor(async () => (await recordsTakenIn(db, 'shop')) >= records, 'the first instance to take in every order', 90_000, 250);
    const pulledAfterMs = Date.now() - started;
    instances.push(spawnKontor(dir, ['run'], path.join(dir, 'b.log')), spawnKontor(dir, ['run'], path.join(dir, 'c.log')));
    await waitFor(
      async () => {
        const states = await outboxStates(db);
        return Object.keys(states).length > 0 && Object.keys(states).every((s) => s === 'delivered' || s === 'dead');
      },
      'every outbox entry delivered',
      120_000,
      250,
    );
    for (const i of instances) i.child.kill('SIGTERM');
    const exits = await Promise.all(instances.map((i) => i.exited));
    expect(exits.map((e) => e.code), 'each stopped cleanly').toEqual([0, 0, 0]);

    // kontor's own view: everything delivered, nothing quarantined.
    expect(await outboxStates(db)).toEqual({ delivered: expect.any(Number) as number });
    expect(Number(((await db('quarantine').count({ n: '*' }).first()) as { n: string }).n)).toBe(0);

    // The emulator's books: each of kontor's documents once, each write sent once.
    const docs = ((await db('documents').select('kind', 'body')) as DocumentRow[]).map((d) => JSON.parse(d.body) as Record<string, unknown> & { kind?: string });
    const kindOf = (row: Record<string, unknown>) => (row.kind as string | undefined) ?? String((row.key as { kind: string }).kind);
    const numbers = (kinds: string[]) => docs.filter((d) => kinds.includes(kindOf(d))).map((d) => String(d.number)).sort();
    const posts = (suffix: RegExp) => emu.requests.filter((r) => r.method === 'POST' && suffix.test(r.url.split('?')[0]!));
    const customers = numbers(['customer']);
    expect(emu.customers(MANDANT).map((c) => c.customernumber).sort()).toEqual(customers);
    expect(posts(/\/customers$/), 'each customer sent once').toHaveLength(customers.length);
    const sales = numbers(['invoice', 'credit-note', 'storno']);
    expect(emu.invoices(MANDANT).map((i) => i.invnumber).sort()).toEqual(sales);
    expect(posts(/\/invoices$/), 'each invoice, credit note and storno sent once').toHaveLength(sales.length);
    const payments = docs.filter((d) => kindOf(d) === 'payment').map((d) => `${String(d.appliesTo)} ${String(d.account)} ${String(d.amount)}`).sort();
    expect(emu.payments(MANDANT).map((p) => `${p.invnumber} ${p.payment_accno} ${p.amount}`).sort()).toEqual(payments);
    expect(posts(/\/payments$/), 'each payment sent once').toHaveLength(payments.length);
    expect(doubleBookings(emu)).toEqual([]);
    // And what the orders alone say.
    const { expected } = generated;
    expect(sales.filter((n) => /^\d+$/.test(n))).toHaveLength(expected.invoices);
    expect(sales.filter((n) => /-G\d+$/.test(n))).toHaveLength(expected.creditNotes);
    expect(sales.filter((n) => /-S$/.test(n))).toHaveLength(expected.stornos);
    expect(customers).toHaveLength(expected.customers);
    expect(emu.ledger(MANDANT)['1090'] ?? 0, 'transfer account').toBe(0);

    // All three did work: deliveries per process, from the outbox's transitions (the owner of the
    // last claim before each delivery; lease owners are kontor-<pid>-…).
    const events = (await db('outbox_events').whereIn('to_state', ['leased', 'delivered']).orderBy('id').select('entry_id', 'to_state', 'cause')) as { entry_id: number; to_state: string; cause: string }[];
    const holder = new Map<number, string>();
    const delivered = new Map<string, number>();
    for (const e of events) {
      if (e.to_state === 'leased') holder.set(e.entry_id, /claimed by kontor-(\d+)-/.exec(e.cause)?.[1] ?? '?');
      else delivered.set(holder.get(e.entry_id) ?? '?', (delivered.get(holder.get(e.entry_id) ?? '?') ?? 0) + 1);
    }
    const perInstance = instances.map((i) => delivered.get(String(i.child.pid)) ?? 0);
    console.log(
      `three instances: ${docs.length} documents, delivered per instance ${perInstance.join(' / ')} (first pull done after ${pulledAfterMs} ms, all delivered after ${Date.now() - started} ms); ` +
        `emulator: ${emu.stats.requests} requests, max ${emu.stats.rate.maxInWindow} in a second`,
    );
    expect(perInstance.reduce((a, b) => a + b, 0)).toBe(docs.length);
    for (const [i, n] of perInstance.entries()) expect(n, `instance ${'abc'[i]} delivered some`).toBeGreaterThan(0);
  }, 240_000);
});
