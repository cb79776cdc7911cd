/**
 * The Shopware 6 Admin API source against the loopback Shopware (test/emulators/shopware.ts):
 * OAuth client credentials and re-authentication, keyset paging over the two halves of
 * "changed since" (never updated: createdAt; updated: updatedAt) merged by time, orders that
 * change while the pull pages, 429s, a malformed order, fetch by id.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { balanceByCurrency } from '../src/books/index.js';
import { RecordError } from '../src/errors.js';
import { HttpClient } from '../src/http/client.js';
import { loadMapping } from '../src/mapping/load.js';
import { mapOrder } from '../src/mapping/map-order.js';
import { ShopwareCredentialsError, ShopwareSource } from '../src/sources/shopware.js';
import type { SourceRecord } from '../src/sources/types.js';
import { compareWatermarks, decodeWatermark } from '../src/sources/watermark.js';
import { CLIENT_ID, CLIENT_SECRET, startShopware, type ShopwareEmulator, type ShopwareEmulatorOptions } from './emulators/shopware.js';
import { ROOT } from './helpers.js';

/** The requests one small pull sends, with placeholders for times and ids. */
const CRITERIA = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'shopware-api', 'search-criteria.json'), 'utf8')) as {
  requests: Record<string, unknown>[];
  associations: Record<string, unknown>;
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function shop(options: ShopwareEmulatorOptions = {}): Promise<ShopwareEmulator> {
  const emu = await startShopware(options);
  cleanups.push(() => emu.close());
  return emu;
}

interface SourceOptions {
  pageSize?: number;
  overlapMinutes?: number;
  clientSecret?: string;
}

function source(emu: ShopwareEmulator, options: SourceOptions = {}): ShopwareSource {
  const secret = options.clientSecret ?? CLIENT_SECRET;
  const http = new HttpClient({ name: 'source shop', secrets: [secret], baseDelayMs: 1, maxDelayMs: 20 });
  const src = new ShopwareSource({
    name: 'shop',
    baseUrl: emu.url,
    pageSize: options.pageSize,
    window: { overlapMinutes: options.overlapMinutes ?? 0, lagSeconds: 0 },
    http,
    clientId: CLIENT_ID,
    clientSecret: secret,
  });
  cleanups.push(() => src.close());
  return src;
}

async function pullAll(src: ShopwareSource, cursor: string | null = null): Promise<{ records: SourceRecord[]; cursor: string | null }> {
  const records: SourceRecord[] = [];
  let last = cursor;
  for await (const r of src.pull({ cursor })) {
    records.push(r);
    if (r.checkpoint) last = r.checkpoint;
  }
  return { records, cursor: last };
}

/** The time a record stands at in the watermark: updatedAt ?? createdAt, ISO UTC. */
function timeOf(r: SourceRecord): string {
  const e = JSON.parse(r.raw) as { updatedAt: string | null; createdAt: string };
  return new Date(e.updatedAt ?? e.createdAt).toISOString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Shopware source: paging', () => {
  it('reads 250 orders over several pages exactly once, never-updated ones included, in time order', async () => {
    const emu = await shop();
    emu.seed(250);
    const src = source(emu, { pageSize: 40 });
    const { records, cursor } = await pullAll(src);
    const ids = records.map((r) => r.id);
    expect(ids.length).toBe(250);
    expect(new Set(ids)).toEqual(new Set(emu.orders().keys()));
    const neverUpdated = records.filter((r) => (JSON.parse(r.raw) as { updatedAt: unknown }).updatedAt === null);
    expect(neverUpdated.length).toBeGreaterThan(30);
    expect(neverUpdated.length).toBeLessThan(250);
    // One sequence by (updatedAt ?? createdAt, id), so every record moves the watermark forward.
    const marks = records.map((r) => ({ updatedAt: timeOf(r), id: r.id }));
    for (let i = 1; i < marks.length; i++) expect(compareWatermarks(marks[i - 1]!, marks[i]!)).toBeLessThan(0);
    expect(records.every((r) => r.checkpoint)).toBe(true);
    expect(decodeWatermark(cursor)).toEqual(marks[marks.length - 1]);
    expect(records[0]!.origin).toBe(`${emu.url}/api/order/${records[0]!.id}`);
    // Several pages of each search, each a keyset page (page 1, range from the last time read).
    expect(emu.stats.listRequests).toBeGreaterThanOrEqual(Math.ceil(250 / 40));
    expect(emu.searches.every((c) => c.page === 1 && c.limit === 40 && c['total-count-mode'] === 0)).toBe(true);
    for (const r of records) expect(src.parse(r).id).toBe(r.id);
    // The next pull from the cursor reads nothing new.
    const again = await pullAll(src, cursor);
    expect(again.records.length).toBeLessThanOrEqual(1);
  });

  it('asks for plain JSON and for every association the order parser reads', async () => {
    const emu = await shop();
    emu.seed(3);
    const src = source(emu);
    await pullAll(src);
    const criteria = emu.searches[0]!;
    expect(criteria.limit).toBe(100);
    expect(criteria.associations).toEqual(CRITERIA.associations);
    // Without Accept: application/json Shopware answers JSON:API, which the parser refuses.
    const token = (await (await fetch(`${emu.url}/api/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }) })).json()) as { access_token: string };
    const res = await fetch(`${emu.url}/api/search/order`, { method: 'POST', headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' }, body: JSON.stringify({ limit: 1, associations: criteria.associations }) });
    expect(res.headers.get('content-type')).toContain('application/vnd.api+json');
    const doc = (await res.json()) as { data: unknown[] };
    expect(() => src.parse({ id: 'x', raw: JSON.stringify(doc.data[0]), origin: 'x' })).toThrow(/JSON:API/);
  });

  it('sends the criteria of the fixture: two searches, keyset pages', async () => {
    const emu = await shop();
    const at = new Date(Date.now() - 60_000);
    emu.seed(3, { at, neverUpdated: 0 });
    const [id1, id2] = [...emu.orders().keys()];
    await pullAll(source(emu, { pageSize: 2 }));
    expect(emu.searches.length).toBe(3);
    const until = (emu.searches[0]!.filter as { parameters?: { lte: string } }[])[1]!.parameters!.lte;
    const dal = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
    const fill = (text: string) =>
      text.replaceAll('{until}', until).replaceAll('{at}', dal(at)).replaceAll('{id1}', id1!).replaceAll('{id2}', id2!);
    const expected = (JSON.parse(fill(JSON.stringify(CRITERIA.requests))) as Record<string, unknown>[]).map((c) => ({ ...c, associations: CRITERIA.associations }));
    expect(emu.searches).toEqual(expected);
  });

  it('never asks for more than 500 orders a page', async () => {
    const emu = await shop();
    emu.seed(2);
    await pullAll(source(emu, { pageSize: 5000 }));
    expect(emu.searches[0]!.limit).toBe(500);
  });

  it('loses nothing when orders change and shift while it pages, across this pull and the next from the saved cursor', async () => {
    const emu = await shop();
    emu.seed(200);
    const ids = [...emu.orders().keys()];
    const neverUpdated = ids.filter((id) => emu.entity(id).updatedAt === null);
    const src = source(emu, { pageSize: 25 });
    // Orders already read and orders not yet read change: each leaves its place (a never-updated
    // one even leaves its search), which would shift every later order by one under offsets.
    const touched: string[] = [];
    emu.beforePage = (page) => {
      const pick = page === 2 ? [ids[0]!, ids[77]!, ids[150]!, neverUpdated[5]!, neverUpdated[20]!] : page === 4 ? [ids[3]!, ids[120]!, ids[199]!, neverUpdated[30]!] : [];
      for (const id of pick) emu.touch(id);
      touched.push(...pick);
    };
    const first = await pullAll(src);
    emu.beforePage = null;
    expect(touched.length).toBe(9);
    // No overlap window: what the cursor says is all the next pull gets.
    const second = await pullAll(src, first.cursor);
    const latest = new Map<string, string>();
    for (const r of [...first.records, ...second.records]) {
      const t = timeOf(r);
      if ((latest.get(r.id) ?? '') < t) latest.set(r.id, t);
    }
    for (const [id, updatedAt] of emu.orders()) expect(latest.get(id), `order ${id}`).toBe(updatedAt);
    // Every unchanged order was read once; changed ones at most once per version.
    const unchanged = first.records.filter((r) => !touched.includes(r.id));
    expect(new Set(unchanged.map((r) => r.id)).size).toBe(unchanged.length);
    expect(first.records.length + second.records.length).toBeLessThanOrEqual(200 + touched.length);
  });

  it('reads every order of one instant when they fill more than a page', async () => {
    const emu = await shop();
    emu.seed(95, { at: new Date(Date.now() - 3_600_000) });
    emu.seed(30);
    const { records } = await pullAll(source(emu, { pageSize: 20 }));
    expect(records.length).toBe(125);
    expect(new Set(records.map((r) => r.id)).size).toBe(125);
  });

  it('resumes from the last checkpoint after a crash and misses nothing', async () => {
    const emu = await shop();
    emu.seed(120);
    const src = source(emu, { pageSize: 15 });
    const seen = new Set<string>();
    let cursor: string | null = null;
    let n = 0;
    for await (const r of src.pull({ cursor: null })) {
      if (++n > 47) break;
      seen.add(r.id);
      if (r.checkpoint) cursor = r.checkpoint;
    }
    const rest = await pullAll(src, cursor);
    for (const r of rest.records) seen.add(r.id);
    expect(seen).toEqual(new Set(emu.orders().keys()));
    expect(rest.records.length).toBeLessThanOrEqual(120 - 47 + 1);
  });
});

describe('Shopware source: authentication', () => {
  it('renews an expiring token before it runs out, once', async () => {
    const emu = await shop({ tokenTtlSeconds: 1 });
    emu.seed(60);
    const src = source(emu, { pageSize: 20 });
    const records: SourceRecord[] = [];
    for await (const r of src.pull({ cursor: null })) {
      records.push(r);
      if (records.length === 1) await sleep(1_100);
    }
    expect(records.length).toBe(60);
    expect(emu.stats.tokenRequests).toBe(2);
  });

  it('answers a 401 in the middle of a pull with one re-authentication, not a failure', async () => {
    const emu = await shop();
    emu.seed(80);
    const src = source(emu, { pageSize: 20 });
    emu.beforePage = (page) => {
      if (page === 2) emu.revokeTokens();
    };
    const { records } = await pullAll(src);
    expect(records.length).toBe(80);
    expect(emu.stats.unauthorized).toBe(1);
    expect(emu.stats.tokenRequests).toBe(2);
  });

  it('gives up with a clear error when even a fresh token is refused', async () => {
    const emu = await shop({ tokenTtlSeconds: 0 });
    emu.seed(5);
    await expect(pullAll(source(emu))).rejects.toThrow(/refused a fresh access token \(HTTP 401\)/);
    expect(emu.stats.tokenRequests).toBe(2);
  });

  it('fails on wrong credentials with a clear message that carries no secret', async () => {
    const emu = await shop();
    emu.seed(5);
    const secret = 'SWsecretWRONG0123456789abcdefghijklmnopqrstuv';
    const error = await pullAll(source(emu, { clientSecret: secret })).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ShopwareCredentialsError);
    expect(error!.message).toMatch(/refused the integration's credentials \(HTTP 401 from \/api\/oauth\/token\): check client_id and client_secret/);
    expect(error!.message).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
    expect(emu.stats.tokenRequests).toBe(1);
    expect(emu.stats.listRequests).toBe(0);
  });
});

describe('Shopware source: failures and single orders', () => {
  it('retries 429 answers (Retry-After) and reads everything', async () => {
    const emu = await shop();
    emu.seed(45);
    emu.throttle(3);
    const { records } = await pullAll(source(emu, { pageSize: 10 }));
    expect(emu.stats.throttled).toBe(3);
    expect(records.length).toBe(45);
  });

  it('lets a corrupt order fail its parse, naming the field, while the others parse', async () => {
    const emu = await shop();
    emu.seed(30);
    const bad = [...emu.orders().keys()][11]!;
    emu.corrupt(bad);
    const src = source(emu, { pageSize: 10 });
    const { records } = await pullAll(src);
    expect(records.length).toBe(30);
    for (const r of records) {
      if (r.id !== bad) {
        expect(() => src.parse(r)).not.toThrow();
        continue;
      }
      let error: unknown;
      try {
        src.parse(r);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RecordError);
      expect((error as RecordError).field).toBe('lineItems[0].price.totalPrice');
      expect((error as RecordError).message).toContain('12,50');
    }
  });

  it('hands on an entity without an id as unreadable, naming the field, and keeps going', async () => {
    const emu = await shop();
    emu.seed(12);
    const broken = [...emu.orders().keys()][4]!;
    emu.mutate(broken, (e) => {
      delete e.id;
    });
    const src = source(emu, { pageSize: 5 });
    const { records } = await pullAll(src);
    expect(records.length).toBe(12);
    const unreadable = records.filter((r) => r.readError);
    expect(unreadable.length).toBe(1);
    expect(unreadable[0]!.readError).toMatch(/^id: missing/);
    expect(unreadable[0]!.checkpoint).toBeUndefined();
    expect(() => src.parse(unreadable[0]!)).toThrow(expect.objectContaining({ field: 'id' }));
  });

  it('fetches one order by id, its current version, or null', async () => {
    const emu = await shop();
    emu.seed(10);
    const id = [...emu.orders().keys()][6]!;
    const src = source(emu);
    const record = await src.fetch(id);
    expect(record).toMatchObject({ id, origin: `${emu.url}/api/order/${id}` });
    // The shop's entity, less the one association the parser does not read (delivery states).
    const expected = emu.entity(id) as { deliveries: { stateMachineState: unknown }[] };
    for (const d of expected.deliveries) d.stateMachineState = null;
    expect(JSON.parse(record!.raw)).toEqual(expected);
    emu.touch(id);
    const after = await src.fetch(id);
    expect(src.parse(after!).updatedAt).toBe(emu.orders().get(id));
    expect(after!.raw).not.toBe(record!.raw);
    expect(await src.fetch('0'.repeat(32))).toBeNull();
    expect(await src.fetch('not-an-id')).toBeNull();
    expect(emu.stats.listRequests).toBe(0);
    // An entity the watermark cannot place is unreadable, naming the field.
    emu.mutate(id, (e) => {
      e.updatedAt = null;
      delete e.createdAt;
    });
    expect((await src.fetch(id))!.readError).toMatch(/^createdAt: missing/);
  });

  it('describes itself without secrets', async () => {
    const emu = await shop();
    expect(source(emu).describe()).toEqual({ type: 'shopware', url: emu.url });
  });
});

describe('Shopware emulator', () => {
  it('seeds orders that the shipped mapping books faithfully, before and after a change', async () => {
    const emu = await shop();
    emu.seed(300);
    const ids = [...emu.orders().keys()];
    for (const id of ids.slice(0, 40)) emu.touch(id);
    const mapping = loadMapping(path.join(ROOT, 'mappings', 'shopware-ch.yaml'));
    const src = source(emu);
    const seen = { net: 0, promotion: 0, neverUpdated: 0, guest: 0, states: new Set<string>(), rounded: 0 };
    for (const id of ids) {
      const entity = emu.entity(id) as { taxStatus: string; updatedAt: unknown; lineItems: { type: string }[]; orderCustomer: { customer: { guest: boolean } } };
      const order = src.parse({ id, raw: JSON.stringify(entity), origin: id });
      const outcome = await mapOrder(order, mapping);
      if (outcome.kind !== 'documents') throw new Error(`${id}: ${outcome.kind}`);
      for (const doc of outcome.documents) for (const balance of Object.values(balanceByCurrency([doc]))) expect(balance).toBe(0);
      const invoice = outcome.invoice!;
      const cash = invoice.rounding.filter((r) => r.reason === 'cash').reduce((a, r) => a + r.amount, 0);
      expect(invoice.total - cash).toBe(order.total);
      expect(Object.fromEntries(invoice.tax.map((t) => [t.rate, t.amount]))).toEqual(Object.fromEntries(order.taxTotals.filter((t) => t.tax !== 0).map((t) => [t.rate, t.tax])));
      expect(order.currency).toBe('CHF');
      if (entity.taxStatus === 'net') seen.net++;
      if (entity.lineItems.some((l) => l.type === 'promotion')) seen.promotion++;
      if (entity.updatedAt === null) seen.neverUpdated++;
      if (entity.orderCustomer.customer.guest) seen.guest++;
      if (cash !== 0) seen.rounded++;
      seen.states.add(order.status);
    }
    expect(seen.net).toBeGreaterThan(20);
    expect(seen.promotion).toBeGreaterThan(20);
    expect(seen.neverUpdated).toBeGreaterThan(20);
    expect(seen.guest).toBeGreaterThan(10);
    expect(seen.states).toEqual(new Set(['open', 'in_progress', 'completed']));
  });

  it('leaves out associations a search does not ask for', async () => {
    const emu = await shop();
    emu.seed(1);
    const token = (await (await fetch(`${emu.url}/api/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }) })).json()) as { access_token: string };
    const res = await fetch(`${emu.url}/api/search/order`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ associations: { lineItems: {}, 'deliveries.shippingMethod': {} } }),
    });
    const { data } = (await res.json()) as { data: Record<string, unknown>[] };
    expect(data[0]!.lineItems).toBeInstanceOf(Array);
    expect(data[0]!.currency).toBeNull();
    const delivery = (data[0]!.deliveries as Record<string, unknown>[])[0]!;
    expect(delivery.shippingMethod).not.toBeNull();
    expect(delivery.shippingOrderAddress).toBeNull();
    const src = source(emu);
    expect(() => src.parse({ id: 'x', raw: JSON.stringify(data[0]), origin: 'x' })).toThrow(/association/);
  });
});

describe('Shopware source: a pull across many pages', () => {
  // Its speed is a figure of `npm run bench` (pull), not an assertion here.
  it('pulls 2,000 orders in pages of 100, each once, and a second pull from the end cursor finds nothing new', async () => {
    const emu = await shop();
    emu.seed(2_000);
    const src = source(emu);
    const first = await pullAll(src);
    expect(first.records).toHaveLength(2_000);
    const ids = new Set(first.records.map((r) => r.id));
    expect(ids.size).toBe(2_000);
    expect(emu.stats.listRequests).toBeGreaterThanOrEqual(20);
    // At most the records at the watermark itself come again (the cursor's overlap); intake knows them.
    const again = (await pullAll(src, first.cursor)).records;
    expect(again.length).toBeLessThan(5);
    expect(again.every((r) => ids.has(r.id))).toBe(true);
  });
});
