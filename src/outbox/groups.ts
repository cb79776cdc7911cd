/**
 * Storno and netting groups in the outbox (issue #8): a storno and its two transfer payments
 * (C2/C3), or the two payments of a netting (D5), share a `group`. They are queued one behind
 * the other and delivered in one round, but a member can still end dead or be skipped while
 * the others went through. Then the books at the target are off: the transfer account keeps
 * what one transfer payment booked without its counterpart, or an invoice and its storno stay
 * open side by side. Such a group is *broken*, and said loudly (deliver.ts, `kontor status`).
 */
import type { Knex } from 'knex';
import { postingsOf, type BookDocument, type Minor } from '../books/index.js';
import type { OutboxState } from './states.js';

export interface GroupMember {
  entry: number;
  document: string;
  kind: BookDocument['kind'];
  state: OutboxState;
  /** What the document books on the transfer account (a transfer payment; 0 for the storno). */
  transfer: Minor;
}

export interface GroupState {
  target: string;
  group: string;
  currency: string;
  members: GroupMember[];
  /** Σ of `transfer` over the delivered members: what the target's transfer account holds of this group now. */
  transferDelivered: Minor;
  /** Some members delivered, some dead or skipped: the target's books stay off until a person acts. */
  broken: boolean;
}

const STOPPED: readonly OutboxState[] = ['dead', 'skipped'];

/** Every group in the outbox (of one target, or of one group), members in queue order. */
export async function groupStates(db: Knex, options: { target?: string; group?: string } = {}): Promise<GroupState[]> {
  // A text prefilter on the JSON body (the same on SQLite and PostgreSQL), confirmed on the parsed document.
  const needle = options.group === undefined ? '"group":' : `"group":${JSON.stringify(options.group)}`;
  const q = db('outbox_entries as e')
    .join('documents as d', 'd.id', 'e.document_id')
    .whereIn('d.kind', ['storno', 'payment'])
    .whereRaw("d.body LIKE ? ESCAPE '\\'", [`%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`])
    .orderBy('e.id')
    .select('e.id', 'e.target', 'e.state', 'd.doc_key', 'd.body');
  if (options.target !== undefined) q.where('e.target', options.target);
  const rows = (await q) as { id: number; target: string; state: OutboxState; doc_key: string; body: string }[];
  const groups = new Map<string, GroupState>();
  for (const row of rows) {
    const doc = JSON.parse(row.body) as BookDocument;
    if ((doc.kind !== 'storno' && doc.kind !== 'payment') || !doc.group || (options.group !== undefined && doc.group !== options.group)) continue;
    const id = `${row.target}\n${doc.group}`;
    let state = groups.get(id);
    if (!state) {
      state = { target: row.target, group: doc.group, currency: doc.currency, members: [], transferDelivered: 0 as Minor, broken: false };
      groups.set(id, state);
    }
    const transfer = postingsOf(doc)
      .filter((p) => p.role === 'transfer')
      .reduce((a, p) => a + p.amount, 0) as Minor;
    state.members.push({ entry: Number(row.id), document: row.doc_key, kind: doc.kind, state: row.state, transfer });
  }
  for (const g of groups.values()) {
    g.transferDelivered = g.members.filter((m) => m.state === 'delivered').reduce((a, m) => a + m.transfer, 0) as Minor;
    g.broken = g.members.some((m) => m.state === 'delivered') && g.members.some((m) => STOPPED.includes(m.state));
  }
  return [...groups.values()];
}

/** Groups with members delivered and others dead or skipped. */
export async function brokenGroups(db: Knex, options: { target?: string } = {}): Promise<GroupState[]> {
  return (await groupStates(db, options)).filter((g) => g.broken);
}

/** One line for a broken group: which members went through, which did not, and what the transfer account holds. */
export function describeBrokenGroup(g: GroupState, formatAmount: (amount: Minor, currency: string) => string): string {
  const through = g.members.filter((m) => m.state === 'delivered').map((m) => `${m.kind} ${m.document}`);
  const stuck = g.members.filter((m) => m.state !== 'delivered').map((m) => `${m.kind} ${m.document} (${m.state})`);
  return (
    `group ${g.group} on target ${g.target} is broken: delivered ${through.join(', ')}; not delivered ${stuck.join(', ')}. ` +
    `The transfer account holds ${formatAmount(g.transferDelivered, g.currency)} of it${g.transferDelivered === 0 ? ' (the invoice and its storno stay open side by side)' : ''}: ` +
    'retry the entries that did not go through (kontor outbox retry) or book the counterpart by hand'
  );
}
