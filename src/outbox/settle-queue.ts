/**
 * Group commit of delivery outcomes. Committing costs a disk flush (SQLite with
 * synchronous=FULL) or a round trip (PostgreSQL), more than writing one outcome; deliveries
 * running side by side finish close together. So outcomes are queued, and everything queued
 * when the writer gets its turn is committed in one transaction, while later ones wait for the
 * next: the busier kontor is, the more each commit carries. The first outcome of a group waits
 * `windowMs` for company, so that deliveries finishing a little apart (a target answering in
 * 20 ms, 8 at once) still share a commit. Each caller's promise resolves only once its own
 * outcome is committed, so nothing is reported done that a crash could undo.
 *
 * A claim rides along (withNextCommit): a claim is a commit of its own otherwise, and claims
 * come when outcomes free places, so both would pay a flush each.
 */
import type { Knex } from 'knex';
import type { SqlDb } from '../db/sql.js';
import { inTransaction } from '../db/transaction.js';
import { settle, settleAll, type Outcome } from './settle.js';

export interface SettleQueueOptions {
  /** How long the first outcome of a group waits for others to join it. Default 2 ms. */
  windowMs?: number;
  /** The most outcomes one transaction carries; a full group is written at once. Default 100. */
  maxGroup?: number;
}

interface Waiting {
  outcome: Outcome;
  resolve: (held: boolean) => void;
  reject: (error: unknown) => void;
}

interface Riding {
  work: (trx: SqlDb) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SettleQueue {
  private waiting: Waiting[] = [];
  /** Work to commit with the next group (withNextCommit), in the order it was asked for. */
  private riding: Riding[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing = false;
  private readonly windowMs: number;
  private readonly maxGroup: number;
  /** Transactions committed and outcomes written: the mean group size is their ratio. */
  readonly counts = { commits: 0, outcomes: 0 };

  constructor(
    private readonly db: Knex,
    options: SettleQueueOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 2;
    this.maxGroup = options.maxGroup ?? 100;
  }

  /** Queue `outcome`; resolves once it is committed: true while this owner held the entry, as settle() answers. */
  settle(outcome: Outcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ outcome, resolve, reject });
      if (this.writing) return;
      if (this.waiting.length >= this.maxGroup) this.startWriting();
      else this.timer ??= setTimeout(() => this.startWriting(), this.windowMs);
    });
  }

  /**
   * Run `work` (a claim) in the transaction of the next group, after its outcomes, and answer
   * what it answers once that is committed. It does not wait for the window: whatever outcomes
   * are queued go with it, so the claim and they share one commit, and the claim already sees
   * the entries they deliver (their dependants are ready for it). Should the shared transaction
   * fail, `work` is run again in one of its own.
   */
  withNextCommit<T>(work: (trx: SqlDb) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.riding.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.startWriting();
    });
  }

  private startWriting(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) return;
    this.writing = true;
    void this.write();
  }

  private async write(): Promise<void> {
    while (this.waiting.length > 0 || this.riding.length > 0) {
      const group = this.waiting.splice(0, this.maxGroup);
      const riding = this.riding.splice(0);
      try {
        const { held, answers } = await inTransaction(this.db, async (trx) => {
          const held = group.length > 0 ? await settleAll(trx, group.map((w) => w.outcome)) : [];
          const answers: unknown[] = [];
          for (const r of riding) answers.push(await r.work(trx));
          return { held, answers };
        });
        this.counts.commits++;
        this.counts.outcomes += group.length;
        group.forEach((w, i) => w.resolve(held[i]!));
        riding.forEach((r, i) => r.resolve(answers[i]));
      } catch {
        // One outcome that cannot be written must not take the others down with it: each alone.
        for (const w of group) {
          await settle(this.db, w.outcome).then(w.resolve, w.reject);
        }
        for (const r of riding) {
          await inTransaction(this.db, (trx) => r.work(trx)).then(r.resolve, r.reject);
        }
      }
    }
    this.writing = false;
  }
}
