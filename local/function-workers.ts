import { Worker } from 'node:worker_threads';
import { type WorkerBundle, workerBundle } from './function-bundles';
import {
  errorFromPayload,
  errorPayload,
  type FunctionIdentity,
  type InvocationOutcome,
  type LambdaErrorPayload,
  timeoutPayload,
} from './invocation';
import type { FunctionRunner, RunResult } from './lambda-runtime';
import type { StackLog } from './log';
import type { ContainerData, ContainerMessage, InvokeMessage } from './worker-protocol';

/** What a worker runs: the container, which loads the handler (both bundled). */
const CONTAINER = new URL('./function-container.ts', import.meta.url).href;

/** What an invocation fails with once the stack has stopped. */
const STOPPED: LambdaErrorPayload = {
  errorType: 'Error',
  errorMessage: 'the local stack stopped',
  trace: [],
};

/** The result of an invocation that failed before any handler ran. */
function notRun(error: LambdaErrorPayload): RunResult {
  return { outcome: { ok: false, error, timedOut: false }, durationMs: 0 };
}

/** The bundles a worker loads (`local/function-bundles.ts`). */
interface WorkerBundles {
  container: WorkerBundle;
  /** The handler module, with the preloads run first. */
  handler: WorkerBundle;
}

/** How one function's workers are started, reused and reaped. */
export interface FunctionWorkersOptions extends FunctionIdentity {
  /** File URL of the handler module. */
  handlerModule: string;
  /** The function's environment: each worker gets its own copy as `process.env`. */
  env: Record<string, string>;
  /** Workers at most, each running one invocation at a time; more invocations wait. */
  maxWorkers: number;
  /** An idle worker is stopped after this long without an invocation. */
  idleTimeoutMs: number;
  /** File URLs each worker imports before the handler module (instrumentation). */
  preload?: string[];
  /** Passed to each worker as `workerData.preloadData` (see `ContainerData`). */
  preloadData?: unknown;
  /** Where cold starts and stopped workers are reported. */
  log?: StackLog;
  /** How the log names these workers; the function's name by default. */
  logName?: string;
}

interface Job {
  eventJson: string;
  requestId: string;
  timeoutMs: number;
  settle(run: RunResult): void;
}

/**
 * One function's workers, as Lambda keeps a function's execution environments: an invocation
 * goes to an idle worker (the most recently used, so the others can age out), or waits while a
 * new one starts when every worker is busy and fewer than `maxWorkers` run. A worker runs one
 * invocation at a time, with its own module state and `process.env`. A timeout terminates
 * the worker (its handler cannot run on into the next invocation), an uncaught exception ends
 * it after failing its invocation, and either is replaced on demand. Idle workers stop after
 * `idleTimeoutMs`.
 *
 * @example
 * const send = new FunctionWorkers({ functionName: 'send', region, accountId,
 *   handlerModule: new URL('../lambdas/send.ts', import.meta.url).href, env, maxWorkers: 4,
 *   idleTimeoutMs: 60_000 });
 * await send.warm();
 * const { outcome } = await send.run('{"userId":"42","message":{}}', requestId, 30_000);
 * await send.stop();
 */
export class FunctionWorkers implements FunctionRunner {
  private readonly workers = new Set<FunctionWorker>();
  /** Ready workers without an invocation, the most recently used last. */
  private readonly idle: FunctionWorker[] = [];
  private readonly queue: Job[] = [];
  private starting = 0;
  private nextWorkerId = 1;
  private stopped = false;
  /** Bumped by `reconfigure`: a worker of an older generation is not reused. */
  private generation = 0;
  /** Set once the bundles are built: workers start only then. */
  private bundles: WorkerBundles | undefined;

  constructor(private options: FunctionWorkersOptions) {}

  /** Workers running now (starting, busy or idle). */
  get size(): number {
    return this.workers.size;
  }

  /**
   * Starts one worker ahead of the first invocation and waits until its handler module is
   * loaded; rejects with the module's own error when it cannot be (a configuration error), or
   * with esbuild's when it cannot be bundled (a syntax error).
   */
  async warm(): Promise<void> {
    await this.build();
    const worker = this.spawn();
    worker.warmed = true;
    await worker.ready.catch((payload: LambdaErrorPayload) => {
      throw errorFromPayload(payload);
    });
  }

  /** Runs the handler once in a worker of its own; resolves with its outcome, never rejects. */
  run(eventJson: string, requestId: string, timeoutMs: number): Promise<RunResult> {
    return new Promise<RunResult>((settle) => {
      if (this.stopped) {
        settle(notRun(STOPPED));
        return;
      }
      this.queue.push({ eventJson, requestId, timeoutMs, settle });
      if (this.bundles) {
        this.pump();
        return;
      }
      this.build().then(
        () => this.pump(),
        // As on Lambda, code that cannot be loaded fails every invocation waiting for it.
        (error: unknown) => this.failQueued(errorPayload(error)),
      );
    });
  }

  /**
   * The bundles of the container and of the handler module with its preloads (`workerBundle`
   * builds each once and reuses it while its sources are unchanged); rejects with esbuild's error
   * when one cannot be built (a syntax error), and tries again on the next call.
   */
  private async build(): Promise<WorkerBundles> {
    if (!this.bundles) {
      const [container, handler] = await Promise.all([
        workerBundle(CONTAINER),
        workerBundle(this.options.handlerModule, this.options.preload),
      ]);
      this.bundles = { container, handler };
    }
    return this.bundles;
  }

  /**
   * Gives the function a new environment, as Lambda's `UpdateFunctionConfiguration` does: idle
   * workers stop now, busy ones once their invocation is over, and every invocation from now on
   * runs in a worker started with `env`.
   */
  reconfigure(env: Record<string, string>): void {
    this.options = { ...this.options, env };
    this.generation++;
    for (const worker of this.idle.splice(0)) void worker.terminate('reconfigured');
  }

  /** Terminates every worker; invocations still waiting fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.failQueued(STOPPED);
    this.idle.length = 0;
    await Promise.all([...this.workers].map((worker) => worker.terminate('the stack stopped')));
    this.workers.clear();
  }

  /** Fails every invocation still waiting for a worker. */
  private failQueued(error: LambdaErrorPayload): void {
    for (const job of this.queue.splice(0)) job.settle(notRun(error));
  }

  private pump(): void {
    if (!this.bundles) return;
    while (this.queue.length > 0 && this.idle.length > 0) {
      const worker = this.idle.pop() as FunctionWorker;
      // One that crashed while idle (a stray timer's exception) is removed once its thread exits.
      if (worker.alive) this.dispatch(worker, this.queue.shift() as Job);
    }
    // Start a worker for each invocation that no starting worker will take, within the limit.
    while (this.queue.length > this.starting && this.workers.size < this.options.maxWorkers) {
      this.spawn();
    }
  }

  private spawn(): FunctionWorker {
    const bundles = this.bundles as WorkerBundles;
    const worker = new FunctionWorker(this.nextWorkerId++, this.options, bundles, () =>
      this.onExit(worker),
    );
    worker.generation = this.generation;
    this.workers.add(worker);
    this.starting++;
    worker.ready.then(
      () => {
        this.starting--;
        if (this.stopped) return void worker.terminate('the stack stopped');
        this.release(worker);
      },
      (error: LambdaErrorPayload) => {
        this.starting--;
        this.workers.delete(worker);
        if (this.stopped) return;
        // As on Lambda, an initialisation error fails the invocation that was waiting for it.
        const job = worker.warmed ? undefined : this.queue.shift();
        job?.settle(notRun(error));
        this.log(worker, `could not start: ${error.errorType}: ${error.errorMessage}`);
        this.pump();
      },
    );
    return worker;
  }

  /** A worker's thread has ended: by a timeout, a crash, an idle stop or `stop()`. */
  private onExit(worker: FunctionWorker): void {
    const index = this.idle.indexOf(worker);
    if (index !== -1) this.idle.splice(index, 1);
    clearTimeout(worker.idleTimer);
    // A worker that never became ready was reported (and removed) by spawn().
    if (!this.workers.delete(worker) || this.stopped || !worker.started) return;
    this.log(worker, `stopped: ${worker.endReason}`);
    this.pump();
  }

  private dispatch(worker: FunctionWorker, job: Job): void {
    clearTimeout(worker.idleTimer);
    const cold = worker.invocations === 0 && !worker.warmed;
    if (cold) {
      this.log(
        worker,
        `Init Duration: ${worker.initDurationMs.toFixed(0)} ms  (${this.workers.size} of at most ${this.options.maxWorkers} workers)`,
        'cold start',
      );
    }
    const started = performance.now();
    void worker.run(job).then((outcome) => {
      const durationMs = performance.now() - started;
      job.settle({
        outcome,
        durationMs,
        ...(cold && { initDurationMs: worker.initDurationMs }),
      });
      // A worker that timed out or crashed is removed when its thread has exited.
      if (worker.alive) this.release(worker);
    });
  }

  private release(worker: FunctionWorker): void {
    if (this.stopped) return;
    if (worker.generation !== this.generation) {
      // Started before `reconfigure`: its thread's exit starts a new one if work is waiting.
      void worker.terminate('reconfigured');
      return;
    }
    this.idle.push(worker);
    worker.idleTimer = setTimeout(() => {
      void worker.terminate(`idle for ${this.options.idleTimeoutMs / 1000} s`);
    }, this.options.idleTimeoutMs);
    worker.idleTimer.unref();
    this.pump();
  }

  private log(worker: FunctionWorker, text: string, kind = 'worker'): void {
    const name = this.options.logName ?? this.options.functionName;
    this.options.log?.line(kind, `${name} #${worker.id}  ${text}`);
  }
}

/** One worker thread and the invocation it is running. */
class FunctionWorker {
  readonly ready: Promise<void>;
  initDurationMs = 0;
  invocations = 0;
  /** Started with the stack rather than for an invocation: its first invocation is warm. */
  warmed = false;
  /** The pool's generation (its `reconfigure` count) when this worker started. */
  generation = 0;
  alive = true;
  /** True once its handler module was loaded. */
  started = false;
  endReason = '';
  idleTimer: NodeJS.Timeout | undefined;
  private readonly thread: Worker;
  private current: { requestId: string; settle(outcome: InvocationOutcome): void } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    options: FunctionWorkersOptions,
    bundles: WorkerBundles,
    onExit: () => void,
  ) {
    const spawnedAt = performance.now();
    const data: ContainerData = {
      functionName: options.functionName,
      region: options.region,
      accountId: options.accountId,
      handlerModule: options.handlerModule,
      handler: bundles.handler,
      container: bundles.container,
      preloadData: options.preloadData,
    };
    // No inherited execArgv: under `tsx` or vitest the parent's flags would load module hooks
    // (a thread and tens of MB per worker) that the bundles do not need.
    this.thread = new Worker(bundles.container.file, {
      workerData: data,
      env: options.env,
      execArgv: [],
    });
    // A stack that was never stopped must not keep its process alive through idle workers.
    this.thread.unref();
    let markReady: () => void = () => {};
    let markFailed: (error: LambdaErrorPayload) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    // Handled by the pool; this keeps a rejection nobody awaits from being reported as unhandled.
    this.ready.catch(() => {});
    this.thread.on('message', (message: ContainerMessage) => {
      switch (message.type) {
        case 'ready':
          this.initDurationMs = performance.now() - spawnedAt;
          this.started = true;
          markReady();
          return;
        case 'init-failed':
          this.end('its handler module failed to load');
          markFailed(message.error);
          return;
        case 'output':
          process[message.stream].write(message.text);
          return;
        case 'result':
          if (message.requestId !== this.current?.requestId) return;
          this.finish(
            message.ok
              ? { ok: true, result: JSON.parse(message.result) }
              : { ok: false, error: message.error, timedOut: false },
          );
          return;
        case 'crashed':
          this.end(`crashed: ${message.error.errorType}: ${message.error.errorMessage}`);
          this.finish({ ok: false, error: message.error, timedOut: false });
          return;
      }
    });
    this.thread.on('error', (error) => {
      // An error the container could not report itself (its bootstrap failed).
      const payload = {
        errorType: error.name,
        errorMessage: error.message,
        trace: (error.stack ?? '').split('\n'),
      };
      this.end(`failed: ${error.name}: ${error.message}`);
      markFailed(payload);
      this.finish({ ok: false, error: payload, timedOut: false });
    });
    this.thread.on('exit', (code) => {
      this.end(`exited with status ${code}`);
      const error = {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${this.current?.requestId ?? '-'} Error: Runtime exited with error: exit status ${code}`,
        trace: [],
      };
      markFailed(error);
      this.finish({ ok: false, error, timedOut: false });
      onExit();
    });
  }

  /** Runs one invocation; resolves with its outcome (a timeout terminates the worker). */
  run(job: Job): Promise<InvocationOutcome> {
    this.invocations++;
    return new Promise<InvocationOutcome>((settle) => {
      this.current = { requestId: job.requestId, settle };
      this.timer = setTimeout(() => {
        this.end(`timed out after ${(job.timeoutMs / 1000).toFixed(2)} s`);
        this.finish({
          ok: false,
          error: timeoutPayload(job.requestId, job.timeoutMs),
          timedOut: true,
        });
        void this.thread.terminate();
      }, job.timeoutMs);
      const message: InvokeMessage = {
        type: 'invoke',
        requestId: job.requestId,
        event: job.eventJson,
        deadlineEpochMs: Date.now() + job.timeoutMs,
      };
      this.thread.postMessage(message);
    });
  }

  async terminate(reason: string): Promise<void> {
    this.end(reason);
    clearTimeout(this.idleTimer);
    await this.thread.terminate();
  }

  private finish(outcome: InvocationOutcome): void {
    clearTimeout(this.timer);
    const current = this.current;
    this.current = undefined;
    current?.settle(outcome);
  }

  /** Marks the worker as gone; the first reason given is the one reported. */
  private end(reason: string): void {
    if (!this.alive) return;
    this.alive = false;
    this.endReason = reason;
  }
}
