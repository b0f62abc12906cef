/**
 * The local stack in a process of its own, for the load and soak test: the clients run in the
 * test process, so the stack's memory and CPU are its own and measurable. Started by
 * `spawnStackProcess` (stack-process-client.ts) with `fork`: it reports over the IPC channel,
 * while stdout and stderr (the stack's readable lines and the handlers' JSON logs) go to a
 * file for the test to scan.
 *
 * Messages from the parent: `{ type: 'stats', gc?: true }` and `{ type: 'stop' }`. Messages to it:
 * `ready` (endpoints), `stats` (memory and open connections) and `stopped` (final stats).
 */
import { startLocalStack } from '../../../local/stack';

export interface StackProcessReady {
  type: 'ready';
  url: string;
  endpoint: string;
  dynamoDbEndpoint: string;
  tableName: string;
  region: string;
  pid: number;
}

export interface StackProcessStats {
  type: 'stats' | 'stopped';
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** The process's peak resident set size so far (getrusage's ru_maxrss), bytes. */
  peakRssBytes: number;
  heapUsedBytes: number;
  openConnections: number;
}

const send = (message: StackProcessReady | StackProcessStats, then?: () => void) =>
  process.send?.(message, undefined, undefined, () => then?.());

async function main(): Promise<void> {
  const stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    jwtSecret: process.env.JWT_SECRET,
    handlerLogLevel: process.env.POWERTOOLS_LOG_LEVEL ?? 'DEBUG',
    ...(process.env.IDLE_TIMEOUT_MS && { idleTimeoutMs: Number(process.env.IDLE_TIMEOUT_MS) }),
  });
  const stats = (type: StackProcessStats['type']): StackProcessStats => {
    const memory = process.memoryUsage();
    return {
      type,
      rssBytes: memory.rss,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      heapUsedBytes: memory.heapUsed,
      openConnections: stack.connectionCount(),
    };
  };
  process.on('message', (message: { type?: string; gc?: boolean }) => {
    if (message.type === 'stats') {
      // Started with --expose-gc: the heap that is still referenced, garbage left out.
      if (message.gc) (globalThis as { gc?: () => void }).gc?.();
      send(stats('stats'));
    }
    if (message.type === 'stop') {
      void stack.stop().then(() => send(stats('stopped'), () => process.exit(0)));
    }
  });
  // The parent went away without stopping us: do not linger.
  process.on('disconnect', () => process.exit(0));
  send({
    type: 'ready',
    url: stack.url,
    endpoint: stack.endpoint,
    dynamoDbEndpoint: stack.dynamoDbEndpoint,
    tableName: stack.tableName,
    region: stack.region,
    pid: process.pid,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`stack process failed: ${error instanceof Error ? error.stack : error}\n`);
  process.exit(1);
});
