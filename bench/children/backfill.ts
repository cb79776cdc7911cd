/**
 * The child process of the "memory" figure: the intake half of `kontor backfill` (pullSource
 * with a window, as src/commands.ts runs it) on the project of a config.yaml, then a JSON line
 * on stdout with the intake's counts, its time and the process's peak resident set size.
 *
 *   node dist-bench/bench/children/backfill.js CONFIG SOURCE [--no-outbox]
 *
 * `--no-outbox` takes the source's orders in without outbox entries (snapshots and documents
 * only): see bench/figures/memory.ts for why. The peak RSS is the kernel's high-water mark
 * (/proc/self/status VmHWM on Linux, else process.resourceUsage().maxRSS), read at the end.
 * Progress goes to stderr every 10,000 orders (orders, seconds, current and peak RSS).
 */
import { readFileSync } from 'node:fs';
import { pullSource } from '../../src/service/intake.js';
import { closeRuntime } from '../../src/service/runtime.js';
import { openProject, watchPull } from '../kontor.js';

/** Peak resident set size of this process in bytes. */
export function peakRssBytes(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

const [configPath, source, ...flags] = process.argv.slice(2);
if (!configPath || !source) {
  process.stderr.write('usage: backfill.js CONFIG SOURCE [--no-outbox]\n');
  process.exit(2);
}
const started = process.hrtime.bigint();
const rt = await openProject(configPath);
const binding = rt.sources.get(source);
if (!binding) throw new Error(`no source ${source}`);
if (flags.includes('--no-outbox')) binding.config.targets = [];
const samples: { records: number; ms: number; rss: number }[] = [];
watchPull(
  binding,
  (records, ms) => {
    const rss = process.memoryUsage.rss();
    samples.push({ records, ms: Math.round(ms), rss });
    process.stderr.write(`${records} orders, ${(ms / 1000).toFixed(1)} s, RSS ${Math.round(rss / 2 ** 20)} MB, peak ${Math.round(peakRssBytes() / 2 ** 20)} MB\n`);
  },
  10_000,
);
const window = { from: '1970-01-01T00:00:00.000Z', to: '9999-01-01T00:00:00.000Z' };
const stats = await pullSource(rt, source, { window });
const rows = Number(((await rt.db('documents').count({ n: '*' }).first()) as { n: number | string }).n);
const entries = Number(((await rt.db('outbox_entries').count({ n: '*' }).first()) as { n: number | string }).n);
await closeRuntime(rt);
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(`${JSON.stringify({ stats, documents: rows, entries, ms, peakRss: peakRssBytes(), heapUsed: process.memoryUsage().heapUsed, samples })}\n`);
