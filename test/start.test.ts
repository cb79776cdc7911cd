/**
 * `npm start` exactly as the README says, against the bundled samples: it books them,
 * prints the summary, keeps running, and stops cleanly on SIGTERM. A second start books
 * nothing new. The config is a copy in a temp folder (via KONTOR_CONFIG) so the test
 * never touches a developer's data/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempProject } from './helpers.js';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function npmStart(configPath: string): Started {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, KONTOR_CONFIG: configPath, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Resolve once the output contains `text`; reject with the output so far after `ms`. */
function waitFor(started: Started, text: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms; output:\n${started.output()}`)), ms);
    const check = () => {
      if (started.output().includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    started.child.stdout!.on('data', check);
    started.child.stderr!.on('data', check);
    check();
  });
}

async function stop(started: Started, ms: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const t0 = Date.now();
  started.child.kill(signal);
  const code = await Promise.race([started.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);
  if (code === 'timeout') {
    started.child.kill('SIGKILL');
    throw new Error(`did not exit within ${ms} ms of SIGTERM`);
  }
  expect(Date.now() - t0).toBeLessThan(ms);
  return code;
}

/**
 * How long a start may take to say it runs: `npm start` first runs the (incremental) build, and
 * CI runs this beside other test files on two cores. Idle, a start takes about 3 s; a CI run
 * with the machine loaded once needed more than 10 s.
 */
const START_WITHIN_MS = 60_000;

describe('npm start', () => {
  it('books the samples, prints the summary, stops on SIGTERM, and books nothing twice', async () => {
    const configPath = path.join(tempProject(), 'config.yaml');

    const first = npmStart(configPath);
    await waitFor(first, 'kontor running', START_WITHIN_MS);
    const out1 = first.output();
    expect(out1).toContain('source samples: 5 orders read, 5 booked (13 new documents), 0 unchanged, 0 skipped, 0 quarantined');
    expect(out1).toContain('delivery: 13 documents booked, 0 retrying, 0 in doubt, 0 dead');
    expect(out1).toContain('total: balanced (debits = credits)');
    expect(out1).toMatch(/1100\s+CHF\s+830\.04\s+512\.18\s+317\.86/);
    expect(out1).toContain('transfer account 1090:');
    expect(await stop(first, 5_000)).toBe(0);
    expect(first.output()).toContain('kontor stopped');

    const second = npmStart(configPath);
    await waitFor(second, 'kontor running', START_WITHIN_MS);
    expect(second.output()).toContain('source samples: 0 orders read, 0 booked (0 new documents)');
    expect(second.output()).toContain('delivery: 0 documents booked');
    expect(second.output()).toMatch(/1100\s+CHF\s+830\.04/);
    // Ctrl-C in a terminal: SIGINT stops it just as cleanly.
    expect(await stop(second, 5_000, 'SIGINT')).toBe(0);
    expect(second.output()).toContain('SIGINT received: stopping');
  }, 3 * START_WITHIN_MS);
});
