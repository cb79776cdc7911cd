/**
 * The chaos harness (issue #8, item 6): the real kontor CLI (dist/cli.js) as a child process,
 * `kontor backfill` over generated order files (chaos/orders.ts) into a Run my Accounts
 * emulator that lives in this process, so that its books survive every kill. The emulator
 * injects faults (500s, connections reset or stalled after the commit, 500s after the commit,
 * 429 bursts, latency) and enforces a request-rate limit. kontor is killed with SIGKILL at
 * random moments (seeded): after a random delay, or at the very moment the emulator commits a
 * randomly chosen write (before its answer leaves). It is restarted each time, and when enough
 * kills are done, run without interruption until its outbox is drained.
 *
 * Then the books are checked:
 * - kontor's own database: every outbox entry delivered, none dead or waiting;
 * - a reference: the same orders through kontor without faults or kills into a second
 *   emulator (run beside the chaos). Its documents must be the chaos run's documents (same
 *   keys, same content), and its books the chaos emulator's books: every customer, invoice,
 *   credit note, storno and payment exactly once, none lost, none extra, the same ledger;
 * - counts from the orders alone (chaos/orders.ts): invoices, credit notes, stornos, customers
 *   and open invoices, which do not depend on kontor's mapping;
 * - the transfer account 1090: zero in the emulator's ledger, in GET gl/v2/saldo and in
 *   `kontor status --json`, with the stornos' transfer payments on it;
 * - the rate: the emulator's limit was never exceeded (its own 429s; the `throttle` fault's
 *   429s are counted apart), and the highest rate it saw in any window.
 *
 * Leases: a killed kontor leaves its claimed entries leased until the lease runs out (two
 * minutes), and the source's pull lease held until it runs out (`service.source_lease_seconds`;
 * until then a backfill refuses to start). With `leaseShortcut` (the default) the harness lets
 * them run out at once, after the process is gone, by moving their `lease_until` into the past:
 * what the next start would find minutes later. The entries are then reaped as in-doubt and
 * looked up before resending, exactly as after a real wait.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knex, { type Knex } from 'knex';
import { openDatabase } from '../src/db/connect.js';
import { nowIso } from '../src/db/time.js';
import { startRunMyAccounts, type RmaChartAccount, type RmaEmulator, type RmaFaults, type RmaStoredInvoice } from '../src/targets/runmyaccounts/emulator.js';
import { mulberry32 } from '../test/random.js';
import { generateChaosOrders, type ExpectedFromOrders, type GeneratedOrders } from './orders.js';

/** The repository: the folder above chaos/ (from chaos/ in the tests, from dist-chaos/chaos/ when compiled). */
export const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
export const CLI = path.join(ROOT, 'dist', 'cli.js');

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kontor') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no kontor package.json above ${start}`);
  }
}

export const MANDANT = 'chaos';
const KEY = 'rma-chaos-key-5b1e9d2c7a4f3086';
const SOURCE = 'shop';
const TARGET = 'rma';
const MAPPING = 'woocommerce-ch.yaml';
const TRANSFER = '1090';

/** The clearing accounts of the shipped mapping (not in RMA's base chart). */
export const CLEARING: RmaChartAccount[] = [
  { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
  { accno: '1092', description: 'Clearing Payrexx / TWINT', category: 'A', link: 'AR_paid' },
];

export interface ChaosOptions {
  /** Orders generated (first versions; refunds and cancellations come on top). */
  orders: number;
  /** SIGKILLs, at least. */
  kills: number;
  seed: number;
  /** kontor's database: a SQLite file, or a fresh PostgreSQL database on `postgresUrl`'s server. */
  dialect: 'sqlite' | 'postgres';
  /** Admin URL of the PostgreSQL server (a database there is created and dropped). */
  postgresUrl?: string;
  /** kontor's `requests_per_second` towards the target (its token bucket holds as many: up to twice this many in one second). */
  requestsPerSecond: number;
  /** The emulator's limit: at most this many requests in any second. */
  rateLimit: number;
  /** The target's `concurrency` (deliveries at once per process); left out of config.yaml when not given. */
  concurrency?: number;
  /** Faults on (default) or off in the final, uninterrupted runs. */
  faultsAtTheEnd?: boolean;
  /** Let leases of killed processes run out at once (see the header). Default true. */
  leaseShortcut?: boolean;
  /** Give up (and fail) after this long. */
  timeoutMs: number;
  /** Keep the project folder (logs, database) instead of deleting it. */
  keep?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ChaosReport {
  ok: boolean;
  checks: Check[];
  options: ChaosOptions;
  dir: string;
  wallMs: number;
  orders: { first: number; changes: number; files: number; expected: ExpectedFromOrders };
  /** The reference run's documents by kind (what kontor should deliver). */
  documentsExpected: Record<string, number>;
  /** Outbox entries of the chaos run by state at the end. */
  outbox: Record<string, number>;
  books: {
    customers: { expected: number; found: number; lost: number; extra: number };
    invoices: { expected: number; found: number; lost: number; extra: number; different: number };
    payments: { expected: number; found: number; lost: number; duplicated: number };
    ledgerEqual: boolean;
    transferBalance: number;
    transferPayments: number;
    statusTransfer: unknown;
    saldo: string;
  };
  kills: { total: number; byTrigger: Record<string, number>; restarts: number; selfExits: number; finalRuns: number };
  rate: { limit: number; windowMs: number; maxInWindow: number; violations: number; kontorRps: number };
  faults: Record<string, number>;
  emulator: { requests: number; committed: number; duplicateSendsRefused: number; otherRefusals: string[] };
  inDoubt: { transitions: number; lookups: number; maxAttempts: number };
  phases: { chaosMs: number; finishMs: number; referenceMs: number };
}

// ── projects ───────────────────────────────────────────────────────────────────────────────

export interface ProjectOptions {
  database: { file: string } | { url: string };
  targetUrl: string;
  requestsPerSecond: number;
  /** The folder the source reads, relative to the project. */
  ordersFolder?: string;
  sourceName?: string;
  deliveryIntervalSeconds?: number;
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** The target's `concurrency`, when given. */
  concurrency?: number;
}

/** config.yaml of a project that books the order files into the Run my Accounts emulator. */
export function chaosConfig(o: ProjectOptions): string {
  return [
    'database:',
    'file' in o.database ? `  file: ${o.database.file}` : `  url: ${o.database.url}`,
    ...('url' in o.database ? ['  pool_max: 4'] : []),
    'log:',
    `  level: ${o.logLevel ?? 'info'}`,
    '  format: json',
    'service:',
    `  delivery_interval_seconds: ${o.deliveryIntervalSeconds ?? 1}`,
    '  shutdown_grace_seconds: 5',
    'sources:',
    `  ${o.sourceName ?? SOURCE}:`,
    '    type: file',
    `    path: ./${o.ordersFolder ?? 'orders'}`,
    '    format: woocommerce',
    `    mapping: ${MAPPING}`,
    '    schedule: "*/5 * * * * *"',
    'targets:',
    `  ${TARGET}:`,
    '    type: runmyaccounts',
    '    environment: test',
    `    base_url: ${o.targetUrl}`,
    `    mandant: ${MANDANT}`,
    `    requests_per_second: ${o.requestsPerSecond}`,
    ...(o.concurrency !== undefined ? [`    concurrency: ${o.concurrency}`] : []),
    '    credentials:',
    '      test:',
    '        api_key: ${RMA_KEY}',
    '',
  ].join('\n');
}

/** A project folder: the mapping, the order files (modification times in generation order) and config.yaml. */
export function writeProject(generated: GeneratedOrders, config: (dir: string) => string, prefix = 'kontor-chaos-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  mkdirSync(path.join(dir, 'mappings'));
  cpSync(path.join(ROOT, 'mappings', MAPPING), path.join(dir, 'mappings', MAPPING));
  writeOrderFiles(generated, path.join(dir, 'orders'));
  writeFileSync(path.join(dir, 'config.yaml'), config(dir));
  return dir;
}

export function writeOrderFiles(generated: GeneratedOrders, folder: string): void {
  mkdirSync(folder, { recursive: true });
  const start = Date.now() / 1000 - 3600;
  generated.files.forEach((f, i) => {
    const file = path.join(folder, f.name);
    writeFileSync(file, f.content);
    utimesSync(file, start + i, start + i);
  });
}

export const KONTOR_ENV = { RMA_KEY: KEY };

/** `kontor ARGS` in `dir`, stdout and stderr appended to `logFile` (or kept, without one). */
export function spawnKontor(dir: string, args: string[], logFile?: string): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  let fd: number | null = null;
  if (logFile) {
    fd = openSync(logFile, 'a');
    writeSync(fd, `\n=== ${new Date().toISOString()} kontor ${args.join(' ')}\n`);
  }
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...KONTOR_ENV },
    stdio: ['ignore', 'pipe', fd ?? 'pipe'],
  });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (fd !== null) writeSync(fd, d);
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      if (fd !== null) closeSync(fd);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, exited };
}

/** `kontor ARGS` to the end; rejects after `timeoutMs`. */
export async function runKontor(dir: string, args: string[], timeoutMs = 120_000, logFile?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, exited } = spawnKontor(dir, args, logFile);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await exited;
  clearTimeout(timer);
  if (result.signal === 'SIGKILL') throw new Error(`kontor ${args.join(' ')} did not finish within ${timeoutMs} ms`);
  return result;
}

// ── the database ───────────────────────────────────────────────────────────────────────────

/** A fresh PostgreSQL database of its own on the server of `adminUrl` (config.yaml has no schema setting). */
export async function freshPostgresDatabase(adminUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = knex({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.raw(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.destroy();
    },
  };
}

async function hasOutbox(db: Knex): Promise<boolean> {
  return db.schema.hasTable('outbox_entries');
}

export async function outboxStates(db: Knex): Promise<Record<string, number>> {
  if (!(await hasOutbox(db))) return {};
  const rows = (await db('outbox_entries').select('state').count({ n: '*' }).groupBy('state')) as { state: string; n: number | string }[];
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** When the earliest waiting entry is due (ms from now; 0 when one is due now), or null when none waits. */
async function nextDueInMs(db: Knex): Promise<number | null> {
  if (!(await hasOutbox(db))) return null;
  const row = (await db('outbox_entries').whereIn('state', ['pending', 'retry', 'in_doubt']).min({ at: 'available_at' }).first()) as { at: string | null } | undefined;
  if (!row?.at) return null;
  return Math.max(0, Date.parse(row.at) - Date.now());
}

/** The leases of processes that are gone run out now: outbox entries, and the source's pull lease (see the header). */
async function expireLeases(db: Knex): Promise<number> {
  if (!(await hasOutbox(db))) return 0;
  const past = new Date(Date.parse(nowIso()) - 1000).toISOString();
  if (await db.schema.hasTable('source_leases')) await db('source_leases').update({ lease_until: past });
  return db('outbox_entries').where({ state: 'leased' }).update({ lease_until: past });
}

/** Source records taken in (each version of an order once). */
export async function recordsTakenIn(db: Knex, source = SOURCE): Promise<number> {
  if (!(await db.schema.hasTable('source_snapshots'))) return 0;
  return Number(((await db('source_snapshots').where({ source }).count({ n: '*' }).first()) as { n: number | string }).n);
}

async function documentsOf(db: Knex): Promise<Map<string, { kind: string; hash: string }>> {
  const rows = (await db('documents').select('doc_key', 'kind', 'content_hash')) as { doc_key: string; kind: string; content_hash: string }[];
  return new Map(rows.map((r) => [r.doc_key, { kind: r.kind, hash: r.content_hash }]));
}

// ── the run ────────────────────────────────────────────────────────────────────────────────

/** The faults of one life of kontor, drawn from the seeded generator. */
function faultsFor(rnd: () => number): RmaFaults {
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  return {
    errorRate: [0, 0.02, 0.04, 0.06][int(0, 3)]!,
    dropAfterCommit: int(0, 2),
    failAfterCommit: int(0, 2),
    stallAfterCommit: int(0, 1),
    stallMs: 1500,
    // A burst of 429s: kontor backs off (Retry-After, then longer), so a few are a long pause.
    throttle: rnd() < 0.4 ? int(2, 6) : 0,
    retryAfterSeconds: 1,
    latencyMs: rnd() < 0.3 ? int(1, 15) : 0,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Customers, invoices and payments of one mandant in comparable form. */
function booksOf(emu: RmaEmulator) {
  // `created` is the emulator's today: left out, so that a run across midnight compares the same.
  const customers = new Map(emu.customers(MANDANT).map((c) => [c.customernumber, JSON.stringify({ ...c.fields, created: undefined })]));
  const invoices = new Map(emu.invoices(MANDANT).map((i) => [i.invnumber, i]));
  const payments = new Map<string, number>();
  for (const p of emu.payments(MANDANT)) {
    const key = [p.invnumber, p.payment_accno, p.amount, p.datepaid, p.source, p.memo].join('|');
    payments.set(key, (payments.get(key) ?? 0) + 1);
  }
  const ledger = Object.fromEntries(Object.entries(emu.ledger(MANDANT)).filter(([, v]) => v !== 0));
  return { customers, invoices, payments, ledger };
}

const invoiceShape = (i: RmaStoredInvoice) =>
  JSON.stringify({ customernumber: i.customernumber, amount: i.amount, netamount: i.netamount, paid: i.paid, transdate: i.transdate, ar: i.ar_accno, income: i.income, tax: i.tax, currency: i.currency });

/** The kind of an invoice number of the shipped mapping: 500001, 500001-G90001, 500001-S. */
const salesKind = (invnumber: string) => (/-S$/.test(invnumber) ? 'storno' : /-G\d+$/.test(invnumber) ? 'credit note' : 'invoice');

async function saldoOf(emu: RmaEmulator, accno: string): Promise<string> {
  const res = await fetch(`${emu.apiBase(MANDANT)}/gl/v2/saldo?accno=${accno}`, { headers: { authorization: `Bearer ${KEY}`, accept: 'application/json' } });
  const body = (await res.json()) as { row?: { accountnumber: string; amount: string } | { accountnumber: string; amount: string }[] };
  const rows = body.row === undefined ? [] : Array.isArray(body.row) ? body.row : [body.row];
  return rows.find((r) => r.accountnumber === accno)?.amount ?? 'none';
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const rnd = mulberry32(options.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const generated = generateChaosOrders(options.orders, options.seed);
  const { expected } = generated;
  log(`orders: ${expected.orders} (+${expected.changes} later versions) in ${generated.files.length} files; billed ${expected.billed}, refunds ${expected.creditNotes}, cancellations ${expected.stornos}`);

  // The chaos emulator: faults change per life, a rate limit throughout. Its error rate is seeded too.
  const rateLimit = { requests: options.rateLimit, windowMs: 1000 };
  let onRequest: (() => void) | null = null;
  const emu = await startRunMyAccounts({ mandants: [MANDANT], key: KEY, accounts: CLEARING, rateLimit, random: mulberry32(options.seed + 1), log: () => onRequest?.() });
  // The reference: no faults, no limit, no kills.
  const reference = await startRunMyAccounts({ mandants: [MANDANT], key: KEY, accounts: CLEARING });

  let pg: { url: string; drop: () => Promise<void> } | null = null;
  if (options.dialect === 'postgres') {
    if (!options.postgresUrl) throw new Error('postgres needs postgresUrl');
    pg = await freshPostgresDatabase(options.postgresUrl, `kontor_chaos_${process.pid}_${Math.random().toString(36).slice(2, 8)}`);
  }
  const dir = writeProject(generated, () => chaosConfig({ database: pg ? { url: pg.url } : { file: './data/kontor.sqlite' }, targetUrl: emu.url, requestsPerSecond: options.requestsPerSecond, ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}) }));
  // The harness's own connection: it reads while kontor runs, and writes (leases) only while no kontor does.
  const db = pg ? openDatabase({ client: 'postgres', url: pg.url, busyTimeoutMs: 10_000, poolMax: 2 }) : openDatabase({ client: 'sqlite', file: path.join(dir, 'data', 'kontor.sqlite'), busyTimeoutMs: 10_000 });
  const refDir = writeProject(generated, () => chaosConfig({ database: { file: './data/kontor.sqlite' }, targetUrl: reference.url, requestsPerSecond: 200 }), 'kontor-chaos-ref-');
  const logFile = path.join(dir, 'kontor.log');
  const backfill = ['backfill', '--source', SOURCE, '--from', generated.from, '--to', generated.to];
  log(`project ${dir} (${options.dialect}), reference ${refDir}; emulator limit ${options.rateLimit}/s, kontor ${options.requestsPerSecond}/s`);

  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const kills = { total: 0, byTrigger: {} as Record<string, number>, restarts: 0, selfExits: 0, finalRuns: 0 };
  const phases = { chaosMs: 0, finishMs: 0, referenceMs: 0 };
  let refDb: Knex | null = null;

  try {
    // The reference runs beside the chaos, to the end (without faults one backfill delivers everything).
    const refStarted = Date.now();
    const referenceRun = (async () => {
      for (let i = 0; i < 5; i++) {
        const r = await runKontor(refDir, backfill, Math.max(10_000, deadline - Date.now()), path.join(refDir, 'kontor.log'));
        if (r.code !== 0) log(`reference backfill exited ${r.code}`);
        refDb ??= openDatabase({ client: 'sqlite', file: path.join(refDir, 'data', 'kontor.sqlite'), busyTimeoutMs: 10_000 });
        const states = await outboxStates(refDb);
        if (Object.keys(states).every((s) => s === 'delivered')) break;
      }
      phases.referenceMs = Date.now() - refStarted;
      log(`reference done in ${phases.referenceMs} ms`);
    })();
    // Awaited after the chaos; a failure of the chaos first must not leave it unhandled.
    referenceRun.catch(() => undefined);

    // ── chaos: kill, restart, until enough kills ──
    const chaosStarted = Date.now();
    const writesEstimate = expected.billed * 3 + expected.creditNotes * 2 + expected.stornos * 3;
    const maxCommits = Math.max(5, Math.floor(writesEstimate / options.kills));
    let life = 0;
    while (kills.total < options.kills) {
      if (Date.now() > deadline) throw new Error(`chaos phase: out of time after ${kills.total} kills`);
      life++;
      if (life > 1) kills.restarts++;
      emu.faults = faultsFor(rnd);
      const trigger = rnd() < 0.35 ? 'time' : 'commit';
      const { child, exited } = spawnKontor(dir, backfill, logFile);
      let killed = false;
      const kill = (why: string) => {
        if (killed || child.exitCode !== null || child.signalCode !== null) return;
        killed = true;
        child.kill('SIGKILL');
        kills.byTrigger[why] = (kills.byTrigger[why] ?? 0) + 1;
      };
      let timer: NodeJS.Timeout | undefined;
      if (trigger === 'time') {
        timer = setTimeout(() => kill('after a random delay'), int(500, 6000));
      } else {
        const at = emu.stats.committed + int(1, maxCommits);
        // Synchronously, as the emulator logs a committed write and before its answer is written.
        onRequest = () => {
          if (emu.stats.committed >= at) kill('at a committed write');
        };
        timer = setTimeout(() => kill('after 60 s without the chosen write'), 60_000);
      }
      const result = await exited;
      clearTimeout(timer);
      onRequest = null;
      if (killed) {
        kills.total++;
        // Only now: the process is gone. Its leases run out (see the header).
        if (options.leaseShortcut !== false) await expireLeases(db);
      } else {
        kills.selfExits++;
        // It finished what was due: wait for the next retry, not to re-read every file at once.
        const due = await nextDueInMs(db);
        log(`life ${life}: exited by itself (${result.code}); next due in ${due ?? '-'} ms`);
        if (due !== null) await sleep(Math.min(due + 100, 10_000));
      }
      const states = await outboxStates(db);
      log(`life ${life}: ${killed ? `killed (${trigger})` : 'done'}; kills ${kills.total}/${options.kills}; outbox ${JSON.stringify(states)}`);
    }
    phases.chaosMs = Date.now() - chaosStarted;

    // ── the end: uninterrupted runs until the outbox is drained ──
    const finishStarted = Date.now();
    if (options.leaseShortcut !== false) await expireLeases(db);
    for (;;) {
      if (Date.now() > deadline) throw new Error('final runs: out of time');
      emu.faults = options.faultsAtTheEnd === false ? {} : faultsFor(rnd);
      kills.restarts++;
      kills.finalRuns++;
      const result = await runKontor(dir, backfill, Math.max(10_000, deadline - Date.now()), logFile);
      const states = await outboxStates(db);
      log(`final run ${kills.finalRuns}: exit ${result.code}; outbox ${JSON.stringify(states)}`);
      const waiting = Object.entries(states).filter(([s]) => s !== 'delivered' && s !== 'dead' && s !== 'skipped');
      const takenIn = await recordsTakenIn(db);
      if (waiting.length === 0 && takenIn >= expected.orders + expected.changes) break;
      if (takenIn < expected.orders + expected.changes) {
        // Not all read yet: the source's pull lease of a killed process has not run out (without the shortcut).
        log(`final run ${kills.finalRuns}: ${takenIn} of ${expected.orders + expected.changes} records taken in so far`);
        await sleep(2000);
        continue;
      }
      if (states.leased) {
        // Leases of a killed process that did not run out yet (without the shortcut): wait for them.
        await sleep(5000);
        continue;
      }
      const due = await nextDueInMs(db);
      if (due !== null) await sleep(Math.min(due + 100, 60_000));
    }
    phases.finishMs = Date.now() - finishStarted;
    emu.faults = {};
    await referenceRun;

    // ── checks ──
    const outbox = await outboxStates(db);
    const total = Object.values(outbox).reduce((a, b) => a + b, 0);
    check('every outbox entry delivered', (outbox.delivered ?? 0) === total && total > 0, JSON.stringify(outbox));

    const quarantined = Number(((await db('quarantine').count({ n: '*' }).first()) as { n: number | string }).n);
    const refQuarantined = Number(((await refDb!('quarantine').count({ n: '*' }).first()) as { n: number | string }).n);
    check('no order quarantined', quarantined === 0 && refQuarantined === 0, `chaos ${quarantined}, reference ${refQuarantined}`);

    const chaosDocs = await documentsOf(db);
    const refDocs = await documentsOf(refDb!);
    const missingDocs = [...refDocs.keys()].filter((k) => !chaosDocs.has(k));
    const extraDocs = [...chaosDocs.keys()].filter((k) => !refDocs.has(k));
    const changedDocs = [...refDocs].filter(([k, d]) => chaosDocs.has(k) && chaosDocs.get(k)!.hash !== d.hash).map(([k]) => k);
    check('kontor made the reference\'s documents', missingDocs.length + extraDocs.length + changedDocs.length === 0, `${refDocs.size} expected; missing ${missingDocs.slice(0, 5).join(', ') || 0}, extra ${extraDocs.slice(0, 5).join(', ') || 0}, different ${changedDocs.slice(0, 5).join(', ') || 0}`);
    const documentsExpected: Record<string, number> = {};
    for (const d of refDocs.values()) documentsExpected[d.kind] = (documentsExpected[d.kind] ?? 0) + 1;
    const refOutbox = await outboxStates(refDb!);
    check('the reference delivered everything', Object.keys(refOutbox).every((s) => s === 'delivered'), JSON.stringify(refOutbox));

    const mine = booksOf(emu);
    const theirs = booksOf(reference);
    const lostCustomers = [...theirs.customers.keys()].filter((k) => !mine.customers.has(k));
    const extraCustomers = [...mine.customers.keys()].filter((k) => !theirs.customers.has(k));
    const differentCustomers = [...theirs.customers].filter(([k, v]) => mine.customers.has(k) && mine.customers.get(k) !== v).map(([k]) => k);
    check('customers: each exactly once, as the reference', lostCustomers.length + extraCustomers.length + differentCustomers.length === 0, `lost ${lostCustomers.slice(0, 5).join(', ') || 0}, extra ${extraCustomers.slice(0, 5).join(', ') || 0}, different ${differentCustomers.slice(0, 5).join(', ') || 0}`);
    const lostInvoices = [...theirs.invoices.keys()].filter((k) => !mine.invoices.has(k));
    const extraInvoices = [...mine.invoices.keys()].filter((k) => !theirs.invoices.has(k));
    const differentInvoices = [...theirs.invoices].filter(([k, v]) => mine.invoices.has(k) && invoiceShape(mine.invoices.get(k)!) !== invoiceShape(v)).map(([k]) => k);
    check('invoices, credit notes, stornos: each exactly once, as the reference', lostInvoices.length + extraInvoices.length + differentInvoices.length === 0, `lost ${lostInvoices.slice(0, 5).join(', ') || 0}, extra ${extraInvoices.slice(0, 5).join(', ') || 0}, different (amount, paid, lines) ${differentInvoices.slice(0, 5).join(', ') || 0}`);
    let lostPayments = 0;
    let duplicatedPayments = 0;
    const paymentProblems: string[] = [];
    for (const key of new Set([...theirs.payments.keys(), ...mine.payments.keys()])) {
      const want = theirs.payments.get(key) ?? 0;
      const got = mine.payments.get(key) ?? 0;
      if (got < want) lostPayments += want - got;
      if (got > want) duplicatedPayments += got - want;
      if (got !== want) paymentProblems.push(`${key} ×${got} (expected ×${want})`);
    }
    const expectedPayments = [...theirs.payments.values()].reduce((a, b) => a + b, 0);
    const foundPayments = [...mine.payments.values()].reduce((a, b) => a + b, 0);
    check('payments: each exactly once, as the reference', paymentProblems.length === 0, `${expectedPayments} expected, ${foundPayments} found; ${paymentProblems.slice(0, 5).join('; ') || 'none lost, none duplicated'}`);
    const ledgerEqual = JSON.stringify(mine.ledger) === JSON.stringify(theirs.ledger);
    check('ledger equals the reference\'s, account by account', ledgerEqual, ledgerEqual ? `${Object.keys(mine.ledger).length} accounts` : `chaos ${JSON.stringify(mine.ledger)} reference ${JSON.stringify(theirs.ledger)}`);

    // From the orders alone.
    const kinds: Record<string, number> = {};
    for (const n of mine.invoices.keys()) kinds[salesKind(n)] = (kinds[salesKind(n)] ?? 0) + 1;
    const open = [...mine.invoices.values()].filter((i) => salesKind(i.invnumber) === 'invoice' && i.paid !== i.amount).length;
    const fromOrders = { invoice: expected.invoices, 'credit note': expected.creditNotes, storno: expected.stornos };
    check(
      'counts from the orders alone',
      kinds.invoice === expected.invoices && (kinds['credit note'] ?? 0) === expected.creditNotes && (kinds.storno ?? 0) === expected.stornos && mine.customers.size === expected.customers && open === expected.openInvoices,
      `invoices ${kinds.invoice ?? 0}/${fromOrders.invoice}, credit notes ${kinds['credit note'] ?? 0}/${fromOrders['credit note']}, stornos ${kinds.storno ?? 0}/${fromOrders.storno}, customers ${mine.customers.size}/${expected.customers}, open invoices ${open}/${expected.openInvoices}`,
    );

    // The transfer account.
    const transferBalance = mine.ledger[TRANSFER] ?? 0;
    const transferPayments = emu.payments(MANDANT).filter((p) => p.payment_accno === TRANSFER).length;
    const referenceTransfers = reference.payments(MANDANT).filter((p) => p.payment_accno === TRANSFER).length;
    const saldo = await saldoOf(emu, TRANSFER);
    const status = await runKontor(dir, ['status', '--json'], 60_000);
    const statusTransfer = (JSON.parse(status.stdout) as { transfer?: { target: string; balance: unknown }[] }).transfer?.find((t) => t.target === TARGET)?.balance ?? null;
    check(
      `transfer account ${TRANSFER} at zero`,
      transferBalance === 0 && /^0(\.0+)?$/.test(saldo) && JSON.stringify(statusTransfer) === JSON.stringify({ CHF: 0 }) && transferPayments === 2 * expected.stornosOfOpenInvoices && transferPayments === referenceTransfers && transferPayments > 0,
      `ledger ${transferBalance}, gl/v2/saldo ${saldo}, kontor status ${JSON.stringify(statusTransfer)}; ${transferPayments} transfer payments (reference ${referenceTransfers}; ${expected.stornosOfOpenInvoices} stornos of open invoices × 2)`,
    );

    // The rate.
    const rate = emu.stats.rate;
    check('rate limit never exceeded', rate.refused === 0 && rate.maxInWindow <= options.rateLimit, `max ${rate.maxInWindow} requests in ${rate.windowMs} ms (limit ${options.rateLimit}); ${rate.refused} refused for the limit; ${emu.stats.faults.throttled} 429s of the throttle fault apart`);

    check(`at least ${options.kills} kills`, kills.total >= options.kills, `${kills.total} kills, ${kills.restarts} restarts`);

    // What the emulator refused: a duplicate invoice number is RMA's guard against a second send.
    const refusals = emu.requests.filter((r) => r.status === 400);
    const duplicateSendsRefused = refusals.filter((r) => /already exists/.test(r.error ?? '')).length;
    const otherRefusals = refusals.filter((r) => !/already exists/.test(r.error ?? '')).map((r) => `${r.method} ${r.url}: ${r.error}`);
    check('no request refused for its content', otherRefusals.length === 0, otherRefusals.slice(0, 3).join('; ') || 'none');

    const events = (await db('outbox_events').where({ to_state: 'in_doubt' }).count({ n: '*' }).first()) as { n: number | string };
    const lookups = (await db('outbox_events').where('cause', 'like', '%found at the target by the in-doubt lookup%').count({ n: '*' }).first()) as { n: number | string };
    const attempts = (await db('outbox_entries').max({ m: 'attempts' }).first()) as { m: number | string | null };
    const f = emu.stats.faults;

    return {
      ok: checks.every((c) => c.ok),
      checks,
      options,
      dir,
      wallMs: Date.now() - started,
      orders: { first: expected.orders, changes: expected.changes, files: generated.files.length, expected },
      documentsExpected,
      outbox,
      books: {
        customers: { expected: theirs.customers.size, found: mine.customers.size, lost: lostCustomers.length, extra: extraCustomers.length },
        invoices: { expected: theirs.invoices.size, found: mine.invoices.size, lost: lostInvoices.length, extra: extraInvoices.length, different: differentInvoices.length },
        payments: { expected: expectedPayments, found: foundPayments, lost: lostPayments, duplicated: duplicatedPayments },
        ledgerEqual,
        transferBalance,
        transferPayments,
        statusTransfer,
        saldo,
      },
      kills,
      rate: { limit: options.rateLimit, windowMs: rate.windowMs, maxInWindow: rate.maxInWindow, violations: rate.refused, kontorRps: options.requestsPerSecond },
      faults: { '5xx': f.failed, 'reset after commit': f.dropped, '5xx after commit': f.failedAfterCommit, 'stall (timeout) after commit': f.stalled, '429 burst': f.throttled, 'delayed (latency)': f.delayed },
      emulator: { requests: emu.stats.requests, committed: emu.stats.committed, duplicateSendsRefused, otherRefusals },
      inDoubt: { transitions: Number(events.n), lookups: Number(lookups.n), maxAttempts: Number(attempts.m ?? 0) },
      phases,
    };
  } finally {
    onRequest = null;
    await Promise.allSettled([emu.close(), reference.close()]);
    const refDbNow = refDb as Knex | null;
    if (refDbNow) await refDbNow.destroy();
    await db.destroy();
    await pg?.drop().catch((e: unknown) => log(`dropping the database: ${(e as Error).message}`));
    if (!options.keep) {
      rmSync(refDir, { recursive: true, force: true });
    }
  }
}

/** Remove a project folder the report names (the chaos run keeps it for its logs until then). */
export function removeProject(report: ChaosReport): void {
  rmSync(report.dir, { recursive: true, force: true });
}

const n = (x: number) => x.toLocaleString('en-US');

/** The figures, one per line, then the checks. */
export function formatReport(r: ChaosReport): string {
  const docs = Object.entries(r.documentsExpected)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const docTotal = Object.values(r.documentsExpected).reduce((a, b) => a + b, 0);
  const lost = r.books.customers.lost + r.books.invoices.lost + r.books.payments.lost;
  const duplicated = r.books.customers.extra + r.books.invoices.extra + r.books.payments.duplicated;
  const lines = [
    `kontor chaos run (seed ${r.options.seed}, ${r.options.dialect}${r.options.concurrency !== undefined ? `, concurrency ${r.options.concurrency}` : ''})`,
    `  orders              ${n(r.orders.first)} (+${n(r.orders.changes)} later versions: refunds, cancellations) in ${r.orders.files} files`,
    `  documents expected  ${n(docTotal)} (${docs})`,
    `  delivered           ${n(r.outbox.delivered ?? 0)} outbox entries of ${n(Object.values(r.outbox).reduce((a, b) => a + b, 0))} (${JSON.stringify(r.outbox)})`,
    `  at the emulator     ${n(r.books.customers.found)} customers, ${n(r.books.invoices.found)} invoices/credit notes/stornos, ${n(r.books.payments.found)} payments`,
    `  lost                ${n(lost)} (customers ${r.books.customers.lost}, sales documents ${r.books.invoices.lost}, payments ${r.books.payments.lost})`,
    `  duplicated          ${n(duplicated)} (customers ${r.books.customers.extra}, sales documents ${r.books.invoices.extra}, payments ${r.books.payments.duplicated}); different: ${r.books.invoices.different}`,
    `  transfer 1090       ${r.books.transferBalance} (saldo ${r.books.saldo}, kontor status ${JSON.stringify(r.books.statusTransfer)}; ${r.books.transferPayments} transfer payments)`,
    `  kills               ${r.kills.total} SIGKILL (${Object.entries(r.kills.byTrigger).map(([k, v]) => `${v} ${k}`).join(', ')})`,
    `  restarts            ${r.kills.restarts} (${r.kills.selfExits} runs ended by themselves during the chaos, ${r.kills.finalRuns} final uninterrupted runs)`,
    `  rate                max ${r.rate.maxInWindow} requests in ${r.rate.windowMs} ms, limit ${r.rate.limit} (kontor set to ${r.rate.kontorRps}/s); violations ${r.rate.violations}`,
    `  faults injected     ${Object.entries(r.faults).map(([k, v]) => `${k} ${n(v)}`).join(', ')}`,
    `  emulator            ${n(r.emulator.requests)} requests, ${n(r.emulator.committed)} committed writes, ${r.emulator.duplicateSendsRefused} duplicate invoice sends refused by RMA's unique number`,
    `  in doubt            ${n(r.inDoubt.transitions)} entries went in-doubt, ${n(r.inDoubt.lookups)} found at the target by the lookup; most attempts of one entry ${r.inDoubt.maxAttempts}`,
    `  wall time           ${(r.wallMs / 1000).toFixed(1)} s (chaos ${(r.phases.chaosMs / 1000).toFixed(1)} s, final runs ${(r.phases.finishMs / 1000).toFixed(1)} s, reference ${(r.phases.referenceMs / 1000).toFixed(1)} s beside them)`,
    '',
    ...r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    '',
    r.ok ? 'chaos run: all checks passed' : `chaos run: ${r.checks.filter((c) => !c.ok).length} check(s) FAILED (project kept in ${r.dir})`,
  ];
  return lines.join('\n');
}
