import { SqsDeadLetterQueue } from '../adapters/sqs-dead-letter-queue';
import type { QueueConsumerConfig } from '../config/queue';
import type { DeadLetterQueue, RejectedMessage } from '../core/ports';

/**
 * Builds the dead-letter queue once per container. Its SQS client is imported on the first bad
 * payload, not at cold start: most containers never meet one. The client's endpoint is the queue
 * URL's origin: SQS's regional endpoint on AWS, the local stack's origin locally (the SDK would
 * otherwise warn that the two differ, and use the URL's anyway).
 *
 * @example
 * const deadLetters = createDeadLetterQueue(readQueueConsumerConfig(process.env));
 */
export function createDeadLetterQueue(config: QueueConsumerConfig): DeadLetterQueue {
  let queue: Promise<DeadLetterQueue> | undefined;
  return {
    async reject(message: RejectedMessage) {
      queue ??= load(config).catch((error: unknown) => {
        queue = undefined; // loaded again on the next bad payload
        throw error;
      });
      await (await queue).reject(message);
    },
  };
}

async function load(config: QueueConsumerConfig): Promise<DeadLetterQueue> {
  const { SQSClient, SendMessageCommand } = await import('@aws-sdk/client-sqs');
  const client = new SQSClient({
    endpoint: new URL(config.deadLetterQueueUrl).origin,
    maxAttempts: 3,
  });
  return new SqsDeadLetterQueue(client, SendMessageCommand, config.deadLetterQueueUrl);
}
