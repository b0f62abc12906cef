/**
 * `npm run --silent token -- <userId>`: prints one HS256 JWT for the local stack and nothing
 * else, so it can be captured: `TOKEN=$(npm run --silent token -- 42)`. Signed with
 * `JWT_SECRET`, or the local default `npm start` also uses when it is unset.
 */
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
  const token = await signLocalToken(args[0] as string, {
    secret: checkSecret('JWT_SECRET', secret ?? LOCAL_JWT_SECRET),
    ttlSeconds: LOCAL_TOKEN_TTL_SECONDS,
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
