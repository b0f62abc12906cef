import type { ClientRequestArgs } from 'node:http';
import { WebSocket } from 'ws';
import { POLL } from './waits';

/** How a connection ended, as the client saw it. */
export interface ClientClose {
  code: number;
  reason: string;
}

/**
 * A real `ws` client that keeps every frame it receives, in order, for a test to read.
 *
 * @example
 * const client = await openClient(`${stack.url}?token=${token}`);
 * client.send({ action: 'ping' });
 * expect(JSON.parse(await client.next())).toEqual({ type: 'pong' });
 */
export interface TestClient {
  ws: WebSocket;
  /** Every frame received so far (binary frames as `binary:<hex>`). */
  received: string[];
  /** The next frame not yet returned by `next`, waiting up to `timeoutMs` (`POLL`'s by default). */
  next(timeoutMs?: number): Promise<string>;
  /** Sends a JSON value (or a string as is). */
  send(value: unknown): void;
  /** Sends `{"action":"whoami"}` and returns the connection id from the reply. */
  whoami(): Promise<{ userId: string; connectionId: string }>;
  /** Resolves when the connection has closed. */
  closed: Promise<ClientClose>;
}

export interface OpenOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Opens a WebSocket and waits for the handshake; rejects with the HTTP status of a refusal
 * (`HandshakeRefused`) or the client's error.
 *
 * @example
 * const client = await openClient(`${stack.url}?token=${token}`, { headers: { 'User-Agent': 'e2e' } });
 */
export function openClient(url: string, options: OpenOptions = {}): Promise<TestClient> {
  const clientOptions: ClientRequestArgs = { headers: options.headers ?? {} };
  const ws = new WebSocket(url, options.protocols ?? [], clientOptions);
  const received: string[] = [];
  const waiters: Array<(message: string) => void> = [];
  let read = 0;
  ws.on('message', (data, isBinary) => {
    const buffer = data as Buffer;
    received.push(isBinary ? `binary:${buffer.toString('hex')}` : buffer.toString('utf8'));
    const waiter = waiters.shift();
    if (waiter) waiter(received[read++] as string);
  });
  const closed = new Promise<ClientClose>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  const client: TestClient = {
    ws,
    received,
    closed,
    next(timeoutMs = POLL.timeout) {
      if (read < received.length) return Promise.resolve(received[read++] as string);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(onMessage), 1);
          reject(new Error(`no message within ${timeoutMs} ms (received ${received.length})`));
        }, timeoutMs);
        const onMessage = (message: string) => {
          clearTimeout(timer);
          resolve(message);
        };
        waiters.push(onMessage);
      });
    },
    send(value) {
      ws.send(typeof value === 'string' ? value : JSON.stringify(value));
    },
    async whoami() {
      client.send({ action: 'whoami' });
      return JSON.parse(await client.next()) as { userId: string; connectionId: string };
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`handshake not completed within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      reject(new HandshakeRefused(res.statusCode ?? 0));
      ws.terminate();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** The gateway answered the upgrade with an HTTP status instead of 101. */
export class HandshakeRefused extends Error {
  override readonly name = 'HandshakeRefused';
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

/**
 * The HTTP status a refused handshake got; fails the test if the handshake succeeded.
 *
 * @example
 * expect(await refusedWith(`${stack.url}?token=expired`)).toBe(401);
 */
export async function refusedWith(url: string, options: OpenOptions = {}): Promise<number> {
  try {
    const client = await openClient(url, options);
    client.ws.close();
  } catch (error) {
    if (error instanceof HandshakeRefused) return error.status;
    throw error;
  }
  throw new Error(`handshake to ${url.replace(/token=[^&]+/, 'token=…')} was accepted`);
}
