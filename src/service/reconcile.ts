/**
 * Reconciliation (`kontor reconcile`, issue #7): per target, every sales document kontor
 * delivered, what kontor settled on it (its delivered payment documents), what the target
 * reported about it through webhooks (Billecta: InvoicePaymentReceived, AmountCreditedOnInvoice,
 * AmountWrittenOffOnInvoice, InvoiceActionPaid, matched by the event's ActionPublicId to the
 * outbox entry's external id), what is open, and whether the two sides agree.
 *
 * - kontor's own registrations come back as webhooks (Billecta reports every registered payment,
 *   as the emulator does): a reported payment is matched to kontor's payment document first by
 *   reference (the event's PaymentReferenceId is the external id kontor recorded for the
 *   payment, when Billecta answered one), else by equal amount. A matched pair is one payment,
 *   confirmed, never counted twice. `payment` documents pair with InvoicePaymentReceived;
 *   skonto, price reductions and fees (sent as WriteOff) with AmountWrittenOffOnInvoice.
 * - Reported amounts kontor did not register (a customer paid in Billecta, someone credited or
 *   wrote off in its portal) settle the document too: open = total − kontor's payments − the
 *   target's payments, credits and write-offs beyond kontor's.
 * - Crediting: a Billecta credit invoice reduces the invoice it credits (AmountCreditedOnInvoice
 *   on that invoice, up to what was open). Credits up to the totals of kontor's delivered credit
 *   notes on the invoice are kontor's own; the credited amount is allocated to those credit notes
 *   (oldest first), which it settles as well.
 * - Verification invoices (an order a provider collected, mapping `paid_orders: verification`)
 *   are closed on creation and their payments send nothing: Billecta reports nothing about them.
 * - InvoiceActionPaid says the target considers the invoice paid; its PaidAmount is not summed
 *   (it repeats the payments), but an invoice it closes that kontor still sees open is a mismatch.
 * - Webhooks can be lost (Billecta gives up after 5 attempts): a registration the target has
 *   not reported is shown (`unreported`), not an error.
 *
 * Status per document: `mismatch` (the two sides disagree: a reported amount differs from
 * kontor's registration, another currency, an event without an amount, or the target closed an
 * invoice kontor sees open), `overpaid` (more settled than the total), `open` (nothing settled),
 * `partly-paid`, `paid-by-kontor-and-reported` (settled by kontor's own documents, each reported
 * back by the target, nothing else reported) and `paid` (settled otherwise: paid in the target,
 * collected, or not reported back). Events with an amount whose invoice id is no delivered
 * document of any configured target of their type are `unmatched`.
 *
 * Journal targets are left out: they are kontor's own books (`kontor ledger items`). Run my
 * Accounts sends no webhooks: its rows show kontor's side only.
 */
import type { Knex } from 'knex';
import { minor, neg, sub, sum, type BookDocument, type Minor, type PaymentDocument, type SalesDocument } from '../books/index.js';
import type { Config, ResolvedTarget } from '../config/load.js';
import { toInt } from '../db/connect.js';
import { loadMapping } from '../mapping/load.js';
import { backlog } from '../outbox/queries.js';
import { listWebhookEvents, type WebhookEventRow } from '../store/webhook-events.js';

/** The `source` the webhook endpoint records a target type's events under (src/service/webhooks.ts). */
const WEBHOOK_SOURCE: Partial<Record<string, string>> = { billecta: 'billecta' };

export type ReconcileStatus = 'open' | 'partly-paid' | 'paid' | 'paid-by-kontor-and-reported' | 'overpaid' | 'mismatch';

export interface ReconcileRow {
  /** The outbox entry and the document key. */
  entry: number;
  document: string;
  date: string;
  kind: SalesDocument['kind'];
  number: string;
  orderNumber: string;
  /** The target's id of the document (Billecta: the ActionPublicId). */
  externalId: string | null;
  currency: string;
  total: Minor;
  /** Σ kontor's delivered payment documents on this document (every purpose). */
  settled: Minor;
  /** Σ webhook amounts on the document's external id, in its currency, per event type. */
  reported: { received: Minor; credited: Minor; writtenOff: Minor };
  /** kontor's registrations the target has not reported (yet). */
  unreported: Minor;
  /** What the target reported beyond kontor's own registrations and credit notes. */
  extra: Minor;
  /** For a credit note: what the target credited on the invoice it credits, allocated to it. */
  creditApplied: Minor;
  /**
   * What is still open as far as both sides know: total − settled − the target's payments and
   * write-offs kontor did not register − its credits (+ for a credit note, the credit applied to it).
   */
  open: Minor;
  status: ReconcileStatus;
  /** A verification invoice (or its negative counterpart): the target reports nothing about it. */
  collected: boolean;
  /** The target reported the invoice paid (InvoiceActionPaid). */
  closedByTarget: boolean;
  /** Why the status is `mismatch` or `overpaid`. */
  problems: string[];
}

export interface ReconcileTotal {
  currency: string;
  documents: number;
  total: Minor;
  settled: Minor;
  received: Minor;
  credited: Minor;
  writtenOff: Minor;
  open: Minor;
}

export interface ReconcileTargetReport {
  target: string;
  type: string;
  /** Whether the target reports to kontor through webhooks (and webhooks are configured). */
  webhooks: boolean;
  rows: ReconcileRow[];
  totals: ReconcileTotal[];
  /** Outbox entries of this target not delivered (yet): state → count (skipped ones left out). */
  notDelivered: Record<string, number>;
  notes: string[];
}

export interface UnmatchedEvent {
  id: number;
  source: string;
  eventType: string;
  reference: string;
  invoicePublicId: string | null;
  amount: Minor;
  currency: string | null;
  occurredAt: string | null;
  receivedAt: string;
}

export interface ReconcileReport {
  targets: ReconcileTargetReport[];
  /** Targets left out, and why (journals). */
  skipped: { target: string; type: string; reason: string }[];
  unmatched: UnmatchedEvent[];
  summary: { documents: number; mismatch: number; overpaid: number; unmatched: number };
  /** No mismatch, no overpayment, no unmatched event: exit code 0. */
  ok: boolean;
}

/** What reconciliation needs to know of one target. */
export interface ReconcileTarget {
  name: string;
  type: string;
  /** The mapping's `target.paid_orders` (Billecta): `verification` books collected orders as verification invoices. */
  paidOrders?: 'invoice' | 'verification';
  /** Clearing accounts of the target's payment means (Billecta): a payment from one marks an order as collected. */
  clearingAccounts?: readonly string[];
}

export interface ReconcileOptions {
  /** Every configured target that may receive webhooks, for telling unmatched events apart; default `targets`. */
  allTargets?: readonly ReconcileTarget[];
  /** Targets left out, reported as such. */
  skipped?: ReconcileReport['skipped'];
  /** Whether kontor receives webhooks (the config's `webhooks:` block). Default true. */
  webhooksConfigured?: boolean;
  /** Writes amounts in problem texts (the command passes its money formatter); default minor units. */
  format?: (amount: Minor, currency: string) => string;
}

/**
 * The targets `kontor reconcile` covers: every non-journal target, or the one named. A journal
 * named explicitly is refused by the caller; here it lands in `skipped`. Billecta targets take
 * `paid_orders` from the mapping of the first source delivering to them, as delivery does.
 */
export function reconcileTargetsOf(config: Config, only?: string): { targets: ReconcileTarget[]; all: ReconcileTarget[]; skipped: ReconcileReport['skipped'] } {
  const describe = (t: ResolvedTarget): ReconcileTarget => {
    const c = t.config;
    if (c.type !== 'billecta') return { name: t.name, type: c.type };
    const source = config.sources.find((s) => s.targets.includes(t.name));
    const paidOrders = source ? loadMapping(source.mappingPath).spec.target.paid_orders : 'invoice';
    return { name: t.name, type: c.type, paidOrders, clearingAccounts: Object.keys(c.payment_means) };
  };
  const chosen = config.targets.filter((t) => !only || t.name === only);
  const skipped = chosen
    .filter((t) => t.config.type === 'journal')
    .map((t) => ({ target: t.name, type: t.config.type, reason: 'a journal is kontor\'s own book: see `kontor ledger items`' }));
  const all = config.targets.filter((t) => t.config.type !== 'journal').map(describe);
  return { targets: all.filter((t) => chosen.some((c) => c.name === t.name)), all, skipped };
}

interface DeliveredRow {
  entry: number;
  target: string;
  externalId: string | null;
  docKey: string;
  doc: SalesDocument | PaymentDocument;
}

/** Delivered sales and payment documents of these targets, oldest entry first. */
async function deliveredDocuments(db: Knex, targets: readonly string[]): Promise<DeliveredRow[]> {
  if (targets.length === 0) return [];
  const rows = (await db('outbox_entries as e')
    .join('documents as d', 'd.id', 'e.document_id')
    .whereIn('e.target', [...targets])
    .where('e.state', 'delivered')
    .whereIn('d.kind', ['invoice', 'credit-note', 'storno', 'payment'])
    .orderBy('e.id')
    .select('e.id', 'e.target', 'e.external_id', 'd.doc_key', 'd.body')) as { id: number | string; target: string; external_id: string | null; doc_key: string; body: string }[];
  return rows.map((r) => ({ entry: toInt(r.id), target: r.target, externalId: r.external_id, docKey: r.doc_key, doc: JSON.parse(r.body) as BookDocument as SalesDocument | PaymentDocument }));
}

const PAYMENT_EVENT: Record<string, 'received' | 'credited' | 'writtenOff'> = {
  InvoicePaymentReceived: 'received',
  AmountCreditedOnInvoice: 'credited',
  AmountWrittenOffOnInvoice: 'writtenOff',
};

/** The event a registration of this payment makes the target send. */
const expectedEvent = (p: PaymentDocument) => (p.purpose === 'payment' ? 'InvoicePaymentReceived' : 'AmountWrittenOffOnInvoice');

/** Whether `open` is on the other side of zero than `total`: more settled than owed. */
function beyond(total: Minor, open: Minor): boolean {
  if (open === 0) return false;
  return total === 0 || Math.sign(open) !== Math.sign(total);
}

/** Reconcile `targets` over the database: see the header. */
export async function reconcile(db: Knex, targets: readonly ReconcileTarget[], options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const format = options.format ?? ((amount: Minor, currency: string) => `${currency} ${amount} (minor units)`);
  const all = options.allTargets ?? targets;
  const webhooksConfigured = options.webhooksConfigured ?? true;
  const names = [...new Set([...all, ...targets].map((t) => t.name))];
  const delivered = await deliveredDocuments(db, names);
  const sources = [...new Set(targets.map((t) => WEBHOOK_SOURCE[t.type]).filter((s): s is string => s !== undefined))];
  const events: WebhookEventRow[] = [];
  for (const source of sources) events.push(...(await listWebhookEvents(db, { source })));
  const byInvoice = new Map<string, WebhookEventRow[]>();
  for (const e of events) {
    if (e.invoice_public_id === null) continue;
    const list = byInvoice.get(e.invoice_public_id) ?? [];
    list.push(e);
    byInvoice.set(e.invoice_public_id, list);
  }
  const states = await backlog(db);

  const reports: ReconcileTargetReport[] = [];
  for (const target of targets) {
    const source = WEBHOOK_SOURCE[target.type];
    const mine = delivered.filter((d) => d.target === target.name);
    const sales = mine.filter((d): d is DeliveredRow & { doc: SalesDocument } => d.doc.kind !== 'payment');
    const payments = mine.filter((d): d is DeliveredRow & { doc: PaymentDocument } => d.doc.kind === 'payment');
    const paymentsOn = (number: string) => payments.filter((p) => p.doc.appliesTo === number);
    const clearing = new Set(target.clearingAccounts ?? []);
    // As delivery decides (src/service/runtime.ts collectedOn): an invoice paid from a clearing account, and its credit notes.
    const collectedInvoice = (number: string) =>
      target.paidOrders === 'verification' && paymentsOn(number).some((p) => p.doc.purpose === 'payment' && p.doc.amount > 0 && clearing.has(p.doc.account));
    const isCollected = (doc: SalesDocument) => (doc.kind === 'credit-note' ? collectedInvoice(doc.credits) : doc.kind === 'invoice' && collectedInvoice(doc.number));

    // What the target credited on each invoice, allocated to kontor's credit notes on it, oldest first.
    const creditApplied = new Map<number, Minor>();
    const creditExplained = new Map<string, Minor>();
    if (source) {
      for (const invoice of sales.filter((s) => s.doc.kind === 'invoice')) {
        const credited = (byInvoice.get(invoice.externalId ?? '') ?? []).filter((e) => e.event_type === 'AmountCreditedOnInvoice' && e.amount_minor !== null && (e.currency === null || e.currency === invoice.doc.currency));
        let left = sum(credited.map((e) => minor(e.amount_minor!)));
        let explained = minor(0);
        const notes = sales
          .filter((s) => s.doc.kind === 'credit-note' && s.doc.credits === invoice.doc.number && !isCollected(s.doc))
          .sort((a, b) => a.doc.date.localeCompare(b.doc.date) || a.entry - b.entry);
        for (const note of notes) {
          const share = minor(Math.max(0, Math.min(left, -note.doc.total)));
          creditApplied.set(note.entry, share);
          explained = minor(explained + share);
          left = minor(left - share);
        }
        creditExplained.set(invoice.docKey, explained);
      }
    }

    const rows: ReconcileRow[] = [];
    for (const s of sales.sort((a, b) => a.doc.date.localeCompare(b.doc.date) || a.entry - b.entry)) {
      const doc = s.doc;
      const problems: string[] = [];
      const collected = isCollected(doc);
      const own = paymentsOn(doc.number);
      const settled = sum(own.map((p) => minor(p.doc.amount)));
      const reported = { received: minor(0), credited: minor(0), writtenOff: minor(0) };
      let closedByTarget = false;
      // Payment and write-off events of this document not (yet) paired with a registration of kontor's.
      const pool: WebhookEventRow[] = [];
      const rowEvents = source && s.externalId ? (byInvoice.get(s.externalId) ?? []) : [];
      for (const e of rowEvents) {
        if (e.event_type === 'InvoiceActionPaid') {
          closedByTarget = true;
          continue;
        }
        const slot = PAYMENT_EVENT[e.event_type];
        if (!slot) continue;
        if (e.amount_minor === null) {
          problems.push(`${e.event_type} #${e.id} (reference ${e.reference}) carries no amount kontor can read`);
          continue;
        }
        if (e.currency !== null && e.currency !== doc.currency) {
          problems.push(`${e.event_type} #${e.id} is in ${e.currency}, the document in ${doc.currency}: ${format(minor(e.amount_minor), e.currency)} not counted`);
          continue;
        }
        reported[slot] = minor(reported[slot] + e.amount_minor);
        if (slot !== 'credited') pool.push(e);
      }

      // Pair kontor's registrations with the target's reports: by reference, then by amount.
      let unreported = minor(0);
      if (source && !collected) {
        const take = (p: DeliveredRow & { doc: PaymentDocument }, match: (e: WebhookEventRow) => boolean): WebhookEventRow | undefined => {
          const i = pool.findIndex((e) => e.event_type === expectedEvent(p.doc) && match(e));
          return i < 0 ? undefined : pool.splice(i, 1)[0];
        };
        const left: (DeliveredRow & { doc: PaymentDocument })[] = [];
        for (const p of own) {
          const ext = p.externalId;
          const e = ext ? take(p, (x) => x.reference === ext || x.reference === `${x.event_type}:${ext}`) : undefined;
          if (!e) left.push(p);
          else if (e.amount_minor !== p.doc.amount) {
            problems.push(`kontor registered ${format(p.doc.amount, doc.currency)} (${p.docKey}); the target reported ${format(minor(e.amount_minor!), doc.currency)} for it (${e.event_type} ${e.reference})`);
          }
        }
        const unmatched: (DeliveredRow & { doc: PaymentDocument })[] = [];
        for (const p of left) if (!take(p, (x) => x.amount_minor === p.doc.amount)) unmatched.push(p);
        unreported = sum(unmatched.map((p) => minor(p.doc.amount)));
        for (const p of unmatched) {
          const other = pool.filter((e) => e.event_type === expectedEvent(p.doc));
          if (other.length > 0) {
            problems.push(
              `kontor registered ${format(p.doc.amount, doc.currency)} (${p.docKey}); the target reported ${other.map((e) => format(minor(e.amount_minor!), doc.currency)).join(', ')} instead (${other.map((e) => `${e.event_type} ${e.reference}`).join(', ')})`,
            );
          }
        }
      }
      const explained = creditExplained.get(s.docKey) ?? minor(0);
      const applied = doc.kind === 'credit-note' ? (creditApplied.get(s.entry) ?? minor(0)) : minor(0);
      const unpaired = sum(pool.map((e) => minor(e.amount_minor!)));
      const extra = sum([unpaired, sub(reported.credited, explained)]);
      // Every credit the target reports settles the invoice; a credit note is settled by the share applied to it
      // (positive, on a negative total) as by a negative payment.
      const open = sum([doc.total, neg(settled), neg(unpaired), neg(reported.credited), applied]);
      const over = beyond(doc.total, open);
      if (closedByTarget && open !== 0 && !over) problems.push(`the target reports the invoice paid (InvoiceActionPaid), kontor sees ${format(open, doc.currency)} open`);
      let status: ReconcileStatus;
      if (problems.length > 0) status = 'mismatch';
      else if (over) {
        status = 'overpaid';
        problems.push(`${format(neg(open), doc.currency)} more settled than its total ${format(doc.total, doc.currency)}`);
      } else if (settled === 0 && extra === 0 && applied === 0 && explained === 0) status = 'open';
      else if (open !== 0) status = 'partly-paid';
      else if (source && webhooksConfigured && !collected && unreported === 0 && extra === 0 && (settled !== 0 || explained !== 0 || applied !== 0)) status = 'paid-by-kontor-and-reported';
      else status = 'paid';
      rows.push({
        entry: s.entry,
        document: s.docKey,
        date: doc.date,
        kind: doc.kind,
        number: doc.number,
        orderNumber: doc.orderNumber,
        externalId: s.externalId,
        currency: doc.currency,
        total: minor(doc.total),
        settled,
        reported,
        unreported,
        extra,
        creditApplied: applied,
        open,
        status,
        collected,
        closedByTarget,
        problems,
      });
    }

    const totals = new Map<string, ReconcileTotal>();
    for (const r of rows) {
      const t = totals.get(r.currency) ?? { currency: r.currency, documents: 0, total: minor(0), settled: minor(0), received: minor(0), credited: minor(0), writtenOff: minor(0), open: minor(0) };
      totals.set(r.currency, {
        currency: r.currency,
        documents: t.documents + 1,
        total: minor(t.total + r.total),
        settled: minor(t.settled + r.settled),
        received: minor(t.received + r.reported.received),
        credited: minor(t.credited + r.reported.credited),
        writtenOff: minor(t.writtenOff + r.reported.writtenOff),
        open: minor(t.open + r.open),
      });
    }
    const notDelivered: Record<string, number> = {};
    for (const b of states) if (b.target === target.name && b.state !== 'delivered' && b.state !== 'skipped') notDelivered[b.state] = b.count;
    const notes: string[] = [];
    if (!source) notes.push(`${target.type} sends kontor no webhooks: only kontor's side is shown`);
    else if (!webhooksConfigured) notes.push('webhooks are not configured (config.yaml `webhooks:`): the target reports nothing, only kontor\'s side is shown');
    const waiting = Object.values(notDelivered).reduce((n, c) => n + c, 0);
    if (waiting > 0) {
      notes.push(`${waiting} outbox entr${waiting === 1 ? 'y' : 'ies'} not delivered (${Object.entries(notDelivered).map(([state, count]) => `${count} ${state}`).join(', ')}): not reconciled; see kontor outbox list --target ${target.name}`);
    }
    const unknown = events.filter((e) => source === e.source && !e.known).length;
    if (unknown > 0) notes.push(`${unknown} webhook event(s) of types kontor does not know are not reconciled; see kontor status`);
    reports.push({ target: target.name, type: target.type, webhooks: source !== undefined && webhooksConfigured, rows, totals: [...totals.values()], notDelivered, notes });
  }

  // Events with an amount whose invoice id is no delivered sales document of any target of their source.
  const known = new Set<string>();
  for (const d of delivered) {
    const t = all.find((x) => x.name === d.target) ?? targets.find((x) => x.name === d.target);
    if (t && WEBHOOK_SOURCE[t.type] && d.doc.kind !== 'payment' && d.externalId) known.add(d.externalId);
  }
  const unmatched: UnmatchedEvent[] = events
    .filter((e) => e.amount_minor !== null && (e.invoice_public_id === null || !known.has(e.invoice_public_id)))
    .map((e) => ({
      id: e.id,
      source: e.source,
      eventType: e.event_type,
      reference: e.reference,
      invoicePublicId: e.invoice_public_id,
      amount: minor(e.amount_minor!),
      currency: e.currency,
      occurredAt: e.occurred_at,
      receivedAt: e.received_at,
    }));

  const rows = reports.flatMap((r) => r.rows);
  const summary = {
    documents: rows.length,
    mismatch: rows.filter((r) => r.status === 'mismatch').length,
    overpaid: rows.filter((r) => r.status === 'overpaid').length,
    unmatched: unmatched.length,
  };
  return { targets: reports, skipped: options.skipped ?? [], unmatched, summary, ok: summary.mismatch + summary.overpaid + summary.unmatched === 0 };
}
