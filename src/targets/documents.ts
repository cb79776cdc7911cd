/** What the target adapters share about the documents they send. */
import { numberOf, type BookDocument } from '../books/index.js';

/** A document as messages name it: `invoice 1001`, `credit note 7`, `refund 1001-R1`, `customer 42`. */
export function describeDocument(doc: BookDocument): string {
  switch (doc.kind) {
    case 'customer':
      return `customer ${doc.number}`;
    case 'payment':
      return `${doc.purpose === 'payment' ? 'payment' : doc.purpose} ${numberOf(doc)}`;
    case 'credit-note':
      return `credit note ${doc.number}`;
    default:
      return `${doc.kind} ${doc.number}`;
  }
}
