import { readSendConfig } from './config/send';
import { readStoreConfig } from './config/store';
import { ValidationError } from './core/errors';
import { type SendResult, sendNotification } from './core/send';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createConnectionStore } from './runtime/store';

const sendConfig = readSendConfig(process.env);
const store = createConnectionStore(readStoreConfig(process.env));
const gateway = createConnectionGateway(sendConfig);
const log = createLogger('send');

/**
 * Invoked by producers (Lambda `Invoke`, `RequestResponse` or `Event`) with a `SendPayload`.
 * Errors are thrown so Lambda reports them with `errorType` = the error's name:
 * `ValidationError` (bad payload, nothing sent) or `StoreUnavailableError` (retryable, nothing
 * sent).
 */
export async function handler(event: unknown): Promise<SendResult> {
  try {
    return await sendNotification(event, { store, gateway, log, options: sendConfig.fanOut });
  } catch (error) {
    if (error instanceof ValidationError) log.warn('send refused', { error: error.message });
    else log.error('send failed', { error });
    throw error;
  }
}
