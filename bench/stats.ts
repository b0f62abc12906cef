/** Medians and tail percentiles over repeated samples: never a single sample. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * The nearest-rank percentile of sorted samples (`p` in [0, 100]). With fewer than 100
 * samples, p99 is the largest sample.
 *
 * @example
 * percentile([1, 2, 3, 4], 50); // 2
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/**
 * Summarizes samples: count, min, median, p90, p99 and max.
 *
 * @example
 * summarize([12, 10, 11]).median; // 11
 */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/**
 * `value / baseline`, rounded to two decimals; NaN when the baseline is 0 or missing.
 *
 * @example
 * ratio(84, 42); // 2
 */
export function ratio(value: number, baseline: number): number {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return Math.round((value / baseline) * 100) / 100;
}

/**
 * Shuffles a copy of `items` (Fisher–Yates), so interleaved runs do not always meet the
 * machine in the same order.
 *
 * @example
 * shuffled(['a', 'b', 'c']);
 */
export function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
