import {
  type CryptoKey,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { AuthProviderUnavailableError, TokenRejectedError, ValidationError } from './errors';
import { normalizeUserId } from './identifiers';

/** Asymmetric algorithms accepted from a JWKS (Cognito signs RS256; many OIDC providers ES256). */
export const JWKS_ALGORITHMS = ['RS256', 'ES256'] as const;

/** Longest token accepted. Real ones are under 2 KB; API Gateway caps a request line anyway. */
export const MAX_TOKEN_LENGTH = 8192;

/** How tokens are verified. HS256, JWKS, or both (the header's `alg` picks one, never both). */
export interface TokenVerifierOptions {
  /**
   * Loads the HS256 shared secret (it may come from Secrets Manager). Called on the first HS256
   * token, and again only after a failed load: the key it yields is kept for the container.
   */
  hs256Secret?: () => Promise<Uint8Array>;
  /** RS256/ES256 keys from a JWKS URL, with the issuer and audience every token must carry. */
  jwks?: { getKey: JWTVerifyGetKey; issuer: string; audience: string };
  /** Slack allowed on `exp` and `nbf`, for clocks that disagree a little. */
  clockToleranceSeconds: number;
}

/** Verifies a token and returns its user id (the `sub` claim, normalised). */
export type VerifyToken = (token: string) => Promise<string>;

/**
 * Builds the token check of the `$connect` authorizer. Each algorithm family has its own key:
 * an HS256 token is only ever checked against the shared secret and an RS256/ES256 token only
 * against the JWKS, so a token signed with a public key as an HMAC secret cannot pass.
 *
 * @example
 * const verify = createTokenVerifier({ hs256Secret: async () => secretBytes, clockToleranceSeconds: 5 });
 * const userId = await verify(token); // '42', or throws TokenRejectedError
 */
export function createTokenVerifier(options: TokenVerifierOptions): VerifyToken {
  // Imported once: jose would otherwise import raw secret bytes into a key on every verify.
  let hmacKey: Promise<CryptoKey> | undefined;
  const hs256Key = (load: () => Promise<Uint8Array>) => {
    hmacKey ??= load()
      .then((bytes) =>
        crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']),
      )
      .catch((error: unknown) => {
        hmacKey = undefined; // a failed load is retried on the next token
        throw error;
      });
    return hmacKey;
  };

  return async (token) => {
    if (token.length === 0) throw new TokenRejectedError('missing', 'token is empty');
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new TokenRejectedError(
        'malformed',
        `token is longer than ${MAX_TOKEN_LENGTH} characters`,
      );
    }
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (error) {
      throw new TokenRejectedError('malformed', 'not a compact JWS', { cause: error });
    }

    let payload: JWTPayload;
    if (alg === 'HS256' && options.hs256Secret) {
      const secret = await hs256Key(options.hs256Secret);
      payload = await verifyOrReject(() =>
        jwtVerify(token, secret, {
          algorithms: ['HS256'],
          requiredClaims: ['exp', 'sub'],
          clockTolerance: options.clockToleranceSeconds,
        }),
      );
    } else if (isJwksAlgorithm(alg) && options.jwks) {
      const { getKey, issuer, audience } = options.jwks;
      payload = await verifyOrReject(() =>
        jwtVerify(token, getKey, {
          algorithms: [...JWKS_ALGORITHMS],
          issuer,
          audience,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: options.clockToleranceSeconds,
        }),
      );
    } else {
      throw new TokenRejectedError(
        'unsupported_algorithm',
        `alg ${JSON.stringify(alg)} is not accepted`,
      );
    }

    try {
      return normalizeUserId(payload.sub, 'sub');
    } catch (error) {
      const detail = error instanceof ValidationError ? error.message : 'sub is not a user id';
      throw new TokenRejectedError('invalid_subject', detail, { cause: error });
    }
  };
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
