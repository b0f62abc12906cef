import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { METRICS } from '../../lambdas/shared/metrics';
import { refusedWith } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { type CapturedOutput, captureOutput } from '../support/stdout';
import { POLL } from '../support/waits';

// The local stack prints the handlers' EMF lines like any other log line: these tests read back
// what a send, a handshake and a close publish, and check it against what happened.

let t: TestStack;
let output: CapturedOutput;

beforeAll(async () => {
  // Any level but SILENT prints the metric lines; ERROR keeps the rest quiet.
  t = await startTestStack({ handlerLogLevel: 'ERROR' });
});
afterAll(async () => {
  // The stop closes the sockets the tests left open: their $disconnects print metric lines too.
  const closing = captureOutput({ quiet: true });
  try {
    await t?.stop();
  } finally {
    closing.stop();
  }
});
beforeEach(() => {
  output = captureOutput({ quiet: true });
});
afterEach(() => output.stop());

/** An EMF line: `_aws.CloudWatchMetrics` names the metrics, their values are top-level keys. */
interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/** The EMF lines printed since `from` that publish `metric`. */
function emfLines(from: number, metric: string): EmfLine[] {
  return (output.lines(from) as EmfLine[]).filter((line) =>
    line._aws?.CloudWatchMetrics.some((block) => block.Metrics.some((m) => m.Name === metric)),
  );
}

describe('EMF metric lines', () => {
  it("a send's delivered, stale, failed and not attempted are its result's, with its duration", async () => {
    // Prepare: two open tabs and a row whose connection is gone (a lost $disconnect).
    await t.connect('metrics-user');
    await t.connect('metrics-user');
    const now = Date.now();
    await t.dynamo.send(
      new PutItemCommand({
        TableName: t.stack.tableName,
        Item: {
          userId: { S: 'metrics-user' },
          connectionId: { S: 'GoneGoneGoneGo0=' },
          connectedAt: { N: String(now) },
          expiresAt: { N: String(Math.floor(now / 1000) + 3600) },
        },
      }),
    );
    const mark = output.mark();

    // Act
    const { body } = await t.invokeSend({ userId: 'metrics-user', message: { type: 'm' } });

    // Assess
    expect(body).toEqual({ delivered: 2, stale: 1, failed: 0, seq: 1 });
    const [line] = await vi.waitFor(() => {
      const lines = emfLines(mark, METRICS.messagesDelivered);
      if (lines.length === 0) throw new Error('no messagesDelivered line yet');
      return lines;
    }, POLL);
    expect(line?._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'TripSyncRealtime/local',
        Dimensions: [['service']],
        Metrics: expect.arrayContaining([
          { Name: 'MessagesDelivered', Unit: 'Count' },
          { Name: 'MessagesStale', Unit: 'Count' },
          { Name: 'MessagesFailed', Unit: 'Count' },
          { Name: 'MessagesNotAttempted', Unit: 'Count' },
          { Name: 'SendDuration', Unit: 'Milliseconds' },
        ]),
      },
    ]);
    const result = body as { delivered: number; stale: number; failed: number };
    expect(line).toMatchObject({
      service: 'tripsync-realtime',
      MessagesDelivered: result.delivered,
      MessagesStale: result.stale,
      MessagesFailed: result.failed,
      MessagesNotAttempted: 0,
    });
    expect(line?.SendDuration).toBeGreaterThan(0);
    // No user or connection id anywhere in the line.
    expect(JSON.stringify(line)).not.toMatch(/metrics-user|GoneGoneGoneGo0/);
  });

  it('counts a rejected payload, and nothing delivered', async () => {
    // Prepare
    const mark = output.mark();

    // Act
    const { functionError } = await t.invokeSend({ userId: 'x', message: 'text' });

    // Assess
    expect(functionError).toBe('Unhandled');
    const [line] = await vi.waitFor(() => {
      const lines = emfLines(mark, METRICS.sendsRejected);
      if (lines.length === 0) throw new Error('no sendsRejected line yet');
      return lines;
    }, POLL);
    expect(line).toMatchObject({ SendsRejected: 1 });
    expect(line).not.toHaveProperty('MessagesDelivered');
  });

  it('publishes one line per send, with that send’s figures alone, when sends run at once', async () => {
    // Prepare: six users with 1 to 6 tabs, so each send delivers a count of its own.
    const users = [1, 2, 3, 4, 5, 6].map((tabs) => ({ userId: `metrics-tabs-${tabs}`, tabs }));
    for (const { userId, tabs } of users) {
      for (let i = 0; i < tabs; i++) await t.connect(userId);
    }
    const mark = output.mark();

    // Act: all at once; each worker runs one invocation at a time, as a Lambda environment does.
    const results = await Promise.all(
      users.map(({ userId }) => t.invokeSend({ userId, message: { type: 'm' }, persist: false })),
    );

    // Assess: six lines, each a single send's counts (one value, not a list of several sends').
    expect(results.map((r) => (r.body as { delivered: number }).delivered)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    const lines = await vi.waitFor(() => {
      const found = emfLines(mark, METRICS.messagesDelivered);
      if (found.length < users.length) throw new Error(`${found.length} send lines so far`);
      return found;
    }, POLL);
    expect(lines).toHaveLength(users.length);
    expect(lines.map((line) => line.MessagesDelivered).sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('counts the messages a resume replayed to a reconnecting v2 client', async () => {
    // Prepare: three logged messages to a user, then a v2 connection that missed them all.
    for (const n of [1, 2, 3]) {
      await t.invokeSend({ userId: 'metrics-resume', message: { type: 'missed', n } });
    }
    const client = await t.connect('metrics-resume', { protocols: ['tripsync.v2'] });
    const mark = output.mark();

    // Act
    client.send({ action: 'resume', after: 0 });
    const frames = [];
    for (let i = 0; i < 4; i++) frames.push(JSON.parse(await client.next()));

    // Assess: three replayed messages, then `resumed`; the line counts the three.
    expect(frames.map((f) => f.type)).toEqual(['message', 'message', 'message', 'resumed']);
    const [line] = await vi.waitFor(() => {
      const found = emfLines(mark, METRICS.messagesReplayed);
      if (found.length === 0) throw new Error('no MessagesReplayed line yet');
      return found;
    }, POLL);
    expect(line).toMatchObject({ service: 'tripsync-realtime', MessagesReplayed: 3 });
    expect(JSON.stringify(line)).not.toContain('metrics-resume');
  });

  it('counts connections opened and closed, and refused handshakes by reason class', async () => {
    // Prepare
    const mark = output.mark();

    // Act
    const client = await t.connect('metrics-lifecycle');
    client.ws.close();
    await client.closed;
    const refused = await refusedWith(`${t.stack.url}?token=not.a.jwt`);

    // Assess
    expect(refused).toBe(401);
    await expect.poll(() => emfLines(mark, METRICS.connectionsClosed)).toHaveLength(1);
    expect(emfLines(mark, METRICS.connectionsOpened)).toEqual([
      expect.objectContaining({ ConnectionsOpened: 1 }),
    ]);
    const [refusal] = emfLines(mark, METRICS.handshakesRefused);
    expect(refusal?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'Reason']]);
    expect(refusal).toMatchObject({ Reason: 'invalid_token', HandshakesRefused: 1 });
  });
});
