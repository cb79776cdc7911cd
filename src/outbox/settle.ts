/**
 * The outcomes of one delivery attempt. Each update is guarded by the lease owner, so a
 * worker whose lease was reaped cannot overwrite what another worker decided since.
 */
import type { Knex } from 'knex';
import { isoAfter, nowIso } from '../db/time.js';
import { recordTransition } from './events.js';
import type { OutboxEntry, OutboxState } from './states.js';

async function settle(
  db: Knex,
  entry: OutboxEntry,
  to: OutboxState,
  cause: string,
  fields: Record<string, unknown>,
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const changed = await trx('outbox_entries')
      .where({ id: entry.id, state: 'leased', lease_owner: entry.lease_owner })
      .update({ state: to, lease_owner: null, lease_until: null, updated_at: nowIso(), ...fields });
    if (changed === 0) return false;
    await recordTransition(trx, [entry.id], 'leased', to, cause);
    return true;
  });
}

export function markDelivered(db: Knex, entry: OutboxEntry, externalId: string, cause = 'delivered'): Promise<boolean> {
  return settle(db, entry, 'delivered', cause, { external_id: externalId, verify_first: false, last_error: null, failing_since: null });
}

/** A failed attempt starts the age clock of the retries (`failing_since`), unless it runs already. */
function failingSince(db: Knex) {
  return db.raw('COALESCE(failing_since, ?)', [nowIso()]);
}

export function markRetry(db: Knex, entry: OutboxEntry, error: string, delayMs: number): Promise<boolean> {
  return settle(db, entry, 'retry', `retry in ${Math.round(delayMs / 1000)} s: ${error}`, {
    last_error: error,
    available_at: isoAfter(delayMs),
    failing_since: failingSince(db),
  });
}

/** Due again after `delayMs`, so a target that keeps failing is not hammered with lookups. */
export function markInDoubt(db: Knex, entry: OutboxEntry, cause: string, delayMs: number): Promise<boolean> {
  return settle(db, entry, 'in_doubt', cause, { verify_first: true, last_error: cause, available_at: isoAfter(delayMs), failing_since: failingSince(db) });
}

/**
 * Give back an entry whose attempt does not count: claimed but never started (shutdown), or
 * refused before anything was sent for it (its target stopped on a credential error). It goes
 * back as it was, without using up an attempt; `lastError` says why, when there is a reason.
 */
export function markReleased(db: Knex, entry: OutboxEntry, cause = 'released unstarted at shutdown', lastError?: string): Promise<boolean> {
  const to: OutboxState = entry.verify_first ? 'in_doubt' : 'pending';
  return settle(db, entry, to, cause, { attempts: Math.max(0, entry.attempts - 1), ...(lastError !== undefined ? { last_error: lastError } : {}) });
}

export function markDead(db: Knex, entry: OutboxEntry, reason: string): Promise<boolean> {
  return settle(db, entry, 'dead', reason, { last_error: reason });
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
