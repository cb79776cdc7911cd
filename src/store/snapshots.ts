/** Source snapshots: every version of every record kontor has read, with its content hash. */
import { sqlRows, type SqlDb } from '../db/sql.js';
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
export async function contentSeen(db: SqlDb, source: string, recordId: string, contentHash: string): Promise<{ stored: boolean; heldBack: boolean }> {
  const [row] = await sqlRows<{ stored: unknown; held: unknown }>(
    db,
    `SELECT EXISTS (SELECT 1 FROM source_snapshots WHERE source = ? AND record_id = ? AND content_hash = ?) AS stored,
            EXISTS (SELECT 1 FROM quarantine WHERE source = ? AND record_id = ? AND content_hash = ?
                       AND (resolved_at IS NULL OR resolution LIKE 'dismissed:%')) AS held`,
    [source, recordId, contentHash, source, recordId, contentHash],
  );
  return { stored: truthy(row!.stored), heldBack: truthy(row!.held) };
}

/** SQLite answers EXISTS with 0/1, PostgreSQL with a boolean. */
const truthy = (value: unknown) => value === true || value === 1 || value === '1';

export async function insertSnapshot(db: SqlDb, s: SnapshotInput): Promise<number> {
  const [row] = await sqlRows<{ id: number | string }>(
    db,
    'INSERT INTO source_snapshots (source, record_id, content_hash, raw, origin, fetched_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
    [s.source, s.recordId, s.contentHash, s.raw, s.origin, nowIso()],
  );
  return Number(row!.id);
}
