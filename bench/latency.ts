import { WebSocket, WebSocketServer } from 'ws';
import type { LocalBench } from './local-context';
import { type Summary, summarize } from './stats';

/** Send latency and its raw baseline. */
export interface LatencyResult {
  /** Producer `Invoke` of `send` to the frame on the client socket. */
  send: Summary;
  /** Producer `Invoke` to the invoke's response (the function's result). */
  invoke: Summary;
  /** The same message written on an open `ws` socket in this process, to its receipt. */
  raw: Summary;
}

const MESSAGE = { type: 'driver_near', tripId: 'trip-2041', etaSeconds: 90 };

/**
 * Times `samples` sends to a user with one open connection, one at a time, after `warmUp`
 * untimed ones; then the raw baseline the same number of times. The connection is left open
 * (the caller closes it and waits for its `$disconnect`).
 *
 * @example
 * const latency = await measureLatency(bench, 300, 30);
 * latency.send.median;
 */
export async function measureLatency(
  bench: LocalBench,
  samples: number,
  warmUp: number,
): Promise<LatencyResult> {
  const userId = 'bench-latency';
  await bench.connectUser(userId, 1, 1);
  const send: number[] = [];
  const invoke: number[] = [];
  for (let i = -warmUp; i < samples; i++) {
    const arrived = bench.fleet.expect(1);
    const started = performance.now();
    await bench.invokeSend({ userId, message: { ...MESSAGE, i } });
    const returned = performance.now();
    const received = await arrived;
    if (i < 0) continue;
    send.push(received - started);
    invoke.push(returned - started);
  }
  return {
    send: summarize(send),
    invoke: summarize(invoke),
    raw: await rawLatency(samples, warmUp),
  };
}

/** One `ws` server and one client in this process: write a frame, wait for it. */
async function rawLatency(samples: number, warmUp: number): Promise<Summary> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const socket = await accepted;
  const times: number[] = [];
  for (let i = -warmUp; i < samples; i++) {
    const received = new Promise<number>((resolve) =>
      client.once('message', () => resolve(performance.now())),
    );
    const started = performance.now();
    socket.send(JSON.stringify({ ...MESSAGE, i }));
    const at = await received;
    if (i >= 0) times.push(at - started);
  }
  client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return summarize(times);
}
