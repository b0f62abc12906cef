import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { counterSortKey } from '../lambdas/shared/connection-table-schema';
import { signLocalToken } from '../local/tokens';
import { ClientFleet, type OpenResult } from './clients';
import { type StackProcess, startStackProcess } from './stack-control';

/** Any credentials sign: the local stack checks none. */
const CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' };

/** The local stack in its own process, and this process's clients of it. */
export interface LocalBench {
  stack: StackProcess;
  /** Every `ws` client connection, to the gateway and to the raw server. */
  fleet: ClientFleet;
  /** The producer: Lambda `Invoke` of `send`, as a backend service calls it. */
  lambda: LambdaClient;
  dynamo: DynamoDBClient;
  /** The WebSocket URL with a token for `userId` (tokens are signed once per user). */
  urlFor(userId: string): Promise<string>;
  /** Opens `count` connections as `userId`, `inFlight` handshakes at a time. */
  connectUser(userId: string, count: number, inFlight: number): Promise<OpenResult>;
  /** Opens one connection for each user, `inFlight` handshakes at a time. */
  connectUsers(userIds: readonly string[], inFlight: number): Promise<OpenResult>;
  /** Invokes `send` (RequestResponse) and returns the decoded result. */
  invokeSend(payload: unknown): Promise<unknown>;
  /** Invokes a function producers may invoke (`send`, `presence`) and decodes its result. */
  invoke(functionName: string, payload: unknown): Promise<unknown>;
  /** A user's connection ids, read from the table (one Query). */
  connectionIdsOf(userId: string): Promise<string[]>;
  /** A Management API client of this process with the SDK's defaults (50 sockets, 3 attempts). */
  managementClient(): ApiGatewayManagementApiClient;
  stop(): Promise<void>;
}

/**
 * Starts the stack process and the clients the benchmark drives it with. `maxConnectionsPerUser`
 * raises the stack's per-user cap (`MAX_CONNECTIONS_PER_USER`) to what the run opens for one user.
 *
 * @example
 * const bench = await startLocalBench({ maxConnectionsPerUser: 1000 });
 * await bench.connectUser('42', 10, 10);
 * await bench.invokeSend({ userId: '42', message: { type: 'hi' } });
 * await bench.stop();
 */
export async function startLocalBench(
  options: { maxConnectionsPerUser?: number } = {},
): Promise<LocalBench> {
  const stack = await startStackProcess(
    options.maxConnectionsPerUser === undefined
      ? {}
      : { maxConnectionsPerUser: options.maxConnectionsPerUser },
  );
  const { info } = stack;
  const common = { region: info.region, credentials: CREDENTIALS, maxAttempts: 1 };
  const lambda = new LambdaClient({ ...common, endpoint: info.endpoint });
  const dynamo = new DynamoDBClient({ ...common, endpoint: info.dynamoDbEndpoint });
  const fleet = new ClientFleet();
  const tokens = new Map<string, string>();
  const urlFor = async (userId: string) => {
    let token = tokens.get(userId);
    if (token === undefined) {
      token = await signLocalToken(userId, { secret: info.jwtSecret });
      tokens.set(userId, token);
    }
    return `${info.url}?token=${token}`;
  };
  const managementClients: ApiGatewayManagementApiClient[] = [];
  const invoke = async (functionName: string, payload: unknown): Promise<unknown> => {
    const response = await lambda.send(
      new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify(payload) }),
    );
    const body: unknown = JSON.parse(new TextDecoder().decode(response.Payload));
    if (response.FunctionError) throw new Error(`${functionName} failed: ${JSON.stringify(body)}`);
    return body;
  };
  return {
    stack,
    fleet,
    lambda,
    dynamo,
    urlFor,
    async connectUser(userId, count, inFlight) {
      const url = await urlFor(userId);
      return fleet.open(
        Array.from({ length: count }, () => url),
        { inFlight },
      );
    },
    async connectUsers(userIds, inFlight) {
      const urls = await Promise.all(userIds.map(urlFor));
      return fleet.open(urls, { inFlight });
    },
    invokeSend(payload) {
      return invoke('send', payload);
    },
    invoke,
    async connectionIdsOf(userId) {
      const ids: string[] = [];
      let startKey: QueryCommand['input']['ExclusiveStartKey'];
      do {
        const page = await dynamo.send(
          new QueryCommand({
            TableName: info.tableName,
            // The range after the user's counter item: the connection rows alone.
            KeyConditionExpression: 'userId = :u AND connectionId > :counter',
            ExpressionAttributeValues: {
              ':u': { S: userId },
              ':counter': { S: counterSortKey(userId) },
            },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) ids.push(item.connectionId?.S as string);
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return ids;
    },
    managementClient() {
      const client = new ApiGatewayManagementApiClient({
        region: info.region,
        credentials: CREDENTIALS,
        endpoint: info.endpoint,
      });
      managementClients.push(client);
      return client;
    },
    async stop() {
      for (const ws of fleet.sockets) ws.terminate();
      await stack.stop();
      lambda.destroy();
      dynamo.destroy();
      for (const client of managementClients) client.destroy();
    },
  };
}
