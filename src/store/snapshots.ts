/** Source snapshots: every version of every record kontor has read, with its content hash. */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';

export interface SnapshotInput {
  source: string;
  recordId: string;
  contentHash: string;
  raw: string;
  origin: string;
}

export async function hasSnapshot(db: Knex, source: string, recordId: string, contentHash: string): Promise<boolean> {
  const row = await db('source_snapshots').where({ source, record_id: recordId, content_hash: contentHash }).first('id');
  return row !== undefined;
}

export async function insertSnapshot(db: Knex, s: SnapshotInput): Promise<number> {
  const [row] = (await db('source_snapshots')
    .insert({ source: s.source, record_id: s.recordId, content_hash: s.contentHash, raw: s.raw, origin: s.origin, fetched_at: nowIso() })
    .returning('id')) as { id: number }[];
  return row!.id;
}
