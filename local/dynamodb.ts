import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { createConnectionTable, createMessageLogTable } from './connection-table';
import { listen } from './listen';

/** The DynamoDB API the handlers use: embedded dynalite, or an external endpoint. */
export interface LocalDynamoDb {
  endpoint: string;
  /** True when dynalite runs in this process. */
  embedded: boolean;
  stop(): Promise<void>;
}

export interface LocalDynamoDbOptions {
  host: string;
  /** dynalite's port; 0 picks a free one. Ignored with `endpoint`. */
  port: number;
  /** An external DynamoDB API (DynamoDB Local, or AWS); nothing is embedded then. */
  endpoint?: string;
  tableName: string;
  /** The message log table. */
  messageTableName: string;
  region: string;
  /** Signing credentials for the embedded server (which accepts any). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Starts dynalite in memory (or uses the external endpoint) and makes sure the connection
 * table and the message log exist, with the same keys and index as the deployed ones. An existing table is left
 * alone, so an external table needs only `DescribeTable`. dynalite 4 as released never closes
 * the storage iterator of a Query or Scan; `patches/dynalite+4.0.0.patch` (applied by
 * `patch-package` on install) makes it close each one.
 *
 * @example
 * const db = await startLocalDynamoDb({ host: '127.0.0.1', port: 8000, tableName: 'Connections', region: 'us-east-1' });
 * // ... db.endpoint is 'http://127.0.0.1:8000'
 * await db.stop();
 */
export async function startLocalDynamoDb(options: LocalDynamoDbOptions): Promise<LocalDynamoDb> {
  let server: Server | undefined;
  let endpoint = options.endpoint;
  if (endpoint === undefined) {
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await listen(server, options.port, options.host, 'DYNAMODB_PORT');
    const { port } = server.address() as AddressInfo;
    endpoint = `http://${displayHost(options.host)}:${port}`;
  }
  const stop = async () => {
    if (!server) return;
    const s = server;
    server = undefined;
    // The handlers' SDK clients keep connections alive; close() alone would wait for them.
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  try {
    await ensureTable(endpoint, options);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, embedded: server !== undefined, stop };
}

async function ensureTable(endpoint: string, options: LocalDynamoDbOptions): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: options.region,
    maxAttempts: 2,
    ...(options.credentials && { credentials: options.credentials }),
  });
  try {
    await ensure(client, endpoint, options.tableName, createConnectionTable);
    await ensure(client, endpoint, options.messageTableName, createMessageLogTable);
  } finally {
    client.destroy();
  }
}

async function ensure(
  client: DynamoDBClient,
  endpoint: string,
  tableName: string,
  create: (client: DynamoDBClient, tableName: string) => Promise<void>,
): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) {
      throw new Error(
        `DynamoDB at ${endpoint} did not answer DescribeTable ${tableName}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    await create(client, tableName);
  }
}

/**
 * A bind address as a client can reach it: a wildcard becomes loopback.
 *
 * @example
 * displayHost('0.0.0.0'); // '127.0.0.1'
 */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
