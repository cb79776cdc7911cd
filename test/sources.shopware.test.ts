import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RecordError } from '../src/errors.js';
import type { CanonicalOrder } from '../src/sources/order.js';
import { parseShopwareOrder } from '../src/sources/shopware-order.js';

/** The parts of a Shopware order entity the tests read or break; everything else passes through. */
interface SwTax {
  tax: unknown;
  taxRate: unknown;
  price: unknown;
  [key: string]: unknown;
}
interface SwPrice {
  unitPrice: unknown;
  totalPrice: unknown;
  calculatedTaxes: SwTax[];
  [key: string]: unknown;
}
interface SwLine {
  id: string;
  type: string;
  price: SwPrice;
  payload: Record<string, unknown>;
  [key: string]: unknown;
}
interface SwOrder {
  [key: string]: unknown;
  price: SwPrice & { taxStatus: string };
  shippingCosts: SwPrice;
  lineItems: SwLine[];
  orderCustomer: { customerId: string | null; customer?: { guest: boolean } } & Record<string, unknown>;
  transactions: Record<string, unknown>[];
  deliveries: Record<string, unknown>[];
}

const FIXTURES = ['order-chf-gross', 'order-chf-net'] as const;

/** A fresh, mutable copy of a fixture order (the `data[0]` element of a search response). */
function sample(name: (typeof FIXTURES)[number]): SwOrder {
  return JSON.parse(readFileSync(new URL(`./fixtures/shopware/${name}.json`, import.meta.url), 'utf8')) as SwOrder;
}

function parse(raw: unknown): CanonicalOrder {
  return parseShopwareOrder('shop', raw);
}

/** A copy of fixture `name` changed by `change`. */
function changed(name: (typeof FIXTURES)[number], change: (order: SwOrder) => void): SwOrder {
  const order = sample(name);
  change(order);
  return order;
}

/** Parse a record that must be rejected, and return the RecordError. */
function rejection(raw: unknown): RecordError {
  try {
    parse(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(RecordError);
    return error as RecordError;
  }
  throw new Error('expected parseShopwareOrder to reject the record');
}

const total = (amounts: number[]): number => amounts.reduce((a, b) => a + b, 0);

/** kind, ref, field, sku, quantity, netBeforeDiscount, net, tax, taxBeforeDiscount, rate. */
const row = (o: CanonicalOrder) =>
  o.lines.map((l) => [l.kind, l.ref, l.field, l.sku, l.quantity, l.netBeforeDiscount, l.net, l.tax, l.taxBeforeDiscount, l.vatRate]);

describe('parseShopwareOrder on the fixture orders', () => {
  describe.each(FIXTURES)('%s', (name) => {
    const order = parse(sample(name));

    it('Σ line net + Σ line tax equals the order total, in minor units', () => {
      expect(total(order.lines.map((l) => l.net)) + total(order.lines.map((l) => l.tax))).toBe(order.total);
    });

    it('Σ line tax equals totalTax and the shop’s calculatedTaxes per rate', () => {
      expect(total(order.lines.map((l) => l.tax))).toBe(order.totalTax);
      expect(total(order.taxTotals.map((t) => t.tax))).toBe(order.totalTax);
      for (const t of order.taxTotals) {
        expect(total(order.lines.filter((l) => l.vatRate === t.rate).map((l) => l.tax)), `rate ${t.rate}`).toBe(t.tax);
      }
    });

    it('has no per-line discount (Shopware reports discounts as lines of their own)', () => {
      for (const l of order.lines) {
        expect(l.netBeforeDiscount, l.field).toBe(l.net);
        expect(l.taxBeforeDiscount, l.field).toBe(l.tax);
      }
    });

    it('carries identity and currency, and no refunds', () => {
      expect(order.source).toBe('shop');
      expect(order.currency).toBe('CHF');
      expect(order.test).toBe(false);
      expect(order.refunds).toEqual([]);
    });
  });

  it('order-chf-gross: every line, exactly', () => {
    const order = parse(sample('order-chf-gross'));
    expect(order.pricesIncludeTax).toBe(true);
    expect(row(order)).toEqual([
      // 2 × 14.90 gross at 2.6 %: tax 0.76 (Shopware rounds the tax per position)
      ['product', '0190b7e2c4d57d3e0c1f4a5b6c7d8e9f', 'lineItems[0]', 'KAESE-GRUY-500', 2, 2904, 2904, 76, 76, 260],
      ['product', '0190b7e2c4d67e4f1d2a5b6c7d8e9f0a', 'lineItems[1]', 'KUECHE-RACL-OFEN2', 1, 8233, 8233, 667, 667, 810],
      ['product', '0190b7e2c4d77f5a2e3b6c7d8e9f0a1b', 'lineItems[2]', 'TEE-ALPEN-100', 3, 1901, 1901, 49, 49, 260],
      // The promotion −10.00 over 49.30 at 2.6 % and 89.00 at 8.1 %: shares −3.56 / −6.44 gross.
      ['discount', '0190b7e2c4d8705b3f4c7d8e9f0a1b2c:2.6', 'lineItems[3].price.calculatedTaxes[0]', 'ALPEN10', 1, -347, -347, -9, -9, 260],
      ['discount', '0190b7e2c4d8705b3f4c7d8e9f0a1b2c:8.1', 'lineItems[3].price.calculatedTaxes[1]', 'ALPEN10', 1, -596, -596, -48, -48, 810],
      ['shipping', '0190b7e2c4d9716c4a5d8e9f0a1b2c3d', 'shippingCosts', 'shipping_postpac_priority', 1, 731, 731, 59, 59, 810],
    ]);
    expect(order.lines.map((l) => l.name)).toEqual([
      'Gruyère AOP surchoix, 500 g',
      'Raclette-Ofen Nendaz für 2',
      'Alpenkräutertee, 100 g',
      'Frühlingsrabatt CHF 10',
      'Frühlingsrabatt CHF 10',
      'PostPac Priority',
    ]);
    expect(order.lines[0]!.categories).toEqual(['a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d', 'b3c4d5e6f7a84b9c0d1e2f3a4b5c6d7e']);
    expect(order.lines[3]!.categories).toEqual([]);
    // The promotion's gross shares add up to the promotion exactly.
    const promotion = order.lines.filter((l) => l.kind === 'discount');
    expect(total(promotion.map((l) => l.net + l.tax))).toBe(-1000);
    expect(order.coupons).toEqual([{ code: 'ALPEN10', discount: 943, discountTax: 57 }]);
  });

  it('order-chf-gross: totals, taxes, header and payment', () => {
    const order = parse(sample('order-chf-gross'));
    expect(order.total).toBe(13620);
    expect(order.totalTax).toBe(794);
    expect(order.taxTotals).toEqual([
      { rate: 260, label: '2.6 %', tax: 116 },
      { rate: 810, label: '8.1 %', tax: 678 },
    ]);
    expect(order).toMatchObject({
      id: '0190b7e2c4d17a3e9f2b8c6d4e1a5f3b',
      number: '10472',
      status: 'completed',
      createdAt: '2026-03-14T09:12:45.123Z',
      updatedAt: '2026-03-16T07:41:02.518Z',
      completedAt: '2026-03-16T07:41:02.518Z',
    });
    expect(order.payment).toEqual({
      method: 'payment_prepayment',
      title: 'Vorkasse',
      transactionId: '0190b7e2c4da727d5b6e9f0a1b2c3d4e',
      paidAt: '2026-03-16T07:41:02.502Z',
      amount: 13620,
      fee: 0,
    });
    // customFields: scalars only (the nested delivery_slot is left out).
    expect(order.meta).toEqual({ kontor_channel: 'webshop', gift_wrap: 'false', loyalty_points: '136' });
  });

  it('order-chf-gross: a registered customer with a separate delivery address', () => {
    const { customer } = parse(sample('order-chf-gross'));
    expect(customer).toMatchObject({
      id: 'SW10231',
      email: 'reto.gerber@example.ch',
      firstName: 'Reto',
      lastName: 'Gerber',
      company: '',
      phone: '+41 31 555 12 34',
      vatId: '',
    });
    expect(customer.billing).toEqual({ street: 'Kramgasse 12', street2: '3. Stock', zipcode: '3011', city: 'Bern', state: 'BE', country: 'CH' });
    expect(customer.shipping).toEqual({ street: 'Dorfstrasse 5', street2: '', zipcode: '3800', city: 'Interlaken', state: 'BE', country: 'CH' });
  });

  it('order-chf-net: net prices, a company with a VAT id, an open order not yet paid', () => {
    const order = parse(sample('order-chf-net'));
    expect(order.pricesIncludeTax).toBe(false);
    expect(row(order)).toEqual([
      // 2 × 415.00 net at 8.1 %: 67.23 (the stored share is 830.0000000000001)
      ['product', '0190c3a1f2e37e7f1a2b3c4d5e6f7a8b', 'lineItems[0]', 'GASTRO-RACL-DUO', 2, 83000, 83000, 6723, 6723, 810],
      ['shipping', '0190c3a1f2e47f8a2b3c4d5e6f7a8b9c', 'shippingCosts', 'shipping_planzer', 1, 1200, 1200, 97, 97, 810],
    ]);
    expect(order.total).toBe(91020);
    expect(order.taxTotals).toEqual([{ rate: 810, label: '8.1 %', tax: 6820 }]);
    expect(order).toMatchObject({ number: '10519', status: 'open', completedAt: null, coupons: [], meta: {} });
    // updatedAt is null until the first update: the creation time stands in.
    expect(order.updatedAt).toBe('2026-04-02T13:05:17.804Z');
    expect(order.customer).toMatchObject({
      id: 'SW10042',
      company: 'Gasthaus Sternen AG',
      vatId: 'CHE-109.322.551 MWST',
      billing: { street: 'Seestrasse 41', street2: '', zipcode: '8800', city: 'Thalwil', state: 'ZH', country: 'CH' },
      // Delivered to the billing address (same order_address row): no separate shipping address.
      shipping: null,
    });
    expect(order.payment).toEqual({
      method: 'payment_invoicepayment',
      title: 'Rechnung',
      transactionId: '0190c3a1f2e5709b3c4d5e6f7a8b9c0d',
      paidAt: null,
      amount: 91020,
      fee: 0,
    });
  });
});

describe('parseShopwareOrder: Shopware floats', () => {
  it('accepts float noise and rounds it to the currency (10.000000000000002 → 10.00)', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        const line = o.lineItems[1]!.price;
        line.unitPrice = 10;
        line.totalPrice = 10.000000000000002;
        line.calculatedTaxes = [{ tax: 0.7500000000000001, taxRate: 8.1, price: 9.999999999999998 }];
      }),
    );
    const line = order.lines.find((l) => l.field === 'lineItems[1]')!;
    expect([line.net, line.tax, line.vatRate]).toEqual([925, 75, 810]);
  });

  it('rejects 10.005 CHF, naming the field', () => {
    const error = rejection(changed('order-chf-gross', (o) => (o.lineItems[1]!.price.totalPrice = 10.005)));
    expect(error.field).toBe('lineItems[1].price.totalPrice');
    expect(error.reason).toBe('10.005 has more than 2 decimals');
  });

  it('rejects a tax with more decimals than the currency, naming the field', () => {
    const error = rejection(changed('order-chf-gross', (o) => (o.lineItems[0]!.price.calculatedTaxes[0]!.tax = 0.755)));
    expect(error.field).toBe('lineItems[0].price.calculatedTaxes[0].tax');
  });

  it('rejects an order total with more decimals than the currency', () => {
    const error = rejection(changed('order-chf-gross', (o) => (o.amountTotal = 136.199)));
    expect(error.field).toBe('amountTotal');
  });

  it('rejects shares that do not add up to the line total', () => {
    const error = rejection(changed('order-chf-gross', (o) => (o.lineItems[3]!.price.calculatedTaxes[1]!.price = -5.5)));
    expect(error.field).toBe('lineItems[3].price.calculatedTaxes');
    expect(error.reason).toMatch(/add up to -9\.064714, not the totalPrice -10$/);
  });

  it('splits a promotion whose shares are exact cents exactly as given', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        o.lineItems[3]!.price.calculatedTaxes[0]!.price = -3.56;
        o.lineItems[3]!.price.calculatedTaxes[1]!.price = -6.44;
      }),
    );
    expect(order.lines.filter((l) => l.kind === 'discount').map((l) => l.net + l.tax)).toEqual([-356, -644]);
  });
});

describe('parseShopwareOrder: lines', () => {
  it('rejects several VAT rates on one product line', () => {
    const error = rejection(
      changed('order-chf-gross', (o) => {
        o.lineItems[1]!.price.calculatedTaxes = [
          { tax: 3.34, taxRate: 8.1, price: 44.5 },
          { tax: 1.13, taxRate: 2.6, price: 44.5 },
        ];
      }),
    );
    expect(error.field).toBe('lineItems[1].price.calculatedTaxes');
    expect(error.reason).toMatch(/several VAT rates/);
  });

  it('leaves container children out: their amounts are inside the parent’s price', () => {
    const plain = parse(sample('order-chf-gross'));
    const order = parse(
      changed('order-chf-gross', (o) => {
        const child = structuredClone(o.lineItems[1]!);
        child.id = '0190b7e2c4dc749f7d8a1b2c3d4e5f6a';
        child.parentId = o.lineItems[1]!.id;
        o.lineItems.push(child);
      }),
    );
    expect(row(order)).toEqual(row(plain));
  });

  it('orders the lines by position, whatever order the API lists them in', () => {
    const plain = parse(sample('order-chf-gross'));
    const order = parse(changed('order-chf-gross', (o) => o.lineItems.reverse()));
    expect(order.lines.map((l) => l.sku)).toEqual(plain.lines.map((l) => l.sku));
    expect(order.lines[0]!.field).toBe('lineItems[3]');
  });

  it('books an admin credit like a promotion: a discount line per VAT rate', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        const credit = o.lineItems[3]!;
        credit.type = 'credit';
        credit.payload = {};
      }),
    );
    expect(order.lines.filter((l) => l.kind === 'discount').map((l) => [l.sku, l.net, l.tax, l.vatRate])).toEqual([
      ['', -347, -9, 260],
      ['', -596, -48, 810],
    ]);
    expect(order.coupons).toEqual([]);
  });

  it('keeps amountTotal as the total when cash rounding moved it off the lines', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        o.amountTotal = 136.25;
        o.price.totalPrice = 136.25;
      }),
    );
    expect(order.total).toBe(13625);
    expect(total(order.lines.map((l) => l.net + l.tax))).toBe(13620);
  });

  it('tax-free orders: every line at 0 % without tax', () => {
    const order = parse(
      changed('order-chf-net', (o) => {
        o.taxStatus = 'tax-free';
        o.price.taxStatus = 'tax-free';
      }),
    );
    expect(order.pricesIncludeTax).toBe(false);
    expect(order.lines.map((l) => [l.kind, l.net, l.tax, l.vatRate])).toEqual([
      ['product', 83000, 0, 0],
      ['shipping', 1200, 0, 0],
    ]);
    expect(order.taxTotals).toEqual([]);
    expect(order.totalTax).toBe(0);
  });

  it('free shipping makes no shipping line', () => {
    const order = parse(
      changed('order-chf-net', (o) => {
        o.shippingCosts = { ...o.shippingCosts, unitPrice: 0, totalPrice: 0, calculatedTaxes: [{ tax: 0, taxRate: 8.1, price: 0 }] };
      }),
    );
    expect(order.lines.map((l) => l.kind)).toEqual(['product']);
  });
});

describe('parseShopwareOrder: customer, payment and shape', () => {
  it('a guest checkout (orderCustomer.customer.guest) has a null customer id', () => {
    const order = parse(changed('order-chf-gross', (o) => (o.orderCustomer.customer!.guest = true)));
    expect(order.customer.id).toBeNull();
    expect(order.customer.email).toBe('reto.gerber@example.ch');
  });

  it('a deleted customer (customerId null) has a null customer id', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        o.orderCustomer.customerId = null;
        delete o.orderCustomer.customer;
      }),
    );
    expect(order.customer.id).toBeNull();
  });

  it('takes the payment from the latest transaction', () => {
    const order = parse(
      changed('order-chf-gross', (o) => {
        const older = structuredClone(o.transactions[0]!);
        older.id = '0190b7e2c4db738e6c7f0a1b2c3d4e5f';
        older.createdAt = '2026-03-14T09:12:40.000+00:00';
        older.stateMachineState = { technicalName: 'cancelled' };
        older.paymentMethod = { technicalName: 'payment_twint', name: 'TWINT' };
        o.transactions.push(older);
      }),
    );
    expect(order.payment).toMatchObject({ method: 'payment_prepayment', transactionId: '0190b7e2c4da727d5b6e9f0a1b2c3d4e' });
  });

  it('names the method by shortName or the handler when the shop is older than technicalName', () => {
    const noTechnical = parse(changed('order-chf-gross', (o) => delete (o.transactions[0]!.paymentMethod as Record<string, unknown>).technicalName));
    expect(noTechnical.payment!.method).toBe('pre_payment');
    const handlerOnly = parse(
      changed('order-chf-gross', (o) => {
        o.transactions[0]!.paymentMethod = { handlerIdentifier: 'Shopware\\Core\\Checkout\\Payment\\Cart\\PaymentHandler\\CashPayment', name: 'Nachnahme' };
      }),
    );
    expect(handlerOnly.payment!).toMatchObject({ method: 'cash_payment', title: 'Nachnahme' });
  });

  it('an order without transactions has no payment', () => {
    expect(parse(changed('order-chf-net', (o) => (o.transactions = []))).payment).toBeNull();
  });

  it('asks for a missing association by name', () => {
    const error = rejection(changed('order-chf-gross', (o) => delete o.stateMachineState));
    expect(error.field).toBe('stateMachineState');
    expect(error.reason).toMatch(/add the association "stateMachineState"/);
    expect(rejection(changed('order-chf-gross', (o) => delete o.currency)).field).toBe('currency');
  });

  it('rejects a JSON:API resource and points to Accept: application/json', () => {
    const error = rejection({ id: 'x', type: 'order', attributes: { orderNumber: '1' }, relationships: {} });
    expect(error.reason).toMatch(/Accept: application\/json/);
  });

  it('rejects an unknown currency', () => {
    const error = rejection(changed('order-chf-gross', (o) => ((o.currency as Record<string, unknown>).isoCode = 'XYZ')));
    expect(error.field).toBe('currency.isoCode');
  });
});

describe('parseShopwareOrder: the customer number', () => {
  it('prefers the shop’s customer number to the UUID, which would not fit Run my Accounts’ 32 characters once prefixed', () => {
    const order = parse(changed('order-chf-gross', (o) => delete o.orderCustomer.customerNumber));
    expect(order.customer.id).toBe('018f2a9c7b6e4d3c2b1a0f9e8d7c6b5a');
    expect(parse(sample('order-chf-gross')).customer.id).toBe('SW10231');
  });
});
