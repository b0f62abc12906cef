import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lambdas/config/auth';
import { AuthProviderUnavailableError, TokenRejectedError } from '../../lambdas/core/errors';
import type { VerifyToken } from '../../lambdas/core/tokens';
import { createVerifier } from '../../lambdas/runtime/token-verifier';
import { hs256Token, TEST_SECRET } from '../support/tokens';

// RS256/ES256 tokens verified against a JWKS served by a real HTTP server, as from Cognito or
// any OIDC provider, through the same verifier the authorizer builds at cold start.

const ISSUER = 'https://idp.tripsync.test';
const AUDIENCE = 'tripsync-realtime';
let server: Server;
let jwksUrl: string;
let jwksStatus = 200;
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let ec: { privateKey: CryptoKey; publicKey: CryptoKey };
let stranger: { privateKey: CryptoKey; publicKey: CryptoKey };
let verify: VerifyToken;
let verifyJwksOnly: VerifyToken;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  stranger = await generateKeyPair('RS256', { extractable: true });
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  server = createServer((_request, response) => {
    response
      .writeHead(jwksStatus, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  const jwksEnv = { JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
  verify = createVerifier(readAuthConfig({ ...jwksEnv, JWT_SECRET: TEST_SECRET }));
  verifyJwksOnly = createVerifier(readAuthConfig(jwksEnv));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const now = () => Math.floor(Date.now() / 1000);

function oidcToken(
  key: CryptoKey,
  header: { alg: string; kid?: string },
  claims: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({
    sub: 'cognito-user-1',
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now(),
    exp: now() + 600,
    ...claims,
  })
    .setProtectedHeader(header)
    .sign(key);
}

async function reasonOf(promise: Promise<string>): Promise<string> {
  const error = await promise.then(
    () => {
      throw new Error('expected the token to be rejected, it was accepted');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenRejectedError);
  return (error as TokenRejectedError).reason;
}

describe('JWKS tokens', () => {
  it('accepts RS256 and ES256 tokens from the provider', async () => {
    expect(await verify(await oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }))).toBe(
      'cognito-user-1',
    );
    expect(
      await verify(await oidcToken(ec.privateKey, { alg: 'ES256', kid: 'ec-1' }, { sub: 7 })),
    ).toBe('7');
  });

  it('still accepts HS256 tokens from the shared secret when both are configured', async () => {
    expect(await verify(await hs256Token({ sub: 'fastapi-user', iss: ISSUER }))).toBe(
      'fastapi-user',
    );
  });

  it('holds HS256 tokens to the same audience and issuers as JWKS tokens', async () => {
    const reason = (claims: Record<string, unknown>) => reasonOf(hs256Token(claims).then(verify));
    expect(await reason({ iss: ISSUER, aud: 'password-reset' })).toBe('wrong_audience');
    expect(await reason({ iss: 'https://evil.test' })).toBe('wrong_issuer');
    expect(await reason({ iss: undefined })).toBe('wrong_issuer');
  });

  it('lets the two signers use issuers of their own (JWT_ISSUER lists both)', async () => {
    const both = createVerifier(
      readAuthConfig({
        JWKS_URL: jwksUrl,
        JWT_ISSUER: `${ISSUER},tripsync-backend`,
        JWT_SECRET: TEST_SECRET,
      }),
    );
    expect(await both(await hs256Token({ sub: 'b', iss: 'tripsync-backend' }))).toBe('b');
    expect(await both(await oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }))).toBe(
      'cognito-user-1',
    );
  });

  it.each([
    [
      'a wrong issuer',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { iss: 'https://evil.test' }),
      'wrong_issuer',
    ],
    [
      'no issuer',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { iss: undefined }),
      'wrong_issuer',
    ],
    [
      'a wrong audience',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { aud: 'other-app' }),
      'wrong_audience',
    ],
    [
      'expired',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { exp: now() - 600 }),
      'expired',
    ],
    [
      'a key the provider does not publish',
      () => oidcToken(stranger.privateKey, { alg: 'RS256', kid: 'rogue' }),
      'unknown_key',
    ],
    [
      'a forged signature under a published kid',
      () => oidcToken(stranger.privateKey, { alg: 'RS256', kid: 'rsa-1' }),
      'bad_signature',
    ],
    [
      'no sub',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { sub: undefined }),
      'missing_claim',
    ],
    [
      'no aud',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { aud: undefined }),
      'wrong_audience',
    ],
    [
      'no iat',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { iat: undefined }),
      'missing_claim',
    ],
    [
      'a lifetime over a day',
      () => oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' }, { exp: now() + 86_400 + 60 }),
      'lifetime_too_long',
    ],
  ])('rejects a token with %s', async (_name, make, reason) => {
    expect(await reasonOf(verify(await make()))).toBe(reason);
  });

  it('rejects HS256 signed with the RSA public key (algorithm confusion)', async () => {
    const publicPem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const confused = await new SignJWT({
      sub: 'attacker',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 600,
    })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .sign(publicPem);
    expect(await reasonOf(verify(confused))).toBe('bad_signature');
    expect(await reasonOf(verifyJwksOnly(confused))).toBe('unsupported_algorithm');
  });

  it('fails closed with AuthProviderUnavailableError when the JWKS answers 500', async () => {
    const fresh = createVerifier(
      readAuthConfig({ JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }),
    );
    jwksStatus = 500;
    try {
      const token = await oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' });
      await expect(fresh(token)).rejects.toBeInstanceOf(AuthProviderUnavailableError);
    } finally {
      jwksStatus = 200;
    }
  });

  it('fails closed with AuthProviderUnavailableError when the JWKS cannot be reached', async () => {
    const unreachable = createVerifier(
      readAuthConfig({
        JWKS_URL: 'http://127.0.0.1:1/jwks.json',
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
      }),
    );
    const token = await oidcToken(rsa.privateKey, { alg: 'RS256', kid: 'rsa-1' });
    const error = await unreachable(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthProviderUnavailableError);
    expect((error as Error).message).toMatch(
      /^JWKS at http:\/\/127\.0\.0\.1:1\/jwks\.json unavailable/,
    );
  });
});
