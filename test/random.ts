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

/** mulberry32: a small, fast, well-mixed 32-bit generator yielding numbers in [0, 1); the emulators' shops and the benchmark's orders. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded choices from a [0, 1) generator (e.g. `new Random(mulberry32(seed))`): the chaos run's and the benchmark's orders. */
export class Random {
  constructor(readonly next: () => number) {}
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return intIn(this.next, lo, hi);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** One of `options` by weight. */
  weighted<T>(options: readonly (readonly [T, number])[]): T {
    const total = options.reduce((a, [, w]) => a + w, 0);
    let r = this.next() * total;
    for (const [value, w] of options) {
      r -= w;
      if (r < 0) return value;
    }
    return options[options.length - 1]![0];
  }
}
