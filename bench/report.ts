/** One row of the benchmark's table and of `bench/results.json`. */
export interface Figure {
  /** Stable key, e.g. `coldStart.send.vsBaseline`. */
  id: string;
  /** The numbering: Bundles, Cold start, Send latency, Fan-out, DynamoDB, Capacity. */
  section: string;
  label: string;
  value: number;
  unit: string;
  /** What the value is compared with, measured in the same run. */
  baseline?: { label: string; value: number; unit?: string };
  /** `value / baseline.value`. */
  ratio?: number;
  /** The target; `met` is null when this run cannot judge it (quick mode). */
  target?: { text: string; met: boolean | null };
  note?: string;
}

/** What `npm run bench` writes to `bench/results.json`. */
export interface BenchResults {
  mode: 'full' | 'quick';
  startedAt: string;
  durationMs: number;
  machine: {
    node: string;
    cpus: number;
    cpuModel: string;
    totalMemoryMiB: number;
    /** One-minute load average at the start and the end: a busy machine skews every figure. */
    loadAverage: { start: number; end: number };
  };
  figures: Figure[];
  /** Section-specific measurements behind the figures (per-bundle inputs, samples, counts). */
  details: Record<string, unknown>;
  /** Sections that failed, with their error; an empty list on a complete run. */
  errors: Array<{ section: string; error: string }>;
}

/**
 * A number as the table prints it: thousands separated, at most `digits` decimals.
 *
 * @example
 * formatNumber(1234.5, 1); // '1,234.5'
 */
export function formatNumber(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '';
  return value.toLocaleString('en-US', { maximumFractionDigits: digits });
}

function withUnit(value: number, unit: string | undefined): string {
  if (unit === undefined || unit === '') return formatNumber(value, 2);
  if (unit === '×') return `${formatNumber(value, 2)}×`;
  return `${formatNumber(value, unit === 'ms' && value < 10 ? 2 : 1)} ${unit}`;
}

/**
 * Value, baseline, ratio, target and whether it was met (`missed` when not), as every table of
 * the figures shows them (the printed one, the Markdown one, docs/performance.md).
 *
 * @example
 * figureCells(results.figures[0], '**no**'); // ['359.4 KB', '296.1 KB bare Secrets Manager client', '1.21×', '≤ 400 KB', 'yes']
 */
export function figureCells(figure: Figure, missed: string): string[] {
  const met =
    figure.target === undefined
      ? ''
      : figure.target.met === null
        ? 'n/a'
        : figure.target.met
          ? 'yes'
          : missed;
  return [
    withUnit(figure.value, figure.unit),
    figure.baseline
      ? `${withUnit(figure.baseline.value, figure.baseline.unit ?? figure.unit)} ${figure.baseline.label}`
      : '',
    figure.ratio === undefined ? '' : `${formatNumber(figure.ratio, 2)}×`,
    figure.target?.text ?? '',
    met,
  ];
}

/**
 * The table `npm run bench` prints: figure, value, baseline, ratio, target, met.
 *
 * @example
 * console.log(formatTable(results.figures));
 */
export function formatTable(figures: readonly Figure[]): string {
  const header = ['Figure', 'Value', 'Baseline (same run)', 'Ratio', 'Target', 'Met'];
  const rows: string[][] = [];
  let section = '';
  for (const figure of figures) {
    if (figure.section !== section) {
      section = figure.section;
      rows.push([`[${section}]`, '', '', '', '', '']);
    }
    rows.push([figure.label, ...figureCells(figure, 'NO')]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * The notes behind the table's figures (largest bundle inputs, p99s, phases), one per line.
 *
 * @example
 * console.log(formatNotes(results.figures));
 */
export function formatNotes(figures: readonly Figure[]): string {
  return figures
    .filter((f) => f.note)
    .map((f) => `- ${f.label}: ${f.note}`)
    .join('\n');
}

/**
 * The same table in Markdown, for the README's Performance section.
 *
 * @example
 * writeFileSync('table.md', formatMarkdown(results.figures));
 */
export function formatMarkdown(figures: readonly Figure[]): string {
  const lines = [
    '| Figure | Value | Baseline (same run) | Ratio | Target | Met |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const figure of figures) {
    const cells = [`${figure.section}: ${figure.label}`, ...figureCells(figure, '**no**')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
