import { ValidationError } from './errors';

/** Longest user id accepted, in UTF-16 code units. OIDC subjects (UUIDs, `auth0|…`) fit easily. */
export const MAX_USER_ID_LENGTH = 128;

/** Longest connection id accepted. API Gateway's are 16 characters (`BFaT_fALIAMCKug=`). */
export const MAX_CONNECTION_ID_LENGTH = 128;

// Control characters and lone surrogates cannot be stored as DynamoDB strings (UTF-8 only) and
// have no business in an id; surrounding whitespace is almost always a producer bug.
const FORBIDDEN_USER_ID_CHARS = /[\p{Cc}\p{Cs}]/u;
const CONNECTION_ID_PATTERN = /^[A-Za-z0-9+/=_-]+$/;

/**
 * Normalises a user id to the string the connection table is keyed by. TripSync's ids are
 * integers, so a number is accepted and written in decimal: `42` and `"42"` are the same user.
 *
 * @example
 * normalizeUserId(42, 'userId');        // '42'
 * normalizeUserId('auth0|a1', 'sub');    // 'auth0|a1'
 * normalizeUserId('', 'userId');         // throws ValidationError "userId: must not be empty"
 */
export function normalizeUserId(value: unknown, field: string): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ValidationError(field, `must be a non-negative safe integer, got ${value}`);
    }
    return String(value);
  }
  if (typeof value !== 'string') {
    throw new ValidationError(
      field,
      `must be a non-empty string or a non-negative integer, got ${describeType(value)}`,
    );
  }
  if (value.length === 0) throw new ValidationError(field, 'must not be empty');
  if (value.length > MAX_USER_ID_LENGTH) {
    throw new ValidationError(
      field,
      `must be at most ${MAX_USER_ID_LENGTH} characters, got ${value.length}`,
    );
  }
  if (FORBIDDEN_USER_ID_CHARS.test(value)) {
    throw new ValidationError(field, 'must not contain control characters or lone surrogates');
  }
  if (value.trim() !== value) {
    throw new ValidationError(field, 'must not start or end with whitespace');
  }
  return value;
}

/**
 * Checks a connection id as API Gateway issues them (URL-safe base64-like characters).
 *
 * @example
 * validateConnectionId('BFaT_fALIAMCKug=', 'connectionId'); // 'BFaT_fALIAMCKug='
 */
export function validateConnectionId(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw new ValidationError(field, `must be a string, got ${describeType(value)}`);
  }
  if (value.length === 0) throw new ValidationError(field, 'must not be empty');
  if (value.length > MAX_CONNECTION_ID_LENGTH) {
    throw new ValidationError(
      field,
      `must be at most ${MAX_CONNECTION_ID_LENGTH} characters, got ${value.length}`,
    );
  }
  if (!CONNECTION_ID_PATTERN.test(value)) {
    throw new ValidationError(field, 'may contain only letters, digits and + / = _ -');
  }
  return value;
}

/** `null`, `array`, or the `typeof` of a value: for error messages that say what was received. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
