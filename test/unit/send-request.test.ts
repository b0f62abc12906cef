import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors';
import {
  MAX_MESSAGE_BYTES,
  MAX_MESSAGE_DEPTH,
  MAX_USER_IDS,
  parseSendRequest,
} from '../../lambdas/core/send-request';

function rejection(payload: unknown): string {
  try {
    parseSendRequest(payload);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).name).toBe('ValidationError');
    return (error as Error).message;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

/** A message whose JSON text is exactly `bytes` long in UTF-8. */
function messageOfBytes(bytes: number, filler = 'a'): Record<string, string> {
  const overhead = Buffer.byteLength(JSON.stringify({ t: '' }));
  const fillerBytes = Buffer.byteLength(filler);
  const count = Math.floor((bytes - overhead) / fillerBytes);
  const pad = 'a'.repeat(bytes - overhead - count * fillerBytes);
  const message = { t: filler.repeat(count) + pad };
  expect(Buffer.byteLength(JSON.stringify(message))).toBe(bytes);
  return message;
}

describe('parseSendRequest: targets', () => {
  it('normalises a numeric userId to its decimal string', () => {
    const request = parseSendRequest({ userId: 42, message: { type: 'seat_taken' } });
    expect(request.target).toEqual({ kind: 'user', userId: '42' });
    expect(request.messageJson).toBe('{"type":"seat_taken"}');
    expect(new TextDecoder().decode(request.messageBytes)).toBe(request.messageJson);
  });

  it('normalises and de-duplicates userIds, keeping first-seen order', () => {
    const request = parseSendRequest({ userIds: ['42', 7, 42, '7', 'anna'], message: {} });
    expect(request.target).toEqual({ kind: 'users', userIds: ['42', '7', 'anna'] });
  });

  it('accepts a connectionId target', () => {
    const request = parseSendRequest({ connectionId: 'BFaT_fALIAMCKug=', message: { a: 1 } });
    expect(request.target).toEqual({ kind: 'connection', connectionId: 'BFaT_fALIAMCKug=' });
  });

  it('keeps the message verbatim, __proto__ and constructor keys included', () => {
    const payload = JSON.parse(
      '{"userId":"1","message":{"__proto__":{"polluted":true},"constructor":{"prototype":1},"n":[1,2]}}',
    );
    const request = parseSendRequest(payload);
    expect(request.messageJson).toBe(
      '{"__proto__":{"polluted":true},"constructor":{"prototype":1},"n":[1,2]}',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    [null, 'payload: must be a JSON object with a target and a message, got null'],
    ['{"userId":1}', 'payload: must be a JSON object with a target and a message, got string'],
    [
      [{ userId: 1, message: {} }],
      'payload: must be a JSON object with a target and a message, got array',
    ],
    [{ message: {} }, 'payload: needs a target: one of userId, userIds or connectionId'],
    [
      { userId: undefined, message: {} },
      'payload: needs a target: one of userId, userIds or connectionId',
    ],
    [
      { userId: 1, connectionId: 'abc', message: {} },
      'payload: needs exactly one target, got userId and connectionId',
    ],
    [
      { userId: 1, userIds: [2], message: {} },
      'payload: needs exactly one target, got userId and userIds',
    ],
    [
      { user_id: 1, message: {} },
      'payload.user_id: unknown field; expected userId, userIds or connectionId, and message',
    ],
    [
      JSON.parse('{"userId":1,"message":{},"__proto__":{}}'),
      'payload.__proto__: unknown field; expected userId, userIds or connectionId, and message',
    ],
    [{ userId: '', message: {} }, 'userId: must not be empty'],
    [
      { userId: true, message: {} },
      'userId: must be a non-empty string or a non-negative integer, got boolean',
    ],
    [{ userIds: '42', message: {} }, 'userIds: must be an array, got string'],
    [{ userIds: [], message: {} }, 'userIds: must not be empty'],
    [
      { userIds: ['1', null], message: {} },
      'userIds[1]: must be a non-empty string or a non-negative integer, got null',
    ],
    [
      { userIds: ['1', 'a\u0007'], message: {} },
      'userIds[1]: must not contain control characters or lone surrogates',
    ],
    [{ connectionId: 7, message: {} }, 'connectionId: must be a string, got number'],
    [{ connectionId: '', message: {} }, 'connectionId: must not be empty'],
  ])('rejects %j', (payload, message) => {
    expect(rejection(payload)).toBe(message);
  });

  it(`rejects more than ${MAX_USER_IDS} userIds, and accepts exactly ${MAX_USER_IDS}`, () => {
    const ids = Array.from({ length: MAX_USER_IDS }, (_, i) => i);
    expect(parseSendRequest({ userIds: ids, message: {} }).target).toMatchObject({ kind: 'users' });
    expect(rejection({ userIds: [...ids, MAX_USER_IDS], message: {} })).toBe(
      `userIds: must hold at most ${MAX_USER_IDS} ids, got ${MAX_USER_IDS + 1}`,
    );
  });
});

describe('parseSendRequest: message', () => {
  it.each([
    [{ userId: 1 }, 'message: is required'],
    [{ userId: 1, message: null }, 'message: must be a JSON object, got null'],
    [{ userId: 1, message: [1, 2] }, 'message: must be a JSON object, got array'],
    [{ userId: 1, message: 'hello' }, 'message: must be a JSON object, got string'],
    [{ userId: 1, message: 42 }, 'message: must be a JSON object, got number'],
  ])('rejects %j', (payload, message) => {
    expect(rejection(payload)).toBe(message);
  });

  it('accepts a message of exactly 128 KiB of UTF-8 and rejects one byte more', () => {
    expect(
      parseSendRequest({ userId: 1, message: messageOfBytes(MAX_MESSAGE_BYTES) }).messageBytes
        .byteLength,
    ).toBe(MAX_MESSAGE_BYTES);
    expect(rejection({ userId: 1, message: messageOfBytes(MAX_MESSAGE_BYTES + 1) })).toBe(
      "message: is 131073 bytes as JSON, over API Gateway's limit of 131072 bytes (128 KiB)",
    );
  });

  it('counts bytes, not characters: emoji are four bytes each', () => {
    const emoji = messageOfBytes(MAX_MESSAGE_BYTES - 2, '🚕');
    expect(emoji.t?.length).toBeLessThan(MAX_MESSAGE_BYTES / 2);
    expect(parseSendRequest({ userId: 1, message: emoji }).messageBytes.byteLength).toBe(
      MAX_MESSAGE_BYTES - 2,
    );
    expect(rejection({ userId: 1, message: messageOfBytes(MAX_MESSAGE_BYTES + 3, '🚕') })).toMatch(
      /^message: is 131075 bytes as JSON/,
    );
  });

  it('accepts 64 levels of nesting and rejects 65 or 200,000, without crashing', () => {
    const nested = (levels: number) => {
      let message: Record<string, unknown> = {};
      for (let level = 1; level < levels; level++) message = { d: message };
      return message;
    };
    expect(parseSendRequest({ userId: 1, message: nested(MAX_MESSAGE_DEPTH) }).messageJson).toBe(
      `${'{"d":'.repeat(MAX_MESSAGE_DEPTH - 1)}{}${'}'.repeat(MAX_MESSAGE_DEPTH - 1)}`,
    );
    expect(rejection({ userId: 1, message: { list: [nested(MAX_MESSAGE_DEPTH - 1)] } })).toBe(
      'message: is nested more than 64 levels deep',
    );
    expect(rejection({ userId: 1, message: nested(200_000) })).toBe(
      'message: is nested more than 64 levels deep',
    );
  });
});
