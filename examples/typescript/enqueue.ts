/**
 * Notify users through the notification queue (SQS) with the AWS SDK, the durable path: SQS keeps
 * the message until it is delivered, retries what fails, and keeps what never can on a
 * dead-letter queue.
 *
 *   npx tsx examples/typescript/enqueue.ts 42 '{"type":"seat_taken","tripId":"t-1"}'
 *   npx tsx examples/typescript/enqueue.ts 42,7 '{"type":"pool_filled"}'           # several users
 *   npx tsx examples/typescript/enqueue.ts 42 '{"type":"a"}' 7 '{"type":"b"}'      # a batch
 *
 * One pair of users and message is one SendMessage; several pairs are one SendMessageBatch (up
 * to 10). Prints each message id: SQS has accepted it, delivery follows within moments. The
 * queue does not answer with delivery counts; a payload it cannot deliver lands on the
 * dead-letter queue with the reason (docs/operating.md).
 *
 * Settings, from the environment, with the local stack's values as defaults:
 * - AWS_ENDPOINT_URL: where SQS is (default http://127.0.0.1:3001, `npm start`). On AWS, leave
 *   it unset, or https://sqs.{region}.amazonaws.com.
 * - AWS_REGION (default us-east-1).
 * - NOTIFICATION_QUEUE_URL: the queue, on AWS the stack's NotificationQueueUrl output. When unset,
 *   the queue is looked up by name: NOTIFICATION_QUEUE_NAME (default "notifications", the local one).
 * Credentials come from the usual places; with none configured this signs with placeholders,
 * which the local stack accepts.
 */
import {
  GetQueueUrlCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';

const endpoint = process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:3001';
const region = process.env.AWS_REGION ?? 'us-east-1';

/** A send payload: one target and a message. */
type SendPayload = { message: object } & ({ userId: string } | { userIds: string[] });

/** One SQS client per process (per Lambda container). */
async function sqsClient(): Promise<SQSClient> {
  const client = new SQSClient({ endpoint, region });
  try {
    await client.config.credentials();
    return client;
  } catch {
    client.destroy();
    return new SQSClient({
      endpoint,
      region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }
}

async function queueUrl(sqs: SQSClient): Promise<string> {
  if (process.env.NOTIFICATION_QUEUE_URL) return process.env.NOTIFICATION_QUEUE_URL;
  const name = process.env.NOTIFICATION_QUEUE_NAME ?? 'notifications';
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`no URL for queue ${name}`);
  return QueueUrl;
}

/**
 * Queues payloads: one SendMessage, or one SendMessageBatch for several. Throws when SQS refuses
 * any of them, naming the entry.
 *
 * @example
 * await enqueue(sqs, url, [{ userId: '42', message: { type: 'seat_taken' } }]);
 */
async function enqueue(sqs: SQSClient, url: string, payloads: SendPayload[]): Promise<string[]> {
  if (payloads.length === 1) {
    const { MessageId } = await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: JSON.stringify(payloads[0]) }),
    );
    return [MessageId ?? ''];
  }
  const result = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: payloads.map((payload, index) => ({
        Id: `n${index}`,
        MessageBody: JSON.stringify(payload),
      })),
    }),
  );
  const failed = result.Failed ?? [];
  if (failed.length > 0) {
    throw new Error(failed.map((f) => `entry ${f.Id}: ${f.Code}: ${f.Message}`).join('; '));
  }
  return (result.Successful ?? []).map((s) => s.MessageId ?? '');
}

async function main(args: string[]): Promise<void> {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new Error(
      "usage: enqueue.ts <userId>[,<userId>...] '<message as a JSON object>' [<userIds> '<message>' ...]",
    );
  }
  const payloads: SendPayload[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const users = (args[i] as string).split(',');
    let message: object;
    try {
      message = JSON.parse(args[i + 1] as string);
    } catch (error) {
      throw new Error(`message: not JSON (${error instanceof Error ? error.message : error})`);
    }
    payloads.push(
      users.length === 1 ? { userId: users[0] as string, message } : { userIds: users, message },
    );
  }
  const sqs = await sqsClient();
  try {
    const ids = await enqueue(sqs, await queueUrl(sqs), payloads);
    process.stdout.write(`${JSON.stringify({ queued: ids })}\n`);
  } finally {
    sqs.destroy();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
