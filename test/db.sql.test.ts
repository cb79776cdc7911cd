/**
 * Hand-written SQL for the hot statements (src/db/sql.ts): the same text on both databases,
 * straight to the better-sqlite3 connection on SQLite (the transaction's own inside one),
 * knex.raw on PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { chunksOf, placeholders, sqlRows, sqlRun } from '../src/db/sql.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

describe.each(DIALECTS)('hand-written SQL on %s', (dialect) => {
  const it_ = it.skipIf(dialect === 'postgres' && !HAS_POSTGRES);

  it_('answers rows, RETURNING rows and changed-row counts; booleans and nulls are bound as the column stores them', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await db.schema.createTable('t', (t) => {
        t.increments('id');
        t.string('name').notNullable();
        t.boolean('flag').notNullable();
        t.string('note');
      });
      const inserted = await sqlRows<{ id: number | string }>(db, 'INSERT INTO t (name, flag, note) VALUES (?, ?, ?), (?, ?, ?) RETURNING id', ['a', true, null, 'b', false, 'x']);
      expect(inserted.map((r) => Number(r.id))).toEqual([1, 2]);
      expect(await sqlRun(db, 'UPDATE t SET note = ? WHERE flag = ?', ['set', true])).toBe(1);
      const rows = await sqlRows<{ name: string; flag: unknown; note: string | null }>(db, 'SELECT name, flag, note FROM t ORDER BY id');
      expect(rows.map((r) => [r.name, Boolean(r.flag), r.note])).toEqual([
        ['a', true, 'set'],
        ['b', false, 'x'],
      ]);
      // Read back through knex, as the rest of kontor reads them.
      expect(((await db('t').where({ flag: true }).select('name')) as { name: string }[]).map((r) => r.name)).toEqual(['a']);
    } finally {
      await drop();
    }
  });

  it_("runs inside the caller's transaction: rolled back with it, and refused once it has finished", async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await db.schema.createTable('t', (t) => {
        t.increments('id');
        t.string('name').notNullable();
      });
      await expect(
        db.transaction(async (trx) => {
          await sqlRun(trx, 'INSERT INTO t (name) VALUES (?)', ['inside']);
          expect(await sqlRows(trx, 'SELECT name FROM t')).toEqual([{ name: 'inside' }]);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await sqlRows(db, 'SELECT name FROM t')).toEqual([]);
      let finished: import('knex').Knex.Transaction | null = null;
      await db.transaction(async (trx) => {
        finished = trx;
        await sqlRun(trx, 'INSERT INTO t (name) VALUES (?)', ['kept']);
      });
      await expect(sqlRun(finished!, 'INSERT INTO t (name) VALUES (?)', ['late'])).rejects.toThrow(/Transaction query already complete/);
      expect(await sqlRows(db, 'SELECT name FROM t')).toEqual([{ name: 'kept' }]);
    } finally {
      await drop();
    }
  });
});

describe('statement pieces', () => {
  it('writes one placeholder per value', () => {
    expect(placeholders(1)).toBe('?');
    expect(placeholders(3)).toBe('?, ?, ?');
  });

  it('cuts a list into pieces of at most the size, in order, none empty', () => {
    expect([...chunksOf([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
    expect([...chunksOf([1, 2], 2)]).toEqual([[1, 2]]);
    expect([...chunksOf([], 2)]).toEqual([]);
  });
});
