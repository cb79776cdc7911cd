/**
 * The document model (src/books/documents.ts) and the checks every sales document passes:
 * keys, the posting sign convention, balance, and input validation. The use cases themselves
 * are in books.usecases.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  assertBalanced,
  balanceByCurrency,
  buildCreditNote,
  buildCustomer,
  buildFinalInvoice,
  buildInvoice,
  buildPayment,
  formatDocumentKey,
  openItemOf,
  parseDecimal,
  postingsOf,
  sum,
  vatRate,
  BooksError,
  UnbalancedDocumentError,
  type Article,
  type BookDocument,
  type DocumentKey,
  type InvoiceInput,
  type LineInput,
  type Minor,
  type Posting,
  type VatMethod,
  type VatTreatment,
} from '../src/books/index.js';
import { intIn, lcg } from './random.js';

const chf = (text: string): Minor => parseDecimal(text, 2);

const invoiceKey: DocumentKey = { source: 'shop', subject: '1001', kind: 'invoice', revision: 1 };
const customerKey: DocumentKey = { source: 'shop', subject: 'C-17', kind: 'customer', revision: 1 };

const STANDARD: VatTreatment = { rate: vatRate('8.1'), code: 'UN81', account: '2201' };
const REDUCED: VatTreatment = { rate: vatRate('2.6'), code: 'UR26', account: '2203' };
const EXEMPT: VatTreatment = { rate: vatRate('0'), code: 'exempt', account: '' };

function line(amount: string, vat = STANDARD, account = '3200', text = 'Goods'): LineInput {
  return { text, account, vat, amount: chf(amount) };
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
    vat: { basis: 'net', rounding: 'per-line' },
    lines: [line('89.00'), line('39.80', REDUCED, '3210', 'Food'), { ...line('9.00', STANDARD, '3400', 'Shipping'), role: 'shipping' }],
    ...overrides,
  };
}

function postingSum(postings: readonly Posting[]): number {
  return sum(postings.map((p) => p.amount));
}

/** Builds the invoice and asserts that its postings sum to exactly zero. */
function invoice(overrides: Partial<InvoiceInput> = {}) {
  const doc = buildInvoice(invoiceInput(overrides));
  expect(postingSum(postingsOf(doc))).toBe(0);
  return doc;
}

/** The BooksError `fn` throws (fails the test when it throws nothing or something else). */
function booksErrorOf(fn: () => unknown): BooksError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BooksError);
    return error as BooksError;
  }
  throw new Error('expected a BooksError, but nothing was thrown');
}

describe('formatDocumentKey', () => {
  it('formats as source/subject/kind/revision', () => {
    expect(formatDocumentKey(invoiceKey)).toBe('shop/1001/invoice/1');
    expect(formatDocumentKey({ source: 'woo-ch', subject: '58', kind: 'customer', revision: 3 })).toBe('woo-ch/58/customer/3');
  });

  it('adds the part after the kind, and leaves an empty part out', () => {
    expect(formatDocumentKey({ source: 'shop', subject: '1001', kind: 'payment', part: 'skonto', revision: 1 })).toBe('shop/1001/payment:skonto/1');
    expect(formatDocumentKey({ source: 'shop', subject: '1001', kind: 'invoice', part: 'deposit-1', revision: 2 })).toBe('shop/1001/invoice:deposit-1/2');
    expect(formatDocumentKey({ ...invoiceKey, part: '' })).toBe('shop/1001/invoice/1');
  });

  it('gives different keys to different revisions and parts of the same subject', () => {
    const keys = [invoiceKey, { ...invoiceKey, revision: 2 }, { ...invoiceKey, part: 'deposit-1' }, { ...invoiceKey, part: 'deposit-2' }].map(formatDocumentKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('buildInvoice', () => {
  it('computes total = Σ lines + Σ VAT', () => {
    const doc = invoice();
    expect(doc.kind).toBe('invoice');
    // 89.00 + 39.80 + 9.00 + 7.94 + 1.03 = 146.77, the order's total.
    expect(doc.tax.map((t) => [t.account, t.amount])).toEqual([
      ['2201', chf('7.94')],
      ['2203', chf('1.03')],
    ]);
    expect(doc.total).toBe(chf('146.77'));
  });

  it('keeps the input fields and lines as given', () => {
    const doc = invoice();
    expect(doc).toMatchObject({ key: invoiceKey, number: 'R-1001', orderNumber: '1001', customerNumber: 'C-17', currency: 'CHF', date: '2026-10-12', dueDate: '2026-11-11', receivableAccount: '1100' });
    expect(doc.lines.map((l) => [l.role, l.account, l.amount, l.text, l.vat])).toEqual([
      ['revenue', '3200', chf('89.00'), 'Goods', STANDARD],
      ['revenue', '3210', chf('39.80'), 'Food', REDUCED],
      ['shipping', '3400', chf('9.00'), 'Shipping', STANDARD],
    ]);
  });

  it('ignores a total smuggled into the input and computes its own', () => {
    const input = { ...invoiceInput(), total: chf('999.99') } as InvoiceInput;
    expect(buildInvoice(input).total).toBe(chf('146.77'));
  });

  it('accepts a due date equal to the invoice date', () => {
    expect(invoice({ dueDate: '2026-10-12' }).dueDate).toBe('2026-10-12');
  });

  it('books no VAT for untaxed lines, which need no VAT account', () => {
    const doc = invoice({ lines: [line('89.00', EXEMPT), line('39.80', EXEMPT, '3210', 'Food')] });
    expect(doc.tax).toEqual([]);
    expect(doc.total).toBe(chf('128.80'));
  });

  it('allows a zero total (a fully discounted order)', () => {
    const doc = invoice({ lines: [line('10.00'), { ...line('-10.00', STANDARD, '3800', 'Coupon herbst10'), role: 'discount' }] });
    expect(doc.total).toBe(0);
    expect(doc.tax).toEqual([]);
  });

  it('refuses a negative total and points to a credit note', () => {
    const error = booksErrorOf(() => buildInvoice(invoiceInput({ lines: [line('-50.00')] })));
    expect(error.message).toMatch(/cannot have a negative total/);
    expect(error.hint).toMatch(/credit note/);
    expect(error.field).toBe('total');
  });

  it('rejects an empty or blank invoice number', () => {
    expect(() => buildInvoice(invoiceInput({ number: '' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ number: '   ' }))).toThrow('shop/1001/invoice/1: number must not be empty');
  });

  it('rejects an empty customer number', () => {
    expect(() => buildInvoice(invoiceInput({ customerNumber: ' ' }))).toThrow('customer number must not be empty');
  });

  it('rejects an empty receivable account', () => {
    expect(() => buildInvoice(invoiceInput({ receivableAccount: '' }))).toThrow('receivable account must not be empty');
  });

  it.each(['12.10.2026', '2026-10-1', '2026/10/12', '20261012', '2026-10-12T09:14:37Z', ''])('rejects the date %j', (date) => {
    expect(() => buildInvoice(invoiceInput({ date, dueDate: '2026-12-31' }))).toThrow(`date "${date}" is not a calendar date (YYYY-MM-DD)`);
  });

  it('rejects a malformed due date', () => {
    expect(() => buildInvoice(invoiceInput({ dueDate: '11.11.2026' }))).toThrow('due date "11.11.2026" is not a calendar date (YYYY-MM-DD)');
  });

  it('rejects impossible calendar dates (2026-02-30, 2026-13-45)', () => {
    expect(() => buildInvoice(invoiceInput({ date: '2026-02-30', dueDate: '2026-12-31' }))).toThrow('date "2026-02-30" is not a calendar date');
    expect(() => buildInvoice(invoiceInput({ dueDate: '2026-13-45' }))).toThrow('due date "2026-13-45" is not a calendar date');
  });

  it('rejects a due date before the invoice date', () => {
    const error = booksErrorOf(() => buildInvoice(invoiceInput({ date: '2026-10-12', dueDate: '2026-10-11' })));
    expect(error.message).toBe('shop/1001/invoice/1: due date 2026-10-11 is before the date 2026-10-12');
    expect(error.field).toBe('dueDate');
  });

  it('rejects a document without lines', () => {
    expect(() => buildInvoice(invoiceInput({ lines: [] }))).toThrow('a document needs at least one line');
  });

  it('rejects an unknown currency, also Object.prototype members ("toString")', () => {
    expect(() => buildInvoice(invoiceInput({ currency: 'XYZ' }))).toThrow('unknown currency "XYZ"');
    expect(() => buildInvoice(invoiceInput({ currency: '' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ currency: 'toString' }))).toThrow(BooksError);
    expect(() => buildInvoice(invoiceInput({ currency: '__proto__' }))).toThrow(BooksError);
  });

  it('rejects a line without account, VAT treatment or amount', () => {
    expect(() => buildInvoice(invoiceInput({ lines: [line('10.00', STANDARD, ' ')] }))).toThrow('lines[0] has no account');
    expect(() => buildInvoice(invoiceInput({ lines: [{ text: 'Goods', account: '3200', amount: chf('10.00') }] }))).toThrow('lines[0] has no VAT treatment');
    expect(() => buildInvoice(invoiceInput({ lines: [{ text: 'Goods', account: '3200', vat: STANDARD }] }))).toThrow('lines[0] has no amount');
    expect(() => buildInvoice(invoiceInput({ lines: [line('10.00', STANDARD, '3200', ' ')] }))).toThrow('lines[0].text must not be empty');
  });

  it('rejects a taxed line that names no VAT account', () => {
    const error = booksErrorOf(() => buildInvoice(invoiceInput({ lines: [line('10.00'), line('10.00', { ...REDUCED, account: ' ' })] })));
    expect(error.message).toMatch(/lines\[1\] is taxed at 2\.6 % but names no VAT account/);
    expect(error.field).toBe('lines[1].vat.account');
  });

  it('rejects a rounding line without an account', () => {
    expect(() => buildInvoice(invoiceInput({ cashRounding: { step: 5, account: '' } }))).toThrow('cash rounding account must not be empty');
    expect(() => buildInvoice(invoiceInput({ expectedTotal: { expected: chf('146.78'), account: ' ', maxResidue: 2 } }))).toThrow('rounding account must not be empty');
  });

  it('rejects a line that gives its own VAT unless it deducts a deposit', () => {
    expect(() => buildInvoice(invoiceInput({ lines: [{ ...line('10.00'), fixedVat: chf('0.50') }] }))).toThrow(/only a deposit deduction may/);
  });
});

describe('postingsOf', () => {
  it('debits the receivable with the total and credits revenue and VAT, with rate and VAT code', () => {
    expect(postingsOf(invoice())).toEqual([
      { account: '1100', role: 'receivable', amount: chf('146.77'), text: 'Invoice R-1001' },
      { account: '3200', role: 'revenue', amount: chf('-89.00'), text: 'Goods', vatRate: STANDARD.rate, vatCode: 'UN81' },
      { account: '3210', role: 'revenue', amount: chf('-39.80'), text: 'Food', vatRate: REDUCED.rate, vatCode: 'UR26' },
      { account: '3400', role: 'revenue', amount: chf('-9.00'), text: 'Shipping', vatRate: STANDARD.rate, vatCode: 'UN81' },
      { account: '2201', role: 'vat', amount: chf('-7.94'), text: 'VAT', vatRate: STANDARD.rate, vatCode: 'UN81' },
      { account: '2203', role: 'vat', amount: chf('-1.03'), text: 'VAT', vatRate: REDUCED.rate, vatCode: 'UR26' },
    ]);
  });

  it('debits a discount line (negative revenue)', () => {
    const doc = invoice({ lines: [line('100.00'), { ...line('-10.00', STANDARD, '3800', 'Coupon herbst10'), role: 'discount' }] });
    expect(doc.total).toBe(chf('97.29'));
    expect(postingsOf(doc).find((p) => p.text === 'Coupon herbst10')!.amount).toBe(chf('10.00'));
  });

  it('books a rounding line opposite to its effect on the total', () => {
    const doc = invoice({ cashRounding: { step: 5, account: '6944' } });
    const postings = postingsOf(doc);
    // 146.77 rounded to 5 Rappen is 146.75: a rounding line of −0.02, a debit of 0.02.
    expect(postings[0]!.amount).toBe(chf('146.75'));
    expect(postings.at(-1)).toEqual({ account: '6944', role: 'rounding', amount: chf('0.02'), text: 'Cash rounding to 0.05' });
  });

  it('leaves out a rounding that changes nothing', () => {
    const doc = invoice({ cashRounding: { step: 1, account: '6944' }, expectedTotal: { expected: chf('146.77'), account: '6944', maxResidue: 2 } });
    expect(doc.rounding).toEqual([]);
    expect(postingsOf(doc).map((p) => p.account)).not.toContain('6944');
    expect(postingsOf(doc)).toHaveLength(6);
  });

  it('never produces -0 for a zero line', () => {
    const doc = invoice({ lines: [line('0.00'), line('5.00')] });
    expect(Object.is(postingsOf(doc)[1]!.amount, 0)).toBe(true);
  });

  it('credits the receivable for a credit note and debits revenue and VAT', () => {
    const credited = invoice();
    const note = buildCreditNote({ ...invoiceInput({ key: { ...invoiceKey, kind: 'credit-note' }, number: 'G-1001' }), lines: [line('-89.00')] }, credited);
    expect(postingsOf(note).map((p) => [p.account, p.amount])).toEqual([
      ['1100', chf('-96.21')],
      ['3200', chf('89.00')],
      ['2201', chf('7.21')],
    ]);
    expect(postingSum(postingsOf(note))).toBe(0);
  });

  it('debits the payment account and credits the receivable for a payment', () => {
    const doc = invoice();
    const payment = buildPayment({ key: { ...invoiceKey, kind: 'payment', part: 'p1' }, item: openItemOf(doc, []), purpose: 'payment', account: '1090', amount: chf('146.77'), date: '2026-10-13' });
    expect(postingsOf(payment)).toEqual([
      { account: '1090', role: 'clearing', amount: chf('146.77'), text: 'payment R-1001' },
      { account: '1100', role: 'receivable', amount: chf('-146.77'), text: 'payment R-1001' },
    ]);
  });

  it('has no postings for a customer document', () => {
    const customer = buildCustomer({ key: customerKey, number: 'C-17', name: 'Anna Brügger', address: {} });
    expect(postingsOf(customer)).toEqual([]);
    expect(balanceByCurrency([customer])).toEqual({});
  });

  it('always balances: 300 seeded invoices over every VAT method, with cash rounding and residues', () => {
    const next = lcg(0x5eed);
    const int = (lo: number, hi: number): number => intIn(next, lo, hi);
    const treatments: VatTreatment[] = [STANDARD, REDUCED, { rate: vatRate('3.8'), code: 'UB38', account: '2202' }, EXEMPT, { rate: vatRate('25'), code: 'SE25', account: '2611' }];
    const methods: VatMethod[] = [
      { basis: 'net', rounding: 'per-line' },
      { basis: 'net', rounding: 'per-rate-group' },
      { basis: 'gross', rounding: 'per-line' },
      { basis: 'gross', rounding: 'per-rate-group', mode: 'half-even' },
    ];

    for (let k = 0; k < 300; k++) {
      // The first line outweighs any discounts, so the total is never negative.
      const lines: LineInput[] = Array.from({ length: int(1, 6) }, (_, i) => ({
        account: `3${200 + i}`,
        amount: i === 0 ? chf(String(int(3_000, 9_000))) : (int(-50_000, 500_000) as Minor),
        text: `line ${i}`,
        vat: treatments[int(0, treatments.length - 1)]!,
      }));
      const plain = invoiceInput({ lines, vat: methods[int(0, methods.length - 1)]! });
      const residue = next() < 0.3 ? int(-2, 2) : 0;
      const doc = buildInvoice({
        ...plain,
        ...(next() < 0.3 ? { cashRounding: { step: 5, account: '6944' } } : {}),
        ...(residue !== 0 ? { expectedTotal: { expected: (buildInvoice(plain).total + residue) as Minor, account: '6944', maxResidue: 2 } } : {}),
      });
      const postings = postingsOf(doc);
      const label = `case ${k}: total ${doc.total}`;

      expect(postingSum(postings), label).toBe(0);
      expect(doc.total, label).toBe(sum([...doc.lines.map((l) => l.amount), ...doc.tax.map((t) => t.amount), ...doc.rounding.map((r) => r.amount)]));
      expect(postings[0]!.amount, label).toBe(doc.total);
      if (doc.pricesIncludeVat) expect(sum([...doc.lines.map((l) => l.amount), ...doc.tax.map((t) => t.amount)]), label).toBe(sum(lines.map((l) => l.amount!)));
      else expect(sum(doc.lines.map((l) => l.amount)), label).toBe(sum(lines.map((l) => l.amount!)));
      expect(() => assertBalanced(doc.key, doc.currency, postings)).not.toThrow();
    }
  });
});

describe('buildFinalInvoice', () => {
  // Regression: with prices including VAT the deduction used to be recomputed from the net
  // (500.00 gross at 8.1 % came back as 499.99), and under per-rate-group rounding the
  // liability account did not return to zero.
  it('returns the deposit account to zero and takes back exactly the deposit VAT: 300 seeded settlements', () => {
    const next = lcg(0xa4a8);
    const int = (lo: number, hi: number): number => intIn(next, lo, hi);
    const treatments: VatTreatment[] = [STANDARD, REDUCED, { rate: vatRate('3.8'), code: 'UB38', account: '2202' }, { rate: vatRate('25'), code: 'SE25', account: '2611' }];
    const articles: Article[] = treatments.flatMap((vat, i) => [
      { number: `AKONTO-${i}`, account: '2030', vat, role: 'deposit' as const },
      { number: `WARE-${i}`, account: '3200', vat },
    ]);
    for (let k = 0; k < 300; k++) {
      const variant = next() < 0.5 ? ('article' as const) : ('booking' as const);
      const vat: VatMethod = { basis: next() < 0.5 ? 'net' : 'gross', rounding: next() < 0.5 ? 'per-line' : 'per-rate-group' };
      const depositLine = (): LineInput => {
        const i = int(0, treatments.length - 1);
        const price = int(1, 200_000) as Minor;
        return variant === 'article' ? { text: 'Akonto', part: { number: `AKONTO-${i}`, quantity: int(1, 3), unitPrice: price } } : { text: 'Akonto', account: '2030', vat: treatments[i]!, amount: price };
      };
      const revenue: LineInput = variant === 'article' ? { text: 'Ware', part: { number: 'WARE-0', quantity: 1, unitPrice: chf('100000.00') } } : line('100000.00');
      const common = { variant, articles, vat };
      const deposit = buildInvoice(invoiceInput({ ...common, key: { ...invoiceKey, part: 'deposit-1' }, number: 'A-1001', purpose: 'deposit', lines: Array.from({ length: int(1, 4) }, depositLine) }));
      const final = buildFinalInvoice(invoiceInput({ ...common, key: { ...invoiceKey, part: 'final' }, number: 'S-1001', lines: [revenue] }), [deposit]);
      const revenueOnly = buildInvoice(invoiceInput({ ...common, lines: [revenue] }));
      const docs: BookDocument[] = [deposit, final];
      const label = `case ${k}: ${variant} ${vat.basis} ${vat.rounding}`;

      for (const doc of docs) expect(postingSum(postingsOf(doc)), label).toBe(0);
      expect(balanceByCurrency(docs, '2030'), label).toEqual({ CHF: 0 });
      expect(sum([...deposit.tax, ...final.tax].map((t) => t.amount)), label).toBe(sum(revenueOnly.tax.map((t) => t.amount)));
      expect(deposit.total + final.total, label).toBe(revenueOnly.total);
    }
  });
});

describe('assertBalanced', () => {
  const balanced: Posting[] = [
    { account: '1100', role: 'receivable', amount: chf('108.10'), text: 'Invoice' },
    { account: '3200', role: 'revenue', amount: chf('-100.00'), text: 'Goods' },
    { account: '2201', role: 'vat', amount: chf('-8.10'), text: 'VAT' },
  ];

  it('accepts postings that sum to zero, and no postings at all', () => {
    expect(() => assertBalanced(invoiceKey, 'CHF', balanced)).not.toThrow();
    expect(() => assertBalanced(invoiceKey, 'CHF', [])).not.toThrow();
  });

  it('throws UnbalancedDocumentError carrying the key and the imbalance per currency', () => {
    const error = booksErrorOf(() => assertBalanced(invoiceKey, 'CHF', [...balanced, { account: '6944', role: 'rounding', amount: chf('0.05'), text: 'stray' }]));
    expect(error).toBeInstanceOf(UnbalancedDocumentError);
    const unbalanced = error as UnbalancedDocumentError;
    expect(unbalanced.name).toBe('UnbalancedDocumentError');
    expect(unbalanced.documentKey).toBe('shop/1001/invoice/1');
    expect(unbalanced.imbalance).toEqual({ CHF: 5 });
    expect(unbalanced.message).toBe('document shop/1001/invoice/1 does not balance: CHF 5 minor units');
  });

  it('reports a negative imbalance with its sign', () => {
    const short = balanced.slice(0, 2).concat({ account: '2201', role: 'vat', amount: chf('-8.11'), text: 'VAT' });
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

  it('builds a customer document with kind "customer", the given fields and a derived type', () => {
    expect(buildCustomer(input)).toEqual({ kind: 'customer', type: 'person', ...input });
    expect(buildCustomer({ ...input, company: 'Brügger AG' }).type).toBe('company');
  });

  it('rejects an empty or blank name', () => {
    expect(() => buildCustomer({ ...input, name: '' })).toThrow(BooksError);
    expect(() => buildCustomer({ ...input, name: '  ' })).toThrow('shop/C-17/customer/1: customer name must not be empty');
  });

  it('rejects an empty or blank number', () => {
    expect(() => buildCustomer({ ...input, number: '' })).toThrow(BooksError);
    expect(() => buildCustomer({ ...input, number: '\t' })).toThrow('customer number must not be empty');
  });

  it('rejects a key of another kind', () => {
    expect(() => buildCustomer({ ...input, key: invoiceKey })).toThrow('a customer\'s key must be of kind "customer"');
  });
});
