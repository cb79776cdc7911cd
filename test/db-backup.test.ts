/**
 * `kontor db backup FILE` through the real binary: a consistent copy of the SQLite database
 * while another process writes to it, mode 0600, no overwriting without --force, and the
 * pg_dump answer for PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, tempProject } from './helpers.js';

function openSqlite(file: string): Knex {
  return knex({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
}

async function count(db: Knex, table: string): Promise<number> {
  return Number(((await db(table).count({ n: '*' }).first()) as { n: number | string }).n);
}

/**
 * Another process writing to the database without pause: pairs of fat rows, each pair in one
 * transaction held for a moment, so that a copy that is not one consistent snapshot would show
 * half a pair. Resolves once it has written `warmup` pairs; `stop` ends it and answers how many it wrote.
 */
async function startWriter(file: string, warmup = 200): Promise<{ stop: () => Promise<number> }> {
  const script = `
    const { createRequire } = require('node:module');
    const Database = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))})('better-sqlite3');
    const db = new Database(${JSON.stringify(file)});
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS backup_probe (id INTEGER PRIMARY KEY, pair INTEGER NOT NULL, body TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO backup_probe (pair, body) VALUES (?, ?)');
    const body = 'x'.repeat(4000);
    let pair = 0;
    let stopping = false;
    process.on('SIGTERM', () => (stopping = true));
    const step = () => {
      if (stopping) {
        db.close();
        process.stdout.write('wrote ' + pair + '\\n');
        process.exit(0);
      }
      db.transaction(() => {
        insert.run(pair, body);
        const until = Date.now() + 1;
        while (Date.now() < until);
        insert.run(pair, body);
      })();
      pair++;
      if (pair === ${warmup}) process.stdout.write('ready\\n');
      setImmediate(step);
    };
    step();
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the writer ended early (${code})`)));
  });
  return {
    stop: () =>
      new Promise<number>((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', () => resolve(Number(/wrote (\d+)/.exec(out)?.[1] ?? -1)));
        child.kill('SIGTERM');
      }),
  };
}

describe('kontor db backup', () => {
  it('copies the database consistently while another process writes, with mode 0600, and refuses to overwrite without --force', { timeout: 60_000 }, async () => {
    const dir = tempProject();
    expect((await runCli(['sync', '--once'], { cwd: dir })).code).toBe(0);
    const database = path.join(dir, 'data', 'kontor.sqlite');
    const writer = await startWriter(database);
    let written: number;
    const backup = path.join(dir, 'kontor-backup.sqlite');
    let result;
    try {
      result = await runCli(['db', 'backup', backup], { cwd: dir });
    } finally {
      written = await writer.stop();
    }
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toMatch(/^data\/kontor\.sqlite backed up to kontor-backup\.sqlite: [\d,]+ bytes \([\d.]+ [KM]iB\) in \d+ ms$/);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(statSync(backup).size).toBe(Number(/: ([\d,]+) bytes/.exec(result.stdout)![1]!.replace(/,/g, '')));

    const copy = openSqlite(backup);
    const live = openSqlite(database);
    try {
      expect(await copy.raw('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      // kontor's rows, all of them.
      for (const table of ['documents', 'outbox_entries', 'outbox_events', 'source_snapshots', 'journal_entries', 'journal_lines', 'kontor_migrations']) {
        expect(await count(copy, table), table).toBe(await count(live, table));
      }
      expect(await count(copy, 'documents')).toBe(13);
      expect(await count(copy, 'outbox_entries')).toBe(13);
      expect(await copy('outbox_entries').where({ state: 'delivered' }).count({ n: '*' }).first()).toEqual({ n: 13 });
      expect(await copy('documents').orderBy('id').select('id', 'doc_key')).toEqual(await live('documents').orderBy('id').select('id', 'doc_key'));
      // The writer's rows as of one moment: whole transactions only (both rows of every pair), some but not all of them.
      const pairs = (await copy('backup_probe').select('pair').count({ n: '*' }).groupBy('pair')) as { pair: number; n: number }[];
      expect(pairs.every((p) => p.n === 2)).toBe(true);
      expect(pairs.length).toBeGreaterThanOrEqual(200);
      expect(pairs.length).toBeLessThan(written);
      expect(await count(live, 'backup_probe')).toBe(written * 2);
    } finally {
      await copy.destroy();
      await live.destroy();
    }

    // An existing file is not replaced without --force, and is left as it was.
    const before = readFileSync(backup);
    const again = await runCli(['db', 'backup', backup], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`kontor: ${backup} exists already: give another file, or --force to replace it`);
    expect(readFileSync(backup).equals(before)).toBe(true);
    const forced = await runCli(['db', 'backup', backup, '--force', '--json'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ database, file: backup, bytes: statSync(backup).size, ms: expect.any(Number) });
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    // No temporary file is left behind.
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('backs up a file named with --database without reading config.yaml, and never the database onto itself', async () => {
    const dir = tempProject();
    expect((await runCli(['migrate'], { cwd: dir })).code).toBe(0);
    writeFileSync(path.join(dir, 'config.yaml'), 'this: is: not: yaml: [');
    const result = await runCli(['db', 'backup', '--database', 'data/kontor.sqlite', 'copy.sqlite'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const copy = openSqlite(path.join(dir, 'copy.sqlite'));
    try {
      expect(await count(copy, 'kontor_migrations')).toBeGreaterThan(0);
    } finally {
      await copy.destroy();
    }
    const onto = await runCli(['db', 'backup', '--database', 'data/kontor.sqlite', 'data/kontor.sqlite', '--force'], { cwd: dir });
    expect(onto.code).toBe(2);
    expect(onto.stderr).toContain('is the database itself');
    const missing = await runCli(['db', 'backup', '--database', 'data/none.sqlite', 'x.sqlite'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('kontor: there is no database at data/none.sqlite (database.file) to back up');
  });

  it('makes a missing backup folder, for kontor\'s user alone; a folder it cannot make is named in full', async () => {
    const dir = tempProject();
    expect((await runCli(['migrate'], { cwd: dir })).code).toBe(0);
    const into = path.join(dir, 'backups', 'nightly', 'kontor.sqlite');
    const made = await runCli(['db', 'backup', into], { cwd: dir });
    expect(made.code, made.stderr).toBe(0);
    expect(statSync(path.join(dir, 'backups')).mode & 0o777).toBe(0o700);
    expect(statSync(into).mode & 0o777).toBe(0o600);
    // A file where the folder should be: nothing can be made there.
    writeFileSync(path.join(dir, 'blocked'), '');
    const blocked = await runCli(['db', 'backup', path.join(dir, 'blocked', 'kontor.sqlite')], { cwd: dir });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr.trim()).toBe(`kontor: cannot write the backup into ${path.join(dir, 'blocked')}: EEXIST`);
  });

  it('answers pg_dump for PostgreSQL, with exit 2 and without connecting', async () => {
    const dir = tempProject();
    writeFileSync(path.join(dir, 'config.yaml'), readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(/database:\n {2}file: .*\n/, 'database:\n  url: postgres://kontor:secret-pw@127.0.0.1:1/kontor\n'));
    const result = await runCli(['db', 'backup', 'x.sqlite'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('this configuration uses PostgreSQL (database.url): back it up with pg_dump');
    expect(result.stderr).not.toContain('secret-pw');
  });
});
