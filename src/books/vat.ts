/**
 * VAT rates and VAT arithmetic.
 *
 * A rate is held in basis points of a percent (8.1 % = 810) so that every rate the
 * Swiss and Swedish tables use is an exact integer and VAT is computed with bigint
 * division and an explicit rounding mode.
 */
import { BooksError, VatMismatchError } from './errors.js';
import { allocate, divRound, minor, parseDecimal, sub, sum, type Minor, type RoundingMode } from './money.js';

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

/** Swedish VAT (mervärdesskatt): 25 %, 12 % (food, hotels) and 6 % (books, transport). */
export const SWEDISH_VAT: readonly VatPeriod[] = [
  { code: 'standard', rate: vatRate('25') },
  { code: 'reduced', rate: vatRate('12') },
  { code: 'reduced-low', rate: vatRate('6') },
  { code: 'exempt', rate: vatRate('0') },
  { code: 'export', rate: vatRate('0') },
  { code: 'reverse-charge', rate: vatRate('0') },
];

/**
 * How a document's VAT is found.
 * - `basis`: `net` when line amounts are net (VAT is added), `gross` when they include VAT
 *   (VAT is taken out, so 1000.00 gross stays 1000.00).
 * - `rounding`: `per-line` rounds each line's VAT, `per-rate-group` rounds once per group,
 *   `shop` books the shop's own line VAT, accepted only within one minor unit per line of
 *   our per-line figure. Choose the one that reproduces the shop's own totals.
 */
export interface VatMethod {
  basis: 'net' | 'gross';
  rounding: 'per-line' | 'per-rate-group' | 'shop';
  mode?: RoundingMode;
}

export interface VatLineInput {
  /** Net or gross, as `basis` says. Signed: a discount line is negative. */
  amount: Minor;
  rate: VatRate;
  /** Lines that share a group are summed into one VAT amount (rate, VAT code and account). */
  group: string;
  /** The shop's own VAT on this line; required by `rounding: shop`. */
  shopTax?: Minor;
  /** How many shop lines `shopTax` sums, each rounded by the shop: the tolerance of the check. */
  shopLines?: number;
  /**
   * VAT already booked elsewhere that this line takes back (a deposit deduction, A4/A8): used
   * as is under every method, never re-rounded. A group holds only such lines or none.
   */
  fixedVat?: Minor;
  /** Named in errors (`lines[2]`). */
  field?: string;
}

export interface VatLineResult {
  net: Minor;
  vat: Minor;
}

export interface VatGroupResult {
  group: string;
  rate: VatRate;
  net: Minor;
  vat: Minor;
}

function lineVat(amount: Minor, rate: VatRate, basis: VatMethod['basis'], mode: RoundingMode): Minor {
  return basis === 'net' ? vatFromNet(amount, rate, mode) : vatFromGross(amount, rate, mode);
}

/**
 * VAT per line and per group by `method`. Σ line nets + Σ line VAT equals Σ amounts (gross
 * basis) or Σ amounts + Σ VAT (net basis) exactly, and each group's VAT is the sum of its
 * lines' VAT, so documents built from the result balance by construction.
 */
export function computeVat(lines: readonly VatLineInput[], method: VatMethod): { lines: VatLineResult[]; groups: VatGroupResult[] } {
  const mode = method.mode ?? 'half-up';
  const byGroup = new Map<string, number[]>();
  lines.forEach((line, i) => {
    const members = byGroup.get(line.group) ?? [];
    const first = members[0];
    if (first !== undefined && lines[first]!.rate !== line.rate) {
      throw new BooksError(`VAT group "${line.group}" mixes rates ${formatRate(lines[first]!.rate)} % and ${formatRate(line.rate)} %`, { field: line.field });
    }
    if (first !== undefined && (lines[first]!.fixedVat === undefined) !== (line.fixedVat === undefined)) {
      throw new BooksError(`VAT group "${line.group}" mixes lines with given VAT and lines whose VAT is computed`, { field: line.field });
    }
    members.push(i);
    byGroup.set(line.group, members);
  });

  const vat: Minor[] = lines.map((line) => {
    if (line.fixedVat !== undefined) return line.fixedVat;
    if (method.rounding !== 'shop') return lineVat(line.amount, line.rate, method.basis, mode);
    if (line.shopTax === undefined) throw new BooksError(`the shop's VAT is missing on a line`, { field: line.field, hint: 'VAT rounding "shop" needs the VAT of every line' });
    return line.shopTax;
  });

  const groups: VatGroupResult[] = [];
  for (const [group, members] of byGroup) {
    const rate = lines[members[0]!]!.rate;
    const amounts = members.map((i) => lines[i]!.amount);
    // Given VAT (fixedVat) is neither re-rounded nor checked against the shop's.
    const computed = lines[members[0]!]!.fixedVat === undefined;
    if (computed && method.rounding === 'per-rate-group') {
      const target = lineVat(sum(amounts), rate, method.basis, mode);
      // Spread the group's rounding difference over its lines so that line VAT sums to it.
      const perLine = members.map((i) => vat[i]!);
      const difference = sub(target, sum(perLine));
      if (difference !== 0) {
        const shares = allocate(difference, amounts.map((a) => Math.abs(a)));
        members.forEach((i, k) => (vat[i] = minor(vat[i]! + shares[k]!)));
      }
    } else if (computed && method.rounding === 'shop') {
      const ours = sum(members.map((i) => lineVat(lines[i]!.amount, rate, method.basis, mode)));
      const theirs = sum(members.map((i) => vat[i]!));
      const tolerance = sum(members.map((i) => minor(Math.max(1, lines[i]!.shopLines ?? 1))));
      if (Math.abs(theirs - ours) > tolerance) {
        throw new VatMismatchError(
          `the shop's VAT at ${formatRate(rate)} % is ${theirs} minor units, but ${ours} follow from the lines (more than one unit per line apart)`,
          rate,
          theirs,
          ours,
          { field: lines[members[0]!]!.field },
        );
      }
    }
    const groupVat = sum(members.map((i) => vat[i]!));
    const net = sum(members.map((i) => (method.basis === 'net' ? lines[i]!.amount : sub(lines[i]!.amount, vat[i]!))));
    groups.push({ group, rate, net, vat: groupVat });
  }

  return {
    lines: lines.map((line, i) => ({ net: method.basis === 'net' ? line.amount : sub(line.amount, vat[i]!), vat: vat[i]! })),
    groups,
  };
}
