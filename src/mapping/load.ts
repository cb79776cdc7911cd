/**
 * Load and check a mapping file. Problems are reported as `mappings/FILE.yaml:LINE:COL`.
 */
import { vatRate, type VatRate } from '../books/index.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { issuesFromZod, positionOf, readYaml } from '../config/yaml.js';
import { mappingSchema, type MappingSpec } from './schema.js';

export interface VatAccount {
  account: string;
  code: string;
}

export interface Mapping {
  file: string;
  spec: MappingSpec;
  revenueAccount(rate: VatRate): string | undefined;
  vatAccount(rate: VatRate, date: string): VatAccount | undefined;
  /** `mappings/x.yaml:LINE:COL` of a key path, for messages. */
  where(keyPath: readonly PropertyKey[]): string;
}

export function loadMapping(absolutePath: string): Mapping {
  const source = readYaml(absolutePath);
  const data: unknown = source.doc.toJS();
  const parsed = mappingSchema.safeParse(data);
  if (!parsed.success) throw new ConfigError(issuesFromZod(source, data, parsed.error));
  const spec = parsed.data;
  const where = (keyPath: readonly PropertyKey[]) => {
    const p = positionOf(source, keyPath);
    return `${p.file}:${p.line}:${p.col}`;
  };

  const issues: ConfigIssue[] = [];
  const revenue = new Map<number, string>();
  spec.accounts.revenue.forEach((r, i) => {
    const rate = vatRate(r.vat_rate);
    if (revenue.has(rate)) issues.push({ ...positionOf(source, ['accounts', 'revenue', i]), message: `VAT rate ${r.vat_rate} % is routed twice; this rule is unreachable` });
    else revenue.set(rate, r.account);
  });
  const vat = spec.vat.rates.map((r) => ({ rate: vatRate(r.rate), code: r.code, account: r.account, from: r.valid_from, to: r.valid_to }));
  spec.vat.rates.forEach((r, i) => {
    if (r.valid_from && r.valid_to && r.valid_to < r.valid_from) {
      issues.push({ ...positionOf(source, ['vat', 'rates', i, 'valid_to']), message: 'valid_to is before valid_from' });
    }
  });
  for (const [rate] of revenue) {
    if (rate !== 0 && !vat.some((v) => v.rate === rate)) {
      const i = spec.accounts.revenue.findIndex((r) => vatRate(r.vat_rate) === rate);
      issues.push({ ...positionOf(source, ['accounts', 'revenue', i, 'vat_rate']), message: `VAT rate ${spec.accounts.revenue[i]!.vat_rate} % has a revenue account but no entry under vat.rates` });
    }
  }
  for (const [gateway, account] of Object.entries(spec.payments.clearing)) {
    if (spec.payments.bank_accounts.includes(account)) {
      issues.push({ ...positionOf(source, ['payments', 'clearing', gateway]), message: `clearing account ${account} of gateway "${gateway}" is listed under payments.bank_accounts; payments never book to a bank account` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  return {
    file: source.file,
    spec,
    where,
    revenueAccount: (rate) => revenue.get(rate),
    vatAccount: (rate, date) => {
      const hit = vat.find((v) => v.rate === rate && (!v.from || v.from <= date) && (!v.to || date <= v.to));
      return hit ? { account: hit.account, code: hit.code } : undefined;
    },
  };
}
