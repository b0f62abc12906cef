import { SETTINGS } from '../shared/limits';
import { type Env, integerSetting, requiredString } from './env';

/** Where the message log lives and how long it keeps a message. */
export interface MessageLogConfig {
  /** `MESSAGE_TABLE_NAME`: the message log table. */
  tableName: string;
  /** `MESSAGE_RETENTION_SECONDS`: a logged message's lifetime (86,400 by default). */
  retentionSeconds: number;
}

/**
 * Reads the message log's settings once, at cold start. Its DynamoDB endpoint and timeouts are
 * the connection store's (`readStoreConfig`): one client serves both tables.
 *
 * @example
 * readMessageLogConfig({ MESSAGE_TABLE_NAME: 'MessageLog' }).retentionSeconds; // 86400
 */
export function readMessageLogConfig(env: Env): MessageLogConfig {
  return {
    tableName: requiredString(env, 'MESSAGE_TABLE_NAME'),
    retentionSeconds: integerSetting(env, SETTINGS.messageRetentionSeconds),
  };
}
