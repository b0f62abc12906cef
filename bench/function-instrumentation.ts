/**
 * Loaded in every function worker of the benchmark's stack (`functionPreload`), before the
 * handler module: counts the handlers' DynamoDB requests with SDK middleware and the send
 * function's Management API posts in flight, into the counters the stack process shares with
 * its workers (`functionPreloadData`, see `bench/stack-process.ts`).
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { workerData } from 'node:worker_threads';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ContainerData } from '../local/worker-protocol';
import { InstrumentationCounters } from './instrumentation-counters';

const { preloadData } = workerData as ContainerData;
if (!(preloadData instanceof SharedArrayBuffer)) {
  throw new Error('bench/function-instrumentation.ts needs the counters as functionPreloadData');
}
const counters = new InstrumentationCounters(preloadData);

// Every store the handlers build goes through DynamoDBDocumentClient.from: count there, with
// middleware on the real client.
const from = DynamoDBDocumentClient.from.bind(DynamoDBDocumentClient);
DynamoDBDocumentClient.from = (client, translateConfig) => {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counters.countRequest((context.commandName ?? 'unknown').replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return from(client, translateConfig);
};

// Posts as the send function's HTTP client writes them, in flight in this worker.
let inFlight = 0;
const sentRequests = new WeakSet<ClientRequest>();
const done = (request: ClientRequest) => {
  if (sentRequests.delete(request)) inFlight--;
};
subscribe('http.client.request.start', (message) => {
  const { request } = message as { request: ClientRequest };
  if (request.method !== 'POST' || !request.path.includes('connections/')) return;
  sentRequests.add(request);
  inFlight++;
  counters.raiseSentPeak(inFlight);
  // A request that fails gets no response: count it out when its socket is done with it.
  request.once('close', () => done(request));
});
subscribe('http.client.response.finish', (message) => {
  done((message as { request: ClientRequest }).request);
});
