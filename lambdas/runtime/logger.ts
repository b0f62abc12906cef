import { Logger } from '@aws-lambda-powertools/logger';
import { SERVICE_NAME } from '../shared/limits';

/**
 * One structured JSON logger per container. `POWERTOOLS_LOG_LEVEL` sets the level and
 * `POWERTOOLS_SERVICE_NAME` the service (`tripsync-realtime` when unset). Handlers
 * never log whole events: the `$connect` events carry the token in their query string.
 *
 * @example
 * const log = createLogger('connect');
 * log.info('connected', { userId: '42', connectionId: 'BFaT_fALIAMCKug=' });
 */
export function createLogger(handlerName: string): Logger {
  // Powertools prefers a constructor option to POWERTOOLS_SERVICE_NAME: only default it.
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ? undefined : SERVICE_NAME;
  const logger = new Logger({ serviceName });
  logger.appendPersistentKeys({ handler: handlerName });
  return logger;
}
