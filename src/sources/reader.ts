/**
 * Reading a shop's JSON record field by field: every failure names the field path
 * (`line_items[2].total`) and money strings are parsed exactly into minor units.
 */
import { BooksError, parseDecimal, ZERO, type Minor, type ParseOptions } from '../books/index.js';
import { RecordError } from '../errors.js';

export type Json = Record<string, unknown>;

export class Reader {
  constructor(readonly exponent: number) {}

  object(parent: Json, key: string, path: string): Json {
    const v = parent[key];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RecordError('expected an object', path);
    return v as Json;
  }

  array(parent: Json, key: string, path: string, optional = false): Json[] {
    const v = parent[key];
    if (v === undefined && optional) return [];
    if (!Array.isArray(v)) throw new RecordError('expected a list', path);
    return v as Json[];
  }

  text(parent: Json, key: string, path: string, optional = false): string {
    const v = parent[key];
    if ((v === undefined || v === null) && optional) return '';
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') throw new RecordError('expected text', path);
    return v;
  }

  money(parent: Json, key: string, path: string, options: ParseOptions = {}): Minor {
    const v = parent[key];
    if (v === undefined || v === null) {
      if (options.emptyIsZero) return ZERO;
      throw new RecordError('amount is missing', path);
    }
    if (typeof v !== 'string' && typeof v !== 'number') throw new RecordError(`expected a decimal amount, got ${JSON.stringify(v)}`, path);
    try {
      return parseDecimal(v, this.exponent, options);
    } catch (error) {
      throw new RecordError((error as BooksError).message, path);
    }
  }

  utc(parent: Json, key: string, path: string, optional = false): string | null {
    const v = parent[key];
    if ((v === undefined || v === null || v === '') && optional) return null;
    if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.test(v)) {
      throw new RecordError('expected a GMT timestamp like 2026-10-24T19:47:09', path);
    }
    // WooCommerce's *_gmt fields are UTC without a zone designator.
    const hasZone = /[zZ]|[+-]\d{2}:?\d{2}$/.test(v);
    const date = new Date(hasZone ? v : `${v}Z`);
    // Date() rolls 2026-02-30 over into March; a shop's timestamp must be a real one.
    const rolledOver = !hasZone && !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) !== v.slice(0, 19);
    if (Number.isNaN(date.getTime()) || rolledOver) throw new RecordError(`"${v}" is not a valid timestamp`, path);
    return date.toISOString();
  }
}
