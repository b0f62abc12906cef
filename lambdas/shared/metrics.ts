// No imports on purpose: the functions publish these metrics, and the CDK construct's alarms and
// dashboard read them; neither may load the other's code through this module.

/**
 * The backend's CloudWatch metrics, in one place. The functions write them in Embedded Metric
 * Format through Powertools Metrics (one JSON log line per invocation, no API call); the
 * construct's alarms and dashboard (`lib/monitoring.ts`) read them by these names; the local
 * stack prints the same lines. Every metric has the dimension `service` (Powertools' default,
 * `tripsync-realtime`); `HandshakesRefused` also has `Reason`. Never a user or connection id: each
 * distinct dimension value is a metric of its own, billed as such.
 *
 * @example
 * metrics.addMetric(METRICS.messagesDelivered, MetricUnit.Count, result.delivered);
 */
export const METRICS = {
  /** A `$connect` recorded its connection (the handshake completes). */
  connectionsOpened: 'ConnectionsOpened',
  /** A `$disconnect` removed its connection's row. */
  connectionsClosed: 'ConnectionsClosed',
  /** A handshake refused, by `Reason` (see {@link REFUSAL_REASONS}). */
  handshakesRefused: 'HandshakesRefused',
  /** Posts API Gateway accepted, per send. */
  messagesDelivered: 'MessagesDelivered',
  /** Posts to connections that were gone (410); their rows were removed. */
  messagesStale: 'MessagesStale',
  /** Posts that failed after their attempts, the not-attempted ones included. */
  messagesFailed: 'MessagesFailed',
  /** Posts never attempted because the invocation's time ran out (part of `MessagesFailed`). */
  messagesNotAttempted: 'MessagesNotAttempted',
  /**
   * Logged messages a `resume` replayed to a reconnecting protocol v2 client that API Gateway
   * accepted, per served resume (0 when it had missed nothing).
   */
  messagesReplayed: 'MessagesReplayed',
  /** From a valid payload to the counts, in milliseconds, per send. */
  sendDuration: 'SendDuration',
  /** Payloads refused with `ValidationError` (a producer's bug; nothing was sent). */
  sendsRejected: 'SendsRejected',
  /** Queue records returned for redelivery (store unavailable, failed posts). */
  queueRecordsRetried: 'QueueRecordsRetried',
  /** Queue records with a bad payload, moved to the dead-letter queue at once. */
  queueRecordsDeadLettered: 'QueueRecordsDeadLettered',
  /** Presence-change events that could not be published (the connection itself is fine). */
  presenceEventsFailed: 'PresenceEventsFailed',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** The dimension of `HandshakesRefused`. */
export const REFUSAL_REASON_DIMENSION = 'Reason';

/**
 * Why a handshake was refused, in classes few enough to be dimension values:
 * - `missing_token`, `invalid_token`, `expired_token`: the client's token (401), counted by the
 *   authorizer;
 * - `auth_unavailable`: the JWKS or the HS256 secret could not be read (500), by the authorizer;
 * - `no_identity`: `$connect` ran without the authorizer's context (403), by connect;
 * - `too_many_connections`: the user already held `MAX_CONNECTIONS_PER_USER` live
 *   connections (429), by connect;
 * - `store_unavailable`: the connection could not be recorded (500), by connect.
 */
export const REFUSAL_REASONS = [
  'missing_token',
  'invalid_token',
  'expired_token',
  'auth_unavailable',
  'no_identity',
  'too_many_connections',
  'store_unavailable',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The refusals that are the client's doing: the authorizer throws `Unauthorized` for them. */
export const CLIENT_REFUSAL_REASONS = [
  'missing_token',
  'invalid_token',
  'expired_token',
] as const satisfies readonly RefusalReason[];

/**
 * The class of a token rejection reason (`TokenRejectionReason` in `lambdas/core/errors.ts`).
 *
 * @example
 * refusalReasonOfToken('not_yet_valid'); // 'expired_token'
 * refusalReasonOfToken('bad_signature'); // 'invalid_token'
 */
export function refusalReasonOfToken(reason: string): RefusalReason {
  if (reason === 'missing') return 'missing_token';
  if (reason === 'expired' || reason === 'not_yet_valid') return 'expired_token';
  return 'invalid_token';
}

/** The dimension Powertools Metrics adds to every metric, valued `POWERTOOLS_SERVICE_NAME`. */
export const SERVICE_DIMENSION = 'service';

/**
 * The first part of the default namespace; the stack's name follows (`TripSyncRealtime/Prod`),
 * so two deployments in one account and region never mix their figures.
 */
export const METRICS_NAMESPACE_PREFIX = 'TripSyncRealtime';

/**
 * CloudWatch namespaces: 1 to 255 of letters, digits and `. - _ / # :` or spaces, not starting
 * with `AWS/` (reserved for AWS's own) or a colon.
 */
export const METRICS_NAMESPACE_PATTERN = /^(?!AWS\/)(?!:)[A-Za-z0-9.\-_/#: ]{1,255}$/;
