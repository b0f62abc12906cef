import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionRefusedError, PROTOCOL } from '../../../client/src/index';
import type { StandInConnection } from '../../support/protocol-v2-stand-in';
import { clientOf, sendMany, standIn } from './harness';

// The client's connection behaviour against a real WebSocket server speaking protocol v2: the
// stand-in in test/support until the local stack speaks v2.

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

/** Tokens `<user>.<n>`, each accepted once, as short-lived single-use tokens would be. */
function singleUseTokens(refuse: (token: string) => boolean = () => false) {
  const used = new Set<string>();
  return (token: string): string | number => {
    if (used.has(token) || refuse(token)) return 401;
    used.add(token);
    return token.split('.')[0] as string;
  };
}

describe('connecting', () => {
  it('offers tripsync.v2 and the server selects it', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    await recording.until('open', () => client.status === 'open');
    const identity = await client.whoami();

    // Assess
    const connection = server.connections[0] as StandInConnection;
    expect(server.handshakes[0]?.protocols).toEqual([PROTOCOL]);
    expect(connection.protocol).toBe('tripsync.v2');
    expect(identity).toEqual({ userId: '42', connectionId: connection.id });
  });

  it('asks for a fresh token on every reconnect', async () => {
    // Prepare
    const server = await standIn({ authorize: singleUseTokens() });
    let issued = 0;
    const { client, recording } = clientOf(server, { token: async () => `42.${++issued}` });
    client.connect();

    // Act: three drops, three ways.
    const drops = [
      (c: StandInConnection) => server.drop(c, 'reset'),
      (c: StandInConnection) => server.drop(c, 'close', 1000, 'Connection Closed Normally'),
      (c: StandInConnection) => server.drop(c, 'close', 1001, 'Going away'),
    ];
    for (const [i, drop] of drops.entries()) drop(await server.accepted(i + 1));
    await server.accepted(4);
    await recording.until('open', () => client.status === 'open');

    // Assess
    expect(server.handshakes).toEqual(
      ['42.1', '42.2', '42.3', '42.4'].map((token) => ({
        token,
        protocols: [PROTOCOL],
        status: 101,
      })),
    );
    expect(recording.errors).toEqual([]);
  });

  it('asks for a fresh token after a refused handshake', async () => {
    // Prepare: the first token has expired.
    const server = await standIn({ authorize: singleUseTokens((t) => t === '42.1') });
    let issued = 0;
    const { client, recording } = clientOf(server, { token: () => `42.${++issued}` });

    // Act
    client.connect();
    await recording.until('open', () => client.status === 'open');

    // Assess
    expect(server.handshakes.map((h) => [h.token, h.status])).toEqual([
      ['42.1', 401],
      ['42.2', 101],
    ]);
    expect(recording.statuses).toEqual(['connecting', 'reconnecting', 'open']);
  });

  it('gives up after maxRefusals refused handshakes in a row, with a clear error', async () => {
    // Prepare: every token is refused.
    const server = await standIn({ authorize: () => 401 });
    let issued = 0;
    const { client, recording } = clientOf(server, { maxRefusals: 3, token: () => `t${++issued}` });

    // Act
    client.connect();
    await recording.until('closed', () => client.status === 'closed');

    // Assess
    expect(server.handshakes.map((h) => [h.token, h.status])).toEqual([
      ['t1', 401],
      ['t2', 401],
      ['t3', 401],
    ]);
    expect(recording.statuses).toEqual(['connecting', 'reconnecting', 'closed']);
    expect(recording.errors).toHaveLength(1);
    const error = recording.errors[0] as ConnectionRefusedError;
    expect(error).toBeInstanceOf(ConnectionRefusedError);
    expect(error.code).toBe('CONNECTION_REFUSED');
    expect(error.attempts).toBe(3);
    expect(error.message).toMatch(/^gave up after 3 connection attempts in a row failed before/);
    // ws names the HTTP status of the refusal (a browser cannot).
    expect(error.lastFailure).toBe('Unexpected server response: 401; closed with 1006');
  });

  it('does not count attempts made while the device says it is offline', async () => {
    // Prepare: a browser that knows it is offline (Node has no navigator.onLine to switch).
    vi.stubGlobal('navigator', { onLine: false });
    const server = await standIn({ authorize: () => 401 });
    const { client, recording } = clientOf(server, { maxRefusals: 2 });

    // Act
    client.connect();
    await server.handshakesSeen(5);

    // Assess: still trying, nothing reported.
    expect(client.status).toBe('reconnecting');
    expect(recording.errors).toEqual([]);
  });

  it('reports a token function that fails, and counts it as a failed attempt', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server, {
      maxRefusals: 2,
      token: () => Promise.reject(new Error('signed out')),
    });

    // Act
    client.connect();
    await recording.until('closed', () => client.status === 'closed');

    // Assess
    expect(recording.errors.map((e) => [e.code, e.message])).toEqual([
      ['TOKEN_FAILED', 'options.token() failed: Error: signed out'],
      ['TOKEN_FAILED', 'options.token() failed: Error: signed out'],
      [
        'CONNECTION_REFUSED',
        expect.stringMatching(/last: options\.token\(\) failed: Error: signed out$/),
      ],
    ]);
    expect(server.handshakes).toEqual([]);
  });
});

describe('staying connected', () => {
  it('reconnects at once after API Gateway closes with 1001 "Going away"', async () => {
    // Prepare: any backoff delay would be 59 s or more (the jitter's random draw is pinned).
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const server = await standIn();
    const { client, recording } = clientOf(server, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    client.connect();
    const first = await server.accepted(1);
    await recording.until('open', () => client.status === 'open');

    // Act
    server.drop(first, 'close', 1001, 'Going away');
    await server.accepted(2);
    await recording.until('open again', () => recording.statuses.length === 4);

    // Assess
    expect(recording.statuses).toEqual(['connecting', 'open', 'reconnecting', 'open']);
  });

  it('detects a half-open connection by its unanswered ping and resumes on a new one', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server, { pingIntervalMs: 30, pongTimeoutMs: 150 });
    client.connect();
    const first = await server.accepted(1);
    sendMany(server, 2, 'before');
    await recording.until('2 messages', () => recording.messages.length === 2);

    // Act: nothing gets through any more, and no close comes; a message sent now is lost.
    server.drop(first, 'half-open');
    const framesBeforeDrop = first.received.length;
    const lost = sendMany(server, 1, 'lost');
    const second = await server.accepted(2);
    await recording.until('3 messages', () => recording.messages.length === 3);

    // Assess: the client gave up on the silent socket and resumed after seq 2 on a new one.
    expect(first.received.slice(framesBeforeDrop)).toContainEqual({ action: 'ping' });
    expect(first.posted.slice(-1)).not.toEqual([{ type: 'pong' }]);
    expect(recording.statuses).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(server.resumesOf(second)).toEqual([
      { action: 'resume', after: 2, epoch: server.epochOf('42') },
    ]);
    expect(recording.messages[2]?.message).toEqual(lost[0]);
  });

  it('pings after pingIntervalMs without sending, and a pong keeps the connection', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server, { pingIntervalMs: 20, pongTimeoutMs: 1000 });
    client.connect();
    const first = await server.accepted(1);

    // Act: wait for three pings on the connection.
    await server.framesReceived(first, 'ping', 3);

    // Assess
    expect(
      first.posted.filter((f) => (f as { type: string }).type === 'pong').length,
    ).toBeGreaterThanOrEqual(2);
    expect(server.connections).toHaveLength(1);
    expect(recording.statuses).toEqual(['connecting', 'open']);
  });
});

describe('close()', () => {
  it('leaves no timer behind while waiting to reconnect, and never connects again', async () => {
    // Prepare: a refusal, then a reconnect delay of about a minute.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const server = await standIn({ authorize: () => 401 });
    const { client, recording } = clientOf(server, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    client.connect();
    await recording.until('reconnecting', () => client.status === 'reconnecting');
    expect(vi.getTimerCount()).toBe(1);

    // Act
    client.close();
    vi.advanceTimersByTime(24 * 3600_000);

    // Assess
    expect(vi.getTimerCount()).toBe(0);
    expect(server.handshakes).toHaveLength(1);
    expect(recording.statuses).toEqual(['connecting', 'reconnecting', 'closed']);
  });

  it('stays closed when a status listener closes the client as it starts reconnecting', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.on('status', (status) => {
      if (status === 'reconnecting') client.close();
    });
    client.connect();
    const first = await server.accepted(1);
    await recording.until('open', () => client.status === 'open');

    // Act: the connection is reset (no closing handshake, so no timer of ws's own).
    server.drop(first, 'reset');
    await recording.until('closed', () => client.status === 'closed');

    // Assess
    expect(vi.getTimerCount()).toBe(0);
    expect(recording.statuses).toEqual(['connecting', 'open', 'reconnecting', 'closed']);
  });

  it('stops the heartbeat and every reconnect of an open connection', async () => {
    // Prepare: an open connection with a ping awaiting its pong.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.connect();
    const first = await server.accepted(1);
    await recording.until('open', () => client.status === 'open');
    client.ping();

    // Act
    client.close();
    const closeCode = await first.closed;
    vi.advanceTimersByTime(24 * 3600_000);

    // Assess: closed cleanly, and nothing more was sent or attempted (a timer left behind
    // would have moved the status on: a reconnect sets `reconnecting` before it dials).
    expect(closeCode).toBe(1000);
    expect(first.received).toEqual([{ action: 'resume', after: 0 }, { action: 'ping' }]);
    expect(server.handshakes).toHaveLength(1);
    expect(recording.statuses).toEqual(['connecting', 'open', 'closed']);
  });
});
