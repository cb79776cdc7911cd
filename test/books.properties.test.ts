/**
 * Property-based tests of books/ and mapOrder: random carts, allocations, VAT, mapped orders,
 * deposit draw-downs, credit notes, stornos and settlements, thousands of cases per run. Every property runs on a fixed seed,
 * so a run is repeatable; on failure fast-check prints the seed, the path and the shrunk
 * counterexample. Money is generated as integers only (fc.integer → minor()); shares of
 * amounts are taken with bigint division, never with floating point.
 *
 * The expected figures come from a small independent model (`model` below) built on
 * vatFromNet / vatFromGross, not from the code under test.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCreditNote, buildStorno, type CreditNoteInput } from '../src/books/credit.js';
import {
  balanceByCurrency,
  postingsOf,
  type Article,
  type BookDocument,
  type CreditNoteDocument,
  type DocumentKey,
  type InvoiceDocument,
  type PaymentDocument,
  type SalesDocument,
  type Variant,
  type VatTreatment,
} from '../src/books/documents.js';
import { BooksError, OverCreditError, OverDeductionError, OverpaymentError, TotalMismatchError, VatMismatchError, VatPeriodSettledError } from '../src/books/errors.js';
import { buildFinalInvoice, buildInvoice, depositReceived, type CashRounding, type InvoiceInput, type LineInput, type TotalCheck } from '../src/books/invoice.js';
import { add, allocate, minor, neg, sub, sum, times, type Minor, type RoundingMode } from '../src/books/money.js';
import { buildPayment, openItemOf, settle, type OpenItem } from '../src/books/payment.js';
import { computeVat, vatFromGross, vatFromNet, vatRate, type VatLineInput, type VatMethod, type VatRate } from '../src/books/vat.js';
import { RecordError } from '../src/errors.js';
import { loadMapping, type Mapping } from '../src/mapping/load.js';
import { mapOrder } from '../src/mapping/map-order.js';
import type { CanonicalOrder, LineKind, OrderLine } from '../src/sources/order.js';

/** Runs per property; the whole file stays well under 20 s. */
const RUNS = {
  invoice: 2500,
  expectedTotal: 2000,
  cash: 2000,
  allocate: 2500,
  coupon: 1500,
  computeVat: 2500,
  shopVat: 2000,
  mapped: 2000,
  mappedPerGroup: 1500,
  final: 1000,
  credit: 1500,
  storno: 1500,
  settle: 3000,
} as const;

/** One fixed seed per property (fast-check reports it, with the path, on failure). */
const seed = (n: number) => 20_250_300 + n;

// ── fixtures ──────────────────────────────────────────────────────────────────────────────

const SWISS: readonly VatTreatment[] = [
  { rate: vatRate('8.1'), code: 'standard', account: '2201' },
  { rate: vatRate('2.6'), code: 'reduced', account: '2203' },
  { rate: vatRate('3.8'), code: 'accommodation', account: '2204' },
  { rate: vatRate('0'), code: 'exempt', account: '' },
];
const SWEDISH: readonly VatTreatment[] = [
  { rate: vatRate('25'), code: 'standard', account: '2611' },
  { rate: vatRate('12'), code: 'reduced', account: '2621' },
  { rate: vatRate('6'), code: 'reduced-low', account: '2631' },
  { rate: vatRate('0'), code: 'exempt', account: '' },
];

type Role = 'revenue' | 'shipping' | 'fee' | 'discount';
const ROLES: readonly Role[] = ['revenue', 'shipping', 'fee', 'discount'];
const ACCOUNT: Record<Role, string> = { revenue: '3200', shipping: '3400', fee: '3600', discount: '3800' };
const RECEIVABLE = '1100';
const ROUNDING_ACCOUNT = '3680';
const TRANSFER = '1099';
const CLEARING = '1090';
const INVOICE_DATE = '2025-03-14';

const articleNumber = (role: Role, vat: VatTreatment) => `${role}-${vat.code}`;
const articlesFor = (table: readonly VatTreatment[]): Article[] =>
  table.flatMap((vat) => ROLES.map((role) => ({ number: articleNumber(role, vat), account: ACCOUNT[role], vat, role })));

/** ⌊a × num / den⌋ for a ≥ 0, in bigint. */
function share(a: Minor, num: number, den: number): Minor {
  return minor((BigInt(a) * BigInt(num)) / BigInt(den));
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const treatmentKey = (vat: VatTreatment) => `${vat.rate}|${vat.code}|${vat.account}`;

// ── carts ─────────────────────────────────────────────────────────────────────────────────

interface CartItem {
  role: Role;
  vat: VatTreatment;
  quantity: number;
  unitPrice: Minor;
}

interface Cart {
  currency: 'CHF' | 'SEK';
  table: readonly VatTreatment[];
  items: CartItem[];
  method: VatMethod;
  variant: Variant;
}

const amountOf = (item: CartItem): Minor => times(item.unitPrice, item.quantity);

/** Small amounts hit every rounding case; large ones the bigint paths. */
const moneyArb = fc.oneof(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 50_000_000 }));
const vatIndexArb = fc.nat({ max: 3 });

const rawCartArb = fc.record({
  swedish: fc.boolean(),
  products: fc.array(fc.record({ vat: vatIndexArb, quantity: fc.integer({ min: 1, max: 100 }), unitPrice: moneyArb }), { minLength: 1, maxLength: 12 }),
  shipping: fc.option(fc.record({ vat: vatIndexArb, amount: fc.integer({ min: 0, max: 5_000 }) }), { nil: undefined }),
  fees: fc.array(fc.record({ vat: vatIndexArb, amount: fc.integer({ min: 0, max: 3_000 }) }), { maxLength: 2 }),
  /** A coupon takes a share of the products at the VAT of the product it targets. */
  coupons: fc.array(
    fc.record({
      target: fc.nat(),
      // Mostly at most the products at that rate; one time in ten more, so that some carts end up negative.
      permille: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 1_000 }), weight: 9 }, { arbitrary: fc.integer({ min: 1_000, max: 1_500 }), weight: 1 }),
    }),
    { maxLength: 3 },
  ),
  basis: fc.constantFrom<VatMethod['basis']>('net', 'gross'),
  rounding: fc.constantFrom<VatMethod['rounding']>('per-line', 'per-rate-group'),
  mode: fc.constantFrom<RoundingMode | undefined>(undefined, 'half-up', 'half-even', 'down'),
  variant: fc.constantFrom<Variant>('booking', 'booking', 'article'),
});

type RawCart = typeof rawCartArb extends fc.Arbitrary<infer T> ? T : never;

function buildCart(raw: RawCart): Cart {
  const table = raw.swedish ? SWEDISH : SWISS;
  const items: CartItem[] = raw.products.map((p) => ({ role: 'revenue', vat: table[p.vat]!, quantity: p.quantity, unitPrice: minor(p.unitPrice) }));
  if (raw.shipping) items.push({ role: 'shipping', vat: table[raw.shipping.vat]!, quantity: 1, unitPrice: minor(raw.shipping.amount) });
  for (const f of raw.fees) items.push({ role: 'fee', vat: table[f.vat]!, quantity: 1, unitPrice: minor(f.amount) });
  const products = items.filter((i) => i.role === 'revenue');
  for (const c of raw.coupons) {
    const vat = products[c.target % products.length]!.vat;
    const base = sum(products.filter((p) => p.vat === vat).map(amountOf));
    // Several coupons on one rate together take at most the products at that rate (unless permille > 1000).
    const amount = share(base, c.permille, 1_000 * raw.coupons.length);
    items.push({ role: 'discount', vat, quantity: 1, unitPrice: neg(amount) });
  }
  return {
    currency: raw.swedish ? 'SEK' : 'CHF',
    table,
    items,
    method: { basis: raw.basis, rounding: raw.rounding, ...(raw.mode ? { mode: raw.mode } : {}) },
    variant: raw.variant,
  };
}

const cartArb = rawCartArb.map(buildCart);

function lineInputs(items: readonly CartItem[], variant: Variant): LineInput[] {
  return items.map((item, i) =>
    variant === 'article'
      ? { text: `Line ${i}`, part: { number: articleNumber(item.role, item.vat), quantity: item.quantity, unitPrice: item.unitPrice } }
      : { role: item.role, text: `Line ${i}`, account: ACCOUNT[item.role], vat: item.vat, amount: amountOf(item) },
  );
}

const key = (kind: DocumentKey['kind'], subject: string, part?: string): DocumentKey => ({ source: 'prop', subject, kind, ...(part ? { part } : {}), revision: 1 });

function invoiceInput(cart: Cart, extra: { expectedTotal?: TotalCheck; cashRounding?: CashRounding } = {}): InvoiceInput {
  return {
    key: key('invoice', 'o1'),
    number: 'INV-1',
    orderNumber: '1',
    customerNumber: 'C-1',
    currency: cart.currency,
    date: INVOICE_DATE,
    dueDate: addDays(INVOICE_DATE, 30),
    description: 'Order 1',
    receivableAccount: RECEIVABLE,
    variant: cart.variant,
    ...(cart.variant === 'article' ? { articles: articlesFor(cart.table) } : {}),
    lines: lineInputs(cart.items, cart.variant),
    vat: cart.method,
    ...extra,
  };
}

// ── the independent model ─────────────────────────────────────────────────────────────────

/**
 * Checks that `v` is n / d rounded by `mode`, from the definition: `down` truncates towards
 * zero, the half modes are within half a unit, and a tie goes away from zero (half-up) or to
 * the even neighbour (half-even).
 */
function expectRounded(v: Minor, n: bigint, d: bigint, mode: RoundingMode): void {
  const error = BigInt(v) * d - n; // v − n/d, times d
  const a = n < 0n ? -n : n;
  const av = BigInt(v < 0 ? -v : v);
  if (v !== 0 && (v < 0) !== (n < 0n)) throw new Error(`${v} has the wrong sign for ${n}/${d}`);
  if (mode === 'down') {
    if (!(av * d <= a && a < (av + 1n) * d)) throw new Error(`${v} is not ${n}/${d} truncated`);
    return;
  }
  const twice = 2n * (error < 0n ? -error : error);
  if (twice > d) throw new Error(`${v} is more than half a unit from ${n}/${d}`);
  if (twice === d) {
    const ok = mode === 'half-up' ? av * d > a : av % 2n === 0n;
    if (!ok) throw new Error(`${v} breaks the ${mode} tie of ${n}/${d}`);
  }
}

function lineVat(amount: Minor, rate: VatRate, method: VatMethod): Minor {
  const mode = method.mode ?? 'half-up';
  return method.basis === 'net' ? vatFromNet(amount, rate, mode) : vatFromGross(amount, rate, mode);
}

interface GroupModel {
  vat: VatTreatment;
  amounts: Minor[];
  /** The group's VAT as the method says it must come out. */
  tax: Minor;
  /** The net the VAT is on. */
  base: Minor;
}

interface Model {
  /** In order of first appearance, like the document's tax lines. */
  groups: GroupModel[];
  /** Σ lines + Σ VAT. */
  subtotal: Minor;
}

function model(items: readonly { amount: Minor; vat: VatTreatment }[], method: VatMethod): Model {
  const byKey = new Map<string, GroupModel>();
  for (const item of items) {
    const k = treatmentKey(item.vat);
    const g = byKey.get(k) ?? { vat: item.vat, amounts: [], tax: minor(0), base: minor(0) };
    g.amounts.push(item.amount);
    byKey.set(k, g);
  }
  const groups = [...byKey.values()];
  for (const g of groups) {
    g.tax = method.rounding === 'per-rate-group' ? lineVat(sum(g.amounts), g.vat.rate, method) : sum(g.amounts.map((a) => lineVat(a, g.vat.rate, method)));
    g.base = method.basis === 'net' ? sum(g.amounts) : sub(sum(g.amounts), g.tax);
  }
  const inputs = sum(items.map((i) => i.amount));
  return { groups, subtotal: method.basis === 'net' ? add(inputs, sum(groups.map((g) => g.tax))) : inputs };
}

const cartModel = (cart: Cart) => model(cart.items.map((i) => ({ amount: amountOf(i), vat: i.vat })), cart.method);

// ── soundness of any document ─────────────────────────────────────────────────────────────

function expectSafe(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount)) throw new Error(`${what} = ${amount} is not a safe integer`);
}

/** Postings sum to exactly 0, every amount is a safe integer, total = Σ lines + Σ tax + Σ rounding. */
function expectSound(doc: BookDocument): void {
  let balance = 0n;
  for (const p of postingsOf(doc)) {
    expectSafe(p.amount, `posting ${p.account}`);
    balance += BigInt(p.amount);
  }
  expect(balance).toBe(0n);
  if (doc.kind === 'payment') {
    expectSafe(doc.amount, 'payment amount');
    return;
  }
  if (doc.kind === 'customer') return;
  const sales: SalesDocument = doc;
  sales.lines.forEach((l, i) => {
    expectSafe(l.amount, `lines[${i}].amount`);
    if (l.part) expectSafe(l.part.unitPrice, `lines[${i}].part.unitPrice`);
  });
  sales.tax.forEach((t, i) => {
    expectSafe(t.base, `tax[${i}].base`);
    expectSafe(t.amount, `tax[${i}].amount`);
  });
  sales.rounding.forEach((r, i) => expectSafe(r.amount, `rounding[${i}].amount`));
  expectSafe(sales.total, 'total');
  expect(sales.total).toBe(sum([...sales.lines.map((l) => l.amount), ...sales.tax.map((t) => t.amount), ...sales.rounding.map((r) => r.amount)]));
}

/** Σ postings on `account` (0 when none). */
function balanceOn(docs: readonly BookDocument[], account: string | undefined, currency: string): Minor {
  return balanceByCurrency(docs, account)[currency] ?? minor(0);
}

function invoiceOf(cart: Cart, extra: Parameters<typeof invoiceInput>[1] = {}): InvoiceDocument {
  return buildInvoice(invoiceInput(cart, extra));
}

// ── 1–3: invoices ─────────────────────────────────────────────────────────────────────────

describe('buildInvoice on random carts', () => {
  it('balances, books VAT per rate group exactly as the method says, and keeps gross totals', () => {
    fc.assert(
      fc.property(cartArb, (cart) => {
        const m = cartModel(cart);
        if (m.subtotal < 0) {
          expect(() => invoiceOf(cart)).toThrow(/negative total/);
          return;
        }
        const invoice = invoiceOf(cart);
        expectSound(invoice);
        expect(invoice.rounding).toEqual([]);
        expect(invoice.total).toBe(m.subtotal);

        // One tax line per VAT treatment that carries VAT, in order of first appearance.
        const expectedTax = m.groups
          .filter((g) => g.tax !== 0)
          .map((g) => ({ account: g.vat.account, rate: g.vat.rate, code: g.vat.code, base: g.base, amount: g.tax }));
        expect(invoice.tax).toEqual(expectedTax);
        for (const t of invoice.tax) {
          const mode = cart.method.mode ?? 'half-up';
          if (cart.method.rounding === 'per-rate-group') {
            expect(t.amount).toBe(cart.method.basis === 'net' ? vatFromNet(t.base, t.rate, mode) : vatFromGross(add(t.base, t.amount), t.rate, mode));
          } else {
            const items = cart.items.filter((i) => treatmentKey(i.vat) === `${t.rate}|${t.code}|${t.account}`);
            expect(t.amount).toBe(sum(items.map((i) => lineVat(amountOf(i), t.rate, cart.method))));
          }
        }

        // Lines: same order, same accounts and VAT; net basis books the input as is.
        expect(invoice.lines).toHaveLength(cart.items.length);
        cart.items.forEach((item, i) => {
          const line = invoice.lines[i]!;
          expect(line.vat).toEqual(item.vat);
          expect(line.account).toBe(ACCOUNT[item.role]);
          expect(line.role).toBe(item.role);
          if (cart.method.basis === 'net') expect(line.amount).toBe(amountOf(item));
          else if (cart.method.rounding === 'per-line') expect(line.amount).toBe(sub(amountOf(item), lineVat(amountOf(item), item.vat.rate, cart.method)));
          if (cart.variant === 'article') expect(line.part).toMatchObject({ quantity: item.quantity, unitPrice: item.unitPrice });
        });
        // Each group's line nets sum to the group's base, also when its VAT is zero.
        for (const g of m.groups) {
          expect(sum(invoice.lines.filter((l) => treatmentKey(l.vat) === treatmentKey(g.vat)).map((l) => l.amount))).toBe(g.base);
        }
        // Gross basis: the gross input is the total, to the minor unit.
        if (cart.method.basis === 'gross') expect(invoice.total).toBe(sum(cart.items.map(amountOf)));
      }),
      { numRuns: RUNS.invoice, seed: seed(1) },
    );
  });

  it('expectedTotal: a residue within the cap becomes one rounding line, beyond it a TotalMismatchError', () => {
    fc.assert(
      fc.property(cartArb, fc.integer({ min: -150, max: 150 }), fc.integer({ min: 0, max: 100 }), (cart, r, maxResidue) => {
        const m = cartModel(cart);
        const expected = minor(m.subtotal + r);
        const run = () => invoiceOf(cart, { expectedTotal: { expected, account: ROUNDING_ACCOUNT, maxResidue } });
        if (Math.abs(r) > maxResidue) {
          let error: unknown;
          try {
            run();
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(TotalMismatchError);
          expect(error).toMatchObject({ expected, computed: m.subtotal, maxResidue });
          return;
        }
        if (expected < 0) {
          expect(run).toThrow(/negative total/);
          return;
        }
        const invoice = run();
        expectSound(invoice);
        expect(invoice.total).toBe(expected);
        expect(invoice.rounding).toEqual(r === 0 ? [] : [{ account: ROUNDING_ACCOUNT, amount: r, text: 'Rounding difference', reason: 'residue' }]);
        expect(sum(invoice.tax.map((t) => t.amount))).toBe(sum(m.groups.map((g) => g.tax)));
      }),
      { numRuns: RUNS.expectedTotal, seed: seed(2) },
    );
  });

  it('cash rounding: the total is a multiple of the step, the cash line at most half a step, still balanced', () => {
    fc.assert(
      fc.property(
        cartArb,
        fc.constantFrom(5, 5, 5, 10, 100, 1),
        fc.constantFrom<RoundingMode | undefined>(undefined, 'half-up', 'half-even', 'down'),
        fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
        (cart, step, mode, residue) => {
          const m = cartModel(cart);
          const before = residue === undefined ? m.subtotal : minor(m.subtotal + residue);
          const run = () =>
            invoiceOf(cart, {
              cashRounding: { step, account: ROUNDING_ACCOUNT, ...(mode ? { mode } : {}) },
              ...(residue === undefined ? {} : { expectedTotal: { expected: before, account: ROUNDING_ACCOUNT, maxResidue: 5 } }),
            });
          if (before < 0) {
            expect(run).toThrow(BooksError);
            return;
          }
          const invoice = run();
          expectSound(invoice);
          expect(invoice.total % step === 0).toBe(true);
          const cash = invoice.rounding.filter((l) => l.reason === 'cash');
          const cashAmount = sum(cash.map((l) => l.amount));
          expect(cash.length).toBe(before % step === 0 ? 0 : 1);
          expect(invoice.total).toBe(add(before, cashAmount));
          if (mode === 'down') {
            expect(cashAmount <= 0 && cashAmount > -step).toBe(true);
          } else {
            expect(Math.abs(cashAmount)).toBeLessThanOrEqual(Math.floor(step / 2));
          }
          if (step === 5 && mode !== 'down') expect(Math.abs(cashAmount)).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: RUNS.cash, seed: seed(3) },
    );
  });
});

// ── 4: allocate ───────────────────────────────────────────────────────────────────────────

describe('allocate', () => {
  const weightArb = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 1_000_000 }), fc.constant(0));

  it('splits exactly, within one unit of the proportional share, deterministically, mirrored for negatives', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -1_000, max: 1_000 }), fc.integer({ min: -1_000_000_000_000, max: 1_000_000_000_000 })),
        fc.array(weightArb, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (t, rawWeights, asBigint) => {
          const total = minor(t);
          const weights: (number | bigint)[] = asBigint ? rawWeights.map((w) => BigInt(w)) : rawWeights;
          const shares = allocate(total, weights);
          expect(shares).toHaveLength(weights.length);
          shares.forEach((s, i) => expectSafe(s, `shares[${i}]`));
          expect(sum(shares)).toBe(total);

          const w = rawWeights.map((x) => BigInt(x));
          let W = w.reduce((a, b) => a + b, 0n);
          const effective = W === 0n ? w.map(() => 1n) : w;
          if (W === 0n) W = BigInt(w.length);
          shares.forEach((s, i) => {
            // |share − total·w/W| < 1, i.e. the share is the floor or the ceiling of the exact share.
            const diff = BigInt(s) * W - BigInt(total) * effective[i]!;
            expect(diff < W && diff > -W).toBe(true);
            if (effective[i] === 0n) expect(Object.is(s, 0)).toBe(true);
          });

          // The units left over go to the largest fractional parts, the earlier index first on a tie.
          const magnitude = BigInt(total < 0 ? -total : total);
          const extra = shares.map((s, i) => (BigInt(s < 0 ? -s : s) * W - magnitude * effective[i]! > 0n ? 1 : 0));
          const fraction = effective.map((x) => (magnitude * x) % W);
          for (let i = 0; i < shares.length; i++) {
            for (let j = 0; j < shares.length; j++) {
              if (extra[i] === 0 && extra[j] === 1) expect(fraction[j]! > fraction[i]! || (fraction[j] === fraction[i] && j < i)).toBe(true);
            }
          }

          expect(allocate(total, weights)).toEqual(shares);
          const mirrored = allocate(neg(total), weights);
          mirrored.forEach((s, i) => expect(Object.is(s, neg(shares[i]!))).toBe(true));
        },
      ),
      { numRuns: RUNS.allocate, seed: seed(4) },
    );
  });

  it('a coupon spread with allocate over lines or over VAT groups still gives a balanced invoice', () => {
    fc.assert(
      fc.property(
        rawCartArb.map((raw) => buildCart({ ...raw, coupons: [] })),
        fc.integer({ min: 0, max: 1_000 }),
        fc.boolean(),
        (cart, permille, overGroups) => {
          const products = cart.items;
          const gross = sum(products.map(amountOf));
          const coupon = share(gross, permille, 1_000);
          const discounts: CartItem[] = [];
          if (overGroups) {
            const groups = [...new Map(products.map((p) => [treatmentKey(p.vat), p.vat])).values()];
            const groupSums = groups.map((vat) => sum(products.filter((p) => p.vat === vat).map(amountOf)));
            const shares = allocate(neg(coupon), groupSums);
            groups.forEach((vat, i) => {
              // No group gives more discount than it has products.
              expect(-shares[i]!).toBeLessThanOrEqual(groupSums[i]!);
              discounts.push({ role: 'discount', vat, quantity: 1, unitPrice: shares[i]! });
            });
          } else {
            const shares = allocate(neg(coupon), products.map(amountOf));
            products.forEach((p, i) => {
              expect(-shares[i]!).toBeLessThanOrEqual(amountOf(p));
              discounts.push({ role: 'discount', vat: p.vat, quantity: 1, unitPrice: shares[i]! });
            });
          }
          expect(sum(discounts.map(amountOf))).toBe(neg(coupon));
          const withCoupon: Cart = { ...cart, items: [...products, ...discounts] };
          const m = cartModel(withCoupon);
          if (m.subtotal < 0) {
            expect(() => invoiceOf(withCoupon)).toThrow(/negative total/);
            return;
          }
          const invoice = invoiceOf(withCoupon);
          expectSound(invoice);
          expect(invoice.total).toBe(m.subtotal);
          if (cart.method.basis === 'gross') expect(invoice.total).toBe(sub(gross, coupon));
        },
      ),
      { numRuns: RUNS.coupon, seed: seed(5) },
    );
  });
});

// ── 5: computeVat ─────────────────────────────────────────────────────────────────────────

const ALL_RATES: readonly VatRate[] = [...SWISS, ...SWEDISH].map((t) => t.rate);

const vatLinesArb = fc.array(
  fc.record({
    amount: fc.oneof(fc.integer({ min: -999, max: 999 }), fc.integer({ min: -10_000_000, max: 10_000_000 })),
    rate: fc.nat({ max: ALL_RATES.length - 1 }),
    /** Two groups may share a rate (two VAT accounts for one rate). */
    split: fc.nat({ max: 1 }),
  }),
  { minLength: 1, maxLength: 15 },
);
const methodArb = fc.record({
  basis: fc.constantFrom<VatMethod['basis']>('net', 'gross'),
  rounding: fc.constantFrom<VatMethod['rounding']>('per-line', 'per-rate-group'),
  mode: fc.constantFrom<RoundingMode>('half-up', 'half-even', 'down'),
});

describe('computeVat', () => {
  it('line VAT sums to the group VAT; per-rate-group rounds once per group; gross lines keep net + VAT = input', () => {
    fc.assert(
      fc.property(vatLinesArb, methodArb, (raw, method) => {
        const lines: VatLineInput[] = raw.map((l, i) => ({ amount: minor(l.amount), rate: ALL_RATES[l.rate]!, group: `${ALL_RATES[l.rate]}/${l.split}`, field: `lines[${i}]` }));
        const result = computeVat(lines, method);
        expect(result.lines).toHaveLength(lines.length);
        lines.forEach((line, i) => {
          const r = result.lines[i]!;
          expectSafe(r.net, 'net');
          expectSafe(r.vat, 'vat');
          if (method.basis === 'gross') expect(add(r.net, r.vat)).toBe(line.amount);
          else expect(r.net).toBe(line.amount);
          if (method.rounding === 'per-line') expect(r.vat).toBe(lineVat(line.amount, line.rate, method));
          // vatFromNet / vatFromGross themselves, against the definition of the rounding.
          const v = lineVat(line.amount, line.rate, method);
          expectRounded(v, BigInt(line.amount) * BigInt(line.rate), method.basis === 'net' ? 10_000n : 10_000n + BigInt(line.rate), method.mode!);
        });
        const groupNames = [...new Set(lines.map((l) => l.group))];
        expect(result.groups.map((g) => g.group)).toEqual(groupNames);
        for (const g of result.groups) {
          const members = lines.flatMap((l, i) => (l.group === g.group ? [i] : []));
          expect(g.rate).toBe(lines[members[0]!]!.rate);
          expect(g.vat).toBe(sum(members.map((i) => result.lines[i]!.vat)));
          expect(g.net).toBe(sum(members.map((i) => result.lines[i]!.net)));
          if (method.rounding === 'per-rate-group') expect(g.vat).toBe(lineVat(sum(members.map((i) => lines[i]!.amount)), g.rate, method));
        }
      }),
      { numRuns: RUNS.computeVat, seed: seed(6) },
    );
  });

  it('shop rounding books the shop VAT within one unit per shop line per group, and refuses more', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            amount: fc.integer({ min: -100_000, max: 100_000 }),
            rate: fc.nat({ max: ALL_RATES.length - 1 }),
            delta: fc.integer({ min: -4, max: 4 }),
            shopLines: fc.integer({ min: 0, max: 3 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.constantFrom<VatMethod['basis']>('net', 'gross'),
        (raw, basis) => {
          const method: VatMethod = { basis, rounding: 'shop' };
          const lines: VatLineInput[] = raw.map((l) => {
            const rate = ALL_RATES[l.rate]!;
            const amount = minor(l.amount);
            return { amount, rate, group: String(rate), shopTax: minor(lineVat(amount, rate, method) + l.delta), ...(l.shopLines ? { shopLines: l.shopLines } : {}) };
          });
          const off = [...new Set(lines.map((l) => l.group))].some((group) => {
            const members = raw.filter((_, i) => lines[i]!.group === group);
            const drift = members.reduce((a, l) => a + l.delta, 0);
            const tolerance = members.reduce((a, l) => a + Math.max(1, l.shopLines), 0);
            return Math.abs(drift) > tolerance;
          });
          if (off) {
            expect(() => computeVat(lines, method)).toThrow(VatMismatchError);
            return;
          }
          const result = computeVat(lines, method);
          lines.forEach((l, i) => expect(result.lines[i]!.vat).toBe(l.shopTax));
        },
      ),
      { numRuns: RUNS.shopVat, seed: seed(7) },
    );
  });
});

// ── 6: random mapped orders end to end ────────────────────────────────────────────────────

const MAPPING_FILE = fileURLToPath(new URL('../mappings/woocommerce-ch.yaml', import.meta.url));
const MAPPING: Mapping = loadMapping(MAPPING_FILE);
const PER_GROUP_MAPPING: Mapping = { ...MAPPING, spec: { ...MAPPING.spec, vat: { ...MAPPING.spec.vat, rounding: 'per_rate_group' } } };
const MAPPED_RATES: readonly VatRate[] = [vatRate('8.1'), vatRate('2.6'), vatRate('0')];

const orderLineArb = fc.record({
  kind: fc.constantFrom<LineKind>('product', 'product', 'product', 'shipping', 'fee'),
  rate: fc.nat({ max: MAPPED_RATES.length - 1 }),
  quantity: fc.integer({ min: 1, max: 20 }),
  unitNet: fc.oneof(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 250_000 })),
  discountPermille: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000 })),
  /** A negative fee (a discount booked as a fee), one time in ten. */
  negative: fc.nat({ max: 9 }).map((n) => n === 0),
});

const rawOrderArb = fc.record({
  // At least one product with a price, so that the invoice has a line.
  first: orderLineArb.map((l) => ({ ...l, kind: 'product' as const, unitNet: Math.max(1, l.unitNet) })),
  rest: fc.array(orderLineArb, { maxLength: 10 }),
  createdAt: fc.date({ min: new Date('2025-01-01T00:00:00.000Z'), max: new Date('2026-12-31T12:00:00.000Z'), noInvalidDate: true }),
  status: fc.constantFrom('processing', 'completed', 'completed', 'on-hold'),
  guest: fc.boolean(),
  pricesIncludeTax: fc.boolean(),
  coupon: fc.constantFrom('', 'SUMMER10', 'VIP'),
  id: fc.integer({ min: 1, max: 999_999 }),
  /** Paid through a provider with a clearing account (stripe, twint), by bank transfer (bacs), or not yet. */
  payment: fc.option(fc.record({ method: fc.constantFrom('stripe', 'twint', 'bacs'), paid: fc.boolean() }), { nil: undefined }),
  /** Zero in four orders of five: otherwise the shop's total is off by a few units. */
  drift: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: -8, max: 8 }), weight: 2 }),
});

const FIELD: Record<LineKind, string> = { product: 'line_items', shipping: 'shipping_lines', fee: 'fee_lines', discount: 'discount_lines' };

/**
 * A consistent order: line tax = vatFromNet(net) per line, taxBeforeDiscount =
 * vatFromNet(netBeforeDiscount), total = Σ net + Σ tax (+ `drift`, usually zero).
 */
function canonicalOrder(raw: typeof rawOrderArb extends fc.Arbitrary<infer T> ? T : never): CanonicalOrder {
  const lines: OrderLine[] = [raw.first, ...raw.rest].map((l, i) => {
    const vatRate = MAPPED_RATES[l.rate]!;
    const unit = minor(l.kind === 'fee' && l.negative ? -l.unitNet : l.unitNet);
    const quantity = l.kind === 'product' ? l.quantity : 1;
    const netBeforeDiscount = times(unit, quantity);
    const net = l.kind === 'product' ? sub(netBeforeDiscount, share(netBeforeDiscount, l.discountPermille, 1_000)) : netBeforeDiscount;
    return {
      kind: l.kind,
      ref: String(i + 1),
      field: `${FIELD[l.kind]}[${i}]`,
      sku: `SKU-${i}`,
      name: `Item ${i}`,
      quantity,
      categories: [],
      netBeforeDiscount,
      net,
      tax: vatFromNet(net, vatRate),
      taxBeforeDiscount: vatFromNet(netBeforeDiscount, vatRate),
      vatRate,
    };
  });
  const discount = sum(lines.map((l) => sub(l.netBeforeDiscount, l.net)));
  const discountTax = sum(lines.map((l) => sub(l.taxBeforeDiscount, l.tax)));
  const taxTotals = MAPPED_RATES.filter((rate) => lines.some((l) => l.vatRate === rate)).map((rate) => ({
    rate,
    label: `MWST ${rate}`,
    tax: sum(lines.filter((l) => l.vatRate === rate).map((l) => l.tax)),
  }));
  const totalTax = sum(lines.map((l) => l.tax));
  const createdAt = raw.createdAt.toISOString();
  return {
    source: 'shop',
    id: String(raw.id),
    number: String(raw.id),
    status: raw.status,
    test: false,
    createdAt,
    updatedAt: createdAt,
    currency: 'CHF',
    pricesIncludeTax: raw.pricesIncludeTax,
    customer: {
      id: raw.guest ? null : String(raw.id + 7),
      email: `buyer${raw.id}@example.ch`,
      firstName: 'Anna',
      lastName: 'Muster',
      company: '',
      phone: '',
      vatId: '',
      billing: { street: 'Bahnhofstrasse 1', street2: '', zipcode: '8001', city: 'Zürich', state: 'ZH', country: 'CH' },
      shipping: null,
    },
    lines,
    coupons: discount !== 0 && raw.coupon ? [{ code: raw.coupon, discount, discountTax }] : [],
    taxTotals,
    totalTax,
    total: add(sum(lines.map((l) => l.net)), totalTax, minor(raw.drift)),
    payment: raw.payment ? { method: raw.payment.method, title: raw.payment.method, transactionId: `tx-${raw.id}`, paidAt: raw.payment.paid ? createdAt : null, amount: null, fee: minor(0) } : null,
    completedAt: null,
    refunds: [],
    meta: {},
  };
}

const orderArb = rawOrderArb.map(canonicalOrder);

/** The order's total less Σ net + Σ tax of its lines. */
const driftOf = (order: CanonicalOrder): Minor => sub(order.total, sum(order.lines.flatMap((l) => [l.net, l.tax])));

/** Σ over the order's lines at each rate, zero entries dropped. */
function byRate(order: CanonicalOrder, f: (l: OrderLine) => Minor): Map<number, Minor> {
  const out = new Map<number, Minor>();
  for (const l of order.lines) out.set(l.vatRate, add(out.get(l.vatRate) ?? minor(0), f(l)));
  for (const [rate, amount] of out) if (amount === 0) out.delete(rate);
  return out;
}

async function mapDocuments(order: CanonicalOrder, mapping: Mapping) {
  const outcome = await mapOrder(order, mapping);
  if (outcome.kind !== 'documents') throw new Error(`expected documents, got ${outcome.kind}: ${outcome.reason}`);
  return { customer: outcome.customer!, invoice: outcome.invoice!, payments: outcome.documents.filter((d): d is PaymentDocument => d.kind === 'payment') };
}

describe('mapOrder on random consistent orders (mappings/woocommerce-ch.yaml)', () => {
  it('per_line: balances, reproduces the order total (a drift only within the cap), and books the shop VAT per rate', async () => {
    await fc.assert(
      fc.asyncProperty(orderArb, async (order) => {
        if (!['processing', 'completed'].includes(order.status)) {
          expect((await mapOrder(order, MAPPING)).kind).toBe('skipped');
          return;
        }
        const drift = driftOf(order);
        if (Math.abs(drift) > MAPPING.spec.rounding.max_residue) {
          await expect(mapOrder(order, MAPPING)).rejects.toThrow(/max_residue/);
          return;
        }
        if (order.total < 0) {
          await expect(mapOrder(order, MAPPING)).rejects.toThrow(RecordError);
          return;
        }
        const { customer, invoice, payments } = await mapDocuments(order, MAPPING);
        expectSound(invoice);
        // An order a provider collected is paid in full on the provider's clearing account.
        const clearing = order.payment?.paidAt ? MAPPING.spec.payments.clearing[order.payment.method] : undefined;
        if (clearing && invoice.total > 0) {
          expect(payments.map((p) => [p.appliesTo, p.account, p.amount, p.purpose])).toEqual([[invoice.number, clearing, invoice.total, 'payment']]);
        } else expect(payments).toEqual([]);
        payments.forEach(expectSound);
        expect(balanceOn([invoice, ...payments], RECEIVABLE, invoice.currency)).toBe(clearing ? 0 : invoice.total);
        expect(customer.number).toBe(order.customer.id ? `WC-${order.customer.id}` : `WC-G${order.id}`);
        expect(invoice.total).toBe(order.total);
        expect(invoice.rounding).toEqual(drift === 0 ? [] : [{ account: ROUNDING_ACCOUNT, amount: drift, text: 'Rounding difference', reason: 'residue' }]);
        expect(new Map(invoice.tax.map((t) => [t.rate, t.amount]))).toEqual(byRate(order, (l) => l.tax));
        for (const t of invoice.tax) expect(t.base).toBe(sum(order.lines.filter((l) => l.vatRate === t.rate).map((l) => l.net)));
        expect(sum(invoice.lines.map((l) => l.amount))).toBe(sum(order.lines.map((l) => l.net)));
      }),
      { numRuns: RUNS.mapped, seed: seed(8) },
    );
  });

  it('per_rate_group: VAT once per rate, the total reproduced through a capped residue', async () => {
    await fc.assert(
      fc.asyncProperty(orderArb, async (order) => {
        if (!['processing', 'completed'].includes(order.status)) return;
        const gross = order.pricesIncludeTax;
        const perRate = byRate(order, (l) => (gross ? add(l.net, l.tax) : l.net));
        const expectedTax = new Map<number, Minor>();
        for (const [rate, amount] of perRate) {
          const vat = gross ? vatFromGross(amount, rate as VatRate) : vatFromNet(amount, rate as VatRate);
          if (vat !== 0) expectedTax.set(rate, vat);
        }
        const netSum = sum(order.lines.map((l) => l.net));
        const subtotal = gross ? add(netSum, sum(order.lines.map((l) => l.tax))) : add(netSum, sum([...expectedTax.values()]));
        const residue = sub(order.total, subtotal);
        // Gross prices: the group VAT comes out of the gross, so only the shop's own drift is left.
        if (gross) expect(residue).toBe(driftOf(order));
        if (Math.abs(residue) > PER_GROUP_MAPPING.spec.rounding.max_residue) {
          await expect(mapOrder(order, PER_GROUP_MAPPING)).rejects.toThrow(/max_residue/);
          return;
        }
        if (order.total < 0) {
          await expect(mapOrder(order, PER_GROUP_MAPPING)).rejects.toThrow(RecordError);
          return;
        }
        const { invoice } = await mapDocuments(order, PER_GROUP_MAPPING);
        expectSound(invoice);
        expect(invoice.pricesIncludeVat).toBe(gross);
        expect(invoice.total).toBe(order.total);
        expect(new Map(invoice.tax.map((t) => [t.rate, t.amount]))).toEqual(expectedTax);
        expect(invoice.rounding).toEqual(residue === 0 ? [] : [{ account: ROUNDING_ACCOUNT, amount: residue, text: 'Rounding difference', reason: 'residue' }]);
      }),
      { numRuns: RUNS.mappedPerGroup, seed: seed(9) },
    );
  });
});

// ── deposits and final settlements (A3/A4) ───────────────────────────────────────────────

/** Deposits are booked on two liability accounts (the same VAT and account may repeat in a deposit). */
const DEPOSIT_ACCOUNTS = ['2030', '2031'] as const;

/** Σ tax per VAT treatment over `docs`, zero entries dropped. */
function taxByTreatment(docs: readonly SalesDocument[]): Map<string, Minor> {
  const out = new Map<string, Minor>();
  for (const t of docs.flatMap((d) => d.tax)) {
    const k = `${t.rate}|${t.code}|${t.account}`;
    out.set(k, add(out.get(k) ?? minor(0), t.amount));
  }
  for (const [k, amount] of out) if (amount === 0) out.delete(k);
  return out;
}

describe('final settlements', () => {
  it('drawing deposits down, at once or in parts, takes back exactly their net and their VAT (A3/A4, A7/A8)', () => {
    const depositLineArb = fc.record({
      vat: vatIndexArb,
      account: fc.nat({ max: DEPOSIT_ACCOUNTS.length - 1 }),
      amount: fc.oneof(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 1, max: 5_000_000 })),
    });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.record({
          basis: fc.constantFrom<VatMethod['basis']>('net', 'gross'),
          rounding: fc.constantFrom<VatMethod['rounding']>('per-line', 'per-rate-group'),
          mode: fc.constantFrom<RoundingMode>('half-up', 'half-even', 'down'),
        }),
        fc.array(fc.array(depositLineArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 2 }),
        // Partial settlements before the last one, which takes whatever is left.
        fc.array(
          fc.record({
            permille: fc.integer({ min: 1, max: 999 }),
            tryOverdraw: fc.boolean(),
            revenue: fc.array(fc.record({ vat: vatIndexArb, amount: moneyArb }), { maxLength: 3 }),
          }),
          { maxLength: 3 },
        ),
        fc.array(fc.record({ vat: vatIndexArb, amount: moneyArb }), { maxLength: 3 }),
        fc.constantFrom<Variant>('booking', 'booking', 'article'),
        (swedish, method, depositSpecs, partials, lastRevenue, variant) => {
          const table = swedish ? SWEDISH : SWISS;
          const currency = swedish ? 'SEK' : 'CHF';
          const depositArticle = (account: string, vat: VatTreatment): Article => ({ number: `deposit-${account}-${vat.code}`, account, vat, role: 'deposit' });
          const articles = [...articlesFor(table), ...DEPOSIT_ACCOUNTS.flatMap((account) => table.map((vat) => depositArticle(account, vat)))];
          const common = (n: string) => ({
            variant,
            ...(variant === 'article' ? { articles } : {}),
            key: key('invoice', 'o1', n),
            number: n,
            orderNumber: '1',
            customerNumber: 'C-1',
            currency,
            date: INVOICE_DATE,
            dueDate: addDays(INVOICE_DATE, 30),
            description: n,
            receivableAccount: RECEIVABLE,
            vat: method,
          });
          const deposits = depositSpecs.map((lines, d) =>
            buildInvoice({
              ...common(`D${d}`),
              purpose: 'deposit',
              lines: lines.map((l, i): LineInput => {
                const account = DEPOSIT_ACCOUNTS[l.account]!;
                const vat = table[l.vat]!;
                return variant === 'article'
                  ? { text: `Deposit ${i}`, part: { number: depositArticle(account, vat).number, quantity: 1, unitPrice: minor(l.amount) } }
                  : { text: `Deposit ${i}`, account, vat, amount: minor(l.amount) };
              }),
            }),
          );
          deposits.forEach(expectSound);
          const depositInputs = sum(depositSpecs.flat().map((l) => minor(l.amount)));
          // Every settlement carries enough revenue of its own to stay positive.
          const revenueOf = (extra: readonly { vat: number; amount: number }[]): CartItem[] => [
            { role: 'revenue', vat: table[0]!, quantity: 1, unitPrice: minor(2 * depositInputs + 1) },
            ...extra.map((r) => ({ role: 'revenue' as const, vat: table[r.vat]!, quantity: 1, unitPrice: minor(r.amount) })),
          ];

          const finals: InvoiceDocument[] = [];
          const revenues: CartItem[][] = [];
          const available = (dep: InvoiceDocument) =>
            sub(depositReceived(dep), neg(sum(finals.flatMap((f) => f.lines.filter((l) => l.role === 'deposit-deduction' && l.deposit === dep.number).map((l) => l.amount)))));
          const settleWith = (revenue: CartItem[], draw: Record<string, Minor> | undefined) => {
            const open = deposits.filter((dep) => available(dep) > 0);
            const n = `F${finals.length}`;
            const final = buildFinalInvoice({ ...common(n), lines: lineInputs(revenue, variant), ...(draw ? { draw } : {}) }, open, finals);
            expectSound(final);
            finals.push(final);
            revenues.push(revenue);
          };

          for (const [k, p] of partials.entries()) {
            const open = deposits.filter((dep) => available(dep) > 0);
            if (open.length === 0) break;
            const revenue = revenueOf(p.revenue);
            if (p.tryOverdraw) {
              const dep = open[k % open.length]!;
              const over = { [dep.number]: minor(available(dep) + 1) };
              expect(() => buildFinalInvoice({ ...common('X'), lines: lineInputs(revenue, variant), draw: over }, open, finals)).toThrow(OverDeductionError);
              expect(() => buildFinalInvoice({ ...common('X'), lines: lineInputs(revenue, variant), draw: { [dep.number]: minor(0) } }, open, finals)).toThrow(OverDeductionError);
            }
            settleWith(revenue, Object.fromEntries(open.map((dep) => [dep.number, minor(Math.max(1, share(available(dep), p.permille, 1_000)))])));
            // Never more deducted than received, per deposit and per deposit account.
            for (const dep of deposits) expect(available(dep)).toBeGreaterThanOrEqual(0);
            for (const account of DEPOSIT_ACCOUNTS) expect(balanceOn([...deposits, ...finals], account, currency)).toBeLessThanOrEqual(0);
          }
          if (deposits.some((dep) => available(dep) > 0)) settleWith(revenueOf(lastRevenue), undefined);

          // Everything is drawn: each deposit account is back at zero …
          const all: SalesDocument[] = [...deposits, ...finals];
          for (const account of DEPOSIT_ACCOUNTS) expect(balanceOn(all, account, currency)).toBe(0);
          // … the deposits' VAT is taken back exactly: what is left is the revenue's VAT …
          const revenueModels = revenues.map((items) => model(items.map((i) => ({ amount: amountOf(i), vat: i.vat })), method));
          const revenueTax = new Map<string, Minor>();
          for (const g of revenueModels.flatMap((m) => m.groups)) {
            const k = treatmentKey(g.vat);
            revenueTax.set(k, add(revenueTax.get(k) ?? minor(0), g.tax));
          }
          for (const [k, amount] of revenueTax) if (amount === 0) revenueTax.delete(k);
          expect(taxByTreatment(all)).toEqual(revenueTax);
          // … and the customer pays exactly the revenue, deposits included.
          expect(sum(all.map((d) => d.total))).toBe(sum(revenueModels.map((m) => m.subtotal)));
        },
      ),
      { numRuns: RUNS.final, seed: seed(13) },
    );
  });
});

// ── 7: credit notes ───────────────────────────────────────────────────────────────────────

const creditsArb = fc.array(
  fc.record({
    // A share of what was invoiced at a rate, sometimes all of it (the boundary).
    lines: fc.array(fc.record({ pick: fc.nat(), permille: fc.oneof(fc.integer({ min: 1, max: 800 }), fc.constant(1_000)) }), { minLength: 1, maxLength: 3 }),
    day: fc.integer({ min: 0, max: 90 }),
  }),
  { minLength: 1, maxLength: 6 },
);

function netByRate(lines: readonly { amount: Minor; vat: { rate: VatRate } }[]): Map<number, Minor> {
  const out = new Map<number, Minor>();
  for (const l of lines) out.set(l.vat.rate, add(out.get(l.vat.rate) ?? minor(0), l.amount));
  return out;
}

describe('credit notes', () => {
  it('never credit more than invoiced, in total or per rate: OverCreditError exactly when they would', () => {
    fc.assert(
      fc.property(cartArb, fc.boolean(), creditsArb, (cart, cashRounding, credits) => {
        fc.pre(cartModel(cart).subtotal >= 0);
        // Cash rounding down makes the invoice total less than its lines: the total limit then binds alone.
        const invoice = invoiceOf(cart, cashRounding ? { cashRounding: { step: 5, account: ROUNDING_ACCOUNT } } : {});
        const invoicedNet = netByRate(invoice.lines);
        const onInvoice = [...new Map(cart.items.map((i) => [treatmentKey(i.vat), i.vat])).values()];
        // Mostly rates of the invoice, sometimes one it does not have.
        const choices = [...onInvoice, ...onInvoice, ...cart.table];
        const inputAt = (vat: VatTreatment) => sum(cart.items.filter((i) => i.vat === vat).map(amountOf));

        const accepted: CreditNoteDocument[] = [];
        let creditedTotal = minor(0);
        const creditedNet = new Map<number, Minor>();
        credits.forEach((c, n) => {
          const items: CartItem[] = c.lines.map((l) => {
            const vat = choices[l.pick % choices.length]!;
            const available = inputAt(vat);
            const amount = minor(Math.max(1, share(minor(Math.max(0, available)), l.permille, 1_000)));
            return { role: 'revenue', vat, quantity: -1, unitPrice: amount };
          });
          const m = model(items.map((i) => ({ amount: amountOf(i), vat: i.vat })), cart.method);
          expect(m.subtotal).toBeLessThan(0);
          const noteNet = new Map<number, Minor>();
          for (const g of m.groups) noteNet.set(g.vat.rate, add(noteNet.get(g.vat.rate) ?? minor(0), neg(g.base)));
          const overTotal = creditedTotal - m.subtotal > invoice.total;
          const overRate = [...noteNet].some(([rate, amount]) => add(creditedNet.get(rate) ?? minor(0), amount) > (invoicedNet.get(rate) ?? 0));

          const date = addDays(INVOICE_DATE, c.day);
          const input: CreditNoteInput = {
            key: key('credit-note', 'o1', `c${n}`),
            number: `CN-${n}`,
            date,
            dueDate: date,
            description: `Credit ${n}`,
            variant: cart.variant,
            ...(cart.variant === 'article' ? { articles: articlesFor(cart.table) } : {}),
            lines: lineInputs(items, cart.variant),
            vat: cart.method,
          };
          if (overTotal || overRate) {
            expect(() => buildCreditNote(input, invoice, accepted)).toThrow(OverCreditError);
            return;
          }
          const note = buildCreditNote(input, invoice, accepted);
          expectSound(note);
          expect(note.total).toBe(m.subtotal);
          expect(note.credits).toBe(invoice.number);
          accepted.push(note);
          creditedTotal = sub(creditedTotal, note.total);
          for (const [rate, amount] of noteNet) creditedNet.set(rate, add(creditedNet.get(rate) ?? minor(0), amount));
        });

        expect(-sum(accepted.map((c) => c.total))).toBeLessThanOrEqual(invoice.total);
        for (const [rate, amount] of netByRate(accepted.flatMap((c) => c.lines))) {
          expect(-amount).toBeLessThanOrEqual(invoicedNet.get(rate) ?? 0);
        }
      }),
      { numRuns: RUNS.credit, seed: seed(10) },
    );
  });
});

// ── 8: storno ─────────────────────────────────────────────────────────────────────────────

describe('storno', () => {
  it('mirrors the invoice, nets the transfer account to zero, and leaves −refundDue on the receivable', () => {
    fc.assert(
      fc.property(
        cartArb,
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 1_000 }), { maxLength: 4 }),
        fc.boolean(),
        fc.option(fc.integer({ min: -30, max: 30 }), { nil: undefined }),
        fc.nat({ max: 9 }).map((n) => n === 0),
        (cart, cashRounding, paymentPermilles, payInFull, settledOffset, partlyCredited) => {
          fc.pre(cartModel(cart).subtotal >= 0);
          const invoice = invoiceOf(cart, cashRounding ? { cashRounding: { step: 5, account: ROUNDING_ACCOUNT } } : {});
          const payments: PaymentDocument[] = [];
          const pay = (amount: Minor) =>
            payments.push(buildPayment({ key: key('payment', 'o1', `p${payments.length}`), item: openItemOf(invoice, payments), purpose: 'payment', account: CLEARING, amount, date: addDays(INVOICE_DATE, 3) }));
          for (const p of paymentPermilles) {
            const open = openItemOf(invoice, payments).open;
            if (open <= 0) break;
            pay(minor(Math.max(1, share(open, p, 1_000))));
          }
          const stillOpen = openItemOf(invoice, payments).open;
          if (payInFull && stillOpen > 0) pay(stillOpen);

          const vatSettledUntil = settledOffset === undefined ? undefined : addDays(INVOICE_DATE, settledOffset);
          // A credit note of one unit on the first line: a storno would then credit too much.
          const first = cart.items[0]!;
          const credits =
            partlyCredited && invoice.total > 0 && cart.variant === 'booking'
              ? [
                  buildCreditNote(
                    { ...invoiceInput(cart), key: key('credit-note', 'o1'), number: 'CN-1', lines: lineInputs([{ ...first, quantity: -1, unitPrice: minor(1) }], 'booking') },
                    invoice,
                  ),
                ]
              : [];
          const run = () =>
            buildStorno(invoice, {
              key: key('storno', 'o1'),
              number: 'ST-1',
              transferAccount: TRANSFER,
              ...(vatSettledUntil ? { vatSettledUntil } : {}),
              payments,
              credits,
              paymentKey: (side) => key('payment', 'o1', `storno-${side}`),
              date: addDays(INVOICE_DATE, 40),
            });
          if (vatSettledUntil !== undefined && INVOICE_DATE <= vatSettledUntil) {
            expect(run).toThrow(VatPeriodSettledError);
            return;
          }
          if (credits.length > 0) {
            expect(run).toThrow(OverCreditError);
            return;
          }
          const { storno, transfers, refundDue } = run();
          const paid = sum(payments.map((p) => p.amount));
          const open = sub(invoice.total, paid);

          // The exact mirror, with the invoice's date.
          expectSound(storno);
          expect(storno.date).toBe(invoice.date);
          expect(storno.reverses).toBe(invoice.number);
          expect(storno.total).toBe(neg(invoice.total));
          expect(storno.lines.map((l) => [l.account, l.amount])).toEqual(invoice.lines.map((l) => [l.account, neg(l.amount)]));
          expect(storno.tax.map((t) => [t.account, t.base, t.amount])).toEqual(invoice.tax.map((t) => [t.account, neg(t.base), neg(t.amount)]));
          expect(storno.rounding.map((r) => [r.account, r.amount])).toEqual(invoice.rounding.map((r) => [r.account, neg(r.amount)]));

          // Two transfers of ±open, or none when nothing is open.
          expect(refundDue).toBe(paid);
          if (open === 0) expect(transfers).toEqual([]);
          else {
            expect(transfers.map((t) => [t.appliesTo, t.amount, t.account, t.group])).toEqual([
              [invoice.number, open, TRANSFER, storno.group],
              [storno.number, neg(open), TRANSFER, storno.group],
            ]);
          }
          transfers.forEach(expectSound);
          expect(balanceOn(transfers, TRANSFER, invoice.currency)).toBe(0);

          const all: BookDocument[] = [invoice, ...payments, storno, ...transfers];
          // Receivable: +total − paid − total − open + open = −paid = −refundDue.
          expect(balanceOn(all, RECEIVABLE, invoice.currency)).toBe(neg(refundDue));
          expect(balanceOn(all, undefined, invoice.currency)).toBe(0);
          const allPayments = [...payments, ...transfers];
          expect(openItemOf(invoice, allPayments).open).toBe(0);
          expect(openItemOf(storno, allPayments).open).toBe(neg(refundDue));
        },
      ),
      { numRuns: RUNS.storno, seed: seed(11) },
    );
  });
});

// ── 9: settle ─────────────────────────────────────────────────────────────────────────────

describe('settle', () => {
  it('never settles more than is open; OverpaymentError exactly when the excess is beyond the tolerance', () => {
    fc.assert(
      fc.property(
        fc.record({
          open: fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.integer({ min: -50, max: 50 })),
          receivedPermille: fc.integer({ min: -100, max: 1_200 }),
          jitter: fc.integer({ min: -20, max: 20 }),
          fee: fc.integer({ min: -5, max: 60 }),
          skonto: fc.integer({ min: -5, max: 60 }),
          tolerance: fc.integer({ min: -30, max: 30 }),
          writeOff: fc.boolean(),
        }),
        (r) => {
          const open = minor(r.open);
          const s = open < 0 ? -1 : 1;
          const received = minor(Number((BigInt(open) * BigInt(r.receivedPermille)) / 1_000n) + r.jitter);
          const fee = minor(s * r.fee);
          const skonto = minor(s * r.skonto);
          const tolerance = minor(r.tolerance);
          const item: OpenItem = {
            number: 'INV-9',
            kind: open < 0 ? 'credit-note' : 'invoice',
            customerNumber: 'C-1',
            currency: 'CHF',
            receivableAccount: RECEIVABLE,
            date: INVOICE_DATE,
            dueDate: addDays(INVOICE_DATE, 30),
            total: open,
            settled: minor(0),
            open,
            status: 'open',
          };
          const run = () =>
            settle({
              item,
              date: addDays(INVOICE_DATE, 10),
              received,
              clearingAccount: CLEARING,
              fee: { amount: fee, account: '6940' },
              skonto: { amount: skonto, account: '3090' },
              ...(r.writeOff ? { writeOff: { account: '3091', tolerance } } : {}),
              key: (part) => key('payment', 'o9', part),
            });

          const amounts = [received, ...(fee !== 0 ? [fee] : []), ...(skonto !== 0 ? [skonto] : [])];
          if (received === 0 || amounts.some((a) => Math.sign(a) !== Math.sign(open))) {
            let error: unknown;
            try {
              run();
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(BooksError);
            expect(error).not.toBeInstanceOf(OverpaymentError);
            return;
          }
          const paid = sum(amounts);
          const excess = Math.abs(paid) - Math.abs(open);
          const left = sub(open, paid);
          const writtenOff = r.writeOff && left !== 0 && Math.abs(left) <= Math.abs(tolerance);
          if (excess > 0 && !(r.writeOff && excess <= Math.abs(tolerance))) {
            expect(run).toThrow(OverpaymentError);
            return;
          }
          const docs = run();
          docs.forEach(expectSound);
          const settled = sum(docs.map((d) => d.amount));
          expect(Math.sign(settled)).toBe(Math.sign(open));
          expect(Math.abs(settled)).toBeLessThanOrEqual(Math.abs(open));
          expect(docs.map((d) => d.purpose)).toEqual([
            'payment',
            ...(fee !== 0 ? ['bank-fee'] : []),
            ...(skonto !== 0 ? ['skonto'] : []),
            ...(writtenOff ? ['price-reduction'] : []),
          ]);
          expect(settled).toBe(writtenOff ? open : paid);
          for (const d of docs) {
            expect(d.appliesTo).toBe(item.number);
            expect(d.receivableAccount).toBe(RECEIVABLE);
          }
          expect(openItemOf({ ...invoiceStub(open), number: item.number }, docs).open).toBe(sub(open, settled));
        },
      ),
      { numRuns: RUNS.settle, seed: seed(12) },
    );
  });
});

/** A minimal sales document with `total`, for openItemOf. */
function invoiceStub(total: Minor): SalesDocument {
  return {
    kind: 'invoice',
    purpose: 'standard',
    key: key('invoice', 'o9'),
    number: 'INV-9',
    orderNumber: '9',
    customerNumber: 'C-1',
    currency: 'CHF',
    date: INVOICE_DATE,
    dueDate: INVOICE_DATE,
    description: '',
    receivableAccount: RECEIVABLE,
    variant: 'booking',
    pricesIncludeVat: false,
    lines: [],
    tax: [],
    rounding: [],
    total,
  };
}
