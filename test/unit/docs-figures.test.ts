import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  AWS_PAGE,
  FIGURES_PAGES,
  fromRoot,
  renderPerformancePage,
  renderReliabilityPage,
  withAwsBlock,
} from '../../scripts/figures-pages';

// docs/performance.md and docs/reliability.md are rendered from the measured runs committed in
// docs/data/, never edited by hand: a page that differs from what its data renders fails here.
// (Biome leaves these two pages alone: it would pad their tables, and this test checks them.)

const read = (path: string) => readFileSync(fromRoot(path), 'utf8');
const HOW_TO_FIX =
  'do not edit it by hand: measure again and run `npm run docs:figures`, or, to keep the ' +
  'committed data, `npm run docs:figures -- --render-only`';

describe('generated figures pages', () => {
  const RENDERERS = { performance: renderPerformancePage, reliability: renderReliabilityPage };

  test.each(['performance', 'reliability'] as const)(
    'docs/%s.md is exactly what its data in docs/data/ renders',
    (kind) => {
      // Prepare
      const { data, page } = FIGURES_PAGES[kind];

      // Act
      const rendered = RENDERERS[kind](JSON.parse(read(data)));

      // Assess
      expect(read(page), `${page} differs from what ${data} renders; ${HOW_TO_FIX}`).toBe(rendered);
    },
  );

  test('docs/performance-on-aws.md shows the expected times its data renders', () => {
    // Prepare
    const page = read(AWS_PAGE.page);

    // Act
    const rendered = withAwsBlock(page, JSON.parse(read(FIGURES_PAGES.performance.data)));

    // Assess: the hand-written part is kept, the block is the latest run's.
    expect(page, `${AWS_PAGE.page}'s expected times differ from its data; ${HOW_TO_FIX}`).toBe(
      rendered,
    );
  });

  test('the pages show the command, the date and the machine of the published runs', () => {
    // Prepare
    const bench = JSON.parse(read(FIGURES_PAGES.performance.data));
    const reliability = JSON.parse(read(FIGURES_PAGES.reliability.data));

    // Act
    const performancePage = read(FIGURES_PAGES.performance.page);
    const reliabilityPage = read(FIGURES_PAGES.reliability.page);

    // Assess: complete runs only (the script refuses others), with their provenance.
    expect(bench.mode).toBe('full');
    expect(reliability.load.mode).toBe('long');
    expect(performancePage).toContain('`npm run bench` (full mode)');
    expect(performancePage).toContain(bench.startedAt.slice(0, 10));
    expect(performancePage).toContain(`${bench.machine.cpus} × ${bench.machine.cpuModel}`);
    expect(reliabilityPage).toContain('`npm run test:reliability` (the long load)');
    expect(reliabilityPage).toContain(reliability.generatedAt.slice(0, 10));
    expect(reliabilityPage).toContain(`Node ${reliability.node}`);
  });
});
