import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { shardBody, signShard } from '../../lambdas/core/shards';
import type * as SendModule from '../../lambdas/send';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { type CapturedOutput, captureOutput } from '../support/stdout';

// The send handler module as Lambda loads it, with sharding configured, against dynalite and a
// real HTTP server speaking `@connections`. Its shards reach a real HTTP server speaking
// Lambda's Invoke API through the module's own Lambda client; that server runs them on the same
// module, as Lambda runs a function that invokes itself.

const SHARD_SIZE = 2;
const SIGNING_KEY = 'integration-shard-signing-key-0123456789';

let db: TestDynamoDb;
let api: FakeManagementApi;
let lambda: Server;
let store: DynamoDbConnectionStore;
let send: typeof SendModule;
let output: CapturedOutput;
/** Every Invoke the Lambda server received: its path, invocation type and payload. */
const invokes: Array<{ path: string; type: string | undefined; payload: unknown }> = [];
/** How the Lambda server answers: run the shard, or answer with this result instead. */
let answer: 'run' | { result: unknown } = 'run';
/** How long the Lambda server waits before it runs a shard. */
let delayMs = 0;
/** The module that runs the shards the Lambda server receives. */
let shardRunner: typeof SendModule;

beforeAll(async () => {
  db = await startDynamoDb();
  api = await startFakeManagementApi();
  lambda = createServer((req, res) => {
    void (async () => {
      const payload = JSON.parse(await bodyOf(req));
      invokes.push({
        path: req.url ?? '',
        type: req.headers['x-amz-invocation-type'] as string | undefined,
        payload,
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const result = answer === 'run' ? await shardRunner.handler(payload) : answer.result;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    })().catch((error: Error) => {
      res
        .writeHead(200, { 'x-amz-function-error': 'Unhandled' })
        .end(JSON.stringify({ errorType: error.name, errorMessage: error.message }));
    });
  });
  await new Promise<void>((resolve) => lambda.listen(0, '127.0.0.1', resolve));
  store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(db.client), db.tableName);
  Object.assign(process.env, {
    TABLE_NAME: db.tableName,
    MESSAGE_TABLE_NAME: db.messageTableName,
    DYNAMODB_ENDPOINT: db.endpoint,
    CONNECTIONS_ENDPOINT: api.endpoint,
    AWS_LAMBDA_FUNCTION_NAME: 'send',
    LAMBDA_ENDPOINT: `http://127.0.0.1:${(lambda.address() as AddressInfo).port}`,
    SHARD_SIGNING_KEY: SIGNING_KEY,
    SEND_SHARD_SIZE: String(SHARD_SIZE),
    POST_TIMEOUT_MS: '500',
  });
  send = await import('../../lambdas/send');
  shardRunner = send;
});
afterAll(async () => {
  await new Promise((resolve) => lambda?.close(resolve));
  await api?.stop();
  await db?.stop();
});
beforeEach(() => {
  output = captureOutput({ quiet: true });
  api.reset();
  invokes.length = 0;
  answer = 'run';
  delayMs = 0;
});
afterEach(() => output.stop());

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function connect(userId: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${userId}Conn${i}=`);
  for (const connectionId of ids) {
    await store.putConnection({
      userId,
      connectionId,
      connectedAt: Date.now(),
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
  }
  return ids;
}

const postsTo = (ids: string[]) =>
  ids.map((id) => api.posts.filter((p) => p.connectionId === id).map((p) => p.body));

describe('a producer’s send above SEND_SHARD_SIZE', () => {
  it('invokes the function itself, RequestResponse, for shards of at most the shard size', async () => {
    // Prepare
    const ids = await connect('five', 5);

    // Act: 5 connections, shards of at most 2: 2 + 2 + 1; this invocation posts the first, and
    // the next whichever of it and its one invocation in flight is free first.
    const result = await send.handler({ userId: 'five', message: { n: 1 } });

    // Assess
    expect(result).toEqual({ delivered: 5, stale: 0, failed: 0, seq: 1 });
    expect(postsTo(ids)).toEqual(ids.map(() => ['{"n":1}']));
    expect(invokes.length).toBeGreaterThanOrEqual(1);
    expect(invokes.length).toBeLessThanOrEqual(2);
    for (const { path, type, payload } of invokes) {
      expect({ path, type }).toEqual({
        path: '/2015-03-31/functions/send/invocations',
        type: 'RequestResponse',
      });
      const { users } = JSON.parse((payload as { shard: string }).shard);
      const named = users.flatMap((u: unknown[]) => [...(u[3] as string[]), ...(u[4] as string[])]);
      expect(named.length).toBeGreaterThan(0);
      expect(named.length).toBeLessThanOrEqual(SHARD_SIZE);
    }
  });

  it('posts shards itself while its invocations are busy, taking the next one free', async () => {
    // Prepare: one shard invocation in flight at most, and each answered 300 ms late; a second
    // copy of the module, configured so (the first is the one the Lambda server runs).
    const ids = await connect('eight', 8);
    process.env.SEND_SHARDS_IN_FLIGHT = '1';
    const copy = new URL('../../lambdas/send.ts', import.meta.url);
    copy.searchParams.set('inFlight', '1');
    const oneInFlight = (await import(copy.href)) as typeof SendModule;
    delete process.env.SEND_SHARDS_IN_FLIGHT;
    delayMs = 300;

    // Act: 4 shards of 2.
    const result = await oneInFlight.handler({ userId: 'eight', message: { n: 4 } });

    // Assess: the invocation took one; this one posted the other three meanwhile.
    expect(result).toEqual({ delivered: 8, stale: 0, failed: 0, seq: 1 });
    expect(invokes).toHaveLength(1);
    expect(postsTo(ids)).toEqual(ids.map(() => ['{"n":4}']));
  });

  it('counts a shard failed when its result does not account for its connections', async () => {
    // Prepare
    const ids = await connect('bogus', 3);
    answer = {
      result: { delivered: 99, stale: 0, failed: 0, users: { bogus: { delivered: 99 } } },
    };

    // Act
    const result = await send.handler({ userId: 'bogus', message: { n: 2 } });

    // Assess: the shard of 1 counts failed; what this invocation posted counts delivered.
    expect(result).toEqual({ delivered: 2, stale: 0, failed: 1, seq: 1 });
    expect(postsTo(ids).flat()).toHaveLength(2);
    const errors = output
      .lines()
      .filter((l) => l.message === 'shard failed; its connections count as failed');
    expect(errors).toEqual([
      expect.objectContaining({
        connections: 1,
        error: expect.stringMatching(/do not add up to its 1 connection/),
      }),
    ]);
  });

  it('reports the posts its shards had no time to attempt with its own', async () => {
    // Prepare: the invoked shard (1 connection of 3) says its post was not attempted.
    await connect('late', 3);
    answer = {
      result: {
        delivered: 0,
        stale: 0,
        failed: 1,
        notAttempted: 1,
        users: { late: { delivered: 0, stale: 0, failed: 1 } },
      },
    };

    // Act
    const result = await send.handler({ userId: 'late', message: { n: 5 } });

    // Assess: counted failed in the result, and not attempted in the send's log and metrics.
    expect(result).toEqual({ delivered: 2, stale: 0, failed: 1, seq: 1 });
    expect(
      output
        .lines()
        .find((l) => l.message === 'send ran out of time; some posts were not attempted'),
    ).toMatchObject({ shards: 2, failed: 1, notAttempted: 1 });
    expect(output.lines().find((l) => '_aws' in l)).toMatchObject({ MessagesNotAttempted: 1 });
  });

  it('counts a shard failed when it says more posts were not attempted than failed', async () => {
    // Prepare
    await connect('overclaim', 3);
    answer = {
      result: {
        delivered: 1,
        stale: 0,
        failed: 0,
        notAttempted: 1,
        users: { overclaim: { delivered: 1, stale: 0, failed: 0 } },
      },
    };

    // Act
    const result = await send.handler({ userId: 'overclaim', message: { n: 6 } });

    // Assess
    expect(result).toEqual({ delivered: 2, stale: 0, failed: 1, seq: 1 });
    expect(
      output.lines().find((l) => l.message === 'shard failed; its connections count as failed'),
    ).toMatchObject({
      error: expect.stringMatching(/notAttempted 1, not a count of its 0 failed/),
    });
  });
});

describe('a shard', () => {
  it('posts what it was given and invokes nothing, however many connections it names', async () => {
    // Prepare: a shard signed with the function's key naming 5 connections (above the size).
    const ids = await connect('shardfive', 5);
    const entries = ids.map((connectionId) => ({
      userId: 'shardfive',
      connectionId,
      protocol: 'v1' as const,
    }));
    const payload = signShard(shardBody(entries, '{"n":3}', new Map(), undefined), SIGNING_KEY);

    // Act
    const result = await send.handler(JSON.parse(JSON.stringify(payload)));

    // Assess
    expect(result).toEqual({
      delivered: 5,
      stale: 0,
      failed: 0,
      notAttempted: 0,
      users: { shardfive: { delivered: 5, stale: 0, failed: 0 } },
    });
    expect(postsTo(ids)).toEqual(ids.map(() => ['{"n":3}']));
    expect(invokes).toEqual([]);
  });
});
