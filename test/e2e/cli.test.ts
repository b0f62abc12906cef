import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { decodeJwt, jwtVerify, SignJWT } from 'jose';
import { describe, test } from 'vitest';
import { counterSortKey } from '../../lambdas/shared/connection-table-schema';
import { LOCAL_JWT_SECRET } from '../../local/config';
import { signLocalToken } from '../../local/tokens';
import { startDynamoDb } from '../support/dynamodb';
import { openClient, refusedWith } from '../support/local-clients';
import { E2E_CREDENTIALS } from '../support/local-stack';
import { type Command, startCommand } from '../support/processes';

// The commands as a developer runs them, as child processes on free ports: `npm start`, the
// program it runs (`node --import tsx local/main.ts`) and `npm run --silent token`. Each runs
// in a process group of its own, killed whole when its test ends, whatever happened.

const root = fileURLToPath(new URL('../..', import.meta.url));

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

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** True when a new server can listen on the port: nothing holds it any more. */
async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

/** Registers cleanup for the running test (a concurrent test must pass its context's own). */
type OnFinished = (cleanup: () => void) => void;

/**
 * Starts a command of the project with a clean environment; it is killed, with its whole
 * process group, when the test ends.
 */
function run(
  onFinished: OnFinished,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Command {
  const cli = startCommand(command, args, { cwd: root, env: cleanEnv(env) });
  onFinished(() => cli.kill());
  return cli;
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * The sort keys in the table, read through the DynamoDB API at `endpoint`: each connection's
 * id, and the key of each user's counter item.
 */
async function sortKeysIn(endpoint: string): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: E2E_CREDENTIALS,
  });
  try {
    const page = await client.send(new ScanCommand({ TableName: 'Connections' }));
    return (page.Items ?? []).map((item) => item.connectionId?.S as string).sort();
  } finally {
    client.destroy();
  }
}

/** The sort keys the connections of `identities` put in the table: their rows and counters. */
function keysOf(identities: Array<{ userId: string; connectionId: string }>): string[] {
  return identities
    .flatMap(({ userId, connectionId }) => [connectionId, counterSortKey(userId)])
    .sort();
}

/** The gateway's and DynamoDB's ports, as the banner states them. */
function bannerPorts(cli: Command): { port: number; dynamoDbPort: number } {
  const port = /WebSocket\s+ws:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stdout())?.[1];
  const dynamoDbPort = /DynamoDB\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.stdout())?.[1];
  return { port: Number(port), dynamoDbPort: Number(dynamoDbPort) };
}

/** Two clients of the stack that `cli` started: user 42 with the banner's token, and user 43. */
async function connectTwo(cli: Command, port: number) {
  const bannerToken = /wscat -c 'ws:\/\/127\.0\.0\.1:\d+\?token=([^']+)'/.exec(cli.stdout())?.[1];
  const clients = [
    await openClient(`ws://127.0.0.1:${port}?token=${bannerToken}`),
    await openClient(
      `ws://127.0.0.1:${port}?token=${await signLocalToken('43', { secret: LOCAL_JWT_SECRET })}`,
    ),
  ];
  const identities = await Promise.all(clients.map((client) => client.whoami()));
  return { clients, identities };
}

/** The readable line the stack logs for a `$disconnect` that succeeded. */
function disconnectLine(connectionId: string, userId: string): RegExp {
  const id = connectionId.replace(/[+=]/g, '\\$&');
  return new RegExp(`disconnect\\s+${id}\\s+user ${userId}\\s+1001 Going away → 200`);
}

/** `npm start` as a user runs it, with `env` added; killed whole when the test ends. */
const npmStart = (onFinished: OnFinished, env: Record<string, string>) =>
  run(onFinished, 'npm', ['start'], env);
/** The program `npm start` runs, without npm (for the one-line errors on stderr). */
const localMain = (onFinished: OnFinished, env: Record<string, string>) =>
  run(onFinished, process.execPath, ['--import', 'tsx', 'local/main.ts'], env);

/** How long a stop may take, from the signal to both ports free (issue: "within 5 s"). */
const STOP_WITHIN_MS = 5000;

// Every test runs concurrently with the others (each command is a process of its own, on ports
// the system picks), so each uses its own context's expect and onTestFinished.
describe.concurrent('npm start', () => {
  // The README's stop instructions, exactly as a user gives them. `npm start` runs one
  // process under npm; npm passes SIGINT and SIGTERM on to it, so the signal may reach the
  // npm process alone (kill <pid>) or every process of the group (Ctrl-C in the terminal).
  test.for([
    ['Ctrl-C in its terminal (SIGINT to the process group)', 'SIGINT', true],
    ['kill -INT <pid of npm start>', 'SIGINT', false],
    ['kill -TERM <pid of npm start>', 'SIGTERM', false],
    ['kill -TERM -- -<pid of npm start> (the process group)', 'SIGTERM', true],
  ] as const)(
    '%s: every socket closed with 1001, every disconnect handler run, both ports free, exit 0',
    async ([, signal, group], { expect, onTestFinished }) => {
      // Prepare: ports the system picks (0), read from the banner; no other process can take
      // them between a check and the stack's listen.
      const cli = npmStart(onTestFinished, { PORT: '0', DYNAMODB_PORT: '0' });
      await cli.waitForOutput('Ctrl-C stops');
      const { port, dynamoDbPort } = bannerPorts(cli);
      const { clients, identities } = await connectTwo(cli, port);
      const rowsBefore = await sortKeysIn(`http://127.0.0.1:${dynamoDbPort}`);

      // Act
      const signalled = Date.now();
      cli.signal(signal, { group });
      const exit = await within(cli.exited, STOP_WITHIN_MS, 'npm start exited');
      // What npm start ran ends with it (tsx's esbuild service exits once node has gone).
      await expect
        .poll(() => cli.groupRunning(), {
          timeout: STOP_WITHIN_MS - (Date.now() - signalled),
          message: 'no process of the npm start group still runs',
        })
        .toBe(false);
      const portsFree = [await canListen(port), await canListen(dynamoDbPort)];
      const stopMs = Date.now() - signalled;
      const closes = await within(
        Promise.all(clients.map((client) => client.closed)),
        1000,
        'both clients closed once npm start had exited',
      );
      await within(cli.outputEnded, 1000, 'the output complete once npm start had exited');

      // Assess
      expect(identities.map((identity) => identity.userId)).toEqual(['42', '43']);
      expect(rowsBefore).toEqual(keysOf(identities));
      expect(exit).toEqual({ code: 0, signal: null });
      expect(portsFree).toEqual([true, true]);
      expect(stopMs).toBeLessThan(STOP_WITHIN_MS);
      expect(closes.map((closed) => closed.code)).toEqual([1001, 1001]);
      for (const { connectionId, userId } of identities) {
        expect(cli.stdout()).toMatch(disconnectLine(connectionId, userId));
      }
      expect(cli.stdout().trimEnd().endsWith('stopped')).toBe(true);
      expect(cli.stderr()).toBe('');
    },
  );

  test('SIGTERM with DYNAMODB_ENDPOINT: the stop removes every row from the external table', async ({
    expect,
    onTestFinished,
  }) => {
    // Prepare
    const db = await startDynamoDb();
    onTestFinished(() => db.stop());
    const cli = npmStart(onTestFinished, { PORT: '0', DYNAMODB_ENDPOINT: db.endpoint });
    await cli.waitForOutput('Ctrl-C stops');
    const { identities } = await connectTwo(cli, bannerPorts(cli).port);
    const rowsBefore = await sortKeysIn(db.endpoint);

    // Act
    cli.signal('SIGTERM');
    const exit = await within(cli.exited, STOP_WITHIN_MS, 'npm start exited');

    // Assess
    expect(rowsBefore).toEqual(keysOf(identities));
    expect(exit).toEqual({ code: 0, signal: null });
    // The counter items too: each user's last disconnect deleted it.
    expect(await sortKeysIn(db.endpoint)).toEqual([]);
  });

  test('reads the audience and the connection cap from the environment; logs each refusal', async ({
    expect,
    onTestFinished,
  }) => {
    // Prepare
    const cli = localMain(onTestFinished, {
      PORT: '0',
      DYNAMODB_PORT: '0',
      JWT_AUDIENCE: 'tripsync-staging',
      MAX_CONNECTIONS_PER_USER: '1',
    });
    await cli.waitForOutput('Ctrl-C stops');
    const token = /wscat -c 'ws:\/\/127\.0\.0\.1:\d+\?token=([^']+)'/.exec(cli.stdout())?.[1];
    const url = `ws://127.0.0.1:${bannerPorts(cli).port}`;
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
    await expect.poll(() => cli.stderr()).toContain('"reason":"wrong_audience"');
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
  });

  test.for(['PORT', 'DYNAMODB_PORT'])(
    '%s in use: a one-line error naming the port and the variable, exit 1',
    async (variable, { expect, onTestFinished }) => {
      // Prepare: the other port is one the system picks.
      const blocker = await occupiedPort();
      const env = { PORT: '0', DYNAMODB_PORT: '0', [variable]: String(blocker.port) };

      // Act
      const cli = localMain(onTestFinished, env);
      const exit = await cli.finished.finally(() => blocker.server.close());

      // Assess
      expect(exit.code).toBe(1);
      expect(cli.stderr().trimEnd().split('\n')).toEqual([
        `error: port ${blocker.port} is already in use; set ${variable} to another port (e.g. ${variable}=${blocker.port + 1})`,
      ]);
    },
  );

  test('an invalid variable: a one-line error naming it and the value received, exit 1', async ({
    expect,
    onTestFinished,
  }) => {
    // Act
    const cli = localMain(onTestFinished, { PORT: 'http' });
    const exit = await cli.finished;

    // Assess
    expect(exit.code).toBe(1);
    expect(cli.stderr().trimEnd().split('\n')).toEqual([
      'error: PORT: must be an integer from 0 to 65535, got "http"',
    ]);
  });
});

describe.concurrent('npm run --silent token', () => {
  test('prints exactly one JWT line for the user, valid four hours, signed with the local default', async ({
    expect,
    onTestFinished,
  }) => {
    // Act
    const cli = run(onTestFinished, 'npm', ['run', '--silent', 'token', '--', '42']);
    const exit = await cli.finished;

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

  test('signs with JWT_SECRET when it is set', async ({ expect, onTestFinished }) => {
    // Prepare
    const secret = 'another-secret-of-at-least-32-bytes!!';

    // Act
    const cli = run(onTestFinished, 'npm', ['run', '--silent', 'token', '--', 'anna'], {
      JWT_SECRET: secret,
    });
    await cli.finished;

    // Assess
    const token = cli.stdout().trim();
    await expect(jwtVerify(token, new TextEncoder().encode(secret))).resolves.toBeTruthy();
    expect(decodeJwt(token).sub).toBe('anna');
  });

  test('signs the audience and first issuer the authorizer reads, within its lifetime bound', async ({
    expect,
    onTestFinished,
  }) => {
    // Act
    const cli = run(onTestFinished, 'npm', ['run', '--silent', 'token', '--', '7'], {
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

  test('without a user id: usage on stderr, nothing on stdout, exit 2', async ({
    expect,
    onTestFinished,
  }) => {
    // Act
    const cli = run(onTestFinished, 'npm', ['run', '--silent', 'token']);
    const exit = await cli.finished;

    // Assess
    expect(exit.code).toBe(2);
    expect(cli.stdout()).toBe('');
    expect(cli.stderr()).toContain('usage: npm run --silent token -- <userId>');
  });
});
