import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ManagementApiGateway } from '../adapters/management-api-gateway';
import type { SendConfig } from '../config/send';

/**
 * How long after the core's per-post deadline the HTTP handler destroys a request that is
 * still open: the core gives up first (and never retries a post that may have arrived), then
 * the socket is freed.
 */
const SOCKET_RELEASE_AFTER_DEADLINE_MS = 100;

/**
 * Builds the one Management API client a container reuses. Its socket pool matches the
 * fan-out concurrency (the SDK's default is 50 sockets), and it does not retry by itself:
 * the core retries each post with its own deadline and counts the outcome.
 *
 * Every post is the same command sent without per-call options, so the client resolves its
 * middleware stack once (`cacheMiddleware`) rather than once per post; a send's posts after
 * its first replay the request the client built (`ManagementApiGateway.forSend`). The deadline
 * of a post on the wire is the handler's `requestTimeout`, which only warns unless
 * `throwOnRequestTimeout` is set.
 *
 * @example
 * const gateway = createConnectionGateway(readSendConfig(process.env));
 * await sendNotification(payload, { gateway: gateway.forSend(), store, log, options });
 */
export function createConnectionGateway(config: SendConfig): ManagementApiGateway {
  const sockets = { keepAlive: true, maxSockets: config.fanOut.concurrency };
  const client = new ApiGatewayManagementApiClient({
    endpoint: config.connectionsEndpoint,
    maxAttempts: 1,
    cacheMiddleware: true,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(sockets),
      httpsAgent: new HttpsAgent(sockets),
      connectionTimeout: 1000,
      requestTimeout: config.fanOut.postTimeoutMs + SOCKET_RELEASE_AFTER_DEADLINE_MS,
      throwOnRequestTimeout: true,
    }),
  });
  return new ManagementApiGateway(client);
}
