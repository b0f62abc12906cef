import fc from 'fast-check';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { recordFigures } from './report';
import { runSeed, seededRandom } from './support/random';

// Security, by randomized runs on the local stack: a user never receives another user's
// message, whatever the mix of targets, and no client frame makes the backend post to any
// connection but the sender's own reply.

const LONG = process.env.RELIABILITY_LOAD === 'long';
const SENDS = LONG ? 3000 : 200;
const FRAMES = LONG ? 3000 : 150;
const IN_FLIGHT = 4;
const seed = runSeed();
const random = seededRandom(seed);

/** Ids close to one another, or to a key's syntax: each must stay its own user. */
const USER_IDS = [
  '7',
  '07',
  '70',
  '700',
  'a',
  'A',
  'a#1',
  'a#1#',
  'a|b',
  'a/b',
  'a b',
  'ü',
  'u\u0308', // the same letter, decomposed: a different string, a different user
  '{"S":"7"}',
  ...Array.from({ length: 26 }, (_, i) => String(1000 + i)),
];
/** Valid ids nobody is connected as. */
const OFFLINE = ['8', 'b', '1099', 'a#2'];

interface Connection {
  userId: string;
  connectionId: string;
  client: TestClient;
}

let t: TestStack;
const connections: Connection[] = [];

beforeAll(async () => {
  t = await startTestStack();
  for (const userId of USER_IDS) {
    const tabs = 1 + random.int(3);
    for (let i = 0; i < tabs; i++) {
      const client = await t.connect(userId);
      const identity = await client.whoami();
      expect(identity.userId).toBe(userId);
      connections.push({ userId, connectionId: identity.connectionId, client });
    }
  }
}, 60_000);

afterAll(() => t?.stop());

/** Reads each connection's frames up to a final marker; returns what came before it. */
async function drain(): Promise<Map<string, string[]>> {
  const marker = `end-${Math.random()}`;
  const { body } = await t.invokeSend({ userIds: USER_IDS, message: { type: marker } });
  expect(body).toMatchObject({ delivered: connections.length, failed: 0 });
  const received = new Map<string, string[]>();
  for (const c of connections) {
    const frames: string[] = [];
    for (;;) {
      const frame = await c.client.next(10_000);
      if (frame === JSON.stringify({ type: marker })) break;
      frames.push(frame);
    }
    received.set(c.connectionId, frames);
  }
  return received;
}

describe('a randomized run of many users and sends', () => {
  it(`delivers each of ${SENDS} sends to exactly its targets`, async () => {
    const byUser = new Map<string, Connection[]>();
    for (const c of connections) byUser.set(c.userId, [...(byUser.get(c.userId) ?? []), c]);
    /** The connection ids each message must reach, by message number. */
    const expected = new Map<number, Set<string>>();
    const results: Array<{ n: number; delivered: number; stale: number; failed: number }> = [];
    const forms = (id: string) => (/^[1-9]\d*$/.test(id) && random.int(2) === 0 ? Number(id) : id);

    const plan = Array.from({ length: SENDS }, (_, n) => {
      const kind = random.pick(['userId', 'userIds', 'userIds', 'connectionId'] as const);
      if (kind === 'connectionId') {
        const target = random.pick(connections);
        expected.set(n, new Set([target.connectionId]));
        return { connectionId: target.connectionId, message: { type: 'iso', n } };
      }
      const users =
        kind === 'userId'
          ? [random.pick([...USER_IDS, ...OFFLINE])]
          : random.sample([...USER_IDS, ...OFFLINE], 1 + random.int(8));
      expected.set(
        n,
        new Set(users.flatMap((u) => (byUser.get(u) ?? []).map((c) => c.connectionId))),
      );
      if (kind === 'userId')
        return { userId: forms(users[0] as string), message: { type: 'iso', n } };
      // Duplicates and number forms of the same user must not double a delivery.
      const listed = [...users.map(forms), ...(random.int(3) === 0 ? [users[0] as string] : [])];
      return { userIds: listed, message: { type: 'iso', n } };
    });

    await pLimit(IN_FLIGHT).map(plan, async (payload, n) => {
      const { body } = await t.invokeSend(payload);
      results.push({ n, ...(body as { delivered: number; stale: number; failed: number }) });
    });
    const received = await drain();

    let deliveries = 0;
    let foreign = 0;
    let lost = 0;
    let duplicated = 0;
    const mismatches: string[] = [];
    for (const c of connections) {
      const numbers = (received.get(c.connectionId) ?? []).map(
        (frame) => (JSON.parse(frame) as { n: number }).n,
      );
      deliveries += numbers.length;
      const got = new Set(numbers);
      duplicated += numbers.length - got.size;
      for (const n of got) {
        if (!expected.get(n)?.has(c.connectionId)) {
          foreign++;
          mismatches.push(`${c.userId}/${c.connectionId} got #${n}`);
        }
      }
      for (const [n, targets] of expected) {
        if (targets.has(c.connectionId) && !got.has(n)) {
          lost++;
          mismatches.push(`${c.userId}/${c.connectionId} missed #${n}`);
        }
      }
    }
    const wrongCounts = results.filter(
      (r) => r.delivered !== expected.get(r.n)?.size || r.stale !== 0 || r.failed !== 0,
    );
    recordFigures('isolation', {
      seed,
      users: USER_IDS.length,
      connections: connections.length,
      sends: SENDS,
      deliveries,
      deliveredToAnotherUser: foreign,
      lost,
      duplicated,
      sendResultsNotMatchingClients: wrongCounts.length,
    });
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(duplicated).toBe(0);
    expect(wrongCounts).toEqual([]);
  });
});

describe('client frames cannot reach another connection', () => {
  it(`${FRAMES} random frames, many naming other users and connections: replies to the sender only`, async () => {
    const mallory = await t.connect('mallory');
    const self = await mallory.whoami();
    const victimIds = connections.map((c) => c.connectionId);
    const sends = t.invocations.of('send').length;
    const defaults = t.invocations.of('default').length;
    const action = fc.oneof(
      fc.constantFrom(
        'send',
        'sendmessage',
        'broadcast',
        'ping',
        'whoami',
        '$default',
        '$connect',
        '$disconnect',
        '@connections',
        'POST',
      ),
      fc.string({ maxLength: 20 }),
    );
    const aimed = fc
      .record(
        {
          action,
          connectionId: fc.constantFrom(...victimIds),
          ConnectionId: fc.constantFrom(...victimIds),
          userId: fc.constantFrom(...USER_IDS),
          userIds: fc.subarray(USER_IDS, { maxLength: 5 }),
          to: fc.constantFrom(...victimIds, ...USER_IDS),
          message: fc.jsonValue({ maxDepth: 3 }),
          data: fc.string({ maxLength: 50 }),
        },
        { requiredKeys: ['action'] },
      )
      .map((frame) => JSON.stringify(frame));
    const frame = fc.oneof(
      aimed,
      aimed,
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 50 }),
    );
    const replyTypes: Record<string, number> = {};
    let framesSent = 0;

    await fc.assert(
      fc.asyncProperty(frame, async (text) => {
        framesSent++;
        mallory.send(text);
        const reply = JSON.parse(await mallory.next()) as { type: string; userId?: string };
        replyTypes[reply.type] = (replyTypes[reply.type] ?? 0) + 1;
        expect(['pong', 'whoami', 'error']).toContain(reply.type);
        if (reply.type === 'whoami') expect(reply).toEqual({ type: 'whoami', ...self });
      }),
      { numRuns: FRAMES, seed },
    );

    const runs = t.invocations.of('default').slice(defaults);
    const crashed = runs.filter((r) => !r.outcome.ok);
    const sendsDuringFuzz = t.invocations.of('send').length - sends;
    const received = await drain();
    const reachedOthers = [...received.values()].reduce((sum, frames) => sum + frames.length, 0);
    recordFigures('frameFuzz', {
      seed,
      framesSent,
      repliesToSender: Object.values(replyTypes).reduce((a, b) => a + b, 0),
      pongReplies: replyTypes.pong ?? 0,
      whoamiReplies: replyTypes.whoami ?? 0,
      errorReplies: replyTypes.error ?? 0,
      defaultHandlerCrashes: crashed.length,
      sendInvocationsCaused: sendsDuringFuzz,
      framesReachingOtherConnections: reachedOthers,
    });
    expect(runs).toHaveLength(framesSent);
    expect(crashed).toEqual([]);
    expect(sendsDuringFuzz).toBe(0);
    expect(reachedOthers).toBe(0);
    expect(mallory.ws.readyState).toBe(mallory.ws.OPEN);
  });
});
