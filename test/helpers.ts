/** Shared test helpers: throwaway project folders, the real CLI as a subprocess, PostgreSQL. */
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knex from 'knex';
import { vi } from 'vitest';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** A copy of the default project (config.yaml, mappings, sample orders) in a temp folder. */
export function tempProject(configYaml?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kontor-test-'));
  cpSync(path.join(ROOT, 'mappings'), path.join(dir, 'mappings'), { recursive: true });
  cpSync(path.join(ROOT, 'examples'), path.join(dir, 'examples'), { recursive: true });
  writeFileSync(path.join(dir, 'config.yaml'), configYaml ?? readFileSync(path.join(ROOT, 'config.yaml'), 'utf8'));
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kontor ${args.join(' ')} did not finish in time\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every file under a folder, as bytes, for "the secret is nowhere on disk" checks. */
export function allFileBytes(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      out.push({ file, bytes: readFileSync(file) });
    }
  }
  return out;
}

export const POSTGRES_URL = process.env.KONTOR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether the PostgreSQL test server answers; tests that need it skip with a notice otherwise. */
export async function postgresAvailable(): Promise<boolean> {
  const db = knex({ client: 'pg', connection: { connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 }, pool: { min: 0, max: 1 } });
  try {
    await db.raw('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await db.destroy();
  }
}

export const HAS_POSTGRES = await postgresAvailable();
if (!HAS_POSTGRES) {
  console.warn(`NOTICE: PostgreSQL is not reachable at ${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')}; PostgreSQL tests are SKIPPED`);
}

export type Dialect = 'sqlite' | 'postgres';
export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

/**
 * A fresh, empty database of the given dialect: a temp SQLite file, or a PostgreSQL schema
 * of its own (dropped by `drop`). `open` gives another connection to the same database, as
 * another kontor process would have (closed by `drop`).
 */
export async function freshDatabase(dialect: Dialect): Promise<{ db: import('knex').Knex; drop: () => Promise<void>; open: () => import('knex').Knex }> {
  const { openDatabase } = await import('../src/db/connect.js');
  const others: import('knex').Knex[] = [];
  const closeOthers = () => Promise.all(others.map((o) => o.destroy()));
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'kontor-db-'));
    const settings = { client: 'sqlite' as const, file: path.join(dir, 'kontor.sqlite'), busyTimeoutMs: 5000 };
    const db = openDatabase(settings);
    const open = () => {
      const other = openDatabase(settings);
      others.push(other);
      return other;
    };
    return { db, open, drop: async () => void (await Promise.all([closeOthers(), db.destroy()])) };
  }
  const schema = `kontor_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = knex({ client: 'pg', connection: POSTGRES_URL });
  await admin.raw(`CREATE SCHEMA "${schema}"`);
  const settings = { client: 'postgres' as const, url: POSTGRES_URL, busyTimeoutMs: 5000, poolMax: 4 };
  const db = openDatabase(settings, { searchPath: schema });
  const open = () => {
    const other = openDatabase(settings, { searchPath: schema });
    others.push(other);
    return other;
  };
  return {
    db,
    open,
    drop: async () => {
      await closeOthers();
      await db.destroy();
      await admin.raw(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.destroy();
    },
  };
}

/** A writable stream that keeps what is written, for looking at log output. */
export function captureStream(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/**
 * Make a runtime's source `name` wait at the start of each pull until `open()` is called; `pulls`
 * counts the pulls begun. For tests of what overlaps what (scheduled jobs, source leases).
 */
export function gateSource(rt: import('../src/service/runtime.js').Runtime, name = 'samples') {
  const binding = rt.sources.get(name)!;
  const inner = binding.adapter;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const pulls = vi.fn();
  const adapter: import('../src/sources/types.js').SourceAdapter = {
    name: inner.name,
    type: inner.type,
    describe: () => inner.describe(),
    fetch: (id) => inner.fetch(id),
    parse: (record) => inner.parse(record),
    async *pull(options) {
      pulls();
      await gate;
      yield* inner.pull(options);
    },
  };
  rt.sources.set(name, { ...binding, adapter });
  return { pulls, open: () => open() };
}

/**
 * Poll until `probe` answers something other than false, and answer it (pg-boss style: wait
 * for a state, not for a time); an error naming `what` after `timeoutMs`.
 */
export async function waitFor<T>(probe: () => T | false | Promise<T | false>, what: string, timeoutMs = 10_000, intervalMs = 5): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
