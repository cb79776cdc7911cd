/**
 * Shopware 6 Admin API source: orders through `POST /api/search/order`.
 *
 * Auth: OAuth client credentials of an integration (`POST /api/oauth/token`). The token lives
 * some minutes and there is no refresh token, so it is cached until shortly before it expires,
 * and a 401 from any call fetches a new one and repeats the call once.
 *
 * Accept: application/json on every call: Shopware's default is JSON:API, which the order
 * parser rejects.
 *
 * Which orders: everything changed in the pull window, where "changed" is updatedAt, or
 * createdAt for an order never updated (DAL leaves updatedAt null until the first update).
 * The cursor needs one total order over that time, and the DAL cannot sort by
 * COALESCE(updatedAt, createdAt) (sorting by updatedAt puts every never-updated order first),
 * so a pull runs two searches and merges them by (time, id):
 *   - never updated: `updatedAt = null`, createdAt in the window, sorted by createdAt, id;
 *   - updated: updatedAt in the window, sorted by updatedAt, id.
 *
 * Paging is keyset, not `page` offsets. Each page is asked for with the range starting at the
 * time of the last order read (gte) and a `not` filter that leaves out the ids already read
 * at exactly that time; the `page` is always 1. Why nothing is skipped: a search with offsets
 * drifts when an order changes while the pull pages (it leaves its place, everything behind
 * it moves up one, and the order that slid onto the page already read is never seen). Keyset
 * pages are positions in time, not counts: an order that changes gets updatedAt = now, which
 * is after every position of the pull, so it only ever moves ahead of the reader, and no
 * order the reader has not reached can move behind it. One that moves past the window's end
 * is read by the next pull, which starts at or before the stored watermark (the highest
 * (time, id) read and stored; all earlier times of this window were read before it). Orders
 * sharing one timestamp are never cut: the `not` filter names exactly the ids read at that
 * time, so the rest of them come on the next page.
 */
import { createHash } from 'node:crypto';
import { HttpError, type HttpClient, type HttpResponse } from '../http/client.js';
import { KontorError, RecordError } from '../errors.js';
import { parseShopwareOrder } from './shopware-order.js';
import type { CanonicalOrder } from './order.js';
import type { ShopApiSettings } from './shop-api.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';
import { pullWindow, withCheckpoints, type PullWindow, type StampedRecord } from './watermark.js';

export interface ShopwareSettings extends ShopApiSettings {
  clientId: string;
  clientSecret: string;
}

/** The shop refused the integration's access key: a person must fix the credentials. */
export class ShopwareCredentialsError extends KontorError {
  override name = 'ShopwareCredentialsError';
  readonly exitCode = 2;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

/** What stands for a credential in messages (as the HTTP client's redactor writes it). */
const REDACTED = '[REDACTED]';

/** Renew the token this long before it expires (at most a tenth of its lifetime). */
const TOKEN_MARGIN_MS = 30_000;

type Json = Record<string, unknown>;

/** The associations parseShopwareOrder reads (see its header), as a nested DAL criteria part. */
const ASSOCIATIONS = nest({
  lineItems: {},
  deliveries: { shippingMethod: {}, shippingOrderAddress: { country: {}, countryState: {} } },
  transactions: { paymentMethod: {}, stateMachineState: {} },
  currency: {},
  orderCustomer: { customer: {} },
  billingAddress: { country: {}, countryState: {} },
  addresses: { country: {}, countryState: {} },
  stateMachineState: {},
});

interface Tree {
  [name: string]: Tree;
}

/** `{a: {b: {}}}` → `{a: {associations: {b: {}}}}`, the criteria form. */
function nest(tree: Tree): Json {
  return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, Object.keys(v).length ? { associations: nest(v) } : {}]));
}

/** ISO instant → the DAL's storage format (UTC, milliseconds), which MySQL compares exactly. */
function dalTime(iso: string): string {
  return new Date(iso).toISOString().replace('T', ' ').replace('Z', '');
}

/** A Shopware date (RFC 3339 with offset) as ISO UTC, or null when absent or unreadable. */
function utc(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The two halves of "changed in the window": never-updated orders by createdAt, updated ones by updatedAt. */
type Stream = 'created' | 'updated';

interface Stamped {
  /** updatedAt ?? createdAt, ISO UTC; '' when the entity has neither. */
  time: string;
  record: SourceRecord;
}

export class ShopwareSource implements SourceAdapter {
  readonly type = 'shopware';
  readonly name: string;
  private readonly base: string;
  private readonly http: HttpClient;
  private readonly pageSize: number;
  private token: { value: string; renewAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(readonly settings: ShopwareSettings) {
    this.name = settings.name;
    this.base = settings.baseUrl.replace(/\/+$/, '');
    this.http = settings.http;
    this.pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(settings.pageSize ?? DEFAULT_PAGE_SIZE)));
  }

  describe(): Record<string, unknown> {
    return { type: this.type, url: this.settings.baseUrl };
  }

  async *pull(options: PullOptions): AsyncIterable<SourceRecord> {
    const window = pullWindow(options.cursor, this.settings.window);
    // Unreadable entities carry no time, so they stay out of the watermark: they are handed
    // on right after the record they came with.
    const unreadable: SourceRecord[] = [];
    for await (const record of withCheckpoints(this.timeline(window, unreadable), options.cursor, window)) {
      yield* unreadable.splice(0);
      yield record;
    }
    yield* unreadable.splice(0);
  }

  async fetch(id: string): Promise<SourceRecord | null> {
    // Ids are 32 hex digits; anything else the shop would answer with a 400.
    if (!/^[0-9a-f]{32}$/i.test(id)) return null;
    const data = await this.search({ ids: [id.toLowerCase()], limit: 1 });
    return data.length === 0 ? null : this.stamp(data[0]).record;
  }

  parse(record: SourceRecord): CanonicalOrder {
    if (record.readError) {
      const m = /^([\w.[\]]+): (.*)$/s.exec(record.readError);
      throw m ? new RecordError(m[2]!, m[1]) : new RecordError(record.readError);
    }
    let value: unknown;
    try {
      value = JSON.parse(record.raw);
    } catch {
      throw new RecordError('the stored order is not JSON');
    }
    return parseShopwareOrder(this.name, value);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /** Both searches merged into one sequence by (time, id). */
  private async *timeline(window: PullWindow, unreadable: SourceRecord[]): AsyncIterable<StampedRecord> {
    const streams = (['created', 'updated'] as const).map((s) => this.stream(s, window)[Symbol.asyncIterator]());
    const heads: (Stamped | null)[] = [];
    const advance = async (i: number): Promise<void> => {
      for (;;) {
        const next = await streams[i]!.next();
        if (next.done) {
          heads[i] = null;
          return;
        }
        if (next.value.record.readError) {
          unreadable.push(next.value.record);
          continue;
        }
        heads[i] = next.value;
        return;
      }
    };
    for (let i = 0; i < streams.length; i++) await advance(i);
    for (;;) {
      let pick = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (!h) continue;
        const best = pick < 0 ? null : heads[pick]!;
        if (!best || h.time < best.time || (h.time === best.time && h.record.id < best.record.id)) pick = i;
      }
      if (pick < 0) return;
      const head = heads[pick]!;
      yield { record: head.record, updatedAt: head.time };
      await advance(pick);
    }
  }

  /**
   * One search paged by keyset: each page starts at the time of the last order read and
   * leaves out the ids already read at exactly that time.
   */
  private async *stream(kind: Stream, window: PullWindow): AsyncIterable<Stamped> {
    const field = kind === 'created' ? 'createdAt' : 'updatedAt';
    let at = window.since;
    let seen = new Set<string>();
    for (;;) {
      const filter: Json[] = [{ type: 'range', field, parameters: { gte: dalTime(at), lte: dalTime(window.until) } }];
      if (kind === 'created') filter.unshift({ type: 'equals', field: 'updatedAt', value: null });
      if (seen.size > 0) {
        filter.push({
          type: 'not',
          operator: 'and',
          queries: [
            { type: 'equalsAny', field: 'id', value: [...seen] },
            { type: 'equals', field, value: dalTime(at) },
          ],
        });
      }
      const data = await this.search({
        filter,
        sort: [
          { field, order: 'ASC' },
          { field: 'id', order: 'ASC' },
        ],
        page: 1,
        limit: this.pageSize,
      });
      let moved = false;
      for (const [i, entity] of data.entries()) {
        const stamped = this.stamp(entity, `${kind} search, entity ${i}`);
        const time = isObject(entity) ? utc(entity[field]) : null;
        const id = stamped.record.readError ? null : stamped.record.id;
        if (time && id) {
          if (time > at) {
            at = time;
            seen = new Set([id]);
            moved = true;
          } else if (time === at && !seen.has(id)) {
            seen.add(id);
            moved = true;
          }
        }
        yield stamped;
      }
      if (data.length < this.pageSize) return;
      if (!moved) {
        // Only a shop that ignores the range or the `not` filter answers so; asking again would loop.
        throw new HttpError(`source ${this.name}: POST ${this.base}/api/search/order: a full page of ${data.length} brought no order past the last one read (${field} ${at}); the shop does not apply the search filter`, null, false);
      }
    }
  }

  /** An entity as a record, with its watermark time; a broken one as an unreadable record. */
  private stamp(entity: unknown, where = 'order'): Stamped {
    const raw = JSON.stringify(entity) ?? 'null';
    // Without an id of its own, an entity is known by its content: the same broken answer is one quarantine entry.
    const anonymous = () => `(no id) ${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
    if (!isObject(entity)) {
      return { time: '', record: { id: anonymous(), raw, origin: `${this.base}/api/search/order`, readError: `an order must be a JSON object (${where})` } };
    }
    const id = typeof entity.id === 'string' && entity.id !== '' ? entity.id : null;
    if (!id) {
      return { time: '', record: { id: anonymous(), raw, origin: `${this.base}/api/search/order`, readError: `id: missing (${where})` } };
    }
    const origin = `${this.base}/api/order/${id}`;
    const time = utc(entity.updatedAt) ?? utc(entity.createdAt);
    if (!time) {
      const field = entity.updatedAt === undefined || entity.updatedAt === null ? 'createdAt' : 'updatedAt';
      return { time: '', record: { id, raw, origin, readError: `${field}: missing or not a date (neither updatedAt nor createdAt can place the order)` } };
    }
    return { time, record: { id, raw, origin } };
  }

  /** One search request: the `data` of the answer. */
  private async search(criteria: Json): Promise<unknown[]> {
    const res = await this.authorized({
      method: 'POST',
      url: `${this.base}/api/search/order`,
      json: { ...criteria, associations: ASSOCIATIONS, 'total-count-mode': 0 },
    });
    const body = res.json<unknown>();
    const data = isObject(body) ? body.data : undefined;
    if (!Array.isArray(data)) {
      throw new HttpError(`source ${this.name}: POST ${this.base}/api/search/order: the answer has no data list`, res.status, false);
    }
    const first: unknown = data[0];
    if ((res.headers['content-type'] ?? '').includes('application/vnd.api+json') || (isObject(first) && isObject(first.attributes) && typeof first.type === 'string')) {
      throw new HttpError(`source ${this.name}: POST ${this.base}/api/search/order: the shop answered JSON:API although kontor asked for plain JSON (Accept: application/json)`, res.status, false);
    }
    return data;
  }

  /** A request with the bearer token; on a 401 a new token, and the request once more. */
  private async authorized(req: { method: 'POST'; url: string; json: unknown }): Promise<HttpResponse> {
    const send = async (token: string) => {
      try {
        return await this.http.request({ ...req, headers: { accept: 'application/json', authorization: `Bearer ${token}` }, idempotent: true });
      } catch (error) {
        // The HTTP client redacts the configured secrets; the token is minted here, so a server
        // that echoes the Authorization header has it scrubbed here.
        if (error instanceof HttpError && (error.message.includes(token) || error.body.includes(token))) {
          throw new HttpError(error.message.split(token).join(REDACTED), error.status, error.retriable, error.body.split(token).join(REDACTED));
        }
        throw error;
      }
    };
    const token = await this.accessToken();
    try {
      return await send(token);
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 401) throw error;
    }
    this.dropToken(token);
    try {
      return await send(await this.accessToken());
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) {
        throw new HttpError(`source ${this.name}: ${req.method} ${req.url}: the shop refused a fresh access token (HTTP 401)`, 401, false, error.body);
      }
      throw error;
    }
  }

  private dropToken(token: string): void {
    if (this.token?.value === token) this.token = null;
  }

  private accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.renewAt) return Promise.resolve(this.token.value);
    this.pending ??= this.authenticate().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async authenticate(): Promise<string> {
    const url = `${this.base}/api/oauth/token`;
    let res: HttpResponse;
    try {
      res = await this.http.request({
        method: 'POST',
        url,
        headers: { accept: 'application/json' },
        json: { grant_type: 'client_credentials', client_id: this.settings.clientId, client_secret: this.settings.clientSecret },
        // Asking for a token again changes nothing on the shop.
        idempotent: true,
      });
    } catch (error) {
      // 401 invalid_client: unknown access key or wrong secret (a 400 names the same cause).
      if (error instanceof HttpError && (error.status === 401 || (error.status === 400 && /invalid_client/.test(error.body)))) {
        throw new ShopwareCredentialsError(
          `source ${this.name}: ${this.base} refused the integration's credentials (HTTP ${error.status} from /api/oauth/token): check client_id and client_secret (the access key ID and secret access key of the integration, Settings › System › Integrations)`,
        );
      }
      throw error;
    }
    const body = res.json<unknown>();
    const value = isObject(body) ? body.access_token : undefined;
    if (typeof value !== 'string' || value === '') {
      throw new HttpError(`source ${this.name}: POST ${url}: the answer carries no access_token`, res.status, false);
    }
    const lifetimeMs = isObject(body) && typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 600_000;
    this.token = { value, renewAt: Date.now() + lifetimeMs - Math.min(TOKEN_MARGIN_MS, lifetimeMs / 10) };
    return value;
  }
}
