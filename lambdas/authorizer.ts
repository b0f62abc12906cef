import type { Context } from 'aws-lambda';
import { readAuthConfig } from './config/auth';
import { authorizeConnect, type ConnectAuthorization } from './core/authorize';
import { AuthProviderUnavailableError, TokenRejectedError } from './core/errors';
import type { WebSocketAuthorizerEvent } from './events';
import { createLogger } from './runtime/logger';
import { countRefusal, createMetrics } from './runtime/metrics';
import { createVerifier } from './runtime/token-verifier';
import { refusalReasonOfToken } from './shared/metrics';

const log = createLogger('authorizer');
const metrics = createMetrics();
const verify = createVerifier(readAuthConfig(process.env), { log });

/**
 * REQUEST authorizer on `$connect`, identity source `route.request.querystring.token`.
 * Allow: a policy for the `methodArn`, `principalId` and context `{ userId }`. A rejected token
 * throws `Unauthorized`, which API Gateway turns into 401; any other failure is a 500. Each
 * refusal counts in `HandshakesRefused` by reason class. `context` is Lambda's (tests that
 * drive the handler directly may leave it out).
 */
export async function handler(
  event: WebSocketAuthorizerEvent,
  context?: Context,
): Promise<ConnectAuthorization> {
  if (context) log.addContext(context);
  const connectionId = event.requestContext?.connectionId;
  try {
    const result = await authorizeConnect(event, verify);
    log.info('token accepted', { connectionId, userId: result.principalId });
    return result;
  } catch (error) {
    if (error instanceof TokenRejectedError) {
      log.warn('token rejected', { connectionId, reason: error.reason, detail: error.message });
      countRefusal(metrics, refusalReasonOfToken(error.reason));
      // The exact string API Gateway maps to 401.
      throw new Error('Unauthorized');
    }
    // Not the client's fault: without its key source the authorizer refuses everyone.
    if (error instanceof AuthProviderUnavailableError) countRefusal(metrics, 'auth_unavailable');
    log.error('authorizer failed', { connectionId, error });
    throw error;
  }
}
