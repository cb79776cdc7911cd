import { describe, expect, it } from 'vitest';
import {
  assertBalanced,
  buildCustomer,
  buildInvoice,
  formatDocumentKey,
  postingsOf,
  type DocumentKey,
  type IncomeEntry,
  type InvoiceInput,
  type Posting,
  type TaxEntry,
} from '../src/books/documents.js';
import { BooksError, UnbalancedDocumentError } from '../src/books/errors.js';
import { minor, parseDecimal, sum, vatFromNet, type Minor } from '../src/books/index.js';
import { vatRate } from '../src/books/vat.js';
import { intIn, lcg } from './random.js';

const chf = (text: string): Minor => parseDecimal(text, 2);

const invoiceKey: DocumentKey = { source: 'shop', subject: '1001', kind: 'invoice', revision: 1 };
const customerKey: DocumentKey = { source: 'shop', subject: 'C-17', kind: 'customer', revision: 1 };

const RATE_STANDARD = vatRate('8.1');
const RATE_REDUCED = vatRate('2.6');

function income(amount: string, rate = RATE_STANDARD, account = '3200', text = 'Goods'): IncomeEntry {
  return { account, amount: chf(amount), text, vatRate: rate };
}

function tax(amount: string, rate = RATE_STANDARD, account = '2200'): TaxEntry {
  return { account, amount: chf(amount), vatRate: rate };
}

/** Order 1001 of the examples: 89.00 at 8.1 %, 39.80 at 2.6 %, 9.00 shipping at 8.1 %. */
function invoiceInput(overrides: Partial<InvoiceInput> = {}): InvoiceInput {
  return {
    key: invoiceKey,
    number: 'R-1001',
    orderNumber: '1001',
    customerNumber: 'C-17',
    currency: 'CHF',
    date: '2026-10-12',
    dueDate: '2026-11-11',
    description: 'Order 1001',
    receivableAccount: '1100',
    income: [income('89.00'), income('39.80', RATE_REDUCED, '3210', 'Food'), income('9.00', RATE_STANDARD, '3400', 'Shipping')],
    tax: [tax('7.94'), tax('1.03', RATE_REDUCED, '2201')],
    ...overrides,
  };
}

function postingSum(postings: readonly Posting[]): number {
  return postings.reduce((total, p) => total + p.amount, 0);
}

describe('formatDocumentKey', () => {
  it('formats as source/subject/kind/revision', () => {
    expect(formatDocumentKey(invoiceKey)).toBe('shop/1001/invoice/1');
    expect(formatDocumentKey({ source: 'woo-ch', subject: '58', kind: 'customer', revision: 3 })).toBe('woo-ch/58/customer/3');
  });

  it('gives different keys to different revisions of the same subject', () => {
    expect(formatDocumentKey({ ...invoiceKey, revision: 2 })).not.toBe(formatDocumentKey(invoiceKey));
  });
});

describe('buildInvoice', () => {
  it('computes total = Σ income + Σ tax', () => {
    const doc = buildInvoice(invoiceInput());
    expect(doc.kind).toBe('invoice');
    // 89.00 + 39.80 + 9.00 + 7.94 + 1.03 = 146.77, the order's total.
    expect(doc.total).toBe(chf('146.77'));
  });

  it('keeps the input fields and entries as given', () => {
    const input = invoiceInput();
    const doc = buildInvoice(input);
    expect(doc.number).toBe('R-1001');
    expect(doc.currency).toBe('CHF');
    expect(doc.income).toEqual(input.income);
    expect(doc.tax).toEqual(input.tax);
    expect(doc.key).toEqual(invoiceKey);
  });

  it('includes a rounding entry in the total', () => {
    // 146.77 rounded to 5 Rappen is 146.75: a rounding entry of -0.02.
    const doc = buildInvoice(invoiceInput({ rounding: { account: '6960', amount: chf('-0.02'), text: 'Rappenrundung' } }));
    expect(doc.total).toBe(chf('146.75'));
  });

  it('handles discount lines (negative income) and their negative VAT', () => {
    const doc = buildInvoice(
      invoiceInput({
        income: [income('100.00'), income('-10.00', RATE_STANDARD, '3800', 'Coupon herbst10')],
        tax: [tax('7.29')],
      }),
    );
    expect(doc.total).toBe(chf('97.29'));
    const postings = postingsOf(doc);
    expect(postings.find((p) => p.text === 'Coupon herbst10')!.amount).toBe(chf('10.00'));
    expect(postingSum(postings)).toBe(0);
  });

  it('allows a zero or negative total (a fully discounted or credit invoice)', () => {
    const free = buildInvoice(invoiceInput({ income: [income('10.00'), income('-10.00')], tax: [] }));
    expect(free.total).toBe(0);
    const credit = buildInvoice(invoiceInput({ income: [income('-50.00')], tax: [tax('-4.05')] }));
    expect(credit.total).toBe(chf('-54.05'));
    expect(postingsOf(credit)[0]!.amount).toBe(chf('-54.05'));
  });

  it('ignores a total smuggled into the input and computes its own', () => {
    const input = { ...invoiceInput(), total: chf('999.99') } as InvoiceInput;
    expect(buildInvoice(input).total).toBe(chf('146.77'));
  });

  it('accepts a due date equal to the invoice date', () => {
    expect(buildInvoice(invoiceInput({ dueDate: '2026-10-12' })).dueDate).toBe('2026-10-12');
  });

  it('accepts an invoice without VAT entries', () => {
    expect(buildInvoice(invoiceInput({ tax: [] })).total).toBe(chf('137.80'));
  });

  it('rejects an empty or blank invoice number', () => {
    expect(() => buildInvoice(invoiceInput({ number: '' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ number: '   ' }))).toThrow('shop/1001/invoice/1: invoice number must not be empty');
  });

  it('rejects an empty customer number', () => {
    expect(() => buildInvoice(invoiceInput({ customerNumber: ' ' }))).toThrow('customer number must not be empty');
  });

  it.each(['12.10.2026', '2026-10-1', '2026/10/12', '20261012', '2026-10-12T09:14:37Z', ''])('rejects the date %j', (date) => {
    expect(() => buildInvoice(invoiceInput({ date, dueDate: '2026-12-31' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ date, dueDate: '2026-12-31' }))).toThrow(`date "${date}" is not a calendar date (YYYY-MM-DD)`);
  });

  it('rejects a malformed due date', () => {
    expect(() => buildInvoice(invoiceInput({ dueDate: '11.11.2026' }))).toThrow('due date "11.11.2026" is not a calendar date (YYYY-MM-DD)');
  });

  // GAP (src/books/documents.ts): dates are checked only against /^\d{4}-\d{2}-\d{2}$/, so
  // impossible calendar dates such as "2026-13-45" or "2026-02-30" pass and would be sent to
  // the accounting target as the invoice date. Fix: also check that the date round-trips
  // through Date.UTC (month 1–12, day within the month).
  it('rejects an impossible invoice date (2026-02-30)', () => {
    expect(() => buildInvoice(invoiceInput({ date: '2026-02-30', dueDate: '2026-12-31' }))).toThrow(BooksError);
  });

  it('rejects an impossible due date (2026-13-45)', () => {
    expect(() => buildInvoice(invoiceInput({ date: '2026-10-12', dueDate: '2026-13-45' }))).toThrow(BooksError);
  });

  it('rejects a due date before the invoice date', () => {
    expect(() => buildInvoice(invoiceInput({ date: '2026-10-12', dueDate: '2026-10-11' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ date: '2026-10-12', dueDate: '2026-10-11' }))).toThrow('due date is before the invoice date');
  });

  it('rejects an invoice without income entries', () => {
    expect(() => buildInvoice(invoiceInput({ income: [], tax: [] }))).toThrow('an invoice needs at least one income entry');
  });

  it('rejects an unknown currency', () => {
    expect(() => buildInvoice(invoiceInput({ currency: 'XYZ' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ currency: 'XYZ' }))).toThrow('unknown currency "XYZ"');
    expect(() => buildInvoice(invoiceInput({ currency: '' }))).toThrow(BooksError);
  });

  // BUG (src/books/currency.ts, reached through buildInvoice): currencyExponent looks the code
  // up with EXPONENTS[code] and no own-property check, so "toString", "constructor",
  // "__proto__", "valueOf", … pass the currency check and an invoice in currency "toString"
  // is built. See books.money.test.ts for the root cause.
  it('rejects currency codes that are Object.prototype members ("toString")', () => {
    expect(() => buildInvoice(invoiceInput({ currency: 'toString' }))).toThrow(BooksError);
  });

  it('rejects an income or tax entry with an empty account', () => {
    expect(() => buildInvoice(invoiceInput({ income: [income('10.00', RATE_STANDARD, '')] }))).toThrow('account must not be empty');
    expect(() => buildInvoice(invoiceInput({ tax: [tax('0.81', RATE_STANDARD, ' ')] }))).toThrow('account must not be empty');
  });

  // GAP (src/books/documents.ts): buildInvoice checks income and tax accounts with requireText
  // but not the rounding entry's account, nor receivableAccount, so a non-zero rounding on
  // account "" (or an empty receivable account) yields a posting without an account.
  it('rejects a non-zero rounding entry with an empty account', () => {
    expect(() => buildInvoice(invoiceInput({ rounding: { account: '', amount: chf('-0.02'), text: 'Rundung' } }))).toThrow(BooksError);
  });

  it('rejects an empty receivable account', () => {
    expect(() => buildInvoice(invoiceInput({ receivableAccount: '' }))).toThrow(BooksError);
  });
});

describe('postingsOf', () => {
  it('debits the receivable with the total and credits income and VAT', () => {
    const doc = buildInvoice(invoiceInput());
    const postings = postingsOf(doc);
    expect(postings).toEqual([
      { account: '1100', amount: chf('146.77'), text: 'Invoice R-1001' },
      { account: '3200', amount: chf('-89.00'), text: 'Goods', vatRate: RATE_STANDARD },
      { account: '3210', amount: chf('-39.80'), text: 'Food', vatRate: RATE_REDUCED },
      { account: '3400', amount: chf('-9.00'), text: 'Shipping', vatRate: RATE_STANDARD },
      { account: '2200', amount: chf('-7.94'), text: 'VAT', vatRate: RATE_STANDARD },
      { account: '2201', amount: chf('-1.03'), text: 'VAT', vatRate: RATE_REDUCED },
    ]);
  });

  it('sums to exactly zero', () => {
    expect(postingSum(postingsOf(buildInvoice(invoiceInput())))).toBe(0);
  });

  it('carries VAT codes onto the postings when given, and omits the property otherwise', () => {
    const doc = buildInvoice(
      invoiceInput({
        income: [{ ...income('100.00'), vatCode: 'UN81' }, income('1.00')],
        tax: [{ ...tax('8.18'), vatCode: 'UN81' }],
      }),
    );
    const postings = postingsOf(doc);
    expect(postings[1]!.vatCode).toBe('UN81');
    expect('vatCode' in postings[2]!).toBe(false);
    expect(postings[3]!.vatCode).toBe('UN81');
  });

  it('books the rounding entry opposite to its effect on the total', () => {
    const doc = buildInvoice(invoiceInput({ rounding: { account: '6960', amount: chf('-0.02'), text: 'Rappenrundung' } }));
    const postings = postingsOf(doc);
    expect(postings[0]!.amount).toBe(chf('146.75'));
    expect(postings.at(-1)).toEqual({ account: '6960', amount: chf('0.02'), text: 'Rappenrundung' });
    expect(postingSum(postings)).toBe(0);
  });

  it('leaves out a zero rounding entry', () => {
    const doc = buildInvoice(invoiceInput({ rounding: { account: '6960', amount: minor(0), text: 'Rappenrundung' } }));
    expect(postingsOf(doc).map((p) => p.account)).not.toContain('6960');
    expect(postingsOf(doc)).toHaveLength(6);
  });

  it('never produces -0 for a zero income line', () => {
    const doc = buildInvoice(invoiceInput({ income: [income('0.00'), income('5.00')], tax: [] }));
    expect(Object.is(postingsOf(doc)[1]!.amount, 0)).toBe(true);
  });

  it('has no postings for a customer document', () => {
    const customer = buildCustomer({ key: customerKey, number: 'C-17', name: 'Anna Brügger', address: {} });
    expect(postingsOf(customer)).toEqual([]);
  });

  it('always balances: 300 seeded random invoices', () => {
    const next = lcg(0x5eed);
    const int = (lo: number, hi: number): number => intIn(next, lo, hi);
    const rates = ['8.1', '2.6', '3.8', '0', '25', '12', '6'].map((r) => vatRate(r));

    for (let k = 0; k < 300; k++) {
      const incomeEntries: IncomeEntry[] = Array.from({ length: int(1, 6) }, (_, i) => ({
        account: `3${200 + i}`,
        amount: minor(int(-50_000, 500_000)),
        text: `line ${i}`,
        vatRate: rates[int(0, rates.length - 1)]!,
      }));
      // VAT per rate as the shop would compute it, plus random tax entries of any size.
      const byRate = new Map<number, Minor[]>();
      for (const e of incomeEntries) byRate.set(e.vatRate, [...(byRate.get(e.vatRate) ?? []), e.amount]);
      const taxEntries: TaxEntry[] = [...byRate].map(([rate, amounts]) => ({
        account: '2200',
        amount: vatFromNet(sum(amounts), rate as (typeof rates)[number]),
        vatRate: rate as (typeof rates)[number],
      }));
      if (next() < 0.3) taxEntries.push({ account: '2209', amount: minor(int(-10_000, 10_000)), vatRate: rates[0]! });
      const rounding = next() < 0.3 ? { account: '6960', amount: minor(int(-2, 2)), text: 'Rundung' } : undefined;

      const doc = buildInvoice(invoiceInput({ income: incomeEntries, tax: taxEntries, ...(rounding ? { rounding } : {}) }));
      const postings = postingsOf(doc);
      const label = `case ${k}: total ${doc.total}`;

      expect(postingSum(postings), label).toBe(0);
      expect(doc.total, label).toBe(sum([...incomeEntries.map((e) => e.amount), ...taxEntries.map((t) => t.amount), rounding?.amount ?? minor(0)]));
      expect(postings[0]!.amount, label).toBe(doc.total);
      expect(() => assertBalanced(doc.key, doc.currency, postings)).not.toThrow();
    }
  });
});

describe('assertBalanced', () => {
  const balanced: Posting[] = [
    { account: '1100', amount: chf('108.10'), text: 'Invoice' },
    { account: '3200', amount: chf('-100.00'), text: 'Goods' },
    { account: '2200', amount: chf('-8.10'), text: 'VAT' },
  ];

  it('accepts postings that sum to zero, and no postings at all', () => {
    expect(() => assertBalanced(invoiceKey, 'CHF', balanced)).not.toThrow();
    expect(() => assertBalanced(invoiceKey, 'CHF', [])).not.toThrow();
  });

  it('throws UnbalancedDocumentError carrying the key and the imbalance per currency', () => {
    const unbalanced = [...balanced, { account: '6960', amount: chf('0.05'), text: 'stray' }];
    let caught: unknown;
    try {
      assertBalanced(invoiceKey, 'CHF', unbalanced);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnbalancedDocumentError);
    expect(caught).toBeInstanceOf(BooksError);
    const error = caught as UnbalancedDocumentError;
    expect(error.name).toBe('UnbalancedDocumentError');
    expect(error.documentKey).toBe('shop/1001/invoice/1');
    expect(error.imbalance).toEqual({ CHF: 5 });
    expect(error.message).toBe('document shop/1001/invoice/1 does not balance: CHF 5 minor units');
  });

  it('reports a negative imbalance with its sign', () => {
    const short = balanced.slice(0, 2).concat({ account: '2200', amount: chf('-8.11'), text: 'VAT' });
    expect(() => assertBalanced(invoiceKey, 'SEK', short)).toThrow(UnbalancedDocumentError);
    expect(() => assertBalanced(invoiceKey, 'SEK', short)).toThrow('SEK -1 minor units');
  });
});

describe('buildCustomer', () => {
  const input = {
    key: customerKey,
    number: 'C-17',
    name: 'Anna Brügger',
    email: 'anna.bruegger@example.ch',
    address: { street: 'Seestrasse 88', zipcode: '8703', city: 'Erlenbach', country: 'CH' },
  };

  it('builds a customer document with kind "customer" and the given fields', () => {
    const doc = buildCustomer(input);
    expect(doc).toEqual({ kind: 'customer', ...input });
  });

  it('rejects an empty or blank name', () => {
    expect(() => buildCustomer({ ...input, name: '' })).toThrow(BooksError);
    expect(() => buildCustomer({ ...input, name: '  ' })).toThrow('shop/C-17/customer/1: customer name must not be empty');
  });

  it('rejects an empty or blank number', () => {
    expect(() => buildCustomer({ ...input, number: '' })).toThrow(BooksError);
    expect(() => buildCustomer({ ...input, number: '\t' })).toThrow('customer number must not be empty');
  });
});
