/** Helpers of the target emulator tests: `kontor sandbox …` as a subprocess. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, ROOT } from './helpers.js';

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
