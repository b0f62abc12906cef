import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QUEUE } from '../../lambdas/shared/limits';
import type { LambdaHandler } from '../../local/lambda-runtime';
import { type FakeManagementApi, startFakeManagementApi } from '../support/fake-management-api';
import { E2E_CREDENTIALS, startTestStack, type TestStack } from '../support/local-stack';

// The notification queue and the bus on the local stack's origin, driven by the AWS SDK (SQS's
// JSON protocol) and Debian's boto3 1.26 (the query protocol), unchanged but for the endpoint;
// messages reach sockets through the sendQueue handler, as Lambda delivers them.

const run = promisify(execFile);
let t: TestStack;
let sqs: SQSClient;
let events: EventBridgeClient;

beforeAll(async () => {
  t = await startTestStack();
  const common = { region: t.stack.region, credentials: E2E_CREDENTIALS, maxAttempts: 1 };
  sqs = new SQSClient({ ...common, endpoint: t.stack.endpoint });
  events = new EventBridgeClient({ ...common, endpoint: t.stack.endpoint });
});
afterAll(async () => {
  sqs?.destroy();
  events?.destroy();
  await t?.stop();
});

/** Runs Python with Debian's boto3 against the stack, and returns what it printed as JSON. */
async function boto3(script: string, stack = t.stack): Promise<unknown> {
  const prelude = [
    'import boto3, botocore, json',
    `sqs = boto3.client("sqs", endpoint_url="${stack.endpoint}", region_name="${stack.region}", aws_access_key_id="e2e", aws_secret_access_key="e2e")`,
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', `${prelude}\n${script}`], {
    env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' },
  });
  return JSON.parse(stdout);
}

describe('the AWS SDK (JSON protocol)', () => {
  it('finds the queue by name and delivers SendMessage and SendMessageBatch to the sockets', async () => {
    // Prepare
    const [a, b] = [await t.connect('sqs-a'), await t.connect('sqs-b')];

    // Act
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'notifications' }));
    await sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: JSON.stringify({ userId: 'sqs-a', message: { n: 1 } }),
      }),
    );
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          {
            Id: 'one',
            MessageBody: JSON.stringify({ userIds: ['sqs-a', 'sqs-b'], message: { n: 2 } }),
          },
          { Id: 'two', MessageBody: JSON.stringify({ userId: 'sqs-b', message: { n: 3 } }) },
        ],
      }),
    );

    // Assess
    expect(QueueUrl).toBe(t.stack.queueUrl);
    expect(batch.Successful?.map((s) => s.Id)).toEqual(['one', 'two']);
    await expect.poll(() => [a.received.length, b.received.length]).toEqual([2, 2]);
    expect(a.received.map((m) => JSON.parse(m)).sort((x, y) => x.n - y.n)).toEqual([
      { n: 1 },
      { n: 2 },
    ]);
    expect(b.received.map((m) => JSON.parse(m)).sort((x, y) => x.n - y.n)).toEqual([
      { n: 2 },
      { n: 3 },
    ]);
    const consumer = t.invocations.of('sendQueue');
    const event = consumer[0]?.event as SQSEvent;
    expect(event.Records[0]).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:notifications',
      attributes: { ApproximateReceiveCount: '1' },
    });
  });

  it('refuses what SQS refuses, with its errors', async () => {
    // Act
    const unknown = await sqs
      .send(new GetQueueUrlCommand({ QueueName: 'no-such-queue' }))
      .catch((e: Error) => e);
    const tooMany = await sqs
      .send(
        new SendMessageBatchCommand({
          QueueUrl: t.stack.queueUrl,
          Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: '{}' })),
        }),
      )
      .catch((e: Error) => e);
    const tooLong = await sqs
      .send(
        new SendMessageCommand({
          QueueUrl: t.stack.queueUrl,
          MessageBody: 'x'.repeat(QUEUE.maxMessageBytes + 1),
        }),
      )
      .catch((e: Error) => e);
    const badCharacters = await sqs
      .send(new SendMessageCommand({ QueueUrl: t.stack.queueUrl, MessageBody: 'bell \u0007' }))
      .catch((e: Error) => e);

    // Assess
    expect(unknown).toMatchObject({ name: 'QueueDoesNotExist' });
    expect(tooMany).toMatchObject({ name: 'TooManyEntriesInBatchRequest' });
    expect(tooLong).toMatchObject({ name: 'InvalidParameterValue' });
    expect((tooLong as Error).message).toContain('shorter than 262144 bytes');
    expect(badCharacters).toMatchObject({ name: 'InvalidMessageContents' });
  });
});

describe("Debian's boto3 (query protocol)", () => {
  it('runs the documented snippet: get_queue_url, send_message, send_message_batch', async () => {
    // Prepare
    const client = await t.connect('boto3-user');
    const message = { type: 'seat_taken', note: 'line\r\nbreak & <tag>' };

    // Act
    const result = await boto3(`
url = sqs.get_queue_url(QueueName="notifications")["QueueUrl"]
message = json.loads(${JSON.stringify(JSON.stringify(message))})
one = sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"userId": "boto3-user", "message": message}))
batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "b1", "MessageBody": json.dumps({"userId": "boto3-user", "message": {"n": 2}})}])
try:
    sqs.get_queue_url(QueueName="no-such-queue")
    error = None
except botocore.exceptions.ClientError as e:
    error = e.response["Error"]["Code"]
print(json.dumps({"url": url, "md5": one["MD5OfMessageBody"], "batch": [s["Id"] for s in batch["Successful"]], "error": error}))
`);

    // Assess
    expect(result).toEqual({
      url: t.stack.queueUrl,
      md5: expect.stringMatching(/^[0-9a-f]{32}$/),
      batch: ['b1'],
      error: 'AWS.SimpleQueueService.NonExistentQueue',
    });
    await expect.poll(() => client.received).toHaveLength(2);
    expect(client.received.map((m) => JSON.parse(m))).toEqual(
      expect.arrayContaining([message, { n: 2 }]),
    );
  });

  it('reads the dead-letter queue: a bad body, its reason, and its body byte for byte', async () => {
    // Prepare: a body with characters XML must escape, and a carriage return.
    const body = '{"userId": "42", "message": "a\\r\\n & <b>"}\r\n';

    // Act
    const result = (await boto3(`
url = sqs.get_queue_url(QueueName="notifications")["QueueUrl"]
sent = sqs.send_message(QueueUrl=url, MessageBody=${JSON.stringify(body)})
import time
dlq = sqs.get_queue_url(QueueName="notifications-dlq")["QueueUrl"]
found = None
for _ in range(50):
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])
    found = next((m for m in messages if m["MessageAttributes"]["SourceMessageId"]["StringValue"] == sent["MessageId"]), None)
    if found:
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=found["ReceiptHandle"])
        break
    time.sleep(0.1)
print(json.dumps({"body": found["Body"], "code": found["MessageAttributes"]["ErrorCode"]["StringValue"], "reason": found["MessageAttributes"]["ErrorMessage"]["StringValue"]}))
`)) as { body: string; code: string; reason: string };

    // Assess
    expect(result).toEqual({
      body,
      code: 'ValidationError',
      reason: 'message: must be a JSON object, got string',
    });
  });
});

describe('redelivery (visibility timeout and maxReceiveCount, as deployed)', () => {
  it('delivers a record whose posts failed again, then moves it to the dead-letter queue', async () => {
    // Prepare: a send timeout too short for any post (each needs postTimeoutMs, 3 s), so every
    // post fails "not attempted", a real retryable failure; a short visibility timeout.
    const r = await startTestStack({
      sendTimeoutMs: 2000,
      queueVisibilityTimeoutMs: 300,
      queueMaxReceiveCount: 2,
      // A cold start inside a 300 ms visibility timeout would let the record come back while its
      // first delivery still runs, as on AWS; this test is about the redelivery that follows.
      warmFunctions: true,
    });
    const client = new SQSClient({
      region: r.stack.region,
      credentials: E2E_CREDENTIALS,
      endpoint: r.stack.endpoint,
    });
    try {
      const socket = await r.connect('slow-user');

      // Act
      const { MessageId } = await client.send(
        new SendMessageCommand({
          QueueUrl: r.stack.queueUrl,
          MessageBody: JSON.stringify({ userId: 'slow-user', message: { n: 1 } }),
        }),
      );
      const dead = await vi.waitFor(
        async () => {
          const { Messages } = await client.send(
            new ReceiveMessageCommand({
              QueueUrl: r.stack.deadLetterQueueUrl,
              AttributeNames: ['All'],
              MessageAttributeNames: ['All'],
            }),
          );
          if (!Messages?.[0]) throw new Error('no message on the dead-letter queue yet');
          return Messages[0];
        },
        { timeout: 10_000, interval: 20 },
      );

      // Assess: two deliveries (receive counts 1 and 2), each answered with the record. An
      // invocation is recorded when it ends: on a busy machine the second may still run when the
      // record's third receive has moved it to the dead-letter queue. A first delivery paused
      // past the visibility timeout runs beside the second and may end after it, as on AWS.
      await expect.poll(() => r.invocations.of('sendQueue').length).toBeGreaterThanOrEqual(2);
      const deliveries = r.invocations
        .of('sendQueue')
        .map((i) => {
          const [record] = (i.event as SQSEvent).Records;
          return {
            messageId: record?.messageId,
            receiveCount: record?.attributes.ApproximateReceiveCount,
            response: i.outcome.ok ? i.outcome.result : i.outcome.error,
          };
        })
        .sort((a, b) => Number(a.receiveCount) - Number(b.receiveCount));
      expect(deliveries).toEqual(
        [1, 2].map((n) => ({
          messageId: MessageId,
          receiveCount: String(n),
          response: { batchItemFailures: [{ itemIdentifier: MessageId }] },
        })),
      );
      // Moved by the redrive policy, as it was: no reason attributes, the source queue named.
      expect(dead).toMatchObject({
        MessageId,
        Body: JSON.stringify({ userId: 'slow-user', message: { n: 1 } }),
        Attributes: {
          DeadLetterQueueSourceArn: 'arn:aws:sqs:us-east-1:000000000000:notifications',
        },
      });
      expect(dead.MessageAttributes).toBeUndefined();
      expect(socket.received).toEqual([]);
      // Logged once, by the first delivery: the second found its seq.
      expect(await logHead(r, 'slow-user')).toBe(1);
      const { Attributes } = await client.send(
        new GetQueueAttributesCommand({ QueueUrl: r.stack.queueUrl, AttributeNames: ['All'] }),
      );
      expect(Attributes).toMatchObject({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:notifications-dlq',
          maxReceiveCount: 2,
        }),
      });
    } finally {
      client.destroy();
      await r.stop();
    }
  });
});

/** The `last` seq of a user's message log, read from the table. */
async function logHead(stack: TestStack, userId: string): Promise<number | undefined> {
  const { Item } = await stack.dynamo.send(
    new GetItemCommand({
      TableName: stack.stack.messageTableName,
      Key: { userId: { S: userId }, seq: { N: '0' } },
      ConsistentRead: true,
    }),
  );
  return Item?.last?.N === undefined ? undefined : Number(Item.last.N);
}

describe('a redelivered record and protocol v2 clients', () => {
  let r: TestStack;
  let api: FakeManagementApi;
  let consumer: { handler: LambdaHandler };

  beforeAll(async () => {
    // The deployed queue consumer, pointed at a Management API that can throttle one
    // connection and passes every other post on to the stack's sockets; it runs in this thread.
    // A delivery that outlasts the visibility timeout lets another poller receive the record
    // while it runs, as on AWS (a third delivery): 2 s leaves a loaded machine room for pauses.
    r = await startTestStack({
      queueVisibilityTimeoutMs: 2000,
      wrapHandler: (name, handler): LambdaHandler =>
        name === 'sendQueue' ? (event, context) => consumer.handler(event, context) : handler,
    });
    api = await startFakeManagementApi({ upstream: r.stack.endpoint });
    // Its configuration, read once as the module loads, then this process's own again.
    const env = {
      TABLE_NAME: r.stack.tableName,
      MESSAGE_TABLE_NAME: r.stack.messageTableName,
      DYNAMODB_ENDPOINT: r.stack.dynamoDbEndpoint,
      CONNECTIONS_ENDPOINT: api.endpoint,
      DEAD_LETTER_QUEUE_URL: r.stack.deadLetterQueueUrl,
      POST_MAX_ATTEMPTS: '3',
      POST_BACKOFF_BASE_MS: '0',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      // As the stack's own functions are when quiet: no metric lines among the test output.
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      const module = new URL('../../lambdas/send-queue.ts', import.meta.url);
      module.searchParams.set('redelivery', '1');
      consumer = (await import(module.href)) as { handler: LambdaHandler };
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
  afterAll(async () => {
    await r?.stop();
    await api?.stop();
  });

  it('posts it again with the seq of its first delivery, which the log holds once', async () => {
    // Prepare: two v2 tabs of one user; API Gateway throttles the second for 3 attempts, so the
    // first delivery fails there and the record comes back.
    const tabs = [
      await r.connect('redelivered-user', { protocols: ['tripsync.v2'] }),
      await r.connect('redelivered-user', { protocols: ['tripsync.v2'] }),
    ];
    const [, throttledId] = await Promise.all(
      tabs.map(async (tab) => (await tab.whoami()).connectionId),
    );
    api.script(throttledId as string, { throttleTimes: 3 });
    const sqs = new SQSClient({
      region: r.stack.region,
      credentials: E2E_CREDENTIALS,
      endpoint: r.stack.endpoint,
    });

    // Act
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: r.stack.queueUrl,
          MessageBody: JSON.stringify({ userId: 'redelivered-user', message: { n: 1 } }),
        }),
      );
    } finally {
      sqs.destroy();
    }
    await expect.poll(() => r.invocations.of('sendQueue').length).toBeGreaterThanOrEqual(2);

    // Assess: two deliveries, the first with the record failed, the second without (a failure
    // shows every delivery's outcome). The first tab got it twice, the second once, all with
    // seq 1: a v2 client drops the repeat by its seq. The log holds it once.
    expect(r.invocations.of('sendQueue').map((i) => i.outcome)).toEqual([
      { ok: true, result: { batchItemFailures: [{ itemIdentifier: expect.any(String) }] } },
      { ok: true, result: { batchItemFailures: [] } },
    ]);
    const frames = async (tab: (typeof tabs)[number], n: number) => {
      const received = [];
      for (let i = 0; i < n; i++) received.push(JSON.parse(await tab.next()));
      return received;
    };
    const [again, once] = [await frames(tabs[0] as never, 2), await frames(tabs[1] as never, 1)];
    for (const frame of [...again, ...once]) {
      expect(frame).toEqual({
        type: 'message',
        seq: 1,
        epoch: expect.any(String),
        message: { n: 1 },
      });
    }
    expect(await logHead(r, 'redelivered-user')).toBe(1);
  });
});

describe('EventBridge PutEvents on the local default bus', () => {
  it("delivers a TripSync Notification's detail through the queue; refuses a bad entry alone", async () => {
    // Prepare
    const client = await t.connect('event-user');

    // Act
    const result = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: 'com.tripsync.bookings',
            DetailType: 'TripSync Notification',
            Detail: JSON.stringify({ userId: 'event-user', message: { via: 'events' } }),
          },
          { Source: 'com.tripsync.bookings', DetailType: 'TripSync Notification', Detail: '[1]' },
          { Source: 'com.tripsync.bookings', DetailType: 'Seat Taken', Detail: '{}' },
        ],
      }),
    );

    // Assess
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries).toEqual([
      { EventId: expect.any(String) },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { EventId: expect.any(String) },
    ]);
    await expect.poll(() => client.received).toHaveLength(1);
    expect(JSON.parse(client.received[0] as string)).toEqual({ via: 'events' });
    expect(
      t.lines.some((l) => l.includes('Seat Taken from com.tripsync.bookings (no rule matches)')),
    ).toBe(true);
  });
});
