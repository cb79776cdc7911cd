/**
 * Failing calls to a target (issue #7), one row per failing answer, shared by every kontor
 * process on the database: Billecta's throttling (at most 50 failing calls per 60 s) counts
 * the calls of all of them together, so the failing-calls budget is counted here rather than
 * in each process's memory. Times are ISO-8601 UTC text, which compares as text.
 */
import type { Knex } from 'knex';
import { toInt } from '../db/connect.js';

/** Rows older than this are pruned: several windows of 60 s, so nothing still counted is lost. */
export const TARGET_FAILURES_KEEP_MS = 5 * 60_000;

/** Record one failing call of `target` at `at`, and prune that target's rows older than TARGET_FAILURES_KEEP_MS. */
export async function recordTargetFailure(db: Knex, target: string, at: Date): Promise<void> {
  await db('target_failures').insert({ target, failed_at: at.toISOString() });
  await pruneTargetFailures(db, new Date(at.getTime() - TARGET_FAILURES_KEEP_MS), target);
}

/** How many failing calls of `target` fell after `since` (exclusive), and the oldest of them. */
export async function targetFailuresSince(db: Knex, target: string, since: Date): Promise<{ count: number; oldest: Date | null }> {
  const row = (await db('target_failures')
    .where('target', target)
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
