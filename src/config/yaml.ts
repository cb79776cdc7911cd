/**
 * YAML documents that remember where each value came from, so every problem in
 * config.yaml or a mapping file is reported as `FILE:LINE:COL: message`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue, type SourcePosition } from '../errors.js';

export interface YamlSource {
  /** The file as people should read it in messages (relative to the working directory). */
  file: string;
  absolutePath: string;
  doc: Document;
  lineCounter: LineCounter;
}

export function displayPath(absolutePath: string): string {
  const rel = path.relative(process.cwd(), absolutePath);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : absolutePath;
}

export function readYaml(absolutePath: string): YamlSource {
  const file = displayPath(absolutePath);
  let text: string;
  try {
    text = readFileSync(absolutePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw ConfigError.at({ file }, code === 'ENOENT' ? 'file not found' : `cannot read: ${code ?? String(error)}`);
  }
  return parseYaml(text, absolutePath);
}

export function parseYaml(text: string, absolutePath: string): YamlSource {
  const file = displayPath(absolutePath);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        // linePos is only set with prettyErrors; the line counter knows every offset.
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { file, line, col, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  return { file, absolutePath, doc, lineCounter };
}

export function positionOfOffset(source: YamlSource, offset: number): SourcePosition {
  const { line, col } = source.lineCounter.linePos(offset);
  return { file: source.file, line, col };
}

/**
 * Where the value at `keyPath` sits. If the path does not exist, the nearest existing
 * ancestor is named. With `atKey`, a map entry's key is named instead of its value.
 */
export function positionOf(source: YamlSource, keyPath: readonly PropertyKey[], atKey = false): SourcePosition {
  let node: unknown = source.doc.contents;
  let best: Node | null = (node as Node | null) ?? null;
  for (let i = 0; i < keyPath.length; i++) {
    const segment = keyPath[i];
    const last = i === keyPath.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      if (last && atKey && pair.key) {
        best = pair.key as Node;
        break;
      }
      node = pair.value;
      best = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (!node) break;
      best = node as Node;
    } else {
      break;
    }
  }
  const offset = best?.range?.[0] ?? 0;
  return positionOfOffset(source, offset);
}

function valueAt(data: unknown, keyPath: readonly PropertyKey[]): unknown {
  let value: unknown = data;
  for (const segment of keyPath) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

/** Turn zod issues into ConfigIssues positioned on the YAML nodes they concern. */
export function issuesFromZod(source: YamlSource, data: unknown, error: z.ZodError): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const keyPath = issue.path;
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ ...positionOf(source, [...keyPath, key], true), message: `unknown key "${key}"${where(keyPath)}` });
      }
      continue;
    }
    const value = valueAt(data, keyPath);
    const name = keyPath.length > 0 ? String(keyPath[keyPath.length - 1]) : '(document)';
    if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
      issues.push({ ...positionOf(source, keyPath.slice(0, -1)), message: `missing required key "${name}"${where(keyPath.slice(0, -1))}` });
      continue;
    }
    issues.push({ ...positionOf(source, keyPath), message: `${keyPath.map(String).join('.') || '(document)'}: ${issue.message}` });
  }
  return issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

function where(keyPath: readonly PropertyKey[]): string {
  return keyPath.length > 0 ? ` in ${keyPath.map(String).join('.')}` : '';
}
