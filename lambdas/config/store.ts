import { type Env, integerInRange, optionalUrl, requiredString } from './env';

/** Where the connection table lives. */
export interface StoreConfig {
  /** `TABLE_NAME`: the connection table. */
  tableName: string;
  /** `DYNAMODB_ENDPOINT`: set locally (dynalite, DynamoDB Local); unset on AWS. */
  dynamoDbEndpoint: string | undefined;
  /** `CONNECTION_TTL_SECONDS`: row lifetime; API Gateway's 2-hour connection limit by default. */
  connectionTtlSeconds: number;
  /** `DYNAMODB_REQUEST_TIMEOUT_MS`: deadline of one DynamoDB attempt (3 attempts in all). */
  requestTimeoutMs: number;
}

/** Two hours: API Gateway closes every WebSocket connection at that age. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60;

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
    connectionTtlSeconds: integerInRange(
      env,
      'CONNECTION_TTL_SECONDS',
      DEFAULT_CONNECTION_TTL_SECONDS,
      60,
      7 * 24 * 60 * 60,
    ),
    requestTimeoutMs: integerInRange(env, 'DYNAMODB_REQUEST_TIMEOUT_MS', 3000, 100, 20_000),
  };
}
