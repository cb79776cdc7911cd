/**
 * Claim ready entries for one target in a single statement, so that two processes (the
 * service and a backfill beside it) can never lease the same entry. On PostgreSQL the
 * inner select skips rows another instance has locked.
 *
 * An entry is ready when it is claimable, due, and whatever it depends on (the customer
 * before the invoice) is delivered or skipped. Of the ready entries, those with more entries of
 * their order queued behind them go first, the oldest among equals (migration 0010): an order's
 * chain of round trips starts early instead of trailing at the end of a run.
 */
import type { Knex } from 'knex';
import { chunksOf, IDS_PER_STATEMENT, onPostgres, placeholders, sqlRows, type SqlDb } from '../db/sql.js';
import { isoAfter, nowIso } from '../db/time.js';
import { recordTransition } from './events.js';
import { toEntry, type OutboxEntry } from './states.js';

export interface ClaimOptions {
  target: string;
  owner: string;
  limit: number;
  leaseMs: number;
}

export async function claimEntries(db: Knex, options: ClaimOptions): Promise<OutboxEntry[]> {
  return db.transaction((trx) => claimIn(trx, options));
}

/** claimEntries in the open transaction `trx` (the settle queue's, when a claim rides with outcomes). */
export async function claimIn(trx: SqlDb, options: ClaimOptions): Promise<OutboxEntry[]> {
  const now = nowIso();
  const leaseUntil = isoAfter(options.leaseMs);
  const lock = onPostgres(trx) ? 'FOR UPDATE SKIP LOCKED' : '';
  // The state list is the one of the partial index outbox_entries_claimable (migration 0010): keep them alike, and the order.
  const rows = await sqlRows<Record<string, unknown>>(
    trx,
    `UPDATE outbox_entries
        SET state = 'leased', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
      WHERE id IN (
        SELECT e.id FROM outbox_entries e
         WHERE e.target = ?
           AND e.state IN ('pending', 'retry', 'in_doubt')
           AND e.available_at <= ?
           AND (e.depends_on IS NULL OR EXISTS (
                SELECT 1 FROM outbox_entries d WHERE d.id = e.depends_on AND d.state IN ('delivered', 'skipped')))
         ORDER BY e.successors DESC, e.id
         LIMIT ?
         ${lock})
      RETURNING *`,
    [options.owner, leaseUntil, now, options.target, now, options.limit],
  );
  const entries = rows.map(toEntry).sort((a, b) => Number(b.successors ?? 0) - Number(a.successors ?? 0) || a.id - b.id);
  await recordTransition(trx, entries.map((e) => e.id), null, 'leased', `claimed by ${options.owner}`);
  return entries;
}

/**
 * Extend the lease of one claimed entry: just before its delivery starts, and while it runs.
 * A batch is claimed at once, so a slow target can outlast the lease of its later entries; once
 * the lease has run out another instance may reap the entry, and deliver it. False when this
 * owner no longer holds the entry: it must not be sent then. The single guarded UPDATE and the
 * reaper's never both win.
 */
export async function renewLease(db: Knex, entry: Pick<OutboxEntry, 'id' | 'lease_owner'>, leaseMs: number): Promise<boolean> {
  const changed = await db('outbox_entries').where({ id: entry.id, state: 'leased', lease_owner: entry.lease_owner }).update({ lease_until: isoAfter(leaseMs) });
  return changed > 0;
}

/**
 * Extend the leases `owner` holds on `ids` in one statement: the deliverer's heartbeat, for the
 * entries it has claimed, waiting or in flight. Answers the ids still held, with their new
 * lease end; an id missing from the answer was reaped meanwhile and must not be sent.
 */
export async function renewLeases(db: Knex, owner: string, ids: readonly number[], leaseMs: number): Promise<{ held: Set<number>; leaseUntil: string }> {
  const leaseUntil = isoAfter(leaseMs);
  const held = new Set<number>();
  for (const chunk of chunksOf(ids, IDS_PER_STATEMENT)) {
    const rows = await sqlRows<{ id: number | string }>(
      db,
      `UPDATE outbox_entries SET lease_until = ? WHERE id IN (${placeholders(chunk.length)}) AND state = 'leased' AND lease_owner = ? RETURNING id`,
      [leaseUntil, ...chunk, owner],
    );
    for (const row of rows) held.add(Number(row.id));
  }
  return { held, leaseUntil };
}
