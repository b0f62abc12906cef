/**
 * Loaded in every function worker of the benchmark's stack (`functionPreload`), before the
 * handler module: counts the handlers' DynamoDB requests with SDK middleware and the send
 * function's Management API posts in flight, and reports both to the stack process's main
 * thread on a `BroadcastChannel` (see `bench/stack-process.ts`).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { BroadcastChannel } from 'node:worker_threads';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The channel's name, shared with the stack process. */
export const INSTRUMENTATION_CHANNEL = 'tripsync-bench-instrumentation';

/** What a worker reports, and what the stack process asks of workers. */
export type InstrumentationMessage =
  /** One DynamoDB request a handler's client sent, by operation. */
  | { kind: 'sdk'; operation: string }
  /** A new peak of Management API posts in flight in one worker. */
  | { kind: 'sentPeak'; peak: number }
  /** From the stack process: peaks start again from the posts in flight now. */
  | { kind: 'reset' };

const channel = new BroadcastChannel(INSTRUMENTATION_CHANNEL);
channel.unref();
const report = (message: InstrumentationMessage) => channel.postMessage(message);

// Every store the handlers build goes through DynamoDBDocumentClient.from: count there, with
// middleware on the real client.
const from = DynamoDBDocumentClient.from.bind(DynamoDBDocumentClient);
DynamoDBDocumentClient.from = (client, translateConfig) => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      report({
        kind: 'sdk',
        operation: (context.commandName ?? 'unknown').replace(/Command$/, ''),
      });
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return from(client, translateConfig);
};

// Posts as the send function's HTTP client writes them: a message per new peak only, so the
// counting does not load the fan-out it measures.
const sent = { inFlight: 0, peak: 0 };
const sentRequests = new WeakSet<ClientRequest>();
const done = (request: ClientRequest) => {
  if (sentRequests.delete(request)) sent.inFlight--;
};
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  if (request.method !== 'POST' || !request.path.includes('connections/')) return;
  sentRequests.add(request);
  sent.inFlight++;
  if (sent.inFlight > sent.peak) {
    sent.peak = sent.inFlight;
    report({ kind: 'sentPeak', peak: sent.peak });
  }
  // A request that fails gets no response: count it out when its socket is done with it.
  request.once('close', () => done(request));
});
subscribe('http.client.response.finish', (message) => {
  done((message as { request: ClientRequest }).request);
});
channel.onmessage = (event) => {
  if ((event as { data: InstrumentationMessage }).data.kind === 'reset') sent.peak = sent.inFlight;
};
