/**
 * `kontor check --online` for a Billecta target, through the built CLI (`node dist/cli.js`)
 * against the Billecta emulator (src/targets/billecta/emulator.ts) on loopback: the login with
 * the environment's credentials, the creditor, the decimals of the currencies the mapping names,
 * the payment means (not verifiable: a warning), kontor's products whose accounts the mapping
 * decides, and an unreachable host. Nothing is written to Billecta.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BILLECTA_CURRENCIES, startBillecta, type BillectaEmulator, type BillectaEmulatorOptions } from '../src/targets/billecta/emulator.js';
import { runCli, tempProject } from './helpers.js';
import { freePort } from './targets-helpers.js';

const USER = 'kontor-check';
const PASSWORD = 'billecta-check-pw-4b8e1c7a9d2f6e03';
const WRONG = 'billecta-check-wrong-0c5d9e2a7b1f8364';
const CREDITOR = '6a1d2c3b-4e5f-4a7b-8c9d-0e1f2a3b4c5d';
const OTHER_CREDITOR = '0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f';

const running: BillectaEmulator[] = [];
afterEach(async () => {
  for (const e of running.splice(0)) await e.close();
});

async function emulator(options: BillectaEmulatorOptions = {}): Promise<BillectaEmulator> {
  const emu = await startBillecta({ user: USER, password: PASSWORD, creditors: [{ CreditorPublicId: CREDITOR, Name: 'Check AB' }], ...options });
  running.push(emu);
  return emu;
}

/**
 * A project whose shop source books with a copy of mappings/shopify-se-billecta.yaml that names
 * SEK and EUR (invoice.receivable_by_currency) into Billecta target "billecta" at `url`.
 */
function project(url: string, options: { creditor?: string; auth?: 'token' | 'basic' } = {}): string {
  const config = [
    'database:',
    '  file: ./data/kontor.sqlite',
    'sources:',
    '  shop:',
    '    type: file',
    '    path: ./examples/orders',
    '    format: shopify',
    '    mapping: ./mappings/shopify-se-billecta.yaml',
    'targets:',
    '  billecta:',
    '    type: billecta',
    '    environment: test',
    `    base_url: ${url}`,
    `    creditor_public_id: ${options.creditor ?? CREDITOR}`,
    `    auth: ${options.auth ?? 'token'}`,
    '    credentials:',
    '      test:',
    '        username: ${BILLECTA_USER}',
    '        password: ${BILLECTA_PASSWORD}',
    `        expires: ${new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10)}`,
    '    payment_means:',
    '      "1580": CARD',
    '      "1581": KLARNA',
    '',
  ].join('\n');
  const dir = tempProject(config);
  const file = path.join(dir, 'mappings', 'shopify-se-billecta.yaml');
  const shipped = readFileSync(file, 'utf8');
  expect(shipped).toContain('  receivable_account: "1510"       # Kundfordringar\n');
  writeFileSync(file, shipped.replace('  receivable_account: "1510"       # Kundfordringar\n', '  receivable_account: "1510"       # Kundfordringar\n  receivable_by_currency: { SEK: "1510", EUR: "1512" }\n'));
  return dir;
}

/** Where the copy names EUR (line 33: `  receivable_by_currency: { SEK: "1510", EUR: "1512" }`). */
const AT_EUR = 'mappings/shopify-se-billecta.yaml:33:47';

function env(password = PASSWORD): Record<string, string> {
  return { BILLECTA_USER: USER, BILLECTA_PASSWORD: password };
}

const PAYMENT_MEANS_WARNING =
  "warning: config.yaml:22:7: target \"billecta\": payment_means CARD, KLARNA not checked online: Billecta's list of payment means is not known (only POST /v1/accounting/paymentmeans is documented); a code the creditor lacks is refused when a payment is registered";

describe('kontor check --online with a Billecta target (built CLI, emulator on loopback)', () => {
  it('logs in, finds the creditor and the currencies with kontor’s decimals: exit 0, reads only', async () => {
    const emu = await emulator();
    const dir = project(emu.url);
    const ok = await runCli(['check', '--online'], { cwd: dir, env: env() });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split('\n')).toEqual([
      PAYMENT_MEANS_WARNING,
      'config.yaml: OK (1 source(s), 1 target(s), mappings valid); Billecta target "billecta" checked online (creditor "Check AB", currencies EUR, SEK)',
    ]);
    expect(ok.stdout).not.toContain('not implemented');
    expect(emu.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual([
      'POST /v1/authentication/apiauthenticate 200',
      'GET /v1/currencies/currencies 200',
      `GET /v1/creditors/creditor/${CREDITOR} 200`,
      `GET /v1/products/products/${CREDITOR} 200`,
    ]);

    const json = await runCli(['check', '--online', '--json'], { cwd: dir, env: env() });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { online: unknown[]; problems: string[]; unreachable: string[] };
    expect(parsed.problems).toEqual([]);
    expect(parsed.unreachable).toEqual([]);
    expect(parsed.online).toEqual([
      {
        target: 'billecta',
        type: 'billecta',
        chart: null,
        accounts: null,
        error: null,
        creditor: { id: CREDITOR, name: 'Check AB' },
        currencies: [
          { currency: 'EUR', kontor: 2, billecta: 2 },
          { currency: 'SEK', kontor: 2, billecta: 2 },
        ],
        products: 0,
      },
    ]);
    expect(json.stdout).not.toContain(PASSWORD);
  });

  it('warns about a product of kontor’s whose accounts differ from the mapping (auth: basic)', async () => {
    const emu = await emulator();
    const dir = project(emu.url, { auth: 'basic' });
    // Someone changed the shipping product in the portal: 3521 instead of the mapping's 3520.
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    for (const [id, account] of [['FRAKT-standard', 3521], ['FRAKT-reduced', 3520]] as const) {
      const res = await fetch(`${emu.url}/v1/products/product`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/json' },
        body: JSON.stringify({ CreditorPublicId: CREDITOR, ProductExternalId: id, Description: 'Frakt', IsActive: true, UnitPrice: 0, VAT: id === 'FRAKT-standard' ? 25 : 12, BookKeepingAccount: account, BookKeepingVATAccount: id === 'FRAKT-standard' ? 2611 : 2621, ProductType: 'Service' }),
      });
      expect(res.ok, await res.text()).toBe(true);
    }
    const before = emu.requests.length;
    const result = await runCli(['check', '--online', '--json'], { cwd: dir, env: env() });
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { warnings: string[]; online: { products: number }[] };
    expect(parsed.online[0]!.products).toBe(2);
    expect(parsed.warnings).toContain(
      'target "billecta": product FRAKT-standard books on account 3521, VAT account 2611 at Billecta, but the mapping (mappings/shopify-se-billecta.yaml:55:13) sends account 3520, VAT account 2611; kontor corrects it (PUT /v1/products/product) with the next invoice that uses it',
    );
    expect(parsed.warnings.filter((w) => w.includes('FRAKT-reduced'))).toEqual([]);
    const calls = emu.requests.slice(before);
    expect(calls.every((r) => r.method === 'GET' && r.auth === 'basic')).toBe(true);
  });

  it('a wrong password is a problem naming the target and the HTTP status: exit 2, the password never shown', async () => {
    const emu = await emulator();
    const dir = project(emu.url);
    const refused = await runCli(['check', '--online'], { cwd: dir, env: env(WRONG) });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/^error: config\.yaml:18:9: target "billecta": Billecta refused the test credentials \(HTTP 401\): target billecta: POST \/v1\/authentication\/apiauthenticate: Billecta refused the username and password \(HTTP 401\)/m);
    expect(refused.stdout).not.toMatch(/: OK/);
    expect(refused.stdout + refused.stderr).not.toContain(WRONG);
    // Nothing past the login.
    expect(emu.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual(['POST /v1/authentication/apiauthenticate 401']);

    const json = JSON.parse((await runCli(['check', '--online', '--json'], { cwd: dir, env: env(WRONG) })).stdout) as { online: { error: string; creditor: unknown }[] };
    expect(json.online[0]).toMatchObject({ target: 'billecta', creditor: null, currencies: null, error: expect.stringContaining('HTTP 401') as unknown });
  });

  it('an unknown creditor is a problem at creditor_public_id: exit 2 (token and basic)', async () => {
    const emu = await emulator();
    for (const auth of ['token', 'basic'] as const) {
      const dir = project(emu.url, { creditor: OTHER_CREDITOR, auth });
      const result = await runCli(['check', '--online'], { cwd: dir, env: env() });
      expect(result.code, auth).toBe(2);
      expect(result.stdout, auth).toContain(
        `error: config.yaml:14:25: target "billecta": creditor_public_id ${OTHER_CREDITOR}: Billecta refused access to it (HTTP 401): no such creditor, or the test user may not work for it\n`,
      );
      expect(result.stdout, auth).not.toContain('refused the test credentials');
    }
  });

  it('a currency Billecta lists with other decimals, or not at all, is a problem at the mapping: exit 2', async () => {
    const sek = BILLECTA_CURRENCIES.find((c) => c.CurrencyCode === 'SEK')!;
    const eur = BILLECTA_CURRENCIES.find((c) => c.CurrencyCode === 'EUR')!;
    const otherDecimals = await emulator({ currencies: [sek, { ...eur, Decimals: 0, OneUnit: 1 }] });
    const dir = project(otherDecimals.url);
    const result = await runCli(['check', '--online'], { cwd: dir, env: env() });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${AT_EUR}: currency EUR: Billecta (target "billecta") gives it 0 decimals, kontor 2: every amount would be off by a power of ten; documents in EUR would be refused`,
    ]);

    const unlisted = await emulator({ currencies: [sek] });
    writeFileSync(path.join(dir, 'config.yaml'), readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(otherDecimals.url, unlisted.url));
    const missing = await runCli(['check', '--online', '--json'], { cwd: dir, env: env() });
    expect(missing.code).toBe(2);
    const parsed = JSON.parse(missing.stdout) as { problems: string[]; online: { currencies: unknown }[] };
    expect(parsed.problems).toEqual([`${AT_EUR}: currency EUR: Billecta (target "billecta") does not list it (GET /v1/currencies/currencies); every document in EUR would be refused`]);
    expect(parsed.online[0]!.currencies).toEqual([
      { currency: 'EUR', kontor: 2, billecta: null },
      { currency: 'SEK', kontor: 2, billecta: 2 },
    ]);

    // A currency the mapping does not name, listed with other decimals: a warning only.
    const jpy = await emulator({ currencies: [sek, eur, { CurrencyCode: 'JPY', Decimals: 2 }] });
    writeFileSync(path.join(dir, 'config.yaml'), readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(unlisted.url, jpy.url));
    const warned = await runCli(['check', '--online'], { cwd: dir, env: env() });
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain('warning: target "billecta": Billecta gives JPY 2 decimals, kontor 0: documents in JPY would be refused\n');
  });

  it('an unreachable host is reported on stderr with exit 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const dir = project(url);
    const down = await runCli(['check', '--online'], { cwd: dir, env: env(), timeoutMs: 40_000 });
    expect(down.code).toBe(1);
    expect(down.stdout).not.toMatch(/^error:/m);
    expect(down.stderr).toMatch(new RegExp(`^kontor: target "billecta": cannot reach Billecta at ${url.replace(/\./g, '\\.')}: target billecta: POST ${url.replace(/\./g, '\\.')}/v1/authentication/apiauthenticate: .*ECONNREFUSED`, 'm'));
  }, 60_000);

  it('check without --online insists on a username and password, and no longer calls Billecta unimplemented', async () => {
    const dir = project('http://127.0.0.1:9');
    const ok = await runCli(['check'], { cwd: dir, env: env() });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('config.yaml: OK (1 source(s), 1 target(s), mappings valid)\n');

    writeFileSync(path.join(dir, 'config.yaml'), readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace('        password: ${BILLECTA_PASSWORD}\n', '        api_key: ${BILLECTA_PASSWORD}\n'));
    const missing = await runCli(['check', '--online'], { cwd: dir, env: env() });
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('error: config.yaml:18:9: target "billecta": no username and password (or password_file) in its test credentials (it has username, api_key)\n');
    expect(missing.stdout + missing.stderr).not.toContain(PASSWORD);
  });
});

describe('one Billecta target, several sources', () => {
  it('refuses mappings that disagree on what the target takes from them (paid_orders, the rounding account)', async () => {
    const dir = project('http://127.0.0.1:9');
    const config = readFileSync(path.join(dir, 'config.yaml'), 'utf8');
    const second = ['  shop2:', '    type: file', '    path: ./examples/orders', '    format: shopify', '    mapping: ./mappings/shopify-se-invoice.yaml', ''].join('\n');
    writeFileSync(path.join(dir, 'config.yaml'), config.replace('targets:\n', `${second}targets:\n`));
    const shipped = readFileSync(path.join(dir, 'mappings', 'shopify-se-billecta.yaml'), 'utf8');
    writeFileSync(path.join(dir, 'mappings', 'shopify-se-invoice.yaml'), shipped.replace(/^ {2}paid_orders: verification\b/m, '  paid_orders: invoice'));
    const expected =
      /config\.yaml:\d+:\d+: target "billecta" \(billecta\) takes target\.paid_orders and the rounding account from its mapping, but its sources disagree: source "shop" \(shopify-se-billecta\.yaml\): paid_orders verification, rounding account \d+; source "shop2" \(shopify-se-invoice\.yaml\): paid_orders invoice, rounding account \d+/;
    const check = await runCli(['check'], { cwd: dir, env: env() });
    expect(check.code).toBe(2);
    expect(check.stdout).toMatch(expected);
    const sync = await runCli(['sync', '--once'], { cwd: dir, env: env() });
    expect(sync.code).toBe(2);
    expect(sync.stderr).toMatch(expected);
  });
});
