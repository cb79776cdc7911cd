/** Backfill progress (src/service/progress.ts) on a fake clock: rate, ETA, the bar, the log lines. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HttpClient } from '../src/http/client.js';
import { createLogger } from '../src/log/logger.js';
import { FileSource } from '../src/sources/file.js';
import { WooCommerceSource } from '../src/sources/woocommerce.js';
import type { IntakeStats } from '../src/service/intake.js';
import { BackfillProgress, deliveryProgress, etaSeconds, formatDuration, RateMeter, renderBar, type DeliverCounts, type Every } from '../src/service/progress.js';
import { startWooCommerce, WC_CONSUMER_KEY, WC_CONSUMER_SECRET } from './emulators/woocommerce.js';
import { captureStream, ROOT } from './helpers.js';

function fakeClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** A timer that never fires by itself; the test ticks. Remembers what was scheduled. */
function fakeEvery() {
  const scheduled: number[] = [];
  let cancelled = 0;
  const every: Every = (ms) => {
    scheduled.push(ms);
    return () => void cancelled++;
  };
  return { every, scheduled, cancelled: () => cancelled };
}

function stats(read: number, extra: Partial<IntakeStats> = {}): IntakeStats {
  return { source: 'shop', read, booked: read, documents: read * 2, unchanged: 0, skipped: 0, quarantined: 0, ...extra };
}

/** JSON log lines written so far. */
function lines(text: string): { level: string; message: string; source?: string; progress?: Record<string, unknown> }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; message: string; source?: string; progress?: Record<string, unknown> });
}

describe('RateMeter', () => {
  it('knows no rate from one sample, then items per second over its window', () => {
    const m = new RateMeter(10_000);
    expect(m.rate()).toBeNull();
    m.add(0, 0);
    expect(m.rate()).toBeNull();
    m.add(2_000, 100);
    expect(m.rate()).toBe(50);
    m.add(4_000, 300);
    expect(m.rate()).toBe(75);
  });

  it('forgets samples older than its window, so a slowdown shows', () => {
    const m = new RateMeter(10_000);
    for (let t = 0; t <= 20_000; t += 1_000) m.add(t, t <= 10_000 ? t / 10 : 1_000 + (t - 10_000) / 100);
    // 100/s for the first ten seconds, 10/s after: the window covers only the slow part.
    expect(m.rate()).toBe(10);
  });
});

describe('ETA and durations', () => {
  it('computes what is left at the current rate, or nothing without a total or a rate', () => {
    expect(etaSeconds(250, 1_000, 50)).toBe(15);
    expect(etaSeconds(999, 1_000, 50)).toBe(1);
    expect(etaSeconds(1_000, 1_000, null)).toBe(0);
    expect(etaSeconds(1_200, 1_000, 50)).toBe(0);
    expect(etaSeconds(10, null, 50)).toBeNull();
    expect(etaSeconds(10, 100, null)).toBeNull();
    expect(etaSeconds(10, 100, 0)).toBeNull();
  });

  it('formats durations for people', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(45.4)).toBe('45s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(7_620)).toBe('2h07m');
  });
});

describe('renderBar', () => {
  const pull = { phase: 'pull' as const, records: 1_234, read: 1_200, booked: 1_100, documents: 3_300, unchanged: 90, skipped: 7, quarantined: 3 };

  it('shows a bar, the percentage, counts, rate and ETA when the total is known', () => {
    const line = renderBar(pull, { total: 2_930, rate: 85.04, eta: 20, elapsed: 14 }, 200);
    expect(line).toBe('pulling    [██████████░░░░░░░░░░░░░░]  42% 1,234/2,930 records · 1,100 booked · 90 unchanged · 7 skipped · 3 quarantined · 85/s · ETA 20s');
  });

  it('shows counts, rate and the time so far without a total', () => {
    const line = renderBar(pull, { total: null, rate: 12.34, eta: null, elapsed: 75 }, 200);
    expect(line).toBe('pulling    1,234 records · 1,100 booked · 90 unchanged · 7 skipped · 3 quarantined · 12.3/s · 1m15s');
  });

  it('shows the delivery phase, and never wraps the terminal line', () => {
    const deliver = { phase: 'deliver' as const, done: 780, delivered: 770, retrying: 0, inDoubt: 0, dead: 1 };
    expect(renderBar(deliver, { total: 1_300, rate: 12, eta: 43, elapsed: 65 }, 200)).toBe(
      'delivering [██████████████░░░░░░░░░░]  60% 780/1,300 entries · 770 delivered · 1 dead · 12/s · ETA 43s',
    );
    // 80 columns: the bar gets shorter, then the counts give way (dead before delivered); rate and ETA stay.
    const narrow = renderBar(deliver, { total: 1_300, rate: 12, eta: 43, elapsed: 65 }, 80);
    expect(narrow).toBe('delivering [██████░░░░]  60% 780/1,300 entries · 770 delivered · 12/s · ETA 43s');
    expect(narrow.length).toBeLessThan(80);
    const tiny = renderBar(deliver, { total: 1_300, rate: 12, eta: 43, elapsed: 65 }, 40);
    expect(tiny).toHaveLength(39);
    expect(tiny.endsWith('…')).toBe(true);
  });
});

describe('deliveryProgress', () => {
  it('counts entries that left the waiting set and what each end state gained', () => {
    const start = { byState: { pending: 90, delivered: 10, dead: 1 }, waiting: 90 };
    const now = { byState: { pending: 30, leased: 5, retry: 2, delivered: 62, dead: 2 }, waiting: 35 };
    expect(deliveryProgress(start, now)).toEqual({ done: 55, delivered: 52, retrying: 2, inDoubt: 0, dead: 1 });
  });
});

describe('BackfillProgress, log lines', () => {
  function setup(mode: 'log' | 'off' = 'log') {
    const clock = fakeClock();
    const timer = fakeEvery();
    const out = captureStream();
    const logger = createLogger({ format: 'json', stream: out.stream });
    const progress = new BackfillProgress({ mode, logger, label: 'shop', intervalMs: 10_000, clock: clock.now, every: timer.every });
    return { clock, timer, out, progress };
  }

  it('logs the pull every interval with counts, rate and ETA, and a summary line at its end', async () => {
    const { clock, timer, out, progress } = setup();
    progress.startPull();
    expect(timer.scheduled).toEqual([10_000]);
    progress.pullTotal(1_000);
    clock.advance(10_000);
    progress.pullRecord(stats(240, { booked: 230, documents: 500, unchanged: 5, skipped: 3, quarantined: 2 }), 250);
    // pullRecord beats: a line was due, so it is written at once.
    let logged = lines(out.text());
    expect(logged).toHaveLength(1);
    expect(logged[0]!.message).toBe('backfill shop: pulling: 250 of 1,000 records (25%), 240 in range: 230 booked (500 documents), 5 unchanged, 3 skipped, 2 quarantined; 25 records/s, ETA 30s');
    // Filtered by source like every other line about one source (docs/operations.md, logs).
    expect(logged.map((l) => l.source)).toEqual(logged.map(() => 'shop'));
    expect(logged[0]!.progress).toEqual({
      phase: 'pull',
      records: 250,
      read: 240,
      booked: 230,
      documents: 500,
      unchanged: 5,
      skipped: 3,
      quarantined: 2,
      total: 1_000,
      ratePerSecond: 25,
      etaSeconds: 30,
      elapsedSeconds: 10,
    });

    // Not due again before the interval is over.
    clock.advance(5_000);
    progress.pullRecord(stats(400), 400);
    expect(lines(out.text())).toHaveLength(1);
    clock.advance(5_000);
    progress.pullRecord(stats(750), 750);
    logged = lines(out.text());
    expect(logged).toHaveLength(2);
    expect(logged[1]!.progress).toMatchObject({ records: 750, total: 1_000, ratePerSecond: 37.5, etaSeconds: 7, elapsedSeconds: 20 });

    clock.advance(4_000);
    progress.endPull(stats(1_000), 1_000);
    logged = lines(out.text());
    expect(logged[2]!.message).toBe('backfill shop: pulled 1,000 records in 24s: 1,000 in range: 1,000 booked (2,000 documents), 0 unchanged, 0 skipped, 0 quarantined');
    expect(logged[2]!.progress).toMatchObject({ phase: 'pull', records: 1_000, booked: 1_000, total: 1_000, end: true, etaSeconds: null });
    expect(timer.cancelled()).toBe(1);
  });

  it('shows counts and rate without an ETA when the source cannot tell its total', async () => {
    const { clock, out, progress } = setup();
    progress.startPull();
    clock.advance(10_000);
    progress.pullRecord(stats(120), 120);
    const [line] = lines(out.text());
    expect(line!.message).toBe('backfill shop: pulling: 120 records, 120 in range: 120 booked (240 documents), 0 unchanged, 0 skipped, 0 quarantined; 12 records/s');
    expect(line!.progress).toMatchObject({ total: null, etaSeconds: null, ratePerSecond: 12 });
  });

  it('reads the outbox for each delivery line and ends with the deliverer counts', async () => {
    const { clock, out, progress } = setup();
    const polls: DeliverCounts[] = [
      { done: 60, delivered: 55, retrying: 3, inDoubt: 1, dead: 1 },
      // A retried entry came due again: "done" never goes back.
      { done: 58, delivered: 57, retrying: 1, inDoubt: 0, dead: 1 },
    ];
    progress.startDelivery(300, async () => polls.shift()!);
    clock.advance(10_000);
    await progress.tick();
    clock.advance(10_000);
    await progress.tick();
    let logged = lines(out.text());
    expect(logged.map((l) => l.message)).toEqual([
      'backfill shop: delivering: 60 of 300 outbox entries (20%), 55 delivered, 3 retrying, 1 in doubt, 1 dead; 6 entries/s, ETA 40s',
      'backfill shop: delivering: 60 of 300 outbox entries (20%), 57 delivered, 1 retrying, 0 in doubt, 1 dead; 3 entries/s, ETA 1m20s',
    ]);
    clock.advance(30_000);
    progress.endDelivery({ delivered: 296, retrying: 1, inDoubt: 0, dead: 1 }, { done: 298, delivered: 296, retrying: 1, inDoubt: 0, dead: 1 }, 2);
    logged = lines(out.text());
    expect(logged[2]!.message).toBe(
      'backfill shop: delivered in 50s: 296 delivered, 1 retrying, 0 in doubt, 1 dead; 2 outbox entries still waiting (not due yet, or behind an entry that is not delivered)',
    );
    expect(logged[2]!.progress).toMatchObject({ phase: 'deliver', delivered: 296, dead: 1, total: 300, waiting: 2, end: true, byThisBackfill: 296 });
  });

  it('ends with the outbox figures of the lines before, and says how many this backfill delivered when others delivered too', async () => {
    const { clock, out, progress } = setup();
    progress.startDelivery(803, async () => ({ done: 740, delivered: 740, retrying: 0, inDoubt: 0, dead: 0 }));
    clock.advance(10_000);
    await progress.tick();
    // The running service delivered 300 of the entries meanwhile.
    progress.endDelivery({ delivered: 503, retrying: 0, inDoubt: 0, dead: 0 }, { done: 803, delivered: 803, retrying: 0, inDoubt: 0, dead: 0 }, 0);
    const logged = lines(out.text());
    expect(logged[1]!.message).toBe('backfill shop: delivered in 10s: 803 delivered, 0 retrying, 0 in doubt, 0 dead (this backfill delivered 503 of them, other kontor processes on this database the rest)');
    expect(logged[1]!.progress).toMatchObject({ delivered: 803, total: 803, byThisBackfill: 503, end: true });
  });

  it('writes nothing with --no-progress', async () => {
    const { clock, timer, out, progress } = setup('off');
    progress.startPull();
    clock.advance(60_000);
    progress.pullRecord(stats(10), 10);
    await progress.tick();
    progress.endPull(stats(10), 10);
    expect(out.text()).toBe('');
    expect(timer.scheduled).toEqual([]);
  });
});

/** A terminal of `columns` columns that keeps what is written to it. */
function terminal(columns = 200) {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString();
        callback();
      },
    }),
    { columns, isTTY: true },
  );
  return { stream, text: () => text };
}

describe('BackfillProgress, the bar', () => {
  it('redraws one line in place, clears it for log lines and at the end, and gives the stream back', async () => {
    const clock = fakeClock();
    const tty = terminal();
    const originalWrite = tty.stream.write;
    const logger = createLogger({ format: 'json', stream: tty.stream });
    const timer = fakeEvery();
    const progress = new BackfillProgress({ mode: 'bar', logger, label: 'shop', intervalMs: 10_000, clock: clock.now, every: timer.every, stream: tty.stream });
    progress.startPull();
    expect(timer.scheduled).toEqual([250]);
    progress.pullTotal(100);
    clock.advance(100);
    progress.pullRecord(stats(10), 10);
    expect(tty.text()).toBe('');
    clock.advance(150);
    progress.pullRecord(stats(20), 20);
    expect(tty.text()).toBe('\r\x1b[2Kpulling    [█████░░░░░░░░░░░░░░░░░░░]  20% 20/100 records · 20 booked · 80/s · ETA 1s');

    // A warning while the bar is up: the bar's line is cleared first, so the line stands on its own.
    logger.warn('order 7 quarantined');
    expect(tty.text()).toContain('ETA 1s\r\x1b[2K{"level":"warn","message":"order 7 quarantined"');

    clock.advance(250);
    progress.pullRecord(stats(50), 50);
    expect(tty.text().endsWith('\r\x1b[2Kpulling    [████████████░░░░░░░░░░░░]  50% 50/100 records · 50 booked · 100/s · ETA 1s')).toBe(true);

    clock.advance(500);
    progress.endPull(stats(100), 100);
    // The last frame (100 %), cleared for the summary line.
    expect(tty.text()).toContain('100% 100/100 records · 100 booked · 100/s · ETA 0s\r\x1b[2K{"level":"info","message":"backfill shop: pulled 100 records in 1s: ');
    progress.stop();
    expect(tty.stream.write).toBe(originalWrite);
  });
});

describe('BackfillProgress on a terminal that reports 0 columns', () => {
  it('draws the bar for 80 columns (docker exec -t, script without a size), not cut to nothing', () => {
    const { stream, text } = terminal(0);
    const clock = fakeClock();
    const timer = fakeEvery();
    const progress = new BackfillProgress({ mode: 'bar', logger: createLogger({ format: 'json', stream }), label: 'shop', intervalMs: 10_000, clock: clock.now, every: timer.every, stream });
    progress.startPull();
    progress.pullTotal(100);
    clock.advance(100);
    progress.pullRecord(stats(10), 10);
    clock.advance(150);
    progress.pullRecord(stats(20), 20);
    // The 80-column frame (a bar of 18), as on any 80-column terminal.
    expect(text()).toBe('\r\x1b[2Kpulling    [████░░░░░░░░░░░░░░]  20% 20/100 records · 20 booked · 80/s · ETA 1s');
    expect(text().length - '\r\x1b[2K'.length).toBeLessThanOrEqual(80);
    progress.stop();
  });
});

describe('sources tell the total of a pull (PullOptions.onTotal)', () => {
  it('the file source counts the records of its files before the first one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kontor-total-'));
    const order = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(dir, 'list.json'), JSON.stringify([1, 2, 3].map((i) => ({ ...order, id: i }))));
    writeFileSync(path.join(dir, 'lines.jsonl'), `${JSON.stringify({ ...order, id: 4 })}\n\n${JSON.stringify({ ...order, id: 5 })}\n`);
    writeFileSync(path.join(dir, 'broken.json'), '{"id": 6,');
    writeFileSync(path.join(dir, 'notes.txt'), 'not an order file');
    const source = new FileSource({ name: 'files', folder: dir, label: 'orders', format: 'woocommerce' });
    const totals: number[] = [];
    let records = 0;
    for await (const _record of source.pull({ cursor: null, onTotal: (n) => totals.push(n) })) {
      // Known before the first record.
      expect(totals).toEqual([6]);
      records++;
    }
    expect(records).toBe(6);
    expect(totals).toEqual([6]);
  });

  it('WooCommerce reads X-WP-Total of the first page', async () => {
    const emulator = await startWooCommerce();
    const http = new HttpClient({ name: 'source shop', baseDelayMs: 1, maxDelayMs: 5, retries: 2, secrets: [WC_CONSUMER_KEY, WC_CONSUMER_SECRET] });
    const adapter = new WooCommerceSource({
      name: 'shop',
      baseUrl: emulator.url,
      pageSize: 50,
      window: { overlapMinutes: 0, lagSeconds: 0 },
      http,
      consumerKey: WC_CONSUMER_KEY,
      consumerSecret: WC_CONSUMER_SECRET,
      refundsEndpoint: false,
    });
    try {
      emulator.seed(120);
      const totals: number[] = [];
      let records = 0;
      for await (const _record of adapter.pull({ cursor: null, onTotal: (n) => totals.push(n) })) records++;
      expect(records).toBe(120);
      expect(totals).toEqual([120]);
    } finally {
      await adapter.close();
      await emulator.close();
    }
  });
});
