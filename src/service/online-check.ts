/**
 * `kontor check --online` for a Billecta target: with the real client (src/targets/billecta/
 * client.ts) and the credentials of the target's environment, read-only calls that say before
 * the first delivery whether it would be refused:
 *
 * 1. GET /v1/currencies/currencies (after POST /v1/authentication/apiauthenticate with `auth:
 *    token`): the credentials work. A refusal (401, 403) is a problem naming the HTTP status;
 *    no answer at all (network, 5xx, throttled) makes the target unreachable (exit 1).
 * 2. GET /v1/creditors/creditor/{creditor_public_id}: the creditor exists for this user.
 *    Billecta answers 401 for a creditor the user may not work for "regardless of if the
 *    referenced data exists" (shared/reference/billecta.md §1), so once step 1 passed, a 401 or
 *    403 here means the creditor, not the password.
 * 3. Every currency the mappings of the sources delivering to the target name
 *    (`invoice.receivable_by_currency`, a rule's `match.currency`) must be listed with the
 *    decimals kontor uses (books/currency.ts): otherwise every amount would be off by a power of
 *    ten, and the target refuses such documents. The currency of an order is not in the
 *    mapping; the target checks each one again before its first document. A currency kontor
 *    knows that Billecta lists with other decimals is a warning.
 * 4. `payment_means`: Billecta's list of payment means was not seen (reference §3, §4.7), so
 *    the codes cannot be verified: a warning, never a guessed call.
 * 5. GET /v1/products/products/{creditor}: products kontor creates whose accounts follow from
 *    the mapping alone (shipping, fee and discount articles per VAT code, the rounding product)
 *    and differ at Billecta now: a warning that the next invoice with that product corrects it
 *    (PUT /v1/products/product). Products by SKU are not compared: their account depends on
 *    each order (VAT rate, routing rules).
 *
 * Nothing is written to Billecta. The failing-calls budget is this process's own (check opens
 * no database); a check makes a handful of calls.
 */
import { currencyExponent, isKnownCurrency } from '../books/index.js';
import type { Config, ResolvedTarget } from '../config/load.js';
import { errorMessage } from '../errors.js';
import type { Mapping } from '../mapping/load.js';
import { renderTemplate } from '../mapping/template.js';
import { BillectaCredentialError, BillectaNotFoundError, BillectaRejectedError, type BillectaCurrency } from '../targets/billecta/client.js';
import type { HttpClientOptions } from '../http/client.js';
import { assertDeliverable, createBillectaClient } from './runtime.js';

/** One currency a mapping names: the decimals kontor uses and those Billecta lists (null: not listed). */
export interface CurrencyFinding {
  currency: string;
  kontor: number;
  billecta: number | null;
}

export interface BillectaOnlineCheck {
  /** The creditor as Billecta answered it, or null when it was not found (or not reached). */
  creditor: { id: string; name: string | null } | null;
  /** The currencies the mappings name, compared; null when Billecta's list could not be read. */
  currencies: CurrencyFinding[] | null;
  /** How many of kontor's products were compared with the mapping; null when not compared. */
  products: number | null;
  /** Why the check stopped early (credentials refused, unreachable, not configured), or null. */
  error: string | null;
  /** `error:` findings (exit 2). */
  problems: string[];
  /** `FILE:LINE:COL: message` findings of the mappings (exit 2). */
  mappingProblems: string[];
  warnings: string[];
  /** Billecta could not be reached (exit 1 unless there is a problem). */
  unreachable: string[];
}

export interface BillectaOnlineOptions {
  /** Passed to the client's HttpClient (tests: a shorter timeout). Default one retry, 30 s per request. */
  http?: Partial<Omit<HttpClientOptions, 'name' | 'secrets'>>;
  /** The day whose VAT rates decide the expected product accounts (YYYY-MM-DD). Default today (UTC). */
  today?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What Billecta's products carry: a whole account number, null for none (`''`); undefined: not expressible (the target would refuse it). */
function accountNumber(account: string): number | null | undefined {
  if (account.trim() === '') return null;
  return /^\d{1,10}$/.test(account) && Number(account) <= 2 ** 31 - 1 ? Number(account) : undefined;
}

interface ExpectedProduct {
  account: number | null;
  vatAccount: number | null;
  /** Where the mapping says so, for the message. */
  where: string;
}

/**
 * The products whose ProductExternalId and accounts follow from the mapping alone: shipping,
 * fee and discount articles for each VAT code valid on `today` (left out when a routing rule
 * may apply to that kind of line, or discounts go to the revenue account), and the rounding
 * product. An id two mappings (or two codes) would send with different accounts is left out.
 */
export function expectedProducts(mappings: readonly Mapping[], today: string): Map<string, ExpectedProduct> {
  const found = new Map<string, ExpectedProduct | null>();
  const put = (id: string, product: ExpectedProduct) => {
    const known = found.get(id);
    if (known === undefined) found.set(id, product);
    else if (known && (known.account !== product.account || known.vatAccount !== product.vatAccount)) found.set(id, null);
  };
  for (const mapping of mappings) {
    const { spec } = mapping;
    if (spec.target.variant !== 'article') continue;
    const codes = spec.vat.rates.filter((r) => (!r.valid_from || r.valid_from <= today) && (!r.valid_to || today <= r.valid_to)).map((r) => ({ code: r.code, account: r.account }));
    // A 0 % line without a rate of its own: exempt at home, export abroad, no VAT account (map-order.ts vatFor).
    if (!spec.vat.rates.some((r) => Number(r.rate) === 0)) codes.push({ code: 'exempt', account: '' }, { code: 'export', account: '' });
    const kinds = [
      { kind: 'shipping', template: spec.articles.shipping, account: spec.accounts.shipping, key: ['accounts', 'shipping'] },
      { kind: 'fee', template: spec.articles.fee, account: spec.accounts.fees, key: ['accounts', 'fees'] },
      ...(spec.accounts.discount !== 'revenue' ? [{ kind: 'discount', template: spec.articles.discount, account: spec.accounts.discount, key: ['accounts', 'discount'] }] : []),
    ];
    for (const k of kinds) {
      if (mapping.rules.some((r) => r.kinds.includes(k.kind))) continue;
      const account = accountNumber(k.account);
      if (account === undefined) continue;
      for (const c of codes) {
        const vatAccount = accountNumber(c.account);
        if (vatAccount === undefined) continue;
        put(renderTemplate(k.template, { vat_code: c.code, account: k.account }), { account, vatAccount, where: mapping.where(k.key) });
      }
    }
    const rounding = accountNumber(spec.rounding.account);
    if (rounding !== undefined) put(`kontor-rounding-${spec.rounding.account}`, { account: rounding, vatAccount: null, where: mapping.where(['rounding', 'account']) });
  }
  return new Map([...found].filter((e): e is [string, ExpectedProduct] => e[1] !== null));
}

/** Where each mapping names a currency: `invoice.receivable_by_currency` keys and rules' `match.currency`. */
function namedCurrencies(mappings: readonly Mapping[]): Map<string, { mapping: Mapping; keyPath: (string | number)[] }[]> {
  const named = new Map<string, { mapping: Mapping; keyPath: (string | number)[] }[]>();
  const add = (currency: string, mapping: Mapping, keyPath: (string | number)[]) => named.set(currency, [...(named.get(currency) ?? []), { mapping, keyPath }]);
  for (const mapping of mappings) {
    for (const currency of Object.keys(mapping.spec.invoice.receivable_by_currency)) add(currency, mapping, ['invoice', 'receivable_by_currency', currency]);
    mapping.spec.accounts.rules.forEach((rule, i) => {
      for (const currency of rule.match.currency ?? []) add(currency, mapping, ['accounts', 'rules', i, 'match', 'currency']);
    });
  }
  return new Map([...named].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Check Billecta target `target` online (see the header). `mappings`: those of the sources that
 * deliver to it. Never throws for what Billecta answers; every finding names the target.
 */
export async function checkBillectaOnline(config: Config, target: ResolvedTarget, mappings: readonly Mapping[], options: BillectaOnlineOptions = {}): Promise<BillectaOnlineCheck> {
  const c = target.config;
  if (c.type !== 'billecta') throw new TypeError(`target "${target.name}" is of type ${c.type}, not billecta`);
  const result: BillectaOnlineCheck = { creditor: null, currencies: null, products: null, error: null, problems: [], mappingProblems: [], warnings: [], unreachable: [] };
  const at = (keyPath: readonly PropertyKey[]) => {
    const p = config.positionOf(keyPath);
    return `${p.file}:${p.line}:${p.col}`;
  };
  const name = `target "${target.name}"`;
  try {
    // The static check reports the missing username or password already (an `error:` line).
    assertDeliverable(target);
  } catch (error) {
    result.error = `${name}: not checked online: ${errorMessage(error)}`;
    return result;
  }
  const client = await createBillectaClient(target, { http: { retries: 1, readTimeoutMs: 30_000, ...options.http } });
  // The client's message names the call that failed (the login, when there is one).
  const unreachable = (error: unknown) => {
    result.error = `${name}: cannot reach Billecta at ${target.baseUrl}: ${errorMessage(error)}`;
    result.unreachable.push(result.error);
  };
  try {
    // 1. The credentials, with a call that names no creditor.
    let list: BillectaCurrency[] | null = null;
    try {
      list = await client.currencies();
    } catch (error) {
      if (error instanceof BillectaCredentialError) {
        result.error = `${at(['targets', target.name, 'credentials', target.environment])}: ${name}: Billecta refused the ${target.environment} credentials (HTTP ${error.status}): ${errorMessage(error)}`;
        result.problems.push(result.error);
        return result;
      }
      if (!(error instanceof BillectaNotFoundError)) {
        unreachable(error);
        return result;
      }
      result.warnings.push(`${name}: GET /v1/currencies/currencies is not there (HTTP 404); currency decimals not checked`);
    }

    // 2. The creditor.
    const creditorId = c.creditor_public_id;
    const creditorAt = `${at(['targets', target.name, 'creditor_public_id'])}: ${name}: creditor_public_id ${creditorId}`;
    try {
      const body = await client.get(`/v1/creditors/creditor/${encodeURIComponent(creditorId)}`);
      // "Not there" may also be an answer whose public id is empty (as Billecta's look-ups do [code]).
      if (isObject(body) && body.CreditorPublicId !== null && body.CreditorPublicId !== '') {
        result.creditor = { id: typeof body.CreditorPublicId === 'string' ? body.CreditorPublicId : creditorId, name: typeof body.Name === 'string' ? body.Name : null };
      } else {
        result.problems.push(`${creditorAt}: Billecta answered no creditor (GET /v1/creditors/creditor)`);
      }
    } catch (error) {
      if (error instanceof BillectaCredentialError) {
        // Billecta answers 401 both for a creditor that does not exist and for one the user may not work for.
        result.problems.push(`${creditorAt}: Billecta refused access to it (HTTP ${error.status}): no such creditor, or the ${target.environment} user may not work for it`);
      } else if (error instanceof BillectaNotFoundError) {
        result.problems.push(`${creditorAt}: no such creditor at Billecta (HTTP 404)`);
      } else if (error instanceof BillectaRejectedError) {
        result.problems.push(`${creditorAt}: Billecta refused it (HTTP ${error.status}): ${error.billectaMessage || 'no reason given'}`);
      } else {
        unreachable(error);
        return result;
      }
    }

    // 3. The currencies.
    if (list) {
      const named = namedCurrencies(mappings);
      result.currencies = [];
      for (const [currency, places] of named) {
        if (!isKnownCurrency(currency)) continue; // the mapping check reports an unknown code
        const kontor = currencyExponent(currency);
        const listed = list.find((x) => x.CurrencyCode === currency || x.Iso4217 === currency);
        const billecta = listed && typeof listed.Decimals === 'number' ? listed.Decimals : null;
        result.currencies.push({ currency, kontor, billecta });
        const first = places[0]!;
        const where = first.mapping.where(first.keyPath);
        if (!listed) {
          result.mappingProblems.push(`${where}: currency ${currency}: Billecta (${name}) does not list it (GET /v1/currencies/currencies); every document in ${currency} would be refused`);
        } else if (billecta !== kontor) {
          result.mappingProblems.push(`${where}: currency ${currency}: Billecta (${name}) gives it ${String(listed.Decimals)} decimals, kontor ${kontor}: every amount would be off by a power of ten; documents in ${currency} would be refused`);
        }
      }
      for (const x of list) {
        if (named.has(x.CurrencyCode) || !isKnownCurrency(x.CurrencyCode) || x.Decimals === currencyExponent(x.CurrencyCode)) continue;
        result.warnings.push(`${name}: Billecta gives ${x.CurrencyCode} ${String(x.Decimals)} decimals, kontor ${currencyExponent(x.CurrencyCode)}: documents in ${x.CurrencyCode} would be refused`);
      }
    }

    // 4. Payment means: no list call is known.
    const codes = [...new Set(Object.values(c.payment_means))];
    if (codes.length > 0) {
      result.warnings.push(
        `${at(['targets', target.name, 'payment_means'])}: ${name}: payment_means ${codes.join(', ')} not checked online: Billecta's list of payment means is not known (only POST /v1/accounting/paymentmeans is documented); a code the creditor lacks is refused when a payment is registered`,
      );
    }

    // 5. kontor's products whose accounts follow from the mapping.
    const expected = expectedProducts(mappings, options.today ?? new Date().toISOString().slice(0, 10));
    if (result.creditor && expected.size > 0) {
      let products: unknown;
      try {
        products = await client.get(`/v1/products/products/${encodeURIComponent(creditorId)}`);
      } catch (error) {
        result.warnings.push(`${name}: products not compared with the mappings (GET /v1/products/products): ${errorMessage(error)}`);
        products = null;
      }
      if (Array.isArray(products)) {
        result.products = 0;
        for (const p of products.filter(isObject)) {
          const id = typeof p.ProductExternalId === 'string' ? p.ProductExternalId : '';
          const want = expected.get(id);
          if (!want) continue;
          result.products++;
          const has = { account: typeof p.BookKeepingAccount === 'number' ? p.BookKeepingAccount : null, vatAccount: typeof p.BookKeepingVATAccount === 'number' ? p.BookKeepingVATAccount : null };
          if (has.account === want.account && has.vatAccount === want.vatAccount) continue;
          const show = (a: number | null, v: number | null) => `account ${a ?? 'none'}, VAT account ${v ?? 'none'}`;
          result.warnings.push(
            `${name}: product ${id} books on ${show(has.account, has.vatAccount)} at Billecta, but the mapping (${want.where}) sends ${show(want.account, want.vatAccount)}; kontor corrects it (PUT /v1/products/product) with the next invoice that uses it`,
          );
        }
      }
    }
    return result;
  } finally {
    await client.close();
  }
}
