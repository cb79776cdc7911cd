/**
 * A loopback Shopify: the Admin API order endpoints kontor reads, REST and GraphQL, with
 * Shopify's paging, throttling and pitfalls.
 *
 * - `POST /admin/api/{version}/graphql.json`: a small GraphQL executor (queries, variables,
 *   fragments, inline fragments on __typename) over the shop's orders. Root fields
 *   `orders(first, after, sortKey: UPDATED_AT|CREATED_AT|ID, reverse, query)` with keyset
 *   cursors and the search syntax `updated_at:>='…' AND updated_at:<='…'` (also created_at;
 *   unknown terms are ignored, unreadable dates are an error), `order(id:)`, `refund(id:)`.
 *   Nested lists with `first` are sliced, nested connections page with `first`/`after`. Fields
 *   the emulator does not know are an error (as in a schema), and `Refund.orderAdjustments` /
 *   `refundShippingLines` amounts only exist from 2024-10. Every answer carries
 *   `extensions.cost`: the requested cost (objects 1, scalars 0, connections 2 + first × node,
 *   lists with `first` first × item), the actual cost of what was returned, and a leaky
 *   bucket's `throttleStatus`. A query above `maxQueryCost` (1000) answers MAX_COST_EXCEEDED;
 *   a bucket that cannot cover the requested cost answers THROTTLED, as does each of the next
 *   `throttle(k)` order-list queries.
 * - REST (legacy): `GET orders.json` (`status` default open: every fifth order is archived
 *   (closed) and only `status=any` or `closed` lists it, `updated_at_min/max` and
 *   `created_at_min/max` inclusive, `limit` default 50 / max 250, `fields`), newest id first,
 *   paged by `page_info` cursors in the `Link` header; a page_info request with any parameter
 *   other than limit and fields answers 400, as Shopify does. `orders/{id}.json`,
 *   `orders/{id}/transactions.json` (transactions are not embedded in REST orders). `throttle(k)`
 *   answers 429 with Retry-After: 0.
 * - `X-Shopify-Access-Token` must be the shop's token; anything else is 401, and the 401 body
 *   echoes the token it got, as a careless proxy would: the client must redact it.
 *
 * The orders are Swedish, not Swiss (a deviation from ShopEmulator's doc): Shopify's shipped
 * mapping is mappings/shopify-se-billecta.yaml, so the shop sells in SEK with prices including
 * 25 % and 12 % VAT, a 10 % discount code on some orders, PostNord shipping at 25 %, and a
 * partial refund on every seventh order. Everything reconciles to the öre (Σ lines + shipping =
 * total, line tax = the VAT in the discounted gross). The GraphQL side is rendered from the
 * REST order, amounts written as GraphQL writes Decimals ("499.0").
 */
import { mulberry32 } from '../random.js';
import { closeServer, listenOnLoopback, nowSecond, seedTimes } from './loopback.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { formatDecimal, vatFromGross, vatRate, type Minor } from '../../src/books/index.js';
import type { ConformanceSubject, SeedOptions, ShopEmulator } from './shop.js';

export const SHOPIFY_TOKEN = 'shpat_test';
export const SHOPIFY_API_VERSION = '2024-04';

type Json = Record<string, unknown>;

export interface ShopifyEmulatorOptions {
  /** The access token the shop accepts (default shpat_test). */
  token?: string;
  /** The cost bucket: size and points restored per second. Generous by default, so only `throttle(k)` throttles. */
  maximumAvailable?: number;
  restoreRate?: number;
  /** The most one query may cost (Shopify: 1000). */
  maxQueryCost?: number;
  /** Seed of the order generator (same seed, same orders). */
  seed?: number;
}

export interface RequestLogEntry {
  method: string;
  url: string;
  status: number;
  /** The GraphQL operation name, for GraphQL requests. */
  operation?: string;
}

export interface ShopifyEmulator extends ShopEmulator {
  readonly requestLog: RequestLogEntry[];
  /** Another app spends points from the same bucket, now. */
  drain(points: number): void;
  /** Another app spends points from the same bucket just before the next GraphQL query arrives (after the last answer told the client how full it was). */
  drainBeforeNextQuery(points: number): void;
  /** Make an order a test order (and move its updated-at to now). */
  markTest(id: string): void;
  /** Change an order's REST JSON as served (both APIs are rendered from it); its place in the lists stays. */
  alter(id: string, change: (order: Json) => void): void;
  /** The order's REST JSON as GET orders/{id}.json answers it. */
  order(id: string): Json | null;
  /** The order's transactions as GET orders/{id}/transactions.json answers them. */
  transactions(id: string): Json[];
  /** The bucket as the next answer would report it. */
  bucket(): { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
}

// ── the order model ───────────────────────────────────────────────────────────────────────────

type Rate = 25 | 12;
const PRODUCTS: { name: string; title: string; variant: string | null; sku: string; unit: number; rate: Rate; type: string }[] = [
  { name: 'Ullfilt - Grå', title: 'Ullfilt', variant: 'Grå', sku: 'FILT-GRA', unit: 49900, rate: 25, type: 'Textil' },
  { name: 'Kaffemugg', title: 'Kaffemugg', variant: null, sku: 'MUGG-01', unit: 14900, rate: 25, type: 'Porslin' },
  { name: 'Linnehandduk', title: 'Linnehandduk', variant: null, sku: 'HAND-LIN', unit: 19900, rate: 25, type: 'Textil' },
  { name: 'Tallrik 27 cm', title: 'Tallrik', variant: '27 cm', sku: 'TALL-27', unit: 22900, rate: 25, type: 'Porslin' },
  { name: 'Kaffebönor 500 g', title: 'Kaffebönor 500 g', variant: null, sku: 'KAFFE-500', unit: 12900, rate: 12, type: 'Livsmedel' },
  { name: 'Knäckebröd råg', title: 'Knäckebröd råg', variant: null, sku: 'KNACK-RAG', unit: 4500, rate: 12, type: 'Livsmedel' },
  { name: 'Lingonsylt 400 g', title: 'Lingonsylt 400 g', variant: null, sku: 'SYLT-LING', unit: 6900, rate: 12, type: 'Livsmedel' },
];

const PEOPLE = [
  { first: 'Elin', last: 'Lundqvist', company: null, street: 'Storgatan 14', zip: '903 26', city: 'Umeå', province: 'Västerbottens län', code: 'AC' },
  { first: 'Johan', last: 'Berg', company: null, street: 'Drottninggatan 5', zip: '111 51', city: 'Stockholm', province: 'Stockholms län', code: 'AB' },
  { first: 'Maja', last: 'Nilsson', company: 'Nilssons Café AB', street: 'Kungsgatan 22', zip: '411 19', city: 'Göteborg', province: 'Västra Götalands län', code: 'O' },
  { first: 'Oskar', last: 'Holm', company: null, street: 'Stortorget 3', zip: '211 22', city: 'Malmö', province: 'Skåne län', code: 'M' },
  { first: 'Sara', last: 'Ek', company: null, street: 'Fjällgatan 9', zip: '831 30', city: 'Östersund', province: 'Jämtlands län', code: 'Z' },
];

const GATEWAYS = ['shopify_payments', 'shopify_payments', 'swish', 'klarna'];
const SHIPPING = { gross: 4900, rate: 25 as Rate, title: 'PostNord MyPack Collect', code: 'PostNord MyPack' };
const DISCOUNT = { code: 'HOST10', percent: 10 };
const FREE_SHIPPING_FROM = 100000;

interface LineModel {
  id: number;
  product: (typeof PRODUCTS)[number];
  quantity: number;
}

interface RefundModel {
  id: number;
  transactionId: number;
  lineId: number;
  /** Gross refunded (the discounted unit price) and the VAT in it, fixed when the refund was made. */
  subtotal: number;
  tax: number;
  at: number;
}

interface OrderModel {
  id: number;
  number: number;
  customerId: number;
  person: (typeof PEOPLE)[number];
  createdAt: number;
  updatedAt: number;
  lines: LineModel[];
  discount: boolean;
  gateway: string;
  transactionId: number;
  refunds: RefundModel[];
  test: boolean;
  /** Archived (closed): REST's default `status=open` does not list it. */
  closed: boolean;
  corrupt: boolean;
  alter: ((order: Json) => void)[];
}

const random = mulberry32;

const money = (minor: number): string => formatDecimal(minor as Minor, 2);
/** REST timestamps in the shop's zone (Stockholm summer time, fixed here). */
const restTime = (ms: number): string => `${new Date(ms + 2 * 3_600_000).toISOString().slice(0, 19)}+02:00`;
const gqlTime = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;
const moneySet = (amount: string): Json => ({ shop_money: { amount, currency_code: 'SEK' }, presentment_money: { amount, currency_code: 'SEK' } });
const vat = (gross: number, rate: Rate): number => vatFromGross(gross as Minor, vatRate(rate));

interface Priced {
  line: LineModel;
  gross: number;
  discount: number;
  after: number;
  tax: number;
}

function priced(o: OrderModel): { lines: Priced[]; shipping: { gross: number; tax: number } | null } {
  const lines = o.lines.map((line) => {
    const gross = line.product.unit * line.quantity;
    const discount = o.discount ? Math.round((gross * DISCOUNT.percent) / 100) : 0;
    const after = gross - discount;
    return { line, gross, discount, after, tax: vat(after, line.product.rate) };
  });
  const subtotal = lines.reduce((s, l) => s + l.after, 0);
  const shipping = subtotal >= FREE_SHIPPING_FROM ? null : { gross: SHIPPING.gross, tax: vat(SHIPPING.gross, SHIPPING.rate) };
  return { lines, shipping };
}

function taxLine(rate: Rate, tax: number): Json {
  return { price: money(tax), rate: rate / 100, title: `Moms ${rate} %`, price_set: moneySet(money(tax)), channel_liable: false };
}

function renderLine(p: Priced): Json {
  const { line } = p;
  return {
    id: line.id,
    admin_graphql_api_id: `gid://shopify/LineItem/${line.id}`,
    name: line.product.name,
    title: line.product.title,
    variant_title: line.product.variant,
    sku: line.product.sku,
    vendor: 'Norrlandsgården',
    product_type: line.product.type,
    quantity: line.quantity,
    current_quantity: line.quantity,
    price: money(line.product.unit),
    price_set: moneySet(money(line.product.unit)),
    taxable: true,
    total_discount: '0.00',
    total_discount_set: moneySet('0.00'),
    tax_lines: [taxLine(line.product.rate, p.tax)],
    discount_allocations: p.discount ? [{ amount: money(p.discount), amount_set: moneySet(money(p.discount)), discount_application_index: 0 }] : [],
    duties: [],
  };
}

function transactionJson(o: OrderModel, id: number, kind: 'sale' | 'refund', amount: number, at: number, parent: number | null): Json {
  return {
    id,
    admin_graphql_api_id: `gid://shopify/OrderTransaction/${id}`,
    order_id: o.id,
    kind,
    gateway: o.gateway,
    status: 'success',
    message: 'Transaction approved',
    created_at: restTime(at),
    processed_at: restTime(at),
    test: o.test,
    authorization: `${kind === 'sale' ? 'pi' : 're'}_${id}`,
    parent_id: parent,
    amount: money(amount),
    currency: 'SEK',
  };
}

/** The order as Shopify's REST API 2024-04 answers it (without transactions, which REST does not embed). */
function renderRest(o: OrderModel): Json {
  const { lines, shipping } = priced(o);
  const subtotal = lines.reduce((s, l) => s + l.after, 0);
  const discounts = lines.reduce((s, l) => s + l.discount, 0);
  const total = subtotal + (shipping?.gross ?? 0);
  const taxByRate = new Map<Rate, number>();
  for (const l of lines) taxByRate.set(l.line.product.rate, (taxByRate.get(l.line.product.rate) ?? 0) + l.tax);
  if (shipping) taxByRate.set(SHIPPING.rate, (taxByRate.get(SHIPPING.rate) ?? 0) + shipping.tax);
  const totalTax = [...taxByRate.values()].reduce((a, b) => a + b, 0);
  const person = o.person;
  const address = {
    first_name: person.first,
    last_name: person.last,
    company: person.company,
    address1: person.street,
    address2: null,
    city: person.city,
    zip: person.zip,
    province: person.province,
    province_code: person.code,
    country: 'Sweden',
    country_code: 'SE',
    phone: '+46701234567',
  };
  const email = `${person.first.toLowerCase()}.${o.customerId % 1000}@example.se`;
  const lineJson = lines.map(renderLine);
  if (o.corrupt) {
    // A plugin's damage: the price in Swedish decimal notation.
    lineJson[0]!.price = '12,50';
    lineJson[0]!.price_set = moneySet('12,50');
  }
  const rendered: Json = {
    id: o.id,
    admin_graphql_api_id: `gid://shopify/Order/${o.id}`,
    name: `#SE${o.number}`,
    order_number: o.number,
    number: o.number - 1000,
    email,
    contact_email: email,
    phone: null,
    note: null,
    tags: o.discount ? 'nyhetsbrev' : '',
    source_name: 'web',
    test: o.test,
    created_at: restTime(o.createdAt),
    updated_at: restTime(o.updatedAt),
    processed_at: restTime(o.createdAt),
    closed_at: o.closed ? restTime(o.updatedAt) : null,
    cancelled_at: null,
    cancel_reason: null,
    currency: 'SEK',
    presentment_currency: 'SEK',
    taxes_included: true,
    financial_status: o.refunds.length > 0 ? 'partially_refunded' : 'paid',
    fulfillment_status: null,
    payment_gateway_names: [o.gateway],
    subtotal_price: money(subtotal),
    subtotal_price_set: moneySet(money(subtotal)),
    total_line_items_price: money(subtotal + discounts),
    total_line_items_price_set: moneySet(money(subtotal + discounts)),
    total_discounts: money(discounts),
    total_discounts_set: moneySet(money(discounts)),
    total_shipping_price_set: moneySet(money(shipping?.gross ?? 0)),
    total_tax: money(totalTax),
    total_tax_set: moneySet(money(totalTax)),
    total_price: money(total),
    total_price_set: moneySet(money(total)),
    tax_lines: [...taxByRate.entries()].map(([rate, tax]) => taxLine(rate, tax)),
    discount_codes: o.discount ? [{ code: DISCOUNT.code, amount: money(discounts), type: 'percentage' }] : [],
    discount_applications: o.discount
      ? [{ target_type: 'line_item', type: 'discount_code', value: '10.0', value_type: 'percentage', allocation_method: 'across', target_selection: 'all', code: DISCOUNT.code }]
      : [],
    note_attributes: [{ name: 'Leveransinstruktion', value: 'Lämna vid dörren' }],
    customer: { id: o.customerId, email, first_name: person.first, last_name: person.last, phone: '+46701234567', admin_graphql_api_id: `gid://shopify/Customer/${o.customerId}` },
    billing_address: address,
    shipping_address: address,
    line_items: lineJson,
    shipping_lines: shipping
      ? [
          {
            id: o.id * 10 + 1,
            title: SHIPPING.title,
            code: SHIPPING.code,
            source: 'shopify',
            price: money(shipping.gross),
            price_set: moneySet(money(shipping.gross)),
            discounted_price: money(shipping.gross),
            discounted_price_set: moneySet(money(shipping.gross)),
            tax_lines: [taxLine(SHIPPING.rate, shipping.tax)],
            discount_allocations: [],
          },
        ]
      : [],
    refunds: o.refunds.map((r) => {
      const line = lineJson.find((l) => l.id === r.lineId)!;
      return {
        id: r.id,
        admin_graphql_api_id: `gid://shopify/Refund/${r.id}`,
        order_id: o.id,
        created_at: restTime(r.at),
        processed_at: restTime(r.at),
        note: 'Trasig vid leverans',
        restock: true,
        refund_line_items: [
          {
            id: r.id * 10 + 1,
            line_item_id: r.lineId,
            quantity: 1,
            restock_type: 'return',
            subtotal: Number(money(r.subtotal)),
            subtotal_set: moneySet(money(r.subtotal)),
            total_tax: Number(money(r.tax)),
            total_tax_set: moneySet(money(r.tax)),
            line_item: line,
          },
        ],
        transactions: [transactionJson(o, r.transactionId, 'refund', r.subtotal, r.at, o.transactionId)],
        order_adjustments: [],
      };
    }),
  };
  for (const change of o.alter) change(rendered);
  return rendered;
}

function renderTransactions(o: OrderModel, rest: Json): Json[] {
  const total = Math.round(Number(String(rest.total_price).replace(',', '.')) * 100);
  return [
    transactionJson(o, o.transactionId, 'sale', Number.isFinite(total) ? total : 0, o.createdAt, null),
    ...o.refunds.map((r) => transactionJson(o, r.transactionId, 'refund', r.subtotal, r.at, o.transactionId)),
  ];
}

// ── the GraphQL rendering of a REST order ─────────────────────────────────────────────────────

/** A Decimal as GraphQL writes it: "499.00" → "499.0", "12.50" → "12.5"; anything else as is. */
function decimal(amount: unknown): unknown {
  if (typeof amount === 'number') return decimal(amount.toFixed(2));
  if (typeof amount !== 'string' || !/^-?\d+\.\d+$/.test(amount)) return amount;
  return amount.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '.0');
}

function bag(set: unknown): Json | null {
  const s = set as { shop_money?: Json; presentment_money?: Json } | null | undefined;
  if (!s) return null;
  const m = (x: Json | undefined) => (x ? { __typename: 'MoneyV2', amount: decimal(x.amount), currencyCode: x.currency_code } : null);
  return { __typename: 'MoneyBag', shopMoney: m(s.shop_money), presentmentMoney: m(s.presentment_money) };
}

const upper = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

function gqlTaxLines(v: unknown): Json[] {
  return arr(v).map((t) => ({ __typename: 'TaxLine', title: t.title, rate: t.rate, ratePercentage: Number(t.rate) * 100, priceSet: bag(t.price_set), channelLiable: t.channel_liable ?? false }));
}

function gqlAllocations(v: unknown): Json[] {
  return arr(v).map((a) => ({ __typename: 'DiscountAllocation', allocatedAmountSet: bag(a.amount_set), discountApplication: { __typename: 'DiscountCodeApplication', index: a.discount_application_index } }));
}

function gqlLine(l: Json): Json {
  return {
    __typename: 'LineItem',
    id: `gid://shopify/LineItem/${String(l.id)}`,
    name: l.name,
    title: l.title,
    sku: l.sku,
    quantity: l.quantity,
    currentQuantity: l.current_quantity ?? l.quantity,
    variantTitle: l.variant_title,
    taxable: l.taxable,
    product: { __typename: 'Product', productType: l.product_type ?? '' },
    originalUnitPriceSet: bag(l.price_set),
    taxLines: gqlTaxLines(l.tax_lines),
    discountAllocations: gqlAllocations(l.discount_allocations),
  };
}

const addr = (a: unknown): Json | null => {
  const x = a as Json | null;
  if (!x) return null;
  return {
    __typename: 'MailingAddress',
    firstName: x.first_name,
    lastName: x.last_name,
    company: x.company,
    address1: x.address1,
    address2: x.address2,
    city: x.city,
    zip: x.zip,
    province: x.province,
    provinceCode: x.province_code,
    country: x.country,
    countryCodeV2: x.country_code,
    phone: x.phone,
  };
};

function gqlTransaction(t: Json): Json {
  const amount = String(t.amount);
  return {
    __typename: 'OrderTransaction',
    id: `gid://shopify/OrderTransaction/${String(t.id)}`,
    kind: upper(t.kind),
    status: upper(t.status),
    gateway: t.gateway,
    test: t.test,
    authorizationCode: t.authorization,
    createdAt: gqlTime(Date.parse(String(t.created_at))),
    processedAt: gqlTime(Date.parse(String(t.processed_at))),
    amountSet: bag(moneySet(amount)),
    parentTransaction: t.parent_id ? { __typename: 'OrderTransaction', id: `gid://shopify/OrderTransaction/${String(t.parent_id)}` } : null,
  };
}

const APPLICATION_TYPENAMES: Record<string, string> = { discount_code: 'DiscountCodeApplication', automatic: 'AutomaticDiscountApplication', manual: 'ManualDiscountApplication', script: 'ScriptDiscountApplication' };

function gqlRefund(r: Json, lines: Json[]): Json {
  const byId = new Map(lines.map((l) => [l.id, l]));
  return {
    __typename: 'Refund',
    id: `gid://shopify/Refund/${String(r.id)}`,
    legacyResourceId: String(r.id),
    createdAt: gqlTime(Date.parse(String(r.created_at))),
    note: r.note,
    refundLineItems: arr(r.refund_line_items).map((i) => ({
      __typename: 'RefundLineItem',
      quantity: i.quantity,
      restockType: upper(i.restock_type),
      lineItem: byId.get(`gid://shopify/LineItem/${String(i.line_item_id)}`) ?? { __typename: 'LineItem', id: `gid://shopify/LineItem/${String(i.line_item_id)}` },
      subtotalSet: bag(i.subtotal_set),
      totalTaxSet: bag(i.total_tax_set),
    })),
    transactions: arr(r.transactions).map(gqlTransaction),
    refundShippingLines: arr(r.order_adjustments)
      .filter((a) => a.kind === 'shipping_refund')
      .map((a) => ({ __typename: 'RefundShippingLine', subtotalAmountSet: bag(moneySet(String(a.amount).replace(/^-/, ''))), taxAmountSet: bag(moneySet(String(a.tax_amount).replace(/^-/, ''))) })),
    orderAdjustments: arr(r.order_adjustments)
      .filter((a) => a.kind !== 'shipping_refund')
      .map((a) => ({ __typename: 'OrderAdjustment', amountSet: bag(moneySet(String(a.amount))), taxAmountSet: bag(moneySet(String(a.tax_amount))), reason: upper(a.kind) })),
  };
}

/** The GraphQL Order node of a REST order and its transactions. */
export function renderGraphQL(rest: Json, transactions: Json[]): Json {
  const customer = rest.customer as Json | null;
  const lines = arr(rest.line_items).map(gqlLine);
  return {
    __typename: 'Order',
    id: `gid://shopify/Order/${String(rest.id)}`,
    legacyResourceId: rest.id === undefined || rest.id === null ? null : String(rest.id),
    name: rest.name,
    email: rest.email,
    phone: rest.phone,
    note: rest.note,
    tags: typeof rest.tags === 'string' && rest.tags !== '' ? rest.tags.split(/,\s*/) : [],
    sourceName: rest.source_name,
    test: rest.test,
    createdAt: gqlTime(Date.parse(String(rest.created_at))),
    updatedAt: typeof rest.updated_at === 'string' ? gqlTime(Date.parse(rest.updated_at)) : null,
    processedAt: gqlTime(Date.parse(String(rest.processed_at))),
    closedAt: rest.closed_at ? gqlTime(Date.parse(String(rest.closed_at))) : null,
    cancelledAt: rest.cancelled_at ? gqlTime(Date.parse(String(rest.cancelled_at))) : null,
    cancelReason: upper(rest.cancel_reason) ?? null,
    currencyCode: rest.currency,
    presentmentCurrencyCode: rest.presentment_currency,
    taxesIncluded: rest.taxes_included,
    displayFinancialStatus: upper(rest.financial_status),
    paymentGatewayNames: rest.payment_gateway_names,
    discountCodes: arr(rest.discount_codes).map((c) => c.code),
    subtotalPriceSet: bag(rest.subtotal_price_set),
    totalPriceSet: bag(rest.total_price_set),
    totalTaxSet: bag(rest.total_tax_set),
    totalDiscountsSet: bag(rest.total_discounts_set),
    totalShippingPriceSet: bag(rest.total_shipping_price_set),
    taxLines: gqlTaxLines(rest.tax_lines),
    customAttributes: arr(rest.note_attributes).map((a) => ({ __typename: 'Attribute', key: a.name, value: a.value })),
    customer: customer
      ? { __typename: 'Customer', id: `gid://shopify/Customer/${String(customer.id)}`, legacyResourceId: String(customer.id), email: customer.email, firstName: customer.first_name, lastName: customer.last_name, phone: customer.phone }
      : null,
    billingAddress: addr(rest.billing_address),
    shippingAddress: addr(rest.shipping_address),
    discountApplications: arr(rest.discount_applications).map((a, index) => ({
      __typename: APPLICATION_TYPENAMES[String(a.type)] ?? 'DiscountCodeApplication',
      index,
      allocationMethod: upper(a.allocation_method),
      targetType: upper(a.target_type),
      targetSelection: upper(a.target_selection),
      value: a.value_type === 'percentage' ? { __typename: 'PricingPercentageValue', percentage: Number(a.value) } : { __typename: 'MoneyV2', amount: decimal(a.value), currencyCode: rest.currency },
      code: a.code ?? null,
      title: a.title ?? null,
    })),
    lineItems: lines,
    shippingLines: arr(rest.shipping_lines).map((s) => ({
      __typename: 'ShippingLine',
      id: `gid://shopify/ShippingLine/${String(s.id)}`,
      title: s.title,
      code: s.code,
      originalPriceSet: bag(s.price_set),
      discountedPriceSet: bag(s.discounted_price_set),
      taxLines: gqlTaxLines(s.tax_lines),
      discountAllocations: gqlAllocations(s.discount_allocations),
    })),
    transactions: transactions.map(gqlTransaction),
    refunds: arr(rest.refunds).map((r) => gqlRefund(r, lines)),
  };
}

// ── a small GraphQL executor ───────────────────────────────────────────────────────────────────

type Value = string | number | boolean | null | { $var: string } | Value[] | { [key: string]: Value };
interface FieldNode {
  kind: 'field';
  name: string;
  alias: string | null;
  args: Record<string, Value>;
  selections: Selection[] | null;
}
type Selection = FieldNode | { kind: 'spread'; name: string } | { kind: 'inline'; type: string | null; selections: Selection[] };
interface Document {
  name: string | null;
  selections: Selection[];
  fragments: Map<string, { type: string; selections: Selection[] }>;
  defaults: Record<string, unknown>;
}

/** A GraphQL error in Shopify's shape. */
class GraphQLProblem extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly extra: Json = {},
  ) {
    super(message);
  }
}

interface Token {
  type: 'punct' | 'name' | 'string' | 'number';
  value: string;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s+|,|#[^\n]*|(\.\.\.|[{}():$!=[\]@])|("(?:\\.|[^"\\])*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([_A-Za-z][_0-9A-Za-z]*)/y;
  while (re.lastIndex < source.length) {
    const at = re.lastIndex;
    const m = re.exec(source);
    if (!m) throw new GraphQLProblem(`Parse error on "${source.slice(at, at + 10)}" at ${at}`, 'parseError');
    if (m[1]) tokens.push({ type: 'punct', value: m[1] });
    else if (m[2]) tokens.push({ type: 'string', value: m[2] });
    else if (m[3]) tokens.push({ type: 'number', value: m[3] });
    else if (m[4]) tokens.push({ type: 'name', value: m[4] });
  }
  return tokens;
}

function parseDocument(source: string): Document {
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (!t) throw new GraphQLProblem('Parse error: unexpected end of the document', 'parseError');
    return t;
  };
  const expect = (value: string) => {
    const t = next();
    if (t.value !== value) throw new GraphQLProblem(`Parse error on "${t.value}": expected "${value}"`, 'parseError');
  };
  const name = () => {
    const t = next();
    if (t.type !== 'name') throw new GraphQLProblem(`Parse error on "${t.value}": expected a name`, 'parseError');
    return t.value;
  };
  const value = (): Value => {
    const t = next();
    if (t.value === '$' && t.type === 'punct') return { $var: name() };
    if (t.type === 'string') return JSON.parse(t.value) as string;
    if (t.type === 'number') return Number(t.value);
    if (t.type === 'name') return t.value === 'true' ? true : t.value === 'false' ? false : t.value === 'null' ? null : t.value;
    if (t.value === '[') {
      const items: Value[] = [];
      while (peek()?.value !== ']') items.push(value());
      next();
      return items;
    }
    if (t.value === '{') {
      const o: Record<string, Value> = {};
      while (peek()?.value !== '}') {
        const k = name();
        expect(':');
        o[k] = value();
      }
      next();
      return o;
    }
    throw new GraphQLProblem(`Parse error on "${t.value}"`, 'parseError');
  };
  const directives = () => {
    while (peek()?.value === '@') {
      next();
      name();
      if (peek()?.value === '(') args();
    }
  };
  const args = (): Record<string, Value> => {
    expect('(');
    const out: Record<string, Value> = {};
    while (peek()?.value !== ')') {
      const k = name();
      expect(':');
      out[k] = value();
    }
    next();
    return out;
  };
  const selectionSet = (): Selection[] => {
    expect('{');
    const out: Selection[] = [];
    while (peek()?.value !== '}') {
      if (peek()?.value === '...') {
        next();
        if (peek()?.value === 'on') {
          next();
          const type = name();
          directives();
          out.push({ kind: 'inline', type, selections: selectionSet() });
        } else if (peek()?.value === '{' || peek()?.value === '@') {
          directives();
          out.push({ kind: 'inline', type: null, selections: selectionSet() });
        } else out.push({ kind: 'spread', name: name() });
        continue;
      }
      let fieldName = name();
      let alias: string | null = null;
      if (peek()?.value === ':') {
        next();
        alias = fieldName;
        fieldName = name();
      }
      const a = peek()?.value === '(' ? args() : {};
      directives();
      out.push({ kind: 'field', name: fieldName, alias, args: a, selections: peek()?.value === '{' ? selectionSet() : null });
    }
    next();
    return out;
  };
  const doc: Document = { name: null, selections: [], fragments: new Map(), defaults: {} };
  let operations = 0;
  while (i < tokens.length) {
    const t = peek()!;
    if (t.value === '{') {
      doc.selections = selectionSet();
      operations++;
    } else if (t.value === 'query') {
      next();
      if (peek()?.type === 'name') doc.name = name();
      if (peek()?.value === '(') {
        next();
        while (peek()?.value !== ')') {
          expect('$');
          const v = name();
          expect(':');
          while (peek() && (peek()!.type === 'name' || ['[', ']', '!'].includes(peek()!.value))) next();
          if (peek()?.value === '=') {
            next();
            doc.defaults[v] = value();
          }
        }
        next();
      }
      directives();
      doc.selections = selectionSet();
      operations++;
    } else if (t.value === 'fragment') {
      next();
      const fragmentName = name();
      if (name() !== 'on') throw new GraphQLProblem('Parse error: expected "on"', 'parseError');
      const type = name();
      directives();
      doc.fragments.set(fragmentName, { type, selections: selectionSet() });
    } else if (t.value === 'mutation' || t.value === 'subscription') {
      throw new GraphQLProblem(`the emulator answers queries only, not ${t.value}s`, 'parseError');
    } else throw new GraphQLProblem(`Parse error on "${t.value}"`, 'parseError');
  }
  if (operations !== 1) throw new GraphQLProblem('the document must hold exactly one query', 'parseError');
  return doc;
}

interface ExecutionContext {
  variables: Record<string, unknown>;
  fragments: Document['fragments'];
  /** Fields that do not exist in this API version: `Type.field`. */
  hidden: Set<string>;
}

function resolveValue(v: Value, ctx: ExecutionContext): unknown {
  if (Array.isArray(v)) return v.map((x) => resolveValue(x, ctx));
  if (v !== null && typeof v === 'object') {
    if ('$var' in v && typeof v.$var === 'string') return ctx.variables[v.$var] ?? null;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveValue(x as Value, ctx)]));
  }
  return v;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const typeMatches = (value: Json, type: string | null): boolean => type === null || value.__typename === undefined || value.__typename === type;
const isConnection = (selections: Selection[]): boolean => selections.some((s) => s.kind === 'field' && ['nodes', 'edges', 'pageInfo'].includes(s.name));

const encodeCursor = (data: unknown): string => Buffer.from(JSON.stringify(data)).toString('base64url');
function decodeCursor<T>(cursor: unknown): T {
  try {
    if (typeof cursor !== 'string') throw new Error('not a string');
    return JSON.parse(Buffer.from(cursor, 'base64url').toString()) as T;
  } catch {
    throw new GraphQLProblem(`Invalid cursor for current pagination sort.`, 'BAD_USER_INPUT');
  }
}

function firstOf(args: Json, field: string): number {
  const first = args.first;
  if (typeof first !== 'number' || !Number.isInteger(first)) throw new GraphQLProblem(`you must provide one of first or last (${field})`, 'BAD_USER_INPUT');
  if (first < 0 || first > 250) throw new GraphQLProblem(`The first argument of ${field} must be between 0 and 250`, 'BAD_USER_INPUT');
  return first;
}

function connectionOf(items: unknown[], args: Json, field: string): Json {
  const first = firstOf(args, field);
  const start = args.after ? decodeCursor<{ i: number }>(args.after).i + 1 : 0;
  const page = items.slice(start, start + first);
  const cursor = (k: number) => encodeCursor({ i: start + k });
  return {
    nodes: page,
    edges: page.map((node, k) => ({ cursor: cursor(k), node })),
    pageInfo: { hasNextPage: start + first < items.length, hasPreviousPage: start > 0, startCursor: page.length ? cursor(0) : null, endCursor: page.length ? cursor(page.length - 1) : null },
  };
}

function merge(into: Json, from: Json): void {
  for (const [k, v] of Object.entries(from)) {
    const existing = into[k];
    if (isObject(existing) && isObject(v)) merge(existing, v);
    else into[k] = v;
  }
}

function select(selections: Selection[], value: Json, ctx: ExecutionContext): Json {
  const out: Json = {};
  for (const s of selections) {
    if (s.kind === 'field') {
      const key = s.alias ?? s.name;
      const v = resolveField(s, value, ctx);
      if (isObject(out[key]) && isObject(v)) merge(out[key] as Json, v);
      else out[key] = v;
    } else if (s.kind === 'inline') {
      if (typeMatches(value, s.type)) merge(out, select(s.selections, value, ctx));
    } else {
      const fragment = ctx.fragments.get(s.name);
      if (!fragment) throw new GraphQLProblem(`Fragment ${s.name} was used, but not defined`, 'undefinedFragment');
      if (typeMatches(value, fragment.type)) merge(out, select(fragment.selections, value, ctx));
    }
  }
  return out;
}

function resolveField(field: FieldNode, parent: Json, ctx: ExecutionContext): unknown {
  if (field.name === '__typename') return parent.__typename ?? null;
  const type = String(parent.__typename ?? 'Object');
  if (!(field.name in parent) || ctx.hidden.has(`${type}.${field.name}`)) {
    throw new GraphQLProblem(`Field '${field.name}' doesn't exist on type '${type}'`, 'undefinedField', { typeName: type, fieldName: field.name });
  }
  const args = Object.fromEntries(Object.entries(field.args).map(([k, v]) => [k, resolveValue(v, ctx)])) as Json;
  let v = parent[field.name];
  if (typeof v === 'function') v = (v as (args: Json) => unknown)(args);
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) {
    if (field.selections && isConnection(field.selections)) return select(field.selections, connectionOf(v, args, field.name), ctx);
    const items = args.first !== undefined ? v.slice(0, firstOf(args, field.name)) : v;
    return items.map((x) => (field.selections && isObject(x) ? select(field.selections, x, ctx) : x));
  }
  if (isObject(v)) {
    if (!field.selections) throw new GraphQLProblem(`Field must have selections (field '${field.name}' returns ${String(v.__typename ?? 'an object')})`, 'selectionMismatch');
    return select(field.selections, v, ctx);
  }
  return v;
}

/** The requested cost: objects 1, scalars 0, connections 2 + first × node, lists with `first` first × item; inline fragments the dearest. */
function requestedCost(selections: Selection[], ctx: ExecutionContext): number {
  let total = 0;
  let dearestInline = 0;
  for (const s of selections) {
    if (s.kind === 'inline') dearestInline = Math.max(dearestInline, requestedCost(s.selections, ctx));
    else if (s.kind === 'spread') total += requestedCost(ctx.fragments.get(s.name)?.selections ?? [], ctx);
    else if (s.selections) {
      const first = resolveValue(s.args.first ?? null, ctx);
      const n = typeof first === 'number' ? first : null;
      if (isConnection(s.selections)) {
        const node = s.selections.flatMap((c) => (c.kind !== 'field' ? [] : c.name === 'nodes' ? [requestedCost(c.selections ?? [], ctx)] : c.name === 'edges' ? [requestedCost(c.selections ?? [], ctx) - 1] : []));
        total += 2 + (n ?? 1) * Math.max(0, ...node);
      } else total += (n ?? 1) * (1 + requestedCost(s.selections, ctx));
    }
  }
  return total + dearestInline;
}

/** The actual cost of an answer: every object returned 1, every connection 2 more; page info and edges are free. */
function actualCost(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((s: number, v) => s + actualCost(v), 0);
  if (!isObject(value)) return 0;
  const connection = 'nodes' in value || 'edges' in value;
  let total = connection ? 2 : 1;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'pageInfo') continue;
    if (connection && k === 'edges' && Array.isArray(v)) total += v.reduce((s: number, e) => s + (isObject(e) ? actualCost(e.node) : 0), 0);
    else total += actualCost(v);
  }
  return connection && 'nodes' in value && 'edges' in value ? total - actualCost(value.edges) : total;
}

// ── search syntax ──────────────────────────────────────────────────────────────────────────────

interface SearchTerm {
  field: 'updated_at' | 'created_at';
  op: '>=' | '<=' | '>' | '<' | '=';
  at: number;
}

function parseSearch(query: unknown): SearchTerm[] {
  if (query === null || query === undefined || query === '') return [];
  if (typeof query !== 'string') throw new GraphQLProblem('query must be a string', 'BAD_USER_INPUT');
  const terms: SearchTerm[] = [];
  for (const part of query.trim().split(/\s+AND\s+/i)) {
    const m = /^(\w+):(>=|<=|>|<)?(?:'([^']*)'|"([^"]*)"|(\S+))$/.exec(part.trim());
    if (!m || (m[1] !== 'updated_at' && m[1] !== 'created_at')) continue; // Shopify ignores what it does not understand
    const text = m[3] ?? m[4] ?? m[5] ?? '';
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new GraphQLProblem(`Invalid date in search term ${part}`, 'BAD_USER_INPUT');
    terms.push({ field: m[1], op: (m[2] ?? '=') as SearchTerm['op'], at });
  }
  return terms;
}

function matches(o: OrderModel, terms: SearchTerm[]): boolean {
  return terms.every((t) => {
    const v = t.field === 'updated_at' ? o.updatedAt : o.createdAt;
    return t.op === '>=' ? v >= t.at : t.op === '<=' ? v <= t.at : t.op === '>' ? v > t.at : t.op === '<' ? v < t.at : v === t.at;
  });
}

// ── the server ─────────────────────────────────────────────────────────────────────────────────

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const PAGE_INFO_ALLOWED = new Set(['page_info', 'limit', 'fields']);

interface RestCursor {
  /** The filters of the first page, as the cursor encodes them. */
  f: Record<string, string>;
  /** Last id served, the page number. */
  last: number;
  p: number;
}

interface GraphQLCursor {
  k: number;
  id: number;
  p: number;
}

class Emulator implements ShopifyEmulator {
  readonly kind = 'shopify' as const;
  url = '';
  readonly stats = { requests: 0, listRequests: 0, throttled: 0 };
  readonly requestLog: RequestLogEntry[] = [];
  beforePage: ((page: number) => void) | null = null;
  private readonly models = new Map<number, OrderModel>();
  private nextOrderId = 5_823_746_512_001;
  private nextNumber = 1001;
  private nextLineId = 13_712_456_401;
  private nextTransactionId = 7_345_612_300_001;
  private nextRefundId = 998_877_665_501;
  private throttleLeft = 0;
  private pendingDrain = 0;
  private readonly rand: () => number;
  private readonly server: Server;
  private readonly token: string;
  private readonly maximumAvailable: number;
  private readonly restoreRate: number;
  private readonly maxQueryCost: number;
  private available: number;
  private refilledAt = Date.now();

  constructor(options: ShopifyEmulatorOptions) {
    this.rand = random(options.seed ?? 20240514);
    this.token = options.token ?? SHOPIFY_TOKEN;
    this.maximumAvailable = options.maximumAvailable ?? 20_000;
    this.restoreRate = options.restoreRate ?? 20_000;
    this.maxQueryCost = options.maxQueryCost ?? 1000;
    this.available = this.maximumAvailable;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
  }

  async listen(): Promise<void> {
    this.url = await listenOnLoopback(this.server);
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  // ── shop state ────────────────────────────────────────────────────────────────────────────

  seed(n: number, options: SeedOptions = {}): void {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(this.rand() * list.length)]!;
    const times = seedTimes(n, options.days ?? 30, this.rand);
    for (let i = 0; i < n; i++) {
      const id = this.nextOrderId++;
      const updatedAt = times[i]!;
      const count = 1 + Math.floor(this.rand() * 3);
      const products = new Set<(typeof PRODUCTS)[number]>();
      while (products.size < count) products.add(pick(PRODUCTS));
      const lines = [...products].map((product) => ({ id: this.nextLineId++, product, quantity: 1 + Math.floor(this.rand() * 3) }));
      const model: OrderModel = {
        id,
        number: this.nextNumber++,
        customerId: 7_012_345_678_000 + Math.floor(this.rand() * 500),
        person: pick(PEOPLE),
        createdAt: updatedAt - Math.floor(this.rand() * 3600) * 1000,
        updatedAt,
        lines,
        discount: this.rand() < 0.3,
        gateway: pick(GATEWAYS),
        transactionId: this.nextTransactionId++,
        refunds: [],
        test: false,
        closed: this.models.size % 5 === 4,
        corrupt: false,
        alter: [],
      };
      if (this.models.size % 7 === 6) {
        const p = priced(model).lines[0]!;
        const subtotal = Math.round(p.after / p.line.quantity);
        model.refunds.push({ id: this.nextRefundId++, transactionId: this.nextTransactionId++, lineId: p.line.id, subtotal, tax: vat(subtotal, p.line.product.rate), at: updatedAt });
      }
      this.models.set(id, model);
    }
  }

  private model(id: string): OrderModel {
    const o = this.models.get(Number(id));
    if (!o) throw new Error(`the Shopify emulator has no order ${id}`);
    return o;
  }

  private bump(o: OrderModel): void {
    // Seconds, as Shopify stamps; never backwards.
    o.updatedAt = Math.max(nowSecond(), o.updatedAt);
  }

  touch(id: string): void {
    const o = this.model(id);
    o.lines[o.lines.length - 1]!.quantity += 1;
    this.bump(o);
  }

  corrupt(id: string): void {
    const o = this.model(id);
    o.corrupt = true;
    this.bump(o);
  }

  markTest(id: string): void {
    const o = this.model(id);
    o.test = true;
    this.bump(o);
  }

  alter(id: string, change: (order: Json) => void): void {
    this.model(id).alter.push(change);
  }

  throttle(k: number): void {
    this.throttleLeft += k;
  }

  drain(points: number): void {
    this.refill();
    this.available = Math.max(0, this.available - points);
  }

  drainBeforeNextQuery(points: number): void {
    this.pendingDrain += points;
  }

  orders(): Map<string, string> {
    return new Map([...this.models.values()].map((o) => [String(o.id), new Date(o.updatedAt).toISOString()]));
  }

  order(id: string): Json | null {
    const o = this.models.get(Number(id));
    return o ? renderRest(o) : null;
  }

  transactions(id: string): Json[] {
    const o = this.model(id);
    return renderTransactions(o, renderRest(o));
  }

  bucket(): { maximumAvailable: number; currentlyAvailable: number; restoreRate: number } {
    this.refill();
    return { maximumAvailable: this.maximumAvailable, currentlyAvailable: Math.floor(this.available), restoreRate: this.restoreRate };
  }

  private refill(): void {
    const now = Date.now();
    this.available = Math.min(this.maximumAvailable, this.available + ((now - this.refilledAt) / 1000) * this.restoreRate);
    this.refilledAt = now;
  }

  // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const entry: RequestLogEntry = { method: req.method ?? 'GET', url: req.url ?? '/', status: 200 };
    this.requestLog.push(entry);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    try {
      const m = /^\/admin\/api\/(\d{4}-\d{2}|unstable)\/(.+)$/.exec(url.pathname);
      if (!m) throw new HttpProblem(404, { errors: 'Not Found' });
      const [, version, path] = m as unknown as [string, string, string];
      const token = req.headers['x-shopify-access-token'];
      if (token !== this.token) {
        // Deliberately careless: the token it got comes back in the body.
        throw new HttpProblem(401, { errors: `[API] Invalid API key or access token (unrecognized login or wrong password): ${String(token ?? '(none)')}` });
      }
      if (req.method === 'POST' && path === 'graphql.json') return this.graphql(version, body, entry, send);
      if (req.method !== 'GET') throw new HttpProblem(404, { errors: 'Not Found' });
      const callLimit = { 'x-shopify-shop-api-call-limit': '1/40' };
      if (path === 'orders.json') {
        this.stats.listRequests++;
        if (this.throttleLeft > 0) {
          this.throttleLeft--;
          this.stats.throttled++;
          throw new HttpProblem(429, { errors: 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.' }, { 'retry-after': '0', 'x-shopify-shop-api-call-limit': '40/40' });
        }
        const page = this.restPage(url, version);
        return send(200, { orders: page.orders }, { ...callLimit, ...(page.link ? { link: page.link } : {}) });
      }
      let p: RegExpExecArray | null;
      if ((p = /^orders\/(\d+)\.json$/.exec(path))) {
        const o = this.models.get(Number(p[1]));
        if (!o) throw new HttpProblem(404, { errors: 'Not Found' });
        return send(200, { order: this.fields(renderRest(o), url.searchParams.get('fields')) }, callLimit);
      }
      if ((p = /^orders\/(\d+)\/transactions\.json$/.exec(path))) {
        const o = this.models.get(Number(p[1]));
        if (!o) throw new HttpProblem(404, { errors: 'Not Found' });
        return send(200, { transactions: renderTransactions(o, renderRest(o)) }, callLimit);
      }
      throw new HttpProblem(404, { errors: 'Not Found' });
    } catch (error) {
      if (error instanceof HttpProblem) return send(error.status, error.body, error.headers);
      return send(500, { errors: (error as Error).message });
    }
  }

  private fields(order: Json, fields: string | null): Json {
    if (!fields) return order;
    const wanted = new Set(fields.split(',').map((f) => f.trim()));
    return Object.fromEntries(Object.entries(order).filter(([k]) => wanted.has(k)));
  }

  private restPage(url: URL, version: string): { orders: Json[]; link: string | null } {
    const params = url.searchParams;
    let filters: Record<string, string>;
    let last: number | null = null;
    let page = 1;
    const pageInfo = params.get('page_info');
    if (pageInfo !== null) {
      for (const key of params.keys()) {
        if (!PAGE_INFO_ALLOWED.has(key)) throw new HttpProblem(400, { errors: `${key} cannot be passed when page_info is present. See https://shopify.dev/api/usage/pagination-rest for more information.` });
      }
      let cursor: RestCursor;
      try {
        cursor = JSON.parse(Buffer.from(pageInfo, 'base64url').toString()) as RestCursor;
      } catch {
        throw new HttpProblem(400, { errors: { page_info: 'Invalid value.' } });
      }
      filters = cursor.f;
      last = cursor.last;
      page = cursor.p;
    } else {
      filters = Object.fromEntries([...params.entries()].filter(([k]) => k !== 'limit' && k !== 'fields'));
    }
    const limitText = params.get('limit') ?? '50';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 250) throw new HttpProblem(400, { errors: { limit: 'must be between 1 and 250' } });
    const date = (key: string): number | null => {
      const v = filters[key];
      if (v === undefined) return null;
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw new HttpProblem(400, { errors: { [key]: 'Invalid date.' } });
      return t;
    };
    const bounds = { umin: date('updated_at_min'), umax: date('updated_at_max'), cmin: date('created_at_min'), cmax: date('created_at_max') };
    const status = filters.status ?? 'open';
    if (!['open', 'closed', 'cancelled', 'any'].includes(status)) throw new HttpProblem(400, { errors: { status: 'Invalid value.' } });
    this.beforePage?.(page);
    const all = [...this.models.values()]
      .filter((o) => status === 'any' || (status === 'open' ? !o.closed : status === 'closed' ? o.closed : false)) // none is cancelled
      .filter((o) => (bounds.umin === null || o.updatedAt >= bounds.umin) && (bounds.umax === null || o.updatedAt <= bounds.umax))
      .filter((o) => (bounds.cmin === null || o.createdAt >= bounds.cmin) && (bounds.cmax === null || o.createdAt <= bounds.cmax))
      .sort((a, b) => b.id - a.id)
      .filter((o) => last === null || o.id < last);
    const served = all.slice(0, limit);
    const links: string[] = [];
    const base = `${this.url}/admin/api/${version}/orders.json`;
    const cursor = (c: RestCursor) => Buffer.from(JSON.stringify(c)).toString('base64url');
    const fields = params.get('fields');
    const extra = fields ? `&fields=${encodeURIComponent(fields)}` : '';
    if (all.length > limit) links.push(`<${base}?limit=${limit}${extra}&page_info=${cursor({ f: filters, last: served[served.length - 1]!.id, p: page + 1 })}>; rel="next"`);
    return { orders: served.map((o) => this.fields(renderRest(o), fields)), link: links.length ? links.join(', ') : null };
  }

  private graphql(version: string, body: string, entry: RequestLogEntry, send: (status: number, payload: unknown) => void): void {
    let request: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      request = JSON.parse(body) as typeof request;
    } catch {
      throw new HttpProblem(400, { errors: 'Invalid JSON in the request body' });
    }
    const status = () => this.bucket();
    if (this.pendingDrain > 0) {
      this.drain(this.pendingDrain);
      this.pendingDrain = 0;
    }
    try {
      if (typeof request.query !== 'string') throw new GraphQLProblem('No query string was present', 'parseError');
      const doc = parseDocument(request.query);
      entry.operation = doc.name ?? undefined;
      const variables = { ...doc.defaults, ...(isObject(request.variables) ? request.variables : {}) };
      const hidden = new Set<string>(version < '2024-10' && version !== 'unstable' ? ['Refund.orderAdjustments', 'RefundShippingLine.subtotalAmountSet', 'RefundShippingLine.taxAmountSet'] : []);
      const ctx: ExecutionContext = { variables, fragments: doc.fragments, hidden };
      const isList = doc.selections.some((s) => s.kind === 'field' && s.name === 'orders');
      if (isList) this.stats.listRequests++;
      const requested = requestedCost(doc.selections, ctx);
      if (isList && this.throttleLeft > 0) {
        this.throttleLeft--;
        return this.throttled(requested, send);
      }
      if (requested > this.maxQueryCost) {
        return send(200, {
          errors: [
            {
              message: `Query cost is ${requested}, which exceeds the single query max cost limit (${this.maxQueryCost}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n`,
              extensions: { code: 'MAX_COST_EXCEEDED', cost: requested, maxCost: this.maxQueryCost, documentation: 'https://shopify.dev/api/usage/rate-limits' },
            },
          ],
        });
      }
      this.refill();
      if (this.available < requested) return this.throttled(requested, send);
      this.available -= requested;
      const root: Json = {
        __typename: 'QueryRoot',
        orders: (args: Json) => this.ordersConnection(args),
        order: (args: Json) => {
          const id = /^gid:\/\/shopify\/Order\/(\d+)$/.exec(String(args.id ?? ''));
          if (!id) throw new GraphQLProblem(`Invalid global id '${String(args.id)}'`, 'BAD_USER_INPUT');
          const o = this.models.get(Number(id[1]));
          return o ? this.node(o) : null;
        },
        refund: (args: Json) => {
          const id = /^gid:\/\/shopify\/Refund\/(\d+)$/.exec(String(args.id ?? ''));
          if (!id) throw new GraphQLProblem(`Invalid global id '${String(args.id)}'`, 'BAD_USER_INPUT');
          for (const o of this.models.values()) {
            const r = o.refunds.find((x) => x.id === Number(id[1]));
            if (r) return arr(this.node(o).refunds).find((x) => x.legacyResourceId === String(r.id)) ?? null;
          }
          return null;
        },
      };
      let data: Json;
      try {
        data = select(doc.selections, root, ctx);
      } catch (error) {
        this.available += requested; // nothing was executed
        throw error;
      }
      const actual = Math.min(requested, actualCost(data));
      this.available = Math.min(this.maximumAvailable, this.available + (requested - actual));
      return send(200, { data, extensions: { cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus: status() } } });
    } catch (error) {
      if (!(error instanceof GraphQLProblem)) throw error;
      return send(200, { errors: [{ message: error.message, extensions: { code: error.code, ...error.extra } }] });
    }
  }

  private throttled(requested: number, send: (status: number, payload: unknown) => void): void {
    this.stats.throttled++;
    send(200, {
      errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }],
      extensions: { cost: { requestedQueryCost: requested, actualQueryCost: null, throttleStatus: this.bucket() } },
    });
  }

  private node(o: OrderModel): Json {
    const rest = renderRest(o);
    return renderGraphQL(rest, renderTransactions(o, rest));
  }

  private ordersConnection(args: Json): Json {
    const first = firstOf(args, 'orders');
    const after = args.after ? decodeCursor<GraphQLCursor>(args.after) : null;
    const page = after ? after.p + 1 : 1;
    const sortKey = args.sortKey ?? 'ID';
    if (!['ID', 'UPDATED_AT', 'CREATED_AT'].includes(String(sortKey))) throw new GraphQLProblem(`the emulator sorts orders by ID, UPDATED_AT or CREATED_AT, not ${String(sortKey)}`, 'BAD_USER_INPUT');
    const terms = parseSearch(args.query);
    this.beforePage?.(page);
    const key = (o: OrderModel) => (sortKey === 'UPDATED_AT' ? o.updatedAt : sortKey === 'CREATED_AT' ? o.createdAt : 0);
    const sign = args.reverse === true ? -1 : 1;
    const compare = (a: { k: number; id: number }, b: { k: number; id: number }) => sign * (a.k - b.k || a.id - b.id);
    const all = [...this.models.values()]
      .filter((o) => matches(o, terms))
      .map((o) => ({ o, k: key(o), id: o.id }))
      .sort(compare)
      .filter((x) => !after || compare(x, after) > 0);
    const served = all.slice(0, first);
    const cursor = (x: { k: number; id: number }) => encodeCursor({ k: x.k, id: x.id, p: page } satisfies GraphQLCursor);
    const nodes = served.map((x) => this.node(x.o));
    return {
      __typename: 'OrderConnection',
      nodes,
      edges: served.map((x, i) => ({ __typename: 'OrderEdge', cursor: cursor(x), node: nodes[i] })),
      pageInfo: {
        __typename: 'PageInfo',
        hasNextPage: all.length > first,
        hasPreviousPage: after !== null,
        startCursor: served.length ? cursor(served[0]!) : null,
        endCursor: served.length ? cursor(served[served.length - 1]!) : null,
      },
    };
  }
}

export async function startShopify(options: ShopifyEmulatorOptions = {}): Promise<ShopifyEmulator> {
  const emulator = new Emulator(options);
  await emulator.listen();
  return emulator;
}

export const shopifySubject: ConformanceSubject = {
  kind: 'shopify',
  start: () => startShopify(),
  sourceYaml: (emulator, pageSize) =>
    `    type: shopify\n    base_url: ${emulator.url}\n    access_token: ${SHOPIFY_TOKEN}\n    page_size: ${pageSize}\n    lag_seconds: 0\n`,
  mapping: 'shopify-se-billecta.yaml',
};

/** The same shop read through the legacy REST Admin API. */
export const shopifyRestSubject: ConformanceSubject = {
  ...shopifySubject,
  name: 'shopify (REST)',
  sourceYaml: (emulator, pageSize) => `${shopifySubject.sourceYaml(emulator, pageSize)}    api: rest\n`,
};
