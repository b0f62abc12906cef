/**
 * Runs inside a function worker, bundled like the handler it loads (`local/function-bundles.ts`):
 * the local stand-in for one Lambda execution environment. It loads the handler's bundle once
 * (its own module state, its own `process.env`, its own SDK clients), then runs one invocation at
 * a time as the main thread sends them. Like the Node.js runtime it reports an uncaught exception or an unhandled
 * rejection as the failure of the invocation in progress and then exits, so the next
 * invocation gets a fresh environment.
 */
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { loadBundle, mapStackTraces } from './bundle-loader';
import { errorPayload, lambdaContext } from './invocation';
import type { LambdaHandler } from './lambda-runtime';
import type { ContainerData, ContainerMessage, InvokeMessage } from './worker-protocol';

const port = parentPort;
if (port === null) throw new Error('function-container.ts runs in a worker thread only');
const data = workerData as ContainerData;
const post = (message: ContainerMessage) => port.postMessage(message);

// What the function writes reaches the stack's own stdout and stderr through the same port as
// its results, so every line it logged is out before the gateway acts on its result.
for (const stream of ['stdout', 'stderr'] as const) {
  process[stream].write = ((chunk: unknown, ...rest: unknown[]) => {
    const text =
      typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    post({ type: 'output', stream, text });
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
}

function crash(error: ReturnType<typeof errorPayload>): void {
  post({ type: 'crashed', error });
  // The Node.js runtime's exit status after reporting such an error.
  process.exit(129);
}
process.on('uncaughtException', (error) => crash(errorPayload(error)));
process.on('unhandledRejection', (reason) =>
  crash({
    errorType: 'Runtime.UnhandledPromiseRejection',
    errorMessage: reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
    trace: reason instanceof Error ? (reason.stack ?? '').split('\n') : [],
  }),
);

/** Loads the handler's bundle (the preloads run first, inside it). */
function load(): LambdaHandler {
  // Stack traces name the .ts files and lines.
  mapStackTraces([data.container, data.handler]);
  const { handler } = loadBundle(data.handler.file);
  if (typeof handler !== 'function') {
    throw new Error(`${fileURLToPath(data.handlerModule)} exports no handler function`);
  }
  return handler as LambdaHandler;
}

async function run(handler: LambdaHandler, message: InvokeMessage): Promise<void> {
  const context = lambdaContext(data, message.requestId, message.deadlineEpochMs);
  try {
    const result = await handler(JSON.parse(message.event), context);
    // Lambda serialises the result as JSON: undefined becomes null.
    const text = result === undefined ? 'null' : JSON.stringify(result);
    post({ type: 'result', requestId: message.requestId, ok: true, result: text });
  } catch (error) {
    post({ type: 'result', requestId: message.requestId, ok: false, error: errorPayload(error) });
  }
}

let handler: LambdaHandler | undefined;
try {
  handler = load();
} catch (error) {
  post({ type: 'init-failed', error: errorPayload(error) });
  process.exit(1);
}
if (handler) {
  const loaded = handler;
  port.on('message', (message: InvokeMessage) => {
    if (message.type === 'invoke') void run(loaded, message);
  });
  post({ type: 'ready' });
}
