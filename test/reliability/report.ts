import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where each reliability test file drops its figures, merged at the end of the run. */
export const FRAGMENTS_DIR = fileURLToPath(new URL('../../reports/reliability/', import.meta.url));
export const REPORT_FILE = fileURLToPath(
  new URL('../../reports/reliability.json', import.meta.url),
);

export type Figure = number | string | boolean;

/**
 * Records measured figures of one part of the suite (merged into `reports/reliability.json`
 * and printed when the run ends). Call it with what was observed, never with a target.
 *
 * @example
 * recordFigures('badInput', { cases: 74, crashes: 0 });
 */
export function recordFigures(section: string, figures: Record<string, Figure>): void {
  mkdirSync(FRAGMENTS_DIR, { recursive: true });
  const file = `${FRAGMENTS_DIR}${section}.json`;
  let previous: Record<string, Figure> = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // first figures of this section
  }
  writeFileSync(file, `${JSON.stringify({ ...previous, ...figures }, null, 2)}\n`);
}

/** Starts a run with no fragments left from an earlier one. */
export function clearFragments(): void {
  rmSync(FRAGMENTS_DIR, { recursive: true, force: true });
}

/** Merges the fragments into the report file and returns the text table printed at the end. */
export function writeReport(): string {
  let sections: string[] = [];
  try {
    sections = readdirSync(FRAGMENTS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    return 'reliability: no figures were recorded';
  }
  const report: Record<string, Record<string, Figure>> = {};
  for (const file of sections) {
    report[file.replace(/\.json$/, '')] = JSON.parse(
      readFileSync(`${FRAGMENTS_DIR}${file}`, 'utf8'),
    );
  }
  const document = { generatedAt: new Date().toISOString(), node: process.version, ...report };
  writeFileSync(REPORT_FILE, `${JSON.stringify(document, null, 2)}\n`);
  const lines = ['', 'Reliability figures (reports/reliability.json):'];
  for (const [section, figures] of Object.entries(report)) {
    lines.push(`  ${section}`);
    for (const [name, value] of Object.entries(figures))
      lines.push(`    ${name.padEnd(44)} ${value}`);
  }
  return lines.join('\n');
}
