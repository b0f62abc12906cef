import type { AddressInfo } from 'node:net';
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { expect, test } from 'vitest';
import { counterSortKey } from '../../lambdas/shared/connection-table-schema';
import { E2E_CREDENTIALS, startTestStack } from '../support/local-stack';

test('with dynamoDbEndpoint nothing is embedded: the table is created there and used', async () => {
  // Prepare: a DynamoDB API the stack does not own, without the table.
  const external = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => external.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(external.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: E2E_CREDENTIALS,
  });

  try {
    // Act
    const t = await startTestStack({
      dynamoDbEndpoint: endpoint,
      tableName: 'ExternalConnections',
    });
    const ws = await t.connect(801);
    const { connectionId } = await ws.whoami();
    const rows = await client.send(new ScanCommand({ TableName: 'ExternalConnections' }));
    await t.stop();
    const tablesAfterStop = await client.send(new ListTablesCommand({}));

    // Assess
    expect(t.stack.dynamoDbEmbedded).toBe(false);
    expect(t.stack.dynamoDbEndpoint).toBe(endpoint);
    // The connection's row, and its user's counter item counting it.
    expect(rows.Items?.map((item) => item.connectionId?.S).sort()).toEqual(
      [connectionId, counterSortKey('801')].sort(),
    );
    expect(
      rows.Items?.find((item) => item.connectionId?.S === counterSortKey('801'))?.connections,
    ).toEqual({ N: '1' });
    // Still answering: stopping the stack leaves an external DynamoDB alone.
    expect(tablesAfterStop.TableNames).toEqual(['ExternalConnections', 'MessageLog']);
  } finally {
    client.destroy();
    external.closeAllConnections();
    await new Promise((resolve) => external.close(resolve));
  }
});
