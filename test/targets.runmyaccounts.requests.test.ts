/**
 * The Run my Accounts request payloads (src/targets/runmyaccounts/requests.ts), one named test
 * per use case of RMA's API introduction (seed 003: A1–A8, B1/B2, C2/C3, D1–D5, E1/E2), built
 * from real documents of the books builders as in books.usecases.test.ts, with the numbers of
 * RMA's examples (8 % on 2201). The reference's own JSON examples (runmyaccounts.md §2.2, §2.3,
 * §4, §5) are in fixtures/runmyaccounts/reference-examples.json and compared field by field.
 *
 * Every request goes through `send`, which also asserts that a booking-variant invoice's
 * income and tax entries sum to exactly the document's total.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildCreditNote,
  buildCustomer,
  buildFinalInvoice,
  buildInvoice,
  buildPayment,
  buildStorno,
  netThroughTransfer,
  openItemOf,
  parseDecimal,
  settle,
  sum,
  times,
  vatRate,
  type Article,
  type BookDocument,
  type CustomerDocument,
  type InvoiceDocument,
  type SalesInput,
  type VatTreatment,
} from '../src/books/index.js';
import { articleSales, chf, income, key, part, payKeys, sales, V8 } from './usecase-documents.js';
import { RMA_TEXT_LIMITS, RmaPayloadError, rmaDateTime, rmaRequestsFor, type RmaRequest, type RmaRequestOptions } from '../src/targets/runmyaccounts/requests.js';

const REFERENCE = JSON.parse(readFileSync(new URL('./fixtures/runmyaccounts/reference-examples.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>> & {
  customerFields: string[];
};

const V81: VatTreatment = { rate: vatRate('8.1'), code: 'UN81', account: '2201' };


const OPTIONS: RmaRequestOptions = { mandant: 'muster' };
const BASE = '/api/latest/clients/muster';


const a11 = (number = 'A1-1', overrides: Partial<SalesInput> = {}): InvoiceDocument => buildInvoice(sales(number, [income('99.00')], overrides));
const open648 = (number: string): InvoiceDocument => buildInvoice(sales(number, [income('600.00', '3200', 'Ware')]));

type Entry = { amount: string; [field: string]: string };
type Body = Record<string, unknown> & {
  incomeentries?: { incomeentry: Entry[] };
  taxentries?: { taxentry: Entry[] };
  parts?: { part: Entry[] };
};

/**
 * The requests for `doc`. For a booking-variant sales document, also asserts that
 * Σ incomeentries + Σ taxentries is exactly its total; for an article variant with prices
 * including VAT, that Σ quantity × sellprice is.
 */
function send(doc: BookDocument, options: Partial<RmaRequestOptions> = {}): RmaRequest[] {
  const requests = rmaRequestsFor(doc, { ...OPTIONS, ...options });
  if (doc.kind === 'invoice' || doc.kind === 'credit-note' || doc.kind === 'storno') {
    const body = requests[0]!.body as Body;
    const minor = (text: string) => parseDecimal(text, 2);
    if (doc.variant === 'booking' && options.entryLists !== 'bare') {
      const amounts = [...body.incomeentries!.incomeentry, ...body.taxentries!.taxentry].map((e) => minor(e.amount));
      expect(sum(amounts), `Σ entries of ${doc.number}`).toBe(doc.total);
    }
    if (doc.variant === 'article' && doc.pricesIncludeVat) {
      const gross = body.parts!.part.map((p) => times(minor(p.sellprice!), Number(p.quantity)));
      expect(sum(gross), `Σ parts of ${doc.number}`).toBe(doc.total);
    }
  }
  return requests;
}

/** The single request of `doc`. */
function one(doc: BookDocument, options: Partial<RmaRequestOptions> = {}): RmaRequest {
  const requests = send(doc, options);
  expect(requests).toHaveLength(1);
  return requests[0]!;
}

const bodyOf = (doc: BookDocument, options: Partial<RmaRequestOptions> = {}) => one(doc, options).body as Body;
const incomeOf = (body: Body) => body.incomeentries!.incomeentry.map((e) => [e.amount, e.income_accno, e.description]);
const taxOf = (body: Body) => body.taxentries!.taxentry.map((e) => [e.amount, e.tax_accno]);

/** The header every sales request of the test data shares: March 2017 (+01:00) and due April 2017 (+02:00). */
const header = (number: string, overrides: Record<string, unknown> = {}) => ({
  invnumber: number,
  ordnumber: number,
  status: 'OPEN',
  currency: 'CHF',
  ar_accno: '1100',
  transdate: '2017-03-15T00:00:00+01:00',
  duedate: '2017-04-14T00:00:00+02:00',
  description: `Order ${number}`,
  notes: '',
  intnotes: '',
  taxincluded: 'false',
  dcn: '',
  customernumber: 'C-17',
  ...overrides,
});

describe('the reference examples (runmyaccounts.md §2.2, §2.3, §4, §5)', () => {
  const invoice100234 = () =>
    buildInvoice({
      key: key('invoice', '100234'),
      number: '100234',
      orderNumber: 'WS-100234',
      customerNumber: 'WS-C-42',
      currency: 'CHF',
      date: '2025-03-14',
      dueDate: '2025-04-13',
      description: 'Webshop order WS-100234',
      receivableAccount: '1100',
      vat: { basis: 'net', rounding: 'per-line' },
      lines: [{ text: 'Goods', account: '3200', vat: V81, amount: chf('100.00') }],
    });

  it('§2.2: a booking-variant invoice is the reference JSON, key for key and value for value', () => {
    const request = one(invoice100234());
    expect(request).toEqual({
      method: 'POST',
      path: `${BASE}/invoices`,
      contentType: 'application/json',
      body: REFERENCE.invoiceBooking,
      purpose: expect.stringContaining('Create invoice 100234'),
    });
    // The bare entity object: no {"invoice": …} wrapper.
    expect(JSON.stringify(request.body).startsWith('{"invnumber":"100234"')).toBe(true);
  });

  it('§5: a payment is the reference JSON', () => {
    const invoice = invoice100234();
    const payment = buildPayment({ key: key('payment', '100234', 'payment'), item: openItemOf(invoice, []), purpose: 'payment', account: '1090', amount: chf('108.10'), date: '2025-03-20', reference: 'pi_3Nx…', memo: 'Stripe' });
    expect(one(payment)).toEqual({
      method: 'POST',
      path: `${BASE}/invoices/100234/payments`,
      contentType: 'application/json',
      body: REFERENCE.payment,
      purpose: 'Book payment of CHF 108.10 on 100234 against account 1090, dated 2025-03-20',
    });
    // The official Transferkonto example has the same field names (it leaves out currency and exchangerate).
    expect(Object.keys(REFERENCE.transferPayment!).every((k) => k in REFERENCE.payment!)).toBe(true);
  });

  it('§4: a customer is the reference JSON less the fields kontor does not own (salutation, terms, arap_accno, notes)', () => {
    const customer = buildCustomer({
      key: key('customer', 'WS-C-42'),
      number: 'WS-C-42',
      type: 'company',
      name: 'Muster AG',
      company: 'Muster AG',
      firstName: 'Hans',
      lastName: 'Muster',
      email: 'hans@muster.ch',
      language: 'de',
      address: { street: 'Rössliweg 1', zipcode: '3106', city: 'Tenna', country: 'CH' },
    });
    const request = one(customer, { remittanceVoucher: false });
    const { salutation: _s, terms: _t, arap_accno: _a, notes: _n, ...owned } = REFERENCE.customer!;
    expect(request).toEqual({ method: 'POST', path: `${BASE}/customers`, contentType: 'application/json', body: { ...owned, taxnumber: '' }, purpose: expect.any(String) });
    expect(Object.keys(request.body!).filter((k) => !REFERENCE.customerFields.includes(k))).toEqual([]);
  });

  it('§2.3: an article-variant invoice has the reference header, part rows with documented fields, values as strings like the part entity', () => {
    const articles: Article[] = [
      { number: 'ART-2', account: '3200', vat: V81, unit: 'Stk' },
      { number: 'SHIPPING', account: '3200', vat: V81, role: 'shipping' },
    ];
    const doc = buildInvoice({
      ...sales('100235', [{ text: 'T-Shirt L', part: { number: 'ART-2', quantity: 2, unitPrice: chf('44.91') } }, { text: 'Post Priority', part: { number: 'SHIPPING', quantity: 1, unitPrice: chf('9.00') } }], {
        variant: 'article',
        articles,
        orderNumber: 'WS-100235',
        customerNumber: 'WS-C-42',
        date: '2025-03-14',
        dueDate: '2025-04-13',
        description: 'Webshop order WS-100235',
        vat: { basis: 'gross', rounding: 'per-line' },
      }),
    });
    const body = bodyOf(doc);
    const { parts: _parts, ...referenceHeader } = REFERENCE.invoiceParts!;
    const { parts, ...ourHeader } = body;
    expect(Object.keys(ourHeader)).toEqual(Object.keys(referenceHeader));
    // Same values, but every scalar a string as in RMA's own JSON examples (the C# client sends numbers and booleans).
    expect(ourHeader).toEqual({ ...referenceHeader, ar_accno: '1100', taxincluded: 'true' });
    expect(parts).toEqual({
      part: [
        { partnumber: 'ART-2', description: 'T-Shirt L', unit: 'Stk', quantity: '2', sellprice: '44.91', discount: '0.0' },
        { partnumber: 'SHIPPING', description: 'Post Priority', quantity: '1', sellprice: '9.00', discount: '0.0' },
      ],
    });
    for (const row of parts!.part) {
      expect(Object.keys(row).filter((k) => !(k in REFERENCE.partEntity!))).toEqual([]);
      expect(Object.values(row).every((v) => typeof v === 'string')).toBe(true);
    }
  });
});

describe('A: invoices', () => {
  it('A1: A1.1 is one income entry 99.00 on 3400 and one tax entry 7.92 on 2201', () => {
    expect(one(a11())).toEqual({
      method: 'POST',
      path: `${BASE}/invoices`,
      contentType: 'application/json',
      body: {
        ...header('A1-1'),
        incomeentries: { incomeentry: [{ amount: '99.00', income_accno: '3400', description: 'Dienstleistung' }] },
        taxentries: { taxentry: [{ amount: '7.92', tax_accno: '2201' }] },
      },
      purpose: 'Create invoice A1-1 for customer C-17 dated 2017-03-15, total CHF 106.92 (booking variant)',
    });
  });

  it('A2: A2.1 sends the discount as a negative income entry, VAT 72.00 on the net', () => {
    const doc = buildInvoice(sales('A2-1', [{ ...income('-100.00', '3400', 'Rabatt'), role: 'discount' }, income('400.00', '3400', 'Installationen'), income('600.00', '3400', 'Div. Software Dienstleistungen')]));
    const body = bodyOf(doc);
    expect(incomeOf(body)).toEqual([
      ['-100.00', '3400', 'Rabatt'],
      ['400.00', '3400', 'Installationen'],
      ['600.00', '3400', 'Div. Software Dienstleistungen'],
    ]);
    expect(taxOf(body)).toEqual([['72.00', '2201']]);
  });

  it('A3: A3.1 deposit invoice: 600.00 on the liability 2030, tax 48.00', () => {
    const doc = buildInvoice({ ...sales('A3-1', [income('600.00', '2030', 'Anzahlung')]), purpose: 'deposit' });
    const request = one(doc);
    expect(request.body).toEqual({
      ...header('A3-1'),
      incomeentries: { incomeentry: [{ amount: '600.00', income_accno: '2030', description: 'Anzahlung' }] },
      taxentries: { taxentry: [{ amount: '48.00', tax_accno: '2201' }] },
    });
    expect(request.purpose).toMatch(/^Create deposit invoice A3-1 /);
  });

  it('A4: A4.1 final settlement: +1200.00 on 3600, −600.00 on 2030, tax 48.00 on the difference', () => {
    const deposit = buildInvoice({ ...sales('A3-1', [income('600.00', '2030', 'Anzahlung')]), purpose: 'deposit' });
    const final = buildFinalInvoice(sales('A4-1', [income('1200.00', '3600', 'Div. Dienstleistungen')]), [deposit]);
    const request = one(final);
    expect(request.body).toEqual({
      ...header('A4-1'),
      incomeentries: {
        incomeentry: [
          { amount: '1200.00', income_accno: '3600', description: 'Div. Dienstleistungen' },
          { amount: '-600.00', income_accno: '2030', description: 'Deposit invoice A3-1' },
        ],
      },
      taxentries: { taxentry: [{ amount: '48.00', tax_accno: '2201' }] },
    });
    expect(request.purpose).toBe('Create final invoice A4-1 for customer C-17 dated 2017-03-15, total CHF 648.00 (booking variant; deducts deposit invoice A3-1)');
  });

  it('A5: article variant sends part rows; taxincluded follows the price mode', () => {
    const net = buildInvoice(articleSales('A5-1', [part('BERATUNG', 2, '49.50')]));
    expect(bodyOf(net)).toEqual({
      ...header('A5-1'),
      parts: { part: [{ partnumber: 'BERATUNG', description: 'BERATUNG', unit: 'h', quantity: '2', sellprice: '49.50', discount: '0.0' }] },
    });
    const gross = buildInvoice(articleSales('A5-2', [part('BERATUNG', 2, '53.46')], { vat: { basis: 'gross', rounding: 'per-line' } }));
    expect(gross.total).toBe(chf('106.92'));
    expect(bodyOf(gross)).toMatchObject({ taxincluded: 'true', parts: { part: [{ partnumber: 'BERATUNG', quantity: '2', sellprice: '53.46' }] } });
  });

  it('A6: article variant discount is a negative part line (by price or by quantity)', () => {
    const byPrice = buildInvoice(articleSales('A6-1', [part('RABATT', 1, '-100.00'), part('BERATUNG', 4, '100.00'), part('BERATUNG', 6, '100.00')]));
    expect(bodyOf(byPrice).parts!.part.map((p) => [p.partnumber, p.quantity, p.sellprice])).toEqual([
      ['RABATT', '1', '-100.00'],
      ['BERATUNG', '4', '100.00'],
      ['BERATUNG', '6', '100.00'],
    ]);
    const byQuantity = buildInvoice(articleSales('A6-2', [part('RABATT', -1, '100.00'), part('BERATUNG', 4, '100.00'), part('BERATUNG', 6, '100.00')]));
    expect(bodyOf(byQuantity).parts!.part[0]).toEqual({ partnumber: 'RABATT', description: 'RABATT', quantity: '-1', sellprice: '100.00', discount: '0.0' });
  });

  it('A7: article variant deposit invoice through the deposit part', () => {
    const doc = buildInvoice({ ...articleSales('A7-1', [part('AKONTO', 1, '600.00')]), purpose: 'deposit' });
    const request = one(doc);
    expect(request.body).toEqual({ ...header('A7-1'), parts: { part: [{ partnumber: 'AKONTO', description: 'AKONTO', quantity: '1', sellprice: '600.00', discount: '0.0' }] } });
    expect(request.purpose).toMatch(/^Create deposit invoice A7-1 .*article variant/);
  });

  it('A8: article variant final settlement deducts the deposit part at quantity −1', () => {
    const deposit = buildInvoice({ ...articleSales('A7-1', [part('AKONTO', 1, '600.00')]), purpose: 'deposit' });
    const final = buildFinalInvoice(articleSales('A8-1', [part('PROJEKT', 12, '100.00')]), [deposit]);
    expect(bodyOf(final)).toEqual({
      ...header('A8-1'),
      parts: {
        part: [
          { partnumber: 'PROJEKT', description: 'PROJEKT', quantity: '12', sellprice: '100.00', discount: '0.0' },
          { partnumber: 'AKONTO', description: 'Deposit invoice A7-1', quantity: '-1', sellprice: '600.00', discount: '0.0' },
        ],
      },
    });
  });

  it('rounding: a cash rounding line is a VAT-free income entry on its account, and the entries still sum to the total', () => {
    const doc = a11('R-30', { cashRounding: { step: 5, account: '6944' } });
    expect(doc.total).toBe(chf('106.90'));
    const body = bodyOf(doc);
    expect(incomeOf(body)).toEqual([
      ['99.00', '3400', 'Dienstleistung'],
      ['-0.02', '6944', 'Cash rounding to 0.05'],
    ]);
    expect(taxOf(body)).toEqual([['7.92', '2201']]);
    const residue = a11('R-31', { expectedTotal: { expected: chf('106.93'), account: '6944', maxResidue: 2 } });
    expect(incomeOf(bodyOf(residue))[1]).toEqual(['0.01', '6944', 'Rounding difference']);
  });

  it('rounding, article variant: refused without a rounding part, a part line with one', () => {
    const doc = buildInvoice(articleSales('R-32', [part('BERATUNG', 2, '49.50')], { cashRounding: { step: 5, account: '6944' } }));
    expect(() => send(doc)).toThrow(RmaPayloadError);
    expect(() => send(doc)).toThrow(/cash rounding of -0.02 CHF .*option roundingPart/);
    try {
      send(doc);
    } catch (error) {
      expect((error as RmaPayloadError).field).toBe('rounding');
    }
    expect(bodyOf(doc, { roundingPart: 'RUNDUNG' }).parts!.part).toEqual([
      { partnumber: 'BERATUNG', description: 'BERATUNG', unit: 'h', quantity: '2', sellprice: '49.50', discount: '0.0' },
      { partnumber: 'RUNDUNG', description: 'Cash rounding to 0.05', quantity: '1', sellprice: '-0.02', discount: '0.0' },
    ]);
  });

  it('a 0 % line has no tax entry; several rates give one tax entry per VAT account', () => {
    const V0: VatTreatment = { rate: vatRate('0'), code: 'EXPORT', account: '' };
    const V25: VatTreatment = { rate: vatRate('2.5'), code: 'UR25', account: '2203' };
    const doc = buildInvoice(sales('R-33', [income('100.00'), { text: 'Buch', account: '3200', vat: V25, amount: chf('40.00') }, { text: 'Export', account: '3200', vat: V0, amount: chf('10.00') }]));
    const body = bodyOf(doc);
    expect(incomeOf(body).map((e) => e[0])).toEqual(['100.00', '40.00', '10.00']);
    expect(taxOf(body)).toEqual([
      ['8.00', '2201'],
      ['1.00', '2203'],
    ]);
    const exportOnly = bodyOf(buildInvoice(sales('R-34', [{ text: 'Export', account: '3200', vat: V0, amount: chf('10.00') }])));
    expect(exportOnly.taxentries).toEqual({ taxentry: [] });
  });

  it('amounts are exact decimal strings in the currency: trailing zeros kept, 0 decimals for JPY', () => {
    const cents = bodyOf(buildInvoice(sales('R-35', [income('0.10'), income('0.20')])));
    expect(incomeOf(cents).map((e) => e[0])).toEqual(['0.10', '0.20']);
    expect(taxOf(cents)).toEqual([['0.03', '2201']]); // per-line VAT: 0.01 + 0.02
    const big = bodyOf(buildInvoice(sales('R-36', [income('123456789012.34')])));
    expect(incomeOf(big)[0]![0]).toBe('123456789012.34');
    expect(taxOf(big)).toEqual([['9876543120.99', '2201']]);
    const yen = buildInvoice(sales('R-37', [{ text: 'Tee', account: '3200', vat: V8, amount: parseDecimal('1250', 0) }], { currency: 'JPY' }));
    const body = rmaRequestsFor(yen, OPTIONS)[0]!.body as Body;
    expect(body.currency).toBe('JPY');
    expect(incomeOf(body)).toEqual([['1250', '3200', 'Tee']]);
    expect(taxOf(body)).toEqual([['100', '2201']]);
  });
});

describe('B: credit notes', () => {
  it('B1: booking variant credit note is an invoice with negative income and tax entries', () => {
    const invoice = a11('R-1');
    const credit = buildCreditNote(sales('G-1', [income('-50.00')], { key: key('credit-note', 'G-1'), date: '2017-04-03', dueDate: '2017-04-03' }), invoice);
    const request = one(credit);
    expect(request).toEqual({
      method: 'POST',
      path: `${BASE}/invoices`,
      contentType: 'application/json',
      body: {
        ...header('G-1', { ordnumber: 'R-1', transdate: '2017-04-03T00:00:00+02:00', duedate: '2017-04-03T00:00:00+02:00', intnotes: 'Credit note for invoice R-1' }),
        incomeentries: { incomeentry: [{ amount: '-50.00', income_accno: '3400', description: 'Dienstleistung' }] },
        taxentries: { taxentry: [{ amount: '-4.00', tax_accno: '2201' }] },
      },
      purpose: 'Create credit note G-1 for customer C-17 dated 2017-04-03, total CHF -54.00 (booking variant; credits invoice R-1)',
    });
  });

  it('B2: article variant credit note sends the parts with negative amounts', () => {
    const invoice = buildInvoice(articleSales('R-2', [part('BERATUNG', 2, '49.50')]));
    const credit = buildCreditNote(articleSales('G-2', [part('BERATUNG', -1, '49.50')], { key: key('credit-note', 'G-2'), date: '2017-04-03', dueDate: '2017-04-03' }), invoice);
    expect(bodyOf(credit)).toMatchObject({
      invnumber: 'G-2',
      taxincluded: 'false',
      intnotes: 'Credit note for invoice R-2',
      parts: { part: [{ partnumber: 'BERATUNG', description: 'BERATUNG', unit: 'h', quantity: '-1', sellprice: '49.50', discount: '0.0' }] },
    });
  });
});

describe('C: storno', () => {
  const stornoOf = (invoice: InvoiceDocument) =>
    buildStorno(invoice, {
      key: key('storno', invoice.number),
      number: `${invoice.number}-S`,
      transferAccount: '1090',
      paymentKey: (side) => key('payment', invoice.number, `storno-${side}`),
      date: '2017-04-02',
    });

  it("C2: the storno is the invoice's mirror with its date; its two transfer payments net on 1090", () => {
    const invoice = a11('R-10');
    const { storno, transfers } = stornoOf(invoice);
    expect(bodyOf(storno)).toEqual({
      ...header('R-10-S', { ordnumber: 'R-10', description: 'Storno of invoice R-10', intnotes: 'Storno of invoice R-10' }),
      incomeentries: { incomeentry: [{ amount: '-99.00', income_accno: '3400', description: 'Dienstleistung' }] },
      taxentries: { taxentry: [{ amount: '-7.92', tax_accno: '2201' }] },
    });
    expect(one(storno).purpose).toContain('reverses invoice R-10');
    const requests = transfers.flatMap((t) => send(t));
    expect(requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ['POST', `${BASE}/invoices/R-10/payments`, { datepaid: '2017-04-02T00:00:00+02:00', amount_paid: '106.92', source: '', memo: 'Storno R-10-S of R-10', payment_accno: '1090', currency: 'CHF', exchangerate: '1.0' }],
      ['POST', `${BASE}/invoices/R-10-S/payments`, { datepaid: '2017-04-02T00:00:00+02:00', amount_paid: '-106.92', source: '', memo: 'Storno R-10-S of R-10', payment_accno: '1090', currency: 'CHF', exchangerate: '1.0' }],
    ]);
    expect(requests[1]!.purpose).toBe(`Book transfer of CHF -106.92 on R-10-S against account 1090, dated 2017-04-02 (group ${storno.group})`);
  });

  it('C3: article variant storno negates the part quantities', () => {
    const invoice = buildInvoice(articleSales('R-11', [part('BERATUNG', 4, '100.00'), part('RABATT', 1, '-50.00')]));
    const { storno } = stornoOf(invoice);
    expect(bodyOf(storno).parts!.part.map((p) => [p.partnumber, p.quantity, p.sellprice])).toEqual([
      ['BERATUNG', '-4', '100.00'],
      ['RABATT', '-1', '-50.00'],
    ]);
  });
});

describe('D: payments', () => {
  const payments = (docs: BookDocument[]) => docs.flatMap((d) => send(d)).map((r) => [r.path.slice(BASE.length), (r.body as Body).amount_paid, (r.body as Body).payment_accno, (r.body as Body).memo]);

  it('D1: a payment (partial or in full) is amount_paid on the clearing account, with the PSP reference as source', () => {
    const invoice = a11('R-20');
    const doc = buildPayment({ key: key('payment', 'R-20', 'p1'), item: openItemOf(invoice, []), purpose: 'payment', account: '1090', amount: chf('50.00'), date: '2017-03-20', reference: 'pi_1' });
    expect(one(doc)).toEqual({
      method: 'POST',
      path: `${BASE}/invoices/R-20/payments`,
      contentType: 'application/json',
      body: { datepaid: '2017-03-20T00:00:00+01:00', amount_paid: '50.00', source: 'pi_1', memo: 'Payment', payment_accno: '1090', currency: 'CHF', exchangerate: '1.0' },
      purpose: 'Book payment of CHF 50.00 on R-20 against account 1090, dated 2017-03-20',
    });
  });

  it('D2: the Rabatt/Preisnachlass recipe: 448.00 received and 200.00 on 3801, two POSTs; an overpayment is written off negative', () => {
    const invoice = open648('R-21');
    const docs = settle({ item: openItemOf(invoice, []), date: '2017-04-01', received: chf('448.00'), clearingAccount: '1090', writeOff: { account: '3801', tolerance: chf('200.00') }, key: payKeys('R-21') });
    expect(payments(docs)).toEqual([
      ['/invoices/R-21/payments', '448.00', '1090', 'Payment'],
      ['/invoices/R-21/payments', '200.00', '3801', 'Price reduction'],
    ]);
    const over = settle({ item: openItemOf(a11('R-22'), []), date: '2017-04-01', received: chf('106.95'), clearingAccount: '1090', writeOff: { account: '3801', tolerance: chf('0.05') }, key: payKeys('R-22'), memo: 'Stripe' });
    expect(payments(over)).toEqual([
      ['/invoices/R-22/payments', '106.95', '1090', 'Stripe'],
      ['/invoices/R-22/payments', '-0.03', '3801', 'Stripe'],
    ]);
  });

  it('D3: the Bank-/PC-Spesen recipe: 644.00 received and 4.00 on 6940', () => {
    const docs = settle({ item: openItemOf(open648('R-23'), []), date: '2017-04-01', received: chf('644.00'), clearingAccount: '1090', fee: { amount: chf('4.00'), account: '6940' }, key: payKeys('R-23') });
    expect(payments(docs)).toEqual([
      ['/invoices/R-23/payments', '644.00', '1090', 'Payment'],
      ['/invoices/R-23/payments', '4.00', '6940', 'Bank fees'],
    ]);
  });

  it('D4: D4.1 skonto: 635.05 on the clearing account and 12.95 on 3800', () => {
    const docs = settle({ item: openItemOf(open648('R-24'), []), date: '2017-04-01', received: chf('635.05'), clearingAccount: '1090', skonto: { amount: chf('12.95'), account: '3800' }, key: payKeys('R-24') });
    const requests = docs.flatMap((d) => send(d));
    expect(requests.map((r) => r.body)).toEqual([
      { datepaid: '2017-04-01T00:00:00+02:00', amount_paid: '635.05', source: '', memo: 'Payment', payment_accno: '1090', currency: 'CHF', exchangerate: '1.0' },
      { datepaid: '2017-04-01T00:00:00+02:00', amount_paid: '12.95', source: '', memo: 'Skonto', payment_accno: '3800', currency: 'CHF', exchangerate: '1.0' },
    ]);
    expect(requests[1]!.purpose).toBe('Book skonto of CHF 12.95 on R-24 against account 3800, dated 2017-04-01');
  });

  it('D5: netting an invoice against a credit note: +106.92 and −106.92 on the transfer account', () => {
    const invoice = a11('R-25');
    const credit = buildCreditNote(sales('G-25', [income('-99.00')], { key: key('credit-note', 'G-25'), date: '2017-03-20', dueDate: '2017-03-20' }), invoice);
    const pair = netThroughTransfer({ debit: openItemOf(invoice, []), credit: openItemOf(credit, []), date: '2017-03-21', transferAccount: '1090', group: 'net:R-25/G-25', key: (side) => key('payment', 'R-25', `net-${side}`) });
    expect(payments(pair)).toEqual([
      ['/invoices/R-25/payments', '106.92', '1090', 'Netting R-25 / G-25'],
      ['/invoices/G-25/payments', '-106.92', '1090', 'Netting R-25 / G-25'],
    ]);
  });

  it('a payment in a currency other than the base currency carries no exchange rate', () => {
    const invoice = buildInvoice(sales('R-27', [income('100.00')], { currency: 'EUR' }));
    const doc = buildPayment({ key: key('payment', 'R-27', 'p1'), item: openItemOf(invoice, []), purpose: 'payment', account: '1090', amount: parseDecimal('108.00', 2), date: '2017-03-20' });
    expect(bodyOf(doc)).toEqual({ datepaid: '2017-03-20T00:00:00+01:00', amount_paid: '108.00', source: '', memo: 'Payment', payment_accno: '1090', currency: 'EUR' });
    expect(bodyOf(doc, { baseCurrency: 'EUR' }).exchangerate).toBe('1.0');
  });
});

describe('E: customers', () => {
  const customer = (overrides: Partial<Parameters<typeof buildCustomer>[0]> = {}): CustomerDocument =>
    buildCustomer({ key: key('customer', 'C-17'), number: 'C-17', name: 'Hans Muster', firstName: 'Hans', lastName: 'Muster', email: 'hans@muster.ch', address: { street: 'Rössliweg 1', zipcode: '3106', city: 'Tenna', country: 'CH' }, ...overrides });

  it('E1: a new customer is POST …/customers with every field kontor owns, empty ones as ""', () => {
    expect(one(customer())).toEqual({
      method: 'POST',
      path: `${BASE}/customers`,
      contentType: 'application/json',
      body: {
        customernumber: 'C-17',
        name: 'Hans Muster',
        typeofcontact: 'person',
        firstname: 'Hans',
        lastname: 'Muster',
        address1: 'Rössliweg 1',
        address2: '',
        zipcode: '3106',
        city: 'Tenna',
        country: 'CH',
        email: 'hans@muster.ch',
        phone: '',
        taxnumber: '',
      },
      purpose: 'Create customer C-17 (Hans Muster), or update it if RMA has it already',
    });
    expect(bodyOf(customer({ type: 'company', name: 'Muster AG', company: 'Muster AG', vatId: 'CHE-123.456.789 MWST', language: 'de' }))).toMatchObject({
      name: 'Muster AG',
      typeofcontact: 'company',
      taxnumber: 'CHE-123.456.789 MWST',
      language_code: 'de',
    });
    expect(bodyOf(customer(), { remittanceVoucher: true }).remittancevoucher).toBe('true');
  });

  it('E2: a changed customer (revision 2) is the same create-or-update POST with the full new state', () => {
    const moved = customer({ key: { ...key('customer', 'C-17'), revision: 2 }, phone: '', address: { street: 'Seestrasse 88', zipcode: '8703', city: 'Erlenbach', country: 'CH' } });
    const request = one(moved);
    expect([request.method, request.path]).toEqual(['POST', `${BASE}/customers`]);
    expect(request.body).toMatchObject({ customernumber: 'C-17', address1: 'Seestrasse 88', address2: '', zipcode: '8703', city: 'Erlenbach', phone: '' });
    expect(request.purpose).toMatch(/^Update customer C-17 \(Hans Muster\), revision 2: /);
  });
});

describe('TEXT limits', () => {
  const customer = (address: CustomerDocument['address'] = {}, overrides: Partial<Parameters<typeof buildCustomer>[0]> = {}) =>
    buildCustomer({ key: key('customer', 'C-17'), number: 'C-17', name: 'Hans Muster', address, ...overrides });
  const long = (n: number) => 'x'.repeat(n);

  const cases: [string, (n: number) => BookDocument][] = [
    ['customernumber', (n) => customer({}, { number: long(n) })],
    ['name', (n) => customer({}, { name: long(n) })],
    ['firstname', (n) => customer({}, { firstName: long(n) })],
    ['lastname', (n) => customer({}, { lastName: long(n) })],
    ['address1', (n) => customer({ street: long(n) })],
    ['address2', (n) => customer({ street2: long(n) })],
    ['zipcode', (n) => customer({ zipcode: long(n) })],
    ['city', (n) => customer({ city: long(n) })],
    ['country', (n) => customer({ country: long(n) })],
    ['phone', (n) => customer({}, { phone: long(n) })],
    ['taxnumber', (n) => customer({}, { vatId: long(n) })],
    ['language_code', (n) => customer({}, { language: long(n) })],
    ['customernumber', (n) => a11('R-40', { customerNumber: long(n) })],
    ['currency', (n) => ({ ...a11('R-41'), currency: long(n) })],
  ];

  it.each(cases)('%s: at the limit it is sent, one character more is refused naming the field and the limit', (field, make) => {
    const limit = RMA_TEXT_LIMITS[field as keyof typeof RMA_TEXT_LIMITS];
    if (field !== 'currency') expect(() => send(make(limit))).not.toThrow();
    let error: unknown;
    try {
      rmaRequestsFor(make(limit + 1), OPTIONS);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RmaPayloadError);
    expect(error).toBeInstanceOf(Error);
    expect((error as RmaPayloadError).field).toBe(field);
    expect((error as RmaPayloadError).limit).toBe(limit);
    expect((error as Error).message).toContain(`${field} "${long(limit + 1)}" is ${limit + 1} characters; Run my Accounts allows ${limit} (TEXT(${limit}))`);
  });

  it('the documented limits: customernumber 32, name 64, firstname/lastname 32, address 32, zipcode 10, city 32, phone 20, taxnumber 32, currency 3, unit 5', () => {
    expect(RMA_TEXT_LIMITS).toMatchObject({ customernumber: 32, name: 64, firstname: 32, lastname: 32, address1: 32, address2: 32, zipcode: 10, city: 32, phone: 20, taxnumber: 32, currency: 3, unit: 5 });
  });

  it('unit: a part line unit over 5 characters is refused with the part line named', () => {
    const articles: Article[] = [{ number: 'BERATUNG', account: '3400', vat: V8, unit: 'Stunde' }];
    const doc = buildInvoice(sales('R-42', [part('BERATUNG', 1, '10.00')], { variant: 'article', articles }));
    expect(() => send(doc)).toThrow(RmaPayloadError);
    expect(() => send(doc)).toThrow('parts[0].unit "Stunde" is 6 characters; Run my Accounts allows 5 (TEXT(5))');
  });

  it('characters, not UTF-16 units or bytes, are counted', () => {
    expect(() => send(customer({ city: 'ü'.repeat(32) }))).not.toThrow();
    expect(() => send(customer({ city: '😀'.repeat(32) }))).not.toThrow();
    expect(() => send(customer({ city: '😀'.repeat(33) }))).toThrow(RmaPayloadError);
  });
});

describe('dates: local midnight with the offset of that date', () => {
  it('Europe/Zurich by default: +01:00 in winter, +02:00 in summer, right on both sides of the DST switches', () => {
    expect(rmaDateTime('2026-03-14')).toBe('2026-03-14T00:00:00+01:00');
    expect(rmaDateTime('2026-07-01')).toBe('2026-07-01T00:00:00+02:00');
    // DST starts 2026-03-29 at 02:00 and ends 2026-10-25 at 03:00: midnight is before the switch.
    expect(rmaDateTime('2026-03-29')).toBe('2026-03-29T00:00:00+01:00');
    expect(rmaDateTime('2026-03-30')).toBe('2026-03-30T00:00:00+02:00');
    expect(rmaDateTime('2026-10-25')).toBe('2026-10-25T00:00:00+02:00');
    expect(rmaDateTime('2026-10-26')).toBe('2026-10-26T00:00:00+01:00');
    expect(rmaDateTime('2012-08-06')).toBe('2012-08-06T00:00:00+02:00'); // the docs' example date
  });

  it('other zones, negative and half-hour offsets', () => {
    expect(rmaDateTime('2026-07-01', 'UTC')).toBe('2026-07-01T00:00:00+00:00');
    expect(rmaDateTime('2026-01-15', 'America/New_York')).toBe('2026-01-15T00:00:00-05:00');
    expect(rmaDateTime('2026-07-15', 'America/New_York')).toBe('2026-07-15T00:00:00-04:00');
    expect(rmaDateTime('2026-01-15', 'Asia/Kolkata')).toBe('2026-01-15T00:00:00+05:30');
    expect(rmaDateTime('2026-01-15', 'America/St_Johns')).toBe('2026-01-15T00:00:00-03:30');
  });

  it('a document dated in summer is sent with +02:00, and the timeZone option applies to every date', () => {
    const summer = buildInvoice(sales('R-50', [income('10.00')], { date: '2026-07-01', dueDate: '2026-07-31' }));
    expect(bodyOf(summer)).toMatchObject({ transdate: '2026-07-01T00:00:00+02:00', duedate: '2026-07-31T00:00:00+02:00' });
    expect(bodyOf(summer, { timeZone: 'UTC' })).toMatchObject({ transdate: '2026-07-01T00:00:00+00:00', duedate: '2026-07-31T00:00:00+00:00' });
  });

  it('refuses an unknown time zone and a date that is not a calendar date', () => {
    expect(() => send(a11(), { timeZone: 'Europe/Zürich' })).toThrow(RmaPayloadError);
    expect(() => rmaDateTime('2026-01-01', 'Mars/Olympus')).toThrow(expect.objectContaining({ field: 'timeZone' }));
    expect(() => rmaDateTime('2026-02-30')).toThrow(expect.objectContaining({ field: 'date' }));
  });
});

describe('options and paths', () => {
  it('paths: /api/{version}/clients/{mandant}/…, mandant and invoice number URL-encoded; an empty mandant is refused', () => {
    expect(one(a11(), { mandant: 'muster gmbh' }).path).toBe('/api/latest/clients/muster%20gmbh/invoices');
    expect(one(a11(), { apiVersion: 'v1' }).path).toBe('/api/v1/clients/muster/invoices');
    const invoice = a11('2026/17');
    const payment = buildPayment({ key: key('payment', '2026/17', 'p1'), item: openItemOf(invoice, []), purpose: 'payment', account: '1090', amount: chf('10.00'), date: '2017-03-20' });
    expect(one(payment).path).toBe(`${BASE}/invoices/2026%2F17/payments`);
    expect(() => send(a11(), { mandant: ' ' })).toThrow(expect.objectContaining({ name: 'RmaPayloadError', field: 'mandant' }));
    expect(one(a11()).query).toBeUndefined();
  });

  it('orderNumber: strip (default) keeps only [A-Za-z0-9_.-\\] like the C# client; keep sends it unchanged', () => {
    const doc = a11('R-60', { orderNumber: '#1001 / Müller_2.a-b\\c' });
    expect(bodyOf(doc).ordnumber).toBe('1001Mller_2.a-b\\c');
    expect(bodyOf(doc, { orderNumber: 'keep' }).ordnumber).toBe('#1001 / Müller_2.a-b\\c');
  });

  it('entryLists: bare sends the entry lists without their element wrapper', () => {
    const body = bodyOf(a11(), { entryLists: 'bare' });
    expect(body.incomeentries).toEqual([{ amount: '99.00', income_accno: '3400', description: 'Dienstleistung' }]);
    expect(body.taxentries).toEqual([{ amount: '7.92', tax_accno: '2201' }]);
    // Parts keep their confirmed wrapper either way.
    expect(bodyOf(buildInvoice(articleSales('R-61', [part('BERATUNG', 1, '10.00')])), { entryLists: 'bare' }).parts).toEqual({ part: [expect.objectContaining({ partnumber: 'BERATUNG' })] });
  });

  it('partAccounts: send adds income_accno and tax_accnos to each part line', () => {
    const doc = buildInvoice(articleSales('R-62', [part('BERATUNG', 1, '10.00'), part('PROJEKT', 1, '5.00')]));
    expect(bodyOf(doc, { partAccounts: 'send' }).parts!.part.map((p) => [p.partnumber, p.income_accno, p.tax_accnos])).toEqual([
      ['BERATUNG', '3400', '2201'],
      ['PROJEKT', '3600', '2201'],
    ]);
  });

  it('is pure: the same document and options give the same requests, and the document is not changed', () => {
    const doc = a11('R-63');
    const before = JSON.stringify(doc);
    expect(send(doc)).toEqual(send(doc));
    expect(JSON.stringify(doc)).toBe(before);
  });
});
