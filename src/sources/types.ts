/**
 * The one small interface every source adapter implements, and the cursor contract.
 *
 * Cursor contract: `pull` yields records in cursor order. A record may carry a
 * `checkpoint`: once that record and every record before it are stored, the service saves
 * the checkpoint, and the next pull resumes after it. Records without a checkpoint never
 * move the cursor (for example all but the last record of one file). Re-reading a record
 * is harmless: intake is idempotent on (source, record id, content hash).
 */
import type { CanonicalOrder } from './order.js';

export interface SourceRecord {
  /** The shop's id of the record (order id). */
  id: string;
  /** The record as canonical JSON text; its hash detects changes. */
  raw: string;
  /** Where the record came from, for people: `examples/orders/wc-order-1001.json`. */
  origin: string;
  checkpoint?: string;
  /** Set when the record could not even be read (broken JSON); it is quarantined as is. */
  readError?: string;
  /**
   * The id an unreadable earlier version of this record had (a broken file is quarantined
   * under its file name); taking this record in resolves that quarantine entry.
   */
  supersedes?: string;
}

export interface PullOptions {
  /** Resume after this checkpoint; null pulls everything. */
  cursor: string | null;
  /**
   * For progress reports (`kontor backfill`): a source that can tell how many records this pull
   * will yield calls this once, when it knows (an estimate: orders may come and go meanwhile).
   * The file source counts the records of its files; WooCommerce reads X-WP-Total. Optional for
   * adapters and callers alike; a source that cannot tell never calls it.
   */
  onTotal?: (records: number) => void;
}

/** The records of one checkpoint that did not go through (see SourceAdapter.settle). */
export interface SettleOutcome {
  failed: { id: string; origin: string; reason: string }[];
}

export interface SourceAdapter {
  readonly name: string;
  readonly type: string;
  /** What the source reads from and how, for `kontor status` and logs: no secrets. */
  describe(): Record<string, unknown>;
  pull(options: PullOptions): AsyncIterable<SourceRecord>;
  /** The current version of one record, or null if the source no longer has it. */
  fetch(id: string): Promise<SourceRecord | null>;
  /** Turn a record into the canonical order; throws RecordError naming the field. */
  parse(record: SourceRecord): CanonicalOrder;
  /**
   * Told, right after a checkpoint is saved, how the records since the previous checkpoint
   * fared: `failed` lists those left in the quarantine (unreadable, unmappable, or still held
   * back there). The file source moves a processed file to done/ or failed/ here. Not called
   * during backfills and re-checks (no checkpoint is saved then). A crash can come between the
   * saved checkpoint and this call, so an adapter must not depend on it having run (the file
   * source reads every file still in its folder, and so settles such a file on the next pull).
   * An error thrown here is logged as a warning; the pull goes on.
   */
  settle?(checkpoint: string, outcome: SettleOutcome): Promise<void>;
  /** Release connections; the service calls it on shutdown. */
  close?(): Promise<void>;
}
