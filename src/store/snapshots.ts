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

/**
 * What kontor knows of this exact content of a record, in one query (intake asks for every
 * record): `stored`, taken in before; `heldBack`, still quarantined or dismissed by an operator
 * (a dismissal holds until the record changes; see quarantine.ts).
 */
export async function contentSeen(db: Knex, source: string, recordId: string, contentHash: string): Promise<{ stored: boolean; heldBack: boolean }> {
  const stored = db('source_snapshots').where({ source, record_id: recordId, content_hash: contentHash }).select(db.raw('1')).limit(1);
  const held = db('quarantine')
    .where({ source, record_id: recordId, content_hash: contentHash })
    .andWhere((q) => q.whereNull('resolved_at').orWhere('resolution', 'like', 'dismissed:%'))
    .select(db.raw('1'))
    .limit(1);
  const row = (await db.first({ stored: db.raw('EXISTS ?', [stored]), held: db.raw('EXISTS ?', [held]) })) as { stored: unknown; held: unknown };
  return { stored: truthy(row.stored), heldBack: truthy(row.held) };
}

/** SQLite answers EXISTS with 0/1, PostgreSQL with a boolean. */
const truthy = (value: unknown) => value === true || value === 1 || value === '1';

export async function insertSnapshot(db: Knex, s: SnapshotInput): Promise<number> {
  const [row] = (await db('source_snapshots')
    .insert({ source: s.source, record_id: s.recordId, content_hash: s.contentHash, raw: s.raw, origin: s.origin, fetched_at: nowIso() })
    .returning('id')) as { id: number }[];
  return row!.id;
}
