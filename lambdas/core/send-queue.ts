import { DeliveryInProgressError, ValidationError } from './errors';
import type { DeadLetterQueue, Log } from './ports';
import type { SendResult } from './send';

/** The parts of an SQS record (Lambda's SQS event) the consumer reads. */
export interface QueueRecord {
  messageId: string;
  body: string;
  attributes?: { ApproximateReceiveCount?: string };
}

/**
 * The key a queued message is logged under, the same on every delivery of it: SQS keeps a
 * message's id across receives (a message sent back from the dead-letter queue is a new one).
 *
 * @example
 * deliveryKeyOf({ messageId: '2e1424d4-f796-459a-8184-9c92662be6da', body: '{}' });
 * // 'sqs:2e1424d4-f796-459a-8184-9c92662be6da'
 */
export function deliveryKeyOf(record: Pick<QueueRecord, 'messageId'>): string {
  return `sqs:${record.messageId}`;
}

/** Lambda's partial batch response: the ids of the records to deliver again. */
export interface BatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/** What became of one record. */
export type RecordOutcome = 'sent' | 'retried' | 'deadLettered';

export interface QueueDependencies {
  /**
   * The send logic, on one record's payload (throws `ValidationError`, `StoreUnavailableError`,
   * …); the record names the delivery (`deliveryKeyOf`) so a redelivery keeps its seqs.
   */
  deliver: (payload: unknown, record: QueueRecord) => Promise<SendResult>;
  deadLetters: DeadLetterQueue;
  log: Log;
  /** The consumer's Lambda request id, put on what it moves to the dead-letter queue. */
  requestId?: string;
  /** Called once per record with its outcome (for metrics). */
  onOutcome?: (outcome: RecordOutcome) => void;
}

/**
 * Delivers a batch of queued send payloads, each through the send logic, and answers with the
 * records to deliver again (`ReportBatchItemFailures`):
 * - a bad payload (not JSON, or refused with `ValidationError`) can never succeed: it is moved to
 *   the dead-letter queue at once, with the reason as message attributes, logged, and reported as
 *   done (it is not redelivered);
 * - a send that failed in a way a retry may fix (the table unavailable, posts failed after their
 *   attempts or not attempted in time) is returned for redelivery, after the queue's visibility
 *   timeout; after `maxReceiveCount` receives SQS moves it to the dead-letter queue;
 * - if moving a record to the dead-letter queue fails, it is returned for redelivery: nothing is
 *   dropped.
 *
 * A redelivered record is posted again to every connection of its target, including those that
 * already got it, with the seq its first delivery logged (`deliveryKeyOf`): a protocol v2
 * client drops the repeat by its seq. A record that another delivery is still logging
 * (`DeliveryInProgressError`) is returned, and posted once that one has finished.
 *
 * @example
 * const response = await consumeSendBatch(event.Records, { deliver, deadLetters, log });
 * // { batchItemFailures: [{ itemIdentifier: '2e1424d4-f796-459a-8184-9c92662be6da' }] }
 */
export async function consumeSendBatch(
  records: readonly QueueRecord[],
  deps: QueueDependencies,
): Promise<BatchResponse> {
  const outcomes = await Promise.all(records.map((record) => consumeRecord(record, deps)));
  return {
    batchItemFailures: records
      .filter((_, index) => outcomes[index] === 'retried')
      .map((record) => ({ itemIdentifier: record.messageId })),
  };
}

async function consumeRecord(record: QueueRecord, deps: QueueDependencies): Promise<RecordOutcome> {
  const outcome = await outcomeOf(record, deps);
  deps.onOutcome?.(outcome);
  return outcome;
}

async function outcomeOf(record: QueueRecord, deps: QueueDependencies): Promise<RecordOutcome> {
  const { log } = deps;
  const context = {
    messageId: record.messageId,
    receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1),
  };
  let payload: unknown;
  try {
    payload = JSON.parse(record.body);
  } catch (error) {
    return deadLetter(
      record,
      new ValidationError('body', `is not JSON (${(error as Error).message})`),
      deps,
    );
  }
  try {
    const result = await deps.deliver(payload, record);
    if (result.failed > 0) {
      log.warn('queued send had failed posts; returned for redelivery', {
        ...context,
        delivered: result.delivered,
        stale: result.stale,
        failed: result.failed,
      });
      return 'retried';
    }
    return 'sent';
  } catch (error) {
    if (error instanceof ValidationError) return deadLetter(record, error, deps);
    if (error instanceof DeliveryInProgressError) {
      // SQS delivered it twice at once, or its first delivery still runs: not an error.
      log.warn('queued record is being delivered by another invocation; returned for later', {
        ...context,
        userId: error.userId,
      });
      return 'retried';
    }
    log.error('queued send failed; returned for redelivery', { ...context, error });
    return 'retried';
  }
}

async function deadLetter(
  record: QueueRecord,
  error: ValidationError,
  { deadLetters, log, requestId }: QueueDependencies,
): Promise<RecordOutcome> {
  try {
    await deadLetters.reject({
      body: record.body,
      sourceMessageId: record.messageId,
      errorCode: error.name,
      errorMessage: error.message,
      requestId,
    });
  } catch (failure) {
    log.error('bad queued payload could not be moved to the dead-letter queue; returned', {
      messageId: record.messageId,
      reason: error.message,
      error: failure,
    });
    return 'retried';
  }
  log.warn('bad queued payload moved to the dead-letter queue', {
    messageId: record.messageId,
    errorCode: error.name,
    reason: error.message,
  });
  return 'deadLettered';
}
