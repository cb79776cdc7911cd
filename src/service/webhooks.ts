/**
 * The webhook endpoint (issue #7, item 5): Billecta pushes payment events to
 * `POST {webhooks.billecta.path}` and kontor records each one exactly once.
 *
 * - Authentication: Billecta signs nothing; its portal lets the creditor add custom request
 *   headers to a webhook, so the creditor adds `{header}: {secret}` there and kontor compares
 *   that header in constant time [inferred; docs/operations.md#webhooks]. A request without the
 *   right secret gets 401 and nothing is read or recorded.
 * - The body is read up to `max_body_bytes` (413 beyond, and reading stops); it must be JSON
 *   (400 otherwise).
 * - The envelope's keys are not verified [inferred]: the event name is looked up under
 *   `EventType`, `Type`, `Event`, `EventName` or `WebhookType`, its data under `Data` (an object,
 *   or JSON in a string), all case-insensitively.
 * - InvoicePaymentReceived, AmountCreditedOnInvoice and AmountWrittenOffOnInvoice carry an
 *   IncomingPaymentView and are keyed by its `PaymentReferenceId`. Every other event
 *   (InvoiceActionPaid, and events kontor does not know, stored with `known` false) is keyed by
 *   `{EventType}:{id}`, the id being the envelope's own event id, else the data's
 *   ActionPublicId, else the SHA-256 of the body.
 * - kontor answers 2xx only once the row is committed: a repeat of a stored event gets 200
 *   without a second row; a database failure gets 500 so that Billecta delivers again.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Knex } from 'knex';
import type { Config } from '../config/load.js';
import { parseListen, type WebhooksConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { listenHttp } from './http-server.js';
import { recordWebhookEvent, type WebhookEventInput } from '../store/webhook-events.js';

/** Events whose data is an IncomingPaymentView, keyed by PaymentReferenceId. */
export const PAYMENT_EVENTS = ['InvoicePaymentReceived', 'AmountCreditedOnInvoice', 'AmountWrittenOffOnInvoice'] as const;
/** Events kontor records with meaning; anything else is stored as unknown. */
export const KNOWN_EVENTS = [...PAYMENT_EVENTS, 'InvoiceActionPaid'] as const;
export type KnownEvent = (typeof KNOWN_EVENTS)[number];

/** The event type stored when the body names none. */
export const MISSING_EVENT_TYPE = '(none)';

const EVENT_TYPE_KEYS = ['EventType', 'Type', 'Event', 'EventName', 'WebhookType'];
const EVENT_ID_KEYS = ['EventId', 'EventPublicId', 'WebhookEventId', 'Id'];
const EVENT_DATE_KEYS = ['EventDate', 'Created', 'CreatedDate', 'Timestamp', 'Date'];

export interface WebhookServer {
  /** The endpoint's URL, e.g. http://127.0.0.1:8787/webhooks/billecta. */
  url: string;
  host: string;
  port: number;
  /** Stop accepting, let requests in flight finish (at most `graceMs`), then cut the rest. */
  close(graceMs?: number): Promise<void>;
}

export interface WebhookServerOptions {
  db: Knex;
  logger: Logger;
  /** The loaded config (its `webhooks` block is used) or that block itself. */
  config: Config | WebhooksConfig;
}

function webhooksOf(config: Config | WebhooksConfig): WebhooksConfig {
  if ('raw' in config) {
    if (!config.raw.webhooks) throw new Error('no webhooks block in the configuration');
    return config.raw.webhooks;
  }
  return config;
}

type Json = unknown;
type JsonObject = Record<string, Json>;

function isObject(v: Json): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The value under the first of `keys` present in `obj`, compared case-insensitively. */
function pick(obj: Json, keys: readonly string[]): Json {
  if (!isObject(obj)) return undefined;
  const byLower = new Map(Object.keys(obj).map((k) => [k.toLowerCase(), k]));
  for (const key of keys) {
    const actual = byLower.get(key.toLowerCase());
    if (actual !== undefined && obj[actual] !== undefined && obj[actual] !== null) return obj[actual];
  }
  return undefined;
}

function text(v: Json, max = 300): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t === '' ? null : t.slice(0, max);
}

/** `{CurrencyCode, Value}` in minor units, if it is one. */
function amountView(v: Json): { amountMinor: number | null; currency: string | null } {
  const value = pick(v, ['Value']);
  const code = text(pick(v, ['CurrencyCode']));
  return {
    amountMinor: typeof value === 'number' && Number.isSafeInteger(value) ? value : null,
    currency: code && /^[A-Za-z]{3}$/.test(code) ? code.toUpperCase() : null,
  };
}

export interface ParsedEvent extends Omit<WebhookEventInput, 'source' | 'payload'> {
  /** The PaymentReferenceId the event is keyed by, if it is a payment event that carries one. */
  paymentReferenceId: string | null;
}

/** What kontor takes from one Billecta webhook body (already parsed as JSON). */
export function parseBillectaEvent(body: Json, rawBody: string): ParsedEvent {
  const named = text(pick(body, EVENT_TYPE_KEYS), 200);
  const known = named ? KNOWN_EVENTS.find((k) => k.toLowerCase() === named.toLowerCase()) : undefined;
  const eventType = known ?? named ?? MISSING_EVENT_TYPE;
  let data = pick(body, ['Data']);
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as Json;
    } catch {
      // Kept as text: the payload column holds it whole.
    }
  }
  const invoicePublicId = text(pick(data, ['ActionPublicId']), 200);
  const isPayment = known !== undefined && (PAYMENT_EVENTS as readonly string[]).includes(known);
  const paymentReferenceId = isPayment ? text(pick(data, ['PaymentReferenceId'])) : null;
  const amount = isPayment ? amountView(pick(data, ['Amount'])) : known === 'InvoiceActionPaid' ? amountView(pick(data, ['PaidAmount'])) : { amountMinor: null, currency: null };
  const occurredAt =
    text(pick(data, isPayment ? ['PaymentDate'] : ['ClosedDate']), 40) ??
    text(pick(pick(data, ['State']), ['ClosedDate']), 40) ??
    text(pick(body, EVENT_DATE_KEYS), 40);
  const ownId = text(pick(body, EVENT_ID_KEYS), 200) ?? invoicePublicId ?? `sha256-${createHash('sha256').update(rawBody).digest('hex')}`;
  return {
    eventType,
    reference: paymentReferenceId ?? `${eventType}:${ownId}`,
    paymentReferenceId,
    invoicePublicId,
    ...amount,
    occurredAt,
    known: known !== undefined,
  };
}

class TooLarge extends Error {}

/** The body, or TooLarge as soon as it grows past `max` (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        reject(new TooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('request aborted')));
  });
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const settings = webhooksOf(options.config);
  const { db } = options;
  const log = options.logger;
  const billecta = settings.billecta;
  const listen = parseListen(settings.listen);
  if (!listen) throw new Error(`webhooks.listen: "${settings.listen}" is not host:port`);
  const header = billecta.header.toLowerCase();
  // Both sides hashed first: equal-length buffers for timingSafeEqual, and the length of the secret is not given away.
  const expected = createHash('sha256').update(billecta.secret, 'utf8').digest();
  const authentic = (given: string | string[] | undefined): boolean => {
    if (typeof given !== 'string') return false;
    return timingSafeEqual(createHash('sha256').update(given, 'utf8').digest(), expected);
  };

  const answer = (res: ServerResponse, status: number, body: Record<string, unknown>, close = false) => {
    if (res.headersSent) return;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    // An early answer leaves the request body unread: close the connection rather than read it.
    if (close) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== billecta.path) return answer(res, 404, { error: 'not found' }, true);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(res, 405, { error: 'only POST' }, true);
    }
    const given = req.headers[header];
    if (!authentic(given)) {
      // Never the header's value: it may be the secret with a typo, or the secret of something else.
      log.warn(`webhook refused: ${given === undefined ? `no ${billecta.header} header` : `wrong ${billecta.header} header`}`, { remote, path: pathname });
      return answer(res, 401, { error: 'unauthorized' }, true);
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > billecta.max_body_bytes) {
      log.warn(`webhook refused: body of ${declared} bytes exceeds max_body_bytes ${billecta.max_body_bytes}`, { remote });
      return answer(res, 413, { error: 'body too large' }, true);
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, billecta.max_body_bytes);
    } catch (error) {
      if (error instanceof TooLarge) {
        log.warn(`webhook refused: body exceeds max_body_bytes ${billecta.max_body_bytes}`, { remote });
        answer(res, 413, { error: 'body too large' }, true);
        res.once('finish', () => req.destroy());
        return;
      }
      log.warn(`webhook request failed while reading: ${errorMessage(error)}`, { remote });
      return;
    }
    const bodyText = raw.toString('utf8');
    let body: Json;
    try {
      if (bodyText.trim() === '') throw new Error('empty body');
      body = JSON.parse(bodyText) as Json;
    } catch {
      log.warn('webhook refused: the body is not JSON', { remote, bytes: raw.length });
      return answer(res, 400, { error: 'expected a JSON body' });
    }
    const event = parseBillectaEvent(body, bodyText);
    const input: WebhookEventInput = {
      source: 'billecta',
      eventType: event.eventType,
      reference: event.reference,
      invoicePublicId: event.invoicePublicId,
      amountMinor: event.amountMinor,
      currency: event.currency,
      occurredAt: event.occurredAt,
      payload: bodyText,
      known: event.known,
    };
    try {
      let outcome = await recordWebhookEvent(db, input);
      if (!outcome.inserted && outcome.eventType !== input.eventType) {
        // The same PaymentReferenceId under another event type is another event: keep it under its own key.
        outcome = await recordWebhookEvent(db, { ...input, reference: `${input.eventType}:${input.reference}` });
      }
      if (!outcome.inserted) {
        log.info(`webhook: ${input.eventType} ${input.reference} delivered again; already recorded as #${outcome.id}`);
        return answer(res, 200, { status: 'duplicate', id: outcome.id });
      }
      if (event.known) log.info(`webhook: ${input.eventType} ${input.reference} recorded as #${outcome.id}`, { remote });
      else log.warn(`webhook: unknown event type "${input.eventType}" stored as #${outcome.id} for a person to look at`, { remote });
      return answer(res, 200, { status: 'recorded', id: outcome.id });
    } catch (error) {
      log.error(`webhook: ${input.eventType} ${input.reference} could not be stored (answered 500, Billecta delivers again): ${errorMessage(error)}`);
      return answer(res, 500, { error: 'not stored' });
    }
  };

  const listening = await listenHttp({
    name: 'webhooks',
    listen,
    listenText: settings.listen,
    log,
    handle,
    onError: (_req, res) => answer(res, 500, { error: 'internal error' }),
  });
  const url = `${listening.origin}${billecta.path}`;
  log.info(`webhooks: listening on ${url}`);
  return { url, host: listening.host, port: listening.port, close: (graceMs) => listening.close(graceMs) };
}
