import { createRequire } from 'node:module';
import { PutItemCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// dynalite 4 ends each Query and Scan stream with `iterator.return()`, which the iterators of its
// storage (abstract-level 3) lack: unpatched, none is closed and each stays referenced by its
// database. `patches/dynalite+4.0.0.patch` (patch-package, on install) makes it call `close()`.
// The iterator base class is taken from where dynalite resolves it, so this watches the very
// instances dynalite creates.
const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
const { AbstractIterator } = fromDynalite('abstract-level') as {
  AbstractIterator: { prototype: object };
};
const iteratorBase = Object.getPrototypeOf(AbstractIterator.prototype) as {
  close(): Promise<void>;
};

let db: TestDynamoDb;

beforeAll(async () => {
  db = await startDynamoDb();
  await db.client.send(
    new PutItemCommand({
      TableName: db.tableName,
      Item: { userId: { S: '42' }, connectionId: { S: 'AAAAAAAAAAAAAAA=' } },
    }),
  );
});

afterAll(async () => {
  await db?.stop();
});

describe('dynalite (patched)', () => {
  it('closes the storage iterator of every Query and Scan it answers', async () => {
    // Prepare
    const close = vi.spyOn(iteratorBase, 'close');
    const reads = 10;

    // Act
    for (let i = 0; i < reads / 2; i++) {
      await db.client.send(
        new QueryCommand({
          TableName: db.tableName,
          KeyConditionExpression: 'userId = :u',
          ExpressionAttributeValues: { ':u': { S: '42' } },
        }),
      );
      await db.client.send(new ScanCommand({ TableName: db.tableName }));
    }

    // Assess: the stream is destroyed after its last item, so allow the close to be scheduled.
    await vi.waitFor(() => expect(close.mock.calls.length).toBeGreaterThanOrEqual(reads));
    close.mockRestore();
  });
});
