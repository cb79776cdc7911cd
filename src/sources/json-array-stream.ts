/**
 * The items of a JSON array read as a stream: a file holding `[order, order, …]`, or the same
 * array in a one-key envelope (`{"orders": […]}`), cut into the source text of each item
 * without reading the file whole. A scanner follows strings and nesting to find where each item
 * ends; each item's text is then JSON.parse's to check (V8's parser, as for a file read whole).
 *
 * The scanner checks what lies between the items itself (brackets, commas, the envelope, the
 * end of the text), so that a text it accepts is exactly a text JSON.parse would accept whole.
 * Where it finds a mistake, or an item does not parse, it names the line and column in the whole
 * text, as the file source does for a file read whole.
 */
import type * as Jsonc from 'jsonc-parser';
import { onFirstUse } from './on-first-use.js';

/** Only firstJsonError needs it, for a text that does not parse (~30 ms to load). */
const jsonc = onFirstUse<typeof Jsonc>('jsonc-parser');

/** A place in a text: 1-based line and column (UTF-16 code units, as editors count most characters). */
export interface TextPosition {
  line: number;
  column: number;
}

/** One item of the array: its source text, its index, and where it starts. */
export interface JsonArrayItem {
  text: string;
  index: number;
  at: TextPosition;
}

/** The text is not JSON: where, and what was expected there (jsonc-parser's codes). */
export class JsonStreamSyntaxError extends Error {
  constructor(
    readonly at: TextPosition,
    readonly code: string,
  ) {
    super(`${at.line}:${at.column}: invalid JSON (${code})`);
  }
}

/**
 * The text may well be JSON, but not an array or a one-key envelope around one (a single order,
 * an object with more keys): it cannot be read item by item. Read it whole instead.
 */
export class NotAJsonArrayError extends Error {}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** The first characters of JSON's tokens. */
const TOKEN_STARTS = '{}[]:,"-0123456789tfn';

function isSpace(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

/** Where the scanner stands between the items. */
type Phase =
  /** Before the first character that is not white space. */
  | 'start'
  /** After `{`: the envelope's key comes. */
  | 'envelope-key'
  /** After the envelope's key: `:` comes. */
  | 'envelope-colon'
  /** After `:`: the array comes. */
  | 'envelope-value'
  /** After `[`: an item or `]`. */
  | 'first-item'
  /** After `,`: an item. */
  | 'next-item'
  /** Inside an item. */
  | 'item'
  /** After an item: `,` or `]`. */
  | 'after-item'
  /** After the envelope's array: `}`. */
  | 'envelope-end'
  /** After the array (and its envelope): only white space. */
  | 'end';

/** What jsonc-parser says is missing when the text ends in each phase. */
const AT_THE_END: Record<Exclude<Phase, 'end'>, string> = {
  start: 'ValueExpected',
  'envelope-key': 'CloseBraceExpected',
  'envelope-colon': 'ColonExpected',
  'envelope-value': 'ValueExpected',
  'first-item': 'CloseBracketExpected',
  'next-item': 'ValueExpected',
  item: 'CloseBracketExpected',
  'after-item': 'CloseBracketExpected',
  'envelope-end': 'CloseBraceExpected',
};

/**
 * The items of the JSON array `chunks` hold (a file read piece by piece), in order. With
 * `check` (the default) each item's text must parse; without, only the structure is followed
 * (counting items costs no parsing). Throws JsonStreamSyntaxError at the first mistake, also
 * after items were yielded: a caller that must not act on part of a broken file reads it twice,
 * the first time only to check it. Throws NotAJsonArrayError when the text is no array of items.
 */
export async function* jsonArrayItems(chunks: AsyncIterable<string>, envelopes: readonly string[], options: { check?: boolean } = {}): AsyncGenerator<JsonArrayItem> {
  const check = options.check ?? true;
  let phase = 'start' as Phase;
  let enveloped = false;
  let line = 1;
  let column = 1;
  // Inside an item: nesting, whether inside a string and just after a backslash there.
  let depth = 0;
  let inString = false;
  let escaped = false;
  // The item's text so far (pieces of earlier chunks), where it started, and the key being read.
  let pieces: string[] = [];
  let itemAt: TextPosition = { line: 1, column: 1 };
  let index = 0;
  let key: string[] | null = null;
  let keyAt: TextPosition = { line: 1, column: 1 };
  const fail = (code: string): never => {
    throw new JsonStreamSyntaxError({ line, column }, code);
  };
  // A character no JSON token starts with is named as such, as jsonc-parser names it.
  const unexpected = (c: number, code: string): never => fail(TOKEN_STARTS.includes(String.fromCharCode(c)) ? code : 'InvalidSymbol');
  const finished = (text: string): JsonArrayItem => {
    const item = { text, index: index++, at: itemAt };
    if (check) checkItem(item);
    return item;
  };

  // The scanning itself is synchronous, per chunk: a loop that yields runs several times slower.
  const scan = (chunk: string, out: JsonArrayItem[]): void => {
    let start = phase === 'item' ? 0 : -1;
    // The item ends before `end` in this chunk: its text is what earlier chunks held and this one up to there.
    const endItem = (end: number) => {
      pieces.push(chunk.slice(start, end));
      out.push(finished(pieces.join('')));
      pieces = [];
    };
    let backslash = chunk.indexOf('\\');
    for (let i = 0; i < chunk.length; i++) {
      if (inString && !escaped && phase === 'item') {
        // Most of an order is text: skip to its next quote or backslash at once.
        const quote = chunk.indexOf('"', i);
        // Searched again only once passed: a chunk without one is searched once, not per string.
        if (backslash !== -1 && backslash < i) backslash = chunk.indexOf('\\', i);
        const next = quote === -1 ? backslash : backslash === -1 ? quote : Math.min(quote, backslash);
        const to = next === -1 ? chunk.length : next;
        column += to - i;
        i = to;
        if (i === chunk.length) break;
      }
      const c = chunk.charCodeAt(i);
      if (phase === 'item') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (depth === 0) {
              // A string item ends with its quote.
              endItem(i + 1);
              phase = 'after-item';
            }
          }
        } else if (c === QUOTE) {
          inString = true;
        } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
          depth++;
        } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          if (depth === 0) {
            // A number, true, false or null just before the array's end.
            if (c === CLOSE_BRACE) fail('CommaExpected');
            endItem(i);
            phase = enveloped ? 'envelope-end' : 'end';
          } else if (--depth === 0) {
            endItem(i + 1);
            phase = 'after-item';
          }
        } else if (depth === 0 && (c === COMMA || isSpace(c))) {
          endItem(i);
          phase = c === COMMA ? 'next-item' : 'after-item';
        }
      } else if (key !== null) {
        // The envelope's key, up to its closing quote.
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) {
          let name: unknown;
          try {
            name = JSON.parse(`"${key.join('')}"`);
          } catch {
            fail('InvalidSymbol');
          }
          key = null;
          if (!envelopes.includes(name as string)) throw new NotAJsonArrayError(`the object's first key is "${String(name)}", not ${envelopes.map((e) => `"${e}"`).join(' or ') || 'an envelope'}`);
          phase = 'envelope-colon';
        }
        if (key !== null) key.push(chunk[i]!);
      } else if (!isSpace(c)) {
        switch (phase) {
          case 'start':
            if (c === OPEN_BRACKET) phase = 'first-item';
            else if (c === OPEN_BRACE && envelopes.length > 0) {
              enveloped = true;
              phase = 'envelope-key';
            } else throw new NotAJsonArrayError('the text is not a JSON array');
            break;
          case 'envelope-key':
            if (c !== QUOTE) throw new NotAJsonArrayError('the object has no key');
            key = [];
            keyAt = { line, column };
            break;
          case 'envelope-colon':
            if (c !== COLON) unexpected(c, 'ColonExpected');
            phase = 'envelope-value';
            break;
          case 'envelope-value':
            if (c !== OPEN_BRACKET) throw new NotAJsonArrayError("the envelope's value is not an array");
            phase = 'first-item';
            break;
          case 'first-item':
          case 'next-item':
            if (c === CLOSE_BRACKET) {
              if (phase === 'next-item') fail('ValueExpected');
              phase = enveloped ? 'envelope-end' : 'end';
              break;
            }
            if (c === COMMA || c === COLON || c === CLOSE_BRACE) fail('ValueExpected');
            phase = 'item';
            itemAt = { line, column };
            start = i;
            depth = c === OPEN_BRACE || c === OPEN_BRACKET ? 1 : 0;
            inString = c === QUOTE;
            escaped = false;
            break;
          case 'after-item':
            if (c === COMMA) phase = 'next-item';
            else if (c === CLOSE_BRACKET) phase = enveloped ? 'envelope-end' : 'end';
            else unexpected(c, 'CommaExpected');
            break;
          case 'envelope-end':
            // More keys after the array: an object that is no envelope.
            if (c === COMMA) throw new NotAJsonArrayError('the object has more keys than its array');
            if (c !== CLOSE_BRACE) unexpected(c, 'CommaExpected');
            phase = 'end';
            enveloped = false;
            break;
          case 'end':
            unexpected(c, 'EndOfFileExpected');
        }
      }
      if (c === LF) {
        line++;
        column = 1;
      } else {
        column++;
      }
    }
    if (phase === 'item') pieces.push(chunk.slice(start));
  };
  for await (const chunk of chunks) {
    const out: JsonArrayItem[] = [];
    scan(chunk, out);
    yield* out;
  }
  if (phase === 'item' && depth === 0 && !inString) {
    // A number, true, false or null at the very end: the array is not closed.
    yield finished(pieces.join(''));
    phase = 'after-item';
  }
  // An item cut off by the end: its own text says best what is missing.
  if (phase === 'item' && check) checkItem({ text: pieces.join(''), index, at: itemAt });
  if (key !== null) throw new JsonStreamSyntaxError(keyAt, 'UnexpectedEndOfString');
  if (phase !== 'end') fail(AT_THE_END[phase]);
}

/** Throws JsonStreamSyntaxError, at the place in the whole text, when `item` does not parse. */
function checkItem(item: JsonArrayItem): void {
  try {
    JSON.parse(item.text);
  } catch {
    const found = firstJsonError(item.text);
    const at = found?.at ?? { line: 1, column: 1 };
    const line = item.at.line + at.line - 1;
    const column = at.line === 1 ? item.at.column + at.column - 1 : at.column;
    throw new JsonStreamSyntaxError({ line, column }, found?.code ?? 'InvalidSymbol');
  }
}

/**
 * Where the first JSON syntax error of `text` is, and its jsonc-parser code; null when it finds
 * none. JSON.parse's messages do not reliably carry a position on Node 20, so jsonc-parser (VS
 * Code's JSON scanner) locates it.
 */
export function firstJsonError(text: string): { at: TextPosition; code: string } | null {
  const { parse, printParseErrorCode } = jsonc();
  const errors: Jsonc.ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return null;
  const before = text.slice(0, first.offset).split('\n');
  return { at: { line: before.length, column: before[before.length - 1]!.length + 1 }, code: printParseErrorCode(first.error) };
}
