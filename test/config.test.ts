import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { runCli, tempProject } from './helpers.js';

const MINIMAL = `sources:
  shop:
    type: file
    path: ./examples/orders
    mapping: woocommerce-ch.yaml
targets:
  books:
    type: journal
`;

const startDir = process.cwd();
afterAll(() => process.chdir(startDir));

/** A project folder made the working directory, as it is for a user running kontor there. */
function project(yaml: string): string {
  process.chdir(tempProject(yaml));
  return 'config.yaml';
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config.yaml', () => {
  it('loads the minimal config with defaults filled in', () => {
    const config = loadConfig(project(MINIMAL), {});
    expect(config.database).toMatchObject({ client: 'sqlite', busyTimeoutMs: 5000 });
    expect(config.database.client === 'sqlite' && config.database.file.endsWith(path.join('data', 'kontor.sqlite'))).toBe(true);
    expect(config.sources[0]).toMatchObject({ name: 'shop', targets: ['books'] });
    expect(config.sources[0]!.config.schedule).toBe('*/5 * * * *');
    expect(config.targets[0]).toMatchObject({ name: 'books', environment: 'test', baseUrl: null });
  });

  it('names line and column of an unknown key', () => {
    const yaml = MINIMAL.replace('    mapping: woocommerce-ch.yaml\n', '    mapping: woocommerce-ch.yaml\n    shedule: "* * * * *"\n');
    const error = configError(() => loadConfig(project(yaml), {}));
    expect(error.message).toBe('config.yaml:6:5: unknown key "shedule" in sources.shop');
  });

  it('names line and column of a wrong value', () => {
    const yaml = MINIMAL.replace('    type: journal', '    type: journal\n    environment: staging');
    const error = configError(() => loadConfig(project(yaml), {}));
    expect(error.issues[0]).toMatchObject({ file: 'config.yaml', line: 9, col: 18 });
    expect(error.message).toMatch(/^config\.yaml:9:18: targets\.books\.environment: .*production.*test/);
  });

  it('names the parent of a missing key', () => {
    const yaml = MINIMAL.replace('    mapping: woocommerce-ch.yaml\n', '');
    const error = configError(() => loadConfig(project(yaml), {}));
    expect(error.message).toBe('config.yaml:3:5: missing required key "mapping" in sources.shop');
  });

  it('reports YAML syntax errors with their position', () => {
    const error = configError(() => loadConfig(project('sources:\n  shop: [unclosed\n'), {}));
    expect(error.message).toMatch(/^config\.yaml:\d+:\d+: YAML: /);
  });

  it('rejects an invalid cron expression at its line', () => {
    const yaml = MINIMAL.replace('    mapping: woocommerce-ch.yaml\n', '    mapping: woocommerce-ch.yaml\n    schedule: "every five minutes"\n');
    expect(configError(() => loadConfig(project(yaml), {})).message).toMatch(/^config\.yaml:6:15: sources\.shop\.schedule: invalid cron expression/);
  });

  it('rejects plain http for a non-loopback base_url and accepts it for loopback', () => {
    const rma = (url: string) =>
      MINIMAL.replace('    type: journal', `    type: runmyaccounts\n    environment: test\n    mandant: demo\n    base_url: ${url}`);
    expect(configError(() => loadConfig(project(rma('http://rma.example.com')), {})).message).toMatch(/^config\.yaml:11:15: targets\.books\.base_url: base_url must use https/);
    expect(loadConfig(project(rma('http://127.0.0.1:8080')), {}).targets[0]!.baseUrl).toBe('http://127.0.0.1:8080');
  });

  it('picks the documented base URL per environment', () => {
    const yaml = (env: string) => MINIMAL.replace('    type: journal', `    type: billecta\n    environment: ${env}\n    creditor_public_id: c-1`);
    expect(loadConfig(project(yaml('production')), {}).targets[0]!.baseUrl).toBe('https://api.billecta.com');
    expect(loadConfig(project(yaml('test')), {}).targets[0]!.baseUrl).toBe('https://apitest.billecta.com');
  });

  it('names sources that point at an unknown target or a missing folder', () => {
    const yaml = MINIMAL.replace('    path: ./examples/orders', '    path: ./nowhere\n    targets: [ledger]');
    const error = configError(() => loadConfig(project(yaml), {}));
    expect(error.message).toContain('config.yaml:5:15: sources.shop.targets.0: unknown target "ledger" (configured: books)');
  });

  it('rejects an unknown time zone at its line', () => {
    const yaml = `service:\n  timezone: Europe/Zürich\n${MINIMAL}`;
    expect(configError(() => loadConfig(project(yaml), {})).message).toBe(
      'config.yaml:2:13: service.timezone: not a known IANA time zone (e.g. Europe/Zurich)',
    );
  });

  it('fills number keys from ${VAR}, and leaves digit-only text (accounts, keys) as text', () => {
    const yaml = `service:\n  shutdown_grace_seconds: \${GRACE}\n${MINIMAL}`.replace(
      'type: journal',
      'type: journal\n    transfer_account: ${ACCOUNT}\n    credentials:\n      test:\n        api_key: ${DIGIT_KEY}',
    );
    const config = loadConfig(project(yaml), { GRACE: '3', ACCOUNT: '1090', DIGIT_KEY: '4711081500' });
    expect(config.raw.service.shutdown_grace_seconds).toBe(3);
    expect(config.targets[0]!.config.transfer_account).toBe('1090');
    expect(config.targets[0]!.config.credentials.test).toEqual({ api_key: '4711081500' });
    const unquoted = MINIMAL.replace('type: journal', 'type: journal\n    transfer_account: 1091');
    expect(loadConfig(project(unquoted), {}).targets[0]!.config.transfer_account).toBe('1091');
    const bad = `service:\n  shutdown_grace_seconds: \${GRACE}\n${MINIMAL}`;
    expect(configError(() => loadConfig(project(bad), { GRACE: 'soon' })).message).toMatch(/^config\.yaml:2:27: service\.shutdown_grace_seconds: /);
  });

  it('does not take paths for secrets', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kontor-creds-'));
    writeFileSync(path.join(dir, 'rma.key'), 'the-real-secret-value\n');
    const yaml = MINIMAL.replace('    type: journal', '    type: journal\n    credentials:\n      test:\n        api_key_file: ${CREDENTIALS_DIRECTORY}/rma.key');
    const config = loadConfig(project(yaml), { CREDENTIALS_DIRECTORY: dir });
    expect([...config.secrets]).toEqual(['the-real-secret-value']);
  });

  it('substitutes ${ENV} and ${ENV:-default}', () => {
    const yaml = MINIMAL.replace('    path: ./examples/orders', '    path: ${ORDERS_DIR}').replace('type: journal', 'type: journal\n    transfer_account: "${TRANSFER:-1090}"');
    const config = loadConfig(project(yaml), { ORDERS_DIR: './examples/orders' });
    const first = config.sources[0]!.config;
    expect(first.type === 'file' && first.path).toBe('./examples/orders');
    expect(config.targets[0]!.config.transfer_account).toBe('1090');
  });

  it('names an unset environment variable at its line', () => {
    const yaml = MINIMAL.replace('    path: ./examples/orders', '    path: ${ORDERS_DIR}');
    expect(configError(() => loadConfig(project(yaml), {})).message).toBe(
      'config.yaml:4:11: environment variable ORDERS_DIR is not set (nor ORDERS_DIR_FILE)',
    );
  });

  it('reads secrets through NAME_FILE and key_file, and treats them as secrets', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kontor-secret-'));
    writeFileSync(path.join(dir, 'prod.key'), 'prod-key-from-file\n');
    writeFileSync(path.join(dir, 'test.key'), 'test-key-from-env-file\n');
    const yaml = MINIMAL.replace(
      '    type: journal',
      `    type: journal
    credentials:
      production:
        api_key_file: ${path.join(dir, 'prod.key')}
        expires: 2027-06-30
      test:
        api_key: \${RMA_TEST_KEY}
        expires: 2027-01-31`,
    );
    const config = loadConfig(project(yaml), { RMA_TEST_KEY_FILE: path.join(dir, 'test.key') });
    const creds = config.targets[0]!.config.credentials;
    expect(creds.production).toEqual({ api_key: 'prod-key-from-file', expires: '2027-06-30' });
    expect(creds.test).toEqual({ api_key: 'test-key-from-env-file', expires: '2027-01-31' });
    expect([...config.secrets]).toEqual(expect.arrayContaining(['prod-key-from-file', 'test-key-from-env-file']));
  });

  it('names a secret file that cannot be read', () => {
    const yaml = MINIMAL.replace('    type: journal', '    type: journal\n    credentials:\n      test:\n        api_key_file: /nonexistent/key');
    expect(configError(() => loadConfig(project(yaml), {})).message).toBe('config.yaml:11:23: api_key_file: cannot read /nonexistent/key (ENOENT)');
  });

  it('switches to PostgreSQL with a url and keeps its password secret', () => {
    const yaml = `database:\n  url: postgres://kontor:s3cret-pw@db.internal:5432/kontor\n${MINIMAL}`;
    const config = loadConfig(project(yaml), {});
    expect(config.database).toMatchObject({ client: 'postgres', url: 'postgres://kontor:s3cret-pw@db.internal:5432/kontor' });
    expect(config.secrets.has('s3cret-pw')).toBe(true);
  });

  it('exits 2 from the CLI with FILE:LINE:COL on a broken config.yaml', async () => {
    const dir = tempProject(MINIMAL.replace('    type: journal', '    type: jounral'));
    const result = await runCli(['check'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^config\.yaml:8:11: targets\.books\.type: type must be one of: journal, runmyaccounts, billecta$/);
    expect(result.stdout).toBe('');
  });
});
