/**
 * Billecta's published JSON Schemas of its view models (test/fixtures/billecta) as the contract
 * of every body kontor sends: the request builders' tests and the loopback flows (every body
 * the emulator received) check against them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv04 from 'ajv-draft-04';
import { isCalendarDate } from '../src/books/index.js';
import { ROOT } from './helpers.js';

const SCHEMAS = path.join(ROOT, 'test', 'fixtures', 'billecta');

/**
 * The schemas are NJsonSchema output of .NET enums: integers with their names in x-enumNames.
 * Billecta's JSON carries the names ("DeliveryMethod": "Email"), so each such enum is rewritten
 * to a string enum of its names: names pass, integers fail (see test/fixtures/billecta/README.md).
 */
function enumsByName(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(enumsByName);
  if (node === null || typeof node !== 'object') return node;
  const o = node as Record<string, unknown>;
  if (Array.isArray(o['x-enumNames'])) {
    const { 'x-enumNames': names, enum: _values, type: _type, ...rest } = o;
    return { ...rest, type: 'string', enum: names };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, enumsByName(v)]));
}

const int = (min: number, max: number) => ({ type: 'number' as const, validate: (n: number) => Number.isInteger(n) && n >= min && n <= max });

/** .NET's formats. A DateTime takes a local time without an offset as well as one with. */
export const ajv = new Ajv04.default({
  strict: true,
  allErrors: true,
  allowUnionTypes: true,
  formats: {
    guid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    'date-time': (s: string) => {
      const m = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$/.exec(s);
      return m !== null && isCalendarDate(m[1]!);
    },
    int32: int(-(2 ** 31), 2 ** 31 - 1),
    int64: int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    double: { type: 'number', validate: (n: number) => Number.isFinite(n) },
    byte: /^[A-Za-z0-9+/]*={0,2}$/,
  },
});

export type View = 'DebtorView' | 'ProductView' | 'InvoiceActionEntryView' | 'VerificationInvoiceActionEntryView' | 'RegisterPaymentView';

const validators = new Map<View, ReturnType<typeof ajv.compile>>();
export function validatorOf(view: View) {
  let v = validators.get(view);
  if (!v) {
    const schema = JSON.parse(readFileSync(path.join(SCHEMAS, `ViewModels.v1.${view}.json`), 'utf8')) as Record<string, unknown>;
    v = ajv.compile(enumsByName(schema) as Record<string, unknown>);
    validators.set(view, v);
  }
  return v;
}

/** The view model a request's body is, by method and path (without the query). */
export function viewOf(request: { method: string; path: string; body: unknown }): View | null {
  if (request.method === 'GET' || request.body === null || request.body === undefined || request.body === '') return null;
  if (request.path.split('?')[0] === '/v1/debtors/debtor') return 'DebtorView';
  if (request.path.split('?')[0] === '/v1/products/product') return 'ProductView';
  if (request.path.split('?')[0] === '/v1/invoice/action') return 'InvoiceActionEntryView';
  if (request.path.split('?')[0] === '/v1/invoice/verificationinvoice') return 'VerificationInvoiceActionEntryView';
  if (request.path.split('?')[0] === '/v1/invoice/payment') return 'RegisterPaymentView';
  throw new Error(`no view model known for ${request.method} ${request.path}`);
}

/** Why `body` of `method path` fails its view model's schema; null when it passes or has no body. */
export function schemaErrors(request: { method: string; path: string; body: unknown }): string | null {
  const view = viewOf(request);
  if (!view) return null;
  const validate = validatorOf(view);
  return validate(request.body) ? null : `${request.method} ${request.path} as ${view}: ${ajv.errorsText(validate.errors)}`;
}

