/**
 * WooCommerce REST API v3 order and refund JSON from a small order model: the Swiss shop that
 * the WooCommerce emulator (./woocommerce.ts) serves and the chaos run's order files
 * (chaos/orders.ts) are written in.
 *
 * Orders reconcile exactly: net lines with separate tax at 8.1 % (rate_id 1) and 2.6 % (rate_id 2),
 * rounded half up per line, coupons (a percentage) already taken off line totals, shipping at
 * 8.1 % or free from CHF 150, total = Σ net + Σ tax. Amounts are integer rappen.
 */

export const API = '/wp-json/wc/v3';

export type Rate = 1 | 2;
export const RATES: Record<Rate, { permille: number; percent: number; code: string; label: string }> = {
  1: { permille: 81, percent: 8.1, code: 'CH-MWST-8.1-1', label: 'MWST 8.1%' },
  2: { permille: 26, percent: 2.6, code: 'CH-MWST-2.6-1', label: 'MWST 2.6%' },
};

export interface Product {
  id: number;
  name: string;
  sku: string;
  /** Net unit price in rappen. */
  unit: number;
  rate: Rate;
}

export const PRODUCTS: readonly Product[] = [
  { id: 101, name: 'Wanderrucksack 30 l', sku: 'OUT-RUCK-30', unit: 8900, rate: 1 },
  { id: 102, name: 'Sackmesser Ranger 55', sku: 'OUT-MESS-55', unit: 5490, rate: 1 },
  { id: 103, name: 'Bergkristall Karaffe', sku: 'HAUS-KARA-1', unit: 3950, rate: 1 },
  { id: 104, name: 'Twanner Chasselas AOC 75 cl', sku: 'WEIN-TWANN-75', unit: 1790, rate: 1 },
  { id: 201, name: 'Emmentaler AOP 1 kg', sku: 'KAESE-EMMI-1000', unit: 2450, rate: 2 },
  { id: 202, name: 'Bündner Nusstorte 400 g', sku: 'BACK-NUSS-400', unit: 1890, rate: 2 },
  { id: 203, name: 'Alpenkräutertee 100 g', sku: 'TEE-ALP-100', unit: 840, rate: 2 },
  { id: 204, name: 'Appenzeller Biber 6 Stück', sku: 'BACK-BIBER-6', unit: 1260, rate: 2 },
];

export const PAYMENTS = [
  { method: 'stripe', title: 'Kreditkarte (Stripe)' },
  { method: 'twint', title: 'TWINT' },
  { method: 'bacs', title: 'Rechnung / Banküberweisung' },
] as const;

export type Payment = (typeof PAYMENTS)[number];

export const SHIPPING_NET = 790;
export const FREE_SHIPPING_FROM = 15000;

/** Rappen as WooCommerce's decimal string. */
export function money(minor: number): string {
  const abs = Math.abs(minor);
  return `${minor < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Tax on a net amount in rappen, rounded half up. */
export function taxOf(net: number, rate: Rate): number {
  const scaled = net * RATES[rate].permille;
  return Math.sign(scaled) * Math.floor((Math.abs(scaled) + 500) / 1000);
}

/** WooCommerce's `*_gmt` timestamps: UTC, to the second, without a zone. */
export const gmt = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const LOCAL = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Zurich', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
/** WooCommerce's local timestamps: the shop's time (Europe/Zurich), to the second, without a zone. */
export const local = (ms: number) => LOCAL.format(new Date(ms)).replace(' ', 'T');

export interface Person {
  first: string;
  last: string;
  company: string;
  street: string;
  zip: string;
  city: string;
  state: string;
}

export interface Line {
  id: number;
  product: Product;
  quantity: number;
}

export interface LineAmounts {
  subtotal: number;
  subtotalTax: number;
  total: number;
  totalTax: number;
}

/** A line's amounts before (subtotal) and after (total) a coupon of `couponPercent` %. */
export function lineAmounts(line: Line, couponPercent: number): LineAmounts {
  const subtotal = line.product.unit * line.quantity;
  const discount = Math.floor((subtotal * couponPercent + 50) / 100);
  const total = subtotal - discount;
  return { subtotal, subtotalTax: taxOf(subtotal, line.product.rate), total, totalTax: taxOf(total, line.product.rate) };
}

export interface OrderAmounts {
  items: (LineAmounts & { line: Line })[];
  shippingNet: number;
  shippingTax: number;
  cartTax: number;
  discount: number;
  discountTax: number;
  total: number;
}

export function orderAmounts(lines: readonly Line[], couponPercent: number): OrderAmounts {
  const items = lines.map((line) => ({ line, ...lineAmounts(line, couponPercent) }));
  const shippingNet = items.reduce((s, i) => s + i.subtotal, 0) >= FREE_SHIPPING_FROM ? 0 : SHIPPING_NET;
  const shippingTax = taxOf(shippingNet, 1);
  const cartTax = items.reduce((s, i) => s + i.totalTax, 0);
  const discount = items.reduce((s, i) => s + i.subtotal - i.total, 0);
  const discountTax = items.reduce((s, i) => s + i.subtotalTax - i.totalTax, 0);
  const total = items.reduce((s, i) => s + i.total, 0) + shippingNet + cartTax + shippingTax;
  return { items, shippingNet, shippingTax, cartTax, discount, discountTax, total };
}

/** A refund of `quantity` units of one line (`lineId`): its net and tax in rappen, positive. */
export interface Refund {
  id: number;
  createdAt: number;
  lineId: number;
  /** Ids of the refund's line item and of that item's `_refunded_item_id` meta entry. */
  itemId: number;
  metaId: number;
  quantity: number;
  net: number;
  tax: number;
  reason: string;
}

/** What an order's JSON is rendered from. Times are epoch milliseconds. */
export interface OrderView {
  id: number;
  status: string;
  createdAt: number;
  modifiedAt: number;
  paidAt: number | null;
  completedAt: number | null;
  /** 0 for a guest. */
  customerId: number;
  person: Person;
  email: string;
  /** Written to `_billing_vat_id` when set. */
  vatId: string | null;
  payment: Payment;
  lines: readonly Line[];
  coupon: { id: number; code: string; percent: number } | null;
  shippingLineId: number;
  taxLineIds: Record<Rate, number>;
  /** Oldest first; the order embeds only their id, reason and gross. */
  refunds: readonly Pick<Refund, 'id' | 'reason' | 'net' | 'tax'>[];
}

/** The REST API's links to a resource at `path` (and `extra` relations), on a shop at `base`. */
function links(base: string, path: string, extra: Record<string, string> = {}) {
  return {
    self: [{ href: `${base}${API}${path}` }],
    collection: [{ href: `${base}${API}${path.replace(/\/\d+$/, '')}` }],
    ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, [{ href: `${base}${API}${v}` }]])),
  };
}

/**
 * An order as WooCommerce's REST API v3 gives it. With `served`, as a shop at `served.base`
 * serves it: with `_links`, `payment_url`, the checkout's order key, cart hash, IP address and
 * user agent, and line item images; without, only the order's data (the chaos run's files).
 */
export function orderJson(o: OrderView, served?: { base: string }): Record<string, unknown> {
  const { items, shippingNet, shippingTax, cartTax, discount, discountTax, total } = orderAmounts(o.lines, o.coupon?.percent ?? 0);
  const taxLines = ([1, 2] as Rate[])
    .map((rate) => ({
      rate,
      items: items.filter((i) => i.line.product.rate === rate).reduce((s, i) => s + i.totalTax, 0),
      used: items.some((i) => i.line.product.rate === rate) || (rate === 1 && shippingTax !== 0),
      shipping: rate === 1 ? shippingTax : 0,
    }))
    .filter((t) => t.used);
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
    ...(served ? { order_key: `wc_order_${o.id.toString(36)}k${(o.id * 7919).toString(36)}` } : {}),
    billing: { ...address, email: o.email, phone: '+41 44 555 01 23' },
    shipping: { ...address, phone: '' },
    payment_method: o.payment.method,
    payment_method_title: o.payment.title,
    transaction_id: paid && o.payment.method !== 'bacs' ? `${o.payment.method === 'stripe' ? 'ch_3Q' : 'twint_'}${o.id.toString(36).padStart(8, '0')}` : '',
    ...(served
      ? {
          customer_ip_address: '212.25.14.99',
          customer_user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
        }
      : {}),
    created_via: 'checkout',
    customer_note: '',
    date_completed: o.completedAt !== null ? local(o.completedAt) : null,
    date_paid: o.paidAt !== null ? local(o.paidAt) : null,
    ...(served ? { cart_hash: `c${o.id.toString(16).padStart(31, '0')}` } : {}),
    number: String(o.id),
    meta_data: [
      { id: o.id * 10 + 1, key: 'is_vat_exempt', value: 'no' },
      ...(o.vatId ? [{ id: o.id * 10 + 2, key: '_billing_vat_id', value: o.vatId }] : []),
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
      ...(served ? { image: { id: '', src: '' } } : {}),
      parent_name: null,
    })),
    tax_lines: taxLines.map((t) => ({
      id: o.taxLineIds[t.rate],
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
        id: o.shippingLineId,
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
    coupon_lines: o.coupon
      ? [
          {
            id: o.coupon.id,
            code: o.coupon.code,
            discount: money(discount),
            discount_tax: money(discountTax),
            discount_type: 'percent',
            nominal_amount: o.coupon.percent,
            free_shipping: false,
            meta_data: [],
          },
        ]
      : [],
    // The order embeds only a summary of each refund, newest first, with a negative total.
    refunds: [...o.refunds].reverse().map((r) => ({ id: r.id, reason: r.reason, total: money(-(r.net + r.tax)) })),
    ...(served ? { payment_url: `${served.base}/kasse/order-pay/${o.id}/?pay_for_order=true`, is_editable: false } : {}),
    needs_payment: !paid,
    ...(served ? { needs_processing: true } : {}),
    date_created_gmt: gmt(o.createdAt),
    date_modified_gmt: gmt(o.modifiedAt),
    date_completed_gmt: o.completedAt !== null ? gmt(o.completedAt) : null,
    date_paid_gmt: o.paidAt !== null ? gmt(o.paidAt) : null,
    currency_symbol: 'CHF',
    ...(served ? { _links: links(served.base, `/orders/${o.id}`, o.customerId > 0 ? { customer: `/customers/${o.customerId}` } : {}) } : {}),
  };
}

/**
 * A refund as `GET /orders/{id}/refunds` (without `parent_id`) or `GET /refunds` (with it)
 * answers it, on a shop at `base`: its one line item and amounts negative.
 */
export function refundJson(base: string, order: Pick<OrderView, 'id' | 'payment' | 'lines'>, refund: Refund, withParent: boolean): Record<string, unknown> {
  const line = order.lines.find((l) => l.id === refund.lineId)!;
  const rate = line.product.rate;
  return {
    id: refund.id,
    ...(withParent ? { parent_id: order.id } : {}),
    date_created: local(refund.createdAt),
    date_created_gmt: gmt(refund.createdAt),
    amount: money(refund.net + refund.tax),
    reason: refund.reason,
    refunded_by: 1,
    refunded_payment: order.payment.method !== 'bacs',
    meta_data: [],
    line_items: [
      {
        id: refund.itemId,
        name: line.product.name,
        product_id: line.product.id,
        variation_id: 0,
        quantity: -refund.quantity,
        tax_class: rate === 2 ? 'reduced-rate' : '',
        subtotal: money(-refund.net),
        subtotal_tax: money(-refund.tax),
        total: money(-refund.net),
        total_tax: money(-refund.tax),
        taxes: [{ id: rate, total: money(-refund.tax), subtotal: money(-refund.tax) }],
        meta_data: [{ id: refund.metaId, key: '_refunded_item_id', value: String(line.id) }],
        sku: line.product.sku,
        price: -refund.net / 100 / refund.quantity,
      },
    ],
    shipping_lines: [],
    tax_lines: [],
    fee_lines: [],
    _links: links(base, `/orders/${order.id}/refunds/${refund.id}`, { up: `/orders/${order.id}` }),
  };
}
