import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The tiers whose files take longest start first, so that with two files at a time the run does
 * not end on one long file while the other worker idles. Within a tier, Vitest's own order
 * (slowest of the last run first, or the largest file on a fresh clone).
 */
const TIER_ORDER = ['bench', 'reliability', 'e2e', 'integration', 'infra', 'unit'];

/**
 * Vitest sequencer: the tiers in `TIER_ORDER`, each in Vitest's order.
 *
 * @example
 * // vitest.config.ts
 * test: { sequence: { sequencer: SlowTiersFirst } }
 */
export class SlowTiersFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const tier = (spec: TestSpecification) => {
      const index = TIER_ORDER.indexOf(spec.project.name);
      return index === -1 ? TIER_ORDER.length : index;
    };
    // Array.prototype.sort is stable: Vitest's order holds within a tier.
    return (await super.sort(files)).sort((a, b) => tier(a) - tier(b));
  }
}
