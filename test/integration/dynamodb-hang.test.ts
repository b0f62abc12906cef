import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../lambdas/core/errors';
import { createConnectionStore } from '../../lambdas/runtime/store';

// A DynamoDB endpoint that accepts connections and never answers: the store must give up on
// its own rather than hold a `$connect` open until API Gateway's 29 s integration timeout.

let server: Server;
const sockets = new Set<Socket>();
let requests = 0;

beforeAll(async () => {
  server = createServer(() => {
    requests++; // never answered
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('a DynamoDB endpoint that hangs', () => {
  it('fails the write with StoreUnavailableError after three timed-out attempts', async () => {
    const store = createConnectionStore({
      tableName: 'Connections',
      dynamoDbEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      connectionTtlSeconds: 7200,
      requestTimeoutMs: 500,
    });
    const started = Date.now();
    const error = await store
      .putConnection({ userId: '42', connectionId: 'hang=', connectedAt: started, expiresAt: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/^connection store PutItem on Connections failed: /);
    expect(requests).toBe(3);
    // Three 500 ms attempts plus backoff, not the minutes a hung socket could take.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
