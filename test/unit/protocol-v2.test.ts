import { describe, expect, it } from 'vitest';
import { newEpoch } from '../../lambdas/adapters/dynamodb-message-log';
import { ValidationError } from '../../lambdas/core/errors';
import { chosenProtocol, messageFrame, resumedFrame } from '../../lambdas/core/protocol-v2';
import {
  MAX_LOGGED_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES,
  parseSendRequest,
} from '../../lambdas/core/send-request';
import { AWS_LIMITS } from '../../lambdas/shared/limits';

const bytes = (text: string) => new TextEncoder().encode(text).byteLength;
/** A message object whose JSON is exactly `size` bytes. */
const messageOfBytes = (size: number) => ({ p: 'x'.repeat(size - '{"p":""}'.length) });

describe('the subprotocol $connect answers', () => {
  it.each([
    [{ 'Sec-WebSocket-Protocol': 'tripsync.v2' }, undefined, 'tripsync.v2'],
    [{ 'sec-websocket-protocol': 'chat, tripsync.v2' }, undefined, 'tripsync.v2'],
    [{}, { 'Sec-WebSocket-Protocol': ['other', 'tripsync.v2'] }, 'tripsync.v2'],
    [{ 'Sec-WebSocket-Protocol': 'tripsync.v1, other' }, undefined, 'v1'],
    [{ 'Sec-WebSocket-Protocol': 'tripsync.v22' }, undefined, 'v1'],
    [{ Host: 'x' }, undefined, 'v1'],
    [undefined, null, 'v1'],
  ])('%j %j → %s', (headers, multi, expected) => {
    expect(chosenProtocol(headers, multi)).toBe(expected);
  });
});

describe('v2 frames', () => {
  it('wrap the message text as is, with seq and epoch when logged', () => {
    const json = '{"type":"seat_taken","note":"Zoë 🚕","n":1.50}';
    expect(messageFrame(json, { seq: 12, epoch: 'AbCdEfGhIjKlMnOp' })).toBe(
      `{"type":"message","seq":12,"epoch":"AbCdEfGhIjKlMnOp","message":${json}}`,
    );
    expect(JSON.parse(messageFrame(json))).toEqual({ type: 'message', message: JSON.parse(json) });
    expect(JSON.parse(resumedFrame({ epoch: null, after: 0, last: 0, truncated: true }))).toEqual({
      type: 'resumed',
      epoch: null,
      after: 0,
      last: 0,
      truncated: true,
    });
  });

  it('fit API Gateway’s 128 KiB around the largest logged message, with the largest seq', () => {
    const message = JSON.stringify(messageOfBytes(MAX_LOGGED_MESSAGE_BYTES));
    const frame = messageFrame(message, { seq: Number.MAX_SAFE_INTEGER, epoch: newEpoch() });
    expect(bytes(message)).toBe(MAX_LOGGED_MESSAGE_BYTES);
    expect(bytes(frame)).toBeLessThanOrEqual(AWS_LIMITS.maxMessageBytes);
  });
});

describe('persist in a send payload', () => {
  it('logs a send to users by default, never a connectionId send', () => {
    expect(parseSendRequest({ userId: 42, message: {} })).toMatchObject({
      persist: true,
      log: true,
    });
    expect(parseSendRequest({ userIds: [1], message: {}, persist: false })).toMatchObject({
      persist: false,
      log: false,
    });
    expect(parseSendRequest({ connectionId: 'abc=', message: {} })).toMatchObject({
      persist: false,
      log: false,
    });
  });

  it('refuses a persist that is not a boolean, or true with a connectionId, naming it', () => {
    const refusal = (payload: unknown) => {
      try {
        parseSendRequest(payload);
      } catch (error) {
        if (error instanceof ValidationError) return error.message;
        throw error;
      }
      throw new Error('accepted');
    };
    expect(refusal({ userId: 1, message: {}, persist: 'no' })).toBe(
      'persist: must be true or false, got string',
    );
    expect(refusal({ connectionId: 'abc=', message: {}, persist: true })).toBe(
      'persist: a connectionId send is never logged (logs are per user); leave persist out',
    );
  });

  it('accepts a message up to 128 KiB, logging it only if its v2 envelope fits', () => {
    const largest = parseSendRequest({
      userId: 1,
      message: messageOfBytes(MAX_LOGGED_MESSAGE_BYTES),
    });
    const over = parseSendRequest({
      userId: 1,
      message: messageOfBytes(MAX_LOGGED_MESSAGE_BYTES + 1),
    });
    const maximal = parseSendRequest({ userId: 1, message: messageOfBytes(MAX_MESSAGE_BYTES) });
    expect(largest).toMatchObject({ persist: true, log: true });
    expect(over).toMatchObject({ persist: true, log: false });
    expect(maximal.messageBytes.byteLength).toBe(MAX_MESSAGE_BYTES);
    expect(maximal.log).toBe(false);
  });
});
