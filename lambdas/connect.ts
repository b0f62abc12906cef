import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { readPresenceEventsConfig } from './config/presence-events';
import { readStoreConfig } from './config/store';
import { registerConnection } from './core/connections';
import { MissingIdentityError } from './core/errors';
import { announcePresenceChange } from './core/presence';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';
import { countRefusal, createMetrics, publishMetrics } from './runtime/metrics';
import { createPresencePublisher } from './runtime/presence-publisher';
import { createConnectionStore } from './runtime/store';
import { METRICS } from './shared/metrics';

const config = readStoreConfig(process.env);
const store = createConnectionStore(config);
const presence = createPresencePublisher(readPresenceEventsConfig(process.env));
const log = createLogger('connect');
const metrics = createMetrics();

/**
 * `$connect`: records the authorized user's connection. A non-2xx refuses the handshake:
 * 403 without an authorizer context, 500 when the table cannot be written. With presence
 * events on, a user's first connection also puts an "online" event (never failing the
 * handshake). `context` is Lambda's (tests that drive the handler directly may leave it out).
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: Context,
): Promise<RouteResponse> {
  if (context) log.addContext(context);
  const { connectionId, connectedAt, authorizer } = event.requestContext;
  try {
    const record = await registerConnection(
      { connectionId, connectedAt, authorizer },
      { store, log, ttlSeconds: config.connectionTtlSeconds },
    );
    metrics.addMetric(METRICS.connectionsOpened, MetricUnit.Count, 1);
    if (presence) {
      const { failed } = await announcePresenceChange(
        { kind: 'connected', userId: record.userId, connectionId },
        { store, publisher: presence, log },
      );
      if (failed) metrics.addMetric(METRICS.presenceEventsFailed, MetricUnit.Count, 1);
    }
    return { statusCode: 200 };
  } catch (error) {
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
