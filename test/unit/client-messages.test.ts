import { describe, expect, it } from 'vitest';
import { replyToClientFrame } from '../../lambdas/core/client-messages';

const sender = {
  connectionId: 'BFaT_fALIAMCKug=',
  authorizer: { principalId: '42', userId: '42' },
};

describe('replyToClientFrame', () => {
  it('answers ping with pong', () => {
    expect(replyToClientFrame({ ...sender, body: '{"action":"ping"}' })).toEqual({ type: 'pong' });
  });

  it('answers whoami with the authorized user and this connection', () => {
    expect(replyToClientFrame({ ...sender, body: '{"action":"whoami","userId":"7"}' })).toEqual({
      type: 'whoami',
      userId: '42',
      connectionId: 'BFaT_fALIAMCKug=',
    });
  });

  it('refuses whoami on a connection without an authorized user', () => {
    expect(
      replyToClientFrame({ connectionId: 'c1', body: '{"action":"whoami"}', authorizer: null }),
    ).toEqual({
      type: 'error',
      code: 'NO_IDENTITY',
      message: 'this connection has no authorized user',
    });
  });

  const hint = 'send {"action":"ping"} or {"action":"whoami"}';
  it.each([
    [
      { body: 'aGVsbG8=', isBase64Encoded: true },
      'BINARY_NOT_SUPPORTED',
      'binary frames are not supported; send JSON text',
    ],
    [{ body: '' }, 'EMPTY_MESSAGE', `message is empty; ${hint}`],
    [{ body: null }, 'EMPTY_MESSAGE', `message is empty; ${hint}`],
    [{ body: '   ' }, 'EMPTY_MESSAGE', `message is empty; ${hint}`],
    [{ body: 'hello' }, 'INVALID_JSON', `message is not JSON; ${hint}`],
    [{ body: '{"action":' }, 'INVALID_JSON', `message is not JSON; ${hint}`],
    [{ body: '"ping"' }, 'NOT_AN_OBJECT', `message must be a JSON object; ${hint}`],
    [{ body: '[{"action":"ping"}]' }, 'NOT_AN_OBJECT', `message must be a JSON object; ${hint}`],
    [{ body: 'null' }, 'NOT_AN_OBJECT', `message must be a JSON object; ${hint}`],
    [{ body: '{}' }, 'MISSING_ACTION', `message has no "action"; ${hint}`],
    [
      { body: '{"__proto__":{"action":"ping"}}' },
      'MISSING_ACTION',
      `message has no "action"; ${hint}`,
    ],
    [{ body: '{"action":42}' }, 'INVALID_ACTION', `"action" must be a string; ${hint}`],
    [{ body: '{"action":["ping"]}' }, 'INVALID_ACTION', `"action" must be a string; ${hint}`],
    [
      { body: '{"action":"send","userId":"7","message":{}}' },
      'UNKNOWN_ACTION',
      `unknown action "send"; ${hint}`,
    ],
    [{ body: '{"action":"toString"}' }, 'UNKNOWN_ACTION', `unknown action "toString"; ${hint}`],
    [
      { body: JSON.stringify({ action: 'x'.repeat(500) }) },
      'UNKNOWN_ACTION',
      `unknown action "${'x'.repeat(40)}…"; ${hint}`,
    ],
  ])('answers %j with error %s', (frame, code, message) => {
    expect(replyToClientFrame({ ...sender, ...frame })).toEqual({ type: 'error', code, message });
  });
});
