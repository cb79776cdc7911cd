/**
 * The ops endpoint of `kontor run` (issue #9), on `ops.listen` (127.0.0.1:9464 by default),
 * plain HTTP, read-only:
 *
 * | path | auth | answers |
 * |---|---|---|
 * | `/metrics` | none | Prometheus text exposition (metrics.ts) |
 * | `/healthz` | none | 200 when the process is up and the database answers `select 1`, else 503; JSON |
 * | `/readyz` | none | 200 when also the first sync has finished and every source is up to date (status.ts), else 503 with the reasons; JSON |
 * | `/status` | token | the status page (status-page.ts); `?part=live`: the parts its script refreshes |
 * | `/status.json` | token | the same as JSON: `{ status, readiness }` |
 *
 * The status page answers only with `ops.status_token` configured (404 otherwise), and only to a
 * request that brings it: `Authorization: Bearer TOKEN`, or `?token=TOKEN` once (answered with a
 * cookie and a redirect to the page without the token, so it stays out of the history), or that
 * cookie. The cookie holds an HMAC derived from the token, not the token; a new token voids it.
 * Compared in constant time (both sides hashed first); a refusal is a 401 without data, logged
 * without what was sent. Nothing here logs a request's URL or headers.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost, parseListen, type OpsConfig } from '../config/schema.js';
import { listenHttp } from './http-server.js';
import type { Metrics } from './metrics.js';
import type { Runtime } from './runtime.js';
import { renderStatusLive, renderStatusPage } from './status-page.js';
import { checkDatabase, checkReadiness, collectStatus, type Readiness, type TransferReading } from './status.js';
import { readTransferBalance } from './summary.js';

export const STATUS_COOKIE = 'kontor_status';
/** Remote targets' transfer balances are asked for at most this often by the page (the journal's is read each time). */
const TRANSFER_CACHE_MS = 60_000;

export interface OpsServer {
  /** The server's base URL, e.g. http://127.0.0.1:9464. */
  url: string;
  host: string;
  port: number;
  /** Stop accepting, let requests in flight finish (at most `graceMs`), then cut the rest. */
  close(graceMs?: number): Promise<void>;
}

export interface OpsServerOptions {
  rt: Runtime;
  metrics: Metrics;
  settings: OpsConfig;
  /** Whether this process has finished its first sync (`kontor run`); without it /readyz does not ask. */
  firstSyncDone?: () => boolean;
  /** True once the service is stopping: /readyz answers 503. */
  stopping?: () => boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

function cookiesOf(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { rt, metrics, settings } = options;
  const log = rt.logger;
  const listen = parseListen(settings.listen);
  if (!listen) throw new Error(`ops.listen: "${settings.listen}" is not host:port`);
  metrics.observe(rt);

  const token = settings.status_token;
  const expected = token ? sha256(token) : null;
  const cookieValue = token ? createHmac('sha256', token).update('kontor status page cookie').digest('base64url') : null;
  const expectedCookie = cookieValue ? sha256(cookieValue) : null;
  const same = (given: string, hash: Buffer) => timingSafeEqual(sha256(given), hash);

  const transferCache = new Map<string, { at: number; value: Promise<TransferReading> }>();
  const transferBalance = (target: string): Promise<TransferReading> => {
    const adapter = rt.targets.get(target)!;
    if (adapter.type === 'journal') return readTransferBalance(rt, adapter);
    const hit = transferCache.get(target);
    if (hit && Date.now() - hit.at < TRANSFER_CACHE_MS) return hit.value;
    const value = readTransferBalance(rt, adapter);
    transferCache.set(target, { at: Date.now(), value });
    return value;
  };

  const readiness = async (): Promise<Readiness> => {
    const r = await checkReadiness(rt, options.firstSyncDone ? { firstSyncDone: options.firstSyncDone() } : {});
    if (options.stopping?.()) return { ...r, ready: false, reasons: ['kontor is stopping', ...r.reasons] };
    return r;
  };

  const send = (res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const json = (res: ServerResponse, req: IncomingMessage, status: number, value: unknown, headers: Record<string, string> = {}) =>
    send(res, req, status, 'application/json; charset=utf-8', `${JSON.stringify(rt.redactor.value(value), null, 2)}\n`, headers);

  /** Whether the request brings the token (or its cookie); answers it (401, 404, a redirect) when it does not go on. */
  const authorised = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    const wantsHtml = /text\/html/.test(req.headers.accept ?? '');
    if (!expected || !expectedCookie || !cookieValue) {
      json(res, req, 404, { error: 'the status page is off: set ops.status_token in config.yaml' });
      return false;
    }
    const refuse = (why: string) => {
      // Never what was sent: it may be the token with a typo, or another secret.
      log.warn(`status page refused: ${why}`, { remote });
      const headers = { 'www-authenticate': 'Bearer realm="kontor status"' };
      if (wantsHtml) {
        send(res, req, 401, 'text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>kontor: unauthorised</title><p>401: open this page with <code>?token=</code> and the status token, or send <code>Authorization: Bearer</code>.</p>\n', { ...headers, 'content-security-policy': "default-src 'none'" });
      } else {
        json(res, req, 401, { error: 'unauthorized' }, headers);
      }
      return false;
    };
    const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
    const cookie = `${STATUS_COOKIE}=${cookieValue}; HttpOnly; SameSite=Strict; Max-Age=604800${secure}`;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      if (!m || !same(m[1]!, expected)) return refuse(m ? 'wrong bearer token' : 'an Authorization header that is not Bearer');
      res.setHeader('set-cookie', cookie);
      return true;
    }
    const query = url.searchParams.get('token');
    if (query !== null) {
      if (!same(query, expected)) return refuse('wrong token in the query');
      // The token leaves the address bar: the page is loaded again without it, with the cookie.
      const page = url.pathname.split('/').pop() || 'status';
      send(res, req, 303, 'text/plain; charset=utf-8', 'signed in\n', { location: page, 'set-cookie': cookie });
      return false;
    }
    const given = cookiesOf(req).get(STATUS_COOKIE);
    if (given !== undefined) {
      if (!same(given, expectedCookie)) return refuse('a stale cookie (the status token changed?)');
      return true;
    }
    return refuse('no token');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://kontor.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(res, req, 405, { error: 'only GET and HEAD' }, { allow: 'GET, HEAD', connection: 'close' });
    }
    switch (url.pathname) {
      case '/metrics': {
        const { contentType, text } = await metrics.exposition();
        return send(res, req, 200, contentType, text);
      }
      case '/healthz': {
        const database = await checkDatabase(rt);
        return json(res, req, database.ok ? 200 : 503, { status: database.ok ? 'ok' : 'failing', checks: { process: { ok: true, detail: 'up' }, database } });
      }
      case '/readyz': {
        const r = await readiness();
        return json(res, req, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, checks: r.checks });
      }
      case '/status':
      case '/status.json': {
        if (!authorised(req, res, url)) return;
        const [status, ready] = await Promise.all([collectStatus(rt, { transferBalance }), readiness()]);
        if (url.pathname === '/status.json') return json(res, req, 200, { status, readiness: ready });
        const shown = rt.redactor.value(status) as typeof status;
        const shownReady = rt.redactor.value(ready) as Readiness;
        // The page's refresh: its live parts only, inert (no style, no script).
        if (url.searchParams.get('part') === 'live') return send(res, req, 200, 'text/html; charset=utf-8', renderStatusLive(shown, shownReady), { 'content-security-policy': "default-src 'none'" });
        const nonce = randomBytes(16).toString('base64');
        const page = renderStatusPage(shown, shownReady, { refreshSeconds: settings.status_refresh_seconds, nonce });
        return send(res, req, 200, 'text/html; charset=utf-8', page, {
          'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
        });
      }
      case '/':
        return send(res, req, 200, 'text/plain; charset=utf-8', 'kontor: /metrics, /healthz, /readyz, /status (with the status token)\n');
      default:
        return json(res, req, 404, { error: 'not found' });
    }
  };

  const listening = await listenHttp({
    name: 'ops',
    listen,
    listenText: settings.listen,
    log,
    handle,
    onError: (req, res) => json(res, req, 500, { error: 'internal error' }),
    scrub: (text) => rt.redactor.text(text),
  });
  const url = listening.origin;
  log.info(`ops: listening on ${url} (/metrics, /healthz, /readyz${token ? ', /status' : '; no ops.status_token: status page off'})`);
  if (!isLoopbackHost(listen.host)) {
    log.warn(
      `ops: ${settings.listen} is not a loopback address: /metrics, /healthz and /readyz answer anyone who reaches it, over plain HTTP` +
        `${token ? ', and the status token travels unencrypted; put a TLS reverse proxy in front' : ''} (docs/monitoring.md)`,
    );
  }

  return { url, host: listening.host, port: listening.port, close: (graceMs) => listening.close(graceMs) };
}
