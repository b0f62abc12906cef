import { SignJWT } from 'jose';
import { normalizeUserId } from '../lambdas/core/identifiers';

/** Tokens from `npm run token` last a working session. */
export const LOCAL_TOKEN_TTL_SECONDS = 4 * 60 * 60;

/**
 * Signs an HS256 token the authorizer accepts: `sub` is the user id as a string (RFC 7519 makes
 * `sub` a string, and PyJWT ≥ 2.10 refuses anything else; the authorizer treats `"42"` and `42`
 * as the same user), `iat` now, `exp` in four hours by default.
 *
 * @example
 * const token = await signLocalToken('42', { secret: LOCAL_JWT_SECRET });
 * new WebSocket(`ws://127.0.0.1:3001?token=${token}`);
 */
export async function signLocalToken(
  userId: string | number,
  options: { secret: string; ttlSeconds?: number; now?: number },
): Promise<string> {
  const sub = normalizeUserId(userId, 'userId');
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? LOCAL_TOKEN_TTL_SECONDS))
    .sign(new TextEncoder().encode(options.secret));
}
