/**
 * The one HTTP client of kontor's sources and targets, on undici.
 *
 * Why undici's `request` rather than `fetch`: keep-alive pools per origin, separate connect,
 * header and body timeouts, and no global side effects. (msw intercepts `fetch` and
 * `node:http`, not undici: kontor's HTTP tests run against real servers on loopback.)
 *
 * Transport (option `transport`): `undici` (default) sends with undici's `request` on the
 * client's own Agent, as above. `fetch` sends through `globalThis.fetch` instead, looked up at
 * each request, so that msw (`setupServer` from 'msw/node', which patches the global fetch)
 * can intercept a client in unit tests. Retries, Retry-After, the rate limit, redaction and the
 * HTTPS rule are the same for both. What differs: `fetch` has no separate connect, header and
 * body timers, so `readTimeoutMs` (AbortSignal.timeout) bounds the whole exchange (connect,
 * headers and body) and `connectTimeoutMs` is not used; redirects are not followed by either
 * (`redirect: 'manual'`); connections are pooled by Node's global dispatcher. Production code
 * keeps the default.
 *
 * - HTTPS only, except to loopback (emulators, local tests).
 * - Retries 429, 5xx and network failures of idempotent requests with exponential backoff and
 *   full jitter, honouring `Retry-After` (seconds or an HTTP date), up to `retries` times.
 * - A token bucket limits the request rate per client (one client per source or target). It
 *   adapts: each 429 halves the rate (to a floor), successes win it back step by step (AIMD).
 *   A Retry-After is still honoured on top of it.
 * - Credentials never leave in a message: every URL, header and error text passes the redactor.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { KontorError } from '../errors.js';
import { REDACTED, Redactor } from '../log/redact.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: HttpMethod;
  url: string | URL;
  headers?: Record<string, string>;
  /** JSON body; sets Content-Type. */
  json?: unknown;
  /** Text, or bytes (a multipart upload). */
  body?: string | Uint8Array;
  /** Safe to repeat (GET is; a POST only when the server de-duplicates it, e.g. a search). */
  idempotent?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  json<T = unknown>(): T;
}

export interface RateLimit {
  /** Requests per second on average, at most: the rate the client starts at and returns to. */
  perSecond: number;
  /** How many may go at once after a quiet spell (at the full rate; less while slowed down). */
  burst: number;
  /**
   * Adapt to the server (default true): each 429 halves the rate, down to `minPerSecond`, and
   * each success adds `perSecond / 20` back, up to `perSecond` (additive increase,
   * multiplicative decrease). False: always `perSecond`.
   */
  adaptive?: boolean;
  /** The floor of the adaptive rate. Default `perSecond / 16`. */
  minPerSecond?: number;
}

export interface HttpClientOptions {
  /** Names the client in messages: `source shop`. */
  name: string;
  connectTimeoutMs?: number;
  /** Time to the response headers, and between body chunks. */
  readTimeoutMs?: number;
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  rateLimit?: RateLimit;
  /** Values to redact wherever they would appear (keys, tokens, passwords). */
  secrets?: Iterable<string>;
  /** For tests: instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** The longest Retry-After honoured by waiting (default 5 minutes); a longer one ends the request, retriably. */
  maxRetryAfterMs?: number;
  /** Attempts after a 429 before giving up (default 10, at least `retries`): a throttling server is alive and pacing us. */
  throttleRetries?: number;
  /** For tests: the clock of the rate limit and of `Retry-After` dates (ms since the epoch). */
  now?: () => number;
  /** Told about each retry, already redacted. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /**
   * How requests go out: `undici` (default) on the client's own undici Agent, or `fetch`
   * through `globalThis.fetch` (for msw unit tests; see the header comment for what differs).
   */
  transport?: HttpTransport;
  /** Wraps every exchange on the wire, retries included (see ExchangeGate). */
  gate?: ExchangeGate;
  /**
   * Told about each exchange on the wire once it has ended, retries included (for metrics):
   * its method, the status (null when no answer came) and how long it took, from sending to
   * the end of the body (the rate limit's and the gate's waits left out). Must not throw.
   */
  observe?: (exchange: ExchangeObservation) => void;
}

export interface ExchangeObservation {
  method: HttpMethod;
  /** Null when no answer came (a network failure or a timeout). */
  status: number | null;
  durationMs: number;
}

/**
 * A budget around each exchange on the wire (Billecta's failing-calls budget): `enter` runs
 * before each attempt goes out, after the rate limit, and may refuse by throwing (the error
 * leaves `request` as it is, nothing sent); `leave` is told how that attempt ended: its status
 * and headers, or null when no answer came.
 */
export interface ExchangeGate {
  enter(): Promise<unknown>;
  leave(ticket: unknown, answer: { status: number; headers: Record<string, string> } | null): Promise<void>;
}

export type HttpTransport = 'undici' | 'fetch';

/** One request and response on the wire, before any status handling. */
interface Exchange {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Why a request failed, redacted, with whether trying again later may help. */
export class HttpError extends KontorError {
  override name = 'HttpError';
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly status: number | null,
    readonly retriable: boolean,
    /** The response body (redacted), when there was one. */
    readonly body = '',
  ) {
    super(message);
  }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** Query parameters that carry credentials by name (WooCommerce's consumer_key, RMA's api_key). */
const SECRET_PARAMS = /^(api_key|apikey|key|consumer_key|consumer_secret|secret|token|access_token|password|client_secret)$/i;

/** The parameters of a query string (without `?`) as raw `name=value` pairs and decoded names. */
function queryPairs(search: string): { pair: string; rawName: string; name: string; value: string }[] {
  if (search === '') return [];
  return search.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    return { pair, rawName, name: decodeQueryPart(rawName), value: eq < 0 ? '' : decodeQueryPart(pair.slice(eq + 1)) };
  });
}

function decodeQueryPart(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * The URL for messages: credential parameters and the password replaced by `[REDACTED]`
 * (literally: not percent-encoded as URLSearchParams would), the rest of the query as it was.
 */
export function redactUrl(url: URL, redactor: Redactor): string {
  const copy = new URL(url);
  const placeholder = 'kontor-redacted-0f3a9c';
  if (copy.search) {
    const pairs = queryPairs(copy.search.slice(1));
    // The URL's query serializer leaves the placeholder alone; it is swapped for the marker below.
    copy.search = pairs.map((p) => (SECRET_PARAMS.test(p.name) ? `${p.rawName}=${placeholder}` : p.pair)).join('&');
  }
  if (copy.password) copy.password = placeholder;
  return redactor.text(copy.toString().split(placeholder).join(REDACTED));
}

/** The values of credential query parameters in a URL, to redact wherever a server echoes them. */
function secretParamValues(url: URL): string[] {
  const values = queryPairs(url.search.slice(1))
    .filter((p) => SECRET_PARAMS.test(p.name) && p.value !== '')
    .map((p) => p.value);
  if (url.password) values.push(decodeQueryPart(url.password));
  return values;
}

/** Seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * A token bucket whose rate adapts to the server (AIMD, as TCP does with its window): a 429
 * halves the rate, down to a floor, and empties the bucket, so the next request waits for a
 * token at the new rate; each success adds a twentieth of the configured rate back, so the
 * client finds its way up again over some twenty requests, never above the configured rate.
 * The burst shrinks with the rate.
 */
class TokenBucket {
  private tokens: number;
  private last: number;
  /** Requests per second now. */
  rate: number;
  private readonly floor: number;
  private readonly step: number;
  constructor(
    private readonly limit: RateLimit,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly now: () => number,
  ) {
    this.tokens = limit.burst;
    this.last = now();
    this.rate = limit.perSecond;
    this.floor = Math.min(limit.perSecond, limit.minPerSecond ?? limit.perSecond / 16);
    this.step = limit.perSecond / 20;
  }
  private get burst(): number {
    return Math.max(1, (this.limit.burst * this.rate) / this.limit.perSecond);
  }
  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
  async take(): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }
  /** The server said 429: slow down. */
  throttled(): void {
    if (this.limit.adaptive === false) return;
    this.refill();
    this.rate = Math.max(this.floor, this.rate / 2);
    this.tokens = 0;
  }
  /** An answer below 400: speed up a little, up to the configured rate. */
  succeeded(): void {
    if (this.limit.adaptive === false || this.rate >= this.limit.perSecond) return;
    this.refill();
    this.rate = Math.min(this.limit.perSecond, this.rate + this.step);
  }
}

function headerRecord(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export class HttpClient {
  readonly name: string;
  readonly transport: HttpTransport;
  /** Created on first use by the undici transport only. */
  private agent: Agent | null = null;
  /** Exchanges of the undici transport under way (viaUndici). */
  private exchanging = 0;
  private readonly connectTimeoutMs: number;
  private readonly readTimeoutMs: number;
  private readonly redactor: Redactor;
  /** Redactors that also know the credentials of a request's query (redactorFor). */
  private readonly urlRedactors = new Map<string, Redactor>();
  private readonly retries: number;
  private readonly throttleRetries: number;
  private readonly maxRetryAfterMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly secrets: string[];
  private readonly bucket: TokenBucket | null;
  private readonly onRetry: HttpClientOptions['onRetry'];
  private readonly gate: ExchangeGate | undefined;
  private readonly observe: HttpClientOptions['observe'];

  constructor(options: HttpClientOptions) {
    this.name = options.name;
    this.transport = options.transport ?? 'undici';
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 30_000;
    this.secrets = [...(options.secrets ?? [])];
    this.redactor = new Redactor(this.secrets);
    this.retries = options.retries ?? 4;
    this.throttleRetries = Math.max(this.retries, options.throttleRetries ?? 10);
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.sleep = options.sleep ?? sleep;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.bucket = options.rateLimit ? new TokenBucket(options.rateLimit, this.sleep, this.now) : null;
    this.onRetry = options.onRetry;
    this.gate = options.gate;
    this.observe = options.observe;
  }

  /** Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer. */
  backoffMs(attempt: number, retryAfter: number | null): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** attempt);
    const jittered = Math.round(this.random() * ceiling);
    return retryAfter === null ? jittered : Math.min(Math.max(retryAfter, jittered), Math.max(this.maxDelayMs, retryAfter));
  }

  /** The requests per second the rate limit allows now (below the configured rate after 429s), or null without one. */
  get rate(): number | null {
    return this.bucket?.rate ?? null;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const url = req.url instanceof URL ? req.url : new URL(req.url);
    const redactor = this.redactorFor(url);
    // Only messages show the URL: redacted when one is written, not for every request.
    let redactedUrl: string | undefined;
    const shown = () => (redactedUrl ??= redactUrl(url, redactor));
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
      throw new HttpError(`${this.name}: ${shown()}: only HTTPS is allowed (plain HTTP only to loopback)`, null, false);
    }
    const idempotent = req.idempotent ?? req.method === 'GET';
    const headers: Record<string, string> = { accept: 'application/json', ...lowerKeys(req.headers ?? {}) };
    let body = req.body;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] ??= 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      if (this.bucket) await this.bucket.take();
      const ticket = this.gate ? await this.gate.enter() : undefined;
      let failure: { reason: string; status: number | null; retryAfter: number | null; body: string };
      try {
        let res: Exchange;
        const sent = performance.now();
        try {
          res = this.transport === 'fetch' ? await this.viaFetch(url, req.method, headers, body) : await this.viaUndici(url, req.method, headers, body);
        } catch (error) {
          this.observed(req.method, null, sent);
          await this.gate?.leave(ticket, null);
          throw error;
        }
        this.observed(req.method, res.status, sent);
        await this.gate?.leave(ticket, res);
        const { text } = res;
        const resHeaders = res.headers;
        if (res.status === 429) this.bucket?.throttled();
        if (res.status < 400) {
          this.bucket?.succeeded();
          return {
            status: res.status,
            headers: resHeaders,
            text,
            json: <T>() => {
              try {
                return JSON.parse(text) as T;
              } catch {
                throw new HttpError(`${this.name}: ${req.method} ${shown()}: the response is not JSON: ${redactor.text(text.slice(0, 200))}`, res.status, false);
              }
            },
          };
        }
        const retriable = res.status === 429 || res.status >= 500;
        failure = { reason: `HTTP ${res.status}`, status: res.status, retryAfter: retryAfterMs(resHeaders['retry-after'], this.now()), body: redactor.text(text.slice(0, 2000)) };
        if (!retriable) {
          throw new HttpError(`${this.name}: ${req.method} ${shown()}: HTTP ${res.status}${failure.body ? `: ${failure.body.slice(0, 300)}` : ''}`, res.status, false, failure.body);
        }
      } catch (error) {
        if (error instanceof HttpError) throw error;
        failure = { reason: redactor.text(networkReason(error)), status: null, retryAfter: null, body: '' };
      }
      // A request that is not safe to repeat may have reached the server: its caller decides.
      const canRetry = idempotent || failure.status === 429;
      const budget = failure.status === 429 ? this.throttleRetries : this.retries;
      // A server that asks for a long pause holds the whole run (kontor works one job at a time):
      // give up now, retriably, and let the next scheduled run try again.
      if (failure.retryAfter !== null && failure.retryAfter > this.maxRetryAfterMs) {
        throw new HttpError(`${this.name}: ${req.method} ${shown()}: ${failure.reason}: the server asks to wait ${Math.round(failure.retryAfter / 1000)} s (Retry-After), more than ${Math.round(this.maxRetryAfterMs / 1000)} s; trying again on the next run`, failure.status, true, failure.body);
      }
      if (!canRetry || attempt >= budget) {
        throw new HttpError(
          `${this.name}: ${req.method} ${shown()}: ${failure.reason}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}${failure.body ? `: ${failure.body.slice(0, 300)}` : ''}`,
          failure.status,
          true,
          failure.body,
        );
      }
      const delayMs = this.backoffMs(attempt, failure.retryAfter);
      this.onRetry?.({ attempt: attempt + 1, delayMs, reason: `${req.method} ${shown()}: ${failure.reason}` });
      await this.sleep(delayMs);
    }
  }

  /**
   * The redactor for a request: a credential sent as a query parameter is redacted wherever the
   * server echoes it (body, error) as well. Kept per set of such values, since a client sends
   * the same key with every request.
   */
  private redactorFor(url: URL): Redactor {
    if (url.search === '') return this.redactor;
    const inUrl = secretParamValues(url);
    if (inUrl.length === 0) return this.redactor;
    const key = inUrl.join('\n');
    let redactor = this.urlRedactors.get(key);
    if (redactor === undefined) {
      if (this.urlRedactors.size >= 16) this.urlRedactors.clear();
      redactor = new Redactor([...this.secrets, ...inUrl]);
      this.urlRedactors.set(key, redactor);
    }
    return redactor;
  }

  private observed(method: HttpMethod, status: number | null, sent: number): void {
    if (!this.observe) return;
    try {
      this.observe({ method, status, durationMs: performance.now() - sent });
    } catch {
      // An observer's failure is no failure of the request.
    }
  }

  private async viaUndici(url: URL, method: HttpMethod, headers: Record<string, string>, body: string | Uint8Array | undefined): Promise<Exchange> {
    this.agent ??= new Agent({ connect: { timeout: this.connectTimeoutMs }, headersTimeout: this.readTimeoutMs, bodyTimeout: this.readTimeoutMs, keepAliveTimeout: 10_000 });
    this.exchanging++;
    let text: string;
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(url, { method, headers, body: body ?? null, dispatcher: this.agent });
      text = await res.body.text();
    } finally {
      this.exchanging--;
    }
    // undici returns the connection to its pool only at the next check phase of the event loop
    // after the body's end. A caller that sends one request after another (a source paging)
    // waits for that turn, or its next request would find the connection busy and open a
    // second one. Callers with other requests under way (a target delivering 8 at once) do
    // not: the connection they would wait for is not the only one, and the turn would hold
    // their next request back by a whole turn of the loop (measured: docs/performance.md).
    if (this.exchanging === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    return { status: res.statusCode, headers: headerRecord(res.headers), text };
  }

  /** The `fetch` transport: the global fetch, looked up now (msw replaces it), one deadline for the whole exchange. */
  private async viaFetch(url: URL, method: HttpMethod, headers: Record<string, string>, body: string | Uint8Array | undefined): Promise<Exchange> {
    const signal = AbortSignal.timeout(this.readTimeoutMs);
    try {
      const res = await globalThis.fetch(url, { method, headers, body: body ?? null, signal, redirect: 'manual' });
      const text = await res.text();
      const out: Record<string, string> = {};
      res.headers.forEach((value, name) => (out[name.toLowerCase()] = value));
      return { status: res.status, headers: out, text };
    } catch (error) {
      if (signal.aborted || (error instanceof Error && error.name === 'TimeoutError')) {
        throw Object.assign(new Error(`no complete response within ${this.readTimeoutMs} ms`), { code: 'ETIMEDOUT' });
      }
      // fetch reports every network failure as TypeError("fetch failed"); the reason is its cause.
      const cause = error instanceof Error ? (error as { cause?: unknown }).cause : undefined;
      throw cause instanceof Error ? cause : error;
    }
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * What went wrong on the wire, for people: undici's message with its code (UND_ERR_HEADERS_TIMEOUT,
 * ECONNREFUSED). A connect to a name with several addresses fails as an AggregateError without a
 * message of its own: its errors are listed.
 */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = error instanceof AggregateError && error.errors.length > 0 ? [...new Set(error.errors.map(networkReason))].join('; ') : '';
  const message = error.message || inner || error.name;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
