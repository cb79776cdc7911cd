/**
 * WooCommerce REST API v3 source: orders changed since the watermark, each with its refunds.
 *
 * Requests: `GET {base}/wp-json/wc/v3/orders?modified_after=…&modified_before=…&dates_are_gmt=true
 * &orderby=modified&order=asc&status=any&per_page=N&page=P`, authenticated with the consumer
 * key and secret as HTTP Basic (over HTTPS; plain HTTP only to loopback, which the client
 * enforces). Refunds come from `/orders/{id}/refunds`, or with `refunds_endpoint` from
 * `/wc/v3/refunds?parent=…` (WooCommerce 9+) for a whole page at once; the full refund objects
 * (with their negative `line_items`) replace the order's `refunds` summary in the record.
 *
 * Paging. An order modified while a pull pages moves to the end of the modified order, and
 * every order after its old place moves one place forward: offset paging (`page=2, 3, …` over
 * one query) then skips an order at each page boundary. This adapter pages by key instead:
 * after each page it asks again from the last order's modification second
 * (`modified_after` is exclusive and second-precise, so `modified_after = last − 1 s`), and skips
 * the orders it already yielded in that second. A query never has an offset, so nothing shifts
 * under it: everything modified before the last order of a page was on that page or an earlier one.
 *
 * One second can hold more orders than a page (a bulk status change). Such a second is read on
 * its own (`modified_after = s − 1`, `modified_before = s + 1`) with `page=1, 2, …`, and
 * `X-WP-Total` is compared from page to page: an order that leaves the second (it was modified)
 * lowers the total and may have shifted an unread order onto a page already read, so the second
 * is read again from page 1. If it keeps changing, the pull ends there; the cursor has not passed
 * that second, and the next pull reads it again.
 *
 * The window ends at `modified_before = until + 1 s`: orders modified during the pull carry a
 * later modification date and are read by the next pull, which starts at the saved watermark
 * minus the overlap.
 */
import { HttpError, type HttpClient, type HttpResponse } from '../http/client.js';
import { RecordError } from '../errors.js';
import type { CanonicalOrder } from './order.js';
import type { ShopApiSettings } from './shop-api.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';
import { pullWindow, withCheckpoints, type PullWindow, type StampedRecord } from './watermark.js';
import { parseWooCommerceOrder } from './woocommerce-order.js';

export interface WooCommerceSettings extends ShopApiSettings {
  consumerKey: string;
  consumerSecret: string;
  refundsEndpoint: boolean;
}

/** WooCommerce answers 400 to a larger per_page. */
export const WOOCOMMERCE_MAX_PAGE_SIZE = 100;
/** Refund lists fetched at once for one page of orders (the client's rate limit still applies). */
const REFUND_CONCURRENCY = 4;
/** Orders per `/wc/v3/refunds?parent=…` request, to keep the URL short. */
const PARENTS_PER_REQUEST = 50;
/** How often a second with more orders than a page is read again because it changed meanwhile. */
const CROWDED_SECOND_RETRIES = 3;
const REDACTED = '[REDACTED]';

type Json = Record<string, unknown>;

/** One entry of a list page, with what paging needs to know about it. */
interface Listed {
  item: unknown;
  /** The order id, or null when the entry has none. */
  id: string | null;
  /** date_modified_gmt as ISO UTC (milliseconds, `Z`), or null when missing or unreadable. */
  modified: string | null;
}

interface ListPage {
  entries: Listed[];
  /** X-WP-Total and X-WP-TotalPages, when the shop sends them. */
  total: number | null;
  totalPages: number | null;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A WooCommerce `*_gmt` timestamp (UTC without zone) as ISO UTC; null when it is not one. */
export function gmtToIso(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([zZ]|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (!m) return null;
  const date = new Date(m[3] ? value : `${value}Z`);
  if (Number.isNaN(date.getTime())) return null;
  // Date() rolls 2026-02-30 over into March; a shop's timestamp must be a real one.
  if (!m[3] && date.toISOString().slice(0, 19) !== m[1]) return null;
  return date.toISOString();
}

/** Milliseconds of the start of the second `iso` falls in. */
function secondOf(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000) * 1000;
}

/** A naive UTC timestamp as WooCommerce's date filters want it with dates_are_gmt=true. */
function wcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/**
 * Whether a query has more pages after page `p`: when the page is full, or when X-WP-TotalPages
 * says so (a host may serve fewer per page than asked). An empty page ends it either way.
 */
function hasMore(page: ListPage, p: number, pageSize: number): boolean {
  return page.entries.length > 0 && (page.entries.length >= pageSize || (page.totalPages ?? 0) > p);
}

function headerInt(response: HttpResponse, name: string): number | null {
  const value = response.headers[name];
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : null;
}

function idOf(item: Json): string | null {
  const id = item.id;
  if (typeof id === 'number' && Number.isInteger(id) && id > 0) return String(id);
  if (typeof id === 'string' && /^\d+$/.test(id)) return id;
  return null;
}

function listed(item: unknown): Listed {
  if (!isObject(item)) return { item, id: null, modified: null };
  return { item, id: idOf(item), modified: gmtToIso(item.date_modified_gmt) };
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order of the results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The ids an order's embedded refund summary lists, newest first as WooCommerce lists them:
 * refunds fetched either way are put in this order, so a record reads the same whichever
 * endpoint supplied them.
 */
function summaryIds(order: Json): string[] {
  return Array.isArray(order.refunds) ? order.refunds.map((r) => (isObject(r) && (typeof r.id === 'number' || typeof r.id === 'string') ? String(r.id) : '')) : [];
}

function sortLikeSummary(refunds: Json[], order: Json): Json[] {
  const rank = new Map(summaryIds(order).map((id, i) => [id, i]));
  const key = (r: Json) => rank.get(String(r.id)) ?? Number.MAX_SAFE_INTEGER;
  return [...refunds].sort((a, b) => key(a) - key(b) || Number(b.id) - Number(a.id));
}

/**
 * A refund as the record embeds it: without `parent_id` (the order's own id, which only
 * /wc/v3/refunds adds) and `_links`, so the record is the same whichever endpoint it came from.
 */
function embedded(refund: Json): Json {
  const { parent_id: _parent, _links: _links, ...rest } = refund;
  return rest;
}

function hasRefunds(order: Json): boolean {
  return Array.isArray(order.refunds) && order.refunds.length > 0;
}

export class WooCommerceSource implements SourceAdapter {
  readonly type = 'woocommerce';
  readonly name: string;
  private readonly base: string;
  private readonly http: HttpClient;
  private readonly pageSize: number;
  private readonly authorization: string;
  private readonly secrets: string[];
  /** Set once the shop answered that it has no /wc/v3/refunds (older than 9.0). */
  private refundsEndpointMissing = false;

  constructor(readonly settings: WooCommerceSettings) {
    this.name = settings.name;
    this.base = settings.baseUrl.replace(/\/+$/, '');
    this.http = settings.http;
    this.pageSize = Math.min(WOOCOMMERCE_MAX_PAGE_SIZE, Math.max(1, Math.floor(settings.pageSize ?? WOOCOMMERCE_MAX_PAGE_SIZE)));
    const token = Buffer.from(`${settings.consumerKey}:${settings.consumerSecret}`).toString('base64');
    this.authorization = `Basic ${token}`;
    // Redacted from every error this adapter passes on, even if the client was not told about them.
    this.secrets = [token, settings.consumerSecret, settings.consumerKey, encodeURIComponent(settings.consumerSecret), encodeURIComponent(settings.consumerKey)]
      .filter((s) => s.length >= 4)
      .sort((a, b) => b.length - a.length);
  }

  describe(): Record<string, unknown> {
    return { type: this.type, url: this.base };
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  async *pull({ cursor, onTotal }: PullOptions): AsyncIterable<SourceRecord> {
    const window = pullWindow(cursor, this.settings.window);
    for await (const record of withCheckpoints(this.stamped(window, onTotal), cursor, window)) {
      // An unreadable entry has no date of its own: it never moves the watermark.
      if (record.readError && record.checkpoint !== undefined) {
        const { checkpoint: _none, ...rest } = record;
        yield rest;
      } else {
        yield record;
      }
    }
  }

  async fetch(id: string): Promise<SourceRecord | null> {
    let body: unknown;
    try {
      ({ body } = await this.get(`/orders/${encodeURIComponent(id)}`));
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return null;
      throw error;
    }
    const [record] = await this.records([listed(body)]);
    return record!.record;
  }

  parse(record: SourceRecord): CanonicalOrder {
    if (record.readError) throw new RecordError(record.readError);
    let value: unknown;
    try {
      value = JSON.parse(record.raw);
    } catch {
      throw new RecordError('the stored record is not JSON');
    }
    return parseWooCommerceOrder(this.name, value);
  }

  // ── paging ──────────────────────────────────────────────────────────────────────────────

  /** The window's orders in modification order, each once per version, with refunds. */
  private async *stamped(window: PullWindow, onTotal?: (records: number) => void): AsyncIterable<StampedRecord> {
    for await (const entries of this.orderPages(window, onTotal)) yield* await this.records(entries);
  }

  /**
   * The pages of the window, as the entries not yet yielded in this pull (a re-read order
   * is yielded again only with a later modification date). The first page's X-WP-Total, the
   * orders in the whole window, goes to `onTotal`.
   */
  private async *orderPages(window: PullWindow, onTotal?: (records: number) => void): AsyncGenerator<Listed[]> {
    const before = wcDate(secondOf(window.until) + 1000);
    // Exclusive, so one second before the window; never before 1970 (a shop may refuse that date).
    let after = Math.max(0, secondOf(window.since) - 1000);
    const yielded = new Map<string, string>();
    const unreadable = new Set<string>();
    const fresh = (entries: Listed[]): Listed[] =>
      entries.filter((e) => {
        if (e.id !== null && e.modified !== null) {
          const seen = yielded.get(e.id);
          if (seen !== undefined && seen >= e.modified) return false;
          yielded.set(e.id, e.modified);
          return true;
        }
        const key = JSON.stringify(e.item);
        if (unreadable.has(key)) return false;
        unreadable.add(key);
        return true;
      });

    for (let firstPage = true; ; firstPage = false) {
      const page = await this.listOrders(wcDate(after), before, 1);
      if (firstPage && page.total !== null) onTotal?.(page.total);
      yield fresh(page.entries);
      if (!hasMore(page, 1, this.pageSize)) return;
      const dated = page.entries.filter((e) => e.modified !== null).map((e) => e.modified!);
      const first = dated[0];
      const last = dated[dated.length - 1];
      if (first === undefined || last === undefined) {
        // A full page without one readable date: no key to page by. Offset paging is all that is left.
        for (let p = 2; ; p++) {
          const next = await this.listOrders(wcDate(after), before, p);
          yield fresh(next.entries);
          if (!hasMore(next, p, this.pageSize)) return;
        }
      }
      const lastSecond = secondOf(last);
      const previous = after;
      if (secondOf(first) < lastSecond) {
        // Everything modified before `last`'s second was on this page or an earlier one.
        after = lastSecond - 1000;
      } else {
        // A whole page in one second: read that second on its own.
        const complete = yield* this.crowdedSecond(lastSecond, fresh);
        if (!complete) return;
        after = lastSecond;
      }
      if (after <= previous) {
        throw new HttpError(`source ${this.name}: the shop returned orders modified before modified_after=${wcDate(previous)}: it does not filter by modification date (WooCommerce 5.8 or later is needed)`, null, false);
      }
      for (const [id, modified] of yielded) if (Date.parse(modified) <= after) yielded.delete(id);
    }
  }

  /**
   * Every order of one second, by page number, restarting when X-WP-Total drops between pages
   * (an order left the second, so unread ones may have moved onto a page already read).
   * Answers whether the second was read completely. (An order can only enter a past second if
   * that second is the current one; then the window ends in it, the cursor stays at or before
   * it, and the next pull reads it again.)
   */
  private async *crowdedSecond(second: number, fresh: (entries: Listed[]) => Listed[]): AsyncGenerator<Listed[], boolean> {
    const after = wcDate(second - 1000);
    const before = wcDate(second + 1000);
    for (let attempt = 0; attempt <= CROWDED_SECOND_RETRIES; attempt++) {
      let total: number | null = null;
      for (let p = 1; ; p++) {
        const page = await this.listOrders(after, before, p);
        yield fresh(page.entries);
        const shrank = total !== null && page.total !== null && page.total < total;
        total = page.total;
        if (shrank) break;
        if (!hasMore(page, p, this.pageSize)) return true;
      }
    }
    return false;
  }

  private async listOrders(modifiedAfter: string, modifiedBefore: string, page: number): Promise<ListPage> {
    const { response, body } = await this.get('/orders', {
      modified_after: modifiedAfter,
      modified_before: modifiedBefore,
      dates_are_gmt: 'true',
      orderby: 'modified',
      order: 'asc',
      status: 'any',
      per_page: String(this.pageSize),
      page: String(page),
    });
    if (!Array.isArray(body)) throw new HttpError(`source ${this.name}: GET /wp-json/wc/v3/orders: expected a JSON list of orders`, response.status, false);
    return { entries: body.map(listed), total: headerInt(response, 'x-wp-total'), totalPages: headerInt(response, 'x-wp-totalpages') };
  }

  // ── records and refunds ─────────────────────────────────────────────────────────────────

  /** Records of list entries, refunds embedded; updatedAt is '' for an unreadable entry (it sorts before every date). */
  private async records(entries: Listed[]): Promise<StampedRecord[]> {
    const orders = entries.filter((e) => isObject(e.item) && e.id !== null && e.modified !== null).map((e) => e.item as Json);
    const refunds = await this.refundsOf(orders.filter(hasRefunds));
    return entries.map((e, i) => {
      if (!isObject(e.item)) {
        return { record: { id: `${this.base}/wp-json/wc/v3/orders#${i}`, raw: JSON.stringify(e.item) ?? 'null', origin: `${this.base}/wp-json/wc/v3/orders`, readError: 'an order must be a JSON object' }, updatedAt: '' };
      }
      const order = e.item;
      const origin = e.id !== null ? `${this.base}/wp-json/wc/v3/orders/${e.id}` : `${this.base}/wp-json/wc/v3/orders`;
      if (e.id === null) {
        const key = typeof order.order_key === 'string' && order.order_key !== '' ? order.order_key : typeof order.number === 'string' && order.number !== '' ? `number ${order.number}` : `entry ${i}`;
        return { record: { id: `(no id: ${key})`, raw: JSON.stringify(order), origin, readError: `id: the order has no id (${JSON.stringify(order.id ?? null)})` }, updatedAt: '' };
      }
      if (e.modified === null) {
        return {
          record: { id: e.id, raw: JSON.stringify(order), origin, readError: `date_modified_gmt: expected a GMT timestamp like 2026-10-24T19:47:09, got ${JSON.stringify(order.date_modified_gmt ?? null)}` },
          updatedAt: '',
        };
      }
      const fetched = refunds.get(e.id);
      if (fetched instanceof Error) return { record: { id: e.id, raw: JSON.stringify(order), origin, readError: `refunds: ${fetched.message}` }, updatedAt: e.modified };
      const full = fetched ? { ...order, refunds: sortLikeSummary(fetched, order).map(embedded) } : order;
      return { record: { id: e.id, raw: JSON.stringify(full), origin }, updatedAt: e.modified };
    });
  }

  /** The full refund objects of orders whose summary lists refunds; an Error when an order's could not be read. */
  private async refundsOf(orders: Json[]): Promise<Map<string, Json[] | Error>> {
    const out = new Map<string, Json[] | Error>();
    if (orders.length === 0) return out;
    const ids = orders.map((o) => idOf(o)!);
    if (this.settings.refundsEndpoint && !this.refundsEndpointMissing) {
      try {
        for (let i = 0; i < ids.length; i += PARENTS_PER_REQUEST) {
          const chunk = ids.slice(i, i + PARENTS_PER_REQUEST);
          for (const id of chunk) out.set(id, []);
          for (const refund of await this.allPages('/refunds', { parent: chunk.join(',') })) {
            const list = out.get(String(refund.parent_id));
            if (Array.isArray(list)) list.push(refund);
          }
        }
        return out;
      } catch (error) {
        if (!(error instanceof HttpError && error.status === 404 && /rest_no_route/.test(error.body))) throw error;
        // WooCommerce before 9.0: no /wc/v3/refunds. Per order from now on.
        this.refundsEndpointMissing = true;
        out.clear();
      }
    }
    await mapLimit(ids, REFUND_CONCURRENCY, async (id) => {
      try {
        out.set(id, await this.allPages(`/orders/${id}/refunds`, {}));
      } catch (error) {
        // The order went away between the list and this request: quarantine this version only.
        if (error instanceof HttpError && error.status === 404) out.set(id, new Error(`GET /orders/${id}/refunds answered 404 (the order was deleted while it was read)`));
        else throw error;
      }
    });
    return out;
  }

  private async allPages(path: string, params: Record<string, string>): Promise<Json[]> {
    const all: Json[] = [];
    for (let page = 1; ; page++) {
      const { response, body } = await this.get(path, { ...params, per_page: String(WOOCOMMERCE_MAX_PAGE_SIZE), page: String(page) });
      if (!Array.isArray(body)) throw new HttpError(`source ${this.name}: GET /wp-json/wc/v3${path}: expected a JSON list of refunds`, response.status, false);
      all.push(...body.filter(isObject));
      const pages = headerInt(response, 'x-wp-totalpages');
      if (body.length === 0 || (body.length < WOOCOMMERCE_MAX_PAGE_SIZE && (pages ?? 0) <= page)) return all;
    }
  }

  // ── HTTP ────────────────────────────────────────────────────────────────────────────────

  /** A GET of the API and its JSON body; errors (HTTP or a body that is not JSON) leave redacted. */
  private async get(path: string, params: Record<string, string> = {}): Promise<{ response: HttpResponse; body: unknown }> {
    const url = new URL(`${this.base}/wp-json/wc/v3${path}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    try {
      const response = await this.http.request({ method: 'GET', url, headers: { authorization: this.authorization } });
      return { response, body: response.json() };
    } catch (error) {
      throw this.redacted(error);
    }
  }

  /** The error with this source's key and secret removed from its message and body. */
  private redacted(error: unknown): unknown {
    if (!(error instanceof HttpError)) return error;
    const clean = (text: string) => this.secrets.reduce((t, s) => t.split(s).join(REDACTED), text);
    const message = clean(error.message);
    const body = clean(error.body);
    if (message === error.message && body === error.body) return error;
    return new HttpError(message, error.status, error.retriable, body);
  }
}
