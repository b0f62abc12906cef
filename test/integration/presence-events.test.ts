import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { registerConnection } from '../../lambdas/core/connections';
import type { PresencePublisher } from '../../lambdas/core/ports';
import { announcePresenceChange } from '../../lambdas/core/presence';
import type { PresenceChangeDetail } from '../../lambdas/shared/eventbridge';
import { captureLog } from '../support/capture-log';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// Who announces a user coming online when first connections race, against a real DynamoDB API
// (dynalite): each connect reads the rows after its own write (the cap's Query), and the oldest
// live connection announces. The publisher records what would be put on EventBridge (the
// EventBridge path itself runs in test/e2e/presence.test.ts).

let db: TestDynamoDb;
let store: DynamoDbConnectionStore;
beforeAll(async () => {
  db = await startDynamoDb();
  store = new DynamoDbConnectionStore(DynamoDBDocumentClient.from(db.client), db.tableName);
});
afterAll(() => db.stop());

const T0 = Date.now();

function recordingPublisher(): PresencePublisher & { published: PresenceChangeDetail[] } {
  const published: PresenceChangeDetail[] = [];
  return { published, publish: async (detail) => void published.push(detail) };
}

/** `$connect` of `connectionId`, handshaken at `connectedAt`, its cap's read as it happened. */
async function connect(userId: string, connectionId: string, connectedAt: number) {
  const { log } = captureLog();
  const registered = await registerConnection(
    { connectionId, connectedAt, authorizer: { userId } },
    { store, log, ttlSeconds: 7200, maxConnectionsPerUser: 20, readLiveRows: true },
  );
  if (!registered.live) throw new Error('readLiveRows: the rows must come back with the record');
  return { ...registered, live: registered.live };
}

async function announce(
  userId: string,
  connectionId: string,
  live: Pick<Awaited<ReturnType<typeof connect>>, 'live' | 'readAt'>,
  publisher: PresencePublisher,
) {
  const { log } = captureLog();
  return announcePresenceChange(
    {
      kind: 'connected',
      userId,
      connectionId,
      live: { connections: live.live, readAt: live.readAt },
    },
    { store, publisher, log },
  );
}

describe('the online event of racing first connections', () => {
  it('comes from the oldest when each read saw the other', async () => {
    // Prepare: both rows written before either read, so both reads see both.
    const publisher = recordingPublisher();
    await Promise.all([connect('race-both', 'older=', T0), connect('race-both', 'newer=', T0 + 5)]);
    const readAt = Date.now();
    const seenBoth = {
      live: await store.listConnections('race-both', Math.floor(readAt / 1000)),
      readAt,
    };

    // Act
    const results = [
      await announce('race-both', 'newer=', seenBoth, publisher),
      await announce('race-both', 'older=', seenBoth, publisher),
    ];

    // Assess: exactly one event, the older connection's.
    expect(seenBoth.live).toHaveLength(2);
    expect(results).toEqual([
      { published: false, failed: false },
      { published: true, failed: false },
    ]);
    expect(publisher.published).toEqual([
      { userId: 'race-both', online: true, connections: 2, observedAt: expect.any(String) },
    ]);
  });

  it('comes from each connection whose read missed every older row (never from none)', async () => {
    // Prepare: the newer connection's read ran before the older one's row landed.
    const publisher = recordingPublisher();
    const newer = await connect('race-missed', 'newer=', T0 + 5);
    const older = await connect('race-missed', 'older=', T0);

    // Act
    await announce('race-missed', 'newer=', newer, publisher);
    await announce('race-missed', 'older=', older, publisher);

    // Assess: both announce; a consumer keeps the latest observedAt.
    expect(newer.live.map((c) => c.connectionId)).toEqual(['newer=']);
    expect(publisher.published.map((d) => [d.online, d.connections])).toEqual([
      [true, 1],
      [true, 2],
    ]);
  });

  it('breaks a tie of connectedAt by connection id, so one of two announces', async () => {
    // Prepare
    const publisher = recordingPublisher();
    await connect('race-tie', 'bbbb=', T0);
    const read = await connect('race-tie', 'aaaa=', T0);

    // Act
    await announce('race-tie', 'bbbb=', read, publisher);
    await announce('race-tie', 'aaaa=', read, publisher);

    // Assess
    expect(publisher.published).toHaveLength(1);
  });
});
