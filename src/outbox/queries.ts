/** Read-only views of the outbox for status, list and show. */
import type { Knex } from 'knex';
import { toInt } from '../db/connect.js';
import { listTransitions, type OutboxEvent } from './events.js';
import { toEntry, type OutboxEntry, type OutboxState } from './states.js';

export interface ListOptions {
  state?: OutboxState;
  target?: string;
  limit?: number;
}

export async function listEntries(db: Knex, options: ListOptions = {}): Promise<(OutboxEntry & { doc_key: string; kind: string })[]> {
  const q = db('outbox_entries as e')
    .join('documents as d', 'd.id', 'e.document_id')
    .select('e.*', 'd.doc_key', 'd.kind')
    .orderBy('e.id')
    .limit(options.limit ?? 100);
  if (options.state) q.where('e.state', options.state);
  if (options.target) q.where('e.target', options.target);
  const rows = (await q) as Record<string, unknown>[];
  return rows.map((r) => ({ ...toEntry(r), doc_key: String(r.doc_key), kind: String(r.kind) }));
}

export interface EntryDetail {
  entry: OutboxEntry;
  document: unknown;
  events: OutboxEvent[];
}

export async function showEntry(db: Knex, id: number): Promise<EntryDetail | undefined> {
  const row = (await db('outbox_entries').where({ id }).first()) as Record<string, unknown> | undefined;
  if (!row) return undefined;
  const entry = toEntry(row);
  const doc = (await db('documents').where({ id: entry.document_id }).first('body')) as { body: string };
  return { entry, document: JSON.parse(doc.body) as unknown, events: await listTransitions(db, id) };
}

export interface BacklogRow {
  target: string;
  state: OutboxState;
  count: number;
}

export async function backlog(db: Knex): Promise<BacklogRow[]> {
  const rows = (await db('outbox_entries').select('target', 'state').count({ count: '*' }).groupBy('target', 'state').orderBy(['target', 'state'])) as {
    target: string;
    state: OutboxState;
    count: number | string;
  }[];
  return rows.map((r) => ({ target: r.target, state: r.state, count: toInt(r.count) }));
}
