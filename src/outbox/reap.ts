/**
 * Leases that ran out belong to a worker that died or hung. Its request may have reached
 * the target, so the entry becomes in-doubt: the next attempt looks it up first.
 */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';
import { recordTransition } from './events.js';

export async function reapExpiredLeases(db: Knex, options: { owner?: string; all?: boolean; ids?: number[] } = {}): Promise<number[]> {
  return db.transaction(async (trx) => {
    // One UPDATE … RETURNING, so that the transaction starts by writing: a read-then-write
    // transaction in SQLite can fail with SQLITE_BUSY_SNAPSHOT beside another process.
    const q = trx('outbox_entries').where({ state: 'leased' });
    if (options.owner) q.andWhere({ lease_owner: options.owner });
    if (options.ids) q.whereIn('id', options.ids);
    if (!options.all) q.andWhere('lease_until', '<', nowIso());
    const rows = (await q
      .update({ state: 'in_doubt', verify_first: true, lease_owner: null, lease_until: null, updated_at: nowIso() })
      .returning('id')) as { id: number }[];
    const ids = rows.map((r) => Number(r.id));
    await recordTransition(trx, ids, 'leased', 'in_doubt', options.all ? 'released at shutdown while in flight' : 'lease expired');
    return ids;
  });
}
