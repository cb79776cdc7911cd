/**
 * The Run my Accounts target inside the service, against the emulator on loopback: a refused
 * key stops the target (entries kept, attempts not used up, one alert) while the other targets
 * go on; the `paidBefore` baseline from the outbox decides an in-doubt payment after a restart;
 * the target's config options reach the client and the request builder; closeRuntime closes it;
 * and, through the built CLI (`node dist/cli.js`, run `npm run build` first), `kontor check
 * --online` against the target's chart and `kontor status` with its transfer balance.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { minor, type BookDocument, type PaymentDocument } from '../src/books/index.js';
import { loadConfig, type Config } from '../src/config/load.js';
import { CredentialError, RetriableError } from '../src/errors.js';
import { createLogger } from '../src/log/logger.js';
import { enqueueEntry, storeDocument } from '../src/outbox/enqueue.js';
import { listTransitions } from '../src/outbox/events.js';
import { listEntries } from '../src/outbox/queries.js';
import { Deliverer } from '../src/service/deliver.js';
import { pullSource } from '../src/service/intake.js';
import { closeRuntime, createRmaClient, createTarget, deliveredPaymentsOn, openRuntime, type Runtime } from '../src/service/runtime.js';
import { collectSummary, formatSummary } from '../src/service/summary.js';
import { RmaCredentialError, RmaInDoubtError } from '../src/targets/runmyaccounts/client.js';
import { startRunMyAccounts, type RmaEmulator, type RmaEmulatorOptions } from '../src/targets/runmyaccounts/emulator.js';
import { RunMyAccountsTarget } from '../src/targets/runmyaccounts/target.js';
import { captureStream, DIALECTS, freshDatabase, HAS_POSTGRES, runCli, tempProject, type Dialect } from './helpers.js';
import { sampleOrdersConfig } from './targets-helpers.js';

const KEY = 'rma-right-key-5c1e92';
const WRONG = 'rma-wrong-key-77b0d4';
const MANDANT = 'muster';

/** The PSP clearing accounts of mappings/woocommerce-ch.yaml, as a mandant would add them to the base chart. */
const CLEARING: RmaEmulatorOptions['accounts'] = [
  { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
  { accno: '1092', description: 'Clearing Payrexx/TWINT', category: 'A', link: 'AR_paid' },
];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function emulator(options: RmaEmulatorOptions = {}): Promise<RmaEmulator> {
  const emu = await startRunMyAccounts({ mandants: [MANDANT], key: KEY, accounts: CLEARING, ...options });
  cleanups.push(() => emu.close().catch(() => undefined));
  return emu;
}

/** config.yaml of a temp project: the sample orders to a runmyaccounts target (and the journal, if asked). */
function configYaml(emu: { url: string } | string, options: { journal?: boolean; extra?: string } = {}): string {
  const url = typeof emu === 'string' ? emu : emu.url;
  const rma = [
    '  rma:',
    '    type: runmyaccounts',
    '    environment: test',
    `    base_url: ${url}`,
    `    mandant: ${MANDANT}`,
    ...(options.extra ? [options.extra] : []),
    '    credentials:',
    '      test:',
    '        api_key: ${RMA_KEY}',
    `        expires: ${new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10)}`,
    ...(options.journal ? ['  journal:', '    type: journal'] : []),
  ];
  return sampleOrdersConfig({ mapping: 'woocommerce-ch.yaml', targets: ['rma', ...(options.journal ? ['journal'] : [])], targetsYaml: rma.join('\n') });
}

interface Harness {
  rt: Runtime;
  config: Config;
  dir: string;
  logs: () => string;
}

async function harness(yaml: string, key: string, dialect: Dialect = 'sqlite'): Promise<Harness> {
  const dir = tempProject(yaml);
  const config = loadConfig(path.join(dir, 'config.yaml'), { RMA_KEY: key });
  const { db, drop } = await freshDatabase(dialect);
  cleanups.push(drop);
  const logs = captureStream();
  const rt = await openRuntime(config, createLogger({ format: 'json', level: 'debug', stream: logs.stream }), { db });
  // closeRuntime destroys the database; drop() does that (and drops a PostgreSQL schema) instead.
  cleanups.push(async () => {
    for (const t of rt.targets.values()) await t.close?.();
  });
  return { rt, config, dir, logs: logs.text };
}

const logLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { level: string; message: string; target?: string });

async function entriesOf(rt: Runtime, target: string) {
  return listEntries(rt.db, { target, limit: 1000 });
}

describe('a refused key stops the target', () => {
  it('puts the entry back without using up an attempt, alerts once, and lets the other targets go on', async () => {
    const emu = await emulator();
    const { rt, logs } = await harness(configYaml(emu, { journal: true }), WRONG);
    await pullSource(rt, 'samples');
    const rmaEntries = await entriesOf(rt, 'rma');
    expect(rmaEntries.length).toBe(13);

    const deliverer = new Deliverer(rt);
    const stats = await deliverer.drain();
    expect(stats.stopped).toEqual({ rma: expect.stringContaining('Run my Accounts refused the API key (HTTP 403') as unknown });
    expect(stats.delivered).toBe(13); // the journal's
    expect(stats).toMatchObject({ retrying: 0, inDoubt: 0, dead: 0 });
    expect(emu.stats.requests).toBe(1); // the first send; nothing after it

    const after = await entriesOf(rt, 'rma');
    expect(after.map((e) => [e.state, e.attempts])).toEqual(rmaEntries.map(() => ['pending', 0]));
    const first = after.find((e) => e.id === Math.min(...after.map((x) => x.id)))!;
    expect(first.last_error).toContain('refused the API key (HTTP 403');
    expect((await listTransitions(rt.db, first.id)).map((t) => t.to_state)).toEqual(['pending', 'leased', 'pending']);
    expect((await entriesOf(rt, 'journal')).every((e) => e.state === 'delivered')).toBe(true);

    const errors = logLines(logs()).filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.target).toBe('rma');
    expect(errors[0]!.message).toMatch(/^ALERT: target rma refused kontor's credentials, so delivery to it is stopped: .*HTTP 403.*Renew the API key of its test credentials \(docs\/credentials\.md\)/);

    // Later rounds of the same process claim nothing for it and do not alert again.
    const again = await deliverer.drain();
    expect(again).toMatchObject({ delivered: 0, stopped: { rma: expect.any(String) as unknown } });
    expect(emu.stats.requests).toBe(1);
    expect(logLines(logs()).filter((l) => l.level === 'error')).toHaveLength(1);
    expect((await entriesOf(rt, 'rma')).every((e) => e.state === 'pending' && e.attempts === 0)).toBe(true);

    // The summary says so, and shows the transfer balance it could not read instead of failing.
    const summary = await collectSummary(rt, [], stats);
    const rma = summary.targets.find((t) => t.name === 'rma')!;
    expect(rma).toMatchObject({ transferBalance: null, transferError: expect.stringContaining('refused the API key') as unknown });
    const text = formatSummary(summary);
    expect(text).toContain('delivery to rma STOPPED (its entries wait): ');
    expect(text).toMatch(/transfer account 1090: not known: target rma is stopped until its API key is fixed/);
    expect(logs() + text).not.toContain(WRONG);
  });

  it('keeps an in-doubt entry in doubt, and the error classes say what they are', async () => {
    const emu = await emulator();
    const { rt } = await harness(configYaml(emu), WRONG);
    await pullSource(rt, 'samples');
    const [first] = await entriesOf(rt, 'rma');
    await rt.db('outbox_entries').where({ id: first!.id }).update({ state: 'in_doubt', verify_first: true, attempts: 3 });
    await new Deliverer(rt).drain();
    const back = (await entriesOf(rt, 'rma')).find((e) => e.id === first!.id)!;
    expect(back).toMatchObject({ state: 'in_doubt', verify_first: true, attempts: 3 });

    const error = new RmaCredentialError('refused', 403);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toBeInstanceOf(RetriableError);
    expect(error.stopsTarget).toBe(true);
  });
});

/** A payment of `amount` on invoice `invnumber`, shaped like the sample order's payments. */
function paymentOn(template: PaymentDocument, invnumber: string, part: string, amount: number): PaymentDocument {
  return { ...template, key: { ...template.key, subject: invnumber, part: `instalment-${part}`, revision: 1 }, appliesTo: invnumber, amount: minor(amount) };
}

async function addPayment(rt: Runtime, doc: PaymentDocument): Promise<number> {
  const invoice = (await rt.db('documents').where({ kind: 'invoice', subject: doc.appliesTo }).first('id', 'snapshot_id')) as { id: number; snapshot_id: number };
  const invoiceEntry = (await rt.db('outbox_entries').where({ document_id: invoice.id, target: 'rma' }).first('id')) as { id: number };
  const stored = await storeDocument(rt.db, doc, Number(invoice.snapshot_id), false);
  if (!('id' in stored)) throw new Error('not stored');
  return (await enqueueEntry(rt.db, { documentId: stored.id, documentKey: stored.key, target: 'rma', dependsOn: Number(invoiceEntry.id) })).id;
}

describe.each(DIALECTS)('paidBefore from the outbox (%s)', (dialect) => {
  it.skipIf(dialect === 'postgres' && !HAS_POSTGRES)('decides in-doubt payments after a restart, without a second POST', async () => {
    const emu = await emulator();
    const { rt, config } = await harness(configYaml(emu), KEY, dialect);
    await pullSource(rt, 'samples');
    const template = (await rt.db('documents').where({ kind: 'payment' }).first('body')) as { body: string };
    const base = JSON.parse(template.body) as PaymentDocument;
    // Invoice 1003 (CHF 317.86) has no payment in the samples: two instalments on it, plus one in EUR that must not count.
    const p1 = paymentOn(base, '1003', 'a', 10000);
    const p2 = paymentOn(base, '1003', 'b', 5000);
    const p1Entry = await addPayment(rt, p1);
    const p2Entry = await addPayment(rt, p2);
    const stats = await new Deliverer(rt).drain();
    expect(stats).toMatchObject({ delivered: 15, dead: 0, inDoubt: 0, retrying: 0 });
    const paidOn1003 = () => emu.invoices(MANDANT).find((i) => i.invnumber === '1003')!.paid;
    expect(paidOn1003()).toBe(15000);
    const payments = emu.payments(MANDANT).length;

    // The baseline of a payment: the others delivered on the same invoice, in its currency.
    expect(await deliveredPaymentsOn(rt.db, 'rma', p2)).toBe(10000);
    expect(await deliveredPaymentsOn(rt.db, 'rma', p1)).toBe(5000);
    expect(await deliveredPaymentsOn(rt.db, 'rma', { ...p2, currency: 'EUR' })).toBe(0);
    expect(await deliveredPaymentsOn(rt.db, 'journal', p2)).toBe(0);
    expect(await deliveredPaymentsOn(rt.db, 'rma', paymentOn(base, '100', 'x', 1))).toBe(0); // no LIKE prefix match on "1003"
    expect(await deliveredPaymentsOn(rt.db, 'rma', paymentOn(base, '100_', 'x', 1))).toBe(0); // "_" is no wildcard

    // p2's send ended in doubt (it did land), and kontor restarted: a new target knows no baseline.
    await rt.db('outbox_entries').where({ id: p2Entry }).update({ state: 'in_doubt', verify_first: true });
    const restart = async () => rt.targets.set('rma', await createTarget(config.targets.find((t) => t.name === 'rma')!, rt.db, rt.logger));
    await restart();
    const found = await new Deliverer(rt).drain();
    expect(found).toMatchObject({ delivered: 1, inDoubt: 0, dead: 0 });
    expect(emu.payments(MANDANT)).toHaveLength(payments);
    expect(paidOn1003()).toBe(15000);
    expect((await listTransitions(rt.db, p2Entry)).at(-1)).toMatchObject({ to_state: 'delivered', cause: 'found at the target by the in-doubt lookup' });

    // Without the hook the same lookup cannot tell (RMA gives payments no id).
    const bare = new RunMyAccountsTarget({ name: 'rma', client: await createRmaClient(config.targets.find((t) => t.name === 'rma')!), requests: { mandant: MANDANT } });
    cleanups.push(() => bare.close());
    await expect(bare.lookup(p2)).rejects.toBeInstanceOf(RmaInDoubtError);

    // A payment whose send never reached RMA: the lookup says "not there", so it is sent, once.
    const p3 = paymentOn(base, '1003', 'c', 2000);
    const p3Entry = await addPayment(rt, p3);
    await rt.db('outbox_entries').where({ id: p3Entry }).update({ state: 'in_doubt', verify_first: true });
    await restart();
    expect(await new Deliverer(rt).drain()).toMatchObject({ delivered: 1, inDoubt: 0, dead: 0 });
    expect(emu.payments(MANDANT)).toHaveLength(payments + 1);
    expect(paidOn1003()).toBe(17000);
    expect((await listTransitions(rt.db, p3Entry)).at(-1)).toMatchObject({ to_state: 'delivered', cause: 'delivered' });
    expect((await listTransitions(rt.db, p1Entry)).at(-1)).toMatchObject({ to_state: 'delivered' });
  });
});

describe('configuration of the runmyaccounts target', () => {
  it('passes auth, format, api_version, entry_lists and part_accounts to the client and the request builder', async () => {
    const emu = await emulator();
    const defaults = await harness(configYaml(emu), KEY);
    const d = defaults.rt.targets.get('rma') as RunMyAccountsTarget;
    expect([d.client.auth, d.client.format, d.client.basePath]).toEqual(['bearer', 'json', `/api/latest/clients/${MANDANT}`]);
    expect(defaults.config.targets[0]!.config).toMatchObject({ auth: 'bearer', format: 'json', api_version: 'latest', entry_lists: 'wrapped', part_accounts: 'omit' });

    const { rt } = await harness(configYaml(emu, { extra: '    auth: query\n    format: xml\n    api_version: v1\n    entry_lists: bare\n    part_accounts: send' }), KEY);
    const t = rt.targets.get('rma') as RunMyAccountsTarget;
    expect([t.client.auth, t.client.format, t.client.basePath]).toEqual(['query', 'xml', `/api/v1/clients/${MANDANT}`]);
    await pullSource(rt, 'samples');
    const invoice = JSON.parse(((await rt.db('documents').where({ kind: 'invoice' }).first('body')) as { body: string }).body) as BookDocument;
    const [request] = t.requestsFor(invoice);
    expect(request!.path).toBe(`/api/v1/clients/${MANDANT}/invoices`);
    expect(Array.isArray(request!.body!.incomeentries)).toBe(true);

    expect(await new Deliverer(rt).drain()).toMatchObject({ delivered: 13, dead: 0 });
    expect(emu.requests.length).toBeGreaterThan(0);
    for (const r of emu.requests) {
      expect(r.auth).toBe('query');
      expect(r.url).toMatch(/^\/api\/v1\/clients\/muster\//);
      expect(r.accept).toBe('application/xml');
      if (r.method === 'POST') expect(r.contentType).toMatch(/^application\/xml/);
    }
  });

  it('refuses unknown values', () => {
    const dir = tempProject(configYaml('http://127.0.0.1:9', { extra: '    auth: header' }));
    expect(() => loadConfig(path.join(dir, 'config.yaml'), { RMA_KEY: KEY })).toThrow(/auth/);
  });

  it('closeRuntime closes every target', async () => {
    const emu = await emulator();
    const dir = tempProject(configYaml(emu, { journal: true }));
    const config = loadConfig(path.join(dir, 'config.yaml'), { RMA_KEY: KEY });
    const rt = await openRuntime(config, createLogger({ format: 'json', stream: captureStream().stream }));
    const close = vi.spyOn(rt.targets.get('rma') as RunMyAccountsTarget, 'close');
    expect(await rt.targets.get('rma')!.transferBalance()).toEqual({ CHF: 0 });
    await closeRuntime(rt);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe('kontor check --online and kontor status (built CLI)', () => {
  const project = (yaml: string) => tempProject(yaml);

  it('reports accounts missing from the target chart with file:line:col, and passes once they exist', async () => {
    const base = await emulator({ accounts: [] });
    const dir = project(configYaml(base, { journal: true }));
    const missing = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual([
      'mappings/woocommerce-ch.yaml:59:13: unknown account 1091 (not in the Run my Accounts chart of target "rma")',
      'mappings/woocommerce-ch.yaml:60:14: unknown account 1092 (not in the Run my Accounts chart of target "rma")',
      'mappings/woocommerce-ch.yaml:61:12: unknown account 1092 (not in the Run my Accounts chart of target "rma")',
    ]);
    expect(missing.stdout).toContain('warning: target "journal": a journal has no chart of accounts to read; nothing checked online');
    expect(base.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET /api/latest/clients/${MANDANT}/charts`]);

    const withClearing = await emulator();
    writeFileSync(path.join(dir, 'config.yaml'), configYaml(withClearing, { journal: true }));
    const ok = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/config\.yaml: OK \(1 source\(s\), 2 target\(s\), mappings valid\); accounts checked against the Run my Accounts chart of target "rma"\n/);
    expect(ok.stdout).not.toContain('not implemented');

    const json = await runCli(['check', '--online', '--json'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { online: unknown[] }).online).toEqual([
      { target: 'rma', type: 'runmyaccounts', chart: 'the Run my Accounts chart of target "rma"', accounts: expect.any(Number) as unknown, error: null },
      { target: 'journal', type: 'journal', chart: null, accounts: null, error: null },
    ]);
  });

  it('reports an inactive account and a wrong link', async () => {
    const emu = await emulator({
      accounts: [
        { accno: '1091', description: 'Clearing Stripe', category: 'A', link: 'AR_paid' },
        { accno: '1092', description: 'Clearing Payrexx', category: 'A', link: 'AR_paid', is_active: false },
        { accno: '3200', description: 'Handelserlöse', category: 'I', link: 'AP_amount' },
      ],
    });
    const dir = project(configYaml(emu));
    const result = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^mappings\/woocommerce-ch\.yaml:\d+:\d+: account 3200 \(Handelserlöse\) has link "AP_amount", but this use needs AR_amount$/m);
    expect(result.stderr).toContain('mappings/woocommerce-ch.yaml:60:14: account 1092 (Clearing Payrexx) is not active in the Run my Accounts chart of target "rma"');
    expect(result.stderr).toContain('mappings/woocommerce-ch.yaml:61:12: account 1092 (Clearing Payrexx) is not active');
    expect(result.stderr).not.toContain('1091');
  });

  it('a refused key or an unreachable target is a clear error with exit 1; the key is never shown', async () => {
    const emu = await emulator();
    const dir = project(configYaml(emu));
    const refused = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: WRONG } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^kontor: target "rma": cannot read its chart of accounts \(GET \/charts\): .*refused the API key \(HTTP 403/m);
    expect(refused.stdout + refused.stderr).not.toContain(WRONG);

    await emu.close();
    const down = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: KEY }, timeoutMs: 40_000 });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^kontor: target "rma": cannot read its chart of accounts \(GET \/charts\): .*ECONNREFUSED/m);

    // A Billecta target is checked online too (test/targets.billecta.check.test.ts); with only an api_key it is not.
    writeFileSync(
      path.join(dir, 'config.yaml'),
      readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(/ {4}type: runmyaccounts[\s\S]*?mandant: muster\n/, '    type: billecta\n    environment: test\n    creditor_public_id: demo\n'),
    );
    const billecta = await runCli(['check', '--online'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(billecta.code).toBe(2);
    expect(billecta.stdout).toMatch(/^error: config\.yaml:\d+:\d+: target "rma": no username and password \(or password_file\) in its test credentials \(it has api_key\)$/m);
    expect(billecta.stdout).not.toContain('not implemented');
  }, 60_000);

  it('check without --online no longer calls runmyaccounts delivery unimplemented', async () => {
    const dir = project(configYaml('http://127.0.0.1:9'));
    const result = await runCli(['check'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('not implemented');
  });

  it('status shows the transfer balance as Run my Accounts sees it (gl/v2/saldo), next to the journal, and a failure to read it', async () => {
    const emu = await emulator();
    const dir = project(configYaml(emu, { journal: true }));
    const status = await runCli(['status', '--json'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { transfer: unknown[] }).transfer).toEqual([
      { target: 'rma', type: 'runmyaccounts', account: '1090', balance: { CHF: 0 }, error: null },
      { target: 'journal', type: 'journal', account: '1090', balance: {}, error: null },
    ]);
    expect(emu.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET /api/latest/clients/${MANDANT}/gl/v2/saldo?accno=1090`]);

    const text = await runCli(['status'], { cwd: dir, env: { RMA_KEY: KEY } });
    expect(text.stdout).toMatch(/transfer accounts:\n {2}rma 1090: CHF 0\.00\n {2}journal 1090: 0 \(no postings\)\n/);

    const refused = await runCli(['status'], { cwd: dir, env: { RMA_KEY: WRONG } });
    expect(refused.code).toBe(0);
    expect(refused.stdout).toMatch(/ {2}rma 1090: not known: target rma: GET \/gl\/v2\/saldo: Run my Accounts refused the API key \(HTTP 403/);
    expect(refused.stdout).toMatch(/ {2}journal 1090: 0 \(no postings\)/);
    expect(refused.stdout + refused.stderr).not.toContain(WRONG);
    const refusedJson = JSON.parse((await runCli(['status', '--json'], { cwd: dir, env: { RMA_KEY: WRONG } })).stdout) as { transfer: { balance: unknown; error: string }[] };
    expect(refusedJson.transfer[0]).toMatchObject({ balance: null, error: expect.stringContaining('HTTP 403') as unknown });
  });
});

describe('receipts (belege)', () => {
  it('kontor receipt uploads a PDF once: a second upload of the same file counts as there already', async () => {
    const emu = await emulator();
    const dir = tempProject(configYaml(emu));
    const pdf = path.join(dir, 'beleg-1002.pdf');
    writeFileSync(pdf, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([0, 1, 2, 255, 254]), Buffer.from('\n%%EOF\n')]));
    const env = { RMA_KEY: KEY };
    const first = await runCli(['receipt', pdf, '--target', 'rma'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('uploaded to Run my Accounts (target rma)');
    const again = await runCli(['receipt', pdf, '--target', 'rma', '--json'], { cwd: dir, env });
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: 'already there' });
    const stored = emu.belege(MANDANT);
    expect(stored.map((b) => [b.file_name, b.content_type, b.size])).toEqual([['beleg-1002.pdf', 'application/pdf', readFileSync(pdf).length]]);
    expect(`${first.stdout}${first.stderr}${again.stdout}${again.stderr}`).not.toContain(KEY);
    const wrongType = await runCli(['receipt', path.join(dir, 'config.yaml'), '--target', 'rma'], { cwd: dir, env });
    expect(wrongType.code).toBe(2);
    expect(wrongType.stderr).toContain('takes PDF, PNG, JPEG or GIF receipts');
  });
});
