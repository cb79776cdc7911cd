/**
 * Invoice revisions of an order (docs/mapping.md#corrections). An order is first booked as
 * revision 1, with the keys and numbers it always had. When it changes after that, a
 * correction takes the invoice back and books the order again as revision 2, 3, …: every
 * document of a later revision has its own key (its part starts with `r<revision>`) and its own
 * number (numbering.revision), so nothing stored is ever overwritten.
 */
import { isSalesDocument, type BookDocument, type CreditNoteDocument, type InvoiceDocument, type SalesDocument, type StornoDocument } from '../books/index.js';

/** The key part of a document of revision `revision`: revision 1 keeps `part`; later ones prefix it with `r<revision>`. */
export function revisionPart(revision: number, part?: string): string | undefined {
  if (revision <= 1) return part;
  return part ? `r${revision}-${part}` : `r${revision}`;
}

/** The revision of a booked invoice, read off its key: no part is revision 1, `r2` revision 2. */
export function invoiceRevision(invoice: InvoiceDocument): number {
  const m = /^r(\d+)$/.exec(invoice.key.part ?? '');
  return m ? Number(m[1]) : 1;
}

export interface BookedOrder {
  /** Every document booked for the order, one per key (the last one given wins). */
  documents: BookDocument[];
  /** The invoice of the latest revision, or null when none was booked. */
  current: {
    invoice: InvoiceDocument;
    revision: number;
    /** The storno or credit note that took it back in full (a cancellation), if one did. */
    takenBackBy: StornoDocument | CreditNoteDocument | null;
  } | null;
}

const identity = (d: BookDocument) => `${d.kind}|${d.key.part ?? ''}`;

/** What was booked for one order, sorted into its revisions. */
export function bookedOrder(docs: readonly BookDocument[]): BookedOrder {
  const byKey = new Map<string, BookDocument>();
  for (const d of docs) byKey.set(identity(d), d);
  const documents = [...byKey.values()];
  const invoices = documents.filter((d): d is InvoiceDocument => d.kind === 'invoice').sort((a, b) => invoiceRevision(a) - invoiceRevision(b));
  const invoice = invoices.at(-1);
  if (!invoice) return { documents, current: null };
  const revision = invoiceRevision(invoice);
  const whole = new Set([revisionPart(revision, 'cancellation'), revisionPart(revision, 'correction')]);
  const takenBackBy =
    documents.find(
      (d): d is StornoDocument | CreditNoteDocument =>
        (d.kind === 'storno' && d.reverses === invoice.number) || (d.kind === 'credit-note' && d.credits === invoice.number && whole.has(d.key.part)),
    ) ?? null;
  return { documents, current: { invoice, revision, takenBackBy } };
}

/** JSON with sorted keys: two documents say the same when their canonical texts are equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** What a document says, without its key's revision counter (as the document store compares). */
function content(doc: BookDocument): string {
  const { key, ...rest } = doc;
  return canonical({ kind: key.kind, part: key.part ?? '', rest });
}

/**
 * The first sales document (invoice, credit note) among `mapped` that was booked before with
 * other content, or null. Payments and customers do not count: a customer's change is its next
 * revision (E2), and a payment changes only with its invoice or not at all.
 */
export function changedSalesDocument(mapped: readonly BookDocument[], booked: readonly BookDocument[]): SalesDocument | null {
  const before = new Map(booked.map((d) => [identity(d), d]));
  for (const doc of mapped) {
    if (!isSalesDocument(doc)) continue;
    const stored = before.get(identity(doc));
    if (stored && isSalesDocument(stored) && content(stored) !== content(doc)) return stored;
  }
  return null;
}
