import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError } from '../core/errors';
import type { ConnectionRecord, ConnectionStore, LiveConnection } from '../core/ports';
import { CONNECTION_TABLE_SCHEMA as schema } from '../shared/connection-table-schema';

/**
 * `ConnectionStore` over a DynamoDB table with the keys and index of `CONNECTION_TABLE_SCHEMA`.
 * Every failure becomes `StoreUnavailableError` naming the operation and the cause.
 *
 * @example
 * const store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'Connections');
 * await store.putConnection({ userId: '42', connectionId: 'BFaT_fALIAMCKug=', connectedAt: Date.now(), expiresAt });
 */
export class DynamoDbConnectionStore implements ConnectionStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putConnection(record: ConnectionRecord): Promise<void> {
    await this.run('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [schema.partitionKey]: record.userId,
            [schema.sortKey]: record.connectionId,
            [schema.connectedAtAttribute]: record.connectedAt,
            [schema.ttlAttribute]: record.expiresAt,
          },
        }),
      ),
    );
  }

  async deleteConnection(userId: string, connectionId: string): Promise<void> {
    await this.run('DeleteItem', () =>
      this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: connectionId },
        }),
      ),
    );
  }

  async listConnectionIds(userId: string, nowEpochSeconds: number): Promise<string[]> {
    const ids: string[] = [];
    await this.queryLive(userId, nowEpochSeconds, false, (item) => {
      ids.push(String(item[schema.sortKey]));
    });
    return ids;
  }

  async listConnections(userId: string, nowEpochSeconds: number): Promise<LiveConnection[]> {
    const connections: LiveConnection[] = [];
    await this.queryLive(userId, nowEpochSeconds, true, (item) => {
      const connectedAt = item[schema.connectedAtAttribute];
      connections.push({
        connectionId: String(item[schema.sortKey]),
        connectedAt: typeof connectedAt === 'number' ? connectedAt : 0,
      });
    });
    return connections;
  }

  /** One strongly consistent Query (a page per 1 MB), visiting the rows not yet expired. */
  private async queryLive(
    userId: string,
    nowEpochSeconds: number,
    withConnectedAt: boolean,
    visit: (item: Record<string, unknown>) => void,
  ): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      // One page holds about 10,000 rows (1 MB); a user never has that many, but be correct.
      const page = await this.run('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#user = :user',
            ProjectionExpression: withConnectedAt
              ? '#connection, #expires, #connectedAt'
              : '#connection, #expires',
            ExpressionAttributeNames: {
              '#user': schema.partitionKey,
              '#connection': schema.sortKey,
              '#expires': schema.ttlAttribute,
              ...(withConnectedAt && { '#connectedAt': schema.connectedAtAttribute }),
            },
            ExpressionAttributeValues: { ':user': userId },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        // TTL deletion lags by up to days, and expired rows still come back until then.
        const expiresAt = item[schema.ttlAttribute];
        if (typeof expiresAt === 'number' && expiresAt <= nowEpochSeconds) continue;
        visit(item);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  async findUserId(connectionId: string): Promise<string | undefined> {
    const page = await this.run('Query', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: schema.connectionIdIndex,
          KeyConditionExpression: '#connection = :connection',
          ExpressionAttributeNames: { '#connection': schema.sortKey },
          ExpressionAttributeValues: { ':connection': connectionId },
          Limit: 1,
        }),
      ),
    );
    const userId = page.Items?.[0]?.[schema.partitionKey];
    return typeof userId === 'string' ? userId : undefined;
  }

  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new StoreUnavailableError(`${operation} on ${this.tableName}`, error);
    }
  }
}
