import type { AddressInfo } from 'node:net';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { createConnectionTable, createMessageLogTable } from '../../local/connection-table';

/** A real DynamoDB API (dynalite, in memory) on a free port, with the connection table and the message log. */
export interface TestDynamoDb {
  endpoint: string;
  tableName: string;
  /** The message log table. */
  messageTableName: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

/** Credentials the SDK signs with; dynalite accepts any. Never used against AWS. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * Starts dynalite and creates the connection table. Each test file gets its own server.
 *
 * @example
 * const db = await startDynamoDb();
 * afterAll(() => db.stop());
 */
export async function startDynamoDb(
  tableName = 'Connections',
  messageTableName = 'MessageLog',
): Promise<TestDynamoDb> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  await createConnectionTable(client, tableName);
  await createMessageLogTable(client, messageTableName);
  return {
    endpoint,
    tableName,
    messageTableName,
    client,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) =>
        server.close((error?: Error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/**
 * Every sort key in a user's partition of the connection table, the user's counter item's
 * included (a Query on the partition key alone, as no store method reads it).
 *
 * @example
 * expect(await partitionKeysOf(db, '42')).toEqual(['#count#42', 'BFaT_fALIAMCKug=']);
 */
export async function partitionKeysOf(db: TestDynamoDb, userId: string): Promise<string[]> {
  const page = await db.client.send(
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': { S: userId } },
      ConsistentRead: true,
    }),
  );
  return (page.Items ?? []).map((item) => item.connectionId?.S as string);
}

/**
 * An SDK client of the DynamoDB API at `endpoint` whose `before` runs ahead of each command it
 * sends, with the command's name and input (and may throw in its place): to count a store's
 * requests, or to put a step between two of them.
 *
 * @example
 * const names: string[] = [];
 * const client = observedClient(db.endpoint, (command) => void names.push(command));
 */
export function observedClient(
  endpoint: string,
  before: (command: string, input: Record<string, unknown>) => Promise<void> | void,
): DynamoDBClient {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await before(String(context.commandName), args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: 'observeCommands' },
  );
  return client;
}
