import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../local/eventbridge-api';
import { startTestStack, type TestStack } from '../support/local-stack';

// presence through the local Lambda Invoke API, as producers call it, against the same table the
// connections write; and the presence-change events connect and disconnect put on the bus.

let t: TestStack;
const events: BusEvent[] = [];

beforeAll(async () => {
  t = await startTestStack({ presenceEvents: true, onEvent: (event) => events.push(event) });
});
afterAll(() => t?.stop());

async function presence(payload: unknown) {
  const response = await t.lambda.send(
    new InvokeCommand({ FunctionName: 'presence', Payload: JSON.stringify(payload) }),
  );
  return {
    functionError: response.FunctionError,
    body: JSON.parse(new TextDecoder().decode(response.Payload)),
  };
}

async function row(userId: string, connectionId: string, expiresInSeconds: number) {
  const now = Date.now();
  await t.dynamo.send(
    new PutItemCommand({
      TableName: t.stack.tableName,
      Item: {
        userId: { S: userId },
        connectionId: { S: connectionId },
        connectedAt: { N: String(now) },
        expiresAt: { N: String(Math.floor(now / 1000) + expiresInSeconds) },
      },
    }),
  );
}

describe('presence', () => {
  it('counts live connections per user, ids normalised like send, expired rows left out', async () => {
    // Prepare
    await t.connect('42');
    await t.connect('42');
    await row('42', 'ExpiredRow00000=', -60); // past its TTL, not yet deleted by DynamoDB
    await row('99', 'ExpiredRow00001=', -60);

    // Act
    const { body, functionError } = await presence({ userIds: ['42', 42, 7, '99'] });

    // Assess
    expect(functionError).toBeUndefined();
    expect(body).toEqual({ online: { '42': 2, '7': 0, '99': 0 } });
  });

  it('sees a connection as soon as its handshake completed (strongly consistent)', async () => {
    // Act: the query right after the handshake, no wait.
    await t.connect('just-now');
    const { body } = await presence({ userIds: ['just-now'] });

    // Assess
    expect(body).toEqual({ online: { 'just-now': 1 } });
  });

  it('answers 1,000 users, and refuses 1,001 with a ValidationError naming userIds', async () => {
    // Prepare
    const ids = Array.from({ length: 1001 }, (_, i) => `bulk-${i}`);

    // Act
    const thousand = await presence({ userIds: ids.slice(0, 1000) });
    const tooMany = await presence({ userIds: ids });

    // Assess
    expect(Object.keys(thousand.body.online)).toHaveLength(1000);
    expect(tooMany).toEqual({
      functionError: 'Unhandled',
      body: expect.objectContaining({
        errorType: 'ValidationError',
        errorMessage: 'userIds: must hold at most 1000 ids, got 1001',
      }),
    });
  });

  it.each([
    [{ userIds: ['42', ''] }, 'userIds[1]: must not be empty'],
    [{ userId: '42' }, 'payload.userId: unknown field; expected userIds'],
    [{}, 'userIds: is required'],
  ])('refuses %j, naming the field', async (payload, message) => {
    const { functionError, body } = await presence(payload);
    expect(functionError).toBe('Unhandled');
    expect(body).toMatchObject({ errorType: 'ValidationError', errorMessage: message });
  });
});

describe('presence-change events (presenceEvents on)', () => {
  it("announces a user's first connection and last close, not the ones between", async () => {
    // Prepare
    const of = (userId: string) =>
      events.filter(
        (e) => e['detail-type'] === 'TripSync Presence Changed' && e.detail.userId === userId,
      );

    // Act
    const first = await t.connect('presence-user');
    await expect.poll(() => of('presence-user'), { message: 'the online event' }).toHaveLength(1);
    const second = await t.connect('presence-user');
    const { connectionId: secondId } = await second.whoami();
    const { connectionId: firstId } = await first.whoami();
    first.ws.close();
    await t.invocations.disconnectOf(firstId);
    second.ws.close();
    await t.invocations.disconnectOf(secondId);
    await expect.poll(() => of('presence-user'), { message: 'the offline event' }).toHaveLength(2);

    // Assess
    expect(of('presence-user').map((e) => [e.source, e.detail])).toEqual([
      [
        'tripsync.realtime',
        { userId: 'presence-user', online: true, connections: 1, observedAt: expect.any(String) },
      ],
      [
        'tripsync.realtime',
        { userId: 'presence-user', online: false, connections: 0, observedAt: expect.any(String) },
      ],
    ]);
    // Not routed into the notification queue: only TripSync Notification events are.
    expect(t.invocations.of('sendQueue')).toEqual([]);
  });
  it('announces a user coming online at least once when several tabs connect at once', async () => {
    // Prepare
    const online = () =>
      events.filter(
        (e) =>
          e['detail-type'] === 'TripSync Presence Changed' &&
          e.detail.userId === 'presence-race' &&
          e.detail.online === true,
      );

    // Act: six first connections racing; then a seventh while they are open.
    const tabs = await Promise.all(Array.from({ length: 6 }, () => t.connect('presence-race')));
    const announced = online().length;
    const seventh = await t.connect('presence-race');
    const { body } = await presence({ userIds: ['presence-race'] });

    // Assess: never zero (the oldest always announces), and a connection of a user already
    // online announces nothing.
    expect(announced).toBeGreaterThanOrEqual(1);
    expect(announced).toBeLessThanOrEqual(6);
    expect(online()).toHaveLength(announced);
    expect(body).toEqual({ online: { 'presence-race': 7 } });
    for (const tab of [...tabs, seventh]) tab.ws.close();
  });
});
