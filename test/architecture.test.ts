/**
 * The house rules of src/: data flows sources → mapping → books → outbox → targets, wired
 * by service/ and the CLI. Each folder may import only what its place in that flow allows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const SRC = path.join(ROOT, 'src');

/** Folder (or top-level file) → what it may import from src/. */
const ALLOWED: Record<string, string[]> = {
  books: [],
  'errors.ts': [],
  log: [],
  config: ['errors.ts', 'log'],
  db: ['config'],
  store: ['db'],
  http: ['errors.ts', 'log'],
  sources: ['books', 'errors.ts', 'config', 'http'],
  mapping: ['books', 'sources', 'errors.ts', 'config'],
  outbox: ['books', 'db'],
  targets: ['books', 'db', 'errors.ts', 'http'],
  service: ['*'],
  'commands.ts': ['*'],
  'cli.ts': ['commands.ts'],
};

function areaOf(file: string): string {
  const rel = path.relative(SRC, file);
  const [first] = rel.split(path.sep);
  return first!;
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

describe('architecture', () => {
  it('knows every area of src/', () => {
    const areas = new Set(sourceFiles().map(areaOf));
    expect([...areas].filter((a) => !(a in ALLOWED))).toEqual([]);
  });

  it('keeps each area to its allowed imports', () => {
    const violations: string[] = [];
    for (const file of sourceFiles()) {
      const area = areaOf(file);
      const allowed = ALLOWED[area]!;
      const text = readFileSync(file, 'utf8');
      // Static imports and the adapters' on-demand import('…') alike.
      for (const match of text.matchAll(/(?:from |import\()'(\.{1,2}\/[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), match[1]!).replace(/\.js$/, '.ts');
        const targetArea = areaOf(target);
        if (targetArea === area || allowed.includes('*') || allowed.includes(targetArea)) continue;
        violations.push(`${path.relative(ROOT, file)} imports ${match[1]} (${area} may import: ${allowed.join(', ') || 'nothing'})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('starts the CLI without what only some projects use: HTTP sources, targets, emulators, CSV parsing, JSON error locating', () => {
    // Every static, non-type import reachable from cli.ts (what Node loads before any command runs).
    const files = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (files.has(file)) return;
      files.add(file);
      for (const match of readFileSync(file, 'utf8').matchAll(/^(?:import|export)(?!\s+type\s)[^;]*?from '([^']+)';/gms)) {
        const spec = match[1]!;
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
        else if (!spec.startsWith('node:')) packages.add(spec.split('/')[0]!);
      }
    };
    visit(path.join(SRC, 'cli.ts'));
    const loaded = [...files].map((f) => path.relative(SRC, f).split(path.sep).join('/'));
    expect(loaded).toContain('service/runtime.ts');
    expect(packages).toContain('knex');
    // csv-parse and jsonc-parser load with the first CSV file or broken JSON text (createRequire).
    expect([...packages].filter((p) => ['undici', 'fast-xml-parser', 'csv-parse', 'jsonc-parser'].includes(p))).toEqual([]);
    // Their request builders (pure functions, for preview and check) may load; clients, targets and emulators not.
    const adapters = /^(sources\/(woocommerce|shopify|shopware)\.ts|http\/|targets\/(runmyaccounts|billecta)\/(client|target|emulator|xml)\.ts)/;
    expect(loaded.filter((f) => adapters.test(f))).toEqual([]);
  });

  it('keeps money out of floating point: no parseFloat in src/', () => {
    const offenders = sourceFiles().filter((f) => /\bparseFloat\s*\(|\.toFixed\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(ROOT, f))).toEqual([]);
  });
});
