import { describe, expect, it } from 'vitest';
import { BooksError } from '../src/books/errors.js';
import { formatDecimal, minor, parseDecimal, type Minor } from '../src/books/money.js';
import { lcg } from './random.js';
import { formatRate, rateOn, SWISS_VAT, vatFromGross, vatFromNet, vatRate, type VatPeriod } from '../src/books/vat.js';

const chf = (text: string): Minor => parseDecimal(text, 2);

describe('vatRate', () => {
  it('holds a percentage in basis points of a percent', () => {
    expect(vatRate('8.1')).toBe(810);
    expect(vatRate('2.6')).toBe(260);
    expect(vatRate('7.7')).toBe(770);
    expect(vatRate('25')).toBe(2500);
    expect(vatRate('0')).toBe(0);
    expect(vatRate('100')).toBe(10_000);
    expect(vatRate('8.10')).toBe(810);
  });

  it('accepts JSON numbers like WooCommerce rate_percent', () => {
    expect(vatRate(8.1)).toBe(810);
    expect(vatRate(25)).toBe(2500);
    expect(vatRate(0)).toBe(0);
  });

  it('rejects rates above 100 %', () => {
    expect(() => vatRate('100.01')).toThrow(BooksError);
    expect(() => vatRate('101')).toThrow('outside 0–100 %');
    expect(() => vatRate(250)).toThrow(BooksError);
  });

  it('rejects negative rates', () => {
    expect(() => vatRate('-0.01')).toThrow(BooksError);
    expect(() => vatRate('-8.1')).toThrow('outside 0–100 %');
    expect(() => vatRate(-1)).toThrow(BooksError);
  });

  it('rejects three or more decimals instead of rounding them', () => {
    expect(() => vatRate('8.125')).toThrow(BooksError);
    expect(() => vatRate('7.6923')).toThrow(BooksError);
    expect(() => vatRate(8.125)).toThrow(BooksError);
  });

  it('rejects text that is not a decimal', () => {
    expect(() => vatRate('8,1')).toThrow(BooksError);
    expect(() => vatRate('8.1%')).toThrow(BooksError);
    expect(() => vatRate('')).toThrow(BooksError);
  });
});

describe('formatRate', () => {
  it('prints whole rates without decimals', () => {
    expect(formatRate(vatRate('8'))).toBe('8');
    expect(formatRate(vatRate('25'))).toBe('25');
    expect(formatRate(vatRate('0'))).toBe('0');
    expect(formatRate(vatRate('100'))).toBe('100');
  });

  it('prints the significant decimals only', () => {
    expect(formatRate(vatRate('8.1'))).toBe('8.1');
    expect(formatRate(vatRate('2.5'))).toBe('2.5');
    expect(formatRate(vatRate('3.8'))).toBe('3.8');
    expect(formatRate(vatRate('8.05'))).toBe('8.05');
    expect(formatRate(vatRate('0.05'))).toBe('0.05');
    expect(formatRate(vatRate('12.34'))).toBe('12.34');
  });

  it('round-trips through vatRate for every rate from 0 to 100 % in 0.01 steps', () => {
    for (let bp = 0; bp <= 10_000; bp++) {
      const rate = vatRate(formatDecimal(minor(bp), 2));
      expect(rate).toBe(bp);
      expect(vatRate(formatRate(rate))).toBe(rate);
    }
  });
});

describe('vatFromNet', () => {
  it('computes 8.1 % of 100.00 as 8.10', () => {
    expect(vatFromNet(chf('100.00'), vatRate('8.1'))).toBe(chf('8.10'));
  });

  it('computes 8 % of 925.93 as 74.07 (74.0744 rounded)', () => {
    expect(vatFromNet(chf('925.93'), vatRate('8'))).toBe(chf('74.07'));
  });

  it('rounds half up by default, and honours the mode', () => {
    // 0.50 × 9 % = 0.045
    expect(vatFromNet(chf('0.50'), vatRate('9'))).toBe(5);
    expect(vatFromNet(chf('0.50'), vatRate('9'), 'half-up')).toBe(5);
    expect(vatFromNet(chf('0.50'), vatRate('9'), 'half-even')).toBe(4);
    expect(vatFromNet(chf('0.50'), vatRate('9'), 'down')).toBe(4);
  });

  it('rounds negative nets (discounts, credit notes) symmetrically', () => {
    expect(vatFromNet(chf('-100.00'), vatRate('8.1'))).toBe(chf('-8.10'));
    expect(vatFromNet(chf('-0.50'), vatRate('9'))).toBe(-5);
    expect(vatFromNet(chf('-925.93'), vatRate('8'))).toBe(chf('-74.07'));
  });

  it('is zero at 0 % and for a zero net, never -0', () => {
    expect(vatFromNet(chf('123.45'), vatRate('0'))).toBe(0);
    expect(Object.is(vatFromNet(chf('-123.45'), vatRate('0')), 0)).toBe(true);
    expect(vatFromNet(chf('0'), vatRate('8.1'))).toBe(0);
  });

  it('applies the Swedish rates 25 / 12 / 6 %', () => {
    const sek = (text: string): Minor => parseDecimal(text, 2);
    expect(vatFromNet(sek('239.20'), vatRate('25'))).toBe(sek('59.80'));
    expect(vatFromNet(sek('100.00'), vatRate('12'))).toBe(sek('12.00'));
    expect(vatFromNet(sek('99.99'), vatRate('12'))).toBe(sek('12.00')); // 11.9988
    expect(vatFromNet(sek('100.00'), vatRate('6'))).toBe(sek('6.00'));
    expect(vatFromNet(sek('19.25'), vatRate('6'))).toBe(sek('1.16')); // 1.155 → half up
  });
});

describe('vatFromGross', () => {
  it('1000.00 gross at 8 % contains 74.07 VAT, so net 925.93 and net + VAT is exactly 1000.00', () => {
    const gross = chf('1000.00');
    const vat = vatFromGross(gross, vatRate('8'));
    const net = minor(gross - vat);
    expect(vat).toBe(chf('74.07'));
    expect(net).toBe(chf('925.93'));
    expect(net + vat).toBe(gross);
  });

  it('net-first from a rounded unit net drifts off the gross that gross-first keeps', () => {
    // 20 × 50.00 gross at 8 %. Net-first: each unit's net 46.296… is rounded to 46.30,
    // 20 × 46.30 = 926.00, VAT on it 74.08, so the invoice says 1000.08 instead of 1000.00.
    const rate = vatRate('8');
    const unitGross = chf('50.00');
    const unitNet = minor(unitGross - vatFromGross(unitGross, rate));
    expect(unitNet).toBe(chf('46.30'));
    const netFirstNet = minor(unitNet * 20);
    const netFirstTotal = netFirstNet + vatFromNet(netFirstNet, rate);
    expect(formatDecimal(minor(netFirstTotal), 2)).toBe('1000.08');

    // Gross-first on the line: VAT 74.07 is taken out of 1000.00, the net is what is left.
    const lineGross = minor(unitGross * 20);
    const lineVat = vatFromGross(lineGross, rate);
    const lineNet = minor(lineGross - lineVat);
    expect(lineVat).toBe(chf('74.07'));
    expect(lineNet).toBe(chf('925.93'));
    expect(formatDecimal(minor(lineNet + vatFromNet(lineNet, rate)), 2)).toBe('1000.00');
    expect(netFirstTotal).not.toBe(lineGross);
  });

  it('net + VAT always equals gross by construction, and VAT agrees with vatFromNet within one unit', () => {
    const next = lcg(99);
    const rates = ['8.1', '2.6', '3.8', '7.7', '25', '12', '6', '0'].map((r) => vatRate(r));
    for (let k = 0; k < 500; k++) {
      const gross = minor(Math.floor(next() * 2_000_000) - 1_000_000);
      const rate = rates[Math.floor(next() * rates.length)]!;
      const vat = vatFromGross(gross, rate);
      const net = minor(gross - vat);
      expect(net + vat).toBe(gross);
      // Re-deriving the VAT from the net lands at most one minor unit away.
      expect(Math.abs(vatFromNet(net, rate) - vat), `${gross} at ${rate}`).toBeLessThanOrEqual(1);
    }
  });

  it('extracts the Swedish 25 / 12 / 6 % from gross prices', () => {
    const sek = (text: string): Minor => parseDecimal(text, 2);
    // 299.00 SEK incl. 25 %: 299 × 25 / 125 = 59.80
    expect(vatFromGross(sek('299.00'), vatRate('25'))).toBe(sek('59.80'));
    // 112.00 incl. 12 %: exactly 12.00
    expect(vatFromGross(sek('112.00'), vatRate('12'))).toBe(sek('12.00'));
    // 100.00 incl. 6 %: 5.6603… → 5.66
    expect(vatFromGross(sek('100.00'), vatRate('6'))).toBe(sek('5.66'));
    // 100.00 incl. 25 % is 20.00 VAT on 80.00 net.
    expect(vatFromGross(sek('100.00'), vatRate('25'))).toBe(sek('20.00'));
  });

  it('rounds negatives symmetrically and honours the mode', () => {
    expect(vatFromGross(chf('-1000.00'), vatRate('8'))).toBe(chf('-74.07'));
    // Exact halves need rate / (1 + rate) to reach a half: at 100 % the VAT is gross / 2.
    expect(vatFromGross(chf('0.05'), vatRate('100'), 'half-up')).toBe(3);
    expect(vatFromGross(chf('0.05'), vatRate('100'), 'half-even')).toBe(2);
    expect(vatFromGross(chf('0.07'), vatRate('100'), 'half-even')).toBe(4);
    expect(vatFromGross(chf('0.05'), vatRate('100'), 'down')).toBe(2);
    expect(vatFromGross(chf('-0.05'), vatRate('100'), 'half-up')).toBe(-3);
  });

  it('is zero at 0 %', () => {
    expect(vatFromGross(chf('999.99'), vatRate('0'))).toBe(0);
  });
});

describe('rateOn', () => {
  it('switches the Swiss standard rate from 7.7 % to 8.1 % on 2024-01-01', () => {
    expect(rateOn(SWISS_VAT, 'standard', '2023-12-31')).toBe(vatRate('7.7'));
    expect(rateOn(SWISS_VAT, 'standard', '2024-01-01')).toBe(vatRate('8.1'));
    expect(rateOn(SWISS_VAT, 'standard', '2018-01-01')).toBe(vatRate('7.7'));
    expect(rateOn(SWISS_VAT, 'standard', '2026-10-24')).toBe(vatRate('8.1'));
  });

  it('switches the reduced rate from 2.5 % to 2.6 %', () => {
    expect(rateOn(SWISS_VAT, 'reduced', '2023-12-31')).toBe(vatRate('2.5'));
    expect(rateOn(SWISS_VAT, 'reduced', '2024-01-01')).toBe(vatRate('2.6'));
  });

  it('switches the accommodation rate from 3.7 % to 3.8 %', () => {
    expect(rateOn(SWISS_VAT, 'accommodation', '2023-12-31')).toBe(vatRate('3.7'));
    expect(rateOn(SWISS_VAT, 'accommodation', '2024-01-01')).toBe(vatRate('3.8'));
  });

  it('has unbounded 0 % codes', () => {
    for (const code of ['exempt', 'export', 'reverse-charge']) {
      expect(rateOn(SWISS_VAT, code, '1995-01-01')).toBe(0);
      expect(rateOn(SWISS_VAT, code, '2099-12-31')).toBe(0);
    }
  });

  it('rejects an unknown code', () => {
    expect(() => rateOn(SWISS_VAT, 'luxury', '2024-06-01')).toThrow(BooksError);
    expect(() => rateOn(SWISS_VAT, 'luxury', '2024-06-01')).toThrow('no VAT rate "luxury" is valid on 2024-06-01');
    expect(() => rateOn(SWISS_VAT, 'Standard', '2024-06-01')).toThrow(BooksError);
  });

  it('rejects a date no period covers', () => {
    expect(() => rateOn(SWISS_VAT, 'standard', '2017-12-31')).toThrow(BooksError);
    expect(() => rateOn(SWISS_VAT, 'reduced', '2017-12-31')).toThrow('no VAT rate "reduced" is valid on 2017-12-31');
  });

  it('treats validFrom and validTo as inclusive and honours a closed period', () => {
    const periods: VatPeriod[] = [{ code: 'x', rate: vatRate('5'), validFrom: '2025-03-01', validTo: '2025-03-31' }];
    expect(rateOn(periods, 'x', '2025-03-01')).toBe(500);
    expect(rateOn(periods, 'x', '2025-03-31')).toBe(500);
    expect(() => rateOn(periods, 'x', '2025-02-28')).toThrow(BooksError);
    expect(() => rateOn(periods, 'x', '2025-04-01')).toThrow(BooksError);
  });

  it('rejects everything on an empty table', () => {
    expect(() => rateOn([], 'standard', '2024-01-01')).toThrow(BooksError);
  });
});
