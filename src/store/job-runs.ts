/**
 * The last run of each scheduled job of `kontor run` (migration 0006): when it started and
 * ended, and how. One row per job, shared by every instance on the database; `known_since` is
 * when a job was first scheduled, so that one that never ran is not taken for a missed run.
 * A tick that did not run (its previous run still going, or the source leased by another
 * process) is logged, not recorded: it is not a run. `last_ok_at` (migration 0008) keeps when
 * the last successful run ended, through later starts and failures (monitoring, issue #9).
 */
import type { Knex } from 'knex';
import { nowIso } from '../db/time.js';

/** `running` until it ends (or for good, if its process died during it). */
export type JobOutcome = 'running' | 'ok' | 'failed';

export interface JobRun {
  job: string;
  known_since: string;
  started_at: string | null;
  finished_at: string | null;
  outcome: JobOutcome | null;
  detail: string | null;
  owner: string | null;
  /** When the job's last successful run (`ok`) ended (migration 0008); kept through later starts and failures. */
  last_ok_at: string | null;
}

/** The job's row, created (known since now, never run) when it has none. */
export async function knownJob(db: Knex, job: string): Promise<JobRun> {
  await db('job_runs').insert({ job, known_since: nowIso() }).onConflict('job').ignore();
  return (await db('job_runs').where({ job }).first()) as JobRun;
}

export async function recordJobStart(db: Knex, job: string, owner: string, at = nowIso()): Promise<void> {
  const run = { started_at: at, finished_at: null, outcome: 'running', detail: null, owner };
  await db('job_runs')
    .insert({ job, known_since: at, ...run })
    .onConflict('job')
    .merge(Object.keys(run));
}

/** The end of the run this owner started; a run another instance started since is left alone. */
export async function recordJobEnd(db: Knex, job: string, owner: string, outcome: Exclude<JobOutcome, 'running'>, detail: string | null = null): Promise<void> {
  const at = nowIso();
  await db('job_runs')
    .where({ job, owner })
    .update({ finished_at: at, outcome, detail, ...(outcome === 'ok' ? { last_ok_at: at } : {}) });
}

export async function listJobRuns(db: Knex): Promise<JobRun[]> {
  return (await db('job_runs').select('job', 'known_since', 'started_at', 'finished_at', 'outcome', 'detail', 'owner', 'last_ok_at').orderBy('job')) as JobRun[];
}
