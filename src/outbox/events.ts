/** Every outbox transition is recorded with its time and cause. */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';
import type { OutboxState } from './states.js';

export async function recordTransition(
  db: Knex,
  entryIds: readonly number[],
  from: OutboxState | null,
  to: OutboxState,
  cause: string,
): Promise<void> {
  if (entryIds.length === 0) return;
  const at = nowIso();
  await db('outbox_events').insert(entryIds.map((id) => ({ entry_id: id, from_state: from, to_state: to, cause, at })));
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
