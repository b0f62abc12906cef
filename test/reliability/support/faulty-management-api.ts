import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with a post to one connection. */
export type Fault =
  /** Passes the post to the real Management API (the local stack), which writes to the socket. */
  | 'forward'
  /** 429 LimitExceededException, as API Gateway throttles `@connections`. */
  | 'throttle'
  /** 500 InternalServerErrorException. */
  | 'server-error'
  /** Reads the request and never answers. */
  | 'hang'
  /** Drops the TCP connection without an answer. */
  | 'reset'
  /** Throttles the first `n` attempts, then forwards. */
  | { throttleTimes: number };

/**
 * A misbehaving API Gateway in front of the local stack's real `@connections`: each post is
 * forwarded, or answered with the fault scripted for its connection. Records every attempt,
 * with its time, per connection.
 *
 * @example
 * const api = await startFaultyManagementApi(stack.endpoint);
 * api.script(connectionId, 'throttle');
 * // the send function, configured with CONNECTIONS_ENDPOINT = api.endpoint, now sees 429s
 */
export interface FaultyManagementApi {
  endpoint: string;
  /** Attempt times (epoch ms) per connection id, every method included. */
  attempts: Map<string, number[]>;
  script(connectionId: string, fault: Fault): void;
  reset(): void;
  stop(): Promise<void>;
}

const PATH = /^\/(?:[^/]+\/)?@connections\/([^/?]+)$/;

export async function startFaultyManagementApi(upstream: string): Promise<FaultyManagementApi> {
  const scripts = new Map<string, Fault>();
  const sockets = new Set<Socket>();
  const attempts = new Map<string, number[]>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const match = PATH.exec(req.url ?? '');
    const connectionId = match ? decodeURIComponent(match[1] as string) : '';
    const times = attempts.get(connectionId) ?? [];
    times.push(Date.now());
    attempts.set(connectionId, times);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const fault = scripts.get(connectionId) ?? 'forward';
      const effective =
        typeof fault === 'object'
          ? times.length <= fault.throttleTimes
            ? 'throttle'
            : 'forward'
          : fault;
      switch (effective) {
        case 'hang':
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'throttle':
          return awsError(res, 429, 'LimitExceededException', 'Rate exceeded');
        case 'server-error':
          return awsError(res, 500, 'InternalServerErrorException', 'Internal server error');
        case 'forward':
          return forward(req, Buffer.concat(chunks), res, upstream);
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts,
    script: (connectionId, fault) => scripts.set(connectionId, fault),
    reset: () => {
      scripts.clear();
      attempts.clear();
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, upstream: string) {
  const target = new URL(req.url ?? '/', upstream);
  const outgoing = httpRequest(
    target,
    { method: req.method, headers: { ...req.headers, host: target.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  outgoing.on('error', () => res.destroy());
  outgoing.end(body);
}

function awsError(res: ServerResponse, status: number, errorType: string, message: string) {
  res
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType })
    .end(JSON.stringify({ message }));
}
