import {
  type Env,
  integerInRange,
  integerSetting,
  optionalString,
  optionalUrl,
} from '../lambdas/config/env';
import { ConfigError } from '../lambdas/core/errors';
import {
  AWS_LIMITS,
  DEPLOYMENT,
  MIN_HS256_SECRET_BYTES,
  QUEUE,
  SETTINGS,
} from '../lambdas/shared/limits';

/**
 * Named defaults of the local stack. Every option of `startLocalStack` falls back to one of these,
 * and `npm start` reads the environment variables named beside each. Those that mirror AWS or the
 * deployed stack come from `lambdas/shared/limits.ts`.
 */
export const DEFAULTS = {
  /**
   * `BIND_HOST`: the address every server binds to; loopback by default, as a development tool
   * should (`0.0.0.0` to reach it from a phone on the LAN). Not `HOST`, which some shells set.
   */
  host: '127.0.0.1',
  /** `PORT`: WebSocket gateway, `@connections` and Lambda Invoke API, one origin. */
  port: 3001,
  /** `DYNAMODB_PORT`: the embedded dynalite (8000 is also DynamoDB Local's port). */
  dynamoDbPort: 8000,
  /** `TABLE_NAME`. */
  tableName: 'Connections',
  /** `MESSAGE_TABLE_NAME`: each user's message log. */
  messageTableName: 'MessageLog',
  /** `MESSAGE_RETENTION_SECONDS`: how long a logged message is replayed (a day). */
  messageRetentionSeconds: SETTINGS.messageRetentionSeconds.default,
  /** `STAGE`: the API stage in events and ARNs; `ws://host:port/{stage}` is also accepted. */
  stage: 'local',
  /** Shown as `apiId` and in `methodArn`; real ids are 10 lowercase characters. */
  apiId: 'local00000',
  /** `AWS_REGION` when set. */
  region: 'us-east-1',
  /** The account in ARNs (LocalStack's convention for "no account"). */
  accountId: '000000000000',
  /** `IDLE_TIMEOUT_MS`: API Gateway closes a connection without data frames for 10 minutes. */
  idleTimeoutMs: AWS_LIMITS.idleTimeoutMs,
  /** `MAX_CONNECTION_DURATION_MS`: API Gateway closes every connection at 2 hours. */
  maxConnectionDurationMs: AWS_LIMITS.maxConnectionDurationMs,
  /**
   * `MAX_CONNECTIONS_PER_USER`: live connections one user may hold, as deployed; the next
   * handshake gets 429. Load tests that open thousands of sockets for one user raise it.
   */
  maxConnectionsPerUser: SETTINGS.maxConnectionsPerUser.default,
  /**
   * `SEND_SHARD_SIZE`: a send to more connections is sharded, as deployed; the shards run in
   * workers of their own (`FUNCTION_CONCURRENCY` more for `send`).
   */
  sendShardSize: SETTINGS.sendShardSize.default,
  /** API Gateway's integration timeout for WebSocket routes (29 s). */
  integrationTimeoutMs: AWS_LIMITS.integrationTimeoutSeconds * 1000,
  /** Lambda timeout of the authorizer and route functions (the CDK construct's default, 10 s). */
  handlerTimeoutMs: DEPLOYMENT.handlerTimeoutSeconds.default * 1000,
  /** Lambda timeout of `send` (the CDK construct's default, 30 s). */
  sendTimeoutMs: DEPLOYMENT.sendTimeoutSeconds.default * 1000,
  /** `POWERTOOLS_LOG_LEVEL` for the handlers' JSON logs: warnings and errors only. */
  handlerLogLevel: 'WARN',
  /**
   * `FUNCTION_CONCURRENCY`: workers per function, each running one invocation at a time, as a
   * Lambda execution environment does; more invocations wait for one. Lambda would start an
   * environment for each of 2,000 `$disconnect`s at once; here every worker costs a cold start
   * and its own heap on the machine's few cores, while the gateway and dynalite share one
   * thread that the functions' replies all go through: past two per function, a burst of
   * connections spends more on cold starts than it gains (`npm run bench` measures the rate).
   */
  functionConcurrency: 2,
  /** An idle function worker stops after this long; the next invocation starts a new one. */
  functionIdleTimeoutMs: 5 * 60 * 1000,
  /** The notification queue and its dead-letter queue, at `{origin}/{accountId}/{name}`. */
  queueName: QUEUE.localName,
  deadLetterQueueName: QUEUE.localDeadLetterName,
  /** Receives before the redrive policy moves a message to the dead-letter queue. */
  queueMaxReceiveCount: QUEUE.maxReceiveCount.default,
  /** Records per invocation of the queue consumer. */
  queueBatchSize: QUEUE.batchSize.default,
  /** How long the event source gathers records before invoking. */
  queueMaxBatchingWindowMs: QUEUE.maxBatchingWindowSeconds.default * 1000,
} as const;

/**
 * The notification queue's visibility timeout for a consumer timeout, as the construct sets it:
 * six times the function's timeout, at most SQS's 12 hours.
 *
 * @example
 * queueVisibilityTimeoutMs(30_000); // 180000
 */
export function queueVisibilityTimeoutMs(consumerTimeoutMs: number): number {
  return Math.min(
    consumerTimeoutMs * QUEUE.visibilityTimeoutPerFunctionTimeout,
    QUEUE.maxVisibilityTimeoutSeconds * 1000,
  );
}

/**
 * The HS256 secret `npm start` and `npm run token` share when `JWT_SECRET` is unset. It exists
 * only here: the deployed stack reads its secret from Secrets Manager and never sees this file.
 */
export const LOCAL_JWT_SECRET = 'tripsync-local-development-only-secret-not-for-aws';

/** What `npm start` reads from the environment; each field is a `startLocalStack` option. */
export interface LocalStackEnvOptions {
  host: string;
  port: number;
  dynamoDbPort: number;
  dynamoDbEndpoint: string | undefined;
  tableName: string;
  messageTableName: string;
  messageRetentionSeconds: number;
  stage: string;
  region: string;
  jwtSecret: string;
  /** True when `JWT_SECRET` was unset and the local default is used. */
  jwtSecretIsDefault: boolean;
  idleTimeoutMs: number;
  maxConnectionDurationMs: number;
  maxConnectionsPerUser: number;
  sendShardSize: number;
  handlerLogLevel: string;
  functionConcurrency: number;
}

/** Longest idle timeout or connection duration the local stack accepts (a day). */
export const MAX_LOCAL_DURATION_MS = 24 * 60 * 60 * 1000;
/** Workers per function at most: each one is a thread with its own heap. */
export const MAX_FUNCTION_CONCURRENCY = 256;
const STAGE_PATTERN = AWS_LIMITS.stageNamePattern;
const TABLE_NAME_PATTERN = AWS_LIMITS.tableNamePattern;
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'];

/**
 * Reads the local stack's environment once. An invalid value throws `ConfigError` naming the
 * variable and what it received, e.g. `PORT: must be an integer from 0 to 65535, got "http"`.
 *
 * @example
 * const options = readLocalStackEnv(process.env);
 * const stack = await startLocalStack(options);
 */
export function readLocalStackEnv(env: Env): LocalStackEnvOptions {
  const dynamoDbEndpoint = optionalUrl(env, 'DYNAMODB_ENDPOINT');
  if (dynamoDbEndpoint !== undefined && optionalString(env, 'DYNAMODB_PORT') !== undefined) {
    throw new ConfigError(
      'DYNAMODB_PORT',
      'has no effect with DYNAMODB_ENDPOINT (nothing is embedded then); unset one of them',
    );
  }
  const secret = optionalString(env, 'JWT_SECRET');
  return {
    host: optionalString(env, 'BIND_HOST') ?? DEFAULTS.host,
    port: integerInRange(env, 'PORT', DEFAULTS.port, 0, 65535),
    dynamoDbPort: integerInRange(env, 'DYNAMODB_PORT', DEFAULTS.dynamoDbPort, 0, 65535),
    dynamoDbEndpoint,
    tableName: matching(env, 'TABLE_NAME', DEFAULTS.tableName, TABLE_NAME_PATTERN),
    messageTableName: matching(
      env,
      'MESSAGE_TABLE_NAME',
      DEFAULTS.messageTableName,
      TABLE_NAME_PATTERN,
    ),
    messageRetentionSeconds: integerInRange(
      env,
      SETTINGS.messageRetentionSeconds.env,
      DEFAULTS.messageRetentionSeconds,
      SETTINGS.messageRetentionSeconds.min,
      SETTINGS.messageRetentionSeconds.max,
    ),
    stage: matching(env, 'STAGE', DEFAULTS.stage, STAGE_PATTERN),
    region: optionalString(env, 'AWS_REGION') ?? DEFAULTS.region,
    jwtSecret: checkSecret('JWT_SECRET', secret ?? LOCAL_JWT_SECRET),
    jwtSecretIsDefault: secret === undefined,
    idleTimeoutMs: integerInRange(
      env,
      'IDLE_TIMEOUT_MS',
      DEFAULTS.idleTimeoutMs,
      1,
      MAX_LOCAL_DURATION_MS,
    ),
    maxConnectionDurationMs: integerInRange(
      env,
      'MAX_CONNECTION_DURATION_MS',
      DEFAULTS.maxConnectionDurationMs,
      1,
      MAX_LOCAL_DURATION_MS,
    ),
    maxConnectionsPerUser: integerSetting(env, SETTINGS.maxConnectionsPerUser),
    sendShardSize: integerSetting(env, SETTINGS.sendShardSize),
    handlerLogLevel: logLevel(env, 'POWERTOOLS_LOG_LEVEL', DEFAULTS.handlerLogLevel),
    functionConcurrency: integerInRange(
      env,
      'FUNCTION_CONCURRENCY',
      DEFAULTS.functionConcurrency,
      1,
      MAX_FUNCTION_CONCURRENCY,
    ),
  };
}

/**
 * Checks an HS256 secret's length (RFC 7518 §3.2), naming where it came from.
 *
 * @example
 * checkSecret('JWT_SECRET', 'short'); // throws ConfigError "JWT_SECRET: must be at least 32 bytes for HS256, got 5"
 */
export function checkSecret(name: string, secret: string): string {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_HS256_SECRET_BYTES) {
    throw new ConfigError(
      name,
      `must be at least ${MIN_HS256_SECRET_BYTES} bytes for HS256, got ${bytes}`,
    );
  }
  return secret;
}

/**
 * Checks a programmatic option the way the environment is checked: integer within [min, max].
 *
 * @example
 * checkInteger('port', 70000, 0, 65535); // throws ConfigError "port: must be an integer from 0 to 65535, got 70000"
 */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a stage name (used in paths, events and ARNs).
 *
 * @example
 * checkStage('stage', 'live'); // 'live'
 */
export function checkStage(name: string, value: string): string {
  if (!STAGE_PATTERN.test(value)) {
    throw new ConfigError(
      name,
      `must be 1 to 128 letters, digits, - or _, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Checks a Powertools log level and returns it in upper case.
 *
 * @example
 * checkLogLevel('POWERTOOLS_LOG_LEVEL', 'debug'); // 'DEBUG'
 */
export function checkLogLevel(name: string, value: string): string {
  const upper = value.toUpperCase();
  if (!LOG_LEVELS.includes(upper)) {
    throw new ConfigError(
      name,
      `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return upper;
}

function matching(env: Env, name: string, fallback: string, pattern: RegExp): string {
  const value = optionalString(env, name);
  if (value === undefined) return fallback;
  if (!pattern.test(value)) {
    throw new ConfigError(name, `must match ${pattern.source}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function logLevel(env: Env, name: string, fallback: string): string {
  const value = optionalString(env, name);
  return value === undefined ? fallback : checkLogLevel(name, value);
}
