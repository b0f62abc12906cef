import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WORKER_BUNDLE_DIR } from '../../local/function-bundles';

// The bundles the local stack's function workers load (local/function-bundles.ts): built by
// esbuild, kept in node_modules/.cache, and reused by later processes while none of their inputs
// changed.

let dir: string;
let name: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tripsync-bundles-'));
  // A name of this test's own, so that its files in the cache can be found and removed.
  name = `bundle-probe-${randomUUID().slice(0, 8)}`;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const file of readdirSync(WORKER_BUNDLE_DIR).filter((f) => f.startsWith(name))) {
    rmSync(join(WORKER_BUNDLE_DIR, file), { force: true });
  }
});

/** `workerBundle` of a fresh instance of the module, as a process started later has it. */
async function workerBundleOfANewProcess() {
  vi.resetModules();
  return (await import('../../local/function-bundles')).workerBundle;
}

/** The inode of the bundle's build record: a new one each time the record is written. */
function recordIdentity(): number {
  const records = readdirSync(WORKER_BUNDLE_DIR).filter(
    (f) => f.startsWith(name) && f.endsWith('.json'),
  );
  expect(records).toHaveLength(1);
  return statSync(join(WORKER_BUNDLE_DIR, records[0] as string)).ino;
}

describe('worker bundles', () => {
  it('are reused by a later process while no input changed, and rebuilt when a module the entry imports changed', async () => {
    // Prepare: an entry that imports a module beside it.
    const entry = join(dir, `${name}.ts`);
    const greeting = join(dir, 'greeting.ts');
    writeFileSync(greeting, "export const greeting = 'hello';\n");
    writeFileSync(
      entry,
      "import { greeting } from './greeting';\nexport const handler = async () => greeting;\n",
    );
    const url = pathToFileURL(entry).href;
    const first = await (await workerBundleOfANewProcess())(url);
    const built = recordIdentity();

    // Act
    const again = await (await workerBundleOfANewProcess())(url);
    const reused = recordIdentity();
    writeFileSync(greeting, "export const greeting = 'hello again';\n");
    const changed = await (await workerBundleOfANewProcess())(url);

    // Assess
    expect(again).toEqual(first);
    expect(reused).toBe(built);
    expect(changed.file).not.toBe(first.file);
    expect(recordIdentity()).not.toBe(built);
    expect(readFileSync(changed.file, 'utf8')).toContain('hello again');
  });

  it('removes a module’s earlier bundle once it is a day old, when the module is bundled again', async () => {
    // Prepare: two earlier bundles of one module, one of them written two days ago.
    const entry = join(dir, `${name}.ts`);
    const write = (text: string) =>
      writeFileSync(entry, `export const handler = async () => '${text}';\n`);
    write('first');
    const old = await (await workerBundleOfANewProcess())(pathToFileURL(entry).href);
    write('second, a little longer');
    const recent = await (await workerBundleOfANewProcess())(pathToFileURL(entry).href);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    for (const file of [old.file, old.sourceMap]) utimesSync(file, twoDaysAgo, twoDaysAgo);

    // Act
    write('third, longer than the second');
    const current = await (await workerBundleOfANewProcess())(pathToFileURL(entry).href);

    // Assess
    expect([old.file, old.sourceMap].filter(existsSync)).toEqual([]);
    expect([recent.file, recent.sourceMap, current.file, current.sourceMap].every(existsSync)).toBe(
      true,
    );
  });
});

describe('a handler’s worker bundle', () => {
  /** The SDK command classes a bundle defines. */
  const commandsIn = (file: string) => [
    ...new Set(
      [...readFileSync(file, 'utf8').matchAll(/\b(?:var|class) (\w+Command)\b/g)].map((m) => m[1]),
    ),
  ];

  it('leaves out the SDK commands the handler does not use, as the deployed bundle does, with preloads too', async () => {
    // Prepare: the connect handler, which writes its row with PutItem and never creates a table.
    const workerBundle = await workerBundleOfANewProcess();
    const connect = new URL('../../lambdas/connect.ts', import.meta.url).href;
    const instrumentation = new URL('../../bench/function-instrumentation.ts', import.meta.url)
      .href;

    // Act: alone, and with the benchmark's instrumentation run first.
    const alone = await workerBundle(connect);
    const preloaded = await workerBundle(connect, [instrumentation]);

    // Assess
    for (const bundle of [alone, preloaded]) {
      const commands = commandsIn(bundle.file);
      expect(commands).toContain('PutItemCommand');
      expect(commands).not.toContain('CreateTableCommand');
    }
  });
});
