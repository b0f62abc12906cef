/**
 * `npm run --silent token -- <userId>`: prints one HS256 JWT for the local stack and nothing
 * else, so it can be captured: `TOKEN=$(npm run --silent token -- 42)`. Signed with
 * `JWT_SECRET`, or the local default `npm start` also uses when it is unset, and carrying the
 * claims the authorizer checks: `aud` from `JWT_AUDIENCE` (`tripsync-realtime`), `iss` from the
 * first of `JWT_ISSUER` when set, a lifetime within `JWT_MAX_LIFETIME_SECONDS`.
 */
import { readClaimRules } from '../lambdas/config/auth';
import { ConfigError, ValidationError } from '../lambdas/core/errors';
import { checkSecret, LOCAL_JWT_SECRET } from './config';
import { LOCAL_TOKEN_TTL_SECONDS, signLocalToken } from './tokens';

const USAGE = 'usage: npm run --silent token -- <userId>   (e.g. 42; valid 4 hours)';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0] === '--help' || args[0] === '-h') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const secret = process.env.JWT_SECRET?.trim() ? process.env.JWT_SECRET : undefined;
  const claims = readClaimRules(process.env);
  const token = await signLocalToken(args[0] as string, {
    secret: checkSecret('JWT_SECRET', secret ?? LOCAL_JWT_SECRET),
    ttlSeconds: Math.min(LOCAL_TOKEN_TTL_SECONDS, claims.maxLifetimeSeconds),
    audience: claims.audience,
    ...(claims.issuers && { issuer: claims.issuers[0] }),
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = error instanceof ValidationError || error instanceof ConfigError;
    process.stderr.write(`error: ${known ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(known ? 2 : 1);
  },
);
