import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type * as AuthorizerModule from '../../lambdas/authorizer';
import type * as ConnectModule from '../../lambdas/connect';
import type * as DefaultModule from '../../lambdas/default';
import type * as DisconnectModule from '../../lambdas/disconnect';
import type * as SendModule from '../../lambdas/send';
import { counterSortKey } from '../../lambdas/shared/connection-table-schema';
import { partitionKeysOf, startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { loadEvent } from '../support/fixtures';
import { captureOutput } from '../support/stdout';
import { hs256Token, TEST_SECRET } from '../support/tokens';

// The handler modules exactly as Lambda loads them: configured by environment variables at
// import, driven with API Gateway's captured event shapes, against dynalite and a real HTTP
// server speaking `@connections`.

let db: TestDynamoDb;
let api: FakeManagementApi;
let authorizer: typeof AuthorizerModule;
let connect: typeof ConnectModule;
let disconnect: typeof DisconnectModule;
let defaultRoute: typeof DefaultModule;
let send: typeof SendModule;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  db = await startDynamoDb();
  api = await startFakeManagementApi();
  Object.assign(process.env, {
    TABLE_NAME: db.tableName,
    MESSAGE_TABLE_NAME: db.messageTableName,
    DYNAMODB_ENDPOINT: db.endpoint,
    CONNECTIONS_ENDPOINT: api.endpoint,
    JWT_SECRET: TEST_SECRET,
    MAX_CONNECTIONS_PER_USER: '5',
    POST_TIMEOUT_MS: '500',
  });
  [authorizer, connect, disconnect, defaultRoute, send] = await Promise.all([
    import('../../lambdas/authorizer'),
    import('../../lambdas/connect'),
    import('../../lambdas/disconnect'),
    import('../../lambdas/default'),
    import('../../lambdas/send'),
  ]);
});
afterAll(async () => {
  await api.stop();
  await db.stop();
});
beforeEach(() => {
  // Quiet: the tests read the handlers' log lines here; they would only crowd npm test's output.
  output = captureOutput({ quiet: true });
});
afterEach(() => output.stop());

async function rowOf(userId: string, connectionId: string) {
  const result = await db.client.send(
    new GetItemCommand({
      TableName: db.tableName,
      Key: { userId: { S: userId }, connectionId: { S: connectionId } },
      ConsistentRead: true,
    }),
  );
  return result.Item;
}

function connectEvent(connectionId: string, userId: string | null) {
  const event = loadEvent('connect');
  event.requestContext.connectionId = connectionId;
  event.requestContext.connectedAt = Date.now();
  event.requestContext.authorizer =
    userId === null ? undefined : { principalId: userId, integrationLatency: 3, userId };
  return event;
}

describe('authorizer handler', () => {
  it('allows a valid token with a policy for the methodArn and the user in the context', async () => {
    const event = loadEvent('authorizer-request');
    event.queryStringParameters = { token: await hs256Token({ sub: 42 }) };
    const result = await authorizer.handler(event);
    expect(result).toEqual({
      principalId: '42',
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { userId: '42' },
    });
  });

  it('refuses a bad token with exactly "Unauthorized" (API Gateway: 401), and never logs the token', async () => {
    const event = loadEvent('authorizer-request');
    const token = await hs256Token({ exp: Math.floor(Date.now() / 1000) - 3600 });
    event.queryStringParameters = { token };
    await expect(authorizer.handler(event)).rejects.toThrow(/^Unauthorized$/);
    const warning = output.lines().find((line) => line.message === 'token rejected');
    expect(warning).toMatchObject({ level: 'WARN', reason: 'expired', handler: 'authorizer' });
    expect(output.text()).not.toContain(token);
    expect(output.text()).not.toContain(token.split('.')[2]);
  });

  it('refuses a token not bound to this API (no aud), logging why', async () => {
    const event = loadEvent('authorizer-request');
    event.queryStringParameters = { token: await hs256Token({ aud: undefined }) };
    await expect(authorizer.handler(event)).rejects.toThrow(/^Unauthorized$/);
    expect(output.lines().find((line) => line.message === 'token rejected')).toMatchObject({
      reason: 'wrong_audience',
      detail: 'token rejected (wrong_audience): missing required "aud" claim',
    });
  });

  it('refuses a handshake without a token', async () => {
    const event = loadEvent('authorizer-request');
    await expect(authorizer.handler(event)).rejects.toThrow(/^Unauthorized$/);
  });
});

describe('connect handler', () => {
  it('stores the authorized user with connectedAt and a TTL two hours out', async () => {
    const event = connectEvent('conn-ok=', '42');
    expect(await connect.handler(event)).toEqual({ statusCode: 200 });
    expect(await rowOf('42', 'conn-ok=')).toEqual({
      userId: { S: '42' },
      connectionId: { S: 'conn-ok=' },
      connectedAt: { N: String(event.requestContext.connectedAt) },
      expiresAt: { N: String(Math.floor(event.requestContext.connectedAt / 1000) + 7200) },
    });
  });

  it('takes the user from the authorizer only, never from the query string', async () => {
    const event = connectEvent('conn-q=', '42');
    event.queryStringParameters = { userId: '7', user_id: '7' };
    event.headers.userId = '7';
    expect(await connect.handler(event)).toEqual({ statusCode: 200 });
    expect(await rowOf('42', 'conn-q=')).toBeDefined();
    expect(await rowOf('7', 'conn-q=')).toBeUndefined();
  });

  it('refuses (403) and writes nothing without an authorizer context', async () => {
    const event = connectEvent('conn-anon=', null);
    event.queryStringParameters = { userId: '7' };
    expect(await connect.handler(event)).toEqual({ statusCode: 403, body: 'Forbidden' });
    expect(await rowOf('7', 'conn-anon=')).toBeUndefined();
  });

  it('refuses the connection past MAX_CONNECTIONS_PER_USER with 429, logging why, keeping no row', async () => {
    for (let i = 0; i < 5; i++) {
      expect(await connect.handler(connectEvent(`capped-${i}=`, 'capped'))).toEqual({
        statusCode: 200,
      });
    }
    expect(await connect.handler(connectEvent('capped-5=', 'capped'))).toEqual({
      statusCode: 429,
      body: 'Too Many Requests',
    });
    expect(await rowOf('capped', 'capped-5=')).toBeUndefined();
    expect(await rowOf('capped', 'capped-4=')).toBeDefined();
    // The refused connection was added to the counter, then taken off with its row.
    expect(await partitionKeysOf(db, 'capped')).toEqual([
      counterSortKey('capped'),
      ...Array.from({ length: 5 }, (_, i) => `capped-${i}=`),
    ]);
    expect((await rowOf('capped', counterSortKey('capped')))?.connections).toEqual({ N: '5' });
    expect(
      output.lines().find((l) => l.message === 'connection refused: too many live connections'),
    ).toMatchObject({
      level: 'WARN',
      handler: 'connect',
      connectionId: 'capped-5=',
      userId: 'capped',
      live: 6,
      limit: 5,
    });
  });

  it('accepts the real captured $connect event once an authorizer context is added', async () => {
    const event = loadEvent('connect');
    expect(await connect.handler(event)).toEqual({ statusCode: 200 });
    expect(await rowOf('42', event.requestContext.connectionId)).toBeDefined();
  });
});

describe('disconnect handler', () => {
  it("takes each row off the user's counter, and the last one deletes it", async () => {
    await connect.handler(connectEvent('tally-1=', 'tally'));
    await connect.handler(connectEvent('tally-2=', 'tally'));
    expect((await rowOf('tally', counterSortKey('tally')))?.connections).toEqual({ N: '2' });

    const disconnectEvent = (connectionId: string) => {
      const event = loadEvent('disconnect');
      event.requestContext.connectionId = connectionId;
      event.requestContext.authorizer = { principalId: 'tally', userId: 'tally' };
      return event;
    };
    expect(await disconnect.handler(disconnectEvent('tally-1='))).toEqual({ statusCode: 200 });
    expect((await rowOf('tally', counterSortKey('tally')))?.connections).toEqual({ N: '1' });
    // Repeated: no row, so nothing taken off.
    expect(await disconnect.handler(disconnectEvent('tally-1='))).toEqual({ statusCode: 200 });
    expect((await rowOf('tally', counterSortKey('tally')))?.connections).toEqual({ N: '1' });
    expect(await disconnect.handler(disconnectEvent('tally-2='))).toEqual({ statusCode: 200 });

    // Nothing of the user is left: no row, no counter item.
    expect(await partitionKeysOf(db, 'tally')).toEqual([]);
  });

  it('removes the row, and a repeated $disconnect still answers 200', async () => {
    await connect.handler(connectEvent('BFaT_fALIAMCKug=', '42'));
    const event = loadEvent('disconnect');
    expect(await disconnect.handler(event)).toEqual({ statusCode: 200 });
    expect(await rowOf('42', 'BFaT_fALIAMCKug=')).toBeUndefined();
    expect(await disconnect.handler(loadEvent('disconnect'))).toEqual({ statusCode: 200 });
  });

  it('without an authorizer context, finds the owner by connection id and removes the row', async () => {
    await connect.handler(connectEvent('disc-noctx=', '99'));
    const event = loadEvent('disconnect');
    event.requestContext.connectionId = 'disc-noctx=';
    delete event.requestContext.authorizer;
    expect(await disconnect.handler(event)).toEqual({ statusCode: 200 });
    expect(await rowOf('99', 'disc-noctx=')).toBeUndefined();
    expect(
      output
        .lines()
        .some((l) => l.message === 'disconnect without authorizer context; looking up the owner'),
    ).toBe(true);
  });
});

describe('default handler', () => {
  function frame(body: string | null, isBase64Encoded = false) {
    const event = loadEvent('message');
    event.requestContext.routeKey = '$default';
    event.body = body;
    event.isBase64Encoded = isBase64Encoded;
    return event;
  }

  it('replies pong to ping as the route response', async () => {
    expect(await defaultRoute.handler(frame('{"action":"ping"}'))).toEqual({
      statusCode: 200,
      body: '{"type":"pong"}',
    });
  });

  it('replies whoami with the authorized user and the connection', async () => {
    const reply = await defaultRoute.handler(frame('{"action":"whoami"}'));
    expect(JSON.parse(reply.body ?? '')).toEqual({
      type: 'whoami',
      userId: '42',
      connectionId: 'BFaT_fALIAMCKug=',
    });
  });

  it('replies with an error to the real captured chat message, and to non-JSON', async () => {
    expect(JSON.parse((await defaultRoute.handler(loadEvent('message'))).body ?? '')).toMatchObject(
      {
        type: 'error',
        code: 'UNKNOWN_ACTION',
      },
    );
    expect(JSON.parse((await defaultRoute.handler(frame('not json'))).body ?? '')).toMatchObject({
      type: 'error',
      code: 'INVALID_JSON',
    });
  });

  it('never writes to another connection, whatever the frame asks', async () => {
    api.posts.length = 0;
    await defaultRoute.handler(
      frame(JSON.stringify({ action: 'send', connectionId: 'victim=', message: { x: 1 } })),
    );
    await defaultRoute.handler(
      frame(JSON.stringify({ action: '$default', userId: '7', message: { x: 1 } })),
    );
    expect(api.posts).toEqual([]);
  });
});

describe('send handler', () => {
  it('delivers to every connection of the user and returns the counts', async () => {
    await connect.handler(connectEvent('send-a=', '500'));
    await connect.handler(connectEvent('send-b=', '500'));
    api.posts.length = 0;
    expect(
      await send.handler({ userId: 500, message: { type: 'driver_near', etaMinutes: 3 } }),
    ).toEqual({
      delivered: 2,
      stale: 0,
      failed: 0,
      seq: 1,
    });
    expect(api.posts.map((p) => p.body)).toEqual([
      '{"type":"driver_near","etaMinutes":3}',
      '{"type":"driver_near","etaMinutes":3}',
    ]);
  });

  it('fails the invocation with errorType ValidationError naming the field', async () => {
    const error = await send.handler({ userId: 500, message: 'hello' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'ValidationError',
      message: 'message: must be a JSON object, got string',
    });
  });
});
