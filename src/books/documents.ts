/**
 * Bookkeeping documents and the postings they expand to.
 *
 * A document is built only through the `build*` functions here, which check every
 * invariant before returning; a document that exists is balanced.
 * Sign convention for postings: debit positive, credit negative.
 */
import { currencyExponent } from './currency.js';
import { BooksError, UnbalancedDocumentError } from './errors.js';
import { minor, neg, sum, type Minor } from './money.js';
import type { VatRate } from './vat.js';

export type DocumentKind = 'customer' | 'invoice';

/** Stable identity of a document: the same order content always yields the same key. */
export interface DocumentKey {
  source: string;
  /** The order id, or for a customer document the customer number. */
  subject: string;
  kind: DocumentKind;
  revision: number;
}

export function formatDocumentKey(key: DocumentKey): string {
  return `${key.source}/${key.subject}/${key.kind}/${key.revision}`;
}

export interface Posting {
  account: string;
  amount: Minor;
  text: string;
  vatRate?: VatRate;
  vatCode?: string;
}

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

export interface IncomeEntry {
  account: string;
  /** Net amount; negative for a discount or a deposit deduction. */
  amount: Minor;
  text: string;
  vatRate: VatRate;
  vatCode?: string;
}

export interface TaxEntry {
  account: string;
  amount: Minor;
  vatRate: VatRate;
  vatCode?: string;
}

export interface RoundingEntry {
  account: string;
  amount: Minor;
  text: string;
}

/** Invoice in the booking variant (RMA A1/A2): income entries and VAT entries on accounts. */
export interface InvoiceDocument {
  kind: 'invoice';
  key: DocumentKey;
  number: string;
  orderNumber: string;
  customerNumber: string;
  currency: string;
  date: string; // YYYY-MM-DD, the shop's local calendar date
  dueDate: string;
  description: string;
  receivableAccount: string;
  income: IncomeEntry[];
  tax: TaxEntry[];
  rounding?: RoundingEntry;
  /** Gross amount receivable: Σ income + Σ tax + rounding. */
  total: Minor;
}

export type BookDocument = CustomerDocument | InvoiceDocument;

export function postingsOf(doc: BookDocument): Posting[] {
  if (doc.kind === 'customer') return [];
  const postings: Posting[] = [
    { account: doc.receivableAccount, amount: doc.total, text: `Invoice ${doc.number}` },
  ];
  for (const e of doc.income) {
    postings.push({ account: e.account, amount: neg(e.amount), text: e.text, vatRate: e.vatRate, ...(e.vatCode ? { vatCode: e.vatCode } : {}) });
  }
  for (const t of doc.tax) {
    postings.push({ account: t.account, amount: neg(t.amount), text: `VAT`, vatRate: t.vatRate, ...(t.vatCode ? { vatCode: t.vatCode } : {}) });
  }
  if (doc.rounding && doc.rounding.amount !== 0) {
    postings.push({ account: doc.rounding.account, amount: neg(doc.rounding.amount), text: doc.rounding.text });
  }
  return postings;
}

/** Throws unless the postings sum to exactly zero. Documents are single-currency. */
export function assertBalanced(key: DocumentKey, currency: string, postings: readonly Posting[]): void {
  const total = sum(postings.map((p) => p.amount));
  if (total !== 0) throw new UnbalancedDocumentError(formatDocumentKey(key), { [currency]: total });
}

/** A real calendar date written YYYY-MM-DD (2026-02-30 is not one). */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

function requireText(value: string, field: string, key: DocumentKey): void {
  if (value.trim() === '') throw new BooksError(`${formatDocumentKey(key)}: ${field} must not be empty`);
}

export function buildCustomer(input: Omit<CustomerDocument, 'kind'>): CustomerDocument {
  requireText(input.number, 'customer number', input.key);
  requireText(input.name, 'customer name', input.key);
  return { kind: 'customer', ...input };
}

export type InvoiceInput = Omit<InvoiceDocument, 'kind' | 'total'>;

export function buildInvoice(input: InvoiceInput): InvoiceDocument {
  const { key } = input;
  currencyExponent(input.currency);
  requireText(input.number, 'invoice number', key);
  requireText(input.customerNumber, 'customer number', key);
  for (const [field, value] of [['date', input.date], ['due date', input.dueDate]] as const) {
    if (!isCalendarDate(value)) throw new BooksError(`${formatDocumentKey(key)}: ${field} "${value}" is not a calendar date (YYYY-MM-DD)`);
  }
  if (input.dueDate < input.date) throw new BooksError(`${formatDocumentKey(key)}: due date is before the invoice date`);
  if (input.income.length === 0) throw new BooksError(`${formatDocumentKey(key)}: an invoice needs at least one income entry`);
  requireText(input.receivableAccount, 'receivable account', key);
  for (const entry of [...input.income, ...input.tax]) requireText(entry.account, 'account', key);
  if (input.rounding && input.rounding.amount !== 0) requireText(input.rounding.account, 'rounding account', key);
  const total = sum([
    ...input.income.map((e) => e.amount),
    ...input.tax.map((t) => t.amount),
    input.rounding?.amount ?? minor(0),
  ]);
  const doc: InvoiceDocument = { kind: 'invoice', ...input, total };
  assertBalanced(key, doc.currency, postingsOf(doc));
  return doc;
}
