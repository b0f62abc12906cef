import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../client/src/backoff';

describe('backoffDelay', () => {
  it('draws uniformly below min(cap, base × 2^attempt): full jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, cap, draw) => {
          const bound = Math.min(cap, base * 2 ** attempt);
          const delay = backoffDelay(attempt, base, cap, () => draw);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(bound);
          expect(delay).toBe(Math.floor(draw * bound));
        },
      ),
    );
  });

  it('doubles the bound with each attempt until the cap', () => {
    const top = () => 0.999_999;
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelay(a, 1000, 30_000, top))).toEqual([
      999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999,
    ]);
  });

  it('can be 0, so a crowd of clients does not retry in one wave', () => {
    expect(backoffDelay(5, 1000, 30_000, () => 0)).toBe(0);
  });
});
