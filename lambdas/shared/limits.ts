// No imports on purpose: the functions, the CDK construct (lib/) and the local stack (local/) all
// read this module, and the CDK app and the local stack must not load the SDK through it.

/**
 * Limits and defaults of the backend, in one place. The functions read their settings from the
 * environment within these ranges (`lambdas/config/`), the CDK construct refuses props outside
 * them at synth (`lib/props.ts`), and the local stack uses the same values (`local/config.ts`),
 * so CDK can never deploy a value a function rejects at cold start.
 */

/** `POWERTOOLS_SERVICE_NAME` of every function, and the `service` key of every log line. */
export const SERVICE_NAME = 'tripsync-realtime';

/** An integer setting: its default and the range accepted, bounds included. */
export interface IntegerRange {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** The environment variable a function reads it from. */
  readonly env: string;
  /** Why a value below `min` is refused, when that is not obvious; errors quote it. */
  readonly belowMinimum?: string;
}

/**
 * API Gateway, Lambda and DynamoDB limits the backend builds on. AWS's own numbers, not
 * settings: AWS's developer guides are the source of each.
 */
export const AWS_LIMITS = {
  /** WebSocket message payload, client frames and `@connections` POST alike (128 KiB). */
  maxMessageBytes: 128 * 1024,
  /** WebSocket frame; a larger frame closes the connection with 1009 (32 KiB). */
  maxFrameBytes: 32 * 1024,
  /** Lambda `Invoke` request payload, `RequestResponse` (6 MB). */
  maxSyncInvokeBytes: 6 * 1024 * 1024,
  /** Lambda `Invoke` request payload, `Event` (1 MB). */
  maxAsyncInvokeBytes: 1024 * 1024,
  /** A Lambda authorizer's response (8 KB). */
  maxAuthorizerResultBytes: 8 * 1024,
  /** API Gateway closes a WebSocket connection without data frames after 10 minutes. */
  idleTimeoutMs: 10 * 60 * 1000,
  /** API Gateway closes every WebSocket connection at 2 hours. */
  maxConnectionDurationMs: 2 * 60 * 60 * 1000,
  /** API Gateway waits at most 29 s for a WebSocket route's integration. */
  integrationTimeoutSeconds: 29,
  /** New WebSocket connections per second per account and region, by default (raisable). */
  newConnectionsPerSecond: 500,
  /** The account's burst of requests per region (a stage cannot allow more). */
  maxBurstLimit: 5000,
  /** Lambda's longest timeout (15 minutes). */
  maxLambdaTimeoutSeconds: 15 * 60,
  /**
   * Requests per second an account may make to API Gateway in a region, `@connections` calls
   * included (raisable): every post of every fan-out shares it.
   */
  accountRequestsPerSecond: 10_000,
  /** Lambda memory, MiB. */
  minLambdaMemoryMiB: 128,
  /** Lambda's default concurrency quota per account and region (new accounts may start lower). */
  defaultAccountConcurrency: 1000,
  /** Lambda refuses a reservation that leaves fewer unreserved executions in the account. */
  minUnreservedConcurrency: 100,
  maxLambdaMemoryMiB: 10_240,
  /** Lambda allocates CPU in proportion to memory: one full vCPU at 1769 MiB. */
  fullVcpuMemoryMiB: 1769,
  /** API Gateway stage names: 1 to 128 letters, digits, hyphens or underscores. */
  stageNamePattern: /^[A-Za-z0-9_-]{1,128}$/,
  /** DynamoDB table names: 3 to 255 letters, digits, `_`, `-` or `.`. */
  tableNamePattern: /^[A-Za-z0-9_.-]{3,255}$/,
} as const;

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes). */
export const MIN_HS256_SECRET_BYTES = 32;

/** The `aud` every token must carry when `JWT_AUDIENCE` is unset: this API's name. */
export const DEFAULT_JWT_AUDIENCE = 'tripsync-realtime';

/**
 * How long the authorizer keeps HS256 keys read from Secrets Manager before reading them again:
 * the longest a warm container goes on trusting a key an operator has rotated out.
 */
export const HS256_KEY_CACHE_SECONDS = 5 * 60;

/**
 * A token that fails every cached HS256 key may mean the key was rotated since the last read;
 * it triggers one early read, at most once in this many seconds per container, so a flood of
 * forged tokens cannot become a flood of Secrets Manager calls.
 */
export const HS256_KEY_REFRESH_MIN_INTERVAL_SECONDS = 30;

/**
 * Time the send function keeps back from its Lambda timeout for stale-row cleanup and its reply:
 * no post attempt starts unless it would end before `timeout - SEND_FINISH_MARGIN_MS`.
 */
export const SEND_FINISH_MARGIN_MS = 1000;

/** How `send` shards a large fan-out (see `SETTINGS.sendShardSize`). */
export const SEND_SHARDING = {
  /**
   * vCPUs that one sharded send posts with, all its invocations together: about what feeds the
   * account's `@connections` rate, with room left for the API's other traffic
   * (docs/performance-on-aws.md derives it from the measured CPU per post).
   */
  postingVcpus: 2,
  /**
   * The most a shard payload may weigh: below Lambda's 6 MB for `RequestResponse`, with room for
   * the envelope. A shard whose connection ids and message would weigh more is split in two.
   */
  maxPayloadBytes: 5 * 1024 * 1024,
  /** Shortest key that signs shard payloads (`SHARD_SIGNING_KEY`), as for HS256. */
  minSigningKeyBytes: 32,
} as const;

/**
 * Protocol v2 (`tripsync.v2`, see docs/client-protocol.md): the subprotocol a client offers, and
 * the limits of its message log and resume.
 */
export const PROTOCOL_V2 = {
  /** The `Sec-WebSocket-Protocol` value a client offers and `$connect` answers. */
  subprotocol: 'tripsync.v2',
  /** Most messages one resume replays (a page); the client resumes again for the next one. */
  replayPageSize: 1000,
  /**
   * Bytes kept free for the v2 envelope around a logged message
   * (`{"type":"message","seq":…,"epoch":"…","message":…}`, at most 83 bytes with a 16-character
   * epoch and the largest seq), so that the frame fits API Gateway's 128 KiB. A message larger
   * than `maxMessageBytes - envelopeReserveBytes` still reaches v1 connections, but is not
   * logged and cannot be posted to v2 ones.
   */
  envelopeReserveBytes: 128,
  /**
   * Resumes one connection may make at once, and how fast it earns another: a token bucket on
   * its connection row. A client resumes after each reconnect and once per page; a flood is
   * answered `RESUME_RATE_LIMITED`.
   */
  resumeBurst: 20,
  resumeRefillMs: 500,
} as const;

/**
 * The settings a deployment may change, with their defaults and ranges. Each is a prop of the
 * CDK construct under the same name and an environment variable of the functions that read it.
 */
export const SETTINGS = {
  /**
   * Lifetime of a connection row: never below API Gateway's maximum connection duration (the
   * default), since a row is never refreshed while its socket is open and `send` skips expired
   * rows.
   */
  connectionTtlSeconds: {
    env: 'CONNECTION_TTL_SECONDS',
    default: AWS_LIMITS.maxConnectionDurationMs / 1000,
    min: AWS_LIMITS.maxConnectionDurationMs / 1000,
    max: 7 * 24 * 60 * 60,
    belowMinimum:
      "API Gateway's maximum connection duration: rows are never refreshed, so a shorter TTL " +
      'stops delivery to sockets still open',
  },
  /** Posts `send` makes at once; 50 is also the SDK's default socket pool. */
  sendConcurrency: { env: 'SEND_CONCURRENCY', default: 50, min: 1, max: 1000 },
  /**
   * Most connections one `send` invocation posts to. A send to more splits them into equal
   * shards of at most this many, posts the first itself and invokes itself once for each of the
   * others, concurrently (docs/performance-on-aws.md derives the default).
   */
  sendShardSize: { env: 'SEND_SHARD_SIZE', default: 1000, min: 1, max: 100_000 },
  /**
   * Shard invocations one send keeps in flight besides itself; the others wait for one to
   * return. Every invocation posts as fast as its CPU allows, and all of them share the
   * account's `@connections` rate: more in flight than that rate feeds only earn throttling
   * (429). The default is `defaultShardsInFlight` of the default memory; the construct derives
   * it from `sendMemorySizeMiB`.
   */
  sendShardsInFlight: { env: 'SEND_SHARDS_IN_FLIGHT', default: 1, min: 1, max: 100 },
  /** Deadline of one `PostToConnection` attempt. */
  postTimeoutMs: { env: 'POST_TIMEOUT_MS', default: 3000, min: 10, max: 60_000 },
  /** Attempts per connection before a post counts as failed. */
  postMaxAttempts: { env: 'POST_MAX_ATTEMPTS', default: 3, min: 1, max: 10 },
  /** Full-jitter backoff between post attempts: base and cap. */
  postBackoffBaseMs: { env: 'POST_BACKOFF_BASE_MS', default: 50, min: 0, max: 10_000 },
  postBackoffMaxMs: { env: 'POST_BACKOFF_MAX_MS', default: 1000, min: 0, max: 60_000 },
  /** Deadline of one DynamoDB attempt (the store makes three). */
  dynamoDbRequestTimeoutMs: {
    env: 'DYNAMODB_REQUEST_TIMEOUT_MS',
    default: 3000,
    min: 100,
    max: 20_000,
  },
  /**
   * How long a logged message stays in its user's message log (DynamoDB TTL, and filtered on
   * read since TTL deletion lags): a client that reconnects within this gets what it missed.
   */
  messageRetentionSeconds: {
    env: 'MESSAGE_RETENTION_SECONDS',
    default: 24 * 60 * 60,
    min: 1,
    max: 30 * 24 * 60 * 60,
  },
  /**
   * Posts a resume makes at once to its one connection. They start in seq order; with more than
   * one in flight they may arrive slightly out of order (each frame carries its seq).
   */
  replayConcurrency: { env: 'REPLAY_CONCURRENCY', default: 8, min: 1, max: 100 },
  /** Slack allowed on a token's `exp`, `nbf` and `iat`. */
  jwtClockToleranceSeconds: {
    env: 'JWT_CLOCK_TOLERANCE_SECONDS',
    default: 5,
    min: 0,
    max: 300,
  },
  /**
   * Live connections one user may hold: a few phones, tabs and tablets, while a client stuck in
   * a reconnect loop cannot multiply every fan-out to its user. 0 would refuse everyone.
   */
  maxConnectionsPerUser: {
    env: 'MAX_CONNECTIONS_PER_USER',
    default: 20,
    min: 1,
    max: 100_000,
    belowMinimum: 'a cap of 0 would refuse every connection',
  },
  /** The longest token lifetime (`exp − iat`) accepted: a minute to a week, a day by default. */
  jwtMaxLifetimeSeconds: {
    env: 'JWT_MAX_LIFETIME_SECONDS',
    default: 24 * 60 * 60,
    min: 60,
    max: 7 * 24 * 60 * 60,
  },
} as const satisfies Record<string, IntegerRange>;

/**
 * The durable producer path: the notification queue, its dead-letter queue, and how Lambda
 * consumes it. The construct builds the queues and the event source mapping from these; the
 * local stack serves queues that behave the same (visibility timeout, redrive, batching).
 */
export const QUEUE = {
  /** Queue names the local stack serves (on AWS, CloudFormation names them; see the outputs). */
  localName: 'notifications',
  localDeadLetterName: 'notifications-dlq',
  /** Receives of one message before SQS moves it to the dead-letter queue (redrive policy). */
  maxReceiveCount: { default: 5, min: 1, max: 1000 },
  /** Records per invocation of the consumer (a standard queue without batching window: 1–10). */
  batchSize: { default: 10, min: 1, max: 10 },
  /** How long Lambda gathers records before invoking; 0 sends each batch at once. */
  maxBatchingWindowSeconds: { default: 0, min: 0, max: 300 },
  /**
   * AWS recommends a visibility timeout of at least six times the consumer's timeout, so a
   * batch retried after a throttle is not redelivered while it still runs.
   */
  visibilityTimeoutPerFunctionTimeout: 6,
  /** SQS's default visibility timeout, the dead-letter queue's (read by operators, not Lambda). */
  defaultVisibilityTimeoutSeconds: 30,
  /** SQS's longest visibility timeout (12 hours). */
  maxVisibilityTimeoutSeconds: 12 * 60 * 60,
  /** Notifications are time-sensitive: SQS's default retention (4 days) on the queue. */
  retentionDays: 4,
  /** The dead-letter queue keeps messages for SQS's maximum (14 days), for investigation. */
  deadLetterRetentionDays: 14,
  /**
   * Largest message, body and attributes together: SQS's classic 256 KiB, set explicitly on
   * the deployed queues so the local ones can enforce the same. A send's message is at most
   * 128 KiB, so every valid payload fits.
   */
  maxMessageBytes: 256 * 1024,
  /** Messages in one `SendMessageBatch`. */
  maxBatchEntries: 10,
  /** SQS's longest `WaitTimeSeconds` of a `ReceiveMessage` (long polling). */
  maxWaitTimeSeconds: 20,
} as const;

/**
 * How long the message log keeps a queued message's delivery claim (the seq a redelivery
 * reposts): as long as SQS may deliver the message again, the queue's retention.
 */
export const DELIVERY_CLAIM_RETENTION_SECONDS = QUEUE.retentionDays * 24 * 60 * 60;

/**
 * How long after a claim holder's Lambda deadline another delivery may take its claim over:
 * clock skew between hosts, and a write the holder sent just before its deadline.
 */
export const DELIVERY_CLAIM_GRACE_MS = 5000;

/**
 * `Event` invocations of `send`: Lambda's retries and how old an event may get before it goes
 * to the on-failure destination (the dead-letter queue) instead of being dropped.
 */
export const ASYNC_INVOKE = {
  /** Retries after the first attempt fails (Lambda allows 0 to 2). */
  retryAttempts: { default: 2, min: 0, max: 2 },
  /** Lambda allows 60 s to 6 hours; a notification older than that goes to the DLQ. */
  maxEventAgeSeconds: { default: 6 * 60 * 60, min: 60, max: 6 * 60 * 60 },
} as const;

/** Most users one `presence` query may ask about (as many as one `send` may address). */
export const MAX_PRESENCE_USER_IDS = 1000;

/** Queries a `presence` invocation keeps in flight: the SDK's default socket pool (50). */
export const PRESENCE_QUERY_CONCURRENCY = 50;

/**
 * Default thresholds of the construct's alarms. Each alarm looks at one 5-minute period and
 * fires when its figure reaches the threshold (`alarmThresholds` overrides any of them). What
 * each means and what to do when it fires is in docs/operating.md.
 */
export const ALARM_DEFAULTS = {
  /** Period every alarm evaluates, in seconds. */
  periodSeconds: 300,
  thresholds: {
    /** `Errors` of one function (the authorizer's less the tokens it refused on purpose). */
    functionErrors: 5,
    /** `Throttles` of one function: an invocation Lambda refused for lack of concurrency. */
    functionThrottles: 1,
    /** Posts that failed after their attempts (the `MessagesFailed` metric). */
    failedPosts: 10,
    /** `Event` invocations of send dropped or not delivered to the dead-letter queue. */
    asyncEventsDropped: 1,
    /** Handshakes refused because the JWKS or the HS256 secret could not be read. */
    authProviderUnavailable: 1,
    /** API Gateway `IntegrationError` (a route function failed or answered 4xx/5xx). */
    apiIntegrationErrors: 5,
    /** API Gateway `ExecutionError` (API Gateway could not run the integration). */
    apiExecutionErrors: 5,
    /** DynamoDB requests of the functions throttled on the connection table or its index. */
    tableThrottles: 1,
    /** Messages waiting on the dead-letter queue (its most in the period). */
    deadLetterMessages: 1,
    /** Age of the oldest message on the notification queue, in seconds. */
    queueOldestMessageAgeSeconds: 300,
  },
} as const;

/** The alarms a threshold exists for (`alarmThresholds` keys). */
export type AlarmThresholdName = keyof typeof ALARM_DEFAULTS.thresholds;

/** The settings the CDK construct writes into a function's environment, from its props. */
export const DEPLOYED_SETTINGS = [
  'connectionTtlSeconds',
  'sendConcurrency',
  'sendShardSize',
  'sendShardsInFlight',
  'postTimeoutMs',
  'postMaxAttempts',
  'maxConnectionsPerUser',
  'jwtMaxLifetimeSeconds',
  'messageRetentionSeconds',
] as const satisfies readonly (keyof typeof SETTINGS)[];
export type DeployedSetting = (typeof DEPLOYED_SETTINGS)[number];

/**
 * Defaults and ranges of the deployment's own knobs (Lambda and API Gateway settings the
 * construct writes into the template, not into a function's environment).
 */
export const DEPLOYMENT = {
  stageName: 'live',
  /** The account's default rate of new connections per second. */
  throttlingRateLimitPerSecond: AWS_LIMITS.newConnectionsPerSecond,
  throttlingBurstLimit: { default: 1000, min: 1, max: AWS_LIMITS.maxBurstLimit },
  /**
   * Client frames on `$default` (ping, whoami), stage-wide: a fifth of the stage's rate. The
   * client pings after 5 minutes of silence, so 100 a second carries the pings of 30,000 idle
   * connections, while a flood of frames costs at most that many invocations.
   */
  frameThrottlingRateLimitPerSecond: 100,
  frameThrottlingBurstLimit: { default: 200, min: 1, max: AWS_LIMITS.maxBurstLimit },
  /**
   * Reserved concurrency of one function. Lambda's reservation is a guarantee and a cap at once;
   * 0 would stop the function altogether.
   */
  reservedConcurrency: { min: 1, max: 100_000 },
  /**
   * The ceilings reserved by default (the floors are opt-in). 120 in all leaves 880 of a
   * 1,000-execution account unreserved, above Lambda's minimum of 100.
   */
  authorizerReservedConcurrency: 100,
  defaultRouteReservedConcurrency: 20,
  memorySizeMiB: {
    default: 256,
    min: AWS_LIMITS.minLambdaMemoryMiB,
    max: AWS_LIMITS.maxLambdaMemoryMiB,
  },
  /**
   * The send function's memory: its fan-out is CPU-bound, and Lambda gives one full vCPU at
   * 1769 MiB (docs/performance-on-aws.md derives the choice).
   */
  sendMemorySizeMiB: {
    default: AWS_LIMITS.fullVcpuMemoryMiB,
    min: AWS_LIMITS.minLambdaMemoryMiB,
    max: AWS_LIMITS.maxLambdaMemoryMiB,
  },
  /** Authorizer and route functions: API Gateway gives up on an integration after 29 s. */
  handlerTimeoutSeconds: { default: 10, min: 1, max: AWS_LIMITS.integrationTimeoutSeconds },
  /** `send` fans out to all of a user's connections, with retries. */
  sendTimeoutSeconds: { default: 30, min: 1, max: AWS_LIMITS.maxLambdaTimeoutSeconds },
  /** `POWERTOOLS_LOG_LEVEL` of the deployed functions. */
  logLevel: 'INFO',
  /** Retention of the log groups, in days (CloudWatch's one month). */
  logRetentionDays: 30,
} as const;

/**
 * The shard invocations in flight that, with the send itself, post with about
 * `SEND_SHARDING.postingVcpus` vCPUs at `memoryMiB` (Lambda's CPU is proportional to memory, one
 * full vCPU at 1769 MiB, and the post loop uses one): the default of `SEND_SHARDS_IN_FLIGHT`.
 *
 * @example
 * defaultShardsInFlight(1769); // 1
 * defaultShardsInFlight(256);  // 13
 */
export function defaultShardsInFlight(memoryMiB: number): number {
  const full = AWS_LIMITS.fullVcpuMemoryMiB;
  const vcpus = Math.min(memoryMiB, full) / full;
  const inFlight = Math.round(SEND_SHARDING.postingVcpus / vcpus) - 1;
  return Math.min(
    SETTINGS.sendShardsInFlight.max,
    Math.max(SETTINGS.sendShardsInFlight.min, inFlight),
  );
}

/**
 * Whether a JWKS URL may be deployed: https only, so keys cannot be swapped in transit. (The
 * authorizer itself also accepts http on a loopback address, for JWKS servers in tests.)
 *
 * @example
 * isHttpsUrl('https://issuer.example/.well-known/jwks.json'); // true
 * isHttpsUrl('http://issuer.example/jwks.json');              // false
 */
export function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
