/**
 * The Billecta request payloads (src/targets/billecta/requests.ts): what kontor would send for
 * each kind of document, built from real documents of the books builders (SEK, 25 % and 12 %),
 * every body validated against Billecta's own view-model schema (test/fixtures/billecta).
 */
import { describe, expect, it } from 'vitest';
import {
  buildCreditNote,
  buildCustomer,
  buildInvoice,
  buildStorno,
  creditInFull,
  minor,
  openItemOf,
  postingsOf,
  settle,
  sum,
  times,
  vatFromNet,
  vatRate,
  type BookDocument,
  type InvoiceDocument,
  type PaymentPurpose,
  type VatTreatment,
} from '../src/books/index.js';
import {
  billectaCallId,
  billectaDate,
  billectaRequestsFor,
  majorUnits,
  resolveBillectaPlaceholders,
  uuidV5,
  vatPercent,
  BillectaPayloadError,
  type BillectaRequest,
  type BillectaRequestOptions,
} from '../src/targets/billecta/requests.js';
import { ajv, validatorOf, viewOf } from './billecta-schemas.js';
import { ARTICLES, CREDITOR, key, ORDER_LINES, part, sales, sek, V25 } from './billecta-documents.js';

// ── Billecta's schemas: test/billecta-schemas.ts ─────────────────────────────────────────

const DEBTOR_ID = '0a3ee027-f1ec-4049-bec1-3e1394a8abaa';
const ACTION_ID = '7545769088';
/** Ids Billecta would have answered: a GUID per product, a plain string per action. */
const resolved = (r: BillectaRequest) =>
  resolveBillectaPlaceholders(r, (kind, key) => (kind === 'debtor' ? DEBTOR_ID : kind === 'product' ? uuidV5(key, '6ba7b811-9dad-11d1-80b4-00c04fd430c8') : `${ACTION_ID}-${key}`));

/** Every body validates against its view model once Billecta's ids are in; returns the requests. */
function valid(requests: BillectaRequest[]): BillectaRequest[] {
  for (const request of requests) {
    const view = viewOf(request);
    if (!view) continue;
    const validate = validatorOf(view);
    const ok = validate(resolved(request).body);
    expect(ok, `${request.method} ${request.path} as ${view}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
  return requests;
}

// ── documents ────────────────────────────────────────────────────────────────────────────


/** Asserts that the document balances, and hands it back. */
function booked<T extends BookDocument>(doc: T): T {
  expect(sum(postingsOf(doc).map((p) => p.amount))).toBe(0);
  return doc;
}

const netInvoice = (subject = '5001', number = '1001'): InvoiceDocument => booked(buildInvoice(sales(subject, number, ORDER_LINES(false))));
const grossInvoice = (): InvoiceDocument => booked(buildInvoice(sales('5002', '1002', ORDER_LINES(true), { vat: { basis: 'gross', rounding: 'per-line' } })));

const OPTIONS: BillectaRequestOptions = { creditorPublicId: CREDITOR, deliveryMethod: 'Email', paymentMeanCodes: { '1580': 'CARD', '1581': 'KLARNA' } };
const requestsOf = (doc: BookDocument, options: Partial<BillectaRequestOptions> = {}) => valid(billectaRequestsFor(doc, { ...OPTIONS, ...options }));

const payKey = (subject: string) => (p: PaymentPurpose | string) => key('payment', subject, p);

type Body = Record<string, unknown>;
type RecordBody = { Quantity: number; UnitPrice: { CurrencyCode: string; Value: number }; VAT: number; VatIsIncluded: boolean };
const recordsOf = (request: BillectaRequest) => (request.body as Body).Records as RecordBody[];

/** Σ records as Billecta totals them: quantity × unit price, plus VAT per record when prices exclude it. */
function recordTotal(records: RecordBody[]): number {
  return sum(
    records.map((r) => {
      const amount = times(minor(r.UnitPrice.Value), r.Quantity);
      return r.VatIsIncluded ? amount : minor(amount + vatFromNet(amount, vatRate(String(r.VAT))));
    }),
  );
}

const shape = (requests: BillectaRequest[]) => requests.map((r) => `${r.method} ${r.path}`);

// ── tests ────────────────────────────────────────────────────────────────────────────────

describe('Billecta: the schemas as the contract', () => {
  it('accepts enum names and refuses the integers the schemas list', () => {
    const validate = validatorOf('DebtorView');
    expect(validate({ CreditorPublicId: CREDITOR, DebtorType: 'Private' })).toBe(true);
    expect(validate({ CreditorPublicId: CREDITOR, DebtorType: 0 })).toBe(false);
    expect(validate({ CreditorPublicId: CREDITOR, DebtorType: 'Person' })).toBe(false);
    expect(validate({ CreditorPublicId: CREDITOR, Nickname: 'x' })).toBe(false);
    expect(validate({ CreditorPublicId: '{debtor:SH-1}' })).toBe(false);
  });
});

describe('Billecta: customer → debtor', () => {
  it('looks the debtor up by DebtorExternalId, then creates it with a DebtorView', () => {
    const doc = buildCustomer({
      key: key('customer', 'SH-123'),
      number: 'SH-123',
      name: 'Anna Andersson',
      firstName: 'Anna',
      lastName: 'Andersson',
      email: 'anna@example.se',
      phone: '+46701234567',
      vatId: '',
      language: 'sv',
      address: { street: 'Storgatan 1', street2: '', zipcode: '11122', city: 'Stockholm', country: 'se' },
    });
    const requests = requestsOf(doc);
    expect(shape(requests)).toEqual([`GET /v1/debtors/debtorbyexternalid/${CREDITOR}?externalid=SH-123`, 'POST /v1/debtors/debtor']);
    expect(requests[0]!.body).toBeNull();
    expect(requests[0]!.headers).toBeUndefined();
    expect(requests[1]!.body).toEqual({
      CreditorPublicId: CREDITOR,
      DebtorExternalId: 'SH-123',
      DebtorType: 'Private',
      Name: 'Anna Andersson',
      ContactName: null,
      Address: 'Storgatan 1',
      Address2: null,
      ZipCode: '11122',
      City: 'Stockholm',
      CountryCode: 'SE',
      Email: 'anna@example.se',
      Phone: '+46701234567',
      OrgNo: null,
      VatNumber: null,
      IsActive: true,
    });
    expect(requests[1]!.headers).toEqual({ UniqueApiCallId: billectaCallId(CREDITOR, 'shopify/SH-123/customer/1', 'debtor') });
  });

  it('makes a company a Company debtor with its VAT number and contact person; external ids are URI-encoded', () => {
    const doc = buildCustomer({ key: key('customer', 'SH 9/1'), number: 'SH 9/1', name: 'Acme AB', company: 'Acme AB', firstName: 'Bo', lastName: 'Ek', vatId: 'SE556677889901', address: { country: 'SE' } });
    const [lookup, create] = requestsOf(doc);
    expect(lookup!.path).toBe(`/v1/debtors/debtorbyexternalid/${CREDITOR}?externalid=SH%209%2F1`);
    expect(create!.body).toMatchObject({ DebtorExternalId: 'SH 9/1', DebtorType: 'Company', Name: 'Acme AB', ContactName: 'Bo Ek', VatNumber: 'SE556677889901', Email: null, Address: null });
  });
});

describe('Billecta: invoice → products, invoice, attest', () => {
  it('upserts each distinct part as a product, then creates the invoice and attests it', () => {
    const doc = netInvoice();
    const requests = requestsOf(doc);
    const lookup = (sku: string) => `GET /v1/products/productbyexternalid/${CREDITOR}?externalid=${sku}`;
    expect(shape(requests)).toEqual([
      lookup('TSH-BLU-M'),
      'POST /v1/products/product',
      lookup('KAFFE-500'),
      'POST /v1/products/product',
      lookup('FRAKT-standard'),
      'POST /v1/products/product',
      lookup('RABATT-standard'),
      'POST /v1/products/product',
      'POST /v1/invoice/action',
      'PUT /v1/invoice/attest/{action:1001}',
    ]);
    const products = requests.filter((r) => r.path === '/v1/products/product').map((r) => r.body);
    expect(products[0]).toEqual({
      CreditorPublicId: CREDITOR,
      ProductExternalId: 'TSH-BLU-M',
      ArticleNumber: 'TSH-BLU-M',
      Description: 'T-shirt blå, M',
      Units: 'st',
      IsActive: true,
      UnitPrice: 159.2,
      VAT: 25,
      BookKeepingAccount: 3001,
      BookKeepingVATAccount: 2611,
      ProductType: 'Commodity',
    });
    expect(products.map((p) => [p!.ProductExternalId, p!.UnitPrice, p!.VAT, p!.BookKeepingAccount, p!.BookKeepingVATAccount, p!.ProductType])).toEqual([
      ['TSH-BLU-M', 159.2, 25, 3001, 2611, 'Commodity'],
      ['KAFFE-500', 89.29, 12, 3002, 2621, 'Commodity'],
      ['FRAKT-standard', 39.2, 25, 3520, 2611, 'Service'],
      ['RABATT-standard', -20, 25, 3730, 2611, 'Service'],
    ]);

    const invoice = requests[8]!;
    expect(invoice.body).toEqual({
      ActionType: 'InvoiceAction',
      CreditorPublicId: CREDITOR,
      DebtorPublicId: '{debtor:SH-123}',
      InvoiceDate: '2024-05-02T00:00:00',
      DueDate: '2024-06-01T00:00:00',
      OurReference: '1001',
      YourReference: '1001',
      CommunicationLanguage: 'SV',
      Message: 'Webborder 1001',
      InvoiceNumber: null,
      ExternalReference: 'shopify/5001/invoice/1',
      DeliveryMethod: 'Email',
      VatIsIncluded: false,
      Records: [
        { SequenceNo: 1, ProductPublicId: '{product:TSH-BLU-M}', ArticleNumber: 'TSH-BLU-M', ArticleDescription: 'T-shirt blå, M', Quantity: 2, Units: 'st', UnitPrice: { CurrencyCode: 'SEK', Value: 15920 }, VAT: 25, VatIsIncluded: false, RecordType: 'Standard' },
        { SequenceNo: 2, ProductPublicId: '{product:KAFFE-500}', ArticleNumber: 'KAFFE-500', ArticleDescription: 'Kaffe 500 g', Quantity: 1, Units: null, UnitPrice: { CurrencyCode: 'SEK', Value: 8929 }, VAT: 12, VatIsIncluded: false, RecordType: 'Standard' },
        { SequenceNo: 3, ProductPublicId: '{product:FRAKT-standard}', ArticleNumber: 'FRAKT-standard', ArticleDescription: 'Shipping 25 %', Quantity: 1, Units: null, UnitPrice: { CurrencyCode: 'SEK', Value: 3920 }, VAT: 25, VatIsIncluded: false, RecordType: 'Standard' },
        { SequenceNo: 4, ProductPublicId: '{product:RABATT-standard}', ArticleNumber: 'RABATT-standard', ArticleDescription: 'Discount VÅR20 25 %', Quantity: 1, Units: null, UnitPrice: { CurrencyCode: 'SEK', Value: -2000 }, VAT: 25, VatIsIncluded: false, RecordType: 'Standard' },
      ],
    });
    const attest = requests[9]!;
    expect(attest).toMatchObject({ method: 'PUT', body: null });
    expect(attest.purpose).toMatch(/DeliveryMethod Email/);
  });

  it('Σ records (quantity × unit price + VAT) is the invoice total, VAT excluded and VAT included', () => {
    const net = netInvoice();
    expect(net.total).toBe(sek('522.00'));
    const netRecords = recordsOf(requestsOf(net).find((r) => r.path === '/v1/invoice/action')!);
    expect(netRecords.every((r) => !r.VatIsIncluded)).toBe(true);
    expect(recordTotal(netRecords)).toBe(net.total);

    const gross = grossInvoice();
    expect(gross.pricesIncludeVat).toBe(true);
    expect(gross.total).toBe(sek('521.99'));
    const invoice = requestsOf(gross).find((r) => r.path === '/v1/invoice/action')!;
    expect((invoice.body as Body).VatIsIncluded).toBe(true);
    const grossRecords = recordsOf(invoice);
    expect(grossRecords.map((r) => [r.Quantity, r.UnitPrice.Value, r.VatIsIncluded])).toEqual([
      [2, 19900, true],
      [1, 9999, true],
      [1, 4900, true],
      [1, -2500, true],
    ]);
    expect(recordTotal(grossRecords)).toBe(gross.total);
  });

  it('books a rounding line as a VAT-free record on a product of the rounding account', () => {
    const doc = booked(buildInvoice({ ...sales('5003', '1003', ORDER_LINES(false)), expectedTotal: { expected: sek('522.02'), account: '3740', maxResidue: 5 } }));
    expect(doc.rounding).toEqual([{ account: '3740', amount: 2, text: 'Rounding difference', reason: 'residue' }]);
    const requests = requestsOf(doc);
    const created = requests.filter((r) => r.path === '/v1/products/product').map((r) => r.body!);
    expect(created.at(-1)).toEqual({
      CreditorPublicId: CREDITOR,
      ProductExternalId: 'kontor-rounding-3740',
      ArticleNumber: 'kontor-rounding-3740',
      Description: 'Rounding (3740)',
      IsActive: true,
      UnitPrice: 0,
      VAT: 0,
      BookKeepingAccount: 3740,
      BookKeepingVATAccount: null,
      ProductType: 'Service',
    });
    const records = recordsOf(requests.find((r) => r.path === '/v1/invoice/action')!);
    expect(records.at(-1)).toMatchObject({ SequenceNo: 5, ProductPublicId: '{product:kontor-rounding-3740}', ArticleDescription: 'Rounding difference', Quantity: 1, UnitPrice: { CurrencyCode: 'SEK', Value: 2 }, VAT: 0 });
    expect(recordTotal(records)).toBe(doc.total);
  });

  it("books the difference between the shop's VAT and Billecta's per-record VAT on the rounding account, or refuses without one", () => {
    // 3 × 159.21 = 477.63 net; 25 % is 119.4075: Billecta rounds to 119.41, the shop said 119.40.
    const doc = booked(buildInvoice(sales('5004', '1004', [{ ...part('TSH-BLU-M', 3, sek('159.21')), shopTax: sek('119.40') }], { vat: { basis: 'net', rounding: 'shop' } })));
    expect(doc.total).toBe(sek('597.03'));
    const records = recordsOf(requestsOf(doc, { roundingAccount: '3740' }).find((r) => r.path === '/v1/invoice/action')!);
    expect(records.at(-1)).toMatchObject({ ProductPublicId: '{product:kontor-rounding-3740}', ArticleDescription: 'VAT rounding difference', UnitPrice: { Value: -1 }, VAT: 0 });
    expect(recordTotal(records)).toBe(doc.total);
    expect(() => billectaRequestsFor(doc, OPTIONS)).toThrow(BillectaPayloadError);
    expect(() => billectaRequestsFor(doc, OPTIONS)).toThrow(expect.objectContaining({ field: 'tax' }));
  });

  it('gives every changing call a UniqueApiCallId that a retry repeats and another document does not', () => {
    const first = billectaRequestsFor(netInvoice(), OPTIONS);
    const retry = billectaRequestsFor(netInvoice(), OPTIONS);
    const other = billectaRequestsFor(netInvoice('5009', '1009'), OPTIONS);
    const ids = (rs: BillectaRequest[]) => rs.filter((r) => r.method !== 'GET').map((r) => r.headers?.UniqueApiCallId);
    expect(ids(first)).toHaveLength(6);
    expect(ids(first).every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id!))).toBe(true);
    expect(ids(retry)).toEqual(ids(first));
    expect(new Set(ids(first)).size).toBe(6);
    expect(ids(other).filter((id) => ids(first).includes(id))).toEqual([]);
    expect(first.filter((r) => r.method === 'GET').every((r) => r.headers === undefined && r.body === null)).toBe(true);
    // The same id for the same creditor, document and call, and only then.
    expect(billectaCallId(CREDITOR, 'shopify/5001/invoice/1', 'invoice')).toBe(first[8]!.headers!.UniqueApiCallId);
    expect(billectaCallId(CREDITOR, 'shopify/5001/invoice/2', 'invoice')).not.toBe(first[8]!.headers!.UniqueApiCallId);
    expect(billectaCallId('3f0c2a1e-0000-4000-8000-000000000002', 'shopify/5001/invoice/1', 'invoice')).not.toBe(first[8]!.headers!.UniqueApiCallId);
  });

  it('computes UUID version 5 by RFC 9562', () => {
    // The RFC's DNS namespace example.
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('a collected order becomes a verification invoice on the clearing account, not attested, with paid_orders: verification', () => {
    const doc = netInvoice();
    const requests = requestsOf(doc, { paidOrders: 'verification', collected: new Map([['1001', '1580']]) });
    expect(shape(requests).slice(-1)).toEqual(['POST /v1/invoice/verificationinvoice']);
    expect(requests.some((r) => r.path.includes('attest'))).toBe(false);
    const body = requests.at(-1)!.body!;
    expect(body).toMatchObject({
      CreditorPublicId: CREDITOR,
      DebtorPublicId: '{debtor:SH-123}',
      InvoiceDate: '2024-05-02T00:00:00',
      DueDate: '2024-05-02T00:00:00',
      ExternalReference: 'shopify/5001/invoice/1',
      YourReference: '1001',
      BookkeepingOverride: { DebitAccount: '1580' },
    });
    expect(body).not.toHaveProperty('DeliveryMethod');
    expect(body).not.toHaveProperty('ActionType');
    expect(recordTotal(recordsOf(requests.at(-1)!))).toBe(doc.total);
    // A set of numbers does not say which clearing account: no override.
    expect(requestsOf(doc, { paidOrders: 'verification', collected: new Set(['1001']) }).at(-1)!.body).toMatchObject({ BookkeepingOverride: null });
    // Not collected, or paid orders booked as invoices: an ordinary invoice.
    expect(shape(requestsOf(doc, { paidOrders: 'verification', collected: new Set(['1002']) })).slice(-2)).toEqual(['POST /v1/invoice/action', 'PUT /v1/invoice/attest/{action:1001}']);
    expect(shape(requestsOf(doc, { paidOrders: 'invoice', collected: new Set(['1001']) })).slice(-2)).toEqual(['POST /v1/invoice/action', 'PUT /v1/invoice/attest/{action:1001}']);
  });

  it('refuses what Billecta cannot take: the booking variant, an account that is no number, a bad creditor or delivery method', () => {
    const booking = booked(buildInvoice({ ...sales('5005', '1005', [{ text: 'Goods', account: '3001', vat: V25, amount: sek('100.00') }]), variant: 'booking', articles: [] }));
    expect(() => billectaRequestsFor(booking, OPTIONS)).toThrow(expect.objectContaining({ name: 'BillectaPayloadError', field: 'variant' }));
    const odd = booked(buildInvoice(sales('5006', '1006', [part('X', 1, sek('1.00'))], { articles: [{ number: 'X', account: '3001-A', vat: V25 }] })));
    expect(() => billectaRequestsFor(odd, OPTIONS)).toThrow(expect.objectContaining({ field: 'lines[0].account' }));
    expect(() => billectaRequestsFor(netInvoice(), { ...OPTIONS, creditorPublicId: 'acme' })).toThrow(expect.objectContaining({ field: 'creditorPublicId' }));
    expect(() => billectaRequestsFor(netInvoice(), { ...OPTIONS, deliveryMethod: 'Pigeon' })).toThrow(expect.objectContaining({ field: 'deliveryMethod' }));
    expect(requestsOf(netInvoice(), { deliveryMethod: undefined }).find((r) => r.path === '/v1/invoice/action')!.body).toMatchObject({ DeliveryMethod: 'Manually' });
  });
});

describe('Billecta: amounts, VAT percent, dates', () => {
  it('writes UnitPrice in major units exactly: 1 → 0.01, 12345 → 123.45, ¥12345 → 12345', () => {
    expect(majorUnits(minor(1), 'SEK')).toBe(0.01);
    expect(majorUnits(minor(12345), 'SEK')).toBe(123.45);
    expect(majorUnits(minor(-2000), 'SEK')).toBe(-20);
    expect(majorUnits(minor(12345), 'JPY')).toBe(12345);
    expect(majorUnits(minor(1234), 'KWD')).toBe(1.234);
    expect(JSON.stringify({ UnitPrice: majorUnits(minor(1999999999999), 'SEK') })).toBe('{"UnitPrice":19999999999.99}');
    // Beyond what a double carries exactly: refused, not rounded.
    expect(() => majorUnits(minor(Number.MAX_SAFE_INTEGER), 'SEK')).toThrow(BillectaPayloadError);

    const tiny = booked(buildInvoice(sales('5010', '1010', [part('TSH-BLU-M', 3, minor(1)), part('KAFFE-500', 1, minor(12345))])));
    const json = JSON.stringify(requestsOf(tiny).filter((r) => r.path === '/v1/products/product').map((r) => r.body));
    expect(json).toContain('"UnitPrice":0.01,');
    expect(json).toContain('"UnitPrice":123.45,');

    const yen = booked(buildInvoice(sales('5011', '1011', [part('TSH-BLU-M', 2, minor(12345))], { currency: 'JPY' })));
    const requests = requestsOf(yen);
    expect(requests[1]!.body).toMatchObject({ UnitPrice: 12345 });
    expect(recordsOf(requests.find((r) => r.path === '/v1/invoice/action')!)[0]).toMatchObject({ Quantity: 2, UnitPrice: { CurrencyCode: 'JPY', Value: 12345 }, VAT: 25 });
  });

  it('turns basis points into the VAT percent exactly: 2500 → 25, 1200 → 12, 810 → 8.1', () => {
    expect([vatRate('25'), vatRate('12'), vatRate('8.1'), vatRate('6'), vatRate('0'), vatRate('2.5')].map((r) => [Number(r), vatPercent(r)])).toEqual([
      [2500, 25],
      [1200, 12],
      [810, 8.1],
      [600, 6],
      [0, 0],
      [250, 2.5],
    ]);
    const V81: VatTreatment = { rate: vatRate('8.1'), code: 'ch-standard', account: '2611' };
    const doc = booked(buildInvoice(sales('5012', '1012', [part('TEE', 1, sek('100.00'))], { articles: [{ number: 'TEE', account: '3001', vat: V81 }] })));
    const requests = requestsOf(doc);
    expect(JSON.stringify(requests[1]!.body)).toContain('"VAT":8.1,');
    expect(recordsOf(requests.find((r) => r.path === '/v1/invoice/action')!)[0]!.VAT).toBe(8.1);
  });

  it('sends calendar dates as local midnight without an offset', () => {
    expect(billectaDate('2024-03-31')).toBe('2024-03-31T00:00:00');
    expect(billectaDate('2024-10-27')).toBe('2024-10-27T00:00:00');
    expect(() => billectaDate('2024-02-30')).toThrow(BillectaPayloadError);
  });
});

describe('Billecta: credit note → credit invoice', () => {
  it('credits in full with negative records linked to the credited invoice, then attests', () => {
    const invoice = netInvoice();
    const credit = booked(creditInFull(invoice, { key: key('credit-note', '5001', 'r1'), number: '1001-K1', date: '2024-05-20' }));
    const requests = requestsOf(credit);
    // The parts' products exist since the invoice: looked up, never created (nor repriced) again.
    expect(requests.filter((r) => r.path === '/v1/products/product')).toEqual([]);
    expect(shape(requests).slice(-2)).toEqual(['POST /v1/invoice/action', 'PUT /v1/invoice/attest/{action:1001-K1}']);
    const body = requests.at(-2)!.body!;
    expect(body).toMatchObject({
      ActionType: 'CreditInvoiceAction',
      CreditingInvoicePublicId: '{action:1001}',
      DebtorPublicId: '{debtor:SH-123}',
      InvoiceDate: '2024-05-20T00:00:00',
      ExternalReference: 'shopify/5001/credit-note:r1/1',
      YourReference: '1001',
      VatIsIncluded: false,
    });
    const records = recordsOf(requests.at(-2)!);
    expect(records.map((r) => [r.Quantity, r.UnitPrice.Value, r.VAT])).toEqual([
      [-2, 15920, 25],
      [-1, 8929, 12],
      [-1, 3920, 25],
      [-1, -2000, 25],
    ]);
    expect(credit.total).toBe(sek('-522.00'));
    expect(recordTotal(records)).toBe(credit.total);
  });

  it('credits part of an invoice', () => {
    const invoice = netInvoice();
    const credit = booked(buildCreditNote({ key: key('credit-note', '5001', 'r2'), number: '1001-K2', date: '2024-05-21', dueDate: '2024-05-21', description: 'Refund r2 on order 1001', variant: 'article', articles: ARTICLES, lines: [part('TSH-BLU-M', -1, sek('159.20'), 'Refund: T-shirt blå, M')], vat: { basis: 'net', rounding: 'per-line' } }, invoice));
    const requests = requestsOf(credit);
    expect(shape(requests)).toEqual([`GET /v1/products/productbyexternalid/${CREDITOR}?externalid=TSH-BLU-M`, 'POST /v1/invoice/action', 'PUT /v1/invoice/attest/{action:1001-K2}']);
    const records = recordsOf(requests[1]!);
    expect(records).toEqual([expect.objectContaining({ Quantity: -1, UnitPrice: { CurrencyCode: 'SEK', Value: 15920 }, ArticleDescription: 'Refund: T-shirt blå, M' })]);
    expect(recordTotal(records)).toBe(credit.total);
    expect(credit.total).toBe(sek('-199.00'));
  });

  it('credits a collected order (a verification invoice) with a negative verification invoice on the same clearing account, and sends nothing for the refund paid back', () => {
    const invoice = netInvoice();
    const options = { paidOrders: 'verification' as const, collected: new Map([['1001', '1580']]) };
    const credit = booked(buildCreditNote({ key: key('credit-note', '5001', 'r2'), number: '1001-K2', date: '2024-05-21', dueDate: '2024-05-21', description: 'Refund r2 on order 1001', variant: 'article', articles: ARTICLES, lines: [part('TSH-BLU-M', -1, sek('159.20'), 'Refund: T-shirt blå, M')], vat: { basis: 'net', rounding: 'per-line' } }, invoice));
    // valid(): the body is checked against VerificationInvoiceActionEntryView.
    const requests = requestsOf(credit, options);
    expect(shape(requests)).toEqual([`GET /v1/products/productbyexternalid/${CREDITOR}?externalid=TSH-BLU-M`, 'POST /v1/invoice/verificationinvoice']);
    expect(requests.some((r) => r.path.includes('attest'))).toBe(false);
    const body = requests[1]!.body!;
    expect(body).toMatchObject({
      CreditorPublicId: CREDITOR,
      DebtorPublicId: '{debtor:SH-123}',
      InvoiceDate: '2024-05-21T00:00:00',
      DueDate: '2024-05-21T00:00:00',
      ExternalReference: 'shopify/5001/credit-note:r2/1',
      YourReference: '1001',
      BookkeepingOverride: { DebitAccount: '1580' },
    });
    expect(String(body.Message)).toMatch(/^Credit note 1001-K2 \(shopify\/5001\/credit-note:r2\/1\) reducing verification invoice 1001: Refund r2 on order 1001$/);
    for (const f of ['ActionType', 'DeliveryMethod', 'CreditingInvoicePublicId', 'VatIsIncluded']) expect(body).not.toHaveProperty(f);
    expect(recordTotal(recordsOf(requests[1]!))).toBe(credit.total);
    expect(credit.total).toBeLessThan(0);
    expect(requests[1]!.headers!.UniqueApiCallId).toBe(billectaCallId(CREDITOR, 'shopify/5001/credit-note:r2/1', 'verification-credit'));
    // Not collected: the credit invoice as before.
    expect(shape(requestsOf(credit, { paidOrders: 'verification', collected: new Map([['1002', '1580']]) })).slice(-2)).toEqual(['POST /v1/invoice/action', 'PUT /v1/invoice/attest/{action:1001-K2}']);
    // The refund paid back on the clearing account: the provider paid it; nothing is registered.
    const [refund] = settle({ item: openItemOf(credit, []), date: '2024-05-21', received: credit.total, clearingAccount: '1580', reference: 'r2', memo: 'Refund r2', key: payKey('5001-r2') });
    expect(refund!.amount).toBeLessThan(0);
    expect(requestsOf(refund!, { paidOrders: 'verification', collected: new Set(['1001-K2']) })).toEqual([]);
    expect(shape(requestsOf(refund!))).toEqual(['POST /v1/invoice/payment']);
  });
});

describe('Billecta: payment → registered payment', () => {
  const invoice = netInvoice();
  const received = settle({
    item: openItemOf(invoice, []),
    date: '2024-05-10',
    received: sek('516.00'),
    clearingAccount: '1580',
    reference: 'ch_3P1',
    memo: 'shopify_payments',
    fee: { amount: sek('5.00'), account: '6570' },
    writeOff: { account: '3740', tolerance: sek('1.00') },
    key: payKey('5001'),
  });

  it('registers money received with the clearing account\'s PaymentMeanCode, and fees and differences as write-offs', () => {
    expect(received.map((d) => [d.purpose, d.account, d.amount])).toEqual([
      ['payment', '1580', sek('516.00')],
      ['bank-fee', '6570', sek('5.00')],
      ['price-reduction', '3740', sek('1.00')],
    ]);
    const [payment, fee, reduction] = received.map((d) => requestsOf(d));
    expect(payment).toEqual([
      {
        method: 'POST',
        path: '/v1/invoice/payment',
        body: {
          ActionPublicId: '{action:1001}',
          Amount: { CurrencyCode: 'SEK', Value: 51600 },
          WriteOff: null,
          WriteOffVat: 0,
          OverrideWriteOffAccount: null,
          PaymentMeanCode: 'CARD',
          Date: '2024-05-10T00:00:00',
          Comment: 'shopify_payments',
          PaymentReferenceText: 'ch_3P1',
          OvershootingAmountHandling: 'None',
        },
        purpose: expect.stringMatching(/^register payment of 51600 minor units on 1001/),
        headers: { UniqueApiCallId: billectaCallId(CREDITOR, 'shopify/5001/payment:payment/1', 'payment') },
      },
    ]);
    expect(fee![0]!.body).toMatchObject({ Amount: { CurrencyCode: 'SEK', Value: 0 }, WriteOff: { CurrencyCode: 'SEK', Value: 500 }, OverrideWriteOffAccount: '6570', PaymentMeanCode: null, WriteOffVat: 0 });
    expect(reduction![0]!.body).toMatchObject({ Amount: { Value: 0 }, WriteOff: { Value: 100 }, OverrideWriteOffAccount: '3740' });
    expect(new Set([payment, fee, reduction].map((r) => r![0]!.headers!.UniqueApiCallId)).size).toBe(3);
  });

  it('writes skonto off on its account, and pays a refund out on the credit invoice', () => {
    const [, skonto] = settle({ item: openItemOf(invoice, []), date: '2024-05-10', received: sek('511.56'), clearingAccount: '1581', skonto: { amount: sek('10.44'), account: '3731' }, key: payKey('5001') });
    expect(requestsOf(skonto!)[0]!.body).toMatchObject({ Amount: { Value: 0 }, WriteOff: { Value: 1044 }, OverrideWriteOffAccount: '3731' });

    const credit = creditInFull(invoice, { key: key('credit-note', '5001', 'r1'), number: '1001-K1', date: '2024-05-20' });
    const [refund] = settle({ item: openItemOf(credit, []), date: '2024-05-20', received: credit.total, clearingAccount: '1581', reference: 'r1', memo: 'Refund r1', key: payKey('5001-r1') });
    expect(requestsOf(refund!)[0]!.body).toMatchObject({ ActionPublicId: '{action:1001-K1}', Amount: { CurrencyCode: 'SEK', Value: -52200 }, PaymentMeanCode: 'KLARNA', Comment: 'Refund r1' });
  });

  it('needs a PaymentMeanCode for the clearing account', () => {
    expect(() => billectaRequestsFor(received[0]!, { creditorPublicId: CREDITOR })).toThrow(expect.objectContaining({ name: 'BillectaPayloadError', field: 'account' }));
  });

  it('sends nothing for the collection of a verification invoice, and refuses a fee or difference on it', () => {
    const options = { paidOrders: 'verification' as const, collected: new Map([['1001', '1580']]) };
    expect(requestsOf(received[0]!, options)).toEqual([]);
    expect(() => billectaRequestsFor(received[1]!, { ...OPTIONS, ...options })).toThrow(expect.objectContaining({ field: 'purpose' }));
    expect(() => billectaRequestsFor(received[2]!, { ...OPTIONS, ...options })).toThrow(/verification invoice/);
  });
});

describe('Billecta: storno', () => {
  it('refuses a storno and its transfer payments: a Billecta cancellation is a credit note', () => {
    const invoice = netInvoice();
    const { storno, transfers } = buildStorno(invoice, { key: key('storno', '5001'), number: '1001-S', transferAccount: '1090', paymentKey: (side) => key('payment', '5001', `storno-${side}`), date: '2024-05-03' });
    expect(() => billectaRequestsFor(storno, OPTIONS)).toThrow(BillectaPayloadError);
    expect(() => billectaRequestsFor(storno, OPTIONS)).toThrow(/Billecta has no storno.*credit note/);
    expect(() => billectaRequestsFor(storno, OPTIONS)).toThrow(expect.objectContaining({ field: 'kind' }));
    expect(transfers).toHaveLength(2);
    expect(() => billectaRequestsFor(transfers[0]!, OPTIONS)).toThrow(expect.objectContaining({ field: 'purpose' }));
  });
});

describe('Billecta: placeholders', () => {
  it('are replaced by the ids Billecta answered: URI-encoded in paths, as they are in bodies', () => {
    const [create, attest] = billectaRequestsFor(netInvoice(), OPTIONS).slice(-2);
    const ids = { debtor: DEBTOR_ID, product: 'c1d2e3f4-0000-4000-8000-000000000000', action: '75/45' };
    const resolve = (r: BillectaRequest) => resolveBillectaPlaceholders(r, (kind) => ids[kind]);
    expect(resolve(attest!).path).toBe('/v1/invoice/attest/75%2F45');
    const body = resolve(create!).body!;
    expect(body.DebtorPublicId).toBe(DEBTOR_ID);
    expect((body.Records as Body[]).every((r) => r.ProductPublicId === ids.product)).toBe(true);
    expect(JSON.stringify(body)).not.toMatch(/\{(debtor|product|action):/);
  });
});
