/** Per-source cursors (checkpoints of the cursor contract in sources/types.ts). */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';

export async function readCursor(db: Knex, source: string): Promise<string | null> {
  const row = (await db('source_cursors').where({ source }).first('cursor')) as { cursor: string } | undefined;
  return row?.cursor ?? null;
}

export async function saveCursor(db: Knex, source: string, cursor: string): Promise<void> {
  await db('source_cursors')
    .insert({ source, cursor, updated_at: nowIso() })
    .onConflict('source')
    .merge(['cursor', 'updated_at']);
}

export interface CursorRow {
  source: string;
  cursor: string;
  updated_at: string;
}

export async function listCursors(db: Knex): Promise<CursorRow[]> {
  return (await db('source_cursors').select('source', 'cursor', 'updated_at').orderBy('source')) as CursorRow[];
}
