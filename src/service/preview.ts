/**
 * `kontor preview`: one order through parse and mapping, without a database and without
 * sending anything. The JSON form is a stable contract (docs/cli.md#kontor-preview):
 * integrators and their tests read it.
 */
import {
  BooksError,
  currencyExponent,
  formatDecimal,
  formatDocumentKey,
  formatRate,
  numberOf,
  postingsOf,
  type BookDocument,
  type PostingRole,
} from '../books/index.js';
import type { ResolvedTarget } from '../config/load.js';
import { RecordError } from '../errors.js';
import { historyOf, mapOrder } from '../mapping/map-order.js';
import type { Mapping } from '../mapping/load.js';
import type { SourceAdapter, SourceRecord } from '../sources/types.js';
import { billectaRequestsFor } from '../targets/billecta/requests.js';
import { journalEntryOf } from '../targets/journal.js';
import { rmaRequestsFor, RmaPayloadError } from '../targets/runmyaccounts/requests.js';
import { rmaRequestOptions } from './runtime.js';

export type PreviewKind = 'customer' | 'invoice' | 'deposit_invoice' | 'final_invoice' | 'credit_note' | 'storno' | 'payment';

export interface PreviewPosting {
  account: string;
  role: PostingRole;
  /** Signed minor units: debit positive, credit negative. */
  amount_minor: number;
  /** The VAT rate in percent as written in the mapping ("8.1"), or null. */
  vat_rate: string | null;
}

export interface PreviewDocument {
  kind: PreviewKind;
  key: string;
  number: string;
  date: string | null;
  currency: string | null;
  /** The document's gross: an invoice's total, a payment's amount; 0 for a customer. */
  gross_minor: number;
  postings: PreviewPosting[];
}

export interface PreviewResult {
  order: { source: string; id: string; number: string; currency: string; total_minor: number } | null;
  documents: PreviewDocument[];
  /** Per configured target: exactly what it would be sent. */
  payloads: Record<string, unknown[]>;
  warnings: string[];
  /** Why the order is rejected; empty when it is not. */
  errors: { field: string | null; message: string }[];
}

function previewKind(doc: BookDocument): PreviewKind {
  switch (doc.kind) {
    case 'invoice':
      return doc.purpose === 'deposit' ? 'deposit_invoice' : doc.purpose === 'final' ? 'final_invoice' : 'invoice';
    case 'credit-note':
      return 'credit_note';
    default:
      return doc.kind;
  }
}

export function previewDocument(doc: BookDocument): PreviewDocument {
  return {
    kind: previewKind(doc),
    key: formatDocumentKey(doc.key),
    number: numberOf(doc),
    date: doc.kind === 'customer' ? null : doc.date,
    currency: doc.kind === 'customer' ? null : doc.currency,
    gross_minor: doc.kind === 'customer' ? 0 : doc.kind === 'payment' ? doc.amount : doc.total,
    postings: postingsOf(doc).map((p) => ({ account: p.account, role: p.role, amount_minor: p.amount, vat_rate: p.vatRate === undefined ? null : formatRate(p.vatRate) })),
  };
}

/**
 * What each target would be sent for `docs`, request by request. The Run my Accounts and
 * Billecta bodies are built by the same functions their adapters send (requests.ts of each target);
 * a document a target would refuse (a field over its length, a storno for Billecta) is an error.
 */
function payloadsFor(targets: readonly ResolvedTarget[], docs: readonly BookDocument[], mapping: Mapping, result: PreviewResult): Record<string, unknown[]> {
  const payloads: Record<string, unknown[]> = {};
  for (const target of targets) {
    const requests: unknown[] = [];
    payloads[target.name] = requests;
    try {
      switch (target.config.type) {
        case 'journal':
          requests.push(...docs.map((doc) => journalEntryOf(target.name, doc)));
          break;
        case 'runmyaccounts': {
          // Exactly the options the target delivers with.
          const options = rmaRequestOptions(target.config);
          requests.push(...docs.flatMap((doc) => rmaRequestsFor(doc, options)));
          break;
        }
        case 'billecta': {
          const options = billectaOptions(target.config, docs, mapping);
          requests.push(...docs.flatMap((doc) => billectaRequestsFor(doc, options)));
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof RmaPayloadError || error instanceof BooksError)) throw error;
      result.errors.push({ field: `${target.name}: ${error.field ?? ''}`, message: `target ${target.name} (${target.config.type}) would refuse this: ${error.message}` });
    }
  }
  return payloads;
}

/**
 * Billecta's options as far as the mapping tells them: which invoices a provider collected
 * (and on which clearing account), and a PaymentMeanCode per clearing account: the target's
 * `payment_means` where configured, else (*inferred*) the gateway's id in upper case
 * (`shopify_payments` → `SHOPIFY_PAYMENTS`). The delivery method is the target's.
 */
function billectaOptions(config: Extract<ResolvedTarget['config'], { type: 'billecta' }>, docs: readonly BookDocument[], mapping: Mapping) {
  const { clearing } = mapping.spec.payments;
  const clearingAccounts = new Set(Object.values(clearing));
  const collected = new Map<string, string>();
  for (const doc of docs) {
    if (doc.kind === 'payment' && doc.purpose === 'payment' && doc.amount > 0 && clearingAccounts.has(doc.account)) collected.set(doc.appliesTo, doc.account);
  }
  // The credit note of a collected invoice is a negative verification invoice: its refund paid back sends nothing.
  for (const doc of docs) {
    const account = doc.kind === 'credit-note' ? collected.get(doc.credits) : undefined;
    if (doc.kind === 'credit-note' && account && mapping.spec.target.paid_orders === 'verification') collected.set(doc.number, account);
  }
  const paymentMeanCodes: Record<string, string> = { ...config.payment_means };
  for (const [gateway, account] of Object.entries(clearing)) paymentMeanCodes[account] ??= gateway.toUpperCase();
  return { creditorPublicId: config.creditor_public_id, deliveryMethod: config.delivery_method, paidOrders: mapping.spec.target.paid_orders, collected, paymentMeanCodes, roundingAccount: mapping.spec.rounding.account };
}

/**
 * Map the last of `records` as it would be booked after the ones before it (deposits before
 * their final settlement, an order before its cancellation). A cancelled order given alone
 * is previewed as if its invoice had been booked: both are shown, with a warning.
 */
export async function previewRecords(
  source: { name: string; adapter: SourceAdapter; mapping: Mapping },
  records: readonly SourceRecord[],
  targets: readonly ResolvedTarget[],
): Promise<PreviewResult> {
  const result: PreviewResult = { order: null, documents: [], payloads: {}, warnings: [], errors: [] };
  const booked: BookDocument[] = [];
  try {
    const orders = records.map((r) => source.adapter.parse(r));
    const order = orders[orders.length - 1]!;
    result.order = { source: source.name, id: order.id, number: order.number, currency: order.currency, total_minor: order.total };
    for (const earlier of orders.slice(0, -1)) {
      const outcome = await mapOrder(earlier, source.mapping, historyOf(booked, earlier.source));
      if (outcome.kind === 'documents') booked.push(...outcome.documents);
      else result.warnings.push(`order ${earlier.id} (given before): skipped: ${outcome.reason}`);
    }
    const shown: BookDocument[] = [];
    const { spec } = source.mapping;
    const cancels = spec.cancellations?.statuses.includes(order.status) ?? false;
    if (cancels && !booked.some((d) => d.kind === 'invoice' && d.key.subject === order.id)) {
      const assumed = await mapOrder({ ...order, status: spec.select.statuses[0]! }, source.mapping, historyOf(booked, order.source));
      if (assumed.kind === 'documents') {
        booked.push(...assumed.documents);
        shown.push(...assumed.documents);
        result.warnings.push(`order ${order.id} is ${order.status}; previewed as if it had been booked (status ${spec.select.statuses[0]}) and then cancelled`);
      }
    }
    const outcome = await mapOrder(order, source.mapping, historyOf(booked, order.source));
    if (outcome.kind === 'skipped') {
      result.warnings.push(`skipped: ${outcome.reason}`);
      result.payloads = payloadsFor(targets, [], source.mapping, result);
      return result;
    }
    shown.push(...outcome.documents);
    result.documents = shown.map(previewDocument);
    result.warnings.push(...outcome.notes);
    const exp = currencyExponent(order.currency);
    for (const doc of shown) {
      if (doc.kind === 'customer' || doc.kind === 'payment') continue;
      for (const r of doc.rounding) {
        result.warnings.push(`${doc.kind} ${doc.number}: ${r.reason === 'cash' ? 'cash rounding' : 'rounding residue'} of ${order.currency} ${formatDecimal(r.amount, exp)} on ${r.account}`);
      }
    }
    result.payloads = payloadsFor(targets, shown, source.mapping, result);
  } catch (error) {
    if (!(error instanceof RecordError || error instanceof BooksError)) throw error;
    result.errors.push({ field: error.field ?? null, message: error instanceof RecordError ? error.reason : error.message });
  }
  return result;
}
