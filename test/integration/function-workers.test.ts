import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codeCacheFile } from '../../local/bundle-loader';
import { workerBundle } from '../../local/function-bundles';
import { FunctionWorkers, type FunctionWorkersOptions } from '../../local/function-workers';
import { StackLog } from '../../local/log';
import { captureOutput } from '../support/stdout';

// The local stand-in for Lambda's execution environments: real worker threads running a real
// handler module (test/support/handlers/probe.ts), bundled and loaded as the stack's handlers are
// (local/function-bundles.ts).

const PROBE = new URL('../support/handlers/probe.ts', import.meta.url).href;
const BROKEN = new URL('../support/handlers/broken.ts', import.meta.url).href;
const started: FunctionWorkers[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((workers) => workers.stop()));
});

function probe(options: Partial<FunctionWorkersOptions> = {}): FunctionWorkers {
  const workers = new FunctionWorkers({
    functionName: 'probe',
    region: 'eu-west-1',
    accountId: '123456789012',
    handlerModule: PROBE,
    env: { PATH: process.env.PATH ?? '', PROBE_MARK: 'A' },
    maxWorkers: 2,
    idleTimeoutMs: 60_000,
    ...options,
  });
  started.push(workers);
  return workers;
}

const run = (workers: FunctionWorkers, event: Record<string, unknown>, timeoutMs = 5000) =>
  workers.run(JSON.stringify(event), randomUUID(), timeoutMs);

const resultOf = async (workers: FunctionWorkers, event: Record<string, unknown>) => {
  const { outcome } = await run(workers, event);
  if (!outcome.ok) throw new Error(`${outcome.error.errorType}: ${outcome.error.errorMessage}`);
  return outcome.result as Record<string, unknown>;
};

describe('a function worker', () => {
  it('keeps its module state between invocations and is reused while warm', async () => {
    // Prepare
    const workers = probe();

    // Act
    const first = await run(workers, { action: 'state' });
    const second = await run(workers, { action: 'state' });

    // Assess: one worker, cold once.
    const [a, b] = [first, second].map((r) => (r.outcome.ok ? r.outcome.result : {})) as Array<
      Record<string, unknown>
    >;
    expect(b?.threadId).toBe(a?.threadId);
    expect([a?.invocations, b?.invocations]).toEqual([1, 2]);
    expect(first.initDurationMs).toBeGreaterThan(0);
    expect(second.initDurationMs).toBeUndefined();
    expect(workers.size).toBe(1);
  });

  it('has the function’s environment as its process.env, and leaves this thread’s alone', async () => {
    // Prepare
    const a = probe();
    const b = probe({ env: { PROBE_MARK: 'B' } });

    // Act
    const [fromA, fromB] = await Promise.all([
      resultOf(a, { action: 'state' }),
      resultOf(b, { action: 'state' }),
    ]);

    // Assess
    expect([fromA.mark, fromB.mark]).toEqual(['A', 'B']);
    expect(process.env.PROBE_MARK).toBeUndefined();
  });

  it('gives each concurrent invocation a worker of its own, up to maxWorkers; more wait', async () => {
    // Prepare
    const workers = probe({ maxWorkers: 2 });
    await workers.warm();
    let largest = 0;
    const watch = setInterval(() => {
      largest = Math.max(largest, workers.size);
    }, 5);

    // Act
    const started = performance.now();
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => resultOf(workers, { action: 'sleep', ms: 300 })),
    );
    const elapsed = performance.now() - started;
    clearInterval(watch);

    // Assess: two workers, two invocations each, one after the other.
    expect(new Set(runs.map((r) => r.threadId)).size).toBe(2);
    expect(largest).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(600);
  });

  it('reports a cold start, with its Init Duration, only for a worker started on demand', async () => {
    // Prepare
    const lines: string[] = [];
    const workers = probe({ log: new StackLog((line) => lines.push(line)) });
    await workers.warm();

    // Act: the warm worker takes one; the other waits for a new worker (which is ready long
    // before the first is done).
    const runs = await Promise.all([
      run(workers, { action: 'sleep', ms: 1500 }),
      run(workers, { action: 'sleep', ms: 1500 }),
    ]);

    // Assess
    expect(runs.filter((r) => r.initDurationMs !== undefined)).toHaveLength(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      / {2}cold start {2}probe #2 {2}Init Duration: \d+ ms {2}\(2 of at most 2/,
    );
  });

  it('times out: the invocation fails with Sandbox.Timedout, the worker is replaced', async () => {
    // Prepare
    const workers = probe();
    const before = await resultOf(workers, { action: 'state' });

    // Act
    const hung = await run(workers, { action: 'hang' }, 200);
    const after = await run(workers, { action: 'state' });
    const afterState = after.outcome.ok ? (after.outcome.result as Record<string, unknown>) : {};

    // Assess: a fresh worker with fresh module state, cold.
    expect(hung.outcome).toMatchObject({
      ok: false,
      timedOut: true,
      error: {
        errorType: 'Sandbox.Timedout',
        errorMessage: expect.stringMatching(/Task timed out after 0\.20 seconds$/),
      },
    });
    expect(afterState.invocations).toBe(1);
    expect(afterState.threadId).not.toBe(before.threadId);
    expect(after.initDurationMs).toBeGreaterThan(0);
  });

  it('fails only the invocation in progress on an uncaught exception', async () => {
    // Prepare
    const workers = probe({ maxWorkers: 2 });

    // Act: one invocation crashes its worker while another runs in the other worker.
    const [sleeping, crashed] = await Promise.all([
      run(workers, { action: 'sleep', ms: 400 }),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
        run(workers, { action: 'throwLater' }),
      ),
    ]);
    const next = await run(workers, { action: 'state' });

    // Assess
    expect(sleeping.outcome.ok).toBe(true);
    expect(crashed.outcome).toMatchObject({
      ok: false,
      timedOut: false,
      error: { errorType: 'TypeError', errorMessage: 'thrown outside the handler' },
    });
    expect(next.outcome.ok).toBe(true);
  });

  it('replaces a worker that crashed while idle: the next invocation runs on a new one', async () => {
    // Prepare
    const lines: string[] = [];
    const workers = probe({ log: new StackLog((line) => lines.push(line)) });
    const returned = await run(workers, { action: 'strayTimer' });
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Act
    const next = await run(workers, { action: 'state' }, 2000);

    // Assess
    expect(returned.outcome.ok).toBe(true);
    expect(next.outcome.ok).toBe(true);
    expect(next.initDurationMs).toBeGreaterThan(0);
    expect(
      lines.some((line) =>
        line.includes('crashed: TypeError: thrown after the invocation returned'),
      ),
    ).toBe(true);
  });

  it.each([
    [
      'an unhandled rejection',
      'rejectLater',
      'Runtime.UnhandledPromiseRejection',
      'Error: nobody awaits this',
    ],
    ['an exit', 'exit', 'Runtime.ExitError', 'Runtime exited with error: exit status 3'],
  ])(
    'fails the invocation on %s, as the Node.js runtime does',
    async (_, action, type, message) => {
      // Prepare
      const workers = probe();

      // Act
      const { outcome } = await run(workers, { action });
      const next = await run(workers, { action: 'state' });

      // Assess
      expect(outcome).toMatchObject({
        ok: false,
        error: { errorType: type, errorMessage: expect.stringContaining(message) },
      });
      expect(next.outcome.ok).toBe(true);
    },
  );

  it('keeps a worker whose handler threw: the error is the invocation’s result', async () => {
    // Prepare
    const workers = probe();
    const before = await resultOf(workers, { action: 'state' });

    // Act
    const { outcome } = await run(workers, { action: 'throw' });
    const after = await resultOf(workers, { action: 'state' });

    // Assess
    expect(outcome).toMatchObject({
      ok: false,
      error: { errorType: 'RangeError', errorMessage: 'probe failed' },
    });
    expect(after.threadId).toBe(before.threadId);
  });

  it('names the .ts file and line of a thrown error, though the worker runs a bundle', async () => {
    // Prepare
    const workers = probe();
    const throwLine =
      readFileSync(fileURLToPath(PROBE), 'utf8')
        .split('\n')
        .findIndex((line) => line.includes("throw new RangeError('probe failed')")) + 1;

    // Act
    const { outcome } = await run(workers, { action: 'throw' });

    // Assess
    expect(outcome.ok).toBe(false);
    const trace = outcome.ok ? [] : outcome.error.trace;
    expect(trace[1]).toContain(`${fileURLToPath(PROBE)}:${throwLine}:`);
  });

  it('saves V8’s code cache beside its bundle, and writes a cache V8 rejects again', async () => {
    // Prepare: a worker has loaded the bundle; then its cache is spoiled.
    await resultOf(probe(), { action: 'state' });
    const { file } = await workerBundle(PROBE);
    // This process's cache: runs with other V8 flags keep caches of their own beside it.
    const cache = codeCacheFile(file);
    if (!existsSync(cache)) throw new Error(`no code cache beside ${file}`);
    writeFileSync(cache, 'not a code cache');

    // Act: a new worker.
    const state = await resultOf(probe(), { action: 'state' });

    // Assess
    expect(state.mark).toBe('A');
    expect(readFileSync(cache).length).toBeGreaterThan(1000);
  });

  it('rejects warm() with esbuild’s error for a module that cannot be bundled, and fails its invocations', async () => {
    // Prepare: a module with a syntax error, in a folder of this test's own.
    const dir = mkdtempSync(join(tmpdir(), 'tripsync-unbundlable-'));
    try {
      const module = join(dir, 'unparsable.ts');
      writeFileSync(module, 'export const handler = (;\n');
      const workers = probe({ handlerModule: pathToFileURL(module).href });

      // Act
      const warming = workers.warm().catch((error: unknown) => error);
      const { outcome } = await run(workers, { action: 'state' });

      // Assess
      expect(String(await warming)).toMatch(/unparsable\.ts:1:\d+: ERROR: /);
      expect(outcome).toMatchObject({
        ok: false,
        error: { errorMessage: expect.stringContaining('unparsable.ts:1:') },
      });
      expect(workers.size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects warm() with the error of a module that cannot load, and fails its invocations', async () => {
    // Prepare
    const workers = probe({ handlerModule: BROKEN });

    // Act
    const warming = workers.warm().catch((error: unknown) => error);
    const { outcome } = await run(workers, { action: 'state' });

    // Assess
    expect(await warming).toMatchObject({
      name: 'ConfigError',
      message: 'PROBE_SETTING: is required but not set',
    });
    expect(outcome).toMatchObject({ ok: false, error: { errorType: 'ConfigError' } });
  });

  it('stops idle workers after idleTimeoutMs; the next invocation starts cold', async () => {
    // Prepare
    const workers = probe({ idleTimeoutMs: 100 });
    await resultOf(workers, { action: 'state' });

    // Act
    await new Promise((resolve) => setTimeout(resolve, 400));
    const sizeWhenIdle = workers.size;
    const next = await run(workers, { action: 'state' });

    // Assess
    expect(sizeWhenIdle).toBe(0);
    expect(next.initDurationMs).toBeGreaterThan(0);
  });

  it('stops every worker on stop(); an invocation after it fails', async () => {
    // Prepare
    const workers = probe({ maxWorkers: 2 });
    await Promise.all([
      run(workers, { action: 'sleep', ms: 100 }),
      run(workers, { action: 'sleep', ms: 100 }),
    ]);

    // Act
    await workers.stop();
    const { outcome } = await run(workers, { action: 'state' });

    // Assess
    expect(workers.size).toBe(0);
    expect(outcome).toMatchObject({
      ok: false,
      error: { errorMessage: 'the local stack stopped' },
    });
  });

  it('writes what the function logs to this process’s stdout before its result', async () => {
    // Prepare
    const workers = probe();
    const output = captureOutput({ quiet: true });

    // Act
    try {
      await run(workers, { action: 'log', text: 'logged inside the worker' });
    } finally {
      output.stop();
    }

    // Assess
    expect(output.lines()).toContainEqual({ level: 'INFO', message: 'logged inside the worker' });
  });
});
