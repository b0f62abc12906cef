import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { describe, expect, test } from 'vitest';
import { LOCAL_JWT_SECRET } from '../../local/config';
import { eventually, openClient, refusedWith } from '../support/local-clients';

// The commands as a developer runs them: `tsx local/main.ts` (what `npm start` runs) and
// `npm run --silent token`, as child processes on free ports.

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = `${root}node_modules/.bin/tsx`;

/** The parent's environment without anything that would configure the local stack. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [
    'PORT',
    'BIND_HOST',
    'DYNAMODB_PORT',
    'DYNAMODB_ENDPOINT',
    'TABLE_NAME',
    'STAGE',
    'JWT_SECRET',
    'JWT_SECRET_ARN',
    'JWT_AUDIENCE',
    'JWT_ISSUER',
    'JWT_MAX_LIFETIME_SECONDS',
    'JWKS_URL',
    'MAX_CONNECTIONS_PER_USER',
    'IDLE_TIMEOUT_MS',
    'MAX_CONNECTION_DURATION_MS',
    'POWERTOOLS_LOG_LEVEL',
  ]) {
    delete env[name];
  }
  return { ...env, npm_config_update_notifier: 'false', ...extra };
}

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
}

function run(command: string, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(command, args, { cwd: root, env: cleanEnv(env) });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput(text, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!out.includes(text)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no "${text}" within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (!out.includes(text)) {
            clearTimeout(timer);
            reject(new Error(`exited before "${text}"; stdout: ${out}; stderr: ${err}`));
          }
        });
        check();
      });
    },
  };
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

async function freePort(): Promise<number> {
  const { port, server } = await occupiedPort();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm start (tsx local/main.ts)', () => {
  test('prints the banner with a working token; SIGTERM closes every socket with 1001 and exits 0', async () => {
    // Prepare
    const [port, dynamoDbPort] = [await freePort(), await freePort()];
    const cli = run(tsx, ['local/main.ts'], {
      PORT: String(port),
      DYNAMODB_PORT: String(dynamoDbPort),
    });
    await cli.waitForOutput('Ctrl-C stops');
    const token = /wscat -c 'ws:\/\/127\.0\.0\.1:\d+\?token=([^']+)'/.exec(cli.stdout())?.[1];
    const client = await openClient(`ws://127.0.0.1:${port}?token=${token}`);
    const { connectionId, userId } = await client.whoami();

    // Act
    cli.child.kill('SIGTERM');
    const [closed, exit] = await Promise.all([client.closed, cli.exited]);

    // Assess
    expect(userId).toBe('42');
    expect(cli.stdout()).toContain(`http://127.0.0.1:${dynamoDbPort}`);
    expect(closed.code).toBe(1001);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(
      new RegExp(
        `disconnect\\s+${connectionId.replace(/[+=]/g, '\\$&')}\\s+user 42\\s+1001 Going away → 200`,
      ),
    );
    expect(cli.stdout().trimEnd().endsWith('stopped')).toBe(true);
    expect(cli.stderr()).toBe('');
  });

  test('reads the audience and the connection cap from the environment; logs each refusal', async () => {
    // Prepare
    const [port, dynamoDbPort] = [await freePort(), await freePort()];
    const cli = run(tsx, ['local/main.ts'], {
      PORT: String(port),
      DYNAMODB_PORT: String(dynamoDbPort),
      JWT_AUDIENCE: 'tripsync-staging',
      MAX_CONNECTIONS_PER_USER: '1',
    });
    try {
      await cli.waitForOutput('Ctrl-C stops');
      const token = /wscat -c 'ws:\/\/127\.0\.0\.1:\d+\?token=([^']+)'/.exec(cli.stdout())?.[1];
      const url = `ws://127.0.0.1:${port}`;
      const now = Math.floor(Date.now() / 1000);
      const withoutAudience = await new SignJWT({ sub: '42', iat: now, exp: now + 600 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));

      // Act
      const first = await openClient(`${url}?token=${token}`);
      const second = await refusedWith(`${url}?token=${token}`);
      const unbound = await refusedWith(`${url}?token=${withoutAudience}`);

      // Assess
      expect(decodeJwt(token ?? '').aud).toBe('tripsync-staging');
      expect(cli.stdout()).toContain('at most 1 live connections (MAX_CONNECTIONS_PER_USER)');
      expect((await first.whoami()).userId).toBe('42');
      expect(second).toBe(429);
      expect(unbound).toBe(401);
      // The stack's lines on stdout, the handlers' warnings (Powertools) on stderr.
      expect(cli.stdout()).toMatch(/refused\s+429 Too Many Requests: \$connect answered 429/);
      expect(cli.stdout()).toMatch(/refused\s+401 Unauthorized: the authorizer said Unauthorized/);
      await eventually(() => cli.stderr().includes('"reason":"wrong_audience"'));
      const warnings = cli
        .stderr()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(warnings).toMatchObject([
        { message: 'connection refused: too many live connections', live: 2, limit: 1 },
        { message: 'token rejected', reason: 'wrong_audience' },
      ]);
      first.ws.close();
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
  });

  test.each(['PORT', 'DYNAMODB_PORT'])(
    '%s in use: a one-line error naming the port and the variable, exit 1',
    async (variable) => {
      // Prepare
      const blocker = await occupiedPort();
      const env = { PORT: String(await freePort()), DYNAMODB_PORT: String(await freePort()) };
      env[variable as keyof typeof env] = String(blocker.port);

      // Act
      const cli = run(tsx, ['local/main.ts'], env);
      const exit = await cli.exited.finally(() => blocker.server.close());

      // Assess
      expect(exit.code).toBe(1);
      expect(cli.stderr().trimEnd().split('\n')).toEqual([
        `error: port ${blocker.port} is already in use; set ${variable} to another port (e.g. ${variable}=${blocker.port + 1})`,
      ]);
    },
  );

  test('an invalid variable: a one-line error naming it and the value received, exit 1', async () => {
    // Act
    const cli = run(tsx, ['local/main.ts'], { PORT: 'http' });
    const exit = await cli.exited;

    // Assess
    expect(exit.code).toBe(1);
    expect(cli.stderr().trimEnd().split('\n')).toEqual([
      'error: PORT: must be an integer from 0 to 65535, got "http"',
    ]);
  });
});

describe('npm run --silent token', () => {
  test('prints exactly one JWT line for the user, valid four hours, signed with the local default', async () => {
    // Act
    const cli = run('npm', ['run', '--silent', 'token', '--', '42']);
    const exit = await cli.exited;

    // Assess
    expect(exit.code).toBe(0);
    expect(cli.stderr()).toBe('');
    const lines = cli.stdout().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(lines[0]).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const { payload, protectedHeader } = await jwtVerify(
      lines[0] as string,
      new TextEncoder().encode(LOCAL_JWT_SECRET),
    );
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload.sub).toBe('42');
    expect(payload.aud).toBe('tripsync-realtime');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(4 * 60 * 60);
  });

  test('signs with JWT_SECRET when it is set', async () => {
    // Prepare
    const secret = 'another-secret-of-at-least-32-bytes!!';

    // Act
    const cli = run('npm', ['run', '--silent', 'token', '--', 'anna'], { JWT_SECRET: secret });
    await cli.exited;

    // Assess
    const token = cli.stdout().trim();
    await expect(jwtVerify(token, new TextEncoder().encode(secret))).resolves.toBeTruthy();
    expect(decodeJwt(token).sub).toBe('anna');
  });

  test('signs the audience and first issuer the authorizer reads, within its lifetime bound', async () => {
    // Act
    const cli = run('npm', ['run', '--silent', 'token', '--', '7'], {
      JWT_AUDIENCE: 'tripsync-staging',
      JWT_ISSUER: 'tripsync-backend,https://idp.example.com',
      JWT_MAX_LIFETIME_SECONDS: '600',
    });
    await cli.exited;

    // Assess
    const claims = decodeJwt(cli.stdout().trim());
    expect(claims).toMatchObject({ sub: '7', aud: 'tripsync-staging', iss: 'tripsync-backend' });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);
  });

  test('without a user id: usage on stderr, nothing on stdout, exit 2', async () => {
    // Act
    const cli = run('npm', ['run', '--silent', 'token']);
    const exit = await cli.exited;

    // Assess
    expect(exit.code).toBe(2);
    expect(cli.stdout()).toBe('');
    expect(cli.stderr()).toContain('usage: npm run --silent token -- <userId>');
  });
});
