/**
 * The Billecta emulator (src/targets/billecta/emulator.ts) on loopback, driven with plain fetch
 * (not kontor's client) and with the request bodies kontor sends (billectaRequestsFor), built
 * from real documents as in targets.billecta.requests.test.ts: auth both ways and token expiry,
 * debtor and product upserts, invoice and attest, verification invoice, credit invoice,
 * payments with write-offs, UniqueApiCallId de-duplication, throttling, faults, webhooks and
 * `kontor sandbox billecta` as a process.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  buildCustomer,
  buildInvoice,
  creditInFull,
  openItemOf,
  settle,
  type BookDocument,
  type InvoiceDocument,
  type PaymentPurpose,
} from '../src/books/index.js';
import { startBillecta, type BillectaEmulator, type BillectaEmulatorOptions } from '../src/targets/billecta/emulator.js';
import { billectaRequestsFor, resolveBillectaPlaceholders, type BillectaPlaceholderKind, type BillectaRequest, type BillectaRequestOptions } from '../src/targets/billecta/requests.js';
import { runSandbox, startSandbox } from './targets-helpers.js';
import { CREDITOR, key, sales, sek } from './billecta-documents.js';

// ── documents (as in targets.billecta.requests.test.ts) ─────────────────────────────────

const USER = 'kontor-test';
const PASSWORD = 'Sesam, öppna dig';


const customer = (number = 'SH-123') =>
  buildCustomer({ key: key('customer', number), number, name: 'Anna Andersson', firstName: 'Anna', lastName: 'Andersson', email: 'anna@example.se', address: { street: 'Storgatan 1', zipcode: '11122', city: 'Stockholm', country: 'SE' } });
const invoice = (subject = '5001', number = '1001'): InvoiceDocument => buildInvoice(sales(subject, number));
const payKey = (subject: string) => (p: PaymentPurpose | string) => key('payment', subject, p);

const OPTIONS: BillectaRequestOptions = { creditorPublicId: CREDITOR, deliveryMethod: 'Email', paymentMeanCodes: { '1580': 'CARD', '1581': 'KLARNA' } };

// ── a tiny client: what kontor's client does, with fetch ─────────────────────────────────

const basic = (user = USER, password = PASSWORD) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const secureToken = (token: string) => `SecureToken ${Buffer.from(token, 'utf8').toString('base64')}`;

interface Reply {
  status: number;
  body: unknown;
  headers: Headers;
}

async function call(emu: BillectaEmulator, method: string, path: string, options: { body?: unknown; auth?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.auth !== null) headers.authorization = options.auth ?? basic();
  if (options.body !== undefined && options.body !== null) headers['content-type'] = 'application/json';
  const reply = await fetch(`${emu.url}${path}`, { method, headers, body: options.body === undefined || options.body === null ? undefined : JSON.stringify(options.body) });
  const text = await reply.text();
  return { status: reply.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: reply.headers };
}

/**
 * Delivers one document as kontor's client would: placeholders resolved from ids learned so
 * far, a lookup answering 404 followed by its create, a lookup that found one skipping it.
 */
async function deliver(emu: BillectaEmulator, ids: Map<string, string>, doc: BookDocument, options: Partial<BillectaRequestOptions> = {}): Promise<Reply[]> {
  const idOf = (kind: BillectaPlaceholderKind, k: string) => {
    const id = ids.get(`${kind}:${k}`);
    if (id === undefined) throw new Error(`no id yet for ${kind}:${k}`);
    return id;
  };
  const replies: Reply[] = [];
  let skipNext = false;
  let lookedUp: string | null = null;
  for (const raw of billectaRequestsFor(doc, { ...OPTIONS, ...options })) {
    const isCreate = raw.method === 'POST' && (raw.path === '/v1/debtors/debtor' || raw.path === '/v1/products/product');
    if (skipNext && isCreate) {
      skipNext = false;
      continue;
    }
    skipNext = false;
    const request: BillectaRequest = resolveBillectaPlaceholders(raw, idOf);
    const reply = await call(emu, request.method, request.path, { body: request.body, ...(request.headers ? { headers: { ...request.headers } } : {}) });
    replies.push(reply);
    const found = reply.body as Record<string, unknown> | null;
    if (request.method === 'GET') {
      const externalId = new URL(request.path, 'http://x').searchParams.get('externalid')!;
      const kind = request.path.includes('/debtors/') ? 'debtor' : 'product';
      lookedUp = `${kind}:${externalId}`;
      if (reply.status === 200) {
        ids.set(lookedUp, String(found![kind === 'debtor' ? 'DebtorPublicId' : 'ProductPublicId']));
        skipNext = true;
      } else {
        expect(reply.status).toBe(404);
      }
      continue;
    }
    expect(reply.status, `${request.method} ${request.path}: ${JSON.stringify(reply.body)}`).toBe(200);
    if (request.path === '/v1/debtors/debtor' || request.path === '/v1/products/product') ids.set(lookedUp!, String(found!.PublicId));
    if (request.path === '/v1/invoice/action' || request.path === '/v1/invoice/verificationinvoice') ids.set(`action:${'number' in doc ? doc.number : ''}`, String(found!.PublicId));
  }
  return replies;
}

// ── a webhook receiver ───────────────────────────────────────────────────────────────────

interface Received {
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

async function receiver(status = 200): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/billecta`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ── setup ────────────────────────────────────────────────────────────────────────────────

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function emulator(options: BillectaEmulatorOptions = {}): Promise<BillectaEmulator> {
  const emu = await startBillecta({ user: USER, password: PASSWORD, creditors: [{ CreditorPublicId: CREDITOR }], ...options });
  cleanups.push(() => emu.close());
  return emu;
}

// ── tests ────────────────────────────────────────────────────────────────────────────────

describe('Billecta emulator: authentication', () => {
  it('takes Basic on every call, and a SecureToken sent base64-encoded; a new token revokes the old one', async () => {
    const emu = await emulator();
    expect((await call(emu, 'GET', '/v1/currencies/currencies')).status).toBe(200);
    const issued = await call(emu, 'POST', '/v1/authentication/apiauthenticate');
    expect(issued.status).toBe(200);
    const { Value: token, Expires } = issued.body as { Value: string; Expires: string };
    expect(Date.parse(Expires)).toBeGreaterThan(Date.now());
    expect((await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: secureToken(token) })).status).toBe(200);
    // The token itself, not base64 of it, is refused: the double encoding is the rule.
    expect((await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: `SecureToken ${token}` })).status).toBe(401);
    expect((await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: basic(USER, 'wrong') })).status).toBe(401);
    const none = await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: null });
    expect([none.status, none.headers.get('errormessage')]).toEqual([401, expect.stringContaining('Authorization required')]);
    // A creditor the user does not have: 401 [docs].
    expect((await call(emu, 'GET', '/v1/debtors/debtors/00000000-0000-4000-8000-000000000000')).status).toBe(401);

    const second = (await call(emu, 'POST', '/v1/authentication/apiauthenticate')).body as { Value: string };
    expect(second.Value).not.toBe(token);
    expect((await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: secureToken(token) })).status).toBe(401);
    expect((await call(emu, 'GET', `/v1/debtors/debtors/${CREDITOR}`, { auth: secureToken(second.Value) })).status).toBe(200);
    expect(emu.stats.tokensIssued).toBe(2);
    expect(emu.requests.every((r) => !JSON.stringify(r).includes(PASSWORD))).toBe(true);
  });

  it('expires a token after tokenTtlMs (401), and a re-authentication gives a working one', async () => {
    let clock = Date.parse('2024-05-02T08:00:00Z');
    const emu = await emulator({ tokenTtlMs: 60_000, now: () => clock });
    const first = (await call(emu, 'POST', '/v1/authentication/apiauthenticate')).body as { Value: string; Expires: string };
    expect(first.Expires).toBe('2024-05-02T08:01:00.000Z');
    expect((await call(emu, 'GET', '/v1/currencies/currencies', { auth: secureToken(first.Value) })).status).toBe(200);
    clock += 60_000;
    const expired = await call(emu, 'GET', '/v1/currencies/currencies', { auth: secureToken(first.Value) });
    expect([expired.status, expired.headers.get('errormessage')]).toEqual([401, 'the SecureToken has expired']);
    const again = (await call(emu, 'POST', '/v1/authentication/apiauthenticate')).body as { Value: string };
    expect((await call(emu, 'GET', '/v1/currencies/currencies', { auth: secureToken(again.Value) })).status).toBe(200);
  });

  it('lists currencies with their decimals', async () => {
    const emu = await emulator();
    const currencies = (await call(emu, 'GET', '/v1/currencies/currencies')).body as { CurrencyCode: string; Decimals: number; OneUnit: number }[];
    expect(currencies.find((c) => c.CurrencyCode === 'SEK')).toMatchObject({ Decimals: 2, OneUnit: 100 });
    expect(currencies.find((c) => c.CurrencyCode === 'JPY')).toMatchObject({ Decimals: 0, OneUnit: 1 });
  });
});

describe('Billecta emulator: debtors and products', () => {
  it('creates a debtor after a lookup that finds none, then finds it; a PUT updates it', async () => {
    const emu = await emulator();
    const ids = new Map<string, string>();
    const replies = await deliver(emu, ids, customer());
    expect(replies.map((r) => r.status)).toEqual([404, 200]);
    const id = ids.get('debtor:SH-123')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const found = await call(emu, 'GET', `/v1/debtors/debtorbyexternalid/${CREDITOR}?externalid=SH-123`);
    expect(found.body).toMatchObject({ DebtorPublicId: id, CreditorPublicId: CREDITOR, DebtorExternalId: 'SH-123', Name: 'Anna Andersson', DebtorType: 'Private' });
    // Delivered again: the lookup finds it, nothing is created.
    expect((await deliver(emu, ids, customer())).map((r) => r.status)).toEqual([200]);
    const put = await call(emu, 'PUT', '/v1/debtors/debtor', { body: { ...(found.body as object), City: 'Uppsala' } });
    expect([put.status, put.body]).toEqual([200, { PublicId: id }]);
    expect(emu.debtors()).toEqual([expect.objectContaining({ DebtorPublicId: id, City: 'Uppsala' })]);
  });

  it('answers 400 when two debtors share a DebtorExternalId, and 500 for an unknown enum name', async () => {
    const emu = await emulator();
    for (let i = 0; i < 2; i++) expect((await call(emu, 'POST', '/v1/debtors/debtor', { body: { CreditorPublicId: CREDITOR, DebtorExternalId: 'DUP', Name: `Dup ${i}` } })).status).toBe(200);
    const lookup = await call(emu, 'GET', `/v1/debtors/debtorbyexternalid/${CREDITOR}?externalid=DUP`);
    expect(lookup.status).toBe(400);
    expect(lookup.body).toEqual({ Message: expect.stringContaining('share it') });
    expect((await call(emu, 'POST', '/v1/debtors/debtor', { body: { CreditorPublicId: CREDITOR, DebtorType: 'Person' } })).status).toBe(500);
  });

  it('answers an empty view instead of 404 with notFound: empty', async () => {
    const emu = await emulator({ notFound: 'empty' });
    const reply = await call(emu, 'GET', `/v1/products/productbyexternalid/${CREDITOR}?externalid=NOPE`);
    expect([reply.status, reply.body]).toEqual([200, { ProductPublicId: null, CreditorPublicId: CREDITOR, ProductExternalId: null }]);
  });
});

describe('Billecta emulator: invoices, credits and payments', () => {
  it('creates products and the draft, attests it, and keeps the balance of the invoice', async () => {
    const emu = await emulator();
    const ids = new Map<string, string>();
    await deliver(emu, ids, customer());
    const doc = invoice();
    const replies = await deliver(emu, ids, doc);
    expect(replies.map((r) => r.status)).toEqual([404, 200, 404, 200, 404, 200, 404, 200, 200, 200]);
    expect(emu.products().map((p) => [p.ProductExternalId, p.UnitPrice, p.VAT, p.BookKeepingAccount])).toEqual([
      ['TSH-BLU-M', 159.2, 25, 3001],
      ['KAFFE-500', 89.29, 12, 3002],
      ['FRAKT-standard', 39.2, 25, 3520],
      ['RABATT-standard', -20, 25, 3730],
    ]);
    const action = ids.get('action:1001')!;
    expect(action).toMatch(/^\d{10}$/);
    expect(emu.totals()[action]).toEqual({ ActionType: 'InvoiceAction', InvoiceNumber: expect.any(String), ExternalReference: 'shopify/5001/invoice/1', currency: 'SEK', stage: 'InvoiceSent', total: doc.total, paid: 0, credited: 0, writtenOff: 0, current: doc.total });
    const view = (await call(emu, 'GET', `/v1/invoice/action/${action}`)).body as Record<string, unknown>;
    expect(view).toMatchObject({ ActionPublicId: action, State: { Stage: 'InvoiceSent', IsLocked: true }, InvoicedAmount: { CurrencyCode: 'SEK', Value: doc.total, ValueForView: 522 }, ExternalReference: 'shopify/5001/invoice/1', YourReference: '1001' });
    expect(emu.invoiceByExternalReference('shopify/5001/invoice/1')!.ActionPublicId).toBe(action);
    // The emulator-only lookup by ExternalReference.
    const listed = (await (await fetch(`${emu.url}/_control/invoices?externalReference=${encodeURIComponent('shopify/5001/invoice/1')}`)).json()) as { ActionPublicId: string }[];
    expect(listed.map((i) => i.ActionPublicId)).toEqual([action]);
    // Attesting twice is refused.
    expect((await call(emu, 'PUT', `/v1/invoice/attest/${action}`)).status).toBe(400);
  });

  it('books a collected order as a verification invoice, closed on creation', async () => {
    const emu = await emulator();
    const ids = new Map<string, string>();
    await deliver(emu, ids, customer());
    const doc = invoice();
    await deliver(emu, ids, doc, { paidOrders: 'verification', collected: new Map([['1001', '1580']]) });
    const stored = emu.invoices();
    expect(stored).toEqual([expect.objectContaining({ ActionType: 'VerificationInvoiceAction', Stage: 'Completed', debitAccount: '1580', total: doc.total, current: 0 })]);
  });

  it('credits an invoice with a credit invoice, and pays the open credit out', async () => {
    const hook = await receiver();
    cleanups.push(hook.close);
    const emu = await emulator({ webhook: { url: hook.url, secret: 'a-webhook-secret-of-some-length' } });
    const ids = new Map<string, string>();
    await deliver(emu, ids, customer());
    const doc = invoice();
    await deliver(emu, ids, doc);
    // Paid in full first, so the credit stays open on the credit invoice and is paid out.
    const [paid] = settle({ item: openItemOf(doc, []), date: '2024-05-10', received: doc.total, clearingAccount: '1580', key: payKey('5001') });
    await deliver(emu, ids, paid!);
    const credit = creditInFull(doc, { key: key('credit-note', '5001', 'r1'), number: '1001-K1', date: '2024-05-20' });
    await deliver(emu, ids, credit);
    const original = ids.get('action:1001')!;
    const creditId = ids.get('action:1001-K1')!;
    expect(emu.totals()[original]).toMatchObject({ stage: 'Completed', paid: doc.total, credited: 0, current: 0 });
    expect(emu.totals()[creditId]).toMatchObject({ ActionType: 'CreditInvoiceAction', stage: 'InvoiceSent', total: -doc.total, current: -doc.total });
    const [refund] = settle({ item: openItemOf(credit, []), date: '2024-05-20', received: credit.total, clearingAccount: '1581', reference: 'r1', memo: 'Refund r1', key: payKey('5001-r1') });
    await deliver(emu, ids, refund!);
    expect(emu.totals()[creditId]).toMatchObject({ stage: 'Completed', paid: -doc.total, current: 0 });
    const view = (await call(emu, 'GET', `/v1/invoice/action/${creditId}`)).body as Record<string, unknown>;
    expect(view.CreditingInvoice).toEqual({ SourcePublicId: original, SourceInvoiceId: expect.any(String) });
  });

  it('applies a credit invoice to what is still open on the original', async () => {
    const hook = await receiver();
    cleanups.push(hook.close);
    const emu = await emulator({ webhook: { url: hook.url, secret: 'a-webhook-secret-of-some-length' } });
    const ids = new Map<string, string>();
    await deliver(emu, ids, customer());
    const doc = invoice();
    await deliver(emu, ids, doc);
    await deliver(emu, ids, creditInFull(doc, { key: key('credit-note', '5001', 'r1'), number: '1001-K1', date: '2024-05-20' }));
    expect(emu.totals()[ids.get('action:1001')!]).toMatchObject({ stage: 'Completed', credited: doc.total, current: 0 });
    expect(emu.totals()[ids.get('action:1001-K1')!]).toMatchObject({ stage: 'Completed', credited: -doc.total, current: 0 });
    await emu.webhooksSettled();
    expect(hook.received.map((r) => r.body.EventType)).toEqual(['AmountCreditedOnInvoice', 'InvoiceActionPaid']);
    expect(hook.received[0]!.body.Data).toMatchObject({ ActionPublicId: ids.get('action:1001'), Amount: { CurrencyCode: 'SEK', Value: doc.total } });
  });

  it('registers a payment and its write-offs, and sends the webhooks with the secret header', async () => {
    const hook = await receiver();
    cleanups.push(hook.close);
    const emu = await emulator({ webhook: { url: hook.url, secret: 'a-webhook-secret-of-some-length' }, paymentMeanCodes: ['CARD', 'KLARNA'] });
    const ids = new Map<string, string>();
    await deliver(emu, ids, customer());
    const doc = invoice();
    await deliver(emu, ids, doc);
    const action = ids.get('action:1001')!;
    const docs = settle({
      item: openItemOf(doc, []),
      date: '2024-05-10',
      received: sek('516.00'),
      clearingAccount: '1580',
      reference: 'ch_3P1',
      memo: 'shopify_payments',
      fee: { amount: sek('5.00'), account: '6570' },
      writeOff: { account: '3740', tolerance: sek('1.00') },
      key: payKey('5001'),
    });
    const [payment, fee, reduction] = docs;
    await deliver(emu, ids, payment!);
    expect(emu.totals()[action]).toMatchObject({ paid: sek('516.00'), current: sek('6.00'), stage: 'InvoiceSent' });
    await deliver(emu, ids, fee!);
    await deliver(emu, ids, reduction!);
    expect(emu.totals()[action]).toMatchObject({ paid: sek('516.00'), writtenOff: sek('6.00'), current: 0, stage: 'Completed' });
    expect(emu.payments().map((p) => [p.amount, p.writeOff, p.PaymentMeanCode, p.OverrideWriteOffAccount])).toEqual([
      [sek('516.00'), 0, 'CARD', null],
      [0, sek('5.00'), null, '6570'],
      [0, sek('1.00'), null, '3740'],
    ]);
    await emu.webhooksSettled();
    expect(hook.received.map((r) => r.body.EventType)).toEqual(['InvoicePaymentReceived', 'AmountWrittenOffOnInvoice', 'AmountWrittenOffOnInvoice', 'InvoiceActionPaid']);
    expect(hook.received.every((r) => r.headers['x-webhook-secret'] === 'a-webhook-secret-of-some-length')).toBe(true);
    const received = hook.received[0]!.body;
    expect(received.Data).toMatchObject({
      CreditorPublicId: CREDITOR,
      ActionPublicId: action,
      ActionType: 'InvoiceAction',
      Amount: { CurrencyCode: 'SEK', Value: 51600, ValueForView: 516 },
      PaymentMeanCode: 'CARD',
      PaymentReferenceId: emu.payments()[0]!.PaymentReferenceId,
      ExternalReference: 'shopify/5001/invoice/1',
      IsReminderPayment: false,
    });
    expect(hook.received[3]!.body.Data).toMatchObject({ ActionPublicId: action, State: { Stage: 'Completed' }, CurrentAmount: { Value: 0 } });
    expect(emu.webhooks().every((d) => d.delivered && d.attempts === 1)).toBe(true);

    // More than is open, an unknown payment mean, a draft: 400, nothing registered.
    const more = await call(emu, 'POST', '/v1/invoice/payment', { body: { ActionPublicId: action, Amount: { CurrencyCode: 'SEK', Value: 100 }, PaymentMeanCode: 'CARD', Date: '2024-05-11T00:00:00', OvershootingAmountHandling: 'None' } });
    expect(more.status).toBe(400);
    const mean = await call(emu, 'POST', '/v1/invoice/payment', { body: { ActionPublicId: action, Amount: { CurrencyCode: 'SEK', Value: 100 }, PaymentMeanCode: 'BG', Date: '2024-05-11T00:00:00' } });
    expect(mean.status).toBe(400);
    expect(emu.payments()).toHaveLength(3);
  });

  it('sends an event on request, and records a failed delivery', async () => {
    const hook = await receiver(500);
    cleanups.push(hook.close);
    const emu = await emulator({ webhook: { url: hook.url, secret: 's3cret-s3cret-s3cret', header: 'Authorization', retries: 1, retryDelayMs: 10 } });
    const delivery = await emu.sendWebhook({ type: 'SomethingNew', data: { x: 1 } });
    expect(delivery).toMatchObject({ type: 'SomethingNew', attempts: 2, status: 500, delivered: false });
    expect(hook.received).toHaveLength(2);
    expect(hook.received[0]!.headers.authorization).toBe('s3cret-s3cret-s3cret');
    expect(hook.received[0]!.body).toEqual({ EventType: 'SomethingNew', Data: { x: 1 }, AdditionalData: null });
    expect(emu.stats.webhooks).toEqual({ sent: 1, delivered: 0, failed: 1 });
  });
});

describe('Billecta emulator: UniqueApiCallId, throttling and faults', () => {
  it('refuses a repeated UniqueApiCallId with 403 and an ISO-8859-1 ErrorMessage, and creates nothing twice', async () => {
    const emu = await emulator();
    const [, create] = billectaRequestsFor(customer(), OPTIONS);
    const first = await call(emu, 'POST', create!.path, { body: create!.body, headers: { ...create!.headers } });
    expect(first.status).toBe(200);
    const again = await call(emu, 'POST', create!.path, { body: create!.body, headers: { ...create!.headers } });
    expect(again.status).toBe(403);
    const header = again.headers.get('errormessage')!;
    // fetch hands header bytes over one character per byte: ISO-8859-1 text reads as is.
    expect(header).toContain('already');
    expect(header).toContain('är redan utfört');
    expect(again.body).toEqual({ Message: header });
    expect(emu.debtors()).toHaveLength(1);
    expect(emu.stats.duplicates).toBe(1);
    // An id longer than 50 characters is invalid: 403 as well.
    expect((await call(emu, 'POST', create!.path, { body: create!.body, headers: { UniqueApiCallId: 'x'.repeat(51) } })).status).toBe(403);
    // A call refused with 400 does not use its id up.
    const refused = await call(emu, 'POST', '/v1/debtors/debtor', { body: { CreditorPublicId: CREDITOR, Name: 42 }, headers: { UniqueApiCallId: 'retry-me' } });
    expect(refused.status).toBe(400);
    expect((await call(emu, 'POST', '/v1/debtors/debtor', { body: { CreditorPublicId: CREDITOR, Name: 'Ok' }, headers: { UniqueApiCallId: 'retry-me' } })).status).toBe(200);
  });

  it('answers 429 once 50 calls failed within 60 s, not counting 404s, until the window has passed', async () => {
    let clock = Date.parse('2024-05-02T08:00:00Z');
    const emu = await emulator({ now: () => clock });
    for (let i = 0; i < 10; i++) expect((await call(emu, 'GET', `/v1/products/productbyexternalid/${CREDITOR}?externalid=none`)).status).toBe(404);
    for (let i = 0; i < 50; i++) {
      expect((await call(emu, 'GET', '/v1/currencies/currencies', { auth: basic(USER, 'wrong') })).status).toBe(401);
      clock += 100;
    }
    const throttled = await call(emu, 'GET', '/v1/currencies/currencies');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBe(55);
    expect(emu.stats).toMatchObject({ failingCalls: 50, maxFailingInWindow: 50, throttled: 1 });
    clock += 54_000;
    expect((await call(emu, 'GET', '/v1/currencies/currencies')).status).toBe(429);
    clock += 1_000;
    expect((await call(emu, 'GET', '/v1/currencies/currencies')).status).toBe(200);
    expect(emu.stats.maxFailingInWindow).toBeLessThanOrEqual(50);
  });

  it('holds the per-endpoint limit of GET /v1/invoice/action/{id}: 100 per 10 s', async () => {
    let clock = Date.parse('2024-05-02T08:00:00Z');
    const emu = await emulator({ now: () => clock });
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) statuses.push((await call(emu, 'GET', '/v1/invoice/action/1234567890')).status);
    expect(statuses.slice(0, 100).every((s) => s === 404)).toBe(true);
    expect(statuses[100]).toBe(429);
    clock += 10_000;
    expect((await call(emu, 'GET', '/v1/invoice/action/1234567890')).status).toBe(404);
  });

  it('drops the connection after the commit: the object exists, and the retry with the same id is refused as done', async () => {
    const emu = await emulator({ faults: { dropAfterCommit: 1 } });
    const [lookup, create] = billectaRequestsFor(customer(), OPTIONS);
    await expect(call(emu, 'POST', create!.path, { body: create!.body, headers: { ...create!.headers } })).rejects.toThrow();
    expect(emu.debtors()).toHaveLength(1);
    expect(emu.requests.at(-1)).toMatchObject({ status: 'dropped', fault: 'drop' });
    expect((await call(emu, 'POST', create!.path, { body: create!.body, headers: { ...create!.headers } })).status).toBe(403);
    const found = await call(emu, 'GET', lookup!.path);
    expect(found.body).toMatchObject({ DebtorPublicId: emu.debtors()[0]!.DebtorPublicId });
    expect(emu.debtors()).toHaveLength(1);
  });

  it('latency from arrival: a write is booked at once, and answered latencyMs after it arrived', async () => {
    const emu = await emulator({ latencyFrom: 'arrival', faults: { latencyMs: 1000 } });
    const [, create] = billectaRequestsFor(customer(), OPTIONS);
    const started = performance.now();
    let answered = false;
    const reply = call(emu, 'POST', create!.path, { body: create!.body, headers: { ...create!.headers } }).then((r) => {
      answered = true;
      return r;
    });
    await vi.waitFor(() => expect(emu.debtors()).toHaveLength(1), { timeout: 900, interval: 5 });
    expect(answered).toBe(false);
    expect((await reply).status).toBeLessThan(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(999);
    expect(emu.stats.faults.delayed).toBe(1);
  });

  it('injects latency and errors, changeable over /_control/faults, and counts concurrency', async () => {
    const emu = await emulator();
    const set = await fetch(`${emu.url}/_control/faults`, { method: 'POST', body: JSON.stringify({ errorRate: 1 }) });
    expect(set.status).toBe(200);
    expect((await call(emu, 'GET', '/v1/currencies/currencies')).status).toBe(500);
    emu.faults = { latencyMs: 50 };
    const replies = await Promise.all([1, 2, 3].map(() => call(emu, 'GET', '/v1/currencies/currencies')));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(emu.stats.maxConcurrent).toBe(3);
    expect(emu.stats.faults).toMatchObject({ failed: 1, delayed: 3 });
    expect((await fetch(`${emu.url}/_control/faults`, { method: 'POST', body: JSON.stringify({ nonsense: 1 }) })).status).toBe(400);
  });
});

describe('kontor sandbox billecta', () => {
  it('runs in the foreground, prints URL and credentials, serves requests, and stops on SIGINT', async () => {
    const sandbox = await startSandbox(['billecta', '--port', '0', '--password', 'p4ssw0rd-sandbox'], /^faults:/m);
    try {
      const stdout = sandbox.stdout();
      const url = /^url:\s+(\S+)/m.exec(stdout)![1]!;
      const creditor = /^creditor:\s+(\S+)/m.exec(stdout)![1]!;
      const user = /^user:\s+(\S+)/m.exec(stdout)![1]!;
      const password = /^password:\s+(\S+)/m.exec(stdout)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect([user, password]).toEqual(['sandbox', 'p4ssw0rd-sandbox']);
      const reply = await fetch(`${url}/v1/debtors/debtors/${creditor}`, { headers: { authorization: basic(user, password), accept: 'application/json' } });
      expect([reply.status, await reply.json()]).toEqual([200, []]);
    } finally {
      sandbox.child.kill('SIGINT');
    }
    expect(await sandbox.exited).toBe(0);
    expect(sandbox.stdout()).toMatch(/sandbox stopped after 1 request\(s\)/);
    expect(sandbox.stderr()).toContain(`GET /v1/debtors/debtors/`);
    expect(sandbox.stderr()).not.toContain('p4ssw0rd-sandbox');
  });

  it('refuses --webhook without --webhook-secret (exit 2)', async () => {
    const result = await runSandbox(['billecta', '--port', '0', '--webhook', 'http://127.0.0.1:9/x']);
    expect(result).toEqual({ code: 2, stderr: expect.stringContaining('--webhook and --webhook-secret go together') });
  });
});
