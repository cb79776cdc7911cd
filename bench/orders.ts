/**
 * Deterministic, varied, internally consistent canonical orders for the benchmarks.
 *
 * The same seed gives the same orders on every machine (mulberry32, integers only for money).
 * Every line's tax is the exact rounded VAT of its net (vatFromNet), taxBeforeDiscount that of
 * its netBeforeDiscount, and total = Σ net + Σ tax, so that the orders map without rounding
 * lines and a hand-written mapper can be compared posting by posting.
 *
 * The mix (roughly): 1–8 product lines from a few SKU families at 8.1 %, 2.6 % or 0 % (gift
 * cards), quantities 1–5, a coupon on one order in five, shipping on most orders, an
 * occasional fee (rarely a negative one), deliveries mostly to CH, some to the EU (DE, FR, AT,
 * IT: 0 %, EUR or CHF) and the US (0 %), a third priced with tax included, a third guests,
 * paid by stripe/twint (paid, with provider fees, a few short or over payments) or bacs (open),
 * about one in ten with refunds (lines or amount only, sometimes two), a few test orders and
 * orders in statuses that are not billed.
 */
import { add, minor, sub, sum, times, vatFromGross, vatFromNet, vatRate, type Minor, type VatRate } from '../src/books/index.js';
import type { CanonicalOrder, OrderAddress, OrderLine, OrderPayment, OrderRefund, OrderRefundLine } from '../src/sources/order.js';

import { mulberry32, Random } from '../test/random.js';

export { mulberry32 };


export const RATES = { standard: vatRate('8.1'), reduced: vatRate('2.6'), zero: vatRate('0') } as const;

interface Family {
  prefix: string;
  rate: VatRate;
  names: readonly string[];
  categories: readonly (readonly string[])[];
  /** Unit prices in minor units (net, or gross when the order's prices include tax). */
  prices: readonly number[];
  couponable: boolean;
  maxQuantity: number;
}

const FAMILIES: readonly (readonly [Family, number])[] = [
  [{ prefix: 'BOOK-', rate: RATES.reduced, names: ['Der Zauberberg', 'Heidi', 'Homo Faber', 'Stiller', 'Andorra'], categories: [['Books'], ['Books', 'Sale'], ['books']], prices: [1490, 2290, 2890, 3450, 4900], couponable: true, maxQuantity: 3 }, 30],
  [{ prefix: 'EBOOK-', rate: RATES.reduced, names: ['Der Richter und sein Henker', 'Die Physiker'], categories: [['E-Books']], prices: [990, 1290, 1890], couponable: true, maxQuantity: 1 }, 8],
  [{ prefix: 'TEA-', rate: RATES.reduced, names: ['Earl Grey 100 g', 'Sencha 50 g', 'Rooibos 100 g', 'Assam 250 g'], categories: [['Tea'], ['Tea', 'Organic']], prices: [690, 890, 1250, 1890], couponable: true, maxQuantity: 5 }, 22],
  [{ prefix: 'CHAI-', rate: RATES.reduced, names: ['Masala Chai 100 g'], categories: [['Tea']], prices: [1150], couponable: true, maxQuantity: 4 }, 5],
  [{ prefix: 'CUP-', rate: RATES.standard, names: ['Teacup porcelain', 'Teapot 1 l', 'Tea strainer'], categories: [['Tableware'], ['Tableware', 'Gifts']], prices: [1900, 3490, 5900, 790], couponable: true, maxQuantity: 4 }, 18],
  [{ prefix: 'POSTER-', rate: RATES.standard, names: ['Poster A2', 'Poster A1'], categories: [[]], prices: [2500, 3900], couponable: true, maxQuantity: 2 }, 7],
  [{ prefix: 'GIFT-', rate: RATES.zero, names: ['Gift card'], categories: [['Gift cards']], prices: [2000, 5000, 10000], couponable: false, maxQuantity: 2 }, 6],
  // Products the shop sells without a SKU.
  [{ prefix: '', rate: RATES.standard, names: ['Tote bag', 'Bookmark set'], categories: [[], ['Gifts']], prices: [1500, 450], couponable: true, maxQuantity: 3 }, 4],
];

const COUPONS: readonly (readonly [{ code: string; permille: number }, number])[] = [
  [{ code: 'SUMMER10', permille: 100 }, 5],
  [{ code: 'VIP15', permille: 150 }, 2],
  [{ code: 'WELCOME5', permille: 50 }, 3],
  [{ code: '', permille: 80 }, 1], // an automatic discount without a code
];

const FIRST_NAMES = ['Anna', 'Luca', 'Mia', 'Noah', 'Lea', 'Elias', 'Sophie', 'Jonas', 'Chloé', 'Matteo', 'Émilie', 'Jürg'];
const LAST_NAMES = ['Müller', 'Meier', 'Schmid', 'Keller', 'Weber', 'Huber', 'Schneider', 'Rossi', 'Dubois', 'Brunner', 'Steiner'];
const COMPANIES = ['Teehaus Aare AG', 'Buchhandlung Lindenhof GmbH', 'Atelier Nord', 'Café Central Sàrl'];

interface Place {
  country: string;
  cities: readonly (readonly [string, string])[];
  currency: readonly string[];
}
const PLACES: Record<string, Place> = {
  CH: { country: 'CH', cities: [['8001', 'Zürich'], ['3011', 'Bern'], ['4051', 'Basel'], ['1003', 'Lausanne'], ['6900', 'Lugano'], ['9000', 'St. Gallen']], currency: ['CHF'] },
  LI: { country: 'LI', cities: [['9490', 'Vaduz']], currency: ['CHF'] },
  DE: { country: 'DE', cities: [['10115', 'Berlin'], ['80331', 'München'], ['79098', 'Freiburg']], currency: ['EUR', 'CHF'] },
  FR: { country: 'FR', cities: [['75001', 'Paris'], ['68100', 'Mulhouse']], currency: ['EUR'] },
  AT: { country: 'AT', cities: [['1010', 'Wien']], currency: ['EUR'] },
  IT: { country: 'IT', cities: [['20121', 'Milano']], currency: ['EUR'] },
  US: { country: 'US', cities: [['10001', 'New York'], ['94103', 'San Francisco']], currency: ['USD', 'CHF'] },
};
const COUNTRY_MIX: readonly (readonly [string, number])[] = [['CH', 78], ['LI', 2], ['DE', 7], ['FR', 4], ['AT', 2], ['IT', 1], ['US', 6]];
const DOMESTIC = new Set(['CH', 'LI']);

const STATUS_MIX: readonly (readonly [string, number])[] = [['processing', 44], ['completed', 44], ['on-hold', 4], ['pending', 3], ['cancelled', 3], ['failed', 2]];

const FROM = Date.UTC(2024, 0, 1);
const TO = Date.UTC(2026, 5, 30);
const HOUR = 3_600_000;

function address(rnd: Random, country: string): OrderAddress {
  const place = PLACES[country]!;
  const [zipcode, city] = rnd.pick(place.cities);
  return { street: `${rnd.pick(['Bahnhofstrasse', 'Hauptstrasse', 'Rue du Lac', 'Via Nassa', 'Main Street'])} ${rnd.int(1, 120)}`, street2: rnd.chance(0.1) ? 'c/o Reception' : '', zipcode, city, state: '', country };
}

/** Fees a provider withholds: 2.9 % + 0.30 (stripe) or 1.3 % (twint), rounded half up, in integers. */
function providerFee(method: string, total: Minor): Minor {
  if (method === 'stripe') return minor(Math.floor((total * 29 + 500) / 1000) + 30);
  return minor(Math.floor((total * 13 + 500) / 1000));
}

/** ⌊a × num / den⌋ for a ≥ 0, exactly. */
function share(a: Minor, num: number, den: number): Minor {
  return minor(Math.floor((a * num) / den));
}

export interface GeneratedOrders {
  orders: CanonicalOrder[];
  /** How many orders have each feature, to print next to the figure. */
  mix: Record<string, number>;
}

export function generateOrders(count: number, seed = 20_260_401): GeneratedOrders {
  const mix: Record<string, number> = {};
  return { orders: [...streamOrders(count, seed, mix)], mix };
}

/**
 * The orders of generateOrders one at a time, without keeping them: the same orders for the
 * same count and seed (the first n of a longer stream are the n of a shorter one). `mix`, if
 * given, counts the features of the orders yielded so far.
 */
export function* streamOrders(count: number, seed = 20_260_401, mix: Record<string, number> = {}): Generator<CanonicalOrder> {
  const rnd = new Random(mulberry32(seed));
  const count1 = (k: string) => (mix[k] = (mix[k] ?? 0) + 1);
  let refundId = 70_000;

  for (let i = 0; i < count; i++) {
    const id = String(100_000 + i);
    const createdMs = FROM + Math.floor(rnd.next() * (TO - FROM));
    const createdAt = new Date(createdMs).toISOString();
    const status = rnd.weighted(STATUS_MIX);
    const test = rnd.chance(0.02);
    const billingCountry = rnd.weighted(COUNTRY_MIX);
    // One order in six ships elsewhere; mostly within the same country, sometimes across a border.
    const shipsElsewhere = rnd.chance(1 / 6);
    const shippingCountry = shipsElsewhere ? (rnd.chance(0.2) ? rnd.pick(['CH', 'DE', 'FR']) : billingCountry) : billingCountry;
    const delivery = shippingCountry;
    const domestic = DOMESTIC.has(delivery);
    const currency = rnd.pick(PLACES[billingCountry]!.currency);
    const pricesIncludeTax = rnd.chance(0.3);
    const guest = rnd.chance(0.3);
    const firstName = rnd.pick(FIRST_NAMES);
    const lastName = rnd.pick(LAST_NAMES);
    const company = rnd.chance(0.12) ? rnd.pick(COMPANIES) : '';
    const customerId = guest ? null : String(5_000 + rnd.int(0, 2_999));

    /** The line's rate where it is delivered: exports and EU deliveries are untaxed. */
    const rateFor = (rate: VatRate) => (domestic ? rate : RATES.zero);
    /** A unit price as the order states it, turned into a net unit price. */
    const netUnit = (price: number, rate: VatRate): Minor => (pricesIncludeTax ? sub(minor(price), vatFromGross(minor(price), rate)) : minor(price));

    const coupon = rnd.chance(0.2) ? rnd.weighted(COUPONS) : null;
    const lines: OrderLine[] = [];
    const productCount = rnd.weighted([[1, 30], [2, 25], [3, 18], [4, 10], [5, 7], [6, 5], [7, 3], [8, 2]] as const);
    for (let k = 0; k < productCount; k++) {
      const family = rnd.weighted(FAMILIES);
      const rate = rateFor(family.rate);
      const quantity = rnd.int(1, family.maxQuantity);
      const netBeforeDiscount = times(netUnit(rnd.pick(family.prices), rate), quantity);
      const net = coupon && family.couponable ? sub(netBeforeDiscount, share(netBeforeDiscount, coupon.permille, 1000)) : netBeforeDiscount;
      lines.push({
        kind: 'product',
        ref: String(1_000 + k),
        field: `line_items[${k}]`,
        sku: family.prefix ? `${family.prefix}${rnd.int(100, 999)}` : '',
        name: rnd.pick(family.names),
        quantity,
        categories: [...rnd.pick(family.categories)],
        netBeforeDiscount,
        net,
        tax: vatFromNet(net, rate),
        taxBeforeDiscount: vatFromNet(netBeforeDiscount, rate),
        vatRate: rate,
      });
    }
    if (rnd.chance(0.85)) {
      // Free shipping one time in ten: a shipping line of zero, which maps to nothing.
      const rate = rateFor(RATES.standard);
      const net = rnd.chance(0.1) ? minor(0) : netUnit(domestic ? rnd.pick([700, 900, 1200]) : rnd.pick([1800, 2500, 3500]), rate);
      lines.push({ kind: 'shipping', ref: '1', field: 'shipping_lines[0]', sku: '', name: domestic ? rnd.pick(['Flat rate', 'PostPac Priority']) : 'International', quantity: 1, categories: [], netBeforeDiscount: net, net, tax: vatFromNet(net, rate), taxBeforeDiscount: vatFromNet(net, rate), vatRate: rate });
    }
    const productsNet = sum(lines.filter((l) => l.kind === 'product').map((l) => l.net));
    if (rnd.chance(0.06)) {
      // Mostly a surcharge; one fee in five is a negative one (a loyalty credit), on large orders only.
      const negative = productsNet > 5_000 && rnd.chance(0.2);
      const rate = rateFor(RATES.standard);
      const net = negative ? minor(-500) : netUnit(rnd.pick([200, 350, 500]), rate);
      lines.push({ kind: 'fee', ref: '2', field: 'fee_lines[0]', sku: '', name: negative ? 'Loyalty credit' : rnd.pick(['Cash on delivery', 'Gift wrapping']), quantity: 1, categories: [], netBeforeDiscount: net, net, tax: vatFromNet(net, rate), taxBeforeDiscount: vatFromNet(net, rate), vatRate: rate });
    }

    const taxTotals = [RATES.standard, RATES.reduced, RATES.zero]
      .filter((rate) => lines.some((l) => l.vatRate === rate))
      .map((rate) => ({ rate, label: rate === RATES.standard ? 'MWST 8.1 %' : rate === RATES.reduced ? 'MWST 2.6 %' : 'MWST 0 %', tax: sum(lines.filter((l) => l.vatRate === rate).map((l) => l.tax)) }));
    const totalTax = sum(lines.map((l) => l.tax));
    const total = add(sum(lines.map((l) => l.net)), totalTax);
    const discount = sum(lines.map((l) => sub(l.netBeforeDiscount, l.net)));
    const discountTax = sum(lines.map((l) => sub(l.taxBeforeDiscount, l.tax)));

    const billable = status === 'processing' || status === 'completed';
    const method = rnd.weighted([['stripe', 45], ['twint', 20], ['bacs', 30], ['', 5]] as const);
    let payment: OrderPayment | null = null;
    if (method === 'stripe' || method === 'twint') {
      const paidAt = billable ? new Date(createdMs + rnd.int(1, 30) * 60_000).toISOString() : null;
      // Mostly the order total; a few short or over by a few units (written off), rarely a partial payment.
      const amount = !paidAt ? null : rnd.weighted([[null, 90], [sub(total, minor(rnd.int(1, 5))), 4], [add(total, minor(rnd.int(1, 3))), 3], [sub(total, minor(Math.min(500, Math.floor(total / 4)))), 1], [total, 2]] as const);
      const fee = paidAt && rnd.chance(0.7) ? providerFee(method, amount ?? total) : minor(0);
      payment = { method, title: method === 'stripe' ? 'Credit card (Stripe)' : 'TWINT', transactionId: `${method === 'stripe' ? 'ch_' : 'tw_'}${id}`, paidAt, amount, fee };
    } else if (method === 'bacs') {
      payment = { method, title: 'Direct bank transfer', transactionId: '', paidAt: null, amount: null, fee: minor(0) };
    }

    const refunds: OrderRefund[] = [];
    let finalStatus = status;
    if (billable && total > 0 && rnd.chance(0.1)) {
      const refundedAt = (days: number) => new Date(createdMs + days * 24 * HOUR + rnd.int(0, 23) * HOUR).toISOString();
      const kind = rnd.weighted([['lines', 50], ['partial', 30], ['full', 12], ['two', 8]] as const);
      count1(`refund: ${kind}`);
      if (kind === 'lines') {
        const candidates = lines.filter((l) => l.kind === 'product' && l.net > 0);
        const taken = candidates.filter((_, k) => k === 0 || rnd.chance(0.3));
        const refundLines: OrderRefundLine[] = taken.map((l, k) => {
          const quantity = rnd.int(1, l.quantity);
          const net = share(l.net, quantity, l.quantity);
          return { lineRef: l.ref, kind: l.kind, field: `refunds[0].line_items[${k}]`, sku: l.sku, name: l.name, quantity, net, tax: vatFromNet(net, l.vatRate), vatRate: l.vatRate };
        });
        const shippingLine = lines.find((l) => l.kind === 'shipping' && l.net > 0);
        if (shippingLine && rnd.chance(0.3)) {
          refundLines.push({ lineRef: shippingLine.ref, kind: 'shipping', field: `refunds[0].shipping_lines[0]`, sku: '', name: shippingLine.name, quantity: 1, net: shippingLine.net, tax: shippingLine.tax, vatRate: shippingLine.vatRate });
        }
        // A shop refunds at most what was paid (a negative fee line can make the lines worth more).
        while (refundLines.length > 1 && sum(refundLines.map((l) => add(l.net, l.tax))) > total) refundLines.pop();
        const refundTotal = sum(refundLines.map((l) => add(l.net, l.tax)));
        if (refundTotal > 0 && refundTotal <= total) refunds.push({ id: String(refundId++), createdAt: refundedAt(rnd.int(1, 20)), reason: rnd.pick(['Damaged in transit', 'Wrong item', '']), lines: refundLines, total: refundTotal, field: 'refunds[0]' });
      } else if (kind === 'partial') {
        refunds.push({ id: String(refundId++), createdAt: refundedAt(rnd.int(1, 30)), reason: 'Goodwill', lines: [], total: minor(Math.max(1, share(total, rnd.int(5, 50), 100))), field: 'refunds[0]' });
      } else if (kind === 'full') {
        refunds.push({ id: String(refundId++), createdAt: refundedAt(rnd.int(1, 10)), reason: 'Order returned', lines: [], total, field: 'refunds[0]' });
        finalStatus = 'refunded';
      } else {
        // Two amount-only refunds, together at most 60 % of the total; the shop lists the later one first.
        const first = minor(Math.max(1, share(total, rnd.int(10, 30), 100)));
        const second = minor(Math.max(1, share(total, rnd.int(5, 30), 100)));
        refunds.push({ id: String(refundId + 1), createdAt: refundedAt(15), reason: 'Second goodwill', lines: [], total: second, field: 'refunds[0]' });
        refunds.push({ id: String(refundId), createdAt: refundedAt(3), reason: 'Goodwill', lines: [], total: first, field: 'refunds[1]' });
        refundId += 2;
      }
    }

    const order: CanonicalOrder = {
      source: 'bench',
      id,
      number: String(20_000 + i),
      status: finalStatus,
      test,
      createdAt,
      updatedAt: refunds.length > 0 ? refunds.map((r) => r.createdAt).sort().at(-1)! : createdAt,
      completedAt: finalStatus === 'completed' ? new Date(createdMs + 2 * 24 * HOUR).toISOString() : null,
      currency,
      pricesIncludeTax,
      customer: {
        id: customerId,
        email: `${firstName.toLowerCase()}.${i}@example.ch`,
        firstName,
        lastName,
        company,
        phone: rnd.chance(0.6) ? `+41 79 ${rnd.int(100, 999)} ${rnd.int(10, 99)} ${rnd.int(10, 99)}` : '',
        vatId: company && rnd.chance(0.5) ? `CHE-${rnd.int(100, 999)}.${rnd.int(100, 999)}.${rnd.int(100, 999)} MWST` : '',
        billing: address(rnd, billingCountry),
        shipping: shipsElsewhere ? address(rnd, shippingCountry) : null,
      },
      lines,
      coupons: coupon && discount !== 0 ? [{ code: coupon.code, discount, discountTax }] : [],
      taxTotals,
      totalTax,
      total,
      payment,
      refunds,
      meta: rnd.chance(0.2) ? { _wc_order_attribution_source_type: 'organic', _billing_gift_note: 'yes' } : {},
    };
    count1(`status: ${finalStatus}`);
    if (test) count1('test order');
    count1(`delivery: ${domestic ? 'domestic' : delivery}`);
    if (pricesIncludeTax) count1('prices include tax');
    if (guest) count1('guest');
    if (coupon) count1('coupon');
    count1(`payment: ${method || 'none'}${payment?.paidAt ? ' (paid)' : ''}`);
    if (payment?.fee) count1('provider fee');
    if (lines.some((l) => l.kind === 'fee')) count1('fee line');
    yield order;
  }
}
