/**
 * The long-running service: a first sync at start, then each source on its cron schedule
 * (node-cron, never overlapping), delivery polling for retries, a daily credential check,
 * and a graceful stop on SIGINT/SIGTERM.
 *
 * All work runs through one serial chain, so a pull, a delivery round and a shutdown never
 * interleave inside one process; the outbox's claims keep separate processes apart.
 */
import { schedule, type ScheduledTask } from 'node-cron';
import { errorMessage } from '../errors.js';
import { credentialReport } from './credentials.js';
import { Deliverer, emptyDeliveryStats, type DeliveryStats } from './deliver.js';
import { pullSource, type IntakeStats } from './intake.js';
import { encodeWatermark } from '../sources/watermark.js';
import { closeRuntime, type Runtime } from './runtime.js';
import { collectSummary, formatSummary, type Summary } from './summary.js';
import { startWebhookServer, type WebhookServer } from './webhooks.js';

export interface SyncResult {
  intake: IntakeStats[];
  delivery: DeliveryStats;
}

/** Pull every source once, then deliver everything that is ready. */
export async function syncOnce(rt: Runtime, deliverer: Deliverer, signal?: AbortSignal): Promise<SyncResult> {
  const intake: IntakeStats[] = [];
  for (const name of rt.sources.keys()) {
    if (signal?.aborted) break;
    intake.push(await pullSource(rt, name, signal ? { signal } : {}));
  }
  const delivery = signal?.aborted ? emptyDeliveryStats() : await deliverer.drain();
  return { intake, delivery };
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
  private readonly tasks: ScheduledTask[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped: Promise<void> | null = null;
  private webhooks: WebhookServer | null = null;
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

  /** The webhook endpoint's URL while it listens (`webhooks:` configured), else null. */
  get webhookUrl(): string | null {
    return this.webhooks?.url ?? null;
  }

  async start(): Promise<Summary | undefined> {
    const { rt } = this;
    const started = Date.now();
    if (rt.config.raw.webhooks) {
      // First, so that a port already in use stops the start before any work is done.
      try {
        this.webhooks = await startWebhookServer(rt);
      } catch (error) {
        rt.logger.error(errorMessage(error));
        await this.stop();
        throw error;
      }
    }
    warnAboutCredentials(rt);
    this.timers.push(setInterval(() => warnAboutCredentials(rt), DAY_MS));

    const summary = await this.enqueue('first sync', async () => {
      const result = await syncOnce(rt, this.deliverer, this.abort.signal);
      const s = await collectSummary(rt, result.intake, result.delivery);
      this.options.print(`kontor: first sync finished in ${Date.now() - started} ms\n${formatSummary(s)}`);
      return s;
    });

    for (const [name, binding] of rt.sources) {
      const task = schedule(
        binding.config.config.schedule,
        () =>
          this.enqueue(`sync of ${name}`, async () => {
            const intake = await pullSource(rt, name, { signal: this.abort.signal });
            const delivery = await this.deliverer.drain();
            if (intake.booked + intake.quarantined + delivery.delivered + delivery.dead > 0) {
              rt.logger.info(
                `${name}: ${intake.read} read, ${intake.booked} booked, ${intake.quarantined} quarantined; ${delivery.delivered} delivered, ${delivery.dead} dead`,
                { source: name },
              );
            }
          }),
        { name: `source:${name}`, noOverlap: true, timezone: rt.config.raw.service.timezone },
      );
      this.tasks.push(task);
      const src = binding.config.config;
      if (src.type !== 'file' && src.recheck_days > 0) {
        // Edits that did not move the shop's modification date are caught by re-reading the last days.
        const sweep = schedule(
          src.recheck_schedule,
          () =>
            this.enqueue(`re-check of ${name}`, async () => {
              const since = new Date(Date.now() - src.recheck_days * DAY_MS).toISOString();
              const intake = await pullSource(rt, name, { signal: this.abort.signal, recheckFrom: encodeWatermark({ updatedAt: since, id: '' }) });
              rt.logger.info(`${name}: re-check of ${src.recheck_days} day(s): ${intake.read} read, ${intake.booked} booked, ${intake.quarantined} quarantined`, { source: name });
              await this.deliverer.drain();
            }),
          { name: `recheck:${name}`, noOverlap: true, timezone: rt.config.raw.service.timezone },
        );
        this.tasks.push(sweep);
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
    this.options.stopSignal?.addEventListener('abort', () => void this.stop(), { once: true });
    rt.logger.info(`kontor running: ${rt.sources.size} source(s) on schedule, ${rt.targets.size} target(s); stop with Ctrl-C or SIGTERM`);
    return summary ?? undefined;
  }

  /** Stop claiming, let in-flight work finish within the grace period, close storage. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopped = (async () => {
      const { rt } = this;
      for (const task of this.tasks) await task.destroy();
      for (const timer of this.timers) clearInterval(timer);
      this.abort.abort();
      this.deliverer.stop();
      // One grace period in all: in-flight deliveries, then whatever is still queued (which
      // saw the abort and returns at once).
      const deadline = Date.now() + rt.config.raw.service.shutdown_grace_seconds * 1000;
      // Webhook requests in flight still write to the database: the server closes first, within the same grace.
      const webhooksClosed = this.webhooks?.close(deadline - Date.now()) ?? Promise.resolve();
      await this.deliverer.settle(deadline - Date.now());
      await Promise.race([this.chain, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      await webhooksClosed;
      await closeRuntime(rt);
      rt.logger.info('kontor stopped');
      this.resolveDone();
    })();
    return this.stopped;
  }
}
