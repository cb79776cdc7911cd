/**
 * The cursor of shop APIs: a watermark (updated-at, id) that loses nothing.
 *
 * A pull reads everything updated since the stored watermark minus an overlap window, up to
 * a small lag behind now: a record written while the previous pull ran, or stamped by a shop
 * clock that is a little behind, is read again rather than missed, and intake recognises the
 * re-reads by their content hash. The watermark only ever moves forward, and only past records
 * that are durably stored (the service saves a record's checkpoint after storing it).
 */
import type { SourceRecord } from './types.js';

export interface Watermark {
  /** ISO-8601 UTC. */
  updatedAt: string;
  id: string;
}

export interface WindowOptions {
  overlapMinutes: number;
  lagSeconds: number;
  /** Where to start without a stored cursor (YYYY-MM-DD, UTC). */
  startDate?: string | undefined;
  now?: () => Date;
}

export interface PullWindow {
  /** Read records updated at or after this instant (ISO UTC). */
  since: string;
  /** … and at or before this one; later ones wait for the next pull. */
  until: string;
}

const EPOCH = '1970-01-01T00:00:00.000Z';

export function encodeWatermark(w: Watermark): string {
  return `${w.updatedAt}|${w.id}`;
}

export function decodeWatermark(cursor: string | null): Watermark | null {
  if (!cursor) return null;
  const bar = cursor.indexOf('|');
  const updatedAt = bar < 0 ? cursor : cursor.slice(0, bar);
  // Anything else (a file source's cursor, say) is not a watermark: start from the beginning.
  if (!/^\d{4}-\d{2}-\d{2}T/.test(updatedAt) || Number.isNaN(Date.parse(updatedAt))) return null;
  return { updatedAt: new Date(updatedAt).toISOString(), id: bar < 0 ? '' : cursor.slice(bar + 1) };
}

/** Ids compare numerically when both are numbers (WooCommerce, Shopify), else as text. */
function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareWatermarks(a: Watermark, b: Watermark): number {
  return a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : compareIds(a.id, b.id);
}

export function pullWindow(cursor: string | null, options: WindowOptions): PullWindow {
  const now = (options.now ?? (() => new Date()))();
  const until = new Date(now.getTime() - options.lagSeconds * 1000).toISOString();
  const mark = decodeWatermark(cursor);
  const start = mark ? new Date(Date.parse(mark.updatedAt) - options.overlapMinutes * 60_000).toISOString() : options.startDate ? `${options.startDate}T00:00:00.000Z` : EPOCH;
  return { since: start < until ? start : until, until };
}

export interface StampedRecord {
  record: SourceRecord;
  /** The record's updated-at as the shop reports it (ISO UTC). */
  updatedAt: string;
}

/**
 * Records in the order the shop returns them (by updated-at), with a checkpoint on each one
 * that moves the watermark forward. Records past `window.until` are left for the next pull;
 * re-reads inside the overlap carry no checkpoint, so the cursor never moves back.
 */
export async function* withCheckpoints(records: AsyncIterable<StampedRecord>, cursor: string | null, window: PullWindow): AsyncIterable<SourceRecord> {
  let high = decodeWatermark(cursor);
  for await (const { record, updatedAt } of records) {
    // Compare instants, not strings: "…:05Z" and "…:05.123Z" order wrongly as text.
    const at = Date.parse(updatedAt);
    // A record without a readable date (it is quarantined with its read error) never moves the cursor.
    if (Number.isNaN(at)) {
      yield record;
      continue;
    }
    if (at > Date.parse(window.until)) continue;
    const mark = { updatedAt: new Date(at).toISOString(), id: record.id };
    if (!high || compareWatermarks(mark, high) > 0) {
      high = mark;
      yield { ...record, checkpoint: encodeWatermark(mark) };
    } else {
      yield record;
    }
  }
}
