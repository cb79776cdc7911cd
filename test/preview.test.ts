/**
 * `kontor preview` and `kontor schema`, driven as operators and integrators use them: the real
 * binary on sample orders, on real shop JSON kontor has never seen, and on a rejected order.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseDecimal } from '../src/books/index.js';
import { ROOT, runCli, tempProject } from './helpers.js';

interface Contract {
  order: { source: string; id: string; number: string; currency: string; total_minor: number } | null;
  documents: {
    kind: string;
    key: string;
    number: string;
    date: string | null;
    currency: string | null;
    gross_minor: number;
    postings: { account: string; role: string; amount_minor: number; vat_rate: string | null }[];
  }[];
  payloads: Record<string, unknown[]>;
  warnings: string[];
  errors: { field: string | null; message: string }[];
}

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'woocommerce');
const ROLES = ['receivable', 'revenue', 'vat', 'discount', 'deposit', 'rounding', 'clearing', 'transfer', 'fee'];

async function preview(dir: string, args: string[]): Promise<{ code: number | null; result: Contract }> {
  const run = await runCli(['preview', '--source', 'samples', ...args, '--json'], { cwd: dir });
  return { code: run.code, result: JSON.parse(run.stdout) as Contract };
}

function vatPerRate(result: Contract): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const d of result.documents) {
    for (const p of d.postings.filter((x) => x.role === 'vat')) totals[p.vat_rate!] = (totals[p.vat_rate!] ?? 0) - p.amount_minor;
  }
  return totals;
}

describe('kontor preview', () => {
  it('maps a sample order to the JSON contract: balanced documents, the shop total and VAT, the journal payload', async () => {
    const dir = tempProject();
    const { code, result } = await preview(dir, ['--order', 'examples/orders/wc-order-1002.json']);
    expect(code).toBe(0);
    expect(result.order).toEqual({ source: 'samples', id: '1002', number: '1002', currency: 'CHF', total_minor: 10737 });
    expect(result.documents.map((d) => [d.kind, d.number])).toEqual([
      ['customer', 'WC-17'],
      ['invoice', '1002'],
      ['payment', '1002/payment'],
    ]);
    for (const d of result.documents) {
      expect(d.postings.reduce((a, p) => a + p.amount_minor, 0), d.key).toBe(0);
      for (const p of d.postings) expect(ROLES).toContain(p.role);
    }
    const invoice = result.documents[1]!;
    expect(invoice.gross_minor).toBe(10737);
    expect(invoice.postings[0]).toEqual({ account: '1100', role: 'receivable', amount_minor: 10737, vat_rate: null });
    // The shop's own VAT per rate (tax_lines of wc-order-1002.json): 4.65 + 0.67 at 8.1 %, 0.54 + 0.38 at 2.6 %.
    expect(vatPerRate(result)).toEqual({ '8.1': 532, '2.6': 92 });
    expect(result.documents[2]!.postings.map((p) => [p.account, p.role, p.amount_minor])).toEqual([
      ['1091', 'clearing', 10737],
      ['1100', 'receivable', -10737],
    ]);
    expect(result.payloads.journal).toHaveLength(3);
    expect(result.errors).toEqual([]);
    // Nothing was written: preview needs no database.
    expect(readFileSync(path.join(dir, 'config.yaml'), 'utf8')).toContain('database');
    expect(() => readFileSync(path.join(dir, 'data', 'kontor.sqlite'))).toThrow();
  });

  it('previews real shop JSON it has never seen with another mapping: SEK, prices with VAT, Swedish rates', async () => {
    const dir = tempProject();
    const mapping = path.join(dir, 'mappings', 'woocommerce-se.yaml');
    writeFileSync(
      mapping,
      readFileSync(path.join(dir, 'mappings', 'woocommerce-ch.yaml'), 'utf8')
        .replace(/ {4}- \{ vat_rate: 8\.1.*\n {4}- \{ vat_rate: 2\.6.*\n/, '    - { vat_rate: 25, account: "3001" }\n    - { vat_rate: 12, account: "3002" }\n')
        .replace(/ {2}rates:\n(?: {4}- .*\n)+/, '  rates:\n    - { rate: 25, code: standard, account: "2611" }\n    - { rate: 12, code: reduced, account: "2621" }\n')
        .replace('timezone: Europe/Zurich', 'timezone: Europe/Stockholm'),
    );
    const { code, result } = await preview(dir, ['--order', path.join(FIXTURES, 'wc-v3-order-106-SEK-prices-incl-tax-captured.json'), '--mapping', mapping]);
    expect(result.errors).toEqual([]);
    expect(code).toBe(0);
    expect(result.order).toMatchObject({ id: '106', currency: 'SEK', total_minor: 117800 });
    const invoice = result.documents.find((d) => d.kind === 'invoice')!;
    expect(invoice.gross_minor).toBe(117800);
    expect(invoice.postings.reduce((a, p) => a + p.amount_minor, 0)).toBe(0);
    const order = JSON.parse(readFileSync(path.join(FIXTURES, 'wc-v3-order-106-SEK-prices-incl-tax-captured.json'), 'utf8')) as { total_tax: string };
    expect(vatPerRate(result)).toEqual({ '25': parseDecimal(order.total_tax, 2) });
    // Paid by bank transfer: no payment document, the invoice stays open.
    expect(result.documents.map((d) => d.kind)).toEqual(['customer', 'invoice']);
  });

  it('rejects an order it cannot read with the field and the reason, and exits 1', async () => {
    const dir = tempProject();
    const order = path.join(FIXTURES, 'wc-v3-order-727-docs.json');
    const { code, result } = await preview(dir, ['--order', order]);
    expect(code).toBe(1);
    expect(result.documents).toEqual([]);
    expect(result.errors).toEqual([{ field: 'tax_lines[0].rate_percent', message: expect.stringContaining('no rate_percent') }]);
    const text = await runCli(['preview', '--source', 'samples', '--order', order], { cwd: dir });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('rejected: tax_lines[0].rate_percent: no rate_percent');
  });

  it('reports a skipped order as a warning, and refuses a file with several orders or an unknown source', async () => {
    const dir = tempProject();
    const pending = path.join(dir, 'pending.json');
    const order = JSON.parse(readFileSync(path.join(dir, 'examples', 'orders', 'wc-order-1001.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(pending, JSON.stringify({ ...order, status: 'pending' }));
    const { code, result } = await preview(dir, ['--order', pending]);
    expect(code).toBe(0);
    expect(result.documents).toEqual([]);
    expect(result.warnings).toEqual([expect.stringMatching(/^skipped: status "pending" is not billable/)]);

    const two = path.join(dir, 'two.json');
    writeFileSync(two, JSON.stringify([order, order]));
    const many = await runCli(['preview', '--source', 'samples', '--order', two], { cwd: dir });
    expect(many.code).toBe(2);
    expect(many.stderr).toContain('holds 2 orders; give one order per --order file, or pick one with --id (ids: 1001, 1001)');
    const unknown = await runCli(['preview', '--source', 'nope', '--order', two], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no source named "nope" (configured: samples)');
  });
});

describe('kontor preview: what Run my Accounts and Billecta would be sent', () => {
  const CONFIG = `sources:
  shop:
    type: file
    path: ./examples/orders
    mapping: woocommerce-ch.yaml
    targets: [rma]
  shopify:
    type: file
    format: shopify
    path: ./inbox
    mapping: shopify-se-billecta.yaml
    targets: [billecta]
targets:
  rma:
    type: runmyaccounts
    environment: test
    mandant: muster-ag
  billecta:
    type: billecta
    environment: test
    creditor_public_id: 8b6c2a4e-1f3d-4c5b-9a7e-2d1f0c9b8a76
`;
  type Request = { method: string; path: string; body: Record<string, unknown> | null };
  const project = (config = CONFIG) => {
    const dir = tempProject(config);
    mkdirSync(path.join(dir, 'inbox'));
    return dir;
  };

  it('Run my Accounts: customer, invoice with income and tax entries that add up to the total, payment; only the source’s targets', async () => {
    const dir = project();
    const run = await runCli(['preview', '--source', 'shop', '--order', 'examples/orders/wc-order-1002.json', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Contract;
    expect(result.warnings).toEqual([]);
    expect(Object.keys(result.payloads)).toEqual(['rma']);
    const requests = result.payloads.rma as Request[];
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /api/latest/clients/muster-ag/customers',
      'POST /api/latest/clients/muster-ag/invoices',
      'POST /api/latest/clients/muster-ag/invoices/1002/payments',
    ]);
    const invoice = requests[1]!.body as { invnumber: string; transdate: string; incomeentries: { incomeentry: { amount: string }[] }; taxentries: { taxentry: { amount: string }[] } };
    expect(invoice.invnumber).toBe('1002');
    expect(invoice.transdate).toBe('2026-10-24T00:00:00+02:00');
    const cents = [...invoice.incomeentries.incomeentry, ...invoice.taxentries.taxentry].reduce((a, e) => a + parseDecimal(e.amount, 2), 0);
    expect(cents).toBe(result.order!.total_minor);
    expect(requests[2]!.body).toMatchObject({ amount_paid: '107.37', payment_accno: '1091' });
  });

  it('Billecta: debtor and products upserted, a verification invoice for an order the provider collected, the refund as a negative verification invoice', async () => {
    const dir = project();
    const run = await runCli(['preview', '--source', 'shopify', '--order', path.join(ROOT, 'test', 'fixtures', 'shopify', 'order-sek-incl-tax.json'), '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Contract;
    const requests = result.payloads.billecta as Request[];
    const writes = requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(writes).toContain('POST /v1/invoice/verificationinvoice');
    expect(writes).toContain('POST /v1/debtors/debtor');
    // Billecta cannot credit a verification invoice: the refund is a negative one [inferred], and
    // neither the collection nor the refund paid back is registered.
    expect(writes.filter((w) => w === 'POST /v1/invoice/verificationinvoice')).toHaveLength(2);
    expect(writes).not.toContain('POST /v1/invoice/payment');
    expect(requests.some((r) => (r.body as { ActionType?: string } | null)?.ActionType === 'CreditInvoiceAction')).toBe(false);
  });

  it('a document a target would refuse is an error naming the target, and the preview exits 1', async () => {
    const dir = project(CONFIG.replace('targets: [rma]', 'targets: [rma, billecta]'));
    const run = await runCli(['preview', '--source', 'shop', '--order', 'examples/orders/wc-order-1002.json', '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as Contract;
    expect(result.errors).toEqual([{ field: 'billecta: variant', message: expect.stringContaining('target billecta (billecta) would refuse this') }]);
  });
});

describe('kontor preview with examples/shops/config.yaml: every shop format', () => {
  const shops = ['--config', 'examples/shops/config.yaml'];
  it('previews one order of a CSV file by --id, and names the ids when the id is wrong', async () => {
    const dir = tempProject();
    const run = await runCli([...shops, 'preview', '--source', 'csv', '--order', 'examples/shops/csv/orders.csv', '--id', '2002', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Contract;
    expect(result.order).toMatchObject({ source: 'csv', id: '2002' });
    expect(Object.keys(result.payloads)).toEqual(['journal', 'rma']);
    const wrong = await runCli([...shops, 'preview', '--source', 'csv', '--order', 'examples/shops/csv/orders.csv', '--id', '9'], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('holds no order with id 9 (ids: 2001, 2002, 2003)');
  });
  it.each([
    ['shopify', 'examples/shops/shopify/order-1042.json', ['journal', 'billecta']],
    ['shopware', 'examples/shops/shopware/order-10472.json', ['journal', 'rma']],
    ['woocommerce-articles', 'examples/orders/wc-order-1001.json', ['journal', 'rma']],
  ])('source %s: balanced documents and a payload for each of its targets', async (source, order, targets) => {
    const run = await runCli([...shops, 'preview', '--source', source, '--order', order, '--json'], { cwd: tempProject() });
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as Contract;
    expect(result.errors).toEqual([]);
    for (const d of result.documents) expect(d.postings.reduce((a, p) => a + p.amount_minor, 0), d.key).toBe(0);
    expect(Object.keys(result.payloads)).toEqual(targets);
    for (const t of targets) expect(result.payloads[t]!.length).toBeGreaterThan(0);
  });
});

describe('kontor schema', () => {
  const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', 'mapping.schema.json'), 'utf8')) as Record<string, unknown>;

  it('prints the JSON Schema that is shipped in schemas/ (run `npm run schema` after changing the format)', async () => {
    const run = await runCli(['schema'], { cwd: tempProject() });
    expect(JSON.parse(run.stdout)).toEqual(schema);
  });

  it('accepts the shipped mapping, which names the schema for editors, and rejects a misspelt key', () => {
    const text = readFileSync(path.join(ROOT, 'mappings', 'woocommerce-ch.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/mapping.schema.json');
    const validate = new Ajv({ strict: false }).compile(schema);
    const mapping = parseYaml(text) as Record<string, unknown>;
    expect(validate(mapping), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...mapping, acounts: {} })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'additionalProperties', params: { additionalProperty: 'acounts' } });
  });
});
