/**
 * kontor's commands (the `kontor` binary is src/cli.ts). Exit codes: 0 ok, 1 work failed, 2 usage or configuration error.
 * Results go to stdout (JSON with --json), logs to stderr; both pass through the redactor.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { add, currencyExponent, formatDecimal, minor, postingsOf, type BookDocument, type Minor } from './books/index.js';
import { DEFAULT_CONFIG_PATH, loadConfig, type Config, type ResolvedTarget } from './config/load.js';
import { openDatabase } from './db/connect.js';
import { migrateLatest, pendingMigrations } from './db/migrate.js';
import { ConfigError, errorMessage, KontorError, UsageError, formatIssue } from './errors.js';
import { createLogger, type Logger } from './log/logger.js';
import { Redactor } from './log/redact.js';
import { brokenGroups, describeBrokenGroup } from './outbox/groups.js';
import { OperatorError, redriveDead, retryEntry, skipEntry } from './outbox/operator.js';
import { listEntries, showEntry } from './outbox/queries.js';
import { OUTBOX_STATES, type OutboxState } from './outbox/states.js';
import { closeQuarantined, getQuarantined, listQuarantine } from './store/quarantine.js';
import { accountBalance, accountStatement, openItemRows, transferGroups, trialBalance } from './targets/journal.js';
import { credentialReport } from './service/credentials.js';
import type { CurrencyFinding } from './service/online-check.js';
import { Deliverer } from './service/deliver.js';
import { BackfillProgress, deliveryProgress, outboxCounts, type ProgressMode } from './service/progress.js';
import { backupDatabase } from './service/backup.js';
import { checkIdle, copyToPostgres } from './service/db-copy.js';
import { previewSource, pullSource, takeIn, type PullWindow } from './service/intake.js';
import { closeRuntime, createRmaClient, createSource, openRuntime, targetMappingConflicts, type Runtime } from './service/runtime.js';
import { mappingJsonSchema } from './mapping/json-schema.js';
import { displayPath } from './config/yaml.js';
import { checkAgainstChart, inspectMapping, loadMapping, type ChartAccount, type Mapping } from './mapping/load.js';
import { previewRecords } from './service/preview.js';
import { ENVELOPES, FileSource, recordsOfText } from './sources/file.js';
import { Service, syncOnce } from './service/service.js';
import { collectStatus, formatStatus, webhookAmount } from './service/status.js';
import { describeHolder, SourceLeaseError, withSourceLease } from './service/source-lease.js';
import { reconcile, reconcileTargetsOf } from './service/reconcile.js';
import { collectSummary, formatBalances, formatSummary, money } from './service/summary.js';
import type { RmaChartAccount, RmaEmulator, RmaPartMaster } from './targets/runmyaccounts/emulator.js';
import type { BillectaEmulator } from './targets/billecta/emulator.js';
import type { LatencyFrom, LatencyTimer } from './targets/emulator-kit.js';
import type { RmaChartAccount as RmaChartRow, RunMyAccountsClient } from './targets/runmyaccounts/client.js';

let redactor = new Redactor([]);
const print = (text: string) => process.stdout.write(`${redactor.text(text)}\n`);
const printJson = (value: unknown) => print(JSON.stringify(redactor.value(value), null, 2));

interface GlobalOptions {
  config: string;
}

function configOf(cmd: Command): Config {
  const { config } = cmd.optsWithGlobals<GlobalOptions>();
  const loaded = loadConfig(config);
  redactor = new Redactor(loaded.secrets);
  return loaded;
}

function loggerFor(config: Config): Logger {
  const { log } = config.raw;
  return createLogger({ level: log.level, format: log.format, redactor });
}

async function withRuntime<T>(cmd: Command, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = configOf(cmd);
  const rt = await openRuntime(config, loggerFor(config));
  try {
    return await fn(rt);
  } finally {
    await closeRuntime(rt);
  }
}

/** Commands that only read and write the database need no mappings or adapters. */
async function withDatabase<T>(cmd: Command, fn: (db: Runtime['db'], config: Config) => Promise<T>): Promise<T> {
  const config = configOf(cmd);
  const db = openDatabase(config.database);
  try {
    await migrateLatest(db);
    return await fn(db, config);
  } finally {
    await db.destroy();
  }
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`"${value}" is not ${what}`);
  return n;
}

const parseId = (value: string) => positiveInt(value, 'an entry id');

/** 12,345 bytes (12.1 KiB). */
function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = '';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${bytes.toLocaleString('en-US')} bytes${unit ? ` (${(Math.round(value * 10) / 10).toLocaleString('en-US')} ${unit})` : ''}`;
}

function parseDay(value: string, option: string): Date {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${option} "${value}" is not a date (YYYY-MM-DD or an ISO timestamp)`);
  return d;
}

/** --from is inclusive; a --to date includes that whole (UTC) day. */
export function backfillWindow(from: string, to: string): PullWindow {
  const start = parseDay(from, '--from');
  const end = parseDay(to, '--to');
  if (/^\d{4}-\d{2}-\d{2}$/.test(to)) end.setUTCDate(end.getUTCDate() + 1);
  if (end <= start) throw new UsageError('--to must not be before --from');
  return { from: start.toISOString(), to: end.toISOString() };
}

function describeDocument(doc: BookDocument): string {
  if (doc.kind === 'customer') return `  customer ${doc.number}: ${doc.name}, ${[doc.address.zipcode, doc.address.city, doc.address.country].filter(Boolean).join(' ')}`;
  const e = currencyExponent(doc.currency);
  const head =
    doc.kind === 'payment'
      ? `  ${doc.purpose} on ${doc.appliesTo} dated ${doc.date}: ${money(doc.amount, doc.currency)} to ${doc.account}`
      : `  ${doc.kind} ${doc.number} dated ${doc.date}, due ${doc.dueDate}, customer ${doc.customerNumber}, total ${money(doc.total, doc.currency)}`;
  const lines = [head];
  for (const p of postingsOf(doc)) {
    lines.push(`    ${p.account.padEnd(8)}${formatDecimal(p.amount, e).padStart(12)}  ${p.text}`);
  }
  return lines.join('\n');
}

export function buildProgram(): Command {
  const program = new Command('kontor')
    .description('Books webshop orders into Run my Accounts or Billecta, exactly once, through an outbox.')
    .addOption(new Option('-c, --config <file>', 'configuration file').default(DEFAULT_CONFIG_PATH).env('KONTOR_CONFIG'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(redactor.text(s)), writeOut: (s) => process.stdout.write(redactor.text(s)) });

  program
    .command('run')
    .description('run the service: sync now, then on each source schedule, until SIGINT/SIGTERM')
    .action(async (_opts, cmd: Command) => {
      const config = configOf(cmd);
      const rt = await openRuntime(config, loggerFor(config));
      const service = new Service(rt, { print, handleSignals: true });
      await service.start();
      await service.done;
    });

  program
    .command('sync')
    .description('pull every source once, deliver what is ready, print a summary and exit')
    .option('--once', 'one pass (the only mode; `kontor run` syncs continuously)', true)
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withRuntime(cmd, async (rt) => {
        const result = await syncOnce(rt, new Deliverer(rt));
        const summary = await collectSummary(rt, result.intake, result.delivery);
        if (opts.json) printJson(summary);
        else print(formatSummary(summary));
        // A target stopped for its credentials is a failure the operator must see in the exit code too.
        const failed = result.intake.some((s) => s.quarantined > 0) || result.delivery.dead > 0 || Object.keys(result.delivery.stopped ?? {}).length > 0;
        if (failed) process.exitCode = 1;
      });
    });

  program
    .command('backfill')
    .description('take in one source\'s orders created in a date range, ignoring (and keeping) its cursor')
    .requiredOption('--source <name>', 'source to read')
    .requiredOption('--from <date>', 'first day (YYYY-MM-DD, UTC) or ISO timestamp, inclusive')
    .requiredOption('--to <date>', 'last day (YYYY-MM-DD, UTC, inclusive) or ISO timestamp (exclusive)')
    .option('--dry-run', 'map and print the documents, write and send nothing')
    .option('--json', 'print results as JSON')
    .option('--progress-interval <seconds>', 'when stderr or stdout is not a terminal (or with --json): log the progress every SECONDS (fractions allowed)', '10')
    .option('--no-progress', 'no progress bar and no progress log lines')
    .action(async (opts: { source: string; from: string; to: string; dryRun?: boolean; json?: boolean; progressInterval: string; progress: boolean }, cmd: Command) => {
      const window = backfillWindow(opts.from, opts.to);
      const intervalSeconds = Number(opts.progressInterval);
      if (opts.progressInterval.trim() === '' || !(intervalSeconds >= 0.01 && intervalSeconds <= 86_400)) {
        throw new UsageError(`--progress-interval "${opts.progressInterval}" is not a number of seconds from 0.01 to 86400`);
      }
      if (opts.dryRun) {
        // A dry run needs no database: it reads the source and maps, and writes nothing.
        const config = configOf(cmd);
        const source = config.sources.find((s) => s.name === opts.source);
        if (!source) throw new UsageError(`unknown source "${opts.source}" (configured: ${config.sources.map((s) => s.name).join(', ')})`);
        const binding = { config: source, adapter: await createSource(source, config.secrets), mapping: loadMapping(source.mappingPath) };
        const results: unknown[] = [];
        const stats = await previewSource(binding, window, (record, outcome) => {
          if (opts.json) results.push({ record: record.id, origin: record.origin, ...outcome });
          else if (outcome.kind === 'documents') print(`order ${record.id} (${record.origin}):\n${outcome.documents.map(describeDocument).join('\n')}`);
          else print(`order ${record.id} (${record.origin}): ${outcome.kind}: ${outcome.reason}`);
        });
        if (opts.json) printJson({ dryRun: true, window, stats, results });
        else print(`dry run: ${stats.read} orders in range, ${stats.booked} would be booked, ${stats.skipped} skipped, ${stats.quarantined} would be quarantined; nothing was written`);
        if (stats.quarantined > 0) process.exitCode = 1;
        return;
      }
      await withRuntime(cmd, async (rt) => {
        if (!rt.sources.has(opts.source)) throw new UsageError(`unknown source "${opts.source}" (configured: ${[...rt.sources.keys()].join(', ')})`);
        // A bar on a terminal (stderr, never into --json or a pipe), log lines every interval anywhere else.
        const mode: ProgressMode = !opts.progress ? 'off' : !opts.json && process.stderr.isTTY && process.stdout.isTTY ? 'bar' : 'log';
        const progress = new BackfillProgress({ mode, logger: rt.logger, label: opts.source, intervalMs: intervalSeconds * 1000, db: rt.db });
        try {
          if (mode === 'log') rt.logger.info(`backfill ${opts.source}: pulling the orders created from ${window.from} to ${window.to}; progress every ${intervalSeconds} s`);
          // Under the source's lease: a `kontor run` (or another backfill) pulling it now makes this one stop here.
          const pulled = await withSourceLease(rt, opts.source, { purpose: 'backfill' }, async (signal) => {
            progress.startPull();
            let records = 0;
            const stats = await pullSource(rt, opts.source, {
              window,
              signal,
              // Only shown progress needs the total, and a file source reads its files once more for it.
              ...(mode === 'off' ? {} : { onTotal: (n: number) => progress.pullTotal(n) }),
              onRecord: (s, n) => {
                records = n;
                progress.pullRecord(s, n);
              },
            });
            progress.endPull(stats, records);
            return stats;
          });
          if (!pulled.ran) throw new SourceLeaseError(`${describeHolder(pulled.holder)}: nothing was read; run the backfill again when that pull has ended`);
          const intake = pulled.value;
          // The delivery's total: every outbox entry waiting now (due, or being delivered), whichever source it came from.
          const start = mode === 'off' ? null : await outboxCounts(rt.db);
          if (start) progress.startDelivery(start.waiting, async () => deliveryProgress(start, await outboxCounts(rt.db)));
          const delivery = await new Deliverer(rt).drain();
          if (start) {
            const end = await outboxCounts(rt.db);
            progress.endDelivery(delivery, deliveryProgress(start, end), end.waiting);
          }
          progress.stop();
          const summary = await collectSummary(rt, [intake], delivery);
          if (opts.json) printJson({ window, ...summary });
          else print(formatSummary(summary));
          if (intake.quarantined > 0 || delivery.dead > 0) process.exitCode = 1;
        } finally {
          progress.stop();
        }
      });
    });

  program
    .command('preview')
    .description('map one order file without side effects: documents, postings and what each target would be sent')
    .requiredOption('--source <name>', 'the source whose adapter reads the order')
    .requiredOption('--order <file...>', 'a file with one order (JSON, or JSON Lines with one line); give several to preview the last after the others (a deposit before its final settlement)')
    .option('--id <order id>', 'in an --order file with several orders (a CSV file, a JSON list), the one to preview')
    .option('--mapping <file>', "a mapping file to use instead of the source's")
    .option('--target <name>', 'only this target')
    .option('--json', 'print the stable JSON contract (docs/cli.md#kontor-preview)')
    .action(async (opts: { source: string; order: string[]; id?: string; mapping?: string; target?: string; json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const source = config.sources.find((s) => s.name === opts.source);
      if (!source) throw new UsageError(`no source named "${opts.source}" (configured: ${config.sources.map((s) => s.name).join(', ') || 'none'})`);
      // The targets this source delivers to, as in a run.
      const targets = config.targets.filter((t) => source.targets.includes(t.name) && (!opts.target || t.name === opts.target));
      if (opts.target && targets.length === 0) {
        throw new UsageError(`no target named "${opts.target}" among source ${source.name}'s targets (${source.targets.join(', ')})`);
      }
      const mapping = loadMapping(opts.mapping ? path.resolve(opts.mapping) : source.mappingPath);
      const adapter = await createSource(source, config.secrets);
      const records = opts.order.map((file) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          throw new UsageError(`cannot read --order ${file}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
        }
        // An order saved from a shop's API keeps its envelope ({"order": …}); read it as that shop's file source would.
        const all = adapter instanceof FileSource ? adapter.recordsOfFile(file, text) : recordsOfText(file, text, /\.jsonl$/i.test(file), source.config.type === 'file' ? [] : ENVELOPES[source.config.type]);
        const found = opts.id === undefined || all.length <= 1 ? all : all.filter((r) => r.id === opts.id);
        if (found.length !== 1) {
          throw new UsageError(
            opts.id !== undefined && all.length > 1
              ? `${file} holds no order with id ${opts.id} (ids: ${all.map((r) => r.id).join(', ')})`
              : `${file} holds ${all.length} orders; give one order per --order file, or pick one with --id (ids: ${all.map((r) => r.id).join(', ')})`,
          );
        }
        return found[0]!;
      });
      const result = await previewRecords({ name: source.name, adapter, mapping }, records, targets);
      if (result.errors.length > 0) process.exitCode = 1;
      if (opts.json) {
        printJson(result);
        return;
      }
      const o = result.order;
      print(o ? `order ${o.id} (number ${o.number}, ${money(minor(o.total_minor), o.currency)}) from source ${o.source}:` : `${opts.order.join(', ')}:`);
      for (const e of result.errors) print(`  rejected: ${e.field ? `${e.field}: ` : ''}${e.message}`);
      for (const d of result.documents) {
        print(`  ${d.kind} ${d.number}${d.date ? ` dated ${d.date}` : ''}${d.currency ? `, ${money(minor(d.gross_minor), d.currency)}` : ''}`);
        for (const p of d.postings) {
          print(`    ${p.account.padEnd(8)}${formatDecimal(minor(p.amount_minor), currencyExponent(d.currency!)).padStart(12)}  ${p.role}${p.vat_rate !== null ? ` ${p.vat_rate} %` : ''}`);
        }
      }
      for (const w of result.warnings) print(`  warning: ${w}`);
      for (const [target, payload] of Object.entries(result.payloads)) {
        if (payload.length > 0) print(`payload for target ${target}:\n${JSON.stringify(payload, null, 2)}`);
      }
    });

  program
    .command('schema')
    .description('print the JSON Schema of mapping files (for editors; shipped as schemas/mapping.schema.json)')
    .action(() => {
      print(JSON.stringify(mappingJsonSchema(), null, 2));
    });

  program
    .command('check')
    .description(
      'validate config.yaml, the mappings and credential expiry; exit 2 on any problem. ' +
        "With --online, also read each Run my Accounts target's chart (GET /charts) and check every account its mappings book to " +
        '(exists, active, right link), and log in to each Billecta target and check its creditor and the currencies its mappings name; ' +
        'exit 1 when a target cannot be reached (or, Run my Accounts, its chart read) and nothing else is wrong',
    )
    .argument('[mappings...]', 'check only these mapping files (no config.yaml needed)')
    .option('--chart <file>', "check every account against a chart of accounts file (Run my Accounts' GET /charts as JSON: {accounts: [{accno, link, …}]})")
    .option('--online', "also check against each target itself: Run my Accounts' chart of accounts; Billecta's login, creditor, currencies and products")
    .option('--json', 'print the findings as JSON')
    .action(async (files: string[], opts: { chart?: string; online?: boolean; json?: boolean }, cmd: Command) => {
      if (opts.online && files.length > 0) throw new UsageError('--online checks the mappings of config.yaml against its targets; give no mapping files with it');
      const chart = opts.chart ? readChart(opts.chart) : null;
      /** `FILE:LINE:COL: message` of the mappings, on stderr as compilers print them. */
      const mappingProblems: string[] = [];
      const problems: string[] = [];
      const warnings: string[] = [];
      /** Targets whose chart could not be read (--online): exit 1 unless there is a problem too. */
      const unreachable: string[] = [];
      /** Per target; Billecta's entries also carry `creditor`, `currencies` and `products`. */
      const online: {
        target: string;
        type: string;
        chart: string | null;
        accounts: number | null;
        error: string | null;
        creditor?: { id: string; name: string | null } | null;
        currencies?: CurrencyFinding[] | null;
        products?: number | null;
      }[] = [];
      const config = files.length === 0 ? configOf(cmd) : null;
      const mappingFiles = files.length > 0 ? files.map((f) => path.resolve(f)) : [...new Set(config!.sources.map((s) => s.mappingPath))];
      const mappings = new Map<string, Mapping>();
      for (const file of mappingFiles) {
        const { mapping, issues } = inspectMapping(file);
        if (mapping) mappings.set(file, mapping);
        mappingProblems.push(...issues.map(formatIssue));
        // A mapping is written for one kind of target (its variant, field limits, accounts); the journal takes any.
        for (const source of config?.sources.filter((s) => s.mappingPath === file) ?? []) {
          for (const t of config!.targets.filter((t) => source.targets.includes(t.name))) {
            if (mapping && t.config.type !== 'journal' && t.config.type !== mapping.spec.target.kind) {
              mappingProblems.push(`${mapping.where(['target', 'kind'])}: this mapping is written for ${mapping.spec.target.kind}, but source "${source.name}" delivers to target "${t.name}" (${t.config.type})`);
            }
          }
        }
        if (mapping && chart) {
          const checked = checkAgainstChart(mapping, chart.accounts, chart.name);
          mappingProblems.push(...checked.issues.map(formatIssue));
          warnings.push(...checked.warnings);
        }
      }
      if (config) {
        for (const status of credentialReport(config)) {
          // An expired key for the environment not in use does not stop kontor; it still needs replacing.
          if (status.level === 'expired' && status.active) problems.push(status.message);
          else if (status.level === 'expired') warnings.push(`${status.message} (not in use: environment is ${config.targets.find((t) => t.name === status.target)!.environment})`);
          else if (status.level === 'warning') warnings.push(status.message);
        }
        for (const t of config.targets) {
          if (t.config.type === 'journal') continue;
          const creds = t.config.credentials[t.environment];
          const secretKeys = creds ? Object.keys(creds).filter((k) => k !== 'expires' && k !== 'created') : [];
          if (secretKeys.length === 0) {
            const p = config.positionOf(['targets', t.name]);
            problems.push(`${p.file}:${p.line}:${p.col}: target "${t.name}" uses the ${t.environment} environment but has no ${t.environment} credentials`);
          } else if (t.config.type === 'runmyaccounts' && !creds?.api_key) {
            // What delivery will insist on, said here first.
            const p = config.positionOf(['targets', t.name, 'credentials', t.environment]);
            problems.push(`${p.file}:${p.line}:${p.col}: target "${t.name}": no api_key (or api_key_file) in its ${t.environment} credentials (it has ${secretKeys.join(', ')})`);
          } else if (t.config.type === 'billecta' && (!creds?.username || !creds.password)) {
            // Billecta logs in with a username and password (src/targets/billecta/client.ts); delivery insists on both.
            const p = config.positionOf(['targets', t.name, 'credentials', t.environment]);
            problems.push(`${p.file}:${p.line}:${p.col}: target "${t.name}": no username and password (or password_file) in its ${t.environment} credentials (it has ${secretKeys.join(', ')})`);
          }
        }
        problems.push(...targetMappingConflicts(config, (source) => mappings.get(config.sources.find((s) => s.name === source)!.mappingPath)).map(formatIssue));
        if (opts.online) {
          for (const t of config.targets) {
            const entry = { target: t.name, type: t.config.type, chart: null as string | null, accounts: null as number | null, error: null as string | null };
            online.push(entry);
            if (t.config.type === 'journal') {
              warnings.push(`target "${t.name}": a journal has no chart of accounts to read; nothing checked online`);
              continue;
            }
            if (t.config.type === 'billecta') {
              const delivering = config.sources.filter((s) => s.targets.includes(t.name)).map((s) => mappings.get(s.mappingPath));
              // Imported here: it brings Billecta's HTTP client, which other commands do not need.
              const { checkBillectaOnline } = await import('./service/online-check.js');
              const checked = await checkBillectaOnline(config, t, [...new Set(delivering.filter((m): m is Mapping => m !== undefined))]);
              Object.assign(entry, { error: checked.error, creditor: checked.creditor, currencies: checked.currencies, products: checked.products });
              mappingProblems.push(...checked.mappingProblems);
              problems.push(...checked.problems);
              warnings.push(...checked.warnings);
              unreachable.push(...checked.unreachable);
              continue;
            }
            const result = await onlineChart(t);
            if ('error' in result) {
              entry.error = result.error;
              unreachable.push(result.error);
              continue;
            }
            entry.chart = result.name;
            entry.accounts = result.accounts.length;
            const chartAccounts: ChartAccount[] = result.accounts.map((a) => ({ accno: a.accno, link: a.link, description: a.description, allow_gl: a.allowGl, active: a.isActive }));
            for (const file of mappingFiles) {
              const mapping = mappings.get(file);
              if (!mapping || !config.sources.some((s) => s.mappingPath === file && s.targets.includes(t.name))) continue;
              const checked = checkAgainstChart(mapping, chartAccounts, result.name);
              mappingProblems.push(...checked.issues.map(formatIssue));
              warnings.push(...checked.warnings);
            }
          }
        }
      }
      const allProblems = [...mappingProblems, ...problems];
      if (opts.json) {
        printJson({
          config: config?.file ?? null,
          mappings: mappingFiles.map(displayPath),
          chart: chart?.name ?? null,
          problems: allProblems,
          warnings,
          ...(opts.online ? { online, unreachable } : {}),
          credentials: config ? credentialReport(config) : [],
        });
      } else {
        for (const w of warnings) print(`warning: ${w}`);
        for (const p of mappingProblems) process.stderr.write(`${redactor.text(p)}\n`);
        for (const p of problems) print(`error: ${p}`);
        for (const u of unreachable) process.stderr.write(`${redactor.text(`kontor: ${u}`)}\n`);
        if (allProblems.length + unreachable.length === 0) {
          const what = config ? `${config.file}: OK (${config.sources.length} source(s), ${config.targets.length} target(s), mappings valid)` : `${mappingFiles.map(displayPath).join(', ')}: OK`;
          const against = [...(chart ? [chart.name] : []), ...online.filter((o) => o.chart).map((o) => o.chart!)];
          const atBillecta = online
            .filter((o) => o.creditor)
            .map((o) => {
              const currencies = o.currencies ? (o.currencies.length > 0 ? `currencies ${o.currencies.map((x) => x.currency).join(', ')}` : 'no currency named by its mappings') : 'currencies not checked';
              return `; Billecta target "${o.target}" checked online (creditor ${o.creditor!.name ? `"${o.creditor!.name}"` : o.creditor!.id}, ${currencies})`;
            });
          print(`${against.length > 0 ? `${what}; accounts checked against ${against.join(' and ')}` : what}${atBillecta.join('')}`);
        }
      }
      if (allProblems.length > 0) process.exitCode = 2;
      else if (unreachable.length > 0) process.exitCode = 1;
    });

  program
    .command('migrate')
    .description('bring the database schema up to date')
    .option('--json', 'print the applied migrations as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const db = openDatabase(config.database);
      try {
        const before = await pendingMigrations(db);
        const { applied } = await migrateLatest(db);
        if (opts.json) printJson({ applied, pendingBefore: before });
        else print(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'database schema is up to date');
      } finally {
        await db.destroy();
      }
    });

  const dbCommand = program.command('db').description('the database itself: online backups (SQLite), and the move to PostgreSQL');
  dbCommand
    .command('backup')
    .description(
      'an online, consistent copy of the SQLite database into FILE (mode 0600), also while kontor runs; ' +
        'the schema is left as it is (no migrations). PostgreSQL: use pg_dump (exit 2)',
    )
    .argument('<file>', 'the backup file to write; must not exist unless --force')
    .option('--force', 'replace FILE if it exists')
    .option('--database <file>', "the SQLite file to back up instead of config.yaml's database.file; no configuration is read then")
    .option('--json', 'print the outcome as JSON')
    .action(async (file: string, opts: { force?: boolean; database?: string; json?: boolean }, cmd: Command) => {
      const settings = opts.database ? { client: 'sqlite' as const, file: path.resolve(opts.database), busyTimeoutMs: 5000 } : configOf(cmd).database;
      const result = await backupDatabase(settings, file, { force: Boolean(opts.force) });
      if (opts.json) printJson(result);
      else print(`${displayPath(result.database)} backed up to ${displayPath(result.file)}: ${formatBytes(result.bytes)} in ${result.ms} ms`);
    });
  dbCommand
    .command('copy')
    .description(
      "copy the SQLite database of config.yaml, whole, into an empty PostgreSQL database (schema created there first), to move kontor to PostgreSQL; " +
        'kontor must be stopped. Then set database.url in config.yaml',
    )
    .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user@host:5432/db (a password here is redacted from all output; PGPASSWORD or ~/.pgpass keep it off the command line)')
    .option('--json', 'print the rows copied per table as JSON')
    .action(async (opts: { to: string; json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new UsageError('--to must be a postgres:// or postgresql:// URL');
      const password = (() => {
        try {
          return decodeURIComponent(new URL(opts.to).password);
        } catch {
          return '';
        }
      })();
      redactor = new Redactor([...config.secrets, ...(password ? [password] : [])]);
      if (config.database.client !== 'sqlite') throw new UsageError('kontor db copy copies a SQLite database to PostgreSQL; this configuration uses PostgreSQL already (database.url)');
      const sqlite = openDatabase(config.database);
      const pg = openDatabase({ client: 'postgres', url: opts.to, busyTimeoutMs: config.database.busyTimeoutMs, poolMax: 2 });
      try {
        await migrateLatest(sqlite);
        await checkIdle(sqlite);
        await migrateLatest(pg);
        const report = await copyToPostgres(sqlite, pg);
        if (opts.json) {
          printJson({ from: config.database.file, to: opts.to, ...report });
          return;
        }
        for (const t of report.tables) print(`${t.table.padEnd(20)}${t.rows.toLocaleString('en-US').padStart(12)} rows`);
        print(`copied ${displayPath(config.database.file)} to ${opts.to} in ${report.ms} ms; now set database.url to it in config.yaml (and remove database.file), then start kontor`);
      } finally {
        await Promise.all([sqlite.destroy(), pg.destroy()]);
      }
    });

  program
    .command('status')
    .description(
      'source cursors with their lag and last successful pull, outbox backlog, dead letters, in-doubt entries, quarantine, credential expiry, and the transfer account balance per target ' +
        'as the target sees it (Run my Accounts: read from gl/v2/saldo; "not known: …" when the target cannot be reached)',
    )
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      // Collected in src/service/status.ts, which the status page of `kontor run` shows too.
      await withRuntime(cmd, async (rt) => {
        const status = await collectStatus(rt);
        if (opts.json) printJson(status);
        else print(formatStatus(status));
      });
    });

  // kontor reconcile (issue #7): kontor's settlements against what the targets reported (src/service/reconcile.ts).
  program
    .command('reconcile')
    .description(
      'per target, every delivered invoice and credit note: its total, what kontor settled, what the target reported through webhooks ' +
        '(received, credited, written off), what is open, and whether both sides agree; journals are left out (see ledger items). ' +
        'Exit 1 on a mismatch, an overpayment, or a webhook amount for an invoice kontor did not deliver',
    )
    .option('--target <name>', 'only this target')
    .option('--json', 'print as JSON')
    .action(async (opts: { target?: string; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db, config) => {
        const named = config.targets.find((t) => t.name === opts.target);
        if (opts.target && !named) throw new UsageError(`no target named "${opts.target}" (configured: ${config.targets.map((t) => t.name).join(', ')})`);
        if (named?.config.type === 'journal') throw new UsageError(`target "${named.name}" is a journal, kontor's own book: its open items are in kontor ledger items`);
        const { targets, all, skipped } = reconcileTargetsOf(config, opts.target);
        const report = await reconcile(db, targets, { allTargets: all, skipped, webhooksConfigured: config.raw.webhooks !== undefined, format: money });
        if (!report.ok) process.exitCode = 1;
        if (opts.json) return printJson(report);
        for (const t of report.targets) {
          print(`${t.target} (${t.type}):`);
          if (t.rows.length === 0) print('  nothing delivered yet');
          const width = (values: (string | null)[], min: number) => Math.max(min, ...values.map((v) => (v ?? '-').length)) + 2;
          const [wn, wo, wi] = [width(t.rows.map((r) => r.number), 6), width(t.rows.map((r) => r.orderNumber), 5), width(t.rows.map((r) => r.externalId), 9)];
          const heads = ['total', 'settled', 'received', 'credited', 'written off', 'open'].map((h) => h.padStart(13)).join('');
          if (t.rows.length > 0) print(`  ${'date'.padEnd(12)}${'kind'.padEnd(13)}${'number'.padEnd(wn)}${'order'.padEnd(wo)}${'target id'.padEnd(wi)}${'cur'.padEnd(5)}${heads}  status`);
          for (const r of t.rows) {
            const figures = [r.total, r.settled, r.reported.received, r.reported.credited, r.reported.writtenOff, r.open].map((a) => amount(a, r.currency, 13)).join('');
            const remarks = [...(r.collected ? ['verification invoice: the target reports nothing'] : []), ...(r.unreported !== 0 ? [`${money(r.unreported, r.currency)} not reported by the target`] : [])];
            print(`  ${r.date}  ${r.kind.padEnd(13)}${r.number.padEnd(wn)}${r.orderNumber.padEnd(wo)}${(r.externalId ?? '-').padEnd(wi)}${r.currency.padEnd(5)}${figures}  ${r.status}${remarks.length > 0 ? ` (${remarks.join('; ')})` : ''}`);
            for (const p of r.problems) print(`    ${p}`);
          }
          for (const s of t.rows.length > 1 ? t.totals : []) {
            print(`  ${s.currency}: ${s.documents} documents, total ${money(s.total, s.currency)}, settled ${money(s.settled, s.currency)}, reported ${money(s.received, s.currency)} received, ${money(s.credited, s.currency)} credited, ${money(s.writtenOff, s.currency)} written off; open ${money(s.open, s.currency)}`);
          }
          for (const n of t.notes) print(`  note: ${n}`);
        }
        for (const s of report.skipped) print(`${s.target} (${s.type}): left out: ${s.reason}`);
        if (report.unmatched.length > 0) print('unmatched webhook events (their invoice is no document kontor delivered):');
        for (const e of report.unmatched) {
          print(`  #${e.id} ${e.eventType} ${webhookAmount(e.amount, e.currency)} on ${e.invoicePublicId ?? '(no invoice id)'}, reference ${e.reference}, ${e.occurredAt ? `dated ${e.occurredAt}, ` : ''}received ${e.receivedAt}`);
        }
        const { documents, mismatch, overpaid, unmatched } = report.summary;
        print(`${report.ok ? 'reconciled' : 'NOT RECONCILED'}: ${documents} document(s), ${mismatch} mismatch(es), ${overpaid} overpaid, ${unmatched} unmatched webhook event(s)`);
      });
    });

  const outbox = program.command('outbox').description('inspect and steer the outbox');
  outbox
    .command('list')
    .description('list outbox entries')
    .addOption(new Option('--state <state>', 'only entries in this state').choices(OUTBOX_STATES))
    .option('--target <name>', 'only entries for this target')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print as JSON')
    .action(async (opts: { state?: OutboxState; target?: string; limit: string; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const entries = await listEntries(db, { ...(opts.state ? { state: opts.state } : {}), ...(opts.target ? { target: opts.target } : {}), limit: positiveInt(opts.limit, 'a positive --limit') });
        if (opts.json) return printJson(entries);
        if (entries.length === 0) return print('no entries');
        for (const e of entries) {
          print(`#${String(e.id).padEnd(6)}${e.state.padEnd(10)}${e.target.padEnd(12)}${e.doc_key}  attempts ${e.attempts}${e.external_id ? `  → ${e.external_id}` : ''}${e.last_error ? `  (${e.last_error})` : ''}`);
        }
      });
    });
  outbox
    .command('show <id>')
    .description('one entry with its document and every transition')
    .option('--json', 'print as JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const detail = await showEntry(db, parseId(id));
        if (!detail) throw new OperatorError(`outbox entry ${id} does not exist`);
        if (opts.json) return printJson(detail);
        const { entry, events } = detail;
        print(`entry #${entry.id} ${entry.entry_key}\n  state ${entry.state}, attempts ${entry.attempts}, target ${entry.target}${entry.external_id ? `, external id ${entry.external_id}` : ''}`);
        if (entry.last_error) print(`  last error: ${entry.last_error}`);
        print(describeDocument(detail.document as BookDocument));
        print('  transitions:');
        for (const ev of events) print(`    ${ev.at}  ${ev.from_state ?? '-'} → ${ev.to_state}  ${ev.cause}`);
      });
    });
  outbox
    .command('retry <id>')
    .description('make a dead, retrying or in-doubt entry due now')
    .action(async (id: string, _opts, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const entry = await retryEntry(db, parseId(id));
        print(`entry #${entry.id} is ${entry.state} and due now; the running service (or kontor sync) delivers it`);
      });
    });
  outbox
    .command('skip <id>')
    .description('give up on an entry for good, with a reason that is recorded')
    .requiredOption('--reason <text>', 'why it is skipped')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const entry = await skipEntry(db, parseId(id), opts.reason);
        print(`entry #${entry.id} skipped: ${opts.reason}`);
        // Skipping one member of a storno or netting group whose others went through leaves the target's books off: said at once.
        for (const g of await brokenGroups(db, { target: entry.target })) {
          if (g.members.some((m) => m.entry === entry.id)) process.stderr.write(`kontor: warning: ${describeBrokenGroup(g, money)}\n`);
        }
      });
    });
  outbox
    .command('redrive')
    .description('put every dead entry back to pending')
    .option('--target <name>', 'only this target\'s dead entries')
    .action(async (opts: { target?: string }, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const ids = await redriveDead(db, opts.target);
        print(ids.length > 0 ? `redriven: ${ids.map((i) => `#${i}`).join(', ')}` : 'no dead entries');
      });
    });

  const ledger = program.command('ledger').description('the local journal: trial balance, account statements, open items');
  const journalsOf = (config: Config, target: string | undefined) => {
    const journals = config.targets.filter((t) => t.config.type === 'journal' && (!target || t.name === target));
    if (journals.length === 0) throw new UsageError(target ? `no journal target named "${target}"` : 'no journal target is configured');
    return journals;
  };
  const amount = (a: Minor, currency: string, width = 14) => formatDecimal(a, currencyExponent(currency)).padStart(width);
  ledger
    .command('balance')
    .description('trial balance of the journal target(s), with the transfer account and its storno/netting groups')
    .option('--target <name>', 'only this journal target')
    .option('--json', 'print as JSON')
    .action(async (opts: { target?: string; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db, config) => {
        const result = await Promise.all(
          journalsOf(config, opts.target).map(async (t) => {
            const accounts = await trialBalance(db, t.name);
            const totals: Record<string, Minor> = {};
            for (const a of accounts) totals[a.currency] = add(totals[a.currency] ?? minor(0), a.balance);
            const transferAccount = t.config.transfer_account;
            return {
              target: t.name,
              accounts,
              totals,
              balanced: Object.values(totals).every((v) => v === 0),
              transfer: { account: transferAccount, balance: await accountBalance(db, t.name, transferAccount), groups: await transferGroups(db, t.name, transferAccount) },
            };
          }),
        );
        if (opts.json) return printJson(result);
        for (const r of result) {
          print(`${r.target}:`);
          if (r.accounts.length === 0) print('  nothing booked yet');
          else print(`  ${'account'.padEnd(8)}${'cur'.padEnd(5)}${'debit'.padStart(14)}${'credit'.padStart(14)}${'balance'.padStart(14)}`);
          for (const a of r.accounts) print(`  ${a.account.padEnd(8)}${a.currency.padEnd(5)}${amount(a.debit, a.currency)}${amount(a.credit, a.currency)}${amount(a.balance, a.currency)}`);
          for (const [currency, total] of Object.entries(r.totals)) print(`  ${total === 0 ? 'balanced' : 'NOT BALANCED'}: Σ ${money(total, currency)}`);
          print(`  transfer account ${r.transfer.account}: ${formatBalances(r.transfer.balance)}`);
          for (const g of r.transfer.groups.filter((x) => x.balance !== 0)) print(`  NOT NETTED: group ${g.group} leaves ${money(g.balance, g.currency)} on ${r.transfer.account}`);
        }
        // Monitoring can rely on the exit code: books that do not balance or net are a failure.
        if (result.some((r) => !r.balanced || r.transfer.groups.some((g) => g.balance !== 0))) process.exitCode = 1;
      });
    });
  ledger
    .command('account <accno>')
    .description('statement of one account: every posting with its running balance')
    .option('--target <name>', 'only this journal target')
    .option('--json', 'print as JSON')
    .action(async (accno: string, opts: { target?: string; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db, config) => {
        const result = await Promise.all(journalsOf(config, opts.target).map(async (t) => ({ target: t.name, account: accno, rows: await accountStatement(db, t.name, accno) })));
        if (opts.json) return printJson(result);
        for (const r of result) {
          print(`${r.target} account ${accno}:`);
          if (r.rows.length === 0) print('  no postings');
          const width = Math.max(8, ...r.rows.map((row) => row.number.length)) + 2;
          if (r.rows.length > 0) print(`  ${'date'.padEnd(12)}${'number'.padEnd(width)}${'cur'.padEnd(5)}${'amount'.padStart(14)}${'balance'.padStart(14)}  text`);
          for (const row of r.rows) {
            print(`  ${row.date}  ${row.number.padEnd(width)}${row.currency.padEnd(5)}${amount(row.amount, row.currency)}${amount(row.balance, row.currency)}  ${row.text}`);
          }
        }
      });
    });
  ledger
    .command('items')
    .description('open items per invoice, credit note and storno: open, partly paid or paid')
    .option('--target <name>', 'only this journal target')
    .addOption(new Option('--status <status>', 'only items in this state').choices(['open', 'partly-paid', 'paid']))
    .option('--json', 'print as JSON')
    .action(async (opts: { target?: string; status?: string; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db, config) => {
        const result = await Promise.all(
          journalsOf(config, opts.target).map(async (t) => ({ target: t.name, items: (await openItemRows(db, t.name)).filter((i) => !opts.status || i.status === opts.status) })),
        );
        if (opts.json) return printJson(result);
        for (const r of result) {
          print(`${r.target}:`);
          if (r.items.length === 0) print('  no items');
          else print(`  ${'date'.padEnd(12)}${'kind'.padEnd(12)}${'number'.padEnd(16)}${'cur'.padEnd(5)}${'total'.padStart(14)}${'settled'.padStart(14)}${'open'.padStart(14)}  status`);
          for (const i of r.items) {
            print(`  ${i.date}  ${i.kind.padEnd(12)}${i.number.padEnd(16)}${i.currency.padEnd(5)}${amount(i.total, i.currency)}${amount(i.settled, i.currency)}${amount(i.open, i.currency)}  ${i.status}`);
          }
        }
      });
    });

  const quarantine = program.command('quarantine').description('records that could not be booked');
  quarantine
    .command('list')
    .description('open quarantine entries with their reasons')
    .option('--all', 'include resolved entries')
    .option('--json', 'print as JSON')
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (db) => {
        const rows = await listQuarantine(db, { includeResolved: Boolean(opts.all) });
        if (opts.json) return printJson(rows.map(({ raw: _raw, ...r }) => r));
        if (rows.length === 0) return print('quarantine is empty');
        for (const q of rows) print(`#${q.id} ${q.source} order ${q.record_id} (${q.origin}): ${q.field ? `${q.field}: ` : ''}${q.reason}${q.resolved_at ? ` [resolved: ${q.resolution}]` : ''}`);
      });
    });
  quarantine
    .command('dismiss <id>')
    .description('close an open entry for good (the record is not booked), with a recorded reason')
    .requiredOption('--reason <text>', 'why it is dismissed')
    .action(async (id: string, opts: { reason: string }, cmd: Command) => {
      if (opts.reason.trim() === '') throw new UsageError('dismissing needs a reason (--reason)');
      await withDatabase(cmd, async (db) => {
        if (!(await closeQuarantined(db, parseId(id), `dismissed: ${opts.reason}`))) throw new UsageError(`quarantine entry ${id} is not open`);
        print(`quarantine entry #${id} dismissed: ${opts.reason}`);
      });
    });
  quarantine
    .command('replay [id]')
    .description('map quarantined records again (after fixing the mapping), by id or --all')
    .option('--all', 'replay every open entry')
    .action(async (id: string | undefined, opts: { all?: boolean }, cmd: Command) => {
      if (!id && !opts.all) throw new UsageError('name an entry id or pass --all');
      await withRuntime(cmd, async (rt) => {
        const rows = id ? [await getQuarantined(rt.db, parseId(id))].filter((r) => r !== undefined) : await listQuarantine(rt.db);
        if (id && rows.length === 0) throw new UsageError(`quarantine entry ${id} does not exist`);
        let stillBroken = 0;
        for (const q of rows) {
          const binding = rt.sources.get(q.source);
          if (!binding) throw new UsageError(`quarantine entry ${q.id} belongs to source "${q.source}", which is not configured`);
          const record = { id: q.record_id, raw: q.raw, origin: q.origin };
          // Replaying means: this exact content again, under today's mapping.
          await closeQuarantined(rt.db, q.id, 'replayed');
          const { outcome } = await takeIn(rt, binding, record);
          if (outcome === 'quarantined') stillBroken++;
          print(`#${q.id} order ${q.record_id}: ${outcome}`);
        }
        const delivery = await new Deliverer(rt).drain();
        print(`replayed ${rows.length}, ${stillBroken} still quarantined; delivered ${delivery.delivered}`);
        if (stillBroken > 0) process.exitCode = 1;
      });
    });

  // kontor sandbox: a local emulator of a target's API (issue #6), in the foreground until Ctrl-C.
  program
    .command('receipt')
    .description('upload a receipt (Beleg: PDF, PNG, JPEG or GIF) to a Run my Accounts target')
    .argument('<file>', 'the receipt file')
    .requiredOption('--target <name>', 'the runmyaccounts target')
    .option('--json', 'print the outcome as JSON')
    .action(async (file: string, opts: { target: string; json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const target = config.targets.find((t) => t.name === opts.target);
      if (!target) throw new UsageError(`no target named "${opts.target}" (configured: ${config.targets.map((t) => t.name).join(', ')})`);
      if (target.config.type !== 'runmyaccounts') throw new UsageError(`target "${target.name}" is ${target.config.type}: receipts go to Run my Accounts targets`);
      const types: Record<string, string> = { '.pdf': 'application/pdf', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif' };
      const contentType = types[path.extname(file).toLowerCase()];
      if (!contentType) throw new UsageError(`${file}: Run my Accounts takes PDF, PNG, JPEG or GIF receipts`);
      let data: Buffer;
      try {
        data = readFileSync(file);
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
      }
      const client = await createRmaClient(target);
      try {
        const outcome = await client.uploadReceipt({ name: path.basename(file), contentType, data });
        if (opts.json) printJson({ file, target: target.name, outcome });
        else print(`${file}: ${outcome === 'uploaded' ? 'uploaded to' : 'already in'} Run my Accounts (target ${target.name})`);
      } finally {
        await client.close();
      }
    });

  program
    .command('sandbox')
    .description('run a local emulator of a target API (runmyaccounts, billecta) for tests, benchmarks and integrators, until Ctrl-C')
    .argument('<target>', 'the API to emulate: runmyaccounts or billecta')
    .option('--port <port>', 'TCP port on 127.0.0.1 (0: any free port; default 4850 for runmyaccounts, 4851 for billecta)')
    .option('--mandant <name>', 'runmyaccounts: mandant (client) name; repeat for several', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--key <key>', 'runmyaccounts: the API key to accept (default: a generated one, printed)')
    .option('--user <name>', 'billecta: the API user (default sandbox)')
    .option('--password <password>', 'billecta: the API password (default: a generated one, printed)')
    .option('--creditor <guid>', 'billecta: the creditor public id (default: a random GUID, printed)')
    .option('--token-ttl <seconds>', 'billecta: how long a SecureToken lives (default 86400)')
    .option('--webhook <url>', 'billecta: POST InvoicePaymentReceived and the other payment events to this URL')
    .option('--webhook-secret <secret>', 'billecta: the secret header value sent with every webhook (required with --webhook)')
    .option('--webhook-header <name>', 'billecta: the header that carries the webhook secret (default x-webhook-secret)')
    .option('--latency <ms>', 'delay every request by MS milliseconds')
    .addOption(new Option('--latency-timer <how>', 'how the latency is waited: sleep (a timer, default) or awake (on time, keeping a core busy; for benchmarks)').choices(['sleep', 'awake']))
    .addOption(new Option('--latency-from <when>', 'what the latency measures: handling (a wait before each request is handled, default) or arrival (from arrival to answer, the handling inside; for benchmarks)').choices(['handling', 'arrival']))
    .option('--error-rate <share>', 'answer this share (0 to 1) of requests with 500')
    .option('--throttle <n>', 'answer the first N requests with 429 and Retry-After')
    .option('--retry-after <seconds>', 'the Retry-After of a 429 (default 1)')
    .option('--drop-after-commit <n>', 'commit the first N writes, then drop their connection without an answer')
    .option('--parts <file>', 'JSON file with the part master: [{"partnumber", "income_accno", "tax_accnos", "sellprice", "unit", "description"}]')
    .option('--accounts <file>', 'JSON file with accounts to add to the chart: [{"accno", "description", "category", "link"}]')
    .option('--quiet', 'do not log each request on stderr')
    .action(async (target: string, opts: { port?: string; mandant: string[]; key?: string; user?: string; password?: string; creditor?: string; tokenTtl?: string; webhook?: string; webhookSecret?: string; webhookHeader?: string; latency?: string; latencyTimer?: LatencyTimer; latencyFrom?: LatencyFrom; errorRate?: string; throttle?: string; retryAfter?: string; dropAfterCommit?: string; parts?: string; accounts?: string; quiet?: boolean }) => {
      if (target !== 'runmyaccounts' && target !== 'billecta') throw new UsageError(`sandbox: "${target}" is not an API kontor emulates (runmyaccounts, billecta)`);
      const count = (value: string | undefined, option: string, max = Number.MAX_SAFE_INTEGER): number | undefined => {
        if (value === undefined) return undefined;
        const n = Number(value);
        if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0 || n > max) throw new UsageError(`${option} "${value}" is not a whole number from 0 to ${max}`);
        return n;
      };
      const errorRate = opts.errorRate === undefined ? undefined : Number(opts.errorRate);
      if (errorRate !== undefined && (opts.errorRate!.trim() === '' || !(errorRate >= 0 && errorRate <= 1))) throw new UsageError(`--error-rate "${opts.errorRate}" is not a share from 0 to 1`);
      const jsonList = <T>(file: string | undefined, option: string): T[] | undefined => {
        if (file === undefined) return undefined;
        let data: unknown;
        try {
          data = JSON.parse(readFileSync(file, 'utf8'));
        } catch (error) {
          throw new UsageError(`cannot read ${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
        }
        if (!Array.isArray(data)) throw new UsageError(`${option} ${file}: expected a JSON array`);
        return data as T[];
      };
      const faults = {
        latencyMs: count(opts.latency, '--latency'),
        errorRate,
        throttle: count(opts.throttle, '--throttle'),
        retryAfterSeconds: count(opts.retryAfter, '--retry-after'),
        dropAfterCommit: count(opts.dropAfterCommit, '--drop-after-commit'),
      };
      const stopped = () =>
        new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
      if (target === 'billecta') {
        if (opts.mandant.length > 0 || opts.key !== undefined || opts.parts !== undefined || opts.accounts !== undefined) throw new UsageError('sandbox billecta: --mandant, --key, --parts and --accounts are options of runmyaccounts');
        if ((opts.webhook === undefined) !== (opts.webhookSecret === undefined)) throw new UsageError('sandbox billecta: --webhook and --webhook-secret go together');
        if (opts.webhookHeader !== undefined && opts.webhook === undefined) throw new UsageError('sandbox billecta: --webhook-header needs --webhook');
        const ttl = count(opts.tokenTtl, '--token-ttl');
        if (ttl === 0) throw new UsageError('--token-ttl "0" is not a positive number of seconds');
        let billecta: BillectaEmulator;
        try {
          const { startBillecta } = await import('./targets/billecta/emulator.js');
          billecta = await startBillecta({
            port: count(opts.port ?? '4851', '--port', 65535),
            user: opts.user,
            password: opts.password,
            creditors: opts.creditor === undefined ? undefined : [{ CreditorPublicId: opts.creditor }],
            tokenTtlMs: ttl === undefined ? undefined : ttl * 1000,
            webhook: opts.webhook === undefined ? undefined : { url: opts.webhook, secret: opts.webhookSecret!, header: opts.webhookHeader },
            faults: Object.fromEntries(Object.entries(faults).filter(([, v]) => v !== undefined)),
            latencyTimer: opts.latencyTimer,
            latencyFrom: opts.latencyFrom,
            log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
          });
        } catch (error) {
          if (error instanceof RangeError) throw new UsageError(`sandbox: ${error.message}`);
          throw error;
        }
        const active = Object.entries(billecta.faults).map(([k, v]) => `${k}=${v}`);
        print(`Billecta sandbox listening on ${billecta.url}`);
        print(`url:      ${billecta.url}`);
        print(`creditor: ${billecta.creditorPublicId}`);
        print(`user:     ${billecta.user}`);
        print(`password: ${billecta.password}  (Basic on every call, or POST /v1/authentication/apiauthenticate for a SecureToken)`);
        print(`webhook:  ${opts.webhook === undefined ? 'none' : `${opts.webhook} (secret in ${opts.webhookHeader ?? 'x-webhook-secret'})`}`);
        print(`faults:   ${active.length > 0 ? active.join(', ') : 'none'}  (change them: POST ${billecta.url}/_control/faults)`);
        print('Data is kept in memory only. Ctrl-C stops the sandbox.');
        await stopped();
        await billecta.close();
        print(`sandbox stopped after ${billecta.stats.requests} request(s)`);
        return;
      }
      if (opts.user !== undefined || opts.password !== undefined || opts.creditor !== undefined || opts.tokenTtl !== undefined || opts.webhook !== undefined || opts.webhookSecret !== undefined || opts.webhookHeader !== undefined) {
        throw new UsageError('sandbox runmyaccounts: --user, --password, --creditor, --token-ttl and --webhook* are options of billecta');
      }
      let emulator: RmaEmulator;
      try {
        const { startRunMyAccounts } = await import('./targets/runmyaccounts/emulator.js');
        emulator = await startRunMyAccounts({
          port: count(opts.port ?? '4850', '--port', 65535),
          mandants: opts.mandant.length > 0 ? opts.mandant : ['sandbox'],
          key: opts.key,
          parts: jsonList<RmaPartMaster>(opts.parts, '--parts'),
          accounts: jsonList<RmaChartAccount>(opts.accounts, '--accounts'),
          faults: Object.fromEntries(Object.entries(faults).filter(([, v]) => v !== undefined)),
          latencyTimer: opts.latencyTimer,
          latencyFrom: opts.latencyFrom,
          log: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
        });
      } catch (error) {
        if (error instanceof RangeError) throw new UsageError(`sandbox: ${error.message}`);
        throw error;
      }
      const active = Object.entries(emulator.faults).map(([k, v]) => `${k}=${v}`);
      print(`Run my Accounts sandbox listening on ${emulator.url}`);
      print(`url:     ${emulator.url}`);
      for (const m of emulator.mandants) print(`mandant: ${m}  (API ${emulator.apiBase(m)})`);
      print(`key:     ${emulator.key}  (send it as a Bearer token or as the api_key query parameter)`);
      print(`faults:  ${active.length > 0 ? active.join(', ') : 'none'}  (change them: POST ${emulator.url}/_control/faults)`);
      print('Books are kept in memory only. Ctrl-C stops the sandbox.');
      await stopped();
      await emulator.close();
      print(`sandbox stopped after ${emulator.stats.requests} request(s)`);
    });

  return program;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof KontorError) return error.exitCode;
  if (error instanceof OperatorError) return 1;
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    const code = exitCodeOf(error);
    if (error instanceof CommanderError) return code;
    const message = error instanceof ConfigError ? error.message : `kontor: ${errorMessage(error)}`;
    process.stderr.write(`${redactor.text(message)}\n`);
    return code;
  }
}

/**
 * A runmyaccounts target's chart of accounts, read with GET /charts (one retry, 30 s per
 * request), or why it could not be read: unreachable, the key refused, no key configured.
 */
async function onlineChart(target: ResolvedTarget): Promise<{ name: string; accounts: RmaChartRow[] } | { error: string }> {
  const name = `the Run my Accounts chart of target "${target.name}"`;
  let client: RunMyAccountsClient;
  try {
    client = await createRmaClient(target, { http: { retries: 1, readTimeoutMs: 30_000 } });
  } catch (error) {
    return { error: `target "${target.name}": cannot read its chart of accounts: ${errorMessage(error)}` };
  }
  try {
    return { name, accounts: await client.charts() };
  } catch (error) {
    return { error: `target "${target.name}": cannot read its chart of accounts (GET /charts): ${errorMessage(error)}` };
  } finally {
    await client.close();
  }
}

/** A chart of accounts file: Run my Accounts' GET /charts output as JSON, or a plain list. */
function readChart(file: string): { name: string; accounts: ChartAccount[] } {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read --chart ${file}: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`);
  }
  const list = Array.isArray(data) ? data : (data as { accounts?: unknown; chart?: unknown })?.accounts ?? (data as { chart?: unknown })?.chart;
  if (!Array.isArray(list) || !list.every((a) => a && typeof a === 'object' && ('accno' in a || '@accno' in a))) {
    throw new UsageError(`--chart ${file}: expected {"accounts": [{"accno": …, "link": …}, …]}`);
  }
  // RMA's JSON may carry XML attribute names (`@accno`): take either spelling.
  const field = (a: Record<string, unknown>, name: string) => a[name] ?? a[`@${name}`];
  return {
    name: displayPath(path.resolve(file)),
    accounts: (list as Record<string, unknown>[]).map((a) => {
      const link = field(a, 'link');
      const description = field(a, 'description');
      return { accno: String(field(a, 'accno')), link: typeof link === 'string' ? link : '', ...(typeof description === 'string' ? { description } : {}) };
    }),
  };
}
