/**
 * Taking back what was invoiced: credit notes (B1/B2) and stornos (C2/C3).
 *
 * A credit note has its own date and amounts that may differ from the invoice's, but it
 * never credits more than was invoiced, in total or at any VAT rate. A storno is the exact
 * mirror of the invoice with the invoice's date; it is allowed only while the invoice's VAT
 * period is open, and it is closed by two transfer-account payments that net to zero.
 */
import { requireDate } from './checks.js';
import { currencyExponent } from './currency.js';
import {
  assertBalanced,
  formatDocumentKey,
  postingsOf,
  type CreditNoteDocument,
  type DocumentKey,
  type InvoiceDocument,
  type PaymentDocument,
  type SalesDocument,
  type StornoDocument,
  type VatTreatment,
} from './documents.js';
import { BooksError, OverCreditError, VatPeriodSettledError } from './errors.js';
import { composeSales, type SalesInput } from './invoice.js';
import { allocate, formatDecimal, minor, neg, sub, sum, type Minor } from './money.js';
import { assertTransferNetsZero, buildPayment, openItemOf } from './payment.js';
import { formatRate, type VatRate } from './vat.js';

export type CreditNoteInput = Omit<SalesInput, 'orderNumber' | 'customerNumber' | 'currency' | 'receivableAccount'> & {
  /** Defaults to the invoice's. */
  receivableAccount?: string;
};

function netByRate(doc: SalesDocument): Map<number, Minor> {
  const totals = new Map<number, Minor>();
  for (const line of doc.lines) totals.set(line.vat.rate, sum([totals.get(line.vat.rate) ?? minor(0), line.amount]));
  return totals;
}

/**
 * B1/B2: lines signed as booked (negative). Earlier credit notes on the same invoice count
 * against what may still be credited.
 */
export function buildCreditNote(input: CreditNoteInput, invoice: InvoiceDocument, earlierCredits: readonly CreditNoteDocument[] = []): CreditNoteDocument {
  const where = formatDocumentKey(input.key);
  if (invoice.kind !== 'invoice') throw new BooksError(`${where}: ${(invoice as SalesDocument).number} is not an invoice`, { field: 'credits' });
  if ((input.variant ?? 'booking') !== invoice.variant) {
    throw new BooksError(`${where}: the invoice is in the ${invoice.variant} variant; its credit note must be too (B1/B2)`, { field: 'variant' });
  }
  const core = composeSales({
    ...input,
    orderNumber: invoice.orderNumber,
    customerNumber: invoice.customerNumber,
    currency: invoice.currency,
    receivableAccount: input.receivableAccount ?? invoice.receivableAccount,
  });
  if (core.total >= 0) throw new BooksError(`${where}: a credit note's total must be negative (it is ${core.total})`, { field: 'total', hint: 'enter credited amounts as negative lines' });
  if (core.date < invoice.date) throw new BooksError(`${where}: the credit note is dated ${core.date}, before invoice ${invoice.number} (${invoice.date})`, { field: 'date' });

  const others = earlierCredits.filter((c) => c.credits === invoice.number && c.number !== core.number);
  const exp = currencyExponent(invoice.currency);
  const f = (a: Minor) => `${invoice.currency} ${formatDecimal(a, exp)}`;
  const creditedBefore = neg(sum(others.map((c) => c.total)));
  const available = sub(invoice.total, creditedBefore);
  if (-core.total > available) {
    throw new OverCreditError(`${where}: credits ${f(neg(core.total))} on invoice ${invoice.number}, but only ${f(available)} of its ${f(invoice.total)} is left to credit`, {
      field: 'total',
      hint: 'credit at most what was invoiced',
    });
  }
  const invoiced = netByRate(invoice);
  const credited = new Map<number, Minor>();
  for (const doc of [...others, core as SalesDocument]) {
    for (const [rate, amount] of netByRate(doc)) credited.set(rate, sub(credited.get(rate) ?? minor(0), amount));
  }
  for (const [rate, amount] of credited) {
    const limit = invoiced.get(rate) ?? minor(0);
    if (amount > limit) {
      throw new OverCreditError(`${where}: credits net ${f(amount)} at ${formatRate(rate as VatRate)} % on invoice ${invoice.number}, which invoiced ${f(limit)} at that rate`, {
        field: 'lines',
        hint: 'credit each VAT rate at most what was invoiced at it',
      });
    }
  }
  return { kind: 'credit-note', credits: invoice.number, ...core };
}

/** A credit note that takes back the whole invoice, dated `date` (the C2/C3 alternative). */
export function creditInFull(invoice: InvoiceDocument, input: { key: DocumentKey; number: string; date: string; description?: string }, earlierCredits: readonly CreditNoteDocument[] = []): CreditNoteDocument {
  requireDate(input.key, 'date', input.date);
  const doc: CreditNoteDocument = {
    ...mirror(invoice),
    kind: 'credit-note',
    key: input.key,
    number: input.number,
    date: input.date,
    dueDate: input.date,
    description: input.description ?? `Credit note for invoice ${invoice.number}`,
    credits: invoice.number,
  };
  if (doc.date < invoice.date) throw new BooksError(`${formatDocumentKey(input.key)}: the credit note is dated before invoice ${invoice.number}`, { field: 'date' });
  const creditedBefore = neg(sum(earlierCredits.filter((c) => c.credits === invoice.number).map((c) => c.total)));
  if (creditedBefore !== 0) {
    throw new OverCreditError(`${formatDocumentKey(input.key)}: invoice ${invoice.number} is already partly credited; a full credit would credit too much`, {
      hint: 'credit only what is left with buildCreditNote',
    });
  }
  return doc;
}

/**
 * The credit note that takes back what is left of an invoice after earlier credit notes
 * (a correction of a partly refunded invoice): the invoice mirrored, less what the earlier
 * credit notes took back, line by line. Together with them it takes back exactly the
 * invoice's lines, VAT and rounding on every account, so that the invoice and all its credit
 * notes net to zero. Without earlier credit notes it is `creditInFull`.
 */
export function creditRemainder(
  invoice: InvoiceDocument,
  input: { key: DocumentKey; number: string; date: string; description?: string },
  earlierCredits: readonly CreditNoteDocument[] = [],
): CreditNoteDocument {
  const credits = earlierCredits.filter((c) => c.credits === invoice.number);
  if (credits.length === 0) return creditInFull(invoice, input);
  const where = formatDocumentKey(input.key);
  requireDate(input.key, 'date', input.date);
  if (input.date < invoice.date) throw new BooksError(`${where}: the credit note is dated before invoice ${invoice.number}`, { field: 'date' });
  for (const c of credits) {
    if (c.variant !== invoice.variant || c.currency !== invoice.currency) {
      throw new BooksError(`${where}: credit note ${c.number} is not in the variant and currency of invoice ${invoice.number}`, { field: 'credits' });
    }
  }
  const mirrored = mirror(invoice);
  // What is left on each line, VAT and rounding entry: −(invoice) − (credits, which are negative).
  const lines = new Map<string, CreditNoteDocument['lines'][number]>();
  for (const l of [...mirrored.lines, ...credits.flatMap((c) => c.lines.map((x) => ({ ...x, amount: neg(x.amount) })))]) {
    const id = [l.role, l.account, l.vat.rate, l.vat.code, l.vat.account, l.part?.number ?? '', l.deposit ?? ''].join('|');
    const seen = lines.get(id);
    if (seen) lines.set(id, { ...seen, amount: sum([seen.amount, l.amount]) });
    else lines.set(id, l);
  }
  const keptLines = [...lines.values()]
    .filter((l) => l.amount !== 0)
    .map((l) => {
      // A part keeps the invoice's quantity when nothing of it was credited; otherwise one unit at what is left.
      if (!l.part || l.part.quantity * l.part.unitPrice === l.amount) return l;
      return { ...l, part: { ...l.part, quantity: l.amount < 0 ? -1 : 1, unitPrice: minor(Math.abs(l.amount)) } };
    });
  const tax = new Map<string, CreditNoteDocument['tax'][number]>();
  for (const t of [...mirrored.tax, ...credits.flatMap((c) => c.tax.map((x) => ({ ...x, base: neg(x.base), amount: neg(x.amount) })))]) {
    const id = `${t.rate}|${t.code}|${t.account}`;
    const seen = tax.get(id);
    tax.set(id, seen ? { ...seen, base: sum([seen.base, t.base]), amount: sum([seen.amount, t.amount]) } : t);
  }
  const rounding = new Map<string, CreditNoteDocument['rounding'][number]>();
  for (const r of [...mirrored.rounding, ...credits.flatMap((c) => c.rounding.map((x) => ({ ...x, amount: neg(x.amount) })))]) {
    const id = `${r.account}|${r.reason}`;
    const seen = rounding.get(id);
    rounding.set(id, seen ? { ...seen, amount: sum([seen.amount, r.amount]) } : r);
  }
  const total = neg(sum([invoice.total, ...credits.map((c) => c.total)]));
  if (total >= 0) {
    throw new OverCreditError(`${where}: invoice ${invoice.number} is fully credited already (${credits.map((c) => c.number).join(', ')}); there is nothing left to take back`, {
      hint: 'nothing needs to be credited',
    });
  }
  const doc: CreditNoteDocument = {
    ...mirrored,
    kind: 'credit-note',
    key: input.key,
    number: input.number,
    date: input.date,
    dueDate: input.date,
    description: input.description ?? `Credit note for what is left of invoice ${invoice.number}`,
    credits: invoice.number,
    lines: keptLines,
    tax: [...tax.values()].filter((t) => t.amount !== 0 || t.base !== 0),
    rounding: [...rounding.values()].filter((r) => r.amount !== 0),
    total,
  };
  if (doc.lines.length === 0) throw new BooksError(`${where}: nothing is left of invoice ${invoice.number}'s lines to credit`, { field: 'lines' });
  assertBalanced(doc.key, doc.currency, postingsOf(doc));
  return doc;
}

/** The invoice's lines, VAT and rounding negated: the same accounts, the opposite amounts. */
function mirror(invoice: InvoiceDocument): Omit<InvoiceDocument, 'kind' | 'purpose'> {
  const { kind: _kind, purpose: _purpose, ...rest } = invoice;
  return {
    ...rest,
    lines: invoice.lines.map((l) => ({ ...l, amount: neg(l.amount), ...(l.part ? { part: { ...l.part, quantity: -l.part.quantity } } : {}) })),
    tax: invoice.tax.map((t) => ({ ...t, base: neg(t.base), amount: neg(t.amount) })),
    rounding: invoice.rounding.map((r) => ({ ...r, amount: neg(r.amount) })),
    total: neg(invoice.total),
  };
}

export interface StornoInput {
  key: DocumentKey;
  number: string;
  transferAccount: string;
  /** The last day of the last VAT period Run my Accounts has settled (YYYY-MM-DD). */
  vatSettledUntil?: string;
  /** Payments already booked on the invoice: a storno nets only what is still open. */
  payments?: readonly PaymentDocument[];
  /** Credit notes already booked on the invoice: a storno mirrors the whole invoice, so there must be none. */
  credits?: readonly CreditNoteDocument[];
  /** Keys of the two transfer payments. */
  paymentKey: (side: 'invoice' | 'storno') => DocumentKey;
  date: string;
}

export interface StornoGroup {
  storno: StornoDocument;
  /** +open on the invoice and −open on the storno, both on the transfer account. */
  transfers: PaymentDocument[];
  /** What the storno still owes the customer (the part of the invoice already paid): refund it. */
  refundDue: Minor;
}

/**
 * C2/C3: mirror the invoice with its own date and close both through the transfer account.
 * `date` is when the transfer payments are booked.
 */
export function buildStorno(invoice: InvoiceDocument, input: StornoInput): StornoGroup {
  const where = formatDocumentKey(input.key);
  if (input.vatSettledUntil !== undefined) requireDate(input.key, 'vat settled until', input.vatSettledUntil);
  requireDate(input.key, 'date', input.date);
  if (input.vatSettledUntil !== undefined && invoice.date <= input.vatSettledUntil) {
    throw new VatPeriodSettledError(`${where}: invoice ${invoice.number} of ${invoice.date} lies in a VAT period settled until ${input.vatSettledUntil}; a storno would change it`, {
      hint: 'book a credit note dated today instead (C2/C3 alternative)',
    });
  }
  if ((input.credits ?? []).some((c) => c.credits === invoice.number)) {
    throw new OverCreditError(`${where}: invoice ${invoice.number} is already partly credited; its storno would credit more than was invoiced`, {
      hint: 'credit what is left with a credit note (B1/B2) instead',
    });
  }
  const group = `storno:${invoice.key.source}/${invoice.number}`;
  const storno: StornoDocument = {
    ...mirror(invoice),
    kind: 'storno',
    key: input.key,
    number: input.number,
    description: `Storno of invoice ${invoice.number}`,
    reverses: invoice.number,
    group,
  };
  const invoiceItem = openItemOf(invoice, input.payments ?? []);
  const open = invoiceItem.open;
  if (open < 0) throw new BooksError(`${where}: invoice ${invoice.number} is overpaid; settle that before a storno`);
  const transfers: PaymentDocument[] = [];
  if (open > 0) {
    const common = { date: input.date, purpose: 'transfer' as const, account: input.transferAccount, group, memo: `Storno ${input.number} of ${invoice.number}` };
    transfers.push(buildPayment({ ...common, key: input.paymentKey('invoice'), item: invoiceItem, amount: open }));
    transfers.push(buildPayment({ ...common, key: input.paymentKey('storno'), item: openItemOf(storno, []), amount: neg(open) }));
  }
  assertTransferNetsZero(group, transfers, input.transferAccount);
  return { storno, transfers, refundDue: sub(invoice.total, open) };
}

export type Cancellation = ({ kind: 'storno' } & StornoGroup) | { kind: 'credit-note'; creditNote: CreditNoteDocument; reason: string };

/**
 * Cancel a booked invoice the way Run my Accounts asks: a storno while its VAT period is
 * open, otherwise a credit note dated `input.date` (today).
 */
export function cancelInvoice(invoice: InvoiceDocument, input: StornoInput & { creditKey: DocumentKey; creditNumber: string }): Cancellation {
  if (input.vatSettledUntil === undefined || invoice.date > input.vatSettledUntil) return { kind: 'storno', ...buildStorno(invoice, input) };
  return {
    kind: 'credit-note',
    creditNote: creditInFull(invoice, { key: input.creditKey, number: input.creditNumber, date: input.date }, input.credits),
    reason: `the VAT period of ${invoice.date} is settled (until ${input.vatSettledUntil})`,
  };
}

export interface AmountCreditInput {
  key: DocumentKey;
  number: string;
  date: string;
  description?: string;
  /** The gross amount taken back, positive. */
  gross: Minor;
}

/**
 * B1/B2 for a refund the shop recorded as an amount only: the amount is spread over the
 * invoice's VAT rates in proportion to their gross, each share booked on the rate's largest
 * revenue line (its account, VAT and article), VAT worked out of the gross share.
 */
export function creditAmount(invoice: InvoiceDocument, input: AmountCreditInput, earlierCredits: readonly CreditNoteDocument[] = []): CreditNoteDocument {
  const where = formatDocumentKey(input.key);
  if (input.gross <= 0) throw new BooksError(`${where}: a refund of ${input.gross} takes nothing back`, { field: 'gross' });
  // All of it, first credit: the invoice's own lines and VAT, not VAT worked out again from the
  // gross, which may differ by a unit from what the shop rounded per line.
  if (input.gross === invoice.total && !earlierCredits.some((c) => c.credits === invoice.number)) {
    return creditInFull(invoice, { key: input.key, number: input.number, date: input.date, description: input.description ?? `Refund on invoice ${invoice.number}` });
  }
  const byRate = new Map<string, { gross: Minor; largest: SalesDocument['lines'][number] }>();
  for (const line of invoice.lines) {
    if (line.role === 'deposit-deduction') continue;
    const id = `${line.vat.rate}|${line.vat.code}|${line.vat.account}`;
    const group = byRate.get(id);
    if (!group) byRate.set(id, { gross: line.amount, largest: line });
    else {
      group.gross = sum([group.gross, line.amount]);
      if (line.amount > group.largest.amount) group.largest = line;
    }
  }
  for (const t of invoice.tax) {
    const group = byRate.get(`${t.rate}|${t.code}|${t.account}`);
    if (group) group.gross = sum([group.gross, t.amount]);
  }
  const groups = [...byRate.values()].filter((g) => g.gross > 0);
  if (groups.length === 0) throw new BooksError(`${where}: invoice ${invoice.number} has nothing to credit`, { field: 'credits' });
  const shares = allocate(input.gross, groups.map((g) => g.gross));
  const lines = groups.flatMap((g, i) => {
    const share = shares[i]!;
    if (share === 0) return [];
    const l = g.largest;
    return [
      l.part
        ? { role: l.role, text: `Refund: ${l.text}`, part: { ...l.part, quantity: -1, unitPrice: share } }
        : { role: l.role, text: `Refund: ${l.text}`, account: l.account, vat: l.vat, amount: neg(share) },
    ];
  });
  return buildCreditNote(
    {
      key: input.key,
      number: input.number,
      date: input.date,
      dueDate: input.date,
      description: input.description ?? `Refund on invoice ${invoice.number}`,
      variant: invoice.variant,
      ...(invoice.variant === 'article' ? { articles: articlesOf(invoice) } : {}),
      lines,
      vat: { basis: 'gross', rounding: 'per-rate-group' },
    },
    invoice,
    earlierCredits,
  );
}

/** The article master as far as an invoice shows it: each part with the account and VAT it booked. */
function articlesOf(invoice: InvoiceDocument) {
  const seen = new Map<string, { number: string; account: string; vat: VatTreatment; role?: 'revenue' | 'shipping' | 'fee' | 'discount' | 'deposit' }>();
  for (const l of invoice.lines) {
    if (l.part && !seen.has(l.part.number)) {
      const role = l.role === 'deposit-deduction' ? undefined : l.role;
      seen.set(l.part.number, { number: l.part.number, account: l.account, vat: l.vat, ...(role ? { role } : {}) });
    }
  }
  return [...seen.values()];
}
