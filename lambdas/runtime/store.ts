import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoDbConnectionStore } from '../adapters/dynamodb-connection-store';
import { DynamoDbMessageLog } from '../adapters/dynamodb-message-log';
import type { MessageLogConfig } from '../config/message-log';
import type { StoreConfig } from '../config/store';
import type { ConnectionStore, MessageLog } from '../core/ports';

/**
 * Builds the connection store once per container. Locally only the endpoint differs.
 * Short socket timeouts: a `$connect` waits on this write, so an unreachable table must fail
 * fast (the SDK's three attempts) rather than hold the handshake open.
 *
 * @example
 * const store = createConnectionStore(readStoreConfig(process.env));
 */
export function createConnectionStore(config: StoreConfig): ConnectionStore {
  return new DynamoDbConnectionStore(documentClient(config), config.tableName);
}

/**
 * Builds the connection store and the message log once per container, over one DynamoDB client
 * (one socket pool, one set of timeouts).
 *
 * @example
 * const { store, messageLog } = createStores(readStoreConfig(process.env), readMessageLogConfig(process.env));
 */
export function createStores(
  config: StoreConfig,
  logConfig: MessageLogConfig,
): { store: ConnectionStore; messageLog: MessageLog } {
  const client = documentClient(config);
  return {
    store: new DynamoDbConnectionStore(client, config.tableName),
    messageLog: new DynamoDbMessageLog(client, logConfig.tableName, logConfig.retentionSeconds),
  };
}

function documentClient(config: StoreConfig): DynamoDBDocumentClient {
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
  return DynamoDBDocumentClient.from(client);
}
