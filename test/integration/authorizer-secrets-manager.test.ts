import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lambdas/config/auth';
import {
  AuthProviderUnavailableError,
  ConfigError,
  TokenRejectedError,
} from '../../lambdas/core/errors';
import type { VerifyToken } from '../../lambdas/core/tokens';
import { createVerifier } from '../../lambdas/runtime/token-verifier';
import {
  HS256_KEY_CACHE_SECONDS,
  HS256_KEY_REFRESH_MIN_INTERVAL_SECONDS,
} from '../../lambdas/shared/limits';
import { captureLog } from '../support/capture-log';
import { hs256Token } from '../support/tokens';

// The deployed authorizer reads its HS256 key from Secrets Manager (`JWT_SECRET_ARN`). Here the
// real SDK client talks to a real HTTP server speaking Secrets Manager's JSON protocol, with
// versions and staging labels as Secrets Manager keeps them, reached through the SDK's standard
// per-service endpoint variable. The verifier runs on a clock the test holds: no sleeps.

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:tripsync-jwt-AbCdEf';
const KEY_A = 'key-a-of-at-least-32-bytes-0123456789';
const KEY_B = 'key-b-of-at-least-32-bytes-0123456789';
const KEY_C = 'key-c-of-at-least-32-bytes-0123456789';
const MAX_LIFETIME = 3600;
const TOLERANCE = 5;
const CACHE_MS = HS256_KEY_CACHE_SECONDS * 1000;
const REFRESH_MS = HS256_KEY_REFRESH_MIN_INTERVAL_SECONDS * 1000;

interface Version {
  versionId: string;
  secretString?: string;
  secretBinary?: string;
  createdAt: number;
  stages: Set<string>;
}

/** The secret as Secrets Manager holds it: versions, each with its staging labels. */
const store = {
  versions: [] as Version[],
  failing: false,
  clear() {
    this.versions = [];
    this.failing = false;
  },
  /** What PutSecretValue does: the new version becomes AWSCURRENT, the old one AWSPREVIOUS. */
  put(value: { secretString?: string; secretBinary?: string }, createdAt: number): string {
    const versionId = `v${this.versions.length + 1}-0000-0000-0000-000000000000`;
    for (const version of this.versions) {
      version.stages.delete('AWSPREVIOUS');
      if (version.stages.delete('AWSCURRENT')) version.stages.add('AWSPREVIOUS');
    }
    this.versions.push({ versionId, ...value, createdAt, stages: new Set(['AWSCURRENT']) });
    return versionId;
  },
  removeStage(stage: string) {
    for (const version of this.versions) version.stages.delete(stage);
  },
};
const requests: Array<{ target: string | undefined; body: Record<string, unknown> }> = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    requests.push({ target: request.headers['x-amz-target'] as string | undefined, body });
    const reply = (status: number, payload: object, errorType?: string) =>
      response
        .writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          ...(errorType && { 'x-amzn-errortype': errorType }),
        })
        .end(JSON.stringify(payload));
    if (store.failing) {
      return reply(500, { message: 'try again' }, 'InternalServiceError');
    }
    const stage = body.VersionStage ?? 'AWSCURRENT';
    const version = store.versions.find((v) => v.stages.has(stage));
    if (body.SecretId !== SECRET_ARN || !version) {
      return reply(
        400,
        {
          message: `Secrets Manager can't find the specified secret value for staging label: ${stage}`,
        },
        'ResourceNotFoundException',
      );
    }
    reply(200, {
      ARN: SECRET_ARN,
      Name: 'tripsync-jwt',
      VersionId: version.versionId,
      ...(version.secretString !== undefined && { SecretString: version.secretString }),
      ...(version.secretBinary !== undefined && { SecretBinary: version.secretBinary }),
      VersionStages: [...version.stages],
      CreatedDate: version.createdAt / 1000,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoint;
});
afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The clock the verifier reads, epoch ms; tests move it. */
let clock = 1_800_000_000_000;
let verify: VerifyToken;
let logged: ReturnType<typeof captureLog>;

beforeEach(() => {
  store.clear();
  clock = 1_800_000_000_000;
  logged = captureLog();
  verify = createVerifier(
    readAuthConfig({
      JWT_SECRET_ARN: SECRET_ARN,
      JWT_MAX_LIFETIME_SECONDS: String(MAX_LIFETIME),
      JWT_CLOCK_TOLERANCE_SECONDS: String(TOLERANCE),
    }),
    { now: () => clock, log: logged.log },
  );
});

/** A token issued now on the test's clock, signed with `key`, `kid` naming a version or not. */
function tokenWith(key: string, kid?: string, sub = '42'): Promise<string> {
  const now = Math.floor(clock / 1000);
  return hs256Token({ sub, iat: now, exp: now + 600 }, new TextEncoder().encode(key), {
    ...(kid !== undefined && { kid }),
  });
}

async function outcome(token: string): Promise<string> {
  try {
    return `accepted ${await verify(token)}`;
  } catch (error) {
    if (error instanceof TokenRejectedError) return error.reason;
    throw error;
  }
}

/** GetSecretValue calls since `from`, as the stages they asked for (sent in parallel: sorted). */
const readsSince = (from: number) =>
  requests
    .slice(from)
    .map((r) => String(r.body.VersionStage))
    .sort();

describe('HS256 key from Secrets Manager', () => {
  it('fails closed while the secret cannot be read, then reads both stages and caches them', async () => {
    store.put({ secretString: KEY_A }, clock);
    const token = await tokenWith(KEY_A);

    store.failing = true;
    const error = await verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthProviderUnavailableError);
    expect((error as Error).message).toMatch(
      `HS256 secret ${SECRET_ARN} could not be read from Secrets Manager: `,
    );

    store.failing = false;
    const before = requests.length;
    expect(await outcome(token)).toBe('accepted 42');
    expect(await outcome(await tokenWith(KEY_A, undefined, '7'))).toBe('accepted 7');
    const made = requests.slice(before);
    expect(made.map((r) => r.target)).toEqual(Array(2).fill('secretsmanager.GetSecretValue'));
    expect(made.map((r) => r.body.SecretId)).toEqual([SECRET_ARN, SECRET_ARN]);
    expect(readsSince(before)).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('reads the key again once the cache time has passed, not before', async () => {
    store.put({ secretString: KEY_A }, clock);
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    const before = requests.length;

    clock += CACHE_MS - 1;
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    expect(readsSince(before)).toEqual([]);

    clock += 1;
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    expect(readsSince(before)).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('after a rotation, accepts the new key at once: one early read on the first bad signature', async () => {
    store.put({ secretString: KEY_A }, clock);
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    clock += REFRESH_MS;
    store.put({ secretString: KEY_B }, clock);
    const before = requests.length;

    expect(await outcome(await tokenWith(KEY_B))).toBe('accepted 42');
    expect(readsSince(before)).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
    // The old key is now AWSPREVIOUS: tokens it signed before the rotation still pass.
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    expect(readsSince(before)).toHaveLength(2);
  });

  it('rate-limits the early read: at most one per interval, whatever the flood of forged tokens', async () => {
    store.put({ secretString: KEY_A }, clock);
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    const before = requests.length;

    // Within the interval of the last read: refused with no read.
    expect(await outcome(await tokenWith(KEY_C))).toBe('bad_signature');
    expect(readsSince(before)).toEqual([]);

    clock += REFRESH_MS;
    const forged = await Promise.all(Array.from({ length: 20 }, () => tokenWith(KEY_C)));
    expect(await Promise.all(forged.map(outcome))).toEqual(forged.map(() => 'bad_signature'));
    expect(await outcome(await tokenWith(KEY_C))).toBe('bad_signature');
    expect(readsSince(before)).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('picks the version a kid names, reads early for an unknown one, refuses a kid no version has', async () => {
    const versionA = store.put({ secretString: KEY_A }, clock);
    expect(await outcome(await tokenWith(KEY_A, versionA))).toBe('accepted 42');
    clock += REFRESH_MS;
    const versionB = store.put({ secretString: KEY_B }, clock);
    const before = requests.length;

    expect(await outcome(await tokenWith(KEY_B, versionB))).toBe('accepted 42');
    expect(readsSince(before)).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
    expect(await outcome(await tokenWith(KEY_A, versionA))).toBe('accepted 42');
    // A kid names one version: the other key is not tried.
    expect(await outcome(await tokenWith(KEY_A, versionB))).toBe('bad_signature');
    clock += REFRESH_MS;
    expect(await outcome(await tokenWith(KEY_B, 'no-such-version'))).toBe('unknown_key');
    expect(readsSince(before)).toHaveLength(4);
  });

  it('accepts the previous key for the longest token lifetime after the rotation, then never', async () => {
    const versionA = store.put({ secretString: KEY_A }, clock);
    const rotatedAt = clock + 1000;
    clock = rotatedAt;
    store.put({ secretString: KEY_B }, rotatedAt);
    const graceEnds = rotatedAt + (MAX_LIFETIME + TOLERANCE) * 1000;

    clock = graceEnds;
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    expect(await outcome(await tokenWith(KEY_A, versionA))).toBe('accepted 42');
    clock = graceEnds + 1;
    expect(await outcome(await tokenWith(KEY_A))).toBe('bad_signature');
    clock += REFRESH_MS;
    expect(await outcome(await tokenWith(KEY_A, versionA))).toBe('unknown_key');
    expect(await outcome(await tokenWith(KEY_B))).toBe('accepted 42');
  });

  it('stops accepting a key once its AWSPREVIOUS label is removed, within the cache time', async () => {
    // What an operator does after a leak: rotate, then take the label off the leaked version.
    store.put({ secretString: KEY_A }, clock);
    store.put({ secretString: KEY_B }, clock);
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    store.removeStage('AWSPREVIOUS');

    clock += CACHE_MS - 1;
    expect(await outcome(await tokenWith(KEY_A))).toBe('accepted 42');
    clock += 1;
    expect(await outcome(await tokenWith(KEY_A))).toBe('bad_signature');
    expect(await outcome(await tokenWith(KEY_B))).toBe('accepted 42');
  });

  it('fails closed on a current key shorter than 32 bytes, naming the secret, never the key', async () => {
    const shortKey = 'only-31-bytes-long-0123456789ab';
    const version = store.put({ secretString: shortKey }, clock);

    const error = await verify(await tokenWith(shortKey)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('JWT_SECRET_ARN');
    expect((error as Error).message).toBe(
      `JWT_SECRET_ARN: the secret ${SECRET_ARN} (AWSCURRENT, version ${version}) must be at least 32 bytes for HS256, got 31`,
    );
    expect((error as Error).message).not.toContain(shortKey);
  });

  it('fails closed on a secret stored as binary', async () => {
    store.put({ secretBinary: Buffer.from(KEY_A).toString('base64') }, clock);
    const error = await verify(await tokenWith(KEY_A)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/has no SecretString/);
  });

  it('never accepts a short previous key, and still accepts the current one', async () => {
    const shortKey = 'short-previous-key';
    const shortVersion = store.put({ secretString: shortKey }, clock);
    store.put({ secretString: KEY_B }, clock);

    expect(await outcome(await tokenWith(KEY_B))).toBe('accepted 42');
    expect(await outcome(await tokenWith(shortKey))).toBe('bad_signature');
    expect(logged.lines).toEqual([
      {
        level: 'warn',
        message: 'previous HS256 key version not accepted',
        attributes: {
          detail: `JWT_SECRET_ARN: the secret ${SECRET_ARN} (AWSPREVIOUS, version ${shortVersion}) must be at least 32 bytes for HS256, got ${shortKey.length}`,
        },
      },
    ]);
  });
});

/** The Python snippet of docs/security.md, as the TripSync backend would paste it. */
function pythonSnippet(): string {
  const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Minting a connection token'));
  const code = /```python\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code)
    throw new Error('docs/security.md has no Python snippet under "Minting a connection token"');
  return code;
}

describe('a token the TripSync backend mints (PyJWT and boto3, docs/security.md)', () => {
  // Debian's python3 with python3-jwt and python3-boto3 (botocore 1.29 predates the
  // AWS_ENDPOINT_URL_* variables: the endpoint is given to the client).
  const mint = async (userId: string) => {
    const driver = [
      pythonSnippet(),
      'import sys',
      'client = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1",',
      '                      aws_access_key_id="local", aws_secret_access_key="local")',
      'print(mint_connection_token(sys.argv[2], sys.argv[3], client, now=int(sys.argv[4])))',
    ].join('\n');
    const { stdout } = await promisify(execFile)('/usr/bin/python3', [
      '-c',
      driver,
      endpoint,
      userId,
      SECRET_ARN,
      String(Math.floor(clock / 1000)),
    ]);
    return stdout.trim();
  };

  it('is accepted, its kid naming the version that signed it, before and after a rotation', async () => {
    const versionA = store.put({ secretString: KEY_A }, clock);
    const first = await mint('anna');
    expect(decodeProtectedHeader(first)).toEqual({ alg: 'HS256', typ: 'JWT', kid: versionA });
    expect(await outcome(first)).toBe('accepted anna');

    clock += REFRESH_MS;
    const versionB = store.put({ secretString: KEY_B }, clock);
    const second = await mint('42');
    expect(decodeProtectedHeader(second).kid).toBe(versionB);
    expect(await outcome(second)).toBe('accepted 42');
    expect(await outcome(first)).toBe('accepted anna');
  });
});
