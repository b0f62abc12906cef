import pLimit from 'p-limit';
import { FUNCTION_NAMES, FUNCTIONS, type FunctionName } from '../lambdas/manifest';
import { lambdaRequestId } from './ids';
import {
  errorFromPayload,
  errorPayload,
  type FunctionIdentity,
  type InvocationOutcome,
  type LambdaContext,
  type LambdaErrorPayload,
  lambdaContext,
  timeoutPayload,
} from './invocation';

export type { FunctionName } from '../lambdas/manifest';

/** The handler modules CDK deploys, by function name (from `lambdas/manifest.ts`). */
export const HANDLER_MODULES = Object.fromEntries(
  FUNCTION_NAMES.map((name) => [name, `../lambdas/${FUNCTIONS[name].entry}`]),
) as Record<FunctionName, string>;

/**
 * A handler module's file URL.
 *
 * @example
 * handlerModuleUrl('send'); // 'file:///…/lambdas/send.ts'
 */
export function handlerModuleUrl(name: FunctionName): string {
  return new URL(HANDLER_MODULES[name], import.meta.url).href;
}

/** A Lambda handler as the Node.js runtime calls it. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => unknown;

export type { InvocationOutcome, LambdaContext, LambdaErrorPayload };
export { errorPayload };

/** One invocation, as the `onInvoke` observer of `startLocalStack` sees it. */
export interface InvocationRecord {
  /** `authorizer`, `connect`, `disconnect`, `default`, `send`, or a custom route's key. */
  functionName: string;
  requestId: string;
  /** The event exactly as the handler received it (a JSON copy). */
  event: unknown;
  outcome: InvocationOutcome;
  durationMs: number;
  /** How long the worker took to start: set on a cold start only, as in Lambda's REPORT line. */
  initDurationMs?: number;
}

export interface LocalFunctionOptions {
  /** The function's Lambda timeout: the invocation fails with `Sandbox.Timedout` after it. */
  timeoutMs: number;
  onInvoke?: (record: InvocationRecord) => void;
}

/** Where a function's handler runs: its own workers, or this thread (test doubles). */
export interface FunctionRunner {
  /** Runs the handler on `eventJson`; resolves with the outcome, never rejects. */
  run(eventJson: string, requestId: string, timeoutMs: number): Promise<RunResult>;
  stop(): Promise<void>;
}

/** One invocation as a runner ran it. */
export interface RunResult {
  outcome: InvocationOutcome;
  /** From the handler's start to its result. */
  durationMs: number;
  /** Set on the first invocation of a worker started for it (a cold start). */
  initDurationMs?: number;
}

/**
 * One function as Lambda runs it: the event and the result cross a JSON boundary (the handler
 * can neither keep references into the gateway's state nor return what JSON cannot carry), a
 * fresh request id and `context` per call, an error turned into the runtime's payload. The
 * deployed handlers run in workers of their own (`FunctionWorkers`), like Lambda's execution
 * environments; a handler passed in by a test runs on this thread (`InProcessHandler`).
 *
 * @example
 * const send = new LocalFunction('send', workers, { timeoutMs: 30_000 });
 * const outcome = await send.invoke({ userId: 42, message: { type: 'hi' } });
 */
export class LocalFunction {
  constructor(
    readonly name: string,
    private readonly runner: FunctionRunner,
    private readonly options: LocalFunctionOptions,
  ) {}

  /**
   * Runs the handler once its turn comes; its Lambda timeout counts from then. `eventJson` is
   * the event as the producer sent it (an Invoke payload): a payload nested too deep for
   * `JSON.stringify` still reaches the handler, as on Lambda.
   */
  async invoke(
    event: unknown,
    requestId = lambdaRequestId(),
    eventJson?: string,
  ): Promise<InvocationOutcome> {
    let json: string;
    try {
      json = eventJson ?? JSON.stringify(event) ?? 'null';
    } catch (error) {
      return { ok: false, error: errorPayload(error), timedOut: false };
    }
    const run = await this.runner.run(json, requestId, this.options.timeoutMs);
    this.options.onInvoke?.(invocationRecord(this.name, requestId, json, run));
    return run.outcome;
  }

  /** Stops the function's workers. */
  stop(): Promise<void> {
    return this.runner.stop();
  }
}

function invocationRecord(
  functionName: string,
  requestId: string,
  json: string,
  { outcome, durationMs, initDurationMs }: RunResult,
): InvocationRecord {
  let copy: unknown;
  const record = {
    functionName,
    requestId,
    outcome,
    durationMs: Math.round(durationMs),
    ...(initDurationMs !== undefined && { initDurationMs: Math.round(initDurationMs) }),
  } as InvocationRecord;
  // The event is parsed when read: an observer that only counts invocations pays no copy.
  Object.defineProperty(record, 'event', {
    enumerable: true,
    get: () => {
      copy ??= JSON.parse(json);
      return copy;
    },
  });
  return record;
}

/**
 * A handler run on this thread, for the test doubles of `startLocalStack`'s `wrapHandler` and
 * `routes`. The event and the result still cross the JSON boundary and the timeout still
 * applies, but the handler shares this thread's module state and event loop, a timed-out
 * handler runs on, and at most `concurrency` invocations run at once.
 *
 * @example
 * const chat = new LocalFunction('chat', new InProcessHandler(identity, handler, 8), { timeoutMs });
 */
export class InProcessHandler implements FunctionRunner {
  private readonly running: ReturnType<typeof pLimit>;

  constructor(
    private readonly identity: FunctionIdentity,
    private readonly handler: LambdaHandler,
    concurrency: number,
  ) {
    this.running = pLimit(concurrency);
  }

  run(eventJson: string, requestId: string, timeoutMs: number): Promise<RunResult> {
    return this.running(async () => {
      const started = performance.now();
      const context = lambdaContext(this.identity, requestId, Date.now() + timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      let outcome: InvocationOutcome;
      try {
        const run = Promise.resolve().then(() => this.handler(JSON.parse(eventJson), context));
        const result = await Promise.race([
          run,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new InvocationTimeout()), timeoutMs);
          }),
        ]);
        outcome = {
          ok: true,
          result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
        };
      } catch (error) {
        outcome =
          error instanceof InvocationTimeout
            ? { ok: false, error: timeoutPayload(requestId, timeoutMs), timedOut: true }
            : { ok: false, error: errorPayload(error), timedOut: false };
      } finally {
        clearTimeout(timer);
      }
      return { outcome, durationMs: performance.now() - started };
    });
  }

  async stop(): Promise<void> {}
}

/** Lambda's own timeout, for an in-process handler. */
class InvocationTimeout extends Error {}

/**
 * A handler that runs a function's deployed handler in its workers, for a test double that
 * wraps it (`wrapHandler`): the double calls it like the module's own `handler` and gets its
 * result, or its error thrown again with the same `name`.
 *
 * @example
 * const deployed = workerHandler(workers);
 * const wrapped: LambdaHandler = async (event, context) => ({ ...(await deployed(event, context)), extra: 1 });
 */
export function workerHandler(runner: FunctionRunner): LambdaHandler {
  return async (event, context) => {
    const { outcome } = await runner.run(
      JSON.stringify(event) ?? 'null',
      context.awsRequestId,
      Math.max(1, context.getRemainingTimeInMillis()),
    );
    if (outcome.ok) return outcome.result;
    throw errorFromPayload(outcome.error);
  };
}

/**
 * API Gateway's integration timeout around an invocation: `undefined` when the integration
 * did not answer in time (the invocation itself runs on, as the Lambda function would).
 *
 * @example
 * const outcome = await withinIntegrationTimeout(fn.invoke(event), 29_000);
 * if (outcome === undefined) reply('Endpoint request timed out');
 */
export async function withinIntegrationTimeout(
  invocation: Promise<InvocationOutcome>,
  timeoutMs: number,
): Promise<InvocationOutcome | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      invocation,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, timeoutMs, undefined);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
