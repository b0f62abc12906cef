import { readConnectConfig } from './config/connect';
import { readStoreConfig } from './config/store';
import { registerConnection } from './core/connections';
import { ConnectionLimitExceededError, MissingIdentityError } from './core/errors';
import { chosenProtocol } from './core/protocol-v2';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';
import { createConnectionStore } from './runtime/store';

const config = readStoreConfig(process.env);
const { maxConnectionsPerUser } = readConnectConfig(process.env);
const store = createConnectionStore(config);
const log = createLogger('connect');

/**
 * `$connect`: records the authorized user's connection and its protocol. A client that offers
 * the subprotocol `tripsync.v2` gets it answered (API Gateway returns a subprotocol only when
 * `$connect` does, as this header). A non-2xx refuses the handshake with that status: 403
 * without an authorizer context, 429 when the user already holds `MAX_CONNECTIONS_PER_USER`
 * live connections, 500 when the table cannot be written.
 */
export async function handler(event: WebSocketRouteEvent): Promise<RouteResponse> {
  const { connectionId, connectedAt, authorizer } = event.requestContext;
  const protocol = chosenProtocol(event.headers, event.multiValueHeaders);
  try {
    await registerConnection(
      { connectionId, connectedAt, authorizer, protocol },
      { store, log, ttlSeconds: config.connectionTtlSeconds, maxConnectionsPerUser },
    );
    return protocol === 'v1'
      ? { statusCode: 200 }
      : { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': protocol } };
  } catch (error) {
    if (error instanceof ConnectionLimitExceededError) {
      log.warn('connection refused: too many live connections', {
        connectionId,
        userId: error.userId,
        live: error.live,
        limit: error.limit,
      });
      return { statusCode: 429, body: 'Too Many Requests' };
    }
    if (error instanceof MissingIdentityError) {
      log.error('connect without authorizer context: is the authorizer attached?', {
        connectionId,
        error,
      });
      return { statusCode: 403, body: 'Forbidden' };
    }
    log.error('connect failed', { connectionId, error });
    return { statusCode: 500, body: 'Internal Server Error' };
  }
}
