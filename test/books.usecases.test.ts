/**
 * The Run my Accounts API use cases (seed 003, table "API Use-Cases"; reference
 * runmyaccounts.md §3, §5, §6, §11), one named test per use case, with the numbers of the
 * official examples where there are any. The examples date from the 8 % standard rate, so
 * VAT here is 8 % on the output-VAT account 2201.
 *
 * Every document built here goes through `booked`, which asserts that its postings sum to
 * exactly zero.
 */
import { describe, expect, it } from 'vitest';
import {
  balanceByCurrency,
  assertTransferNetsZero,
  buildCreditNote,
  buildCustomer,
  buildFinalInvoice,
  buildInvoice,
  buildPayment,
  buildStorno,
  cancelInvoice,
  netThroughTransfer,
  openItemOf,
  postingsOf,
  settle,
  sum,
  vatRate,
  BooksError,
  OverCreditError,
  OverDeductionError,
  OverpaymentError,
  TotalMismatchError,
  VatPeriodSettledError,
  type BookDocument,
  type InvoiceDocument,
  type LineInput,
  type Minor,
  type PaymentDocument,
  type SalesDocument,
  type SalesInput,
  type VatTreatment,
} from '../src/books/index.js';
import { migrateLatest } from '../src/db/migrate.js';
import { loadDocuments, storeDocument } from '../src/outbox/enqueue.js';
import { insertSnapshot } from '../src/store/snapshots.js';
import { freshDatabase } from './helpers.js';
import { articleSales, chf, income, key, part, payKeys, sales, V25, V8 } from './usecase-documents.js';


/** Asserts that the document's postings sum to exactly zero, and hands it back. */
function booked<T extends BookDocument>(doc: T): T {
  expect(sum(postingsOf(doc).map((p) => p.amount)), `postings of ${doc.key.subject}/${doc.kind}`).toBe(0);
  return doc;
}

function bookedAll<T extends BookDocument>(docs: T[]): T[] {
  docs.forEach(booked);
  return docs;
}


/** Σ VAT booked on `account`. */
const vatOn = (doc: SalesDocument, account = '2201'): Minor => sum(doc.tax.filter((t) => t.account === account).map((t) => t.amount));

/** Net postings per account of a document, without texts. */
function byAccount(doc: BookDocument): Record<string, Minor> {
  const out: Record<string, Minor> = {};
  for (const p of postingsOf(doc)) out[p.account] = sum([out[p.account] ?? chf('0'), p.amount]);
  return out;
}

/** The A1.1 invoice: 99.00 on 3400, 7.92 VAT, 106.92. */
const a11 = (number = 'A1-1', overrides: Partial<SalesInput> = {}): InvoiceDocument => booked(buildInvoice(sales(number, [income('99.00')], overrides)));

/** An invoice of 600.00 on 3200 plus 48.00 VAT: the open 648.00 of the payment examples. */
const open648 = (number: string): InvoiceDocument => booked(buildInvoice(sales(number, [income('600.00', '3200', 'Ware')])));

describe('A: invoices', () => {
  it('A1: A1.1 books 99.00 on 3400 and VAT 7.92 on 2201, total 106.92 (booking variant)', () => {
    const doc = a11();
    expect(doc.kind).toBe('invoice');
    expect(doc.purpose).toBe('standard');
    expect(doc.variant).toBe('booking');
    expect(doc.lines).toEqual([{ role: 'revenue', account: '3400', amount: chf('99.00'), text: 'Dienstleistung', vat: V8 }]);
    expect(doc.tax).toEqual([{ account: '2201', rate: V8.rate, code: 'UN80', base: chf('99.00'), amount: chf('7.92') }]);
    expect(doc.total).toBe(chf('106.92'));
    expect(byAccount(doc)).toEqual({ '1100': chf('106.92'), '3400': chf('-99.00'), '2201': chf('-7.92') });
  });

  it('A2: A2.1 books a visible discount −100 "Rabatt" + 400 + 600 on 3400: VAT 72.00, total 972.00', () => {
    const doc = booked(buildInvoice(sales('A2-1', [{ ...income('-100.00', '3400', 'Rabatt'), role: 'discount' }, income('400.00'), income('600.00')])));
    expect(doc.lines.map((l) => [l.role, l.account, l.amount])).toEqual([
      ['discount', '3400', chf('-100.00')],
      ['revenue', '3400', chf('400.00')],
      ['revenue', '3400', chf('600.00')],
    ]);
    expect(vatOn(doc)).toBe(chf('72.00'));
    expect(doc.total).toBe(chf('972.00'));
    // The discount is negative revenue: it debits 3400.
    expect(postingsOf(doc).find((p) => p.text === 'Rabatt')!.amount).toBe(chf('100.00'));
  });

  it('A3: A3.1 books a deposit invoice of 600 on the liability 2030 with VAT 48.00', () => {
    const doc = booked(buildInvoice({ ...sales('A3-1', [income('600.00', '2030', 'Akonto')]), purpose: 'deposit' }));
    expect(doc.purpose).toBe('deposit');
    expect(doc.lines.map((l) => [l.role, l.account, l.amount])).toEqual([['deposit', '2030', chf('600.00')]]);
    expect(vatOn(doc)).toBe(chf('48.00'));
    expect(doc.total).toBe(chf('648.00'));
    expect(byAccount(doc)['2030']).toBe(chf('-600.00'));
    // A deposit invoice books deposits only; a standard invoice none.
    expect(() => buildInvoice({ ...sales('A3-x', [income('600.00', '2030'), { ...income('10.00'), role: 'revenue' }]), purpose: 'deposit' })).toThrow(BooksError);
    expect(() => buildInvoice(sales('A3-y', [{ ...income('600.00', '2030'), role: 'deposit' }]))).toThrow(/deposit invoice \(A3\/A7\)/);
  });

  it('A4: A4.1 final settlement 1200 on 3600 less the A3 deposit (−600 on 2030), VAT 48.00, and 2030 returns to zero', () => {
    const deposit = booked(buildInvoice({ ...sales('A3-1', [income('600.00', '2030', 'Akonto')]), purpose: 'deposit' }));
    const final = booked(buildFinalInvoice(sales('A4-1', [income('1200.00', '3600', 'Projekt')]), [deposit]));
    expect(final.purpose).toBe('final');
    expect(final.lines.map((l) => [l.role, l.account, l.amount, l.deposit])).toEqual([
      ['revenue', '3600', chf('1200.00'), undefined],
      ['deposit-deduction', '2030', chf('-600.00'), 'A3-1'],
    ]);
    expect(final.tax).toEqual([{ account: '2201', rate: V8.rate, code: 'UN80', base: chf('600.00'), amount: chf('48.00') }]);
    expect(final.total).toBe(chf('648.00'));
    expect(balanceByCurrency([deposit, final], '2030')).toEqual({ CHF: 0 });
    // Total revenue shows in the income statement: 1200 on 3600.
    expect(balanceByCurrency([deposit, final], '3600')).toEqual({ CHF: chf('-1200.00') });
    // Never more than was received, nor a second time.
    expect(() => buildFinalInvoice({ ...sales('A4-2', [income('1200.00', '3600')]), draw: { 'A3-1': chf('600.01') } }, [deposit])).toThrow(OverDeductionError);
    expect(() => buildFinalInvoice(sales('A4-3', [income('1200.00', '3600')]), [deposit], [final])).toThrow(OverDeductionError);
  });

  it('A5: article variant takes account and VAT from the article; own accounts and unknown parts are refused', () => {
    const doc = booked(buildInvoice(articleSales('A5-1', [part('BERATUNG', 2, '49.50')])));
    expect(doc.variant).toBe('article');
    expect(doc.lines).toEqual([
      { role: 'revenue', account: '3400', amount: chf('99.00'), text: 'BERATUNG', vat: V8, part: { number: 'BERATUNG', quantity: 2, unitPrice: chf('49.50'), unit: 'h' } },
    ]);
    expect(vatOn(doc)).toBe(chf('7.92'));
    expect(doc.total).toBe(chf('106.92'));

    const ownAccount: LineInput = { ...part('BERATUNG', 1, '99.00'), account: '3200' };
    expect(() => buildInvoice(articleSales('A5-2', [ownAccount]))).toThrow(BooksError);
    expect(() => buildInvoice(articleSales('A5-2', [ownAccount]))).toThrow(/both come from article "BERATUNG"/);
    const ownVat: LineInput = { ...part('BERATUNG', 1, '99.00'), vat: V25 };
    expect(() => buildInvoice(articleSales('A5-3', [ownVat]))).toThrow(BooksError);
    expect(() => buildInvoice(articleSales('A5-4', [part('GIBTSNICHT', 1, '1.00')]))).toThrow(/not in the article master/);
    expect(() => buildInvoice(articleSales('A5-5', [income('99.00')]))).toThrow(/has no part/);
  });

  it('A6: article variant discount: a discount article at a negative price, or at a negative quantity', () => {
    const byPrice = booked(buildInvoice(articleSales('A6-1', [part('RABATT', 1, '-100.00'), part('BERATUNG', 4, '100.00'), part('BERATUNG', 6, '100.00')])));
    const byQuantity = booked(buildInvoice(articleSales('A6-2', [part('RABATT', -1, '100.00'), part('BERATUNG', 4, '100.00'), part('BERATUNG', 6, '100.00')])));
    for (const doc of [byPrice, byQuantity]) {
      expect(doc.lines[0]).toMatchObject({ role: 'discount', account: '3400', amount: chf('-100.00'), vat: V8 });
      expect(vatOn(doc)).toBe(chf('72.00'));
      expect(doc.total).toBe(chf('972.00'));
    }
  });

  it('A7: article variant deposit invoice through the deposit article on 2030', () => {
    const doc = booked(buildInvoice({ ...articleSales('A7-1', [part('AKONTO', 1, '600.00')]), purpose: 'deposit' }));
    expect(doc.purpose).toBe('deposit');
    expect(doc.lines).toEqual([{ role: 'deposit', account: '2030', amount: chf('600.00'), text: 'AKONTO', vat: V8, part: { number: 'AKONTO', quantity: 1, unitPrice: chf('600.00') } }]);
    expect(vatOn(doc)).toBe(chf('48.00'));
    expect(doc.total).toBe(chf('648.00'));
    // A revenue article is no deposit.
    expect(() => buildInvoice({ ...articleSales('A7-2', [part('BERATUNG', 1, '600.00')]), purpose: 'deposit' })).toThrow(/books deposits only/);
  });

  it('A8: article variant final settlement deducts the deposit article at quantity −1, and 2030 returns to zero', () => {
    const deposit = booked(buildInvoice({ ...articleSales('A7-1', [part('AKONTO', 1, '600.00')]), purpose: 'deposit' }));
    const final = booked(buildFinalInvoice(articleSales('A8-1', [part('PROJEKT', 12, '100.00')]), [deposit]));
    expect(final.lines.map((l) => [l.role, l.account, l.amount, l.part, l.deposit])).toEqual([
      ['revenue', '3600', chf('1200.00'), { number: 'PROJEKT', quantity: 12, unitPrice: chf('100.00') }, undefined],
      ['deposit-deduction', '2030', chf('-600.00'), { number: 'AKONTO', quantity: -1, unitPrice: chf('600.00') }, 'A7-1'],
    ]);
    expect(vatOn(final)).toBe(chf('48.00'));
    expect(final.total).toBe(chf('648.00'));
    expect(balanceByCurrency([deposit, final], '2030')).toEqual({ CHF: 0 });
    // Prices including VAT (RMA `taxincluded`): a 500.00 deposit at 8.1 % (37.47 VAT) is deducted as
    // exactly 500.00 with exactly its 37.47 VAT, not as 499.99 = 462.53 + round(462.53 × 8.1 %).
    const V81: VatTreatment = { rate: vatRate('8.1'), code: 'UN81', account: '2201' };
    const gross = { vat: { basis: 'gross', rounding: 'per-line' }, articles: [{ number: 'AKONTO', account: '2030', vat: V81, role: 'deposit' }, { number: 'PROJEKT', account: '3600', vat: V81 }] } as const;
    const grossDeposit = booked(buildInvoice({ ...articleSales('A7-2', [part('AKONTO', 1, '500.00')], gross), purpose: 'deposit' }));
    expect([grossDeposit.lines[0]!.amount, vatOn(grossDeposit)]).toEqual([chf('462.53'), chf('37.47')]);
    const grossFinal = booked(buildFinalInvoice(articleSales('A8-3', [part('PROJEKT', 1, '1200.00')], gross), [grossDeposit]));
    expect(grossFinal.lines[1]).toMatchObject({ role: 'deposit-deduction', amount: chf('-462.53'), part: { number: 'AKONTO', quantity: -1, unitPrice: chf('500.00') } });
    expect(grossFinal.total).toBe(chf('700.00'));
    expect(sum([vatOn(grossDeposit), vatOn(grossFinal)])).toBe(vatOn(booked(buildInvoice(articleSales('A8-4', [part('PROJEKT', 1, '1200.00')], gross)))));
    expect(balanceByCurrency([grossDeposit, grossFinal], '2030')).toEqual({ CHF: 0 });
    // A deposit of the booking variant cannot be deducted in the article variant.
    const bookingDeposit = booked(buildInvoice({ ...sales('A3-1', [income('600.00', '2030')]), purpose: 'deposit' }));
    expect(() => buildFinalInvoice(articleSales('A8-2', [part('PROJEKT', 12, '100.00')]), [bookingDeposit])).toThrow(/variant/);
  });
});

describe('B: credit notes', () => {
  it('B1: booking variant credit note books negative amounts that may differ from the invoice, never more than it', () => {
    const invoice = a11('R-1');
    const credit = (number: string, lines: LineInput[]) => sales(number, lines, { key: key('credit-note', number), date: '2017-04-03', dueDate: '2017-04-03' });

    const partial = booked(buildCreditNote(credit('G-1', [income('-50.00')]), invoice));
    expect(partial.kind).toBe('credit-note');
    expect(partial.credits).toBe('R-1');
    expect(vatOn(partial)).toBe(chf('-4.00'));
    expect(partial.total).toBe(chf('-54.00'));
    expect(byAccount(partial)).toEqual({ '1100': chf('-54.00'), '3400': chf('50.00'), '2201': chf('4.00') });

    // More than the invoice's 106.92 at once, or together with the earlier 54.00.
    expect(() => buildCreditNote(credit('G-2', [income('-100.00')]), invoice)).toThrow(OverCreditError);
    expect(() => buildCreditNote(credit('G-2', [income('-50.00')]), invoice, [partial])).toThrow(OverCreditError);
    expect(booked(buildCreditNote(credit('G-2', [income('-49.00')]), invoice, [partial])).total).toBe(chf('-52.92'));
    // A positive credit note is none.
    expect(() => buildCreditNote(credit('G-3', [income('10.00')]), invoice)).toThrow(/must be negative/);

    // Per VAT rate: 150 credited at 2.5 % where only 100 was invoiced at it, though the total is within limits.
    const mixed = booked(buildInvoice(sales('R-2', [income('100.00'), { text: 'Buch', account: '3200', vat: V25, amount: chf('100.00') }])));
    expect(() => buildCreditNote(credit('G-4', [{ text: 'Buch', account: '3200', vat: V25, amount: chf('-150.00') }]), mixed)).toThrow(OverCreditError);
    expect(() => buildCreditNote(credit('G-4', [{ text: 'Buch', account: '3200', vat: V25, amount: chf('-150.00') }]), mixed)).toThrow(/at 2\.5 %/);
  });

  it('B2: article variant credit note books the articles negatively, and only in the invoice variant', () => {
    const invoice = booked(buildInvoice(articleSales('R-3', [part('BERATUNG', 4, '100.00'), part('PROJEKT', 2, '300.00')])));
    const input = articleSales('G-5', [part('BERATUNG', -1, '100.00'), part('PROJEKT', -1, '250.00')], { key: key('credit-note', 'G-5'), date: '2017-04-03', dueDate: '2017-04-03' });
    const doc = booked(buildCreditNote(input, invoice));
    expect(doc.lines.map((l) => [l.account, l.amount, l.part?.quantity])).toEqual([
      ['3400', chf('-100.00'), -1],
      ['3600', chf('-250.00'), -1],
    ]);
    expect(vatOn(doc)).toBe(chf('-28.00'));
    expect(doc.total).toBe(chf('-378.00'));
    expect(() => buildCreditNote({ ...input, lines: [part('BERATUNG', -11, '100.00')] }, invoice)).toThrow(OverCreditError);
    expect(() => buildCreditNote(sales('G-6', [income('-10.00')], { key: key('credit-note', 'G-6'), date: '2017-04-03', dueDate: '2017-04-03' }), invoice)).toThrow(/variant/);
  });
});

describe('C: storno', () => {
  const stornoInput = (invoice: InvoiceDocument, extra: { vatSettledUntil?: string; payments?: PaymentDocument[] } = {}) => ({
    key: key('storno', invoice.number),
    number: `${invoice.number}-S`,
    transferAccount: '1090',
    paymentKey: (side: 'invoice' | 'storno') => key('payment', invoice.number, `storno-${side}`),
    date: '2017-04-02',
    ...extra,
  });

  it('C2: booking variant storno mirrors the invoice with its date and nets both through the transfer account 1090', () => {
    const invoice = a11('R-10');
    const { storno, transfers, refundDue } = buildStorno(invoice, stornoInput(invoice));
    booked(storno);
    bookedAll(transfers);
    expect(storno.kind).toBe('storno');
    expect(storno.reverses).toBe('R-10');
    expect(storno.date).toBe(invoice.date);
    expect(storno.total).toBe(chf('-106.92'));
    const mirrored = Object.fromEntries(Object.entries(byAccount(invoice)).map(([account, amount]) => [account, -amount]));
    expect(byAccount(storno)).toEqual(mirrored);

    expect(transfers.map((t) => [t.purpose, t.appliesTo, t.account, t.amount, t.group])).toEqual([
      ['transfer', 'R-10', '1090', chf('106.92'), storno.group],
      ['transfer', 'R-10-S', '1090', chf('-106.92'), storno.group],
    ]);
    expect(() => assertTransferNetsZero(storno.group, transfers, '1090')).not.toThrow();
    const all = [invoice, storno, ...transfers];
    expect(balanceByCurrency(all, '1100')).toEqual({ CHF: 0 });
    expect(balanceByCurrency(all, '1090')).toEqual({ CHF: 0 });
    expect(openItemOf(invoice, transfers).status).toBe('paid');
    expect(openItemOf(storno, transfers).status).toBe('paid');
    expect(refundDue).toBe(0);

    // Only while the invoice's VAT period is open; otherwise a credit note dated today.
    expect(() => buildStorno(invoice, stornoInput(invoice, { vatSettledUntil: '2017-03-31' }))).toThrow(VatPeriodSettledError);
    expect(() => buildStorno(invoice, stornoInput(invoice, { vatSettledUntil: '2017-03-15' }))).toThrow(VatPeriodSettledError);
    const cancelled = cancelInvoice(invoice, { ...stornoInput(invoice, { vatSettledUntil: '2017-03-31' }), date: '2017-07-10', creditKey: key('credit-note', 'R-10'), creditNumber: 'R-10-G' });
    if (cancelled.kind !== 'credit-note') throw new Error('expected the credit-note fallback');
    booked(cancelled.creditNote);
    expect(cancelled.creditNote).toMatchObject({ kind: 'credit-note', number: 'R-10-G', credits: 'R-10', date: '2017-07-10', total: chf('-106.92') });
    const open = cancelInvoice(invoice, { ...stornoInput(invoice, { vatSettledUntil: '2017-02-28' }), creditKey: key('credit-note', 'R-10'), creditNumber: 'R-10-G' });
    if (open.kind !== 'storno') throw new Error('expected a storno while the VAT period is open');
    bookedAll([open.storno, ...open.transfers]);

    // Partly paid: the storno nets only what is open; the paid part is due back to the customer.
    const paid = booked(buildPayment({ key: key('payment', 'R-10', 'p1'), item: openItemOf(invoice, []), purpose: 'payment', account: '1090', amount: chf('50.00'), date: '2017-03-20' }));
    const partly = buildStorno(invoice, stornoInput(invoice, { payments: [paid] }));
    bookedAll([partly.storno, ...partly.transfers]);
    expect(partly.refundDue).toBe(chf('50.00'));
    expect(partly.transfers.map((t) => t.amount)).toEqual([chf('56.92'), chf('-56.92')]);
    expect(openItemOf(invoice, [paid, ...partly.transfers]).status).toBe('paid');
    expect(openItemOf(partly.storno, partly.transfers).open).toBe(chf('-50.00'));
  });

  it('C3: article variant storno negates the part quantities and mirrors every amount', () => {
    const invoice = booked(buildInvoice(articleSales('R-11', [part('BERATUNG', 4, '100.00'), part('RABATT', 1, '-50.00')])));
    const { storno, transfers } = buildStorno(invoice, stornoInput(invoice));
    booked(storno);
    bookedAll(transfers);
    expect(storno.variant).toBe('article');
    expect(storno.date).toBe(invoice.date);
    expect(storno.lines.map((l) => [l.account, l.amount, l.part])).toEqual([
      ['3400', chf('-400.00'), { number: 'BERATUNG', quantity: -4, unitPrice: chf('100.00'), unit: 'h' }],
      ['3400', chf('50.00'), { number: 'RABATT', quantity: -1, unitPrice: chf('-50.00') }],
    ]);
    expect(vatOn(storno)).toBe(chf('-28.00'));
    expect(storno.total).toBe(chf('-378.00'));
    const all = [invoice, storno, ...transfers];
    expect(balanceByCurrency(all, '1100')).toEqual({ CHF: 0 });
    expect(balanceByCurrency(all, '1090')).toEqual({ CHF: 0 });
    expect(balanceByCurrency(all)).toEqual({ CHF: 0 });
  });
});

describe('D: payments', () => {
  it('D1: a partial payment leaves the item partly paid, the rest pays it; more than is open is refused', () => {
    const invoice = a11('R-20');
    const pay = (amount: string, payments: PaymentDocument[], part: string) =>
      booked(buildPayment({ key: key('payment', 'R-20', part), item: openItemOf(invoice, payments), purpose: 'payment', account: '1090', amount: chf(amount), date: '2017-03-20', reference: 'pi_1' }));
    const first = pay('50.00', [], 'p1');
    expect(byAccount(first)).toEqual({ '1090': chf('50.00'), '1100': chf('-50.00') });
    expect(openItemOf(invoice, [first])).toMatchObject({ status: 'partly-paid', settled: chf('50.00'), open: chf('56.92') });
    expect(() => pay('56.93', [first], 'p2')).toThrow(OverpaymentError);
    const second = pay('56.92', [first], 'p2');
    expect(openItemOf(invoice, [first, second])).toMatchObject({ status: 'paid', open: 0 });
    expect(() => pay('0.01', [first, second], 'p3')).toThrow(OverpaymentError);
  });

  it('D2: a small difference either way is written off as a price reduction within the tolerance', () => {
    // The RMA recipe: 448.00 received on an open 648.00, 200.00 written off on 3801.
    const rma = open648('R-21');
    const docs = bookedAll(settle({ item: openItemOf(rma, []), date: '2017-04-01', received: chf('448.00'), clearingAccount: '1090', writeOff: { account: '3801', tolerance: chf('200.00') }, key: payKeys('R-21') }));
    expect(docs.map((d) => [d.purpose, d.account, d.amount])).toEqual([
      ['payment', '1090', chf('448.00')],
      ['price-reduction', '3801', chf('200.00')],
    ]);
    expect(openItemOf(rma, docs).status).toBe('paid');

    const invoice = a11('R-22');
    const received = (amount: string) =>
      bookedAll(settle({ item: openItemOf(invoice, []), date: '2017-04-01', received: chf(amount), clearingAccount: '1090', writeOff: { account: '3801', tolerance: chf('0.05') }, key: payKeys('R-22') }));
    const under = received('106.90');
    expect(under.map((d) => [d.purpose, d.amount])).toEqual([['payment', chf('106.90')], ['price-reduction', chf('0.02')]]);
    expect(openItemOf(invoice, under).status).toBe('paid');
    const over = received('106.95');
    expect(over.map((d) => [d.purpose, d.amount])).toEqual([['payment', chf('106.95')], ['price-reduction', chf('-0.03')]]);
    expect(openItemOf(invoice, over).status).toBe('paid');
    expect(() => received('107.00')).toThrow(OverpaymentError);
    // Short by more than the tolerance: a partial payment, nothing written off.
    const short = received('100.00');
    expect(short.map((d) => d.purpose)).toEqual(['payment']);
    expect(openItemOf(invoice, short)).toMatchObject({ status: 'partly-paid', open: chf('6.92') });
  });

  it('D3: bank fees: 644.00 received on an open 648.00, 4.00 on 6940', () => {
    const invoice = open648('R-23');
    const docs = bookedAll(settle({ item: openItemOf(invoice, []), date: '2017-04-01', received: chf('644.00'), clearingAccount: '1090', fee: { amount: chf('4.00'), account: '6940' }, key: payKeys('R-23') }));
    expect(docs.map((d) => [d.purpose, d.account, d.amount])).toEqual([
      ['payment', '1090', chf('644.00')],
      ['bank-fee', '6940', chf('4.00')],
    ]);
    expect(openItemOf(invoice, docs).status).toBe('paid');
    expect(balanceByCurrency(docs, '6940')).toEqual({ CHF: chf('4.00') });
  });

  it('D4: D4.1 skonto: 635.05 on the clearing account 1090 and 12.95 on 3800 settle an open 648.00', () => {
    const invoice = open648('R-24');
    const docs = bookedAll(settle({ item: openItemOf(invoice, []), date: '2017-04-01', received: chf('635.05'), clearingAccount: '1090', skonto: { amount: chf('12.95'), account: '3800' }, key: payKeys('R-24') }));
    expect(docs.map((d) => [d.purpose, d.account, d.amount])).toEqual([
      ['payment', '1090', chf('635.05')],
      ['skonto', '3800', chf('12.95')],
    ]);
    expect(openItemOf(invoice, docs)).toMatchObject({ status: 'paid', settled: chf('648.00') });
    expect(balanceByCurrency([invoice, ...docs], '1100')).toEqual({ CHF: 0 });
  });

  it('D5: netting an invoice against a credit note through the transfer account closes both and leaves 1090 at zero', () => {
    const invoice = a11('R-25');
    const credit = booked(buildCreditNote(sales('G-25', [income('-99.00')], { key: key('credit-note', 'G-25'), date: '2017-03-20', dueDate: '2017-03-20' }), invoice));
    const [pay, refund] = netThroughTransfer({
      debit: openItemOf(invoice, []),
      credit: openItemOf(credit, []),
      date: '2017-03-21',
      transferAccount: '1090',
      group: 'net:R-25/G-25',
      key: (side) => key('payment', 'R-25', `net-${side}`),
    });
    bookedAll([pay, refund]);
    expect([pay.appliesTo, pay.amount, refund.appliesTo, refund.amount]).toEqual(['R-25', chf('106.92'), 'G-25', chf('-106.92')]);
    expect(balanceByCurrency([pay, refund], '1090')).toEqual({ CHF: 0 });
    expect(openItemOf(invoice, [pay, refund]).status).toBe('paid');
    expect(openItemOf(credit, [pay, refund]).status).toBe('paid');
    expect(balanceByCurrency([invoice, credit, pay, refund], '1100')).toEqual({ CHF: 0 });
  });

  it('bank accounts: a payment to a configured bank account (1020) is refused (seed 003, "Der Umgang mit Bankkonten")', () => {
    const invoice = a11('R-26');
    const policy = { bankAccounts: ['1020'] };
    const item = openItemOf(invoice, []);
    expect(() => buildPayment({ key: key('payment', 'R-26', 'p1'), item, purpose: 'payment', account: '1020', amount: chf('106.92'), date: '2017-04-01' }, policy)).toThrow(/1020 is a bank account/);
    const viaSettle = () => settle({ item, date: '2017-04-01', received: chf('106.92'), clearingAccount: '1020', key: payKeys('R-26'), policy });
    expect(viaSettle).toThrow(BooksError);
    expect(booked(buildPayment({ key: key('payment', 'R-26', 'p1'), item, purpose: 'payment', account: '1090', amount: chf('106.92'), date: '2017-04-01' }, policy)).account).toBe('1090');
  });
});

describe('E: customers', () => {
  const customer = (overrides: Partial<Parameters<typeof buildCustomer>[0]> = {}) =>
    booked(buildCustomer({ key: key('customer', 'C-17'), number: 'C-17', name: 'Hans Muster', email: 'hans@muster.ch', address: { street: 'Rössliweg 1', zipcode: '3106', city: 'Tenna', country: 'CH' }, ...overrides }));

  it('E1: creating a customer derives person or company from the company name', () => {
    const person = customer();
    expect(person).toMatchObject({ kind: 'customer', number: 'C-17', name: 'Hans Muster', type: 'person' });
    expect(customer({ name: 'Muster AG', company: 'Muster AG' }).type).toBe('company');
    expect(customer({ type: 'company' }).type).toBe('company');
    expect(postingsOf(person)).toEqual([]);
    expect(() => customer({ name: ' ' })).toThrow(BooksError);
    expect(() => customer({ key: key('invoice', 'C-17') })).toThrow(/kind "customer"/);
  });

  it('E2: a changed customer is stored by the outbox as revision 2; an unchanged one is not stored again', async () => {
    const { db, drop } = await freshDatabase('sqlite');
    try {
      await migrateLatest(db);
      const snapshotId = await insertSnapshot(db, { source: 'shop', recordId: 'order-1', contentHash: 'h1', raw: '{}', origin: 'test' });
      const first = await storeDocument(db, customer(), snapshotId, true);
      expect(first).toMatchObject({ key: 'shop/C-17/customer/1', created: true });
      expect(await storeDocument(db, customer(), snapshotId, true)).toMatchObject({ key: 'shop/C-17/customer/1', created: false });

      const moved = customer({ address: { street: 'Seestrasse 88', zipcode: '8703', city: 'Erlenbach', country: 'CH' } });
      const second = await storeDocument(db, moved, snapshotId, true);
      expect(second).toMatchObject({ key: 'shop/C-17/customer/2', created: true });
      if (!('id' in second)) throw new Error('expected a stored revision');
      const loaded = (await loadDocuments(db, [second.id])).get(second.id);
      expect(loaded).toMatchObject({ kind: 'customer', key: { revision: 2 }, address: { city: 'Erlenbach' } });
    } finally {
      await drop();
    }
  });
});

describe('totals: cash rounding, residue, gross-first', () => {
  it('cash rounding: 106.92 becomes 106.90 with a rounding line of −0.02 on 6944', () => {
    const doc = a11('R-30', { cashRounding: { step: 5, account: '6944' } });
    expect(doc.total).toBe(chf('106.90'));
    expect(doc.rounding).toEqual([{ account: '6944', amount: chf('-0.02'), text: 'Cash rounding to 0.05', reason: 'cash' }]);
    expect(byAccount(doc)['6944']).toBe(chf('0.02'));
  });

  it("residue: the source's total is reproduced within maxResidue, beyond it TotalMismatchError", () => {
    const expectedTotal = (amount: string) => ({ expectedTotal: { expected: chf(amount), account: '6944', maxResidue: 2 } });
    const doc = a11('R-31', expectedTotal('106.93'));
    expect(doc.total).toBe(chf('106.93'));
    expect(doc.rounding).toEqual([{ account: '6944', amount: chf('0.01'), text: 'Rounding difference', reason: 'residue' }]);
    expect(a11('R-32', expectedTotal('106.92')).rounding).toEqual([]);
    expect(() => a11('R-33', expectedTotal('106.95'))).toThrow(TotalMismatchError);
  });

  it('gross-first: 1000.00 gross at 8 % stays 1000.00 (net 925.93, VAT 74.07)', () => {
    const doc = booked(buildInvoice(sales('R-34', [income('1000.00')], { vat: { basis: 'gross', rounding: 'per-line' } })));
    expect(doc.pricesIncludeVat).toBe(true);
    expect(doc.lines[0]!.amount).toBe(chf('925.93'));
    expect(vatOn(doc)).toBe(chf('74.07'));
    expect(doc.total).toBe(chf('1000.00'));
  });
});
