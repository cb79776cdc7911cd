/**
 * Webhook events: what a target pushed to kontor (Billecta's payments, credits, write-offs,
 * "invoice paid"), one row per event, keyed by (source, reference) so that a redelivery of
 * the same event never makes a second row.
 */
import type { Knex } from 'knex';
import { toInt } from '../db/connect.js';
import { nowIso } from '../db/time.js';

export interface WebhookEventInput {
  source: string;
  eventType: string;
  /** The idempotency key within the source (Billecta: PaymentReferenceId, or a fallback). */
  reference: string;
  invoicePublicId: string | null;
  amountMinor: number | null;
  currency: string | null;
  occurredAt: string | null;
  /** The request body as received. */
  payload: string;
  /** Whether kontor knows this event type (unknown ones are kept for a person to look at). */
  known: boolean;
}

export interface WebhookEventRow {
  id: number;
  source: string;
  event_type: string;
  reference: string;
  invoice_public_id: string | null;
  amount_minor: number | null;
  currency: string | null;
  occurred_at: string | null;
  payload: string;
  received_at: string;
  known: boolean;
}

export type RecordOutcome = { inserted: true; id: number } | { inserted: false; id: number; eventType: string };

/**
 * Insert the event unless its (source, reference) is already there. Resolves only once the
 * row is committed (a single statement outside any transaction commits on its own); on a
 * repeat it answers the row that was there first.
 */
export async function recordWebhookEvent(db: Knex, e: WebhookEventInput): Promise<RecordOutcome> {
  const rows = (await db('webhook_events')
    .insert({
      source: e.source,
      event_type: e.eventType,
      reference: e.reference,
      invoice_public_id: e.invoicePublicId,
      amount_minor: e.amountMinor,
      currency: e.currency,
      occurred_at: e.occurredAt,
      payload: e.payload,
      received_at: nowIso(),
      known: e.known,
    })
    .onConflict(['source', 'reference'])
    .ignore()
    .returning('id')) as { id: number }[];
  if (rows.length > 0) return { inserted: true, id: toInt(rows[0]!.id) };
  const existing = (await db('webhook_events').where({ source: e.source, reference: e.reference }).first('id', 'event_type')) as
    | { id: number; event_type: string }
    | undefined;
  // Ignored for a conflict, yet not there: nothing sensible to answer but an error (the sender retries).
  if (!existing) throw new Error(`webhook event ${e.source}/${e.reference} was neither inserted nor found`);
  return { inserted: false, id: toInt(existing.id), eventType: existing.event_type };
}

export interface WebhookTotal {
  source: string;
  eventType: string;
  currency: string | null;
  count: number;
  /** Sum of amount_minor over the rows that carry an amount. */
  sumMinor: number;
  lastReceivedAt: string;
}

/** Count, sum and latest arrival per source, event type and currency. */
export async function webhookTotals(db: Knex): Promise<WebhookTotal[]> {
  const rows = (await db('webhook_events')
    .select('source', 'event_type', 'currency')
    .count({ count: '*' })
    .sum({ sum: 'amount_minor' })
    .max({ last: 'received_at' })
    .groupBy('source', 'event_type', 'currency')
    .orderBy([{ column: 'source' }, { column: 'event_type' }, { column: 'currency' }])) as {
    source: string;
    event_type: string;
    currency: string | null;
    count: number | string;
    sum: number | string | null;
    last: string;
  }[];
  return rows.map((r) => ({
    source: r.source,
    eventType: r.event_type,
    currency: r.currency,
    count: toInt(r.count),
    sumMinor: r.sum === null ? 0 : toInt(r.sum),
    lastReceivedAt: r.last,
  }));
}

export async function listWebhookEvents(db: Knex, options: { source?: string; eventType?: string; limit?: number } = {}): Promise<WebhookEventRow[]> {
  const q = db('webhook_events').select('*').orderBy('id');
  if (options.source) q.where({ source: options.source });
  if (options.eventType) q.where({ event_type: options.eventType });
  if (options.limit) q.limit(options.limit);
  const rows = (await q) as (Omit<WebhookEventRow, 'known'> & { known: boolean | number })[];
  return rows.map((r) => ({ ...r, id: toInt(r.id), amount_minor: r.amount_minor === null ? null : toInt(r.amount_minor), known: Boolean(r.known) }));
}
