/**
 * The shape of config.yaml. docs/configuration.md is the prose for this file;
 * keep the two in step.
 */
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
});

const billectaTarget = z.strictObject({
  type: z.literal('billecta'),
  ...targetCommon,
  creditor_public_id: z.string().min(1),
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
});

const source = z.discriminatedUnion('type', [fileSource], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? 'type must be "file" (the woocommerce, shopify and shopware sources arrive with issue #5)'
      : undefined,
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
    }),
    sources: z.record(name, source).refine((s) => Object.keys(s).length > 0, 'configure at least one source'),
    targets: z.record(name, target).refine((t) => Object.keys(t).length > 0, 'configure at least one target'),
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
