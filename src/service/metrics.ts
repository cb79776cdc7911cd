/**
 * kontor's Prometheus metrics (issue #9), on a prom-client Registry of its own (never the global
 * default one), served at `/metrics` by the ops server (ops-server.ts). docs/monitoring.md lists
 * them.
 *
 * - Counters and the HTTP histogram are updated where things happen: the Deliverer counts each
 *   delivery's outcome, each source's and target's HttpClient reports every exchange on the wire
 *   (its `observe` callback; src/http knows nothing of metrics). They count into `rt.metrics`,
 *   which only `kontor run` with `ops:` sets: this module (and prom-client) is loaded only then.
 * - Gauges of the database (the outbox backlog by state, the sources' cursor lag and last
 *   successful pull, the open quarantine) are read when Prometheus scrapes, by collect callbacks
 *   (`observe(rt)`). A database that does not answer leaves them out and sets
 *   `kontor_database_up` to 0; a scrape never fails for it.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DocumentKind } from '../books/index.js';
import { toInt } from '../db/connect.js';
import { errorMessage } from '../errors.js';
import type { ExchangeObservation } from '../http/client.js';
import { backlog } from '../outbox/queries.js';
import { OUTBOX_STATES } from '../outbox/states.js';
import { credentialReport } from './credentials.js';
import type { Runtime } from './runtime.js';
import { collectSources, type SourceStatus } from './status.js';

/** Every document kind, so that each counter has its series from the start (a rate needs a zero before the first event). */
const DOCUMENT_KINDS: readonly DocumentKind[] = ['customer', 'invoice', 'credit-note', 'storno', 'payment'];

/** Upper bounds (seconds) of the HTTP duration buckets: accounting APIs answer in 0.1 to 10 s. */
const HTTP_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** `2xx` … `5xx`, or `error` when no answer came: few values, so few series. */
export function statusClass(status: number | null): string {
  return status === null ? 'error' : `${Math.floor(status / 100)}xx`;
}

export class Metrics {
  readonly registry = new Registry();
  readonly delivered: Counter<'target' | 'kind'>;
  readonly failed: Counter<'target' | 'kind' | 'outcome'>;
  readonly dead: Counter<'target' | 'kind'>;
  readonly httpDuration: Histogram<'role' | 'name' | 'status'>;
  private observing = false;

  constructor() {
    const registers = [this.registry];
    this.delivered = new Counter({
      name: 'kontor_documents_delivered_total',
      help: 'Documents delivered to a target (sent, or found there by the in-doubt lookup), by target and document kind.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.failed = new Counter({
      name: 'kontor_documents_failed_total',
      help: 'Delivery attempts that failed and will be tried again, by target, document kind and outcome (retry: a transient failure; in_doubt: the outcome is unknown).',
      labelNames: ['target', 'kind', 'outcome'],
      registers,
    });
    this.dead = new Counter({
      name: 'kontor_documents_dead_total',
      help: 'Documents that went dead (refused by the target, or attempts or age used up), by target and document kind.',
      labelNames: ['target', 'kind'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'kontor_http_request_duration_seconds',
      help: 'HTTP exchanges with shops (role source) and accounting APIs (role target), each attempt on the wire, by role, source or target name and status class (error: no answer).',
      labelNames: ['role', 'name', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** One exchange of the HttpClient of a source or target (its `observe` callback, runtime.ts). */
  observeHttp(role: 'source' | 'target', name: string, exchange: ExchangeObservation): void {
    this.httpDuration.observe({ role, name, status: statusClass(exchange.status) }, exchange.durationMs / 1000);
  }

  /**
   * Add the gauges read from `rt`'s database on each scrape, and Node's process metrics. Once per
   * Metrics; `now` is for tests.
   */
  observe(rt: Runtime, now: () => Date = () => new Date()): void {
    if (this.observing) return;
    this.observing = true;
    const registers = [this.registry];
    const { db } = rt;
    for (const { name: target } of rt.config.targets) {
      for (const kind of DOCUMENT_KINDS) {
        this.delivered.inc({ target, kind }, 0);
        this.dead.inc({ target, kind }, 0);
        for (const outcome of ['retry', 'in_doubt']) this.failed.inc({ target, kind, outcome }, 0);
      }
    }
    // One reading of the sources per scrape, shared by the gauges that show it.
    let sources: { at: number; value: Promise<SourceStatus[]> } | null = null;
    const readSources = () => {
      if (!sources || Date.now() - sources.at > 1000) sources = { at: Date.now(), value: collectSources(rt, now()) };
      return sources.value;
    };
    const logFailure = (what: string, error: unknown) => rt.logger.debug(`metrics: ${what} not read: ${errorMessage(error)}`);

    new Gauge({
      name: 'kontor_database_up',
      help: 'Whether the database answered a "select 1" at this scrape (1) or not (0).',
      registers,
      async collect() {
        try {
          await db.raw('select 1');
          this.set(1);
        } catch (error) {
          logFailure('database', error);
          this.set(0);
        }
      },
    });
    const targetNames = () => rt.config.targets.map((t) => t.name);
    new Gauge({
      name: 'kontor_outbox_entries',
      help: 'Outbox entries by target and state (every configured target and state, zeros included).',
      labelNames: ['target', 'state'],
      registers,
      async collect() {
        this.reset();
        try {
          const rows = await backlog(db);
          for (const target of new Set([...targetNames(), ...rows.map((r) => r.target)])) {
            for (const state of OUTBOX_STATES) this.set({ target, state }, rows.find((r) => r.target === target && r.state === state)?.count ?? 0);
          }
        } catch (error) {
          logFailure('outbox backlog', error);
        }
      },
    });
    new Gauge({
      name: 'kontor_source_cursor_lag_seconds',
      help: 'How far each source\'s cursor is behind now: now minus the time it stands at (a shop\'s watermark, a file\'s modification time). Grows while a shop has no new orders.',
      labelNames: ['source'],
      registers,
      async collect() {
        this.reset();
        try {
          for (const s of await readSources()) if (s.lagSeconds !== null) this.set({ source: s.source }, s.lagSeconds);
        } catch (error) {
          logFailure('sources', error);
        }
      },
    });
    new Gauge({
      name: 'kontor_source_last_success_timestamp_seconds',
      help: 'When each source\'s last successful scheduled pull ended (Unix time); absent until it has one.',
      labelNames: ['source'],
      registers,
      async collect() {
        this.reset();
        try {
          for (const s of await readSources()) if (s.lastSuccessAt) this.set({ source: s.source }, Date.parse(s.lastSuccessAt) / 1000);
        } catch (error) {
          logFailure('sources', error);
        }
      },
    });
    new Gauge({
      name: 'kontor_source_up_to_date',
      help: 'Whether each source was pulled successfully within its expected interval (1), the rule of /readyz, or not (0).',
      labelNames: ['source'],
      registers,
      async collect() {
        this.reset();
        try {
          for (const s of await readSources()) this.set({ source: s.source }, s.freshness.fresh ? 1 : 0);
        } catch (error) {
          logFailure('sources', error);
        }
      },
    });
    new Gauge({
      name: 'kontor_quarantine_open',
      help: 'Source records in the quarantine waiting for a fix.',
      registers,
      async collect() {
        this.reset();
        try {
          const row = (await db('quarantine').whereNull('resolved_at').count({ n: '*' }).first()) as { n: number | string } | undefined;
          this.set(toInt(row?.n ?? 0));
        } catch (error) {
          logFailure('quarantine', error);
        }
      },
    });
    new Gauge({
      name: 'kontor_credential_expiry_timestamp_seconds',
      help: 'When each target credential set expires (Unix time, the end of its expiry day, UTC), as configured.',
      labelNames: ['target', 'environment'],
      registers,
      collect() {
        this.reset();
        for (const c of credentialReport(rt.config, now())) {
          if (c.expires) this.set({ target: c.target, environment: c.environment }, Date.parse(`${c.expires}T00:00:00Z`) / 1000 + 86_400);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The text exposition format, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
