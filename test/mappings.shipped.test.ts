/**
 * The five shipped mappings, each on real shop JSON (../shared/fixtures and the hand-made,
 * reconciling orders in test/fixtures): every document balances, the invoice reproduces the
 * shop's total and its VAT per rate, or the order is rejected with a precise reason. The
 * Run my Accounts mappings also pass `kontor check` against RMA's base chart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { balanceByCurrency, postingsOf, type BookDocument, type InvoiceDocument } from '../src/books/index.js';
import { RecordError } from '../src/errors.js';
import { checkAgainstChart, inspectMapping, loadMapping, type ChartAccount, type Mapping } from '../src/mapping/load.js';
import { historyOf, mapOrder, type MapOutcome } from '../src/mapping/map-order.js';
import { FileSource, type FileFormat } from '../src/sources/file.js';
import type { CanonicalOrder } from '../src/sources/order.js';
import { ROOT, runCli, tempProject } from './helpers.js';

const SHARED = path.resolve(ROOT, '..', 'shared', 'fixtures');
const mappingFile = (name: string) => path.join(ROOT, 'mappings', name);

function ordersOf(format: FileFormat, file: string): { origin: string; order: CanonicalOrder | RecordError }[] {
  const source = new FileSource({ name: format, folder: '.', label: '.', format });
  return source.recordsOfFile(file, readFileSync(file, 'utf8')).map((record) => {
    try {
      return { origin: record.origin, order: source.parse(record) };
    } catch (error) {
      if (error instanceof RecordError) return { origin: record.origin, order: error };
      throw error;
    }
  });
}

function onlyOrder(format: FileFormat, file: string): CanonicalOrder {
  const [first, ...rest] = ordersOf(format, file);
  expect(rest).toEqual([]);
  if (first!.order instanceof RecordError) throw first!.order;
  return first!.order;
}

/** Every document balances; the invoice is the shop's total and VAT per rate (bar a cash rounding line). */
function expectFaithful(order: CanonicalOrder, outcome: MapOutcome): InvoiceDocument {
  if (outcome.kind !== 'documents') throw new Error(`skipped: ${outcome.reason}`);
  for (const doc of outcome.documents) {
    for (const [currency, balance] of Object.entries(balanceByCurrency([doc]))) expect(balance, `${doc.kind} ${currency}`).toBe(0);
  }
  const invoice = outcome.invoice!;
  const cash = invoice.rounding.filter((r) => r.reason === 'cash').reduce((a, r) => a + r.amount, 0);
  expect(invoice.total - cash).toBe(order.total);
  const ours = Object.fromEntries(invoice.tax.map((t) => [t.rate, t.amount]));
  const shop = Object.fromEntries(order.taxTotals.filter((t) => t.tax !== 0).map((t) => [t.rate, t.tax]));
  expect(ours).toEqual(shop);
  return invoice;
}

const kinds = (outcome: MapOutcome) => (outcome.kind === 'documents' ? outcome.documents.map((d) => `${d.kind}${d.kind === 'payment' ? `:${d.purpose}` : ''}`) : [outcome.kind]);

/** RMA's base chart plus what a mandant adds: VAT accounts (created with VAT) and the PSP clearing accounts. */
function mandantChart(): ChartAccount[] {
  const base = JSON.parse(readFileSync(path.join(SHARED, 'runmyaccounts', 'base-chart-2022.json'), 'utf8')) as { accounts: ChartAccount[] };
  return [
    ...base.accounts,
    { accno: '2201', description: 'MWST 8,1%', link: 'AR_tax:IC_taxpart:IC_taxservice' },
    { accno: '2202', description: 'MWST 3,8%', link: 'AR_tax:IC_taxpart:IC_taxservice' },
    { accno: '2203', description: 'MWST 2,6%', link: 'AR_tax:IC_taxpart:IC_taxservice' },
    { accno: '1091', description: 'Durchlaufkonto Stripe', link: 'AR_paid:AP_paid' },
    { accno: '1092', description: 'Durchlaufkonto Payrexx/TWINT', link: 'AR_paid:AP_paid' },
    { accno: '1093', description: 'Durchlaufkonto PayPal', link: 'AR_paid:AP_paid' },
  ];
}

describe('shipped mappings pass kontor check', () => {
  const rma = ['woocommerce-ch.yaml', 'woocommerce-ch-articles.yaml', 'shopware-ch.yaml', 'csv-ch.yaml'];
  it.each([...rma, 'shopify-se-billecta.yaml'])('%s loads without a problem and names the JSON Schema', (name) => {
    expect(inspectMapping(mappingFile(name)).issues).toEqual([]);
    expect(readFileSync(mappingFile(name), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/mapping.schema.json');
  });
  it.each(rma)('%s: every account exists in a mandant chart built on RMA’s base chart, with the link its use needs', (name) => {
    const file = mappingFile(name);
    expect(checkAgainstChart(loadMapping(file), mandantChart(), 'chart')).toEqual({ issues: [], warnings: [] });
  });
  it('the CLI reports the clearing accounts RMA’s base chart lacks, as FILE:LINE:COL, and exits 2', async () => {
    const run = await runCli(['check', '--chart', path.join(SHARED, 'runmyaccounts', 'base-chart-2022.json'), 'mappings/woocommerce-ch.yaml'], { cwd: ROOT });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^mappings\/woocommerce-ch\.yaml:\d+:\d+: unknown account 1091 \(not in .*base-chart-2022\.json\)$/),
      expect.stringMatching(/^mappings\/woocommerce-ch\.yaml:\d+:\d+: unknown account 1092 /),
      expect.stringMatching(/^mappings\/woocommerce-ch\.yaml:\d+:\d+: unknown account 1092 /),
    ]);
    expect(run.stdout).toContain('VAT account 2201 not checked');
  });
});

describe('WooCommerce → Run my Accounts (booking variant)', () => {
  const mapping = loadMapping(mappingFile('woocommerce-ch.yaml'));
  it.each(['1001', '1002', '1003', '1004', '1005'])('sample order %s: faithful to the shop, paid ones settled on their clearing account', async (id) => {
    const order = onlyOrder('woocommerce', path.join(ROOT, 'examples', 'orders', `wc-order-${id}.json`));
    const outcome = await mapOrder(order, mapping);
    expectFaithful(order, outcome);
    expect(kinds(outcome)).toEqual(order.payment?.method === 'bacs' ? ['customer', 'invoice'] : ['customer', 'invoice', 'payment:payment']);
  });

  it('WooCommerce’s documented order 723 (USD, refunded twice) becomes an invoice on the foreign-currency receivable and two credit notes that take back 19.00', async () => {
    const orders = ordersOf('woocommerce', path.join(SHARED, 'woocommerce', 'wc-v3-orders-list-docs.json'));
    const order723 = orders.find((o) => !(o.order instanceof RecordError) && o.order.id === '723')!.order as CanonicalOrder;
    const outcome = await mapOrder(order723, mapping);
    expectFaithful(order723, outcome);
    expect(kinds(outcome)).toEqual(['customer', 'invoice', 'credit-note', 'credit-note']);
    expect(outcome.kind === 'documents' && outcome.invoice!.receivableAccount).toBe('1102');
    const credits = outcome.kind === 'documents' ? outcome.documents.filter((d) => d.kind === 'credit-note') : [];
    expect(credits.map((c) => [c.number, c.total])).toEqual([
      ['723-G724', -900],
      ['723-G726', -1000],
    ]);
  });

  it('the refunds endpoint’s line items (order 723’s refunds list) credit the refunded line on its own account', async () => {
    const file = path.join(SHARED, 'woocommerce', 'wc-v3-orders-list-docs.json');
    const list = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
    const raw723 = list.find((o) => o.id === 723)!;
    const refunds = JSON.parse(readFileSync(path.join(SHARED, 'woocommerce', 'wc-v3-order-723-refunds-list-docs.json'), 'utf8')) as unknown[];
    const dir = tempProject();
    const withRefunds = path.join(dir, 'order-723.json');
    writeFileSync(withRefunds, JSON.stringify({ ...raw723, refunds }));
    const order = onlyOrder('woocommerce', withRefunds);
    expect(order.refunds.map((r) => [r.id, r.total, r.lines.length])).toEqual([
      ['726', 1000, 0],
      ['724', 900, 1],
    ]);
    const outcome = await mapOrder(order, mapping);
    expectFaithful(order, outcome);
    const lineCredit = outcome.kind === 'documents' ? outcome.documents.find((d) => d.kind === 'credit-note' && d.key.part === '724') : undefined;
    expect(lineCredit && postingsOf(lineCredit).map((p) => [p.account, p.role, p.amount])).toEqual([
      ['1102', 'receivable', -900],
      ['3200', 'revenue', 900],
    ]);
  });

  it('rejects the documented order 727 (no rate_percent) and the Swedish order (25 % has no VAT account here) precisely', async () => {
    const [docs727] = ordersOf('woocommerce', path.join(SHARED, 'woocommerce', 'wc-v3-order-727-docs.json'));
    expect(docs727!.order).toBeInstanceOf(RecordError);
    expect((docs727!.order as RecordError).field).toBe('tax_lines[0].rate_percent');
    const sek = onlyOrder('woocommerce', path.join(SHARED, 'woocommerce', 'wc-v3-order-106-SEK-prices-incl-tax-captured.json'));
    await expect(mapOrder(sek, mapping)).rejects.toThrow(/VAT rate 25 % has no VAT account valid on 2022-04-25 \(add it under vat\.rates in mappings\/woocommerce-ch\.yaml:\d+:\d+\)/);
  });

  it('a cancelled unpaid order becomes a storno through the transfer account, or a credit note once its VAT period is settled', async () => {
    const order = onlyOrder('woocommerce', path.join(ROOT, 'examples', 'orders', 'wc-order-1003.json'));
    const booked = await mapOrder(order, mapping);
    const history = historyOf(booked.kind === 'documents' ? booked.documents : [], order.source);
    const cancelled = { ...order, status: 'cancelled', updatedAt: '2026-11-02T10:00:00Z' };
    const storno = await mapOrder(cancelled, mapping, history);
    expect(kinds(storno)).toEqual(['storno', 'payment:transfer', 'payment:transfer']);
    const docs: BookDocument[] = storno.kind === 'documents' ? storno.documents : [];
    const transfer = docs.flatMap(postingsOf).filter((p) => p.account === '1090').reduce((a, p) => a + p.amount, 0);
    expect(transfer).toBe(0);
    expect(docs[0]!.kind === 'storno' && docs[0]!.total).toBe(-order.total);

    const settledFile = path.join(tempProject(), 'settled.yaml');
    writeFileSync(settledFile, readFileSync(mappingFile('woocommerce-ch.yaml'), 'utf8').replace('  # vat_settled_until: 2026-09-30', '  vat_settled_until: 2026-12-31'));
    const credit = await mapOrder(cancelled, loadMapping(settledFile), history);
    expect(kinds(credit)).toEqual(['credit-note']);
    expect(credit.kind === 'documents' && credit.notes[0]).toMatch(/settled \(until 2026-12-31\)/);
  });


  it('a cancelled order the provider collected: storno, and the money paid back through the clearing account', async () => {
    const order = onlyOrder('woocommerce', path.join(ROOT, 'examples', 'orders', 'wc-order-1002.json'));
    const booked = await mapOrder(order, mapping);
    const history = historyOf(booked.kind === 'documents' ? booked.documents : [], order.source);
    const storno = await mapOrder({ ...order, status: 'cancelled', updatedAt: '2026-11-02T10:00:00Z' }, mapping, history);
    expect(kinds(storno)).toEqual(['storno', 'payment:payment']);
    const all = [...(booked.kind === 'documents' ? booked.documents : []), ...(storno.kind === 'documents' ? storno.documents : [])];
    const on = (account: string) => all.flatMap(postingsOf).filter((p) => p.account === account).reduce((a, p) => a + p.amount, 0);
    expect(on('1100')).toBe(0);
    expect(on('1092')).toBe(0);
  });
});

describe('WooCommerce → Run my Accounts (article variant)', () => {
  const mapping: Mapping = loadMapping(mappingFile('woocommerce-ch-articles.yaml'));
  it.each(['1001', '1002', '1003', '1004', '1005'])('sample order %s: part lines whose quantity × price is their amount, digits-only numbers', async (id) => {
    const order = onlyOrder('woocommerce', path.join(ROOT, 'examples', 'orders', `wc-order-${id}.json`));
    const outcome = await mapOrder(order, mapping);
    const invoice = expectFaithful(order, outcome);
    expect(invoice.variant).toBe('article');
    expect(invoice.number).toMatch(/^\d+$/);
    for (const line of invoice.lines) {
      expect(line.part, line.text).toBeDefined();
      expect(line.part!.quantity * line.part!.unitPrice).toBe(line.amount);
    }
    const shipping = invoice.lines.find((l) => l.role === 'shipping');
    if (shipping) expect(shipping.part!.number).toMatch(/^VERSAND-/);
  });
});

describe('Shopify → Billecta', () => {
  const mapping = loadMapping(mappingFile('shopify-se-billecta.yaml'));
  it('a Swedish order with prices including VAT, a code spread over 25 % and 12 %, paid and partly refunded', async () => {
    const order = onlyOrder('shopify', path.join(ROOT, 'test', 'fixtures', 'shopify', 'order-sek-incl-tax.json'));
    const outcome = await mapOrder(order, mapping);
    const invoice = expectFaithful(order, outcome);
    expect(invoice.variant).toBe('article');
    expect(kinds(outcome)).toEqual(['customer', 'invoice', 'payment:payment', 'credit-note', 'payment:payment']);
    const docs = outcome.kind === 'documents' ? outcome.documents : [];
    const credit = docs.find((d) => d.kind === 'credit-note')!;
    expect(credit.kind === 'credit-note' && credit.total).toBe(-order.refunds[0]!.total);
    // The provider collected the order and paid the refund back: nothing is left open on 1510.
    expect(docs.flatMap(postingsOf).filter((p) => p.account === '1510').reduce((a, p) => a + p.amount, 0)).toBe(0);
  });
  it('rejects Shopify’s documentation orders, whose amounts do not reconcile, naming the VAT that does not add up', async () => {
    for (const file of ['rest-2024-04-order-450789469-docs-fixture.json', 'rest-2024-04-orders-updated_at_min-docs-fixture.json']) {
      for (const { order } of ordersOf('shopify', path.join(SHARED, 'shopify', file))) {
        if (order instanceof RecordError) throw order;
        await expect(mapOrder(order, mapping)).rejects.toThrow(/the shop's VAT at 6 % is USD 11\.94, but USD 35\.22 follows from the lines/);
      }
    }
  });
  it('rejects a Swiss order: 2.6 % has no Swedish VAT account', async () => {
    const order = onlyOrder('shopify', path.join(ROOT, 'test', 'fixtures', 'shopify', 'order-chf-excl-tax.json'));
    await expect(mapOrder(order, mapping)).rejects.toThrow(/VAT rate 2\.6 % has no VAT account/);
  });
});

describe('Shopware 6 → Run my Accounts', () => {
  const mapping = loadMapping(mappingFile('shopware-ch.yaml'));
  it('gross prices with a promotion spread over 8.1 % and 2.6 % booked on the discount account', async () => {
    const order = onlyOrder('shopware', path.join(ROOT, 'test', 'fixtures', 'shopware', 'order-chf-gross.json'));
    const outcome = await mapOrder(order, mapping);
    const invoice = expectFaithful(order, outcome);
    expect(invoice.lines.filter((l) => l.role === 'discount').map((l) => l.vat.rate).sort()).toEqual([260, 810]);
  });
  it('net prices for a company with a VAT id', async () => {
    const order = onlyOrder('shopware', path.join(ROOT, 'test', 'fixtures', 'shopware', 'order-chf-net.json'));
    const outcome = await mapOrder(order, mapping);
    expectFaithful(order, outcome);
    expect(outcome.kind === 'documents' && outcome.customer).toMatchObject({ type: 'company', number: 'SW10042' });
  });
});

describe('CSV → Run my Accounts', () => {
  const mapping = loadMapping(mappingFile('csv-ch.yaml'));
  it('every order of the CSV fixture, VAT per rate group reproducing the shop', async () => {
    const orders = ordersOf('csv', path.join(ROOT, 'test', 'fixtures', 'csv', 'orders.csv'));
    expect(orders.length).toBe(3);
    for (const { order } of orders) {
      if (order instanceof RecordError) throw order;
      expectFaithful(order, await mapOrder(order, mapping));
    }
  });
});
