/**
 * A transaction that holds a named lock from its first statement: it writes the lock's row in
 * `locks` (migration 0005) before anything else. On SQLite that write takes the database's
 * write lock at once, as BEGIN IMMEDIATE would, so no other process can slip a write between
 * this transaction's reads and writes (and busy_timeout makes the other wait, not fail). On
 * PostgreSQL it locks the row until commit, so transactions on the same name run one at a
 * time across instances, and each statement after the lock sees what the previous holder
 * committed (READ COMMITTED).
 */
import type { Knex } from 'knex';
import { nowIso } from './time.js';

export async function inLockedTransaction<T>(db: Knex, name: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx('locks').insert({ name, taken_at: nowIso() }).onConflict('name').merge(['taken_at']);
    return fn(trx);
  });
}
