/**
 * The thin path in-process, on SQLite and on PostgreSQL: intake, quarantine and replay,
 * the outbox's ordering, retry, dead and in-doubt handling, and the journal's idempotency.
 */
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { numberOf, postingsOf, sum, type BookDocument, type InvoiceDocument } from '../src/books/index.js';
import { loadConfig } from '../src/config/load.js';
import { PermanentError, RetriableError } from '../src/errors.js';
import { silentLogger } from '../src/log/logger.js';
import { Redactor } from '../src/log/redact.js';
import { claimEntries } from '../src/outbox/claim.js';
import { listTransitions } from '../src/outbox/events.js';
import { redriveDead, retryEntry, skipEntry } from '../src/outbox/operator.js';
import { listEntries } from '../src/outbox/queries.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource, takeIn } from '../src/service/intake.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { syncOnce } from '../src/service/service.js';
import { closeQuarantined, listQuarantine } from '../src/store/quarantine.js';
import { openItemRows, trialBalance } from '../src/targets/journal.js';
import type { TargetAdapter } from '../src/targets/types.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES, tempProject, type Dialect } from './helpers.js';

interface Harness {
  rt: Runtime;
  dir: string;
  orders: string;
  drop: () => Promise<void>;
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.drop();
});

async function harness(dialect: Dialect): Promise<Harness> {
  const dir = tempProject();
  const config = loadConfig(path.join(dir, 'config.yaml'), {});
  const { db, drop } = await freshDatabase(dialect);
  const rt = await openRuntime(config, silentLogger(), { db });
  const h = { rt, dir, orders: path.join(dir, 'examples', 'orders'), drop };
  open.push(h);
  return h;
}

/** Rewrite an order file (and move its mtime forward so the file source reads it again). */
function editOrder(h: Harness, file: string, edit: (order: Record<string, unknown>) => void): void {
  const full = path.join(h.orders, file);
  const order = JSON.parse(readFileSync(full, 'utf8')) as Record<string, unknown>;
  edit(order);
  writeFileSync(full, JSON.stringify(order, null, 2));
  const later = new Date(Date.now() + 60_000);
  utimesSync(full, later, later);
}

async function journalDocs(h: Harness): Promise<number> {
  const row = (await h.rt.db('journal_entries').count({ n: '*' }).first()) as { n: number | string };
  return Number(row.n);
}

describe.each(DIALECTS)('pipeline on %s', (dialect) => {
  const test = it.skipIf(dialect === 'postgres' && !HAS_POSTGRES);

  test('books the samples into a balanced journal, once', async () => {
    const h = await harness(dialect);
    const first = await syncOnce(h.rt, new Deliverer(h.rt));
    expect(first.intake[0]).toMatchObject({ read: 5, booked: 5, documents: 13, quarantined: 0 });
    expect(first.delivery).toEqual({ delivered: 13, retrying: 0, inDoubt: 0, dead: 0 });

    const tb = await trialBalance(h.rt.db, 'journal');
    expect(sum(tb.map((r) => r.balance))).toBe(0);
    // Four orders were paid through a payment service provider (D1 on its clearing account);
    // 1003 was paid by bank transfer, which Run my Accounts books itself: it stays open.
    expect(tb.find((r) => r.account === '1100')?.balance).toBe(31786);
    expect(tb.find((r) => r.account === '1091')?.balance).toBe(10737 + 12080);
    expect(tb.find((r) => r.account === '1092')?.balance).toBe(14677 + 13724);
    const items = await openItemRows(h.rt.db, 'journal');
    expect(items.map((i) => [i.number, i.status])).toEqual([['1001', 'paid'], ['1002', 'paid'], ['1003', 'open'], ['1004', 'paid'], ['1005', 'paid']]);

    // Customer 17 ordered twice (1002, 1004): one customer document serves both invoices.
    const customers = await h.rt.db('documents').where({ kind: 'customer' }).select('subject');
    expect(customers.map((c: { subject: string }) => c.subject).sort()).toEqual(['WC-17', 'WC-42', 'WC-58', 'WC-G1001']);

    const second = await syncOnce(h.rt, new Deliverer(h.rt));
    expect(second.intake[0]).toMatchObject({ read: 0, booked: 0 });
    // Reading every file again (cursor ignored) still books nothing twice.
    const reread = await pullSource(h.rt, 'samples', { window: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' } });
    expect(reread).toMatchObject({ read: 5, booked: 0, unchanged: 5 });
    expect((await new Deliverer(h.rt).drain()).delivered).toBe(0);
    expect(await journalDocs(h)).toBe(13);
  });

  test('books an order with VAT at 8.1 % and 2.6 %, shipping and coupon as A1/A2 postings', async () => {
    const h = await harness(dialect);
    await syncOnce(h.rt, new Deliverer(h.rt));
    const row = (await h.rt.db('documents').where({ subject: '1002', kind: 'invoice' }).first('body')) as { body: string };
    const invoice = JSON.parse(row.body) as InvoiceDocument;
    expect(invoice).toMatchObject({ number: '1002', customerNumber: 'WC-17', currency: 'CHF', date: '2026-10-24', dueDate: '2026-11-23', total: 10737 });
    expect(invoice.tax.map((t) => [t.account, t.amount])).toEqual([
      ['2201', 465 + 67],
      ['2203', 54 + 38],
    ]);
    expect(invoice.lines.filter((e) => e.amount < 0).every((e) => e.text.startsWith('Discount herbst10'))).toBe(true);
    expect(sum(postingsOf(invoice).map((p) => p.amount))).toBe(0);
  });

  test('quarantines a broken order with its field, lets the rest through, and takes the fix', async () => {
    const h = await harness(dialect);
    editOrder(h, 'wc-order-1003.json', (o) => {
      (o.line_items as Record<string, unknown>[])[1]!.total = '12,50';
    });
    writeFileSync(path.join(h.orders, 'broken.json'), '{"id": 9999, "currency": "CHF",\n  "total": }');
    const result = await syncOnce(h.rt, new Deliverer(h.rt));
    expect(result.intake[0]).toMatchObject({ read: 6, booked: 4, quarantined: 2 });
    const q = await listQuarantine(h.rt.db);
    expect(q.map((r) => [r.record_id, r.field, r.reason])).toEqual(
      expect.arrayContaining([
        ['1003', 'line_items[1].total', '"12,50" is not a decimal amount'],
        [expect.stringContaining('broken.json'), null, expect.stringMatching(/broken\.json:2:12: invalid JSON/)],
      ]),
    );

    // The shop fixes the order: the corrected version arrives with a newer mtime.
    writeFileSync(path.join(h.orders, 'wc-order-1003.json'), readFileSync(path.join(import.meta.dirname, '..', 'examples', 'orders', 'wc-order-1003.json')));
    const later = new Date(Date.now() + 120_000);
    utimesSync(path.join(h.orders, 'wc-order-1003.json'), later, later);
    // The broken file is rewritten as a valid order: its quarantine entry (named after the file) closes.
    const broken = JSON.parse(readFileSync(path.join(h.orders, 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(h.orders, 'broken.json'), JSON.stringify({ ...broken, id: 9999, number: '9999' }));
    utimesSync(path.join(h.orders, 'broken.json'), later, later);
    const fixed = await syncOnce(h.rt, new Deliverer(h.rt));
    expect(fixed.intake[0]).toMatchObject({ booked: 2, quarantined: 0 });
    expect(await listQuarantine(h.rt.db)).toEqual([]);
  });

  test('replays a quarantined order after the mapping is fixed', async () => {
    const h = await harness(dialect);
    const mappingFile = path.join(h.dir, 'mappings', 'woocommerce-ch.yaml');
    const original = readFileSync(mappingFile, 'utf8');
    writeFileSync(mappingFile, original.replace('    - { vat_rate: 2.6, account: "3200" }\n', ''));
    const broken = await openRuntime(loadConfig(path.join(h.dir, 'config.yaml'), {}), silentLogger(), { db: h.rt.db, migrate: false });
    await syncOnce(broken, new Deliverer(broken));
    const q = (await listQuarantine(h.rt.db)).find((x) => x.record_id === '1003');
    expect(q).toMatchObject({ record_id: '1003', field: 'line_items[0]' });
    expect(q!.reason).toMatch(/^VAT rate 2\.6 % has no revenue account \(add it under accounts\.revenue in \S*mappings\/woocommerce-ch\.yaml:\d+:5\)$/);

    writeFileSync(mappingFile, original);
    const rt = await openRuntime(loadConfig(path.join(h.dir, 'config.yaml'), {}), silentLogger(), { db: h.rt.db, migrate: false });
    await closeQuarantined(h.rt.db, q!.id, 'replayed');
    const replay = await takeIn(rt, rt.sources.get('samples')!, { id: q!.record_id, raw: q!.raw, origin: q!.origin });
    expect(replay).toEqual({ outcome: 'booked', documents: 2 });
    expect((await new Deliverer(rt).drain()).delivered).toBe(2);
  });

  test('replaying a broken file that is still broken keeps it quarantined, with its position', async () => {
    const h = await harness(dialect);
    writeFileSync(path.join(h.orders, 'broken.json'), '{"id": 1,\n "total": ]');
    await pullSource(h.rt, 'samples');
    const [q] = await listQuarantine(h.rt.db);
    expect(q).toMatchObject({ record_id: 'examples/orders/broken.json', origin: 'examples/orders/broken.json' });
    await closeQuarantined(h.rt.db, q!.id, 'replayed');
    const replay = await takeIn(h.rt, h.rt.sources.get('samples')!, { id: q!.record_id, raw: q!.raw, origin: q!.origin });
    expect(replay.outcome).toBe('quarantined');
    const [again] = await listQuarantine(h.rt.db);
    expect(again!.reason).toMatch(/^examples\/orders\/broken\.json:2:11: invalid JSON/);
  });

  test('gives up on an outcome that stays unknown, and stores target errors redacted', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    h.rt.redactor = new Redactor(['sekret-api-key-123']);
    h.rt.targets.set('journal', {
      name: 'journal',
      type: 'fake',
      deliver: async () => {
        throw new Error('connection reset (GET /x?key=sekret-api-key-123)');
      },
      lookup: async () => null,
      transferBalance: async () => ({}),
    });
    const deliverer = new Deliverer(h.rt, { maxAttempts: 2 });
    expect(await deliverer.drain()).toMatchObject({ inDoubt: 4 });
    for (const e of await listEntries(h.rt.db, { state: 'in_doubt' })) await retryEntry(h.rt.db, e.id);
    expect(await deliverer.drain()).toMatchObject({ dead: 4 });
    const dead = await listEntries(h.rt.db, { state: 'dead' });
    expect(dead[0]!.last_error).toBe('gave up after 2 attempts with unknown outcome: connection reset (GET /x?key=[REDACTED]); check the target before retrying');
  });

  test('corrects an order that changed after booking: a storno, a new invoice, nothing overwritten', async () => {
    const h = await harness(dialect);
    await syncOnce(h.rt, new Deliverer(h.rt));
    editOrder(h, 'wc-order-1005.json', (o) => {
      o.total = '121.80';
      (o.fee_lines as unknown[]).push({ id: 1, name: 'Geschenkverpackung', total: '1.00', total_tax: '0.00', taxes: [] });
    });
    const result = await syncOnce(h.rt, new Deliverer(h.rt));
    expect(result.intake[0]).toMatchObject({ quarantined: 0, booked: 1, documents: 4 });
    expect(result.delivery).toMatchObject({ delivered: 4, dead: 0 });
    expect(await listQuarantine(h.rt.db)).toEqual([]);
    expect(await journalDocs(h)).toBe(17);
    const keys = (await h.rt.db('journal_entries').where('doc_key', 'like', 'samples/1005/%').orderBy('id').pluck('doc_key')) as string[];
    expect(keys).toEqual([
      'samples/1005/invoice/1',
      'samples/1005/payment:payment/1',
      'samples/1005/storno/1',
      'samples/1005/payment:storno-payment/1',
      'samples/1005/invoice:r2/1',
      'samples/1005/payment:r2-payment/1',
    ]);
    const tb = await trialBalance(h.rt.db, 'journal');
    expect(sum(tb.map((r) => r.balance))).toBe(0);
    expect(tb.find((r) => r.account === '1091')?.balance).toBe(10737 + 12180);
    // Fees: 3.00 of the other orders, and now 1.00 of gift wrapping.
    expect(tb.find((r) => r.account === '3600')?.balance).toBe(-400);
    const items = await openItemRows(h.rt.db, 'journal');
    expect(items.filter((i) => i.number.startsWith('1005')).map((i) => [i.number, i.status])).toEqual([['1005', 'paid'], ['1005-S', 'paid'], ['1005-R2', 'paid']]);
  });

  test('delivers the customer before its invoice, and holds the invoice while the customer is dead', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    const failing: TargetAdapter = {
      name: 'journal',
      type: 'fake',
      deliver: async (doc: BookDocument) => {
        if (doc.kind === 'customer' && doc.number === 'WC-42') throw new PermanentError('customer refused');
        return { externalId: `fake:${numberOf(doc)}` };
      },
      lookup: async () => null,
      transferBalance: async () => ({}),
    };
    h.rt.targets.set('journal', failing);
    const stats = await new Deliverer(h.rt).drain();
    expect(stats).toMatchObject({ delivered: 10, dead: 1 });
    const pending = await listEntries(h.rt.db, { state: 'pending' });
    expect(pending.map((e) => e.doc_key)).toEqual(['samples/1005/invoice/1', 'samples/1005/payment:payment/1']);

    const dead = (await listEntries(h.rt.db, { state: 'dead' }))[0]!;
    await skipEntry(h.rt.db, dead.id, 'customer created by hand in the ledger');
    expect((await new Deliverer(h.rt).drain()).delivered).toBe(2);
    const events = await listTransitions(h.rt.db, dead.id);
    expect(events.map((e) => e.to_state)).toEqual(['pending', 'leased', 'dead', 'skipped']);
    expect(events.at(-1)!.cause).toBe('operator: skip: customer created by hand in the ledger');
  });

  test('retries transient failures with backoff, and redrives the dead', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    let calls = 0;
    h.rt.targets.set('journal', {
      name: 'journal',
      type: 'fake',
      deliver: async () => {
        calls++;
        throw new RetriableError('HTTP 503');
      },
      lookup: async () => null,
      transferBalance: async () => ({}),
    });
    const stats = await new Deliverer(h.rt, { maxAttempts: 2 }).drain();
    // Only the customers are ready; their invoices wait behind them.
    expect(stats).toMatchObject({ retrying: 4, delivered: 0 });
    const retrying = await listEntries(h.rt.db, { state: 'retry' });
    expect(retrying.every((e) => e.available_at > new Date().toISOString() && e.last_error === 'HTTP 503')).toBe(true);
    // Not due yet: nothing is claimed.
    expect(await claimEntries(h.rt.db, { target: 'journal', owner: 't', limit: 10, leaseMs: 1000 })).toEqual([]);

    for (const e of retrying) await retryEntry(h.rt.db, e.id);
    expect(await new Deliverer(h.rt, { maxAttempts: 2 }).drain()).toMatchObject({ dead: 4 });
    expect(calls).toBe(8);
    const redriven = await redriveDead(h.rt.db);
    expect(redriven).toHaveLength(4);
    expect((await listEntries(h.rt.db, { state: 'pending' })).length).toBe(13);
  });

  test('an in-doubt entry is looked up before anything is sent again', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    const journal = h.rt.targets.get('journal')!;
    let sent = 0;
    h.rt.targets.set('journal', {
      ...journal,
      name: 'journal',
      type: 'journal',
      transferBalance: () => journal.transferBalance(),
      lookup: (doc) => journal.lookup(doc),
      deliver: async (doc) => {
        sent++;
        const result = await journal.deliver(doc);
        if (doc.kind === 'customer' && doc.number === 'WC-17') throw new Error('socket hang up after the request was sent');
        return result;
      },
    });
    const first = await new Deliverer(h.rt).drain();
    expect(first.inDoubt).toBe(1);
    const [doubt] = await listEntries(h.rt.db, { state: 'in_doubt' });
    expect(doubt).toMatchObject({ doc_key: 'samples/WC-17/customer/1', verify_first: true });
    expect(doubt!.available_at > new Date().toISOString()).toBe(true);

    await retryEntry(h.rt.db, doubt!.id);
    const second = await new Deliverer(h.rt).drain();
    // The lookup found WC-17 in the journal: delivered without a second send.
    expect(second.delivered).toBe(5);
    // Thirteen documents, thirteen sends: the in-doubt customer was not sent a second time.
    expect(sent).toBe(13);
    expect(await journalDocs(h)).toBe(13);
    const events = await listTransitions(h.rt.db, doubt!.id);
    expect(events.at(-1)).toMatchObject({ to_state: 'delivered', cause: 'found at the target by the in-doubt lookup' });
  });

  test('claims start the longer chains first, the oldest among equals', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    const claim = (limit: number) => claimEntries(h.rt.db, { target: 'journal', owner: 't', limit, leaseMs: 60_000 });
    const keysOf = (entries: { document_id: number }[]) =>
      Promise.all(entries.map(async (e) => ((await h.rt.db('documents').where({ id: e.document_id }).first('doc_key')) as { doc_key: string }).doc_key));
    // Ready: the four customers. 1003's has only its invoice behind it (paid by bank transfer);
    // the other three have an invoice and a payment, and go first whatever their age.
    const first = await claim(3);
    expect(first.map((e) => e.successors)).toEqual([2, 2, 2]);
    expect((await keysOf(first)).sort()).toEqual(['samples/WC-17/customer/1', 'samples/WC-42/customer/1', 'samples/WC-G1001/customer/1']);
    const next = await claim(3);
    expect(next.map((e) => e.successors)).toEqual([1]);
    expect(await keysOf(next)).toEqual(['samples/WC-58/customer/1']);
    // Among equals, the oldest first.
    expect(first.map((e) => e.id)).toEqual([...first.map((e) => e.id)].sort((a, b) => a - b));
  });

  test('a lease left by a crashed worker expires, becomes in-doubt, and is resolved by lookup', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    // A worker claims and "crashes": its lease is already over.
    const [claimed] = await claimEntries(h.rt.db, { target: 'journal', owner: 'crashed-worker', limit: 1, leaseMs: -1000 });
    // It had delivered the document before dying.
    const doc = (await h.rt.db('documents').where({ id: claimed!.document_id }).first('body')) as { body: string };
    await h.rt.targets.get('journal')!.deliver(JSON.parse(doc.body) as BookDocument);

    expect((await new Deliverer(h.rt).drain()).delivered).toBe(13);
    expect(await journalDocs(h)).toBe(13);
    const causes = (await listTransitions(h.rt.db, claimed!.id)).map((e) => `${e.to_state}: ${e.cause}`);
    expect(causes).toEqual([
      'pending: enqueued',
      'leased: claimed by crashed-worker',
      'in_doubt: lease expired',
      expect.stringMatching(/^leased: claimed by kontor-/),
      'delivered: found at the target by the in-doubt lookup',
    ]);
  });

  test('the journal books a document once however often it is delivered', async () => {
    const h = await harness(dialect);
    await pullSource(h.rt, 'samples');
    const row = (await h.rt.db('documents').where({ kind: 'invoice' }).first('body')) as { body: string };
    const doc = JSON.parse(row.body) as BookDocument;
    const journal = h.rt.targets.get('journal')!;
    const a = await journal.deliver(doc);
    const b = await journal.deliver(doc);
    expect(b).toEqual(a);
    expect(await journalDocs(h)).toBe(1);
  });
});
