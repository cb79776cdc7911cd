/**
 * Figure "memory" (issue #9): the peak resident set size of a backfill of 200,000 orders over
 * that of 20,000 orders, each in a process of its own (bench/children/backfill.ts: the intake
 * half of `kontor backfill`, pullSource with a window), the two run at the same time. Goal
 * ≤ 1.2: kontor streams the orders instead of loading them.
 *
 * The orders are the generated ones (bench/orders.ts) as WooCommerce JSON Lines, each backfill's
 * in one file (a shop's whole export: 546 MB for 200,000 orders, more than a JavaScript string
 * can hold), read by the file source, which streams JSON Lines line by line; the 20,000 are the
 * first orders of the 200,000 (the generator is deterministic). Files and databases go to
 * /dev/shm when it has room (no fsync waits, which only cost time here: the page cache is not
 * part of a process's RSS).
 *
 * OUTBOX: with it (the default), the orders are taken in as `kontor backfill` does, with an
 * outbox entry per document for one journal target. Without it (`--no-outbox`), snapshots and
 * documents are written but no outbox entries: an option for a slow machine, where 200,000
 * orders with their entries might not fit the bench's 10 minutes (here: 314 s at 638 orders/s).
 * Memory is the same either way, as entries are written and forgotten per order.
 */
import path from 'node:path';
import { BenchMismatchError, type Figure, type FigureOutcome } from '../harness.js';
import { BENCH_DIST, runNode, tempDir, writeOrderFiles, writeProject } from '../kontor.js';

const OUTBOX = true;
/** Room a backfill takes per order: its file (~2.9 kB) and the database (snapshot, documents, indexes, WAL). */
const BYTES_PER_ORDER = 12_000;

interface ChildReport {
  stats: { read: number; booked: number; documents: number; skipped: number; quarantined: number };
  documents: number;
  entries: number;
  ms: number;
  peakRss: number;
  heapUsed: number;
}

async function backfill(dir: string, log: (line: string) => void, label: string): Promise<ChildReport> {
  const args = [path.join(BENCH_DIST, 'children', 'backfill.js'), path.join(dir, 'config.yaml'), 'bench', ...(OUTBOX ? [] : ['--no-outbox'])];
  const result = await runNode(args, { cwd: dir, onStderrLine: (line) => log(`    ${label}: ${line}`) });
  if (result.code !== 0) throw new Error(`memory: the ${label} backfill failed (exit ${result.code ?? result.signal}):\n${result.stderr.slice(-2000)}`);
  const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ChildReport;
  log(`  ${label}: ${report.stats.read} orders in ${(report.ms / 1000).toFixed(1)} s, peak RSS ${mb(report.peakRss)} MB`);
  return report;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export const memoryFigure: Figure = {
  name: 'memory',
  description: 'peak RSS of a backfill of 200,000 orders over that of 20,000 (one JSON Lines file each, each run in its own process)',
  goal: { on: 'ratio', atMost: 1.2 },
  async run(options): Promise<FigureOutcome> {
    const { log } = options;
    const large = options.backfillOrders;
    const small = Math.max(1, Math.round(large / 10));
    const root = tempDir('memory', { inMemoryBytes: (large + small) * BYTES_PER_ORDER });
    try {
      const bigDir = path.join(root.dir, 'large');
      const smallDir = path.join(root.dir, 'small');
      writeProject(bigDir);
      writeProject(smallDir);
      const started = Date.now();
      const files = writeOrderFiles(path.join(bigDir, 'orders'), large, options.seed, large);
      const smallFiles = writeOrderFiles(path.join(smallDir, 'orders'), small, options.seed, small);
      log(`memory: ${large} and ${small} orders written as one file each (${mb(files.bytes)} and ${mb(smallFiles.bytes)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

      // Side by side, on a core each (the bench needs 2): a process's peak RSS is its own, and the
      // small backfill's half a minute is not added to the large one's five.
      const [a, b] = await Promise.all([backfill(smallDir, log, `${small.toLocaleString('en-US')} orders`), backfill(bigDir, log, `${large.toLocaleString('en-US')} orders`)]);
      // A backfill quarantines what it cannot book and goes on; the generator makes a few such orders
      // (6 in 200,000: a refund that credits more at a rate than the order invoiced at it), and they count.
      for (const [r, n] of [[a, small], [b, large]] as const) {
        if (r.stats.read !== n) throw new BenchMismatchError(`memory: the backfill of ${n} orders read ${r.stats.read}`);
      }
      const rate = (r: ChildReport) => Math.round(r.stats.read / (r.ms / 1000));
      return {
        what: `peak RSS, backfill of ${large.toLocaleString('en-US')} vs ${small.toLocaleString('en-US')} orders${OUTBOX ? '' : ' (no outbox entries)'}`,
        measured: { label: `${large / 1000}k`, value: b.peakRss / 2 ** 20, unit: 'MB' },
        baseline: { label: `${small / 1000}k`, value: a.peakRss / 2 ** 20, unit: 'MB' },
        notes: [
          `orders as WooCommerce JSON Lines, one file per backfill (${mb(files.bytes)} MB and ${mb(smallFiles.bytes)} MB), streamed by the file source; each backfill in its own process (pullSource with a window), the two at the same time, peak RSS = VmHWM at its end; files and database ${root.tmpfs ? 'on /dev/shm (tmpfs: no fsync waits; the page cache is not part of RSS)' : 'in the temp folder'}`,
          `${small} orders: ${(a.ms / 1000).toFixed(1)} s (${rate(a)} orders/s), ${a.documents} documents, ${a.stats.quarantined} quarantined; ${large} orders: ${(b.ms / 1000).toFixed(1)} s (${rate(b)} orders/s), ${b.documents} documents, ${b.stats.quarantined} quarantined, ${b.entries} outbox entries`,
          ...(OUTBOX ? [] : ['taken in without outbox entries: with them, intake writes about twice the statements per order (docs/benchmarks.md), and 200,000 orders would not fit the bench\'s 10 minutes']),
        ],
        details: { bytes: { large: files.bytes, small: smallFiles.bytes }, outbox: OUTBOX, tmpfs: root.tmpfs, small: { orders: small, ...a }, large: { orders: large, ...b } },
      };
    } finally {
      root.cleanup();
    }
  },
};
