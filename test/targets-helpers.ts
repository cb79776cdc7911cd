/** Helpers of the target emulator tests: `kontor sandbox …` as a subprocess. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { CLI, ROOT, tempProject } from './helpers.js';

export interface Sandbox {
  child: ChildProcess;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Its exit code, once it exited. */
  exited: Promise<number | null>;
}

/** `kontor sandbox ARGS` in the foreground; resolves once its stdout matches `ready` (15 s at the most). */
export async function startSandbox(args: string[], ready: RegExp): Promise<Sandbox> {
  const child = spawn(process.execPath, [CLI, 'sandbox', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const sandbox: Sandbox = { child, stdout: () => stdout, stderr: () => stderr, exited };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 15 s\n${stdout}\n${stderr}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (ready.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (error) {
    child.kill('SIGINT');
    throw error;
  }
  return sandbox;
}

/** `kontor sandbox ARGS` expected to stop by itself: its exit code and stderr. */
export function runSandbox(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'sandbox', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * config.yaml of a temp project that books the sample orders (examples/orders, WooCommerce
 * format) with `mapping` into the targets of `targetsYaml` (indented by two spaces).
 */
export function sampleOrdersConfig(options: { mapping: string; targetsYaml: string; targets?: readonly string[] }): string {
  return [
    'database:',
    '  file: ./data/kontor.sqlite',
    'log:',
    '  level: info',
    '  format: json',
    'sources:',
    '  samples:',
    '    type: file',
    '    path: ./examples/orders',
    '    format: woocommerce',
    `    mapping: ${options.mapping}`,
    ...(options.targets ? [`    targets: [${options.targets.join(', ')}]`] : []),
    'targets:',
    options.targetsYaml,
    '',
  ].join('\n');
}

/** Shopify order #SE1042 (SEK, prices incl. VAT, paid by card, partly refunded). */
export const SHOPIFY_SE_FIXTURE = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'shopify', 'order-sek-incl-tax.json'), 'utf8')) as { order: Record<string, unknown> };

/** The fixture under another id and number, without its refund; `pending` also drops its payment. */
export function derivedShopifyOrder(offset: number, kind: 'paid' | 'pending'): { order: Record<string, unknown> } {
  const o = structuredClone(SHOPIFY_SE_FIXTURE.order);
  const number = (o.order_number as number) + offset;
  Object.assign(o, { id: (o.id as number) + offset, order_number: number, number: (o.number as number) + offset, name: `#SE${number}`, refunds: [], confirmation_number: `FLOW${number}` });
  for (const k of ['current_total_price', 'current_subtotal_price', 'current_total_tax', 'current_total_discounts']) delete o[k];
  for (const k of ['current_total_price_set', 'current_subtotal_price_set', 'current_total_tax_set', 'current_total_discounts_set']) delete o[k];
  if (kind === 'paid') {
    o.financial_status = 'paid';
    o.transactions = (o.transactions as Record<string, unknown>[]).filter((t) => t.kind === 'sale' || t.kind === 'capture');
  } else {
    Object.assign(o, { financial_status: 'pending', transactions: [], payment_gateway_names: ['manual'], total_outstanding: o.total_price });
  }
  return { order: o };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A temp project whose Shopify file source (./orders, holding `orders`) books with the shipped
 * mappings/shopify-se-billecta.yaml (`paidOrders: verification`, as shipped) or a copy of it
 * with `paid_orders: invoice`, into Billecta target "billecta" at `baseUrl`. The credentials come
 * from BILLECTA_USER and BILLECTA_PASSWORD; `targetLines` are more settings of the target
 * (indented by four spaces); with `webhookPort`, `kontor run` receives Billecta's webhooks there
 * (secret BILLECTA_WEBHOOK_SECRET).
 */
export function billectaShopProject(options: {
  baseUrl: string;
  creditor: string;
  paidOrders: 'invoice' | 'verification';
  orders: readonly unknown[];
  targetLines?: readonly string[];
  webhookPort?: number;
}): string {
  const config = [
    'database:',
    '  file: ./data/kontor.sqlite',
    'log:',
    '  level: info',
    '  format: json',
    'sources:',
    '  shop:',
    '    type: file',
    '    path: ./orders',
    '    format: shopify',
    `    mapping: ./mappings/shopify-se-billecta${options.paidOrders === 'invoice' ? '-invoice' : ''}.yaml`,
    'targets:',
    '  billecta:',
    '    type: billecta',
    '    environment: test',
    `    base_url: ${options.baseUrl}`,
    `    creditor_public_id: ${options.creditor}`,
    '    credentials:',
    '      test:',
    '        username: ${BILLECTA_USER}',
    '        password: ${BILLECTA_PASSWORD}',
    '    payment_means:',
    '      "1580": CARD',
    '      "1581": KLARNA',
    ...(options.targetLines ?? []),
    ...(options.webhookPort !== undefined ? ['webhooks:', `  listen: 127.0.0.1:${options.webhookPort}`, '  billecta:', '    secret: ${BILLECTA_WEBHOOK_SECRET}'] : []),
    '',
  ].join('\n');
  const dir = tempProject(config);
  const shipped = readFileSync(path.join(dir, 'mappings', 'shopify-se-billecta.yaml'), 'utf8');
  const asShipped = /^ {2}paid_orders: verification\b/m;
  if (!asShipped.test(shipped)) throw new Error('mappings/shopify-se-billecta.yaml no longer sets paid_orders: verification');
  writeFileSync(path.join(dir, 'mappings', 'shopify-se-billecta-invoice.yaml'), shipped.replace(asShipped, '  paid_orders: invoice'));
  mkdirSync(path.join(dir, 'orders'));
  options.orders.forEach((o, i) => writeFileSync(path.join(dir, 'orders', `order-${i + 1}.json`), JSON.stringify(o, null, 2)));
  return dir;
}
