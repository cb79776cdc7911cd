/**
 * The whole Run my Accounts flow through kontor itself: the real CLI (`node dist/cli.js`, built
 * by the global setup) syncs the sample orders (examples/orders, mappings/woocommerce-ch.yaml)
 * into the Run my Accounts emulator (src/targets/runmyaccounts/emulator.ts) on loopback, and
 * the tests look at what the emulator booked.
 *
 * What "right" means here comes from kontor itself, never from numbers written into the test:
 * - `kontor preview --json` of each order gives the documents and the exact request bodies
 *   kontor sends (payloads.rma, one request per document); every committed POST the emulator
 *   saw must be one of them, each exactly once;
 * - a twin project delivering the same orders to a `journal` target gives kontor's own
 *   journal (`ledger balance --json`); the emulator's double-entry ledger must equal it.
 *
 * Then, on the same books: a cancellation (storno, its two transfer payments, 1090 back to
 * zero by the emulator's ledger, GET gl/v2/saldo and `kontor status`) and a refund (credit note
 * and its payment back on the clearing account). The same books in XML with the key as the
 * `api_key` query parameter. Faults (connections dropped and 500s after the commit; a 429
 * burst with 20 % 500s) still book everything exactly once. A wrong key stops the target and
 * books nothing until the key is fixed. The article variant (mappings/woocommerce-ch-articles.yaml)
 * books parts against a part master built from the orders' SKUs and the mapping's rules; the
 * lookup after an in-doubt article invoice compares the net, since RMA rounds the VAT of parts
 * its own way.
 *
 * Every CLI run is checked for the API key in its stdout and stderr, and the project folder
 * (database included) for the key at the end of each test.
 */
import { mulberry32 } from './random.js';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startRunMyAccounts, type RmaEmulator, type RmaEmulatorOptions, type RmaPartMaster, type RmaRequestRecord } from '../src/targets/runmyaccounts/emulator.js';
import { allFileBytes, ROOT, runCli, tempProject, type CliResult } from './helpers.js';
import { sampleOrdersConfig } from './targets-helpers.js';

const KEY = 'rma-flow-key-7f3c2a91e5d04b68';
const WRONG_KEY = 'rma-flow-wrong-0b8e6d4c2a917f35';
const MANDANT = 'muster';

/** The payment providers' clearing accounts the shipped mappings name (not in RMA's base chart). */
const CLEARING: NonNullable<RmaEmulatorOptions['accounts']> = [
  { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
  { accno: '1092', description: 'Clearing Payrexx / TWINT', category: 'A', link: 'AR_paid' },
];

const ORDER_FILES = readdirSync(path.join(ROOT, 'examples', 'orders'))
  .filter((f) => f.endsWith('.json'))
  .sort();

// ── projects ─────────────────────────────────────────────────────────────────────────────

interface Project {
  dir: string;
  emu: RmaEmulator;
  /** Told every line the emulator logs (one per request, after it is answered). */
  onLog: ((line: string) => void) | null;
}

const running: RmaEmulator[] = [];
const projects: string[] = [];

function configYaml(target: string, mapping: string, extra = ''): string {
  return sampleOrdersConfig({ mapping, targetsYaml: [target, extra].join('\n') });
}

function rmaTarget(url: string, extra = ''): string {
  return [
    '  rma:',
    '    type: runmyaccounts',
    '    environment: test',
    `    base_url: ${url}`,
    `    mandant: ${MANDANT}`,
    '    credentials:',
    '      test:',
    '        api_key: ${RMA_KEY}',
    extra,
  ].join('\n');
}

/**
 * The file source reads files in modification-time order, and a copied file's time is when it
 * was copied: give the sample orders distinct times in name order, a minute ago, so that every
 * run delivers them in the same order (the seeded error rate and the armed faults rely on it)
 * and an edited file is newer than all of them.
 */
function orderFilesInNameOrder(dir: string): void {
  const start = Date.now() / 1000 - 60;
  ORDER_FILES.forEach((f, i) => utimesSync(path.join(dir, 'examples', 'orders', f), start + i, start + i));
}

async function rmaProject(options: RmaEmulatorOptions = {}, mapping = 'woocommerce-ch.yaml', targetExtra = ''): Promise<Project> {
  const project: Project = { dir: '', emu: null as unknown as RmaEmulator, onLog: null };
  project.emu = await startRunMyAccounts({ mandants: [MANDANT], key: KEY, accounts: CLEARING, ...options, log: (line) => project.onLog?.(line) });
  running.push(project.emu);
  project.dir = tempProject(configYaml(rmaTarget(project.emu.url, targetExtra), mapping));
  orderFilesInNameOrder(project.dir);
  projects.push(project.dir);
  return project;
}

/** The same orders into kontor's own journal: what kontor itself books. */
function journalTwin(mapping = 'woocommerce-ch.yaml'): string {
  const dir = tempProject(configYaml('  journal:\n    type: journal\n    transfer_account: "1090"', mapping));
  orderFilesInNameOrder(dir);
  projects.push(dir);
  return dir;
}

/** The real CLI; no run may show the key (right or wrong) anywhere in what it prints. */
async function kontor(dir: string, args: string[], key = KEY): Promise<CliResult> {
  const result = await runCli(args, { cwd: dir, env: { RMA_KEY: key }, timeoutMs: 30_000 });
  for (const secret of [KEY, WRONG_KEY]) {
    expect(result.stdout, `kontor ${args.join(' ')}: stdout`).not.toContain(secret);
    expect(result.stderr, `kontor ${args.join(' ')}: stderr`).not.toContain(secret);
  }
  return result;
}

async function sync(dir: string, key = KEY): Promise<CliResult> {
  return kontor(dir, ['sync', '--once'], key);
}

afterEach(() => {
  // Nothing kontor wrote (database, logs, moved files) holds the key.
  for (const dir of projects.splice(0)) {
    for (const { file, bytes } of allFileBytes(dir)) {
      for (const secret of [KEY, WRONG_KEY]) expect(bytes.includes(secret), `${file} holds the API key`).toBe(false);
    }
  }
});

afterAll(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

// ── kontor's own view: preview, journal, outbox ──────────────────────────────────────────

interface PreviewPosting {
  account: string;
  role: string;
  amount_minor: number;
}

interface PreviewDocument {
  kind: string;
  key: string;
  number: string;
  gross_minor: number;
  postings: PreviewPosting[];
}

interface PreviewRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

/** One document of kontor's and the one request it becomes. */
interface Planned {
  doc: PreviewDocument;
  request: PreviewRequest;
}

/**
 * `kontor preview --json` of an order (after its earlier versions, when given): its documents,
 * each with the request kontor sends for it, by document key.
 */
async function preview(dir: string, versions: string[], mapping?: string): Promise<Map<string, Planned>> {
  const result = await kontor(dir, ['preview', '--source', 'samples', '--order', ...versions, '--target', 'rma', '--json', ...(mapping ? ['--mapping', mapping] : [])]);
  expect(result.code, result.stderr).toBe(0);
  const out = JSON.parse(result.stdout) as { documents: PreviewDocument[]; payloads: { rma: PreviewRequest[] }; errors: unknown[] };
  expect(out.errors).toEqual([]);
  expect(out.payloads.rma, 'one request per document').toHaveLength(out.documents.length);
  return new Map(out.documents.map((doc, i) => [doc.key, { doc, request: out.payloads.rma[i]! }]));
}

/** What kontor plans for the sample orders as they are in `dir`, merged by document key. */
async function planAll(dir: string, mapping?: string): Promise<Map<string, Planned>> {
  const plans = await Promise.all(ORDER_FILES.map((f) => preview(dir, [path.join('examples', 'orders', f)], mapping)));
  const merged = new Map<string, Planned>();
  for (const plan of plans) {
    for (const [key, planned] of plan) {
      const earlier = merged.get(key);
      // The same document (a returning customer) must be the same request in every preview.
      if (earlier) expect(planned.request.body, key).toEqual(earlier.request.body);
      merged.set(key, planned);
    }
  }
  return merged;
}

/** Debit-positive balances of kontor's journal (the twin project), zero balances left out. */
async function journalBalances(dir: string): Promise<Record<string, number>> {
  const result = await kontor(dir, ['ledger', 'balance', '--json']);
  expect(result.code, result.stderr).toBe(0);
  const [journal] = JSON.parse(result.stdout) as { accounts: { account: string; currency: string; balance: number }[] }[];
  return Object.fromEntries(journal!.accounts.filter((a) => a.balance !== 0).map((a) => [a.account, a.balance]));
}

function nonZero(balances: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(balances).filter(([, v]) => v !== 0));
}

interface OutboxRow {
  id: number;
  entry_key: string;
  state: string;
  kind: string;
  attempts: number;
  last_error: string | null;
}

async function outbox(dir: string, key = KEY): Promise<OutboxRow[]> {
  const result = await kontor(dir, ['outbox', 'list', '--limit', '1000', '--json'], key);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as OutboxRow[];
}

/**
 * What a person does after faults: entries left retrying or in doubt are made due now
 * (`kontor outbox retry ID`; an in-doubt one is still looked up first) and synced again, until
 * the outbox holds nothing but delivered entries or `rounds` syncs have run.
 */
async function syncUntilSettled(dir: string, rounds: number): Promise<{ rows: OutboxRow[]; syncs: number }> {
  let syncs = 1;
  for (;;) {
    const rows = await outbox(dir);
    const waiting = rows.filter((r) => r.state === 'retry' || r.state === 'in_doubt');
    if (rows.every((r) => r.state === 'delivered') || syncs >= rounds) return { rows, syncs };
    // One at a time: each run opens the same SQLite file.
    for (const row of waiting) {
      const retried = await kontor(dir, ['outbox', 'retry', String(row.id)]);
      expect(retried.code, retried.stderr).toBe(0);
    }
    await sync(dir);
    syncs++;
  }
}

// ── what the emulator saw ────────────────────────────────────────────────────────────────

/** A write the emulator carried out: answered 2xx, or committed and then dropped or failed on purpose. */
function committed(r: RmaRequestRecord): boolean {
  return r.method === 'POST' && ((typeof r.status === 'number' && r.status < 300) || r.fault === 'drop' || r.fault === 'fail-after-commit');
}

function apiPath(r: RmaRequestRecord): string {
  return r.url.split('?')[0]!;
}

/**
 * Every planned request reached the emulator and was carried out exactly once, with exactly
 * the body kontor previews; nothing else was written; nothing was refused.
 */
function expectBookedExactlyOnce(emu: RmaEmulator, planned: Map<string, Planned>): void {
  const writes = emu.requests.filter(committed);
  const expected = [...planned.values()].filter((p) => p.doc.kind !== 'customer');
  for (const { doc, request } of expected) {
    const same = writes.filter((w) => apiPath(w) === request.path && JSON.stringify(w.body) === JSON.stringify(request.body));
    expect(same, `${doc.kind} ${doc.number}: carried out once with kontor's body`).toHaveLength(1);
  }
  // Customers: POST is RMA's create-or-update, so a repeat would be harmless; kontor sends each once.
  const customers = [...planned.values()].filter((p) => p.doc.kind === 'customer');
  const customerWrites = writes.filter((w) => apiPath(w).endsWith('/customers'));
  expect(customerWrites.map((w) => w.body).sort(byJson)).toEqual(customers.map((c) => c.request.body).sort(byJson));
  expect(writes, 'no write that kontor did not plan').toHaveLength(expected.length + customers.length);
  // No POST was refused: not as a duplicate, not for anything else.
  expect(emu.requests.filter((r) => r.status === 400).map((r) => `${r.method} ${r.url}: ${r.error}`)).toEqual([]);
}

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** The invoices, credit notes and stornos at the emulator match kontor's documents in amount, entries and paid amount. */
function expectInvoicesAsPlanned(emu: RmaEmulator, planned: Map<string, Planned>): void {
  const sales = [...planned.values()].filter((p) => ['invoice', 'credit_note', 'credit-note', 'storno'].includes(p.doc.kind));
  const payments = [...planned.values()].filter((p) => p.doc.kind === 'payment');
  const stored = new Map(emu.invoices(MANDANT).map((i) => [i.invnumber, i]));
  expect([...stored.keys()].sort()).toEqual(sales.map((s) => s.doc.number).sort());
  for (const { doc } of sales) {
    const invoice = stored.get(doc.number)!;
    const credit = (role: string) => doc.postings.filter((p) => p.role === role).map((p) => [p.account, -p.amount_minor]);
    expect(invoice.flavour, doc.number).toBe('booking');
    expect(invoice.amount, `${doc.number}: amount = kontor's gross`).toBe(doc.gross_minor);
    expect(invoice.tax.map((t) => [t.accno, t.amount]).sort(byJson), `${doc.number}: VAT`).toEqual(credit('vat').sort(byJson));
    const income = doc.postings.filter((p) => p.role !== 'vat' && p.role !== 'receivable');
    expect(invoice.income.map((l) => [l.accno, l.amount]).sort(byJson), `${doc.number}: income`).toEqual(income.map((p) => [p.account, -p.amount_minor]).sort(byJson));
    const paid = payments.filter((p) => p.request.path.endsWith(`/invoices/${encodeURIComponent(doc.number)}/payments`)).reduce((s, p) => s + p.doc.gross_minor, 0);
    expect(invoice.paid, `${doc.number}: paid`).toBe(paid);
  }
}

/** The booking variant's documented shape (reference §2.2): wrapped entry lists, net entries plus VAT. */
function expectBookingShape(body: Record<string, unknown>): void {
  expect(body).toMatchObject({
    status: 'OPEN',
    taxincluded: 'false',
    incomeentries: { incomeentry: expect.any(Array) },
    taxentries: { taxentry: expect.any(Array) },
  });
  expect(body).not.toHaveProperty('parts');
  for (const entry of (body.incomeentries as { incomeentry: Record<string, string>[] }).incomeentry) {
    expect(Object.keys(entry).sort()).toEqual(['amount', 'description', 'income_accno']);
    expect(entry.amount).toMatch(/^-?\d+\.\d{2}$/);
  }
  for (const entry of (body.taxentries as { taxentry: Record<string, string>[] }).taxentry) {
    expect(Object.keys(entry).sort()).toEqual(['amount', 'tax_accno']);
  }
  expect(body.transdate).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00\+0[12]:00$/);
}

function expectBalanced(ledger: Record<string, number>): void {
  expect(Object.values(ledger).reduce((a, b) => a + b, 0)).toBe(0);
}

/** GET gl/v2/saldo of one account, as any RMA client reads it. */
async function saldo(emu: RmaEmulator, accno: string): Promise<string> {
  const res = await fetch(`${emu.apiBase(MANDANT)}/gl/v2/saldo?accno=${accno}`, { headers: { authorization: `Bearer ${KEY}`, accept: 'application/json' } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { row?: { accountnumber: string; amount: string } | { accountnumber: string; amount: string }[] };
  const rows = body.row === undefined ? [] : Array.isArray(body.row) ? body.row : [body.row];
  return rows.find((r) => r.accountnumber === accno)?.amount ?? 'none';
}

/** Rewrite a sample order in the projects, as the shop would after a change. */
function editOrder(dirs: string[], file: string, change: (order: Record<string, unknown>) => void): void {
  for (const dir of dirs) {
    const full = path.join(dir, 'examples', 'orders', file);
    const order = JSON.parse(readFileSync(full, 'utf8')) as Record<string, unknown>;
    change(order);
    writeFileSync(full, JSON.stringify(order, null, 2));
  }
}

// ── the booking variant, end to end ──────────────────────────────────────────────────────

describe('kontor → Run my Accounts (booking variant), the whole flow', () => {
  let project: Project;
  let twin: string;
  let planned: Map<string, Planned>;

  beforeAll(async () => {
    project = await rmaProject();
    twin = journalTwin();
    planned = await planAll(project.dir);
  });

  it('books customers, invoices and payments as kontor previews them, and the ledger as kontor\'s journal', async () => {
    const [run, journal] = await Promise.all([sync(project.dir), sync(twin)]);
    expect(run.code, run.stderr).toBe(0);
    expect(journal.code, journal.stderr).toBe(0);
    expect(run.stdout).toMatch(/delivery: \d+ documents booked, 0 retrying, 0 in doubt, 0 dead/);
    expect(run.stdout).toContain('transfer account 1090: CHF 0.00');

    const { emu } = project;
    expectBookedExactlyOnce(emu, planned);
    // Customers first: RMA knows every customer an invoice names.
    const customerNumbers = emu.customers(MANDANT).map((c) => c.customernumber).sort();
    expect(customerNumbers).toEqual([...new Set([...planned.values()].filter((p) => p.doc.kind === 'customer').map((p) => p.doc.number))].sort());
    for (const customer of emu.customers(MANDANT)) {
      const sent = [...planned.values()].find((p) => p.doc.kind === 'customer' && p.doc.number === customer.customernumber)!;
      expect(customer.name).toBe(sent.request.body.name);
    }
    // Every invoice in the booking variant's documented shape, with kontor's amounts.
    const invoicePosts = emu.requests.filter((r) => committed(r) && apiPath(r).endsWith('/invoices'));
    expect(invoicePosts).toHaveLength(ORDER_FILES.length);
    for (const post of invoicePosts) expectBookingShape(post.body as Record<string, unknown>);
    expectInvoicesAsPlanned(emu, planned);

    // Paid orders: one payment each, on the provider's clearing account (AR_paid), never on a bank account.
    const payments = emu.payments(MANDANT);
    expect(payments.length).toBe([...planned.values()].filter((p) => p.doc.kind === 'payment').length);
    for (const payment of payments) expect(['1091', '1092']).toContain(payment.payment_accno);
    // The unpaid one (bank transfer) stays open.
    const open = emu.invoices(MANDANT).filter((i) => i.paid !== i.amount);
    expect(open.map((i) => i.invnumber)).toEqual(['1003']);

    // The emulator's ledger is kontor's journal, account by account, and balances.
    const ledger = nonZero(emu.ledger(MANDANT));
    expectBalanced(ledger);
    expect(ledger).toEqual(await journalBalances(twin));
    expect(ledger['1090']).toBeUndefined();
  });

  it('a second sync sends nothing', async () => {
    const before = project.emu.requests.filter((r) => r.method === 'POST').length;
    const run = await sync(project.dir);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/0 booked \(0 new documents\)/);
    expect(run.stdout).toContain('delivery: 0 documents booked, 0 retrying, 0 in doubt, 0 dead');
    expect(project.emu.requests.filter((r) => r.method === 'POST').length).toBe(before);
  });

  it('a cancellation: the storno and its two transfer payments reach RMA, and 1090 is back at zero', async () => {
    // 1003 (unpaid, bank transfer) is cancelled in the shop.
    // The earlier version, for the preview of what the cancellation adds.
    const original = path.join(project.dir, 'cancel-1003-before.json');
    writeFileSync(original, readFileSync(path.join(project.dir, 'examples', 'orders', 'wc-order-1003.json')));
    editOrder([project.dir, twin], 'wc-order-1003.json', (o) => {
      o.status = 'cancelled';
      o.date_modified = '2026-11-05T10:00:00';
      o.date_modified_gmt = '2026-11-05T09:00:00';
    });
    const stornoPlan = [...(await preview(project.dir, [original, path.join('examples', 'orders', 'wc-order-1003.json')])).values()].filter((p) => !planned.has(p.doc.key));
    expect(stornoPlan.map((p) => `${p.doc.kind} ${p.doc.number}`)).toEqual(['storno 1003-S', 'payment 1003/storno-invoice', 'payment 1003-S/storno-storno']);
    for (const p of stornoPlan) planned.set(p.doc.key, p);

    const [run, journal] = await Promise.all([sync(project.dir), sync(twin)]);
    expect(run.code, run.stderr).toBe(0);
    expect(journal.code, journal.stderr).toBe(0);
    expect(run.stdout).toContain('delivery: 3 documents booked, 0 retrying, 0 in doubt, 0 dead');

    const { emu } = project;
    expectBookedExactlyOnce(emu, planned);
    expectInvoicesAsPlanned(emu, planned);
    const storno = emu.invoices(MANDANT).find((i) => i.invnumber === '1003-S')!;
    const invoice = emu.invoices(MANDANT).find((i) => i.invnumber === '1003')!;
    expect(storno.amount).toBe(-invoice.amount);
    expectBookingShape(emu.requests.find((r) => committed(r) && (r.body as { invnumber?: string }).invnumber === '1003-S')!.body as Record<string, unknown>);
    // Both settled through the transfer account: one payment each, mirror amounts, on 1090.
    const transfers = emu.payments(MANDANT).filter((p) => p.payment_accno === '1090');
    expect(transfers.map((p) => [p.invnumber, p.amount])).toEqual([
      ['1003', invoice.amount],
      ['1003-S', -invoice.amount],
    ]);
    expect(invoice.paid).toBe(invoice.amount);
    expect(storno.paid).toBe(storno.amount);

    const ledger = nonZero(emu.ledger(MANDANT));
    expectBalanced(ledger);
    expect(ledger['1090']).toBeUndefined();
    expect(ledger).toEqual(await journalBalances(twin));
    expect(await saldo(emu, '1090')).toMatch(/^0(\.0+)?$/);
    // kontor reads the same saldo for `status`.
    const status = await kontor(project.dir, ['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { transfer: unknown[] }).transfer).toEqual([expect.objectContaining({ target: 'rma', account: '1090', balance: { CHF: 0 } })]);
  });

  it('a refund: the credit note (a negative invoice) and its payment back on the clearing account reach RMA', async () => {
    // 1002 (paid by card through Stripe, clearing 1091): the honey is refunded.
    const original = path.join(project.dir, 'refund-1002-before.json');
    writeFileSync(original, readFileSync(path.join(project.dir, 'examples', 'orders', 'wc-order-1002.json')));
    editOrder([project.dir, twin], 'wc-order-1002.json', (o) => {
      o.refunds = [{ id: 2101, reason: 'Honig beschädigt', total: '-14.47' }];
      o.date_modified = '2026-10-28T10:00:00';
      o.date_modified_gmt = '2026-10-28T09:00:00';
    });
    const refundPlan = [...(await preview(project.dir, [original, path.join('examples', 'orders', 'wc-order-1002.json')])).values()].filter((p) => !planned.has(p.doc.key));
    expect(refundPlan.map((p) => `${p.doc.kind} ${p.doc.number}`)).toEqual(['credit_note 1002-G2101', 'payment 1002-G2101/refund-2101-payment']);
    for (const p of refundPlan) planned.set(p.doc.key, p);

    const [run, journal] = await Promise.all([sync(project.dir), sync(twin)]);
    expect(run.code, run.stderr).toBe(0);
    expect(journal.code, journal.stderr).toBe(0);
    expect(run.stdout).toContain('delivery: 2 documents booked, 0 retrying, 0 in doubt, 0 dead');

    const { emu } = project;
    expectBookedExactlyOnce(emu, planned);
    expectInvoicesAsPlanned(emu, planned);
    const creditNote = emu.invoices(MANDANT).find((i) => i.invnumber === '1002-G2101')!;
    expect(creditNote.amount).toBe(-1447);
    const sent = emu.requests.find((r) => committed(r) && (r.body as { invnumber?: string }).invnumber === '1002-G2101')!.body as Record<string, unknown>;
    expectBookingShape(sent);
    expect(sent.intnotes).toBe('Credit note for invoice 1002');
    // Paid back to the customer through the same provider: a negative payment on 1091.
    const back = emu.payments(MANDANT).filter((p) => p.invnumber === '1002-G2101');
    expect(back.map((p) => [p.amount, p.payment_accno])).toEqual([[-1447, '1091']]);
    expect(creditNote.paid).toBe(creditNote.amount);

    const ledger = nonZero(emu.ledger(MANDANT));
    expectBalanced(ledger);
    expect(ledger).toEqual(await journalBalances(twin));
  });
});

// ── faults ───────────────────────────────────────────────────────────────────────────────

/** The emulator's error rate, repeatable. */
const seeded = mulberry32;

describe('kontor → Run my Accounts under faults: everything exactly once', () => {
  it('connections dropped and 500s after the commit: the lookup finds what RMA booked, nothing is sent twice', async () => {
    const project = await rmaProject();
    const planned = await planAll(project.dir);
    const customers = [...planned.values()].filter((p) => p.doc.kind === 'customer').length;
    const invoices = [...planned.values()].filter((p) => p.doc.kind === 'invoice').length;
    const { emu } = project;
    // Faults are armed from the emulator's log: the first invoice POST after the customers is
    // committed and its connection dropped, the next one committed and answered 500; the
    // first payment POST committed and dropped.
    let customersDone = 0;
    let invoicesSeen = 0;
    let stage = 0;
    project.onLog = (line) => {
      if (/^POST \S+\/customers 204/.test(line)) customersDone++;
      if (/^POST \S+\/invoices (204|dropped|500)/.test(line)) invoicesSeen++;
      if (stage === 0 && customersDone === customers) {
        stage = 1;
        emu.faults = { dropAfterCommit: 1 };
      } else if (stage === 1 && / \(drop\)/.test(line)) {
        stage = 2;
        emu.faults = { failAfterCommit: 1 };
      } else if (stage === 2 && invoicesSeen === invoices) {
        // Every invoice is in (their payments depend on them): a payment POST is next.
        stage = 3;
        emu.faults = { dropAfterCommit: 1 };
      }
    };

    const first = await sync(project.dir);
    expect(stage).toBe(3);
    expect(emu.stats.faults).toMatchObject({ dropped: 2, failedAfterCommit: 1 });
    expect(first.code === 0 || first.code === 1, first.stderr).toBe(true);
    const { rows, syncs } = await syncUntilSettled(project.dir, 3);
    expect(rows.map((r) => `${r.entry_key} ${r.state}`)).toEqual(rows.map((r) => `${r.entry_key} delivered`));
    expect(syncs).toBeLessThanOrEqual(2);

    // Each faulted write was committed once and never sent again.
    const faulted = emu.requests.filter((r) => r.fault === 'drop' || r.fault === 'fail-after-commit');
    expect(faulted.map((r) => apiPath(r).replace(/^.*\/clients\/[^/]+/, ''))).toEqual([expect.stringMatching(/^\/invoices$/), expect.stringMatching(/^\/invoices$/), expect.stringMatching(/^\/invoices\/[^/]+\/payments$/)]);
    expectBookedExactlyOnce(emu, planned);
    expectInvoicesAsPlanned(emu, planned);
    const perInvnumber = new Map<string, number>();
    for (const i of emu.invoices(MANDANT)) perInvnumber.set(i.invnumber, (perInvnumber.get(i.invnumber) ?? 0) + 1);
    expect([...perInvnumber.values()].every((n) => n === 1)).toBe(true);
    expectBalanced(emu.ledger(MANDANT));
  });

  it('a 429 burst and 20 % of requests answered 500: every document arrives exactly once', async () => {
    // Seed 10 sends 500s to invoice and payment POSTs and to a lookup alike (in the claim order of
    // migration 0010: the errors fall on whichever requests the seed's draws meet).
    const project = await rmaProject({ faults: { throttle: 3, retryAfterSeconds: 0, errorRate: 0.2 }, random: seeded(10) });
    const planned = await planAll(project.dir);
    const { emu } = project;

    await sync(project.dir);
    const { rows } = await syncUntilSettled(project.dir, 8);
    expect(rows.map((r) => `${r.entry_key} ${r.state}`)).toEqual(rows.map((r) => `${r.entry_key} delivered`));
    expect(emu.stats.faults.throttled).toBe(3);
    const failed = emu.requests.filter((r) => r.fault === 'error').map((r) => `${r.method} ${apiPath(r).replace(/^.*\/clients\/[^/]+/, '').replace(/\/[^/]*\d[^/]*/g, '/N')}`);
    expect(failed).toEqual(expect.arrayContaining(['POST /invoices', 'GET /invoices/N', 'POST /invoices/N/payments']));

    expectBookedExactlyOnce(emu, planned);
    expectInvoicesAsPlanned(emu, planned);
    const ledger = nonZero(emu.ledger(MANDANT));
    expectBalanced(ledger);
    // The same books as without faults.
    const twin = journalTwin();
    expect((await sync(twin)).code).toBe(0);
    expect(ledger).toEqual(await journalBalances(twin));
  });
});

describe('kontor → Run my Accounts in XML, the key as the api_key query parameter', () => {
  it('books the same as JSON with a Bearer key, and the key shows in no output even though it is in every URL', async () => {
    const project = await rmaProject({}, 'woocommerce-ch.yaml', '    format: xml\n    auth: query');
    const twin = journalTwin();
    const planned = await planAll(project.dir);
    const [run, journal] = await Promise.all([kontor(project.dir, ['sync', '--once', '--json']), sync(twin)]);
    expect(run.code, run.stderr).toBe(0);
    expect(journal.code, journal.stderr).toBe(0);
    const { emu } = project;
    for (const r of emu.requests) {
      expect(r.auth, r.url).toBe('query');
      expect(r.accept, r.url).toMatch(/xml/);
      if (r.method === 'POST') expect(r.contentType, r.url).toMatch(/^application\/xml/);
    }
    // The XML the emulator parsed is the JSON kontor previews, element for element.
    expectBookedExactlyOnce(emu, planned);
    expectInvoicesAsPlanned(emu, planned);
    expect(nonZero(emu.ledger(MANDANT))).toEqual(await journalBalances(twin));
  });
});

// ── a wrong key ──────────────────────────────────────────────────────────────────────────

describe('kontor → Run my Accounts with a wrong API key', () => {
  it('stops the target with the credential problem, books nothing, keeps every entry, and delivers once the key is fixed', async () => {
    const project = await rmaProject();
    const { emu } = project;
    const run = await kontor(project.dir, ['sync', '--once', '--json'], WRONG_KEY);
    const summary = JSON.parse(run.stdout) as { delivery: { delivered: number; dead: number; stopped?: Record<string, string> }; targets: { name: string; transferBalance: unknown; transferError?: string }[] };
    // The summary names the stopped target and why.
    expect(summary.delivery).toMatchObject({ delivered: 0, dead: 0 });
    expect(summary.delivery.stopped?.rma).toMatch(/Run my Accounts refused the API key \(HTTP 403/);
    expect(summary.targets.find((t) => t.name === 'rma')).toMatchObject({ transferBalance: null, transferError: expect.stringMatching(/API key/) });
    const text = await kontor(project.dir, ['sync', '--once'], WRONG_KEY);
    expect(text.stdout).toMatch(/delivery to rma STOPPED \(its entries wait\): .*refused the API key \(HTTP 403/);
    expect(text.stderr).toMatch(/ALERT: target rma refused kontor's credentials/);
    // Nothing booked; each run stopped the target at the first refusal instead of trying every document.
    expect(emu.stats.committed).toBe(0);
    expect(emu.invoices(MANDANT)).toEqual([]);
    expect(emu.customers(MANDANT)).toEqual([]);
    const refusedPosts = emu.requests.filter((r) => r.status === 403 && r.method === 'POST');
    expect(refusedPosts).toHaveLength(2);
    expect(emu.requests.every((r) => r.auth === 'bearer')).toBe(true);
    // No document is at fault: every entry waits, none dead, no attempt used up.
    const rows = await outbox(project.dir, WRONG_KEY);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(`${row.entry_key} ${row.state} ${row.attempts}`).toBe(`${row.entry_key} pending 0`);
    // `status` still answers, and names the problem where the transfer balance would be.
    const status = await kontor(project.dir, ['status', '--json'], WRONG_KEY);
    expect(status.code, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout) as { backlog: unknown[]; transfer: unknown[] };
    expect(shown.backlog).toEqual([{ target: 'rma', state: 'pending', count: rows.length }]);
    expect(shown.transfer).toEqual([expect.objectContaining({ target: 'rma', balance: null, error: expect.stringMatching(/refused the API key \(HTTP 403/) })]);

    // The operator puts the right key in and runs kontor again: everything is delivered, once.
    const fixed = await sync(project.dir);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((await outbox(project.dir)).every((r) => r.state === 'delivered')).toBe(true);
    expectBookedExactlyOnce(emu, await planAll(project.dir));
  });
});

// ── the article variant ──────────────────────────────────────────────────────────────────

interface ArticleMapping {
  accounts: { revenue: { vat_rate: number; account: string }[]; shipping: string; fees: string; discount: string };
  articles: { product: string; shipping: string; fee: string; discount: string };
  vat: { rates: { rate: number; code: string; account: string; valid_to?: unknown }[] };
}

/**
 * RMA's part master for the sample orders under mappings/woocommerce-ch-articles.yaml: a part
 * per SKU of examples/orders (income account: the revenue account of the line's VAT rate; VAT
 * account: the rate's), and the shipping, fee and discount parts per VAT code, all as the
 * mapping's `articles` templates name them. `leaveOut` parts are not created.
 */
function articlePartMaster(leaveOut: string[]): RmaPartMaster[] {
  const spec = parseYaml(readFileSync(path.join(ROOT, 'mappings', 'woocommerce-ch-articles.yaml'), 'utf8')) as ArticleMapping;
  const current = spec.vat.rates.filter((r) => r.valid_to === undefined);
  const revenue = (rate: number) => spec.accounts.revenue.find((r) => r.vat_rate === rate)!.account;
  const fill = (template: string, values: Record<string, string>) => template.replace(/\{(\w+)\}/g, (_, k: string) => values[k]!);
  const parts = new Map<string, RmaPartMaster>();
  for (const file of ORDER_FILES) {
    const order = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', file), 'utf8')) as {
      line_items: { sku: string; name: string; taxes: { id: number }[] }[];
      tax_lines: { rate_id: number; rate_percent: number }[];
    };
    const rateOf = new Map(order.tax_lines.map((t) => [t.rate_id, t.rate_percent]));
    for (const line of order.line_items) {
      const rate = rateOf.get(line.taxes[0]!.id)!;
      const vat = current.find((r) => r.rate === rate)!;
      const partnumber = fill(spec.articles.product, { sku: line.sku });
      parts.set(partnumber, { partnumber, description: line.name, unit: 'Stk', income_accno: revenue(rate), tax_accnos: vat.account });
    }
  }
  for (const vat of current) {
    const values = { vat_code: vat.code };
    for (const [template, account] of [
      [spec.articles.shipping, spec.accounts.shipping],
      [spec.articles.fee, spec.accounts.fees],
      [spec.articles.discount, spec.accounts.discount === 'revenue' ? revenue(vat.rate) : spec.accounts.discount],
    ] as const) {
      const partnumber = fill(template, values);
      parts.set(partnumber, { partnumber, income_accno: account, tax_accnos: vat.account });
    }
  }
  for (const gone of leaveOut) parts.delete(gone);
  return [...parts.values()];
}

describe('kontor → Run my Accounts (article variant)', () => {
  it('books invoices as parts of the part master; an unknown part leaves its invoice dead, naming the part', async () => {
    const MAPPING = 'woocommerce-ch-articles.yaml';
    // The last product of the last order is not in RMA's part master.
    const last = JSON.parse(readFileSync(path.join(ROOT, 'examples', 'orders', ORDER_FILES.at(-1)!), 'utf8')) as { number: string; line_items: { sku: string }[] };
    const unknown = last.line_items.at(-1)!.sku;
    const project = await rmaProject({ parts: articlePartMaster([unknown]) }, MAPPING);
    const { emu } = project;
    const planned = await planAllArticles(project.dir);

    const run = await sync(project.dir);
    expect(run.code).toBe(1);
    const rows = await outbox(project.dir);
    const dead = rows.filter((r) => r.state === 'dead');
    expect(dead.map((r) => r.entry_key).sort()).toEqual(['rma:samples/1003/invoice/1', `rma:samples/${last.number}/invoice/1`].sort());
    expect(dead.find((r) => r.entry_key.includes(`/${last.number}/`))!.last_error).toContain(`part "${unknown}" is not defined in Run my Accounts (GET /parts)`);
    // 1003 is unpaid: the mapping's cash rounding (cash_step 5) adds a rounding line, which the
    // article variant can only send as a rounding part. kontor has no `rounding_part` option in
    // config.yaml yet (RmaRequestOptions.roundingPart is not wired), so the invoice is refused
    // before anything is sent. With that option configured it should be booked like the others.
    expect(dead.find((r) => r.entry_key.includes('/1003/'))!.last_error).toMatch(/cash rounding of -0\.01 CHF has no place in the article variant without a rounding part/);
    // The unknown part's invoice was never sent, its payment waits for it.
    expect(emu.requests.filter((r) => (r.body as { invnumber?: string } | null)?.invnumber === last.number)).toEqual([]);
    expect(rows.find((r) => r.entry_key === `rma:samples/${last.number}/payment:payment/1`)!.state).toBe('pending');

    const booked = [...planned.values()].filter((p) => p.doc.kind === 'invoice' && p.doc.number !== '1003' && p.doc.number !== last.number);
    expect(booked.length).toBe(ORDER_FILES.length - 2);
    const stored = new Map(emu.invoices(MANDANT).map((i) => [i.invnumber, i]));
    expect([...stored.keys()].sort()).toEqual(booked.map((b) => b.doc.number).sort());
    for (const { doc, request } of booked) {
      const body = request.body as { taxincluded: string; parts: { part: { partnumber: string; quantity: string; sellprice: string }[] } };
      const sent = emu.requests.filter((r) => committed(r) && (r.body as { invnumber?: string }).invnumber === doc.number);
      expect(sent.map((r) => r.body)).toEqual([request.body]);
      expect(body).not.toHaveProperty('incomeentries');
      expect(body.parts.part.every((p) => Object.keys(p).every((k) => !['income_accno', 'tax_accnos'].includes(k))), 'part_accounts omit').toBe(true);
      const invoice = stored.get(doc.number)!;
      expect(invoice.flavour).toBe('parts');
      expect(invoice.parts.map((p) => [p.partnumber, p.quantity, p.sellprice])).toEqual(body.parts.part.map((p) => [p.partnumber, p.quantity, p.sellprice]));
      // RMA takes each line's income account from the part master: the mapping's account for that line.
      const income = doc.postings.filter((p) => p.role !== 'vat' && p.role !== 'receivable');
      expect(invoice.income.map((l) => [l.accno, l.amount]).sort(byJson)).toEqual(income.map((p) => [p.account, -p.amount_minor]).sort(byJson));
      // The net is kontor's to the centime. RMA computes the VAT itself, per VAT account on the sum of
      // its lines, while the mapping books the shop's per-line VAT (vat.rounding: per_line): the gross
      // may differ by a centime per VAT account. See docs/targets/runmyaccounts.md, article variant.
      const kontorVat = doc.postings.filter((p) => p.role === 'vat').reduce((s, p) => s - p.amount_minor, 0);
      expect(invoice.netamount, `${doc.number}: net`).toBe(doc.gross_minor - kontorVat);
      expect(Math.abs(invoice.amount - doc.gross_minor), `${doc.number}: gross within a centime per VAT account`).toBeLessThanOrEqual(invoice.tax.length);
    }
    // The payments of the booked invoices went to their clearing accounts.
    expect(emu.payments(MANDANT).map((p) => p.invnumber).sort()).toEqual(booked.map((b) => b.doc.number).sort());
    expectBalanced(emu.ledger(MANDANT));
    // Exactly one GET /parts for the whole run (cached).
    expect(emu.requests.filter((r) => apiPath(r).endsWith('/parts'))).toHaveLength(1);
  });
});

describe('kontor → Run my Accounts (article variant) under faults', () => {
  // BUG (target.ts findSales): the lookup after an in-doubt send compares RMA's gross `amount`
  // with kontor's total. In the article variant RMA computes the VAT itself (per VAT account),
  // so the gross may differ by a centime (1002: 107.38 at RMA, 107.37 in kontor) and the
  // lookup concludes "the number belongs to another document": the invoice RMA did book ends
  // dead. The net (`netamount`, with taxincluded=false) is the same on both sides. Remove
  // `.fails` once findSales compares what the article variant fixes (see the report's patch).
  it('a dropped article invoice whose gross RMA rounds differently is still found by the lookup', async () => {
    const project = await rmaProject({ parts: articlePartMaster([]) }, 'woocommerce-ch-articles.yaml');
    const { emu } = project;
    let armed = false;
    project.onLog = (line) => {
      // The first article invoice (1001) goes through; the next one (1002) is committed and dropped.
      if (!armed && /^POST \S+\/invoices 204/.test(line)) {
        armed = true;
        emu.faults = { dropAfterCommit: 1 };
      }
    };
    await sync(project.dir);
    expect(emu.stats.faults.dropped).toBe(1);
    const dropped = emu.requests.find((r) => r.fault === 'drop')!;
    const invnumber = (dropped.body as { invnumber: string }).invnumber;
    const rows = await outbox(project.dir);
    const entry = rows.find((r) => r.entry_key === `rma:samples/${invnumber}/invoice/1`)!;
    expect(entry.last_error ?? '').not.toMatch(/belongs to another document/);
    expect(entry.state).toBe('delivered');
  });
});

/** The article variant's plan: preview with the article mapping (1003's rounding error is expected there). */
async function planAllArticles(dir: string): Promise<Map<string, Planned>> {
  const merged = new Map<string, Planned>();
  for (const file of ORDER_FILES) {
    const result = await kontor(dir, ['preview', '--source', 'samples', '--order', path.join('examples', 'orders', file), '--target', 'rma', '--json']);
    const out = JSON.parse(result.stdout) as { documents: PreviewDocument[]; payloads: { rma: PreviewRequest[] } };
    if (out.payloads.rma.length !== out.documents.length) continue; // a document kontor cannot express (1003's rounding)
    out.documents.forEach((doc, i) => merged.set(doc.key, { doc, request: out.payloads.rma[i]! }));
  }
  return merged;
}
