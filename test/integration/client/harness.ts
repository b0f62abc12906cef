import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { type ClientOptions, TripSyncClient } from '../../../client/src/index';
import { type Recording, record } from '../../support/client-recorder';
import {
  type StandIn,
  type StandInOptions,
  startStandIn,
} from '../../support/protocol-v2-stand-in';

const servers: StandIn[] = [];
const clients: TripSyncClient[] = [];

// Every test closes its clients and servers, whether its assertions passed or not.
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/**
 * A stand-in protocol v2 server (see test/support/protocol-v2-stand-in.ts), closed after the test.
 *
 * @example
 * const server = await standIn({ beforeReplayFrame: ({ index }) => … });
 */
export async function standIn(options: StandInOptions = {}): Promise<StandIn> {
  const server = await startStandIn(options);
  servers.push(server);
  return server;
}

/**
 * A client of user 42 on `server` with `ws` and short backoff delays, recorded, closed after the
 * test. `connect()` is left to the test.
 *
 * @example
 * const { client, recording } = clientOf(server, { maxRefusals: 3 });
 */
export function clientOf(
  server: StandIn,
  options: Partial<ClientOptions> = {},
): { client: TripSyncClient; recording: Recording } {
  const client = new TripSyncClient({
    url: server.url,
    token: () => 'user:42',
    WebSocket,
    baseDelayMs: 5,
    maxDelayMs: 50,
    ...options,
  });
  clients.push(client);
  return { client, recording: record(client) };
}

/**
 * Sends `count` logged messages to user 42 and returns them, each `{ tag, i }`.
 *
 * @example
 * const missed = sendMany(server, 100, 'missed');
 * expect(recording.messages.map((m) => m.message)).toEqual(missed);
 */
export function sendMany(server: StandIn, count: number, tag: string, userId = '42'): unknown[] {
  const sent: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const message = { tag, i };
    server.send(userId, message);
    sent.push(message);
  }
  return sent;
}
