import { ConfigError } from '../core/errors';
import type { FanOutOptions } from '../core/send';
import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalUrl } from './env';

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
 * Reads the send function's settings once, at cold start: `SEND_CONCURRENCY` (50, the SDK's
 * default socket pool), `POST_TIMEOUT_MS` (3000), `POST_MAX_ATTEMPTS` (3), `POST_BACKOFF_BASE_MS`
 * (50), `POST_BACKOFF_MAX_MS` (1000); defaults and ranges in `lambdas/shared/limits.ts`.
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
      concurrency: integerSetting(env, SETTINGS.sendConcurrency),
      postTimeoutMs: integerSetting(env, SETTINGS.postTimeoutMs),
      maxAttempts: integerSetting(env, SETTINGS.postMaxAttempts),
      backoffBaseMs: integerSetting(env, SETTINGS.postBackoffBaseMs),
      backoffMaxMs: integerSetting(env, SETTINGS.postBackoffMaxMs),
    },
  };
}
