import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  base64url,
  CompactSign,
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refusedWith, type TestClient } from '../support/local-clients';
import { startTestStack, type TestStack } from '../support/local-stack';
import { captureOutput } from '../support/stdout';
import { unsignedToken } from '../support/tokens';
import { POLL } from '../support/waits';
import { recordFigures } from './report';

// The bad-input catalog, driven through the real entry points of the local stack: Lambda
// Invoke for `send` payloads, a real WebSocket client for frames, the handshake for tokens.
// Each case asserts the exact outcome (the error and the field or reason it names), that no
// handler crashed, that no row was written and that nothing was sent: after every case a
// marker goes to the canary connections, and it must be the next frame each of them reads.

const KiB = 1024;
const ISSUER = 'https://idp.tripsync.test';
/** The TripSync backend's own issuer: the HS256 signer, listed first (`npm run token` uses it). */
const BACKEND_ISSUER = 'tripsync-backend';
const AUDIENCE = 'tripsync-realtime';
const json = JSON.stringify;
const now = () => Math.floor(Date.now() / 1000);

let t: TestStack;
let output: ReturnType<typeof captureOutput>;
let jwksServer: Server;
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let stranger: { privateKey: CryptoKey; publicKey: CryptoKey };
let rsaPublicPem: string;
let rsaPublicJwk: string;
/** Connections that must never receive anything but the markers: users 42 (two) and 7. */
let canaries: TestClient[] = [];
let markers = 0;
/** Every token tried, for the log scan at the end. */
const tokensUsed: string[] = [];

const tally = {
  sendPayloads: 0,
  clientFrames: 0,
  tokens: 0,
  /** Cases whose exact outcome was an acceptance (duplicates, limits just met, key-like ids). */
  acceptedAsSpecified: 0,
  validationErrors: 0,
  errorReplies: 0,
  closes: 0,
  refusedHandshakes: 0,
  /** Handshakes over a user's connection cap, refused with 429 and the reason logged. */
  refusedOverConnectionCap: 0,
  /** A handler that failed with anything but the expected error, or an HTTP error. */
  crashes: 0,
  rowsWrittenByBadInput: 0,
  unexpectedDeliveries: 0,
  burstFrames: 0,
  burstRepliesInOrder: 0,
};

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  stranger = await generateKeyPair('RS256', { extractable: true });
  rsaPublicPem = await exportSPKI(rsa.publicKey);
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  rsaPublicJwk = json(jwk);
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(json({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  // Both verifiers, as a deployment with `-c createJwtSecret=true` and a JWKS has them: the
  // HS/RS confusion cases need a public key the authorizer knows.
  const jwksEnv = {
    JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`,
    JWT_ISSUER: `${BACKEND_ISSUER},${ISSUER}`,
    JWT_AUDIENCE: AUDIENCE,
  };
  Object.assign(process.env, jwksEnv);
  output = captureOutput({ quiet: true });
  try {
    t = await startTestStack({ handlerLogLevel: 'INFO' });
  } finally {
    for (const name of Object.keys(jwksEnv)) delete process.env[name];
  }
  canaries = [await t.connect(42), await t.connect('42'), await t.connect(7)];
});

afterAll(async () => {
  recordFigures('badInput', {
    casesTried: tally.sendPayloads + tally.clientFrames + tally.tokens,
    ...tally,
  });
  await t?.stop();
  output?.stop();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

const rowKeys = async () =>
  (await t.rows()).map((r) => `${r.userId}|${r.connectionId}`).sort((a, b) => a.localeCompare(b));

/**
 * Sends a marker to users 42 and 7: it must be the next frame every canary reads, so nothing
 * reached them since the last marker. `also` adds connections of other users to check.
 */
async function expectNothingSent(also: Array<{ userId: string; client: TestClient }> = []) {
  const marker = ++markers;
  const userIds = ['42', '7', ...also.map((a) => a.userId)];
  const { body } = await t.invokeSend({ userIds, message: { type: 'marker', marker } });
  expect(body).toMatchObject({ delivered: canaries.length + also.length, failed: 0 });
  const unexpected: string[] = [];
  for (const client of [...canaries, ...also.map((a) => a.client)]) {
    // Read up to the marker, so that one leak fails this case and not every later one.
    for (;;) {
      const frame = await client.next();
      if (frame === json({ type: 'marker', marker })) break;
      unexpected.push(frame.slice(0, 80));
    }
  }
  tally.unexpectedDeliveries += unexpected.length;
  expect(unexpected).toEqual([]);
}

async function expectNoRowWritten(before: string[]) {
  const after = await rowKeys();
  if (after.length !== before.length) tally.rowsWrittenByBadInput++;
  expect(after).toEqual(before);
}

// ---------------------------------------------------------------------------------------------
// send payloads

/** Nested objects, `levels` deep counting the message itself: `{"d":{"d":…{}}}`. */
function nested(levels: number): string {
  return `${'{"d":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
}
/** A message whose JSON is exactly `bytes` long in UTF-8, mostly 4-byte emoji. */
function messageOfBytes(bytes: number): string {
  const frame = '{"type":"big","text":""}';
  const room = bytes - frame.length;
  const text = '🚗'.repeat(Math.floor(room / 4)) + 'x'.repeat(room % 4);
  return `{"type":"big","text":"${text}"}`;
}
const ids = (n: number, from = 100_000) => Array.from({ length: n }, (_, i) => String(from + i));
const M = { type: 'x' };
const anyType = 'must be a non-empty string or a non-negative integer';
const notObject = 'payload: must be a JSON object with a target and a message';
const unknownField = 'unknown field; expected userId, userIds or connectionId, and message';
const idChars = 'must not contain control characters or lone surrogates';

/** [case, raw Invoke payload, exact errorMessage of the ValidationError]. */
const REFUSED_SENDS: Array<[string, string, string]> = [
  ['payload null', 'null', `${notObject}, got null`],
  ['payload an array', '[]', `${notObject}, got array`],
  ['payload a string', '"hello"', `${notObject}, got string`],
  ['payload a number', '42', `${notObject}, got number`],
  ['payload a boolean', 'true', `${notObject}, got boolean`],
  ['empty payload', '', 'payload: needs a target: one of userId, userIds or connectionId'],
  ['empty object', '{}', 'payload: needs a target: one of userId, userIds or connectionId'],
  [
    'no target',
    json({ message: M }),
    'payload: needs a target: one of userId, userIds or connectionId',
  ],
  ['no message', json({ userId: 42 }), 'message: is required'],
  [
    'userId and userIds',
    json({ userId: 42, userIds: ['7'], message: M }),
    'payload: needs exactly one target, got userId and userIds',
  ],
  [
    'userId and connectionId',
    json({ userId: 42, connectionId: 'abc=', message: M }),
    'payload: needs exactly one target, got userId and connectionId',
  ],
  [
    'all three targets',
    json({ userId: 42, userIds: [7], connectionId: 'abc=', message: M }),
    'payload: needs exactly one target, got userId and userIds and connectionId',
  ],
  ['userId null', json({ userId: null, message: M }), `userId: ${anyType}, got null`],
  ['userId a boolean', json({ userId: true, message: M }), `userId: ${anyType}, got boolean`],
  ['userId an object', json({ userId: {}, message: M }), `userId: ${anyType}, got object`],
  ['userId an array', json({ userId: [42], message: M }), `userId: ${anyType}, got array`],
  [
    'userId negative',
    json({ userId: -1, message: M }),
    'userId: must be a non-negative safe integer, got -1',
  ],
  [
    'userId a fraction',
    json({ userId: 4.2, message: M }),
    'userId: must be a non-negative safe integer, got 4.2',
  ],
  [
    'userId past 2^53',
    '{"userId":9007199254740993,"message":{}}',
    'userId: must be a non-negative safe integer, got 9007199254740992',
  ],
  ['userId empty', json({ userId: '', message: M }), 'userId: must not be empty'],
  [
    'userId of 129 characters',
    json({ userId: 'u'.repeat(129), message: M }),
    'userId: must be at most 128 characters, got 129',
  ],
  [
    'userId of 100,000 characters',
    json({ userId: 'u'.repeat(100_000), message: M }),
    'userId: must be at most 128 characters, got 100000',
  ],
  ['userId with NUL', json({ userId: '4\u00002', message: M }), `userId: ${idChars}`],
  ['userId with a newline', json({ userId: '42\nuser 7', message: M }), `userId: ${idChars}`],
  ['userId with an ANSI escape', json({ userId: '\u001b[2J42', message: M }), `userId: ${idChars}`],
  ['userId with DEL', json({ userId: '42\u007f', message: M }), `userId: ${idChars}`],
  ['userId a lone surrogate', json({ userId: 'a\ud800', message: M }), `userId: ${idChars}`],
  [
    'userId with surrounding whitespace',
    json({ userId: ' 42', message: M }),
    'userId: must not start or end with whitespace',
  ],
  [
    'userIds a string',
    json({ userIds: '42', message: M }),
    'userIds: must be an array, got string',
  ],
  ['userIds an object', json({ userIds: {}, message: M }), 'userIds: must be an array, got object'],
  ['userIds empty', json({ userIds: [], message: M }), 'userIds: must not be empty'],
  [
    'userIds with 1,001 ids',
    json({ userIds: ids(1001), message: M }),
    'userIds: must hold at most 1000 ids, got 1001',
  ],
  [
    'userIds with 5,000 ids',
    json({ userIds: ids(5000), message: M }),
    'userIds: must hold at most 1000 ids, got 5000',
  ],
  [
    'userIds with a boolean',
    json({ userIds: ['42', true], message: M }),
    `userIds[1]: ${anyType}, got boolean`,
  ],
  [
    'userIds with an empty id',
    json({ userIds: ['42', '7', ''], message: M }),
    'userIds[2]: must not be empty',
  ],
  [
    'userIds with a control character',
    json({ userIds: ['42', 'a\u0000b'], message: M }),
    `userIds[1]: ${idChars}`,
  ],
  [
    'userIds with a nested array',
    json({ userIds: [['42']], message: M }),
    `userIds[0]: ${anyType}, got array`,
  ],
  [
    'userIds with a bad id at index 999',
    json({ userIds: [...ids(999), null], message: M }),
    `userIds[999]: ${anyType}, got null`,
  ],
  ['connectionId empty', json({ connectionId: '', message: M }), 'connectionId: must not be empty'],
  [
    'connectionId of 129 characters',
    json({ connectionId: 'A'.repeat(129), message: M }),
    'connectionId: must be at most 128 characters, got 129',
  ],
  [
    'connectionId with a path',
    json({ connectionId: 'abc/../../@connections', message: M }),
    'connectionId: may contain only letters, digits and + / = _ -',
  ],
  [
    'connectionId with a control character',
    json({ connectionId: 'abc\u0000=', message: M }),
    'connectionId: may contain only letters, digits and + / = _ -',
  ],
  [
    'connectionId a number',
    json({ connectionId: 42, message: M }),
    'connectionId: must be a string, got number',
  ],
  [
    'connectionId null',
    json({ connectionId: null, message: M }),
    'connectionId: must be a string, got null',
  ],
  ['message null', json({ userId: 42, message: null }), 'message: must be a JSON object, got null'],
  [
    'message an array',
    json({ userId: 42, message: [M] }),
    'message: must be a JSON object, got array',
  ],
  [
    'message a string',
    json({ userId: 42, message: 'seat taken' }),
    'message: must be a JSON object, got string',
  ],
  [
    'message a number',
    json({ userId: 42, message: 3 }),
    'message: must be a JSON object, got number',
  ],
  [
    'message one byte over 128 KiB (emoji counted in UTF-8)',
    `{"userId":42,"message":${messageOfBytes(128 * KiB + 1)}}`,
    "message: is 131073 bytes as JSON, over API Gateway's limit of 131072 bytes (128 KiB)",
  ],
  [
    'message of 1 MiB',
    `{"userId":42,"message":${messageOfBytes(1024 * KiB)}}`,
    "message: is 1048576 bytes as JSON, over API Gateway's limit of 131072 bytes (128 KiB)",
  ],
  [
    'message nested 65 levels',
    `{"userId":42,"message":${nested(65)}}`,
    'message: is nested more than 64 levels deep',
  ],
  [
    'message nested 100,000 levels',
    `{"userId":42,"message":${nested(100_000)}}`,
    'message: is nested more than 64 levels deep',
  ],
  [
    'a __proto__ key in the payload',
    '{"__proto__":{"userId":42},"message":{"type":"x"}}',
    `payload.__proto__: ${unknownField}`,
  ],
  [
    'a constructor key in the payload',
    '{"constructor":{"prototype":{"userId":42}},"userId":42,"message":{}}',
    `payload.constructor: ${unknownField}`,
  ],
  ['a misspelt target', json({ userid: 42, message: M }), `payload.userid: ${unknownField}`],
  [
    'an unknown key with control characters',
    json({ '\u0000\n\u001b': 1, userId: 42, message: M }),
    `payload.\\u0000\\n\\u001b: ${unknownField}`,
  ],
  [
    'an unknown key of 1,000 characters',
    json({ ['k'.repeat(1000)]: 1, userId: 42, message: M }),
    `payload.${'k'.repeat(40)}…: ${unknownField}`,
  ],
];

describe('send payloads: refused with a ValidationError naming the field, nothing sent', () => {
  it.each(REFUSED_SENDS)('%s', async (_name, raw, errorMessage) => {
    tally.sendPayloads++;
    const before = await rowKeys();

    const { status, functionError, body } = await t.invokeSend(raw);

    const error = body as { errorType?: string; errorMessage?: string };
    if (status !== 200 || error?.errorType !== 'ValidationError') tally.crashes++;
    expect(status).toBe(200);
    expect(functionError).toBe('Unhandled');
    expect({ errorType: error.errorType, errorMessage: error.errorMessage }).toEqual({
      errorType: 'ValidationError',
      errorMessage,
    });
    tally.validationErrors++;
    await expectNoRowWritten(before);
    await expectNothingSent();
    // Attacker-chosen keys never reach the prototype of the process's objects.
    expect(({} as Record<string, unknown>).userId).toBeUndefined();
  });

  it('a body that is not JSON: InvalidRequestContentException, the function is not run', async () => {
    tally.sendPayloads++;
    const runs = t.invocations.of('send').length;
    const error = await t.invokeSend('{"userId": 42, message').catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'InvalidRequestContentException' });
    expect((error as Error).message).toMatch(/^Could not parse request body into json/);
    expect(t.invocations.of('send')).toHaveLength(runs);
    tally.validationErrors++;
    await expectNothingSent();
  });

  it('an Event invocation of a bad payload: 202, then the ValidationError, nothing sent', async () => {
    tally.sendPayloads++;
    const before = await rowKeys();
    const runs = t.invocations.of('send').length;

    const { status } = await t.invokeSend(json({ userId: 42, message: 'hi' }), 'Event');

    expect(status).toBe(202);
    const record = await vi.waitFor(() => {
      const found = t.invocations.of('send')[runs];
      if (found === undefined) throw new Error('the Event invocation has not run yet');
      return found;
    }, POLL);
    expect(record.outcome).toMatchObject({
      ok: false,
      error: {
        errorType: 'ValidationError',
        errorMessage: 'message: must be a JSON object, got string',
      },
    });
    tally.validationErrors++;
    await expectNoRowWritten(before);
    await expectNothingSent();
  });
});

describe('send payloads accepted exactly as the contract says', () => {
  it('duplicate ids ("42", 42, "42", 7, "7") reach each connection once', async () => {
    tally.sendPayloads++;
    const { body } = await t.invokeSend({
      userIds: ['42', 42, '42', 7, '7'],
      message: { type: 'dup' },
    });
    expect(body).toEqual({
      delivered: 3,
      stale: 0,
      failed: 0,
      users: {
        // Logged by default: each user's place in its log (earlier tests logged to them too).
        '42': { delivered: 2, stale: 0, failed: 0, seq: expect.any(Number) },
        '7': { delivered: 1, stale: 0, failed: 0, seq: expect.any(Number) },
      },
    });
    for (const canary of canaries) expect(JSON.parse(await canary.next())).toEqual({ type: 'dup' });
    tally.acceptedAsSpecified++;
    await expectNothingSent();
  });

  it('1,000 user ids, the most allowed: one entry per user, delivered to the two who are online', async () => {
    tally.sendPayloads++;
    const userIds = [...ids(998), '42', '7'];
    // Not logged: this is about the list's limit. Logged, the message costs 3 DynamoDB requests
    // per user, 3,000 here, which dynalite on a loaded machine did not finish within the send
    // timeout (the load test sends logged messages to hundreds of users at once).
    const { body } = await t.invokeSend({ userIds, message: { type: 'many' }, persist: false });
    const result = body as { delivered: number; users: Record<string, unknown> };
    expect(result).toMatchObject({ delivered: 3, stale: 0, failed: 0 });
    expect(Object.keys(result.users)).toHaveLength(1000);
    for (const canary of canaries)
      expect(JSON.parse(await canary.next())).toEqual({ type: 'many' });
    tally.acceptedAsSpecified++;
    await expectNothingSent();
  });

  it('a message of exactly 128 KiB (emoji counted in UTF-8) arrives byte for byte', async () => {
    tally.sendPayloads++;
    const message = messageOfBytes(128 * KiB);
    expect(Buffer.byteLength(message)).toBe(128 * KiB);
    expect(message.length).toBeLessThan(70 * KiB); // what a count of characters would see

    const { body } = await t.invokeSend(`{"userId":7,"message":${message}}`);

    // Too large for the protocol v2 envelope: delivered to v1 as before, not logged (no seq).
    expect(body).toEqual({ delivered: 1, stale: 0, failed: 0 });
    expect(await canaries[2]?.next()).toBe(message);
    tally.acceptedAsSpecified++;
    await expectNothingSent();
  });

  it('a message nested 64 levels, the most allowed, arrives verbatim', async () => {
    tally.sendPayloads++;
    const { body } = await t.invokeSend(`{"userId":7,"message":${nested(64)}}`);
    expect(body).toEqual({ delivered: 1, stale: 0, failed: 0, seq: expect.any(Number) });
    expect(await canaries[2]?.next()).toBe(nested(64));
    tally.acceptedAsSpecified++;
    await expectNothingSent();
  });

  it('__proto__ and constructor keys inside a message arrive verbatim and pollute nothing', async () => {
    tally.sendPayloads++;
    const message =
      '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"type":"p"}';
    const { body } = await t.invokeSend(`{"userId":7,"message":${message}}`);
    expect(body).toEqual({ delivered: 1, stale: 0, failed: 0, seq: expect.any(Number) });
    expect(await canaries[2]?.next()).toBe(message);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    tally.acceptedAsSpecified++;
    await expectNothingSent();
  });
});

// ---------------------------------------------------------------------------------------------
// client frames

const HINT = 'send {"action":"ping"} or {"action":"whoami"}';
const errorReply = (code: string, message: string) => ({ type: 'error', code, message });
const FRAMES: Array<[string, string, object]> = [
  ['plain text', 'hello', errorReply('INVALID_JSON', `message is not JSON; ${HINT}`)],
  [
    'truncated JSON',
    '{"action":"ping"',
    errorReply('INVALID_JSON', `message is not JSON; ${HINT}`),
  ],
  ['an empty frame', '', errorReply('EMPTY_MESSAGE', `message is empty; ${HINT}`)],
  ['whitespace only', ' \n\t ', errorReply('EMPTY_MESSAGE', `message is empty; ${HINT}`)],
  ['null', 'null', errorReply('NOT_AN_OBJECT', `message must be a JSON object; ${HINT}`)],
  [
    'an array',
    '[{"action":"ping"}]',
    errorReply('NOT_AN_OBJECT', `message must be a JSON object; ${HINT}`),
  ],
  ['a string', '"ping"', errorReply('NOT_AN_OBJECT', `message must be a JSON object; ${HINT}`)],
  ['a number', '42', errorReply('NOT_AN_OBJECT', `message must be a JSON object; ${HINT}`)],
  ['no action', '{}', errorReply('MISSING_ACTION', `message has no "action"; ${HINT}`)],
  [
    'an action under __proto__',
    '{"__proto__":{"action":"ping"}}',
    errorReply('MISSING_ACTION', `message has no "action"; ${HINT}`),
  ],
  [
    'action a number',
    '{"action":5}',
    errorReply('INVALID_ACTION', `"action" must be a string; ${HINT}`),
  ],
  [
    'action null',
    '{"action":null}',
    errorReply('INVALID_ACTION', `"action" must be a string; ${HINT}`),
  ],
  [
    'action an array',
    '{"action":["ping"]}',
    errorReply('INVALID_ACTION', `"action" must be a string; ${HINT}`),
  ],
  [
    'action an object',
    '{"action":{"ping":1}}',
    errorReply('INVALID_ACTION', `"action" must be a string; ${HINT}`),
  ],
  [
    'action a boolean',
    '{"action":true}',
    errorReply('INVALID_ACTION', `"action" must be a string; ${HINT}`),
  ],
  [
    'an unknown action',
    '{"action":"subscribe"}',
    errorReply('UNKNOWN_ACTION', `unknown action "subscribe"; ${HINT}`),
  ],
  [
    'action in the wrong case',
    '{"action":"PING"}',
    errorReply('UNKNOWN_ACTION', `unknown action "PING"; ${HINT}`),
  ],
  [
    'a send to another user',
    '{"action":"send","userId":"7","message":{"type":"spoof"}}',
    errorReply('UNKNOWN_ACTION', `unknown action "send"; ${HINT}`),
  ],
  [
    'action $disconnect',
    '{"action":"$disconnect"}',
    errorReply('UNKNOWN_ACTION', `unknown action "$disconnect"; ${HINT}`),
  ],
  [
    'action $connect',
    '{"action":"$connect"}',
    errorReply('UNKNOWN_ACTION', `unknown action "$connect"; ${HINT}`),
  ],
  [
    'an action of 1,000 characters',
    json({ action: 'a'.repeat(1000) }),
    errorReply('UNKNOWN_ACTION', `unknown action "${'a'.repeat(40)}…"; ${HINT}`),
  ],
  [
    'an action with control characters',
    json({ action: 'ping\u0000\n' }),
    errorReply('UNKNOWN_ACTION', `unknown action "ping\\u0000\\n"; ${HINT}`),
  ],
  ['ping with extra fields', '{"action":"ping","userId":"7"}', { type: 'pong' }],
];

describe('client frames: an error reply to the sender only, the connection kept', () => {
  let mallory: TestClient;
  let malloryId: string;
  beforeAll(async () => {
    mallory = await t.connect('mallory');
    malloryId = (await mallory.whoami()).connectionId;
  });

  it.each(FRAMES)('%s', async (_name, frame, reply) => {
    tally.clientFrames++;
    const before = await rowKeys();
    const sends = t.invocations.of('send').length;
    const defaults = t.invocations.of('default').length;

    mallory.send(frame);
    const answer = JSON.parse(await mallory.next());

    const record = t.invocations.of('default')[defaults];
    if (!record?.outcome.ok) tally.crashes++;
    expect(record?.outcome).toMatchObject({ ok: true, result: { statusCode: 200 } });
    expect(answer).toEqual(reply);
    if ((reply as { type: string }).type === 'error') tally.errorReplies++;
    expect(t.invocations.of('send')).toHaveLength(sends);
    await expectNoRowWritten(before);
    await expectNothingSent();
    expect(mallory.ws.readyState).toBe(mallory.ws.OPEN);
  });

  it('whoami names the sender only, whatever else the frame claims', async () => {
    tally.clientFrames++;
    mallory.send({ action: 'whoami', userId: '42', connectionId: canaryId() });
    expect(JSON.parse(await mallory.next())).toEqual({
      type: 'whoami',
      userId: 'mallory',
      connectionId: malloryId,
    });
    await expectNothingSent();
  });

  it('a burst of 1,000 frames: 1,000 replies, in order, to the sender only', async () => {
    tally.clientFrames++;
    const burst = Array.from(
      { length: 1000 },
      (_, i) => FRAMES[i % FRAMES.length] as (typeof FRAMES)[0],
    );

    for (const [, frame] of burst) mallory.send(frame);
    const replies: unknown[] = [];
    for (let i = 0; i < burst.length; i++) replies.push(JSON.parse(await mallory.next(10_000)));

    tally.burstFrames = burst.length;
    tally.burstRepliesInOrder = replies.filter((r, i) => json(r) === json(burst[i]?.[2])).length;
    expect(replies).toEqual(burst.map(([, , reply]) => reply));
    await expectNothingSent();
  });

  const CLOSES: Array<[string, number, (client: TestClient) => void]> = [
    ['a binary frame', 1003, (c) => c.ws.send(Buffer.from([0x7b, 0x7d]), { binary: true })],
    [
      'invalid UTF-8 in a text frame',
      1007,
      (c) => c.ws.send(Buffer.from([0xc3, 0x28]), { binary: false }),
    ],
    [
      'a frame of 32 KiB + 1',
      1009,
      (c) => c.send(json({ action: 'ping', pad: 'p'.repeat(32 * KiB) })),
    ],
    [
      'a message of 128 KiB + 1 in 16 KiB frames',
      1009,
      (c) => {
        const text = 'w'.repeat(128 * KiB + 1);
        for (let at = 0; at < text.length; at += 16 * KiB) {
          c.ws.send(text.slice(at, at + 16 * KiB), { fin: at + 16 * KiB >= text.length });
        }
      },
    ],
  ];

  it.each(CLOSES)(
    '%s closes the connection with %i, runs nothing else',
    async (_name, code, act) => {
      tally.clientFrames++;
      const client = await t.connect('closer');
      const { connectionId } = await client.whoami();
      const defaults = t.invocations.of('default').length;

      act(client);
      const closed = await client.closed;

      expect(closed.code).toBe(code);
      tally.closes++;
      expect(await t.invocations.disconnectOf(connectionId)).toMatchObject({
        disconnectStatusCode: code,
      });
      expect(t.invocations.of('default')).toHaveLength(defaults);
      await expect
        .poll(async () => (await rowKeys()).filter((k) => k.endsWith(`|${connectionId}`)))
        .toEqual([]);
      await expectNothingSent();
    },
  );
});

function canaryId(): string {
  const record = t.invocations.of('connect')[0]?.event as {
    requestContext: { connectionId: string };
  };
  return record.requestContext.connectionId;
}

// ---------------------------------------------------------------------------------------------
// tokens

const secret = () => new TextEncoder().encode(t.stack.jwtSecret);
function hs256(claims: Record<string, unknown>, key: Uint8Array = secret(), header = {}) {
  const payload = Object.fromEntries(
    Object.entries({
      sub: '42',
      iss: BACKEND_ISSUER,
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 600,
      ...claims,
    }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(key);
}
function oidc(claims: Record<string, unknown> = {}, key = rsa.privateKey, kid = 'rsa-1') {
  const payload = Object.fromEntries(
    Object.entries({
      sub: 'cognito-1',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 600,
      ...claims,
    }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
}
const seg = (value: unknown) => base64url.encode(typeof value === 'string' ? value : json(value));
/** A token with a correct HS256 MAC over whatever segments it is given, valid or not. */
function macked(headerSegment: string, payloadSegment: string): string {
  const input = `${headerSegment}.${payloadSegment}`;
  return `${input}.${createHmac('sha256', t.stack.jwtSecret).update(input).digest('base64url')}`;
}
async function rawSigned(header: object, payload: string, key: Uint8Array = secret()) {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader(header as { alg: string })
    .sign(key);
}

/** [case, token (undefined: no parameter), reason logged (undefined: authorizer not called)]. */
const REFUSED_TOKENS: Array<[string, () => Promise<string | undefined>, string | undefined]> = [
  ['no token parameter', async () => undefined, undefined],
  ['an empty token', async () => '', undefined],
  ['not a JWT', async () => 'not-a-jwt', 'malformed'],
  ['two segments', async () => 'eyJhbGciOiJIUzI1NiJ9.e30', 'malformed'],
  ['three empty segments', async () => '..', 'malformed'],
  ['malformed base64 in the header', async () => 'e@@.e$$.e%%', 'malformed'],
  [
    'a header that is not JSON',
    async () => `${seg('not json')}.${seg({ sub: '42' })}.c2ln`,
    'malformed',
  ],
  [
    'malformed base64 in the payload, validly MACed',
    async () => macked(seg({ alg: 'HS256' }), '***'),
    'malformed',
  ],
  ['claims that are not an object', () => rawSigned({ alg: 'HS256' }, '[1,2,3]'), 'malformed'],
  [
    'an unknown crit header, validly MACed',
    async () =>
      macked(
        seg({ alg: 'HS256', crit: ['x-tripsync'], 'x-tripsync': 1 }),
        seg({ sub: '42', exp: now() + 600 }),
      ),
    'malformed',
  ],
  ['expired', () => hs256({ exp: now() - 3600 }), 'expired'],
  ['nbf in the future', () => hs256({ nbf: now() + 3600 }), 'not_yet_valid'],
  ['no exp', () => hs256({ exp: undefined }), 'missing_claim'],
  ['no aud (any token the backend signs)', () => hs256({ aud: undefined }), 'wrong_audience'],
  ['aud of a password-reset link', () => hs256({ aud: 'password-reset' }), 'wrong_audience'],
  ['aud a list without this API', () => hs256({ aud: ['billing', 'app'] }), 'wrong_audience'],
  ['no iat', () => hs256({ iat: undefined }), 'missing_claim'],
  ['no iss, with issuers configured', () => hs256({ iss: undefined }), 'wrong_issuer'],
  ['iss of another service', () => hs256({ iss: 'tripsync-password-reset' }), 'wrong_issuer'],
  ['iat in the future', () => hs256({ iat: now() + 3600, exp: now() + 7200 }), 'not_yet_valid'],
  [
    'a lifetime of 100 years',
    () => hs256({ exp: now() + 100 * 365 * 86_400 }),
    'lifetime_too_long',
  ],
  [
    'a lifetime one second over a day',
    () => hs256({ iat: now() - 60, exp: now() - 60 + 86_401 }),
    'lifetime_too_long',
  ],
  ['a wrong signature', () => hs256({}, new TextEncoder().encode('x'.repeat(48))), 'bad_signature'],
  [
    'a payload swapped under a valid signature',
    async () => {
      const [header, , signature] = (await hs256({ sub: 'mallory' })).split('.');
      return `${header}.${seg({ sub: '42', exp: now() + 600 })}.${signature}`;
    },
    'bad_signature',
  ],
  [
    'the signature stripped',
    async () => `${(await hs256({})).split('.').slice(0, 2).join('.')}.`,
    'bad_signature',
  ],
  ['alg none', async () => unsignedToken({ sub: '42' }), 'unsupported_algorithm'],
  [
    'alg HS512 with the right secret',
    () => rawSigned({ alg: 'HS512' }, json({ sub: '42', exp: now() + 600 })),
    'unsupported_algorithm',
  ],
  [
    'HS256 signed with the RSA public key (PEM)',
    () => hs256({ sub: 'cognito-1' }, new TextEncoder().encode(rsaPublicPem)),
    'bad_signature',
  ],
  [
    'HS256 signed with the RSA public key (JWK)',
    () => hs256({ sub: 'cognito-1' }, new TextEncoder().encode(rsaPublicJwk)),
    'bad_signature',
  ],
  ['RS256 from the wrong issuer', () => oidc({ iss: 'https://evil.test' }), 'wrong_issuer'],
  ['RS256 without an issuer', () => oidc({ iss: undefined }), 'wrong_issuer'],
  ['RS256 for the wrong audience', () => oidc({ aud: 'another-app' }), 'wrong_audience'],
  [
    'RS256 signed by another key under the published kid',
    () => oidc({}, stranger.privateKey),
    'bad_signature',
  ],
  ['RS256 with an unpublished kid', () => oidc({}, stranger.privateKey, 'rogue'), 'unknown_key'],
  ['RS256 expired', () => oidc({ exp: now() - 3600 }), 'expired'],
  ['RS256 without aud', () => oidc({ aud: undefined }), 'wrong_audience'],
  ['RS256 without iat', () => oidc({ iat: undefined }), 'missing_claim'],
  ['RS256 living a week', () => oidc({ exp: now() + 7 * 86_400 }), 'lifetime_too_long'],
  ['no sub', () => hs256({ sub: undefined }), 'missing_claim'],
  ['an empty sub', () => hs256({ sub: '' }), 'invalid_subject'],
  ['a sub of 129 characters', () => hs256({ sub: 's'.repeat(129) }), 'invalid_subject'],
  ['a sub of 10 KB', () => hs256({ sub: 's'.repeat(10 * 1024) }), 'malformed'],
  ['a sub with NUL', () => hs256({ sub: '42\u0000' }), 'invalid_subject'],
  ['a sub with a newline', () => hs256({ sub: '7\n42' }), 'invalid_subject'],
  ['a sub with surrounding whitespace', () => hs256({ sub: '42 ' }), 'invalid_subject'],
  ['a sub that is an object', () => hs256({ sub: { id: 42 } }), 'invalid_subject'],
  ['a sub that is negative', () => hs256({ sub: -42 }), 'invalid_subject'],
  ['a sub that is a fraction', () => hs256({ sub: 42.5 }), 'invalid_subject'],
  ['a sub that is a boolean', () => hs256({ sub: true }), 'invalid_subject'],
  [
    'a token of 8,193 characters',
    async () => `${await hs256({})}${'A'.repeat(8193)}`.slice(0, 8193),
    'malformed',
  ],
];

describe('tokens: the handshake refused with 401 for the reason logged, nothing written', () => {
  it.each(REFUSED_TOKENS)('%s', async (_name, makeToken, reason) => {
    tally.tokens++;
    const token = await makeToken();
    if (token) tokensUsed.push(token);
    const before = await rowKeys();
    const authorizers = t.invocations.of('authorizer').length;
    const connects = t.invocations.of('connect').length;
    const mark = output.mark();

    const url =
      token === undefined ? t.stack.url : `${t.stack.url}?token=${encodeURIComponent(token)}`;
    const status = await refusedWith(url);

    expect(status).toBe(401);
    tally.refusedHandshakes++;
    expect(t.invocations.of('authorizer')).toHaveLength(authorizers + (reason ? 1 : 0));
    const authorizerOutcome = t.invocations.of('authorizer')[authorizers]?.outcome;
    if (
      reason &&
      (authorizerOutcome?.ok || authorizerOutcome?.error.errorMessage !== 'Unauthorized')
    ) {
      tally.crashes++;
    }
    expect(t.invocations.of('connect')).toHaveLength(connects);
    const logged = output
      .lines(mark)
      .filter((line) => line.message === 'token rejected')
      .map((line) => line.reason);
    expect(logged).toEqual(reason ? [reason] : []);
    await expectNoRowWritten(before);
  });
});

describe('the connection cap: the 21st live connection of one user refused with 429', () => {
  it('refuses it for the reason logged, writes nothing, then admits one once a slot frees', async () => {
    tally.tokens++;
    const user = 'capped-user';
    const held: TestClient[] = [];
    for (let i = 0; i < 20; i++) held.push(await t.connect(user));
    const mine = async () => (await rowKeys()).filter((k) => k.startsWith(`${user}|`));
    expect(await mine()).toHaveLength(20);
    const before = await rowKeys();
    const mark = output.mark();

    const status = await refusedWith(`${t.stack.url}?token=${await t.token(user)}`);

    expect(status).toBe(429);
    const connectOutcome = t.invocations.of('connect').at(-1)?.outcome;
    if (!connectOutcome?.ok) tally.crashes++;
    expect(connectOutcome).toMatchObject({ ok: true, result: { statusCode: 429 } });
    expect(
      output
        .lines(mark)
        .filter((line) => line.message === 'connection refused: too many live connections'),
    ).toMatchObject([{ level: 'WARN', userId: user, live: 21, limit: 20 }]);
    expect(t.lines.some((line) => /refused\s+429 Too Many Requests/.test(line))).toBe(true);
    await expectNoRowWritten(before);
    await expectNothingSent();
    tally.refusedHandshakes++;
    tally.refusedOverConnectionCap++;

    // A closed connection frees its slot: the next handshake is admitted.
    const leaving = held.pop() as TestClient;
    const { connectionId } = await leaving.whoami();
    leaving.ws.close();
    await t.invocations.disconnectOf(connectionId);
    held.push(await t.connect(user));
    expect(await mine()).toHaveLength(20);
    tally.acceptedAsSpecified++;
    for (const client of held) client.ws.close();
    await expect.poll(mine).toEqual([]);
  });
});

/** Ids a string key could trip over; each must be its own user, exactly. */
const KEY_LIKE_SUBS = [
  'a#b',
  '42|7',
  'user/../42',
  '42:7',
  '{"S":"42"}',
  "x' OR '1'='1",
  '%34%32',
  'ünïcødé 🚗',
  '042',
  '42.0',
  'u'.repeat(128),
];

describe('tokens for ids that could break a key: accepted, and exactly that user', () => {
  it.each(KEY_LIKE_SUBS)('sub %j', async (sub) => {
    tally.tokens++;
    const token = await hs256({ sub });
    tokensUsed.push(token);

    const client = await t.connectWith(token);
    const { userId, connectionId } = await client.whoami();

    expect(userId).toBe(sub);
    expect(await rowKeys()).toContain(`${sub}|${connectionId}`);
    // Sends to 42 and 7 (the markers) never reach it; its own marker is its next frame.
    await expectNothingSent([{ userId: sub, client }]);
    tally.acceptedAsSpecified++;
    client.ws.close();
    await expect.poll(rowKeys).not.toContain(`${sub}|${connectionId}`);
  });

  it('a valid RS256 token from the provider is accepted (the JWKS path works)', async () => {
    tally.tokens++;
    const token = await oidc();
    tokensUsed.push(token);
    const client = await t.connectWith(token);
    expect((await client.whoami()).userId).toBe('cognito-1');
    tally.acceptedAsSpecified++;
    client.ws.close();
  });
});

describe('logs', () => {
  it('hold no token, and no line an id could forge', async () => {
    const handlerLogs = output.text();
    const leaks = tokensUsed.filter(
      (token) =>
        token.length >= 16 &&
        (handlerLogs.includes(token) || t.lines.some((l) => l.includes(token))),
    );
    const forged = t.lines.filter((line) => /\p{Cc}/u.test(line));
    recordFigures('badInput', {
      tokensScannedForInLogs: tokensUsed.length,
      logLinesWithAToken: leaks.length,
      stackLinesWithControlCharacters: forged.length,
    });
    expect(leaks).toEqual([]);
    expect(forged).toEqual([]);
  });
});
