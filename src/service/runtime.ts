/**
 * Wiring: from a loaded config to open storage, source adapters with their mappings, and
 * target adapters. Everything that needs "the running kontor" takes a Runtime.
 */
import path from 'node:path';
import type { Knex } from 'knex';
import { formatDocumentKey, sum, type BookDocument, type Minor, type PaymentDocument } from '../books/index.js';
import type { Config, ResolvedSource, ResolvedTarget } from '../config/load.js';
import { openDatabase } from '../db/connect.js';
import { migrateLatest } from '../db/migrate.js';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { Redactor } from '../log/redact.js';
import { loadMapping, type Mapping } from '../mapping/load.js';
import { sharedCallBudget } from '../store/target-failures.js';
import type { HttpClientOptions } from '../http/client.js';
import { FileSource } from '../sources/file.js';
import type { SourceAdapter } from '../sources/types.js';
import { JournalTarget } from '../targets/journal.js';
import type { RmaLog, RunMyAccountsClient, RunMyAccountsClientOptions } from '../targets/runmyaccounts/client.js';
import type { RmaRequestOptions } from '../targets/runmyaccounts/requests.js';
import type { RunMyAccountsTarget } from '../targets/runmyaccounts/target.js';
import type { BillectaClient, BillectaClientOptions } from '../targets/billecta/client.js';
import type { TargetAdapter } from '../targets/types.js';
import type { Metrics } from './metrics.js';

export interface SourceBinding {
  config: ResolvedSource;
  adapter: SourceAdapter;
  mapping: Mapping;
}

export interface Runtime {
  config: Config;
  /** Removes the config's secrets from text that is stored or shown. */
  redactor: Redactor;
  db: Knex;
  logger: Logger;
  sources: Map<string, SourceBinding>;
  targets: Map<string, TargetAdapter>;
  /**
   * Counters of deliveries and HTTP exchanges, once set (by `kontor run` with `ops:`, which
   * serves them at /metrics; the HTTP clients report to whatever is set here when they answer).
   * Unset, nothing is counted and prom-client is never loaded.
   */
  metrics?: Metrics;
}

/** What the HTTP clients of sources and targets report each exchange to (metrics). */
export type HttpObserve = HttpClientOptions['observe'];

/*
 * The HTTP adapters are imported when a configured source or target needs them, not with this
 * module: they bring undici and fast-xml-parser, a quarter of the time every `kontor` command
 * took to start, and a project with files and the journal uses neither. The file source and
 * the journal load with the CLI anyway (status and the ledger commands use them).
 */

export async function createSource(source: ResolvedSource, secrets: Iterable<string> = [], observe?: HttpObserve): Promise<SourceAdapter> {
  const c = source.config;
  if (c.type === 'file') return new FileSource({ name: source.name, folder: source.path, label: c.path, format: c.format, moveProcessed: c.move_processed, doneFolder: c.done_folder, failedFolder: c.failed_folder });
  const { HttpClient } = await import('../http/client.js');
  const rps = c.requests_per_second;
  const common = {
    name: source.name,
    baseUrl: source.path,
    pageSize: c.page_size,
    window: { overlapMinutes: c.overlap_minutes, lagSeconds: c.lag_seconds, startDate: c.start_date },
    http: new HttpClient({ name: `source ${source.name}`, secrets, rateLimit: { perSecond: rps, burst: Math.max(1, Math.ceil(rps)) }, baseDelayMs: c.retry_base_delay_ms, ...(observe ? { observe } : {}) }),
  };
  switch (c.type) {
    case 'woocommerce': {
      const { WooCommerceSource } = await import('../sources/woocommerce.js');
      return new WooCommerceSource({ ...common, consumerKey: c.consumer_key, consumerSecret: c.consumer_secret, refundsEndpoint: c.refunds_endpoint });
    }
    case 'shopify': {
      const { ShopifySource } = await import('../sources/shopify.js');
      return new ShopifySource({ ...common, accessToken: c.access_token, apiVersion: c.api_version, api: c.api, money: c.money });
    }
    case 'shopware': {
      const { ShopwareSource } = await import('../sources/shopware.js');
      return new ShopwareSource({ ...common, clientId: c.client_id, clientSecret: c.client_secret });
    }
  }
}

/** Throws for target types this build accepts in config.yaml but cannot deliver to yet, and for a remote target without its key. */
export function assertDeliverable(target: ResolvedTarget): void {
  switch (target.config.type) {
    case 'journal':
      return;
    case 'runmyaccounts':
      // The credential set of the environment in use; `api_key_file:` arrives here as `api_key`.
      if (!target.config.credentials[target.environment]?.api_key) {
        throw new ConfigError([{ message: `target "${target.name}": no api_key (or api_key_file) in its ${target.environment} credentials` }]);
      }
      return;
    case 'billecta': {
      // The environment picks both the host and the credential set: a production password never goes to apitest.
      const set = target.config.credentials[target.environment];
      if (!set?.username || !set.password) {
        throw new ConfigError([{ message: `target "${target.name}": no username and password (or password_file) in its ${target.environment} credentials` }]);
      }
      return;
    }
  }
}

type RunMyAccountsConfig = Extract<ResolvedTarget['config'], { type: 'runmyaccounts' }>;

/** The request builder's options of a runmyaccounts target, as configured (also what preview should show). */
export function rmaRequestOptions(c: RunMyAccountsConfig): RmaRequestOptions {
  return { mandant: c.mandant, apiVersion: c.api_version, entryLists: c.entry_lists, partAccounts: c.part_accounts, ...(c.rounding_part ? { roundingPart: c.rounding_part } : {}) };
}

/**
 * What the invoice `doc.appliesTo` had been paid at `target` before `doc`, as kontor's outbox
 * knows it: the sum of the payment documents applying to that invoice (in its currency) whose
 * entries for this target are delivered; `doc` itself is left out. This is the `paidBefore`
 * baseline that decides an in-doubt payment after a restart (target.ts, payments step 3). It
 * holds as long as nobody but kontor books payments on kontor's invoices; when someone does,
 * RMA's `paid` matches neither side and the entry stays in doubt for a person.
 */
export async function deliveredPaymentsOn(db: Knex, target: string, doc: PaymentDocument): Promise<Minor> {
  // A text prefilter on the JSON body (the same on SQLite and PostgreSQL), confirmed on the parsed document.
  const needle = `"appliesTo":${JSON.stringify(doc.appliesTo)}`.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = (await db('outbox_entries as e')
    .join('documents as d', 'd.id', 'e.document_id')
    .where({ 'e.target': target, 'e.state': 'delivered', 'd.kind': 'payment' })
    .whereNot('d.doc_key', formatDocumentKey(doc.key))
    .whereRaw("d.body LIKE ? ESCAPE '\\'", [`%${needle}%`])
    .select('d.body')) as { body: string }[];
  const amounts = rows
    .map((r) => JSON.parse(r.body) as BookDocument)
    .filter((d): d is PaymentDocument => d.kind === 'payment' && d.appliesTo === doc.appliesTo && d.currency === doc.currency)
    .map((d) => d.amount);
  return sum(amounts);
}

/**
 * The runmyaccounts target's log: deliver.ts raises the one error-level alert when a target
 * stops on a credential error (naming what to do), so the target's own line about it is kept
 * one level down, as a warning, instead of alerting twice.
 */
function rmaLog(log: Logger): RmaLog {
  return {
    error: (message) => log.warn(message),
    warn: (message) => log.warn(message),
    info: (message) => log.info(message),
    debug: (message) => log.debug(message),
  };
}

/**
 * The REST client of a runmyaccounts target as configured (base URL, mandant, the key of its
 * environment, auth, format, API version, request rate). ConfigError without a key.
 */
export async function createRmaClient(target: ResolvedTarget, options: { log?: RmaLog; http?: RunMyAccountsClientOptions['http'] } = {}): Promise<RunMyAccountsClient> {
  assertDeliverable(target);
  const c = target.config;
  if (c.type !== 'runmyaccounts') throw new TypeError(`target "${target.name}" is of type ${c.type}, not runmyaccounts`);
  const { RunMyAccountsClient } = await import('../targets/runmyaccounts/client.js');
  return new RunMyAccountsClient({
    name: target.name,
    baseUrl: target.baseUrl!,
    mandant: c.mandant,
    apiKey: c.credentials[target.environment]!.api_key!,
    apiVersion: c.api_version,
    auth: c.auth,
    format: c.format,
    http: { rateLimit: { perSecond: c.requests_per_second, burst: Math.max(1, Math.floor(c.requests_per_second)) }, ...options.http },
    ...(options.log ? { log: options.log } : {}),
  });
}

/** The Run my Accounts target of a runmyaccounts target, its payments' baseline read from kontor's outbox in `db`. */
export async function createRmaTarget(target: ResolvedTarget, db: Knex, options: { log?: RmaLog; http?: RunMyAccountsClientOptions['http'] } = {}): Promise<RunMyAccountsTarget> {
  const client = await createRmaClient(target, options);
  const c = target.config as RunMyAccountsConfig;
  const { RunMyAccountsTarget } = await import('../targets/runmyaccounts/target.js');
  return new RunMyAccountsTarget({
    name: target.name,
    client,
    requests: rmaRequestOptions(c),
    transferAccount: c.transfer_account,
    paidBefore: (doc) => deliveredPaymentsOn(db, target.name, doc),
    paymentBaseline: c.payment_baseline,
    ...(options.log ? { log: options.log } : {}),
  });
}

/** The Billecta client of a target, with the credentials of its environment. */
export async function createBillectaClient(target: ResolvedTarget, options: Pick<BillectaClientOptions, 'failures' | 'log' | 'http'> = {}): Promise<BillectaClient> {
  assertDeliverable(target);
  const c = target.config;
  if (c.type !== 'billecta') throw new TypeError(`target "${target.name}" is of type ${c.type}, not billecta`);
  const { BillectaClient } = await import('../targets/billecta/client.js');
  const set = c.credentials[target.environment]!;
  return new BillectaClient({
    name: target.name,
    baseUrl: target.baseUrl!,
    username: set.username!,
    password: set.password!,
    auth: c.auth,
    failingCallsPerMinute: c.failing_calls_per_minute,
    requestsPerSecond: c.requests_per_second,
    ...options,
  });
}

/**
 * `mapping`: one mapping of a source delivering to this target (Billecta takes its
 * `target.paid_orders` and `rounding.account`; when several sources deliver there, the first).
 */
export async function createTarget(target: ResolvedTarget, db: Knex, logger?: Logger, mapping?: Mapping, observe?: HttpObserve): Promise<TargetAdapter> {
  assertDeliverable(target);
  const c = target.config;
  const http = observe ? { http: { observe } } : {};
  if (c.type === 'runmyaccounts') {
    const log = logger ? rmaLog(logger.child({ target: target.name })) : undefined;
    return createRmaTarget(target, db, { ...(log ? { log } : {}), ...http });
  }
  if (c.type === 'billecta') {
    const log = logger ? rmaLog(logger.child({ target: target.name })) : undefined;
    // The budget is counted in the database, across every kontor process that shares it (issue #7).
    const client = await createBillectaClient(target, { failures: sharedCallBudget(db, target.name), ...(log ? { log } : {}), ...http });
    const clearingAccounts = new Set(Object.keys(c.payment_means));
    /** Documents in this target's outbox (in `state`, if given) whose JSON body has `"field":"value"`, newest first. */
    const delivered = async (kinds: string[], field: string, value: string, state?: string) => {
      const needle = `"${field}":${JSON.stringify(value)}`.replace(/[\\%_]/g, (ch) => `\\${ch}`);
      const query = db('outbox_entries as e')
        .join('documents as d', 'd.id', 'e.document_id')
        .where(state ? { 'e.target': target.name, 'e.state': state } : { 'e.target': target.name })
        .whereIn('d.kind', kinds)
        .whereRaw("d.body LIKE ? ESCAPE '\\'", [`%${needle}%`])
        .orderBy('e.id', 'desc')
        .select('d.body', 'e.external_id');
      return (await query) as { body: string; external_id: string | null }[];
    };
    const { BillectaTarget } = await import('../targets/billecta/target.js');
    return new BillectaTarget({
      name: target.name,
      client,
      requests: {
        creditorPublicId: c.creditor_public_id,
        deliveryMethod: c.delivery_method,
        paymentMeanCodes: c.payment_means,
        ...(mapping ? { paidOrders: mapping.spec.target.paid_orders, roundingAccount: mapping.spec.rounding.account } : {}),
      },
      // An invoice a provider collected: a payment of it from one of the payment_means' clearing accounts.
      collectedOn: async (number) => {
        for (const row of await delivered(['payment'], 'appliesTo', number)) {
          const doc = JSON.parse(row.body) as BookDocument;
          if (doc.kind === 'payment' && doc.appliesTo === number && doc.purpose === 'payment' && doc.amount > 0 && clearingAccounts.has(doc.account)) return doc.account;
        }
        return null;
      },
      paidBefore: (doc) => deliveredPaymentsOn(db, target.name, doc),
      // The ActionPublicId recorded as the external id of kontor's delivered invoice or credit note.
      actionIdOf: async (number) => {
        for (const row of await delivered(['invoice', 'credit-note'], 'number', number, 'delivered')) {
          const doc = JSON.parse(row.body) as BookDocument;
          if (doc.kind !== 'customer' && doc.kind !== 'payment' && doc.number === number && row.external_id) return row.external_id;
        }
        return null;
      },
      ...(log ? { log } : {}),
    });
  }
  return new JournalTarget(target.name, db, c.transfer_account);
}

/** Mappings of every source, loaded and checked (ConfigError on the first broken file). */
export function loadMappings(config: Config): Map<string, Mapping> {
  return new Map(config.sources.map((s) => [s.name, loadMapping(s.mappingPath)]));
}

/**
 * Targets that read settings of their mapping (Billecta: `target.paid_orders` and the rounding
 * account) take them from one mapping; sources that deliver to such a target with mappings that
 * disagree on them are a configuration problem, one message per target.
 */
export function targetMappingConflicts(config: Config, mappingOf: (source: string) => Mapping | undefined): ConfigIssue[] {
  const problems: ConfigIssue[] = [];
  for (const t of config.targets.filter((x) => x.config.type === 'billecta')) {
    const using = config.sources.filter((s) => s.targets.includes(t.name)).map((s) => ({ source: s, mapping: mappingOf(s.name) }));
    const settings = (m: Mapping) => `paid_orders ${m.spec.target.paid_orders}, rounding account ${m.spec.rounding.account ?? 'none'}`;
    const distinct = new Set(using.flatMap((u) => (u.mapping ? [settings(u.mapping)] : [])));
    if (distinct.size > 1) {
      problems.push({
        ...config.positionOf(['targets', t.name]),
        message: `target "${t.name}" (billecta) takes target.paid_orders and the rounding account from its mapping, but its sources disagree: ` +
          using.filter((u) => u.mapping).map((u) => `source "${u.source.name}" (${path.basename(u.source.mappingPath)}): ${settings(u.mapping!)}`).join('; '),
      });
    }
  }
  return problems;
}

export interface RuntimeOptions {
  migrate?: boolean;
  /** An already open database (tests use a PostgreSQL schema of their own). */
  db?: Knex;
  /** The metrics the runtime counts into from the start; default none (`kontor run` sets them later). */
  metrics?: Metrics;
}

export async function openRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const mappings = loadMappings(config);
  // Refuse targets this build cannot deliver to before anything is created on disk.
  config.targets.forEach(assertDeliverable);
  const conflicts = targetMappingConflicts(config, (source) => mappings.get(source));
  if (conflicts.length > 0) throw new ConfigError(conflicts);
  const db = options.db ?? openDatabase(config.database);
  try {
    if (options.migrate !== false) {
      const { applied } = await migrateLatest(db);
      if (applied.length > 0) logger.info(`database migrated: ${applied.join(', ')}`);
    }
    // A target's mapping: the first source delivering to it (Billecta reads paid_orders and the rounding account; targetMappingConflicts makes sure all agree).
    const mappingFor = (target: string) => {
      const source = config.sources.find((s) => s.targets.includes(target));
      return source ? mappings.get(source.name) : undefined;
    };
    const rt: Runtime = { config, db, logger, sources: new Map(), targets: new Map(), redactor: new Redactor(config.secrets), ...(options.metrics ? { metrics: options.metrics } : {}) };
    // Read at each exchange: metrics set on the runtime later are counted into from then on.
    const observe = (role: 'source' | 'target', name: string): HttpObserve => (exchange) => rt.metrics?.observeHttp(role, name, exchange);
    for (const t of config.targets) rt.targets.set(t.name, await createTarget(t, db, logger, mappingFor(t.name), observe('target', t.name)));
    for (const s of config.sources) rt.sources.set(s.name, { config: s, adapter: await createSource(s, config.secrets, observe('source', s.name)), mapping: mappings.get(s.name)! });
    return rt;
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/** Close what a runtime holds open: the sources' and targets' connections, then the database. */
export async function closeRuntime(rt: Runtime): Promise<void> {
  for (const binding of rt.sources.values()) await binding.adapter.close?.().catch(() => undefined);
  for (const target of rt.targets.values()) await target.close?.().catch(() => undefined);
  await rt.db.destroy();
}
