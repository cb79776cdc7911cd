/**
 * `npm run bench [-- options]`: runs the figures, prints a table, writes bench/results.json.
 *
 *   --orders N     orders timed by the mapping and pull figures (default 10000; issue #4 asks
 *                  for ≥ 10,000); enqueue takes at most 2,000 of them
 *   --rounds N     timed rounds per side, interleaved (default 5; the enqueue and delivery
 *                  figures run at most 3, latency at most 5)
 *   --backfill N   orders of the memory figure's large backfill (default 200000; the small one
 *                  is a tenth)
 *   --seed N       seed of the order generator (default 20260401)
 *   --only a,b     run only these figures (see bench/figures/index.ts)
 *   --strict       exit 1 when a figure misses its goal (default: report only)
 *
 * Exit 1 also when a figure cannot run, in particular when its two sides disagree
 * (BenchMismatchError: a benchmark of implementations that do different work measures
 * nothing); the other figures still run and print, the failed one as ERROR.
 *
 * The start figure runs the built CLI (dist/cli.js); when it is missing or older than src/,
 * `npm run build` is run first. docs/benchmarks.md describes every figure.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FIGURES } from './figures/index.js';
import { BenchMismatchError, meetsGoal, ratioOf, resultsTable, ROOT, type BenchOptions, type FigureResult } from './harness.js';
import { cliProblem } from './kontor.js';

const RESULTS_FILE = path.join(ROOT, 'bench', 'results.json');

/** A wrong command line: said in one line, without a stack. */
class UsageError extends Error {}

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive whole number, not "${text}"`);
  return n;
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        orders: { type: 'string' },
        rounds: { type: 'string' },
        backfill: { type: 'string' },
        seed: { type: 'string' },
        only: { type: 'string' },
        strict: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function main(): Promise<number> {
  const { values } = parseCommandLine();
  const options: BenchOptions = {
    orders: positiveInt('orders', values.orders, 10_000),
    rounds: positiveInt('rounds', values.rounds, 5),
    seed: positiveInt('seed', values.seed, 20_260_401),
    backfillOrders: positiveInt('backfill', values.backfill, 200_000),
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !FIGURES.some((f) => f.name === n)) ?? [];
  if (unknown.length > 0) throw new UsageError(`unknown figure(s) ${unknown.join(', ')}; known: ${FIGURES.map((f) => f.name).join(', ')}`);
  const figures = only ? FIGURES.filter((f) => only.includes(f.name)) : FIGURES;
  if (options.orders < 10_000) options.log(`note: --orders ${options.orders} is below the 10,000 orders issue #4 asks the mapping figure to run over`);
  const started = Date.now();
  if (figures.some((f) => f.name === 'start')) buildCli(options.log);

  const results: FigureResult[] = [];
  const seconds: Record<string, number> = {};
  let mismatch = false;
  for (const figure of figures) {
    options.log(`${figure.name}: ${figure.description}`);
    const figureStart = Date.now();
    try {
      const outcome = await figure.run(options);
      const ratio = ratioOf(outcome);
      results.push({ name: figure.name, ...outcome, goal: figure.goal, ratio, ok: meetsGoal(figure.goal, outcome, ratio) });
    } catch (error) {
      // One figure that cannot run does not take the others with it; the run still fails.
      mismatch ||= error instanceof BenchMismatchError;
      const message = error instanceof BenchMismatchError ? `the two sides do not do the same work: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
      options.log(`${figure.name}: ERROR: ${message}`);
      results.push({ name: figure.name, goal: figure.goal, ratio: null, ok: false, error: message });
    }
    seconds[figure.name] = Math.round((Date.now() - figureStart) / 100) / 10;
  }
  const wallSeconds = Math.round((Date.now() - started) / 100) / 10;

  process.stdout.write(`\n${resultsTable(results)}\n`);
  for (const r of results) for (const note of r.notes ?? []) process.stdout.write(`  ${r.name}: ${note}\n`);
  for (const r of results) if (r.error !== undefined) process.stdout.write(`  ${r.name}: ERROR: ${r.error.split('\n')[0]}\n`);

  const cpus = os.cpus();
  const report = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpu: { model: cpus[0]?.model ?? 'unknown', count: cpus.length, arch: os.arch(), platform: os.platform(), memoryMB: Math.round(os.totalmem() / 2 ** 20) },
    options: { orders: options.orders, rounds: options.rounds, seed: options.seed, backfill: options.backfillOrders, only: only ?? null },
    seconds: { total: wallSeconds, ...seconds },
    figures: results,
  };
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${results.length} figures in ${wallSeconds} s (${Object.entries(seconds).map(([n, t]) => `${n} ${t} s`).join(', ')}); written: ${path.relative(process.cwd(), RESULTS_FILE) || RESULTS_FILE}\n`);
  if (mismatch || results.some((r) => r.error !== undefined)) return 1;
  return values.strict && results.some((r) => !r.ok) ? 1 : 0;
}

/** `npm run build` when dist/cli.js is missing or older than src/: the start figure runs the product as built. */
function buildCli(log: (line: string) => void): void {
  const problem = cliProblem();
  if (problem === null) return;
  log(`${problem.replace(/: run "npm run build" first$/, '')}: building it (npm run build) …`);
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new UsageError('npm run build failed; the start figure needs dist/cli.js');
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof BenchMismatchError) {
    process.stderr.write(`\nbench: ABORTED, the two sides of a figure do not do the same work:\n${error.message}\n`);
  } else if (error instanceof UsageError) {
    process.stderr.write(`bench: ${error.message}\n`);
  } else {
    process.stderr.write(`\nbench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exitCode = 1;
}
