/**
 * JSONata expressions in mapping files: selecting orders, routing lines, detecting deposits.
 *
 * Why JSONata: a pure query language with no statements, no I/O and no access to JavaScript
 * prototypes (`constructor`, `__proto__` read as undefined), maintained by the JSONata
 * project with a TypeScript declaration, and with guardrails for run time, stack depth and
 * sequence size (2.2). Each expression is compiled once, when its mapping loads.
 *
 * Expressions only ever answer yes/no or give ids: their results are never amounts. The
 * order they see carries amounts as integer `*_minor` fields for comparisons only.
 */
import jsonata from 'jsonata';
import { formatRate } from '../books/index.js';
import type { CanonicalOrder, OrderAddress, OrderLine } from '../sources/order.js';

/** Guardrails: a mapping expression that runs longer than this is a mistake, not a workload. */
export const EXPRESSION_LIMITS = { timeout: 100, stack: 200, sequence: 10_000 } as const;

export class ExpressionError extends Error {
  override name = 'ExpressionError';
  constructor(
    message: string,
    /** Character offset in the expression text, when the error has one. */
    readonly position?: number,
  ) {
    super(message);
  }
}

export interface CompiledExpression {
  readonly text: string;
  evaluate(input: unknown): Promise<unknown>;
}

interface JsonataError {
  code?: string;
  message?: string;
  position?: number;
  token?: string;
}

function describe(error: unknown): ExpressionError {
  const e = error as JsonataError;
  const message = e?.message ?? String(error);
  return new ExpressionError(e?.code ? `${message} (JSONata ${e.code})` : message, e?.position);
}

/**
 * Functions whose results change from run to run. A mapping must map the same order the same
 * way every time (a re-run must not book anything twice), so they are replaced by ones that
 * refuse.
 */
const NOT_DETERMINISTIC = ['now', 'millis', 'random'] as const;
const refusing = Object.fromEntries(
  NOT_DETERMINISTIC.map((name) => [
    name,
    () => {
      throw { code: 'K0001', message: `$${name}() is not available in mappings: the same order must always map the same way` };
    },
  ]),
);

/** Compile once; syntax errors throw ExpressionError with the offending position. */
export function compileExpression(text: string): CompiledExpression {
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(text, { ...EXPRESSION_LIMITS });
  } catch (error) {
    throw describe(error);
  }
  return {
    text,
    async evaluate(input) {
      try {
        return await compiled.evaluate(input, refusing);
      } catch (error) {
        throw describe(error);
      }
    },
  };
}

/** What a `when` expression answered, as a strict yes or no. */
export async function evaluateCondition(expr: CompiledExpression, input: unknown, what: string): Promise<boolean> {
  const value = await expr.evaluate(input);
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new ExpressionError(`${what} must be true or false, but gave ${JSON.stringify(value)}`);
  return value;
}

/** A list of ids (strings or whole numbers) from an expression such as `deposit_orders`. */
export async function evaluateIds(expr: CompiledExpression, input: unknown, what: string): Promise<string[]> {
  const value = await expr.evaluate(input);
  if (value === undefined || value === null) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((v) => {
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    throw new ExpressionError(`${what} must give order ids (text or whole numbers), but gave ${JSON.stringify(v)}`);
  });
}

function addressView(a: OrderAddress) {
  return { street: a.street, street2: a.street2, zipcode: a.zipcode, city: a.city, state: a.state, country: a.country };
}

export function lineView(line: OrderLine) {
  return {
    kind: line.kind,
    sku: line.sku,
    name: line.name,
    quantity: line.quantity,
    categories: line.categories,
    vat_rate: formatRate(line.vatRate),
    net_minor: line.net,
    tax_minor: line.tax,
  };
}

/**
 * The order as expressions see it: snake_case, plain data, amounts as integer `*_minor`.
 * docs/mapping.md#expressions lists these fields; keep the two in step.
 */
export function orderView(order: CanonicalOrder) {
  const delivery = order.customer.shipping ?? order.customer.billing;
  return {
    id: order.id,
    number: order.number,
    status: order.status,
    test: order.test,
    created_at: order.createdAt,
    completed_at: order.completedAt,
    currency: order.currency,
    prices_include_tax: order.pricesIncludeTax,
    country: delivery.country,
    customer: {
      id: order.customer.id,
      email: order.customer.email,
      first_name: order.customer.firstName,
      last_name: order.customer.lastName,
      company: order.customer.company,
      vat_id: order.customer.vatId,
      billing: addressView(order.customer.billing),
      shipping: order.customer.shipping ? addressView(order.customer.shipping) : null,
    },
    lines: order.lines.map(lineView),
    coupons: order.coupons.map((c) => c.code),
    payment: order.payment ? { method: order.payment.method, title: order.payment.title, paid_at: order.payment.paidAt } : null,
    refunds: order.refunds.map((r) => ({ id: r.id, reason: r.reason, total_minor: r.total })),
    meta: order.meta,
    total_minor: order.total,
  };
}

export type OrderView = ReturnType<typeof orderView>;
