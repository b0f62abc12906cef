import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { HandshakeRefused, refusedWith, type TestClient } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { captureOutput } from '../support/stdout';
import { recordFigures } from './report';
import { type RestartableDynamoDb, startRestartableDynamoDb } from './support/restartable-dynamodb';
import { type SlowDynamoDb, startSlowDynamoDb } from './support/slow-dynamodb';

// Faults injected for real, through the local stack's entry points:
// - DynamoDB stopped (its server closed, connections refused) and started again with its data;
// - a misbehaving API Gateway in front of the real @connections: 429, 500, hangs, resets, and
//   410 from connections that are really gone;
// - handlers that run past their Lambda timeout (a DynamoDB that answers a write late).

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const POST_TIMEOUT_MS = 400;
const BACKOFF_BASE_MS = 50;
const SEND_CONCURRENCY = 4;

let output: ReturnType<typeof captureOutput>;
/** Stack A: its table on a DynamoDB that the tests stop and start. */
let a: TestStack;
let db: RestartableDynamoDb;
/** Stack B: `send` posts through the faulty API; short Lambda timeouts. */
let b: TestStack;
let api: FakeManagementApi;
let faultySend: { handler: LambdaHandler } | undefined;
/** Stack B's table, behind a proxy that can answer a write late. */
let bTable: TestDynamoDb;
let slowTable: SlowDynamoDb;

const figures: Record<string, number> = { faultsInjected: 0, faultsSurvived: 0 };
const count = (name: string, by = 1) => {
  figures[name] = (figures[name] ?? 0) + by;
};
/** Runs one fault scenario; it counts as survived when every assertion in it held. */
async function scenario(faults: number, body: () => Promise<void>): Promise<void> {
  count('faultsInjected', faults);
  await body();
  count('faultsSurvived', faults);
}

beforeAll(async () => {
  output = captureOutput({ quiet: true });
  db = await startRestartableDynamoDb();
  a = await startTestStack({ dynamoDbEndpoint: db.endpoint, handlerLogLevel: 'INFO' });
  bTable = await startDynamoDb();
  slowTable = await startSlowDynamoDb(bTable.endpoint);
  b = await startTestStack({
    dynamoDbEndpoint: slowTable.endpoint,
    handlerLogLevel: 'INFO',
    // The fan-out scenarios hold up to 40 connections of one user.
    maxConnectionsPerUser: 40,
    handlerTimeoutMs: 1000,
    sendTimeoutMs: 3000,
    wrapHandler: (name, handler): LambdaHandler => {
      if (name === 'send') {
        return (event, context) =>
          (faultySend as { handler: LambdaHandler }).handler(event, context);
      }
      return handler;
    },
  });
  api = await startFakeManagementApi({ upstream: b.stack.endpoint });
  // A second copy of the deployed send module, configured as the CDK construct would but
  // pointed at the faulty API, with stack B's table; it runs in this thread.
  Object.assign(process.env, {
    TABLE_NAME: b.stack.tableName,
    MESSAGE_TABLE_NAME: b.stack.messageTableName,
    DYNAMODB_ENDPOINT: b.stack.dynamoDbEndpoint,
    CONNECTIONS_ENDPOINT: api.endpoint,
    SEND_CONCURRENCY: String(SEND_CONCURRENCY),
    POST_TIMEOUT_MS: String(POST_TIMEOUT_MS),
    POST_MAX_ATTEMPTS: '3',
    POST_BACKOFF_BASE_MS: String(BACKOFF_BASE_MS),
    POST_BACKOFF_MAX_MS: '1000',
  });
  const module = new URL('../../lambdas/send.ts', import.meta.url);
  module.searchParams.set('faults', '1');
  faultySend = (await import(module.href)) as { handler: LambdaHandler };
}, 60_000);

afterAll(async () => {
  recordFigures('faults', figures);
  await Promise.all([a?.stop(), b?.stop()]);
  await api?.stop();
  await db?.dispose();
  await slowTable?.stop();
  await bTable?.stop();
  output?.stop();
});

/** The next frame a client reads must be this marker: nothing else reached it before. */
async function nextIsMarker(stack: TestStack, clients: TestClient[], userIds: string[]) {
  const marker = Math.random();
  // Stack B's send goes through the faulty API: let the marker through unharmed.
  if (stack === b) api.reset();
  await stack.invokeSend({ userIds, message: { type: 'marker', marker } });
  for (const client of clients) {
    expect(JSON.parse(await client.next())).toEqual({ type: 'marker', marker });
  }
}

describe('DynamoDB stopped', () => {
  it('during $connect: the handshake is refused with 500; a client retrying gets in once it is back', async () => {
    await scenario(1, async () => {
      const mark = output.mark();
      await db.stop();
      const started = Date.now();
      // The outage lasts a second past the first refusal, not a second from the stop: on a busy
      // machine the first handshake (its function's cold start, the store's retries) can take
      // longer than a fixed outage, and would then be answered by the restarted table.
      const restartAfterFirstRefusalMs = 1000;
      let restarted: Promise<void> | undefined;
      let outageMs = 0;
      const statuses: number[] = [];
      let client: TestClient | undefined;
      try {
        while (client === undefined) {
          try {
            client = await a.connect('o-connect');
          } catch (error) {
            if (!(error instanceof HandshakeRefused)) throw error;
            statuses.push(error.status);
            restarted ??= sleep(restartAfterFirstRefusalMs).then(() => {
              outageMs = Date.now() - started;
              return db.start();
            });
            await sleep(200);
          }
        }
      } finally {
        // Started again whatever happened: the next scenarios use this table.
        await (restarted ?? db.start());
      }
      const msUntilIn = Date.now() - started;

      expect(statuses.length).toBeGreaterThan(0);
      expect(new Set(statuses)).toEqual(new Set([500]));
      expect(output.errors('connect failed', mark).length).toBe(statuses.length);
      expect(await client.whoami()).toMatchObject({ userId: 'o-connect' });
      expect((await a.rows()).filter((r) => r.userId === 'o-connect')).toHaveLength(1);
      count('handshakesRefusedWhileDynamoDbDown', statuses.length);
      figures.msUntilClientGotInAfterOutage = msUntilIn;
      figures.outageMsBeforeRestart = outageMs;
      await closeAndWait(a, [client]);
    });
  });

  it('during send: a retryable StoreUnavailableError naming the cause, nothing delivered; a retry delivers once', async () => {
    await scenario(2, async () => {
      const clients = [
        await a.connect('o-send'),
        await a.connect('o-send'),
        await a.connect('o-send-2'),
      ];
      const mark = output.mark();
      await db.stop();
      let sync: Awaited<ReturnType<TestStack['invokeSend']>>;
      let event: Awaited<ReturnType<TestStack['invokeSend']>>;
      const sendRuns = a.invocations.of('send').length;
      try {
        sync = await a.invokeSend({ userIds: ['o-send', 'o-send-2'], message: { type: 'lost?' } });
        event = await a.invokeSend({ userId: 'o-send', message: { type: 'lost?' } }, 'Event');
        await expect
          .poll(() => a.invocations.of('send').length, { timeout: 10_000 })
          .toBeGreaterThanOrEqual(sendRuns + 2);
      } finally {
        await db.start();
      }

      expect(sync.functionError).toBe('Unhandled');
      expect(sync.body).toMatchObject({ errorType: 'StoreUnavailableError' });
      expect((sync.body as { errorMessage: string }).errorMessage).toMatch(
        /^connection store Query on Connections failed: .*ECONNREFUSED/,
      );
      expect(event.status).toBe(202);
      expect(a.invocations.of('send')[sendRuns + 1]?.outcome).toMatchObject({
        ok: false,
        error: { errorType: 'StoreUnavailableError' },
      });
      expect(output.errors('send failed', mark)).toHaveLength(2);
      count('sendsFailedRetryableWhileDynamoDbDown', 2);

      // Invoked again once DynamoDB is back: each connection gets the message exactly once.
      const retried = await a.invokeSend({
        userIds: ['o-send', 'o-send-2'],
        message: { type: 'retried' },
      });
      expect(retried.body).toMatchObject({ delivered: 3, stale: 0, failed: 0 });
      for (const client of clients) {
        expect(JSON.parse(await client.next())).toEqual({ type: 'retried' });
      }
      await nextIsMarker(a, clients, ['o-send', 'o-send-2']);
      count('messagesDeliveredWhileDynamoDbDown', 0);
      // Every $disconnect done before the next scenario stops DynamoDB again.
      await closeAndWait(a, clients);
    });
  });

  it('during $disconnect: logged, no crash; the row stays with its TTL and the next send removes it (410)', async () => {
    await scenario(1, async () => {
      const client = await a.connect('o-disc');
      const { connectionId } = await client.whoami();
      const mark = output.mark();
      await db.stop();
      let disconnect: Awaited<ReturnType<TestStack['invocations']['disconnectOf']>>;
      try {
        client.ws.close();
        disconnect = await a.invocations.disconnectOf(connectionId, 10_000);
      } finally {
        await db.start();
      }

      const record = a.invocations
        .forConnection(connectionId)
        .find((r) => r.functionName === 'disconnect');
      expect(record?.outcome).toEqual({ ok: true, result: { statusCode: 500 } });
      expect(disconnect).toMatchObject({ connectionId });
      expect(
        output
          .errors('disconnect cleanup failed; the row will expire by TTL', mark)
          .map((line) => line.connectionId),
      ).toEqual([connectionId]);
      const item = (
        await a.dynamo.send(
          new GetItemCommand({
            TableName: a.stack.tableName,
            Key: { userId: { S: 'o-disc' }, connectionId: { S: connectionId } },
          }),
        )
      ).Item;
      const connectedAt = Number(item?.connectedAt?.N);
      expect(Number(item?.expiresAt?.N)).toBe(Math.floor(connectedAt / 1000) + 7200);
      count('disconnectsLoggedWithoutCrash');

      // The stack is still serving, and the leftover row goes on the first send (410 Gone).
      const next = await a.connect('o-after');
      next.send({ action: 'ping' });
      expect(JSON.parse(await next.next())).toEqual({ type: 'pong' });
      const { body } = await a.invokeSend({ userId: 'o-disc', message: { type: 'late' } });
      expect(body).toEqual({ delivered: 0, stale: 1, failed: 0, seq: expect.any(Number) });
      expect((await a.rows()).filter((r) => r.userId === 'o-disc')).toEqual([]);
      count('leftoverRowsRemovedBy410');
      next.ws.close();
    });
  });
});

/** Closes the clients and waits until their `$disconnect`s have run. */
async function closeAndWait(stack: TestStack, clients: TestClient[]) {
  const runs = stack.invocations.of('disconnect').length;
  for (const client of clients) client.ws.close();
  await expect
    .poll(() => stack.invocations.of('disconnect').length, {
      message: 'their $disconnects ran',
      timeout: 10_000,
    })
    .toBeGreaterThanOrEqual(runs + clients.length);
}

/** Opens `n` connections of one user on stack B and returns them with their connection ids. */
async function openMany(userId: string, n: number) {
  const clients: Array<{ client: TestClient; connectionId: string }> = [];
  for (let i = 0; i < n; i++) {
    const client = await b.connect(userId);
    clients.push({ client, connectionId: (await client.whoami()).connectionId });
  }
  return clients;
}
const closeAll = (clients: Array<{ client: TestClient }>) => {
  for (const { client } of clients) client.ws.close();
};

describe('the Management API misbehaving', () => {
  it('429 and 500: three attempts with full-jitter backoff, then failed; the others delivered once', async () => {
    await scenario(24, async () => {
      api.reset();
      const conns = await openMany('f-retry', 28);
      const throttled = conns.slice(0, 12);
      const broken = conns.slice(12, 24);
      const healthy = conns.slice(24);
      for (const c of throttled) api.script(c.connectionId, 'throttle');
      for (const c of broken) api.script(c.connectionId, 'server-error');

      const { body } = await b.invokeSend({ userId: 'f-retry', message: { type: 'retry' } });

      expect(body).toEqual({ delivered: 4, stale: 0, failed: 24, seq: expect.any(Number) });
      const gaps: number[][] = [];
      for (const c of [...throttled, ...broken]) {
        const times = api.attempts.get(c.connectionId) ?? [];
        expect(times).toHaveLength(3);
        gaps.push([
          (times[1] as number) - (times[0] as number),
          (times[2] as number) - (times[1] as number),
        ]);
      }
      // Full jitter: attempt n waits a random time in [0, base * 2^(n-1)), plus the round trip
      // (up to 250 ms allowed, for a machine busy with other tests).
      const first = gaps.map((g) => g[0] as number);
      const second = gaps.map((g) => g[1] as number);
      expect(Math.max(...first)).toBeLessThan(BACKOFF_BASE_MS + 250);
      expect(Math.max(...second)).toBeLessThan(2 * BACKOFF_BASE_MS + 250);
      expect(Math.max(...first) - Math.min(...first)).toBeGreaterThan(5);
      for (const c of healthy) expect(JSON.parse(await c.client.next())).toEqual({ type: 'retry' });
      await nextIsMarker(
        b,
        conns.map((c) => c.client),
        ['f-retry'],
      );
      figures.attemptsPerThrottledOr5xxPost = 3;
      figures.firstBackoffMsMin = Math.min(...first);
      figures.firstBackoffMsMax = Math.max(...first);
      figures.secondBackoffMsMin = Math.min(...second);
      figures.secondBackoffMsMax = Math.max(...second);
      count('throttledPostsFailedAfterRetries', throttled.length);
      count('serverErrorPostsFailedAfterRetries', broken.length);
      closeAll(conns);
    });
  });

  it('429 twice, then accepted: delivered on the third attempt, exactly once', async () => {
    await scenario(1, async () => {
      api.reset();
      const [conn] = await openMany('f-flaky', 1);
      if (!conn) throw new Error('no connection');
      api.script(conn.connectionId, { throttleTimes: 2 });

      const { body } = await b.invokeSend({ userId: 'f-flaky', message: { type: 'third' } });

      expect(body).toEqual({ delivered: 1, stale: 0, failed: 0, seq: expect.any(Number) });
      expect(api.attempts.get(conn.connectionId)).toHaveLength(3);
      expect(JSON.parse(await conn.client.next())).toEqual({ type: 'third' });
      await nextIsMarker(b, [conn.client], ['f-flaky']);
      count('postsDeliveredAfterThrottling');
      closeAll([conn]);
    });
  });

  it('a hang: the per-post deadline fires, never retried, and the rest of the fan-out goes on', async () => {
    await scenario(3, async () => {
      api.reset();
      const conns = await openMany('f-hang', 12);
      const hung = conns.slice(0, 3);
      for (const c of hung) api.script(c.connectionId, 'hang');

      const started = Date.now();
      const { body } = await b.invokeSend({ userId: 'f-hang', message: { type: 'hang' } });
      const elapsed = Date.now() - started;

      expect(body).toEqual({ delivered: 9, stale: 0, failed: 3, seq: expect.any(Number) });
      for (const c of hung) expect(api.attempts.get(c.connectionId)).toHaveLength(1);
      // Three hangs hold three of the four slots at once: one deadline, not three in a row.
      expect(elapsed).toBeLessThan(3 * POST_TIMEOUT_MS);
      for (const c of conns.slice(3))
        expect(JSON.parse(await c.client.next())).toEqual({ type: 'hang' });
      await nextIsMarker(
        b,
        conns.map((c) => c.client),
        ['f-hang'],
      );
      figures.fanOutMsWith3HungPostsOf12 = elapsed;
      figures.postTimeoutMs = POST_TIMEOUT_MS;
      count('hungPostsFailedByDeadline', hung.length);
      count('hungPostsRetried', 0);
      closeAll(conns);
    });
  });

  it('a reset connection: retried as a network error, then failed', async () => {
    await scenario(2, async () => {
      api.reset();
      const conns = await openMany('f-reset', 3);
      for (const c of conns.slice(0, 2)) api.script(c.connectionId, 'reset');

      const { body } = await b.invokeSend({ userId: 'f-reset', message: { type: 'reset' } });

      expect(body).toEqual({ delivered: 1, stale: 0, failed: 2, seq: expect.any(Number) });
      for (const c of conns.slice(0, 2)) expect(api.attempts.get(c.connectionId)).toHaveLength(3);
      expect(JSON.parse((await conns[2]?.client.next()) as string)).toEqual({ type: 'reset' });
      await nextIsMarker(
        b,
        conns.map((c) => c.client),
        ['f-reset'],
      );
      count('resetPostsFailedAfterRetries', 2);
      closeAll(conns);
    });
  });

  it('410 from connections that are gone: counted stale and their rows removed, by user and by connection id', async () => {
    await scenario(3, async () => {
      api.reset();
      const [live] = await openMany('f-gone', 1);
      // Rows whose $disconnect never came (AWS delivers it on a best-effort basis).
      const orphan = async (userId: string, connectionId: string) =>
        b.dynamo.send(
          new PutItemCommand({
            TableName: b.stack.tableName,
            Item: {
              userId: { S: userId },
              connectionId: { S: connectionId },
              connectedAt: { N: String(Date.now()) },
              expiresAt: { N: String(Math.floor(Date.now() / 1000) + 7200) },
            },
          }),
        );
      await orphan('f-gone', 'GoneConnA000000=');
      await orphan('f-gone', 'GoneConnB000000=');
      await orphan('f-gone-2', 'GoneConnC000000=');

      const byUser = await b.invokeSend({
        userIds: ['f-gone', 'f-gone-2'],
        message: { type: 'g' },
      });
      expect(byUser.body).toEqual({
        delivered: 1,
        stale: 3,
        failed: 0,
        users: {
          'f-gone': { delivered: 1, stale: 2, failed: 0, seq: expect.any(Number) },
          'f-gone-2': { delivered: 0, stale: 1, failed: 0, seq: expect.any(Number) },
        },
      });
      const rowsLeft = (await b.rows()).filter((r) => r.userId.startsWith('f-gone'));
      expect(rowsLeft.map((r) => r.connectionId)).toEqual([live?.connectionId]);

      await orphan('f-gone-3', 'GoneConnD000000=');
      const byConnection = await b.invokeSend({
        connectionId: 'GoneConnD000000=',
        message: { type: 'g' },
      });
      expect(byConnection.body).toEqual({ delivered: 0, stale: 1, failed: 0 });
      expect((await b.rows()).filter((r) => r.userId === 'f-gone-3')).toEqual([]);
      expect(JSON.parse((await live?.client.next()) as string)).toEqual({ type: 'g' });
      count('goneRowsRemoved', 4);
      closeAll(live ? [live] : []);
    });
  });
});

describe('handlers past their Lambda timeout', () => {
  it('$connect: the handshake is refused; the retry gets in; the late row goes on the first send', async () => {
    await scenario(1, async () => {
      api.reset();
      const token = await b.token('f-slow');
      const connects = b.invocations.of('connect').length;
      slowTable.delayNextPutItem(1500); // past the 1 s Lambda timeout

      expect(await refusedWith(`${b.stack.url}?token=${token}`)).toBe(500);

      const timedOut = b.invocations.of('connect')[connects];
      expect(timedOut?.outcome).toMatchObject({ ok: false, timedOut: true });
      const lateEvent = timedOut?.event as { requestContext: { connectionId: string } };
      const lateId = lateEvent.requestContext.connectionId;
      // DynamoDB wrote the row; its answer came after the function had timed out.
      await expect
        .poll(async () => (await b.rows()).map((r) => r.connectionId), {
          message: 'the late $connect wrote its row',
        })
        .toContain(lateId);
      const client = await b.connectWith(token);
      const { connectionId } = await client.whoami();

      const { body } = await b.invokeSend({ userId: 'f-slow', message: { type: 'after' } });

      expect(body).toEqual({ delivered: 1, stale: 1, failed: 0, seq: expect.any(Number) });
      expect(JSON.parse(await client.next())).toEqual({ type: 'after' });
      expect(
        (await b.rows()).filter((r) => r.userId === 'f-slow').map((r) => r.connectionId),
      ).toEqual([connectionId]);
      count('connectTimeoutsRefusedThenRetried');
      client.ws.close();
    });
  });

  it('send: a fan-out of hung posts longer than the timeout stops in time and reports them failed', async () => {
    await scenario(1, async () => {
      api.reset();
      const conns = await openMany('f-overrun', 40);
      for (const c of conns) api.script(c.connectionId, 'hang');
      const runs = b.invocations.of('send').length;

      // 40 posts, 4 at a time, 400 ms each: 4 s of work in a 3 s Lambda timeout.
      const { functionError, body } = await b.invokeSend({
        userId: 'f-overrun',
        message: { type: 'o' },
      });

      // The send stops starting posts that would outlive the invocation, and answers with its
      // counts: no timeout, so no Event retry repeats messages to connections already reached.
      expect(functionError).toBeUndefined();
      expect(body).toEqual({ delivered: 0, stale: 0, failed: 40, seq: expect.any(Number) });
      const record = b.invocations.of('send')[runs];
      expect(record?.outcome).toMatchObject({ ok: true });
      expect(record?.durationMs).toBeLessThan(3000);
      for (const c of conns) api.script(c.connectionId, 'ok');
      await nextIsMarker(
        b,
        conns.map((c) => c.client),
        ['f-overrun'],
      );
      count('sendOverrunsStoppedBeforeTimeout');
      closeAll(conns);
    });
  });
});
