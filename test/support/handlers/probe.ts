import { threadId } from 'node:worker_threads';

/**
 * A handler module for the function-worker tests: what it does is chosen by the event, so one
 * module shows module state, the environment, output, hangs and crashes.
 */

/** Invocations this module instance (this worker) has run. */
let invocations = 0;
const loadedAt = Date.now();

interface ProbeEvent {
  action:
    | 'state'
    | 'sleep'
    | 'hang'
    | 'throw'
    | 'throwLater'
    | 'rejectLater'
    | 'strayTimer'
    | 'exit'
    | 'log';
  ms?: number;
  text?: string;
}

export async function handler(
  event: ProbeEvent,
  context: { getRemainingTimeInMillis(): number; awsRequestId: string },
) {
  invocations++;
  switch (event.action) {
    case 'state':
      return {
        invocations,
        threadId,
        loadedAt,
        mark: process.env.PROBE_MARK ?? null,
        remainingMs: context.getRemainingTimeInMillis(),
        requestId: context.awsRequestId,
      };
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, event.ms ?? 100));
      return { threadId };
    case 'hang':
      return new Promise(() => {});
    case 'throw':
      throw new RangeError('probe failed');
    case 'throwLater':
      setTimeout(() => {
        throw new TypeError('thrown outside the handler');
      }, 5);
      return new Promise(() => {});
    case 'strayTimer':
      // Returns, and leaves a timer that throws once the worker is idle again.
      setTimeout(() => {
        throw new TypeError('thrown after the invocation returned');
      }, 50);
      return { threadId };
    case 'rejectLater':
      void Promise.reject(new Error('nobody awaits this'));
      return new Promise(() => {});
    case 'exit':
      process.exit(3);
      break;
    case 'log':
      console.log(JSON.stringify({ level: 'INFO', message: event.text }));
      return { logged: true };
  }
  return undefined;
}
