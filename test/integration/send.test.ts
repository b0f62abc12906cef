import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { DynamoDbMessageLog } from '../../lambdas/adapters/dynamodb-message-log';
import { StoreUnavailableError, ValidationError } from '../../lambdas/core/errors';
import {
  type FanOutOptions,
  type SendDependencies,
  sendNotification,
} from '../../lambdas/core/send';
import { createConnectionGateway } from '../../lambdas/runtime/gateway';
import { counterSortKey } from '../../lambdas/shared/connection-table-schema';
import { captureLog } from '../support/capture-log';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { countRequests } from '../support/request-counter';

// The send core against a real DynamoDB API (dynalite) and a real HTTP server speaking the
// `@connections` wire format, through the real Management API SDK client.

let db: TestDynamoDb;
let api: FakeManagementApi;
let store: DynamoDbConnectionStore;
let messageLog: DynamoDbMessageLog;
let requests: ReturnType<typeof countRequests>;
const fanOut: FanOutOptions = {
  concurrency: 8,
  postTimeoutMs: 300,
  maxAttempts: 3,
  backoffBaseMs: 5,
  backoffMaxMs: 20,
};
const nowSeconds = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  db = await startDynamoDb();
  api = await startFakeManagementApi();
  requests = countRequests(db.client);
  store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(db.client), db.tableName);
  messageLog = new DynamoDbMessageLog(
    DynamoDBDocumentClient.from(db.client),
    db.messageTableName,
    86_400,
  );
});
afterAll(async () => {
  await api.stop();
  await db.stop();
});
beforeEach(() => {
  api.reset();
});

function deps(options: Partial<FanOutOptions> = {}) {
  const { log, lines } = captureLog();
  const config = { connectionsEndpoint: api.endpoint, fanOut: { ...fanOut, ...options } };
  const dependencies: SendDependencies = {
    store,
    messageLog,
    gateway: createConnectionGateway(config).forSend(),
    log,
    options: config.fanOut,
  };
  return { dependencies, lines };
}

async function connect(userId: string, ...connectionIds: string[]) {
  for (const connectionId of connectionIds) {
    await store.putConnection({
      userId,
      connectionId,
      connectedAt: Date.now(),
      expiresAt: nowSeconds() + 7200,
    });
  }
}

/** The user's counter, read straight from the table (undefined: no counter item). */
async function counterOf(userId: string): Promise<number | undefined> {
  const { Item } = await db.client.send(
    new GetItemCommand({
      TableName: db.tableName,
      Key: { userId: { S: userId }, connectionId: { S: counterSortKey(userId) } },
      ConsistentRead: true,
    }),
  );
  return Item && Number(Item.connections?.N);
}

const postsTo = (connectionId: string) => api.posts.filter((p) => p.connectionId === connectionId);

describe('send to one user', () => {
  it('reaches every tab of the user with the message verbatim, and nobody else', async () => {
    await connect('42', 'u42a=', 'u42b=', 'u42c=');
    await connect('43', 'u43a=');
    const message = {
      type: 'seat_taken',
      tripId: 't-1',
      seat: 3,
      note: 'Zoë 🚕',
      nested: { ok: true },
    };
    requests.reset();

    const result = await sendNotification({ userId: 42, message }, deps().dependencies);

    expect(result).toEqual({ delivered: 3, stale: 0, failed: 0, seq: 1 });
    for (const id of ['u42a=', 'u42b=', 'u42c=']) {
      expect(postsTo(id).map((p) => p.body)).toEqual([JSON.stringify(message)]);
    }
    expect(postsTo('u43a=')).toEqual([]);
    // One consistent read of the connections; the user's first logged message creates the head.
    expect(requests.counts).toEqual({ Query: 1, GetItem: 1, PutItem: 2, UpdateItem: 1 });
  });

  it('treats the string and the number form of an id as the same user', async () => {
    await connect('777', 'u777=');
    const { dependencies } = deps();
    expect(
      await sendNotification({ userId: '777', message: { n: 1 } }, dependencies),
    ).toMatchObject({ delivered: 1 });
    expect(await sendNotification({ userId: 777, message: { n: 2 } }, dependencies)).toMatchObject({
      delivered: 1,
    });
    expect(postsTo('u777=').map((p) => p.body)).toEqual(['{"n":1}', '{"n":2}']);
  });

  it('reports zero for a user with no connection, and posts nothing', async () => {
    expect(await sendNotification({ userId: 'offline', message: {} }, deps().dependencies)).toEqual(
      {
        delivered: 0,
        stale: 0,
        failed: 0,
        seq: 1,
      },
    );
    expect(api.posts).toEqual([]);
  });

  it('skips rows past their TTL that DynamoDB has not deleted yet', async () => {
    await connect('ttl', 'ttl-live=');
    await store.putConnection({
      userId: 'ttl',
      connectionId: 'ttl-old=',
      connectedAt: 0,
      expiresAt: nowSeconds() - 5,
    });
    expect(await sendNotification({ userId: 'ttl', message: {} }, deps().dependencies)).toEqual({
      delivered: 1,
      stale: 0,
      failed: 0,
      seq: 1,
    });
    expect(api.attempts.has('ttl-old=')).toBe(false);
  });
});

describe('send to several users', () => {
  it('fans out with a per-user breakdown, including users with no connection', async () => {
    await connect('p1', 'p1a=', 'p1b=');
    await connect('p2', 'p2a=');
    api.script('p1b=', 'gone');
    requests.reset();

    const result = await sendNotification(
      { userIds: ['p1', 'p2', 'p3', 'p2'], message: { type: 'pool_filled' } },
      deps().dependencies,
    );

    expect(result).toEqual({
      delivered: 2,
      stale: 1,
      failed: 0,
      users: {
        p1: { delivered: 1, stale: 1, failed: 0, seq: 1 },
        p2: { delivered: 1, stale: 0, failed: 0, seq: 1 },
        p3: { delivered: 0, stale: 0, failed: 0, seq: 1 },
      },
    });
    // One consistent read per distinct user; the stale row's delete and its user's counter
    // (UpdateItem, p1 keeps a connection); each user's first logged message creates its head
    // (GetItem, PutItem head, PutItem message, UpdateItem).
    expect(requests.counts).toEqual({
      Query: 3,
      DeleteItem: 1,
      GetItem: 3,
      PutItem: 6,
      UpdateItem: 3 + 1,
    });
    expect(await store.listConnectionIds('p1', nowSeconds())).toEqual(['p1a=']);
  });
});

describe('send to one connection', () => {
  it('posts to that connection only, after one read of the index for its protocol', async () => {
    await connect('c', 'c-one=', 'c-two=');
    requests.reset();
    expect(
      await sendNotification({ connectionId: 'c-one=', message: { hi: 1 } }, deps().dependencies),
    ).toEqual({
      delivered: 1,
      stale: 0,
      failed: 0,
    });
    expect(postsTo('c-one=')).toHaveLength(1);
    expect(postsTo('c-two=')).toHaveLength(0);
    // The connection's protocol (v1: the message verbatim) from the byConnectionId index.
    expect(requests.counts).toEqual({ Query: 1 });
  });

  it('on 410 finds the owner through the index and removes the row', async () => {
    await connect('gone-owner', 'c-gone=', 'c-kept=');
    api.script('c-gone=', 'gone');
    requests.reset();
    expect(
      await sendNotification({ connectionId: 'c-gone=', message: {} }, deps().dependencies),
    ).toEqual({
      delivered: 0,
      stale: 1,
      failed: 0,
    });
    // The index, the row, and taking it off the owner's counter, which still counts c-kept=.
    expect(requests.counts).toEqual({ Query: 1, DeleteItem: 1, UpdateItem: 1 });
    expect(await store.listConnectionIds('gone-owner', nowSeconds())).toEqual(['c-kept=']);
    expect(await counterOf('gone-owner')).toBe(1);
  });

  it("on 410 of the user's last connection also deletes the user's counter item", async () => {
    await connect('gone-last', 'c-last=');
    api.script('c-last=', 'gone');
    requests.reset();
    expect(
      await sendNotification({ connectionId: 'c-last=', message: {} }, deps().dependencies),
    ).toMatchObject({ stale: 1 });
    // The index, the row, the counter down to zero, then the counter item itself.
    expect(requests.counts).toEqual({ Query: 1, DeleteItem: 2, UpdateItem: 1 });
    expect(await counterOf('gone-last')).toBeUndefined();
  });
});

describe('failures of API Gateway', () => {
  it('removes a stale (410) connection and counts it as stale, not failed, and not retried', async () => {
    await connect('stale', 'st-live=', 'st-dead=');
    api.script('st-dead=', 'gone');
    const { dependencies, lines } = deps();
    expect(await sendNotification({ userId: 'stale', message: {} }, dependencies)).toEqual({
      delivered: 1,
      stale: 1,
      failed: 0,
      seq: 1,
    });
    expect(api.attempts.get('st-dead=')).toHaveLength(1);
    expect(await store.listConnectionIds('stale', nowSeconds())).toEqual(['st-live=']);
    expect(await counterOf('stale')).toBe(1);
    expect(
      lines.some(
        (l) => l.message === 'removed stale connection' && l.attributes.connectionId === 'st-dead=',
      ),
    ).toBe(true);
  });

  it('retries throttling (429) and delivers once it passes', async () => {
    await connect('thr', 'thr1=');
    api.script('thr1=', { throttleTimes: 2 });
    expect(await sendNotification({ userId: 'thr', message: {} }, deps().dependencies)).toEqual({
      delivered: 1,
      stale: 0,
      failed: 0,
      seq: 1,
    });
    expect(api.attempts.get('thr1=')).toHaveLength(3);
    expect(postsTo('thr1=')).toHaveLength(1);
  });

  it.each([
    ['throttle', 3],
    ['server-error', 3],
    ['reset', 3],
    ['forbidden', 1],
  ] as const)(
    'counts %s as failed after %i attempt(s), and the rest still goes out',
    async (behaviour, attempts) => {
      const userId = `f-${behaviour}`;
      await connect(userId, `${userId}-bad=`, `${userId}-ok=`);
      api.script(`${userId}-bad=`, behaviour);
      const { dependencies, lines } = deps();

      expect(await sendNotification({ userId, message: {} }, dependencies)).toEqual({
        delivered: 1,
        stale: 0,
        failed: 1,
        seq: 1,
      });
      expect(api.attempts.get(`${userId}-bad=`)).toHaveLength(attempts);
      expect(postsTo(`${userId}-ok=`)).toHaveLength(1);
      const warning = lines.find((l) => l.message === 'post failed');
      expect(warning?.attributes).toMatchObject({ connectionId: `${userId}-bad=`, attempts });
      // The row stays: only a 410 proves the connection is gone.
      expect(await store.listConnectionIds(userId, nowSeconds())).toHaveLength(2);
    },
  );

  it('gives up on a hanging post at its deadline, without retrying it, and delivers the rest', async () => {
    await connect('hang', 'hang-stuck=', 'hang-1=', 'hang-2=');
    api.script('hang-stuck=', 'hang');
    const { dependencies, lines } = deps({ postTimeoutMs: 200 });

    expect(await sendNotification({ userId: 'hang', message: {} }, dependencies)).toEqual({
      delivered: 2,
      stale: 0,
      failed: 1,
      seq: 1,
    });
    expect(api.attempts.get('hang-stuck=')).toHaveLength(1);
    expect(lines.find((l) => l.message === 'post failed')?.attributes.error).toBe(
      'PostFailedError: post timed out after 200 ms',
    );
  });

  it('starts no post that would outlive the invocation, and returns its counts in time', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `late${i}=`);
    await connect('late', ...ids);
    for (const id of ids) api.script(id, 'hang');
    const { dependencies, lines } = deps({ concurrency: 2, postTimeoutMs: 200 });
    const started = Date.now();

    const result = await sendNotification(
      { userId: 'late', message: {} },
      { ...dependencies, finishBy: started + 700 },
    );

    expect(result).toEqual({ delivered: 0, stale: 0, failed: 10, seq: 1 });
    const attempted = ids.filter((id) => api.attempts.has(id)).length;
    expect(attempted).toBeGreaterThanOrEqual(2);
    expect(attempted).toBeLessThan(10);
    expect(
      lines.find((l) => l.message === 'send ran out of time; some posts were not attempted')
        ?.attributes,
    ).toMatchObject({ notAttempted: 10 - attempted, failed: 10 });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('keeps at most `concurrency` posts in flight', async () => {
    const slow = await startFakeManagementApi({ latencyMs: 20 });
    try {
      const ids = Array.from({ length: 60 }, (_, i) => `many${i}=`);
      await connect('many', ...ids);
      const config = { connectionsEndpoint: slow.endpoint, fanOut: { ...fanOut, concurrency: 6 } };
      const result = await sendNotification(
        { userId: 'many', message: { i: 1 } },
        {
          store,
          messageLog,
          gateway: createConnectionGateway(config).forSend(),
          log: captureLog().log,
          options: config.fanOut,
        },
      );
      expect(result).toEqual({ delivered: 60, stale: 0, failed: 0, seq: 1 });
      expect(slow.peakInFlight).toBe(6);
    } finally {
      await slow.stop();
    }
  });
});

describe('refusals', () => {
  it('fails bad input with ValidationError before reading or posting anything', async () => {
    await connect('v', 'v1=');
    requests.reset();
    const error = await sendNotification(
      { userId: 'v', message: ['not', 'an', 'object'] },
      deps().dependencies,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe('message: must be a JSON object, got array');
    expect(requests.total()).toBe(0);
    expect(api.posts).toEqual([]);
  });

  it('fails with a retryable StoreUnavailableError when DynamoDB cannot be read, and posts nothing', async () => {
    const broken = new DynamoDbConnectionStore(
      DynamoDBDocumentClient.from(db.client),
      'NoSuchTable',
    );
    const { dependencies } = deps();
    const error = await sendNotification(
      { userIds: ['a', 'b'], message: {} },
      { ...dependencies, store: broken },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ name: 'StoreUnavailableError', retryable: true });
    expect((error as Error).message).toMatch(
      /^connection store Query on NoSuchTable failed: ResourceNotFoundException/,
    );
    expect(api.posts).toEqual([]);
  });
});
