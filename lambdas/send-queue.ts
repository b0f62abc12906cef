import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { readMessageLogConfig } from './config/message-log';
import { readQueueConsumerConfig } from './config/queue';
import { readSendConfig } from './config/send';
import { readStoreConfig } from './config/store';
import { ValidationError } from './core/errors';
import { sendNotification } from './core/send';
import { consumeSendBatch, deliveryKeyOf, type RecordOutcome } from './core/send-queue';
import { createDeadLetterQueue } from './runtime/dead-letter-queue';
import { createConnectionGateway } from './runtime/gateway';
import { createLogger } from './runtime/logger';
import { createMetrics, publishMetrics, recordSend } from './runtime/metrics';
import { createStores } from './runtime/store';
import { AWS_LIMITS, SEND_FINISH_MARGIN_MS } from './shared/limits';
import { METRICS } from './shared/metrics';

const sendConfig = readSendConfig(process.env);
const { store, messageLog } = createStores(
  readStoreConfig(process.env),
  readMessageLogConfig(process.env),
);
const gateway = createConnectionGateway(sendConfig);
const deadLetters = createDeadLetterQueue(readQueueConsumerConfig(process.env));
const log = createLogger('sendQueue');
const metrics = createMetrics();

const OUTCOME_METRICS: Partial<Record<RecordOutcome, string>> = {
  retried: METRICS.queueRecordsRetried,
  deadLettered: METRICS.queueRecordsDeadLettered,
};

/**
 * The notification queue's consumer: each record's body is a send payload (sent to the queue,
 * or the `detail` of a `TripSync Notification` event), delivered by the same send logic as the
 * `send` function. Answers with the records to deliver again (`ReportBatchItemFailures`); a bad
 * payload goes to the dead-letter queue at once (see `consumeSendBatch`). Each record's message
 * is logged under its SQS message id, so a redelivery is posted with the seq it was first logged
 * at. The records share the invocation's time: posts that would not finish before the timeout
 * are not attempted, and their records come back.
 */
export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  if (context) log.addContext(context);
  const finishBy = context
    ? Date.now() + context.getRemainingTimeInMillis() - SEND_FINISH_MARGIN_MS
    : undefined;
  // When this invocation has surely ended: its claims on the records' messages hold till then.
  const heldUntil =
    Date.now() + (context?.getRemainingTimeInMillis() ?? AWS_LIMITS.maxLambdaTimeoutSeconds * 1000);
  try {
    return await consumeSendBatch(event.Records, {
      deliver: (payload, record) => {
        const started = performance.now();
        return sendNotification(payload, {
          store,
          messageLog,
          // Each record's posts replay one request of their own.
          gateway: gateway.forSend(),
          log,
          options: sendConfig.fanOut,
          finishBy,
          delivery: { key: deliveryKeyOf(record), heldUntil },
          report: (report) => recordSend(metrics, report, performance.now() - started),
        }).catch((error: unknown) => {
          if (error instanceof ValidationError) {
            metrics.addMetric(METRICS.sendsRejected, MetricUnit.Count, 1);
          }
          throw error;
        });
      },
      deadLetters,
      log,
      requestId: context?.awsRequestId,
      onOutcome: (outcome) => {
        const name = OUTCOME_METRICS[outcome];
        if (name) metrics.addMetric(name, MetricUnit.Count, 1);
      },
    });
  } finally {
    publishMetrics(metrics);
  }
}
