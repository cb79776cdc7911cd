/**
 * `kontor db backup FILE`: an online, consistent copy of the SQLite database while kontor runs.
 *
 * SQLite's `VACUUM INTO` writes the database as one read transaction sees it: in WAL mode that
 * snapshot does not block the running service's writes, nor is it disturbed by them (the online
 * backup API, by contrast, starts over whenever another process writes during the copy, and may
 * never finish under a busy service). The copy goes to a temporary file next to FILE, created
 * with mode 0600 (it holds the shops' customer data), is flushed to disk (VACUUM INTO does not),
 * and is then put in place: linked, so that an existing FILE is never replaced without `force`,
 * or renamed over it with `force`. A failed backup leaves no file behind.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, realpathSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import knex from 'knex';
import type { DatabaseSettings } from '../config/load.js';
import { displayPath } from '../config/yaml.js';
import { errorMessage, KontorError, UsageError } from '../errors.js';

/** The backup could not be made (the database is missing, the folder cannot be written). Exit code 1. */
export class BackupError extends KontorError {
  override name = 'BackupError';
  readonly exitCode = 1;
}

export interface BackupResult {
  database: string;
  file: string;
  bytes: number;
  ms: number;
}

/** Throws UsageError (exit 2) for PostgreSQL, an existing FILE without `force`, or FILE being the database itself. */
export async function backupDatabase(settings: DatabaseSettings, file: string, options: { force?: boolean } = {}): Promise<BackupResult> {
  if (settings.client === 'postgres') {
    throw new UsageError(
      'kontor db backup copies a SQLite database; this configuration uses PostgreSQL (database.url): back it up with pg_dump, e.g. pg_dump --format=custom --file=kontor.dump "$DATABASE_URL" (docs/operations.md#backups)',
    );
  }
  const database = settings.file;
  const dest = path.resolve(file);
  if (database === ':memory:' || !existsSync(database)) throw new BackupError(`there is no database at ${displayPath(database)} (database.file) to back up`);
  const real = realpathSync(database);
  const destReal = existsSync(dest) ? realpathSync(dest) : dest;
  if ([real, `${real}-wal`, `${real}-shm`, `${real}-journal`].includes(destReal)) throw new UsageError(`${file} is the database itself (or one of its files): give the backup another name`);
  if (!options.force && existsSync(dest)) throw new UsageError(`${file} exists already: give another file, or --force to replace it`);

  const started = performance.now();
  const folder = path.dirname(dest);
  const tmp = path.join(folder, `.${path.basename(dest)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    // A folder for backups (e.g. /var/lib/kontor/backups) is made on first use, for kontor's user alone.
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    // VACUUM INTO writes into an empty file: made here, so that its mode is 0600 from the start.
    closeSync(openSync(tmp, 'wx', 0o600));
  } catch (error) {
    throw new BackupError(`cannot write the backup into ${folder}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
  }
  try {
    chmodSync(tmp, 0o600);
    const db = knex({
      client: 'better-sqlite3',
      connection: { filename: database },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(source: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          try {
            conn.pragma(`busy_timeout = ${settings.busyTimeoutMs}`);
            done(null, conn);
          } catch (error) {
            done(error as Error, conn);
          }
        },
      },
    });
    try {
      await db.raw('VACUUM INTO ?', [tmp]);
    } catch (error) {
      throw new BackupError(`the backup of ${displayPath(database)} failed: ${errorMessage(error)}`);
    } finally {
      await db.destroy();
    }
    syncFile(tmp);
    if (options.force) {
      renameSync(tmp, dest);
    } else {
      placeNew(tmp, dest, file);
    }
    syncFile(path.dirname(dest));
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
  return { database, file: dest, bytes: statSync(dest).size, ms: Math.round(performance.now() - started) };
}

/** Put `tmp` at `dest` unless something is there already (a hard link fails then, atomically). */
function placeNew(tmp: string, dest: string, shown: string): void {
  try {
    linkSync(tmp, dest);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${shown} exists already: give another file, or --force to replace it`);
    // A file system without hard links: check, then rename (not atomic, but nothing else writes there).
    if (existsSync(dest)) throw new UsageError(`${shown} exists already: give another file, or --force to replace it`);
    renameSync(tmp, dest);
  }
}

/** fsync a file or a folder (after a rename, so that the new name survives a power cut). */
function syncFile(file: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    fsyncSync(fd);
  } catch (error) {
    // Some file systems refuse fsync on a folder; the file itself was synced.
    if (statSync(file).isFile()) throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
