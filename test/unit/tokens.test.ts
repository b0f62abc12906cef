import { base64url, CompactSign, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { authorizeConnect } from '../../lambdas/core/authorize';
import { TokenRejectedError, type TokenRejectionReason } from '../../lambdas/core/errors';
import { createTokenVerifier } from '../../lambdas/core/tokens';
import { hs256Token, TEST_SECRET_BYTES, unsignedToken } from '../support/tokens';

const verify = createTokenVerifier({
  hs256Secret: async () => TEST_SECRET_BYTES,
  clockToleranceSeconds: 5,
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
