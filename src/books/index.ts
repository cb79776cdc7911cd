/**
 * The bookkeeping domain: money, VAT, documents and their invariants.
 * This folder imports nothing else from kontor; everything else may import it.
 */
export * from './credit.js';
export * from './currency.js';
export * from './customer.js';
export * from './documents.js';
export * from './errors.js';
export * from './invoice.js';
export * from './money.js';
export * from './payment.js';
export * from './vat.js';
