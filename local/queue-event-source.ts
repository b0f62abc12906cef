import type { InvocationOutcome, LocalFunction } from './lambda-runtime';
import type { StackLog } from './log';
import { type LocalQueue, type QueueMessage, systemAttributes } from './sqs-queue';

/** One record of Lambda's SQS event. */
export interface SqsEventRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<
    string,
    {
      stringValue?: string;
      binaryValue?: string;
      stringListValues: string[];
      binaryListValues: string[];
      dataType: string;
    }
  >;
  md5OfMessageAttributes?: string;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

/**
 * The event Lambda's SQS event source mapping invokes a function with: `Records`, each with the
 * message's id, receipt handle, body, system attributes (strings), message attributes
 * (camel-cased, with empty list values), MD5s, source ARN and region. Pure.
 *
 * @example
 * sqsEvent(messages, queue, 'us-east-1').Records[0].eventSource; // 'aws:sqs'
 */
export function sqsEvent(
  messages: readonly QueueMessage[],
  queue: Pick<LocalQueue, 'arn'>,
  region: string,
): { Records: SqsEventRecord[] } {
  return {
    Records: messages.map((message) => ({
      messageId: message.messageId,
      receiptHandle: message.receiptHandle ?? '',
      body: message.body,
      attributes: systemAttributes(message),
      messageAttributes: Object.fromEntries(
        Object.entries(message.messageAttributes).map(([name, a]) => [
          name,
          {
            ...(a.StringValue !== undefined && { stringValue: a.StringValue }),
            ...(a.BinaryValue !== undefined && { binaryValue: a.BinaryValue.toString('base64') }),
            stringListValues: [],
            binaryListValues: [],
            dataType: a.DataType,
          },
        ]),
      ),
      ...(message.md5OfMessageAttributes && {
        md5OfMessageAttributes: message.md5OfMessageAttributes,
      }),
      md5OfBody: message.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: region,
    })),
  };
}

/** What Lambda does with a batch after the invocation. */
export interface BatchSettlement {
  /** Records to delete: they succeeded. */
  done: string[];
  /** Records left on the queue, visible again after the visibility timeout. */
  returned: string[];
  /** Why the whole batch was returned, when it was. */
  wholeBatch?: string;
}

/**
 * How Lambda settles a batch with `ReportBatchItemFailures`: a function error or timeout returns
 * every record; otherwise the records in `batchItemFailures` come back and the rest are deleted
 * (no response, `{}` or an empty list: all succeeded). A response Lambda cannot use (an
 * identifier that is empty or not in the batch) returns the whole batch. Pure.
 *
 * @example
 * settleBatch({ ok: true, result: { batchItemFailures: [{ itemIdentifier: 'b' }] } }, ['a', 'b']);
 * // { done: ['a'], returned: ['b'] }
 */
export function settleBatch(outcome: InvocationOutcome, messageIds: string[]): BatchSettlement {
  const all = (reason: string): BatchSettlement => ({
    done: [],
    returned: [...messageIds],
    wholeBatch: reason,
  });
  if (!outcome.ok) {
    return all(outcome.timedOut ? 'the function timed out' : `${outcome.error.errorType}`);
  }
  const failures = (outcome.result as { batchItemFailures?: unknown } | null)?.batchItemFailures;
  if (failures === undefined || failures === null) return { done: [...messageIds], returned: [] };
  if (!Array.isArray(failures)) return all('batchItemFailures is not a list');
  const returned = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !messageIds.includes(id)) {
      return all(`itemIdentifier ${JSON.stringify(id)} is not a record of the batch`);
    }
    returned.add(id);
  }
  return {
    done: messageIds.filter((id) => !returned.has(id)),
    returned: messageIds.filter((id) => returned.has(id)),
  };
}

export interface QueueEventSourceOptions {
  /** Records per invocation, at most. */
  batchSize: number;
  /** How long to gather records after the first before invoking. */
  maxBatchingWindowMs: number;
  region: string;
  log: StackLog;
  /** Batches in flight at once: Lambda starts with five pollers per mapping. */
  pollers?: number;
}

/** How long one receive waits for a message (SQS's long poll maximum). */
const LONG_POLL_MS = 20_000;

/**
 * The local event source mapping: long-polls a queue and invokes the consumer function with
 * batches of real SQS event records, then deletes the records that succeeded and leaves the
 * others to come back after the visibility timeout, as Lambda does with
 * `ReportBatchItemFailures`. The queue's redrive policy moves a record received
 * `maxReceiveCount` times to the dead-letter queue.
 *
 * @example
 * const source = new QueueEventSource(queue, consumer, { batchSize: 10, maxBatchingWindowMs: 0, region, log });
 * source.start();
 * await source.stop();
 */
export class QueueEventSource {
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly queue: LocalQueue,
    private readonly consumer: LocalFunction,
    private readonly options: QueueEventSourceOptions,
  ) {}

  start(): void {
    for (let i = 0; i < (this.options.pollers ?? 5); i++) this.loops.push(this.poll());
  }

  /** Stops polling and waits for the batches in flight. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.queue.wake();
    await Promise.allSettled(this.loops);
  }

  private async poll(): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      const batch = await this.queue.receive({
        max: this.options.batchSize,
        waitMs: LONG_POLL_MS,
        signal,
      });
      if (batch.length === 0) continue;
      if (batch.length < this.options.batchSize && this.options.maxBatchingWindowMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, this.options.maxBatchingWindowMs));
        batch.push(
          ...(await this.queue.receive({
            max: this.options.batchSize - batch.length,
            waitMs: 0,
          })),
        );
      }
      await this.invoke(batch);
    }
  }

  private async invoke(batch: QueueMessage[]): Promise<void> {
    const handles = new Map(batch.map((m) => [m.messageId, m.receiptHandle as string]));
    const outcome = await this.consumer.invoke(sqsEvent(batch, this.queue, this.options.region));
    const settlement = settleBatch(outcome, [...handles.keys()]);
    for (const id of settlement.done) this.queue.delete(handles.get(id) as string);
    const visibility = Math.round(this.queue.visibilityTimeoutMs / 1000);
    this.options.log.line(
      'queue',
      `${this.queue.name} → ${this.consumer.name}: ${batch.length} record(s), ${settlement.done.length} done` +
        (settlement.returned.length > 0
          ? `, ${settlement.returned.length} returned (again after ${visibility} s)${
              settlement.wholeBatch ? `: ${settlement.wholeBatch}` : ''
            }`
          : ''),
    );
  }
}
