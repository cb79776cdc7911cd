/**
 * Group commit of delivery outcomes. Committing costs a disk flush (SQLite with
 * synchronous=FULL) or a round trip (PostgreSQL), more than writing one outcome; deliveries
 * running side by side finish close together. So outcomes are queued, and everything queued
 * when the writer gets its turn is committed in one transaction, while later ones wait for the
 * next: the busier kontor is, the more each commit carries. The first outcome of a group waits
 * `windowMs` for company, so that deliveries finishing a little apart (a target answering in
 * 20 ms, 8 at once) still share a commit. Each caller's promise resolves only once its own
 * outcome is committed, so nothing is reported done that a crash could undo.
 */
import type { Knex } from 'knex';
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

export class SettleQueue {
  private waiting: Waiting[] = [];
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

  private startWriting(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) return;
    this.writing = true;
    void this.write();
  }

  private async write(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.maxGroup);
      try {
        const held = await this.db.transaction((trx) => settleAll(trx, group.map((w) => w.outcome)));
        this.counts.commits++;
        this.counts.outcomes += group.length;
        group.forEach((w, i) => w.resolve(held[i]!));
      } catch {
        // One outcome that cannot be written must not take the others down with it: each alone.
        for (const w of group) {
          await settle(this.db, w.outcome).then(w.resolve, w.reject);
        }
      }
    }
    this.writing = false;
  }
}
