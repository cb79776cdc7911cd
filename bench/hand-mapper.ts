/**
 * The rules of bench/mapping.yaml written by hand in TypeScript: the baseline of the "mapping"
 * figure. Hard-coded accounts, routing as plain `if`s, the same grouping and the same books/
 * calls as mapOrder (buildCustomer, buildInvoice, settle, buildCreditNote, creditAmount), and
 * synchronous, as a competent developer would write one shop's mapper without an engine.
 *
 * It must book exactly what mapOrder books for that mapping: the benchmark compares the
 * postings and numbers of every document before it times anything.
 */
import {
  add,
  buildCreditNote,
  buildCustomer,
  buildInvoice,
  creditAmount,
  minor,
  neg,
  openItemOf,
  settle,
  sub,
  vatRate,
  type BookDocument,
  type CreditNoteDocument,
  type CustomerDocument,
  type InvoiceDocument,
  type LineInput,
  type LineRole,
  type Minor,
  type PaymentDocument,
  type VatMethod,
  type VatRate,
  type VatTreatment,
} from '../src/books/index.js';
import type { CanonicalOrder, OrderLine } from '../src/sources/order.js';

export type HandOutcome = { kind: 'skipped'; reason: string } | { kind: 'documents'; documents: BookDocument[] };

const RECEIVABLE = '1100';
const ROUNDING = '3680';
const MAX_RESIDUE = 5;
const BANK_ACCOUNTS = ['1000', '1020'];
const CLEARING: Readonly<Record<string, string>> = { stripe: '1091', twint: '1092' };
const FEE_ACCOUNT = '6940';
const WRITE_OFF = { account: '3801', tolerance: minor(5) };
const PAYMENT_TERMS_DAYS = 30;
const BILLABLE = new Set(['processing', 'completed', 'refunded']);
const LANGUAGES: Readonly<Record<string, string>> = { FR: 'fr', US: 'en', GB: 'en', IT: 'it' };
const DOMESTIC = new Set(['CH', 'LI']);
const EU = new Set(['AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK']);
/** Run my Accounts' customer field limits. */
const LIMITS = { customernumber: 32, name: 64, address1: 32, address2: 32, zipcode: 10, city: 32, phone: 20, taxnumber: 32 } as const;

const R81 = vatRate('8.1');
const R26 = vatRate('2.6');
const R77 = vatRate('7.7');
const R25 = vatRate('2.5');
/** vat.rounding per_line: book the shop's line VAT. */
const METHOD: VatMethod = { basis: 'net', rounding: 'shop' };

const KIND_TEXT: Record<OrderLine['kind'], string> = { product: 'Goods', shipping: 'Shipping', fee: 'Fees', discount: 'Discount' };
const LINE_ROLE: Record<OrderLine['kind'], LineRole> = { product: 'revenue', shipping: 'shipping', fee: 'fee', discount: 'discount' };

const zurich = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Zurich', year: 'numeric', month: '2-digit', day: '2-digit' });

function localDate(iso: string): string {
  let y = '';
  let m = '';
  let d = '';
  for (const p of zurich.formatToParts(new Date(iso))) {
    if (p.type === 'year') y = p.value;
    else if (p.type === 'month') m = p.value;
    else if (p.type === 'day') d = p.value;
  }
  return `${y}-${m}-${d}`;
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function rateText(rate: VatRate): string {
  return rate === R81 ? '8.1 %' : rate === R26 ? '2.6 %' : rate === 0 ? '0 %' : `${rate / 100} %`;
}

type CountryClass = 'domestic' | 'eu' | 'export';
function countryClass(country: string): CountryClass {
  return DOMESTIC.has(country) || country === '' ? 'domestic' : EU.has(country) ? 'eu' : 'export';
}

function vatFor(rate: VatRate, date: string, delivery: CountryClass): VatTreatment {
  const from2024 = date >= '2024-01-01';
  if (rate === R81 && from2024) return { rate, code: 'standard', account: '2201' };
  if (rate === R26 && from2024) return { rate, code: 'reduced', account: '2203' };
  if (rate === R77 && !from2024) return { rate, code: 'standard', account: '2201' };
  if (rate === R25 && !from2024) return { rate, code: 'reduced', account: '2203' };
  if (rate === 0) return { rate, account: '', code: delivery === 'domestic' ? 'exempt' : 'export' };
  throw new Error(`VAT rate ${rateText(rate)} has no VAT account on ${date}`);
}

interface Route {
  account: string;
  vat: VatTreatment;
}

/** accounts.rules, then the defaults. */
function route(line: Pick<OrderLine, 'kind' | 'sku' | 'categories' | 'vatRate'>, date: string, delivery: CountryClass): Route {
  const vat = vatFor(line.vatRate, date, delivery);
  const { kind } = line;
  if (line.vatRate === 0 && kind !== 'discount') {
    if (delivery === 'export') return { account: '3250', vat: { ...vat, code: 'export' } };
    if (delivery === 'eu') return { account: '3240', vat: { ...vat, code: 'export' } };
  }
  if (kind === 'product') {
    if (line.sku.startsWith('GIFT-')) return { account: '2060', vat };
    for (const c of line.categories) {
      const lower = c.toLowerCase();
      if (lower === 'books' || lower === 'e-books') return { account: '3201', vat };
    }
    if (line.vatRate === R26 && (line.sku.startsWith('TEA-') || line.sku.startsWith('CHAI-'))) return { account: '3202', vat };
  }
  if (kind === 'shipping') return { account: '3400', vat };
  if (kind === 'fee') return { account: '3600', vat };
  const revenue = line.vatRate === R81 ? '3200' : line.vatRate === R26 ? '3210' : line.vatRate === 0 ? '3220' : undefined;
  if (!revenue) throw new Error(`VAT rate ${rateText(line.vatRate)} has no revenue account`);
  return { account: revenue, vat };
}

type GroupLine = LineInput & { amount: Minor; shopTax: Minor; shopLines: number };

/** Lines on the same account, rate, VAT code and role are summed into one. */
function addTo(groups: Map<string, GroupLine>, key: string, line: Omit<GroupLine, 'shopLines'>): void {
  const existing = groups.get(key);
  if (existing) {
    existing.amount = add(existing.amount, line.amount);
    existing.shopTax = add(existing.shopTax, line.shopTax);
    existing.shopLines++;
  } else groups.set(key, { ...line, shopLines: 1 });
}

function linesOf(groups: Map<string, GroupLine>): GroupLine[] {
  const out: GroupLine[] = [];
  for (const g of groups.values()) if (g.amount !== 0 || g.shopTax !== 0) out.push(g);
  return out;
}

function fit(value: string, limit: number, what: string): string {
  if (value.length > limit) throw new Error(`customer ${what} "${value}" is longer than ${limit} characters`);
  return value;
}

function customerOf(order: CanonicalOrder): CustomerDocument {
  const c = order.customer;
  const number = c.id ? `WC-${c.id}` : `WC-G${order.id}`;
  const personName = c.firstName && c.lastName ? `${c.firstName} ${c.lastName}` : c.firstName || c.lastName;
  const asCompany = c.company !== '';
  const name = (asCompany ? c.company || personName : personName || c.company) || c.email;
  fit(number, LIMITS.customernumber, 'number');
  return buildCustomer({
    key: { source: order.source, subject: number, kind: 'customer', revision: 1 },
    number,
    type: asCompany ? 'company' : 'person',
    name: fit(name, LIMITS.name, 'name'),
    ...(asCompany ? { company: c.company } : {}),
    firstName: c.firstName,
    lastName: c.lastName,
    email: c.email,
    phone: fit(c.phone, LIMITS.phone, 'phone'),
    vatId: fit(c.vatId, LIMITS.taxnumber, 'VAT id'),
    language: LANGUAGES[c.billing.country] ?? 'de',
    address: {
      street: fit(c.billing.street, LIMITS.address1, 'street'),
      street2: fit(c.billing.street2, LIMITS.address2, 'street2'),
      zipcode: fit(c.billing.zipcode, LIMITS.zipcode, 'zipcode'),
      city: fit(c.billing.city, LIMITS.city, 'city'),
      country: c.billing.country,
    },
  });
}

function invoiceOf(order: CanonicalOrder, customer: CustomerDocument, date: string, delivery: CountryClass): InvoiceDocument {
  const income = new Map<string, GroupLine>();
  const discounts = new Map<string, GroupLine>();
  let couponCodes = '';
  for (const c of order.coupons) if (c.code) couponCodes = couponCodes ? `${couponCodes}, ${c.code}` : c.code;

  for (const line of order.lines) {
    if (line.netBeforeDiscount === 0 && line.net === 0 && line.tax === 0) continue;
    const { account, vat } = route(line, date, delivery);
    const role = LINE_ROLE[line.kind];
    const rate = rateText(line.vatRate);
    addTo(income, `${account}|${vat.rate}|${vat.code}|${role}`, { role, account, amount: line.netBeforeDiscount, shopTax: line.taxBeforeDiscount, text: `${KIND_TEXT[line.kind]} ${rate}`, vat });
    const discount = sub(line.netBeforeDiscount, line.net);
    if (discount !== 0) {
      // accounts.discount is `revenue`: the discount goes on the line's own account.
      addTo(discounts, `${account}|${vat.rate}|${vat.code}`, {
        role: 'discount',
        account,
        amount: neg(discount),
        shopTax: neg(sub(line.taxBeforeDiscount, line.tax)),
        text: `Discount${couponCodes ? ` ${couponCodes}` : ''} ${rate}`,
        vat,
      });
    }
  }
  return buildInvoice({
    key: { source: order.source, subject: order.id, kind: 'invoice', revision: 1 },
    number: order.number,
    orderNumber: order.number,
    customerNumber: customer.number,
    currency: order.currency,
    date,
    dueDate: addDays(date, PAYMENT_TERMS_DAYS),
    description: `Webshop order ${order.number}`,
    receivableAccount: RECEIVABLE,
    variant: 'booking',
    lines: [...linesOf(income), ...linesOf(discounts)],
    vat: METHOD,
    purpose: 'standard',
    expectedTotal: { expected: order.total, account: ROUNDING, maxResidue: MAX_RESIDUE },
  });
}

function paymentsOf(order: CanonicalOrder, invoice: InvoiceDocument, clearing: string): PaymentDocument[] {
  const payment = order.payment!;
  if (invoice.total <= 0) return [];
  const fee = payment.fee;
  const received = sub(payment.amount ?? invoice.total, fee);
  return settle({
    item: openItemOf(invoice, []),
    date: localDate(payment.paidAt!),
    received,
    clearingAccount: clearing,
    reference: payment.transactionId,
    memo: payment.title || payment.method,
    ...(fee !== 0 ? { fee: { amount: fee, account: FEE_ACCOUNT } } : {}),
    writeOff: WRITE_OFF,
    key: (part) => ({ source: order.source, subject: order.id, kind: 'payment', part, revision: 1 }),
    policy: { bankAccounts: BANK_ACCOUNTS },
  });
}

function creditNotesOf(order: CanonicalOrder, invoice: InvoiceDocument, clearing: string | undefined, delivery: CountryClass): BookDocument[] {
  const refunds = order.refunds.length > 1 ? [...order.refunds].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id, 'en', { numeric: true })) : order.refunds;
  const earlier: CreditNoteDocument[] = [];
  const out: BookDocument[] = [];
  for (const refund of refunds) {
    const refundDate = localDate(refund.createdAt);
    const date = refundDate < invoice.date ? invoice.date : refundDate;
    const key = { source: order.source, subject: order.id, kind: 'credit-note' as const, part: refund.id, revision: 1 };
    const number = `${order.number}-G${refund.id}`;
    const description = `Refund ${refund.id} on order ${order.number}${refund.reason ? `: ${refund.reason}` : ''}`;
    let credit: CreditNoteDocument;
    if (refund.lines.length === 0) {
      credit = creditAmount(invoice, { key, number, date, description, gross: refund.total }, earlier);
    } else {
      const groups = new Map<string, GroupLine>();
      for (const r of refund.lines) {
        const original = order.lines.find((l) => l.ref === r.lineRef);
        const kind = original?.kind ?? r.kind;
        // Routed like the invoice line it takes back, at the refund's rate and on the invoice's date.
        const { account, vat } = route({ kind, sku: original?.sku ?? r.sku, categories: original?.categories ?? [], vatRate: r.vatRate }, invoice.date, delivery);
        const role = LINE_ROLE[kind];
        addTo(groups, `${account}|${vat.rate}|${vat.code}|${role}`, { role, account, vat, amount: neg(r.net), shopTax: neg(r.tax), text: `Refund ${KIND_TEXT[kind]} ${rateText(r.vatRate)}` });
      }
      credit = buildCreditNote(
        {
          key,
          number,
          date,
          dueDate: date,
          description,
          variant: 'booking',
          lines: linesOf(groups),
          vat: METHOD,
          expectedTotal: { expected: neg(refund.total), account: ROUNDING, maxResidue: MAX_RESIDUE },
        },
        invoice,
        earlier,
      );
    }
    earlier.push(credit);
    out.push(credit);
    // Money the provider collected goes back the same way.
    if (clearing && credit.total < 0) {
      out.push(
        ...settle({
          item: openItemOf(credit, []),
          date: credit.date,
          received: credit.total,
          clearingAccount: clearing,
          reference: refund.id,
          memo: `Refund ${refund.id}`,
          key: (part) => ({ source: order.source, subject: order.id, kind: 'payment', part: `refund-${refund.id}-${part}`, revision: 1 }),
          policy: { bankAccounts: BANK_ACCOUNTS },
        }).slice(0, 1),
      );
    }
  }
  return out;
}

export function handMapOrder(order: CanonicalOrder): HandOutcome {
  // Cancelled orders would be reversed against what was booked; with nothing booked there is nothing to take back.
  if (order.status === 'cancelled') return { kind: 'skipped', reason: 'cancelled before it was booked' };
  if (!BILLABLE.has(order.status)) return { kind: 'skipped', reason: `status ${order.status} is not billable` };
  // select.when: $not(test) and total_minor >= 0
  if (order.test || order.total < 0) return { kind: 'skipped', reason: 'a test order or a negative total' };

  const date = localDate(order.createdAt);
  const delivery = countryClass((order.customer.shipping ?? order.customer.billing).country);
  const customer = customerOf(order);
  const invoice = invoiceOf(order, customer, date, delivery);
  const clearing = order.payment?.paidAt ? CLEARING[order.payment.method] : undefined;
  const payments = clearing ? paymentsOf(order, invoice, clearing) : [];
  const credits = order.refunds.length > 0 ? creditNotesOf(order, invoice, clearing, delivery) : [];
  return { kind: 'documents', documents: [customer, invoice, ...payments, ...credits] };
}
