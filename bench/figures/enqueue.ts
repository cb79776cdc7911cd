/**
 * Figure "enqueue" (issue #9): orders/s kontor takes in (read from WooCommerce JSON Lines files
 * by the file source, parsed, mapped with bench/mapping.yaml and written in one transaction per
 * order: snapshot, documents, outbox entries and their events; `pullSource`, as `kontor sync`
 * runs it, into one journal target) against raw better-sqlite3 inserts of the very rows kontor
 * wrote, with prepared statements, one transaction per order, the same cursor upsert per file,
 * on the same schema (migrations/, indexes included) with the same pragmas (kontor's
 * openDatabase: WAL, synchronous=FULL, foreign keys). Both start from a fresh database each
 * round; opening and migrating it is not timed.
 *
 * The rows are read back from kontor's database after its first pass; the baseline inserts
 * them with the ids kontor gave them. Both sides must end with the same number of rows.
 */
import path from 'node:path';
import type { Knex } from 'knex';
import { openDatabase } from '../../src/db/connect.js';
import { pullSource } from '../../src/service/intake.js';
import { closeRuntime, type Runtime } from '../../src/service/runtime.js';
import { BenchMismatchError, median, sideBySide, type Figure, type FigureOutcome } from '../harness.js';
import { commitMs, migrate, openProject, removeDatabase, tempDir, watchPull, writeOrderFiles, writeProject, type RawSqlite } from '../kontor.js';

/** Orders per file (the cursor moves once per file); also the steps in which kontor's pace is shown. */
const PER_FILE = 500;
const TABLES = ['source_snapshots', 'documents', 'outbox_entries', 'outbox_events', 'source_cursors'] as const;

type Row = Record<string, unknown>;

interface OrderRows {
  snapshot: Row;
  documents: Row[];
  entries: Row[];
  events: Row[];
}

interface Dump {
  orders: OrderRows[];
  cursors: Row[];
  rows: number;
}

async function rowCount(db: Knex): Promise<number> {
  let n = 0;
  for (const t of TABLES) n += Number(((await db(t).count({ n: '*' }).first()) as { n: number | string }).n);
  return n;
}

/** Every row the intake wrote, grouped by the order (snapshot) whose transaction wrote it. */
async function dumpRows(db: Knex): Promise<Dump> {
  const snapshots = (await db('source_snapshots').orderBy('id')) as Row[];
  const documents = (await db('documents').orderBy('id')) as Row[];
  const entries = (await db('outbox_entries').orderBy('id')) as Row[];
  const events = (await db('outbox_events').orderBy('id')) as Row[];
  const cursors = (await db('source_cursors')) as Row[];
  const bySnapshot = new Map<number, OrderRows>(snapshots.map((s) => [Number(s.id), { snapshot: s, documents: [], entries: [], events: [] }]));
  const snapshotOfDocument = new Map<number, number>();
  for (const d of documents) {
    bySnapshot.get(Number(d.snapshot_id))!.documents.push(d);
    snapshotOfDocument.set(Number(d.id), Number(d.snapshot_id));
  }
  // An entry is written with the order that wrote its document (kontor enqueues a document once per target).
  const snapshotOfEntry = new Map<number, number>();
  for (const e of entries) {
    const s = snapshotOfDocument.get(Number(e.document_id))!;
    bySnapshot.get(s)!.entries.push(e);
    snapshotOfEntry.set(Number(e.id), s);
  }
  for (const ev of events) bySnapshot.get(snapshotOfEntry.get(Number(ev.entry_id))!)!.events.push(ev);
  return { orders: [...bySnapshot.values()], cursors, rows: snapshots.length + documents.length + entries.length + events.length + cursors.length };
}

export const enqueueFigure: Figure = {
  name: 'enqueue',
  description: 'orders/s taken in (file source → parse → map → snapshot, documents, outbox) vs raw better-sqlite3 inserts of the same rows',
  goal: { on: 'ratio', atLeast: 0.3 },
  async run(options): Promise<FigureOutcome> {
    const { log } = options;
    // Fewer than the mapping figure: kontor's intake slows as its outbox grows (see the notes).
    const count = Math.min(options.orders, 2_000);
    const project = tempDir('enqueue');
    const rawDir = tempDir('enqueue-raw');
    try {
      const config = writeProject(project.dir, { logLevel: 'info' });
      const files = writeOrderFiles(path.join(project.dir, 'orders'), count, options.seed, PER_FILE);
      log(`enqueue: ${count} orders in ${files.files} JSON Lines files (${(files.bytes / 2 ** 20).toFixed(1)} MB), ${PER_FILE} per file`);

      let rt: Runtime | null = null;
      /** Per kontor pass: milliseconds at the end of each file. */
      const perFile: number[][] = [];
      let dump: Dump | null = null;
      let intake: Awaited<ReturnType<typeof pullSource>> | null = null;
      const kontor = {
        label: 'kontor',
        setup: async () => {
          removeDatabase(project.dir);
          rt = await openProject(config);
          const files: number[] = [];
          watchPull(rt.sources.get('bench')!, (_records, ms) => files.push(ms));
          perFile.push(files);
        },
        pass: async () => {
          intake = await pullSource(rt!, 'bench');
          return rowCount(rt!.db);
        },
        teardown: async () => {
          dump ??= await dumpRows(rt!.db);
          await closeRuntime(rt!);
          rt = null;
        },
      };

      let raw: { db: Knex; conn: RawSqlite } | null = null;
      const baseline = {
        label: 'raw inserts',
        setup: async () => {
          removeDatabase(rawDir.dir);
          const db = openDatabase({ client: 'sqlite', file: path.join(rawDir.dir, 'kontor.sqlite'), busyTimeoutMs: 5_000 });
          await migrate(db);
          // The driver's own connection, opened by knex with kontor's pragmas (src/db/connect.ts).
          raw = { db, conn: (await db.client.acquireConnection()) as RawSqlite };
        },
        pass: async () => {
          const { conn } = raw!;
          const d = dump!;
          const insert = (table: string, sample: Row) => {
            const columns = Object.keys(sample);
            const statement = conn.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
            return (row: Row) => statement.run(...columns.map((c) => row[c]));
          };
          const first = (pick: (o: OrderRows) => Row[]) => d.orders.flatMap((o) => pick(o).slice(0, 1))[0];
          const snapshotInsert = insert('source_snapshots', d.orders[0]!.snapshot);
          const documentSample = first((o) => o.documents);
          const entrySample = first((o) => o.entries);
          const eventSample = first((o) => o.events);
          const documentInsert = documentSample ? insert('documents', documentSample) : () => undefined;
          const entryInsert = entrySample ? insert('outbox_entries', entrySample) : () => undefined;
          const eventInsert = eventSample ? insert('outbox_events', eventSample) : () => undefined;
          const cursor = conn.prepare('INSERT INTO source_cursors (source, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at');
          const order = conn.transaction((o: OrderRows) => {
            snapshotInsert(o.snapshot);
            for (const r of o.documents) documentInsert(r);
            for (const r of o.entries) entryInsert(r);
            for (const r of o.events) eventInsert(r);
          });
          const saveCursor = conn.transaction((row: Row) => cursor.run(row.source, row.cursor, row.updated_at));
          d.orders.forEach((o, i) => {
            order(o);
            // kontor saves the file's cursor after its last order, in a statement of its own.
            if ((i + 1) % PER_FILE === 0 || i === d.orders.length - 1) for (const c of d.cursors) saveCursor(c);
          });
          return TABLES.reduce((n, t) => n + (conn.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n, 0);
        },
        teardown: async () => {
          const { db, conn } = raw!;
          await db.client.releaseConnection(conn);
          await db.destroy();
          raw = null;
        },
      };

      const rounds = Math.min(options.rounds, 3);
      const times = await sideBySide(kontor, baseline, rounds, 1, log);
      const commit = await commitMs(rawDir.dir);
      // The last pass's pace per file: later files take longer when the cost per order grows with the outbox.
      const marks = perFile.at(-1) ?? [];
      const pace = marks.map((ms, i) => Math.round((ms - (marks[i - 1] ?? 0)) / PER_FILE * 100) / 100);
      const s = intake as Awaited<ReturnType<typeof pullSource>> | null;
      if (!s || s.read !== count) throw new BenchMismatchError(`enqueue: kontor read ${s?.read ?? 0} of ${count} orders`);
      if (s.quarantined > 0) throw new BenchMismatchError(`enqueue: kontor quarantined ${s.quarantined} orders; the figure is about orders that go through`);
      const rate = (ms: number) => (count / ms) * 1000;
      const d = dump as Dump | null;
      return {
        what: `orders/s over ${count.toLocaleString('en-US')} orders into one target (SQLite)`,
        measured: { label: 'kontor', value: rate(median(times.a)), unit: 'orders/s', samples: times.a.map(rate) },
        baseline: { label: 'raw inserts', value: rate(median(times.b)), unit: 'orders/s', samples: times.b.map(rate) },
        notes: [
          `median of ${rounds} interleaved rounds after 1 warm-up each; a fresh database per round; ${count} orders: ${s.booked} booked (${s.documents} documents), ${s.skipped} skipped by the mapping; ${d?.rows ?? 0} rows written by each side`,
          'baseline: the same rows (read back from kontor\'s database) with better-sqlite3 prepared statements, one transaction per order plus the cursor per file, same schema and pragmas (synchronous=FULL); kontor\'s side also reads the files, parses, maps, hashes and checks what it has',
          `kontor's ms per order, file by file (${PER_FILE} orders each): ${pace.join(', ')}: flat as the outbox grows (migration 0007); one commit (fsync) on this disk takes ${commit.toFixed(2)} ms`,
        ],
        details: { orders: count, files: files.files, bytes: files.bytes, rounds, msPerRound: { kontor: times.a, raw: times.b }, msPerOrderByFile: pace, commitMs: commit, intake: s, rows: d?.rows },
      };
    } finally {
      project.cleanup();
      rawDir.cleanup();
    }
  },
};
