import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ManagementApiGateway } from '../adapters/management-api-gateway';
import type { SendConfig } from '../config/send';
import type { ConnectionGateway } from '../core/ports';

/**
 * Builds the one Management API client a container reuses. Its socket pool matches the
 * fan-out concurrency (the SDK's default is 50 sockets), and it does not retry by itself:
 * the core retries each post with its own deadline and counts the outcome.
 *
 * @example
 * const gateway = createConnectionGateway(readSendConfig(process.env));
 */
export function createConnectionGateway(config: SendConfig): ConnectionGateway {
  const sockets = { keepAlive: true, maxSockets: config.fanOut.concurrency };
  const client = new ApiGatewayManagementApiClient({
    endpoint: config.connectionsEndpoint,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(sockets),
      httpsAgent: new HttpsAgent(sockets),
      connectionTimeout: 1000,
    }),
  });
  return new ManagementApiGateway(client);
}
