import { MissingIdentityError, ValidationError } from './errors';
import { normalizeUserId } from './identifiers';

/** The `requestContext.authorizer` object API Gateway adds to every event of a connection. */
export type AuthorizerContext = Record<string, unknown> | null | undefined;

/**
 * The user id the `$connect` authorizer established, read from `requestContext.authorizer`
 * only: never from the query string, headers or body, which the client controls.
 *
 * @example
 * authorizedUserId({ principalId: '42', userId: '42', integrationLatency: 12 }); // '42'
 */
export function authorizedUserId(authorizer: AuthorizerContext): string {
  const userId = authorizer?.userId;
  if (userId === undefined || userId === null) {
    throw new MissingIdentityError('requestContext.authorizer.userId is missing');
  }
  try {
    return normalizeUserId(userId, 'requestContext.authorizer.userId');
  } catch (error) {
    if (error instanceof ValidationError)
      throw new MissingIdentityError(error.message, { cause: error });
    throw error;
  }
}
