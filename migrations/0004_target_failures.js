// @ts-check
/**
 * Failing calls to a target, shared by every kontor process on the same database (issue #7):
 * Billecta delays callers after 50 failing calls (400 and above except 404) within 60 s, and
 * a `kontor run`, a `kontor backfill` and several instances on PostgreSQL must together stay
 * within the target's `failing_calls_per_minute`. One row per failing answer; rows older than
 * a few minutes are pruned (src/store/target-failures.ts). `failed_at` is ISO-8601 UTC text,
 * as everywhere else, so it compares as text.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.createTable('target_failures', (t) => {
    t.increments('id').primary();
    t.string('target', 100).notNullable();
    t.string('failed_at', 32).notNullable();
    t.index(['target', 'failed_at']);
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTableIfExists('target_failures');
}
