/**
 * The webhook endpoint (issue #7 item 5) over real HTTP on loopback, on SQLite and PostgreSQL:
 * authenticated, size-limited, JSON only, idempotent by PaymentReferenceId, unknown events
 * kept, and 2xx only once the row is stored.
 */
import { request } from 'node:http';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/commands.js';
import { openDatabase } from '../src/db/connect.js';
import { loadConfig } from '../src/config/load.js';
import { configSchema, parseListen, type WebhooksConfig } from '../src/config/schema.js';
import { migrateLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/log/logger.js';
import { openRuntime } from '../src/service/runtime.js';
import { Service } from '../src/service/service.js';
import { parseBillectaEvent, startWebhookServer, type WebhookServer } from '../src/service/webhooks.js';
import { listWebhookEvents, recordWebhookEvent, webhookTotals } from '../src/store/webhook-events.js';
import { captureStream, DIALECTS, freshDatabase, HAS_POSTGRES, tempProject } from './helpers.js';

const SECRET = 'whsec-0123456789abcdef-kontor';
const WRONG = 'whsec-0123456789abcdef-wrong!';
const HEADER = 'X-Webhook-Secret';

function settings(overrides: Partial<WebhooksConfig['billecta']> = {}, listen = '127.0.0.1:0'): WebhooksConfig {
  return { listen, billecta: { path: '/webhooks/billecta', header: HEADER.toLowerCase(), secret: SECRET, max_body_bytes: 4096, ...overrides } };
}

function payment(ref: string, overrides: Record<string, unknown> = {}) {
  return {
    EventType: 'InvoicePaymentReceived',
    Data: {
      CreditorPublicId: '7d1bb1c2-0000-4000-8000-000000000001',
      ActionPublicId: 'inv-public-1',
      ActionType: 'InvoiceAction',
      DebtorPublicId: '7d1bb1c2-0000-4000-8000-000000000002',
      Amount: { CurrencyCode: 'SEK', Value: 12_550, ValueForView: 125.5 },
      CreatedDate: '2026-05-02T08:00:00',
      PaymentDate: '2026-05-01T00:00:00',
      PaymentMeanCode: 'BG',
      PaymentReferenceId: ref,
      ExternalReference: 'shop:1001',
      IsReminderPayment: false,
      ...overrides,
    },
  };
}

async function post(url: string, body: string | object, headers: Record<string, string> = { [HEADER]: SECRET }): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}

/** A chunked body with no Content-Length that grows past the limit; resolves with the status, or 'reset'. */
function postStreaming(url: string, totalBytes: number): Promise<number | 'reset'> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { [HEADER]: SECRET, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve('reset'));
    const chunk = Buffer.alloc(1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < totalBytes) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    req.write('{"pad":"');
    pump();
  });
}

describe.each(DIALECTS)('webhook endpoint on %s', (dialect) => {
  const skip = dialect === 'postgres' && !HAS_POSTGRES;
  let db: Knex;
  let drop: () => Promise<void>;
  let server: WebhookServer;
  const logs = captureStream();

  beforeAll(async () => {
    if (skip) return;
    ({ db, drop } = await freshDatabase(dialect));
    await migrateLatest(db);
    // No redactor: the secret must not reach the logger at all.
    server = await startWebhookServer({ db, logger: createLogger({ format: 'json', level: 'debug', stream: logs.stream }), config: settings() });
  });
  afterAll(async () => {
    if (skip) return;
    await server.close(1000);
    await drop();
  });
  afterEach(async () => {
    if (!skip) await db('webhook_events').delete();
  });

  it.skipIf(skip)('records a payment once, even when it is delivered twice (and twice at once)', async () => {
    const event = payment('0a6c2f4e-1111-4000-8000-00000000aaaa');
    const first = await post(server.url, event);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ status: 'recorded' });
    const again = await post(server.url, event);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({ status: 'duplicate' });
    const racing = payment('0a6c2f4e-1111-4000-8000-00000000bbbb');
    const both = await Promise.all([post(server.url, racing), post(server.url, racing), post(server.url, racing)]);
    expect(both.map((r) => r.status)).toEqual([200, 200, 200]);

    const rows = await listWebhookEvents(db);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      source: 'billecta',
      event_type: 'InvoicePaymentReceived',
      reference: '0a6c2f4e-1111-4000-8000-00000000aaaa',
      invoice_public_id: 'inv-public-1',
      amount_minor: 12_550,
      currency: 'SEK',
      occurred_at: '2026-05-01T00:00:00',
      known: true,
    });
    expect(JSON.parse(rows[0]!.payload)).toEqual(event);
    const totals = await webhookTotals(db);
    expect(totals).toEqual([expect.objectContaining({ eventType: 'InvoicePaymentReceived', currency: 'SEK', count: 2, sumMinor: 25_100 })]);
  });

  it.skipIf(skip)('records the four known events, with Data as an object or as JSON text', async () => {
    const credited = payment('ref-credit', { Amount: { CurrencyCode: 'SEK', Value: 5_000 } });
    credited.EventType = 'AmountCreditedOnInvoice';
    const writtenOff = { eventtype: 'AmountWrittenOffOnInvoice', data: JSON.stringify(payment('ref-writeoff', { Amount: { CurrencyCode: 'SEK', Value: 3 } }).Data) };
    const paid = { Type: 'InvoiceActionPaid', Data: { ActionPublicId: 'inv-public-1', PaidAmount: { CurrencyCode: 'SEK', Value: 12_550 }, State: { ClosedDate: '2026-05-02T00:00:00' } } };
    for (const e of [payment('ref-pay'), credited, writtenOff, paid]) expect((await post(server.url, e)).status).toBe(200);
    expect((await post(server.url, paid)).status).toBe(200);
    const rows = await listWebhookEvents(db);
    expect(rows.map((r) => [r.event_type, r.reference, r.amount_minor, r.known])).toEqual([
      ['InvoicePaymentReceived', 'ref-pay', 12_550, true],
      ['AmountCreditedOnInvoice', 'ref-credit', 5_000, true],
      ['AmountWrittenOffOnInvoice', 'ref-writeoff', 3, true],
      ['InvoiceActionPaid', 'InvoiceActionPaid:inv-public-1', 12_550, true],
    ]);
  });

  it.skipIf(skip)('keeps an event with a PaymentReferenceId already used by another event type under its own key', async () => {
    const credited = payment('shared-ref');
    credited.EventType = 'AmountCreditedOnInvoice';
    expect((await post(server.url, payment('shared-ref'))).status).toBe(200);
    expect((await post(server.url, credited)).status).toBe(200);
    expect((await post(server.url, credited)).status).toBe(200);
    expect((await listWebhookEvents(db)).map((r) => r.reference)).toEqual(['shared-ref', 'AmountCreditedOnInvoice:shared-ref']);
  });

  it.skipIf(skip)('stores unknown events (and bodies without an event type) instead of dropping them', async () => {
    const unknown = { EventType: 'OverPayment', Data: { PaymentReferenceId: 'over-1', Amount: { CurrencyCode: 'SEK', Value: 100 } } };
    expect((await post(server.url, unknown)).status).toBe(200);
    expect((await post(server.url, unknown)).status).toBe(200);
    expect((await post(server.url, { something: 'else' })).status).toBe(200);
    expect((await post(server.url, [1, 2, 3])).status).toBe(200);
    const rows = await listWebhookEvents(db);
    expect(rows.map((r) => [r.event_type, r.known])).toEqual([
      ['OverPayment', false],
      ['(none)', false],
      ['(none)', false],
    ]);
    expect(rows[0]!.reference).toMatch(/^OverPayment:sha256-[0-9a-f]{64}$/);
    expect(JSON.parse(rows[2]!.payload)).toEqual([1, 2, 3]);
  });

  it.skipIf(skip)('refuses a missing or wrong secret with 401 and records nothing', async () => {
    const event = payment('ref-unauth');
    expect((await post(server.url, event, {})).status).toBe(401);
    expect((await post(server.url, event, { [HEADER]: WRONG })).status).toBe(401);
    expect((await post(server.url, event, { [HEADER]: SECRET.slice(0, -1) })).status).toBe(401);
    expect((await post(server.url, event, { [HEADER]: `${SECRET}x` })).status).toBe(401);
    expect((await post(server.url, event, { Authorization: `Bearer ${SECRET}` })).status).toBe(401);
    expect(await listWebhookEvents(db)).toEqual([]);
    expect(logs.text()).toContain(`wrong ${HEADER.toLowerCase()} header`);
    expect(logs.text()).toContain(`no ${HEADER.toLowerCase()} header`);
  });

  it.skipIf(skip)('answers 413 beyond max_body_bytes, whether declared or streamed, and records nothing', async () => {
    const big = payment('ref-big', { Padding: 'x'.repeat(5000) });
    expect((await post(server.url, big)).status).toBe(413);
    const streamed = await postStreaming(server.url, 64 * 1024);
    expect([413, 'reset']).toContain(streamed);
    expect(await listWebhookEvents(db)).toEqual([]);
    // The server still serves after cutting a body short.
    expect((await post(server.url, payment('ref-after-big'))).status).toBe(200);
  });

  it.skipIf(skip)('answers 400 to a body that is not JSON, 404 elsewhere, 405 to other methods', async () => {
    expect((await post(server.url, 'Amount=100&Ref=1')).status).toBe(400);
    expect((await post(server.url, '')).status).toBe(400);
    expect((await post(server.url, '{"EventType":')).status).toBe(400);
    expect((await post(server.url.replace('/webhooks/billecta', '/webhooks/other'), payment('ref-404'))).status).toBe(404);
    expect((await fetch(server.url, { headers: { [HEADER]: SECRET } })).status).toBe(405);
    expect(await listWebhookEvents(db)).toEqual([]);
  });

  it.skipIf(skip)('never writes the secret (or a wrong one) to the log', () => {
    const text = logs.text();
    expect(text).toContain('webhook');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(WRONG);
    expect(text).not.toContain(SECRET.slice(0, -1));
  });

  it.skipIf(skip)('answers 500 when the event cannot be stored, so that Billecta delivers again', async () => {
    const fresh = await freshDatabase(dialect);
    await migrateLatest(fresh.db);
    const own = captureStream();
    const broken = await startWebhookServer({ db: fresh.db, logger: createLogger({ format: 'json', stream: own.stream }), config: settings() });
    try {
      await fresh.db.destroy();
      const res = await post(broken.url, payment('ref-db-down'));
      expect(res.status).toBe(500);
      expect(own.text()).toContain('could not be stored');
      expect(own.text()).not.toContain(SECRET);
    } finally {
      await broken.close(1000);
      await fresh.drop().catch(() => undefined);
    }
  });
});

describe('webhook configuration', () => {
  const base = { sources: { s: { type: 'file', path: 'x', mapping: 'm.yaml' } }, targets: { j: { type: 'journal' } } };

  it('binds 127.0.0.1 by default, with the documented defaults', () => {
    const parsed = configSchema.parse({ ...base, webhooks: { billecta: { secret: SECRET } } });
    expect(parsed.webhooks).toEqual({
      listen: '127.0.0.1:8787',
      billecta: { path: '/webhooks/billecta', header: 'x-webhook-secret', secret: SECRET, max_body_bytes: 65536 },
    });
    expect(parseListen('8787')).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(parseListen(':0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:8787')).toEqual({ host: '::1', port: 8787 });
    expect(parseListen('0.0.0.0:99999')).toBeNull();
    expect(configSchema.parse(base).webhooks).toBeUndefined();
  });

  it('requires a secret of some length when the block is given', () => {
    expect(configSchema.safeParse({ ...base, webhooks: {} }).success).toBe(false);
    expect(configSchema.safeParse({ ...base, webhooks: { billecta: {} } }).success).toBe(false);
    expect(configSchema.safeParse({ ...base, webhooks: { billecta: { secret: 'short' } } }).success).toBe(false);
    expect(configSchema.safeParse({ ...base, webhooks: { billecta: { secret: SECRET, extra: 1 } } }).success).toBe(false);
  });

  it('listens on 127.0.0.1 when listen names only a port', async () => {
    const { db, drop } = await freshDatabase('sqlite');
    await migrateLatest(db);
    const server = await startWebhookServer({ db, logger: createLogger({ format: 'json', stream: captureStream().stream }), config: settings({}, '0') });
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks\/billecta$/);
    } finally {
      await server.close(1000);
      await drop();
    }
  });

  it('reads the envelope case-insensitively and falls back to the event id, then ActionPublicId', () => {
    expect(parseBillectaEvent({ EVENT: 'invoiceactionpaid', Id: 'evt-9', Data: { ActionPublicId: 'a1' } }, '{}')).toMatchObject({
      eventType: 'InvoiceActionPaid',
      reference: 'InvoiceActionPaid:evt-9',
      invoicePublicId: 'a1',
      known: true,
    });
    expect(parseBillectaEvent({ EventType: 'InvoicePaymentReceived', Data: { ActionPublicId: 'a1', Amount: { CurrencyCode: 'SEK', Value: 1.5 } } }, '{}')).toMatchObject({
      reference: 'InvoicePaymentReceived:a1',
      paymentReferenceId: null,
      amountMinor: null,
      currency: 'SEK',
    });
  });
});

describe('webhooks in the service', () => {
  it('start with `kontor run` when configured and close on stop, before the database', async () => {
    const dir = tempProject();
    const file = path.join(dir, 'config.yaml');
    const yaml = readFileSync(file, 'utf8').replace('shutdown_grace_seconds: 10', 'shutdown_grace_seconds: 1');
    writeFileSync(file, `${yaml}\nwebhooks:\n  listen: "127.0.0.1:0"\n  billecta:\n    secret: \${BILLECTA_WEBHOOK_SECRET}\n`);
    const config = loadConfig(file, { BILLECTA_WEBHOOK_SECRET: SECRET });
    expect(config.secrets.has(SECRET)).toBe(true);
    const { db, drop } = await freshDatabase('sqlite');
    const logs = captureStream();
    const rt = await openRuntime(config, createLogger({ format: 'json', stream: logs.stream }), { db });
    const service = new Service(rt, { print: () => undefined });
    try {
      await service.start();
      const url = service.webhookUrl!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhooks\/billecta$/);
      expect((await post(url, payment('ref-service'))).status).toBe(200);
      expect(await webhookTotals(db)).toEqual([expect.objectContaining({ eventType: 'InvoicePaymentReceived', count: 1, sumMinor: 12_550 })]);
      await service.stop();
      await expect(post(url, payment('ref-after-stop'))).rejects.toThrow();
      expect(logs.text()).not.toContain(SECRET);
    } finally {
      await service.stop();
      await drop().catch(() => undefined);
    }
  });
});

describe('kontor status', () => {
  it('shows the payments learned by webhook: count and sum per currency, last received', async () => {
    const dir = tempProject();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nwebhooks:\n  billecta:\n    secret: \${BILLECTA_WEBHOOK_SECRET}\n`);
    process.env.BILLECTA_WEBHOOK_SECRET = SECRET;
    const out: string[] = [];
    try {
      const db = openDatabase(loadConfig(file).database);
      await migrateLatest(db);
      const base = { source: 'billecta', invoicePublicId: 'inv-1', occurredAt: null, payload: '{}', known: true };
      await recordWebhookEvent(db, { ...base, eventType: 'InvoicePaymentReceived', reference: 'r1', amountMinor: 12_550, currency: 'SEK' });
      await recordWebhookEvent(db, { ...base, eventType: 'InvoicePaymentReceived', reference: 'r2', amountMinor: 100, currency: 'SEK' });
      await recordWebhookEvent(db, { ...base, eventType: 'AmountWrittenOffOnInvoice', reference: 'r3', amountMinor: 3, currency: 'SEK' });
      await recordWebhookEvent(db, { ...base, eventType: 'OverPayment', reference: 'r4', amountMinor: null, currency: null, known: false });
      await db.destroy();
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        out.push(String(chunk));
        return true;
      });
      try {
        expect(await main(['node', 'kontor', '--config', file, 'status'])).toBe(0);
        const text = out.splice(0).join('');
        expect(text).toContain('webhooks (http://127.0.0.1:8787/webhooks/billecta):');
        expect(text).toMatch(/payments billecta: 2 × SEK 126\.50, last received \d{4}-/);
        expect(text).toContain('billecta AmountWrittenOffOnInvoice: 1 × SEK 0.03');
        expect(text).toContain('billecta OverPayment (unknown): 1');
        expect(await main(['node', 'kontor', '--config', file, 'status', '--json'])).toBe(0);
        const json = JSON.parse(out.join('')) as { webhooks: { payments: unknown[] } };
        expect(json.webhooks.payments).toEqual([expect.objectContaining({ source: 'billecta', currency: 'SEK', count: 2, sumMinor: 12_650 })]);
      } finally {
        spy.mockRestore();
      }
    } finally {
      delete process.env.BILLECTA_WEBHOOK_SECRET;
    }
    expect(out.join('')).not.toContain(SECRET);
  });
});
