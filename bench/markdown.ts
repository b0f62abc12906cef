/**
 * Prints the table of a finished run as Markdown, for the README's Performance section:
 * `npx tsx bench/markdown.ts [bench/results.json]`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchResults, formatMarkdown } from './report';

const file = process.argv[2] ?? fileURLToPath(new URL('./results.json', import.meta.url));
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const { machine } = results;
process.stdout.write(
  `${formatMarkdown(results.figures)}\n\n_${results.mode} run of ${results.startedAt.slice(0, 10)}, ${Math.round(results.durationMs / 1000)} s on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverage.start.toFixed(1)} → ${machine.loadAverage.end.toFixed(1)}._\n`,
);
