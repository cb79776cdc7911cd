/**
 * Group commit of delivery outcomes (settle-queue.ts, issue #9): outcomes that finish together
 * share one transaction, each caller learns of its own only once it is committed, an outcome
 * for an entry this owner no longer holds changes nothing, and one outcome that cannot be
 * written does not take the rest of its group down. A claim rides in the same transaction and
 * sees what it delivers.
 */
import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { buildInvoice } from '../src/books/index.js';
import { migrateLatest } from '../src/db/migrate.js';
import { claimEntries, claimIn } from '../src/outbox/claim.js';
import { enqueueEntry, storeDocument } from '../src/outbox/enqueue.js';
import { listTransitions } from '../src/outbox/events.js';
import { outcomes } from '../src/outbox/settle.js';
import { SettleQueue } from '../src/outbox/settle-queue.js';
import type { OutboxEntry } from '../src/outbox/states.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';
import { income, sales } from './usecase-documents.js';

/** `count` independent invoices queued for target `rma`, then claimed by `owner`. */
async function claimedEntries(db: Knex, count: number, owner = 'test'): Promise<OutboxEntry[]> {
  await migrateLatest(db);
  const [snapshot] = (await db('source_snapshots').insert({ source: 'shop', record_id: 'R', content_hash: 'h', raw: '{}', origin: 'test', fetched_at: new Date().toISOString() }).returning('id')) as { id: number }[];
  for (let i = 1; i <= count; i++) {
    const stored = await storeDocument(db, buildInvoice(sales(`R-${i}`, [income('10.00')])), Number(snapshot!.id), false);
    if (!('id' in stored)) throw new Error('not stored');
    await enqueueEntry(db, { documentId: stored.id, documentKey: stored.key, target: 'rma', dependsOn: null });
  }
  return claimEntries(db, { target: 'rma', owner, limit: count, leaseMs: 60_000 });
}

/** `chains` orders of two invoices each, the second waiting for the first; the first ones claimed by `owner`. */
async function claimedHeads(db: Knex, chains: number, owner = 'test'): Promise<OutboxEntry[]> {
  await migrateLatest(db);
  const [snapshot] = (await db('source_snapshots').insert({ source: 'shop', record_id: 'R', content_hash: 'h', raw: '{}', origin: 'test', fetched_at: new Date().toISOString() }).returning('id')) as { id: number }[];
  for (let i = 1; i <= chains; i++) {
    let previous: number | null = null;
    for (const part of ['a', 'b']) {
      const stored = await storeDocument(db, buildInvoice(sales(`R-${i}${part}`, [income('10.00')])), Number(snapshot!.id), false);
      if (!('id' in stored)) throw new Error('not stored');
      previous = (await enqueueEntry(db, { documentId: stored.id, documentKey: stored.key, target: 'rma', dependsOn: previous, successors: part === 'a' ? 1 : 0 })).id;
    }
  }
  return claimEntries(db, { target: 'rma', owner, limit: 2 * chains, leaseMs: 60_000 });
}

const states = async (db: Knex) => ((await db('outbox_entries').orderBy('id').select('state')) as { state: string }[]).map((r) => r.state);

describe.each(DIALECTS)('the settle queue on %s', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('commits outcomes that arrive together in one transaction, and answers each only once it is committed', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const entries = await claimedEntries(db, 30);
      const queue = new SettleQueue(db, { windowMs: 5 });
      let answered = 0;
      const settling = entries.map((e) => queue.settle(outcomes.delivered(e, `ext-${e.id}`)).then((held) => (answered++, held)));
      // Nothing is answered before the window has passed and the group is written.
      await Promise.resolve();
      expect(answered).toBe(0);
      expect(await Promise.all(settling)).toEqual(entries.map(() => true));
      expect(queue.counts).toEqual({ commits: 1, outcomes: 30 });
      expect(await states(db)).toEqual(entries.map(() => 'delivered'));
      const last = entries.at(-1)!;
      expect((await listTransitions(db, last.id)).map((t) => `${t.from_state ?? ''}→${t.to_state}: ${t.cause}`)).toEqual(['→pending: enqueued', '→leased: claimed by test', 'leased→delivered: delivered']);
      expect((await db('outbox_entries').where({ id: last.id }).first('external_id')).external_id).toBe(`ext-${last.id}`);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('writes a full group at once, then the rest as the next group', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const entries = await claimedEntries(db, 7);
      // A window far longer than the test: only a full group can start the writing.
      const queue = new SettleQueue(db, { windowMs: 60_000, maxGroup: 3 });
      const first = entries.slice(0, 3).map((e) => queue.settle(outcomes.retry(e, 'HTTP 503', 5_000)));
      expect(await Promise.all(first)).toEqual([true, true, true]);
      // While the first group was written, nothing else waited: the next three fill a group again.
      const rest = entries.slice(3, 6).map((e) => queue.settle(outcomes.dead(e, 'HTTP 400: refused')));
      expect(await Promise.all(rest)).toEqual([true, true, true]);
      expect(queue.counts).toEqual({ commits: 2, outcomes: 6 });
      const failing = (await db('outbox_entries').orderBy('id').select('state', 'failing_since')) as { state: string; failing_since: string | null }[];
      expect(failing.map((f) => f.state)).toEqual(['retry', 'retry', 'retry', 'dead', 'dead', 'dead', 'leased']);
      expect(failing.slice(0, 3).every((f) => f.failing_since !== null)).toBe(true);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('a group of mixed outcomes gives every entry its own fields (outcomes alike share one UPDATE)', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const entries = await claimedEntries(db, 6);
      const [d1, d2, released, inDoubt, retry, d3] = entries as [OutboxEntry, OutboxEntry, OutboxEntry, OutboxEntry, OutboxEntry, OutboxEntry];
      // A second claim of `released` (attempts 2) makes the released outcomes' attempts differ.
      const again = { ...released, attempts: 3 };
      const list = [
        outcomes.delivered(d1, 'EXT-1'),
        outcomes.delivered(d2, 'EXT-2'),
        outcomes.released(again, 'target stopped', 'HTTP 401'),
        outcomes.inDoubt(inDoubt, 'socket hang up', 5_000),
        outcomes.retry(retry, 'HTTP 503', 5_000),
        outcomes.delivered(d3, 'EXT-3'),
      ];
      const queue = new SettleQueue(db, { windowMs: 1 });
      expect(await Promise.all(list.map((o) => queue.settle(o)))).toEqual([true, true, true, true, true, true]);
      expect(queue.counts).toEqual({ commits: 1, outcomes: 6 });
      const rows = (await db('outbox_entries').orderBy('id').select('id', 'state', 'external_id', 'attempts', 'verify_first', 'last_error', 'lease_owner')) as Record<string, unknown>[];
      const by = (id: number) => rows.find((r) => Number(r.id) === id)!;
      expect([by(d1.id).external_id, by(d2.id).external_id, by(d3.id).external_id]).toEqual(['EXT-1', 'EXT-2', 'EXT-3']);
      expect(rows.map((r) => [r.state, r.lease_owner])).toEqual([
        ['delivered', null],
        ['delivered', null],
        ['pending', null],
        ['in_doubt', null],
        ['retry', null],
        ['delivered', null],
      ]);
      expect(Number(by(released.id).attempts)).toBe(2);
      expect(by(released.id).last_error).toBe('HTTP 401');
      expect(Boolean(by(inDoubt.id).verify_first)).toBe(true);
      expect(Boolean(by(d1.id).verify_first)).toBe(false);
      expect((await listTransitions(db, released.id)).map((t) => `${t.from_state ?? ''}→${t.to_state}: ${t.cause}`).at(-1)).toBe('leased→pending: target stopped');
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('released entries with different attempts share one UPDATE, each keeping its own count', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const entries = await claimedEntries(db, 3);
      const list = entries.map((e, i) => outcomes.released({ ...e, attempts: i + 1 }));
      const queue = new SettleQueue(db, { windowMs: 1 });
      expect(await Promise.all(list.map((o) => queue.settle(o)))).toEqual([true, true, true]);
      const attempts = ((await db('outbox_entries').orderBy('id').select('attempts')) as { attempts: number | string }[]).map((r) => Number(r.attempts));
      expect(attempts).toEqual([0, 1, 2]);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('an entry this owner no longer holds is left alone; a bad outcome fails alone, the rest of its group is written', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const [taken, kept, broken] = (await claimedEntries(db, 3)) as [OutboxEntry, OutboxEntry, OutboxEntry];
      // Another instance reaped and re-claimed `taken` meanwhile.
      await db('outbox_entries').where({ id: taken.id }).update({ lease_owner: 'other' });
      const queue = new SettleQueue(db, { windowMs: 1 });
      const bad = { ...outcomes.delivered(broken, 'x'), fields: { no_such_column: 1 } };
      const [a, b, c] = await Promise.allSettled([queue.settle(outcomes.delivered(taken, 'x')), queue.settle(outcomes.delivered(kept, 'y')), queue.settle(bad)]);
      expect(a).toEqual({ status: 'fulfilled', value: false });
      expect(b).toEqual({ status: 'fulfilled', value: true });
      expect(c.status).toBe('rejected');
      expect(String((c as PromiseRejectedResult).reason)).toMatch(/no_such_column/);
      expect(await states(db)).toEqual(['leased', 'delivered', 'leased']);
      expect((await listTransitions(db, taken.id)).map((t) => t.to_state)).toEqual(['pending', 'leased']);
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('a claim rides with the outcomes waiting: one commit, and it takes the entries they made ready', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const heads = await claimedHeads(db, 3);
      // Only the first of each pair is ready before its predecessor is delivered.
      expect(heads.map((e) => e.successors)).toEqual([1, 1, 1]);
      // A window far longer than the test: only the claim can start the writing.
      const queue = new SettleQueue(db, { windowMs: 60_000 });
      const settled = heads.map((e) => queue.settle(outcomes.delivered(e, `ext-${e.id}`)));
      const claimed = await queue.withNextCommit((trx) => claimIn(trx, { target: 'rma', owner: 'test', limit: 10, leaseMs: 60_000 }));
      expect(await Promise.all(settled)).toEqual([true, true, true]);
      expect(queue.counts).toEqual({ commits: 1, outcomes: 3 });
      expect(claimed.map((e) => e.depends_on)).toEqual(heads.map((e) => e.id));
      expect(await states(db)).toEqual(['delivered', 'leased', 'delivered', 'leased', 'delivered', 'leased']);
      // With nothing waiting, a claim is committed on its own at once.
      expect(await queue.withNextCommit((trx) => claimIn(trx, { target: 'rma', owner: 'test', limit: 10, leaseMs: 60_000 }))).toEqual([]);
      expect(queue.counts).toEqual({ commits: 2, outcomes: 3 });
    } finally {
      await drop();
    }
  });

  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('when the shared transaction fails, the claim is made in one of its own and the good outcomes are written', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      const [first, second] = (await claimedHeads(db, 2)) as [OutboxEntry, OutboxEntry];
      const queue = new SettleQueue(db, { windowMs: 60_000 });
      const bad = { ...outcomes.delivered(second, 'x'), fields: { no_such_column: 1 } };
      const good = queue.settle(outcomes.delivered(first, 'ext-1'));
      const broken = queue.settle(bad).then(() => 'written', (error: unknown) => String(error));
      const claimed = await queue.withNextCommit((trx) => claimIn(trx, { target: 'rma', owner: 'test', limit: 10, leaseMs: 60_000 }));
      expect(await good).toBe(true);
      expect(await broken).toMatch(/no_such_column/);
      // Run again after the outcomes were written alone: it sees the first one delivered.
      expect(claimed.map((e) => e.depends_on)).toEqual([first.id]);
      expect(await states(db)).toEqual(['delivered', 'leased', 'leased', 'pending']);
    } finally {
      await drop();
    }
  });
});
