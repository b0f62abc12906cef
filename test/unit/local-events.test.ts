import { describe, expect, test } from 'vitest';
import {
  type ApiInfo,
  formatAuthorizerContext,
  formatAuthorizerEvent,
  formatConnectEvent,
  formatDisconnectEvent,
  formatMessageEvent,
  formatRequestTime,
  type HandshakeInfo,
  methodArn,
  selectRoute,
} from '../../local/events';
import { loadEvent } from '../support/fixtures';

// The pure event formatter, fed with the values of the captured events: its output must equal
// the captures wherever the capture is not client-specific.

const connectFixture = loadEvent('connect');
const api: ApiInfo = {
  apiId: 'asasasas',
  stage: 'prod',
  region: 'us-east-1',
  accountId: '123456789012',
};

function handshakeLike(fixture: typeof connectFixture): HandshakeInfo {
  const rc = fixture.requestContext;
  const rawHeaders = Object.entries(fixture.headers as Record<string, string>)
    .filter(([name]) => !name.startsWith('X-'))
    .flat();
  return {
    connectionId: rc.connectionId,
    connectedAt: rc.connectedAt,
    sourceIp: rc.identity.sourceIp,
    domainName: rc.domainName,
    serverPort: 443,
    rawHeaders: [...rawHeaders, 'Connection', 'Upgrade', 'Upgrade', 'websocket'],
    query: [],
  };
}

describe('formatRequestTime', () => {
  test.each([
    ['connect', loadEvent('connect')],
    ['disconnect', loadEvent('disconnect')],
    ['message', loadEvent('message')],
  ])('reproduces requestTime of the %s capture from its requestTimeEpoch', (_name, fixture) => {
    // Act
    const formatted = formatRequestTime(fixture.requestContext.requestTimeEpoch);

    // Assess
    expect(formatted).toBe(fixture.requestContext.requestTime);
  });

  test('pads day, hour, minute and second', () => {
    expect(formatRequestTime(Date.UTC(2025, 0, 2, 3, 4, 5))).toBe('02/Jan/2025:03:04:05 +0000');
  });
});

describe('formatConnectEvent', () => {
  test('equals the capture apart from what the client and the authorizer add', () => {
    // Prepare
    const fixture = loadEvent('connect');
    const handshake = handshakeLike(fixture);
    const rc = fixture.requestContext;
    const authorizer = { principalId: '42', integrationLatency: 0, userId: '42' };

    // Act
    const event = formatConnectEvent(handshake, api, authorizer, {
      requestId: rc.requestId,
      now: rc.requestTimeEpoch,
      traceId: fixture.headers['X-Amzn-Trace-Id'],
    });

    // Assess
    const expected = structuredClone(fixture);
    expected.requestContext.authorizer = authorizer;
    expected.requestContext.apiId = 'asasasas';
    expected.headers['X-Forwarded-Port'] = '443';
    expected.headers['X-Forwarded-Proto'] = 'http';
    expected.multiValueHeaders['X-Forwarded-Port'] = ['443'];
    expected.multiValueHeaders['X-Forwarded-Proto'] = ['http'];
    expect(event).toEqual(expected);
  });

  test('adds the query string only when the URL had one, last value winning', () => {
    // Prepare
    const handshake = {
      ...handshakeLike(loadEvent('connect')),
      query: [
        ['token', 'a'],
        ['token', 'b'],
        ['x', '1'],
      ] as const,
    };

    // Act
    const event = formatConnectEvent(handshake, api, undefined, { requestId: 'r=', now: 0 });
    const without = formatConnectEvent(handshakeLike(loadEvent('connect')), api, undefined, {
      requestId: 'r=',
      now: 0,
    });

    // Assess
    expect(event.queryStringParameters).toEqual({ token: 'b', x: '1' });
    expect(event.multiValueQueryStringParameters).toEqual({ token: ['a', 'b'], x: ['1'] });
    expect(without).not.toHaveProperty('queryStringParameters');
    expect(without.requestContext).not.toHaveProperty('authorizer');
  });

  test("appends the caller's address to a client-supplied X-Forwarded-For", () => {
    // Prepare
    const handshake = {
      ...handshakeLike(loadEvent('connect')),
      rawHeaders: ['Host', 'h', 'X-Forwarded-For', '10.0.0.1'],
    };

    // Act
    const event = formatConnectEvent(handshake, api, undefined, { requestId: 'r=', now: 0 });

    // Assess
    expect(event.headers['X-Forwarded-For']).toBe('10.0.0.1, 166.90.225.1');
  });
});

describe('formatDisconnectEvent and formatMessageEvent', () => {
  test('$disconnect equals the capture, authorizer added', () => {
    // Prepare
    const fixture = loadEvent('disconnect');
    const rc = fixture.requestContext;
    const handshake = {
      ...handshakeLike(loadEvent('connect')),
      connectionId: rc.connectionId,
      connectedAt: rc.connectedAt,
    };
    const authorizer = { principalId: '42', integrationLatency: 0, userId: '42' };

    // Act
    const event = formatDisconnectEvent(
      handshake,
      api,
      authorizer,
      { code: rc.disconnectStatusCode, reason: rc.disconnectReason },
      { requestId: rc.requestId, now: rc.requestTimeEpoch },
    );

    // Assess
    const expected = structuredClone(fixture);
    expected.requestContext.authorizer = authorizer;
    expect(event).toEqual(expected);
  });

  test('a message equals the capture, authorizer added', () => {
    // Prepare
    const fixture = loadEvent('message');
    const rc = fixture.requestContext;
    const handshake = {
      ...handshakeLike(loadEvent('connect')),
      connectionId: rc.connectionId,
      connectedAt: rc.connectedAt,
    };
    const authorizer = { principalId: '42', integrationLatency: 0, userId: '42' };

    // Act
    const event = formatMessageEvent(
      handshake,
      api,
      authorizer,
      rc.routeKey,
      fixture.body,
      { requestId: rc.requestId, now: rc.requestTimeEpoch },
      rc.messageId,
    );

    // Assess
    const expected = structuredClone(fixture);
    expected.requestContext.authorizer = authorizer;
    expect(event).toEqual(expected);
  });
});

describe('formatAuthorizerEvent', () => {
  test('has the capture’s keys, methodArn, and the hop-by-hop headers $connect does not get', () => {
    // Prepare
    const fixture = loadEvent('authorizer-request');
    const handshake = {
      ...handshakeLike(loadEvent('connect')),
      query: [['QueryString1', 'queryValue1']] as const,
    };
    const local = { ...api, apiId: 'abcdef123', stage: 'default' };

    // Act
    const event = formatAuthorizerEvent(handshake, local, {
      requestId: 'abc123',
      now: 1674162806345,
    });

    // Assess
    expect(Object.keys(event).sort()).toEqual(Object.keys(fixture).sort());
    expect(Object.keys(event.requestContext).sort()).toEqual(
      Object.keys(fixture.requestContext).sort(),
    );
    expect(event.methodArn).toBe(fixture.methodArn);
    expect(event.queryStringParameters).toEqual(fixture.queryStringParameters);
    expect(event.headers).toMatchObject({ Connection: 'Upgrade', Upgrade: 'websocket' });
    expect(event).toMatchObject({
      type: 'REQUEST',
      stageVariables: {},
      isBase64Encoded: false,
      body: null,
    });
  });

  test('methodArn names region, account, API, stage and route', () => {
    expect(
      methodArn(
        { apiId: 'a1', stage: 's', region: 'eu-west-1', accountId: '111122223333' },
        '$connect',
      ),
    ).toBe('arn:aws:execute-api:eu-west-1:111122223333:a1/s/$connect');
  });
});

describe('selectRoute and formatAuthorizerContext', () => {
  const routes = ['$default', 'chat'];

  test.each([
    ['{"action":"chat"}', 'chat'],
    ['{"action":"ping"}', '$default'],
    ['{"action":"$connect"}', '$default'],
    ['{"action":"$disconnect"}', '$default'],
    ['{"action":5}', '$default'],
    ['["chat"]', '$default'],
    ['null', '$default'],
    ['not json', '$default'],
    ['', '$default'],
  ])('%j goes to %s', (body, expected) => {
    expect(selectRoute(body, routes)).toBe(expected);
  });

  test('without $default, an unmatched message has no route', () => {
    expect(selectRoute('{"action":"other"}', ['chat'])).toBeUndefined();
  });

  test('context values become strings, next to principalId and integrationLatency', () => {
    expect(formatAuthorizerContext('42', { userId: '42', admin: false, level: 3 }, 12)).toEqual({
      userId: '42',
      admin: 'false',
      level: '3',
      principalId: '42',
      integrationLatency: 12,
    });
  });
});
