/**
 * The local journal target: books double-entry postings into kontor's own database.
 * It is the default target, so a new installation can watch orders become balanced
 * entries without any accounting account, and it is the reference every remote target's
 * behaviour is compared with.
 */
import type { Knex } from 'knex';
import { assertBalanced, currencyOf, formatDocumentKey, itemStatus, minor, numberOf, postingsOf, type BookDocument, type ItemStatus, type Minor } from '../books/index.js';
import { toInt } from '../db/connect.js';
import { chunksOf } from '../db/sql.js';
import { nowIso } from '../db/time.js';
import type { Delivered, TargetAdapter } from './types.js';

function describe(doc: BookDocument): string {
  switch (doc.kind) {
    case 'customer':
      return `Customer ${doc.number}: ${doc.name}`;
    case 'payment':
      return `${doc.purpose} on ${doc.appliesTo}${doc.memo ? `: ${doc.memo}` : ''}`;
    default:
      return doc.description;
  }
}

/** The document an entry settles or refers to: a payment's invoice, a credit note's, a storno's. */
function appliesTo(doc: BookDocument): string | null {
  if (doc.kind === 'payment') return doc.appliesTo;
  if (doc.kind === 'credit-note') return doc.credits;
  if (doc.kind === 'storno') return doc.reverses;
  return null;
}

/**
 * The rows the journal writes for a document, checked to balance: also what `kontor preview`
 * shows as the journal's payload.
 */
export function journalEntryOf(target: string, doc: BookDocument) {
  const postings = postingsOf(doc);
  const currency = currencyOf(doc);
  if (currency) assertBalanced(doc.key, currency, postings);
  const entry = {
    target,
    doc_key: formatDocumentKey(doc.key),
    kind: doc.kind,
    number: numberOf(doc),
    entry_date: doc.kind === 'customer' ? null : doc.date,
    currency,
    description: describe(doc),
    applies_to: appliesTo(doc),
    group_key: doc.kind === 'storno' || doc.kind === 'payment' ? (doc.group ?? null) : null,
    receivable: doc.kind === 'customer' ? null : postings.filter((p) => p.account === doc.receivableAccount).reduce((a, p) => a + p.amount, 0),
  };
  const lines = postings.map((p, i) => ({
    line_no: i + 1,
    account: p.account,
    amount: p.amount,
    currency: currency!,
    vat_rate_bp: p.vatRate ?? null,
    vat_code: p.vatCode ?? null,
    text: p.text,
  }));
  return { entry, lines };
}

/** Lines per INSERT of one journal entry: knex's multi-row insert on SQLite (a compound SELECT) takes at most 500. */
const LINES_PER_INSERT = 250;

export class JournalTarget implements TargetAdapter {
  readonly type = 'journal';

  constructor(
    readonly name: string,
    private readonly db: Knex,
    private readonly transferAccount: string,
  ) {}

  async lookup(doc: BookDocument): Promise<Delivered | null> {
    const row = (await this.db('journal_entries').where({ target: this.name, doc_key: formatDocumentKey(doc.key) }).first('id')) as
      | { id: number }
      | undefined;
    return row ? { externalId: `journal:${row.id}` } : null;
  }

  async deliver(doc: BookDocument): Promise<Delivered> {
    const { entry, lines } = journalEntryOf(this.name, doc);
    return this.db.transaction(async (trx) => {
      const key = entry.doc_key;
      // The unique (target, doc_key) makes a second delivery of the same document a lookup.
      const inserted = (await trx('journal_entries')
        .insert({ ...entry, master_data: doc.kind === 'customer' ? JSON.stringify(doc) : null, booked_at: nowIso() })
        .onConflict(['target', 'doc_key'])
        .ignore()
        .returning('id')) as { id: number }[];
      if (inserted.length === 0) {
        const existing = (await trx('journal_entries').where({ target: this.name, doc_key: key }).first('id')) as { id: number };
        return { externalId: `journal:${existing.id}` };
      }
      const entryId = Number(inserted[0]!.id);
      for (const chunk of chunksOf(lines, LINES_PER_INSERT)) await trx('journal_lines').insert(chunk.map((line) => ({ entry_id: entryId, ...line })));
      return { externalId: `journal:${entryId}` };
    });
  }

  async transferBalance(): Promise<Record<string, Minor>> {
    return accountBalance(this.db, this.name, this.transferAccount);
  }
}

export interface TrialBalanceRow {
  account: string;
  currency: string;
  debit: Minor;
  credit: Minor;
  balance: Minor;
}

/** Sums per account and currency over everything the journal target has booked. */
export async function trialBalance(db: Knex, target: string): Promise<TrialBalanceRow[]> {
  const rows = (await db('journal_lines as l')
    .join('journal_entries as e', 'e.id', 'l.entry_id')
    .where('e.target', target)
    .groupBy('l.account', 'l.currency')
    .orderBy(['l.currency', 'l.account'])
    .select(
      'l.account',
      'l.currency',
      db.raw('SUM(CASE WHEN l.amount > 0 THEN l.amount ELSE 0 END) AS debit'),
      db.raw('SUM(CASE WHEN l.amount < 0 THEN -l.amount ELSE 0 END) AS credit'),
    )) as {
    account: string;
    currency: string;
    debit: number | string;
    credit: number | string;
  }[];
  return rows.map((r) => {
    const debit = minor(toInt(r.debit ?? 0));
    const credit = minor(toInt(r.credit ?? 0));
    return { account: r.account, currency: r.currency, debit, credit, balance: minor(debit - credit) };
  });
}

export async function accountBalance(db: Knex, target: string, account: string): Promise<Record<string, Minor>> {
  const rows = (await db('journal_lines as l')
    .join('journal_entries as e', 'e.id', 'l.entry_id')
    .where({ 'e.target': target, 'l.account': account })
    .groupBy('l.currency')
    .select('l.currency')
    .sum({ balance: 'l.amount' })) as { currency: string; balance: number | string }[];
  return Object.fromEntries(rows.map((r) => [r.currency, minor(toInt(r.balance ?? 0))]));
}

export interface StatementRow {
  date: string;
  number: string;
  kind: string;
  text: string;
  currency: string;
  amount: Minor;
  /** Running balance of the account in this currency. */
  balance: Minor;
}

/** Every posting on one account in date order, with its running balance per currency. */
export async function accountStatement(db: Knex, target: string, account: string): Promise<StatementRow[]> {
  const rows = (await db('journal_lines as l')
    .join('journal_entries as e', 'e.id', 'l.entry_id')
    .where({ 'e.target': target, 'l.account': account })
    .orderBy([{ column: 'e.entry_date' }, { column: 'e.id' }, { column: 'l.line_no' }])
    .select('e.entry_date', 'e.number', 'e.kind', 'l.text', 'l.currency', 'l.amount')) as {
    entry_date: string;
    number: string;
    kind: string;
    text: string;
    currency: string;
    amount: number | string;
  }[];
  const running = new Map<string, number>();
  return rows.map((r) => {
    const amount = minor(toInt(r.amount));
    const balance = minor((running.get(r.currency) ?? 0) + amount);
    running.set(r.currency, balance);
    return { date: r.entry_date, number: r.number, kind: r.kind, text: r.text, currency: r.currency, amount, balance };
  });
}

export interface OpenItemRow {
  number: string;
  kind: string;
  date: string;
  currency: string;
  total: Minor;
  settled: Minor;
  open: Minor;
  status: ItemStatus;
}

/** Invoices, credit notes and stornos with what their payments settled (open, partly paid, paid). */
export async function openItemRows(db: Knex, target: string): Promise<OpenItemRow[]> {
  const settled = db('journal_entries')
    .where({ target, kind: 'payment' })
    .groupBy('applies_to', 'currency')
    .select('applies_to', 'currency')
    .sum({ paid: 'receivable' })
    .as('p');
  const rows = (await db('journal_entries as d')
    .leftJoin(settled, function () {
      this.on('p.applies_to', '=', 'd.number').andOn('p.currency', '=', 'd.currency');
    })
    .where('d.target', target)
    .whereIn('d.kind', ['invoice', 'credit-note', 'storno'])
    .orderBy([{ column: 'd.entry_date' }, { column: 'd.id' }])
    .select('d.number', 'd.kind', 'd.entry_date', 'd.currency', 'd.receivable', 'p.paid')) as {
    number: string;
    kind: string;
    entry_date: string;
    currency: string;
    receivable: number | string;
    paid: number | string | null;
  }[];
  return rows.map((r) => {
    const total = minor(toInt(r.receivable));
    // Payment rows hold their receivable posting, which is negative for money received.
    const open = minor(total + toInt(r.paid ?? 0));
    return { number: r.number, kind: r.kind, date: r.entry_date, currency: r.currency, total, settled: minor(total - open), open, status: itemStatus(total, open) };
  });
}

export interface GroupBalanceRow {
  group: string;
  currency: string;
  /** Σ of the group's postings on the transfer account; anything but zero is a defect. */
  balance: Minor;
  documents: number;
}

/** Storno and netting groups with their transfer-account balance. */
export async function transferGroups(db: Knex, target: string, transferAccount: string): Promise<GroupBalanceRow[]> {
  const rows = (await db('journal_entries as e')
    .leftJoin('journal_lines as l', function () {
      this.on('l.entry_id', '=', 'e.id').andOn('l.account', '=', db.raw('?', [transferAccount]));
    })
    .where('e.target', target)
    .whereNotNull('e.group_key')
    .groupBy('e.group_key', 'e.currency')
    .orderBy('e.group_key')
    .select('e.group_key', 'e.currency', db.raw('COALESCE(SUM(l.amount), 0) AS balance'), db.raw('COUNT(DISTINCT e.id) AS documents'))) as {
    group_key: string;
    currency: string;
    balance: number | string;
    documents: number | string;
  }[];
  return rows.map((r) => ({ group: r.group_key, currency: r.currency, balance: minor(toInt(r.balance)), documents: toInt(r.documents) }));
}
