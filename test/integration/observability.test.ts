import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type * as AuthorizerModule from '../../lambdas/authorizer';
import type * as ConnectModule from '../../lambdas/connect';
import type * as DefaultModule from '../../lambdas/default';
import type * as DisconnectModule from '../../lambdas/disconnect';
import type * as PresenceModule from '../../lambdas/presence';
import type * as ResumeModule from '../../lambdas/resume';
import type * as SendModule from '../../lambdas/send';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { loadEvent } from '../support/fixtures';
import { lambdaContext } from '../support/lambda-context';
import { captureOutput } from '../support/stdout';
import { hs256Token, TEST_SECRET } from '../support/tokens';

// Every handler logs with its Lambda context, the Powertools way (logger.addContext): the
// request id, the cold-start flag and the function's name on each line of the invocation.

let db: TestDynamoDb;
let api: FakeManagementApi;
let handlers: {
  authorizer: typeof AuthorizerModule;
  connect: typeof ConnectModule;
  disconnect: typeof DisconnectModule;
  default: typeof DefaultModule;
  send: typeof SendModule;
  presence: typeof PresenceModule;
  resume: typeof ResumeModule;
};
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  db = await startDynamoDb();
  api = await startFakeManagementApi();
  Object.assign(process.env, {
    TABLE_NAME: db.tableName,
    MESSAGE_TABLE_NAME: db.messageTableName,
    DYNAMODB_ENDPOINT: db.endpoint,
    CONNECTIONS_ENDPOINT: api.endpoint,
    JWT_SECRET: TEST_SECRET,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    // Lambda sets it for on-demand functions; Powertools reports cold starts only then.
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  });
  const [authorizer, connect, disconnect, defaultRoute, send, presence, resume] = await Promise.all(
    [
      import('../../lambdas/authorizer'),
      import('../../lambdas/connect'),
      import('../../lambdas/disconnect'),
      import('../../lambdas/default'),
      import('../../lambdas/send'),
      import('../../lambdas/presence'),
      import('../../lambdas/resume'),
    ],
  );
  handlers = { authorizer, connect, disconnect, default: defaultRoute, send, presence, resume };
});
afterAll(async () => {
  await api.stop();
  await db.stop();
});
beforeEach(() => {
  output = captureOutput({ quiet: true });
});
afterEach(() => output.stop());

function routeEvent(name: 'connect' | 'disconnect' | 'message', body?: string) {
  const event = loadEvent(name);
  event.requestContext.connectionId = 'obs-conn=';
  event.requestContext.connectedAt = Date.now();
  event.requestContext.authorizer = { principalId: 'obs', integrationLatency: 3, userId: 'obs' };
  if (body !== undefined) event.body = body;
  return event;
}

/** Each handler, invoked once so that it logs at least one line. */
const invocations = {
  authorizer: async () => {
    const event = loadEvent('authorizer-request');
    event.queryStringParameters = { token: await hs256Token({ sub: 'obs' }) };
    return (context: ReturnType<typeof lambdaContext>) =>
      handlers.authorizer.handler(event, context);
  },
  connect: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.connect.handler(routeEvent('connect'), context),
  default: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.default.handler(routeEvent('message', 'not json'), context),
  send: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.send.handler({ userId: 'obs', message: { type: 'obs' } }, context),
  presence: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.presence.handler({ userIds: [] }, context).catch(() => undefined),
  // A resume the connection (a v1 one, with no row) is refused: logged at INFO.
  resume: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.resume.handler(routeEvent('message', '{"action":"resume","after":0}'), context),
  disconnect: async () => (context: ReturnType<typeof lambdaContext>) =>
    handlers.disconnect.handler(routeEvent('disconnect'), context),
};

describe('every handler logs with its Lambda context', () => {
  it.each(Object.keys(invocations) as (keyof typeof invocations)[])(
    '%s: request id, function name, and cold start only on the first invocation',
    async (name) => {
      // Prepare
      const invoke = await invocations[name]();
      const contexts = [lambdaContext(name), lambdaContext(name)];

      // Act
      const marks: number[] = [];
      for (const context of contexts) {
        marks.push(output.mark());
        await invoke(context);
      }
      marks.push(output.mark());

      // Assess
      contexts.forEach((context, i) => {
        const lines = output
          .lines(marks[i])
          .slice(0, output.lines(marks[i]).length - output.lines(marks[i + 1]).length)
          .filter((line) => 'level' in line);
        expect(lines.length, `${name} logged nothing`).toBeGreaterThan(0);
        for (const line of lines) {
          expect(line).toMatchObject({
            function_request_id: context.awsRequestId,
            function_name: name,
            function_arn: context.invokedFunctionArn,
            cold_start: i === 0,
            handler: name,
          });
        }
      });
    },
  );
});
