/**
 * A local Billecta for tests, benchmarks and integrators: the subset of Billecta's REST API that
 * kontor sends (src/targets/billecta/requests.ts), on node:http, with Billecta's rules as far as
 * they are known, per-invoice balances behind it, throttling, fault injection (latency, 500s,
 * 429 bursts, connections dropped after the commit) and a webhook sender.
 *
 * Tags say where a rule comes from, as in requests.ts: [docs] Billecta's documentation (the seed
 * 004_… and shared/reference/billecta.md marked DOCS), [schema] Billecta's view models,
 * [code] community clients, [inferred] the research notes' guesses, and [emulator] a choice of
 * this emulator where Billecta's behaviour is unknown (each is listed in docs/cli.md,
 * `kontor sandbox`).
 *
 * - Paths `/v1/…` as requests.ts sends them; JSON only (Billecta also speaks XML [docs]).
 * - Auth [docs]: `Authorization: Basic base64(user:password)` on any call, or
 *   `SecureToken base64(token)` with a token from `POST /v1/authentication/apiauthenticate`
 *   (answered as SecureTokenView {Value, Expires}). A new token revokes the previous one [docs];
 *   a token expires after `tokenTtlMs` [emulator: Billecta says "valid until a new one is
 *   generated", but its view carries Expires]. Missing, wrong or expired: 401.
 * - A creditor the user does not have: 401 [docs: "regardless of if the referenced data
 *   exists"]. Unknown debtors, products and actions named in a body: 400, and unknown ids in a
 *   path: 404 [emulator].
 * - Errors: the status, the text in the `ErrorMessage` header encoded ISO-8859-1 [docs] and the
 *   body `{"Message": "…"}` in UTF-8 [inferred: ASP.NET Web API's error shape]. Unparsable JSON
 *   and unknown enum names: 500 [docs].
 * - `UniqueApiCallId` (1–50 characters) [docs]: an id already used by a committed call, or an
 *   invalid one, is refused with 403 and nothing is processed. An id counts as used only once
 *   its call committed [emulator], so a call refused with 400 or 500 can be retried with it.
 * - Throttling [docs]: more than 50 failing calls (status ≥ 400 except 404) within 60 s, and
 *   each call after that is refused with 429 until the oldest failure leaves the window; the
 *   per-endpoint limits (GET /v1/invoice/action/{id} and actionbyinvoicenumber: 600 per minute
 *   and 100 per 10 s; POST /v1/search/actions: 100 per minute and 30 per 10 s) count every call.
 *   429s themselves are not counted as failing calls, and carry `Retry-After` [emulator].
 * - Money: AmountView.Value in minor units of the currency's decimals [docs]; ProductView's
 *   UnitPrice a double in major units [schema]. Totals are integers; nothing goes through
 *   floating point except ValueForView, which is display only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { currencyExponent, divRound, formatDecimal, isCalendarDate, isKnownCurrency, minor, parseDecimal, sum, vatFromGross, vatFromNet, vatRate, type Minor } from '../../books/index.js';
import { checkEmulatorFaults, closeServer, commitFaults, controlReplier, decodePathSegment, faultsControl, freshFaultStats, listenOn, readBody, Refusal, requestFaults, latencyWait, answerTime, arrivalOf, type LatencyFrom, type LatencyTimer, type EmulatorFaultKind, type EmulatorFaultStats, type EmulatorFaults } from '../emulator-kit.js';

// ── options and views ────────────────────────────────────────────────────────────────────

export type BillectaFaults = EmulatorFaults;

/** A limit on the calls of one endpoint: at most `count` per `windowMs`. */
export interface BillectaRateLimit {
  count: number;
  windowMs: number;
}

export interface BillectaEndpointLimit {
  method: string;
  /** Matched against the path (without the query). */
  path: RegExp;
  limits: BillectaRateLimit[];
}

export interface BillectaThrottling {
  /** Failing calls (status ≥ 400 except 404) allowed within `windowMs` [docs: 50]. */
  failingCalls: number;
  /** [docs: 60 000] */
  windowMs: number;
  /** Per-endpoint limits counting every call [docs: see BILLECTA_ENDPOINT_LIMITS]. */
  endpoints: BillectaEndpointLimit[];
}

/** The per-endpoint limits Billecta documents (seed 004_…, "Throttling"). */
export const BILLECTA_ENDPOINT_LIMITS: readonly BillectaEndpointLimit[] = [
  { method: 'POST', path: /^\/v1\/search\/actions$/i, limits: [{ count: 100, windowMs: 60_000 }, { count: 30, windowMs: 10_000 }] },
  { method: 'GET', path: /^\/v1\/invoice\/action\/[^/]+$/i, limits: [{ count: 600, windowMs: 60_000 }, { count: 100, windowMs: 10_000 }] },
  { method: 'GET', path: /^\/v1\/invoice\/actionbyinvoicenumber\/[^/]+$/i, limits: [{ count: 600, windowMs: 60_000 }, { count: 100, windowMs: 10_000 }] },
];

export interface BillectaWebhookOptions {
  /** Where events are POSTed. */
  url: string;
  /** The value of the secret header. */
  secret: string;
  /**
   * The header that carries `secret`. [inferred] Billecta signs nothing; its portal lets an
   * administrator add custom request headers to a webhook (billecta.md §5). Default
   * `x-webhook-secret`, the default of kontor's webhook endpoint.
   */
  header?: string;
  /**
   * The envelope key of the event name. [inferred] Billecta's docs name `Data` and
   * `AdditionalData` but show no event-name key (billecta.md §9, open question 2). Default `EventType`.
   */
  eventKey?: string;
  /** Further attempts after a failed delivery (Billecta: 4, after 5 min, 1 h, 3 h, 24 h [docs]); default 0. */
  retries?: number;
  /** Milliseconds between attempts [emulator]; default 1000. */
  retryDelayMs?: number;
}

export interface BillectaCreditorSetup {
  CreditorPublicId?: string;
  Name?: string;
  OrgNo?: string;
}

export interface BillectaEmulatorOptions {
  /** TCP port on `host`; 0 (default) picks a free one. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The API user's name; default `sandbox`. */
  user?: string;
  /** The API user's password; generated when absent (see `password`). */
  password?: string;
  /** The user's creditors; default one, "Sandbox AB", with a random GUID. */
  creditors?: BillectaCreditorSetup[];
  /** How long a SecureToken lives [emulator]; default 24 h. */
  tokenTtlMs?: number;
  /** PaymentMeanCodes configured for the creditors; when given, a payment naming another is refused (400). Default: any. */
  paymentMeanCodes?: string[];
  /**
   * What GET /v1/currencies/currencies answers; default BILLECTA_CURRENCIES (SEK, EUR, … with
   * their ISO 4217 decimals). For tests of kontor's currency checks: amounts on invoices and
   * payments are still checked against BILLECTA_CURRENCIES [emulator].
   */
  currencies?: BillectaCurrencyView[];
  /**
   * What a lookup by external id answers when nothing matches [inferred: unknown, billecta.md
   * §9 question 4]: `404` (default), or `empty`: 200 with a view whose public id is null.
   */
  notFound?: '404' | 'empty';
  /** Throttling rules; `false` turns throttling off. Parts given replace the defaults. */
  throttling?: Partial<BillectaThrottling> | false;
  /** Faults in force from the start. */
  faults?: BillectaFaults;
  /** Sends events to kontor: on every registered payment, credit and write-off, and on `sendWebhook`. */
  webhook?: BillectaWebhookOptions;
  /** Instead of Date.now (token expiry, throttling windows, Created dates). */
  now?: () => number;
  /**
   * How `latencyMs` is waited out: `sleep` (default, a timer) or `awake` (on time, keeping a core
   * busy while a request waits: for benchmarks). See LatencyTimer in emulator-kit.ts.
   */
  latencyTimer?: LatencyTimer;
  /** What `latencyMs` measures: `handling` (default, a wait before handling) or `arrival` (to the answer, the handling inside). See LatencyFrom in emulator-kit.ts. */
  latencyFrom?: LatencyFrom;
  /** Instead of Math.random, for the error rate. */
  random?: () => number;
  /** Told one line per API request (method, path, status) and per webhook delivery. */
  log?: (line: string) => void;
}

export type Json = Record<string, unknown>;

export interface BillectaCreditor {
  CreditorPublicId: string;
  Name: string;
  OrgNo: string;
}

/** A debtor as stored: the fields as sent (the last POST or PUT winning), plus its ids. */
export interface BillectaStoredDebtor extends Json {
  DebtorPublicId: string;
  CreditorPublicId: string;
  DebtorExternalId: string | null;
  Created: string;
}

export interface BillectaStoredProduct extends Json {
  ProductPublicId: string;
  CreditorPublicId: string;
  ProductExternalId: string | null;
  UnitPrice: number;
  VAT: number;
}

export interface BillectaStoredRecord {
  body: Json;
  /** Quantity × unit price, minor units, as sent (gross when VatIsIncluded). */
  amount: Minor;
  /** Excluding and including VAT, minor units. */
  net: Minor;
  vat: Minor;
  gross: Minor;
}

export type BillectaStage = 'Created' | 'Attested' | 'InvoiceSent' | 'Completed';

export interface BillectaStoredInvoice {
  ActionPublicId: string;
  ActionType: 'InvoiceAction' | 'CreditInvoiceAction' | 'VerificationInvoiceAction';
  CreditorPublicId: string;
  DebtorPublicId: string;
  /** Assigned when booked: on attest, or on creation for a verification invoice [emulator]. */
  InvoiceNumber: string | null;
  OCR: string | null;
  Stage: BillectaStage;
  Created: string;
  AttestedDate: string | null;
  ClosedDate: string | null;
  currency: string;
  /** The entry as sent (InvoiceActionEntryView or VerificationInvoiceActionEntryView). */
  entry: Json;
  records: BillectaStoredRecord[];
  /** InvoicedAmount: Σ records incl. VAT; negative for a credit invoice. Minor units. */
  total: Minor;
  totalVat: Minor;
  /** Payments registered (Amount), credits applied, amounts written off. Same sign as `total`. */
  paid: Minor;
  credited: Minor;
  writtenOff: Minor;
  /** CurrentAmount: total − paid − credited − written off. */
  current: Minor;
  /** A credit invoice: the ActionPublicId it credits. */
  credits: string | null;
  /** Verification invoice (negative: the refund of one [inferred]): BookkeepingOverride.DebitAccount. */
  debitAccount: string | null;
}

export interface BillectaStoredPayment {
  PaymentReferenceId: string;
  ActionPublicId: string;
  currency: string;
  amount: Minor;
  writeOff: Minor;
  PaymentMeanCode: string | null;
  OverrideWriteOffAccount: string | null;
  Date: string;
  Comment: string | null;
  PaymentReferenceText: string | null;
  /** The PaymentReferenceId of the AmountWrittenOffOnInvoice event, when there was a write-off. */
  writeOffReferenceId: string | null;
}

/** What Billecta's webhook would post: the event name and its `Data` (and `AdditionalData`). */
export interface BillectaWebhookEvent {
  type: string;
  data: unknown;
  additionalData?: unknown;
}

export interface BillectaWebhookDelivery {
  type: string;
  /** The JSON body posted. */
  body: string;
  attempts: number;
  /** The last answer's status, or null when none came. */
  status: number | null;
  error: string | null;
  delivered: boolean;
}

export interface BillectaRequestRecord {
  at: string;
  method: string;
  /** Path and query. */
  url: string;
  auth: 'basic' | 'token' | 'none' | 'invalid';
  uniqueApiCallId: string | null;
  body: unknown;
  /** The status answered; `dropped` when the connection was destroyed instead. */
  status: number | 'dropped';
  fault: EmulatorFaultKind | null;
  /** The error message answered, if any. */
  error: string | null;
  durationMs: number;
}

export interface BillectaEmulatorStats {
  requests: number;
  byStatus: Record<string, number>;
  /** POSTs, PUTs and DELETEs. */
  writes: number;
  /** Writes that changed the state. */
  committed: number;
  /** Calls that counted as failing (status ≥ 400 except 404 and 429). */
  failingCalls: number;
  /** Failing calls within the current throttling window. */
  failingInWindow: number;
  /** The most failing calls ever seen within one window. */
  maxFailingInWindow: number;
  /** 429s answered by the throttling rules (not by the `throttle` fault). */
  throttled: number;
  /** Requests the UniqueApiCallId check refused (403). */
  duplicates: number;
  /** Tokens issued by apiauthenticate. */
  tokensIssued: number;
  /** Requests being handled at once, at most. */
  maxConcurrent: number;
  webhooks: { sent: number; delivered: number; failed: number };
  faults: EmulatorFaultStats;
}

/** Per invoice: what it is worth and what happened to it, in minor units. */
export interface BillectaInvoiceTotals {
  ActionType: string;
  InvoiceNumber: string | null;
  ExternalReference: string | null;
  currency: string;
  stage: BillectaStage;
  total: Minor;
  paid: Minor;
  credited: Minor;
  writtenOff: Minor;
  current: Minor;
}

export interface BillectaEmulator {
  /** `http://127.0.0.1:PORT`: the base URL (requests.ts paths start at /v1/…). */
  readonly url: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly creditors: readonly BillectaCreditor[];
  /** The first creditor's public id. */
  readonly creditorPublicId: string;
  /** The faults in force; assigning replaces them (counters count down as they are used). */
  faults: BillectaFaults;
  debtors(): BillectaStoredDebtor[];
  products(): BillectaStoredProduct[];
  invoices(): BillectaStoredInvoice[];
  payments(): BillectaStoredPayment[];
  /** [emulator] The invoice with that ExternalReference (Billecta has no such lookup). */
  invoiceByExternalReference(reference: string): BillectaStoredInvoice | undefined;
  /** Per ActionPublicId: total, paid, credited, written off and current amount. */
  totals(): Record<string, BillectaInvoiceTotals>;
  /** Every webhook delivery so far, oldest first. */
  webhooks(): BillectaWebhookDelivery[];
  /** Post an event to `options.webhook` now (with its retries); resolves when it is delivered or given up. */
  sendWebhook(event: BillectaWebhookEvent): Promise<BillectaWebhookDelivery>;
  /** Resolves once every webhook delivery started so far is done. */
  webhooksSettled(): Promise<void>;
  /** Every API request so far, oldest first (control requests are not recorded). */
  readonly requests: readonly BillectaRequestRecord[];
  readonly stats: BillectaEmulatorStats;
  /** Forget all data, tokens, call ids, requests and stats (creditors, user and faults stay). */
  reset(): void;
  close(): Promise<void>;
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────

const bad = (message: string) => new Refusal(400, message);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATETIME = /^(\d{4}-\d{2}-\d{2})(?:[T ]([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,7})?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

/** A header value as ISO-8859-1 bytes can carry it: Node writes header strings byte per character. */
export function latin1Header(text: string): string {
  return text.replace(/[^\t\x20-\x7e\xa0-\xff]/g, '?');
}

/** Enum fields checked by name [docs: an unknown enum name is a 500]. */
const ENUMS: Readonly<Record<string, readonly string[]>> = {
  ActionType: ['InvoiceAction', 'CreditInvoiceAction'],
  DeliveryMethod: ['Email', 'Mail', 'Manually', 'SMS', 'EInvoice', 'Kivra', 'Avy'],
  CommunicationLanguage: ['SV', 'EN', 'FI'],
  DebtorType: ['Private', 'Company', 'Undefined'],
  ProductType: ['Service', 'Commodity', 'Package', 'VAT'],
  RecordType: ['Standard', 'Message', 'Package'],
  OvershootingAmountHandling: ['None', 'AsCurrencyDifference', 'AsOverPayments'],
};

function checkEnum(body: Json, field: string, where: string): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || !ENUMS[field]!.includes(value)) {
    throw new Refusal(500, `${where}: ${JSON.stringify(value)} is not a value of ${field} (${ENUMS[field]!.join(', ')})`);
  }
}

function str(body: Json, field: string, where: string, required = false): string | null {
  const value = body[field];
  if (value === undefined || value === null || value === '') {
    if (required) throw bad(`${where}: ${field} is required`);
    return null;
  }
  if (typeof value !== 'string') throw bad(`${where}: ${field} must be a string`);
  return value;
}

function num(body: Json, field: string, where: string, required = false): number | null {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw bad(`${where}: ${field} is required`);
    return null;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(`${where}: ${field} must be a number`);
  return value;
}

function dateTime(body: Json, field: string, where: string, required = true): string | null {
  const value = str(body, field, where, required);
  if (value === null) return null;
  const m = DATETIME.exec(value);
  if (!m || !isCalendarDate(m[1]!)) throw bad(`${where}: ${field} "${value}" is not a date`);
  return value;
}

/** An AmountView: integer Value in minor units, a known currency. */
function amountOf(value: unknown, field: string, where: string): { currency: string; value: Minor } {
  if (!isObject(value)) throw bad(`${where}: ${field} must be an AmountView {CurrencyCode, Value}`);
  const currency = value.CurrencyCode;
  if (typeof currency !== 'string' || !CURRENCIES.some((c) => c.CurrencyCode === currency)) throw bad(`${where}: ${field}.CurrencyCode ${JSON.stringify(currency)} is not a currency Billecta knows`);
  const v = value.Value;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(`${where}: ${field}.Value must be a whole number of minor units, not ${JSON.stringify(v)}`);
  return { currency, value: minor(v) };
}

function amountView(currency: string, value: Minor): Json {
  return { CurrencyCode: currency, Value: value, ValueForView: Number(formatDecimal(value, currencyExponent(currency))) };
}

/** Quantity × unit price, exactly, rounded half away from zero to minor units. */
function lineAmount(quantity: number, unitPrice: Minor, where: string): Minor {
  let scaled: Minor;
  try {
    scaled = parseDecimal(quantity, 6);
  } catch {
    throw bad(`${where}: Quantity ${quantity} has more than 6 decimals`);
  }
  return minor(divRound(BigInt(scaled) * BigInt(unitPrice), 1_000_000n, 'half-up'));
}

/** Luhn (mod 10) check digit, as Swedish OCR numbers carry. */
function luhn(digits: string): string {
  let total = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    total += d;
  }
  return String((10 - (total % 10)) % 10);
}

/** CurrencyView [schema]. */
export interface BillectaCurrencyView {
  CurrencyCode: string;
  Iso4217?: string;
  Description?: string;
  Decimals: number;
  OneUnit?: number;
}

/** Currencies as `/v1/currencies/currencies` lists them (CurrencyView) [schema; selection emulator]. */
const CURRENCIES: readonly { CurrencyCode: string; Iso4217: string; Description: string; Decimals: number; OneUnit: number }[] = [
  ['SEK', '752', 'Svenska kronor'],
  ['EUR', '978', 'Euro'],
  ['NOK', '578', 'Norska kronor'],
  ['DKK', '208', 'Danska kronor'],
  ['USD', '840', 'US-dollar'],
  ['GBP', '826', 'Brittiska pund'],
  ['CHF', '756', 'Schweiziska franc'],
  ['PLN', '985', 'Polska zloty'],
  ['JPY', '392', 'Japanska yen'],
  ['ISK', '352', 'Isländska kronor'],
]
  .filter(([code]) => isKnownCurrency(code!))
  .map(([code, iso, description]) => {
    const decimals = currencyExponent(code!);
    return { CurrencyCode: code!, Iso4217: iso!, Description: description!, Decimals: decimals, OneUnit: 10 ** decimals };
  });

/** The emulator's default answer to GET /v1/currencies/currencies. */
export const BILLECTA_CURRENCIES: readonly BillectaCurrencyView[] = CURRENCIES;

/** Faults checked and copied: counts and milliseconds non-negative integers, the error rate a share 0…1. */
export const checkBillectaFaults: (value: unknown) => BillectaFaults = checkEmulatorFaults;

interface Answer {
  status: number;
  /** The JSON answered; undefined: no body. */
  payload?: unknown;
  /** The state changed (a committed write): the UniqueApiCallId is used, drop- and fail-after-commit apply. */
  committed?: boolean;
  /** Events to send once the answer is out. */
  events?: BillectaWebhookEvent[];
}

const BODY_LIMIT = 10 * 1024 * 1024;
const DAY_MS = 24 * 60 * 60 * 1000;

interface Token {
  value: string;
  expires: number;
}

// ── the emulator ─────────────────────────────────────────────────────────────────────────

class Emulator implements BillectaEmulator {
  url = '';
  port = 0;
  readonly user: string;
  readonly password: string;
  readonly creditors: readonly BillectaCreditor[];
  readonly requests: BillectaRequestRecord[] = [];
  stats: BillectaEmulatorStats = Emulator.freshStats();
  private currentFaults: BillectaFaults;
  private readonly throttling: BillectaThrottling | null;
  private debtorMap = new Map<string, BillectaStoredDebtor>();
  private productMap = new Map<string, BillectaStoredProduct>();
  private invoiceMap = new Map<string, BillectaStoredInvoice>();
  private paymentList: BillectaStoredPayment[] = [];
  private deliveries: BillectaWebhookDelivery[] = [];
  private pending = new Set<Promise<unknown>>();
  private usedCallIds = new Set<string>();
  private token: Token | null = null;
  private failures: number[] = [];
  private endpointCalls = new Map<BillectaEndpointLimit, number[]>();
  private inFlight = 0;
  private nextAction = 0;
  private nextInvoiceNumber = 0;
  private readonly server: Server;
  private readonly tokenTtlMs: number;
  private readonly meanCodes: Set<string> | null;
  private readonly currencyList: readonly BillectaCurrencyView[];
  private readonly notFound: '404' | 'empty';
  private readonly webhook: Required<BillectaWebhookOptions> | null;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly wait: (ms: number) => Promise<void>;
  private readonly latencyFrom: LatencyFrom;
  private readonly log: ((line: string) => void) | undefined;

  constructor(options: BillectaEmulatorOptions) {
    this.user = options.user ?? 'sandbox';
    if (this.user === '' || this.user.includes(':')) throw new RangeError(`"${this.user}" is not a user name (non-empty, no colon)`);
    this.password = options.password ?? `billecta-sandbox-${randomBytes(12).toString('hex')}`;
    if (this.password === '') throw new RangeError('the password is empty');
    const setups = options.creditors && options.creditors.length > 0 ? options.creditors : [{}];
    this.creditors = setups.map((c, i) => {
      const id = c.CreditorPublicId ?? randomUUID();
      if (!GUID.test(id)) throw new RangeError(`creditor public id "${id}" is not a GUID`);
      return { CreditorPublicId: id.toLowerCase(), Name: c.Name ?? (i === 0 ? 'Sandbox AB' : `Sandbox ${i + 1} AB`), OrgNo: c.OrgNo ?? `55${String(6000000 + i).padStart(8, '0')}` };
    });
    if (new Set(this.creditors.map((c) => c.CreditorPublicId)).size !== this.creditors.length) throw new RangeError('a creditor is named twice');
    this.tokenTtlMs = options.tokenTtlMs ?? DAY_MS;
    if (!(this.tokenTtlMs > 0)) throw new RangeError('tokenTtlMs must be positive');
    this.meanCodes = options.paymentMeanCodes ? new Set(options.paymentMeanCodes) : null;
    this.currencyList = options.currencies ? structuredClone(options.currencies) : CURRENCIES;
    this.notFound = options.notFound ?? '404';
    this.throttling =
      options.throttling === false
        ? null
        : {
            failingCalls: options.throttling?.failingCalls ?? 50,
            windowMs: options.throttling?.windowMs ?? 60_000,
            endpoints: options.throttling?.endpoints ?? [...BILLECTA_ENDPOINT_LIMITS],
          };
    if (options.webhook) {
      const w = options.webhook;
      let url: URL;
      try {
        url = new URL(w.url);
      } catch {
        throw new RangeError(`webhook URL "${w.url}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`webhook URL "${w.url}" is not http(s)`);
      const header = w.header ?? 'x-webhook-secret';
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) throw new RangeError(`"${header}" is not an HTTP header name`);
      if (w.secret === '') throw new RangeError('the webhook secret is empty');
      this.webhook = { url: w.url, secret: w.secret, header, eventKey: w.eventKey ?? 'EventType', retries: w.retries ?? 0, retryDelayMs: w.retryDelayMs ?? 1000 };
    } else {
      this.webhook = null;
    }
    this.currentFaults = checkBillectaFaults(options.faults ?? {});
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.wait = latencyWait(options.latencyTimer);
    this.latencyFrom = options.latencyFrom ?? 'handling';
    this.log = options.log;
    this.nextAction = 7_500_000_000 + Math.floor(this.random() * 1_000_000) * 100;
    this.nextInvoiceNumber = 1001;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', errormessage: latin1Header(`emulator failure: ${(error as Error).message}`) });
          res.end(Buffer.from(JSON.stringify({ Message: `emulator failure: ${(error as Error).message}` }), 'utf8'));
        }
      });
    });
  }

  static freshStats(): BillectaEmulatorStats {
    return {
      requests: 0,
      byStatus: {},
      writes: 0,
      committed: 0,
      failingCalls: 0,
      failingInWindow: 0,
      maxFailingInWindow: 0,
      throttled: 0,
      duplicates: 0,
      tokensIssued: 0,
      maxConcurrent: 0,
      webhooks: { sent: 0, delivered: 0, failed: 0 },
      faults: freshFaultStats(),
    };
  }

  get creditorPublicId(): string {
    return this.creditors[0]!.CreditorPublicId;
  }

  async listen(port: number, host: string): Promise<void> {
    ({ port: this.port, url: this.url } = await listenOn(this.server, port, host));
  }

  async close(): Promise<void> {
    await closeServer(this.server);
    await this.webhooksSettled();
  }

  get faults(): BillectaFaults {
    return { ...this.currentFaults };
  }

  set faults(value: BillectaFaults) {
    this.currentFaults = checkBillectaFaults(value);
  }

  debtors(): BillectaStoredDebtor[] {
    return [...this.debtorMap.values()].map((d) => structuredClone(d));
  }

  products(): BillectaStoredProduct[] {
    return [...this.productMap.values()].map((p) => structuredClone(p));
  }

  invoices(): BillectaStoredInvoice[] {
    return [...this.invoiceMap.values()].map((i) => structuredClone(i));
  }

  payments(): BillectaStoredPayment[] {
    return this.paymentList.map((p) => ({ ...p }));
  }

  invoiceByExternalReference(reference: string): BillectaStoredInvoice | undefined {
    const found = [...this.invoiceMap.values()].find((i) => i.entry.ExternalReference === reference);
    return found ? structuredClone(found) : undefined;
  }

  totals(): Record<string, BillectaInvoiceTotals> {
    return Object.fromEntries(
      [...this.invoiceMap.values()].map((i) => [
        i.ActionPublicId,
        {
          ActionType: i.ActionType,
          InvoiceNumber: i.InvoiceNumber,
          ExternalReference: typeof i.entry.ExternalReference === 'string' ? i.entry.ExternalReference : null,
          currency: i.currency,
          stage: i.Stage,
          total: i.total,
          paid: i.paid,
          credited: i.credited,
          writtenOff: i.writtenOff,
          current: i.current,
        },
      ]),
    );
  }

  webhooks(): BillectaWebhookDelivery[] {
    return this.deliveries.map((d) => ({ ...d }));
  }

  reset(): void {
    this.debtorMap = new Map();
    this.productMap = new Map();
    this.invoiceMap = new Map();
    this.paymentList = [];
    this.deliveries = [];
    this.usedCallIds = new Set();
    this.token = null;
    this.failures = [];
    this.endpointCalls = new Map();
    this.requests.length = 0;
    this.stats = Emulator.freshStats();
  }

  // ── webhooks ──

  sendWebhook(event: BillectaWebhookEvent): Promise<BillectaWebhookDelivery> {
    const webhook = this.webhook;
    if (!webhook) return Promise.reject(new Error('the emulator has no webhook configured (options.webhook)'));
    const body = JSON.stringify({ [webhook.eventKey]: event.type, Data: event.data, AdditionalData: event.additionalData ?? null });
    const delivery: BillectaWebhookDelivery = { type: event.type, body, attempts: 0, status: null, error: null, delivered: false };
    this.deliveries.push(delivery);
    this.stats.webhooks.sent++;
    const run = async (): Promise<BillectaWebhookDelivery> => {
      for (let attempt = 0; attempt <= webhook.retries; attempt++) {
        if (attempt > 0) await sleep(webhook.retryDelayMs);
        delivery.attempts++;
        try {
          const reply = await fetch(webhook.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json; charset=utf-8', [webhook.header]: webhook.secret },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          await reply.arrayBuffer().catch(() => undefined);
          delivery.status = reply.status;
          delivery.error = reply.ok ? null : `HTTP ${reply.status}`;
          if (reply.ok) {
            delivery.delivered = true;
            break;
          }
        } catch (error) {
          delivery.status = null;
          delivery.error = (error as Error).message;
        }
      }
      if (delivery.delivered) this.stats.webhooks.delivered++;
      else this.stats.webhooks.failed++;
      this.log?.(`webhook ${event.type} → ${webhook.url} ${delivery.delivered ? 'delivered' : `failed (${delivery.error})`} after ${delivery.attempts} attempt(s)`);
      return { ...delivery };
    };
    const promise = run();
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  async webhooksSettled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  // ── auth ──

  private authOf(header: string | undefined): { kind: BillectaRequestRecord['auth']; ok: boolean; basic: boolean } {
    if (!header) return { kind: 'none', ok: false, basic: false };
    const m = /^(Basic|SecureToken)\s+(\S+)\s*$/i.exec(header);
    if (!m) return { kind: 'invalid', ok: false, basic: false };
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    if (m[1]!.toLowerCase() === 'basic') {
      const ok = decoded === `${this.user}:${this.password}`;
      return { kind: 'basic', ok, basic: ok };
    }
    const ok = this.token !== null && decoded === this.token.value && this.now() < this.token.expires;
    return { kind: 'token', ok, basic: false };
  }

  private creditor(id: unknown, where: string): BillectaCreditor {
    const creditor = typeof id === 'string' ? this.creditors.find((c) => c.CreditorPublicId === id.toLowerCase()) : undefined;
    // [docs] A creditor the user cannot reach is "unauthorized", whether it exists or not.
    if (!creditor) throw new Refusal(401, `${where}: access denied to creditor ${JSON.stringify(id ?? null)}`);
    return creditor;
  }

  // ── debtors and products ──

  private byExternalId<T extends Json>(map: Map<string, T>, creditor: string, externalField: string, externalId: string | null, what: string, publicField: string): { status: number; payload?: unknown } {
    if (externalId === null || externalId === '') throw bad(`${what}: the query parameter externalid is required`);
    const found = [...map.values()].filter((v) => v.CreditorPublicId === creditor && v[externalField] === externalId);
    // [code] "returns 400 when several debtors share the same DebtorExternalId".
    if (found.length > 1) throw bad(`Det finns flera ${what} med ${externalField} "${externalId}" (${found.length} share it)`);
    if (found.length === 0) {
      if (this.notFound === 'empty') return { status: 200, payload: { [publicField]: null, CreditorPublicId: creditor, [externalField]: null } };
      throw new Refusal(404, `no ${what} with ${externalField} "${externalId}"`);
    }
    return { status: 200, payload: found[0] };
  }

  private saveDebtor(body: Json, update: boolean): Answer {
    const where = update ? 'PUT /v1/debtors/debtor' : 'POST /v1/debtors/debtor';
    const creditor = this.creditor(body.CreditorPublicId, where);
    checkEnum(body, 'DebtorType', where);
    for (const f of ['DebtorExternalId', 'Name', 'Address', 'Address2', 'ZipCode', 'City', 'CountryCode', 'Email', 'Phone', 'OrgNo', 'VatNumber']) str(body, f, where);
    let id: string;
    let created: string;
    if (update) {
      id = str(body, 'DebtorPublicId', where, true)!.toLowerCase();
      const before = this.debtorMap.get(id);
      if (!before || before.CreditorPublicId !== creditor.CreditorPublicId) throw bad(`${where}: there is no debtor ${id}`);
      created = before.Created;
    } else {
      id = randomUUID();
      created = new Date(this.now()).toISOString();
    }
    const debtor: BillectaStoredDebtor = { ...body, DebtorPublicId: id, CreditorPublicId: creditor.CreditorPublicId, DebtorExternalId: str(body, 'DebtorExternalId', where), Created: created };
    this.debtorMap.set(id, debtor);
    return { status: 200, payload: { PublicId: id }, committed: true };
  }

  private saveProduct(body: Json, update: boolean): Answer {
    const where = update ? 'PUT /v1/products/product' : 'POST /v1/products/product';
    const creditor = this.creditor(body.CreditorPublicId, where);
    checkEnum(body, 'ProductType', where);
    for (const f of ['ProductExternalId', 'ArticleNumber', 'Description', 'Units']) str(body, f, where);
    // [schema] UnitPrice is a double in major units; VAT a percentage.
    const unitPrice = num(body, 'UnitPrice', where) ?? 0;
    const vat = num(body, 'VAT', where) ?? 0;
    if (vat < 0 || vat > 100) throw bad(`${where}: VAT ${vat} is not a percentage`);
    for (const f of ['BookKeepingAccount', 'BookKeepingVATAccount', 'BookKeepingSalesEUAccount', 'BookKeepingSalesEUVATAccount', 'BookKeepingSalesNonEUAccount']) {
      const a = num(body, f, where);
      if (a !== null && (!Number.isSafeInteger(a) || a < 0 || a > 2_147_483_647)) throw bad(`${where}: ${f} must be an account number (int32)`);
    }
    let id: string;
    if (update) {
      id = str(body, 'ProductPublicId', where, true)!.toLowerCase();
      const before = this.productMap.get(id);
      if (!before || before.CreditorPublicId !== creditor.CreditorPublicId) throw bad(`${where}: there is no product ${id}`);
    } else {
      id = randomUUID();
    }
    const product: BillectaStoredProduct = { ...body, ProductPublicId: id, CreditorPublicId: creditor.CreditorPublicId, ProductExternalId: str(body, 'ProductExternalId', where), UnitPrice: unitPrice, VAT: vat };
    this.productMap.set(id, product);
    return { status: 200, payload: { PublicId: id }, committed: true };
  }

  // ── invoices ──

  private actionId(): string {
    this.nextAction += 1 + Math.floor(this.random() * 97);
    return String(this.nextAction);
  }

  private book(invoice: BillectaStoredInvoice): void {
    const number = String(this.nextInvoiceNumber++);
    invoice.InvoiceNumber = typeof invoice.entry.InvoiceNumber === 'string' && invoice.entry.InvoiceNumber !== '' ? invoice.entry.InvoiceNumber : number;
    const digits = invoice.InvoiceNumber.replace(/\D/g, '') || number;
    invoice.OCR = `${digits}${luhn(digits)}`;
  }

  /** Records checked and totalled; one currency per invoice [inferred]. */
  private records(creditor: string, entry: Json, where: string): { records: BillectaStoredRecord[]; currency: string } {
    const rows = entry.Records;
    if (!Array.isArray(rows) || rows.length === 0) throw bad(`${where}: Records must list at least one record`);
    let currency: string | null = null;
    const entryIncluded = entry.VatIsIncluded === true;
    const records = rows.map((row: unknown, i): BillectaStoredRecord => {
      const at = `${where}: Records[${i}]`;
      if (!isObject(row)) throw bad(`${at} must be an object`);
      checkEnum(row, 'RecordType', at);
      if (row.RecordType === 'Message') return { body: row, amount: minor(0), net: minor(0), vat: minor(0), gross: minor(0) };
      const productId = str(row, 'ProductPublicId', at);
      if (productId !== null) {
        const product = this.productMap.get(productId.toLowerCase());
        if (!product || product.CreditorPublicId !== creditor) throw bad(`${at}: there is no product ${productId}`);
      }
      if (row.TotalIncVAT !== undefined || row.TotalExclVAT !== undefined) throw bad(`${at}: TotalIncVAT and TotalExclVAT are computed by Billecta, not sent`);
      const price = amountOf(row.UnitPrice, 'UnitPrice', at);
      if (currency !== null && price.currency !== currency) throw bad(`${at}: UnitPrice is in ${price.currency}, other records in ${currency}`);
      currency = price.currency;
      const quantity = num(row, 'Quantity', at) ?? 1;
      const percent = num(row, 'VAT', at) ?? 0;
      let rate;
      try {
        rate = vatRate(percent);
      } catch {
        throw bad(`${at}: VAT ${percent} is not a percentage`);
      }
      const included = typeof row.VatIsIncluded === 'boolean' ? row.VatIsIncluded : entryIncluded;
      const amount = lineAmount(quantity, price.value, at);
      // [inferred] VAT per record, half away from zero (requests.ts vatDifference assumes the same).
      const vat = included ? vatFromGross(amount, rate) : vatFromNet(amount, rate);
      const net = included ? minor(amount - vat) : amount;
      return { body: row, amount, net, vat, gross: minor(net + vat) };
    });
    if (currency === null) throw bad(`${where}: no record carries an amount`);
    return { records, currency };
  }

  private createInvoice(body: Json, verification: boolean): Answer {
    const where = verification ? 'POST /v1/invoice/verificationinvoice' : 'POST /v1/invoice/action';
    const creditor = this.creditor(body.CreditorPublicId, where).CreditorPublicId;
    for (const f of verification ? ['CommunicationLanguage'] : ['ActionType', 'DeliveryMethod', 'CommunicationLanguage']) checkEnum(body, f, where);
    if (verification && body.DeliveryMethod !== undefined) throw bad(`${where}: a verification invoice has no DeliveryMethod`);
    const debtorId = str(body, 'DebtorPublicId', where, true)!.toLowerCase();
    const debtor = this.debtorMap.get(debtorId);
    if (!debtor || debtor.CreditorPublicId !== creditor) throw bad(`${where}: there is no debtor ${debtorId}`);
    dateTime(body, 'InvoiceDate', where);
    dateTime(body, 'DueDate', where);
    dateTime(body, 'DeliveryDate', where, false);
    for (const f of ['OurReference', 'YourReference', 'Message', 'InvoiceNumber', 'ExternalReference']) str(body, f, where);
    const { records, currency } = this.records(creditor, body, where);
    const total = sum(records.map((r) => r.gross));
    const totalVat = sum(records.map((r) => r.vat));
    const actionType = verification ? 'VerificationInvoiceAction' : body.ActionType === 'CreditInvoiceAction' ? 'CreditInvoiceAction' : 'InvoiceAction';
    let credits: string | null = null;
    const crediting = str(body, 'CreditingInvoicePublicId', where);
    if (actionType === 'CreditInvoiceAction' || crediting !== null) {
      if (crediting === null) throw bad(`${where}: a credit invoice names the invoice it credits (CreditingInvoicePublicId)`);
      const original = this.invoiceMap.get(crediting);
      if (!original || original.CreditorPublicId !== creditor) throw bad(`${where}: there is no invoice ${crediting} to credit`);
      if (original.ActionType !== 'InvoiceAction') throw bad(`${where}: ${crediting} is a ${original.ActionType}, which cannot be credited`);
      if (original.Stage === 'Created') throw bad(`${where}: invoice ${crediting} is not attested; a draft is changed or deleted, not credited`);
      if (original.currency !== currency) throw bad(`${where}: the credit is in ${currency}, invoice ${crediting} in ${original.currency}`);
      if (total >= 0) throw bad(`${where}: a credit invoice's records must add up to a negative amount, not ${total}`);
      if (actionType !== 'CreditInvoiceAction') throw bad(`${where}: CreditingInvoicePublicId needs ActionType CreditInvoiceAction`);
      credits = crediting;
    } else if (total < 0 && !verification) {
      throw bad(`${where}: the records add up to a negative amount (${total}); credit with a credit invoice`);
    }
    // [inferred] A negative verification invoice (the refund of an order booked as a verification
    // invoice, which cannot be credited) is taken: booked and closed on creation like a positive
    // one, it credits the clearing account and reduces what was verified.
    const now = new Date(this.now()).toISOString();
    const debitAccount = verification && isObject(body.BookkeepingOverride) ? str(body.BookkeepingOverride, 'DebitAccount', `${where}: BookkeepingOverride`) : null;
    const invoice: BillectaStoredInvoice = {
      ActionPublicId: this.actionId(),
      ActionType: actionType,
      CreditorPublicId: creditor,
      DebtorPublicId: debtorId,
      InvoiceNumber: null,
      OCR: null,
      Stage: 'Created',
      Created: now,
      AttestedDate: null,
      ClosedDate: null,
      currency,
      entry: structuredClone(body),
      records,
      total,
      totalVat,
      paid: minor(0),
      credited: minor(0),
      writtenOff: minor(0),
      current: total,
      credits,
      debitAccount,
    };
    if (verification) {
      // [docs] "automatically closed after creation": booked, nothing open, nothing sent.
      this.book(invoice);
      invoice.Stage = 'Completed';
      invoice.AttestedDate = now;
      invoice.ClosedDate = now;
      invoice.paid = total;
      invoice.current = minor(0);
    }
    this.invoiceMap.set(invoice.ActionPublicId, invoice);
    return { status: 200, payload: { PublicId: invoice.ActionPublicId }, committed: true };
  }

  private invoiceOf(id: string, where: string, status = 404): BillectaStoredInvoice {
    const invoice = this.invoiceMap.get(id);
    if (!invoice) throw new Refusal(status, `${where}: there is no invoice ${id}`);
    return invoice;
  }

  private settle(invoice: BillectaStoredInvoice, events: BillectaWebhookEvent[]): void {
    invoice.current = minor(invoice.total - invoice.paid - invoice.credited - invoice.writtenOff);
    if (invoice.current === 0 && invoice.Stage !== 'Created' && invoice.Stage !== 'Completed') {
      invoice.Stage = 'Completed';
      invoice.ClosedDate = new Date(this.now()).toISOString();
      if (invoice.ActionType === 'InvoiceAction') events.push({ type: 'InvoiceActionPaid', data: this.invoiceView(invoice) });
    }
  }

  private attest(id: string): Answer {
    const where = `PUT /v1/invoice/attest/${id}`;
    const invoice = this.invoiceOf(id, where);
    if (invoice.Stage !== 'Created') throw bad(`${where}: the invoice is already attested`);
    this.book(invoice);
    invoice.AttestedDate = new Date(this.now()).toISOString();
    // [docs] attest books the invoice and sends it by its DeliveryMethod; Manually sends nothing.
    const method = invoice.entry.DeliveryMethod;
    invoice.Stage = method === undefined || method === null || method === 'Manually' ? 'Attested' : 'InvoiceSent';
    const events: BillectaWebhookEvent[] = [];
    if (invoice.credits !== null) {
      // [docs, KB] A credit invoice credits the original; what the original no longer owes
      // stays open on the credit invoice, to be paid out (a negative payment) [inferred].
      const original = this.invoiceMap.get(invoice.credits)!;
      const open = Math.max(0, original.current);
      const applied = minor(Math.min(open, -invoice.total));
      if (applied > 0) {
        original.credited = minor(original.credited + applied);
        invoice.credited = minor(invoice.credited - applied);
        this.settle(original, events);
        events.unshift({ type: 'AmountCreditedOnInvoice', data: this.incomingPayment(original, applied, randomUUID(), null, null) });
      }
      this.settle(invoice, events);
    }
    return { status: 200, committed: true, events };
  }

  private registerPayment(body: Json): Answer {
    const where = 'POST /v1/invoice/payment';
    const id = str(body, 'ActionPublicId', where, true)!;
    const invoice = this.invoiceOf(id, where, 400);
    this.creditor(invoice.CreditorPublicId, where);
    checkEnum(body, 'OvershootingAmountHandling', where);
    const date = dateTime(body, 'Date', where)!;
    const amount = amountOf(body.Amount, 'Amount', where);
    const writeOff = body.WriteOff === undefined || body.WriteOff === null ? null : amountOf(body.WriteOff, 'WriteOff', where);
    for (const a of [amount, writeOff]) if (a && a.currency !== invoice.currency) throw bad(`${where}: the payment is in ${a.currency}, invoice ${id} in ${invoice.currency}`);
    const meanCode = str(body, 'PaymentMeanCode', where);
    if (meanCode !== null && this.meanCodes && !this.meanCodes.has(meanCode)) throw bad(`${where}: there is no payment mean "${meanCode}" (configured: ${[...this.meanCodes].join(', ') || 'none'})`);
    if (amount.value !== 0 && meanCode === null && this.meanCodes) throw bad(`${where}: PaymentMeanCode is required`);
    if (invoice.Stage === 'Created') throw bad(`${where}: invoice ${id} is not attested`);
    if (invoice.ActionType === 'VerificationInvoiceAction') throw bad(`${where}: ${id} is a verification invoice, closed on creation`);
    const settles = minor(amount.value + (writeOff?.value ?? 0));
    if (settles === 0) throw bad(`${where}: neither an amount nor a write-off`);
    const open = invoice.current;
    const handling = typeof body.OvershootingAmountHandling === 'string' ? body.OvershootingAmountHandling : 'None';
    const over = open >= 0 ? settles > open || settles < 0 : settles < open || settles > 0;
    if (over && handling === 'None') {
      throw bad(`${where}: ${formatDecimal(settles, currencyExponent(invoice.currency))} ${invoice.currency} is more than the ${formatDecimal(open, currencyExponent(invoice.currency))} ${invoice.currency} open on invoice ${id} (Beloppet överstiger det öppna beloppet)`);
    }
    const payment: BillectaStoredPayment = {
      PaymentReferenceId: randomUUID(),
      ActionPublicId: id,
      currency: invoice.currency,
      amount: amount.value,
      writeOff: writeOff?.value ?? minor(0),
      PaymentMeanCode: meanCode,
      OverrideWriteOffAccount: str(body, 'OverrideWriteOffAccount', where),
      Date: date,
      Comment: str(body, 'Comment', where),
      PaymentReferenceText: str(body, 'PaymentReferenceText', where),
      writeOffReferenceId: writeOff && writeOff.value !== 0 ? randomUUID() : null,
    };
    this.paymentList.push(payment);
    invoice.paid = minor(invoice.paid + amount.value);
    invoice.writtenOff = minor(invoice.writtenOff + payment.writeOff);
    const events: BillectaWebhookEvent[] = [];
    if (amount.value !== 0) events.push({ type: 'InvoicePaymentReceived', data: this.incomingPayment(invoice, amount.value, payment.PaymentReferenceId, meanCode, date) });
    if (payment.writeOffReferenceId) events.push({ type: 'AmountWrittenOffOnInvoice', data: this.incomingPayment(invoice, payment.writeOff, payment.writeOffReferenceId, null, date) });
    this.settle(invoice, events);
    // [emulator] Billecta's answer to a registered payment is not documented: a CreatedView
    // with the PaymentReferenceId the webhooks carry.
    return { status: 200, payload: { PublicId: payment.PaymentReferenceId }, committed: true, events };
  }

  // ── views ──

  /** IncomingPaymentView, the data of InvoicePaymentReceived, AmountCreditedOnInvoice and AmountWrittenOffOnInvoice [docs]. */
  private incomingPayment(invoice: BillectaStoredInvoice, amount: Minor, referenceId: string, meanCode: string | null, date: string | null): Json {
    const debtor = this.debtorMap.get(invoice.DebtorPublicId);
    return {
      CreditorPublicId: invoice.CreditorPublicId,
      InvoiceNumber: invoice.InvoiceNumber,
      ActionPublicId: invoice.ActionPublicId,
      ActionType: invoice.ActionType,
      DebtorPublicId: invoice.DebtorPublicId,
      DebtorName: debtor?.Name ?? null,
      Amount: amountView(invoice.currency, amount),
      CreatedDate: new Date(this.now()).toISOString(),
      PaymentDate: date ?? new Date(this.now()).toISOString(),
      PaymentMeanCode: meanCode,
      File: null,
      PaymentReferenceId: referenceId,
      ExternalReference: invoice.entry.ExternalReference ?? null,
      OCR: invoice.OCR,
      CreatedBy: null,
      IsReminderPayment: false,
    };
  }

  /** InvoiceActionView [schema], the fields this emulator knows. */
  private invoiceView(i: BillectaStoredInvoice): Json {
    const e = i.entry;
    const original = i.credits ? this.invoiceMap.get(i.credits) : undefined;
    return {
      ActionPublicId: i.ActionPublicId,
      CreditorPublicId: i.CreditorPublicId,
      ActionType: i.ActionType,
      Created: i.Created,
      InvoiceNumber: i.InvoiceNumber,
      Message: e.Message ?? null,
      DeliveryMethod: e.DeliveryMethod ?? 'Manually',
      CommunicationLanguage: e.CommunicationLanguage ?? 'SV',
      InvoiceDate: e.InvoiceDate,
      DueDate: e.DueDate,
      DeliveryDate: e.DeliveryDate ?? null,
      Debtor: this.debtorMap.get(i.DebtorPublicId) ?? null,
      State: {
        Stage: i.Stage,
        AttestedDate: i.AttestedDate,
        ClosedDate: i.ClosedDate,
        InvoiceSentDate: i.Stage === 'InvoiceSent' || (i.Stage === 'Completed' && e.DeliveryMethod && e.DeliveryMethod !== 'Manually') ? i.AttestedDate : null,
        IsPaused: false,
        IsLocked: i.Stage !== 'Created',
      },
      Invoices: i.InvoiceNumber ? [{ InvoiceNumber: i.InvoiceNumber, OCR: i.OCR, InvoicedAmount: amountView(i.currency, i.total) }] : [],
      Records: i.records.map((r) => ({
        ...r.body,
        TotalExclVAT: amountView(i.currency, r.net),
        TotalIncVAT: amountView(i.currency, r.gross),
      })),
      OurReference: e.OurReference ?? null,
      YourReference: e.YourReference ?? null,
      InvoicedAmount: amountView(i.currency, i.total),
      CurrentAmount: amountView(i.currency, i.current),
      PaidAmount: amountView(i.currency, i.paid),
      CreditedAmount: amountView(i.currency, i.credited),
      WriteOffAmount: amountView(i.currency, i.writtenOff),
      TotalVATAmount: amountView(i.currency, i.totalVat),
      CentRoundingAmount: amountView(i.currency, minor(0)),
      CreditingInvoice: original ? { SourcePublicId: original.ActionPublicId, SourceInvoiceId: original.InvoiceNumber } : null,
      VatIsIncluded: e.VatIsIncluded === true,
      ExternalReference: e.ExternalReference ?? null,
      CanCreateCreditInvoice: i.ActionType === 'InvoiceAction' && i.Stage !== 'Created',
      CanRegisterPayment: i.Stage !== 'Created' && i.Stage !== 'Completed' && i.ActionType !== 'VerificationInvoiceAction',
    };
  }

  /** InvoiceActionSubView [schema]: the rows of open/closed lists. */
  private subView(i: BillectaStoredInvoice): Json {
    const debtor = this.debtorMap.get(i.DebtorPublicId);
    return {
      ActionPublicId: i.ActionPublicId,
      CreditorPublicId: i.CreditorPublicId,
      DebtorPublicId: i.DebtorPublicId,
      DebtorName: debtor?.Name ?? null,
      ActionType: i.ActionType,
      Stage: i.Stage,
      InvoiceNumber: i.InvoiceNumber,
      OCR: i.OCR,
      YourReference: i.entry.YourReference ?? null,
      InvoicedAmount: amountView(i.currency, i.total),
      CurrentAmount: amountView(i.currency, i.current),
      TotalVATAmount: amountView(i.currency, i.totalVat),
      Created: i.Created,
      AttestedDate: i.AttestedDate,
      ClosedDate: i.ClosedDate,
      InvoiceDate: i.entry.InvoiceDate,
      DueDate: i.entry.DueDate,
    };
  }

  // ── routing ──

  private route(method: string, segments: string[], query: URLSearchParams, raw: Buffer, record: BillectaRequestRecord, basic: boolean): Answer {
    const body = (): Json => {
      if (raw.length === 0) throw bad('the request has no body');
      let value: unknown;
      try {
        value = JSON.parse(raw.toString('utf8'));
      } catch {
        // [docs] "500 - … Verify that Json/XML is parsable".
        throw new Refusal(500, 'the body is not parsable JSON');
      }
      record.body = value;
      if (!isObject(value)) throw bad('the body must be a JSON object');
      return value;
    };
    const [v1, area, action, id, ...rest] = segments;
    const path = `/${segments.join('/')}`;
    if (v1 !== 'v1' || rest.length > 0) throw new Refusal(404, `there is no resource ${path}`);
    const key = `${method} ${area ?? ''}/${action ?? ''}${id === undefined ? '' : '/{id}'}`;
    switch (key) {
      case 'POST authentication/apiauthenticate': {
        // [docs] Basic issues a new SecureToken and revokes the old one; [emulator] a SecureToken answers itself.
        if (basic || this.token === null) {
          this.token = { value: randomBytes(24).toString('base64'), expires: this.now() + this.tokenTtlMs };
          this.stats.tokensIssued++;
        }
        return { status: 200, payload: { Value: this.token.value, Expires: new Date(this.token.expires).toISOString() } };
      }
      case 'GET creditors/creditors':
        return { status: 200, payload: this.creditors.map((c) => ({ ...c, IsEnabled: true, UseCentRounding: false, NextInvoiceNumber: String(this.nextInvoiceNumber) })) };
      case 'GET creditors/creditor/{id}': {
        const c = this.creditor(id, path);
        return { status: 200, payload: { ...c, IsEnabled: true, UseCentRounding: false, NextInvoiceNumber: String(this.nextInvoiceNumber) } };
      }
      case 'GET currencies/currencies':
        return { status: 200, payload: this.currencyList };
      case 'POST debtors/debtor':
        return this.saveDebtor(body(), false);
      case 'PUT debtors/debtor':
        return this.saveDebtor(body(), true);
      case 'GET debtors/debtor/{id}': {
        const d = this.debtorMap.get(id!.toLowerCase());
        if (!d) throw new Refusal(404, `there is no debtor ${id}`);
        this.creditor(d.CreditorPublicId, path);
        return { status: 200, payload: d };
      }
      case 'GET debtors/debtors/{id}': {
        const c = this.creditor(id, path).CreditorPublicId;
        return { status: 200, payload: [...this.debtorMap.values()].filter((d) => d.CreditorPublicId === c) };
      }
      case 'GET debtors/debtorbyexternalid/{id}':
        return this.byExternalId(this.debtorMap, this.creditor(id, path).CreditorPublicId, 'DebtorExternalId', query.get('externalid'), 'debtors', 'DebtorPublicId');
      case 'POST products/product':
        return this.saveProduct(body(), false);
      case 'PUT products/product':
        return this.saveProduct(body(), true);
      case 'GET products/product/{id}': {
        const p = this.productMap.get(id!.toLowerCase());
        if (!p) throw new Refusal(404, `there is no product ${id}`);
        this.creditor(p.CreditorPublicId, path);
        return { status: 200, payload: p };
      }
      case 'GET products/products/{id}': {
        const c = this.creditor(id, path).CreditorPublicId;
        return { status: 200, payload: [...this.productMap.values()].filter((p) => p.CreditorPublicId === c) };
      }
      case 'GET products/productbyexternalid/{id}':
        return this.byExternalId(this.productMap, this.creditor(id, path).CreditorPublicId, 'ProductExternalId', query.get('externalid'), 'products', 'ProductPublicId');
      case 'POST invoice/action':
        return this.createInvoice(body(), false);
      case 'POST invoice/verificationinvoice':
        return this.createInvoice(body(), true);
      case 'GET invoice/action/{id}': {
        const invoice = this.invoiceOf(id!, path);
        this.creditor(invoice.CreditorPublicId, path);
        return { status: 200, payload: this.invoiceView(invoice) };
      }
      case 'GET invoice/actionbyinvoicenumber/{id}': {
        const c = this.creditor(id, path).CreditorPublicId;
        const number = query.get('invoiceNumber') ?? query.get('invoicenumber');
        if (!number) throw bad(`${path}: the query parameter invoiceNumber is required`);
        const invoice = [...this.invoiceMap.values()].find((i) => i.CreditorPublicId === c && i.InvoiceNumber === number);
        if (!invoice) throw new Refusal(404, `there is no invoice numbered ${number}`);
        return { status: 200, payload: this.invoiceView(invoice) };
      }
      case 'GET invoice/open/{id}':
      case 'GET invoice/closed/{id}': {
        const c = this.creditor(id, path).CreditorPublicId;
        const closed = action === 'closed';
        const from = query.get('from');
        const to = query.get('to');
        const rows = [...this.invoiceMap.values()].filter((i) => {
          if (i.CreditorPublicId !== c || (i.Stage === 'Completed') !== closed) return false;
          const day = i.ClosedDate?.slice(0, 10);
          return !closed || ((!from || (day !== undefined && day >= from)) && (!to || (day !== undefined && day <= to)));
        });
        return { status: 200, payload: rows.map((i) => this.subView(i)) };
      }
      case 'PUT invoice/attest/{id}':
        return this.attest(id!);
      case 'POST invoice/payment':
        return this.registerPayment(body());
      default:
        throw new Refusal(404, `there is no resource ${method} ${path} in this emulator`);
    }
  }

  // ── throttling ──

  private window(times: number[], windowMs: number, now: number): number[] {
    while (times.length > 0 && times[0]! <= now - windowMs) times.shift();
    return times;
  }

  /** 429 when the failing calls or an endpoint limit are used up; else counts the call against its endpoint. */
  private throttle(method: string, path: string): void {
    const rules = this.throttling;
    if (!rules) return;
    const now = this.now();
    const failures = this.window(this.failures, rules.windowMs, now);
    if (failures.length >= rules.failingCalls) {
      this.stats.throttled++;
      const wait = Math.max(1, Math.ceil((failures[0]! + rules.windowMs - now) / 1000));
      throw new Refusal(429, `Too many failing calls: ${failures.length} within ${rules.windowMs / 1000} s (at most ${rules.failingCalls}); try again in ${wait} s`, { 'retry-after': String(wait) });
    }
    for (const endpoint of rules.endpoints) {
      if (endpoint.method !== method || !endpoint.path.test(path)) continue;
      const calls = this.endpointCalls.get(endpoint) ?? [];
      this.endpointCalls.set(endpoint, calls);
      const longest = Math.max(...endpoint.limits.map((l) => l.windowMs));
      this.window(calls, longest, now);
      for (const limit of endpoint.limits) {
        const inWindow = calls.filter((t) => t > now - limit.windowMs);
        if (inWindow.length >= limit.count) {
          this.stats.throttled++;
          const wait = Math.max(1, Math.ceil((inWindow[0]! + limit.windowMs - now) / 1000));
          throw new Refusal(429, `Too many calls to ${method} ${path}: at most ${limit.count} per ${limit.windowMs / 1000} s`, { 'retry-after': String(wait) });
        }
      }
      calls.push(now);
    }
  }

  private countFailure(status: number | 'dropped'): void {
    if (typeof status !== 'number' || status < 400 || status === 404 || status === 429) return;
    this.stats.failingCalls++;
    this.failures.push(this.now());
    const inWindow = this.throttling ? this.window(this.failures, this.throttling.windowMs, this.now()).length : this.failures.length;
    this.stats.failingInWindow = inWindow;
    this.stats.maxFailingInWindow = Math.max(this.stats.maxFailingInWindow, inWindow);
  }

  // ── the wire ──

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const arrival = arrivalOf(this.latencyFrom, this.currentFaults);
    const url = new URL(req.url ?? '/', 'http://emulator');
    const { data: raw, tooLarge } = await readBody(req, BODY_LIMIT);
    if (url.pathname.startsWith('/_control/')) return this.control(req, res, url, raw);

    const method = (req.method ?? 'GET').toUpperCase();
    const auth = this.authOf(req.headers.authorization);
    const callIdHeader = req.headers.uniqueapicallid;
    const callId = Array.isArray(callIdHeader) ? callIdHeader.join(',') : (callIdHeader ?? null);
    const record: BillectaRequestRecord = {
      at: new Date(started).toISOString(),
      method,
      url: `${url.pathname}${url.search}`,
      auth: auth.kind,
      uniqueApiCallId: callId,
      body: null,
      status: 0,
      fault: null,
      error: null,
      durationMs: 0,
    };
    this.requests.push(record);
    this.stats.requests++;
    if (method !== 'GET') this.stats.writes++;
    this.inFlight++;
    this.stats.maxConcurrent = Math.max(this.stats.maxConcurrent, this.inFlight);
    let finished = false;
    const finish = (status: number | 'dropped') => {
      if (finished) return;
      finished = true;
      this.inFlight--;
      record.status = status;
      record.durationMs = Date.now() - started;
      this.stats.byStatus[String(status)] = (this.stats.byStatus[String(status)] ?? 0) + 1;
      this.countFailure(status);
      this.log?.(`${method} ${record.url} ${status}${record.fault ? ` (${record.fault})` : ''}${record.error ? `: ${record.error}` : ''} ${record.durationMs} ms`);
    };
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      finish(status);
      if (res.destroyed) return;
      // A Buffer, not a string: Node writes a string body's first chunk together with the
      // headers in the body's encoding (UTF-8), and ErrorMessage must go out as ISO-8859-1.
      const body = payload === undefined ? null : Buffer.from(JSON.stringify(payload), 'utf8');
      const h: Record<string, string> = { ...headers };
      if (body !== null) {
        h['content-type'] = 'application/json; charset=utf-8';
        h['content-length'] = String(body.length);
      }
      res.writeHead(status, h);
      res.end(body ?? undefined);
    };

    const faultTarget = { current: () => this.currentFaults, record, stats: () => this.stats.faults, random: () => this.random(), wait: this.wait, arrival };
    try {
      const faults = await requestFaults(faultTarget, () => this.throttle(method, url.pathname));
      if (tooLarge) throw new Refusal(413, 'the request body is too large');
      if (!auth.ok) {
        throw new Refusal(401, auth.kind === 'none' ? 'Authorization required: Basic or SecureToken' : auth.kind === 'token' && this.token !== null && this.now() >= this.token.expires ? 'the SecureToken has expired' : 'Access denied: the credentials are not valid');
      }
      if (callId !== null) {
        // [docs] 1–50 characters; a duplicate or invalid value is not processed: 403.
        if (callId.length < 1 || callId.length > 50) throw new Refusal(403, `UniqueApiCallId "${callId.slice(0, 60)}" is not valid: 1 to 50 characters`);
        if (this.usedCallIds.has(callId)) {
          this.stats.duplicates++;
          throw new Refusal(403, `The call with UniqueApiCallId ${callId} has already been made; it was not processed again (anropet är redan utfört)`);
        }
      }
      const segments = url.pathname.split('/').filter((s) => s !== '').map(decodePathSegment);
      const result = this.route(method, segments, url.searchParams, raw, record, auth.basic);
      await answerTime(faultTarget);
      if (result.committed) {
        this.stats.committed++;
        if (callId !== null) this.usedCallIds.add(callId);
        for (const event of result.events ?? []) if (this.webhook) void this.sendWebhook(event).catch(() => undefined);
        if (commitFaults(faults, faultTarget, req, finish)) return;
      }
      answer(result.status, result.payload);
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal(500, `emulator failure: ${(error as Error).message}`);
      record.error = refusal.message;
      await answerTime(faultTarget);
      // [docs] The text in the ErrorMessage header (ISO-8859-1) and in the body (UTF-8).
      answer(refusal.status, { Message: refusal.message }, { ...refusal.headers, ErrorMessage: latin1Header(refusal.message) });
    } finally {
      if (!finished) finish(res.destroyed ? 'dropped' : 500);
    }
  }

  /** `/_control/…`: faults, state and the emulator-only lookup, for other processes (no auth: the sandbox listens on loopback). */
  private control(req: IncomingMessage, res: ServerResponse, url: URL, raw: Buffer): void {
    const reply = controlReplier(res, 'application/json; charset=utf-8');
    const path = url.pathname;
    try {
      const faults = faultsControl(req, path, raw, this);
      if (faults) return reply(faults.status, faults.value);
      if (path === '/_control/state' && req.method === 'GET') {
        return reply(200, { creditors: this.creditors, totals: this.totals(), debtors: this.debtorMap.size, products: this.productMap.size, payments: this.paymentList.length, webhooks: this.webhooks(), faults: this.faults, stats: this.stats });
      }
      if (path === '/_control/invoices' && req.method === 'GET') {
        // [emulator] Billecta has no lookup by ExternalReference; this one is the emulator's own.
        const reference = url.searchParams.get('externalReference');
        const rows = [...this.invoiceMap.values()].filter((i) => reference === null || i.entry.ExternalReference === reference);
        return reply(200, rows.map((i) => this.invoiceView(i)));
      }
      if (path === '/_control/webhook' && req.method === 'POST') {
        const value = JSON.parse(raw.toString('utf8')) as unknown;
        if (!isObject(value) || typeof value.type !== 'string') return reply(400, { error: 'expected {"type": "…", "data": …}' });
        if (!this.webhook) return reply(409, { error: 'no webhook configured' });
        void this.sendWebhook({ type: value.type, data: value.data ?? null, additionalData: value.additionalData ?? null }).catch(() => undefined);
        return reply(202, { queued: value.type });
      }
      if (path === '/_control/reset' && req.method === 'POST') {
        this.reset();
        return reply(204, undefined);
      }
      return reply(404, { error: `no control resource ${req.method} ${path} (GET/POST /_control/faults, GET /_control/state, GET /_control/invoices?externalReference=, POST /_control/webhook, POST /_control/reset)` });
    } catch (error) {
      return reply(400, { error: (error as Error).message });
    }
  }
}

/**
 * Start a Billecta emulator on loopback. Resolves once it listens; `url` is then the base URL
 * the paths of requests.ts (`/v1/…`) are appended to.
 */
export async function startBillecta(options: BillectaEmulatorOptions = {}): Promise<BillectaEmulator> {
  const emulator = new Emulator(options);
  await emulator.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return emulator;
}
