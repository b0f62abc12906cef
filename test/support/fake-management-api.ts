import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { keepIdleConnections } from '../../local/http';

/**
 * How the fake API Gateway answers a post to one connection: what the team cannot make AWS do
 * on demand.
 */
export type PostBehaviour =
  /** 200: the post is recorded, and passed to the upstream API when there is one. */
  | 'ok'
  /** 410 GoneException. */
  | 'gone'
  /** 429 LimitExceededException, as API Gateway throttles `@connections`. */
  | 'throttle'
  /** 500 InternalServerErrorException. */
  | 'server-error'
  /** 403 ForbiddenException. */
  | 'forbidden'
  /** Reads the request and never answers; the client's deadline must fire. */
  | 'hang'
  /** Drops the TCP connection without an answer. */
  | 'reset'
  /** Throttles the first `n` attempts, then answers as `ok`. */
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
 * per connection. Alone, it records what an `ok` post carried; in front of an upstream API
 * (the local stack's real `@connections`) it passes `ok` posts on, so they reach the sockets.
 *
 * @example
 * const api = await startFakeManagementApi({ upstream: stack.endpoint });
 * api.script(connectionId, 'throttle');
 * // the send function, configured with CONNECTIONS_ENDPOINT = api.endpoint, now sees 429s
 */
export interface FakeManagementApi {
  endpoint: string;
  /** Posts answered `ok`, in arrival order. */
  posts: ReceivedPost[];
  /** The arrival time (epoch ms) of every post attempt, per connection id. */
  attempts: Map<string, number[]>;
  /** The most posts in flight at once. */
  peakInFlight: number;
  script(connectionId: string, behaviour: PostBehaviour): void;
  /** The answer for connections without their own script (`ok` unless set). */
  setDefault(behaviour: PostBehaviour): void;
  /** Forgets the scripts, the default, the posts, the attempts and the peak. */
  reset(): void;
  stop(): Promise<void>;
}

const CONNECTION_PATH = /^\/(?:[^/]+\/)?@connections\/([^/?]+)$/;

/**
 * Starts the fake on a free port. `latencyMs` delays every answer; `upstream` is the origin
 * that `ok` posts, and requests other than posts, are passed to.
 */
export async function startFakeManagementApi(
  options: { upstream?: string; latencyMs?: number } = {},
): Promise<FakeManagementApi> {
  const scripts = new Map<string, PostBehaviour>();
  let fallback: PostBehaviour = 'ok';
  const sockets = new Set<Socket>();
  let inFlight = 0;

  const state: FakeManagementApi = {
    endpoint: '',
    posts: [],
    attempts: new Map(),
    peakInFlight: 0,
    script: (connectionId, behaviour) => scripts.set(connectionId, behaviour),
    setDefault: (behaviour) => {
      fallback = behaviour;
    },
    reset: () => {
      scripts.clear();
      fallback = 'ok';
      state.posts.length = 0;
      state.attempts.clear();
      state.peakInFlight = inFlight;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const match = CONNECTION_PATH.exec(request.url ?? '');
    const body = await readBody(request);
    if (request.method !== 'POST' || !match) {
      if (options.upstream) return forward(request, body, response, options.upstream);
      return reply(response, 404, 'NotFoundException', 'no such route');
    }
    const connectionId = decodeURIComponent(match[1] as string);
    const times = state.attempts.get(connectionId) ?? [];
    times.push(Date.now());
    state.attempts.set(connectionId, times);
    inFlight++;
    state.peakInFlight = Math.max(state.peakInFlight, inFlight);
    try {
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const behaviour = scripts.get(connectionId) ?? fallback;
      const effective =
        typeof behaviour === 'object'
          ? times.length <= behaviour.throttleTimes
            ? 'throttle'
            : 'ok'
          : behaviour;
      switch (effective) {
        case 'hang':
          return;
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
        case 'ok':
          state.posts.push({
            connectionId,
            body: body.toString('utf8'),
            at: Date.now(),
            path: request.url ?? '',
            rawHeaders: request.rawHeaders,
          });
          if (options.upstream) return forward(request, body, response, options.upstream);
          response.writeHead(200, { 'content-type': 'application/json' }).end();
      }
    } finally {
      inFlight--;
    }
  });
  // As the local stack's: with Node's default, a post written on a pooled socket as this server
  // closed it failed before it arrived, and a test counting attempts saw one fewer than made.
  keepIdleConnections(server);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function forward(request: IncomingMessage, body: Buffer, response: ServerResponse, to: string) {
  const target = new URL(request.url ?? '/', to);
  const outgoing = httpRequest(
    target,
    { method: request.method, headers: { ...request.headers, host: target.host } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  outgoing.on('error', () => response.destroy());
  outgoing.end(body);
}

function reply(response: ServerResponse, status: number, errorType: string, message: string) {
  response
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType })
    .end(JSON.stringify({ message }));
}
