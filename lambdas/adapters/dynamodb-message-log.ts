import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DeliveryInProgressError, StoreUnavailableError } from '../core/errors';
import type {
  AppendedMessage,
  DeliveryKey,
  LogHead,
  MessageLog,
  StoredMessage,
} from '../core/ports';
import { DELIVERY_CLAIM_GRACE_MS, DELIVERY_CLAIM_RETENTION_SECONDS } from '../shared/limits';
import { MESSAGE_LOG_SCHEMA as schema } from '../shared/message-log-schema';
import { isConditionFailure } from './dynamodb-connection-store';
import { queryPages } from './dynamodb-query-pages';

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

/**
 * The sort key of a delivery claim: a 52-bit hash of its key, negated, below every message and
 * the head. Two keys of one user meeting on one hash is told apart by the claim's own key.
 *
 * @example
 * claimSeqOf('sqs:2e1424d4-f796-459a-8184-9c92662be6da'); // a negative safe integer
 */
export function claimSeqOf(key: string): number {
  const hash = createHash('sha256').update(key).digest('hex');
  return -(Number.parseInt(hash.slice(0, 13), 16) + 1);
}

/** What the adapter knows of a head it read or wrote. */
interface Head {
  last: number;
  epoch: string;
}

/** A delivery claim as stored. */
interface Claim {
  key: string;
  after: number;
  epoch: string;
  heldUntil: number;
}

/** What claiming a delivery found: go on and log it (under its key, or without one), or done. */
type ClaimOutcome =
  | { kind: 'claimed' }
  /** Another key's claim holds this one's hash: log without a key (a redelivery logs again). */
  | { kind: 'collision' }
  | { kind: 'logged'; seq: number };

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
 * With a delivery key (a queued message), a conditional put of the user's **claim** of that key
 * comes between steps 1 and 3: it records `after` (the head's `last`) and `heldUntil`, and the
 * message item carries the key. A redelivery's claim put fails; it reads the claim and finds
 * the message among the seqs after `after` (one Query), publishes it if its writer died before
 * moving the head, and returns its seq. No message yet: the claim's holder is still logging it
 * (`DeliveryInProgressError`) until `heldUntil` (plus a grace) has passed, or released the claim
 * when it failed; then the redelivery takes the claim over (a conditional update) and logs it.
 * Requests: 1 read and 3 writes for a first delivery; 3 reads and a failed put for a
 * redelivery of a logged message (plus an update if its head was left behind).
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
    delivery?: DeliveryKey,
  ): Promise<AppendedMessage> {
    const now = Math.floor(nowMs / 1000);
    const expiresAt = now + this.retentionSeconds;
    // The head outlives the newest message by one more retention period: a client that saw
    // everything and returns after the messages expired keeps its sequence (no false gap), and
    // the sequence restarts only once no message of it can be retained.
    const headExpiresAt = expiresAt + this.retentionSeconds;
    let head = await this.readOrCreateHead(userId, now, headExpiresAt);
    let key: string | undefined;
    if (delivery) {
      const claim = await this.claim(userId, delivery, head, nowMs, headExpiresAt);
      if (claim.kind === 'logged') return { seq: claim.seq, epoch: head.epoch, redelivered: true };
      if (claim.kind === 'claimed') key = delivery.key;
    }
    let committed = false;
    try {
      for (let conflicts = 0; ; ) {
        const seq = head.last + 1;
        const item = { seq, epoch: head.epoch, messageJson, nowMs, expiresAt, key };
        if (await this.putMessage(userId, item)) {
          committed = true;
          if (await this.advanceHead(userId, head, headExpiresAt)) {
            return { seq, epoch: head.epoch };
          }
          // Someone moved the head first: a helper that found this message (it is committed),
          // or, after an expiry, a new epoch (then this put went into a dead sequence: start over).
          const current = await this.readHead(userId, now);
          if (current?.epoch === head.epoch && current.last >= seq) {
            return { seq, epoch: head.epoch };
          }
          committed = false;
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
    } catch (error) {
      // Nothing logged under the claim (as far as this writer knows): a redelivery need not wait
      // for `heldUntil`. A put that failed on the wire but was applied is still found by its key.
      if (key !== undefined && delivery && !committed) {
        await this.releaseClaim(userId, delivery).catch(() => {});
      }
      throw error;
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
    for await (const page of this.queryPages({
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
    })) {
      for (const item of page.Items ?? []) {
        yield {
          seq: Number(item[schema.sortKey]),
          epoch: String(item[schema.epochAttribute]),
          messageJson: String(item[schema.messageAttribute]),
          expiresAt: Number(item[schema.ttlAttribute]),
        };
      }
    }
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
    message: {
      seq: number;
      epoch: string;
      messageJson: string;
      nowMs: number;
      expiresAt: number;
      /** The delivery key it is logged under, if any. */
      key: string | undefined;
    },
  ): Promise<boolean> {
    return this.conditional('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [schema.partitionKey]: userId,
            [schema.sortKey]: message.seq,
            [schema.epochAttribute]: message.epoch,
            [schema.messageAttribute]: message.messageJson,
            [schema.loggedAtAttribute]: message.nowMs,
            [schema.ttlAttribute]: message.expiresAt,
            ...(message.key !== undefined && { [schema.deliveryKeyAttribute]: message.key }),
          },
          ConditionExpression: 'attribute_not_exists(#seq) OR #epoch <> :epoch',
          ExpressionAttributeNames: { '#seq': schema.sortKey, '#epoch': schema.epochAttribute },
          ExpressionAttributeValues: { ':epoch': message.epoch },
        }),
      ),
    );
  }

  /**
   * Claims `delivery` for this user, or finds what an earlier delivery of it did: the seq it
   * logged the message at (published now if its writer stopped before the head), or a claim
   * still held (throws `DeliveryInProgressError`), or one given up (taken over).
   */
  private async claim(
    userId: string,
    delivery: DeliveryKey,
    head: Head,
    nowMs: number,
    headExpiresAt: number,
  ): Promise<ClaimOutcome> {
    const claimSeq = claimSeqOf(delivery.key);
    const now = Math.floor(nowMs / 1000);
    const mine: Claim = {
      key: delivery.key,
      after: head.last,
      epoch: head.epoch,
      heldUntil: delivery.heldUntil,
    };
    // Twice at most: a claim that expires between the put and the read is put again.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.putClaim(userId, claimSeq, mine, now)) return { kind: 'claimed' };
      const found = await this.readClaim(userId, claimSeq, now);
      if (found === undefined) continue;
      if (found.key !== delivery.key) return { kind: 'collision' };
      // Its message, if logged, is after `after` in the claim's epoch; a new epoch starts at 1.
      const after = found.epoch === head.epoch ? found.after : 0;
      const seq = await this.findLogged(userId, delivery.key, after, head.epoch);
      if (seq !== undefined) {
        // Its writer may have stopped between the put and the head: the head is then at
        // seq - 1 (it was there when the put succeeded), and publishing it is one step.
        if (head.last === seq - 1) await this.advanceHead(userId, head, headExpiresAt);
        return { kind: 'logged', seq };
      }
      if (nowMs < found.heldUntil + DELIVERY_CLAIM_GRACE_MS) {
        throw new DeliveryInProgressError(delivery.key, userId);
      }
      // Its holder has ended without logging it: take the claim over, unless another
      // redelivery just did.
      if (await this.takeOverClaim(userId, claimSeq, found, { ...mine, after })) {
        return { kind: 'claimed' };
      }
      throw new DeliveryInProgressError(delivery.key, userId);
    }
    throw new DeliveryInProgressError(delivery.key, userId);
  }

  private putClaim(userId: string, claimSeq: number, claim: Claim, now: number) {
    return this.conditional('PutItem', () =>
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [schema.partitionKey]: userId,
            [schema.sortKey]: claimSeq,
            [schema.deliveryKeyAttribute]: claim.key,
            [schema.claimAfterAttribute]: claim.after,
            [schema.epochAttribute]: claim.epoch,
            [schema.claimHeldUntilAttribute]: claim.heldUntil,
            [schema.ttlAttribute]: now + DELIVERY_CLAIM_RETENTION_SECONDS,
          },
          // An expired claim (TTL deletion lags) is no claim.
          ConditionExpression: 'attribute_not_exists(#seq) OR #expires <= :now',
          ExpressionAttributeNames: { '#seq': schema.sortKey, '#expires': schema.ttlAttribute },
          ExpressionAttributeValues: { ':now': now },
        }),
      ),
    );
  }

  private async readClaim(
    userId: string,
    claimSeq: number,
    now: number,
  ): Promise<Claim | undefined> {
    const { Item } = await this.run('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: claimSeq },
          ConsistentRead: true,
        }),
      ),
    );
    if (!Item || Number(Item[schema.ttlAttribute]) <= now) return undefined;
    return {
      key: String(Item[schema.deliveryKeyAttribute]),
      after: Number(Item[schema.claimAfterAttribute]),
      epoch: String(Item[schema.epochAttribute]),
      heldUntil: Number(Item[schema.claimHeldUntilAttribute]),
    };
  }

  /** The seq of the message logged under `key` after `after` in `epoch`, if any: one Query. */
  private async findLogged(
    userId: string,
    key: string,
    after: number,
    epoch: string,
  ): Promise<number | undefined> {
    for await (const page of this.queryPages({
      TableName: this.tableName,
      KeyConditionExpression: '#user = :user AND #seq > :after',
      FilterExpression: '#key = :key AND #epoch = :epoch',
      ProjectionExpression: '#seq',
      ExpressionAttributeNames: {
        '#user': schema.partitionKey,
        '#seq': schema.sortKey,
        '#key': schema.deliveryKeyAttribute,
        '#epoch': schema.epochAttribute,
      },
      ExpressionAttributeValues: {
        ':user': userId,
        ':after': after,
        ':key': key,
        ':epoch': epoch,
      },
      ConsistentRead: true,
    })) {
      const [found] = page.Items ?? [];
      if (found) return Number(found[schema.sortKey]);
    }
    return undefined;
  }

  /** Makes `claim` this delivery's, on condition that nobody changed it since it was read. */
  private takeOverClaim(userId: string, claimSeq: number, found: Claim, mine: Claim) {
    return this.conditional('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: claimSeq },
          UpdateExpression: 'SET #held = :mine, #after = :after, #epoch = :epoch',
          ConditionExpression: '#held = :found',
          ExpressionAttributeNames: {
            '#held': schema.claimHeldUntilAttribute,
            '#after': schema.claimAfterAttribute,
            '#epoch': schema.epochAttribute,
          },
          ExpressionAttributeValues: {
            ':mine': mine.heldUntil,
            ':after': mine.after,
            ':epoch': mine.epoch,
            ':found': found.heldUntil,
          },
        }),
      ),
    );
  }

  /** Gives a claim up at once (`heldUntil` 0), on condition that it is still this delivery's. */
  private releaseClaim(userId: string, delivery: DeliveryKey) {
    return this.conditional('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [schema.partitionKey]: userId, [schema.sortKey]: claimSeqOf(delivery.key) },
          UpdateExpression: 'SET #held = :released',
          ConditionExpression: '#held = :mine',
          ExpressionAttributeNames: { '#held': schema.claimHeldUntilAttribute },
          ExpressionAttributeValues: { ':released': 0, ':mine': delivery.heldUntil },
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

  /** The pages of one Query on this table, each request's failure named as the store's. */
  private queryPages(input: QueryCommandInput): AsyncGenerator<QueryCommandOutput> {
    return queryPages(input, (command) => this.run('Query', () => this.client.send(command)));
  }

  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new StoreUnavailableError(`${operation} on ${this.tableName}`, error, 'message log');
    }
  }
}
