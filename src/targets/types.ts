/**
 * The one small interface every target adapter implements.
 *
 * `deliver` sends a document and answers the target's id for it. It throws
 * RetriableError for transient failures, PermanentError when the target refuses the
 * document, and anything else when it cannot tell (treated as in-doubt).
 * `lookup` answers whether the target already has the document (by its natural key), so
 * that an in-doubt entry is never sent twice.
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
}
