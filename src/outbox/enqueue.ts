/**
 * Store mapped documents and their outbox entries. Runs inside the intake transaction,
 * together with the source snapshot, so a record is either fully taken in or not at all.
 */
import type { Knex } from 'knex';
import { formatDocumentKey, type BookDocument } from '../books/index.js';
import { sha256 } from '../db/hash.js';
import { chunksOf, IDS_PER_STATEMENT, placeholders, sqlRows, type SqlDb } from '../db/sql.js';
import { nowIso } from '../db/time.js';
import { recordTransitions, type Transition } from './events.js';

export interface StoredDocument {
  id: number;
  key: string;
  /** False when an identical document was already stored. */
  created: boolean;
}

/** Hash of what a document says, independent of its revision number. */
export function documentContentHash(doc: BookDocument): string {
  const { key, ...content } = doc;
  return sha256(JSON.stringify({ kind: key.kind, part: key.part ?? '', subject: key.subject, content }));
}

interface DocumentRow {
  id: number;
  doc_key: string;
  revision: number;
  content_hash: string;
}

/**
 * The latest stored revisions of every document of `subjects` (one source), read at once for
 * the documents of one order and handed to each storeDocument, which keeps the map up to date
 * with what it stores.
 */
export async function latestRevisions(db: SqlDb, source: string, subjects: readonly string[]): Promise<LatestRevisions> {
  const unique = [...new Set(subjects)];
  const rows = await sqlRows<DocumentRow & { subject: string; kind: string; part: string }>(
    db,
    `SELECT id, doc_key, revision, content_hash, subject, kind, part FROM documents WHERE source = ? AND subject IN (${placeholders(unique.length)})`,
    [source, ...unique],
  );
  const latest: LatestRevisions = new Map();
  for (const row of rows) {
    const key = revisionsKey(row.subject, row.kind, row.part);
    const known = latest.get(key);
    if (!known || Number(row.revision) > Number(known.revision)) latest.set(key, row);
  }
  return latest;
}

/** Latest revision by subject, kind and part (latestRevisions). */
export type LatestRevisions = Map<string, DocumentRow & { subject: string }>;

const revisionsKey = (subject: string, kind: string, part: string | undefined) => JSON.stringify([subject, kind, part ?? '']);

/**
 * Store `doc` unless its latest revision says the same. With `newRevisionOnChange`
 * (customers: E2 update), changed content becomes the next revision; otherwise a change
 * is reported through the returned `changedFrom` and nothing is written. `known`: the
 * latest revisions read beforehand (latestRevisions); without it they are read here.
 */
export async function storeDocument(
  db: SqlDb,
  doc: BookDocument,
  snapshotId: number,
  newRevisionOnChange: boolean,
  known?: LatestRevisions,
): Promise<StoredDocument | { changedFrom: string }> {
  const hash = documentContentHash(doc);
  const lookup = revisionsKey(doc.key.subject, doc.key.kind, doc.key.part);
  known ??= await latestRevisions(db, doc.key.source, [doc.key.subject]);
  const latest = known.get(lookup);
  if (latest && latest.content_hash === hash) return { id: Number(latest.id), key: latest.doc_key, created: false };
  if (latest && !newRevisionOnChange) return { changedFrom: latest.doc_key };
  const revision = latest ? Number(latest.revision) + 1 : doc.key.revision;
  const stored: BookDocument = { ...doc, key: { ...doc.key, revision } };
  const key = formatDocumentKey(stored.key);
  const [row] = await sqlRows<{ id: number | string }>(
    db,
    'INSERT INTO documents (doc_key, source, subject, kind, part, revision, content_hash, snapshot_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [key, stored.key.source, stored.key.subject, stored.key.kind, stored.key.part ?? '', revision, hash, snapshotId, JSON.stringify(stored), nowIso()],
  );
  known.set(lookup, { id: Number(row!.id), doc_key: key, revision, content_hash: hash, subject: stored.key.subject });
  return { id: Number(row!.id), key, created: true };
}

/**
 * One outbox entry per (target, document); enqueuing twice is a no-op. The `enqueued`
 * transition is recorded at once, or added to `transitions` for the caller to record with
 * those of the other entries (recordTransitions, in the same transaction). `successors`: how
 * many entries of the same order are queued behind this one (claims take longer chains first,
 * migration 0010); default 0.
 */
export async function enqueueEntry(
  db: SqlDb,
  input: { documentId: number; documentKey: string; target: string; dependsOn: number | null; successors?: number },
  transitions?: Transition[],
): Promise<{ id: number; created: boolean }> {
  const entryKey = `${input.target}:${input.documentKey}`;
  const now = nowIso();
  const inserted = await sqlRows<{ id: number | string }>(
    db,
    `INSERT INTO outbox_entries (entry_key, document_id, target, state, depends_on, successors, attempts, verify_first, available_at, created_at, updated_at)
     VALUES (?, ?, ?, 'pending', ?, ?, 0, ?, ?, ?, ?) ON CONFLICT (entry_key) DO NOTHING RETURNING id`,
    [entryKey, input.documentId, input.target, input.dependsOn, input.successors ?? 0, false, now, now, now],
  );
  if (inserted.length > 0) {
    const id = Number(inserted[0]!.id);
    const enqueued: Transition = { entryId: id, from: null, to: 'pending', cause: 'enqueued' };
    if (transitions) transitions.push(enqueued);
    else await recordTransitions(db, [enqueued]);
    return { id, created: true };
  }
  const [existing] = await sqlRows<{ id: number | string }>(db, 'SELECT id FROM outbox_entries WHERE entry_key = ?', [entryKey]);
  return { id: Number(existing!.id), created: false };
}

/** Several documents by id, in one query per IDS_PER_STATEMENT (a claimed batch's). */
export async function loadDocuments(db: Knex, documentIds: readonly number[]): Promise<Map<number, BookDocument>> {
  const found = new Map<number, BookDocument>();
  const unique = [...new Set(documentIds)];
  for (const ids of chunksOf(unique, IDS_PER_STATEMENT)) {
    const rows = await sqlRows<{ id: number | string; body: string }>(db, `SELECT id, body FROM documents WHERE id IN (${placeholders(ids.length)})`, ids);
    for (const row of rows) found.set(Number(row.id), JSON.parse(row.body) as BookDocument);
  }
  const missing = unique.find((id) => !found.has(id));
  if (missing !== undefined) throw new Error(`document ${missing} does not exist`);
  return found;
}
