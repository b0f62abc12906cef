import { GetItemCommand, paginateScan } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { StoreUnavailableError } from '../../lambdas/core/errors';
import {
  CONNECTION_TABLE_SCHEMA,
  counterSortKey,
} from '../../lambdas/shared/connection-table-schema';
import {
  observedClient,
  partitionKeysOf,
  startDynamoDb,
  type TestDynamoDb,
} from '../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbConnectionStore;
const now = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  db = await startDynamoDb();
  store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(db.client), db.tableName);
});
afterAll(() => db.stop());

const record = (userId: string, connectionId: string, expiresAt = now + 7200) => ({
  userId,
  connectionId,
  connectedAt: Date.now(),
  expiresAt,
});

describe('DynamoDbConnectionStore against a real DynamoDB API (dynalite)', () => {
  it('keeps every connection of a user: a second tab does not replace the first', async () => {
    await store.putConnection(record('tabs-user', 'tab1='));
    await store.putConnection(record('tabs-user', 'tab2='));
    await store.putConnection(record('tabs-user', 'tab3='));
    await store.putConnection(record('someone-else', 'other='));

    expect((await store.listConnectionIds('tabs-user', now)).sort()).toEqual([
      'tab1=',
      'tab2=',
      'tab3=',
    ]);
    expect(await store.listConnectionIds('someone-else', now)).toEqual(['other=']);
    expect(await store.listConnectionIds('nobody', now)).toEqual([]);
  });

  it('stores the row with connectedAt and the expiresAt TTL attribute as numbers', async () => {
    const row = record('row-user', 'row1=');
    await store.putConnection(row);
    const item = await db.client.send(
      new GetItemCommand({
        TableName: db.tableName,
        Key: { userId: { S: 'row-user' }, connectionId: { S: 'row1=' } },
      }),
    );
    expect(item.Item).toEqual({
      userId: { S: 'row-user' },
      connectionId: { S: 'row1=' },
      connectedAt: { N: String(row.connectedAt) },
      expiresAt: { N: String(row.expiresAt) },
    });
  });

  it('leaves out rows whose TTL has passed but which DynamoDB has not yet deleted', async () => {
    await store.putConnection(record('ttl-user', 'live=', now + 60));
    await store.putConnection(record('ttl-user', 'expired=', now - 1));
    expect(await store.listConnectionIds('ttl-user', now)).toEqual(['live=']);
  });

  it('deletes one connection, and deleting it again succeeds', async () => {
    await store.putConnection(record('del-user', 'a='));
    await store.putConnection(record('del-user', 'b='));
    await store.deleteConnection('del-user', 'a=');
    await store.deleteConnection('del-user', 'a=');
    expect(await store.listConnectionIds('del-user', now)).toEqual(['b=']);
  });

  it('finds the owner of a connection through the byConnectionId index', async () => {
    await store.putConnection(record('owner-user', 'owned='));
    expect(await store.findUserId('owned=')).toBe('owner-user');
    expect(await store.findUserId('unknown=')).toBeUndefined();
  });

  it('reads every page of a user with more rows than one Query page returns', async () => {
    // A Query page stops at 1 MB (dynalite as DynamoDB): 30 rows of 100 KB make three pages.
    const client = DynamoDBDocumentClient.from(db.client);
    const ids = Array.from({ length: 30 }, (_, i) => `page${String(i).padStart(2, '0')}=`);
    await Promise.all(
      ids.map((connectionId) =>
        client.send(
          new PutCommand({
            TableName: db.tableName,
            Item: { ...record('paged-user', connectionId), pad: 'x'.repeat(100_000) },
          }),
        ),
      ),
    );
    expect((await store.listConnectionIds('paged-user', now)).sort()).toEqual(ids);
    expect(await store.countLiveConnections('paged-user', now)).toBe(30);
  });

  it("counts a user's live rows only: expired ones and other users' are left out", async () => {
    await store.putConnection(record('count-user', 'c1=', now + 1));
    await store.putConnection(record('count-user', 'c2=', now + 7200));
    await store.putConnection(record('count-user', 'gone=', now));
    await store.putConnection(record('count-user', 'older=', now - 3600));
    await store.putConnection(record('count-user-2', 'c1=', now + 7200));
    expect(await store.countLiveConnections('count-user', now)).toBe(2);
    expect(await store.countLiveConnections('count-user', now + 1)).toBe(1);
    expect(await store.countLiveConnections('nobody', now)).toBe(0);
  });

  it('wraps a DynamoDB failure in StoreUnavailableError naming the operation and cause', async () => {
    const missingTable = new DynamoDbConnectionStore(
      DynamoDBDocumentClient.from(db.client),
      'NoSuchTable',
    );
    const error = await missingTable.listConnectionIds('42', now).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).message).toMatch(
      /^connection store Query on NoSuchTable failed: ResourceNotFoundException: /,
    );
    expect((error as StoreUnavailableError).retryable).toBe(true);
  });

  it('writes nothing else: the rows put and not deleted, and a counter per user holding any', async () => {
    let rows = 0;
    const counters: Record<string, number> = {};
    for await (const page of paginateScan({ client: db.client }, { TableName: db.tableName })) {
      for (const item of page.Items ?? []) {
        const userId = item.userId?.S as string;
        if (item.connectionId?.S === counterSortKey(userId)) {
          counters[userId] = Number(item.connections?.N);
        } else {
          rows++;
        }
      }
    }
    // tabs (3) + other (1) + row (1) + ttl (2) + del (1) + owner (1) + paged (30) + count (5)
    expect(rows).toBe(44);
    // The paged rows were written around the store, uncounted.
    expect(counters).toEqual({
      'tabs-user': 3,
      'someone-else': 1,
      'row-user': 1,
      'ttl-user': 2,
      'del-user': 1,
      'owner-user': 1,
      'count-user': 4,
      'count-user-2': 1,
    });
  });
});

/** The user's counter item as the table holds it, or undefined. */
async function counterItem(userId: string) {
  const { Item } = await DynamoDBDocumentClient.from(db.client).send(
    new GetCommand({
      TableName: db.tableName,
      Key: { userId, connectionId: counterSortKey(userId) },
      ConsistentRead: true,
    }),
  );
  return Item;
}

/**
 * A store on a client of its own, whose `before` runs ahead of each request it sends (and may
 * throw in its place): to put a step between two of the store's requests.
 */
function storeWith(
  before: (command: string, input: Record<string, unknown>) => Promise<void> | void,
) {
  const client = observedClient(db.endpoint, before);
  onTestFinished(() => client.destroy());
  return new DynamoDbConnectionStore(DynamoDBDocumentClient.from(client), db.tableName);
}

describe("each user's connection counter", () => {
  it('adds every row put to the counter item, which no Query of the rows returns', async () => {
    const first = record('ctr-user', 'a=', now + 100);
    const last = record('ctr-user', 'c=', now + 300);
    expect(await store.putConnection(first)).toEqual({ connections: 1, changes: 1 });
    expect(await store.putConnection(record('ctr-user', 'b=', now + 200))).toEqual({
      connections: 2,
      changes: 2,
    });
    expect(await store.putConnection(last)).toEqual({ connections: 3, changes: 3 });

    // It outlives the rows it counted, so it expires once a user whose $disconnects were lost
    // has gone.
    expect(await counterItem('ctr-user')).toEqual({
      userId: 'ctr-user',
      connectionId: '#count#ctr-user',
      connections: 3,
      changes: 3,
      expiresAt: last.expiresAt + CONNECTION_TABLE_SCHEMA.counterExpiryMarginSeconds,
    });
    expect(await partitionKeysOf(db, 'ctr-user')).toEqual(['#count#ctr-user', 'a=', 'b=', 'c=']);
    expect((await store.listConnectionIds('ctr-user', now)).sort()).toEqual(['a=', 'b=', 'c=']);
    expect(await store.countLiveConnections('ctr-user', now)).toBe(3);
  });

  it('takes a removed row off it, once, and deletes it with the last row', async () => {
    await store.putConnection(record('ctr-del', 'a='));
    await store.putConnection(record('ctr-del', 'b='));

    expect(await store.deleteConnection('ctr-del', 'a=')).toBe(true);
    expect((await counterItem('ctr-del'))?.connections).toBe(1);
    // A repeated $disconnect, or a 410 after it: nothing removed, nothing taken off.
    expect(await store.deleteConnection('ctr-del', 'a=')).toBe(false);
    expect((await counterItem('ctr-del'))?.connections).toBe(1);
    expect(await store.deleteConnection('ctr-del', 'b=')).toBe(true);

    expect(await partitionKeysOf(db, 'ctr-del')).toEqual([]);
  });

  it('deletes a counter left below zero, by a row it never counted', async () => {
    await DynamoDBDocumentClient.from(db.client).send(
      new PutCommand({ TableName: db.tableName, Item: record('ctr-uncounted', 'a=') }),
    );
    expect(await store.deleteConnection('ctr-uncounted', 'a=')).toBe(true);
    expect(await partitionKeysOf(db, 'ctr-uncounted')).toEqual([]);
  });

  it('keeps the counter item a connect adds to between the decrement and its delete', async () => {
    await store.putConnection(record('ctr-race', 'leaving='));
    let connected = false;
    const racing = storeWith(async (command, input) => {
      // The counter is down to zero: a connect of the same user lands before it is deleted.
      if (command === 'DeleteItemCommand' && input.ConditionExpression && !connected) {
        connected = true;
        await store.putConnection(record('ctr-race', 'arriving='));
      }
    });

    expect(await racing.deleteConnection('ctr-race', 'leaving=')).toBe(true);

    expect(connected).toBe(true);
    expect(await store.listConnectionIds('ctr-race', now)).toEqual(['arriving=']);
    expect((await counterItem('ctr-race'))?.connections).toBe(1);
  });

  it('removes the row again, without a decrement, when the increment fails', async () => {
    await store.putConnection(record('ctr-inc-fails', 'held='));
    // The increment alone fails: a decrement after it would go through.
    let failed = false;
    const failing = storeWith((command) => {
      if (command === 'UpdateItemCommand' && !failed) {
        failed = true;
        throw new Error('injected: the counter cannot be written');
      }
    });

    const error = await failing
      .putConnection(record('ctr-inc-fails', 'new='))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/^connection store UpdateItem on Connections failed/);
    expect(await store.listConnectionIds('ctr-inc-fails', now)).toEqual(['held=']);
    expect((await counterItem('ctr-inc-fails'))?.connections).toBe(1);
  });

  it('says the row was removed when only the decrement fails; the counter stays one high', async () => {
    await store.putConnection(record('ctr-dec-fails', 'a='));
    const failing = storeWith((command) => {
      if (command === 'UpdateItemCommand')
        throw new Error('injected: the counter cannot be written');
    });

    const error = await failing.deleteConnection('ctr-dec-fails', 'a=').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(
      /^connection store UpdateItem on Connections failed: .*; the row was removed; the user's counter still counts it$/,
    );
    expect(await partitionKeysOf(db, 'ctr-dec-fails')).toEqual(['#count#ctr-dec-fails']);
    expect((await counterItem('ctr-dec-fails'))?.connections).toBe(1);
  });

  it('repairs the counter only if it has not changed since it was read, whatever its count', async () => {
    const seen = await store.putConnection(record('ctr-repair', 'a='));
    expect(await store.repairConnectionCount('ctr-repair', seen, 7)).toBe(true);
    expect(await counterItem('ctr-repair')).toMatchObject({ connections: 7, changes: 2 });

    // An increment and a decrement since: the count is as seen, the counter has changed.
    const before = await store.putConnection(record('ctr-repair', 'b='));
    await store.putConnection(record('ctr-repair', 'c='));
    await store.deleteConnection('ctr-repair', 'c=');
    expect((await counterItem('ctr-repair'))?.connections).toBe(before.connections);
    expect(await store.repairConnectionCount('ctr-repair', before, 2)).toBe(false);
    expect(await counterItem('ctr-repair')).toMatchObject({ connections: 8, changes: 5 });

    // No counter item: none is created.
    expect(await store.repairConnectionCount('ctr-none', { connections: 3, changes: 3 }, 1)).toBe(
      false,
    );
    expect(await partitionKeysOf(db, 'ctr-none')).toEqual([]);
  });
});
