import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError } from '../core/errors';
import type { ConnectionRecord, ConnectionStore } from '../core/ports';
import { CONNECTION_TABLE_SCHEMA } from './connection-table-schema';

/**
 * `ConnectionStore` over a DynamoDB table. Every failure becomes `StoreUnavailableError`
 * naming the operation and the cause.
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
      this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...record } })),
    );
  }

  async deleteConnection(userId: string, connectionId: string): Promise<void> {
    await this.run('DeleteItem', () =>
      this.client.send(
        new DeleteCommand({ TableName: this.tableName, Key: { userId, connectionId } }),
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
            KeyConditionExpression: 'userId = :userId',
            ExpressionAttributeValues: { ':userId': userId },
            ProjectionExpression: 'connectionId, expiresAt',
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        // TTL deletion lags by up to days, and expired rows still come back until then.
        if (typeof item.expiresAt === 'number' && item.expiresAt <= nowEpochSeconds) continue;
        ids.push(String(item.connectionId));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return ids;
  }

  async findUserId(connectionId: string): Promise<string | undefined> {
    const page = await this.run('Query', () =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONNECTION_TABLE_SCHEMA.connectionIdIndex,
          KeyConditionExpression: 'connectionId = :connectionId',
          ExpressionAttributeValues: { ':connectionId': connectionId },
          Limit: 1,
        }),
      ),
    );
    const userId = page.Items?.[0]?.userId;
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
