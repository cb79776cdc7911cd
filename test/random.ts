/** Seeded randomness for property loops: the same cases on every run. */

/** Deterministic 32-bit LCG (Numerical Recipes constants), yielding numbers in [0, 1). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Integer in [lo, hi] from a [0, 1) generator. */
export function intIn(next: () => number, lo: number, hi: number): number {
  return lo + Math.floor(next() * (hi - lo + 1));
}
