/**
 * Hand-written SQL for the statements run once or more per order or per document (intake and
 * delivery), the same text on both databases (`?` placeholders).
 *
 * Through knex a statement costs about 15–25 µs of JavaScript (query object, compiler, runner,
 * events), more than SQLite spends on most of these statements; intake runs a dozen per order.
 * On SQLite the statement goes straight to the better-sqlite3 connection knex holds (inside a
 * transaction: the transaction's own connection), prepared once (connect.ts keeps prepared
 * statements); on PostgreSQL it goes through knex.raw as before.
 */
import type { Knex } from 'knex';
import { isPostgres } from './connect.js';

export type SqlValue = string | number | boolean | null;

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number };
}

export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  readonly inTransaction: boolean;
}

/**
 * A SQLite transaction of transaction.ts: its connection, held for it, and whether it has
 * ended. Only sqlRows and sqlRun run on it (no query builder).
 */
export interface SqliteTransaction {
  readonly kind: 'sqlite-transaction';
  readonly conn: SqliteConnection;
  ended: boolean;
}

/** Where sqlRows and sqlRun run: a knex instance or transaction, or a SQLite transaction of transaction.ts. */
export type SqlDb = Knex | SqliteTransaction;

function isSqliteTransaction(db: SqlDb): db is SqliteTransaction {
  return (db as Partial<SqliteTransaction>).kind === 'sqlite-transaction';
}

/** Whether `db` runs on PostgreSQL (a SQLite transaction of transaction.ts does not). */
export function onPostgres(db: SqlDb): boolean {
  return !isSqliteTransaction(db) && isPostgres(db);
}

/** better-sqlite3 binds no booleans: SQLite keeps them as 0/1, as knex writes them. */
function sqliteValue(value: SqlValue): string | number | null {
  return typeof value === 'boolean' ? Number(value) : value;
}

/** Run `text` on the connection `db` stands for (a transaction's, or one from the pool). */
async function onSqlite<T>(db: SqlDb, use: (conn: SqliteConnection) => T): Promise<T> {
  if (isSqliteTransaction(db)) {
    // Its connection belongs to others once it has ended: refuse, as knex does.
    if (db.ended) throw new Error('Transaction query already complete');
    return use(db.conn);
  }
  const trx = db as unknown as Partial<Knex.Transaction>;
  if (trx.isTransaction && trx.isCompleted?.()) throw new Error('Transaction query already complete');
  const conn = (await db.client.acquireConnection()) as SqliteConnection;
  try {
    return use(conn);
  } finally {
    await db.client.releaseConnection(conn);
  }
}

/** The rows a query (or a statement with RETURNING) answers. */
export async function sqlRows<Row>(db: SqlDb, text: string, bindings: readonly SqlValue[] = []): Promise<Row[]> {
  if (onPostgres(db)) return ((await (db as Knex).raw(text, bindings as Knex.RawBinding[])) as { rows: Row[] }).rows;
  return onSqlite(db, (conn) => conn.prepare(text).all(...bindings.map(sqliteValue)) as Row[]);
}

/** Run a statement without rows to answer; answers how many rows it changed. */
export async function sqlRun(db: SqlDb, text: string, bindings: readonly SqlValue[] = []): Promise<number> {
  if (onPostgres(db)) return ((await (db as Knex).raw(text, bindings as Knex.RawBinding[])) as { rowCount: number | null }).rowCount ?? 0;
  return onSqlite(db, (conn) => conn.prepare(text).run(...bindings.map(sqliteValue)).changes);
}

/** `?, ?, ?`: one placeholder per value, for an IN list or a row of VALUES. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** Ids per IN list of one statement: far below either database's parameter limit. */
export const IDS_PER_STATEMENT = 500;

/** `list` in pieces of at most `size`: a statement per piece keeps within the parameter limits. */
export function* chunksOf<T>(list: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < list.length; i += size) yield list.slice(i, i + size);
}
