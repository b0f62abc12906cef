import { SignJWT } from 'jose';
import { normalizeUserId } from '../lambdas/core/identifiers';
import { DEFAULT_JWT_AUDIENCE } from '../lambdas/shared/limits';

/** Tokens from `npm run token` last a working session. */
export const LOCAL_TOKEN_TTL_SECONDS = 4 * 60 * 60;

/** How {@link signLocalToken} signs; only `secret` is required. */
export interface LocalTokenOptions {
  secret: string;
  /** `exp − iat`. @default LOCAL_TOKEN_TTL_SECONDS */
  ttlSeconds?: number;
  /** Epoch milliseconds taken as now. @default Date.now() */
  now?: number;
  /** The `aud` claim: the authorizer's `JWT_AUDIENCE`. @default 'tripsync-realtime' */
  audience?: string;
  /** The `iss` claim, left out when undefined: one of the authorizer's `JWT_ISSUER`. */
  issuer?: string;
}

/**
 * Signs an HS256 token the authorizer accepts: `sub` is the user id as a string (RFC 7519 makes
 * `sub` a string, and PyJWT ≥ 2.10 refuses anything else; the authorizer treats `"42"` and `42`
 * as the same user), `aud` this API, `iat` now, `exp` in four hours by default.
 *
 * @example
 * const token = await signLocalToken('42', { secret: LOCAL_JWT_SECRET });
 * new WebSocket(`ws://127.0.0.1:3001?token=${token}`);
 */
export async function signLocalToken(
  userId: string | number,
  options: LocalTokenOptions,
): Promise<string> {
  const sub = normalizeUserId(userId, 'userId');
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setAudience(options.audience ?? DEFAULT_JWT_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? LOCAL_TOKEN_TTL_SECONDS));
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
