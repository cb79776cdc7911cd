/** Small input checks shared by the document builders; each names the document and field. */
import { currencyExponent } from './currency.js';
import { isCalendarDate, formatDocumentKey, type DocumentKey } from './documents.js';
import { BooksError } from './errors.js';

export function requireText(key: DocumentKey, field: string, value: string | undefined): void {
  if (value === undefined || value.trim() === '') throw new BooksError(`${formatDocumentKey(key)}: ${field} must not be empty`, { field });
}

export function requireDate(key: DocumentKey, field: string, value: string): void {
  if (!isCalendarDate(value)) throw new BooksError(`${formatDocumentKey(key)}: ${field} "${value}" is not a calendar date (YYYY-MM-DD)`, { field });
}

export function requireCurrency(key: DocumentKey, currency: string): void {
  try {
    currencyExponent(currency);
  } catch (error) {
    throw new BooksError(`${formatDocumentKey(key)}: ${(error as Error).message}`, { field: 'currency' });
  }
}
