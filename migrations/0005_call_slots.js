// @ts-check
/**
 * The failing-calls budget held under concurrency (issue #7). A call to a budgeted target
 * first takes a slot: a `target_failures` row marked `in_flight`, counted as if it had failed
 * until its answer says otherwise (then it is deleted, or becomes a plain failure). Checking
 * the count and taking the slot happen under one lock, the `locks` row of the budget, so two
 * processes (or two concurrent calls of one) can never both take the last slot.
 *
 * `locks` is a row per named lock, written first in a transaction: on SQLite that write takes
 * the database's write lock at once (as BEGIN IMMEDIATE would), on PostgreSQL it locks the row
 * until the transaction ends. One mechanism for both dialects.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.alterTable('target_failures', (t) => {
    t.boolean('in_flight').notNullable().defaultTo(false);
  });
  await knex.schema.createTable('locks', (t) => {
    t.string('name', 200).primary();
    t.string('taken_at', 32).notNullable();
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTableIfExists('locks');
  await knex.schema.alterTable('target_failures', (t) => {
    t.dropColumn('in_flight');
  });
}
