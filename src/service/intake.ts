/**
 * Intake: pull records from a source and take each one in, in one transaction per record:
 * the snapshot, the mapped documents and their outbox entries together. A record that
 * cannot be mapped is quarantined with its reason and the pull goes on.
 */
import type { Knex } from 'knex';
import { BooksError, type BookDocument } from '../books/index.js';
import { sha256 } from '../db/hash.js';
import { sqlRows, type SqlDb } from '../db/sql.js';
import { inTransaction } from '../db/transaction.js';
import { errorMessage, RecordError } from '../errors.js';
import { mapOrder, NO_HISTORY, type BookedHistory, type MapOutcome } from '../mapping/map-order.js';
import { storedHistory } from './history.js';
import { enqueueEntry, latestRevisions, storeDocument } from '../outbox/enqueue.js';
import { recordTransitions, type Transition } from '../outbox/events.js';
import type { CanonicalOrder } from '../sources/order.js';
import type { SettleOutcome, SourceRecord } from '../sources/types.js';
import { encodeWatermark } from '../sources/watermark.js';
import { readCursor, saveCursor } from '../store/cursors.js';
import { quarantineRecord, resolveQuarantine } from '../store/quarantine.js';
import { contentSeen, insertSnapshot } from '../store/snapshots.js';
import type { Runtime, SourceBinding } from './runtime.js';

export interface IntakeStats {
  source: string;
  read: number;
  /** Records that produced new documents. */
  booked: number;
  documents: number;
  unchanged: number;
  skipped: number;
  quarantined: number;
}

export interface PullWindow {
  /** Inclusive lower bound on the order's creation time (ISO). */
  from: string;
  /** Exclusive upper bound. */
  to: string;
}

export interface IntakeOptions {
  /** Ignore the cursor and read everything (backfill). The cursor is not moved. */
  window?: PullWindow;
  /** Stop between records once aborted (shutdown). */
  signal?: AbortSignal;
  /**
   * A re-check sweep: read from this cursor (a watermark days back) instead of the stored one,
   * and leave the stored cursor where it is.
   */
  recheckFrom?: string;
  /** Progress (`kontor backfill`): how many records the source expects to yield, if it can tell (PullOptions.onTotal). */
  onTotal?: (records: number) => void;
  /**
   * Progress: called after each record is taken in, with the counts so far and how many records
   * the source has yielded (`records`, those outside a backfill window included; `stats.read` counts those inside).
   */
  onRecord?: (stats: Readonly<IntakeStats>, records: number) => void;
}

export type RecordOutcome = 'booked' | 'unchanged' | 'skipped' | 'quarantined' | 'outside-window';

function emptyStats(source: string): IntakeStats {
  return { source, read: 0, booked: 0, documents: 0, unchanged: 0, skipped: 0, quarantined: 0 };
}

export async function pullSource(rt: Runtime, sourceName: string, options: IntakeOptions = {}): Promise<IntakeStats> {
  const binding = rt.sources.get(sourceName);
  if (!binding) throw new Error(`unknown source ${sourceName}`);
  const stats = emptyStats(sourceName);
  const log = rt.logger.child({ source: sourceName });
  // A backfill reads from the start of its window: an order created then was updated no earlier.
  const fromWindow = options.window && binding.config.config.type !== 'file' ? encodeWatermark({ updatedAt: new Date(options.window.from).toISOString(), id: '' }) : null;
  const cursor = options.window ? fromWindow : (options.recheckFrom ?? (await readCursor(rt.db, sourceName)));
  // The records since the last checkpoint that stay in the quarantine, for the adapter's settle().
  let failed: SettleOutcome['failed'] = [];
  let records = 0;
  for await (const record of binding.adapter.pull({ cursor, ...(options.onTotal ? { onTotal: options.onTotal } : {}) })) {
    if (options.signal?.aborted) break;
    // better-sqlite3 answers synchronously, so a pull of local files never gives timers a turn:
    // without this, the source lease is not renewed and the ops server does not answer.
    await yieldToEventLoop();
    records++;
    stats.read++;
    const { outcome, documents, failure } = await takeIn(rt, binding, record, options);
    if (failure !== undefined) failed.push({ id: record.id, origin: record.origin, reason: failure });
    stats.documents += documents;
    if (outcome === 'outside-window') stats.read--;
    else stats[outcome]++;
    if (outcome === 'booked') log.debug(`order ${record.id} booked`, { order: record.id });
    if (record.checkpoint && !options.window && !options.recheckFrom) {
      await saveCursor(rt.db, sourceName, record.checkpoint);
      // After the cursor: a crash before the adapter settles reads these records again (de-duplicated).
      try {
        await binding.adapter.settle?.(record.checkpoint, { failed });
      } catch (error) {
        log.warn(`${sourceName}: stored up to ${record.checkpoint}, but settling it failed (tried again on the next pull): ${errorMessage(error)}`);
      }
    }
    if (record.checkpoint) failed = [];
    options.onRecord?.(stats, records);
  }
  return stats;
}

export type PreviewOutcome = MapOutcome | { kind: 'quarantined'; reason: string };

/**
 * What a backfill would do, without a database: every record in the window, parsed and
 * mapped, handed to `report`. Nothing is written, nothing is sent.
 */
export async function previewSource(
  binding: SourceBinding,
  window: PullWindow,
  report: (record: SourceRecord, outcome: PreviewOutcome) => void,
): Promise<Pick<IntakeStats, 'read' | 'booked' | 'skipped' | 'quarantined'>> {
  const stats = { read: 0, booked: 0, skipped: 0, quarantined: 0 };
  for await (const record of binding.adapter.pull({ cursor: null })) {
    const mapped = await mapRecord(binding, record, window, NO_HISTORY);
    if (mapped.kind === 'outside-window') continue;
    stats.read++;
    if (mapped.kind === 'failed') {
      stats.quarantined++;
      report(record, { kind: 'quarantined', reason: mapped.error.message });
      continue;
    }
    stats[mapped.outcome.kind === 'skipped' ? 'skipped' : 'booked']++;
    report(record, mapped.outcome);
  }
  return stats;
}

type Mapped = { kind: 'mapped'; order: CanonicalOrder; outcome: MapOutcome } | { kind: 'outside-window' } | { kind: 'failed'; error: RecordError | BooksError };

/**
 * Parse, then (only for orders inside the window) map. Records that fail either step are
 * reported as `failed`; an order outside a backfill window is not mapped at all.
 */
async function mapRecord(binding: SourceBinding, record: SourceRecord, window: PullWindow | undefined, history: BookedHistory): Promise<Mapped> {
  try {
    const order = binding.adapter.parse(record);
    if (!inWindow(order, window)) return { kind: 'outside-window' };
    return { kind: 'mapped', order, outcome: await mapOrder(order, binding.mapping, history) };
  } catch (error) {
    if (error instanceof RecordError || error instanceof BooksError) return { kind: 'failed', error };
    throw error;
  }
}

function inWindow(order: CanonicalOrder, window: PullWindow | undefined): boolean {
  return !window || (order.createdAt >= window.from && order.createdAt < window.to);
}

/** Take in one record. Exported for replaying quarantined records. */
export async function takeIn(
  rt: Runtime,
  binding: SourceBinding,
  record: SourceRecord,
  options: IntakeOptions = {},
): Promise<{ outcome: RecordOutcome; documents: number; failure?: string }> {
  const result = (outcome: RecordOutcome, documents = 0) => ({ outcome, documents });
  const source = binding.config.name;
  const contentHash = sha256(record.raw);

  const seen = await contentSeen(rt.db, source, record.id, contentHash);
  if (seen.stored) return result('unchanged');
  if (seen.heldBack) {
    // Seen before and still in the quarantine (not dismissed): it has not gone through.
    const open = await openQuarantineReason(rt.db, source, record.id, contentHash);
    return open === null ? result('unchanged') : { ...result('unchanged'), failure: open };
  }

  const mapped = await mapRecord(binding, record, options.window, storedHistory(rt.db, source));
  if (mapped.kind === 'outside-window') return result('outside-window');
  if (mapped.kind === 'failed') {
    return { ...result('quarantined'), failure: await quarantine(rt, source, record, contentHash, mapped.error) };
  }

  try {
    const created = await inTransaction(rt.db, async (trx) => {
      const snapshotId = await insertSnapshot(trx, { source, recordId: record.id, contentHash, raw: record.raw, origin: record.origin });
      const resolution = `superseded by version ${contentHash.slice(0, 12)}`;
      await resolveQuarantine(trx, source, record.supersedes ? [record.id, record.supersedes] : [record.id], resolution);
      if (mapped.outcome.kind === 'skipped') return -1;
      return enqueueOrder(trx, binding, snapshotId, mapped.outcome.documents);
    });
    if (created < 0) {
      rt.logger.debug(`order ${record.id} skipped: ${mapped.outcome.kind === 'skipped' ? mapped.outcome.reason : ''}`, { source, order: record.id });
      return result('skipped');
    }
    return created > 0 ? result('booked', created) : result('unchanged');
  } catch (error) {
    if (!(error instanceof RecordError)) throw error;
    return { ...result('quarantined'), failure: await quarantine(rt, source, record, contentHash, error) };
  }
}

/**
 * Store documents in order (each depends on the one before: customer before invoice) and
 * give each target an outbox entry, which knows how many of the order's entries queue behind
 * it (claim.ts takes longer chains first). Answers how many documents were new.
 */
async function enqueueOrder(trx: SqlDb, binding: SourceBinding, snapshotId: number, documents: BookDocument[]): Promise<number> {
  let created = 0;
  const source = binding.config.name;
  // A later version of an order (a refund, a cancellation) queues behind what was queued for it before.
  const subject = documents.find((d) => d.kind !== 'customer')?.key.subject;
  const known = await latestRevisions(trx, source, documents.map((d) => d.key.subject));
  // A first version (no document of the order stored yet) has nothing to queue behind.
  const seenBefore = subject !== undefined && [...known.values()].some((row) => row.subject === subject);
  const previous = new Map<string, number | null>();
  for (const t of binding.config.targets) previous.set(t, seenBefore ? await lastEntryOf(trx, source, subject, t) : null);
  const transitions: Transition[] = [];
  for (const [index, doc] of documents.entries()) {
    const stored = await storeDocument(trx, doc, snapshotId, doc.kind === 'customer', known);
    if ('changedFrom' in stored) {
      // The mapping corrects changed invoices and credit notes with new documents under new keys
      // (corrections in docs/mapping.md); a stored document is never overwritten. What is left
      // here is a document that changed on its own: a payment whose invoice did not change.
      throw new RecordError(
        `the order changed after ${stored.changedFrom} was booked, but its invoice and credit notes did not: kontor corrects those, not a ${doc.kind} on its own; book the difference by hand, then dismiss this version (kontor quarantine dismiss)`,
      );
    }
    if (stored.created) created++;
    for (const target of binding.config.targets) {
      const entry = await enqueueEntry(trx, { documentId: stored.id, documentKey: stored.key, target, dependsOn: previous.get(target) ?? null, successors: documents.length - 1 - index }, transitions);
      previous.set(target, entry.id);
    }
  }
  await recordTransitions(trx, transitions);
  return created;
}

/** Quarantine a record; answers the reason as shown (`field: reason`). */
async function quarantine(rt: Runtime, source: string, record: SourceRecord, contentHash: string, error: RecordError | BooksError): Promise<string> {
  const field = error instanceof RecordError ? error.field : undefined;
  const reason = error instanceof RecordError ? error.reason : error.message;
  await quarantineRecord(rt.db, { source, recordId: record.id, contentHash, reason, field, origin: record.origin, raw: record.raw });
  rt.logger.child({ source, order: record.id }).warn(`order ${record.id} quarantined (${record.origin}): ${field ? `${field}: ` : ''}${reason}`);
  return `${field ? `${field}: ` : ''}${reason}`;
}

/** The reason of this content's open quarantine entry, or null (none, or dismissed by an operator). */
async function openQuarantineReason(db: Knex, source: string, recordId: string, contentHash: string): Promise<string | null> {
  const row = (await db('quarantine').where({ source, record_id: recordId, content_hash: contentHash }).whereNull('resolved_at').first('reason', 'field')) as
    | { reason: string; field: string | null }
    | undefined;
  return row ? `${row.field ? `${row.field}: ` : ''}${row.reason} (still in the quarantine)` : null;
}

async function lastEntryOf(db: SqlDb, source: string, subject: string, target: string): Promise<number | null> {
  // In two steps, each on its index (documents by source and subject, entries by document and
  // target): as one join, SQLite chose the entries' (target, state, …) index and read every
  // entry of the target, so intake slowed as the outbox grew.
  const [row] = await sqlRows<{ id: number | string | null }>(
    db,
    'SELECT MAX(id) AS id FROM outbox_entries WHERE document_id IN (SELECT id FROM documents WHERE source = ? AND subject = ?) AND target = ?',
    [source, subject, target],
  );
  return row?.id == null ? null : Number(row.id);
}

/** Let timers and I/O callbacks run (setImmediate: after the poll phase, a few microseconds). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
