/**
 * A local Run my Accounts (RMA) for tests, benchmarks and integrators: the subset of RMA's REST
 * API that kontor uses, on node:http, with RMA's rules and a double-entry ledger behind it, and
 * fault injection (latency, 500s, 429 bursts, connections dropped after the commit).
 *
 * Wire formats follow shared/reference/runmyaccounts.md; tags say where a rule comes from as
 * in requests.ts: [docs] RMA's documentation, [client] an open-source client, [data] RMA's
 * SQL-Ledger charts, [inferred] not seen directly, and [emulator] a choice of this emulator
 * where RMA's behaviour is unknown (each is listed in docs/cli.md, `kontor sandbox`).
 *
 * - Paths `/api/{version}/clients/{mandant}/…`; any version segment is accepted.
 * - Auth: `Authorization: Bearer KEY` or `?api_key=KEY` [docs + client]; anything else 403.
 * - Bodies: JSON (the bare entity object; scalars as strings, numbers or booleans) or XML with
 *   the documented roots `<invoice>`, `<customer>`, `<payment>` [docs]; `belege` multipart.
 * - Responses per `Accept`: JSON when it names JSON, XML otherwise (RMA's default) [docs +
 *   client]. Every scalar is a string; lists are `{"invoice": …}` with a single element as an
 *   object, not an array [docs + client], and an empty list as `{}` [emulator] (option `lists`).
 * - Errors: 400/403/404 with `{ "error": "…" }` (spaced as RMA writes it, which clients look
 *   for [client]); XML clients get `<error><message>…</message></error>` [emulator].
 * - Money is integer minor units throughout (books/money); nothing goes through floating point.
 * - Rate limit [emulator; RMA documents none]: with `rateLimit` every API request is counted in
 *   a sliding window and one that finds it full is answered 429 with `Retry-After`, recorded
 *   as `rate-limit` and counted in `stats.rate.refused`, apart from the `throttle` fault's 429s;
 *   without it the rate is only measured (`stats.rate.maxInWindow`).
 *
 * The ledger posts what SQL-Ledger posts for an AR transaction: the invoice debits its
 * receivables account (`ar_accno`) with the amount and credits the income and VAT accounts;
 * a payment debits `payment_accno` and credits the receivables account. `ledger()` answers
 * debit-positive balances (their sum is always zero); `gl/v2/saldo` answers each account in
 * its natural orientation: assets and expenses debit-positive, liabilities and income
 * credit-positive [emulator; RMA's examples show both a cash and a liability account positive].
 */
import { randomBytes, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { currencyExponent, divRound, formatDecimal, isCalendarDate, isKnownCurrency, minor, parseDecimal, sum, type Minor } from '../../books/index.js';
import { rmaDateTime } from './requests.js';
import {
  checkEmulatorFaults,
  checkRateLimit,
  closeServer,
  commitFaults,
  controlReplier,
  decodePathSegment,
  faultsControl,
  freshFaultStats,
  listenOn,
  RateMeter,
  rateLimitRefusal,
  readBody,
  Refusal,
  requestFaults,
  latencyWait,
  answerTime,
  arrivalOf,
  type LatencyFrom,
  type LatencyTimer,
  type EmulatorFaultKind,
  type EmulatorFaults,
  type EmulatorFaultStats,
  type RateLimit,
  type RateStats,
} from '../emulator-kit.js';

// ── the chart ────────────────────────────────────────────────────────────────────────────

/** An account of the chart, as `GET /charts` shows it (plus its category, which it does not). */
export interface RmaChartAccount {
  accno: string;
  description: string;
  /** A asset, L liability, Q equity, I income, E expense: decides the saldo's orientation. */
  category: 'A' | 'L' | 'Q' | 'I' | 'E';
  /** Colon-separated SQL-Ledger links: `AR`, `AR_amount`, `AR_tax`, `AR_paid`, … */
  link: string;
  allow_gl?: boolean;
  /** Default true. An inactive account refuses every posting. */
  is_active?: boolean;
  /** VAT accounts: their rates, as decimal fractions ("0.081"), each valid up to `validto` (inclusive; none: open-ended). */
  taxes?: { rate: string; validto?: string }[];
}

/**
 * RMA's Swiss base chart of 2022 (accounts only), from ledger123/runmyaccounts
 * sql/RMACH_DEU_Basiskontenplan-chart.sql via shared/fixtures/runmyaccounts/base-chart-2022.json
 * [data]: accno, description, category, link, allow_gl.
 */
const BASE_CHART_2022: readonly (readonly [string, string, 'A' | 'L' | 'I' | 'E', string, boolean])[] = [
  ["1000", "Kasse", "A", "AR_paid:AP_paid", true],
  ["1020", "Bank", "A", "AR_paid:AP_paid", true],
  ["1060", "Wertschriften mit Börsenkurs", "A", "AP_amount", true],
  ["1090", "Transferkonto", "A", "AR_paid:AP_paid", true],
  ["1099", "Unklare Beträge", "A", "AP_amount", true],
  ["1100", "Forderungen Schweiz", "A", "AR", false],
  ["1101", "Forderungen Ausland", "A", "AR", false],
  ["1102", "Forderungen Ausland Fremdwährungen", "A", "AR", false],
  ["1103", "Forderungen aus Lieferungen und Leistungen FiBu", "A", "", true],
  ["1109", "Wertberichtigungen Forderungen aus Lieferungen und Leistungen gegenüber Dritten", "A", "", true],
  ["1110", "Forderungen aus Lieferungen und Leistungen gegenüber Beteiligungen", "A", "", true],
  ["1177", "Forderungen gegenüber Oberzolldirektion", "A", "", true],
  ["1179", "Verrechnungssteuer", "A", "", true],
  ["1192", "Geleistete Anzahlungen", "A", "AP_paid", true],
  ["1280", "Nicht fakturierte Dienstleistungen", "A", "IC", true],
  ["1300", "Im Voraus bezahlter Aufwand", "A", "", true],
  ["1301", "Noch nicht erhaltener Ertrag", "A", "", true],
  ["1302", "Arbeitgeberbeitragsreserve", "A", "", true],
  ["1310", "Aktive Rechnungsabgrenzung", "A", "", true],
  ["1400", "Wertschriften des Anlagevermögens", "A", "", true],
  ["1440", "Darlehensforderungen gegenüber Dritten", "A", "", true],
  ["1450", "Darlehensforderungen gegenüber Beteiligungen", "A", "", true],
  ["1480", "Beteiligungen", "A", "", true],
  ["1500", "Maschinen und Apparate", "A", "AP_amount", true],
  ["1510", "Mobiliar und Einrichtungen", "A", "AP_amount", true],
  ["1520", "Büromaschinen", "A", "AP_amount", true],
  ["1530", "Fahrzeuge", "A", "AP_amount", true],
  ["1540", "Werkzeuge und Geräte", "A", "AP_amount", true],
  ["1590", "Übrige mobile Sachanlagen", "A", "AP_amount", true],
  ["1600", "Immobile Sachanlagen", "A", "", true],
  ["1700", "Patente, Marken, Lizenzen, Urheberrechte", "A", "AP_amount", true],
  ["1740", "Selber entwickelte Software", "A", "", true],
  ["1741", "Erworbene Software", "A", "AP_amount", true],
  ["1790", "Übrige immaterielle Werte", "A", "", true],
  ["2000", "Verbindlichkeiten aus Lieferungen und Leistungen", "L", "AP", false],
  ["2001", "Verbindlichkeiten aus Lieferungen und Leistungen FiBu", "L", "", true],
  ["2002", "Verbindlichkeiten für Personalaufwand", "L", "", true],
  ["2010", "Verbindlichkeiten aus Lieferungen und Leistungen gegenüber Beteiligten und Organen", "L", "AP", false],
  ["2020", "Verbindlichkeiten aus Lieferungen und Leistungen gegenüber Beteiligungen", "L", "AP", false],
  ["2030", "Erhaltene Anzahlungen von Dritten", "L", "AR_amount:IC_income", true],
  ["2200", "Geschuldete MWST", "L", "AP_amount", true],
  ["2206", "Verrechnungssteuer", "L", "AP_amount", true],
  ["2215", "Kreditkarte", "L", "", true],
  ["2270", "Kontokorrent Vorsorgeeinrichtung", "L", "AP_amount", true],
  ["2271", "Kontokorrent AHV, IV, EO, ALV", "L", "AP_amount", true],
  ["2272", "Kontokorrent FAK", "L", "AP_amount", true],
  ["2273", "Kontokorrent Unfallversicherung", "L", "AP_amount", true],
  ["2274", "Kontokorrent Krankentaggeldversicherung", "L", "AP_amount", true],
  ["2279", "Kontokorrent Quellensteuer", "L", "AP_amount", true],
  ["2300", "Noch nicht bezahlter Aufwand", "L", "", true],
  ["2301", "Im Voraus erhaltener Ertrag", "L", "", true],
  ["2310", "Passive Rechnungsabgrenzung", "L", "", true],
  ["2330", "Kurzfristige Rückstellungen", "L", "", true],
  ["2340", "Steuerrückstellungen", "L", "AP_amount", true],
  ["2400", "Bankverbindlichkeiten langfristig", "L", "", true],
  ["2600", "Rückstellungen", "L", "", true],
  ["3000", "Produktionserlöse", "I", "AR_amount:IC_income", true],
  ["3200", "Handelserlöse", "I", "AR_amount:IC_income", true],
  ["3400", "Dienstleistungserlöse", "I", "AR_amount:IC_income", true],
  ["3500", "Skonti LuL", "I", "AR_paid", true],
  ["3600", "Nebenerlöse aus Lieferungen und Leistungen", "I", "AR_amount:IC_income", true],
  ["3680", "Sonstige Erlöse", "I", "AR_amount:IC_income", true],
  ["3689", "Nicht kontiert", "I", "AR_amount", true],
  ["3699", "Systemkonto", "I", "AR_amount:IC_sale:IC_income", true],
  ["3700", "Eigenleistungen", "I", "", true],
  ["3710", "Eigenverbrauch", "I", "", true],
  ["3800", "Skonti", "I", "AR_paid", true],
  ["3801", "Rabatte und Preisnachlässe", "I", "AR_paid", true],
  ["3804", "Inkassospesen", "I", "", true],
  ["3805", "Verluste Forderungen, Veränderung Wertberichtigungen", "I", "AR_amount:IC_income", true],
  ["3900", "Bestandesänderungen unfertige Erzeugnisse", "I", "", true],
  ["3901", "Bestandesänderungen fertige Erzeugnisse", "I", "", true],
  ["3904", "Bestandesänderungen nicht fakturierte Dienstleistungen", "I", "", true],
  ["4000", "Materialeinkauf", "E", "AP_amount", true],
  ["4200", "Einkauf Handelsware", "E", "AP_amount", true],
  ["4400", "Einkauf Drittleistung", "E", "AP_amount", true],
  ["4800", "Bestandesänderungen Handelswaren", "E", "", true],
  ["4880", "Materialverluste", "E", "", true],
  ["4999", "Systemkonto", "E", "AP_amount:IC_expense:IC_cogs", true],
  ["5400", "Löhne", "E", "", true],
  ["5401", "Zulagen", "E", "", true],
  ["5402", "Erfolgsbeteiligungen", "E", "", true],
  ["5403", "Provisionen", "E", "", true],
  ["5405", "Leistungen von Sozialversicherungen", "E", "AP_amount", true],
  ["5700", "AHV, IV, EO, ALV", "E", "AP_amount", true],
  ["5710", "FAK", "E", "AP_amount", true],
  ["5720", "Vorsorgeeinrichtungen", "E", "AP_amount", true],
  ["5730", "Unfallversicherung", "E", "AP_amount", true],
  ["5740", "Krankentaggeldversicherung", "E", "AP_amount", true],
  ["5790", "Quellensteuer", "E", "AP_amount", true],
  ["5800", "Personalinserate", "E", "AP_amount", true],
  ["5810", "Aus- und Weiterbildung", "E", "AP_amount", true],
  ["5820", "Spesenentschädigung effektiv", "E", "AP_amount", true],
  ["5830", "Spesenentschädigung pauschal", "E", "AP_amount", true],
  ["5840", "Personalkantine", "E", "AP_amount", true],
  ["5880", "Sonstiger Personalaufwand", "E", "AP_amount", true],
  ["5890", "Privatanteile Personalaufwand", "E", "", true],
  ["5900", "Leistungen Dritter", "E", "AP_amount", true],
  ["6000", "Mietzins", "E", "AP_amount", true],
  ["6030", "Nebenkosten", "E", "AP_amount", true],
  ["6040", "Reinigung", "E", "AP_amount", true],
  ["6090", "Privatanteile Raumaufwand", "E", "", true],
  ["6130", "URE Büromobiliar", "E", "AP_amount", true],
  ["6160", "Leasing mobile Sachanlagen", "E", "AP_amount", true],
  ["6200", "Reparaturen, Service, Reinigung Fahrzeuge", "E", "AP_amount", true],
  ["6210", "Betriebsstoffe Fahrzeuge", "E", "AP_amount", true],
  ["6220", "Versicherungen Fahrzeuge", "E", "AP_amount", true],
  ["6230", "Verkehrsabgaben, Beiträge, Gebühren", "E", "AP_amount", true],
  ["6260", "Fahrzeugleasing, Fahrzeugmieten", "E", "AP_amount", true],
  ["6270", "Privatanteil Fahrzeugaufwand", "E", "AR_amount", true],
  ["6280", "Transportaufwand", "E", "AP_amount", true],
  ["6300", "Sachversicherungen", "E", "AP_amount", true],
  ["6360", "Abgaben und Gebühren", "E", "AP_amount", true],
  ["6370", "Bewilligungen", "E", "AP_amount", true],
  ["6400", "Elektrizität", "E", "AP_amount", true],
  ["6460", "Entsorgungsaufwand", "E", "AP_amount", true],
  ["6500", "Büromaterial", "E", "AP_amount", true],
  ["6501", "Drucksachen", "E", "AP_amount", true],
  ["6503", "Fachliteratur", "E", "AP_amount", true],
  ["6510", "Telekommunikation", "E", "AP_amount", true],
  ["6513", "Porti", "E", "AP_amount", true],
  ["6520", "Beiträge, Spenden, Vergabungen, Trinkgelder", "E", "AP_amount", true],
  ["6530", "Buchführung", "E", "AP_amount", true],
  ["6531", "Unternehmensberatung", "E", "AP_amount", true],
  ["6532", "Rechtsberatung", "E", "AP_amount", true],
  ["6540", "Verwaltungsrat, Generalversammlung", "E", "AP_amount", true],
  ["6542", "Revisionsstelle", "E", "AP_amount", true],
  ["6550", "Gründungs-, Kapitalerhöhungs- und Organisationsaufwand", "E", "AP_amount", true],
  ["6551", "Inkasso- und Betreibungsaufwand", "E", "AP_amount", true],
  ["6570", "Leasing Hardware und Software", "E", "AP_amount", true],
  ["6580", "Lizenzen, Updates", "E", "AP_amount", true],
  ["6581", "Hosting und Wartung", "E", "AP_amount", true],
  ["6583", "Verbrauchsmaterial IT", "E", "AP_amount", true],
  ["6590", "Beratung und Entwicklung IT", "E", "AP_amount", true],
  ["6600", "Werbeinserate", "E", "AP_amount", true],
  ["6610", "Werbedrucksachen, Werbematerial, Muster", "E", "AP_amount", true],
  ["6620", "Fachmessen, Ausstellungen, Dekoration", "E", "AP_amount", true],
  ["6640", "Reisespesen", "E", "AP_amount", true],
  ["6641", "Kundenbetreuung", "E", "AP_amount", true],
  ["6660", "Sponsoring", "E", "AP_amount", true],
  ["6670", "Öffentlichkeitsarbeit, Public Relations", "E", "AP_amount", true],
  ["6680", "Werbeberatung, Marktanalysen", "E", "AP_amount", true],
  ["6700", "Sonstiger betrieblicher Aufwand", "E", "AP_amount", true],
  ["6731", "Bezugsteuer", "E", "AP_amount", true],
  ["6732", "Vorsteuerkorrektur", "E", "AP_amount", true],
  ["6733", "Vorsteuerkürzung", "E", "AP_amount", true],
  ["6799", "Nicht kontiert", "E", "AP_amount", true],
  ["6800", "Wertberichtigungen", "E", "", true],
  ["6820", "Abschreibungen", "E", "", true],
  ["6900", "Zinsaufwand gegenüber Dritten", "E", "AP_amount", true],
  ["6930", "Zinsaufwand gegenüber Vorsorgeeinrichtungen", "E", "AP_amount", true],
  ["6940", "Bankspesen", "E", "AR_paid:AP_paid", true],
  ["6942", "Kursverluste", "E", "", true],
  ["6943", "Kreditkartengebühr", "E", "AP_amount", true],
  ["6944", "Bankspesen Zahlungsverkehr, Rundungsdifferenzen", "E", "AP_paid", true],
  ["6950", "Erträge aus flüssigen Mitteln und Wertschriften", "E", "", true],
  ["6952", "Kursgewinne", "E", "", true],
  ["7000", "Ertrag aus Nebenbetrieb", "E", "", true],
  ["7010", "Aufwand aus Nebenbetrieb", "E", "", true],
  ["8000", "Betriebsfremder Aufwand", "E", "", true],
  ["8100", "Betriebsfremder Ertrag", "E", "", true],
  ["8500", "Ausserordentlicher Aufwand", "E", "AP_amount", true],
  ["8510", "Ausserordentlicher Ertrag", "E", "AR_amount:AP_amount", true],
  ["8600", "Einmaliger Aufwand", "E", "", true],
  ["8610", "Einmaliger Ertrag", "E", "", true],
  ["8700", "Periodenfremder Aufwand", "E", "", true],
  ["8710", "Periodenfremder Ertrag", "E", "", true],
  ["8900", "Kantons- und Gemeindesteuern", "E", "AP_amount", true],
  ["8901", "Direkte Bundessteuern", "E", "AP_amount", true],
];

/**
 * The per-rate output VAT accounts the base chart lacks (they are created when a mandant's VAT
 * is set up [data]): numbers and links of RMA's 2015 chart, rates of Swiss law with their
 * history (8.0/3.8/2.5 % to 2017, 7.7/3.7/2.5 % to 2023, 8.1/3.8/2.6 % since 2024) [data +
 * inferred: SQL-Ledger keeps rate history with `validto`].
 */
const VAT_ACCOUNTS: readonly RmaChartAccount[] = [
  { accno: '2201', description: 'MWST Normalsatz', category: 'L', link: 'AR_tax:IC_taxpart:IC_taxservice', taxes: [{ rate: '0.080', validto: '2017-12-31' }, { rate: '0.077', validto: '2023-12-31' }, { rate: '0.081' }] },
  { accno: '2202', description: 'MWST Sondersatz Beherbergung', category: 'L', link: 'AR_tax:IC_taxpart:IC_taxservice', taxes: [{ rate: '0.038', validto: '2017-12-31' }, { rate: '0.037', validto: '2023-12-31' }, { rate: '0.038' }] },
  { accno: '2203', description: 'MWST reduzierter Satz', category: 'L', link: 'AR_tax:IC_taxpart:IC_taxservice', taxes: [{ rate: '0.025', validto: '2023-12-31' }, { rate: '0.026' }] },
];

/** The emulator's default chart: the 2022 base chart plus the VAT accounts 2201, 2202 and 2203. */
export function rmaDefaultChart(): RmaChartAccount[] {
  const base = BASE_CHART_2022.map(([accno, description, category, link, allow_gl]): RmaChartAccount => ({ accno, description, category, link, allow_gl }));
  return [...base, ...VAT_ACCOUNTS.map((a) => ({ ...a, taxes: a.taxes?.map((t) => ({ ...t })) }))].sort((a, b) => a.accno.localeCompare(b.accno));
}

const hasLink = (account: RmaChartAccount, link: string): boolean => account.link.split(':').includes(link);

// ── options and public types ─────────────────────────────────────────────────────────────

/** A part of RMA's part master (article variant). Amounts are decimal strings. */
export interface RmaPartMaster {
  partnumber: string;
  description?: string;
  unit?: string;
  /** Net or gross as the invoice's `taxincluded` says; used when an invoice line sends none. */
  sellprice?: string;
  /** Must be an AR_amount account. */
  income_accno: string;
  expense_accno?: string;
  /** Space-separated AR_tax accounts; empty: VAT-free. */
  tax_accnos?: string;
}

export type RmaFaults = EmulatorFaults;

export interface RmaEmulatorOptions {
  /** TCP port on `host`; 0 (default) picks a free one. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The mandants (RMA client names) served; default `["sandbox"]`. Each has its own books. */
  mandants?: string[];
  /** The API key every mandant accepts; generated when absent (see `key`). */
  key?: string;
  /** Keys per mandant, overriding `key` for the mandants named. */
  keys?: Record<string, string>;
  /** Accounts added to the default chart, or replacing an account of the same number (e.g. clearing accounts 1091/1092 with link AR_paid). */
  accounts?: RmaChartAccount[];
  /** The part master of every mandant (`GET /parts`, the article variant). */
  parts?: RmaPartMaster[];
  /** Faults in force from the start. */
  faults?: RmaFaults;
  /** At most `requests` API requests within any `windowMs` (default 1000); beyond: 429 (see the header). */
  rateLimit?: RateLimit;
  /**
   * `rma` (default): a list of one element is that element, not an array, and an empty list is
   * `{}` (the element key absent). `arrays`: lists are always arrays.
   */
  lists?: 'rma' | 'arrays';
  /**
   * The default `from` of `GET /invoices` (RMA: the account close date [docs]). Default the
   * first day of the current year, so that a list without `from` misses older invoices as RMA's
   * does.
   */
  closeDate?: string;
  /** Today in Europe/Zurich (YYYY-MM-DD), for OVERDUE and the `today` keywords. */
  today?: () => string;
  /**
   * How `latencyMs` is waited out: `sleep` (default, a timer) or `awake` (on time, keeping a core
   * busy while a request waits: for benchmarks). See LatencyTimer in emulator-kit.ts.
   */
  latencyTimer?: LatencyTimer;
  /** What `latencyMs` measures: `handling` (default, a wait before handling) or `arrival` (to the answer, the handling inside). See LatencyFrom in emulator-kit.ts. */
  latencyFrom?: LatencyFrom;
  /** Instead of Math.random, for the error rate. */
  random?: () => number;
  /** Told one line per API request (method, path with the key redacted, status). */
  log?: (line: string) => void;
}

export interface RmaStoredCustomer {
  id: number;
  customernumber: string;
  name: string;
  /** Every scalar field as sent (strings), the last POST winning as a whole. */
  fields: Record<string, string>;
}

export interface RmaIncomeLine {
  accno: string;
  amount: Minor;
  description: string;
}

export interface RmaInvoiceLine {
  partnumber: string;
  description: string;
  unit: string;
  quantity: string;
  sellprice: string;
  discount: string;
  itemnote: string;
  income_accno: string;
  tax_accnos: string;
  /** quantity × sellprice less discount, in minor units, net or gross as `taxincluded`. */
  amount: Minor;
}

export interface RmaStoredInvoice {
  id: number;
  invnumber: string;
  flavour: 'booking' | 'parts';
  customernumber: string;
  currency: string;
  ar_accno: string;
  transdate: string;
  duedate: string;
  taxincluded: boolean;
  /** What the receivables account is debited with: Σ income + Σ tax. Negative: a credit note or storno. */
  amount: Minor;
  netamount: Minor;
  paid: Minor;
  /** Income postings (credits), per line. */
  income: RmaIncomeLine[];
  /** VAT postings (credits), per account. */
  tax: { accno: string; amount: Minor }[];
  /** The part lines of the article variant. */
  parts: RmaInvoiceLine[];
  /** The other header fields as sent (ordnumber, description, notes, intnotes, dcn, …). */
  header: Record<string, string>;
}

export interface RmaStoredPayment {
  id: number;
  invnumber: string;
  datepaid: string;
  amount: Minor;
  payment_accno: string;
  source: string;
  memo: string;
  currency: string;
  exchangerate: string;
}

/** One line of the journal: `amount` debit-positive. */
export interface RmaPosting {
  id: number;
  entry: number;
  date: string;
  accno: string;
  amount: Minor;
  /** The invoice number. */
  reference: string;
  module: 'ar';
  memo: string;
}

export interface RmaStoredBeleg {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
  checksum: string;
  comment: string;
  date_received: string;
  sha256: string;
}

export interface RmaRequestRecord {
  at: string;
  method: string;
  /** Path and query, `api_key` redacted. */
  url: string;
  mandant: string | null;
  /** How the key came: `bearer`, `query`, or `none`. */
  auth: 'bearer' | 'query' | 'none';
  contentType: string;
  accept: string;
  /** The parsed body (JSON or XML, the root unwrapped), or a summary of a multipart upload. */
  body: unknown;
  /** The status answered; `dropped` when the connection was destroyed instead. */
  status: number | 'dropped';
  /** The fault injected, if one was. */
  fault: EmulatorFaultKind | null;
  /** The error message answered, if any. */
  error: string | null;
  durationMs: number;
}

export interface RmaEmulatorStats {
  requests: number;
  byStatus: Record<string, number>;
  /** POSTs to customers, invoices, payments and belege. */
  writes: number;
  /** Writes that changed the books. */
  committed: number;
  faults: EmulatorFaultStats;
  /** The request rate seen, and the requests refused for going over `rateLimit`. */
  rate: RateStats;
}

export interface RmaEmulator {
  /** `http://127.0.0.1:PORT`: the base URL (requests.ts paths start at /api/…). */
  readonly url: string;
  readonly port: number;
  readonly mandants: readonly string[];
  /** The API key of the first mandant (the one to use unless `keys` gave others). */
  readonly key: string;
  /** The faults in force; assigning replaces them (counters count down as they are used). */
  faults: RmaFaults;
  /** The rate limit enforced (null: the rate is only measured); assigning restarts `stats.rate`. */
  rateLimit: RateLimit | null;
  /** `url` + `/api/latest/clients/{mandant}`. */
  apiBase(mandant?: string): string;
  /** Debit-positive balance of every account with postings (minor units); they sum to zero. */
  ledger(mandant?: string): Record<string, Minor>;
  postings(mandant?: string): RmaPosting[];
  invoices(mandant?: string): RmaStoredInvoice[];
  customers(mandant?: string): RmaStoredCustomer[];
  payments(mandant?: string): RmaStoredPayment[];
  belege(mandant?: string): RmaStoredBeleg[];
  /** Every API request so far, oldest first (control requests are not recorded). */
  readonly requests: readonly RmaRequestRecord[];
  readonly stats: RmaEmulatorStats;
  /** Forget all books, requests and stats (chart, parts and faults stay). */
  reset(): void;
  close(): Promise<void>;
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────

const bad = (message: string) => new Refusal(400, message);

type Scalar = string;
type Body = Record<string, unknown>;

/** A scalar of a body as RMA reads it: strings as sent, numbers and booleans as their text; absent, null and `<x/>` as "". */
function text(value: unknown, field: string): Scalar {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  throw bad(`${field} must be a single value, not ${Array.isArray(value) ? 'a list' : 'an object'}`);
}

/** One element or several, as RMA's JSON and XML carry lists; absent or "" is none. */
function asList(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value : [value];
}

/** A wrapped list (`{"incomeentry": […]}`, `<incomeentries><incomeentry>…`) or a bare one. */
function entries(body: Body, wrapper: string, element: string): Body[] {
  const value = body[wrapper];
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : typeof value === 'object' && element in (value as Body) ? asList((value as Body)[element]) : [value];
  return items.map((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw bad(`${wrapper}.${element}[${i}] must be an object`);
    return item as Body;
  });
}

function isObject(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A decimal as an exact scaled integer: value = n / 10^scale. */
interface Exact {
  n: bigint;
  scale: number;
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?$/;

function exact(value: unknown, field: string): Exact {
  let t = text(value, field).trim();
  if (typeof value === 'number' && /e/i.test(t)) throw bad(`${field} "${t}" is not a plain decimal number`);
  const m = DECIMAL.exec(t);
  if (t === '' || !m || (m[2] === '' && (m[3] ?? '') === '')) throw bad(`${field} "${t}" is not a number`);
  t = `${m[2] || '0'}${m[3] ?? ''}`;
  const n = BigInt(t) * (m[1] === '-' ? -1n : 1n);
  return { n, scale: (m[3] ?? '').length };
}

const POW10 = (k: number): bigint => 10n ** BigInt(k);

/** An amount in minor units of a currency with `exponent` decimals; more decimals than that are refused [emulator]. */
function amount(value: unknown, field: string, exponent: number): Minor {
  const t = text(value, field);
  if (t.trim() === '') throw bad(`${field} is missing`);
  try {
    return parseDecimal(typeof value === 'number' ? value : t, exponent);
  } catch {
    throw bad(`${field} "${t}" is not an amount with at most ${exponent} decimals`);
  }
}

const money = (value: Minor, exponent: number): string => formatDecimal(value, exponent);

// ── dates ────────────────────────────────────────────────────────────────────────────────

const ZURICH_DAY = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Zurich', year: 'numeric', month: '2-digit', day: '2-digit' });

/** The Europe/Zurich calendar date of an instant. */
function zurichDate(instant: Date): string {
  const parts = ZURICH_DAY.formatToParts(instant);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const DATETIME = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A date or datetime of a body or query as the calendar date RMA stores: `yyyy-MM-dd`, the
 * keywords `today`, `yesterday`, `tomorrow` [docs], or a datetime, which is taken in Swiss
 * local time when it carries an offset (RMA appears to convert: `…T23:30:00Z` in winter is
 * the next day [client + inferred]) and as its date part when it does not.
 */
function calendarDate(value: unknown, field: string, today: string): string {
  const t = text(value, field).trim();
  if (t === '') throw bad(`${field} is missing`);
  if (t === 'today') return today;
  if (t === 'yesterday') return addDays(today, -1);
  if (t === 'tomorrow') return addDays(today, 1);
  if (isCalendarDate(t)) return t;
  const m = DATETIME.exec(t);
  if (m && isCalendarDate(m[1]!)) {
    if (!m[2]) return m[1]!;
    const instant = new Date(t);
    if (!Number.isNaN(instant.getTime())) return zurichDate(instant);
  }
  throw bad(`${field} "${t}" is not a date (yyyy-MM-dd or yyyy-MM-dd'T'HH:mm:ss.SSSZ)`);
}

// ── lists and bodies on the wire ─────────────────────────────────────────────────────────

type Format = 'json' | 'xml';

const XML_PARSER = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  trimValues: true,
});

const XML_BUILDER = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', format: true, suppressEmptyNode: true, suppressBooleanAttributes: false });

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

/** A body's entity: the bare JSON object, or the XML document's root element `root`. */
function parseEntity(raw: Buffer, contentType: string, root: string): Body {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const body = raw.toString('utf8');
  if (type === 'application/json' || type.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (error) {
      throw bad(`the body is not valid JSON: ${(error as Error).message}`);
    }
    if (!isObject(parsed)) throw bad(`the body must be a JSON object (a bare ${root})`);
    return parsed;
  }
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) {
    const valid = XMLValidator.validate(body);
    if (valid !== true) throw bad(`the body is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
    const doc = XML_PARSER.parse(body) as Body;
    const roots = Object.keys(doc).filter((k) => !k.startsWith('?'));
    if (roots.length !== 1 || roots[0] !== root) throw bad(`the XML root element must be <${root}>, not ${roots.map((r) => `<${r}>`).join(', ') || 'none'}`);
    const entity = doc[root];
    return isObject(entity) ? entity : {};
  }
  throw new Refusal(415, `Content-Type ${type || '(none)'} is not supported: send application/json or application/xml`);
}

/** The response format: JSON when `Accept` names it, XML otherwise (also without Accept) [docs + client]. */
function formatOf(req: IncomingMessage): Format {
  const accept = (req.headers.accept ?? '').toLowerCase();
  return /application\/json|\+json/.test(accept) ? 'json' : 'xml';
}

function render(format: Format, root: string, payload: Body): string {
  if (format === 'json') return JSON.stringify(payload);
  return XML_DECLARATION + XML_BUILDER.build({ [root]: payload });
}

/** `{ "error": "…" }`, spaced as RMA writes it; in XML `<error><message>…</message></error>`. */
function renderError(format: Format, message: string): string {
  if (format === 'json') return `{ "error": ${JSON.stringify(message)} }`;
  return XML_DECLARATION + XML_BUILDER.build({ error: { message } });
}

// ── multipart (belege) ───────────────────────────────────────────────────────────────────

interface FormPart {
  name: string;
  filename: string | null;
  contentType: string;
  data: Buffer;
}

function multipart(raw: Buffer, contentType: string): FormPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!/^multipart\/form-data/i.test(contentType) || !m) throw new Refusal(415, 'belege takes multipart/form-data with the file in the part "Filedata"');
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: FormPart[] = [];
  let at = raw.indexOf(boundary);
  while (at >= 0) {
    const start = at + boundary.length;
    if (raw.subarray(start, start + 2).toString() === '--') break;
    const next = raw.indexOf(boundary, start);
    if (next < 0) break;
    const chunk = raw.subarray(start + 2, next - 2); // after CRLF, before CRLF--boundary
    const split = chunk.indexOf('\r\n\r\n');
    if (split >= 0) {
      const head = chunk.subarray(0, split).toString('utf8');
      const disposition = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? '';
      const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? '';
      const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1] ?? null;
      const type = /content-type:\s*([^\r\n;]+)/i.exec(head)?.[1]?.trim().toLowerCase() ?? 'text/plain';
      parts.push({ name, filename, contentType: type, data: chunk.subarray(split + 4) });
    }
    at = next;
  }
  return parts;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ── the books of one mandant ─────────────────────────────────────────────────────────────

interface ChartEntry extends RmaChartAccount {
  id: number;
  /** Rates scaled to RATE_SCALE decimals, each valid up to `validto` (null: open-ended), in order. */
  rates: { rate: bigint; text: string; validto: string | null }[];
}

const RATE_SCALE = 6;

interface Books {
  customers: Map<string, RmaStoredCustomer>;
  invoices: Map<string, RmaStoredInvoice>;
  payments: RmaStoredPayment[];
  postings: RmaPosting[];
  belege: RmaStoredBeleg[];
}

const emptyBooks = (): Books => ({ customers: new Map(), invoices: new Map(), payments: [], postings: [], belege: [] });

/** The customer entity's TEXT(n) limits [docs: customer entity]. Over the limit: 400 [emulator; RMA may cut instead]. */
const CUSTOMER_LIMITS: Readonly<Record<string, number>> = {
  customernumber: 32,
  name: 64,
  salutation: 32,
  firstname: 32,
  lastname: 32,
  address1: 32,
  address2: 32,
  zipcode: 10,
  city: 32,
  state: 32,
  country: 32,
  phone: 20,
  fax: 20,
  mobile: 20,
  taxnumber: 32,
  arap_accno: 32,
  payment_accno: 32,
  bank_name: 64,
  bank_address1: 32,
  bank_address2: 32,
  bank_zipcode: 10,
  bank_city: 32,
  bank_state: 32,
  bank_country: 32,
  bank_iban: 34,
  bank_bic: 11,
  language_code: 6,
};

/** Fields of a customer that RMA sets itself; what a client sends for them is ignored. */
const CUSTOMER_READ_ONLY = new Set(['id', 'contactId', 'addressId', 'taxfree', 'chart', 'paymentChart']);

function booleanOf(value: unknown, field: string): boolean {
  const t = text(value, field).trim().toLowerCase();
  if (t === '' || t === 'false') return false;
  if (t === 'true') return true;
  throw bad(`${field} "${t}" is not a boolean (true or false)`);
}

function checkLimit(where: string, field: string, value: string, limit: number): void {
  const length = [...value].length;
  if (length > limit) throw bad(`${where}: ${field} "${value}" is ${length} characters; TEXT(${limit}) allows ${limit}`);
}

/** The QR reference RMA builds from a digits-only invnumber when `dcn` is empty [docs]: 26 digits and a modulo-10-recursive check digit. */
function qrReference(invnumber: string): string {
  if (!/^\d{1,26}$/.test(invnumber)) return '';
  const digits = invnumber.padStart(26, '0');
  const table = [0, 9, 4, 6, 8, 2, 7, 1, 3, 5];
  let carry = 0;
  for (const d of digits) carry = table[(carry + Number(d)) % 10]!;
  return `${digits}${(10 - carry) % 10}`;
}

interface Fraction {
  n: bigint;
  d: bigint;
}

const addFraction = (a: Fraction, b: Fraction): Fraction => (a.d === b.d ? { n: a.n + b.n, d: a.d } : { n: a.n * b.d + b.n * a.d, d: a.d * b.d });
const roundFraction = (f: Fraction): Minor => minor(divRound(f.n, f.d, 'half-up'));

/** What a route answers: a status and, unless 204, an entity under its XML root. */
interface Answer {
  status: number;
  root?: string;
  payload?: Body;
  /** The books changed (a committed write): drop-after-commit and fail-after-commit apply. */
  committed?: boolean;
}

/** Faults checked and copied: counts and milliseconds non-negative integers, the error rate a share 0…1. */
export const checkFaults: (value: unknown) => RmaFaults = checkEmulatorFaults;


const ALLOWED_BELEG_TYPES = new Set(['application/pdf', 'image/png', 'image/jpg', 'image/jpeg', 'image/gif']);
const BELEG_LIMIT = 25 * 1024 * 1024;
const BODY_LIMIT = BELEG_LIMIT + 1024 * 1024;

class RunMyAccountsEmulator implements RmaEmulator {
  url = '';
  port = 0;
  readonly mandants: readonly string[];
  readonly key: string;
  readonly requests: RmaRequestRecord[] = [];
  stats: RmaEmulatorStats = RunMyAccountsEmulator.freshStats();
  private currentFaults: RmaFaults;
  private readonly meter: RateMeter;
  private readonly keys: Map<string, string>;
  private readonly chart = new Map<string, ChartEntry>();
  private readonly parts = new Map<string, RmaPartMaster>();
  private books = new Map<string, Books>();
  private ids = 0;
  private readonly server: Server;
  private readonly lists: 'rma' | 'arrays';
  private readonly todayOf: () => string;
  private readonly random: () => number;
  private readonly wait: (ms: number) => Promise<void>;
  private readonly latencyFrom: LatencyFrom;
  private readonly closeDate: string | undefined;
  private readonly log: ((line: string) => void) | undefined;

  constructor(options: RmaEmulatorOptions) {
    const mandants = options.mandants && options.mandants.length > 0 ? options.mandants : ['sandbox'];
    for (const m of mandants) if (typeof m !== 'string' || m.trim() === '' || m.includes('/')) throw new RangeError(`"${m}" is not a mandant name`);
    if (new Set(mandants).size !== mandants.length) throw new RangeError('a mandant is named twice');
    this.mandants = [...mandants];
    this.key = options.keys?.[mandants[0]!] ?? options.key ?? `rma-sandbox-${randomBytes(16).toString('hex')}`;
    const common = options.key ?? this.key;
    this.keys = new Map(mandants.map((m) => [m, options.keys?.[m] ?? common]));
    for (const m of mandants) this.books.set(m, emptyBooks());
    this.currentFaults = checkFaults(options.faults ?? {});
    this.meter = new RateMeter(options.rateLimit ?? null);
    this.stats.rate = this.meter.stats;
    this.lists = options.lists ?? 'rma';
    this.todayOf = options.today ?? (() => zurichDate(new Date()));
    this.random = options.random ?? Math.random;
    this.wait = latencyWait(options.latencyTimer);
    this.latencyFrom = options.latencyFrom ?? 'handling';
    this.closeDate = options.closeDate;
    if (this.closeDate !== undefined && !isCalendarDate(this.closeDate)) throw new RangeError(`closeDate "${this.closeDate}" is not a date (YYYY-MM-DD)`);
    this.log = options.log;
    this.loadChart(options.accounts ?? []);
    this.loadParts(options.parts ?? []);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(renderError('json', `emulator failure: ${(error as Error).message}`));
        }
      });
    });
  }

  static freshStats(): RmaEmulatorStats {
    return { requests: 0, byStatus: {}, writes: 0, committed: 0, faults: freshFaultStats(), rate: RateMeter.freshStats(null) };
  }

  async listen(port: number, host: string): Promise<void> {
    ({ port: this.port, url: this.url } = await listenOn(this.server, port, host));
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  get faults(): RmaFaults {
    return { ...this.currentFaults };
  }

  set faults(value: RmaFaults) {
    this.currentFaults = checkFaults(value);
  }

  get rateLimit(): RateLimit | null {
    return this.meter.limit;
  }

  set rateLimit(value: RateLimit | null) {
    this.meter.limit = value;
    this.stats.rate = this.meter.stats;
  }

  apiBase(mandant = this.mandants[0]!): string {
    return `${this.url}/api/latest/clients/${encodeURIComponent(mandant)}`;
  }

  private booksOf(mandant = this.mandants[0]!): Books {
    const books = this.books.get(mandant);
    if (!books) throw new RangeError(`the emulator has no mandant "${mandant}" (it has ${this.mandants.join(', ')})`);
    return books;
  }

  ledger(mandant?: string): Record<string, Minor> {
    const out: Record<string, Minor> = {};
    for (const p of this.booksOf(mandant).postings) out[p.accno] = minor((out[p.accno] ?? 0) + p.amount);
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }

  postings(mandant?: string): RmaPosting[] {
    return this.booksOf(mandant).postings.map((p) => ({ ...p }));
  }

  invoices(mandant?: string): RmaStoredInvoice[] {
    return [...this.booksOf(mandant).invoices.values()].map((i) => structuredClone(i));
  }

  customers(mandant?: string): RmaStoredCustomer[] {
    return [...this.booksOf(mandant).customers.values()].map((c) => structuredClone(c));
  }

  payments(mandant?: string): RmaStoredPayment[] {
    return this.booksOf(mandant).payments.map((p) => ({ ...p }));
  }

  belege(mandant?: string): RmaStoredBeleg[] {
    return this.booksOf(mandant).belege.map((b) => ({ ...b }));
  }

  reset(): void {
    for (const m of this.mandants) this.books.set(m, emptyBooks());
    this.requests.length = 0;
    this.meter.reset();
    this.stats = { ...RunMyAccountsEmulator.freshStats(), rate: this.meter.stats };
  }

  // ── setup ──

  private loadChart(extra: RmaChartAccount[]): void {
    const accounts = new Map(rmaDefaultChart().map((a) => [a.accno, a]));
    for (const a of extra) {
      if (!a || typeof a.accno !== 'string' || !/^\S+$/.test(a.accno)) throw new RangeError(`account ${JSON.stringify(a)}: accno is missing`);
      if (!['A', 'L', 'Q', 'I', 'E'].includes(a.category)) throw new RangeError(`account ${a.accno}: category must be A, L, Q, I or E`);
      accounts.set(a.accno, { ...a, link: a.link ?? '', description: a.description ?? '' });
    }
    let id = 10000;
    for (const a of [...accounts.values()].sort((x, y) => x.accno.localeCompare(y.accno))) {
      const rates = (a.taxes ?? []).map((t) => {
        const r = /^(\d+)(?:\.(\d{1,6}))?$/.exec(t.rate);
        if (!r) throw new RangeError(`account ${a.accno}: tax rate "${t.rate}" is not a decimal fraction such as 0.081`);
        if (t.validto !== undefined && !isCalendarDate(t.validto)) throw new RangeError(`account ${a.accno}: validto "${t.validto}" is not a date`);
        const frac = r[2] ?? '';
        return { rate: BigInt(`${r[1]}${frac.padEnd(RATE_SCALE, '0')}`), text: t.rate, validto: t.validto ?? null };
      });
      rates.sort((x, y) => (x.validto ?? '9999-12-31').localeCompare(y.validto ?? '9999-12-31'));
      this.chart.set(a.accno, { ...a, allow_gl: a.allow_gl ?? true, is_active: a.is_active ?? true, id: id++, rates });
    }
  }

  private loadParts(parts: RmaPartMaster[]): void {
    for (const p of parts) {
      if (!p || typeof p.partnumber !== 'string' || p.partnumber.trim() === '') throw new RangeError(`part ${JSON.stringify(p)}: partnumber is missing`);
      try {
        this.account(p.income_accno ?? '', `part ${p.partnumber}: income_accno`, 'AR_amount', 'an income account');
        for (const accno of (p.tax_accnos ?? '').split(/\s+/).filter(Boolean)) {
          const tax = this.account(accno, `part ${p.partnumber}: tax_accnos`, 'AR_tax', 'a VAT account');
          if (tax.rates.length === 0) throw bad(`part ${p.partnumber}: tax account ${accno} has no rate`);
        }
        if (p.sellprice !== undefined) exact(p.sellprice, `part ${p.partnumber}: sellprice`);
      } catch (error) {
        throw new RangeError((error as Error).message);
      }
      this.parts.set(p.partnumber, { ...p });
    }
  }

  // ── rules ──

  /** The account `accno`, which must exist, be active and carry `link` [docs: §7 "Use GET /charts … the right link"]. */
  private account(accno: string, field: string, link: string, what: string): ChartEntry {
    if (accno === '') throw bad(`${field} is missing`);
    const a = this.chart.get(accno);
    if (!a) throw bad(`${field} ${accno}: there is no account ${accno} in the chart of accounts`);
    if (a.is_active === false) throw bad(`${field} ${accno} (${a.description}) is not active`);
    if (!hasLink(a, link)) throw bad(`${field} ${accno} (${a.description}) is not ${what}: its link is "${a.link}", ${link} is needed`);
    return a;
  }

  private rateAt(account: ChartEntry, date: string): bigint {
    const rate = account.rates.find((r) => r.validto === null || r.validto >= date);
    if (!rate) throw bad(`tax account ${account.accno} has no rate valid on ${date}`);
    return rate.rate;
  }

  /** A customer record from a body, checked but not stored. */
  private customerFrom(books: Books, body: Body, where: string): RmaStoredCustomer {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) {
      if (CUSTOMER_READ_ONLY.has(k) || k.startsWith('@') || v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v))) continue;
      fields[k] = text(v, `${where}.${k}`);
    }
    const number = (fields.customernumber ?? '').trim();
    if (number === '') throw bad(`${where}: customernumber is missing`);
    if ((fields.name ?? '').trim() === '') throw bad(`${where} ${number}: name is missing`);
    for (const [field, limit] of Object.entries(CUSTOMER_LIMITS)) {
      if (fields[field] !== undefined) checkLimit(`${where} ${number}`, field, fields[field]!, limit);
    }
    if (fields.typeofcontact && !['person', 'company'].includes(fields.typeofcontact)) throw bad(`${where} ${number}: typeofcontact "${fields.typeofcontact}" is not person or company`);
    if (fields.gender && !['F', 'M'].includes(fields.gender)) throw bad(`${where} ${number}: gender "${fields.gender}" is not F or M`);
    if (fields.remittancevoucher !== undefined) booleanOf(fields.remittancevoucher, `${where}.remittancevoucher`);
    const existing = books.customers.get(number);
    // "create or mute": an existing customer is overwritten with what is sent [docs], keeping its id.
    fields.customernumber = number;
    fields.created ||= existing?.fields.created ?? rmaDateTime(this.todayOf());
    return { id: existing?.id ?? ++this.ids, customernumber: number, name: fields.name!, fields };
  }

  private createInvoice(books: Books, body: Body): { invoice: RmaStoredInvoice; customer: RmaStoredCustomer | null } {
    const invnumber = text(body.invnumber, 'invnumber').trim();
    if (invnumber === '') throw bad('invnumber is missing');
    // [inferred] the message; that a duplicate is refused with 400 is what the reference expects.
    if (books.invoices.has(invnumber)) throw bad(`An invoice with invnumber "${invnumber}" already exists`);
    const today = this.todayOf();
    const transdate = calendarDate(body.transdate, 'transdate', today);
    const duedate = calendarDate(body.duedate, 'duedate', today);
    const currency = text(body.currency, 'currency').trim() || 'CHF';
    checkLimit(`invoice ${invnumber}`, 'currency', currency, 3);
    if (!isKnownCurrency(currency)) throw bad(`currency "${currency}" is not a currency the emulator knows`);
    const e = currencyExponent(currency);
    const ar = this.account(text(body.ar_accno, 'ar_accno').trim() || '1100', 'ar_accno', 'AR', 'a receivables account');
    const paymentAccno = text(body.payment_accno, 'payment_accno').trim();
    if (paymentAccno !== '') this.account(paymentAccno, 'payment_accno', 'AR_paid', 'a payment account');
    let customer: RmaStoredCustomer | null = null;
    let customernumber: string;
    if (isObject(body.customer)) {
      // A full customer in the invoice is created or overwritten [docs].
      customer = this.customerFrom(books, body.customer, 'customer');
      customernumber = customer.customernumber;
    } else {
      customernumber = text(body.customernumber, 'customernumber').trim();
      if (customernumber === '') throw bad('customernumber is missing (or send a full customer)');
      if (!books.customers.has(customernumber)) throw bad(`customernumber "${customernumber}": there is no such customer`);
    }
    const taxincluded = booleanOf(body.taxincluded, 'taxincluded');
    const income = entries(body, 'incomeentries', 'incomeentry');
    const taxes = entries(body, 'taxentries', 'taxentry');
    const partRows = entries(body, 'parts', 'part');
    if (partRows.length > 0 && income.length + taxes.length > 0) throw bad('an invoice has parts (article variant) or incomeentries and taxentries (booking variant), not both');
    if (partRows.length === 0 && income.length === 0) throw bad('an invoice needs incomeentries (booking variant) or parts (article variant)');

    const header: Record<string, string> = {};
    for (const field of ['ordnumber', 'status', 'description', 'notes', 'intnotes', 'dcn', 'department', 'language_code', 'payment_accno']) {
      if (body[field] !== undefined) header[field] = text(body[field], field);
    }
    if ((header.dcn ?? '') === '') header.dcn = qrReference(invnumber);

    const invoice: RmaStoredInvoice = {
      id: ++this.ids,
      invnumber,
      flavour: partRows.length > 0 ? 'parts' : 'booking',
      customernumber,
      currency,
      ar_accno: ar.accno,
      transdate,
      duedate,
      taxincluded,
      amount: minor(0),
      netamount: minor(0),
      paid: minor(0),
      income: [],
      tax: [],
      parts: [],
      header,
    };
    if (invoice.flavour === 'booking') {
      // Booking variant: Σ incomeentries + Σ taxentries is the invoice [docs]. The VAT is the
      // client's; RMA does not recompute it, and what taxincluded=true would change here is
      // undocumented, so it is stored and otherwise ignored [emulator].
      invoice.income = income.map((entry, i) => {
        const where = `incomeentries.incomeentry[${i}]`;
        const account = this.account(text(entry.income_accno, `${where}.income_accno`).trim(), `${where}.income_accno`, 'AR_amount', 'an income account');
        return { accno: account.accno, amount: amount(entry.amount, `${where}.amount`, e), description: text(entry.description, `${where}.description`) };
      });
      invoice.tax = taxes.map((entry, i) => {
        const where = `taxentries.taxentry[${i}]`;
        const account = this.account(text(entry.tax_accno, `${where}.tax_accno`).trim(), `${where}.tax_accno`, 'AR_tax', 'a VAT account');
        return { accno: account.accno, amount: amount(entry.amount, `${where}.amount`, e) };
      });
      invoice.netamount = sum(invoice.income.map((l) => l.amount));
      invoice.amount = minor(invoice.netamount + sum(invoice.tax.map((t) => t.amount)));
    } else {
      const customerTaxes = (customer ?? books.customers.get(customernumber))?.fields.tax_accnos?.split(/\s+/).filter(Boolean) ?? [];
      this.priceParts(invoice, partRows, customerTaxes, e);
    }
    return { invoice, customer };
  }

  /**
   * Article variant: each line is quantity × sellprice less `discount` percent, rounded to the
   * currency; income account and VAT accounts come from the part master [docs], limited to the
   * customer's `tax_accnos` when it has any [docs]. VAT is computed per tax account on the sum
   * of its lines (SQL-Ledger's way, not per line [inferred]) at the rate valid on the invoice
   * date: on the net with taxincluded=false, extracted from the gross with taxincluded=true,
   * where each line's income is its gross less its own VAT and the cent the account-level
   * rounding leaves goes to the largest line [emulator].
   */
  private priceParts(invoice: RmaStoredInvoice, rows: Body[], customerTaxes: string[], e: number): void {
    const perAccount = new Map<string, { account: ChartEntry; rate: bigint; base: Fraction }>();
    const lines = rows.map((row, i) => {
      const where = `parts.part[${i}]`;
      const partnumber = text(row.partnumber, `${where}.partnumber`).trim();
      if (partnumber === '') throw bad(`${where}.partnumber is missing`);
      const master = this.parts.get(partnumber);
      if (!master) throw bad(`${where}.partnumber "${partnumber}": there is no such part`);
      const quantity = text(row.quantity, `${where}.quantity`).trim() || '1';
      const sellprice = text(row.sellprice, `${where}.sellprice`).trim() || master.sellprice || '0';
      const discount = text(row.discount, `${where}.discount`).trim() || '0';
      const q = exact(quantity, `${where}.quantity`);
      const p = exact(sellprice, `${where}.sellprice`);
      const d = exact(discount, `${where}.discount`);
      const numerator = q.n * p.n * (100n * POW10(d.scale) - d.n) * POW10(e);
      const denominator = POW10(q.scale + p.scale + d.scale) * 100n;
      const lineAmount = minor(divRound(numerator, denominator, 'half-up'));
      const unit = text(row.unit, `${where}.unit`) || master.unit || '';
      checkLimit(`invoice ${invoice.invnumber}`, `${where}.unit`, unit, 5);
      const taxAccnos = (master.tax_accnos ?? '').split(/\s+/).filter((a) => a && (customerTaxes.length === 0 || customerTaxes.includes(a)));
      const accounts = taxAccnos.map((accno) => this.account(accno, `part ${partnumber}: tax account`, 'AR_tax', 'a VAT account'));
      const rates = accounts.map((a) => this.rateAt(a, invoice.transdate));
      const total = rates.reduce((x, y) => x + y, 0n);
      const scale = POW10(RATE_SCALE);
      accounts.forEach((account, k) => {
        const share: Fraction = invoice.taxincluded ? { n: BigInt(lineAmount) * rates[k]!, d: scale + total } : { n: BigInt(lineAmount) * rates[k]!, d: scale };
        const slot = perAccount.get(account.accno) ?? { account, rate: rates[k]!, base: { n: 0n, d: 1n } };
        slot.base = addFraction(slot.base, share);
        perAccount.set(account.accno, slot);
      });
      const ownTax = invoice.taxincluded ? minor(divRound(BigInt(lineAmount) * total, scale + total, 'half-up')) : minor(0);
      const line: RmaInvoiceLine = {
        partnumber,
        description: text(row.description, `${where}.description`) || master.description || '',
        unit,
        quantity,
        sellprice,
        discount,
        itemnote: text(row.itemnote, `${where}.itemnote`),
        income_accno: master.income_accno,
        tax_accnos: taxAccnos.join(' '),
        amount: lineAmount,
      };
      return { line, net: minor(lineAmount - ownTax) };
    });
    invoice.parts = lines.map((l) => l.line);
    invoice.tax = [...perAccount.values()].map((slot) => ({ accno: slot.account.accno, amount: roundFraction(slot.base) }));
    const taxTotal = sum(invoice.tax.map((t) => t.amount));
    const gross = sum(lines.map((l) => l.line.amount));
    if (invoice.taxincluded) {
      const residual = gross - taxTotal - sum(lines.map((l) => l.net));
      if (residual !== 0 && lines.length > 0) {
        const largest = lines.reduce((best, l) => (Math.abs(l.line.amount) > Math.abs(best.line.amount) ? l : best));
        largest.net = minor(largest.net + residual);
      }
      invoice.amount = gross;
    } else {
      invoice.amount = minor(gross + taxTotal);
    }
    invoice.income = lines.map((l) => ({ accno: l.line.income_accno, amount: l.net, description: l.line.description }));
    invoice.netamount = minor(invoice.amount - taxTotal);
  }

  private post(books: Books, entry: number, date: string, reference: string, memo: string, lines: [string, Minor][]): void {
    for (const [accno, value] of lines) {
      if (value === 0) continue;
      books.postings.push({ id: ++this.ids, entry, date, accno, amount: value, reference, module: 'ar', memo });
    }
  }

  private commitInvoice(books: Books, invoice: RmaStoredInvoice, customer: RmaStoredCustomer | null): void {
    if (customer) books.customers.set(customer.customernumber, customer);
    books.invoices.set(invoice.invnumber, invoice);
    // SQL-Ledger's AR transaction: the receivable is debited, income and VAT credited.
    this.post(books, invoice.id, invoice.transdate, invoice.invnumber, invoice.header.description ?? '', [
      [invoice.ar_accno, invoice.amount],
      ...invoice.income.map((l): [string, Minor] => [l.accno, minor(-l.amount)]),
      ...invoice.tax.map((t): [string, Minor] => [t.accno, minor(-t.amount)]),
    ]);
  }

  /**
   * A payment: `amount_paid` on `payment_accno`, which must be an AR_paid account [docs]. Any
   * sign and any amount are taken (a negative one pays out a credit note, and a write-off may
   * follow an overpayment) [inferred: reference §6, to verify in RMA's sandbox].
   */
  private createPayment(books: Books, invnumber: string, body: Body): RmaStoredPayment {
    const invoice = books.invoices.get(invnumber);
    if (!invoice) throw bad(`invoice "${invnumber}": there is no such invoice`);
    const e = currencyExponent(invoice.currency);
    const datepaid = calendarDate(body.datepaid, 'datepaid', this.todayOf());
    const paid = amount(body.amount_paid, 'amount_paid', e);
    if (paid === 0) throw bad('amount_paid must not be 0');
    const account = this.account(text(body.payment_accno, 'payment_accno').trim(), 'payment_accno', 'AR_paid', 'a payment account');
    const currency = text(body.currency, 'currency').trim() || invoice.currency;
    if (currency !== invoice.currency) throw bad(`currency ${currency} is not the currency of invoice ${invnumber} (${invoice.currency})`);
    const exchangerate = text(body.exchangerate, 'exchangerate').trim() || '1.0';
    exact(exchangerate, 'exchangerate');
    const payment: RmaStoredPayment = {
      id: ++this.ids,
      invnumber,
      datepaid,
      amount: paid,
      payment_accno: account.accno,
      source: text(body.source, 'source'),
      memo: text(body.memo, 'memo'),
      currency,
      exchangerate,
    };
    books.payments.push(payment);
    invoice.paid = minor(invoice.paid + paid);
    this.post(books, payment.id, datepaid, invnumber, payment.memo, [
      [account.accno, paid],
      [invoice.ar_accno, minor(-paid)],
    ]);
    return payment;
  }

  // ── views: every scalar a string ──

  /** A list as RMA's JSON carries it: one element bare, none as the key absent (option `lists`). */
  private list(element: string, items: Body[]): Body {
    if (this.lists === 'arrays') return { [element]: items };
    if (items.length === 0) return {};
    return { [element]: items.length === 1 ? items[0] : items };
  }

  private customerView(customer: RmaStoredCustomer | undefined): Body {
    if (!customer) return {};
    return { id: String(customer.id), ...customer.fields, taxfree: 'false' };
  }

  private statusOf(invoice: RmaStoredInvoice): string {
    if (invoice.paid === invoice.amount) return 'PAID';
    return invoice.duedate < this.todayOf() ? 'OVERDUE' : 'OPEN';
  }

  private invoiceView(books: Books, invoice: RmaStoredInvoice): Body {
    const e = currencyExponent(invoice.currency);
    const h = invoice.header;
    const view: Body = {
      id: String(invoice.id),
      invnumber: invoice.invnumber,
      ordnumber: h.ordnumber ?? '',
      status: this.statusOf(invoice),
      currency: invoice.currency,
      ar_accno: invoice.ar_accno,
      ...(h.payment_accno ? { payment_accno: h.payment_accno } : {}),
      transdate: rmaDateTime(invoice.transdate),
      duedate: rmaDateTime(invoice.duedate),
      description: h.description ?? '',
      notes: h.notes ?? '',
      intnotes: h.intnotes ?? '',
      taxincluded: String(invoice.taxincluded),
      ...(h.department ? { department: h.department } : {}),
      ...(h.language_code ? { language_code: h.language_code } : {}),
      dcn: h.dcn ?? '',
      amount: money(invoice.amount, e),
      netamount: money(invoice.netamount, e),
      paid: money(invoice.paid, e),
      customer: this.customerView(books.customers.get(invoice.customernumber)),
    };
    if (invoice.flavour === 'booking') {
      view.incomeentries = this.list('incomeentry', invoice.income.map((l) => ({ amount: money(l.amount, e), income_accno: l.accno, description: l.description })));
      view.taxentries = this.list('taxentry', invoice.tax.map((t) => ({ amount: money(t.amount, e), tax_accno: t.accno })));
    } else {
      view.parts = this.list(
        'part',
        invoice.parts.map((p) => ({
          partnumber: p.partnumber,
          description: p.description,
          unit: p.unit,
          quantity: p.quantity,
          sellprice: p.sellprice,
          discount: p.discount,
          itemnote: p.itemnote,
          income_accno: p.income_accno,
          tax_accnos: p.tax_accnos,
          projectnumber: '',
        })),
      );
    }
    return view;
  }

  private paymentView(payment: RmaStoredPayment): Body {
    return {
      id: String(payment.id),
      invnumber: payment.invnumber,
      datepaid: rmaDateTime(payment.datepaid),
      amount_paid: money(payment.amount, currencyExponent(payment.currency)),
      source: payment.source,
      memo: payment.memo,
      payment_accno: payment.payment_accno,
      currency: payment.currency,
      exchangerate: payment.exchangerate,
      flag: 'NEW',
    };
  }

  private chartView(a: ChartEntry): Body {
    return {
      '@id': String(a.id),
      '@accno': a.accno,
      '@description': a.description,
      '@link': a.link,
      '@allow_gl': String(a.allow_gl !== false),
      '@is_active': String(a.is_active !== false),
      // [emulator] the shape of a VAT account's rates; RMA shows `<taxes/>` for others [docs].
      taxes: a.rates.length > 0 ? { tax: a.rates.map((r) => ({ '@rate': r.text, '@validto': r.validto ?? '' })) } : '',
    };
  }

  private partView(p: RmaPartMaster): Body {
    return {
      partnumber: p.partnumber,
      description: p.description ?? '',
      unit: p.unit ?? '',
      quantity: '1.0',
      sellprice: p.sellprice ?? '0.0',
      discount: '0.0',
      itemnote: '',
      price_update: '',
      income_accno: p.income_accno,
      expense_accno: p.expense_accno ?? '',
      tax_accnos: p.tax_accnos ?? '',
    };
  }

  /** Accounts matching an `accno` pattern: digits, `x` for any digit, `x` alone for all [docs]. */
  private matching(pattern: string): ChartEntry[] {
    if (!/^[0-9xX]+$/.test(pattern)) throw bad(`accno "${pattern}" is not an account number or pattern (digits, x for any)`);
    const p = pattern.toLowerCase();
    return [...this.chart.values()].filter((a) => p === 'x' || (a.accno.length === p.length && [...p].every((c, i) => c === 'x' || c === a.accno[i])));
  }

  private window(query: URLSearchParams, fromKey: string, toKey: string): (date: string) => boolean {
    const today = this.todayOf();
    const from = query.get(fromKey) ? calendarDate(query.get(fromKey), fromKey, today) : null;
    const to = query.get(toKey) ? calendarDate(query.get(toKey), toKey, today) : null;
    return (date) => (from === null || date >= from) && (to === null || date <= to);
  }

  /**
   * `gl/v2/saldo` [docs + client]: one row per matching account that has postings in the
   * window (an exact account number always answers), amount with 4 decimals as RMA's examples,
   * in the account's natural orientation [emulator]. `gl/saldo` (v1) answers positional columns.
   */
  private saldo(books: Books, query: URLSearchParams, version: 'v1' | 'v2'): Body {
    const pattern = query.get('accno') ?? 'x';
    const accounts = this.matching(pattern);
    const within = this.window(query, 'from', 'to');
    const sums = new Map<string, number>();
    for (const p of books.postings) if (within(p.date)) sums.set(p.accno, (sums.get(p.accno) ?? 0) + p.amount);
    const exactMatch = !/x/i.test(pattern);
    const rows = accounts
      .filter((a) => sums.has(a.accno) || exactMatch)
      .map((a) => {
        const debit = minor(sums.get(a.accno) ?? 0);
        const natural = a.category === 'A' || a.category === 'E' ? debit : minor(-debit);
        return version === 'v2'
          ? { accountnumber: a.accno, accountname: a.description, amount: formatDecimal(minor(natural * 100), 4) }
          : { column: [a.accno, a.description, formatDecimal(natural, 2)] };
      });
    return this.list('row', rows);
  }

  private transactions(books: Books, pattern: string, query: URLSearchParams): Body {
    const accounts = new Map(this.matching(pattern).map((a) => [a.accno, a]));
    const within = this.window(query, 'from_date', 'to_date');
    const rows = books.postings
      .filter((p) => accounts.has(p.accno) && within(p.date))
      .map((p) => ({
        id: String(p.id),
        chart: this.chartView(accounts.get(p.accno)!),
        transdate: rmaDateTime(p.date),
        reference: p.reference,
        description: books.invoices.get(p.reference)?.header.description ?? '',
        // SQL-Ledger's sign: credit positive (the docs' example books a cash receipt as -50.0) [docs + data].
        amount: formatDecimal(minor(-p.amount), 2),
        module: p.module,
        source: '',
        entry_id: String(p.entry),
        memo: p.memo,
        notes: '',
        intnotes: '',
        accno: p.accno,
      }));
    return { '@number_of_transaction': String(rows.length), ...this.list('transaction', rows) };
  }

  // ── routes ──

  private route(req: IncomingMessage, raw: Buffer, segments: string[], query: URLSearchParams, books: Books, record: RmaRequestRecord): Answer {
    const method = req.method ?? 'GET';
    const contentType = req.headers['content-type'] ?? '';
    const [resource, id, sub, ...more] = segments;
    const entity = (root: string): Body => {
      const body = parseEntity(raw, contentType, root);
      record.body = body;
      return body;
    };
    const notAllowed = () => new Refusal(405, `${method} is not allowed on ${segments.join('/')}`);

    if (resource === 'customers' && id === undefined) {
      if (method === 'GET') return { status: 200, root: 'customers', payload: this.list('customer', [...books.customers.values()].map((c) => this.customerView(c))) };
      if (method === 'POST') {
        const customer = this.customerFrom(books, entity('customer'), 'customer');
        books.customers.set(customer.customernumber, customer);
        return { status: 204, committed: true };
      }
      throw notAllowed();
    }
    if (resource === 'customers' && id !== undefined && sub === undefined) {
      if (method !== 'GET') throw notAllowed();
      const customer = books.customers.get(id);
      if (!customer) throw new Refusal(404, `customer "${id}" not found`);
      return { status: 200, root: 'customer', payload: this.customerView(customer) };
    }
    if (resource === 'parts' && id === undefined) {
      if (method !== 'GET') throw notAllowed();
      return { status: 200, root: 'parts', payload: this.list('part', [...this.parts.values()].map((p) => this.partView(p))) };
    }
    if (resource === 'invoices' && id === undefined) {
      if (method === 'POST') {
        const { invoice, customer } = this.createInvoice(books, entity('invoice'));
        this.commitInvoice(books, invoice, customer);
        return { status: 204, committed: true };
      }
      if (method !== 'GET') throw notAllowed();
      const today = this.todayOf();
      const from = query.get('from') ? calendarDate(query.get('from'), 'from', today) : (this.closeDate ?? `${today.slice(0, 4)}-01-01`);
      const to = query.get('to') ? calendarDate(query.get('to'), 'to', today) : today;
      const status = (query.get('status') ?? '').toUpperCase();
      if (status && !['OPEN', 'PAID', 'OVERDUE'].includes(status)) throw bad(`status "${status}" is not OPEN, PAID or OVERDUE`);
      const customer = query.get('customer_number') ?? '';
      const selected = [...books.invoices.values()].filter((inv) => {
        const s = this.statusOf(inv);
        // OPEN includes overdue invoices [docs].
        const statusOk = !status || s === status || (status === 'OPEN' && s === 'OVERDUE');
        return inv.transdate >= from && inv.transdate <= to && statusOk && (!customer || inv.customernumber === customer);
      });
      return { status: 200, root: 'invoices', payload: this.list('invoice', selected.map((inv) => this.invoiceView(books, inv))) };
    }
    if (resource === 'invoices' && id !== undefined && sub === undefined) {
      if (method !== 'GET') throw notAllowed();
      const invoice = books.invoices.get(id);
      if (!invoice) throw new Refusal(404, `invoice "${id}" not found`);
      return { status: 200, root: 'invoice', payload: this.invoiceView(books, invoice) };
    }
    if (resource === 'invoices' && id !== undefined && sub === 'payments' && more.length === 0) {
      if (method !== 'POST') throw notAllowed();
      const payment = this.createPayment(books, id, entity('payment'));
      // "200 Containing the newly posted payment" [docs].
      return { status: 200, root: 'payment', payload: this.paymentView(payment), committed: true };
    }
    if (resource === 'charts' && id === undefined) {
      if (method !== 'GET') throw notAllowed();
      return { status: 200, root: 'charts', payload: this.list('chart', [...this.chart.values()].map((a) => this.chartView(a))) };
    }
    if (resource === 'charts' && id !== undefined && sub === 'transactions' && more.length === 0) {
      if (method !== 'GET') throw notAllowed();
      return { status: 200, root: 'transactions', payload: this.transactions(books, id, query) };
    }
    if (resource === 'gl' && ((id === 'saldo' && sub === undefined) || (id === 'v2' && sub === 'saldo' && more.length === 0))) {
      if (method !== 'GET') throw notAllowed();
      return { status: 200, root: 'table', payload: this.saldo(books, query, id === 'v2' ? 'v2' : 'v1') };
    }
    if (resource === 'belege' && id === undefined) {
      if (method !== 'POST') throw notAllowed();
      return this.upload(books, raw, contentType, record);
    }
    throw new Refusal(404, `there is no resource ${segments.join('/') || '(none)'}`);
  }

  /** `POST …/belege` [docs]: the file in the multipart part `Filedata`, an optional `comment`; 409 for a document uploaded before. */
  private upload(books: Books, raw: Buffer, contentType: string, record: RmaRequestRecord): Answer {
    const parts = multipart(raw, contentType);
    const file = parts.find((p) => p.name === 'Filedata');
    const comment = parts.find((p) => p.name === 'comment')?.data.toString('utf8') ?? '';
    record.body = { fields: parts.map((p) => p.name), file_name: file?.filename ?? null, contentType: file?.contentType ?? null, size: file?.data.length ?? 0, comment };
    if (!file) throw bad('the multipart part "Filedata" with the document is missing');
    if (file.data.length > BELEG_LIMIT) throw new Refusal(413, 'the document is larger than 25 MB');
    if (!ALLOWED_BELEG_TYPES.has(file.contentType)) throw new Refusal(415, `content type ${file.contentType} is not supported (application/pdf, image/png, image/jpg, image/jpeg, image/gif)`);
    const sha256 = createHash('sha256').update(file.data).digest('hex');
    const before = books.belege.find((b) => b.sha256 === sha256);
    if (before) throw new Refusal(409, `this document was uploaded before (id ${before.id}, ${before.file_name})`);
    const beleg: RmaStoredBeleg = {
      id: ++this.ids,
      file_name: file.filename ?? 'document',
      content_type: file.contentType,
      size: file.data.length,
      checksum: String(crc32(file.data)),
      comment,
      date_received: new Date().toISOString(),
      sha256,
    };
    books.belege.push(beleg);
    return {
      status: 200,
      root: 'beleg',
      payload: { id: String(beleg.id), comment: beleg.comment, checksum: beleg.checksum, date_received: beleg.date_received, file_name: beleg.file_name },
      committed: true,
    };
  }

  // ── the wire ──

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const arrival = arrivalOf(this.latencyFrom, this.currentFaults);
    const url = new URL(req.url ?? '/', 'http://emulator');
    const { data: raw, tooLarge } = await readBody(req, BODY_LIMIT);
    if (url.pathname.startsWith('/_control/')) return this.control(req, res, url.pathname, raw);

    const format = formatOf(req);
    const method = req.method ?? 'GET';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const queryKey = url.searchParams.get('api_key');
    const record: RmaRequestRecord = {
      at: new Date(started).toISOString(),
      method,
      url: redactedUrl(url),
      mandant: null,
      auth: bearer ? 'bearer' : queryKey !== null ? 'query' : 'none',
      contentType: req.headers['content-type'] ?? '',
      accept: req.headers.accept ?? '',
      body: null,
      status: 0,
      fault: null,
      error: null,
      durationMs: 0,
    };
    this.requests.push(record);
    this.stats.requests++;
    const isWrite = method === 'POST';
    if (isWrite) this.stats.writes++;
    const finish = (status: number | 'dropped') => {
      record.status = status;
      record.durationMs = Date.now() - started;
      this.stats.byStatus[String(status)] = (this.stats.byStatus[String(status)] ?? 0) + 1;
      this.log?.(`${method} ${record.url} ${status}${record.fault ? ` (${record.fault})` : ''}${record.error ? `: ${record.error}` : ''} ${record.durationMs} ms`);
    };
    const answer = (status: number, body: string | null, headers: Record<string, string> = {}) => {
      finish(status);
      if (res.destroyed) return;
      const h: Record<string, string> = { ...headers };
      if (body !== null) {
        h['content-type'] = format === 'json' ? 'application/json; charset=UTF-8' : 'application/xml; charset=UTF-8';
        h['content-length'] = String(Buffer.byteLength(body));
      }
      res.writeHead(status, h);
      res.end(body ?? undefined);
    };

    const faultTarget = { current: () => this.currentFaults, record, stats: () => this.stats.faults, random: () => this.random(), wait: this.wait, arrival };
    try {
      rateLimitRefusal(this.meter, record);
      const faults = await requestFaults(faultTarget);
      if (tooLarge) throw new Refusal(413, 'the request body is too large');

      const segments = url.pathname.split('/').filter((s) => s !== '').map(decodePathSegment);
      const [api, version, clients, mandant, ...rest] = segments;
      if (api !== 'api' || !version || clients !== 'clients' || !mandant) throw new Refusal(404, `there is no resource ${url.pathname}: paths are /api/{version}/clients/{mandant}/…`);
      record.mandant = mandant;
      // [docs] 403 for a missing or wrong key; a mandant the key does not open is the same to a client.
      const key = bearer ?? queryKey;
      if (!key) throw new Refusal(403, 'Access forbidden: no API key (send Authorization: Bearer KEY or ?api_key=KEY)');
      if (!this.keys.has(mandant) || this.keys.get(mandant) !== key) throw new Refusal(403, `Access forbidden: the API key is not valid for client "${mandant}"`);

      const result = this.route(req, raw, rest, url.searchParams, this.booksOf(mandant), record);
      await answerTime(faultTarget);
      if (result.committed) {
        this.stats.committed++;
        if (commitFaults(faults, faultTarget, req, finish)) return;
      }
      answer(result.status, result.payload === undefined ? null : render(format, result.root!, result.payload));
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal(500, `emulator failure: ${(error as Error).message}`);
      record.error = refusal.message;
      await answerTime(faultTarget);
      answer(refusal.status, renderError(format, refusal.message), refusal.headers);
    }
  }

  /** `/_control/…`: faults and state for other processes (no key: the sandbox listens on loopback). */
  private control(req: IncomingMessage, res: ServerResponse, path: string, raw: Buffer): void {
    const reply = controlReplier(res, 'application/json; charset=UTF-8');
    try {
      const faults = faultsControl(req, path, raw, this);
      if (faults) return reply(faults.status, faults.value);
      if (path === '/_control/state' && req.method === 'GET') {
        const books = Object.fromEntries(
          this.mandants.map((m) => [m, { ledger: this.ledger(m), invoices: this.booksOf(m).invoices.size, customers: this.booksOf(m).customers.size, payments: this.booksOf(m).payments.length }]),
        );
        return reply(200, { mandants: this.mandants, books, faults: this.faults, stats: this.stats });
      }
      if (path === '/_control/rate-limit') {
        if (req.method === 'POST' || req.method === 'PUT') {
          const value: unknown = raw.length === 0 ? null : JSON.parse(raw.toString('utf8'));
          this.rateLimit = checkRateLimit(value);
        } else if (req.method !== 'GET') {
          return reply(405, { error: 'GET or POST /_control/rate-limit' });
        }
        return reply(200, { limit: this.rateLimit, stats: this.stats.rate });
      }
      if (path === '/_control/reset' && req.method === 'POST') {
        this.reset();
        return reply(204, undefined);
      }
      return reply(404, { error: `no control resource ${req.method} ${path} (GET/POST /_control/faults, GET/POST /_control/rate-limit, GET /_control/state, POST /_control/reset)` });
    } catch (error) {
      return reply(400, { error: (error as Error).message });
    }
  }
}

/** The request's path and query with `api_key` redacted: no key in any log. */
function redactedUrl(url: URL): string {
  const query = url.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => (/^api_key(=|$)/i.test(pair) ? 'api_key=[REDACTED]' : pair));
  return `${url.pathname}${query.length > 0 ? `?${query.join('&')}` : ''}`;
}

/**
 * Start a Run my Accounts emulator on loopback. Resolves once it listens; `url` is then the base
 * URL the paths of requests.ts (`/api/latest/clients/{mandant}/…`) are appended to.
 */
export async function startRunMyAccounts(options: RmaEmulatorOptions = {}): Promise<RmaEmulator> {
  const emulator = new RunMyAccountsEmulator(options);
  await emulator.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return emulator;
}
