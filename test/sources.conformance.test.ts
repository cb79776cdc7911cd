/**
 * The conformance suite every shop API source passes, against its shop's loopback emulator
 * and through kontor's real intake (SQLite file, document store, quarantine): paging across
 * several pages while records change and shift between pages, re-reads in the overlap
 * de-duplicated, empty pages, a 429 storm, a malformed record quarantined with its reason
 * while the rest flow, and resuming after a crash from the stored cursor.
 *
 * "Exactly once" is read off the document store: every order of the shop has exactly one
 * current invoice (an order that changed after it was booked has its first invoice taken back by
 * a correction, docs/mapping.md#corrections), and the latest version the shop holds is the one
 * kontor last stored.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { pullSource } from '../src/service/intake.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import type { SourceAdapter, SourceRecord } from '../src/sources/types.js';
import { SUBJECTS } from './emulators/index.js';
import type { ConformanceSubject, ShopEmulator } from './emulators/shop.js';
import { captureStream, freshDatabase, tempProject } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function emulatorOf(subject: ConformanceSubject): Promise<ShopEmulator> {
  const emulator = await subject.start();
  cleanups.push(() => emulator.close());
  return emulator;
}

/** A project whose only source is the emulated shop, booking into the journal, on a fresh SQLite file. */
async function project(subject: ConformanceSubject, emulator: ShopEmulator, pageSize = 25) {
  const yaml = `sources:\n  shop:\n${subject.sourceYaml(emulator, pageSize)}    mapping: ${subject.mapping}\n    requests_per_second: 100\n    retry_base_delay_ms: 10\ntargets:\n  journal:\n    type: journal\n`;
  const dir = tempProject(yaml);
  writeFileSync(path.join(dir, 'config.yaml'), yaml);
  const config = loadConfig(path.join(dir, 'config.yaml'), {});
  const { db, drop } = await freshDatabase('sqlite');
  const logs = captureStream();
  cleanups.push(() => drop().catch(() => undefined));
  const open = async (): Promise<Runtime> => {
    const rt = await openRuntime(config, createLogger({ format: 'json', stream: logs.stream }), { db });
    cleanups.push(async () => {
      for (const b of rt.sources.values()) await b.adapter.close?.();
    });
    return rt;
  };
  return { open, db, logs };
}

/** Per order, its invoices; `current`: less those a correction took back (a storno, or a credit note of part `correction`). */
async function invoicesBySubject(db: Runtime['db'], which: 'current' | 'all' = 'current'): Promise<Map<string, number>> {
  const rows = (await db('documents').where({ source: 'shop' }).whereIn('kind', ['invoice', 'storno', 'credit-note']).select('subject', 'kind', 'part')) as { subject: string; kind: string; part: string }[];
  const counts = new Map<string, number>();
  for (const r of rows) {
    const takenBack = r.kind === 'storno' || (r.kind === 'credit-note' && /(^|-)correction$/.test(r.part));
    const delta = r.kind === 'invoice' ? 1 : takenBack && which === 'current' ? -1 : 0;
    if (delta !== 0 || r.kind === 'invoice') counts.set(r.subject, (counts.get(r.subject) ?? 0) + delta);
  }
  return counts;
}

/** The updated-at of the version kontor last stored, per order id (parsed from the stored raw). */
async function storedVersions(db: Runtime['db'], adapter: SourceAdapter): Promise<Map<string, string>> {
  const rows = (await db('source_snapshots').where({ source: 'shop' }).orderBy('id').select('record_id', 'raw')) as { record_id: string; raw: string }[];
  const latest = new Map<string, string>();
  for (const r of rows) {
    try {
      latest.set(r.record_id, adapter.parse({ id: r.record_id, raw: r.raw, origin: 'stored' }).updatedAt);
    } catch {
      // an unreadable version; quarantine tests look at those
    }
  }
  return latest;
}

async function quarantined(db: Runtime['db']): Promise<{ record_id: string; reason: string; field: string | null }[]> {
  return (await db('quarantine').where({ source: 'shop' }).whereNull('resolved_at').select('record_id', 'reason', 'field')) as { record_id: string; reason: string; field: string | null }[];
}

/** Every order the shop has is booked once, and the shop's latest version is the one stored. */
async function expectExactlyOnce(db: Runtime['db'], adapter: SourceAdapter, emulator: ShopEmulator, except: readonly string[] = []) {
  const shop = emulator.orders();
  const invoices = await invoicesBySubject(db);
  for (const [id] of shop) {
    if (except.includes(id)) continue;
    expect(invoices.get(id), `order ${id}: invoices`).toBe(1);
  }
  expect([...invoices.keys()].filter((id) => !shop.has(id))).toEqual([]);
  const stored = await storedVersions(db, adapter);
  for (const [id, updatedAt] of shop) {
    if (except.includes(id)) continue;
    expect(stored.get(id), `order ${id}: stored version`).toBe(new Date(updatedAt).toISOString());
  }
}

describe.each(SUBJECTS)('source conformance: $name', (subject) => {
  it('pages through several pages while orders change and shift between pages, and loses none', async () => {
    const emulator = await emulatorOf(subject);
    emulator.seed(120);
    const ids = [...emulator.orders().keys()];
    const { open, db } = await project(subject, emulator, 25);
    const rt = await open();
    // While the pull pages, orders it has read and orders it has not yet read change: each
    // moves to the end of the updated-at order and shifts the others forward by one.
    emulator.beforePage = (page) => {
      if (page === 2) for (const id of [ids[3]!, ids[70]!]) emulator.touch(id);
      if (page === 3) for (const id of [ids[10]!, ids[100]!]) emulator.touch(id);
    };
    const first = await pullSource(rt, 'shop');
    emulator.beforePage = null;
    expect(emulator.stats.listRequests).toBeGreaterThanOrEqual(5);
    const second = await pullSource(rt, 'shop');
    expect(first.read + second.read).toBeGreaterThanOrEqual(120);
    // Orders changed after they were booked are corrected (docs/mapping.md#corrections): their
    // invoice taken back, the new version booked as a new invoice. None waits in the quarantine,
    // none is lost or doubled, and the shop's latest version is the one stored.
    expect(await quarantined(db)).toEqual([]);
    await expectExactlyOnce(db, rt.sources.get('shop')!.adapter, emulator);
    const corrected = [...(await invoicesBySubject(db, 'all')).entries()].filter(([, n]) => n > 1).map(([id]) => id);
    for (const id of corrected) expect([ids[3], ids[10], ids[70], ids[100]]).toContain(id);
  });

  it('re-reads the overlap window without booking anything twice', async () => {
    const emulator = await emulatorOf(subject);
    emulator.seed(40, { days: 0.001 });
    const { open, db } = await project(subject, emulator, 15);
    const rt = await open();
    const first = await pullSource(rt, 'shop');
    expect(first.booked).toBe(40);
    const requestsBefore = emulator.stats.listRequests;
    const again = await pullSource(rt, 'shop');
    expect(emulator.stats.listRequests).toBeGreaterThan(requestsBefore);
    expect(again.booked).toBe(0);
    expect(again.quarantined).toBe(0);
    await expectExactlyOnce(db, rt.sources.get('shop')!.adapter, emulator);
  });

  it('copes with an empty shop and with empty pages, then books what arrives', async () => {
    const emulator = await emulatorOf(subject);
    const { open, db } = await project(subject, emulator, 10);
    const rt = await open();
    expect((await pullSource(rt, 'shop')).read).toBe(0);
    emulator.seed(20);
    const stats = await pullSource(rt, 'shop');
    expect(stats.booked).toBe(20);
    await expectExactlyOnce(db, rt.sources.get('shop')!.adapter, emulator);
  });

  it('rides out a 429 storm', async () => {
    const emulator = await emulatorOf(subject);
    emulator.seed(30);
    const { open, db } = await project(subject, emulator, 10);
    const rt = await open();
    emulator.throttle(6);
    const stats = await pullSource(rt, 'shop');
    expect(emulator.stats.throttled).toBe(6);
    expect(stats.booked).toBe(30);
    await expectExactlyOnce(db, rt.sources.get('shop')!.adapter, emulator);
  });

  it('quarantines a malformed order with its reason and books the rest', async () => {
    const emulator = await emulatorOf(subject);
    emulator.seed(25);
    const bad = [...emulator.orders().keys()][7]!;
    emulator.corrupt(bad);
    const { open, db } = await project(subject, emulator, 10);
    const rt = await open();
    const stats = await pullSource(rt, 'shop');
    expect(stats.quarantined).toBe(1);
    expect(stats.booked).toBe(24);
    const [q] = await quarantined(db);
    expect(q!.record_id).toBe(bad);
    expect(`${q!.field ?? ''} ${q!.reason}`).toMatch(/12,50|10\.005|amount|decimal/i);
    await expectExactlyOnce(db, rt.sources.get('shop')!.adapter, emulator, [bad]);
  });

  it('resumes after a crash from the stored cursor and books every order once', async () => {
    const emulator = await emulatorOf(subject);
    emulator.seed(80);
    const { open, db } = await project(subject, emulator, 20);
    const crashing = await open();
    const binding = crashing.sources.get('shop')!;
    const real = binding.adapter;
    let taken = 0;
    // The process dies after 33 records: everything stored so far stays, the rest is lost with it.
    const dying: SourceAdapter = {
      name: real.name,
      type: real.type,
      describe: () => real.describe(),
      fetch: (id) => real.fetch(id),
      parse: (r) => real.parse(r),
      async *pull(options) {
        for await (const record of real.pull(options) as AsyncIterable<SourceRecord>) {
          if (++taken > 33) throw new Error('killed');
          yield record;
        }
      },
    };
    crashing.sources.set('shop', { ...binding, adapter: dying });
    await expect(pullSource(crashing, 'shop')).rejects.toThrow('killed');
    const cursor = (await db('source_cursors').where({ source: 'shop' }).first()) as { cursor: string } | undefined;
    expect(cursor?.cursor).toBeTruthy();
    const restarted = await open();
    const stats = await pullSource(restarted, 'shop');
    expect(stats.booked).toBe(80 - 33);
    await expectExactlyOnce(db, restarted.sources.get('shop')!.adapter, emulator);
  });
});
