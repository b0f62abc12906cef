import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, version as esbuildVersion } from 'esbuild';
import { writeAtomically } from './bundle-loader';

/** The project's folder: esbuild's working directory, which the inputs' paths are relative to. */
const PROJECT_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * Where the bundles are written: in `node_modules/.cache`, the folder tools use for what can be
 * rebuilt at any time (`npm ci` empties it).
 */
export const WORKER_BUNDLE_DIR = join(PROJECT_DIR, 'node_modules/.cache/tripsync-local');

/** A bundle a function worker loads: the code and its source map, side by side. */
export interface WorkerBundle {
  /** The CommonJS file. */
  file: string;
  /** Its source map, read only when a stack trace is formatted. */
  sourceMap: string;
}

/**
 * What a bundle was built from: each input file's size and modification time, as esbuild's
 * metafile lists them. A later process reuses the bundle while no input changed, as build tools'
 * caches do, rather than bundling the SDK again.
 */
interface BuildRecord extends WorkerBundle {
  inputs: Record<string, [size: number, mtimeMs: number]>;
}

/**
 * How every worker bundle is built. The packages resolve as in the deployed bundles
 * (`lib/realtime-function.ts`): through their ES module entry (`module`) first, so esbuild keeps
 * only the SDK commands a handler uses instead of every command of a client's CommonJS build, and
 * a worker has less to load. The output stays CommonJS, which `local/bundle-loader.ts` runs
 * through `node:vm`; a `vm.Script` has no loader for `import()`, so the SDK's lazy imports of
 * Node's modules become `require` calls, made at the same moment.
 */
const BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  supported: { 'dynamic-import': false },
  target: 'node20',
  sourcemap: 'external',
  sourcesContent: false,
} as const satisfies BuildOptions;

/** One bundle per entry and process: a stack started again in the same process reuses it. */
const bundles = new Map<string, Promise<WorkerBundle>>();

/**
 * Bundles one of our TypeScript modules (a handler, the worker's container) with everything it
 * imports, the AWS SDK and Powertools included, into one CommonJS file that a function worker
 * loads (`local/bundle-loader.ts`), and returns its paths. `preload` modules (the benchmark's
 * instrumentation, as a Lambda layer's wrapper script would load) run first, in the same
 * bundle, so they see the SDK modules the handler uses.
 *
 * One file, as each deployed function is one esbuild bundle: a worker compiles it once, from
 * V8's code cache after the first time, instead of resolving and compiling the SDK's modules one
 * by one on every cold start. The bundle is rebuilt only when one of its inputs, or the way it
 * is built, changed.
 *
 * Files are named by their content's hash and written under a temporary name first, so stacks in
 * several processes can bundle the same module at once.
 *
 * @example
 * const { file } = await workerBundle(new URL('../lambdas/send.ts', import.meta.url).href);
 */
export function workerBundle(moduleUrl: string, preload: string[] = []): Promise<WorkerBundle> {
  const entry = fileURLToPath(moduleUrl);
  const input = buildInput(
    entry,
    preload.map((url) => fileURLToPath(url)),
  );
  // A bundle built another way (another entry, other options, another esbuild) is not reused.
  const key = [JSON.stringify(input), JSON.stringify(BUILD_OPTIONS), esbuildVersion].join('\n');
  let bundle = bundles.get(key);
  if (bundle === undefined) {
    const record = join(WORKER_BUNDLE_DIR, `${bundleName(entry)}-${hashOf(key)}.json`);
    const built = reusable(record);
    bundle = built ? Promise.resolve(built) : writeBundle(entry, input, record);
    bundles.set(key, bundle);
    // A failed build is not cached: the next stack tries again (the source may be fixed).
    bundle.catch(() => bundles.delete(key));
  }
  return bundle;
}

/** The generated entry that runs the preloads: an input of the build with no file. */
const PRELOAD_ENTRY_SUFFIX = '-with-preloads.js';

/**
 * What esbuild starts from: the module itself or, with preloads, an entry that imports them
 * first (ES imports run in order) and exports the module's exports. Imports rather than
 * `require`, which would make esbuild keep every export of the modules they reach, the SDK
 * clients' unused commands included.
 */
function buildInput(entry: string, preload: string[]): BuildOptions {
  if (preload.length === 0) return { entryPoints: [entry] };
  return {
    stdin: {
      contents: [
        ...preload.map((path) => `import ${JSON.stringify(path)};`),
        `export * from ${JSON.stringify(entry)};`,
      ].join('\n'),
      resolveDir: dirname(entry),
      sourcefile: `${bundleName(entry)}${PRELOAD_ENTRY_SUFFIX}`,
      loader: 'js',
    },
  };
}

/** The bundle `record` describes, if it was written and none of its inputs changed since. */
function reusable(record: string): WorkerBundle | undefined {
  let built: BuildRecord;
  try {
    built = JSON.parse(readFileSync(record, 'utf8')) as BuildRecord;
  } catch {
    return undefined; // not built yet, or unreadable: built again
  }
  if (!existsSync(built.file) || !existsSync(built.sourceMap)) return undefined;
  for (const [path, [size, mtimeMs]] of Object.entries(built.inputs)) {
    const stats = statSync(join(PROJECT_DIR, path), { throwIfNoEntry: false });
    if (stats?.size !== size || stats.mtimeMs !== mtimeMs) return undefined;
  }
  return { file: built.file, sourceMap: built.sourceMap };
}

async function writeBundle(
  entry: string,
  input: BuildOptions,
  record: string,
): Promise<WorkerBundle> {
  const name = bundleName(entry);
  const result = await build({
    ...input,
    // Source map paths are relative to the output file, so esbuild is told where it will be.
    outfile: join(WORKER_BUNDLE_DIR, `${name}.cjs`),
    absWorkingDir: PROJECT_DIR,
    ...BUILD_OPTIONS,
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles.find((f) => f.path.endsWith('.cjs'))?.text;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'))?.text;
  if (code === undefined || map === undefined)
    throw new Error(`esbuild wrote no bundle for ${entry}`);
  const file = join(WORKER_BUNDLE_DIR, `${name}-${hashOf(code + map)}.cjs`);
  const sourceMap = `${file}.map`;
  mkdirSync(WORKER_BUNDLE_DIR, { recursive: true });
  if (!existsSync(file)) {
    // The map first: once the code is there, both are.
    writeAtomically(sourceMap, map);
    writeAtomically(file, code);
  }
  const inputs: BuildRecord['inputs'] = {};
  for (const path of Object.keys(result.metafile.inputs)) {
    if (basename(path).endsWith(PRELOAD_ENTRY_SUFFIX)) continue;
    const stats = statSync(join(PROJECT_DIR, path));
    inputs[path] = [stats.size, stats.mtimeMs];
  }
  writeAtomically(record, JSON.stringify({ file, sourceMap, inputs } satisfies BuildRecord));
  removeOldBundles(name, file);
  return { file, sourceMap };
}

/** How long an earlier bundle of a module is kept: a stack started before the change may still load it. */
const OLD_BUNDLE_MS = 24 * 60 * 60 * 1000;

/**
 * Removes the files of this module's earlier bundles (code, map, code caches) that are a day
 * old, so that the cache does not grow by a bundle of the SDK at every change to `lambdas/`.
 */
function removeOldBundles(name: string, current: string): void {
  const before = Date.now() - OLD_BUNDLE_MS;
  /** `<name>-<16-character hash>.cjs` and the files named after it. */
  const ours = (entry: string) =>
    entry.startsWith(`${name}-`) && /^[\w-]{16}\.cjs/.test(entry.slice(name.length + 1));
  for (const entry of readdirSync(WORKER_BUNDLE_DIR)) {
    const path = join(WORKER_BUNDLE_DIR, entry);
    if (!ours(entry) || path.startsWith(current)) continue;
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats !== undefined && stats.mtimeMs < before) rmSync(path, { force: true });
  }
}

function bundleName(entry: string): string {
  return basename(entry).replace(/\.[cm]?[jt]s$/, '');
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 16);
}
