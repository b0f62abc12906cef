import { base64url, SignJWT } from 'jose';
import { DEFAULT_JWT_AUDIENCE } from '../../lambdas/shared/limits';

export const TEST_SECRET = 'tripsync-test-secret-0123456789abcdef';
export const TEST_SECRET_BYTES = new TextEncoder().encode(TEST_SECRET);

/** The audience the authorizer expects when `JWT_AUDIENCE` is unset. */
export const TEST_AUDIENCE = DEFAULT_JWT_AUDIENCE;

/**
 * An HS256 token as the TripSync backend signs them. `claims` override the defaults (`sub` 42,
 * `aud` this API, issued now, expiring in an hour); a claim set to `undefined` is left out.
 *
 * @example
 * await hs256Token({ sub: 'anna', exp: past });
 */
export async function hs256Token(
  claims: Record<string, unknown> = {},
  secret: Uint8Array = TEST_SECRET_BYTES,
  header: { kid?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = withoutUndefined({
    sub: 42,
    aud: TEST_AUDIENCE,
    iat: now,
    exp: now + 3600,
    ...claims,
  });
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .sign(secret);
}

/** An unsecured token (`alg: none`, empty signature), which must never be accepted. */
export function unsignedToken(claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: object) => base64url.encode(JSON.stringify(value));
  const payload = { sub: '42', aud: TEST_AUDIENCE, iat: now, exp: now + 3600, ...claims };
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}

function withoutUndefined(claims: Record<string, unknown>) {
  return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
}
