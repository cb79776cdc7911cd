/**
 * The Run my Accounts (RMA) REST client: sends the requests of requests.ts and reads what the
 * target needs back (invoices, charts, parts, saldo), turning every HTTP outcome into one of
 * kontor's error kinds. Rules from shared/reference/runmyaccounts.md; tags as in requests.ts
 * ([docs], [client], [inferred]).
 *
 * Transport (§1): `{baseUrl}/api/{version}/clients/{mandant}/…`, version `latest`. UTF-8.
 *
 * Authentication (§0.2), option `auth`:
 * - `bearer` (default): `Authorization: Bearer KEY`, what both maintained clients switched to
 *   in 2025/2026 [client];
 * - `query`: the documented `?api_key=KEY` [docs].
 * The key is given to the HttpClient as a secret, so it is redacted from every URL, retry
 * reason and error text (the HttpClient's messages show URLs with `api_key=[REDACTED]`); the
 * client's own messages name paths only, and pass a last scrub of the key.
 *
 * Format (§1), option `format`: `json` (default) or `xml`. It sets the request body
 * (`Content-Type: application/json; charset=utf-8`, or the same object as XML, xml.ts) and
 * `Accept`, which is always sent: without it RMA answers XML [docs + client]. Responses are
 * normalised: XML is unwrapped to the JSON shape, and a list that RMA returns as a single
 * object when it has one element (`{"part": {…}}`) is always an array here (§0.5).
 *
 * What each outcome means (issue #6, "Errors"):
 *
 * | outcome | error | deliver.ts does |
 * |---|---|---|
 * | 200, 204 | – | success |
 * | 400 `{"error": …}` | RmaRejectedError (a PermanentError) with RMA's message | dead letter, no retry |
 * | 401, 403 | RmaCredentialError (a CredentialError) | the target stops, the entry waits, one alert |
 * | 404 | RmaNotFoundError (a PermanentError); a lookup answers null instead | dead letter |
 * | 429, or 5xx / network failure of a request safe to repeat | RetriableError | retry with backoff |
 * | 5xx, or a network failure after the body may have gone out, of a POST that is not safe to repeat | RmaInDoubtError | in-doubt: look up before resending |
 * | a connection that was never made (refused, DNS, connect timeout, TLS) | RetriableError | retry: nothing was sent |
 * | any other 4xx | PermanentError | dead letter |
 *
 * GETs and requests marked `idempotent` (the customer upsert) are retried inside the
 * HttpClient first (retries, Retry-After); a POST that is not is sent once. Whether a network
 * failure happened before anything was sent is read from the error code the HttpClient puts in
 * its message (ECONNREFUSED, ENOTFOUND, UND_ERR_CONNECT_TIMEOUT, TLS codes: NOT_SENT below);
 * any other failure of such a POST counts as possibly sent, the safe side.
 */
import { createHash } from 'node:crypto';
import { HttpClient, HttpError, type HttpClientOptions } from '../../http/client.js';
import { CredentialError, KontorError, PermanentError, RetriableError } from '../../errors.js';
import type { RmaRequest } from './requests.js';
import { fromXml, toXml, xmlRootOf } from './xml.js';

export type RmaAuth = 'bearer' | 'query';
export type RmaFormat = 'json' | 'xml';

/** Where log lines go; winston's Logger fits. The client and target never pass a secret to it. */
export interface RmaLog {
  error(message: string): unknown;
  warn(message: string): unknown;
  info(message: string): unknown;
  debug(message: string): unknown;
}

export interface RunMyAccountsClientOptions {
  /** The target's name, for messages (`target rma`). */
  name: string;
  /** Scheme and host (ResolvedTarget.baseUrl), e.g. `https://service.runmyaccounts.com`. */
  baseUrl: string;
  /** The RMA client ("Mandant") name. */
  mandant: string;
  apiKey: string;
  /** Default `latest` [docs]. */
  apiVersion?: string;
  /** Default `bearer` (see the header). */
  auth?: RmaAuth;
  /** Default `json`. */
  format?: RmaFormat;
  /**
   * Passed to the HttpClient (transport, retries, timeouts, sleep, rate limit). Defaults here:
   * read timeout 60 s (clients use 30 s–1 min [client]), 5 requests per second (no limit is
   * documented; the reference advises going gently, §12).
   */
  http?: Partial<Omit<HttpClientOptions, 'name' | 'secrets'>>;
  /** Read timeout of the slow reads (saldo): 5 minutes as in the C# client [client]. */
  slowReadTimeoutMs?: number;
  log?: RmaLog;
}

/** RMA refused the request (HTTP 400): `rmaMessage` is its `error` text. Not retried. */
export class RmaRejectedError extends PermanentError {
  override name = 'RmaRejectedError';
  constructor(
    message: string,
    readonly status: number,
    /** RMA's own `error` text (or the body when it had none), redacted. */
    readonly rmaMessage: string,
  ) {
    super(message);
  }
}

/** The resource is not at RMA (HTTP 404). A lookup answers null instead of throwing this. */
export class RmaNotFoundError extends PermanentError {
  override name = 'RmaNotFoundError';
}

/**
 * RMA refused the API key (HTTP 401/403): no request of this target can succeed until a
 * person fixes the key. A CredentialError (errors.ts; a RetriableError with `stopsTarget`):
 * deliver.ts puts the entry back without using up an attempt, alerts once and stops delivering
 * to this target; the target itself also stops sending after the first one (target.ts).
 */
export class RmaCredentialError extends CredentialError {
  override name = 'RmaCredentialError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * A POST may or may not have been carried out: the body went out and no answer came back (a
 * dropped connection, a timeout) or RMA answered 5xx. Deliberately neither RetriableError nor
 * PermanentError: deliver.ts marks the entry in-doubt and looks it up before sending it again.
 */
export class RmaInDoubtError extends KontorError {
  override name = 'RmaInDoubtError';
  readonly exitCode = 1;
}

export interface RmaResponse {
  status: number;
  /** The parsed, unwrapped body; null for 204 or an empty body. */
  body: unknown;
}

/** An invoice as GET /invoices/{invnumber} answers it: every scalar a string [docs]. */
export interface RmaInvoice {
  invnumber: string;
  currency?: string;
  /** Gross amount. */
  amount?: string;
  netamount?: string;
  /** What payments settled so far. */
  paid?: string;
  status?: string;
  [field: string]: unknown;
}

export interface RmaPart {
  partnumber: string;
  [field: string]: unknown;
}

/** One account of GET /charts, from the XML attributes (`@accno` in JSON) [client] + [inferred JSON]. */
export interface RmaChartAccount {
  accno: string;
  description: string;
  /** Colon-separated links, e.g. `AR_paid:AP_paid`. */
  link: string;
  allowGl: boolean;
  isActive: boolean;
}

/** One row of GET gl/v2/saldo [docs]. */
export interface RmaSaldoRow {
  accountnumber: string;
  accountname: string;
  /** Decimal text, e.g. "23.8000". */
  amount: string;
}

export interface SendOptions {
  /**
   * Safe to send again after a failure whose outcome is unknown: the customer upsert is (RMA's
   * create-or-update). An invoice POST is not (a second one is refused as a duplicate, and the
   * target looks it up), nor is a payment (RMA has no payment ids). Default: GET only.
   */
  idempotent?: boolean;
}

/** Network failures that happen before a byte of the request is sent: nothing reached RMA. */
const NOT_SENT =
  /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|UND_ERR_CONNECT_TIMEOUT|CERT_HAS_EXPIRED|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID)\b/;

/** A list that RMA may give as an array, a single object (one element), empty text or null [docs + client]. */
export function asList<T = Record<string, unknown>>(value: unknown): T[] {
  if (value === undefined || value === null || value === '') return [];
  return (Array.isArray(value) ? value : [value]) as T[];
}

/**
 * The elements of a list response: `{"part": […]}` or `{"part": {…}}` in JSON, `<parts><part>`
 * in XML (already unwrapped to the same shape), or a bare array.
 */
export function listOf<T = Record<string, unknown>>(body: unknown, element: string): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body === null || typeof body !== 'object') return [];
  const record = body as Record<string, unknown>;
  if (element in record) return asList<T>(record[element]);
  // A wrapper the unwrapping left in place: {"parts": {"part": […]}}.
  const wrapped = record[`${element}s`];
  if (wrapped && typeof wrapped === 'object' && element in (wrapped as Record<string, unknown>)) return asList<T>((wrapped as Record<string, unknown>)[element]);
  return [];
}

/**
 * RMA's error text from a response body: `{ "error": "…" }` [docs + client], `<error>…</error>`
 * (inner elements such as `<message>` flattened), or the body itself.
 */
export function rmaErrorText(body: string): string {
  const text = body.trim();
  if (text === '') return '';
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') return (parsed as { error: string }).error;
  } catch {
    // not JSON
  }
  const json = /"error"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
  if (json) return json[1]!.replace(/\\(.)/g, '$1');
  const xml = /<error>([\s\S]*?)<\/error>/.exec(text);
  if (xml) return xml[1]!.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text.slice(0, 300);
}

const bool = (value: unknown): boolean => value === true || value === 'true' || value === '1';

export class RunMyAccountsClient {
  readonly name: string;
  readonly auth: RmaAuth;
  readonly format: RmaFormat;
  /** `/api/{version}/clients/{mandant}`: every request path starts with it. */
  readonly basePath: string;
  private readonly origin: string;
  private readonly apiKey: string;
  private readonly http: HttpClient;
  private readonly slowHttp: HttpClient;
  private readonly log: RmaLog | undefined;

  constructor(options: RunMyAccountsClientOptions) {
    this.name = options.name;
    this.auth = options.auth ?? 'bearer';
    this.format = options.format ?? 'json';
    this.origin = options.baseUrl.replace(/\/+$/, '');
    const mandant = options.mandant.trim();
    if (mandant === '') throw new PermanentError(`target ${options.name}: the Run my Accounts mandant must not be empty`);
    this.basePath = `/api/${encodeURIComponent(options.apiVersion ?? 'latest')}/clients/${encodeURIComponent(mandant)}`;
    if (!options.apiKey) throw new RmaCredentialError(`target ${options.name}: no Run my Accounts API key is configured`, 0);
    this.apiKey = options.apiKey;
    this.log = options.log;
    const common: HttpClientOptions = {
      readTimeoutMs: 60_000,
      rateLimit: { perSecond: 5, burst: 5 },
      ...options.http,
      name: `target ${options.name}`,
      secrets: [options.apiKey],
      onRetry: (info) => {
        options.http?.onRetry?.(info);
        this.log?.warn(`retry ${info.attempt} in ${info.delayMs} ms: ${this.scrub(info.reason)}`);
      },
    };
    this.http = new HttpClient(common);
    this.slowHttp = new HttpClient({ ...common, readTimeoutMs: options.slowReadTimeoutMs ?? Math.max(300_000, common.readTimeoutMs ?? 0) });
  }

  /** The MIME type of bodies and of `Accept`. */
  get mediaType(): string {
    return this.format === 'xml' ? 'application/xml' : 'application/json';
  }

  /** The body `request` goes out with, exactly as sent: JSON text or an XML document. */
  encode(request: RmaRequest): string | undefined {
    if (request.body === null) return undefined;
    return this.format === 'xml' ? toXml(xmlRootOf(request.path), request.body) : JSON.stringify(request.body);
  }

  /** Send one request of rmaRequestsFor (or any RmaRequest under this mandant). */
  async send(request: RmaRequest, options: SendOptions = {}): Promise<RmaResponse> {
    if (!request.path.startsWith(`${this.basePath}/`)) {
      throw new PermanentError(`target ${this.name}: ${request.method} ${request.path} is not under ${this.basePath} (a request built for another mandant or API version)`);
    }
    return this.call(request.method, request.path.slice(this.basePath.length), { query: request.query, body: this.encode(request), idempotent: options.idempotent ?? request.method === 'GET' });
  }

  /** GET /invoices/{invnumber}; null when RMA has no such invoice (404). */
  async getInvoice(invnumber: string): Promise<RmaInvoice | null> {
    const body = await this.lookup(`/invoices/${encodeURIComponent(invnumber)}`);
    if (body === null || typeof body !== 'object') return null;
    return { ...(body as Record<string, unknown>), invnumber: String((body as { invnumber?: unknown }).invnumber ?? invnumber) } as RmaInvoice;
  }

  /** GET /customers/{customernumber}; null when RMA has no such customer (404). */
  async getCustomer(customernumber: string): Promise<Record<string, unknown> | null> {
    const body = await this.lookup(`/customers/${encodeURIComponent(customernumber)}`);
    return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : null;
  }

  /**
   * Upload a receipt (Beleg) with POST /belege, multipart with the file in the part `Filedata`
   * (PDF, PNG, JPEG, GIF; RMA's limit is 25 MB). RMA answers 409 for a document it already has:
   * that counts as uploaded, so an upload can be repeated safely.
   */
  async uploadReceipt(file: { name: string; contentType: string; data: Uint8Array }): Promise<'uploaded' | 'already there'> {
    const boundary = `kontor-${createHash('sha256').update(file.data).digest('hex').slice(0, 24)}`;
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="Filedata"; filename="${file.name.replace(/["\r\n]/g, '_')}"\r\nContent-Type: ${file.contentType}\r\n\r\n`);
    const body = Buffer.concat([head, Buffer.from(file.data), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const url = new URL(`${this.origin}${this.basePath}/belege`);
    const headers: Record<string, string> = { accept: this.mediaType, 'content-type': `multipart/form-data; boundary=${boundary}` };
    if (this.auth === 'query') url.searchParams.set('api_key', this.apiKey);
    else headers.authorization = `Bearer ${this.apiKey}`;
    try {
      await this.http.request({ method: 'POST', url, headers, body, idempotent: true });
      return 'uploaded';
    } catch (error) {
      if (error instanceof HttpError && error.status === 409) return 'already there';
      throw this.classify(error, 'POST /belege', 'POST', true);
    }
  }

  /** GET /parts: every part of the mandant. */
  async parts(): Promise<RmaPart[]> {
    const { body } = await this.call('GET', '/parts', { idempotent: true });
    return listOf<Record<string, unknown>>(body, 'part').map((p) => ({ ...p, partnumber: String(p.partnumber ?? p['@partnumber'] ?? '') }));
  }

  /** GET /charts: every account with its link and flags (attributes `@accno`…, or plain keys). */
  async charts(): Promise<RmaChartAccount[]> {
    const { body } = await this.call('GET', '/charts', { idempotent: true });
    return listOf<Record<string, unknown>>(body, 'chart').map((c) => {
      const field = (name: string) => c[`@${name}`] ?? c[name];
      return {
        accno: String(field('accno') ?? ''),
        description: String(field('description') ?? ''),
        link: String(field('link') ?? ''),
        allowGl: bool(field('allow_gl')),
        isActive: field('is_active') === undefined ? true : bool(field('is_active')),
      };
    });
  }

  /**
   * GET gl/v2/saldo?accno=… [docs]: balance-sheet accounts need no `from`; income-statement
   * accounts need `from` and `to`. In the bookkeeping main currency (RMA's default).
   */
  async saldo(accno: string, range: { from?: string; to?: string } = {}): Promise<RmaSaldoRow[]> {
    const query: Record<string, string> = { accno };
    if (range.from) query.from = range.from;
    if (range.to) query.to = range.to;
    const { body } = await this.call('GET', '/gl/v2/saldo', { query, idempotent: true, slow: true });
    return listOf<Record<string, unknown>>(body, 'row').map((r) => ({
      accountnumber: String(r.accountnumber ?? ''),
      accountname: String(r.accountname ?? ''),
      amount: String(r.amount ?? '0'),
    }));
  }

  async close(): Promise<void> {
    await this.http.close();
    await this.slowHttp.close();
  }

  /** A GET whose 404 means "not there". */
  private async lookup(path: string): Promise<unknown> {
    try {
      return (await this.call('GET', path, { idempotent: true })).body;
    } catch (error) {
      if (error instanceof RmaNotFoundError) return null;
      throw error;
    }
  }

  private async call(
    method: RmaRequest['method'],
    path: string,
    options: { query?: Record<string, string> | undefined; body?: string | undefined; idempotent: boolean; slow?: boolean },
  ): Promise<RmaResponse> {
    const url = new URL(`${this.origin}${this.basePath}${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: this.mediaType };
    if (this.auth === 'query') url.searchParams.set('api_key', this.apiKey);
    else headers.authorization = `Bearer ${this.apiKey}`;
    if (options.body !== undefined) headers['content-type'] = `${this.mediaType}; charset=utf-8`;
    // Names the request in messages: the path without the query (which may hold the key).
    const what = `${method} ${path}`;
    const http = options.slow ? this.slowHttp : this.http;
    let res;
    try {
      res = await http.request({ method, url, headers, ...(options.body !== undefined ? { body: options.body } : {}), idempotent: options.idempotent });
    } catch (error) {
      throw this.classify(error, what, method, options.idempotent);
    }
    return { status: res.status, body: this.parse(res.text, what) };
  }

  private parse(text: string, what: string): unknown {
    if (text.trim() === '') return null;
    try {
      return this.format === 'xml' && text.trimStart().startsWith('<') ? fromXml(text) : JSON.parse(text);
    } catch {
      // A 2xx with an unreadable body: RMA did answer, so this is not the document's fault.
      throw new RetriableError(this.scrub(`target ${this.name}: ${what}: the response is not ${this.format === 'xml' ? 'XML' : 'JSON'}: ${text.slice(0, 200)}`));
    }
  }

  /** The kontor error for a failed request (see the table in the header). */
  private classify(error: unknown, what: string, method: string, idempotent: boolean): Error {
    const prefix = `target ${this.name}: ${what}`;
    if (!(error instanceof HttpError)) return new RmaInDoubtError(this.scrub(`${prefix}: ${error instanceof Error ? error.message : String(error)}`));
    const status = error.status;
    const detail = this.scrub(rmaErrorText(error.body));
    if (status === 400) return new RmaRejectedError(`${prefix}: Run my Accounts refused it (HTTP 400): ${detail || 'no reason given'}`, 400, detail);
    if (status === 401 || status === 403) {
      return new RmaCredentialError(
        `${prefix}: Run my Accounts refused the API key (HTTP ${status}${detail ? `: ${detail}` : ''}); check the key and the mandant in config.yaml`,
        status,
      );
    }
    if (status === 404) return new RmaNotFoundError(`${prefix}: not found at Run my Accounts (HTTP 404)${detail ? `: ${detail}` : ''}`);
    // The HttpClient's message names the client (`target rma: POST https://…: HTTP 500`).
    const message = this.scrub(error.message);
    if (status === 429) return new RetriableError(message);
    if (status !== null && status >= 500) return idempotent || method === 'GET' ? new RetriableError(message) : new RmaInDoubtError(`${message} (Run my Accounts may have booked it)`);
    if (status !== null) return new PermanentError(message);
    // No answer at all.
    if (!error.retriable) return new PermanentError(message);
    if (idempotent || method === 'GET' || NOT_SENT.test(error.message)) return new RetriableError(message);
    return new RmaInDoubtError(`${message} (the request was sent; Run my Accounts may have booked it)`);
  }

  /** Belt and braces: the HttpClient already redacts; no text of this client may carry the key. */
  private scrub(text: string): string {
    let out = text;
    for (const form of [this.apiKey, encodeURIComponent(this.apiKey)]) if (form.length >= 4) out = out.split(form).join('[REDACTED]');
    return out;
  }
}
