/**
 * The local stack in a process of its own, for the benchmark and the reliability load test:
 * the clients and the producer run in the parent, so the two processes share the machine's
 * cores the way a client fleet and the backend would not share one event loop, and the
 * stack's memory and CPU are its own. Controlled over the IPC channel (see
 * `bench/stack-control.ts`); never started by hand. Exits when its parent goes away.
 *
 * Besides the stack it measures what only this process can see:
 * - Management API posts in flight (`http.server.request.start` / `response.finish`
 *   diagnostics channels on the gateway's HTTP server), their peak and count;
 * - DynamoDB requests of the handlers' own clients, by operation, with SDK middleware (the
 *   counter is attached to every `DynamoDBDocumentClient` the handlers build, in their
 *   workers), and on the wire (requests dynalite received, by `X-Amz-Target`);
 * - invocations by function, and the process's memory;
 * - a raw `ws` server, the physical baseline: the same frames written straight to sockets.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Session } from 'node:inspector/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { integerSetting } from '../lambdas/config/env';
import { readSendConfig } from '../lambdas/config/send';
import { FUNCTION_NAMES, type FunctionName } from '../lambdas/manifest';
import { SETTINGS } from '../lambdas/shared/limits';
import { startLocalStack } from '../local/stack';
import { InstrumentationCounters } from './instrumentation-counters';
import type { StackProcessOptions, StackRequest, StackResponse } from './stack-protocol';

const options: StackProcessOptions = JSON.parse(process.argv[2] ?? '{}');

const profiler = new Session();
profiler.connect();

/** DynamoDB requests as dynalite received them, by operation. */
const wireRequests: Record<string, number> = {};
const invocations: Record<string, number> = {};
const posts = { inFlight: 0, peak: 0, total: 0 };
// The handlers run in function workers: they count their own DynamoDB requests and the posts
// their HTTP client has written and not yet seen answered (bench/function-instrumentation.ts)
// into these counters, shared with every worker.
const counters = new InstrumentationCounters();

/** When the first request of a kind arrived and the last one was answered, since the reset. */
const windows = {
  dynamodb: { first: Number.NaN, last: Number.NaN },
  posts: { first: Number.NaN, last: Number.NaN },
};
const opened = (window: { first: number }) => {
  if (Number.isNaN(window.first)) window.first = performance.now();
};

const dynamoRequests = new WeakSet<IncomingMessage>();
const managementRequests = new WeakSet<IncomingMessage>();
subscribe('http.server.request.start', (message) => {
  const { request } = message as { request: IncomingMessage };
  const target = request.headers['x-amz-target'];
  if (typeof target === 'string' && target.startsWith('DynamoDB_')) {
    const operation = target.slice(target.indexOf('.') + 1);
    wireRequests[operation] = (wireRequests[operation] ?? 0) + 1;
    dynamoRequests.add(request);
    opened(windows.dynamodb);
  } else if (request.method === 'POST' && request.url?.includes('connections/')) {
    managementRequests.add(request);
    opened(windows.posts);
    posts.total++;
    posts.inFlight++;
    if (posts.inFlight > posts.peak) posts.peak = posts.inFlight;
  }
});
subscribe('http.server.response.finish', (message) => {
  const { request } = message as { request: IncomingMessage };
  if (dynamoRequests.delete(request)) windows.dynamodb.last = performance.now();
  if (managementRequests.delete(request)) {
    posts.inFlight--;
    windows.posts.last = performance.now();
  }
});
const stack = await startLocalStack({
  // The figures are of warm functions; cold starts are the bundles section's.
  warmFunctions: true,
  port: 0,
  dynamoDbPort: 0,
  ...(options.maxConnectionsPerUser !== undefined && {
    maxConnectionsPerUser: options.maxConnectionsPerUser,
  }),
  ...(options.sendShardSize !== undefined && { sendShardSize: options.sendShardSize }),
  log: options.log === true ? undefined : false,
  handlerLogLevel: options.handlerLogLevel ?? 'SILENT',
  ...(options.jwtSecret !== undefined && { jwtSecret: options.jwtSecret }),
  ...(options.idleTimeoutMs !== undefined && { idleTimeoutMs: options.idleTimeoutMs }),
  functionPreload: [new URL('./function-instrumentation.ts', import.meta.url).href],
  functionPreloadData: counters.buffer,
  // As `npm start` reads it, so a run can compare settings.
  ...(process.env.FUNCTION_CONCURRENCY && {
    functionConcurrency: Number(process.env.FUNCTION_CONCURRENCY),
  }),
  onInvoke: (record) => {
    invocations[record.functionName] = (invocations[record.functionName] ?? 0) + 1;
  },
});

const raw = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise<void>((resolve) => raw.once('listening', () => resolve()));
const rawAddress = raw.address();
const rawPort = typeof rawAddress === 'object' && rawAddress !== null ? rawAddress.port : 0;

function memory(gc = true) {
  // Started with --expose-gc: with gc, the heap that is still referenced, garbage left out.
  if (gc) globalThis.gc?.();
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    external: usage.external,
    peakRss: process.resourceUsage().maxRSS * 1024,
  };
}

function handle(request: StackRequest): unknown {
  switch (request.command) {
    case 'reset':
      for (const bag of [wireRequests, invocations]) {
        for (const key of Object.keys(bag)) delete bag[key];
      }
      posts.peak = posts.inFlight;
      posts.total = 0;
      counters.reset();
      for (const window of Object.values(windows)) {
        window.first = Number.NaN;
        window.last = Number.NaN;
      }
      return null;
    case 'stats':
      return {
        sdkRequests: counters.requests(),
        wireRequests: { ...wireRequests },
        invocations: { ...invocations },
        posts: { ...posts },
        sent: { peak: counters.sentPeak() },
        dynamodbMs: windows.dynamodb.last - windows.dynamodb.first,
        postsMs: windows.posts.last - windows.posts.first,
        connections: stack.connectionCount(),
        rawConnections: raw.clients.size,
      };
    case 'memory':
      return memory(request.gc);
    case 'rawBroadcast': {
      const data = Buffer.from(request.message);
      for (const client of raw.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
      }
      return raw.clients.size;
    }
    case 'setFunctionEnvironment': {
      if (!FUNCTION_NAMES.includes(request.name as FunctionName)) {
        throw new Error(`no function ${request.name}`);
      }
      stack.updateFunctionEnvironment(request.name as FunctionName, request.variables);
      return null;
    }
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return user + system;
    }
    case 'startProfile':
      return profiler.post('Profiler.enable').then(() => profiler.post('Profiler.start'));
    case 'stopProfile':
      return profiler.post('Profiler.stop').then(({ profile }) => {
        writeFileSync(request.file, JSON.stringify(profile));
        return request.file;
      });
    case 'stop':
      return (async () => {
        for (const client of raw.clients) client.terminate();
        raw.close();
        await stack.stop();
        return memory(false);
      })();
  }
}

process.on('message', (message: { id: number; request: StackRequest }) => {
  const reply = (response: StackResponse) =>
    process.send?.(response, undefined, undefined, () => {
      if (message.request.command === 'stop') process.exit(0);
    });
  Promise.resolve()
    .then(() => handle(message.request))
    .then(
      (result) => reply({ id: message.id, ok: true, result }),
      (error: unknown) =>
        reply({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
});

// The parent went away without stopping us: do not linger.
process.on('disconnect', () => process.exit(0));

process.send?.({
  id: 0,
  ok: true,
  result: {
    url: stack.url,
    endpoint: stack.endpoint,
    dynamoDbEndpoint: stack.dynamoDbEndpoint,
    tableName: stack.tableName,
    messageTableName: stack.messageTableName,
    region: stack.region,
    jwtSecret: stack.jwtSecret,
    rawUrl: `ws://127.0.0.1:${rawPort}`,
    sendConcurrency: readSendConfig({ ...process.env, CONNECTIONS_ENDPOINT: stack.endpoint }).fanOut
      .concurrency,
    sendShardSize: options.sendShardSize ?? SETTINGS.sendShardSize.default,
    sendShardsInFlight: integerSetting(process.env, SETTINGS.sendShardsInFlight),
  },
} satisfies StackResponse);
