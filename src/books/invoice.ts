/**
 * Invoices: standard (A1 booking variant, A5 article variant) with discount lines (A2/A6),
 * deposit invoices on a liability account (A3/A7), and final settlements that deduct the
 * deposits received (A4/A8). `composeSales` is shared with credit notes (credit.ts).
 */
import { requireCurrency, requireDate, requireText } from './checks.js';
import {
  assertBalanced,
  formatDocumentKey,
  postingsOf,
  type Article,
  type DocumentLine,
  type InvoiceDocument,
  type InvoicePurpose,
  type LineRole,
  type PartRef,
  type RoundingLine,
  type SalesHeader,
  type SalesDocument,
  type TaxLine,
  type Variant,
  type VatTreatment,
} from './documents.js';
import { BooksError, OverDeductionError, TotalMismatchError, VatMismatchError } from './errors.js';
import { allocate, divRound, formatDecimal, minor, neg, roundToStep, sub, sum, times, type Minor, type RoundingMode } from './money.js';
import { currencyExponent } from './currency.js';
import { computeVat, formatRate, type VatMethod, type VatRate } from './vat.js';

/** One input line. Booking variant: account, VAT and amount. Article variant: a part. */
export interface LineInput {
  role?: LineRole;
  text: string;
  account?: string;
  vat?: VatTreatment;
  /** Booking variant: net, or gross when `vat.basis` is gross. Signed as booked. */
  amount?: Minor;
  /** Article variant: the amount is quantity × unit price, exactly. */
  part?: PartRef;
  /** The shop's own VAT on this line (VAT rounding `shop`). */
  shopTax?: Minor;
  /** How many shop lines `shopTax` sums, each rounded by the shop (default 1). */
  shopLines?: number;
  deposit?: string;
  /** A deposit deduction's VAT: the deposit's booked VAT taken back, never recomputed (set by buildFinalInvoice). */
  fixedVat?: Minor;
}

/** The source's total that the document must reproduce; a capped residue goes to `account`. */
export interface TotalCheck {
  expected: Minor;
  account: string;
  /** The largest residue, in minor units, a rounding line may absorb. */
  maxResidue: number;
}

/** Round the total to a cash step (5 minor units: CHF 5-Rappen rounding), booked on `account`. */
export interface CashRounding {
  step: number;
  account: string;
  mode?: RoundingMode;
}

export interface SalesInput extends SalesHeader {
  variant?: Variant;
  /** The article master (article variant only). */
  articles?: readonly Article[];
  lines: LineInput[];
  vat: VatMethod;
  expectedTotal?: TotalCheck;
  cashRounding?: CashRounding;
}

export type SalesCore = Omit<SalesDocument, 'kind' | 'purpose' | 'credits' | 'reverses' | 'group'>;

function articleLine(input: SalesInput, line: LineInput, field: string, catalog: ReadonlyMap<string, Article>) {
  const part = line.part;
  const where = formatDocumentKey(input.key);
  if (!part) throw new BooksError(`${where}: ${field} has no part; the article variant books parts (A5)`, { field: `${field}.part` });
  const article = catalog.get(part.number);
  if (!article) {
    throw new BooksError(`${where}: ${field} names article "${part.number}", which is not in the article master`, {
      field: `${field}.part.number`,
      hint: 'define the article (its account and VAT) in the mapping',
    });
  }
  if ((line.account && line.account !== article.account) || (line.vat && (line.vat.rate !== article.vat.rate || line.vat.account !== article.vat.account))) {
    throw new BooksError(`${where}: ${field} sets its own account or VAT, but in the article variant both come from article "${part.number}" (A5)`, { field });
  }
  if (!Number.isSafeInteger(part.quantity) || part.quantity === 0) {
    throw new BooksError(`${where}: ${field} quantity ${part.quantity} must be a whole number other than 0`, { field: `${field}.part.quantity` });
  }
  const amount = times(minor(part.unitPrice), part.quantity);
  if (line.amount !== undefined && line.amount !== amount) {
    throw new BooksError(`${where}: ${field} amount ${line.amount} is not quantity × unit price (${amount})`, { field: `${field}.amount` });
  }
  return { account: article.account, vat: article.vat, amount, role: line.role ?? article.role ?? 'revenue', part: { ...part, ...(article.unit && !part.unit ? { unit: article.unit } : {}) } };
}

function bookingLine(input: SalesInput, line: LineInput, field: string) {
  const where = formatDocumentKey(input.key);
  if (line.part) throw new BooksError(`${where}: ${field} is a part line, but the document is in the booking variant`, { field: `${field}.part` });
  if (!line.account?.trim()) throw new BooksError(`${where}: ${field} has no account`, { field: `${field}.account` });
  if (!line.vat) throw new BooksError(`${where}: ${field} has no VAT treatment`, { field: `${field}.vat` });
  if (line.amount === undefined) throw new BooksError(`${where}: ${field} has no amount`, { field: `${field}.amount` });
  return { account: line.account, vat: line.vat, amount: minor(line.amount), role: line.role ?? 'revenue' };
}

/** computeVat knows no currency: restate its VAT mismatch in the document's money, with its key. */
function withDocumentMoney<T>(input: SalesInput, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof VatMismatchError)) throw error;
    const f = (a: number) => `${input.currency} ${formatDecimal(minor(a), currencyExponent(input.currency))}`;
    throw new VatMismatchError(
      `${formatDocumentKey(input.key)}: the shop's VAT at ${formatRate(error.rate as VatRate)} % is ${f(error.shop)}, but ${f(error.ours)} follows from the lines, more than one unit per shop line apart`,
      error.rate,
      error.shop,
      error.ours,
      error.field ? { field: error.field } : {},
    );
  }
}

/**
 * Lines, VAT, rounding and total of a sales document, checked and balanced. The kind-specific
 * rules (an invoice's total is not negative, a credit note's is) are the callers'.
 */
export function composeSales(input: SalesInput): SalesCore {
  const { key } = input;
  const where = formatDocumentKey(key);
  requireCurrency(key, input.currency);
  for (const [field, value] of [['number', input.number], ['customer number', input.customerNumber], ['receivable account', input.receivableAccount]] as const) {
    requireText(key, field, value);
  }
  requireDate(key, 'date', input.date);
  requireDate(key, 'due date', input.dueDate);
  if (input.dueDate < input.date) throw new BooksError(`${where}: due date ${input.dueDate} is before the date ${input.date}`, { field: 'dueDate' });
  if (input.lines.length === 0) throw new BooksError(`${where}: a document needs at least one line`, { field: 'lines' });

  const variant = input.variant ?? 'booking';
  const catalog = new Map((input.articles ?? []).map((a) => [a.number, a]));
  const resolved = input.lines.map((line, i) => {
    const field = `lines[${i}]`;
    requireText(key, `${field}.text`, line.text);
    const r = variant === 'article' ? articleLine(input, line, field, catalog) : bookingLine(input, line, field);
    if (r.vat.rate !== 0 && !r.vat.account.trim()) {
      throw new BooksError(`${where}: ${field} is taxed at ${formatRate(r.vat.rate)} % but names no VAT account`, { field: `${field}.vat.account` });
    }
    if (line.fixedVat !== undefined && r.role !== 'deposit-deduction') {
      throw new BooksError(`${where}: ${field} gives its own VAT, which only a deposit deduction may (A4/A8)`, { field: `${field}.fixedVat` });
    }
    return { ...r, line, field };
  });

  // Deduction lines form their own VAT groups: their VAT is the deposit's booked VAT (fixedVat), not recomputed.
  const groupOf = (r: (typeof resolved)[number]) => `${r.vat.rate}|${r.vat.code}|${r.vat.account}|${r.role === 'deposit-deduction' ? `deduct:${r.line.deposit ?? ''}` : ''}`;
  const vat = withDocumentMoney(input, () => computeVat(
    resolved.map((r) => ({ amount: r.amount, rate: r.vat.rate, group: groupOf(r), field: r.field, ...(r.line.shopTax !== undefined ? { shopTax: r.line.shopTax } : {}), ...(r.line.shopLines ? { shopLines: r.line.shopLines } : {}), ...(r.line.fixedVat !== undefined ? { fixedVat: r.line.fixedVat } : {}) })),
    input.vat,
  ));

  const lines: DocumentLine[] = resolved.map((r, i) => ({
    role: r.role,
    account: r.account,
    amount: vat.lines[i]!.net,
    text: r.line.text,
    vat: r.vat,
    ...('part' in r && r.part ? { part: r.part as PartRef } : {}),
    ...(r.line.deposit ? { deposit: r.line.deposit } : {}),
  }));

  const taxByAccount = new Map<string, TaxLine>();
  for (const g of vat.groups) {
    const sample = resolved.find((r) => groupOf(r) === g.group)!;
    const id = `${sample.vat.rate}|${sample.vat.code}|${sample.vat.account}`;
    const existing = taxByAccount.get(id);
    if (existing) {
      existing.base = sum([existing.base, g.net]);
      existing.amount = sum([existing.amount, g.vat]);
    } else {
      taxByAccount.set(id, { account: sample.vat.account, rate: sample.vat.rate, code: sample.vat.code, base: g.net, amount: g.vat });
    }
  }
  const tax = [...taxByAccount.values()].filter((t) => t.amount !== 0);

  const subtotal = sum([...lines.map((l) => l.amount), ...tax.map((t) => t.amount)]);
  const rounding: RoundingLine[] = [];
  let total = subtotal;
  if (input.expectedTotal) {
    const { expected, account, maxResidue } = input.expectedTotal;
    const residue = sub(expected, subtotal);
    if (Math.abs(residue) > maxResidue) {
      const exp = currencyExponent(input.currency);
      const f = (a: Minor) => formatDecimal(a, exp);
      throw new TotalMismatchError(
        `${where}: the source's total ${f(expected)} differs from lines plus VAT ${f(subtotal)} by ${f(residue)} ${input.currency}, more than the rounding line may absorb (${f(minor(maxResidue))})`,
        expected,
        subtotal,
        maxResidue,
      );
    }
    if (residue !== 0) {
      requireText(key, 'rounding account', account);
      rounding.push({ account, amount: residue, text: 'Rounding difference', reason: 'residue' });
    }
    total = expected;
  }
  if (input.cashRounding) {
    const { step, account, mode } = input.cashRounding;
    const rounded = roundToStep(total, step, mode ?? 'half-up');
    if (rounded !== total) {
      requireText(key, 'cash rounding account', account);
      rounding.push({ account, amount: sub(rounded, total), text: `Cash rounding to ${formatDecimal(minor(step), currencyExponent(input.currency))}`, reason: 'cash' });
    }
    total = rounded;
  }

  const core: SalesCore = {
    key,
    number: input.number,
    orderNumber: input.orderNumber,
    customerNumber: input.customerNumber,
    currency: input.currency,
    date: input.date,
    dueDate: input.dueDate,
    description: input.description,
    receivableAccount: input.receivableAccount,
    variant,
    pricesIncludeVat: input.vat.basis === 'gross',
    lines,
    tax,
    rounding,
    total,
  };
  assertBalanced(key, input.currency, postingsOf({ ...core, kind: 'invoice', purpose: 'standard' }));
  return core;
}

export interface InvoiceInput extends SalesInput {
  purpose?: Exclude<InvoicePurpose, 'final'>;
}

/** A1/A2/A5/A6 (`standard`) and A3/A7 (`deposit`) invoices. Final settlements: buildFinalInvoice. */
export function buildInvoice(input: InvoiceInput): InvoiceDocument {
  const purpose = input.purpose ?? 'standard';
  const lines = input.lines.map((l) => (purpose === 'deposit' && !l.role && (input.variant ?? 'booking') === 'booking' ? { ...l, role: 'deposit' as const } : l));
  const core = composeSales({ ...input, lines });
  const where = formatDocumentKey(input.key);
  for (const [i, line] of core.lines.entries()) {
    if (line.role === 'deposit-deduction') {
      throw new BooksError(`${where}: lines[${i}] deducts a deposit; only a final settlement does that (A4/A8)`, { field: `lines[${i}].role`, hint: 'use buildFinalInvoice' });
    }
    if (purpose === 'deposit' && line.role !== 'deposit') {
      throw new BooksError(`${where}: lines[${i}] is ${line.role}, but a deposit invoice books deposits only (A3/A7)`, { field: `lines[${i}].role` });
    }
    if (purpose === 'standard' && line.role === 'deposit') {
      throw new BooksError(`${where}: lines[${i}] books a deposit on a standard invoice`, { field: `lines[${i}].role`, hint: 'make it a deposit invoice (A3/A7)' });
    }
  }
  checkInvoiceTotal(core);
  return { kind: 'invoice', purpose, ...core };
}

function checkInvoiceTotal(core: SalesCore): void {
  if (core.total < 0) {
    throw new BooksError(`${formatDocumentKey(core.key)}: an invoice cannot have a negative total (${core.total})`, { field: 'total', hint: 'book a credit note instead (B1/B2)' });
  }
}

/** Net deposit received on a deposit invoice (Σ of its deposit lines). */
export function depositReceived(deposit: InvoiceDocument): Minor {
  return sum(deposit.lines.filter((l) => l.role === 'deposit').map((l) => l.amount));
}

/**
 * The VAT a deposit invoice booked on each of `lines` (its deposit lines): each tax line split
 * over the lines it taxes by net amount, so that the shares sum to what was booked.
 */
function bookedVat(deposit: InvoiceDocument, lines: readonly DocumentLine[]): Minor[] {
  const id = (rate: number, code: string, account: string) => `${rate}|${code}|${account}`;
  const out = lines.map(() => minor(0));
  for (const t of deposit.tax) {
    const members = lines.flatMap((l, i) => (id(l.vat.rate, l.vat.code, l.vat.account) === id(t.rate, t.code, t.account) ? [i] : []));
    if (members.length === 0) continue;
    const shares = allocate(t.amount, members.map((i) => lines[i]!.amount));
    members.forEach((i, k) => (out[i] = shares[k]!));
  }
  return out;
}

/** Net already deducted from `depositNumber` by earlier final settlements. */
export function depositDeducted(depositNumber: string, finals: readonly InvoiceDocument[]): Minor {
  return neg(sum(finals.flatMap((f) => f.lines.filter((l) => l.role === 'deposit-deduction' && l.deposit === depositNumber).map((l) => l.amount))));
}

export interface FinalInvoiceInput extends SalesInput {
  /** Net to deduct per deposit invoice number; by default everything not yet deducted. */
  draw?: Readonly<Record<string, Minor>>;
}

/**
 * A4/A8: the full revenue, less one negative line per deposit line drawn down, on the
 * deposit's own account and VAT, so that the liability returns to zero and VAT is due only
 * on the difference. Never deducts more than the deposits received minus earlier deductions;
 * settlements that draw a deposit down in parts deduct, together, exactly its lines and VAT.
 */
export function buildFinalInvoice(input: FinalInvoiceInput, deposits: readonly InvoiceDocument[], earlierFinals: readonly InvoiceDocument[] = []): InvoiceDocument {
  const where = formatDocumentKey(input.key);
  if (deposits.length === 0) throw new BooksError(`${where}: a final settlement needs at least one deposit invoice`, { field: 'deposits' });
  const variant = input.variant ?? 'booking';
  const deductions: LineInput[] = [];
  const seen = new Set<string>();
  for (const deposit of deposits) {
    const n = deposit.number;
    if (seen.has(n)) throw new BooksError(`${where}: deposit invoice ${n} is listed twice`, { field: 'deposits' });
    seen.add(n);
    if (deposit.kind !== 'invoice' || deposit.purpose !== 'deposit') throw new BooksError(`${where}: ${n} is not a deposit invoice`, { field: 'deposits' });
    if (deposit.currency !== input.currency || deposit.customerNumber !== input.customerNumber) {
      throw new BooksError(`${where}: deposit invoice ${n} belongs to another customer or currency`, { field: 'deposits' });
    }
    if (deposit.variant !== variant) throw new BooksError(`${where}: deposit invoice ${n} is in the ${deposit.variant} variant, the settlement in the ${variant} variant`, { field: 'variant' });
    const received = depositReceived(deposit);
    const available = sub(received, depositDeducted(n, earlierFinals));
    const take = input.draw?.[n] ?? available;
    if (take <= 0 || take > available) {
      const exp = currencyExponent(input.currency);
      throw new OverDeductionError(
        `${where}: cannot deduct ${formatDecimal(take, exp)} from deposit invoice ${n}: ${formatDecimal(received, exp)} was received and ${formatDecimal(available, exp)} is left to deduct`,
        { field: 'draw', hint: take <= 0 ? 'leave out a deposit that is fully deducted' : 'deduct at most what is left' },
      );
    }
    const depositLines = deposit.lines.filter((l) => l.role === 'deposit');
    const booked = bookedVat(deposit, depositLines);
    // Draw down what is left of each deposit line, not its original amount, so that partial
    // settlements together deduct every line exactly. Earlier deductions are known per account,
    // VAT and article only, so deposit lines that share all three are drawn down as one.
    const unitOf = (l: DocumentLine) => `${l.account}|${l.vat.rate}|${l.vat.code}|${l.vat.account}|${l.part?.number ?? ''}`;
    const units = new Map<string, { line: DocumentLine; amount: Minor; vat: Minor; deducted: Minor }>();
    depositLines.forEach((line, i) => {
      const unit = units.get(unitOf(line));
      if (unit) {
        unit.amount = sum([unit.amount, line.amount]);
        unit.vat = sum([unit.vat, booked[i]!]);
      } else units.set(unitOf(line), { line, amount: line.amount, vat: booked[i]!, deducted: minor(0) });
    });
    for (const l of earlierFinals.flatMap((f) => f.lines)) {
      const unit = l.role === 'deposit-deduction' && l.deposit === n ? units.get(unitOf(l)) : undefined;
      if (unit) unit.deducted = sub(unit.deducted, l.amount);
    }
    const drawn = [...units.values()];
    const shares = allocate(take, drawn.map((u) => minor(Math.max(0, sub(u.amount, u.deducted)))));
    drawn.forEach(({ line, amount: lineAmount, vat: lineVat, deducted }, i) => {
      const share = shares[i]!;
      if (share === 0) return;
      // The VAT the deposit booked, taken back pro rata of the net deducted so far: the draws
      // together take back exactly what was booked, however the deposit is split up.
      const vatUpTo = (net: Minor) => (net === lineAmount ? lineVat : minor(divRound(BigInt(net) * BigInt(lineVat), BigInt(lineAmount), input.vat.mode ?? 'half-up')));
      const vatOnShare = sub(vatUpTo(sum([deducted, share])), vatUpTo(deducted));
      const amount = input.vat.basis === 'gross' ? sum([share, vatOnShare]) : share;
      deductions.push({
        role: 'deposit-deduction',
        text: `Deposit invoice ${n}`,
        deposit: n,
        fixedVat: neg(vatOnShare),
        ...(variant === 'article'
          ? { part: { number: line.part!.number, quantity: -1, unitPrice: amount, ...(line.part!.unit ? { unit: line.part!.unit } : {}) } }
          : { account: line.account, vat: line.vat, amount: neg(amount) }),
      });
    });
  }
  const core = composeSales({ ...input, lines: [...input.lines, ...deductions] });
  for (const [i, line] of core.lines.entries()) {
    if (line.role === 'deposit') throw new BooksError(`${where}: lines[${i}] books a new deposit on a final settlement`, { field: `lines[${i}].role` });
  }
  checkInvoiceTotal(core);
  return { kind: 'invoice', purpose: 'final', ...core };
}
