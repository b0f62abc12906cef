import { describe, expect, it } from 'vitest';
import type { TokenRejectionReason } from '../../lambdas/core/errors';
import { ValidationError } from '../../lambdas/core/errors';
import { parsePresenceQuery } from '../../lambdas/core/presence';
import { CLIENT_REFUSAL_REASONS, refusalReasonOfToken } from '../../lambdas/shared/metrics';

describe('parsePresenceQuery', () => {
  it('normalises ids like send: 42 and "42" are one user', () => {
    expect(parsePresenceQuery({ userIds: ['42', 42, 7] })).toEqual(['42', '7']);
  });

  it.each([
    [null, 'payload', /must be a JSON object with userIds, got null/],
    [[], 'payload', /got array/],
    [{}, 'userIds', /is required/],
    [{ userIds: [] }, 'userIds', /must not be empty/],
    [{ userIds: '42' }, 'userIds', /must be an array, got string/],
    [
      { userIds: Array.from({ length: 1001 }, (_, i) => i) },
      'userIds',
      /at most 1000 ids, got 1001/,
    ],
    [{ userIds: ['42', true] }, 'userIds[1]', /got boolean/],
    [{ userIds: ['42'], message: {} }, 'payload.message', /unknown field; expected userIds/],
  ])('refuses %j with a ValidationError naming %s', (payload, field, message) => {
    // Act
    const error = (() => {
      try {
        parsePresenceQuery(payload);
      } catch (caught) {
        return caught;
      }
    })();

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message).toMatch(message);
  });

  it('accepts exactly 1,000 ids', () => {
    expect(parsePresenceQuery({ userIds: Array.from({ length: 1000 }, (_, i) => i) })).toHaveLength(
      1000,
    );
  });
});

describe('refusal reason classes', () => {
  it('keep the cardinality of HandshakesRefused low: every token reason maps to a client class', () => {
    // Prepare: every TokenRejectionReason the authorizer can throw.
    const reasons: TokenRejectionReason[] = [
      'missing',
      'malformed',
      'unsupported_algorithm',
      'bad_signature',
      'unknown_key',
      'expired',
      'not_yet_valid',
      'missing_claim',
      'wrong_issuer',
      'wrong_audience',
      'invalid_subject',
    ];

    // Act
    const classes = Object.fromEntries(reasons.map((r) => [r, refusalReasonOfToken(r)]));

    // Assess
    expect(classes).toMatchObject({
      missing: 'missing_token',
      expired: 'expired_token',
      not_yet_valid: 'expired_token',
      bad_signature: 'invalid_token',
    });
    for (const value of Object.values(classes)) expect(CLIENT_REFUSAL_REASONS).toContain(value);
  });
});
