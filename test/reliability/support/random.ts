/**
 * A seeded pseudo-random generator (mulberry32): a randomized run can be replayed from the
 * seed it reports.
 *
 * @example
 * const random = seededRandom(42);
 * random.int(10); // 0..9, the same sequence for the same seed
 */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** An integer in [0, n). */
    int: (n: number) => Math.floor(next() * n),
    /** One element of a non-empty array. */
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    /** `k` distinct elements, in random order (partial Fisher–Yates). */
    sample: <T>(items: readonly T[], k: number): T[] => {
      const copy = [...items];
      const n = Math.min(k, copy.length);
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(next() * (copy.length - i));
        [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
      }
      return copy.slice(0, n);
    },
  };
}

/** A seed for this run: `RELIABILITY_SEED` to replay one, otherwise from the clock. */
export function runSeed(): number {
  const fixed = process.env.RELIABILITY_SEED;
  return fixed !== undefined ? Number(fixed) : Date.now() % 2 ** 31;
}
