import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbConnectionStore } from '../../lambdas/adapters/dynamodb-connection-store';
import { claimSeqOf, DynamoDbMessageLog } from '../../lambdas/adapters/dynamodb-message-log';
import { ManagementApiGateway } from '../../lambdas/adapters/management-api-gateway';
import { sendNotification } from '../../lambdas/core/send';
import { consumeSendBatch, deliveryKeyOf } from '../../lambdas/core/send-queue';
import { createDeadLetterQueue } from '../../lambdas/runtime/dead-letter-queue';
import { createLogger } from '../../lambdas/runtime/logger';
import type * as SendQueueModule from '../../lambdas/send-queue';
import { startDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { loadSqsEvent } from '../support/fixtures';
import { lambdaContext } from '../support/lambda-context';
import { type SqsServer, startSqsServer } from '../support/sqs-server';
import { captureOutput } from '../support/stdout';

// The queue consumer exactly as Lambda loads it, driven with AWS's SQS event shape (records
// cloned from the published example), against dynalite, a real `@connections` server and a real
// SQS server holding the dead-letter queue.

let db: TestDynamoDb;
let api: FakeManagementApi;
let sqs: SqsServer;
let consumer: typeof SendQueueModule;
let output: ReturnType<typeof captureOutput>;
const DLQ = 'notifications-dlq';

beforeAll(async () => {
  [db, api, sqs] = await Promise.all([
    startDynamoDb(),
    startFakeManagementApi(),
    startSqsServer([DLQ]),
  ]);
  Object.assign(process.env, {
    TABLE_NAME: db.tableName,
    MESSAGE_TABLE_NAME: db.messageTableName,
    DYNAMODB_ENDPOINT: db.endpoint,
    CONNECTIONS_ENDPOINT: api.endpoint,
    DEAD_LETTER_QUEUE_URL: sqs.urlOf(DLQ),
    POST_TIMEOUT_MS: '500',
    POST_BACKOFF_BASE_MS: '0',
  });
  consumer = await import('../../lambdas/send-queue');
});
afterAll(async () => {
  await Promise.all([api.stop(), db.stop(), sqs.stop()]);
});
beforeEach(() => {
  output = captureOutput({ quiet: true });
});
afterEach(() => output.stop());

async function connection(userId: string, connectionId: string) {
  const now = Date.now();
  await db.client.send(
    new PutItemCommand({
      TableName: db.tableName,
      Item: {
        userId: { S: userId },
        connectionId: { S: connectionId },
        connectedAt: { N: String(now) },
        expiresAt: { N: String(Math.floor(now / 1000) + 3600) },
      },
    }),
  );
}

/** A record of AWS's example event with this id and body. */
function record(messageId: string, body: unknown): SQSRecord {
  const [template] = loadSqsEvent().Records;
  return {
    ...(template as SQSRecord),
    messageId,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

describe('the queue consumer (ReportBatchItemFailures)', () => {
  it('sends good records, returns failing ones, and moves bad ones to the DLQ at once', async () => {
    // Prepare
    await connection('q-good', 'qgood-a=');
    await connection('q-good', 'qgood-b=');
    await connection('q-fail', 'qfail=');
    api.script('qfail=', 'server-error');
    const event: SQSEvent = {
      Records: [
        record('good-1', { userId: 'q-good', message: { type: 'seat_taken', seat: 3 } }),
        record('bad-1', { userId: 'q-good', message: 'not an object' }),
        record('failing-1', { userId: 'q-fail', message: { type: 'pool_filled' } }),
        record('bad-2', 'this is not JSON'),
      ],
    };
    const context = lambdaContext('sendQueue');

    // Act
    const response = await consumer.handler(event, context);

    // Assess: only the failing record comes back.
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'failing-1' }] });
    expect(api.posts.filter((p) => p.connectionId.startsWith('qgood')).map((p) => p.body)).toEqual([
      '{"type":"seat_taken","seat":3}',
      '{"type":"seat_taken","seat":3}',
    ]);
    expect(api.attempts.get('qfail=')).toHaveLength(3);

    // The bad ones are on the dead-letter queue, unchanged, with the reason as attributes.
    const dead = await sqs.queues.named(DLQ)?.receive({ max: 10, waitMs: 0 });
    const byId = Object.fromEntries(
      (dead ?? []).map((m) => [m.messageAttributes.SourceMessageId?.StringValue, m]),
    );
    expect(Object.keys(byId).sort()).toEqual(['bad-1', 'bad-2']);
    expect(byId['bad-1']?.body).toBe(event.Records[1]?.body);
    expect(byId['bad-1']?.messageAttributes).toEqual({
      ErrorCode: { DataType: 'String', StringValue: 'ValidationError' },
      ErrorMessage: {
        DataType: 'String',
        StringValue: 'message: must be a JSON object, got string',
      },
      SourceMessageId: { DataType: 'String', StringValue: 'bad-1' },
      RequestID: { DataType: 'String', StringValue: context.awsRequestId },
    });
    expect(byId['bad-2']?.messageAttributes.ErrorMessage?.StringValue).toMatch(
      /^body: is not JSON/,
    );

    // Logged with the reason and the Lambda context; counted in the metrics.
    const lines = output.lines();
    const refused = lines.filter(
      (l) => l.message === 'bad queued payload moved to the dead-letter queue',
    );
    expect(refused.map((l) => [l.messageId, l.reason])).toEqual(
      expect.arrayContaining([
        ['bad-1', 'message: must be a JSON object, got string'],
        ['bad-2', expect.stringMatching(/^body: is not JSON/)],
      ]),
    );
    expect(refused[0]).toMatchObject({
      function_request_id: context.awsRequestId,
      function_name: 'sendQueue',
    });
    const [emf] = lines.filter((l) => l._aws !== undefined);
    expect(emf).toMatchObject({
      QueueRecordsDeadLettered: [1, 1],
      QueueRecordsRetried: 1,
      SendsRejected: 1,
      MessagesDelivered: expect.arrayContaining([2]),
      MessagesFailed: expect.arrayContaining([1]),
    });
  });

  it('answers an empty list when every record was sent', async () => {
    // Prepare
    await connection('q-all', 'qall=');

    // Act
    const response = await consumer.handler(
      { Records: [record('all-1', { userIds: ['q-all', 7], message: { n: 1 } })] },
      lambdaContext('sendQueue'),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(api.posts.filter((p) => p.connectionId === 'qall=')).toHaveLength(1);
  });

  it('returns a record another delivery is still logging, posts nothing, and warns', async () => {
    // Prepare: a claim of the record's message held by an invocation that runs for an hour more
    // (SQS delivered the message twice at once), as that invocation wrote it.
    await connection('q-busy', 'qbusy=');
    const now = Date.now();
    await db.client.send(
      new PutItemCommand({
        TableName: db.messageTableName,
        Item: {
          userId: { S: 'q-busy' },
          seq: { N: String(claimSeqOf(deliveryKeyOf({ messageId: 'busy-1' }))) },
          deliveryKey: { S: 'sqs:busy-1' },
          after: { N: '0' },
          epoch: { S: 'AAAAAAAAAAAAAAAA' },
          heldUntil: { N: String(now + 3_600_000) },
          expiresAt: { N: String(Math.floor(now / 1000) + 3600) },
        },
      }),
    );

    // Act
    const response = await consumer.handler(
      { Records: [record('busy-1', { userId: 'q-busy', message: { n: 1 } })] },
      lambdaContext('sendQueue'),
    );

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'busy-1' }] });
    expect(api.posts.filter((p) => p.connectionId === 'qbusy=')).toEqual([]);
    expect(
      output
        .lines()
        .filter((l) => l.level === 'WARN' && l.messageId === 'busy-1')
        .map((l) => [l.message, l.userId]),
    ).toEqual([
      ['queued record is being delivered by another invocation; returned for later', 'q-busy'],
    ]);
  });

  it('returns a record when the table cannot be read, and one it could not move to the DLQ', async () => {
    // Prepare: a store on a table that does not exist, and a dead-letter queue that does not.
    const log = createLogger('sendQueue');
    const documents = DynamoDBDocumentClient.from(db.client);
    const missingTable = new DynamoDbConnectionStore(documents, 'NoSuchTable');
    const messageLog = new DynamoDbMessageLog(documents, db.messageTableName, 3600);
    const gateway = new ManagementApiGateway(
      new ApiGatewayManagementApiClient({ endpoint: api.endpoint, maxAttempts: 1 }),
    );
    const options = {
      concurrency: 10,
      postTimeoutMs: 500,
      maxAttempts: 1,
      backoffBaseMs: 0,
      backoffMaxMs: 0,
    };
    const deadLetters = createDeadLetterQueue({
      deadLetterQueueUrl: `${sqs.endpoint}/000000000000/no-such-queue`,
    });

    // Act
    const response = await consumeSendBatch(
      [
        record('store-down', { userId: '42', message: { n: 1 } }),
        record('bad-no-dlq', { userId: '42' }),
      ],
      {
        deliver: (payload) =>
          sendNotification(payload, { store: missingTable, messageLog, gateway, log, options }),
        deadLetters,
        log,
      },
    );

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      'bad-no-dlq',
      'store-down',
    ]);
    const errors = output.lines().filter((l) => l.level === 'ERROR');
    expect(errors.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        'queued send failed; returned for redelivery',
        'bad queued payload could not be moved to the dead-letter queue; returned',
      ]),
    );
  });
});
