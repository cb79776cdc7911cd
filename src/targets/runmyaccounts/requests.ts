/**
 * The Run my Accounts (RMA) target's request payloads: what kontor would send for each
 * document, built without any I/O so that `kontor preview` can show it and the HTTP client
 * (a later issue) can send it unchanged.
 *
 * Wire formats follow shared/reference/runmyaccounts.md (§1 transport, §2 invoices, §4
 * customers, §5 payments, §6 credit notes and storno, §11 VAT) and RMA's API introduction
 * (seed 003, use cases A1–E2). Tags in the comments below say where a rule comes from:
 * [docs] RMA's documentation, [client] an open-source client that talks to production,
 * [inferred] a conclusion not seen directly. Where an [inferred] choice has a plausible
 * alternative that a sandbox test could call for, it is an option of `RmaRequestOptions`
 * (entryLists, partAccounts, orderNumber, timeZone), defaulting to what the reference
 * recommends; the rest is marked [inferred] where it is made.
 *
 * Value formats: the body is the bare entity object (no `{"invoice": …}` wrapper) [client];
 * every scalar is a JSON string, as in RMA's own JSON examples [docs]: amounts as exact
 * decimals in major units ("106.92", from integer minor units via formatDecimal, never
 * through floating point), booleans as "true"/"false", account numbers as "1100", dates as
 * the calendar date's local midnight with its UTC offset ("2026-03-14T00:00:00+01:00").
 * Credentials are not part of a request: the client adds them (Bearer header or `api_key`).
 */
import {
  currencyExponent,
  formatDecimal,
  formatDocumentKey,
  isCalendarDate,
  sum,
  type BookDocument,
  type CustomerDocument,
  type Minor,
  type PaymentDocument,
  type PaymentPurpose,
  type SalesDocument,
} from '../../books/index.js';

export interface RmaRequest {
  method: 'POST' | 'GET' | 'PUT';
  /** Appended to the target's base URL (`https://service.runmyaccounts.com`). */
  path: string;
  query?: Record<string, string>;
  contentType: 'application/json';
  body: Record<string, unknown> | null;
  /** what this request does, for people */
  purpose: string;
}

export interface RmaRequestOptions {
  /** The RMA client ("Mandant") name, as in `…/clients/{mandant}/…`. */
  mandant: string;
  /**
   * The zone whose local midnight a document date is sent as. Default Europe/Zurich: RMA
   * stores plain dates and appears to convert datetimes to Swiss time ([client] + [inferred]).
   */
  timeZone?: string;
  /** The API version path segment; `latest` is the documented default [docs]. */
  apiVersion?: string;
  /**
   * [inferred] The JSON shape of the booking variant's entry lists. `wrapped` (default, the
   * reference's recommendation by analogy with the confirmed `"parts": {"part": […]}`):
   * `"incomeentries": {"incomeentry": […]}`. `bare`: `"incomeentries": […]`, in case the
   * sandbox refuses the wrapper (reference §14.1).
   */
  entryLists?: 'wrapped' | 'bare';
  /**
   * [inferred] Whether article-variant part lines also carry `income_accno` and
   * `tax_accnos`. Default `omit`: the docs say accounts and VAT come from the part master
   * and cannot be influenced; the C# client sends them anyway, with unknown effect (§2.3).
   */
  partAccounts?: 'omit' | 'send';
  /**
   * [client] `strip` (default) removes every character of `ordnumber` outside
   * `[A-Za-z0-9_.\-\\]`, as the maintained C# client does (§1, "ordnumber charset"); why RMA
   * needs that is not documented. `keep` sends the shop's order number unchanged.
   */
  orderNumber?: 'strip' | 'keep';
  /**
   * Article variant only: the RMA part number (VAT-free, on the rounding account) that
   * rounding lines are sent as. A part line is the only way to carry an amount in that
   * variant; without this option a document with rounding lines is refused.
   */
  roundingPart?: string;
  /** The customer's `remittancevoucher` (QR/ESR slip) flag; omitted (RMA's default) unless set. */
  remittanceVoucher?: boolean;
  /**
   * The mandant's bookkeeping currency. A payment in it is sent with `exchangerate` "1.0"
   * (reference §5 example); a payment in another currency without one, since kontor knows no
   * rates. Default CHF.
   */
  baseCurrency?: string;
}

/** A document that cannot be expressed as an RMA request: the RMA field at fault and, for a TEXT(n) field, its limit. */
export class RmaPayloadError extends Error {
  override name = 'RmaPayloadError';
  constructor(
    message: string,
    /** The RMA field (`name`, `parts[0].unit`) or option (`mandant`, `timeZone`) at fault. */
    readonly field: string,
    /** The field's TEXT(n) limit in characters, when the error is one of length. */
    readonly limit?: number,
  ) {
    super(message);
  }
}

/**
 * RMA's TEXT(n) limits of the fields kontor fills [docs: customer, invoice and part entities].
 * Counted in characters (code points), like the mapping's own cut (map-order.ts).
 */
export const RMA_TEXT_LIMITS = {
  customernumber: 32,
  name: 64,
  firstname: 32,
  lastname: 32,
  address1: 32,
  address2: 32,
  zipcode: 10,
  city: 32,
  country: 32,
  phone: 20,
  taxnumber: 32,
  language_code: 6,
  currency: 3,
  unit: 5,
} as const;

type LimitedField = keyof typeof RMA_TEXT_LIMITS;

function checkLength(where: string, limitKey: LimitedField, value: string, field: string = limitKey): void {
  const limit = RMA_TEXT_LIMITS[limitKey];
  const length = [...value].length;
  if (length > limit) {
    throw new RmaPayloadError(`${where}: ${field} "${value}" is ${length} characters; Run my Accounts allows ${limit} (TEXT(${limit}))`, field, limit);
  }
}

// ── dates ────────────────────────────────────────────────────────────────────────────────

const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = FORMATTERS.get(timeZone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new RmaPayloadError(`"${timeZone}" is not a time zone (an IANA name such as Europe/Zurich is expected)`, 'timeZone');
    }
    FORMATTERS.set(timeZone, formatter);
  }
  return formatter;
}

/** The zone's offset from UTC at `instant` (ms), in whole minutes. */
function offsetMinutesAt(instant: number, timeZone: string): number {
  const parts = formatterFor(timeZone).formatToParts(new Date(instant));
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour') % 24, part('minute'), part('second'));
  return Math.round((wall - instant) / 60_000);
}

/**
 * A calendar date (YYYY-MM-DD) as RMA's datetime: local midnight in `timeZone` with the
 * offset in force at that midnight, DST aware ("2026-03-14T00:00:00+01:00",
 * "2026-07-01T00:00:00+02:00"). Reference §1 "Date pitfall": send Swiss-local midnight.
 */
export function rmaDateTime(date: string, timeZone = 'Europe/Zurich'): string {
  // Pure, and the same few hundred dates recur in every run; the zone lookups are the costly part.
  const key = `${timeZone} ${date}`;
  let text = DATE_TIMES.get(key);
  if (text === undefined) {
    if (DATE_TIMES.size >= DATE_TIMES_KEPT) DATE_TIMES.clear();
    text = computeRmaDateTime(date, timeZone);
    DATE_TIMES.set(key, text);
  }
  return text;
}

/** Dates kept by rmaDateTime: a few years of days in a couple of zones. */
const DATE_TIMES_KEPT = 4_096;
const DATE_TIMES = new Map<string, string>();

function computeRmaDateTime(date: string, timeZone: string): string {
  if (!isCalendarDate(date)) throw new RmaPayloadError(`"${date}" is not a calendar date (YYYY-MM-DD)`, 'date');
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wallMidnight = Date.UTC(y, m - 1, d);
  // The offset at the wall time read as UTC is a first guess; the offset at the instant it
  // yields is right unless a transition lies in between, which the second look settles.
  const guess = offsetMinutesAt(wallMidnight, timeZone);
  const offset = offsetMinutesAt(wallMidnight - guess * 60_000, timeZone);
  const abs = Math.abs(offset);
  const hh = String(Math.trunc(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${date}T00:00:00${offset < 0 ? '-' : '+'}${hh}:${mm}`;
}

// ── shared helpers ───────────────────────────────────────────────────────────────────────

interface Context {
  base: string;
  timeZone: string;
  options: RmaRequestOptions;
}

function contextOf(options: RmaRequestOptions): Context {
  const mandant = options.mandant?.trim() ?? '';
  if (mandant === '') throw new RmaPayloadError('the Run my Accounts mandant (client name) must not be empty', 'mandant');
  const version = options.apiVersion ?? 'latest';
  const timeZone = options.timeZone ?? 'Europe/Zurich';
  formatterFor(timeZone); // reject an unknown zone before anything else
  // The configured base URL is the host only (docs/targets/runmyaccounts.md); RMA's paths
  // start at /api/{version}/clients/{mandant} [docs: §1, seed 003 "Die Ressourcen"].
  return { base: `/api/${encodeURIComponent(version)}/clients/${encodeURIComponent(mandant)}`, timeZone, options };
}

function money(amount: Minor, currency: string): string {
  return formatDecimal(amount, currencyExponent(currency));
}

const BOOL = (value: boolean): string => (value ? 'true' : 'false');

// ── customers (E1, E2) ───────────────────────────────────────────────────────────────────

/**
 * E1/E2: `POST …/customers` is RMA's "create or mute" [docs: resources overview, seed 003
 * "Kunde erstellen, mutieren"]; there is no PUT. An update (a customer document of revision
 * 2 or later) is the same POST. That RMA overwrites the stored customer with what is sent is
 * documented for the customer embedded in an invoice; that the standalone POST does the same
 * is [inferred]. So every field kontor owns is always sent, empty ones as "", so that a
 * cleared phone number is cleared in RMA too.
 */
function customerRequest(doc: CustomerDocument, ctx: Context): RmaRequest {
  const where = formatDocumentKey(doc.key);
  const body: Record<string, unknown> = {
    customernumber: doc.number,
    name: doc.name,
    typeofcontact: doc.type,
    firstname: doc.firstName ?? '',
    lastname: doc.lastName ?? '',
    address1: doc.address.street ?? '',
    address2: doc.address.street2 ?? '',
    zipcode: doc.address.zipcode ?? '',
    city: doc.address.city ?? '',
    country: doc.address.country ?? '',
    email: doc.email ?? '',
    phone: doc.phone ?? '',
    taxnumber: doc.vatId ?? '',
  };
  // language_code must be one of the mandant's codes: an empty one is not sent.
  if (doc.language) body.language_code = doc.language;
  if (ctx.options.remittanceVoucher !== undefined) body.remittancevoucher = BOOL(ctx.options.remittanceVoucher);
  for (const field of ['customernumber', 'name', 'firstname', 'lastname', 'address1', 'address2', 'zipcode', 'city', 'country', 'phone', 'taxnumber', 'language_code'] as const) {
    if (typeof body[field] === 'string') checkLength(where, field, body[field] as string);
  }
  const update = doc.key.revision > 1;
  return {
    method: 'POST',
    path: `${ctx.base}/customers`,
    contentType: 'application/json',
    body,
    purpose: update
      ? `Update customer ${doc.number} (${doc.name}), revision ${doc.key.revision}: RMA's create-or-update POST overwrites the customer with every field sent`
      : `Create customer ${doc.number} (${doc.name}), or update it if RMA has it already`,
  };
}

// ── invoices, credit notes, stornos (A1–A8, B1/B2, C2/C3) ───────────────────────────────

/** [client] The C# client keeps only these characters of an order number. */
const ORDNUMBER_STRIP = /[^A-Za-z0-9_.\-\\]/g;

function list(ctx: Context, wrapper: string, element: string, items: Record<string, string>[]): Record<string, unknown> {
  if (element !== 'part' && (ctx.options.entryLists ?? 'wrapped') === 'bare') return { [wrapper]: items };
  return { [wrapper]: { [element]: items } };
}

/** Booking variant: net income entries and the VAT we computed as tax entries; `taxincluded` false [docs]. */
function bookingEntries(doc: SalesDocument, ctx: Context): Record<string, unknown> {
  const c = doc.currency;
  const income = [
    ...doc.lines.map((l) => ({ amount: l.amount, income_accno: l.account, description: l.text })),
    // A rounding line is VAT-free income (or a negative one) on its own account: VAT in this
    // variant is only what the tax entries say [docs], so an entry without one carries none.
    ...doc.rounding.filter((r) => r.amount !== 0).map((r) => ({ amount: r.amount, income_accno: r.account, description: r.text })),
  ];
  // Without VAT (0 % lines only) the tax list is sent empty rather than left out [inferred].
  const tax = doc.tax.map((t) => ({ amount: t.amount, tax_accno: t.account }));
  // What RMA will book as the receivable must be the document's total, exactly.
  const booked = sum([...income.map((e) => e.amount), ...tax.map((t) => t.amount)]);
  if (booked !== doc.total) {
    throw new RmaPayloadError(`${formatDocumentKey(doc.key)}: income and tax entries sum to ${money(booked, c)}, not the total ${money(doc.total, c)}`, 'incomeentries');
  }
  return {
    ...list(ctx, 'incomeentries', 'incomeentry', income.map((e) => ({ amount: money(e.amount, c), income_accno: e.income_accno, description: e.description }))),
    ...list(ctx, 'taxentries', 'taxentry', tax.map((t) => ({ amount: money(t.amount, c), tax_accno: t.tax_accno }))),
  };
}

/**
 * Article variant: one part row per line, in the document's price mode (`taxincluded`).
 * Income account and VAT come from RMA's part master [docs]; RMA computes the VAT itself.
 * `discount` (a percentage) is sent as "0.0": kontor books discounts as lines of their own
 * (A6), and an omitted discount might take the part master's default [inferred].
 */
function partEntries(doc: SalesDocument, ctx: Context): Record<string, unknown> {
  const where = formatDocumentKey(doc.key);
  const c = doc.currency;
  const sendAccounts = (ctx.options.partAccounts ?? 'omit') === 'send';
  const parts: Record<string, string>[] = doc.lines.map((line, i) => {
    const ref = line.part;
    if (!ref) throw new RmaPayloadError(`${where}: lines[${i}] has no part, but the document is in the article variant`, `parts[${i}].partnumber`);
    const row: Record<string, string> = { partnumber: ref.number, description: line.text };
    if (ref.unit) {
      checkLength(where, 'unit', ref.unit, `parts[${i}].unit`);
      row.unit = ref.unit;
    }
    Object.assign(row, { quantity: String(ref.quantity), sellprice: money(ref.unitPrice, c), discount: '0.0' });
    if (sendAccounts) Object.assign(row, { income_accno: line.account, tax_accnos: line.vat.account });
    return row;
  });
  const rounding = doc.rounding.filter((r) => r.amount !== 0);
  if (rounding.length > 0) {
    const part = ctx.options.roundingPart?.trim();
    if (!part) {
      throw new RmaPayloadError(
        `${where}: a ${rounding[0]!.reason === 'cash' ? 'cash rounding' : 'rounding residue'} of ${money(rounding[0]!.amount, c)} ${c} has no place in the article variant without a rounding part (option roundingPart)`,
        'rounding',
      );
    }
    for (const r of rounding) parts.push({ partnumber: part, description: r.text, quantity: '1', sellprice: money(r.amount, c), discount: '0.0' });
  }
  return list(ctx, 'parts', 'part', parts);
}

const SALES_NAME = { invoice: 'invoice', 'credit-note': 'credit note', storno: 'storno' } as const;

/**
 * A1–A8 invoices, B1/B2 credit notes and C2/C3 stornos are all `POST …/invoices` [docs]. A
 * credit note "is treated exactly like an invoice, only the amounts are booked negative"
 * (seed 003, B1/B2); a storno likewise, with the invoice's date and exactly its amounts
 * (C2/C3). kontor's credit notes and stornos already carry negative lines, VAT and total,
 * so they are sent as they are; the storno's two transfer payments are documents of their
 * own (PaymentDocument, group `storno:…`) and become payment requests.
 */
function salesRequest(doc: SalesDocument, ctx: Context): RmaRequest {
  const where = formatDocumentKey(doc.key);
  checkLength(where, 'currency', doc.currency);
  checkLength(where, 'customernumber', doc.customerNumber);
  const stripped = (ctx.options.orderNumber ?? 'strip') === 'strip' ? doc.orderNumber.replace(ORDNUMBER_STRIP, '') : doc.orderNumber;
  const refers = doc.kind === 'credit-note' ? `Credit note for invoice ${doc.credits}` : doc.kind === 'storno' ? `Storno of invoice ${doc.reverses}` : '';
  const body: Record<string, unknown> = {
    invnumber: doc.number,
    ordnumber: stripped,
    status: 'OPEN',
    currency: doc.currency,
    ar_accno: doc.receivableAccount,
    transdate: rmaDateTime(doc.date, ctx.timeZone),
    duedate: rmaDateTime(doc.dueDate, ctx.timeZone),
    description: doc.description,
    notes: '',
    intnotes: refers,
    // Booking variant: always net entries plus VAT entries [docs examples; what "true" does there is undocumented].
    taxincluded: BOOL(doc.variant === 'article' && doc.pricesIncludeVat),
    // Empty: RMA builds the QR reference from invnumber [docs].
    dcn: '',
    // The customer is upserted by its own document first (§2.4 recommendation).
    customernumber: doc.customerNumber,
    ...(doc.variant === 'article' ? partEntries(doc, ctx) : bookingEntries(doc, ctx)),
  };
  const name =
    doc.kind === 'invoice' ? (doc.purpose === 'deposit' ? 'deposit invoice' : doc.purpose === 'final' ? 'final invoice' : 'invoice') : SALES_NAME[doc.kind];
  const deducts = doc.kind === 'invoice' && doc.purpose === 'final' ? [...new Set(doc.lines.flatMap((l) => (l.deposit ? [l.deposit] : [])))] : [];
  const details = [
    `${doc.variant} variant`,
    doc.kind === 'credit-note' ? `credits invoice ${doc.credits}` : doc.kind === 'storno' ? `reverses invoice ${doc.reverses}, settled through the transfer account by its group's payments` : '',
    deducts.length > 0 ? `deducts deposit invoice${deducts.length > 1 ? 's' : ''} ${deducts.join(', ')}` : '',
  ].filter(Boolean);
  return {
    method: 'POST',
    path: `${ctx.base}/invoices`,
    contentType: 'application/json',
    body,
    purpose: `Create ${name} ${doc.number} for customer ${doc.customerNumber} dated ${doc.date}, total ${doc.currency} ${money(doc.total, doc.currency)} (${details.join('; ')})`,
  };
}

// ── payments (D1–D5, and the storno's transfers) ─────────────────────────────────────────

const PAYMENT_MEMO: Record<PaymentPurpose, string> = {
  payment: 'Payment',
  'price-reduction': 'Price reduction',
  'bank-fee': 'Bank fees',
  skonto: 'Skonto',
  transfer: 'Transfer',
};

/**
 * D1–D5: every entry is its own `POST …/invoices/{invnumber}/payments` with its own
 * `payment_accno` [docs: D4.1 and the Rabatt, Bank-/PC-Spesen and Transferkonto recipes].
 * `amount_paid` is signed like kontor's payment: negative pays out a credit note or storno
 * (C2/C3, D5; [inferred], reference §6: verify in the sandbox) or writes off an overpayment
 * (D2).
 */
function paymentRequest(doc: PaymentDocument, ctx: Context): RmaRequest {
  checkLength(formatDocumentKey(doc.key), 'currency', doc.currency);
  const amount = money(doc.amount, doc.currency);
  const body: Record<string, unknown> = {
    datepaid: rmaDateTime(doc.date, ctx.timeZone),
    amount_paid: amount,
    source: doc.reference,
    memo: doc.memo || PAYMENT_MEMO[doc.purpose],
    payment_accno: doc.account,
    currency: doc.currency,
  };
  if (doc.currency === (ctx.options.baseCurrency ?? 'CHF')) body.exchangerate = '1.0';
  const what = doc.purpose === 'payment' ? 'payment' : PAYMENT_MEMO[doc.purpose].toLowerCase();
  return {
    method: 'POST',
    path: `${ctx.base}/invoices/${encodeURIComponent(doc.appliesTo)}/payments`,
    contentType: 'application/json',
    body,
    purpose: `Book ${what} of ${doc.currency} ${amount} on ${doc.appliesTo} against account ${doc.account}, dated ${doc.date}${doc.group ? ` (group ${doc.group})` : ''}`,
  };
}

/**
 * The requests, in order, that deliver one kontor document to Run my Accounts. Pure: no I/O,
 * no clock. Throws RmaPayloadError when the document cannot be expressed (a TEXT limit, a
 * rounding line without a rounding part, a bad option).
 */
export function rmaRequestsFor(doc: BookDocument, options: RmaRequestOptions): RmaRequest[] {
  const ctx = contextOf(options);
  switch (doc.kind) {
    case 'customer':
      return [customerRequest(doc, ctx)];
    case 'payment':
      return [paymentRequest(doc, ctx)];
    case 'invoice':
    case 'credit-note':
    case 'storno':
      return [salesRequest(doc, ctx)];
  }
}

