/** The summary printed after a sync: what was read, booked, quarantined, and the books' balance. */
import { currencyExponent, formatDecimal, type Minor } from '../books/index.js';
import { backlog, type BacklogRow } from '../outbox/queries.js';
import { listQuarantine } from '../store/quarantine.js';
import { errorMessage } from '../errors.js';
import { trialBalance, type TrialBalanceRow } from '../targets/journal.js';
import type { TargetAdapter } from '../targets/types.js';
import type { DeliveryStats } from './deliver.js';
import type { IntakeStats } from './intake.js';
import type { Runtime } from './runtime.js';

export interface TargetSummary {
  name: string;
  type: string;
  environment: string;
  trialBalance: TrialBalanceRow[] | null;
  /** Σ of all postings per currency; zero when the books balance. */
  imbalance: Record<string, Minor> | null;
  transferAccount: string;
  /** As the target sees it; null when it could not be read (see transferError). */
  transferBalance: Record<string, Minor> | null;
  /** Why the balance could not be read (the target unreachable, its key refused); null when it was. */
  transferError: string | null;
}

/**
 * The transfer account's balance as `adapter` sees it, or why it could not be read: a target
 * that cannot be reached is shown, not thrown, so a summary or `kontor status` still appears.
 */
export async function readTransferBalance(rt: Runtime, adapter: TargetAdapter): Promise<{ balance: Record<string, Minor> | null; error: string | null }> {
  try {
    return { balance: await adapter.transferBalance(), error: null };
  } catch (error) {
    return { balance: null, error: rt.redactor.text(errorMessage(error)) };
  }
}

export interface Summary {
  sources: IntakeStats[];
  delivery: DeliveryStats;
  backlog: BacklogRow[];
  openQuarantine: number;
  targets: TargetSummary[];
}

export async function collectSummary(rt: Runtime, sources: IntakeStats[], delivery: DeliveryStats): Promise<Summary> {
  const targets: TargetSummary[] = [];
  for (const t of rt.config.targets) {
    const adapter = rt.targets.get(t.name)!;
    const tb = t.config.type === 'journal' ? await trialBalance(rt.db, t.name) : null;
    const imbalance: Record<string, Minor> | null = tb ? {} : null;
    if (tb && imbalance) for (const row of tb) imbalance[row.currency] = ((imbalance[row.currency] ?? 0) + row.balance) as Minor;
    const transfer = await readTransferBalance(rt, adapter);
    targets.push({
      name: t.name,
      type: t.config.type,
      environment: t.environment,
      trialBalance: tb,
      imbalance,
      transferAccount: t.config.transfer_account,
      transferBalance: transfer.balance,
      transferError: transfer.error,
    });
  }
  return {
    sources,
    delivery,
    backlog: await backlog(rt.db),
    openQuarantine: (await listQuarantine(rt.db)).length,
    targets,
  };
}

export function money(amount: Minor, currency: string): string {
  return `${currency} ${formatDecimal(amount, currencyExponent(currency))}`;
}

export function formatBalances(balances: Record<string, Minor>): string {
  const entries = Object.entries(balances);
  return entries.length === 0 ? '0 (no postings)' : entries.map(([c, a]) => money(a, c)).join(', ');
}

/** A transfer balance, or why it is not known. */
export function formatTransfer(balance: Record<string, Minor> | null, error: string | null): string {
  return balance ? formatBalances(balance) : `not known: ${error ?? 'not read'}`;
}

export function formatSummary(s: Summary): string {
  const out: string[] = [];
  for (const src of s.sources) {
    out.push(
      `source ${src.source}: ${src.read} orders read, ${src.booked} booked (${src.documents} new documents), ${src.unchanged} unchanged, ${src.skipped} skipped, ${src.quarantined} quarantined`,
    );
  }
  const d = s.delivery;
  out.push(`delivery: ${d.delivered} documents booked, ${d.retrying} retrying, ${d.inDoubt} in doubt, ${d.dead} dead`);
  for (const [target, reason] of Object.entries(d.stopped ?? {})) out.push(`delivery to ${target} STOPPED (its entries wait): ${reason}`);
  const waiting = s.backlog.filter((b) => b.state !== 'delivered' && b.state !== 'skipped');
  if (waiting.length > 0) out.push(`outbox: ${waiting.map((b) => `${b.count} ${b.state} (${b.target})`).join(', ')}`);
  if (s.openQuarantine > 0) out.push(`quarantine: ${s.openQuarantine} records wait for a fix (kontor quarantine list)`);
  for (const t of s.targets) {
    out.push(`target ${t.name} (${t.type}, ${t.environment}):`);
    if (t.trialBalance) {
      out.push('  trial balance');
      out.push(`  ${'account'.padEnd(10)}${'currency'.padEnd(10)}${'debit'.padStart(14)}${'credit'.padStart(14)}${'balance'.padStart(14)}`);
      for (const row of t.trialBalance) {
        const e = currencyExponent(row.currency);
        out.push(
          `  ${row.account.padEnd(10)}${row.currency.padEnd(10)}${formatDecimal(row.debit, e).padStart(14)}${formatDecimal(row.credit, e).padStart(14)}${formatDecimal(row.balance, e).padStart(14)}`,
        );
      }
      const imbalance = Object.entries(t.imbalance ?? {}).filter(([, a]) => a !== 0);
      out.push(imbalance.length === 0 ? '  total: balanced (debits = credits)' : `  total: NOT BALANCED by ${imbalance.map(([c, a]) => money(a, c)).join(', ')}`);
    }
    out.push(`  transfer account ${t.transferAccount}: ${formatTransfer(t.transferBalance, t.transferError)}`);
  }
  return out.join('\n');
}
