/**
 * Load config.yaml: parse with positions, substitute environment and secret files,
 * validate with the schema, resolve paths. Every problem is a ConfigError naming
 * `config.yaml:LINE:COL`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { BASE_URLS, configSchema, type EnvironmentName, type RawConfig, type SourceConfig, type TargetConfig } from './schema.js';
import { Redactor } from '../log/redact.js';
import { substitute } from './substitute.js';
import { issuesFromZod, positionOf, readYaml, type YamlSource } from './yaml.js';

export interface ResolvedSource {
  name: string;
  config: SourceConfig;
  /** Absolute path of the source folder (file sources), or the shop's base URL. */
  path: string;
  /** Absolute path of the mapping file. */
  mappingPath: string;
  targets: string[];
}

export interface ResolvedTarget {
  name: string;
  config: TargetConfig;
  environment: EnvironmentName;
  /** The API base URL in use, or null for the local journal. */
  baseUrl: string | null;
}

export type DatabaseSettings =
  | { client: 'sqlite'; file: string; busyTimeoutMs: number }
  | { client: 'postgres'; url: string; busyTimeoutMs: number; poolMax: number };

export interface Config {
  /** Absolute path of the config file and its display form. */
  path: string;
  file: string;
  dir: string;
  raw: RawConfig;
  database: DatabaseSettings;
  sources: ResolvedSource[];
  targets: ResolvedTarget[];
  /** Every secret value the config holds, for redaction. Never print this. */
  secrets: ReadonlySet<string>;
  /** Where a key path sits in config.yaml, for messages found after loading. */
  positionOf(keyPath: readonly PropertyKey[]): { file: string; line: number; col: number };
}

export const DEFAULT_CONFIG_PATH = 'config.yaml';
export const DEFAULT_SQLITE_FILE = './data/kontor.sqlite';

export function loadConfig(configPath: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): Config {
  const absolutePath = path.resolve(configPath);
  const source = readYaml(absolutePath);
  const { secrets } = substitute(source, env);
  const data: unknown = source.doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw ConfigError.at({ file: source.file, line: 1, col: 1 }, 'expected a mapping of settings (database, sources, targets, …)');
  }
  const parsed = configSchema.safeParse(data);
  // Validation messages may quote values; a secret placed in the wrong key must not leak.
  const redactor = new Redactor(secrets);
  const redacted = (issues: ConfigIssue[]) => new ConfigError(issues.map((i) => ({ ...i, message: redactor.text(i.message) })));
  if (!parsed.success) throw redacted(issuesFromZod(source, data, parsed.error));
  const raw = parsed.data;
  const dir = path.dirname(absolutePath);
  const issues: ConfigIssue[] = [];

  const database = resolveDatabase(raw, dir, secrets);
  // A shop's keys are secrets however they got into the file (an env variable, a *_FILE, or typed in).
  for (const src of Object.values(raw.sources)) {
    for (const key of ['consumer_key', 'consumer_secret', 'access_token', 'client_id', 'client_secret'] as const) {
      const value = (src as Partial<Record<typeof key, string>>)[key];
      if (value) secrets.add(value);
    }
  }
  if (raw.webhooks?.billecta) secrets.add(raw.webhooks.billecta.secret);
  if (raw.ops?.status_token) secrets.add(raw.ops.status_token);
  // Credentials of targets, however given, are secrets too (dates aside).
  for (const t of Object.values(raw.targets)) {
    for (const set of Object.values(t.credentials)) {
      for (const [k, v] of Object.entries(set ?? {})) if (k !== 'expires' && k !== 'created' && typeof v === 'string') secrets.add(v);
    }
  }
  const sources = Object.entries(raw.sources).map(([name, src]) =>
    resolveSource(name, src, raw, dir, source, issues),
  );
  const targets = Object.entries(raw.targets).map(([name, t]) => resolveTarget(name, t));
  if (issues.length > 0) throw redacted(issues);

  return {
    path: absolutePath,
    file: source.file,
    dir,
    raw,
    database,
    sources,
    targets,
    secrets,
    positionOf: (keyPath) => positionOf(source, keyPath),
  };
}

function resolveDatabase(raw: RawConfig, dir: string, secrets: Set<string>): DatabaseSettings {
  const db = raw.database;
  if (db.url) {
    const url = new URL(db.url);
    if (url.password) {
      secrets.add(url.password);
      secrets.add(decodeURIComponent(url.password));
    }
    return { client: 'postgres', url: db.url, busyTimeoutMs: db.busy_timeout_ms, poolMax: db.pool_max };
  }
  return { client: 'sqlite', file: path.resolve(dir, db.file ?? DEFAULT_SQLITE_FILE), busyTimeoutMs: db.busy_timeout_ms };
}

function resolveSource(
  name: string,
  src: SourceConfig,
  raw: RawConfig,
  dir: string,
  yaml: YamlSource,
  issues: ConfigIssue[],
): ResolvedSource {
  const sourcePath = src.type === 'file' ? path.resolve(dir, src.path) : src.base_url.replace(/\/+$/, '');
  if (src.type === 'file' && !existsSync(sourcePath)) {
    issues.push({ ...positionOf(yaml, ['sources', name, 'path']), message: `folder ${src.path} does not exist` });
  }
  const mappingPath = src.mapping.includes('/') ? path.resolve(dir, src.mapping) : path.resolve(dir, 'mappings', src.mapping);
  if (!existsSync(mappingPath)) {
    issues.push({ ...positionOf(yaml, ['sources', name, 'mapping']), message: `mapping file ${path.relative(dir, mappingPath)} does not exist` });
  }
  return { name, config: src, path: sourcePath, mappingPath, targets: src.targets ?? Object.keys(raw.targets) };
}

function resolveTarget(name: string, t: TargetConfig): ResolvedTarget {
  const baseUrl = t.type === 'journal' ? null : (t.base_url ?? BASE_URLS[t.type][t.environment]);
  return { name, config: t, environment: t.environment, baseUrl: baseUrl ? baseUrl.replace(/\/+$/, '') : null };
}
