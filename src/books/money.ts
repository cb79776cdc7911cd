/**
 * Money as integer minor units.
 *
 * `Minor` is a branded number: arithmetic on it yields a plain `number`, so every
 * amount must come back through `minor()` (which rejects floats and unsafe integers)
 * or through the helpers below. Decimal text is parsed exactly, never via parseFloat.
 */
import { BooksError } from './errors.js';

declare const minorBrand: unique symbol;
export type Minor = number & { readonly [minorBrand]: 'Minor' };

export type RoundingMode = 'half-up' | 'half-even' | 'down';

export const ZERO = 0 as Minor;

export function minor(value: number | bigint): Minor {
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new BooksError(`amount ${value} is outside the safe integer range`);
    }
    return Number(value) as Minor;
  }
  if (!Number.isSafeInteger(value)) {
    throw new BooksError(`amount ${value} is not an integer number of minor units`);
  }
  // Normalise -0 so that equality and JSON output stay boring.
  return (value === 0 ? 0 : value) as Minor;
}

export function add(...amounts: Minor[]): Minor {
  return sum(amounts);
}

export function sum(amounts: Iterable<Minor>): Minor {
  let total = 0;
  for (const a of amounts) total += a;
  return minor(total);
}

export function sub(a: Minor, b: Minor): Minor {
  return minor(a - b);
}

export function neg(a: Minor): Minor {
  return minor(-a);
}

export function times(a: Minor, factor: number): Minor {
  if (!Number.isSafeInteger(factor)) throw new BooksError(`factor ${factor} is not an integer`);
  return minor(a * factor);
}

export function abs(a: Minor): Minor {
  return minor(Math.abs(a));
}

/** Divide two integers and round the quotient with an explicit mode. */
export function divRound(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  if (denominator === 0n) throw new BooksError('division by zero');
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const negative = numerator < 0n;
  const n = negative ? -numerator : numerator;
  let q = n / denominator;
  const r = n % denominator;
  if (r !== 0n && mode !== 'down') {
    const twice = 2n * r;
    if (twice > denominator) q += 1n;
    else if (twice === denominator) {
      if (mode === 'half-up' || q % 2n === 1n) q += 1n;
    }
  }
  return negative ? -q : q;
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d*))?$|^([+-])?\.(\d+)$/;

export interface ParseOptions {
  /** How to round when the text carries more decimals than the currency has. Default: reject. */
  rounding?: RoundingMode;
  /** Treat the empty string as zero (WooCommerce sends "" for untaxed shipping). */
  emptyIsZero?: boolean;
}

/**
 * Parse a decimal string ("12.30", "-0.9", "136.376") into minor units of a currency
 * with `exponent` decimals. Throws a BooksError naming the offending text.
 */
export function parseDecimal(text: string | number, exponent: number, options: ParseOptions = {}): Minor {
  if (typeof text === 'number') {
    // JSON numbers are accepted only when they are exact in decimal form (e.g. 12 or 12.5).
    if (!Number.isFinite(text)) throw new BooksError(`"${text}" is not a decimal amount`);
    text = String(text);
    if (/e/i.test(text)) throw new BooksError(`"${text}" is not a plain decimal amount`);
  }
  const trimmed = text.trim();
  if (trimmed === '' && options.emptyIsZero) return ZERO;
  const m = DECIMAL.exec(trimmed);
  if (!m) throw new BooksError(`"${text}" is not a decimal amount`);
  const sign = (m[1] ?? m[4]) === '-' ? -1n : 1n;
  const intPart = m[2] ?? '0';
  const fracPart = m[3] ?? m[5] ?? '';
  let digits = BigInt(intPart + fracPart.padEnd(exponent, '0').slice(0, Math.max(exponent, 0)));
  if (fracPart.length > exponent) {
    const extra = fracPart.slice(exponent);
    if (/[1-9]/.test(extra)) {
      if (!options.rounding) {
        throw new BooksError(`"${text}" has more than ${exponent} decimals`);
      }
      const all = BigInt(intPart + fracPart);
      digits = divRound(all, 10n ** BigInt(fracPart.length - exponent), options.rounding);
    }
  }
  return minor(sign * digits);
}

/** Format minor units as a plain decimal string with `exponent` decimals ("-12.30"). */
export function formatDecimal(amount: Minor, exponent: number): string {
  const negative = amount < 0;
  const digits = String(Math.abs(amount)).padStart(exponent + 1, '0');
  const whole = exponent > 0 ? digits.slice(0, -exponent) : digits;
  const frac = exponent > 0 ? `.${digits.slice(-exponent)}` : '';
  return `${negative ? '-' : ''}${whole}${frac}`;
}

/**
 * Split `total` over `weights` exactly: shares are proportional, rounded down, and the
 * remainder goes one unit at a time to the largest fractional parts (earlier index wins ties).
 * Σ result === total, always.
 */
export function allocate(total: Minor, weights: readonly (number | bigint)[]): Minor[] {
  if (weights.length === 0) throw new BooksError('cannot allocate over no weights');
  const w = weights.map((x) => {
    if (typeof x === 'number' && !Number.isSafeInteger(x)) throw new BooksError(`allocation weight ${x} is not an integer`);
    const b = BigInt(x);
    if (b < 0n) throw new BooksError('allocation weights must not be negative');
    return b;
  });
  const weightSum = w.reduce((a, b) => a + b, 0n);
  const negative = total < 0;
  const t = BigInt(Math.abs(total));
  if (weightSum === 0n) {
    // No basis to spread on: spread evenly.
    return allocate(total, w.map(() => 1));
  }
  const shares = w.map((x) => (t * x) / weightSum);
  const remainders = w.map((x, i) => ({ i, r: (t * x) % weightSum }));
  let left = t - shares.reduce((a, b) => a + b, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (let k = 0; left > 0n; k++, left--) {
    const idx = remainders[k % remainders.length]!.i;
    shares[idx] = shares[idx]! + 1n;
  }
  return shares.map((s) => minor(negative ? -s : s));
}

/** Round an amount to a multiple of `step` minor units (e.g. 5 for CHF 5-Rappen rounding). */
export function roundToStep(amount: Minor, step: number, mode: RoundingMode = 'half-up'): Minor {
  if (!Number.isSafeInteger(step) || step <= 0) throw new BooksError(`rounding step ${step} must be a positive integer`);
  return minor(divRound(BigInt(amount), BigInt(step), mode) * BigInt(step));
}
