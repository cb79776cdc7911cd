/**
 * Shopify Admin REST (2024-04) order JSON → canonical order.
 *
 * What Shopify's amounts mean, and how they become canonical lines:
 * - `line_items[].price` is the unit price before discounts, in the order's price basis
 *   (gross when `taxes_included`, net otherwise); `discount_allocations[]` take discount codes
 *   and automatic discounts off the line; `tax_lines[]` hold the tax on the discounted line.
 *   `total_discount` is legacy (often "0.00" even with allocations) and is not read.
 * - Tax rates are fractions (`0.081`), turned into basis points by shifting the decimal text:
 *   no floating-point arithmetic on rates or money anywhere.
 * - Every amount has a `*_set` twin `{shop_money, presentment_money}` with string amounts;
 *   the twin is preferred, the bare field (sometimes a JSON number) is the fallback.
 * - `refund_line_items[].subtotal` is the refunded quantity at the discounted price in the
 *   order's price basis, like `price`: net after discounts when prices exclude tax (the docs
 *   fixture: 199.00 − 3.34 allocation = 195.66), gross when `taxes_included` (connectors such
 *   as Microsoft's Business Central one price refund lines as `price × quantity − subtotal`
 *   discount on a document whose prices include VAT); `total_tax` is the VAT in it.
 * - Transactions are not embedded in REST orders; kontor's adapter attaches the result of
 *   `GET orders/{id}/transactions.json` to the record as `transactions`.
 *
 * Anything unparsable rejects the record naming the field.
 */
import {
  add,
  currencyExponent,
  formatDecimal,
  isKnownCurrency,
  neg,
  parseDecimal,
  sub,
  sum,
  times,
  vatFromGross,
  vatFromNet,
  vatRate,
  ZERO,
  type Minor,
  type VatRate,
} from '../books/index.js';
import { RecordError } from '../errors.js';
import { Reader, type Json } from './reader.js';
import type { CanonicalOrder, OrderAddress, OrderCoupon, OrderLine, OrderPayment, OrderRefund, OrderRefundLine, OrderTaxTotal } from './order.js';

export interface ShopifyParseOptions {
  /**
   * `shop` (default): amounts in the shop's currency (`currency`, the `shop_money` twins).
   * `presentment`: amounts in the currency the buyer saw (`presentment_currency`, the
   * `presentment_money` twins).
   */
  money?: 'shop' | 'presentment';
}

/** financial_status values for which an order without transactions counts as paid at processed_at. */
const PAID_STATUSES = ['paid', 'partially_refunded', 'refunded'];

/** Reads amounts from one side (shop or presentment) of Shopify's money sets. */
class MoneyReader {
  constructor(
    readonly r: Reader,
    readonly side: 'shop_money' | 'presentment_money',
    readonly currency: string,
    /** Whether a bare amount (no `*_set`) is in `currency`: always for shop money, and for presentment money when both currencies agree. */
    readonly bareIsOurs: boolean,
  ) {}

  /** `parent[key]` in our currency, from `parent[key_set][side]` when the twin exists. */
  amount(parent: Json, key: string, path: string, optional = false): Minor {
    const set = parent[`${key}_set`];
    if (set !== undefined && set !== null) {
      const setPath = `${path}_set`;
      if (typeof set !== 'object' || Array.isArray(set)) throw new RecordError('expected a money set with shop_money and presentment_money', setPath);
      const money = this.r.object(set as Json, this.side, `${setPath}.${this.side}`);
      const code = money.currency_code;
      if (code !== undefined && code !== null && code !== this.currency) {
        throw new RecordError(`the amount is in ${JSON.stringify(code)}, not in the order's ${this.currency}`, `${setPath}.${this.side}.currency_code`);
      }
      return this.r.money(money, 'amount', `${setPath}.${this.side}.amount`);
    }
    if (!this.bareIsOurs) {
      throw new RecordError(`no ${key}_set: the amount in the presentment currency ${this.currency} is missing`, `${path}_set`);
    }
    if (optional && (parent[key] === undefined || parent[key] === null)) return ZERO;
    return this.r.money(parent, key, path);
  }
}

interface Context {
  r: Reader;
  m: MoneyReader;
  pricesIncludeTax: boolean;
}

/** An id as text. Ids are int64: a JSON number beyond 2^53 has already lost digits. */
function idText(parent: Json, key: string, path: string, optional = false): string {
  const v = parent[key];
  if ((v === undefined || v === null || v === '') && optional) return '';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RecordError(`id ${v} is not an integer below 2^53 (the JSON number lost digits; ask Shopify for string ids)`, path);
    return String(v);
  }
  if (typeof v !== 'string' || v === '') throw new RecordError('expected an id', path);
  return v;
}

function text(parent: Json | null, key: string): string {
  const v = parent?.[key];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** A Shopify timestamp (with its offset) as ISO-8601 UTC; rejects impossible dates like 02-30. */
function timestamp(r: Reader, parent: Json, key: string, path: string, optional = false): string | null {
  const iso = r.utc(parent, key, path, optional);
  if (iso === null) return null;
  const written = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(parent[key] as string)!;
  const [y, mo, d, h, mi, s] = written.slice(1).map(Number) as [number, number, number, number, number, number];
  const check = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) {
    throw new RecordError(`"${String(parent[key])}" is not a valid timestamp`, path);
  }
  return iso;
}

/** A Shopify tax rate (a fraction: 0.081 or "0.081") as basis points (810), by shifting the decimal text. */
function rateOf(taxLine: Json, path: string): VatRate {
  const v = taxLine.rate;
  if (typeof v !== 'number' && typeof v !== 'string') throw new RecordError('expected the tax rate as a fraction like 0.081', `${path}.rate`);
  try {
    // 0.081 → 810 ten-thousandths → "8.10" percent → 810 basis points, range-checked by vatRate.
    return vatRate(formatDecimal(parseDecimal(v, 4), 2));
  } catch (error) {
    throw new RecordError(`tax rate ${JSON.stringify(v)}: ${(error as Error).message}`, `${path}.rate`);
  }
}

/** Σ tax_lines[].price and the line's one VAT rate (0 % when untaxed). */
function lineTax(ctx: Context, item: Json, path: string): { tax: Minor; rate: VatRate } {
  const taxLines = ctx.r.array(item, 'tax_lines', `${path}.tax_lines`, true);
  const rates: VatRate[] = [];
  const tax = sum(
    taxLines.map((t, i) => {
      const taxPath = `${path}.tax_lines[${i}]`;
      const rate = rateOf(t, taxPath);
      if (rate !== 0) rates.push(rate);
      return ctx.m.amount(t, 'price', `${taxPath}.price`);
    }),
  );
  if (rates.length > 1) throw new RecordError('several VAT rates on one line are not supported', `${path}.tax_lines`);
  const rate = item.taxable !== false && rates[0] !== undefined ? rates[0] : vatRate(0);
  if (rate === 0 && tax !== 0) throw new RecordError('the line carries tax but no VAT rate (taxable is false or every rate is 0)', `${path}.tax_lines`);
  return { tax, rate };
}

function discountAllocations(ctx: Context, item: Json, path: string): { amount: Minor; index: unknown; path: string }[] {
  return ctx.r.array(item, 'discount_allocations', `${path}.discount_allocations`, true).map((a, i) => ({
    amount: ctx.m.amount(a, 'amount', `${path}.discount_allocations[${i}].amount`),
    index: a.discount_application_index,
    path: `${path}.discount_allocations[${i}]`,
  }));
}

/** The VAT in a discount of `amount` at `rate`, in the order's price basis. */
function discountVat(ctx: Context, amount: Minor, rate: VatRate): Minor {
  return ctx.pricesIncludeTax ? vatFromGross(amount, rate) : vatFromNet(amount, rate);
}

/**
 * One canonical line from a priced Shopify line: `gross` is price × quantity before discounts
 * in the order's price basis; Shopify's tax is on the discounted amount.
 */
function pricedLine(
  ctx: Context,
  item: Json,
  path: string,
  head: Pick<OrderLine, 'kind' | 'ref' | 'sku' | 'name' | 'quantity' | 'categories'>,
  before: Minor,
): OrderLine {
  const discount = sum(discountAllocations(ctx, item, path).map((a) => a.amount));
  const { tax, rate } = lineTax(ctx, item, path);
  const after = sub(before, discount);
  const taxBeforeDiscount = add(tax, discountVat(ctx, discount, rate));
  return {
    ...head,
    field: path,
    netBeforeDiscount: ctx.pricesIncludeTax ? sub(before, taxBeforeDiscount) : before,
    net: ctx.pricesIncludeTax ? sub(after, tax) : after,
    tax,
    taxBeforeDiscount,
    vatRate: rate,
  };
}

function quantityOf(item: Json, path: string): number {
  const quantity = item.quantity;
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity)) throw new RecordError('quantity must be a whole number', `${path}.quantity`);
  return quantity;
}

function productLine(ctx: Context, item: Json, i: number): OrderLine {
  const path = `line_items[${i}]`;
  const quantity = quantityOf(item, path);
  const productType = item.product_type;
  return pricedLine(
    ctx,
    item,
    path,
    {
      kind: 'product',
      ref: idText(item, 'id', `${path}.id`),
      sku: ctx.r.text(item, 'sku', `${path}.sku`, true),
      name: ctx.r.text(item, 'name', `${path}.name`, true) || ctx.r.text(item, 'title', `${path}.title`, true),
      quantity,
      categories: typeof productType === 'string' && productType.trim() !== '' ? [productType] : [],
    },
    times(ctx.m.amount(item, 'price', `${path}.price`), quantity),
  );
}

function shippingLine(ctx: Context, item: Json, i: number): OrderLine {
  const path = `shipping_lines[${i}]`;
  return pricedLine(
    ctx,
    item,
    path,
    {
      kind: 'shipping',
      ref: idText(item, 'id', `${path}.id`, true) || path,
      sku: ctx.r.text(item, 'code', `${path}.code`, true),
      name: ctx.r.text(item, 'title', `${path}.title`, true) || 'Shipping',
      quantity: 1,
      categories: [],
    },
    ctx.m.amount(item, 'price', `${path}.price`),
  );
}

function address(r: Reader, a: Json, path: string): OrderAddress {
  return {
    street: r.text(a, 'address1', `${path}.address1`, true),
    street2: r.text(a, 'address2', `${path}.address2`, true),
    zipcode: r.text(a, 'zip', `${path}.zip`, true),
    city: r.text(a, 'city', `${path}.city`, true),
    state: r.text(a, 'province_code', `${path}.province_code`, true),
    country: r.text(a, 'country_code', `${path}.country_code`, true),
  };
}

function optionalObject(r: Reader, parent: Json, key: string): Json | null {
  return parent[key] === undefined || parent[key] === null ? null : r.object(parent, key, key);
}

/**
 * Discount codes with their net discount and its VAT (like WooCommerce's coupon `discount` and
 * `discount_tax`), summed from the allocations of the discount applications that carry the code.
 * Without such allocations, `discount_codes[].amount` as Shopify states it (in the price basis,
 * so gross when prices include tax) and no discount tax.
 */
function coupons(ctx: Context, order: Json, lineItems: Json[], shippingItems: Json[], lines: OrderLine[]): OrderCoupon[] {
  const applications = ctx.r.array(order, 'discount_applications', 'discount_applications', true);
  const allocations = [
    ...lineItems.map((item, i) => ({ item, path: `line_items[${i}]` })),
    ...shippingItems.map((item, i) => ({ item, path: `shipping_lines[${i}]` })),
  ].flatMap(({ item, path }, k) => discountAllocations(ctx, item, path).map((a) => ({ ...a, rate: lines[k]!.vatRate })));
  return ctx.r.array(order, 'discount_codes', 'discount_codes', true).map((c, i) => {
    const path = `discount_codes[${i}]`;
    const code = ctx.r.text(c, 'code', `${path}.code`, true);
    const indices = new Set(applications.flatMap((a, k) => (a.type === 'discount_code' && a.code === code ? [k] : [])));
    const own = allocations.filter((a) => typeof a.index === 'number' && indices.has(a.index));
    if (own.length === 0) {
      // discount_codes[].amount has no presentment twin: usable only when it is in our currency.
      return { code, discount: ctx.m.bareIsOurs ? ctx.m.amount(c, 'amount', `${path}.amount`, true) : ZERO, discountTax: ZERO };
    }
    const gross = sum(own.map((a) => a.amount));
    const discountTax = sum(own.map((a) => discountVat(ctx, a.amount, a.rate)));
    return { code, discount: ctx.pricesIncludeTax ? sub(gross, discountTax) : gross, discountTax };
  });
}

/** The order's tax_lines summed per rate, in the order they first appear. */
function taxTotals(ctx: Context, order: Json): OrderTaxTotal[] {
  const totals = new Map<VatRate, OrderTaxTotal>();
  ctx.r.array(order, 'tax_lines', 'tax_lines', true).forEach((t, i) => {
    const path = `tax_lines[${i}]`;
    const rate = rateOf(t, path);
    const tax = ctx.m.amount(t, 'price', `${path}.price`);
    const existing = totals.get(rate);
    if (existing) existing.tax = add(existing.tax, tax);
    else totals.set(rate, { rate, label: ctx.r.text(t, 'title', `${path}.title`, true), tax });
  });
  return [...totals.values()];
}

/**
 * Transactions as attached by kontor's adapter. Their `amount` is in the transaction's
 * `currency`; an amount in another currency than ours (the presentment currency of a
 * multi-currency order read in shop money) cannot be used, and null is returned.
 */
function transactionTotal(ctx: Context, transactions: { t: Json; path: string }[]): Minor | null {
  const amounts: Minor[] = [];
  for (const { t, path } of transactions) {
    if (t.amount_set !== undefined && t.amount_set !== null) {
      amounts.push(ctx.m.amount(t, 'amount', `${path}.amount`));
      continue;
    }
    if (typeof t.currency === 'string' && t.currency !== ctx.m.currency) return null;
    amounts.push(ctx.r.money(t, 'amount', `${path}.amount`));
  }
  return sum(amounts);
}

function successful(list: Json[], path: string, kinds: string[]): { t: Json; path: string }[] {
  return list.map((t, i) => ({ t, path: `${path}[${i}]` })).filter(({ t }) => t.status === 'success' && typeof t.kind === 'string' && kinds.includes(t.kind));
}

function payment(ctx: Context, order: Json, financialStatus: string): OrderPayment | null {
  const names: unknown[] = ctx.r.array(order, 'payment_gateway_names', 'payment_gateway_names', true);
  const gateways = names.filter((g): g is string => typeof g === 'string' && g !== '');
  const method = gateways[0];
  if (method === undefined) return null;
  const base = { method, title: gateways.join(', '), fee: ZERO };
  if (!Array.isArray(order.transactions)) {
    return {
      ...base,
      transactionId: '',
      paidAt: PAID_STATUSES.includes(financialStatus) ? timestamp(ctx.r, order, 'processed_at', 'processed_at', true) ?? timestamp(ctx.r, order, 'created_at', 'created_at') : null,
      amount: null,
    };
  }
  const collected = successful(ctx.r.array(order, 'transactions', 'transactions'), 'transactions', ['sale', 'capture']);
  const first = collected[0];
  if (!first) return { ...base, transactionId: '', paidAt: null, amount: ZERO };
  const authorization = text(first.t, 'authorization');
  return {
    ...base,
    transactionId: authorization || idText(first.t, 'id', `${first.path}.id`),
    paidAt: timestamp(ctx.r, first.t, 'processed_at', `${first.path}.processed_at`, true) ?? timestamp(ctx.r, first.t, 'created_at', `${first.path}.created_at`),
    amount: transactionTotal(ctx, collected),
  };
}

function refund(ctx: Context, raw: Json, index: number, lines: OrderLine[], lineItems: Json[]): OrderRefund {
  const { r, m } = ctx;
  const path = `refunds[${index}]`;
  const refundLines: OrderRefundLine[] = r.array(raw, 'refund_line_items', `${path}.refund_line_items`, true).map((item, i) => {
    const linePath = `${path}.refund_line_items[${i}]`;
    const lineRef = idText(item, 'line_item_id', `${linePath}.line_item_id`);
    const orderLine = lines.find((l) => l.kind === 'product' && l.ref === lineRef);
    // The refund embeds a copy of the order line; older payloads may not.
    const embedded = optionalObject(r, item, 'line_item');
    const source = embedded ?? lineItems.find((l) => l.id !== undefined && String(l.id) === lineRef) ?? null;
    const subtotal = m.amount(item, 'subtotal', `${linePath}.subtotal`);
    const tax = m.amount(item, 'total_tax', `${linePath}.total_tax`, true);
    const vatRateOf = embedded ? lineTax(ctx, embedded, `${linePath}.line_item`).rate : (orderLine?.vatRate ?? vatRate(0));
    return {
      lineRef,
      kind: 'product' as const,
      field: linePath,
      sku: text(source, 'sku') || (orderLine?.sku ?? ''),
      name: text(source, 'name') || (orderLine?.name ?? ''),
      quantity: quantityOf(item, linePath),
      net: ctx.pricesIncludeTax ? sub(subtotal, tax) : subtotal,
      tax,
      vatRate: vatRateOf,
    };
  });

  // Shipping refunds and "refunded amount ≠ items" differences exist only as order adjustments,
  // negative, with the tax as one amount (2024-10 moves shipping to refund_shipping_lines).
  const shipping = lines.find((l) => l.kind === 'shipping' && l.vatRate !== 0) ?? lines.find((l) => l.kind === 'shipping');
  const shippingRate = shipping?.vatRate ?? vatRate(0);
  let discrepancy = ZERO;
  r.array(raw, 'order_adjustments', `${path}.order_adjustments`, true).forEach((adjustment, i) => {
    const adjustmentPath = `${path}.order_adjustments[${i}]`;
    const kind = r.text(adjustment, 'kind', `${adjustmentPath}.kind`);
    const amount = m.amount(adjustment, 'amount', `${adjustmentPath}.amount`);
    const taxAmount = m.amount(adjustment, 'tax_amount', `${adjustmentPath}.tax_amount`, true);
    if (kind === 'refund_discrepancy') {
      // Negative: more was refunded than the lines say; positive: less.
      discrepancy = add(discrepancy, neg(add(amount, taxAmount)));
      return;
    }
    if (kind !== 'shipping_refund') throw new RecordError(`unknown order adjustment kind ${JSON.stringify(kind)}`, `${adjustmentPath}.kind`);
    const taken = amount < 0 ? neg(amount) : amount;
    const tax = taxAmount < 0 ? neg(taxAmount) : taxAmount;
    // Shopify documents `amount` as net with `tax_amount` on top, but shops report it gross at
    // times: when the tax fits the gross reading only, take the tax out.
    const fitsNet = Math.abs(vatFromNet(taken, shippingRate) - tax) <= 1;
    const fitsGross = Math.abs(vatFromGross(taken, shippingRate) - tax) <= 1;
    refundLines.push({
      lineRef: shipping?.ref ?? '',
      kind: 'shipping',
      field: adjustmentPath,
      sku: shipping?.sku ?? '',
      name: shipping?.name ?? 'Shipping',
      quantity: 1,
      net: tax !== 0 && !fitsNet && fitsGross ? sub(taken, tax) : taken,
      tax,
      vatRate: shippingRate,
    });
  });

  const transactions = r.array(raw, 'transactions', `${path}.transactions`, true);
  const fromTransactions = transactions.length > 0 ? transactionTotal(ctx, successful(transactions, `${path}.transactions`, ['refund'])) : null;
  const total = fromTransactions ?? add(sum(refundLines.map((l) => add(l.net, l.tax))), discrepancy);
  if (total < 0) throw new RecordError('the refund comes out negative (its order adjustments exceed its lines)', path);
  return {
    id: idText(raw, 'id', `${path}.id`),
    createdAt: timestamp(r, raw, 'processed_at', `${path}.processed_at`, true) ?? timestamp(r, raw, 'created_at', `${path}.created_at`)!,
    reason: r.text(raw, 'note', `${path}.note`, true),
    lines: refundLines,
    total,
    field: path,
  };
}

export function parseShopifyOrder(source: string, raw: unknown, options: ShopifyParseOptions = {}): CanonicalOrder {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RecordError('an order must be a JSON object');
  const order = raw as Json;
  const shopCurrency = typeof order.currency === 'string' ? order.currency : '';
  if (!isKnownCurrency(shopCurrency)) throw new RecordError(`unknown currency ${JSON.stringify(order.currency)}`, 'currency');
  const presentment = options.money === 'presentment';
  const currencyField = presentment ? 'presentment_currency' : 'currency';
  const currency = presentment ? (typeof order.presentment_currency === 'string' ? order.presentment_currency : '') : shopCurrency;
  if (!isKnownCurrency(currency)) throw new RecordError(`unknown currency ${JSON.stringify(order[currencyField])}`, currencyField);

  const r = new Reader(currencyExponent(currency));
  const m = new MoneyReader(r, presentment ? 'presentment_money' : 'shop_money', currency, currency === shopCurrency);
  const ctx: Context = { r, m, pricesIncludeTax: order.taxes_included === true };

  const lineItems = r.array(order, 'line_items', 'line_items');
  const shippingItems = r.array(order, 'shipping_lines', 'shipping_lines', true);
  const lines = [...lineItems.map((item, i) => productLine(ctx, item, i)), ...shippingItems.map((item, i) => shippingLine(ctx, item, i))];

  const cancelled = order.cancelled_at !== undefined && order.cancelled_at !== null && order.cancelled_at !== '';
  const financialStatus = r.text(order, 'financial_status', 'financial_status');

  const billing = optionalObject(r, order, 'billing_address');
  const shippingAddress = optionalObject(r, order, 'shipping_address');
  const customer = optionalObject(r, order, 'customer');
  const noteAttributes = r.array(order, 'note_attributes', 'note_attributes', true);
  const meta: Record<string, string> = {};
  for (const a of noteAttributes) {
    if (typeof a.name === 'string' && (typeof a.value === 'string' || typeof a.value === 'number' || typeof a.value === 'boolean')) meta[a.name] = String(a.value);
  }
  if (typeof order.tags === 'string') meta.tags = order.tags;
  if (typeof order.source_name === 'string') meta.source_name = order.source_name;
  const vatAttribute = noteAttributes.find((a) => typeof a.name === 'string' && /vat/i.test(a.name) && typeof a.value === 'string' && a.value.trim() !== '');

  const createdAt = timestamp(r, order, 'processed_at', 'processed_at', true) ?? timestamp(r, order, 'created_at', 'created_at')!;
  const orderNumber = order.order_number;
  return {
    source,
    id: idText(order, 'id', 'id'),
    number: typeof orderNumber === 'number' || (typeof orderNumber === 'string' && orderNumber !== '') ? String(orderNumber) : r.text(order, 'name', 'name').replace(/^#/, ''),
    status: cancelled ? 'cancelled' : financialStatus,
    test: order.test === true,
    createdAt,
    updatedAt: timestamp(r, order, 'updated_at', 'updated_at', true) ?? createdAt,
    completedAt: timestamp(r, order, 'closed_at', 'closed_at', true),
    currency,
    pricesIncludeTax: ctx.pricesIncludeTax,
    customer: {
      id: customer && customer.id !== undefined && customer.id !== null ? idText(customer, 'id', 'customer.id') : null,
      email: text(order, 'email') || text(order, 'contact_email') || text(customer, 'email'),
      firstName: text(billing, 'first_name') || text(customer, 'first_name'),
      lastName: text(billing, 'last_name') || text(customer, 'last_name'),
      company: text(billing, 'company'),
      phone: text(billing, 'phone') || text(order, 'phone') || text(customer, 'phone'),
      vatId: vatAttribute ? String(vatAttribute.value).trim() : '',
      billing: billing ? address(r, billing, 'billing_address') : address(r, {}, 'billing_address'),
      shipping: shippingAddress ? address(r, shippingAddress, 'shipping_address') : null,
    },
    lines,
    coupons: coupons(ctx, order, lineItems, shippingItems, lines),
    taxTotals: taxTotals(ctx, order),
    totalTax: m.amount(order, 'total_tax', 'total_tax'),
    total: m.amount(order, 'total_price', 'total_price'),
    payment: payment(ctx, order, financialStatus),
    refunds: r.array(order, 'refunds', 'refunds', true).map((refundRaw, i) => refund(ctx, refundRaw, i, lines, lineItems)),
    meta,
  };
}
