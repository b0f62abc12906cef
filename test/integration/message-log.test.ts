import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimSeqOf, DynamoDbMessageLog } from '../../lambdas/adapters/dynamodb-message-log';
import { DeliveryInProgressError, StoreUnavailableError } from '../../lambdas/core/errors';
import type { StoredMessage } from '../../lambdas/core/ports';
import { DELIVERY_CLAIM_GRACE_MS } from '../../lambdas/shared/limits';
import { MESSAGE_LOG_SCHEMA as schema } from '../../lambdas/shared/message-log-schema';
import { createMessageLogTable } from '../../local/connection-table';
import { LOCAL_CREDENTIALS, observedClient, startDynamoDb } from '../support/dynamodb';
import { startDynamoDbLocal } from '../support/dynamodb-local';

// The message log's sequence numbers rest on conditional writes. dynalite imitates DynamoDB's
// semantics; AWS's own DynamoDB Local implements them: every test runs against both.

const RETENTION = 3600;
const T0 = Date.UTC(2030, 0, 1);

interface Backend {
  client: DynamoDBClient;
  endpoint: string;
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
    // Prepare: 20 appends at once through 4 writers (containers), 5 each. Each round of the race
    // for the head lets one append win, so the requests grow with the square of the appends.
    const writers = [writer(), writer(), writer(), writer()];
    const n = 20;

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
  describe('a queued message delivered again (its delivery key)', () => {
    /** A delivery of queue message `id`, held by an invocation ending 30 s after `at`. */
    const delivery = (id: string, at = T0) => ({ key: `sqs:${id}`, heldUntil: at + 30_000 });
    const stored = async (userId: string) => {
      const log = writer();
      const head = await log.head(userId, T0 / 1000);
      return all(log.messagesAfter(userId, 0, head.last, 1000));
    };

    it('is logged once: a redelivery gets the first seq back, and the log no item more', async () => {
      // Prepare: the message logged by its first delivery, then another message to the user.
      const first = await writer().append('redelivered', '{"q":1}', T0, delivery('m1'));
      await writer().append('redelivered', '{"other":1}', T0 + 10);

      // Act: delivered again a minute later, by another container.
      const again = await writer().append(
        'redelivered',
        '{"q":1}',
        T0 + 60_000,
        delivery('m1', T0 + 60_000),
      );
      const next = await writer().append('redelivered', '{"q":2}', T0 + 60_000, delivery('m2'));

      // Assess
      expect(first).toEqual({ seq: 1, epoch: first.epoch });
      expect(again).toEqual({ seq: 1, epoch: first.epoch, redelivered: true });
      expect(next).toEqual({ seq: 3, epoch: first.epoch });
      expect((await stored('redelivered')).map((m) => [m.seq, m.messageJson])).toEqual([
        [1, '{"q":1}'],
        [2, '{"other":1}'],
        [3, '{"q":2}'],
      ]);
    });

    it('finds a message whose writer died between its put and the head, and publishes it', async () => {
      // Prepare: one message logged; then a delivery that claimed m-dead, put its message at
      // seq 2 and died before moving the head.
      const { epoch } = await writer().append('died-after-put', '{"k":1}', T0);
      await putClaim('died-after-put', 'sqs:m-dead', { after: 1, epoch, heldUntil: T0 + 1000 });
      await documents.send(
        new PutCommand({
          TableName: 'MessageLog',
          Item: {
            userId: 'died-after-put',
            seq: 2,
            epoch,
            message: '{"k":"dead"}',
            deliveryKey: 'sqs:m-dead',
            loggedAt: T0,
            expiresAt: T0 / 1000 + RETENTION,
          },
        }),
      );
      const before = await writer().head('died-after-put', T0 / 1000);

      // Act: the redelivery, before the dead holder's deadline has even passed.
      const again = await writer().append(
        'died-after-put',
        '{"k":"dead"}',
        T0 + 500,
        delivery('m-dead', T0 + 500),
      );

      // Assess: the same seq, now published; nothing logged twice.
      expect(before.last).toBe(1);
      expect(again).toEqual({ seq: 2, epoch, redelivered: true });
      expect(await writer().head('died-after-put', T0 / 1000)).toEqual({ epoch, last: 2 });
      expect((await stored('died-after-put')).map((m) => m.seq)).toEqual([1, 2]);
    });

    it('waits while the claim may still be held, then takes over a claim whose holder died before logging', async () => {
      // Prepare: a delivery that claimed m-held (its invocation ends at T0 + 30 s) and died
      // before putting its message.
      const { epoch } = await writer().append('died-after-claim', '{"k":1}', T0);
      await putClaim('died-after-claim', 'sqs:m-held', { after: 1, epoch, heldUntil: T0 + 30_000 });
      const deadline = T0 + 30_000 + DELIVERY_CLAIM_GRACE_MS;

      // Act
      const early = await writer()
        .append('died-after-claim', '{"k":2}', deadline - 1, delivery('m-held', deadline - 1))
        .catch((e: unknown) => e);
      const late = await writer().append(
        'died-after-claim',
        '{"k":2}',
        deadline,
        delivery('m-held', deadline),
      );
      const again = await writer().append(
        'died-after-claim',
        '{"k":2}',
        deadline + 1,
        delivery('m-held', deadline + 1),
      );

      // Assess: refused while the holder may run; then logged once, and found again after.
      expect(early).toBeInstanceOf(DeliveryInProgressError);
      expect((early as Error).message).toBe(
        'sqs:m-held is being logged for user died-after-claim by another delivery; retry after it ends',
      );
      expect(late).toEqual({ seq: 2, epoch });
      expect(again).toEqual({ seq: 2, epoch, redelivered: true });
      expect((await stored('died-after-claim')).map((m) => [m.seq, m.messageJson])).toEqual([
        [1, '{"k":1}'],
        [2, '{"k":2}'],
      ]);
    });

    it('releases its claim when it could not log the message: the redelivery logs at once', async () => {
      // Prepare: a container whose puts of messages fail (a throttle, say), and one whose work.
      const failing = new DynamoDbMessageLog(
        DynamoDBDocumentClient.from(clientFailingMessagePuts()),
        'MessageLog',
        RETENTION,
      );

      // Act
      const failed = await failing
        .append('released', '{"r":1}', T0, delivery('m-released'))
        .catch((e: unknown) => e);
      const retried = await writer().append(
        'released',
        '{"r":1}',
        T0 + 1000,
        delivery('m-released', T0 + 1000),
      );

      // Assess: the retry came before the first holder's deadline, and was not kept waiting.
      expect(failed).toBeInstanceOf(StoreUnavailableError);
      expect(retried).toMatchObject({ seq: 1 });
      expect(retried.redelivered).toBeUndefined();
      expect((await stored('released')).map((m) => m.messageJson)).toEqual(['{"r":1}']);
    });

    it('lets one of concurrent deliveries of a message log it; the others get its seq or wait', async () => {
      // Prepare: SQS delivers one message to 8 containers at once, while other messages arrive.
      const writers = Array.from({ length: 8 }, () => writer());

      // Act
      const outcomes = await Promise.allSettled([
        ...writers.map((w) => w.append('duplicates', '{"d":1}', T0, delivery('m-dup'))),
        ...[1, 2, 3].map((n) => writer().append('duplicates', `{"o":${n}}`, T0)),
      ]);
      const retried = await writer().append(
        'duplicates',
        '{"d":1}',
        T0 + 40_000,
        delivery('m-dup', T0 + 40_000),
      );

      // Assess: the message is in the log once; every delivery that answered has its seq.
      const messages = await stored('duplicates');
      const logged = messages.filter((m) => m.messageJson === '{"d":1}');
      expect(logged).toHaveLength(1);
      expect(messages).toHaveLength(4);
      const ofDup = outcomes.slice(0, writers.length);
      for (const outcome of ofDup) {
        if (outcome.status === 'fulfilled') expect(outcome.value.seq).toBe(logged[0]?.seq);
        else expect(outcome.reason).toBeInstanceOf(DeliveryInProgressError);
      }
      expect(ofDup.some((o) => o.status === 'fulfilled')).toBe(true);
      expect(retried).toMatchObject({ seq: logged[0]?.seq, redelivered: true });
    }, 60_000);

    it('logs a message whose claim slot another key holds, without the key', async () => {
      // Prepare: a claim of another key at m-clash's slot (what a 52-bit hash collision would be).
      const { epoch } = await writer().append('clash', '{"c":0}', T0);
      await putClaim('clash', 'sqs:someone-else', {
        after: 1,
        epoch,
        heldUntil: T0 + 30_000,
        seq: claimSeqOf('sqs:m-clash'),
      });

      // Act
      const logged = await writer().append('clash', '{"c":1}', T0, delivery('m-clash'));

      // Assess
      expect(logged).toEqual({ seq: 2, epoch });
    });

    it('costs one write more than a plain append, and four requests for a redelivery', async () => {
      // Prepare: the requests as the SDK sends them, counted on a client of our own.
      const { client, commands } = countingClient();
      const log = new DynamoDbMessageLog(
        DynamoDBDocumentClient.from(client),
        'MessageLog',
        RETENTION,
      );
      await log.append('costs', '{"warm":1}', T0);

      // Act
      commands.length = 0;
      await log.append('costs', '{"plain":1}', T0);
      const plain = commands.splice(0);
      await log.append('costs', '{"queued":1}', T0, delivery('m-cost'));
      const first = commands.splice(0);
      await log.append('costs', '{"queued":1}', T0 + 1000, delivery('m-cost', T0 + 1000));
      const again = commands.splice(0);
      client.destroy();

      // Assess
      expect(plain).toEqual(['GetItemCommand', 'PutItemCommand', 'UpdateItemCommand']);
      expect(first).toEqual([
        'GetItemCommand',
        'PutItemCommand',
        'PutItemCommand',
        'UpdateItemCommand',
      ]);
      expect(again).toEqual(['GetItemCommand', 'PutItemCommand', 'GetItemCommand', 'QueryCommand']);
    });

    /** Writes a claim as a delivery that stopped after claiming would have left it. */
    async function putClaim(
      userId: string,
      key: string,
      claim: { after: number; epoch: string; heldUntil: number; seq?: number },
    ) {
      await documents.send(
        new PutCommand({
          TableName: 'MessageLog',
          Item: {
            userId,
            seq: claim.seq ?? claimSeqOf(key),
            deliveryKey: key,
            after: claim.after,
            epoch: claim.epoch,
            heldUntil: claim.heldUntil,
            expiresAt: T0 / 1000 + 4 * 86_400,
          },
        }),
      );
    }

    /** An SDK client of the backend whose `PutItem`s of messages (seq ≥ 1) fail. */
    function clientFailingMessagePuts(): DynamoDBClient {
      const client = new DynamoDBClient({
        endpoint: backend.endpoint,
        region: 'us-east-1',
        credentials: LOCAL_CREDENTIALS,
        maxAttempts: 1,
      });
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const item = (args.input as { Item?: { seq?: { N?: string } } }).Item;
          if (context.commandName === 'PutItemCommand' && Number(item?.seq?.N) >= 1) {
            throw Object.assign(new Error('Throughput exceeds the current capacity'), {
              name: 'ProvisionedThroughputExceededException',
            });
          }
          return next(args);
        },
        { step: 'build', name: 'failMessagePuts' },
      );
      return client;
    }

    /** An SDK client of the backend that records the name of every command it sends. */
    function countingClient(): { client: DynamoDBClient; commands: string[] } {
      const commands: string[] = [];
      const client = observedClient(backend.endpoint, (command) => {
        commands.push(command);
      });
      return { client, commands };
    }
  });
});
