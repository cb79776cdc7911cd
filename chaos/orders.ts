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
 * Amounts reconcile exactly (net lines with their own rounded VAT, total = Σ net + Σ VAT), in
 * the JSON of test/emulators/woocommerce-json.ts that the WooCommerce emulator serves too, so
 * that no order is quarantined.
 *
 * What the orders should become, counted here from the orders alone (not from kontor), is in
 * `expected`: the check of the chaos run that does not depend on kontor's mapping at all.
 */
import { orderAmounts, orderJson, PAYMENTS, PRODUCTS, type Line, type Payment, type Person, type Refund } from '../test/emulators/woocommerce-json.js';
import { mulberry32, Random } from '../test/random.js';

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

interface Order {
  id: number;
  createdAt: number;
  paidAt: number | null;
  status: 'processing' | 'completed' | 'pending' | 'on-hold' | 'cancelled';
  customerId: number;
  person: Person;
  payment: Payment;
  lines: Line[];
  couponPercent: number;
  refunds: Pick<Refund, 'id' | 'net' | 'tax' | 'reason'>[];
  modifiedAt: number;
}

/** The order's WooCommerce JSON; its tax, shipping and coupon lines take their ids from the order's. */
function render(o: Order): Record<string, unknown> {
  return orderJson({
    id: o.id,
    status: o.status,
    createdAt: o.createdAt,
    modifiedAt: o.modifiedAt,
    paidAt: o.paidAt,
    completedAt: o.status === 'completed' ? o.createdAt + 2 * 24 * 60 * MINUTE : null,
    customerId: o.customerId,
    person: o.person,
    email: `${o.person.first.toLowerCase()}.${o.person.last.toLowerCase()}.${o.customerId || o.id}@example.ch`,
    vatId: null,
    payment: o.payment,
    lines: o.lines,
    coupon: o.couponPercent > 0 ? { id: o.id * 10 + 9, code: `rabatt${o.couponPercent}`, percent: o.couponPercent } : null,
    shippingLineId: o.id * 10 + 8,
    taxLineIds: { 1: o.id * 10 + 6, 2: o.id * 10 + 7 },
    refunds: o.refunds,
  });
}

/** A refund of one line's gross (its net and VAT after the coupon). */
function lineRefund(o: Order, rnd: Random, id: number): Order['refunds'][number] {
  const { items } = orderAmounts(o.lines, o.couponPercent);
  const item = rnd.pick(items);
  return { id, net: item.total, tax: item.totalTax, reason: rnd.pick(['Beschädigt geliefert', 'Falscher Artikel', 'Kulanz']) };
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
