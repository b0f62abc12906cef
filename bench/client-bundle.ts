import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { bundleClient } from '../client/build';
import type { BenchMode } from './modes';
import { type Output, progress } from './output';
import type { Figure } from './report';

/** Issue 8's budget for the client library: 4 KB minified and gzipped. */
export const CLIENT_BUDGET_BYTES = 4 * 1024;

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The client as an app ships it, measured. */
export interface ClientBundleSize {
  /** Minified ESM bundle (esbuild, ES2020), as `npm run build:client` writes it. */
  minifiedBytes: number;
  /** The same, gzipped at zlib's default level (what `gzip` and most servers use). */
  gzipBytes: number;
  budgetBytes: number;
  /** Every file in the bundle, relative to the repository: the client's sources only. */
  inputs: string[];
}

/**
 * Bundles the client exactly as `npm run build:client` does and measures it.
 *
 * @example
 * const { gzipBytes } = await measureClientBundle(); // ≤ CLIENT_BUDGET_BYTES
 */
export async function measureClientBundle(): Promise<ClientBundleSize> {
  const { code, metafile } = await bundleClient();
  return {
    minifiedBytes: code.byteLength,
    gzipBytes: gzipSync(code).byteLength,
    budgetBytes: CLIENT_BUDGET_BYTES,
    inputs: Object.keys(metafile.inputs).map((path) => relative(REPO_ROOT, path) || path),
  };
}

/**
 * The client bundle's row of section 1.
 *
 * @example
 * output.figures.push(clientBundleFigure(await measureClientBundle()));
 */
export function clientBundleFigure(size: ClientBundleSize): Figure {
  const foreign = size.inputs.filter((path) => !path.startsWith('client/src/'));
  return {
    id: 'bundle.client.gzip',
    section: '1. Bundles',
    label: 'client library (client/), minified + gzipped',
    value: Math.round((size.gzipBytes / 1024) * 100) / 100,
    unit: 'KB',
    target: { text: '≤ 4 KB', met: size.gzipBytes <= size.budgetBytes },
    note:
      `${size.minifiedBytes} B minified, ${size.gzipBytes} B gzipped; ` +
      (foreign.length === 0
        ? `${size.inputs.length} files of client/src, no dependencies`
        : `bundles code from outside client/src: ${foreign.join(', ')}`),
  };
}

/**
 * The client section: bundles and measures the client library.
 *
 * @example
 * await runClientSection(MODES.quick, { figures: [], details: {} });
 */
export async function runClientSection(_mode: BenchMode, output: Output): Promise<void> {
  progress('bundling the client library…');
  const size = await measureClientBundle();
  output.figures.push(clientBundleFigure(size));
  output.details.clientBundle = size;
}
