// @ts-check
/**
 * The entries a claim may take, in claim order (issue #9, found by `npm run bench`): the claim
 * looks for the oldest ready entries of a target, and with the (target, state, available_at)
 * index it read and sorted every waiting entry to find them: 1 ms per claim at 3,000 waiting
 * entries, growing with the backlog. This partial index holds only claimable entries in id
 * order, so a claim stops after the first ones that are ready (0.1 ms). SQLite and PostgreSQL
 * both have partial indexes.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.raw(`CREATE INDEX outbox_entries_claimable ON outbox_entries (target, id) WHERE state IN ('pending', 'retry', 'in_doubt')`);
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.raw('DROP INDEX outbox_entries_claimable');
}
