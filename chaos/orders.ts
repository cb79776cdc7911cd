/**
 * Deterministic WooCommerce orders for the chaos run, as order files the `file` source reads
 * (format `woocommerce`, JSON Lines) and the shipped mapping mappings/woocommerce-ch.yaml books.
 *
 * The same seed gives the same files. The mix: registered customers who come back (a pool of
 * about a third of the orders) and guests; one to four lines at 8.1 % or 2.6 %, a coupon on
 * one order in five, shipping unless the goods reach CHF 150; paid by card (Stripe, with its
 * fee) or TWINT, or by bank transfer (bacs, left open); a few orders in statuses that are not
 * billed. Later versions of some orders, in files written after all first versions: refunds
 * of a paid order (one line's gross; a credit note and its payout) and cancellations of a
 * booked order (a storno settled through the transfer account 1090, paid ones also paid back).
 * A few orders arrive already refunded in their first version.
 *
 * Amounts reconcile exactly (net lines with their own rounded VAT, total = Σ net + Σ VAT), as
 * in test/emulators/woocommerce.ts, so that no order is quarantined.
 *
 * What the orders should become, counted here from the orders alone (not from kontor), is in
 * `expected`: the check of the chaos run that does not depend on kontor's mapping at all.
 */
import { mulberry32 } from '../test/random.js';

type Rate = 1 | 2;
const RATES: Record<Rate, { permille: number; percent: number; code: string; label: string }> = {
  1: { permille: 81, percent: 8.1, code: 'CH-MWST-8.1-1', label: 'MWST 8.1%' },
  2: { permille: 26, percent: 2.6, code: 'CH-MWST-2.6-1', label: 'MWST 2.6%' },
};

const PRODUCTS: readonly { id: number; name: string; sku: string; unit: number; rate: Rate }[] = [
  { id: 101, name: 'Wanderrucksack 30 l', sku: 'OUT-RUCK-30', unit: 8900, rate: 1 },
  { id: 102, name: 'Sackmesser Ranger 55', sku: 'OUT-MESS-55', unit: 5490, rate: 1 },
  { id: 103, name: 'Bergkristall Karaffe', sku: 'HAUS-KARA-1', unit: 3950, rate: 1 },
  { id: 104, name: 'Twanner Chasselas AOC 75 cl', sku: 'WEIN-TWANN-75', unit: 1790, rate: 1 },
  { id: 201, name: 'Emmentaler AOP 1 kg', sku: 'KAESE-EMMI-1000', unit: 2450, rate: 2 },
  { id: 202, name: 'Bündner Nusstorte 400 g', sku: 'BACK-NUSS-400', unit: 1890, rate: 2 },
  { id: 203, name: 'Alpenkräutertee 100 g', sku: 'TEE-ALP-100', unit: 840, rate: 2 },
  { id: 204, name: 'Appenzeller Biber 6 Stück', sku: 'BACK-BIBER-6', unit: 1260, rate: 2 },
];

const FIRST = ['Anna', 'Luca', 'Beat', 'Claire', 'Reto', 'Mia', 'Noah', 'Lea', 'Jürg', 'Émilie', 'Matteo', 'Sophie'];
const LAST = ['Keller', 'Bernasconi', 'Moser', 'Dubois', 'Caduff', 'Müller', 'Meier', 'Schmid', 'Weber', 'Huber', 'Rossi', 'Brunner'];
const CITIES: readonly (readonly [string, string, string])[] = [
  ['8001', 'Zürich', 'ZH'],
  ['6900', 'Lugano', 'TI'],
  ['3600', 'Thun', 'BE'],
  ['1204', 'Genève', 'GE'],
  ['7000', 'Chur', 'GR'],
  ['4051', 'Basel', 'BS'],
];
const STREETS = ['Bahnhofstrasse', 'Via Nassa', 'Hauptgasse', 'Rue du Marché', 'Postgasse', 'Seestrasse'];

const PAYMENTS = [
  { method: 'stripe', title: 'Kreditkarte (Stripe)' },
  { method: 'twint', title: 'TWINT' },
  { method: 'bacs', title: 'Rechnung / Banküberweisung' },
] as const;

const SHIPPING_NET = 790;
const FREE_SHIPPING_FROM = 15000;
/** 2025: the VAT rates of 2024 on apply to every order. */
const FROM = Date.UTC(2025, 0, 1);
const TO = Date.UTC(2025, 11, 20);
const MINUTE = 60_000;

export interface GeneratedOrderFile {
  /** File name in the source folder. */
  name: string;
  /** JSON Lines: one order per line. */
  content: string;
}

/** What the orders should become, counted from the orders alone. */
export interface ExpectedFromOrders {
  /** Order records written (first versions). */
  orders: number;
  /** Later versions written (refunds and cancellations). */
  changes: number;
  /** Orders in statuses the mapping invoices (processing, completed). */
  billed: number;
  /** Orders in statuses it skips (pending, on-hold). */
  notBilled: number;
  invoices: number;
  /** Refunds of billed orders: one credit note each. */
  creditNotes: number;
  /** Cancellations of billed orders: one storno each. */
  stornos: number;
  /**
   * Cancellations of unpaid orders: the invoice and its storno are each settled by a payment on
   * the transfer account (two per storno), which brings it back to zero. A paid order's storno
   * is paid back to the customer through the provider's clearing account instead.
   */
  stornosOfOpenInvoices: number;
  /** Distinct customer numbers of billed orders (WC-{customer_id}, guests WC-G{id}). */
  customers: number;
  /** Billed, not cancelled, unpaid orders (bank transfer): invoices RMA should show open. */
  openInvoices: number;
  /** Billed orders paid through a provider (stripe, twint). */
  paidOrders: number;
}

export interface GeneratedOrders {
  files: GeneratedOrderFile[];
  expected: ExpectedFromOrders;
  /** Creation dates span, for `kontor backfill --from … --to …` (YYYY-MM-DD). */
  from: string;
  to: string;
}

class Random {
  constructor(private readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

interface Person {
  first: string;
  last: string;
  company: string;
  street: string;
  zip: string;
  city: string;
  state: string;
}

interface Line {
  id: number;
  product: (typeof PRODUCTS)[number];
  quantity: number;
}

interface Order {
  id: number;
  createdAt: number;
  paidAt: number | null;
  status: 'processing' | 'completed' | 'pending' | 'on-hold' | 'cancelled';
  customerId: number;
  person: Person;
  payment: (typeof PAYMENTS)[number];
  lines: Line[];
  couponPercent: number;
  refunds: { id: number; total: number; reason: string }[];
  modifiedAt: number;
}

function money(minor: number): string {
  const abs = Math.abs(minor);
  return `${minor < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** VAT on a net amount in rappen, rounded half up. */
function taxOf(net: number, rate: Rate): number {
  const scaled = net * RATES[rate].permille;
  return Math.sign(scaled) * Math.floor((Math.abs(scaled) + 500) / 1000);
}

const gmt = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const LOCAL = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Zurich', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const local = (ms: number) => LOCAL.format(new Date(ms)).replace(' ', 'T');

function amounts(o: Order) {
  const items = o.lines.map((line) => {
    const subtotal = line.product.unit * line.quantity;
    const discount = Math.floor((subtotal * o.couponPercent + 50) / 100);
    const total = subtotal - discount;
    return { line, subtotal, subtotalTax: taxOf(subtotal, line.product.rate), total, totalTax: taxOf(total, line.product.rate) };
  });
  const shippingNet = items.reduce((s, i) => s + i.subtotal, 0) >= FREE_SHIPPING_FROM ? 0 : SHIPPING_NET;
  const shippingTax = taxOf(shippingNet, 1);
  const cartTax = items.reduce((s, i) => s + i.totalTax, 0);
  const total = items.reduce((s, i) => s + i.total, 0) + shippingNet + cartTax + shippingTax;
  return { items, shippingNet, shippingTax, cartTax, total };
}

function render(o: Order): Record<string, unknown> {
  const { items, shippingNet, shippingTax, cartTax, total } = amounts(o);
  const discount = items.reduce((s, i) => s + i.subtotal - i.total, 0);
  const discountTax = items.reduce((s, i) => s + i.subtotalTax - i.totalTax, 0);
  const address = {
    first_name: o.person.first,
    last_name: o.person.last,
    company: o.person.company,
    address_1: o.person.street,
    address_2: '',
    city: o.person.city,
    state: o.person.state,
    postcode: o.person.zip,
    country: 'CH',
  };
  const paid = o.paidAt !== null;
  const fee = paid && o.payment.method === 'stripe' ? Math.floor((total * 29 + 500) / 1000) + 30 : 0;
  const taxLines = ([1, 2] as Rate[])
    .map((rate) => ({
      rate,
      items: items.filter((i) => i.line.product.rate === rate).reduce((s, i) => s + i.totalTax, 0),
      used: items.some((i) => i.line.product.rate === rate) || (rate === 1 && shippingTax !== 0),
      shipping: rate === 1 ? shippingTax : 0,
    }))
    .filter((t) => t.used);
  return {
    id: o.id,
    parent_id: 0,
    status: o.status,
    currency: 'CHF',
    version: '9.3.3',
    prices_include_tax: false,
    date_created: local(o.createdAt),
    date_modified: local(o.modifiedAt),
    discount_total: money(discount),
    discount_tax: money(discountTax),
    shipping_total: money(shippingNet),
    shipping_tax: money(shippingTax),
    cart_tax: money(cartTax),
    total: money(total),
    total_tax: money(cartTax + shippingTax),
    customer_id: o.customerId,
    billing: { ...address, email: `${o.person.first.toLowerCase()}.${o.person.last.toLowerCase()}.${o.customerId || o.id}@example.ch`, phone: '+41 44 555 01 23' },
    shipping: { ...address, phone: '' },
    payment_method: o.payment.method,
    payment_method_title: o.payment.title,
    transaction_id: paid ? `${o.payment.method === 'stripe' ? 'ch_3Q' : 'twint_'}${o.id.toString(36).padStart(8, '0')}` : '',
    created_via: 'checkout',
    customer_note: '',
    date_completed: o.status === 'completed' ? local(o.createdAt + 2 * 24 * 60 * MINUTE) : null,
    date_paid: paid ? local(o.paidAt!) : null,
    number: String(o.id),
    meta_data: [
      { id: o.id * 10 + 1, key: 'is_vat_exempt', value: 'no' },
      ...(fee > 0 ? [{ id: o.id * 10 + 3, key: '_stripe_fee', value: money(fee) }, { id: o.id * 10 + 4, key: '_stripe_net', value: money(total - fee) }] : []),
    ],
    line_items: items.map((i) => ({
      id: i.line.id,
      name: i.line.product.name,
      product_id: i.line.product.id,
      variation_id: 0,
      quantity: i.line.quantity,
      tax_class: i.line.product.rate === 2 ? 'reduced-rate' : '',
      subtotal: money(i.subtotal),
      subtotal_tax: money(i.subtotalTax),
      total: money(i.total),
      total_tax: money(i.totalTax),
      taxes: [{ id: i.line.product.rate, total: money(i.totalTax), subtotal: money(i.subtotalTax) }],
      meta_data: [],
      sku: i.line.product.sku,
      price: i.total / 100 / i.line.quantity,
      parent_name: null,
    })),
    tax_lines: taxLines.map((t) => ({
      id: o.id * 10 + 5 + t.rate,
      rate_code: RATES[t.rate].code,
      rate_id: t.rate,
      label: RATES[t.rate].label,
      compound: false,
      tax_total: money(t.items),
      shipping_tax_total: money(t.shipping),
      rate_percent: RATES[t.rate].percent,
      meta_data: [],
    })),
    shipping_lines: [
      {
        id: o.id * 10 + 8,
        method_title: shippingNet === 0 ? 'Gratisversand ab CHF 150' : 'PostPac Economy',
        method_id: shippingNet === 0 ? 'free_shipping' : 'flat_rate',
        instance_id: shippingNet === 0 ? '3' : '1',
        total: money(shippingNet),
        total_tax: money(shippingTax),
        taxes: shippingTax === 0 ? [] : [{ id: 1, total: money(shippingTax), subtotal: '' }],
        meta_data: [],
      },
    ],
    fee_lines: [],
    coupon_lines:
      o.couponPercent > 0
        ? [{ id: o.id * 10 + 9, code: `rabatt${o.couponPercent}`, discount: money(discount), discount_tax: money(discountTax), discount_type: 'percent', nominal_amount: o.couponPercent, free_shipping: false, meta_data: [] }]
        : [],
    // The order's own summary of its refunds, newest first, amounts negative.
    refunds: [...o.refunds].reverse().map((r) => ({ id: r.id, reason: r.reason, total: money(-r.total) })),
    needs_payment: !paid,
    date_created_gmt: gmt(o.createdAt),
    date_modified_gmt: gmt(o.modifiedAt),
    date_completed_gmt: o.status === 'completed' ? gmt(o.createdAt + 2 * 24 * 60 * MINUTE) : null,
    date_paid_gmt: paid ? gmt(o.paidAt!) : null,
    currency_symbol: 'CHF',
  };
}

/** A refund of one line's gross (its net and VAT after the coupon). */
function lineRefund(o: Order, rnd: Random, id: number): { id: number; total: number; reason: string } {
  const { items } = amounts(o);
  const item = rnd.pick(items);
  return { id, total: item.total + item.totalTax, reason: rnd.pick(['Beschädigt geliefert', 'Falscher Artikel', 'Kulanz']) };
}

/**
 * `count` orders (ids from 500001), `perFile` to a JSON Lines file, then the later versions in
 * files of their own. Name order is the order files should be read in; give them increasing
 * modification times in that order (the file source reads by modification time, then name).
 */
export function generateChaosOrders(count: number, seed = 20_260_808, perFile = 50): GeneratedOrders {
  const rnd = new Random(mulberry32(seed));
  const poolSize = Math.max(1, Math.floor(count / 3));
  const pool: Person[] = Array.from({ length: poolSize }, (_, i) => {
    const [zip, city, state] = CITIES[i % CITIES.length]!;
    return {
      first: FIRST[i % FIRST.length]!,
      last: LAST[Math.floor(i / FIRST.length) % LAST.length]!,
      company: i % 11 === 0 ? `${LAST[i % LAST.length]} Handels AG` : '',
      street: `${STREETS[i % STREETS.length]} ${1 + (i % 90)}`,
      zip,
      city,
      state,
    };
  });
  const orders: Order[] = [];
  const changed: Order[] = [];
  const expected: ExpectedFromOrders = { orders: count, changes: 0, billed: 0, notBilled: 0, invoices: 0, creditNotes: 0, stornos: 0, stornosOfOpenInvoices: 0, customers: 0, openInvoices: 0, paidOrders: 0 };
  const customers = new Set<string>();
  let refundId = 90_000;
  let lineId = 1;
  for (let i = 0; i < count; i++) {
    const id = 500_001 + i;
    const createdAt = FROM + Math.floor(((TO - FROM) * i) / count) + rnd.int(0, 30) * MINUTE;
    const registered = rnd.chance(0.75);
    const customerIndex = rnd.int(0, poolSize - 1);
    const person = registered
      ? pool[customerIndex]!
      : { ...pool[rnd.int(0, poolSize - 1)]!, first: rnd.pick(FIRST), company: '' };
    const payment = rnd.pick(PAYMENTS);
    const roll = rnd.int(1, 100);
    const status: Order['status'] = roll <= 3 ? 'pending' : roll <= 5 ? 'on-hold' : roll <= 55 ? 'processing' : 'completed';
    const billed = status === 'processing' || status === 'completed';
    const paidAt = billed && payment.method !== 'bacs' ? createdAt + rnd.int(1, 20) * 1000 : null;
    const lines: Line[] = [];
    const n = rnd.int(1, 4);
    for (let k = 0; k < n; k++) lines.push({ id: lineId++, product: rnd.pick(PRODUCTS), quantity: rnd.int(1, 3) });
    const order: Order = {
      id,
      createdAt,
      paidAt,
      status,
      customerId: registered ? 1000 + customerIndex : 0,
      person,
      payment,
      lines,
      couponPercent: rnd.chance(0.2) ? rnd.pick([5, 10, 15]) : 0,
      refunds: [],
      modifiedAt: createdAt + MINUTE,
    };
    // Already refunded when first read: a few paid orders.
    if (paidAt !== null && rnd.chance(0.03)) order.refunds.push(lineRefund(order, rnd, refundId++));
    orders.push(order);

    if (!billed) {
      expected.notBilled++;
      continue;
    }
    expected.billed++;
    expected.invoices++;
    expected.creditNotes += order.refunds.length;
    customers.add(registered ? `WC-${order.customerId}` : `WC-G${id}`);
    if (paidAt !== null) expected.paidOrders++;

    // Later versions: a refund of a paid order not refunded yet, or a cancellation of one without refunds.
    const change = rnd.int(1, 100);
    if (paidAt !== null && order.refunds.length === 0 && change <= 10) {
      const next = structuredClone(order);
      next.refunds.push(lineRefund(order, rnd, refundId++));
      next.modifiedAt = createdAt + rnd.int(2, 20) * 24 * 60 * MINUTE;
      changed.push(next);
      expected.creditNotes++;
    } else if (order.refunds.length === 0 && change > 93) {
      const next = structuredClone(order);
      next.status = 'cancelled';
      next.modifiedAt = createdAt + rnd.int(1, 10) * 24 * 60 * MINUTE;
      changed.push(next);
      expected.stornos++;
      if (paidAt === null) expected.stornosOfOpenInvoices++;
    } else if (paidAt === null) {
      expected.openInvoices++;
    }
  }
  expected.changes = changed.length;
  expected.customers = customers.size;

  const files: GeneratedOrderFile[] = [];
  const width = String(Math.ceil(count / perFile)).length + 1;
  const chunk = (list: Order[], prefix: string) => {
    for (let i = 0; i < list.length; i += perFile) {
      const content = list
        .slice(i, i + perFile)
        .map((o) => JSON.stringify(render(o)))
        .join('\n');
      files.push({ name: `${prefix}-${String(i / perFile + 1).padStart(width, '0')}.jsonl`, content: `${content}\n` });
    }
  };
  chunk(orders, 'orders');
  chunk(changed, 'changes');
  return { files, expected, from: new Date(FROM).toISOString().slice(0, 10), to: new Date(TO + 24 * 60 * MINUTE).toISOString().slice(0, 10) };
}
