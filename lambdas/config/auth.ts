import { ConfigError } from '../core/errors';
import { MIN_HS256_SECRET_BYTES, SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalString, optionalUrl } from './env';

/** Where the HS256 secret comes from: inline (local development) or Secrets Manager (AWS). */
export type Hs256SecretSource =
  | { kind: 'inline'; secret: string }
  | { kind: 'secretsManager'; secretId: string };

/** How the `$connect` authorizer verifies tokens: HS256, JWKS, or both. */
export interface AuthConfig {
  hs256?: Hs256SecretSource;
  jwks?: { url: string; issuer: string; audience: string };
  clockToleranceSeconds: number;
}

/**
 * Reads the authorizer's settings once, at cold start:
 * - HS256: `JWT_SECRET` (the secret itself) or `JWT_SECRET_ARN` (a Secrets Manager secret);
 * - JWKS: `JWKS_URL` with `JWT_ISSUER` and `JWT_AUDIENCE`, all three together;
 * - `JWT_CLOCK_TOLERANCE_SECONDS` (5).
 *
 * @example
 * readAuthConfig({ JWKS_URL: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
 *   JWT_ISSUER: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc', JWT_AUDIENCE: 'client-id' });
 */
export function readAuthConfig(env: Env): AuthConfig {
  const secret = optionalString(env, 'JWT_SECRET');
  const secretArn = optionalString(env, 'JWT_SECRET_ARN');
  if (secret !== undefined && secretArn !== undefined) {
    throw new ConfigError('JWT_SECRET', 'set JWT_SECRET or JWT_SECRET_ARN, not both');
  }
  if (secret !== undefined && Buffer.byteLength(secret, 'utf8') < MIN_HS256_SECRET_BYTES) {
    throw new ConfigError(
      'JWT_SECRET',
      `must be at least ${MIN_HS256_SECRET_BYTES} bytes for HS256, got ${Buffer.byteLength(secret, 'utf8')}`,
    );
  }
  const hs256: Hs256SecretSource | undefined =
    secret !== undefined
      ? { kind: 'inline', secret }
      : secretArn !== undefined
        ? { kind: 'secretsManager', secretId: secretArn }
        : undefined;

  const jwksSettings = {
    JWKS_URL: optionalUrl(env, 'JWKS_URL'),
    JWT_ISSUER: optionalString(env, 'JWT_ISSUER'),
    JWT_AUDIENCE: optionalString(env, 'JWT_AUDIENCE'),
  };
  const given = Object.entries(jwksSettings).filter(([, value]) => value !== undefined);
  if (given.length > 0 && given.length < 3) {
    const missing = Object.keys(jwksSettings).filter((name) => !given.some(([n]) => n === name));
    throw new ConfigError(
      missing[0] as string,
      `is required with ${given.map(([n]) => n).join(', ')}`,
    );
  }
  const jwks =
    given.length === 3
      ? {
          url: jwksSettings.JWKS_URL as string,
          issuer: jwksSettings.JWT_ISSUER as string,
          audience: jwksSettings.JWT_AUDIENCE as string,
        }
      : undefined;

  if (!hs256 && !jwks) {
    throw new ConfigError(
      'JWT_SECRET',
      'no token verification configured: set JWT_SECRET or JWT_SECRET_ARN (HS256), or JWKS_URL with JWT_ISSUER and JWT_AUDIENCE',
    );
  }
  return {
    hs256,
    jwks,
    clockToleranceSeconds: integerSetting(env, SETTINGS.jwtClockToleranceSeconds),
  };
}
