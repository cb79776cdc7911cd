/**
 * The outcomes of one delivery attempt. Each update is guarded by the lease owner, so a
 * worker whose lease was reaped cannot overwrite what another worker decided since.
 *
 * An outcome is built first (`outcomes.delivered(entry, …)`) and then written, alone
 * (`settle`, or the `mark…` shorthands) or together with others that finished meanwhile
 * (`settleAll`, which settle-queue.ts uses to commit a group in one transaction).
 */
import type { Knex } from 'knex';
import { chunksOf, placeholders, sqlRows, type SqlDb, type SqlValue } from '../db/sql.js';
import { isoAfter, nowIso } from '../db/time.js';
import { recordTransitions, type Transition } from './events.js';
import type { OutboxEntry, OutboxState } from './states.js';

/** What one attempt does to its leased entry. */
export interface Outcome {
  entry: OutboxEntry;
  to: OutboxState;
  cause: string;
  fields: Record<string, string | number | boolean | null>;
  /** A failed attempt: starts the age clock of the retries (`failing_since`), unless it runs already. */
  failing?: boolean;
}

export const outcomes = {
  delivered(entry: OutboxEntry, externalId: string, cause = 'delivered'): Outcome {
    return { entry, to: 'delivered', cause, fields: { external_id: externalId, verify_first: false, last_error: null, failing_since: null } };
  },
  retry(entry: OutboxEntry, error: string, delayMs: number): Outcome {
    return { entry, to: 'retry', cause: `retry in ${Math.round(delayMs / 1000)} s: ${error}`, fields: { last_error: error, available_at: isoAfter(delayMs) }, failing: true };
  },
  /** Due again after `delayMs`, so a target that keeps failing is not hammered with lookups. */
  inDoubt(entry: OutboxEntry, cause: string, delayMs: number): Outcome {
    return { entry, to: 'in_doubt', cause, fields: { verify_first: true, last_error: cause, available_at: isoAfter(delayMs) }, failing: true };
  },
  /**
   * Give back an entry whose attempt does not count: claimed but never started (shutdown), or
   * refused before anything was sent for it (its target stopped on a credential error). It goes
   * back as it was, without using up an attempt; `lastError` says why, when there is a reason.
   */
  released(entry: OutboxEntry, cause = 'released unstarted at shutdown', lastError?: string): Outcome {
    const to: OutboxState = entry.verify_first ? 'in_doubt' : 'pending';
    return { entry, to, cause, fields: { attempts: Math.max(0, entry.attempts - 1), ...(lastError !== undefined ? { last_error: lastError } : {}) } };
  },
  dead(entry: OutboxEntry, reason: string): Outcome {
    return { entry, to: 'dead', cause: reason, fields: { last_error: reason } };
  },
};

/**
 * Write several outcomes in the open transaction `trx`, then their transitions together.
 * Outcomes alike (the same next state, the same fields, the same lease owner: a group of
 * deliveries) share one guarded UPDATE, the fields that differ between them (each entry's
 * external id) chosen by id: per statement knex and the database spend more than per row.
 * Answers, per outcome, whether this owner still held the entry.
 */
export async function settleAll(trx: SqlDb, list: readonly Outcome[]): Promise<boolean[]> {
  const now = nowIso();
  const written = new Set<number>();
  for (const alike of alikeGroups(list)) {
    for (const id of await updateAlike(trx, alike, now)) written.add(id);
  }
  const held = list.map((o) => written.has(o.entry.id));
  const transitions: Transition[] = list.filter((_, i) => held[i]).map((o) => ({ entryId: o.entry.id, from: 'leased', to: o.to, cause: o.cause }));
  await recordTransitions(trx, transitions, now);
  return held;
}

/** Outcomes that one UPDATE can write, in list order. */
function alikeGroups(list: readonly Outcome[]): Outcome[][] {
  const groups = new Map<string, Outcome[]>();
  for (const o of list) {
    const key = JSON.stringify([o.to, o.entry.lease_owner, o.failing === true, Object.keys(o.fields)]);
    const group = groups.get(key);
    if (group) group.push(o);
    else groups.set(key, [o]);
  }
  return [...groups.values()];
}

/** Column types a value that differs between rows is cast to, for PostgreSQL's sake (a bare parameter there is text). */
const COLUMN_TYPES: Record<string, string> = { attempts: 'integer', verify_first: 'boolean' };

/** Rows per UPDATE: each row takes three parameters in the CASE and one in the id list. */
const ROWS_PER_UPDATE = 200;

/**
 * One guarded UPDATE for outcomes alike (alikeGroups), a statement per ROWS_PER_UPDATE;
 * answers the ids this owner still held and has now written.
 */
async function updateAlike(trx: SqlDb, alike: readonly Outcome[], now: string): Promise<number[]> {
  const written: number[] = [];
  for (const rows of chunksOf(alike, ROWS_PER_UPDATE)) {
    const first = rows[0]!;
    const sets = ['state = ?', 'lease_owner = NULL', 'lease_until = NULL', 'updated_at = ?'];
    const bindings: SqlValue[] = [first.to, now];
    for (const [column, value] of Object.entries(first.fields)) {
      if (rows.every((o) => o.fields[column] === value)) {
        sets.push(`${column} = ?`);
        bindings.push(value);
      } else {
        const cast = COLUMN_TYPES[column];
        sets.push(`${column} = CASE id ${rows.map(() => (cast ? `WHEN ? THEN CAST(? AS ${cast})` : 'WHEN ? THEN ?')).join(' ')} END`);
        for (const o of rows) bindings.push(o.entry.id, o.fields[column] ?? null);
      }
    }
    if (first.failing) {
      sets.push('failing_since = COALESCE(failing_since, ?)');
      bindings.push(now);
    }
    const owner = first.entry.lease_owner;
    bindings.push(...rows.map((o) => o.entry.id));
    if (owner !== null) bindings.push(owner);
    const returned = await sqlRows<{ id: number | string }>(
      trx,
      `UPDATE outbox_entries SET ${sets.join(', ')}
        WHERE id IN (${placeholders(rows.length)}) AND state = 'leased' AND lease_owner ${owner === null ? 'IS NULL' : '= ?'}
        RETURNING id`,
      bindings,
    );
    for (const r of returned) written.push(Number(r.id));
  }
  return written;
}

/** Write one outcome in a transaction of its own. */
export async function settle(db: Knex, outcome: Outcome): Promise<boolean> {
  const [held] = await db.transaction((trx) => settleAll(trx, [outcome]));
  return held!;
}

export function markDelivered(db: Knex, entry: OutboxEntry, externalId: string, cause?: string): Promise<boolean> {
  return settle(db, outcomes.delivered(entry, externalId, cause));
}

export function markReleased(db: Knex, entry: OutboxEntry, cause?: string, lastError?: string): Promise<boolean> {
  return settle(db, outcomes.released(entry, cause, lastError));
}

export function markDead(db: Knex, entry: OutboxEntry, reason: string): Promise<boolean> {
  return settle(db, outcomes.dead(entry, reason));
}

/**
 * How long the entry has been failing (since its first failed attempt after it was enqueued,
 * delivered or redriven), in ms; 0 when its last attempt was its first or did not fail.
 */
export function failingForMs(entry: OutboxEntry, now = Date.now()): number {
  if (!entry.failing_since) return 0;
  return Math.max(0, now - Date.parse(entry.failing_since));
}

/**
 * Exponential backoff with jitter: 5 s, 10 s, 20 s … capped at one hour, each ±20 %.
 * Jitter spreads retries of many entries that failed together.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}
