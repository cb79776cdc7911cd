// @ts-check
/**
 * Monitoring (issue #9): `job_runs.last_ok_at`, when the job's last successful run ended.
 *
 * A run's start overwrites `finished_at` and `outcome`, and a failed run keeps only its failure,
 * so the row alone could not tell when a source was last pulled successfully: `/readyz`, the
 * status page and `kontor status` read it from here (src/service/status.ts). Set at the end of
 * every run that went `ok`; left as it was by a start or a failure.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.alterTable('job_runs', (t) => {
    t.string('last_ok_at', 32);
  });
  // The last run of a job that ended ok is its last successful run.
  await knex('job_runs').where({ outcome: 'ok' }).update({ last_ok_at: knex.ref('finished_at') });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.raw('ALTER TABLE job_runs DROP COLUMN last_ok_at');
}
