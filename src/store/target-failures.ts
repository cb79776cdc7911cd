/**
 * Failing calls to a target (issue #7), shared by every kontor process on the database:
 * Billecta's throttling (at most 50 failing calls per 60 s) counts the calls of all of them
 * together, so the failing-calls budget is counted here rather than in each process's memory.
 *
 * A call takes a slot before it goes out (`takeCallSlot`): an `in_flight` row, counted as a
 * failure until its answer says otherwise (`settleCallSlot`: deleted after a good answer, a
 * plain failure after a failing one). The count and the new row are written under one lock
 * (src/db/lock.ts), so however many calls check at the same instant, in this process or in
 * others, failures plus calls in flight never pass the budget. A process killed mid-call
 * leaves its slot counted until IN_FLIGHT_STALE_MS, which is longer than any one exchange.
 *
 * Times are ISO-8601 UTC text, which compares as text.
 */
import type { Knex } from 'knex';
import { toInt } from '../db/connect.js';
import { inLockedTransaction } from '../db/lock.js';

/** Rows older than this are pruned: several windows of 60 s, so nothing still counted is lost. */
export const TARGET_FAILURES_KEEP_MS = 5 * 60_000;

/** A slot whose call never settled (its process died) stops counting after this long. */
export const IN_FLIGHT_STALE_MS = 3 * 60_000;

export type CallSlot = { slot: number } | { refused: { count: number; oldest: Date | null } };

/**
 * Take one of `budget` slots for a call of `target` at `at`: taken when fewer than `budget`
 * failing calls fell within `windowMs` before `at` and calls in flight together; refused
 * otherwise, with that count and the oldest failure in the window (when sending may resume).
 */
export async function takeCallSlot(db: Knex, target: string, at: Date, windowMs: number, budget: number): Promise<CallSlot> {
  return inLockedTransaction(db, `call-slots:${target}`, async (trx) => {
    await trx('target_failures').where('target', target).where('failed_at', '<', new Date(at.getTime() - TARGET_FAILURES_KEEP_MS).toISOString()).delete();
    const since = new Date(at.getTime() - windowMs).toISOString();
    const staleBefore = new Date(at.getTime() - IN_FLIGHT_STALE_MS).toISOString();
    const rows = (await trx('target_failures')
      .where('target', target)
      .where((q) => q.where((f) => f.where('in_flight', false).where('failed_at', '>', since)).orWhere((f) => f.where('in_flight', true).where('failed_at', '>', staleBefore)))
      .select('in_flight', 'failed_at')) as { in_flight: boolean | number; failed_at: string }[];
    if (rows.length >= budget) {
      const failed = rows.filter((r) => !r.in_flight).map((r) => r.failed_at).sort();
      return { refused: { count: rows.length, oldest: failed.length > 0 ? new Date(failed[0]!) : null } };
    }
    const [row] = (await trx('target_failures').insert({ target, failed_at: at.toISOString(), in_flight: true }).returning('id')) as { id: number }[];
    return { slot: toInt(row!.id) };
  });
}

/** The call of `slot` was answered at `at`: a failing answer stays counted from `at`, any other frees the slot. */
export async function settleCallSlot(db: Knex, slot: number, failing: boolean, at: Date): Promise<void> {
  if (failing) await db('target_failures').where('id', slot).update({ in_flight: false, failed_at: at.toISOString() });
  else await db('target_failures').where('id', slot).delete();
}

/** How many failing calls of `target` fell after `since` (exclusive), and the oldest of them; calls in flight not included. */
export async function targetFailuresSince(db: Knex, target: string, since: Date): Promise<{ count: number; oldest: Date | null }> {
  const row = (await db('target_failures')
    .where('target', target)
    .where('in_flight', false)
    .where('failed_at', '>', since.toISOString())
    .count({ n: '*' })
    .min({ oldest: 'failed_at' })
    .first()) as { n: unknown; oldest: string | null } | undefined;
  const count = toInt(row?.n ?? 0);
  return { count, oldest: count > 0 && row?.oldest ? new Date(row.oldest) : null };
}

/** Delete failing calls older than `before` (of one target, or of all). Answers how many went. */
export async function pruneTargetFailures(db: Knex, before: Date, target?: string): Promise<number> {
  const query = db('target_failures').where('failed_at', '<', before.toISOString());
  if (target !== undefined) query.where('target', target);
  return toInt(await query.delete());
}

/** The slots of `target` with times in ms since the epoch: the shape of the Billecta client's `failures` port. */
export function sharedCallBudget(db: Knex, target: string) {
  return {
    take: async (at: number, windowMs: number, budget: number) => {
      const taken = await takeCallSlot(db, target, new Date(at), windowMs, budget);
      return 'slot' in taken ? taken : { refused: { count: taken.refused.count, oldest: taken.refused.oldest?.getTime() ?? null } };
    },
    settle: (slot: number, failing: boolean, at: number) => settleCallSlot(db, slot, failing, new Date(at)),
  };
}
