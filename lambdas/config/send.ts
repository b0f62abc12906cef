import { ConfigError } from '../core/errors';
import type { FanOutOptions } from '../core/send';
import { type Env, integerInRange, optionalUrl } from './env';

/** How `send` reaches connections. */
export interface SendConfig {
  /**
   * `CONNECTIONS_ENDPOINT`: the Management API base URL, `https://{api-id}.execute-api.{region}
   * .amazonaws.com/{stage}` on AWS (built from the API id, not a custom domain), or the local
   * stack's origin.
   */
  connectionsEndpoint: string;
  fanOut: FanOutOptions;
}

/**
 * Reads the send function's settings once, at cold start. Defaults in parentheses:
 * `SEND_CONCURRENCY` (50, the SDK's default socket pool), `POST_TIMEOUT_MS` (3000),
 * `POST_MAX_ATTEMPTS` (3), `POST_BACKOFF_BASE_MS` (50), `POST_BACKOFF_MAX_MS` (1000).
 *
 * @example
 * readSendConfig({ CONNECTIONS_ENDPOINT: 'http://127.0.0.1:3001' }).fanOut.concurrency; // 50
 */
export function readSendConfig(env: Env): SendConfig {
  const connectionsEndpoint = optionalUrl(env, 'CONNECTIONS_ENDPOINT');
  if (connectionsEndpoint === undefined) {
    throw new ConfigError('CONNECTIONS_ENDPOINT', 'is required but not set');
  }
  return {
    connectionsEndpoint,
    fanOut: {
      concurrency: integerInRange(env, 'SEND_CONCURRENCY', 50, 1, 1000),
      postTimeoutMs: integerInRange(env, 'POST_TIMEOUT_MS', 3000, 10, 60_000),
      maxAttempts: integerInRange(env, 'POST_MAX_ATTEMPTS', 3, 1, 10),
      backoffBaseMs: integerInRange(env, 'POST_BACKOFF_BASE_MS', 50, 0, 10_000),
      backoffMaxMs: integerInRange(env, 'POST_BACKOFF_MAX_MS', 1000, 0, 60_000),
    },
  };
}
