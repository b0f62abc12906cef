import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through proxy in front of a DynamoDB API that can answer the next `PutItem` late: the
 * write reaches the table at once, its answer only after `ms` (DynamoDB slow for one request,
 * past the caller's Lambda timeout).
 *
 * @example
 * const slow = await startSlowDynamoDb(db.endpoint);
 * slow.delayNextPutItem(1500);
 */
export interface SlowDynamoDb {
  endpoint: string;
  delayNextPutItem(ms: number): void;
  stop(): Promise<void>;
}

export async function startSlowDynamoDb(target: string): Promise<SlowDynamoDb> {
  const upstream = new URL(target);
  let nextPutDelayMs = 0;
  const server = createServer((req, res) => {
    const isPut = String(req.headers['x-amz-target'] ?? '').endsWith('.PutItem');
    const delayMs = isPut ? nextPutDelayMs : 0;
    if (isPut) nextPutDelayMs = 0;
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          setTimeout(() => {
            if (res.destroyed) return;
            res.writeHead(answer.statusCode ?? 500, answer.headers).end(Buffer.concat(chunks));
          }, delayMs);
        });
      },
    );
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    delayNextPutItem: (ms) => {
      nextPutDelayMs = ms;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
