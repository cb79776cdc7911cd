/**
 * Builders of the Run my Accounts use-case documents shared by the books tests and the target
 * payload tests: RMA's examples date from the 8 % standard rate (2201) and use these articles.
 */
import { parseDecimal, vatRate, type Article, type DocumentKey, type DocumentKind, type LineInput, type Minor, type SalesInput, type VatTreatment } from '../src/books/index.js';

export const chf = (text: string): Minor => parseDecimal(text, 2);

/** Standard rate of the examples' time: 8 % on output-VAT account 2201. */
export const V8: VatTreatment = { rate: vatRate('8'), code: 'UN80', account: '2201' };
/** Reduced rate of the same time, for the per-rate credit limit. */
export const V25: VatTreatment = { rate: vatRate('2.5'), code: 'UR25', account: '2203' };

export const ARTICLES: readonly Article[] = [
  { number: 'BERATUNG', account: '3400', vat: V8, role: 'revenue', unit: 'h' },
  { number: 'PROJEKT', account: '3600', vat: V8 },
  { number: 'RABATT', account: '3400', vat: V8, role: 'discount' },
  { number: 'AKONTO', account: '2030', vat: V8, role: 'deposit' },
];

export function key(kind: DocumentKind, subject: string, part?: string): DocumentKey {
  return { source: 'shop', subject, kind, ...(part ? { part } : {}), revision: 1 };
}

/** Payment keys of one subject, by part. */
export const payKeys =
  (subject: string) =>
  (part: string): DocumentKey =>
    key('payment', subject, part);

/** A booking-variant line on `account` at 8 %. */
export const income = (amount: string, account = '3400', text = 'Dienstleistung'): LineInput => ({ text, account, vat: V8, amount: chf(amount) });

/** An article-variant line: quantity × unit price of an article in ARTICLES. */
export const part = (number: string, quantity: number, unitPrice: string): LineInput => ({ text: number, part: { number, quantity, unitPrice: chf(unitPrice) } });

/** A sales document input of order `number`, dated in 2017 (8 % standard rate). */
export function sales(number: string, lines: LineInput[], overrides: Partial<SalesInput> = {}): SalesInput {
  return {
    key: key('invoice', number),
    number,
    orderNumber: number,
    customerNumber: 'C-17',
    currency: 'CHF',
    date: '2017-03-15',
    dueDate: '2017-04-14',
    description: `Order ${number}`,
    receivableAccount: '1100',
    vat: { basis: 'net', rounding: 'per-line' },
    lines,
    ...overrides,
  };
}

export const articleSales = (number: string, lines: LineInput[], overrides: Partial<SalesInput> = {}): SalesInput =>
  sales(number, lines, { variant: 'article', articles: ARTICLES, ...overrides });
