/**
 * mapOrder with the full mapping format (issue #4): routing rules, selection, numbering,
 * customers, discounts, the article variant, deposits, payments, refunds, cancellations, cash
 * rounding and the guardrails of mapping expressions.
 *
 * Every test builds a small canonical order (CHF, prices excluding VAT, Swiss rates, amounts in
 * minor units, each line's VAT the exactly rounded VAT of its net, so the totals reconcile) and
 * a mapping: mappings/woocommerce-ch.yaml with a few keys changed, written to a temp file and
 * loaded as kontor loads it. Expected postings are worked out by hand (debit positive).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  add,
  balanceByCurrency,
  minor,
  postingsOf,
  sum,
  times,
  vatFromNet,
  vatRate,
  type BookDocument,
  type CreditNoteDocument,
  type InvoiceDocument,
  type PaymentDocument,
  type PostingRole,
  type StornoDocument,
} from '../src/books/index.js';
import { RecordError } from '../src/errors.js';
import { loadMapping, type Mapping } from '../src/mapping/load.js';
import { historyOf, mapOrder, NO_HISTORY, type BookedHistory, type MapOutcome } from '../src/mapping/map-order.js';
import type { CanonicalOrder, LineKind, OrderAddress, OrderCustomer, OrderLine, OrderPayment, OrderRefund, OrderRefundLine } from '../src/sources/order.js';
import { ROOT } from './helpers.js';

// ── mappings ──────────────────────────────────────────────────────────────────────────────

const SHIPPED = readFileSync(path.join(ROOT, 'mappings', 'woocommerce-ch.yaml'), 'utf8');
const TMP = mkdtempSync(path.join(tmpdir(), 'kontor-mapping-test-'));
let files = 0;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A change to the shipped mapping: objects merge key by key, `null` deletes a key, anything else replaces. */
type Patch = { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Json | undefined, patch: Json): Json {
  if (!isObject(patch) || !isObject(base)) return patch;
  const out: { [key: string]: Json } = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

function writeMapping(text: string): string {
  const file = path.join(TMP, `mapping-${++files}.yaml`);
  writeFileSync(file, text);
  return file;
}

/**
 * The optional features are switched off in the base, so that each test turns on only what it
 * tests, whatever the shipped example enables.
 */
const NEUTRAL: Patch = {
  target: null,
  select: { test_orders: null, date: null, when: null },
  numbering: { digits_only: null },
  payments: { fee_account: null, write_off: null, skonto: null },
  deposits: null,
  refunds: null,
  cancellations: null,
  corrections: null,
  rounding: { cash_step: null },
};

/** The shipped mapping with `patch` applied, loaded from a temp file. */
function mappingWith(patch: Patch = {}): Mapping {
  const spec = merge(merge(parseYaml(SHIPPED) as Json, NEUTRAL), patch);
  return loadMapping(writeMapping(stringifyYaml(spec)));
}

const BASE = mappingWith();

// ── orders ────────────────────────────────────────────────────────────────────────────────

type Rate = '8.1' | '2.6' | '0';

interface LineSpec {
  kind?: LineKind;
  sku?: string;
  name?: string;
  quantity?: number;
  /** Net unit price in minor units. */
  unit: number;
  rate?: Rate;
  categories?: string[];
  /** Net discount (coupon) taken off the line, in minor units. */
  discount?: number;
  /** The shop's VAT on the line after discount, if not the exact VAT of its net. */
  tax?: number;
}

const FIELD: Record<LineKind, string> = { product: 'line_items', shipping: 'shipping_lines', fee: 'fee_lines', discount: 'discount_lines' };
const CREATED = '2025-03-14T10:00:00.000Z';
const SOURCE = 'shop';

function orderLine(spec: LineSpec, i: number): OrderLine {
  const kind = spec.kind ?? 'product';
  const rate = vatRate(spec.rate ?? '8.1');
  const quantity = spec.quantity ?? 1;
  const netBeforeDiscount = times(minor(spec.unit), quantity);
  const net = minor(netBeforeDiscount - (spec.discount ?? 0));
  return {
    kind,
    ref: String(i + 1),
    field: `${FIELD[kind]}[${i}]`,
    sku: spec.sku ?? (kind === 'product' ? `SKU-${i + 1}` : ''),
    name: spec.name ?? `Item ${i + 1}`,
    quantity,
    categories: spec.categories ?? [],
    netBeforeDiscount,
    net,
    tax: spec.tax !== undefined ? minor(spec.tax) : vatFromNet(net, rate),
    taxBeforeDiscount: vatFromNet(netBeforeDiscount, rate),
    vatRate: rate,
  };
}

const address = (country: string, over: Partial<OrderAddress> = {}): OrderAddress => ({
  street: 'Bahnhofstrasse 1',
  street2: '',
  zipcode: '8001',
  city: 'Zürich',
  state: '',
  country,
  ...over,
});

interface OrderOptions extends Partial<Omit<CanonicalOrder, 'customer' | 'lines'>> {
  customer?: Partial<OrderCustomer>;
  /** Added to the order total: a shop total off by a few units from lines plus VAT. */
  drift?: number;
}

/** A consistent order: total = Σ net + Σ VAT (+ drift). */
function order(lines: LineSpec[], options: OrderOptions = {}): CanonicalOrder {
  const { customer, drift, ...over } = options;
  const ls = lines.map(orderLine);
  const totalTax = sum(ls.map((l) => l.tax));
  const rates = [...new Set(ls.map((l) => l.vatRate))];
  return {
    source: SOURCE,
    id: '1001',
    number: '1001',
    status: 'processing',
    test: false,
    createdAt: CREATED,
    updatedAt: CREATED,
    completedAt: null,
    currency: 'CHF',
    pricesIncludeTax: false,
    customer: {
      id: '17',
      email: 'anna@example.ch',
      firstName: 'Anna',
      lastName: 'Muster',
      company: '',
      phone: '',
      vatId: '',
      billing: address('CH'),
      shipping: null,
      ...customer,
    },
    lines: ls,
    coupons: ls.some((l) => l.net !== l.netBeforeDiscount)
      ? [{ code: 'SUMMER10', discount: sum(ls.map((l) => minor(l.netBeforeDiscount - l.net))), discountTax: sum(ls.map((l) => minor(l.taxBeforeDiscount - l.tax))) }]
      : [],
    taxTotals: rates.map((rate) => ({ rate, label: 'MWST', tax: sum(ls.filter((l) => l.vatRate === rate).map((l) => l.tax)) })),
    totalTax,
    total: add(sum(ls.map((l) => l.net)), totalTax, minor(drift ?? 0)),
    payment: null,
    refunds: [],
    meta: {},
    ...over,
  };
}

function paid(method: string, over: Partial<OrderPayment> = {}): OrderPayment {
  return { method, title: `Paid with ${method}`, transactionId: 'tx-42', paidAt: '2025-03-14T10:05:00.000Z', amount: null, fee: minor(0), ...over };
}

interface RefundLineSpec {
  /** The `ref` of the order line taken back (`String(index + 1)`). */
  ref: string;
  kind?: LineKind;
  net: number;
  tax?: number;
  rate?: Rate;
  quantity?: number;
}

function refund(id: string, lines: RefundLineSpec[], options: { total?: number; createdAt?: string; index?: number } = {}): OrderRefund {
  const rl: OrderRefundLine[] = lines.map((l, i) => {
    const rate = vatRate(l.rate ?? '8.1');
    return {
      lineRef: l.ref,
      kind: l.kind ?? 'product',
      field: `refunds[${options.index ?? 0}].line_items[${i}]`,
      sku: '',
      name: `Refunded ${l.ref}`,
      quantity: l.quantity ?? 1,
      net: minor(l.net),
      tax: l.tax !== undefined ? minor(l.tax) : vatFromNet(minor(l.net), rate),
      vatRate: rate,
    };
  });
  return {
    id,
    createdAt: options.createdAt ?? '2025-03-16T08:00:00.000Z',
    reason: 'Customer return',
    lines: rl,
    total: minor(options.total ?? sum(rl.map((l) => add(l.net, l.tax)))),
    field: `refunds[${options.index ?? 0}]`,
  };
}

// ── outcomes ──────────────────────────────────────────────────────────────────────────────

interface Mapped {
  outcome: Extract<MapOutcome, { kind: 'documents' }>;
  documents: BookDocument[];
  invoice: InvoiceDocument;
  payments: PaymentDocument[];
  credits: CreditNoteDocument[];
  notes: string[];
}

/** Every document of the outcome balances: Σ postings per currency = 0. */
function expectBalanced(documents: readonly BookDocument[]): void {
  for (const doc of documents) {
    for (const [currency, total] of Object.entries(balanceByCurrency([doc]))) expect(total, `${doc.kind} ${doc.key.part ?? ''} in ${currency}`).toBe(0);
  }
}

async function documentsOf(o: CanonicalOrder, m: Mapping, history: BookedHistory = NO_HISTORY): Promise<Extract<MapOutcome, { kind: 'documents' }>> {
  const outcome = await mapOrder(o, m, history);
  if (outcome.kind !== 'documents') throw new Error(`expected documents, got skipped: ${outcome.reason}`);
  expectBalanced(outcome.documents);
  return outcome;
}

async function mapped(o: CanonicalOrder, m: Mapping = BASE, history: BookedHistory = NO_HISTORY): Promise<Mapped> {
  const outcome = await documentsOf(o, m, history);
  if (!outcome.invoice) throw new Error('expected an invoice');
  return {
    outcome,
    documents: outcome.documents,
    invoice: outcome.invoice,
    payments: outcome.documents.filter((d): d is PaymentDocument => d.kind === 'payment'),
    credits: outcome.documents.filter((d): d is CreditNoteDocument => d.kind === 'credit-note'),
    notes: outcome.notes,
  };
}

async function skipped(o: CanonicalOrder, m: Mapping, history: BookedHistory = NO_HISTORY): Promise<string> {
  const outcome = await mapOrder(o, m, history);
  if (outcome.kind !== 'skipped') throw new Error(`expected the order to be skipped, got ${outcome.documents.map((d) => d.kind).join(', ')}`);
  return outcome.reason;
}

async function rejected(o: CanonicalOrder, m: Mapping, history: BookedHistory = NO_HISTORY): Promise<RecordError> {
  const error: unknown = await mapOrder(o, m, history).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RecordError);
  return error as RecordError;
}

type Row = [account: string, role: PostingRole, amount: number];

/** A document's postings as [account, role, amount], sorted (order of postings is not part of the contract). */
function rows(doc: BookDocument): Row[] {
  return postingsOf(doc)
    .map((p): Row => [p.account, p.role, p.amount])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]) || a[2] - b[2]);
}

const sorted = (r: Row[]): Row[] => [...r].sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]) || a[2] - b[2]);

/** Σ postings on one account over documents (the open receivable, a transfer account). */
function balanceOn(docs: readonly BookDocument[], account: string): number {
  return balanceByCurrency(docs, account).CHF ?? 0;
}

// ── 1. routing rules ──────────────────────────────────────────────────────────────────────

describe('routing rules', () => {
  it('routes by SKU glob and by category (case-insensitive); unmatched lines take the revenue account of their rate', async () => {
    const mapping = mappingWith({
      accounts: {
        rules: [
          { name: 'gifts', match: { sku: 'GIFT-*' }, account: '3210' },
          { name: 'books', match: { category: 'books' }, account: '3220' },
        ],
      },
    });
    const o = order([
      { sku: 'GIFT-BOX', quantity: 2, unit: 2500 }, // 5000, VAT 405 → 3210
      { sku: 'TEA-1', unit: 1200, rate: '2.6', categories: ['Tea', 'Books'] }, // VAT 31.2 → 31 → 3220
      { sku: 'XGIFT-1', unit: 1000 }, // the glob is anchored: 3200
      { kind: 'shipping', unit: 800 }, // VAT 64.8 → 65; product rules do not apply to shipping
    ]);
    const { invoice } = await mapped(o, mapping);
    expect(invoice.total).toBe(8582);
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 8582],
        ['3210', 'revenue', -5000],
        ['3220', 'revenue', -1200],
        ['3200', 'revenue', -1000],
        ['3400', 'revenue', -800],
        ['2201', 'vat', -551],
        ['2203', 'vat', -31],
      ]),
    );
  });

  it('a ? in a SKU pattern matches exactly one character, and a list of patterns matches any of them', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { sku: ['TEA-?', 'COFFEE-*'] }, account: '3230' }] } });
    const { invoice } = await mapped(order([{ sku: 'TEA-1', unit: 1000 }, { sku: 'TEA-12', unit: 2000 }, { sku: 'COFFEE-ARABICA', unit: 3000 }]), mapping);
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 6486],
        ['3230', 'revenue', -4000],
        ['3200', 'revenue', -2000],
        ['2201', 'vat', -486],
      ]),
    );
  });

  it('routes by delivery country class: the shipping address wins over billing; an explicit list before eu shows first match wins', async () => {
    const mapping = mappingWith({
      accounts: {
        rules: [
          { name: 'austria', match: { country: ['AT'] }, account: '3270' },
          { name: 'eu', match: { country: 'eu' }, account: '3250' },
        ],
      },
    });
    const revenueAccount = async (billing: string, shipping: string | null) => {
      const { invoice } = await mapped(order([{ unit: 1000 }], { customer: { billing: address(billing), shipping: shipping ? address(shipping) : null } }), mapping);
      return rows(invoice).filter((r) => r[1] === 'revenue');
    };
    expect(await revenueAccount('CH', 'DE')).toEqual([['3250', 'revenue', -1000]]);
    expect(await revenueAccount('DE', 'CH')).toEqual([['3200', 'revenue', -1000]]);
    expect(await revenueAccount('DE', null)).toEqual([['3250', 'revenue', -1000]]);
    expect(await revenueAccount('CH', 'AT')).toEqual([['3270', 'revenue', -1000]]);
    // LI is domestic by default, US is export: neither is eu.
    expect(await revenueAccount('CH', 'LI')).toEqual([['3200', 'revenue', -1000]]);
    expect(await revenueAccount('CH', 'US')).toEqual([['3200', 'revenue', -1000]]);
  });

  it('routes export 0 % lines with a VAT code override; a domestic 0 % line is exempt', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ name: 'export', match: { country: 'export', vat_rate: 0 }, account: '3260', vat_code: 'export-goods' }] } });
    const us = await mapped(order([{ unit: 2000, rate: '0' }], { customer: { shipping: address('US') } }), mapping);
    expect(us.invoice.total).toBe(2000);
    expect(postingsOf(us.invoice).map((p) => [p.account, p.role, p.amount, p.vatCode])).toEqual([
      ['1100', 'receivable', 2000, undefined],
      ['3260', 'revenue', -2000, 'export-goods'],
    ]);
    // Without the rule's override the code of a 0 % line abroad is `export`.
    const plain = await mapped(order([{ unit: 2000, rate: '0' }], { customer: { shipping: address('US') } }));
    expect(plain.invoice.lines.map((l) => [l.account, l.vat.code])).toEqual([['3200', 'export']]);
    const ch = await mapped(order([{ unit: 2000, rate: '0' }]), mapping);
    expect(ch.invoice.lines.map((l) => [l.account, l.vat.code, l.vat.account])).toEqual([['3200', 'exempt', '']]);
    expect(ch.invoice.tax).toEqual([]);
  });

  it('routes by currency', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { currency: 'EUR' }, account: '3280' }] } });
    const eur = await mapped(order([{ unit: 1000 }], { currency: 'EUR' }), mapping);
    expect(eur.invoice.currency).toBe('EUR');
    // EUR receivables have their own account in the shipped mapping (invoice.receivable_by_currency).
    expect(rows(eur.invoice)).toEqual(sorted([['1102', 'receivable', 1081], ['3280', 'revenue', -1000], ['2201', 'vat', -81]]));
    const chf = await mapped(order([{ unit: 1000 }]), mapping);
    expect(chf.invoice.lines.map((l) => l.account)).toEqual(['3200']);
  });

  it('a shipping rule routes shipping lines only; the rule names the kinds it applies to', async () => {
    const mapping = mappingWith({
      accounts: {
        rules: [
          { name: 'eu shipping', match: { kind: 'shipping', country: 'eu' }, account: '3410' },
          { name: 'fees and shipping abroad', match: { kind: ['fee', 'shipping'], country: 'export' }, account: '3420' },
        ],
      },
    });
    const lines: LineSpec[] = [{ unit: 1000 }, { kind: 'shipping', unit: 800 }, { kind: 'fee', unit: 200 }];
    const de = await mapped(order(lines, { customer: { shipping: address('DE') } }), mapping);
    expect(rows(de.invoice).filter((r) => r[1] === 'revenue')).toEqual(sorted([['3200', 'revenue', -1000], ['3410', 'revenue', -800], ['3600', 'revenue', -200]]));
    const us = await mapped(order(lines, { customer: { shipping: address('US') } }), mapping);
    // Shipping and fee at the same account and rate form one entry.
    expect(rows(us.invoice).filter((r) => r[1] === 'revenue')).toEqual(sorted([['3200', 'revenue', -1000], ['3420', 'revenue', -800], ['3420', 'revenue', -200]]));
    const ch = await mapped(order(lines), mapping);
    expect(rows(ch.invoice).filter((r) => r[1] === 'revenue')).toEqual(sorted([['3200', 'revenue', -1000], ['3400', 'revenue', -800], ['3600', 'revenue', -200]]));
    // VAT: 81 + 65 + 16 at 8.1 % in every case.
    expect(ch.invoice.tax.map((t) => [t.account, t.amount])).toEqual([['2201', 162]]);
  });

  it('a `when` expression sees {order, line}: a bulk rule on line.quantity and a B2B rule on order.meta', async () => {
    const mapping = mappingWith({
      accounts: {
        rules: [
          { name: 'b2b', match: { when: "order.meta.channel = 'b2b'" }, account: '3240' },
          { name: 'bulk', match: { when: 'line.quantity > 5' }, account: '3230' },
        ],
      },
    });
    const o = order([
      { sku: 'A', quantity: 6, unit: 100 },
      { sku: 'B', quantity: 5, unit: 100 },
    ]);
    const retail = await mapped(o, mapping);
    // VAT: 48.6 → 49 and 40.5 → 41 (half up).
    expect(rows(retail.invoice)).toEqual(sorted([['1100', 'receivable', 1190], ['3230', 'revenue', -600], ['3200', 'revenue', -500], ['2201', 'vat', -90]]));
    const b2b = await mapped({ ...o, meta: { channel: 'b2b' } }, mapping);
    expect(rows(b2b.invoice)).toEqual(sorted([['1100', 'receivable', 1190], ['3240', 'revenue', -1100], ['2201', 'vat', -90]]));
  });

  it('the first matching rule wins even when a later one matches too', async () => {
    const mapping = mappingWith({
      accounts: {
        rules: [
          { match: { sku: 'GIFT-*' }, account: '3210' },
          { match: { category: 'gifts' }, account: '3211' },
        ],
      },
    });
    const { invoice } = await mapped(order([{ sku: 'GIFT-1', unit: 1000, categories: ['Gifts'] }, { sku: 'CARD-1', unit: 500, categories: ['GIFTS'] }]), mapping);
    expect(rows(invoice).filter((r) => r[1] === 'revenue')).toEqual(sorted([['3210', 'revenue', -1000], ['3211', 'revenue', -500]]));
  });

  it('every condition of a rule must hold', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { sku: 'GIFT-*', vat_rate: 2.6, country: 'domestic' }, account: '3210' }] } });
    const { invoice } = await mapped(order([{ sku: 'GIFT-1', unit: 1000, rate: '2.6' }, { sku: 'GIFT-2', unit: 1000 }]), mapping);
    expect(invoice.lines.map((l) => [l.account, l.vat.code])).toEqual([
      ['3210', 'reduced'],
      ['3200', 'standard'],
    ]);
    const abroad = await mapped(order([{ sku: 'GIFT-1', unit: 1000, rate: '2.6' }], { customer: { shipping: address('FR') } }), mapping);
    expect(abroad.invoice.lines.map((l) => l.account)).toEqual(['3200']);
  });

  it('a product line at a rate without a revenue account is rejected naming the line', async () => {
    const mapping = mappingWith({ accounts: { revenue: [{ vat_rate: 8.1, account: '3200' }] } });
    const error = await rejected(order([{ unit: 1000 }, { unit: 1000, rate: '2.6' }]), mapping);
    expect(error.field).toBe('line_items[1]');
    expect(error.reason).toMatch(/^VAT rate 2\.6 % has no revenue account \(add it under accounts\.revenue in .*mapping-\d+\.yaml:\d+:\d+\)$/);
    // A rule can route the rate instead.
    const routed = mappingWith({ accounts: { revenue: [{ vat_rate: 8.1, account: '3200' }], rules: [{ match: { vat_rate: 2.6 }, account: '3205' }] } });
    expect((await mapped(order([{ unit: 1000, rate: '2.6' }]), routed)).invoice.lines.map((l) => l.account)).toEqual(['3205']);
  });
});

// ── 2. select ─────────────────────────────────────────────────────────────────────────────

describe('select', () => {
  it('skips statuses that are not billable, with the reason', async () => {
    expect(await skipped(order([{ unit: 1000 }], { status: 'on-hold' }), BASE)).toMatch(/^status "on-hold" is not billable \(select\.statuses in /);
    const onlyCompleted = mappingWith({ select: { statuses: ['completed'] } });
    expect(await skipped(order([{ unit: 1000 }]), onlyCompleted)).toMatch(/^status "processing" is not billable/);
    expect((await mapped(order([{ unit: 1000 }], { status: 'completed' }), onlyCompleted)).invoice.total).toBe(1081);
  });

  it('skips test orders by default and books them with test_orders: include', async () => {
    const o = order([{ unit: 1000 }], { test: true });
    expect(await skipped(o, BASE)).toMatch(/^a test order \(select\.test_orders is skip in /);
    expect((await mapped(o, mappingWith({ select: { test_orders: 'include' } }))).invoice.total).toBe(1081);
  });

  it('takes the invoice date from select.date, in the mapping time zone', async () => {
    // 23:30 UTC on 14 March is 00:30 on 15 March in Zurich.
    const late = order([{ unit: 1000 }], { createdAt: '2025-03-14T23:30:00.000Z' });
    const created = await mapped(late);
    expect([created.invoice.date, created.invoice.dueDate]).toEqual(['2025-03-15', '2025-04-14']);

    const byPaid = mappingWith({ select: { date: 'paid' } });
    expect(await skipped(late, byPaid)).toMatch(/^not paid yet, and select\.date is paid \(.*:\d+:\d+\)$/);
    // Paid by bank transfer (no clearing account): the date counts, no payment is booked.
    const paidLater = await mapped({ ...late, payment: paid('bacs', { paidAt: '2025-03-20T12:00:00.000Z' }) }, byPaid);
    expect(paidLater.invoice.date).toBe('2025-03-20');
    expect(paidLater.payments).toEqual([]);

    const byCompleted = mappingWith({ select: { date: 'completed' } });
    expect(await skipped(late, byCompleted)).toMatch(/^not completed yet, and select\.date is completed/);
    expect((await mapped({ ...late, completedAt: '2025-04-01T09:00:00.000Z' }, byCompleted)).invoice.date).toBe('2025-04-01');
  });

  it('skips an order for which select.when is not true, naming the key', async () => {
    // JSONata: a comparison with a missing field is false, so `meta.channel != 'pos'` would be
    // false for an order without that meta; $not(… = …) is true for it.
    const mapping = mappingWith({ select: { when: "total_minor >= 5000 and $not(meta.channel = 'pos')" } });
    expect(await skipped(order([{ unit: 1000 }]), mapping)).toMatch(/^select\.when is not true for this order \(.*mapping-\d+\.yaml:\d+:\d+\)$/);
    expect(await skipped(order([{ unit: 10000 }], { meta: { channel: 'pos' } }), mapping)).toMatch(/^select\.when is not true/);
    expect((await mapped(order([{ unit: 10000 }]), mapping)).invoice.total).toBe(10810);
  });
});

// ── 3. numbering ──────────────────────────────────────────────────────────────────────────

describe('numbering', () => {
  it('renders invoice, credit note and customer numbers and the description from templates', async () => {
    const o = { ...order([{ unit: 1000 }]), refunds: [refund('77', [{ ref: '1', net: 500 }])] };
    const { invoice, credits, outcome } = await mapped(o);
    expect(invoice.number).toBe('1001');
    expect(invoice.description).toBe('Webshop order 1001');
    expect(outcome.customer!.number).toBe('WC-17');
    expect(invoice.customerNumber).toBe('WC-17');
    expect(credits.map((c) => c.number)).toEqual(['1001-G77']);

    const guest = await mapped(order([{ unit: 1000 }], { customer: { id: null } }));
    expect(guest.outcome.customer!.number).toBe('WC-G1001');

    const yearly = mappingWith({ numbering: { invoice: '{year}-{number}' }, invoice: { description: 'Order {number} of {email}' } });
    const y = await mapped(order([{ unit: 1000 }], { createdAt: '2025-12-31T23:30:00.000Z' }), yearly);
    // The year of the invoice date in Zurich, not of the UTC timestamp.
    expect(y.invoice.number).toBe('2026-1001');
    expect(y.invoice.description).toBe('Order 1001 of anna@example.ch');
  });

  it('digits_only keeps only the digits: WS-1001 → 1001, credit notes carry the refund id', async () => {
    const mapping = mappingWith({ numbering: { invoice: 'WS-{number}', credit_note: 'WS-{number}-{refund_id}', storno: '9{number}', cancellation: '8{number}', revision: '6{revision}{base}', digits_only: true } });
    const o = { ...order([{ unit: 1000 }], { number: 'WS-1001' }), refunds: [refund('7', [{ ref: '1', net: 500 }])] };
    const { invoice, credits } = await mapped(o, mapping);
    expect(invoice.number).toBe('1001');
    expect(credits.map((c) => [c.number, c.credits])).toEqual([['10017', '1001']]);
  });

  it('digits_only rejects a number that has no digits', async () => {
    const mapping = mappingWith({ numbering: { invoice: '{number}', storno: '9{number}', cancellation: '8{number}', revision: '6{revision}{base}', digits_only: true } });
    const error = await rejected(order([{ unit: 1000 }], { number: 'ABC' }), mapping);
    expect(error.field).toBe('number');
    expect(error.reason).toMatch(/^number "ABC" has no digits, but numbering\.digits_only is set/);
  });
});

// ── 4. customers ──────────────────────────────────────────────────────────────────────────

describe('customer', () => {
  const withCustomer = (spec: Patch['customer'], over: Partial<OrderCustomer>) => mapped(order([{ unit: 1000 }], { customer: over }), mappingWith({ customer: spec ?? {} }));

  it('type auto: a company when the billing address names one, else a person', async () => {
    const person = (await mapped(order([{ unit: 1000 }]))).outcome.customer!;
    expect([person.type, person.name, person.company]).toEqual(['person', 'Anna Muster', undefined]);
    const firm = (await mapped(order([{ unit: 1000 }], { customer: { company: 'Muster AG' } }))).outcome.customer!;
    expect([firm.type, firm.name, firm.company]).toEqual(['company', 'Muster AG', 'Muster AG']);
    const nameless = (await mapped(order([{ unit: 1000 }], { customer: { firstName: '', lastName: '' } }))).outcome.customer!;
    expect([nameless.type, nameless.name]).toEqual(['person', 'anna@example.ch']);
  });

  it('type person and type company override what the address says', async () => {
    const person = (await withCustomer({ type: 'person' }, { company: 'Muster AG' })).outcome.customer!;
    expect([person.type, person.name, person.company]).toEqual(['person', 'Anna Muster', undefined]);
    const firm = (await withCustomer({ type: 'company' }, { company: '' })).outcome.customer!;
    expect([firm.type, firm.name]).toEqual(['company', 'Anna Muster']);
  });

  it('takes the language by billing country, else customer.language', async () => {
    const mapping = mappingWith({ customer: { language: 'de', languages: { FR: 'fr', IT: 'it', SE: 'sv' } } });
    const lang = async (country: string) => (await mapped(order([{ unit: 1000 }], { customer: { billing: address(country) } }), mapping)).outcome.customer!.language;
    expect(await lang('FR')).toBe('fr');
    expect(await lang('IT')).toBe('it');
    expect(await lang('CH')).toBe('de');
    expect(await lang('AT')).toBe('de');
  });

  it('rejects a company name over the Run my Accounts limit of 64, naming billing.company', async () => {
    const long = `${'Grossverteiler für Bergkäse und Alpenspezialitäten '.repeat(2)}AG`.slice(0, 70);
    expect([...long]).toHaveLength(70);
    const error = await rejected(order([{ unit: 1000 }], { customer: { company: long } }), BASE);
    expect(error.field).toBe('billing.company');
    expect(error.reason).toContain('is 70 characters; Run my Accounts allows 64');
    expect(error.reason).toContain('customer.overlong: truncate');
  });

  it('with overlong: truncate, cuts the name to 64 characters and says so in the notes', async () => {
    const long = 'Ä'.repeat(70);
    const { outcome } = await withCustomer({ overlong: 'truncate' }, { company: long });
    expect(outcome.customer!.name).toBe('Ä'.repeat(64));
    expect(outcome.customer!.company).toBe('Ä'.repeat(64));
    expect(outcome.notes).toEqual([`customer name "${long}" cut to 64 characters`]);
  });

  it('checks the other RMA limits too: a 12-character zip code, a 33-character first name', async () => {
    const firstName = await rejected(order([{ unit: 1000 }], { customer: { firstName: 'A'.repeat(33) } }), BASE);
    expect([firstName.field, firstName.reason]).toEqual(['billing.first_name', expect.stringContaining('is 33 characters; Run my Accounts allows 32')]);
    const error = await rejected(order([{ unit: 1000 }], { customer: { billing: address('CH', { zipcode: '123456789012' }) } }), BASE);
    expect(error.field).toBe('billing.zipcode');
    expect(error.reason).toContain('allows 10');
  });

  it('limits do not apply to a journal target', async () => {
    const mapping = mappingWith({ target: { kind: 'journal' } });
    const long = 'x'.repeat(70);
    expect((await mapped(order([{ unit: 1000 }], { customer: { company: long } }), mapping)).outcome.customer!.name).toBe(long);
  });

  it('never cuts a customer number over 32 characters, even with overlong: truncate: two customers could become one', async () => {
    const id = '1234567890'.repeat(4);
    const error = await mapOrder(order([{ unit: 1000 }], { customer: { id } }), mappingWith({ customer: { overlong: 'truncate' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecordError);
    expect((error as RecordError).field).toBe('customer.id');
    expect((error as RecordError).message).toMatch(/customer number "WC-1234567890.*" is 43 characters; Run my Accounts allows 32/);
  });
});

// ── 5. discounts ──────────────────────────────────────────────────────────────────────────

describe('discounts', () => {
  // 100.00 less a 10.00 coupon at 8.1 %: VAT 8.10 before, 7.29 after.
  const discounted = () => order([{ sku: 'GIFT-1', unit: 10000, discount: 1000 }, { sku: 'TEA-1', unit: 2000, rate: '2.6' }]);

  it('discount: revenue books the discount as negative income on the line account', async () => {
    const { invoice } = await mapped(discounted());
    expect(invoice.total).toBe(9000 + 729 + 2000 + 52);
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 11781],
        ['3200', 'revenue', -10000],
        ['3200', 'revenue', -2000],
        ['3200', 'discount', 1000],
        ['2201', 'vat', -729],
        ['2203', 'vat', -52],
      ]),
    );
    expect(invoice.lines.find((l) => l.role === 'discount')!.text).toBe('Discount SUMMER10 8.1 %');
  });

  it('discount: revenue follows the routed account of the discounted line', async () => {
    const { invoice } = await mapped(discounted(), mappingWith({ accounts: { rules: [{ match: { sku: 'GIFT-*' }, account: '3210' }] } }));
    expect(rows(invoice).filter((r) => r[0] === '3210')).toEqual([
      ['3210', 'discount', 1000],
      ['3210', 'revenue', -10000],
    ]);
  });

  it('a discount line of its own (a Shopware promotion) books on the revenue account of its rate, on accounts.discount, or by a kind: discount rule', async () => {
    const o = order([{ unit: 10_000 }, { kind: 'discount', sku: '', name: 'Promotion', unit: -1000 }]);
    const expected = (account: string): Row[] => sorted([['1100', 'receivable', 9729], ['3200', 'revenue', -10_000], [account, 'discount', 1000], ['2201', 'vat', -729]]);
    expect(rows((await mapped(o)).invoice)).toEqual(expected('3200'));
    expect(rows((await mapped(o, mappingWith({ accounts: { discount: '3090' } }))).invoice)).toEqual(expected('3090'));
    expect(rows((await mapped(o, mappingWith({ accounts: { rules: [{ match: { kind: 'discount' }, account: '3091' }] } }))).invoice)).toEqual(expected('3091'));
  });

  it('an own discount account takes the discount', async () => {
    const { invoice } = await mapped(discounted(), mappingWith({ accounts: { discount: '3090' } }));
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 11781],
        ['3200', 'revenue', -10000],
        ['3200', 'revenue', -2000],
        ['3090', 'discount', 1000],
        ['2201', 'vat', -729],
        ['2203', 'vat', -52],
      ]),
    );
  });
});

// ── 6. article variant ────────────────────────────────────────────────────────────────────

describe('article variant', () => {
  const articles = (patch: Patch = {}) => mappingWith({ target: { variant: 'article' }, ...patch });

  it('books parts: products by their SKU, shipping as SHIPPING-{vat_code}; quantity × unit price = amount', async () => {
    const o = order([
      { sku: 'TEA-1', quantity: 3, unit: 1200, rate: '2.6' }, // 3600, VAT 93.6 → 94
      { sku: 'MUG-1', quantity: 3, unit: 333, discount: 1 }, // 999 less 1: amount 999 (before discount)
      { kind: 'shipping', unit: 800 },
    ]);
    const { invoice } = await mapped(o, articles());
    expect(invoice.variant).toBe('article');
    expect(invoice.lines.map((l) => [l.role, l.account, l.amount, l.part])).toEqual([
      ['revenue', '3200', 3600, { number: 'TEA-1', quantity: 3, unitPrice: 1200 }],
      ['revenue', '3200', 999, { number: 'MUG-1', quantity: 3, unitPrice: 333 }],
      ['shipping', '3400', 800, { number: 'SHIPPING-standard', quantity: 1, unitPrice: 800 }],
      ['discount', '3200', -1, { number: 'DISCOUNT-standard', quantity: 1, unitPrice: -1 }],
    ]);
    for (const l of invoice.lines) expect(l.part!.quantity * l.part!.unitPrice).toBe(l.amount);
    // VAT: 2.6 % 94; 8.1 %: 81 (MUG 998 → 80.8) + 65 (shipping).
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 3600 + 998 + 800 + 94 + 81 + 65],
        ['3200', 'revenue', -3600],
        ['3200', 'revenue', -999],
        ['3200', 'discount', 1],
        ['3400', 'revenue', -800],
        ['2203', 'vat', -94],
        ['2201', 'vat', -146],
      ]),
    );
  });

  it('a line whose amount does not divide by its quantity becomes one unit at the amount', async () => {
    const o = order([{ sku: 'TEA-1', quantity: 3, unit: 1000 }]);
    o.lines[0]!.netBeforeDiscount = minor(2999);
    o.lines[0]!.net = minor(2999);
    o.lines[0]!.tax = vatFromNet(minor(2999), vatRate('8.1'));
    o.lines[0]!.taxBeforeDiscount = o.lines[0]!.tax;
    o.total = add(minor(2999), o.lines[0]!.tax);
    const { invoice } = await mapped(o, articles());
    expect(invoice.lines.map((l) => l.part)).toEqual([{ number: 'TEA-1', quantity: 1, unitPrice: 2999 }]);
  });

  it('part numbers come from the articles templates', async () => {
    const mapping = articles({ articles: { product: 'P-{sku}-{vat_code}', shipping: 'PORTO-{vat_code}' } });
    const { invoice } = await mapped(order([{ sku: 'TEA-1', unit: 1000, rate: '2.6' }, { kind: 'shipping', unit: 500 }]), mapping);
    expect(invoice.lines.map((l) => l.part!.number)).toEqual(['P-TEA-1-reduced', 'PORTO-standard']);
  });

  it('rejects a product line without a SKU, unless articles.missing_sku names a part', async () => {
    const o = order([{ sku: '', unit: 1000 }]);
    const error = await rejected(o, articles());
    expect(error.field).toBe('line_items[0].sku');
    expect(error.reason).toMatch(/^the line has no SKU, which the article variant needs for its part number \(set articles\.missing_sku in /);
    const { invoice } = await mapped(o, articles({ articles: { missing_sku: 'MISC' } }));
    expect(invoice.lines.map((l) => [l.account, l.part])).toEqual([['3200', { number: 'MISC', quantity: 1, unitPrice: 1000 }]]);
  });

  it('rejects one part number that would book at two VAT rates', async () => {
    const error = await rejected(order([{ sku: 'TEA-1', unit: 1000 }, { sku: 'TEA-1', unit: 1000, rate: '2.6' }]), articles());
    expect(error.field).toBe('line_items[1]');
    expect(error.reason).toMatch(/^part TEA-1 would book on 3200 at 8\.1 % for line_items\[0\] but on 3200 at 2\.6 % here/);
  });
});

// ── 7. deposits ───────────────────────────────────────────────────────────────────────────

describe('deposits and final settlements', () => {
  const DEPOSITS: Patch = {
    deposits: { when: "meta.kind = 'deposit'", account: '2030', final_when: "meta.kind = 'final'", deposit_orders: 'meta.deposit_orders' },
  };
  const depositOrder = (id: string, net: number) => order([{ sku: 'KITCHEN', name: 'Deposit kitchen', unit: net }], { id, number: id, meta: { kind: 'deposit' } });
  const finalOrder = (depositOrders: string) =>
    order([{ sku: 'KITCHEN', name: 'Kitchen', unit: 100_000 }], { id: '502', number: '502', createdAt: '2025-04-10T10:00:00.000Z', meta: { kind: 'final', deposit_orders: depositOrders } });

  it('books a deposit order as a deposit invoice on the deposit account', async () => {
    const { invoice } = await mapped(depositOrder('501', 30_000), mappingWith(DEPOSITS));
    expect(invoice.purpose).toBe('deposit');
    expect(invoice.lines.map((l) => [l.role, l.account, l.amount, l.text])).toEqual([['deposit', '2030', 30_000, 'Deposit 8.1 %']]);
    expect(rows(invoice)).toEqual(sorted([['1100', 'receivable', 32_430], ['2030', 'deposit', -30_000], ['2201', 'vat', -2430]]));
  });

  it('books a final order as a final settlement that deducts the booked deposit', async () => {
    const mapping = mappingWith(DEPOSITS);
    const deposit = await mapped(depositOrder('501', 30_000), mapping);
    const { invoice } = await mapped(finalOrder('501'), mapping, historyOf(deposit.documents, SOURCE));
    expect(invoice.purpose).toBe('final');
    // Receivable: the full 1081.00 less the deposit's gross 324.30.
    expect(invoice.total).toBe(108_100 - 32_430);
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 75_670],
        ['3200', 'revenue', -100_000],
        ['2030', 'deposit', 30_000],
        ['2201', 'vat', -(8100 - 2430)],
      ]),
    );
    expect(invoice.lines.find((l) => l.role === 'deposit-deduction')).toMatchObject({ account: '2030', amount: -30_000, deposit: '501' });
    // The deposit account nets to zero over the two invoices.
    expect(balanceOn([deposit.invoice, invoice], '2030')).toBe(0);
  });

  it('a final may settle several deposits: deposit_orders with $split', async () => {
    const mapping = mappingWith({ deposits: { ...(DEPOSITS.deposits as Patch), deposit_orders: "$split(meta.deposit_orders, ',')" } });
    const d1 = await mapped(depositOrder('501', 30_000), mapping);
    const d2 = await mapped(depositOrder('503', 20_000), mapping);
    const { invoice } = await mapped(finalOrder('501,503'), mapping, historyOf([...d1.documents, ...d2.documents], SOURCE));
    expect(invoice.total).toBe(108_100 - 32_430 - 21_620);
    expect(invoice.lines.filter((l) => l.role === 'deposit-deduction').map((l) => [l.deposit, l.amount])).toEqual([
      ['501', -30_000],
      ['503', -20_000],
    ]);
    expect(rows(invoice)).toEqual(
      sorted([
        ['1100', 'receivable', 54_050],
        ['3200', 'revenue', -100_000],
        ['2030', 'deposit', 30_000],
        ['2030', 'deposit', 20_000],
        ['2201', 'vat', -(8100 - 2430 - 1620)],
      ]),
    );
  });

  it('rejects a final whose deposit has not been booked', async () => {
    const error = await rejected(finalOrder('501'), mappingWith(DEPOSITS));
    expect(error.field).toBe('deposits');
    expect(error.reason).toBe('deposit order 501 has not been booked (yet); a final settlement deducts booked deposits only');
  });

  it('an order that is neither deposit nor final is a standard invoice', async () => {
    const { invoice } = await mapped(order([{ unit: 1000 }]), mappingWith(DEPOSITS));
    expect(invoice.purpose).toBe('standard');
  });

  it('the article variant books a deposit on a DEPOSIT-{vat_code} part', async () => {
    const mapping = mappingWith({ ...DEPOSITS, target: { variant: 'article' } });
    const deposit = await mapped(depositOrder('501', 30_000), mapping);
    expect(deposit.invoice.lines.map((l) => [l.role, l.account, l.part])).toEqual([['deposit', '2030', { number: 'DEPOSIT-standard', quantity: 1, unitPrice: 30_000 }]]);
    expect(rows(deposit.invoice)).toEqual(sorted([['1100', 'receivable', 32_430], ['2030', 'deposit', -30_000], ['2201', 'vat', -2430]]));
  });

  it('an article-variant final settlement (A8) deducts the deposit on the deposit’s own part', async () => {
    // buildInvoiceDocument hands buildFinalInvoice only the articles of the final order's own
    // lines; the deduction lines name DEPOSIT-standard, so composeSales throws "names article
    // DEPOSIT-standard, which is not in the article master" for every A8 settlement.
    const mapping = mappingWith({ ...DEPOSITS, target: { variant: 'article' } });
    const deposit = await mapped(depositOrder('501', 30_000), mapping);
    const { invoice } = await mapped(finalOrder('501'), mapping, historyOf(deposit.documents, SOURCE));
    expect(invoice.total).toBe(75_670);
    expect(invoice.lines.map((l) => [l.role, l.account, l.amount, l.part])).toEqual([
      ['revenue', '3200', 100_000, { number: 'KITCHEN', quantity: 1, unitPrice: 100_000 }],
      ['deposit-deduction', '2030', -30_000, { number: 'DEPOSIT-standard', quantity: -1, unitPrice: 30_000 }],
    ]);
  });

  it('a final settlement with cash rounding and a shop residue books the residue, then the cash rounding', async () => {
    // Full delivery: 300.01 net + 24.30 VAT = 324.31, the shop says 324.33 (residue +0.02).
    // Deposit: 100.00 + 8.10. Left to pay: 324.33 − 108.10 = 216.23, cash-rounded 216.25.
    const mapping = mappingWith({ ...DEPOSITS, rounding: { cash_step: 5 } });
    const deposit = await mapped(depositOrder('501', 10_000), mapping);
    expect(deposit.invoice.total).toBe(10_810);
    const final = order([{ sku: 'KITCHEN', unit: 30_001 }], { id: '502', number: '502', meta: { kind: 'final', deposit_orders: '501' }, drift: 2 });
    expect(final.total).toBe(32_433);
    const { invoice } = await mapped(final, mapping, historyOf(deposit.documents, SOURCE));
    // mapOrder builds the settlement once with cash rounding and then takes that rounded total
    // as the expected total of the second build: the residue line is +0.01 and the total 216.20.
    expect(invoice.rounding.map((r) => [r.reason, r.amount])).toEqual([
      ['residue', 2],
      ['cash', 2],
    ]);
    expect(invoice.total).toBe(21_625);
  });
});

// ── 8. payments ───────────────────────────────────────────────────────────────────────────

describe('payments', () => {
  // 100.00 + 8.10 VAT = 108.10
  const o = (payment: OrderPayment | null) => order([{ unit: 10_000 }], { payment });
  const receivableOpen = (docs: readonly BookDocument[]) => balanceOn(docs, '1100');

  it('D1: an order paid through a clearing gateway gets a payment on its clearing account', async () => {
    const { payments, documents } = await mapped(o(paid('stripe')));
    expect(payments.map((p) => [p.purpose, p.appliesTo, p.account, p.amount, p.date, p.reference, p.memo])).toEqual([['payment', '1001', '1091', 10_810, '2025-03-14', 'tx-42', 'Paid with stripe']]);
    expect(rows(payments[0]!)).toEqual(sorted([['1091', 'clearing', 10_810], ['1100', 'receivable', -10_810]]));
    expect(receivableOpen(documents)).toBe(0);
    // twint and payrexx share one clearing account.
    expect((await mapped(o(paid('twint')))).payments.map((p) => p.account)).toEqual(['1092']);
  });

  it('no payment for a gateway without clearing account or an order not paid yet', async () => {
    expect((await mapped(o(paid('bacs')))).payments).toEqual([]);
    expect((await mapped(o(paid('stripe', { paidAt: null })))).payments).toEqual([]);
    expect((await mapped(o(null))).payments).toEqual([]);
  });

  it('D3: a provider fee becomes a bank-fee payment; the payment received is the total less the fee', async () => {
    const mapping = mappingWith({ payments: { fee_account: '6940' } });
    const { payments, documents } = await mapped(o(paid('stripe', { fee: minor(320) })), mapping);
    expect(payments.map((p) => [p.purpose, p.account, p.amount])).toEqual([
      ['payment', '1091', 10_490],
      ['bank-fee', '6940', 320],
    ]);
    expect(rows(payments[1]!)).toEqual(sorted([['6940', 'fee', 320], ['1100', 'receivable', -320]]));
    expect(receivableOpen(documents)).toBe(0);
  });

  it('a fee without payments.fee_account is not booked, and the notes say so', async () => {
    const { payments, notes } = await mapped(o(paid('stripe', { fee: minor(320) })));
    expect(payments.map((p) => [p.purpose, p.amount])).toEqual([['payment', 10_810]]);
    expect(notes).toEqual([expect.stringMatching(/^the provider's fee of 320 minor units is not booked: set payments\.fee_account/)]);
  });

  it('D2: a small shortfall within the tolerance is written off as a price reduction (and a small overpayment too)', async () => {
    const mapping = mappingWith({ payments: { write_off: { account: '3801', tolerance: 5 } } });
    const short = await mapped(o(paid('stripe', { amount: minor(10_807) })), mapping);
    expect(short.payments.map((p) => [p.purpose, p.account, p.amount])).toEqual([
      ['payment', '1091', 10_807],
      ['price-reduction', '3801', 3],
    ]);
    expect(rows(short.payments[1]!)).toEqual(sorted([['3801', 'discount', 3], ['1100', 'receivable', -3]]));
    expect(receivableOpen(short.documents)).toBe(0);

    const over = await mapped(o(paid('stripe', { amount: minor(10_812) })), mapping);
    expect(over.payments.map((p) => [p.purpose, p.amount])).toEqual([
      ['payment', 10_812],
      ['price-reduction', -2],
    ]);
    expect(receivableOpen(over.documents)).toBe(0);
  });

  it('D4: a shortfall of 2 % with skonto up to 3 % is booked as skonto', async () => {
    const mapping = mappingWith({ payments: { write_off: { account: '3801', tolerance: 5 }, skonto: { account: '3800', max_percent: 3 } } });
    // 2 % of 108.10 = 2.162 → 2.16 short.
    const { payments, documents } = await mapped(o(paid('stripe', { amount: minor(10_594) })), mapping);
    expect(payments.map((p) => [p.purpose, p.account, p.amount])).toEqual([
      ['payment', '1091', 10_594],
      ['skonto', '3800', 216],
    ]);
    expect(rows(payments[1]!)).toEqual(sorted([['3800', 'discount', 216], ['1100', 'receivable', -216]]));
    expect(receivableOpen(documents)).toBe(0);
  });

  it('a shortfall beyond the skonto limit is a partial payment: the rest stays open', async () => {
    const mapping = mappingWith({ payments: { skonto: { account: '3800', max_percent: 3 } } });
    const { payments, documents } = await mapped(o(paid('stripe', { amount: minor(10_269) })), mapping);
    expect(payments.map((p) => [p.purpose, p.amount])).toEqual([['payment', 10_269]]);
    expect(receivableOpen(documents)).toBe(541);
  });

  it('an overpayment beyond the tolerance is rejected', async () => {
    const error = await rejected(o(paid('stripe', { amount: minor(11_000) })), BASE);
    expect(error.field).toBe('payment');
    expect(error.reason).toContain('would settle more than its open CHF 108.10');
  });
});

// ── 9. refunds ────────────────────────────────────────────────────────────────────────────

describe('refunds', () => {
  const mapping = mappingWith({ accounts: { rules: [{ match: { sku: 'GIFT-*' }, account: '3210' }] } });
  // 2 × 50.00 gifts (VAT 8.10), tea 40.00 (VAT 1.04), shipping 8.00 (VAT 0.65): 157.79.
  const base = (over: OrderOptions = {}) =>
    order([{ sku: 'GIFT-1', quantity: 2, unit: 5000 }, { sku: 'TEA-1', unit: 4000, rate: '2.6' }, { kind: 'shipping', unit: 800 }], over);

  it('a refund with lines becomes a credit note with those lines negative, on the routed accounts', async () => {
    const o = { ...base(), refunds: [refund('77', [{ ref: '1', net: 5000 }, { ref: '3', kind: 'shipping', net: 800 }])] };
    const { invoice, credits, documents } = await mapped(o, mapping);
    expect(invoice.total).toBe(15_779);
    expect(credits).toHaveLength(1);
    const credit = credits[0]!;
    expect([credit.number, credit.credits, credit.date, credit.total]).toEqual(['1001-G77', '1001', '2025-03-16', -6270]);
    expect(credit.key).toEqual({ source: SOURCE, subject: '1001', kind: 'credit-note', part: '77', revision: 1 });
    expect(rows(credit)).toEqual(
      sorted([
        ['1100', 'receivable', -6270],
        ['3210', 'revenue', 5000],
        ['3400', 'revenue', 800],
        ['2201', 'vat', 470],
      ]),
    );
    expect(balanceOn(documents, '1100')).toBe(15_779 - 6270);
  });

  it("books the shop's VAT on refunded lines", async () => {
    // 50.00 at 8.1 % is 4.05; the shop refunded 4.04.
    const o = { ...base(), refunds: [refund('77', [{ ref: '1', net: 5000, tax: 404 }])] };
    const credit = (await mapped(o, mapping)).credits[0]!;
    expect(credit.total).toBe(-5404);
    expect(credit.tax.map((t) => [t.account, t.amount])).toEqual([['2201', -404]]);
  });

  it('an amount-only refund is spread over the VAT rates in proportion to their gross (creditAmount)', async () => {
    const o = { ...base(), refunds: [refund('78', [], { total: 2000 })] };
    const credit = (await mapped(o, mapping)).credits[0]!;
    expect(credit.total).toBe(-2000);
    // 20.00 over 116.75 at 8.1 % and 41.04 at 2.6 %: 14.80 and 5.20, each on the largest line of its rate.
    expect(rows(credit)).toEqual(
      sorted([
        ['1100', 'receivable', -2000],
        ['3210', 'revenue', 1369],
        ['3200', 'revenue', 507],
        ['2201', 'vat', 111],
        ['2203', 'vat', 13],
      ]),
    );
  });

  it('two refunds become two credit notes; the second counts the first', async () => {
    const o = {
      ...base(),
      refunds: [refund('78', [], { total: 2000, createdAt: '2025-03-18T08:00:00.000Z', index: 1 }), refund('77', [{ ref: '1', net: 5000 }, { ref: '3', kind: 'shipping', net: 800 }], { index: 0 })],
    };
    const { credits, documents } = await mapped(o, mapping);
    expect(credits.map((c) => [c.number, c.date, c.total])).toEqual([
      ['1001-G77', '2025-03-16', -6270],
      ['1001-G78', '2025-03-18', -2000],
    ]);
    expect(balanceOn(documents, '1100')).toBe(15_779 - 6270 - 2000);
  });

  it('a refund paid through the provider is paid back on the clearing account, settling the credit note', async () => {
    const o = { ...base({ payment: paid('stripe') }), refunds: [refund('77', [{ ref: '1', net: 5000 }, { ref: '3', kind: 'shipping', net: 800 }])] };
    const { payments, documents } = await mapped(o, mapping);
    expect(payments.map((p) => [p.key.part, p.appliesTo, p.account, p.amount])).toEqual([
      ['payment', '1001', '1091', 15_779],
      ['refund-77-payment', '1001-G77', '1091', -6270],
    ]);
    expect(rows(payments[1]!)).toEqual(sorted([['1091', 'clearing', -6270], ['1100', 'receivable', 6270]]));
    expect(balanceOn(documents, '1100')).toBe(0);
    expect(balanceOn(documents, '1091')).toBe(15_779 - 6270);
    expect(documents.map((d) => d.kind)).toEqual(['customer', 'invoice', 'payment', 'credit-note', 'payment']);
  });

  it('refunds.book: ignore books no credit notes', async () => {
    const o = { ...base(), refunds: [refund('77', [{ ref: '1', net: 5000 }])] };
    const { documents } = await mapped(o, mappingWith({ refunds: { book: 'ignore' } }));
    expect(documents.map((d) => d.kind)).toEqual(['customer', 'invoice']);
  });

  it('a refund larger than the invoice is rejected', async () => {
    const error = await rejected({ ...base(), refunds: [refund('79', [], { total: 20_000 })] }, mapping);
    expect(error.field).toBe('refunds[0]');
    expect(error.reason).toContain('credits CHF 200.00 on invoice 1001, but only CHF 157.79 of its CHF 157.79 is left to credit');
  });

  it('a credit note is never dated before its invoice', async () => {
    const o = { ...base(), refunds: [refund('77', [{ ref: '1', net: 5000 }], { createdAt: '2025-03-01T00:00:00.000Z' })] };
    expect((await mapped(o, mapping)).credits[0]!.date).toBe('2025-03-14');
  });
});

// ── 10. cancellations ─────────────────────────────────────────────────────────────────────

describe('cancellations', () => {
  const CANCEL: Patch = { cancellations: { transfer_account: '1090' } };
  const placed = (payment: OrderPayment | null = null) => order([{ unit: 10_000 }], { payment });
  const cancelled = (o: CanonicalOrder): CanonicalOrder => ({ ...o, status: 'cancelled', updatedAt: '2025-03-20T09:00:00.000Z' });

  it('a booked, unpaid invoice gets a storno and two transfer payments that net to zero', async () => {
    const mapping = mappingWith(CANCEL);
    const booked = await mapped(placed(), mapping);
    const outcome = await documentsOf(cancelled(placed()), mapping, historyOf(booked.documents, SOURCE));
    expect(outcome.invoice).toBeNull();
    expect(outcome.customer).toBeNull();
    expect(outcome.documents.map((d) => d.kind)).toEqual(['storno', 'payment', 'payment']);
    const storno = outcome.documents[0] as StornoDocument;
    expect([storno.number, storno.reverses, storno.date, storno.total]).toEqual(['1001-S', '1001', '2025-03-14', -booked.invoice.total]);
    expect(rows(storno)).toEqual(sorted([['1100', 'receivable', -10_810], ['3200', 'revenue', 10_000], ['2201', 'vat', 810]]));
    const transfers = outcome.documents.slice(1) as PaymentDocument[];
    expect(transfers.map((t) => [t.purpose, t.appliesTo, t.account, t.amount, t.date, t.group])).toEqual([
      ['transfer', '1001', '1090', 10_810, '2025-03-20', storno.group],
      ['transfer', '1001-S', '1090', -10_810, '2025-03-20', storno.group],
    ]);
    expect(balanceOn(transfers, '1090')).toBe(0);
    expect(balanceOn([...booked.documents, ...outcome.documents], '1100')).toBe(0);
  });

  it('a provider-paid invoice: nothing is open to transfer; the storno is paid back on the clearing account', async () => {
    const mapping = mappingWith(CANCEL);
    const booked = await mapped(placed(paid('stripe')), mapping);
    expect(booked.payments).toHaveLength(1);
    const outcome = await documentsOf(cancelled(placed(paid('stripe'))), mapping, historyOf(booked.documents, SOURCE));
    expect(outcome.documents.map((d) => d.kind)).toEqual(['storno', 'payment']);
    expect((outcome.documents[0] as StornoDocument).total).toBe(-10_810);
    const back = outcome.documents[1] as PaymentDocument;
    expect([back.purpose, back.appliesTo, back.account, back.amount, back.date]).toEqual(['payment', '1001-S', '1091', -10_810, '2025-03-20']);
    const all = [...booked.documents, ...outcome.documents];
    expect(balanceOn(all, '1100')).toBe(0);
    expect(balanceOn(all, '1091')).toBe(0);
  });

  it('a partly paid invoice: the transfers net what is still open, the paid part goes back to the provider', async () => {
    const mapping = mappingWith(CANCEL);
    const partly = placed(paid('stripe', { amount: minor(4000) }));
    const booked = await mapped(partly, mapping);
    const outcome = await documentsOf(cancelled(partly), mapping, historyOf(booked.documents, SOURCE));
    const payments = outcome.documents.filter((d): d is PaymentDocument => d.kind === 'payment');
    expect(payments.map((t) => [t.purpose, t.appliesTo, t.account, t.amount])).toEqual([
      ['transfer', '1001', '1090', 6810],
      ['transfer', '1001-S', '1090', -6810],
      ['payment', '1001-S', '1091', -4000],
    ]);
    expect(balanceOn(payments, '1090')).toBe(0);
    const all = [...booked.documents, ...outcome.documents];
    expect(balanceOn(all, '1100')).toBe(0);
    expect(balanceOn(all, '1091')).toBe(0);
  });

  it('an invoice in a settled VAT period gets a credit note dated today instead, with a note', async () => {
    const mapping = mappingWith({ cancellations: { transfer_account: '1090', vat_settled_until: '2025-03-31' } });
    const booked = await mapped(placed(), mapping);
    const outcome = await documentsOf(cancelled(placed()), mapping, historyOf(booked.documents, SOURCE));
    expect(outcome.documents.map((d) => d.kind)).toEqual(['credit-note']);
    const credit = outcome.documents[0] as CreditNoteDocument;
    expect([credit.number, credit.credits, credit.date, credit.total, credit.key.part]).toEqual(['1001-X', '1001', '2025-03-20', -10_810, 'cancellation']);
    expect(rows(credit)).toEqual(sorted([['1100', 'receivable', -10_810], ['3200', 'revenue', 10_000], ['2201', 'vat', 810]]));
    expect(outcome.notes).toEqual(['cancelled by credit note: the VAT period of 2025-03-14 is settled (until 2025-03-31)']);
  });

  it('a cancelled order that was never booked is skipped; without cancellations it is just not billable', async () => {
    expect(await skipped(cancelled(placed()), mappingWith(CANCEL))).toBe('status "cancelled": cancelled before it was booked, so there is nothing to take back');
    expect(await skipped(cancelled(placed()), BASE)).toMatch(/^status "cancelled" is not billable/);
  });

  it('the cancelling credit note is numbered by numbering.cancellation, also under digits_only', async () => {
    // (Rendering numbering.credit_note with refund_id "X" gave "1001-CX" → "1001" under digits_only: the invoice's own number.)
    const mapping = mappingWith({
      numbering: { invoice: '{number}', credit_note: '{number}-C{refund_id}', storno: '9{number}', cancellation: '8{number}', revision: '6{revision}{base}', digits_only: true },
      cancellations: { transfer_account: '1090', vat_settled_until: '2025-03-31' },
    });
    const booked = await mapped(placed(), mapping);
    const outcome = await documentsOf(cancelled(placed()), mapping, historyOf(booked.documents, SOURCE));
    expect(outcome.documents.map((d) => [d.kind, (d as CreditNoteDocument).number])).toEqual([['credit-note', '81001']]);
    const storno = await documentsOf(cancelled(placed()), mappingWith({ numbering: { storno: '9{number}', cancellation: '8{number}', revision: '6{revision}{base}', digits_only: true }, cancellations: { transfer_account: '1090' } }), historyOf(booked.documents, SOURCE));
    expect((storno.documents[0] as StornoDocument).number).toBe('91001');
  });
});

// ── 11. cash rounding ─────────────────────────────────────────────────────────────────────

describe('cash rounding', () => {
  const mapping = mappingWith({ rounding: { cash_step: 5 } });
  // 92.53 + 7.49 VAT = 100.02
  const o = (payment: OrderPayment | null) => order([{ unit: 9253 }], { payment });

  it('rounds the total of an order still to be paid to 5 Rappen on the rounding account', async () => {
    for (const payment of [null, paid('bacs')]) {
      const { invoice, payments } = await mapped(o(payment), mapping);
      expect(invoice.total).toBe(10_000);
      expect(invoice.rounding).toEqual([{ account: '3680', amount: -2, text: 'Cash rounding to 0.05', reason: 'cash' }]);
      expect(rows(invoice)).toEqual(sorted([['1100', 'receivable', 10_000], ['3200', 'revenue', -9253], ['2201', 'vat', -749], ['3680', 'rounding', 2]]));
      expect(payments).toEqual([]);
    }
  });

  it('rounds half up: 100.03 becomes 100.05', async () => {
    const { invoice } = await mapped(order([{ unit: 9253 }], { drift: 1 }), mapping);
    expect(invoice.rounding.map((r) => [r.reason, r.amount])).toEqual([
      ['residue', 1],
      ['cash', 2],
    ]);
    expect(invoice.total).toBe(10_005);
  });

  it('keeps the exact total of an order a provider collected', async () => {
    const { invoice, payments } = await mapped(o(paid('stripe')), mapping);
    expect(invoice.total).toBe(10_002);
    expect(invoice.rounding).toEqual([]);
    expect(payments.map((p) => p.amount)).toEqual([10_002]);
  });

  it('without cash_step, totals are not rounded', async () => {
    expect((await mapped(o(null))).invoice.total).toBe(10_002);
  });

  it('a full refund of a cash-rounded order is credited cash-rounded: the shop refunds 100.02, the invoice said 100.00', async () => {
    // The credit note takes the shop's refund total (−100.02) as is; buildCreditNote refuses to
    // credit more than the invoice's 100.00, so the whole order is quarantined for good.
    for (const refunds of [[refund('77', [{ ref: '1', net: 9253 }])], [refund('78', [], { total: 10_002 })]]) {
      const { invoice, credits, documents } = await mapped({ ...o(null), refunds }, mapping);
      expect(invoice.total).toBe(10_000);
      expect(credits.map((c) => c.total)).toEqual([-10_000]);
      expect(balanceOn(documents, '1100')).toBe(0);
    }
  });
});

// ── 12. expressions ───────────────────────────────────────────────────────────────────────

describe('expression guardrails', () => {
  it('endless recursion in a rule is stopped and the order rejected, not hung', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { when: '($f := function($x){ $f($x) }; $f(1))' }, account: '3230' }] } });
    const started = Date.now();
    const error = await rejected(order([{ unit: 1000 }]), mapping);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.message).toMatch(/^accounts\.rules\.0\.match\.when \(.*mapping-\d+\.yaml:\d+:\d+\): /);
  });

  it('a when that gives something other than true or false rejects the order, naming the key path', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { when: 'line.quantity' }, account: '3230' }] } });
    const error = await rejected(order([{ unit: 1000, quantity: 7 }]), mapping);
    expect(error.message).toMatch(/^accounts\.rules\.0\.match\.when \(.*mapping-\d+\.yaml:\d+:\d+\): accounts\.rules\.0\.match\.when must be true or false, but gave 7$/);

    const select = mappingWith({ select: { when: 'number' } });
    expect((await rejected(order([{ unit: 1000 }]), select)).message).toMatch(/^select\.when \(.*\): select\.when must be true or false, but gave "1001"$/);

    const deposit = mappingWith({ deposits: { when: 'meta', account: '2030', final_when: 'false', deposit_orders: 'meta.ids' } });
    expect((await rejected(order([{ unit: 1000 }], { meta: { a: 'b' } }), deposit)).message).toMatch(/^deposits\.when \(.*\): deposits\.when must be true or false, but gave \{"a":"b"\}$/);
  });

  it('a when that gives nothing (a missing field) does not match', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { when: 'line.no_such_field' }, account: '3230' }] } });
    expect((await mapped(order([{ unit: 1000 }]), mapping)).invoice.lines.map((l) => l.account)).toEqual(['3200']);
  });

  it('JavaScript prototypes are out of reach: line.constructor gives nothing, so the rule does not match', async () => {
    for (const when of ['$exists(line.constructor)', '$exists(order.__proto__)', "$type(line.constructor) = 'function'", '$exists(line.sku.constructor)']) {
      const mapping = mappingWith({ accounts: { rules: [{ match: { when }, account: '3230' }] } });
      expect((await mapped(order([{ unit: 1000 }]), mapping)).invoice.lines.map((l) => l.account), when).toEqual(['3200']);
    }
  });

  it('functions whose result changes from run to run are refused: the same order must always map the same way', async () => {
    for (const when of ['$millis() > 0', '$random() < 2', "$now() > '2000'"]) {
      const error = await rejected(order([{ unit: 1000 }]), mappingWith({ select: { when } }));
      expect(error.message, when).toMatch(/^select\.when \(.*\): \$(now|millis|random)\(\) is not available in mappings/);
    }
  });

  it('an error while evaluating rejects the order with the key path', async () => {
    const mapping = mappingWith({ accounts: { rules: [{ match: { when: '$number(line.name) > 1' }, account: '3230' }] } });
    const error = await rejected(order([{ unit: 1000, name: 'not a number' }]), mapping);
    expect(error.message).toMatch(/^accounts\.rules\.0\.match\.when \(.*\): .*JSONata D3030/);
  });
});

describe('article variant: discount parts per account', () => {
  it('with {account} in the discount template, discounts of one rate on two revenue accounts get two parts', async () => {
    const mapping = mappingWith({
      target: { variant: 'article' },
      articles: { discount: 'RABATT-{vat_code}-{account}' },
      accounts: { rules: [{ match: { sku: 'BOOK-*' }, account: '3000' }] },
    });
    const outcome = await mapped(
      order([
        { unit: 2000, sku: 'BOOK-1', discount: 200 },
        { unit: 3000, sku: 'TEA-1', discount: 300 },
      ]),
      mapping,
    );
    const discounts = outcome.invoice.lines.filter((l) => l.role === 'discount').map((l) => [l.part!.number, l.account, l.amount]);
    expect(discounts.sort()).toEqual([
      ['RABATT-standard-3000', '3000', -200],
      ['RABATT-standard-3200', '3200', -300],
    ]);
  });
});
