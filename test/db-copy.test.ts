/**
 * `kontor db copy --to postgres://…` through the real binary: the SQLite database moves whole to
 * an empty PostgreSQL database, and kontor goes on there as if nothing happened.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshPostgresDatabase } from '../chaos/harness.js';
import { HAS_POSTGRES, POSTGRES_URL, ROOT, runCli, tempProject } from './helpers.js';

/** A new, empty PostgreSQL database on the test server; `drop` removes it. */
const emptyDatabase = () => freshPostgresDatabase(POSTGRES_URL, `kontor_copy_${process.pid}_${Math.random().toString(36).slice(2, 8)}`);

const usePostgres = (dir: string, url: string) =>
  writeFileSync(path.join(dir, 'config.yaml'), readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(/database:\n {2}file: .*\n/, `database:\n  url: ${url}\n`));

describe.skipIf(!HAS_POSTGRES)('kontor db copy', () => {
  it('moves everything to PostgreSQL, where kontor goes on without booking anything twice', { timeout: 60_000 }, async () => {
    const dir = tempProject();
    writeFileSync(path.join(dir, 'examples', 'orders', 'broken.jsonl'), '{"id": 77, "currency": "CHF"}\n');
    expect((await runCli(['sync', '--once'], { cwd: dir })).code).toBe(1);
    const before = {
      status: JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout) as Record<string, unknown>,
      ledger: (await runCli(['ledger', 'balance'], { cwd: dir })).stdout,
      outbox: (await runCli(['outbox', 'list', '--json'], { cwd: dir })).stdout,
    };
    const target = await emptyDatabase();
    try {
      const copy = await runCli(['db', 'copy', '--to', target.url, '--json'], { cwd: dir });
      expect(copy.code, copy.stderr).toBe(0);
      const report = JSON.parse(copy.stdout) as { tables: { table: string; rows: number }[] };
      const rows = Object.fromEntries(report.tables.map((t) => [t.table, t.rows]));
      expect(rows).toMatchObject({ documents: 13, outbox_entries: 13, outbox_events: 39, source_snapshots: 5, source_cursors: 1, quarantine: 1 });
      // Referenced tables first.
      const order = report.tables.map((t) => t.table);
      expect(order.indexOf('documents')).toBeLessThan(order.indexOf('outbox_entries'));
      expect(order.indexOf('outbox_entries')).toBeLessThan(order.indexOf('outbox_events'));
      expect(order.indexOf('journal_entries')).toBeLessThan(order.indexOf('journal_lines'));

      // The same kontor, on PostgreSQL.
      usePostgres(dir, target.url);
      const status = JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout) as Record<string, unknown>;
      for (const key of ['cursors', 'backlog', 'dead', 'inDoubt', 'quarantine', 'transfer']) expect(status[key], key).toEqual(before.status[key]);
      expect((await runCli(['ledger', 'balance'], { cwd: dir })).stdout).toBe(before.ledger);
      expect((await runCli(['outbox', 'list', '--json'], { cwd: dir })).stdout).toBe(before.outbox);
      // Reading every order again books nothing: the snapshots and documents came along.
      const backfill = await runCli(['backfill', '--source', 'samples', '--from', '2000-01-01', '--to', '2100-01-01', '--json', '--no-progress'], { cwd: dir });
      const again = JSON.parse(backfill.stdout) as { sources: { booked: number; unchanged: number }[] };
      expect(again.sources[0]).toMatchObject({ booked: 0, unchanged: 6 });
      // New rows get new ids after the copied ones (the sequences moved on).
      const order1001 = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(dir, 'examples', 'orders', 'wc-order-2001.json'), JSON.stringify({ ...order1001, id: 2001, number: '2001' }));
      const sync = await runCli(['sync', '--once', '--json'], { cwd: dir });
      const synced = JSON.parse(sync.stdout) as { sources: { booked: number; documents: number }[]; delivery: { delivered: number; dead: number } };
      expect(synced.sources[0]!.booked).toBe(1);
      const added = synced.sources[0]!.documents;
      expect(added).toBeGreaterThan(0);
      expect(synced.delivery).toMatchObject({ delivered: added, dead: 0 });
      const list = JSON.parse((await runCli(['outbox', 'list', '--json'], { cwd: dir })).stdout) as { id: number }[];
      const copiedIds = (JSON.parse(before.outbox) as { id: number }[]).map((e) => e.id);
      expect(list).toHaveLength(13 + added);
      expect(list.map((e) => e.id).filter((id) => id > Math.max(...copiedIds))).toHaveLength(added);

      // Into a database that holds data: refused, nothing changes.
      const twice = await runCli(['db', 'copy', '--to', target.url], { cwd: dir });
      expect(twice.code).toBe(2);
      expect(twice.stderr).toContain('this configuration uses PostgreSQL already');
    } finally {
      await target.drop();
    }
  });

  it('refuses a target that is not empty, and redacts the password of --to', { timeout: 60_000 }, async () => {
    const dir = tempProject();
    expect((await runCli(['sync', '--once'], { cwd: dir })).code).toBe(0);
    const target = await emptyDatabase();
    try {
      const withPassword = new URL(target.url);
      withPassword.password = 'not-the-password-7';
      expect((await runCli(['db', 'copy', '--to', target.url], { cwd: dir })).code).toBe(0);
      const again = await runCli(['db', 'copy', '--to', target.url], { cwd: dir });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^kontor: the PostgreSQL database is not empty \(.*documents.*\): copy into a new, empty database$/m);
      // The test server trusts every password; what matters is that it never appears.
      const redacted = await runCli(['db', 'copy', '--to', withPassword.toString()], { cwd: dir });
      expect(`${redacted.stdout}${redacted.stderr}`).not.toContain('not-the-password-7');
      expect((await runCli(['db', 'copy', '--to', 'mysql://x@y/z'], { cwd: dir })).code).toBe(2);
    } finally {
      await target.drop();
    }
  });
});
