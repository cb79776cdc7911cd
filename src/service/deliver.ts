/**
 * Delivery: claim ready outbox entries per target and hand their documents to the target
 * adapter, turning each outcome into the next outbox state. No database transaction is
 * open while a target is being called.
 *
 * A target that refuses kontor's credentials (CredentialError, errors.ts) is stopped for the
 * life of this Deliverer (the configuration, keys included, is read only at start): the entry
 * goes back as it was without using up an attempt, so are the rest of its batch, one
 * error-level alert names the target and what to do, and nothing more is claimed for it;
 * the other targets go on.
 */
import { randomUUID } from 'node:crypto';
import { BooksError, numberOf, type BookDocument } from '../books/index.js';
import { errorMessage, PermanentError, RetriableError, stopsTarget } from '../errors.js';
import { claimIn, renewLease, renewLeases } from '../outbox/claim.js';
import { brokenGroups, describeBrokenGroup } from '../outbox/groups.js';
import { loadDocuments } from '../outbox/enqueue.js';
import { reapExpiredLeases } from '../outbox/reap.js';
import { backoffMs, failingForMs, markReleased, outcomes, type Outcome } from '../outbox/settle.js';
import { SettleQueue } from '../outbox/settle-queue.js';
import type { OutboxEntry } from '../outbox/states.js';
import { yieldToEventLoop } from './intake.js';
import type { Runtime } from './runtime.js';
import { money } from './summary.js';

export interface DeliveryStats {
  delivered: number;
  retrying: number;
  inDoubt: number;
  dead: number;
  /** Targets stopped by a credential error, with the reason; absent when none was. */
  stopped?: Record<string, string>;
}

export function emptyDeliveryStats(): DeliveryStats {
  return { delivered: 0, retrying: 0, inDoubt: 0, dead: 0 };
}

export interface DelivererOptions {
  /** Entries one claim takes at most. Default eight per place of the target's concurrency, at least 20. */
  batchSize?: number;
  leaseMs?: number;
  /** How often the leases of claimed entries are renewed. Default a third of `leaseMs`. */
  renewEveryMs?: number;
  /** Default `service.delivery_max_attempts`. */
  maxAttempts?: number;
  /** How long an entry may keep failing before a failure makes it dead. Default `service.delivery_max_age_hours`. */
  maxAgeMs?: number;
  /** Deliveries at once per target, for every target. Default each target's `concurrency`. */
  concurrency?: number;
}

export class Deliverer {
  /** Identifies this process's leases. */
  readonly owner = `kontor-${process.pid}-${randomUUID().slice(0, 8)}`;
  private stopping = false;
  private readonly inFlight = new Map<number, Promise<unknown>>();
  /** Entries this deliverer holds a lease on, started or not. */
  private readonly claimed = new Map<number, OutboxEntry>();
  /** The documents of the claimed entries, read with their claim. */
  private readonly documents = new Map<number, BookDocument>();
  /** Outcomes are committed in groups (settle-queue.ts). */
  private readonly settling: SettleQueue;
  private readonly batchSize: number | undefined;
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly maxAttempts: number;
  private readonly maxAgeMs: number;
  private readonly concurrency: number | undefined;
  /** Targets stopped by a credential error (name → reason): nothing more is claimed for them. */
  private readonly stoppedTargets = new Map<string, string>();
  private readonly claimCounts = { claims: 0, entries: 0 };
  /** Renews the leases of everything claimed (keepLeasesAlive); null while nothing is. */
  private heartbeat: NodeJS.Timeout | null = null;
  private renewing = false;

  constructor(
    private readonly rt: Runtime,
    options: DelivererOptions = {},
  ) {
    this.batchSize = options.batchSize;
    this.leaseMs = options.leaseMs ?? 120_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.max(250, Math.floor(this.leaseMs / 3));
    const service = rt.config.raw.service;
    this.maxAttempts = options.maxAttempts ?? service.delivery_max_attempts;
    this.maxAgeMs = options.maxAgeMs ?? service.delivery_max_age_hours * 3_600_000;
    this.concurrency = options.concurrency;
    this.settling = new SettleQueue(rt.db);
  }

  /** Outcomes written and the transactions that wrote them, claims included (group commit, settle-queue.ts). */
  get commits(): { commits: number; outcomes: number } {
    return { ...this.settling.counts };
  }

  /** Claims made (each in the transaction of the next group of outcomes) and the entries they took. */
  get claims(): { claims: number; entries: number } {
    return { ...this.claimCounts };
  }

  /** Stop claiming new work; entries already claimed finish. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Wait for in-flight deliveries up to `graceMs`. Claimed entries never started go back as
   * they were. Whatever this deliverer still holds a lease on after that (a delivery still in
   * flight, or a batch whose claim was on its way) may have reached the target and becomes
   * in-doubt, to be looked up before anything is sent again. Call stop() first.
   * Answers how many entries were left in doubt.
   */
  async settle(graceMs: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight.values()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const [id, entry] of this.claimed) {
      if (!this.inFlight.has(id)) await markReleased(this.rt.db, entry);
    }
    // What is left is given up now (released above, or in doubt below): no more renewals.
    this.stopHeartbeat();
    const released = await reapExpiredLeases(this.rt.db, { owner: this.owner, all: true });
    if (released.length > 0) this.rt.logger.warn(`shutdown: ${released.length} deliveries still in flight were marked in-doubt`);
    return released.length;
  }

  /** Deliver everything that is ready now, for every target (or one). */
  async drain(target?: string): Promise<DeliveryStats> {
    const stats = emptyDeliveryStats();
    const reaped = await reapExpiredLeases(this.rt.db);
    if (reaped.length > 0) this.rt.logger.warn(`${reaped.length} expired leases are now in-doubt and will be looked up before resending`);
    const names = target ? [target] : [...this.rt.targets.keys()];
    // Each target on its own: a slow or failing target does not hold the others up.
    await Promise.all(names.map((name) => this.drainTarget(name, stats)));
    for (const name of names) {
      const reason = this.stoppedTargets.get(name);
      if (reason !== undefined) (stats.stopped ??= {})[name] = reason;
    }
    return stats;
  }

  /** The most deliveries to `target` at once: its `concurrency` (default 1). */
  concurrencyOf(target: string): number {
    return this.concurrency ?? this.rt.config.targets.find((t) => t.name === target)?.config.concurrency ?? 1;
  }

  /**
   * Claim and deliver one target's ready entries, up to its concurrency at once, as a pipeline:
   * more is claimed whenever fewer entries wait than may run, so that the target is not left
   * idle while the last entries of a batch finish. The concurrency counts calls to the target:
   * an entry whose answer is in gives its place up while its outcome waits for its commit.
   * Entries of one order (one document subject: a lane) go one after another, in claim order,
   * so that, say, two payments of one invoice never race each other; different orders go side
   * by side. A lane is free again once its entry's outcome is committed, so that the next entry
   * of the order sees it.
   */
  private async drainTarget(name: string, stats: DeliveryStats): Promise<void> {
    const limit = this.concurrencyOf(name);
    const waiting: OutboxEntry[] = [];
    const busyLanes = new Set<string>();
    const unfinished = new Set<Promise<void>>();
    let calling = 0;
    // False once a claim found nothing, until an entry settles: its dependants may be ready then.
    let mayFindMore = true;
    // A claim runs beside the calls, so that a place freed meanwhile is taken by an entry already waiting.
    let claiming: Promise<void> | null = null;
    let claimError: unknown = null;
    let wake = () => {};
    const halted = () => this.stopping || this.stoppedTargets.has(name);
    try {
      while (!halted()) {
        if (claimError !== null) throw claimError;
        for (let i = 0; i < waiting.length && calling < limit && !halted(); ) {
          const entry = waiting[i]!;
          const lane = limit > 1 ? laneOf(entry) : '';
          if (busyLanes.has(lane)) {
            i++;
            continue;
          }
          waiting.splice(i, 1);
          busyLanes.add(lane);
          calling++;
          let called = false;
          const callDone = () => {
            if (called) return;
            called = true;
            calling--;
            wake();
          };
          const work: Promise<void> = this.deliverOne(entry, stats, callDone).finally(() => {
            callDone();
            busyLanes.delete(lane);
            unfinished.delete(work);
            mayFindMore = true;
            wake();
          });
          unfinished.add(work);
        }
        if (claiming === null && mayFindMore && waiting.length < limit && !halted()) {
          // Cleared before the claim, so that an entry settling while it runs asks for another.
          mayFindMore = false;
          claiming = this.claim(name).then(
            (entries) => {
              if (entries.length > 0) mayFindMore = true;
              waiting.push(...entries);
            },
            (error: unknown) => {
              claimError = error;
            },
          );
          void claiming.finally(() => {
            claiming = null;
            wake();
          });
        }
        if (unfinished.size === 0 && claiming === null) {
          if (claimError !== null) throw claimError;
          if (mayFindMore || waiting.length > 0) continue;
          break;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      await Promise.allSettled([...unfinished, ...(claiming ? [claiming] : [])]);
      const held = this.stoppedTargets.get(name);
      for (const unstarted of waiting.filter((e) => this.claimed.has(e.id))) {
        if (held === undefined) await markReleased(this.rt.db, unstarted);
        else await markReleased(this.rt.db, unstarted, `not sent: target ${name} is stopped: ${held}`, held);
        this.forget(unstarted.id);
      }
    }
  }

  /** Claim up to a batch of `target`'s ready entries, with their documents. */
  private async claim(target: string): Promise<OutboxEntry[]> {
    // The more a claim takes, the fewer of them (the heartbeat keeps the leases of those waiting).
    const limit = this.batchSize ?? Math.max(20, 8 * this.concurrencyOf(target));
    // Committed with the outcomes waiting for their commit: one flush for both (settle-queue.ts).
    const entries = await this.settling.withNextCommit((trx) => claimIn(trx, { target, owner: this.owner, limit, leaseMs: this.leaseMs }));
    this.claimCounts.claims++;
    this.claimCounts.entries += entries.length;
    for (const entry of entries) this.claimed.set(entry.id, entry);
    this.keepLeasesAlive();
    if (entries.length > 0) {
      try {
        const documents = await loadDocuments(this.rt.db, entries.map((e) => e.document_id));
        for (const entry of entries) this.documents.set(entry.id, documents.get(entry.document_id)!);
      } catch (error) {
        // Nothing was sent for them: give them back at once rather than hold their leases.
        for (const entry of entries) {
          this.forget(entry.id);
          await markReleased(this.rt.db, entry, 'released: its document could not be read').catch(() => undefined);
        }
        throw error;
      }
    }
    return entries;
  }

  /** This deliverer no longer holds `id`. */
  private forget(id: number): void {
    this.claimed.delete(id);
    this.documents.delete(id);
    if (this.claimed.size === 0) this.stopHeartbeat();
  }

  private environmentOf(target: string): string {
    return this.rt.config.targets.find((t) => t.name === target)?.environment ?? 'current';
  }

  /**
   * One claimed entry, if this deliverer still holds it: its lease is renewed before the attempt
   * and kept alive while it runs. An entry whose lease ran out meanwhile (the batch took longer
   * than the lease) may have been reaped and delivered by another instance: it is left alone.
   */
  private async deliverOne(entry: OutboxEntry, stats: DeliveryStats, callDone: () => void): Promise<void> {
    const work = this.leaseAndAttempt(entry, stats, callDone);
    this.inFlight.set(entry.id, work);
    try {
      await work;
    } finally {
      this.inFlight.delete(entry.id);
      this.forget(entry.id);
    }
    // A journal target writes synchronously (SQLite): give timers a turn between entries (see intake.ts).
    await yieldToEventLoop();
  }

  private async leaseAndAttempt(entry: OutboxEntry, stats: DeliveryStats, callDone: () => void): Promise<void> {
    // With more than half the claim's lease left nobody can have reaped it, and the heartbeat
    // renews it before it runs out: a commit per document saved. Otherwise renew first.
    const fresh = entry.lease_until !== null && Date.parse(entry.lease_until) - Date.now() > this.leaseMs / 2;
    if (!fresh && !(await renewLease(this.rt.db, entry, this.leaseMs))) {
      this.rt.logger.warn(`outbox entry ${entry.id}: its lease ran out before its turn and another instance took it over; not sent from here`, { target: entry.target, outbox: entry.id });
      return;
    }
    await this.attempt(entry, stats, callDone);
  }

  /**
   * While this deliverer holds entries, waiting or in flight, their leases are renewed together
   * every third of the lease, so that a slow target cannot let a waiting entry's lease run out
   * and another instance reap it. An entry found taken over keeps no lease end: it is checked
   * again (renewLease) before its turn, and not sent.
   */
  private keepLeasesAlive(): void {
    if (this.heartbeat !== null || this.claimed.size === 0) return;
    this.heartbeat = setInterval(() => void this.renewHeldLeases(), this.renewEveryMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** One beat of keepLeasesAlive (forget() stops the beats once nothing is held). */
  private async renewHeldLeases(): Promise<void> {
    // A beat while the last one still waits for the database would only queue behind it.
    if (this.renewing) return;
    this.renewing = true;
    const entries = [...this.claimed.values()];
    try {
      const { held, leaseUntil } = await renewLeases(this.rt.db, this.owner, entries.map((e) => e.id), this.leaseMs);
      for (const entry of entries) entry.lease_until = held.has(entry.id) ? leaseUntil : null;
    } catch (error) {
      // The next beat tries again; an entry whose lease runs out meanwhile is checked before its turn.
      this.rt.logger.warn(`renewing ${entries.length} outbox leases failed: ${errorMessage(error)}`);
    } finally {
      this.renewing = false;
    }
  }

  /** One attempt; `callDone` is called once the target has answered, before the outcome is committed. */
  private async attempt(entry: OutboxEntry, stats: DeliveryStats, callDone: () => void): Promise<void> {
    const { db, logger } = this.rt;
    const settle = (outcome: Outcome) => {
      callDone();
      return this.settling.settle(outcome);
    };
    const target = this.rt.targets.get(entry.target);
    // Made when a line is written: most deliveries write none at level info.
    const log = () => logger.child({ target: entry.target, outbox: entry.id });
    if (!target) {
      await settle(outcomes.dead(entry, `target "${entry.target}" is no longer configured`));
      stats.dead++;
      this.rt.metrics?.dead.inc({ target: entry.target, kind: 'unknown' });
      return;
    }
    // Read with the claim (claim()), kept until the entry is forgotten after its attempt.
    const doc = this.documents.get(entry.id)!;
    try {
      if (entry.verify_first) {
        const found = await target.lookup(doc);
        if (found) {
          await settle(outcomes.delivered(entry, found.externalId, 'found at the target by the in-doubt lookup'));
          stats.delivered++;
          this.rt.metrics?.delivered.inc({ target: entry.target, kind: doc.kind });
          return;
        }
      }
      const delivered = await target.deliver(doc);
      await settle(outcomes.delivered(entry, delivered.externalId));
      stats.delivered++;
      this.rt.metrics?.delivered.inc({ target: entry.target, kind: doc.kind });
      if (logger.isLevelEnabled('debug')) log().debug(`delivered ${doc.kind} ${numberOf(doc)} as ${delivered.externalId}`, { document: entry.document_id });
    } catch (error) {
      // Target errors may echo request details; what is stored and logged is redacted.
      const message = this.rt.redactor.text(errorMessage(error));
      const what = `${doc.kind} ${numberOf(doc)}`;
      const giveUp = async (reason: string) => {
        await settle(outcomes.dead(entry, reason));
        stats.dead++;
        this.rt.metrics?.dead.inc({ target: entry.target, kind: doc.kind });
        log().error(`${what}: ${reason}`);
        // A storno or netting group with this member stuck and another through leaves the target's books off.
        if ((doc.kind === 'payment' || doc.kind === 'storno') && doc.group) {
          for (const g of await brokenGroups(db, { target: entry.target })) {
            if (g.group === doc.group) logger.error(`ALERT: ${describeBrokenGroup(g, money)}`, { target: entry.target, alert: 'group' });
          }
        }
      };
      const exhausted = entry.attempts >= this.maxAttempts;
      // Bounded by age too: an entry failing for longer than delivery_max_age_hours goes dead.
      const failingFor = failingForMs(entry);
      const tooOld = failingFor >= this.maxAgeMs ? `gave up after failing for ${hours(failingFor)} h (more than service.delivery_max_age_hours: ${hours(this.maxAgeMs)})` : null;
      if (stopsTarget(error)) {
        // Not this document's fault, and no attempt of any entry can succeed: keep it, stop the target.
        await settle(outcomes.released(entry, `not sent: the target refused kontor's credentials: ${message}`, message));
        if (!this.stoppedTargets.has(entry.target)) {
          this.stoppedTargets.set(entry.target, message);
          logger.error(
            `ALERT: target ${entry.target} refused kontor's credentials, so delivery to it is stopped: ${message}. ` +
              `Renew the API key of its ${this.environmentOf(entry.target)} credentials (docs/credentials.md), put it in config.yaml and restart kontor; ` +
              'its outbox entries wait and are sent then, none of their attempts used up. Other targets go on.',
            { target: entry.target, alert: 'credentials' },
          );
        }
        return;
      }
      if (error instanceof PermanentError || error instanceof BooksError) {
        await giveUp(message);
      } else if (error instanceof RetriableError) {
        if (exhausted) return giveUp(`gave up after ${entry.attempts} attempts: ${message}`);
        if (tooOld) return giveUp(`${tooOld}: ${message}`);
        await settle(outcomes.retry(entry, message, backoffMs(entry.attempts)));
        stats.retrying++;
        this.rt.metrics?.failed.inc({ target: entry.target, kind: doc.kind, outcome: 'retry' });
        log().warn(`${what}: will retry: ${message}`);
      } else {
        if (exhausted) return giveUp(`gave up after ${entry.attempts} attempts with unknown outcome: ${message}; check the target before retrying`);
        if (tooOld) return giveUp(`${tooOld} with unknown outcome: ${message}; check the target before retrying`);
        // The target may or may not have it: look it up before sending again.
        await settle(outcomes.inDoubt(entry, `outcome unknown: ${message}`, backoffMs(entry.attempts)));
        stats.inDoubt++;
        this.rt.metrics?.failed.inc({ target: entry.target, kind: doc.kind, outcome: 'in_doubt' });
        log().warn(`${what}: outcome unknown, will look it up before resending: ${message}`);
      }
    }
  }
}

/** The lane of an entry: its target and document subject (`target:source/subject`), the key without kind and revision. */
function laneOf(entry: OutboxEntry): string {
  // Asked for each waiting entry whenever a place frees up: worked out once per entry.
  let lane = lanes.get(entry);
  if (lane === undefined) {
    lane = entry.entry_key.split('/').slice(0, -2).join('/');
    lanes.set(entry, lane);
  }
  return lane;
}

const lanes = new WeakMap<OutboxEntry, string>();

/** Milliseconds as hours, one decimal. */
function hours(ms: number): number {
  return Math.round(ms / 360_000) / 10;
}
