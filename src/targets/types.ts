/**
 * The one small interface every target adapter implements.
 *
 * `deliver` sends a document and answers the target's id for it. It throws
 * RetriableError for transient failures, PermanentError when the target refuses the
 * document, and anything else when it cannot tell (treated as in-doubt).
 * `lookup` answers whether the target already has the document (by its natural key), so
 * that an in-doubt entry is never sent twice.
 * A CredentialError (errors.ts) from either stops the target: deliver.ts keeps the entry, alerts
 * once and sends nothing more to it until kontor restarts.
 * `close` releases what the adapter holds open (HTTP connections); closeRuntime calls it.
 */
import type { BookDocument, Minor } from '../books/index.js';

export interface Delivered {
  externalId: string;
}

export interface TargetAdapter {
  readonly name: string;
  readonly type: string;
  deliver(doc: BookDocument): Promise<Delivered>;
  lookup(doc: BookDocument): Promise<Delivered | null>;
  /** Balance of the transfer account per currency, as the target sees it. */
  transferBalance(): Promise<Record<string, Minor>>;
  /** Release connections and timers; called once when the runtime closes. */
  close?(): Promise<void>;
}
