/**
 * The watermark cursor of the shop API sources: the window goes back by the overlap and stops
 * short of now by the lag; checkpoints only ever move forward, compare instants rather than
 * text, and never come from a record whose date cannot be read.
 */
import { describe, expect, it } from 'vitest';
import { compareWatermarks, decodeWatermark, encodeWatermark, pullWindow, withCheckpoints, type StampedRecord } from '../src/sources/watermark.js';

const now = () => new Date('2026-11-21T12:00:00.000Z');
async function* stream(items: [string, string][]): AsyncIterable<StampedRecord> {
  for (const [id, updatedAt] of items) yield { record: { id, raw: '{}', origin: id }, updatedAt };
}
async function drain(it: AsyncIterable<{ id: string; checkpoint?: string }>) {
  const out: [string, string | undefined][] = [];
  for await (const r of it) out.push([r.id, r.checkpoint]);
  return out;
}

describe('watermark', () => {
  it('encodes and decodes (updated-at, id), and refuses a cursor that is not one', () => {
    const w = { updatedAt: '2026-11-21T10:00:00.000Z', id: '42' };
    expect(decodeWatermark(encodeWatermark(w))).toEqual(w);
    expect(decodeWatermark(null)).toBeNull();
    expect(decodeWatermark('0000000001700|orders.json')).toBeNull();
  });

  it('orders by time, then by id numerically when both are numbers', () => {
    const at = '2026-11-21T10:00:00.000Z';
    expect(compareWatermarks({ updatedAt: at, id: '9' }, { updatedAt: at, id: '10' })).toBeLessThan(0);
    expect(compareWatermarks({ updatedAt: at, id: 'b' }, { updatedAt: at, id: 'a' })).toBeGreaterThan(0);
    expect(compareWatermarks({ updatedAt: '2026-11-21T09:59:59.999Z', id: '99' }, { updatedAt: at, id: '1' })).toBeLessThan(0);
  });

  it('reads from the watermark minus the overlap up to now minus the lag; without a cursor from the start date', () => {
    const cursor = encodeWatermark({ updatedAt: '2026-11-21T11:00:00.000Z', id: '7' });
    expect(pullWindow(cursor, { overlapMinutes: 10, lagSeconds: 60, now })).toEqual({ since: '2026-11-21T10:50:00.000Z', until: '2026-11-21T11:59:00.000Z' });
    expect(pullWindow(null, { overlapMinutes: 10, lagSeconds: 0, startDate: '2026-01-01', now }).since).toBe('2026-01-01T00:00:00.000Z');
    expect(pullWindow(null, { overlapMinutes: 10, lagSeconds: 0, now }).since).toBe('1970-01-01T00:00:00.000Z');
  });

  it('checkpoints only move forward: re-reads in the overlap carry none, records past the window wait', async () => {
    const cursor = encodeWatermark({ updatedAt: '2026-11-21T11:00:00.000Z', id: '7' });
    const window = pullWindow(cursor, { overlapMinutes: 10, lagSeconds: 60, now });
    const out = await drain(
      withCheckpoints(
        stream([
          ['5', '2026-11-21T10:55:00Z'],
          ['7', '2026-11-21T11:00:00Z'],
          ['8', '2026-11-21T11:00:00Z'],
          ['3', '2026-11-21T11:30:00.5Z'],
          ['2', 'not a date'],
          ['9', '2026-11-21T11:59:30Z'],
        ]),
        cursor,
        window,
      ),
    );
    expect(out).toEqual([
      ['5', undefined],
      ['7', undefined],
      ['8', '2026-11-21T11:00:00.000Z|8'],
      ['3', '2026-11-21T11:30:00.500Z|3'],
      ['2', undefined],
    ]);
  });
});
