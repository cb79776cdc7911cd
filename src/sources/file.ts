/**
 * The file source: a folder of order JSON (`*.json`: one order or a list of orders) and
 * JSON Lines (`*.jsonl`: one order per line) in a shop's own format (WooCommerce, Shopify
 * REST, Shopware 6), or of CSV files in kontor's documented columns (docs/sources/csv.md).
 *
 * A `*.jsonl` file streams: it is read in chunks and yields each line's record as it comes, so
 * one export of any size goes through in bounded memory. So does a large `*.json` file that holds
 * an array of orders (json-array-stream.ts), read twice: once to check all of it, as a file read
 * whole is checked before any of its orders is taken in, then for its orders. Other `*.json` and
 * CSV files are read whole; one too large for that is quarantined as unreadable, with advice, and
 * the others flow.
 *
 * Cursor: `<mtime ms>|<file name>` of the last file read completely. Files are read in
 * (mtime, name) order, so a file dropped or rewritten later is picked up on the next pull.
 * Write files atomically (write elsewhere, then rename into the folder).
 *
 * With `moveProcessed`, the folder is an inbox: every file in it is read on each pull (the
 * cursor skips nothing, so a file dropped with an old mtime is not missed), and once all of a
 * file's records are stored and the cursor saved, `settle` moves it to the done folder, or to
 * the failed folder with `<name>.reason.txt` when any of its records stayed in the quarantine.
 * A crash before the move reads the file again; intake recognises its records by content hash.
 */
import { constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { parseCsvOrders } from './csv-order.js';
import { firstJsonError, jsonArrayItems, JsonStreamSyntaxError, NotAJsonArrayError } from './json-array-stream.js';
import { parseShopifyOrder } from './shopify-order.js';
import { parseShopwareOrder } from './shopware-order.js';
import { parseWooCommerceOrder } from './woocommerce-order.js';
import type { CanonicalOrder } from './order.js';
import type { PullOptions, SettleOutcome, SourceAdapter, SourceRecord } from './types.js';
import { RecordError } from '../errors.js';

export interface FileSourceOptions {
  name: string;
  folder: string;
  /** The folder as configured (`./examples/orders`): record origins are named after it. */
  label: string;
  format: FileFormat;
  /** Move files once taken in (to `doneFolder`, or `failedFolder` with a reason file); default false. */
  moveProcessed?: boolean;
  /** Relative to `folder` (or absolute); default `done`. */
  doneFolder?: string;
  /** Relative to `folder` (or absolute); default `failed`. */
  failedFolder?: string;
  /**
   * The largest `*.json` or CSV file read whole, in bytes; a larger one becomes one unreadable
   * record that says what to do. Default: the longest string Node holds (about 512 MiB), beyond
   * which reading it whole fails anyway. Smaller in tests.
   */
  wholeFileMaxBytes?: number;
  /**
   * `*.json` files of this many bytes or more are read as a stream of their array's orders, in
   * two passes (check, then read), rather than whole. Default 8 MiB: read whole, a file takes
   * about twelve times its size in memory at the peak (a 57 MB export: 709 MB against 241 MB
   * streamed); below that, reading whole is quicker and its memory no concern. Smaller in tests.
   */
  streamJsonFromBytes?: number;
}

/** Default of FileSourceOptions.streamJsonFromBytes. */
const STREAM_JSON_FROM_BYTES = 8 * 1024 * 1024;

/** The shop format of the files: each shop's own order JSON, or kontor's CSV (docs/sources/csv.md). */
export type FileFormat = 'woocommerce' | 'shopify' | 'shopware' | 'csv';

interface FileEntry {
  name: string;
  mtimeMs: number;
}

/** A file as the folder listing found it: its size decides whether it can be read whole. */
interface ListedFile extends FileEntry {
  size: number;
}

/**
 * The keys under which a shop's API responses wrap orders (Shopify REST `{"order": …}` and
 * `{"orders": […]}`, Shopware's search `{"data": […]}`): files saved straight from the API read as is.
 */
export const ENVELOPES: Record<Exclude<FileFormat, 'csv'>, readonly string[]> = { woocommerce: [], shopify: ['order', 'orders'], shopware: ['data'] };

const JSON_FILE = /\.(json|jsonl)$/i;
const CSV_FILE = /\.csv$/i;

function checkpointOf(entry: FileEntry): string {
  return `${String(entry.mtimeMs).padStart(15, '0')}|${entry.name}`;
}

function entryOf(checkpoint: string): FileEntry | null {
  const bar = checkpoint.indexOf('|');
  const mtimeMs = Number(checkpoint.slice(0, bar));
  return bar > 0 && Number.isInteger(mtimeMs) ? { mtimeMs, name: checkpoint.slice(bar + 1) } : null;
}

/** The time a file source's cursor stands at: the modification time of the file it names (null if it is none). */
export function fileCursorTime(cursor: string): Date | null {
  const entry = entryOf(cursor);
  return entry ? new Date(entry.mtimeMs) : null;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * A name in `dir` for `name` that is not taken: the name itself, else with a UTC timestamp
 * before the extension (`orders.20260301T120000123Z.json`), else with a counter after it.
 */
async function freeName(dir: string, name: string, now: Date): Promise<string> {
  if (!(await exists(path.join(dir, name)))) return name;
  const ext = path.extname(name);
  const base = ext ? name.slice(0, -ext.length) : name;
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  for (let i = 0; ; i++) {
    const candidate = `${base}.${stamp}${i > 0 ? `-${i}` : ''}${ext}`;
    if (!(await exists(path.join(dir, candidate)))) return candidate;
  }
}

/** Rename, or copy and delete when the target folder is on another file system. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if (errorCode(error) !== 'EXDEV') throw error;
    await copyFile(from, to, fsConstants.COPYFILE_EXCL);
    await unlink(from);
  }
}

/** `line:column: invalid JSON (code)` of the first JSON syntax error (json-array-stream.ts locates it). */
function jsonErrorAt(text: string): string {
  const found = firstJsonError(text);
  return found ? new JsonStreamSyntaxError(found.at, found.code).message : '1:1: invalid JSON';
}

type Envelopes = readonly string[];

/** A value without the one-key envelope a shop's API wraps it in (`{"order": …}`). */
function unwrap(value: unknown, envelopes: Envelopes): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  return keys.length === 1 && envelopes.includes(keys[0]!) ? (value as Record<string, unknown>)[keys[0]!] : value;
}

function idOf(value: unknown, fallback: string): string {
  return value && typeof value === 'object' && 'id' in value && (typeof value.id === 'number' || typeof value.id === 'string') ? String(value.id) : fallback;
}

/** The record of line `lineNumber` (1-based, not blank) of a JSON Lines file. */
function recordOfLine(fileLabel: string, line: string, lineNumber: number, envelopes: Envelopes): SourceRecord {
  const origin = `${fileLabel}:${lineNumber}`;
  try {
    const value: unknown = unwrap(JSON.parse(line), envelopes);
    return { id: idOf(value, origin), raw: JSON.stringify(value), origin, supersedes: origin };
  } catch {
    return { id: origin, raw: line, origin, readError: `${fileLabel}:${lineNumber}:${jsonErrorAt(line).replace(/^1:/, '')}` };
  }
}

/** The records in one file's text: a JSON object, a JSON array, or JSON Lines. */
export function recordsOfText(fileLabel: string, text: string, jsonLines: boolean, envelopes: Envelopes = []): SourceRecord[] {
  if (jsonLines) {
    const records: SourceRecord[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() !== '') records.push(recordOfLine(fileLabel, line, i + 1, envelopes));
    });
    return records;
  }
  let value: unknown;
  try {
    value = unwrap(JSON.parse(text), envelopes);
  } catch {
    return [{ id: fileLabel, raw: text, origin: fileLabel, readError: `${fileLabel}:${jsonErrorAt(text)}` }];
  }
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const origin = Array.isArray(value) ? `${fileLabel}[${i}]` : fileLabel;
    return { id: idOf(item, origin), raw: JSON.stringify(item), origin, supersedes: fileLabel };
  });
}

/** The text of an open file, 64 KiB at a time. Closes the file when done, also when the reader stops early. */
async function* chunksOf(handle: FileHandle): AsyncGenerator<string> {
  try {
    for await (const chunk of handle.createReadStream({ encoding: 'utf8', autoClose: false, highWaterMark: 64 * 1024 })) yield chunk as string;
  } finally {
    await handle.close();
  }
}

/**
 * The lines of an open file, split on `\n` as `recordsOfText` splits a text (the same line
 * numbers), read 64 KiB at a time. Closes the file when done, also when the reader stops early.
 */
async function* linesOf(handle: FileHandle): AsyncGenerator<string> {
  let rest = '';
  for await (const chunk of chunksOf(handle)) {
    const text = rest + chunk;
    let start = 0;
    // `rest` holds no newline: searching from its end keeps a line longer than a chunk linear.
    for (let end = text.indexOf('\n', rest.length); end !== -1; end = text.indexOf('\n', start)) {
      yield text.slice(start, end);
      start = end + 1;
    }
    rest = text.slice(start);
  }
  yield rest;
}

export class FileSource implements SourceAdapter {
  readonly type = 'file';
  readonly name: string;
  private readonly folder: string;
  private readonly label: string;
  private readonly format: FileFormat;
  /** Where processed files go, when they are moved. */
  private readonly moves: { done: string; failed: string } | null;
  private readonly wholeFileMaxBytes: number;
  private readonly streamJsonFromBytes: number;
  /** For tests: the clock of reason files and name-clash suffixes. */
  now: () => Date = () => new Date();

  constructor(options: FileSourceOptions) {
    this.name = options.name;
    this.folder = options.folder;
    this.label = options.label;
    this.format = options.format;
    this.wholeFileMaxBytes = options.wholeFileMaxBytes ?? bufferConstants.MAX_STRING_LENGTH;
    this.streamJsonFromBytes = options.streamJsonFromBytes ?? STREAM_JSON_FROM_BYTES;
    this.moves = options.moveProcessed
      ? { done: path.resolve(this.folder, options.doneFolder ?? 'done'), failed: path.resolve(this.folder, options.failedFolder ?? 'failed') }
      : null;
    for (const dir of Object.values(this.moves ?? {})) {
      if (dir === path.resolve(this.folder)) throw new Error(`source ${this.name}: the folder for processed files must not be the source folder itself`);
    }
  }

  describe(): Record<string, unknown> {
    const moves = this.moves ? { done: this.shown(this.moves.done), failed: this.shown(this.moves.failed) } : {};
    return { type: this.type, folder: this.label, format: this.format, ...moves };
  }

  /** A folder as people see it: relative to the source folder's label when inside it. */
  private shown(dir: string): string {
    const rel = path.relative(this.folder, dir);
    return rel.startsWith('..') || path.isAbsolute(rel) ? dir : path.posix.join(this.label.split(path.sep).join('/'), rel.split(path.sep).join('/'));
  }

  private async files(): Promise<ListedFile[]> {
    const pattern = this.format === 'csv' ? CSV_FILE : JSON_FILE;
    // Files only: the done and failed folders (and any other folder) are never read.
    const names = (await readdir(this.folder, { withFileTypes: true })).filter((d) => !d.isDirectory() && pattern.test(d.name)).map((d) => d.name);
    const entries = (
      await Promise.all(
        names.map(async (name) => {
          try {
            const { mtimeMs, size } = await stat(path.join(this.folder, name));
            return { name, mtimeMs: Math.floor(mtimeMs), size };
          } catch (error) {
            // Gone since the listing (moved by another kontor process, or by hand).
            if (errorCode(error) === 'ENOENT') return null;
            throw error;
          }
        }),
      )
    ).filter((e): e is ListedFile => e !== null);
    return entries.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A file as record origins name it: after the configured folder, so they read the same from any working directory. */
  private fileLabel(name: string): string {
    return path.posix.join(this.label.split(path.sep).join('/'), name);
  }

  /** The envelopes of this source's shop format (none for CSV). */
  private get envelopes(): Envelopes {
    return this.format === 'csv' ? [] : ENVELOPES[this.format];
  }

  /** JSON Lines files are read as a stream; the others whole. */
  private isJsonLines(name: string): boolean {
    return this.format !== 'csv' && /\.jsonl$/i.test(name);
  }

  /** A `*.json` file large enough to be read as a stream of its array's orders, if it holds one. */
  private mayStream(entry: ListedFile): boolean {
    return this.format !== 'csv' && !this.isJsonLines(entry.name) && entry.size >= this.streamJsonFromBytes;
  }

  /**
   * The records of one file in file order, or null when the file is gone since the listing
   * (moved by another kontor process, or by hand). JSON Lines stream, and so does a large JSON
   * array (mayStream); other files are read whole, unless they are too large for that
   * (tooLargeToRead).
   */
  private async records(entry: ListedFile): Promise<AsyncIterable<SourceRecord> | Iterable<SourceRecord> | null> {
    const file = path.join(this.folder, entry.name);
    const label = this.fileLabel(entry.name);
    try {
      if (this.isJsonLines(entry.name)) return this.jsonLinesRecords(label, await open(file));
      if (this.mayStream(entry)) {
        const streamed = await this.jsonArrayRecords(label, file);
        if (streamed !== null) return streamed;
      }
      const tooLarge = this.tooLargeToRead(entry);
      if (tooLarge) return [tooLarge];
      return this.recordsOfFile(label, await readFile(file, 'utf8'));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  /**
   * A file read whole must fit in one string. One that does not would fail every pull and hold
   * up every file after it; instead it becomes one unreadable record (quarantined, the file
   * moved to the failed folder when files are moved) that says what to do, and the others flow.
   */
  private tooLargeToRead({ name, size }: ListedFile): SourceRecord | null {
    if (size <= this.wholeFileMaxBytes) return null;
    const label = this.fileLabel(name);
    const readError =
      this.format === 'csv'
        ? `${label}: too large to read: ${size} bytes, and a CSV file is read whole, at most ${this.wholeFileMaxBytes} bytes; split it into smaller files`
        : `${label}: too large to read: ${size} bytes, and a *.json file that holds no array of orders is read whole, at most ${this.wholeFileMaxBytes} bytes; ` +
          `export it as JSON Lines (*.jsonl, one order per line) or as one JSON array of orders, which are read as a stream, or split it`;
    return { id: label, raw: '', origin: label, readError };
  }

  /**
   * The records of a large `*.json` file holding an array of orders (or one in its API's
   * envelope), read as a stream; null when it holds something else (one order, an object with
   * more keys), which is read whole. The file is read through once to check it first: a file
   * with a mistake anywhere is one unreadable record that names its line and column, and none of
   * its orders is taken in, as for a file read whole. Its text is not kept (raw is empty): the
   * fix is a corrected file.
   */
  private async jsonArrayRecords(label: string, file: string): Promise<AsyncIterable<SourceRecord> | Iterable<SourceRecord> | null> {
    const envelopes = this.envelopes;
    try {
      for await (const item of jsonArrayItems(chunksOf(await open(file)), envelopes)) void item;
    } catch (error) {
      if (error instanceof NotAJsonArrayError) return null;
      if (error instanceof JsonStreamSyntaxError) return [{ id: label, raw: '', origin: label, readError: `${label}:${error.message}` }];
      throw error;
    }
    // Opened here, as a JSON Lines file is: a file gone since is skipped by records(), not a failed pull.
    return this.checkedJsonArrayRecords(label, await open(file), envelopes);
  }

  private async *checkedJsonArrayRecords(label: string, handle: FileHandle, envelopes: Envelopes): AsyncGenerator<SourceRecord> {
    try {
      for await (const item of jsonArrayItems(chunksOf(handle), envelopes, { check: false })) {
        const origin = `${label}[${item.index}]`;
        let value: unknown;
        try {
          value = JSON.parse(item.text);
        } catch {
          // Checked a moment ago: the file changed since (files are to be written elsewhere and renamed in).
          throw new JsonStreamSyntaxError(item.at, 'InvalidSymbol');
        }
        yield { id: idOf(value, origin), raw: JSON.stringify(value), origin, supersedes: label };
      }
    } catch (error) {
      if (!(error instanceof JsonStreamSyntaxError || error instanceof NotAJsonArrayError)) throw error;
      const reason = error instanceof JsonStreamSyntaxError ? `${label}:${error.message}` : `${label}: ${error.message}`;
      yield { id: label, raw: '', origin: label, readError: `${reason}; the file changed while it was read (write files elsewhere and rename them into the folder)` };
    }
  }

  private async *jsonLinesRecords(label: string, handle: FileHandle): AsyncGenerator<SourceRecord> {
    const envelopes = this.envelopes;
    let lineNumber = 0;
    for await (const line of linesOf(handle)) {
      lineNumber++;
      if (line.trim() !== '') yield recordOfLine(label, line, lineNumber, envelopes);
    }
  }

  /**
   * The records of one file's text. A CSV file's orders are parsed here (their rows are spread
   * over the file) and stored as canonical order JSON; a broken order becomes an unreadable
   * record that names its line and column, and the file's other orders still flow.
   */
  recordsOfFile(fileLabel: string, text: string): SourceRecord[] {
    if (this.format !== 'csv') return recordsOfText(fileLabel, text, this.isJsonLines(fileLabel), this.envelopes);
    const { orders, errors } = parseCsvOrders(this.name, text, fileLabel);
    return [
      ...orders.map((order) => ({ id: order.id, raw: JSON.stringify(order), origin: `${fileLabel}#${order.id}`, supersedes: `${fileLabel}#${order.id}` })),
      ...errors.map((e) => {
        const id = e.orderId ?? `${fileLabel}:${e.line}`;
        return { id, raw: text, origin: `${fileLabel}:${e.line}`, readError: e.message };
      }),
    ];
  }

  async *pull({ cursor, onTotal }: PullOptions): AsyncIterable<SourceRecord> {
    // Moving files away marks them processed: then whatever is in the folder is still to do.
    const entries = (await this.files()).filter((entry) => cursor === null || this.moves !== null || checkpointOf(entry) > cursor);
    // Counted first, one file at a time: intake on SQLite never lets a count running beside it have a turn.
    if (onTotal) {
      const n = await this.countRecords(entries);
      if (n !== null) onTotal(n);
    }
    for (const entry of entries) {
      const records = await this.records(entry);
      if (records === null) continue;
      // The checkpoint goes on a file's last record, known as the last once the end is read.
      let held: SourceRecord | undefined;
      for await (const record of records) {
        if (held) yield held;
        held = record;
      }
      if (held) yield { ...held, checkpoint: checkpointOf(entry) };
    }
  }

  /** How many records these files hold (for progress reports); null when a file cannot be read. Never throws. */
  private async countRecords(entries: ListedFile[]): Promise<number | null> {
    let n = 0;
    for (const entry of entries) {
      const file = path.join(this.folder, entry.name);
      try {
        if (this.isJsonLines(entry.name)) {
          // Lines, not records: counting does not parse what the pull will parse anyway.
          for await (const line of linesOf(await open(file))) if (line.trim() !== '') n++;
          continue;
        }
        const streamed = this.mayStream(entry) ? await this.jsonArrayLength(file) : null;
        if (streamed !== null) n += streamed;
        else if (this.tooLargeToRead(entry)) n++;
        else n += this.recordsOfFile(this.fileLabel(entry.name), await readFile(file, 'utf8')).length;
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') return null;
      }
    }
    return n;
  }

  /**
   * How many records a large `*.json` file yields (countRecords): its array's items, following
   * only its structure; one for a file with a mistake; null for one that holds no array (read
   * whole, as records() does).
   */
  private async jsonArrayLength(file: string): Promise<number | null> {
    let n = 0;
    try {
      for await (const item of jsonArrayItems(chunksOf(await open(file)), this.envelopes, { check: false })) {
        void item;
        n++;
      }
      return n;
    } catch (error) {
      if (error instanceof JsonStreamSyntaxError) return 1;
      if (error instanceof NotAJsonArrayError) return null;
      throw error;
    }
  }

  /**
   * Move the file of a checkpoint away, once its records are stored and the cursor saved: to the
   * failed folder with a reason file when any record stayed in the quarantine, else to done.
   * A file that changed since it was read stays: its new content is read on the next pull.
   */
  async settle(checkpoint: string, outcome: SettleOutcome): Promise<void> {
    const entry = entryOf(checkpoint);
    if (!this.moves || !entry) return;
    const from = path.join(this.folder, entry.name);
    let mtimeMs: number;
    try {
      mtimeMs = Math.floor((await stat(from)).mtimeMs);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    if (mtimeMs !== entry.mtimeMs) return;
    const failed = outcome.failed.length > 0;
    const dir = failed ? this.moves.failed : this.moves.done;
    const now = this.now();
    await mkdir(dir, { recursive: true });
    const target = await freeName(dir, entry.name, now);
    // The reason first: a crash in between leaves the file to be read again, not a file without its reason.
    if (failed) await writeFile(path.join(dir, `${target}.reason.txt`), this.reasonText(entry.name, target, outcome, now));
    await moveFile(from, path.join(dir, target));
  }

  private reasonText(name: string, target: string, outcome: SettleOutcome, now: Date): string {
    const n = outcome.failed.length;
    return [
      `${path.posix.join(this.label.split(path.sep).join('/'), name)}: ${n} record${n === 1 ? '' : 's'} not taken in (source ${this.name}, ${now.toISOString()}).`,
      `The file was moved here as ${target}; its other records, if any, were taken in.`,
      `The failed records are in the quarantine ("kontor quarantine list"): replay them after fixing the mapping`,
      `("kontor quarantine replay"), or put a corrected file back into the source folder.`,
      '',
      // A reason that already names its place (`file:line:col: invalid JSON`) is not prefixed again.
      ...outcome.failed.map((f) => (f.reason.startsWith(f.origin) ? f.reason : `${f.origin}: ${f.reason}`)),
      '',
    ].join('\n');
  }

  async fetch(id: string): Promise<SourceRecord | null> {
    for (const entry of (await this.files()).reverse()) {
      const records = await this.records(entry);
      if (records === null) continue;
      for await (const record of records) if (record.id === id) return record;
    }
    return null;
  }

  parse(record: SourceRecord): CanonicalOrder {
    if (record.readError) throw new RecordError(record.readError);
    let value: unknown;
    try {
      value = JSON.parse(record.raw);
    } catch {
      // A stored raw text that is not JSON (a quarantined broken file being replayed).
      throw new RecordError(`${record.origin}:${jsonErrorAt(record.raw)}`);
    }
    switch (this.format) {
      case 'woocommerce':
        return parseWooCommerceOrder(this.name, value);
      case 'shopify':
        return parseShopifyOrder(this.name, value);
      case 'shopware':
        return parseShopwareOrder(this.name, value);
      case 'csv':
        // Parsed from the CSV when the file was read; the record holds the canonical order.
        return value as CanonicalOrder;
    }
  }
}
