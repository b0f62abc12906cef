import type { Logger } from '@aws-lambda-powertools/logger';

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
  /**
   * How many live rows the user has: one strongly consistent Query (more only past 1 MB of
   * rows), counting rows whose `expiresAt` is after `nowEpochSeconds`. A row whose put has
   * been acknowledged is always counted.
   */
  countLiveConnections(userId: string, nowEpochSeconds: number): Promise<number>;
  /** The owner of a connection, through the `byConnectionId` index (eventually consistent). */
  findUserId(connectionId: string): Promise<string | undefined>;
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
