/**
 * Swedish documents shared by the Billecta tests: a T-shirt at 25 %, coffee at 12 %, shipping
 * and a discount, booked on BAS accounts in the article variant (as mappings/shopify-se-billecta.yaml does).
 */
import { parseDecimal, vatRate, type Article, type DocumentKey, type DocumentKind, type LineInput, type Minor, type SalesInput, type VatTreatment } from '../src/books/index.js';

export const CREDITOR = '3f0c2a1e-0000-4000-8000-000000000001';
export const sek = (text: string): Minor => parseDecimal(text, 2);

export const V25: VatTreatment = { rate: vatRate('25'), code: 'standard', account: '2611' };
export const V12: VatTreatment = { rate: vatRate('12'), code: 'reduced', account: '2621' };

export const ARTICLES: readonly Article[] = [
  { number: 'TSH-BLU-M', account: '3001', vat: V25, unit: 'st' },
  { number: 'KAFFE-500', account: '3002', vat: V12 },
  { number: 'FRAKT-standard', account: '3520', vat: V25, role: 'shipping' },
  { number: 'RABATT-standard', account: '3730', vat: V25, role: 'discount' },
];

export function key(kind: DocumentKind, subject: string, part?: string): DocumentKey {
  return { source: 'shopify', subject, kind, ...(part ? { part } : {}), revision: 1 };
}

export const part = (number: string, quantity: number, unitPrice: Minor, text = number): LineInput => ({ text, part: { number, quantity, unitPrice } });

/** Order 1001: T-shirts at 25 %, coffee at 12 %, shipping, and a discount; prices with or without VAT. */
export const ORDER_LINES = (gross: boolean): LineInput[] =>
  gross
    ? [part('TSH-BLU-M', 2, sek('199.00'), 'T-shirt blå, M'), part('KAFFE-500', 1, sek('99.99'), 'Kaffe 500 g'), part('FRAKT-standard', 1, sek('49.00'), 'Shipping 25 %'), part('RABATT-standard', 1, sek('-25.00'), 'Discount VÅR20 25 %')]
    : [part('TSH-BLU-M', 2, sek('159.20'), 'T-shirt blå, M'), part('KAFFE-500', 1, sek('89.29'), 'Kaffe 500 g'), part('FRAKT-standard', 1, sek('39.20'), 'Shipping 25 %'), part('RABATT-standard', 1, sek('-20.00'), 'Discount VÅR20 25 %')];

export function sales(subject: string, number: string, lines: LineInput[] = ORDER_LINES(false), overrides: Partial<SalesInput> = {}): SalesInput {
  return {
    key: key('invoice', subject),
    number,
    orderNumber: number,
    customerNumber: 'SH-123',
    currency: 'SEK',
    date: '2024-05-02',
    dueDate: '2024-06-01',
    description: `Webborder ${number}`,
    receivableAccount: '1510',
    variant: 'article',
    articles: ARTICLES,
    vat: { basis: 'net', rounding: 'per-line' },
    lines,
    ...overrides,
  };
}
