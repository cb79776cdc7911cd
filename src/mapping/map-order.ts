/**
 * Canonical order → bookkeeping documents (a customer and an invoice in the booking
 * variant), by the rules of a mapping file. All amounts come from the order or from the
 * typed VAT helpers of books/; nothing here does floating-point arithmetic.
 */
import {
  add,
  BooksError,
  buildCustomer,
  buildInvoice,
  buildPayment,
  openItemOf,
  formatRate,
  neg,
  sub,
  TotalMismatchError,
  type CustomerDocument,
  type InvoiceDocument,
  type PaymentDocument,
  type LineInput,
  type Minor,
  type VatMethod,
  type VatRate,
  type VatTreatment,
} from '../books/index.js';
import { RecordError } from '../errors.js';
import type { CanonicalOrder, OrderLine } from '../sources/order.js';
import type { Mapping } from './load.js';
import { renderTemplate, type TemplateVariable } from './template.js';

export type MapOutcome =
  | { kind: 'skipped'; reason: string }
  | { kind: 'documents'; customer: CustomerDocument; invoice: InvoiceDocument; payments: PaymentDocument[] };

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

/** Sums lines that book on the same account at the same rate into one document line. */
class LineGroups {
  private readonly map = new Map<string, { line: LineInput & { amount: Minor; shopTax: Minor; shopLines: number }; field: string }>();
  /** `field`: where the (first) order line sits, so that errors point into the order. */
  add(key: string, line: LineInput & { amount: Minor; shopTax: Minor }, field: string): void {
    const existing = this.map.get(key)?.line;
    if (existing) {
      existing.amount = add(existing.amount, line.amount);
      existing.shopTax = add(existing.shopTax, line.shopTax);
      existing.shopLines++;
    } else this.map.set(key, { line: { ...line, shopLines: 1 }, field });
  }
  values(): { line: LineInput; field: string }[] {
    return [...this.map.values()].filter((e) => e.line.amount !== 0 || e.line.shopTax !== 0);
  }
}

const KIND_TEXT: Record<OrderLine['kind'], string> = { product: 'Goods', shipping: 'Shipping', fee: 'Fees', discount: 'Discount' };

/** The VAT method that reproduces how the mapping says the shop computes VAT. */
function vatMethod(mapping: Mapping, order: CanonicalOrder): VatMethod {
  if (mapping.spec.vat.rounding === 'per_line') return { basis: 'net', rounding: 'shop' };
  return { basis: order.pricesIncludeTax ? 'gross' : 'net', rounding: 'per-rate-group' };
}

/** D1: the order's payment through a listed gateway, in full, on that gateway's clearing account. */
/** The clearing account of the provider that collected the order, if a listed one did. */
function providerClearingAccount(order: CanonicalOrder, mapping: Mapping): string | undefined {
  return order.payment?.paidAt ? mapping.spec.payments.clearing[order.payment.method] : undefined;
}

function paymentsFor(order: CanonicalOrder, invoice: InvoiceDocument, mapping: Mapping): PaymentDocument[] {
  const payment = order.payment;
  const account = providerClearingAccount(order, mapping);
  if (!payment?.paidAt || !account || invoice.total <= 0) return [];
  return [
    buildPayment(
      {
        key: { source: order.source, subject: order.id, kind: 'payment', part: 'payment', revision: 1 },
        item: openItemOf(invoice, []),
        purpose: 'payment',
        account,
        amount: invoice.total,
        date: localDate(payment.paidAt, mapping.spec.invoice.timezone),
        reference: payment.transactionId,
        memo: payment.title || payment.method,
      },
      { bankAccounts: mapping.spec.payments.bank_accounts },
    ),
  ];
}

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
  const vatFor = (rate: VatRate, field: string): VatTreatment => {
    const found = mapping.vatAccount(rate, date);
    if (found) return { rate, ...found };
    // Untaxed lines (free shipping, exempt goods) need no VAT account.
    if (rate === 0) return { rate, account: '', code: 'exempt' };
    throw new RecordError(
      `VAT rate ${formatRate(rate)} % has no VAT account valid on ${date} (add it under vat.rates in ${mapping.where(['vat', 'rates'])})`,
      field,
    );
  };

  const method = vatMethod(mapping, order);
  const income = new LineGroups();
  const discounts = new LineGroups();
  const couponCodes = order.coupons.map((c) => c.code).filter(Boolean).join(', ');

  for (const line of order.lines) {
    if (line.netBeforeDiscount === 0 && line.net === 0 && line.tax === 0) continue;
    const account = accountFor(line);
    const vat = vatFor(line.vatRate, line.field);
    const rateText = `${formatRate(line.vatRate)} %`;
    const grossBefore = add(line.netBeforeDiscount, line.taxBeforeDiscount);
    const grossAfter = add(line.net, line.tax);
    income.add(`${account}|${line.vatRate}|${line.kind}`, {
      role: line.kind === 'product' ? 'revenue' : line.kind,
      account,
      amount: method.basis === 'gross' ? grossBefore : line.netBeforeDiscount,
      shopTax: line.taxBeforeDiscount,
      text: `${KIND_TEXT[line.kind]} ${rateText}`,
      vat,
    }, line.field);
    const discountNet = sub(line.netBeforeDiscount, line.net);
    if (discountNet !== 0) {
      const discountAccount = spec.accounts.discount === 'revenue' ? account : spec.accounts.discount;
      discounts.add(`${discountAccount}|${line.vatRate}`, {
        role: 'discount',
        account: discountAccount,
        amount: neg(method.basis === 'gross' ? sub(grossBefore, grossAfter) : discountNet),
        shopTax: neg(sub(line.taxBeforeDiscount, line.tax)),
        text: `Discount${couponCodes ? ` ${couponCodes}` : ''} ${rateText}`,
        vat,
      }, line.field);
    }
  }

  const grouped = [...income.values(), ...discounts.values()];
  // Orders a payment provider collected keep their exact total: cash rounding is for what is still to pay.
  const paidByProvider = providerClearingAccount(order, mapping) !== undefined;
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
      lines: grouped.map((g) => g.line),
      vat: method,
      expectedTotal: { expected: order.total, account: spec.rounding.account, maxResidue: spec.rounding.max_residue },
      ...(spec.rounding.cash_step && !paidByProvider ? { cashRounding: { step: spec.rounding.cash_step, account: spec.rounding.account } } : {}),
    });
    return { kind: 'documents', customer, invoice, payments: paymentsFor(order, invoice, mapping) };
  } catch (error) {
    if (error instanceof TotalMismatchError) {
      throw new RecordError(`${error.message} (rounding.max_residue is ${spec.rounding.max_residue} in ${mapping.where(['rounding', 'max_residue'])})`, 'total');
    }
    if (error instanceof BooksError) {
      // books names its own input lines (`lines[2].vat`); point at the order line instead.
      const index = /^lines\[(\d+)\]/.exec(error.field ?? '')?.[1];
      const field = index !== undefined ? grouped[Number(index)]?.field : error.field;
      throw new RecordError(error.message, field);
    }
    throw error;
  }
}
