/**
 * `npm run docs:figures [-- --render-only] [-- --allow-partial]`: publishes the last measured
 * runs as docs/performance.md and docs/reliability.md, and the expected fan-out times on AWS of
 * docs/performance-on-aws.md.
 *
 * 1. Copies `bench/results.json` (written by `npm run bench`) and `reports/reliability.json`
 *    (written by `npm run test:reliability`) into docs/data/, where they are committed; both
 *    sources are gitignored. A source that is missing leaves the committed data as it is.
 * 2. Renders both pages from docs/data/ (scripts/figures-pages.ts), and the generated block of
 *    docs/performance-on-aws.md.
 *
 * Only complete runs are published: a quick benchmark, one with a section that failed, or a
 * short reliability load (what `npm test` leaves behind) is refused unless `--allow-partial`.
 * `--render-only` skips step 1, e.g. after changing how the pages are rendered.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BenchResults } from '../bench/report';
import {
  AWS_PAGE,
  FIGURES_PAGES,
  fromRoot,
  type ReliabilityReport,
  renderPerformancePage,
  renderReliabilityPage,
  withAwsBlock,
} from './figures-pages';

const { values } = parseArgs({
  options: {
    'render-only': { type: 'boolean', default: false },
    'allow-partial': { type: 'boolean', default: false },
  },
});

/** Why a source is not a complete run, or undefined when it is. */
const incomplete = {
  performance(results: BenchResults): string | undefined {
    if (results.mode !== 'full') return `is a ${results.mode} run; run \`npm run bench\``;
    if (results.errors.length > 0) {
      return `has sections that failed (${results.errors.map((e) => e.section).join(', ')})`;
    }
    return undefined;
  },
  reliability(report: ReliabilityReport): string | undefined {
    const mode = report.load?.mode;
    if (mode !== 'long') {
      return `is from a ${mode ?? 'partial'} run (no long load); run \`npm run test:reliability\``;
    }
    return undefined;
  },
};

function publish(): string[] {
  const done: string[] = [];
  // Every source is checked before any is copied: a refused one leaves docs/data/ as it was.
  const copies: Array<{ source: string; data: string }> = [];
  for (const name of ['performance', 'reliability'] as const) {
    const { source, data } = FIGURES_PAGES[name];
    if (values['render-only']) continue;
    if (!existsSync(fromRoot(source))) {
      done.push(`${data}: kept (no ${source})`);
      continue;
    }
    const reason = incomplete[name](JSON.parse(readFileSync(fromRoot(source), 'utf8')));
    if (reason !== undefined && !values['allow-partial']) {
      throw new Error(`${source} ${reason}, or pass --allow-partial to publish it anyway`);
    }
    copies.push({ source, data });
    done.push(`${data}: copied from ${source}${reason ? ` (partial: ${reason})` : ''}`);
  }
  for (const { source, data } of copies) copyFileSync(fromRoot(source), fromRoot(data));

  const performance = FIGURES_PAGES.performance;
  const bench = JSON.parse(readFileSync(fromRoot(performance.data), 'utf8')) as BenchResults;
  writeFileSync(fromRoot(performance.page), renderPerformancePage(bench));
  done.push(`${performance.page}: rendered from ${performance.data}`);
  const awsPage = readFileSync(fromRoot(AWS_PAGE.page), 'utf8');
  writeFileSync(fromRoot(AWS_PAGE.page), withAwsBlock(awsPage, bench));
  done.push(`${AWS_PAGE.page}: its expected times rendered from ${performance.data}`);

  const reliability = FIGURES_PAGES.reliability;
  const report = JSON.parse(readFileSync(fromRoot(reliability.data), 'utf8')) as ReliabilityReport;
  writeFileSync(fromRoot(reliability.page), renderReliabilityPage(report));
  done.push(`${reliability.page}: rendered from ${reliability.data}`);
  return done;
}

try {
  process.stdout.write(`${publish().join('\n')}\n`);
} catch (error) {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
