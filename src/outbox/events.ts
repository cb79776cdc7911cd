/** Every outbox transition is recorded with its time and cause. */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';
import type { OutboxState } from './states.js';

export interface Transition {
  entryId: number;
  from: OutboxState | null;
  to: OutboxState;
  cause: string;
}

/** Rows per INSERT: knex writes a multi-row insert on SQLite as a compound SELECT, which SQLite caps at 500 terms. */
const ROWS_PER_INSERT = 250;

/** Record transitions of several entries, a statement per ROWS_PER_INSERT. */
export async function recordTransitions(db: Knex, transitions: readonly Transition[], at = nowIso()): Promise<void> {
  for (let i = 0; i < transitions.length; i += ROWS_PER_INSERT) {
    const rows = transitions.slice(i, i + ROWS_PER_INSERT);
    await db('outbox_events').insert(rows.map((t) => ({ entry_id: t.entryId, from_state: t.from, to_state: t.to, cause: t.cause, at })));
  }
}

export async function recordTransition(
  db: Knex,
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
