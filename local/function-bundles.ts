import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Where the bundles are written: inside the project, so that the packages they leave out
 * resolve from its `node_modules`, and in `node_modules/.cache`, the folder tools use for
 * what can be rebuilt at any time (`npm ci` empties it).
 */
const CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/tripsync-local/', import.meta.url));

/**
 * The packages a bundle leaves out and loads from `node_modules` with `require`: large CommonJS
 * builds that are cheaper to load as they are, and that a preload must share with the handler
 * (the benchmark's instrumentation patches the SDK's clients). Everything else (our modules,
 * ES-module-only packages such as jose and p-limit) goes into the bundle.
 */
const SHARED_PACKAGES = ['@aws-sdk/*', '@smithy/*', '@aws-crypto/*', '@aws-lambda-powertools/*'];

/** One bundle per module and process: a stack started again in the same process reuses it. */
const bundles = new Map<string, Promise<string>>();

/**
 * Bundles one of our TypeScript modules (a handler, the worker's container, an instrumentation
 * preload) into one CommonJS file that a function worker loads with a plain `require`, and
 * returns the file's path.
 *
 * Our own modules go into the bundle; the SDK and Powertools stay out and load from
 * `node_modules` (`SHARED_PACKAGES`). So a worker compiles one file of ours instead of
 * registering a TypeScript loader and transforming module by module on every cold start, and a
 * preload sees the same SDK modules as the handler. CommonJS, not ESM: a worker's `require` of
 * the SDK's CommonJS builds is cheaper than `import` of them. An inline source map keeps stack
 * traces on the `.ts` lines.
 *
 * The file is named by its content's hash, written once and never rewritten, so stacks in
 * several processes can bundle the same module at once.
 *
 * @example
 * const path = await workerBundle(new URL('../lambdas/send.ts', import.meta.url).href);
 * require(path).handler; // in a worker
 */
export function workerBundle(moduleUrl: string): Promise<string> {
  let bundle = bundles.get(moduleUrl);
  if (bundle === undefined) {
    bundle = writeBundle(fileURLToPath(moduleUrl));
    bundles.set(moduleUrl, bundle);
    // A failed build is not cached: the next stack tries again (the source may be fixed).
    bundle.catch(() => bundles.delete(moduleUrl));
  }
  return bundle;
}

async function writeBundle(entry: string): Promise<string> {
  const name = basename(entry).replace(/\.[cm]?[jt]s$/, '');
  // Source map paths are relative to the output file, so esbuild is told where it will be.
  const draft = join(CACHE_DIR, `${name}.cjs`);
  const result = await build({
    entryPoints: [entry],
    outfile: draft,
    bundle: true,
    external: SHARED_PACKAGES,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcesContent: false,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.text;
  if (code === undefined) throw new Error(`esbuild wrote no bundle for ${entry}`);
  const hash = createHash('sha256').update(code).digest('base64url').slice(0, 16);
  const path = join(CACHE_DIR, `${name}-${hash}.cjs`);
  if (!existsSync(path)) {
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written beside its final name, then renamed: a worker never reads a half-written file.
    const partial = `${path}.${process.pid}.partial`;
    writeFileSync(partial, code);
    renameSync(partial, path);
  }
  return path;
}
