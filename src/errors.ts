/**
 * kontor's error hierarchy, by what to do next (after the Singer SDK's design):
 *
 * - ConfigError / UsageError: a person must fix config.yaml, a mapping or the command line. Exit 2.
 * - RecordError: one source record cannot become documents. Quarantine it, keep the rest flowing,
 *   replay it after a fix.
 * - RetriableError: a transient failure (network, 5xx, 429). Retry later with backoff.
 * - PermanentError: the target refused the document for good. Dead-letter it for an operator.
 * - CredentialError: the target refused kontor's key. No document is at fault: stop delivering to
 *   that target, keep its entries, alert once; a person renews the key (docs/credentials.md).
 */

export abstract class KontorError extends Error {
  abstract readonly exitCode: 1 | 2;
}

export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

export interface ConfigIssue extends Partial<SourcePosition> {
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  if (!issue.file) return issue.message;
  if (issue.line === undefined) return `${issue.file}: ${issue.message}`;
  return `${issue.file}:${issue.line}:${issue.col ?? 1}: ${issue.message}`;
}

export class ConfigError extends KontorError {
  override name = 'ConfigError';
  readonly exitCode = 2;
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
  static at(position: Partial<SourcePosition>, message: string): ConfigError {
    return new ConfigError([{ ...position, message }]);
  }
}

export class UsageError extends KontorError {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/** One record cannot be turned into documents; it is quarantined with this reason. */
export class RecordError extends KontorError {
  override name = 'RecordError';
  readonly exitCode = 1;
  constructor(
    /** What is wrong, without the field. */
    readonly reason: string,
    /** Path of the offending field inside the record, e.g. `line_items[2].total`. */
    readonly field?: string,
  ) {
    super(field ? `${field}: ${reason}` : reason);
  }
}

export class RetriableError extends KontorError {
  override name = 'RetriableError';
  readonly exitCode = 1;
}

export class PermanentError extends KontorError {
  override name = 'PermanentError';
  readonly exitCode = 1;
}

/**
 * The target refused kontor's credentials (an HTTP 401/403, a revoked or expired key): nothing
 * sent to it can succeed until a person renews the key (docs/credentials.md) and restarts
 * kontor, which reads its configuration only at start. deliver.ts puts the entry back without
 * using up an attempt, logs one alert and delivers nothing more to that target in this process;
 * other targets go on. A RetriableError, so that code unaware of it keeps the entry instead of
 * dead-lettering every entry of the target. Targets throw a subclass (RmaCredentialError).
 */
export class CredentialError extends RetriableError {
  override name = 'CredentialError';
  /** Marks an error that stops its target rather than failing one document. */
  readonly stopsTarget = true;
}

/** Whether `error` stops the whole target (a CredentialError, or any error marked `stopsTarget`). */
export function stopsTarget(error: unknown): boolean {
  return error instanceof CredentialError || (error instanceof Error && (error as { stopsTarget?: unknown }).stopsTarget === true);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
