import type { InvokeCommandInput, InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { ShardInvocationError } from '../core/errors';
import type { ShardInvoker } from '../core/ports';

/** Lambda's `Invoke` through an SDK client: `client.send(new InvokeCommand(input), { abortSignal })`. */
export type LambdaInvoke = (
  input: InvokeCommandInput,
  signal: AbortSignal,
) => Promise<InvokeCommandOutput>;

/**
 * `ShardInvoker` over Lambda's `Invoke` (`RequestResponse`) of the send function itself. The
 * client behind `invoke` must make one attempt only (`maxAttempts: 1`): an invocation that
 * failed after it started may have posted, and is never sent again; only a refusal (throttled:
 * nothing ran) is marked `notStarted`, for the send to post that shard itself.
 *
 * @example
 * const client = new LambdaClient({ maxAttempts: 1 });
 * const invoker = new LambdaShardInvoker(
 *   (input, abortSignal) => client.send(new InvokeCommand(input), { abortSignal }),
 *   'realtime-SendHandler',
 * );
 * const result = await invoker.invoke(JSON.stringify(payload), AbortSignal.timeout(25_000));
 */
export class LambdaShardInvoker implements ShardInvoker {
  constructor(
    private readonly lambdaInvoke: LambdaInvoke,
    private readonly functionName: string,
  ) {}

  async invoke(payload: string, signal: AbortSignal): Promise<unknown> {
    let response: InvokeCommandOutput;
    try {
      signal.throwIfAborted();
      response = await this.lambdaInvoke(
        {
          FunctionName: this.functionName,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(payload),
        },
        signal,
      );
    } catch (error) {
      throw invokeError(error, signal);
    }
    const text = new TextDecoder().decode(response.Payload);
    if (response.FunctionError) {
      // The runtime's `{"errorType","errorMessage"}`: the shard threw, crashed or timed out.
      const { errorType, errorMessage } = parsed(text) as Record<string, unknown>;
      throw new ShardInvocationError(
        `the shard failed (${response.FunctionError}): ${String(errorType)}: ${String(errorMessage)}`,
        false,
      );
    }
    return parsed(text);
  }
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { errorType: 'InvalidJson', errorMessage: text.slice(0, 200) };
  }
}

/** The SDK's failure as the core's: only Lambda's refusal means nothing ran. */
function invokeError(error: unknown, signal: AbortSignal): ShardInvocationError {
  if (signal.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : 'aborted';
    return new ShardInvocationError(`the invocation was abandoned: ${reason}`, false, {
      cause: error,
    });
  }
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  // 429: the function's (or the account's) concurrency is in use; Lambda ran nothing.
  const notStarted = name === 'TooManyRequestsException';
  return new ShardInvocationError(`Invoke failed: ${name}: ${message}`, notStarted, {
    cause: error,
  });
}
