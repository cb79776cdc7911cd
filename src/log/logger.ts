/**
 * winston, set up for a daemon: JSON lines when stderr is not a terminal (journald, files),
 * readable lines on a terminal, and every configured secret redacted before formatting.
 * Logs go to stderr so that stdout carries only command results (and `--json` stays clean).
 */
import type { Writable } from 'node:stream';
import winston from 'winston';
import { Redactor } from './redact.js';

export type Logger = winston.Logger;
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'auto' | 'json' | 'pretty';
  redactor?: Redactor;
  stream?: Writable & { isTTY?: boolean };
}

const SPLAT = Symbol.for('splat');

function redactFormat(redactor: Redactor) {
  return winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key === 'level') continue;
      info[key] = redactor.value(info[key]);
    }
    const splat = (info as Record<symbol, unknown>)[SPLAT];
    if (Array.isArray(splat)) (info as Record<symbol, unknown>)[SPLAT] = redactor.value(splat);
    return info;
  })();
}

const SCOPE_KEYS = ['source', 'target', 'order', 'document', 'outbox'] as const;

const pretty = winston.format.printf((info) => {
  const { level, message, timestamp, ...rest } = info as Record<string, unknown>;
  const scope = SCOPE_KEYS.filter((k) => rest[k] !== undefined).map((k) => `${k}=${String(rest[k])}`);
  for (const k of SCOPE_KEYS) delete rest[k];
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  const time = typeof timestamp === 'string' ? timestamp.slice(11, 19) : '';
  return `${time} ${String(level)} ${scope.length ? `[${scope.join(' ')}] ` : ''}${String(message)}${extra}`;
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const mode = options.format === 'auto' || !options.format ? (stream.isTTY ? 'pretty' : 'json') : options.format;
  const redactor = options.redactor ?? new Redactor([]);
  // winston formats a line before its transport drops it for its level: drop it first, so that
  // a debug line costs nothing at level info (delivery logs one per document).
  const enabled = winston.format((info) => (logger.isLevelEnabled(String(info.level)) ? info : false))();
  const logger: Logger = winston.createLogger({
    level: options.level ?? 'info',
    format: winston.format.combine(
      enabled,
      winston.format.errors({ stack: false }),
      redactFormat(redactor),
      winston.format.timestamp(),
      mode === 'json' ? winston.format.json() : winston.format.combine(winston.format.colorize(), pretty),
    ),
    transports: [new winston.transports.Stream({ stream })],
  });
  dropBelowLevelFirst(logger);
  return logger;
}

/**
 * Make `logger.debug(…)` (and every level's method) return at once when its level is off.
 * winston pushes every line through its stream (write, transform, the formats) before the
 * first format drops it: 20–30 µs a line, and intake and delivery log a debug line per order
 * and per document. The check runs on the logger a call is made on, so child loggers and a
 * level changed later behave as before; the format above still drops `logger.log(level, …)`.
 */
function dropBelowLevelFirst(logger: Logger): void {
  const methods = logger as unknown as Record<string, (this: Logger, ...args: unknown[]) => Logger>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: Logger | undefined, ...args: unknown[]): Logger {
      // Called detached (`const warn = logger.warn`), as winston's own methods allow.
      const self = this ?? logger;
      return self.isLevelEnabled(level) ? write.apply(self, args) : self;
    };
  }
}

/** A logger that drops everything; for library use and tests that do not look at logs. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
