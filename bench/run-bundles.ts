import { BASELINES, HANDLER_NAMES, synthesizeBundles } from './bundles';
import { measureColdStarts } from './cold-start';
import { bundleFigures, coldStartFigures } from './figures';
import type { BenchMode } from './modes';
import { type Output, progress } from './output';

/**
 * Sections 1 and 2: the bundles CDK builds (sizes, largest inputs, SDK clients carried) and
 * their cold starts in fresh processes, against baseline bundles built the same way.
 *
 * @example
 * await runBundleSections(MODES.quick, { figures: [], details: {} });
 */
export async function runBundleSections(mode: BenchMode, output: Output): Promise<void> {
  progress('synthesizing the stack (CDK bundles every handler with esbuild)…');
  const bundles = synthesizeBundles();
  try {
    output.figures.push(...bundleFigures(bundles));
    output.details.bundles = {
      synthMs: Math.round(bundles.synthMs),
      handlers: bundles.handlers,
      baselines: bundles.baselines,
    };
    progress(`cold starts: ${mode.coldStartRuns} fresh processes per bundle, interleaved…`);
    const files: Record<string, string> = {};
    for (const name of HANDLER_NAMES) {
      const bundle = bundles.handlers[name];
      if (!bundle) throw new Error(`no bundle was built for ${name}`);
      files[name] = bundle.file;
    }
    for (const name of Object.keys(BASELINES) as (keyof typeof BASELINES)[]) {
      files[name] = bundles.baselines[name].file;
    }
    const coldStarts = await measureColdStarts(files, mode.coldStartRuns, {
      warmUp: mode.coldStartWarmUp,
    });
    output.figures.push(...coldStartFigures(coldStarts as Parameters<typeof coldStartFigures>[0]));
    output.details.coldStarts = coldStarts;
  } finally {
    bundles.cleanup();
  }
}
