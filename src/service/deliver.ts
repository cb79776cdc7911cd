/**
 * Delivery: claim ready outbox entries per target and hand their documents to the target
 * adapter, turning each outcome into the next outbox state. No database transaction is
 * open while a target is being called.
 */
import { randomUUID } from 'node:crypto';
import { BooksError, numberOf } from '../books/index.js';
import { errorMessage, PermanentError, RetriableError } from '../errors.js';
import { claimEntries } from '../outbox/claim.js';
import { loadDocument } from '../outbox/enqueue.js';
import { reapExpiredLeases } from '../outbox/reap.js';
import { backoffMs, markDead, markDelivered, markInDoubt, markReleased, markRetry } from '../outbox/settle.js';
import type { OutboxEntry } from '../outbox/states.js';
import type { Runtime } from './runtime.js';

export interface DeliveryStats {
  delivered: number;
  retrying: number;
  inDoubt: number;
  dead: number;
}

export function emptyDeliveryStats(): DeliveryStats {
  return { delivered: 0, retrying: 0, inDoubt: 0, dead: 0 };
}

export interface DelivererOptions {
  batchSize?: number;
  leaseMs?: number;
  maxAttempts?: number;
}

export class Deliverer {
  /** Identifies this process's leases. */
  readonly owner = `kontor-${process.pid}-${randomUUID().slice(0, 8)}`;
  private stopping = false;
  private readonly inFlight = new Map<number, Promise<unknown>>();
  /** Entries this deliverer holds a lease on, started or not. */
  private readonly claimed = new Map<number, OutboxEntry>();
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly rt: Runtime,
    options: DelivererOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 20;
    this.leaseMs = options.leaseMs ?? 120_000;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  /** Stop claiming new work; entries already claimed finish. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Wait for in-flight deliveries up to `graceMs`. What is still in flight then may have
   * reached the target and becomes in-doubt; claimed entries never started go back as they were.
   * Answers how many entries were left in doubt.
   */
  async settle(graceMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.allSettled([...this.inFlight.values()]).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const [id, entry] of this.claimed) {
      if (!this.inFlight.has(id)) await markReleased(this.rt.db, entry);
    }
    if (!timedOut) return 0;
    const released = await reapExpiredLeases(this.rt.db, { owner: this.owner, all: true, ids: [...this.inFlight.keys()] });
    if (released.length > 0) this.rt.logger.warn(`shutdown: ${released.length} deliveries still in flight were marked in-doubt`);
    return released.length;
  }

  /** Deliver everything that is ready now, for every target (or one). */
  async drain(target?: string): Promise<DeliveryStats> {
    const stats = emptyDeliveryStats();
    const reaped = await reapExpiredLeases(this.rt.db);
    if (reaped.length > 0) this.rt.logger.warn(`${reaped.length} expired leases are now in-doubt and will be looked up before resending`);
    const names = target ? [target] : [...this.rt.targets.keys()];
    for (const name of names) {
      while (!this.stopping) {
        const entries = await claimEntries(this.rt.db, { target: name, owner: this.owner, limit: this.batchSize, leaseMs: this.leaseMs });
        if (entries.length === 0) break;
        for (const entry of entries) this.claimed.set(entry.id, entry);
        for (const entry of entries) {
          if (this.stopping) break;
          const work = this.deliverOne(entry, stats);
          this.inFlight.set(entry.id, work);
          try {
            await work;
          } finally {
            this.inFlight.delete(entry.id);
            this.claimed.delete(entry.id);
          }
        }
        for (const unstarted of entries.filter((e) => this.claimed.has(e.id))) {
          await markReleased(this.rt.db, unstarted);
          this.claimed.delete(unstarted.id);
        }
      }
    }
    return stats;
  }

  private async deliverOne(entry: OutboxEntry, stats: DeliveryStats): Promise<void> {
    const { db, logger } = this.rt;
    const target = this.rt.targets.get(entry.target);
    const log = logger.child({ target: entry.target, outbox: entry.id });
    if (!target) {
      await markDead(db, entry, `target "${entry.target}" is no longer configured`);
      stats.dead++;
      return;
    }
    const doc = await loadDocument(db, entry.document_id);
    try {
      if (entry.verify_first) {
        const found = await target.lookup(doc);
        if (found) {
          await markDelivered(db, entry, found.externalId, 'found at the target by the in-doubt lookup');
          stats.delivered++;
          return;
        }
      }
      const delivered = await target.deliver(doc);
      await markDelivered(db, entry, delivered.externalId);
      stats.delivered++;
      log.debug(`delivered ${doc.kind} ${numberOf(doc)} as ${delivered.externalId}`, { document: entry.document_id });
    } catch (error) {
      // Target errors may echo request details; what is stored and logged is redacted.
      const message = this.rt.redactor.text(errorMessage(error));
      const what = `${doc.kind} ${numberOf(doc)}`;
      const giveUp = async (reason: string) => {
        await markDead(db, entry, reason);
        stats.dead++;
        log.error(`${what}: ${reason}`);
      };
      const exhausted = entry.attempts >= this.maxAttempts;
      if (error instanceof PermanentError || error instanceof BooksError) {
        await giveUp(message);
      } else if (error instanceof RetriableError) {
        if (exhausted) return giveUp(`gave up after ${entry.attempts} attempts: ${message}`);
        await markRetry(db, entry, message, backoffMs(entry.attempts));
        stats.retrying++;
        log.warn(`${what}: will retry: ${message}`);
      } else {
        if (exhausted) return giveUp(`gave up after ${entry.attempts} attempts with unknown outcome: ${message}; check the target before retrying`);
        // The target may or may not have it: look it up before sending again.
        await markInDoubt(db, entry, `outcome unknown: ${message}`, backoffMs(entry.attempts));
        stats.inDoubt++;
        log.warn(`${what}: outcome unknown, will look it up before resending: ${message}`);
      }
    }
  }
}
