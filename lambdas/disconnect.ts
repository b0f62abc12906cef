import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { readPresenceEventsConfig } from './config/presence-events';
import { readStoreConfig } from './config/store';
import { unregisterConnection } from './core/connections';
import { announcePresenceChange } from './core/presence';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';
import { createMetrics, publishMetrics } from './runtime/metrics';
import { createPresencePublisher } from './runtime/presence-publisher';
import { createConnectionStore } from './runtime/store';
import { METRICS } from './shared/metrics';

const config = readStoreConfig(process.env);
const store = createConnectionStore(config);
const presence = createPresencePublisher(readPresenceEventsConfig(process.env));
const log = createLogger('disconnect');
const metrics = createMetrics();

/**
 * `$disconnect`: removes the connection's row. The client is already gone, so a failure is
 * logged and answered 500 (visible in metrics); the row's TTL removes it later. With presence
 * events on, a user's last connection closing also puts an "offline" event. `context` is
 * Lambda's (tests that drive the handler directly may leave it out).
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: Context,
): Promise<RouteResponse> {
  if (context) log.addContext(context);
  const { connectionId, authorizer, disconnectStatusCode } = event.requestContext;
  try {
    const userId = await unregisterConnection(
      { connectionId, authorizer },
      { store, log, ttlSeconds: config.connectionTtlSeconds },
    );
    metrics.addMetric(METRICS.connectionsClosed, MetricUnit.Count, 1);
    if (presence && userId !== undefined) {
      const { failed } = await announcePresenceChange(
        { kind: 'disconnected', userId, connectionId },
        { store, publisher: presence, log },
      );
      if (failed) metrics.addMetric(METRICS.presenceEventsFailed, MetricUnit.Count, 1);
    }
    return { statusCode: 200 };
  } catch (error) {
    log.error('disconnect cleanup failed; the row will expire by TTL', {
      connectionId,
      disconnectStatusCode,
      error,
    });
    return { statusCode: 500 };
  } finally {
    publishMetrics(metrics);
  }
}
