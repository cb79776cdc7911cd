/**
 * The file source as an inbox (`move_processed`): files whose orders are all taken in move to
 * done/, files with a quarantined or unreadable record to failed/ with a reason file; done/ and
 * failed/ are never read again; a crash before the move reads the file again without booking
 * anything twice. Real temp folders, real SQLite, intake as the service runs it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { createLogger, silentLogger, type Logger } from '../src/log/logger.js';
import { pullSource, takeIn } from '../src/service/intake.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { FileSource } from '../src/sources/file.js';
import type { SourceAdapter } from '../src/sources/types.js';
import { closeQuarantined, listQuarantine } from '../src/store/quarantine.js';
import { captureStream, freshDatabase, tempProject } from './helpers.js';

interface Harness {
  rt: Runtime;
  dir: string;
  orders: string;
  config: string;
  /** A runtime on the same database and folders, as after a restart. */
  restart: (logger?: Logger) => Promise<Runtime>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The sample project; `settings` are added to the samples source (e.g. `move_processed: true`). */
async function harness(settings = '', logger: Logger = silentLogger()): Promise<Harness> {
  const dir = tempProject();
  const config = path.join(dir, 'config.yaml');
  const yaml = readFileSync(config, 'utf8');
  expect(yaml).toContain('    mapping: woocommerce-ch.yaml\n');
  writeFileSync(config, yaml.replace('    mapping: woocommerce-ch.yaml\n', `    mapping: woocommerce-ch.yaml\n${settings.replace(/^/gm, '    ')}\n`));
  const { db, drop } = await freshDatabase('sqlite');
  cleanups.push(drop);
  const rt = await openRuntime(loadConfig(config, {}), logger, { db });
  return {
    rt,
    dir,
    config,
    orders: path.join(dir, 'examples', 'orders'),
    restart: (l = silentLogger()) => openRuntime(loadConfig(config, {}), l, { db, migrate: false }),
  };
}

const MOVE = 'move_processed: true';

function ls(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function orderFiles(dir: string): string[] {
  return ls(dir).filter((n) => /\.(json|jsonl|csv)$/.test(n));
}

function sample(n: number): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'examples', 'orders', `wc-order-${n}.json`), 'utf8')) as Record<string, unknown>;
}

/** Sample 1001 under another id and number, so that it is a new order. */
function newOrder(id: number, change: (o: Record<string, unknown>) => void = () => undefined): Record<string, unknown> {
  const order = { ...sample(1001), id, number: String(id) };
  change(order);
  return order;
}

function badAmount(o: Record<string, unknown>): void {
  (o.line_items as Record<string, unknown>[])[0]!.total = '12,50';
}

/** Write a file with an mtime `offsetMs` from now (later files are read later). */
function drop(dir: string, name: string, text: string, offsetMs = 60_000): void {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  const at = new Date(Date.now() + offsetMs);
  utimesSync(file, at, at);
}

async function counts(rt: Runtime): Promise<{ snapshots: number; documents: number; entries: number }> {
  const n = async (table: string) => Number(((await rt.db(table).count({ n: '*' }).first()) as { n: number | string }).n);
  return { snapshots: await n('source_snapshots'), documents: await n('documents'), entries: await n('outbox_entries') };
}

const SAMPLES = ['wc-order-1001.json', 'wc-order-1002.json', 'wc-order-1003.json', 'wc-order-1004.json', 'wc-order-1005.json'];

describe('file source without move_processed (the default)', () => {
  it('leaves files where they are and skips them by the cursor', async () => {
    const h = await harness();
    expect(h.rt.config.raw.sources.samples).toMatchObject({ move_processed: false, done_folder: 'done', failed_folder: 'failed' });
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 5, booked: 5 });
    expect(orderFiles(h.orders)).toEqual(SAMPLES);
    expect(ls(path.join(h.orders, 'done'))).toEqual([]);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 0 });
  });
});

describe('file source with move_processed', () => {
  it('moves every file whose orders were all taken in to done/, and never reads done/ again', async () => {
    const h = await harness(MOVE);
    const first = await pullSource(h.rt, 'samples');
    expect(first).toMatchObject({ read: 5, booked: 5, quarantined: 0 });
    expect(orderFiles(h.orders)).toEqual([]);
    expect(ls(path.join(h.orders, 'done'))).toEqual(SAMPLES);
    expect(ls(path.join(h.orders, 'failed'))).toEqual([]);
    // done/ holds the files as they were.
    expect(JSON.parse(readFileSync(path.join(h.orders, 'done', 'wc-order-1002.json'), 'utf8'))).toEqual(sample(1002));

    const before = await counts(h.rt);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 0 });
    // Even a new order placed inside done/ is not read.
    drop(path.join(h.orders, 'done'), 'wc-order-7001.json', JSON.stringify(newOrder(7001)));
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 0 });
    expect(await counts(h.rt)).toEqual(before);
  });

  it('moves a file of only skipped and already known orders to done/ as well', async () => {
    const h = await harness(MOVE);
    await pullSource(h.rt, 'samples');
    // A copy of a booked order (unchanged) and an order the mapping skips (not billable).
    drop(h.orders, 'again.json', JSON.stringify(sample(1004)));
    drop(h.orders, 'pending.jsonl', `${JSON.stringify(newOrder(7002, (o) => (o.status = 'pending')))}\n`);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 2, booked: 0, unchanged: 1, skipped: 1, quarantined: 0 });
    expect(orderFiles(h.orders)).toEqual([]);
    expect(ls(path.join(h.orders, 'done'))).toEqual(['again.json', 'pending.jsonl', ...SAMPLES].sort());
  });

  it('moves a file with a quarantined or unreadable record to failed/ with a reason per record; the rest of it is booked', async () => {
    const h = await harness(MOVE);
    const lines = [JSON.stringify(newOrder(7101)), '{"id": 7102, "total": }', JSON.stringify(newOrder(7103, badAmount)), ''].join('\n');
    drop(h.orders, 'mixed.jsonl', lines);
    drop(h.orders, 'broken.json', '{"id": 9999, "currency": "CHF",\n  "total": }', 120_000);
    const stats = await pullSource(h.rt, 'samples');
    expect(stats).toMatchObject({ read: 9, booked: 6, quarantined: 3 });

    expect(orderFiles(h.orders)).toEqual([]);
    expect(ls(path.join(h.orders, 'done'))).toEqual(SAMPLES);
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['broken.json', 'broken.json.reason.txt', 'mixed.jsonl', 'mixed.jsonl.reason.txt']);
    expect(readFileSync(path.join(h.orders, 'failed', 'mixed.jsonl'), 'utf8')).toBe(lines);

    const reason = readFileSync(path.join(h.orders, 'failed', 'mixed.jsonl.reason.txt'), 'utf8');
    expect(reason).toMatch(/^examples\/orders\/mixed\.jsonl: 2 records not taken in \(source samples, \d{4}-\d\d-\d\dT[\d:.]+Z\)\.\n/);
    expect(reason).toContain('kontor quarantine list');
    const listed = reason.split('\n\n')[1]!.trim().split('\n');
    expect(listed).toEqual([
      expect.stringMatching(/^examples\/orders\/mixed\.jsonl:2:\d+: invalid JSON/),
      'examples/orders/mixed.jsonl:3: line_items[0].total: "12,50" is not a decimal amount',
    ]);
    expect(readFileSync(path.join(h.orders, 'failed', 'broken.json.reason.txt'), 'utf8')).toMatch(/\nexamples\/orders\/broken\.json:2:12: invalid JSON/);

    // The failed records wait in the quarantine, whole, under the origins the reason file names.
    const q = await listQuarantine(h.rt.db);
    expect(q.map((r) => r.origin).sort()).toEqual(['examples/orders/broken.json', 'examples/orders/mixed.jsonl:2', 'examples/orders/mixed.jsonl:3']);
    expect(q.find((r) => r.record_id === '7103')!.raw).toBe(JSON.stringify(newOrder(7103, badAmount)));
    // 7101, the good line of mixed.jsonl, was booked.
    expect(await h.rt.db('documents').where({ subject: '7101', kind: 'invoice' }).first('id')).toBeDefined();

    // failed/ is not read again.
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 0 });
  });

  it('streams a *.json array too large to read whole; quarantines a file too large that holds no array, with advice, and books the others', async () => {
    const h = await harness(MOVE);
    // The limits are 64 MiB (streaming) and Node's longest string (~512 MiB) by default; small ones stand in for them here.
    const binding = h.rt.sources.get('samples')!;
    // Large enough for every sample file (one order each, read whole), too small for three orders.
    const limit = Math.max(...SAMPLES.map((n) => statSync(path.join(h.orders, n)).size));
    binding.adapter = new FileSource({ name: 'samples', folder: h.orders, label: 'examples/orders', format: 'woocommerce', moveProcessed: true, wholeFileMaxBytes: limit, streamJsonFromBytes: limit });
    const big = JSON.stringify([newOrder(7201), newOrder(7202), newOrder(7203)]);
    expect(Buffer.byteLength(big)).toBeGreaterThan(limit);
    drop(h.orders, 'export.json', big);
    const single = JSON.stringify({ ...newOrder(7205), customer_note: 'x'.repeat(limit) });
    drop(h.orders, 'single.json', single, 60_000);
    drop(h.orders, 'later.jsonl', `${JSON.stringify(newOrder(7204))}\n`, 120_000);
    let total: number | undefined;
    const stats = await pullSource(h.rt, 'samples', { onTotal: (n) => (total = n) });
    expect(stats).toMatchObject({ read: 10, booked: 9, quarantined: 1 });
    expect(total).toBe(10);

    // The array streamed: its three orders are booked, and the file is done.
    for (const id of ['7201', '7202', '7203', '7204']) expect(await h.rt.db('documents').where({ subject: id, kind: 'invoice' }).first('id'), id).toBeDefined();
    expect(ls(path.join(h.orders, 'done'))).toContain('export.json');

    const q = await listQuarantine(h.rt.db);
    expect(q.map((r) => r.origin)).toEqual(['examples/orders/single.json']);
    const reason =
      `examples/orders/single.json: too large to read: ${Buffer.byteLength(single)} bytes, and a *.json file that holds no array of orders is read whole, at most ${limit} bytes; ` +
      'export it as JSON Lines (*.jsonl, one order per line) or as one JSON array of orders, which are read as a stream, or split it';
    expect(q[0]!.reason).toBe(reason);
    // Nothing of the file is stored: it is in failed/, with the reason.
    expect(q[0]!.raw).toBe('');
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['single.json', 'single.json.reason.txt']);
    expect(readFileSync(path.join(h.orders, 'failed', 'single.json.reason.txt'), 'utf8')).toContain(`\n${reason}\n`);
    expect(readFileSync(path.join(h.orders, 'failed', 'single.json'), 'utf8')).toBe(single);
    expect(await h.rt.db('documents').where({ subject: '7205' }).first('id')).toBeUndefined();

    // Put back as JSON Lines, as the reason says, the order goes through.
    drop(h.orders, 'single.jsonl', `${single}\n`, 180_000);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 1, booked: 1, quarantined: 0 });
  });

  it('takes a corrected file put back from failed/, and moves it to done/ (the failed copy keeps its name)', async () => {
    const h = await harness(MOVE);
    drop(h.orders, 'o.json', JSON.stringify(newOrder(7201, badAmount)));
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ quarantined: 1 });
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['o.json', 'o.json.reason.txt']);

    drop(h.orders, 'o.json', JSON.stringify(newOrder(7201)), 180_000);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 1, booked: 1, quarantined: 0 });
    expect(await listQuarantine(h.rt.db)).toEqual([]);
    expect(ls(path.join(h.orders, 'done'))).toContain('o.json');
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['o.json', 'o.json.reason.txt']);
  });

  it('adds a timestamp to the name when done/ already holds a file of that name', async () => {
    const h = await harness(MOVE);
    const adapter = h.rt.sources.get('samples')!.adapter as FileSource;
    adapter.now = () => new Date('2026-03-01T12:00:00.123Z');
    await pullSource(h.rt, 'samples');
    drop(h.orders, 'wc-order-1001.json', JSON.stringify(newOrder(7301)), 120_000);
    await pullSource(h.rt, 'samples');
    drop(h.orders, 'wc-order-1001.json', JSON.stringify(newOrder(7302)), 180_000);
    await pullSource(h.rt, 'samples');
    const done = ls(path.join(h.orders, 'done'));
    expect(done.filter((n) => n.startsWith('wc-order-1001'))).toEqual(['wc-order-1001.20260301T120000123Z-1.json', 'wc-order-1001.20260301T120000123Z.json', 'wc-order-1001.json']);
    expect(JSON.parse(readFileSync(path.join(h.orders, 'done', 'wc-order-1001.json'), 'utf8'))).toEqual(sample(1001));
    expect(JSON.parse(readFileSync(path.join(h.orders, 'done', 'wc-order-1001.20260301T120000123Z.json'), 'utf8'))).toMatchObject({ id: 7301 });
    expect(JSON.parse(readFileSync(path.join(h.orders, 'done', 'wc-order-1001.20260301T120000123Z-1.json'), 'utf8'))).toMatchObject({ id: 7302 });

    // The same in failed/, with the reason file named after the file as moved.
    drop(h.orders, 'x.json', JSON.stringify(newOrder(7303, badAmount)), 240_000);
    await pullSource(h.rt, 'samples');
    drop(h.orders, 'x.json', JSON.stringify(newOrder(7304, badAmount)), 300_000);
    await pullSource(h.rt, 'samples');
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['x.20260301T120000123Z.json', 'x.20260301T120000123Z.json.reason.txt', 'x.json', 'x.json.reason.txt']);
    expect(readFileSync(path.join(h.orders, 'failed', 'x.20260301T120000123Z.json.reason.txt'), 'utf8')).toContain('moved here as x.20260301T120000123Z.json');
  });

  it('reads a file dropped with an mtime older than the cursor (the folder holds only what is still to do)', async () => {
    const h = await harness(MOVE);
    await pullSource(h.rt, 'samples');
    drop(h.orders, 'late.json', JSON.stringify(newOrder(7401)), -86_400_000);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 1, booked: 1 });
    expect(ls(path.join(h.orders, 'done'))).toContain('late.json');
  });

  it('uses done_folder and failed_folder, relative to the source folder', async () => {
    const h = await harness(`${MOVE}\ndone_folder: ../processed/ok\nfailed_folder: rejected`);
    drop(h.orders, 'bad.json', JSON.stringify(newOrder(7501, badAmount)));
    await pullSource(h.rt, 'samples');
    expect(ls(path.join(h.dir, 'examples', 'processed', 'ok'))).toEqual(SAMPLES);
    expect(ls(path.join(h.orders, 'rejected'))).toEqual(['bad.json', 'bad.json.reason.txt']);
    expect(ls(h.orders)).toEqual(['rejected']);
  });

  it('refuses a done or failed folder that is the source folder itself', () => {
    const dir = tempProject();
    const config = path.join(dir, 'config.yaml');
    const yaml = readFileSync(config, 'utf8');
    for (const [key, value] of [
      ['done_folder', '.'],
      ['failed_folder', './'],
      ['done_folder', '../orders'],
    ]) {
      writeFileSync(config, yaml.replace('    mapping: woocommerce-ch.yaml\n', `    mapping: woocommerce-ch.yaml\n    move_processed: true\n    ${key}: "${value}"\n`));
      expect(() => loadConfig(config, {}), `${key}: ${value}`).toThrow(ConfigError);
      expect(() => loadConfig(config, {})).toThrow(new RegExp(`${key} must not be the source folder itself`));
    }
  });

  it('moves a CSV file, with the line of each broken order in its reason file', async () => {
    const dir = tempProject();
    const config = path.join(dir, 'config.yaml');
    mkdirSync(path.join(dir, 'csv-in'));
    writeFileSync(
      config,
      [
        'database: { file: ./data/kontor.sqlite }',
        'sources:',
        '  csv:',
        '    type: file',
        '    format: csv',
        '    path: ./csv-in',
        '    mapping: csv-ch.yaml',
        '    move_processed: true',
        'targets:',
        '  journal: { type: journal }',
        '',
      ].join('\n'),
    );
    const csv = readFileSync(path.join(dir, 'examples', 'shops', 'csv', 'orders.csv'), 'utf8');
    drop(path.join(dir, 'csv-in'), 'good.csv', csv);
    const header = csv.split('\n')[0]!;
    const broken = csv.split('\n')[1]!.replace('14.50', '"14,50"');
    drop(path.join(dir, 'csv-in'), 'bad.csv', `${header}\n${broken}\n`, 120_000);
    const { db, drop: dropDb } = await freshDatabase('sqlite');
    cleanups.push(dropDb);
    const rt = await openRuntime(loadConfig(config, {}), silentLogger(), { db });
    const stats = await pullSource(rt, 'csv');
    expect(stats.quarantined).toBe(1);
    expect(stats.booked).toBeGreaterThan(0);
    expect(ls(path.join(dir, 'csv-in', 'done'))).toEqual(['good.csv']);
    expect(ls(path.join(dir, 'csv-in', 'failed'))).toEqual(['bad.csv', 'bad.csv.reason.txt']);
    expect(readFileSync(path.join(dir, 'csv-in', 'failed', 'bad.csv.reason.txt'), 'utf8')).toMatch(/\ncsv-in\/bad\.csv:2\b.*14,50/);
  });
});

describe('crash safety of move_processed', () => {
  /** The adapter with settle() switched off: the state a crash after the cursor was saved leaves. */
  function crashBeforeMove(rt: Runtime): () => void {
    const binding = rt.sources.get('samples')!;
    const real = binding.adapter;
    const crashed: SourceAdapter = { name: real.name, type: real.type, describe: () => real.describe(), pull: (o) => real.pull(o), fetch: (id) => real.fetch(id), parse: (r) => real.parse(r) };
    binding.adapter = crashed;
    return () => (binding.adapter = real);
  }

  it('reads a file again after a crash between storing and moving, books nothing twice, and moves it then', async () => {
    const h = await harness(MOVE);
    drop(h.orders, 'bad.json', JSON.stringify(newOrder(7601, badAmount)));
    crashBeforeMove(h.rt);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 6, booked: 5, quarantined: 1 });
    // Stored and the cursor saved, but nothing moved.
    expect(orderFiles(h.orders)).toEqual(['bad.json', ...SAMPLES]);
    expect(await h.rt.db('source_cursors').where({ source: 'samples' }).first('cursor')).toBeDefined();
    const stored = await counts(h.rt);

    const rt = await h.restart();
    expect(await pullSource(rt, 'samples')).toMatchObject({ read: 6, booked: 0, unchanged: 6, quarantined: 0 });
    expect(await counts(rt)).toEqual(stored);
    expect(ls(path.join(h.orders, 'done'))).toEqual(SAMPLES);
    // The order still in the quarantine sends its file to failed/, with the reason.
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['bad.json', 'bad.json.reason.txt']);
    expect(readFileSync(path.join(h.orders, 'failed', 'bad.json.reason.txt'), 'utf8')).toContain(
      '\nexamples/orders/bad.json: line_items[0].total: "12,50" is not a decimal amount (still in the quarantine)\n',
    );
    expect(await listQuarantine(rt.db)).toHaveLength(1);
  });

  it('sends a file whose quarantined order was dismissed by an operator to done/', async () => {
    const h = await harness(MOVE);
    drop(h.orders, 'test-order.json', JSON.stringify(newOrder(7651, badAmount)));
    crashBeforeMove(h.rt);
    await pullSource(h.rt, 'samples');
    const [entry] = await listQuarantine(h.rt.db);
    await closeQuarantined(h.rt.db, entry!.id, 'dismissed: test order');
    const rt = await h.restart();
    expect(await pullSource(rt, 'samples')).toMatchObject({ read: 6, unchanged: 6 });
    expect(ls(path.join(h.orders, 'done'))).toContain('test-order.json');
    expect(ls(path.join(h.orders, 'failed'))).toEqual([]);
  });

  it('reads a file again after a crash in the middle of it (before its checkpoint), and moves it once complete', async () => {
    const h = await harness(MOVE);
    await pullSource(h.rt, 'samples');
    drop(h.orders, 'three.jsonl', [7701, 7702, 7703].map((id) => JSON.stringify(newOrder(id))).join('\n'));
    const binding = h.rt.sources.get('samples')!;
    const real = binding.adapter;
    const stop = new AbortController();
    binding.adapter = Object.assign(Object.create(real) as SourceAdapter, {
      async *pull(options: Parameters<SourceAdapter['pull']>[0]) {
        let n = 0;
        for await (const record of real.pull(options)) {
          // The process dies after the first order of the file is stored.
          if (++n === 2) stop.abort();
          yield record;
        }
      },
    });
    expect(await pullSource(h.rt, 'samples', { signal: stop.signal })).toMatchObject({ read: 1, booked: 1 });
    expect(orderFiles(h.orders)).toEqual(['three.jsonl']);
    const afterCrash = await counts(h.rt);

    const rt = await h.restart();
    expect(await pullSource(rt, 'samples')).toMatchObject({ read: 3, booked: 2, unchanged: 1 });
    expect(orderFiles(h.orders)).toEqual([]);
    expect(ls(path.join(h.orders, 'done'))).toContain('three.jsonl');
    const after = await counts(rt);
    expect(after.snapshots).toBe(afterCrash.snapshots + 2);
    // Each of the three orders was stored once.
    const rows = (await rt.db('source_snapshots').whereIn('record_id', ['7701', '7702', '7703']).select('record_id')) as { record_id: string }[];
    expect(rows.map((r) => r.record_id).sort()).toEqual(['7701', '7702', '7703']);
  });

  it('keeps a file that could not be moved, warns, goes on with the others, and moves it on a later pull', async () => {
    const logs = captureStream();
    const h = await harness(MOVE, createLogger({ format: 'json', stream: logs.stream }));
    // A plain file where done/ should be: the folder cannot be created.
    writeFileSync(path.join(h.orders, 'done'), 'in the way');
    drop(h.orders, 'bad.json', JSON.stringify(newOrder(7801, badAmount)));
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 6, booked: 5, quarantined: 1 });
    // The failed file was moved (failed/ is fine); the good ones stay and will be read again.
    expect(orderFiles(h.orders)).toEqual(SAMPLES);
    expect(ls(path.join(h.orders, 'failed'))).toEqual(['bad.json', 'bad.json.reason.txt']);
    expect(logs.text()).toMatch(/samples: stored up to \d+\|wc-order-100\d\.json, but settling it failed \(tried again on the next pull\): EEXIST/);

    const stored = await counts(h.rt);
    unlinkSync(path.join(h.orders, 'done'));
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 5, booked: 0, unchanged: 5 });
    expect(await counts(h.rt)).toEqual(stored);
    expect(ls(path.join(h.orders, 'done'))).toEqual(SAMPLES);
  });

  it('does not move a file that changed after it was read: its new content is read next time', async () => {
    const dir = tempProject();
    const folder = path.join(dir, 'examples', 'orders');
    const source = new FileSource({ name: 'samples', folder, label: './examples/orders', format: 'woocommerce', moveProcessed: true });
    const records = [];
    for await (const r of source.pull({ cursor: null })) records.push(r);
    const checkpoint = records.find((r) => r.checkpoint?.endsWith('|wc-order-1001.json'))!.checkpoint!;
    drop(folder, 'wc-order-1001.json', JSON.stringify(newOrder(7901)), 600_000);
    await source.settle(checkpoint, { failed: [] });
    expect(orderFiles(folder)).toContain('wc-order-1001.json');
    // A file already gone (moved by hand) is no error.
    await source.settle(checkpoint.replace('wc-order-1001', 'gone'), { failed: [] });
    // The current checkpoint moves it.
    const again = [];
    for await (const r of source.pull({ cursor: null })) again.push(r);
    await source.settle(again.find((r) => r.checkpoint?.endsWith('|wc-order-1001.json'))!.checkpoint!, { failed: [] });
    expect(ls(path.join(folder, 'done'))).toEqual(['wc-order-1001.json']);
    expect(JSON.parse(readFileSync(path.join(folder, 'done', 'wc-order-1001.json'), 'utf8'))).toMatchObject({ id: 7901 });
  });

  it('skips a file that another process moved away while this pull was reading the folder', async () => {
    const dir = tempProject();
    const folder = path.join(dir, 'examples', 'orders');
    const source = new FileSource({ name: 'samples', folder, label: './examples/orders', format: 'woocommerce', moveProcessed: true });
    const ids: string[] = [];
    for await (const r of source.pull({ cursor: null })) {
      // The folder was listed before the first record; the other files go now.
      if (ids.length === 0) for (const name of SAMPLES) if (!r.origin.endsWith(name)) unlinkSync(path.join(folder, name));
      ids.push(r.id);
    }
    expect(ids).toHaveLength(1);
  });

  it('moves nothing during a backfill (a window) or a preview: only a pull that saves its cursor settles', async () => {
    const h = await harness(MOVE);
    expect(await pullSource(h.rt, 'samples', { window: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' } })).toMatchObject({ read: 5, booked: 5 });
    expect(orderFiles(h.orders)).toEqual(SAMPLES);
    // A record replayed through takeIn (quarantine replay) moves nothing either.
    const binding = h.rt.sources.get('samples')!;
    for await (const r of binding.adapter.pull({ cursor: null })) await takeIn(h.rt, binding, r);
    expect(orderFiles(h.orders)).toEqual(SAMPLES);
    expect(await pullSource(h.rt, 'samples')).toMatchObject({ read: 5, unchanged: 5 });
    expect(orderFiles(h.orders)).toEqual([]);
  });
});
