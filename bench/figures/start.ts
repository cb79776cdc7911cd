/**
 * Figure "start" (issue #9): milliseconds from spawning `node dist/cli.js sync` on a fresh
 * project (no database yet, one sample order: examples/orders/wc-order-1001.json with
 * mappings/woocommerce-ch.yaml, the journal target) to the moment its first document is booked
 * in the journal: the timestamp of the Deliverer's `delivered …` log line (debug level, JSON),
 * against the wall clock read just before the spawn. Node's own start, loading the modules,
 * reading the configuration and mapping, creating and migrating the database, the pull and the
 * mapping are all inside. Median of a few runs, each on a fresh project.
 *
 * It runs the built CLI (dist/, `npm run build`); run.ts builds it first when it is missing or
 * older than src/.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { median, ROOT, type Figure, type FigureOutcome } from '../harness.js';
import { CLI, runNode, tempDir } from '../kontor.js';

const RUNS = 5;
const SAMPLE = path.join(ROOT, 'examples', 'orders', 'wc-order-1001.json');
const MAPPING = path.join(ROOT, 'mappings', 'woocommerce-ch.yaml');

interface StartRun {
  firstBookedMs: number;
  exitMs: number;
  delivered: number;
}

async function startOnce(): Promise<StartRun> {
  const project = tempDir('start');
  try {
    mkdirSync(path.join(project.dir, 'orders'));
    copyFileSync(SAMPLE, path.join(project.dir, 'orders', path.basename(SAMPLE)));
    writeFileSync(
      path.join(project.dir, 'config.yaml'),
      [
        'database:',
        '  file: ./data/kontor.sqlite',
        'log:',
        '  level: debug',
        '  format: json',
        'sources:',
        '  shop:',
        '    type: file',
        '    path: ./orders',
        '    format: woocommerce',
        `    mapping: ${MAPPING}`,
        'targets:',
        '  journal:',
        '    type: journal',
        '',
      ].join('\n'),
    );
    const spawnedAt = Date.now();
    const result = await runNode([CLI, '--config', path.join(project.dir, 'config.yaml'), 'sync'], { cwd: project.dir, timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`start: kontor sync failed (exit ${result.code ?? result.signal}):\n${result.stderr.slice(-2000)}`);
    const delivered = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message?: string; timestamp?: string })
      .filter((l) => typeof l.message === 'string' && l.message.startsWith('delivered ') && l.timestamp);
    if (delivered.length === 0) throw new Error(`start: kontor sync booked nothing:\n${result.stdout}\n${result.stderr.slice(-2000)}`);
    return { firstBookedMs: Date.parse(delivered[0]!.timestamp!) - spawnedAt, exitMs: result.ms, delivered: delivered.length };
  } finally {
    project.cleanup();
  }
}

export const startFigure: Figure = {
  name: 'start',
  description: 'ms from spawning `kontor sync` on a fresh project with one order to its first document booked in the journal',
  goal: { on: 'measured', below: 1_500 },
  async run(options): Promise<FigureOutcome> {
    const runs: StartRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await startOnce();
      runs.push(run);
      options.log(`  run ${i + 1}/${RUNS}: first document booked after ${run.firstBookedMs} ms, exit after ${Math.round(run.exitMs)} ms (${run.delivered} documents)`);
    }
    const first = runs.map((r) => r.firstBookedMs);
    return {
      what: 'ms to the first booked document, `kontor sync`, fresh project, one order',
      measured: { label: 'kontor sync', value: median(first), unit: 'ms', samples: first },
      baseline: null,
      notes: [
        `median of ${RUNS} runs, each on a fresh project (the database created and migrated by the run); spread ${Math.min(...first)}–${Math.max(...first)} ms; the process exited after ${Math.round(median(runs.map((r) => r.exitMs)))} ms (median), ${runs[0]!.delivered} documents booked`,
      ],
      details: { runs },
    };
  },
};
