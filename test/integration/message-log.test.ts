import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbMessageLog } from '../../lambdas/adapters/dynamodb-message-log';
import { StoreUnavailableError } from '../../lambdas/core/errors';
import type { StoredMessage } from '../../lambdas/core/ports';
import { MESSAGE_LOG_SCHEMA as schema } from '../../lambdas/shared/message-log-schema';
import { createMessageLogTable } from '../../local/connection-table';
import { startDynamoDb } from '../support/dynamodb';
import { startDynamoDbLocal } from '../support/dynamodb-local';

// The message log's sequence numbers rest on conditional writes. dynalite imitates DynamoDB's
// semantics; AWS's own DynamoDB Local implements them: every test runs against both.

const RETENTION = 3600;
const T0 = Date.UTC(2030, 0, 1);

interface Backend {
  client: DynamoDBClient;
  stop(): Promise<void>;
}

const BACKENDS: Record<string, () => Promise<Backend>> = {
  dynalite: async () => startDynamoDb(),
  'DynamoDB Local': async () => {
    const local = await startDynamoDbLocal();
    await createMessageLogTable(local.client, 'MessageLog');
    return local;
  },
};

async function all(iterable: AsyncIterable<StoredMessage>): Promise<StoredMessage[]> {
  const items: StoredMessage[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(Object.keys(BACKENDS))('the message log on %s', (name) => {
  let backend: Backend;
  let documents: DynamoDBDocumentClient;
  /** A new store over its own SDK client: a writer in another Lambda container. */
  const writer = () =>
    new DynamoDbMessageLog(DynamoDBDocumentClient.from(backend.client), 'MessageLog', RETENTION);

  beforeAll(async () => {
    backend = await (BACKENDS[name] as () => Promise<Backend>)();
    documents = DynamoDBDocumentClient.from(backend.client);
  }, 90_000);
  afterAll(() => backend?.stop());

  it('numbers a user’s messages 1, 2, 3 in one epoch and stores each verbatim', async () => {
    // Prepare
    const log = writer();

    // Act
    const appended = [];
    for (let i = 0; i < 3; i++) appended.push(await log.append('seq-user', `{"i":${i}}`, T0 + i));
    const head = await log.head('seq-user', T0 / 1000);
    const stored = await all(log.messagesAfter('seq-user', 0, head.last, 1000));

    // Assess
    const { epoch } = appended[0] as { epoch: string };
    expect(epoch).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(appended).toEqual([1, 2, 3].map((seq) => ({ seq, epoch })));
    expect(head).toEqual({ epoch, last: 3 });
    expect(stored.map((m) => [m.seq, m.epoch, m.messageJson])).toEqual([
      [1, epoch, '{"i":0}'],
      [2, epoch, '{"i":1}'],
      [3, epoch, '{"i":2}'],
    ]);
    expect(stored[0]?.expiresAt).toBe(T0 / 1000 + RETENTION);
    // Another user's log is separate.
    expect(await log.head('nobody', T0 / 1000)).toEqual({ epoch: null, last: 0 });
  });

  it('gives concurrent appends to one user dense seqs 1..N, each message exactly once', async () => {
    // Prepare: 40 appends at once through 4 writers (containers), 10 each.
    const writers = [writer(), writer(), writer(), writer()];
    const n = 40;

    // Act
    const results = await Promise.all(
      range(1, n).map((i) =>
        (writers[i % 4] as DynamoDbMessageLog).append('busy', `{"n":${i}}`, T0),
      ),
    );
    const head = await writers[0]?.head('busy', T0 / 1000);
    const stored = await all((writers[0] as DynamoDbMessageLog).messagesAfter('busy', 0, n, 1000));

    // Assess: no seq twice, none skipped, one epoch; every message stored once, at its seq.
    expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(range(1, n));
    expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
    expect(head?.last).toBe(n);
    expect(stored.map((m) => m.seq)).toEqual(range(1, n));
    expect(stored.map((m) => m.messageJson).sort()).toEqual(
      range(1, n)
        .map((i) => `{"n":${i}}`)
        .sort(),
    );
    results.forEach((result, index) => {
      expect(stored[result.seq - 1]?.messageJson).toBe(`{"n":${index + 1}}`);
    });
  }, 60_000);

  it('leaves no hole when a writer stops between its two writes: the next one publishes it', async () => {
    // Prepare: two appends, then a writer that put seq 3 and died before moving the head.
    const log = writer();
    await log.append('crash', '{"k":1}', T0);
    const { epoch } = await log.append('crash', '{"k":2}', T0);
    await documents.send(
      new PutCommand({
        TableName: 'MessageLog',
        Item: {
          userId: 'crash',
          seq: 3,
          epoch,
          message: '{"k":"dead writer"}',
          loggedAt: T0,
          expiresAt: T0 / 1000 + RETENTION,
        },
      }),
    );
    const before = await log.head('crash', T0 / 1000);

    // Act
    const next = await writer().append('crash', '{"k":4}', T0);
    const head = await log.head('crash', T0 / 1000);
    const stored = await all(log.messagesAfter('crash', 0, head.last, 1000));

    // Assess: readers never saw seq 3 before it was published, and see it, whole, after.
    expect(before).toEqual({ epoch, last: 2 });
    expect(next).toEqual({ seq: 4, epoch });
    expect(head).toEqual({ epoch, last: 4 });
    expect(stored.map((m) => [m.seq, m.messageJson])).toEqual([
      [1, '{"k":1}'],
      [2, '{"k":2}'],
      [3, '{"k":"dead writer"}'],
      [4, '{"k":4}'],
    ]);
  });

  it('reads only up to the head: a message not yet published is not replayed', async () => {
    // Prepare: a writer is between its put of seq 2 and its head update.
    const log = writer();
    const { epoch } = await log.append('pending', '{"p":1}', T0);
    await documents.send(
      new PutCommand({
        TableName: 'MessageLog',
        Item: { userId: 'pending', seq: 2, epoch, message: '{"p":2}', expiresAt: T0 / 1000 + 60 },
      }),
    );

    // Act
    const head = await log.head('pending', T0 / 1000);
    const stored = await all(log.messagesAfter('pending', 0, head.last, 1000));

    // Assess
    expect(head.last).toBe(1);
    expect(stored.map((m) => m.seq)).toEqual([1]);
  });

  it('restarts the sequence in a new epoch only once the head has expired', async () => {
    // Prepare: two messages at T0. The head outlives the newest message by one retention.
    const log = writer();
    const first = await log.append('restart', '{"old":1}', T0);
    await log.append('restart', '{"old":2}', T0);
    const messagesExpired = T0 + (RETENTION + 1) * 1000;
    const headExpired = T0 + (2 * RETENTION + 1) * 1000;

    // Act
    const whileHeadLives = await log.head('restart', messagesExpired / 1000);
    const afterHead = await log.head('restart', headExpired / 1000);
    const restarted = await log.append('restart', '{"new":1}', headExpired);
    const head = await log.head('restart', headExpired / 1000);
    const stored = await all(log.messagesAfter('restart', 0, head.last, 1000));

    // Assess: the old epoch's seq 1, still stored (TTL lags), was replaced by the new one's.
    expect(whileHeadLives).toEqual({ epoch: first.epoch, last: 2 });
    expect(afterHead).toEqual({ epoch: null, last: 0 });
    expect(restarted.seq).toBe(1);
    expect(restarted.epoch).not.toBe(first.epoch);
    expect(head).toEqual({ epoch: restarted.epoch, last: 1 });
    expect(stored.map((m) => [m.seq, m.epoch, m.messageJson])).toEqual([
      [1, restarted.epoch, '{"new":1}'],
    ]);
  });

  it('starts a new epoch when the head is lost, overwriting the old epoch’s messages', async () => {
    // Prepare: three messages, then the head item is gone (deleted by hand, say).
    const log = writer();
    const old = await log.append('lost', '{"o":1}', T0);
    await log.append('lost', '{"o":2}', T0);
    await log.append('lost', '{"o":3}', T0);
    await documents.send(
      new DeleteCommand({ TableName: 'MessageLog', Key: { userId: 'lost', seq: schema.headSeq } }),
    );

    // Act
    const a = await log.append('lost', '{"n":1}', T0);
    const b = await log.append('lost', '{"n":2}', T0);
    const head = await log.head('lost', T0 / 1000);
    const stored = await all(log.messagesAfter('lost', 0, head.last, 1000));

    // Assess: the old seq 1 and 2 are overwritten; its seq 3 stays past `last`, never read.
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a.epoch).toBe(b.epoch);
    expect(a.epoch).not.toBe(old.epoch);
    expect(stored.map((m) => [m.seq, m.epoch, m.messageJson])).toEqual([
      [1, a.epoch, '{"n":1}'],
      [2, a.epoch, '{"n":2}'],
    ]);
  });

  it('pages the read: one Query per page, in seq order, and stops when the caller does', async () => {
    // Prepare
    const log = writer();
    for (let i = 1; i <= 25; i++) await log.append('pages', `{"i":${i}}`, T0);

    // Act: pages of 10; the caller stops after 12 messages.
    const seen: number[] = [];
    for await (const message of log.messagesAfter('pages', 5, 25, 10)) {
      seen.push(message.seq);
      if (seen.length === 12) break;
    }

    // Assess
    expect(seen).toEqual(range(6, 17));
    expect((await all(log.messagesAfter('pages', 20, 25, 10))).map((m) => m.seq)).toEqual(
      range(21, 25),
    );
    expect(await all(log.messagesAfter('pages', 25, 25, 10))).toEqual([]);
  });

  it('wraps a DynamoDB failure in StoreUnavailableError naming the message log and operation', async () => {
    // Prepare
    const missing = new DynamoDbMessageLog(
      DynamoDBDocumentClient.from(backend.client),
      'NoSuchTable',
      RETENTION,
    );

    // Act
    const error = await missing.append('42', '{}', T0).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(
      /^message log GetItem on NoSuchTable failed: ResourceNotFoundException/,
    );
  });
});
