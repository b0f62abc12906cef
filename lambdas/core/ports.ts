import type { Logger } from '@aws-lambda-powertools/logger';

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

/** The outcome of asking to serve one more resume on a connection (see `claimResume`). */
export type ResumeClaim =
  | { kind: 'granted'; protocol: ClientProtocol }
  | { kind: 'rateLimited' }
  /** The connection has no row (it expired, or the connection is gone). */
  | { kind: 'unknownConnection' };

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
  /** The same read as `listConnectionIds`, with each connection's protocol. */
  listConnections(userId: string, nowEpochSeconds: number): Promise<ConnectionTarget[]>;
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
   * How many live rows the user has: one strongly consistent Query (more only past 1 MB of
   * rows), counting rows whose `expiresAt` is after `nowEpochSeconds`. A row whose put has
   * been acknowledged is always counted.
   */
  countLiveConnections(userId: string, nowEpochSeconds: number): Promise<number>;
  /** The owner of a connection, through the `byConnectionId` index (eventually consistent). */
  findUserId(connectionId: string): Promise<string | undefined>;
  /** The owner and protocol of a connection: the same one read as `findUserId`. */
  findConnection(
    connectionId: string,
  ): Promise<{ userId: string; protocol: ClientProtocol } | undefined>;
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
   */
  append(
    userId: string,
    messageJson: string,
    nowMs: number,
  ): Promise<{ seq: number; epoch: string }>;
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
