import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError } from '../core/errors';
import type {
  ClientProtocol,
  ConnectionRecord,
  ConnectionStore,
  LiveConnection,
  ResumeClaim,
} from '../core/ports';
import { CONNECTION_TABLE_SCHEMA as schema } from '../shared/connection-table-schema';
import { queryPages } from './dynamodb-query-pages';

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
            // A v1 row carries no protocol, as rows written before protocol v2 existed.
            ...(record.protocol === 'tripsync.v2' && {
              [schema.protocolAttribute]: record.protocol,
            }),
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
    return (await this.listConnections(userId, nowEpochSeconds)).map((c) => c.connectionId);
  }

  async listConnections(userId: string, nowEpochSeconds: number): Promise<LiveConnection[]> {
    const connections: LiveConnection[] = [];
    // One page holds about 10,000 rows (1 MB); a user never has that many, but be correct.
    for await (const page of this.queryPages({
      TableName: this.tableName,
      KeyConditionExpression: '#user = :user',
      ProjectionExpression: '#connection, #expires, #protocol, #connectedAt',
      ExpressionAttributeNames: {
        '#user': schema.partitionKey,
        '#connection': schema.sortKey,
        '#expires': schema.ttlAttribute,
        '#protocol': schema.protocolAttribute,
        '#connectedAt': schema.connectedAtAttribute,
      },
      ExpressionAttributeValues: { ':user': userId },
      ConsistentRead: true,
    })) {
      for (const item of page.Items ?? []) {
        // TTL deletion lags by up to days, and expired rows still come back until then.
        const expiresAt = item[schema.ttlAttribute];
        if (typeof expiresAt === 'number' && expiresAt <= nowEpochSeconds) continue;
        const connectedAt = item[schema.connectedAtAttribute];
        connections.push({
          connectionId: String(item[schema.sortKey]),
          protocol: protocolOf(item[schema.protocolAttribute]),
          connectedAt: typeof connectedAt === 'number' ? connectedAt : 0,
        });
      }
    }
    return connections;
  }

  async claimResume(
    userId: string,
    connectionId: string,
    nowMs: number,
    bucket: { burst: number; refillMs: number },
  ): Promise<ResumeClaim> {
    // A token bucket as one timestamp: `resumeBucketAt` is when the bucket is full again. A
    // resume moves it `refillMs` later, from now if it is in the past; it is refused when that
    // would put it more than `burst` tokens ahead of now. DynamoDB has no max() in an update
    // expression, so the two cases are two conditional writes (the first is the common one).
    const key = { [schema.partitionKey]: userId, [schema.sortKey]: connectionId };
    const names = {
      '#connection': schema.sortKey,
      '#bucket': schema.resumeBucketAttribute,
    };
    const attempt = (update: string, condition: string, values: Record<string, number>) =>
      this.run('UpdateItem', async () => {
        try {
          const result = await this.client.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: key,
              UpdateExpression: update,
              ConditionExpression: condition,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
              ReturnValues: 'ALL_NEW',
            }),
          );
          return protocolOf(result.Attributes?.[schema.protocolAttribute]);
        } catch (error) {
          if (isConditionFailure(error)) return undefined;
          throw error;
        }
      });
    const idle = await attempt(
      'SET #bucket = :next',
      'attribute_exists(#connection) AND (attribute_not_exists(#bucket) OR #bucket <= :now)',
      { ':next': nowMs + bucket.refillMs, ':now': nowMs },
    );
    if (idle !== undefined) return { kind: 'granted', protocol: idle };
    const busy = await attempt(
      'SET #bucket = #bucket + :refill',
      'attribute_exists(#connection) AND #bucket <= :cap',
      { ':refill': bucket.refillMs, ':cap': nowMs + (bucket.burst - 1) * bucket.refillMs },
    );
    if (busy !== undefined) return { kind: 'granted', protocol: busy };
    const row = await this.run('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: key,
          ProjectionExpression: '#connection',
          ExpressionAttributeNames: { '#connection': schema.sortKey },
          ConsistentRead: true,
        }),
      ),
    );
    return row.Item ? { kind: 'rateLimited' } : { kind: 'unknownConnection' };
  }

  async countLiveConnections(userId: string, nowEpochSeconds: number): Promise<number> {
    let count = 0;
    for await (const page of this.queryPages({
      TableName: this.tableName,
      KeyConditionExpression: '#user = :user',
      // Expired rows linger until TTL deletes them (within days): count the live ones only.
      FilterExpression: 'attribute_not_exists(#expires) OR #expires > :now',
      ExpressionAttributeNames: {
        '#user': schema.partitionKey,
        '#expires': schema.ttlAttribute,
      },
      ExpressionAttributeValues: { ':user': userId, ':now': nowEpochSeconds },
      // The number alone: no items travel, whatever the user holds.
      Select: 'COUNT',
      ConsistentRead: true,
    })) {
      count += page.Count ?? 0;
    }
    return count;
  }

  async findUserId(connectionId: string): Promise<string | undefined> {
    return (await this.findConnection(connectionId))?.userId;
  }

  async findConnection(
    connectionId: string,
  ): Promise<{ userId: string; protocol: ClientProtocol } | undefined> {
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
    const item = page.Items?.[0];
    const userId = item?.[schema.partitionKey];
    return typeof userId === 'string'
      ? { userId, protocol: protocolOf(item?.[schema.protocolAttribute]) }
      : undefined;
  }

  /** The pages of one Query on this table, each request's failure named as the store's. */
  private queryPages(input: QueryCommandInput): AsyncGenerator<QueryCommandOutput> {
    return queryPages(input, (command) => this.run('Query', () => this.client.send(command)));
  }

  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new StoreUnavailableError(`${operation} on ${this.tableName}`, error);
    }
  }
}

/** A row's protocol; rows written before protocol v2 have none and are v1. */
function protocolOf(value: unknown): ClientProtocol {
  return value === 'tripsync.v2' ? 'tripsync.v2' : 'v1';
}

/** A conditional write refused (SDK v3 errors are checked by name, as every DynamoDB API names it). */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
