import { ConfigError } from '../core/errors';
import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalString, optionalUrl, requiredString } from './env';

/** Where the connection table lives. */
export interface StoreConfig {
  /** `TABLE_NAME`: the connection table. */
  tableName: string;
  /** `DYNAMODB_ENDPOINT`: set locally (dynalite, DynamoDB Local); unset on AWS. */
  dynamoDbEndpoint: string | undefined;
  /**
   * `CONNECTION_TTL_SECONDS`: row lifetime, from API Gateway's maximum connection duration
   * (7200, the default) to a week.
   */
  connectionTtlSeconds: number;
  /** `DYNAMODB_REQUEST_TIMEOUT_MS`: deadline of one DynamoDB attempt (3 attempts in all). */
  requestTimeoutMs: number;
}

/**
 * Reads the store's settings once, at cold start.
 *
 * @example
 * readStoreConfig({ TABLE_NAME: 'Connections', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' });
 */
export function readStoreConfig(env: Env): StoreConfig {
  return {
    tableName: requiredString(env, 'TABLE_NAME'),
    dynamoDbEndpoint: optionalUrl(env, 'DYNAMODB_ENDPOINT'),
    connectionTtlSeconds: connectionTtlSeconds(env),
    requestTimeoutMs: integerSetting(env, SETTINGS.dynamoDbRequestTimeoutMs),
  };
}

/**
 * A row is written once, at `$connect`, and never refreshed while its socket is open; `send`
 * skips rows past `expiresAt`. A TTL shorter than the longest connection would silently stop
 * delivery to sockets still open, so it is refused, saying why.
 */
function connectionTtlSeconds(env: Env): number {
  const setting = SETTINGS.connectionTtlSeconds;
  const raw = optionalString(env, setting.env);
  if (raw !== undefined && Number.isInteger(Number(raw)) && Number(raw) < setting.min) {
    throw new ConfigError(
      setting.env,
      `must be at least ${setting.min} (${setting.belowMinimum}), got ${JSON.stringify(raw)}`,
    );
  }
  return integerSetting(env, setting);
}
