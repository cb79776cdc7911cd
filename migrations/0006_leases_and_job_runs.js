// @ts-check
/**
 * Coordination and scheduling (issue #8).
 *
 * `source_leases`: at most one kontor process pulls a source at a time, across a `kontor run`,
 * a `kontor backfill` beside it and several instances on PostgreSQL. A row names the process
 * that holds the source and until when; the holder renews it while pulling and deletes it
 * after. A row whose `lease_until` has passed belongs to a process that died: the next taker
 * overwrites it. Taken under the `locks` row `source-lease:<source>` (src/db/lock.ts).
 *
 * `job_runs`: the last run of each scheduled job of `kontor run` (`source:<name>`,
 * `recheck:<name>`), shared by every instance on the database: when it started and ended, and
 * how (`running`, `ok`, `failed`, `skipped`). `known_since` is when kontor first scheduled the
 * job, so that a job that never ran is not caught up at its first start.
 *
 * `outbox_entries.failing_since`: when the entry's current streak of failed attempts began (its
 * first `retry` or `in_doubt` since it was enqueued, delivered or redriven), for the age bound
 * of retries (`service.delivery_max_age_hours`).
 *
 * Times are ISO-8601 UTC text, as everywhere else.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.createTable('source_leases', (t) => {
    t.string('source', 100).primary();
    t.string('owner', 200).notNullable();
    t.string('purpose', 50).notNullable();
    t.string('taken_at', 32).notNullable();
    t.string('renewed_at', 32).notNullable();
    t.string('lease_until', 32).notNullable();
  });
  await knex.schema.createTable('job_runs', (t) => {
    t.string('job', 200).primary();
    t.string('known_since', 32).notNullable();
    t.string('started_at', 32);
    t.string('finished_at', 32);
    t.string('outcome', 20);
    t.text('detail');
    t.string('owner', 200);
  });
  await knex.schema.alterTable('outbox_entries', (t) => {
    t.string('failing_since', 32);
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  // A plain DROP COLUMN (SQLite 3.35+, PostgreSQL): knex would rebuild the referenced table on SQLite.
  await knex.raw('ALTER TABLE outbox_entries DROP COLUMN failing_since');
  await knex.schema.dropTableIfExists('job_runs');
  await knex.schema.dropTableIfExists('source_leases');
}
