import {
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  errors as joseErrors,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import { AuthProviderUnavailableError, TokenRejectedError, ValidationError } from './errors';
import type { Hs256Key, Hs256KeyRing } from './hs256-keys';
import { normalizeUserId } from './identifiers';

/** Asymmetric algorithms accepted from a JWKS (Cognito signs RS256; many OIDC providers ES256). */
export const JWKS_ALGORITHMS = ['RS256', 'ES256'] as const;

/** Longest token accepted. Real ones are under 2 KB; API Gateway caps a request line anyway. */
export const MAX_TOKEN_LENGTH = 8192;

/**
 * What every token must claim, whichever key verifies it (HS256 or a JWKS). The audience names
 * the recipient, this API, so there is one; the issuer names the signer, and a deployment with
 * both an HS256 secret and a JWKS has two signers, so `issuers` may hold several.
 */
export interface TokenClaimRules {
  /** `JWT_AUDIENCE`: the `aud` every token must carry (a string, or an array holding it). */
  audience: string;
  /** `JWT_ISSUER`: `iss` must be one of these; undefined, `iss` is not checked (HS256 only). */
  issuers?: readonly string[];
  /** `JWT_MAX_LIFETIME_SECONDS`: the longest `exp − iat` accepted. */
  maxLifetimeSeconds: number;
  /** `JWT_CLOCK_TOLERANCE_SECONDS`: slack on `exp`, `nbf` and `iat`, for clocks that disagree. */
  clockToleranceSeconds: number;
}

/** How tokens are verified. HS256, JWKS, or both (the header's `alg` picks one, never both). */
export interface TokenVerifierOptions {
  /** The HS256 shared secret's versions (current, and previous during a rotation). */
  hs256Keys?: Hs256KeyRing;
  /** RS256/ES256 keys from a JWKS URL; `claims.issuers` must be set with it. */
  jwks?: { getKey: JWTVerifyGetKey };
  claims: TokenClaimRules;
  /** The clock, epoch milliseconds. @default Date.now */
  now?: () => number;
}

/** Verifies a token and returns its user id (the `sub` claim, normalised). */
export type VerifyToken = (token: string) => Promise<string>;

/** Claims every token must carry, whichever key verifies it. */
const REQUIRED_CLAIMS = ['exp', 'iat', 'sub'];

/**
 * Builds the token check of the `$connect` authorizer. Each algorithm family has its own key:
 * an HS256 token is only ever checked against the shared secret and an RS256/ES256 token only
 * against the JWKS, so a token signed with a public key as an HMAC secret cannot pass. Every
 * token must carry `sub`, `exp`, `iat` and the configured `aud` (and `iss`, when configured),
 * and may live at most `maxLifetimeSeconds` from `iat` to `exp`.
 *
 * An HS256 token's `kid`, when present, names the Secrets Manager version that signed it; a
 * token that no cached key verifies triggers one rate-limited re-read of the keys (a rotation
 * may have happened since the last read), then is refused.
 *
 * @example
 * const verify = createTokenVerifier({ hs256Keys: Hs256KeyRing.fixed(secretBytes),
 *   claims: { audience: 'tripsync-realtime', maxLifetimeSeconds: 86400, clockToleranceSeconds: 5 } });
 * const userId = await verify(token); // '42', or throws TokenRejectedError
 */
export function createTokenVerifier(options: TokenVerifierOptions): VerifyToken {
  const { claims, hs256Keys, jwks } = options;
  if (jwks && claims.issuers === undefined) {
    throw new Error('createTokenVerifier: a JWKS needs claims.issuers');
  }
  const clock = options.now ?? Date.now;

  return async (token) => {
    if (token.length === 0) throw new TokenRejectedError('missing', 'token is empty');
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new TokenRejectedError(
        'malformed',
        `token is longer than ${MAX_TOKEN_LENGTH} characters`,
      );
    }
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (error) {
      throw new TokenRejectedError('malformed', 'not a compact JWS', { cause: error });
    }

    const now = clock();
    const checks: JWTVerifyOptions = {
      audience: claims.audience,
      ...(claims.issuers && { issuer: [...claims.issuers] }),
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: claims.clockToleranceSeconds,
      currentDate: new Date(now),
    };
    let payload: JWTPayload;
    if (header.alg === 'HS256' && hs256Keys) {
      payload = await verifyHs256(token, header.kid, hs256Keys, checks);
    } else if (isJwksAlgorithm(header.alg) && jwks) {
      payload = await verifyOrReject(() =>
        jwtVerify(token, jwks.getKey, { ...checks, algorithms: [...JWKS_ALGORITHMS] }),
      );
    } else {
      throw new TokenRejectedError(
        'unsupported_algorithm',
        `alg ${JSON.stringify(header.alg)} is not accepted`,
      );
    }
    checkLifetime(payload, Math.floor(now / 1000), claims);

    try {
      return normalizeUserId(payload.sub, 'sub');
    } catch (error) {
      const detail = error instanceof ValidationError ? error.message : 'sub is not a user id';
      throw new TokenRejectedError('invalid_subject', detail, { cause: error });
    }
  };
}

/**
 * jose has checked that `iat` and `exp` are numbers. An `iat` in the future would let a token
 * with a legal `exp − iat` live far longer than that from now, so it is refused too.
 */
function checkLifetime(payload: JWTPayload, nowSeconds: number, claims: TokenClaimRules): void {
  const iat = payload.iat as number;
  const exp = payload.exp as number;
  if (iat > nowSeconds + claims.clockToleranceSeconds) {
    throw new TokenRejectedError('not_yet_valid', `iat is ${iat - nowSeconds} s in the future`);
  }
  if (exp - iat > claims.maxLifetimeSeconds) {
    throw new TokenRejectedError(
      'lifetime_too_long',
      `token lives ${exp - iat} s from iat to exp, over the ${claims.maxLifetimeSeconds} s allowed`,
    );
  }
}

/**
 * Tries the keys the `kid` selects; if none verifies the signature, re-reads the keys once
 * (when the rate limit allows) and tries again.
 */
async function verifyHs256(
  token: string,
  kid: unknown,
  ring: Hs256KeyRing,
  checks: JWTVerifyOptions,
): Promise<JWTPayload> {
  if (kid !== undefined && typeof kid !== 'string') {
    throw new TokenRejectedError('malformed', 'kid must be a string');
  }
  let outcome = await tryKeys(token, selectKeys(await ring.keys(), kid), checks);
  if (!('payload' in outcome) && (await ring.refresh())) {
    outcome = await tryKeys(token, selectKeys(await ring.keys(), kid), checks);
  }
  if ('payload' in outcome) return outcome.payload;
  throw outcome.refused === 'unknown_key'
    ? new TokenRejectedError('unknown_key', `no HS256 key version ${JSON.stringify(kid)}`)
    : new TokenRejectedError('bad_signature', 'signature does not verify');
}

/** A `kid` picks the version it names; an unversioned (inline) key ignores it. */
function selectKeys(keys: Hs256Key[], kid: string | undefined): Hs256Key[] {
  if (kid === undefined || !keys.some((k) => k.versionId !== undefined)) return keys;
  return keys.filter((k) => k.versionId === kid);
}

async function tryKeys(
  token: string,
  keys: Hs256Key[],
  checks: JWTVerifyOptions,
): Promise<{ payload: JWTPayload } | { refused: 'bad_signature' | 'unknown_key' }> {
  for (const { key } of keys) {
    try {
      return {
        payload: (await jwtVerify(token, key, { ...checks, algorithms: ['HS256'] })).payload,
      };
    } catch (error) {
      // The signature is checked before any claim: a claim error means this key signed it.
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      throw rejectionFor(error);
    }
  }
  return { refused: keys.length === 0 ? 'unknown_key' : 'bad_signature' };
}

function isJwksAlgorithm(alg: string | undefined): boolean {
  return (JWKS_ALGORITHMS as readonly string[]).includes(alg ?? '');
}

async function verifyOrReject(verify: () => Promise<{ payload: JWTPayload }>): Promise<JWTPayload> {
  try {
    return (await verify()).payload;
  } catch (error) {
    throw rejectionFor(error);
  }
}

/** Maps jose's errors to a rejection reason, or to a provider outage (not the caller's fault). */
function rejectionFor(error: unknown): Error {
  if (error instanceof AuthProviderUnavailableError) return error;
  if (error instanceof joseErrors.JWTExpired) {
    return new TokenRejectedError('expired', 'token has expired', { cause: error });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const reasons: Record<string, ConstructorParameters<typeof TokenRejectedError>[0]> = {
      nbf: 'not_yet_valid',
      iss: 'wrong_issuer',
      aud: 'wrong_audience',
    };
    const reason =
      reasons[error.claim] ?? (error.reason === 'missing' ? 'missing_claim' : 'malformed');
    return new TokenRejectedError(reason, error.message, { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenRejectedError('bad_signature', 'signature does not verify', { cause: error });
  }
  if (
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys
  ) {
    return new TokenRejectedError('unknown_key', 'no single JWKS key matches the token', {
      cause: error,
    });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new TokenRejectedError('unsupported_algorithm', error.message, { cause: error });
  }
  if (
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JOSENotSupported
  ) {
    // Bad base64, claims that are not a JSON object, a malformed or `crit` header.
    return new TokenRejectedError('malformed', error.message, { cause: error });
  }
  // Anything else is ours, not the caller's: fail closed with a 500, never allow.
  return new AuthProviderUnavailableError(
    `token could not be verified: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}
