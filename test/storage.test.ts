import { statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connect.js';
import { migrateLatest, migrateRollbackAll, pendingMigrations } from '../src/db/migrate.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

const TABLES = ['source_cursors', 'source_snapshots', 'documents', 'outbox_entries', 'outbox_events', 'quarantine', 'journal_entries', 'journal_lines', 'webhook_events', 'target_failures', 'locks', 'source_leases', 'job_runs'];

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('run up, are idempotent, and roll back', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      expect(await pendingMigrations(db)).toContain('0001_initial.js');
      expect((await migrateLatest(db)).applied).toEqual(['0001_initial.js', '0002_books.js', '0003_webhook_events.js', '0004_target_failures.js', '0005_call_slots.js', '0006_leases_and_job_runs.js', '0007_outbox_document_index.js', '0008_job_runs_last_ok.js', '0009_claimable_entries_index.js', '0010_longer_chains_first.js']);
      expect((await migrateLatest(db)).applied).toEqual([]);
      expect(await pendingMigrations(db)).toEqual([]);
      for (const table of TABLES) expect(await db.schema.hasTable(table), table).toBe(true);
      await migrateRollbackAll(db);
      for (const table of TABLES) expect(await db.schema.hasTable(table), table).toBe(false);
    } finally {
      await drop();
    }
  });
});

describe('migrations of several processes at once', () => {
  it.skipIf(!HAS_POSTGRES)('three connections migrating one empty PostgreSQL schema together all succeed, each migration applied once', async () => {
    const { db, drop, open } = await freshDatabase('postgres');
    try {
      const results = await Promise.all([db, open(), open()].map((conn) => migrateLatest(conn)));
      const applied = results.flatMap((r) => r.applied).sort();
      expect(applied).toEqual(['0001_initial.js', '0002_books.js', '0003_webhook_events.js', '0004_target_failures.js', '0005_call_slots.js', '0006_leases_and_job_runs.js', '0007_outbox_document_index.js', '0008_job_runs_last_ok.js', '0009_claimable_entries_index.js', '0010_longer_chains_first.js']);
      expect(await pendingMigrations(db)).toEqual([]);
    } finally {
      await drop();
    }
  });
});

describe('SQLite file', () => {
  it('is created 0600 in WAL mode with synchronous=FULL and a busy timeout', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kontor-sqlite-'));
    const file = path.join(dir, 'nested', 'kontor.sqlite');
    const previous = process.umask(0o022);
    const db = openDatabase({ client: 'sqlite', file, busyTimeoutMs: 4321 });
    try {
      await migrateLatest(db);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      const pragma = async (name: string) => ((await db.raw(`PRAGMA ${name}`)) as Record<string, unknown>[])[0];
      expect(await pragma('journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(await pragma('synchronous')).toEqual({ synchronous: 2 });
      expect(await pragma('busy_timeout')).toEqual({ timeout: 4321 });
      expect(await pragma('foreign_keys')).toEqual({ foreign_keys: 1 });
      await db('source_cursors').insert({ source: 's', cursor: 'c', updated_at: 'now' });
      expect(statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
    } finally {
      await db.destroy();
      process.umask(previous);
    }
  });
});
