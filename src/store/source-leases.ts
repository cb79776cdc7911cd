/**
 * Source leases (migration 0006): one kontor process pulls a source at a time. A lease is a
 * `source_leases` row with its holder and an expiry; the holder renews it while it pulls and
 * deletes it after. A lease past its expiry belongs to a process that died or hung, and the
 * next taker overwrites it.
 *
 * Taking reads and writes under the source's `locks` row (inLockedTransaction), so two
 * processes can never both see the source free: on SQLite the first write takes the database's
 * write lock, on PostgreSQL the row lock makes the second wait until the first has committed.
 */
import type { Knex } from 'knex';
import { inLockedTransaction } from '../db/lock.js';
import { isoAfter, nowIso } from '../db/time.js';

export interface SourceLease {
  source: string;
  /** The process that holds it (host, pid and a random part). */
  owner: string;
  /** What the holder is doing: `run`, `sync`, `backfill`, `recheck`. */
  purpose: string;
  taken_at: string;
  renewed_at: string;
  lease_until: string;
}

export type TakeResult =
  /** Taken; `expired` is the lease of a dead holder that was taken over, if there was one. */
  | { taken: true; lease: SourceLease; expired: SourceLease | null }
  /** Held by a live lease (this process's own included). */
  | { taken: false; holder: SourceLease };

export async function takeSourceLease(db: Knex, source: string, owner: string, purpose: string, ttlMs: number): Promise<TakeResult> {
  return inLockedTransaction(db, `source-lease:${source}`, async (trx) => {
    const now = nowIso();
    const row = (await trx('source_leases').where({ source }).first()) as SourceLease | undefined;
    if (row && row.lease_until > now) return { taken: false, holder: row };
    const lease: SourceLease = { source, owner, purpose, taken_at: now, renewed_at: now, lease_until: isoAfter(ttlMs) };
    if (row) await trx('source_leases').where({ source }).update(lease);
    else await trx('source_leases').insert(lease);
    return { taken: true, lease, expired: row ?? null };
  });
}

/** Push the expiry out by `ttlMs`; false when the lease is no longer this owner's (taken over). */
export async function renewSourceLease(db: Knex, source: string, owner: string, ttlMs: number): Promise<{ renewed: boolean; leaseUntil: string }> {
  const now = new Date();
  const leaseUntil = isoAfter(ttlMs, now);
  const changed = await db('source_leases').where({ source, owner }).update({ renewed_at: now.toISOString(), lease_until: leaseUntil });
  return { renewed: changed > 0, leaseUntil };
}

/** Give the source back; a lease another process has taken over since is left alone. */
export async function releaseSourceLease(db: Knex, source: string, owner: string): Promise<boolean> {
  return (await db('source_leases').where({ source, owner }).delete()) > 0;
}

/** Every lease row, live or expired, by source. */
export async function listSourceLeases(db: Knex): Promise<SourceLease[]> {
  return (await db('source_leases').select('source', 'owner', 'purpose', 'taken_at', 'renewed_at', 'lease_until').orderBy('source')) as SourceLease[];
}
