import { ConfigError } from '../core/errors';
import { type Env, optionalUrl } from './env';

/** Where the queue consumer moves what it can never deliver. */
export interface QueueConsumerConfig {
  /**
   * `DEAD_LETTER_QUEUE_URL`: the dead-letter queue, `https://sqs.{region}.amazonaws.com/{account}/
   * {name}` on AWS, the local stack's `http://127.0.0.1:3001/000000000000/notifications-dlq`.
   */
  deadLetterQueueUrl: string;
}

/**
 * Reads the queue consumer's settings once, at cold start.
 *
 * @example
 * readQueueConsumerConfig({ DEAD_LETTER_QUEUE_URL: 'http://127.0.0.1:3001/000000000000/notifications-dlq' });
 */
export function readQueueConsumerConfig(env: Env): QueueConsumerConfig {
  const deadLetterQueueUrl = optionalUrl(env, 'DEAD_LETTER_QUEUE_URL');
  if (deadLetterQueueUrl === undefined) {
    throw new ConfigError('DEAD_LETTER_QUEUE_URL', 'is required but not set');
  }
  return { deadLetterQueueUrl };
}
