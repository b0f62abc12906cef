import { replyToClientFrame } from './core/client-messages';
import type { RouteResponse, WebSocketRouteEvent } from './events';
import { createLogger } from './runtime/logger';

const log = createLogger('default');

/**
 * `$default`: answers `ping` and `whoami`, and explains anything else. The reply is the route
 * response (a two-way route), so it can only ever reach the sender, and this function needs
 * neither DynamoDB nor the Management API.
 */
export async function handler(event: WebSocketRouteEvent): Promise<RouteResponse> {
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
