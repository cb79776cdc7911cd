/**
 * The bookkeeping documents kontor produces, and the postings they expand to.
 *
 * This file is the one place that says what a document is. Documents are built only by the
 * `build*` functions of this folder (customer.ts, invoice.ts, credit.ts, payment.ts), which
 * check every invariant before returning: a document that exists is balanced.
 *
 * Sign convention: posting amounts are debit positive, credit negative. Amounts on a
 * document are signed as booked: an invoice's lines are positive income, a discount line is
 * negative, a credit note's lines are negative.
 *
 * Use cases of the Run my Accounts API introduction (seed 003) and where they live:
 * A1/A5 invoice (booking/article variant), A2/A6 discount line, A3/A7 deposit invoice,
 * A4/A8 final settlement, B1/B2 credit note, C2/C3 storno, D1–D5 payments, E1/E2 customer.
 */
import { UnbalancedDocumentError } from './errors.js';
import { neg, sum, type Minor } from './money.js';
import type { VatRate } from './vat.js';

export type DocumentKind = 'customer' | 'invoice' | 'credit-note' | 'storno' | 'payment';

/** Stable identity of a document: the same order content always yields the same key. */
export interface DocumentKey {
  source: string;
  /** The order id, or for a customer document the customer number. */
  subject: string;
  kind: DocumentKind;
  /** Tells apart several documents of one kind for one order (`deposit-1`, `skonto`). */
  part?: string;
  revision: number;
}

/** `source/subject/kind[:part]/revision` */
export function formatDocumentKey(key: DocumentKey): string {
  return `${key.source}/${key.subject}/${key.kind}${key.part ? `:${key.part}` : ''}/${key.revision}`;
}

/**
 * What a posting is for, independent of account numbers: the preview contract and reports
 * group by it. Skonto and price reductions are `discount`; bank and PSP fees are `fee`.
 */
export type PostingRole = 'receivable' | 'revenue' | 'vat' | 'discount' | 'deposit' | 'rounding' | 'clearing' | 'transfer' | 'fee';

export interface Posting {
  account: string;
  role: PostingRole;
  amount: Minor;
  text: string;
  vatRate?: VatRate;
  vatCode?: string;
}

// ── customers (E1 create, E2 update: a changed customer is a new revision) ───────────────

export interface Address {
  street?: string;
  street2?: string;
  zipcode?: string;
  city?: string;
  country?: string;
}

export interface CustomerDocument {
  kind: 'customer';
  key: DocumentKey;
  number: string;
  type: 'person' | 'company';
  name: string;
  company?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  phone?: string;
  vatId?: string;
  language?: string;
  address: Address;
}

// ── sales documents: invoices, credit notes, stornos ─────────────────────────────────────

/** How a line is taxed: the rate, the code the target knows it by, and the VAT account. */
export interface VatTreatment {
  rate: VatRate;
  code: string;
  /** The output-VAT account; empty only for a 0 % rate. */
  account: string;
}

/** An article of the article variant (A5–A8): its account and VAT are fixed by the article. */
export interface Article {
  number: string;
  account: string;
  vat: VatTreatment;
  /** What lines of this article are: a discount article (A6) or a deposit article (A7/A8). */
  role?: 'revenue' | 'shipping' | 'fee' | 'discount' | 'deposit';
  unit?: string;
}

/** A part line of the article variant: quantity × unit price, in the document's price mode. */
export interface PartRef {
  number: string;
  quantity: number;
  unitPrice: Minor;
  unit?: string;
}

export type LineRole = 'revenue' | 'shipping' | 'fee' | 'discount' | 'deposit' | 'deposit-deduction';

export interface DocumentLine {
  role: LineRole;
  account: string;
  /** Net amount, signed as booked. */
  amount: Minor;
  text: string;
  vat: VatTreatment;
  /** Present in the article variant. */
  part?: PartRef;
  /** For a deposit deduction (A4/A8): the number of the deposit invoice drawn down. */
  deposit?: string;
}

export interface TaxLine {
  account: string;
  rate: VatRate;
  code: string;
  /** The net amount the VAT is on. */
  base: Minor;
  amount: Minor;
}

/**
 * A rounding line. `residue`: the difference between our lines and the source's total
 * (capped). `cash`: rounding the total to a cash step such as CHF 0.05.
 */
export interface RoundingLine {
  account: string;
  amount: Minor;
  text: string;
  reason: 'residue' | 'cash';
}

export type Variant = 'booking' | 'article';

/** What every sales document states about itself, and what a builder is given for it. */
export interface SalesHeader {
  key: DocumentKey;
  number: string;
  orderNumber: string;
  customerNumber: string;
  currency: string;
  /** YYYY-MM-DD, the calendar date in the shop's time zone. */
  date: string;
  dueDate: string;
  description: string;
  receivableAccount: string;
}

interface SalesDocumentBase extends SalesHeader {
  variant: Variant;
  /** The article variant's prices (`PartRef.unitPrice`) include VAT. */
  pricesIncludeVat: boolean;
  lines: DocumentLine[];
  tax: TaxLine[];
  rounding: RoundingLine[];
  /** Gross receivable: Σ lines + Σ tax + Σ rounding. Negative for credit notes and stornos. */
  total: Minor;
}

/** `standard` (A1/A5), `deposit` on a liability account (A3/A7), `final` settlement (A4/A8). */
export type InvoicePurpose = 'standard' | 'deposit' | 'final';

export interface InvoiceDocument extends SalesDocumentBase {
  kind: 'invoice';
  purpose: InvoicePurpose;
}

/** B1/B2: negative amounts that may differ from the invoice's, never more than it. */
export interface CreditNoteDocument extends SalesDocumentBase {
  kind: 'credit-note';
  /** The number of the invoice credited. */
  credits: string;
}

/** C2/C3: the exact mirror of an invoice with its date, netted through the transfer account. */
export interface StornoDocument extends SalesDocumentBase {
  kind: 'storno';
  /** The number of the invoice reversed. */
  reverses: string;
  /** The storno and its two transfer payments are delivered as one group. */
  group: string;
}

export type SalesDocument = InvoiceDocument | CreditNoteDocument | StornoDocument;

// ── payments (D1–D5) ─────────────────────────────────────────────────────────────────────

/**
 * What a payment entry is: money received (D1), a written-off difference (D2), bank or PSP
 * fees (D3), skonto (D4), or transfer-account netting (C2/C3, D5).
 */
export type PaymentPurpose = 'payment' | 'price-reduction' | 'bank-fee' | 'skonto' | 'transfer';

/** One payment on one sales document: one `POST …/payments` at Run my Accounts. */
export interface PaymentDocument {
  kind: 'payment';
  key: DocumentKey;
  purpose: PaymentPurpose;
  /** The number of the invoice, credit note or storno this payment settles. */
  appliesTo: string;
  currency: string;
  date: string;
  receivableAccount: string;
  /** The clearing, transfer or write-off account debited; never a bank account. */
  account: string;
  /** Signed like the document's open amount: negative pays out on a credit note. */
  amount: Minor;
  /** The PSP's transaction id or another reference. */
  reference: string;
  memo: string;
  /** Set for the payments of a storno or netting group. */
  group?: string;
}

export type BookDocument = CustomerDocument | SalesDocument | PaymentDocument;

export function isSalesDocument(doc: BookDocument): doc is SalesDocument {
  return doc.kind === 'invoice' || doc.kind === 'credit-note' || doc.kind === 'storno';
}

/** The currency a document books in; customers book nothing. */
export function currencyOf(doc: BookDocument): string | null {
  return doc.kind === 'customer' ? null : doc.currency;
}

/** The number a target knows a document by. */
export function numberOf(doc: BookDocument): string {
  return doc.kind === 'payment' ? `${doc.appliesTo}/${doc.key.part ?? doc.purpose}` : doc.number;
}

const LINE_ROLE: Record<LineRole, PostingRole> = {
  revenue: 'revenue',
  shipping: 'revenue',
  fee: 'revenue',
  discount: 'discount',
  deposit: 'deposit',
  'deposit-deduction': 'deposit',
};

const PAYMENT_ROLE: Record<PaymentPurpose, PostingRole> = {
  payment: 'clearing',
  transfer: 'transfer',
  'bank-fee': 'fee',
  skonto: 'discount',
  'price-reduction': 'discount',
};

const SALES_TEXT: Record<SalesDocument['kind'], string> = { invoice: 'Invoice', 'credit-note': 'Credit note', storno: 'Storno' };

/** The double-entry postings of a document. Customers book nothing. */
export function postingsOf(doc: BookDocument): Posting[] {
  if (doc.kind === 'customer') return [];
  if (doc.kind === 'payment') {
    const text = `${doc.purpose} ${doc.appliesTo}${doc.reference ? ` ref ${doc.reference}` : ''}`;
    return [
      { account: doc.account, role: PAYMENT_ROLE[doc.purpose], amount: doc.amount, text },
      { account: doc.receivableAccount, role: 'receivable', amount: neg(doc.amount), text },
    ];
  }
  const postings: Posting[] = [{ account: doc.receivableAccount, role: 'receivable', amount: doc.total, text: `${SALES_TEXT[doc.kind]} ${doc.number}` }];
  for (const line of doc.lines) {
    postings.push({ account: line.account, role: LINE_ROLE[line.role], amount: neg(line.amount), text: line.text, vatRate: line.vat.rate, vatCode: line.vat.code });
  }
  for (const t of doc.tax) {
    postings.push({ account: t.account, role: 'vat', amount: neg(t.amount), text: 'VAT', vatRate: t.rate, vatCode: t.code });
  }
  for (const r of doc.rounding) {
    if (r.amount !== 0) postings.push({ account: r.account, role: 'rounding', amount: neg(r.amount), text: r.text });
  }
  return postings;
}

/** Throws unless the postings sum to exactly zero. Documents are single-currency. */
export function assertBalanced(key: DocumentKey, currency: string, postings: readonly Posting[]): void {
  const total = sum(postings.map((p) => p.amount));
  if (total !== 0) throw new UnbalancedDocumentError(formatDocumentKey(key), { [currency]: total });
}

/** Σ postings per currency over several documents (zero everywhere for balanced books). */
export function balanceByCurrency(docs: readonly BookDocument[], account?: string): Record<string, Minor> {
  const totals: Record<string, Minor> = {};
  for (const doc of docs) {
    const currency = currencyOf(doc);
    if (!currency) continue;
    for (const p of postingsOf(doc)) {
      if (account !== undefined && p.account !== account) continue;
      totals[currency] = sum([totals[currency] ?? (0 as Minor), p.amount]);
    }
  }
  return totals;
}

/** A real calendar date written YYYY-MM-DD (2026-02-30 is not one). */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}
