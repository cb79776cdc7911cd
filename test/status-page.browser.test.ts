/**
 * Issue #9, item 4: the status page end to end, in headless Chromium (Debian's `chromium`
 * package, driven by playwright-core; KONTOR_TEST_CHROMIUM names another binary). The service
 * runs in-process on the sample project; the page is opened with its token on a phone-sized
 * screen, then without it. Waits are for selectors and text, never for fixed times.
 *
 * Without Chromium the tests are skipped with a notice.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { openRuntime } from '../src/service/runtime.js';
import { Service } from '../src/service/service.js';
import { captureStream, tempProject } from './helpers.js';

const CHROMIUM = process.env.KONTOR_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`NOTICE: no Chromium at ${CHROMIUM} (apt install chromium, or set KONTOR_TEST_CHROMIUM); the status page browser tests are SKIPPED`);

const TOKEN = 'page-token-4c9e1a7b3f20d865';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let browser: Browser;
beforeAll(async () => {
  if (HAS_CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});
afterAll(async () => {
  await browser?.close();
});

/** `kontor run` in-process on the sample project, its status page refreshing every second. */
async function running() {
  const dir = tempProject();
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, `${readFileSync(file, 'utf8').replace('shutdown_grace_seconds: 10', 'shutdown_grace_seconds: 2')}\nops:\n  listen: 127.0.0.1:0\n  status_token: \${KONTOR_STATUS_TOKEN}\n  status_refresh_seconds: 1\n`);
  const logs = captureStream();
  const rt = await openRuntime(loadConfig(file, { KONTOR_STATUS_TOKEN: TOKEN }), createLogger({ format: 'json', level: 'debug', stream: logs.stream }));
  const stop = new AbortController();
  const svc = new Service(rt, { print: () => undefined, stopSignal: stop.signal });
  cleanups.push(async () => {
    stop.abort();
    await svc.done;
  });
  await svc.start();
  return { dir, svc, logs, url: svc.opsUrl! };
}

describe.skipIf(!HAS_CHROMIUM)('the status page in Chromium', () => {
  it('shows the source, the backlog and the transfer balance on a phone, and refreshes itself when new data comes', async () => {
    const { dir, svc, logs, url } = await running();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    cleanups.push(() => context.close());
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });

    const response = await page.goto(`${url}/status?token=${TOKEN}`);
    expect(response!.status()).toBe(200);
    // Signed in with a cookie; the token is gone from the address bar.
    expect(page.url()).toBe(`${url}/status`);
    expect((await context.cookies())[0]).toMatchObject({ name: 'kontor_status', httpOnly: true, sameSite: 'Strict' });

    await expect(page.locator('#state').innerText()).resolves.toBe('ready');
    const source = await page.locator('#sources [data-source="samples"]').innerText();
    expect(source).toContain('samples');
    expect(source).toContain('up to date');
    expect(source).toMatch(/cursor lag\s+\d+ s/);
    await expect(page.locator('#outbox [data-target="journal"]').innerText()).resolves.toMatch(/journal\s+13 delivered/);
    await expect(page.locator('#transfer [data-target="journal"]').innerText()).resolves.toMatch(/journal\s+1090\s+0 \(no postings\)/);
    await expect(page.locator('#quarantine').innerText()).resolves.toMatch(/Quarantine\s+empty/);
    // Usable on a phone: nothing wider than the screen.
    // (Expressions as text: the tests are compiled without the DOM's types.)
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);

    // New data: a broken order file, taken in by a scheduled run. The open page shows it on its
    // next refresh, fetched and swapped in without reloading the page (the marker survives).
    const first = await page.locator('#status').getAttribute('data-generated');
    await page.evaluate("window.kontorMarker = 'same page'");
    writeFileSync(path.join(dir, 'examples', 'orders', 'broken.json'), '{ "id": 2001, "line_items": ');
    await svc.jobs.get('source:samples')!.tick('scheduled');
    await page.locator('#quarantine li', { hasText: 'examples/orders/broken.json' }).waitFor({ timeout: 15_000 });
    await expect(page.locator('#quarantine h2').innerText()).resolves.toBe('Quarantine (1)');
    expect(await page.locator('#status').getAttribute('data-generated')).not.toBe(first);
    expect(await page.evaluate('window.kontorMarker')).toBe('same page');
    await expect(page.locator('#conn').innerText()).resolves.toBe('');

    expect(problems).toEqual([]);
    expect(logs.text()).not.toContain(TOKEN);
  });

  it('without the token answers 401 and shows no data', async () => {
    const { url } = await running();
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    const page = await context.newPage();
    for (const address of [`${url}/status`, `${url}/status?token=not-the-token-123456`, `${url}/status.json`]) {
      const response = await page.goto(address);
      expect(response!.status()).toBe(401);
      const text = await page.locator('body').innerText();
      expect(text).not.toContain('samples');
      expect(text).not.toContain('1090');
      expect(text).not.toContain('delivered');
    }
    expect(await context.cookies()).toEqual([]);
  });
});
