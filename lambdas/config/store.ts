import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalUrl, requiredString } from './env';

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
    connectionTtlSeconds: integerSetting(env, SETTINGS.connectionTtlSeconds),
    requestTimeoutMs: integerSetting(env, SETTINGS.dynamoDbRequestTimeoutMs),
  };
}
