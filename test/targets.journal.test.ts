/**
 * The local journal target books every document kind of the books: its trial balance sums to
 * zero, open items follow payments, and the transfer account is zero after stornos and
 * netting, on SQLite and PostgreSQL alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildCreditNote,
  buildCustomer,
  buildInvoice,
  buildPayment,
  buildStorno,
  netThroughTransfer,
  openItemOf,
  parseDecimal,
  settle,
  vatRate,
  type BookDocument,
  type DocumentKey,
  type InvoiceDocument,
  type Minor,
  type VatTreatment,
} from '../src/books/index.js';
import { migrateLatest } from '../src/db/migrate.js';
import { accountStatement, JournalTarget, openItemRows, transferGroups, trialBalance } from '../src/targets/journal.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';

const chf = (text: string): Minor => parseDecimal(text, 2);
const STANDARD: VatTreatment = { rate: vatRate('8.1'), code: 'standard', account: '2201' };
const TRANSFER = '1090';
const key = (subject: string, kind: DocumentKey['kind'], part?: string): DocumentKey => ({ source: 'shop', subject, kind, revision: 1, ...(part ? { part } : {}) });

function invoice(n: string, net: string, date = '2026-10-12'): InvoiceDocument {
  return buildInvoice({
    key: key(n, 'invoice'),
    number: n,
    orderNumber: n,
    customerNumber: 'C-1',
    currency: 'CHF',
    date,
    dueDate: date,
    description: `Order ${n}`,
    receivableAccount: '1100',
    lines: [{ account: '3200', amount: chf(net), text: 'Goods', vat: STANDARD }],
    vat: { basis: 'net', rounding: 'per-line' },
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe.each(DIALECTS)('journal target on %s', (dialect) => {
  const test = it.skipIf(dialect === 'postgres' && !HAS_POSTGRES);

  async function journal() {
    const { db, drop } = await freshDatabase(dialect);
    cleanups.push(drop);
    await migrateLatest(db);
    return { db, target: new JournalTarget('journal', db, TRANSFER) };
  }

  test('books every kind, balances, tracks open items, and nets the transfer account to zero', async () => {
    const { db, target } = await journal();
    const customer = buildCustomer({ key: key('C-1', 'customer'), number: 'C-1', name: 'Muster AG', company: 'Muster AG', address: {} });

    // 2001: paid in part by card, then skonto (D1, D4).
    const inv1 = invoice('2001', '600.00'); // 648.60 gross
    const payments1 = settle({
      item: openItemOf(inv1, []),
      date: '2026-10-20',
      received: chf('635.65'),
      clearingAccount: '1091',
      skonto: { amount: chf('12.95'), account: '3800' },
      key: (part) => key('2001', 'payment', part),
    });
    // 2002: cancelled while its VAT period is open: storno and two transfer payments (C2).
    const inv2 = invoice('2002', '100.00');
    const storno = buildStorno(inv2, {
      key: key('2002', 'storno'),
      number: '2002-S',
      transferAccount: TRANSFER,
      vatSettledUntil: '2026-09-30',
      date: '2026-10-15',
      paymentKey: (side) => key('2002', 'payment', `storno-${side}`),
    });
    // 2003: partly credited (B1), the credit netted against the invoice (D5), the rest paid in part.
    const inv3 = invoice('2003', '200.00');
    const credit = buildCreditNote(
      {
        key: key('2003', 'credit-note'),
        number: '2003-G',
        date: '2026-10-18',
        dueDate: '2026-10-18',
        description: 'Returned goods',
        lines: [{ account: '3200', amount: chf('-50.00'), text: 'Return', vat: STANDARD }],
        vat: { basis: 'net', rounding: 'per-line' },
      },
      inv3,
    );
    const netting = netThroughTransfer({
      debit: openItemOf(inv3, []),
      credit: openItemOf(credit, []),
      date: '2026-10-18',
      transferAccount: TRANSFER,
      group: 'netting:2003',
      key: (side) => key('2003', 'payment', `netting-${side}`),
    });
    const partial = buildPayment({
      key: key('2003', 'payment', 'card'),
      item: openItemOf(inv3, netting),
      purpose: 'payment',
      account: '1091',
      amount: chf('100.00'),
      date: '2026-10-19',
    });

    const docs: BookDocument[] = [customer, inv1, ...payments1, inv2, storno.storno, ...storno.transfers, inv3, credit, ...netting, partial];
    for (const doc of docs) await target.deliver(doc);
    // Delivering everything again books nothing twice.
    for (const doc of docs) await target.deliver(doc);
    expect(Number(((await db('journal_entries').count({ n: '*' }))[0] as { n: number | string }).n)).toBe(docs.length);

    const tb = await trialBalance(db, 'journal');
    expect(tb.reduce((a, r) => a + r.balance, 0)).toBe(0);
    expect(tb.find((r) => r.account === TRANSFER)?.balance).toBe(0);
    expect(await target.transferBalance()).toEqual({ CHF: 0 });
    expect(tb.find((r) => r.account === '3800')?.balance).toBe(1295);

    const groups = await transferGroups(db, 'journal', TRANSFER);
    expect(groups.map((g) => [g.group, g.balance, g.documents])).toEqual([
      ['netting:2003', 0, 2],
      ['storno:shop/2002', 0, 3],
    ]);

    const items = Object.fromEntries((await openItemRows(db, 'journal')).map((i) => [i.number, [i.status, i.open]]));
    expect(items).toEqual({
      '2001': ['paid', 0],
      '2002': ['paid', 0],
      '2002-S': ['paid', 0],
      '2003': ['partly-paid', 21620 - 5405 - 10000],
      '2003-G': ['paid', 0],
    });

    // The receivable account's statement ends at what is still open.
    const statement = await accountStatement(db, 'journal', '1100');
    expect(statement.at(-1)!.balance).toBe(21620 - 5405 - 10000);
    expect(statement.map((r) => r.date)).toEqual([...statement.map((r) => r.date)].sort());
  });

  test('refuses an unbalanced document before writing anything', async () => {
    const { db, target } = await journal();
    const broken = { ...invoice('2010', '10.00'), total: chf('99.99') };
    await expect(target.deliver(broken)).rejects.toThrow(/does not balance/);
    expect(Number(((await db('journal_entries').count({ n: '*' }))[0] as { n: number | string }).n)).toBe(0);
  });
});
