/**
 * Outbox entry states.
 *
 *   pending ─claim→ leased ─→ delivered (external id kept)
 *                     ├──→ retry     (transient failure; claimable again after backoff)
 *                     ├──→ in_doubt  (the target may have it; look it up before resending)
 *                     └──→ dead      (permanent failure; an operator retries or skips it)
 *   any undelivered state ─operator→ skipped (with a recorded reason)
 */
export const OUTBOX_STATES = ['pending', 'leased', 'delivered', 'retry', 'in_doubt', 'dead', 'skipped'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

/** States a worker may claim from. */
export const CLAIMABLE: readonly OutboxState[] = ['pending', 'retry', 'in_doubt'];
/** States that let dependants go ahead. */
export const SETTLED: readonly OutboxState[] = ['delivered', 'skipped'];

export interface OutboxEntry {
  id: number;
  entry_key: string;
  document_id: number;
  target: string;
  state: OutboxState;
  depends_on: number | null;
  /** Entries of its order queued behind it when it was enqueued (migration 0010): claims take more first. */
  successors?: number;
  attempts: number;
  verify_first: boolean;
  available_at: string;
  lease_owner: string | null;
  lease_until: string | null;
  external_id: string | null;
  last_error: string | null;
  /** When its current streak of failed attempts began (migration 0006); null when not failing. */
  failing_since?: string | null;
  created_at: string;
  updated_at: string;
}

/** Normalise a row read from either database (SQLite returns 0/1 for booleans, PG bigint strings). */
export function toEntry(row: Record<string, unknown>): OutboxEntry {
  return {
    ...(row as unknown as OutboxEntry),
    id: Number(row.id),
    document_id: Number(row.document_id),
    depends_on: row.depends_on === null || row.depends_on === undefined ? null : Number(row.depends_on),
    attempts: Number(row.attempts),
    verify_first: row.verify_first === true || row.verify_first === 1,
  };
}
