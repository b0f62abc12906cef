import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { SERVICE_NAME } from '../lambdas/shared/limits';
import { type Summary, shuffled, summarize } from './stats';

/** What one fresh process measured: both times from the same start. */
export interface ColdStartSample {
  /** From the process's time origin to the bundle imported (its clients built), in the child. */
  readyMs: number;
  /** The `import()` alone, in the child. */
  importMs: number;
  /** From `spawn` to exit, seen by the parent: process start-up and teardown included. */
  wallMs: number;
}

/** The summaries of one bundle's cold starts. */
export interface ColdStartResult {
  ready: Summary;
  import: Summary;
  wall: Summary;
}

/**
 * The environment each fresh process gets: what the deployed functions read at import (the
 * authorizer in its default, Secrets Manager mode), and nothing from this shell, so that
 * `NODE_OPTIONS` or a test runner's loader cannot slow one bundle down and not another.
 */
export const COLD_START_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  TABLE_NAME: 'Connections',
  MESSAGE_TABLE_NAME: 'MessageLog',
  CONNECTIONS_ENDPOINT: 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/live',
  JWT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tripsync/jwt-AbC123',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/notifications-dlq',
  POWERTOOLS_METRICS_NAMESPACE: 'TripSyncRealtime/Bench',
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_LOG_LEVEL: 'INFO',
};

/**
 * Imports one bundle in a fresh `node` process and reports the times.
 *
 * @example
 * const sample = await coldStart('/tmp/cdk.out/asset.abc/index.mjs');
 */
export function coldStart(file: string): Promise<ColdStartSample> {
  const url = pathToFileURL(file).href;
  const script = [
    'const started = performance.now();',
    `const m = await import(${JSON.stringify(url)});`,
    'const ready = performance.now();',
    "if (typeof m.handler !== 'function') throw new Error('no handler export');",
    'process.stdout.write(JSON.stringify({ readyMs: ready, importMs: ready - started }));',
  ].join('\n');
  return new Promise((resolve, reject) => {
    const begun = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...COLD_START_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const wallMs = performance.now() - begun;
      if (code !== 0) {
        reject(new Error(`importing ${file} failed (exit ${code}): ${stderr.trim()}`));
        return;
      }
      try {
        resolve({ ...(JSON.parse(stdout) as Omit<ColdStartSample, 'wallMs'>), wallMs });
      } catch {
        reject(new Error(`importing ${file} printed ${JSON.stringify(stdout)}`));
      }
    });
  });
}

/**
 * Cold-starts every bundle `runs` times, one process at a time, after a warm-up round that is
 * discarded (it fills the file cache) unless `warmUp` is false. Each round visits the bundles in
 * a new random order, so a slow moment of a shared machine lands on a different bundle each time.
 *
 * @example
 * const results = await measureColdStarts({ send: '/tmp/…/index.mjs', empty: '/tmp/…/index.mjs' }, 25);
 * results.send.ready.median;
 */
export async function measureColdStarts<K extends string>(
  files: Record<K, string>,
  runs: number,
  { warmUp = true }: { warmUp?: boolean } = {},
): Promise<Record<K, ColdStartResult>> {
  const names = Object.keys(files) as K[];
  if (warmUp) for (const name of names) await coldStart(files[name]);
  const samples = Object.fromEntries(names.map((n) => [n, [] as ColdStartSample[]])) as Record<
    K,
    ColdStartSample[]
  >;
  for (let run = 0; run < runs; run++) {
    for (const name of shuffled(names)) samples[name].push(await coldStart(files[name]));
  }
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        ready: summarize(samples[name].map((s) => s.readyMs)),
        import: summarize(samples[name].map((s) => s.importMs)),
        wall: summarize(samples[name].map((s) => s.wallMs)),
      },
    ]),
  ) as Record<K, ColdStartResult>;
}
