/**
 * The lifecycle both of kontor's own HTTP endpoints share (webhooks.ts, ops-server.ts): listen
 * with bounded request and header times, keep each request's work so that a stop can wait for
 * it, and close within a grace period (idle connections at once, the rest when it runs out).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log/logger.js';

export interface ListeningServer {
  /** `http://HOST:PORT` (IPv6 hosts in brackets). */
  origin: string;
  host: string;
  port: number;
  /** Stop accepting, let requests in flight finish (at most `graceMs`), then cut what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function listenHttp(options: {
  /** Names the server in messages: `webhooks`, `ops`. */
  name: string;
  listen: { host: string; port: number };
  /** As configured, for the message when listening fails. */
  listenText: string;
  log: Logger;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Answers a request whose handler threw (after the error is logged). */
  onError: (req: IncomingMessage, res: ServerResponse) => void;
  /** Redacts what is logged of a handler's error. */
  scrub?: (text: string) => string;
}): Promise<ListeningServer> {
  const { name, log } = options;
  const scrub = options.scrub ?? ((text: string) => text);
  const inFlight = new Set<Promise<void>>();
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    const work = options
      .handle(req, res)
      .catch((error: unknown) => {
        log.error(`${name} endpoint: ${scrub(errorMessage(error))}`);
        options.onError(req, res);
      })
      .finally(() => inFlight.delete(work));
    inFlight.add(work);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new Error(`${name}: cannot listen on ${options.listenText}: ${error.message}`));
    server.once('error', onError);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => log.error(`${name} server: ${error.message}`));
  const address = server.address() as AddressInfo;
  const hostPart = address.address.includes(':') ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  return {
    origin: `http://${hostPart}:${address.port}`,
    host: address.address,
    port: address.port,
    close(graceMs = 5_000) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), Math.max(0, graceMs));
        timer.unref();
        // Requests whose work writes to the database finish first: the database closes after this.
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, Math.max(0, graceMs)).unref())]);
        // What is still open (a browser's keep-alive) is cut now.
        server.closeAllConnections();
        await closed;
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
