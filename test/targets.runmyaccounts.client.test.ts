/**
 * The Run my Accounts client and target (src/targets/runmyaccounts/client.ts, target.ts)
 * against msw (`setupServer` from 'msw/node'), with the HttpClient's `fetch` transport so that
 * msw sees the requests. A small fake RMA below keeps invoices, payments, customers and parts,
 * with RMA's rules as far as kontor relies on them: a duplicate invnumber gets 400 with an
 * error body, payments raise the invoice's `paid`, and faults can drop the connection before
 * or after it commits.
 *
 * Golden bodies: test/fixtures/runmyaccounts/golden/{case}.json and .xml are the exact bytes
 * the client sends for each use case (E1, A1.1, A5, B1, C2 with its transfers, D1–D4); they
 * were written once by a generator script from the same documents as GOLDEN_CASES below and
 * are compared byte for byte with what reaches the wire.
 *
 * Every test also checks that the API key is in no log line and no error message.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  buildCreditNote,
  buildCustomer,
  buildInvoice,
  buildPayment,
  buildStorno,
  formatDecimal,
  openItemOf,
  parseDecimal,
  settle,
  sum,
  type BookDocument,
  type InvoiceDocument,
  type Minor,
  type PaymentDocument,
} from '../src/books/index.js';
import { PermanentError, RetriableError } from '../src/errors.js';
import { HttpClient } from '../src/http/client.js';
import {
  asList,
  RmaCredentialError,
  RmaInDoubtError,
  RmaNotFoundError,
  RmaRejectedError,
  RunMyAccountsClient,
  type RmaLog,
  type RunMyAccountsClientOptions,
} from '../src/targets/runmyaccounts/client.js';
import { rmaRequestsFor } from '../src/targets/runmyaccounts/requests.js';
import { RmaUnknownPartError, RunMyAccountsTarget, type RunMyAccountsTargetOptions } from '../src/targets/runmyaccounts/target.js';
import { fromXml, toXml } from '../src/targets/runmyaccounts/xml.js';
import { captureStream } from './helpers.js';
import { articleSales, chf, income, key, part, payKeys, sales } from './usecase-documents.js';

const KEY = 'rma-Secret+Key/7f3a9c2e41d0';
const KEY_FORMS = [KEY, encodeURIComponent(KEY), Buffer.from(KEY).toString('base64')];
const ORIGIN = 'https://rma.example';
const BASE = '/api/latest/clients/muster';
const GOLDEN = new URL('./fixtures/runmyaccounts/golden/', import.meta.url);

// ── the golden use cases ─────────────────────────────────────────────────────────────────

const a11 = (number: string): InvoiceDocument => buildInvoice(sales(number, [income('99.00')]));
const open648 = (number: string): InvoiceDocument => buildInvoice(sales(number, [income('600.00', '3200', 'Ware')]));

function goldenCases(): { name: string; doc: BookDocument }[] {
  const customer = buildCustomer({
    key: key('customer', 'C-17'),
    number: 'C-17',
    name: 'Hans Muster',
    firstName: 'Hans',
    lastName: 'Muster',
    email: 'hans@muster.ch',
    address: { street: 'Rössliweg 1', zipcode: '3106', city: 'Tenna', country: 'CH' },
  });
  // The documented A1.1 (uc_a1_1.html) as the equivalent order: 99.00 on 3400 at 8 %, tax 7.92 on 2201, dated 2012-08-06.
  const a1 = buildInvoice(sales('A1.1', [income('99.00')], { key: key('invoice', 'A1.1'), orderNumber: '', customerNumber: 'K-001', date: '2012-08-06', dueDate: '2012-08-06', description: '' }));
  const a5 = buildInvoice(articleSales('A5-1', [part('BERATUNG', 2, '49.50'), part('PROJEKT', 1, '100.00')]));
  const b1 = buildCreditNote(sales('G-1', [income('-50.00')], { key: key('credit-note', 'G-1'), date: '2017-04-03', dueDate: '2017-04-03' }), a11('R-1'));
  const { storno, transfers } = buildStorno(a11('R-10'), {
    key: key('storno', 'R-10'),
    number: 'R-10-S',
    transferAccount: '1090',
    paymentKey: (side) => key('payment', 'R-10', `storno-${side}`),
    date: '2017-04-02',
  });
  const d1 = buildPayment({ key: key('payment', 'R-20', 'p1'), item: openItemOf(a11('R-20'), []), purpose: 'payment', account: '1090', amount: chf('50.00'), date: '2017-03-20', reference: 'pi_1', memo: 'Stripe' });
  const [d2, d2w] = settle({ item: openItemOf(open648('R-21'), []), date: '2017-04-01', received: chf('448.00'), clearingAccount: '1090', writeOff: { account: '3801', tolerance: chf('200.00') }, key: payKeys('R-21') });
  const [d3, d3f] = settle({ item: openItemOf(open648('R-23'), []), date: '2017-04-01', received: chf('644.00'), clearingAccount: '1090', fee: { amount: chf('4.00'), account: '6940' }, key: payKeys('R-23') });
  const [d4, d4s] = settle({ item: openItemOf(open648('R-24'), []), date: '2017-04-01', received: chf('635.05'), clearingAccount: '1090', skonto: { amount: chf('12.95'), account: '3800' }, key: payKeys('R-24') });
  return [
    { name: 'e1-customer', doc: customer },
    { name: 'a1-invoice-booking', doc: a1 },
    { name: 'a5-invoice-article', doc: a5 },
    { name: 'b1-credit-note', doc: b1 },
    { name: 'c2-storno', doc: storno },
    { name: 'c2-transfer-invoice', doc: transfers[0]! },
    { name: 'c2-transfer-storno', doc: transfers[1]! },
    { name: 'd1-payment', doc: d1 },
    { name: 'd2-payment', doc: d2! },
    { name: 'd2-price-reduction', doc: d2w! },
    { name: 'd3-payment', doc: d3! },
    { name: 'd3-bank-fee', doc: d3f! },
    { name: 'd4-payment', doc: d4! },
    { name: 'd4-skonto', doc: d4s! },
  ];
}

/** Use case A1.1 as RMA documents it (uc_a1_1.html, via shared/fixtures/runmyaccounts/doc-excerpts.md). */
const DOCUMENTED_A11 = `<invoice><invnumber>A1.1</invnumber><ordnumber /><status>OVERDUE</status><currency>CHF</currency><ar_accno>1100</ar_accno>
<transdate>2012-08-06T00:00:00+02:00</transdate><duedate>2012-08-06T00:00:00+02:00</duedate><description /><notes /><intnotes />
<taxincluded>false</taxincluded>
<customer><id>10199</id><customernumber>K-001</customernumber><name>Muster AG</name><created>2012-02-21T00:00:00+01:00</created>
<contactId>0</contactId><salutation>Herr</salutation><firstname>Hans</firstname><lastname>Muster</lastname><addressId>0</addressId>
<address1>Rössliweg 1</address1><address2 /><zipcode /><city>Tenna</city><state /><country /><phone /><fax /><mobile />
<email>hmuster@muster.ch</email><taxnumber /><taxfree>false</taxfree><bank_name>CREDIT SUISSE</bank_name><bank_address1 /><bank_address2 />
<bank_zipcode>8070</bank_zipcode><bank_city>ZÜRICH</bank_city><bank_country>SCHWEIZ</bank_country><bank_iban>CH3304835172037151000</bank_iban><bank_bic>CRESCHZZ80L</bank_bic></customer>
<incomeentries><incomeentry><amount>99.0</amount><income_accno>3400</income_accno><description /></incomeentry></incomeentries>
<taxentries><taxentry><amount>7.92</amount><tax_accno>2201</tax_accno></taxentry></taxentries>
</invoice>`;

// ── a fake Run my Accounts on msw ────────────────────────────────────────────────────────

interface Seen {
  method: string;
  /** Path below /api/latest/clients/muster. */
  path: string;
  url: URL;
  headers: Headers;
  body: string;
  parsed: Record<string, unknown> | null;
}

/** What a fault hook answers: drop the connection before or after RMA commits, or a response of its own. */
type Fault = 'drop-before' | 'drop-after' | Response | undefined;

interface FakeInvoice {
  invnumber: string;
  currency: string;
  amount: Minor;
  paid: Minor;
}

const money = (a: Minor) => formatDecimal(a, 2);
const dec = (text: unknown) => parseDecimal(String(text), 2);

class FakeRma {
  readonly seen: Seen[] = [];
  readonly invoices = new Map<string, FakeInvoice>();
  readonly customers = new Map<string, Record<string, unknown>>();
  parts: string[] = ['BERATUNG', 'PROJEKT', 'RABATT', 'AKONTO'];
  saldo: { accountnumber: string; accountname: string; amount: string }[] = [];
  charts: Record<string, string>[] = [];
  fault: (s: Seen) => Fault = () => undefined;

  constructor() {
    server.use(http.all(`${ORIGIN}/*`, ({ request }) => this.handle(request)));
  }

  /** Requests seen with this method and path (below the mandant). */
  requests(method: string, path?: string | RegExp): Seen[] {
    return this.seen.filter((s) => s.method === method && (path === undefined || (typeof path === 'string' ? s.path === path : path.test(s.path))));
  }

  invoice(number: string, total: string, paid = '0.00', currency = 'CHF'): void {
    this.invoices.set(number, { invnumber: number, currency, amount: dec(total), paid: dec(paid) });
  }

  private async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = await request.text();
    const xml = (request.headers.get('content-type') ?? '').includes('xml');
    const parsed = body === '' ? null : ((xml ? fromXml(body) : JSON.parse(body)) as Record<string, unknown>);
    const s: Seen = { method: request.method, path: url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname, url, headers: request.headers, body, parsed };
    this.seen.push(s);
    const fault = this.fault(s);
    if (fault instanceof Response) return fault;
    if (fault === 'drop-before') return HttpResponse.error();
    const authorized = request.headers.get('authorization') === `Bearer ${KEY}` || url.searchParams.get('api_key') === KEY;
    const response = authorized ? this.route(s) : this.reply(s, { error: 'Forbidden' }, 403);
    if (fault === 'drop-after') return HttpResponse.error();
    return response;
  }

  private reply(s: Seen, value: unknown, status = 200, root = 'response'): Response {
    if (status === 204) return new HttpResponse(null, { status });
    if ((s.headers.get('accept') ?? '').includes('xml')) {
      return new HttpResponse(toXml(root, value as Record<string, unknown>), { status, headers: { 'content-type': 'application/xml' } });
    }
    return HttpResponse.json(value as Record<string, unknown>, { status });
  }

  private route(s: Seen): Response {
    const p = s.parsed ?? {};
    const [, resource, id, sub] = s.path.split('/').map(decodeURIComponent);
    const invoiceJson = (i: FakeInvoice) => ({ invnumber: i.invnumber, currency: i.currency, amount: money(i.amount), paid: money(i.paid), status: i.paid === i.amount ? 'PAID' : 'OPEN' });
    if (s.method === 'POST' && s.path === '/customers') {
      this.customers.set(String(p.customernumber), p);
      return this.reply(s, null, 204);
    }
    if (s.method === 'GET' && resource === 'customers' && id) {
      const c = this.customers.get(id);
      return c ? this.reply(s, c, 200, 'customer') : this.reply(s, { error: `Customer ${id} not found` }, 404);
    }
    if (s.method === 'POST' && s.path === '/invoices') {
      const n = String(p.invnumber);
      if (this.invoices.has(n)) return this.reply(s, { error: `Invoice number ${n} already exists` }, 400);
      const entries = (wrapper: string, element: string) => asList<Record<string, string>>((p[wrapper] as Record<string, unknown> | undefined)?.[element]);
      const amount = p.parts
        ? sum(entries('parts', 'part').map((r) => dec(r.sellprice) * Number(r.quantity)) as Minor[])
        : sum([...entries('incomeentries', 'incomeentry'), ...entries('taxentries', 'taxentry')].map((e) => dec(e.amount)));
      this.invoices.set(n, { invnumber: n, currency: String(p.currency), amount, paid: 0 as Minor });
      return this.reply(s, null, 204);
    }
    if (s.method === 'GET' && resource === 'invoices' && id && !sub) {
      const i = this.invoices.get(id);
      return i ? this.reply(s, invoiceJson(i), 200, 'invoice') : this.reply(s, { error: `Invoice ${id} not found` }, 404);
    }
    if (s.method === 'POST' && resource === 'invoices' && sub === 'payments') {
      const i = this.invoices.get(id!);
      if (!i) return this.reply(s, { error: `Invoice ${id} not found` }, 404);
      i.paid = (i.paid + dec(p.amount_paid)) as Minor;
      return this.reply(s, p, 200, 'payment');
    }
    if (s.method === 'GET' && s.path === '/parts') {
      const parts = this.parts.map((n) => ({ partnumber: n, description: n }));
      return this.reply(s, { part: parts.length === 1 ? parts[0] : parts }, 200, 'parts');
    }
    if (s.method === 'GET' && s.path === '/charts') return this.reply(s, { chart: this.charts }, 200, 'charts');
    if (s.method === 'GET' && s.path === '/gl/v2/saldo') {
      return this.reply(s, { row: this.saldo.filter((r) => r.accountnumber === s.url.searchParams.get('accno')) }, 200, 'table');
    }
    return this.reply(s, { error: `no route ${s.method} ${s.path}` }, 404);
  }
}

// ── harness: msw, clients, the log and the key check ─────────────────────────────────────

const server = setupServer();
const clients: RunMyAccountsClient[] = [];
let log: ReturnType<typeof captureStream>;
let rmaLog: RmaLog;
/** Every error a test looked at, for the key check after each test. */
let errors: unknown[];

beforeAll(() =>
  server.listen({
    onUnhandledRequest(request, print) {
      // Loopback requests are real ones (connection refused); anything else is a test bug.
      if (new URL(request.url).hostname !== '127.0.0.1') print.error();
    },
  }),
);
beforeEach(() => {
  log = captureStream();
  // Lines are written unredacted: a key that reached the log would be seen here.
  const line = (level: string) => (message: string) => log.stream.write(`${level}: ${message}\n`);
  rmaLog = { error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug') };
  errors = [];
});
afterEach(async () => {
  server.resetHandlers();
  for (const c of clients.splice(0)) await c.close();
  for (const form of KEY_FORMS) {
    expect(log.text()).not.toContain(form);
    for (const e of errors) {
      expect(e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e)).not.toContain(form);
      expect(JSON.stringify(e)).not.toContain(form);
    }
  }
});
afterAll(() => server.close());

function client(options: Partial<RunMyAccountsClientOptions> = {}, httpOptions: RunMyAccountsClientOptions['http'] = {}): RunMyAccountsClient {
  const c = new RunMyAccountsClient({
    name: 'rma',
    baseUrl: ORIGIN,
    mandant: 'muster',
    apiKey: KEY,
    log: rmaLog,
    slowReadTimeoutMs: httpOptions.readTimeoutMs ?? 2_000,
    ...options,
    http: { transport: 'fetch', retries: 2, baseDelayMs: 1, sleep: async () => undefined, rateLimit: undefined, readTimeoutMs: 2_000, ...httpOptions },
  });
  clients.push(c);
  return c;
}

function target(options: Partial<RunMyAccountsTargetOptions> = {}, clientOptions: Partial<RunMyAccountsClientOptions> = {}): RunMyAccountsTarget {
  return new RunMyAccountsTarget({ name: 'rma', client: options.client ?? client(clientOptions), requests: { mandant: 'muster' }, log: rmaLog, ...options });
}

/** The error `promise` rejects with (recorded for the key check); fails when it resolves. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    errors.push(error);
    return error as Error;
  }
  throw new Error('expected a failure');
}

const golden = (file: string) => readFileSync(new URL(file, GOLDEN), 'utf8');
const request = (doc: BookDocument) => rmaRequestsFor(doc, { mandant: 'muster' })[0]!;
const invoiceRequest = () => request(a11('R-1'));

/** The documents of a storno group or settlement by name. */
const caseDoc = (name: string) => goldenCases().find((c) => c.name === name)!.doc;

// ── tests ────────────────────────────────────────────────────────────────────────────────

describe('authentication, Accept and Content-Type', () => {
  it('bearer (default): the key in the Authorization header, nothing in the URL', async () => {
    const rma = new FakeRma();
    await client().send(invoiceRequest());
    const [s] = rma.seen;
    expect(s!.headers.get('authorization')).toBe(`Bearer ${KEY}`);
    expect(s!.url.search).toBe('');
    expect(s!.url.pathname).toBe(`${BASE}/invoices`);
  });

  it('query: the documented api_key parameter, no Authorization header, other parameters kept', async () => {
    const rma = new FakeRma();
    rma.saldo = [{ accountnumber: '1090', accountname: 'Transferkonto', amount: '0.0000' }];
    const c = client({ auth: 'query' });
    await c.send(invoiceRequest());
    await c.saldo('1090');
    for (const s of rma.seen) {
      expect(s.url.searchParams.get('api_key')).toBe(KEY);
      expect(s.headers.get('authorization')).toBeNull();
    }
    expect(rma.seen[1]!.url.searchParams.get('accno')).toBe('1090');
  });

  it('JSON (default): Accept application/json on every request, Content-Type with charset on a POST', async () => {
    const rma = new FakeRma();
    const c = client();
    await c.send(invoiceRequest());
    await c.getInvoice('R-1');
    expect(rma.seen.map((s) => s.headers.get('accept'))).toEqual(['application/json', 'application/json']);
    expect(rma.seen[0]!.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(rma.seen[1]!.headers.get('content-type')).toBeNull();
  });

  it('XML: Accept application/xml (RMA answers XML without an Accept anyway), XML bodies, XML answers read back', async () => {
    const rma = new FakeRma();
    const c = client({ format: 'xml' });
    await c.send(invoiceRequest());
    expect(await c.getInvoice('R-1')).toMatchObject({ invnumber: 'R-1', amount: '106.92', paid: '0.00', currency: 'CHF' });
    expect(rma.seen.map((s) => s.headers.get('accept'))).toEqual(['application/xml', 'application/xml']);
    expect(rma.seen[0]!.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(rma.seen[0]!.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<invoice>\n  <invnumber>R-1</invnumber>')).toBe(true);
  });

  it('refuses a request built for another mandant without sending it', async () => {
    const rma = new FakeRma();
    const error = await failure(client().send(rmaRequestsFor(a11('R-1'), { mandant: 'other' })[0]!));
    expect(error).toBeInstanceOf(PermanentError);
    expect(rma.seen).toHaveLength(0);
  });
});

describe('golden bodies (test/fixtures/runmyaccounts/golden)', () => {
  const cases = goldenCases();

  it('covers every use case in both formats', () => {
    expect(cases.map((c) => c.name)).toEqual([
      'e1-customer',
      'a1-invoice-booking',
      'a5-invoice-article',
      'b1-credit-note',
      'c2-storno',
      'c2-transfer-invoice',
      'c2-transfer-storno',
      'd1-payment',
      'd2-payment',
      'd2-price-reduction',
      'd3-payment',
      'd3-bank-fee',
      'd4-payment',
      'd4-skonto',
    ]);
  });

  for (const format of ['json', 'xml'] as const) {
    it.each(cases.map((c) => [c.name, c.doc] as const))(`%s.${format}: the body on the wire is the golden file, byte for byte`, async (name, doc) => {
      const rma = new FakeRma();
      const r = request(doc);
      if (doc.kind === 'payment') rma.invoice(doc.appliesTo, '1000.00');
      await client({ format }).send(r);
      const [s] = rma.seen;
      expect(`${s!.method} ${s!.url.pathname}`).toBe(`${r.method} ${r.path}`);
      expect(s!.body).toBe(golden(`${name}.${format}`));
      expect(s!.headers.get('content-type')).toBe(`application/${format}; charset=utf-8`);
    });
  }

  it.each(cases.map((c) => [c.name, c.doc] as const))('%s: the XML and the JSON golden file carry the same object', (name, doc) => {
    const json = JSON.parse(golden(`${name}.json`)) as Record<string, unknown>;
    expect(json).toEqual(request(doc).body);
    // XML has no arrays: a one-element list reads back as an object, so lists are compared as lists.
    const lists = (value: Record<string, unknown>) => {
      const out = { ...value };
      for (const [wrapper, element] of [['incomeentries', 'incomeentry'], ['taxentries', 'taxentry'], ['parts', 'part']] as const) {
        if (out[wrapper] !== undefined) out[wrapper] = { [element]: asList((out[wrapper] as Record<string, unknown>)[element]) };
      }
      return out;
    };
    expect(lists(fromXml(golden(`${name}.xml`)) as Record<string, unknown>)).toEqual(lists(json));
  });

  it('A1.1: reproduced from the equivalent order, the documented example element for element, with the recorded differences', () => {
    const documented = fromXml(DOCUMENTED_A11) as Record<string, unknown>;
    const ours = fromXml(golden('a1-invoice-booking.xml')) as Record<string, unknown>;
    // Differences by design: the customer is upserted first and named by number (reference §2.4),
    // dcn is sent empty so that RMA builds the QR reference, and kontor posts OPEN invoices.
    const { customer, status: docStatus, ...docRest } = documented;
    const { customernumber, dcn, status, ...ourRest } = ours;
    expect(Object.keys(ourRest)).toEqual(Object.keys(docRest));
    expect(customernumber).toBe((customer as Record<string, unknown>).customernumber);
    expect([docStatus, status, dcn]).toEqual(['OVERDUE', 'OPEN', '']);
    const { incomeentries: docIncome, taxentries: docTax, ...docHeader } = docRest;
    const { incomeentries: ourIncome, taxentries: ourTax, ...ourHeader } = ourRest;
    expect(ourHeader).toEqual(docHeader);
    const entry = (list: unknown, element: string) => (list as Record<string, Record<string, string>>)[element]!;
    // Same amounts and accounts (RMA's example writes 99.0, kontor always two decimals); kontor's lines need a text.
    expect(dec(entry(ourIncome, 'incomeentry').amount)).toBe(dec(entry(docIncome, 'incomeentry').amount));
    expect(entry(ourIncome, 'incomeentry').income_accno).toBe(entry(docIncome, 'incomeentry').income_accno);
    expect([entry(docIncome, 'incomeentry').description, entry(ourIncome, 'incomeentry').description]).toEqual(['', 'Dienstleistung']);
    expect(entry(ourTax, 'taxentry')).toEqual({ ...entry(docTax, 'taxentry'), amount: '7.92' });
  });

  it('XML of the bare entry-list option is wrapped again (the XML shape is documented)', async () => {
    const rma = new FakeRma();
    await client({ format: 'xml' }).send(rmaRequestsFor(a11('R-1'), { mandant: 'muster', entryLists: 'bare' })[0]!);
    expect(rma.seen[0]!.body).toContain('<incomeentries>\n    <incomeentry>\n      <amount>99.00</amount>');
  });
});

describe('error mapping', () => {
  /** A server answering every request with `response()`, counting requests. */
  function answer(response: () => Response | Promise<Response>): { count: () => number } {
    let n = 0;
    server.use(
      http.all(`${ORIGIN}/*`, () => {
        n++;
        return response();
      }),
    );
    return { count: () => n };
  }

  it('204 and 200 are success; a 200 body is parsed', async () => {
    answer(() => new HttpResponse(null, { status: 204 }));
    expect(await client().send(invoiceRequest())).toEqual({ status: 204, body: null });
    server.resetHandlers();
    answer(() => HttpResponse.json({ amount_paid: '50.00' }));
    expect(await client().send(request(caseDoc('d1-payment')))).toEqual({ status: 200, body: { amount_paid: '50.00' } });
  });

  it("400 is a permanent rejection with RMA's error message, sent once", async () => {
    const server400 = answer(() => HttpResponse.json({ error: 'Customer C-17 does not exist' }, { status: 400 }));
    const error = await failure(client().send(invoiceRequest()));
    expect(error).toBeInstanceOf(RmaRejectedError);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as RmaRejectedError).rmaMessage).toBe('Customer C-17 does not exist');
    expect(error.message).toBe('target rma: POST /invoices: Run my Accounts refused it (HTTP 400): Customer C-17 does not exist');
    expect(server400.count()).toBe(1);
  });

  it('400 with an XML error body, or none', async () => {
    answer(() => new HttpResponse('<error>Ungültiges Datum</error>', { status: 400, headers: { 'content-type': 'application/xml' } }));
    expect(((await failure(client({ format: 'xml' }).send(invoiceRequest()))) as RmaRejectedError).rmaMessage).toBe('Ungültiges Datum');
    server.resetHandlers();
    answer(() => new HttpResponse('<?xml version="1.0"?><error><message>Invoice R-1 already exists</message></error>', { status: 400 }));
    expect(((await failure(client({ format: 'xml' }).send(invoiceRequest()))) as RmaRejectedError).rmaMessage).toBe('Invoice R-1 already exists');
    server.resetHandlers();
    answer(() => new HttpResponse(null, { status: 400 }));
    expect((await failure(client().send(invoiceRequest()))).message).toMatch(/HTTP 400\): no reason given$/);
  });

  it('403 (and 401) is a credential error, retriable for the outbox, sent once', async () => {
    for (const status of [403, 401]) {
      server.resetHandlers();
      const s = answer(() => HttpResponse.json({ error: 'Forbidden' }, { status }));
      const error = await failure(client().getInvoice('R-1'));
      expect(error).toBeInstanceOf(RmaCredentialError);
      expect(error).toBeInstanceOf(RetriableError);
      expect((error as RmaCredentialError).stopsTarget).toBe(true);
      expect(error.message).toContain(`refused the API key (HTTP ${status}: Forbidden)`);
      expect(s.count()).toBe(1);
    }
  });

  it('404 on a lookup is "not there"; on a POST it is permanent', async () => {
    answer(() => HttpResponse.json({ error: 'Invoice not found' }, { status: 404 }));
    const c = client();
    expect(await c.getInvoice('R-1')).toBeNull();
    expect(await c.getCustomer('C-17')).toBeNull();
    const error = await failure(c.send(request(caseDoc('d1-payment'))));
    expect(error).toBeInstanceOf(RmaNotFoundError);
    expect(error).toBeInstanceOf(PermanentError);
  });

  it('500: a GET is retried, then retriable; an invoice or payment POST is sent once and in-doubt; the customer upsert is retried', async () => {
    const get = answer(() => HttpResponse.json({ error: 'boom' }, { status: 500 }));
    const error = await failure(client().getInvoice('R-1'));
    expect(error).toBeInstanceOf(RetriableError);
    expect(get.count()).toBe(3);

    server.resetHandlers();
    const post = answer(() => HttpResponse.json({ error: 'boom' }, { status: 500 }));
    for (const r of [invoiceRequest(), request(caseDoc('d1-payment'))]) {
      const e = await failure(client().send(r));
      expect(e).toBeInstanceOf(RmaInDoubtError);
      expect(e).not.toBeInstanceOf(RetriableError);
      expect(e).not.toBeInstanceOf(PermanentError);
    }
    expect(post.count()).toBe(2);

    server.resetHandlers();
    let n = 0;
    answer(() => (++n === 1 ? HttpResponse.json({ error: 'boom' }, { status: 503 }) : new HttpResponse(null, { status: 204 })));
    await client().send(request(caseDoc('e1-customer')), { idempotent: true });
    expect(n).toBe(2);
  });

  it('429 is retried after Retry-After, and retriable when it persists', async () => {
    let n = 0;
    answer(() => (++n <= 2 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '0' } }) : new HttpResponse(null, { status: 204 })));
    await client().send(invoiceRequest());
    expect(n).toBe(3);
    server.resetHandlers();
    answer(() => new HttpResponse(null, { status: 429 }));
    expect(await failure(client({}, { throttleRetries: 2 }).send(invoiceRequest()))).toBeInstanceOf(RetriableError);
  });

  it('a timeout: a GET is retriable, a POST in-doubt (its body went out)', async () => {
    const s = answer(async () => {
      await delay('infinite');
      return new HttpResponse(null, { status: 204 });
    });
    const c = client({}, { readTimeoutMs: 50, retries: 1 });
    const get = await failure(c.getInvoice('R-1'));
    expect(get).toBeInstanceOf(RetriableError);
    expect(get.message).toMatch(/no complete response within 50 ms/);
    const post = await failure(c.send(invoiceRequest()));
    expect(post).toBeInstanceOf(RmaInDoubtError);
    expect(post.message).toMatch(/^target rma: POST https:\/\/rma\.example\/api\/latest\/clients\/muster\/invoices: no complete response within 50 ms .*may have booked it\)$/);
    expect(s.count()).toBe(3);
  });

  it('a dropped connection: a POST is in-doubt; a GET is retried', async () => {
    answer(() => HttpResponse.error());
    expect(await failure(client().send(invoiceRequest()))).toBeInstanceOf(RmaInDoubtError);
    let n = 0;
    server.resetHandlers();
    answer(() => (++n === 1 ? HttpResponse.error() : HttpResponse.json({ invnumber: 'R-1', amount: '106.92' })));
    expect(await client().getInvoice('R-1')).toMatchObject({ invnumber: 'R-1' });
  });

  it('a connection that was never made (refused) is retriable even for a POST: nothing was sent', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const c = client({ baseUrl: `http://127.0.0.1:${closed}` }, { retries: 0 });
    const error = await failure(c.send(invoiceRequest()));
    expect(error).toBeInstanceOf(RetriableError);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('an unreadable 200 is retriable', async () => {
    answer(() => new HttpResponse('<html>maintenance</html>', { status: 200 }));
    expect(await failure(client().getInvoice('R-1'))).toBeInstanceOf(RetriableError);
  });
});

describe('reads: single-or-array, charts, parts, saldo', () => {
  it('parts: a list, a single object (one part), and the same in XML', async () => {
    const rma = new FakeRma();
    expect((await client().parts()).map((p) => p.partnumber)).toEqual(['BERATUNG', 'PROJEKT', 'RABATT', 'AKONTO']);
    rma.parts = ['ART-2'];
    expect((await client().parts()).map((p) => p.partnumber)).toEqual(['ART-2']);
    expect((await client({ format: 'xml' }).parts()).map((p) => p.partnumber)).toEqual(['ART-2']);
    rma.parts = [];
    expect(await client({ format: 'xml' }).parts()).toEqual([]);
  });

  it('charts: @-attributes (JSON) or plain keys, flags as booleans', async () => {
    const rma = new FakeRma();
    rma.charts = [{ '@accno': '1090', '@description': 'Transferkonto', '@link': 'AR_paid:AP_paid', '@allow_gl': 'true', '@is_active': 'true' }];
    expect(await client().charts()).toEqual([{ accno: '1090', description: 'Transferkonto', link: 'AR_paid:AP_paid', allowGl: true, isActive: true }]);
    server.resetHandlers();
    server.use(
      http.get(`${ORIGIN}${BASE}/charts`, () =>
        new HttpResponse('<charts><chart id="1" accno="1100" description="Forderungen" link="AR" allow_gl="false" is_active="true"><taxes/></chart><chart accno="2201" link="AR_tax" allow_gl="true" is_active="false"/></charts>', {
          headers: { 'content-type': 'application/xml' },
        }),
      ),
    );
    expect(await client({ format: 'xml' }).charts()).toEqual([
      { accno: '1100', description: 'Forderungen', link: 'AR', allowGl: false, isActive: true },
      { accno: '2201', description: '', link: 'AR_tax', allowGl: true, isActive: false },
    ]);
  });

  it('saldo: GET gl/v2/saldo?accno=…; transferBalance reads the transfer account in the bookkeeping currency', async () => {
    const rma = new FakeRma();
    rma.saldo = [{ accountnumber: '1090', accountname: 'Transferkonto', amount: '-12.3400' }];
    expect(await client().saldo('1090')).toEqual([{ accountnumber: '1090', accountname: 'Transferkonto', amount: '-12.3400' }]);
    expect(rma.seen[0]!.url.pathname).toBe(`${BASE}/gl/v2/saldo`);
    expect(await target().transferBalance()).toEqual({ CHF: -1234 });
    expect(await target({ saldoSign: 'negated' }).transferBalance()).toEqual({ CHF: 1234 });
    expect(await target({ transferAccount: '1091' }).transferBalance()).toEqual({ CHF: 0 });
    expect(rma.requests('GET', '/gl/v2/saldo').map((s) => s.url.searchParams.get('accno'))).toEqual(['1090', '1090', '1090', '1091']);
  });
});

describe('the target: invoices, credit notes, stornos', () => {
  it('delivers every kind in order, with invnumber / customernumber as external id', async () => {
    const rma = new FakeRma();
    const t = target();
    const docs = ['e1-customer', 'b1-credit-note', 'c2-storno', 'c2-transfer-storno', 'a5-invoice-article'].map(caseDoc);
    const ids = [];
    for (const doc of docs) ids.push((await t.deliver(doc)).externalId);
    expect(ids).toEqual(['C-17', 'G-1', 'R-10-S', 'R-10-S', 'A5-1']);
    expect(rma.invoices.get('R-10-S')).toMatchObject({ amount: -10692, paid: -10692 });
  });

  it('lookup-before-retry: the first POST commits and drops the connection; the GET finds it; no second POST', async () => {
    const rma = new FakeRma();
    let posts = 0;
    rma.fault = (s) => (s.method === 'POST' && ++posts === 1 ? 'drop-after' : undefined);
    const doc = a11('R-30');
    expect(await target().deliver(doc)).toEqual({ externalId: 'R-30' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices', 'GET /invoices/R-30']);
    expect(log.text()).toMatch(/invoice R-30: outcome unknown .*looking it up/);
    expect(log.text()).toContain('invoice R-30: Run my Accounts has it (found by the lookup after the failed send); not sent again');
  });

  it('a POST that dropped before RMA committed: not there → retriable; the next attempt looks first, then sends', async () => {
    const rma = new FakeRma();
    let posts = 0;
    rma.fault = (s) => (s.method === 'POST' && ++posts === 1 ? 'drop-before' : undefined);
    const t = target();
    const doc = a11('R-31');
    const error = await failure(t.deliver(doc));
    expect(error).toBeInstanceOf(RetriableError);
    expect(error.message).toContain('Run my Accounts does not have invoice R-31, so it will be sent again');
    expect(await t.deliver(doc)).toEqual({ externalId: 'R-31' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices', 'GET /invoices/R-31', 'GET /invoices/R-31', 'POST /invoices']);
  });

  it('when the lookup after a dropped POST fails too, the outcome stays unknown (in-doubt for deliver.ts)', async () => {
    const rma = new FakeRma();
    rma.fault = (s) => (s.method === 'POST' ? 'drop-after' : HttpResponse.json({ error: 'down' }, { status: 503 }));
    const error = await failure(target().deliver(a11('R-32')));
    expect(error).toBeInstanceOf(RmaInDoubtError);
  });

  it("deliver.ts's in-doubt lookup: found with the same amount → delivered; missing → null; another amount → permanent", async () => {
    const rma = new FakeRma();
    const t = target();
    rma.invoice('R-33', '106.92');
    expect(await t.lookup(a11('R-33'))).toEqual({ externalId: 'R-33' });
    expect(await t.lookup(a11('R-34'))).toBeNull();
    rma.invoice('R-35', '50.00');
    const error = await failure(t.lookup(a11('R-35')));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe('invoice R-35: Run my Accounts already has invoice number R-35 with amount CHF 50.00, but this document\'s total is 106.92: the number belongs to another document');
    rma.invoice('R-36', '106.92', '0.00', 'EUR');
    expect(await failure(t.lookup(a11('R-36')))).toBeInstanceOf(PermanentError);
  });

  it('a credit note is found by its negative amount (amountSign signed); absolute compares magnitudes', async () => {
    const rma = new FakeRma();
    const credit = caseDoc('b1-credit-note');
    rma.invoice('G-1', '-54.00');
    expect(await target().lookup(credit)).toEqual({ externalId: 'G-1' });
    rma.invoice('G-1', '54.00');
    expect(await failure(target().lookup(credit))).toBeInstanceOf(PermanentError);
    expect(await target({ amountSign: 'absolute' }).lookup(credit)).toEqual({ externalId: 'G-1' });
  });

  it('duplicate 400: RMA has it with the same amount → looked up and recorded as delivered', async () => {
    const rma = new FakeRma();
    rma.invoice('R-37', '106.92');
    expect(await target().deliver(a11('R-37'))).toEqual({ externalId: 'R-37' });
    expect(rma.seen.map((s) => `${s.method} ${s.path} ${s.method === 'POST' ? '' : ''}`.trim())).toEqual(['POST /invoices', 'GET /invoices/R-37']);
    expect(log.text()).toContain('invoice R-37: Run my Accounts refused it as sent before ("Invoice number R-37 already exists") and has it with the same amount; recorded as delivered');
  });

  it('duplicate 400 with another amount is permanent; a 400 for something else keeps its message', async () => {
    const rma = new FakeRma();
    rma.invoice('R-38', '1.00');
    expect((await failure(target().deliver(a11('R-38')))).message).toContain('already has invoice number R-38 with amount CHF 1.00');
    server.resetHandlers();
    const other = new FakeRma();
    other.fault = (s) => (s.method === 'POST' ? HttpResponse.json({ error: 'Customer C-17 does not exist' }, { status: 400 }) : undefined);
    const error = await failure(target().deliver(a11('R-39')));
    expect(error).toBeInstanceOf(RmaRejectedError);
    expect((error as RmaRejectedError).rmaMessage).toBe('Customer C-17 does not exist');
    expect(other.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices', 'GET /invoices/R-39']);
  });

  it('the same flows in XML', async () => {
    const rma = new FakeRma();
    rma.invoice('R-40', '106.92');
    expect(await target({}, { format: 'xml' }).deliver(a11('R-40'))).toEqual({ externalId: 'R-40' });
    let posts = 0;
    rma.fault = (s) => (s.method === 'POST' && ++posts === 1 ? 'drop-after' : undefined);
    expect(await target({}, { format: 'xml' }).deliver(a11('R-41'))).toEqual({ externalId: 'R-41' });
    expect(rma.requests('POST')).toHaveLength(2);
    expect(rma.invoices.get('R-41')!.amount).toBe(10692);
  });

  it('a document RMA cannot express (a TEXT limit) is refused as permanent, nothing sent', async () => {
    const rma = new FakeRma();
    const doc = buildCustomer({ key: key('customer', 'C-99'), number: 'C-99', name: 'x'.repeat(65), address: {} });
    const error = await failure(target().deliver(doc));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toMatch(/^customer C-99: .*name "x+" is 65 characters; Run my Accounts allows 64/);
    expect(rma.seen).toHaveLength(0);
  });

  it('customers: the upsert is sent as idempotent; lookup compares the fields kontor sends', async () => {
    const rma = new FakeRma();
    const t = target();
    const customer = caseDoc('e1-customer');
    expect(await t.lookup(customer)).toBeNull();
    expect(await t.deliver(customer)).toEqual({ externalId: 'C-17' });
    expect(await t.lookup(customer)).toEqual({ externalId: 'C-17' });
    rma.customers.get('C-17')!.city = 'Bern';
    expect(await t.lookup(customer)).toBeNull();
  });
});

describe('the target: article variant', () => {
  it('checks part numbers against GET /parts once (cached) and refuses an unknown part, naming it, before sending', async () => {
    const rma = new FakeRma();
    rma.parts = ['BERATUNG'];
    let now = 0;
    const t = target({ now: () => now });
    await t.deliver(buildInvoice(articleSales('A5-2', [part('BERATUNG', 1, '10.00')])));
    await t.deliver(buildInvoice(articleSales('A5-3', [part('BERATUNG', 2, '10.00')])));
    const error = await failure(t.deliver(caseDoc('a5-invoice-article')));
    expect(error).toBeInstanceOf(RmaUnknownPartError);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as RmaUnknownPartError).parts).toEqual(['PROJEKT']);
    expect(error.message).toBe(`invoice A5-1: part "PROJEKT" is not defined in Run my Accounts (GET /parts); create it there or fix the mapping's article numbers, then replay`);
    expect(rma.requests('GET', '/parts')).toHaveLength(1);
    expect(rma.requests('POST', '/invoices').map((s) => s.parsed!.invnumber)).toEqual(['A5-2', 'A5-3']);
    // Once the list is older than partsTtlMs (or forgotten), it is read again.
    rma.parts = ['BERATUNG', 'PROJEKT'];
    now = 600_000;
    expect(await t.deliver(caseDoc('a5-invoice-article'))).toEqual({ externalId: 'A5-1' });
    expect(rma.requests('GET', '/parts')).toHaveLength(2);
  });

  it('several unknown parts are all named; checkParts false sends without asking', async () => {
    const rma = new FakeRma();
    rma.parts = [];
    const error = await failure(target().deliver(caseDoc('a5-invoice-article')));
    expect((error as RmaUnknownPartError).parts).toEqual(['BERATUNG', 'PROJEKT']);
    expect(error.message).toContain('parts "BERATUNG", "PROJEKT" are not defined');
    expect(await target({ checkParts: false }).deliver(caseDoc('a5-invoice-article'))).toEqual({ externalId: 'A5-1' });
  });
});

describe('the target: payments with the ledger baseline (the default with a paidBefore hook)', () => {
  const d1 = () => caseDoc('d1-payment') as PaymentDocument;
  /** kontor's own ledger: what it delivered on the invoice before this payment. */
  const ledger = (paid: number) => target({ paidBefore: async () => paid as Minor });

  it('a plain success is one POST, without reading the invoice first', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    expect(await ledger(0).deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices/R-20/payments']);
    expect(rma.invoices.get('R-20')!.paid).toBe(5000);
  });

  it('the POST books and drops: paid = ledger + amount → delivered, not sent again', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92', '10.00');
    rma.fault = (s) => (s.method === 'POST' ? 'drop-after' : undefined);
    expect(await ledger(1000).deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices/R-20/payments', 'GET /invoices/R-20']);
    expect(rma.invoices.get('R-20')!.paid).toBe(6000);
  });

  it('the POST drops before booking: in-doubt; the lookup says not booked; the resend books it once', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    let posts = 0;
    rma.fault = (s) => (s.method === 'POST' && ++posts === 1 ? 'drop-before' : undefined);
    const t = ledger(0);
    expect(await failure(t.deliver(d1()))).toBeInstanceOf(RmaInDoubtError);
    expect(await t.lookup(d1())).toBeNull();
    expect(await t.deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.requests('POST')).toHaveLength(2);
    expect(rma.invoices.get('R-20')!.paid).toBe(5000);
  });

  it('a payment booked by hand in RMA meanwhile: neither ledger nor ledger + amount → in-doubt for a person', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    rma.fault = (s) => {
      if (s.method !== 'POST') return undefined;
      rma.invoices.get('R-20')!.paid = 2000 as Minor;
      return 'drop-before';
    };
    const error = await failure(ledger(0).deliver(d1()));
    expect(error).toBeInstanceOf(RmaInDoubtError);
    expect(error.message).toContain('invoice R-20 shows CHF 20.00 paid, CHF 0.00 before the send: that is neither with nor without this payment of CHF 50.00');
  });

  it("a payment on an invoice RMA does not have (yet): the POST's 404 is retriable", async () => {
    const rma = new FakeRma();
    const error = await failure(ledger(0).deliver(d1()));
    expect(error).toBeInstanceOf(RetriableError);
    expect(error.message).toBe('payment R-20/p1: Run my Accounts has no invoice R-20 (yet) to book it on');
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['POST /invoices/R-20/payments']);
  });

  it("paymentBaseline 'read' reads the invoice before each POST even with the hook", async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    expect(await target({ paidBefore: async () => 0 as Minor, paymentBaseline: 'read' }).deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /invoices/R-20', 'POST /invoices/R-20/payments']);
  });
});

describe("the target: payments with the 'read' baseline (paid-delta check)", () => {
  const d1 = () => caseDoc('d1-payment') as PaymentDocument;

  it('reads the invoice before posting; a plain success is one GET and one POST', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    expect(await target().deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /invoices/R-20', 'POST /invoices/R-20/payments']);
    expect(rma.invoices.get('R-20')!.paid).toBe(5000);
  });

  it('the POST books and drops: paid grew by the amount → delivered, not sent again', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92', '10.00');
    rma.fault = (s) => (s.method === 'POST' ? 'drop-after' : undefined);
    expect(await target().deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.requests('POST')).toHaveLength(1);
    expect(rma.invoices.get('R-20')!.paid).toBe(6000);
    expect(log.text()).toContain('the paid amount of invoice R-20 grew by the payment; recorded as delivered, not sent again');
  });

  it('the POST drops before booking: in-doubt; the lookup says not booked; the resend books it once', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    let posts = 0;
    rma.fault = (s) => (s.method === 'POST' && ++posts === 1 ? 'drop-before' : undefined);
    const t = target();
    const error = await failure(t.deliver(d1()));
    expect(error).toBeInstanceOf(RmaInDoubtError);
    expect(error.message).toContain('invoice R-20 shows no such payment yet, kontor looks again before sending it again');
    // What deliver.ts does with an in-doubt entry: lookup, then deliver.
    expect(await t.lookup(d1())).toBeNull();
    expect(await t.deliver(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.requests('POST')).toHaveLength(2);
    expect(rma.invoices.get('R-20')!.paid).toBe(5000);
  });

  it('a late commit: the dropped POST lands before the lookup → the lookup finds it, nothing is resent', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    rma.fault = (s) => (s.method === 'POST' ? 'drop-before' : undefined);
    const t = target();
    expect(await failure(t.deliver(d1()))).toBeInstanceOf(RmaInDoubtError);
    rma.invoices.get('R-20')!.paid = 5000 as Minor; // RMA finished the booking meanwhile
    expect(await t.lookup(d1())).toEqual({ externalId: 'R-20' });
    expect(rma.requests('POST')).toHaveLength(1);
  });

  it('paid changed by something else meanwhile: stays in-doubt for a person', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    rma.fault = (s) => {
      if (s.method !== 'POST') return undefined;
      rma.invoices.get('R-20')!.paid = 2000 as Minor; // a bank payment booked in RMA meanwhile
      return 'drop-before';
    };
    const error = await failure(target().deliver(d1()));
    expect(error).toBeInstanceOf(RmaInDoubtError);
    expect(error.message).toContain('invoice R-20 shows CHF 20.00 paid, CHF 0.00 before the send: that is neither with nor without this payment of CHF 50.00');
  });

  it('after a restart (no baseline): paid 0 → not booked; otherwise in-doubt, unless the paidBefore hook knows', async () => {
    const rma = new FakeRma();
    rma.invoice('R-20', '106.92');
    expect(await target().lookup(d1())).toBeNull();
    rma.invoices.get('R-20')!.paid = 5000 as Minor;
    const error = await failure(target().lookup(d1()));
    expect(error).toBeInstanceOf(RmaInDoubtError);
    expect(error.message).toContain('cannot tell whether the payment of CHF 50.00 was booked');
    expect(await target({ paidBefore: async () => 0 as Minor }).lookup(d1())).toEqual({ externalId: 'R-20' });
    expect(await target({ paidBefore: async () => 5000 as Minor }).lookup(d1())).toBeNull();
  });

  it('the storno transfers: +total on the invoice, −total on the storno; both documents end paid', async () => {
    const rma = new FakeRma();
    const t = target();
    await t.deliver(a11('R-10'));
    for (const name of ['c2-storno', 'c2-transfer-invoice', 'c2-transfer-storno']) await t.deliver(caseDoc(name));
    expect(rma.invoices.get('R-10')).toMatchObject({ amount: 10692, paid: 10692 });
    expect(rma.invoices.get('R-10-S')).toMatchObject({ amount: -10692, paid: -10692 });
  });

  it('a payment on an invoice RMA does not have (yet) is retriable, nothing posted', async () => {
    const rma = new FakeRma();
    const error = await failure(target().deliver(d1()));
    expect(error).toBeInstanceOf(RetriableError);
    expect(error.message).toBe('payment R-20/p1: Run my Accounts has no invoice R-20 (yet) to book it on');
    expect(rma.requests('POST')).toHaveLength(0);
  });
});

describe('credentials', () => {
  it('403 stops the target: one alert, and no further request reaches RMA', async () => {
    const rma = new FakeRma();
    const t = target({ client: new RunMyAccountsClient({ name: 'rma', baseUrl: ORIGIN, mandant: 'muster', apiKey: 'wrong-key-0000', log: rmaLog, http: { transport: 'fetch', rateLimit: undefined } }) });
    const first = await failure(t.deliver(a11('R-50')));
    expect(first).toBeInstanceOf(RmaCredentialError);
    expect(log.text().match(/^error: ALERT: target rma stopped: /gm)).toHaveLength(1);
    const again = await failure(t.deliver(a11('R-51')));
    expect(again).toBeInstanceOf(RmaCredentialError);
    expect(again.message).toMatch(/^target rma is stopped until its API key is fixed and kontor restarted: /);
    expect(await failure(t.lookup(a11('R-51')))).toBeInstanceOf(RmaCredentialError);
    expect(await failure(t.transferBalance())).toBeInstanceOf(RmaCredentialError);
    expect(rma.seen).toHaveLength(1);
    expect(log.text().match(/ALERT/g)).toHaveLength(1);
    await t.close();
  });

  it('the key is in no error message and no log line, even when RMA echoes the request (query auth)', async () => {
    // An unfriendly server that quotes the URL (with ?api_key=…) and the Authorization header back.
    const echo = ({ request }: { request: Request }) => {
      const url = new URL(request.url);
      const header = request.headers.get('authorization') ?? '';
      // Also the bare key, where no pattern (api_key=, Bearer …) would give it away.
      return `${request.url} ${header} token=${header.replace(/^Bearer /, '') || (url.searchParams.get('api_key') ?? '')}`;
    };
    let mode: 400 | 403 | 500 | 'slow' | 'drop' = 400;
    server.use(
      http.all(`${ORIGIN}/*`, async (info) => {
        if (mode === 'slow') await delay('infinite');
        if (mode === 'drop' || mode === 'slow') return HttpResponse.error();
        return HttpResponse.json({ error: `bad request ${echo(info)}` }, { status: mode });
      }),
    );
    for (const auth of ['query', 'bearer'] as const) {
      for (const m of [400, 403, 500, 'slow', 'drop'] as const) {
        mode = m;
        const c = client({ auth }, { readTimeoutMs: 30, retries: 1 });
        const t = target({ client: c });
        await failure(t.deliver(a11('R-60')));
        await failure(t.deliver(d1Doc()));
        await failure(c.getInvoice('R-60'));
        await failure(c.saldo('1090'));
      }
    }
    // The server did see the key; our side shows [REDACTED] where it was echoed.
    expect(errors.some((e) => (e as Error).message.includes('[REDACTED]'))).toBe(true);
    expect(errors.length).toBeGreaterThan(30);
    // (afterEach checks every error and the log for every form of the key.)
  });

  it('the HttpClient fetch transport redacts a query key in the URL it shows', async () => {
    server.use(http.get(`${ORIGIN}/x`, () => new HttpResponse('nope', { status: 418 })));
    const h = new HttpClient({ name: 'probe', transport: 'fetch', secrets: [KEY] });
    const error = await failure(h.request({ method: 'GET', url: `${ORIGIN}/x?api_key=${encodeURIComponent(KEY)}` }));
    expect(error.message).toBe(`probe: GET ${ORIGIN}/x?api_key=[REDACTED]: HTTP 418: nope`);
    await h.close();
  });
});

function d1Doc(): PaymentDocument {
  return caseDoc('d1-payment') as PaymentDocument;
}
