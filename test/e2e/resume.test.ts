import { DeleteItemCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import pLimit from 'p-limit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type ClientOptions, TripSyncClient } from '../../client/src/index';
import { range, record } from '../support/client-recorder';
import type { TestClient } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';

// Issue 8's "Done when", end to end: the client library in Node (`ws`) against the local stack,
// which runs the deployed handler modules (send logs, resume replays) over real sockets and a
// real DynamoDB API.

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t?.stop());

const clients: TripSyncClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/** Every raw frame each socket of the test received, by socket, in order. */
const sockets: FrameSocket[] = [];

/**
 * `ws`'s WebSocket, keeping the raw frames it receives (to see what the server posted to each
 * connection) and able to drop itself without a close frame after a number of `message` frames.
 */
class FrameSocket extends WebSocket {
  static dropAfterMessages: number | undefined;
  readonly frames: Array<Record<string, unknown>> = [];
  /** Frames of the same TCP read may still be emitted after terminate(): none count. */
  private dropped = false;

  constructor(url: string, protocols: string[]) {
    super(url, protocols);
    sockets.push(this);
    this.on('message', (data) => {
      if (this.dropped) return;
      const frame = JSON.parse(String(data)) as Record<string, unknown>;
      this.frames.push(frame);
      const dropAt = FrameSocket.dropAfterMessages;
      if (frame.type === 'message' && dropAt !== undefined && this.messageFrames() >= dropAt) {
        // Once: the connection vanishes (a tunnel), frames in flight are lost.
        FrameSocket.dropAfterMessages = undefined;
        this.dropped = true;
        this.terminate();
      }
    });
  }

  messageFrames(): number {
    return this.frames.filter((f) => f.type === 'message').length;
  }
}

function clientOf(userId: string, options: Partial<ClientOptions> = {}) {
  const client = new TripSyncClient({
    url: t.stack.url,
    token: () => t.token(userId),
    WebSocket: FrameSocket,
    baseDelayMs: 5,
    maxDelayMs: 50,
    ...options,
  });
  clients.push(client);
  const recording = record(client);
  return { client, recording };
}

interface Sent {
  message: Record<string, unknown>;
  seq: number | undefined;
  delivered: number;
}

/** Invokes `send` for each message, `inFlight` at once; returns them ordered by their seq. */
async function sendAll(
  userId: string,
  messages: Array<Record<string, unknown>>,
  { inFlight = 8, persist }: { inFlight?: number; persist?: boolean } = {},
): Promise<Sent[]> {
  const limit = pLimit(inFlight);
  const sent = await Promise.all(
    messages.map((message) =>
      limit(async () => {
        const { body, functionError } = await t.invokeSend({
          userId,
          message,
          ...(persist !== undefined && { persist }),
        });
        if (functionError) throw new Error(`send failed: ${JSON.stringify(body)}`);
        const result = body as { seq?: number; delivered: number };
        return { message, seq: result.seq, delivered: result.delivered };
      }),
    ),
  );
  return sent.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

const tagged = (tag: string, count: number) => range(1, count).map((i) => ({ tag, i }));

/** The user's head item, read directly (1 GetItem). */
async function headOf(userId: string) {
  const { Item } = await t.dynamo.send(
    new GetItemCommand({
      TableName: t.stack.messageTableName,
      Key: { userId: { S: userId }, seq: { N: '0' } },
      ConsistentRead: true,
    }),
  );
  return Item ? { last: Number(Item.last?.N), epoch: Item.epoch?.S } : undefined;
}

describe('resume after a reconnect, with the client library', () => {
  it('delivers 100 messages sent while the user had no connection exactly once, in order, then live ones', async () => {
    // Prepare: the client has seen two messages, then closes.
    const { client, recording } = clientOf('e2e-100');
    client.connect();
    await recording.until('open', () => client.status === 'open');
    const first = await sendAll('e2e-100', tagged('before', 2), { inFlight: 1 });
    await recording.until('2 messages', () => recording.messages.length === 2);
    client.close();

    // Act: 100 sends while the user has no connection, then a reconnect, then live sends.
    const missed = await sendAll('e2e-100', tagged('missed', 100));
    client.connect();
    await recording.until('102 messages', () => recording.messages.length === 102);
    // The replay's last message can arrive before its `resumed` frame: live sends start after
    // that frame, so that the frames before it are the replay's alone.
    const replaySocket = sockets.at(-1) as FrameSocket;
    await expect.poll(() => replaySocket.frames.some((f) => f.type === 'resumed')).toBe(true);
    const live = await sendAll('e2e-100', tagged('live', 5), { inFlight: 1 });
    await recording.until('107 messages', () => recording.messages.length === 107);

    // Assess
    expect(missed.every((s) => s.delivered === 0)).toBe(true);
    expect(recording.seqs()).toEqual(range(1, 107));
    expect(recording.messages.map((m) => m.message)).toEqual(
      [...first, ...missed, ...live].map((s) => s.message),
    );
    expect(new Set(recording.messages.map((m) => m.epoch)).size).toBe(1);
    expect(recording.gaps).toEqual([]);
    expect(recording.errors).toEqual([]);
    // The replay went to the new connection only, once each, with seq and epoch on each frame
    // (posted in seq order, several at a time: the client orders them), then `resumed`.
    const frames = replaySocket.frames;
    const closing = frames.findIndex((f) => f.type === 'resumed');
    const replayed = frames.slice(0, closing);
    expect(replayed.map((f) => f.seq).sort((x, y) => Number(x) - Number(y))).toEqual(range(3, 102));
    expect(
      replayed.every((f) => f.type === 'message' && f.epoch === recording.messages[0]?.epoch),
    ).toBe(true);
    expect(frames[closing]).toEqual({
      type: 'resumed',
      epoch: recording.messages[0]?.epoch,
      after: 2,
      last: 102,
      truncated: false,
    });
  });

  it('hands each seq over once, in order, while live sends race the replay', async () => {
    // Prepare: 200 missed messages.
    const missed = await sendAll('e2e-race', tagged('missed', 200), { inFlight: 4 });
    const { client, recording } = clientOf('e2e-race');

    // Act: live sends start as the connection opens, racing its resume.
    client.connect();
    await recording.until('open', () => client.status === 'open');
    const live = await sendAll('e2e-race', tagged('live', 30), { inFlight: 4 });
    await recording.until('230 messages', () => recording.messages.length === 230, 20_000);

    // Assess: some live messages arrived while the replay was running, yet nothing twice.
    expect(live.some((s) => s.delivered === 1)).toBe(true);
    expect(recording.seqs()).toEqual(range(1, 230));
    expect(recording.messages.map((m) => m.message)).toEqual(
      [...missed, ...live].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)).map((s) => s.message),
    );
    expect(recording.errors).toEqual([]);
  });

  it('recovers from a drop in the middle of a replay: the next connection resumes where it stopped', async () => {
    // Prepare: 150 missed messages; the first replay's connection vanishes after 40 frames.
    const missed = await sendAll('e2e-drop', tagged('missed', 150), { inFlight: 4 });
    const { client, recording } = clientOf('e2e-drop');
    const firstSocket = sockets.length;
    FrameSocket.dropAfterMessages = 40;

    // Act
    client.connect();
    await recording.until('150 messages', () => recording.messages.length === 150, 20_000);

    // Assess: two connections; the second resumed from what the first handed over.
    const used = sockets.slice(firstSocket);
    expect(used.length).toBeGreaterThanOrEqual(2);
    expect((used[0] as FrameSocket).messageFrames()).toBe(40);
    expect(recording.statuses.slice(0, 4)).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(recording.seqs()).toEqual(range(1, 150));
    expect(recording.messages.map((m) => m.message)).toEqual(missed.map((s) => s.message));
    // The invocation log records an invocation once it has returned, after its last post.
    const aftersOfResumes = () =>
      t.invocations
        .of('resume')
        .map((r) => r.event as { body: string; requestContext: { authorizer: { userId: string } } })
        .filter((event) => event.requestContext.authorizer.userId === 'e2e-drop')
        .map((event) => (JSON.parse(event.body) as { after: number }).after)
        .sort((x, y) => x - y);
    await expect.poll(() => aftersOfResumes().length).toBeGreaterThanOrEqual(2);
    const afters = aftersOfResumes();
    expect(afters[0]).toBe(0);
    expect(afters[1]).toBeGreaterThanOrEqual(1);
  });

  it('lets two tabs of one user each resume on their own, from their own cursor', async () => {
    // Prepare: both tabs see 3 messages; tab A closes; 5 more reach tab B; B closes; 4 more.
    const a = clientOf('e2e-tabs');
    const b = clientOf('e2e-tabs');
    a.client.connect();
    b.client.connect();
    await a.recording.until('A open', () => a.client.status === 'open');
    await b.recording.until('B open', () => b.client.status === 'open');
    await sendAll('e2e-tabs', tagged('both', 3), { inFlight: 1 });
    await a.recording.until('A: 3', () => a.recording.messages.length === 3);
    await b.recording.until('B: 3', () => b.recording.messages.length === 3);
    a.client.close();
    await sendAll('e2e-tabs', tagged('b-only', 5), { inFlight: 1 });
    await b.recording.until('B: 8', () => b.recording.messages.length === 8);
    b.client.close();
    await sendAll('e2e-tabs', tagged('neither', 4), { inFlight: 1 });

    // Act: both come back.
    const before = sockets.length;
    a.client.connect();
    b.client.connect();
    await a.recording.until('A: 12', () => a.recording.messages.length === 12);
    await b.recording.until('B: 12', () => b.recording.messages.length === 12);

    // Assess: each got 1..12 once, in order; each connection was replayed only its own gap
    // (in any order on the wire: a replay's posts overlap, and the client orders them).
    expect(a.recording.seqs()).toEqual(range(1, 12));
    expect(b.recording.seqs()).toEqual(range(1, 12));
    const replays = sockets
      .slice(before)
      .map((s) =>
        s.frames
          .filter((f) => f.type === 'message')
          .map((f) => f.seq as number)
          .sort((x, y) => x - y),
      )
      .sort((x, y) => x.length - y.length);
    expect(replays).toEqual([range(9, 12), range(4, 12)]);
  });

  it('never replays a persist: false message, and hands over live ones without a seq', async () => {
    // Prepare
    const { client, recording } = clientOf('e2e-ephemeral');
    client.connect();
    await recording.until('open', () => client.status === 'open');
    const position = { type: 'driver_position', lat: 48.85 };
    await sendAll('e2e-ephemeral', [position], { persist: false });
    await recording.until('1 message', () => recording.messages.length === 1);
    client.close();

    // Act: one ephemeral and one logged message while offline, then a reconnect.
    const [offline] = await sendAll('e2e-ephemeral', [{ type: 'driver_position', lat: 0 }], {
      persist: false,
    });
    const [logged] = await sendAll('e2e-ephemeral', [{ type: 'driver_arrived' }]);
    client.connect();
    await recording.until('2 messages', () => recording.messages.length === 2);
    await sendAll('e2e-ephemeral', [{ type: 'ping-after' }], { persist: false });
    await recording.until('3 messages', () => recording.messages.length === 3);

    // Assess
    expect(offline?.seq).toBeUndefined();
    expect(logged?.seq).toBe(1);
    expect(recording.messages).toEqual([
      { message: position },
      { seq: 1, epoch: expect.any(String), message: { type: 'driver_arrived' } },
      { message: { type: 'ping-after' } },
    ]);
  });

  it('never replays another user’s messages', async () => {
    // Prepare: one at a time, so seq order is send order.
    await sendAll('e2e-mine', tagged('mine', 3), { inFlight: 1 });
    await sendAll('e2e-theirs', tagged('theirs', 4));
    const { client, recording } = clientOf('e2e-mine');

    // Act
    client.connect();
    await recording.until('3 messages', () => recording.messages.length === 3);
    await sendAll('e2e-theirs', tagged('theirs-live', 2));
    await sendAll('e2e-mine', tagged('mine-live', 1));
    await recording.until('4 messages', () => recording.messages.length === 4);

    // Assess
    expect(recording.messages.map((m) => m.message)).toEqual([
      ...tagged('mine', 3),
      ...tagged('mine-live', 1),
    ]);
  });

  it('gives gap and delivers the new sequence when the user’s sequence restarted (new epoch)', async () => {
    // Prepare: the client holds seq 3 of the first epoch; then the counter is lost.
    const { client, recording } = clientOf('e2e-epoch');
    client.connect();
    await recording.until('open', () => client.status === 'open');
    await sendAll('e2e-epoch', tagged('old', 3), { inFlight: 1 });
    await recording.until('3 messages', () => recording.messages.length === 3);
    const oldEpoch = recording.messages[0]?.epoch;
    client.close();
    await t.dynamo.send(
      new DeleteItemCommand({
        TableName: t.stack.messageTableName,
        Key: { userId: { S: 'e2e-epoch' }, seq: { N: '0' } },
      }),
    );

    // Act: two messages of the new sequence (its seq 1 and 2), then a reconnect.
    const fresh = await sendAll('e2e-epoch', tagged('new', 2), { inFlight: 1 });
    client.connect();
    await recording.until('5 messages', () => recording.messages.length === 5);

    // Assess: the new seq 1 and 2 are not taken for duplicates of the old ones.
    const newEpoch = recording.messages[3]?.epoch;
    expect(fresh.map((s) => s.seq)).toEqual([1, 2]);
    expect(newEpoch).not.toBe(oldEpoch);
    expect(recording.messages.slice(3)).toEqual(
      fresh.map((s) => ({ seq: s.seq, epoch: newEpoch, message: s.message })),
    );
    expect(recording.gaps).toEqual([
      { reason: 'epoch', previous: { epoch: oldEpoch, seq: 3 }, epoch: newEpoch },
    ]);
  });
});

describe('protocol v1 clients of the same user', () => {
  it('receive every message verbatim, as before, and no v2 frame', async () => {
    // Prepare: a v1 socket (no subprotocol) and a v2 client of the same user.
    const v1 = await t.connect('e2e-mixed');
    const { client, recording } = clientOf('e2e-mixed');
    client.connect();
    await recording.until('open', () => client.status === 'open');

    // Act
    await sendAll('e2e-mixed', [{ type: 'seat_taken', seat: 3 }], { inFlight: 1 });
    await sendAll('e2e-mixed', [{ type: 'driver_position' }], { persist: false });
    await recording.until('2 messages', () => recording.messages.length === 2);
    const frames = [await v1.next(), await v1.next()];
    v1.send({ action: 'resume', after: 0 });
    const refusal = JSON.parse(await v1.next()) as Record<string, unknown>;

    // Assess
    expect(v1.ws.protocol).toBe('');
    expect(frames).toEqual(['{"type":"seat_taken","seat":3}', '{"type":"driver_position"}']);
    expect(refusal).toMatchObject({ type: 'error', code: 'PROTOCOL_V2_REQUIRED' });
    expect(refusal.message).toContain('tripsync.v2');
    expect(recording.seqs()).toEqual([1]);
    expect(v1.received).toHaveLength(3);
  });
});

describe('a message too large for the v2 envelope', () => {
  it('reaches v1 connections verbatim, is not logged, and counts failed on v2 ones', async () => {
    // Prepare: a v1 and a v2 connection of one user; a message of exactly 128 KiB.
    const v1 = await t.connect('e2e-large');
    const v2 = await t.connect('e2e-large', { protocols: ['tripsync.v2'] });
    const message = `{"pad":"${'q'.repeat(128 * 1024 - 10)}"}`;

    // Act
    const { body } = await t.invokeSend(`{"userId":"e2e-large","message":${message}}`);

    // Assess
    expect(body).toEqual({ delivered: 1, stale: 0, failed: 1 });
    expect(await v1.next()).toBe(message);
    expect(await headOf('e2e-large')).toBeUndefined();
    await expect(v2.next(300)).rejects.toThrow('no message within 300 ms');
  });
});

describe('bad resume frames', () => {
  let socket: TestClient;
  const user = 'e2e-bad';
  beforeAll(async () => {
    await sendAll(user, tagged('kept', 2), { inFlight: 1 });
    socket = await t.connect(user, { protocols: ['tripsync.v2'] });
  });

  it.each([
    ['no after', { action: 'resume' }, /^after: is required/],
    ['a negative after', { action: 'resume', after: -1 }, /^after: must be a non-negative/],
    ['a string after', { action: 'resume', after: '1' }, /^after: .* got string$/],
    ['a fractional after', { action: 'resume', after: 1.5 }, /^after: .* got 1\.5$/],
    ['a huge after', { action: 'resume', after: 1e300 }, /^after: .* got 1e\+300$/],
    [
      'an after beyond the last seq',
      { action: 'resume', after: Number.MAX_SAFE_INTEGER },
      /^after: 9007199254740991 is beyond the last seq 2 of epoch /,
    ],
    ['a number epoch', { action: 'resume', after: 0, epoch: 7 }, /^epoch: .* got number$/],
    ['an unknown field', { action: 'resume', after: 0, since: 1 }, /^since: unknown field/],
  ])('%s gets INVALID_RESUME naming the field, and changes nothing', async (_, frame, message) => {
    // Prepare
    const before = await headOf(user);
    const received = socket.received.length;

    // Act
    socket.send(frame);
    const reply = JSON.parse(await socket.next()) as Record<string, unknown>;

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'INVALID_RESUME' });
    expect(reply.message).toMatch(message);
    expect(socket.received).toHaveLength(received + 1);
    expect(await headOf(user)).toEqual(before);
  });

  it('a resume flood from one connection is refused with RESUME_RATE_LIMITED and changes nothing', async () => {
    // Prepare: a connection of its own, its resume bucket full.
    const socket = await t.connect(user, { protocols: ['tripsync.v2'] });
    const before = await headOf(user);
    const received = socket.received.length;
    const started = Date.now();

    // Act: 45 resumes at once (nothing to replay: after is the last seq).
    for (let i = 0; i < 45; i++) socket.send({ action: 'resume', after: 2 });
    await expect
      .poll(() => socket.received.length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(received + 45);
    const elapsed = Date.now() - started;
    const replies = socket.received.slice(received).map((f) => JSON.parse(f));

    // Assess: the burst is served, the rest refused; no message was replayed.
    const resumed = replies.filter((r) => r.type === 'resumed');
    const limited = replies.filter((r) => r.code === 'RESUME_RATE_LIMITED');
    expect(resumed.length + limited.length).toBe(45);
    expect(resumed.length).toBeGreaterThanOrEqual(20);
    expect(resumed.length).toBeLessThanOrEqual(20 + Math.ceil(elapsed / 500));
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0].message).toContain('resumed more than 20 times');
    expect(replies.some((r) => r.type === 'message')).toBe(false);
    expect(resumed[0]).toEqual({
      type: 'resumed',
      epoch: before?.epoch,
      after: 2,
      last: 2,
      truncated: false,
    });
    expect(await headOf(user)).toEqual(before);
  });
});

describe('retention', () => {
  let short: TestStack;
  beforeAll(async () => {
    short = await startTestStack({ messageRetentionSeconds: 3 });
  });
  afterAll(() => short?.stop());

  it('gives gap (truncated) for expired messages and delivers the retained ones after them', async () => {
    // Prepare: the client holds seq 2; three more are sent and expire while it is away.
    const client = new TripSyncClient({
      url: short.stack.url,
      token: () => short.token('e2e-expiry'),
      WebSocket,
      baseDelayMs: 5,
      maxDelayMs: 50,
    });
    clients.push(client);
    const recording = record(client);
    client.connect();
    await recording.until('open', () => client.status === 'open');
    await short.invokeSend({ userId: 'e2e-expiry', message: { n: 1 } });
    await short.invokeSend({ userId: 'e2e-expiry', message: { n: 2 } });
    await recording.until('2 messages', () => recording.messages.length === 2);
    client.close();
    for (const n of [3, 4, 5]) await short.invokeSend({ userId: 'e2e-expiry', message: { n } });
    // Retention is 3 s, counted in whole seconds: after 3.2 s the three have expired, while the
    // head (which outlives the newest message by one more retention) still holds the sequence.
    await new Promise((resolve) => setTimeout(resolve, 3200));
    const kept = [];
    for (const n of [6, 7])
      kept.push(await short.invokeSend({ userId: 'e2e-expiry', message: { n } }));

    // Act
    client.connect();
    await recording.until('4 messages', () => recording.messages.length === 4);

    // Assess
    expect(kept.map((k) => (k.body as { seq: number }).seq)).toEqual([6, 7]);
    expect(recording.gaps).toEqual([
      {
        reason: 'truncated',
        previous: { epoch: recording.messages[0]?.epoch, seq: 2 },
        epoch: recording.messages[0]?.epoch,
      },
    ]);
    expect(recording.messages.map((m) => [m.seq, m.message])).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
      [6, { n: 6 }],
      [7, { n: 7 }],
    ]);
  });
});
