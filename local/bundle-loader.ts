/**
 * How a function worker loads its bundle (`local/function-bundles.ts`): compiled with V8's code
 * cache, and its stack frames mapped back to the `.ts` lines. Runs inside the worker, so it
 * imports only Node's modules.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
// `wrap` through the default export: Node's ES module loader does not name it as an export.
import Module, { createRequire, SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { cachedDataVersionTag } from 'node:v8';
import { Script } from 'node:vm';
import type { WorkerBundle } from './function-bundles';

/**
 * Runs a CommonJS bundle as `require` would, and returns its exports. Compiling a bundle that
 * carries the AWS SDK is most of a cold start's CPU, so the first worker to load it saves V8's
 * code cache beside it, and later workers, in any process of this Node version and flags, start
 * from that cache. The cache is made after the bundle ran, so it also holds the functions its
 * import called (V8 compiles a function when it is first called). A cache V8 rejects is written
 * again.
 *
 * @example
 * const { handler } = loadBundle('/repo/node_modules/.cache/tripsync-local/send-AbC.cjs');
 */
export function loadBundle(file: string): Record<string, unknown> {
  const cacheFile = codeCacheFile(file);
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), {
    filename: file,
    cachedData,
  });
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    writeAtomically(cacheFile, script.createCachedData());
  }
  return module.exports;
}

/**
 * Where {@link loadBundle} keeps a bundle's code cache for this process: one file per V8 version,
 * flags and CPU features (`v8.cachedDataVersionTag()`), which is what a cache depends on.
 *
 * @example
 * codeCacheFile('/repo/node_modules/.cache/tripsync-local/send-AbC.cjs'); // '…/send-AbC.cjs.<tag>.v8'
 */
export function codeCacheFile(bundleFile: string): string {
  return `${bundleFile}.${cachedDataVersionTag()}.v8`;
}

/**
 * Writes beside the final name, then renames: a reader never sees a half-written file.
 *
 * @example
 * writeAtomically('/repo/node_modules/.cache/tripsync-local/send-AbC.cjs', code);
 */
export function writeAtomically(path: string, data: string | Uint8Array): void {
  const partial = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
}

/**
 * Maps the stack frames in these bundles to the sources their source maps name, as
 * `--enable-source-maps` does for modules Node loads itself (it does not for code compiled
 * through `node:vm`). A bundle's map is read on the first stack trace with a frame in it.
 *
 * @example
 * mapStackTraces([{ file: '/repo/…/send-AbC.cjs', sourceMap: '/repo/…/send-AbC.cjs.map' }]);
 * new Error('x').stack; // "    at handler (/repo/lambdas/send.ts:42:11)"
 */
export function mapStackTraces(bundles: WorkerBundle[]): void {
  const maps = new Map<string, { sourceMap: string; map?: SourceMap }>(
    bundles.map(({ file, sourceMap }) => [file, { sourceMap }]),
  );
  const frameText = (frame: NodeJS.CallSite): string => {
    const text = frame.toString();
    const file = frame.getFileName();
    const line = frame.getLineNumber();
    const column = frame.getColumnNumber();
    const bundle = file ? maps.get(file) : undefined;
    if (bundle === undefined || line === null || column === null) return text;
    bundle.map ??= new SourceMap(JSON.parse(readFileSync(bundle.sourceMap, 'utf8')));
    const entry = bundle.map.findEntry(line - 1, column - 1) as Partial<{
      originalSource: string;
      originalLine: number;
      originalColumn: number;
    }>;
    if (entry.originalSource === undefined) return text;
    const source = resolve(dirname(bundle.sourceMap), entry.originalSource);
    const place = `${source}:${(entry.originalLine ?? 0) + 1}:${(entry.originalColumn ?? 0) + 1}`;
    return text.replace(`${file}:${line}:${column}`, place);
  };
  Error.prepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) =>
    [Error.prototype.toString.call(error), ...frames.map((f) => `    at ${frameText(f)}`)].join(
      '\n',
    );
}
