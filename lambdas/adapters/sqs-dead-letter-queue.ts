// Types only: the runtime imports the SDK on the first bad payload, and hands its command in
// (a dynamic import of this module would not resolve in the local stack's function workers).
import type { MessageAttributeValue, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterQueue, RejectedMessage } from '../core/ports';

/** Longest `ErrorMessage` attribute kept: the reason names the field, a line is plenty. */
const MAX_ERROR_MESSAGE_LENGTH = 1000;

/**
 * `DeadLetterQueue` over SQS `SendMessage`. The body is the refused message's, unchanged (so a
 * fixed message can be sent back as is); the reason travels as message attributes named as
 * Lambda names them on a function's own dead-letter queue (`ErrorCode`, `ErrorMessage`,
 * `RequestID`), plus `SourceMessageId`, the id it had on the notification queue.
 *
 * @example
 * const deadLetters = new SqsDeadLetterQueue(new SQSClient({}), SendMessageCommand,
 *   process.env.DEAD_LETTER_QUEUE_URL);
 * await deadLetters.reject({ body: '{"userId":42}', sourceMessageId: 'b1c2…',
 *   errorCode: 'ValidationError', errorMessage: 'message: is required' });
 */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly command: typeof SendMessageCommand,
    private readonly queueUrl: string,
  ) {}

  async reject(message: RejectedMessage): Promise<void> {
    const attributes: Record<string, MessageAttributeValue> = {
      ErrorCode: text(message.errorCode),
      ErrorMessage: text(message.errorMessage.slice(0, MAX_ERROR_MESSAGE_LENGTH)),
      SourceMessageId: text(message.sourceMessageId),
    };
    if (message.requestId) attributes.RequestID = text(message.requestId);
    await this.client.send(
      new this.command({
        QueueUrl: this.queueUrl,
        MessageBody: message.body,
        MessageAttributes: attributes,
      }),
    );
  }
}

function text(value: string): MessageAttributeValue {
  // SQS refuses an empty attribute value.
  return { DataType: 'String', StringValue: value === '' ? '-' : value };
}
