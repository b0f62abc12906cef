import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { isShardPayload } from '../../lambdas/core/shards';
import { PROTOCOL_V2 } from '../../lambdas/shared/limits';
import { apiGatewayId } from '../../local/ids';
import type { LambdaHandler } from '../../local/lambda-runtime';
import type { TestClient } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { type CapturedOutput, captureOutput } from '../support/stdout';

// A send to more than SEND_SHARD_SIZE connections, through the local stack: the send function
// in its workers invokes itself through the local Lambda Invoke API with its real Lambda client,
// one shard at a time in workers of its own, as on AWS.

const SHARD_SIZE = 4;
/** What the stack's shard invocations do: run the deployed send, or fail in a chosen way. */
let shardBehaviour: 'deployed' | 'throw' | 'hang' = 'deployed';
let t: TestStack;
let output: CapturedOutput;

beforeAll(async () => {
  output = captureOutput({ quiet: true });
  t = await startTestStack({
    sendShardSize: SHARD_SIZE,
    maxConnectionsPerUser: 40,
    // Short, so that a hanging shard is given up on soon (1 s before it); with the 1 s post
    // deadline below, a shard still has 2 s to start posting, cold start included (a worker of
    // its own, loading the SDK) on a machine busy with other test files.
    sendTimeoutMs: 5000,
    handlerLogLevel: 'INFO',
    wrapHandler: (name, deployed): LambdaHandler => {
      if (name !== 'send') return deployed;
      return (event, context) => {
        if (!isShardPayload(event) || shardBehaviour === 'deployed')
          return deployed(event, context);
        if (shardBehaviour === 'throw') throw new Error('the shard crashed');
        return new Promise(() => {});
      };
    },
  });
  // Posts to a few local sockets answer within milliseconds; the default 3 s deadline would need
  // a longer send timeout (no post starts unless its deadline fits before the send's own).
  t.stack.updateFunctionEnvironment('send', { POST_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await t?.stop();
  output?.stop();
});
/** Environment variables of `send` a test changed, to be set back after it. */
let changed: Record<string, string> = {};
beforeEach(() => {
  shardBehaviour = 'deployed';
  if (Object.keys(changed).length > 0) t.stack.updateFunctionEnvironment('send', changed);
  changed = {};
});
/** Sets variables of the send function for one test (its workers start again with them). */
function configureSend(variables: Record<string, string>) {
  const defaults: Record<string, string> = {
    LAMBDA_ENDPOINT: t.stack.endpoint,
    SEND_SHARD_SIZE: String(SHARD_SIZE),
  };
  for (const name of Object.keys(variables)) changed[name] = defaults[name] as string;
  t.stack.updateFunctionEnvironment('send', variables);
}

/** The send function's log lines with this message, since `from` (an `output.mark()`). */
const logged = (message: string, from: number) =>
  output.lines(from).filter((line) => line.message === message);

/** A message only this test sends. */
const note = (label: string) => ({ type: 'note', label, nonce: apiGatewayId() });

/** The send invocations of one producer's send that were shards, since `from`. */
const shardInvocations = (from: number) =>
  t.invocations
    .of('send')
    .slice(from)
    .filter((record) => isShardPayload(record.event));

async function connectMany(userId: string, count: number, v2 = 0): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < count; i++) {
    clients.push(
      await t.connect(userId, i < v2 ? { protocols: [PROTOCOL_V2.subprotocol] } : undefined),
    );
  }
  return clients;
}

/** Each client's next frame, parsed; rejects if one gets none. */
const nextFrames = (clients: TestClient[]) =>
  Promise.all(clients.map(async (c) => JSON.parse(await c.next())));

describe('shard boundaries', () => {
  test('exactly SEND_SHARD_SIZE connections: one invocation posts to all', async () => {
    // Prepare
    const clients = await connectMany('sb-exact', SHARD_SIZE);
    const from = t.invocations.of('send').length;
    const message = note('exact');

    // Act
    const result = await t.invokeSend({ userId: 'sb-exact', message });

    // Assess
    expect(result.body).toEqual({ delivered: SHARD_SIZE, stale: 0, failed: 0, seq: 1 });
    expect(shardInvocations(from)).toHaveLength(0);
    expect(await nextFrames(clients)).toEqual(clients.map(() => message));
  });

  test('one above: two even shards, one of them invoked, every connection reached once', async () => {
    // Prepare
    const clients = await connectMany('sb-above', SHARD_SIZE + 1);
    const from = t.invocations.of('send').length;
    const message = note('one above');

    // Act
    const result = await t.invokeSend({ userId: 'sb-above', message });

    // Assess
    expect(result.body).toEqual({ delivered: SHARD_SIZE + 1, stale: 0, failed: 0, seq: 1 });
    const shards = shardInvocations(from);
    expect(shards).toHaveLength(1);
    expect(shards[0]?.outcome).toMatchObject({ ok: true, result: { delivered: 2 } });
    expect(await nextFrames(clients)).toEqual(clients.map(() => message));
    await expect(Promise.all(clients.map((c) => c.next(300)))).rejects.toThrow(/no message/);
  });
});

/** A v2 frame with its seq and epoch left out, to compare two sends' frames. */
function withoutPosition(frame: Record<string, unknown>) {
  const { seq: _seq, epoch: _epoch, ...rest } = frame;
  return rest;
}

describe('results', () => {
  test('equal the unsharded result for the same audience, the message logged once per user', async () => {
    // Prepare: v1 and v2 tabs, a user without connections, a row whose connection is gone.
    const many = await connectMany('eq-many', 6, 3);
    const few = await connectMany('eq-few', 3, 3);
    const withStale = await connectMany('eq-stale', 2);
    const staleRow = () =>
      t.dynamo.send(
        new PutItemCommand({
          TableName: t.stack.tableName,
          Item: {
            userId: { S: 'eq-stale' },
            connectionId: { S: 'GoneGoneGone000=' },
            connectedAt: { N: String(Date.now()) },
            expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) },
          },
        }),
      );
    const userIds = ['eq-many', 'eq-few', 'eq-nobody', 'eq-stale'];
    const clients = [...many, ...few, ...withStale];
    const [first, second] = [note('sharded'), note('unsharded')];
    await staleRow();
    const from = t.invocations.of('send').length;

    // Act: 12 rows, 3 shards of 4 (this invocation posts one or two of them, its one shard
    // invocation in flight the others); then the same audience in one invocation.
    const sharded = await t.invokeSend({ userIds, message: first });
    const shards = shardInvocations(from).length;
    await staleRow();
    configureSend({ SEND_SHARD_SIZE: '1000' });
    const between = t.invocations.of('send').length;
    const unsharded = await t.invokeSend({ userIds, message: second });

    // Assess
    expect(shards).toBeGreaterThanOrEqual(1);
    expect(shards).toBeLessThanOrEqual(2);
    expect(shardInvocations(between)).toHaveLength(0);
    const counts = (body: unknown) => {
      const { users, ...totals } = body as { users: Record<string, { seq?: number }> };
      const perUser = Object.entries(users).map(([id, { seq: _seq, ...rest }]) => [id, rest]);
      return { ...totals, users: Object.fromEntries(perUser) };
    };
    expect(counts(sharded.body)).toEqual(counts(unsharded.body));
    expect(counts(sharded.body)).toMatchObject({ delivered: 11, stale: 1, failed: 0 });
    // One append per user and send: seq 1, then 2, for every user, with or without connections.
    const seqs = (body: unknown) =>
      Object.values((body as { users: Record<string, { seq: number }> }).users).map((u) => u.seq);
    expect(seqs(sharded.body)).toEqual([1, 1, 1, 1]);
    expect(seqs(unsharded.body)).toEqual([2, 2, 2, 2]);
    for (const client of clients) {
      const [a, b] = [JSON.parse(await client.next()), JSON.parse(await client.next())];
      if (client.ws.protocol === PROTOCOL_V2.subprotocol) {
        expect([a.seq, b.seq]).toEqual([1, 2]);
        expect([withoutPosition(a), withoutPosition(b)]).toEqual([
          { type: 'message', message: first },
          { type: 'message', message: second },
        ]);
      } else {
        expect([a, b]).toEqual([first, second]);
      }
    }
  });
});

describe('a shard that fails counts failed, and is logged', () => {
  // 5 connections, shard size 4: this invocation posts to 3, one shard invocation to 2.
  test.each([
    ['throws', 'throw', /the shard failed \(Unhandled\): Error: the shard crashed/],
    ['hangs past the send’s deadline', 'hang', /the invocation was abandoned/],
  ] as const)('one that %s', async (label, behaviour, error) => {
    // Prepare
    const userId = `fail-${behaviour}`;
    const clients = await connectMany(userId, SHARD_SIZE + 1);
    shardBehaviour = behaviour;
    const mark = output.mark();
    const message = note(label);

    // Act
    const result = await t.invokeSend({ userId, message });

    // Assess
    expect(result.body).toEqual({ delivered: 3, stale: 0, failed: 2, seq: 1 });
    const reached = (await Promise.allSettled(clients.map((c) => c.next(500)))).filter(
      (r) => r.status === 'fulfilled',
    );
    expect(reached.map((r) => JSON.parse(r.value))).toEqual([message, message, message]);
    const [line, ...more] = logged('shard failed; its connections count as failed', mark);
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 'ERROR', shard: 1, of: 2, connections: 2 });
    expect(line?.error).toMatch(error);
  });

  test('one whose invocation cannot reach Lambda', async () => {
    // Prepare: a port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    configureSend({ LAMBDA_ENDPOINT: `http://127.0.0.1:${port}` });
    const clients = await connectMany('fail-unreachable', SHARD_SIZE + 1);
    const mark = output.mark();
    const message = note('unreachable');

    // Act
    const result = await t.invokeSend({ userId: 'fail-unreachable', message });

    // Assess
    expect(result.body).toEqual({ delivered: 3, stale: 0, failed: 2, seq: 1 });
    const [line] = logged('shard failed; its connections count as failed', mark);
    expect(line?.error).toMatch(/Invoke failed: .*ECONNREFUSED/);
    const reached = await Promise.allSettled(clients.map((c) => c.next(500)));
    expect(reached.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
  });
});

describe('a shard that Lambda refuses to start (throttled)', () => {
  let throttling: Server;
  afterAll(() => new Promise((resolve) => throttling?.close(resolve)));

  test('is posted by the send itself: nothing ran, so nothing is repeated', async () => {
    // Prepare: Lambda's answer when the function's concurrency is in use, which the local
    // stack cannot cause (it queues); a fake endpoint answers it, as AWS documents it.
    throttling = createServer((req, res) => {
      req.resume();
      res.writeHead(429, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'TooManyRequestsException',
      });
      res.end(
        JSON.stringify({
          Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
          Type: 'User',
          message: 'Rate Exceeded.',
        }),
      );
    });
    await new Promise<void>((resolve) => throttling.listen(0, '127.0.0.1', resolve));
    configureSend({
      LAMBDA_ENDPOINT: `http://127.0.0.1:${(throttling.address() as AddressInfo).port}`,
    });
    const clients = await connectMany('throttled', SHARD_SIZE + 1);
    const mark = output.mark();
    const message = note('throttled');

    // Act
    const result = await t.invokeSend({ userId: 'throttled', message });

    // Assess
    expect(result.body).toEqual({ delivered: 5, stale: 0, failed: 0, seq: 1 });
    expect(await nextFrames(clients)).toEqual(clients.map(() => message));
    const [line] = logged('shard invocation refused; posting its connections here', mark);
    expect(line).toMatchObject({ level: 'WARN', connections: 2 });
    expect(line?.error).toMatch(/TooManyRequestsException/);
  });
});

describe('shard payloads come from the send function only', () => {
  test.each([
    ['a shard with a made-up signature', (id: string) => forged(id, 'bm90IGEgc2lnbmF0dXJl')],
    [
      'a producer’s payload with a shard field',
      (id: string) => ({ userId: 'forger', message: { type: 'x' }, shard: forged(id).shard }),
    ],
  ])('%s is refused with ValidationError, and nothing is posted', async (_label, payload) => {
    // Prepare
    const victim = await t.connect('forger');
    const { connectionId } = await victim.whoami();
    const from = t.invocations.of('send').length;

    // Act
    const result = await t.invokeSend(payload(connectionId));

    // Assess
    expect(result.functionError).toBe('Unhandled');
    expect(result.body).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: expect.stringMatching(/^shard: /),
    });
    expect(t.invocations.of('send').slice(from)).toHaveLength(1);
    await expect(victim.next(300)).rejects.toThrow(/no message/);
  });
});

/** A shard payload as the send function writes one, to a connection, with another signature. */
function forged(connectionId: string, signature = '') {
  const shard = JSON.stringify({
    format: 1,
    message: JSON.stringify({ type: 'forged' }),
    users: [['forger', 999, 'AbCdEfGhIjKlMnOp', [], [connectionId]]],
  });
  return { shard, signature };
}
