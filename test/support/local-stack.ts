import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { InvocationType, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { vi } from 'vitest';
import { readClaimRules } from '../../lambdas/config/auth';
import {
  isCounterSortKey,
  CONNECTION_TABLE_SCHEMA as schema,
} from '../../lambdas/shared/connection-table-schema';
import type { InvocationRecord } from '../../local/lambda-runtime';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack';
import { signLocalToken } from '../../local/tokens';
import { type OpenOptions, openClient, type TestClient } from './local-clients';
import { POLL } from './waits';

/** Credentials for the SDK clients; the local stack accepts any signature. */
export const E2E_CREDENTIALS = { accessKeyId: 'e2e', secretAccessKey: 'e2e' };

/** Every invocation the stack made, in order, with the event the handler received. */
export class InvocationLog {
  readonly records: InvocationRecord[] = [];

  record = (record: InvocationRecord): void => {
    this.records.push(record);
  };

  /** Records of one function (`authorizer`, `connect`, `disconnect`, `default`, `send`, a route). */
  of(functionName: string): InvocationRecord[] {
    return this.records.filter((r) => r.functionName === functionName);
  }

  /** Records whose event concerns a connection. */
  forConnection(connectionId: string): InvocationRecord[] {
    return this.records.filter((r) => connectionIdOf(r.event) === connectionId);
  }

  /** Waits for the `$disconnect` of a connection and returns its event's requestContext. */
  async disconnectOf(connectionId: string, timeoutMs = POLL.timeout) {
    const record = await vi.waitFor(
      () => {
        const found = this.of('disconnect').find((r) => connectionIdOf(r.event) === connectionId);
        if (found === undefined) throw new Error(`no $disconnect of ${connectionId} yet`);
        return found;
      },
      { timeout: timeoutMs, interval: POLL.interval },
    );
    return (record.event as { requestContext: Record<string, unknown> }).requestContext;
  }
}

function connectionIdOf(event: unknown): string | undefined {
  return (event as { requestContext?: { connectionId?: string } } | null)?.requestContext
    ?.connectionId;
}

/** A started local stack with the real clients a test drives it with. */
export interface TestStack {
  stack: LocalStack;
  invocations: InvocationLog;
  /** The stack's readable log lines. */
  lines: string[];
  lambda: LambdaClient;
  management: ApiGatewayManagementApiClient;
  dynamo: DynamoDBClient;
  /** A valid token for the user, signed with the stack's secret. */
  token(userId: string | number): Promise<string>;
  /** Opens a client as this user. */
  connect(userId: string | number, options?: OpenOptions): Promise<TestClient>;
  /** Opens a client with this token. */
  connectWith(token: string, options?: OpenOptions): Promise<TestClient>;
  /**
   * Every connection row of the connection table (a Scan: fine for a test table); the users'
   * counter items are left out (see `counters`).
   */
  rows(): Promise<Array<{ userId: string; connectionId: string }>>;
  /** The counter item of each user who has one: user id → its count of connections. */
  counters(): Promise<Record<string, number>>;
  /** Invokes `send` through the Lambda API and decodes the answer. */
  invokeSend(
    payload: unknown,
    invocationType?: InvocationType,
  ): Promise<{ status?: number; functionError?: string; body: unknown }>;
  stop(): Promise<void>;
}

/**
 * Starts the local stack in this process on free ports, quiet, recording every invocation.
 *
 * @example
 * let t: TestStack;
 * beforeAll(async () => { t = await startTestStack(); });
 * afterAll(() => t.stop());
 */
export async function startTestStack(options: LocalStackOptions = {}): Promise<TestStack> {
  const invocations = new InvocationLog();
  const lines: string[] = [];
  const clients: TestClient[] = [];
  const stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    handlerLogLevel: 'SILENT',
    log: (line) => lines.push(line),
    onInvoke: invocations.record,
    ...options,
  });
  const common = { region: stack.region, credentials: E2E_CREDENTIALS };
  const lambda = new LambdaClient({ ...common, endpoint: stack.endpoint, maxAttempts: 1 });
  const management = new ApiGatewayManagementApiClient({
    ...common,
    endpoint: stack.endpoint,
    maxAttempts: 1,
  });
  const dynamo = new DynamoDBClient({ ...common, endpoint: stack.dynamoDbEndpoint });
  // Signed as `npm run token` signs: the claims the authorizer reads from this environment.
  const claims = readClaimRules(process.env);
  const token = (userId: string | number) =>
    signLocalToken(userId, {
      secret: stack.jwtSecret,
      audience: claims.audience,
      ...(claims.issuers && { issuer: claims.issuers[0] }),
    });
  const connectWith = async (jwt: string, openOptions?: OpenOptions) => {
    const client = await openClient(`${stack.url}?token=${jwt}`, openOptions);
    clients.push(client);
    return client;
  };
  const scan = async () => {
    const page = await dynamo.send(new ScanCommand({ TableName: stack.tableName }));
    return (page.Items ?? []).map((item) => ({
      userId: item[schema.partitionKey]?.S as string,
      connectionId: item[schema.sortKey]?.S as string,
      count: Number(item[schema.counterAttribute]?.N),
    }));
  };
  return {
    stack,
    invocations,
    lines,
    lambda,
    management,
    dynamo,
    token,
    async connect(userId, openOptions) {
      return connectWith(await token(userId), openOptions);
    },
    connectWith,
    async rows() {
      return (await scan()).filter((row) => !isCounterSortKey(row.connectionId));
    },
    async counters() {
      const counters: Record<string, number> = {};
      for (const row of await scan()) {
        if (isCounterSortKey(row.connectionId)) counters[row.userId] = row.count;
      }
      return counters;
    },
    async invokeSend(payload, invocationType = InvocationType.RequestResponse) {
      const response = await lambda.send(
        new InvokeCommand({
          FunctionName: 'send',
          InvocationType: invocationType,
          Payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        }),
      );
      const text = new TextDecoder().decode(response.Payload ?? new Uint8Array());
      return {
        status: response.StatusCode,
        functionError: response.FunctionError,
        body: text === '' ? undefined : JSON.parse(text),
      };
    },
    async stop() {
      for (const client of clients) client.ws.terminate();
      await stack.stop();
      lambda.destroy();
      management.destroy();
      dynamo.destroy();
    },
  };
}
