import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StackProcessReady, StackProcessStats } from './stack-process';

const SCRIPT = fileURLToPath(new URL('./stack-process.ts', import.meta.url));

/** The local stack running in its own process, and the means to watch and stop it. */
export interface StackProcess {
  ready: StackProcessReady;
  /** Its memory and open connections, now; after a full garbage collection with `gc`. */
  stats(options?: { gc?: boolean }): Promise<StackProcessStats>;
  /** Stops the stack (every socket closed, every `$disconnect` run) and waits for the exit. */
  stop(): Promise<StackProcessStats>;
  /** Kills it at once (a test that failed half-way). */
  kill(): void;
  /** Where its stdout and stderr went. */
  logFile: string;
}

/**
 * Starts `stack-process.ts` with Node and tsx, its output (the stack's readable lines and the
 * handlers' JSON logs at `logLevel`) written to `logFile`.
 *
 * @example
 * const stack = await spawnStackProcess({ logFile: 'reports/stack.log', jwtSecret });
 * const { peakRssBytes } = await stack.stop();
 */
export async function spawnStackProcess(options: {
  logFile: string;
  jwtSecret: string;
  logLevel?: string;
  idleTimeoutMs?: number;
}): Promise<StackProcess> {
  const out = openSync(options.logFile, 'w');
  const child: ChildProcess = fork(SCRIPT, [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', out, out, 'ipc'],
    env: {
      ...process.env,
      JWT_SECRET: options.jwtSecret,
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'DEBUG',
      ...(options.idleTimeoutMs !== undefined && {
        IDLE_TIMEOUT_MS: String(options.idleTimeoutMs),
      }),
    },
  });
  closeSync(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const waiters: Array<(message: unknown) => void> = [];
  child.on('message', (message) => waiters.shift()?.(message));
  const nextMessage = <T>(timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('the stack process did not answer')),
        timeoutMs,
      );
      waiters.push((message) => {
        clearTimeout(timer);
        resolve(message as T);
      });
      void exited.then((code) =>
        reject(new Error(`the stack process exited with ${code}; see ${options.logFile}`)),
      );
    });
  const ready = await nextMessage<StackProcessReady>(60_000);
  return {
    ready,
    logFile: options.logFile,
    stats: (statsOptions = {}) => {
      const answer = nextMessage<StackProcessStats>(30_000);
      child.send({ type: 'stats', gc: statsOptions.gc === true });
      return answer;
    },
    stop: async () => {
      const answer = nextMessage<StackProcessStats>(60_000);
      child.send({ type: 'stop' });
      const stats = await answer;
      await exited;
      return stats;
    },
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
