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
}

export interface FigureOutcome {
  /** What exactly was measured, in a few words ("orders/s over 10,000 varied orders"). */
  what: string;
  measured: Measurement;
  baseline: Measurement | null;
  goal: Goal;
  /** Anything a reader of the table should know (mix of inputs, spread of rounds). */
  notes?: string[];
  details?: Record<string, unknown>;
}

export interface FigureResult extends FigureOutcome {
  name: string;
  ratio: number | null;
  ok: boolean;
}

export interface Figure {
  /** Short name, used by `--only`. */
  name: string;
  /** One line on what the figure says. */
  description: string;
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
}

/**
 * Time two contenders side by side: `warmup` untimed passes each, then `rounds` timed passes
 * each, interleaved and alternating which goes first (A B, B A, A B …) so that drift of the
 * machine (turbo, other load) hits both alike. Returns the per-round milliseconds.
 */
export async function sideBySide(a: Contender, b: Contender, rounds: number, warmup: number, log: (line: string) => void): Promise<{ a: number[]; b: number[] }> {
  let checksum: number | undefined;
  const check = (who: Contender, sum: number) => {
    consume(sum);
    if (checksum === undefined) checksum = sum;
    else if (sum !== checksum) throw new BenchMismatchError(`${who.label} gave checksum ${sum}, expected ${checksum}: the contenders do different work`);
  };
  for (let i = 0; i < warmup; i++) {
    for (const who of [a, b]) {
      const ms = await timeMs(async () => check(who, await who.pass()));
      log(`  warm-up ${i + 1}/${warmup} ${who.label}: ${ms.toFixed(0)} ms`);
    }
  }
  const times = { a: [] as number[], b: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const order: ['a' | 'b', Contender][] = r % 2 === 0 ? [['a', a], ['b', b]] : [['b', b], ['a', a]];
    for (const [side, who] of order) {
      const ms = await timeMs(async () => check(who, await who.pass()));
      times[side].push(ms);
      log(`  round ${r + 1}/${rounds} ${who.label}: ${ms.toFixed(0)} ms`);
    }
  }
  return times;
}

export function ratioOf(outcome: FigureOutcome): number | null {
  return outcome.baseline && outcome.baseline.value !== 0 ? outcome.measured.value / outcome.baseline.value : null;
}

export function meetsGoal(outcome: FigureOutcome, ratio: number | null): boolean {
  const value = outcome.goal.on === 'ratio' ? ratio : outcome.measured.value;
  if (value === null || !Number.isFinite(value)) return false;
  if (outcome.goal.atLeast !== undefined && value < outcome.goal.atLeast) return false;
  if (outcome.goal.atMost !== undefined && value > outcome.goal.atMost) return false;
  return true;
}

const group = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatValue(m: Measurement): string {
  const digits = Math.abs(m.value) >= 100 ? 0 : Math.abs(m.value) >= 10 ? 1 : 2;
  const n = digits === 0 ? group.format(m.value) : m.value.toFixed(digits);
  return `${m.label} ${n} ${m.unit}`;
}

export function formatGoal(goal: Goal): string {
  const subject = goal.on === 'ratio' ? 'ratio' : 'value';
  const parts = [goal.atLeast !== undefined ? `≥ ${goal.atLeast}` : '', goal.atMost !== undefined ? `≤ ${goal.atMost}` : ''].filter(Boolean);
  return `${subject} ${parts.join(' and ')}`;
}

/** A plain-text table; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  const line = (r: readonly string[]) => r.map((cell, c) => cell + ' '.repeat(widths[c]! - [...cell].length)).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

export function resultsTable(results: readonly FigureResult[]): string {
  return table([
    ['figure', 'what', 'measured', 'baseline', 'ratio', 'goal', 'ok?'],
    ...results.map((r) => [
      r.name,
      r.what,
      formatValue(r.measured),
      r.baseline ? formatValue(r.baseline) : '—',
      r.ratio === null ? '—' : r.ratio.toFixed(2),
      formatGoal(r.goal),
      r.ok ? 'yes' : 'NO',
    ]),
  ]);
}
