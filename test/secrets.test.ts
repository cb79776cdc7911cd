/**
 * A secret sentinel goes in through every door kontor offers (env var, *_FILE, key_file,
 * database URL) and must come out through none: not in logs, CLI output, error messages or
 * any file kontor writes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Redactor, REDACTED } from '../src/log/redact.js';
import { createLogger } from '../src/log/logger.js';
import { allFileBytes, captureStream, runCli, tempProject } from './helpers.js';

const SENTINEL = 'sk_live_SENTINEL_7f3a9c21e4b8';
const FILE_SENTINEL = 'pf_key_FILE_SENTINEL_0b5d77aa';


describe('Redactor', () => {
  const r = new Redactor([SENTINEL]);

  it('removes secrets, their URL-encoded, JSON-escaped and base64 forms', () => {
    const text = `a ${SENTINEL} b ${encodeURIComponent(SENTINEL)} c ${Buffer.from(SENTINEL).toString('base64')}`;
    expect(r.text(text)).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED}`);
  });

  it('removes credentials from URLs and Authorization headers even when not configured', () => {
    const r0 = new Redactor([]);
    expect(r0.text('GET https://service.runmyaccounts.com/api/latest/clients/x/invoices?api_key=abc123&from=2026')).toBe(
      `GET https://service.runmyaccounts.com/api/latest/clients/x/invoices?api_key=${REDACTED}&from=2026`,
    );
    expect(r0.text('postgres://kontor:hunter22@db:5432/k')).toBe(`postgres://kontor:${REDACTED}@db:5432/k`);
    expect(r0.text('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y')).toBe(`Authorization: Bearer ${REDACTED}`);
  });

  it('redacts deeply inside objects and errors', () => {
    const value = r.value({ nested: [{ url: `https://x/?token=${SENTINEL}` }], error: new Error(`bad key ${SENTINEL}`) });
    expect(JSON.stringify(value)).not.toContain(SENTINEL);
  });

  it('keeps secrets out of winston output, in message and metadata, JSON and pretty', () => {
    for (const format of ['json', 'pretty'] as const) {
      const sink = captureStream();
      const logger = createLogger({ format, redactor: r, stream: sink.stream });
      logger.info(`calling with ${SENTINEL}`, { header: `Bearer ${SENTINEL}`, err: new Error(SENTINEL) });
      logger.child({ order: '1001' }).error(new Error(`failed: ${SENTINEL}`));
      expect(sink.text()).toContain(REDACTED);
      expect(sink.text()).not.toContain(SENTINEL);
    }
  });
});

describe('secret sentinel through the CLI', () => {
  function sentinelProject(extraSource = ''): { dir: string; env: Record<string, string> } {
    const secrets = mkdtempSync(path.join(tmpdir(), 'kontor-secrets-'));
    writeFileSync(path.join(secrets, 'production.key'), `${FILE_SENTINEL}\n`);
    const dir = tempProject(`log:
  level: debug
  format: json
sources:
  samples:
    type: file
    path: ./examples/orders
    mapping: woocommerce-ch.yaml
${extraSource}targets:
  journal:
    type: journal
    credentials:
      test:
        api_key: \${KONTOR_TEST_API_KEY}
        expires: 2099-01-01
      production:
        api_key_file: ${path.join(secrets, 'production.key')}
        expires: 2099-01-01
`);
    return { dir, env: { KONTOR_TEST_API_KEY: SENTINEL } };
  }

  const leaks = (text: string) => text.includes(SENTINEL) || text.includes(FILE_SENTINEL);

  it('never shows a secret in output or on disk across every command', async () => {
    const { dir, env } = sentinelProject();
    const commands = [
      ['migrate'],
      ['check'],
      ['check', '--json'],
      ['sync', '--once'],
      ['sync', '--once', '--json'],
      ['backfill', '--source', 'samples', '--from', '2026-01-01', '--to', '2026-12-31', '--dry-run'],
      ['status'],
      ['status', '--json'],
      ['outbox', 'list', '--json'],
      ['outbox', 'show', '1', '--json'],
      ['ledger', 'balance'],
      ['quarantine', 'list'],
      ['--help'],
    ];
    for (const args of commands) {
      const result = await runCli(args, { cwd: dir, env });
      expect(result.code, `kontor ${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(leaks(result.stdout + result.stderr), `kontor ${args.join(' ')} leaked a secret`).toBe(false);
    }
    const files = allFileBytes(dir);
    expect(files.some((f) => f.file.endsWith('kontor.sqlite'))).toBe(true);
    for (const { file, bytes } of files) {
      if (file.endsWith('config.yaml')) continue;
      expect(bytes.includes(SENTINEL) || bytes.includes(FILE_SENTINEL), `${file} holds a secret`).toBe(false);
    }
  });

  it('redacts a secret that ends up quoted in a config error', async () => {
    const { dir, env } = sentinelProject();
    const broken = { ...env, KONTOR_SCHEDULE_TOKEN: SENTINEL };
    const { writeFileSync: write, readFileSync: read } = await import('node:fs');
    const file = path.join(dir, 'config.yaml');
    write(file, read(file, 'utf8').replace('    mapping: woocommerce-ch.yaml', '    mapping: woocommerce-ch.yaml\n    schedule: "${KONTOR_SCHEDULE_TOKEN}"'));
    const result = await runCli(['check'], { cwd: dir, env: broken });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^config\.yaml:9:15: sources\.samples\.schedule: invalid cron expression "\[REDACTED\]"/);
    expect(leaks(result.stdout + result.stderr)).toBe(false);
  });
});
