/**
 * What one invocation looks like from both sides of the JSON boundary: the `context` a handler
 * receives, the runtime's error payload and the outcome the gateway reads. Shared by the main
 * thread (`local/lambda-runtime.ts`) and the function workers (`local/function-container.ts`),
 * so it imports nothing heavy.
 */

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

/** Who the function is, for its `context`: the same in every invocation. */
export interface FunctionIdentity {
  functionName: string;
  region: string;
  accountId: string;
}

/**
 * The `context` of one invocation, its remaining time counted down to `deadlineEpochMs`.
 *
 * @example
 * const context = lambdaContext({ functionName: 'send', region: 'us-east-1', accountId }, id, Date.now() + 30_000);
 * context.getRemainingTimeInMillis(); // 30000
 */
export function lambdaContext(
  identity: FunctionIdentity,
  awsRequestId: string,
  deadlineEpochMs: number,
): LambdaContext {
  const { functionName, region, accountId } = identity;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineEpochMs - Date.now()),
  };
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
 * Lambda's own timeout payload (`Sandbox.Timedout`).
 *
 * @example
 * timeoutPayload('3f1c…', 3000).errorMessage; // 'RequestId: 3f1c… Error: Task timed out after 3.00 seconds'
 */
export function timeoutPayload(requestId: string, timeoutMs: number): LambdaErrorPayload {
  const errorMessage = `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`;
  return { errorType: 'Sandbox.Timedout', errorMessage, trace: [] };
}

/**
 * An error payload as an `Error` again (same `name`, message and trace), for a handler that
 * calls another function and rethrows its failure.
 *
 * @example
 * throw errorFromPayload({ errorType: 'ValidationError', errorMessage: 'userId: is required', trace: [] });
 */
export function errorFromPayload(payload: LambdaErrorPayload): Error {
  const error = new Error(payload.errorMessage);
  error.name = payload.errorType;
  if (payload.trace.length > 0) error.stack = payload.trace.join('\n');
  return error;
}
