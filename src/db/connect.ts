/**
 * One knex layer over SQLite (default, embedded) or PostgreSQL (several instances).
 *
 * SQLite is opened in WAL mode with synchronous=FULL: losing a "delivered" mark in a power
 * cut would mean sending a document twice, and at accounting-API rates the cost of FULL is
 * invisible (see docs/operations.md). The file is created 0600 because it holds customer data.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import type { DatabaseSettings } from '../config/load.js';

export type Db = Knex;

export interface OpenOptions {
  /** PostgreSQL schema to use (tests isolate themselves this way). */
  searchPath?: string;
}

interface SqliteConnection {
  pragma(source: string): unknown;
  prepare(sql: string): unknown;
}

/** How many prepared statements one SQLite connection keeps (knex's SQL texts repeat). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * knex's better-sqlite3 dialect prepares every query anew, and preparing costs more than
 * running most of kontor's statements (bench: a third of the delivery figure's time). The
 * SQL knex builds has placeholders, so its texts repeat: keep the prepared statements, the
 * least recently used dropped beyond STATEMENT_CACHE_SIZE. A statement is only ever used by
 * one synchronous call at a time, and SQLite re-prepares it itself after a schema change.
 */
function cachePreparedStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let statement = cache.get(sql);
    if (statement !== undefined) {
      cache.delete(sql);
    } else {
      statement = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, statement);
    return statement;
  };
}

export function openDatabase(settings: DatabaseSettings, options: OpenOptions = {}): Db {
  if (settings.client === 'postgres') {
    return knex({
      client: 'pg',
      connection: settings.url,
      pool: { min: 0, max: settings.poolMax },
      ...(options.searchPath ? { searchPath: [options.searchPath] } : {}),
    });
  }
  prepareSqliteFile(settings.file);
  return knex({
    client: 'better-sqlite3',
    connection: { filename: settings.file },
    useNullAsDefault: true,
    pool: {
      // One connection per process: better-sqlite3 is synchronous, and a single writer
      // connection avoids SQLITE_BUSY_SNAPSHOT between our own transactions.
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = FULL');
          conn.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
          conn.pragma('foreign_keys = ON');
          cachePreparedStatements(conn);
          done(null, conn);
        } catch (error) {
          done(error as Error, conn);
        }
      },
    },
  });
}

function prepareSqliteFile(file: string): void {
  if (file === ':memory:') return;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  // openSync's mode is filtered by the umask and ignored for an existing file.
  chmodSync(file, 0o600);
}

export function isPostgres(db: Db): boolean {
  return db.client.config.client === 'pg';
}

/** Integers read back from PostgreSQL bigint columns arrive as strings. */
export function toInt(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : (value as number);
  if (!Number.isSafeInteger(n)) throw new Error(`expected an integer from the database, got ${String(value)}`);
  return n;
}
