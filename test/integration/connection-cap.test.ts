import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { registerConnection } from '../../lambdas/core/connections';
import { ConnectionLimitExceededError, StoreUnavailableError } from '../../lambdas/core/errors';
import type { ConnectionStore } from '../../lambdas/core/ports';
import { captureLog } from '../support/capture-log';
import { LOCAL_CREDENTIALS, startDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// The per-user cap of `$connect` against a real DynamoDB API (dynalite): write the row, read the
// user's live rows with one strongly consistent Query, and over the cap delete the row again.

let db: TestDynamoDb;
let store: DynamoDbConnectionStore;
beforeAll(async () => {
  db = await startDynamoDb();
  store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(db.client), db.tableName);
});
afterAll(() => db.stop());

const nowSeconds = () => Math.floor(Date.now() / 1000);
let ids = 0;

/** One `$connect` for `userId`: 'admitted', 'refused' (the cap), or the error. */
async function connect(
  userId: string,
  cap: number,
  on: ConnectionStore = store,
  readLiveRows = false,
) {
  const connectionId = `cap${++ids}=`;
  const { log, lines } = captureLog();
  try {
    await registerConnection(
      { connectionId, connectedAt: Date.now(), authorizer: { userId } },
      { store: on, log, ttlSeconds: 7200, maxConnectionsPerUser: cap, readLiveRows },
    );
    return { connectionId, result: 'admitted' as const, lines };
  } catch (error) {
    if (error instanceof ConnectionLimitExceededError) {
      return { connectionId, result: 'refused' as const, error, lines };
    }
    throw error;
  }
}

const liveRows = (userId: string) => store.listConnectionIds(userId, nowSeconds());

describe('the connection cap', () => {
  it('admits up to the cap, refuses the next and removes the row it wrote', async () => {
    const admitted = [];
    for (let i = 0; i < 3; i++) admitted.push(await connect('cap-seq', 3));
    const refused = await connect('cap-seq', 3);

    expect(admitted.map((a) => a.result)).toEqual(['admitted', 'admitted', 'admitted']);
    expect(refused.result).toBe('refused');
    expect(refused.error).toMatchObject({
      name: 'ConnectionLimitExceededError',
      userId: 'cap-seq',
      live: 4,
      limit: 3,
      message: 'user cap-seq holds 4 live connections with this one; at most 3 are allowed',
    });
    expect((await liveRows('cap-seq')).sort()).toEqual(admitted.map((a) => a.connectionId).sort());
  });

  it.each([false, true])(
    'counts live rows only: rows past their TTL do not hold a slot (rows read: %s)',
    async (readLiveRows) => {
      const user = `cap-ttl-${readLiveRows}`;
      for (let i = 0; i < 5; i++) {
        await store.putConnection({
          userId: user,
          connectionId: `expired${i}=`,
          connectedAt: Date.now() - 8_000_000,
          expiresAt: nowSeconds() - 1,
        });
      }
      expect((await connect(user, 1, store, readLiveRows)).result).toBe('admitted');
      expect((await connect(user, 1, store, readLiveRows)).result).toBe('refused');
    },
  );

  it('counts each user on their own', async () => {
    expect((await connect('cap-a', 1)).result).toBe('admitted');
    expect((await connect('cap-b', 1)).result).toBe('admitted');
    expect((await connect('cap-a', 1)).result).toBe('refused');
  });

  it('never exceeds the cap under concurrent connects, and leaves no row of a refused one', async () => {
    const CAP = 5;
    let admittedInAll = 0;
    for (let round = 0; round < 10; round++) {
      const user = `cap-burst-${round}`;
      const burst = await Promise.all(Array.from({ length: 40 }, () => connect(user, CAP)));
      const admitted = burst.filter((b) => b.result === 'admitted').map((b) => b.connectionId);
      admittedInAll += admitted.length;

      expect(admitted.length).toBeLessThanOrEqual(CAP);
      expect((await liveRows(user)).sort()).toEqual(admitted.sort());
      // Under-admission is the price: whatever the burst left free, sequential connects fill.
      let more = 0;
      while ((await connect(user, CAP)).result === 'admitted') more++;
      expect(admitted.length + more).toBe(CAP);
    }
    expect(admittedInAll).toBeGreaterThan(0);
  });

  it('costs two requests per admitted connect, three per refused one; the count reads strongly', async () => {
    // The requests as the SDK sends them, seen by middleware on a client of our own.
    const client = new DynamoDBClient({
      endpoint: db.endpoint,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
    const sent: Array<{ command: string; input: Record<string, unknown> }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({
          command: String(context.commandName),
          input: args.input as Record<string, unknown>,
        });
        return next(args);
      },
      { step: 'initialize', name: 'capRequestLog' },
    );
    const observed = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(client), db.tableName);
    try {
      for (const readLiveRows of [false, true]) {
        const user = `cap-cost-${readLiveRows}`;
        expect((await connect(user, 1, observed, readLiveRows)).result).toBe('admitted');
        const admitted = sent.splice(0);
        expect((await connect(user, 1, observed, readLiveRows)).result).toBe('refused');
        const refused = sent.splice(0);

        expect(admitted.map((r) => r.command)).toEqual(['PutItemCommand', 'QueryCommand']);
        expect(refused.map((r) => r.command)).toEqual([
          'PutItemCommand',
          'QueryCommand',
          'DeleteItemCommand',
        ]);
        // Without presence events the Query returns the number of live rows, not the rows.
        expect(admitted[1]?.input).toMatchObject({
          KeyConditionExpression: '#user = :user',
          ConsistentRead: true,
          ...(!readLiveRows && { Select: 'COUNT' }),
        });
        if (readLiveRows) expect(admitted[1]?.input).not.toHaveProperty('Select');
      }
    } finally {
      client.destroy();
    }
  });

  it('refuses and removes its row when the count fails, and says so', async () => {
    // The Query alone failing (say, a role without dynamodb:Query) cannot be caused with
    // dynalite: the real store, with that one call failing.
    const denied = () =>
      Promise.reject(new StoreUnavailableError('Query on Connections', new Error('denied')));
    const countFails: ConnectionStore = Object.assign(Object.create(store) as ConnectionStore, {
      listConnections: denied,
      countLiveConnections: denied,
    });
    for (const readLiveRows of [false, true]) {
      const error = await connect('cap-fail', 5, countFails, readLiveRows).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(await liveRows('cap-fail')).toEqual([]);
    }
  });
});
