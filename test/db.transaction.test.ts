/**
 * The hot paths' transaction (src/db/transaction.ts): on SQLite BEGIN IMMEDIATE and COMMIT on
 * the connection knex holds, without knex's transaction object; on PostgreSQL knex's own.
 * Committed or rolled back as a whole and refused once it has ended; on SQLite other queries wait
 * for its connection, and it waits for another process's write lock rather than failing.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { sqlRows, sqlRun, type SqlDb } from '../src/db/sql.js';
import { inTransaction } from '../src/db/transaction.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

const names = async (db: SqlDb) => (await sqlRows<{ name: string }>(db, 'SELECT name FROM t ORDER BY id')).map((r) => r.name);

describe.each(DIALECTS)('inTransaction on %s', (dialect) => {
  const it_ = it.skipIf(dialect === 'postgres' && !HAS_POSTGRES);

  const withTable = async (test: (db: import('knex').Knex, open: () => import('knex').Knex) => Promise<void>) => {
    const { db, drop, open } = await freshDatabase(dialect);
    try {
      await db.schema.createTable('t', (t) => {
        t.increments('id');
        t.string('name').notNullable().unique();
      });
      await test(db, open);
    } finally {
      await drop();
    }
  };

  it_('commits what the work wrote and answers what it answers; a failure rolls all of it back and is thrown as it was', async () => {
    await withTable(async (db) => {
      expect(
        await inTransaction(db, async (tx) => {
          await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['a']);
          await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['b']);
          return names(tx);
        }),
      ).toEqual(['a', 'b']);
      const failure = new Error('the third order is broken');
      await expect(
        inTransaction(db, async (tx) => {
          await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['c']);
          expect(await names(tx)).toEqual(['a', 'b', 'c']);
          throw failure;
        }),
      ).rejects.toBe(failure);
      // A statement that fails in the database rolls back too.
      await expect(
        inTransaction(db, async (tx) => {
          await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['d']);
          await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['a']);
        }),
      ).rejects.toThrow(/unique|UNIQUE/);
      expect(await names(db)).toEqual(['a', 'b']);
      // The connection is free again: knex's own queries and transactions go on.
      await db('t').insert({ name: 'e' });
      await db.transaction((trx) => trx('t').insert({ name: 'f' }));
      expect(await names(db)).toEqual(['a', 'b', 'e', 'f']);
    });
  });

  it_('refuses a statement once it has ended', async () => {
    await withTable(async (db) => {
      let ended: SqlDb | null = null;
      await inTransaction(db, async (tx) => {
        ended = tx;
        await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['kept']);
      });
      await expect(sqlRun(ended!, 'INSERT INTO t (name) VALUES (?)', ['late'])).rejects.toThrow(/Transaction query already complete/);
      expect(await names(db)).toEqual(['kept']);
    });
  });

  it.skipIf(dialect !== 'sqlite')('holds the one connection: other queries run once it has committed', async () => {
    await withTable(async (db) => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const inside = inTransaction(db, async (tx) => {
        await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['first']);
        await held;
        await sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['second']);
      });
      let outsideDone = false;
      const outside = db('t')
        .insert({ name: 'third' })
        .then(() => (outsideDone = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(outsideDone).toBe(false);
      release();
      await Promise.all([inside, outside]);
      expect(await names(db)).toEqual(['first', 'second', 'third']);
    });
  });
});

describe('inTransaction on SQLite with another process writing', () => {
  it("waits for the other process's write lock (busy_timeout) instead of failing", async () => {
    const { db, drop } = await freshDatabase('sqlite');
    try {
      await db.schema.createTable('t', (t) => {
        t.increments('id');
        t.string('name').notNullable();
      });
      const file = (db.client.config as { connection: { filename: string } }).connection.filename;
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      // The other process takes the write lock, says so, and holds it for 300 ms.
      const other = spawn(
        process.execPath,
        [
          '-e',
          `const D = require(${JSON.stringify(driver)}); const c = new D(${JSON.stringify(file)}); c.exec("BEGIN IMMEDIATE; INSERT INTO t (name) VALUES ('other')"); process.stdout.write('locked\\n'); setTimeout(() => { c.exec('COMMIT'); c.close(); }, 300);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => other.stdout.once('data', () => resolve()));
      const started = Date.now();
      await inTransaction(db, (tx) => sqlRun(tx, 'INSERT INTO t (name) VALUES (?)', ['kontor']));
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await new Promise((resolve) => other.once('exit', resolve));
      expect(await names(db)).toEqual(['other', 'kontor']);
    } finally {
      await drop();
    }
  });
});
