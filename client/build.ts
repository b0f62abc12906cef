/**
 * `npm run build:client`: builds the client for apps that do not compile its TypeScript
 * themselves: `client/dist/tripsync-client.js` (one ESM file, ES2020, minified, with a source
 * map) and, by `tsc -p client/tsconfig.build.json`, its declarations in `client/dist/types/`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';

export const CLIENT_ENTRY = fileURLToPath(new URL('./src/index.ts', import.meta.url));
const DIST = fileURLToPath(new URL('./dist/', import.meta.url));

/** How the client is bundled: for browsers and Node alike, nothing left to import. */
export const CLIENT_BUILD: BuildOptions = {
  entryPoints: [CLIENT_ENTRY],
  bundle: true,
  format: 'esm',
  // Browsers since 2020 (optional chaining, `??`); Node 14 and later.
  target: 'es2020',
  platform: 'neutral',
  minify: true,
  legalComments: 'none',
};

/**
 * Bundles the client in memory.
 *
 * @example
 * const { code } = await bundleClient();
 * console.log(code.byteLength);
 */
export async function bundleClient(
  overrides: BuildOptions = {},
): Promise<{ code: Uint8Array; map?: Uint8Array; metafile: Metafile }> {
  const result = await build({
    ...CLIENT_BUILD,
    ...overrides,
    write: false,
    metafile: true,
    outfile: `${DIST}tripsync-client.js`,
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js) throw new Error('esbuild wrote no JavaScript for the client');
  return { code: js.contents, ...(map && { map: map.contents }), metafile: result.metafile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { code, map } = await bundleClient({ sourcemap: true });
  mkdirSync(DIST, { recursive: true });
  writeFileSync(`${DIST}tripsync-client.js`, code);
  if (map) writeFileSync(`${DIST}tripsync-client.js.map`, map);
  process.stdout.write(`client/dist/tripsync-client.js: ${code.byteLength} bytes\n`);
}
