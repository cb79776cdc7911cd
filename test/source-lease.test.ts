/**
 * Source leases (issue #8): one kontor process pulls a source at a time, on SQLite and
 * PostgreSQL. Two runtimes stand for two processes: on PostgreSQL each has its own connection;
 * on SQLite they share one (better-sqlite3 blocks its thread, so two connections in one process
 * would wait on each other), and a real second process is the CLI below.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { openDatabase } from '../src/db/connect.js';
import { migrateLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/log/logger.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { openRuntime } from '../src/service/runtime.js';
import { syncOnce } from '../src/service/service.js';
import { SourceLeaseError, withSourceLease } from '../src/service/source-lease.js';
import { listSourceLeases, takeSourceLease, type SourceLease } from '../src/store/source-leases.js';
import { captureStream, DIALECTS, freshDatabase, gateSource, HAS_POSTGRES, runCli, tempProject, type Dialect, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function iso(msFromNow: number): string {
  return new Date(Date.now() + msFromNow).toISOString();
}

/**
 * Two runtimes on one fresh database of the dialect, as two kontor processes would have them,
 * over the shipped sample project (file source `samples`, journal target).
 */
async function twoProcesses(dialect: Dialect) {
  const dir = tempProject();
  const config = loadConfig(path.join(dir, 'config.yaml'), {});
  const { db, open, drop } = await freshDatabase(dialect);
  const second = dialect === 'postgres' ? open() : db;
  const logsA = captureStream();
  const logsB = captureStream();
  const a = await openRuntime(config, createLogger({ format: 'json', stream: logsA.stream }), { db });
  const b = await openRuntime(config, createLogger({ format: 'json', stream: logsB.stream }), { db: second, migrate: false });
  cleanups.push(() => drop().catch(() => undefined));
  return { a, b, logsA, logsB, db, second };
}


async function leaseRow(db: Knex, source = 'samples'): Promise<SourceLease | undefined> {
  return (await listSourceLeases(db)).find((l) => l.source === source);
}

describe.each(DIALECTS)('source leases on %s', (dialect) => {
  const skip = dialect === 'postgres' && !HAS_POSTGRES;

  it.skipIf(skip)('never lets two processes pull one source at once: the second skips, and pulls once the first is done', async () => {
    const { a, b, logsB } = await twoProcesses(dialect);
    const gated = gateSource(a);
    const pullsOfB = gateSource(b);
    pullsOfB.open();

    const first = withSourceLease(a, 'samples', { purpose: 'run', owner: 'process-a' }, (signal) => pullSource(a, 'samples', { signal }));
    await waitFor(() => gated.pulls.mock.calls.length === 1, 'process A pulling');
    expect(await leaseRow(b.db)).toMatchObject({ owner: 'process-a', purpose: 'run' });

    // Process B (kontor sync beside the running service) skips the source instead of waiting …
    const sync = await syncOnce(b, new Deliverer(b));
    expect(sync.intake).toEqual([]);
    expect(sync.skipped).toMatchObject([{ source: 'samples', owner: 'process-a', purpose: 'run' }]);
    expect(pullsOfB.pulls).not.toHaveBeenCalled();
    expect(logsB.text()).toContain('sync pull skipped: source samples is being pulled by another kontor process (run, process-a)');

    // … A finishes and gives the source back …
    gated.open();
    const done = await first;
    expect(done).toMatchObject({ ran: true, value: { booked: 5 } });
    expect(await leaseRow(b.db)).toBeUndefined();

    // … and then B pulls it, from the cursor A saved: nothing new.
    const again = await syncOnce(b, new Deliverer(b));
    expect(again.skipped).toEqual([]);
    expect(again.intake).toMatchObject([{ source: 'samples', read: 0, booked: 0 }]);
    expect(pullsOfB.pulls).toHaveBeenCalledTimes(1);
  });

  it.skipIf(skip)('hands the source to exactly one of two processes taking it at the same moment', async () => {
    const { a, b } = await twoProcesses(dialect);
    for (let i = 0; i < 10; i++) {
      const source = `race-${i}`;
      const results = await Promise.all([takeSourceLease(a.db, source, 'process-a', 'run', 60_000), takeSourceLease(b.db, source, 'process-b', 'run', 60_000)]);
      expect(results.filter((r) => r.taken)).toHaveLength(1);
      const winner = results.find((r) => r.taken)!;
      const loser = results.find((r) => !r.taken)!;
      expect(loser).toMatchObject({ taken: false, holder: { owner: winner.taken ? winner.lease.owner : '' } });
    }
  });

  it.skipIf(skip)('takes over the expired lease of a process that died holding it', async () => {
    const { a, b, logsA } = await twoProcesses(dialect);
    await b.db('source_leases').insert({ source: 'samples', owner: 'crashed-process', purpose: 'backfill', taken_at: iso(-600_000), renewed_at: iso(-300_000), lease_until: iso(-1_000) });
    const pulled = await withSourceLease(a, 'samples', { purpose: 'run', owner: 'process-a' }, (signal) => pullSource(a, 'samples', { signal }));
    expect(pulled).toMatchObject({ ran: true, value: { booked: 5 } });
    expect(logsA.text()).toContain('took over the lease of crashed-process (backfill)');
    expect(await leaseRow(a.db)).toBeUndefined();
  });

  it.skipIf(skip)('renews the lease while the pull runs, so a long pull keeps it', async () => {
    const { a, b } = await twoProcesses(dialect);
    const ttlMs = 1_000;
    const pulled = withSourceLease(a, 'samples', { purpose: 'run', owner: 'process-a', ttlMs, renewEveryMs: 20 }, async () => {
      const first = (await leaseRow(b.db))!;
      // Wait until the lease has been renewed past its first expiry, then until that expiry itself has passed.
      await waitFor(async () => ((await leaseRow(b.db))?.lease_until ?? '') > first.lease_until, 'a renewal');
      await waitFor(() => Date.now() > Date.parse(first.lease_until) + 50, 'the first expiry to pass');
      // Past its first expiry and still held: another process is refused.
      const other = await takeSourceLease(b.db, 'samples', 'process-b', 'backfill', ttlMs);
      return { other, first };
    });
    const result = await pulled;
    expect(result.ran).toBe(true);
    if (!result.ran) return;
    expect(result.value.other).toMatchObject({ taken: false, holder: { owner: 'process-a' } });
    expect(await leaseRow(a.db)).toBeUndefined();
  });

  it.skipIf(skip)('stops a pull whose lease another process has taken over, and fails it', async () => {
    const { a, b, logsA } = await twoProcesses(dialect);
    const pulled = withSourceLease(a, 'samples', { purpose: 'run', owner: 'process-a', ttlMs: 60_000, renewEveryMs: 20 }, async (signal) => {
      // As if this process had hung past its lease and another had taken the source over.
      await b.db('source_leases').where({ source: 'samples' }).update({ owner: 'process-b', purpose: 'backfill' });
      await waitFor(() => signal.aborted, 'the pull to be told to stop');
      return 'stopped';
    });
    await expect(pulled).rejects.toThrow(SourceLeaseError);
    await expect(pulled).rejects.toThrow(/the source lease was lost \(another process has taken it over\)/);
    expect(logsA.text()).toContain('lost the source lease');
    // The new holder's lease is left alone.
    expect(await leaseRow(a.db)).toMatchObject({ owner: 'process-b' });
  });
});

describe('source leases across processes (CLI, SQLite)', () => {
  it('backfill refuses a source another process is pulling (exit 1), status shows who, and it runs once the lease is gone', async () => {
    const dir = tempProject();
    const yaml = readFileSync(path.join(dir, 'config.yaml'), 'utf8');
    writeFileSync(path.join(dir, 'config.yaml'), yaml);
    // The database the CLI will use, with a lease held by "another process".
    const db = openDatabase({ client: 'sqlite', file: path.join(dir, 'data', 'kontor.sqlite'), busyTimeoutMs: 5000 });
    try {
      await migrateLatest(db);
      await db('source_leases').insert({ source: 'samples', owner: 'other-host:4242:abcd1234', purpose: 'run', taken_at: iso(-5_000), renewed_at: iso(-1_000), lease_until: iso(60_000) });
    } finally {
      await db.destroy();
    }
    const args = ['backfill', '--source', 'samples', '--from', '2020-01-01', '--to', '2030-12-31'];
    const refused = await runCli(args, { cwd: dir });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('source samples is being pulled by another kontor process (run, other-host:4242:abcd1234)');
    expect(refused.stderr).toContain('nothing was read');

    const status = await runCli(['status', '--json'], { cwd: dir });
    expect(JSON.parse(status.stdout)).toMatchObject({ leases: [{ source: 'samples', owner: 'other-host:4242:abcd1234', purpose: 'run' }] });

    const db2 = openDatabase({ client: 'sqlite', file: path.join(dir, 'data', 'kontor.sqlite'), busyTimeoutMs: 5000 });
    try {
      expect(await db2('source_snapshots').count({ n: '*' })).toEqual([{ n: 0 }]);
      // The holder dies; once its lease has run out, the backfill takes the source over.
      await db2('source_leases').update({ lease_until: iso(-1) });
    } finally {
      await db2.destroy();
    }
    const ran = await runCli([...args, '--json'], { cwd: dir });
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({ sources: [{ booked: 5 }] });
    expect(ran.stderr).toContain('took over the lease of other-host:4242:abcd1234');
  });
});
