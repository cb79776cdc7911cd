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

/**
 * Guardrails: a mapping expression that needs more than this is a mistake, not a workload.
 * Its work is counted in evaluation steps, not in time: JSONata's own timeout measures wall
 * time from the start of an evaluation, which includes every other task the event loop runs
 * between the evaluation's steps and any pause of a busy machine. An order would then map on
 * a quiet day and be quarantined on a loaded one; a budget of steps decides the same way for
 * the same order every time.
 */
export const EXPRESSION_LIMITS = { steps: 100_000, stack: 200, sequence: 10_000 } as const;

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

/** JSONata calls the function bound to this symbol before every step of an evaluation. */
const EVALUATE_ENTRY = Symbol.for('jsonata.__evaluate_entry');
/** Where the steps are counted: on the evaluation's own base frame, so concurrent evaluations of one expression count apart. */
const STEPS_TAKEN = Symbol('kontor.stepsTaken');

function countStep(_expr: unknown, _input: unknown, environment: { base: { [STEPS_TAKEN]?: number } }): void {
  const base = environment.base;
  const taken = (base[STEPS_TAKEN] ?? 0) + 1;
  base[STEPS_TAKEN] = taken;
  if (taken > EXPRESSION_LIMITS.steps) {
    throw { code: 'K0002', message: `the expression took more than ${EXPRESSION_LIMITS.steps} evaluation steps` };
  }
}

/** Compile once; syntax errors throw ExpressionError with the offending position. */
export function compileExpression(text: string): CompiledExpression {
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(text, { stack: EXPRESSION_LIMITS.stack, sequence: EXPRESSION_LIMITS.sequence });
  } catch (error) {
    throw describe(error);
  }
  // jsonata.d.ts types the name as a string; JSONata binds symbols as well (createFrame's bindings).
  compiled.assign(EVALUATE_ENTRY as unknown as string, countStep);
  const slow = async (input: unknown) => {
    try {
      return await compiled.evaluate(input, refusing);
    } catch (error) {
      throw describe(error);
    }
  };
  const fast = fastPath(compiled.ast() as unknown as AstNode);
  return {
    text,
    evaluate(input) {
      if (fast) {
        const value = fast(input);
        if (value !== FALLBACK) return Promise.resolve(value);
      }
      return slow(input);
    },
  };
}

/**
 * The common conditions of mapping files (`$not(test) and total_minor >= 0`, `meta.kind =
 * "deposit"`, `country in ["CH", "LI"]`) evaluated directly, because JSONata's evaluator is
 * asynchronous at every step and costs more than mapping the rest of an order. Only a subset
 * whose JSONata result is certain is taken: field paths over plain objects, literals, = != < <=
 * > >=, and, or, in, $not. Anything else, and any value outside that subset (an array, an
 * object compared, a type JSONata would refuse), answers FALLBACK and JSONata decides.
 * test/mapping.expressions.test.ts checks both agree on random inputs.
 */
const FALLBACK = Symbol('fallback');
type Fast = (input: unknown) => unknown;

interface AstNode {
  type: string;
  value?: unknown;
  steps?: AstNode[];
  lhs?: AstNode;
  rhs?: AstNode;
  arguments?: AstNode[];
  procedure?: AstNode;
  expressions?: AstNode[];
  [other: string]: unknown;
}

const isPrimitive = (v: unknown): v is string | number | boolean | null => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
/** JSONata's truth of a value, where it is plain: undefined is false. */
const truth = (v: unknown): boolean | typeof FALLBACK => (v === undefined ? false : typeof v === 'boolean' ? v : FALLBACK);
const PLAIN_KEYS = new Set(['type', 'name', 'value', 'position', 'steps', 'lhs', 'rhs', 'arguments', 'procedure', 'expressions']);

export function fastPath(node: AstNode): Fast | null {
  if (Object.keys(node).some((k) => !PLAIN_KEYS.has(k))) return null; // predicates, stages, groups…
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const v = node.value;
      return isPrimitive(v) ? () => v : null;
    }
    case 'path': {
      const steps = node.steps ?? [];
      if (steps.length === 0 || steps.some((st) => st.type !== 'name' || typeof st.value !== 'string' || Object.keys(st).some((k) => !PLAIN_KEYS.has(k)))) return null;
      const names = steps.map((st) => st.value as string);
      return (input) => {
        let cur: unknown = input;
        for (const name of names) {
          if (Array.isArray(cur)) return FALLBACK;
          if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, name)) return undefined;
          cur = (cur as Record<string, unknown>)[name];
        }
        return Array.isArray(cur) ? FALLBACK : cur;
      };
    }
    case 'function': {
      const args = node.arguments ?? [];
      if (node.procedure?.type !== 'variable' || node.procedure.value !== 'not' || args.length !== 1) return null;
      const arg = fastPath(args[0]!);
      if (!arg) return null;
      return (input) => {
        const v = arg(input);
        if (v === FALLBACK) return FALLBACK;
        if (v === undefined) return undefined;
        return typeof v === 'boolean' ? !v : FALLBACK;
      };
    }
    case 'binary': {
      const op = node.value;
      if (op === 'in') {
        const list = node.rhs?.type === 'unary' && node.rhs.value === '[' ? node.rhs.expressions : undefined;
        if (!list || !list.every((e) => (e.type === 'string' || e.type === 'number') && Object.keys(e).every((k) => PLAIN_KEYS.has(k)))) return null;
        const values = list.map((e) => e.value);
        const lhs = node.lhs && fastPath(node.lhs);
        if (!lhs) return null;
        return (input) => {
          const v = lhs(input);
          if (v === FALLBACK) return FALLBACK;
          if (v === undefined) return false;
          return typeof v === 'string' || typeof v === 'number' ? values.includes(v) : FALLBACK;
        };
      }
      const lhs = node.lhs && fastPath(node.lhs);
      const rhs = node.rhs && fastPath(node.rhs);
      if (!lhs || !rhs) return null;
      switch (op) {
        case 'and':
        case 'or':
          return (input) => {
            const l = truth(lhs(input));
            if (l === FALLBACK) return FALLBACK;
            if (op === 'and' ? !l : l) return l;
            const r = rhs(input);
            return r === FALLBACK ? FALLBACK : truth(r);
          };
        case '=':
        case '!=':
          return (input) => {
            const l = lhs(input);
            const r = rhs(input);
            if (l === FALLBACK || r === FALLBACK) return FALLBACK;
            if (l === undefined || r === undefined) return false;
            if (!isPrimitive(l) || !isPrimitive(r)) return FALLBACK;
            return op === '=' ? l === r : l !== r;
          };
        case '<':
        case '<=':
        case '>':
        case '>=':
          return (input) => {
            const l = lhs(input);
            const r = rhs(input);
            if (l === FALLBACK || r === FALLBACK) return FALLBACK;
            // JSONata refuses a defined operand that is neither number nor string, even against nothing.
            const orderable = (v: unknown) => v === undefined || typeof v === 'number' || typeof v === 'string';
            if (!orderable(l) || !orderable(r)) return FALLBACK;
            if (l === undefined || r === undefined) return undefined;
            const comparable = (typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string');
            if (!comparable) return FALLBACK;
            return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
          };
        default:
          return null;
      }
    }
    default:
      return null;
  }
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
