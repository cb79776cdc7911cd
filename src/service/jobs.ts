/**
 * The scheduled jobs of `kontor run`: a node-cron task each, that never overlaps itself and
 * catches up on a run it missed.
 *
 * - **No overlap.** A tick while the job's previous run is still going (or still queued behind
 *   other work) is skipped and logged; the next tick, or the cursor, picks up what it would have done.
 * - **Missed ticks.** A tick node-cron could not fire on time (the event loop was blocked) runs once late.
 * - **Catch-up after downtime.** Each run's start and end are kept in `job_runs` (src/store/job-runs.ts);
 *   at start, a job with a scheduled time between its last run (or, if it never ran, when it was first
 *   scheduled) and now missed that run while kontor was down, and runs once at once. What it
 *   reads then is decided by the source's cursor, so one run makes up for any number of missed ones.
 */
import { createTask, schedule, type ScheduledTask } from 'node-cron';
import type { Knex } from 'knex';
import type { Logger } from '../log/logger.js';
import { knownJob } from '../store/job-runs.js';

export interface JobOptions {
  /** `source:<name>`, `recheck:<name>`: the key in job_runs. */
  name: string;
  /** The cron expression. */
  expression: string;
  timezone: string;
  /** Runs one run; the job counts as running until it settles. */
  run: (why: string) => Promise<unknown>;
  logger: Logger;
}

export class ScheduledJob {
  readonly name: string;
  private running = false;
  private task: ScheduledTask | null = null;
  private readonly log: Logger;

  constructor(private readonly options: JobOptions) {
    this.name = options.name;
    this.log = options.logger.child({ job: options.name });
  }

  /** Whether a run is going (or queued). */
  get busy(): boolean {
    return this.running;
  }

  /** Put the job on its schedule. */
  start(): void {
    const { log } = this;
    this.task = schedule(this.options.expression, () => void this.tick('scheduled'), {
      name: this.name,
      timezone: this.options.timezone,
      // node-cron speaks through kontor's log, and only about what kontor does not handle itself.
      logger: { info: (m) => log.debug(m), warn: (m) => log.warn(m), error: (m) => log.error(String(m)), debug: (m) => log.debug(String(m)) },
    });
    // Several ticks missed in a row (the machine slept) make one late run, not a skipped tick each.
    this.task.on('execution:missed', (context) => {
      if (!this.running) void this.tick(`missed tick of ${context.date.toISOString()}`);
    });
  }

  /**
   * Run now unless a run is going already: then the tick is skipped (logged). Resolves when
   * the run has ended (or at once when skipped); never rejects (the runner logs failures).
   */
  async tick(why: string): Promise<void> {
    if (this.running) {
      this.log.info(`${this.name}: ${why} run skipped: its previous run is still going`);
      return;
    }
    this.running = true;
    try {
      await this.options.run(why);
    } catch (error) {
      this.log.error(`${this.name} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.running = false;
    }
  }

  /**
   * The scheduled time this job missed while kontor was down: the first one after its last run
   * started (or after it was first scheduled, if it never ran) that is not later than `now`;
   * null when it missed none. Call after start().
   */
  async missedRun(db: Knex, now = new Date()): Promise<Date | null> {
    const row = await knownJob(db, this.name);
    const since = row.started_at && row.started_at > row.known_since ? row.started_at : row.known_since;
    const next = this.task ? nextRunAfter(this.task, new Date(since)) : null;
    return next && next.getTime() <= now.getTime() ? next : null;
  }

  /** Off the schedule; a run that is going finishes. */
  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = null;
  }
}

/**
 * The first time after `after` at which `task` fires. node-cron 4 keeps this to its TimeMatcher
 * (`getNextMatch`, strictly after, in the task's time zone); should a later version hide it, a
 * scan of every minute with the public `match` (up to 400 days) stands in.
 */
export function nextRunAfter(task: ScheduledTask, after: Date): Date | null {
  const matcher = (task as unknown as { timeMatcher?: { getNextMatch?: (date: Date) => Date } }).timeMatcher;
  if (typeof matcher?.getNextMatch === 'function') return matcher.getNextMatch(after);
  const start = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000;
  for (let t = start; t < start + 400 * 86_400_000; t += 60_000) {
    if (task.match(new Date(t))) return new Date(t);
  }
  return null;
}

/** Unstarted tasks by `timezone expression`, only ever asked for their times (never run). */
const matchers = new Map<string, ScheduledTask>();

/**
 * The last two times at or before `now` at which a cron expression fires in `timezone`, latest
 * first (fewer when it fired less often in the past 400 days): the schedule's interval around
 * now is their difference, however irregular the schedule (weekdays only, say).
 */
export function lastScheduledTimes(expression: string, timezone: string, now = new Date()): Date[] {
  const key = `${timezone} ${expression}`;
  let task = matchers.get(key);
  if (!task) {
    task = createTask(expression, () => undefined, { timezone, name: `kontor-interval ${key}` });
    matchers.set(key, task);
  }
  // Widen the look back until two times are found: a few steps for frequent schedules.
  for (const spanMs of [3_600_000, 86_400_000, 8 * 86_400_000, 62 * 86_400_000, 400 * 86_400_000]) {
    const found: Date[] = [];
    for (let t = nextRunAfter(task, new Date(now.getTime() - spanMs)); t && t.getTime() <= now.getTime(); t = nextRunAfter(task, t)) {
      found.unshift(t);
      found.length = Math.min(found.length, 2);
    }
    if (found.length === 2 || spanMs === 400 * 86_400_000) return found;
  }
  return [];
}

/**
 * The interval of a schedule around `now`: the gap between the last two times it fired, or
 * (for a schedule that fired less than twice in 400 days) between the next two.
 */
export function scheduleIntervalMs(expression: string, timezone: string, now = new Date()): number {
  const past = lastScheduledTimes(expression, timezone, now);
  if (past.length === 2) return past[0]!.getTime() - past[1]!.getTime();
  const task = matchers.get(`${timezone} ${expression}`)!;
  const first = nextRunAfter(task, now);
  const second = first ? nextRunAfter(task, first) : null;
  return first && second ? second.getTime() - first.getTime() : 400 * 86_400_000;
}
