import { TokenRejectedError } from './errors';
import type { VerifyToken } from './tokens';

/** The parts of API Gateway's REQUEST authorizer event that `$connect` authorization reads. */
export interface ConnectAuthorizationRequest {
  methodArn: string;
  queryStringParameters?: Record<string, string | undefined> | null;
}

/**
 * An Allow result. API Gateway hands `context` to every later event of the connection as
 * `requestContext.authorizer` (with `principalId`), `$disconnect` included.
 */
export interface ConnectAuthorization {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: [{ Action: 'execute-api:Invoke'; Effect: 'Allow'; Resource: string }];
  };
  context: { userId: string };
}

/**
 * Authorizes a WebSocket handshake from the `token` query parameter (browsers cannot set
 * headers on a WebSocket). Throws `TokenRejectedError` when the token proves nothing.
 *
 * @example
 * const result = await authorizeConnect(
 *   { methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/$connect',
 *     queryStringParameters: { token } },
 *   verify,
 * );
 * result.context.userId; // '42'
 */
export async function authorizeConnect(
  request: ConnectAuthorizationRequest,
  verify: VerifyToken,
): Promise<ConnectAuthorization> {
  const token = request.queryStringParameters?.token;
  if (token === undefined || token === null) {
    throw new TokenRejectedError('missing', 'no token query parameter');
  }
  const userId = await verify(token);
  return {
    principalId: userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: request.methodArn }],
    },
    context: { userId },
  };
}
