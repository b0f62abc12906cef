import { readStoreConfig } from './config/store';
import { unregisterConnection } from './core/connections';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';
import { createConnectionStore } from './runtime/store';

const config = readStoreConfig(process.env);
const store = createConnectionStore(config);
const log = createLogger('disconnect');

/**
 * `$disconnect`: removes the connection's row. The client is already gone, so a failure is
 * logged and answered 500 (visible in metrics); the row's TTL removes it later.
 */
export async function handler(event: WebSocketRouteEvent): Promise<RouteResponse> {
  const { connectionId, authorizer, disconnectStatusCode } = event.requestContext;
  try {
    await unregisterConnection(
      { connectionId, authorizer },
      { store, log, ttlSeconds: config.connectionTtlSeconds },
    );
    return { statusCode: 200 };
  } catch (error) {
    log.error('disconnect cleanup failed; the row will expire by TTL', {
      connectionId,
      disconnectStatusCode,
      error,
    });
    return { statusCode: 500 };
  }
}
