/**
 * `kontor db copy --to postgres://…`: move kontor's SQLite database to PostgreSQL, whole: cursors,
 * snapshots, documents, the outbox with its history, the quarantine, the journal, webhook events,
 * job runs. Both databases are brought to this kontor's schema first; the copy then reads SQLite
 * in one transaction (one consistent snapshot) and writes PostgreSQL in one transaction (all or
 * nothing), table by table in the order of their foreign keys, rows in key order, and moves each
 * id sequence past the copied ids. The target must be empty; kontor must not be running on the
 * source (no live source lease, no outbox entry being delivered).
 */
import type { Knex } from 'knex';
import { performance } from 'node:perf_hooks';
import { nowIso } from '../db/time.js';
import { KontorError } from '../errors.js';

/** The copy cannot be made as things are (kontor running, a target with data). Exit code 1. */
export class CopyError extends KontorError {
  override name = 'CopyError';
  readonly exitCode = 1;
}

/** Bookkeeping of knex, written by the migrations on each side; and who pulls what right now (nobody, when copying). */
const SKIPPED = new Set(['kontor_migrations', 'kontor_migrations_lock', 'source_leases']);
const BATCH = 500;

export interface CopyReport {
  tables: { table: string; rows: number }[];
  ms: number;
}

/** Tables of the SQLite database, each after the tables it refers to. */
async function tablesInOrder(sqlite: Knex): Promise<string[]> {
  const names = ((await sqlite.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")) as { name: string }[]).map((r) => r.name).filter((n) => !SKIPPED.has(n));
  const refers = new Map<string, string[]>();
  for (const name of names) {
    const keys = (await sqlite.raw(`PRAGMA foreign_key_list("${name}")`)) as { table: string }[];
    refers.set(name, [...new Set(keys.map((k) => k.table))].filter((t) => t !== name));
  }
  const ordered: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (ordered.includes(name) || !refers.has(name)) return;
    if (path.includes(name)) throw new Error(`foreign keys go round in a circle: ${[...path, name].join(' → ')}`);
    for (const parent of refers.get(name)!) visit(parent, [...path, name]);
    ordered.push(name);
  };
  for (const name of names) visit(name, []);
  return ordered;
}

async function rowCount(db: Knex, table: string): Promise<number> {
  const row = (await db(table).count({ n: '*' }).first()) as { n: number | string };
  return Number(row.n);
}

/** Refuses when kontor is at work on the source: a live source lease, or an outbox entry being delivered. */
export async function checkIdle(sqlite: Knex): Promise<void> {
  const now = nowIso();
  const leases = (await sqlite('source_leases').where('lease_until', '>', now).select('source', 'owner', 'purpose')) as { source: string; owner: string; purpose: string }[];
  const leased = await sqlite('outbox_entries').where({ state: 'leased' }).count({ n: '*' }).first();
  const inFlight = Number((leased as { n: number | string }).n);
  if (leases.length > 0 || inFlight > 0) {
    const who = [
      ...leases.map((l) => `source ${l.source} is being pulled (${l.purpose}, ${l.owner})`),
      ...(inFlight > 0 ? [`${inFlight} outbox entries are being delivered (or their process died: they turn in-doubt when their lease runs out, within 2 minutes)`] : []),
    ];
    throw new CopyError(`kontor is at work on this database: ${who.join('; ')}. Stop kontor (systemctl stop kontor) and copy then`);
  }
}

export async function copyToPostgres(sqlite: Knex, pg: Knex, options: { onTable?: (table: string, rows: number) => void } = {}): Promise<CopyReport> {
  const started = performance.now();
  const tables = await tablesInOrder(sqlite);
  const targetTables = new Set(
    ((await pg.raw('SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()')) as { rows: { table_name: string }[] }).rows.map((r) => r.table_name),
  );
  const missing = tables.filter((t) => !targetTables.has(t));
  if (missing.length > 0) throw new CopyError(`the PostgreSQL database lacks tables the SQLite one has: ${missing.join(', ')}`);
  const filled: string[] = [];
  for (const table of tables) if ((await rowCount(pg, table)) > 0) filled.push(table);
  if (filled.length > 0) throw new CopyError(`the PostgreSQL database is not empty (${filled.join(', ')} hold rows): copy into a new, empty database`);

  const report: CopyReport = { tables: [], ms: 0 };
  await sqlite.transaction(async (from) => {
    await pg.transaction(async (to) => {
      for (const table of tables) {
        const columns = ((await to.raw('SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?', [table])) as {
          rows: { column_name: string; data_type: string }[];
        }).rows;
        const booleans = new Set(columns.filter((c) => c.data_type === 'boolean').map((c) => c.column_name));
        const known = new Set(columns.map((c) => c.column_name));
        let rows = 0;
        // In rowid order: ids ascend, so an entry that depends on an earlier one finds it copied.
        for (let after = -Infinity; ; ) {
          const batch = (await from.raw(`SELECT rowid AS "__rowid", * FROM "${table}" WHERE rowid > ? ORDER BY rowid LIMIT ?`, [after === -Infinity ? Number.MIN_SAFE_INTEGER : after, BATCH])) as Record<string, unknown>[];
          if (batch.length === 0) break;
          after = Number(batch[batch.length - 1]!.__rowid);
          const values = batch.map((row) => {
            const out: Record<string, unknown> = {};
            for (const [key, value] of Object.entries(row)) {
              if (key === '__rowid') continue;
              if (!known.has(key)) throw new CopyError(`column ${table}.${key} is missing in PostgreSQL`);
              out[key] = booleans.has(key) && value !== null ? Boolean(value) : value;
            }
            return out;
          });
          await to(table).insert(values);
          rows += batch.length;
        }
        // Serial ids continue after the copied ones.
        if (known.has('id') && rows > 0) {
          await to.raw(`SELECT setval(pg_get_serial_sequence(?, 'id'), (SELECT MAX(id) FROM "${table}"))`, [table]);
        }
        report.tables.push({ table, rows });
        options.onTable?.(table, rows);
      }
      // Read back: every table holds what SQLite holds.
      for (const { table, rows } of report.tables) {
        const copied = await rowCount(to, table);
        if (copied !== rows) throw new CopyError(`${table}: ${copied} rows arrived of ${rows}; nothing was copied`);
      }
    });
  });
  report.ms = Math.round(performance.now() - started);
  return report;
}
