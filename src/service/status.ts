/**
 * What kontor's state is, in one place (issue #9): `kontor status` prints it, the status page of
 * `kontor run` shows it, `/readyz` and the metrics read the sources' part of it.
 *
 * Per source: the cursor and its lag (how far the time the cursor stands at is behind now), the
 * last successful scheduled pull (`job_runs.last_ok_at`) and whether that is within the
 * source's expected interval (`freshness`, the rule of /readyz):
 *
 *   a source is up to date while its last successful pull ended no longer ago than twice its
 *   schedule's interval plus 5 minutes (`*\/5 * * * *`: 15 minutes). The interval is the gap
 *   between the last two times the schedule fired, so an irregular schedule (weekdays only)
 *   is judged by the gap it has just had.
 *
 * One missed or failed run is thus tolerated, two in a row are not. Then the outbox backlog by
 * target and state, dead letters with their reasons, in-doubt entries, the open quarantine, the
 * transfer account balance per target as the target sees it, broken storno groups, the
 * credential expiry report and what webhooks taught.
 */
import { minor, type Minor } from '../books/index.js';
import { parseListen } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { brokenGroups, describeBrokenGroup, type GroupMember } from '../outbox/groups.js';
import { backlog, listEntries, type BacklogRow } from '../outbox/queries.js';
import { fileCursorTime } from '../sources/file.js';
import { decodeWatermark } from '../sources/watermark.js';
import { listCursors, type CursorRow } from '../store/cursors.js';
import { listJobRuns, type JobRun } from '../store/job-runs.js';
import { listQuarantine } from '../store/quarantine.js';
import { listSourceLeases, type SourceLease } from '../store/source-leases.js';
import { webhookTotals } from '../store/webhook-events.js';
import { credentialReport, type CredentialStatus } from './credentials.js';
import { scheduleIntervalMs } from './jobs.js';
import type { Runtime } from './runtime.js';
import { formatTransfer, money, readTransferBalance } from './summary.js';
import { KNOWN_EVENTS } from './webhooks.js';

/** Added to twice the interval: time for a pull to run, and for the clock of the schedule. */
export const FRESHNESS_SLACK_MS = 5 * 60_000;

export interface Freshness {
  /** Pulled successfully within the allowed time. */
  fresh: boolean;
  /** The schedule's interval around now (the gap between its last two times), in seconds. */
  intervalSeconds: number;
  /** The most the last successful pull may be behind now: twice the interval plus 5 minutes, in seconds. */
  allowedSeconds: number;
  /** For people: why it is (not) up to date. */
  reason: string;
}

export interface SourceStatus {
  source: string;
  type: string;
  schedule: string;
  cursor: string | null;
  /** When the cursor was last saved. */
  cursorSavedAt: string | null;
  /** The time the cursor stands at: a shop's watermark (the newest modification stored), a file's modification time. */
  cursorAt: string | null;
  /** Now minus `cursorAt`, in whole seconds (never negative); null without a readable cursor. */
  lagSeconds: number | null;
  /** When the source's last successful scheduled pull (`kontor run`) ended. */
  lastSuccessAt: string | null;
  /** The last scheduled run, whatever its outcome. */
  lastRun: { outcome: string | null; startedAt: string | null; finishedAt: string | null; detail: string | null } | null;
  /** The process pulling the source right now, if one is. */
  pulledNow: { owner: string; purpose: string; since: string } | null;
  freshness: Freshness;
}

/** A duration for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/** The time a cursor stands at, for its source's type; null when it is none that kontor reads. */
export function cursorTime(type: string, cursor: string | null): Date | null {
  if (!cursor) return null;
  if (type === 'file') return fileCursorTime(cursor);
  const mark = decodeWatermark(cursor);
  return mark ? new Date(mark.updatedAt) : null;
}

/** Whether a source's last successful pull is recent enough for its schedule (the module comment's rule). */
export function freshness(input: { schedule: string; timezone: string; lastSuccessAt: string | null; lastRun?: JobRun | undefined; now: Date }): Freshness {
  const { now } = input;
  const intervalMs = scheduleIntervalMs(input.schedule, input.timezone, now);
  const allowedMs = 2 * intervalMs + FRESHNESS_SLACK_MS;
  const rule = `${humanDuration(allowedMs)}: twice the interval of its schedule (${humanDuration(intervalMs)}) plus ${humanDuration(FRESHNESS_SLACK_MS)}`;
  const base = { intervalSeconds: Math.round(intervalMs / 1000), allowedSeconds: Math.round(allowedMs / 1000) };
  const run = input.lastRun;
  const failure = run?.outcome === 'failed' ? `; its last run failed at ${run.finished_at ?? run.started_at}: ${run.detail ?? 'no reason recorded'}` : '';
  const running = run?.outcome === 'running' && run.started_at ? `; a pull is running since ${run.started_at}` : '';
  if (!input.lastSuccessAt) return { ...base, fresh: false, reason: `never pulled successfully by kontor run${failure}${running}` };
  const age = now.getTime() - Date.parse(input.lastSuccessAt);
  if (age <= allowedMs) return { ...base, fresh: true, reason: `pulled successfully ${humanDuration(age)} ago (allowed: ${rule})` };
  return { ...base, fresh: false, reason: `last pulled successfully ${humanDuration(age)} ago, longer than ${rule}${failure}${running}` };
}

function sourcesOf(rt: Runtime, cursors: CursorRow[], jobs: JobRun[], leases: SourceLease[], now: Date): SourceStatus[] {
  const timezone = rt.config.raw.service.timezone;
  return rt.config.sources.map((s) => {
    const c = cursors.find((x) => x.source === s.name);
    const run = jobs.find((j) => j.job === `source:${s.name}`);
    const lease = leases.find((l) => l.source === s.name && l.lease_until > now.toISOString());
    const at = cursorTime(s.config.type, c?.cursor ?? null);
    const lastSuccessAt = run?.last_ok_at ?? null;
    return {
      source: s.name,
      type: s.config.type,
      schedule: s.config.schedule,
      cursor: c?.cursor ?? null,
      cursorSavedAt: c?.updated_at ?? null,
      cursorAt: at ? at.toISOString() : null,
      lagSeconds: at ? Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000)) : null,
      lastSuccessAt,
      lastRun: run?.started_at ? { outcome: run.outcome, startedAt: run.started_at, finishedAt: run.finished_at, detail: run.detail } : null,
      pulledNow: lease ? { owner: lease.owner, purpose: lease.purpose, since: lease.taken_at } : null,
      freshness: freshness({ schedule: s.config.schedule, timezone, lastSuccessAt, lastRun: run, now }),
    };
  });
}

/** The sources' part of the status: three small queries, for /readyz and the metrics. */
export async function collectSources(rt: Runtime, now = new Date()): Promise<SourceStatus[]> {
  const [cursors, jobs, leases] = await Promise.all([listCursors(rt.db), listJobRuns(rt.db), listSourceLeases(rt.db)]);
  return sourcesOf(rt, cursors, jobs, leases, now);
}

/** A sum from a webhook in its currency; minor units as they came when kontor does not know the currency. */
export function webhookAmount(sumMinor: number, currency: string | null): string {
  if (!currency) return `${sumMinor} (minor units, no currency)`;
  try {
    return money(minor(sumMinor), currency);
  } catch {
    return `${currency} ${sumMinor} (minor units)`;
  }
}

/** What status shows of webhooks: payments per currency (count, sum, last received) and every other event type. */
export async function webhookStatus(rt: Runtime) {
  const totals = await webhookTotals(rt.db);
  const w = rt.config.raw.webhooks;
  const at = w ? parseListen(w.listen) : null;
  return {
    endpoint: w && at ? `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}${w.billecta.path}` : null,
    payments: totals
      .filter((t) => t.eventType === 'InvoicePaymentReceived')
      .map((t) => ({ source: t.source, currency: t.currency, count: t.count, sumMinor: t.sumMinor, lastReceivedAt: t.lastReceivedAt })),
    events: totals.map((t) => ({ ...t, known: (KNOWN_EVENTS as readonly string[]).includes(t.eventType) })),
  };
}

export type TransferReading = { balance: Record<string, Minor> | null; error: string | null };

/** A saved cursor, of a configured source or of one no longer configured. */
export interface CursorStatus {
  source: string;
  cursor: string;
  savedAt: string;
}

/** A scheduled job of `kontor run` and its last run. */
export interface JobStatus {
  job: string;
  knownSince: string;
  startedAt: string | null;
  finishedAt: string | null;
  outcome: JobRun['outcome'];
  detail: string | null;
  /** The process that ran it last. */
  owner: string | null;
  /** When its last successful run ended. */
  lastOkAt: string | null;
}

/** A source being pulled right now, and by whom. */
export interface LeaseStatus {
  source: string;
  owner: string;
  purpose: string;
  takenAt: string;
  renewedAt: string;
  leaseUntil: string;
}

/** An outbox entry that needs a person: dead, or in doubt (its outcome at the target unknown). */
export interface EntryStatus {
  id: number;
  target: string;
  document: string;
  reason: string | null;
}

/**
 * What `kontor status --json` prints, the status page shows and docs/cli.md documents: every key
 * in camelCase, times as ISO 8601 UTC, amounts in minor units.
 */
export interface Status {
  generatedAt: string;
  sources: SourceStatus[];
  cursors: CursorStatus[];
  /** The scheduled jobs' last runs (kontor run). */
  jobs: JobStatus[];
  /** Sources being pulled right now, by any process. */
  leases: LeaseStatus[];
  backlog: BacklogRow[];
  dead: EntryStatus[];
  inDoubt: EntryStatus[];
  quarantine: { id: number; source: string; record: string; origin: string; field: string | null; reason: string }[];
  /** As each target sees it (Run my Accounts: gl/v2/saldo); a target out of reach is shown, not thrown. */
  transfer: { target: string; type: string; account: string; balance: Record<string, Minor> | null; error: string | null }[];
  credentials: CredentialStatus[];
  /** Storno and netting groups with members through and others dead or skipped: the target's books are off. */
  brokenGroups: { target: string; group: string; currency: string; transferDelivered: Minor; members: GroupMember[]; message: string }[];
  webhooks: Awaited<ReturnType<typeof webhookStatus>>;
}

export interface StatusOptions {
  now?: Date;
  /** How a target's transfer balance is read (the status page caches remote ones); default: ask the target now. */
  transferBalance?: (target: string) => Promise<TransferReading>;
}

/** Everything `kontor status` and the status page show. */
export async function collectStatus(rt: Runtime, options: StatusOptions = {}): Promise<Status> {
  const now = options.now ?? new Date();
  const readTransfer = options.transferBalance ?? ((target: string) => readTransferBalance(rt, rt.targets.get(target)!));
  const [cursors, jobs, allLeases] = await Promise.all([listCursors(rt.db), listJobRuns(rt.db), listSourceLeases(rt.db)]);
  const leases = allLeases.filter((l) => l.lease_until > now.toISOString());
  return {
    generatedAt: now.toISOString(),
    sources: sourcesOf(rt, cursors, jobs, leases, now),
    cursors: cursors.map((c) => ({ source: c.source, cursor: c.cursor, savedAt: c.updated_at })),
    jobs: jobs.map((j) => ({
      job: j.job,
      knownSince: j.known_since,
      startedAt: j.started_at,
      finishedAt: j.finished_at,
      outcome: j.outcome,
      detail: j.detail,
      owner: j.owner,
      lastOkAt: j.last_ok_at,
    })),
    leases: leases.map((l) => ({ source: l.source, owner: l.owner, purpose: l.purpose, takenAt: l.taken_at, renewedAt: l.renewed_at, leaseUntil: l.lease_until })),
    backlog: await backlog(rt.db),
    dead: (await listEntries(rt.db, { state: 'dead' })).map((e) => ({ id: e.id, target: e.target, document: e.doc_key, reason: e.last_error })),
    inDoubt: (await listEntries(rt.db, { state: 'in_doubt' })).map((e) => ({ id: e.id, target: e.target, document: e.doc_key, reason: e.last_error })),
    quarantine: (await listQuarantine(rt.db)).map((q) => ({ id: q.id, source: q.source, record: q.record_id, origin: q.origin, field: q.field, reason: q.reason })),
    transfer: await Promise.all(
      rt.config.targets.map(async (t) => {
        const read = await readTransfer(t.name);
        return { target: t.name, type: t.config.type, account: t.config.transfer_account, balance: read.balance, error: read.error };
      }),
    ),
    credentials: credentialReport(rt.config, now),
    brokenGroups: (await brokenGroups(rt.db)).map((g) => ({ target: g.target, group: g.group, currency: g.currency, transferDelivered: g.transferDelivered, members: g.members, message: describeBrokenGroup(g, money) })),
    webhooks: await webhookStatus(rt),
  };
}

/** A source's lag and last successful pull, in one line for people. */
export function describeLag(s: SourceStatus, now: Date): string {
  const lag = s.lagSeconds === null ? (s.cursor ? 'lag not known (a cursor kontor cannot date)' : 'no cursor yet') : `lag ${humanDuration(s.lagSeconds * 1000)} (cursor at ${s.cursorAt})`;
  if (!s.lastSuccessAt) return `${lag}; no successful scheduled pull recorded (kontor run records them)`;
  const last = `last pulled successfully ${s.lastSuccessAt} (${humanDuration(now.getTime() - Date.parse(s.lastSuccessAt))} ago)`;
  return `${lag}; ${last}${s.freshness.fresh ? '' : `, OVERDUE: expected within ${humanDuration(s.freshness.allowedSeconds * 1000)}`}`;
}

/** `kontor status` as text. */
export function formatStatus(status: Status): string {
  const now = new Date(status.generatedAt);
  const out: string[] = ['sources:'];
  for (const s of status.sources) {
    out.push(`  ${s.source}: cursor ${s.cursor ? `${s.cursor} (saved ${s.cursorSavedAt})` : '(none yet)'}`);
    out.push(`    ${describeLag(s, now)}`);
    if (s.pulledNow) out.push(`    being pulled now by ${s.pulledNow.owner} (${s.pulledNow.purpose}) since ${s.pulledNow.since}`);
  }
  if (status.jobs.length > 0) out.push('jobs (last run):');
  for (const j of status.jobs) {
    out.push(`  ${j.job}: ${j.startedAt ? `${j.outcome ?? '?'}, started ${j.startedAt}${j.finishedAt ? `, ended ${j.finishedAt}` : ''}${j.detail ? `: ${j.detail}` : ''}` : 'never run'}`);
  }
  out.push('outbox:');
  if (status.backlog.length === 0) out.push('  empty');
  for (const b of status.backlog) out.push(`  ${b.target}: ${b.count} ${b.state}`);
  for (const d of status.dead) out.push(`  dead #${d.id} ${d.document} → ${d.target}: ${d.reason ?? ''}`);
  for (const d of status.inDoubt) out.push(`  in doubt #${d.id} ${d.document} → ${d.target}: ${d.reason ?? ''}`);
  out.push(status.quarantine.length === 0 ? 'quarantine: empty' : 'quarantine:');
  for (const q of status.quarantine) out.push(`  #${q.id} ${q.source} order ${q.record} (${q.origin}): ${q.field ? `${q.field}: ` : ''}${q.reason}`);
  out.push('transfer accounts:');
  for (const t of status.transfer) out.push(`  ${t.target} ${t.account}: ${formatTransfer(t.balance, t.error)}`);
  for (const g of status.brokenGroups) out.push(`  ALERT: ${g.message}`);
  out.push('credentials:');
  if (status.credentials.length === 0) out.push('  none configured');
  for (const c of status.credentials) out.push(`  ${c.level.padEnd(8)}${c.message}`);
  const w = status.webhooks;
  if (w.endpoint || w.events.length > 0) {
    out.push(`webhooks${w.endpoint ? ` (${w.endpoint})` : ' (not configured)'}:`);
    if (w.payments.length === 0) out.push('  payments: none received');
    for (const p of w.payments) out.push(`  payments ${p.source}: ${p.count} × ${webhookAmount(p.sumMinor, p.currency)}, last received ${p.lastReceivedAt}`);
    for (const e of w.events.filter((x) => x.eventType !== 'InvoicePaymentReceived')) {
      out.push(`  ${e.source} ${e.eventType}${e.known ? '' : ' (unknown)'}: ${e.count}${e.currency ? ` × ${webhookAmount(e.sumMinor, e.currency)}` : ''}, last received ${e.lastReceivedAt}`);
    }
  }
  return out.join('\n');
}

export interface Check {
  ok: boolean;
  detail: string;
}

/** Whether the database answers a `select 1` within `timeoutMs`. */
export async function checkDatabase(rt: Runtime, timeoutMs = 2000): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      rt.db.raw('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, detail: 'answers' };
  } catch (error) {
    return { ok: false, detail: rt.redactor.text(errorMessage(error)) };
  } finally {
    clearTimeout(timer);
  }
}

export interface Readiness {
  ready: boolean;
  checks: {
    database: Check;
    /** Whether this process has finished its first sync (absent outside `kontor run`). */
    firstSync?: Check;
    sources: (Check & { source: string; lastSuccessAt: string | null })[];
  };
  /** Why it is not ready, one line each; empty when it is. */
  reasons: string[];
}

/**
 * Ready: the database answers, the first sync of this process has finished (when `firstSyncDone`
 * is given) and every source is up to date (`freshness`).
 */
export async function checkReadiness(rt: Runtime, options: { firstSyncDone?: boolean; now?: Date } = {}): Promise<Readiness> {
  const now = options.now ?? new Date();
  const database = await checkDatabase(rt);
  const checks: Readiness['checks'] = { database, sources: [] };
  if (options.firstSyncDone !== undefined) checks.firstSync = { ok: options.firstSyncDone, detail: options.firstSyncDone ? 'finished' : 'not finished yet' };
  if (database.ok) {
    try {
      checks.sources = (await collectSources(rt, now)).map((s) => ({ source: s.source, ok: s.freshness.fresh, detail: s.freshness.reason, lastSuccessAt: s.lastSuccessAt }));
    } catch (error) {
      checks.database = { ok: false, detail: rt.redactor.text(errorMessage(error)) };
    }
  }
  const reasons: string[] = [];
  if (!checks.database.ok) reasons.push(`database: ${checks.database.detail}`);
  if (checks.firstSync && !checks.firstSync.ok) reasons.push('first sync: not finished yet');
  for (const s of checks.sources) if (!s.ok) reasons.push(`source ${s.source}: ${s.detail}`);
  return { ready: reasons.length === 0, checks, reasons };
}
