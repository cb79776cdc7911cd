/**
 * jsonArrayItems cuts a JSON array read in pieces into its items' texts: the same values
 * JSON.parse gives for the whole text, however the text is cut into chunks, with each item's
 * line and column; the first mistake named where jsonc-parser (which the file source uses for a
 * file read whole) names it; and a text that is no array (or envelope around one) told apart.
 */
import fc from 'fast-check';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import { jsonArrayItems, JsonStreamSyntaxError, NotAJsonArrayError, type JsonArrayItem } from '../src/sources/json-array-stream.js';

async function* piecesOf(text: string, cuts: readonly number[]): AsyncGenerator<string> {
  let from = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < text.length).sort((a, b) => a - b)) {
    yield text.slice(from, cut);
    from = cut;
  }
  yield text.slice(from);
}

async function itemsOf(text: string, envelopes: readonly string[] = [], cuts: readonly number[] = [], check = true): Promise<JsonArrayItem[]> {
  const out: JsonArrayItem[] = [];
  for await (const item of jsonArrayItems(piecesOf(text, cuts), envelopes, { check })) out.push(item);
  return out;
}

/** One-character chunks: every boundary a chunk can have. */
const everyCut = (text: string) => Array.from({ length: text.length }, (_, i) => i);

/** The 0-based offset of a line and column in `text`. */
function offsetOf(text: string, line: number, column: number): number {
  const lines = text.split('\n');
  return lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;
}

/** Where jsonc-parser puts the first mistake of the whole text, as `line:column: invalid JSON (code)`. */
function wholeTextError(text: string): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0]!;
  const before = text.slice(0, first.offset).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}: invalid JSON (${printParseErrorCode(first.error)})`;
}

async function errorOf(text: string, envelopes: readonly string[] = []): Promise<string> {
  try {
    await itemsOf(text, envelopes);
  } catch (error) {
    if (error instanceof JsonStreamSyntaxError) return error.message;
    throw error;
  }
  throw new Error(`no error for ${text}`);
}

const TRICKY = [
  '[',
  '  {"id": 1, "note": "brackets ] } [ { and a quote \\" and a backslash \\\\", "lines": [[1, 2], {"a": []}]},',
  '  "a string item, with \\"]\\" inside",',
  '  -12.5e3,',
  '  true, false, null,',
  '  {"emoji": "🧾 Grüße", "escaped": "\\u00e9\\ud83e\\uddfe", "empty": {}},',
  '  [],',
  '  7',
  ']',
].join('\n');

describe('jsonArrayItems', () => {
  it('yields the items JSON.parse gives, with their positions, for any cut into chunks', async () => {
    const whole = JSON.parse(TRICKY) as unknown[];
    for (const cuts of [[], everyCut(TRICKY)]) {
      const items = await itemsOf(TRICKY, [], cuts);
      expect(items.map((i) => JSON.parse(i.text) as unknown)).toEqual(whole);
      expect(items.map((i) => i.index)).toEqual(whole.map((_, i) => i));
      for (const item of items) expect(TRICKY.slice(offsetOf(TRICKY, item.at.line, item.at.column)).startsWith(item.text)).toBe(true);
    }
  });

  it('agrees with JSON.parse on generated arrays, formatted and cut at random, plain or in an envelope', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue(), { maxLength: 12 }),
        fc.constantFrom(undefined, 2, '\t'),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (values, indent, enveloped, rawCuts) => {
          const text = JSON.stringify(enveloped ? { orders: values } : values, null, indent);
          const cuts = rawCuts.map((c) => c % Math.max(1, text.length));
          const items = await itemsOf(text, enveloped ? ['orders'] : [], cuts);
          // Compared as JSON.parse gives them (-0 becomes 0 in JSON, as it does on the wire).
          expect(items.map((i) => JSON.parse(i.text) as unknown)).toEqual(JSON.parse(JSON.stringify(values)));
          for (const item of items) expect(text.slice(offsetOf(text, item.at.line, item.at.column)).startsWith(item.text)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads the array of a one-key envelope, whitespace and escapes in its key included', async () => {
    const text = ' \n{ "ord\\u0065rs" :\n [ {"id": 1}, {"id": 2} ] \n}\n';
    expect((await itemsOf(text, ['orders'])).map((i) => i.text)).toEqual(['{"id": 1}', '{"id": 2}']);
    expect(await itemsOf('{"data": []}', ['data'])).toEqual([]);
    expect(await itemsOf(' [ ] ')).toEqual([]);
  });

  it('tells a text that is no array apart from a broken one', async () => {
    const notAnArray = [
      ['{"id": 1, "total": "10.00"}', []],
      ['{"id": 1, "total": "10.00"}', ['orders']],
      ['{"order": {"id": 1}}', ['order', 'orders']],
      ['{"orders": [{"id": 1}], "count": 1}', ['orders']],
      ['42', []],
      ['"text"', []],
      ['{}', ['orders']],
    ] as const;
    for (const [text, envelopes] of notAnArray) {
      await expect(itemsOf(text, envelopes), text).rejects.toBeInstanceOf(NotAJsonArrayError);
      // The whole text is JSON: the file source reads it whole then.
      expect(() => JSON.parse(text) as unknown).not.toThrow();
    }
  });

  it('names the first mistake where jsonc-parser names it in the whole text', async () => {
    const broken = [
      '[1, 2,]',
      '[{"a": 1} {"b": 2}]',
      '[\n  {"a": 1},\n  {"b": \n',
      '[{"a": 1}]\n x',
      '[\n  {"id": 1},\n  {"id": tru}\n]',
      '[\n  {"id": 1},\n  {"id": 2, "note": "ok"\n]',
      '[,1]',
      '[1 2]',
      '[',
      '',
      '   ',
      '[{"a": 1}] [2]',
      '[{"a": "unterminated]',
      '[1, 2',
      '[1,',
      '[{"a": 1}]\n]',
    ];
    for (const text of broken) {
      expect(() => JSON.parse(text) as unknown, text).toThrow();
      expect(await errorOf(text), JSON.stringify(text)).toBe(wholeTextError(text));
    }
    // In an envelope, too.
    const enveloped = '{"orders": [\n  {"id": 1},\n  {"id": 2,}\n]}';
    expect(await errorOf(enveloped, ['orders'])).toBe(wholeTextError(enveloped));
    for (const text of ['{"orders": [1] ]', '{"orders": [1]', '{"orders" [1]}', '{"orders":', '{"orders": [1, ', '{"ord']) {
      expect(await errorOf(text, ['orders']), text).toBe(wholeTextError(text));
    }
  });

  it('follows only the structure without check: items are cut, not parsed', async () => {
    const text = '[{"id": tru}, {"id": 2}]';
    expect((await itemsOf(text, [], [], false)).map((i) => i.text)).toEqual(['{"id": tru}', '{"id": 2}']);
    await expect(itemsOf(text)).rejects.toBeInstanceOf(JsonStreamSyntaxError);
  });
});
