/**
 * Canonical order → bookkeeping documents, by the rules of a mapping file: the customer, the
 * invoice (standard, deposit or final settlement; booking or article variant), payments,
 * credit notes for refunds, and a storno or credit note when a booked order is cancelled.
 *
 * Expressions (JSONata) only select and route; every amount comes from the order or from the
 * typed helpers of books/. Nothing here does floating-point arithmetic.
 */
import {
  add,
  BooksError,
  buildCreditNote,
  buildCustomer,
  buildFinalInvoice,
  buildInvoice,
  buildStorno,
  cancelInvoice,
  creditAmount,
  creditRemainder,
  divRound,
  formatRate,
  minor,
  neg,
  netThroughTransfer,
  openItemOf,
  reversePayments,
  roundToStep,
  settle,
  sub,
  sum,
  TotalMismatchError,
  type Article,
  type BookDocument,
  type CreditNoteDocument,
  type CustomerDocument,
  type DocumentKey,
  type DocumentKind,
  type InvoiceDocument,
  type LineInput,
  type LineRole,
  type Minor,
  type PaymentDocument,
  type StornoDocument,
  type VatMethod,
  type VatRate,
  type VatTreatment,
} from '../books/index.js';
import { RecordError } from '../errors.js';
import type { CanonicalOrder, OrderLine, OrderRefund } from '../sources/order.js';
import { evaluateCondition, evaluateIds, ExpressionError, lineView, orderView, type CompiledExpression } from './expressions.js';
import type { CompiledRule, Mapping } from './load.js';
import { renderTemplate, type TemplateValues } from './template.js';
import { bookedOrder, changedSalesDocument, revisionPart } from './revisions.js';

/**
 * What was booked before for this source, so that refunds, cancellations and final
 * settlements can refer to it. The service reads it from its document store; preview and
 * tests from documents in memory.
 */
export interface BookedHistory {
  /** The documents booked for one order of this source (latest revision of each). */
  documentsOf(orderId: string): Promise<BookDocument[]>;
  /** Final settlements that deducted from a deposit invoice. */
  finalsDrawing(depositNumber: string): Promise<InvoiceDocument[]>;
}

export const NO_HISTORY: BookedHistory = {
  documentsOf: async () => [],
  finalsDrawing: async () => [],
};

/** A history over documents in memory (preview, tests, benchmarks). */
export function historyOf(docs: readonly BookDocument[], source: string): BookedHistory {
  const mine = docs.filter((d) => d.key.source === source);
  return {
    documentsOf: async (orderId) => mine.filter((d) => d.key.subject === orderId),
    finalsDrawing: async (n) => mine.filter((d): d is InvoiceDocument => d.kind === 'invoice' && d.purpose === 'final' && d.lines.some((l) => l.deposit === n)),
  };
}

/** The order's current invoice: of its latest revision, when it was corrected. */
async function bookedInvoice(history: BookedHistory, orderId: string): Promise<InvoiceDocument | undefined> {
  return bookedOrder(await history.documentsOf(orderId)).current?.invoice;
}

export type MapOutcome =
  | { kind: 'skipped'; reason: string }
  | {
      kind: 'documents';
      /** In delivery order: customer, invoice, payments, credit notes, storno group. */
      documents: BookDocument[];
      customer: CustomerDocument | null;
      invoice: InvoiceDocument | null;
      /** Things a person should know (a field cut to the target's length, an assumption). */
      notes: string[];
    };

/** Building an Intl.DateTimeFormat costs more than mapping the rest of an order: one per zone. */
const DATE_FORMATS = new Map<string, Intl.DateTimeFormat>();

export function localDate(iso: string, timeZone: string): string {
  let format = DATE_FORMATS.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    DATE_FORMATS.set(timeZone, format);
  }
  let year = '';
  let month = '';
  let day = '';
  for (const p of format.formatToParts(new Date(iso))) {
    if (p.type === 'year') year = p.value;
    else if (p.type === 'month') month = p.value;
    else if (p.type === 'day') day = p.value;
  }
  return `${year}-${month}-${day}`;
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
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
      if (existing.part && line.part) existing.part = { ...existing.part, quantity: existing.part.quantity + line.part.quantity };
    } else this.map.set(key, { line: { ...line, shopLines: 1 }, field });
  }
  values(): { line: LineInput; field: string }[] {
    return [...this.map.values()].filter((e) => e.line.amount !== 0 || e.line.shopTax !== 0);
  }
}

const KIND_TEXT: Record<OrderLine['kind'], string> = { product: 'Goods', shipping: 'Shipping', fee: 'Fees', discount: 'Discount' };
const LINE_ROLE: Record<OrderLine['kind'], LineRole> = { product: 'revenue', shipping: 'shipping', fee: 'fee', discount: 'discount' };

/** The VAT method that reproduces how the mapping says the shop computes VAT. */
function vatMethod(mapping: Mapping, order: CanonicalOrder): VatMethod {
  if (mapping.spec.vat.rounding === 'per_line') return { basis: 'net', rounding: 'shop' };
  return { basis: order.pricesIncludeTax ? 'gross' : 'net', rounding: 'per-rate-group' };
}

/** The clearing account of the provider that collected the order, if a listed one did. */
function providerClearingAccount(order: CanonicalOrder, mapping: Mapping): string | undefined {
  return order.payment?.paidAt ? mapping.spec.payments.clearing[order.payment.method] : undefined;
}

/** Where a line's money goes: its account, VAT treatment and (article variant) part number. */
interface Route {
  account: string;
  vat: VatTreatment;
  rule: CompiledRule | null;
}

/** Everything mapOrder works out once per order and hands to the document builders. */
class OrderMapper {
  readonly spec;
  readonly date: string;
  readonly values: TemplateValues;
  readonly method: VatMethod;
  readonly notes: string[] = [];
  private view: ReturnType<typeof orderView> | undefined;

  constructor(
    readonly order: CanonicalOrder,
    readonly mapping: Mapping,
    date: string,
    /** The invoice revision the documents belong to: 1, or 2, 3, … after corrections. */
    readonly revision = 1,
  ) {
    this.spec = mapping.spec;
    this.date = date;
    this.values = {
      id: order.id,
      number: order.number,
      customer_id: order.customer.id ?? '',
      email: order.customer.email,
      // The year of the invoice date in the mapping's time zone, not of the UTC timestamp.
      year: date.slice(0, 4),
    };
    this.method = vatMethod(mapping, order);
  }

  orderView() {
    this.view ??= orderView(this.order);
    return this.view;
  }

  /** Run an expression, naming the mapping key it came from when it fails. */
  async expression<T>(keyPath: (string | number)[], run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ExpressionError) throw new RecordError(`${keyPath.join('.')} (${this.mapping.where(keyPath)}): ${error.message}`);
      throw error;
    }
  }

  /** A document number; on revision 2 and later, through numbering.revision. */
  number(template: string, extra: TemplateValues = {}): string {
    const base = renderTemplate(template, { ...this.values, ...extra });
    const n = this.revision > 1 ? renderTemplate(this.spec.numbering.revision, { base, revision: String(this.revision) }) : base;
    if (!this.spec.numbering.digits_only) return n;
    const digits = n.replace(/\D/g, '');
    if (digits === '') throw new RecordError(`number "${n}" has no digits, but numbering.digits_only is set (${this.mapping.where(['numbering', 'digits_only'])})`, 'number');
    return digits;
  }

  /** The key of one of the order's documents; on revision 2 and later the part says the revision (`invoice:r2`). */
  key(kind: Exclude<DocumentKind, 'customer'>, part?: string): DocumentKey {
    const p = revisionPart(this.revision, part);
    return { source: this.order.source, subject: this.order.id, kind, ...(p ? { part: p } : {}), revision: 1 };
  }

  localDate(iso: string): string {
    return localDate(iso, this.spec.invoice.timezone);
  }

  /** The day of the order's last change (a cancellation, a correction), not before `notBefore`. */
  changedOn(notBefore: string): string {
    const day = this.localDate(this.order.updatedAt);
    return day < notBefore ? notBefore : day;
  }

  deliveryCountry(): string {
    return (this.order.customer.shipping ?? this.order.customer.billing).country;
  }

  vatFor(rate: VatRate, field: string, date = this.date): VatTreatment {
    const found = this.mapping.vatAccount(rate, date);
    if (found) return { rate, ...found };
    // Untaxed lines (free shipping, exempt goods, exports) need no VAT account.
    if (rate === 0) return { rate, account: '', code: this.mapping.countryClass(this.deliveryCountry()) === 'domestic' ? 'exempt' : 'export' };
    throw new RecordError(`VAT rate ${formatRate(rate)} % has no VAT account valid on ${date} (add it under vat.rates in ${this.mapping.where(['vat', 'rates'])})`, field);
  }

  private async ruleMatches(rule: CompiledRule, line: Pick<OrderLine, 'kind' | 'sku' | 'categories' | 'vatRate'>): Promise<boolean> {
    const m = rule.spec.match;
    if (!rule.kinds.includes(line.kind)) return false;
    if (rule.rates && !rule.rates.has(line.vatRate)) return false;
    if (rule.sku && !rule.sku.test(line.sku)) return false;
    if (rule.categories && !line.categories.some((c) => rule.categories!.has(c.toLowerCase()))) return false;
    if (m.currency && !m.currency.includes(this.order.currency)) return false;
    if (m.country !== undefined) {
      const country = this.deliveryCountry();
      if (Array.isArray(m.country) ? !m.country.includes(country) : this.mapping.countryClass(country) !== m.country) return false;
    }
    if (rule.when) {
      const when = rule.when;
      const keyPath = ['accounts', 'rules', rule.index, 'match', 'when'];
      return this.expression(keyPath, () => evaluateCondition(when, { order: this.orderView(), line: lineView(line as OrderLine) }, keyPath.join('.')));
    }
    return true;
  }

  /** The first matching rule decides; otherwise the defaults by kind and VAT rate. */
  async route(line: OrderLine): Promise<Route> {
    const vat = this.vatFor(line.vatRate, line.field);
    for (const rule of this.mapping.rules) {
      if (await this.ruleMatches(rule, line)) {
        return { account: rule.spec.account, vat: rule.spec.vat_code ? { ...vat, code: rule.spec.vat_code } : vat, rule };
      }
    }
    const { accounts } = this.spec;
    if (line.kind === 'shipping') return { account: accounts.shipping, vat, rule: null };
    if (line.kind === 'fee') return { account: accounts.fees, vat, rule: null };
    const revenue = this.mapping.revenueAccount(line.vatRate);
    if (line.kind === 'discount' && accounts.discount !== 'revenue') return { account: accounts.discount, vat, rule: null };
    if (!revenue) {
      throw new RecordError(`VAT rate ${formatRate(line.vatRate)} % has no revenue account (add it under accounts.revenue in ${this.mapping.where(['accounts', 'revenue'])})`, line.field);
    }
    return { account: revenue, vat, rule: null };
  }

  /** Article variant: the part number of a line, from the mapping's article templates. */
  partNumber(kind: OrderLine['kind'] | 'deposit', sku: string, vat: VatTreatment, account: string, field: string): string {
    const a = this.spec.articles;
    const values = { sku, vat_code: vat.code, account };
    if (kind === 'product') {
      if (sku === '' && a.product.includes('{sku}')) {
        if (a.missing_sku) return a.missing_sku;
        throw new RecordError(`the line has no SKU, which the article variant needs for its part number (set articles.missing_sku in ${this.mapping.where(['articles'])})`, `${field}.sku`);
      }
      return renderTemplate(a.product, values);
    }
    return renderTemplate(a[kind], values);
  }
}

/** Lines of the invoice, grouped by account and rate (booking) or by part (article). */
async function invoiceLines(m: OrderMapper, asDeposit: boolean): Promise<{ lines: { line: LineInput; field: string }[]; articles: Article[] }> {
  const { order, spec, method } = m;
  const article = spec.target.variant === 'article';
  const income = new LineGroups();
  const discounts = new LineGroups();
  const catalog = new Map<string, Article & { field: string }>();
  const couponCodes = order.coupons.map((c) => c.code).filter(Boolean).join(', ');

  const addArticle = (number: string, account: string, vat: VatTreatment, role: Article['role'], field: string) => {
    const known = catalog.get(number);
    if (known && (known.account !== account || known.vat.rate !== vat.rate || known.vat.code !== vat.code)) {
      throw new RecordError(
        `part ${number} would book on ${known.account} at ${formatRate(known.vat.rate)} % for ${known.field} but on ${account} at ${formatRate(vat.rate)} % here; put {vat_code} or {account} into its template under articles (${m.mapping.where(['articles'])})`,
        field,
      );
    }
    if (!known) catalog.set(number, { number, account, vat, ...(role ? { role } : {}), field });
  };
  /** A part line: whole units when the amount divides evenly, otherwise one unit at the line's amount. */
  const part = (number: string, quantity: number, amount: Minor) =>
    quantity > 0 && amount % quantity === 0 ? { number, quantity, unitPrice: minor(amount / quantity) } : { number, quantity: 1, unitPrice: amount };

  for (const line of order.lines) {
    if (line.netBeforeDiscount === 0 && line.net === 0 && line.tax === 0) continue;
    const route = asDeposit ? { account: spec.deposits!.account, vat: m.vatFor(line.vatRate, line.field), rule: null } : await m.route(line);
    const role: LineRole = asDeposit ? 'deposit' : LINE_ROLE[line.kind];
    const rateText = `${formatRate(line.vatRate)} %`;
    const grossBefore = add(line.netBeforeDiscount, line.taxBeforeDiscount);
    const grossAfter = add(line.net, line.tax);
    // A deposit is what the customer pays: after discounts, without discount lines of its own.
    const amount = asDeposit ? (method.basis === 'gross' ? grossAfter : line.net) : method.basis === 'gross' ? grossBefore : line.netBeforeDiscount;
    const shopTax = asDeposit ? line.tax : line.taxBeforeDiscount;
    const text = line.kind === 'product' || line.kind === 'discount' ? line.name || KIND_TEXT[line.kind] : `${KIND_TEXT[line.kind]} ${rateText}`;
    if (article) {
      const number = m.partNumber(asDeposit ? 'deposit' : line.kind, line.sku, route.vat, route.account, line.field);
      addArticle(number, route.account, route.vat, role as NonNullable<Article['role']>, line.field);
      income.add(`${number}|${line.ref}`, { role, text, amount, shopTax, part: part(number, line.quantity, amount) }, line.field);
    } else {
      income.add(`${route.account}|${route.vat.rate}|${route.vat.code}|${role}`, { role, account: route.account, amount, shopTax, text: asDeposit ? `Deposit ${rateText}` : `${KIND_TEXT[line.kind]} ${rateText}`, vat: route.vat }, line.field);
    }
    const discountNet = sub(line.netBeforeDiscount, line.net);
    if (discountNet !== 0 && !asDeposit) {
      const discountAccount = spec.accounts.discount === 'revenue' ? route.account : spec.accounts.discount;
      const discountAmount = neg(method.basis === 'gross' ? sub(grossBefore, grossAfter) : discountNet);
      const discountTax = neg(sub(line.taxBeforeDiscount, line.tax));
      const discountText = `Discount${couponCodes ? ` ${couponCodes}` : ''} ${rateText}`;
      if (article) {
        const number = m.partNumber('discount', '', route.vat, discountAccount, line.field);
        addArticle(number, discountAccount, route.vat, 'discount', line.field);
        discounts.add(number, { role: 'discount', text: discountText, amount: discountAmount, shopTax: discountTax, part: { number, quantity: 1, unitPrice: discountAmount } }, line.field);
      } else {
        discounts.add(`${discountAccount}|${route.vat.rate}|${route.vat.code}`, { role: 'discount', account: discountAccount, amount: discountAmount, shopTax: discountTax, text: discountText, vat: route.vat }, line.field);
      }
    }
  }
  // Summed part lines carry one unit at the summed amount.
  const lines = [...income.values(), ...discounts.values()].map((g) =>
    g.line.part && g.line.amount !== undefined && g.line.part.quantity * g.line.part.unitPrice !== g.line.amount
      ? { ...g, line: { ...g.line, part: { ...g.line.part, quantity: 1, unitPrice: g.line.amount } } }
      : g,
  );
  return { lines, articles: [...catalog.values()].map(({ field: _field, ...a }) => a) };
}

/** books names its own input lines (`lines[2].vat`); point at the order instead. */
function recordErrorOf(error: unknown, m: OrderMapper, grouped: readonly { field: string }[], fallbackField: string): unknown {
  if (error instanceof TotalMismatchError) {
    return new RecordError(`${error.message} (rounding.max_residue is ${m.spec.rounding.max_residue} in ${m.mapping.where(['rounding', 'max_residue'])})`, fallbackField);
  }
  if (error instanceof BooksError) {
    const index = /^lines\[(\d+)\]/.exec(error.field ?? '')?.[1];
    const field = index !== undefined ? grouped[Number(index)]?.field : error.field;
    return new RecordError(error.message, field ?? fallbackField);
  }
  return error;
}

function buildCustomerDocument(m: OrderMapper): CustomerDocument {
  const { order, spec, mapping } = m;
  const c = order.customer;
  const number = renderTemplate(c.id ? spec.customer.number : spec.customer.guest_number, m.values);
  const personName = [c.firstName, c.lastName].filter(Boolean).join(' ');
  const asCompany = spec.customer.type === 'company' || (spec.customer.type === 'auto' && c.company !== '');
  const limits = mapping.customerLimits;
  /** A field within the target's limit, or a precise rejection (or a cut, if the mapping says so). */
  const fit = (value: string, limitKey: string, field: string): string => {
    const limit = limits?.[limitKey];
    if (limit === undefined || [...value].length <= limit) return value;
    if (spec.customer.overlong === 'truncate') {
      m.notes.push(`customer ${limitKey} "${value}" cut to ${limit} characters`);
      return [...value].slice(0, limit).join('');
    }
    throw new RecordError(
      `${limitKey} "${value}" is ${[...value].length} characters; ${spec.target.kind === 'runmyaccounts' ? 'Run my Accounts' : spec.target.kind} allows ${limit} (shorten it in the shop, or set customer.overlong: truncate in ${mapping.where(['customer'])})`,
      field,
    );
  };
  const nameField = asCompany && c.company ? 'billing.company' : 'billing.last_name';
  // The company is the name Run my Accounts shows: cut (or rejected) once, used for both.
  const company = asCompany && c.company ? fit(c.company, 'name', 'billing.company') : '';
  const name = (asCompany ? company || personName : personName || c.company) || c.email;
  // Never cut a customer number: two customers could end up as one.
  const numberLimit = limits?.customernumber;
  if (numberLimit !== undefined && [...number].length > numberLimit) {
    throw new RecordError(
      `customer number "${number}" is ${[...number].length} characters; ${spec.target.kind === 'runmyaccounts' ? 'Run my Accounts' : spec.target.kind} allows ${numberLimit} (shorten customer.number or customer.guest_number in ${mapping.where(['customer'])})`,
      'customer.id',
    );
  }
  return buildCustomer({
    key: { source: order.source, subject: number, kind: 'customer', revision: 1 },
    number,
    type: asCompany ? 'company' : 'person',
    name: fit(name, 'name', nameField),
    ...(company ? { company } : {}),
    firstName: fit(c.firstName, 'firstname', 'billing.first_name'),
    lastName: fit(c.lastName, 'lastname', 'billing.last_name'),
    email: c.email,
    phone: fit(c.phone, 'phone', 'billing.phone'),
    vatId: fit(c.vatId, 'taxnumber', 'billing.vat_id'),
    language: spec.customer.languages[c.billing.country] ?? spec.customer.language,
    address: {
      street: fit(c.billing.street, 'address1', 'billing.street'),
      street2: fit(c.billing.street2, 'address2', 'billing.street2'),
      zipcode: fit(c.billing.zipcode, 'zipcode', 'billing.zipcode'),
      city: fit(c.billing.city, 'city', 'billing.city'),
      country: c.billing.country,
    },
  });
}

type InvoicePurpose = 'standard' | 'deposit' | 'final';

async function invoicePurpose(m: OrderMapper): Promise<InvoicePurpose> {
  const { depositWhen, finalWhen } = m.mapping.expressions;
  const input = m.orderView();
  if (depositWhen && (await m.expression(['deposits', 'when'], () => evaluateCondition(depositWhen, input, 'deposits.when')))) return 'deposit';
  if (finalWhen && (await m.expression(['deposits', 'final_when'], () => evaluateCondition(finalWhen, input, 'deposits.final_when')))) return 'final';
  return 'standard';
}

async function buildInvoiceDocument(m: OrderMapper, customer: CustomerDocument, history: BookedHistory): Promise<InvoiceDocument> {
  const { order, spec, mapping } = m;
  const purpose = await invoicePurpose(m);
  const { lines: grouped, articles } = await invoiceLines(m, purpose === 'deposit');
  const paidByProvider = providerClearingAccount(order, mapping) !== undefined;
  const key = m.key('invoice');
  const input = {
    key,
    number: m.number(spec.numbering.invoice),
    orderNumber: order.number,
    customerNumber: customer.number,
    currency: order.currency,
    date: m.date,
    dueDate: addDays(m.date, spec.invoice.payment_terms_days),
    description: renderTemplate(spec.invoice.description, m.values),
    receivableAccount: spec.invoice.receivable_by_currency[order.currency] ?? spec.invoice.receivable_account,
    variant: spec.target.variant,
    ...(spec.target.variant === 'article' ? { articles } : {}),
    lines: grouped.map((g) => g.line),
    vat: m.method,
  };
  const expectedTotal = { expected: order.total, account: spec.rounding.account, maxResidue: spec.rounding.max_residue };
  // Orders a payment provider collected keep their exact total: cash rounding is for what is still to pay.
  const cashRounding = spec.rounding.cash_step && !paidByProvider ? { cashRounding: { step: spec.rounding.cash_step, account: spec.rounding.account } } : {};
  try {
    if (purpose !== 'final') return buildInvoice({ ...input, purpose, expectedTotal, ...cashRounding });
    // The shop's order states the full delivery: check it against the shop as a standard
    // invoice first, then deduct the deposits it settles.
    const full = buildInvoice({ ...input, expectedTotal });
    const residue = sum(full.rounding.map((r) => r.amount));
    const depositIds = await m.expression(['deposits', 'deposit_orders'], () => evaluateIds(mapping.expressions.depositOrders!, m.orderView(), 'deposits.deposit_orders'));
    const deposits: InvoiceDocument[] = [];
    for (const id of depositIds) {
      const deposit = await bookedInvoice(history, id);
      if (!deposit) throw new RecordError(`deposit order ${id} has not been booked (yet); a final settlement deducts booked deposits only`, 'deposits');
      deposits.push(deposit);
    }
    const earlier = (await Promise.all(deposits.map((d) => history.finalsDrawing(d.number)))).flat().filter((f) => f.key.subject !== order.id);
    // Article variant: the deductions book the deposits' own parts, which the final's lines may not name.
    const depositArticles: Article[] = deposits.flatMap((d) => d.lines.filter((l) => l.role === 'deposit' && l.part).map((l) => ({ number: l.part!.number, account: l.account, vat: l.vat, role: 'deposit' as const })));
    const finalInput = input.articles ? { ...input, articles: [...input.articles, ...depositArticles.filter((a) => !input.articles!.some((b) => b.number === a.number))] } : input;
    // Exact first; then the shop's residue on top, and cash rounding last.
    const exact = buildFinalInvoice(finalInput, deposits, earlier);
    return buildFinalInvoice({ ...finalInput, ...(residue !== 0 ? { expectedTotal: { ...expectedTotal, expected: add(exact.total, residue) } } : {}), ...cashRounding }, deposits, earlier);
  } catch (error) {
    throw recordErrorOf(error, m, grouped, 'total');
  }
}

/** D1–D4: what the provider collected, its fee, and a write-off or skonto for what is left. */
function paymentsFor(m: OrderMapper, invoice: InvoiceDocument): PaymentDocument[] {
  const { order, spec } = m;
  const payment = order.payment;
  const clearing = providerClearingAccount(order, m.mapping);
  if (!payment?.paidAt || !clearing || invoice.total <= 0) return [];
  const { fee_account: feeAccount, write_off: writeOff, skonto } = spec.payments;
  const fee = payment.fee !== 0 && feeAccount ? payment.fee : minor(0);
  if (payment.fee !== 0 && !feeAccount) m.notes.push(`the provider's fee of ${payment.fee} minor units is not booked: set payments.fee_account (${m.mapping.where(['payments'])})`);
  const collected = payment.amount ?? invoice.total;
  const received = sub(collected, fee);
  // The order's own payments are mapped afresh each time (and stored once), so they start from the full total.
  const item = openItemOf(invoice, []);
  const shortfall = sub(item.open, collected);
  // D4: a shortfall beyond the write-off tolerance and within the skonto limit is skonto.
  const skontoLimit = skonto ? divRound(BigInt(invoice.total) * BigInt(Math.round(skonto.max_percent * 100)), 10_000n, 'down') : 0n;
  const isSkonto = skonto && shortfall > (writeOff?.tolerance ?? 0) && BigInt(shortfall) <= skontoLimit;
  const key = (part: string) => m.key('payment', part);
  // A later revision's invoice may be younger than the payment it takes over: not paid before it is issued.
  const paidOn = m.localDate(payment.paidAt);
  try {
    return settle({
      item,
      date: m.revision > 1 && paidOn < invoice.date ? invoice.date : paidOn,
      received,
      clearingAccount: clearing,
      reference: payment.transactionId,
      memo: payment.title || payment.method,
      ...(fee !== 0 ? { fee: { amount: fee, account: feeAccount! } } : {}),
      ...(isSkonto ? { skonto: { amount: shortfall, account: skonto.account } } : {}),
      ...(writeOff ? { writeOff: { account: writeOff.account, tolerance: minor(writeOff.tolerance) } } : {}),
      key,
      policy: { bankAccounts: spec.payments.bank_accounts },
    });
  } catch (error) {
    if (error instanceof BooksError) throw new RecordError(error.message, 'payment');
    throw error;
  }
}

/** B1/B2: one credit note per refund the shop recorded. */
async function creditNotesFor(m: OrderMapper, invoice: InvoiceDocument, booked: readonly BookDocument[]): Promise<BookDocument[]> {
  const { order, spec } = m;
  if (spec.refunds.book === 'ignore' || order.refunds.length === 0) return [];
  const refunds = [...order.refunds].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id, 'en', { numeric: true }));
  // Credit notes of these refunds are mapped afresh; only other ones (a cancellation) count as earlier.
  const refundParts = new Set(refunds.map((r) => revisionPart(m.revision, r.id)));
  const earlier = booked.filter((d): d is CreditNoteDocument => d.kind === 'credit-note' && d.credits === invoice.number && !refundParts.has(d.key.part ?? ''));
  const clearing = providerClearingAccount(order, m.mapping);
  const out: BookDocument[] = [];
  for (const refund of refunds) {
    const credit = await creditNoteFor(m, invoice, refund, earlier);
    earlier.push(credit);
    out.push(credit);
    // Money a provider collected goes back the same way: the credit note is settled there.
    if (clearing && credit.total < 0) {
      try {
        const paidBack = settle({
          item: openItemOf(credit, []),
          date: credit.date,
          received: credit.total,
          clearingAccount: clearing,
          reference: refund.id,
          memo: `Refund ${refund.id}`,
          key: (part) => m.key('payment', `refund-${refund.id}-${part}`),
          policy: { bankAccounts: spec.payments.bank_accounts },
        });
        out.push(...paidBack);
      } catch (error) {
        if (error instanceof BooksError) throw new RecordError(error.message, refund.field);
        throw error;
      }
    }
  }
  return out;
}

async function creditNoteFor(m: OrderMapper, invoice: InvoiceDocument, refund: OrderRefund, earlier: readonly CreditNoteDocument[]): Promise<CreditNoteDocument> {
  const { order, spec } = m;
  const date = m.localDate(refund.createdAt) < invoice.date ? invoice.date : m.localDate(refund.createdAt);
  const key = m.key('credit-note', refund.id);
  const number = m.number(spec.numbering.credit_note, { refund_id: refund.id });
  const description = `Refund ${refund.id} on order ${order.number}${refund.reason ? `: ${refund.reason}` : ''}`;
  try {
    // A cash-rounded invoice is refunded in cash-rounded amounts too.
    const cash = spec.rounding.cash_step && invoice.rounding.some((r) => r.reason === 'cash') ? { step: spec.rounding.cash_step, account: spec.rounding.account } : undefined;
    if (refund.lines.length === 0) return creditAmount(invoice, { key, number, date, description, gross: cash ? roundToStep(refund.total, cash.step) : refund.total }, earlier);
    const groups = new LineGroups();
    const article = invoice.variant === 'article';
    const articles = new Map<string, Article>();
    for (const r of refund.lines) {
      const original = order.lines.find((l) => l.ref === r.lineRef);
      const asLine: OrderLine = original ?? { kind: r.kind, ref: r.lineRef, field: r.field, sku: r.sku, name: r.name, quantity: r.quantity, categories: [], netBeforeDiscount: r.net, net: r.net, tax: r.tax, taxBeforeDiscount: r.tax, vatRate: r.vatRate };
      const route = await m.route({ ...asLine, vatRate: r.vatRate, field: r.field });
      const amount = neg(m.method.basis === 'gross' ? add(r.net, r.tax) : r.net);
      const role = LINE_ROLE[asLine.kind];
      if (article) {
        const partNo = m.partNumber(asLine.kind, asLine.sku, route.vat, route.account, r.field);
        articles.set(partNo, { number: partNo, account: route.account, vat: route.vat, role: role as NonNullable<Article['role']> });
        groups.add(`${partNo}|${r.lineRef}`, { role, text: `Refund: ${asLine.name || KIND_TEXT[asLine.kind]}`, amount, shopTax: neg(r.tax), part: { number: partNo, quantity: -1, unitPrice: neg(amount) } }, r.field);
      } else {
        groups.add(`${route.account}|${route.vat.rate}|${route.vat.code}|${role}`, { role, account: route.account, vat: route.vat, amount, shopTax: neg(r.tax), text: `Refund ${KIND_TEXT[asLine.kind]} ${formatRate(r.vatRate)} %` }, r.field);
      }
    }
    const lines = groups.values();
    try {
      return buildCreditNote(
        {
          key,
          number,
          date,
          dueDate: date,
          description,
          variant: invoice.variant,
          ...(article ? { articles: [...articles.values()] } : {}),
          // Parts in a credit note: one negative unit at the line's amount.
          lines: lines.map((g) => (g.line.part ? { ...g.line, part: { ...g.line.part, quantity: -1, unitPrice: neg(g.line.amount!) } } : g.line)),
          vat: m.method,
          expectedTotal: { expected: neg(refund.total), account: spec.rounding.account, maxResidue: spec.rounding.max_residue },
          ...(cash ? { cashRounding: cash } : {}),
        },
        invoice,
        earlier,
      );
    } catch (error) {
      throw recordErrorOf(error, m, lines, `${refund.field}.total`);
    }
  } catch (error) {
    if (error instanceof BooksError) throw new RecordError(error.message, refund.field);
    throw error;
  }
}

/** C2/C3 or B1: a booked order was cancelled. `m` is at the revision of `booked`, dated like it. */
function cancellationFor(m: OrderMapper, booked: InvoiceDocument, others: readonly BookDocument[]): BookDocument[] {
  const { order, spec } = m;
  const c = spec.cancellations!;
  const today = m.changedOn(booked.date);
  try {
    const result = cancelInvoice(booked, {
      key: m.key('storno'),
      number: m.number(spec.numbering.storno),
      transferAccount: c.transfer_account,
      ...(c.vat_settled_until ? { vatSettledUntil: c.vat_settled_until } : {}),
      payments: others.filter((d): d is PaymentDocument => d.kind === 'payment' && d.appliesTo === booked.number),
      credits: others.filter((d): d is CreditNoteDocument => d.kind === 'credit-note' && d.credits === booked.number),
      paymentKey: (side) => m.key('payment', `storno-${side}`),
      date: today,
      creditKey: m.key('credit-note', 'cancellation'),
      creditNumber: m.number(spec.numbering.cancellation),
    });
    if (result.kind === 'storno') {
      const docs: BookDocument[] = [result.storno, ...result.transfers];
      const clearing = providerClearingAccount(order, m.mapping);
      if (result.refundDue > 0 && clearing) {
        // What the provider collected goes back the same way: the storno's credit is paid out there.
        docs.push(
          ...settle({
            item: openItemOf(result.storno, result.transfers),
            date: today,
            received: neg(result.refundDue),
            clearingAccount: clearing,
            memo: `Refund of cancelled order ${order.number}`,
            key: (part) => m.key('payment', `storno-${part}`),
            policy: { bankAccounts: spec.payments.bank_accounts },
          }),
        );
      } else if (result.refundDue > 0) {
        m.notes.push(`the customer had paid ${result.refundDue} minor units of ${booked.number}; refund them (the storno leaves that credit open)`);
      }
      return docs;
    }
    m.notes.push(`cancelled by credit note: ${result.reason}`);
    return [result.creditNote];
  } catch (error) {
    if (error instanceof BooksError) throw new RecordError(error.message, 'status');
    throw error;
  }
}

/** What takes back a booked invoice whose order changed: a storno group, or a credit note with its nettings. */
interface TakeBack {
  kind: 'storno' | 'credit-note';
  document: StornoDocument | CreditNoteDocument;
  /** The storno or credit note first, then its transfer payments and the money taken back. */
  documents: BookDocument[];
  /** Why a storno policy booked a credit note instead. */
  fallback?: string;
}

/**
 * A correction takes back invoice `invoice` (revision `m.revision`, `m` dated like it) by
 * `corrections.policy`, together with the money booked on it and on its credit notes:
 *
 * - storno (C2/C3, as a cancellation): what is open on the invoice is closed through the
 *   transfer account; a credit note instead once the invoice's VAT period is settled, or when
 *   it is partly credited already (a storno mirrors the whole invoice);
 * - credit note: what is left of the invoice after its credit notes; what is open on the
 *   invoice is netted against it (and against open credit notes) through the transfer account
 *   (D5), when the mapping has one and the target is not Billecta (whose credit invoice reduces
 *   the invoice by itself).
 *
 * The money the invoice and its credit notes moved (payments through a provider, fees, written
 * off differences, refunds paid back) is then taken back on the storno or credit note, per
 * purpose and account: the next revision's invoice books the order's payments afresh, so every
 * clearing, fee and write-off account ends where the shop's current version says.
 */
function takeBackFor(m: OrderMapper, invoice: InvoiceDocument, others: readonly BookDocument[]): TakeBack {
  const { order, spec } = m;
  const c = spec.cancellations;
  const today = m.changedOn(invoice.date);
  const paymentsOn = (number: string) => others.filter((d): d is PaymentDocument => d.kind === 'payment' && d.appliesTo === number);
  const payments = paymentsOn(invoice.number);
  const credits = others
    .filter((d): d is CreditNoteDocument => d.kind === 'credit-note' && d.credits === invoice.number)
    .sort((a, b) => a.number.localeCompare(b.number, 'en', { numeric: true }));
  const memo = `Correction of ${invoice.number}: order ${order.number} changed`;
  const policy = { bankAccounts: spec.payments.bank_accounts };
  let fallback: string | undefined;
  if (spec.corrections.policy === 'storno' && c) {
    if (c.vat_settled_until && invoice.date <= c.vat_settled_until) fallback = `the VAT period of ${invoice.date} is settled (until ${c.vat_settled_until})`;
    else if (credits.length > 0) fallback = `invoice ${invoice.number} is partly credited already (${credits.map((x) => x.number).join(', ')}), and a storno mirrors the whole invoice`;
    else {
      const group = buildStorno(invoice, {
        key: m.key('storno'),
        number: m.number(spec.numbering.storno),
        transferAccount: c.transfer_account,
        ...(c.vat_settled_until ? { vatSettledUntil: c.vat_settled_until } : {}),
        payments,
        credits,
        paymentKey: (side) => m.key('payment', `storno-${side}`),
        date: today,
      });
      const reversed = reversePayments({ item: openItemOf(group.storno, group.transfers), payments, date: today, key: (part) => m.key('payment', `storno-${part}`), memo, policy });
      return { kind: 'storno', document: group.storno, documents: [group.storno, ...group.transfers, ...reversed] };
    }
  }
  const credit = creditRemainder(invoice, { key: m.key('credit-note', 'correction'), number: m.number(spec.numbering.cancellation), date: today, description: memo }, credits);
  const documents: BookDocument[] = [credit];
  const transferAccount = spec.target.kind === 'billecta' ? undefined : c?.transfer_account;
  if (transferAccount) {
    const netted: PaymentDocument[] = [];
    const group = `correction:${order.source}/${invoice.number}`;
    for (const [i, against] of [credit, ...credits].entries()) {
      const debit = openItemOf(invoice, [...payments, ...netted]);
      if (debit.open <= 0) break;
      const owed = openItemOf(against, [...paymentsOn(against.number), ...netted]);
      if (owed.open >= 0) continue;
      const n = i === 0 ? '' : `-${i + 1}`;
      const pair = netThroughTransfer({
        debit,
        credit: owed,
        date: today,
        transferAccount,
        group,
        key: (side) => m.key('payment', `correction-${side === 'debit' ? 'invoice' : 'credit'}${n}`),
        memo: `Correction ${credit.number} of ${invoice.number}`,
      });
      netted.push(...pair);
    }
    documents.push(...netted);
  }
  const onCredit = documents.filter((d): d is PaymentDocument => d.kind === 'payment' && d.appliesTo === credit.number);
  const money = [...payments, ...credits.flatMap((x) => paymentsOn(x.number))];
  documents.push(...reversePayments({ item: openItemOf(credit, onCredit), payments: money, date: today, key: (part) => m.key('payment', `correction-${part}`), memo, policy }));
  return { kind: 'credit-note', document: credit, documents, ...(fallback ? { fallback } : {}) };
}

function invoiceDateOf(order: CanonicalOrder, mapping: Mapping): { iso: string } | { skip: string } {
  switch (mapping.spec.select.date) {
    case 'created':
      return { iso: order.createdAt };
    case 'paid':
      return order.payment?.paidAt ? { iso: order.payment.paidAt } : { skip: `not paid yet, and select.date is paid (${mapping.where(['select', 'date'])})` };
    case 'completed':
      return order.completedAt ? { iso: order.completedAt } : { skip: `not completed yet, and select.date is completed (${mapping.where(['select', 'date'])})` };
  }
}

/** The documents of one invoice revision of a billable order: customer, invoice, payments, credit notes. */
async function mapRevision(m: OrderMapper, history: BookedHistory, booked: readonly BookDocument[]): Promise<Extract<MapOutcome, { kind: 'documents' }>> {
  const customer = buildCustomerDocumentSafely(m);
  const invoice = await buildInvoiceDocument(m, customer, history);
  const payments = paymentsFor(m, invoice);
  const credits = await creditNotesFor(m, invoice, booked);
  return { kind: 'documents', documents: [customer, invoice, ...payments, ...credits], customer, invoice, notes: m.notes };
}

export async function mapOrder(order: CanonicalOrder, mapping: Mapping, history: BookedHistory = NO_HISTORY): Promise<MapOutcome> {
  const { spec } = mapping;
  if (order.test && spec.select.test_orders === 'skip') return { kind: 'skipped', reason: `a test order (select.test_orders is skip in ${mapping.file})` };

  const cancelled = spec.cancellations?.statuses.includes(order.status) ?? false;
  if (cancelled) {
    const booked = bookedOrder(await history.documentsOf(order.id));
    const current = booked.current;
    if (!current) return { kind: 'skipped', reason: `status "${order.status}": cancelled before it was booked, so there is nothing to take back` };
    // Cancelled already: what took the invoice back is stored, nothing is new.
    if (current.takenBackBy) return { kind: 'documents', documents: [], customer: null, invoice: null, notes: [] };
    const m = new OrderMapper(order, mapping, current.invoice.date, current.revision);
    const documents = cancellationFor(m, current.invoice, booked.documents);
    return { kind: 'documents', documents, customer: null, invoice: null, notes: m.notes };
  }
  if (!spec.select.statuses.includes(order.status)) {
    return { kind: 'skipped', reason: `status "${order.status}" is not billable (select.statuses in ${mapping.file})` };
  }
  const when = invoiceDateOf(order, mapping);
  if ('skip' in when) return { kind: 'skipped', reason: when.skip };
  const m = new OrderMapper(order, mapping, localDate(when.iso, spec.invoice.timezone));
  const select: CompiledExpression | undefined = mapping.expressions.select;
  if (select && !(await m.expression(['select', 'when'], () => evaluateCondition(select, m.orderView(), 'select.when')))) {
    return { kind: 'skipped', reason: `select.when is not true for this order (${mapping.where(['select', 'when'])})` };
  }

  const booked = bookedOrder(await history.documentsOf(order.id));
  const current = booked.current;
  if (!current) return mapRevision(m, history, booked.documents);
  // The order as its current revision would book it: a later revision keeps the date it was booked with.
  const again = await mapRevision(current.revision === 1 ? m : new OrderMapper(order, mapping, current.invoice.date, current.revision), history, booked.documents);
  const changed = changedSalesDocument(again.documents, booked.documents);
  // An order billable again after its cancellation is booked again, as the next revision (unless corrections wait in the quarantine).
  const reopened = current.takenBackBy !== null && spec.corrections.policy !== 'quarantine';
  if (!reopened && !changed) return again;

  // Corrections (docs/mapping.md#corrections): take the current invoice back, then book the order as the next revision.
  const where = mapping.where(['corrections', 'policy']);
  if (!reopened && spec.corrections.policy === 'quarantine') {
    throw new RecordError(`the order changed after ${changed!.kind} ${changed!.number} was booked, and corrections.policy is quarantine (${where}): this version waits here; correct the books by hand, then dismiss it, or choose credit_note or storno and replay it`);
  }
  let takeBack: TakeBack | undefined;
  if (!current.takenBackBy) {
    try {
      takeBack = takeBackFor(new OrderMapper(order, mapping, current.invoice.date, current.revision), current.invoice, booked.documents);
    } catch (error) {
      if (error instanceof BooksError) throw new RecordError(`the order changed after invoice ${current.invoice.number} was booked, but it cannot be taken back (corrections.policy in ${where}): ${error.message}`);
      throw error;
    }
  }
  // A storno rewrites the invoice's period: the new invoice takes the order's date. A credit note
  // leaves the period as it was: the new invoice is dated like it, the day of the change.
  const stornoed = takeBack ? takeBack.kind === 'storno' : current.takenBackBy!.kind === 'storno';
  const next = new OrderMapper(order, mapping, stornoed ? m.date : m.changedOn(m.date), current.revision + 1);
  const replaced = await mapRevision(next, history, booked.documents);
  const [customer, ...rest] = replaced.documents;
  const notes = takeBack
    ? [
        `the order changed after invoice ${current.invoice.number} was booked: ${takeBack.kind === 'storno' ? 'storno' : 'credit note'} ${takeBack.document.number} takes it back${takeBack.fallback ? ` (a credit note, because ${takeBack.fallback})` : ''}, invoice ${replaced.invoice!.number} replaces it`,
      ]
    : [`invoice ${current.invoice.number} was taken back (${current.takenBackBy!.kind === 'storno' ? 'storno' : 'credit note'} ${current.takenBackBy!.number}); the order is billable again: invoice ${replaced.invoice!.number}`];
  return { ...replaced, documents: [customer!, ...(takeBack?.documents ?? []), ...rest], notes: [...notes, ...replaced.notes] };
}

function buildCustomerDocumentSafely(m: OrderMapper): CustomerDocument {
  try {
    return buildCustomerDocument(m);
  } catch (error) {
    if (error instanceof BooksError) throw new RecordError(error.message, 'customer');
    throw error;
  }
}
