import { readMessageLogConfig } from './config/message-log';
import { readResumeConfig } from './config/resume';
import { readStoreConfig } from './config/store';
import { serveResume } from './core/resume';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createStores } from './runtime/store';
import { SEND_FINISH_MARGIN_MS } from './shared/limits';

const config = readResumeConfig(process.env);
const { store, messageLog } = createStores(
  readStoreConfig(process.env),
  readMessageLogConfig(process.env),
);
const gateway = createConnectionGateway(config);
const log = createLogger('resume');

/** The part of Lambda's `context` the resume handler reads. */
interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * The `resume` route (`{"action":"resume","after":n,"epoch":"…"}`, two-way): replays the user's
 * missed logged messages to this connection through the Management API, then `resumed`. A
 * refused resume (bad frame, too many resumes, a v1 connection, the log unreadable) is answered
 * with an `error` frame as the route response, to the sender only.
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: InvocationContext,
): Promise<RouteResponse> {
  const { connectionId, authorizer } = event.requestContext;
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
  return { statusCode: 200 };
}
