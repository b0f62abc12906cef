import { RemovalPolicy, Token } from 'aws-cdk-lib';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { ReservedConcurrencyProp } from '../lambdas/manifest';
import {
  ALARM_DEFAULTS,
  type AlarmThresholdName,
  ASYNC_INVOKE,
  AWS_LIMITS,
  DEFAULT_JWT_AUDIENCE,
  DEPLOYMENT,
  defaultShardsInFlight,
  isHttpsUrl,
  QUEUE,
  SEND_FINISH_MARGIN_MS,
  SERVICE_NAME,
  SETTINGS,
} from '../lambdas/shared/limits';
import { METRICS_NAMESPACE_PATTERN } from '../lambdas/shared/metrics';
import { TripSyncRealtimePropsError } from './errors';

/**
 * Defaults of {@link TripSyncRealtimeProps}. The values (and the ranges the props are checked
 * against) live in `lambdas/shared/limits.ts`, which the functions and the local stack also read.
 */
export const TRIPSYNC_REALTIME_DEFAULTS = {
  stageName: DEPLOYMENT.stageName,
  // API Gateway admits 500 new connections per second per account and region by default.
  throttlingRateLimitPerSecond: DEPLOYMENT.throttlingRateLimitPerSecond,
  throttlingBurstLimit: DEPLOYMENT.throttlingBurstLimit.default,
  frameThrottlingRateLimitPerSecond: DEPLOYMENT.frameThrottlingRateLimitPerSecond,
  frameThrottlingBurstLimit: DEPLOYMENT.frameThrottlingBurstLimit.default,
  jwtAudience: DEFAULT_JWT_AUDIENCE,
  jwtMaxLifetimeSeconds: SETTINGS.jwtMaxLifetimeSeconds.default,
  maxConnectionsPerUser: SETTINGS.maxConnectionsPerUser.default,
  // The ceilings; the floors (send, $disconnect) are reserved only when set.
  authorizerReservedConcurrency: DEPLOYMENT.authorizerReservedConcurrency,
  defaultRouteReservedConcurrency: DEPLOYMENT.defaultRouteReservedConcurrency,
  // API Gateway closes every WebSocket connection after 2 hours.
  connectionTtlSeconds: SETTINGS.connectionTtlSeconds.default,
  memorySizeMiB: DEPLOYMENT.memorySizeMiB.default,
  sendMemorySizeMiB: DEPLOYMENT.sendMemorySizeMiB.default,
  handlerTimeoutSeconds: DEPLOYMENT.handlerTimeoutSeconds.default,
  sendTimeoutSeconds: DEPLOYMENT.sendTimeoutSeconds.default,
  sendConcurrency: SETTINGS.sendConcurrency.default,
  sendShardSize: SETTINGS.sendShardSize.default,
  postTimeoutMs: SETTINGS.postTimeoutMs.default,
  postMaxAttempts: SETTINGS.postMaxAttempts.default,
  messageRetentionSeconds: SETTINGS.messageRetentionSeconds.default,
  // RetentionDays is the number of days: ONE_MONTH is 30.
  logRetention: DEPLOYMENT.logRetentionDays as RetentionDays,
  logLevel: DEPLOYMENT.logLevel,
  serviceName: SERVICE_NAME,
  queueBatchSize: QUEUE.batchSize.default,
  queueMaxReceiveCount: QUEUE.maxReceiveCount.default,
  queueMaxBatchingWindowSeconds: QUEUE.maxBatchingWindowSeconds.default,
  sendRetryAttempts: ASYNC_INVOKE.retryAttempts.default,
  sendMaxEventAgeSeconds: ASYNC_INVOKE.maxEventAgeSeconds.default,
  alarmThresholds: ALARM_DEFAULTS.thresholds,
} as const;

/**
 * Thresholds of the construct's alarms, each reached within one 5-minute period; any left out
 * keeps its default (`ALARM_DEFAULTS` in `lambdas/shared/limits.ts`). docs/operating.md says
 * what each alarm means and what to do when it fires.
 */
export type TripSyncAlarmThresholds = { readonly [name in AlarmThresholdName]?: number };

/** Log levels Powertools understands (`POWERTOOLS_LOG_LEVEL`). */
export type RealtimeLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * Properties of {@link TripSyncRealtime}. Every property is optional: with none, the backend
 * verifies HS256 tokens with a secret the construct generates.
 *
 * Token verification (the `$connect` authorizer) is HS256 with a Secrets Manager secret
 * (`jwtSecret`, or one the construct creates), JWKS (`jwksUrl` + `jwtIssuer`), or both. Every
 * token must carry `aud` = `jwtAudience`, `iat`, and live at most `jwtMaxLifetimeSeconds`.
 */
export interface TripSyncRealtimeProps {
  /**
   * An existing Secrets Manager secret whose `SecretString` is the raw HS256 key (at least 32
   * bytes). The authorizer gets `secretsmanager:GetSecretValue` on it (and `kms:Decrypt` on
   * its key, when the secret carries one).
   *
   * @default - no existing secret; see `createJwtSecret`
   */
  readonly jwtSecret?: ISecret;
  /**
   * Create a Secrets Manager secret (64 random letters and digits) for HS256. The issuer of
   * the tokens reads the same secret. It is retained when the stack is deleted or the secret
   * replaced: deleting it would leave the issuer without its key (docs/security.md says how to
   * delete it on purpose).
   *
   * @default - true when neither `jwtSecret` nor `jwksUrl` is given, otherwise false
   */
  readonly createJwtSecret?: boolean;
  /**
   * JWKS endpoint (https) for RS256/ES256 tokens, e.g. a Cognito user pool's
   * `.../.well-known/jwks.json`. Requires `jwtIssuer`.
   *
   * @default - no JWKS verification
   */
  readonly jwksUrl?: string;
  /**
   * The issuers a token's `iss` must be one of (`JWT_ISSUER`): one, or a list when HS256 and a
   * JWKS sign tokens side by side, each signer with its own. Required with `jwksUrl` (a JWKS may
   * publish the keys of many tenants or apps; only `iss` tells them apart).
   *
   * @default - `iss` is not checked (HS256 only)
   */
  readonly jwtIssuer?: string | readonly string[];
  /**
   * The `aud` every token must carry, HS256 and JWKS alike (`JWT_AUDIENCE`): binds tokens to
   * this API, so that other tokens signed with the same key (access, refresh, password-reset
   * tokens) open no socket. With Cognito, the app client id. Use one per environment.
   *
   * @default 'tripsync-realtime'
   */
  readonly jwtAudience?: string;
  /**
   * The longest token lifetime accepted, `exp − iat` in seconds (`JWT_MAX_LIFETIME_SECONDS`),
   * from 60 to 604800. Also how long the previous HS256 key stays valid after a rotation.
   *
   * @default 86400 (a day)
   */
  readonly jwtMaxLifetimeSeconds?: number;
  /**
   * Live connections one user may hold (`MAX_CONNECTIONS_PER_USER`), from 1 to 100000; the next
   * handshake is refused with 429.
   *
   * @default 20
   */
  readonly maxConnectionsPerUser?: number;
  /**
   * Name of the API Gateway stage; part of the `wss://` URL and of the Management API endpoint.
   *
   * @default 'live'
   */
  readonly stageName?: string;
  /**
   * Steady-state request rate allowed on each route of the stage (`$connect`, `$disconnect`, any
   * action route) but `$default`, in requests per second.
   *
   * @default 500 (the account's default rate of new connections per second)
   */
  readonly throttlingRateLimitPerSecond?: number;
  /**
   * Burst of requests allowed on each route of the stage but `$default` (token bucket size).
   *
   * @default 1000
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Steady rate of client frames on `$default` (ping, whoami), in frames per second for the whole
   * stage; a route-level setting, at most `throttlingRateLimitPerSecond`. API Gateway refuses the
   * frames over it without invoking the function.
   *
   * @default 100 (the pings of 30,000 idle connections, one per 5 minutes)
   */
  readonly frameThrottlingRateLimitPerSecond?: number;
  /**
   * Burst of client frames on `$default`, at most `throttlingBurstLimit`.
   *
   * @default 200
   */
  readonly frameThrottlingBurstLimit?: number;
  /**
   * Reserve concurrency at all. With `false`, no function gets a reservation: for an account
   * whose Lambda concurrency quota is too low to reserve any (new accounts may start below the
   * default 1,000, and Lambda keeps 100 unreserved). Not together with a `*ReservedConcurrency`.
   *
   * @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * Reserved concurrency of the authorizer: a ceiling, so that a flood of handshakes (or a slow
   * Secrets Manager or JWKS) cannot drain the account's concurrency. Handshakes over it fail
   * with 500 and clients retry. From 1 (0 would refuse every handshake).
   *
   * @default 100
   */
  readonly authorizerReservedConcurrency?: number;
  /**
   * Reserved concurrency of `$default`: a ceiling on what client frames can take.
   *
   * @default 20
   */
  readonly defaultRouteReservedConcurrency?: number;
  /**
   * Reserved concurrency of `send`: a floor that keeps notifications flowing when the account's
   * other functions are busy. It caps `send` too: producers' invocations over it are throttled
   * (429). Size it from the producers' peak rate and `send`'s duration.
   *
   * @default - unreserved (the account's shared pool)
   */
  readonly sendReservedConcurrency?: number;
  /**
   * Reserved concurrency of `$disconnect`: a floor, so that rows are deleted (and users' slots
   * under `maxConnectionsPerUser` freed) when the account is busy. It caps `$disconnect` too.
   *
   * @default - unreserved (the account's shared pool)
   */
  readonly disconnectReservedConcurrency?: number;
  /**
   * Write API Gateway access logs (JSON, one line per connect, message and disconnect) to a
   * log group. API Gateway requires the account-level CloudWatch Logs role to be set in the
   * region (see `TripSyncRealtimeStackProps.apiGatewayCloudWatchRole`).
   *
   * @default true
   */
  readonly accessLogging?: boolean;
  /**
   * Lifetime of a connection row, in seconds (`CONNECTION_TTL_SECONDS`); DynamoDB TTL removes
   * rows whose `$disconnect` never arrived. From 7200 to 604800: a row is never refreshed while
   * its socket is open and `send` skips expired rows, so a TTL below API Gateway's maximum
   * connection duration would silently stop delivery to sockets still open.
   *
   * @default 7200 (API Gateway's maximum connection duration)
   */
  readonly connectionTtlSeconds?: number;
  /**
   * What happens to the connection table and the message log when they leave the stack. Both
   * are ephemeral: connection rows expire within `connectionTtlSeconds`, logged messages within
   * `messageRetentionSeconds`, so nothing of lasting value is lost.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /**
   * How long a logged message stays in its user's message log, in seconds
   * (`MESSAGE_RETENTION_SECONDS`, DynamoDB TTL): a protocol v2 client that reconnects within
   * this gets every message it missed; after it, the client is told it has a gap. From 1 to
   * 2592000 (30 days).
   *
   * @default 86400 (one day)
   */
  readonly messageRetentionSeconds?: number;
  /**
   * Memory of every function but `send`, in MiB (CPU scales with it).
   *
   * @default 256
   */
  readonly memorySizeMiB?: number;
  /**
   * Memory of the send function, in MiB. A fan-out is CPU-bound and Lambda's CPU grows with
   * memory up to one full vCPU at 1769 MiB, so below that a larger fan-out takes longer in
   * proportion, at about the same cost (docs/performance-on-aws.md).
   *
   * @default 1769
   */
  readonly sendMemorySizeMiB?: number;
  /**
   * Timeout of the authorizer and route functions (`$connect`, `$disconnect`, `$default`), in
   * seconds, from 1 to 29: API Gateway waits at most 29 seconds for an integration.
   *
   * @default 10
   */
  readonly handlerTimeoutSeconds?: number;
  /**
   * Timeout of the send function, in seconds: one invocation fans out to all of a user's
   * connections, with retries. From 1 to 900, and more than `postTimeoutMs` plus the second
   * `send` keeps back for its reply, or no post could ever start.
   *
   * @default 30
   */
  readonly sendTimeoutSeconds?: number;
  /**
   * Posts the send function makes at once (`SEND_CONCURRENCY`), from 1 to 1000.
   *
   * @default 50
   */
  readonly sendConcurrency?: number;
  /**
   * Most connections one send invocation posts to (`SEND_SHARD_SIZE`), from 1 to 100000. A send
   * to more splits them into even shards and invokes itself once per shard beyond the first,
   * concurrently, one level deep (docs/performance-on-aws.md).
   *
   * @default 1000
   */
  readonly sendShardSize?: number;
  /**
   * Shard invocations one send keeps in flight besides itself (`SEND_SHARDS_IN_FLIGHT`), from 1
   * to 100. All of them post through the account's `@connections` rate (10,000 requests per
   * second, shared with the rest of API Gateway): more than that rate can feed only earn
   * throttling (docs/performance-on-aws.md).
   *
   * @default - the invocations that, with the send itself, post with about two vCPUs:
   *   `round(2 × 1769 / sendMemorySizeMiB) − 1`, so 1 at 1769 MiB and 13 at 256 MiB
   */
  readonly sendShardsInFlight?: number;
  /**
   * Deadline of one `PostToConnection` attempt, in milliseconds (`POST_TIMEOUT_MS`), from 10
   * to 60000. Must leave room inside `sendTimeoutSeconds` (see there).
   *
   * @default 3000
   */
  readonly postTimeoutMs?: number;
  /**
   * Attempts per connection before a post counts as failed (`POST_MAX_ATTEMPTS`), from 1 to 10.
   *
   * @default 3
   */
  readonly postMaxAttempts?: number;
  /**
   * Retention of the functions' and the access log's log groups.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups when they leave the stack.
   *
   * @default RemovalPolicy.RETAIN (logs outlive the stack, for incident review)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Level of the functions' structured logs (`POWERTOOLS_LOG_LEVEL`).
   *
   * @default 'INFO'
   */
  readonly logLevel?: RealtimeLogLevel;
  /**
   * CloudWatch namespace of the functions' metrics (`POWERTOOLS_METRICS_NAMESPACE`), read by the
   * alarms and the dashboard. 1 to 255 letters, digits, spaces or `. - _ / # :`, not `AWS/…`.
   *
   * @default - `TripSyncRealtime/{stack name}`: two deployments never mix their figures
   */
  readonly metricsNamespace?: string;
  /**
   * Create the alarms (docs/operating.md lists them, with what to do when each fires).
   *
   * @default true
   */
  readonly alarms?: boolean;
  /**
   * An SNS topic every alarm notifies when it fires and when it recovers.
   *
   * @default - no notification: the alarms show in the console and on the dashboard
   */
  readonly alarmTopic?: ITopic;
  /**
   * Thresholds of the alarms, by name; each one given replaces its default.
   *
   * @default - the defaults in `ALARM_DEFAULTS` (docs/operating.md)
   */
  readonly alarmThresholds?: TripSyncAlarmThresholds;
  /**
   * Create the CloudWatch dashboard (one widget per question an operator asks).
   *
   * @default true
   */
  readonly dashboard?: boolean;
  /**
   * Records the queue consumer receives per invocation, from 1 to 10.
   *
   * @default 10
   */
  readonly queueBatchSize?: number;
  /**
   * Receives of a queued message before SQS moves it to the dead-letter queue, from 1 to 1000.
   * A record whose send failed in a retryable way is delivered again up to this many times.
   *
   * @default 5
   */
  readonly queueMaxReceiveCount?: number;
  /**
   * How long Lambda gathers queued records before invoking the consumer, in seconds, 0 to 300.
   *
   * @default 0 (each batch at once)
   */
  readonly queueMaxBatchingWindowSeconds?: number;
  /**
   * Retries Lambda makes of a failed `Event` invocation of send, 0 to 2, before it goes to the
   * dead-letter queue.
   *
   * @default 2
   */
  readonly sendRetryAttempts?: number;
  /**
   * How old an `Event` invocation of send may get (waiting for concurrency, retrying) before it
   * goes to the dead-letter queue, in seconds, from 60 to 21600.
   *
   * @default 21600 (Lambda's maximum, 6 hours)
   */
  readonly sendMaxEventAgeSeconds?: number;
  /**
   * The EventBridge bus of `notificationRule` and of presence-change events.
   *
   * @default - the account's default bus
   */
  readonly eventBus?: IEventBus;
  /**
   * A rule on `eventBus` that delivers every `TripSync Notification` event's `detail` (a send
   * payload) into the notification queue.
   *
   * @default false
   */
  readonly notificationRule?: boolean;
  /**
   * connect and disconnect put `TripSync Presence Changed` events on `eventBus` when a user's
   * first connection opens or last one closes (one extra strongly consistent Query per connect
   * and disconnect). Off, their bundles carry no EventBridge client.
   *
   * @default false
   */
  readonly presenceEvents?: boolean;
}

/** {@link TripSyncRealtimeProps} with defaults applied and every value checked. */
export interface ResolvedProps {
  createJwtSecret: boolean;
  jwksUrl?: string;
  /** At least one when set. */
  jwtIssuers?: readonly string[];
  jwtAudience: string;
  jwtMaxLifetimeSeconds: number;
  maxConnectionsPerUser: number;
  stageName: string;
  throttlingRateLimitPerSecond: number;
  throttlingBurstLimit: number;
  frameThrottlingRateLimitPerSecond: number;
  frameThrottlingBurstLimit: number;
  /** Per prop, the reservation to make; undefined leaves the function unreserved. */
  reservedConcurrency: Record<ReservedConcurrencyProp, number | undefined>;
  accessLogging: boolean;
  connectionTtlSeconds: number;
  tableRemovalPolicy: RemovalPolicy;
  memorySizeMiB: number;
  sendMemorySizeMiB: number;
  handlerTimeoutSeconds: number;
  sendTimeoutSeconds: number;
  sendConcurrency: number;
  sendShardSize: number;
  sendShardsInFlight: number;
  postTimeoutMs: number;
  postMaxAttempts: number;
  messageRetentionSeconds: number;
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
  logLevel: RealtimeLogLevel;
  /** Undefined: the construct derives it from the stack's name. */
  metricsNamespace: string | undefined;
  alarms: boolean;
  alarmThresholds: Record<AlarmThresholdName, number>;
  dashboard: boolean;
  queueBatchSize: number;
  queueMaxReceiveCount: number;
  queueMaxBatchingWindowSeconds: number;
  sendRetryAttempts: number;
  sendMaxEventAgeSeconds: number;
  notificationRule: boolean;
  presenceEvents: boolean;
}

/**
 * Applies defaults and rejects invalid values and combinations, naming what was received.
 * Throws {@link TripSyncRealtimePropsError}.
 *
 * @example
 * resolveProps({ sendTimeoutSeconds: 3, postTimeoutMs: 3000 });
 * // throws "TripSyncRealtime: postTimeoutMs (3000 ms) must leave room inside sendTimeoutSeconds (3 s) ..."
 */
export function resolveProps(props: TripSyncRealtimeProps): ResolvedProps {
  const d = TRIPSYNC_REALTIME_DEFAULTS;

  const jwksUrl =
    props.jwksUrl === undefined
      ? undefined
      : httpsUrl('jwksUrl', nonEmpty('jwksUrl', props.jwksUrl));
  const jwtIssuers = props.jwtIssuer === undefined ? undefined : issuers(props.jwtIssuer);
  if (jwksUrl !== undefined && jwtIssuers === undefined) {
    throw new TripSyncRealtimePropsError(
      'jwtIssuer',
      `is required with jwksUrl (received jwksUrl=${JSON.stringify(jwksUrl)}): a JWKS may ` +
        "publish the keys of many tenants or apps, and only a token's iss tells them apart",
      'jwksUrl',
    );
  }
  const jwtAudience =
    props.jwtAudience === undefined
      ? d.jwtAudience
      : nonEmpty('jwtAudience', props.jwtAudience).trim();

  if (props.jwtSecret && props.createJwtSecret === true) {
    throw new TripSyncRealtimePropsError(
      'createJwtSecret',
      'must not be true when jwtSecret is given: use the existing secret or create one, not both',
      'jwtSecret',
    );
  }
  const createJwtSecret = props.createJwtSecret ?? (!props.jwtSecret && jwksUrl === undefined);
  if (!props.jwtSecret && !createJwtSecret && jwksUrl === undefined) {
    throw new TripSyncRealtimePropsError(
      'createJwtSecret',
      'is false and neither jwtSecret nor jwksUrl is given: no token verification would be configured',
    );
  }

  const stageName = props.stageName ?? d.stageName;
  if (!Token.isUnresolved(stageName) && !AWS_LIMITS.stageNamePattern.test(stageName)) {
    throw new TripSyncRealtimePropsError(
      'stageName',
      `must be 1 to 128 letters, digits, hyphens or underscores, received ${JSON.stringify(stageName)}`,
    );
  }

  const resolved: ResolvedProps = {
    createJwtSecret,
    ...(jwksUrl !== undefined && { jwksUrl }),
    ...(jwtIssuers !== undefined && { jwtIssuers }),
    jwtAudience,
    jwtMaxLifetimeSeconds: integer(
      'jwtMaxLifetimeSeconds',
      props.jwtMaxLifetimeSeconds,
      SETTINGS.jwtMaxLifetimeSeconds,
    ),
    maxConnectionsPerUser: integer(
      'maxConnectionsPerUser',
      props.maxConnectionsPerUser,
      SETTINGS.maxConnectionsPerUser,
    ),
    stageName,
    throttlingRateLimitPerSecond: rate(
      'throttlingRateLimitPerSecond',
      props.throttlingRateLimitPerSecond ?? d.throttlingRateLimitPerSecond,
    ),
    throttlingBurstLimit: integer(
      'throttlingBurstLimit',
      props.throttlingBurstLimit,
      DEPLOYMENT.throttlingBurstLimit,
    ),
    frameThrottlingRateLimitPerSecond: rate(
      'frameThrottlingRateLimitPerSecond',
      props.frameThrottlingRateLimitPerSecond ?? d.frameThrottlingRateLimitPerSecond,
    ),
    frameThrottlingBurstLimit: integer(
      'frameThrottlingBurstLimit',
      props.frameThrottlingBurstLimit,
      DEPLOYMENT.frameThrottlingBurstLimit,
    ),
    reservedConcurrency: reservedConcurrency(props),
    accessLogging: props.accessLogging ?? true,
    connectionTtlSeconds: integer(
      'connectionTtlSeconds',
      props.connectionTtlSeconds,
      SETTINGS.connectionTtlSeconds,
    ),
    tableRemovalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.DESTROY,
    memorySizeMiB: integer('memorySizeMiB', props.memorySizeMiB, DEPLOYMENT.memorySizeMiB),
    sendMemorySizeMiB: integer(
      'sendMemorySizeMiB',
      props.sendMemorySizeMiB,
      DEPLOYMENT.sendMemorySizeMiB,
    ),
    handlerTimeoutSeconds: integer(
      'handlerTimeoutSeconds',
      props.handlerTimeoutSeconds,
      DEPLOYMENT.handlerTimeoutSeconds,
    ),
    sendTimeoutSeconds: integer(
      'sendTimeoutSeconds',
      props.sendTimeoutSeconds,
      DEPLOYMENT.sendTimeoutSeconds,
    ),
    sendConcurrency: integer('sendConcurrency', props.sendConcurrency, SETTINGS.sendConcurrency),
    sendShardSize: integer('sendShardSize', props.sendShardSize, SETTINGS.sendShardSize),
    sendShardsInFlight: integer('sendShardsInFlight', props.sendShardsInFlight, {
      ...SETTINGS.sendShardsInFlight,
      default: Token.isUnresolved(props.sendMemorySizeMiB)
        ? SETTINGS.sendShardsInFlight.default
        : defaultShardsInFlight(props.sendMemorySizeMiB ?? DEPLOYMENT.sendMemorySizeMiB.default),
    }),
    postTimeoutMs: integer('postTimeoutMs', props.postTimeoutMs, SETTINGS.postTimeoutMs),
    postMaxAttempts: integer('postMaxAttempts', props.postMaxAttempts, SETTINGS.postMaxAttempts),
    messageRetentionSeconds: integer(
      'messageRetentionSeconds',
      props.messageRetentionSeconds,
      SETTINGS.messageRetentionSeconds,
    ),
    logRetention: props.logRetention ?? d.logRetention,
    logRemovalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    logLevel: props.logLevel ?? d.logLevel,
    metricsNamespace: metricsNamespace(props.metricsNamespace),
    alarms: props.alarms ?? true,
    alarmThresholds: alarmThresholds(props.alarmThresholds),
    dashboard: props.dashboard ?? true,
    queueBatchSize: integer('queueBatchSize', props.queueBatchSize, QUEUE.batchSize),
    queueMaxReceiveCount: integer(
      'queueMaxReceiveCount',
      props.queueMaxReceiveCount,
      QUEUE.maxReceiveCount,
    ),
    queueMaxBatchingWindowSeconds: integer(
      'queueMaxBatchingWindowSeconds',
      props.queueMaxBatchingWindowSeconds,
      QUEUE.maxBatchingWindowSeconds,
    ),
    sendRetryAttempts: integer(
      'sendRetryAttempts',
      props.sendRetryAttempts,
      ASYNC_INVOKE.retryAttempts,
    ),
    sendMaxEventAgeSeconds: integer(
      'sendMaxEventAgeSeconds',
      props.sendMaxEventAgeSeconds,
      ASYNC_INVOKE.maxEventAgeSeconds,
    ),
    notificationRule: props.notificationRule ?? false,
    presenceEvents: props.presenceEvents ?? false,
  };
  checkCombinations(resolved);
  return resolved;
}

/** The reserved-concurrency props, in the order the docs list them. */
const RESERVED_CONCURRENCY_PROPS: readonly ReservedConcurrencyProp[] = [
  'authorizerReservedConcurrency',
  'defaultRouteReservedConcurrency',
  'sendReservedConcurrency',
  'disconnectReservedConcurrency',
];

/** The ceilings by default, the floors when set; nothing with `reserveConcurrency: false`. */
function reservedConcurrency(
  props: TripSyncRealtimeProps,
): Record<ReservedConcurrencyProp, number | undefined> {
  const given = RESERVED_CONCURRENCY_PROPS.filter((name) => props[name] !== undefined);
  if (props.reserveConcurrency === false) {
    if (given.length > 0) {
      throw new TripSyncRealtimePropsError(
        'reserveConcurrency',
        `is false, so ${given.join(' and ')} would be ignored: reserve nothing, or set ` +
          'reserveConcurrency to true',
        given[0],
      );
    }
    return Object.fromEntries(
      RESERVED_CONCURRENCY_PROPS.map((name) => [name, undefined]),
    ) as Record<ReservedConcurrencyProp, number | undefined>;
  }
  const defaults: Record<ReservedConcurrencyProp, number | undefined> = {
    authorizerReservedConcurrency: TRIPSYNC_REALTIME_DEFAULTS.authorizerReservedConcurrency,
    defaultRouteReservedConcurrency: TRIPSYNC_REALTIME_DEFAULTS.defaultRouteReservedConcurrency,
    sendReservedConcurrency: undefined,
    disconnectReservedConcurrency: undefined,
  };
  const range = {
    ...DEPLOYMENT.reservedConcurrency,
    belowMinimum:
      'Lambda runs no invocation of a function whose reserved concurrency is 0; leave the prop ' +
      'unset, or set reserveConcurrency to false, to leave a function unreserved',
  };
  return Object.fromEntries(
    RESERVED_CONCURRENCY_PROPS.map((name) => {
      const value = props[name];
      return [
        name,
        value === undefined ? defaults[name] : integer(name, value, { ...range, default: value }),
      ];
    }),
  ) as Record<ReservedConcurrencyProp, number | undefined>;
}

/** Settings that are each valid but cannot work together. */
function checkCombinations(config: ResolvedProps): void {
  const { postTimeoutMs, sendTimeoutSeconds } = config;
  if (!Token.isUnresolved(postTimeoutMs) && !Token.isUnresolved(sendTimeoutSeconds)) {
    // send starts a post only if its deadline falls before the Lambda timeout less the margin it
    // keeps for its reply (lambdas/send.ts), and a shard of a sharded send keeps the same margin
    // again before its sender's: without that room, no shard could post, and every post of a
    // large send would count failed.
    const reservedMs = 2 * SEND_FINISH_MARGIN_MS;
    const budgetMs = sendTimeoutSeconds * 1000 - reservedMs;
    if (postTimeoutMs >= budgetMs) {
      const minimumSeconds = Math.floor((postTimeoutMs + reservedMs) / 1000) + 1;
      const fix =
        budgetMs > SETTINGS.postTimeoutMs.min
          ? `Set postTimeoutMs below ${budgetMs} or sendTimeoutSeconds to at least ${minimumSeconds}`
          : `Set sendTimeoutSeconds to at least ${minimumSeconds}`;
      throw new TripSyncRealtimePropsError(
        'postTimeoutMs',
        `(${postTimeoutMs} ms) must leave room inside sendTimeoutSeconds (${sendTimeoutSeconds} s, ` +
          `of which send keeps ${SEND_FINISH_MARGIN_MS} ms for its reply and as much for its ` +
          `shards' replies): no post of a shard could ever start and sharded sends would report ` +
          `their posts failed. ${fix}`,
        'sendTimeoutSeconds',
      );
    }
  }
  // Client frames get a smaller budget than handshakes: $default answers frames of clients that
  // are already in, and a flood of them must not cost more than the stage allows anything else.
  for (const [frame, stage] of [
    ['frameThrottlingRateLimitPerSecond', 'throttlingRateLimitPerSecond'],
    ['frameThrottlingBurstLimit', 'throttlingBurstLimit'],
  ] as const) {
    const frameValue = config[frame];
    const stageValue = config[stage];
    if (!Token.isUnresolved(frameValue) && !Token.isUnresolved(stageValue)) {
      if (frameValue > stageValue) {
        throw new TripSyncRealtimePropsError(
          frame,
          `(${frameValue}) must not exceed ${stage} (${stageValue}): $default's frames get at ` +
            `most the budget $connect gets. Lower ${frame}, or raise ${stage} too`,
          stage,
        );
      }
    }
  }
}

/**
 * Settings that work but are probably not what was meant, each as a sentence for a synth
 * warning (`cdk synth` prints them; `--strict` fails on them).
 *
 * @example
 * propWarnings(resolveProps({ sendReservedConcurrency: 900 }));
 * // ['The functions reserve 1020 concurrent executions in all: ...']
 */
export function propWarnings(config: ResolvedProps): string[] {
  const warnings: string[] = [];
  const reservations = Object.values(config.reservedConcurrency).filter(
    (value): value is number => value !== undefined,
  );
  if (reservations.every((value) => !Token.isUnresolved(value))) {
    const total = reservations.reduce((sum, value) => sum + value, 0);
    const reservable = AWS_LIMITS.defaultAccountConcurrency - AWS_LIMITS.minUnreservedConcurrency;
    if (total > reservable) {
      // The account's quota is not known at synth: a raised one may well allow it.
      warnings.push(
        `The functions reserve ${total} concurrent executions in all: Lambda keeps ` +
          `${AWS_LIMITS.minUnreservedConcurrency} of an account's unreserved, so the deployment ` +
          `fails unless the account's concurrency quota in this region is at least ` +
          `${total + AWS_LIMITS.minUnreservedConcurrency} (the default is ` +
          `${AWS_LIMITS.defaultAccountConcurrency}) and the other functions reserve no more ` +
          'than the rest',
      );
    }
  }
  return warnings;
}

function integer(
  name: string,
  value: number | undefined,
  range: {
    readonly default: number;
    readonly min: number;
    readonly max: number;
    readonly belowMinimum?: string;
  },
): number {
  if (value === undefined) return range.default;
  if (Token.isUnresolved(value)) return value;
  if (Number.isInteger(value) && value < range.min && range.belowMinimum !== undefined) {
    throw new TripSyncRealtimePropsError(
      name,
      `must be at least ${range.min} (${range.belowMinimum}), received ${value}`,
    );
  }
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new TripSyncRealtimePropsError(
      name,
      `must be an integer from ${range.min} to ${range.max}, received ${value}`,
    );
  }
  return value;
}

function metricsNamespace(value: string | undefined): string | undefined {
  if (value === undefined || Token.isUnresolved(value)) return value;
  if (!METRICS_NAMESPACE_PATTERN.test(value)) {
    throw new TripSyncRealtimePropsError(
      'metricsNamespace',
      'must be 1 to 255 letters, digits, spaces or . - _ / # : and must not start with "AWS/" ' +
        `or a colon, received ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A requests-per-second rate: any number above 0. */
function rate(name: string, value: number): number {
  if (!Token.isUnresolved(value) && !(Number.isFinite(value) && value > 0)) {
    throw new TripSyncRealtimePropsError(
      name,
      `must be a number greater than 0, received ${value}`,
    );
  }
  return value;
}

function alarmThresholds(
  given: TripSyncAlarmThresholds | undefined,
): Record<AlarmThresholdName, number> {
  const defaults = ALARM_DEFAULTS.thresholds;
  const thresholds: Record<AlarmThresholdName, number> = { ...defaults };
  for (const [name, value] of Object.entries(given ?? {})) {
    if (!Object.hasOwn(defaults, name)) {
      throw new TripSyncRealtimePropsError(
        'alarmThresholds',
        `has no alarm ${JSON.stringify(name)}; the alarms are ${Object.keys(defaults).join(', ')}`,
      );
    }
    if (value === undefined) continue;
    if (!Token.isUnresolved(value) && !(Number.isFinite(value) && value >= 0)) {
      throw new TripSyncRealtimePropsError(
        `alarmThresholds.${name}`,
        `must be a number of at least 0, received ${value}`,
      );
    }
    thresholds[name as AlarmThresholdName] = value;
  }
  return thresholds;
}

function nonEmpty(name: string, value: string): string {
  if (!Token.isUnresolved(value) && value.trim() === '') {
    throw new TripSyncRealtimePropsError(
      name,
      `must not be empty, received ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * `jwtIssuer` as a list. The function reads `JWT_ISSUER` as issuers separated by commas, so one
 * issuer may not contain a comma.
 */
function issuers(value: string | readonly string[]): readonly string[] {
  if (Token.isUnresolved(value)) return [value as string];
  const list = typeof value === 'string' ? [value] : value;
  if (list.length === 0) {
    throw new TripSyncRealtimePropsError(
      'jwtIssuer',
      'must name at least one issuer, received an empty list (leave it unset not to check iss)',
    );
  }
  return list.map((issuer) => {
    if (Token.isUnresolved(issuer)) return issuer;
    const trimmed = nonEmpty('jwtIssuer', issuer).trim();
    if (trimmed.includes(',')) {
      throw new TripSyncRealtimePropsError(
        'jwtIssuer',
        `must be issuers without commas (JWT_ISSUER separates them with commas; pass a list), ` +
          `received ${JSON.stringify(issuer)}`,
      );
    }
    return trimmed;
  });
}

function httpsUrl(name: string, value: string): string {
  if (Token.isUnresolved(value)) return value;
  if (!isHttpsUrl(value)) {
    throw new TripSyncRealtimePropsError(
      name,
      `must be an https URL (keys fetched over http can be swapped in transit), received ${JSON.stringify(value)}`,
    );
  }
  return value;
}
