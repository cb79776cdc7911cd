import { describe, expect, it } from 'vitest';
import { currencyExponent, isKnownCurrency } from '../src/books/currency.js';
import { BooksError } from '../src/books/errors.js';
import { intIn, lcg } from './random.js';
import {
  abs,
  add,
  allocate,
  divRound,
  formatDecimal,
  minor,
  neg,
  parseDecimal,
  roundToStep,
  sub,
  sum,
  times,
  type Minor,
} from '../src/books/money.js';

describe('minor', () => {
  it('accepts safe integers and bigints unchanged', () => {
    expect(minor(1230)).toBe(1230);
    expect(minor(-5)).toBe(-5);
    expect(minor(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    expect(minor(Number.MIN_SAFE_INTEGER)).toBe(Number.MIN_SAFE_INTEGER);
    expect(minor(123n)).toBe(123);
    expect(minor(-123n)).toBe(-123);
  });

  it('rejects fractional numbers', () => {
    expect(() => minor(12.3)).toThrow(BooksError);
    expect(() => minor(0.5)).toThrow(/not an integer number of minor units/);
  });

  it('rejects NaN and infinities', () => {
    expect(() => minor(Number.NaN)).toThrow(BooksError);
    expect(() => minor(Number.POSITIVE_INFINITY)).toThrow(BooksError);
    expect(() => minor(Number.NEGATIVE_INFINITY)).toThrow(BooksError);
  });

  it('rejects integers outside the safe range, as number or bigint', () => {
    expect(() => minor(Number.MAX_SAFE_INTEGER + 1)).toThrow(BooksError);
    expect(() => minor(-(2 ** 60))).toThrow(BooksError);
    expect(() => minor(BigInt(Number.MAX_SAFE_INTEGER) + 1n)).toThrow(/outside the safe integer range/);
    expect(() => minor(BigInt(Number.MIN_SAFE_INTEGER) - 1n)).toThrow(/outside the safe integer range/);
  });

  it('normalises -0 to +0', () => {
    expect(Object.is(minor(-0), 0)).toBe(true);
    expect(Object.is(neg(minor(0)), 0)).toBe(true);
    expect(Object.is(times(minor(0), -3), 0)).toBe(true);
    expect(JSON.stringify({ a: minor(-0) })).toBe('{"a":0}');
  });
});

describe('arithmetic helpers', () => {
  it('add and sum add exactly and return through minor()', () => {
    expect(add(minor(10), minor(20), minor(-5))).toBe(25);
    expect(add()).toBe(0);
    expect(sum(new Set([minor(1), minor(2), minor(3)]))).toBe(6);
  });

  it('sub, neg and abs', () => {
    expect(sub(minor(10), minor(25))).toBe(-15);
    expect(neg(minor(7))).toBe(-7);
    expect(abs(minor(-7))).toBe(7);
  });

  it('times only takes integer factors', () => {
    expect(times(minor(250), 3)).toBe(750);
    expect(() => times(minor(250), 1.5)).toThrow(BooksError);
  });

  it('sums that leave the safe range are rejected instead of losing precision', () => {
    expect(() => add(minor(Number.MAX_SAFE_INTEGER), minor(1))).toThrow(BooksError);
  });
});

describe('parseDecimal', () => {
  it('parses plain decimal text exactly at exponent 2', () => {
    expect(parseDecimal('12.30', 2)).toBe(1230);
    expect(parseDecimal('12.3', 2)).toBe(1230);
    expect(parseDecimal('12', 2)).toBe(1200);
    expect(parseDecimal('-0.9', 2)).toBe(-90);
    expect(parseDecimal('.5', 2)).toBe(50);
    expect(parseDecimal('-.05', 2)).toBe(-5);
    expect(parseDecimal('+3', 2)).toBe(300);
    expect(parseDecimal('0', 2)).toBe(0);
    expect(parseDecimal('0.07', 2)).toBe(7);
    expect(parseDecimal('00012.30', 2)).toBe(1230);
  });

  it('parses "-0" and "-0.00" as +0, never -0', () => {
    expect(Object.is(parseDecimal('-0', 2), 0)).toBe(true);
    expect(Object.is(parseDecimal('-0.00', 2), 0)).toBe(true);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseDecimal(' 12.30\n', 2)).toBe(1230);
  });

  it('accepts trailing zero decimals beyond the exponent without a rounding mode', () => {
    expect(parseDecimal('12.3000', 2)).toBe(1230);
    expect(parseDecimal('5.000', 0)).toBe(5);
  });

  it('rejects the empty string unless emptyIsZero is set', () => {
    expect(() => parseDecimal('', 2)).toThrow(BooksError);
    expect(() => parseDecimal('   ', 2)).toThrow(BooksError);
    expect(parseDecimal('', 2, { emptyIsZero: true })).toBe(0);
    expect(parseDecimal('  ', 2, { emptyIsZero: true })).toBe(0);
  });

  it('emptyIsZero does not relax anything else', () => {
    expect(parseDecimal('4.20', 2, { emptyIsZero: true })).toBe(420);
    expect(() => parseDecimal('abc', 2, { emptyIsZero: true })).toThrow(BooksError);
  });

  it('accepts JSON numbers that are exact in decimal form', () => {
    expect(parseDecimal(12, 2)).toBe(1200);
    expect(parseDecimal(12.5, 2)).toBe(1250);
    expect(parseDecimal(-0.9, 2)).toBe(-90);
    expect(parseDecimal(0, 2)).toBe(0);
  });

  it('rejects JSON numbers that carry float noise or print in exponent form', () => {
    // 0.1 + 0.2 === 0.30000000000000004: rejected rather than silently rounded.
    expect(() => parseDecimal(0.1 + 0.2, 2)).toThrow(/more than 2 decimals/);
    expect(() => parseDecimal(1e21, 2)).toThrow(/not a plain decimal amount/);
    expect(() => parseDecimal(1e-7, 2)).toThrow(/not a plain decimal amount/);
    expect(() => parseDecimal(Number.NaN, 2)).toThrow(BooksError);
    expect(() => parseDecimal(Number.POSITIVE_INFINITY, 2)).toThrow(BooksError);
  });

  it.each(['1e3', '12,30', 'abc', '1.2.3', '--1', '+-1', '-', '.', '1 000', '0x10', '12.30 CHF', 'Infinity'])(
    'rejects %j and names the text',
    (text) => {
      expect(() => parseDecimal(text, 2)).toThrow(BooksError);
      expect(() => parseDecimal(text, 2)).toThrow(`"${text}"`);
    },
  );

  it('rejects amounts beyond the safe integer range', () => {
    expect(() => parseDecimal('90071992547409.92', 2)).toThrow(BooksError);
    expect(parseDecimal('90071992547409.91', 2)).toBe(Number.MAX_SAFE_INTEGER);
  });

  describe('more decimals than the currency has', () => {
    it('rejects "1.005" at exponent 2 without a rounding mode', () => {
      expect(() => parseDecimal('1.005', 2)).toThrow(BooksError);
      expect(() => parseDecimal('1.005', 2)).toThrow('"1.005" has more than 2 decimals');
    });

    it("'half-up' rounds a half away from zero", () => {
      expect(parseDecimal('1.005', 2, { rounding: 'half-up' })).toBe(101);
      expect(parseDecimal('1.015', 2, { rounding: 'half-up' })).toBe(102);
      expect(parseDecimal('-1.005', 2, { rounding: 'half-up' })).toBe(-101);
      expect(parseDecimal('1.0049', 2, { rounding: 'half-up' })).toBe(100);
      expect(parseDecimal('1.0051', 2, { rounding: 'half-up' })).toBe(101);
    });

    it("'half-even' rounds a half to the even neighbour", () => {
      expect(parseDecimal('1.005', 2, { rounding: 'half-even' })).toBe(100);
      expect(parseDecimal('1.015', 2, { rounding: 'half-even' })).toBe(102);
      expect(parseDecimal('1.025', 2, { rounding: 'half-even' })).toBe(102);
      expect(parseDecimal('-1.005', 2, { rounding: 'half-even' })).toBe(-100);
      expect(parseDecimal('-1.015', 2, { rounding: 'half-even' })).toBe(-102);
      // Above the half it always rounds up, even towards an odd neighbour.
      expect(parseDecimal('1.0051', 2, { rounding: 'half-even' })).toBe(101);
    });

    it("'down' truncates towards zero", () => {
      expect(parseDecimal('1.005', 2, { rounding: 'down' })).toBe(100);
      expect(parseDecimal('1.009', 2, { rounding: 'down' })).toBe(100);
      expect(parseDecimal('-1.009', 2, { rounding: 'down' })).toBe(-100);
    });

    it('rounds from all the extra digits, not just the first one', () => {
      // 136.376 → 136.38; 0.0049999 stays below the half.
      expect(parseDecimal('136.376', 2, { rounding: 'half-up' })).toBe(13638);
      expect(parseDecimal('0.0049999', 2, { rounding: 'half-up' })).toBe(0);
      expect(parseDecimal('0.0050000', 2, { rounding: 'half-even' })).toBe(0);
    });

    it('a rounded value that becomes zero is +0', () => {
      expect(Object.is(parseDecimal('-0.004', 2, { rounding: 'half-up' }), 0)).toBe(true);
    });
  });

  describe('other exponents', () => {
    it('exponent 0 (JPY) takes whole units only', () => {
      expect(parseDecimal('1234', 0)).toBe(1234);
      expect(parseDecimal('-1234', 0)).toBe(-1234);
      expect(parseDecimal('1234.0', 0)).toBe(1234);
      expect(() => parseDecimal('1234.5', 0)).toThrow('has more than 0 decimals');
      expect(parseDecimal('1234.5', 0, { rounding: 'half-up' })).toBe(1235);
      expect(parseDecimal('1234.5', 0, { rounding: 'half-even' })).toBe(1234);
      expect(parseDecimal('1235.5', 0, { rounding: 'half-even' })).toBe(1236);
      expect(parseDecimal('.5', 0, { rounding: 'down' })).toBe(0);
    });

    it('exponent 3 (KWD) keeps three decimals', () => {
      expect(parseDecimal('1.234', 3)).toBe(1234);
      expect(parseDecimal('0.5', 3)).toBe(500);
      expect(parseDecimal('-2', 3)).toBe(-2000);
      expect(parseDecimal('.001', 3)).toBe(1);
      expect(() => parseDecimal('1.2345', 3)).toThrow(BooksError);
      expect(parseDecimal('1.2345', 3, { rounding: 'half-up' })).toBe(1235);
      expect(parseDecimal('1.2345', 3, { rounding: 'half-even' })).toBe(1234);
    });
  });
});

describe('formatDecimal', () => {
  it('formats with exactly `exponent` decimals', () => {
    expect(formatDecimal(minor(1230), 2)).toBe('12.30');
    expect(formatDecimal(minor(-1230), 2)).toBe('-12.30');
    expect(formatDecimal(minor(0), 2)).toBe('0.00');
    expect(formatDecimal(minor(1234), 3)).toBe('1.234');
  });

  it('pads values below one unit with a leading zero', () => {
    expect(formatDecimal(minor(5), 2)).toBe('0.05');
    expect(formatDecimal(minor(-5), 2)).toBe('-0.05');
    expect(formatDecimal(minor(90), 2)).toBe('0.90');
    expect(formatDecimal(minor(7), 3)).toBe('0.007');
  });

  it('prints whole units without a decimal point at exponent 0', () => {
    expect(formatDecimal(minor(1234), 0)).toBe('1234');
    expect(formatDecimal(minor(-7), 0)).toBe('-7');
    expect(formatDecimal(minor(0), 0)).toBe('0');
  });

  it('never prints a negative zero', () => {
    expect(formatDecimal(minor(-0), 2)).toBe('0.00');
  });

  it('round-trips through parseDecimal for many amounts and exponents', () => {
    const next = lcg(20261024);
    const fixed = [0, 1, -1, 5, -5, 99, -99, 100, -100, 1230, -1230, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (const exponent of [0, 2, 3]) {
      const randoms = Array.from({ length: 200 }, () => intIn(next, -10_000_000, 10_000_000));
      for (const value of [...fixed, ...randoms]) {
        const amount = minor(value);
        const text = formatDecimal(amount, exponent);
        expect(parseDecimal(text, exponent), `${value} at exponent ${exponent} via "${text}"`).toBe(amount);
      }
    }
  });
});

describe('divRound', () => {
  it('returns exact quotients unchanged in every mode', () => {
    for (const mode of ['half-up', 'half-even', 'down'] as const) {
      expect(divRound(10n, 5n, mode)).toBe(2n);
      expect(divRound(-10n, 5n, mode)).toBe(-2n);
      expect(divRound(0n, 7n, mode)).toBe(0n);
    }
  });

  it("'half-up' rounds halves away from zero", () => {
    expect(divRound(5n, 2n, 'half-up')).toBe(3n);
    expect(divRound(7n, 2n, 'half-up')).toBe(4n);
    expect(divRound(-5n, 2n, 'half-up')).toBe(-3n);
    expect(divRound(5n, -2n, 'half-up')).toBe(-3n);
    expect(divRound(-5n, -2n, 'half-up')).toBe(3n);
  });

  it("'half-up' rounds below/above the half to the nearest", () => {
    expect(divRound(4n, 3n, 'half-up')).toBe(1n); // 1.33
    expect(divRound(5n, 3n, 'half-up')).toBe(2n); // 1.67
    expect(divRound(-4n, 3n, 'half-up')).toBe(-1n);
    expect(divRound(-5n, 3n, 'half-up')).toBe(-2n);
    expect(divRound(5n, -3n, 'half-up')).toBe(-2n);
  });

  it("'half-even' rounds halves to the even quotient", () => {
    expect(divRound(5n, 2n, 'half-even')).toBe(2n); // 2.5 → 2
    expect(divRound(7n, 2n, 'half-even')).toBe(4n); // 3.5 → 4
    expect(divRound(1n, 2n, 'half-even')).toBe(0n); // 0.5 → 0
    expect(divRound(-5n, 2n, 'half-even')).toBe(-2n);
    expect(divRound(-7n, 2n, 'half-even')).toBe(-4n);
    expect(divRound(7n, -2n, 'half-even')).toBe(-4n);
    expect(divRound(-7n, -2n, 'half-even')).toBe(4n);
    expect(divRound(5n, 3n, 'half-even')).toBe(2n); // not a half: nearest
  });

  it("'down' truncates towards zero", () => {
    expect(divRound(7n, 2n, 'down')).toBe(3n);
    expect(divRound(-7n, 2n, 'down')).toBe(-3n);
    expect(divRound(7n, -2n, 'down')).toBe(-3n);
    expect(divRound(-7n, -2n, 'down')).toBe(3n);
    expect(divRound(999n, 1000n, 'down')).toBe(0n);
  });

  it('is symmetric: divRound(-n, d) === -divRound(n, d) in every mode', () => {
    const next = lcg(7);
    for (let k = 0; k < 300; k++) {
      const n = BigInt(intIn(next, 0, 1_000_000));
      const d = BigInt(intIn(next, 1, 1000));
      for (const mode of ['half-up', 'half-even', 'down'] as const) {
        expect(divRound(-n, d, mode)).toBe(-divRound(n, d, mode));
        expect(divRound(n, -d, mode)).toBe(-divRound(n, d, mode));
      }
    }
  });

  it('rejects division by zero', () => {
    expect(() => divRound(1n, 0n, 'half-up')).toThrow(BooksError);
    expect(() => divRound(1n, 0n, 'half-up')).toThrow('division by zero');
  });
});

describe('allocate', () => {
  it('splits proportionally when the shares are exact', () => {
    expect(allocate(minor(1000), [1, 3])).toEqual([250, 750]);
    expect(allocate(minor(1000), [2500n, 7500n])).toEqual([250, 750]);
  });

  it('gives the remainder to the largest fractional parts', () => {
    // 5 × 1/3 = 1.67, 5 × 2/3 = 3.33: the first share has the larger fraction.
    expect(allocate(minor(5), [1, 2])).toEqual([2, 3]);
    // 10 over 3:3:4 → 3, 3, 4 exactly; 11 → 3.3, 3.3, 4.4 → remainder to the last.
    expect(allocate(minor(11), [3, 3, 4])).toEqual([3, 3, 5]);
  });

  it('breaks ties in favour of the earlier index', () => {
    expect(allocate(minor(100), [1, 1, 1])).toEqual([34, 33, 33]);
    expect(allocate(minor(2), [1, 1, 1])).toEqual([1, 1, 0]);
    expect(allocate(minor(1), [5, 5])).toEqual([1, 0]);
  });

  it('mirrors negative totals', () => {
    expect(allocate(minor(-100), [1, 1, 1])).toEqual([-34, -33, -33]);
    expect(allocate(minor(-5), [1, 2])).toEqual([-2, -3]);
  });

  it('gives zero-weight entries nothing, and never -0', () => {
    expect(allocate(minor(7), [0, 1, 0, 1])).toEqual([0, 4, 0, 3]);
    const negative = allocate(minor(-7), [0, 1, 0, 1]);
    expect(negative).toEqual([0, -4, 0, -3]);
    expect(Object.is(negative[0], 0)).toBe(true);
  });

  it('spreads evenly when all weights are zero', () => {
    expect(allocate(minor(10), [0, 0, 0])).toEqual([4, 3, 3]);
    expect(allocate(minor(-10), [0, 0, 0])).toEqual([-4, -3, -3]);
    expect(allocate(minor(0), [0, 0])).toEqual([0, 0]);
  });

  it('puts the whole total on a single weight', () => {
    expect(allocate(minor(12345), [7])).toEqual([12345]);
  });

  it('rejects negative weights and an empty weight list', () => {
    expect(() => allocate(minor(100), [1, -1])).toThrow(BooksError);
    expect(() => allocate(minor(100), [1, -1])).toThrow('must not be negative');
    expect(() => allocate(minor(100), [-1n])).toThrow(BooksError);
    expect(() => allocate(minor(100), [])).toThrow(BooksError);
  });

  it('always sums to the total, with each share within one unit of its exact proportion (500 seeded cases)', () => {
    const next = lcg(0xc0ffee);
    for (let k = 0; k < 500; k++) {
      const total = minor(intIn(next, -1_000_000, 1_000_000));
      const count = intIn(next, 1, 8);
      const weights = Array.from({ length: count }, () => (next() < 0.25 ? 0 : intIn(next, 1, 100_000)));
      const shares = allocate(total, weights);
      const label = `allocate(${total}, [${weights.join(', ')}]) = [${shares.join(', ')}]`;

      expect(shares, label).toHaveLength(count);
      expect(sum(shares), label).toBe(total);
      for (const share of shares) expect(Number.isSafeInteger(share), label).toBe(true);

      const weightSum = weights.reduce((a, b) => a + b, 0);
      if (weightSum === 0) {
        // Even spread: shares differ by at most one unit.
        expect(Math.max(...shares) - Math.min(...shares), label).toBeLessThanOrEqual(1);
        continue;
      }
      weights.forEach((w, i) => {
        const share = shares[i]!;
        if (w === 0) expect(share, label).toBe(0);
        // Same sign as the total (or zero).
        expect(Math.sign(share) * Math.sign(total), label).toBeGreaterThanOrEqual(0);
        // |share| is the floor or the ceiling of the exact proportion.
        const exactTimesSum = BigInt(Math.abs(total)) * BigInt(w);
        const floor = exactTimesSum / BigInt(weightSum);
        expect(BigInt(Math.abs(share)) - floor, label).toBeGreaterThanOrEqual(0n);
        expect(BigInt(Math.abs(share)) - floor, label).toBeLessThanOrEqual(1n);
      });
    }
  });

  it('is deterministic: the same input gives the same shares', () => {
    const weights = [3, 0, 7, 7, 1];
    expect(allocate(minor(1001), weights)).toEqual(allocate(minor(1001), weights));
  });
});

describe('roundToStep (CHF 5-Rappen rounding)', () => {
  const chf = (text: string): Minor => parseDecimal(text, 2);

  it('rounds 1.02 down to 1.00 and 1.03 up to 1.05', () => {
    expect(roundToStep(chf('1.02'), 5)).toBe(100);
    expect(roundToStep(chf('1.03'), 5)).toBe(105);
    expect(roundToStep(chf('1.07'), 5)).toBe(105);
    expect(roundToStep(chf('1.08'), 5)).toBe(110);
  });

  it('leaves multiples of the step alone', () => {
    expect(roundToStep(chf('1.05'), 5)).toBe(105);
    expect(roundToStep(chf('0'), 5)).toBe(0);
  });

  it('rounds an exact half (1.025, in thousandths) up to 1.05 with half-up', () => {
    // In Rappen a step of 5 never meets an exact half; at three decimals 1.025 lies halfway
    // between 1.000 and 1.050.
    const thousandths = parseDecimal('1.025', 3);
    expect(roundToStep(thousandths, 50)).toBe(1050);
    expect(roundToStep(thousandths, 50, 'half-up')).toBe(1050);
    expect(roundToStep(thousandths, 50, 'half-even')).toBe(1000);
    expect(roundToStep(thousandths, 50, 'down')).toBe(1000);
  });

  it('rounds negatives symmetrically (half away from zero)', () => {
    expect(roundToStep(chf('-1.02'), 5)).toBe(-100);
    expect(roundToStep(chf('-1.03'), 5)).toBe(-105);
    expect(roundToStep(parseDecimal('-1.025', 3), 50)).toBe(-1050);
    expect(Object.is(roundToStep(chf('-0.02'), 5), 0)).toBe(true);
  });

  it('honours the mode with an even step', () => {
    expect(roundToStep(minor(105), 10, 'half-up')).toBe(110);
    expect(roundToStep(minor(105), 10, 'half-even')).toBe(100);
    expect(roundToStep(minor(115), 10, 'half-even')).toBe(120);
    expect(roundToStep(minor(109), 10, 'down')).toBe(100);
  });

  it('rejects steps that are not positive integers', () => {
    expect(() => roundToStep(minor(100), 0)).toThrow(BooksError);
    expect(() => roundToStep(minor(100), -5)).toThrow(BooksError);
    expect(() => roundToStep(minor(100), 2.5)).toThrow(/positive integer/);
  });
});

describe('currencyExponent', () => {
  it('knows the ISO 4217 exponents of the shops’ currencies', () => {
    expect(currencyExponent('CHF')).toBe(2);
    expect(currencyExponent('SEK')).toBe(2);
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
  });

  it('rejects unknown codes with a BooksError naming the code', () => {
    expect(() => currencyExponent('XYZ')).toThrow(BooksError);
    expect(() => currencyExponent('XYZ')).toThrow('unknown currency "XYZ"');
    expect(() => currencyExponent('chf')).toThrow(BooksError);
    expect(() => currencyExponent('')).toThrow(BooksError);
  });

  it('isKnownCurrency agrees', () => {
    expect(isKnownCurrency('CHF')).toBe(true);
    expect(isKnownCurrency('XYZ')).toBe(false);
    expect(isKnownCurrency('toString')).toBe(false);
  });

  // BUG (src/books/currency.ts): EXPONENTS is a plain object literal and currencyExponent
  // reads EXPONENTS[code] without an own-property check, so inherited Object.prototype
  // members count as currencies: currencyExponent('toString') returns the function
  // Object.prototype.toString instead of throwing, ('constructor' → Object, '__proto__' →
  // Object.prototype). isKnownCurrency uses Object.hasOwn and is right. Fix: check
  // Object.hasOwn(EXPONENTS, code) (or use a Map / Object.create(null)).
  it('rejects names inherited from Object.prototype ("toString", "constructor", "__proto__")', () => {
    expect(() => currencyExponent('toString')).toThrow(BooksError);
    expect(() => currencyExponent('constructor')).toThrow(BooksError);
    expect(() => currencyExponent('__proto__')).toThrow(BooksError);
  });
});
