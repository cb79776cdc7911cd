/**
 * The local journal target: books double-entry postings into kontor's own database.
 * It is the default target, so a new installation can watch orders become balanced
 * entries without any accounting account, and it is the reference every remote target's
 * behaviour is compared with.
 */
import type { Knex } from 'knex';
import { assertBalanced, formatDocumentKey, minor, postingsOf, type BookDocument, type Minor } from '../books/index.js';
import { toInt } from '../db/connect.js';
import { nowIso } from '../db/time.js';
import type { Delivered, TargetAdapter } from './types.js';

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
    const key = formatDocumentKey(doc.key);
    const postings = postingsOf(doc);
    const currency = doc.kind === 'invoice' ? doc.currency : null;
    if (currency) assertBalanced(doc.key, currency, postings);
    return this.db.transaction(async (trx) => {
      // The unique (target, doc_key) makes a second delivery of the same document a lookup.
      const inserted = (await trx('journal_entries')
        .insert({
          target: this.name,
          doc_key: key,
          kind: doc.kind,
          number: doc.number,
          entry_date: doc.kind === 'invoice' ? doc.date : null,
          currency,
          description: doc.kind === 'invoice' ? doc.description : `Customer ${doc.number}: ${doc.name}`,
          master_data: doc.kind === 'customer' ? JSON.stringify(doc) : null,
          booked_at: nowIso(),
        })
        .onConflict(['target', 'doc_key'])
        .ignore()
        .returning('id')) as { id: number }[];
      if (inserted.length === 0) {
        const existing = (await trx('journal_entries').where({ target: this.name, doc_key: key }).first('id')) as { id: number };
        return { externalId: `journal:${existing.id}` };
      }
      const entryId = Number(inserted[0]!.id);
      if (postings.length > 0) {
        await trx('journal_lines').insert(
          postings.map((p, i) => ({
            entry_id: entryId,
            line_no: i + 1,
            account: p.account,
            amount: p.amount,
            currency: currency!,
            vat_rate_bp: p.vatRate ?? null,
            vat_code: p.vatCode ?? null,
            text: p.text,
          })),
        );
      }
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
