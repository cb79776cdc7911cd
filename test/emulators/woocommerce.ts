/**
 * A loopback WooCommerce: the REST API v3 order endpoints kontor reads, with WooCommerce's
 * paging and its pitfalls.
 *
 * - `GET /wp-json/wc/v3/orders`: `page`, `offset`, `per_page` (default 10, 400 above 100),
 *   `orderby` date|id|modified (ties broken by id, as WooCommerce appends `ID`), `order`,
 *   `after`/`before` (created) and `modified_after`/`modified_before`, both exclusive and
 *   second-precise, against the `*_gmt` dates with `dates_are_gmt=true` and the shop's local
 *   (Europe/Zurich) ones without, `status` (any = all but trash, or a list), `include`/`exclude`;
 *   `X-WP-Total`, `X-WP-TotalPages` and a `Link` header. Offset paging over a changing set
 *   skips: an order touched while a client pages moves to the end of the modified order.
 * - `GET /orders/{id}`, `GET /orders/{id}/refunds`, and `GET /refunds?parent=…` (WooCommerce 9+;
 *   `refundsEndpoint: false` answers 404 rest_no_route like an older shop).
 * - Consumer key and secret as HTTP Basic, or as `consumer_key`/`consumer_secret` query
 *   parameters; anything else is 401. The 401 body echoes the Authorization header it got,
 *   as a careless proxy would: the client must redact it.
 *
 * Orders reconcile exactly: net lines with separate tax at 8.1 % (rate_id 1) and 2.6 % (rate_id 2),
 * coupons already taken off line totals, shipping at 8.1 % or free, partial refunds with their
 * negative line items (the JSON: ./woocommerce-json.ts). `touch` changes a quantity and every
 * amount that depends on it.
 */
import { mulberry32 } from '../random.js';
import { closeServer, listenOnLoopback, nowSecond, seedTimes } from './loopback.js';
import { API, gmt, lineAmounts, local, orderJson, PAYMENTS, PRODUCTS, refundJson, taxOf, type Line, type Payment, type Person, type Rate, type Refund } from './woocommerce-json.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ConformanceSubject, SeedOptions, ShopEmulator } from './shop.js';

export const WC_CONSUMER_KEY = 'ck_test';
export const WC_CONSUMER_SECRET = 'cs_test';
const MAX_PER_PAGE = 100;

export interface WooSeedOptions extends SeedOptions {
  /** Give every seeded order this modification second (a bulk action touching many orders at once). */
  at?: Date;
}

export interface WooCommerceEmulatorOptions {
  /** Whether `/wc/v3/refunds` exists (WooCommerce 9+); default true. */
  refundsEndpoint?: boolean;
  /** Seed of the order generator (same seed, same orders). */
  seed?: number;
}

export interface RequestLogEntry {
  method: string;
  /** Path and query as received. */
  url: string;
  status: number;
  /** How the request authenticated: basic, query, or none. */
  auth: 'basic' | 'query' | 'none';
}

// ── the order model ─────────────────────────────────────────────────────────────────────────

const PEOPLE: readonly Person[] = [
  { first: 'Anna', last: 'Keller', company: '', street: 'Bahnhofstrasse 12', zip: '8001', city: 'Zürich', state: 'ZH' },
  { first: 'Luca', last: 'Bernasconi', company: '', street: 'Via Nassa 5', zip: '6900', city: 'Lugano', state: 'TI' },
  { first: 'Beat', last: 'Moser', company: 'Gasthof Löwen AG', street: 'Hauptgasse 21', zip: '3600', city: 'Thun', state: 'BE' },
  { first: 'Claire', last: 'Dubois', company: '', street: 'Rue du Marché 8', zip: '1204', city: 'Genève', state: 'GE' },
  { first: 'Reto', last: 'Caduff', company: 'Caduff Sport GmbH', street: 'Postgasse 3', zip: '7000', city: 'Chur', state: 'GR' },
];

interface OrderModel {
  id: number;
  createdAt: number;
  modifiedAt: number;
  paidAt: number | null;
  completedAt: number | null;
  status: 'processing' | 'completed';
  customerId: number;
  person: Person;
  payment: Payment;
  lines: Line[];
  shippingLineId: number;
  taxLineIds: Record<Rate, number>;
  coupon: { id: number; code: string; percent: number } | null;
  refunds: Refund[];
  corrupt: boolean;
  trashed: boolean;
  alter: ((order: Record<string, unknown>) => void) | null;
  /** The rendered JSON, until the order changes. */
  cache: Record<string, unknown> | null;
}

const random = mulberry32;

function renderOrder(base: string, o: OrderModel): Record<string, unknown> {
  const json = orderJson(
    {
      ...o,
      status: o.trashed ? 'trash' : o.status,
      email: `${o.person.first.toLowerCase()}.${o.person.last.toLowerCase()}@example.ch`,
      vatId: o.person.company ? 'CHE-123.456.788 MWST' : null,
    },
    { base },
  );
  if (o.corrupt) (json.line_items as Record<string, unknown>[])[0]!.total = '12,50';
  return json;
}

// ── the server ──────────────────────────────────────────────────────────────────────────────

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const invalidParam = (name: string, why: string) => new HttpProblem(400, 'rest_invalid_param', `Invalid parameter(s): ${name}`, { params: { [name]: why } });

/** A WooCommerce date filter value: the naive timestamp it names (a zone, if any, is ignored like many shops do). */
function dateParam(params: URLSearchParams, name: string): string | null {
  const v = params.get(name);
  if (v === null || v === '') return null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(v) || Number.isNaN(Date.parse(v.slice(0, 19) + 'Z'))) throw invalidParam(name, `Invalid date.`);
  return v.slice(0, 19);
}

function intParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const v = params.get(name);
  if (v === null || v === '') return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw invalidParam(name, `${name} must be between ${min} (inclusive) and ${max} (inclusive)`);
  return Number(v);
}

function idList(params: URLSearchParams, name: string): Set<number> | null {
  const values = [...params.getAll(name), ...params.getAll(`${name}[]`)].flatMap((v) => v.split(',')).filter((v) => v.trim() !== '');
  if (values.length === 0) return null;
  if (values.some((v) => !/^\d+$/.test(v.trim()))) throw invalidParam(name, `${name} must be a list of ids`);
  return new Set(values.map((v) => Number(v)));
}

function paginate<T>(all: T[], params: URLSearchParams, defaultPerPage: number): { items: T[]; page: number; perPage: number; total: number; pages: number } {
  const perPage = intParam(params, 'per_page', defaultPerPage, 1, MAX_PER_PAGE);
  const page = intParam(params, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
  const offset = params.has('offset') ? intParam(params, 'offset', 0, 0, Number.MAX_SAFE_INTEGER) : (page - 1) * perPage;
  return { items: all.slice(offset, offset + perPage), page, perPage, total: all.length, pages: Math.ceil(all.length / perPage) };
}

export interface WooCommerceEmulator extends ShopEmulator {
  seed(n: number, options?: WooSeedOptions): void;
  /** Every request served, in order (for "no secret in any URL" checks). */
  readonly requestLog: RequestLogEntry[];
  /** Add a partial refund (one unit of the order's first line) and move the order's modification date to now. */
  refund(id: string): void;
  /** Move an order to the trash: `status=any` no longer lists it. */
  trash(id: string): void;
  /** The order's JSON as GET /orders/{id} answers it. */
  order(id: string): Record<string, unknown> | null;
  /** Change an order's JSON as served (a plugin's damage: a field removed); its place in the lists stays. */
  alter(id: string, change: (order: Record<string, unknown>) => void): void;
}

class Emulator implements WooCommerceEmulator {
  readonly kind = 'woocommerce' as const;
  url = '';
  readonly stats = { requests: 0, listRequests: 0, throttled: 0 };
  readonly requestLog: RequestLogEntry[] = [];
  private readonly models = new Map<number, OrderModel>();
  private nextOrderId = 5001;
  private nextItemId = 90001;
  private nextRefundId = 70001;
  private throttleLeft = 0;
  private pageHook: ((page: number) => void) | null = null;
  private pagesServed = 0;
  private readonly rand: () => number;
  private readonly server: Server;
  private readonly refundsEndpoint: boolean;

  constructor(options: WooCommerceEmulatorOptions) {
    this.rand = random(options.seed ?? 20261121);
    this.refundsEndpoint = options.refundsEndpoint ?? true;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  /** Called before each order list page is served with its 1-based number, counted from when the hook was set. */
  get beforePage(): ((page: number) => void) | null {
    return this.pageHook;
  }
  set beforePage(hook: ((page: number) => void) | null) {
    this.pageHook = hook;
    this.pagesServed = 0;
  }

  async listen(): Promise<void> {
    this.url = await listenOnLoopback(this.server);
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  // ── shop state ────────────────────────────────────────────────────────────────────────────

  seed(n: number, options: WooSeedOptions = {}): void {
    const pick = <T>(list: readonly T[]): T => list[Math.floor(this.rand() * list.length)]!;
    const times = seedTimes(n, options.days ?? 30, this.rand, options.at);
    for (let i = 0; i < n; i++) {
      const id = this.nextOrderId++;
      const modifiedAt = times[i]!;
      const lines: Line[] = [];
      const count = 1 + Math.floor(this.rand() * 3);
      const used = new Set<number>();
      while (lines.length < count) {
        const product = pick(PRODUCTS);
        if (used.has(product.id)) continue;
        used.add(product.id);
        lines.push({ id: this.nextItemId++, product, quantity: 1 + Math.floor(this.rand() * 4) });
      }
      const payment = pick(PAYMENTS);
      const completed = payment.method !== 'bacs' && this.rand() < 0.6;
      const createdAt = modifiedAt - Math.floor(this.rand() * 3 * 3600) * 1000 - 60_000;
      const person = pick(PEOPLE);
      const order: OrderModel = {
        id,
        createdAt,
        modifiedAt,
        paidAt: payment.method === 'bacs' ? null : createdAt + 20_000,
        completedAt: completed ? modifiedAt : null,
        status: completed ? 'completed' : 'processing',
        customerId: this.rand() < 0.25 ? 0 : 40 + (id % 300),
        person,
        payment,
        lines,
        shippingLineId: this.nextItemId++,
        taxLineIds: { 1: this.nextItemId++, 2: this.nextItemId++ },
        coupon: this.rand() < 0.2 ? { id: this.nextItemId++, code: 'treue10', percent: 10 } : null,
        refunds: [],
        corrupt: false,
        trashed: false,
        alter: null,
        cache: null,
      };
      this.models.set(id, order);
      // Every seventh completed order had one unit of its first line refunded before its last change.
      if (completed && id % 7 === 0) this.addRefund(order, modifiedAt - 30_000);
    }
  }

  private model(id: string): OrderModel {
    const order = this.models.get(Number(id));
    if (!order || !/^\d+$/.test(id)) throw new Error(`the emulated shop has no order ${id}`);
    return order;
  }

  private changed(order: OrderModel): void {
    order.modifiedAt = Math.max(nowSecond(), order.modifiedAt);
    order.cache = null;
  }

  private addRefund(order: OrderModel, at: number): void {
    const line = order.lines[0]!;
    const a = lineAmounts(line, order.coupon?.percent ?? 0);
    const net = Math.floor(a.total / line.quantity);
    order.refunds.push({
      id: this.nextRefundId++,
      createdAt: at,
      lineId: line.id,
      itemId: this.nextItemId++,
      metaId: this.nextItemId++,
      quantity: 1,
      net,
      tax: taxOf(net, line.product.rate),
      reason: 'Ware beschädigt',
    });
    order.cache = null;
  }

  touch(id: string): void {
    const order = this.model(id);
    order.lines[order.lines.length - 1]!.quantity += 1;
    this.changed(order);
  }

  corrupt(id: string): void {
    const order = this.model(id);
    order.corrupt = true;
    this.changed(order);
  }

  refund(id: string): void {
    const order = this.model(id);
    this.addRefund(order, nowSecond());
    this.changed(order);
  }

  trash(id: string): void {
    const order = this.model(id);
    order.trashed = true;
    this.changed(order);
  }

  throttle(k: number): void {
    this.throttleLeft += k;
  }

  orders(): Map<string, string> {
    return new Map([...this.models.values()].filter((o) => !o.trashed).map((o) => [String(o.id), new Date(o.modifiedAt).toISOString()]));
  }

  order(id: string): Record<string, unknown> | null {
    const o = this.models.get(Number(id));
    return o ? this.render(o) : null;
  }

  alter(id: string, change: (order: Record<string, unknown>) => void): void {
    const order = this.model(id);
    order.alter = change;
    order.cache = null;
  }

  private render(o: OrderModel): Record<string, unknown> {
    if (!o.cache) {
      o.cache = renderOrder(this.url, o);
      o.alter?.(o.cache);
    }
    return o.cache;
  }

  // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

  private authOf(req: IncomingMessage, params: URLSearchParams): RequestLogEntry['auth'] | null {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)$/.exec(header);
      return m && Buffer.from(m[1]!, 'base64').toString() === `${WC_CONSUMER_KEY}:${WC_CONSUMER_SECRET}` ? 'basic' : null;
    }
    if (params.has('consumer_key')) return params.get('consumer_key') === WC_CONSUMER_KEY && params.get('consumer_secret') === WC_CONSUMER_SECRET ? 'query' : null;
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const params = url.searchParams;
    const entry: RequestLogEntry = { method: req.method ?? 'GET', url: req.url ?? '/', status: 200, auth: 'none' };
    this.requestLog.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    try {
      if (!url.pathname.startsWith(`${API}/`)) throw new HttpProblem(404, 'rest_no_route', 'No route was found matching the URL and request method.');
      const path = url.pathname.slice(API.length);
      const auth = this.authOf(req, params);
      if (auth === null) {
        // Deliberately careless: the Authorization header comes back in the body.
        throw new HttpProblem(401, 'woocommerce_rest_authentication_error', req.headers.authorization ? 'Consumer secret is invalid.' : 'Sorry, you cannot list resources.', {
          received: req.headers.authorization ?? params.get('consumer_secret') ?? null,
        });
      }
      entry.auth = auth;
      if (req.method !== 'GET') throw new HttpProblem(404, 'rest_no_route', 'No route was found matching the URL and request method.');
      let m: RegExpExecArray | null;
      if (path === '/orders') {
        this.stats.listRequests++;
        if (this.throttleLeft > 0) {
          this.throttleLeft--;
          this.stats.throttled++;
          return send(429, { code: 'rest_too_many_requests', message: 'Too many requests.', data: { status: 429 } }, { 'retry-after': '0' });
        }
        const list = this.list(params);
        if (this.pageHook) this.pageHook(++this.pagesServed);
        const page = paginate(list(), params, 10);
        return send(200, page.items.map((o) => this.render(o)), this.pageHeaders(url, page));
      }
      if ((m = /^\/orders\/(\d+)$/.exec(path))) {
        const o = this.models.get(Number(m[1]));
        if (!o) throw new HttpProblem(404, 'woocommerce_rest_shop_order_invalid_id', 'Invalid ID.');
        return send(200, this.render(o));
      }
      if ((m = /^\/orders\/(\d+)\/refunds$/.exec(path))) {
        const o = this.models.get(Number(m[1]));
        if (!o) throw new HttpProblem(404, 'woocommerce_rest_invalid_order_id', 'Invalid order ID.');
        const page = paginate([...o.refunds].reverse(), params, 10);
        return send(200, page.items.map((r) => refundJson(this.url, o, r, false)), this.pageHeaders(url, page));
      }
      if (path === '/refunds' && this.refundsEndpoint) {
        const parents = idList(params, 'parent');
        const all = [...this.models.values()]
          .filter((o) => (parents === null || parents.has(o.id)) && !o.trashed)
          .flatMap((o) => o.refunds.map((r) => ({ o, r })))
          .sort((a, b) => b.r.createdAt - a.r.createdAt || b.r.id - a.r.id);
        const page = paginate(all, params, 10);
        return send(200, page.items.map(({ o, r }) => refundJson(this.url, o, r, true)), this.pageHeaders(url, page));
      }
      throw new HttpProblem(404, 'rest_no_route', 'No route was found matching the URL and request method.');
    } catch (error) {
      if (error instanceof HttpProblem) return send(error.status, { code: error.code, message: error.message, data: { status: error.status, ...error.data } });
      return send(500, { code: 'internal_server_error', message: (error as Error).message, data: { status: 500 } });
    }
  }

  private pageHeaders(url: URL, page: { page: number; total: number; pages: number }): Record<string, string> {
    const link = (p: number, rel: string) => {
      const u = new URL(url.toString());
      u.searchParams.set('page', String(p));
      return `<${this.url}${u.pathname}${u.search}>; rel="${rel}"`;
    };
    const rels = [...(page.page > 1 ? [link(page.page - 1, 'prev')] : []), ...(page.page < page.pages ? [link(page.page + 1, 'next')] : [])];
    return { 'x-wp-total': String(page.total), 'x-wp-totalpages': String(page.pages), ...(rels.length ? { link: rels.join(', ') } : {}) };
  }

  /** The filtered, ordered order list of a query (evaluated when the page is served). */
  private list(params: URLSearchParams): () => OrderModel[] {
    const gmtDates = ['true', '1'].includes(params.get('dates_are_gmt') ?? 'false');
    const filters = {
      after: dateParam(params, 'after'),
      before: dateParam(params, 'before'),
      modifiedAfter: dateParam(params, 'modified_after'),
      modifiedBefore: dateParam(params, 'modified_before'),
    };
    const orderby = params.get('orderby') ?? 'date';
    if (!['date', 'id', 'modified', 'include', 'title', 'slug'].includes(orderby)) throw invalidParam('orderby', 'orderby is not one of date, id, include, title, slug, and modified.');
    const direction = params.get('order') ?? 'desc';
    if (direction !== 'asc' && direction !== 'desc') throw invalidParam('order', 'order is not one of asc and desc.');
    const statuses = (params.get('status') ?? 'any').split(',').map((s) => s.trim().replace(/^wc-/, ''));
    const include = idList(params, 'include');
    const exclude = idList(params, 'exclude');
    // Validates per_page and page now, before the hook runs.
    paginate([], params, 10);
    const date = (ms: number) => (gmtDates ? gmt(ms) : local(ms));
    // GMT filters compare whole seconds as numbers: formatting every order's date per request
    // made the emulator, not the client, the slowest part of a pull.
    const second = (ms: number) => Math.floor(ms / 1000) * 1000;
    const bound = (f: string | null) => (f === null ? null : Date.parse(`${f}Z`));
    const [afterMs, beforeMs, modAfterMs, modBeforeMs] = [filters.after, filters.before, filters.modifiedAfter, filters.modifiedBefore].map(bound);
    const inRange = (ms: number, after: string | null, before: string | null, lo: number | null | undefined, hi: number | null | undefined) =>
      gmtDates ? (lo == null || second(ms) > lo) && (hi == null || second(ms) < hi) : (after === null || date(ms) > after) && (before === null || date(ms) < before);
    return () => {
      const sign = direction === 'asc' ? 1 : -1;
      const key = (o: OrderModel) => (orderby === 'modified' ? o.modifiedAt : orderby === 'id' || orderby === 'include' ? o.id : o.createdAt);
      return [...this.models.values()]
        .filter((o) => (statuses.includes('any') ? !o.trashed : statuses.includes(o.trashed ? 'trash' : o.status)))
        .filter((o) => (include === null || include.has(o.id)) && (exclude === null || !exclude.has(o.id)))
        .filter((o) => inRange(o.createdAt, filters.after, filters.before, afterMs, beforeMs))
        .filter((o) => inRange(o.modifiedAt, filters.modifiedAfter, filters.modifiedBefore, modAfterMs, modBeforeMs))
        .sort((a, b) => sign * (key(a) - key(b) || a.id - b.id));
    };
  }
}

export async function startWooCommerce(options: WooCommerceEmulatorOptions = {}): Promise<WooCommerceEmulator> {
  const emulator = new Emulator(options);
  await emulator.listen();
  return emulator;
}

export const wooCommerceSubject: ConformanceSubject = {
  kind: 'woocommerce',
  start: () => startWooCommerce(),
  sourceYaml: (emulator, pageSize) =>
    `    type: woocommerce\n    base_url: ${emulator.url}\n    consumer_key: ${WC_CONSUMER_KEY}\n    consumer_secret: ${WC_CONSUMER_SECRET}\n    page_size: ${pageSize}\n    lag_seconds: 0\n`,
  mapping: 'woocommerce-ch.yaml',
};
