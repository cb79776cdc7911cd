/**
 * Figures "delivery" and "latency" (issue #9): documents/s kontor's Deliverer delivers to the
 * Run my Accounts emulator on loopback (the real RunMyAccountsTarget and client, the outbox
 * claims, leases and settles in SQLite), run in a child process of its own
 * (bench/children/rma-emulator.ts).
 *
 * - delivery: against raw undici POSTs of the same request bodies (requests.ts, built from the
 *   documents kontor stored) at the same concurrency, in the same dependency order (an entry
 *   starts once the entry it depends on is done, the ideal schedule), emulator without faults.
 * - latency: the emulator answers every API request 20 ms after it arrived, kontor delivers 8 at once;
 *   the achieved rate against the ideal 8 / 20 ms = 400 documents/s. The raw POSTs under the
 *   same latency are shown in the notes.
 *
 * Each round starts from the same database with the orders taken in (by the file source, as
 * `kontor sync` does, once; a copy of that file each round; not timed) and a reset emulator; the timed part is `Deliverer.drain()`
 * until every entry is delivered. Both sides must leave the emulator with the same books
 * (ledger, invoices, customers, payments), checked after every pass.
 *
 * The target's request rate limit (`requests_per_second`, default 5, at most 200) is lifted on
 * kontor's side, as the pull figure does for the shop: this measures kontor, not the allowance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import type { BookDocument } from '../../src/books/index.js';
import { Deliverer, type DeliveryStats } from '../../src/service/deliver.js';
import { pullSource } from '../../src/service/intake.js';
import { closeRuntime, createRmaTarget, rmaRequestOptions, type Runtime } from '../../src/service/runtime.js';
import { rmaRequestsFor } from '../../src/targets/runmyaccounts/requests.js';
import { BenchMismatchError, median, sideBySide, type Figure, type FigureOutcome, type BenchOptions, type Contender } from '../harness.js';
import { BENCH_DIST, commitMs, openProject, removeDatabase, tempDir, writeOrderFiles, writeProject } from '../kontor.js';

interface EmulatorChild {
  url: string;
  key: string;
  mandant: string;
  control(path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** Start bench/children/rma-emulator.js and wait for its address. */
async function startEmulatorChild(): Promise<EmulatorChild> {
  const child: ChildProcess = spawn(process.execPath, [path.join(BENCH_DIST, 'children', 'rma-emulator.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(line));
    child.once('exit', (code) => reject(new Error(`the emulator process exited (${code}) before it listened`)));
  });
  const { url, key, mandant } = JSON.parse(first) as { url: string; key: string; mandant: string };
  const agent = new Agent();
  return {
    url,
    key,
    mandant,
    async control(p, body) {
      const res = await request(`${url}/_control/${p}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' }, dispatcher: agent });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`emulator /_control/${p}: ${res.statusCode} ${text}`);
      return text === '' ? null : (JSON.parse(text) as unknown);
    },
    async close() {
      await agent.close();
      child.stdin!.end();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** FNV-1a of a text: a number both sides' emulator books must agree on. */
function fingerprint(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** What the emulator's books hold (ledger balances and counts): equal after both sides' passes. */
async function booksFingerprint(emulator: EmulatorChild): Promise<{ sum: number; invoices: number; customers: number; payments: number }> {
  const state = (await emulator.control('state')) as { books: Record<string, { ledger: unknown; invoices: number; customers: number; payments: number }> };
  const books = state.books[emulator.mandant]!;
  return { sum: fingerprint(JSON.stringify(books)), invoices: books.invoices, customers: books.customers, payments: books.payments };
}

/** One outbox entry's wire work for the raw side: its POST, and what it waits for. */
interface RawRequest {
  id: number;
  dependsOn: number | null;
  path: string;
  body: string;
}

/** Run `items` at most `concurrency` at once, each after the item it depends on; in id order otherwise. */
function runGraph(items: readonly RawRequest[], concurrency: number, run: (item: RawRequest) => Promise<void>): Promise<number> {
  const waiting = new Map<number, RawRequest[]>();
  const ready: RawRequest[] = [];
  const ids = new Set(items.map((i) => i.id));
  for (const item of items) {
    if (item.dependsOn !== null && ids.has(item.dependsOn)) waiting.set(item.dependsOn, [...(waiting.get(item.dependsOn) ?? []), item]);
    else ready.push(item);
  }
  let next = 0;
  let running = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    let failed = false;
    const pump = () => {
      if (failed) return;
      if (done === items.length) return resolve(done);
      while (running < concurrency && next < ready.length) {
        const item = ready[next++]!;
        running++;
        run(item).then(
          () => {
            running--;
            done++;
            for (const after of waiting.get(item.id) ?? []) ready.push(after);
            pump();
          },
          (error: unknown) => {
            failed = true;
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      }
    };
    pump();
  });
}

interface Setup {
  orders: number;
  concurrency: number;
  latencyMs: number;
  rounds: number;
  /** Untimed passes per side before the timed rounds. */
  warmup: number;
}

interface DeliveryRun {
  documents: number;
  requests: { kontor: number; raw: number };
  kinds: Record<string, number>;
  times: { a: number[]; b: number[] };
  commitMs: number;
  stats: DeliveryStats;
  /** The last pass's outcomes and the transactions that committed them (claims included). */
  commits: { commits: number; outcomes: number };
  /** The last pass's claims (committed with outcomes where some waited) and the entries they took. */
  claims: { claims: number; entries: number };
  books: Awaited<ReturnType<typeof booksFingerprint>>;
}

/** Time kontor's Deliverer against raw POSTs of the same documents, as the header says. */
async function measureDelivery(options: BenchOptions, setup: Setup, name: string): Promise<DeliveryRun> {
  const { log } = options;
  const emulator = await startEmulatorChild();
  const project = tempDir(name);
  try {
    const expires = new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10);
    const config = writeProject(project.dir, {
      logLevel: 'info',
      targetsYaml: [
        '  rma:',
        '    type: runmyaccounts',
        '    environment: test',
        `    base_url: ${emulator.url}`,
        `    mandant: ${emulator.mandant}`,
        `    concurrency: ${setup.concurrency}`,
        '    credentials:',
        '      test:',
        `        api_key: ${emulator.key}`,
        `        expires: ${expires}`,
      ].join('\n'),
    });
    writeOrderFiles(path.join(project.dir, 'orders'), setup.orders, options.seed, 1_000);
    const faults = { latencyMs: setup.latencyMs };

    let rt: Runtime | null = null;
    let raw: RawRequest[] | null = null;
    const kinds: Record<string, number> = {};
    let stats: DeliveryStats | null = null;
    let commits = { commits: 0, outcomes: 0 };
    let claims = { claims: 0, entries: 0 };
    let entries = 0;
    let kontorRequests = 0;
    const before = async () => {
      await emulator.control('reset', {});
      await emulator.control('faults', faults);
    };
    const requestsSoFar = async () => ((await emulator.control('state')) as { stats: { requests: number } }).stats.requests;

    // The database with the orders taken in, made once and copied for every round.
    const template = path.join(project.dir, 'taken-in.sqlite');
    const database = path.join(project.dir, 'kontor.sqlite');
    const kontor: Contender = {
      label: 'kontor',
      setup: async () => {
        removeDatabase(project.dir);
        if (!existsSync(template)) {
          const first = await openProject(config);
          const intake = await pullSource(first, 'bench');
          await closeRuntime(first);
          if (intake.quarantined > 0) throw new BenchMismatchError(`${name}: ${intake.quarantined} orders quarantined at intake`);
          renameSync(database, template);
          removeDatabase(project.dir);
        }
        copyFileSync(template, database);
        rt = await openProject(config);
        const target = rt.config.targets.find((t) => t.name === 'rma')!;
        if (target.config.type !== 'runmyaccounts') throw new Error('rma is not a runmyaccounts target');
        // The target as runtime.ts builds it, without the client's request rate limit (see the header).
        await rt.targets.get('rma')?.close?.();
        rt.targets.set('rma', await createRmaTarget(target, rt.db, { http: { rateLimit: undefined } }));
        const rows = (await rt.db('outbox_entries as e').join('documents as d', 'd.id', 'e.document_id').where({ 'e.target': 'rma' }).orderBy('e.id').select('e.id', 'e.depends_on', 'd.body')) as { id: number; depends_on: number | null; body: string }[];
        entries = rows.length;
        if (raw === null) {
          const options_ = rmaRequestOptions(target.config);
          raw = rows.map((r) => {
            const doc = JSON.parse(r.body) as BookDocument;
            kinds[doc.kind] = (kinds[doc.kind] ?? 0) + 1;
            const [req] = rmaRequestsFor(doc, options_);
            return { id: Number(r.id), dependsOn: r.depends_on === null ? null : Number(r.depends_on), path: req!.path, body: JSON.stringify(req!.body) };
          });
        }
        await before();
      },
      pass: async () => {
        const deliverer = new Deliverer(rt!, { concurrency: setup.concurrency });
        stats = await deliverer.drain();
        commits = deliverer.commits;
        claims = deliverer.claims;
        if (stats.delivered !== entries) throw new BenchMismatchError(`${name}: kontor delivered ${stats.delivered} of ${entries} entries (${JSON.stringify(stats)})`);
        return (await booksFingerprint(emulator)).sum;
      },
      teardown: async () => {
        kontorRequests = await requestsSoFar();
        await closeRuntime(rt!);
        rt = null;
      },
    };

    const agent = new Agent();
    const headers = { authorization: `Bearer ${emulator.key}`, 'content-type': 'application/json', accept: 'application/json' };
    const baseline: Contender = {
      label: 'raw POSTs',
      setup: before,
      pass: async () => {
        await runGraph(raw!, setup.concurrency, async (item) => {
          const res = await request(`${emulator.url}${item.path}`, { method: 'POST', headers, body: item.body, dispatcher: agent });
          const text = await res.body.text();
          if (res.statusCode >= 300) throw new BenchMismatchError(`${name}: raw POST ${item.path} answered ${res.statusCode}: ${text}`);
        });
        return (await booksFingerprint(emulator)).sum;
      },
    };
    try {
      const times = await sideBySide(kontor, baseline, setup.rounds, setup.warmup, log);
      const books = await booksFingerprint(emulator);
      return { documents: entries, requests: { kontor: kontorRequests, raw: raw!.length }, kinds, times, commitMs: await commitMs(project.dir), stats: stats!, commits, claims, books };
    } finally {
      await agent.close();
    }
  } finally {
    await emulator.close();
    project.cleanup();
  }
}

const kindsText = (kinds: Record<string, number>) =>
  Object.entries(kinds)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');

export const deliveryFigure: Figure = {
  name: 'delivery',
  description: 'documents/s delivered to the Run my Accounts emulator (loopback, own process) vs raw undici POSTs of the same bodies',
  goal: { on: 'ratio', atLeast: 0.8 },
  async run(options): Promise<FigureOutcome> {
    // Four warm-up passes a side: the emulator and kontor both run faster pass after pass until
    // about the fifth (V8 optimises their code as it runs hot): raw 5.6k, 12k, 15k, 17k, then
    // 22-24k docs/s; kontor 2.6k, 3.5k, 5.3k, 6k, then 7-9k. A service that runs for months is warm.
    const setup: Setup = { orders: 1_000, concurrency: 8, latencyMs: 0, rounds: Math.min(options.rounds, 3), warmup: 4 };
    options.log(`delivery: ${setup.orders} orders taken in per round, delivered ${setup.concurrency} at once`);
    const r = await measureDelivery(options, setup, 'delivery');
    const rate = (ms: number) => (r.documents / ms) * 1000;
    return {
      what: `documents/s, ${r.documents.toLocaleString('en-US')} documents, concurrency ${setup.concurrency}`,
      measured: { label: 'kontor', value: rate(median(r.times.a)), unit: 'docs/s', samples: r.times.a.map(rate) },
      baseline: { label: 'raw POSTs', value: rate(median(r.times.b)), unit: 'docs/s', samples: r.times.b.map(rate) },
      notes: [
        `median of ${setup.rounds} interleaved rounds after ${setup.warmup} warm-up passes each; ${r.documents} documents of ${setup.orders} orders (${kindsText(r.kinds)}); the emulator's books identical after every pass of either side (${r.books.invoices} invoices, ${r.books.customers} customers, ${r.books.payments} payments)`,
        `kontor sent ${r.requests.kontor} requests per pass for them, the raw side ${r.requests.raw} POSTs; the raw side schedules by the outbox's dependencies without claims or batches`,
        `kontor committed the last pass's ${r.commits.outcomes} outcomes and ${r.claims.claims} claims (${(r.claims.entries / Math.max(1, r.claims.claims)).toFixed(1)} entries per claim) in ${r.commits.commits} transactions (group commit, a claim riding with the outcomes waiting); one small commit (fsync, synchronous=FULL) takes ${r.commitMs.toFixed(2)} ms on this disk`,
      ],
      details: { ...setup, documents: r.documents, kinds: r.kinds, requests: r.requests, msPerRound: { kontor: r.times.a, raw: r.times.b }, commitMs: r.commitMs, commits: r.commits, claims: r.claims, lastDelivery: r.stats },
    };
  },
};

export const latencyFigure: Figure = {
  name: 'latency',
  description: 'documents/s delivered to the emulator answering after 20 ms, 8 at once, against the ideal 8 / 20 ms = 400/s',
  goal: { on: 'ratio', atLeast: 0.9 },
  async run(options): Promise<FigureOutcome> {
    // One warm-up pass: more change nothing here (kontor 2,473–2,503 ms per pass over four).
    // Up to five rounds: passes of the same code vary by 2–3 % (350–373 docs/s), as much as the
    // figure lies from its goal, and the median of five is steadier than of three.
    const setup: Setup = { orders: 300, concurrency: 8, latencyMs: 20, rounds: Math.min(options.rounds, 5), warmup: 1 };
    options.log(`latency: ${setup.orders} orders taken in per round, emulator latency ${setup.latencyMs} ms, delivered ${setup.concurrency} at once`);
    const r = await measureDelivery(options, setup, 'latency');
    const rate = (ms: number) => (r.documents / ms) * 1000;
    const ideal = setup.concurrency / (setup.latencyMs / 1000);
    const rawRate = rate(median(r.times.b));
    const kontorRate = rate(median(r.times.a));
    return {
      what: `documents/s, ${r.documents.toLocaleString('en-US')} documents, ${setup.latencyMs} ms latency, concurrency ${setup.concurrency}`,
      measured: { label: 'kontor', value: kontorRate, unit: 'docs/s', samples: r.times.a.map(rate) },
      baseline: { label: 'ideal', value: ideal, unit: 'docs/s' },
      notes: [
        `median of ${setup.rounds} rounds after ${setup.warmup} warm-up pass; ${r.documents} documents of ${setup.orders} orders (${kindsText(r.kinds)})`,
        `raw POSTs of the same bodies under the same latency and concurrency: ${Math.round(rawRate)} docs/s (${(rawRate / ideal).toFixed(2)} of ideal: the loopback and both ends' HTTP work add to the emulator's 20 ms, which run from a request's arrival to its answer); kontor sent ${r.requests.kontor} requests, ${(((r.requests.kontor / median(r.times.a)) * 1000) / ideal).toFixed(2)} of the ideal request rate, and committed ${r.commits.outcomes} outcomes and ${r.claims.claims} claims in ${r.commits.commits} transactions`,
      ],
      details: { ...setup, ideal, documents: r.documents, kinds: r.kinds, requests: r.requests, msPerRound: { kontor: r.times.a, raw: r.times.b }, raw: { docsPerSecond: rawRate, ofIdeal: rawRate / ideal }, lastDelivery: r.stats },
    };
  },
};
