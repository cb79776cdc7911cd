/** Every outbox transition is recorded with its time and cause. */
import type { Knex } from 'knex';
import { chunksOf, placeholders, sqlRun, type SqlDb } from '../db/sql.js';
import { nowIso } from '../db/time.js';
import type { OutboxState } from './states.js';

export interface Transition {
  entryId: number;
  from: OutboxState | null;
  to: OutboxState;
  cause: string;
}

/** Rows per INSERT: five parameters each, well below either database's limit. */
const ROWS_PER_INSERT = 250;

/** The placeholders of one transition's row: (entry_id, from_state, to_state, cause, at). */
const EVENT_ROW = `(${placeholders(5)})`;

/** Record transitions of several entries, one multi-row INSERT per ROWS_PER_INSERT (db/sql.ts: a hot statement). */
export async function recordTransitions(db: SqlDb, transitions: readonly Transition[], at = nowIso()): Promise<void> {
  for (const rows of chunksOf(transitions, ROWS_PER_INSERT)) {
    const bindings: (string | number | null)[] = [];
    for (const t of rows) bindings.push(t.entryId, t.from, t.to, t.cause, at);
    await sqlRun(db, `INSERT INTO outbox_events (entry_id, from_state, to_state, cause, at) VALUES ${rows.map(() => EVENT_ROW).join(', ')}`, bindings);
  }
}

export async function recordTransition(
  db: SqlDb,
  entryIds: readonly number[],
  from: OutboxState | null,
  to: OutboxState,
  cause: string,
): Promise<void> {
  await recordTransitions(db, entryIds.map((entryId) => ({ entryId, from, to, cause })));
}

export interface OutboxEvent {
  id: number;
  entry_id: number;
  from_state: OutboxState | null;
  to_state: OutboxState;
  cause: string;
  at: string;
}

export async function listTransitions(db: Knex, entryId: number): Promise<OutboxEvent[]> {
  return (await db('outbox_events').where({ entry_id: entryId }).orderBy('id')) as OutboxEvent[];
}
