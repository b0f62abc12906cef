import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { apiGatewayId } from '../../local/ids';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { loadEvent } from '../support/fixtures';
import { openClient, refusedWith } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { hs256Token, unsignedToken } from '../support/tokens';

let t: TestStack;
/** Per-test switches for the wrapped handlers below; each test sets and resets its own. */
const behaviour: {
  authorizer?: 'deny' | 'fail';
  connectStatus?: number;
  connectProtocol?: string;
} = {};

beforeAll(async () => {
  t = await startTestStack({
    wrapHandler: (name, handler): LambdaHandler => {
      if (name === 'authorizer') {
        return async (event, context) => {
          const result = (await handler(event, context)) as Record<string, unknown>;
          if (behaviour.authorizer === 'fail') throw new Error('identity provider unreachable');
          if (behaviour.authorizer !== 'deny') return result;
          const { methodArn } = event as { methodArn: string };
          const Statement = [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: methodArn }];
          return { ...result, policyDocument: { Version: '2012-10-17', Statement } };
        };
      }
      if (name === 'connect') {
        return async (event, context) => {
          const result = (await handler(event, context)) as Record<string, unknown>;
          if (behaviour.connectStatus !== undefined) return { statusCode: behaviour.connectStatus };
          if (behaviour.connectProtocol === undefined) return result;
          return { ...result, headers: { 'Sec-WebSocket-Protocol': behaviour.connectProtocol } };
        };
      }
      return handler;
    },
    routes: {
      // A custom route, selected by {"action":"chat"}; answers with what it received.
      chat: (event) => {
        const { requestContext, body } = event as {
          requestContext: { routeKey: string };
          body: string;
        };
        return {
          statusCode: 200,
          body: JSON.stringify({ routeKey: requestContext.routeKey, body }),
        };
      },
    },
  });
});

afterAll(() => t.stop());

const now = () => Math.floor(Date.now() / 1000);
const secret = () => new TextEncoder().encode(t.stack.jwtSecret);

describe('refused handshakes', () => {
  test('no token query parameter: 401 without calling the authorizer', async () => {
    // Prepare
    const before = t.invocations.of('authorizer').length;

    // Act
    const statuses = [await refusedWith(t.stack.url), await refusedWith(`${t.stack.url}?token=`)];

    // Assess
    expect(statuses).toEqual([401, 401]);
    expect(t.invocations.of('authorizer')).toHaveLength(before);
  });

  test.each([
    ['expired', () => hs256Token({ sub: 401, exp: now() - 60 }, secret())],
    ['wrongly signed', () => hs256Token({ sub: 402 }, new TextEncoder().encode('x'.repeat(40)))],
    ['alg none', async () => unsignedToken({ sub: '403' })],
    ['malformed', async () => 'not-a-jwt'],
    ['not yet valid', () => hs256Token({ sub: 404, nbf: now() + 600 }, secret())],
    ['without sub', () => hs256Token({ sub: undefined }, secret())],
    ['without aud', () => hs256Token({ sub: 405, aud: undefined }, secret())],
    ['for another audience', () => hs256Token({ sub: 406, aud: 'password-reset' }, secret())],
    ['living two days', () => hs256Token({ sub: 407, exp: now() + 2 * 86_400 }, secret())],
  ])('a token %s: 401 from the authorizer, and $connect never runs', async (_kind, makeToken) => {
    // Prepare
    const token = await makeToken();
    const authorizerCalls = t.invocations.of('authorizer').length;
    const connectCalls = t.invocations.of('connect').length;

    // Act
    const status = await refusedWith(`${t.stack.url}?token=${encodeURIComponent(token)}`);

    // Assess
    expect(status).toBe(401);
    const authorizer = t.invocations.of('authorizer').slice(authorizerCalls);
    expect(authorizer).toHaveLength(1);
    expect(authorizer[0]?.outcome).toMatchObject({
      ok: false,
      error: { errorMessage: 'Unauthorized' },
    });
    expect(t.invocations.of('connect')).toHaveLength(connectCalls);
  });

  test('a Deny policy gives 403 and $connect is not called', async () => {
    // Prepare
    behaviour.authorizer = 'deny';
    const connectCalls = t.invocations.of('connect').length;

    // Act
    const status = await refusedWith(`${t.stack.url}?token=${await t.token(410)}`).finally(() => {
      behaviour.authorizer = undefined;
    });

    // Assess
    expect(status).toBe(403);
    expect(t.invocations.of('connect')).toHaveLength(connectCalls);
  });

  test('an authorizer failure other than Unauthorized gives 500', async () => {
    // Prepare
    behaviour.authorizer = 'fail';

    // Act
    const status = await refusedWith(`${t.stack.url}?token=${await t.token(411)}`).finally(() => {
      behaviour.authorizer = undefined;
    });

    // Assess
    expect(status).toBe(500);
  });

  test("a non-2xx $connect refuses the handshake with $connect's status", async () => {
    // Prepare
    behaviour.connectStatus = 429;

    // Act
    const status = await refusedWith(`${t.stack.url}?token=${await t.token(412)}`).finally(() => {
      behaviour.connectStatus = undefined;
    });

    // Assess
    expect(status).toBe(429);
  });

  test('a path other than / or /{stage} is refused with 403', async () => {
    // Act
    const wrongStage = await refusedWith(`${t.stack.url}/prod?token=${await t.token(413)}`);
    const stage = await openClient(`${t.stack.url}/${t.stack.stage}?token=${await t.token(413)}`);

    // Assess
    expect(wrongStage).toBe(403);
    expect((await stage.whoami()).userId).toBe('413');
    stage.ws.close();
  });
});

describe('subprotocols', () => {
  test('Sec-WebSocket-Protocol is answered only when $connect returns one', async () => {
    // Prepare
    const url = `${t.stack.url}?token=${await t.token(420)}`;

    // Act: ws, like a browser, fails a handshake whose requested protocol is not answered.
    const unanswered = await openClient(url, { protocols: ['tripsync.v1', 'other'] }).then(
      () => 'opened',
      (error: Error) => error.message,
    );
    behaviour.connectProtocol = 'other';
    const answered = await openClient(url, { protocols: ['tripsync.v1', 'other'] }).finally(() => {
      behaviour.connectProtocol = undefined;
    });

    // Assess
    expect(unanswered).toBe('Server sent no subprotocol');
    expect(answered.ws.protocol).toBe('other');
    answered.ws.close();
  });
});

describe('routing', () => {
  test('a custom route gets its own routeKey; anything else goes to $default', async () => {
    // Prepare
    const client = await t.connect(430);

    // Act
    client.send({ action: 'chat', text: 'hi' });
    const chat = JSON.parse(await client.next());
    client.send({ action: '$connect' });
    const viaDefault = JSON.parse(await client.next());

    // Assess
    expect(chat).toEqual({ routeKey: 'chat', body: '{"action":"chat","text":"hi"}' });
    expect(viaDefault).toMatchObject({ type: 'error', code: 'UNKNOWN_ACTION' });
    client.ws.close();
  });

  test('messages from one connection are handled in order, then $disconnect', async () => {
    // Prepare
    const client = await t.connect(431);
    const { connectionId } = await client.whoami();
    const count = 20;

    // Act
    for (let i = 0; i < count; i++) client.send({ action: 'chat', i });
    const replies = [];
    for (let i = 0; i < count; i++)
      replies.push(JSON.parse(JSON.parse(await client.next()).body).i);
    client.ws.close();
    await t.invocations.disconnectOf(connectionId);

    // Assess
    expect(replies).toEqual([...Array(count).keys()]);
    const order = t.invocations.forConnection(connectionId).map((r) => r.functionName);
    expect(order.at(-1)).toBe('disconnect');
  });
});

describe('events are shaped like the captured fixtures', () => {
  test('authorizer, $connect, message and $disconnect events', async () => {
    // Prepare
    const token = await t.token(440);
    const client = await openClient(`${t.stack.url}?token=${token}&lang=fr`, {
      headers: { 'User-Agent': 'tripsync-e2e/1.0' },
    });
    const { connectionId } = await client.whoami();

    // Act
    client.ws.close(1000, 'bye');
    await t.invocations.disconnectOf(connectionId);
    const records = t.invocations.forConnection(connectionId);
    const eventOf = (name: string) =>
      // biome-ignore lint/suspicious/noExplicitAny: events are compared structurally
      records.find((r) => r.functionName === name)?.event as any;
    const [authorizer, connect, message, disconnect] = [
      eventOf('authorizer'),
      eventOf('connect'),
      eventOf('default'),
      eventOf('disconnect'),
    ];

    // Assess: the same keys as the captures, plus what AWS adds with an authorizer.
    const keys = (o: object) => Object.keys(o).sort();
    const fixture = {
      authorizer: loadEvent('authorizer-request'),
      connect: loadEvent('connect'),
      message: loadEvent('message'),
      disconnect: loadEvent('disconnect'),
    };
    // The repository's copies of the captures already carry `authorizer`; the originals do not.
    const context = (name: keyof typeof fixture, extra: string[] = []) => [
      ...new Set([...keys(fixture[name].requestContext), ...extra].sort()),
    ];

    expect(keys(authorizer)).toEqual(keys(fixture.authorizer));
    expect(keys(authorizer.requestContext)).toEqual(context('authorizer'));
    expect(keys(connect)).toEqual(
      [...keys(fixture.connect), 'queryStringParameters', 'multiValueQueryStringParameters'].sort(),
    );
    expect(keys(connect.requestContext)).toEqual(context('connect', ['authorizer']));
    expect(keys(message)).toEqual(keys(fixture.message));
    expect(keys(message.requestContext)).toEqual(context('message', ['authorizer']));
    expect(keys(disconnect)).toEqual(keys(fixture.disconnect));
    expect(keys(disconnect.requestContext)).toEqual(context('disconnect', ['authorizer']));
    expect(keys(disconnect.headers)).toEqual(keys(fixture.disconnect.headers));

    // Values in API Gateway's formats.
    expect(authorizer.type).toBe('REQUEST');
    expect(authorizer.methodArn).toBe(
      `arn:aws:execute-api:${t.stack.region}:000000000000:${connect.requestContext.apiId}/${t.stack.stage}/$connect`,
    );
    expect(authorizer.queryStringParameters).toEqual({ token, lang: 'fr' });
    expect(connect.queryStringParameters).toEqual({ token, lang: 'fr' });
    expect(connect.headers).toMatchObject({
      'User-Agent': 'tripsync-e2e/1.0',
      'X-Forwarded-For': '127.0.0.1',
    });
    expect(connect.headers).not.toHaveProperty('Upgrade');
    expect(authorizer.headers).toHaveProperty('Upgrade', 'websocket');
    for (const event of [authorizer, connect, message, disconnect]) {
      const rc = event.requestContext;
      expect(rc.connectionId).toBe(connectionId);
      expect(rc.requestTime).toMatch(/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
      expect(rc.requestId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
      expect(rc.extendedRequestId).toBe(rc.requestId);
      expect(rc.identity).toEqual({ sourceIp: '127.0.0.1', userAgent: 'tripsync-e2e/1.0' });
      expect(rc.stage).toBe(t.stack.stage);
      expect(rc.requestTimeEpoch).toBeGreaterThanOrEqual(rc.connectedAt);
    }
    for (const event of [connect, message, disconnect]) {
      expect(event.requestContext.authorizer).toEqual({
        principalId: '440',
        userId: '440',
        integrationLatency: expect.any(Number),
      });
    }
    expect(message.requestContext).toMatchObject({ routeKey: '$default', eventType: 'MESSAGE' });
    expect(message.requestContext.messageId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    expect(message.body).toBe('{"action":"whoami"}');
    expect(disconnect.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1000,
      disconnectReason: 'bye',
    });
  });

  test('identity.userAgent is left out when the client sent none', async () => {
    // Prepare: ws sends no User-Agent unless asked.
    const client = await t.connect(441);
    const { connectionId } = await client.whoami();

    // Act
    const connect = await vi.waitFor(
      () => {
        const found = t.invocations
          .of('connect')
          .find(
            (r) =>
              (r.event as { requestContext: { connectionId: string } }).requestContext
                .connectionId === connectionId,
          );
        if (found === undefined) throw new Error(`no $connect of ${connectionId} yet`);
        return found;
      },
      { timeout: 5000, interval: 20 },
    );

    // Assess
    expect(
      (connect.event as { requestContext: { identity: object } }).requestContext.identity,
    ).toEqual({
      sourceIp: '127.0.0.1',
    });
    client.ws.close();
  });

  test('connection ids are distinct and in API Gateway format', async () => {
    // Act
    const ids = Array.from({ length: 1000 }, apiGatewayId);

    // Assess
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{15}=$/);
  });
});
