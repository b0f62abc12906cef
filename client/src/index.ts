/**
 * TripSync Realtime's client: protocol v2 (`tripsync.v2`) for browsers and Node, with no
 * runtime dependencies. See docs/client.md.
 *
 * @example
 * import { TripSyncClient } from './client/src/index';
 * const client = new TripSyncClient({ url, token: getToken });
 * client.on('message', ({ seq, message }) => console.log(seq, message));
 * client.connect();
 */
export type { ClientEvents, ClientMessage, ConnectionStatus, Gap } from './client';
export { TripSyncClient } from './client';
export type { TripSyncErrorCode } from './errors';
export { ConnectionRefusedError, ServerError, TripSyncError } from './errors';
export type { ClientOptions, CursorStorage } from './options';
export { DEFAULTS } from './options';
export type { Cursor } from './ordered-log';
export type { WebSocketConstructor, WebSocketLike } from './protocol';
export { PROTOCOL } from './protocol';
