/**
 * The Billecta REST client: sends the requests of requests.ts (and the look-ups the target
 * needs), authenticates, keeps within Billecta's throttling, and turns every HTTP outcome into
 * one of kontor's error kinds. Rules from shared/reference/billecta.md (§1, §3) and the seed's
 * "Throttling" section; tags as there ([docs], [code], [inferred], [brief]).
 *
 * Environments: `https://api.billecta.com` (production) and `https://apitest.billecta.com`
 * (test), or the target's `base_url`. The target's `environment` picks both the host and the
 * credential set (config `credentials.<environment>`), so a production password is never sent to
 * the test host nor the reverse [docs: "test credentials do not work in production"].
 *
 * Credentials: `username` and `password` of a Billecta API user (the portal login of a user of
 * the creditor's domain). Billecta has no separate API key [docs + code]: the SecureToken is
 * obtained with these. Both are secrets: redacted from every message.
 *
 * Authentication, option `auth`:
 * - `token` (default): `POST /v1/authentication/apiauthenticate` with
 *   `Authorization: Basic base64(user:password)` and an empty body answers
 *   `SecureTokenView { Value, Expires }`; the token is cached until `Expires` (less a margin,
 *   default 60 s) and sent as `Authorization: SecureToken base64(Value)` [docs + code]. A 401 on
 *   a call drops the token, authenticates again once and repeats the call; a second 401 (or a
 *   401 of apiauthenticate itself) is a BillectaCredentialError, which stops the target.
 * - `basic`: `Authorization: Basic base64(user:password)` on every call [code: the WooCommerce
 *   plugin, Lime's docs]. A 401 is a BillectaCredentialError at once: there is nothing to renew.
 *
 * Errors (the table RMA's client has, for Billecta):
 *
 * | outcome | error | deliver.ts does |
 * |---|---|---|
 * | 2xx | – | success |
 * | 400 (text in the `ErrorMessage` header, ISO-8859-1, plus the body) | BillectaRejectedError (PermanentError) | dead letter |
 * | 401 twice, 401 of apiauthenticate, 403 of a call without UniqueApiCallId | BillectaCredentialError | target stops, entry waits, one alert |
 * | 403 of a call that carried a UniqueApiCallId [brief] | BillectaAlreadyDoneError | the target looks the object up and records it |
 * | 404 | BillectaNotFoundError (PermanentError); a look-up answers null | dead letter |
 * | 429, 5xx or network failure of a GET | RetriableError (after the HttpClient's own retries) | retry with backoff |
 * | 5xx, or a network failure after the body may have gone out, of a write | BillectaInDoubtError | look up before resending |
 * | a connection never made (refused, DNS, connect timeout, TLS) | RetriableError | retry: nothing was sent |
 * | the failing-calls budget is spent | BillectaThrottledError (RetriableError) | retry after the window |
 * | any other 4xx | PermanentError | dead letter |
 *
 * Writes are not repeated inside the HttpClient: a write whose outcome is unknown is looked up
 * by the target before it is sent again, and then goes with the same UniqueApiCallId (derived
 * from the document key, requests.ts), so Billecta refuses a second copy with a 403 [brief].
 *
 * Throttling, two limits that are never exceeded:
 * - `requestsPerSecond` (config `requests_per_second`, default 5): the HttpClient's token bucket,
 *   for every exchange including its own retries. The seed's per-endpoint limits
 *   (GET /v1/invoice/action/{id}: 100 per 10 s; search 30 per 10 s) are above 5/s… except search,
 *   which kontor does not use.
 * - `failingCallsPerMinute` (config `failing_calls_per_minute`, default 40, below Billecta's 50
 *   [docs: "50 incorrect calls (400 and above except 404) within a 60-second window", then a
 *   delay]): every answer of 400 or above except 404 (429 and 5xx included, also the HttpClient's
 *   retries) counts; once N fell within the last 60 s, nothing more is sent to this target until
 *   the oldest of them is 60 s old (BillectaThrottledError, retriable). Risking Billecta's own
 *   delay (or a ban) is worse than waiting. Billecta counts the calls of every caller with these
 *   credentials, so with the `failures` port (BillectaFailures, given by src/service/runtime.ts
 *   from the database) the count is shared by all kontor processes on that database (a `run`
 *   and a `backfill`, several instances on PostgreSQL); without it, by this client alone. The
 *   limit holds under concurrency too: each exchange first takes a slot (the HttpClient's
 *   ExchangeGate), and a call in flight counts as failing until its answer comes, so calls
 *   checking at the same instant can never together pass the budget.
 * - 429 with backoff and Retry-After: the HttpClient.
 *
 * The gate is also where each exchange's headers are seen (the ErrorMessage header of an answer
 * that becomes an HttpError, which carries only the body).
 *
 * Error text: Billecta sends it in the `ErrorMessage` header as ISO-8859-1 [brief]. Header
 * values reach JavaScript one character per byte (fetch's ByteString; undici likewise), which is
 * the latin1 decoding; should the bytes in fact be UTF-8 ("Ã¥"), they are decoded as UTF-8.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CredentialError, KontorError, PermanentError, RetriableError } from '../../errors.js';
import { HttpClient, HttpError, type HttpClientOptions, type HttpMethod } from '../../http/client.js';
import type { BillectaRequest } from './requests.js';

export type BillectaAuth = 'token' | 'basic';

export const BILLECTA_BASE_URLS = { production: 'https://api.billecta.com', test: 'https://apitest.billecta.com' } as const;

/** Where log lines go; winston's Logger fits. No secret is ever passed to it. */
export interface BillectaLog {
  error(message: string): unknown;
  warn(message: string): unknown;
  info(message: string): unknown;
  debug(message: string): unknown;
}

/**
 * Where failing calls are counted across processes (the database: src/store/target-failures.ts,
 * wired by src/service/runtime.ts). Times are ms since the epoch, of the client's clock.
 */
export interface BillectaFailures {
  /**
   * Take a slot for one exchange at `at`, atomically across processes: refused when failing
   * answers within `windowMs` and exchanges in flight already make `budget` (with that count
   * and the oldest failure, for when sending may resume).
   */
  take(at: number, windowMs: number, budget: number): Promise<{ slot: number } | { refused: { count: number; oldest: number | null } }>;
  /** The exchange of `slot` ended at `at`: a failing answer (400 and above except 404) stays counted, any other frees the slot. */
  settle(slot: number, failing: boolean, at: number): Promise<void>;
}

export interface BillectaClientOptions {
  /** The target's name, for messages (`target billecta`). */
  name: string;
  /** Scheme and host: BILLECTA_BASE_URLS[environment] or the configured base_url. */
  baseUrl: string;
  username: string;
  password: string;
  /** Default `token`. */
  auth?: BillectaAuth;
  /** Default 40 (Billecta allows 50 per 60 s). */
  failingCallsPerMinute?: number;
  /** The failing-calls count shared with other processes; without it, this client's own count (in memory). */
  failures?: BillectaFailures;
  /** Default 5. Sets the HttpClient's rate limit unless `http.rateLimit` is given. */
  requestsPerSecond?: number;
  /** How long before its `Expires` a SecureToken is renewed. Default 60 s. */
  tokenMarginMs?: number;
  /** Passed to the HttpClient (transport, retries, timeouts, sleep). */
  http?: Partial<Omit<HttpClientOptions, 'name' | 'secrets'>>;
  log?: BillectaLog;
  /** For tests: the clock of the token cache and the failing-calls window (ms since the epoch). */
  now?: () => number;
}

/** Billecta refused the request (400, or another 4xx): `billectaMessage` is its ErrorMessage header and body. */
export class BillectaRejectedError extends PermanentError {
  override name = 'BillectaRejectedError';
  constructor(
    message: string,
    readonly status: number,
    readonly billectaMessage: string,
  ) {
    super(message);
  }
}

/** HTTP 404. A look-up answers null instead. */
export class BillectaNotFoundError extends PermanentError {
  override name = 'BillectaNotFoundError';
}

/** Billecta refused the credentials: the target stops until a person fixes them and restarts kontor. */
export class BillectaCredentialError extends CredentialError {
  override name = 'BillectaCredentialError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * A 403 to a write that carried a UniqueApiCallId: Billecta did that call before [brief]. Not a
 * failure: the target looks the object up. Left alone it is in-doubt (neither retriable nor permanent).
 */
export class BillectaAlreadyDoneError extends KontorError {
  override name = 'BillectaAlreadyDoneError';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly callId: string,
  ) {
    super(message);
  }
}

/** A write may or may not have been carried out. deliver.ts marks the entry in-doubt and looks it up first. */
export class BillectaInDoubtError extends KontorError {
  override name = 'BillectaInDoubtError';
  readonly exitCode = 1;
}

/** The failing-calls budget of the window is spent: nothing is sent until `retryAt`. */
export class BillectaThrottledError extends RetriableError {
  override name = 'BillectaThrottledError';
  constructor(
    message: string,
    readonly retryAt: number,
  ) {
    super(message);
  }
}

export interface BillectaResponse {
  status: number;
  /** The parsed body; null for an empty one. */
  body: unknown;
}

/** CurrencyView [schema]. */
export interface BillectaCurrency {
  CurrencyCode: string;
  Iso4217?: string;
  Description?: string;
  Decimals: number;
  OneUnit?: number;
}

/** Network failures that happen before a byte of the request is sent. */
const NOT_SENT =
  /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|UND_ERR_CONNECT_TIMEOUT|CERT_HAS_EXPIRED|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID)\b/;

const WINDOW_MS = 60_000;

/**
 * The text of an `ErrorMessage` header. Header values arrive one character per byte (0–255),
 * i.e. already decoded as ISO-8859-1, which is what Billecta sends [brief]. When those bytes are
 * valid UTF-8 with non-ASCII characters (a server that sent UTF-8 after all), UTF-8 is used.
 */
export function decodeErrorMessage(raw: string | undefined): string {
  if (!raw) return '';
  if (![...raw].every((c) => c.charCodeAt(0) <= 0xff)) return raw.trim();
  const bytes = Buffer.from(raw, 'latin1');
  if (bytes.some((b) => b >= 0x80)) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes).trim();
    } catch {
      // not UTF-8: ISO-8859-1, as declared
    }
  }
  return bytes.toString('latin1').trim();
}

/** Billecta's error text: the ErrorMessage header, then the body (a JSON message or the text), without repeats. */
export function billectaErrorText(header: string | undefined, body: string): string {
  const parts: string[] = [];
  const fromHeader = decodeErrorMessage(header);
  if (fromHeader) parts.push(fromHeader);
  let fromBody = body.trim();
  try {
    const parsed = JSON.parse(fromBody) as unknown;
    if (typeof parsed === 'string') fromBody = parsed;
    else if (parsed && typeof parsed === 'object') {
      const o = parsed as Record<string, unknown>;
      const message = o.Message ?? o.message ?? o.ErrorMessage ?? o.error;
      if (typeof message === 'string') fromBody = message;
    }
  } catch {
    // not JSON
  }
  fromBody = fromBody.slice(0, 500).trim();
  if (fromBody && fromBody !== fromHeader) parts.push(fromBody);
  return parts.join(' – ');
}

/** One call's state, shared with the exchange gate through AsyncLocalStorage. */
interface CallState {
  what: string;
  /** The headers of the call's last answer. */
  headers?: Record<string, string>;
}

/** A slot taken by the gate: in the shared count (its row) or in this client's only. */
interface Slot {
  shared: number | null;
}

export class BillectaClient {
  readonly name: string;
  readonly auth: BillectaAuth;
  readonly baseUrl: string;
  readonly failingCallsPerMinute: number;
  private readonly username: string;
  private readonly password: string;
  private readonly basic: string;
  private readonly http: HttpClient;
  private readonly log: BillectaLog | undefined;
  private readonly now: () => number;
  private readonly tokenMarginMs: number;
  private readonly calls = new AsyncLocalStorage<CallState>();
  private token: { value: string; header: string; until: number } | null = null;
  private authenticating: Promise<string> | null = null;
  /** Times of this client's failing answers of the current window, oldest first. */
  private failures: number[] = [];
  /** This client's exchanges on the wire now. */
  private inFlight = 0;
  /** The shared count, when given (see BillectaFailures). */
  private readonly sharedFailures: BillectaFailures | undefined;
  private currencyList: Promise<BillectaCurrency[]> | null = null;
  /** Secrets learnt at run time (the token), scrubbed from every message. */
  private readonly dynamicSecrets = new Set<string>();

  constructor(options: BillectaClientOptions) {
    this.name = options.name;
    this.auth = options.auth ?? 'token';
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    if (!options.username || !options.password) throw new BillectaCredentialError(`target ${options.name}: no Billecta username and password are configured`, 0);
    this.username = options.username;
    this.password = options.password;
    this.basic = `Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`;
    this.failingCallsPerMinute = options.failingCallsPerMinute ?? 40;
    this.sharedFailures = options.failures;
    this.tokenMarginMs = options.tokenMarginMs ?? 60_000;
    this.log = options.log;
    this.now = options.now ?? options.http?.now ?? Date.now;
    const rps = options.requestsPerSecond ?? 5;
    this.http = new HttpClient({
      readTimeoutMs: 60_000,
      rateLimit: { perSecond: rps, burst: Math.max(1, Math.floor(rps)) },
      ...options.http,
      name: `target ${options.name}`,
      secrets: [options.password, this.basic.slice('Basic '.length)],
      onRetry: (info) => {
        options.http?.onRetry?.(info);
        this.log?.warn(`retry ${info.attempt} in ${info.delayMs} ms: ${this.scrub(info.reason)}`);
      },
      gate: { enter: () => this.takeSlot(), leave: (slot, answer) => this.settleSlot(slot as Slot, answer) },
    });
  }

  /** Send one request of billectaRequestsFor, its placeholders already resolved. */
  async send(request: BillectaRequest): Promise<BillectaResponse> {
    if (/\{(debtor|product|action):/.test(request.path) || (request.body && /\{(debtor|product|action):/.test(JSON.stringify(request.body)))) {
      throw new PermanentError(`target ${this.name}: ${request.method} ${request.path}: a placeholder is left unresolved`);
    }
    return this.call(request.method, request.path, { body: request.body, headers: request.headers ?? {} });
  }

  /** A GET whose 404, or empty answer, means "not there". */
  async lookup(path: string): Promise<unknown> {
    try {
      const { body } = await this.call('GET', path, {});
      return body === '' ? null : body;
    } catch (error) {
      if (error instanceof BillectaNotFoundError) return null;
      throw error;
    }
  }

  async get(path: string): Promise<unknown> {
    return (await this.call('GET', path, {})).body;
  }

  /** GET /v1/currencies/currencies, once per client. */
  async currencies(): Promise<BillectaCurrency[]> {
    this.currencyList ??= this.get('/v1/currencies/currencies').then(
      (body) => (Array.isArray(body) ? (body as BillectaCurrency[]) : []),
      (error: unknown) => {
        this.currencyList = null;
        throw error;
      },
    );
    return this.currencyList;
  }

  /** This client's own failing answers in the current 60 s window (not those of other processes). */
  failingCallsInWindow(): number {
    this.prune();
    return this.failures.length;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ── the call ─────────────────────────────────────────────────────────────────────────

  private async call(method: HttpMethod, path: string, options: { body?: Record<string, unknown> | null; headers?: Readonly<Record<string, string>> }): Promise<BillectaResponse> {
    const what = `${method} ${path.split('?')[0]}`;
    const callId = Object.entries(options.headers ?? {}).find(([k]) => k.toLowerCase() === 'uniqueapicallid')?.[1];
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorization();
      try {
        return await this.exchange(method, path, what, authorization, options);
      } catch (error) {
        if (error instanceof HttpError && error.status === 401 && this.auth === 'token' && attempt === 0) {
          this.log?.info(`target ${this.name}: ${what}: HTTP 401, authenticating again`);
          this.token = null;
          continue;
        }
        throw error instanceof HttpError || !(error instanceof KontorError) ? this.classify(error, what, method, callId) : error;
      }
    }
  }

  private async exchange(method: HttpMethod, path: string, what: string, authorization: string, options: { body?: Record<string, unknown> | null; headers?: Readonly<Record<string, string>> }): Promise<BillectaResponse> {
    const headers: Record<string, string> = { ...(options.headers ?? {}), accept: 'application/json', authorization };
    const hasBody = options.body !== undefined && options.body !== null;
    if (hasBody) headers['content-type'] = 'application/json; charset=utf-8';
    const state: CallState = { what };
    try {
      const res = await this.calls.run(state, () =>
        this.http.request({
          method,
          url: `${this.baseUrl}${path}`,
          headers,
          // An empty body on writes without one (attest): Content-Length 0, as Billecta expects.
          body: hasBody ? JSON.stringify(options.body) : method === 'GET' ? undefined : '',
          idempotent: method === 'GET',
        }) as ReturnType<HttpClient['request']>,
      );
      return { status: res.status, body: this.parse(res.text, what) };
    } catch (error) {
      if (error instanceof HttpError) {
        const headerText = state.headers?.errormessage;
        (error as HttpError & { billecta?: string }).billecta = this.scrub(billectaErrorText(headerText, error.body));
      }
      throw error;
    }
  }

  private async authorization(): Promise<string> {
    if (this.auth === 'basic') return this.basic;
    if (this.token && this.now() < this.token.until) return this.token.header;
    this.authenticating ??= this.authenticate().finally(() => {
      this.authenticating = null;
    });
    return this.authenticating;
  }

  /** POST /v1/authentication/apiauthenticate with Basic: the SecureToken, cached until Expires. */
  private async authenticate(): Promise<string> {
    const what = 'POST /v1/authentication/apiauthenticate';
    let body: unknown;
    try {
      body = (await this.exchange('POST', '/v1/authentication/apiauthenticate', what, this.basic, {})).body;
    } catch (error) {
      if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
        throw new BillectaCredentialError(`target ${this.name}: ${what}: Billecta refused the username and password (HTTP ${error.status}); check the credentials of this environment in config.yaml`, error.status);
      }
      // Authenticating changes nothing at Billecta: a 5xx or a lost answer is retriable, never
      // "outcome unknown" of the document whose call needed the token (so classified as a read).
      throw error instanceof HttpError || !(error instanceof KontorError) ? this.classify(error, what, 'GET', undefined) : error;
    }
    const view = (body ?? {}) as { Value?: unknown; SecureToken?: unknown; Expires?: unknown };
    const value = typeof body === 'string' ? body : typeof view.Value === 'string' ? view.Value : typeof view.SecureToken === 'string' ? view.SecureToken : '';
    if (!value) throw new RetriableError(`target ${this.name}: ${what}: the answer carries no SecureToken (Value)`);
    this.dynamicSecrets.add(value);
    const header = Buffer.from(value, 'utf8').toString('base64');
    this.dynamicSecrets.add(header);
    // INFERRED: an Expires without an offset is read as UTC; a 401 renews the token anyway.
    const expiresText = typeof view.Expires === 'string' ? view.Expires : '';
    const parsed = expiresText ? Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(expiresText) ? expiresText : `${expiresText}Z`) : Number.NaN;
    const until = Number.isNaN(parsed) ? this.now() + 10 * 60_000 : parsed - this.tokenMarginMs;
    this.token = { value, header: `SecureToken ${header}`, until };
    this.log?.debug(`target ${this.name}: SecureToken obtained, valid until ${Number.isNaN(parsed) ? 'unknown (kept 10 minutes)' : new Date(parsed).toISOString()}`);
    return this.token.header;
  }

  private parse(text: string, what: string): unknown {
    if (text.trim() === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Some answers are bare text (an id); kept as it is.
      if (!/^[\s[{"]/.test(text)) return text.trim();
      throw new RetriableError(this.scrub(`target ${this.name}: ${what}: the response is not JSON: ${text.slice(0, 200)}`));
    }
  }

  /** The kontor error for a failed request (see the table in the header). */
  private classify(error: unknown, what: string, method: string, callId: string | undefined): Error {
    const prefix = `target ${this.name}: ${what}`;
    if (!(error instanceof HttpError)) return new BillectaInDoubtError(this.scrub(`${prefix}: ${error instanceof Error ? error.message : String(error)}`));
    const status = error.status;
    const detail = (error as HttpError & { billecta?: string }).billecta ?? this.scrub(error.body);
    const message = this.scrub(error.message);
    if (status === 401) return new BillectaCredentialError(`${prefix}: Billecta refused the credentials (HTTP 401${this.auth === 'token' ? ', also after authenticating again' : ''}${detail ? `: ${detail}` : ''}); check the username and password of this environment in config.yaml`, 401);
    if (status === 403) {
      if (callId && method !== 'GET') return new BillectaAlreadyDoneError(`${prefix}: Billecta answered 403 to UniqueApiCallId ${callId}: done before${detail ? ` (${detail})` : ''}`, callId);
      return new BillectaCredentialError(`${prefix}: Billecta refused access (HTTP 403${detail ? `: ${detail}` : ''}); check that the user may work for the creditor`, 403);
    }
    if (status === 404) return new BillectaNotFoundError(`${prefix}: not found at Billecta (HTTP 404)${detail ? `: ${detail}` : ''}`);
    if (status === 429) return new RetriableError(`${prefix}: Billecta is throttling (HTTP 429)${detail ? `: ${detail}` : ''}`);
    if (status !== null && status >= 500) {
      return method === 'GET' ? new RetriableError(message) : new BillectaInDoubtError(`${prefix}: HTTP ${status}${detail ? `: ${detail}` : ''} (Billecta may have carried it out)`);
    }
    if (status !== null) return new BillectaRejectedError(`${prefix}: Billecta refused it (HTTP ${status}): ${detail || 'no reason given'}`, status, detail);
    if (!error.retriable) return new PermanentError(message);
    if (method === 'GET' || NOT_SENT.test(error.message)) return new RetriableError(message);
    return new BillectaInDoubtError(`${message} (the request was sent; Billecta may have carried it out)`);
  }

  // ── the failing-calls budget ────────────────────────────────────────────────────────

  private prune(): void {
    const from = this.now() - WINDOW_MS;
    while (this.failures.length > 0 && this.failures[0]! <= from) this.failures.shift();
  }

  /**
   * The gate's entry, before each exchange: a slot of the budget, or BillectaThrottledError.
   * This client's own count (failures of the window plus exchanges in flight) is checked first;
   * then the shared one, which takes the slot atomically. Should the database be unreachable,
   * this client's own count still holds.
   */
  private async takeSlot(): Promise<Slot> {
    const what = this.calls.getStore()?.what ?? 'request';
    this.prune();
    const now = this.now();
    const own = this.failures.length + this.inFlight;
    if (own >= this.failingCallsPerMinute) throw this.throttled(what, own, this.failures[0] ?? null, now);
    let shared: number | null = null;
    if (this.sharedFailures) {
      let taken: Awaited<ReturnType<BillectaFailures['take']>> | null = null;
      try {
        taken = await this.sharedFailures.take(now, WINDOW_MS, this.failingCallsPerMinute);
      } catch (error) {
        this.log?.warn(`target ${this.name}: the shared failing-calls count could not be read, counting this process's own: ${this.scrub(error instanceof Error ? error.message : String(error))}`);
      }
      if (taken && 'refused' in taken) throw this.throttled(what, taken.refused.count, taken.refused.oldest, now);
      if (taken) shared = taken.slot;
    }
    this.inFlight++;
    return { shared };
  }

  /** The gate's exit, after each exchange: a failing answer is counted, the slot freed. Never throws. */
  private async settleSlot(slot: Slot, answer: { status: number; headers: Record<string, string> } | null): Promise<void> {
    this.inFlight--;
    const state = this.calls.getStore();
    if (state && answer) state.headers = answer.headers;
    const failing = answer !== null && answer.status >= 400 && answer.status !== 404;
    const at = this.now();
    if (failing) this.failures.push(at);
    if (slot.shared === null) return;
    try {
      await this.sharedFailures!.settle(slot.shared, failing, at);
    } catch (error) {
      this.log?.warn(`target ${this.name}: a call could not be settled in the shared count (it stays counted for a few minutes): ${this.scrub(error instanceof Error ? error.message : String(error))}`);
    }
  }

  /** Nothing is sent: `count` failing calls (and calls in flight) fill the window; sending resumes when the oldest failure leaves it. */
  private throttled(what: string, count: number, oldest: number | null, now: number): BillectaThrottledError {
    // Only calls in flight: they end within seconds, failing or not.
    const retryAt = oldest === null ? now + 1_000 : oldest + WINDOW_MS;
    return new BillectaThrottledError(
      `target ${this.name}: ${what}: not sent: ${count} failing calls to Billecta (and calls in flight) in the last 60 s (budget ${this.failingCallsPerMinute}, Billecta delays callers after 50); sending resumes in ${Math.max(1, Math.ceil((retryAt - now) / 1000))} s`,
      retryAt,
    );
  }

  /** No text of this client may carry the password or the token. */
  scrub(text: string): string {
    let out = text;
    for (const secret of [this.password, this.basic.slice('Basic '.length), ...this.dynamicSecrets, this.username.length >= 4 ? `${this.username}:${this.password}` : '']) {
      if (secret.length >= 4) out = out.split(secret).join('[REDACTED]');
    }
    return out;
  }
}
