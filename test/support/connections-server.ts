import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the fake API Gateway answers a post to one connection. */
export type PostBehaviour =
  | 'ok'
  | 'gone'
  | 'throttle'
  | 'server-error'
  | 'forbidden'
  | 'hang'
  | 'reset'
  /** Throttles the first `n` attempts, then accepts. */
  | { throttleTimes: number };

export interface ReceivedPost {
  connectionId: string;
  body: string;
  at: number;
  /** The request line's path, as sent (URL-encoded). */
  path: string;
  /** Header names and values in the order and case they arrived. */
  rawHeaders: string[];
}

/**
 * A real HTTP server speaking API Gateway's `@connections` wire format, with a scripted answer
 * per connection: what the team cannot make AWS do on demand (410, 429, 5xx, a hang, a reset).
 * It records every post and the peak number of posts in flight.
 */
export interface ConnectionsServer {
  endpoint: string;
  posts: ReceivedPost[];
  attempts: Map<string, number>;
  peakInFlight: number;
  behave(connectionId: string, behaviour: PostBehaviour): void;
  /** The answer for connections without their own script (`ok` by default). */
  setDefault(behaviour: PostBehaviour): void;
  stop(): Promise<void>;
}

export async function startConnectionsServer(
  options: { latencyMs?: number } = {},
): Promise<ConnectionsServer> {
  const scripts = new Map<string, PostBehaviour>();
  let fallback: PostBehaviour = 'ok';
  const sockets = new Set<Socket>();
  let inFlight = 0;

  const state: ConnectionsServer = {
    endpoint: '',
    posts: [],
    attempts: new Map(),
    peakInFlight: 0,
    behave: (id, behaviour) => scripts.set(id, behaviour),
    setDefault: (behaviour) => {
      fallback = behaviour;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const match = /^\/(?:[^/]+\/)?@connections\/([^/?]+)$/.exec(request.url ?? '');
    if (request.method !== 'POST' || !match) {
      reply(response, 404, 'NotFoundException', 'no such route');
      return;
    }
    const connectionId = decodeURIComponent(match[1] as string);
    const attempt = (state.attempts.get(connectionId) ?? 0) + 1;
    state.attempts.set(connectionId, attempt);
    inFlight++;
    state.peakInFlight = Math.max(state.peakInFlight, inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const behaviour = scripts.get(connectionId) ?? fallback;
      switch (typeof behaviour === 'object' ? 'throttle-then-ok' : behaviour) {
        case 'hang':
          return; // never answers; the client's deadline must fire
        case 'reset':
          request.socket.destroy();
          return;
        case 'gone':
          return reply(response, 410, 'GoneException', '');
        case 'throttle':
          return reply(response, 429, 'LimitExceededException', 'Rate exceeded');
        case 'server-error':
          return reply(response, 500, 'InternalServerErrorException', 'Internal server error');
        case 'forbidden':
          return reply(response, 403, 'ForbiddenException', 'Forbidden');
        case 'throttle-then-ok':
          if (attempt <= (behaviour as { throttleTimes: number }).throttleTimes) {
            return reply(response, 429, 'LimitExceededException', 'Rate exceeded');
          }
      }
      state.posts.push({
        connectionId,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        path: request.url ?? '',
        rawHeaders: request.rawHeaders,
      });
      response.writeHead(200, { 'content-type': 'application/json' }).end();
    } finally {
      inFlight--;
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

function reply(response: ServerResponse, status: number, errorType: string, message: string) {
  response
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType })
    .end(JSON.stringify({ message }));
}
