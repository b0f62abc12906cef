import type { GetSecretValueCommandOutput } from '@aws-sdk/client-secrets-manager';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors } from 'jose';
import { type AuthConfig, checkHs256KeyLength, type Hs256SecretSource } from '../config/auth';
import { AuthProviderUnavailableError, ConfigError } from '../core/errors';
import { Hs256KeyRing, type Hs256KeySet, type Hs256KeyVersion } from '../core/hs256-keys';
import type { Log } from '../core/ports';
import { createTokenVerifier, type TokenClaimRules, type VerifyToken } from '../core/tokens';
import { HS256_KEY_CACHE_SECONDS, HS256_KEY_REFRESH_MIN_INTERVAL_SECONDS } from '../shared/limits';

/** What the verifier takes from its surroundings besides the config. */
export interface VerifierRuntime {
  /** The clock, epoch milliseconds. @default Date.now */
  now?: () => number;
  /** Where a previous key version that cannot be used is reported. */
  log?: Pick<Log, 'warn'>;
}

/**
 * Builds the authorizer's token check once per container. The HS256 key is read on the first
 * HS256 token and again every {@link HS256_KEY_CACHE_SECONDS}; from Secrets Manager both
 * `AWSCURRENT` and `AWSPREVIOUS` are read, and the previous version is accepted until
 * `JWT_MAX_LIFETIME_SECONDS` (plus the clock tolerance) after the current one was created, the
 * longest a token it signed before the rotation can live. The JWKS is cached by jose.
 *
 * @example
 * const verify = createVerifier(readAuthConfig(process.env), { log });
 */
export function createVerifier(config: AuthConfig, runtime: VerifierRuntime = {}): VerifyToken {
  const now = runtime.now ?? Date.now;
  return createTokenVerifier({
    hs256Keys: config.hs256 ? keyRingFor(config.hs256, config.claims, now, runtime.log) : undefined,
    jwks: config.jwks ? { getKey: remoteKeySet(config.jwks.url) } : undefined,
    claims: config.claims,
    now,
  });
}

function keyRingFor(
  source: Hs256SecretSource,
  claims: TokenClaimRules,
  now: () => number,
  log: Pick<Log, 'warn'> | undefined,
): Hs256KeyRing {
  // Its length was checked with the rest of the config, at cold start.
  if (source.kind === 'inline') return Hs256KeyRing.fixed(new TextEncoder().encode(source.secret));
  // A constant once bundled: esbuild drops the branch not taken, and with it the client.
  const load =
    typeof TRIPSYNC_BUNDLE_SECRETS_MANAGER === 'boolean' && !TRIPSYNC_BUNDLE_SECRETS_MANAGER
      ? () =>
          Promise.reject(
            new AuthProviderUnavailableError(
              'JWT_SECRET_ARN is set, but this authorizer was deployed without an HS256 secret and its bundle has no Secrets Manager client',
            ),
          )
      : secretsManagerLoader(source.secretId, log);
  return new Hs256KeyRing({
    load,
    maxAgeMs: HS256_KEY_CACHE_SECONDS * 1000,
    minRefreshIntervalMs: HS256_KEY_REFRESH_MIN_INTERVAL_SECONDS * 1000,
    previousKeyGraceMs: (claims.maxLifetimeSeconds + claims.clockToleranceSeconds) * 1000,
    now,
  });
}

/**
 * Defined `false` (an esbuild `define`) in the bundle of an authorizer deployed without an
 * HS256 secret, which then leaves the Secrets Manager client out; undefined everywhere else.
 */
declare const TRIPSYNC_BUNDLE_SECRETS_MANAGER: boolean | undefined;

type ReadSecret = (secretId: string, stage: string) => Promise<GetSecretValueCommandOutput>;

/**
 * Reads the key set with one Secrets Manager client per verifier (so one per container),
 * imported on first use: a JWKS-only authorizer never loads it.
 */
function secretsManagerLoader(
  secretId: string,
  log: Pick<Log, 'warn'> | undefined,
): () => Promise<Hs256KeySet> {
  let reader: Promise<ReadSecret> | undefined;
  const getReader = () => {
    reader ??= import('@aws-sdk/client-secrets-manager').then(
      ({ SecretsManagerClient, GetSecretValueCommand }) => {
        const client = new SecretsManagerClient({});
        return (id: string, stage: string) =>
          client.send(new GetSecretValueCommand({ SecretId: id, VersionStage: stage }));
      },
    );
    reader.catch(() => {
      reader = undefined;
    });
    return reader;
  };
  return () => loadFromSecretsManager(secretId, getReader, log);
}

async function loadFromSecretsManager(
  secretId: string,
  reader: () => Promise<ReadSecret>,
  log: Pick<Log, 'warn'> | undefined,
): Promise<Hs256KeySet> {
  let current: GetSecretValueCommandOutput;
  let previous: GetSecretValueCommandOutput | undefined;
  try {
    const read = await reader();
    // Both settle before the load does: no request outlives a failed load.
    const [currentRead, previousRead] = await Promise.allSettled([
      read(secretId, 'AWSCURRENT'),
      read(secretId, 'AWSPREVIOUS'),
    ]);
    if (currentRead.status === 'rejected') throw currentRead.reason;
    current = currentRead.value;
    if (previousRead.status === 'fulfilled') previous = previousRead.value;
    // A secret that was never rotated has no AWSPREVIOUS.
    else if ((previousRead.reason as Error).name !== 'ResourceNotFoundException') {
      throw previousRead.reason;
    }
  } catch (error) {
    throw new AuthProviderUnavailableError(
      `HS256 secret ${secretId} could not be read from Secrets Manager: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const set: Hs256KeySet = {
    current: {
      ...keyVersion(secretId, 'AWSCURRENT', current),
      ...(current.CreatedDate && { createdAt: current.CreatedDate.getTime() }),
    },
  };
  if (previous) {
    try {
      set.previous = keyVersion(secretId, 'AWSPREVIOUS', previous);
    } catch (error) {
      // Never accepted; the current key still works, and a rotation away from a bad key must not
      // be blocked by it.
      if (!(error instanceof ConfigError)) throw error;
      log?.warn('previous HS256 key version not accepted', { detail: error.message });
    }
  }
  return set;
}

/** The key of one version, refused (fail closed) unless it is a string of at least 32 bytes. */
function keyVersion(
  secretId: string,
  stage: string,
  value: GetSecretValueCommandOutput,
): Hs256KeyVersion {
  const what = `the secret ${secretId} (${stage}, version ${value.VersionId ?? 'unknown'})`;
  if (value.SecretString === undefined) {
    throw new ConfigError(
      'JWT_SECRET_ARN',
      `${what} has no SecretString: store the HS256 key as a string`,
    );
  }
  const bytes = new TextEncoder().encode(value.SecretString);
  checkHs256KeyLength('JWT_SECRET_ARN', bytes.length, what);
  return { bytes, ...(value.VersionId !== undefined && { versionId: value.VersionId }) };
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
