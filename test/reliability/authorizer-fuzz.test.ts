import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { base64url, CompactSign, type CryptoKey, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lambdas/config/auth';
import { TokenRejectedError } from '../../lambdas/core/errors';
import { Hs256KeyRing } from '../../lambdas/core/hs256-keys';
import { normalizeUserId } from '../../lambdas/core/identifiers';
import {
  createTokenVerifier,
  type TokenClaimRules,
  type VerifyToken,
} from '../../lambdas/core/tokens';
import { createVerifier } from '../../lambdas/runtime/token-verifier';
import { TEST_AUDIENCE, TEST_SECRET, TEST_SECRET_BYTES } from '../support/tokens';
import { recordFigures } from './report';

// Property-based: whatever the token or its claims, the authorizer's verifier never accepts
// what the rules refuse, accepts what they allow, and never fails with anything but a
// rejection. Three deployments: HS256 alone, a JWKS alone (served by a real HTTP server), and
// both; all on a clock the test holds, so claims may sit right on the boundaries.

const TOLERANCE = 5;
const MAX_LIFETIME = 86_400;
const NOW = 1_800_000_000;
const ISSUER = 'https://idp.tripsync.test';
const BACKEND_ISSUER = 'tripsync-backend';
const clock = () => NOW * 1000 + 500;
const HS256_RULES: TokenClaimRules = {
  audience: TEST_AUDIENCE,
  maxLifetimeSeconds: MAX_LIFETIME,
  clockToleranceSeconds: TOLERANCE,
};
const verify = createTokenVerifier({
  hs256Keys: Hs256KeyRing.fixed(TEST_SECRET_BYTES),
  claims: HS256_RULES,
  now: clock,
});
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const tally = {
  tokensTried: 0,
  hs256Tokens: 0,
  jwksTokens: 0,
  combinedModeTokens: 0,
  /** Tokens the rules allow, accepted: the properties also prove that valid tokens pass. */
  validAccepted: 0,
  invalidAccepted: 0,
  validRefused: 0,
  unexpectedErrors: 0,
};
afterAll(() => recordFigures('authorizerFuzz', { runsPerProperty: RUNS, ...tally }));

let jwksServer: Server;
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
/** JWKS alone: `iss` must be the provider. */
let verifyJwks: VerifyToken;
/** HS256 and JWKS together, each signer with its own issuer, one audience. */
let verifyCombined: VerifyToken;

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const JWKS_URL = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  const common = {
    JWT_MAX_LIFETIME_SECONDS: String(MAX_LIFETIME),
    JWT_CLOCK_TOLERANCE_SECONDS: String(TOLERANCE),
  };
  verifyJwks = createVerifier(readAuthConfig({ ...common, JWKS_URL, JWT_ISSUER: ISSUER }), {
    now: clock,
  });
  verifyCombined = createVerifier(
    readAuthConfig({
      ...common,
      JWKS_URL,
      JWT_ISSUER: `${ISSUER},${BACKEND_ISSUER}`,
      JWT_SECRET: TEST_SECRET,
    }),
    { now: clock },
  );
});
afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

/** Verifies and reports `accepted` with the user id, or the rejection. */
async function outcome(
  token: string,
  check: VerifyToken = verify,
): Promise<{ accepted: true; userId: string } | { accepted: false; error: unknown }> {
  tally.tokensTried++;
  try {
    return { accepted: true, userId: await check(token) };
  } catch (error) {
    if (!(error instanceof TokenRejectedError)) tally.unexpectedErrors++;
    return { accepted: false, error };
  }
}

function sign(header: Record<string, unknown>, payload: unknown): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header as { alg: string })
    .sign(TEST_SECRET_BYTES);
}

function signRs256(payload: unknown): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
    .sign(rsa.privateKey);
}

/** Offsets from now: anywhere, and right around the tolerance on either side. */
const offset = fc.oneof(
  fc.integer({ min: -200_000, max: 200_000 }),
  fc.integer({ min: -TOLERANCE - 3, max: -TOLERANCE + 3 }),
  fc.integer({ min: TOLERANCE - 3, max: TOLERANCE + 3 }),
);
const absent = fc.constant(undefined);
const oddValue = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.double(),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const subject = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(''),
  fc.constant('x'.repeat(129)),
  fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }),
  absent,
);
/** Mostly a valid value, sometimes anything: enough valid tokens to prove they pass. */
const mostly = <T>(valid: fc.Arbitrary<T>, any: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: any });
const audience = mostly(
  fc.oneof(
    fc.constant(TEST_AUDIENCE),
    fc.shuffledSubarray([TEST_AUDIENCE, 'password-reset', 'billing'], { minLength: 1 }),
  ),
  fc.oneof(
    fc.constantFrom('password-reset', 'tripsync-realtime ', 'TRIPSYNC-REALTIME', ''),
    absent,
    oddValue,
  ),
);
const issuer = mostly(
  fc.constantFrom(ISSUER, BACKEND_ISSUER),
  fc.oneof(fc.constantFrom(`${ISSUER}/`, 'https://evil.test'), absent, oddValue),
);
/** `iat` as an offset from now: mostly in the past, up to just past the tolerance. */
const issuedAt = mostly(
  fc.integer({ min: -MAX_LIFETIME - 100, max: TOLERANCE + 2 }),
  fc.oneof(offset, absent, oddValue),
);
/** `exp` as a lifetime from `iat` (up to just past the maximum), or anything from now. */
const expiry = mostly(
  fc.integer({ min: 1, max: MAX_LIFETIME + 2 }).map((l) => ({ lifetime: l })),
  fc.oneof(offset, absent, oddValue).map((o) => ({ fromNow: o })),
);

/** Random claims, as a token carries them (JSON turns ±Infinity and NaN into null). */
const claimsArbitrary = fc
  .record({
    sub: mostly(fc.oneof(fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.nat()), subject),
    exp: expiry,
    nbf: mostly(absent, fc.oneof(offset, oddValue)),
    iat: issuedAt,
    aud: audience,
    iss: issuer,
  })
  .map(({ exp, ...rest }) => {
    const at = (o: unknown) => (typeof o === 'number' && Number.isInteger(o) ? NOW + o : o);
    const iat = at(rest.iat);
    const expValue =
      typeof exp === 'object' && exp !== null && 'lifetime' in exp
        ? typeof iat === 'number'
          ? iat + (exp as { lifetime: number }).lifetime
          : NOW + 60
        : at((exp as { fromNow: unknown }).fromNow);
    const claims = Object.fromEntries(
      Object.entries({ ...rest, iat, nbf: at(rest.nbf), exp: expValue }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    return JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
  });

/**
 * The rules, written independently of the verifier: what must be accepted. `issuers`
 * undefined means `iss` is not checked.
 */
function shouldAccept(claims: Record<string, unknown>, issuers?: readonly string[]): boolean {
  const { exp, nbf, iat, sub, aud, iss } = claims;
  if (typeof exp !== 'number' || exp <= NOW - TOLERANCE) return false;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > NOW + TOLERANCE)) return false;
  if (typeof iat !== 'number' || iat > NOW + TOLERANCE) return false;
  if (exp - iat > MAX_LIFETIME) return false;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(TEST_AUDIENCE)) return false;
  if (issuers !== undefined && !issuers.includes(iss as string)) return false;
  if (sub === undefined) return false;
  try {
    normalizeUserId(sub, 'sub');
    return true;
  } catch {
    return false;
  }
}

/** Checks one outcome against the rules and counts it. */
function judge(
  result: Awaited<ReturnType<typeof outcome>>,
  claims: Record<string, unknown>,
  expected: boolean,
): void {
  if (result.accepted && !expected) tally.invalidAccepted++;
  if (!result.accepted && expected) tally.validRefused++;
  if (result.accepted && expected) tally.validAccepted++;
  expect(result.accepted).toBe(expected);
  if (result.accepted) expect(result.userId).toBe(normalizeUserId(claims.sub, 'sub'));
  if (!result.accepted) expect(result.error).toBeInstanceOf(TokenRejectedError);
}

describe('authorizer fuzz', () => {
  it('accepts a correctly signed HS256 token exactly when its claims are valid', async () => {
    await fc.assert(
      fc.asyncProperty(claimsArbitrary, async (claims) => {
        tally.hs256Tokens++;
        const result = await outcome(await sign({ alg: 'HS256', typ: 'JWT' }, claims));
        judge(result, claims, shouldAccept(claims));
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts a JWKS-signed RS256 token exactly when its claims are valid (iss required)', async () => {
    await fc.assert(
      fc.asyncProperty(claimsArbitrary, async (claims) => {
        tally.jwksTokens++;
        const result = await outcome(await signRs256(claims), verifyJwks);
        judge(result, claims, shouldAccept(claims, [ISSUER]));
      }),
      { numRuns: RUNS },
    );
  });

  it('with HS256 and a JWKS together, holds both kinds of token to the same rules', async () => {
    await fc.assert(
      fc.asyncProperty(claimsArbitrary, fc.boolean(), async (claims, rs256) => {
        tally.combinedModeTokens++;
        const token = rs256 ? await signRs256(claims) : await sign({ alg: 'HS256' }, claims);
        const result = await outcome(token, verifyCombined);
        judge(result, claims, shouldAccept(claims, [ISSUER, BACKEND_ISSUER]));
      }),
      { numRuns: RUNS },
    );
  });

  it('in the combined mode, accepts a signature only under the algorithm of its key', async () => {
    // Every header alg with every kind of signature over the same valid claims: the RSA key's
    // PKCS#1 signature, an HMAC with the shared secret, and an HMAC keyed with the public JWK
    // (the HS/RS confusion). Only RS256 + RSA and HS256 + the secret may pass.
    const valid = { sub: 'x', aud: TEST_AUDIENCE, iss: ISSUER, iat: NOW, exp: NOW + 600 };
    const publicJwk = new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey)));
    const hmac = async (key: Uint8Array, input: Uint8Array) => {
      const imported = await crypto.subtle.importKey(
        'raw',
        key,
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['sign'],
      );
      return crypto.subtle.sign('HMAC', imported, input);
    };
    const signatures = {
      rsa: (input: Uint8Array) => crypto.subtle.sign('RSASSA-PKCS1-v1_5', rsa.privateKey, input),
      secret: (input: Uint8Array) => hmac(TEST_SECRET_BYTES, input),
      'public-jwk-as-hmac': (input: Uint8Array) => hmac(publicJwk, input),
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('HS256', 'RS256', 'ES256', 'PS256', 'none', 'HS384'),
        fc.constantFrom(...(Object.keys(signatures) as Array<keyof typeof signatures>)),
        async (alg, key) => {
          tally.combinedModeTokens++;
          const encode = (value: object) => base64url.encode(JSON.stringify(value));
          const input = `${encode({ alg, kid: 'rsa-1' })}.${encode(valid)}`;
          const signature = await signatures[key](new TextEncoder().encode(input));
          const token = `${input}.${base64url.encode(new Uint8Array(signature))}`;
          const expected =
            (alg === 'RS256' && key === 'rsa') || (alg === 'HS256' && key === 'secret');
          judge(await outcome(token, verifyCombined), valid, expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('never accepts an arbitrary string, and only ever rejects it', async () => {
    const segment = fc.string({
      unit: fc.constantFrom(...'ABCabc019-_=.+/%~ '.split('')),
      maxLength: 60,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
        ),
        async (token) => {
          const result = await outcome(token);
          if (result.accepted) tally.invalidAccepted++;
          expect(result.accepted).toBe(false);
          if (!result.accepted) expect(result.error).toBeInstanceOf(TokenRejectedError);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses every algorithm but HS256, even with a valid HMAC over the token', async () => {
    const claims = { sub: '42', aud: TEST_AUDIENCE, iat: NOW, exp: NOW + 3600 };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'none',
          'None',
          'NONE',
          'HS384',
          'HS512',
          'RS256',
          'ES256',
          'PS256',
          'hs256',
          'HS256 ',
          '',
          'EdDSA',
        ),
        async (alg) => {
          const encode = (value: object) => base64url.encode(JSON.stringify(value));
          const signingInput = `${encode({ alg })}.${encode(claims)}`;
          const key = await crypto.subtle.importKey(
            'raw',
            TEST_SECRET_BYTES,
            { name: 'HMAC', hash: 'SHA-256' },
            false,
            ['sign'],
          );
          const mac = new Uint8Array(
            await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(signingInput)),
          );
          for (const signature of [base64url.encode(mac), '']) {
            const result = await outcome(`${signingInput}.${signature}`);
            if (result.accepted) tally.invalidAccepted++;
            expect(result.accepted).toBe(false);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('accepts a tampered token only if it decodes to the very same bytes', async () => {
    const original = await sign(
      { alg: 'HS256' },
      { sub: 'anna', aud: TEST_AUDIENCE, iat: NOW, exp: NOW + 3600 },
    );
    const decoded = (token: string) =>
      token.split('.').map((part) => Buffer.from(part, 'base64url').toString('hex'));
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: original.length - 1 }),
        fc.constantFrom(
          ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'.split(''),
        ),
        async (position, replacement) => {
          const tampered = original.slice(0, position) + replacement + original.slice(position + 1);
          const result = await outcome(tampered);
          const same = JSON.stringify(decoded(tampered)) === JSON.stringify(decoded(original));
          if (result.accepted && !same) tally.invalidAccepted++;
          expect(result.accepted && !same).toBe(false);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('raised nothing but rejections across every property above', () => {
    expect(tally.tokensTried).toBeGreaterThan(4 * RUNS);
    expect(tally.unexpectedErrors).toBe(0);
    expect(tally.invalidAccepted).toBe(0);
    expect(tally.validRefused).toBe(0);
  });
});
