/**
 * What the document store says was booked for a source: the history mapOrder needs for
 * refunds, cancellations and final settlements.
 */
import type { Knex } from 'knex';
import type { BookDocument, InvoiceDocument } from '../books/index.js';
import { sqlRows } from '../db/sql.js';
import type { BookedHistory } from '../mapping/map-order.js';

/** The latest revision of every document per (kind, part). */
function latestOnly(rows: { body: string; kind: string; part: string; revision: number }[]): BookDocument[] {
  const latest = new Map<string, { revision: number; body: string }>();
  for (const r of rows) {
    const id = `${r.kind}|${r.part}`;
    const seen = latest.get(id);
    if (!seen || Number(r.revision) > seen.revision) latest.set(id, { revision: Number(r.revision), body: r.body });
  }
  return [...latest.values()].map((r) => JSON.parse(r.body) as BookDocument);
}

export function storedHistory(db: Knex, source: string): BookedHistory {
  return {
    async documentsOf(orderId) {
      const rows = await sqlRows<{ body: string; kind: string; part: string; revision: number }>(db, 'SELECT body, kind, part, revision FROM documents WHERE source = ? AND subject = ?', [source, orderId]);
      return latestOnly(rows);
    },
    async finalsDrawing(depositNumber) {
      // Deduction lines name their deposit invoice; a LIKE narrows the candidates, the parse decides.
      const rows = (await db('documents')
        .where({ source, kind: 'invoice' })
        .andWhere('body', 'like', `%"deposit":${JSON.stringify(depositNumber).replace(/[%_]/g, '')}%`)
        .select('body', 'kind', 'part', 'revision', 'subject')) as { body: string; kind: string; part: string; revision: number; subject: string }[];
      const bySubject = new Map<string, typeof rows>();
      for (const r of rows) bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), r]);
      return [...bySubject.values()]
        .flatMap(latestOnly)
        .filter((d): d is InvoiceDocument => d.kind === 'invoice' && d.purpose === 'final' && d.lines.some((l) => l.deposit === depositNumber));
    },
  };
}
