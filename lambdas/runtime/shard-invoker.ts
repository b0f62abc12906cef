import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { type LambdaInvoke, LambdaShardInvoker } from '../adapters/lambda-shard-invoker';
import type { ShardingConfig } from '../config/send';

/**
 * The invoker a send container calls its own shards with. Its Lambda client is built on the
 * first sharded send (most sends, and every shard, never need it): one attempt (an invocation
 * that may have posted is never repeated; the core decides what a failure means), no request
 * timeout of its own (the core abandons a shard at the send's deadline), one socket per shard
 * in flight. Locally only the endpoint differs (`LAMBDA_ENDPOINT`).
 *
 * @example
 * const { sharding } = readSendConfig(process.env);
 * const invoker = sharding && createShardInvoker(sharding);
 */
export function createShardInvoker(config: ShardingConfig): LambdaShardInvoker {
  let invoke: LambdaInvoke | undefined;
  const build = (): LambdaInvoke => {
    const sockets = { keepAlive: true, maxSockets: config.shardsInFlight };
    const client = new LambdaClient({
      ...(config.lambdaEndpoint !== undefined && { endpoint: config.lambdaEndpoint }),
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        httpAgent: new HttpAgent(sockets),
        httpsAgent: new HttpsAgent(sockets),
        connectionTimeout: 1000,
      }),
    });
    return (input, abortSignal) => client.send(new InvokeCommand(input), { abortSignal });
  };
  return new LambdaShardInvoker((input, signal) => {
    invoke ??= build();
    return invoke(input, signal);
  }, config.functionName);
}
