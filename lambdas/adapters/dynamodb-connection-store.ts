import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError } from '../core/errors';
import type { ConnectionRecord, ConnectionStore } from '../core/ports';
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
    let startKey: Record<string, unknown> | undefined;
    do {
      // One page holds about 10,000 rows (1 MB); a user never has that many, but be correct.
      const page = await this.run('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#user = :user',
            ProjectionExpression: '#connection, #expires',
            ExpressionAttributeNames: {
              '#user': schema.partitionKey,
              '#connection': schema.sortKey,
              '#expires': schema.ttlAttribute,
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
        ids.push(String(item[schema.sortKey]));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return ids;
  }

  async countLiveConnections(userId: string, nowEpochSeconds: number): Promise<number> {
    let count = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.run('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'userId = :userId',
            // Expired rows linger until TTL deletes them (within days): count the live ones only.
            FilterExpression: 'attribute_not_exists(expiresAt) OR expiresAt > :now',
            ExpressionAttributeValues: { ':userId': userId, ':now': nowEpochSeconds },
            Select: 'COUNT',
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return count;
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
