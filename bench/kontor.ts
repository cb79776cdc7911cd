/**
 * What the figures that run kontor itself share: temporary projects (config.yaml, a folder of
 * WooCommerce order files), an in-process Runtime opened the way the CLI opens it, and child
 * processes of the built CLI (`dist/cli.js`) or of bench scripts.
 *
 * The bench is compiled into dist-bench/ (bench/tsconfig.json), where src/db/migrate.ts would
 * look for dist-bench/migrations; `migrate` below applies the project's migrations/ with the
 * same table and the same files instead, and the Runtime is opened on that database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { loadConfig } from '../src/config/load.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/log/logger.js';
import { openRuntime, type Runtime, type SourceBinding } from '../src/service/runtime.js';
import { streamOrders } from './orders.js';
import { ROOT } from './harness.js';
import { toWooCommerceJson } from './woocommerce-json.js';

export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const MIGRATIONS = path.join(ROOT, 'migrations');
export const BENCH_MAPPING = path.join(ROOT, 'bench', 'mapping.yaml');
/** Where the compiled bench scripts live (dist-bench/bench/). */
export const BENCH_DIST = path.dirname(fileURLToPath(import.meta.url));

/**
 * A fresh temporary folder; `cleanup` removes it. With `inMemoryBytes`, on /dev/shm (tmpfs)
 * when it has twice that much free, so that no fsync waits for a disk; else in os.tmpdir().
 */
export function tempDir(prefix: string, options: { inMemoryBytes?: number } = {}): { dir: string; cleanup: () => void; tmpfs: boolean } {
  const tmpfs = options.inMemoryBytes !== undefined && freeBytes('/dev/shm') > 2 * options.inMemoryBytes;
  const dir = mkdtempSync(path.join(tmpfs ? '/dev/shm' : os.tmpdir(), `kontor-bench-${prefix}-`));
  return { dir, tmpfs, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** The part of a better-sqlite3 connection the bench uses directly (the driver knex holds). */
export interface RawSqlite {
  prepare(sql: string): { run(...params: unknown[]): unknown; get(...params: unknown[]): unknown };
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
}

/**
 * Milliseconds one small write transaction takes to commit in a SQLite file in `dir`, opened as
 * kontor opens it (WAL, synchronous=FULL): mostly the disk's fsync. Median of `count`.
 */
export async function commitMs(dir: string, count = 300): Promise<number> {
  const file = path.join(dir, 'commit-probe.sqlite');
  const db = openDatabase({ client: 'sqlite', file, busyTimeoutMs: 5_000 });
  try {
    const conn = (await db.client.acquireConnection()) as RawSqlite;
    conn.prepare('CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)').run();
    const insert = conn.prepare('INSERT INTO probe (body) VALUES (?)');
    const write = conn.transaction((body: string) => insert.run(body));
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = process.hrtime.bigint();
      write('x'.repeat(1_000));
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    await db.client.releaseConnection(conn);
    times.sort((a, b) => a - b);
    return times[times.length >> 1]!;
  } finally {
    await db.destroy();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  }
}

export interface ProjectOptions {
  /** The folder of order files, relative to the project (default `orders`). */
  orders?: string;
  /** The source's mapping file (absolute; default bench/mapping.yaml). */
  mapping?: string;
  /** YAML of the `targets:` section, indented by two spaces (default: one journal target). */
  targetsYaml?: string;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

/** Write `dir/config.yaml`: one file source `bench` (WooCommerce JSON) into the given targets. Answers its path. */
export function writeProject(dir: string, options: ProjectOptions = {}): string {
  const yaml = [
    'database:',
    '  file: ./kontor.sqlite',
    'log:',
    `  level: ${options.logLevel ?? 'info'}`,
    '  format: json',
    'sources:',
    '  bench:',
    '    type: file',
    `    path: ./${options.orders ?? 'orders'}`,
    '    format: woocommerce',
    `    mapping: ${options.mapping ?? BENCH_MAPPING}`,
    'targets:',
    options.targetsYaml ?? '  journal:\n    type: journal',
    '',
  ].join('\n');
  mkdirSync(path.join(dir, options.orders ?? 'orders'), { recursive: true });
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface OrderFiles {
  orders: number;
  files: number;
  bytes: number;
  mix: Record<string, number>;
}

/**
 * Write `count` generated orders (bench/orders.ts, `seed`) as WooCommerce JSON Lines into
 * `folder`, `perFile` orders per file (`orders-00001.jsonl`, …), appending a thousand lines at a
 * time: a file may be larger than any string (the memory figure's one file of 200,000 orders).
 * The same seed gives the same orders in the same order, whatever `count` and `perFile`.
 */
export function writeOrderFiles(folder: string, count: number, seed: number, perFile: number): OrderFiles {
  mkdirSync(folder, { recursive: true });
  const mix: Record<string, number> = {};
  let fd: number | null = null;
  let inFile = 0;
  let files = 0;
  let bytes = 0;
  let lines: string[] = [];
  const flush = () => {
    if (lines.length === 0) return;
    if (fd === null) {
      files++;
      fd = openSync(path.join(folder, `orders-${String(files).padStart(5, '0')}.jsonl`), 'w');
    }
    const text = `${lines.join('\n')}\n`;
    writeSync(fd, text);
    bytes += Buffer.byteLength(text);
    lines = [];
  };
  const endFile = () => {
    flush();
    if (fd !== null) closeSync(fd);
    fd = null;
    inFile = 0;
  };
  for (const order of streamOrders(count, seed, mix)) {
    lines.push(JSON.stringify(toWooCommerceJson(order)));
    if (++inFile >= perFile) endFile();
    else if (lines.length >= 1_000) flush();
  }
  endFile();
  return { orders: count, files, bytes, mix };
}

/** Apply migrations/ as src/db/migrate.ts does (same table, same files), from wherever the bench runs. */
export async function migrate(db: Knex): Promise<void> {
  const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.js$/;
  await db.migrate.latest({
    tableName: 'kontor_migrations',
    disableTransactions: false,
    migrationSource: {
      getMigrations: async () => readdirSync(MIGRATIONS).filter((f) => MIGRATION_FILE.test(f)).sort(),
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => (await import(pathToFileURL(path.join(MIGRATIONS, name)).href)) as Knex.Migration,
    },
  });
}

/** A stream that drops what it is given: kontor's log lines are formatted, then discarded. */
export function nullStream(): Writable {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

/**
 * Open kontor on the project of `configPath` as the CLI does (loadConfig, the config's log
 * level, openRuntime), on a fresh migrated database; log lines are formatted and discarded.
 */
export async function openProject(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<Runtime> {
  const config = loadConfig(configPath, env);
  const db = openDatabase(config.database);
  await migrate(db);
  const logger = createLogger({ level: config.raw.log.level, format: 'json', stream: nullStream() });
  return openRuntime(config, logger, { db, migrate: false });
}

/** Remove a project's SQLite file (and its WAL and shared-memory files). */
export function removeDatabase(dir: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path.join(dir, `kontor.sqlite${suffix}`), { force: true });
}

/** The built CLI, or why it cannot be used. */
export function cliProblem(): string | null {
  if (!existsSync(CLI)) return `${path.relative(process.cwd(), CLI)} does not exist: run "npm run build" first`;
  const newest = newestMtime(path.join(ROOT, 'src'));
  if (newest > statSync(CLI).mtimeMs) return `${path.relative(process.cwd(), CLI)} is older than src/: run "npm run build" first`;
  return null;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run `node ARGS` to the end; `onStderrLine` sees its stderr line by line as it comes. */
export function runNode(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; onSpawn?: (child: ChildProcess) => void; onStderrLine?: (line: string) => void; timeoutMs?: number }): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let pending = '';
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      if (!options.onStderrLine) return;
      const lines = (pending + text).split('\n');
      pending = lines.pop()!;
      for (const line of lines) options.onStderrLine(line);
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    });
    options.onSpawn?.(child);
  });
}

/**
 * Tell `onStep` each time the source's pull is asked for the record after a checkpoint (the
 * end of a file), that is once the intake has taken in the file's last record and saved the
 * cursor, and, with `every`, after every `every` records as well: (records so far, milliseconds
 * since the pull started). The adapter is otherwise untouched.
 */
export function watchPull(binding: SourceBinding, onStep: (records: number, ms: number) => void, every = Infinity): void {
  const adapter = binding.adapter;
  const pull = adapter.pull.bind(adapter);
  adapter.pull = async function* (options) {
    const started = process.hrtime.bigint();
    let records = 0;
    for await (const record of pull(options)) {
      records++;
      yield record;
      if (record.checkpoint || records % every === 0) onStep(records, Number(process.hrtime.bigint() - started) / 1e6);
    }
  };
}
