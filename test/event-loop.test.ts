/**
 * better-sqlite3 answers synchronously, so intake from local files and delivery to the journal
 * never wait for I/O: without an explicit yield, timers (source lease renewal, the ops server's
 * answers, progress) would not run until the pull ended. They do run during one.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { closeRuntime, openRuntime, type Runtime } from '../src/service/runtime.js';
import { captureStream, tempProject } from './helpers.js';

const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await closeRuntime(rt);
});

describe('the event loop during intake and delivery', () => {
  it('timers fire while 300 orders of one local file are taken in and delivered to the journal', async () => {
    const dir = tempProject();
    const folder = path.join(dir, 'examples', 'orders');
    const sample = JSON.parse(readFileSync(path.join(folder, 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;
    for (const f of ['1001', '1002', '1003', '1004', '1005']) rmSync(path.join(folder, `wc-order-${f}.json`));
    // One file of 300 orders: read once, then no I/O to wait for until the pull ends.
    writeFileSync(path.join(folder, 'wc-orders.json'), JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ ...sample, id: 5000 + i, number: String(5000 + i) }))));
    const rt = await openRuntime(loadConfig(path.join(dir, 'config.yaml'), {}), createLogger({ format: 'json', stream: captureStream().stream }), {});
    runtimes.push(rt);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const intake = await pullSource(rt, 'samples');
      expect(intake.booked).toBe(300);
      const duringIntake = ticks;
      expect(duringIntake).toBeGreaterThan(0);
      const delivery = await new Deliverer(rt).drain();
      expect(delivery.delivered).toBeGreaterThan(300);
      expect(ticks).toBeGreaterThan(duringIntake);
    } finally {
      clearInterval(timer);
    }
  });
});
