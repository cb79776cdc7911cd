/**
 * The Run my Accounts target: delivers kontor's documents with the requests of requests.ts
 * through RunMyAccountsClient, and answers deliver.ts's questions (has RMA got it? what is
 * on the transfer account?). Reference: shared/reference/runmyaccounts.md, §12 idempotency.
 *
 * Per document kind:
 *
 * - customer (E1/E2): `POST /customers`, RMA's create-or-update, safe to repeat (sent as
 *   idempotent). externalId = customernumber. lookup: GET /customers/{n}; found with every
 *   field kontor sends equal → delivered, otherwise null (sending the upsert again is harmless).
 * - invoice, credit note, storno (A1–A8, B1/B2, C2/C3): `POST /invoices`. externalId = invnumber.
 *   `invnumber` is RMA's natural key and unique there, so a document is never booked twice:
 *   - a send whose outcome is unknown (RmaInDoubtError: the connection dropped after the body
 *     went out, a timeout, a 5xx) is looked up at once with GET /invoices/{invnumber}: found
 *     with the same amount → delivered, no second POST; not there → RetriableError (sent
 *     again later, after a GET first); the GET failing too → in-doubt, and deliver.ts calls
 *     lookup() before anything is sent again;
 *   - a 400 is followed by the same lookup, because RMA's message for a duplicate invnumber
 *     is not documented (reference §14.2): found with the same amount → delivered; not there
 *     → the 400 stands (PermanentError with RMA's message);
 *   - found with another amount → PermanentError: the number is taken by another document.
 *   Article variant: every part number is checked against GET /parts (cached, `partsTtlMs`)
 *   first; an unknown part refuses the document (RmaUnknownPartError, naming the parts).
 * - payment (D1–D5, the storno's transfers): `POST /invoices/{invnumber}/payments`.
 *   externalId = the invoice's invnumber (RMA gives payments no id). [inferred] RMA has no
 *   payment ids and no idempotency key (§12), so a payment is identified by what it does to
 *   the invoice's `paid` amount (option name: the "paid-delta" check):
 *   1. the baseline: with `paymentBaseline: 'ledger'` (the default, reference §12's "keep your
 *      own ledger of posted payments"), the sum of this invoice's payments kontor delivered (the
 *      `paidBefore` hook), taken only when it is needed, so a payment is one POST; with `'read'`,
 *      a GET /invoices/{invnumber} before each POST, whose `paid` is remembered;
 *   2. when the outcome is unknown, GET: `paid` = baseline + amount → delivered;
 *      `paid` = baseline → not booked (yet): it stays in-doubt, so that a POST still in
 *      flight at RMA has time to land before deliver.ts looks again and resends; anything
 *      else (someone else booked a payment meanwhile) → in-doubt for a person to check;
 *   3. lookup() compares with the baseline remembered in this process, else the one the
 *      `paidBefore` hook supplies (e.g. the sum of this invoice's payments kontor delivered),
 *      else it can only say "not booked" when `paid` is 0, and leaves the entry in-doubt
 *      otherwise (it ends dead with "check the target before retrying").
 *   Sending an in-doubt payment again is therefore never decided without a fresh GET.
 *
 * A 401/403 (RmaCredentialError) stops the target: it is logged once at error level as an
 * alert, and every later call throws it again without contacting RMA, until kontor restarts
 * with a fixed key (the configuration is read only at start).
 *
 * Inferred choices, as options with the reference's recommended default:
 * `amountSign` (`signed`: RMA reports credit notes and their payments with negative amounts,
 * as sent; `absolute`: compare magnitudes), `saldoSign` (`as-reported`: gl/v2/saldo's amount
 * is debit-positive for an asset account such as 1090, as the docs' "Kasse 23.80" suggests;
 * `negated`), `checkParts` (true), `partsTtlMs` (10 minutes), plus the client's `auth` and
 * `format` and the builder's `entryLists`, `partAccounts`, `orderNumber`.
 */
import {
  currencyExponent,
  formatDecimal,
  formatDocumentKey,
  minor,
  parseDecimal,
  sum,
  type BookDocument,
  type CustomerDocument,
  type Minor,
  type PaymentDocument,
  type SalesDocument,
  ZERO,
} from '../../books/index.js';
import { PermanentError, RetriableError } from '../../errors.js';
import type { Delivered, TargetAdapter } from '../types.js';
import { describeDocument as describe } from '../documents.js';
import { asList, RmaCredentialError, RmaInDoubtError, RmaNotFoundError, RmaRejectedError, type RmaInvoice, type RmaLog, type RunMyAccountsClient } from './client.js';
import { RmaPayloadError, rmaRequestsFor, type RmaRequest, type RmaRequestOptions } from './requests.js';

export interface RunMyAccountsTargetOptions {
  name: string;
  client: RunMyAccountsClient;
  /** The request builder's options (mandant and the inferred shapes); see requests.ts. */
  requests: RmaRequestOptions;
  /** The transfer account whose balance transferBalance() reads (config `transfer_account`). Default 1090. */
  transferAccount?: string;
  /** Check article-variant part numbers against GET /parts before sending. Default true. */
  checkParts?: boolean;
  /** How long the list of GET /parts is reused. Default 10 minutes. */
  partsTtlMs?: number;
  /** [inferred] How amounts read back are compared with kontor's signed amounts. Default `signed`. */
  amountSign?: 'signed' | 'absolute';
  /** [inferred] The sign of gl/v2/saldo's amount in transferBalance(). Default `as-reported`. */
  saldoSign?: 'as-reported' | 'negated';
  /**
   * What the invoice's `paid` was before `doc` was sent, when this process has not seen it
   * itself (after a restart); null when unknown. See the header, payments step 3.
   */
  paidBefore?: (doc: PaymentDocument) => Promise<Minor | null>;
  /**
   * [inferred] Where a payment's baseline comes from (see the header, payments step 1):
   * `ledger` (kontor's delivered payments, no GET before the POST) or `read` (a GET before
   * each POST: a payment booked by hand in RMA while a send is in doubt is then told apart).
   * Default `ledger`; without a `paidBefore` hook it is `read`.
   */
  paymentBaseline?: 'ledger' | 'read';
  log?: RmaLog;
  /** For tests: the clock of the parts cache. */
  now?: () => number;
}

/** An article-variant document names parts that RMA does not know. */
export class RmaUnknownPartError extends PermanentError {
  override name = 'RmaUnknownPartError';
  constructor(
    message: string,
    readonly parts: string[],
  ) {
    super(message);
  }
}

/**
 * What an invoice at RMA must show to be `doc`. The gross `amount`, except in the article
 * variant with net prices (taxincluded=false): there RMA computes the VAT itself from the part
 * master, per VAT account on the sum of its lines [docs + inferred], which may differ by a
 * centime per account from kontor's VAT (the mapping's `vat.rounding`), while the net
 * (`netamount` = Σ quantity × sellprice) is exactly what kontor sent. With gross prices
 * (taxincluded=true) the gross is Σ quantity × sellprice and is compared.
 */
function comparedAmount(doc: SalesDocument): { field: 'amount' | 'netamount'; amount: Minor } {
  if (doc.variant === 'article' && !doc.pricesIncludeVat) return { field: 'netamount', amount: minor(doc.total - sum(doc.tax.map((t) => t.amount))) };
  return { field: 'amount', amount: doc.total };
}

export class RunMyAccountsTarget implements TargetAdapter {
  readonly type = 'runmyaccounts';
  readonly name: string;
  readonly client: RunMyAccountsClient;
  private readonly requestOptions: RmaRequestOptions;
  private readonly transferAccount: string;
  private readonly baseCurrency: string;
  private readonly checkParts: boolean;
  private readonly partsTtlMs: number;
  private readonly amountSign: 'signed' | 'absolute';
  private readonly saldoSign: 'as-reported' | 'negated';
  private readonly paidBeforeHook: RunMyAccountsTargetOptions['paidBefore'];
  private readonly paymentBaseline: 'ledger' | 'read';
  private readonly log: RmaLog | undefined;
  private readonly now: () => number;
  /** Set by the first 401/403: the target sends nothing more. */
  private stopped: RmaCredentialError | null = null;
  private partsCache: { at: number; parts: Set<string> } | null = null;
  /** Sales documents whose last send ended with an unknown outcome: GET before the next POST. */
  private readonly uncertain = new Set<string>();
  /** Payment baselines: the invoice's `paid` before the payment's last send. */
  private readonly baselines = new Map<string, Minor | null>();

  constructor(options: RunMyAccountsTargetOptions) {
    this.name = options.name;
    this.client = options.client;
    this.requestOptions = options.requests;
    this.transferAccount = options.transferAccount ?? '1090';
    this.baseCurrency = options.requests.baseCurrency ?? 'CHF';
    this.checkParts = options.checkParts ?? true;
    this.partsTtlMs = options.partsTtlMs ?? 600_000;
    this.amountSign = options.amountSign ?? 'signed';
    this.saldoSign = options.saldoSign ?? 'as-reported';
    this.paidBeforeHook = options.paidBefore;
    this.paymentBaseline = options.paidBefore ? (options.paymentBaseline ?? 'ledger') : 'read';
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /** The requests `doc` becomes, in order; a document RMA cannot express is refused for good. */
  requestsFor(doc: BookDocument): RmaRequest[] {
    try {
      return rmaRequestsFor(doc, this.requestOptions);
    } catch (error) {
      if (error instanceof RmaPayloadError) throw new PermanentError(`${describe(doc)}: ${error.message}`);
      throw error;
    }
  }

  async deliver(doc: BookDocument): Promise<Delivered> {
    return this.guard(async () => {
      const requests = this.requestsFor(doc);
      switch (doc.kind) {
        case 'customer':
          for (const request of requests) await this.client.send(request, { idempotent: true });
          return { externalId: doc.number };
        case 'payment':
          return this.deliverPayment(doc, requests[0]!);
        default:
          return this.deliverSales(doc, requests[0]!);
      }
    });
  }

  async lookup(doc: BookDocument): Promise<Delivered | null> {
    return this.guard(async () => {
      switch (doc.kind) {
        case 'customer':
          return this.lookupCustomer(doc);
        case 'payment':
          return this.lookupPayment(doc);
        default: {
          const found = await this.findSales(doc);
          if (found) this.uncertain.delete(formatDocumentKey(doc.key));
          return found;
        }
      }
    });
  }

  /** The transfer account's balance from gl/v2/saldo, in the bookkeeping main currency. */
  async transferBalance(): Promise<Record<string, Minor>> {
    return this.guard(async () => {
      const rows = await this.client.saldo(this.transferAccount);
      const row = rows.find((r) => r.accountnumber === this.transferAccount);
      // Saldo amounts carry four decimals ("23.8000").
      const amount = row ? parseDecimal(row.amount, currencyExponent(this.baseCurrency), { rounding: 'half-even' }) : ZERO;
      return { [this.baseCurrency]: this.saldoSign === 'negated' ? minor(-amount) : amount };
    });
  }

  /** Forget the cached GET /parts, e.g. after parts were created in RMA. */
  forgetParts(): void {
    this.partsCache = null;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // ── sales documents ──────────────────────────────────────────────────────────────────

  private async deliverSales(doc: SalesDocument, request: RmaRequest): Promise<Delivered> {
    const key = formatDocumentKey(doc.key);
    const what = describe(doc);
    if (doc.variant === 'article' && this.checkParts) await this.assertPartsKnown(doc, request);
    if (this.uncertain.has(key)) {
      // A retry of a send whose outcome was unknown: RMA may have it already.
      const found = await this.findSales(doc);
      if (found) {
        this.uncertain.delete(key);
        this.log?.info(`${what}: found at Run my Accounts by the lookup before resending; not sent again`);
        return found;
      }
    }
    try {
      await this.client.send(request);
      this.uncertain.delete(key);
      return { externalId: doc.number };
    } catch (error) {
      if (error instanceof RmaRejectedError) return this.afterRejection(doc, error);
      if (!(error instanceof RmaInDoubtError)) throw error;
      this.uncertain.add(key);
      this.log?.warn(`${what}: outcome unknown (${error.message}); looking it up`);
      let found: Delivered | null;
      try {
        found = await this.findSales(doc);
      } catch (lookupError) {
        if (lookupError instanceof PermanentError || lookupError instanceof RmaCredentialError) throw lookupError;
        throw error;
      }
      if (found) {
        this.uncertain.delete(key);
        this.log?.info(`${what}: Run my Accounts has it (found by the lookup after the failed send); not sent again`);
        return found;
      }
      throw new RetriableError(`${error.message}; Run my Accounts does not have ${what}, so it will be sent again (after another lookup)`);
    }
  }

  /** A 400: a duplicate of what we sent (delivered), a number taken by another document, or a real refusal. */
  private async afterRejection(doc: SalesDocument, rejection: RmaRejectedError): Promise<Delivered> {
    let found: Delivered | null;
    try {
      found = await this.findSales(doc);
    } catch (lookupError) {
      if (lookupError instanceof PermanentError || lookupError instanceof RmaCredentialError) throw lookupError;
      throw new RetriableError(`${rejection.message}; whether it is a duplicate could not be checked: ${lookupError instanceof Error ? lookupError.message : String(lookupError)}`);
    }
    if (!found) throw rejection;
    this.uncertain.delete(formatDocumentKey(doc.key));
    this.log?.info(`${describe(doc)}: Run my Accounts refused it as sent before ("${rejection.rmaMessage}") and has it with the same amount; recorded as delivered`);
    return found;
  }

  /**
   * GET /invoices/{invnumber}: null when RMA does not have it; delivered when it has it with
   * the document's amount (and currency); PermanentError when the number belongs to another one.
   */
  private async findSales(doc: SalesDocument): Promise<Delivered | null> {
    const invoice = await this.client.getInvoice(doc.number);
    if (!invoice) return null;
    const what = describe(doc);
    const c = doc.currency;
    if (invoice.currency && String(invoice.currency) !== c) {
      throw new PermanentError(`${what}: Run my Accounts already has invoice number ${doc.number} in ${String(invoice.currency)}, not ${c}: the number belongs to another document`);
    }
    const expected = comparedAmount(doc);
    const amount = this.amountOf(invoice, expected.field, c);
    if (amount === null) {
      this.log?.warn(`${what}: Run my Accounts has invoice number ${doc.number} but shows no ${expected.field} to compare; taken as delivered`);
      return { externalId: doc.number };
    }
    if (this.norm(amount) !== this.norm(expected.amount)) {
      throw new PermanentError(
        `${what}: Run my Accounts already has invoice number ${doc.number} with ${expected.field} ${c} ${formatDecimal(amount, currencyExponent(c))}, but this document's ${expected.field === 'amount' ? 'total' : 'net total'} is ${formatDecimal(expected.amount, currencyExponent(c))}: the number belongs to another document`,
      );
    }
    return { externalId: doc.number };
  }

  private async assertPartsKnown(doc: SalesDocument, request: RmaRequest): Promise<void> {
    const parts = (request.body as { parts?: { part?: unknown } | unknown[] } | null)?.parts;
    const rows = asList<{ partnumber?: unknown }>(Array.isArray(parts) ? parts : parts?.part);
    const numbers = [...new Set(rows.map((r) => String(r.partnumber ?? '')))];
    const known = await this.knownParts();
    const missing = numbers.filter((n) => !known.has(n));
    if (missing.length > 0) {
      throw new RmaUnknownPartError(
        `${describe(doc)}: part${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} not defined in Run my Accounts (GET /parts); create ${missing.length > 1 ? 'them' : 'it'} there or fix the mapping's article numbers, then replay`,
        missing,
      );
    }
  }

  private async knownParts(): Promise<Set<string>> {
    const now = this.now();
    if (!this.partsCache || now - this.partsCache.at >= this.partsTtlMs) {
      const parts = await this.client.parts();
      this.partsCache = { at: now, parts: new Set(parts.map((p) => p.partnumber)) };
    }
    return this.partsCache.parts;
  }

  // ── payments ─────────────────────────────────────────────────────────────────────────

  private async deliverPayment(doc: PaymentDocument, request: RmaRequest): Promise<Delivered> {
    const key = formatDocumentKey(doc.key);
    const what = describe(doc);
    if (this.baselines.has(key)) {
      // A retry of a send whose outcome was unknown: look before sending again.
      const found = await this.lookupPayment(doc);
      if (found) return found;
    }
    const noInvoice = () => new RetriableError(`${what}: Run my Accounts has no invoice ${doc.appliesTo} (yet) to book it on`);
    if (this.paymentBaseline === 'read') {
      const invoice = await this.client.getInvoice(doc.appliesTo);
      if (!invoice) throw noInvoice();
      this.baselines.set(key, this.amountOf(invoice, 'paid', doc.currency));
    }
    try {
      await this.client.send(request);
      this.baselines.delete(key);
      return { externalId: doc.appliesTo };
    } catch (error) {
      if (!(error instanceof RmaInDoubtError)) {
        this.baselines.delete(key);
        // Without the GET first, a missing invoice shows as the POST's 404.
        if (error instanceof RmaNotFoundError) throw noInvoice();
        throw error;
      }
      this.log?.warn(`${what}: outcome unknown (${error.message}); comparing the paid amount of invoice ${doc.appliesTo}`);
      let found: Delivered | null;
      try {
        found = await this.lookupPayment(doc);
      } catch (lookupError) {
        if (lookupError instanceof RmaCredentialError) throw lookupError;
        if (lookupError instanceof RmaInDoubtError) throw new RmaInDoubtError(`${error.message}; ${lookupError.message}`);
        throw new RmaInDoubtError(`${error.message}; the check afterwards failed too: ${lookupError instanceof Error ? lookupError.message : String(lookupError)}`);
      }
      if (found) {
        this.log?.info(`${what}: the paid amount of invoice ${doc.appliesTo} grew by the payment; recorded as delivered, not sent again`);
        return found;
      }
      // Not booked as far as RMA shows now; the POST may still land: look again before resending.
      throw new RmaInDoubtError(`${error.message}; invoice ${doc.appliesTo} shows no such payment yet, kontor looks again before sending it again`);
    }
  }

  /** See the header, payments: null = not booked, delivered = booked, RmaInDoubtError = cannot tell. */
  private async lookupPayment(doc: PaymentDocument): Promise<Delivered | null> {
    const key = formatDocumentKey(doc.key);
    const what = describe(doc);
    const c = doc.currency;
    const invoice = await this.client.getInvoice(doc.appliesTo);
    if (!invoice) return null;
    const paid = this.amountOf(invoice, 'paid', c);
    const f = (a: Minor) => `${c} ${formatDecimal(a, currencyExponent(c))}`;
    if (paid === null) throw new RmaInDoubtError(`${what}: invoice ${doc.appliesTo} at Run my Accounts shows no paid amount, so whether the payment was booked cannot be told; check it there`);
    let before = this.baselines.has(key) ? this.baselines.get(key)! : null;
    if (before === null && this.paidBeforeHook) before = await this.paidBeforeHook(doc);
    if (before === null) {
      if (paid === 0) return null;
      throw new RmaInDoubtError(
        `${what}: cannot tell whether the payment of ${f(doc.amount)} was booked: Run my Accounts gives payments no id, invoice ${doc.appliesTo} shows ${f(paid)} paid, and what it showed before the send is not known; check the invoice there, then skip or replay this entry`,
      );
    }
    if (this.norm(paid) - this.norm(before) === this.norm(doc.amount)) {
      this.baselines.delete(key);
      return { externalId: doc.appliesTo };
    }
    if (this.norm(paid) === this.norm(before)) return null;
    throw new RmaInDoubtError(
      `${what}: invoice ${doc.appliesTo} shows ${f(paid)} paid, ${f(before)} before the send: that is neither with nor without this payment of ${f(doc.amount)}; check the invoice in Run my Accounts`,
    );
  }

  // ── customers ────────────────────────────────────────────────────────────────────────

  private async lookupCustomer(doc: CustomerDocument): Promise<Delivered | null> {
    const stored = await this.client.getCustomer(doc.number);
    if (!stored) return null;
    const sent = this.requestsFor(doc)[0]!.body ?? {};
    const same = Object.entries(sent).every(([k, v]) => String(stored[k] ?? '') === String(v ?? ''));
    // A customer that differs is simply sent again: the POST is RMA's create-or-update.
    return same ? { externalId: doc.number } : null;
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────

  /** An amount field of an RMA invoice in minor units (RMA may send more decimals); null when absent. */
  private amountOf(invoice: RmaInvoice, field: 'amount' | 'netamount' | 'paid', currency: string): Minor | null {
    const value = invoice[field];
    if (value === undefined || value === null || value === '') return null;
    try {
      return parseDecimal(String(value), currencyExponent(currency), { rounding: 'half-even' });
    } catch {
      throw new RmaInDoubtError(`invoice ${invoice.invnumber} at Run my Accounts has an unreadable ${field} "${String(value)}"`);
    }
  }

  private norm(amount: number): number {
    return this.amountSign === 'absolute' ? Math.abs(amount) : amount;
  }

  /** Runs `fn` unless the target is stopped; a credential error stops it (logged once, as an alert). */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopped) throw new RmaCredentialError(`target ${this.name} is stopped until its API key is fixed and kontor restarted: ${this.stopped.message}`, this.stopped.status);
    try {
      return await fn();
    } catch (error) {
      if (error instanceof RmaCredentialError && !this.stopped) {
        this.stopped = error;
        this.log?.error(`ALERT: target ${this.name} stopped: ${error.message}. Nothing more is sent to Run my Accounts until the key is fixed and kontor restarted.`);
      }
      throw error;
    }
  }
}
