/** Messages between the main thread and a function worker (`local/function-container.ts`). */
import type { WorkerBundle } from './function-bundles';
import type { LambdaErrorPayload } from './invocation';

/** What a worker is started with (`workerData`). */
export interface ContainerData {
  functionName: string;
  region: string;
  accountId: string;
  /** File URL of the handler module (one of `HANDLER_MODULES`): how errors name it. */
  handlerModule: string;
  /**
   * The handler module's bundle (`local/function-bundles.ts`), which the worker loads; it runs
   * the preloads (instrumentation) first.
   */
  handler: WorkerBundle;
  /** The bundle the worker runs (`local/function-container.ts`): its frames are mapped too. */
  container: WorkerBundle;
  /**
   * What the stack's `functionPreloadData` gave the preloads, as a structured clone (a
   * SharedArrayBuffer stays shared): instrumentation reads it from `workerData`.
   */
  preloadData?: unknown;
}

/** Main thread → worker: run the handler once. */
export interface InvokeMessage {
  type: 'invoke';
  requestId: string;
  /** The event as JSON text: the worker parses its own copy. */
  event: string;
  deadlineEpochMs: number;
}

/** Worker → main thread. */
export type ContainerMessage =
  /** The handler module is imported and its clients built. */
  | { type: 'ready' }
  /** Importing the handler module failed; the worker exits. */
  | { type: 'init-failed'; error: LambdaErrorPayload }
  /** A chunk the function wrote to stdout or stderr, in order with its result. */
  | { type: 'output'; stream: 'stdout' | 'stderr'; text: string }
  /** The invocation's result as JSON text, or its error. */
  | { type: 'result'; requestId: string; ok: true; result: string }
  | { type: 'result'; requestId: string; ok: false; error: LambdaErrorPayload }
  /** An uncaught exception or unhandled rejection: it fails the invocation; the worker exits. */
  | { type: 'crashed'; error: LambdaErrorPayload };
