/**
 * Customers (E1 create, E2 update). A customer document books nothing; the outbox stores a
 * changed customer as the next revision, which a target delivers as an update.
 */
import { requireText } from './checks.js';
import { formatDocumentKey, type CustomerDocument } from './documents.js';
import { BooksError } from './errors.js';

export type CustomerInput = Omit<CustomerDocument, 'kind' | 'type'> & { type?: CustomerDocument['type'] };

export function buildCustomer(input: CustomerInput): CustomerDocument {
  requireText(input.key, 'customer number', input.number);
  requireText(input.key, 'customer name', input.name);
  if (input.key.kind !== 'customer') throw new BooksError(`${formatDocumentKey(input.key)}: a customer's key must be of kind "customer"`, { field: 'key' });
  return { kind: 'customer', ...input, type: input.type ?? (input.company ? 'company' : 'person') };
}
