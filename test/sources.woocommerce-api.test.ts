/**
 * The WooCommerce REST v3 source against the loopback WooCommerce (test/emulators/woocommerce.ts):
 * keyset paging that loses nothing while orders change, refunds embedded, throttling, a broken
 * order quarantined alone, fetch, forward-only checkpoints and no credential in any message.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordError } from '../src/errors.js';
import { HttpClient, HttpError } from '../src/http/client.js';
import { loadMapping } from '../src/mapping/load.js';
import { mapOrder } from '../src/mapping/map-order.js';
import type { SourceRecord } from '../src/sources/types.js';
import { compareWatermarks, decodeWatermark } from '../src/sources/watermark.js';
import { WooCommerceSource } from '../src/sources/woocommerce.js';
import { startWooCommerce, WC_CONSUMER_KEY, WC_CONSUMER_SECRET, wooCommerceSubject, type WooCommerceEmulator, type WooCommerceEmulatorOptions } from './emulators/woocommerce.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function shop(options: WooCommerceEmulatorOptions = {}): Promise<WooCommerceEmulator> {
  const emulator = await startWooCommerce(options);
  cleanups.push(() => emulator.close());
  return emulator;
}

interface SourceOptions {
  pageSize?: number;
  refundsEndpoint?: boolean;
  secret?: string;
  /** What the HTTP client is told to redact (default: the key and secret). */
  clientSecrets?: string[];
  overlapMinutes?: number;
  lagSeconds?: number;
  retries?: number;
  retried?: string[];
}

function source(emulator: WooCommerceEmulator, o: SourceOptions = {}): WooCommerceSource {
  const secret = o.secret ?? WC_CONSUMER_SECRET;
  const http = new HttpClient({
    name: 'source shop',
    baseDelayMs: 1,
    maxDelayMs: 5,
    retries: o.retries ?? 4,
    secrets: o.clientSecrets ?? [WC_CONSUMER_KEY, secret],
    onRetry: (info) => o.retried?.push(info.reason),
  });
  const adapter = new WooCommerceSource({
    name: 'shop',
    baseUrl: emulator.url,
    pageSize: o.pageSize,
    window: { overlapMinutes: o.overlapMinutes ?? 0, lagSeconds: o.lagSeconds ?? 0 },
    http,
    consumerKey: WC_CONSUMER_KEY,
    consumerSecret: secret,
    refundsEndpoint: o.refundsEndpoint ?? false,
  });
  cleanups.push(() => adapter.close());
  return adapter;
}

async function drain(records: AsyncIterable<SourceRecord>): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

/** What intake keeps: the latest raw per order, and the cursor saved after each stored record. */
class Intake {
  cursor: string | null = null;
  readonly latest = new Map<string, string>();
  readonly checkpoints: string[] = [];
  async pull(adapter: WooCommerceSource): Promise<SourceRecord[]> {
    const records: SourceRecord[] = [];
    for await (const r of adapter.pull({ cursor: this.cursor })) {
      records.push(r);
      this.latest.set(r.id, r.raw);
      if (r.checkpoint) {
        this.checkpoints.push(r.checkpoint);
        this.cursor = r.checkpoint;
      }
    }
    return records;
  }
}

type Json = Record<string, unknown>;
const withoutRefunds = (o: Json) => ({ ...o, refunds: undefined });

/** Every order the shop holds was read in its current version. */
function expectLatest(emulator: WooCommerceEmulator, intake: Intake) {
  const stale: string[] = [];
  for (const id of emulator.orders().keys()) {
    const raw = intake.latest.get(id);
    if (raw === undefined || JSON.stringify(withoutRefunds(JSON.parse(raw) as Json)) !== JSON.stringify(withoutRefunds(emulator.order(id)!))) stale.push(id);
  }
  expect(stale).toEqual([]);
}

function expectForward(checkpoints: string[]) {
  for (let i = 1; i < checkpoints.length; i++) {
    expect(compareWatermarks(decodeWatermark(checkpoints[i]!)!, decodeWatermark(checkpoints[i - 1]!)!), `${checkpoints[i - 1]} → ${checkpoints[i]}`).toBeGreaterThan(0);
  }
}

const listRequests = (emulator: WooCommerceEmulator) => emulator.requestLog.filter((r) => r.url.startsWith('/wp-json/wc/v3/orders?'));

describe('WooCommerce source: paging', () => {
  it('pulls 250 orders across several pages, each exactly once, in modification order', async () => {
    const emulator = await shop();
    emulator.seed(250);
    const records = await drain(source(emulator, { pageSize: 100 }).pull({ cursor: null }));
    const ids = records.map((r) => r.id);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(new Set(ids)).toEqual(new Set(emulator.orders().keys()));
    expect(listRequests(emulator).length).toBeGreaterThanOrEqual(3);
    for (const r of listRequests(emulator)) {
      const q = new URL(r.url, 'http://x').searchParams;
      expect(Object.fromEntries(['dates_are_gmt', 'orderby', 'order', 'status', 'per_page'].map((k) => [k, q.get(k)]))).toEqual({
        dates_are_gmt: 'true',
        orderby: 'modified',
        order: 'asc',
        status: 'any',
        per_page: '100',
      });
      expect(q.get('modified_after')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
      expect(q.get('modified_before')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    }
    const updated = records.map((r) => (JSON.parse(r.raw) as Json).date_modified_gmt as string);
    expect([...updated].sort()).toEqual(updated);
    expect(records[0]!.origin).toBe(`${emulator.url}/wp-json/wc/v3/orders/${records[0]!.id}`);
  });

  it('books every seeded order: each maps to documents with mappings/woocommerce-ch.yaml', async () => {
    const emulator = await shop();
    emulator.seed(250);
    const adapter = source(emulator);
    const mapping = loadMapping(fileURLToPath(new URL('../mappings/woocommerce-ch.yaml', import.meta.url)));
    const records = await drain(adapter.pull({ cursor: null }));
    let refunds = 0;
    for (const record of records) {
      const order = adapter.parse(record);
      refunds += order.refunds.length;
      const outcome = await mapOrder(order, mapping);
      expect(outcome.kind, `order ${record.id}`).toBe('documents');
    }
    expect(refunds).toBeGreaterThan(0);
  });

  it('clamps the page size to WooCommerce’s 100 (the shop answers 400 above)', async () => {
    const emulator = await shop();
    emulator.seed(5);
    const records = await drain(source(emulator, { pageSize: 250 }).pull({ cursor: null }));
    expect(records).toHaveLength(5);
    expect(new URL(listRequests(emulator)[0]!.url, 'http://x').searchParams.get('per_page')).toBe('100');
    const res = await fetch(`${emulator.url}/wp-json/wc/v3/orders?per_page=101`, { headers: { authorization: `Basic ${Buffer.from(`${WC_CONSUMER_KEY}:${WC_CONSUMER_SECRET}`).toString('base64')}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).code).toBe('rest_invalid_param');
  });

  it('the emulator shifts orders like WooCommerce: plain offset paging skips orders that did not change', async () => {
    const emulator = await shop();
    emulator.seed(100);
    const ids = [...emulator.orders().keys()];
    emulator.beforePage = (page) => {
      if (page === 2) emulator.touch(ids[5]!);
    };
    const seen = new Set<string>();
    const auth = { authorization: `Basic ${Buffer.from(`${WC_CONSUMER_KEY}:${WC_CONSUMER_SECRET}`).toString('base64')}` };
    for (let page = 1; page <= 4; page++) {
      const res = await fetch(`${emulator.url}/wp-json/wc/v3/orders?orderby=modified&order=asc&per_page=25&page=${page}`, { headers: auth });
      for (const o of (await res.json()) as Json[]) seen.add(String(o.id));
    }
    // ids[25] moved onto page 1, already served: an order nobody touched is missed.
    expect(seen.has(ids[25]!)).toBe(false);
  });

  it('loses nothing while orders change during paging: each order’s latest version is read in this pull or the next', async () => {
    const emulator = await shop();
    emulator.seed(250);
    const ids = [...emulator.orders().keys()];
    const touched = new Set<string>();
    const touch = (i: number) => {
      emulator.touch(ids[i]!);
      touched.add(ids[i]!);
    };
    // Orders already read and orders not yet read change while the pull pages (50 per page).
    emulator.beforePage = (page) => {
      if (page === 2) [3, 49, 120].forEach(touch);
      if (page === 3) [10, 60, 230].forEach(touch);
      if (page === 4) [0, 100, 249].forEach(touch);
    };
    const adapter = source(emulator, { pageSize: 50 });
    const intake = new Intake();
    const first = await intake.pull(adapter);
    emulator.beforePage = null;
    expect(listRequests(emulator).length).toBeGreaterThanOrEqual(5);
    // Every order nobody touched was read in the first pull, once.
    const firstIds = first.map((r) => r.id);
    for (const id of ids) if (!touched.has(id)) expect(firstIds.filter((x) => x === id), `order ${id}`).toHaveLength(1);
    await intake.pull(adapter);
    expectLatest(emulator, intake);
    expectForward(intake.checkpoints);
  });

  it('reads a second holding more orders than a page completely, even while some of them change', async () => {
    const emulator = await shop();
    // A bulk action: 230 orders modified in the same second.
    emulator.seed(230, { at: new Date(Date.now() - 120_000) });
    emulator.seed(20, { days: 0.0005 });
    const ids = [...emulator.orders().keys()];
    const touched = new Set<string>();
    emulator.beforePage = (page) => {
      // Orders already read leave the crowded second: with page numbers alone the rest would shift past us.
      if (page === 2 || page === 3 || page === 5) {
        for (const i of [page, page + 20, 180 + page]) {
          emulator.touch(ids[i]!);
          touched.add(ids[i]!);
        }
      }
    };
    const adapter = source(emulator, { pageSize: 40 });
    const intake = new Intake();
    const first = await intake.pull(adapter);
    emulator.beforePage = null;
    const firstIds = new Set(first.map((r) => r.id));
    expect(ids.filter((id) => !touched.has(id) && !firstIds.has(id))).toEqual([]);
    await intake.pull(adapter);
    expectLatest(emulator, intake);
    expectForward(intake.checkpoints);
  });

  it('resumes from a saved cursor after a crash and reads the rest', async () => {
    const emulator = await shop();
    emulator.seed(120);
    const adapter = source(emulator, { pageSize: 25 });
    const intake = new Intake();
    const read: string[] = [];
    for await (const r of adapter.pull({ cursor: null })) {
      intake.latest.set(r.id, r.raw);
      if (r.checkpoint) intake.cursor = r.checkpoint;
      read.push(r.id);
      if (read.length === 37) break;
    }
    const rest = (await intake.pull(adapter)).map((r) => r.id);
    // The watermark's own second is read again (an order can change twice within one second); nothing before it.
    expect(rest.slice(1)).toEqual([...emulator.orders().keys()].filter((id) => !read.includes(id)));
    expect(rest[0]).toBe(read[36]);
    expectLatest(emulator, intake);
  });

  it('moves checkpoints only forward, and re-reads in the overlap carry none', async () => {
    const emulator = await shop();
    emulator.seed(60, { days: 0.002 });
    const adapter = source(emulator, { pageSize: 10, overlapMinutes: 10 });
    const intake = new Intake();
    await intake.pull(adapter);
    const after = intake.checkpoints.length;
    expect(after).toBeGreaterThan(0);
    const again = await intake.pull(adapter);
    expect(again.length).toBe(60);
    expect(again.filter((r) => r.checkpoint)).toEqual([]);
    emulator.touch([...emulator.orders().keys()][4]!);
    const third = await intake.pull(adapter);
    expect(third.filter((r) => r.checkpoint).map((r) => r.id)).toEqual([[...emulator.orders().keys()][4]]);
    expectForward(intake.checkpoints);
  });

  it('leaves orders modified after the window (now − lag) to a later pull', async () => {
    const emulator = await shop();
    emulator.seed(10, { days: 1 });
    const records = await drain(source(emulator, { lagSeconds: 3600 }).pull({ cursor: null }));
    const cutoff = new Date(Date.now() - 3_600_000).toISOString();
    const expected = [...emulator.orders()].filter(([, at]) => at <= cutoff).map(([id]) => id);
    expect(records.map((r) => r.id)).toEqual(expected);
  });
});

describe('WooCommerce source: throttling, broken orders, refunds, fetch', () => {
  it('retries a 429 burst and reads everything', async () => {
    const emulator = await shop();
    emulator.seed(60);
    const retried: string[] = [];
    emulator.throttle(3);
    const records = await drain(source(emulator, { pageSize: 20, retried }).pull({ cursor: null }));
    expect(records).toHaveLength(60);
    expect(emulator.stats.throttled).toBe(3);
    expect(retried).toHaveLength(3);
    expect(retried[0]).toMatch(/HTTP 429/);
  });

  it('yields a corrupt order as a record that fails to parse with its field, and the rest parse', async () => {
    const emulator = await shop();
    emulator.seed(30);
    const bad = [...emulator.orders().keys()][7]!;
    emulator.corrupt(bad);
    const adapter = source(emulator, { pageSize: 10 });
    const records = await drain(adapter.pull({ cursor: null }));
    expect(records).toHaveLength(30);
    const failures = records.flatMap((r) => {
      try {
        adapter.parse(r);
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(RecordError);
        return [{ id: r.id, field: (error as RecordError).field, message: (error as RecordError).message }];
      }
    });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ id: bad, field: 'line_items[0].total' });
    expect(failures[0]!.message).toContain('12,50');
  });

  it('quarantines an order without date_modified_gmt or id by a read error naming the field; the rest flow', async () => {
    const emulator = await shop();
    emulator.seed(12);
    const ids = [...emulator.orders().keys()];
    emulator.alter(ids[3]!, (o) => delete o.date_modified_gmt);
    emulator.alter(ids[8]!, (o) => delete o.id);
    const adapter = source(emulator, { pageSize: 5 });
    const records = await drain(adapter.pull({ cursor: null }));
    expect(records).toHaveLength(12);
    const broken = records.filter((r) => r.readError);
    expect(broken.map((r) => r.readError!.split(':')[0])).toEqual(['date_modified_gmt', 'id']);
    expect(broken[0]!.id).toBe(ids[3]);
    expect(broken.every((r) => !r.checkpoint)).toBe(true);
    for (const r of broken) expect(() => adapter.parse(r)).toThrow(RecordError);
    for (const r of records.filter((x) => !x.readError)) expect(adapter.parse(r).id).toBe(r.id);
  });

  it('embeds the full refunds (with their lines) of refunded orders, read per order or through /wc/v3/refunds alike', async () => {
    const emulator = await shop();
    emulator.seed(80);
    const refunded = [...emulator.orders().keys()].filter((id) => ((emulator.order(id)!.refunds as unknown[]) ?? []).length > 0);
    expect(refunded.length).toBeGreaterThan(1);
    emulator.refund(refunded[0]!);

    const perOrder = await drain(source(emulator, { pageSize: 30 }).pull({ cursor: null }));
    const perOrderRequests = emulator.requestLog.filter((r) => /\/orders\/\d+\/refunds/.test(r.url)).length;
    expect(perOrderRequests).toBe(refunded.length);
    const batched = await drain(source(emulator, { pageSize: 30, refundsEndpoint: true }).pull({ cursor: null }));
    expect(emulator.requestLog.filter((r) => r.url.startsWith('/wp-json/wc/v3/refunds?')).length).toBeLessThanOrEqual(3);
    expect(batched.map((r) => r.raw)).toEqual(perOrder.map((r) => r.raw));

    const adapter = source(emulator);
    for (const r of perOrder.filter((x) => refunded.includes(x.id))) {
      const raw = JSON.parse(r.raw) as { refunds: { amount: string; line_items: unknown[] }[] };
      expect(raw.refunds.length).toBeGreaterThan(0);
      for (const refund of raw.refunds) {
        expect(refund.amount).toMatch(/^\d+\.\d{2}$/);
        expect(refund.line_items).toHaveLength(1);
      }
      const order = adapter.parse(r);
      expect(order.refunds.map((x) => x.lines.length)).toEqual(raw.refunds.map(() => 1));
      expect(order.refunds.every((x) => x.lines[0]!.lineRef === order.lines[0]!.ref)).toBe(true);
    }
    expect((JSON.parse(perOrder.find((r) => r.id === refunded[0])!.raw) as Json).refunds).toHaveLength(2);
  });

  it('falls back to refunds per order on a shop without /wc/v3/refunds (before WooCommerce 9)', async () => {
    const emulator = await shop({ refundsEndpoint: false });
    emulator.seed(80);
    const records = await drain(source(emulator, { pageSize: 30, refundsEndpoint: true }).pull({ cursor: null }));
    expect(records).toHaveLength(80);
    expect(emulator.requestLog.filter((r) => r.url.startsWith('/wp-json/wc/v3/refunds?'))).toHaveLength(1);
    expect(emulator.requestLog.filter((r) => /\/orders\/\d+\/refunds/.test(r.url)).length).toBeGreaterThan(0);
  });

  it('fetches one order with its refunds, and null for an order the shop does not have', async () => {
    const emulator = await shop();
    emulator.seed(30);
    const refunded = [...emulator.orders().keys()].find((id) => ((emulator.order(id)!.refunds as unknown[]) ?? []).length > 0)!;
    const adapter = source(emulator);
    const record = await adapter.fetch(refunded);
    expect(record).toMatchObject({ id: refunded, origin: `${emulator.url}/wp-json/wc/v3/orders/${refunded}` });
    expect(record!.checkpoint).toBeUndefined();
    expect(adapter.parse(record!).refunds[0]!.lines).toHaveLength(1);
    expect(await adapter.fetch('999999')).toBeNull();
  });
});

describe('WooCommerce source: credentials', () => {
  it('sends the key pair as HTTP Basic only, and no error message carries the secret (a 401 that echoes it)', async () => {
    const emulator = await shop();
    emulator.seed(3);
    await drain(source(emulator).pull({ cursor: null }));
    expect(emulator.requestLog.every((r) => r.auth === 'basic')).toBe(true);

    const wrong = 'cs_wrong_5e3c1d9a7b';
    const token = Buffer.from(`${WC_CONSUMER_KEY}:${wrong}`).toString('base64');
    const retried: string[] = [];
    // Once with a client that knows the secret, once with one that does not: the adapter redacts either way.
    for (const clientSecrets of [[WC_CONSUMER_KEY, wrong], []]) {
      const adapter = source(emulator, { secret: wrong, clientSecrets, retried });
      const error = await drain(adapter.pull({ cursor: null })).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(401);
      const fetchError = await adapter.fetch('5001').catch((e: unknown) => e);
      for (const e of [error, fetchError] as HttpError[]) {
        const text = `${e.message}\n${e.body}\n${e.stack ?? ''}`;
        expect(text).toMatch(/401/);
        for (const secret of [wrong, token, WC_CONSUMER_SECRET]) expect(text).not.toContain(secret);
      }
    }
    expect(retried.join('\n')).not.toContain(wrong);
    // The shop did receive the header: the body it sent back had it.
    expect(emulator.requestLog.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(4);
    for (const r of emulator.requestLog) expect(r.url).not.toMatch(/consumer_(key|secret)|cs_/);
  });

  it('describes itself without secrets', async () => {
    const emulator = await shop();
    const adapter = source(emulator);
    expect(adapter.describe()).toEqual({ type: 'woocommerce', url: emulator.url });
    expect(wooCommerceSubject.sourceYaml(emulator, 25)).toBe(
      `    type: woocommerce\n    base_url: ${emulator.url}\n    consumer_key: ck_test\n    consumer_secret: cs_test\n    page_size: 25\n    lag_seconds: 0\n`,
    );
  });
});
