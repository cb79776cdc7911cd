/**
 * Issue #8 in the service: scheduled jobs that keep their last run, never overlap themselves
 * and catch up after downtime; the shutdown that leaves what it still holds in doubt;
 * per-target delivery concurrency; retries bounded by attempts and by age.
 *
 * Tests wait for states (polling, spies), never for fixed times.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatDocumentKey, type BookDocument } from '../src/books/index.js';
import { loadConfig } from '../src/config/load.js';
import { RetriableError } from '../src/errors.js';
import { createLogger } from '../src/log/logger.js';
import { claimEntries } from '../src/outbox/claim.js';
import { redriveDead } from '../src/outbox/operator.js';
import { listEntries } from '../src/outbox/queries.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { nextRunAfter, ScheduledJob } from '../src/service/jobs.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { Service } from '../src/service/service.js';
import { listJobRuns, type JobRun } from '../src/store/job-runs.js';
import type { TargetAdapter } from '../src/targets/types.js';
import { wooCommerceSubject } from './emulators/woocommerce.js';
import { captureStream, gateSource, runCli, tempProject, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * The sample project (file source `samples`, journal target) on its own SQLite file
 * (`data/kontor.sqlite` in the project, so the CLI can read it too), with config edits.
 */
async function project(edit: (yaml: string) => string = (y) => y, options: { yaml?: string } = {}) {
  const dir = tempProject(options.yaml);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  const config = loadConfig(file, {});
  const logs = captureStream();
  const rt = await openRuntime(config, createLogger({ format: 'json', stream: logs.stream }), {});
  cleanups.push(() => rt.db.destroy().catch(() => undefined));
  return { dir, rt, logs };
}

/** `service:` settings added to the sample config. */
function service(lines: string): (yaml: string) => string {
  return (y) => y.replace('  shutdown_grace_seconds: 10\n', `  shutdown_grace_seconds: 10\n${lines}`);
}

/** Replace the journal's deliver (lookup and balance stay the journal's). */
function interceptDeliver(rt: Runtime, deliver: (doc: BookDocument, real: TargetAdapter) => Promise<{ externalId: string }>): void {
  const journal = rt.targets.get('journal')!;
  rt.targets.set('journal', {
    name: 'journal',
    type: 'journal',
    lookup: (d) => journal.lookup(d),
    transferBalance: () => journal.transferBalance(),
    deliver: (d) => deliver(d, journal),
  });
}


async function jobRun(rt: Runtime, job: string): Promise<JobRun | undefined> {
  return (await listJobRuns(rt.db)).find((j) => j.job === job);
}

describe('scheduled jobs', () => {
  it('keep their last run (start, end, outcome), shown by kontor status', async () => {
    const { dir, rt } = await project();
    const stop = new AbortController();
    const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
    await svc.start();
    const run = await jobRun(rt, 'source:samples');
    expect(run).toMatchObject({ outcome: 'ok', detail: '5 read, 5 booked, 0 quarantined (first sync)' });
    expect(run!.finished_at! >= run!.started_at!).toBe(true);

    // A scheduled tick is recorded the same way (the run's delivery round included).
    await svc.jobs.get('source:samples')!.tick('scheduled');
    const last = (await jobRun(rt, 'source:samples'))!;
    expect(last).toMatchObject({ outcome: 'ok', detail: '0 read, 0 booked, 0 quarantined; 0 delivered, 0 dead' });
    stop.abort();
    await svc.done;

    const status = await runCli(['status', '--json'], { cwd: dir });
    const json = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      jobs: [{ job: 'source:samples', outcome: 'ok', knownSince: last.known_since, startedAt: last.started_at, finishedAt: last.finished_at, lastOkAt: last.last_ok_at, owner: last.owner }],
      cursors: [{ source: 'samples', savedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown }],
      leases: [],
    });
    // The JSON contract names every key in camelCase; only the currencies of a balance are codes.
    const keys = (value: unknown, at: string): string[] =>
      value === null || typeof value !== 'object'
        ? []
        : Object.entries(value).flatMap(([k, v]) => [...(Array.isArray(value) || at.endsWith('.balance') ? [] : [`${at}.${k}`]), ...keys(v, `${at}.${k}`)]);
    expect(keys(json, '').filter((k) => !/^[a-z][a-zA-Z0-9]*$/.test(k.slice(k.lastIndexOf('.') + 1)))).toEqual([]);
    const text = await runCli(['status'], { cwd: dir });
    expect(text.stdout).toMatch(/jobs \(last run\):\n {2}source:samples: ok, started \S+, ended \S+: 0 read, 0 booked/);
  });

  it('never overlap themselves: a tick while the previous run still goes is skipped and logged', async () => {
    const { rt, logs } = await project();
    const stop = new AbortController();
    const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
    await svc.start();
    const job = svc.jobs.get('source:samples')!;
    const gated = gateSource(rt);
    const first = job.tick('scheduled');
    await waitFor(() => gated.pulls.mock.calls.length === 1, 'the first run to pull');
    expect(job.busy).toBe(true);
    await job.tick('scheduled');
    expect(logs.text()).toContain('source:samples: scheduled run skipped: its previous run is still going');
    expect(await jobRun(rt, 'source:samples')).toMatchObject({ outcome: 'running' });
    gated.open();
    await first;
    expect(gated.pulls).toHaveBeenCalledTimes(1);
    expect(job.busy).toBe(false);
    expect(await jobRun(rt, 'source:samples')).toMatchObject({ outcome: 'ok' });
    stop.abort();
    await svc.done;
  });

  it('know when they missed a run: the first scheduled time after the last run, in the time zone', async () => {
    const { rt } = await project();
    const job = new ScheduledJob({ name: 'recheck:test', expression: '17 3 * * *', timezone: 'Europe/Zurich', run: async () => undefined, logger: rt.logger });
    job.start();
    cleanups.push(() => job.stop());
    // Never ran: known from now on, nothing missed.
    expect(await job.missedRun(rt.db)).toBeNull();
    expect(await jobRun(rt, 'recheck:test')).toMatchObject({ started_at: null, outcome: null });
    // Last ran two days ago: it missed the 03:17 (Zurich) after that.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await rt.db('job_runs').where({ job: 'recheck:test' }).update({ known_since: twoDaysAgo.toISOString(), started_at: twoDaysAgo.toISOString(), outcome: 'ok' });
    const missed = await job.missedRun(rt.db);
    expect(missed).not.toBeNull();
    expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Zurich', hour: '2-digit', minute: '2-digit' }).format(missed!)).toBe('03:17');
    expect(missed!.getTime()).toBeGreaterThan(twoDaysAgo.getTime());
    // Ran just now: the next 03:17 is still to come.
    await rt.db('job_runs').where({ job: 'recheck:test' }).update({ started_at: new Date().toISOString() });
    expect(await job.missedRun(rt.db)).toBeNull();
  });

  it('nextRunAfter follows the time zone across a DST change', async () => {
    const { rt } = await project();
    const job = new ScheduledJob({ name: 'x', expression: '30 2 * * *', timezone: 'Europe/Zurich', run: async () => undefined, logger: rt.logger });
    job.start();
    cleanups.push(() => job.stop());
    const task = (job as unknown as { task: Parameters<typeof nextRunAfter>[0] }).task;
    // 02:30 Zurich in winter is 01:30 UTC, in summer 00:30 UTC.
    expect(nextRunAfter(task, new Date('2026-01-10T12:00:00Z'))!.toISOString()).toBe('2026-01-11T01:30:00.000Z');
    expect(nextRunAfter(task, new Date('2026-07-10T12:00:00Z'))!.toISOString()).toBe('2026-07-11T00:30:00.000Z');
  });

  it('catch up at start on a re-check sweep missed while kontor was down, once', async () => {
    const emulator = await wooCommerceSubject.start();
    cleanups.push(() => emulator.close());
    emulator.seed(4, { days: 2 });
    const yaml = `service:\n  shutdown_grace_seconds: 10\nsources:\n  shop:\n${wooCommerceSubject.sourceYaml(emulator, 10)}    mapping: ${wooCommerceSubject.mapping}\n    requests_per_second: 100\ntargets:\n  journal:\n    type: journal\n`;
    const { rt, logs } = await project((y) => y, { yaml });
    // The sweep last ran three days ago; kontor was down since.
    const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await rt.db('job_runs').insert({ job: 'recheck:shop', known_since: threeDaysAgo, started_at: threeDaysAgo, finished_at: threeDaysAgo, outcome: 'ok', owner: 'old' });
    const stop = new AbortController();
    const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
    await svc.start();
    await waitFor(async () => {
      const run = await jobRun(rt, 'recheck:shop');
      return run?.outcome === 'ok' && run.started_at! > threeDaysAgo;
    }, 'the catch-up sweep');
    expect(await jobRun(rt, 'recheck:shop')).toMatchObject({ outcome: 'ok', detail: 're-check of 3 day(s): 4 read, 0 booked, 0 quarantined' });
    expect(logs.text()).toMatch(/recheck:shop: its run of \S+ was missed while kontor was down: running it now/);
    // The source job itself was caught up by the first sync.
    expect(await jobRun(rt, 'source:shop')).toMatchObject({ outcome: 'ok', detail: '4 read, 4 booked, 0 quarantined (first sync)' });
    stop.abort();
    await svc.done;
    expect(logs.text().match(/was missed while kontor was down/g)).toHaveLength(1);
  });
});

describe('graceful shutdown', () => {
  it('marks deliveries still running at the end of the grace period in doubt, gives back the unstarted ones, and stops within the grace', async () => {
    const { rt, logs } = await project(service(''), {});
    // A grace of 0.3 s.
    (rt.config.raw.service as { shutdown_grace_seconds: number }).shutdown_grace_seconds = 0.3;
    let release!: () => void;
    const hanging = new Promise<void>((r) => (release = r));
    const deliver = vi.fn(async () => {
      await hanging;
      throw new Error('never answered');
    });
    interceptDeliver(rt, deliver);
    const stop = new AbortController();
    const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
    void svc.start();
    await waitFor(() => deliver.mock.calls.length === 1, 'a delivery in flight');
    const leased = await listEntries(rt.db, { state: 'leased' });
    expect(leased.length).toBeGreaterThan(1);
    const stopping = Date.now();
    stop.abort();
    await svc.done;
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(logs.text()).toContain('shutdown: 1 deliveries still in flight were marked in-doubt');
    expect(logs.text()).toContain('kontor stopped');
    release();

    // Read what the service left behind through a fresh runtime (the service closed its database).
    const config = loadConfig(rt.config.path, {});
    const after = await openRuntime(config, createLogger({ format: 'json', stream: captureStream().stream }), {});
    cleanups.push(() => after.db.destroy());
    const entries = await listEntries(after.db);
    expect(entries.filter((e) => e.state === 'leased')).toEqual([]);
    const inDoubt = entries.filter((e) => e.state === 'in_doubt');
    expect(inDoubt).toHaveLength(1);
    expect(inDoubt[0]).toMatchObject({ verify_first: true, attempts: 1 });
    // The rest of the claimed batch never started: pending again, the attempt not counted.
    for (const e of leased.filter((l) => l.id !== inDoubt[0]!.id)) expect(entries.find((x) => x.id === e.id)).toMatchObject({ state: 'pending', attempts: 0 });
    // The first sync's pull had ended before: recorded as done.
    expect(await jobRun(after, 'source:samples')).toMatchObject({ outcome: 'ok' });
  });

  it('settle() leaves in doubt whatever this deliverer still holds, even entries it never saw (a claim on its way)', async () => {
    const { rt } = await project();
    await pullSource(rt, 'samples');
    const deliverer = new Deliverer(rt);
    // A claim that committed, but whose answer the deliverer never got.
    const orphans = await claimEntries(rt.db, { target: 'journal', owner: deliverer.owner, limit: 3, leaseMs: 120_000 });
    expect(orphans).toHaveLength(3);
    deliverer.stop();
    expect(await deliverer.settle(50)).toBe(3);
    const entries = await listEntries(rt.db);
    expect(entries.filter((e) => e.state === 'leased')).toEqual([]);
    expect(entries.filter((e) => e.state === 'in_doubt').map((e) => e.id)).toEqual(orphans.map((o) => o.id));
  });
});

describe('per-target concurrency', () => {
  it.each([
    [1, ''],
    [3, '\n    concurrency: 3'],
  ])('runs at most %i deliveries to a target at once', async (limit, yaml) => {
    const { rt } = await project((y) => y.replace('    transfer_account: "1090"', `    transfer_account: "1090"${yaml}`));
    await pullSource(rt, 'samples');
    // Deliveries wait until let go; how many run at once is tracked at every start.
    const waiting: (() => void)[] = [];
    let active = 0;
    let max = 0;
    let free = false;
    interceptDeliver(rt, async (doc, real) => {
      active++;
      max = Math.max(max, active);
      if (!free) await new Promise<void>((r) => waiting.push(r));
      active--;
      return real.deliver(doc);
    });
    const deliverer = new Deliverer(rt);
    expect(deliverer.concurrencyOf('journal')).toBe(limit);
    const draining = deliverer.drain();
    // The five customers are ready and independent: the limit fills up, and no more start.
    await waitFor(() => waiting.length === limit, `${limit} deliveries in flight`);
    expect(active).toBe(limit);
    expect((await listEntries(rt.db, { state: 'leased' })).length).toBeGreaterThan(limit);
    free = true;
    for (const go of waiting.splice(0)) go();
    const stats = await draining;
    expect(max).toBe(limit);
    expect(stats.delivered).toBe((await listEntries(rt.db)).length);
    expect((await listEntries(rt.db)).every((e) => e.state === 'delivered')).toBe(true);
  });
});

describe('delivery as a pipeline', () => {
  it('keeps the other places busy while one delivery hangs, and never runs two entries of one order at once', async () => {
    const { rt } = await project((y) => y.replace('    transfer_account: "1090"', '    transfer_account: "1090"\n    concurrency: 3'));
    await pullSource(rt, 'samples');
    const all = await listEntries(rt.db);
    let release = () => {};
    const hung = new Promise<void>((resolve) => (release = resolve));
    let held: BookDocument | null = null;
    const running = new Set<string>();
    const overlaps: string[] = [];
    interceptDeliver(rt, async (doc, real) => {
      const lane = `${doc.key.source}/${doc.key.subject}`;
      if (running.has(lane)) overlaps.push(lane);
      running.add(lane);
      try {
        if (held === null) {
          held = doc;
          await hung;
        }
        return await real.deliver(doc);
      } finally {
        running.delete(lane);
      }
    });
    // Batches of 2: with claim-a-batch-then-wait, the hung delivery would hold up everything after its batch.
    const draining = new Deliverer(rt, { batchSize: 2 }).drain();
    await waitFor(() => held !== null, 'the first delivery started');
    // What waits for the hung entry (its dependants, theirs…) waits; everything else goes through meanwhile.
    const hungEntry = all.find((e) => e.entry_key === `journal:${formatDocumentKey(held!.key)}`)!;
    const blocked = new Set([hungEntry.id]);
    for (let size = 0; size !== blocked.size; ) {
      size = blocked.size;
      for (const e of all) if (e.depends_on !== null && blocked.has(e.depends_on)) blocked.add(e.id);
    }
    expect(blocked.size).toBeLessThan(all.length - 3);
    await waitFor(async () => (await listEntries(rt.db, { state: 'delivered' })).length === all.length - blocked.size, `${all.length - blocked.size} entries delivered while one hangs`);
    release();
    const stats = await draining;
    expect(stats.delivered).toBe(all.length);
    expect(overlaps).toEqual([]);
  });
});

describe('claims that cannot be used', () => {
  it('a claimed batch whose documents cannot be read is given back at once, not held under renewed leases', async () => {
    const { rt } = await project();
    await pullSource(rt, 'samples');
    // A document row gone under its entries (only possible with the foreign keys off, as here).
    const [first] = (await rt.db('outbox_entries').orderBy('id').limit(1).select('document_id')) as { document_id: number }[];
    await rt.db.raw('PRAGMA foreign_keys = OFF');
    await rt.db('documents').where({ id: first!.document_id }).delete();
    await rt.db.raw('PRAGMA foreign_keys = ON');
    await expect(new Deliverer(rt).drain()).rejects.toThrow(/document \d+ does not exist/);
    const states = ((await rt.db('outbox_entries').select('state')) as { state: string }[]).map((r) => r.state);
    expect(states.filter((st) => st === 'leased')).toEqual([]);
    expect(states.filter((st) => st === 'pending').length).toBe(states.length);
  });
});

describe('retries bounded by attempts and by age', () => {
  it('a transient failure of an entry failing for longer than delivery_max_age_hours makes it dead, saying so', async () => {
    const { rt } = await project(service('  delivery_max_age_hours: 2\n'));
    await pullSource(rt, 'samples');
    interceptDeliver(rt, async () => {
      throw new RetriableError('HTTP 503 Service Unavailable');
    });
    // Every entry has been failing for three hours, with attempts to spare.
    await rt.db('outbox_entries').update({ failing_since: new Date(Date.now() - 3 * 3_600_000).toISOString(), state: 'retry', attempts: 2 });
    const stats = await new Deliverer(rt).drain();
    // The customers were tried (their invoices wait for them): every one is dead, none retrying.
    const dead = await listEntries(rt.db, { state: 'dead' });
    expect(dead.length).toBeGreaterThan(0);
    expect(stats).toMatchObject({ dead: dead.length, retrying: 0, inDoubt: 0 });
    for (const e of dead) expect(e.last_error).toBe('gave up after failing for 3 h (more than service.delivery_max_age_hours: 2): HTTP 503 Service Unavailable');
  });

  it('an unknown outcome past the age bound goes dead too, with the advice to check the target', async () => {
    const { rt } = await project();
    await pullSource(rt, 'samples');
    interceptDeliver(rt, async () => {
      throw new Error('socket hang up');
    });
    await rt.db('outbox_entries').update({ failing_since: new Date(Date.now() - 25 * 3_600_000).toISOString() });
    const stats = await new Deliverer(rt).drain();
    const dead = await listEntries(rt.db, { state: 'dead' });
    expect(stats).toMatchObject({ dead: dead.length, retrying: 0, inDoubt: 0 });
    expect(dead[0]!.last_error).toBe('gave up after failing for 25 h (more than service.delivery_max_age_hours: 24) with unknown outcome: socket hang up; check the target before retrying');
  });

  it('the age clock starts at the first failure, keeps running through retries, and is reset by a delivery or a redrive', async () => {
    const { rt } = await project(service('  delivery_max_attempts: 3\n'));
    await pullSource(rt, 'samples');
    let fail = true;
    interceptDeliver(rt, async (doc, real) => {
      if (fail) throw new RetriableError('HTTP 502');
      return real.deliver(doc);
    });
    const deliverer = new Deliverer(rt);
    await deliverer.drain();
    const [first] = await listEntries(rt.db, { state: 'retry' });
    const raw = async (id: number) => (await rt.db('outbox_entries').where({ id }).first()) as { failing_since: string | null; attempts: number; state: string };
    const since = (await raw(first!.id)).failing_since;
    expect(since).not.toBeNull();
    // A second failure keeps the clock's start.
    await rt.db('outbox_entries').update({ available_at: new Date(0).toISOString() });
    await deliverer.drain();
    expect(await raw(first!.id)).toMatchObject({ failing_since: since, state: 'retry', attempts: 2 });
    // Attempts still bound it: the third failure (delivery_max_attempts: 3) is the last.
    await rt.db('outbox_entries').update({ available_at: new Date(0).toISOString() });
    await deliverer.drain();
    expect(await raw(first!.id)).toMatchObject({ state: 'dead', attempts: 3 });
    expect((await listEntries(rt.db, { state: 'dead' }))[0]!.last_error).toBe('gave up after 3 attempts: HTTP 502');
    // A redrive starts both counts from zero; a delivery clears the clock.
    await redriveDead(rt.db);
    expect(await raw(first!.id)).toMatchObject({ failing_since: null, attempts: 0, state: 'pending' });
    await rt.db('outbox_entries').where({ id: first!.id }).update({ failing_since: since });
    fail = false;
    await deliverer.drain();
    expect(await raw(first!.id)).toMatchObject({ failing_since: null, state: 'delivered' });
  });
});
