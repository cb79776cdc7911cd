/**
 * The credential lifecycle (after PostFinance's Billing Solutions keys): one key per
 * environment, valid for a limited time (at most two years there), shown only once and
 * never reactivated. kontor cannot renew a key; it can only warn in time.
 */
import type { Config } from '../config/load.js';

export type CredentialLevel = 'ok' | 'warning' | 'expired';

export interface CredentialStatus {
  target: string;
  environment: string;
  /** Whether this is the environment the target uses now. */
  active: boolean;
  expires: string | null;
  daysLeft: number | null;
  level: CredentialLevel;
  message: string;
}

const DAY_MS = 86_400_000;

function utcDay(date: string | Date): number {
  const d = typeof date === 'string' ? new Date(`${date}T00:00:00Z`) : date;
  return Math.floor(d.getTime() / DAY_MS);
}

export function credentialReport(config: Config, today: Date = new Date()): CredentialStatus[] {
  const warnDays = config.raw.service.credential_warning_days;
  const report: CredentialStatus[] = [];
  for (const target of config.targets) {
    const { credentials, max_credential_validity_days: maxDays } = target.config;
    for (const [environment, set] of Object.entries(credentials)) {
      if (!set) continue;
      const active = environment === target.environment;
      const label = `target "${target.name}", ${environment} credentials`;
      if (!set.expires) {
        report.push({ target: target.name, environment, active, expires: null, daysLeft: null, level: 'warning', message: `${label}: no expires date; record the key's expiry so kontor can warn before it lapses` });
        continue;
      }
      // The key is valid through its expiry day and fails from the next day on.
      const daysLeft = utcDay(set.expires) - utcDay(today);
      let level: CredentialLevel = 'ok';
      let message = `${label} expire on ${set.expires} (${daysLeft} days left)`;
      if (daysLeft < 0) {
        level = 'expired';
        message = `${label} expired on ${set.expires}; create a new key (an expired or deleted key cannot be reactivated) and update config.yaml`;
      } else if (daysLeft <= warnDays) {
        level = 'warning';
        message = `${label} expire on ${set.expires}, in ${daysLeft} days; create the next key now, it is shown only once`;
      } else {
        const from = set.created ? utcDay(set.created) : utcDay(today);
        if (utcDay(set.expires) - from > maxDays) {
          level = 'warning';
          message = `${label}: expires ${set.expires} is more than ${maxDays} days after ${set.created ? `created ${set.created}` : 'today'}; such keys are valid at most two years, check the date`;
        }
      }
      report.push({ target: target.name, environment, active, expires: set.expires, daysLeft, level, message });
    }
  }
  return report;
}
