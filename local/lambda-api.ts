import type { IncomingMessage, ServerResponse } from 'node:http';
import { AWS_LIMITS } from '../lambdas/shared/limits';
import { decodedPathParameter, readBody, sendAwsError, sendEmpty, sendJson } from './http';
import { lambdaRequestId } from './ids';
import type { InvocationOutcome, LocalFunction } from './lambda-runtime';
import type { StackLog } from './log';

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;
// AWS's pattern for FunctionName: a name, a partial ARN (account:function:name) or a full ARN,
// each optionally with :qualifier.
const FUNCTION_NAME =
  /^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:)?(?:function:)?([a-zA-Z0-9_.-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/;

/** What the Invoke API serves. */
export interface LambdaApiDeps {
  functions: ReadonlyMap<string, LocalFunction>;
  region: string;
  accountId: string;
  log: StackLog;
  /** Background (`Event`) invocations in flight, for a clean stop. */
  background: Set<Promise<void>>;
}

/**
 * Recognises a Lambda Invoke request and returns its URL-decoded `FunctionName`.
 *
 * @example
 * invokedFunctionName('/2015-03-31/functions/send/invocations'); // 'send'
 */
export function invokedFunctionName(pathname: string): string | undefined {
  return decodedPathParameter(PATH, pathname);
}

/**
 * Lambda's `Invoke` (`POST /2015-03-31/functions/{FunctionName}/invocations`) in its REST-JSON
 * wire format, so `LambdaClient`, boto3 and `aws lambda invoke --endpoint-url` work unchanged.
 * `FunctionName` may be the name (`send`), a full or partial ARN, with `:$LATEST` or
 * `?Qualifier=$LATEST`. Signatures are not checked.
 *
 * - `RequestResponse` (default): 200, the result as JSON, `X-Amz-Executed-Version: $LATEST`;
 *   a thrown error is still a 200, with `X-Amz-Function-Error: Unhandled` and the runtime's
 *   `{"errorType","errorMessage","trace"}`.
 * - `Event`: 202 at once; the function runs in the background and its outcome is logged.
 * - `DryRun`: 204.
 * - Unknown function: 404 `ResourceNotFoundException`; a body that is not JSON: 400
 *   `InvalidRequestContentException`; over 6 MB (1 MB for `Event`): 413 `RequestTooLargeException`.
 *
 * @example
 * const name = invokedFunctionName(url.pathname);
 * if (name !== undefined) return handleInvokeRequest(req, res, name, url, deps);
 */
export async function handleInvokeRequest(
  req: IncomingMessage,
  res: ServerResponse,
  functionName: string,
  url: URL,
  deps: LambdaApiDeps,
): Promise<void> {
  if (req.method !== 'POST') {
    req.resume();
    return sendAwsError(res, 405, 'MethodNotAllowedException', {
      Type: 'User',
      message: 'Invoke is a POST',
    });
  }
  const fn = resolveFunction(functionName, url.searchParams.get('Qualifier'), deps);
  if (typeof fn === 'string') {
    req.resume();
    return sendAwsError(res, 404, 'ResourceNotFoundException', {
      Type: 'User',
      Message: `Function not found: ${fn}`,
    });
  }
  const invocationType = headerOf(req, 'x-amz-invocation-type') ?? 'RequestResponse';
  if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
    req.resume();
    return sendAwsError(res, 400, 'InvalidParameterValueException', {
      Type: 'User',
      message: `X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, got ${invocationType}`,
    });
  }
  const limit =
    invocationType === 'Event' ? AWS_LIMITS.maxAsyncInvokeBytes : AWS_LIMITS.maxSyncInvokeBytes;
  const { body, tooLarge } = await readBody(req, limit);
  if (tooLarge) {
    return sendAwsError(res, 413, 'RequestTooLargeException', {
      Type: 'User',
      message: `Request must be smaller than ${limit} bytes for the ${invocationType} invocation type`,
    });
  }
  let event: unknown;
  // The payload as sent reaches the handler: JSON nested too deep to serialise again still parses.
  const text = body.length === 0 ? undefined : body.toString('utf8');
  try {
    // An invocation without a payload receives an empty object.
    event = text === undefined ? {} : JSON.parse(text);
  } catch (error) {
    return sendAwsError(res, 400, 'InvalidRequestContentException', {
      Type: 'User',
      message: `Could not parse request body into json: ${(error as Error).message}`,
    });
  }
  if (invocationType === 'DryRun') return sendEmpty(res, 204);

  const requestId = lambdaRequestId();
  const started = performance.now();
  const run = fn.invoke(event, requestId, text).then((outcome) => {
    deps.log.line(
      fn.name,
      `${invocationType}  ${describeTarget(event)} → ${describeOutcome(outcome)} (${Math.round(performance.now() - started)} ms)`,
    );
    return outcome;
  });
  if (invocationType === 'Event') {
    const background = run.then(() => undefined);
    deps.background.add(background);
    void background.finally(() => deps.background.delete(background));
    return sendEmpty(res, 202, { 'x-amzn-RequestId': requestId });
  }
  const outcome = await run;
  const headers = { 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId };
  if (outcome.ok) return sendJson(res, 200, outcome.result, headers);
  return sendJson(res, 200, outcome.error, { ...headers, 'X-Amz-Function-Error': 'Unhandled' });
}

function resolveFunction(
  name: string,
  qualifierParameter: string | null,
  deps: LambdaApiDeps,
): LocalFunction | string {
  const match = FUNCTION_NAME.exec(name);
  const base = match?.[1] ?? name;
  const qualifier = match?.[2] ?? qualifierParameter ?? undefined;
  const arn = `arn:aws:lambda:${deps.region}:${deps.accountId}:function:${base}${qualifier ? `:${qualifier}` : ''}`;
  const fn = match ? deps.functions.get(base) : undefined;
  // Only $LATEST exists locally: no published versions or aliases.
  if (!fn || (qualifier !== undefined && qualifier !== '$LATEST')) return arn;
  return fn;
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function describeTarget(event: unknown): string {
  if (typeof event !== 'object' || event === null) return 'payload';
  const e = event as Record<string, unknown>;
  if (Array.isArray(e.userIds)) return `userIds (${e.userIds.length})`;
  if (e.userId !== undefined) return `userId ${printable(e.userId)}`;
  if (e.connectionId !== undefined) return `connectionId ${printable(e.connectionId)}`;
  return 'payload';
}

/**
 * A producer's id as one line of text: cut to 40 characters, control characters escaped, so a
 * newline or a terminal escape in a refused payload cannot forge or erase log lines.
 */
function printable(id: unknown): string {
  return String(id)
    .slice(0, 40)
    .replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describeOutcome(outcome: InvocationOutcome): string {
  if (!outcome.ok) return `${outcome.error.errorType}: ${outcome.error.errorMessage.slice(0, 200)}`;
  const r = outcome.result as { delivered?: unknown; stale?: unknown; failed?: unknown } | null;
  if (r && typeof r === 'object' && 'delivered' in r) {
    return `delivered ${String(r.delivered)}, stale ${String(r.stale)}, failed ${String(r.failed)}`;
  }
  return 'ok';
}
