/**
 * Quarantine: source records that could not become documents, kept whole with the reason,
 * until a fixed version arrives or an operator replays them after fixing the mapping.
 */
import type { Knex } from 'knex';
import { placeholders, sqlRun, type SqlDb } from '../db/sql.js';
import { nowIso } from '../db/time.js';

export interface QuarantineInput {
  source: string;
  recordId: string;
  contentHash: string;
  reason: string;
  field?: string | undefined;
  origin: string;
  raw: string;
}

export interface QuarantineRow {
  id: number;
  source: string;
  record_id: string;
  content_hash: string;
  reason: string;
  field: string | null;
  origin: string;
  raw: string;
  created_at: string;
  resolved_at: string | null;
  resolution: string | null;
}

export async function quarantineRecord(db: Knex, q: QuarantineInput): Promise<void> {
  await db('quarantine')
    .insert({
      source: q.source,
      record_id: q.recordId,
      content_hash: q.contentHash,
      reason: q.reason,
      field: q.field ?? null,
      origin: q.origin,
      raw: q.raw,
      created_at: nowIso(),
    })
    .onConflict(['source', 'record_id', 'content_hash'])
    .merge({ reason: q.reason, field: q.field ?? null, resolved_at: null, resolution: null });
}

/**
 * Close every open quarantine row of the records `recordIds` (a record and the one it
 * supersedes, say) with `resolution`, e.g. because a newer version went through.
 */
export async function resolveQuarantine(db: SqlDb, source: string, recordIds: readonly string[], resolution: string): Promise<number> {
  const ids = [...new Set(recordIds)];
  return sqlRun(db, `UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE source = ? AND record_id IN (${placeholders(ids.length)}) AND resolved_at IS NULL`, [
    nowIso(),
    resolution,
    source,
    ...ids,
  ]);
}

/**
 * Close one open entry by hand: `dismissed: …` holds it back for good, `replayed` lets the
 * same content be taken in again (and quarantined again if it still fails).
 */
export async function closeQuarantined(db: Knex, id: number, resolution: string): Promise<boolean> {
  const changed = await db('quarantine').where({ id }).whereNull('resolved_at').update({ resolved_at: nowIso(), resolution });
  return changed > 0;
}

export async function listQuarantine(db: Knex, options: { source?: string; includeResolved?: boolean } = {}): Promise<QuarantineRow[]> {
  const q = db('quarantine').select('*').orderBy('id');
  if (options.source) q.where({ source: options.source });
  if (!options.includeResolved) q.whereNull('resolved_at');
  return (await q) as QuarantineRow[];
}

export async function getQuarantined(db: Knex, id: number): Promise<QuarantineRow | undefined> {
  return (await db('quarantine').where({ id }).first()) as QuarantineRow | undefined;
}
