import { PROTOCOL } from './protocol';

/**
 * The client's stable error codes, plus the codes of the server's `error` frames
 * (`INVALID_RESUME`, `RESUME_RATE_LIMITED`, `RESUME_UNAVAILABLE`, …) passed through as they are.
 *
 * @example
 * const fatal: TripSyncErrorCode[] = ['CONNECTION_REFUSED'];
 * client.on('error', (error) => fatal.includes(error.code) && showOffline());
 */
export type TripSyncErrorCode =
  /** `maxRefusals` connection attempts in a row failed before opening: the client gave up. */
  | 'CONNECTION_REFUSED'
  /** `options.token()` threw or returned no string (counts as a failed attempt). */
  | 'TOKEN_FAILED'
  /** The WebSocket class threw when constructed (counts as a failed attempt). */
  | 'CONNECTION_FAILED'
  /** A server frame that is not protocol v2 (it is ignored). */
  | 'BAD_FRAME'
  /** The storage adapter failed, or held a cursor that is not one (the client starts afresh). */
  | 'STORAGE_FAILED'
  /** `whoami()` without an open connection, or the connection closed before the answer. */
  | 'NOT_OPEN'
  | (string & {});

/**
 * Every error the client reports, on the `error` event or by a rejected promise. Branch on `code`.
 *
 * @example
 * client.on('error', (error) => {
 *   if (error.code === 'CONNECTION_REFUSED') showSignIn();
 *   else console.warn(error.code, error.message);
 * });
 */
export class TripSyncError extends Error {
  override name = 'TripSyncError';

  constructor(
    readonly code: TripSyncErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The client gave up: `attempts` connection attempts in a row failed before the socket opened.
 * A browser cannot tell a refused handshake (API Gateway's 401, 403 or 429) from a network
 * failure, so every failure before `open` counts, except while the device says it is offline.
 * The client is closed afterwards; `connect()` starts again.
 *
 * @example
 * client.on('error', (error) => {
 *   if (error instanceof ConnectionRefusedError) console.log(error.attempts, error.lastFailure);
 * });
 */
export class ConnectionRefusedError extends TripSyncError {
  override name = 'ConnectionRefusedError';

  constructor(
    readonly attempts: number,
    /** What the last attempt saw: `ws` names the HTTP status, a browser only a close code. */
    readonly lastFailure: string,
  ) {
    super(
      'CONNECTION_REFUSED',
      `gave up after ${attempts} connection attempts in a row failed before opening (a refused ` +
        `handshake: expired or invalid token, 403, 429; or a server without ${PROTOCOL}); ` +
        `last: ${lastFailure}`,
    );
  }
}

/**
 * An `error` frame from the server, with its stable `code` and the server's message.
 *
 * @example
 * client.on('error', (error) => {
 *   if (error instanceof ServerError && error.code === 'RESUME_UNAVAILABLE') log(error.message);
 * });
 */
export class ServerError extends TripSyncError {
  override name = 'ServerError';
}
