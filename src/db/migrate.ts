/**
 * Numbered, append-only migrations from the top-level migrations/ folder, run by knex on
 * SQLite and PostgreSQL alike. Files are plain ES modules so they run unchanged from the
 * source tree and from an installed package.
 */
import { readdirSync } from 'node:fs';
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

export async function migrateLatest(db: Db): Promise<MigrationResult> {
  const [, applied] = (await db.migrate.latest(migrationConfig())) as [number, string[]];
  return { applied };
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  // knex lists pending migrations as our source returned them (names); tolerate its file objects too.
  const [, pending] = (await db.migrate.list(migrationConfig())) as [unknown[], (string | { file: string })[]];
  return pending.map((p) => (typeof p === 'string' ? p : p.file));
}

export async function migrateRollbackAll(db: Db): Promise<void> {
  await db.migrate.rollback(migrationConfig(), true);
}
