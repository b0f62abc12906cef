import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * The `context` the Node.js runtime passes a handler, for tests that call one directly: a fresh
 * request id, the function's name and ARN, and the time left before `timeoutMs`.
 *
 * @example
 * await handler(event, lambdaContext('sendQueue'));
 */
export function lambdaContext(functionName: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  const fail = () => {
    throw new Error('the callback API is not used');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2025/06/01/[$LATEST]test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}
