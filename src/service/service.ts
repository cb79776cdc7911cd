/**
 * The long-running service: a first sync at start, then each source on its cron schedule,
 * delivery polling for retries, a daily credential check, and a graceful stop on SIGINT/SIGTERM.
 *
 * With an `ops:` block, an HTTP endpoint (ops-server.ts) serves /metrics, /healthz, /readyz and
 * the status page while the service runs; it starts first and closes on stop, before the database.
 *
 * Scheduled jobs (jobs.ts) never overlap themselves, keep their last run in the database and
 * catch up on a run missed while kontor was down. Every pull holds the source's lease
 * (source-lease.ts), so no other kontor process pulls that source at the same time.
 *
 * All work runs through one serial chain, so a pull, a delivery round and a shutdown never
 * interleave inside one process; the outbox's claims keep separate processes apart.
 */
import { errorMessage } from '../errors.js';
import type { SourceLease } from '../store/source-leases.js';
import { recordJobEnd, recordJobStart } from '../store/job-runs.js';
import { credentialReport } from './credentials.js';
import { Deliverer, emptyDeliveryStats, type DeliveryStats } from './deliver.js';
import { pullSource, type IntakeOptions, type IntakeStats } from './intake.js';
import { ScheduledJob } from './jobs.js';
import type { OpsServer } from './ops-server.js';
import { encodeWatermark } from '../sources/watermark.js';
import { closeRuntime, type Runtime } from './runtime.js';
import { PROCESS_OWNER, withSourceLease } from './source-lease.js';
import { collectSummary, formatSummary, type Summary } from './summary.js';
import { startWebhookServer, type WebhookServer } from './webhooks.js';

export interface SyncResult {
  intake: IntakeStats[];
  delivery: DeliveryStats;
  /** Sources not pulled because another kontor process was pulling them (logged). */
  skipped: SourceLease[];
}

/** Pull every source once (each under its lease; one held elsewhere is skipped), then deliver everything that is ready. */
export async function syncOnce(rt: Runtime, deliverer: Deliverer, signal?: AbortSignal): Promise<SyncResult> {
  const intake: IntakeStats[] = [];
  const skipped: SourceLease[] = [];
  for (const name of rt.sources.keys()) {
    if (signal?.aborted) break;
    const pulled = await withSourceLease(rt, name, { purpose: 'sync', ...(signal ? { signal } : {}) }, (s) => pullSource(rt, name, { signal: s }));
    if (pulled.ran) intake.push(pulled.value);
    else skipped.push(pulled.holder);
  }
  const delivery = signal?.aborted ? emptyDeliveryStats() : await deliverer.drain();
  return { intake, delivery, skipped };
}

function describeIntake(s: IntakeStats): string {
  return `${s.read} read, ${s.booked} booked, ${s.quarantined} quarantined`;
}

/** Log every credential that needs attention; answers whether any has expired. */
export function warnAboutCredentials(rt: Runtime, today = new Date()): boolean {
  let expired = false;
  for (const status of credentialReport(rt.config, today)) {
    if (status.level === 'expired') {
      expired = true;
      rt.logger.error(status.message, { target: status.target });
    } else if (status.level === 'warning') {
      rt.logger.warn(status.message, { target: status.target });
    }
  }
  return expired;
}

const DAY_MS = 86_400_000;

export interface ServiceOptions {
  /** Where the summary goes (stdout in the CLI). */
  print: (text: string) => void;
  /** Signals that stop the service; tests pass an AbortSignal instead. */
  handleSignals?: boolean;
  stopSignal?: AbortSignal;
}

export class Service {
  private readonly deliverer: Deliverer;
  private readonly abort = new AbortController();
  private chain: Promise<unknown> = Promise.resolve();
  /** The scheduled jobs by name (`source:<name>`, `recheck:<name>`). */
  readonly jobs = new Map<string, ScheduledJob>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped: Promise<void> | null = null;
  private webhooks: WebhookServer | null = null;
  private ops: OpsServer | null = null;
  private firstSyncDone = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly rt: Runtime,
    private readonly options: ServiceOptions,
  ) {
    this.deliverer = new Deliverer(rt);
  }

  /** Queue work behind whatever is running; errors are logged, never thrown at the scheduler. */
  private enqueue<T>(label: string, work: () => Promise<T>): Promise<T | undefined> {
    const next = this.chain.then(async () => {
      if (this.abort.signal.aborted) return undefined;
      try {
        return await work();
      } catch (error) {
        this.rt.logger.error(`${label} failed: ${errorMessage(error)}`, { error });
        return undefined;
      }
    });
    this.chain = next;
    return next;
  }

  /**
   * Pull a source under its lease, recorded in job_runs as a run of `job` (from when the lease is
   * taken); `after` (the delivery round) runs after the lease is given back and gives the run's
   * summary. Null when another process holds the source: nothing ran, nothing is recorded.
   */
  private async pullRecorded(job: string, source: string, purpose: string, options: Omit<IntakeOptions, 'signal'>, after: (intake: IntakeStats) => Promise<string>): Promise<IntakeStats | null> {
    const { db } = this.rt;
    let started = false;
    try {
      const pulled = await withSourceLease(this.rt, source, { purpose, signal: this.abort.signal }, async (signal) => {
        await recordJobStart(db, job, PROCESS_OWNER);
        started = true;
        return pullSource(this.rt, source, { ...options, signal });
      });
      if (!pulled.ran) return null;
      const detail = await after(pulled.value);
      await recordJobEnd(db, job, PROCESS_OWNER, 'ok', this.abort.signal.aborted ? `${detail} (stopped early: shutdown)` : detail);
      return pulled.value;
    } catch (error) {
      if (started) await recordJobEnd(db, job, PROCESS_OWNER, 'failed', errorMessage(error)).catch(() => undefined);
      throw error;
    }
  }

  /** The ops endpoint's base URL while it listens (`ops:` configured), else null. */
  get opsUrl(): string | null {
    return this.ops?.url ?? null;
  }

  /** The webhook endpoint's URL while it listens (`webhooks:` configured), else null. */
  get webhookUrl(): string | null {
    return this.webhooks?.url ?? null;
  }

  async start(): Promise<Summary | undefined> {
    const { rt } = this;
    const started = Date.now();
    // First, so that a port already in use stops the start before any work is done.
    const ops = rt.config.raw.ops;
    if (ops) {
      try {
        // Loaded only here: prom-client takes a while to load, and no other command needs it.
        const [{ Metrics }, { startOpsServer }] = await Promise.all([import('./metrics.js'), import('./ops-server.js')]);
        rt.metrics ??= new Metrics();
        this.ops = await startOpsServer({ rt, metrics: rt.metrics, settings: ops, firstSyncDone: () => this.firstSyncDone, stopping: () => this.stopped !== null });
      } catch (error) {
        rt.logger.error(errorMessage(error));
        await this.stop();
        throw error;
      }
    }
    if (rt.config.raw.webhooks) {
      try {
        this.webhooks = await startWebhookServer(rt);
      } catch (error) {
        rt.logger.error(errorMessage(error));
        await this.stop();
        throw error;
      }
    }
    // Before the first sync, so that a stop during it (a long first pull, a hanging target) is graceful too.
    if (this.options.handleSignals) {
      const onSignal = (signal: NodeJS.Signals) => {
        if (this.stopped) {
          rt.logger.warn(`${signal} again: exiting now`);
          process.exit(1);
        }
        rt.logger.info(`${signal} received: stopping (finishing deliveries in flight)`);
        void this.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    const stopSignal = this.options.stopSignal;
    if (stopSignal?.aborted) void this.stop();
    else stopSignal?.addEventListener('abort', () => void this.stop(), { once: true });
    warnAboutCredentials(rt);
    this.timers.push(setInterval(() => warnAboutCredentials(rt), DAY_MS));

    // The first sync is every source job's run at start, and so its catch-up after any downtime.
    const summary = await this.enqueue('first sync', async () => {
      const intake: IntakeStats[] = [];
      for (const name of rt.sources.keys()) {
        if (this.abort.signal.aborted) break;
        const stats = await this.pullRecorded(`source:${name}`, name, 'run', {}, async (s) => `${describeIntake(s)} (first sync)`);
        if (stats) intake.push(stats);
      }
      const delivery = this.abort.signal.aborted ? emptyDeliveryStats() : await this.deliverer.drain();
      const s = await collectSummary(rt, intake, delivery);
      this.options.print(`kontor: first sync finished in ${Date.now() - started} ms\n${formatSummary(s)}`);
      return s;
    });
    // Done, or failed (logged): /readyz now judges by the sources alone.
    this.firstSyncDone = true;
    // Stopped during the first sync: nothing is put on a schedule.
    if (this.stopped) return summary ?? undefined;

    const timezone = rt.config.raw.service.timezone;
    const catchUps: ScheduledJob[] = [];
    for (const [name, binding] of rt.sources) {
      const job = `source:${name}`;
      this.addJob(job, binding.config.config.schedule, timezone, () =>
        this.enqueue(`sync of ${name}`, () =>
          this.pullRecorded(job, name, 'run', {}, async (intake) => {
            const delivery = await this.deliverer.drain();
            const line = `${describeIntake(intake)}; ${delivery.delivered} delivered, ${delivery.dead} dead`;
            if (intake.booked + intake.quarantined + delivery.delivered + delivery.dead > 0) rt.logger.info(`${name}: ${line}`, { source: name });
            return line;
          }),
        ),
      );
      const src = binding.config.config;
      if (src.type !== 'file' && src.recheck_days > 0) {
        // Edits that did not move the shop's modification date are caught by re-reading the last days.
        const sweep = `recheck:${name}`;
        const since = () => encodeWatermark({ updatedAt: new Date(Date.now() - src.recheck_days * DAY_MS).toISOString(), id: '' });
        catchUps.push(
          this.addJob(sweep, src.recheck_schedule, timezone, () =>
            this.enqueue(`re-check of ${name}`, () =>
              this.pullRecorded(sweep, name, 'recheck', { recheckFrom: since() }, async (intake) => {
                const line = `re-check of ${src.recheck_days} day(s): ${describeIntake(intake)}`;
                rt.logger.info(`${name}: ${line}`, { source: name });
                await this.deliverer.drain();
                return line;
              }),
            ),
          ),
        );
      }
    }
    // A sweep whose time came while kontor was down runs once now (source jobs caught up in the first sync).
    for (const job of catchUps) {
      const missed = await job.missedRun(rt.db);
      if (missed) {
        rt.logger.info(`${job.name}: its run of ${missed.toISOString()} was missed while kontor was down: running it now`, { job: job.name });
        void job.tick('catch-up');
      }
    }

    // Retries come due between source ticks; poll for them.
    let deliveryPending = false;
    this.timers.push(
      setInterval(() => {
        if (deliveryPending) return;
        deliveryPending = true;
        void this.enqueue('delivery', async () => {
          const stats = await this.deliverer.drain();
          if (stats.delivered + stats.dead + stats.retrying + stats.inDoubt > 0) {
            rt.logger.info(`delivery: ${stats.delivered} delivered, ${stats.retrying} retrying, ${stats.inDoubt} in doubt, ${stats.dead} dead`);
          }
        }).finally(() => {
          deliveryPending = false;
        });
      }, rt.config.raw.service.delivery_interval_seconds * 1000),
    );

    rt.logger.info(`kontor running: ${rt.sources.size} source(s) on schedule, ${rt.targets.size} target(s); stop with Ctrl-C or SIGTERM`);
    return summary ?? undefined;
  }

  private addJob(name: string, expression: string, timezone: string, run: () => Promise<unknown>): ScheduledJob {
    const job = new ScheduledJob({ name, expression, timezone, run, logger: this.rt.logger });
    job.start();
    this.jobs.set(name, job);
    return job;
  }

  /** Stop claiming, let in-flight work finish within the grace period, close storage. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopped = (async () => {
      const { rt } = this;
      for (const job of this.jobs.values()) await job.stop();
      for (const timer of this.timers) clearInterval(timer);
      this.abort.abort();
      this.deliverer.stop();
      // One grace period in all: in-flight deliveries, then whatever is still queued (which
      // saw the abort and returns at once).
      const deadline = Date.now() + rt.config.raw.service.shutdown_grace_seconds * 1000;
      // Webhook requests in flight still write to the database: the server closes first, within the same grace.
      const webhooksClosed = this.webhooks?.close(deadline - Date.now()) ?? Promise.resolve();
      // The ops endpoint reads the database too (and answers /readyz 503 from now on).
      const opsClosed = this.ops?.close(deadline - Date.now()) ?? Promise.resolve();
      await this.deliverer.settle(deadline - Date.now());
      await Promise.race([this.chain, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      await webhooksClosed;
      await opsClosed;
      await closeRuntime(rt);
      rt.logger.info('kontor stopped');
      this.resolveDone();
    })();
    return this.stopped;
  }
}
