import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { eventually } from '../support/local-clients';
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
    await eventually(async () => (await rowsOf('701')).length === 0, { what: 'row removed' });
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
    const ws = new WebSocket(`${t.stack.url}?token=${await t.token(704)}`);
    ws.on('error', () => {});
    const [row] = await eventually(async () => {
      const rows = await rowsOf('704');
      return rows.length === 1 && rows;
    });

    // Act: the client gives up before the handshake completes; then $connect returns.
    ws.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    holdConnect = undefined;
    release();

    // Assess
    expect(await t.invocations.disconnectOf(row?.connectionId as string)).toMatchObject({
      disconnectStatusCode: 1006,
    });
    await eventually(async () => (await rowsOf('704')).length === 0, { what: 'row removed' });
    expect(t.stack.connectionCount()).toBe(0);
  });
});
