/**
 * Shopify's GraphQL Admin API for the Shopify source: the queries kontor sends, the
 * normalisation of a GraphQL order into the REST 2024-04 order JSON that `parseShopifyOrder`
 * reads (one parser for both APIs), and the cost-based throttle.
 *
 * Field map, GraphQL (2024-04) → REST 2024-04 order JSON. A MoneyBag
 * `xSet {shopMoney {amount currencyCode} presentmentMoney {…}}` becomes the REST twin
 * `x_set {shop_money {amount currency_code} presentment_money {…}}` and the bare `x` (shop money).
 * Ids of nested objects are the numeric tail of their gid (`gid://shopify/LineItem/17` → "17").
 *
 *   Order.legacyResourceId              → id (a string: ids are int64)
 *   Order.id                            → admin_graphql_api_id
 *   name                                → name; order_number ← the one digit run in name
 *                                         ("#SE1042" → 1042; GraphQL 2024-04 has no orderNumber)
 *   email, phone, note, test            → email, phone, note, test
 *   tags [String]                       → tags ("a, b")
 *   sourceName                          → source_name
 *   createdAt, updatedAt, processedAt,
 *   closedAt, cancelledAt               → created_at, updated_at, processed_at, closed_at, cancelled_at
 *   cancelReason (enum)                 → cancel_reason (lower case)
 *   currencyCode, presentmentCurrencyCode → currency, presentment_currency
 *   taxesIncluded                       → taxes_included
 *   displayFinancialStatus (enum)       → financial_status (lower case: PARTIALLY_REFUNDED → partially_refunded)
 *   paymentGatewayNames                 → payment_gateway_names
 *   discountCodes [String]              → discount_codes [{code}] (GraphQL has no per-code amount)
 *   subtotalPriceSet, totalPriceSet, totalTaxSet, totalDiscountsSet, totalShippingPriceSet
 *                                       → subtotal_price, total_price, total_tax, total_discounts (+ _set), total_shipping_price_set
 *   taxLines {title rate priceSet}      → tax_lines {title rate price price_set}
 *   customAttributes {key value}        → note_attributes {name value}
 *   customer {legacyResourceId email firstName lastName phone} → customer {id email first_name last_name phone}
 *   billingAddress / shippingAddress {firstName lastName company address1 address2 city zip
 *     province provinceCode country countryCodeV2 phone} → billing_address / shipping_address
 *     {first_name last_name company address1 address2 city zip province province_code country country_code phone}
 *   discountApplications nodes {__typename index allocationMethod targetType targetSelection value code|title}
 *                                       → discount_applications[index] {type (discount_code|automatic|manual|script),
 *                                         value, value_type, allocation_method, target_type, target_selection, code|title}
 *   lineItems nodes {id name title sku quantity variantTitle taxable product.productType
 *     originalUnitPriceSet taxLines discountAllocations {allocatedAmountSet discountApplication.index}}
 *                                       → line_items {id name title sku quantity variant_title taxable product_type
 *                                         price(+_set) tax_lines discount_allocations {amount(+_set) discount_application_index}}
 *   shippingLines nodes {id title code originalPriceSet discountedPriceSet taxLines discountAllocations}
 *                                       → shipping_lines {id title code price(+_set) discounted_price(+_set) tax_lines discount_allocations}
 *   transactions {id kind status gateway test authorizationCode createdAt processedAt amountSet parentTransaction.id}
 *                                       → transactions (attached under the order, as kontor's REST adapter does)
 *                                         {id kind status (lower case) gateway test authorization created_at processed_at
 *                                          amount currency (presentment, as REST) amount_set parent_id}
 *   refunds {legacyResourceId id createdAt note refundLineItems {quantity restockType lineItem.id
 *     subtotalSet totalTaxSet} transactions}
 *                                       → refunds {id admin_graphql_api_id created_at processed_at (= createdAt) note
 *                                         refund_line_items {line_item_id quantity restock_type subtotal(+_set) total_tax(+_set)}
 *                                         transactions order_adjustments}
 *   from API version 2024-10 on, also Refund.refundShippingLines {subtotalAmountSet taxAmountSet}
 *                                       → order_adjustments {kind: shipping_refund, amount (negated), tax_amount (negated)}
 *   and Refund.orderAdjustments {amountSet taxAmountSet reason}
 *                                       → order_adjustments {kind: refund_discrepancy, amount, tax_amount, reason}
 *   (2024-04/07 have neither amount: a shipping refund there shows in the refund's transactions only.)
 *
 * Refund line items carry no copy of the order line (`line_item`): the parser takes SKU, name
 * and VAT rate from the order line they point at, which saves the cost of a full line per refund.
 */
import type { Json } from './reader.js';

/** Nested page sizes of the list query: small, because Shopify prices a query by `first` × children. */
export const NESTED = { lineItems: 10, shippingLines: 5, discountApplications: 5 } as const;
/** Page size of the follow-up queries that complete an order whose nested lists did not fit. */
export const FOLLOW_UP_PAGE = 50;

const MONEY = 'shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }';
const TAX_LINE = `title rate priceSet { ${MONEY} }`;
const ALLOCATION = `allocatedAmountSet { ${MONEY} } discountApplication { index }`;
const ADDRESS = 'firstName lastName company address1 address2 city zip province provinceCode country countryCodeV2 phone';
const PAGE_INFO = 'pageInfo { hasNextPage endCursor }';

export const LINE_ITEM = `id name title sku quantity variantTitle taxable product { productType } originalUnitPriceSet { ${MONEY} } taxLines { ${TAX_LINE} } discountAllocations { ${ALLOCATION} }`;
export const SHIPPING_LINE = `id title code originalPriceSet { ${MONEY} } discountedPriceSet { ${MONEY} } taxLines { ${TAX_LINE} } discountAllocations { ${ALLOCATION} }`;
export const DISCOUNT_APPLICATION =
  '__typename index allocationMethod targetType targetSelection value { __typename ... on MoneyV2 { amount currencyCode } ... on PricingPercentageValue { percentage } } ' +
  '... on DiscountCodeApplication { code } ... on AutomaticDiscountApplication { title } ... on ManualDiscountApplication { title } ... on ScriptDiscountApplication { title }';
export const TRANSACTION = `id kind status gateway test authorizationCode createdAt processedAt amountSet { ${MONEY} } parentTransaction { id }`;
const REFUND_LINE_ITEM = `quantity restockType lineItem { id } subtotalSet { ${MONEY} } totalTaxSet { ${MONEY} }`;

/** Whether `version` (YYYY-MM) is at least `since`. */
export function versionAtLeast(version: string, since: string): boolean {
  return version >= since;
}

function refundFields(apiVersion: string): string {
  const adjustments = versionAtLeast(apiVersion, '2024-10')
    ? ` refundShippingLines(first: 10) { nodes { subtotalAmountSet { ${MONEY} } taxAmountSet { ${MONEY} } } } orderAdjustments(first: 10) { nodes { amountSet { ${MONEY} } taxAmountSet { ${MONEY} } reason } }`
    : '';
  return (
    `id legacyResourceId createdAt note ` +
    `refundLineItems(first: ${FOLLOW_UP_PAGE}) { ${PAGE_INFO} nodes { ${REFUND_LINE_ITEM} } } ` +
    `transactions(first: ${FOLLOW_UP_PAGE}) { ${PAGE_INFO} nodes { ${TRANSACTION} } }${adjustments}`
  );
}

/** Everything of an order but its refunds' details (fetched per refund, only for orders that have refunds). */
const ORDER_FIELDS =
  'id legacyResourceId name email phone note tags sourceName test createdAt updatedAt processedAt closedAt cancelledAt cancelReason ' +
  'currencyCode presentmentCurrencyCode taxesIncluded displayFinancialStatus paymentGatewayNames discountCodes ' +
  `subtotalPriceSet { ${MONEY} } totalPriceSet { ${MONEY} } totalTaxSet { ${MONEY} } totalDiscountsSet { ${MONEY} } totalShippingPriceSet { ${MONEY} } ` +
  `taxLines { ${TAX_LINE} } customAttributes { key value } customer { legacyResourceId email firstName lastName phone } ` +
  `billingAddress { ${ADDRESS} } shippingAddress { ${ADDRESS} } ` +
  `discountApplications(first: ${NESTED.discountApplications}) { ${PAGE_INFO} nodes { ${DISCOUNT_APPLICATION} } } ` +
  `lineItems(first: ${NESTED.lineItems}) { ${PAGE_INFO} nodes { ${LINE_ITEM} } } ` +
  `shippingLines(first: ${NESTED.shippingLines}) { ${PAGE_INFO} nodes { ${SHIPPING_LINE} } } ` +
  `transactions { ${TRANSACTION} } refunds { id legacyResourceId }`;

/** One page of orders updated in a window, oldest change first. */
export function ordersQuery(first: number): string {
  return `query Orders($after: String, $query: String) { orders(first: ${first}, after: $after, sortKey: UPDATED_AT, query: $query) { ${PAGE_INFO} nodes { ${ORDER_FIELDS} } } }`;
}

export const ORDER_QUERY = `query Order($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;

/** The next page of one of an order's nested connections. */
export function orderConnectionQuery(connection: 'lineItems' | 'shippingLines' | 'discountApplications'): string {
  const node = connection === 'lineItems' ? LINE_ITEM : connection === 'shippingLines' ? SHIPPING_LINE : DISCOUNT_APPLICATION;
  return `query OrderPart($id: ID!, $after: String) { order(id: $id) { ${connection}(first: ${FOLLOW_UP_PAGE}, after: $after) { ${PAGE_INFO} nodes { ${node} } } } }`;
}

export function refundQuery(apiVersion: string): string {
  return `query Refund($id: ID!) { refund(id: $id) { ${refundFields(apiVersion)} } }`;
}

export function refundConnectionQuery(connection: 'refundLineItems' | 'transactions'): string {
  const node = connection === 'refundLineItems' ? REFUND_LINE_ITEM : TRANSACTION;
  return `query RefundPart($id: ID!, $after: String) { refund(id: $id) { ${connection}(first: ${FOLLOW_UP_PAGE}, after: $after) { ${PAGE_INFO} nodes { ${node} } } } }`;
}

/** The search syntax of `orders(query:)` for updated-at within [since, until], to the second. */
export function updatedAtFilter(since: string, until: string): string {
  return `updated_at:>='${toSecond(since)}' AND updated_at:<='${toSecond(until)}'`;
}

/** An ISO instant cut to whole seconds (Shopify's precision): 2024-05-14T19:37:12Z. */
export function toSecond(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19)}Z`;
}

export const orderGid = (id: string): string => (id.startsWith('gid://') ? id : `gid://shopify/Order/${id}`);

/** The numeric tail of a gid (`gid://shopify/LineItem/17?x=1` → "17"); other ids as they are. */
export function gidTail(id: unknown): string | null {
  if (typeof id === 'number') return String(id);
  if (typeof id !== 'string' || id === '') return null;
  const m = /^gid:\/\/shopify\/[A-Za-z]+\/([^/?#]+)/.exec(id);
  return m ? m[1]! : id;
}

// ------------------------------------------------------------------------------------------
// Responses
// ------------------------------------------------------------------------------------------

export interface ThrottleStatus {
  maximumAvailable: number;
  currentlyAvailable: number;
  restoreRate: number;
}

export interface QueryCost {
  requestedQueryCost?: number;
  actualQueryCost?: number | null;
  throttleStatus?: ThrottleStatus;
}

export interface GraphQLError {
  message?: string;
  path?: unknown[];
  extensions?: { code?: string; cost?: number; maxCost?: number; [key: string]: unknown };
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLError[] | string;
  extensions?: { cost?: QueryCost };
}

export interface Connection<T> {
  pageInfo?: { hasNextPage?: boolean; endCursor?: string | null };
  nodes?: T[];
}

// ------------------------------------------------------------------------------------------
// The cost throttle
// ------------------------------------------------------------------------------------------

/**
 * Shopify's leaky bucket as the client sees it. After every response the bucket's state is
 * read from `extensions.cost.throttleStatus`; before the next request, the client waits until
 * the bucket (what was left, plus `restoreRate` for every second since) covers that query's
 * requested cost, which it knows from the last time it sent the same query.
 */
export class CostThrottle {
  private status: ThrottleStatus | null = null;
  private at = 0;
  private readonly requested = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Remember what a response said about the bucket and about this query's cost. */
  observe(query: string, cost: QueryCost | undefined): void {
    if (!cost) return;
    if (typeof cost.requestedQueryCost === 'number') this.requested.set(query, cost.requestedQueryCost);
    const s = cost.throttleStatus;
    if (s && [s.maximumAvailable, s.currentlyAvailable, s.restoreRate].every((n) => typeof n === 'number' && Number.isFinite(n))) {
      this.status = { ...s };
      this.at = this.now();
    }
  }

  /** What the bucket holds now, by the last status and the time since. */
  available(): number | null {
    if (!this.status) return null;
    const restored = ((this.now() - this.at) / 1000) * this.status.restoreRate;
    return Math.min(this.status.maximumAvailable, this.status.currentlyAvailable + restored);
  }

  /** How long to wait before sending `query`: 0 while its cost is unknown or covered. */
  delayBefore(query: string): number {
    const cost = this.requested.get(query);
    const available = this.available();
    if (cost === undefined || available === null || !this.status || this.status.restoreRate <= 0) return 0;
    // Keep a twentieth of the bucket in hand: the shop's clock and ours differ by the time an
    // answer travels, and a query refused as THROTTLED costs more than a short wait.
    const needed = Math.min(cost + this.status.maximumAvailable / 20, this.status.maximumAvailable);
    return needed <= available ? 0 : Math.ceil(((needed - available) / this.status.restoreRate) * 1000);
  }

  /**
   * How long to wait after a THROTTLED answer: until the bucket covers the query's requested
   * cost (from that answer, or cost ÷ restoreRate when it says nothing about the bucket), and
   * never less than a short pause that grows with each throttled attempt.
   */
  delayAfterThrottle(query: string, cost: QueryCost | undefined, attempt: number): number {
    this.observe(query, cost);
    const floor = Math.min(2000, 50 * (attempt + 1));
    const requested = cost?.requestedQueryCost ?? this.requested.get(query);
    const s = this.status;
    if (requested === undefined || !s || s.restoreRate <= 0) return Math.max(floor, 1000);
    const available = cost?.throttleStatus ? cost.throttleStatus.currentlyAvailable : (this.available() ?? 0);
    const missing = cost?.throttleStatus ? Math.min(requested, s.maximumAvailable) - available : requested;
    return Math.max(floor, Math.ceil((Math.max(0, missing) / s.restoreRate) * 1000));
  }
}

// ------------------------------------------------------------------------------------------
// Normalisation: GraphQL order → REST 2024-04 order JSON
// ------------------------------------------------------------------------------------------

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function list(v: unknown): Json[] {
  if (Array.isArray(v)) return v.map((x) => obj(x) ?? {});
  const connection = obj(v);
  if (connection && Array.isArray(connection.nodes)) return connection.nodes.map((x) => obj(x) ?? {});
  if (connection && Array.isArray(connection.edges)) return connection.edges.map((e) => obj(obj(e)?.node) ?? {});
  return [];
}

const lower = (v: unknown): unknown => (typeof v === 'string' ? v.toLowerCase() : v);

function money(v: unknown): Json | null {
  const m = obj(v);
  return m ? { amount: m.amount ?? null, currency_code: m.currencyCode ?? null } : null;
}

/** `xSet` → `{x: shop amount, x_set: {shop_money, presentment_money}}` (nothing when absent). */
function moneySet(key: string, v: unknown): Json {
  const bag = obj(v);
  if (!bag) return v === null ? { [key]: null, [`${key}_set`]: null } : {};
  const shop = money(bag.shopMoney);
  return { [key]: shop?.amount ?? null, [`${key}_set`]: { shop_money: shop, presentment_money: money(bag.presentmentMoney) } };
}

function negate(amount: unknown): unknown {
  if (typeof amount !== 'string' || amount === '') return amount;
  return amount.startsWith('-') ? amount.slice(1) : `-${amount}`;
}

function negatedSet(key: string, v: unknown): Json {
  const bag = obj(v);
  if (!bag) return {};
  const flip = (m: unknown): Json | null => {
    const x = money(m);
    return x ? { ...x, amount: negate(x.amount) } : null;
  };
  const shop = flip(bag.shopMoney);
  return { [key]: shop?.amount ?? null, [`${key}_set`]: { shop_money: shop, presentment_money: flip(bag.presentmentMoney) } };
}

function taxLines(v: unknown): Json[] {
  return list(v).map((t) => ({ title: t.title ?? null, rate: t.rate ?? null, ...moneySet('price', t.priceSet) }));
}

function allocations(v: unknown): Json[] {
  return list(v).map((a) => ({ ...moneySet('amount', a.allocatedAmountSet), discount_application_index: obj(a.discountApplication)?.index ?? null }));
}

function address(v: unknown): Json | null {
  const a = obj(v);
  if (!a) return null;
  return {
    first_name: a.firstName ?? null,
    last_name: a.lastName ?? null,
    company: a.company ?? null,
    address1: a.address1 ?? null,
    address2: a.address2 ?? null,
    city: a.city ?? null,
    zip: a.zip ?? null,
    province: a.province ?? null,
    province_code: a.provinceCode ?? null,
    country: a.country ?? null,
    country_code: a.countryCodeV2 ?? null,
    phone: a.phone ?? null,
  };
}

function lineItem(l: Json): Json {
  return {
    id: gidTail(l.id),
    admin_graphql_api_id: l.id ?? null,
    name: l.name ?? null,
    title: l.title ?? null,
    sku: l.sku ?? null,
    quantity: l.quantity ?? null,
    variant_title: l.variantTitle ?? null,
    taxable: l.taxable ?? null,
    product_type: obj(l.product)?.productType ?? null,
    ...moneySet('price', l.originalUnitPriceSet),
    tax_lines: taxLines(l.taxLines),
    discount_allocations: allocations(l.discountAllocations),
  };
}

function shippingLine(s: Json): Json {
  return {
    id: gidTail(s.id),
    title: s.title ?? null,
    code: s.code ?? null,
    ...moneySet('price', s.originalPriceSet),
    ...moneySet('discounted_price', s.discountedPriceSet),
    tax_lines: taxLines(s.taxLines),
    discount_allocations: allocations(s.discountAllocations),
  };
}

const APPLICATION_TYPES: Record<string, string> = {
  DiscountCodeApplication: 'discount_code',
  AutomaticDiscountApplication: 'automatic',
  ManualDiscountApplication: 'manual',
  ScriptDiscountApplication: 'script',
};

function discountApplications(v: unknown): Json[] {
  const out: Json[] = [];
  for (const a of list(v)) {
    const value = obj(a.value);
    const percentage = value && value.percentage !== undefined;
    const application: Json = {
      type: APPLICATION_TYPES[String(a.__typename)] ?? lower(a.__typename) ?? null,
      value: percentage ? value.percentage : (value?.amount ?? null),
      value_type: percentage ? 'percentage' : 'fixed_amount',
      allocation_method: lower(a.allocationMethod) ?? null,
      target_type: lower(a.targetType) ?? null,
      target_selection: lower(a.targetSelection) ?? null,
      ...(a.code !== undefined ? { code: a.code } : {}),
      ...(a.title !== undefined ? { title: a.title } : {}),
    };
    // REST lists the applications in index order; allocations point at that position.
    const index = a.index;
    if (typeof index === 'number' && Number.isSafeInteger(index) && index >= 0 && index < 1000 && out[index] === undefined) out[index] = application;
    else out.push(application);
  }
  for (let i = 0; i < out.length; i++) out[i] ??= {};
  return out;
}

export function transaction(t: Json): Json {
  const bag = obj(t.amountSet);
  const presentment = money(bag?.presentmentMoney) ?? money(bag?.shopMoney);
  return {
    id: gidTail(t.id),
    admin_graphql_api_id: t.id ?? null,
    kind: lower(t.kind) ?? null,
    status: lower(t.status) ?? null,
    gateway: t.gateway ?? null,
    test: t.test ?? null,
    authorization: t.authorizationCode ?? null,
    created_at: t.createdAt ?? null,
    processed_at: t.processedAt ?? null,
    amount: presentment?.amount ?? null,
    currency: presentment?.currency_code ?? null,
    amount_set: bag ? { shop_money: money(bag.shopMoney), presentment_money: money(bag.presentmentMoney) } : null,
    parent_id: gidTail(obj(t.parentTransaction)?.id) ?? null,
  };
}

export function refund(r: Json): Json {
  const adjustments = [
    ...list(r.refundShippingLines).map((s) => ({
      kind: 'shipping_refund',
      ...negatedSet('amount', s.subtotalAmountSet),
      ...negatedSet('tax_amount', s.taxAmountSet),
    })),
    ...list(r.orderAdjustments).map((a) => ({
      kind: 'refund_discrepancy',
      reason: lower(a.reason) ?? null,
      ...moneySet('amount', a.amountSet),
      ...moneySet('tax_amount', a.taxAmountSet),
    })),
  ];
  return {
    id: r.legacyResourceId ?? gidTail(r.id),
    admin_graphql_api_id: r.id ?? null,
    created_at: r.createdAt ?? null,
    processed_at: r.createdAt ?? null,
    note: r.note ?? null,
    refund_line_items: list(r.refundLineItems).map((i) => ({
      line_item_id: gidTail(obj(i.lineItem)?.id),
      quantity: i.quantity ?? null,
      restock_type: lower(i.restockType) ?? null,
      ...moneySet('subtotal', i.subtotalSet),
      ...moneySet('total_tax', i.totalTaxSet),
    })),
    transactions: list(r.transactions).map(transaction),
    order_adjustments: adjustments,
  };
}

/** The order number inside the name, when the name holds exactly one run of digits ("#SE1042" → 1042). */
function orderNumberOf(name: unknown): number | undefined {
  if (typeof name !== 'string') return undefined;
  const runs = name.match(/\d+/g);
  if (!runs || runs.length !== 1) return undefined;
  const n = Number(runs[0]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A GraphQL order node (its connections complete, its refunds fetched in full) as REST 2024-04
 * order JSON, transactions attached under `transactions` and refunds embedded.
 */
export function graphqlOrderToRest(node: Json): Json {
  const customer = obj(node.customer);
  const orderNumber = orderNumberOf(node.name);
  return {
    id: node.legacyResourceId ?? gidTail(node.id),
    admin_graphql_api_id: node.id ?? null,
    name: node.name ?? null,
    ...(orderNumber !== undefined ? { order_number: orderNumber } : {}),
    email: node.email ?? null,
    phone: node.phone ?? null,
    note: node.note ?? null,
    tags: Array.isArray(node.tags) ? node.tags.join(', ') : (node.tags ?? ''),
    source_name: node.sourceName ?? null,
    test: node.test ?? false,
    created_at: node.createdAt ?? null,
    updated_at: node.updatedAt ?? null,
    processed_at: node.processedAt ?? null,
    closed_at: node.closedAt ?? null,
    cancelled_at: node.cancelledAt ?? null,
    cancel_reason: lower(node.cancelReason) ?? null,
    currency: node.currencyCode ?? null,
    presentment_currency: node.presentmentCurrencyCode ?? null,
    taxes_included: node.taxesIncluded ?? null,
    financial_status: lower(node.displayFinancialStatus) ?? null,
    payment_gateway_names: Array.isArray(node.paymentGatewayNames) ? node.paymentGatewayNames : [],
    discount_codes: (Array.isArray(node.discountCodes) ? node.discountCodes : []).map((code) => ({ code })),
    ...moneySet('subtotal_price', node.subtotalPriceSet),
    ...moneySet('total_price', node.totalPriceSet),
    ...moneySet('total_tax', node.totalTaxSet),
    ...moneySet('total_discounts', node.totalDiscountsSet),
    ...(obj(node.totalShippingPriceSet) ? { total_shipping_price_set: moneySet('x', node.totalShippingPriceSet).x_set } : {}),
    tax_lines: taxLines(node.taxLines),
    note_attributes: list(node.customAttributes).map((a) => ({ name: a.key ?? null, value: a.value ?? null })),
    customer: customer
      ? { id: customer.legacyResourceId ?? gidTail(customer.id), email: customer.email ?? null, first_name: customer.firstName ?? null, last_name: customer.lastName ?? null, phone: customer.phone ?? null }
      : null,
    billing_address: address(node.billingAddress),
    shipping_address: address(node.shippingAddress),
    discount_applications: discountApplications(node.discountApplications),
    line_items: list(node.lineItems).map(lineItem),
    shipping_lines: list(node.shippingLines).map(shippingLine),
    refunds: list(node.refunds).map(refund),
    transactions: list(node.transactions).map(transaction),
  };
}
