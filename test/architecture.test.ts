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
      for (const match of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), match[1]!).replace(/\.js$/, '.ts');
        const targetArea = areaOf(target);
        if (targetArea === area || allowed.includes('*') || allowed.includes(targetArea)) continue;
        violations.push(`${path.relative(ROOT, file)} imports ${match[1]} (${area} may import: ${allowed.join(', ') || 'nothing'})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps money out of floating point: no parseFloat in src/', () => {
    const offenders = sourceFiles().filter((f) => /\bparseFloat\s*\(|\.toFixed\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(ROOT, f))).toEqual([]);
  });
});
