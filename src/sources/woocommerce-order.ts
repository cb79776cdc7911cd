/**
 * WooCommerce REST v3 order JSON → canonical order.
 *
 * WooCommerce reports line amounts net with separate tax even when the shop's prices
 * include VAT; coupons are already taken off line `total`s. Money strings are parsed
 * exactly; anything unparsable rejects the record naming the field.
 */
import { currencyExponent, isKnownCurrency, vatRate, ZERO, type Minor, type VatRate } from '../books/index.js';
import { Reader, type Json } from './reader.js';
import { RecordError } from '../errors.js';
import { chargeLine, type CanonicalOrder, type OrderAddress, type OrderLine, type OrderRefund, type OrderTaxTotal } from './order.js';


/** Meta keys under which payment plugins store the provider's fee (WooCommerce Stripe Gateway, PayPal Payments). */
const FEE_META_KEYS = ['_stripe_fee', 'PayPal Transaction Fee', '_ppcp_paypal_fees_fee'];

/** Meta keys under which the common VAT-number plugins store the customer's VAT id. */
const VAT_ID_META_KEYS = ['_billing_vat_id', 'billing_vat_id', '_vat_number', 'vat_number', '_billing_vat_number', '_billing_vat'];

function address(r: Reader, billing: Json, path: string): OrderAddress {
  return {
    street: r.text(billing, 'address_1', `${path}.address_1`, true),
    street2: r.text(billing, 'address_2', `${path}.address_2`, true),
    zipcode: r.text(billing, 'postcode', `${path}.postcode`, true),
    city: r.text(billing, 'city', `${path}.city`, true),
    state: r.text(billing, 'state', `${path}.state`, true),
    country: r.text(billing, 'country', `${path}.country`, true),
  };
}

function ratesById(r: Reader, order: Json): Map<string, { rate: VatRate; label: string; index: number }> {
  const rates = new Map<string, { rate: VatRate; label: string; index: number }>();
  r.array(order, 'tax_lines', 'tax_lines', true).forEach((line, i) => {
    const path = `tax_lines[${i}]`;
    const id = r.text(line, 'rate_id', `${path}.rate_id`);
    const percent = line.rate_percent;
    if (typeof percent !== 'number' && typeof percent !== 'string') {
      throw new RecordError(
        'no rate_percent: the shop is older than WooCommerce 3.7 or a plugin removed it; kontor cannot tell the VAT rate',
        `${path}.rate_percent`,
      );
    }
    let rate: VatRate;
    try {
      rate = vatRate(percent);
    } catch (error) {
      throw new RecordError((error as Error).message, `${path}.rate_percent`);
    }
    rates.set(id, { rate, label: r.text(line, 'label', `${path}.label`, true) || r.text(line, 'rate_code', `${path}.rate_code`, true), index: i });
  });
  return rates;
}

function lineRate(r: Reader, line: Json, path: string, rates: Map<string, { rate: VatRate }>): VatRate {
  const taxes = r.array(line, 'taxes', `${path}.taxes`, true);
  // Whether a rate applies is decided on the unrounded amount: "0.004" is still a tax.
  const precise = new Reader(9);
  const used = taxes
    .map((t, i) => ({ t, i }))
    .filter(({ t, i }) => precise.money(t, 'total', `${path}.taxes[${i}].total`, { emptyIsZero: true, rounding: 'half-up' }) !== 0);
  if (used.length === 0) {
    // A line without tax is either exempt or untaxed; its rate is 0 %.
    return vatRate(0);
  }
  if (used.length > 1) throw new RecordError('several VAT rates on one line (compound tax) are not supported', `${path}.taxes`);
  const { t: tax, i: index } = used[0]!;
  const id = r.text(tax, 'id', `${path}.taxes[${index}].id`);
  const found = rates.get(id);
  if (!found) throw new RecordError(`tax rate id ${id} is not listed in tax_lines`, `${path}.taxes`);
  return found.rate;
}

export function parseWooCommerceOrder(source: string, raw: unknown): CanonicalOrder {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError('an order must be a JSON object');
  const order = raw as Json;
  const currency = typeof order.currency === 'string' ? order.currency : '';
  if (!isKnownCurrency(currency)) throw new RecordError(`unknown currency ${JSON.stringify(order.currency)}`, 'currency');
  const r = new Reader(currencyExponent(currency));
  const rates = ratesById(r, order);
  const lines: OrderLine[] = [];

  r.array(order, 'line_items', 'line_items').forEach((item, i) => {
    const path = `line_items[${i}]`;
    const quantity = item.quantity;
    if (typeof quantity !== 'number' || !Number.isInteger(quantity)) throw new RecordError('quantity must be a whole number', `${path}.quantity`);
    lines.push({
      kind: 'product',
      ref: r.text(item, 'id', `${path}.id`),
      field: path,
      sku: r.text(item, 'sku', `${path}.sku`, true),
      name: r.text(item, 'name', `${path}.name`),
      quantity,
      categories: [],
      netBeforeDiscount: r.money(item, 'subtotal', `${path}.subtotal`),
      net: r.money(item, 'total', `${path}.total`),
      tax: r.money(item, 'total_tax', `${path}.total_tax`, { emptyIsZero: true }),
      taxBeforeDiscount: r.money(item, 'subtotal_tax', `${path}.subtotal_tax`, { emptyIsZero: true }),
      vatRate: lineRate(r, item, path, rates),
    });
  });

  // Shipping and fee lines carry one amount (no coupon share) and a title instead of a SKU.
  const chargeLines = [
    { kind: 'shipping', list: 'shipping_lines', sku: 'method_id', title: 'method_title', fallback: 'Shipping' },
    { kind: 'fee', list: 'fee_lines', sku: null, title: 'name', fallback: 'Fee' },
  ] as const;
  for (const spec of chargeLines) {
    r.array(order, spec.list, spec.list, true).forEach((item, i) => {
      const path = `${spec.list}[${i}]`;
      const net = r.money(item, 'total', `${path}.total`);
      const tax = r.money(item, 'total_tax', `${path}.total_tax`, { emptyIsZero: true });
      lines.push(
        chargeLine({
          kind: spec.kind,
          ref: r.text(item, 'id', `${path}.id`),
          field: path,
          sku: spec.sku ? r.text(item, spec.sku, `${path}.${spec.sku}`, true) : '',
          name: r.text(item, spec.title, `${path}.${spec.title}`, true) || spec.fallback,
          net,
          tax,
          vatRate: lineRate(r, item, path, rates),
        }),
      );
    });
  }

  const billing = r.object(order, 'billing', 'billing');
  const meta = r.array(order, 'meta_data', 'meta_data', true);
  const vatMeta = meta.find((m) => typeof m.key === 'string' && VAT_ID_META_KEYS.includes(m.key) && typeof m.value === 'string' && m.value.trim() !== '');
  const customerId = order.customer_id;
  const taxTotals: OrderTaxTotal[] = [...rates.values()].map(({ rate, label, index }) => {
    const line = r.array(order, 'tax_lines', 'tax_lines')[index]!;
    const path = `tax_lines[${index}]`;
    const items = r.money(line, 'tax_total', `${path}.tax_total`, { emptyIsZero: true });
    const shipping = r.money(line, 'shipping_tax_total', `${path}.shipping_tax_total`, { emptyIsZero: true });
    return { rate, label, tax: (items + shipping) as Minor };
  });

  const metaValues: Record<string, string> = {};
  for (const m of meta) {
    if (typeof m.key === 'string' && (typeof m.value === 'string' || typeof m.value === 'number' || typeof m.value === 'boolean')) metaValues[m.key] = String(m.value);
  }
  const feeIndex = meta.findIndex((m) => typeof m.key === 'string' && FEE_META_KEYS.includes(m.key));
  const fee = feeIndex >= 0 ? r.money(meta[feeIndex]!, 'value', `meta_data[${feeIndex}].value`, { emptyIsZero: true }) : ZERO;
  const shippingAddress = order.shipping && typeof order.shipping === 'object' ? address(r, order.shipping as Json, 'shipping') : null;
  const paymentMethod = r.text(order, 'payment_method', 'payment_method', true);
  const createdAt = r.utc(order, 'date_created_gmt', 'date_created_gmt')!;
  return {
    source,
    id: r.text(order, 'id', 'id'),
    number: r.text(order, 'number', 'number', true) || r.text(order, 'id', 'id'),
    status: r.text(order, 'status', 'status'),
    test: false,
    createdAt,
    updatedAt: r.utc(order, 'date_modified_gmt', 'date_modified_gmt', true) ?? createdAt,
    completedAt: r.utc(order, 'date_completed_gmt', 'date_completed_gmt', true),
    currency,
    pricesIncludeTax: order.prices_include_tax === true,
    customer: {
      id: typeof customerId === 'number' && customerId > 0 ? String(customerId) : null,
      email: r.text(billing, 'email', 'billing.email', true),
      firstName: r.text(billing, 'first_name', 'billing.first_name', true),
      lastName: r.text(billing, 'last_name', 'billing.last_name', true),
      company: r.text(billing, 'company', 'billing.company', true),
      phone: r.text(billing, 'phone', 'billing.phone', true),
      vatId: vatMeta ? String(vatMeta.value).trim() : '',
      billing: address(r, billing, 'billing'),
      shipping: shippingAddress && (shippingAddress.country || shippingAddress.city) ? shippingAddress : null,
    },
    lines,
    coupons: r.array(order, 'coupon_lines', 'coupon_lines', true).map((c, i) => ({
      code: r.text(c, 'code', `coupon_lines[${i}].code`, true),
      discount: r.money(c, 'discount', `coupon_lines[${i}].discount`, { emptyIsZero: true }),
      discountTax: r.money(c, 'discount_tax', `coupon_lines[${i}].discount_tax`, { emptyIsZero: true }),
    })),
    taxTotals,
    totalTax: r.money(order, 'total_tax', 'total_tax'),
    total: r.money(order, 'total', 'total'),
    payment: paymentMethod
      ? {
          method: paymentMethod,
          title: r.text(order, 'payment_method_title', 'payment_method_title', true),
          transactionId: r.text(order, 'transaction_id', 'transaction_id', true),
          paidAt: r.utc(order, 'date_paid_gmt', 'date_paid_gmt', true),
          amount: null,
          fee,
        }
      : null,
    refunds: r.array(order, 'refunds', 'refunds', true).map((refund, i) => parseWooCommerceRefund(r, refund, `refunds[${i}]`, rates, createdAt)),
    meta: metaValues,
  };
}

/**
 * A refund as the order embeds it (`{id, reason, total: "-5.00"}`: amount only) or as the
 * refunds endpoint returns it (with `line_items` whose amounts are negative).
 */
function parseWooCommerceRefund(r: Reader, refund: Json, path: string, rates: Map<string, { rate: VatRate }>, orderCreatedAt: string): OrderRefund {
  const positive = (m: Minor) => (m < 0 ? (-m as Minor) : m);
  const lines = r.array(refund, 'line_items', `${path}.line_items`, true).map((item, i) => {
    const linePath = `${path}.line_items[${i}]`;
    const quantity = item.quantity;
    if (typeof quantity !== 'number' || !Number.isInteger(quantity)) throw new RecordError('quantity must be a whole number', `${linePath}.quantity`);
    // The refunds endpoint names the order line in meta `_refunded_item_id`.
    const refundedMeta = r.array(item, 'meta_data', `${linePath}.meta_data`, true).find((m) => m.key === '_refunded_item_id');
    const refunded = refundedMeta?.value ?? item.refunded_item_id ?? item.id;
    return {
      lineRef: typeof refunded === 'number' || typeof refunded === 'string' ? String(refunded) : '',
      kind: 'product' as const,
      field: linePath,
      sku: r.text(item, 'sku', `${linePath}.sku`, true),
      name: r.text(item, 'name', `${linePath}.name`, true),
      quantity: Math.abs(quantity),
      net: positive(r.money(item, 'total', `${linePath}.total`)),
      tax: positive(r.money(item, 'total_tax', `${linePath}.total_tax`, { emptyIsZero: true })),
      vatRate: lineRate(r, item, linePath, rates),
    };
  });
  // The order's embedded list has no date; the refunds endpoint has date_created_gmt.
  const createdAt = r.utc(refund, 'date_created_gmt', `${path}.date_created_gmt`, true) ?? orderCreatedAt;
  const amount = refund.amount ?? refund.total;
  return {
    id: r.text(refund, 'id', `${path}.id`),
    createdAt,
    reason: r.text(refund, 'reason', `${path}.reason`, true),
    lines,
    total: positive(r.money({ amount }, 'amount', `${path}.${refund.amount !== undefined ? 'amount' : 'total'}`)),
    field: path,
  };
}
