/**
 * Shopify Admin API source: the GraphQL Admin API by default, the legacy REST Admin API as an
 * option (`api: rest`). Both read the orders updated in the pull window and hand on REST
 * 2024-04 order JSON, transactions attached under `transactions` and refunds embedded, so one
 * parser (shopify-order.ts) serves both.
 *
 * GraphQL: `orders(first:, after:, sortKey: UPDATED_AT, query: "updated_at:>='…' AND
 * updated_at:<='…'")`, cursor paging. The cursors are keyset cursors: an order updated while
 * the pull pages leaves the window (its updated-at passes `until`) and is read on the next pull.
 * Nested lists come in small pages (Shopify prices a query by `first` × children, at most 1000
 * points a query); an order whose lines, shipping lines or discount applications did not fit
 * is completed with follow-up queries, and refunds are read per refund. The throttle: see
 * `CostThrottle` (shopify-graphql.ts); a THROTTLED answer waits and asks for the same page
 * again, a MAX_COST_EXCEEDED answer shrinks the page to what fits and asks again.
 *
 * REST: `orders.json?status=any&updated_at_min&updated_at_max&limit=250`, then the `Link`
 * header's rel="next" URL exactly as given (page_info cursors allow only limit and fields, and
 * the URL is followed only to the shop's own origin). REST returns the window unsorted: it is
 * collected whole, sorted by (updated-at, id), and each order's transactions are fetched
 * (`orders/{id}/transactions.json`, a few ahead) as the orders are handed on.
 *
 * Test orders are handed on like any other: the mapping's `select.test_orders` skips them, so
 * a pull reports them rather than losing them silently. A record without an id or updated-at
 * is handed on as unreadable, naming the field.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpError, type HttpRequest, type HttpResponse } from '../http/client.js';
import { RecordError } from '../errors.js';
import type { CanonicalOrder } from './order.js';
import type { Json } from './reader.js';
import type { ShopApiSettings } from './shop-api.js';
import { parseShopifyOrder } from './shopify-order.js';
import {
  CostThrottle,
  gidTail,
  graphqlOrderToRest,
  ORDER_QUERY,
  orderConnectionQuery,
  orderGid,
  ordersQuery,
  refundConnectionQuery,
  refundQuery,
  toSecond,
  updatedAtFilter,
  type Connection,
  type GraphQLError,
  type GraphQLResponse,
} from './shopify-graphql.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';
import { compareWatermarks, pullWindow, withCheckpoints, type PullWindow, type StampedRecord } from './watermark.js';

export interface ShopifySettings extends ShopApiSettings {
  accessToken: string;
  apiVersion: string;
  api: 'graphql' | 'rest';
  money: 'shop' | 'presentment';
  /** For tests: instead of sleeping while the cost bucket refills. */
  sleep?: (ms: number) => Promise<void>;
}

export const GRAPHQL_PAGE_SIZE = 50;
export const REST_PAGE_SIZE = 250;
const MAX_PAGE_SIZE = 250;
/** THROTTLED answers in a row before a query gives up (the pull fails and is retried on schedule). */
const MAX_THROTTLED = 30;
/** Transaction requests under way ahead of the order being handed on (REST). */
const PREFETCH = 4;

/** A query Shopify refused because it would cost more than one query may. */
class QueryCostError extends HttpError {
  override name = 'QueryCostError';
  constructor(
    message: string,
    readonly cost: number,
    readonly maxCost: number,
  ) {
    super(message, 200, false);
  }
}

interface Pulled {
  record: SourceRecord;
  /** ISO UTC, or null when the record has none (it is unreadable then). */
  updatedAt: string | null;
}

function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}

function isoOf(v: unknown): string | null {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v)) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function idOf(v: unknown): string | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return String(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return v;
  return null;
}

/** The rel="next" URL of a Link header. */
export function nextLink(header: string | undefined): string | null {
  if (!header) return null;
  for (const m of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    if (/;\s*rel\s*=\s*"?next"?/i.test(m[2]!)) return m[1]!;
  }
  return null;
}

/**
 * Records without a usable updated-at sit in the stream where they came, stamped with the
 * updated-at before them (or the window's start): they never move the cursor past anything.
 */
async function* stamped(records: AsyncIterable<Pulled>, since: string): AsyncIterable<StampedRecord> {
  let last = since;
  for await (const { record, updatedAt } of records) {
    if (updatedAt !== null) last = updatedAt;
    yield { record, updatedAt: updatedAt ?? last };
  }
}

export class ShopifySource implements SourceAdapter {
  readonly type = 'shopify';
  readonly name: string;
  /** Requests sent, THROTTLED answers, time spent waiting for the cost bucket, page shrinks. */
  readonly stats = { requests: 0, throttled: 0, waitedMs: 0, pageShrinks: 0 };
  private readonly base: string;
  private readonly throttle = new CostThrottle();
  private readonly sleep: (ms: number) => Promise<void>;
  /** The GraphQL page size; shrinks for good when Shopify says a page would cost too much. */
  private pageSize: number;
  private readonly restLimit: number;

  constructor(readonly settings: ShopifySettings) {
    this.name = settings.name;
    this.base = `${settings.baseUrl.replace(/\/+$/, '')}/admin/api/${encodeURIComponent(settings.apiVersion)}/`;
    this.sleep = settings.sleep ?? sleep;
    const size = (fallback: number) => Math.max(1, Math.min(MAX_PAGE_SIZE, Math.floor(settings.pageSize ?? fallback)));
    this.pageSize = size(GRAPHQL_PAGE_SIZE);
    this.restLimit = size(REST_PAGE_SIZE);
  }

  describe(): Record<string, unknown> {
    return { type: this.type, url: this.settings.baseUrl, api: this.settings.api, apiVersion: this.settings.apiVersion };
  }

  async *pull(options: PullOptions): AsyncIterable<SourceRecord> {
    const window = pullWindow(options.cursor, this.settings.window);
    const records = this.settings.api === 'rest' ? this.restOrders(window) : this.graphqlOrders(window);
    for await (const record of withCheckpoints(stamped(records, window.since), options.cursor, window)) {
      if (record.readError === undefined) yield record;
      else {
        // An unreadable record never moves the cursor: it has no updated-at of its own.
        const { checkpoint: _ignored, ...unreadable } = record;
        yield unreadable;
      }
    }
  }

  async fetch(id: string): Promise<SourceRecord | null> {
    if (this.settings.api === 'rest') {
      const numeric = gidTail(id) ?? id;
      let res: HttpResponse;
      try {
        res = await this.send({ method: 'GET', url: `${this.base}orders/${encodeURIComponent(numeric)}.json` });
      } catch (error) {
        if (error instanceof HttpError && error.status === 404) return null;
        throw error;
      }
      const order = obj(res.json<Json>().order);
      if (!order) return null;
      const transactions = await this.transactionsOf(numeric);
      return transactions === null ? null : this.restRecord(order, transactions, `order ${numeric}`).record;
    }
    const data = await this.graphql<{ order?: Json | null }>(ORDER_QUERY, { id: orderGid(gidTail(id) ?? id) });
    const node = obj(data.order);
    return node ? (await this.graphqlRecord(node, `order ${id}`)).record : null;
  }

  parse(record: SourceRecord): CanonicalOrder {
    let raw: unknown;
    try {
      raw = JSON.parse(record.raw);
    } catch {
      throw new RecordError('the record is not JSON');
    }
    return parseShopifyOrder(this.name, raw, { money: this.settings.money });
  }

  async close(): Promise<void> {
    await this.settings.http.close();
  }

  // ----------------------------------------------------------------------------------------
  // HTTP
  // ----------------------------------------------------------------------------------------

  private scrub(text: string): string {
    const token = this.settings.accessToken;
    return token.length >= 4 ? text.split(token).join('[REDACTED]') : text;
  }

  /** Every request: the access token in its header, and never in an error's text. */
  private async send(req: HttpRequest): Promise<HttpResponse> {
    this.stats.requests++;
    try {
      return await this.settings.http.request({ ...req, headers: { ...req.headers, 'X-Shopify-Access-Token': this.settings.accessToken } });
    } catch (error) {
      if (error instanceof HttpError) throw new HttpError(this.scrub(error.message), error.status, error.retriable, this.scrub(error.body));
      if (error instanceof Error) throw new Error(this.scrub(error.message));
      throw error;
    }
  }

  private async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    this.stats.waitedMs += ms;
    await this.sleep(ms);
  }

  // ----------------------------------------------------------------------------------------
  // GraphQL
  // ----------------------------------------------------------------------------------------

  private async graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    const operation = /^query (\w+)/.exec(query)?.[1] ?? 'query';
    for (let attempt = 0; ; attempt++) {
      await this.pause(this.throttle.delayBefore(query));
      const res = await this.send({ method: 'POST', url: `${this.base}graphql.json`, json: { query, variables }, idempotent: true });
      const body = res.json<GraphQLResponse<T>>();
      const cost = body.extensions?.cost;
      const errors: GraphQLError[] = typeof body.errors === 'string' ? [{ message: body.errors }] : Array.isArray(body.errors) ? body.errors : [];
      if (errors.some((e) => e?.extensions?.code === 'THROTTLED')) {
        this.stats.throttled++;
        if (attempt + 1 >= MAX_THROTTLED) throw new HttpError(`${this.name}: GraphQL ${operation}: still THROTTLED after ${attempt + 1} attempts`, res.status, true);
        await this.pause(this.throttle.delayAfterThrottle(query, cost, attempt));
        continue;
      }
      this.throttle.observe(query, cost);
      const messages = errors.map((e) => this.scrub(String(e?.message ?? JSON.stringify(e)))).join('; ');
      const tooExpensive = errors.find((e) => e?.extensions?.code === 'MAX_COST_EXCEEDED');
      if (tooExpensive) {
        const c = Number(tooExpensive.extensions?.cost ?? cost?.requestedQueryCost);
        const max = Number(tooExpensive.extensions?.maxCost ?? 1000);
        throw new QueryCostError(`${this.name}: GraphQL ${operation}: ${messages}`, Number.isFinite(c) ? c : Infinity, Number.isFinite(max) ? max : 1000);
      }
      if (errors.length > 0) throw new HttpError(`${this.name}: GraphQL ${operation}: ${messages}`, res.status, false, this.scrub(res.text.slice(0, 2000)));
      if (!obj(body.data)) throw new HttpError(`${this.name}: GraphQL ${operation}: the answer has no data`, res.status, false);
      return body.data as T;
    }
  }

  /** One page of the order list; a page Shopify prices above one query's limit shrinks until it fits. */
  private async ordersPage(filter: string, after: string | null): Promise<Connection<Json>> {
    for (;;) {
      try {
        const data = await this.graphql<{ orders?: Connection<Json> | null }>(ordersQuery(this.pageSize), { after, query: filter });
        const orders = obj(data.orders);
        if (!orders || !Array.isArray(orders.nodes)) throw new HttpError(`${this.name}: GraphQL Orders: the answer has no orders.nodes`, 200, false);
        return orders as Connection<Json>;
      } catch (error) {
        if (!(error instanceof QueryCostError) || this.pageSize <= 1) throw error;
        const fits = Math.floor((this.pageSize * error.maxCost) / error.cost);
        this.pageSize = Math.max(1, Math.min(this.pageSize - 1, fits));
        this.stats.pageShrinks++;
      }
    }
  }

  private async *graphqlOrders(window: PullWindow): AsyncIterable<Pulled> {
    const filter = updatedAtFilter(window.since, window.until);
    let after: string | null = null;
    for (let page = 1; ; page++) {
      const orders = await this.ordersPage(filter, after);
      const nodes = orders.nodes ?? [];
      for (let i = 0; i < nodes.length; i++) yield await this.graphqlRecord(obj(nodes[i]) ?? {}, `orders page ${page} item ${i + 1}`);
      const next = orders.pageInfo?.endCursor ?? null;
      if (!orders.pageInfo?.hasNextPage) return;
      if (!next || next === after) throw new HttpError(`${this.name}: GraphQL Orders: page ${page} says there is a next page but gives no new cursor`, 200, false);
      after = next;
    }
  }

  /** The rest of one nested connection of an order or a refund, page by page. */
  private async remainder(parent: 'order' | 'refund', id: string, key: string, query: string, first: Connection<Json>): Promise<Json[]> {
    const nodes = [...(first.nodes ?? [])];
    let info = first.pageInfo;
    while (info?.hasNextPage) {
      const after: string | null = info.endCursor ?? null;
      const data = await this.graphql<Record<string, Json | null>>(query, { id, after });
      const part = obj(obj(data[parent])?.[key]) as Connection<Json> | null;
      if (!part || !Array.isArray(part.nodes)) throw new HttpError(`${this.name}: GraphQL: ${parent} ${id} no longer answers its ${key}`, 200, false);
      if (part.nodes.length === 0 || part.pageInfo?.endCursor === after) break;
      nodes.push(...part.nodes);
      info = part.pageInfo;
    }
    return nodes;
  }

  /** Complete an order node in place: every line, shipping line and discount application, every refund in full. */
  private async complete(node: Json): Promise<void> {
    const gid = typeof node.id === 'string' ? node.id : orderGid(String(node.legacyResourceId));
    for (const key of ['lineItems', 'shippingLines', 'discountApplications'] as const) {
      const connection = obj(node[key]) as Connection<Json> | null;
      if (connection?.pageInfo?.hasNextPage) node[key] = { nodes: await this.remainder('order', gid, key, orderConnectionQuery(key), connection) };
    }
    const refunds = Array.isArray(node.refunds) ? node.refunds.map(obj) : [];
    const full: Json[] = [];
    for (const r of refunds) {
      const rid = typeof r?.id === 'string' ? r.id : r?.legacyResourceId !== undefined ? `gid://shopify/Refund/${String(r.legacyResourceId)}` : null;
      if (!rid) continue;
      const data = await this.graphql<{ refund?: Json | null }>(refundQuery(this.settings.apiVersion), { id: rid });
      const refund = obj(data.refund);
      if (!refund) throw new HttpError(`${this.name}: GraphQL: refund ${rid} of order ${gid} cannot be read`, 200, false);
      for (const key of ['refundLineItems', 'transactions'] as const) {
        const connection = obj(refund[key]) as Connection<Json> | null;
        if (connection?.pageInfo?.hasNextPage) refund[key] = { nodes: await this.remainder('refund', rid, key, refundConnectionQuery(key), connection) };
      }
      full.push(refund);
    }
    node.refunds = full;
  }

  private async graphqlRecord(node: Json, label: string): Promise<Pulled> {
    const id = idOf(node.legacyResourceId) ?? idOf(gidTail(node.id));
    const updatedAt = isoOf(node.updatedAt);
    if (!id || !updatedAt) {
      const field = !id ? 'id (legacyResourceId)' : 'updated_at (updatedAt)';
      const origin = id ? `gid://shopify/Order/${id}` : label;
      return { record: { id: id ?? label, raw: JSON.stringify(node), origin, readError: `${origin}: the order has no ${field}` }, updatedAt: null };
    }
    await this.complete(node);
    return { record: { id, raw: JSON.stringify(graphqlOrderToRest(node)), origin: `gid://shopify/Order/${id}` }, updatedAt };
  }

  // ----------------------------------------------------------------------------------------
  // REST
  // ----------------------------------------------------------------------------------------

  /** An order's transactions, or null when the order is gone. */
  private async transactionsOf(id: string): Promise<Json[] | null> {
    try {
      const res = await this.send({ method: 'GET', url: `${this.base}orders/${encodeURIComponent(id)}/transactions.json` });
      const list = res.json<Json>().transactions;
      if (!Array.isArray(list)) throw new HttpError(`${this.name}: GET orders/${id}/transactions.json: the answer has no transactions list`, res.status, false);
      return list as Json[];
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return null;
      throw error;
    }
  }

  private restRecord(order: Json, transactions: Json[] | null, label: string): Pulled {
    const id = idOf(order.id);
    const updatedAt = isoOf(order.updated_at);
    if (!id || !updatedAt) {
      const origin = id ? `orders/${id}.json` : label;
      return { record: { id: id ?? label, raw: JSON.stringify(order), origin, readError: `${origin}: the order has no ${!id ? 'id' : 'updated_at'}` }, updatedAt: null };
    }
    return { record: { id, raw: JSON.stringify({ ...order, transactions: transactions ?? [] }), origin: `orders/${id}.json` }, updatedAt };
  }

  private followable(url: string): string {
    const next = new URL(url, this.base);
    if (next.origin !== new URL(this.base).origin) throw new HttpError(`${this.name}: the Link header points away from the shop (${next.origin}); not followed`, null, false);
    return next.toString();
  }

  private async *restOrders(window: PullWindow): AsyncIterable<Pulled> {
    const params = new URLSearchParams({ status: 'any', updated_at_min: toSecond(window.since), updated_at_max: toSecond(window.until), limit: String(this.restLimit) });
    let url: string | null = `${this.base}orders.json?${params.toString()}`;
    const byId = new Map<string, { order: Json; updatedAt: string }>();
    const unreadable: Pulled[] = [];
    for (let page = 1; url; page++) {
      const res = await this.send({ method: 'GET', url });
      const orders = res.json<Json>().orders;
      if (!Array.isArray(orders)) throw new HttpError(`${this.name}: GET orders.json page ${page}: the answer has no orders list`, res.status, false);
      orders.forEach((o, i) => {
        const order = obj(o) ?? {};
        const pulled = this.restRecord(order, null, `orders.json page ${page} item ${i + 1}`);
        if (pulled.updatedAt === null) return void unreadable.push(pulled);
        const seen = byId.get(pulled.record.id);
        if (!seen || seen.updatedAt <= pulled.updatedAt) byId.set(pulled.record.id, { order, updatedAt: pulled.updatedAt });
      });
      const next = nextLink(res.headers.link);
      url = next ? this.followable(next) : null;
    }
    yield* unreadable;

    const sorted = [...byId.entries()].map(([id, v]) => ({ id, ...v })).sort((a, b) => compareWatermarks({ updatedAt: a.updatedAt, id: a.id }, { updatedAt: b.updatedAt, id: b.id }));
    const ahead: Promise<Json[] | null>[] = [];
    let started = 0;
    for (const entry of sorted) {
      while (ahead.length < PREFETCH && started < sorted.length) {
        const pending = this.transactionsOf(sorted[started++]!.id);
        pending.catch(() => undefined); // awaited below; no unhandled rejection if the pull stops early
        ahead.push(pending);
      }
      const transactions = await ahead.shift()!;
      if (transactions === null) continue; // deleted since it was listed
      yield this.restRecord(entry.order, transactions, `orders/${entry.id}.json`);
    }
  }
}
