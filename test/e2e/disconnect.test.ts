import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { startTestStack, type TestStack } from '../support/local-stack';

let t: TestStack;
/** $connect waits on this when set, so a test can act while a handshake is pending. */
let holdConnect: Promise<void> | undefined;

beforeAll(async () => {
  t = await startTestStack({
    wrapHandler: (name, handler): LambdaHandler =>
      name === 'connect'
        ? async (event, context) => {
            const result = await handler(event, context);
            await holdConnect;
            return result;
          }
        : handler,
  });
});

afterAll(() => t.stop());

const rowsOf = async (userId: string) => (await t.rows()).filter((r) => r.userId === userId);

/** The gateway's end of the next TCP connection it accepts (Node's `net.server.socket` channel). */
function nextGatewaySocket(): Promise<Socket> {
  return new Promise((resolve) => {
    const onSocket = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      if (socket.localPort !== t.stack.port) return;
      unsubscribe('net.server.socket', onSocket);
      resolve(socket);
    };
    subscribe('net.server.socket', onSocket);
  });
}

describe('$disconnect after every close', () => {
  test('a client that vanishes without a close frame still gets its $disconnect', async () => {
    // Prepare
    const client = await t.connect(701);
    const { connectionId } = await client.whoami();
    expect(await rowsOf('701')).toHaveLength(1);

    // Act: the TCP connection drops; no close frame is ever sent.
    const socket = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.destroy();

    // Assess
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1006,
      authorizer: { userId: '701' },
    });
    await expect.poll(() => rowsOf('701'), { message: 'row removed' }).toEqual([]);
    // Its user's last connection: the counter item went with it.
    await expect.poll(async () => (await t.counters())['701']).toBeUndefined();
    expect(t.stack.connectionCount()).toBe(0);
  });

  test('a close frame without a status is reported as 1005, as captured on AWS', async () => {
    // Prepare
    const client = await t.connect(702);
    const { connectionId } = await client.whoami();

    // Act
    client.ws.close();

    // Assess
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1005,
      disconnectReason: 'Client-side close frame status not set',
    });
  });

  test("a client's own code and reason are passed on", async () => {
    // Prepare
    const client = await t.connect(703);
    const { connectionId } = await client.whoami();

    // Act
    client.ws.close(4001, 'logged out');

    // Assess
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 4001,
      disconnectReason: 'logged out',
    });
  });

  test('a client that leaves while $connect runs gets $disconnect, and its row goes', async () => {
    // Prepare: $connect writes the row, then waits.
    let release: () => void = () => {};
    holdConnect = new Promise((resolve) => {
      release = resolve;
    });
    const token = await t.token(704);
    const accepted = nextGatewaySocket();
    const ws = new WebSocket(`${t.stack.url}?token=${token}`);
    ws.on('error', () => {});
    const gatewaySide = await accepted;
    const [row] = await vi.waitFor(
      async () => {
        const rows = await rowsOf('704');
        expect(rows).toHaveLength(1);
        return rows;
      },
      { timeout: 5000, interval: 20 },
    );

    // Act: the client gives up before the handshake completes; once the gateway has seen it
    // go (the events it watches: end, error or close), $connect returns.
    const gone = new Promise<void>((resolve) => {
      for (const event of ['end', 'error', 'close']) gatewaySide.once(event, () => resolve());
    });
    ws.terminate();
    await gone;
    holdConnect = undefined;
    release();

    // Assess
    expect(await t.invocations.disconnectOf(row?.connectionId as string)).toMatchObject({
      disconnectStatusCode: 1006,
    });
    await expect.poll(() => rowsOf('704'), { message: 'row removed' }).toEqual([]);
    expect(t.stack.connectionCount()).toBe(0);
  });
});
