import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError } from '../core/errors';
import type { LogHead, MessageLog, StoredMessage } from '../core/ports';
import { MESSAGE_LOG_SCHEMA as schema } from '../shared/message-log-schema';
import { isConditionFailure } from './dynamodb-connection-store';

/**
 * Conflicts one append may meet (another writer took the seq it tried) before it gives up with
 * `StoreUnavailableError`. Each conflict means another append to the same user succeeded, so
 * only a storm of concurrent sends to one user comes near it.
 */
const MAX_CONFLICTS = 200;

/** A fresh epoch: 12 random bytes, 16 URL-safe characters, opaque to clients. */
export function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

/** What the adapter knows of a head it read or wrote. */
interface Head {
  last: number;
  epoch: string;
}

/**
 * `MessageLog` over a DynamoDB table with the keys of `MESSAGE_LOG_SCHEMA`, without
 * transactions (dynalite has none), gap-free:
 *
 * 1. read the head (`seq` 0: `last`, `epoch`), strongly consistent; create it with a fresh epoch
 *    (a conditional put) when it is absent or expired;
 * 2. put the message at `last + 1`, on condition that no message **of this epoch** is there (an
 *    item of an older epoch is garbage of a restarted sequence and may be overwritten);
 * 3. move the head from `last` to `last + 1` (a conditional update on `last` and `epoch`).
 *
 * When the put finds the seq taken, another writer holds it but may have died before step 3:
 * this writer moves the head past it ("helping"), then tries the next seq. A message is committed
 * by its put; the head only publishes it, so a writer that stops between its two writes leaves no
 * hole: the next writer publishes its message. Readers read up to `last`, so they never see a
 * seq whose writer is still between its writes. Requests per append: 1 read and 2 writes, plus
 * 1 failed put and 1 update per conflict (3 writes and a read to start a new epoch).
 *
 * @example
 * const log = new DynamoDbMessageLog(DynamoDBDocumentClient.from(new DynamoDBClient({})), 'MessageLog', 86_400);
 * const { seq, epoch } = await log.append('42', '{"type":"seat_taken"}', Date.now());
 */
export class DynamoDbMessageLog implements MessageLog {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    /** How long a message is kept (`MESSAGE_RETENTION_SECONDS`). */
    private readonly retentionSeconds: number,
  ) {}

  async append(
    userId: string,
    messageJson: string,
    nowMs: number,
  ): Promise<{ seq: number; epoch: string }> {
    const now = Math.floor(nowMs / 1000);
    const expiresAt = now + this.retentionSeconds;
    // The head outlives the newest message by one more retention period: a client that saw
    // everything and returns after the messages expired keeps its sequence (no false gap), and
    // the sequence restarts only once no message of it can be retained.
    const headExpiresAt = expiresAt + this.retentionSeconds;
    let head = await this.readOrCreateHead(userId, now, headExpiresAt);
    for (let conflicts = 0; ; ) {
      const seq = head.last + 1;
      if (await this.putMessage(userId, seq, head.epoch, messageJson, nowMs, expiresAt)) {
        if (await this.advanceHead(userId, head, headExpiresAt)) return { seq, epoch: head.epoch };
        // Someone moved the head first: a helper that found this message (it is committed), or,
        // after an expiry, a new epoch (then this put went into a dead sequence: start over).
        const current = await this.readHead(userId, now);
        if (current?.epoch === head.epoch && current.last >= seq) {
          return { seq, epoch: head.epoch };
        }
      } else {
        // Another writer's message holds `seq`: publish it for them, then try the next seq.
        if (++conflicts > MAX_CONFLICTS) {
          throw new StoreUnavailableError(
            `append for user ${userId}`,
            new Error(`gave up after ${MAX_CONFLICTS} conflicts with concurrent appends`),
            'message log',
          );
        }
        if (await this.advanceHead(userId, head, headExpiresAt)) {
          head = { last: seq, epoch: head.epoch };
          continue;
        }
        // A little jitter spreads writers that keep meeting on the same seq.
        await sleep(Math.random() * Math.min(20, conflicts));
      }
      head = await this.readOrCreateHead(userId, now, headExpiresAt);
    }
  }

  async head(userId: string, nowEpochSeconds: number): Promise<LogHead> {
    const head = await this.readHead(userId, nowEpochSeconds);
    return head ?? { epoch: null, last: 0 };
  }

  async *messagesAfter(
    userId: string,
    after: number,
    through: number,
    pageSize: number,
  ): AsyncIterable<StoredMessage> {
    if (through <= after) return;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.run('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: '#user = :user AND #seq BETWEEN :first AND :through',
            ProjectionExpression: '#seq, #epoch, #message, #expires',
            ExpressionAttributeNames: {
              '#user': schema.partitionKey,
              '#seq': schema.sortKey,
              '#epoch': schema.epochAttribute,
              '#message': schema.messageAttribute,
              '#expires': schema.ttlAttribute,
            },
            ExpressionAttributeValues: {
              ':user': userId,
              ':first': after + 1,
              ':through': through,
            },
            ConsistentRead: true,
            Limit: pageSize,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        yield {
          seq: Number(item[schema.sortKey]),
          epoch: String(item[schema.epochAttribute]),
          messageJson: String(item[schema.messageAttribute]),
          expiresAt: Number(item[schema.ttlAttribute]),
        };
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  /** The live head, or undefined when there is none or it has expired. */
  private async readHead(userId: string, now: number): Promise<Head | undefined> {
    const { Item } = await this.run('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: schema.headSeq },
          ConsistentRead: true,
        }),
      ),
    );
    // TTL deletion lags: an expired head is no head.
    if (!Item || Number(Item[schema.ttlAttribute]) <= now) return undefined;
    return { last: Number(Item[schema.lastAttribute]), epoch: String(Item[schema.epochAttribute]) };
  }

  private async readOrCreateHead(userId: string, now: number, expiresAt: number): Promise<Head> {
    for (;;) {
      const head = await this.readHead(userId, now);
      if (head) return head;
      const created: Head = { last: 0, epoch: newEpoch() };
      const put = await this.conditional('PutItem', () =>
        this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              [schema.partitionKey]: userId,
              [schema.sortKey]: schema.headSeq,
              [schema.lastAttribute]: created.last,
              [schema.epochAttribute]: created.epoch,
              [schema.ttlAttribute]: expiresAt,
            },
            ConditionExpression: 'attribute_not_exists(#seq) OR #expires <= :now',
            ExpressionAttributeNames: { '#seq': schema.sortKey, '#expires': schema.ttlAttribute },
            ExpressionAttributeValues: { ':now': now },
          }),
        ),
      );
      // Another writer created it first: read theirs.
      if (put) return created;
    }
  }

  /** Puts the message at `seq`; false when a message of the same epoch is already there. */
  private putMessage(
    userId: string,
    seq: number,
    epoch: string,
    messageJson: string,
    nowMs: number,
    expiresAt: number,
  ): Promise<boolean> {
    return this.conditional('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [schema.partitionKey]: userId,
            [schema.sortKey]: seq,
            [schema.epochAttribute]: epoch,
            [schema.messageAttribute]: messageJson,
            [schema.loggedAtAttribute]: nowMs,
            [schema.ttlAttribute]: expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(#seq) OR #epoch <> :epoch',
          ExpressionAttributeNames: { '#seq': schema.sortKey, '#epoch': schema.epochAttribute },
          ExpressionAttributeValues: { ':epoch': epoch },
        }),
      ),
    );
  }

  /** Moves the head from `head.last` to the next seq; false when it is not there any more. */
  private advanceHead(userId: string, head: Head, expiresAt: number): Promise<boolean> {
    return this.conditional('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: schema.headSeq },
          UpdateExpression: 'SET #last = :next, #expires = :expires',
          ConditionExpression: '#last = :last AND #epoch = :epoch',
          ExpressionAttributeNames: {
            '#last': schema.lastAttribute,
            '#epoch': schema.epochAttribute,
            '#expires': schema.ttlAttribute,
          },
          ExpressionAttributeValues: {
            ':last': head.last,
            ':next': head.last + 1,
            ':epoch': head.epoch,
            ':expires': expiresAt,
          },
        }),
      ),
    );
  }

  /** Runs a conditional write: true when it was applied, false when its condition failed. */
  private async conditional(operation: string, call: () => Promise<unknown>): Promise<boolean> {
    try {
      await this.run(operation, call);
      return true;
    } catch (error) {
      if (error instanceof StoreUnavailableError && isConditionFailure(error.cause)) {
        return false;
      }
      throw error;
    }
  }

  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new StoreUnavailableError(`${operation} on ${this.tableName}`, error, 'message log');
    }
  }
}
