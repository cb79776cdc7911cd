/**
 * The Run my Accounts emulator (src/targets/runmyaccounts/emulator.ts) on loopback, driven with
 * plain fetch (not kontor's client) and with the request bodies kontor sends (rmaRequestsFor),
 * built from real documents as in targets.runmyaccounts.requests.test.ts: the whole flow
 * (customer, A1.1, article invoices, payment, credit note, storno with its two transfers), RMA's
 * rules (unique invnumber, known customers, parts and accounts with the right link), auth,
 * lookups, XML, fault injection and `kontor sandbox runmyaccounts` as a process.
 */
import { XMLParser } from 'fast-xml-parser';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  buildCreditNote,
  buildCustomer,
  buildInvoice,
  buildPayment,
  buildStorno,
  openItemOf,
  postingsOf,
  sum,
  type BookDocument,
  type InvoiceDocument,
  type Minor,
} from '../src/books/index.js';
import { startRunMyAccounts, type RmaEmulator, type RmaEmulatorOptions } from '../src/targets/runmyaccounts/emulator.js';
import { rmaRequestsFor, type RmaRequest } from '../src/targets/runmyaccounts/requests.js';
import { runSandbox, startSandbox } from './targets-helpers.js';
import { articleSales, chf, income, key, part, sales } from './usecase-documents.js';

const KEY = 'test-key-2f9c41d7';
const MANDANT = 'muster';

/** The part master behind test/usecase-documents.ts ARTICLES (8 % on 2201 in 2017). */
const PARTS: RmaEmulatorOptions['parts'] = [
  { partnumber: 'BERATUNG', description: 'Beratung', unit: 'h', income_accno: '3400', tax_accnos: '2201', sellprice: '120.00' },
  { partnumber: 'PROJEKT', income_accno: '3600', tax_accnos: '2201' },
  { partnumber: 'RABATT', income_accno: '3400', tax_accnos: '2201' },
  { partnumber: 'AKONTO', income_accno: '2030', tax_accnos: '2201' },
];

/** PSP clearing accounts a mandant would add to the base chart. */
const CLEARING: RmaEmulatorOptions['accounts'] = [
  { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
  { accno: '1092', description: 'Clearing PayPal (closed)', category: 'A', link: 'AR_paid', is_active: false },
];

const running: RmaEmulator[] = [];

async function emulator(options: RmaEmulatorOptions = {}): Promise<RmaEmulator> {
  const emu = await startRunMyAccounts({ mandants: [MANDANT, 'zweite'], key: KEY, parts: PARTS, accounts: CLEARING, ...options });
  running.push(emu);
  return emu;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: () => Record<string, unknown>;
}

interface CallOptions {
  body?: string;
  contentType?: string;
  accept?: string | null;
  auth?: 'bearer' | 'query' | 'none';
  key?: string;
  mandant?: string;
}

/** One request to `…/clients/{mandant}{path}` (or to `path` itself when it starts with /api or /_control). */
async function call(emu: RmaEmulator, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const auth = options.auth ?? 'bearer';
  const target = new URL(path.startsWith('/api/') || path.startsWith('/_control/') ? `${emu.url}${path}` : `${emu.apiBase(options.mandant ?? MANDANT)}${path}`);
  if (auth === 'query') target.searchParams.set('api_key', options.key ?? KEY);
  const headers: Record<string, string> = {};
  if (auth === 'bearer') headers.authorization = `Bearer ${options.key ?? KEY}`;
  if (options.accept !== null) headers.accept = options.accept ?? 'application/json';
  if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(target, { method, headers, body: options.body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** POSTs kontor's requests for `doc`, as JSON with Bearer auth; answers each reply. */
async function deliver(emu: RmaEmulator, doc: BookDocument, mandant = MANDANT): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (const request of rmaRequestsFor(doc, { mandant })) replies.push(await call(emu, request.method, request.path, { body: JSON.stringify(request.body) }));
  return replies;
}

/** The one request kontor sends for `doc`. */
const requestOf = (doc: BookDocument): RmaRequest & { body: Record<string, unknown> } => {
  const [request] = rmaRequestsFor(doc, { mandant: MANDANT });
  return request as RmaRequest & { body: Record<string, unknown> };
};

/** kontor's own journal of the documents: Σ postings per account, debit-positive like the emulator's ledger. */
function journal(docs: BookDocument[]): Record<string, Minor> {
  const out: Record<string, Minor> = {};
  for (const p of docs.flatMap(postingsOf)) out[p.account] = sum([out[p.account] ?? (0 as Minor), p.amount]);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const customer = () =>
  buildCustomer({
    key: key('customer', 'C-17'),
    number: 'C-17',
    name: 'Hans Muster',
    firstName: 'Hans',
    lastName: 'Muster',
    email: 'hans@muster.ch',
    address: { street: 'Rössliweg 1', zipcode: '3106', city: 'Tenna', country: 'CH' },
  });
const a11 = (number = 'A1-1') => buildInvoice(sales(number, [income('99.00')]));
const paymentOf = (invoice: InvoiceDocument, account: string, part = 'p1') =>
  buildPayment({ key: key('payment', invoice.number, part), item: openItemOf(invoice, []), purpose: 'payment', account, amount: invoice.total, date: '2017-03-20', reference: `pi_${invoice.number}` });

/** GET /gl/v2/saldo for one account: its row's amount. */
async function saldo(emu: RmaEmulator, accno: string, mandant = MANDANT): Promise<string> {
  const reply = await call(emu, 'GET', `/gl/v2/saldo?accno=${accno}`, { mandant });
  expect(reply.status).toBe(200);
  const row = reply.json().row as Record<string, string>;
  // One account: RMA's JSON gives the single row as an object, not an array.
  expect(Array.isArray(row)).toBe(false);
  expect(row.accountnumber).toBe(accno);
  return row.amount!;
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false });

describe('the whole flow on the wire kontor sends', () => {
  it('customer, A1.1, article invoices, payment, credit note, storno with its transfers: books as kontor journals them, 1090 back to zero', async () => {
    const emu = await emulator();
    const docs: BookDocument[] = [];
    const send = async (doc: BookDocument, status: number) => {
      const replies = await deliver(emu, doc);
      expect(replies.map((r) => [r.status, r.text])).toEqual(replies.map(() => [status, expect.any(String)]));
      docs.push(doc);
      return replies[0]!;
    };

    // E1: the customer first; RMA's create-or-update answers 204.
    await send(customer(), 204);
    expect((await call(emu, 'GET', '/customers/C-17')).json()).toMatchObject({ customernumber: 'C-17', name: 'Hans Muster', address1: 'Rössliweg 1', city: 'Tenna' });

    // A1.1: 99.00 on 3400 plus 7.92 VAT on 2201, booking variant.
    const a1 = a11();
    expect((await send(a1, 204)).text).toBe('');
    const stored = (await call(emu, 'GET', '/invoices/A1-1')).json();
    expect(stored).toMatchObject({
      invnumber: 'A1-1',
      amount: '106.92',
      netamount: '99.00',
      paid: '0.00',
      status: 'OVERDUE', // due 2017-04-14
      currency: 'CHF',
      ar_accno: '1100',
      transdate: '2017-03-15T00:00:00+01:00',
      taxincluded: 'false',
      customer: { customernumber: 'C-17', name: 'Hans Muster' },
      // Single entries come back as objects, as RMA's JSON does.
      incomeentries: { incomeentry: { amount: '99.00', income_accno: '3400', description: 'Dienstleistung' } },
      taxentries: { taxentry: { amount: '7.92', tax_accno: '2201' } },
    });

    // A6 (net prices) and A5 (gross prices) through the part master: RMA computes the VAT.
    const a6 = buildInvoice(articleSales('A6-1', [part('RABATT', 1, '-100.00'), part('BERATUNG', 4, '100.00'), part('BERATUNG', 6, '100.00')]));
    await send(a6, 204);
    const a5 = buildInvoice(articleSales('A5-2', [part('BERATUNG', 2, '53.46')], { vat: { basis: 'gross', rounding: 'per-line' } }));
    await send(a5, 204);
    const a6Stored = (await call(emu, 'GET', '/invoices/A6-1')).json();
    expect(a6Stored).toMatchObject({ amount: '972.00', netamount: '900.00', taxincluded: 'false' });
    expect((a6Stored.parts as { part: unknown[] }).part).toEqual([
      expect.objectContaining({ partnumber: 'RABATT', quantity: '1', sellprice: '-100.00', income_accno: '3400', tax_accnos: '2201' }),
      expect.objectContaining({ partnumber: 'BERATUNG', quantity: '4', sellprice: '100.00', unit: 'h' }),
      expect.objectContaining({ partnumber: 'BERATUNG', quantity: '6', sellprice: '100.00' }),
    ]);
    expect((await call(emu, 'GET', '/invoices/A5-2')).json()).toMatchObject({ amount: '106.92', netamount: '99.00', taxincluded: 'true' });

    // D1: A1.1 paid in full on the PSP clearing account: 200 with the payment.
    const payment = paymentOf(a1, '1091');
    const paid = await send(payment, 200);
    expect(paid.json()).toMatchObject({ invnumber: 'A1-1', amount_paid: '106.92', payment_accno: '1091', datepaid: '2017-03-20T00:00:00+01:00', source: 'pi_A1-1', currency: 'CHF' });
    expect((await call(emu, 'GET', '/invoices/A1-1')).json()).toMatchObject({ status: 'PAID', paid: '106.92' });

    // B2: a credit note on A6-1 is an invoice with negative amounts.
    const credit = buildCreditNote(articleSales('G-6', [part('BERATUNG', -1, '100.00')], { key: key('credit-note', 'G-6'), date: '2017-04-03', dueDate: '2017-04-03' }), a6);
    await send(credit, 204);
    expect((await call(emu, 'GET', '/invoices/G-6')).json()).toMatchObject({ amount: '-108.00', netamount: '-100.00' });

    // C2: storno of R-10: the mirror document, then +total on R-10 and −total on R-10-S, both on 1090.
    const r10 = a11('R-10');
    await send(r10, 204);
    const { storno, transfers } = buildStorno(r10, {
      key: key('storno', 'R-10'),
      number: 'R-10-S',
      transferAccount: '1090',
      paymentKey: (side) => key('payment', 'R-10', `storno-${side}`),
      date: '2017-04-02',
    });
    await send(storno, 204);
    expect(transfers).toHaveLength(2);
    await send(transfers[0]!, 200);
    expect(await saldo(emu, '1090')).toBe('106.9200');
    await send(transfers[1]!, 200);
    expect(await saldo(emu, '1090')).toBe('0.0000');
    for (const n of ['R-10', 'R-10-S']) expect((await call(emu, 'GET', `/invoices/${n}`)).json()).toMatchObject({ status: 'PAID' });

    // Every invoice's amount is kontor's total, and the books are kontor's journal to the cent.
    for (const doc of docs) {
      if (doc.kind === 'invoice' || doc.kind === 'credit-note' || doc.kind === 'storno') expect(emu.invoices().find((i) => i.invnumber === doc.number)?.amount, doc.number).toBe(doc.total);
    }
    const ledger = emu.ledger();
    expect(sum(Object.values(ledger))).toBe(0);
    expect(ledger).toEqual(journal(docs));
    expect(ledger).toEqual({ '1090': chf('0.00'), '1091': chf('106.92'), '1100': chf('970.92'), '2201': chf('-79.84'), '3400': chf('-998.00') });
    // The saldo of each account in its natural orientation: assets debit-, income and VAT credit-positive.
    expect(await saldo(emu, '1100')).toBe('970.9200');
    expect(await saldo(emu, '3400')).toBe('998.0000');
    expect(await saldo(emu, '2201')).toBe('79.8400');
    const all = (await call(emu, 'GET', '/gl/v2/saldo?accno=1xxx')).json().row as Record<string, string>[];
    expect(all.map((r) => [r.accountnumber, r.accountname, r.amount])).toEqual([
      ['1090', 'Transferkonto', '0.0000'],
      ['1091', 'Clearing Stripe', '106.9200'],
      ['1100', 'Forderungen Schweiz', '970.9200'],
    ]);
    expect(emu.payments().map((p) => [p.invnumber, p.payment_accno, p.amount])).toEqual([
      ['A1-1', '1091', chf('106.92')],
      ['R-10', '1090', chf('106.92')],
      ['R-10-S', '1090', chf('-106.92')],
    ]);
    expect(emu.customers().map((c) => c.customernumber)).toEqual(['C-17']);
    expect(emu.stats).toMatchObject({ writes: docs.length, committed: docs.length });
    expect(Object.keys(emu.stats.byStatus).sort()).toEqual(['200', '204']);
  });

  it('each mandant keeps its own books', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    expect((await deliver(emu, a11()))[0]!.status).toBe(204);
    expect((await call(emu, 'GET', '/customers', { mandant: 'zweite' })).json()).toEqual({});
    expect((await deliver(emu, a11(), 'zweite'))[0]!.json()).toEqual({ error: 'customernumber "C-17": there is no such customer' });
    expect(emu.ledger('zweite')).toEqual({});
    expect(emu.ledger(MANDANT)['1100']).toBe(chf('106.92'));
  });
});

describe("RMA's rules", () => {
  it('a duplicate invnumber is refused with 400 and an error body, and books nothing', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    expect((await deliver(emu, a11()))[0]!.status).toBe(204);
    const before = emu.ledger();
    const [again] = await deliver(emu, buildInvoice(sales('A1-1', [income('500.00')])));
    expect(again!.status).toBe(400);
    expect(again!.headers.get('content-type')).toMatch(/^application\/json/);
    // RMA's spacing, which clients look for: { "error": "…" }.
    expect(again!.text).toMatch(/^\{ "error": "/);
    expect(again!.json().error).toMatch(/invnumber "A1-1" already exists/);
    expect(emu.ledger()).toEqual(before);
    expect((await call(emu, 'GET', '/invoices/A1-1')).json()).toMatchObject({ amount: '106.92' });
  });

  it('accounts must exist, be active and have the right link: income AR_amount, tax AR_tax, ar_accno AR, payment AR_paid', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    type Entry = Record<string, string>;
    type InvoiceBody = { invnumber?: string; ar_accno: string; customernumber: string; incomeentries: { incomeentry: Entry[] }; taxentries: { taxentry: Entry[] }; parts: { part: Entry[] } };
    const refused = async (mutate: (body: InvoiceBody) => void, expected: RegExp, doc: BookDocument = a11()) => {
      const request = requestOf(doc);
      const body = structuredClone(request.body) as unknown as InvoiceBody;
      mutate(body);
      const reply = await call(emu, 'POST', request.path, { body: JSON.stringify(body) });
      expect([reply.status, reply.json().error]).toEqual([400, expect.stringMatching(expected)]);
    };
    await refused((b) => (b.incomeentries.incomeentry[0]!.income_accno = '2200'), /income_accno 2200 \(Geschuldete MWST\) is not an income account: its link is "AP_amount", AR_amount is needed/);
    await refused((b) => (b.incomeentries.incomeentry[0]!.income_accno = '9999'), /income_accno 9999: there is no account 9999/);
    await refused((b) => (b.taxentries.taxentry[0]!.tax_accno = '2200'), /taxentries\.taxentry\[0\]\.tax_accno 2200 .* AR_tax is needed/);
    await refused((b) => (b.ar_accno = '1020'), /ar_accno 1020 \(Bank\) is not a receivables account/);
    await refused((b) => (b.customernumber = 'C-99'), /customernumber "C-99": there is no such customer/);
    await refused((b) => delete b.invnumber, /invnumber is missing/);
    await refused((b) => (b.parts = { part: [{ partnumber: 'NOPE', quantity: '1', sellprice: '1.00' }] }), /parts and incomeentries|not both/);
    await refused((b) => (b.parts.part[0]!.partnumber = 'NOPE'), /parts\.part\[0\]\.partnumber "NOPE": there is no such part/, buildInvoice(articleSales('A5-9', [part('BERATUNG', 1, '10.00')])));
    await refused((b) => (b.incomeentries.incomeentry[0]!.amount = '99.001'), /amount "99.001" is not an amount with at most 2 decimals/);

    expect((await deliver(emu, a11()))[0]!.status).toBe(204);
    const pay = (account: string) => requestOf(paymentOf(a11(), account));
    for (const [account, message] of [
      ['3400', /payment_accno 3400 \(Dienstleistungserlöse\) is not a payment account: its link is "AR_amount:IC_income", AR_paid is needed/],
      ['1100', /payment_accno 1100 .* AR_paid is needed/],
      ['1092', /payment_accno 1092 \(Clearing PayPal \(closed\)\) is not active/],
      ['6840', /no account 6840/],
    ] as const) {
      const reply = await call(emu, 'POST', pay(account).path, { body: JSON.stringify(pay(account).body) });
      expect([reply.status, reply.json().error]).toEqual([400, expect.stringMatching(message)]);
    }
    const unknown = requestOf(paymentOf(a11('R-404'), '1090'));
    const reply = await call(emu, 'POST', unknown.path, { body: JSON.stringify(unknown.body) });
    expect([reply.status, reply.json().error]).toEqual([400, 'invoice "R-404": there is no such invoice']);
    // Nothing refused reached the books.
    expect(emu.ledger()).toEqual({ '1100': chf('106.92'), '2201': chf('-7.92'), '3400': chf('-99.00') });
    expect(emu.stats.committed).toBe(2);
  });

  it('GET /charts answers the base chart, the VAT accounts and the extra accounts with their links', async () => {
    const emu = await emulator();
    const charts = (await call(emu, 'GET', '/charts')).json().chart as Record<string, unknown>[];
    const byAccno = new Map(charts.map((c) => [c['@accno'], c]));
    expect(byAccno.get('1090')).toMatchObject({ '@description': 'Transferkonto', '@link': 'AR_paid:AP_paid', '@allow_gl': 'true', '@is_active': 'true' });
    expect(byAccno.get('1100')).toMatchObject({ '@link': 'AR', '@allow_gl': 'false' });
    expect(byAccno.get('3200')).toMatchObject({ '@link': 'AR_amount:IC_income' });
    for (const accno of ['2201', '2202', '2203']) expect(String(byAccno.get(accno)?.['@link']).split(':')).toContain('AR_tax');
    expect(byAccno.get('2201')?.taxes).toEqual({ tax: [{ '@rate': '0.080', '@validto': '2017-12-31' }, { '@rate': '0.077', '@validto': '2023-12-31' }, { '@rate': '0.081', '@validto': '' }] });
    expect(byAccno.get('1091')).toMatchObject({ '@link': 'AR_paid', '@is_active': 'true' });
    expect(byAccno.get('1092')).toMatchObject({ '@is_active': 'false' });
    expect(byAccno.has('6840')).toBe(false);
    expect(charts.length).toBe(169 + 3 + 2);
  });

  it('GET /parts lists the part master; lists of one are objects, empty lists {} (or arrays with lists: arrays)', async () => {
    const emu = await emulator();
    const parts = (await call(emu, 'GET', '/parts')).json().part as Record<string, string>[];
    expect(parts.map((p) => [p.partnumber, p.income_accno, p.tax_accnos])).toEqual([
      ['BERATUNG', '3400', '2201'],
      ['PROJEKT', '3600', '2201'],
      ['RABATT', '3400', '2201'],
      ['AKONTO', '2030', '2201'],
    ]);
    await deliver(emu, customer());
    await deliver(emu, a11());
    const year2017 = '/invoices?from=2017-01-01&to=2017-12-31';
    expect((await call(emu, 'GET', year2017)).json().invoice).toMatchObject({ invnumber: 'A1-1' });
    await deliver(emu, a11('A1-2'));
    expect((await call(emu, 'GET', year2017)).json().invoice).toMatchObject([{ invnumber: 'A1-1' }, { invnumber: 'A1-2' }]);
    // Without from, RMA lists from the account close date: invoices of 2017 are not there.
    expect((await call(emu, 'GET', '/invoices')).json()).toEqual({});
    expect((await call(emu, 'GET', `${year2017}&status=PAID`)).json()).toEqual({});
    expect((await call(emu, 'GET', `${year2017}&status=OPEN&customer_number=C-17`)).json().invoice).toHaveLength(2);

    const arrays = await emulator({ lists: 'arrays', parts: [PARTS[0]!] });
    expect((await call(arrays, 'GET', '/parts')).json().part).toEqual([expect.objectContaining({ partnumber: 'BERATUNG' })]);
    expect((await call(arrays, 'GET', '/invoices')).json()).toEqual({ invoice: [] });
  });

  it('refuses a part master or faults that cannot work', async () => {
    await expect(startRunMyAccounts({ parts: [{ partnumber: 'X', income_accno: '2200' }] })).rejects.toThrow(/part X: income_accno 2200 .* AR_amount is needed/);
    await expect(startRunMyAccounts({ parts: [{ partnumber: 'X', income_accno: '3200', tax_accnos: '2200' }] })).rejects.toThrow(/AR_tax is needed/);
    await expect(startRunMyAccounts({ faults: { errorRate: 2 } })).rejects.toThrow(RangeError);
  });
});

describe('auth and lookups', () => {
  it('403 with an error body for a missing or wrong key, or a mandant the key does not open; the key works as Bearer and as api_key', async () => {
    const emu = await emulator({ keys: { zweite: 'other-key-7d1e' } });
    for (const options of [{ auth: 'none' }, { key: 'wrong' }, { auth: 'query', key: 'wrong' }, { mandant: 'zweite' }, { mandant: 'unbekannt' }] as CallOptions[]) {
      const reply = await call(emu, 'GET', '/charts', options);
      expect([reply.status, reply.json().error], JSON.stringify(options)).toEqual([403, expect.stringMatching(/^Access forbidden/)]);
    }
    expect((await call(emu, 'GET', '/charts', { auth: 'query' })).status).toBe(200);
    expect((await call(emu, 'GET', '/charts', { mandant: 'zweite', key: 'other-key-7d1e' })).status).toBe(200);
    // No key in the request log.
    const logged = JSON.stringify(emu.requests);
    expect(logged).not.toContain(KEY);
    expect(logged).not.toContain('other-key-7d1e');
    expect(emu.requests.filter((r) => r.auth === 'query').map((r) => r.url)).toEqual([
      '/api/latest/clients/muster/charts?api_key=[REDACTED]',
      '/api/latest/clients/muster/charts?api_key=[REDACTED]',
    ]);
  });

  it('404 with an error body for an invoice or customer that is not there, and for an unknown resource', async () => {
    const emu = await emulator();
    for (const path of ['/invoices/R-404', '/customers/C-404', '/payables']) {
      const reply = await call(emu, 'GET', path);
      expect([reply.status, reply.json()]).toEqual([404, { error: expect.any(String) }]);
    }
    expect((await call(emu, 'GET', '/invoices/R-404')).json().error).toBe('invoice "R-404" not found');
    const asXml = await call(emu, 'GET', '/invoices/R-404', { accept: 'application/xml' });
    expect([asXml.status, xml.parse(asXml.text).error]).toEqual([404, { message: 'invoice "R-404" not found' }]);
  });

  it('an invoice number with a slash is addressed URL-encoded', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    const invoice = a11('2026/17');
    expect((await deliver(emu, invoice))[0]!.status).toBe(204);
    expect(((await deliver(emu, paymentOf(invoice, '1090')))[0]!).status).toBe(200);
    expect((await call(emu, 'GET', '/invoices/2026%2F17')).json()).toMatchObject({ invnumber: '2026/17', status: 'PAID' });
  });
});

describe('XML', () => {
  /** The docs' use case A1.1, verbatim but for the customer's bank details. */
  const A11_XML = `<?xml version="1.0" encoding="UTF-8"?>
<invoice><invnumber>A1.1</invnumber><ordnumber /><status>OVERDUE</status><currency>CHF</currency><ar_accno>1100</ar_accno>
<transdate>2012-08-06T00:00:00+02:00</transdate><duedate>2012-08-06T00:00:00+02:00</duedate><description /><notes /><intnotes />
<taxincluded>false</taxincluded>
<customer><id>10199</id><customernumber>K-001</customernumber><name>Muster AG</name><created>2012-02-21T00:00:00+01:00</created>
<contactId>0</contactId><salutation>Herr</salutation><firstname>Hans</firstname><lastname>Muster</lastname><addressId>0</addressId>
<address1>Rössliweg 1</address1><address2 /><zipcode /><city>Tenna</city><state /><country /><phone /><fax /><mobile />
<email>hmuster@muster.ch</email><taxnumber /><taxfree>false</taxfree></customer>
<incomeentries><incomeentry><amount>99.0</amount><income_accno>3400</income_accno><description /></incomeentry></incomeentries>
<taxentries><taxentry><amount>7.92</amount><tax_accno>2201</tax_accno></taxentry></taxentries>
</invoice>`;

  it('takes the documented XML bodies (A1.1 with its embedded customer, a Transferkonto payment) and answers XML per Accept', async () => {
    const emu = await emulator();
    const created = await call(emu, 'POST', '/invoices', { body: A11_XML, contentType: 'application/xml', accept: 'application/xml' });
    expect([created.status, created.text]).toEqual([204, '']);
    // The embedded customer was created.
    expect(emu.customers()).toEqual([expect.objectContaining({ customernumber: 'K-001', name: 'Muster AG' })]);

    const got = await call(emu, 'GET', '/invoices/A1.1', { accept: 'application/xml' });
    expect(got.headers.get('content-type')).toMatch(/^application\/xml/);
    const invoice = xml.parse(got.text).invoice;
    expect(invoice).toMatchObject({ invnumber: 'A1.1', amount: '106.92', netamount: '99.00', customer: { customernumber: 'K-001' }, incomeentries: { incomeentry: { amount: '99.00', income_accno: '3400' } } });
    // Without Accept, RMA answers XML.
    expect((await call(emu, 'GET', '/invoices/A1.1', { accept: null })).text).toMatch(/^<\?xml[^>]*>\s*<invoice>/);

    const payment = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<payment><datepaid>2012-08-20T10:39:17.945+02:00</datepaid><amount_paid>106.92</amount_paid><source/><memo>Zahlung</memo><payment_accno>1090</payment_accno></payment>`;
    const paid = await call(emu, 'POST', '/invoices/A1.1/payments', { body: payment, contentType: 'application/xml', accept: 'application/xml' });
    expect(paid.status).toBe(200);
    expect(xml.parse(paid.text).payment).toMatchObject({ invnumber: 'A1.1', amount_paid: '106.92', payment_accno: '1090', memo: 'Zahlung', datepaid: '2012-08-20T00:00:00+02:00' });

    const charts = xml.parse((await call(emu, 'GET', '/charts', { accept: 'application/xml' })).text).charts.chart as Record<string, string>[];
    expect(charts.find((c) => c['@accno'] === '1090')).toMatchObject({ '@link': 'AR_paid:AP_paid', '@allow_gl': 'true' });

    const customerXml = '<customer><customernumber>K-002</customernumber><name>Beispiel GmbH</name><typeofcontact>company</typeofcontact></customer>';
    expect((await call(emu, 'POST', '/customers', { body: customerXml, contentType: 'application/xml' })).status).toBe(204);
    expect(xml.parse((await call(emu, 'GET', '/customers/K-002', { accept: 'application/xml' })).text).customer).toMatchObject({ name: 'Beispiel GmbH' });
    expect(xml.parse((await call(emu, 'GET', '/gl/v2/saldo?accno=1090', { accept: 'application/xml' })).text).table.row).toEqual({ accountnumber: '1090', accountname: 'Transferkonto', amount: '106.9200' });
  });

  it('refuses a wrong root, malformed XML and other content types', async () => {
    const emu = await emulator();
    const wrongRoot = await call(emu, 'POST', '/invoices', { body: '<rechnung/>', contentType: 'application/xml' });
    expect([wrongRoot.status, wrongRoot.json().error]).toEqual([400, 'the XML root element must be <invoice>, not <rechnung>']);
    expect((await call(emu, 'POST', '/invoices', { body: '<invoice><a></invoice>', contentType: 'application/xml' })).status).toBe(400);
    expect((await call(emu, 'POST', '/invoices', { body: 'invnumber=1', contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
    // JSON is the bare entity: a wrapped one has no invnumber.
    expect((await call(emu, 'POST', '/invoices', { body: '{"invoice": {"invnumber": "1"}}' })).json().error).toBe('invnumber is missing');
  });
});

describe('fault injection', () => {
  const post = async (emu: RmaEmulator, doc: BookDocument) => {
    const request = requestOf(doc);
    return fetch(`${emu.url}${request.path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(request.body) });
  };

  it('latency: every request waits', async () => {
    const emu = await emulator({ faults: { latencyMs: 150 } });
    const started = Date.now();
    expect((await call(emu, 'GET', '/parts')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(emu.requests[0]).toMatchObject({ fault: 'latency', status: 200 });
    emu.faults = {};
    expect(emu.stats.faults.delayed).toBe(1);
  });

  it('latency waited awake: no answer before its time, and timers and I/O go on meanwhile', async () => {
    const emu = await emulator({ faults: { latencyMs: 40 }, latencyTimer: 'awake' });
    let timerFired = 0;
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 5)).then(() => (timerFired = performance.now()));
    const started = performance.now();
    const answers = await Promise.all([call(emu, 'GET', '/parts'), call(emu, 'GET', '/parts')]);
    const done = performance.now();
    await timer;
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(done - started).toBeGreaterThanOrEqual(40);
    // The emulator runs in this process here: its waiting did not hold this test's timer up.
    expect(timerFired).toBeLessThan(done);
    expect(emu.stats.faults.delayed).toBe(2);
    expect(emu.requests.map((r) => r.fault)).toEqual(['latency', 'latency']);
  });

  it('latency from arrival: a write is booked at once, and its answer leaves latencyMs after the request arrived', async () => {
    const emu = await emulator({ latencyFrom: 'arrival' });
    await deliver(emu, customer());
    emu.faults = { latencyMs: 1000 };
    const started = performance.now();
    let answered = false;
    const answer = post(emu, a11()).then((res) => {
      answered = true;
      return res;
    });
    // Booked while its answer still waits: the handling is inside the latency, not after it.
    await vi.waitFor(() => expect(emu.invoices().map((i) => i.invnumber)).toEqual(['A1-1']), { timeout: 900, interval: 5 });
    expect(answered).toBe(false);
    expect((await answer).status).toBe(204);
    expect(performance.now() - started).toBeGreaterThanOrEqual(999);
    expect(emu.requests.at(-1)).toMatchObject({ fault: 'latency', status: 204 });
    // A refusal waits as long: the client cannot tell it sooner.
    const refused = performance.now();
    expect((await post(emu, a11())).status).toBe(400);
    expect(performance.now() - refused).toBeGreaterThanOrEqual(999);
    expect(emu.stats.faults.delayed).toBe(2);
  });

  it('latency before handling (the default): nothing is booked while the request waits', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    emu.faults = { latencyMs: 300 };
    const answer = post(emu, a11());
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(emu.invoices()).toEqual([]);
    expect((await answer).status).toBe(204);
    expect(emu.invoices().map((i) => i.invnumber)).toEqual(['A1-1']);
  });

  it('error rate: that share of requests answers 500 with an error body and books nothing', async () => {
    const draws = [0.1, 0.9];
    let n = 0;
    const emu = await emulator({ random: () => draws[n++ % 2]! });
    await deliver(emu, customer());
    emu.faults = { errorRate: 1 };
    const failed = await post(emu, a11());
    expect([failed.status, await failed.json()]).toEqual([500, { error: 'Internal server error (emulated)' }]);
    expect(emu.invoices()).toEqual([]);
    emu.faults = { errorRate: 0.5 };
    n = 0;
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(emu, 'GET', '/parts')).status);
    expect(statuses).toEqual([500, 200, 500, 200, 500, 200]);
    expect(emu.stats.faults.failed).toBe(4);
  });

  it('429 bursts: the next k requests answer 429 with Retry-After, then service resumes', async () => {
    const emu = await emulator();
    emu.faults = { throttle: 2, retryAfterSeconds: 3 };
    for (let i = 0; i < 2; i++) {
      const reply = await call(emu, 'GET', '/charts');
      expect([reply.status, reply.headers.get('retry-after'), reply.json().error]).toEqual([429, '3', expect.any(String)]);
    }
    expect((await call(emu, 'GET', '/charts')).status).toBe(200);
    expect(emu.stats.faults.throttled).toBe(2);
    expect(emu.faults).toEqual({ throttle: 0, retryAfterSeconds: 3 });
  });

  it('drop after commit: the connection dies without an answer, yet the invoice exists; a resend is refused as a duplicate', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    emu.faults = { dropAfterCommit: 1 };
    await expect(post(emu, a11())).rejects.toThrow();
    // What a client must do before resending: look the invoice up.
    expect((await call(emu, 'GET', '/invoices/A1-1')).json()).toMatchObject({ invnumber: 'A1-1', amount: '106.92' });
    const resend = await post(emu, a11());
    expect(resend.status).toBe(400);
    expect(((await resend.json()) as { error: string }).error).toMatch(/already exists/);
    expect(emu.invoices()).toHaveLength(1);
    expect(emu.ledger()['1100']).toBe(chf('106.92'));
    expect(emu.requests.map((r) => [r.method, r.status, r.fault])).toEqual([
      ['POST', 204, null],
      ['POST', 'dropped', 'drop'],
      ['GET', 200, null],
      ['POST', 400, null],
    ]);
    expect(emu.stats.faults.dropped).toBe(1);
  });

  it('fail after commit: 500 though the invoice was booked (an in-doubt send)', async () => {
    const emu = await emulator();
    await deliver(emu, customer());
    emu.faults = { failAfterCommit: 1 };
    expect((await post(emu, a11())).status).toBe(500);
    expect((await call(emu, 'GET', '/invoices/A1-1')).status).toBe(200);
  });

  it('faults are set by other processes through POST /_control/faults, and state is readable there', async () => {
    const emu = await emulator();
    const set = await fetch(`${emu.url}/_control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ throttle: 1, retryAfterSeconds: 2 }) });
    expect([set.status, await set.json()]).toEqual([200, { throttle: 1, retryAfterSeconds: 2 }]);
    expect((await call(emu, 'GET', '/charts')).status).toBe(429);
    expect((await call(emu, 'GET', '/charts')).status).toBe(200);
    const invalid = await fetch(`${emu.url}/_control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorRate: 1.5 }) });
    expect([invalid.status, ((await invalid.json()) as { error: string }).error]).toEqual([400, 'fault errorRate is a share from 0 to 1, not 1.5']);
    const state = (await (await fetch(`${emu.url}/_control/state`)).json()) as { mandants: string[]; stats: { requests: number } };
    expect(state).toMatchObject({ mandants: [MANDANT, 'zweite'], stats: { requests: 2 } });
    expect((await fetch(`${emu.url}/_control/reset`, { method: 'POST' })).status).toBe(204);
    expect(emu.requests).toEqual([]);
  });
});

describe('belege', () => {
  const upload = (emu: RmaEmulator, content: string, type: string, field = 'Filedata') => {
    const form = new FormData();
    form.set(field, new Blob([content], { type }), 'beleg.pdf');
    form.set('comment', 'Kontierung 4200');
    return fetch(`${emu.apiBase(MANDANT)}/belege`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, accept: 'application/json' }, body: form });
  };

  it('stores an upload, answers 409 for the same document again, 415 for a type RMA does not take', async () => {
    const emu = await emulator();
    const first = await upload(emu, '%PDF-1.4 a receipt', 'application/pdf');
    expect([first.status, await first.json()]).toEqual([200, { id: expect.any(String), comment: 'Kontierung 4200', checksum: expect.stringMatching(/^\d+$/), date_received: expect.any(String), file_name: 'beleg.pdf' }]);
    expect((await upload(emu, '%PDF-1.4 a receipt', 'application/pdf')).status).toBe(409);
    expect((await upload(emu, 'plain', 'text/plain')).status).toBe(415);
    expect((await upload(emu, 'x', 'application/pdf', 'file')).status).toBe(400);
    expect(emu.belege()).toEqual([expect.objectContaining({ file_name: 'beleg.pdf', content_type: 'application/pdf', comment: 'Kontierung 4200' })]);
  });
});

describe('kontor sandbox runmyaccounts', () => {
  it('runs in the foreground, prints URL, mandant and a generated key, serves requests, and stops on SIGINT', async () => {
    const sandbox = await startSandbox(['runmyaccounts', '--port', '0', '--latency', '1'], /^key:/m);
    try {
      const stdout = sandbox.stdout();
      const url = /^url:\s+(\S+)/m.exec(stdout)![1]!;
      const mandant = /^mandant:\s+(\S+)/m.exec(stdout)![1]!;
      const generated = /^key:\s+(\S+)/m.exec(stdout)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(mandant).toBe('sandbox');
      expect(generated.length).toBeGreaterThanOrEqual(16);
      const reply = await fetch(`${url}/api/latest/clients/${mandant}/gl/v2/saldo?accno=1090&api_key=${generated}`, { headers: { accept: 'application/json' } });
      expect([reply.status, await reply.json()]).toEqual([200, { row: { accountnumber: '1090', accountname: 'Transferkonto', amount: '0.0000' } }]);
      expect((await fetch(`${url}/api/latest/clients/${mandant}/charts`, { headers: { authorization: 'Bearer nope' } })).status).toBe(403);
    } finally {
      sandbox.child.kill('SIGINT');
    }
    expect(await sandbox.exited).toBe(0);
    const stdout = sandbox.stdout();
    const stderr = sandbox.stderr();
    expect(stdout).toMatch(/sandbox stopped after 2 request\(s\)/);
    // Each request is logged on stderr, the key redacted.
    expect(stderr).toContain('GET /api/latest/clients/sandbox/gl/v2/saldo?accno=1090&api_key=[REDACTED] 200');
    expect(stderr).toMatch(/GET \/api\/latest\/clients\/sandbox\/charts 403/);
    expect(stderr).not.toContain(/^key:\s+(\S+)/m.exec(stdout)![1]!);
  });

  it('refuses an unknown target and bad fault values (exit 2)', async () => {
    const run = runSandbox;
    expect(await run(['quickbooks'])).toEqual({ code: 2, stderr: expect.stringContaining('"quickbooks" is not an API kontor emulates (runmyaccounts, billecta)') });
    expect(await run(['runmyaccounts', '--port', '0', '--error-rate', '2'])).toEqual({ code: 2, stderr: expect.stringContaining('--error-rate "2" is not a share from 0 to 1') });
    expect(await run(['runmyaccounts', '--port', '0', '--latency', '5', '--latency-timer', 'spin'])).toEqual({ code: 2, stderr: expect.stringContaining("option '--latency-timer <how>' argument 'spin' is invalid. Allowed choices are sleep, awake.") });
  });
});
