/**
 * Every pull of a source runs under its lease (src/store/source-leases.ts), so that one kontor
 * process pulls a source at a time: the scheduled jobs of `kontor run`, `kontor sync`,
 * `kontor backfill`, on one database, whichever process and host they run in.
 *
 * A pull that finds the source leased does not wait: it is skipped (the next tick, or the
 * operator, tries again). The holder renews its lease every third of `service.source_lease_seconds`;
 * if the lease is lost all the same (another process took it over after it expired: this one
 * hung, or could not reach the database), the pull stops after the record it is taking in and
 * fails, so that two processes never go on pulling side by side.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage, KontorError } from '../errors.js';
import { releaseSourceLease, renewSourceLease, takeSourceLease, type SourceLease } from '../store/source-leases.js';
import type { Runtime } from './runtime.js';

/** This process, as the holder of source leases and the runner of jobs. */
export const PROCESS_OWNER = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/** A pull that could not run, or could not go on, because another process holds the source. Exit code 1. */
export class SourceLeaseError extends KontorError {
  override name = 'SourceLeaseError';
  readonly exitCode = 1;
}

export interface SourceLeaseOptions {
  /** What the pull is for, shown to the other processes: `run`, `sync`, `backfill`, `recheck`. */
  purpose: string;
  /** Stops the pull (shutdown); the lease is given back when it has stopped. */
  signal?: AbortSignal;
  /** Default: this process (tests pose as other processes). */
  owner?: string;
  /** Default: `service.source_lease_seconds`. */
  ttlMs?: number;
  /** Default: a third of the lease. */
  renewEveryMs?: number;
}

export type Leased<T> = { ran: true; value: T } | { ran: false; holder: SourceLease };

/** "source shop is being pulled by another kontor process (backfill, host:123:ab12cd34) since …". */
export function describeHolder(holder: SourceLease): string {
  return `source ${holder.source} is being pulled by another kontor process (${holder.purpose}, ${holder.owner}) since ${holder.taken_at}; its lease runs until ${holder.lease_until} unless renewed`;
}

/**
 * Run `pull` while holding the source's lease: take it (or answer who holds it, without
 * running `pull`), renew it while `pull` runs, give it back after. `pull` gets a signal that
 * aborts on `options.signal` or when the lease is lost; a lost lease then fails with SourceLeaseError.
 */
export async function withSourceLease<T>(rt: Runtime, source: string, options: SourceLeaseOptions, pull: (signal: AbortSignal) => Promise<T>): Promise<Leased<T>> {
  const log = rt.logger.child({ source });
  const owner = options.owner ?? PROCESS_OWNER;
  const ttlMs = options.ttlMs ?? rt.config.raw.service.source_lease_seconds * 1000;
  const took = await takeSourceLease(rt.db, source, owner, options.purpose, ttlMs);
  if (!took.taken) {
    log.info(`${source}: ${options.purpose} pull skipped: ${describeHolder(took.holder)}`);
    return { ran: false, holder: took.holder };
  }
  if (took.expired) {
    log.warn(`${source}: took over the lease of ${took.expired.owner} (${took.expired.purpose}), which expired at ${took.expired.lease_until}: that process died or hung`);
  }

  const lost = new AbortController();
  let lostReason = '';
  let leaseUntil = took.lease.lease_until;
  let renewal: Promise<void> | null = null;
  const renew = async () => {
    try {
      const result = await renewSourceLease(rt.db, source, owner, ttlMs);
      if (result.renewed) leaseUntil = result.leaseUntil;
      else lose('another process has taken it over');
    } catch (error) {
      // The lease still holds until leaseUntil: try again on the next beat until then.
      if (Date.now() >= Date.parse(leaseUntil)) lose(`it could not be renewed before it ran out: ${errorMessage(error)}`);
      else log.warn(`${source}: could not renew the source lease (trying again): ${errorMessage(error)}`);
    }
  };
  const lose = (reason: string) => {
    if (lost.signal.aborted) return;
    lostReason = reason;
    lost.abort();
    log.error(`${source}: lost the source lease (${reason}); the pull stops after the record it is taking in`);
  };
  const timer = setInterval(() => {
    if (renewal || lost.signal.aborted) return;
    renewal = renew().finally(() => (renewal = null));
  }, options.renewEveryMs ?? Math.max(1, Math.floor(ttlMs / 3)));
  timer.unref();

  const signal = options.signal ? AbortSignal.any([options.signal, lost.signal]) : lost.signal;
  try {
    const value = await pull(signal);
    if (lost.signal.aborted) throw new SourceLeaseError(`${source}: the pull stopped early: the source lease was lost (${lostReason}); the process that holds it now goes on`);
    return { ran: true, value };
  } finally {
    clearInterval(timer);
    // A renewal still on its way would find the lease gone and take it for lost.
    await renewal;
    try {
      await releaseSourceLease(rt.db, source, owner);
    } catch (error) {
      log.warn(`${source}: could not give the source lease back (it runs out by itself at ${leaseUntil}): ${errorMessage(error)}`);
    }
  }
}
