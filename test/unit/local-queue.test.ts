import { describe, expect, it } from 'vitest';
import type { InvocationOutcome } from '../../local/lambda-runtime';
import { settleBatch, sqsEvent } from '../../local/queue-event-source';
import { queryInput } from '../../local/sqs-api';
import { LocalQueue, type LocalQueueOptions, md5OfMessageAttributes } from '../../local/sqs-queue';
import { loadSqsEvent } from '../support/fixtures';

// The local queue's rules (visibility, redrive, retention), the query protocol's parameters,
// Lambda's batch settlement and its event shape: pure parts of the local stack, on a fake clock.

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function queues(time: ReturnType<typeof clock>, overrides: Partial<LocalQueueOptions> = {}) {
  const common = {
    visibilityTimeoutMs: 1000,
    retentionMs: 60_000,
    maxMessageBytes: 262_144,
    now: time.now,
  };
  const deadLetters = new LocalQueue({
    ...common,
    name: 'notifications-dlq',
    url: 'http://127.0.0.1:1/000000000000/notifications-dlq',
    arn: 'arn:aws:sqs:us-east-1:000000000000:notifications-dlq',
  });
  const redriven: string[] = [];
  const queue = new LocalQueue({
    ...common,
    name: 'notifications',
    url: 'http://127.0.0.1:1/000000000000/notifications',
    arn: 'arn:aws:sqs:us-east-1:000000000000:notifications',
    redrive: { deadLetterQueue: deadLetters, maxReceiveCount: 2 },
    onRedrive: (message) => redriven.push(message.messageId),
    ...overrides,
  });
  return { queue, deadLetters, redriven };
}

describe('LocalQueue', () => {
  it('hides a received message for the visibility timeout, then delivers it again', async () => {
    // Prepare
    const time = clock();
    const { queue } = queues(time);
    const sent = queue.send({ body: 'a' });

    // Act
    const first = await queue.receive({ max: 10, waitMs: 0 });
    const whileHidden = await queue.receive({ max: 10, waitMs: 0 });
    time.advance(1000);
    const again = await queue.receive({ max: 10, waitMs: 0 });

    // Assess
    expect(first.map((m) => m.messageId)).toEqual([sent.messageId]);
    expect(whileHidden).toEqual([]);
    expect(again.map((m) => [m.messageId, m.receiveCount])).toEqual([[sent.messageId, 2]]);
  });

  it('deletes only with the latest receipt handle', async () => {
    // Prepare
    const time = clock();
    const { queue } = queues(time);
    queue.send({ body: 'a' });
    const [first] = await queue.receive({ max: 1, waitMs: 0 });
    const oldHandle = first?.receiptHandle as string;
    time.advance(1000);
    const [second] = await queue.receive({ max: 1, waitMs: 0 });

    // Act
    const withOld = queue.delete(oldHandle);
    const withLatest = queue.delete(second?.receiptHandle as string);

    // Assess
    expect(withOld).toBe(false);
    expect(withLatest).toBe(true);
    expect(queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('moves a message received maxReceiveCount times to the dead-letter queue, as it was', async () => {
    // Prepare
    const time = clock();
    const { queue, deadLetters, redriven } = queues(time);
    const sent = queue.send({
      body: '{"userId":"42"}',
      messageAttributes: { Origin: { DataType: 'String', StringValue: 'bookings' } },
    });
    await queue.receive({ max: 1, waitMs: 0 });
    time.advance(1000);
    await queue.receive({ max: 1, waitMs: 0 });
    time.advance(1000);

    // Act
    const third = await queue.receive({ max: 1, waitMs: 0 });
    const [dead] = await deadLetters.receive({ max: 1, waitMs: 0 });

    // Assess
    expect(third).toEqual([]);
    expect(redriven).toEqual([sent.messageId]);
    expect(dead).toMatchObject({
      messageId: sent.messageId,
      body: '{"userId":"42"}',
      md5OfBody: sent.md5OfBody,
      sentTimestamp: sent.sentTimestamp,
      receiveCount: 1,
      deadLetterQueueSourceArn: queue.arn,
      messageAttributes: { Origin: { DataType: 'String', StringValue: 'bookings' } },
    });
  });

  it('wakes a long poll when a message arrives', async () => {
    // Prepare
    const { queue } = queues(clock(Date.now()), { now: Date.now });
    const polling = queue.receive({ max: 10, waitMs: 5000 });

    // Act
    queue.send({ body: 'late' });
    const received = await polling;

    // Assess
    expect(received.map((m) => m.body)).toEqual(['late']);
  });

  it('holds a delayed message back, and drops one past the retention period', async () => {
    // Prepare
    const time = clock();
    const { queue } = queues(time);
    queue.send({ body: 'delayed', delaySeconds: 2 });

    // Act
    const atOnce = await queue.receive({ max: 10, waitMs: 0 });
    time.advance(2000);
    const [later] = await queue.receive({ max: 10, waitMs: 0 });
    queue.send({ body: 'forgotten' });
    time.advance(60_001);
    const afterRetention = await queue.receive({ max: 10, waitMs: 0 });

    // Assess
    expect(atOnce).toEqual([]);
    expect(later?.body).toBe('delayed');
    expect(afterRetention).toEqual([]);
    expect(queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});

describe('md5OfMessageAttributes', () => {
  // Published vectors: the SQS developer guide's example, and two from other SQS implementations'
  // test suites (LocalStack, sqslite), each computed by AWS's algorithm.
  it.each([
    [
      { SellerName: { DataType: 'String', StringValue: 'Example Store' } },
      'cd28f3b68aeee4b2eac9c66f2f694b58',
    ],
    [
      { timestamp: { DataType: 'Number', StringValue: '1493147359900' } },
      '235c5c510d26fb653d073faed50ae77c',
    ],
    [
      {
        ordinal: { DataType: 'Number', StringValue: '1' },
        category: { DataType: 'String', StringValue: 'test' },
      },
      'd21ae90c49061e927f57df5f5d72be1f',
    ],
  ])('matches SQS for %j', (attributes, expected) => {
    expect(md5OfMessageAttributes(attributes)).toBe(expected);
  });

  it('is undefined without attributes, as SQS leaves MD5OfMessageAttributes out', () => {
    expect(md5OfMessageAttributes({})).toBeUndefined();
  });
});

describe('the query protocol parameters', () => {
  it('become the JSON protocol input: message attributes as a map, batch entries as a list', () => {
    // Prepare: what botocore 1.29's query serializer sends.
    const params = new URLSearchParams({
      Action: 'SendMessageBatch',
      QueueUrl: 'http://127.0.0.1:3001/000000000000/notifications',
      'SendMessageBatchRequestEntry.2.Id': 'b',
      'SendMessageBatchRequestEntry.2.MessageBody': '{"n":2}',
      'SendMessageBatchRequestEntry.1.Id': 'a',
      'SendMessageBatchRequestEntry.1.MessageBody': '{"n":1}',
      'SendMessageBatchRequestEntry.1.MessageAttribute.1.Name': 'Origin',
      'SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType': 'String',
      'SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue': 'bookings',
      'AttributeName.1': 'All',
    });

    // Act
    const input = queryInput(params);

    // Assess
    expect(input).toEqual({
      Action: 'SendMessageBatch',
      QueueUrl: 'http://127.0.0.1:3001/000000000000/notifications',
      Entries: [
        {
          Id: 'a',
          MessageBody: '{"n":1}',
          MessageAttributes: { Origin: { DataType: 'String', StringValue: 'bookings' } },
        },
        { Id: 'b', MessageBody: '{"n":2}' },
      ],
      AttributeNames: ['All'],
    });
  });
});

describe('the local event source', () => {
  it("builds records with exactly the fields of AWS's SQS event", async () => {
    // Prepare
    const time = clock();
    const { queue } = queues(time);
    queue.send({
      body: 'Test message.',
      messageAttributes: { myAttribute: { DataType: 'String', StringValue: 'myValue' } },
    });
    const messages = await queue.receive({ max: 10, waitMs: 0 });
    const fixture = loadSqsEvent().Records[0];

    // Act
    const [record] = sqsEvent(messages, queue, 'us-east-2').Records;

    // Assess: the same keys, at every level, with values of the same types.
    expect(record).toBeDefined();
    const shape = (value: unknown): unknown =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.fromEntries(
            Object.entries(value)
              .filter(([key]) => key !== 'md5OfMessageAttributes')
              .map(([k, v]) => [k, shape(v)])
              .sort(([a], [b]) => String(a).localeCompare(String(b))),
          )
        : Array.isArray(value)
          ? 'array'
          : typeof value;
    expect(shape(record)).toEqual(shape(fixture));
    expect(record).toMatchObject({
      body: 'Test message.',
      md5OfBody: fixture?.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-2',
      messageAttributes: fixture?.messageAttributes,
    });
    expect(record?.attributes.ApproximateReceiveCount).toBe('1');
  });

  it.each<[string, InvocationOutcome, { done: string[]; returned: string[] }]>([
    ['no response: all done', { ok: true, result: null }, { done: ['a', 'b'], returned: [] }],
    [
      'an empty list: all done',
      { ok: true, result: { batchItemFailures: [] } },
      { done: ['a', 'b'], returned: [] },
    ],
    [
      'the failures named come back',
      { ok: true, result: { batchItemFailures: [{ itemIdentifier: 'b' }] } },
      { done: ['a'], returned: ['b'] },
    ],
    [
      'an identifier not in the batch returns the whole batch',
      { ok: true, result: { batchItemFailures: [{ itemIdentifier: 'zzz' }] } },
      { done: [], returned: ['a', 'b'] },
    ],
    [
      'an empty identifier returns the whole batch',
      { ok: true, result: { batchItemFailures: [{ itemIdentifier: '' }] } },
      { done: [], returned: ['a', 'b'] },
    ],
    [
      'a function error returns the whole batch',
      { ok: false, timedOut: false, error: { errorType: 'Error', errorMessage: 'x', trace: [] } },
      { done: [], returned: ['a', 'b'] },
    ],
  ])('settles a batch as Lambda does: %s', (_name, outcome, expected) => {
    expect(settleBatch(outcome, ['a', 'b'])).toMatchObject(expected);
  });
});
