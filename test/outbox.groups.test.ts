/**
 * Storno groups in the outbox (issue #8): a storno and its two transfer payments are queued one
 * behind the other; when a member ends dead or skipped after another went through, the group is
 * broken and said loudly, with what the transfer account holds of it.
 */
import { describe, expect, it } from 'vitest';
import { buildInvoice, buildStorno, formatDocumentKey, type BookDocument } from '../src/books/index.js';
import { migrateLatest } from '../src/db/migrate.js';
import { claimEntries } from '../src/outbox/claim.js';
import { enqueueEntry, storeDocument } from '../src/outbox/enqueue.js';
import { brokenGroups, describeBrokenGroup, groupStates } from '../src/outbox/groups.js';
import { markDead, markDelivered } from '../src/outbox/settle.js';
import { skipEntry } from '../src/outbox/operator.js';
import { money } from '../src/service/summary.js';
import { DIALECTS, freshDatabase, HAS_POSTGRES } from './helpers.js';
import { income, key, sales } from './usecase-documents.js';

function stornoGroup(): BookDocument[] {
  const invoice = buildInvoice(sales('R-10', [income('99.00')]));
  const { storno, transfers } = buildStorno(invoice, {
    key: key('storno', 'R-10'),
    number: 'R-10-S',
    transferAccount: '1090',
    paymentKey: (side: 'invoice' | 'storno') => key('payment', 'R-10', `storno-${side}`),
    date: '2017-04-02',
  });
  return [invoice, storno, ...transfers];
}

describe.each(DIALECTS)('storno groups in the outbox on %s', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('a group is whole until a member is stuck after another went through; then it is broken, with what the transfer account holds', async () => {
    const { db, drop } = await freshDatabase(dialect);
    try {
      await migrateLatest(db);
      const [snapshot] = (await db('source_snapshots')
        .insert({ source: 'shop', record_id: 'R-10', content_hash: 'h', raw: '{}', origin: 'test', fetched_at: new Date().toISOString() })
        .returning('id')) as { id: number }[];
      const entries: { id: number; doc: BookDocument }[] = [];
      let previous: number | null = null;
      for (const doc of stornoGroup()) {
        const stored = await storeDocument(db, doc, Number(snapshot!.id), false);
        if (!('id' in stored)) throw new Error('not stored');
        const entry = await enqueueEntry(db, { documentId: stored.id, documentKey: stored.key, target: 'rma', dependsOn: previous });
        previous = entry.id;
        entries.push({ id: entry.id, doc });
      }
      const [invoice, storno, toInvoice, toStorno] = entries as [(typeof entries)[0], (typeof entries)[0], (typeof entries)[0], (typeof entries)[0]];
      /** The next entry claimed (the queue hands them out in order), which must be `id`. */
      const claimed = async (id: number) => {
        const [entry] = await claimEntries(db, { target: 'rma', owner: 'test', limit: 1, leaseMs: 60_000 });
        expect(entry?.id).toBe(id);
        return entry!;
      };

      const [group] = await groupStates(db);
      expect(group).toMatchObject({ target: 'rma', currency: 'CHF', transferDelivered: 0, broken: false });
      expect(group!.members.map((m) => [m.kind, m.document, m.transfer])).toEqual([
        ['storno', formatDocumentKey(storno.doc.key), 0],
        ['payment', formatDocumentKey(toInvoice.doc.key), 10692],
        ['payment', formatDocumentKey(toStorno.doc.key), -10692],
      ]);

      // The invoice, the storno and the first transfer payment go through; the second goes dead.
      for (const e of [invoice, storno, toInvoice]) expect(await markDelivered(db, await claimed(e.id), `id-${e.id}`)).toBe(true);
      expect(await brokenGroups(db)).toEqual([]);
      expect(await markDead(db, await claimed(toStorno.id), 'HTTP 400: account 1090 locked')).toBe(true);
      const [broken] = await brokenGroups(db);
      expect(broken).toMatchObject({ group: storno.doc.kind === 'storno' ? storno.doc.group : '', transferDelivered: 10692, broken: true });
      expect(describeBrokenGroup(broken!, money)).toBe(
        `group ${broken!.group} on target rma is broken: delivered storno ${formatDocumentKey(storno.doc.key)}, payment ${formatDocumentKey(toInvoice.doc.key)}; ` +
          `not delivered payment ${formatDocumentKey(toStorno.doc.key)} (dead). The transfer account holds CHF 106.92 of it: ` +
          'retry the entries that did not go through (kontor outbox retry) or book the counterpart by hand',
      );
      // Skipping it for good keeps it broken: only delivering the counterpart mends the books.
      await skipEntry(db, toStorno.id, 'booked by hand');
      expect((await brokenGroups(db, { target: 'rma' }))[0]!.members.at(-1)!.state).toBe('skipped');
      expect(await brokenGroups(db, { target: 'other' })).toEqual([]);
    } finally {
      await drop();
    }
  });
});
