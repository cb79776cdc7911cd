/**
 * The file source streams JSON Lines: a `*.jsonl` file is read in chunks and yields its records
 * as they come, with exactly the records (ids, origins, raw text, read errors, line numbers) that
 * reading the whole text gives, the checkpoint on the last one only, and the file closed however
 * the reader stops. Large `*.json` arrays stream too, checked whole first. Real files in a temp
 * folder, and a named pipe to show that records flow before a file ends.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSource, recordsOfText } from '../src/sources/file.js';
import type { SourceRecord } from '../src/sources/types.js';

const ROOT = path.join(import.meta.dirname, '..');
const ORDER = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kontor-stream-'));
  dirs.push(dir);
  return dir;
}

function source(dir: string, format: 'woocommerce' | 'shopify' | 'shopware' = 'woocommerce', options: { streamJsonFromBytes?: number; wholeFileMaxBytes?: number } = {}): FileSource {
  return new FileSource({ name: 'files', folder: dir, label: 'orders', format, ...options });
}

async function pullAll(s: FileSource, onTotal?: (n: number) => void): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const record of s.pull({ cursor: null, onTotal })) out.push(record);
  return out;
}

/** Open file descriptors of this process (Linux). */
function openFiles(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * A JSON Lines text of `n` orders (≈ 3 kB each, so many 64 KiB chunks) with what a real export
 * holds at its edges: multi-byte characters that chunk boundaries cut, blank lines, a CRLF line,
 * a broken line, and no newline after the last line.
 */
function exportText(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const order = { ...ORDER, id: 10_000 + i, number: String(10_000 + i), customer_note: `Grüße aus Zürich 🧾 ${'é'.repeat(i % 97)}` };
    lines.push(JSON.stringify(order));
    if (i === 10) lines.push('');
    if (i === 20) lines.push('   ');
    if (i === 30) lines.push('{"id": 99999, "broken": ');
  }
  lines[40] = `${lines[40]}\r`;
  return lines.join('\n');
}

describe('file source: JSON Lines stream', () => {
  it('yields the records reading the whole text gives, the checkpoint on the last record only', async () => {
    const dir = folder();
    const text = exportText(400);
    expect(Buffer.byteLength(text)).toBeGreaterThan(16 * 64 * 1024);
    writeFileSync(path.join(dir, 'export.jsonl'), text);

    const records = await pullAll(source(dir));
    const expected = recordsOfText('orders/export.jsonl', text, true);
    expect(records).toHaveLength(401);
    expect(records.map(({ checkpoint: _, ...r }) => r)).toEqual(expected);
    expect(records.filter((r) => r.checkpoint).map((r) => r.origin)).toEqual([records.at(-1)!.origin]);
    expect(records.at(-1)!.checkpoint).toMatch(/^\d{15}\|export\.jsonl$/);
    // The broken line names its line, and the lines after it keep their numbers.
    const broken = records.find((r) => r.readError)!;
    expect(broken.readError).toMatch(/^orders\/export\.jsonl:34:\d+: invalid JSON/);
    expect(records.find((r) => r.id === '10399')!.origin).toBe(`orders/export.jsonl:${400 + 3}`);
    expect(JSON.parse(records.find((r) => r.id === '10096')!.raw)).toMatchObject({ customer_note: `Grüße aus Zürich 🧾 ${'é'.repeat(96)}` });
  });

  it('reads a line longer than several chunks whole, with the lines around it', async () => {
    const dir = folder();
    const long = JSON.stringify({ ...ORDER, id: 2, customer_note: 'ä'.repeat(300_000) });
    const text = [JSON.stringify({ ...ORDER, id: 1 }), long, JSON.stringify({ ...ORDER, id: 3 })].join('\n');
    writeFileSync(path.join(dir, 'long.jsonl'), text);
    const records = await pullAll(source(dir));
    expect(records.map(({ checkpoint: _, ...r }) => r)).toEqual(recordsOfText('orders/long.jsonl', text, true));
    expect(records.map((r) => [r.id, r.origin])).toEqual([['1', 'orders/long.jsonl:1'], ['2', 'orders/long.jsonl:2'], ['3', 'orders/long.jsonl:3']]);
  });

  it('unwraps API envelopes line by line, as a whole text is unwrapped', async () => {
    const dir = folder();
    const text = `${JSON.stringify({ order: { id: 1, name: '#1001' } })}\n${JSON.stringify({ id: 2, name: '#1002' })}\n`;
    writeFileSync(path.join(dir, 'api.jsonl'), text);
    const records = await pullAll(source(dir, 'shopify'));
    expect(records.map(({ checkpoint: _, ...r }) => r)).toEqual(recordsOfText('orders/api.jsonl', text, true, ['order', 'orders']));
    expect(records.map((r) => r.id)).toEqual(['1', '2']);
  });

  it('yields a record before the file ends (read from a named pipe while it is being written)', async () => {
    const dir = folder();
    const fifo = path.join(dir, 'live.jsonl');
    execFileSync('mkfifo', [fifo]);
    const line = (id: number) => `${JSON.stringify({ ...ORDER, id })}\n`;
    const writing = open(fifo, 'w');
    const pull = source(dir).pull({ cursor: null })[Symbol.asyncIterator]();
    const first = pull.next();
    const writer = await writing;
    await writer.write(line(1));
    await writer.write(line(2));
    // Record 1 is out while the writer still holds the file open: the file has not ended.
    expect((await first).value).toMatchObject({ id: '1', origin: 'orders/live.jsonl:1' });
    expect((await first).value.checkpoint).toBeUndefined();
    const second = pull.next();
    await writer.write(line(3));
    await writer.close();
    expect((await second).value).toMatchObject({ id: '2' });
    const third = await pull.next();
    expect(third.value).toMatchObject({ id: '3', origin: 'orders/live.jsonl:3' });
    expect(third.value.checkpoint).toMatch(/\|live\.jsonl$/);
    expect((await pull.next()).done).toBe(true);
  });

  it('closes the file when the reader stops in the middle of it', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'export.jsonl'), exportText(300));
    const before = openFiles();
    let taken = 0;
    for await (const _record of source(dir).pull({ cursor: null })) {
      if (++taken === 5) break;
    }
    expect(taken).toBe(5);
    expect(openFiles()).toBe(before);
  });

  it('counts the records of a JSON Lines file (onTotal) by its lines, before the first record', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'export.jsonl'), exportText(250));
    const totals: number[] = [];
    const before = openFiles();
    const records = await pullAll(source(dir), (n) => totals.push(n));
    // Blank lines are no records; the broken line is one (it is quarantined).
    expect(totals).toEqual([251]);
    expect(records).toHaveLength(251);
    expect(openFiles()).toBe(before);
  });

  it('fetches one record from the middle of a JSON Lines file, and closes the file', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'export.jsonl'), exportText(300));
    const s = source(dir);
    const before = openFiles();
    const hit = await s.fetch('10150');
    expect(hit).toMatchObject({ id: '10150', origin: 'orders/export.jsonl:154' });
    expect(s.parse(hit!)).toMatchObject({ id: '10150' });
    expect(await s.fetch('nope')).toBeNull();
    expect(openFiles()).toBe(before);
  });

  it('skips a JSON Lines file that is gone between the listing and the reading', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'a.jsonl'), `${JSON.stringify({ ...ORDER, id: 1 })}\n`);
    writeFileSync(path.join(dir, 'b.jsonl'), `${JSON.stringify({ ...ORDER, id: 2 })}\n`);
    const pull = source(dir).pull({ cursor: null })[Symbol.asyncIterator]();
    expect((await pull.next()).value).toMatchObject({ id: '1' });
    rmSync(path.join(dir, 'b.jsonl'));
    expect((await pull.next()).done).toBe(true);
  });
});

describe('file source: files read whole', () => {
  it('turns a CSV file too large to read whole into one unreadable record that says to split it', async () => {
    const dir = folder();
    const text = `order_id,order_date\n${'1001,2026-03-01\n'.repeat(100)}`;
    writeFileSync(path.join(dir, 'a-big.csv'), text);
    const s = new FileSource({ name: 'files', folder: dir, label: 'orders', format: 'csv', wholeFileMaxBytes: 1_000 });
    const records = await pullAll(s);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ id: 'orders/a-big.csv', origin: 'orders/a-big.csv', raw: '' });
    expect(records[0]!.readError).toBe(`orders/a-big.csv: too large to read: ${text.length} bytes, and a CSV file is read whole, at most 1000 bytes; split it into smaller files`);
    expect(records[0]!.checkpoint).toMatch(/\|a-big\.csv$/);
    expect(() => s.parse(records[0]!)).toThrow(records[0]!.readError!);
  });
});

describe('file source: large JSON arrays stream', () => {
  /** Streams every `*.json` file: a byte is "large" here. */
  const STREAM_ALL = { streamJsonFromBytes: 1 };
  const orders = (n: number, from = 20_000) => Array.from({ length: n }, (_, i) => ({ ...ORDER, id: from + i, number: String(from + i), customer_note: `Grüße 🧾 ${'é'.repeat(i % 50)}` }));
  const touch = (dir: string, name: string, text: string, mtime: number) => {
    writeFileSync(path.join(dir, name), text);
    utimesSync(path.join(dir, name), mtime, mtime);
  };

  it('yields the records reading the files whole gives: arrays, envelopes, and what holds no array', async () => {
    for (const [format, files] of [
      ['woocommerce', { 'a-array.json': JSON.stringify(orders(300), null, 2), 'b-one.json': JSON.stringify(ORDER), 'c-empty.json': '[]' }],
      ['shopify', { 'a-orders.json': JSON.stringify({ orders: orders(40) }), 'b-order.json': JSON.stringify({ order: ORDER }), 'c-more-keys.json': JSON.stringify({ orders: orders(2), count: 2 }) }],
      ['shopware', { 'a-data.json': `{ "data" :\n${JSON.stringify(orders(30), null, '\t')}\n}\n` }],
    ] as const) {
      const dir = folder();
      Object.entries(files).forEach(([name, text], i) => touch(dir, name, text, 1_700_000_000 + i));
      const totals = { whole: [] as number[], streamed: [] as number[] };
      const whole = await pullAll(source(dir, format), (n) => totals.whole.push(n));
      const streamed = await pullAll(source(dir, format, STREAM_ALL), (n) => totals.streamed.push(n));
      expect(streamed, format).toEqual(whole);
      expect(totals.streamed).toEqual(totals.whole);
      expect(streamed.length).toBeGreaterThan(Object.keys(files).length);
    }
  });

  it('takes nothing from a broken array, names the line and column, and reads the next file', async () => {
    const dir = folder();
    const good = orders(200);
    const lines = JSON.stringify(good, null, 2).split('\n');
    // A missing comma between two orders, far into the file: found before any order is taken.
    const at = lines.findIndex((l, i) => i > 3000 && l === '  },');
    lines[at] = '  }';
    touch(dir, 'a-broken.json', lines.join('\n'), 1_700_000_000);
    touch(dir, 'b-next.json', JSON.stringify(orders(2, 30_000)), 1_700_000_100);
    const s = source(dir, 'woocommerce', STREAM_ALL);
    const records = await pullAll(s);
    expect(records.map((r) => r.id)).toEqual(['orders/a-broken.json', '30000', '30001']);
    expect(records[0]).toMatchObject({ origin: 'orders/a-broken.json', raw: '', readError: `orders/a-broken.json:${at + 2}:3: invalid JSON (CommaExpected)` });
    expect(records[0]!.checkpoint).toMatch(/\|a-broken\.json$/);
    expect(() => s.parse(records[0]!)).toThrow(records[0]!.readError!);
    // The same place as the whole text's check names.
    expect((await pullAll(source(dir)))[0]!.readError).toBe(records[0]!.readError);
  });

  it('streams an array too large to read whole; a file too large that holds no array is quarantined with advice', async () => {
    const dir = folder();
    const array = JSON.stringify(orders(50));
    touch(dir, 'a-array.json', array, 1_700_000_000);
    const single = JSON.stringify({ ...ORDER, id: 7, customer_note: 'x'.repeat(5_000) });
    touch(dir, 'b-single.json', single, 1_700_000_100);
    const limit = 4_000;
    const s = source(dir, 'woocommerce', { streamJsonFromBytes: limit, wholeFileMaxBytes: limit });
    const totals: number[] = [];
    const records = await pullAll(s, (n) => totals.push(n));
    expect(records.map((r) => r.id)).toEqual([...orders(50).map((o) => String(o.id)), 'orders/b-single.json']);
    expect(totals).toEqual([51]);
    expect(records.at(-1)).toMatchObject({
      raw: '',
      readError:
        `orders/b-single.json: too large to read: ${Buffer.byteLength(single)} bytes, and a *.json file that holds no array of orders is read whole, at most ${limit} bytes; ` +
        'export it as JSON Lines (*.jsonl, one order per line) or as one JSON array of orders, which are read as a stream, or split it',
    });
  });

  it('ends with an unreadable record when the file changes between the check and the reading', async () => {
    const dir = folder();
    const file = path.join(dir, 'export.json');
    writeFileSync(file, JSON.stringify(orders(400)));
    const pull = source(dir, 'woocommerce', STREAM_ALL).pull({ cursor: null })[Symbol.asyncIterator]();
    // Checked whole, and the first order read: then the file is cut short in place, as a writer
    // that does not write elsewhere and rename would.
    expect((await pull.next()).value).toMatchObject({ id: '20000', origin: 'orders/export.json[0]' });
    truncateSync(file, 0);
    const rest: SourceRecord[] = [];
    for (let r = await pull.next(); !r.done; r = await pull.next()) rest.push(r.value);
    const last = rest.at(-1)!;
    expect(last).toMatchObject({ id: 'orders/export.json', raw: '' });
    expect(last.readError).toMatch(/^orders\/export\.json:1:\d+: invalid JSON \(CloseBracketExpected\); the file changed while it was read \(write files elsewhere and rename them into the folder\)$/);
    expect(last.checkpoint).toMatch(/\|export\.json$/);
    // What was read before the cut went on as usual (the read-ahead holds some orders).
    expect(rest.slice(0, -1).every((r) => !r.readError)).toBe(true);
  });

  it('fetches one order from a streamed array, and closes the file', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'export.json'), JSON.stringify(orders(120)));
    const s = source(dir, 'woocommerce', STREAM_ALL);
    const before = openFiles();
    expect(await s.fetch('20077')).toMatchObject({ id: '20077', origin: 'orders/export.json[77]', supersedes: 'orders/export.json' });
    expect(await s.fetch('nope')).toBeNull();
    expect(openFiles()).toBe(before);
  });

  it('closes the file when the reader stops in the middle of a streamed array', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'export.json'), JSON.stringify(orders(300)));
    const before = openFiles();
    let taken = 0;
    for await (const _record of source(dir, 'woocommerce', STREAM_ALL).pull({ cursor: null })) {
      if (++taken === 5) break;
    }
    expect(openFiles()).toBe(before);
  });
});
