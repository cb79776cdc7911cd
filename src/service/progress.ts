/**
 * Progress of `kontor backfill`, in two phases: pulling (records from the source, taken in) and
 * delivering (outbox entries). On a terminal a one-line bar on stderr, redrawn in place, with
 * counts, rate and ETA; anywhere else (a pipe, journald, `--json`) an info log line every
 * interval with the same figures as structured fields. The ETA needs a total: a source may say
 * how many records it will yield (PullOptions.onTotal), and the delivery phase knows its
 * backlog; without one, counts and rate are shown alone.
 *
 * Everything here runs on an injectable clock and timer, so tests drive it without waiting.
 */
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { toInt } from '../db/connect.js';
import { nowIso } from '../db/time.js';
import type { Logger } from '../log/logger.js';
import type { DeliveryStats } from './deliver.js';
import type { IntakeStats } from './intake.js';

// ── figures ────────────────────────────────────────────────────────────────────────────────

/**
 * Items per second over a sliding window of cumulative counts: recent enough to follow a source
 * that slows down, long enough not to jump with every page.
 */
export class RateMeter {
  private samples: { at: number; count: number }[] = [];

  constructor(private readonly windowMs = 30_000) {}

  /** A cumulative count at a time (milliseconds, any monotonic clock). */
  add(at: number, count: number): void {
    this.samples.push({ at, count });
    // Keep the newest sample at or before the window's start, so the window is always covered.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Per second, or null until two samples some time apart exist. */
  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at <= first.at) return null;
    return Math.max(0, ((last.count - first.count) * 1000) / (last.at - first.at));
  }
}

/** Seconds left for `total − done` at `rate` per second; null when the total or a rate is unknown. */
export function etaSeconds(done: number, total: number | null, rate: number | null): number | null {
  if (total === null) return null;
  if (done >= total) return 0;
  if (rate === null || rate <= 0) return null;
  return Math.ceil((total - done) / rate);
}

/** 45s, 3m05s, 2h07m. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const RATE = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/** 1,234. */
export const formatCount = (n: number): string => COUNT.format(n);

/** Rounded to one decimal, as a number for JSON. */
const roundRate = (rate: number | null): number | null => (rate === null ? null : Math.round(rate * 10) / 10);

// ── what is shown ──────────────────────────────────────────────────────────────────────────

/** Records inside the window and what became of them (IntakeStats), and `records`: every record the source yielded, those outside a backfill window included (what `total` counts). */
export type PullCounts = Omit<IntakeStats, 'source'> & { records: number };

export interface DeliverCounts {
  /** Outbox entries of the backlog no longer waiting: delivered, or failed and waiting for a later attempt, or dead. */
  done: number;
  delivered: number;
  retrying: number;
  inDoubt: number;
  dead: number;
}

export type Snapshot = ({ phase: 'pull' } & PullCounts) | ({ phase: 'deliver' } & DeliverCounts);

export interface Figures {
  total: number | null;
  /** Per second, or null (not known yet). */
  rate: number | null;
  eta: number | null;
  elapsed: number;
}

const doneOf = (s: Snapshot): number => (s.phase === 'pull' ? s.records : s.done);
const unitOf = (s: Snapshot): string => (s.phase === 'pull' ? 'records' : 'outbox entries');

function outcomes(s: Snapshot): string {
  if (s.phase === 'pull') {
    return `${formatCount(s.read)} in range: ${formatCount(s.booked)} booked (${formatCount(s.documents)} documents), ${formatCount(s.unchanged)} unchanged, ${formatCount(s.skipped)} skipped, ${formatCount(s.quarantined)} quarantined`;
  }
  return `${formatCount(s.delivered)} delivered, ${formatCount(s.retrying)} retrying, ${formatCount(s.inDoubt)} in doubt, ${formatCount(s.dead)} dead`;
}

/** The text of a periodic log line: `pulling: 1,200 of 5,000 records (24%), …; 85.2 records/s, ETA 45s`. */
export function progressText(s: Snapshot, f: Figures): string {
  const done = doneOf(s);
  const unit = unitOf(s);
  const of = f.total === null ? `${formatCount(done)} ${unit}` : `${formatCount(done)} of ${formatCount(f.total)} ${unit} (${percent(done, f.total)}%)`;
  const rate = f.rate === null ? '' : `; ${RATE.format(f.rate)} ${unit === 'records' ? 'records' : 'entries'}/s`;
  const eta = f.eta === null ? '' : `, ETA ${formatDuration(f.eta)}`;
  return `${s.phase === 'pull' ? 'pulling' : 'delivering'}: ${of}, ${outcomes(s)}${rate}${eta}`;
}

/** The structured fields of a log line (`progress` in JSON logs). */
export function progressFields(s: Snapshot, f: Figures): Record<string, unknown> {
  return { ...s, total: f.total, ratePerSecond: roundRate(f.rate), etaSeconds: f.eta, elapsedSeconds: Math.round(f.elapsed) };
}

function percent(done: number, total: number): number {
  return total <= 0 ? 100 : Math.min(100, Math.floor((done * 100) / total));
}

const BAR_WIDTH = 24;

/** The bar's width at most, and at least before anything else gives way on a narrow terminal. */
const BAR_MIN = 10;

/**
 * One terminal line: `pulling    [██████░░░░░░]  42% 1,234/2,930 records · 1,100 booked · 3 quarantined · 85/s · ETA 20s`,
 * without a bar when the total is unknown. It never wraps: on a narrow terminal (`columns`) the bar
 * gets shorter first, then the counts give way (unchanged and skipped, retrying and in doubt before
 * quarantined and dead, those before booked and delivered), then the line is cut; rate and ETA stay.
 */
export function renderBar(s: Snapshot, f: Figures, columns = 80): string {
  const done = doneOf(s);
  const label = s.phase === 'pull' ? 'pulling   ' : 'delivering';
  const unit = s.phase === 'pull' ? 'records' : 'entries';
  const head = (width: number): string => {
    if (f.total === null) return `${label} ${formatCount(done)} ${unit}`;
    const p = percent(done, f.total);
    const filled = Math.round((width * p) / 100);
    return `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(p).padStart(3)}% ${formatCount(done)}/${formatCount(f.total)} ${unit}`;
  };
  // [text, how long it stays when space runs out: higher stays longer]
  const counts: [string, number][] =
    s.phase === 'pull'
      ? [
          [`${formatCount(s.booked)} booked`, 3],
          [`${formatCount(s.unchanged)} unchanged`, s.unchanged > 0 ? 1 : 0],
          [`${formatCount(s.skipped)} skipped`, s.skipped > 0 ? 1 : 0],
          [`${formatCount(s.quarantined)} quarantined`, s.quarantined > 0 ? 2 : 0],
        ]
      : [
          [`${formatCount(s.delivered)} delivered`, 3],
          [`${formatCount(s.retrying)} retrying`, s.retrying > 0 ? 1 : 0],
          [`${formatCount(s.inDoubt)} in doubt`, s.inDoubt > 0 ? 1 : 0],
          [`${formatCount(s.dead)} dead`, s.dead > 0 ? 2 : 0],
        ];
  const tail = [...(f.rate !== null ? [`${RATE.format(f.rate)}/s`] : []), f.eta !== null ? `ETA ${formatDuration(f.eta)}` : formatDuration(f.elapsed)];
  const max = Math.max(20, columns - 1);
  let width = BAR_WIDTH;
  let keep = 1;
  const compose = () => [head(width), ...counts.filter(([, rank]) => rank >= keep).map(([text]) => text), ...tail].join(' · ');
  let line = compose();
  while (line.length > max && f.total !== null && width > BAR_MIN) {
    width--;
    line = compose();
  }
  while (line.length > max && keep <= 3) {
    keep++;
    line = compose();
  }
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// ── the reporter ───────────────────────────────────────────────────────────────────────────

export type ProgressMode = 'bar' | 'log' | 'off';

/** Calls `fn` every `ms` until the answered function is called. */
export type Every = (ms: number, fn: () => void) => () => void;

const realEvery: Every = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export interface ProgressOptions {
  mode: ProgressMode;
  logger: Logger;
  /** The source backfilled: names the backfill in every line (`backfill shop: …`) and is its `source` field. */
  label: string;
  /** Between log lines (mode `log`). */
  intervalMs: number;
  /**
   * Beat on every query of this database (knex's `query-response`): with SQLite, intake and the
   * journal target run through promises that never give the timers a turn, so the timer alone
   * would not fire until the work is done.
   */
  db?: Knex;
  /** The terminal (mode `bar`); default process.stderr. */
  stream?: Writable & { columns?: number };
  /** Milliseconds; default performance.now. */
  clock?: () => number;
  every?: Every;
}

/** How often the bar is redrawn, and the outbox read for it at most. */
const BAR_REFRESH_MS = 250;
const BAR_POLL_MS = 1000;

type Write = (...args: unknown[]) => boolean;

/**
 * The progress of one backfill. Feed it with `pullRecord` (from pullSource's onRecord) and
 * `pullTotal`, then `startDelivery` with a function that reads the outbox; end each phase with
 * `endPull` / `endDelivery` (a summary line each), and `stop` in a finally.
 */
export class BackfillProgress {
  private readonly clock: () => number;
  private readonly every: Every;
  private readonly stream: Writable & { columns?: number };
  private phase: { snapshot: Snapshot; total: number | null; started: number; meter: RateMeter; poll?: () => Promise<DeliverCounts>; polled: number; sampled: number } | null = null;
  private cancel: (() => void) | null = null;
  private unwatch: (() => void) | null = null;
  private polling = false;
  private lastTick = -Infinity;
  /** The bar's line is on the terminal now (and must be cleared before anything else is written). */
  private drawn = false;
  private restoreWrite: (() => void) | null = null;

  constructor(private readonly options: ProgressOptions) {
    this.clock = options.clock ?? (() => performance.now());
    this.every = options.every ?? realEvery;
    this.stream = options.stream ?? process.stderr;
  }

  get mode(): ProgressMode {
    return this.options.mode;
  }

  startPull(): void {
    this.begin({ phase: 'pull', records: 0, read: 0, booked: 0, documents: 0, unchanged: 0, skipped: 0, quarantined: 0 }, null);
  }

  /** After each record (IntakeOptions.onRecord). Cheap: the figures are shown on the next beat that is due. */
  pullRecord(stats: Readonly<IntakeStats>, records: number): void {
    if (this.phase?.snapshot.phase !== 'pull') return;
    const { read, booked, documents, unchanged, skipped, quarantined } = stats;
    this.phase.snapshot = { phase: 'pull', records, read, booked, documents, unchanged, skipped, quarantined };
    this.beat();
  }

  /** A chance to show progress: ticks when a redraw (bar) or a log line is due. Called by the timer, each record and each query. */
  beat(): void {
    if (!this.phase || this.options.mode === 'off' || this.polling) return;
    if (this.clock() - this.lastTick >= this.period()) void this.tick();
  }

  private period(): number {
    return this.options.mode === 'bar' ? BAR_REFRESH_MS : this.options.intervalMs;
  }

  /** What the source expects to yield (IntakeOptions.onTotal). */
  pullTotal(records: number): void {
    if (this.phase?.snapshot.phase === 'pull') this.phase.total = records;
  }

  /** The summary line of the pull. */
  endPull(stats: IntakeStats, records: number): void {
    if (this.phase?.snapshot.phase !== 'pull') return;
    this.pullRecord(stats, records);
    const s = this.phase.snapshot;
    this.finish(`pulled ${formatCount(records)} records in ${formatDuration(this.elapsed())}: ${outcomes(s)}`, s, this.phase.total === null ? null : Math.max(this.phase.total, records));
  }

  /**
   * The delivery phase: `total` outbox entries are waiting now; `poll` reads how far they have
   * come (deliveryProgress of two outboxCounts). Polled for each log line, at most every second for the bar.
   */
  startDelivery(total: number, poll: () => Promise<DeliverCounts>): void {
    this.begin({ phase: 'deliver', done: 0, delivered: 0, retrying: 0, inDoubt: 0, dead: 0 }, total, poll);
  }

  /**
   * The summary line of the delivery. Its figures are the outbox's (`outbox`: deliveryProgress
   * at the end), as the lines before it were; when other kontor processes delivered some of the
   * entries meanwhile, the line says how many this one did (`stats`, the deliverer's own counts),
   * so that its figures and the backfill's own summary add up. `waiting`: entries still waiting.
   */
  endDelivery(stats: DeliveryStats, outbox: DeliverCounts, waiting: number): void {
    if (this.phase?.snapshot.phase !== 'deliver') return;
    const s: Snapshot = { phase: 'deliver', ...outbox };
    const others = stats.delivered < outbox.delivered ? ` (this backfill delivered ${formatCount(stats.delivered)} of them, other kontor processes on this database the rest)` : '';
    const still = waiting > 0 ? `; ${formatCount(waiting)} outbox entries still waiting (not due yet, or behind an entry that is not delivered)` : '';
    this.finish(`delivered in ${formatDuration(this.elapsed())}: ${outcomes(s)}${others}${still}`, s, this.phase.total, { waiting, byThisBackfill: stats.delivered });
  }

  /** Stop redrawing and logging; clears the bar. Safe to call more than once. */
  stop(): void {
    this.cancel?.();
    this.cancel = null;
    this.unwatch?.();
    this.unwatch = null;
    this.clearBar();
    this.restoreWrite?.();
    this.restoreWrite = null;
    this.phase = null;
  }

  /**
   * One beat: read the outbox if it is time (delivery), then redraw the bar or write a log line.
   * Called by the timer; tests call it themselves.
   */
  async tick(): Promise<void> {
    const phase = this.phase;
    if (!phase || this.polling) return;
    this.lastTick = this.clock();
    if (phase.poll && (this.options.mode === 'log' || this.clock() - phase.polled >= BAR_POLL_MS)) {
      this.polling = true;
      try {
        const counts = await phase.poll();
        if (this.phase !== phase) return;
        // An entry that failed comes due again and waits once more: the count of those done never goes back.
        phase.snapshot = { phase: 'deliver', ...counts, done: Math.max(counts.done, doneOf(phase.snapshot)) };
        phase.polled = this.clock();
      } catch {
        // The outbox could not be read this time (busy): the next beat tries again.
      } finally {
        this.polling = false;
      }
    }
    // A sample of the rate where the figures are fresh: each beat of the pull, each read of the outbox.
    if (!phase.poll) phase.meter.add(this.clock(), doneOf(phase.snapshot));
    else if (phase.polled > phase.sampled) {
      phase.meter.add(phase.polled, doneOf(phase.snapshot));
      phase.sampled = phase.polled;
    }
    const figures = this.figures();
    // A terminal that reports 0 columns (docker exec -t, script without a size) gets the usual 80.
    if (this.options.mode === 'bar') this.drawBar(renderBar(phase.snapshot, figures, this.stream.columns || 80));
    else if (this.options.mode === 'log') this.log(progressText(phase.snapshot, figures), phase.snapshot, figures);
  }

  private begin(snapshot: Snapshot, total: number | null, poll?: () => Promise<DeliverCounts>): void {
    this.cancel?.();
    this.cancel = null;
    const started = this.clock();
    const meter = new RateMeter();
    meter.add(started, 0);
    this.phase = { snapshot, total, started, meter, ...(poll ? { poll } : {}), polled: -Infinity, sampled: started };
    if (this.options.mode === 'off') return;
    if (this.options.mode === 'bar') this.interceptWrites();
    // The first beat comes one period after the start.
    this.lastTick = started;
    this.cancel = this.every(this.period(), () => this.beat());
    const db = this.options.db;
    if (db && !this.unwatch) {
      const beat = () => this.beat();
      db.on('query-response', beat);
      this.unwatch = () => void db.removeListener('query-response', beat);
    }
  }

  private finish(text: string, s: Snapshot, total: number | null, extra: Record<string, unknown> = {}): void {
    this.cancel?.();
    this.cancel = null;
    this.clearBar();
    const elapsed = this.elapsed();
    const rate = elapsed > 0 ? doneOf(s) / elapsed : null;
    if (this.options.mode !== 'off') {
      this.log(text, s, { total, rate, eta: null, elapsed }, { end: true, ...extra });
    }
    this.phase = null;
  }

  private figures(): Figures {
    const phase = this.phase!;
    const done = doneOf(phase.snapshot);
    // An estimate can fall short (orders added meanwhile): never show more done than the total.
    const total = phase.total === null ? null : Math.max(phase.total, done);
    const rate = phase.meter.rate();
    return { total, rate, eta: etaSeconds(done, total, rate), elapsed: this.elapsed() };
  }

  private elapsed(): number {
    return this.phase ? (this.clock() - this.phase.started) / 1000 : 0;
  }

  private log(text: string, s: Snapshot, f: Figures, extra: Record<string, unknown> = {}): void {
    this.options.logger.info(`backfill ${this.options.label}: ${text}`, { source: this.options.label, progress: { ...progressFields(s, f), ...extra } });
  }

  // ── the terminal ──

  private drawBar(line: string): void {
    const write = this.rawWrite();
    write(`\r\x1b[2K${line}`);
    this.drawn = true;
  }

  private clearBar(): void {
    if (!this.drawn) return;
    this.rawWrite()('\r\x1b[2K');
    this.drawn = false;
  }

  private original: Write | null = null;

  private rawWrite(): (text: string) => boolean {
    const write = this.original ?? (this.stream.write as unknown as Write);
    return (text) => write.call(this.stream, text);
  }

  /**
   * Anything else written to the terminal while the bar is up (a log line) first clears the
   * bar's line, and the bar is redrawn below it on the next beat.
   */
  private interceptWrites(): void {
    if (this.restoreWrite) return;
    const stream = this.stream as unknown as { write: Write };
    const original = stream.write;
    this.original = original;
    stream.write = (...args: unknown[]) => {
      this.clearBar();
      return original.apply(this.stream, args);
    };
    this.restoreWrite = () => {
      stream.write = original;
      this.original = null;
    };
  }
}

/** What the delivery phase starts from: the outbox by state, and how many entries are waiting (due now or leased). */
export interface OutboxCounts {
  byState: Record<string, number>;
  waiting: number;
}

/** One read of the whole outbox (every target, every process): entries by state, and those waiting now. */
export async function outboxCounts(db: Knex): Promise<OutboxCounts> {
  const result: unknown = await db.raw(
    `SELECT state, COUNT(*) AS n, SUM(CASE WHEN state = 'leased' OR (state IN ('pending', 'retry', 'in_doubt') AND available_at <= ?) THEN 1 ELSE 0 END) AS waiting
       FROM outbox_entries GROUP BY state`,
    [nowIso()],
  );
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { state: string; n: number | string; waiting: number | string | null }[];
  const byState: Record<string, number> = {};
  let waiting = 0;
  for (const r of rows) {
    byState[r.state] = toInt(r.n);
    waiting += r.waiting === null ? 0 : toInt(r.waiting);
  }
  return { byState, waiting };
}

/**
 * How far the delivery of `start.waiting` entries has come since `start`, read from the outbox:
 * entries that left the waiting set, and the growth of each end state. Counts every process's
 * deliveries (a `kontor run` beside the backfill delivers from the same outbox).
 */
export function deliveryProgress(start: OutboxCounts, now: OutboxCounts): DeliverCounts {
  const grown = (state: string) => Math.max(0, (now.byState[state] ?? 0) - (start.byState[state] ?? 0));
  return {
    done: Math.max(0, start.waiting - now.waiting),
    delivered: grown('delivered'),
    retrying: grown('retry'),
    inDoubt: grown('in_doubt'),
    dead: grown('dead'),
  };
}
