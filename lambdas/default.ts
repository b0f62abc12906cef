import type { Context } from 'aws-lambda';
import { replyToClientFrame } from './core/client-messages';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';

const log = createLogger('default');

/**
 * `$default`: answers `ping` and `whoami`, and explains anything else. The reply is the route
 * response (a two-way route), so it can only ever reach the sender, and this function needs
 * neither DynamoDB nor the Management API. `context` is Lambda's (tests that drive the handler
 * directly may leave it out).
 */
export async function handler(
  event: WebSocketRouteEvent,
  context?: Context,
): Promise<RouteResponse> {
  if (context) log.addContext(context);
  const { connectionId, authorizer } = event.requestContext;
  const reply = replyToClientFrame({
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
    connectionId,
    authorizer,
  });
  if (reply.type === 'error') log.info('client frame refused', { connectionId, code: reply.code });
  return { statusCode: 200, body: JSON.stringify(reply) };
}
