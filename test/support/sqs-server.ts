import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QUEUE } from '../../lambdas/shared/limits';
import { StackLog } from '../../local/log';
import { handleSqsRequest, sqsProtocolOf } from '../../local/sqs-api';
import { LocalQueue, LocalQueues } from '../../local/sqs-queue';

/** A real HTTP server speaking SQS's JSON and query protocols, with the named queues. */
export interface SqsServer {
  endpoint: string;
  queues: LocalQueues;
  /** The URL of a queue it serves. */
  urlOf(name: string): string;
  stop(): Promise<void>;
}

/**
 * Starts the local stack's SQS API alone on a free port, for tests of code that sends to a
 * queue (the queue consumer's dead-letter queue). Messages stay until a test receives them.
 *
 * @example
 * const sqs = await startSqsServer(['notifications-dlq']);
 * process.env.DEAD_LETTER_QUEUE_URL = sqs.urlOf('notifications-dlq');
 */
export async function startSqsServer(names: string[]): Promise<SqsServer> {
  const queues = new LocalQueues();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const protocol = sqsProtocolOf(req, url, queues);
    if (!protocol) {
      res.writeHead(404).end();
      return;
    }
    handleSqsRequest(req, res, url, protocol, { queues, log: new StackLog(() => {}) }).catch(() =>
      res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const name of names) {
    queues.add(
      new LocalQueue({
        name,
        url: `${endpoint}/000000000000/${name}`,
        arn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
        visibilityTimeoutMs: 30_000,
        retentionMs: QUEUE.deadLetterRetentionDays * 24 * 60 * 60 * 1000,
        maxMessageBytes: QUEUE.maxMessageBytes,
      }),
    );
  }
  return {
    endpoint,
    queues,
    urlOf: (name) => `${endpoint}/000000000000/${name}`,
    stop: async () => {
      queues.wakeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
