import { randomBytes } from 'node:crypto';
import { BatchWriteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { WebSocket } from 'ws';
import { PROTOCOL_V2 } from '../lambdas/shared/limits';
import { signLocalToken } from '../local/tokens';
import type { LocalBench } from './local-context';
import type { RequestCount } from './requests';
import { type Summary, summarize } from './stats';

/** What the resume section measured. */
export interface ReplayResult {
  messages: number;
  /** From sending `resume` to the `resumed` frame, every message frame before it. */
  ms: Summary;
  /** DynamoDB requests of one resume serving one page. */
  requests: RequestCount;
}

/**
 * Replays `count` missed messages to a protocol v2 connection, `rounds` times after one untimed
 * round: the log is written directly into the table first (what `send` would have logged),
 * then a `ws` client resumes from 0 and waits for every message frame and the `resumed` frame.
 * Then counts the DynamoDB requests of one resume, on a new connection (a client's first
 * resume after it reconnects).
 *
 * @example
 * const replay = await timeReplay(bench, 1000, 10);
 */
export async function timeReplay(
  bench: LocalBench,
  count: number,
  rounds: number,
): Promise<ReplayResult> {
  const userId = 'bench-replay';
  await seedLog(bench, userId, count);
  const socket = await openV2(bench, userId);
  try {
    const samples: number[] = [];
    for (let round = -1; round < rounds; round++) {
      // A fresh resume bucket each round would need a new connection; spacing the rounds keeps
      // this one's (a token every 500 ms) from refusing them.
      if (round >= 0) await new Promise((resolve) => setTimeout(resolve, 100));
      const ms = await resumeOnce(socket, count);
      if (round >= 0) samples.push(ms);
    }
    // Counted on a connection of its own, as a client resumes right after it reconnects: the
    // timed rounds above keep this one's resume bucket in use, which takes a second write.
    const fresh = await openV2(bench, userId);
    let stats: Awaited<ReturnType<typeof bench.stack.stats>>;
    try {
      await bench.stack.reset();
      await resumeOnce(fresh, count);
      stats = await bench.stack.stats();
    } finally {
      fresh.close();
    }
    const total = Object.values(stats.sdkRequests).reduce((sum, n) => sum + n, 0);
    return {
      messages: count,
      ms: summarize(samples),
      requests: {
        operations: 1,
        sdk: stats.sdkRequests,
        wire: stats.wireRequests,
        perOperation: total,
      },
    };
  } finally {
    socket.close();
  }
}

/** Writes seqs 1..count and the head, as `send` would have logged them (not counted). */
async function seedLog(bench: LocalBench, userId: string, count: number): Promise<void> {
  const table = bench.stack.info.messageTableName;
  const epoch = randomBytes(12).toString('base64url');
  const expiresAt = String(Math.floor(Date.now() / 1000) + 3600);
  for (let first = 1; first <= count; first += 25) {
    const seqs = Array.from({ length: Math.min(25, count - first + 1) }, (_, i) => first + i);
    await bench.dynamo.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [table]: seqs.map((seq) => ({
            PutRequest: {
              Item: {
                userId: { S: userId },
                seq: { N: String(seq) },
                epoch: { S: epoch },
                message: { S: JSON.stringify({ type: 'seat_taken', tripId: 'trip-2041', seq }) },
                expiresAt: { N: expiresAt },
              },
            },
          })),
        },
      }),
    );
  }
  await bench.dynamo.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        userId: { S: userId },
        seq: { N: '0' },
        last: { N: String(count) },
        epoch: { S: epoch },
        expiresAt: { N: expiresAt },
      },
    }),
  );
}

function openV2(bench: LocalBench, userId: string): Promise<WebSocket> {
  return signLocalToken(userId, { secret: bench.stack.info.jwtSecret }).then(
    (token) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(
          `${bench.stack.info.url}?token=${token}`,
          [PROTOCOL_V2.subprotocol],
          {
            perMessageDeflate: false,
          },
        );
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      }),
  );
}

/** One resume from 0: ms until the `resumed` frame, checking every message came before it. */
function resumeOnce(ws: WebSocket, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let messages = 0;
    const timer = setTimeout(() => {
      ws.off('message', onFrame);
      reject(new Error(`replay of ${count} not done within 60 s (${messages} frames)`));
    }, 60_000);
    const onFrame = (data: Buffer) => {
      const frame = JSON.parse(String(data)) as { type: string; code?: string };
      if (frame.type === 'message') messages++;
      else if (frame.type === 'resumed' || frame.type === 'error') {
        clearTimeout(timer);
        ws.off('message', onFrame);
        if (frame.type === 'error') reject(new Error(`resume refused: ${frame.code}`));
        else if (messages !== count) reject(new Error(`replayed ${messages} of ${count}`));
        else resolve(performance.now() - started);
      }
    };
    ws.on('message', onFrame);
    const started = performance.now();
    ws.send(JSON.stringify({ action: 'resume', after: 0 }));
  });
}
