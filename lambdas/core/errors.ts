/**
 * Every failure this backend names has its own class. `name` is stable: at the Lambda edge it
 * becomes the invocation's `errorType`, so producers can branch on it without parsing messages.
 */

/**
 * Input that breaks the contract (a `send` payload, an identifier). The message names the field.
 *
 * @example
 * throw new ValidationError('userIds[2]', 'must be a non-empty string or a non-negative integer, got boolean');
 * // errorType "ValidationError", errorMessage "userIds[2]: must be ..."
 */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  /** The offending field, as a path into the payload (`message`, `userIds[3]`). */
  readonly field: string;

  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`${field}: ${problem}`, options);
    this.field = field;
  }
}

/** Why a token was refused. Logged (never the token itself) so an operator can tell cases apart. */
export type TokenRejectionReason =
  | 'missing'
  | 'malformed'
  | 'unsupported_algorithm'
  | 'bad_signature'
  | 'unknown_key'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claim'
  | 'lifetime_too_long'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'invalid_subject';

/** A `$connect` token that does not prove who the caller is. The edge answers 401. */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
  readonly reason: TokenRejectionReason;

  constructor(reason: TokenRejectionReason, detail: string, options?: ErrorOptions) {
    super(`token rejected (${reason}): ${detail}`, options);
    this.reason = reason;
  }
}

/**
 * The identity provider could not be consulted (JWKS endpoint or secret store unreachable).
 * Not the caller's fault: the edge answers 500 so the client may retry.
 */
export class AuthProviderUnavailableError extends Error {
  override readonly name = 'AuthProviderUnavailableError';
  readonly retryable = true;
}

/**
 * The connection table or the message log could not be read or written. Retryable: when `send`
 * fails with it, nothing has been posted yet, so invoking again delivers each message (a
 * message already logged for some users is logged for them again, unless it came through the
 * queue: see docs/producers.md).
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly retryable = true;
  /** The DynamoDB operation that failed, e.g. `Query`. */
  readonly operation: string;

  constructor(operation: string, cause: unknown, store = 'connection store', detail?: string) {
    const causeText = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`${store} ${operation} failed: ${causeText}${detail ? `; ${detail}` : ''}`, { cause });
    this.operation = operation;
  }
}

/**
 * Another delivery of the same queue message is still logging it (SQS delivered it twice at
 * once, or its first delivery is still running): this one neither logs nor posts it. Retryable:
 * the record comes back after the visibility timeout, when the first delivery has finished, and
 * is then posted with the seq that one logged.
 *
 * @example
 * throw new DeliveryInProgressError('sqs:2e1424d4-f796-459a-8184-9c92662be6da', '42');
 */
export class DeliveryInProgressError extends Error {
  override readonly name = 'DeliveryInProgressError';
  readonly retryable = true;

  constructor(
    readonly deliveryKey: string,
    readonly userId: string,
  ) {
    super(
      `${deliveryKey} is being logged for user ${userId} by another delivery; retry after it ends`,
    );
  }
}

/**
 * A route event without the user id that the `$connect` authorizer puts in
 * `requestContext.authorizer`: the route is deployed without the authorizer, or the event is forged.
 */
export class MissingIdentityError extends Error {
  override readonly name = 'MissingIdentityError';
}

/**
 * A required environment variable is missing or malformed, thrown at cold start; or a value
 * it points to is unusable (an HS256 key in Secrets Manager shorter than 32 bytes), thrown when
 * that value is read. `variable` names the setting, the message names the secret: never a value.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.variable = variable;
  }
}

/**
 * The user already holds `limit` live connections: `$connect` refuses the next handshake with
 * 429 and removes the row it had written.
 *
 * @example
 * throw new ConnectionLimitExceededError('42', 21, 20);
 * // "user 42 holds 21 live connections with this one; at most 20 are allowed"
 */
export class ConnectionLimitExceededError extends Error {
  override readonly name = 'ConnectionLimitExceededError';

  constructor(
    readonly userId: string,
    /** Live rows counted, the refused connection's own included. */
    readonly live: number,
    readonly limit: number,
  ) {
    super(
      `user ${userId} holds ${live} live connections with this one; at most ${limit} are allowed`,
    );
  }
}

/** The connection no longer exists on API Gateway (HTTP 410 `GoneException`). */
export class ConnectionGoneError extends Error {
  override readonly name = 'ConnectionGoneError';
}

/** A post to a connection failed for another reason; `retryable` for throttling and 5xx. */
export class PostFailedError extends Error {
  override readonly name = 'PostFailedError';
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.retryable = retryable;
  }
}

/**
 * An invocation of a shard of a large send did not return a result: the function failed or timed
 * out, the invocation itself failed, or the send stopped waiting. Only `notStarted` failures
 * (Lambda refused the invocation: throttled) are known to have posted nothing.
 *
 * @example
 * throw new ShardInvocationError('TooManyRequestsException: Rate Exceeded', true);
 */
export class ShardInvocationError extends Error {
  override readonly name = 'ShardInvocationError';

  constructor(
    message: string,
    /** Lambda refused to start the invocation, so none of its posts was made. */
    readonly notStarted: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
