/**
 * The shared HTTP client against real servers on loopback (msw does not intercept undici):
 * HTTPS rule, JSON, retries with backoff and jitter, Retry-After, idempotency, timeouts, the
 * rate limit, redaction of credentials, keep-alive.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpError, isLoopback, redactUrl, retryAfterMs, type HttpClientOptions } from '../src/http/client.js';
import { Redactor } from '../src/log/redact.js';

interface TestServer {
  url: string;
  port: number;
  /** Requests received, in order. */
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  /** TCP connections accepted. */
  connections: () => number;
  close: () => Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number, body: string) => void;

const servers: TestServer[] = [];
const clients: HttpClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function serve(handler: Handler): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, requests.length, body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const s: TestServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

/** A client whose sleeps are recorded (and take no time), with a fixed jitter draw. */
function client(options: Partial<HttpClientOptions> = {}) {
  const sleeps: number[] = [];
  const retries: { attempt: number; delayMs: number; reason: string }[] = [];
  const c = new HttpClient({
    name: 'source test',
    baseDelayMs: 100,
    maxDelayMs: 1000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 1,
    onRetry: (info) => retries.push(info),
    ...options,
  });
  clients.push(c);
  return { c, sleeps, retries };
}

async function failure(promise: Promise<unknown>): Promise<HttpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error('expected the request to fail');
}

describe('HTTPS only, except to loopback', () => {
  it('refuses plain HTTP to a remote host without sending anything', async () => {
    const { c, retries, sleeps } = client();
    for (const url of ['http://example.com/wp-json/wc/v3/orders', 'http://kontor-test.invalid/orders', 'http://127.example.com/orders']) {
      const started = Date.now();
      const error = await failure(c.request({ method: 'GET', url }));
      expect(error.message).toMatch(/only HTTPS is allowed \(plain HTTP only to loopback\)/);
      expect(error).toMatchObject({ status: null, retriable: false });
      // Refused before any lookup or connection: no DNS wait (a loaded CI machine may still pause, hence the slack).
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    // No attempt was made: no retry, no backoff (a DNS or connect error would have been retried).
    expect(retries).toEqual([]);
    expect(sleeps).toEqual([]);
  });

  it('knows what loopback is', () => {
    for (const url of ['http://127.0.0.1:8080/', 'http://127.1.2.3/', 'http://localhost:3000/', 'http://[::1]:8080/']) expect(isLoopback(new URL(url)), url).toBe(true);
    for (const url of ['http://127.example.com/', 'http://127.0.0.1.example.com/', 'http://10.0.0.1/', 'http://example.com/']) expect(isLoopback(new URL(url)), url).toBe(false);
  });

  it('talks plain HTTP to 127.0.0.1', async () => {
    const s = await serve((_req, res) => json(res, 200, { ok: true }));
    const { c } = client();
    const res = await c.request({ method: 'GET', url: `${s.url}/ping` });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });
});

describe('JSON', () => {
  it('sends a JSON body with its content type and asks for JSON', async () => {
    const s = await serve((req, res, _n, body) => json(res, 201, { got: JSON.parse(body) as unknown, type: req.headers['content-type'] }, { 'X-Total': '3' }));
    const { c } = client();
    const res = await c.request({ method: 'POST', url: `${s.url}/orders`, json: { id: 1001, total: '12.50' }, headers: { 'X-Shop': 'demo' } });
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ got: { id: 1001, total: '12.50' }, type: 'application/json' });
    expect(res.headers['x-total']).toBe('3');
    expect(s.requests[0]).toMatchObject({ method: 'POST', body: '{"id":1001,"total":"12.50"}' });
    expect(s.requests[0]!.headers).toMatchObject({ accept: 'application/json', 'content-type': 'application/json', 'x-shop': 'demo' });
  });

  it("lets the caller's headers win over the defaults", async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const { c } = client();
    await c.request({ method: 'POST', url: `${s.url}/graphql`, json: { query: '{ shop { name } }' }, headers: { Accept: 'application/graphql-response+json', 'Content-Type': 'application/json; charset=utf-8' } });
    expect(s.requests[0]!.headers).toMatchObject({ accept: 'application/graphql-response+json', 'content-type': 'application/json; charset=utf-8' });
  });

  it('says so when a response is not JSON', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    const { c } = client();
    const res = await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(res.text).toBe('<html>maintenance</html>');
    expect(() => res.json()).toThrow(/the response is not JSON: <html>maintenance<\/html>/);
  });
});

describe('retries', () => {
  it('retries 503 and 429 of a GET with exponential backoff until it succeeds', async () => {
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 503, { error: 'busy' }) : n === 2 ? json(res, 429, { error: 'slow down' }) : json(res, 200, { page: 1 })));
    const { c, sleeps, retries } = client();
    const res = await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(res.json()).toEqual({ page: 1 });
    expect(s.requests).toHaveLength(3);
    // random() = 1 draws the ceiling: base 100 ms, doubled per attempt.
    expect(sleeps).toEqual([100, 200]);
    expect(retries.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 100],
      [2, 200],
    ]);
    expect(retries[0]!.reason).toBe(`GET ${s.url}/orders: HTTP 503`);
    expect(retries[1]!.reason).toBe(`GET ${s.url}/orders: HTTP 429`);
  });

  it('caps the exponential ceiling at maxDelayMs and gives up after `retries`', async () => {
    const s = await serve((_req, res) => json(res, 502, { error: 'bad gateway' }));
    const { c, sleeps } = client({ retries: 5, maxDelayMs: 300 });
    const error = await failure(c.request({ method: 'GET', url: `${s.url}/orders` }));
    expect(s.requests).toHaveLength(6);
    expect(sleeps).toEqual([100, 200, 300, 300, 300]);
    expect(error).toMatchObject({ status: 502, retriable: true });
    expect(error.message).toBe(`source test: GET ${s.url}/orders: HTTP 502 (after 6 attempts): {"error":"bad gateway"}`);
    expect(error.body).toBe('{"error":"bad gateway"}');
  });

  it('draws each delay uniformly below the ceiling (full jitter)', async () => {
    const s = await serve((_req, res) => json(res, 503, {}));
    const draws = [0, 0.25, 0.5, 0.999];
    const { c, sleeps } = client({ retries: 4, random: () => draws.shift()! });
    await failure(c.request({ method: 'GET', url: `${s.url}/orders` }));
    // Ceilings 100, 200, 400, 800.
    expect(sleeps).toEqual([0, 50, 200, 799]);
  });

  it('honours Retry-After in seconds', async () => {
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 429, {}, { 'Retry-After': '3' }) : json(res, 200, {})));
    const { c, sleeps } = client({ random: () => 0 });
    await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(sleeps).toEqual([3000]);
  });

  it('honours Retry-After as an HTTP date, even beyond maxDelayMs', async () => {
    const now = Date.UTC(2026, 2, 1, 12, 0, 0);
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 503, {}, { 'Retry-After': new Date(now + 7000).toUTCString() }) : json(res, 200, {})));
    const { c, sleeps } = client({ random: () => 0, now: () => now });
    await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(sleeps).toEqual([7000]);
  });

  it('waits the longer of Retry-After and its own backoff', async () => {
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 503, {}, { 'Retry-After': '0' }) : json(res, 200, {})));
    const { c, sleeps } = client({ random: () => 1 });
    await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(sleeps).toEqual([100]);
  });

  it('reads Retry-After', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('1.5', now)).toBe(1500);
    expect(retryAfterMs(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(retryAfterMs(new Date(now - 30_000).toUTCString(), now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(undefined, now)).toBeNull();
  });

  it('does not repeat a POST on 503: it may have been carried out', async () => {
    const s = await serve((_req, res) => json(res, 503, {}));
    const { c, retries } = client();
    const error = await failure(c.request({ method: 'POST', url: `${s.url}/invoices`, json: { n: 1 } }));
    expect(s.requests).toHaveLength(1);
    expect(retries).toEqual([]);
    // Retriable for the caller (its outbox), which knows whether repeating is safe.
    expect(error).toMatchObject({ status: 503, retriable: true });
  });

  it('repeats a POST on 503 when it is marked idempotent', async () => {
    const s = await serve((_req, res, n) => (n < 3 ? json(res, 503, {}) : json(res, 200, { data: [] })));
    const { c } = client();
    const res = await c.request({ method: 'POST', url: `${s.url}/api/search/order`, json: { page: 1 }, idempotent: true });
    expect(res.json()).toEqual({ data: [] });
    expect(s.requests.map((r) => r.body)).toEqual(['{"page":1}', '{"page":1}', '{"page":1}']);
  });

  it('repeats a POST on 429: the server refused it without doing it', async () => {
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 429, {}, { 'Retry-After': '1' }) : json(res, 200, { ok: true })));
    const { c, sleeps } = client({ random: () => 0 });
    const res = await c.request({ method: 'POST', url: `${s.url}/graphql`, json: { query: '{}' } });
    expect(res.json()).toEqual({ ok: true });
    expect(s.requests).toHaveLength(2);
    expect(sleeps).toEqual([1000]);
  });

  it('does not retry 4xx other than 429, and reports status and body', async () => {
    for (const status of [400, 401, 403, 404, 409, 422]) {
      const s = await serve((_req, res) => json(res, status, { code: `E${status}`, message: 'no such order' }));
      const { c, retries } = client();
      const error = await failure(c.request({ method: 'GET', url: `${s.url}/orders/7` }));
      expect(s.requests, String(status)).toHaveLength(1);
      expect(retries).toEqual([]);
      expect(error).toMatchObject({ status, retriable: false, body: `{"code":"E${status}","message":"no such order"}` });
      expect(error.message).toBe(`source test: GET ${s.url}/orders/7: HTTP ${status}: {"code":"E${status}","message":"no such order"}`);
    }
  });
});

describe('network failures and timeouts', () => {
  it('retries when the server closes the connection, then succeeds', async () => {
    const s = await serve((req, res, n) => (n < 3 ? req.socket.destroy() : json(res, 200, { ok: 1 })));
    const { c, retries } = client();
    const res = await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(res.json()).toEqual({ ok: 1 });
    expect(s.requests).toHaveLength(3);
    expect(retries).toHaveLength(2);
    expect(retries[0]!.reason).toMatch(new RegExp(`^GET ${s.url}/orders: .*(closed|reset|socket)`, 'i'));
  });

  it('reports a server that keeps closing the connection as retriable, after the retries', async () => {
    const s = await serve((req) => req.socket.destroy());
    const { c, retries } = client({ retries: 2 });
    const error = await failure(c.request({ method: 'GET', url: `${s.url}/orders` }));
    expect(s.requests).toHaveLength(3);
    expect(retries).toHaveLength(2);
    expect(error).toMatchObject({ status: null, retriable: true });
    expect(error.message).toMatch(new RegExp(`^source test: GET ${s.url}/orders: .+ \\(after 3 attempts\\)$`));
  });

  it('reports connection refused as retriable, after the retries', async () => {
    const s = await serve(() => undefined);
    const url = `${s.url}/orders`;
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    const { c, retries, sleeps } = client({ retries: 2 });
    const error = await failure(c.request({ method: 'GET', url }));
    expect(retries).toHaveLength(2);
    expect(sleeps).toEqual([100, 200]);
    expect(error).toMatchObject({ status: null, retriable: true });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toMatch(/\(after 3 attempts\)$/);
  });

  it('gives up on a server that never answers after readTimeoutMs, as retriable', async () => {
    const s = await serve(() => undefined);
    const { c, retries } = client({ readTimeoutMs: 150, retries: 1 });
    const started = Date.now();
    const error = await failure(c.request({ method: 'GET', url: `${s.url}/orders` }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(s.requests).toHaveLength(2);
    expect(retries).toHaveLength(1);
    expect(error).toMatchObject({ status: null, retriable: true });
    expect(error.message).toMatch(/timeout/i);
  });

  it('does not repeat a POST that timed out, but calls the failure retriable', async () => {
    const s = await serve(() => undefined);
    const { c, retries } = client({ readTimeoutMs: 150 });
    const error = await failure(c.request({ method: 'POST', url: `${s.url}/invoices`, json: {} }));
    expect(s.requests).toHaveLength(1);
    expect(retries).toEqual([]);
    expect(error).toMatchObject({ status: null, retriable: true });
    expect(error.message).toMatch(/timeout/i);
  });
});

describe('rate limit', () => {
  it('lets a burst through, then spaces requests at the rate (fake clock)', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    let clock = 1_000_000;
    const sleeps: number[] = [];
    const c = new HttpClient({
      name: 'source test',
      rateLimit: { perSecond: 50, burst: 5 },
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });
    clients.push(c);
    for (let i = 0; i < 20; i++) await c.request({ method: 'GET', url: `${s.url}/orders?page=${i}` });
    expect(s.requests).toHaveLength(20);
    // Five at once, then one every 20 ms: 15 × 20 ms (rounding may add a millisecond here and there).
    const waited = sleeps.reduce((a, b) => a + b, 0);
    expect(waited).toBeGreaterThanOrEqual(300);
    expect(waited).toBeLessThan(340);
    expect(sleeps.every((ms) => ms >= 1 && ms <= 20)).toBe(true);
  });

  it('holds 20 requests at 50/s with a burst of 5 to at least ~300 ms (real clock)', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const c = new HttpClient({ name: 'source test', rateLimit: { perSecond: 50, burst: 5 } });
    clients.push(c);
    const started = performance.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.request({ method: 'GET', url: `${s.url}/orders?page=${i}` })));
    const elapsed = performance.now() - started;
    expect(s.requests).toHaveLength(20);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('redaction', () => {
  const SECRET_QUERY = 'consumer_key=ck_live_1a2b3c4d&consumer_secret=cs_live_5e6f7a8b&api_key=rma-key-9c0d&access_token=shpat_0e1f2a3b&page=2';
  const QUERY_SECRETS = ['ck_live_1a2b3c4d', 'cs_live_5e6f7a8b', 'rma-key-9c0d', 'shpat_0e1f2a3b'];
  const HEADER_SECRET = 'shpca_header_token_7f7f7f';

  function expectClean(text: string): void {
    for (const secret of [...QUERY_SECRETS, HEADER_SECRET]) expect(text).not.toContain(secret);
    expect(text).not.toContain('%5BREDACTED%5D');
  }

  it('shows credential parameters and passwords as [REDACTED], the rest of the URL as it was', () => {
    const r = new Redactor([]);
    expect(redactUrl(new URL(`https://shop.example/wp-json/wc/v3/orders?${SECRET_QUERY}&after=2026-01-01T00:00:00`), r)).toBe(
      'https://shop.example/wp-json/wc/v3/orders?consumer_key=[REDACTED]&consumer_secret=[REDACTED]&api_key=[REDACTED]&access_token=[REDACTED]&page=2&after=2026-01-01T00:00:00',
    );
    expect(redactUrl(new URL('https://user:hunter2pw@shop.example/api?status=any&TOKEN=x%20y'), r)).toBe('https://user:[REDACTED]@shop.example/api?status=any&TOKEN=[REDACTED]');
    expect(redactUrl(new URL('https://shop.example/api?q=a+b&empty&x='), r)).toBe('https://shop.example/api?q=a+b&empty&x=');
  });

  it('keeps credentials out of retry reasons and of the error, even when the server echoes them', async () => {
    const s = await serve((req, res, n) =>
      n < 3
        ? json(res, 503, { error: `overloaded at ${req.url}`, token: req.headers['x-shopify-access-token'] })
        : json(res, 401, { error: `invalid ${req.url}`, header: req.headers['x-shopify-access-token'], raw: 'consumer_secret cs_live_5e6f7a8b' }),
    );
    const { c, retries } = client({ secrets: [HEADER_SECRET] });
    const error = await failure(c.request({ method: 'GET', url: `${s.url}/wp-json/wc/v3/orders?${SECRET_QUERY}`, headers: { 'X-Shopify-Access-Token': HEADER_SECRET } }));
    // The request itself carried them.
    expect(s.requests[0]!.url).toContain('consumer_key=ck_live_1a2b3c4d');
    expect(s.requests[0]!.headers['x-shopify-access-token']).toBe(HEADER_SECRET);
    expect(retries).toHaveLength(2);
    for (const r of retries) {
      expectClean(r.reason);
      expect(r.reason).toContain('consumer_key=[REDACTED]&consumer_secret=[REDACTED]&api_key=[REDACTED]&access_token=[REDACTED]&page=2');
    }
    expect(error.status).toBe(401);
    for (const text of [error.message, error.body, String(error.stack)]) expectClean(text);
    expect(error.message).toContain('[REDACTED]');
    expect(error.body).toContain(`"header":"[REDACTED]"`);
    expect(error.body).toContain('consumer_secret [REDACTED]');
  });

  it('redacts each request by the key in its own query, when one client sends different keys', async () => {
    // The server echoes the key on its own, where only the key's value can find it.
    const s = await serve((req, res) => json(res, 400, { error: `unknown key ${new URL(req.url!, 'http://x').searchParams.get('api_key')}` }));
    const { c } = client();
    for (const key of ['first-key-1a2b3c', 'second-key-4d5e6f', 'first-key-1a2b3c']) {
      const error = await failure(c.request({ method: 'GET', url: `${s.url}/invoices?api_key=${key}&page=1` }));
      for (const text of [error.message, error.body]) expect(text).not.toContain(key);
      expect(error.body).toContain('unknown key [REDACTED]');
      expect(error.message).toContain('api_key=[REDACTED]&page=1');
    }
  });

  it('keeps credentials out of network failures and of the HTTPS refusal', async () => {
    const s = await serve((req) => req.socket.destroy());
    const { c, retries } = client({ secrets: [HEADER_SECRET], retries: 1 });
    const error = await failure(c.request({ method: 'GET', url: `${s.url}/orders?${SECRET_QUERY}` }));
    expectClean(error.message);
    expect(retries).toHaveLength(1);
    expectClean(retries[0]!.reason);
    expect(error.message).toContain('consumer_key=[REDACTED]');

    const refused = await failure(c.request({ method: 'GET', url: `http://user:${HEADER_SECRET}@shop.example/orders?${SECRET_QUERY}` }));
    expectClean(refused.message);
    expect(refused.message).toContain(`http://user:[REDACTED]@shop.example/orders?consumer_key=[REDACTED]`);
  });
});

describe('keep-alive', () => {
  it('sends sequential requests over one connection', async () => {
    const s = await serve((_req, res) => json(res, 200, { ok: true }));
    const { c } = client();
    await c.request({ method: 'GET', url: `${s.url}/orders?page=1` });
    await c.request({ method: 'GET', url: `${s.url}/orders?page=2` });
    await c.request({ method: 'POST', url: `${s.url}/graphql`, json: {} });
    expect(s.requests).toHaveLength(3);
    expect(s.connections()).toBe(1);
  });

  it('lets callers that send side by side open at most a few connections more than they send at once', async () => {
    // Concurrent callers do not wait for undici to release a connection after each answer
    // (client.ts, viaUndici): a request may find the one just answered still busy and open
    // another, but the pool stays near the number of requests under way, and is reused.
    const s = await serve((_req, res) => setTimeout(() => json(res, 200, { ok: true }), 1));
    const { c } = client();
    const callers = 8;
    const each = 40;
    await Promise.all(
      Array.from({ length: callers }, async (_, caller) => {
        for (let i = 0; i < each; i++) await c.request({ method: 'POST', url: `${s.url}/invoices?caller=${caller}&i=${i}`, json: { i } });
      }),
    );
    expect(s.requests).toHaveLength(callers * each);
    expect(s.connections()).toBeGreaterThanOrEqual(callers);
    expect(s.connections()).toBeLessThanOrEqual(2 * callers);
    // Alone again, a caller goes back to one connection: no new one for its sequential requests.
    const before = s.connections();
    for (let i = 0; i < 5; i++) await c.request({ method: 'GET', url: `${s.url}/orders?page=${i}` });
    expect(s.connections()).toBe(before);
  });

  it('keeps the connection after a retried error response (its body is read)', async () => {
    const s = await serve((_req, res, n) => (n === 1 ? json(res, 503, { error: 'busy' }) : json(res, 200, {})));
    const { c } = client();
    await c.request({ method: 'GET', url: `${s.url}/orders` });
    await c.request({ method: 'GET', url: `${s.url}/orders` });
    expect(s.requests).toHaveLength(3);
    expect(s.connections()).toBe(1);
  });
});

describe('a Retry-After longer than the client will wait', () => {
  it('ends the request at once, retriably, naming the wait instead of holding the run', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '3600' });
      res.end('slow down');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
    const sleeps: number[] = [];
    const client = new HttpClient({ name: 'shop', sleep: async (ms) => void sleeps.push(ms), maxRetryAfterMs: 60_000 });
    try {
      const error = await client.request({ method: 'GET', url }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).retriable).toBe(true);
      expect((error as HttpError).message).toContain('asks to wait 3600 s (Retry-After), more than 60 s');
      expect(sleeps).toEqual([]);
    } finally {
      await client.close();
      server.close();
    }
  });
});
