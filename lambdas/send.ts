import { readMessageLogConfig } from './config/message-log';
import { readSendConfig } from './config/send';
import { readStoreConfig } from './config/store';
import { ValidationError } from './core/errors';
import { type SendResult, sendNotification } from './core/send';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createStores } from './runtime/store';
import { SEND_FINISH_MARGIN_MS } from './shared/limits';

const sendConfig = readSendConfig(process.env);
const { store, messageLog } = createStores(
  readStoreConfig(process.env),
  readMessageLogConfig(process.env),
);
const gateway = createConnectionGateway(sendConfig);
const log = createLogger('send');

/** The part of Lambda's `context` the send handler reads. */
interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Invoked by producers (Lambda `Invoke`, `RequestResponse` or `Event`) with a `SendPayload`:
 * logs the message for each user (unless `persist` is false), then posts it.
 * Errors are thrown so Lambda reports them with `errorType` = the error's name:
 * `ValidationError` (bad payload, nothing sent) or `StoreUnavailableError` (retryable, nothing
 * sent). Posts that would not finish before the Lambda timeout are not attempted and count
 * `failed`.
 */
export async function handler(event: unknown, context?: InvocationContext): Promise<SendResult> {
  const finishBy = context
    ? // Kept back for stale-row cleanup and the reply: the send returns its counts instead of
      // timing out (a timed-out `Event` invocation is retried, repeating messages).
      Date.now() + context.getRemainingTimeInMillis() - SEND_FINISH_MARGIN_MS
    : undefined;
  try {
    return await sendNotification(event, {
      store,
      messageLog,
      // The posts of this invocation replay one request: its trace headers are this invocation's.
      gateway: gateway.forSend(),
      log,
      options: sendConfig.fanOut,
      finishBy,
    });
  } catch (error) {
    if (error instanceof ValidationError) log.warn('send refused', { error: error.message });
    else log.error('send failed', { error });
    throw error;
  }
}
