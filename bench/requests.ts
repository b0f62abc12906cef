import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  counterSortKey,
  CONNECTION_TABLE_SCHEMA as schema,
} from '../lambdas/shared/connection-table-schema';
import { apiGatewayId } from '../local/ids';
import type { LocalBench } from './local-context';
import { eventually } from './wait';

/** DynamoDB requests of one operation, counted in the stack process. */
export interface RequestCount {
  /** Operations performed (connections opened, sends made, stale rows cleaned). */
  operations: number;
  /** Requests by API name, from SDK middleware on the handlers' own clients. */
  sdk: Record<string, number>;
  /** Requests by API name as dynalite received them (a cross-check of `sdk`). */
  wire: Record<string, number>;
  /** `sdk` requests per operation. */
  perOperation: number;
}

/** Request counts per operation, as the issue lists them. */
export interface RequestCounts {
  /** Per user of a `presence` query (users with and without connections alike). */
  presence: RequestCount;
  connect: RequestCount;
  /** Per `$disconnect` of a connection that is not its user's last. */
  disconnect: RequestCount;
  /** Per `$disconnect` of a user's last connection, which deletes the user's counter item. */
  lastDisconnect: RequestCount;
  sendToUser: RequestCount;
  sendToUsers: RequestCount;
  sendToConnection: RequestCount;
  /**
   * Per user of a logged send (the default), its message log requests only (each user's
   * connection Query excluded): read the head, put the message, move the head.
   */
  loggedMessage: RequestCount;
  /**
   * Per stale row of a `userId` send: its cleanup only (the send's own Query is excluded). The
   * user keeps a live connection, so no row is the user's last.
   */
  staleCleanupByUser: RequestCount;
  /**
   * Per stale row of a `connectionId` send: the owner lookup, the delete and the decrement (the
   * user keeps a live connection).
   */
  staleCleanupByConnection: RequestCount;
}

const total = (counts: Record<string, number>) =>
  Object.values(counts).reduce((sum, n) => sum + n, 0);

/**
 * Performs each operation `sample` times (or on `sample` users) with nothing else running, and
 * reads the counters the stack process keeps. Stale rows are inserted directly into the table
 * and added to their user's counter, as their `$connect` did (rows whose `$disconnect` was
 * lost: the socket is gone, the row is not).
 *
 * @example
 * const counts = await countRequests(bench, 20);
 * counts.connect.perOperation; // 2
 */
export async function countRequests(bench: LocalBench, sample: number): Promise<RequestCounts> {
  const measure = async (
    operations: number,
    act: () => Promise<void>,
    exclude: Record<string, number> = {},
  ): Promise<RequestCount> => {
    await bench.stack.reset();
    await act();
    const stats = await bench.stack.stats();
    const sdk = subtract(stats.sdkRequests, exclude);
    return {
      operations,
      sdk,
      wire: subtract(stats.wireRequests, exclude),
      perOperation: total(sdk) / operations,
    };
  };
  const message = { type: 'bench', note: 'request count' };

  // The connection table's figures are measured with `persist: false`; the log's separately.
  const owner = 'bench-requests';
  const connect = await measure(sample, async () => {
    await bench.connectUser(owner, sample, 1);
  });
  const sendToUser = await measure(1, async () => {
    await bench.invokeSend({ userId: owner, message, persist: false });
  });
  const users = Array.from({ length: sample }, (_, i) => `bench-requests-${i}`);
  await bench.connectUsers(users, 1);
  const sendToUsers = await measure(sample, async () => {
    await bench.invokeSend({ userIds: users, message, persist: false });
  });
  // Half of the users asked about have a connection, half have none: one Query each.
  const absent = Array.from({ length: sample }, (_, i) => `bench-requests-absent-${i}`);
  const presence = await measure(sample * 2, async () => {
    await bench.invoke('presence', { userIds: [...users, ...absent] });
  });
  // Each user's first logged message creates its head; the figure is for every later one.
  await bench.invokeSend({ userIds: users, message });
  const loggedMessage = await measure(
    sample,
    async () => {
      await bench.invokeSend({ userIds: users, message });
    },
    { Query: sample },
  );
  const [connectionId] = await bench.connectionIdsOf(owner);
  const sendToConnection = await measure(1, async () => {
    await bench.invokeSend({ connectionId, message });
  });

  // Each stale row's user keeps a live connection: a row that is not the user's last.
  const staleUser = 'bench-requests-stale';
  await bench.connectUser(staleUser, 1, 1);
  const staleIds = await insertOrphans(bench, staleUser, sample);
  const staleCleanupByUser = await measure(
    sample,
    async () => {
      await bench.invokeSend({ userId: staleUser, message, persist: false });
    },
    { Query: 1 },
  );
  await bench.connectUser('bench-requests-stale-2', 1, 1);
  const [orphan] = await insertOrphans(bench, 'bench-requests-stale-2', 1);
  const staleCleanupByConnection = await measure(1, async () => {
    await bench.invokeSend({ connectionId: orphan, message });
  });
  if (staleIds.length !== sample) throw new Error('stale rows were not inserted');

  // Closed newest first, each with its $disconnect: the stale users' and the users' connections
  // (each its user's last), then the connect sample's but its first, then that one.
  const close = (count: number) => async () => {
    await bench.fleet.close(count);
    await eventually(
      async () => ((await bench.stack.stats()).invocations.disconnect ?? 0) >= count,
      `${count} $disconnect invocations`,
    );
  };
  const lastDisconnect = await measure(sample + 2, close(sample + 2));
  const disconnect = await measure(sample - 1, close(sample - 1));
  await bench.stack.reset();
  await close(1)();
  return {
    presence,
    connect,
    disconnect,
    lastDisconnect,
    sendToUser,
    sendToUsers,
    sendToConnection,
    loggedMessage,
    staleCleanupByUser,
    staleCleanupByConnection,
  };
}

/**
 * Rows with no socket behind them, added to their user's counter as `$connect` adds a row,
 * written with this process's own client (not counted).
 */
async function insertOrphans(bench: LocalBench, userId: string, count: number) {
  const ids = Array.from({ length: count }, () => apiGatewayId());
  const now = Date.now();
  const TableName = bench.stack.info.tableName;
  for (const connectionId of ids) {
    await bench.dynamo.send(
      new PutItemCommand({
        TableName,
        Item: {
          [schema.partitionKey]: { S: userId },
          [schema.sortKey]: { S: connectionId },
          [schema.connectedAtAttribute]: { N: String(now) },
          [schema.ttlAttribute]: { N: String(Math.floor(now / 1000) + 3600) },
        },
      }),
    );
  }
  await bench.dynamo.send(
    new UpdateItemCommand({
      TableName,
      Key: {
        [schema.partitionKey]: { S: userId },
        [schema.sortKey]: { S: counterSortKey(userId) },
      },
      UpdateExpression: 'ADD #count :n, #changes :one',
      ExpressionAttributeNames: {
        '#count': schema.counterAttribute,
        '#changes': schema.counterChangesAttribute,
      },
      ExpressionAttributeValues: { ':n': { N: String(count) }, ':one': { N: '1' } },
    }),
  );
  return ids;
}

function subtract(counts: Record<string, number>, exclude: Record<string, number>) {
  const result: Record<string, number> = { ...counts };
  for (const [name, n] of Object.entries(exclude)) {
    result[name] = (result[name] ?? 0) - n;
    if (result[name] === 0) delete result[name];
  }
  return result;
}
