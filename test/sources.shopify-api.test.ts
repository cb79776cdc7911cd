/**
 * The Shopify source against a loopback Shopify (test/emulators/shopify.ts): the GraphQL Admin
 * API (default) and the legacy REST Admin API, paging, throttling, changes while paging,
 * transactions, refunds, broken records, and the access token kept out of every message.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpError } from '../src/http/client.js';
import { loadMapping } from '../src/mapping/load.js';
import { mapOrder } from '../src/mapping/map-order.js';
import { RecordError } from '../src/errors.js';
import { ShopifySource, nextLink } from '../src/sources/shopify.js';
import { CostThrottle, graphqlOrderToRest, ordersQuery } from '../src/sources/shopify-graphql.js';
import { parseShopifyOrder } from '../src/sources/shopify-order.js';
import type { SourceRecord } from '../src/sources/types.js';
import { decodeWatermark, compareWatermarks } from '../src/sources/watermark.js';
import { SHOPIFY_TOKEN, startShopify, type ShopifyEmulator, type ShopifyEmulatorOptions } from './emulators/shopify.js';

type Api = 'graphql' | 'rest';
type Json = Record<string, unknown>;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function shop(options: ShopifyEmulatorOptions = {}): Promise<ShopifyEmulator> {
  const emulator = await startShopify(options);
  cleanups.push(() => emulator.close());
  return emulator;
}

interface SourceOptions {
  api?: Api;
  pageSize?: number;
  token?: string;
  apiVersion?: string;
  /** Secrets the HTTP client redacts; none by default, to show the source redacts its token itself. */
  secrets?: string[];
  retries?: number;
}

function source(emulator: ShopifyEmulator, options: SourceOptions = {}): ShopifySource {
  const src = new ShopifySource({
    name: 'shop',
    baseUrl: emulator.url,
    pageSize: options.pageSize,
    window: { overlapMinutes: 10, lagSeconds: 0 },
    http: new HttpClient({ name: 'source shop', secrets: options.secrets ?? [], baseDelayMs: 5, maxDelayMs: 50, retries: options.retries ?? 4 }),
    accessToken: options.token ?? SHOPIFY_TOKEN,
    apiVersion: options.apiVersion ?? '2024-04',
    api: options.api ?? 'graphql',
    money: 'shop',
  });
  cleanups.push(() => src.close());
  return src;
}

async function pull(src: ShopifySource, cursor: string | null = null): Promise<{ records: SourceRecord[]; cursor: string | null }> {
  const records: SourceRecord[] = [];
  let last = cursor;
  for await (const record of src.pull({ cursor })) {
    records.push(record);
    if (record.checkpoint) last = record.checkpoint;
  }
  return { records, cursor: last };
}

const updatedOf = (src: ShopifySource, r: SourceRecord): string => src.parse(r).updatedAt;

describe.each<Api>(['graphql', 'rest'])('the Shopify source over %s', (api) => {
  it('pulls 300 orders across several pages, each exactly once, in cursor order', async () => {
    const emulator = await shop();
    emulator.seed(300);
    const src = source(emulator, { api, pageSize: api === 'rest' ? 50 : 25 });
    const { records, cursor } = await pull(src);

    expect(records).toHaveLength(300);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(emulator.orders().keys()));
    expect(emulator.stats.listRequests).toBeGreaterThanOrEqual(api === 'rest' ? 6 : 10);
    expect(records.filter((r) => r.readError)).toEqual([]);
    // Checkpoints only ever move forward, and the last one is the newest order.
    const marks = records.filter((r) => r.checkpoint).map((r) => decodeWatermark(r.checkpoint!)!);
    for (let i = 1; i < marks.length; i++) expect(compareWatermarks(marks[i - 1]!, marks[i]!)).toBeLessThan(0);
    const newest = [...emulator.orders()].sort(([ia, a], [ib, b]) => compareWatermarks({ updatedAt: a, id: ia }, { updatedAt: b, id: ib })).pop()!;
    expect(decodeWatermark(cursor)).toEqual({ updatedAt: newest[1], id: newest[0] });
    // Every record is an order the parser reads, at the version the shop holds.
    for (const r of records) expect(updatedOf(src, r)).toBe(emulator.orders().get(r.id));
  });

  it('loses nothing when orders change while it pages, across this pull and the next from the saved cursor', async () => {
    const emulator = await shop();
    emulator.seed(300);
    const ids = [...emulator.orders().keys()];
    const src = source(emulator, { api, pageSize: api === 'rest' ? 40 : 20 });
    // Orders already read and orders not yet read change (and so move to the end) while the pull pages.
    emulator.beforePage = (page) => {
      if (page === 2) for (const id of [ids[0]!, ids[5]!, ids[150]!, ids[299]!]) emulator.touch(id);
      if (page === 4) for (const id of [ids[1]!, ids[200]!, ids[250]!]) emulator.touch(id);
    };
    const stored = new Map<string, SourceRecord>();
    const first = await pull(src);
    for (const r of first.records) stored.set(r.id, r);
    emulator.beforePage = null;
    const second = await pull(src, first.cursor);
    for (const r of second.records) stored.set(r.id, r);

    expect(stored.size).toBe(300);
    for (const [id, updatedAt] of emulator.orders()) expect(updatedOf(src, stored.get(id)!), `order ${id}`).toBe(updatedAt);
    // The second pull re-reads the overlap only: the changed orders and the newest ones.
    expect(second.records.length).toBeLessThan(300);
  });

  it('attaches the transactions: the payment amount is the order total', async () => {
    const emulator = await shop();
    emulator.seed(30);
    const src = source(emulator, { api });
    const { records } = await pull(src);
    for (const r of records) {
      const raw = JSON.parse(r.raw) as { transactions: Json[]; total_price: string };
      const sale = raw.transactions.find((t) => t.kind === 'sale')!;
      expect(sale.status).toBe('success');
      const order = src.parse(r);
      expect(order.payment?.amount).toBe(order.total);
      expect(order.payment?.amount).toBeGreaterThan(0);
    }
    // Every seventh order has a partial refund, embedded with its own transaction.
    const refunded = records.map((r) => src.parse(r)).filter((o) => o.refunds.length > 0);
    expect(refunded.length).toBeGreaterThanOrEqual(4);
    for (const o of refunded) expect(o.refunds[0]!.total).toBeGreaterThan(0);
  });

  it('quarantines a corrupt order by its field and reads the others', async () => {
    const emulator = await shop();
    emulator.seed(40);
    const bad = [...emulator.orders().keys()][13]!;
    emulator.corrupt(bad);
    const src = source(emulator, { api });
    const { records } = await pull(src);
    expect(records).toHaveLength(40);
    for (const r of records) {
      if (r.id !== bad) {
        expect(() => src.parse(r)).not.toThrow();
        continue;
      }
      const error = (() => {
        try {
          src.parse(r);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(RecordError);
      expect((error as RecordError).field).toBe('line_items[0].price_set.shop_money.amount');
      expect((error as RecordError).message).toMatch(/12,50/);
    }
  });

  it('fetches one order, and null for one the shop does not have', async () => {
    const emulator = await shop();
    emulator.seed(12);
    const src = source(emulator, { api });
    const { records } = await pull(src);
    const some = records[7]!;
    const fetched = await src.fetch(some.id);
    expect(fetched?.id).toBe(some.id);
    expect(fetched?.raw).toBe(some.raw);
    expect(await src.fetch('999999')).toBeNull();
  });

  it('never shows the access token in an error, even when the shop echoes it', async () => {
    const emulator = await shop();
    emulator.seed(3);
    const token = 'shpat_0123456789abcdef_wrong';
    const src = source(emulator, { api, token, retries: 0 });
    const error = await pull(src).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(401);
    const text = `${(error as Error).message} ${(error as HttpError).body} ${JSON.stringify(error)} ${String((error as Error).stack)}`;
    expect(text).toMatch(/Invalid API key or access token/);
    expect(text).not.toContain(token);
    expect(text).toContain('[REDACTED]');
    // The shop did echo it: the redaction is what kept it out.
    expect(emulator.requestLog[0]!.status).toBe(401);
    await expect(src.fetch('1')).rejects.not.toThrow(token);
  });

  it('hands on test orders (the mapping skips them) and names a missing id or updated_at', async () => {
    const emulator = await shop();
    emulator.seed(10);
    const [a, b, c] = [...emulator.orders().keys()];
    emulator.markTest(a!);
    emulator.alter(b!, (o) => delete o.updated_at);
    emulator.alter(c!, (o) => delete o.id);
    const src = source(emulator, { api });
    const { records } = await pull(src);
    const test = records.find((r) => r.id === a)!;
    expect(src.parse(test).test).toBe(true);
    const mapping = loadMapping(fileURLToPath(new URL('../mappings/shopify-se-billecta.yaml', import.meta.url)));
    expect((await mapOrder(src.parse(test), mapping)).kind).toBe('skipped');

    const noUpdated = records.find((r) => r.id === b)!;
    expect(noUpdated.readError).toMatch(/updated_at/);
    expect(noUpdated.checkpoint).toBeUndefined();
    const noId = records.filter((r) => r.readError && r.id !== b);
    expect(noId).toHaveLength(1);
    expect(noId[0]!.readError).toMatch(/has no id/);
    expect(records).toHaveLength(10);
  });
});

describe('the Shopify source over GraphQL', () => {
  it('waits for the cost bucket instead of failing when Shopify throttles', async () => {
    const emulator = await shop({ maximumAvailable: 1000, restoreRate: 10_000 });
    emulator.seed(300);
    const src = source(emulator, { pageSize: 25 });
    // Another app empties the shared bucket now and then; and three THROTTLED answers in a row.
    emulator.beforePage = (page) => {
      if (page % 10 === 5) emulator.drainBeforeNextQuery(1000);
    };
    emulator.throttle(3);
    const { records } = await pull(src);
    expect(new Set(records.map((r) => r.id)).size).toBe(300);
    expect(emulator.stats.throttled).toBeGreaterThan(3);
    expect(src.stats.throttled).toBe(emulator.stats.throttled);
    expect(src.stats.waitedMs).toBeGreaterThan(0);
  });

  it('paces itself by the bucket it reads from each answer, so a lone client is never throttled', async () => {
    const emulator = await shop({ maximumAvailable: 1000, restoreRate: 5000 });
    emulator.seed(120);
    const src = source(emulator, { pageSize: 25 });
    const { records } = await pull(src);
    expect(records).toHaveLength(120);
    expect(emulator.stats.throttled).toBe(0);
    expect(src.stats.waitedMs).toBeGreaterThan(0);
  });

  it('shrinks a page Shopify prices above the single-query limit, once', async () => {
    const emulator = await shop();
    emulator.seed(60);
    const src = source(emulator, { pageSize: 250 });
    const first = await pull(src);
    expect(first.records).toHaveLength(60);
    expect(src.stats.pageShrinks).toBe(1);
    const errors = emulator.requestLog.filter((e) => e.operation === 'Orders').length;
    await pull(src);
    expect(src.stats.pageShrinks).toBe(1);
    expect(emulator.requestLog.filter((e) => e.operation === 'Orders').length - errors).toBeLessThan(errors);
  });

  it('completes orders whose lines, shipping lines and refund lines do not fit the first page', async () => {
    const emulator = await shop();
    emulator.seed(8);
    const id = [...emulator.orders().keys()][6]!; // the seventh order has a refund
    emulator.alter(id, (o) => {
      const [line] = o.line_items as Json[];
      o.line_items = Array.from({ length: 23 }, (_, i) => ({ ...line, id: 9_000_000 + i, sku: `SKU-${i}` }));
      const [shipping] = o.shipping_lines as Json[];
      o.shipping_lines = Array.from({ length: 7 }, (_, i) => ({ ...(shipping ?? { title: 'x', price_set: (line as Json).price_set }), id: 8_000_000 + i }));
      const [refund] = o.refunds as Json[];
      const [item] = refund!.refund_line_items as Json[];
      refund!.refund_line_items = Array.from({ length: 61 }, (_, i) => ({ ...item, id: 7_000_000 + i, line_item_id: 9_000_000 + (i % 23) }));
    });
    const graphql = await source(emulator).fetch(id);
    const rest = await source(emulator, { api: 'rest' }).fetch(id);
    const g = JSON.parse(graphql!.raw) as { line_items: Json[]; shipping_lines: Json[]; refunds: { refund_line_items: Json[] }[] };
    expect(g.line_items.map((l) => l.sku)).toEqual(Array.from({ length: 23 }, (_, i) => `SKU-${i}`));
    expect(g.shipping_lines).toHaveLength(7);
    expect(g.refunds[0]!.refund_line_items).toHaveLength(61);
    const r = JSON.parse(rest!.raw) as typeof g;
    expect(g.refunds[0]!.refund_line_items.map((i) => i.line_item_id)).toEqual(r.refunds[0]!.refund_line_items.map((i) => String(i.line_item_id)));
  });

  it('reads the same canonical orders as the REST API, and they book under the shipped Swedish mapping', async () => {
    const emulator = await shop();
    emulator.seed(70);
    const { records: viaGraphql } = await pull(source(emulator));
    const { records: viaRest } = await pull(source(emulator, { api: 'rest' }));
    const rest = new Map(viaRest.map((r) => [r.id, r]));
    const mapping = loadMapping(fileURLToPath(new URL('../mappings/shopify-se-billecta.yaml', import.meta.url)));
    expect(viaGraphql).toHaveLength(70);
    for (const g of viaGraphql) {
      const fromGraphql = parseShopifyOrder('shop', JSON.parse(g.raw));
      expect(fromGraphql, `order ${g.id}`).toEqual(parseShopifyOrder('shop', JSON.parse(rest.get(g.id)!.raw)));
      const outcome = await mapOrder(fromGraphql, mapping);
      expect(outcome.kind, `order ${g.id}`).toBe('documents');
      if (outcome.kind === 'documents') expect(outcome.documents.some((d) => d.kind === 'invoice')).toBe(true);
    }
  });

  it('asks for refund adjustments only from API version 2024-10 on', async () => {
    const emulator = await shop();
    emulator.seed(14);
    for (const version of ['2024-04', '2024-10']) {
      const { records } = await pull(source(emulator, { apiVersion: version }));
      expect(records).toHaveLength(14);
      expect(emulator.requestLog.some((e) => e.url.includes(`/${version}/graphql.json`))).toBe(true);
    }
  });

  it('normalises a GraphQL order (fixture) to the REST order the parser reads', () => {
    const dir = new URL('./fixtures/shopify-api/', import.meta.url);
    const node = (JSON.parse(readFileSync(new URL('graphql-order-sek.json', dir), 'utf8')) as { data: { order: Json } }).data.order;
    const restFixture = (JSON.parse(readFileSync(new URL('../shopify/order-sek-incl-tax.json', dir), 'utf8')) as { order: Json }).order;
    const normalised = graphqlOrderToRest(node);
    expect(normalised.id).toBe('5823746512001');
    expect(normalised.order_number).toBe(1042);
    expect(normalised.financial_status).toBe('partially_refunded');
    expect((normalised.line_items as Json[])[0]!.price_set).toEqual({ shop_money: { amount: '499.0', currency_code: 'SEK' }, presentment_money: { amount: '499.0', currency_code: 'SEK' } });
    for (const money of ['shop', 'presentment'] as const) {
      expect(parseShopifyOrder('shop', normalised, { money })).toEqual(parseShopifyOrder('shop', restFixture, { money }));
    }
  });
});

describe('the Shopify source over REST', () => {
  it('rides out 429s with Retry-After', async () => {
    const emulator = await shop();
    emulator.seed(60);
    emulator.throttle(3);
    const src = source(emulator, { api: 'rest', pageSize: 25 });
    const { records } = await pull(src);
    expect(records).toHaveLength(60);
    expect(emulator.stats.throttled).toBe(3);
  });

  it('follows page_info links with nothing but limit (the shop rejects anything else), and lists closed orders too', async () => {
    const emulator = await shop();
    emulator.seed(90);
    const src = source(emulator, { api: 'rest', pageSize: 20 });
    const { records } = await pull(src);
    expect(records).toHaveLength(90);
    const pages = emulator.requestLog.filter((e) => e.url.includes('/orders.json'));
    expect(pages.length).toBe(5);
    const [firstPage, ...followUps] = pages.map((e) => new URL(e.url, emulator.url).searchParams);
    expect(firstPage!.get('status')).toBe('any');
    expect(firstPage!.get('updated_at_min')).toBeTruthy();
    expect(firstPage!.get('updated_at_max')).toBeTruthy();
    for (const p of followUps) expect([...p.keys()].sort()).toEqual(['limit', 'page_info']);
    // The emulator holds Shopify's rule: a page_info request with a filter is refused.
    const next = new URL(followUps[0]!.toString() ? `${emulator.url}/admin/api/2024-04/orders.json?${followUps[0]!.toString()}&status=any` : '');
    const http = new HttpClient({ name: 'probe' });
    cleanups.push(() => http.close());
    await expect(http.request({ method: 'GET', url: next, headers: { 'X-Shopify-Access-Token': SHOPIFY_TOKEN } })).rejects.toThrow(/HTTP 400.*status cannot be passed when page_info is present/);
    // Without status=any the archived (closed) orders would be missing.
    const open = await http.request({ method: 'GET', url: `${emulator.url}/admin/api/2024-04/orders.json?limit=250`, headers: { 'X-Shopify-Access-Token': SHOPIFY_TOKEN } });
    expect(open.json<{ orders: unknown[] }>().orders.length).toBeLessThan(90);
  });

  it('reads the rel="next" link and follows it only to the shop itself', async () => {
    expect(nextLink('<https://x.myshopify.com/a?page_info=p1&limit=5>; rel="previous", <https://x.myshopify.com/a?page_info=p2&limit=5>; rel="next"')).toBe(
      'https://x.myshopify.com/a?page_info=p2&limit=5',
    );
    expect(nextLink('<https://x.myshopify.com/a?page_info=p1>; rel="previous"')).toBeNull();
    expect(nextLink(undefined)).toBeNull();
    const emulator = await shop();
    emulator.seed(2);
    const src = source(emulator, { api: 'rest' });
    // A shop (or a proxy) that points the next page elsewhere does not get the token sent there.
    const followable = (src as unknown as { followable(url: string): string }).followable.bind(src);
    expect(() => followable('https://evil.example/admin/api/2024-04/orders.json?page_info=x')).toThrow(/points away from the shop/);
    expect(followable(`${emulator.url}/admin/api/2024-04/orders.json?page_info=x`)).toContain(emulator.url);
  });
});

describe('the GraphQL cost throttle', () => {
  it('waits until the bucket covers the query it knows the cost of', () => {
    let now = 0;
    const throttle = new CostThrottle(() => now);
    expect(throttle.delayBefore('Q')).toBe(0); // cost unknown
    throttle.observe('Q', { requestedQueryCost: 400, actualQueryCost: 120, throttleStatus: { maximumAvailable: 1000, currentlyAvailable: 300, restoreRate: 50 } });
    // 400 + a twentieth of the bucket in hand (50) = 450 needed, 150 short at 50/s.
    expect(throttle.delayBefore('Q')).toBe(3000);
    now = 1000;
    expect(throttle.delayBefore('Q')).toBe(2000);
    now = 3000;
    expect(throttle.delayBefore('Q')).toBe(0);
    expect(throttle.available()).toBe(450);
    now = 60_000;
    expect(throttle.available()).toBe(1000);
  });

  it('after THROTTLED, waits for the missing points (or cost ÷ restoreRate), never less than a short pause', () => {
    const throttle = new CostThrottle(() => 0);
    const cost = { requestedQueryCost: 500, actualQueryCost: null, throttleStatus: { maximumAvailable: 1000, currentlyAvailable: 100, restoreRate: 100 } };
    expect(throttle.delayAfterThrottle('Q', cost, 0)).toBe(4000);
    expect(throttle.delayAfterThrottle('Q', { ...cost, throttleStatus: { ...cost.throttleStatus, currentlyAvailable: 1000 } }, 2)).toBe(150);
    expect(throttle.delayAfterThrottle('Q', { requestedQueryCost: 500 }, 0)).toBe(5000);
  });
});

describe.skipIf(!process.env.KONTOR_SHOPIFY_RATES)('Shopify pull rates (KONTOR_SHOPIFY_RATES=1)', () => {
  it.each<Api>(['graphql', 'rest'])('%s: 2,000 orders', async (api) => {
    // A bucket that never runs dry: this measures the source and the server, not the cost limit.
    const emulator = await shop({ maximumAvailable: 1e12, restoreRate: 1e12 });
    emulator.seed(2000);
    const src = source(emulator, { api });
    const started = performance.now();
    const { records } = await pull(src);
    const seconds = (performance.now() - started) / 1000;
    expect(records).toHaveLength(2000);
    // The raw page-fetch rate of the same server: the list pages alone, no follow-ups, no parsing.
    const http = new HttpClient({ name: 'raw' });
    cleanups.push(() => http.close());
    const rawStart = performance.now();
    let pages = 0;
    if (api === 'rest') {
      let url: string | null = `${emulator.url}/admin/api/2024-04/orders.json?status=any&limit=250`;
      while (url) {
        const res = await http.request({ method: 'GET', url, headers: { 'X-Shopify-Access-Token': SHOPIFY_TOKEN } });
        pages++;
        url = nextLink(res.headers.link);
      }
    } else {
      // The same list query, at the page size the source settled on (4 under the 1000-point limit).
      let after: string | null = null;
      do {
        const res = await http.request({ method: 'POST', url: `${emulator.url}/admin/api/2024-04/graphql.json`, json: { query: ordersQuery(4), variables: { after } }, headers: { 'X-Shopify-Access-Token': SHOPIFY_TOKEN } });
        const body = res.json<{ data?: { orders: { pageInfo: { hasNextPage: boolean; endCursor: string } } }; errors?: unknown }>();
        if (!body.data) throw new Error(JSON.stringify(body.errors));
        const orders = body.data.orders;
        pages++;
        after = orders.pageInfo.hasNextPage ? orders.pageInfo.endCursor : null;
      } while (after);
    }
    const rawSeconds = (performance.now() - rawStart) / 1000;
    console.log(
      `${api}: ${records.length} orders in ${seconds.toFixed(2)} s = ${(records.length / seconds).toFixed(0)} orders/s; ${src.stats.requests} requests, waited ${src.stats.waitedMs} ms` +
        `; raw list pages of the same server: ${pages} in ${rawSeconds.toFixed(2)} s = ${(2000 / rawSeconds).toFixed(0)} orders/s`,
    );
  });
});
