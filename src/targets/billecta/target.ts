/**
 * The Billecta target: delivers kontor's documents with the requests of requests.ts through
 * BillectaClient, replacing their placeholders with the ids Billecta answers, and answers
 * deliver.ts's questions. Reference: shared/reference/billecta.md (§3 endpoints, §7 quirks).
 *
 * Per document kind (externalId in brackets):
 *
 * - customer [DebtorPublicId]: GET debtorbyexternalid; none → POST /v1/debtors/debtor; one →
 *   PUT /v1/debtors/debtor (the stored DebtorView with kontor's fields and its DebtorPublicId)
 *   when a field kontor sends differs, else nothing. A 400 on the look-up means several debtors
 *   share the DebtorExternalId [code]: refused (PermanentError), never a third one created.
 * - invoice [ActionPublicId]: products looked up by ProductExternalId, created when missing, PUT
 *   when their accounts or VAT differ; POST /v1/invoice/action → CreatedView.PublicId; PUT
 *   /v1/invoice/attest/{id}. An order a provider collected (mapping `paid_orders:
 *   verification`, hook `collectedOn`) is POST /v1/invoice/verificationinvoice instead, no attest.
 * - credit note [ActionPublicId]: as an invoice, ActionType CreditInvoiceAction, with
 *   `CreditingInvoicePublicId` = the credited invoice's ActionPublicId, found in this process's
 *   memory, else through the `actionIdOf` hook (the external id kontor's outbox recorded for
 *   it), else by the search below; not found → RetriableError (its invoice comes first). The
 *   credit note of an invoice a provider collected (`collectedOn` of the credited invoice) is a
 *   negative verification invoice instead (INFERRED: Billecta cannot credit a verification
 *   invoice), POST /v1/invoice/verificationinvoice on the same clearing account, no attest.
 * - payment [the CreatedView's PublicId if Billecta answers one, else the invoice's
 *   ActionPublicId]: POST /v1/invoice/payment on the invoice's ActionPublicId. A payment of a
 *   collected order sends nothing (the verification invoice is closed on creation), nor does the
 *   refund paid back on a negative verification invoice (a credit note booked so in this process,
 *   else one whose recorded ActionPublicId Billecta shows as a VerificationInvoiceAction).
 * - storno: refused (Billecta has none; requests.ts says why).
 *
 * Finding an invoice again (after a lost answer, a 403 "already done", a restart): Billecta
 * has no look-up by ExternalReference, and its list rows carry none (§4.6). So: this process's
 * memory; else the open list (GET /v1/invoice/open/{creditor}) and the closed list since the
 * document's date (GET /v1/invoice/closed/{creditor}?from&to), rows whose YourReference is the
 * order number and whose ActionType fits, each read (GET /v1/invoice/action/{id}) until one's
 * ExternalReference is the document key. INFERRED: verification invoices appear in these lists
 * and are read by the same GET.
 *
 * Idempotency, three layers (§7.2): ids kept in memory per document key; the look-ups above
 * before any resend of a write whose outcome is unknown (BillectaInDoubtError); and the
 * UniqueApiCallId of every write (requests.ts), whose 403 (BillectaAlreadyDoneError) makes the
 * target look the object up and record it without a second create. A draft found unattested is
 * attested, not created again. A payment cannot be found by reference (Billecta lists none):
 * one not seen in this process is looked for on its invoice instead, whose PaidAmount and
 * WriteOffAmount must cover kontor's delivered payments on it plus this one (findPayment); if
 * they do not, it is sent again with the same UniqueApiCallId, which Billecta refuses as a
 * duplicate [brief].
 *
 * Currencies: before the first document in a currency, GET /v1/currencies/currencies (once)
 * must list it with the decimals kontor uses (ISO 4217, books/currency.ts); otherwise every
 * AmountView would be off by a power of ten: PermanentError.
 *
 * transferBalance() answers {}: Billecta has no transfer account. A credit invoice reduces the
 * invoice it credits by itself, and stornos (the only users of the transfer account) are refused.
 *
 * A credential error stops the target: logged once as an alert, every later call throws it
 * again without contacting Billecta, until kontor restarts with fixed credentials.
 */
import { currencyExponent, formatDocumentKey, type BookDocument, type CustomerDocument, type Minor, type PaymentDocument, type SalesDocument } from '../../books/index.js';
import { PermanentError, RetriableError } from '../../errors.js';
import type { Delivered, TargetAdapter } from '../types.js';
import { describeDocument as describe } from '../documents.js';
import {
  BillectaAlreadyDoneError,
  BillectaCredentialError,
  BillectaInDoubtError,
  BillectaNotFoundError,
  BillectaRejectedError,
  type BillectaClient,
  type BillectaLog,
} from './client.js';
import { BillectaPayloadError, billectaDebtorUpdate, billectaProductUpdate, billectaRequestsFor, resolveBillectaPlaceholders, type BillectaPlaceholderKind, type BillectaRequest, type BillectaRequestOptions } from './requests.js';

export interface BillectaTargetOptions {
  name: string;
  client: BillectaClient;
  /** The request builder's options, `collected` left out: it comes from `collectedOn`. */
  requests: Omit<BillectaRequestOptions, 'collected'>;
  /** The clearing account a provider collected invoice `number` on, or null (when `paidOrders` is verification). */
  collectedOn?: (invoiceNumber: string) => Promise<string | null>;
  /** The ActionPublicId kontor recorded for its invoice or credit note `number` (its delivered outbox entry), or null. */
  actionIdOf?: (number: string) => Promise<string | null>;
  /**
   * What kontor's other delivered payment documents settled on the invoice `doc` applies to
   * (signed minor units), or null when unknown: with it, a payment whose outcome is unknown is
   * looked up on the invoice's PaidAmount and WriteOffAmount before it is sent again.
   */
  paidBefore?: (doc: PaymentDocument) => Promise<Minor | null>;
  /** Check the currency's decimals against GET /v1/currencies/currencies. Default true. */
  checkCurrencies?: boolean;
  log?: BillectaLog;
  /** For tests: today, for the closed-invoice search. */
  now?: () => number;
}

type Json = Record<string, unknown>;

interface FoundAction {
  id: string;
  stage: string;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

/** A CreatedView's PublicId (or a bare id). [code, low confidence] Several ids joined by ";" for split invoices: the first. */
function publicIdOf(body: unknown): string {
  const raw = isObject(body) ? str(body.PublicId) : typeof body === 'string' ? body : '';
  return raw.split(';')[0]!.trim();
}

/** An AmountView's Value (minor units [schema]) in `currency`; 0 when absent or in another currency. */
function minorValue(view: unknown, currency: string): number {
  if (!isObject(view) || (view.CurrencyCode !== undefined && view.CurrencyCode !== currency)) return 0;
  const value = Number(view.Value);
  return Number.isSafeInteger(value) ? value : 0;
}

/** Whether what Billecta stores has every field kontor sends, equal (null and '' alike). */
function sameFields(sent: Json, stored: Json, fields = Object.keys(sent)): boolean {
  return fields.every((k) => {
    const a = sent[k];
    const b = stored[k];
    if (a === null || a === undefined || a === '') return b === null || b === undefined || b === '';
    return typeof a === 'number' ? Number(b) === a : str(a) === str(b);
  });
}

export class BillectaTarget implements TargetAdapter {
  readonly type = 'billecta';
  readonly name: string;
  readonly client: BillectaClient;
  private readonly options: Omit<BillectaRequestOptions, 'collected'>;
  private readonly creditor: string;
  private readonly collectedOn: BillectaTargetOptions['collectedOn'];
  private readonly actionIdOf: BillectaTargetOptions['actionIdOf'];
  private readonly paidBefore: BillectaTargetOptions['paidBefore'];
  private readonly checkCurrencies: boolean;
  private readonly log: BillectaLog | undefined;
  private readonly now: () => number;
  private stopped: BillectaCredentialError | null = null;
  /** Ids Billecta assigned, as far as this process saw them. */
  private readonly debtorIds = new Map<string, string>();
  private readonly productIds = new Map<string, string>();
  /** ActionPublicId by document key, and by kontor's document number. */
  private readonly actionsByKey = new Map<string, string>();
  private readonly actionsByNumber = new Map<string, string>();
  /** Documents whose last write had an unknown outcome: look up before writing again. */
  private readonly uncertain = new Set<string>();
  /** Payments Billecta took in this process (document key → externalId). */
  private readonly payments = new Map<string, string>();
  private readonly checkedCurrencies = new Set<string>();
  /** Numbers of kontor's documents this process booked as (possibly negative) verification invoices. */
  private readonly verificationNumbers = new Set<string>();

  constructor(options: BillectaTargetOptions) {
    this.name = options.name;
    this.client = options.client;
    this.options = options.requests;
    this.creditor = options.requests.creditorPublicId;
    this.collectedOn = options.collectedOn;
    this.actionIdOf = options.actionIdOf;
    this.paidBefore = options.paidBefore;
    this.checkCurrencies = options.checkCurrencies ?? true;
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /** The requests `doc` becomes, in order; a document Billecta cannot take is refused for good. */
  async requestsFor(doc: BookDocument): Promise<BillectaRequest[]> {
    let collected: Map<string, string> | Set<string> | undefined;
    if (this.options.paidOrders === 'verification' && this.collectedOn && doc.kind !== 'customer' && doc.kind !== 'storno') {
      // An invoice: was it collected? A credit note: was the invoice it credits (then it is a
      // negative verification invoice on the same clearing account)? A payment: of either.
      const number = doc.kind === 'invoice' ? doc.number : doc.kind === 'credit-note' ? doc.credits : doc.appliesTo;
      const clearing = await this.collectedOn(number);
      if (clearing) collected = new Map([[number, clearing]]);
      else if (doc.kind === 'payment' && (await this.isVerification(doc.appliesTo))) collected = new Set([doc.appliesTo]);
    }
    try {
      return billectaRequestsFor(doc, { ...this.options, ...(collected ? { collected } : {}) });
    } catch (error) {
      if (error instanceof BillectaPayloadError) throw new PermanentError(`${describe(doc)}: ${error.message}`);
      throw error;
    }
  }

  async deliver(doc: BookDocument): Promise<Delivered> {
    return this.guard(async () => {
      const requests = await this.requestsFor(doc);
      if (doc.kind !== 'customer') await this.assertCurrency(doc.currency, describe(doc));
      switch (doc.kind) {
        case 'customer':
          return this.deliverCustomer(doc, requests);
        case 'payment':
          return this.deliverPayment(doc, requests);
        default:
          return this.deliverSales(doc, requests);
      }
    });
  }

  async lookup(doc: BookDocument): Promise<Delivered | null> {
    return this.guard(async () => {
      switch (doc.kind) {
        case 'customer': {
          const requests = await this.requestsFor(doc);
          const stored = await this.findDebtor(doc.number);
          if (!stored) return null;
          const id = str(stored.DebtorPublicId);
          this.debtorIds.set(doc.number, id);
          return sameFields(requests[1]!.body ?? {}, stored) ? { externalId: id } : null;
        }
        case 'payment': {
          const done = this.payments.get(formatDocumentKey(doc.key)) ?? (await this.findPayment(doc));
          return done ? { externalId: done } : null;
        }
        default: {
          const found = await this.findAction(doc);
          if (!found) return null;
          this.remember(doc, found.id);
          // A draft is not delivered: deliver() attests it (without creating another).
          if (found.stage === 'Created') return null;
          this.uncertain.delete(formatDocumentKey(doc.key));
          return { externalId: found.id };
        }
      }
    });
  }

  /** Billecta has no transfer account (see the header): nothing to balance. */
  async transferBalance(): Promise<Record<string, Minor>> {
    return {};
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // ── customers ────────────────────────────────────────────────────────────────────────

  private async deliverCustomer(doc: CustomerDocument, requests: BillectaRequest[]): Promise<Delivered> {
    const create = requests.find((r) => r.method === 'POST')!;
    const id = await this.upsertDebtor(doc.number, create, formatDocumentKey(doc.key));
    return { externalId: id };
  }

  /** GET debtorbyexternalid: the stored DebtorView, or null. A 400: several share the id. */
  private async findDebtor(externalId: string): Promise<Json | null> {
    let body: unknown;
    try {
      body = await this.client.lookup(`/v1/debtors/debtorbyexternalid/${encodeURIComponent(this.creditor)}?externalid=${encodeURIComponent(externalId)}`);
    } catch (error) {
      if (error instanceof BillectaRejectedError && error.status === 400) {
        throw new PermanentError(
          `several debtors in Billecta share DebtorExternalId "${externalId}" (the look-up answers HTTP 400${error.billectaMessage ? `: ${error.billectaMessage}` : ''}); kontor will not create another: merge them or give all but one another external id in Billecta, then replay`,
        );
      }
      throw error;
    }
    return isObject(body) && str(body.DebtorPublicId) !== '' ? body : null;
  }

  private async upsertDebtor(number: string, create: BillectaRequest, docKey: string): Promise<string> {
    const body = create.body ?? {};
    const stored = await this.findDebtor(number);
    if (stored) {
      const id = str(stored.DebtorPublicId);
      if (!sameFields(body, stored)) {
        const update = billectaDebtorUpdate(stored, create, this.creditor, docKey);
        await this.write(update, async () => id);
      }
      this.debtorIds.set(number, id);
      return id;
    }
    const id = await this.write(create, async () => {
      const again = await this.findDebtor(number);
      return again ? str(again.DebtorPublicId) : null;
    });
    this.debtorIds.set(number, id);
    return id;
  }

  /** The DebtorPublicId of customer `number`: memory, else the look-up; its customer document must come first. */
  private async debtorId(number: string): Promise<string> {
    const known = this.debtorIds.get(number);
    if (known) return known;
    const stored = await this.findDebtor(number);
    if (!stored) throw new RetriableError(`debtor ${number} is not in Billecta yet (its customer document is delivered first)`);
    const id = str(stored.DebtorPublicId);
    this.debtorIds.set(number, id);
    return id;
  }

  // ── products ─────────────────────────────────────────────────────────────────────────

  private async findProduct(externalId: string): Promise<Json | null> {
    const body = await this.client.lookup(`/v1/products/productbyexternalid/${encodeURIComponent(this.creditor)}?externalid=${encodeURIComponent(externalId)}`);
    // "Not found" may be a 404 or an answer with an empty ProductPublicId [code].
    return isObject(body) && str(body.ProductPublicId) !== '' ? body : null;
  }

  /** Look up, then (when a create request follows) create or correct the product; its id. */
  private async upsertProduct(externalId: string, create: BillectaRequest | null, docKey: string): Promise<string> {
    const stored = await this.findProduct(externalId);
    if (stored) {
      const id = str(stored.ProductPublicId);
      // The accounts and VAT decide the bookkeeping; the unit price is only a default (not compared).
      if (create?.body && !sameFields(create.body, stored, ['BookKeepingAccount', 'BookKeepingVATAccount', 'VAT', 'ProductType'])) {
        await this.write(billectaProductUpdate(stored, create, this.creditor, docKey), async () => id);
      }
      this.productIds.set(externalId, id);
      return id;
    }
    if (!create) throw new RetriableError(`product ${externalId} is not in Billecta (its invoice creates it and is delivered first)`);
    const id = await this.write(create, async () => {
      const again = await this.findProduct(externalId);
      return again ? str(again.ProductPublicId) : null;
    });
    this.productIds.set(externalId, id);
    return id;
  }

  // ── invoices and credit invoices ─────────────────────────────────────────────────────

  private async deliverSales(doc: SalesDocument, requests: BillectaRequest[]): Promise<Delivered> {
    const key = formatDocumentKey(doc.key);
    let actionId: string | null = null;
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const product = /^\/v1\/products\/productbyexternalid\/[^?]+\?externalid=(.*)$/.exec(request.path);
      if (request.method === 'GET' && product) {
        const next = requests[i + 1];
        const create = next && next.method === 'POST' && next.path === '/v1/products/product' ? next : null;
        if (create) i++;
        await this.upsertProduct(decodeURIComponent(product[1]!), create, key);
        continue;
      }
      if (request.method === 'POST' && (request.path === '/v1/invoice/action' || request.path === '/v1/invoice/verificationinvoice')) {
        actionId = await this.createAction(doc, request);
        if (request.path === '/v1/invoice/verificationinvoice') {
          this.verificationNumbers.add(doc.number);
          this.uncertain.delete(key);
          return { externalId: actionId };
        }
        continue;
      }
      if (request.method === 'PUT' && request.path.startsWith('/v1/invoice/attest/')) {
        await this.attest(doc, await this.resolve(doc, request));
        this.uncertain.delete(key);
        return { externalId: actionId! };
      }
      throw new PermanentError(`${describe(doc)}: no handling for ${request.method} ${request.path}`);
    }
    throw new PermanentError(`${describe(doc)}: the requests end without creating it`);
  }

  private async createAction(doc: SalesDocument, request: BillectaRequest): Promise<string> {
    const key = formatDocumentKey(doc.key);
    const what = describe(doc);
    const known = this.actionsByKey.get(key);
    if (known) return known;
    if (this.uncertain.has(key)) {
      const found = await this.findAction(doc);
      if (found) {
        this.log?.info(`${what}: found in Billecta (${found.id}) by the look-up before resending; not created again`);
        this.remember(doc, found.id);
        return found.id;
      }
    }
    const resolved = await this.resolve(doc, request);
    const id = await this.write(resolved, async () => (await this.findAction(doc))?.id ?? null, key);
    this.remember(doc, id);
    return id;
  }

  /** PUT attest; attested before (403 for the call id, or a 400 on an invoice past its draft stage) counts as done. */
  private async attest(doc: SalesDocument, request: BillectaRequest): Promise<void> {
    try {
      await this.client.send(request);
    } catch (error) {
      if (error instanceof BillectaAlreadyDoneError) return;
      if (!(error instanceof BillectaRejectedError || error instanceof BillectaInDoubtError)) throw error;
      const id = this.actionsByKey.get(formatDocumentKey(doc.key))!;
      const stage = await this.stageOf(id).catch(() => null);
      if (stage && stage !== 'Created') {
        this.log?.info(`${describe(doc)}: ${id} is attested already (stage ${stage}); recorded as delivered`);
        return;
      }
      if (error instanceof BillectaInDoubtError) throw new RetriableError(`${error.message}; ${id} is still a draft, it will be attested again`);
      throw error;
    }
  }

  private async stageOf(id: string): Promise<string | null> {
    const view = await this.client.lookup(`/v1/invoice/action/${encodeURIComponent(id)}`);
    if (!isObject(view)) return null;
    const state = isObject(view.State) ? view.State : {};
    return str(state.Stage ?? view.Stage) || null;
  }

  private remember(doc: SalesDocument, id: string): void {
    this.actionsByKey.set(formatDocumentKey(doc.key), id);
    this.actionsByNumber.set(doc.number, id);
  }

  /** Find `doc`'s action in Billecta (see the header); null when it is not there. */
  private async findAction(doc: SalesDocument): Promise<FoundAction | null> {
    const key = formatDocumentKey(doc.key);
    const known = this.actionsByKey.get(key);
    if (known) {
      const stage = await this.stageOf(known);
      if (stage !== null) return { id: known, stage };
    }
    const types = doc.kind === 'credit-note' ? ['CreditInvoiceAction', 'VerificationInvoiceAction'] : ['InvoiceAction', 'VerificationInvoiceAction'];
    for (const row of await this.candidates(doc.orderNumber, doc.date, types)) {
      const view = await this.client.lookup(`/v1/invoice/action/${encodeURIComponent(row)}`);
      if (isObject(view) && str(view.ExternalReference) === key) {
        const state = isObject(view.State) ? view.State : {};
        return { id: row, stage: str(state.Stage ?? view.Stage) };
      }
    }
    return null;
  }

  /** ActionPublicIds of open and closed (since `from`) actions with this YourReference and one of these types. */
  private async candidates(yourReference: string, from: string, types: string[]): Promise<string[]> {
    const creditor = encodeURIComponent(this.creditor);
    const to = new Date(this.now() + 86_400_000).toISOString().slice(0, 10);
    const lists = [await this.client.lookup(`/v1/invoice/open/${creditor}`), await this.client.lookup(`/v1/invoice/closed/${creditor}?from=${from}&to=${to}`)];
    const ids: string[] = [];
    for (const list of lists) {
      if (!Array.isArray(list)) continue;
      for (const row of list) {
        if (!isObject(row) || str(row.YourReference) !== yourReference) continue;
        if (row.ActionType !== undefined && !types.includes(str(row.ActionType))) continue;
        const id = str(row.ActionPublicId);
        if (id && !ids.includes(id)) ids.push(id);
      }
    }
    return ids;
  }

  /** The ActionPublicId of kontor's invoice `number` (another document than the one delivered). */
  private async actionOf(doc: SalesDocument | PaymentDocument, number: string): Promise<string> {
    const known = this.actionsByNumber.get(number) ?? (await this.actionIdOf?.(number)) ?? null;
    if (known) {
      this.actionsByNumber.set(number, known);
      return known;
    }
    // Last resort: the one invoice of the same order in Billecta.
    const orderNumber = doc.kind === 'payment' ? null : doc.orderNumber;
    if (orderNumber) {
      const ids = await this.candidates(orderNumber, '2000-01-01', ['InvoiceAction']);
      if (ids.length === 1) {
        this.actionsByNumber.set(number, ids[0]!);
        return ids[0]!;
      }
    }
    throw new RetriableError(`${describe(doc)}: invoice ${number} is not known in Billecta yet (no ActionPublicId recorded for it); it is delivered first`);
  }

  /**
   * Whether kontor's document `number` is a verification invoice in Billecta: booked so in this
   * process, else its recorded ActionPublicId (actionIdOf) read back. For the refund paid back on
   * a negative verification invoice, whose number no collection payment names. Unknown → false
   * (the payment then waits for its document's id, as any payment does).
   */
  private async isVerification(number: string): Promise<boolean> {
    if (this.verificationNumbers.has(number)) return true;
    const id = this.actionsByNumber.get(number) ?? (await this.actionIdOf?.(number)) ?? null;
    if (!id) return false;
    const view = await this.client.lookup(`/v1/invoice/action/${encodeURIComponent(id)}`);
    if (!isObject(view) || str(view.ActionType) !== 'VerificationInvoiceAction') return false;
    this.verificationNumbers.add(number);
    return true;
  }

  // ── payments ─────────────────────────────────────────────────────────────────────────

  /**
   * A payment sent before whose outcome is unknown: Billecta lists no payments by reference, so
   * the invoice's PaidAmount plus WriteOffAmount is compared with what kontor's other delivered
   * payments settled on it plus this one. Covered → registered (the invoice's id is recorded);
   * not covered, or nothing to compare → null, and the payment goes again with the same
   * UniqueApiCallId, which Billecta refuses as a duplicate [brief] should it have it after all.
   * A customer paying the invoice at Billecta as well would make a payment look registered: on
   * an invoice the shop collected itself, that is money Billecta already shows as paid.
   */
  private async findPayment(doc: PaymentDocument): Promise<string | null> {
    if (!this.paidBefore) return null;
    const requests = await this.requestsFor(doc);
    if (requests.length === 0) return null;
    const id = this.actionsByNumber.get(doc.appliesTo) ?? (await this.actionIdOf?.(doc.appliesTo)) ?? null;
    if (!id) return null;
    const before = await this.paidBefore(doc);
    if (before === null) return null;
    const view = await this.client.lookup(`/v1/invoice/action/${encodeURIComponent(id)}`);
    if (!isObject(view)) return null;
    const settled = minorValue(view.PaidAmount, doc.currency) + minorValue(view.WriteOffAmount, doc.currency);
    const expected = before + doc.amount;
    if (expected === 0 || Math.abs(settled) < Math.abs(expected) || Math.sign(settled) !== Math.sign(expected)) return null;
    this.log?.info(`${describe(doc)}: the invoice ${id} shows ${settled} minor units paid and written off, kontor's payments come to ${expected}: registered before; recorded`);
    this.payments.set(formatDocumentKey(doc.key), id);
    return id;
  }

  private async deliverPayment(doc: PaymentDocument, requests: BillectaRequest[]): Promise<Delivered> {
    const key = formatDocumentKey(doc.key);
    if (requests.length === 0) {
      // Collected: the verification invoice is the payment. Its id, when known.
      const id = await this.actionOf(doc, doc.appliesTo).catch(() => `collected:${doc.appliesTo}`);
      return { externalId: id };
    }
    const request = await this.resolve(doc, requests[0]!);
    const actionId = str((request.body ?? {}).ActionPublicId);
    try {
      const res = await this.client.send(request);
      const id = publicIdOf(res.body) || actionId;
      this.payments.set(key, id);
      return { externalId: id };
    } catch (error) {
      if (error instanceof BillectaAlreadyDoneError) {
        this.log?.info(`${describe(doc)}: Billecta registered it before (UniqueApiCallId ${error.callId}); recorded as delivered`);
        this.payments.set(key, actionId);
        return { externalId: actionId };
      }
      throw error;
    }
  }

  // ── shared ───────────────────────────────────────────────────────────────────────────

  /** The request with its placeholders replaced; ids not yet known are fetched first. */
  private async resolve(doc: BookDocument, request: BillectaRequest): Promise<BillectaRequest> {
    const text = `${request.path} ${JSON.stringify(request.body)}`;
    const ids = new Map<string, string>();
    for (const m of text.matchAll(/\{(debtor|product|action):([^{}]+)\}/g)) {
      const kind = m[1] as BillectaPlaceholderKind;
      const key = decodeURIComponent(m[2]!);
      const slot = `${kind}:${key}`;
      if (ids.has(slot)) continue;
      let id: string | undefined;
      if (kind === 'debtor') id = await this.debtorId(key);
      else if (kind === 'product') id = this.productIds.get(key) ?? (await this.upsertProduct(key, null, ''));
      else if (doc.kind !== 'customer' && doc.kind !== 'payment' && key === doc.number) id = this.actionsByKey.get(formatDocumentKey(doc.key));
      else if (doc.kind !== 'customer') id = await this.actionOf(doc, key);
      if (!id) throw new PermanentError(`${describe(doc)}: no id for ${slot}`);
      ids.set(slot, id);
    }
    return resolveBillectaPlaceholders(request, (kind, key) => ids.get(`${kind}:${key}`)!);
  }

  /**
   * A create: its PublicId. Already done (403 for its UniqueApiCallId) → `find`; an unknown
   * outcome → `find` at once: found → its id, not there → RetriableError (sent again after
   * another look-up, with the same UniqueApiCallId).
   */
  private async write(request: BillectaRequest, find: () => Promise<string | null>, uncertainKey?: string): Promise<string> {
    try {
      const res = await this.client.send(request);
      const id = publicIdOf(res.body);
      if (id) return id;
      const found = await find();
      if (found) return found;
      throw new BillectaInDoubtError(`target ${this.name}: ${request.method} ${request.path}: Billecta answered without a PublicId`);
    } catch (error) {
      if (error instanceof BillectaAlreadyDoneError) {
        const found = await find();
        if (found) {
          this.log?.info(`target ${this.name}: ${request.method} ${request.path}: done before (UniqueApiCallId ${error.callId}); found ${found}, recorded`);
          return found;
        }
        throw new BillectaInDoubtError(`${error.message}, but the object cannot be found; check Billecta`);
      }
      if (!(error instanceof BillectaInDoubtError)) throw error;
      if (uncertainKey) this.uncertain.add(uncertainKey);
      let found: string | null;
      try {
        found = await find();
      } catch (lookupError) {
        if (lookupError instanceof PermanentError || lookupError instanceof BillectaCredentialError) throw lookupError;
        throw error;
      }
      if (found) {
        if (uncertainKey) this.uncertain.delete(uncertainKey);
        this.log?.info(`target ${this.name}: ${request.method} ${request.path}: outcome was unknown; Billecta has it (${found}), not sent again`);
        return found;
      }
      throw new RetriableError(`${error.message}; Billecta does not have it, so it will be sent again (after another look-up, with the same UniqueApiCallId)`);
    }
  }

  private async assertCurrency(currency: string, what: string): Promise<void> {
    if (!this.checkCurrencies || this.checkedCurrencies.has(currency)) return;
    let list;
    try {
      list = await this.client.currencies();
    } catch (error) {
      if (!(error instanceof BillectaNotFoundError)) throw error;
      this.log?.warn(`target ${this.name}: GET /v1/currencies/currencies is not there (404); currency decimals not checked`);
      this.checkedCurrencies.add(currency);
      return;
    }
    const found = list.find((c) => c.CurrencyCode === currency || c.Iso4217 === currency);
    if (!found) throw new PermanentError(`${what}: Billecta does not list currency ${currency} (GET /v1/currencies/currencies)`);
    const exponent = currencyExponent(currency);
    if (Number(found.Decimals) !== exponent) {
      throw new PermanentError(`${what}: Billecta gives ${currency} ${String(found.Decimals)} decimals, kontor ${exponent}: every amount would be off by a power of ten; nothing sent`);
    }
    this.checkedCurrencies.add(currency);
  }

  /** Runs `fn` unless the target is stopped; a credential error stops it (logged once, as an alert). */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopped) throw new BillectaCredentialError(`target ${this.name} is stopped until its credentials are fixed and kontor restarted: ${this.stopped.message}`, this.stopped.status);
    try {
      return await fn();
    } catch (error) {
      if (error instanceof BillectaCredentialError && !this.stopped) {
        this.stopped = error;
        this.log?.error(`ALERT: target ${this.name} stopped: ${error.message}. Nothing more is sent to Billecta until the credentials are fixed and kontor restarted.`);
      }
      throw error;
    }
  }
}
