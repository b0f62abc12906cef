import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { readMessageLogConfig } from './config/message-log';
import { readSendConfig } from './config/send';
import { readStoreConfig } from './config/store';
import { ValidationError } from './core/errors';
import { postShard, type SendResult, type ShardResult, sendNotification } from './core/send';
import { isShardPayload } from './core/shards';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createMetrics, publishMetrics, recordSend } from './runtime/metrics';
import { createShardInvoker } from './runtime/shard-invoker';
import { createStores } from './runtime/store';
import { SEND_FINISH_MARGIN_MS } from './shared/limits';
import { METRICS } from './shared/metrics';

const sendConfig = readSendConfig(process.env);
const { store, messageLog } = createStores(
  readStoreConfig(process.env),
  readMessageLogConfig(process.env),
);
const gateway = createConnectionGateway(sendConfig);
const { sharding } = sendConfig;
const shardInvoker = sharding && createShardInvoker(sharding);
const log = createLogger('send');
const metrics = createMetrics();

/**
 * Invoked by producers (Lambda `Invoke`, `RequestResponse` or `Event`) with a `SendPayload`:
 * logs the message for each user (unless `persist` is false), then posts it, sharded across
 * invocations of itself above `SEND_SHARD_SIZE` connections. Invoked by itself with a signed
 * shard payload: posts that shard, and invokes nothing.
 * Errors are thrown so Lambda reports them with `errorType` = the error's name:
 * `ValidationError` (bad payload, nothing sent) or `StoreUnavailableError` (retryable, nothing
 * sent). Posts that would not finish before the Lambda timeout are not attempted and count
 * `failed`. Each send adds its counts and duration to the metrics (`lambdas/shared/metrics.ts`).
 * `context` is Lambda's (tests that drive the handler directly may leave it out).
 */
export async function handler(
  event: unknown,
  context?: Context,
): Promise<SendResult | ShardResult> {
  if (context) log.addContext(context);
  const started = performance.now();
  const finishBy = context
    ? // Kept back for stale-row cleanup and the reply: the send returns its counts instead of
      // timing out (a timed-out `Event` invocation is retried, repeating messages).
      Date.now() + context.getRemainingTimeInMillis() - SEND_FINISH_MARGIN_MS
    : undefined;
  // The posts of this invocation replay one request: its trace headers are this invocation's.
  const posting = { store, gateway: gateway.forSend(), log, options: sendConfig.fanOut, finishBy };
  try {
    if (isShardPayload(event)) {
      // No invoker here: a shard cannot shard again, whatever its payload says.
      return await postShard(event, { ...posting, signingKey: sharding?.signingKey });
    }
    return await sendNotification(event, {
      ...posting,
      messageLog,
      ...(sharding &&
        shardInvoker && {
          sharding: {
            invoker: shardInvoker,
            shardSize: sharding.shardSize,
            shardsInFlight: sharding.shardsInFlight,
            signingKey: sharding.signingKey,
          },
        }),
      report: (report) => recordSend(metrics, report, performance.now() - started),
    });
  } catch (error) {
    if (error instanceof ValidationError) {
      log.warn('send refused', { error: error.message });
      metrics.addMetric(METRICS.sendsRejected, MetricUnit.Count, 1);
    } else log.error('send failed', { error });
    throw error;
  } finally {
    publishMetrics(metrics);
  }
}
