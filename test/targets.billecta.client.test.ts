/**
 * The Billecta client and target (src/targets/billecta/client.ts, target.ts) against msw
 * handlers: authentication (SecureToken cache, 401 recovery, Basic), error text (the
 * ErrorMessage header in ISO-8859-1), idempotency (UniqueApiCallId, 403 "already done", a
 * timed-out create), the failing-calls budget, placeholder resolution, and redaction.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  buildCustomer,
  buildInvoice,
  creditInFull,
  parseDecimal,
  vatRate,
  type Article,
  type CustomerDocument,
  type DocumentKey,
  type DocumentKind,
  type InvoiceDocument,
  type LineInput,
  type Minor,
  type VatTreatment,
} from '../src/books/index.js';
import { CredentialError, PermanentError, RetriableError, stopsTarget } from '../src/errors.js';
import {
  BillectaClient,
  BillectaCredentialError,
  BillectaRejectedError,
  BillectaThrottledError,
  decodeErrorMessage,
  type BillectaClientOptions,
} from '../src/targets/billecta/client.js';
import { BillectaTarget } from '../src/targets/billecta/target.js';

const BASE = 'https://apitest.billecta.com';
const CREDITOR = '3f0c2a1e-0000-4000-8000-000000000001';
const USER = 'api-user@shop.se';
const PASSWORD = 'hemligt-Lösen-9f8e7d';
const TOKEN = 'tok-5b1c9d2e-aaaa-bbbb-cccc-123456789abc';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

// ── a small Billecta behind msw ──────────────────────────────────────────────────────────

interface Call {
  method: string;
  path: string;
  authorization: string | null;
  callId: string | null;
  body: unknown;
}

class FakeBillecta {
  calls: Call[] = [];
  tokensIssued = 0;
  /** Tokens Billecta accepts; emptying it makes every SecureToken call a 401. */
  validTokens = new Set<string>();
  /** What apiauthenticate answers: Expires. */
  expires = '2099-01-01T00:00:00Z';
  refuseLogin = false;
  debtors = new Map<string, Record<string, unknown>>();
  products = new Map<string, Record<string, unknown>>();
  actions = new Map<string, Record<string, unknown>>();
  seenCallIds = new Set<string>();
  private next = 1;

  id(prefix: string): string {
    const n = String(this.next++).padStart(12, '0');
    return prefix === 'action' ? `75457690${String(this.next).padStart(2, '0')}` : `0a3ee027-f1ec-4049-bec1-${n}`;
  }

  writes(path: string): Call[] {
    return this.calls.filter((c) => c.method !== 'GET' && c.path === path);
  }

  handlers() {
    const log = async (request: Request): Promise<Call> => {
      const url = new URL(request.url);
      const text = await request.text();
      const call: Call = {
        method: request.method,
        path: url.pathname + url.search,
        authorization: request.headers.get('authorization'),
        callId: request.headers.get('uniqueapicallid'),
        body: text ? (JSON.parse(text) as unknown) : null,
      };
      this.calls.push(call);
      return call;
    };
    /** Checks auth; a repeated UniqueApiCallId is a 403. */
    const gate = (call: Call): Response | null => {
      const auth = call.authorization ?? '';
      const ok = auth === `Basic ${b64(`${USER}:${PASSWORD}`)}` || [...this.validTokens].some((t) => auth === `SecureToken ${b64(t)}`);
      if (!ok) return new HttpResponse(null, { status: 401 });
      if (call.callId && call.method !== 'GET') {
        if (this.seenCallIds.has(call.callId)) return new HttpResponse(null, { status: 403, headers: { ErrorMessage: 'UniqueApiCallId används redan' } });
        this.seenCallIds.add(call.callId);
      }
      return null;
    };
    const created = (id: string) => HttpResponse.json({ PublicId: id }, { status: 201 });
    return [
      http.post(`${BASE}/v1/authentication/apiauthenticate`, async ({ request }) => {
        const call = await log(request);
        if (this.refuseLogin || call.authorization !== `Basic ${b64(`${USER}:${PASSWORD}`)}`) return new HttpResponse(null, { status: 401 });
        this.tokensIssued++;
        const token = `${TOKEN}-${this.tokensIssued}`;
        this.validTokens.add(token);
        return HttpResponse.json({ Value: token, Expires: this.expires });
      }),
      http.get(`${BASE}/v1/currencies/currencies`, async ({ request }) => {
        const denied = gate(await log(request));
        return denied ?? HttpResponse.json([{ CurrencyCode: 'SEK', Iso4217: 'SEK', Description: 'Svenska kronor', Decimals: 2, OneUnit: 100 }]);
      }),
      http.get(`${BASE}/v1/debtors/debtorbyexternalid/:creditor`, async ({ request }) => {
        const denied = gate(await log(request));
        if (denied) return denied;
        const found = this.debtors.get(new URL(request.url).searchParams.get('externalid') ?? '');
        return found ? HttpResponse.json(found) : new HttpResponse(null, { status: 404 });
      }),
      http.post(`${BASE}/v1/debtors/debtor`, async ({ request }) => {
        const call = await log(request);
        const denied = gate(call);
        if (denied) return denied;
        const id = this.id('debtor');
        const body = call.body as Record<string, unknown>;
        this.debtors.set(String(body.DebtorExternalId), { ...body, DebtorPublicId: id });
        return created(id);
      }),
      http.put(`${BASE}/v1/debtors/debtor`, async ({ request }) => {
        const call = await log(request);
        const denied = gate(call);
        if (denied) return denied;
        const body = call.body as Record<string, unknown>;
        this.debtors.set(String(body.DebtorExternalId), body);
        return new HttpResponse(null, { status: 204 });
      }),
      http.get(`${BASE}/v1/products/productbyexternalid/:creditor`, async ({ request }) => {
        const denied = gate(await log(request));
        if (denied) return denied;
        const found = this.products.get(new URL(request.url).searchParams.get('externalid') ?? '');
        // Not found as the WooCommerce plugin saw it: 200 with an empty ProductPublicId.
        return HttpResponse.json(found ?? { ProductPublicId: null });
      }),
      http.post(`${BASE}/v1/products/product`, async ({ request }) => {
        const call = await log(request);
        const denied = gate(call);
        if (denied) return denied;
        const id = this.id('product');
        const body = call.body as Record<string, unknown>;
        this.products.set(String(body.ProductExternalId), { ...body, ProductPublicId: id });
        return created(id);
      }),
      http.post(`${BASE}/v1/invoice/action`, async ({ request }) => {
        const call = await log(request);
        const denied = gate(call);
        if (denied) return denied;
        const id = this.id('action');
        this.actions.set(id, { ...(call.body as Record<string, unknown>), ActionPublicId: id, State: { Stage: 'Created' } });
        return created(id);
      }),
      http.get(`${BASE}/v1/invoice/action/:id`, async ({ request, params }) => {
        const denied = gate(await log(request));
        if (denied) return denied;
        const found = this.actions.get(String(params.id));
        return found ? HttpResponse.json(found) : new HttpResponse(null, { status: 404 });
      }),
      http.put(`${BASE}/v1/invoice/attest/:id`, async ({ request, params }) => {
        const denied = gate(await log(request));
        if (denied) return denied;
        const found = this.actions.get(String(params.id));
        if (!found) return new HttpResponse(null, { status: 404 });
        found.State = { Stage: 'Attested' };
        return new HttpResponse(null, { status: 204 });
      }),
      http.get(`${BASE}/v1/invoice/open/:creditor`, async ({ request }) => {
        const denied = gate(await log(request));
        if (denied) return denied;
        return HttpResponse.json(
          [...this.actions.values()].map((a) => ({ ActionPublicId: a.ActionPublicId, ActionType: a.ActionType, YourReference: a.YourReference, Stage: (a.State as { Stage: string }).Stage })),
        );
      }),
      http.get(`${BASE}/v1/invoice/closed/:creditor`, async ({ request }) => {
        const denied = gate(await log(request));
        return denied ?? HttpResponse.json([]);
      }),
      http.post(`${BASE}/v1/invoice/payment`, async ({ request }) => {
        const denied = gate(await log(request));
        return denied ?? new HttpResponse(null, { status: 204 });
      }),
    ];
  }
}

const fake = new FakeBillecta();
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
beforeEach(() => {
  Object.assign(fake, new FakeBillecta());
  server.resetHandlers(...fake.handlers());
});
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

let clock = Date.parse('2024-05-02T10:00:00Z');
const logLines: string[] = [];
const log = { error: (m: string) => logLines.push(m), warn: (m: string) => logLines.push(m), info: (m: string) => logLines.push(m), debug: (m: string) => logLines.push(m) };

function client(options: Partial<BillectaClientOptions> = {}): BillectaClient {
  return new BillectaClient({
    name: 'billecta',
    baseUrl: BASE,
    username: USER,
    password: PASSWORD,
    log,
    now: () => clock,
    requestsPerSecond: 1_000,
    ...options,
    http: { transport: 'fetch', sleep: async () => {}, retries: 2, readTimeoutMs: 2_000, ...options.http },
  });
}

function target(c = client(), extra: Partial<ConstructorParameters<typeof BillectaTarget>[0]> = {}): BillectaTarget {
  return new BillectaTarget({ name: 'billecta', client: c, requests: { creditorPublicId: CREDITOR, deliveryMethod: 'Manually', paymentMeanCodes: { '1580': 'CARD' } }, log, now: () => clock, ...extra });
}

// ── documents ────────────────────────────────────────────────────────────────────────────

const sek = (text: string): Minor => parseDecimal(text, 2);
const V25: VatTreatment = { rate: vatRate('25'), code: 'standard', account: '2611' };
const ARTICLES: readonly Article[] = [
  { number: 'TSH-BLU-M', account: '3001', vat: V25, unit: 'st' },
  { number: 'FRAKT', account: '3520', vat: V25, role: 'shipping' },
];
const key = (kind: DocumentKind, subject: string, part?: string): DocumentKey => ({ source: 'shopify', subject, kind, ...(part ? { part } : {}), revision: 1 });
const part = (number: string, quantity: number, unitPrice: Minor, text = number): LineInput => ({ text, part: { number, quantity, unitPrice } });

const customer = (): CustomerDocument =>
  buildCustomer({ key: key('customer', 'SH-123'), number: 'SH-123', name: 'Anna Andersson', firstName: 'Anna', lastName: 'Andersson', email: 'anna@example.se', address: { street: 'Storgatan 1', zipcode: '11122', city: 'Stockholm', country: 'SE' } });

const invoice = (): InvoiceDocument =>
  buildInvoice({
    key: key('invoice', '5001'),
    number: '1001',
    orderNumber: '1001',
    customerNumber: 'SH-123',
    currency: 'SEK',
    date: '2024-05-02',
    dueDate: '2024-06-01',
    description: 'Webborder 1001',
    receivableAccount: '1510',
    variant: 'article',
    articles: ARTICLES,
    vat: { basis: 'gross', rounding: 'per-line' },
    lines: [part('TSH-BLU-M', 2, sek('199.00'), 'T-shirt blå, M'), part('FRAKT', 1, sek('49.00'), 'Frakt')],
  });

// ── authentication ───────────────────────────────────────────────────────────────────────

describe('authentication', () => {
  it('fetches a SecureToken once, sends it base64-encoded, and reuses it until Expires', async () => {
    fake.expires = new Date(clock + 3_600_000).toISOString();
    const c = client();
    await c.get('/v1/currencies/currencies');
    await c.get('/v1/currencies/currencies');
    clock += 30 * 60_000;
    await c.get('/v1/currencies/currencies');
    expect(fake.tokensIssued).toBe(1);
    const auth = fake.calls.find((x) => x.path === '/v1/authentication/apiauthenticate')!;
    expect(auth.authorization).toBe(`Basic ${b64(`${USER}:${PASSWORD}`)}`);
    expect(fake.calls.filter((x) => x.path === '/v1/currencies/currencies').map((x) => x.authorization)).toEqual(Array(3).fill(`SecureToken ${b64(`${TOKEN}-1`)}`));
    // Past Expires (less the margin): a new token.
    clock += 30 * 60_000;
    await c.get('/v1/currencies/currencies');
    expect(fake.tokensIssued).toBe(2);
    expect(fake.calls.at(-1)!.authorization).toBe(`SecureToken ${b64(`${TOKEN}-2`)}`);
  });

  it('authenticates again once on a 401 and repeats the call', async () => {
    const c = client();
    await c.get('/v1/currencies/currencies');
    fake.validTokens.clear(); // Billecta forgot the token early
    const body = await c.get('/v1/currencies/currencies');
    expect(Array.isArray(body)).toBe(true);
    expect(fake.tokensIssued).toBe(2);
  });

  it('a second 401 is a CredentialError that stops the target, and nothing more is sent', async () => {
    const c = client();
    const t = target(c);
    server.use(http.get(`${BASE}/v1/debtors/debtorbyexternalid/:creditor`, () => new HttpResponse(null, { status: 401 })));
    const error = await t.deliver(customer()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BillectaCredentialError);
    expect(error).toBeInstanceOf(CredentialError);
    expect(stopsTarget(error)).toBe(true);
    expect(fake.tokensIssued).toBe(2);
    const before = fake.calls.length;
    await expect(t.deliver(customer())).rejects.toBeInstanceOf(BillectaCredentialError);
    expect(fake.calls.length).toBe(before);
    expect(logLines.some((l) => l.startsWith('ALERT: target billecta stopped'))).toBe(true);
  });

  it('a refused login is a CredentialError', async () => {
    fake.refuseLogin = true;
    await expect(client().get('/v1/currencies/currencies')).rejects.toBeInstanceOf(BillectaCredentialError);
  });

  it('a 500 from the login is retriable, never an unknown outcome of the document that needed the token', async () => {
    server.use(http.post(`${BASE}/v1/authentication/apiauthenticate`, () => new HttpResponse(null, { status: 500 })));
    const error = await client().get('/v1/currencies/currencies').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriableError);
  });

  it('auth basic sends Basic on every call and never asks for a token', async () => {
    const c = client({ auth: 'basic' });
    await c.get('/v1/currencies/currencies');
    await c.get('/v1/currencies/currencies');
    expect(fake.tokensIssued).toBe(0);
    expect(fake.calls.map((x) => x.authorization)).toEqual(Array(2).fill(`Basic ${b64(`${USER}:${PASSWORD}`)}`));
  });
});

// ── errors ───────────────────────────────────────────────────────────────────────────────

describe('error text', () => {
  it('reads the ErrorMessage header as ISO-8859-1, plus the body', async () => {
    server.use(
      http.post(`${BASE}/v1/invoice/payment`, () =>
        // Header values are byte strings: each character one ISO-8859-1 byte on the wire.
        new HttpResponse('{"Message":"Invoice 7545769088"}', { status: 400, headers: { ErrorMessage: Buffer.from('Fakturan finns redan: å ä ö', 'latin1').toString('latin1') } }),
      ),
    );
    const error = await client({ auth: 'basic' })
      .send({ method: 'POST', path: '/v1/invoice/payment', body: { ActionPublicId: '1' }, purpose: 'test', headers: { UniqueApiCallId: 'c-1' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BillectaRejectedError);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as BillectaRejectedError).billectaMessage).toBe('Fakturan finns redan: å ä ö – Invoice 7545769088');
    expect((error as Error).message).toContain('Fakturan finns redan: å ä ö');
  });

  it('decodes raw latin1 header bytes from a real socket (undici transport)', async () => {
    const raw: Server = createServer((_req, res) => {
      res.writeHead(400, { ErrorMessage: Buffer.from('Fakturan finns redan: å ä ö', 'latin1').toString('latin1') });
      res.end();
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const port = (raw.address() as AddressInfo).port;
      const c = new BillectaClient({ name: 'billecta', baseUrl: `http://127.0.0.1:${port}`, username: USER, password: PASSWORD, auth: 'basic', http: { sleep: async () => {} } });
      const error = await c.get('/v1/currencies/currencies').catch((e: unknown) => e);
      expect((error as BillectaRejectedError).billectaMessage).toBe('Fakturan finns redan: å ä ö');
      await c.close();
    } finally {
      await new Promise((resolve) => raw.close(resolve));
    }
  });

  it('decodeErrorMessage keeps latin1 and repairs UTF-8 bytes', () => {
    expect(decodeErrorMessage('F\u00e5r ej')).toBe('Får ej');
    expect(decodeErrorMessage(Buffer.from('Får ej', 'utf8').toString('latin1'))).toBe('Får ej');
    expect(decodeErrorMessage(undefined)).toBe('');
  });

  it('a debtor look-up answering 400 (several share the external id) refuses the customer', async () => {
    server.use(http.get(`${BASE}/v1/debtors/debtorbyexternalid/:creditor`, () => new HttpResponse(null, { status: 400 })));
    const error = await target().deliver(customer()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toMatch(/several debtors in Billecta share DebtorExternalId "SH-123"/);
    expect(fake.writes('/v1/debtors/debtor')).toEqual([]);
  });
});

// ── delivery ─────────────────────────────────────────────────────────────────────────────

describe('delivery', () => {
  it('resolves placeholders across debtor → products → invoice → attest', async () => {
    const t = target();
    const debtor = await t.deliver(customer());
    const debtorId = fake.debtors.get('SH-123')!.DebtorPublicId;
    expect(debtor.externalId).toBe(debtorId);

    const delivered = await t.deliver(invoice());
    const create = fake.writes('/v1/invoice/action')[0]!;
    const body = create.body as { DebtorPublicId: string; Records: { ProductPublicId: string }[]; ExternalReference: string; CreditorPublicId: string };
    expect(body.DebtorPublicId).toBe(debtorId);
    expect(body.CreditorPublicId).toBe(CREDITOR);
    expect(body.ExternalReference).toBe('shopify/5001/invoice/1');
    expect(body.Records.map((r) => r.ProductPublicId)).toEqual([fake.products.get('TSH-BLU-M')!.ProductPublicId, fake.products.get('FRAKT')!.ProductPublicId]);
    expect(JSON.stringify(create.body)).not.toMatch(/\{(debtor|product|action):/);
    const attest = fake.calls.find((c) => c.method === 'PUT' && c.path.startsWith('/v1/invoice/attest/'))!;
    expect(attest.path).toBe(`/v1/invoice/attest/${delivered.externalId}`);
    expect(fake.actions.get(delivered.externalId)!.State).toEqual({ Stage: 'Attested' });
    // Every write carried a UniqueApiCallId.
    expect(fake.calls.filter((c) => c.method !== 'GET' && c.path !== '/v1/authentication/apiauthenticate').every((c) => c.callId)).toBe(true);
    expect(await t.lookup(invoice())).toEqual(delivered);

    // A credit note names the credited invoice's ActionPublicId.
    const inv = invoice();
    const credit = creditInFull(inv, { key: key('credit-note', '5001', 'r1'), number: '1001-K1', date: '2024-05-20' });
    const creditDelivered = await t.deliver(credit);
    const creditBody = fake.writes('/v1/invoice/action')[1]!.body as { ActionType: string; CreditingInvoicePublicId: string };
    expect(creditBody).toMatchObject({ ActionType: 'CreditInvoiceAction', CreditingInvoicePublicId: delivered.externalId });
    expect(creditDelivered.externalId).not.toBe(delivered.externalId);
    expect(await t.transferBalance()).toEqual({});
  });

  it('a repeated UniqueApiCallId (403) is looked up and recorded, never created twice', async () => {
    const first = target();
    await first.deliver(customer());
    // The draft is created, then the attest fails: the invoice stays a draft in Billecta.
    server.use(http.put(`${BASE}/v1/invoice/attest/:id`, () => new HttpResponse(null, { status: 503 }), { once: true }));
    await expect(first.deliver(invoice())).rejects.toThrow(/still a draft, it will be attested again/);
    expect(fake.actions.size).toBe(1);
    const [draftId] = [...fake.actions.keys()];
    // A restarted kontor (no memory) sends the create again with the same UniqueApiCallId: 403.
    const restarted = target();
    const again = await restarted.deliver(invoice());
    expect(again.externalId).toBe(draftId);
    expect(fake.actions.size).toBe(1);
    const creates = fake.writes('/v1/invoice/action');
    expect(creates).toHaveLength(2);
    expect(creates[1]!.callId).toBe(creates[0]!.callId);
    expect(fake.actions.get(draftId!)!.State).toEqual({ Stage: 'Attested' });
    expect(logLines.some((l) => /done before \(UniqueApiCallId [0-9a-f-]+\); found \d+, recorded/.test(l))).toBe(true);
    // The debtor and products were found by their external ids: nothing created again.
    expect(fake.writes('/v1/debtors/debtor').filter((c) => c.method === 'POST')).toHaveLength(1);
    expect(fake.writes('/v1/products/product').filter((c) => c.method === 'POST')).toHaveLength(2);
  });

  it('a timed-out create is looked up, then sent again with the same UniqueApiCallId', async () => {
    const t = target(client({ http: { readTimeoutMs: 100 } }));
    await t.deliver(customer());
    let slow = true;
    server.use(
      http.post(`${BASE}/v1/invoice/action`, async ({ request }) => {
        if (!slow) return undefined; // the fake's own handler
        slow = false;
        fake.calls.push({ method: 'POST', path: '/v1/invoice/action', authorization: request.headers.get('authorization'), callId: request.headers.get('uniqueapicallid'), body: null });
        await delay(1_000);
        return new HttpResponse(null, { status: 504 });
      }),
    );
    const error = await t.deliver(invoice()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriableError);
    expect((error as Error).message).toMatch(/Billecta does not have it, so it will be sent again/);
    const delivered = await t.deliver(invoice());
    const creates = fake.writes('/v1/invoice/action');
    expect(creates).toHaveLength(2);
    expect(creates[1]!.callId).toBe(creates[0]!.callId);
    expect(fake.actions.size).toBe(1);
    expect(fake.actions.get(delivered.externalId)!.State).toEqual({ Stage: 'Attested' });
  });

  it('refuses a currency whose decimals differ from kontor\'s', async () => {
    server.use(http.get(`${BASE}/v1/currencies/currencies`, () => HttpResponse.json([{ CurrencyCode: 'SEK', Decimals: 0 }])));
    const t = target();
    await t.deliver(customer());
    await expect(t.deliver(invoice())).rejects.toThrow(/Billecta gives SEK 0 decimals, kontor 2/);
    expect(fake.writes('/v1/invoice/action')).toEqual([]);
  });
});

// ── throttling ───────────────────────────────────────────────────────────────────────────

describe('failing-calls budget', () => {
  it('stops sending after N failing calls in 60 s, and resumes after the window', async () => {
    let received = 0;
    server.use(
      http.post(`${BASE}/v1/invoice/payment`, () => {
        received++;
        return new HttpResponse(null, { status: 400, headers: { ErrorMessage: 'Felaktig' } });
      }),
    );
    const c = client({ auth: 'basic', failingCallsPerMinute: 3 });
    const send = () => c.send({ method: 'POST', path: '/v1/invoice/payment', body: {}, purpose: 'test' });
    for (let i = 0; i < 3; i++) await expect(send()).rejects.toBeInstanceOf(BillectaRejectedError);
    const throttled = await send().catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(BillectaThrottledError);
    expect(throttled).toBeInstanceOf(RetriableError);
    await expect(c.get('/v1/currencies/currencies')).rejects.toBeInstanceOf(BillectaThrottledError);
    expect(received).toBe(3);
    expect(c.failingCallsInWindow()).toBe(3);
    clock += 60_001;
    await expect(send()).rejects.toBeInstanceOf(BillectaRejectedError);
    expect(received).toBe(4);
  });

  it('counts the HttpClient\'s own retries of 5xx and 429, and 404 not at all', async () => {
    let received = 0;
    server.use(
      http.get(`${BASE}/v1/invoice/action/:id`, ({ params }) => {
        received++;
        return new HttpResponse(null, { status: params.id === 'missing' ? 404 : 503 });
      }),
    );
    const c = client({ auth: 'basic', failingCallsPerMinute: 4, http: { retries: 10 } });
    expect(await c.lookup('/v1/invoice/action/missing')).toBeNull();
    expect(c.failingCallsInWindow()).toBe(0);
    await expect(c.get('/v1/invoice/action/1')).rejects.toBeInstanceOf(BillectaThrottledError);
    expect(received).toBe(1 + 4);
  });
});

// ── redaction ────────────────────────────────────────────────────────────────────────────

describe('secrets', () => {
  it('never shows the password or the token in an error or a log line', async () => {
    server.use(
      http.get(`${BASE}/v1/debtors/debtorbyexternalid/:creditor`, ({ request }) => {
        const auth = request.headers.get('authorization') ?? '';
        const token = Buffer.from(auth.replace('SecureToken ', ''), 'base64').toString('utf8');
        return new HttpResponse(`bad request from ${auth} token ${token} password ${PASSWORD}`, { status: 422, headers: { ErrorMessage: `token ${token}` } });
      }),
    );
    const error = await target().deliver(customer()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BillectaRejectedError);
    const texts = [(error as Error).message, (error as BillectaRejectedError).billectaMessage, ...logLines];
    for (const secret of [PASSWORD, b64(`${USER}:${PASSWORD}`), `${TOKEN}-1`, b64(`${TOKEN}-1`)]) {
      for (const text of texts) expect(text).not.toContain(secret);
    }
    expect((error as Error).message).toContain('[REDACTED]');
  });
});
