/**
 * The bookkeeping domain: money, VAT, documents and their invariants.
 * This folder imports nothing else from kontor; everything else may import it.
 */
export * from './currency.js';
export * from './documents.js';
export * from './errors.js';
export * from './money.js';
export * from './vat.js';
