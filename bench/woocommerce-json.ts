/**
 * The benchmark's canonical orders (bench/orders.ts) as WooCommerce REST API v3 order JSON, so
 * that the figures that go through kontor's real intake read them with the real file source and
 * WooCommerce parser (src/sources/file.ts, src/sources/woocommerce-order.ts).
 *
 * Refunds are written as the WooCommerce API source stores them (with their lines and dates,
 * amounts negative); the provider fee goes to `_stripe_fee`, the VAT id to `_billing_vat_id`.
 * What WooCommerce order JSON cannot say is lost on the way: product categories, the test flag,
 * a payment amount other than the total, the kind of a refunded line (every refund line
 * reads back as a product line) and the VAT rate of a line of zero (free shipping reads back at
 * 0 %). `checkRoundTrip` compares everything else.
 */
import { currencyExponent, formatDecimal, formatRate, minor, type Minor, type VatRate } from '../src/books/index.js';
import type { CanonicalOrder, OrderAddress, OrderLine } from '../src/sources/order.js';
import { parseWooCommerceOrder } from '../src/sources/woocommerce-order.js';
import { BenchMismatchError } from './harness.js';

/** WooCommerce's *_gmt timestamps: UTC, to the second, without a zone. */
const gmt = (iso: string | null) => (iso === null ? null : iso.slice(0, 19));

export function toWooCommerceJson(order: CanonicalOrder): Record<string, unknown> {
  const e = currencyExponent(order.currency);
  const m = (amount: number) => formatDecimal(minor(amount), e);
  // One tax rate id per rate the order uses, in the order of its tax totals.
  const rateIds = new Map<VatRate, number>();
  for (const t of order.taxTotals) if (!rateIds.has(t.rate)) rateIds.set(t.rate, rateIds.size + 1);
  for (const l of order.lines) if (!rateIds.has(l.vatRate)) rateIds.set(l.vatRate, rateIds.size + 1);
  const taxes = (rate: VatRate, total: Minor, subtotal?: Minor) => [{ id: rateIds.get(rate)!, total: m(total), subtotal: subtotal === undefined ? '' : m(subtotal) }];
  const address = (a: OrderAddress) => ({ first_name: order.customer.firstName, last_name: order.customer.lastName, company: order.customer.company, address_1: a.street, address_2: a.street2, city: a.city, state: a.state, postcode: a.zipcode, country: a.country });
  const of = (kind: OrderLine['kind']) => order.lines.filter((l) => l.kind === kind);
  const lineId = (l: OrderLine) => (/^\d+$/.test(l.ref) ? Number(l.ref) : l.ref);
  const meta: { id: number; key: string; value: string }[] = Object.entries(order.meta).map(([key, value], i) => ({ id: i + 1, key, value }));
  if (order.customer.vatId) meta.push({ id: meta.length + 1, key: '_billing_vat_id', value: order.customer.vatId });
  if (order.payment && order.payment.fee !== 0) meta.push({ id: meta.length + 1, key: '_stripe_fee', value: m(order.payment.fee) });
  const itemsTax = (rate: VatRate, kinds: OrderLine['kind'][]) => order.lines.filter((l) => kinds.includes(l.kind) && l.vatRate === rate).reduce((s, l) => s + l.tax, 0);
  const shippingNet = of('shipping').reduce((s, l) => s + l.net, 0);
  const shippingTax = of('shipping').reduce((s, l) => s + l.tax, 0);
  const discount = order.coupons.reduce((s, c) => s + c.discount, 0);
  const discountTax = order.coupons.reduce((s, c) => s + c.discountTax, 0);
  const local = (iso: string | null) => gmt(iso);
  return {
    id: Number(order.id),
    parent_id: 0,
    status: order.status,
    currency: order.currency,
    version: '9.3.3',
    prices_include_tax: order.pricesIncludeTax,
    date_created: local(order.createdAt),
    date_modified: local(order.updatedAt),
    discount_total: m(discount),
    discount_tax: m(discountTax),
    shipping_total: m(shippingNet),
    shipping_tax: m(shippingTax),
    cart_tax: m(order.totalTax - shippingTax),
    total: m(order.total),
    total_tax: m(order.totalTax),
    customer_id: order.customer.id === null ? 0 : Number(order.customer.id),
    order_key: `wc_order_${Number(order.id).toString(36)}`,
    billing: { ...address(order.customer.billing), email: order.customer.email, phone: order.customer.phone },
    shipping: order.customer.shipping ? { ...address(order.customer.shipping), phone: '' } : { first_name: '', last_name: '', company: '', address_1: '', address_2: '', city: '', state: '', postcode: '', country: '', phone: '' },
    payment_method: order.payment?.method ?? '',
    payment_method_title: order.payment?.title ?? '',
    transaction_id: order.payment?.transactionId ?? '',
    customer_ip_address: '83.76.140.18',
    customer_user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    created_via: 'checkout',
    customer_note: '',
    date_completed: local(order.completedAt),
    date_paid: local(order.payment?.paidAt ?? null),
    cart_hash: `c${Number(order.id).toString(16).padStart(31, '0')}`,
    number: order.number,
    meta_data: meta,
    line_items: of('product').map((l, i) => ({
      id: lineId(l),
      name: l.name,
      product_id: 1_000 + i,
      variation_id: 0,
      quantity: l.quantity,
      tax_class: '',
      subtotal: m(l.netBeforeDiscount),
      subtotal_tax: m(l.taxBeforeDiscount),
      total: m(l.net),
      total_tax: m(l.tax),
      taxes: taxes(l.vatRate, l.tax, l.taxBeforeDiscount),
      meta_data: [],
      sku: l.sku,
      price: l.net / 10 ** e / l.quantity,
      parent_name: null,
    })),
    tax_lines: [...rateIds].map(([rate, id]) => ({
      id: 900 + id,
      rate_code: `CH-MWST-${formatRate(rate)}-1`,
      rate_id: id,
      label: order.taxTotals.find((t) => t.rate === rate)?.label ?? `MWST ${formatRate(rate)} %`,
      compound: false,
      tax_total: m(itemsTax(rate, ['product', 'fee', 'discount'])),
      shipping_tax_total: m(itemsTax(rate, ['shipping'])),
      rate_percent: Number(formatRate(rate)),
      meta_data: [],
    })),
    shipping_lines: of('shipping').map((l) => ({ id: lineId(l), method_title: l.name, method_id: l.sku, instance_id: '1', total: m(l.net), total_tax: m(l.tax), taxes: taxes(l.vatRate, l.tax), meta_data: [] })),
    fee_lines: of('fee').map((l) => ({ id: lineId(l), name: l.name, tax_class: '', tax_status: 'taxable', amount: m(l.net), total: m(l.net), total_tax: m(l.tax), taxes: taxes(l.vatRate, l.tax), meta_data: [] })),
    coupon_lines: order.coupons.map((c, i) => ({ id: 800 + i, code: c.code, discount: m(c.discount), discount_tax: m(c.discountTax), meta_data: [] })),
    refunds: order.refunds.map((r) => ({
      id: Number(r.id),
      date_created_gmt: gmt(r.createdAt),
      amount: m(r.total),
      reason: r.reason,
      line_items: r.lines.map((l, i) => ({
        id: 600 + i,
        name: l.name,
        quantity: -l.quantity,
        subtotal: m(-l.net),
        subtotal_tax: m(-l.tax),
        total: m(-l.net),
        total_tax: m(-l.tax),
        taxes: taxes(l.vatRate, minor(-l.tax), minor(-l.tax)),
        meta_data: [{ id: 700 + i, key: '_refunded_item_id', value: l.lineRef }],
        sku: l.sku,
      })),
    })),
    needs_payment: !order.payment?.paidAt,
    needs_processing: true,
    date_created_gmt: gmt(order.createdAt),
    date_modified_gmt: gmt(order.updatedAt),
    date_completed_gmt: gmt(order.completedAt),
    date_paid_gmt: gmt(order.payment?.paidAt ?? null),
    currency_symbol: order.currency,
  };
}

/** What WooCommerce JSON carries of an order, to compare an order with its round trip. */
function carried(o: CanonicalOrder) {
  const second = (iso: string | null) => (iso === null ? null : `${iso.slice(0, 19)}`);
  return {
    id: o.id,
    number: o.number,
    status: o.status,
    dates: [o.createdAt, o.updatedAt, o.completedAt].map(second),
    currency: o.currency,
    pricesIncludeTax: o.pricesIncludeTax,
    customer: { ...o.customer },
    // A line of zero carries no tax in WooCommerce, so its rate reads back as 0 % (free shipping).
    lines: o.lines.map((l) => [l.kind, l.ref, l.sku, l.name, l.quantity, l.netBeforeDiscount, l.net, l.tax, l.taxBeforeDiscount, l.net === 0 && l.tax === 0 && l.netBeforeDiscount === 0 ? 'any' : String(l.vatRate)]),
    coupons: o.coupons,
    taxTotals: o.taxTotals.map((t) => [String(t.rate), t.tax]),
    totalTax: o.totalTax,
    total: o.total,
    payment: o.payment ? [o.payment.method, o.payment.title, o.payment.transactionId, second(o.payment.paidAt), o.payment.fee] : null,
    refunds: o.refunds.map((r) => [r.id, second(r.createdAt), r.reason, r.total, r.lines.map((l) => [l.lineRef, l.sku, l.name, l.quantity, l.net, l.tax, String(l.vatRate)])]),
  };
}

/**
 * Render `order`, read it back with kontor's WooCommerce parser and compare what the format
 * carries; throws BenchMismatchError on the first difference.
 */
export function checkRoundTrip(order: CanonicalOrder): void {
  const back = parseWooCommerceOrder(order.source, JSON.parse(JSON.stringify(toWooCommerceJson(order))));
  const a = JSON.stringify(carried(order));
  const b = JSON.stringify(carried(back));
  if (a !== b) throw new BenchMismatchError(`order ${order.id} does not survive its WooCommerce JSON:\n  generated: ${a}\n  read back: ${b}`);
}
