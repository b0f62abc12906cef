import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type {
  StackInfo,
  StackMemory,
  StackProcessOptions,
  StackRequest,
  StackResponse,
  StackStats,
} from './stack-protocol';

const STACK_PROCESS = fileURLToPath(new URL('./stack-process.ts', import.meta.url));

/** The local stack running in its own process, and the calls its parent makes to it. */
export interface StackProcess {
  info: StackInfo;
  pid: number;
  reset(): Promise<void>;
  stats(): Promise<StackStats>;
  /** Its memory, after a full garbage collection unless `gc` is false. */
  memory(options?: { gc?: boolean }): Promise<StackMemory>;
  /** Writes `message` to every socket of the raw `ws` server; resolves with how many. */
  rawBroadcast(message: string): Promise<number>;
  /** The stack process's CPU time so far (user + system), in microseconds. */
  cpu(): Promise<number>;
  /** Starts the V8 CPU profiler in the stack process (for investigating a figure). */
  startProfile(): Promise<void>;
  /** Stops it and writes the `.cpuprofile` to `file` (open it in Chrome DevTools). */
  stopProfile(file: string): Promise<string>;
  /**
   * Stops the stack (every socket closed, every `$disconnect` run), then the process; resolves
   * with its memory once the stack had stopped.
   */
  stop(): Promise<StackMemory | undefined>;
  /** Kills the process at once, if it still runs (a test that failed half-way). */
  kill(): void;
}

/** How {@link startStackProcess} starts the process, besides the stack's own options. */
export interface StartStackProcessOptions extends StackProcessOptions {
  /** Added to the process's environment, e.g. `{ SEND_CONCURRENCY: '1' }`. */
  env?: Record<string, string>;
  /** More Node options, e.g. `['--cpu-prof']`. */
  execArgv?: string[];
  /** Where its stdout and stderr go (the stack's log lines, the handlers' JSON logs). @default inherited */
  logFile?: string;
}

/**
 * Forks `bench/stack-process.ts` (through tsx, with `--expose-gc` for memory figures) and waits
 * until its stack is listening.
 *
 * @example
 * const stack = await startStackProcess({ env: { SEND_CONCURRENCY: '1' } });
 * console.log(stack.info.url);
 * await stack.stop();
 */
export async function startStackProcess(
  options: StartStackProcessOptions = {},
): Promise<StackProcess> {
  const { env = {}, execArgv = [], logFile, ...stackOptions } = options;
  const out = logFile === undefined ? 'inherit' : openSync(logFile, 'w');
  const child = fork(STACK_PROCESS, [JSON.stringify(stackOptions)], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', out, out, 'ipc'],
  });
  if (typeof out === 'number') closeSync(out);
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited: Error | undefined;
  const ready = new Promise<StackInfo>((resolve, reject) => {
    pending.set(0, { resolve: (v) => resolve(v as StackInfo), reject });
  });
  child.on('message', (message: StackResponse) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`stack process: ${message.error}`));
  });
  child.on('exit', (code, signal) => {
    const see = logFile === undefined ? '' : `; see ${logFile}`;
    exited = new Error(`stack process exited (${signal ?? code})${see}`);
    for (const waiter of pending.values()) waiter.reject(exited);
    pending.clear();
  });
  const call = <T>(request: StackRequest): Promise<T> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: (v) => resolve(v as T), reject });
      child.send({ id, request });
    });
  };
  const info = await ready;
  return {
    info,
    pid: child.pid as number,
    reset: () => call<void>({ command: 'reset' }),
    stats: () => call<StackStats>({ command: 'stats' }),
    memory: ({ gc = true } = {}) => call<StackMemory>({ command: 'memory', gc }),
    rawBroadcast: (message) => call<number>({ command: 'rawBroadcast', message }),
    cpu: () => call<number>({ command: 'cpu' }),
    startProfile: () => call<void>({ command: 'startProfile' }),
    stopProfile: (file) => call<string>({ command: 'stopProfile', file }),
    stop: () => stopChild(child, () => call<StackMemory>({ command: 'stop' })),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

async function stopChild(
  child: ChildProcess,
  requestStop: () => Promise<StackMemory>,
): Promise<StackMemory | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
  let memory: StackMemory | undefined;
  try {
    memory = await requestStop();
  } catch {
    child.kill('SIGKILL');
  }
  await exited;
  clearTimeout(force);
  return memory;
}
