import {
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { refusedWith } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';

const KiB = 1024;
let t: TestStack;
/** A second stack whose idle timeout and maximum duration are short enough to wait for. */
let timed: TestStack;
// The keep-alive tests send something every IDLE_MS / 3: a pause of the machine longer than the
// rest of IDLE_MS closes their connection early.
const IDLE_MS = 800;
// Both timers close with 1001, so the idle-timeout test tells them apart by time: the close must
// come before MAX_MS, which leaves its handshake MAX_MS - IDLE_MS. On a machine busy with other
// test files, a handshake can take most of a second.
const MAX_MS = 3000;
/** A third with short integration and Lambda timeouts, and routes that are slow or fail. */
let slow: TestStack;
/** A fourth whose per-user connection cap is small. */
let capped: TestStack;
const CAP = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  [t, timed, slow, capped] = await Promise.all([
    startTestStack(),
    // Its functions warm: a cold start inside a handshake or a route would take a large part of
    // the 3 s a connection may live, on a machine busy with other test files.
    startTestStack({
      idleTimeoutMs: IDLE_MS,
      maxConnectionDurationMs: MAX_MS,
      warmFunctions: true,
    }),
    startTestStack({
      // The handshake's authorizer and $connect run within this timeout too: short enough for
      // the slow route to pass it, long enough for a handshake on a loaded machine. Its
      // functions warm too, so that no cold start falls inside a handshake.
      integrationTimeoutMs: 2000,
      warmFunctions: true,
      sendTimeoutMs: 200,
      wrapHandler: (name, handler) =>
        name === 'send'
          ? async (event, context) => {
              await sleep(500);
              return handler(event, context);
            }
          : handler,
      routes: {
        slow: async () => {
          await sleep(3000);
          return { statusCode: 200, body: 'late' };
        },
        boom: () => {
          throw new TypeError('route handler bug');
        },
      },
    }),
    startTestStack({ maxConnectionsPerUser: CAP }),
  ]);
});

afterAll(() => Promise.all([t.stop(), timed.stop(), slow.stop(), capped.stop()]));

/** Sends one message as frames of `frameBytes` (ws sends each `fin: false` part as one frame). */
function sendFragmented(ws: import('ws').WebSocket, text: string, frameBytes: number) {
  for (let offset = 0; offset < text.length; offset += frameBytes) {
    const fin = offset + frameBytes >= text.length;
    ws.send(text.slice(offset, offset + frameBytes), { fin });
  }
}

describe('128 KiB messages, 32 KiB frames', () => {
  test('a single client frame over 32 KiB closes the connection with 1009', async () => {
    // Prepare
    const client = await t.connect(501);
    const { connectionId } = await client.whoami();
    const defaultCalls = t.invocations.of('default').length;

    // Act
    client.send('x'.repeat(32 * KiB + 1));
    const closed = await client.closed;

    // Assess
    expect(closed.code).toBe(1009);
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1009,
    });
    expect(t.invocations.of('default')).toHaveLength(defaultCalls);
    expect((await t.rows()).map((r) => r.connectionId)).not.toContain(connectionId);
  });

  test('a frame of exactly 32 KiB, and a 120 KiB message in 32 KiB frames, are delivered', async () => {
    // Prepare
    const client = await t.connect(502);
    const big = JSON.stringify({ action: 'ping', pad: 'y'.repeat(120 * KiB) });

    // Act
    client.send('z'.repeat(32 * KiB));
    const first = JSON.parse(await client.next());
    sendFragmented(client.ws, big, 32 * KiB);
    const second = JSON.parse(await client.next());

    // Assess
    expect(first).toMatchObject({ type: 'error', code: 'INVALID_JSON' });
    expect(second).toEqual({ type: 'pong' });
    const bodies = t.invocations.of('default').map((r) => (r.event as { body: string }).body);
    expect(bodies).toContain(big);
    client.ws.close();
  });

  test('a message over 128 KiB, even in small frames, closes the connection with 1009', async () => {
    // Prepare
    const client = await t.connect(503);
    const { connectionId } = await client.whoami();

    // Act
    sendFragmented(client.ws, 'w'.repeat(128 * KiB + 1), 16 * KiB);
    const closed = await client.closed;

    // Assess
    expect(closed.code).toBe(1009);
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1009,
    });
  });

  test('a binary frame closes the connection with 1003, as API Gateway does', async () => {
    // Prepare
    const client = await t.connect(504);
    const { connectionId } = await client.whoami();

    // Act
    client.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const closed = await client.closed;

    // Assess
    expect(closed.code).toBe(1003);
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1003,
    });
  });

  test('POST @connections takes 128 KiB and answers 413 PayloadTooLargeException above', async () => {
    // Prepare
    const client = await t.connect(505);
    const { connectionId } = await client.whoami();
    const fits = new Uint8Array(128 * KiB).fill(0x61);
    const tooBig = new Uint8Array(128 * KiB + 1).fill(0x62);

    // Act
    await t.management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: fits }),
    );
    const error = await t.management
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: tooBig }))
      .catch((e: unknown) => e);

    // Assess
    expect((await client.next()).length).toBe(128 * KiB);
    expect(error).toBeInstanceOf(PayloadTooLargeException);
    expect((error as PayloadTooLargeException).$metadata.httpStatusCode).toBe(413);
    client.ws.close();
  });

  test('send refuses a message over 128 KiB with ValidationError, before posting anything', async () => {
    // Prepare
    const client = await t.connect(506);
    const message = { type: 'huge', pad: 'p'.repeat(128 * KiB) };

    // Act
    const result = await t.invokeSend({ userId: 506, message });
    client.send({ action: 'ping' });

    // Assess
    expect(result.functionError).toBe('Unhandled');
    expect(result.body).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: expect.stringContaining('128 KiB'),
    });
    // The first frame the client gets is its own pong: nothing was posted.
    expect(JSON.parse(await client.next())).toEqual({ type: 'pong' });
    client.ws.close();
  });
});

describe('live connections per user (maxConnectionsPerUser)', () => {
  test('the handshake past the cap gets HTTP 429 on the upgrade, other users are not affected', async () => {
    // Prepare
    const held = await Promise.all(Array.from({ length: CAP }, () => capped.connect('busy')));

    // Act
    const status = await refusedWith(`${capped.stack.url}?token=${await capped.token('busy')}`);
    const other = await capped.connect('calm');

    // Assess
    expect(status).toBe(429);
    expect(capped.lines.some((l) => /refused\s+429 Too Many Requests/.test(l))).toBe(true);
    expect(capped.invocations.of('connect').at(-2)?.outcome).toMatchObject({
      ok: true,
      result: { statusCode: 429 },
    });
    expect((await other.whoami()).userId).toBe('calm');
    const rows = await capped.rows();
    expect(rows.filter((r) => r.userId === 'busy')).toHaveLength(CAP);
    // The refused connection was added to the user's counter and taken off again.
    expect((await capped.counters()).busy).toBe(CAP);
    // Nothing of the refused connection remains: it was never registered, and no $disconnect ran.
    expect(capped.stack.connectionCount()).toBe(CAP + 1);
    for (const client of held) client.ws.close();
  });
});

describe('idle timeout and maximum duration', () => {
  test('a connection without data frames is closed with 1001 after the idle timeout', async () => {
    // Prepare: the clock starts before the handshake, so it runs at least as long as the idle
    // timer (which starts once the connection is open), and a close before the maximum
    // duration (counted from the handshake) can only be the idle timeout's.
    const started = Date.now();
    const client = await timed.connect(511);

    // Act
    const closed = await client.closed;

    // Assess
    const elapsed = Date.now() - started;
    expect(closed).toEqual({ code: 1001, reason: 'Going away' });
    expect(elapsed).toBeGreaterThanOrEqual(IDLE_MS);
    expect(elapsed).toBeLessThan(MAX_MS);
    await expect.poll(async () => (await timed.rows()).map((r) => r.userId)).not.toContain('511');
  });

  test('messages keep a connection open, but not past the maximum duration', async () => {
    // Prepare
    const started = Date.now();
    const client = await timed.connect(512);
    const { connectionId } = await client.whoami();
    const keepAlive = setInterval(() => client.send({ action: 'ping' }), IDLE_MS / 3);

    // Act
    const closed = await client.closed.finally(() => clearInterval(keepAlive));

    // Assess
    const elapsed = Date.now() - started;
    expect(closed.code).toBe(1001);
    expect(elapsed).toBeGreaterThanOrEqual(MAX_MS - 20);
    expect(await timed.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1001,
      disconnectReason: 'Going away',
    });
  });

  test('posts through @connections count as activity too', async () => {
    // Prepare: the maximum duration counts from the handshake, so the clock starts before it.
    const started = Date.now();
    const client = await timed.connect(513);
    const { connectionId } = await client.whoami();
    const post = () =>
      timed.management
        .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{}') }))
        .catch(() => undefined);
    const keepAlive = setInterval(post, IDLE_MS / 3);

    // Act
    const closed = await client.closed.finally(() => clearInterval(keepAlive));

    // Assess: it lived to the maximum duration, well past the idle timeout.
    expect(closed.code).toBe(1001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(MAX_MS - 20);
  });
});

describe('integration and Lambda timeouts, failing integrations', () => {
  test('a route slower than the integration timeout answers "Endpoint request timed out"', async () => {
    // Prepare
    const client = await slow.connect(521);
    const { connectionId } = await client.whoami();

    // Act
    client.send({ action: 'slow' });
    const reply = JSON.parse(await client.next());

    // Assess
    expect(reply).toEqual({
      message: 'Endpoint request timed out',
      connectionId,
      requestId: expect.stringMatching(/^[A-Za-z0-9_-]{15}=$/),
    });
    client.ws.close();
  });

  test('a route that throws answers "Internal server error", and the connection stays open', async () => {
    // Prepare
    const client = await slow.connect(522);
    const { connectionId } = await client.whoami();

    // Act
    client.send({ action: 'boom' });
    const reply = JSON.parse(await client.next());
    client.send({ action: 'ping' });

    // Assess
    expect(reply).toMatchObject({ message: 'Internal server error', connectionId });
    expect(JSON.parse(await client.next())).toEqual({ type: 'pong' });
    client.ws.close();
  });

  test('send past its Lambda timeout fails as Lambda reports it', async () => {
    // Act
    const result = await slow.invokeSend({ userId: 523, message: { type: 'late' } });

    // Assess
    expect(result.functionError).toBe('Unhandled');
    expect(result.body).toMatchObject({
      errorType: 'Sandbox.Timedout',
      errorMessage: expect.stringContaining('Task timed out after 0.20 seconds'),
    });
  });
});
