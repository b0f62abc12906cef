import { ConfigError } from '../core/errors';
import type { TokenClaimRules } from '../core/tokens';
import { DEFAULT_JWT_AUDIENCE, MIN_HS256_SECRET_BYTES, SETTINGS } from '../shared/limits';
import { type Env, integerSetting, optionalString, optionalUrl } from './env';

/** Where the HS256 secret comes from: inline (local development) or Secrets Manager (AWS). */
export type Hs256SecretSource =
  | { kind: 'inline'; secret: string }
  | { kind: 'secretsManager'; secretId: string };

/** How the `$connect` authorizer verifies tokens: HS256, JWKS, or both. */
export interface AuthConfig {
  hs256?: Hs256SecretSource;
  /** `JWKS_URL`: RS256/ES256 keys; `claims.issuers` is always set with it. */
  jwks?: { url: string };
  claims: TokenClaimRules;
}

/**
 * Reads the authorizer's settings once, at cold start:
 * - HS256: `JWT_SECRET` (the secret itself, at least 32 bytes) or `JWT_SECRET_ARN` (a Secrets
 *   Manager secret, checked when read);
 * - JWKS: `JWKS_URL` (https, or http on a loopback address for local tests), which requires
 *   `JWT_ISSUER`;
 * - for every token: `JWT_AUDIENCE` (`tripsync-realtime`), `JWT_ISSUER` (unset: not checked),
 *   `JWT_MAX_LIFETIME_SECONDS` (86400), `JWT_CLOCK_TOLERANCE_SECONDS` (5).
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
  if (secret !== undefined) checkHs256KeyLength('JWT_SECRET', Buffer.byteLength(secret, 'utf8'));
  const hs256: Hs256SecretSource | undefined =
    secret !== undefined
      ? { kind: 'inline', secret }
      : secretArn !== undefined
        ? { kind: 'secretsManager', secretId: secretArn }
        : undefined;

  const jwksUrl = jwksUrlOf(env);
  const claims = readClaimRules(env);
  if (jwksUrl !== undefined && claims.issuers === undefined) {
    // A JWKS may publish the keys of many tenants or apps: only `iss` tells them apart.
    throw new ConfigError('JWT_ISSUER', 'is required with JWKS_URL');
  }
  if (!hs256 && jwksUrl === undefined) {
    throw new ConfigError(
      'JWT_SECRET',
      'no token verification configured: set JWT_SECRET or JWT_SECRET_ARN (HS256), or JWKS_URL with JWT_ISSUER',
    );
  }
  return { hs256, jwks: jwksUrl === undefined ? undefined : { url: jwksUrl }, claims };
}

/**
 * The claim rules alone, for whoever signs tokens locally (`npm run token`, `npm start`'s
 * banner) and must sign what the authorizer will accept.
 *
 * @example
 * readClaimRules({}); // { audience: 'tripsync-realtime', maxLifetimeSeconds: 86400, clockToleranceSeconds: 5 }
 */
export function readClaimRules(env: Env): TokenClaimRules {
  const issuers = optionalString(env, 'JWT_ISSUER')
    ?.split(',')
    .map((issuer) => issuer.trim());
  if (issuers?.some((issuer) => issuer === '')) {
    throw new ConfigError(
      'JWT_ISSUER',
      `must be one issuer or several separated by commas, none empty, got ${JSON.stringify(env.JWT_ISSUER)}`,
    );
  }
  return {
    audience: optionalString(env, 'JWT_AUDIENCE')?.trim() ?? DEFAULT_JWT_AUDIENCE,
    ...(issuers !== undefined && { issuers }),
    maxLifetimeSeconds: integerSetting(env, SETTINGS.jwtMaxLifetimeSeconds),
    clockToleranceSeconds: integerSetting(env, SETTINGS.jwtClockToleranceSeconds),
  };
}

/**
 * Throws a `ConfigError` naming `variable` when an HS256 key is shorter than 32 bytes; `what`
 * says which key when the variable only points to it (a secret's ARN and version, never its
 * value).
 *
 * @example
 * checkHs256KeyLength('JWT_SECRET', 5); // throws "JWT_SECRET: must be at least 32 bytes for HS256, got 5"
 */
export function checkHs256KeyLength(variable: string, bytes: number, what?: string): void {
  if (bytes < MIN_HS256_SECRET_BYTES) {
    throw new ConfigError(
      variable,
      `${what ? `${what} ` : ''}must be at least ${MIN_HS256_SECRET_BYTES} bytes for HS256, got ${bytes}`,
    );
  }
}

/** Loopback hosts, the only ones a JWKS may be fetched from over plain http. */
const LOOPBACK_HOSTNAMES = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

function jwksUrlOf(env: Env): string | undefined {
  const url = optionalUrl(env, 'JWKS_URL');
  if (url === undefined) return undefined;
  const { protocol, hostname } = new URL(url);
  // Keys fetched over plain http can be swapped by anyone on the path: every token forgeable.
  if (protocol !== 'https:' && !LOOPBACK_HOSTNAMES.test(hostname)) {
    throw new ConfigError(
      'JWKS_URL',
      `must be an https URL (http only on a loopback address), got ${JSON.stringify(url)}`,
    );
  }
  return url;
}
