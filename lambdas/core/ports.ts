import type { Logger } from '@aws-lambda-powertools/logger';
import type { PresenceChangeDetail } from '../shared/eventbridge';

/**
 * What the core needs from the outside world. Adapters in `lambdas/adapters/` implement these
 * over AWS SDK clients; the handlers build them once per container and pass them in.
 */

/** One row of the connection table: a user holds one per open tab or device. */
export interface ConnectionRecord {
  userId: string;
  connectionId: string;
  /** When API Gateway accepted the connection, epoch milliseconds. */
  connectedAt: number;
  /** DynamoDB TTL attribute, epoch seconds: rows orphaned by a lost `$disconnect` expire. */
  expiresAt: number;
}

/** The user-to-connections mapping (DynamoDB in production and locally). */
export interface ConnectionStore {
  /** One write. */
  putConnection(record: ConnectionRecord): Promise<void>;
  /** One write; deleting a row that is already gone succeeds. */
  deleteConnection(userId: string, connectionId: string): Promise<void>;
  /**
   * The user's live connection ids: one strongly consistent read, so a connection whose
   * `$connect` has returned is always included. Rows past `expiresAt` are left out.
   */
  listConnectionIds(userId: string, nowEpochSeconds: number): Promise<string[]>;
  /** The owner of a connection, through the `byConnectionId` index (eventually consistent). */
  findUserId(connectionId: string): Promise<string | undefined>;
  /**
   * The user's live connections with when each opened: one strongly consistent read, rows past
   * `expiresAt` left out, as {@link listConnectionIds}.
   */
  listConnections(userId: string, nowEpochSeconds: number): Promise<LiveConnection[]>;
}

/** A live connection of a user, as presence reads it. */
export interface LiveConnection {
  connectionId: string;
  /** When API Gateway accepted it, epoch milliseconds. */
  connectedAt: number;
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
 * The structured logger the core writes to: Powertools Logger's methods, so attributes are
 * objects (`log.info('connected', { userId })`). Never log a token or a whole event.
 */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
