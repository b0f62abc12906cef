import { readAuthConfig } from './config/auth';
import { authorizeConnect, type ConnectAuthorization } from './core/authorize';
import { TokenRejectedError } from './core/errors';
import type { WebSocketAuthorizerEvent } from './events';
import { createLogger } from './runtime/logger';
import { createVerifier } from './runtime/token-verifier';

const log = createLogger('authorizer');
const verify = createVerifier(readAuthConfig(process.env), { log });

/**
 * REQUEST authorizer on `$connect`, identity source `route.request.querystring.token`.
 * Allow: a policy for the `methodArn`, `principalId` and context `{ userId }`. A rejected token
 * throws `Unauthorized`, which API Gateway turns into 401; any other failure is a 500.
 */
export async function handler(event: WebSocketAuthorizerEvent): Promise<ConnectAuthorization> {
  const connectionId = event.requestContext?.connectionId;
  try {
    const result = await authorizeConnect(event, verify);
    log.info('token accepted', { connectionId, userId: result.principalId });
    return result;
  } catch (error) {
    if (error instanceof TokenRejectedError) {
      log.warn('token rejected', { connectionId, reason: error.reason, detail: error.message });
      // The exact string API Gateway maps to 401.
      throw new Error('Unauthorized');
    }
    log.error('authorizer failed', { connectionId, error });
    throw error;
  }
}
