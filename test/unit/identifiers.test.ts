import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors';
import {
  MAX_CONNECTION_ID_LENGTH,
  MAX_USER_ID_LENGTH,
  normalizeUserId,
  validateConnectionId,
} from '../../lambdas/core/identifiers';
import { counterSortKey, isCounterSortKey } from '../../lambdas/shared/connection-table-schema';

function validationErrorOf(call: () => unknown): ValidationError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

describe('normalizeUserId', () => {
  it.each([
    [42, '42'],
    [0, '0'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    ['42', '42'],
    ['auth0|5f7c8ec7c33c6c004bbafe82', 'auth0|5f7c8ec7c33c6c004bbafe82'],
    ['0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950e'],
    ['Zoë 🚕', 'Zoë 🚕'],
    ['x'.repeat(MAX_USER_ID_LENGTH), 'x'.repeat(MAX_USER_ID_LENGTH)],
  ])('accepts %j as %j', (input, expected) => {
    expect(normalizeUserId(input, 'userId')).toBe(expected);
  });

  it.each([
    ['', 'userId: must not be empty'],
    [
      'x'.repeat(MAX_USER_ID_LENGTH + 1),
      `userId: must be at most ${MAX_USER_ID_LENGTH} characters, got 129`,
    ],
    ['a\u0000b', 'userId: must not contain control characters or lone surrogates'],
    ['line\nbreak', 'userId: must not contain control characters or lone surrogates'],
    ['\ud800', 'userId: must not contain control characters or lone surrogates'],
    [' 42', 'userId: must not start or end with whitespace'],
    [-1, 'userId: must be a non-negative safe integer, got -1'],
    [1.5, 'userId: must be a non-negative safe integer, got 1.5'],
    [Number.NaN, 'userId: must be a non-negative safe integer, got NaN'],
    [2 ** 53, 'userId: must be a non-negative safe integer, got 9007199254740992'],
    [true, 'userId: must be a non-empty string or a non-negative integer, got boolean'],
    [null, 'userId: must be a non-empty string or a non-negative integer, got null'],
    [['42'], 'userId: must be a non-empty string or a non-negative integer, got array'],
    [{ id: 42 }, 'userId: must be a non-empty string or a non-negative integer, got object'],
  ])('rejects %j with a message naming the field', (input, message) => {
    const error = validationErrorOf(() => normalizeUserId(input, 'userId'));
    expect(error.message).toBe(message);
    expect(error.field).toBe('userId');
  });
});

describe('validateConnectionId', () => {
  it('accepts API Gateway connection ids', () => {
    expect(validateConnectionId('BFaT_fALIAMCKug=', 'connectionId')).toBe('BFaT_fALIAMCKug=');
  });

  it.each([
    ['', 'connectionId: must not be empty'],
    [42, 'connectionId: must be a string, got number'],
    [
      'a'.repeat(MAX_CONNECTION_ID_LENGTH + 1),
      'connectionId: must be at most 128 characters, got 129',
    ],
    ['../@connections/x', 'connectionId: may contain only letters, digits and + / = _ -'],
    ['abc def', 'connectionId: may contain only letters, digits and + / = _ -'],
  ])('rejects %j', (input, message) => {
    expect(validationErrorOf(() => validateConnectionId(input, 'connectionId')).message).toBe(
      message,
    );
  });
});

describe("a user's counter sort key", () => {
  const connectionIds = fc.string({
    unit: fc.constantFrom(...'ABCXYZabcxyz0189+/=_-'),
    minLength: 1,
    maxLength: MAX_CONNECTION_ID_LENGTH,
  });
  const userIds = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });

  it('is never a connection id, and sorts below every one in its partition', () => {
    fc.assert(
      fc.property(userIds, connectionIds, (userId, connectionId) => {
        const key = counterSortKey(userId);
        expect(() => validateConnectionId(key, 'connectionId')).toThrow(ValidationError);
        expect(validateConnectionId(connectionId, 'connectionId')).toBe(connectionId);
        expect(isCounterSortKey(key)).toBe(true);
        expect(isCounterSortKey(connectionId)).toBe(false);
        // DynamoDB orders string sort keys by their UTF-8 bytes: the Query's `> :counter`.
        expect(Buffer.compare(Buffer.from(key), Buffer.from(connectionId))).toBe(-1);
      }),
    );
  });
});
