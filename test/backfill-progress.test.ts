/**
 * `kontor backfill` progress through the real binary (dist/cli.js): structured log lines on
 * stderr when it is not a terminal, a bar on a terminal (`script` gives it one), never in stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, tempProject } from './helpers.js';

/** A project whose file source holds the five samples, `extra` more orders and one broken record. */
function bigProject(extra: number): string {
  const dir = tempProject();
  const order = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', 'wc-order-1001.json'), 'utf8')) as { billing: Record<string, unknown> };
  const lines = Array.from({ length: extra }, (_, i) => JSON.stringify({ ...order, id: 60_000 + i, number: String(60_000 + i), billing: { ...order.billing, email: `c${i}@example.ch` } }));
  writeFileSync(path.join(dir, 'examples', 'orders', 'many.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(path.join(dir, 'examples', 'orders', 'zz-broken.jsonl'), '{"id": 77, "currency": "CHF"}\n');
  return dir;
}

interface ProgressLine {
  level: string;
  message: string;
  progress?: { phase: 'pull' | 'deliver'; end?: boolean; total?: number | null; etaSeconds?: number | null };
}

describe('kontor backfill progress', () => {
  it('logs structured progress lines every --progress-interval when stderr is not a terminal', { timeout: 120_000 }, async () => {
    const dir = bigProject(120);
    const result = await runCli(['backfill', '--source', 'samples', '--from', '2000-01-01', '--to', '2100-01-01', '--json', '--progress-interval', '0.05'], { cwd: dir, timeoutMs: 110_000 });
    expect(result.code, result.stderr).toBe(1); // the broken record is quarantined
    // stdout is the JSON summary alone: no bar, no progress.
    const summary = JSON.parse(result.stdout) as { sources: { read: number; booked: number; quarantined: number; documents: number }[]; delivery: { delivered: number } };
    expect(summary.sources[0]).toMatchObject({ read: 126, booked: 125, quarantined: 1 });
    const documents = summary.sources[0]!.documents;
    expect(summary.delivery.delivered).toBe(documents);
    expect(result.stderr).not.toContain('\x1b[');

    const logged = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ProgressLine);
    const start = logged.find((l) => l.message.startsWith('backfill samples: pulling the orders created from 2000-01-01T00:00:00.000Z to 2100-01-02T00:00:00.000Z'));
    expect(start?.message).toContain('progress every 0.05 s');

    const pulling = logged.filter((l) => l.progress?.phase === 'pull' && !l.progress.end);
    expect(pulling.length).toBeGreaterThan(0);
    for (const l of pulling) {
      const p = l.progress as unknown as Record<string, number>;
      expect(l.level).toBe('info');
      expect(l.message).toMatch(/^backfill samples: pulling: \d+ (of 126 )?records/);
      expect(p.records).toBeGreaterThan(0);
      expect(p.records).toBeLessThanOrEqual(126);
      expect(p.booked! + p.quarantined! + p.unchanged! + p.skipped!).toBe(p.read);
      expect([null, 126]).toContain(l.progress!.total);
    }
    // The file source counted its records: the total and an ETA show up.
    expect(pulling.some((l) => l.progress!.total === 126 && typeof l.progress!.etaSeconds === 'number')).toBe(true);
    const pulled = logged.find((l) => l.progress?.phase === 'pull' && l.progress.end === true)!;
    expect(pulled.message).toMatch(/^backfill samples: pulled 126 records in \d+(m\d\ds)?s?: 126 in range: 125 booked \([\d,]+ documents\), 0 unchanged, 0 skipped, 1 quarantined$/);
    expect(pulled.progress).toMatchObject({ records: 126, read: 126, booked: 125, quarantined: 1, unchanged: 0, skipped: 0, documents, total: 126 });

    const delivering = logged.filter((l) => l.progress?.phase === 'deliver' && !l.progress.end);
    expect(delivering.length).toBeGreaterThan(0);
    for (const l of delivering) {
      const p = l.progress as unknown as Record<string, number>;
      expect(l.message).toMatch(new RegExp(`^backfill samples: delivering: [\\d,]+ of ${documents.toLocaleString('en-US')} outbox entries \\(\\d+%\\), [\\d,]+ delivered, \\d+ retrying, \\d+ in doubt, \\d+ dead`));
      expect(p.total).toBe(documents);
      expect(p.done).toBeLessThanOrEqual(documents);
      expect(p.delivered).toBeLessThanOrEqual(p.done!);
    }
    const delivered = logged.find((l) => l.progress?.phase === 'deliver' && l.progress.end === true)!;
    expect(delivered.message).toMatch(new RegExp(`^backfill samples: delivered in \\d+(m\\d\\ds|s): ${documents.toLocaleString('en-US')} delivered, 0 retrying, 0 in doubt, 0 dead$`));
    expect(delivered.progress).toMatchObject({ delivered: documents, dead: 0, total: documents, waiting: 0 });
    // In order: the pull's lines, its summary, then the delivery's.
    expect(logged.indexOf(pulled)).toBeGreaterThan(logged.indexOf(pulling[pulling.length - 1]!));
    expect(logged.indexOf(delivering[0]!)).toBeGreaterThan(logged.indexOf(pulled));
  });

  it('--no-progress writes no progress; a bad --progress-interval is a usage error', async () => {
    const dir = tempProject();
    const quiet = await runCli(['backfill', '--source', 'samples', '--from', '2026-11-01', '--to', '2026-11-30', '--no-progress'], { cwd: dir });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('backfill samples:');
    const short = await runCli(['backfill', '--source', 'samples', '--from', '2026-11-01', '--to', '2026-11-30'], { cwd: dir });
    // Shorter than one interval: only the start and the two summary lines.
    const messages = short.stderr.match(/"message":"backfill samples: [^"]*"/g) ?? [];
    expect(messages).toHaveLength(3);
    expect(messages[0]).toBe('"message":"backfill samples: pulling the orders created from 2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z; progress every 10 s"');
    expect(messages[1]).toMatch(/^"message":"backfill samples: pulled 5 records in \d+s: 2 in range: 0 booked \(0 documents\), 2 unchanged, 0 skipped, 0 quarantined"$/);
    expect(messages[2]).toMatch(/^"message":"backfill samples: delivered in \d+s: 0 delivered, 0 retrying, 0 in doubt, 0 dead"$/);
    for (const bad of ['0', 'soon', '-1']) {
      const result = await runCli(['backfill', '--source', 'samples', '--from', '2026-11-01', '--to', '2026-11-30', '--progress-interval', bad], { cwd: dir });
      expect(result.code, bad).toBe(2);
      expect(result.stderr).toContain(`--progress-interval "${bad}" is not a number of seconds from 0.01 to 86400`);
    }
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('draws a bar on a terminal (stderr), with percentage, counts, rate and ETA', { timeout: 120_000 }, async () => {
    // Enough orders that the pull outlasts the bar's first redraw (250 ms after the start) on a fast machine too.
    const dir = bigProject(400);
    const command = [process.execPath, CLI, 'backfill', '--source', 'samples', '--from', '2000-01-01', '--to', '2100-01-01'].map((a) => `'${a}'`).join(' ');
    const out = await new Promise<string>((resolve, reject) => {
      // script(1) runs the command on a pseudo-terminal: stdout and stderr are a TTY, as for a person.
      const child = spawn('script', ['-qec', `stty cols 160; ${command}`, '/dev/null'], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm' } });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    const frames = out.split('\x1b[2K').map((f) => f.replace(/\r/g, ''));
    expect(frames.some((f) => /^pulling {4}\[[█░]{24}\] +\d+% \d+\/406 records · \d+ booked/.test(f))).toBe(true);
    expect(frames.some((f) => /^delivering \[[█░]{24}\] +\d+% [\d,]+\/[\d,]+ entries · [\d,]+ delivered .*(ETA \d|\/s)/.test(f))).toBe(true);
    // The log lines stand on lines of their own, and the summary follows.
    const lines = out.split(/[\r\n]/).map((l) => l.split('\x1b[2K').pop()!);
    const plain = lines.map((l) => stripVTControlCharacters(l));
    expect(plain.some((l) => /^\d\d:\d\d:\d\d info \[source=samples\] backfill samples: pulled 406 records in /.test(l)), plain.filter((l) => l.includes('pulled')).join('\n')).toBe(true);
    expect(out).toContain('source samples: 406 orders read, 405 booked');
  });
});
