/** The real `kontor` binary, driven as a subprocess, as operators use it. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempProject } from './helpers.js';

const COMMANDS = [
  [],
  ['run'],
  ['sync'],
  ['backfill'],
  ['check'],
  ['migrate'],
  ['db'],
  ['db', 'backup'],
  ['db', 'copy'],
  ['status'],
  ['reconcile'],
  ['outbox'],
  ['outbox', 'list'],
  ['outbox', 'show'],
  ['outbox', 'retry'],
  ['outbox', 'skip'],
  ['outbox', 'redrive'],
  ['ledger', 'balance'],
  ['ledger', 'account'],
  ['ledger', 'items'],
  ['preview'],
  ['schema'],
  ['quarantine', 'list'],
  ['quarantine', 'replay'],
  ['quarantine', 'dismiss'],
  ['receipt'],
  ['sandbox'],
];

describe('kontor CLI', () => {
  it('has --help on every command, naming --config', async () => {
    const dir = tempProject();
    for (const args of COMMANDS) {
      const result = await runCli([...args, '--help'], { cwd: dir });
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/^Usage: kontor/);
      if (args.length === 0) expect(result.stdout).toContain('--config <file>');
    }
  });

  it('exits 2 on usage errors', async () => {
    const dir = tempProject();
    expect((await runCli(['frobnicate'], { cwd: dir })).code).toBe(2);
    expect((await runCli(['backfill', '--source', 'samples'], { cwd: dir })).code).toBe(2);
    const bad = await runCli(['backfill', '--source', 'samples', '--from', 'yesterday-ish', '--to', '2026-12-01'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from "yesterday-ish" is not a date');
    const unknown = await runCli(['backfill', '--source', 'shop', '--from', '2026-01-01', '--to', '2026-12-01'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown source "shop" (configured: samples)');
    expect((await runCli(['outbox', 'list', '--state', 'lost'], { cwd: dir })).code).toBe(2);
  });

  it('check --online says what it cannot check: a journal has no chart, and Billecta refuses an api_key with exit 2', async () => {
    const dir = tempProject();
    // A journal has no chart online; Run my Accounts does (test/targets.runmyaccounts.service.test.ts).
    const online = await runCli(['check', '--online'], { cwd: dir });
    expect(online.code).toBe(0);
    expect(online.stdout).toContain('warning: target "journal": a journal has no chart of accounts to read; nothing checked online');

    writeFileSync(
      path.join(dir, 'config.yaml'),
      readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(
        'targets:\n  journal:\n    type: journal',
        'targets:\n  journal:\n    type: billecta\n    environment: test\n    creditor_public_id: demo\n    credentials:\n      test:\n        api_key: ${RMA_KEY}\n        expires: 2099-01-01',
      ),
    );
    // Billecta logs in with a username and password: check says so (the online check is test/targets.billecta.check.test.ts).
    const billectaOnline = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: 'k-123456789' } });
    expect(billectaOnline.code).toBe(2);
    expect(billectaOnline.stdout).toMatch(/^error: config\.yaml:\d+:\d+: target "journal": no username and password \(or password_file\) in its test credentials \(it has api_key\)$/m);
    expect(billectaOnline.stdout).not.toContain('not implemented');
    const run = await runCli(['sync', '--once'], { cwd: dir, env: { RMA_KEY: 'k-123456789' } });
    expect(run.code).toBe(2);
    // Billecta logs in with a username and password; an api_key alone is refused before any database exists.
    expect(run.stderr).toContain('target "journal": no username and password (or password_file) in its test credentials');
    expect(existsSync(path.join(dir, 'data')), 'refused before creating the database').toBe(false);
  });

  it('check passes on the default config and warns and fails on credential expiry', async () => {
    const dir = tempProject();
    const ok = await runCli(['check'], { cwd: dir });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('config.yaml: OK (1 source(s), 1 target(s), mappings valid)');

    const soon = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    const config = (expires: string) =>
      readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(
        / {4}type: journal[\s\S]*$/,
        `    type: journal\n    credentials:\n      test:\n        api_key: \${API_KEY}\n        expires: ${expires}\n`,
      );
    writeFileSync(path.join(dir, 'config.yaml'), config(soon));
    const warn = await runCli(['check'], { cwd: dir, env: { API_KEY: 'key-abcdef' } });
    expect(warn.code).toBe(0);
    expect(warn.stdout).toMatch(new RegExp(`warning: target "journal", test credentials expire on ${soon}, in 10 days; create the next key now`));

    writeFileSync(path.join(dir, 'config.yaml'), config('2020-01-31'));
    const expired = await runCli(['check'], { cwd: dir, env: { API_KEY: 'key-abcdef' } });
    expect(expired.code).toBe(2);
    expect(expired.stdout).toContain('error: target "journal", test credentials expired on 2020-01-31; create a new key');
  });

  it('check names the line of a broken mapping and exits 2', async () => {
    const dir = tempProject();
    const file = path.join(dir, 'mappings', 'woocommerce-ch.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  invoice: "{number}"', '  invoice: "{order_number}"'));
    const result = await runCli(['check'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^mappings\/woocommerce-ch\.yaml:23:12: numbering\.invoice: placeholder \{order_number\} is not available here/);
  });

  it('migrate, sync, status, ledger, outbox and quarantine work together', async () => {
    const dir = tempProject();
    expect((await runCli(['migrate'], { cwd: dir })).stdout.trim()).toBe('applied: 0001_initial.js, 0002_books.js, 0003_webhook_events.js, 0004_target_failures.js, 0005_call_slots.js, 0006_leases_and_job_runs.js, 0007_outbox_document_index.js, 0008_job_runs_last_ok.js, 0009_claimable_entries_index.js, 0010_longer_chains_first.js');
    expect((await runCli(['migrate'], { cwd: dir })).stdout.trim()).toBe('database schema is up to date');

    writeFileSync(path.join(dir, 'examples', 'orders', 'broken.jsonl'), '{"id": 77, "currency": "CHF"}\n');
    const sync = await runCli(['sync', '--once', '--json'], { cwd: dir });
    expect(sync.code).toBe(1);
    const summary = JSON.parse(sync.stdout) as { sources: { booked: number; quarantined: number }[]; delivery: { delivered: number }; targets: { imbalance: Record<string, number> }[] };
    expect(summary.sources[0]).toMatchObject({ booked: 5, quarantined: 1 });
    expect(summary.delivery.delivered).toBe(13);
    expect(summary.targets[0]!.imbalance).toEqual({ CHF: 0 });

    const status = JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout) as {
      cursors: { source: string }[];
      backlog: { state: string; count: number }[];
      quarantine: { record: string; field: string | null; reason: string }[];
      transfer: { account: string }[];
    };
    expect(status.cursors.map((c) => c.source)).toEqual(['samples']);
    expect(status.backlog).toEqual([{ target: 'journal', state: 'delivered', count: 13 }]);
    expect(status.quarantine).toEqual([expect.objectContaining({ record: '77', field: 'line_items', reason: 'expected a list' })]);
    expect(status.transfer[0]!.account).toBe('1090');

    const ledger = await runCli(['ledger', 'balance'], { cwd: dir });
    expect(ledger.stdout).toContain('balanced: Σ CHF 0.00');
    expect(ledger.stdout).toMatch(/1100\s+CHF\s+830\.04\s+512\.18\s+317\.86/);
    expect(ledger.stdout).toContain('transfer account 1090: 0 (no postings)');

    const statement = await runCli(['ledger', 'account', '1092'], { cwd: dir });
    expect(statement.stdout).toMatch(/2026-10-12\s+1001\/payment\s+CHF\s+146\.77\s+146\.77\s+payment 1001/);
    expect(statement.stdout).toMatch(/2026-11-09\s+1004\/payment\s+CHF\s+137\.24\s+284\.01/);
    const items = JSON.parse((await runCli(['ledger', 'items', '--status', 'open', '--json'], { cwd: dir })).stdout) as { items: { number: string; open: number }[] }[];
    expect(items[0]!.items).toEqual([expect.objectContaining({ number: '1003', open: 31786, status: 'open' })]);
    expect((await runCli(['ledger', 'items', '--status', 'bogus'], { cwd: dir })).code).toBe(2);

    const list = await runCli(['outbox', 'list', '--state', 'delivered'], { cwd: dir });
    expect(list.stdout.trim().split('\n')).toHaveLength(13);
    const show = await runCli(['outbox', 'show', '2'], { cwd: dir });
    expect(show.stdout).toContain('state delivered');
    expect(show.stdout).toMatch(/transitions:\n.*- → pending {2}enqueued\n.*- → leased {2}claimed by kontor-/);
    expect((await runCli(['outbox', 'retry', '2'], { cwd: dir })).stderr).toContain('only dead, retry or in_doubt entries can be retried');
    expect((await runCli(['outbox', 'skip', '2', '--reason', 'x'], { cwd: dir })).stderr).toContain('entry 2 is already delivered');
    expect((await runCli(['outbox', 'redrive'], { cwd: dir })).stdout.trim()).toBe('no dead entries');

    writeFileSync(path.join(dir, 'examples', 'orders', 'broken.jsonl'), '');
    const replay = await runCli(['quarantine', 'replay', '--all'], { cwd: dir });
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('replayed 1, 1 still quarantined');

    const dismiss = await runCli(['quarantine', 'dismiss', '1', '--reason', 'test order from the shop owner'], { cwd: dir });
    expect(dismiss.stdout.trim()).toBe('quarantine entry #1 dismissed: test order from the shop owner');
    expect((await runCli(['quarantine', 'list'], { cwd: dir })).stdout.trim()).toBe('quarantine is empty');
    // A dismissal holds when the same content is read again (a backfill re-reads everything).
    writeFileSync(path.join(dir, 'examples', 'orders', 'broken.jsonl'), '{"id": 77, "currency": "CHF"}\n');
    await runCli(['sync', '--once'], { cwd: dir });
    const dismissedAgain = await runCli(['backfill', '--source', 'samples', '--from', '2000-01-01', '--to', '2100-01-01'], { cwd: dir });
    expect(dismissedAgain.code).toBe(0);
    expect((await runCli(['quarantine', 'list'], { cwd: dir })).stdout.trim()).toBe('quarantine is empty');
    expect((await runCli(['quarantine', 'dismiss', '1', '--reason', 'again'], { cwd: dir })).code).toBe(2);
  });

  it('backfill --dry-run prints documents and writes nothing', async () => {
    const dir = tempProject();
    const result = await runCli(['backfill', '--source', 'samples', '--from', '2026-10-24', '--to', '2026-10-26', '--dry-run'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('invoice 1002 dated 2026-10-24');
    expect(result.stdout).toMatch(/dry run: 2 orders in range, 2 would be booked, 0 skipped, 0 would be quarantined; nothing was written/);
    expect(existsSync(path.join(dir, 'data'))).toBe(false);
  });

  it('backfill books a date range without moving the cursor', async () => {
    const dir = tempProject();
    const result = await runCli(['backfill', '--source', 'samples', '--from', '2026-11-01', '--to', '2026-11-30', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { sources: { read: number; booked: number }[] };
    expect(out.sources[0]).toMatchObject({ read: 2, booked: 2 });
    const status = JSON.parse((await runCli(['status', '--json'], { cwd: dir })).stdout) as { cursors: unknown[] };
    expect(status.cursors).toEqual([]);
  });
});
