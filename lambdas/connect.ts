import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { readConnectConfig } from './config/connect';
import { readPresenceEventsConfig } from './config/presence-events';
import { readStoreConfig } from './config/store';
import { registerConnection } from './core/connections';
import { ConnectionLimitExceededError, MissingIdentityError } from './core/errors';
import { announcePresenceChange } from './core/presence';
import { chosenProtocol } from './core/protocol-v2';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';
import { countRefusal, createMetrics, publishMetrics } from './runtime/metrics';
import { createPresencePublisher } from './runtime/presence-publisher';
import { createConnectionStore } from './runtime/store';
import { METRICS } from './shared/metrics';

const config = readStoreConfig(process.env);
const { maxConnectionsPerUser } = readConnectConfig(process.env);
const store = createConnectionStore(config);
const presence = createPresencePublisher(readPresenceEventsConfig(process.env));
const log = createLogger('connect');
const metrics = createMetrics();

/**
 * `$connect`: records the authorized user's connection and its protocol. A client that offers
 * the subprotocol `tripsync.v2` gets it answered (API Gateway returns a subprotocol only when
 * `$connect` does, as this header). A non-2xx refuses the handshake with that status: 403
 * without an authorizer context, 429 when the user already holds `MAX_CONNECTIONS_PER_USER`
 * live connections, 500 when the table cannot be written. With presence events on, a user's
 * first connection also puts an "online" event, told from the rows the cap has just read
 * (never failing the handshake). `context` is Lambda's (tests that drive the handler directly
 * may leave it out).
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: Context,
): Promise<RouteResponse> {
  if (context) log.addContext(context);
  const { connectionId, connectedAt, authorizer } = event.requestContext;
  const protocol = chosenProtocol(event.headers, event.multiValueHeaders);
  try {
    const { record, live, readAt } = await registerConnection(
      { connectionId, connectedAt, authorizer, protocol },
      {
        store,
        log,
        ttlSeconds: config.connectionTtlSeconds,
        maxConnectionsPerUser,
        // Only presence-change events need the rows; the cap alone needs their number.
        readLiveRows: presence !== undefined,
      },
    );
    metrics.addMetric(METRICS.connectionsOpened, MetricUnit.Count, 1);
    if (presence) {
      const { failed } = await announcePresenceChange(
        {
          kind: 'connected',
          userId: record.userId,
          connectionId,
          ...(live && { live: { connections: live, readAt } }),
        },
        { store, publisher: presence, log },
      );
      if (failed) metrics.addMetric(METRICS.presenceEventsFailed, MetricUnit.Count, 1);
    }
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
      countRefusal(metrics, 'too_many_connections');
      return { statusCode: 429, body: 'Too Many Requests' };
    }
    if (error instanceof MissingIdentityError) {
      log.error('connect without authorizer context: is the authorizer attached?', {
        connectionId,
        error,
      });
      countRefusal(metrics, 'no_identity');
      return { statusCode: 403, body: 'Forbidden' };
    }
    log.error('connect failed', { connectionId, error });
    countRefusal(metrics, 'store_unavailable');
    return { statusCode: 500, body: 'Internal Server Error' };
  } finally {
    publishMetrics(metrics);
  }
}
