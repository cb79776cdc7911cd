/**
 * The service in-process: it syncs at start, warns about credentials, and on stop lets
 * in-flight deliveries finish within the grace period or releases them as in-doubt.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { listEntries } from '../src/outbox/queries.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { Service } from '../src/service/service.js';
import { credentialReport } from '../src/service/credentials.js';
import { pullSource } from '../src/service/intake.js';
import { Deliverer } from '../src/service/deliver.js';
import { captureStream, freshDatabase, tempProject } from './helpers.js';
import { readFileSync, writeFileSync } from 'node:fs';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});


async function runtime(configYaml?: (yaml: string) => string, graceSeconds = 1) {
  const dir = tempProject();
  const file = path.join(dir, 'config.yaml');
  let yaml = readFileSync(file, 'utf8').replace('shutdown_grace_seconds: 10', `shutdown_grace_seconds: ${graceSeconds}`);
  if (configYaml) yaml = configYaml(yaml);
  writeFileSync(file, yaml);
  const config = loadConfig(file, { API_KEY: 'key-0123456789' });
  const { db, drop } = await freshDatabase('sqlite');
  const logs = captureStream();
  const rt = await openRuntime(config, createLogger({ format: 'json', stream: logs.stream }), { db });
  cleanups.push(async () => {
    await drop().catch(() => undefined);
  });
  return { rt, logs };
}

describe('credentials lifecycle', () => {
  it('is ok far from expiry, warns within 30 days, and is expired the day after', async () => {
    const { rt } = await runtime((y) =>
      y.replace('    transfer_account: "1090"', '    transfer_account: "1090"\n    credentials:\n      test:\n        api_key: ${API_KEY}\n        expires: 2027-03-31\n        created: 2025-04-01'),
    );
    const at = (d: string) => credentialReport(rt.config, new Date(`${d}T12:00:00Z`))[0]!;
    expect(at('2027-02-28')).toMatchObject({ level: 'ok', daysLeft: 31, active: true });
    expect(at('2027-03-01')).toMatchObject({ level: 'warning', daysLeft: 30 });
    expect(at('2027-03-31')).toMatchObject({ level: 'warning', daysLeft: 0 });
    expect(at('2027-04-01')).toMatchObject({ level: 'expired', daysLeft: -1 });
    await rt.db.destroy();
  });

  it('warns about keys said to live longer than two years, and about keys with no expiry', async () => {
    const { rt } = await runtime((y) =>
      y.replace(
        '    transfer_account: "1090"',
        '    transfer_account: "1090"\n    credentials:\n      production:\n        api_key: ${API_KEY}\n        created: 2026-01-01\n        expires: 2028-06-30\n      test:\n        api_key: ${API_KEY}',
      ),
    );
    const report = credentialReport(rt.config, new Date('2026-11-21T00:00:00Z'));
    expect(report.map((r) => [r.environment, r.level])).toEqual([
      ['production', 'warning'],
      ['test', 'warning'],
    ]);
    expect(report[0]!.message).toContain('more than 730 days after created 2026-01-01');
    expect(report[1]!.message).toContain('no expires date');
    await rt.db.destroy();
  });
});

describe('Service', () => {
  it('syncs at start, logs credential warnings, and stops on request', async () => {
    const soon = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
    const { rt, logs } = await runtime((y) =>
      y.replace('    transfer_account: "1090"', `    transfer_account: "1090"\n    credentials:\n      test:\n        api_key: \${API_KEY}\n        expires: ${soon}`),
    );
    const printed: string[] = [];
    const stop = new AbortController();
    const service = new Service(rt, { print: (t) => printed.push(t), stopSignal: stop.signal });
    const summary = await service.start();
    expect(summary?.sources[0]).toMatchObject({ booked: 5 });
    expect(printed.join('\n')).toContain('total: balanced (debits = credits)');
    expect(logs.text()).toContain(`test credentials expire on ${soon}, in 5 days`);
    expect(logs.text()).not.toContain('key-0123456789');
    stop.abort();
    await service.done;
    expect(logs.text()).toContain('kontor stopped');
  });

  it('releases deliveries still in flight after the grace period as in-doubt', async () => {
    const { rt } = await runtime(undefined, 0.2);
    await pullSource(rt, 'samples');
    const journal = rt.targets.get('journal')!;
    let release!: () => void;
    const hanging = new Promise<void>((r) => (release = r));
    let called!: () => void;
    const inFlight = new Promise<void>((r) => (called = r));
    rt.targets.set('journal', { ...journal, name: 'journal', type: 'journal', lookup: (d) => journal.lookup(d), transferBalance: () => journal.transferBalance(), deliver: async () => {
      called();
      await hanging;
      throw new Error('never answered');
    } });
    const deliverer = new Deliverer(rt as Runtime);
    const draining = deliverer.drain();
    // Wait until the first delivery is in flight: the target has been called.
    await inFlight;
    deliverer.stop();
    const released = await deliverer.settle(200);
    // The one delivery in flight may have reached the target: in-doubt, to be looked up.
    expect(released).toBe(1);
    const [inDoubt] = await listEntries(rt.db, { state: 'in_doubt' });
    // The claim's first entry: the one with the longest chain of its order behind it, the oldest
    // among equals (which order's entries got the lower ids depends on which order intake finished first).
    const [firstClaimed] = (await listEntries(rt.db)).sort((a, b) => (b.successors ?? 0) - (a.successors ?? 0) || a.id - b.id);
    expect(firstClaimed!.kind).toBe('customer');
    expect(inDoubt).toMatchObject({ id: firstClaimed!.id, verify_first: true, attempts: 1 });
    release();
    await draining.catch(() => undefined);
    // The rest of the claimed batch was never started: back to pending, attempts not counted.
    const pending = await listEntries(rt.db, { state: 'pending' });
    expect(pending.filter((e) => e.kind === 'customer').map((e) => e.attempts)).toEqual([0, 0, 0]);
    expect(await listEntries(rt.db, { state: 'leased' })).toEqual([]);
    await rt.db.destroy();
  });
});
