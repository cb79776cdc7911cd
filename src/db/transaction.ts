/**
 * The transaction of the hot paths: intake's per order, the settle queue's per group of
 * outcomes. knex's `transaction` makes a knex instance for every transaction, about 95 µs of
 * JavaScript (measured on tmpfs against the driver's own transaction: docs/performance.md), more
 * than SQLite spends on a small commit. On SQLite this holds the one connection knex's pool has,
 * as knex's transaction does, and runs BEGIN IMMEDIATE and COMMIT on it; `work` gets a handle
 * on which sql.ts's statements run. On PostgreSQL it is knex's transaction.
 *
 * `work` may run only sqlRows and sqlRun on the handle, no query builder. While it runs, other
 * queries wait for the connection, as they wait for a knex transaction's.
 */
import type { Knex } from 'knex';
import { isPostgres } from './connect.js';
import type { SqlDb, SqliteConnection, SqliteTransaction } from './sql.js';

export async function inTransaction<T>(db: Knex, work: (tx: SqlDb) => Promise<T>): Promise<T> {
  if (isPostgres(db)) return db.transaction((trx) => work(trx));
  const conn = (await db.client.acquireConnection()) as SqliteConnection;
  const tx: SqliteTransaction = { kind: 'sqlite-transaction', conn, ended: false };
  try {
    // IMMEDIATE: the write lock at the start, waiting out busy_timeout for another process's,
    // rather than SQLITE_BUSY when a read turns into a write.
    conn.prepare('BEGIN IMMEDIATE').run();
    let result: T;
    try {
      result = await work(tx);
      conn.prepare('COMMIT').run();
    } catch (error) {
      // A failed COMMIT may have ended the transaction already (SQLite rolls back on some errors);
      // a failing ROLLBACK must not hide why.
      try {
        if (conn.inTransaction) conn.prepare('ROLLBACK').run();
      } catch {
        // the connection reports the error of its next statement
      }
      throw error;
    }
    return result;
  } finally {
    tx.ended = true;
    await db.client.releaseConnection(conn);
  }
}
