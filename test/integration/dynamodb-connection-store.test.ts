import { GetItemCommand, paginateScan } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { StoreUnavailableError } from '../../lambdas/core/errors';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';

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

  it('writes nothing else: the table holds exactly the rows put and not deleted', async () => {
    let rows = 0;
    for await (const page of paginateScan(
      { client: db.client },
      { TableName: db.tableName, Select: 'COUNT' },
    )) {
      rows += page.Count ?? 0;
    }
    // tabs (3) + other (1) + row (1) + ttl (2) + del (1) + owner (1) + paged (30) + count (5)
    expect(rows).toBe(44);
  });
});
