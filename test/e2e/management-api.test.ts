import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { apiGatewayId } from '../../local/ids';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { E2E_CREDENTIALS, startTestStack, type TestStack } from '../support/local-stack';

let t: TestStack;
/** What a post made from inside `$connect` got, by connection id. */
const postsDuringConnect = new Map<string, string>();

beforeAll(async () => {
  t = await startTestStack({
    wrapHandler: (name, handler): LambdaHandler => {
      if (name !== 'connect') return handler;
      return async (event, context) => {
        const { connectionId } = (event as { requestContext: { connectionId: string } })
          .requestContext;
        const outcome = await t.management
          .send(
            new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('hi') }),
          )
          .then(
            () => 'delivered',
            (error: Error) => error.name,
          );
        postsDuringConnect.set(connectionId, outcome);
        return handler(event, context);
      };
    },
  });
});

afterAll(() => t.stop());

const post = (ConnectionId: string, data: string | Uint8Array) =>
  t.management.send(
    new PostToConnectionCommand({
      ConnectionId,
      Data: typeof data === 'string' ? Buffer.from(data) : data,
    }),
  );

describe('@connections with the SDK client', () => {
  test('POST writes a text frame, or a binary frame when the bytes are not UTF-8', async () => {
    // Prepare
    const client = await t.connect(601);
    const { connectionId } = await client.whoami();

    // Act
    await post(connectionId, '{"type":"café ☕"}');
    await post(connectionId, new Uint8Array([0xff, 0xfe, 0x00]));

    // Assess
    expect(await client.next()).toBe('{"type":"café ☕"}');
    expect(await client.next()).toBe('binary:fffe00');
    client.ws.close();
  });

  test('GET returns connectedAt, identity and lastActiveAt', async () => {
    // Prepare
    const before = Date.now();
    const client = await t.connect(602, { headers: { 'User-Agent': 'e2e-agent' } });
    const { connectionId } = await client.whoami();
    const first = await t.management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    // lastActiveAt has millisecond precision: the ping must come at a later millisecond.
    await expect
      .poll(() => Date.now(), { interval: 1 })
      .toBeGreaterThan(first.LastActiveAt?.getTime() ?? Number.POSITIVE_INFINITY);

    // Act
    client.send({ action: 'ping' });
    await client.next();
    const second = await t.management.send(
      new GetConnectionCommand({ ConnectionId: connectionId }),
    );

    // Assess
    expect(first.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'e2e-agent' });
    expect(first.ConnectedAt?.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(first.ConnectedAt?.getTime()).toBeLessThanOrEqual(Date.now());
    expect(second.LastActiveAt?.getTime()).toBeGreaterThan(first.LastActiveAt?.getTime() ?? 0);
    client.ws.close();
  });

  test('DELETE closes the socket with 1000 and runs $disconnect; the id is then gone', async () => {
    // Prepare
    const client = await t.connect(603);
    const { connectionId } = await client.whoami();

    // Act
    await t.management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    const afterDelete = await post(connectionId, '{}').catch((e: unknown) => e);
    const closed = await client.closed;

    // Assess
    expect(afterDelete).toBeInstanceOf(GoneException);
    expect(closed.code).toBe(1000);
    expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
      disconnectStatusCode: 1000,
      disconnectReason: 'Connection Closed Normally',
    });
    await expect
      .poll(async () => (await t.rows()).map((r) => r.connectionId), { message: 'row removed' })
      .not.toContain(connectionId);
    const get = await t.management
      .send(new GetConnectionCommand({ ConnectionId: connectionId }))
      .catch((e: unknown) => e);
    expect(get).toBeInstanceOf(GoneException);
  });

  test('an unknown connection is 410 GoneException for POST, GET and DELETE', async () => {
    // Prepare
    const ConnectionId = apiGatewayId();

    // Act
    const errors = await Promise.all([
      post(ConnectionId, '{}').catch((e: unknown) => e),
      t.management.send(new GetConnectionCommand({ ConnectionId })).catch((e: unknown) => e),
      t.management.send(new DeleteConnectionCommand({ ConnectionId })).catch((e: unknown) => e),
    ]);

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(GoneException);
      expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
    }
  });

  test('a connection cannot be posted to from inside its own $connect', async () => {
    // Act
    const client = await t.connect(604);
    const { connectionId } = await client.whoami();

    // Assess: as on AWS (aws/chalice #1772), the connection does not exist until $connect returns.
    expect(postsDuringConnect.get(connectionId)).toBe('GoneException');
    expect(client.received.filter((m) => m === 'hi')).toEqual([]);
    client.ws.close();
  });

  test('an endpoint with the stage in its path works too', async () => {
    // Prepare
    const client = await t.connect(605);
    const { connectionId } = await client.whoami();
    const staged = new ApiGatewayManagementApiClient({
      endpoint: `${t.stack.endpoint}/${t.stack.stage}`,
      region: t.stack.region,
      credentials: E2E_CREDENTIALS,
    });

    // Act
    await staged.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('staged') }),
    );

    // Assess
    expect(await client.next()).toBe('staged');
    staged.destroy();
    client.ws.close();
  });
});

describe('idle keep-alive connections', () => {
  test('stay open past the 6 s after which Node would close them, as SDK clients expect of AWS', async () => {
    // Prepare: one request on a keep-alive socket, which the agent then holds idle.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      let closedAfterMs: number | undefined;
      const sent = Date.now();
      await new Promise<void>((resolve, reject) => {
        const req = request(`${t.stack.endpoint}/no-such-path`, { agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('socket', (socket: Socket) =>
          socket.once('close', () => {
            closedAfterMs = Date.now() - sent;
          }),
        );
        req.on('error', reject);
        req.end();
      });

      // Act: past Node's default (keepAliveTimeout 5 s, and a second more before it acts).
      await new Promise((resolve) => setTimeout(resolve, 7000));

      // Assess: a request written on it now would not meet a socket the server just closed.
      expect(closedAfterMs).toBeUndefined();
    } finally {
      agent.destroy();
    }
  }, 15_000);
});
