/**
 * Figure "mapping" (issue #4): orders/s of the declarative engine (mapOrder with
 * bench/mapping.yaml) against a hand-written TypeScript mapper of the same rules
 * (bench/hand-mapper.ts), over the same generated orders. Goal: the engine reaches at least
 * half the hand-written speed.
 *
 * Before timing, every order is mapped by both and every document compared (kind, key,
 * number, date, postings by account, role and amount); the first difference aborts the run.
 */
import path from 'node:path';
import { formatDocumentKey, numberOf, postingsOf, type BookDocument } from '../../src/books/index.js';
import { loadMapping, type Mapping } from '../../src/mapping/load.js';
import { mapOrder, type MapOutcome } from '../../src/mapping/map-order.js';
import type { CanonicalOrder } from '../../src/sources/order.js';
import { handMapOrder, type HandOutcome } from '../hand-mapper.js';
import { generateOrders } from '../orders.js';
import { BenchMismatchError, median, ROOT, sideBySide, type Figure, type FigureOutcome } from '../harness.js';

export const MAPPING_FILE = path.join(ROOT, 'bench', 'mapping.yaml');

/** What must agree between the two mappers, document by document. */
function comparable(doc: BookDocument) {
  return {
    kind: doc.kind,
    key: formatDocumentKey(doc.key),
    number: numberOf(doc),
    date: doc.kind === 'customer' ? null : doc.date,
    postings: postingsOf(doc).map((p) => `${p.account} ${p.role} ${p.amount}`),
  };
}

type Outcome = { kind: 'skipped' } | { kind: 'documents'; documents: ReturnType<typeof comparable>[] } | { kind: 'error'; message: string };

async function declarative(order: CanonicalOrder, mapping: Mapping): Promise<Outcome> {
  let outcome: MapOutcome;
  try {
    outcome = await mapOrder(order, mapping);
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  return outcome.kind === 'skipped' ? { kind: 'skipped' } : { kind: 'documents', documents: outcome.documents.map(comparable) };
}

function handWritten(order: CanonicalOrder): Outcome {
  let outcome: HandOutcome;
  try {
    outcome = handMapOrder(order);
  } catch (error) {
    return { kind: 'error', message: (error as Error).message };
  }
  return outcome.kind === 'skipped' ? { kind: 'skipped' } : { kind: 'documents', documents: outcome.documents.map(comparable) };
}

/** The first way two outcomes differ, or null. */
function difference(a: Outcome, b: Outcome): string | null {
  if (a.kind !== b.kind) return `declarative: ${a.kind}, hand-written: ${b.kind}`;
  if (a.kind !== 'documents' || b.kind !== 'documents') return null;
  const n = Math.max(a.documents.length, b.documents.length);
  for (let i = 0; i < n; i++) {
    const x = JSON.stringify(a.documents[i] ?? null);
    const y = JSON.stringify(b.documents[i] ?? null);
    if (x !== y) return `document ${i}:\n  declarative:  ${x}\n  hand-written: ${y}`;
  }
  return null;
}

/** Map every order both ways and compare; throws on the first difference. */
async function verify(orders: readonly CanonicalOrder[], mapping: Mapping) {
  const counts = { documents: 0, skipped: 0, errors: 0, postings: 0 };
  /** Rejections by message (digits folded), with the first example. */
  const errors = new Map<string, { count: number; example: string }>();
  const rejected = new Set<CanonicalOrder>();
  for (const order of orders) {
    const a = await declarative(order, mapping);
    const b = handWritten(order);
    const diff = difference(a, b);
    if (diff !== null) {
      throw new BenchMismatchError(
        [
          `the hand-written mapper and mapOrder disagree on order ${order.id}: ${diff}`,
          `order: ${JSON.stringify(order)}`,
          `declarative:  ${JSON.stringify(a)}`,
          `hand-written: ${JSON.stringify(b)}`,
        ].join('\n'),
      );
    }
    if (a.kind === 'documents') {
      counts.documents += a.documents.length;
      counts.postings += a.documents.reduce((s, d) => s + d.postings.length, 0);
    } else if (a.kind === 'skipped') counts.skipped++;
    else {
      counts.errors++;
      rejected.add(order);
      const kind = a.message.replace(/\d+(\.\d+)?/g, 'N');
      const known = errors.get(kind);
      if (known) known.count++;
      else errors.set(kind, { count: 1, example: `order ${order.id}: ${a.message}` });
    }
  }
  return { counts, errors, rejected };
}

export const mappingFigure: Figure = {
  name: 'mapping',
  description: 'orders/s: mapOrder with bench/mapping.yaml vs a hand-written TypeScript mapper of the same rules',
  goal: { on: 'ratio', atLeast: 0.5 },
  async run(options): Promise<FigureOutcome> {
    const { log } = options;
    const mapping = loadMapping(MAPPING_FILE);
    // A few more orders than timed: orders both mappers reject are left out of the timed set
    // (throwing is not the path being measured), and the timed set keeps its size.
    const { orders, mix } = generateOrders(Math.ceil(options.orders * 1.01) + 10, options.seed);
    log(`mapping: ${orders.length} orders generated (seed ${options.seed}); comparing both mappers on every order …`);
    const { counts, errors, rejected } = await verify(orders, mapping);
    log(`mapping: identical on all ${orders.length} orders: ${counts.documents} documents, ${counts.postings} postings, ${counts.skipped} skipped, ${counts.errors} rejected by both`);
    for (const { count, example } of errors.values()) log(`  rejected by both (${count}×), e.g. ${example}`);
    const timed = orders.filter((o) => !rejected.has(o)).slice(0, options.orders);
    if (timed.length < options.orders) log(`mapping: only ${timed.length} orders to time (${options.orders} asked)`);
    const declarativePass = async () => {
      let docs = 0;
      for (const order of timed) {
        const outcome = await mapOrder(order, mapping);
        if (outcome.kind === 'documents') docs += outcome.documents.length;
      }
      return docs;
    };
    const handPass = () => {
      let docs = 0;
      for (const order of timed) {
        const outcome = handMapOrder(order);
        if (outcome.kind === 'documents') docs += outcome.documents.length;
      }
      return docs;
    };
    const ms = await sideBySide({ label: 'declarative', pass: declarativePass }, { label: 'hand-written', pass: handPass }, options.rounds, 2, log);
    const rate = (t: number) => (timed.length / t) * 1000;
    const spread = (xs: number[]) => `${Math.round(Math.min(...xs.map(rate)))}–${Math.round(Math.max(...xs.map(rate)))}`;
    // Each round's two passes ran back to back: their ratio is the least disturbed by load that comes and goes.
    const paired = ms.a.map((t, i) => ms.b[i]! / t).sort((x, y) => x - y);
    return {
      what: `orders/s over ${timed.length.toLocaleString('en-US')} varied orders`,
      measured: { label: 'declarative', value: rate(median(ms.a)), unit: 'orders/s', samples: ms.a.map(rate) },
      baseline: { label: 'hand-written', value: rate(median(ms.b)), unit: 'orders/s', samples: ms.b.map(rate) },
      notes: [
        `median of ${options.rounds} interleaved rounds each, after 2 warm-up passes; spread declarative ${spread(ms.a)}, hand-written ${spread(ms.b)} orders/s`,
        `ratio per round (declarative/hand-written, passes back to back): ${paired.map((r) => r.toFixed(2)).join(', ')}; median ${median(paired).toFixed(2)}`,
        `verified ${orders.length} orders: ${counts.documents} documents (${counts.postings} postings) identical, ${counts.skipped} skipped by both, ${counts.errors} rejected by both (not timed)`,
      ],
      details: {
        orders: orders.length,
        timedOrders: timed.length,
        seed: options.seed,
        rounds: options.rounds,
        msPerRound: { declarative: ms.a, handWritten: ms.b },
        pairedRatios: paired,
        verified: counts,
        rejected: [...errors.values()],
        mix,
      },
    };
  },
};
