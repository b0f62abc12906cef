/**
 * `npm run bench [-- --quick] [-- --out file.json] [-- --only bundles,client,stack,peer]`:
 * measures what users pay for on AWS (bundle size, cold start, DynamoDB requests, fan-out time,
 * the send function's CPU per post), the client library's size, the local stack's capacity, and
 * fan-out against the Architect sandbox run by its own harness, each figure against a baseline
 * measured in the same run. Prints a table and writes `bench/results.json`. A benchmark, not a
 * test: it fails only when it cannot measure.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runClientSection } from './client-bundle';
import { MODES } from './modes';
import { type Output, progress } from './output';
import { type BenchResults, formatNotes, formatTable } from './report';
import { runBundleSections } from './run-bundles';
import { runPeerSections } from './run-peer';
import { runStackSections } from './run-stack';

const SECTIONS = {
  bundles: runBundleSections,
  client: runClientSection,
  stack: runStackSections,
  peer: runPeerSections,
} as const;
type Section = keyof typeof SECTIONS;

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: fileURLToPath(new URL('./results.json', import.meta.url)) },
      only: { type: 'string' },
    },
  });
  const sections = (values.only?.split(',').map((s) => s.trim()) ??
    Object.keys(SECTIONS)) as Section[];
  for (const section of sections) {
    if (!(section in SECTIONS)) {
      throw new Error(
        `--only: unknown section ${JSON.stringify(section)}; use ${Object.keys(SECTIONS).join(', ')}`,
      );
    }
  }
  return { mode: MODES[values.quick ? 'quick' : 'full'], out: values.out, sections };
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { mode, out, sections } = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0] as number;
  const output: Output = { figures: [], details: {} };
  const errors: BenchResults['errors'] = [];
  progress(`${mode.name} run: ${sections.join(', ')}`);
  for (const section of sections) {
    try {
      await SECTIONS[section](mode, output);
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`${section} failed: ${text}`);
      errors.push({ section, error: text });
    }
  }
  // The stack's sections run in the order that suits it (latency after fan-out); the table
  // follows the numbering. The sort is stable: figures keep their order in a section.
  const figures = output.figures.sort((a, b) => a.section.localeCompare(b.section));
  const results: BenchResults = {
    mode: mode.name,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
      loadAverage: { start: loadAtStart, end: loadavg()[0] as number },
    },
    figures,
    details: output.details,
    errors,
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const { machine } = results;
  process.stdout.write(
    `\n${formatTable(figures)}\n\nNotes:\n${formatNotes(figures)}\n\n` +
      `${mode.name} run in ${Math.round(results.durationMs / 1000)} s on ${machine.cpus} × ` +
      `${machine.cpuModel}, Node ${machine.node}; load average ${loadAtStart.toFixed(2)} → ` +
      `${machine.loadAverage.end.toFixed(2)}. Results: ${out}\n`,
  );
  if (errors.length > 0) process.exitCode = 1;
}

await main();
