import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { registerConnection, unregisterConnection } from '../../lambdas/core/connections';
import { ConnectionLimitExceededError, StoreUnavailableError } from '../../lambdas/core/errors';
import type { ConnectionStore } from '../../lambdas/core/ports';
import { counterSortKey } from '../../lambdas/shared/connection-table-schema';
import { captureLog } from '../support/capture-log';
import { LOCAL_CREDENTIALS, startDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// The per-user cap of `$connect` against a real DynamoDB API (dynalite): write the row and add
// it to the user's counter; over the cap, count the user's live rows with one strongly
// consistent Query, and if they are over it too, delete the row again.

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
  connectedAt = Date.now(),
) {
  const connectionId = `cap${++ids}=`;
  const { log, lines } = captureLog();
  try {
    await registerConnection(
      { connectionId, connectedAt, authorizer: { userId } },
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

/** The user's counter, read straight from the table (undefined: no counter item). */
async function counterOf(userId: string): Promise<number | undefined> {
  const { Item } = await documents().send(
    new GetCommand({
      TableName: db.tableName,
      Key: { userId, connectionId: counterSortKey(userId) },
      ConsistentRead: true,
    }),
  );
  return Item?.connections;
}

const documents = () => DynamoDBDocumentClient.from(db.client);

/** Deletes a row around the store, as if it were gone without its decrement. */
const deleteBehindCounter = (userId: string, connectionId: string) =>
  documents().send(new DeleteCommand({ TableName: db.tableName, Key: { userId, connectionId } }));

/**
 * A store whose first `PutItem` waits for `gate`: a connect whose write is slow. `paused`
 * resolves once that write is waiting.
 */
function slowStore(gate: Promise<void>) {
  const client = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
  });
  let reached: () => void = () => {};
  const paused = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let held = false;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PutItemCommand' && !held) {
        held = true;
        reached();
        await gate;
      }
      return next(args);
    },
    { step: 'initialize', name: 'slowPut' },
  );
  onTestFinished(() => client.destroy());
  return {
    slow: new DynamoDbConnectionStore(DynamoDBDocumentClient.from(client), db.tableName),
    paused,
  };
}

/** A store whose requests are recorded, by command name and input. */
function observedStore() {
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
  onTestFinished(() => client.destroy());
  const observed = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(client), db.tableName);
  /** The commands sent since the last call, and forgets them. */
  const take = () => sent.splice(0);
  return { observed, take };
}

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
      expect(await counterOf(user)).toBe(admitted.length);
      // Whatever the burst left free, sequential connects fill.
      let more = 0;
      while ((await connect(user, CAP)).result === 'admitted') more++;
      expect(admitted.length + more).toBe(CAP);
      expect(await counterOf(user)).toBe(CAP);
    }
    expect(admittedInAll).toBeGreaterThan(0);
  });

  it('costs two requests per connect under the cap, five per refused one; the count reads strongly', async () => {
    // The requests as the SDK sends them, seen by middleware on a client of our own.
    const { observed, take } = observedStore();
    for (const readLiveRows of [false, true]) {
      const user = `cap-cost-${readLiveRows}`;
      expect((await connect(user, 1, observed, readLiveRows)).result).toBe('admitted');
      const admitted = take();
      expect((await connect(user, 1, observed, readLiveRows)).result).toBe('refused');
      const refused = take();

      // The row, the counter; with presence events on, the rows read after both.
      expect(admitted.map((r) => r.command)).toEqual([
        'PutItemCommand',
        'UpdateItemCommand',
        ...(readLiveRows ? ['QueryCommand'] : []),
      ]);
      // Over the counter: the rows counted, then the refused row deleted and taken off.
      expect(refused.map((r) => r.command)).toEqual([
        'PutItemCommand',
        'UpdateItemCommand',
        'QueryCommand',
        'DeleteItemCommand',
        'UpdateItemCommand',
      ]);
      expect(admitted[1]?.input).toMatchObject({
        UpdateExpression: 'SET #expires = :expires ADD #count :by, #changes :one',
        ReturnValues: 'UPDATED_NEW',
      });
      expect(refused[3]?.input).toMatchObject({ ReturnValues: 'ALL_OLD' });
      // Without presence events the Query returns the number of live rows, not the rows; the
      // key condition leaves the counter item out.
      expect(refused[2]?.input).toMatchObject({
        KeyConditionExpression: '#user = :user AND #connection > :counter',
        ExpressionAttributeValues: { ':user': user, ':counter': `#count#${user}` },
        ConsistentRead: true,
        ...(!readLiveRows && { Select: 'COUNT' }),
      });
      if (readLiveRows) expect(refused[2]?.input).not.toHaveProperty('Select');
      expect(await counterOf(user)).toBe(1);
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
      const user = `cap-fail-${readLiveRows}`;
      // Without presence events, only a connect over the counter counts.
      const held = await connect(user, 1);
      const error = await connect(user, 1, countFails, readLiveRows).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(await liveRows(user)).toEqual([held.connectionId]);
      expect(await counterOf(user)).toBe(1);
    }
  });

  it("keeps the counter equal to the user's rows, and deletes it with the last one", async () => {
    const admitted = [];
    for (let i = 0; i < 3; i++) admitted.push(await connect('cap-tally', 3));
    expect(await counterOf('cap-tally')).toBe(3);
    expect((await connect('cap-tally', 3)).result).toBe('refused');
    expect(await counterOf('cap-tally')).toBe(3);

    for (const [i, { connectionId }] of admitted.entries()) {
      const { log } = captureLog();
      await unregisterConnection(
        { connectionId, authorizer: { userId: 'cap-tally' } },
        { store, log, ttlSeconds: 7200 },
      );
      expect(await counterOf('cap-tally')).toBe(i === 2 ? undefined : 2 - i);
    }
    expect(await liveRows('cap-tally')).toEqual([]);
  });

  it.each([
    ['a row deleted without its decrement', false],
    ['a row deleted without its decrement', true],
    ['a row past its TTL', false],
    ['a row past its TTL', true],
  ])(
    'admits at the cap when the counter still counts %s, and repairs the counter (rows read: %s)',
    async (kind, readLiveRows) => {
      const user = `cap-drift-${kind === 'a row past its TTL' ? 'ttl' : 'deleted'}-${readLiveRows}`;
      if (kind === 'a row past its TTL') {
        // Counted when it connected; nothing takes it off when it expires.
        expect((await connect(user, 3, store, readLiveRows, Date.now() - 7_300_000)).result).toBe(
          'admitted',
        );
        await connect(user, 3, store, readLiveRows);
        await connect(user, 3, store, readLiveRows);
      } else {
        const held = [];
        for (let i = 0; i < 3; i++) held.push(await connect(user, 3, store, readLiveRows));
        await deleteBehindCounter(user, held[0]?.connectionId as string);
      }
      expect(await counterOf(user)).toBe(3);
      expect(await liveRows(user)).toHaveLength(2);
      const { observed, take } = observedStore();

      const last = await connect(user, 3, observed, readLiveRows);

      expect(last.result).toBe('admitted');
      // The counter (4) is over the cap: the rows counted (3) admit, and the counter is set to them.
      expect(take().map((r) => r.command)).toEqual([
        'PutItemCommand',
        'UpdateItemCommand',
        'QueryCommand',
        'UpdateItemCommand',
      ]);
      expect(await counterOf(user)).toBe(3);
      expect(
        last.lines.find((l) => l.message === 'connection counter set to the live rows'),
      ).toMatchObject({ attributes: { userId: user, counted: 4, live: 3 } });
      // Repaired: the next connect is refused on the count, and leaves the counter at the rows.
      expect((await connect(user, 3, store, readLiveRows)).result).toBe('refused');
      expect(await counterOf(user)).toBe(3);
      expect(await liveRows(user)).toHaveLength(3);
    },
  );

  it('never exceeds the cap when a slow connect overlaps others that count and repair', async () => {
    const user = 'cap-slow';
    // An expired row the counter still counts: the cap is 2, the counter starts at 1.
    await connect(user, 2, store, false, Date.now() - 7_300_000);
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { slow, paused } = slowStore(gate);

    // One connect's write is held up; two others come and go meanwhile: the first on the
    // counter (2), the second on the count (counter 3, rows 2), which repairs the counter.
    const held = connect(user, 2, slow);
    await paused;
    const others = [await connect(user, 2), await connect(user, 2)];
    open();
    const all = [await held, ...others];

    const admitted = all.filter((c) => c.result === 'admitted').map((c) => c.connectionId);
    expect(admitted).toHaveLength(2);
    expect((await liveRows(user)).sort()).toEqual(admitted.sort());
    expect(await counterOf(user)).toBe(2);
  });

  it('leaves the counter alone when it moved between the increment and the repair, even back to where it was', async () => {
    const user = 'cap-moved';
    // An expired row the counter still counts, and a live one: the counter is at the cap.
    const expired = await connect(user, 2, store, false, Date.now() - 7_300_000);
    await connect(user, 2);
    // Once the count is back, and before the repair: a connect of the same user adds a row the
    // count missed, and the expired row's late $disconnect takes one off. The counter is back
    // at the value the repair expects.
    let raced = false;
    const racing: ConnectionStore = Object.assign(Object.create(store) as ConnectionStore, {
      countLiveConnections: async (userId: string, nowEpochSeconds: number) => {
        const count = await store.countLiveConnections(userId, nowEpochSeconds);
        await store.putConnection({
          userId: user,
          connectionId: 'cap-moved-late=',
          connectedAt: Date.now(),
          expiresAt: nowSeconds() + 7200,
        });
        await store.deleteConnection(user, expired.connectionId);
        raced = true;
        return count;
      },
    });

    const result = await connect(user, 2, racing);

    expect(result.result).toBe('admitted');
    expect(raced).toBe(true);
    // Set to the count (2), it would be one below the rows; left alone, it is right.
    expect(await liveRows(user)).toHaveLength(3);
    expect(await counterOf(user)).toBe(3);
    expect(result.lines.map((l) => l.message)).not.toContain(
      'connection counter set to the live rows',
    );
  });
});
