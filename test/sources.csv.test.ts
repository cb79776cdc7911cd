import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCsvOrders } from '../src/sources/csv-order.js';
import type { CanonicalOrder } from '../src/sources/order.js';

const FIXTURE = readFileSync(new URL('./fixtures/csv/orders.csv', import.meta.url), 'utf8');

function parse(text: string, file = 'orders.csv') {
  return parseCsvOrders('csv', text, file);
}

/** The fixture with line `line` (1-based) changed by `change`. */
function withLine(line: number, change: (text: string) => string): string {
  const lines = FIXTURE.split('\n');
  lines[line - 1] = change(lines[line - 1]!);
  return lines.join('\n');
}

/** kind, ref, field, sku, quantity, netBeforeDiscount, net, tax, taxBeforeDiscount, rate. */
const rows = (o: CanonicalOrder) =>
  o.lines.map((l) => [l.kind, l.ref, l.field, l.sku, l.quantity, l.netBeforeDiscount, l.net, l.tax, l.taxBeforeDiscount, l.vatRate]);

const total = (amounts: number[]): number => amounts.reduce((a, b) => a + b, 0);

/** A minimal file: the required columns only. */
const MINIMAL = ['order_id,created_at,currency,name,unit_price,vat_rate', '9001,2026-03-14,CHF,Bergkäse,10.00,2.6', ''].join('\n');

describe('parseCsvOrders on the fixture file', () => {
  const { orders, errors } = parse(FIXTURE);
  const byId = (id: string) => orders.find((o) => o.id === id)!;

  it('reads all three orders without errors, in order of first appearance', () => {
    expect(errors).toEqual([]);
    expect(orders.map((o) => o.id)).toEqual(['2001', '2002', '2003']);
  });

  it('every order: Σ line net + Σ line tax equals its total, and the tax totals add up per rate', () => {
    for (const o of orders) {
      expect(total(o.lines.map((l) => l.net + l.tax)), o.id).toBe(o.total);
      expect(total(o.lines.map((l) => l.tax)), o.id).toBe(o.totalTax);
      for (const t of o.taxTotals) expect(total(o.lines.filter((l) => l.vatRate === t.rate).map((l) => l.tax)), `${o.id} ${t.rate}`).toBe(t.tax);
    }
  });

  it('2001: net prices at 8.1 % and 2.6 % with line discounts, exactly', () => {
    const o = byId('2001');
    expect(rows(o)).toEqual([
      // 2 × 14.50 − 2.90 = 26.10 net; VAT computed: 0.68 after, 0.75 before the discount
      ['product', '1', 'orders.csv:2', 'KAESE-GRUY-500', 2, 2900, 2610, 68, 75, 260],
      // 82.30 − 8.23 = 74.07 net; the file's VAT 6.00; the discount's VAT 6.67 − 6.00 computed
      ['product', '2', 'orders.csv:3', 'KUECHE-RACL-OFEN2', 1, 8230, 7407, 600, 667, 810],
      // A quoted name with a comma; no discount column value means 0
      ['product', '3', 'orders.csv:4', 'TEE-ALPEN-100', 3, 1860, 1860, 48, 48, 260],
    ]);
    expect(o.lines.map((l) => l.name)).toEqual(['Gruyère AOP 500 g', 'Raclette-Ofen Nendaz', 'Alpenkräutertee, 100 g']);
    expect(o.lines.map((l) => l.categories)).toEqual([['Käse', 'Lebensmittel'], ['Küche'], ['Tee']]);
    expect(o).toMatchObject({
      source: 'csv',
      number: 'W-2001',
      status: 'completed',
      createdAt: '2026-03-14T09:22:00.000Z',
      updatedAt: '2026-03-14T09:22:00.000Z',
      currency: 'CHF',
      pricesIncludeTax: false,
      total: 12593,
      totalTax: 716,
      meta: { channel: 'web' },
      coupons: [],
      refunds: [],
    });
    expect(o.taxTotals).toEqual([
      { rate: 260, label: '2.6 %', tax: 116 },
      { rate: 810, label: '8.1 %', tax: 600 },
    ]);
    expect(o.payment).toEqual({ method: 'twint', title: 'twint', transactionId: 'TW-88412', paidAt: '2026-03-14T09:25:00.000Z', amount: null, fee: 0 });
    expect(o.customer).toEqual({
      id: 'C-118',
      email: 'reto.gerber@example.ch',
      firstName: 'Reto',
      lastName: 'Gerber',
      company: '',
      phone: '',
      vatId: '',
      billing: { street: 'Kramgasse 12', street2: '3. Stock', zipcode: '3011', city: 'Bern', state: '', country: 'CH' },
      shipping: null,
    });
  });

  it('2002: shipping and a fee on rows that are not adjacent and leave the order columns empty', () => {
    const o = byId('2002');
    expect(rows(o)).toEqual([
      ['product', '1', 'orders.csv:5', 'FONDUE-CAQ', 1, 4990, 4990, 404, 404, 810],
      ['shipping', '2', 'orders.csv:8', 'postpac_priority', 1, 900, 900, 73, 73, 810],
      // 5.00 × 8.1 % = 0.405, rounded half-up
      ['fee', '3', 'orders.csv:10', 'cod', 1, 500, 500, 41, 41, 810],
    ]);
    // No order_total: the total is the sum of the lines. No status: completed. No customer id: a guest.
    expect(o).toMatchObject({ number: 'W-2002', status: 'completed', total: 6908, totalTax: 518, meta: {} });
    expect(o.customer.id).toBeNull();
    // A bare date is midnight in Zurich (CET in March).
    expect(o.createdAt).toBe('2026-03-14T23:00:00.000Z');
    expect(o.payment).toEqual({ method: 'invoice', title: 'invoice', transactionId: '', paidAt: null, amount: null, fee: 0 });
  });

  it('2003: prices including VAT, with a discount and a quoted name with quotes, exactly', () => {
    const o = byId('2003');
    expect(rows(o)).toEqual([
      // 2 × 9.80 gross at 2.6 %: VAT 0.50 inside
      ['product', '1', 'orders.csv:6', 'RACL-SCHEIBEN-400', 2, 1910, 1910, 50, 50, 260],
      // 39.00 − 3.90 = 35.10 gross: VAT 2.63 after, 2.92 before the discount
      ['product', '2', 'orders.csv:7', 'RACL-PFANNE-SET', 1, 3608, 3247, 263, 292, 810],
      ['shipping', '3', 'orders.csv:9', 'postpac_economy', 1, 731, 731, 59, 59, 810],
    ]);
    expect(o.lines[1]!.name).toBe('Raclette-Pfännchen Set "Duo"');
    // Gross lines: net + tax before the discount is the gross amount before it.
    expect(o.lines[1]!.netBeforeDiscount + o.lines[1]!.taxBeforeDiscount).toBe(3900);
    expect(o).toMatchObject({ status: 'processing', pricesIncludeTax: true, total: 6260, totalTax: 372, payment: null, meta: { channel: 'pos' } });
    expect(o.customer).toMatchObject({ id: 'C-204', company: 'Gasthaus Sternen AG', vatId: 'CHE-109.322.551 MWST' });
  });
});

describe('parseCsvOrders on the example of docs/sources/csv.md', () => {
  it('reads it as the page describes', () => {
    const page = readFileSync(new URL('../docs/sources/csv.md', import.meta.url), 'utf8');
    const example = /```csv\n([\s\S]*?)```/.exec(page)![1]!;
    const { orders, errors } = parse(example);
    expect(errors).toEqual([]);
    expect(orders.map((o) => [o.id, o.total, o.totalTax, o.createdAt, o.payment?.method])).toEqual([
      ['2001', 12593, 716, '2026-03-14T09:22:00.000Z', 'twint'],
      ['2002', 5890, 441, '2026-03-14T23:00:00.000Z', 'invoice'],
    ]);
    expect(orders[0]!.lines.map((l) => [l.net, l.tax])).toEqual([[2610, 68], [7407, 600], [1860, 48]]);
    expect(orders[1]!.lines.map((l) => [l.net, l.tax])).toEqual([[4616, 374], [833, 67]]);
  });
});

describe('parseCsvOrders: file formats', () => {
  const plain = parse(FIXTURE).orders;

  it('reads the same orders with a byte order mark and with CRLF line breaks', () => {
    expect(parse(`\uFEFF${FIXTURE}`)).toEqual({ orders: plain, errors: [] });
    expect(parse(FIXTURE.replace(/\n/g, '\r\n'))).toEqual({ orders: plain, errors: [] });
  });

  it('reads a semicolon-separated file (the header decides)', () => {
    const text = ['order_id;created_at;currency;name;unit_price;vat_rate', '9001;2026-03-14;CHF;Käse, würzig;10.00;2.6', '9001;2026-03-14;CHF;"Brot; hell";4.50;2.6%'].join('\n');
    const { orders, errors } = parse(text);
    expect(errors).toEqual([]);
    expect(orders[0]!.lines.map((l) => [l.name, l.net, l.tax, l.vatRate])).toEqual([
      ['Käse, würzig', 1000, 26, 260],
      ['Brot; hell', 450, 12, 260],
    ]);
  });

  it('needs only the required columns; defaults fill the rest', () => {
    const { orders, errors } = parse(MINIMAL);
    expect(errors).toEqual([]);
    expect(orders[0]).toMatchObject({ id: '9001', number: '9001', status: 'completed', pricesIncludeTax: false, payment: null, total: 1026 });
    expect(rows(orders[0]!)).toEqual([['product', '1', 'orders.csv:2', '', 1, 1000, 1000, 26, 26, 260]]);
  });

  it('counts lines across a quoted field that spans lines, and skips empty lines', () => {
    const text = ['order_id,created_at,currency,name,unit_price,vat_rate', '9001,2026-03-14,CHF,"Käse', 'am Stück",10.00,2.6', '', '9001,2026-03-14,CHF,Brot,4.50,x'].join('\r\n');
    const { errors } = parse(text);
    expect(errors).toEqual([{ line: 5, orderId: '9001', message: 'orders.csv:5: column vat_rate: "x" is not a decimal amount' }]);
  });

  it('a date in summer is midnight CEST', () => {
    const { orders } = parse(MINIMAL.replace('2026-03-14', '2026-07-01'));
    expect(orders[0]!.createdAt).toBe('2026-06-30T22:00:00.000Z');
  });

  it('a discount line of its own is negative and keeps its rate', () => {
    const text = [
      'order_id,created_at,currency,line_kind,name,unit_price,vat_rate',
      '9001,2026-03-14,CHF,,Bergkäse,10.00,2.6',
      '9001,2026-03-14,CHF,discount,Rabatt,-2.00,2.6',
    ].join('\n');
    const { orders, errors } = parse(text);
    expect(errors).toEqual([]);
    expect(rows(orders[0]!)).toEqual([
      ['product', '1', 'orders.csv:2', '', 1, 1000, 1000, 26, 26, 260],
      ['discount', '2', 'orders.csv:3', '', 1, -200, -200, -5, -5, 260],
    ]);
    expect(orders[0]!.total).toBe(821);
  });
});

describe('parseCsvOrders: errors', () => {
  it('a broken amount rejects only its order, naming line and column', () => {
    const { orders, errors } = parse(withLine(5, (l) => l.replace('1,49.90,', '1,"49,90",')));
    expect(errors).toEqual([{ line: 5, orderId: '2002', message: 'orders.csv:5: column unit_price: "49,90": use a dot as the decimal separator' }]);
    expect(orders.map((o) => o.id)).toEqual(['2001', '2003']);
  });

  it('an amount with more decimals than the currency rejects its order', () => {
    const { orders, errors } = parse(withLine(3, (l) => l.replace(',6.00,', ',6.005,')));
    expect(errors).toEqual([{ line: 3, orderId: '2001', message: 'orders.csv:3: column vat_amount: "6.005" has more than 2 decimals' }]);
    expect(orders.map((o) => o.id)).toEqual(['2002', '2003']);
  });

  it('order columns that disagree between rows of one order reject it, naming line and column', () => {
    const { orders, errors } = parse(withLine(3, (l) => l.replace(',CHF,', ',EUR,')));
    expect(errors).toEqual([{ line: 3, orderId: '2001', message: 'orders.csv:3: column currency: "EUR" disagrees with "CHF" on line 2 of order 2001' }]);
    expect(orders.map((o) => o.id)).toEqual(['2002', '2003']);
  });

  it('reports every bad cell of an order, in line order', () => {
    const text = withLine(6, (l) => l.replace(',2,9.80,', ',1.5,9.80,')).replaceAll('2026-03-16T08:05:00Z', '2026-03-16T08:05:00');
    const { orders, errors } = parse(text);
    expect(errors.map((e) => e.message)).toEqual([
      'orders.csv:6: column created_at: "2026-03-16T08:05:00" is not a date (2026-03-14) or a timestamp with a zone (2026-03-14T10:22:00+01:00)',
      'orders.csv:6: column quantity: "1.5" is not a whole number of at least 1',
    ]);
    expect(orders.map((o) => o.id)).toEqual(['2001', '2002']);
  });

  it('a required value left empty on every row of an order is reported on its first row', () => {
    const { errors } = parse(MINIMAL.replace(',CHF,', ',,'));
    expect(errors).toEqual([{ line: 2, orderId: '9001', message: 'orders.csv:2: column currency: a value is required' }]);
  });

  it('rejects impossible dates', () => {
    const { errors } = parse(MINIMAL.replace('2026-03-14', '2026-02-30'));
    expect(errors[0]!.message).toBe('orders.csv:2: column created_at: "2026-02-30" is not a valid date');
  });

  it('a payment date needs a payment method', () => {
    const text = MINIMAL.replace('vat_rate', 'vat_rate,paid_at').replace(',2.6', ',2.6,2026-03-14');
    expect(parse(text).errors[0]!.message).toBe('orders.csv:2: column payment_method: a value is required when paid_at or transaction_id is given');
  });

  it('a row without order_id is reported and the other orders still parse', () => {
    const { orders, errors } = parse(withLine(10, (l) => l.replace(/^2002,/, ',')));
    expect(errors).toEqual([{ line: 10, orderId: null, message: 'orders.csv:10: column order_id: a value is required' }]);
    expect(orders.map((o) => o.id)).toEqual(['2001', '2002', '2003']);
  });

  it('a row with the wrong number of fields rejects its order', () => {
    const { orders, errors } = parse(withLine(8, (l) => `${l},extra`));
    expect(errors).toEqual([{ line: 8, orderId: '2002', message: 'orders.csv:8: the row has 32 fields, the header 31' }]);
    expect(orders.map((o) => o.id)).toEqual(['2001', '2003']);
  });

  it('a header without a required column rejects the file', () => {
    const { orders, errors } = parse(MINIMAL.replace('vat_rate', 'vat'));
    expect(orders).toEqual([]);
    expect(errors).toEqual([
      { line: 1, orderId: null, message: 'orders.csv:1: column vat is unknown (see docs/sources/csv.md; free columns are named meta_<key>)' },
      { line: 1, orderId: null, message: 'orders.csv:1: column vat_rate is missing' },
    ]);
  });

  it('broken CSV syntax rejects the file', () => {
    const { orders, errors } = parse(`${MINIMAL}9002,2026-03-14,CHF,"Käse,10.00,2.6\n`);
    expect(orders).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^orders\.csv:\d+: the file is not valid CSV: Quote Not Closed/);
  });

  it('an empty file has no orders and no errors', () => {
    expect(parse('')).toEqual({ orders: [], errors: [] });
    expect(parse('\uFEFF\n')).toEqual({ orders: [], errors: [] });
  });
});
