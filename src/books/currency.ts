/** ISO 4217 minor-unit exponents for the currencies kontor's shops trade in. */
import { BooksError } from './errors.js';

const EXPONENTS: Readonly<Record<string, number>> = {
  CHF: 2, EUR: 2, SEK: 2, NOK: 2, DKK: 2, USD: 2, GBP: 2, PLN: 2, CZK: 2, HUF: 2,
  CAD: 2, AUD: 2, NZD: 2, CNY: 2, HKD: 2, SGD: 2, ISK: 0, JPY: 0, KRW: 0,
  BHD: 3, JOD: 3, KWD: 3, OMR: 3, TND: 3,
};

export function isKnownCurrency(code: string): boolean {
  return Object.hasOwn(EXPONENTS, code);
}

export function currencyExponent(code: string): number {
  const e = Object.hasOwn(EXPONENTS, code) ? EXPONENTS[code] : undefined;
  if (e === undefined) throw new BooksError(`unknown currency "${code}" (ISO 4217 code expected)`);
  return e;
}
