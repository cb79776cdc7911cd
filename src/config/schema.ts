/**
 * The shape of config.yaml. docs/configuration.md is the prose for this file;
 * keep the two in step.
 */
import path from 'node:path';
import { validateDetailed } from 'node-cron';
import { z } from 'zod';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

const isoDate = z
  .string()
  .regex(DATE, 'expected a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'not a real calendar date');

const cron = z.string().superRefine((expr, ctx) => {
  const result = validateDetailed(expr);
  if (!result.valid) {
    const detail = result.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    ctx.addIssue({ code: 'custom', message: `invalid cron expression "${expr}"${detail ? ` (${detail})` : ''}` });
  }
});

/**
 * A number that may also arrive as decimal text: `${GRACE}` substitutes text, and the schema,
 * not the substitution, knows which keys are numbers (an API key of digits stays text).
 */
export function numeric<T extends z.ZodType<number>>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v), schema);
}

/** An account number; YAML reads an unquoted 1090 as a number, which is fine here. */
export const accountNumber = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform(String)
  .pipe(z.string().regex(/^[0-9A-Za-z._-]{1,20}$/, 'an account number like "3200"'));

/** An IANA time zone that this Node.js knows (Europe/Zurich, Europe/Stockholm). */
export const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not a known IANA time zone (e.g. Europe/Zurich)');

const name = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'names use lower-case letters, digits, "-" and "_", starting with a letter');

export const ENVIRONMENTS = ['production', 'test'] as const;
export type EnvironmentName = (typeof ENVIRONMENTS)[number];

/**
 * One API key (or key set) for one environment. Any field other than the dates is a secret:
 * it is used for authentication, never logged, never stored.
 */
const credentialSet = z
  .object({
    expires: isoDate.optional(),
    created: isoDate.optional(),
  })
  .catchall(z.string().min(1, 'empty secret'));

const credentials = z.strictObject({
  production: credentialSet.optional(),
  test: credentialSet.optional(),
});

/** Documented API base URLs per target type and environment. */
export const BASE_URLS = {
  runmyaccounts: {
    production: 'https://service.runmyaccounts.com',
    // The integration host seen in RMA's maintained clients; see docs/targets/runmyaccounts.md.
    test: 'https://service.int.runmyaccounts.com',
  },
  billecta: {
    production: 'https://api.billecta.com',
    test: 'https://apitest.billecta.com',
  },
} as const;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const baseUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL` });
    return;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'base_url must use https (plain http is allowed only for loopback hosts)' });
  }
  if (url.username || url.password || url.search) {
    ctx.addIssue({ code: 'custom', message: 'base_url must not carry credentials or a query; use credentials:' });
  }
});

const targetCommon = {
  environment: z.enum(ENVIRONMENTS),
  base_url: baseUrl.optional(),
  credentials: credentials.default({}),
  /** Account that carries storno and transfer payments; its balance must return to zero. */
  transfer_account: accountNumber.default('1090'),
  /** PostFinance-style keys live at most two years; a longer `expires` earns a warning. */
  max_credential_validity_days: numeric(z.number().int().positive()).default(730),
  /** The most deliveries to this target one kontor process runs at once (entries of one order always one after another). */
  concurrency: numeric(z.number().int().min(1).max(16)).default(1),
};

const { base_url: _remoteOnly, ...journalCommon } = targetCommon;
const journalTarget = z.strictObject({
  type: z.literal('journal'),
  ...journalCommon,
  environment: z.enum(ENVIRONMENTS).default('test'),
});

const runMyAccountsTarget = z.strictObject({
  type: z.literal('runmyaccounts'),
  ...targetCommon,
  mandant: z.string().min(1),
  /** How the key is sent: `bearer` (Authorization header, what RMA's maintained clients use) or `query` (the documented `?api_key=`). */
  auth: z.enum(['bearer', 'query']).default('bearer'),
  /** Request and response bodies: `json` or `xml` (the documented examples). */
  format: z.enum(['json', 'xml']).default('json'),
  /** The API version path segment, `/api/{api_version}/clients/…`. */
  api_version: z.string().regex(/^[A-Za-z0-9._-]{1,20}$/, 'an API version like "latest" or "v1"').default('latest'),
  /** [inferred] Booking-variant entry lists: `wrapped` ("incomeentries": {"incomeentry": […]}) or `bare` ("incomeentries": […]). */
  entry_lists: z.enum(['wrapped', 'bare']).default('wrapped'),
  /** [inferred] Article variant: `omit` the part lines' income_accno/tax_accnos (the part master decides) or `send` them. */
  part_accounts: z.enum(['omit', 'send']).default('omit'),
  /** Article variant: the part (VAT-free, on the rounding account) that rounding lines are sent as; without it a document with a rounding line is refused. */
  rounding_part: z.string().min(1).max(64).optional(),
  /**
   * [inferred] The baseline of a payment's paid-delta check: `ledger` (the payments kontor delivered on the invoice; one POST per
   * payment) or `read` (GET /invoices/{n} before each POST; tells a payment booked by hand in RMA during a doubtful send apart).
   */
  payment_baseline: z.enum(['ledger', 'read']).default('ledger'),
  /** The most requests kontor sends to Run my Accounts per second (a token bucket with a burst of this many, rounded down). */
  requests_per_second: numeric(z.number().positive().max(200)).default(5),
});

const billectaTarget = z.strictObject({
  type: z.literal('billecta'),
  ...targetCommon,
  creditor_public_id: z.string().min(1),
  /**
   * How kontor authenticates with the `username` and `password` of the environment's credentials:
   * `token` (a SecureToken from /v1/authentication/apiauthenticate, cached until it expires) or
   * `basic` (Basic on every call).
   */
  auth: z.enum(['token', 'basic']).default('token'),
  /** Billecta's DeliveryMethod of invoices and credit invoices: attest sends them so. `Manually` sends nothing. */
  delivery_method: z.enum(['Email', 'Mail', 'Manually', 'SMS', 'EInvoice', 'Kivra', 'Avy']).default('Manually'),
  /** Clearing account → the creditor's PaymentMeanCode for payments booked from it (`1580: CARD`). */
  payment_means: z.record(z.string().regex(/^[0-9A-Za-z._-]{1,20}$/, 'an account number like "1580"'), z.string().min(1).max(50)).default({}),
  /** Failing calls (HTTP 400 and above except 404) allowed per 60 s before kontor pauses; Billecta delays callers after 50. */
  failing_calls_per_minute: numeric(z.number().int().min(1).max(50)).default(40),
  /** The most requests kontor sends to Billecta per second. */
  requests_per_second: numeric(z.number().positive().max(50)).default(5),
});

const target = z.discriminatedUnion('type', [journalTarget, runMyAccountsTarget, billectaTarget], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'type must be one of: journal, runmyaccounts, billecta' : undefined,
});

const fileSource = z.strictObject({
  type: z.literal('file'),
  /** Folder holding *.json / *.jsonl order files, or *.csv for format csv (relative to config.yaml). */
  path: z.string().min(1),
  /** The shop whose order JSON the files hold, or csv (docs/sources/csv.md). */
  format: z.enum(['woocommerce', 'shopify', 'shopware', 'csv']).default('woocommerce'),
  schedule: cron.default('*/5 * * * *'),
  /** A file in mappings/ (or a path relative to config.yaml). */
  mapping: z.string().min(1),
  /** Targets that receive this source's documents; defaults to the only target. */
  targets: z.array(name).min(1).optional(),
  /**
   * Move each file once all its orders are taken in: to done_folder, or to failed_folder with a
   * `<name>.reason.txt` when one of them went to the quarantine. Off: files stay, the cursor skips them.
   */
  move_processed: z.boolean().default(false),
  /** Relative to the source folder (`path`); never that folder itself. */
  done_folder: z.string().min(1).default('done'),
  failed_folder: z.string().min(1).default('failed'),
}).superRefine((src, ctx) => {
  // Resolved against a stand-in root: only whether they name the same folder matters here.
  const folder = path.resolve('/', src.path);
  for (const key of ['done_folder', 'failed_folder'] as const) {
    if (path.resolve(folder, src[key]) === folder) {
      ctx.addIssue({ code: 'custom', path: [key], message: `${key} must not be the source folder itself (the files there are read)` });
    }
  }
});

/**
 * How a shop API is pulled: the watermark (updated-at, id) goes back `overlap_minutes` on every
 * pull and stops `lag_seconds` short of now, so records written while a pull runs, or late in
 * the shop's clock, are read on a later pull; re-reads are recognised by their content hash.
 */
const pullCommon = {
  base_url: baseUrl,
  schedule: cron.default('*/5 * * * *'),
  mapping: z.string().min(1),
  targets: z.array(name).min(1).optional(),
  page_size: numeric(z.number().int().positive().max(250)).optional(),
  overlap_minutes: numeric(z.number().nonnegative().max(1440)).default(10),
  lag_seconds: numeric(z.number().int().nonnegative().max(3600)).default(60),
  /** Re-read everything updated in the last N days on `recheck_schedule`: edits that did not move the modification date. */
  recheck_days: numeric(z.number().int().nonnegative().max(365)).default(3),
  recheck_schedule: cron.default('17 3 * * *'),
  /** Requests per second to the shop (a token bucket with this many in a burst). */
  requests_per_second: numeric(z.number().positive().max(100)).default(4),
  /** First retry delay after a 429, 5xx or network failure; it doubles per attempt (full jitter). */
  retry_base_delay_ms: numeric(z.number().int().positive().max(60_000)).default(500),
  /** Where a pull starts without a stored cursor (YYYY-MM-DD, UTC); default: everything. */
  start_date: isoDate.optional(),
};

const secret = z.string().min(1, 'empty secret');

const wooCommerceSource = z.strictObject({
  type: z.literal('woocommerce'),
  ...pullCommon,
  consumer_key: secret,
  consumer_secret: secret,
  /** Also read refunds through /wc/v3/refunds (WooCommerce 9+); otherwise per order. */
  refunds_endpoint: z.boolean().default(false),
});

const shopifySource = z.strictObject({
  type: z.literal('shopify'),
  ...pullCommon,
  access_token: secret,
  api_version: z.string().regex(/^\d{4}-\d{2}$/, 'an API version like 2024-04').default('2024-04'),
  /** graphql (default) or rest (the legacy REST Admin API). */
  api: z.enum(['graphql', 'rest']).default('graphql'),
  /** shop (default) or presentment: which of Shopify's two money sets to book. */
  money: z.enum(['shop', 'presentment']).default('shop'),
});

const shopwareSource = z.strictObject({
  type: z.literal('shopware'),
  ...pullCommon,
  client_id: secret,
  client_secret: secret,
});

const source = z.discriminatedUnion('type', [fileSource, wooCommerceSource, shopifySource, shopwareSource], {
  error: (issue) => (issue.code === 'invalid_union' ? 'type must be one of: file, woocommerce, shopify, shopware' : undefined),
});

const database = z
  .strictObject({
    file: z.string().min(1).optional(),
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'url must start with postgres:// (or leave it out for SQLite)')
      .optional(),
    busy_timeout_ms: numeric(z.number().int().nonnegative()).default(5000),
    pool_max: numeric(z.number().int().positive()).default(10),
  })
  .refine((d) => !(d.file && d.url), { message: 'give either file (SQLite) or url (PostgreSQL), not both' });

const log = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  format: z.enum(['auto', 'json', 'pretty']).default('auto'),
});

const service = z.strictObject({
  timezone: timeZone.default('Europe/Zurich'),
  shutdown_grace_seconds: numeric(z.number().positive().max(300)).default(10),
  delivery_interval_seconds: numeric(z.number().positive()).default(2),
  credential_warning_days: numeric(z.number().int().nonnegative()).default(30),
  /** Attempts per outbox entry: a transient failure or an unknown outcome on the last one makes it dead. */
  delivery_max_attempts: numeric(z.number().int().min(1).max(100)).default(10),
  /** Hours an entry may keep failing (from its first failed attempt) before the next failure makes it dead. */
  delivery_max_age_hours: numeric(z.number().positive().max(8760)).default(24),
  /** How long a source lease lasts without renewal: a process that died holding one blocks the source this long. */
  source_lease_seconds: numeric(z.number().int().min(5).max(3600)).default(60),
});

/**
 * `host:port` the webhook server listens on; a bare port (or `:port`) means 127.0.0.1, and
 * IPv6 hosts are bracketed (`[::1]:8787`). Port 0 picks a free port (tests).
 */
export function parseListen(value: string): { host: string; port: number } | null {
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)?:)?(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

/** YAML reads an unquoted bare port (`listen: 9464`) as a number: taken as the port it is. */
const listenAt = (example: string) =>
  z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().refine((v) => parseListen(v) !== null, `expected host:port, e.g. "${example}"`));
const webhookListen = listenAt('127.0.0.1:8787');

/**
 * Webhooks that targets push to kontor (issue #7). Billecta signs nothing: it sends the
 * custom header set up in its portal, and kontor compares that header with `secret`.
 */
const webhooks = z.strictObject({
  /** Bound to loopback unless said otherwise: put a TLS reverse proxy in front. */
  listen: webhookListen.default('127.0.0.1:8787'),
  billecta: z.strictObject({
    path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, 'a URL path starting with "/"').default('/webhooks/billecta'),
    /** [inferred] The custom request header set in Billecta's portal (Settings → Addons → Webhooks). */
    header: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name')
      .transform((h) => h.toLowerCase())
      .default('x-webhook-secret'),
    secret: secret.min(16, 'use a webhook secret of at least 16 characters'),
    max_body_bytes: numeric(z.number().int().positive().max(10 * 1024 * 1024)).default(65536),
  }),
});

/**
 * The monitoring endpoint of `kontor run` (issue #9): /metrics, /healthz and /readyz without
 * authentication, and the status page behind `status_token`. Off without this block.
 */
const ops = z.strictObject({
  /** Loopback unless said otherwise; a bare port also means 127.0.0.1. */
  listen: listenAt('127.0.0.1:9464').default('127.0.0.1:9464'),
  /** Guards the status page (/status, /status.json); without it the page is off. A secret. */
  status_token: secret.min(16, 'use a status token of at least 16 characters').optional(),
  /** How often an open status page reloads its figures. */
  status_refresh_seconds: numeric(z.number().int().min(1).max(3600)).default(15),
});

export const configSchema = z
  .strictObject({
    database: database.default({ busy_timeout_ms: 5000, pool_max: 10 }),
    log: log.default({ level: 'info', format: 'auto' }),
    service: service.default({
      timezone: 'Europe/Zurich',
      shutdown_grace_seconds: 10,
      delivery_interval_seconds: 2,
      credential_warning_days: 30,
      delivery_max_attempts: 10,
      delivery_max_age_hours: 24,
      source_lease_seconds: 60,
    }),
    sources: z.record(name, source).refine((s) => Object.keys(s).length > 0, 'configure at least one source'),
    targets: z.record(name, target).refine((t) => Object.keys(t).length > 0, 'configure at least one target'),
    webhooks: webhooks.optional(),
    // An `ops:` line with nothing under it (YAML null) turns the endpoint on with every default.
    ops: z.preprocess((v) => (v === null ? {} : v), ops.optional()),
  })
  .superRefine((config, ctx) => {
    const targetNames = Object.keys(config.targets);
    for (const [sourceName, src] of Object.entries(config.sources)) {
      if (!src.targets && targetNames.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['sources', sourceName], message: `name its targets (there are ${targetNames.length}: ${targetNames.join(', ')})` });
      }
      src.targets?.forEach((t, i) => {
        if (!config.targets[t]) {
          ctx.addIssue({ code: 'custom', path: ['sources', sourceName, 'targets', i], message: `unknown target "${t}" (configured: ${targetNames.join(', ')})` });
        }
      });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;
export type SourceConfig = z.infer<typeof source>;
export type TargetConfig = z.infer<typeof target>;
export type CredentialSet = z.infer<typeof credentialSet>;
export type WebhooksConfig = z.infer<typeof webhooks>;
export type OpsConfig = z.infer<typeof ops>;
