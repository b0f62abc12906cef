import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CONNECTION_TABLE_SCHEMA as schema } from '../lambdas/shared/connection-table-schema';
import { MESSAGE_LOG_SCHEMA } from '../lambdas/shared/message-log-schema';

/**
 * Creates the connection table with the deployed table's keys and index (the CDK construct
 * reads the same `CONNECTION_TABLE_SCHEMA`). Succeeds if the table already exists.
 * DynamoDB Local and dynalite ignore TTL settings; reads filter expired rows anyway.
 *
 * @example
 * await createConnectionTable(new DynamoDBClient({ endpoint: 'http://127.0.0.1:8000' }), 'Connections');
 */
export async function createConnectionTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    ...keys(schema.partitionKey, schema.sortKey, 'S'),
    GlobalSecondaryIndexes: [
      {
        IndexName: schema.connectionIdIndex,
        KeySchema: [{ AttributeName: schema.sortKey, KeyType: 'HASH' }],
        Projection: {
          ProjectionType: 'INCLUDE',
          NonKeyAttributes: [...schema.connectionIdIndexAttributes],
        },
      },
    ],
  });
}

/**
 * Creates the message log table with the deployed table's keys (the CDK construct reads the same
 * `MESSAGE_LOG_SCHEMA`). Succeeds if the table already exists. DynamoDB Local deletes expired
 * items by TTL only when TTL is enabled, and dynalite never does; reads filter them anyway.
 *
 * @example
 * await createMessageLogTable(new DynamoDBClient({ endpoint: 'http://127.0.0.1:8000' }), 'MessageLog');
 */
export async function createMessageLogTable(
  client: DynamoDBClient,
  tableName: string,
): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    ...keys(MESSAGE_LOG_SCHEMA.partitionKey, MESSAGE_LOG_SCHEMA.sortKey, 'N'),
  });
}

/** Creates the table unless it exists (a restart on the same DynamoDB), then waits until it is active. */
async function createTableIfMissing(
  client: DynamoDBClient,
  input: CreateTableCommandInput & { TableName: string },
): Promise<void> {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists(
    { client, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.5 },
    { TableName: input.TableName },
  );
}

/** On demand, keyed by a string partition key and a sort key of `sortType`, as both tables are. */
function keys(partitionKey: string, sortKey: string, sortType: 'S' | 'N') {
  return {
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: sortKey, AttributeType: sortType },
    ],
    KeySchema: [
      { AttributeName: partitionKey, KeyType: 'HASH' },
      { AttributeName: sortKey, KeyType: 'RANGE' },
    ],
  } satisfies Omit<CreateTableCommandInput, 'TableName'>;
}
