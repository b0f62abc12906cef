import type { Logger } from '@aws-lambda-powertools/logger';
import type { PresenceChangeDetail } from '../shared/eventbridge';

/**
 * What the core needs from the outside world. Adapters in `lambdas/adapters/` implement these
 * over AWS SDK clients; the handlers build them once per container and pass them in.
 */

/**
 * The protocol a connection speaks: `tripsync.v2` when the client offered that subprotocol and
 * `$connect` answered it, `v1` otherwise (and for rows written before protocol v2 existed).
 */
export type ClientProtocol = 'v1' | 'tripsync.v2';

/** One row of the connection table: a user holds one per open tab or device. */
export interface ConnectionRecord {
  userId: string;
  connectionId: string;
  /** When API Gateway accepted the connection, epoch milliseconds. */
  connectedAt: number;
  /** DynamoDB TTL attribute, epoch seconds: rows orphaned by a lost `$disconnect` expire. */
  expiresAt: number;
  /** What the connection's frames look like. Absent: `v1`. */
  protocol?: ClientProtocol;
}

/** A connection to post to, and how. */
export interface ConnectionTarget {
  connectionId: string;
  protocol: ClientProtocol;
}

/** A live connection of a user, as one read of the user's rows finds it. */
export interface LiveConnection extends ConnectionTarget {
  /** When API Gateway accepted it, epoch milliseconds (0 for a row written without it). */
  connectedAt: number;
}

/** The outcome of asking to serve one more resume on a connection (see `claimResume`). */
export type ResumeClaim =
  | { kind: 'granted'; protocol: ClientProtocol }
  | { kind: 'rateLimited' }
  /** The connection has no row (it expired, or the connection is gone). */
  | { kind: 'unknownConnection' };

/**
 * A user's connection counter as a write to it left it: what `$connect`'s cap reads instead of
 * counting the user's rows (see `CONNECTION_TABLE_SCHEMA` for the item).
 */
export interface ConnectionCount {
  /**
   * Rows added and not yet removed. Never fewer than the user's live rows but for the races
   * `registerConnection` names; more once rows expired without a `$disconnect` (TTL deletes
   * them, and nothing takes them off the counter).
   */
  connections: number;
  /** Bumped by every write to the counter: a repair applies only if it has not moved since. */
  changes: number;
}

/**
 * The user-to-connections mapping (DynamoDB in production and locally), with a counter per user
 * that follows the rows: every row put is added to it, every row removed is taken off it, so a
 * caller can never forget either.
 */
export interface ConnectionStore {
  /**
   * Two writes: the row, then adding it to the user's counter, whose new value comes back. If
   * the counter's write fails, the row is deleted again without touching the counter (the
   * write may have landed or not: counting a row that is gone is safe, a row left uncounted
   * would later be taken off a counter it was never added to), then the error is thrown.
   */
  putConnection(record: ConnectionRecord): Promise<ConnectionCount>;
  /**
   * Deletes the row and, only if there was one, takes it off the user's counter: two writes
   * (one when the row was already gone, which succeeds). When that leaves the counter at zero
   * or below, a third deletes the counter item on condition that it still is (a connect may
   * have added to it meanwhile), so the item exists only while the user holds connections.
   * Returns whether a row was removed. When only the counter's writes fail, the error says
   * `the row was removed` (the counter then counts one too many, which is safe).
   */
  deleteConnection(userId: string, connectionId: string): Promise<boolean>;
  /**
   * Sets the user's counter to `connections`, live rows just counted, on condition that it has
   * not changed since `seen` (one conditional write). Returns false when it had: another
   * connect or disconnect moved it, and its own write is the one to trust.
   */
  repairConnectionCount(
    userId: string,
    seen: ConnectionCount,
    connections: number,
  ): Promise<boolean>;
  /**
   * The user's live connection ids: one strongly consistent read, so a connection whose
   * `$connect` has returned is always included. Rows past `expiresAt` are left out, and so is
   * the user's counter item.
   */
  listConnectionIds(userId: string, nowEpochSeconds: number): Promise<string[]>;
  /**
   * The same read as `listConnectionIds`, with each connection's protocol and when it opened:
   * what send posts to and, with presence events on, what `$connect` checks its cap with and
   * tells a first connection by.
   */
  listConnections(userId: string, nowEpochSeconds: number): Promise<LiveConnection[]>;
  /**
   * Takes one token from the connection's resume bucket (`burst` tokens, one earned back every
   * `refillMs`), kept on its row: one conditional write, two when the bucket is in use, plus a
   * read when both are refused. Returns the row's protocol when granted.
   */
  claimResume(
    userId: string,
    connectionId: string,
    nowMs: number,
    bucket: { burst: number; refillMs: number },
  ): Promise<ResumeClaim>;
  /**
   * How many live rows the user has: one strongly consistent Query that returns the count
   * alone (more only past 1 MB of rows), counting rows whose `expiresAt` is after
   * `nowEpochSeconds`, the counter item left out. A row whose put has been acknowledged is
   * always counted. What presence answers, and what `$connect`'s cap checks when the counter
   * is over the cap.
   */
  countLiveConnections(userId: string, nowEpochSeconds: number): Promise<number>;
  /** The owner of a connection, through the `byConnectionId` index (eventually consistent). */
  findUserId(connectionId: string): Promise<string | undefined>;
  /** The owner and protocol of a connection: the same one read as `findUserId`. */
  findConnection(
    connectionId: string,
  ): Promise<{ userId: string; protocol: ClientProtocol } | undefined>;
}

/** A queued message being delivered, as the message log recognises its redeliveries. */
export interface DeliveryKey {
  /** The same on every delivery of one message, unique among messages: `sqs:{messageId}`. */
  key: string;
  /** Epoch ms by which the invocation delivering it has ended (its Lambda deadline). */
  heldUntil: number;
}

/** Where `append` put a message. */
export interface AppendedMessage {
  seq: number;
  epoch: string;
  /** True when an earlier delivery of the same key had logged it: `seq` is that one's. */
  redelivered?: boolean;
}

/** Where a user's sequence stands: its epoch (null: no log) and the highest published seq. */
export interface LogHead {
  epoch: string | null;
  last: number;
}

/** A message as its user's log holds it. */
export interface StoredMessage {
  seq: number;
  epoch: string;
  /** The message's JSON text, exactly as the producer sent it. */
  messageJson: string;
  /** Epoch seconds; the message is gone for good once this has passed. */
  expiresAt: number;
}

/**
 * Each user's log of logged messages, numbered 1, 2, 3, … with no gaps within an epoch
 * (DynamoDB in production and locally; `lambdas/adapters/dynamodb-message-log.ts`).
 */
export interface MessageLog {
  /**
   * Appends a message to the user's log and returns its seq and epoch. Concurrent appends to
   * one user get distinct, consecutive seqs; a writer that dies half-way never leaves a hole.
   *
   * With a `delivery`, a message already logged under the same key for this user is not logged
   * again: its first seq comes back, `redelivered` set. A delivery of the same key that is still
   * logging it makes this one throw `DeliveryInProgressError` (retry later) until its holder's
   * `heldUntil` has passed; then this one takes the claim over.
   */
  append(
    userId: string,
    messageJson: string,
    nowMs: number,
    delivery?: DeliveryKey,
  ): Promise<AppendedMessage>;
  /** The user's head: one strongly consistent read. An expired head counts as none. */
  head(userId: string, nowEpochSeconds: number): Promise<LogHead>;
  /**
   * The stored messages with `after < seq ≤ through`, in seq order, expired ones included (the
   * caller decides what they mean), fetched page by page as the caller iterates: one strongly
   * consistent Query per `pageSize` items.
   */
  messagesAfter(
    userId: string,
    after: number,
    through: number,
    pageSize: number,
  ): AsyncIterable<StoredMessage>;
}

/** A queued payload refused for good, with why: what the dead-letter queue keeps. */
export interface RejectedMessage {
  /** The queue message's body, unchanged. */
  body: string;
  /** The id SQS gave the message on the notification queue. */
  sourceMessageId: string;
  /** The error's name, e.g. `ValidationError`. */
  errorCode: string;
  /** What is wrong, naming the field. */
  errorMessage: string;
  /** The consumer's Lambda request id, to find its log lines. */
  requestId?: string;
}

/** Where a queue consumer puts what it can never deliver (the SQS dead-letter queue). */
export interface DeadLetterQueue {
  /** Sends the message to the dead-letter queue; throws when it could not. */
  reject(message: RejectedMessage): Promise<void>;
}

/** Publishes presence-change events (EventBridge `PutEvents`). */
export interface PresencePublisher {
  /** Throws when the event was not accepted. */
  publish(detail: PresenceChangeDetail): Promise<void>;
}

/** Posts to WebSocket connections (API Gateway Management API, `@connections`). */
export interface ConnectionGateway {
  /**
   * Sends `data` to one connection. Throws `ConnectionGoneError` for 410 and `PostFailedError`
   * (with `retryable`) for anything else; an abort through `signal` rejects with its reason.
   */
  postToConnection(connectionId: string, data: Uint8Array, signal: AbortSignal): Promise<void>;
}

/**
 * Invokes the send function itself (Lambda `Invoke`, `RequestResponse`) for one shard of a
 * large fan-out (`lambdas/adapters/lambda-shard-invoker.ts`).
 */
export interface ShardInvoker {
  /**
   * Invokes with `payload` (JSON text) and resolves with the function's result, parsed. Rejects
   * with `ShardInvocationError` when the invocation failed, was refused, or outlived `signal`.
   */
  invoke(payload: string, signal: AbortSignal): Promise<unknown>;
}

/**
 * The structured logger the core writes to: Powertools Logger's methods, so attributes are
 * objects (`log.info('connected', { userId })`). Never log a token or a whole event.
 */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
