/**
 * Wiring: from a loaded config to open storage, source adapters with their mappings, and
 * target adapters. Everything that needs "the running kontor" takes a Runtime.
 */
import type { Knex } from 'knex';
import type { Config, ResolvedSource, ResolvedTarget } from '../config/load.js';
import { openDatabase } from '../db/connect.js';
import { migrateLatest } from '../db/migrate.js';
import { NotImplementedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { Redactor } from '../log/redact.js';
import { loadMapping, type Mapping } from '../mapping/load.js';
import { FileSource } from '../sources/file.js';
import type { SourceAdapter } from '../sources/types.js';
import { JournalTarget } from '../targets/journal.js';
import type { TargetAdapter } from '../targets/types.js';

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
}

export function createSource(source: ResolvedSource): SourceAdapter {
  switch (source.config.type) {
    case 'file':
      return new FileSource({ name: source.name, folder: source.path, label: source.config.path, format: source.config.format });
  }
}

/** Throws for target types this build accepts in config.yaml but cannot deliver to yet. */
export function assertDeliverable(target: ResolvedTarget): void {
  switch (target.config.type) {
    case 'journal':
      return;
    case 'runmyaccounts':
      throw new NotImplementedError(`target "${target.name}": delivery to Run my Accounts`, 'it arrives with issue #6');
    case 'billecta':
      throw new NotImplementedError(`target "${target.name}": delivery to Billecta`, 'it arrives with issue #7');
  }
}

export function createTarget(target: ResolvedTarget, db: Knex): TargetAdapter {
  assertDeliverable(target);
  return new JournalTarget(target.name, db, target.config.transfer_account);
}

/** Mappings of every source, loaded and checked (ConfigError on the first broken file). */
export function loadMappings(config: Config): Map<string, Mapping> {
  return new Map(config.sources.map((s) => [s.name, loadMapping(s.mappingPath)]));
}

export interface RuntimeOptions {
  migrate?: boolean;
  /** An already open database (tests use a PostgreSQL schema of their own). */
  db?: Knex;
}

export async function openRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const mappings = loadMappings(config);
  // Refuse targets this build cannot deliver to before anything is created on disk.
  config.targets.forEach(assertDeliverable);
  const db = options.db ?? openDatabase(config.database);
  try {
    if (options.migrate !== false) {
      const { applied } = await migrateLatest(db);
      if (applied.length > 0) logger.info(`database migrated: ${applied.join(', ')}`);
    }
    const targets = new Map(config.targets.map((t) => [t.name, createTarget(t, db)]));
    const sources = new Map(
      config.sources.map((s) => [s.name, { config: s, adapter: createSource(s), mapping: mappings.get(s.name)! }]),
    );
    return { config, db, logger, sources, targets, redactor: new Redactor(config.secrets) };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
