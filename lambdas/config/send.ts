import { ConfigError } from '../core/errors';
import type { FanOutOptions } from '../core/send';
import { SEND_SHARDING, SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalString, optionalUrl, requiredString } from './env';

/** How `send` reaches connections, and itself. */
export interface SendConfig {
  /**
   * `CONNECTIONS_ENDPOINT`: the Management API base URL, `https://{api-id}.execute-api.{region}
   * .amazonaws.com/{stage}` on AWS (built from the API id, not a custom domain), or the local
   * stack's origin.
   */
  connectionsEndpoint: string;
  fanOut: FanOutOptions;
  /** Set when `SHARD_SIGNING_KEY` is: a large send is then sharded across invocations. */
  sharding?: ShardingConfig;
}

/** How `send` invokes itself for the shards of a large fan-out. */
export interface ShardingConfig {
  /** `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets (and the local stack). */
  functionName: string;
  /** `SEND_SHARD_SIZE`: most connections one invocation posts to. */
  shardSize: number;
  /** `SEND_SHARDS_IN_FLIGHT`: shard invocations one send keeps in flight. */
  shardsInFlight: number;
  /** `SHARD_SIGNING_KEY`: signs shard payloads; at least 32 bytes. */
  signingKey: string;
  /** `LAMBDA_ENDPOINT`: the local stack's Invoke API; unset on AWS (the regional endpoint). */
  lambdaEndpoint?: string;
}

/**
 * Reads the send function's settings once, at cold start: `SEND_CONCURRENCY` (50, the SDK's
 * default socket pool), `POST_TIMEOUT_MS` (3000), `POST_MAX_ATTEMPTS` (3), `POST_BACKOFF_BASE_MS`
 * (50), `POST_BACKOFF_MAX_MS` (1000); with `SHARD_SIGNING_KEY`, sharding: `SEND_SHARD_SIZE`,
 * `SEND_SHARDS_IN_FLIGHT`, `AWS_LAMBDA_FUNCTION_NAME` (required then) and `LAMBDA_ENDPOINT`. Defaults and ranges in
 * `lambdas/shared/limits.ts`.
 *
 * @example
 * readSendConfig({ CONNECTIONS_ENDPOINT: 'http://127.0.0.1:3001' }).fanOut.concurrency; // 50
 */
export function readSendConfig(env: Env): SendConfig {
  const connectionsEndpoint = optionalUrl(env, 'CONNECTIONS_ENDPOINT');
  if (connectionsEndpoint === undefined) {
    throw new ConfigError('CONNECTIONS_ENDPOINT', 'is required but not set');
  }
  const sharding = readShardingConfig(env);
  return {
    connectionsEndpoint,
    fanOut: {
      concurrency: integerSetting(env, SETTINGS.sendConcurrency),
      postTimeoutMs: integerSetting(env, SETTINGS.postTimeoutMs),
      maxAttempts: integerSetting(env, SETTINGS.postMaxAttempts),
      backoffBaseMs: integerSetting(env, SETTINGS.postBackoffBaseMs),
      backoffMaxMs: integerSetting(env, SETTINGS.postBackoffMaxMs),
    },
    ...(sharding && { sharding }),
  };
}

function readShardingConfig(env: Env): ShardingConfig | undefined {
  const signingKey = optionalString(env, 'SHARD_SIGNING_KEY');
  if (signingKey === undefined) return undefined;
  const bytes = Buffer.byteLength(signingKey, 'utf8');
  if (bytes < SEND_SHARDING.minSigningKeyBytes) {
    throw new ConfigError(
      'SHARD_SIGNING_KEY',
      `must be at least ${SEND_SHARDING.minSigningKeyBytes} bytes, got ${bytes}`,
    );
  }
  const lambdaEndpoint = optionalUrl(env, 'LAMBDA_ENDPOINT');
  return {
    functionName: requiredString(env, 'AWS_LAMBDA_FUNCTION_NAME'),
    shardSize: integerSetting(env, SETTINGS.sendShardSize),
    shardsInFlight: integerSetting(env, SETTINGS.sendShardsInFlight),
    signingKey,
    ...(lambdaEndpoint !== undefined && { lambdaEndpoint }),
  };
}
