import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { InvocationType, InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { apiGatewayId } from '../../local/ids';
import { startTestStack, type TestStack } from '../support/local-stack';
import { hs256Token } from '../support/tokens';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack();
});

afterAll(() => t.stop());

/** A message only this test sends, to tell its frames from any other test's. */
function note(label: string) {
  return { type: 'note', label, nonce: apiGatewayId() };
}

describe('send through the Lambda Invoke API', () => {
  test('a user with three tabs gets every message on each, another user gets none', async () => {
    // Prepare
    const tabs = await Promise.all([t.connect(301), t.connect(301), t.connect(301)]);
    const other = await t.connect(302);
    const messages = [note('first'), note('second')];

    // Act
    const results = [];
    for (const message of messages) results.push(await t.invokeSend({ userId: 301, message }));
    const marker = note('marker for 302');
    await t.invokeSend({ userId: 302, message: marker });

    // Assess
    expect(results.map((r) => r.body)).toEqual([
      { delivered: 3, stale: 0, failed: 0, seq: 1 },
      { delivered: 3, stale: 0, failed: 0, seq: 2 },
    ]);
    for (const tab of tabs) {
      expect([JSON.parse(await tab.next()), JSON.parse(await tab.next())]).toEqual(messages);
    }
    // The other user's first frame is its own marker: nothing addressed to 301 reached it.
    expect(JSON.parse(await other.next())).toEqual(marker);
  });

  test('numeric and string ids name the same user, in the token and in the payload', async () => {
    // Prepare: one token with sub 303 (a number, as TripSync's FastAPI signs), one with "303".
    const numeric = await t.connectWith(await hs256Token({ sub: 303 }, secretBytes()));
    const text = await t.connect('303');
    const byNumber = note('by number');
    const byString = note('by string');

    // Act
    const first = await t.invokeSend({ userId: 303, message: byNumber });
    const second = await t.invokeSend({ userId: '303', message: byString });

    // Assess
    // One user, one log: the second message is the user's seq 2.
    expect(first.body).toEqual({ delivered: 2, stale: 0, failed: 0, seq: 1 });
    expect(second.body).toEqual({ delivered: 2, stale: 0, failed: 0, seq: 2 });
    for (const client of [numeric, text]) {
      expect([JSON.parse(await client.next()), JSON.parse(await client.next())]).toEqual([
        byNumber,
        byString,
      ]);
    }
    expect((await numeric.whoami()).userId).toBe('303');
  });

  test('userIds fans out once per connection, with a per-user breakdown', async () => {
    // Prepare
    const a = await t.connect(311);
    const b1 = await t.connect(312);
    const b2 = await t.connect(312);
    const message = note('pool filled');

    // Act: 312 twice (as number and string) is one user; 313 has no connection.
    const result = await t.invokeSend({ userIds: [311, '312', 312, 313], message });

    // Assess
    expect(result.body).toEqual({
      delivered: 3,
      stale: 0,
      failed: 0,
      users: {
        '311': { delivered: 1, stale: 0, failed: 0, seq: 1 },
        '312': { delivered: 2, stale: 0, failed: 0, seq: 1 },
        '313': { delivered: 0, stale: 0, failed: 0, seq: 1 },
      },
    });
    for (const client of [a, b1, b2]) expect(JSON.parse(await client.next())).toEqual(message);
  });

  test('connectionId reaches that tab only', async () => {
    // Prepare
    const target = await t.connect(321);
    const sibling = await t.connect(321);
    const { connectionId } = await target.whoami();
    const direct = note('direct');

    // Act
    const result = await t.invokeSend({ connectionId, message: direct });
    const marker = note('marker');
    await t.invokeSend({ connectionId: (await sibling.whoami()).connectionId, message: marker });

    // Assess
    expect(result.body).toEqual({ delivered: 1, stale: 0, failed: 0 });
    expect(JSON.parse(await target.next())).toEqual(direct);
    expect(JSON.parse(await sibling.next())).toEqual(marker);
  });

  test('an Event invocation answers 202 and delivers in the background; DryRun delivers nothing', async () => {
    // Prepare
    const client = await t.connect(331);
    const dry = note('dry run');
    const event = note('event');

    // Act
    const dryRun = await t.invokeSend({ userId: 331, message: dry }, InvocationType.DryRun);
    const async = await t.invokeSend({ userId: 331, message: event }, InvocationType.Event);

    // Assess
    expect(dryRun.status).toBe(204);
    expect(async.status).toBe(202);
    expect(async.body).toBeUndefined();
    expect(JSON.parse(await client.next())).toEqual(event);
    await expect
      .poll(() => t.lines, { message: 'the Event invocation log line' })
      .toContainEqual(expect.stringContaining('Event  userId 331 → delivered 1'));
  });

  test('a row whose socket is gone is removed by the send that gets 410', async () => {
    // Prepare: a row as a lost $disconnect leaves it, inserted straight into DynamoDB.
    const live = await t.connect(341);
    const deadId = apiGatewayId();
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    await t.dynamo.send(
      new PutItemCommand({
        TableName: t.stack.tableName,
        Item: {
          userId: { S: '341' },
          connectionId: { S: deadId },
          connectedAt: { N: String(Date.now()) },
          expiresAt: { N: String(expiresAt) },
        },
      }),
    );
    const message = note('after a lost disconnect');

    // Act
    const result = await t.invokeSend({ userId: 341, message });

    // Assess
    expect(result.body).toEqual({ delivered: 1, stale: 1, failed: 0, seq: 1 });
    expect(JSON.parse(await live.next())).toEqual(message);
    const rows = (await t.rows()).filter((r) => r.userId === '341');
    expect(rows.map((r) => r.connectionId)).toEqual([(await live.whoami()).connectionId]);
  });

  test('errors come back as Lambda reports them', async () => {
    // Act
    const invalid = await t.invokeSend({ userId: 351 });
    const notJson = await t.invokeSend('{"userId": 351,').catch((error: unknown) => error);
    const unknown = await t.lambda
      .send(new InvokeCommand({ FunctionName: 'nope' }))
      .catch((error: unknown) => error);

    // Assess
    expect(invalid.status).toBe(200);
    expect(invalid.functionError).toBe('Unhandled');
    expect(invalid.body).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: 'message: is required',
      trace: expect.arrayContaining([expect.stringContaining('ValidationError')]),
    });
    expect(notJson).toMatchObject({
      name: 'InvalidRequestContentException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(unknown).toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
  });

  test('the function may be named by ARN, partial ARN or with $LATEST, not by another alias', async () => {
    // Prepare
    const names = [
      `arn:aws:lambda:${t.stack.region}:000000000000:function:send`,
      '000000000000:function:send',
      'send:$LATEST',
    ];
    const payload = JSON.stringify({ userId: 361, message: note('by arn') });

    // Act
    const accepted = await Promise.all(
      names.map((FunctionName) =>
        t.lambda.send(new InvokeCommand({ FunctionName, Payload: payload })),
      ),
    );
    const alias = await t.lambda
      .send(new InvokeCommand({ FunctionName: 'send:live', Payload: payload }))
      .catch((error: unknown) => error);

    // Assess
    expect(accepted.map((r) => [r.StatusCode, r.ExecutedVersion])).toEqual(
      names.map(() => [200, '$LATEST']),
    );
    expect(alias).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('client frames on $default', () => {
  test('ping gets pong and whoami the authorized user and connection, to the sender only', async () => {
    // Prepare
    const client = await t.connect(371);
    const sameUser = await t.connect(371);

    // Act
    client.send({ action: 'ping' });
    const pong = JSON.parse(await client.next());
    const whoami = await client.whoami();
    client.send('not json');
    const error = JSON.parse(await client.next());

    // Assess
    expect(pong).toEqual({ type: 'pong' });
    expect(whoami).toEqual({ type: 'whoami', userId: '371', connectionId: expect.any(String) });
    expect(whoami.connectionId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    expect(error).toMatchObject({ type: 'error', code: 'INVALID_JSON' });
    expect(sameUser.received).toEqual([]);
  });

  test('every row is gone once all clients leave', async () => {
    // Prepare
    const clients = await Promise.all([t.connect(381), t.connect(381), t.connect(382)]);
    const ids = await Promise.all(clients.map(async (c) => (await c.whoami()).connectionId));
    const mine = () => t.rows().then((rows) => rows.filter((r) => ids.includes(r.connectionId)));
    expect(await mine()).toHaveLength(3);

    // Act
    for (const client of clients) client.ws.close(1000);

    // Assess
    await expect.poll(mine, { message: 'rows removed' }).toEqual([]);
    for (const id of ids) {
      expect(await t.invocations.disconnectOf(id)).toMatchObject({ disconnectStatusCode: 1000 });
    }
  });
});

function secretBytes(): Uint8Array {
  return new TextEncoder().encode(t.stack.jwtSecret);
}
