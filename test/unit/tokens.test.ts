import { base64url, CompactSign, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { authorizeConnect } from '../../lambdas/core/authorize';
import { TokenRejectedError, type TokenRejectionReason } from '../../lambdas/core/errors';
import { Hs256KeyRing } from '../../lambdas/core/hs256-keys';
import { createTokenVerifier, type TokenClaimRules } from '../../lambdas/core/tokens';
import { hs256Token, TEST_AUDIENCE, TEST_SECRET_BYTES, unsignedToken } from '../support/tokens';

const TOLERANCE = 5;
const MAX_LIFETIME = 86_400;
const CLAIMS: TokenClaimRules = {
  audience: TEST_AUDIENCE,
  maxLifetimeSeconds: MAX_LIFETIME,
  clockToleranceSeconds: TOLERANCE,
};
const verify = createTokenVerifier({
  hs256Keys: Hs256KeyRing.fixed(TEST_SECRET_BYTES),
  claims: CLAIMS,
});
const now = () => Math.floor(Date.now() / 1000);

async function rejectionOf(token: string): Promise<TokenRejectedError> {
  try {
    await verify(token);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenRejectedError);
    return error as TokenRejectedError;
  }
  throw new Error('expected the token to be rejected, it was accepted');
}

describe('HS256 token verification', () => {
  it('accepts a string sub', async () => {
    expect(await verify(await hs256Token({ sub: 'anna' }))).toBe('anna');
  });

  it('accepts an integer sub and returns it as a decimal string', async () => {
    expect(await verify(await hs256Token({ sub: 42 }))).toBe('42');
  });

  it('accepts a token a few seconds past exp, within the clock tolerance', async () => {
    expect(await verify(await hs256Token({ exp: now() - 2 }))).toBe('42');
  });

  it('accepts aud as an array that holds this API, and any iss when none is configured', async () => {
    expect(await verify(await hs256Token({ aud: ['other', TEST_AUDIENCE], iss: 'x' }))).toBe('42');
  });

  const cases: Array<[string, () => Promise<string> | string, TokenRejectionReason]> = [
    ['empty', () => '', 'missing'],
    ['not a JWT', () => 'hello', 'malformed'],
    ['bad base64 header', () => '%%%.e30.sig', 'malformed'],
    ['header not JSON', () => `${base64url.encode('nope')}.e30.sig`, 'malformed'],
    [
      'correctly signed claims that are not JSON',
      () =>
        new CompactSign(new TextEncoder().encode('not json'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(TEST_SECRET_BYTES),
      'malformed',
    ],
    ['too long', () => `${'a'.repeat(9000)}.b.c`, 'malformed'],
    ['expired', () => hs256Token({ exp: now() - 3600 }), 'expired'],
    ['not yet valid', () => hs256Token({ nbf: now() + 3600 }), 'not_yet_valid'],
    [
      'signed with another secret',
      () => hs256Token({}, new TextEncoder().encode('x'.repeat(40))),
      'bad_signature',
    ],
    [
      'tampered claims',
      async () => {
        const [header, , signature] = (await hs256Token({ sub: '42' })).split('.');
        return `${header}.${base64url.encode(JSON.stringify({ sub: '1', exp: now() + 60 }))}.${signature}`;
      },
      'bad_signature',
    ],
    ['alg none', () => unsignedToken(), 'unsupported_algorithm'],
    [
      'alg none, upper case',
      () => unsignedToken().replace(/^[^.]+/, base64url.encode('{"alg":"NONE"}')),
      'unsupported_algorithm',
    ],
    [
      'HS512',
      () =>
        new SignJWT({ sub: '42', exp: now() + 60 })
          .setProtectedHeader({ alg: 'HS512' })
          .sign(new Uint8Array(64)),
      'unsupported_algorithm',
    ],
    [
      'RS256 without a JWKS configured',
      () => `${base64url.encode('{"alg":"RS256"}')}.e30.c2ln`,
      'unsupported_algorithm',
    ],
    ['no exp', () => hs256Token({ exp: undefined }), 'missing_claim'],
    ['no iat', () => hs256Token({ iat: undefined }), 'missing_claim'],
    ['iat not a number', () => hs256Token({ iat: String(now()) }), 'malformed'],
    ['no aud', () => hs256Token({ aud: undefined }), 'wrong_audience'],
    [
      'aud of another use (a password reset)',
      () => hs256Token({ aud: 'password-reset' }),
      'wrong_audience',
    ],
    ['aud an array without this API', () => hs256Token({ aud: ['a', 'b'] }), 'wrong_audience'],
    [
      'a lifetime of 100 years',
      () => hs256Token({ exp: now() + 100 * 365 * 86_400 }),
      'lifetime_too_long',
    ],
    [
      'iat in the future with a legal lifetime',
      () => hs256Token({ iat: now() + 3600, exp: now() + 7200 }),
      'not_yet_valid',
    ],
    ['no sub', () => hs256Token({ sub: undefined }), 'missing_claim'],
    ['empty sub', () => hs256Token({ sub: '' }), 'invalid_subject'],
    ['boolean sub', () => hs256Token({ sub: true }), 'invalid_subject'],
    ['fractional sub', () => hs256Token({ sub: 4.2 }), 'invalid_subject'],
    ['negative sub', () => hs256Token({ sub: -42 }), 'invalid_subject'],
    ['sub of 1,000 characters', () => hs256Token({ sub: 'x'.repeat(1000) }), 'invalid_subject'],
    ['sub of 10 KB', () => hs256Token({ sub: 'x'.repeat(10_000) }), 'malformed'],
    [
      'sub with a control character',
      () => hs256Token({ sub: '42\u0000#admin' }),
      'invalid_subject',
    ],
    ['sub as an object', () => hs256Token({ sub: { id: 42 } }), 'invalid_subject'],
  ];
  it.each(cases)('rejects a token: %s', async (_name, make, reason) => {
    const error = await rejectionOf(await make());
    expect(error.reason).toBe(reason);
    expect(error.name).toBe('TokenRejectedError');
  });
});

describe('claim boundaries, on a clock the test holds', () => {
  const NOW = 1_800_000_000;
  const verifyAt = (rules: Partial<TokenClaimRules> = {}) =>
    createTokenVerifier({
      hs256Keys: Hs256KeyRing.fixed(TEST_SECRET_BYTES),
      claims: { ...CLAIMS, ...rules },
      now: () => NOW * 1000 + 999, // late in the second: the verifier must floor, not round
    });
  const at = verifyAt();
  const token = (claims: Record<string, unknown>) =>
    hs256Token({ iat: NOW - 60, exp: NOW + 60, ...claims });
  const outcome = async (jwt: string, v = at) =>
    v(jwt).then(
      () => 'accepted',
      (error: unknown) => (error as TokenRejectedError).reason,
    );

  it.each([
    ['exp = now − tolerance − 1', { exp: NOW - TOLERANCE - 1 }, 'expired'],
    ['exp = now − tolerance', { exp: NOW - TOLERANCE }, 'expired'],
    ['exp = now − tolerance + 1', { exp: NOW - TOLERANCE + 1 }, 'accepted'],
    ['nbf = now + tolerance + 1', { nbf: NOW + TOLERANCE + 1 }, 'not_yet_valid'],
    ['nbf = now + tolerance', { nbf: NOW + TOLERANCE }, 'accepted'],
    ['nbf = now + tolerance − 1', { nbf: NOW + TOLERANCE - 1 }, 'accepted'],
    ['iat = now + tolerance + 1', { iat: NOW + TOLERANCE + 1, exp: NOW + 600 }, 'not_yet_valid'],
    ['iat = now + tolerance', { iat: NOW + TOLERANCE, exp: NOW + 600 }, 'accepted'],
    [
      'exp − iat = max lifetime + 1',
      { iat: NOW - 10, exp: NOW - 10 + MAX_LIFETIME + 1 },
      'lifetime_too_long',
    ],
    ['exp − iat = max lifetime', { iat: NOW - 10, exp: NOW - 10 + MAX_LIFETIME }, 'accepted'],
    [
      'issued long ago, valid now, lifetime over the max',
      { iat: NOW - 2 * MAX_LIFETIME, exp: NOW + 60 },
      'lifetime_too_long',
    ],
  ])('%s: %s', async (_name, claims, expected) => {
    expect(await outcome(await token(claims))).toBe(expected);
  });

  it('with no clock tolerance, exp = now is expired and exp = now + 1 is not', async () => {
    const strict = verifyAt({ clockToleranceSeconds: 0 });
    expect(await outcome(await token({ exp: NOW }), strict)).toBe('expired');
    expect(await outcome(await token({ exp: NOW + 1 }), strict)).toBe('accepted');
  });

  it('checks iss on HS256 tokens once issuers are configured', async () => {
    const withIssuers = verifyAt({ issuers: ['tripsync-backend', 'https://idp.example.com'] });
    expect(await outcome(await token({ iss: 'tripsync-backend' }), withIssuers)).toBe('accepted');
    expect(await outcome(await token({ iss: 'https://idp.example.com' }), withIssuers)).toBe(
      'accepted',
    );
    expect(await outcome(await token({ iss: 'password-reset-service' }), withIssuers)).toBe(
      'wrong_issuer',
    );
    expect(await outcome(await token({}), withIssuers)).toBe('wrong_issuer');
  });

  it('binds to the configured audience, not the default', async () => {
    const web = verifyAt({ audience: 'tripsync-web' });
    expect(await outcome(await token({ aud: 'tripsync-web' }), web)).toBe('accepted');
    expect(await outcome(await token({ aud: TEST_AUDIENCE }), web)).toBe('wrong_audience');
  });
});

describe('authorizeConnect', () => {
  const methodArn = 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect';

  it('allows with a policy for the methodArn, the user as principal and in the context', async () => {
    const token = await hs256Token({ sub: 42 });
    expect(await authorizeConnect({ methodArn, queryStringParameters: { token } }, verify)).toEqual(
      {
        principalId: '42',
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: methodArn }],
        },
        context: { userId: '42' },
      },
    );
  });

  it.each([[undefined], [null], [{}], [{ other: 'x' }]])(
    'rejects a handshake without a token (query %j)',
    async (queryStringParameters) => {
      await expect(
        authorizeConnect({ methodArn, queryStringParameters }, verify),
      ).rejects.toMatchObject({
        name: 'TokenRejectedError',
        reason: 'missing',
      });
    },
  );
});
