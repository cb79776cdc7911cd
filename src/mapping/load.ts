/**
 * Load and check a mapping file: schema, expressions (compiled once, here), routing rules,
 * VAT table and numbering. Every problem is reported as `mappings/FILE.yaml:LINE:COL`.
 */
import { vatRate, type VatRate } from '../books/index.js';
import { ConfigError, type ConfigIssue, type SourcePosition } from '../errors.js';
import { issuesFromZod, positionOf, positionOfOffset, readYaml, type YamlSource } from '../config/yaml.js';
import { compileExpression, ExpressionError, type CompiledExpression } from './expressions.js';
import { RMA_CUSTOMER_LIMITS, mappingSchema, type MappingSpec, type RoutingRule } from './schema.js';
import { digitSkeleton } from './template.js';
import { isScalar } from 'yaml';

export interface VatAccount {
  account: string;
  code: string;
}

export type CountryClass = 'domestic' | 'eu' | 'export';

export interface CompiledRule {
  index: number;
  spec: RoutingRule;
  kinds: readonly string[];
  rates: ReadonlySet<VatRate> | null;
  sku: RegExp | null;
  categories: ReadonlySet<string> | null;
  when: CompiledExpression | null;
}

export interface MappingExpressions {
  select?: CompiledExpression;
  depositWhen?: CompiledExpression;
  finalWhen?: CompiledExpression;
  depositOrders?: CompiledExpression;
}

/** An account the mapping books to, with the link the target's chart must give it. */
export interface AccountUse {
  account: string;
  /** Run my Accounts chart link the account needs: AR, AR_amount, AR_tax or AR_paid. */
  link: 'AR' | 'AR_amount' | 'AR_tax' | 'AR_paid';
  keyPath: (string | number)[];
}

export interface Mapping {
  file: string;
  spec: MappingSpec;
  rules: readonly CompiledRule[];
  expressions: MappingExpressions;
  revenueAccount(rate: VatRate): string | undefined;
  vatAccount(rate: VatRate, date: string): VatAccount | undefined;
  countryClass(country: string): CountryClass;
  /** Every account the mapping names, for checks against a chart. */
  accounts(): AccountUse[];
  /** Field limits of the target kind the mapping is written for. */
  customerLimits: Readonly<Record<string, number>> | null;
  /** `mappings/x.yaml:LINE:COL` of a key path, for messages. */
  where(keyPath: readonly PropertyKey[]): string;
  /** The position of a key path, for issues. */
  position(keyPath: readonly PropertyKey[]): SourcePosition;
}

/** `*` and `?` globs, anchored, case-sensitive like SKUs are. */
function globToRegExp(patterns: readonly string[]): RegExp {
  const one = (p: string) => p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^(?:${patterns.map(one).join('|')})$`);
}

/**
 * Where inside the YAML file an expression's character `position` is. JSONata reports the
 * position just after the offending token; on a one-line scalar that maps straight onto the
 * file, a block scalar is named by its start.
 */
function expressionPosition(source: YamlSource, keyPath: readonly PropertyKey[], position: number | undefined) {
  const node = source.doc.getIn(keyPath as PropertyKey[], true);
  if (!isScalar(node) || position === undefined || !node.range) return positionOf(source, keyPath);
  const type = node.type;
  if (type !== 'PLAIN' && type !== 'QUOTE_DOUBLE' && type !== 'QUOTE_SINGLE') return positionOf(source, keyPath);
  const quote = type === 'PLAIN' ? 0 : 1;
  return positionOfOffset(source, node.range[0] + quote + Math.max(0, position - 1));
}

/** A rule that can never match because an earlier one takes everything it would. */
function covers(earlier: CompiledRule, later: CompiledRule): boolean {
  const e = earlier.spec.match;
  const l = later.spec.match;
  if (!later.kinds.every((k) => earlier.kinds.includes(k))) return false;
  const subset = (a: readonly string[] | undefined, b: readonly string[] | undefined) => a === undefined || (b !== undefined && b.every((x) => a.includes(x)));
  if (!subset(e.vat_rate?.map((r) => String(vatRate(r))), l.vat_rate?.map((r) => String(vatRate(r))))) return false;
  if (e.sku !== undefined) {
    // A later plain SKU is covered when an earlier pattern matches it; a later pattern only by `*` or itself.
    const plain = (p: string) => !/[*?]/.test(p);
    const covered = e.sku.includes('*') || (l.sku !== undefined && l.sku.every((p) => e.sku!.includes(p) || (plain(p) && earlier.sku!.test(p))));
    if (!covered) return false;
  }
  if (!subset(e.category?.map((c) => c.toLowerCase()), l.category?.map((c) => c.toLowerCase()))) return false;
  if (!subset(e.currency, l.currency)) return false;
  if (e.country !== undefined) {
    const ec = Array.isArray(e.country) ? e.country : [e.country];
    const lc = l.country === undefined ? undefined : Array.isArray(l.country) ? l.country : [l.country];
    if (!subset(ec, lc)) return false;
  }
  if (e.when !== undefined && e.when !== l.when) return false;
  return true;
}

export interface MappingLoad {
  mapping: Mapping | null;
  issues: ConfigIssue[];
}

/** Load a mapping and collect every problem instead of stopping at the first. */
export function inspectMapping(absolutePath: string): MappingLoad {
  const source = readYaml(absolutePath);
  const data: unknown = source.doc.toJS();
  const parsed = mappingSchema.safeParse(data);
  if (!parsed.success) return { mapping: null, issues: issuesFromZod(source, data, parsed.error) };
  const spec = parsed.data;
  const issues: ConfigIssue[] = [];
  const at = (keyPath: (string | number)[], message: string) => issues.push({ ...positionOf(source, keyPath), message });
  const where = (keyPath: readonly PropertyKey[]) => {
    const p = positionOf(source, keyPath);
    return `${p.file}:${p.line}:${p.col}`;
  };

  const compile = (keyPath: (string | number)[], text: string | undefined): CompiledExpression | undefined => {
    if (text === undefined) return undefined;
    try {
      return compileExpression(text);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      issues.push({ ...expressionPosition(source, keyPath, error.position), message: `expression syntax error: ${error.message}` });
      return undefined;
    }
  };

  const expressions: MappingExpressions = {};
  const select = compile(['select', 'when'], spec.select.when);
  if (select) expressions.select = select;
  if (spec.deposits) {
    const depositWhen = compile(['deposits', 'when'], spec.deposits.when);
    const finalWhen = compile(['deposits', 'final_when'], spec.deposits.final_when);
    const depositOrders = compile(['deposits', 'deposit_orders'], spec.deposits.deposit_orders);
    if (depositWhen) expressions.depositWhen = depositWhen;
    if (finalWhen) expressions.finalWhen = finalWhen;
    if (depositOrders) expressions.depositOrders = depositOrders;
  }

  const revenue = new Map<number, string>();
  spec.accounts.revenue.forEach((r, i) => {
    const rate = vatRate(r.vat_rate);
    if (revenue.has(rate)) at(['accounts', 'revenue', i], `VAT rate ${r.vat_rate} % is routed twice; this entry is unreachable`);
    else revenue.set(rate, r.account);
  });
  const vat = spec.vat.rates.map((r) => ({ rate: vatRate(r.rate), code: r.code, account: r.account, from: r.valid_from, to: r.valid_to }));
  spec.vat.rates.forEach((r, i) => {
    if (r.valid_from && r.valid_to && r.valid_to < r.valid_from) at(['vat', 'rates', i, 'valid_to'], 'valid_to is before valid_from');
    vat.slice(0, i).forEach((other) => {
      const me = vat[i]!;
      const overlaps = (other.from ?? '') <= (me.to ?? '9999') && (me.from ?? '') <= (other.to ?? '9999');
      if (other.rate === me.rate && overlaps) at(['vat', 'rates', i], `VAT rate ${r.rate} % is listed twice for overlapping dates; give each entry valid_from/valid_to`);
    });
  });
  const rateHasVatAccount = (rate: VatRate) => rate === 0 || vat.some((v) => v.rate === rate);
  for (const [rate] of revenue) {
    if (!rateHasVatAccount(rate as VatRate)) {
      const i = spec.accounts.revenue.findIndex((r) => vatRate(r.vat_rate) === rate);
      at(['accounts', 'revenue', i, 'vat_rate'], `VAT rate ${spec.accounts.revenue[i]!.vat_rate} % has a revenue account but no VAT account under vat.rates`);
    }
  }

  const rules: CompiledRule[] = spec.accounts.rules.map((r, index) => {
    const m = r.match;
    const when = compile(['accounts', 'rules', index, 'match', 'when'], m.when) ?? null;
    m.vat_rate?.forEach((rate, j) => {
      if (!rateHasVatAccount(vatRate(rate))) at(['accounts', 'rules', index, 'match', 'vat_rate', ...(Array.isArray(r.match.vat_rate) ? [j] : [])], `VAT rate ${rate} % has no VAT account under vat.rates`);
    });
    return {
      index,
      spec: r,
      kinds: m.kind ?? ['product'],
      rates: m.vat_rate ? new Set(m.vat_rate.map(vatRate)) : null,
      sku: m.sku ? globToRegExp(m.sku) : null,
      categories: m.category ? new Set(m.category.map((c) => c.toLowerCase())) : null,
      when,
    };
  });
  rules.forEach((later, j) => {
    const earlier = rules.slice(0, j).find((e) => covers(e, later));
    if (earlier) {
      const name = earlier.spec.name ? ` "${earlier.spec.name}"` : '';
      at(['accounts', 'rules', j], `unreachable rule: rule ${earlier.index + 1}${name} (${where(['accounts', 'rules', earlier.index])}) already matches everything it would`);
    }
  });

  for (const [gateway, account] of Object.entries(spec.payments.clearing)) {
    if (spec.payments.bank_accounts.includes(account)) {
      at(['payments', 'clearing', gateway], `clearing account ${account} of gateway "${gateway}" is listed under payments.bank_accounts; payments never book to a bank account`);
    }
  }
  if (spec.numbering.digits_only) {
    const templates = (['invoice', 'credit_note', 'storno', 'cancellation'] as const).map((k) => ({ k, skeleton: digitSkeleton(spec.numbering[k]) }));
    templates.forEach((t, i) => {
      const clash = templates.slice(0, i).find((o) => o.skeleton === t.skeleton);
      if (clash) at(['numbering', t.k], `with digits_only, numbering.${t.k} and numbering.${clash.k} give the same number; add a distinguishing digit (for example "9{number}")`);
    });
  }
  const revision = spec.numbering.revision;
  for (const needed of ['revision', 'base'] as const) {
    if (!revision.includes(`{${needed}}`)) {
      const why = needed === 'revision' ? 'every corrected invoice of an order would get the same number' : "an invoice and its credit notes, storno and payments' documents would get the same number";
      at(['numbering', 'revision'], `numbering.revision must contain {${needed}}: otherwise ${why} (default "{base}-R{revision}")`);
    }
  }
  const corrects = spec.corrections.policy !== 'quarantine';
  if (spec.numbering.digits_only && corrects && !/^\d/.test(digitSkeleton(revision))) {
    // The default is the culprit when no revision is written: name digits_only then.
    const given = source.doc.hasIn(['numbering', 'revision']);
    at(
      ['numbering', given ? 'revision' : 'digits_only'],
      `with digits_only, numbering.revision must start with a digit of its own: "${revision}" turns invoice 1005 into ${digitSkeleton(revision).replace('{base}', '1005').replace('{revision}', '2')}, which another order's invoice may have (for example "6{revision}{base}")`,
    );
  }
  if (spec.corrections.policy === 'storno') {
    if (spec.target.kind === 'billecta') at(['corrections', 'policy'], 'Billecta has no storno: corrections.policy must be credit_note (a credit invoice)');
    else if (!spec.cancellations) {
      at(['corrections', 'policy'], 'corrections.policy storno books through cancellations.transfer_account and respects cancellations.vat_settled_until: add a cancellations block (statuses: [] books no cancellations)');
    }
  }
  if (spec.target.kind === 'billecta' && spec.target.variant === 'booking') {
    at(['target', 'variant'], 'Billecta books products (article variant): set variant: article');
  }
  if (spec.target.paid_orders === 'verification' && spec.target.kind !== 'billecta') {
    at(['target', 'paid_orders'], 'verification invoices exist only in Billecta');
  }
  if (spec.deposits && spec.target.variant === 'booking' && spec.accounts.discount !== 'revenue' && spec.accounts.discount === spec.deposits.account) {
    at(['deposits', 'account'], 'the deposit account must not be the discount account');
  }

  if (issues.length > 0) return { mapping: null, issues: issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0)) };

  const domestic = new Set(spec.countries.domestic);
  const eu = new Set(spec.countries.eu);
  const mapping: Mapping = {
    file: source.file,
    spec,
    rules,
    expressions,
    where,
    position: (keyPath) => positionOf(source, keyPath),
    customerLimits: spec.target.kind === 'runmyaccounts' ? RMA_CUSTOMER_LIMITS : null,
    revenueAccount: (rate) => revenue.get(rate),
    vatAccount: (rate, date) => {
      const hit = vat.find((v) => v.rate === rate && (!v.from || v.from <= date) && (!v.to || date <= v.to));
      return hit ? { account: hit.account, code: hit.code } : undefined;
    },
    countryClass: (country) => (domestic.has(country) || country === '' ? 'domestic' : eu.has(country) ? 'eu' : 'export'),
    accounts: () => accountUses(spec),
  };
  return { mapping, issues: [] };
}

export function loadMapping(absolutePath: string): Mapping {
  const { mapping, issues } = inspectMapping(absolutePath);
  if (!mapping) throw new ConfigError(issues);
  return mapping;
}

function accountUses(spec: MappingSpec): AccountUse[] {
  const uses: AccountUse[] = [{ account: spec.invoice.receivable_account, link: 'AR', keyPath: ['invoice', 'receivable_account'] }];
  for (const [currency, account] of Object.entries(spec.invoice.receivable_by_currency)) uses.push({ account, link: 'AR', keyPath: ['invoice', 'receivable_by_currency', currency] });
  const income = (account: string, keyPath: (string | number)[]) => uses.push({ account, link: 'AR_amount', keyPath });
  const paid = (account: string, keyPath: (string | number)[]) => uses.push({ account, link: 'AR_paid', keyPath });
  spec.accounts.revenue.forEach((r, i) => income(r.account, ['accounts', 'revenue', i, 'account']));
  spec.accounts.rules.forEach((r, i) => income(r.account, ['accounts', 'rules', i, 'account']));
  income(spec.accounts.shipping, ['accounts', 'shipping']);
  income(spec.accounts.fees, ['accounts', 'fees']);
  if (spec.accounts.discount !== 'revenue') income(spec.accounts.discount, ['accounts', 'discount']);
  income(spec.rounding.account, ['rounding', 'account']);
  if (spec.deposits) income(spec.deposits.account, ['deposits', 'account']);
  spec.vat.rates.forEach((r, i) => uses.push({ account: r.account, link: 'AR_tax', keyPath: ['vat', 'rates', i, 'account'] }));
  for (const [gateway, account] of Object.entries(spec.payments.clearing)) paid(account, ['payments', 'clearing', gateway]);
  if (spec.payments.fee_account) paid(spec.payments.fee_account, ['payments', 'fee_account']);
  if (spec.payments.write_off) paid(spec.payments.write_off.account, ['payments', 'write_off', 'account']);
  if (spec.payments.skonto) paid(spec.payments.skonto.account, ['payments', 'skonto', 'account']);
  if (spec.cancellations) paid(spec.cancellations.transfer_account, ['cancellations', 'transfer_account']);
  return uses;
}

export interface ChartAccount {
  accno: string;
  description?: string;
  link: string;
  allow_gl?: boolean;
  /** False for an account that exists but is closed (it refuses every posting); unknown when absent. */
  active?: boolean;
}

/**
 * Every account the mapping names, checked against a chart of accounts (Run my Accounts'
 * `GET /charts` or a file of the same shape): it exists and has the link its use needs.
 */
export function checkAgainstChart(mapping: Mapping, chart: readonly ChartAccount[], chartName: string): { issues: ConfigIssue[]; warnings: string[] } {
  const byNumber = new Map(chart.map((a) => [a.accno, a]));
  const hasTaxAccounts = chart.some((a) => a.link.split(':').includes('AR_tax'));
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  for (const use of mapping.accounts()) {
    const dedupe = `${use.account}|${use.link}|${use.keyPath.join('.')}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    const found = byNumber.get(use.account);
    const p = mapping.position(use.keyPath);
    if (!found) {
      if (use.link === 'AR_tax' && !hasTaxAccounts) {
        warnings.push(`${p.file}:${p.line}:${p.col}: VAT account ${use.account} not checked: ${chartName} lists no VAT (AR_tax) accounts (they are created per mandant when VAT is set up)`);
        continue;
      }
      issues.push({ ...p, message: `unknown account ${use.account} (not in ${chartName})` });
      continue;
    }
    if (!found.link.split(':').includes(use.link)) {
      issues.push({ ...p, message: `account ${use.account} (${found.description ?? ''}) has link "${found.link || 'none'}", but this use needs ${use.link}` });
    }
    if (found.active === false) issues.push({ ...p, message: `account ${use.account} (${found.description ?? ''}) is not active in ${chartName}` });
  }
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  return { issues, warnings };
}

export { RMA_CUSTOMER_LIMITS };
