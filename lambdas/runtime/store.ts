import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoDbConnectionStore } from '../adapters/dynamodb-connection-store';
import type { StoreConfig } from '../config/store';
import type { ConnectionStore } from '../core/ports';

/**
 * Builds the connection store once per container. Locally only the endpoint differs.
 * Short socket timeouts: a `$connect` waits on this write, so an unreachable table must fail
 * fast (the SDK's three attempts) rather than hold the handshake open.
 *
 * @example
 * const store = createConnectionStore(readStoreConfig(process.env));
 */
export function createConnectionStore(config: StoreConfig): ConnectionStore {
  const client = new DynamoDBClient({
    endpoint: config.dynamoDbEndpoint,
    maxAttempts: 3,
    // Without throwOnRequestTimeout the SDK only warns on requestTimeout and a hung table would
    // hold `$connect` open; with it, three attempts (3 s each by default) bound the wait, well
    // inside API Gateway's 29 s integration timeout.
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 1000,
      requestTimeout: config.requestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
  return new DynamoDbConnectionStore(DynamoDBDocumentClient.from(client), config.tableName);
}
