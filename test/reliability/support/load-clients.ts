import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { WebSocket } from 'ws';

/**
 * A lean WebSocket client for load runs: it keeps, per connection, the `(lane, seq)` of every
 * load message it receives, in arrival order, and counts anything else it was not expecting.
 */
export interface LoadClient {
  userId: string;
  connectionId: string;
  ws: WebSocket;
  /** `lane * LANE_STRIDE + seq` of each `{ type: 'load' }` message, in arrival order. */
  received: number[];
  /** Frames that were neither load messages, markers, nor replies asked for. */
  unexpected: string[];
  /** Resolves when the marker `id` arrives. */
  marker(id: string, timeoutMs?: number): Promise<void>;
  whoami(): Promise<void>;
  closed: Promise<number>;
}

export const LANE_STRIDE = 10_000_000;

/**
 * Opens one client and waits for the handshake.
 *
 * @example
 * const client = await openLoadClient(stack.url, '42', token);
 */
export function openLoadClient(url: string, userId: string, token: string): Promise<LoadClient> {
  const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false });
  const markers = new Map<string, () => void>();
  const seen = new Set<string>();
  let onWhoami: (() => void) | undefined;
  const client: LoadClient = {
    userId,
    connectionId: '',
    ws,
    received: [],
    unexpected: [],
    marker(id, timeoutMs = 60_000) {
      if (seen.has(id)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`marker ${id} not received by ${userId}`)),
          timeoutMs,
        );
        markers.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    whoami() {
      return new Promise((resolve) => {
        onWhoami = resolve;
        ws.send('{"action":"whoami"}');
      });
    },
    closed: new Promise((resolve) => ws.once('close', (code) => resolve(code))),
  };
  ws.on('message', (data) => {
    const text = (data as Buffer).toString('utf8');
    const frame = JSON.parse(text) as {
      type: string;
      lane?: number;
      seq?: number;
      id?: string;
      userId?: string;
      connectionId?: string;
    };
    if (frame.type === 'load')
      client.received.push((frame.lane as number) * LANE_STRIDE + (frame.seq as number));
    else if (frame.type === 'marker') {
      seen.add(frame.id as string);
      markers.get(frame.id as string)?.();
    } else if (frame.type === 'whoami' && onWhoami && frame.userId === userId) {
      client.connectionId = frame.connectionId as string;
      onWhoami();
      onWhoami = undefined;
    } else client.unexpected.push(text.slice(0, 100));
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      reject(new Error(`handshake refused with ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
}

/**
 * The HTTP status a handshake got (101 when accepted; the socket is then dropped at once).
 *
 * @example
 * expect(await handshakeStatus(url, expiredToken)).toBe(401);
 */
export function handshakeStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', reject);
  });
}

/**
 * Starts a handshake with a valid token and drops the TCP connection after `afterMs`: during
 * the authorizer, during `$connect`, or just after the 101. Resolves once the socket is gone.
 *
 * @example
 * await abandonHandshake(stack.url, token, 3);
 */
export function abandonHandshake(url: string, token: string, afterMs: number): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = netConnect(Number(port), hostname, () => {
      socket.write(
        [
          `GET /?token=${token} HTTP/1.1`,
          `Host: ${hostname}:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          'Sec-WebSocket-Version: 13',
          '',
          '',
        ].join('\r\n'),
      );
      setTimeout(() => socket.destroy(), afterMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
  });
}
