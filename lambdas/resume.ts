import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { readMessageLogConfig } from './config/message-log';
import { readResumeConfig } from './config/resume';
import { readStoreConfig } from './config/store';
import { serveResume } from './core/resume';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createMetrics, publishMetrics } from './runtime/metrics';
import { createStores } from './runtime/store';
import { SEND_FINISH_MARGIN_MS } from './shared/limits';
import { METRICS } from './shared/metrics';

const config = readResumeConfig(process.env);
const { store, messageLog } = createStores(
  readStoreConfig(process.env),
  readMessageLogConfig(process.env),
);
const gateway = createConnectionGateway(config);
const log = createLogger('resume');
const metrics = createMetrics();

/**
 * The `resume` route (`{"action":"resume","after":n,"epoch":"…"}`, two-way): replays the user's
 * missed logged messages to this connection through the Management API, then `resumed`. A
 * refused resume (bad frame, too many resumes, a v1 connection, the log unreadable) is answered
 * with an `error` frame as the route response, to the sender only. A served resume adds the
 * frames it replayed that API Gateway accepted to `MessagesReplayed`. `context` is Lambda's
 * (tests that drive the handler directly may leave it out).
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: Context,
): Promise<RouteResponse> {
  if (context) log.addContext(context);
  const { connectionId, authorizer } = event.requestContext;
  try {
    const outcome = await serveResume(
      { body: event.body, connectionId, authorizer },
      {
        store,
        messageLog,
        gateway,
        log,
        options: config.fanOut,
        ...(context && {
          finishBy: Date.now() + context.getRemainingTimeInMillis() - SEND_FINISH_MARGIN_MS,
        }),
      },
    );
    if ('code' in outcome) {
      log.info('resume refused', { connectionId, code: outcome.code, reason: outcome.message });
      return { statusCode: 200, body: JSON.stringify(outcome) };
    }
    metrics.addMetric(METRICS.messagesReplayed, MetricUnit.Count, outcome.delivered);
    return { statusCode: 200 };
  } finally {
    publishMetrics(metrics);
  }
}
