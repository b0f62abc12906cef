import fc from 'fast-check';
import { base64url, CompactSign } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { TokenRejectedError } from '../../lambdas/core/errors';
import { normalizeUserId } from '../../lambdas/core/identifiers';
import { createTokenVerifier } from '../../lambdas/core/tokens';
import { TEST_SECRET_BYTES } from '../support/tokens';
import { recordFigures } from './report';

// Property-based: whatever the token or its claims, the authorizer's verifier never accepts
// what the rules refuse, and never fails with anything but a rejection.

const TOLERANCE = 5;
const verify = createTokenVerifier({
  hs256Secret: async () => TEST_SECRET_BYTES,
  clockToleranceSeconds: TOLERANCE,
});
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const tally = { tokensTried: 0, invalidAccepted: 0, unexpectedErrors: 0 };
afterAll(() => recordFigures('authorizerFuzz', { runsPerProperty: RUNS, ...tally }));

/** Verifies and reports `accepted` with the user id, or the rejection. */
async function outcome(
  token: string,
): Promise<{ accepted: true; userId: string } | { accepted: false; error: unknown }> {
  tally.tokensTried++;
  try {
    return { accepted: true, userId: await verify(token) };
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

// Offsets from now, kept well clear of the exp/nbf boundaries so the passing of time during a
// run cannot flip an expectation.
const offset = fc.oneof(
  fc.integer({ min: -200_000, max: -(TOLERANCE + 30) }),
  fc.integer({ min: TOLERANCE + 30, max: 200_000 }),
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

/** The rules, written independently of the verifier: what must be accepted. */
function shouldAccept(claims: Record<string, unknown>, now: number): boolean {
  const { exp, nbf, iat, sub } = claims;
  if (typeof exp !== 'number' || exp <= now - TOLERANCE) return false;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + TOLERANCE)) return false;
  if (iat !== undefined && typeof iat !== 'number') return false;
  if (sub === undefined) return false;
  try {
    normalizeUserId(sub, 'sub');
    return true;
  } catch {
    return false;
  }
}

describe('authorizer fuzz', () => {
  it('accepts a correctly signed HS256 token exactly when its claims are valid', async () => {
    await fc.assert(
      fc.asyncProperty(
        subject,
        fc.oneof(offset, absent, oddValue),
        fc.oneof(offset, absent, oddValue),
        fc.oneof(offset, absent, oddValue),
        async (sub, expOffset, nbfOffset, iatOffset) => {
          const now = Math.floor(Date.now() / 1000);
          const at = (o: unknown) => (typeof o === 'number' && Number.isInteger(o) ? now + o : o);
          const claims = Object.fromEntries(
            Object.entries({
              sub,
              exp: at(expOffset),
              nbf: at(nbfOffset),
              iat: at(iatOffset),
            }).filter(([, v]) => v !== undefined),
          );
          const result = await outcome(await sign({ alg: 'HS256', typ: 'JWT' }, claims));
          // Judge the claims as the token carries them: JSON turns ±Infinity and NaN into null.
          const expected = shouldAccept(JSON.parse(JSON.stringify(claims)), now);
          if (result.accepted && !expected) tally.invalidAccepted++;
          expect(result.accepted).toBe(expected);
          if (result.accepted) expect(result.userId).toBe(normalizeUserId(sub, 'sub'));
        },
      ),
      { numRuns: RUNS },
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
    const claims = { sub: '42', exp: Math.floor(Date.now() / 1000) + 3600 };
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
      { sub: 'anna', exp: Math.floor(Date.now() / 1000) + 3600 },
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
    expect(tally.tokensTried).toBeGreaterThan(RUNS);
    expect(tally.unexpectedErrors).toBe(0);
  });
});
