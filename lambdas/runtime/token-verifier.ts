import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors } from 'jose';
import type { AuthConfig, Hs256SecretSource } from '../config/auth';
import { AuthProviderUnavailableError } from '../core/errors';
import { createTokenVerifier, type VerifyToken } from '../core/tokens';

/**
 * Builds the authorizer's token check once per container. The HS256 secret is loaded on the
 * first HS256 token and kept by `createTokenVerifier` (loaded again after a failure); the JWKS
 * is cached by jose.
 *
 * @example
 * const verify = createVerifier(readAuthConfig(process.env));
 */
export function createVerifier(config: AuthConfig): VerifyToken {
  const { hs256 } = config;
  return createTokenVerifier({
    hs256Secret: hs256 ? () => loadSecret(hs256) : undefined,
    jwks: config.jwks
      ? {
          getKey: remoteKeySet(config.jwks.url),
          issuer: config.jwks.issuer,
          audience: config.jwks.audience,
        }
      : undefined,
    clockToleranceSeconds: config.clockToleranceSeconds,
  });
}

/**
 * Defined `false` (an esbuild `define`) in the bundle of an authorizer deployed without an
 * HS256 secret, which then leaves the Secrets Manager client out; undefined everywhere else.
 */
declare const TRIPSYNC_BUNDLE_SECRETS_MANAGER: boolean | undefined;

async function loadSecret(source: Hs256SecretSource): Promise<Uint8Array> {
  if (source.kind === 'inline') return new TextEncoder().encode(source.secret);
  // A constant once bundled: esbuild drops the branch not taken, and with it the client.
  return typeof TRIPSYNC_BUNDLE_SECRETS_MANAGER === 'boolean' && !TRIPSYNC_BUNDLE_SECRETS_MANAGER
    ? Promise.reject(
        new AuthProviderUnavailableError(
          'JWT_SECRET_ARN is set, but this authorizer was deployed without an HS256 secret and its bundle has no Secrets Manager client',
        ),
      )
    : loadFromSecretsManager(source.secretId);
}

async function loadFromSecretsManager(secretId: string): Promise<Uint8Array> {
  try {
    // Imported on demand: a JWKS-only authorizer never loads the Secrets Manager client.
    const { SecretsManagerClient, GetSecretValueCommand } = await import(
      '@aws-sdk/client-secrets-manager'
    );
    const result = await new SecretsManagerClient({}).send(
      new GetSecretValueCommand({ SecretId: secretId }),
    );
    if (!result.SecretString) throw new Error('the secret has no SecretString');
    return new TextEncoder().encode(result.SecretString);
  } catch (error) {
    throw new AuthProviderUnavailableError(
      `HS256 secret could not be read from Secrets Manager: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** jose's remote key set, with fetch failures reported as an outage rather than a bad token. */
function remoteKeySet(url: string): JWTVerifyGetKey {
  const keySet = createRemoteJWKSet(new URL(url), { timeoutDuration: 3000 });
  return async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys ||
        error instanceof joseErrors.JOSENotSupported
      ) {
        throw error;
      }
      throw new AuthProviderUnavailableError(
        `JWKS at ${url} unavailable: ${(error as Error).message}`,
        { cause: error },
      );
    }
  };
}
