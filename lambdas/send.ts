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
 * Time kept back from the Lambda timeout for stale-row cleanup and the reply: the send returns
 * its counts instead of timing out (a timed-out `Event` invocation is retried, repeating
 * messages to connections already reached).
 */
const FINISH_MARGIN_MS = 1000;

/** The part of Lambda's `context` the send handler reads. */
interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Invoked by producers (Lambda `Invoke`, `RequestResponse` or `Event`) with a `SendPayload`.
 * Errors are thrown so Lambda reports them with `errorType` = the error's name:
 * `ValidationError` (bad payload, nothing sent) or `StoreUnavailableError` (retryable, nothing
 * sent). Posts that would not finish before the Lambda timeout are not attempted and count
 * `failed`.
 */
export async function handler(event: unknown, context?: InvocationContext): Promise<SendResult> {
  const finishBy = context
    ? Date.now() + context.getRemainingTimeInMillis() - FINISH_MARGIN_MS
    : undefined;
  try {
    return await sendNotification(event, {
      store,
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
