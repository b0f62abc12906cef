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
  ConnectionCount,
  ConnectionRecord,
  ConnectionStore,
  LiveConnection,
  ResumeClaim,
} from '../core/ports';
import {
  counterSortKey,
  CONNECTION_TABLE_SCHEMA as schema,
} from '../shared/connection-table-schema';
import { queryPages } from './dynamodb-query-pages';

/**
 * The key condition of a Query for a user's rows, `:counter` being the user's counter sort key:
 * the counter item sorts below every connection id, so the range after it is exactly the rows.
 * A filter could not leave it out (a filter expression may not name a key attribute), and the
 * range keeps it from being read at all.
 */
const ROWS_OF_USER = '#user = :user AND #connection > :counter';

/**
 * `ConnectionStore` over a DynamoDB table with the keys and index of `CONNECTION_TABLE_SCHEMA`,
 * each user's counter item included. Every failure becomes `StoreUnavailableError` naming the
 * operation and the cause.
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

  async putConnection(record: ConnectionRecord): Promise<ConnectionCount> {
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
    try {
      return await this.changeCounter(record.userId, 1, record.expiresAt);
    } catch (error) {
      // Whether the increment landed is unknown. Deleting the row without a decrement leaves
      // the counter right or one high; with one, a lost increment would leave it one low.
      const removed = await this.run('DeleteItem', () =>
        this.client.send(this.deleteRow(record)),
      ).then(
        () => true,
        () => false,
      );
      if (removed) throw error;
      throw this.withDetail(error, 'UpdateItem', 'its row was left behind; it expires by TTL');
    }
  }

  async deleteConnection(userId: string, connectionId: string): Promise<boolean> {
    const removed = await this.run('DeleteItem', () =>
      this.client.send(this.deleteRow({ userId, connectionId }, 'ALL_OLD')),
    );
    // A row already gone (a repeated $disconnect, a 410 after it) was taken off already.
    if (removed.Attributes === undefined) return false;
    try {
      const left = await this.changeCounter(userId, -1);
      if (left.connections <= 0) await this.deleteSpentCounter(userId);
    } catch (error) {
      // The row is gone (callers log a failure as a row left behind): only the counter is off,
      // one high, which costs no slot.
      throw this.withDetail(
        error,
        'UpdateItem',
        "the row was removed; the user's counter still counts it",
      );
    }
    return true;
  }

  async repairConnectionCount(
    userId: string,
    seen: ConnectionCount,
    connections: number,
  ): Promise<boolean> {
    return this.writeIf(
      'UpdateItem',
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.counterKey(userId),
        UpdateExpression: 'SET #count = :count ADD #changes :one',
        // On the number of changes, not on the count: an increment and a decrement in
        // between would leave the count as seen, and the increment's row may be one the
        // caller's count missed.
        ConditionExpression: '#changes = :seen',
        ExpressionAttributeNames: {
          '#count': schema.counterAttribute,
          '#changes': schema.counterChangesAttribute,
        },
        ExpressionAttributeValues: { ':count': connections, ':one': 1, ':seen': seen.changes },
      }),
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
      KeyConditionExpression: ROWS_OF_USER,
      ProjectionExpression: '#connection, #expires, #protocol, #connectedAt',
      ExpressionAttributeNames: {
        '#user': schema.partitionKey,
        '#connection': schema.sortKey,
        '#expires': schema.ttlAttribute,
        '#protocol': schema.protocolAttribute,
        '#connectedAt': schema.connectedAtAttribute,
      },
      ExpressionAttributeValues: { ':user': userId, ':counter': counterSortKey(userId) },
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
      KeyConditionExpression: ROWS_OF_USER,
      // Expired rows linger until TTL deletes them (within days): count the live ones only.
      FilterExpression: 'attribute_not_exists(#expires) OR #expires > :now',
      ExpressionAttributeNames: {
        '#user': schema.partitionKey,
        '#connection': schema.sortKey,
        '#expires': schema.ttlAttribute,
      },
      ExpressionAttributeValues: {
        ':user': userId,
        ':counter': counterSortKey(userId),
        ':now': nowEpochSeconds,
      },
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

  /** Deletes a counter left at zero or below, unless a connect has added to it meanwhile. */
  private async deleteSpentCounter(userId: string): Promise<void> {
    await this.writeIf(
      'DeleteItem',
      new DeleteCommand({
        TableName: this.tableName,
        Key: this.counterKey(userId),
        ConditionExpression: '#count <= :zero',
        ExpressionAttributeNames: { '#count': schema.counterAttribute },
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    );
  }

  /** The failure as the store's, with what it left behind for the caller's log. */
  private withDetail(error: unknown, operation: string, detail: string): StoreUnavailableError {
    return error instanceof StoreUnavailableError
      ? new StoreUnavailableError(error.operation, error.cause, undefined, detail)
      : new StoreUnavailableError(`${operation} on ${this.tableName}`, error, undefined, detail);
  }

  /** A conditional write: true when it was made, false when its condition refused it. */
  private writeIf(operation: string, command: UpdateCommand | DeleteCommand): Promise<boolean> {
    return this.run(operation, async () => {
      try {
        await this.client.send(command);
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    });
  }

  private counterKey(userId: string) {
    return { [schema.partitionKey]: userId, [schema.sortKey]: counterSortKey(userId) };
  }

  private deleteRow(
    row: { userId: string; connectionId: string },
    returnValues?: 'ALL_OLD',
  ): DeleteCommand {
    return new DeleteCommand({
      TableName: this.tableName,
      Key: { [schema.partitionKey]: row.userId, [schema.sortKey]: row.connectionId },
      ...(returnValues && { ReturnValues: returnValues }),
    });
  }

  /**
   * Adds `by` to the user's counter (creating it at `by`), one write, and returns its new value.
   * An increment also moves the item's expiry past the row it counts.
   */
  private async changeCounter(
    userId: string,
    by: 1 | -1,
    rowExpiresAt?: number,
  ): Promise<ConnectionCount> {
    const result = await this.run('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.counterKey(userId),
          UpdateExpression: `${rowExpiresAt === undefined ? '' : 'SET #expires = :expires '}ADD #count :by, #changes :one`,
          ExpressionAttributeNames: {
            '#count': schema.counterAttribute,
            '#changes': schema.counterChangesAttribute,
            ...(rowExpiresAt !== undefined && { '#expires': schema.ttlAttribute }),
          },
          ExpressionAttributeValues: {
            ':by': by,
            ':one': 1,
            ...(rowExpiresAt !== undefined && {
              ':expires': rowExpiresAt + schema.counterExpiryMarginSeconds,
            }),
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    const connections = result.Attributes?.[schema.counterAttribute];
    const changes = result.Attributes?.[schema.counterChangesAttribute];
    if (typeof connections !== 'number' || typeof changes !== 'number') {
      throw new StoreUnavailableError(
        `UpdateItem on ${this.tableName}`,
        new Error(`the counter of user ${userId} came back without its numbers`),
      );
    }
    return { connections, changes };
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
