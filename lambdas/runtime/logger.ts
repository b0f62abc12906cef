import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per container. `POWERTOOLS_LOG_LEVEL` sets the level. Handlers
 * never log whole events: the `$connect` events carry the token in their query string.
 *
 * @example
 * const log = createLogger('connect');
 * log.info('connected', { userId: '42', connectionId: 'BFaT_fALIAMCKug=' });
 */
export function createLogger(handlerName: string): Logger {
  const logger = new Logger({ serviceName: 'tripsync-realtime' });
  logger.appendPersistentKeys({ handler: handlerName });
  return logger;
}
