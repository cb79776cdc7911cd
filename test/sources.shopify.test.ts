import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RecordError } from '../src/errors.js';
import type { CanonicalOrder } from '../src/sources/order.js';
import { parseShopifyOrder, type ShopifyParseOptions } from '../src/sources/shopify-order.js';

/** The parts of a Shopify REST order the tests read or break; everything else passes through. */
type Json = Record<string, unknown>;
interface MoneySet {
  shop_money: { amount: string; currency_code: string };
  presentment_money: { amount: string; currency_code: string };
}
interface ShopifyLine {
  [key: string]: unknown;
  price: unknown;
  price_set?: MoneySet;
  tax_lines: (Json & { rate: unknown; price: unknown; price_set?: MoneySet })[];
  discount_allocations: (Json & { amount: unknown; amount_set?: MoneySet })[];
}
interface ShopifyRefund {
  [key: string]: unknown;
  refund_line_items: Json[];
  order_adjustments: Json[];
  transactions: Json[];
}
interface ShopifyOrder {
  [key: string]: unknown;
  line_items: ShopifyLine[];
  shipping_lines: ShopifyLine[];
  tax_lines: Json[];
  note_attributes: Json[];
  refunds: ShopifyRefund[];
  transactions?: Json[];
}

// Shopify's documentation examples (shape only: their amounts do not reconcile).
const SHARED = '/work/shared/fixtures/shopify';
// Hand-made orders in Shopify's REST shape whose amounts reconcile to the cent.
const FIXTURES = new URL('./fixtures/shopify/', import.meta.url);

function readJson<T>(path: string | URL): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const docsOrder = (): ShopifyOrder => readJson<{ order: ShopifyOrder }>(`${SHARED}/rest-2024-04-order-450789469-docs-fixture.json`).order;
const docsList = (): ShopifyOrder[] => readJson<{ orders: ShopifyOrder[] }>(`${SHARED}/rest-2024-04-orders-updated_at_min-docs-fixture.json`).orders;
const docsRefunds = (): ShopifyRefund[] => readJson<{ refunds: ShopifyRefund[] }>(`${SHARED}/rest-2024-04-order-refunds-docs-fixture.json`).refunds;
const docsTransactions = (): Json[] => readJson<{ transactions: Json[] }>(`${SHARED}/rest-2024-04-order-transactions-docs-fixture.json`).transactions;
const sek = (): ShopifyOrder => readJson<{ order: ShopifyOrder }>(new URL('order-sek-incl-tax.json', FIXTURES)).order;
const chf = (): ShopifyOrder => readJson<{ order: ShopifyOrder }>(new URL('order-chf-excl-tax.json', FIXTURES)).order;

function parse(raw: unknown, options?: ShopifyParseOptions): CanonicalOrder {
  return parseShopifyOrder('shopify', raw, options);
}

/** Parse a record that must be rejected, and return the RecordError. */
function rejection(raw: unknown, options?: ShopifyParseOptions): RecordError {
  try {
    parse(raw, options);
  } catch (error) {
    expect(error).toBeInstanceOf(RecordError);
    return error as RecordError;
  }
  throw new Error('expected parseShopifyOrder to reject the record');
}

function changed(order: ShopifyOrder, change: (order: ShopifyOrder) => void): ShopifyOrder {
  change(order);
  return order;
}

const total = (amounts: number[]): number => amounts.reduce((a, b) => a + b, 0);
const row = (l: CanonicalOrder['lines'][number]) => [l.kind, l.sku, l.quantity, l.netBeforeDiscount, l.net, l.tax, l.taxBeforeDiscount, l.vatRate];

/** Every `presentment_money` in the record, wherever it sits. */
function presentmentMonies(value: unknown, found: { amount: string; currency_code: string }[] = []): { amount: string; currency_code: string }[] {
  if (Array.isArray(value)) value.forEach((v) => presentmentMonies(v, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'presentment_money' && v !== null && typeof v === 'object') found.push(v as { amount: string; currency_code: string });
      else presentmentMonies(v, found);
    }
  }
  return found;
}

describe('parseShopifyOrder on the hand-made SEK order (prices incl. VAT, 10 % code, one refund)', () => {
  const order = parse(sek());

  it('carries identity, dates in UTC, status and the price mode', () => {
    expect(order).toMatchObject({
      source: 'shopify',
      id: '5823746512001',
      number: '1042',
      status: 'partially_refunded',
      test: false,
      // processed_at 2024-05-14T21:37:11+02:00
      createdAt: '2024-05-14T19:37:11.000Z',
      updatedAt: '2024-05-20T07:12:40.000Z',
      completedAt: null,
      currency: 'SEK',
      pricesIncludeTax: true,
    });
  });

  it('turns every line into exact net, tax, before-discount amounts and a rate', () => {
    // Gross 998.00 − 99.80 = 898.20 incl. 179.64 VAT; before the discount 998.00 incl. 199.60.
    expect(order.lines.map(row)).toEqual([
      ['product', 'FILT-GRA', 2, 79840, 71856, 17964, 19960, 2500],
      ['product', 'MUGG-01', 1, 11920, 10728, 2682, 2980, 2500],
      ['product', 'KAFFE-500', 3, 34553, 31098, 3732, 4147, 1200],
      ['shipping', 'PostNord MyPack', 1, 3920, 3920, 980, 980, 2500],
    ]);
    expect(order.lines.map((l) => [l.ref, l.field, l.name, l.categories])).toEqual([
      ['13712456401', 'line_items[0]', 'Ullfilt - Grå', ['Textil']],
      ['13712456402', 'line_items[1]', 'Kaffemugg', []],
      ['13712456403', 'line_items[2]', 'Kaffebönor 500 g', []],
      ['4412345601', 'shipping_lines[0]', 'PostNord MyPack Collect', []],
    ]);
  });

  it('Σ line net + tax is total_price, Σ line tax is total_tax and the per-rate tax_lines', () => {
    expect(total(order.lines.map((l) => l.net + l.tax))).toBe(order.total);
    expect(order.total).toBe(142960);
    expect(total(order.lines.map((l) => l.tax))).toBe(order.totalTax);
    expect(order.totalTax).toBe(25358);
    expect(order.taxTotals).toEqual([
      { rate: 2500, label: 'Moms 25 %', tax: 21626 },
      { rate: 1200, label: 'Moms 12 %', tax: 3732 },
    ]);
    for (const t of order.taxTotals) {
      expect(total(order.lines.filter((l) => l.vatRate === t.rate).map((l) => l.tax))).toBe(t.tax);
    }
    // Gross before discounts: Σ price × quantity + shipping.
    expect(total(order.lines.map((l) => l.netBeforeDiscount + l.taxBeforeDiscount))).toBe(153400 + 4900);
  });

  it('reports the code with its net discount and the VAT in it, matching the lines', () => {
    expect(order.coupons).toEqual([{ code: 'HOST10', discount: 12631, discountTax: 2709 }]);
    expect(total(order.lines.map((l) => l.netBeforeDiscount - l.net))).toBe(12631);
    expect(total(order.lines.map((l) => l.taxBeforeDiscount - l.tax))).toBe(2709);
  });

  it('takes the payment from the successful sale transaction', () => {
    expect(order.payment).toEqual({
      method: 'shopify_payments',
      title: 'shopify_payments',
      transactionId: 'pi_3PGq2K2eZvKYlo2C0AbCdEfG',
      paidAt: '2024-05-14T19:37:10.000Z',
      amount: 142960,
      fee: 0,
    });
  });

  it('reads the refund of the mug: net and VAT out of the gross subtotal, total from its transaction', () => {
    expect(order.refunds).toEqual([
      {
        id: '998877665501',
        createdAt: '2024-05-20T07:12:39.000Z',
        reason: 'Mugg trasig vid leverans',
        lines: [
          { lineRef: '13712456402', kind: 'product', field: 'refunds[0].refund_line_items[0]', sku: 'MUGG-01', name: 'Kaffemugg', quantity: 1, net: 10728, tax: 2682, vatRate: 2500 },
        ],
        total: 13410,
        field: 'refunds[0]',
      },
    ]);
    // The refunded line is taken back exactly as it was invoiced.
    const mug = order.lines[1]!;
    expect([mug.net, mug.tax]).toEqual([order.refunds[0]!.lines[0]!.net, order.refunds[0]!.lines[0]!.tax]);
  });

  it('reads the customer from customer and billing_address', () => {
    expect(order.customer).toEqual({
      id: '7012345678901',
      email: 'elin.lundqvist@example.se',
      firstName: 'Elin',
      lastName: 'Lundqvist',
      company: '',
      phone: '+46701234567',
      vatId: '',
      billing: { street: 'Storgatan 14', street2: 'lgh 1102', zipcode: '903 26', city: 'Umeå', state: 'AC', country: 'SE' },
      shipping: { street: 'Storgatan 14', street2: 'lgh 1102', zipcode: '903 26', city: 'Umeå', state: 'AC', country: 'SE' },
    });
    expect(order.meta).toEqual({ Leveransinstruktion: 'Lämna vid dörren', tags: 'nyhetsbrev, återkommande', source_name: 'web' });
  });
});

describe('parseShopifyOrder on the hand-made CHF order (prices excl. VAT, 8.1 % and 2.6 %, unpaid)', () => {
  const order = parse(chf());

  it('turns every line into exact amounts at its Swiss rate', () => {
    expect(order.lines.map(row)).toEqual([
      ['product', 'KAESE-BERG-500', 3, 4440, 4440, 115, 115, 260],
      ['product', 'OFEN-RAC-2', 1, 8900, 8900, 721, 721, 810],
      // sku null → ''
      ['product', '', 2, 4980, 4980, 403, 403, 810],
      ['shipping', 'PostPac Priority', 1, 900, 900, 73, 73, 810],
    ]);
    expect(order.pricesIncludeTax).toBe(false);
    expect(order.coupons).toEqual([]);
  });

  it('reconciles: Σ(net + tax) = total_price, Σ tax = total_tax = Σ tax_lines per rate', () => {
    expect(order.total).toBe(20532);
    expect(total(order.lines.map((l) => l.net + l.tax))).toBe(order.total);
    expect(order.totalTax).toBe(1312);
    expect(total(order.lines.map((l) => l.tax))).toBe(order.totalTax);
    expect(order.taxTotals).toEqual([
      { rate: 260, label: 'MWST 2.6%', tax: 115 },
      { rate: 810, label: 'MWST 8.1%', tax: 1197 },
    ]);
    for (const t of order.taxTotals) {
      expect(total(order.lines.filter((l) => l.vatRate === t.rate).map((l) => l.tax))).toBe(t.tax);
    }
  });

  it('converts processed_at 2024-06-04T00:15:02+02:00 to the UTC day before', () => {
    expect(order.createdAt).toBe('2024-06-03T22:15:02.000Z');
    expect(order.updatedAt).toBe('2024-06-03T22:15:06.000Z');
    expect(order.number).toBe('2087');
    expect(order.status).toBe('pending');
  });

  it('a pending order without transactions has a payment method but no payment date or amount', () => {
    expect(order.payment).toEqual({ method: 'manual', title: 'manual', transactionId: '', paidAt: null, amount: null, fee: 0 });
    expect(order.refunds).toEqual([]);
  });

  it('a guest checkout: null customer id, company and VAT id from the note attributes', () => {
    expect(order.customer).toEqual({
      id: null,
      email: 'einkauf@gasthof-loewen.example.ch',
      firstName: 'Regula',
      lastName: 'Ammann',
      company: 'Gasthof Löwen AG',
      phone: '+41326231122',
      vatId: 'CHE-123.456.788 MWST',
      billing: { street: 'Hauptgasse 7', street2: '', zipcode: '4500', city: 'Solothurn', state: 'SO', country: 'CH' },
      shipping: { street: 'Hintergasse 2', street2: 'Lieferanteneingang', zipcode: '4500', city: 'Solothurn', state: 'SO', country: 'CH' },
    });
    expect(order.meta).toEqual({ 'VAT number': ' CHE-123.456.788 MWST ', Lieferfenster: 'Vormittag', tags: 'B2B', source_name: 'web' });
  });
});

describe('parseShopifyOrder on Shopify’s documentation fixtures', () => {
  it('parses order 450789469 (USD, excl. tax, TENOFF allocations, one refund)', () => {
    const order = parse(docsOrder());
    expect(order).toMatchObject({
      id: '450789469',
      number: '1001',
      status: 'partially_refunded',
      test: false,
      createdAt: '2008-01-10T16:00:00.000Z',
      updatedAt: '2008-01-10T16:00:00.000Z',
      completedAt: null,
      currency: 'USD',
      pricesIncludeTax: false,
      totalTax: 1194,
      total: 59894,
    });
    // 199.00 − 3.34 allocation; 3.98 tax (the docs' rate 0.06 does not give 3.98: synthetic data).
    expect(order.lines.map(row)).toEqual([
      ['product', 'IPOD2008GREEN', 1, 19900, 19566, 398, 418, 600],
      ['product', 'IPOD2008RED', 1, 19900, 19567, 398, 418, 600],
      ['product', 'IPOD2008BLACK', 1, 19900, 19567, 398, 418, 600],
      ['shipping', 'Free Shipping', 1, 0, 0, 0, 0, 0],
    ]);
    expect(order.taxTotals).toEqual([{ rate: 600, label: 'State Tax', tax: 1194 }]);
    expect(order.coupons).toEqual([{ code: 'TENOFF', discount: 1000, discountTax: 60 }]);
    expect(order.customer).toMatchObject({ id: '207119551', email: 'bob.norman@mail.example.com', firstName: 'Bob', lastName: 'Norman', company: '', vatId: '' });
    expect(order.customer.billing).toEqual({ street: 'Chestnut Street 92', street2: '', zipcode: '40202', city: 'Louisville', state: 'KY', country: 'US' });
    // No transactions attached: paid at processed_at because financial_status says so.
    expect(order.payment).toEqual({ method: 'bogus', title: 'bogus', transactionId: '', paidAt: '2008-01-10T16:00:00.000Z', amount: null, fee: 0 });
    expect(order.meta).toEqual({ 'custom engraving': 'Happy Birthday', colour: 'green', tags: '', source_name: 'web' });
  });

  it('reads the docs refund: subtotal is net after the allocation when prices exclude tax; total from the transaction', () => {
    const [refund] = parse(docsOrder()).refunds;
    expect(refund).toEqual({
      id: '509562969',
      createdAt: '2024-04-02T13:59:11.000Z',
      reason: 'it broke during shipping',
      lines: [
        { lineRef: '703073504', kind: 'product', field: 'refunds[0].refund_line_items[0]', sku: 'IPOD2008BLACK', name: 'IPod Nano - 8gb - black', quantity: 1, net: 19566, tax: 398, vatRate: 600 },
        { lineRef: '466157049', kind: 'product', field: 'refunds[0].refund_line_items[1]', sku: 'IPOD2008GREEN', name: 'IPod Nano - 8gb - green', quantity: 1, net: 19567, tax: 398, vatRate: 600 },
      ],
      total: 20900,
      field: 'refunds[0]',
    });
  });

  it('parses every order of the updated_at_min list', () => {
    const orders = docsList().map((o) => parse(o));
    expect(orders.map((o) => [o.id, o.number, o.currency, o.lines.length, o.refunds.length])).toEqual([['450789469', '1001', 'USD', 4, 1]]);
  });

  it('parses the refunds endpoint’s refunds embedded in the order', () => {
    const order = parse(changed(docsOrder(), (o) => (o.refunds = docsRefunds())));
    expect(order.refunds.map((r) => [r.id, r.lines.map((l) => l.lineRef), r.total])).toEqual([['509562969', ['703073504', '466157049'], 20900]]);
  });

  it('takes payment amount, id and date from attached transactions (capture with no authorization → its id)', () => {
    const order = parse(changed(docsOrder(), (o) => (o.transactions = docsTransactions())));
    expect(order.payment).toEqual({ method: 'bogus', title: 'bogus', transactionId: '1068278466', paidAt: '2024-04-02T13:57:35.000Z', amount: 1000, fee: 0 });
  });
});

describe('parseShopifyOrder variants that parse', () => {
  it('flags test orders', () => {
    expect(parse(changed(chf(), (o) => (o.test = true))).test).toBe(true);
    expect(parse(chf()).test).toBe(false);
  });

  it('a cancelled order has status cancelled whatever its financial_status', () => {
    const order = parse(changed(chf(), (o) => ((o.cancelled_at = '2024-06-05T08:00:00+02:00'), (o.financial_status = 'voided'))));
    expect(order.status).toBe('cancelled');
  });

  it('converts offsets to UTC: created_at when processed_at is missing, closed_at as completedAt', () => {
    const order = parse(
      changed(chf(), (o) => {
        delete o.processed_at;
        o.created_at = '2024-12-31T19:30:00-05:00';
        o.closed_at = '2025-01-02T08:00:00+01:00';
      }),
    );
    expect(order.createdAt).toBe('2025-01-01T00:30:00.000Z');
    expect(order.completedAt).toBe('2025-01-02T07:00:00.000Z');
    expect(parse(changed(chf(), (o) => (o.processed_at = '2024-06-03T22:15:02Z'))).createdAt).toBe('2024-06-03T22:15:02.000Z');
  });

  it('falls back to the name without # when order_number is missing', () => {
    expect(parse(changed(sek(), (o) => delete o.order_number)).number).toBe('SE1042');
  });

  it('accepts rates as strings and bare amounts (no *_set) as strings or JSON numbers', () => {
    const order = parse(
      changed(chf(), (o) => {
        const line = o.line_items[1]!;
        line.tax_lines[0]!.rate = '0.081';
        delete line.price_set;
        line.price = 89;
        delete line.tax_lines[0]!.price_set;
        line.tax_lines[0]!.price = '7.21';
      }),
    );
    expect(row(order.lines[1]!)).toEqual(['product', 'OFEN-RAC-2', 1, 8900, 8900, 721, 721, 810]);
  });

  it('prefers the *_set twin over the bare field', () => {
    const order = parse(changed(chf(), (o) => (o.line_items[1]!.price = '1.00')));
    expect(order.lines[1]!.netBeforeDiscount).toBe(8900);
  });

  it('an untaxed line (taxable false, no tax_lines) is at 0 %', () => {
    const order = parse(
      changed(chf(), (o) => {
        o.line_items[1]!.taxable = false;
        o.line_items[1]!.tax_lines = [];
      }),
    );
    expect(row(order.lines[1]!)).toEqual(['product', 'OFEN-RAC-2', 1, 8900, 8900, 0, 0, 0]);
  });

  it('a zero-rate tax line next to the real one is not a second rate', () => {
    const order = parse(changed(chf(), (o) => o.line_items[0]!.tax_lines.push({ title: 'Exempt', rate: 0, price: '0.00' })));
    expect(order.lines[0]!.vatRate).toBe(260);
  });

  it('a discount code without allocations keeps Shopify’s amount and no discount tax', () => {
    const order = parse(changed(chf(), (o) => (o.discount_codes = [{ code: 'GRATIS', amount: '5.00', type: 'fixed_amount' }])));
    expect(order.coupons).toEqual([{ code: 'GRATIS', discount: 500, discountTax: 0 }]);
  });

  it('transactions: only successful sales and captures count; none yet → amount 0 and no payment date', () => {
    const pending = parse(changed(chf(), (o) => (o.transactions = [{ id: 1, kind: 'sale', status: 'pending', amount: '205.32', currency: 'CHF', gateway: 'manual', created_at: '2024-06-04T00:15:04+02:00' }])));
    expect(pending.payment).toEqual({ method: 'manual', title: 'manual', transactionId: '', paidAt: null, amount: 0, fee: 0 });

    const split = parse(
      changed(chf(), (o) => {
        o.transactions = [
          { id: 11, kind: 'authorization', status: 'success', amount: '205.32', currency: 'CHF', authorization: 'auth-1', processed_at: '2024-06-04T00:15:04+02:00' },
          { id: 12, kind: 'sale', status: 'failure', amount: '205.32', currency: 'CHF', processed_at: '2024-06-04T00:15:05+02:00' },
          { id: 13, kind: 'capture', status: 'success', amount: '105.32', currency: 'CHF', authorization: null, processed_at: '2024-06-05T10:00:00+02:00' },
          { id: 14, kind: 'capture', status: 'success', amount: '100.00', currency: 'CHF', processed_at: '2024-06-06T10:00:00+02:00' },
        ];
      }),
    );
    expect(split.payment).toMatchObject({ transactionId: '13', paidAt: '2024-06-05T08:00:00.000Z', amount: 20532 });
  });

  it('transactions in another currency than the amounts read give no payment amount', () => {
    const order = parse(changed(sek(), (o) => (o.transactions![0]!.currency = 'EUR')));
    expect(order.payment).toMatchObject({ transactionId: 'pi_3PGq2K2eZvKYlo2C0AbCdEfG', amount: null });
  });

  it('a refund without transactions totals its lines; a shipping refund adjustment becomes a shipping line', () => {
    const order = parse(
      changed(sek(), (o) => {
        const refund = o.refunds[0]!;
        refund.transactions = [];
        // 49.00 shipping incl. 9.80 VAT, reported net with the tax on top, both negative.
        refund.order_adjustments = [
          { id: 1, kind: 'shipping_refund', reason: 'Shipping refund', amount: '-39.20', tax_amount: '-9.80' },
          { id: 2, kind: 'refund_discrepancy', reason: 'Refund discrepancy', amount: '5.00', tax_amount: '0.00' },
        ];
      }),
    );
    const [refund] = order.refunds;
    expect(refund!.lines[1]).toEqual({
      lineRef: '4412345601',
      kind: 'shipping',
      field: 'refunds[0].order_adjustments[0]',
      sku: 'PostNord MyPack',
      name: 'PostNord MyPack Collect',
      quantity: 1,
      net: 3920,
      tax: 980,
      vatRate: 2500,
    });
    // 134.10 + 49.00 − 5.00 refunded less than the lines say.
    expect(refund!.total).toBe(13410 + 4900 - 500);
  });

  it('a shipping refund reported gross (amount includes tax_amount) is recognised by its tax', () => {
    const order = parse(
      changed(sek(), (o) => {
        o.refunds[0]!.order_adjustments = [{ id: 1, kind: 'shipping_refund', amount: '-49.00', tax_amount: '-9.80' }];
      }),
    );
    expect(order.refunds[0]!.lines[1]).toMatchObject({ net: 3920, tax: 980 });
  });

  it('reads presentment money when asked: currency, every amount and the transactions', () => {
    const raw = changed(chf(), (o) => {
      o.presentment_currency = 'EUR';
      for (const money of presentmentMonies(o)) money.currency_code = 'EUR';
      o.line_items[1]!.price_set!.presentment_money.amount = '92.10';
      o.line_items[1]!.tax_lines[0]!.price_set!.presentment_money.amount = '7.46';
      (o.total_price_set as MoneySet).presentment_money.amount = '212.50';
      o.transactions = [{ id: 21, kind: 'sale', status: 'success', amount: '212.50', currency: 'EUR', processed_at: '2024-06-04T00:20:00+02:00' }];
    });
    const eur = parse(raw, { money: 'presentment' });
    expect(eur.currency).toBe('EUR');
    expect(row(eur.lines[1]!)).toEqual(['product', 'OFEN-RAC-2', 1, 9210, 9210, 746, 746, 810]);
    expect(eur.total).toBe(21250);
    expect(eur.payment).toMatchObject({ amount: 21250, paidAt: '2024-06-03T22:20:00.000Z' });

    const shop = parse(raw);
    expect(shop.currency).toBe('CHF');
    expect(row(shop.lines[1]!)).toEqual(['product', 'OFEN-RAC-2', 1, 8900, 8900, 721, 721, 810]);
    expect(shop.total).toBe(20532);
    // The EUR transaction cannot count in CHF.
    expect(shop.payment?.amount).toBeNull();
  });

  it('in presentment money, a bare amount is usable when both currencies agree', () => {
    const order = parse(changed(chf(), (o) => delete o.line_items[1]!.price_set), { money: 'presentment' });
    expect(order.currency).toBe('CHF');
    expect(order.lines[1]!.netBeforeDiscount).toBe(8900);
  });
});

describe('parseShopifyOrder rejects broken records naming the field', () => {
  it('an unparsable bare price names line_items[0].price', () => {
    const error = rejection(
      changed(chf(), (o) => {
        delete o.line_items[0]!.price_set;
        o.line_items[0]!.price = '14,80';
      }),
    );
    expect(error.field).toBe('line_items[0].price');
    expect(error.message).toBe('line_items[0].price: "14,80" is not a decimal amount');
  });

  it('an unparsable amount in a *_set names its path', () => {
    const error = rejection(changed(chf(), (o) => (o.line_items[0]!.price_set!.shop_money.amount = '14.805')));
    expect(error.field).toBe('line_items[0].price_set.shop_money.amount');
    expect(error.message).toContain('has more than 2 decimals');
    const allocation = rejection(changed(sek(), (o) => (o.line_items[2]!.discount_allocations[0]!.amount_set!.shop_money.amount = 'abc')));
    expect(allocation.field).toBe('line_items[2].discount_allocations[0].amount_set.shop_money.amount');
    const refund = rejection(changed(sek(), (o) => ((o.refunds[0]!.refund_line_items[0]!.subtotal_set as MoneySet).shop_money.amount = '')));
    expect(refund.field).toBe('refunds[0].refund_line_items[0].subtotal_set.shop_money.amount');
    expect(rejection(changed(chf(), (o) => ((o.total_price_set as MoneySet).shop_money.amount = '2O5.32'))).field).toBe('total_price_set.shop_money.amount');
  });

  it('a missing amount', () => {
    const error = rejection(
      changed(chf(), (o) => {
        delete o.total_tax;
        delete o.total_tax_set;
      }),
    );
    expect(error.field).toBe('total_tax');
    expect(error.message).toBe('total_tax: amount is missing');
  });

  it('a money set in another currency than the order’s', () => {
    const error = rejection(changed(chf(), (o) => (o.line_items[0]!.price_set!.shop_money.currency_code = 'EUR')));
    expect(error.field).toBe('line_items[0].price_set.shop_money.currency_code');
  });

  it('two non-zero rates on one line', () => {
    const error = rejection(changed(chf(), (o) => o.line_items[1]!.tax_lines.push({ title: 'Kantonssteuer', rate: 0.01, price: '0.89' })));
    expect(error.field).toBe('line_items[1].tax_lines');
    expect(error.message).toBe('line_items[1].tax_lines: several VAT rates on one line are not supported');
  });

  it('tax on a line that is not taxable', () => {
    expect(rejection(changed(chf(), (o) => (o.line_items[1]!.taxable = false))).field).toBe('line_items[1].tax_lines');
  });

  it('a rate that is no usable fraction', () => {
    expect(rejection(changed(chf(), (o) => (o.line_items[0]!.tax_lines[0]!.rate = 'abc'))).field).toBe('line_items[0].tax_lines[0].rate');
    const tooHigh = rejection(changed(chf(), (o) => (o.line_items[0]!.tax_lines[0]!.rate = 2.6)));
    expect(tooHigh.field).toBe('line_items[0].tax_lines[0].rate');
    expect(tooHigh.message).toContain('outside 0–100 %');
    expect(rejection(changed(chf(), (o) => (o.tax_lines[0]!.rate = null))).field).toBe('tax_lines[0].rate');
  });

  it('an unknown currency', () => {
    const error = rejection(changed(chf(), (o) => (o.currency = 'XYZ')));
    expect(error.field).toBe('currency');
    expect(error.message).toBe('currency: unknown currency "XYZ"');
    expect(rejection(changed(chf(), (o) => delete o.currency)).field).toBe('currency');
    expect(rejection(changed(chf(), (o) => (o.presentment_currency = 'toString')), { money: 'presentment' }).field).toBe('presentment_currency');
  });

  it('a presentment amount that is missing while the currencies differ', () => {
    const error = rejection(
      changed(chf(), (o) => {
        o.presentment_currency = 'EUR';
        for (const money of presentmentMonies(o)) money.currency_code = 'EUR';
        delete o.line_items[0]!.price_set;
      }),
      { money: 'presentment' },
    );
    expect(error.field).toBe('line_items[0].price_set');
  });

  it('timestamps that are missing or impossible', () => {
    const missing = rejection(
      changed(chf(), (o) => {
        delete o.processed_at;
        delete o.created_at;
      }),
    );
    expect(missing.field).toBe('created_at');
    expect(rejection(changed(chf(), (o) => (o.processed_at = '2024-02-30T10:00:00+01:00'))).field).toBe('processed_at');
    expect(rejection(changed(chf(), (o) => (o.updated_at = '04.06.2024 00:15'))).field).toBe('updated_at');
  });

  it('a fractional quantity, and ids beyond 2^53', () => {
    expect(rejection(changed(chf(), (o) => (o.line_items[0]!.quantity = 1.5))).field).toBe('line_items[0].quantity');
    expect(rejection(changed(chf(), (o) => (o.id = 2 ** 53 + 2))).field).toBe('id');
    expect(parse(changed(chf(), (o) => (o.id = '9007199254740993'))).id).toBe('9007199254740993');
  });

  it('an unknown order adjustment kind', () => {
    const error = rejection(changed(sek(), (o) => (o.refunds[0]!.order_adjustments = [{ kind: 'mystery', amount: '-1.00', tax_amount: '0.00' }])));
    expect(error.field).toBe('refunds[0].order_adjustments[0].kind');
  });

  it.each([
    ['null', null],
    ['an array', [1]],
    ['a string', 'order'],
  ])('a non-object order (%s)', (_label, raw) => {
    const error = rejection(raw);
    expect(error.field).toBeUndefined();
    expect(error.message).toBe('an order must be a JSON object');
  });
});
