import type { Context } from 'aws-lambda';
import { readStoreConfig } from './config/store';
import { ValidationError } from './core/errors';
import { type PresenceResult, queryPresence } from './core/presence';
import { createLogger } from './runtime/logger';
import { createConnectionStore } from './runtime/store';

const store = createConnectionStore(readStoreConfig(process.env));
const log = createLogger('presence');

/**
 * Invoked by producers (Lambda `Invoke`) with `{"userIds": [...]}` (1 to 1,000 ids); answers
 * `{"online": {"42": 2, "7": 0}}`, each user's live connections, read strongly consistent. Errors
 * as `send`'s: `ValidationError` naming the field, `StoreUnavailableError` (retry). `context` is
 * Lambda's (tests that drive the handler directly may leave it out).
 */
export async function handler(event: unknown, context?: Context): Promise<PresenceResult> {
  if (context) log.addContext(context);
  try {
    return await queryPresence(event, { store });
  } catch (error) {
    if (error instanceof ValidationError)
      log.warn('presence query refused', { error: error.message });
    else log.error('presence query failed', { error });
    throw error;
  }
}
