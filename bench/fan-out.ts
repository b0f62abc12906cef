import {
  type ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { OpenResult } from './clients';
import type { LocalBench } from './local-context';
import { type Summary, summarize } from './stats';

/** One fan-out design's rounds: the time to the last frame, and what the stack saw. */
export interface FanOutRun {
  /** From the start (invoke, broadcast or first post) to the last frame received. */
  ms: Summary;
  /** Peak Management API posts in flight: as the sender's HTTP client wrote them. */
  peakSent?: number;
  /** ... and as the gateway received them. */
  peakReceived?: number;
  /** The send function's result of the last round. */
  result?: unknown;
  /** CPU time the stack process spent per round (user + system), in ms. */
  stackCpuMs: Summary;
  /** Per round: first DynamoDB request to last answer, and first post to last answer. */
  phases?: { dynamodbMs: Summary; postsMs: Summary };
}

/** A test message the size of a typical notification. */
export function fanOutMessage(round: number): Record<string, unknown> {
  return { type: 'seat_taken', tripId: 'trip-2041', seat: 3, round };
}

/**
 * Times `rounds` invocations of `send` with `payload` until `frames` frames have arrived on
 * this process's sockets, after two untimed warm-up rounds, and records the peak number of
 * posts in flight in the stack process.
 *
 * @example
 * await timeSends(bench, (r) => ({ userId: 'fan', message: fanOutMessage(r) }), 1000, 15);
 */
export async function timeSends(
  bench: LocalBench,
  payload: (round: number) => unknown,
  frames: number,
  rounds: number,
): Promise<FanOutRun> {
  const samples: number[] = [];
  const cpu: number[] = [];
  const dynamodbMs: number[] = [];
  const postsMs: number[] = [];
  let peakSent = 0;
  let peakReceived = 0;
  let result: unknown;
  for (let round = -2; round < rounds; round++) {
    await bench.stack.reset();
    const cpuBefore = await bench.stack.cpu();
    const arrived = bench.fleet.expect(frames);
    const started = performance.now();
    result = await bench.invokeSend(payload(round));
    const last = await arrived;
    if (round < 0) continue;
    samples.push(last - started);
    cpu.push(((await bench.stack.cpu()) - cpuBefore) / 1000);
    const stats = await bench.stack.stats();
    dynamodbMs.push(stats.dynamodbMs);
    postsMs.push(stats.postsMs);
    peakSent = Math.max(peakSent, stats.sent.peak);
    peakReceived = Math.max(peakReceived, stats.posts.peak);
  }
  return {
    ms: summarize(samples),
    peakSent,
    peakReceived,
    result,
    stackCpuMs: summarize(cpu),
    phases: { dynamodbMs: summarize(dynamodbMs), postsMs: summarize(postsMs) },
  };
}

/**
 * The naive baseline: one SDK client (the SDK's defaults) in this process posting to each
 * connection in turn, awaiting each post before the next, through the local `@connections`.
 *
 * @example
 * await timeSequentialLoop(bench, client, connectionIds, 3);
 */
export async function timeSequentialLoop(
  bench: LocalBench,
  client: ApiGatewayManagementApiClient,
  connectionIds: readonly string[],
  rounds: number,
): Promise<FanOutRun> {
  return timePosts(bench, connectionIds, rounds, async (data) => {
    for (const id of connectionIds) {
      await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: data }));
    }
  });
}

/**
 * The straightforward concurrent design: `Promise.all` over one shared SDK client (its default
 * pool of 50 sockets) in this process, through the local `@connections`.
 *
 * @example
 * await timeSharedClient(bench, client, connectionIds, 5);
 */
export async function timeSharedClient(
  bench: LocalBench,
  client: ApiGatewayManagementApiClient,
  connectionIds: readonly string[],
  rounds: number,
): Promise<FanOutRun> {
  return timePosts(bench, connectionIds, rounds, async (data) => {
    await Promise.all(
      connectionIds.map((id) =>
        client.send(new PostToConnectionCommand({ ConnectionId: id, Data: data })),
      ),
    );
  });
}

async function timePosts(
  bench: LocalBench,
  connectionIds: readonly string[],
  rounds: number,
  post: (data: Uint8Array) => Promise<void>,
): Promise<FanOutRun> {
  const samples: number[] = [];
  const cpu: number[] = [];
  let peakReceived = 0;
  for (let round = -1; round < rounds; round++) {
    await bench.stack.reset();
    const cpuBefore = await bench.stack.cpu();
    const data = new TextEncoder().encode(JSON.stringify(fanOutMessage(round)));
    const arrived = bench.fleet.expect(connectionIds.length, 120_000);
    const started = performance.now();
    await post(data);
    const last = await arrived;
    if (round < 0) continue;
    samples.push(last - started);
    cpu.push(((await bench.stack.cpu()) - cpuBefore) / 1000);
    peakReceived = Math.max(peakReceived, (await bench.stack.stats()).posts.peak);
  }
  return { ms: summarize(samples), peakReceived, stackCpuMs: summarize(cpu) };
}

/** The raw `ws` baseline: broadcast times, and what opening its connections cost. */
export interface RawBaseline extends FanOutRun {
  /** Opening the raw connections (no authorizer, no `$connect`), 50 handshakes in flight. */
  open: OpenResult;
  /** The stack process's RSS growth per raw connection, in bytes (after garbage collection). */
  rssPerConnection: number;
  /** Its heap and external memory growth per raw connection, in bytes. */
  heapPerConnection: number;
}

/**
 * The physical baseline: the stack process writes the same frame straight to `connections`
 * sockets of a plain `ws` server (no Lambda, no HTTP, no SDK), triggered over IPC. Opens the
 * raw connections first (measuring their rate and memory) and closes them after.
 *
 * @example
 * await timeRawBroadcast(bench, 1000, 15);
 */
export async function timeRawBroadcast(
  bench: LocalBench,
  connections: number,
  rounds: number,
): Promise<RawBaseline> {
  const { rawUrl } = bench.stack.info;
  const before = await bench.stack.memory();
  const open = await bench.fleet.open(
    Array.from({ length: connections }, () => rawUrl),
    { inFlight: 50 },
  );
  const after = await bench.stack.memory();
  try {
    const samples: number[] = [];
    const cpu: number[] = [];
    for (let round = -2; round < rounds; round++) {
      const cpuBefore = await bench.stack.cpu();
      const arrived = bench.fleet.expect(connections);
      const started = performance.now();
      await bench.stack.rawBroadcast(JSON.stringify(fanOutMessage(round)));
      const last = await arrived;
      if (round < 0) continue;
      samples.push(last - started);
      cpu.push(((await bench.stack.cpu()) - cpuBefore) / 1000);
    }
    return {
      ms: summarize(samples),
      stackCpuMs: summarize(cpu),
      open,
      rssPerConnection: (after.rss - before.rss) / connections,
      heapPerConnection:
        (after.heapUsed + after.external - before.heapUsed - before.external) / connections,
    };
  } finally {
    await bench.fleet.close(connections);
  }
}
