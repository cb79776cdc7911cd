/**
 * Issue #9: the ops endpoint of `kontor run` (/metrics, /healthz, /readyz, the status page's
 * token) and `kontor status` with each source's lag and last successful pull.
 *
 * The service runs in-process on the sample project (5 orders → 13 documents into the
 * journal), its endpoint on a free loopback port. Tests wait for states, never for fixed times.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BookDocument } from '../src/books/index.js';
import { loadConfig } from '../src/config/load.js';
import { configSchema, parseListen } from '../src/config/schema.js';
import { ConfigError, PermanentError, RetriableError } from '../src/errors.js';
import { HttpClient, type ExchangeObservation } from '../src/http/client.js';
import { createLogger } from '../src/log/logger.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { Metrics } from '../src/service/metrics.js';
import { startOpsServer, STATUS_COOKIE } from '../src/service/ops-server.js';
import { openRuntime, type Runtime } from '../src/service/runtime.js';
import { Service } from '../src/service/service.js';
import { collectStatus, formatStatus, freshness } from '../src/service/status.js';
import { quarantineRecord } from '../src/store/quarantine.js';
import { startRunMyAccounts } from '../src/targets/runmyaccounts/emulator.js';
import type { TargetAdapter } from '../src/targets/types.js';
import { captureStream, freshDatabase, gateSource, runCli, tempProject, waitFor } from './helpers.js';
import { sampleOrdersConfig } from './targets-helpers.js';

const TOKEN = 'status-token-7f3a91c2e4b8d605';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One sample of the Prometheus text exposition: `name{a="b",…} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: m[3] === 'NaN' ? NaN : Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

const OPS_BLOCK = (extra = '') => `\nops:\n  listen: 127.0.0.1:0\n  status_token: \${KONTOR_STATUS_TOKEN}\n${extra}`;

/** The sample project (data/kontor.sqlite in it, so the CLI reads the same database) with an `ops:` block. */
async function project(ops = OPS_BLOCK()) {
  const dir = tempProject();
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('shutdown_grace_seconds: 10', 'shutdown_grace_seconds: 2') + ops);
  const config = loadConfig(file, { KONTOR_STATUS_TOKEN: TOKEN });
  const logs = captureStream();
  const rt = await openRuntime(config, createLogger({ format: 'json', level: 'debug', stream: logs.stream }), { metrics: new Metrics() });
  cleanups.push(() => rt.db.destroy().catch(() => undefined));
  return { dir, rt, logs };
}

async function service(rt: Runtime) {
  const stop = new AbortController();
  const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
  cleanups.push(async () => {
    stop.abort();
    await svc.done;
  });
  return { svc, stop: async () => (stop.abort(), await svc.done) };
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Replace the journal's deliver (lookup and balance stay the journal's). */
function interceptDeliver(rt: Runtime, deliver: (doc: BookDocument, real: TargetAdapter) => Promise<{ externalId: string }>): void {
  const journal = rt.targets.get('journal')!;
  rt.targets.set('journal', { name: 'journal', type: 'journal', lookup: (d) => journal.lookup(d), transferBalance: () => journal.transferBalance(), deliver: (d) => deliver(d, journal) });
}

describe('ops configuration', () => {
  const minimal = { sources: { s: { type: 'file', path: 'x', mapping: 'm.yaml' } }, targets: { journal: { type: 'journal' } } };

  it('is off without an ops block; with one it binds 127.0.0.1:9464 by default, and the status page needs a token of 16 characters', () => {
    expect(configSchema.parse(minimal).ops).toBeUndefined();
    expect(configSchema.parse({ ...minimal, ops: {} }).ops).toEqual({ listen: '127.0.0.1:9464', status_refresh_seconds: 15 });
    expect(configSchema.safeParse({ ...minimal, ops: { status_token: 'short' } }).success).toBe(false);
    expect(configSchema.safeParse({ ...minimal, ops: { listen: 'not an address' } }).success).toBe(false);
  });

  it('takes an unquoted bare port (YAML reads a number) as a port on 127.0.0.1, and an empty ops block as every default', () => {
    expect(configSchema.parse({ ...minimal, ops: { listen: 9465 } }).ops?.listen).toBe('9465');
    expect(parseListen('9465')).toEqual({ host: '127.0.0.1', port: 9465 });
    expect(configSchema.parse({ ...minimal, ops: null }).ops).toEqual({ listen: '127.0.0.1:9464', status_refresh_seconds: 15 });
    expect(configSchema.safeParse({ ...minimal, ops: { listen: 70000 } }).success).toBe(false);
    expect(configSchema.safeParse({ ...minimal, ops: { listen: 94.5 } }).success).toBe(false);
  });

  it('treats the status token as a secret', () => {
    const dir = tempProject();
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, readFileSync(file, 'utf8') + OPS_BLOCK());
    expect(loadConfig(file, { KONTOR_STATUS_TOKEN: TOKEN }).secrets.has(TOKEN)).toBe(true);
    expect(() => loadConfig(file, {})).toThrow(ConfigError);
  });

  it('a bare port binds loopback; a service without ops: listens nowhere', async () => {
    const { rt } = await project(OPS_BLOCK().replace('127.0.0.1:0', '"0"'));
    const server = await startOpsServer({ rt, metrics: new Metrics(), settings: rt.config.raw.ops! });
    cleanups.push(() => server.close());
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const plain = await project('');
    const { svc } = await service(plain.rt);
    await svc.start();
    expect(svc.opsUrl).toBeNull();
  });
});

describe('/healthz and /readyz', () => {
  it('readyz is 503 before the first pull and 200 after it; healthz is 200 throughout', async () => {
    const { rt } = await project();
    const gated = gateSource(rt);
    const { svc } = await service(rt);
    const starting = svc.start();
    await waitFor(async () => gated.pulls.mock.calls.length === 1, 'the first pull to begin');
    const url = svc.opsUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    expect(await getJson(`${url}/healthz`)).toEqual({ status: 200, body: { status: 'ok', checks: { process: { ok: true, detail: 'up' }, database: { ok: true, detail: 'answers' } } } });
    const before = await getJson(`${url}/readyz`);
    expect(before.status).toBe(503);
    expect(before.body.status).toBe('not ready');
    expect(before.body.reasons).toEqual([
      'first sync: not finished yet',
      expect.stringMatching(/^source samples: never pulled successfully by kontor run; a pull is running since \d{4}-/),
    ]);

    gated.open();
    await starting;
    const after = await getJson(`${url}/readyz`);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ status: 'ready', reasons: [], checks: { database: { ok: true }, firstSync: { ok: true }, sources: [{ source: 'samples', ok: true }] } });
  });

  it('readyz is 503 once a source has not been pulled successfully for twice its interval plus 5 minutes', async () => {
    const { rt } = await project();
    const { svc } = await service(rt);
    await svc.start();
    expect((await fetch(`${svc.opsUrl}/readyz`)).status).toBe(200);
    // The schedule is every 5 minutes: 15 minutes are allowed.
    await rt.db('job_runs').where({ job: 'source:samples' }).update({ last_ok_at: new Date(Date.now() - 16 * 60_000).toISOString() });
    const stale = await getJson(`${svc.opsUrl}/readyz`);
    expect(stale.status).toBe(503);
    expect(stale.body.reasons).toEqual(['source samples: last pulled successfully 16 min ago, longer than 15 min: twice the interval of its schedule (5 min) plus 5 min']);
    const metrics = parseExposition(await (await fetch(`${svc.opsUrl}/metrics`)).text());
    expect(valueOf(metrics, 'kontor_source_up_to_date', { source: 'samples' })).toBe(0);
  });

  it('answer 503 when the database is closed; /metrics still answers, with kontor_database_up 0', async () => {
    const { rt } = await project();
    await pullSource(rt, 'samples');
    const server = await startOpsServer({ rt, metrics: new Metrics(), settings: rt.config.raw.ops! });
    cleanups.push(() => server.close());
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await rt.db.destroy();
    const health = await getJson(`${server.url}/healthz`);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'failing', checks: { process: { ok: true }, database: { ok: false } } });
    const ready = await getJson(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((ready.body.reasons as string[])[0]).toMatch(/^database: /);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    const samples = parseExposition(await res.text());
    expect(valueOf(samples, 'kontor_database_up')).toBe(0);
    expect(valueOf(samples, 'kontor_outbox_entries', { target: 'journal', state: 'delivered' })).toBeUndefined();
  });

  it('the freshness rule follows the schedule: its last gap, twice, plus 5 minutes', () => {
    const at = (iso: string) => new Date(iso);
    const every5 = (ago: number) => freshness({ schedule: '*/5 * * * *', timezone: 'Europe/Zurich', lastSuccessAt: new Date(Date.parse('2026-11-24T10:02:00Z') - ago * 60_000).toISOString(), now: at('2026-11-24T10:02:00Z') });
    expect(every5(14)).toMatchObject({ fresh: true, intervalSeconds: 300, allowedSeconds: 900 });
    expect(every5(16)).toMatchObject({ fresh: false });
    // Weekdays at 09:00 Zurich (08:00 UTC in November); 2026-11-23 is a Monday.
    const weekdays = (lastSuccessAt: string, now: string) => freshness({ schedule: '0 9 * * 1-5', timezone: 'Europe/Zurich', lastSuccessAt, now: at(now) });
    // Monday morning: Friday's pull is recent enough (the gap just had was the weekend).
    expect(weekdays('2026-11-20T08:01:00Z', '2026-11-23T10:00:00Z')).toMatchObject({ fresh: true, intervalSeconds: 3 * 86_400 });
    // Wednesday morning with Monday's as the last success: Tuesday's and Wednesday's runs failed.
    expect(weekdays('2026-11-23T08:01:00Z', '2026-11-25T10:00:00Z')).toMatchObject({ fresh: false, intervalSeconds: 86_400, allowedSeconds: 2 * 86_400 + 300 });
    expect(freshness({ schedule: '*/5 * * * *', timezone: 'Europe/Zurich', lastSuccessAt: null, now: new Date() })).toMatchObject({ fresh: false, reason: 'never pulled successfully by kontor run' });
  });
});

describe('/metrics', () => {
  it('counts the 13 documents of the 5 sample orders delivered, by kind, and shows the backlog, the lag and the last pull', async () => {
    const { rt, logs } = await project();
    const { svc } = await service(rt);
    await svc.start();
    const res = await fetch(`${svc.opsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await res.text());
    const delivered = (kind: string) => valueOf(samples, 'kontor_documents_delivered_total', { target: 'journal', kind });
    expect({ customer: delivered('customer'), invoice: delivered('invoice'), payment: delivered('payment'), 'credit-note': delivered('credit-note'), storno: delivered('storno') }).toEqual({ customer: 4, invoice: 5, payment: 4, 'credit-note': 0, storno: 0 });
    // Zero series from the start: a rate() needs them.
    expect(valueOf(samples, 'kontor_documents_dead_total', { target: 'journal', kind: 'invoice' })).toBe(0);
    expect(valueOf(samples, 'kontor_documents_failed_total', { target: 'journal', kind: 'invoice', outcome: 'retry' })).toBe(0);
    const outbox = Object.fromEntries(samples.filter((s) => s.name === 'kontor_outbox_entries').map((s) => [`${s.labels.target}/${s.labels.state}`, s.value]));
    expect(outbox).toEqual({ 'journal/pending': 0, 'journal/leased': 0, 'journal/delivered': 13, 'journal/retry': 0, 'journal/in_doubt': 0, 'journal/dead': 0, 'journal/skipped': 0 });
    expect(valueOf(samples, 'kontor_database_up')).toBe(1);
    expect(valueOf(samples, 'kontor_quarantine_open')).toBe(0);
    expect(valueOf(samples, 'kontor_source_up_to_date', { source: 'samples' })).toBe(1);
    const lastOk = valueOf(samples, 'kontor_source_last_success_timestamp_seconds', { source: 'samples' })!;
    expect(Math.abs(lastOk - Date.now() / 1000)).toBeLessThan(60);
    // The file source's cursor stands at the newest sample file's modification time (copied just now).
    const lag = valueOf(samples, 'kontor_source_cursor_lag_seconds', { source: 'samples' })!;
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(60);
    // Node's process metrics, on kontor's own registry.
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
    expect(logs.text()).not.toContain(TOKEN);
  });

  it('counts failed attempts (retry, in doubt) and dead documents by target and kind', async () => {
    const { rt } = await project();
    await pullSource(rt, 'samples');
    const metrics = rt.metrics!;
    interceptDeliver(rt, async (doc, real) => {
      if (doc.kind === 'invoice' && doc.number === '1001') throw new RetriableError('HTTP 503');
      if (doc.kind === 'invoice' && doc.number === '1002') throw new Error('socket hang up');
      if (doc.kind === 'payment') throw new PermanentError('refused');
      return real.deliver(doc);
    });
    const stats = await new Deliverer(rt).drain();
    metrics.observe(rt);
    const samples = parseExposition((await metrics.exposition()).text);
    const v = (name: string, labels: Record<string, string>) => valueOf(samples, name, { target: 'journal', ...labels });
    // The payments of orders 1001 and 1002 wait behind their invoices; 1003 is unpaid; 1004's and 1005's go dead.
    expect(stats).toMatchObject({ delivered: 7, retrying: 1, inDoubt: 1, dead: 2 });
    expect(v('kontor_documents_failed_total', { kind: 'invoice', outcome: 'retry' })).toBe(1);
    expect(v('kontor_documents_failed_total', { kind: 'invoice', outcome: 'in_doubt' })).toBe(1);
    expect(v('kontor_documents_dead_total', { kind: 'payment' })).toBe(2);
    expect(v('kontor_documents_delivered_total', { kind: 'customer' })).toBe(4);
    expect(v('kontor_documents_delivered_total', { kind: 'invoice' })).toBe(3);
    expect(v('kontor_outbox_entries', { state: 'dead' })).toBe(2);
    expect(v('kontor_outbox_entries', { state: 'pending' })).toBe(2);
    expect(v('kontor_outbox_entries', { state: 'retry' })).toBe(1);
    expect(v('kontor_outbox_entries', { state: 'in_doubt' })).toBe(1);
    // kontor status names them with their reasons, dead and in doubt alike.
    const status = await collectStatus(rt, { transferBalance: async () => ({ balance: null, error: 'not read' }) });
    expect(status.inDoubt).toEqual([{ id: expect.any(Number) as unknown, target: 'journal', document: expect.stringContaining('1002') as unknown, reason: expect.stringContaining('socket hang up') as unknown }]);
    expect(status.dead.map((d) => d.reason)).toEqual([expect.stringContaining('refused'), expect.stringContaining('refused')]);
    expect(formatStatus(status)).toMatch(/ {2}in doubt #\d+ \S*1002\S* → journal: .*socket hang up/);
  });

  it('times the HTTP exchanges of a target (Run my Accounts emulator) by target and status class', async () => {
    const key = 'rma-metrics-key-2b7d41';
    const emu = await startRunMyAccounts({ mandants: ['muster'], key, accounts: [
      { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
      { accno: '1092', description: 'Clearing Payrexx/TWINT', category: 'A', link: 'AR_paid' },
    ] });
    cleanups.push(() => emu.close());
    const targetsYaml = ['  rma:', '    type: runmyaccounts', '    environment: test', `    base_url: ${emu.url}`, '    mandant: muster', '    credentials:', '      test:', '        api_key: ${RMA_KEY}', '        expires: 2030-01-31'].join('\n');
    const dir = tempProject(sampleOrdersConfig({ mapping: 'woocommerce-ch.yaml', targetsYaml }));
    const { db, drop } = await freshDatabase('sqlite');
    cleanups.push(drop);
    const rt = await openRuntime(loadConfig(path.join(dir, 'config.yaml'), { RMA_KEY: key }), createLogger({ format: 'json', stream: captureStream().stream }), { db });
    // Set after the clients were made: they report to it all the same.
    rt.metrics = new Metrics();
    cleanups.push(async () => {
      for (const t of rt.targets.values()) await t.close?.();
    });
    await pullSource(rt, 'samples');
    const stats = await new Deliverer(rt).drain();
    expect(stats.delivered).toBe(13);
    rt.metrics!.observe(rt);
    const samples = parseExposition((await rt.metrics!.exposition()).text);
    const count = samples.filter((s) => s.name === 'kontor_http_request_duration_seconds_count' && s.labels.role === 'target' && s.labels.name === 'rma').reduce((n, s) => n + s.value, 0);
    expect(count).toBe(emu.stats.requests);
    expect(valueOf(samples, 'kontor_http_request_duration_seconds_count', { role: 'target', name: 'rma', status: '2xx' })).toBeGreaterThanOrEqual(13);
    expect(valueOf(samples, 'kontor_documents_delivered_total', { target: 'rma', kind: 'invoice' })).toBe(5);
    expect(valueOf(samples, 'kontor_credential_expiry_timestamp_seconds', { target: 'rma', environment: 'test' })).toBe(Date.parse('2030-02-01T00:00:00Z') / 1000);
  });

  it('HttpClient tells its observer about every exchange on the wire, retries and failures included', async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.writeHead(calls === 1 ? 503 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const seen: ExchangeObservation[] = [];
    const client = new HttpClient({ name: 'test', sleep: async () => undefined, observe: (e) => seen.push(e) });
    cleanups.push(() => client.close());
    await client.request({ method: 'GET', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/x` });
    await expect(client.request({ method: 'GET', url: 'http://127.0.0.1:1/unreachable' })).rejects.toThrow();
    expect(seen.slice(0, 3).map((e) => [e.method, e.status])).toEqual([['GET', 503], ['GET', 200], ['GET', null]]);
    expect(seen.every((e) => e.durationMs >= 0)).toBe(true);
  });
});

describe('the status page: its token', () => {
  it('answers only with the token (Bearer, or ?token= once, then its cookie), never logs it, and escapes what it shows', async () => {
    const { rt, logs } = await project();
    const { svc } = await service(rt);
    await svc.start();
    await quarantineRecord(rt.db, { source: 'samples', recordId: '<img src=x onerror=alert(1)>', contentHash: 'h', reason: '<script>alert("x")</script>', origin: 'test', raw: '{}' });
    const url = `${svc.opsUrl}/status`;

    const refused: RequestInit[] = [{}, { headers: { authorization: 'Bearer wrong-token-0000000000' } }, { headers: { authorization: `Basic ${TOKEN}` } }, { headers: { cookie: `${STATUS_COOKIE}=forged` } }];
    for (const init of refused) {
      const res = await fetch(url, init);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="kontor status"');
      const text = await res.text();
      expect(text).not.toContain('samples');
      expect(text).not.toContain('1090');
    }
    expect((await fetch(`${url}?token=wrong-token-0000000000`, { redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${url}.json`)).status).toBe(401);

    const bearer = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(200);
    expect(bearer.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'nonce-[^']+'; style-src 'nonce-[^']+'; connect-src 'self'/);
    const html = await bearer.text();
    expect(html).toContain('samples');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain(TOKEN);

    const signIn = await fetch(`${url}?token=${TOKEN}`, { redirect: 'manual' });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('status');
    const cookie = signIn.headers.get('set-cookie')!;
    expect(cookie).toMatch(new RegExp(`^${STATUS_COOKIE}=[A-Za-z0-9_-]+; HttpOnly; SameSite=Strict; Max-Age=\\d+$`));
    expect(cookie).not.toContain(TOKEN);
    const withCookie = await fetch(url, { headers: { cookie: cookie.split(';')[0]! } });
    expect(withCookie.status).toBe(200);
    expect(await withCookie.text()).toContain('13 delivered');

    const json = await getJson(`${url}.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ status: { sources: [{ source: 'samples', freshness: { fresh: true } }], backlog: [{ target: 'journal', state: 'delivered', count: 13 }] }, readiness: { ready: true } });

    expect(logs.text()).toContain('status page refused: wrong bearer token');
    expect(logs.text()).not.toContain(TOKEN);
    expect(logs.text()).not.toContain(cookie.split(';')[0]!.split('=')[1]!);
  });

  it('is off without a status token: 404, while /metrics and the probes answer', async () => {
    const { rt } = await project('\nops:\n  listen: 127.0.0.1:0\n');
    const { svc } = await service(rt);
    await svc.start();
    const res = await getJson(`${svc.opsUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res).toEqual({ status: 404, body: { error: 'the status page is off: set ops.status_token in config.yaml' } });
    expect((await fetch(`${svc.opsUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`${svc.opsUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${svc.opsUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('kontor status', () => {
  it('shows each source\'s lag and last successful pull (text and --json)', async () => {
    const { dir, rt } = await project();
    const { svc, stop } = await service(rt);
    await svc.start();
    await stop();
    const env = { KONTOR_STATUS_TOKEN: TOKEN };
    const json = await runCli(['status', '--json'], { cwd: dir, env });
    expect(json.code).toBe(0);
    const status = JSON.parse(json.stdout) as { generatedAt: string; sources: Record<string, unknown>[] };
    expect(status.sources).toEqual([
      expect.objectContaining({
        source: 'samples',
        type: 'file',
        schedule: '*/5 * * * *',
        cursor: expect.stringMatching(/^\d{15}\|wc-order-\d+\.json$/) as unknown,
        lagSeconds: expect.any(Number) as unknown,
        lastSuccessAt: expect.stringMatching(/^\d{4}-/) as unknown,
        freshness: expect.objectContaining({ fresh: true, intervalSeconds: 300, allowedSeconds: 900 }) as unknown,
      }),
    ]);
    const text = await runCli(['status'], { cwd: dir, env });
    expect(text.stdout).toMatch(/sources:\n {2}samples: cursor \d{15}\|wc-order-\d+\.json \(saved \S+\)\n {4}lag \d+ s \(cursor at \S+\); last pulled successfully \S+ \(\d+ s ago\)\n/);
    expect(text.stdout + text.stderr).not.toContain(TOKEN);
  });
});
