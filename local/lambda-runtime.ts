import pLimit from 'p-limit';
import { FUNCTION_NAMES, FUNCTIONS, type FunctionName } from '../lambdas/manifest';
import { lambdaRequestId } from './ids';

export type { FunctionName } from '../lambdas/manifest';

/** The handler modules CDK deploys, by function name (from `lambdas/manifest.ts`). */
export const HANDLER_MODULES = Object.fromEntries(
  FUNCTION_NAMES.map((name) => [name, `../lambdas/${FUNCTIONS[name].entry}`]),
) as Record<FunctionName, string>;

/**
 * Invocations of one function that run at once; more wait their turn. Lambda gives each
 * concurrent invocation a container of its own, so 2,000 `$disconnect`s at once meet 2,000
 * DynamoDB clients. Here they would share one module instance and one event loop, and a storm
 * starves both: requests time out before their sockets connect, and rows are left behind.
 */
export const MAX_CONCURRENT_INVOCATIONS = 64;

/** A Lambda handler as the Node.js runtime calls it. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => unknown;

/** The parts of the Node.js runtime's `context` argument the local stack provides. */
export interface LambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

/** The Node.js runtime's error payload: `errorType` is the error's `name`. */
export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export type InvocationOutcome =
  | { ok: true; result: unknown }
  | { ok: false; error: LambdaErrorPayload; timedOut: boolean };

/** One invocation, as the `onInvoke` observer of `startLocalStack` sees it. */
export interface InvocationRecord {
  /** `authorizer`, `connect`, `disconnect`, `default`, `send`, or a custom route's key. */
  functionName: string;
  requestId: string;
  /** The event exactly as the handler received it (a JSON copy). */
  event: unknown;
  outcome: InvocationOutcome;
  durationMs: number;
}

export interface LocalFunctionOptions {
  region: string;
  accountId: string;
  /** The function's Lambda timeout: the invocation fails with `Sandbox.Timedout` after it. */
  timeoutMs: number;
  onInvoke?: (record: InvocationRecord) => void;
}

/**
 * Imports the handler modules. Each module reads `process.env` and builds its SDK clients at
 * import, so the environment must be set first. `instance` gives this stack its own copies:
 * the import URL carries `?instance=N`, and a second stack in the same process (tests) gets
 * handlers configured with its own endpoints instead of the first stack's.
 *
 * @example
 * Object.assign(process.env, { TABLE_NAME: 'Connections', ... });
 * const handlers = await importHandlers(1);
 * await handlers.default({ requestContext: { ... }, body: '{"action":"ping"}' }, context);
 */
export async function importHandlers(
  instance: number,
): Promise<Record<FunctionName, LambdaHandler>> {
  const entries = await Promise.all(
    (Object.keys(HANDLER_MODULES) as FunctionName[]).map(async (name) => {
      const url = new URL(HANDLER_MODULES[name], import.meta.url);
      url.searchParams.set('instance', String(instance));
      const module = (await import(url.href)) as { handler?: unknown };
      if (typeof module.handler !== 'function') {
        throw new Error(`${HANDLER_MODULES[name]} exports no handler function`);
      }
      return [name, module.handler as LambdaHandler] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<FunctionName, LambdaHandler>;
}

/**
 * One function as Lambda runs it: the event and the result cross a JSON boundary (the handler
 * can neither keep references into the gateway's state nor return what JSON cannot carry), a
 * fresh request id and `context` per call, an error turned into the runtime's payload.
 * Unlike Lambda, concurrent invocations share one module instance (one "container").
 *
 * @example
 * const send = new LocalFunction('send', handlers.send, { region: 'us-east-1', accountId });
 * const outcome = await send.invoke({ userId: 42, message: { type: 'hi' } });
 */
export class LocalFunction {
  constructor(
    readonly name: string,
    private readonly handler: LambdaHandler,
    private readonly options: LocalFunctionOptions,
  ) {}

  private readonly running = pLimit(MAX_CONCURRENT_INVOCATIONS);

  /** Runs the handler once its turn comes; its Lambda timeout counts from then. */
  invoke(event: unknown, requestId = lambdaRequestId()): Promise<InvocationOutcome> {
    return this.running(() => this.run(event, requestId));
  }

  private async run(event: unknown, requestId: string): Promise<InvocationOutcome> {
    const started = performance.now();
    const copy = eventCopy(event);
    const deadline = this.options.timeoutMs;
    const context = this.context(requestId, Date.now() + deadline);
    let timer: NodeJS.Timeout | undefined;
    let outcome: InvocationOutcome;
    try {
      const run = Promise.resolve().then(() => this.handler(copy, context));
      const result = await Promise.race([
        run,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new InvocationTimeout(requestId, deadline)), deadline);
        }),
      ]);
      outcome = { ok: true, result: result === undefined ? null : jsonCopy(result) };
    } catch (error) {
      outcome = {
        ok: false,
        error: errorPayload(error),
        timedOut: error instanceof InvocationTimeout,
      };
    } finally {
      clearTimeout(timer);
    }
    const durationMs = Math.round(performance.now() - started);
    this.options.onInvoke?.({
      functionName: this.name,
      requestId,
      event: copy,
      outcome,
      durationMs,
    });
    return outcome;
  }

  private context(awsRequestId: string, deadlineEpochMs: number): LambdaContext {
    const { region, accountId } = this.options;
    return {
      functionName: this.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${this.name}`,
      memoryLimitInMB: '256',
      awsRequestId,
      logGroupName: `/aws/lambda/${this.name}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadlineEpochMs - Date.now()),
    };
  }
}

/** Lambda's own timeout. Unlike Lambda, the handler's work is not frozen: it runs on. */
class InvocationTimeout extends Error {
  override readonly name = 'Sandbox.Timedout';
  constructor(requestId: string, ms: number) {
    super(`RequestId: ${requestId} Error: Task timed out after ${(ms / 1000).toFixed(2)} seconds`);
  }
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

/**
 * The payload the Node.js runtime reports for a thrown error.
 *
 * @example
 * errorPayload(new ValidationError('message', 'is required'));
 * // { errorType: 'ValidationError', errorMessage: 'message: is required', trace: ['ValidationError: …', '    at …'] }
 */
export function errorPayload(error: unknown): LambdaErrorPayload {
  if (error instanceof Error) {
    return {
      errorType: error.name,
      errorMessage: error.message,
      trace: (error.stack ?? `${error.name}: ${error.message}`).split('\n'),
    };
  }
  // A thrown non-Error: the runtime reports it as a string.
  return { errorType: 'string', errorMessage: String(error), trace: [] };
}

/**
 * The event across the JSON boundary. An Invoke payload nested thousands of levels deep parses
 * (JSON.parse does not recurse) but overflows JSON.stringify, which does: Lambda would hand it
 * to the handler, and so does this, as parsed for this call alone.
 */
function eventCopy(event: unknown): unknown {
  try {
    return jsonCopy(event);
  } catch (error) {
    if (error instanceof RangeError) return event;
    throw error;
  }
}

function jsonCopy(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
