/**
 * Payments on sales documents (D1–D5) and the open items they settle.
 *
 * A payment reduces one document's open amount and debits a clearing, transfer or
 * write-off account, never a bank account: Run my Accounts books bank accounts itself and
 * the webshop's money arrives through a clearing account (seed 003, "Der Umgang mit
 * Bankkonten").
 */
import { requireCurrency, requireDate, requireText } from './checks.js';
import { balanceByCurrency, formatDocumentKey, type BookDocument, type DocumentKey, type PaymentDocument, type PaymentPurpose, type SalesDocument } from './documents.js';
import { BooksError, OverpaymentError, TransferImbalanceError } from './errors.js';
import { currencyExponent } from './currency.js';
import { formatDecimal, minor, neg, sub, sum, type Minor } from './money.js';

export type ItemStatus = 'open' | 'partly-paid' | 'paid';

/** What is still receivable (positive) or payable back (negative) on one sales document. */
export interface OpenItem {
  number: string;
  kind: SalesDocument['kind'];
  customerNumber: string;
  currency: string;
  receivableAccount: string;
  date: string;
  dueDate: string;
  total: Minor;
  settled: Minor;
  open: Minor;
  status: ItemStatus;
}

export function itemStatus(total: Minor, open: Minor): ItemStatus {
  if (open === 0) return 'paid';
  return open === total ? 'open' : 'partly-paid';
}

export function openItemOf(doc: SalesDocument, payments: readonly PaymentDocument[]): OpenItem {
  const settled = sum(payments.filter((p) => p.appliesTo === doc.number).map((p) => p.amount));
  const open = sub(doc.total, settled);
  return {
    number: doc.number,
    kind: doc.kind,
    customerNumber: doc.customerNumber,
    currency: doc.currency,
    receivableAccount: doc.receivableAccount,
    date: doc.date,
    dueDate: doc.dueDate,
    total: doc.total,
    settled,
    open,
    status: itemStatus(doc.total, open),
  };
}

export interface PaymentPolicy {
  /** Accounts a payment must never debit directly (the bank accounts Run my Accounts books itself). */
  bankAccounts?: readonly string[];
}

export interface PaymentInput {
  key: DocumentKey;
  item: OpenItem;
  purpose: PaymentPurpose;
  account: string;
  amount: Minor;
  date: string;
  reference?: string;
  memo?: string;
  group?: string;
}

function money(item: OpenItem, amount: Minor): string {
  return `${item.currency} ${formatDecimal(amount, currencyExponent(item.currency))}`;
}

function checkPayment(input: PaymentInput, policy: PaymentPolicy): PaymentDocument {
  const { key, item } = input;
  const where = formatDocumentKey(key);
  if (key.kind !== 'payment') throw new BooksError(`${where}: a payment's key must be of kind "payment"`, { field: 'key' });
  requireCurrency(key, item.currency);
  requireText(key, 'account', input.account);
  requireText(key, 'document paid', item.number);
  requireDate(key, 'date', input.date);
  if (input.amount === 0) throw new BooksError(`${where}: a payment of 0 books nothing`, { field: 'amount' });
  if (policy.bankAccounts?.includes(input.account)) {
    throw new BooksError(`${where}: ${input.account} is a bank account; payments are booked to a clearing or transfer account`, {
      field: 'account',
      hint: 'Run my Accounts books bank accounts itself: configure the clearing account agreed with the accountant',
    });
  }
  return {
    kind: 'payment',
    key,
    purpose: input.purpose,
    appliesTo: item.number,
    currency: item.currency,
    date: input.date,
    receivableAccount: item.receivableAccount,
    account: input.account,
    amount: minor(input.amount),
    reference: input.reference ?? '',
    memo: input.memo ?? '',
    ...(input.group ? { group: input.group } : {}),
  };
}

/** Throws unless `amounts` together move `item.open` towards zero without passing it. */
function checkSettles(key: DocumentKey, item: OpenItem, amounts: readonly Minor[]): void {
  const paid = sum(amounts);
  const settles = item.open !== 0 && Math.sign(paid) === Math.sign(item.open) && Math.abs(paid) <= Math.abs(item.open);
  if (!settles) {
    throw new OverpaymentError(`${formatDocumentKey(key)}: ${money(item, paid)} on ${item.number} would settle more than its open ${money(item, item.open)}`, {
      field: 'amount',
      hint: 'book the difference as a price reduction within the tolerance, or refund it with a credit note',
    });
  }
}

/** D1: one payment (partial or in full) of money received on a clearing account. */
export function buildPayment(input: PaymentInput, policy: PaymentPolicy = {}): PaymentDocument {
  const doc = checkPayment(input, policy);
  checkSettles(input.key, input.item, [doc.amount]);
  return doc;
}

export interface SettlementInput {
  item: OpenItem;
  date: string;
  /** Money received, booked on `clearingAccount`. */
  received: Minor;
  clearingAccount: string;
  reference?: string;
  memo?: string;
  /** D3: bank or PSP fees withheld from the amount received. */
  fee?: { amount: Minor; account: string };
  /** D4: skonto the customer deducted. */
  skonto?: { amount: Minor; account: string };
  /** D2: write off a small remaining difference (either way) as a price reduction. */
  writeOff?: { account: string; tolerance: Minor };
  /** The key of each payment document, by part (`payment`, `bank-fee`, `skonto`, `price-reduction`). */
  key: (part: PaymentPurpose) => DocumentKey;
  policy?: PaymentPolicy;
}

/**
 * D1–D4: money received plus fee, skonto and write-off entries, one payment document each.
 * What is left open afterwards stays open (partial payment); what would overshoot the open
 * amount is an error unless the write-off tolerance covers it.
 */
export function settle(input: SettlementInput): PaymentDocument[] {
  const { item } = input;
  const common = { item, date: input.date, reference: input.reference ?? '', memo: input.memo ?? '' };
  const policy = input.policy ?? {};
  const docs: PaymentDocument[] = [checkPayment({ ...common, key: input.key('payment'), purpose: 'payment', account: input.clearingAccount, amount: input.received }, policy)];
  if (input.fee && input.fee.amount !== 0) {
    docs.push(checkPayment({ ...common, key: input.key('bank-fee'), purpose: 'bank-fee', account: input.fee.account, amount: input.fee.amount }, policy));
  }
  if (input.skonto && input.skonto.amount !== 0) {
    docs.push(checkPayment({ ...common, key: input.key('skonto'), purpose: 'skonto', account: input.skonto.account, amount: input.skonto.amount }, policy));
  }
  for (const d of docs) {
    if (Math.sign(d.amount) !== Math.sign(item.open)) {
      throw new BooksError(`${formatDocumentKey(d.key)}: a ${d.purpose} of ${money(item, d.amount)} runs against the open ${money(item, item.open)} of ${item.number}`, { field: 'amount' });
    }
  }
  const left = sub(item.open, sum(docs.map((d) => d.amount)));
  if (left !== 0 && input.writeOff && Math.abs(left) <= Math.abs(input.writeOff.tolerance)) {
    docs.push(checkPayment({ ...common, key: input.key('price-reduction'), purpose: 'price-reduction', account: input.writeOff.account, amount: left }, policy));
  }
  checkSettles(input.key('payment'), item, docs.map((d) => d.amount));
  return docs;
}

/** Σ postings on the transfer account over a group's documents, per currency; zero when sound. */
export function assertTransferNetsZero(group: string, docs: readonly BookDocument[], transferAccount: string): void {
  const balance = balanceByCurrency(docs, transferAccount);
  const off = Object.entries(balance).filter(([, amount]) => amount !== 0);
  if (off.length > 0) {
    throw new TransferImbalanceError(`group ${group} leaves ${off.map(([c, a]) => `${c} ${formatDecimal(a, currencyExponent(c))}`).join(', ')} on transfer account ${transferAccount}`, {
      hint: 'a storno or netting group must pay both documents by the same amount',
    });
  }
}

export interface NettingInput {
  /** The document with a positive open amount (an invoice). */
  debit: OpenItem;
  /** The document with a negative open amount (a credit note or storno). */
  credit: OpenItem;
  /** How much to net; by default as much as both allow. */
  amount?: Minor;
  date: string;
  transferAccount: string;
  group: string;
  key: (side: 'debit' | 'credit') => DocumentKey;
  memo?: string;
}

/**
 * D5: close one position with +X and another with −X on the transfer account, so that the
 * transfer account's balance does not change.
 */
export function netThroughTransfer(input: NettingInput): [PaymentDocument, PaymentDocument] {
  const { debit, credit } = input;
  const where = formatDocumentKey(input.key('debit'));
  if (debit.currency !== credit.currency) throw new BooksError(`${where}: cannot net ${debit.currency} against ${credit.currency}`, { field: 'currency' });
  if (debit.open <= 0 || credit.open >= 0) {
    throw new BooksError(`${where}: netting needs an open receivable (${debit.number}: ${money(debit, debit.open)}) and an open credit (${credit.number}: ${money(credit, credit.open)})`);
  }
  const amount = input.amount ?? minor(Math.min(debit.open, -credit.open));
  if (amount <= 0) throw new BooksError(`${where}: the amount to net must be positive`, { field: 'amount' });
  const memo = input.memo ?? `Netting ${debit.number} / ${credit.number}`;
  const common = { date: input.date, purpose: 'transfer' as const, account: input.transferAccount, group: input.group, memo };
  const pay = buildPayment({ ...common, key: input.key('debit'), item: debit, amount });
  const refund = buildPayment({ ...common, key: input.key('credit'), item: credit, amount: minor(-amount) });
  assertTransferNetsZero(input.group, [pay, refund], input.transferAccount);
  return [pay, refund];
}

export interface ReversalInput {
  /** The document the money is taken back on: a credit note or storno with a negative open amount. */
  item: OpenItem;
  /** The payments whose money is taken back; transfer payments are left out (they net to zero by themselves). */
  payments: readonly PaymentDocument[];
  date: string;
  /** The key of each reversing payment, by part: its purpose, or `<purpose>-<account>` when a purpose was booked on several accounts. */
  key: (part: string) => DocumentKey;
  memo?: string;
  policy?: PaymentPolicy;
}

/**
 * Take back the money booked by `payments` (of an invoice and its credit notes) on `item`: per
 * purpose and account, one payment of the opposite of their net amount, so that each account
 * they moved returns to where it was. A correction books this on the credit note or storno that
 * takes back an invoice whose money moves to the invoice that replaces it. Together the
 * reversals must settle `item` without passing zero.
 */
export function reversePayments(input: ReversalInput): PaymentDocument[] {
  const nets = new Map<string, { purpose: PaymentPurpose; account: string; amount: Minor }>();
  for (const p of input.payments) {
    if (p.purpose === 'transfer') continue;
    if (p.currency !== input.item.currency) throw new BooksError(`${formatDocumentKey(p.key)}: cannot take back ${p.currency} on ${input.item.currency} document ${input.item.number}`, { field: 'currency' });
    const id = `${p.purpose}|${p.account}`;
    const seen = nets.get(id);
    nets.set(id, { purpose: p.purpose, account: p.account, amount: sum([seen?.amount ?? minor(0), p.amount]) });
  }
  const open = [...nets.values()].filter((n) => n.amount !== 0).sort((a, b) => a.purpose.localeCompare(b.purpose) || a.account.localeCompare(b.account));
  if (open.length === 0) return [];
  const repeated = new Set(open.filter((n, i) => open.findIndex((o) => o.purpose === n.purpose) !== i).map((n) => n.purpose));
  const docs = open.map((n) =>
    checkPayment(
      {
        key: input.key(repeated.has(n.purpose) ? `${n.purpose}-${n.account}` : n.purpose),
        item: input.item,
        purpose: n.purpose,
        account: n.account,
        amount: neg(n.amount),
        date: input.date,
        memo: input.memo ?? `Reversal on ${input.item.number}`,
      },
      input.policy ?? {},
    ),
  );
  checkSettles(docs[0]!.key, input.item, docs.map((d) => d.amount));
  return docs;
}
