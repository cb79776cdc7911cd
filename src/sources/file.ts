/**
 * The file source: a folder of order JSON (`*.json`: one order or a list of orders) and
 * JSON Lines (`*.jsonl`: one order per line) in a shop's own format (WooCommerce, Shopify
 * REST, Shopware 6), or of CSV files in kontor's documented columns (docs/sources/csv.md).
 *
 * Cursor: `<mtime ms>|<file name>` of the last file read completely. Files are read in
 * (mtime, name) order, so a file dropped or rewritten later is picked up on the next pull.
 * Write files atomically (write elsewhere, then rename into the folder).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import path from 'node:path';
import { parseCsvOrders } from './csv-order.js';
import { parseShopifyOrder } from './shopify-order.js';
import { parseShopwareOrder } from './shopware-order.js';
import { parseWooCommerceOrder } from './woocommerce-order.js';
import type { CanonicalOrder } from './order.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';
import { RecordError } from '../errors.js';

export interface FileSourceOptions {
  name: string;
  folder: string;
  /** The folder as configured (`./examples/orders`): record origins are named after it. */
  label: string;
  format: FileFormat;
}

/** The shop format of the files: each shop's own order JSON, or kontor's CSV (docs/sources/csv.md). */
export type FileFormat = 'woocommerce' | 'shopify' | 'shopware' | 'csv';

interface FileEntry {
  name: string;
  mtimeMs: number;
}

/**
 * The keys under which a shop's API responses wrap orders (Shopify REST `{"order": …}` and
 * `{"orders": […]}`, Shopware's search `{"data": […]}`): files saved straight from the API read as is.
 */
const ENVELOPES: Record<Exclude<FileFormat, 'csv'>, readonly string[]> = { woocommerce: [], shopify: ['order', 'orders'], shopware: ['data'] };

const JSON_FILE = /\.(json|jsonl)$/i;
const CSV_FILE = /\.csv$/i;

function checkpointOf(entry: FileEntry): string {
  return `${String(entry.mtimeMs).padStart(15, '0')}|${entry.name}`;
}

/**
 * Line and column of the first JSON syntax error. JSON.parse's messages do not reliably carry
 * a position on Node 20, so jsonc-parser (VS Code's JSON scanner) locates it.
 */
function jsonErrorAt(text: string): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return '1:1: invalid JSON';
  const before = text.slice(0, first.offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}: invalid JSON (${printParseErrorCode(first.error)})`;
}

/** The records in one file's text: a JSON object, a JSON array, or JSON Lines. */
export function recordsOfText(fileLabel: string, text: string, jsonLines: boolean, envelopes: readonly string[] = []): SourceRecord[] {
  const unwrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const keys = Object.keys(value);
    return keys.length === 1 && envelopes.includes(keys[0]!) ? (value as Record<string, unknown>)[keys[0]!] : value;
  };
  const idOf = (value: unknown, fallback: string): string =>
    value && typeof value === 'object' && 'id' in value && (typeof value.id === 'number' || typeof value.id === 'string')
      ? String(value.id)
      : fallback;
  if (jsonLines) {
    const records: SourceRecord[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const origin = `${fileLabel}:${i + 1}`;
      try {
        const value: unknown = unwrap(JSON.parse(line));
        records.push({ id: idOf(value, origin), raw: JSON.stringify(value), origin, supersedes: origin });
      } catch {
        records.push({ id: origin, raw: line, origin, readError: `${fileLabel}:${i + 1}:${jsonErrorAt(line).replace(/^1:/, '')}` });
      }
    });
    return records;
  }
  let value: unknown;
  try {
    value = unwrap(JSON.parse(text));
  } catch {
    return [{ id: fileLabel, raw: text, origin: fileLabel, readError: `${fileLabel}:${jsonErrorAt(text)}` }];
  }
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const origin = Array.isArray(value) ? `${fileLabel}[${i}]` : fileLabel;
    return { id: idOf(item, origin), raw: JSON.stringify(item), origin, supersedes: fileLabel };
  });
}

export class FileSource implements SourceAdapter {
  readonly type = 'file';
  readonly name: string;
  private readonly folder: string;
  private readonly label: string;
  private readonly format: FileFormat;

  constructor(options: FileSourceOptions) {
    this.name = options.name;
    this.folder = options.folder;
    this.label = options.label;
    this.format = options.format;
  }

  describe(): Record<string, unknown> {
    return { type: this.type, folder: this.label, format: this.format };
  }

  private async files(): Promise<FileEntry[]> {
    const pattern = this.format === 'csv' ? CSV_FILE : JSON_FILE;
    const names = (await readdir(this.folder)).filter((n) => pattern.test(n));
    const entries = await Promise.all(
      names.map(async (name) => ({ name, mtimeMs: Math.floor((await stat(path.join(this.folder, name))).mtimeMs) })),
    );
    return entries.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private async read(entry: FileEntry): Promise<SourceRecord[]> {
    const text = await readFile(path.join(this.folder, entry.name), 'utf8');
    // Origins name the configured folder, so they read the same from any working directory.
    return this.recordsOfFile(path.posix.join(this.label.split(path.sep).join('/'), entry.name), text);
  }

  /**
   * The records of one file's text. A CSV file's orders are parsed here (their rows are spread
   * over the file) and stored as canonical order JSON; a broken order becomes an unreadable
   * record that names its line and column, and the file's other orders still flow.
   */
  recordsOfFile(fileLabel: string, text: string): SourceRecord[] {
    if (this.format !== 'csv') return recordsOfText(fileLabel, text, /\.jsonl$/i.test(fileLabel), ENVELOPES[this.format]);
    const { orders, errors } = parseCsvOrders(this.name, text, fileLabel);
    return [
      ...orders.map((order) => ({ id: order.id, raw: JSON.stringify(order), origin: `${fileLabel}#${order.id}`, supersedes: `${fileLabel}#${order.id}` })),
      ...errors.map((e) => {
        const id = e.orderId ?? `${fileLabel}:${e.line}`;
        return { id, raw: text, origin: `${fileLabel}:${e.line}`, readError: e.message };
      }),
    ];
  }

  async *pull({ cursor }: PullOptions): AsyncIterable<SourceRecord> {
    for (const entry of await this.files()) {
      const checkpoint = checkpointOf(entry);
      if (cursor !== null && checkpoint <= cursor) continue;
      const records = await this.read(entry);
      for (let i = 0; i < records.length; i++) {
        yield i === records.length - 1 ? { ...records[i]!, checkpoint } : records[i]!;
      }
    }
  }

  async fetch(id: string): Promise<SourceRecord | null> {
    for (const entry of (await this.files()).reverse()) {
      const hit = (await this.read(entry)).find((r) => r.id === id);
      if (hit) return hit;
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
