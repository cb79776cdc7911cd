/**
 * VAT rates and VAT arithmetic.
 *
 * A rate is held in basis points of a percent (8.1 % = 810) so that every rate the
 * Swiss and Swedish tables use is an exact integer and VAT is computed with bigint
 * division and an explicit rounding mode.
 */
import { BooksError } from './errors.js';
import { divRound, minor, parseDecimal, type Minor, type RoundingMode } from './money.js';

declare const rateBrand: unique symbol;
export type VatRate = number & { readonly [rateBrand]: 'VatRate' };

const BP_PER_UNIT = 10_000n;

export function vatRate(percent: string | number): VatRate {
  const bp = parseDecimal(percent, 2);
  if (bp < 0 || bp > 10_000) throw new BooksError(`VAT rate ${percent} % is outside 0–100 %`);
  return bp as number as VatRate;
}

export function formatRate(rate: VatRate): string {
  const whole = Math.trunc(rate / 100);
  const frac = rate % 100;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(2, '0').replace(/0$/, '')}`;
}

/** VAT on a net amount: net × rate, rounded. */
export function vatFromNet(net: Minor, rate: VatRate, mode: RoundingMode = 'half-up'): Minor {
  return minor(divRound(BigInt(net) * BigInt(rate), BP_PER_UNIT, mode));
}

/**
 * VAT contained in a gross amount: gross × rate / (1 + rate), rounded. Used for shops whose
 * prices include VAT, so that 1000.00 gross at 8 % stays 1000.00 (925.93 + 74.07).
 */
export function vatFromGross(gross: Minor, rate: VatRate, mode: RoundingMode = 'half-up'): Minor {
  return minor(divRound(BigInt(gross) * BigInt(rate), BP_PER_UNIT + BigInt(rate), mode));
}

export interface VatPeriod {
  code: string;
  rate: VatRate;
  validFrom?: string; // inclusive, YYYY-MM-DD
  validTo?: string; // inclusive, YYYY-MM-DD
}

/** The rate in force for `code` on `date` (YYYY-MM-DD). */
export function rateOn(periods: readonly VatPeriod[], code: string, date: string): VatRate {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new BooksError(`"${date}" is not a date as YYYY-MM-DD`);
  const hit = periods.find(
    (p) => p.code === code && (!p.validFrom || p.validFrom <= date) && (!p.validTo || date <= p.validTo),
  );
  if (!hit) throw new BooksError(`no VAT rate "${code}" is valid on ${date}`);
  return hit.rate;
}

/** Swiss VAT: the 2024 revision and the rates before it. */
export const SWISS_VAT: readonly VatPeriod[] = [
  { code: 'standard', rate: vatRate('8.1'), validFrom: '2024-01-01' },
  { code: 'reduced', rate: vatRate('2.6'), validFrom: '2024-01-01' },
  { code: 'accommodation', rate: vatRate('3.8'), validFrom: '2024-01-01' },
  { code: 'standard', rate: vatRate('7.7'), validFrom: '2018-01-01', validTo: '2023-12-31' },
  { code: 'reduced', rate: vatRate('2.5'), validFrom: '2018-01-01', validTo: '2023-12-31' },
  { code: 'accommodation', rate: vatRate('3.7'), validFrom: '2018-01-01', validTo: '2023-12-31' },
  { code: 'exempt', rate: vatRate('0') },
  { code: 'export', rate: vatRate('0') },
  { code: 'reverse-charge', rate: vatRate('0') },
];
