/** What operators do from the CLI: retry, skip with a reason, redrive the dead. */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';
import { recordTransition } from './events.js';
import { toEntry, type OutboxEntry, type OutboxState } from './states.js';

export class OperatorError extends Error {
  override name = 'OperatorError';
}

async function getEntry(db: Knex, id: number): Promise<OutboxEntry> {
  const row = (await db('outbox_entries').where({ id }).first()) as Record<string, unknown> | undefined;
  if (!row) throw new OperatorError(`outbox entry ${id} does not exist`);
  return toEntry(row);
}

/** Make a dead, retrying or in-doubt entry due now. An in-doubt entry keeps its lookup. */
export async function retryEntry(db: Knex, id: number): Promise<OutboxEntry> {
  return db.transaction(async (trx) => {
    const entry = await getEntry(trx, id);
    const allowed: OutboxState[] = ['dead', 'retry', 'in_doubt'];
    if (!allowed.includes(entry.state)) throw new OperatorError(`entry ${id} is ${entry.state}; only dead, retry or in_doubt entries can be retried`);
    const to: OutboxState = entry.state === 'in_doubt' ? 'in_doubt' : 'pending';
    await trx('outbox_entries').where({ id }).update({ state: to, available_at: nowIso(), updated_at: nowIso() });
    await recordTransition(trx, [id], entry.state, to, 'operator: retry');
    return { ...entry, state: to };
  });
}

/** Give up on an entry for good; its dependants may then go ahead. */
export async function skipEntry(db: Knex, id: number, reason: string): Promise<OutboxEntry> {
  if (reason.trim() === '') throw new OperatorError('skipping needs a reason (--reason)');
  return db.transaction(async (trx) => {
    const entry = await getEntry(trx, id);
    if (entry.state === 'delivered' || entry.state === 'skipped') throw new OperatorError(`entry ${id} is already ${entry.state}`);
    if (entry.state === 'leased') throw new OperatorError(`entry ${id} is being delivered right now; try again in a moment`);
    await trx('outbox_entries').where({ id }).update({ state: 'skipped', last_error: `skipped: ${reason}`, updated_at: nowIso() });
    await recordTransition(trx, [id], entry.state, 'skipped', `operator: skip: ${reason}`);
    return { ...entry, state: 'skipped' };
  });
}

/** Put every dead entry (optionally of one target) back to pending. */
export async function redriveDead(db: Knex, target?: string): Promise<number[]> {
  return db.transaction(async (trx) => {
    const q = trx('outbox_entries').where({ state: 'dead' });
    if (target) q.andWhere({ target });
    const ids = ((await q.select('id')) as { id: number }[]).map((r) => Number(r.id));
    if (ids.length === 0) return [];
    // A fresh start: attempts and the age of its failures both count from zero again.
    await trx('outbox_entries').whereIn('id', ids).update({ state: 'pending', attempts: 0, failing_since: null, available_at: nowIso(), updated_at: nowIso() });
    await recordTransition(trx, ids, 'dead', 'pending', 'operator: redrive');
    return ids;
  });
}
