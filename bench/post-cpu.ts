import { type ChildProcess, spawn } from 'node:child_process';
import pLimit from 'p-limit';
import { readSendConfig } from '../lambdas/config/send';
import type { ConnectionGateway } from '../lambdas/core/ports';
import { createConnectionGateway } from '../lambdas/runtime/gateway';
import { HEADERS_TIMEOUT_MS, IDLE_CONNECTION_MS } from '../local/http';
import { type Summary, shuffled, summarize } from './stats';

/** The send function's CPU per `PostToConnection`, through the client and replayed. */
export interface PostCpuResult {
  /** Every post through the SDK client's middleware (how send posted before replaying). */
  client: Summary;
  /** A send's posts replaying the client's first request (`ManagementApiGateway.forSend`). */
  replayed: Summary;
  postsPerRound: number;
}

/**
 * A plain HTTP server that answers every post 200 at once, in a process of its own so that
 * only the sender's work counts in this process's CPU time. Its idle connections stay open as
 * the local stack's do (`keepIdleConnections`, which this script cannot import).
 */
const SINK = `
const { createServer } = require('node:http');
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-length': '0' }).end());
});
server.keepAliveTimeout = ${IDLE_CONNECTION_MS};
server.headersTimeout = ${HEADERS_TIMEOUT_MS};
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
process.on('disconnect', () => process.exit(0));
`;

/**
 * CPU time (user + system) of this process per post, posting `posts` messages of a typical
 * size to the sink, 50 in flight (the default `SEND_CONCURRENCY`), with the send function's
 * own gateway (`createConnectionGateway`): through the client for every post, and replayed.
 * The two designs alternate in shuffled order, `rounds` times each, after a warm-up.
 *
 * @example
 * const cpu = await measurePostCpu(3000, 7);
 * cpu.replayed.median; // µs per post
 */
export async function measurePostCpu(posts: number, rounds: number): Promise<PostCpuResult> {
  // The gateway signs with whatever credentials the chain finds: any do for the sink.
  process.env.AWS_REGION ??= 'us-east-1';
  if (!process.env.AWS_ACCESS_KEY_ID) {
    process.env.AWS_ACCESS_KEY_ID = 'bench';
    process.env.AWS_SECRET_ACCESS_KEY = 'bench';
  }
  const sink: ChildProcess = spawn(process.execPath, ['-e', SINK], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      sink.once('message', (message) => resolve(message as number));
      sink.once('exit', (code) => reject(new Error(`the post sink exited (${code})`)));
    });
    const config = readSendConfig({ CONNECTIONS_ENDPOINT: `http://127.0.0.1:${port}/bench` });
    const gateway = createConnectionGateway(config);
    const designs: Record<'client' | 'replayed', () => ConnectionGateway> = {
      client: () => gateway,
      replayed: () => gateway.forSend(),
    };
    const data = new TextEncoder().encode(
      JSON.stringify({ type: 'seat_taken', tripId: 'trip-2041', seat: 3, body: 'x'.repeat(128) }),
    );
    const limit = pLimit(config.fanOut.concurrency);
    const post = (target: ConnectionGateway, count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          limit(() =>
            target.postToConnection(`BFaT_fALIAM${String(i).padStart(4, '0')}=`, data, signal()),
          ),
        ),
      );
    for (const design of Object.values(designs)) await post(design(), Math.min(posts, 1000));
    const samples: Record<keyof typeof designs, number[]> = { client: [], replayed: [] };
    for (let round = 0; round < rounds; round++) {
      for (const name of shuffled(Object.keys(designs) as Array<keyof typeof designs>)) {
        const target = designs[name]();
        const before = process.cpuUsage();
        await post(target, posts);
        const used = process.cpuUsage(before);
        samples[name].push((used.user + used.system) / posts);
      }
    }
    return {
      client: summarize(samples.client),
      replayed: summarize(samples.replayed),
      postsPerRound: posts,
    };
  } finally {
    sink.kill();
  }
}

const signal = () => AbortSignal.timeout(5000);
