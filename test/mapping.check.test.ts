/**
 * `kontor check` for mapping files: inspectMapping on broken mappings (every problem with its
 * exact FILE:LINE:COL), checkAgainstChart against Run my Accounts' base chart, and the CLI.
 *
 * The mappings here are a small valid mapping (MINIMAL, one line per array entry so that line
 * numbers can be read off) with one thing broken per test.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue } from '../src/errors.js';
import { checkAgainstChart, inspectMapping, loadMapping, type ChartAccount } from '../src/mapping/load.js';
import { ROOT, runCli, tempProject } from './helpers.js';

const MINIMAL_LINES = [
  /*  1 */ 'version: 1',
  /*  2 */ 'customer:',
  /*  3 */ '  number: "WC-{customer_id}"',
  /*  4 */ '  guest_number: "WC-G{id}"',
  /*  5 */ 'numbering:',
  /*  6 */ '  invoice: "{number}"',
  /*  7 */ '  credit_note: "{number}-G{refund_id}"',
  /*  8 */ '  storno: "{number}-S"',
  /*  9 */ 'invoice:',
  /* 10 */ '  receivable_account: "1100"',
  /* 11 */ '  payment_terms_days: 30',
  /* 12 */ 'select:',
  /* 13 */ '  statuses: [processing, completed]',
  /* 14 */ 'accounts:',
  /* 15 */ '  revenue:',
  /* 16 */ '    - { vat_rate: 8.1, account: "3200" }',
  /* 17 */ '    - { vat_rate: 2.6, account: "3200" }',
  /* 18 */ '  rules: []',
  /* 19 */ '  shipping: "3400"',
  /* 20 */ '  fees: "3600"',
  /* 21 */ 'vat:',
  /* 22 */ '  rates:',
  /* 23 */ '    - { rate: 8.1, code: standard, account: "2201" }',
  /* 24 */ '    - { rate: 2.6, code: reduced, account: "2203" }',
  /* 25 */ 'rounding:',
  /* 26 */ '  account: "3680"',
];
const MINIMAL = `${MINIMAL_LINES.join('\n')}\n`;

const TMP = mkdtempSync(path.join(tmpdir(), 'kontor-check-test-'));
let files = 0;

function write(text: string): string {
  const file = path.join(TMP, `mapping-${++files}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** MINIMAL with exact text replaced; each `from` must occur. */
function broken(...edits: [from: string, to: string][]): string {
  let text = MINIMAL;
  for (const [from, to] of edits) {
    expect(text, `"${from}" is in the mapping`).toContain(from);
    text = text.replace(from, to);
  }
  return write(text);
}

/** The issues of a mapping that must not load, as `LINE:COL: message`, and each names the file. */
function issuesOf(file: string): string[] {
  const { mapping, issues } = inspectMapping(file);
  expect(mapping).toBeNull();
  expect(() => loadMapping(file)).toThrow(ConfigError);
  for (const issue of issues) expect(issue.file).toBe(file);
  return issues.map((i: ConfigIssue) => `${i.line}:${i.col}: ${i.message}`);
}

describe('inspectMapping', () => {
  it('accepts the minimal mapping and the shipped one', () => {
    expect(inspectMapping(write(MINIMAL)).issues).toEqual([]);
    expect(inspectMapping(path.join(ROOT, 'mappings', 'woocommerce-ch.yaml')).issues).toEqual([]);
  });

  it('reports an unknown key (a typo) at the key', () => {
    expect(issuesOf(broken(['  payment_terms_days: 30', '  payment_term_days: 30']))).toEqual(['11:3: unknown key "payment_term_days" in invoice']);
  });

  it('reports a typo inside a rule and the required key it leaves missing', () => {
    expect(issuesOf(broken(['  rules: []', '  rules:\n    - { match: { sku: "A-*" }, acount: "3210" }']))).toEqual([
      '19:7: missing required key "account" in accounts.rules.0',
      '19:32: unknown key "acount" in accounts.rules.0',
    ]);
  });

  it('reports an unknown or misplaced placeholder in a template at its value', () => {
    const known = '(use {id}, {number}, {customer_id}, {email}, {year})';
    expect(issuesOf(broken(['  invoice: "{number}"', '  invoice: "{order_number}"']))).toEqual([`6:12: numbering.invoice: placeholder {order_number} is not available here ${known}`]);
    // {refund_id} exists, but only in credit note numbers.
    expect(issuesOf(broken(['  storno: "{number}-S"', '  storno: "{number}-S{refund_id}"']))).toEqual([`8:11: numbering.storno: placeholder {refund_id} is not available here ${known}`]);
    expect(issuesOf(broken(['  number: "WC-{customer_id}"', '  number: "WC-{sku}"']))).toEqual([`3:11: customer.number: placeholder {sku} is not available here ${known}`]);
  });

  it('reports an expression syntax error with the column inside the expression', () => {
    // `status = = 'x'`: the second = (position 10 in the expression) is column 19 of line 14.
    const message = 'expression syntax error: The symbol "=" cannot be used as a unary operator (JSONata S0211)';
    expect(issuesOf(broken(['  statuses: [processing, completed]', `  statuses: [processing, completed]\n  when: "status = = 'x'"`]))).toEqual([`14:19: ${message}`]);
    // A plain scalar has no quote before it.
    expect(issuesOf(broken(['  statuses: [processing, completed]', `  statuses: [processing, completed]\n  when: status = = 'x'`]))).toEqual([`14:18: ${message}`]);
    // In a rule: `line.quantity >` ends early; the column is that of its last character.
    expect(issuesOf(broken(['  rules: []', '  rules:\n    - { match: { when: "line.quantity >" }, account: "3230" }']))).toEqual([
      '19:39: expression syntax error: Unexpected end of expression (JSONata S0207)',
    ]);
    // A block scalar is named by its start.
    expect(issuesOf(broken(['  statuses: [processing, completed]', `  statuses: [processing, completed]\n  when: >-\n    test = false\n    and status = = 'x'`]))).toEqual([
      expect.stringMatching(/^14:9: expression syntax error: /),
    ]);
  });

  it('reports a revenue rate without a VAT account at its vat_rate', () => {
    expect(issuesOf(broken(['    - { vat_rate: 2.6, account: "3200" }', '    - { vat_rate: 2.6, account: "3200" }\n    - { vat_rate: 3.8, account: "3200" }']))).toEqual([
      '18:19: VAT rate 3.8 % has a revenue account but no VAT account under vat.rates',
    ]);
    // 0 % needs no VAT account.
    expect(inspectMapping(broken(['    - { vat_rate: 2.6, account: "3200" }', '    - { vat_rate: 2.6, account: "3200" }\n    - { vat_rate: 0, account: "3200" }'])).issues).toEqual([]);
  });

  it('reports a rule whose vat_rate has no VAT account, at the rate', () => {
    expect(issuesOf(broken(['  rules: []', '  rules:\n    - { match: { vat_rate: 3.8 }, account: "3210" }']))).toEqual(['19:28: VAT rate 3.8 % has no VAT account under vat.rates']);
    expect(issuesOf(broken(['  rules: []', '  rules:\n    - { match: { vat_rate: [8.1, 3.8] }, account: "3210" }']))).toEqual(['19:34: VAT rate 3.8 % has no VAT account under vat.rates']);
  });

  it('reports a VAT rate routed twice under accounts.revenue at the later entry', () => {
    expect(issuesOf(broken(['    - { vat_rate: 2.6, account: "3200" }', '    - { vat_rate: 2.6, account: "3200" }\n    - { vat_rate: "8.10", account: "3201" }']))).toEqual([
      '18:7: VAT rate 8.10 % is routed twice; this entry is unreachable',
    ]);
  });

  describe('unreachable rules', () => {
    const rules = (...lines: string[]) => broken(['  rules: []', `  rules:\n${lines.map((l) => `    - ${l}`).join('\n')}`]);

    it('a catch-all SKU pattern * hides every later rule with the same kinds', () => {
      const file = rules('{ name: everything, match: { sku: "*" }, account: "3210" }', '{ match: { sku: "A-1" }, account: "3211" }', '{ match: { category: books }, account: "3212" }');
      expect(issuesOf(file)).toEqual([
        `20:7: unreachable rule: rule 1 "everything" (${file}:19:7) already matches everything it would`,
        `21:7: unreachable rule: rule 1 "everything" (${file}:19:7) already matches everything it would`,
      ]);
    });

    it('the same pattern twice, and a narrower rule after a broader one', () => {
      const file = rules('{ match: { sku: "A-*" }, account: "3210" }', '{ match: { sku: "A-*", vat_rate: 8.1 }, account: "3211" }');
      expect(issuesOf(file)).toEqual([`20:7: unreachable rule: rule 1 (${file}:19:7) already matches everything it would`]);
      const byCategory = rules('{ match: { category: [Books, Tea] }, account: "3210" }', '{ match: { category: books, country: domestic }, account: "3211" }');
      expect(issuesOf(byCategory)).toEqual([`20:7: unreachable rule: rule 1 (${byCategory}:19:7) already matches everything it would`]);
    });

    it('a rule is reachable when the earlier one is narrower in anything: kinds, patterns, a when of its own', () => {
      expect(inspectMapping(rules('{ match: { kind: shipping }, account: "3410" }', '{ match: { sku: "A-1" }, account: "3211" }')).issues).toEqual([]);
      expect(inspectMapping(rules('{ match: { sku: "B-*" }, account: "3210" }', '{ match: { sku: "A-1" }, account: "3211" }')).issues).toEqual([]);
      expect(inspectMapping(rules('{ match: { sku: "A-1" }, account: "3210" }', '{ match: { sku: "A-*" }, account: "3211" }')).issues).toEqual([]);
      expect(inspectMapping(rules('{ match: { when: "line.quantity > 5" }, account: "3210" }', '{ match: { sku: "A-1" }, account: "3211" }')).issues).toEqual([]);
      expect(inspectMapping(rules('{ match: { country: eu }, account: "3210" }', '{ match: { country: [DE] }, account: "3211" }')).issues).toEqual([]);
    });

    // covers() in load.ts counts an earlier SKU list as covering only when it contains the exact
    // pattern "*" (`e.sku?.includes('*')` is Array.includes), so A-* before A-1 goes unreported.
    it('A-* before A-1 is reported: A-1 can never match', () => {
      const file = rules('{ match: { sku: "A-*" }, account: "3210" }', '{ match: { sku: "A-1" }, account: "3211" }');
      expect(inspectMapping(file).issues.map((i) => `${i.line}:${i.col}: ${i.message}`)).toEqual([
        `20:7: unreachable rule: rule 1 (${file}:19:7) already matches everything it would`,
      ]);
    });
  });

  it('reports numbering templates that give the same digits under digits_only', () => {
    const cancellation = '  cancellation: "7{number}"\n  revision: "6{revision}{base}"';
    expect(issuesOf(broken(['  storno: "{number}-S"', `  storno: "S{number}"\n${cancellation}\n  digits_only: true`]))).toEqual([
      '8:11: with digits_only, numbering.storno and numbering.invoice give the same number; add a distinguishing digit (for example "9{number}")',
    ]);
    expect(inspectMapping(broken(['  storno: "{number}-S"', `  storno: "9{number}"\n${cancellation}\n  digits_only: true`])).issues).toEqual([]);
    // The credit note that cancels an invoice in a settled VAT period needs its own digits too
    // (its default "{number}-X" keeps only the invoice number's digits).
    expect(issuesOf(broken(['  storno: "{number}-S"', '  storno: "9{number}"\n  cancellation: "{number}-X"\n  revision: "6{revision}{base}"\n  digits_only: true']))).toEqual([
      '9:17: with digits_only, numbering.cancellation and numbering.invoice give the same number; add a distinguishing digit (for example "9{number}")',
    ]);
  });

  it('reports Billecta with the booking variant, and verification invoices outside Billecta', () => {
    expect(issuesOf(broken(['version: 1', 'version: 1\ntarget:\n  kind: billecta\n  variant: booking']))).toEqual(['4:12: Billecta books products (article variant): set variant: article']);
    // Without a variant key (booking by default) the target itself is named.
    expect(issuesOf(broken(['version: 1', 'version: 1\ntarget:\n  kind: billecta']))).toEqual(['3:3: Billecta books products (article variant): set variant: article']);
    expect(inspectMapping(broken(['version: 1', 'version: 1\ntarget:\n  kind: billecta\n  variant: article'])).issues).toEqual([]);
    expect(issuesOf(broken(['version: 1', 'version: 1\ntarget:\n  paid_orders: verification']))).toEqual(['3:16: verification invoices exist only in Billecta']);
  });

  it('reports corrections that cannot work: a storno without cancellations or for Billecta, numbering.revision without its placeholders or, under digits_only, a digit of its own', () => {
    const corrections = (policy: string) => ['rounding:', `corrections:\n  policy: ${policy}\nrounding:`] as [string, string];
    expect(issuesOf(broken(corrections('storno')))).toEqual([
      '26:11: corrections.policy storno books through cancellations.transfer_account and respects cancellations.vat_settled_until: add a cancellations block (statuses: [] books no cancellations)',
    ]);
    expect(inspectMapping(broken(corrections('storno'), ['  account: "3680"', '  account: "3680"\ncancellations:\n  transfer_account: "1090"'])).issues).toEqual([]);
    expect(inspectMapping(broken(corrections('credit_note'))).issues).toEqual([]);
    expect(issuesOf(broken(['version: 1', 'version: 1\ntarget:\n  kind: billecta\n  variant: article'], corrections('storno')))).toEqual([
      '29:11: Billecta has no storno: corrections.policy must be credit_note (a credit invoice)',
    ]);
    expect(issuesOf(broken(['  storno: "{number}-S"', '  storno: "{number}-S"\n  revision: "{base}-2"']))).toEqual([
      '9:13: numbering.revision must contain {revision}: otherwise every corrected invoice of an order would get the same number (default "{base}-R{revision}")',
    ]);
    expect(issuesOf(broken(['  storno: "{number}-S"', '  storno: "{number}-S"\n  revision: "R{revision}"']))).toEqual([
      '9:13: numbering.revision must contain {base}: otherwise an invoice and its credit notes, storno and payments\' documents would get the same number (default "{base}-R{revision}")',
    ]);
    expect(issuesOf(broken(['  storno: "{number}-S"', '  storno: "{number}-S"\n  revision: "{revision}-{number}"']))).toEqual([
      '9:13: numbering.revision: placeholder {number} is not available here (use {base}, {revision})',
    ]);
    const digitsOnly = '  storno: "9{number}"\n  cancellation: "7{number}"\n  digits_only: true';
    expect(issuesOf(broken(['  storno: "{number}-S"', digitsOnly]))).toEqual([
      '10:16: with digits_only, numbering.revision must start with a digit of its own: "{base}-R{revision}" turns invoice 1005 into 10052, which another order\'s invoice may have (for example "6{revision}{base}")',
    ]);
    expect(inspectMapping(broken(['  storno: "{number}-S"', `${digitsOnly}\n  revision: "6{revision}{base}"`])).issues).toEqual([]);
    // Orders that change wait in the quarantine: no corrected invoice is numbered.
    expect(inspectMapping(broken(['  storno: "{number}-S"', digitsOnly], corrections('quarantine'))).issues).toEqual([]);
  });

  it('reports VAT periods: valid_to before valid_from, and one rate listed twice for overlapping dates', () => {
    expect(issuesOf(broken(['{ rate: 8.1, code: standard, account: "2201" }', '{ rate: 8.1, code: standard, account: "2201", valid_from: 2024-01-01, valid_to: 2023-12-31 }']))).toEqual([
      '23:87: valid_to is before valid_from',
    ]);
    expect(issuesOf(broken(['    - { rate: 2.6, code: reduced, account: "2203" }', '    - { rate: 2.6, code: reduced, account: "2203" }\n    - { rate: 8.1, code: standard, account: "2202", valid_from: 2025-01-01 }']))).toEqual([
      '25:7: VAT rate 8.1 % is listed twice for overlapping dates; give each entry valid_from/valid_to',
    ]);
  });

  it('reports a clearing account that is a bank account, and a deposit account that is the discount account', () => {
    expect(issuesOf(broken(['rounding:', 'payments:\n  clearing: { stripe: "1020" }\n  bank_accounts: ["1000", "1020"]\nrounding:']))).toEqual([
      '26:23: clearing account 1020 of gateway "stripe" is listed under payments.bank_accounts; payments never book to a bank account',
    ]);
    const deposits = 'deposits: { when: "true", account: "2030", final_when: "false", deposit_orders: "meta.ids" }';
    expect(issuesOf(broken(['  fees: "3600"', '  fees: "3600"\n  discount: "2030"'], ['rounding:', `${deposits}\nrounding:`]))).toEqual([
      '26:36: the deposit account must not be the discount account',
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const file = broken(['  invoice: "{number}"', '  invoice: "{nummer}"'], ['  statuses: [processing, completed]', '  statuses: [processing, completed]\n  when: "status = = 1"'], ['    - { vat_rate: 2.6, account: "3200" }', '    - { vat_rate: 3.8, account: "3200" }']);
    // The template is a schema error: the rate and expression checks run only once the schema passes.
    expect(issuesOf(file)).toEqual(['6:12: numbering.invoice: placeholder {nummer} is not available here (use {id}, {number}, {customer_id}, {email}, {year})']);
    const semantic = broken(['  statuses: [processing, completed]', '  statuses: [processing, completed]\n  when: "status = = 1"'], ['    - { vat_rate: 2.6, account: "3200" }', '    - { vat_rate: 3.8, account: "3200" }']);
    expect(issuesOf(semantic)).toEqual([
      '14:19: expression syntax error: The symbol "=" cannot be used as a unary operator (JSONata S0211)',
      '18:19: VAT rate 3.8 % has a revenue account but no VAT account under vat.rates',
    ]);
  });

  it('a YAML error (a duplicate key) is a ConfigError', () => {
    const file = broken(['  fees: "3600"', '  fees: "3600"\n  fees: "3601"']);
    expect(() => inspectMapping(file)).toThrow(ConfigError);
    expect(() => inspectMapping(file)).toThrow(/: YAML: Map keys must be unique/);
  });

  // parseYaml (src/config/yaml.ts) takes the position from e.linePos, which the yaml library
  // sets only with prettyErrors: true; it parses with prettyErrors: false, so every YAML error
  // in a mapping or config.yaml is reported at 1:1.
  it('a YAML syntax error is reported at its position, not 1:1', () => {
    const file = broken(['  fees: "3600"', '  fees: "3600"\n  fees: "3601"']);
    let error: unknown;
    try {
      inspectMapping(file);
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).issues).toEqual([{ file, line: 21, col: 3, message: expect.stringMatching(/^YAML: Map keys must be unique/) }]);
  });
});

// ── charts ────────────────────────────────────────────────────────────────────────────────

const CHART_FILE = path.resolve(ROOT, '..', 'shared', 'fixtures', 'runmyaccounts', 'base-chart-2022.json');
const BASE_CHART = (JSON.parse(readFileSync(CHART_FILE, 'utf8')) as { accounts: ChartAccount[] }).accounts;
const CHART_NAME = 'base-chart-2022.json';
/** What a mandant adds to the base chart: the PSP clearing accounts (on request) and the VAT accounts (with VAT). */
const MANDANT_CHART: ChartAccount[] = [
  ...BASE_CHART,
  { accno: '1091', description: 'Durchlaufkonto Stripe', link: 'AR_paid:AP_paid', allow_gl: true },
  { accno: '1092', description: 'Durchlaufkonto Payrexx', link: 'AR_paid:AP_paid', allow_gl: true },
  { accno: '2201', description: 'Geschuldete MWST Normalsatz', link: 'AR_tax:IC_taxpart:IC_taxservice', allow_gl: false },
  { accno: '2203', description: 'Geschuldete MWST reduzierter Satz', link: 'AR_tax:IC_taxpart:IC_taxservice', allow_gl: false },
];

function checked(file: string, chart: readonly ChartAccount[], shownAs = file) {
  const mapping = loadMapping(file);
  const { issues, warnings } = checkAgainstChart(mapping, chart, CHART_NAME);
  for (const issue of issues) expect(issue.file).toBe(shownAs);
  return { issues: issues.map((i) => `${i.line}:${i.col}: ${i.message}`), warnings };
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function positionIn(text: string, needle: string): string {
  const offset = text.indexOf(needle);
  expect(offset, needle).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

describe('checkAgainstChart', () => {
  it('accepts the minimal mapping on the base chart; VAT accounts are only warned about when the chart has no AR_tax accounts', () => {
    const file = write(MINIMAL);
    const { issues, warnings } = checked(file, BASE_CHART);
    expect(issues).toEqual([]);
    const why = `lists no VAT (AR_tax) accounts (they are created per mandant when VAT is set up)`;
    expect(warnings).toEqual([`${file}:23:45: VAT account 2201 not checked: ${CHART_NAME} ${why}`, `${file}:24:44: VAT account 2203 not checked: ${CHART_NAME} ${why}`]);
    // A chart with VAT accounts checks them: 2203 is missing from this one.
    const withOneVatAccount = [...BASE_CHART, MANDANT_CHART.find((a) => a.accno === '2201')!];
    expect(checked(file, withOneVatAccount)).toEqual({ issues: [`24:44: unknown account 2203 (not in ${CHART_NAME})`], warnings: [] });
  });

  it('reports an unknown account at its use', () => {
    const file = broken(['rounding:', 'payments:\n  clearing: { stripe: "1091" }\nrounding:']);
    expect(checked(file, BASE_CHART).issues).toEqual([`26:23: unknown account 1091 (not in ${CHART_NAME})`]);
  });

  it('reports an account whose link does not fit its use: 6944 (AP_paid) as rounding account, 1100 as revenue', () => {
    const file = broken(['  account: "3680"', '  account: "6944"'], ['  fees: "3600"', '  fees: "1100"']);
    expect(checked(file, BASE_CHART).issues).toEqual([
      '20:9: account 1100 (Forderungen Schweiz) has link "AR", but this use needs AR_amount',
      '26:12: account 6944 (Bankspesen Zahlungsverkehr, Rundungsdifferenzen) has link "AP_paid", but this use needs AR_amount',
    ]);
  });

  it('checks payment accounts for AR_paid and a receivable for AR', () => {
    const file = broken(['  receivable_account: "1100"', '  receivable_account: "3200"'], ['rounding:', 'payments:\n  clearing: { stripe: "1020" }\n  skonto: { account: "3800", max_percent: 3 }\n  write_off: { account: "3805", tolerance: 5 }\nrounding:']);
    expect(checked(file, BASE_CHART).issues).toEqual([
      '10:23: account 3200 (Handelserlöse) has link "AR_amount:IC_income", but this use needs AR',
      '28:25: account 3805 (Verluste Forderungen, Veränderung Wertberichtigungen) has link "AR_amount:IC_income", but this use needs AR_paid',
    ]);
  });

  it('the shipped mapping: its PSP clearing accounts are not in the base chart; with a mandant chart it has no issues', () => {
    const file = path.join(ROOT, 'mappings', 'woocommerce-ch.yaml');
    const text = readFileSync(file, 'utf8');
    // Files under the working directory are named relative to it.
    const shownAs = path.relative(process.cwd(), file);
    const base = checked(file, BASE_CHART, shownAs);
    expect(base.issues).toEqual([
      `${positionIn(text, '"1091"')}: unknown account 1091 (not in ${CHART_NAME})`,
      `${positionIn(text, 'payrexx: "1092"').replace(/:(\d+)$/, (_, c: string) => `:${Number(c) + 9}`)}: unknown account 1092 (not in ${CHART_NAME})`,
      `${positionIn(text, 'twint: "1092"').replace(/:(\d+)$/, (_, c: string) => `:${Number(c) + 7}`)}: unknown account 1092 (not in ${CHART_NAME})`,
    ]);
    expect(base.warnings.length).toBeGreaterThan(0);
    expect(base.warnings.every((w) => /VAT account 220[13] not checked/.test(w))).toBe(true);
    expect(checked(file, MANDANT_CHART, shownAs)).toEqual({ issues: [], warnings: [] });
  });
});

// ── the CLI ───────────────────────────────────────────────────────────────────────────────

describe('kontor check with mapping files', () => {
  it('prints FILE:LINE:COL: message on stderr for every problem and exits 2', async () => {
    const dir = tempProject();
    writeFileSync(path.join(dir, 'chart.json'), readFileSync(CHART_FILE));
    writeFileSync(path.join(dir, 'mappings', 'x.yaml'), MINIMAL.replace('rounding:', 'payments:\n  clearing: { stripe: "1091" }\nrounding:').replace('  account: "3680"', '  account: "6944"'));
    const result = await runCli(['check', '--chart', 'chart.json', 'mappings/x.yaml'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'mappings/x.yaml:26:23: unknown account 1091 (not in chart.json)',
      'mappings/x.yaml:28:12: account 6944 (Bankspesen Zahlungsverkehr, Rundungsdifferenzen) has link "AP_paid", but this use needs AR_amount',
    ]);
    expect(result.stdout).toContain('warning: mappings/x.yaml:23:45: VAT account 2201 not checked: chart.json lists no VAT (AR_tax) accounts');
  });

  it('reports mapping errors without a chart too, for several files', async () => {
    const dir = tempProject();
    writeFileSync(path.join(dir, 'mappings', 'typo.yaml'), MINIMAL.replace('  payment_terms_days: 30', '  payment_term_days: 30'));
    writeFileSync(path.join(dir, 'mappings', 'expr.yaml'), MINIMAL.replace('  statuses: [processing, completed]', "  statuses: [processing, completed]\n  when: \"status = = 'x'\""));
    const result = await runCli(['check', 'mappings/typo.yaml', 'mappings/expr.yaml'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'mappings/typo.yaml:11:3: unknown key "payment_term_days" in invoice',
      'mappings/expr.yaml:14:19: expression syntax error: The symbol "=" cannot be used as a unary operator (JSONata S0211)',
    ]);
  });

  it('passes the shipped mapping against a mandant chart and exits 0', async () => {
    const dir = tempProject();
    writeFileSync(path.join(dir, 'chart.json'), JSON.stringify({ accounts: MANDANT_CHART }));
    const result = await runCli(['check', '--chart', 'chart.json', 'mappings/woocommerce-ch.yaml'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('mappings/woocommerce-ch.yaml: OK; accounts checked against chart.json');
  });
});
