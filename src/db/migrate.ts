/**
 * Numbered, append-only migrations from the top-level migrations/ folder, run by knex on
 * SQLite and PostgreSQL alike. Files are plain ES modules so they run unchanged from the
 * source tree and from an installed package.
 */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Db } from './connect.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.js$/;

class FolderMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly dir: string) {}
  async getMigrations(): Promise<string[]> {
    return readdirSync(this.dir).filter((f) => MIGRATION_FILE.test(f)).sort();
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(path.join(this.dir, name)).href)) as Knex.Migration;
  }
}

const migrationConfig = (): Knex.MigratorConfig => ({
  migrationSource: new FolderMigrationSource(MIGRATIONS_DIR),
  tableName: 'kontor_migrations',
  // Each migration runs in its own transaction.
  disableTransactions: false,
});

export interface MigrationResult {
  applied: string[];
}

/**
 * What knex throws when another process migrates the same database at the same moment: both
 * saw no migrations table and created it (PostgreSQL: a duplicate type name; SQLite: the table
 * exists, or the database is busy), or the other holds knex's migration lock.
 */
const CONCURRENT_MIGRATION = /already exists|duplicate key value|pg_type_typname_nsp_index|Migration table is already locked|SQLITE_BUSY/i;

/**
 * Apply every pending migration. Several kontor processes starting together on one empty
 * database (three instances on PostgreSQL, a `run` and a `backfill`) race to create knex's
 * bookkeeping tables; the loser waits and tries again, and then finds the work done or takes
 * its turn under knex's lock.
 */
export async function migrateLatest(db: Db, options: { attempts?: number; sleep?: (ms: number) => Promise<void> } = {}): Promise<MigrationResult> {
  const attempts = options.attempts ?? 100;
  const wait = options.sleep ?? sleep;
  const applied: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      const [, names] = (await db.migrate.latest(migrationConfig())) as [number, string[]];
      applied.push(...names);
      return { applied };
    } catch (error) {
      if (attempt >= attempts || !CONCURRENT_MIGRATION.test(error instanceof Error ? error.message : String(error))) throw error;
      await wait(50 + Math.floor(Math.random() * 200));
    }
  }
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  // knex lists pending migrations as our source returned them (names); tolerate its file objects too.
  const [, pending] = (await db.migrate.list(migrationConfig())) as [unknown[], (string | { file: string })[]];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}

export async function migrateRollbackAll(db: Db): Promise<void> {
  await db.migrate.rollback(migrationConfig(), true);
}
