/**
 * The direct evaluation of simple conditions (expressions.ts fastPath) must answer exactly as
 * JSONata does: random expressions of the subset over random inputs, both ways.
 */
import fc from 'fast-check';
import jsonata from 'jsonata';
import { describe, expect, it } from 'vitest';
import { compileExpression, EXPRESSION_LIMITS, fastPath } from '../src/mapping/expressions.js';

const field = fc.constantFrom('test', 'total_minor', 'country', 'meta.kind', 'meta.missing', 'customer.company', 'lines', 'flag', 'nothing', 'n');
const literal = fc.oneof(fc.constantFrom('"CH"', '"deposit"', '""', 'true', 'false', '0', '5', '-3', '"5"'), fc.integer({ min: -10, max: 10 }).map(String));
const leaf = fc.oneof(field, literal);
const comparison = fc.tuple(leaf, fc.constantFrom('=', '!=', '<', '<=', '>', '>='), leaf).map(([a, op, b]) => `${a} ${op} ${b}`);
const membership = fc.tuple(field, fc.array(fc.constantFrom('"CH"', '"LI"', '5', '0'), { minLength: 1, maxLength: 3 })).map(([a, l]) => `${a} in [${l.join(', ')}]`);
const condition: fc.Arbitrary<string> = fc.letrec<{ c: string }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    membership,
    field,
    fc.tuple(tie('c'), fc.constantFrom('and', 'or'), tie('c')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('c').map((c) => `$not(${c})`),
  ),
})).c;

const value = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.integer({ min: -10, max: 10 }), fc.constantFrom('CH', 'LI', 'deposit', '', '5'), fc.constant([1, 2]), fc.constant({ a: 1 }));
const input = fc.record(
  {
    test: value,
    total_minor: value,
    country: value,
    meta: fc.oneof(fc.constant(undefined), fc.record({ kind: value }, { requiredKeys: [] }), fc.constant([{ kind: 'deposit' }])),
    customer: fc.oneof(fc.constant(null), fc.record({ company: value }, { requiredKeys: [] })),
    lines: value,
    flag: value,
    n: value,
  },
  { requiredKeys: [] },
);

async function viaJsonata(expr: string, data: unknown): Promise<{ value?: unknown; error?: string }> {
  try {
    return { value: await jsonata(expr).evaluate(JSON.parse(JSON.stringify(data ?? null))) };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? 'error' };
  }
}

async function viaKontor(expr: string, data: unknown): Promise<{ value?: unknown; error?: string }> {
  try {
    return { value: await compileExpression(expr).evaluate(JSON.parse(JSON.stringify(data ?? null))) };
  } catch (error) {
    return { error: /\(JSONata (\w+)\)/.exec((error as Error).message)?.[1] ?? 'error' };
  }
}

describe('simple conditions evaluated directly agree with JSONata', () => {
  it('on random expressions of the subset and random inputs', async () => {
    await fc.assert(
      fc.asyncProperty(condition, input, async (expr, data) => {
        expect(await viaKontor(expr, data), expr).toEqual(await viaJsonata(expr, data));
      }),
      { numRuns: 3000, seed: 4711 },
    );
  });

  it('takes the direct way for the conditions mapping files use, and leaves the rest to JSONata', () => {
    const ast = (e: string) => jsonata(e).ast() as unknown as Parameters<typeof fastPath>[0];
    for (const e of ['$not(test) and total_minor >= 0', 'meta.kind = "deposit"', 'country in ["CH", "LI"]', 'line.quantity > 5 or order.currency != "CHF"']) expect(fastPath(ast(e)), e).not.toBeNull();
    for (const e of ['lines[sku = "A"]', '$count(lines) > 1', '$contains(sku, "GIFT")', 'a.b.(c)', '{"a": 1}.a = 1']) expect(fastPath(ast(e)), e).toBeNull();
  });
});

describe('the step budget of an evaluation', () => {
  const fibonacci = (n: number) => `($f := function($n){ $n <= 1 ? 1 : $f($n-1) + $f($n-2) }; $f(${n}))`;

  it('stops a shallow but endless amount of work that the stack limit does not see, with the same error on every run', async () => {
    const runaway = compileExpression(fibonacci(25));
    const errors = await Promise.all([1, 2, 3].map(() => runaway.evaluate({}).then(() => 'no error', (e: Error) => e.message)));
    expect(errors).toEqual(Array(3).fill(`the expression took more than ${EXPRESSION_LIMITS.steps} evaluation steps (JSONata K0002)`));
  });

  it('is counted per evaluation: concurrent evaluations of one expression, each within the budget, all succeed', async () => {
    // fib(18) takes more than half the budget (fib(19) exceeds it), so a shared count would fail the second.
    const heavy = compileExpression(fibonacci(18));
    expect(await Promise.all([heavy.evaluate({}), heavy.evaluate({}), heavy.evaluate({})])).toEqual([4181, 4181, 4181]);
  });

  it('does not depend on time: an evaluation whose steps wait on a busy event loop still succeeds', async () => {
    // The old wall-clock timeout (100 ms) failed this: the event loop is blocked 150 ms between two steps.
    const simple = compileExpression('$count(lines[quantity > 1]) > 0');
    const pending = simple.evaluate({ lines: [{ quantity: 2 }] });
    const until = Date.now() + 150;
    while (Date.now() < until);
    expect(await pending).toBe(true);
  });
});
