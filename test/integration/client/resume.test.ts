import { describe, expect, it, vi } from 'vitest';
import { range } from '../../support/client-recorder';
import type { StandInConnection } from '../../support/protocol-v2-stand-in';
import { clientOf, sendMany, standIn } from './harness';

// The client against a real WebSocket server speaking protocol v2: the stand-in in
// test/support until the local stack speaks v2.

describe('resume after a reconnect', () => {
  it('delivers 100 messages missed while disconnected exactly once, in order, then live ones', async () => {
    // Prepare: the client has seen three messages when its connection is reset.
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.connect();
    const first = await server.accepted(1);
    const before = sendMany(server, 3, 'before');
    await recording.until('3 messages', () => recording.messages.length === 3);

    // Act: the connection drops without a close frame; 100 messages are sent meanwhile.
    server.drop(first, 'reset');
    const missed = sendMany(server, 100, 'missed');
    const second = await server.accepted(2);
    await recording.until('103 messages', () => recording.messages.length === 103);
    const live = sendMany(server, 5, 'live');
    await recording.until('108 messages', () => recording.messages.length === 108);
    client.close();

    // Assess
    expect(recording.seqs()).toEqual(range(1, 108));
    expect(recording.messages.map((m) => m.message)).toEqual([...before, ...missed, ...live]);
    expect(new Set(recording.messages.map((m) => m.epoch))).toEqual(
      new Set([server.epochOf('42')]),
    );
    expect(server.resumesOf(second)).toEqual([
      { action: 'resume', after: 3, epoch: server.epochOf('42') },
    ]);
    expect(recording.statuses).toEqual(['connecting', 'open', 'reconnecting', 'open', 'closed']);
    expect(recording.gaps).toEqual([]);
    expect(recording.errors).toEqual([]);
  });

  it('hands over each seq once, in order, while live sends race the replay', async () => {
    // Prepare: 200 missed messages. As the connection is accepted, before the client resumes,
    // one live send goes out: it arrives live and again in the replay. During the replay, live
    // sends arrive ahead of the replayed seqs.
    const live: unknown[] = [];
    const sendLive = (i: number) => {
      const message = { tag: 'live', i };
      server.send('42', message);
      live.push(message);
    };
    const server = await standIn({
      onConnection: () => sendLive(0),
      beforeReplayFrame: ({ index }) => {
        if (index === 0 || index === 57 || index === 150) sendLive(index);
      },
    });
    const missed = sendMany(server, 200, 'missed');
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    await recording.until('204 messages', () => recording.messages.length === 204);
    sendLive(999);
    await recording.until('205 messages', () => recording.messages.length === 205);

    // Assess: seq 201 was posted live before the replay and again in it; 202–204 were posted
    // live ahead of the replayed seqs.
    const connection = server.connections[0] as StandInConnection;
    expect(server.resumesOf(connection)).toEqual([{ action: 'resume', after: 0 }]);
    const postedSeqs = connection.posted.flatMap((f) => {
      const frame = f as { type: string; seq?: number };
      return frame.type === 'message' ? [frame.seq] : [];
    });
    expect(postedSeqs.slice(0, 3)).toEqual([201, 202, 1]);
    expect(postedSeqs.filter((seq) => seq === 201)).toHaveLength(2);
    expect(postedSeqs.indexOf(204)).toBeLessThan(postedSeqs.indexOf(200));
    expect(recording.seqs()).toEqual(range(1, 205));
    expect(recording.messages.map((m) => m.message)).toEqual([...missed, ...live]);
  });

  it('resumes from where a replay was cut off when the connection drops in the middle of it', async () => {
    // Prepare: 300 missed messages; the connection is reset once the client has 150 of them.
    let dropped = false;
    const server = await standIn({
      beforeReplayFrame: async ({ connection, index }) => {
        if (dropped || index !== 150) return;
        dropped = true;
        await recording.until('150 messages', () => recording.messages.length === 150);
        server.drop(connection, 'reset');
      },
    });
    const missed = sendMany(server, 300, 'missed');
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    await recording.until('300 messages', () => recording.messages.length === 300);

    // Assess: the second connection resumed after the 150 the first one delivered.
    const second = await server.accepted(2);
    expect(server.resumesOf(second)).toEqual([
      { action: 'resume', after: 150, epoch: server.epochOf('42') },
    ]);
    expect(recording.seqs()).toEqual(range(1, 300));
    expect(recording.messages.map((m) => m.message)).toEqual(missed);
  });

  it('pages through a log longer than one replay (1,000 messages per resume)', async () => {
    // Prepare
    const server = await standIn();
    const missed = sendMany(server, 2500, 'missed');
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    await recording.until('2,500 messages', () => recording.messages.length === 2500);
    const live = sendMany(server, 1, 'live');
    await recording.until('2,501 messages', () => recording.messages.length === 2501);

    // Assess
    const epoch = server.epochOf('42');
    expect(server.resumesOf(server.connections[0] as StandInConnection)).toEqual([
      { action: 'resume', after: 0 },
      { action: 'resume', after: 1000, epoch },
      { action: 'resume', after: 2000, epoch },
    ]);
    expect(recording.seqs()).toEqual(range(1, 2501));
    expect(recording.messages.map((m) => m.message)).toEqual([...missed, ...live]);
  });
});

describe('gaps', () => {
  it('reports a gap when history after the cursor expired, then delivers what is retained', async () => {
    // Prepare: the client has 1–5; while it is closed 6–1,800 are sent and 6–600 expire.
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.connect();
    sendMany(server, 5, 'seen');
    await recording.until('5 messages', () => recording.messages.length === 5);
    client.close();
    const sent = sendMany(server, 1795, 'while-closed');
    server.expire('42', 600);

    // Act
    client.connect();
    await recording.until('1,205 messages', () => recording.messages.length === 1205);
    sendMany(server, 1, 'live');
    await recording.until('1,206 messages', () => recording.messages.length === 1206);

    // Assess: one gap, before 601; then 601–1,800 (two pages) and the live 1,801.
    const epoch = server.epochOf('42');
    expect(recording.gaps).toEqual([{ reason: 'truncated', previous: { epoch, seq: 5 }, epoch }]);
    const gapAt = recording.events.indexOf('gap:truncated');
    expect(recording.events[gapAt + 1]).toBe(`seq:${epoch}:601`);
    expect(recording.seqs()).toEqual([...range(1, 5), ...range(601, 1801)]);
    expect(recording.messages.slice(5, 1205).map((m) => m.message)).toEqual(sent.slice(595));
  });

  it('reports a gap and delivers the new sequence when the epoch changed while disconnected', async () => {
    // Prepare: the client has seq 1–5 of the first epoch; the counter is lost while it is
    // closed, and seq 1–3 of a new epoch are sent.
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.connect();
    sendMany(server, 5, 'old');
    await recording.until('5 messages', () => recording.messages.length === 5);
    const oldEpoch = server.epochOf('42');
    client.close();
    const newEpoch = server.restartSequence('42');
    const fresh = sendMany(server, 3, 'new');

    // Act
    client.connect();
    await recording.until('8 messages', () => recording.messages.length === 8);
    const live = sendMany(server, 1, 'live');
    await recording.until('9 messages', () => recording.messages.length === 9);

    // Assess: the new seq 1–3 are not taken for duplicates of the old 1–5.
    expect(recording.gaps).toEqual([
      { reason: 'epoch', previous: { epoch: oldEpoch, seq: 5 }, epoch: newEpoch },
    ]);
    expect(recording.events.slice(recording.events.indexOf('gap:epoch'))).toEqual([
      'gap:epoch',
      `seq:${newEpoch}:1`,
      `seq:${newEpoch}:2`,
      `seq:${newEpoch}:3`,
      `seq:${newEpoch}:4`,
    ]);
    expect(recording.messages.slice(5).map((m) => m.message)).toEqual([...fresh, ...live]);
    expect(client.cursor).toEqual({ epoch: newEpoch, seq: 4 });
  });

  it('adopts, without a gap, an epoch whose first message is not written yet, when it holds nothing', async () => {
    // Prepare: the user's sequence exists with no message yet (on AWS: the head is written a
    // moment before the first message), and a client with no cursor.
    const server = await standIn();
    const epoch = server.restartSequence('42');
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    const connection = await server.accepted(1);
    // The stand-in answers a resume at once; its `resumed` frame precedes the message below.
    await vi.waitFor(() => expect(server.resumesOf(connection)).toHaveLength(1));
    const [first] = sendMany(server, 1, 'first');
    await recording.until('1 message', () => recording.messages.length === 1);
    client.close();

    // Assess: nothing was lost, so nothing is reported lost.
    expect(recording.messages).toEqual([{ seq: 1, epoch, message: first }]);
    expect(recording.gaps).toEqual([]);
  });

  it('keeps, without a gap, a first message that overtook the answer to its resume', async () => {
    // Prepare: the user has no sequence yet. The client's first resume is read before the
    // user's first send creates one, and answered after that send's message reached it live.
    let first: unknown;
    const server = await standIn({
      beforeResumed: () => {
        [first] = sendMany(server, 1, 'first');
      },
    });
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    const connection = await server.accepted(1);
    await recording.until('1 message', () => recording.messages.length === 1);
    await vi.waitFor(() =>
      expect(connection.posted.at(-1)).toMatchObject({ type: 'resumed', epoch: null, last: 0 }),
    );
    const [second] = sendMany(server, 1, 'second');
    await recording.until('2 messages', () => recording.messages.length === 2);
    client.close();

    // Assess: the answer said no sequence existed when it was read; the message is newer.
    const epoch = server.epochOf('42');
    expect(recording.messages).toEqual([
      { seq: 1, epoch, message: first },
      { seq: 2, epoch, message: second },
    ]);
    expect(recording.gaps).toEqual([]);
    expect(client.cursor).toEqual({ epoch, seq: 2 });
  });

  it('reports a gap and follows the new sequence when a live message starts a new epoch', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server);
    client.connect();
    sendMany(server, 5, 'old');
    await recording.until('5 messages', () => recording.messages.length === 5);
    const oldEpoch = server.epochOf('42');

    // Act: the counter is lost while the client is connected.
    const newEpoch = server.restartSequence('42');
    const fresh = sendMany(server, 2, 'new');
    await recording.until('7 messages', () => recording.messages.length === 7);

    // Assess
    expect(recording.gaps).toEqual([
      { reason: 'epoch', previous: { epoch: oldEpoch, seq: 5 }, epoch: newEpoch },
    ]);
    expect(recording.seqs()).toEqual([1, 2, 3, 4, 5, 1, 2]);
    expect(recording.messages.slice(5).map((m) => m.message)).toEqual(fresh);
  });
});

describe('holes and resume errors', () => {
  it('fetches a message whose live post was lost once a later one arrives', async () => {
    // Prepare
    const server = await standIn();
    const { client, recording } = clientOf(server, { reorderTimeoutMs: 20 });
    client.connect();
    sendMany(server, 2, 'first');
    await recording.until('2 messages', () => recording.messages.length === 2);

    // Act: seq 3 is logged but never posted; seq 4 arrives live.
    server.send('42', { lost: 3 }, { lost: true });
    server.send('42', { live: 4 });
    await recording.until('4 messages', () => recording.messages.length === 4);

    // Assess: the client held 4, resumed after 2, and handed over 3 then 4.
    expect(recording.seqs()).toEqual([1, 2, 3, 4]);
    expect(recording.messages.slice(2).map((m) => m.message)).toEqual([{ lost: 3 }, { live: 4 }]);
    const resumes = server.resumesOf(server.connections[0] as StandInConnection);
    expect(resumes.map((r) => r.after)).toEqual([0, 2]);
  });

  it('asks again when the end of a resume never comes, and so pages on', async () => {
    // Prepare: the `resumed` frame of the first page is lost.
    const server = await standIn();
    server.loseResumedFrames = 1;
    const missed = sendMany(server, 1500, 'missed');
    const { client, recording } = clientOf(server, { pongTimeoutMs: 50 });

    // Act
    client.connect();
    await recording.until('1,500 messages', () => recording.messages.length === 1500);

    // Assess: the client asked for the second page although the first never ended (a busy
    // machine may make it ask more often than that; the stand-in answers each).
    const epoch = server.epochOf('42');
    const resumes = server.resumesOf(server.connections[0] as StandInConnection);
    expect(resumes[0]).toEqual({ action: 'resume', after: 0 });
    expect(resumes).toContainEqual({ action: 'resume', after: 1000, epoch });
    expect(recording.messages.map((m) => m.message)).toEqual(missed);
  });

  it('retries a resume the server could not serve', async () => {
    // Prepare
    const server = await standIn();
    server.failResumesWith.push('RESUME_UNAVAILABLE', 'RESUME_RATE_LIMITED');
    const missed = sendMany(server, 10, 'missed');
    const { client, recording } = clientOf(server);

    // Act
    client.connect();
    await recording.until('10 messages', () => recording.messages.length === 10);

    // Assess
    expect(recording.errors.map((e) => [e.name, e.code])).toEqual([
      ['ServerError', 'RESUME_UNAVAILABLE'],
      ['ServerError', 'RESUME_RATE_LIMITED'],
    ]);
    expect(recording.messages.map((m) => m.message)).toEqual(missed);
    expect(server.resumesOf(server.connections[0] as StandInConnection)).toHaveLength(3);
  });
});
