"""Mint a connection token for the local stack with PyJWT.

    /usr/bin/python3 examples/python/mint_token.py 42       # prints one HS256 JWT for user 42

The local stack (`npm start`) verifies HS256 tokens with JWT_SECRET, or with its local default
secret when JWT_SECRET is unset (stated below; the deployed stack never uses it: there the
secret lives in AWS Secrets Manager, see docs/deploying.md). Connect with
ws://127.0.0.1:3001?token=<JWT>.
"""

import os
import sys
import time

import jwt  # PyJWT

# `npm start`'s secret when JWT_SECRET is unset (local/config.ts, LOCAL_JWT_SECRET).
LOCAL_DEFAULT_SECRET = "tripsync-local-development-only-secret-not-for-aws"
SECRET = os.environ.get("JWT_SECRET") or LOCAL_DEFAULT_SECRET
# What the authorizer checks, from the same variables it reads (lambdas/config/auth.ts).
AUDIENCE = os.environ.get("JWT_AUDIENCE") or "tripsync-realtime"
ISSUERS = [name.strip() for name in (os.environ.get("JWT_ISSUER") or "").split(",") if name.strip()]
VALID_SECONDS = min(4 * 60 * 60, int(os.environ.get("JWT_MAX_LIFETIME_SECONDS") or 86400))


def claims(user_id, now):
    """Every claim the token carries, in one place.

    `sub` is the user id as a string (RFC 7519; PyJWT 2.10 and later refuse another type); the
    authorizer treats "42" and 42 as one user. `aud` binds the token to this API; `iat` and `exp`
    are required, at most JWT_MAX_LIFETIME_SECONDS apart; `iss` when the authorizer checks it.
    """
    token_claims = {"sub": str(user_id), "aud": AUDIENCE, "iat": now, "exp": now + VALID_SECONDS}
    if ISSUERS:
        token_claims["iss"] = ISSUERS[0]
    return token_claims


def make_token(user_id, now=None):
    """An HS256 token for user_id, signed with SECRET."""
    now = int(time.time()) if now is None else now
    return jwt.encode(claims(user_id, now), SECRET, algorithm="HS256")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mint_token.py <userId>   (e.g. 42)")
    print(make_token(sys.argv[1]))
