/**
 * The benchmark harness: what a figure is, how two implementations are timed side by side,
 * and how results are printed and stored. Figures live in bench/figures/, one file each, and
 * are listed in bench/figures/index.ts.
 *
 * House rule: benchmarks print ratios measured side by side in one run, on one machine; tests
 * never assert timings.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest folder above this file with package.json and bench/. */
export const ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bench', 'harness.ts')))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the project root (package.json next to bench/)');
    dir = up;
  }
  return dir;
})();

export interface BenchOptions {
  /** How many orders the order-based figures run over. */
  orders: number;
  /** Timed rounds per side (after warm-up). */
  rounds: number;
  /** Seed of the order generator. */
  seed: number;
  /** Orders of the large backfill of the memory figure (the small one is a tenth). */
  backfillOrders: number;
  /** Progress lines (stderr), so that stdout carries the table. */
  log: (line: string) => void;
}

/** One side of a comparison: a value and what it is. */
export interface Measurement {
  /** "declarative", "hand-written", … */
  label: string;
  value: number;
  /** "orders/s", "ms", "MB" … */
  unit: string;
  /** The value of every timed round. */
  samples?: number[];
}

/**
 * What a figure must reach: on the ratio measured/baseline (higher is better for throughput,
 * lower for memory or start time), or on the measured value itself when there is no baseline.
 */
export interface Goal {
  on: 'ratio' | 'measured';
  atLeast?: number;
  atMost?: number;
  /** Strictly less than. */
  below?: number;
}

export interface FigureOutcome {
  /** What exactly was measured, in a few words ("orders/s over 10,000 varied orders"). */
  what: string;
  measured: Measurement;
  baseline: Measurement | null;
  /** Anything a reader of the table should know (mix of inputs, spread of rounds). */
  notes?: string[];
  details?: Record<string, unknown>;
}

export interface FigureResult extends Partial<FigureOutcome> {
  name: string;
  goal: Goal;
  ratio: number | null;
  ok: boolean;
  /** Why the figure has no value: it failed to run (the other figures still ran). */
  error?: string;
}

export interface Figure {
  /** Short name, used by `--only`. */
  name: string;
  /** One line on what the figure says. */
  description: string;
  /** What the figure must reach (issue #9 gives most of them). */
  goal: Goal;
  run(options: BenchOptions): Promise<FigureOutcome>;
}

/** Fails a figure before timing: its two sides do not do the same work. */
export class BenchMismatchError extends Error {
  override name = 'BenchMismatchError';
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Something observable that keeps the optimiser from dropping work whose result is unused. */
export let sink = 0;
export function consume(value: number): void {
  sink = (sink + value) | 0;
}

/** Milliseconds `fn` takes. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export interface Contender {
  label: string;
  /** One pass over the work; returns a checksum both contenders must agree on. */
  pass: () => number | Promise<number>;
  /** Untimed, before each pass (a fresh database, a reset emulator). */
  setup?: () => unknown;
  /** Untimed, after each pass. */
  teardown?: () => unknown;
}

/**
 * Time two contenders side by side: `warmup` untimed passes each, then `rounds` timed passes
 * each, interleaved and alternating which goes first (A B, B A, A B …) so that drift of the
 * machine (turbo, other load) hits both alike. A contender's `setup` and `teardown` run around
 * each of its passes, untimed. Returns the per-round milliseconds.
 */
export async function sideBySide(a: Contender, b: Contender, rounds: number, warmup: number, log: (line: string) => void): Promise<{ a: number[]; b: number[] }> {
  let checksum: number | undefined;
  const check = (who: Contender, sum: number) => {
    consume(sum);
    if (checksum === undefined) checksum = sum;
    else if (sum !== checksum) throw new BenchMismatchError(`${who.label} gave checksum ${sum}, expected ${checksum}: the contenders do different work`);
  };
  const timed = async (who: Contender) => {
    await who.setup?.();
    try {
      return await timeMs(async () => check(who, await who.pass()));
    } finally {
      await who.teardown?.();
    }
  };
  for (let i = 0; i < warmup; i++) {
    for (const who of [a, b]) {
      const ms = await timed(who);
      log(`  warm-up ${i + 1}/${warmup} ${who.label}: ${ms.toFixed(0)} ms`);
    }
  }
  const times = { a: [] as number[], b: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const order: ['a' | 'b', Contender][] = r % 2 === 0 ? [['a', a], ['b', b]] : [['b', b], ['a', a]];
    for (const [side, who] of order) {
      const ms = await timed(who);
      times[side].push(ms);
      log(`  round ${r + 1}/${rounds} ${who.label}: ${ms.toFixed(0)} ms`);
    }
  }
  return times;
}

export function ratioOf(outcome: FigureOutcome): number | null {
  return outcome.baseline && outcome.baseline.value !== 0 ? outcome.measured.value / outcome.baseline.value : null;
}

export function meetsGoal(goal: Goal, outcome: FigureOutcome, ratio: number | null): boolean {
  const value = goal.on === 'ratio' ? ratio : outcome.measured.value;
  if (value === null || !Number.isFinite(value)) return false;
  if (goal.atLeast !== undefined && value < goal.atLeast) return false;
  if (goal.atMost !== undefined && value > goal.atMost) return false;
  if (goal.below !== undefined && value >= goal.below) return false;
  return true;
}

const group = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatValue(m: Measurement): string {
  const digits = Math.abs(m.value) >= 100 ? 0 : Math.abs(m.value) >= 10 ? 1 : 2;
  const n = digits === 0 ? group.format(m.value) : m.value.toFixed(digits);
  return `${m.label} ${n} ${m.unit}`;
}

/** `ratio ≥ 0.5`, `value < 1,500 ms`. */
export function formatGoal(goal: Goal, unit = ''): string {
  const subject = goal.on === 'ratio' ? 'ratio' : 'value';
  const n = (x: number) => `${goal.on === 'ratio' ? String(x) : group.format(x)}${goal.on === 'measured' && unit ? ` ${unit}` : ''}`;
  const parts = [goal.atLeast !== undefined ? `≥ ${n(goal.atLeast)}` : '', goal.atMost !== undefined ? `≤ ${n(goal.atMost)}` : '', goal.below !== undefined ? `< ${n(goal.below)}` : ''].filter(Boolean);
  return `${subject} ${parts.join(' and ')}`;
}

/** A plain-text table; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: readonly string[]) => r.map((cell, c) => cell + ' '.repeat(widths[c]! - [...cell].length)).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

/** Two decimals, or three where two would round a ratio onto its goal's other side (0.899 shown as 0.90 beside FAIL). */
export function formatRatio(ratio: number, goal: Goal): string {
  const short = ratio.toFixed(2);
  if (goal.on !== 'ratio') return short;
  const bound = goal.atLeast ?? goal.atMost ?? goal.below;
  return bound !== undefined && Number(short) === bound && ratio !== bound ? ratio.toFixed(3) : short;
}

export function resultsTable(results: readonly FigureResult[]): string {
  return table([
    ['figure', 'what', 'measured', 'baseline', 'ratio', 'goal', 'pass?'],
    ...results.map((r) => [
      r.name,
      r.what ?? 'did not run to the end (see the error below)',
      r.measured ? formatValue(r.measured) : '—',
      r.baseline ? formatValue(r.baseline) : '—',
      r.ratio === null ? '—' : formatRatio(r.ratio, r.goal),
      formatGoal(r.goal, r.measured?.unit ?? (r.goal.on === 'measured' ? 'ms' : '')),
      r.error !== undefined ? 'ERROR' : r.ok ? 'pass' : 'FAIL',
    ]),
  ]);
}
