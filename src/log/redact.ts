/**
 * Redaction of secrets from anything that leaves the process as text: log lines,
 * error messages, CLI output.
 */
export const REDACTED = '[REDACTED]';

/** Query parameters that carry credentials on the APIs kontor talks to. */
const SECRET_PARAMS = /([?&](?:api_key|apikey|access_token|token|secret|password|consumer_key|consumer_secret)=)[^&#\s"']*/gi;
/** user:password@ in URLs. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]+:)[^@/?#\s]+@/gi;
/** Authorization headers rendered into text. */
const AUTH_HEADER = /(\b(?:Bearer|Basic|SecureToken)\s+)[A-Za-z0-9._~+/=-]{6,}/g;

export class Redactor {
  private readonly needles: string[];

  constructor(secrets: Iterable<string>) {
    const variants = new Set<string>();
    for (const s of secrets) {
      // Short values would redact ordinary words; secrets are long by nature.
      if (s.length < 4) continue;
      variants.add(s);
      variants.add(encodeURIComponent(s));
      variants.add(JSON.stringify(s).slice(1, -1));
      variants.add(Buffer.from(s).toString('base64'));
    }
    // Longest first, so that a secret containing another is removed whole.
    this.needles = [...variants].sort((a, b) => b.length - a.length);
  }

  text(input: string): string {
    let out = input;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    }
    return out.replace(SECRET_PARAMS, `$1${REDACTED}`).replace(URL_PASSWORD, `$1${REDACTED}@`).replace(AUTH_HEADER, `$1${REDACTED}`);
  }

  /** A deep copy of `value` with every string redacted; Errors become plain objects. */
  value(value: unknown, seen = new WeakSet<object>()): unknown {
    if (typeof value === 'string') return this.text(value);
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    if (value instanceof Error) {
      return { name: value.name, message: this.text(value.message), ...(value.stack ? { stack: this.text(value.stack) } : {}) };
    }
    if (Array.isArray(value)) return value.map((v) => this.value(v, seen));
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.value(v, seen);
    return out;
  }
}
