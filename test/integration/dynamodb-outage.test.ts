import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as ConnectModule from '../../lambdas/connect';
import type * as DisconnectModule from '../../lambdas/disconnect';
import type * as SendModule from '../../lambdas/send';
import { createConnectionTable } from '../../local/connection-table';
import { LOCAL_CREDENTIALS } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { loadEvent } from '../support/fixtures';
import { type CapturedOutput, captureOutput } from '../support/stdout';

// DynamoDB stopped for real (the server closed, connections refused), then started again on
// the same port: what each handler does while it is down, and that nothing is left behind.

type Server = ReturnType<typeof dynalite>;
let server: Server;
let port: number;
let client: DynamoDBClient;
let api: FakeManagementApi;
let connect: typeof ConnectModule;
let disconnect: typeof DisconnectModule;
let send: typeof SendModule;
/** The handlers' log lines: each failure here logs an error, which would crowd npm test's output. */
let output: CapturedOutput;

async function startDynalite(onPort: number): Promise<void> {
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(onPort, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  client ??= new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    credentials: LOCAL_CREDENTIALS,
  });
  await createConnectionTable(client, 'Connections');
}
const stopDynalite = () => new Promise<void>((resolve) => server.close(() => resolve()));

function connectEvent(connectionId: string) {
  const event = loadEvent('connect');
  event.requestContext.connectionId = connectionId;
  event.requestContext.connectedAt = Date.now();
  return event;
}

beforeAll(async () => {
  output = captureOutput({ quiet: true });
  await startDynalite(0);
  api = await startFakeManagementApi();
  Object.assign(process.env, {
    TABLE_NAME: 'Connections',
    MESSAGE_TABLE_NAME: 'MessageLog',
    DYNAMODB_ENDPOINT: `http://127.0.0.1:${port}`,
    CONNECTIONS_ENDPOINT: api.endpoint,
  });
  [connect, disconnect, send] = await Promise.all([
    import('../../lambdas/connect'),
    import('../../lambdas/disconnect'),
    import('../../lambdas/send'),
  ]);
});
afterAll(async () => {
  output.stop();
  await api.stop();
  await stopDynalite();
});

describe('while DynamoDB is down', () => {
  it('refuses $connect with 500, and lets the client in once DynamoDB is back', async () => {
    await stopDynalite();
    const mark = output.mark();
    expect(await connect.handler(connectEvent('down-1='))).toEqual({
      statusCode: 500,
      body: 'Internal Server Error',
    });
    expect(output.errors('connect failed', mark)).toMatchObject([
      { connectionId: 'down-1=', error: { name: 'StoreUnavailableError' } },
    ]);

    await startDynalite(port);
    expect(await connect.handler(connectEvent('down-1='))).toEqual({ statusCode: 200 });
    const row = await client.send(
      new GetItemCommand({
        TableName: 'Connections',
        Key: { userId: { S: '42' }, connectionId: { S: 'down-1=' } },
      }),
    );
    expect(row.Item?.connectionId).toEqual({ S: 'down-1=' });
  });

  it('fails send with a retryable StoreUnavailableError naming the cause, and posts nothing', async () => {
    await stopDynalite();
    const mark = output.mark();
    try {
      const error = await send
        .handler({ userId: 42, message: { type: 'x' } })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'StoreUnavailableError', retryable: true });
      expect((error as Error).message).toMatch(
        /^connection store Query on Connections failed: .*ECONNREFUSED/,
      );
      expect(api.posts).toEqual([]);
      expect(output.errors('send failed', mark)).toMatchObject([
        { error: { name: 'StoreUnavailableError' } },
      ]);
    } finally {
      await startDynalite(port);
    }
  });

  it('answers $disconnect with 500 and does not throw', async () => {
    await stopDynalite();
    const mark = output.mark();
    try {
      await expect(disconnect.handler(loadEvent('disconnect'))).resolves.toEqual({
        statusCode: 500,
      });
      expect(
        output.errors('disconnect cleanup failed; the row will expire by TTL', mark),
      ).toMatchObject([{ error: { name: 'StoreUnavailableError' } }]);
    } finally {
      await startDynalite(port);
    }
  });
});
