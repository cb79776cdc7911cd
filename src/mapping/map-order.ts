/**
 * Canonical order → bookkeeping documents (a customer and an invoice in the booking
 * variant), by the rules of a mapping file. All amounts come from the order or from the
 * typed VAT helpers of books/; nothing here does floating-point arithmetic.
 */
import {
  BooksError,
  buildCustomer,
  buildInvoice,
  formatDecimal,
  currencyExponent,
  formatRate,
  minor,
  sub,
  sum,
  vatFromGross,
  vatFromNet,
  type CustomerDocument,
  type IncomeEntry,
  type InvoiceDocument,
  type Minor,
  type TaxEntry,
  type VatRate,
} from '../books/index.js';
import { RecordError } from '../errors.js';
import type { CanonicalOrder, OrderLine } from '../sources/order.js';
import type { Mapping } from './load.js';
import { renderTemplate, type TemplateVariable } from './template.js';

export type MapOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'documents'; customer: CustomerDocument; invoice: InvoiceDocument };

export function localDate(iso: string, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date(iso));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get('year')}-${get('month')}-${get('day')}`;
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function templateValues(order: CanonicalOrder, localDate: string): Record<TemplateVariable, string> {
  return {
    id: order.id,
    number: order.number,
    customer_id: order.customer.id ?? '',
    email: order.customer.email,
    // The year of the invoice date in the mapping's time zone, not of the UTC timestamp.
    year: localDate.slice(0, 4),
  };
}

class Groups<T extends { amount: Minor }> {
  private readonly map = new Map<string, T>();
  add(key: string, entry: T): void {
    const existing = this.map.get(key);
    if (existing) existing.amount = minor(existing.amount + entry.amount);
    else this.map.set(key, { ...entry });
  }
  values(): T[] {
    return [...this.map.values()].filter((e) => e.amount !== 0);
  }
}

const KIND_TEXT: Record<OrderLine['kind'], string> = { product: 'Goods', shipping: 'Shipping', fee: 'Fees' };

export function mapOrder(order: CanonicalOrder, mapping: Mapping): MapOutcome {
  const { spec } = mapping;
  if (!spec.select.statuses.includes(order.status)) {
    return { kind: 'skipped', reason: `status "${order.status}" is not billable (select.statuses in ${mapping.file})` };
  }
  const date = localDate(order.createdAt, spec.invoice.timezone);
  const values = templateValues(order, date);

  const customerNumber = renderTemplate(order.customer.id ? spec.customer.number : spec.customer.guest_number, values);
  const personName = [order.customer.firstName, order.customer.lastName].filter(Boolean).join(' ');
  const key = { source: order.source, subject: order.id, kind: 'invoice' as const, revision: 1 };

  const accountFor = (line: OrderLine): string => {
    if (line.kind === 'shipping') return spec.accounts.shipping;
    if (line.kind === 'fee') return spec.accounts.fees;
    const account = mapping.revenueAccount(line.vatRate);
    if (!account) {
      throw new RecordError(
        `VAT rate ${formatRate(line.vatRate)} % has no revenue account (add it under accounts.revenue in ${mapping.where(['accounts', 'revenue'])})`,
        line.field,
      );
    }
    return account;
  };
  const vatFor = (rate: VatRate, field: string) => {
    const found = mapping.vatAccount(rate, date);
    if (found) return found;
    // Untaxed lines (free shipping, exempt goods) need no VAT account.
    if (rate === 0) return { account: '', code: 'exempt' };
    throw new RecordError(
      `VAT rate ${formatRate(rate)} % has no VAT account valid on ${date} (add it under vat.rates in ${mapping.where(['vat', 'rates'])})`,
      field,
    );
  };

  const income = new Groups<IncomeEntry>();
  const discounts = new Groups<IncomeEntry>();
  const taxByRate = new Map<VatRate, { account: string; code: string; lineTax: Minor[]; net: Minor[]; gross: Minor[]; field: string }>();
  const couponCodes = order.coupons.map((c) => c.code).filter(Boolean).join(', ');

  for (const line of order.lines) {
    if (line.netBeforeDiscount === 0 && line.net === 0 && line.tax === 0) continue;
    const account = accountFor(line);
    const vat = vatFor(line.vatRate, line.field);
    const rateText = `${formatRate(line.vatRate)} %`;
    income.add(`${account}|${line.vatRate}|${line.kind}`, {
      account,
      amount: line.netBeforeDiscount,
      text: `${KIND_TEXT[line.kind]} ${rateText}`,
      vatRate: line.vatRate,
      vatCode: vat.code,
    });
    const discount = sub(line.netBeforeDiscount, line.net);
    if (discount !== 0) {
      const discountAccount = spec.accounts.discount === 'revenue' ? account : spec.accounts.discount;
      discounts.add(`${discountAccount}|${line.vatRate}`, {
        account: discountAccount,
        amount: minor(-discount),
        text: `Discount${couponCodes ? ` ${couponCodes}` : ''} ${rateText}`,
        vatRate: line.vatRate,
        vatCode: vat.code,
      });
    }
    if (line.vatRate !== 0 || line.tax !== 0) {
      const group = taxByRate.get(line.vatRate) ?? { account: vat.account, code: vat.code, lineTax: [], net: [], gross: [], field: line.field };
      group.lineTax.push(line.tax);
      group.net.push(line.net);
      group.gross.push(minor(line.net + line.tax));
      taxByRate.set(line.vatRate, group);
    }
  }

  const tax: TaxEntry[] = [];
  for (const [rate, group] of taxByRate) {
    let amount: Minor;
    if (spec.vat.rounding === 'per_line') amount = sum(group.lineTax);
    else amount = order.pricesIncludeTax ? vatFromGross(sum(group.gross), rate) : vatFromNet(sum(group.net), rate);
    if (amount !== 0) tax.push({ account: group.account, amount, vatRate: rate, vatCode: group.code });
  }

  const incomeEntries = [...income.values(), ...discounts.values()];
  const ours = sum([...incomeEntries.map((e) => e.amount), ...tax.map((t) => t.amount)]);
  const residue = sub(order.total, ours);
  if (Math.abs(residue) > spec.rounding.max_residue) {
    const exp = currencyExponent(order.currency);
    throw new RecordError(
      `order total ${formatDecimal(order.total, exp)} differs from lines plus VAT ${formatDecimal(ours, exp)} by ${formatDecimal(residue, exp)} ${order.currency}, more than rounding.max_residue (${spec.rounding.max_residue}) in ${mapping.file} allows`,
      'total',
    );
  }

  try {
    const customer = buildCustomer({
      key: { source: order.source, subject: customerNumber, kind: 'customer', revision: 1 },
      number: customerNumber,
      name: order.customer.company || personName || order.customer.email,
      ...(order.customer.company ? { company: order.customer.company } : {}),
      firstName: order.customer.firstName,
      lastName: order.customer.lastName,
      email: order.customer.email,
      phone: order.customer.phone,
      vatId: order.customer.vatId,
      language: spec.customer.language,
      address: {
        street: order.customer.billing.street,
        street2: order.customer.billing.street2,
        zipcode: order.customer.billing.zipcode,
        city: order.customer.billing.city,
        country: order.customer.billing.country,
      },
    });
    const invoice = buildInvoice({
      key,
      number: renderTemplate(spec.invoice.number, values),
      orderNumber: order.number,
      customerNumber,
      currency: order.currency,
      date,
      dueDate: addDays(date, spec.invoice.payment_terms_days),
      description: renderTemplate(spec.invoice.description, values),
      receivableAccount: spec.invoice.receivable_account,
      income: incomeEntries,
      tax,
      ...(residue !== 0 ? { rounding: { account: spec.rounding.account, amount: residue, text: 'Rounding difference' } } : {}),
    });
    return { kind: 'documents', customer, invoice };
  } catch (error) {
    if (error instanceof BooksError) throw new RecordError(error.message);
    throw error;
  }
}
