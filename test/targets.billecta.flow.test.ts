/**
 * The Billecta flow through kontor itself: the real CLI (`node dist/cli.js`) syncs Shopify SEK
 * orders (test/fixtures/shopify/order-sek-incl-tax.json and orders derived from it) mapped with
 * mappings/shopify-se-billecta.yaml into the Billecta emulator (src/targets/billecta/emulator.ts)
 * on loopback; the tests look at what the emulator stored. Then faults, throttling, token expiry,
 * a wrong password, and webhooks into `kontor run`.
 *
 * Orders: 1042 (the fixture: paid by Shopify Payments, partly refunded → verification invoice and
 * a credit invoice linked to it), 1043 (the same, another id and number, no refund → verification
 * invoice) and 1044 (pending, nothing collected → a full invoice, attested).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { schemaErrors } from './billecta-schemas.js';
import { startBillecta, type BillectaEmulator, type BillectaEmulatorOptions } from '../src/targets/billecta/emulator.js';
import { mulberry32 } from './random.js';
import { allFileBytes, CLI, runCli, type CliResult } from './helpers.js';
import { billectaShopProject, derivedShopifyOrder, freePort, SHOPIFY_SE_FIXTURE } from './targets-helpers.js';

const USER = 'kontor-flow';
const PASSWORD = 'billecta-flow-pw-5c1e9a7d3b2f4e60';
const WRONG = 'billecta-flow-wrong-8d2a6c4e0f1b3957';
const WEBHOOK_SECRET = 'billecta-flow-hook-2b7e1d9c5a3f8e04';
const CREDITOR = '3c0f5d2e-7a41-4b9e-9d3a-1f2e3c4d5e6f';
const FAILING_BUDGET = 4;


const running: BillectaEmulator[] = [];
/** Requests a test sent to the emulator itself (not kontor's): left out of the schema check. */
const seededByTest = new WeakSet<object>();
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  const emulators = running.splice(0);
  // Every body kontor sent, the updates of debtors and products included, is what Billecta's schema allows.
  const invalid = emulators.flatMap((e) => e.requests.filter((r) => !seededByTest.has(r)).map((r) => schemaErrors({ method: r.method, path: r.url, body: r.body }))).filter((x) => x !== null);
  for (const e of emulators) await e.close();
  expect(invalid).toEqual([]);
});

interface Project {
  dir: string;
  emu: BillectaEmulator;
}


/**
 * `paidOrders`: the mapping as shipped (`verification`), or a copy with `paid_orders: invoice`
 * (full invoices, payments registered). `verification` leaves out the refunded fixture unless
 * `refunded` is set.
 */
async function project(options: { emulator?: BillectaEmulatorOptions; webhookPort?: number; paidOrders?: 'invoice' | 'verification'; auth?: 'basic' | 'token'; refunded?: boolean } = {}): Promise<Project> {
  const paidOrders = options.paidOrders ?? 'invoice';
  const emu = await startBillecta({
    user: USER,
    password: PASSWORD,
    creditors: [{ CreditorPublicId: CREDITOR, Name: 'Flow AB' }],
    paymentMeanCodes: ['CARD', 'KLARNA'],
    ...options.emulator,
  });
  running.push(emu);
  const orders = paidOrders === 'invoice' || options.refunded ? [SHOPIFY_SE_FIXTURE, derivedShopifyOrder(1, 'paid'), derivedShopifyOrder(2, 'pending')] : [derivedShopifyOrder(1, 'paid'), derivedShopifyOrder(2, 'pending')];
  const dir = billectaShopProject({
    baseUrl: emu.url,
    creditor: CREDITOR,
    paidOrders,
    orders,
    targetLines: [`    failing_calls_per_minute: ${FAILING_BUDGET}`, '    requests_per_second: 50', `    auth: ${options.auth ?? 'token'}`],
    ...(options.webhookPort !== undefined ? { webhookPort: options.webhookPort } : {}),
  });
  return { dir, emu };
}

async function kontor(dir: string, args: string[], password = PASSWORD): Promise<CliResult> {
  const r = await runCli(args, { cwd: dir, env: { BILLECTA_USER: USER, BILLECTA_PASSWORD: password, BILLECTA_WEBHOOK_SECRET: WEBHOOK_SECRET }, timeoutMs: 30_000 });
  expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  return r;
}

const sync = (dir: string, password?: string) => kontor(dir, ['sync', '--once'], password);

function noPasswordOnDisk(dir: string): void {
  for (const { file, bytes } of allFileBytes(dir)) expect(bytes.includes(PASSWORD), file).toBe(false);
}

/** What the emulator holds, counted by external key, for "exactly once" checks. */
function census(emu: BillectaEmulator) {
  const count = <T,>(xs: T[], key: (x: T) => string | null) => {
    const m: Record<string, number> = {};
    for (const x of xs) m[key(x) ?? '?'] = (m[key(x) ?? '?'] ?? 0) + 1;
    return m;
  };
  return {
    debtors: count(emu.debtors(), (d) => d.DebtorExternalId),
    products: count(emu.products(), (p) => p.ProductExternalId),
    invoices: count(emu.invoices(), (i) => `${i.ActionType} ${String(i.entry.ExternalReference)}`),
    payments: emu.payments().length,
  };
}

/** Every object once, one debtor; 1044 (pending) a full invoice, attested, unpaid. */
function expectCommon(emu: BillectaEmulator): ReturnType<typeof census> {
  const c = census(emu);
  expect(Object.keys(c.debtors), JSON.stringify(c.debtors)).toHaveLength(1);
  expect(Object.values(c.debtors)).toEqual([1]);
  expect(Object.keys(c.products).length).toBeGreaterThan(0);
  expect(Object.values(c.products).every((n) => n === 1), JSON.stringify(c.products)).toBe(true);
  expect(Object.values(c.invoices).every((n) => n === 1), JSON.stringify(c.invoices)).toBe(true);
  const full = byRef(emu, '1044');
  expect(full.map((i) => i.ActionType), JSON.stringify(c.invoices)).toEqual(['InvoiceAction']);
  expect(full[0]!.Stage).not.toBe('Created');
  expect(full[0]!.paid).toBe(0);
  for (const p of emu.payments()) expect(p.PaymentMeanCode).toBe('CARD');
  return c;
}

const byRef = (emu: BillectaEmulator, n: string) => emu.invoices().filter((i) => String(i.entry.YourReference) === n);

/** paid_orders: invoice — 1042 and 1043 invoiced, attested and paid by card; 1042's refund a linked credit invoice. */
function expectBooks(emu: BillectaEmulator): void {
  const c = expectCommon(emu);
  const invoices = emu.invoices();
  for (const n of ['1042', '1043']) {
    const inv = byRef(emu, n).filter((i) => i.ActionType === 'InvoiceAction');
    expect(inv, `${n}: ${JSON.stringify(c.invoices)}`).toHaveLength(1);
    expect(inv[0]!.Stage).not.toBe('Created');
    expect(inv[0]!.paid, n).toBeGreaterThan(0);
    expect(emu.payments().filter((p) => p.ActionPublicId === inv[0]!.ActionPublicId && p.amount > 0), n).toHaveLength(1);
  }
  const credits = invoices.filter((i) => i.ActionType === 'CreditInvoiceAction');
  expect(credits).toHaveLength(1);
  const original = byRef(emu, '1042').find((i) => i.ActionType === 'InvoiceAction')!;
  expect(credits[0]!.credits).toBe(original.ActionPublicId);
  expect(credits[0]!.Stage).not.toBe('Created');
  expect(invoices).toHaveLength(4);
}

/** Another sync of the same orders succeeds and commits nothing at Billecta: the same objects, no write. */
async function expectSecondSyncWritesNothing(dir: string, emu: BillectaEmulator): Promise<void> {
  const before = census(emu);
  const writes = emu.stats.committed;
  const second = await sync(dir);
  expect(second.code, second.stdout + second.stderr).toBe(0);
  expect(census(emu)).toEqual(before);
  expect(emu.stats.committed).toBe(writes);
}

/** `kontor run` as a child process; resolves once it logged `expect` (default: its webhook endpoint). */
async function startRun(dir: string, ready = /webhooks: listening on (http:\/\/[^"\s]+)/): Promise<{ url: string; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'run'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BILLECTA_USER: USER, BILLECTA_PASSWORD: PASSWORD, BILLECTA_WEBHOOK_SECRET: WEBHOOK_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kontor run did not get ready:\n${out}`)), 15_000);
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? '');
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`kontor run exited ${child.exitCode}:\n${out}`));
      } else setTimeout(check, 50);
    };
    check();
  });
  return { url, output: () => out };
}

describe('Billecta flow through kontor (sync --once)', () => {
  it('books debtor, products, invoices, attest and credit once; a second sync sends nothing new', async () => {
    const { dir, emu } = await project();
    const first = await sync(dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expectBooks(emu);
    for (const p of emu.payments()) expect(['CARD', 'KLARNA']).toContain(p.PaymentMeanCode);
    await expectSecondSyncWritesNothing(dir, emu);
    noPasswordOnDisk(dir);
  }, 40_000);

  it('a debtor and a product changed in Billecta are put right with PUTs that keep Billecta\'s own fields and send only the schema\'s', async () => {
    // What kontor creates for these orders, learnt from a first project.
    const learn = await project();
    expect((await sync(learn.dir)).code).toBe(0);
    const debtor = learn.emu.debtors()[0]!;
    const product = learn.emu.products().find((p) => p.BookKeepingAccount !== undefined)!;

    // Another Billecta already holds them, edited in its portal: another e-mail and account, a
    // note of its own, and a field its GET answers that is not in the published DebtorView.
    const { dir, emu } = await project();
    const post = async (path: string, body: Record<string, unknown>) => {
      const res = await fetch(`${emu.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
    };
    const { DebtorPublicId: _d, Created: _c, ...debtorFields } = debtor;
    await post('/v1/debtors/debtor', { ...debtorFields, Email: 'old@example.se', Notes: 'VIP customer', PortalTag: 'imported' });
    const { ProductPublicId: _p, ...productFields } = product;
    await post('/v1/products/product', { ...productFields, BookKeepingAccount: 3999, UnitPrice: 1.5, PortalTag: 'imported' });
    const seeded = emu.requests.length;
    for (const r of emu.requests) seededByTest.add(r);

    expect((await sync(dir)).code).toBe(0);
    const puts = emu.requests.slice(seeded).filter((r) => r.method === 'PUT' && !r.url.startsWith('/v1/invoice/attest/'));
    expect(puts.map((r) => `${r.url} ${r.status}`).sort()).toEqual(['/v1/debtors/debtor 200', '/v1/products/product 200']);
    for (const r of puts) expect(r.body).not.toHaveProperty('PortalTag');
    const stored = emu.debtors();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ Email: debtor.Email, Notes: 'VIP customer' });
    const corrected = emu.products().find((p) => p.ProductExternalId === product.ProductExternalId)!;
    // The accounts are kontor's; the unit price, a default only, stays Billecta's.
    expect(corrected).toMatchObject({ BookKeepingAccount: product.BookKeepingAccount, UnitPrice: 1.5 });
    expect(emu.products()).toHaveLength(learn.emu.products().length);
    // afterEach checks every body against Billecta's schemas.
  }, 40_000);

  it('a connection dropped after the invoice create commits, then 20 % errors: everything exactly once', async () => {
    const { dir, emu } = await project({ emulator: { random: mulberry32(7) } });
    // 1044 alone first: the debtor and the products (the derived orders share the fixture's lines)
    // exist, so the first write of the next sync is 1042's invoice create.
    const later = ['order-1.json', 'order-2.json'].map((f) => [f, readFileSync(path.join(dir, 'orders', f), 'utf8')] as const);
    for (const [f] of later) rmSync(path.join(dir, 'orders', f));
    expect((await sync(dir)).code).toBe(0);
    for (const [f, text] of later) writeFileSync(path.join(dir, 'orders', f), text);
    emu.faults = { dropAfterCommit: 1 };
    await sync(dir);
    expect(emu.requests.filter((q) => q.status === 'dropped').map((q) => `${q.method} ${q.url}`)).toEqual(['POST /v1/invoice/action']);
    emu.faults = { errorRate: 0.2 };
    for (let i = 0; i < 3; i++) if ((await sync(dir)).code === 0) break;
    emu.faults = {};
    const r = await sync(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectBooks(emu);
  }, 50_000);

  it('a payment whose answer was lost is found on the invoice\'s paid amount and not sent again', async () => {
    const { dir, emu } = await project();
    expect((await sync(dir)).code).toBe(0);
    const paymentsBefore = emu.payments().length;
    const paymentPosts = () => emu.requests.filter((q) => q.method === 'POST' && q.url === '/v1/invoice/payment').length;
    const postsBefore = paymentPosts();
    // Order 1044 is paid now: its payment is the next write, and its answer is lost after Billecta committed it.
    writeFileSync(path.join(dir, 'orders', 'order-3.json'), JSON.stringify(derivedShopifyOrder(2, 'paid'), null, 2));
    emu.faults = { dropAfterCommit: 1 };
    const lost = await sync(dir);
    expect(emu.requests.filter((q) => q.status === 'dropped').map((q) => `${q.method} ${q.url}`)).toEqual(['POST /v1/invoice/payment']);
    expect(lost.stdout + lost.stderr).toMatch(/in.doubt/i);
    emu.faults = {};
    // Not waiting for its backoff: the operator retries it now (it stays in doubt: looked up first).
    const list = JSON.parse((await kontor(dir, ['outbox', 'list', '--state', 'in_doubt', '--json'])).stdout) as { id: number }[];
    expect(list).toHaveLength(1);
    expect((await kontor(dir, ['outbox', 'retry', String(list[0]!.id)])).code).toBe(0);
    const again = await sync(dir);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/delivery: 1 documents? booked/);
    const events = JSON.parse((await kontor(dir, ['outbox', 'show', String(list[0]!.id), '--json'])).stdout) as { entry: { state: string } };
    expect(events.entry.state).toBe('delivered');
    // Sent once: found on the invoice, not sent again (not even to be refused as a duplicate).
    expect(paymentPosts()).toBe(postsBefore + 1);
    expect(emu.payments()).toHaveLength(paymentsBefore + 1);
    const paid = byRef(emu, '1044').filter((inv) => inv.ActionType === 'InvoiceAction');
    expect(paid).toHaveLength(1);
    expect(emu.payments().filter((p) => p.ActionPublicId === paid[0]!.ActionPublicId)).toHaveLength(1);
    expect(paid[0]!.paid).toBe(142960);
  }, 40_000);

  it('a burst of 500s in one kontor run never exceeds the configured failing-calls budget', async () => {
    // Basic auth: every call is a document's call (a 500 on apiauthenticate stalls the target, see the report).
    const { dir, emu } = await project({ auth: 'basic', emulator: { faults: { errorRate: 0.5 }, random: mulberry32(3) } });
    const run = await startRun(dir, /kontor running()/);
    const until = Date.now() + 8000;
    while (Date.now() < until && emu.stats.faults.failed < 3 * FAILING_BUDGET) await new Promise((r) => setTimeout(r, 100));
    expect(emu.stats.faults.failed).toBeGreaterThanOrEqual(FAILING_BUDGET);
    expect(emu.stats.maxFailingInWindow, JSON.stringify(emu.stats)).toBeLessThanOrEqual(FAILING_BUDGET);
    expect(run.output()).not.toContain(PASSWORD);
  }, 20_000);

  it('an expired token is renewed without failing the sync', async () => {
    const { dir, emu } = await project({ emulator: { tokenTtlMs: 150, faults: { latencyMs: 40 } } });
    const r = await sync(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(emu.stats.tokensIssued).toBeGreaterThan(1);
    expectBooks(emu);
  }, 40_000);

  it('paid_orders: verification (the shipped mapping): a collected order becomes a verification invoice on its clearing account, no payment sent', async () => {
    const { dir, emu } = await project({ paidOrders: 'verification' });
    const first = await sync(dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const c = expectCommon(emu);
    const v = byRef(emu, '1043');
    expect(v.map((i) => i.ActionType), JSON.stringify(c.invoices)).toEqual(['VerificationInvoiceAction']);
    expect(v[0]!.debitAccount).toBe('1580');
    expect(emu.invoices()).toHaveLength(2);
    expect(emu.payments()).toHaveLength(0);
    const writes = emu.stats.committed;
    expect((await sync(dir)).code).toBe(0);
    expect(emu.stats.committed).toBe(writes);
  }, 30_000);

  // Billecta cannot credit a verification invoice ("… is a VerificationInvoiceAction, which cannot
  // be credited"): the refund of a collected order (the SEK fixture, #SE1042) is a negative
  // verification invoice on the same clearing account [inferred], and its payment back sends nothing.
  it('paid_orders: verification: the refund of a collected order is a negative verification invoice, nothing goes dead', async () => {
    const { dir, emu } = await project({ paidOrders: 'verification', refunded: true });
    const first = await sync(dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout, first.stdout + first.stderr).toMatch(/delivery: 8 documents booked, 0 retrying, 0 in doubt, 0 dead/);
    const c = expectCommon(emu);
    const refunded = byRef(emu, '1042');
    expect(refunded.map((i) => i.ActionType), JSON.stringify(c.invoices)).toEqual(['VerificationInvoiceAction', 'VerificationInvoiceAction']);
    const [original, credit] = [...refunded].sort((a, b) => b.total - a.total);
    expect(original!.total).toBeGreaterThan(0);
    expect(credit!.total).toBeLessThan(0);
    expect(credit!.total).toBeGreaterThan(-original!.total);
    for (const v of refunded) {
      expect(v.debitAccount).toBe('1580');
      expect(v.Stage).toBe('Completed');
      expect(v.current).toBe(0);
    }
    expect(String(credit!.entry.ExternalReference)).toMatch(/credit-note/);
    expect(String(credit!.entry.Message)).toContain(`verification invoice ${String(original!.entry.OurReference)}`);
    expect(emu.invoices().filter((i) => i.ActionType === 'CreditInvoiceAction')).toHaveLength(0);
    expect(byRef(emu, '1043').map((i) => i.ActionType)).toEqual(['VerificationInvoiceAction']);
    expect(emu.invoices()).toHaveLength(4);
    expect(emu.payments()).toHaveLength(0);
    await expectSecondSyncWritesNothing(dir, emu);
  }, 40_000);

  it('a wrong password stops the target and creates nothing; the password is in no output', async () => {
    const { dir, emu } = await project();
    const r = await sync(dir, WRONG);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).not.toContain(WRONG);
    expect(r.stdout).toMatch(/delivery to billecta STOPPED/);
    expect(emu.stats.requests).toBe(1);
    expect(emu.stats.committed).toBe(0);
    expect(emu.debtors()).toHaveLength(0);
    expect(emu.invoices()).toHaveLength(0);
    noPasswordOnDisk(dir);
  }, 30_000);
});

describe('Billecta webhooks into kontor run', () => {
  it('InvoicePaymentReceived with the secret shows in status; without it is refused and nothing recorded', async () => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}/webhooks/billecta`;
    const { dir, emu } = await project({ webhookPort: port, emulator: { webhook: { url: endpoint, secret: WEBHOOK_SECRET } } });
    const synced = await sync(dir);
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    const run = await startRun(dir);
    expect(run.url).toContain(`:${port}`);
    const invoice = emu.invoices().find((i) => i.ActionType === 'InvoiceAction')!;
    type Status = { webhooks: { payments: { count: number; sumMinor: number }[]; events: unknown[] } };
    const status = async () => JSON.parse((await kontor(dir, ['status', '--json'])).stdout) as Status;
    const before = await status();

    // Without the secret, or with a wrong one: refused, nothing stored.
    const forged = (ref: string) => JSON.stringify({ EventType: 'InvoicePaymentReceived', Data: { PaymentReferenceId: ref, ActionPublicId: invoice.ActionPublicId, Amount: { CurrencyCode: 'SEK', Value: 100 } } });
    const none = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: forged('forged-1') });
    expect(none.status).toBeGreaterThanOrEqual(400);
    const wrong = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', 'x-webhook-secret': 'not-the-secret' }, body: forged('forged-2') });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect((await status()).webhooks).toEqual(before.webhooks);

    // The emulator posts InvoicePaymentReceived for the invoice, with the secret.
    const delivery = await emu.sendWebhook({
      type: 'InvoicePaymentReceived',
      data: { ActionPublicId: invoice.ActionPublicId, InvoiceNumber: invoice.InvoiceNumber, PaymentReferenceId: 'flow-payment-1', Amount: { CurrencyCode: 'SEK', Value: invoice.total }, PaymentDate: '2024-06-01', PaymentMeanCode: 'CARD' },
    });
    expect(delivery.delivered, JSON.stringify(delivery)).toBe(true);
    const after = await status();
    const received = after.webhooks.payments.reduce((n, p) => n + p.count, 0) - before.webhooks.payments.reduce((n, p) => n + p.count, 0);
    expect(received, JSON.stringify(after.webhooks)).toBe(1);
    expect(run.output()).not.toContain(WEBHOOK_SECRET);
    expect(run.output()).not.toContain(PASSWORD);
  }, 45_000);
});
