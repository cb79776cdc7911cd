/**
 * The Billecta target's request payloads: what kontor would send to deliver one document.
 *
 * Pure: no HTTP, no clock, no randomness. `kontor preview` shows these requests, and the
 * Billecta client (a later issue) sends them in order. Field names, types and enum names come
 * from Billecta's view models (the draft-04 schemas in shared/reference/billecta-schemas, copied
 * to test/fixtures/billecta, which the contract tests validate every body against); paths and
 * behaviour from the research notes (shared/reference/billecta.md). Every choice that no source
 * confirms is marked INFERRED below; the notes' §9 lists what to settle on apitest.
 *
 * What a document becomes:
 * - customer → look the debtor up by DebtorExternalId, then create it (DebtorView).
 * - invoice (article variant) → per distinct part a product lookup and create (ProductView), the
 *   invoice draft (InvoiceActionEntryView), and its attest, which books (and, by DeliveryMethod,
 *   sends) it. An order a provider already collected becomes, with `paidOrders: 'verification'`,
 *   a verification invoice instead: booked against the clearing account, closed on creation,
 *   never sent, never attested.
 * - credit note → a credit invoice linked to the credited invoice (CreditingInvoicePublicId),
 *   with negative records, then its attest. A credit note of an order booked as a verification
 *   invoice (which Billecta cannot credit) is a negative verification invoice instead: the same
 *   clearing account, closed on creation, never sent (INFERRED, see `verificationCreditRequests`).
 * - payment → a registered payment (RegisterPaymentView); price reductions, skonto and fees as a
 *   write-off on their own account. Nothing for the collection of a verification invoice, nor for
 *   the refund paid back on a negative one: the provider moved that money, not Billecta.
 * - storno → refused: Billecta has no storno (BillectaPayloadError).
 *
 * Ids Billecta assigns are not known before the requests run. Bodies and paths carry
 * placeholders instead, which the client replaces once the id is known (resolveBillectaPlaceholders):
 *   `{debtor:<customer number>}`  the DebtorPublicId of the debtor with that DebtorExternalId
 *   `{product:<part number>}`     the ProductPublicId of the product with that ProductExternalId
 *   `{action:<document number>}`  the ActionPublicId of the invoice or credit invoice kontor
 *                                 numbered so (the CreatedView answer to its create request)
 * The text after the colon is URI-encoded (`SH-123` stays `SH-123`).
 *
 * Money: kontor amounts are integer minor units, and so is AmountView.Value (199.00 SEK →
 * 19900), with the currency's ISO 4217 exponent (books/currency.ts). The one exception is
 * ProductView.UnitPrice, a JSON number in major units: see `majorUnits`.
 */
import { createHash } from 'node:crypto';
import {
  BooksError,
  currencyExponent,
  formatDecimal,
  formatDocumentKey,
  formatRate,
  isCalendarDate,
  minor,
  parseDecimal,
  sum,
  times,
  vatFromNet,
  type BookDocument,
  type CreditNoteDocument,
  type CustomerDocument,
  type DocumentLine,
  type InvoiceDocument,
  type Minor,
  type PaymentDocument,
  type SalesDocument,
  type VatRate,
} from '../../books/index.js';

export interface BillectaRequest {
  method: 'GET' | 'POST' | 'PUT';
  /** Relative to the environment's base URL; may hold placeholders (see above). */
  path: string;
  body: Record<string, unknown> | null;
  /** What the request is for, for people reading a preview. */
  purpose: string;
  /**
   * Extra request headers: `UniqueApiCallId` on every request that changes something. It is a
   * header, not a body field (the view models have no such property and allow no others).
   */
  headers?: Readonly<Record<string, string>>;
}

export interface BillectaRequestOptions {
  creditorPublicId: string;
  /** DeliveryMethodType name: Email, Mail, Manually, SMS, EInvoice, Kivra, Avy. Default Manually: attest books, sends nothing. */
  deliveryMethod?: string;
  /** How orders a provider already collected are booked (the mapping's target.paid_orders). Default invoice. */
  paidOrders?: 'invoice' | 'verification';
  /**
   * Invoice numbers a provider already collected (their payment is on a clearing account). A
   * Map also says which clearing account: it becomes the verification invoice's DebitAccount.
   * A credit note whose credited invoice is listed becomes a negative verification invoice; a
   * payment that applies to a listed number (an invoice, or a credit note booked so) sends nothing.
   */
  collected?: ReadonlySet<string> | ReadonlyMap<string, string>;
  /** Clearing account → PaymentMeanCode configured for the creditor (e.g. "1580" → "CARD"). */
  paymentMeanCodes?: Readonly<Record<string, string>>;
  /**
   * The mapping's rounding account. Needed only when Billecta's own VAT on the records of a
   * VAT-excluded document would differ from kontor's (see `vatDifference`); a document's own
   * rounding line names it too.
   */
  roundingAccount?: string;
}

/** A document Billecta cannot take as it is, or options that cannot describe a request. */
export class BillectaPayloadError extends BooksError {
  override name = 'BillectaPayloadError';
  declare readonly field: string;

  constructor(message: string, field: string, hint?: string) {
    super(message, { field, ...(hint ? { hint } : {}) });
  }
}

// ── enums and formats ────────────────────────────────────────────────────────────────────

/** DeliveryMethodTypeView's names (Unknown left out: it is no method). */
export const DELIVERY_METHODS = ['Email', 'Mail', 'Manually', 'SMS', 'EInvoice', 'Kivra', 'Avy'] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The highest account number an int32 account field holds. */
const INT32_MAX = 2_147_483_647;

/**
 * A calendar date as Billecta's date-time fields take it: local midnight without an offset.
 * INFERRED (billecta.md §2, open question 5): .NET reads an offset-less time as "unspecified"
 * and keeps the calendar date whatever the server's time zone, where "+02:00" could be moved to
 * the previous day on a server running in UTC. kontor's document dates already are calendar
 * dates in the shop's time zone (Europe/Stockholm for the shipped Billecta mapping), so nothing
 * is converted here.
 */
export function billectaDate(date: string, field = 'date'): string {
  if (!isCalendarDate(date)) throw new BillectaPayloadError(`"${date}" is not a calendar date (YYYY-MM-DD)`, field);
  return `${date}T00:00:00`;
}

/**
 * A minor-unit amount as a JSON number in major units, for ProductView.UnitPrice (a double).
 *
 * Exact, never float arithmetic: the decimal text is built from the integer
 * (formatDecimal: 12345 öre → "123.45", 1 → "0.01", ¥12345 → "12345"), and Number() of that
 * text is the double nearest to it, which JSON.stringify writes back as the same shortest
 * decimal ("123.45"). That holds up to 15 significant digits; the round trip is checked with
 * the exact parser, so a value the double cannot carry is refused rather than sent changed.
 */
export function majorUnits(amount: Minor, currency: string, field = 'UnitPrice'): number {
  const exponent = currencyExponent(currency);
  const text = formatDecimal(amount, exponent);
  const value = Number(text);
  let back: Minor | undefined;
  try {
    back = parseDecimal(String(value), exponent);
  } catch {
    back = undefined;
  }
  if (back !== amount) throw new BillectaPayloadError(`${currency} ${text} cannot be written exactly as a JSON number`, field);
  return value;
}

/** A VAT rate (basis points) as Billecta's VAT percent: 2500 → 25, 1200 → 12, 810 → 8.1. Exact, from the decimal text. */
export function vatPercent(rate: VatRate): number {
  return Number(formatRate(rate));
}

/** An AmountView: currency code and integer minor units (ValueForView is the server's to fill). */
function amountView(currency: string, value: Minor): { CurrencyCode: string; Value: number } {
  return { CurrencyCode: currency, Value: value };
}

/** A BAS account as Billecta's int32 bookkeeping account fields take it; '' (0 % VAT) is null. */
function accountNumber(account: string, field: string, optional = false): number | null {
  if (optional && account.trim() === '') return null;
  if (!/^\d{1,10}$/.test(account) || Number(account) > INT32_MAX) {
    throw new BillectaPayloadError(`account "${account}" is not a whole account number, which Billecta's products need`, field, 'Billecta books products on BAS account numbers: use digits only in the mapping');
  }
  return Number(account);
}

// ── placeholders and idempotency ─────────────────────────────────────────────────────────

export type BillectaPlaceholderKind = 'debtor' | 'product' | 'action';

/** `{debtor:SH-123}`: an id Billecta assigns, unknown until the request that creates it ran. */
export function billectaPlaceholder(kind: BillectaPlaceholderKind, key: string): string {
  return `{${kind}:${encodeURIComponent(key)}}`;
}

const PLACEHOLDER = /\{(debtor|product|action):([^{}]+)\}/g;

/**
 * The request with every placeholder replaced by `idOf(kind, key)`: URI-encoded in the path,
 * as is in the body. For the client, once the ids are known (and for tests).
 */
export function resolveBillectaPlaceholders(request: BillectaRequest, idOf: (kind: BillectaPlaceholderKind, key: string) => string): BillectaRequest {
  const replace = (text: string, encode: boolean) =>
    text.replace(PLACEHOLDER, (_all, kind: BillectaPlaceholderKind, key: string) => {
      const id = idOf(kind, decodeURIComponent(key));
      return encode ? encodeURIComponent(id) : id;
    });
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return replace(value, false);
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    return value;
  };
  return { ...request, path: replace(request.path, true), body: request.body === null ? null : (walk(request.body) as Record<string, unknown>) };
}

/** kontor's UUID namespace for Billecta call ids (a fixed random UUID). */
const CALL_ID_NAMESPACE = '65717260-3c7a-4fe1-88c4-90a7939659b2';

/** RFC 9562 UUID version 5 (SHA-1, name-based): the same name always gives the same UUID. */
export function uuidV5(name: string, namespace: string): string {
  if (!GUID.test(namespace)) throw new BillectaPayloadError(`namespace "${namespace}" is not a UUID`, 'namespace');
  const bytes = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The UniqueApiCallId of one call that delivers a document: a UUID v5 of the creditor, the
 * document key (formatDocumentKey) and the operation. A retry of the same call sends the same
 * id, so Billecta can refuse it as a duplicate; every other call, and every other revision of
 * the document, gets another id. INFERRED: the header, and its 403 on a duplicate, are the
 * brief's (billecta.md §1); no source seen confirms them.
 */
export function billectaCallId(creditorPublicId: string, documentKey: string, operation: string): string {
  return uuidV5(`billecta\n${creditorPublicId.toLowerCase()}\n${documentKey}\n${operation}`, CALL_ID_NAMESPACE);
}

// ── the requests ─────────────────────────────────────────────────────────────────────────

interface Context {
  creditor: string;
  docKey: string;
  options: BillectaRequestOptions;
}

function write(ctx: Context, method: 'POST' | 'PUT', path: string, body: Record<string, unknown> | null, purpose: string, operation: string): BillectaRequest {
  return { method, path, body, purpose, headers: { UniqueApiCallId: billectaCallId(ctx.creditor, ctx.docKey, operation) } };
}

const q = encodeURIComponent;

/** A text field: trimmed, or null when empty. */
function text(value: string | undefined): string | null {
  const t = value?.trim() ?? '';
  return t === '' ? null : t;
}

function debtorRequests(ctx: Context, doc: CustomerDocument): BillectaRequest[] {
  const personName = [doc.firstName, doc.lastName].map(text).filter(Boolean).join(' ');
  const body: Record<string, unknown> = {
    CreditorPublicId: ctx.creditor,
    DebtorExternalId: doc.number,
    DebtorType: doc.type === 'company' ? 'Company' : 'Private',
    Name: doc.name,
    // A company's contact person, when the shop names one other than the company.
    ContactName: doc.type === 'company' && personName && personName !== doc.name ? personName : null,
    Address: text(doc.address.street),
    Address2: text(doc.address.street2),
    ZipCode: text(doc.address.zipcode),
    City: text(doc.address.city),
    CountryCode: text(doc.address.country)?.toUpperCase() ?? null,
    Email: text(doc.email),
    Phone: text(doc.phone),
    // kontor knows a VAT id, not an organisation or personal number: OrgNo stays empty.
    OrgNo: null,
    VatNumber: text(doc.vatId),
    IsActive: true,
  };
  return [
    {
      method: 'GET',
      path: `/v1/debtors/debtorbyexternalid/${q(ctx.creditor)}?externalid=${q(doc.number)}`,
      body: null,
      purpose: `look up debtor ${doc.number} by DebtorExternalId (a 400 means several debtors share it: stop, never create another)`,
    },
    write(
      ctx,
      'POST',
      '/v1/debtors/debtor',
      body,
      `create debtor ${doc.number} if the lookup found none; if it found one, PUT /v1/debtors/debtor with this body and its DebtorPublicId instead`,
      'debtor',
    ),
  ];
}

/** A product to upsert: one per distinct part (and per rounding account). */
interface ProductSpec {
  externalId: string;
  body: Record<string, unknown>;
  label: string;
}

/** The product behind rounding records: VAT-free, booked on the rounding account. INFERRED (there is no rounding input field). */
function roundingProduct(ctx: Context, account: string, field: string): ProductSpec {
  const externalId = `kontor-rounding-${account}`;
  return {
    externalId,
    label: `rounding product ${externalId}`,
    body: {
      CreditorPublicId: ctx.creditor,
      ProductExternalId: externalId,
      ArticleNumber: externalId,
      Description: `Rounding (${account})`,
      IsActive: true,
      UnitPrice: 0,
      VAT: 0,
      BookKeepingAccount: accountNumber(account, field),
      BookKeepingVATAccount: null,
      ProductType: 'Service',
    },
  };
}

/**
 * The product of a part: its account and VAT, which Billecta books the records on (accounts
 * live on products, not rows). UnitPrice is the part's unit price on this document, in the
 * document's price mode (gross when pricesIncludeVat): only a default for the portal, since
 * every record carries its own price. INFERRED: ProductType Commodity for goods, Service for
 * shipping, fees, discounts and deposits.
 */
function partProduct(ctx: Context, doc: SalesDocument, line: DocumentLine, index: number): ProductSpec {
  const part = line.part!;
  return {
    externalId: part.number,
    label: `product ${part.number}`,
    body: {
      CreditorPublicId: ctx.creditor,
      ProductExternalId: part.number,
      ArticleNumber: part.number,
      Description: line.text,
      Units: part.unit ?? null,
      IsActive: true,
      UnitPrice: majorUnits(part.unitPrice, doc.currency, `lines[${index}].part.unitPrice`),
      VAT: vatPercent(line.vat.rate),
      BookKeepingAccount: accountNumber(line.account, `lines[${index}].account`),
      BookKeepingVATAccount: accountNumber(line.vat.account, `lines[${index}].vat.account`, true),
      ProductType: line.role === 'revenue' ? 'Commodity' : 'Service',
    },
  };
}

function productRequests(ctx: Context, product: ProductSpec, create: boolean): BillectaRequest[] {
  const lookup: BillectaRequest = {
    method: 'GET',
    path: `/v1/products/productbyexternalid/${q(ctx.creditor)}?externalid=${q(product.externalId)}`,
    body: null,
    purpose: `look up ${product.label} by ProductExternalId: its ProductPublicId replaces ${billectaPlaceholder('product', product.externalId)}`,
  };
  if (!create) return [lookup];
  return [
    lookup,
    write(
      ctx,
      'POST',
      '/v1/products/product',
      product.body,
      `create ${product.label} if the lookup found none (an empty ProductPublicId or a 404); if its account or VAT differ, PUT /v1/products/product with its ProductPublicId`,
      `product:${product.externalId}`,
    ),
  ];
}

interface BuiltRecord {
  body: Record<string, unknown>;
  /** Quantity × unit price, minor units; and the VAT rate for the VAT-excluded check. */
  amount: Minor;
  rate: VatRate;
}

/**
 * One Standard record: the part's own quantity and unit price, in the document's price mode.
 * Discount lines stay records of their discount product at a negative price (the row discount
 * fields would book the discount on the product's own account, not the mapping's discount
 * account); shipping and fee lines stay records too, not FreightFee/InvoiceFee, which Billecta
 * books on its own accounts at the creditor's VAT. INFERRED: negative rows on an invoice.
 */
function record(doc: SalesDocument, fields: { product: string; articleNumber: string; description: string; quantity: number; unitPrice: Minor; rate: VatRate; units?: string | undefined }): BuiltRecord {
  return {
    amount: times(fields.unitPrice, fields.quantity),
    rate: fields.rate,
    body: {
      ProductPublicId: billectaPlaceholder('product', fields.product),
      ArticleNumber: fields.articleNumber,
      ArticleDescription: fields.description,
      Quantity: fields.quantity,
      Units: fields.units ?? null,
      UnitPrice: amountView(doc.currency, fields.unitPrice),
      VAT: vatPercent(fields.rate),
      VatIsIncluded: doc.pricesIncludeVat,
      RecordType: 'Standard',
    },
  };
}

/**
 * The VAT Billecta will compute on VAT-excluded records, less what kontor booked.
 * INFERRED: Billecta computes VAT per record (its records carry TotalIncVAT in whole minor
 * units) and rounds half away from zero, as books/vatFromNet does. Records of VAT-included
 * documents need no check: their gross is the total, whatever VAT Billecta finds inside.
 */
function vatDifference(doc: SalesDocument, records: readonly BuiltRecord[]): Minor {
  const billecta = sum(records.map((r) => vatFromNet(r.amount, r.rate)));
  return minor(sum(doc.tax.map((t) => t.amount)) - billecta);
}

/** Records and the products they need, checked to add up to the document's total. */
function salesRecords(ctx: Context, doc: SalesDocument): { records: Record<string, unknown>[]; products: ProductSpec[] } {
  const where = formatDocumentKey(doc.key);
  if (doc.variant !== 'article') {
    throw new BillectaPayloadError(`${where}: Billecta books products, but the document is in the booking variant`, 'variant', 'set target.variant: article in the mapping');
  }
  const products = new Map<string, ProductSpec>();
  const records: BuiltRecord[] = doc.lines.map((line, i) => {
    const part = line.part;
    if (!part) throw new BillectaPayloadError(`${where}: lines[${i}] has no part`, `lines[${i}].part`);
    if (!products.has(part.number)) products.set(part.number, partProduct(ctx, doc, line, i));
    return record(doc, { product: part.number, articleNumber: part.number, description: line.text, quantity: part.quantity, unitPrice: part.unitPrice, rate: line.vat.rate, units: part.unit });
  });

  // Rounding: Billecta takes no rounding amount on an invoice (CentRoundingAmount is output
  // only, UseCentRounding a creditor setting). Each rounding line becomes a VAT-free record on a
  // product booked on the rounding account. INFERRED; see billecta.md §7.4.
  const rounding = (account: string, amount: Minor, description: string, field: string) => {
    const product = roundingProduct(ctx, account, field);
    if (!products.has(product.externalId)) products.set(product.externalId, product);
    records.push(record(doc, { product: product.externalId, articleNumber: product.externalId, description, quantity: 1, unitPrice: amount, rate: 0 as VatRate }));
  };
  doc.rounding.forEach((r, i) => {
    if (r.amount !== 0) rounding(r.account, r.amount, r.text, `rounding[${i}].account`);
  });

  if (!doc.pricesIncludeVat) {
    const lineRecords = records.slice(0, doc.lines.length);
    const difference = vatDifference(doc, lineRecords);
    if (difference !== 0) {
      const account = ctx.options.roundingAccount ?? doc.rounding[0]?.account;
      if (!account) {
        throw new BillectaPayloadError(
          `${where}: Billecta's VAT on the records, rounded per record, differs from the document's VAT by ${formatDecimal(difference, currencyExponent(doc.currency))} ${doc.currency}, and no rounding account is known to book the difference on`,
          'tax',
          'pass the mapping\'s rounding account (roundingAccount)',
        );
      }
      rounding(account, difference, 'VAT rounding difference', 'roundingAccount');
    }
  }

  // Σ records (+ VAT when excluded) must be the document's total, or Billecta invoices another amount.
  const gross = sum(records.map((r) => r.amount));
  const billectaTotal = doc.pricesIncludeVat ? gross : sum([gross, ...records.map((r) => vatFromNet(r.amount, r.rate))]);
  if (billectaTotal !== doc.total) {
    throw new BillectaPayloadError(`${where}: the records add up to ${billectaTotal} minor units, not the document's total ${doc.total}`, 'total');
  }
  return { records: records.map((r, i) => ({ SequenceNo: i + 1, ...r.body })), products: [...products.values()] };
}

function deliveryMethodOf(options: BillectaRequestOptions): string {
  const method = options.deliveryMethod ?? 'Manually';
  if (!(DELIVERY_METHODS as readonly string[]).includes(method)) {
    throw new BillectaPayloadError(`delivery method "${method}" is not one of Billecta's: ${DELIVERY_METHODS.join(', ')}`, 'deliveryMethod');
  }
  return method;
}

function isCollected(options: BillectaRequestOptions, invoiceNumber: string): boolean {
  return options.paidOrders === 'verification' && (options.collected?.has(invoiceNumber) ?? false);
}

/** The clearing account invoice `number` was collected on, when `collected` is a Map that says. */
function clearingOf(options: BillectaRequestOptions, number: string): string | undefined {
  const collected = options.collected;
  return collected && 'get' in collected ? collected.get(number) || undefined : undefined;
}

/** The header fields an invoice and a credit invoice share. */
function actionEntry(ctx: Context, doc: SalesDocument, records: Record<string, unknown>[]): Record<string, unknown> {
  return {
    CreditorPublicId: ctx.creditor,
    DebtorPublicId: billectaPlaceholder('debtor', doc.customerNumber),
    InvoiceDate: billectaDate(doc.date, 'date'),
    DueDate: billectaDate(doc.dueDate, 'dueDate'),
    // The order number, visible on the invoice and searchable (InvoiceActionSubView has no ExternalReference).
    OurReference: doc.orderNumber,
    YourReference: doc.orderNumber,
    // INFERRED: the invoice document does not carry the customer's language.
    CommunicationLanguage: 'SV',
    Message: text(doc.description),
    // Billecta numbers its invoices itself (and derives the OCR from the number).
    InvoiceNumber: null,
    ExternalReference: ctx.docKey,
    Records: records,
  };
}

function invoiceRequests(ctx: Context, doc: InvoiceDocument): BillectaRequest[] {
  const { records, products } = salesRecords(ctx, doc);
  const productCalls = products.flatMap((p) => productRequests(ctx, p, true));
  if (isCollected(ctx.options, doc.number)) {
    // A verification invoice: booked, closed on creation, never sent; no attest.
    // INFERRED path (billecta.md §3: "probably POST /v1/invoice/verificationinvoice").
    const clearing = clearingOf(ctx.options, doc.number);
    const { DueDate: _due, ...entry } = actionEntry(ctx, doc, records);
    const body: Record<string, unknown> = {
      ...entry,
      // Paid when sold: due that day (INFERRED, as billecta.md's example).
      DueDate: billectaDate(doc.date, 'date'),
      BookkeepingOverride: clearing ? { DebitAccount: clearing } : null,
    };
    return [
      ...productCalls,
      write(
        ctx,
        'POST',
        '/v1/invoice/verificationinvoice',
        body,
        clearing
          ? `create verification invoice ${doc.number} (collected by a provider: debits clearing account ${clearing}, closed on creation, nothing sent)`
          : `create verification invoice ${doc.number} (collected by a provider; no clearing account given, so Billecta debits its default account; closed on creation, nothing sent)`,
        'verification-invoice',
      ),
    ];
  }
  const body: Record<string, unknown> = {
    ActionType: 'InvoiceAction',
    ...actionEntry(ctx, doc, records),
    DeliveryMethod: deliveryMethodOf(ctx.options),
    VatIsIncluded: doc.pricesIncludeVat,
  };
  return [...productCalls, ...attested(ctx, doc, body, 'invoice', `invoice ${doc.number}`)];
}

/** Create a draft, then attest it: attest books it and sends it if DeliveryMethod says so. */
function attested(ctx: Context, doc: SalesDocument, body: Record<string, unknown>, operation: string, label: string): BillectaRequest[] {
  const action = billectaPlaceholder('action', doc.number);
  return [
    write(ctx, 'POST', '/v1/invoice/action', body, `create ${label} as a draft: the CreatedView's PublicId replaces ${action}`, operation),
    write(ctx, 'PUT', `/v1/invoice/attest/${action}`, null, `attest ${label}: books it and delivers it (DeliveryMethod ${String(body.DeliveryMethod)})`, 'attest'),
  ];
}

/**
 * B1/B2 as a credit invoice: an InvoiceActionEntryView of ActionType CreditInvoiceAction that
 * names the credited invoice, with the credit note's negative records. INFERRED mechanism
 * (billecta.md §3, §4.8): fields from the schema, the linking from the KB article.
 */
function creditRequests(ctx: Context, doc: CreditNoteDocument): BillectaRequest[] {
  if (isCollected(ctx.options, doc.credits)) return verificationCreditRequests(ctx, doc);
  const { records, products } = salesRecords(ctx, doc);
  const body: Record<string, unknown> = {
    ActionType: 'CreditInvoiceAction',
    ...actionEntry(ctx, doc, records),
    DeliveryMethod: deliveryMethodOf(ctx.options),
    VatIsIncluded: doc.pricesIncludeVat,
    CreditingInvoicePublicId: billectaPlaceholder('action', doc.credits),
  };
  // The parts' products were created with the invoice: look them up only, so that a partial
  // refund's amount never becomes a product's price. Rounding products may be new.
  const productCalls = products.flatMap((p) => productRequests(ctx, p, p.externalId.startsWith('kontor-rounding-')));
  return [...productCalls, ...attested(ctx, doc, body, 'credit-invoice', `credit invoice ${doc.number} on invoice ${doc.credits}`)];
}

/**
 * The credit note of an invoice booked as a verification invoice, as a NEGATIVE verification
 * invoice. INFERRED (no source confirms it; settle on apitest): Billecta cannot credit a
 * verification invoice ("a VerificationInvoiceAction cannot be credited"), and the provider, not
 * Billecta, paid the refund back. So the credit note is booked like the order was: a
 * VerificationInvoiceActionEntryView with the credit note's negative records and
 * BookkeepingOverride.DebitAccount = the same clearing account, so that the clearing account is
 * credited and sales and VAT reduced; closed on creation, never sent, no attest. The view has no
 * link to the credited invoice: ExternalReference is the credit note's key (how kontor finds it
 * again), YourReference the order number as on the original, and Message names the credit note
 * and the verification invoice it reduces.
 */
function verificationCreditRequests(ctx: Context, doc: CreditNoteDocument): BillectaRequest[] {
  const { records, products } = salesRecords(ctx, doc);
  const clearing = clearingOf(ctx.options, doc.credits);
  const { DueDate: _due, Message: message, ...entry } = actionEntry(ctx, doc, records);
  const body: Record<string, unknown> = {
    ...entry,
    DueDate: billectaDate(doc.date, 'date'),
    Message: [`Credit note ${doc.number} (${ctx.docKey}) reducing verification invoice ${doc.credits}`, message].filter(Boolean).join(': '),
    BookkeepingOverride: clearing ? { DebitAccount: clearing } : null,
  };
  // As for a credit invoice: the parts' products exist (the verification invoice created them).
  const productCalls = products.flatMap((p) => productRequests(ctx, p, p.externalId.startsWith('kontor-rounding-')));
  return [
    ...productCalls,
    write(
      ctx,
      'POST',
      '/v1/invoice/verificationinvoice',
      body,
      `create negative verification invoice ${doc.number} for credit note ${doc.number} of verification invoice ${doc.credits} (${clearing ? `credits clearing account ${clearing}` : 'no clearing account given, so Billecta uses its default account'}; closed on creation, nothing sent)`,
      'verification-credit',
    ),
  ];
}

/**
 * D1–D4 as a registered payment. INFERRED path (billecta.md §3: POST /v1/invoice/payment).
 * Money received (`payment`) is Amount with the clearing account's PaymentMeanCode; a price
 * reduction, skonto or a fee withheld is a WriteOff on the document's account
 * (OverrideWriteOffAccount) with WriteOffVat 0, because kontor books these on the receivable
 * without correcting VAT. INFERRED: that Billecta takes a registration of Amount 0 with a
 * WriteOff, and a negative Amount that pays a credit invoice's balance out.
 */
function paymentRequests(ctx: Context, doc: PaymentDocument): BillectaRequest[] {
  const where = formatDocumentKey(doc.key);
  if (doc.purpose === 'transfer') {
    throw new BillectaPayloadError(
      `${where}: a transfer-account payment belongs to a storno or netting group, which Billecta does not have`,
      'purpose',
      'a Billecta credit invoice reduces the invoice it credits by itself; a Billecta mapping sets no cancellations.transfer_account',
    );
  }
  if (isCollected(ctx.options, doc.appliesTo)) {
    // The collection of a verification invoice, or the refund paid back on a negative one: the
    // provider moved the money on the clearing account, which the verification invoice debited
    // (or credited); nothing is registered in Billecta.
    if (doc.purpose === 'payment') return [];
    throw new BillectaPayloadError(
      `${where}: invoice ${doc.appliesTo} is a verification invoice, which debits the whole total to the clearing account and is closed on creation; a ${doc.purpose} of ${doc.amount} minor units cannot be registered on it`,
      'purpose',
      'book provider fees and differences when the payout is reconciled, or book collected orders as invoices (target.paid_orders: invoice)',
    );
  }
  const action = billectaPlaceholder('action', doc.appliesTo);
  const money = doc.purpose === 'payment';
  const code = ctx.options.paymentMeanCodes?.[doc.account];
  if (money && !code) {
    throw new BillectaPayloadError(
      `${where}: no PaymentMeanCode is configured for clearing account ${doc.account}`,
      'account',
      'create a payment mean for the account in Billecta (/v1/accounting/paymentmeans) and configure its code',
    );
  }
  const body: Record<string, unknown> = {
    ActionPublicId: action,
    Amount: amountView(doc.currency, money ? doc.amount : minor(0)),
    WriteOff: money ? null : amountView(doc.currency, doc.amount),
    WriteOffVat: 0,
    OverrideWriteOffAccount: money ? null : doc.account,
    PaymentMeanCode: code ?? null,
    Date: billectaDate(doc.date, 'date'),
    Comment: text(doc.memo),
    PaymentReferenceText: text(doc.reference),
    // kontor never settles more than is open; if Billecta sees more, refuse rather than park it.
    OvershootingAmountHandling: 'None',
  };
  const label = money ? `payment of ${doc.amount} minor units` : `${doc.purpose} of ${doc.amount} minor units written off to ${doc.account}`;
  return [write(ctx, 'POST', '/v1/invoice/payment', body, `register ${label} on ${doc.appliesTo} (${action})`, 'payment')];
}

// ── updates of master data ───────────────────────────────────────────────────────────

/** DebtorView's fields [schema]: an update sends these only, whatever else Billecta's GET answers. */
const DEBTOR_VIEW_FIELDS = [
  'DebtorPublicId', 'CreditorPublicId', 'DebtorExternalId', 'OrgNo', 'Name', 'Attention', 'CareOf', 'Address', 'Address2', 'ZipCode', 'City',
  'CountryCode', 'CitizenshipCountryCode', 'Phone', 'Email', 'ContactName', 'ContactEmail', 'VatNumber', 'DebtorNo', 'GLN', 'IsActive',
  'ProtectedIdentity', 'UseProtectedMailDelivery', 'DebtorType', 'Intermediator', 'EInvoiceBank', 'Notes', 'DebtorSelfInvoiceInfo',
  'DefaultActionConfig', 'Autogiro', 'CreditCards', 'Created',
] as const;

/** ProductView's fields [schema]. */
const PRODUCT_VIEW_FIELDS = [
  'ProductPublicId', 'CreditorPublicId', 'ArticleNumber', 'ProductExternalId', 'Description', 'Units', 'IsActive', 'UnitPrice', 'VAT',
  'BookKeepingAccount', 'BookKeepingSalesEUAccount', 'BookKeepingSalesEUVATAccount', 'BookKeepingSalesNonEUAccount', 'BookKeepingPurchaseAccount',
  'BookKeepingVATAccount', 'BookKeepingPurchaseVATAccount', 'ProductType', 'ConfigurationCode',
] as const;

/** The view's fields of what Billecta stores, without empty ones (a PUT replaces the whole object [inferred]: absent and null alike). */
function storedFields(stored: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => stored[f] !== null && stored[f] !== undefined).map((f) => [f, stored[f]]));
}

/**
 * PUT /v1/debtors/debtor when the stored debtor differs from kontor's: the stored DebtorView
 * (Billecta's own fields, such as its notes or e-invoice settings, kept) with kontor's fields
 * of the create request over it.
 */
export function billectaDebtorUpdate(stored: Record<string, unknown>, create: BillectaRequest, creditorPublicId: string, documentKey: string): BillectaRequest {
  const number = String(create.body?.DebtorExternalId ?? '');
  return {
    method: 'PUT',
    path: '/v1/debtors/debtor',
    body: { ...storedFields(stored, DEBTOR_VIEW_FIELDS), ...create.body, DebtorPublicId: stored.DebtorPublicId },
    purpose: `update debtor ${number}`,
    headers: { UniqueApiCallId: billectaCallId(creditorPublicId, documentKey, 'debtor-update') },
  };
}

/**
 * PUT /v1/products/product when a stored product's accounts, VAT or type differ from kontor's:
 * the stored ProductView with kontor's fields over it, except the unit price, which stays as
 * Billecta has it (a default only; each invoice row carries its own).
 */
export function billectaProductUpdate(stored: Record<string, unknown>, create: BillectaRequest, creditorPublicId: string, documentKey: string): BillectaRequest {
  const externalId = String(create.body?.ProductExternalId ?? '');
  const kept = storedFields(stored, PRODUCT_VIEW_FIELDS);
  return {
    method: 'PUT',
    path: '/v1/products/product',
    body: { ...kept, ...create.body, UnitPrice: kept.UnitPrice ?? create.body?.UnitPrice, ProductPublicId: stored.ProductPublicId },
    purpose: `update product ${externalId}`,
    headers: { UniqueApiCallId: billectaCallId(creditorPublicId, documentKey, `product-update:${externalId}`) },
  };
}

/**
 * The requests, in order, that deliver `doc` to Billecta. Requests that depend on an earlier
 * answer carry placeholders; a create that a lookup makes unnecessary says so in its purpose.
 */
export function billectaRequestsFor(doc: BookDocument, options: BillectaRequestOptions): BillectaRequest[] {
  if (!GUID.test(options.creditorPublicId)) {
    throw new BillectaPayloadError(`creditor public id "${options.creditorPublicId}" is not a GUID`, 'creditorPublicId');
  }
  const ctx: Context = { creditor: options.creditorPublicId, docKey: formatDocumentKey(doc.key), options };
  switch (doc.kind) {
    case 'customer':
      return debtorRequests(ctx, doc);
    case 'invoice':
      return invoiceRequests(ctx, doc);
    case 'credit-note':
      return creditRequests(ctx, doc);
    case 'payment':
      return paymentRequests(ctx, doc);
    case 'storno':
      // Billecta has no storno: a credit invoice is a new document with its own date and
      // number (B1), and it reduces the credited invoice by itself, so the storno's transfer
      // payments would credit twice. Refuse, so that the mapping is fixed rather than the
      // journal and Billecta quietly disagreeing.
      throw new BillectaPayloadError(
        `${ctx.docKey}: Billecta has no storno; invoice ${doc.reverses} must be cancelled with a credit note (a credit invoice)`,
        'kind',
        'a Billecta mapping sets no cancellations.transfer_account: cancellations become credit notes',
      );
  }
}
