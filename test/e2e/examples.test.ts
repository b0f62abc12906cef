import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import { LOCAL_JWT_SECRET } from '../../local/config';
import { type LocalStack, startLocalStack } from '../../local/stack';
import { signLocalToken } from '../../local/tokens';
import { type Command, runCommand, startCommand } from '../support/processes';

// Every program in examples/ run as a reader would run it, against a local stack on free ports
// with its default JWT secret, and its effect checked with a real `ws` client. The programs get
// only the endpoint: no region, no credentials, no function name, no home directory with an AWS
// profile, so their local defaults are what is tested. Python is Debian's (/usr/bin/python3), for
// which .ci/run installs python3-boto3, python3-jwt and python3-websockets; the AWS CLI is
// Debian's awscli (v2) and whichever `aws` comes first on PATH.

const root = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = '/usr/bin/python3';
const TSX = join(root, 'node_modules/.bin/tsx');

let stack: LocalStack;
let lambda: LambdaClient;
let sqs: SQSClient;
const sockets: WebSocket[] = [];
const running = new Set<Command>();
const scratchDirs: string[] = [];
// An empty home directory: no AWS profile or credentials file to be found (npx writes its logs
// there). Removed after the run.
let emptyHome: string;

beforeAll(async () => {
  emptyHome = mkdtempSync(join(tmpdir(), 'tripsync-examples-home-'));
  stack = await startLocalStack({
    port: 0,
    dynamoDbPort: 0,
    log: false,
    handlerLogLevel: 'SILENT',
  });
  lambda = new LambdaClient({
    endpoint: stack.endpoint,
    region: stack.region,
    credentials: { accessKeyId: 'e2e', secretAccessKey: 'e2e' },
  });
  sqs = new SQSClient({
    endpoint: stack.endpoint,
    region: stack.region,
    credentials: { accessKeyId: 'e2e', secretAccessKey: 'e2e' },
  });
});

afterEach(() => {
  for (const program of running) program.kill();
  running.clear();
  for (const socket of sockets.splice(0)) socket.terminate();
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  lambda?.destroy();
  sqs?.destroy();
  await stack?.stop();
  if (emptyHome) rmSync(emptyHome, { recursive: true, force: true });
});

/** What an example sees: the local stack's endpoint and nothing else of ours. */
function exampleEnv(path = `${dirname(process.execPath)}:/usr/bin:/bin`): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: emptyHome,
    LANG: 'C.UTF-8',
    npm_config_update_notifier: 'false',
    PYTHONDONTWRITEBYTECODE: '1',
    AWS_ENDPOINT_URL: stack.endpoint,
    TRIPSYNC_WS_URL: stack.url,
    // Node 20 is older than the Lambda runtime; every SDK process warns about it otherwise.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/**
 * Starts a program in a process group of its own, so that the cleanup stops it and everything
 * it started (`tsx` runs the script in a child process; `bash` runs the CLI) at once.
 */
function start(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Command {
  const program = startCommand(command, args, {
    cwd: options.cwd ?? root,
    env: options.env ?? exampleEnv(),
  });
  running.add(program);
  return program;
}

/** Runs an example to its end (at most 30 s) and returns its exit code and output. */
async function runExample(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const { code, signal, stdout, stderr } = await runCommand(command, args, {
    cwd: options.cwd ?? root,
    env: options.env ?? exampleEnv(),
    timeoutMs: 30_000,
  });
  return { code: code ?? signal ?? 'unknown', stdout, stderr };
}

/** A real WebSocket client of the local stack that keeps every frame it receives. */
async function openClient(token: string) {
  return openClientAt(`${stack.url}?token=${token}`);
}

async function openClientAt(url: string): Promise<{ received: unknown[]; socket: WebSocket }> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  const received: unknown[] = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`handshake refused with HTTP ${response.statusCode}`)),
    );
  });
  return { received, socket };
}

async function connectAs(userId: string) {
  return openClient(await signLocalToken(userId, { secret: stack.jwtSecret }));
}

const uniqueUser = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

describe('examples/python/mint_token.py (PyJWT)', () => {
  test("mints a token with the local default secret that opens a socket as the user, in the claims' one place", async () => {
    // Act
    const result = await runExample(PYTHON, ['examples/python/mint_token.py', '42']);

    // Assess
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const token = result.stdout.trim();
    const claims = decodeJwt(token);
    expect(claims.sub).toBe('42');
    expect(claims.aud).toBe('tripsync-realtime');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(4 * 60 * 60);
    const client = await openClient(token);
    client.socket.send(JSON.stringify({ action: 'whoami' }));
    await expect.poll(() => client.received).toHaveLength(1);
    expect(client.received[0]).toMatchObject({ type: 'whoami', userId: '42' });
  });
});

describe.each([
  {
    name: 'examples/typescript/send.ts (AWS SDK)',
    command: TSX,
    script: 'examples/typescript/send.ts',
  },
  { name: 'examples/python/send.py (boto3)', command: PYTHON, script: 'examples/python/send.py' },
])('$name', ({ command, script }) => {
  test("delivers the message to every socket of the user and prints send's counts", async () => {
    // Prepare
    const userId = uniqueUser('example');
    const tabs = [await connectAs(userId), await connectAs(userId)];
    const message = { type: 'seat_taken', tripId: 't-1', seats: 2 };

    // Act
    const result = await runExample(command, [script, userId, JSON.stringify(message)]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ delivered: 2, stale: 0, failed: 0, seq: 1 });
    for (const tab of tabs) {
      await expect.poll(() => tab.received).toEqual([message]);
    }
  });

  test('several users: one invocation, a per-user breakdown', async () => {
    // Prepare
    const [first, second] = [uniqueUser('pool'), uniqueUser('pool')];
    const client = await connectAs(first);
    const message = { type: 'pool_filled', poolId: 'p-9' };

    // Act
    const result = await runExample(command, [
      script,
      `${first},${second}`,
      JSON.stringify(message),
    ]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      delivered: 1,
      stale: 0,
      failed: 0,
      users: {
        [first]: { delivered: 1, stale: 0, failed: 0, seq: 1 },
        [second]: { delivered: 0, stale: 0, failed: 0, seq: 1 },
      },
    });
    await expect.poll(() => client.received).toEqual([message]);
  });

  test("a refused payload: exit 1 with Lambda's errorType and message, nothing sent", async () => {
    // Prepare
    const userId = uniqueUser('refused');
    const client = await connectAs(userId);

    // Act
    const result = await runExample(command, [script, userId, '["not", "an object"]']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('ValidationError: message: must be a JSON object, got array');
    expect(client.received).toEqual([]);
  });
});

/** The dead-letter queue's message that came from this queued message, once it is there. */
async function deadLetterOf(sourceMessageId: string) {
  return vi.waitFor(
    async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          VisibilityTimeout: 0,
        }),
      );
      const found = Messages.find(
        (m) => m.MessageAttributes?.SourceMessageId?.StringValue === sourceMessageId,
      );
      if (!found) throw new Error(`${sourceMessageId} is not on the dead-letter queue yet`);
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: stack.deadLetterQueueUrl,
          ReceiptHandle: found.ReceiptHandle,
        }),
      );
      return found;
    },
    { timeout: 10_000, interval: 100 },
  );
}

describe.each([
  {
    name: 'examples/typescript/enqueue.ts (AWS SDK: the SQS JSON protocol)',
    command: TSX,
    script: 'examples/typescript/enqueue.ts',
  },
  {
    name: "examples/python/enqueue.py (Debian's boto3: the SQS query protocol)",
    command: PYTHON,
    script: 'examples/python/enqueue.py',
  },
])('$name', ({ command, script }) => {
  test('queues the message, and the consumer delivers it to every socket of the user', async () => {
    // Prepare
    const userId = uniqueUser('queued');
    const tabs = [await connectAs(userId), await connectAs(userId)];
    const message = { type: 'seat_taken', tripId: 't-2', note: 'a & b <c>' };

    // Act
    const result = await runExample(command, [script, userId, JSON.stringify(message)]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ queued: [expect.any(String)] });
    for (const tab of tabs) {
      await expect.poll(() => tab.received).toEqual([message]);
    }
  });

  test('several pairs: one batch, each message to its users', async () => {
    // Prepare
    const [first, second, third] = [uniqueUser('batch'), uniqueUser('batch'), uniqueUser('batch')];
    const clients = [await connectAs(first), await connectAs(second), await connectAs(third)];

    // Act
    const result = await runExample(command, [
      script,
      first,
      '{"n":1}',
      `${second},${third}`,
      '{"n":2}',
    ]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).queued).toHaveLength(2);
    await expect
      .poll(() => clients.map((c) => c.received))
      .toEqual([[{ n: 1 }], [{ n: 2 }], [{ n: 2 }]]);
  });

  test('a bad payload is queued, then moved to the dead-letter queue with the reason', async () => {
    // Prepare
    const userId = uniqueUser('queued-bad');
    const client = await connectAs(userId);

    // Act
    const result = await runExample(command, [script, userId, '"not an object"']);

    // Assess: SQS accepts any body; the consumer refuses it, once, and keeps it.
    expect(result.code, result.stderr).toBe(0);
    const [messageId] = JSON.parse(result.stdout).queued;
    const dead = await deadLetterOf(messageId);
    expect(JSON.parse(dead.Body ?? '')).toEqual({ userId, message: 'not an object' });
    expect(dead.MessageAttributes?.ErrorCode?.StringValue).toBe('ValidationError');
    expect(dead.MessageAttributes?.ErrorMessage?.StringValue).toBe(
      'message: must be a JSON object, got string',
    );
    expect(client.received).toEqual([]);
  });
});

describe.each([
  {
    name: 'examples/typescript/put-event.ts (AWS SDK: EventBridge)',
    command: TSX,
    script: 'examples/typescript/put-event.ts',
  },
  {
    name: "examples/python/put_event.py (Debian's boto3: EventBridge)",
    command: PYTHON,
    script: 'examples/python/put_event.py',
  },
])('$name', ({ command, script }) => {
  test('puts a TripSync Notification event, which reaches the sockets through the queue', async () => {
    // Prepare
    const [first, second] = [uniqueUser('event'), uniqueUser('event')];
    const clients = [await connectAs(first), await connectAs(second)];
    const message = { type: 'pool_filled', poolId: 'p-3' };

    // Act
    const result = await runExample(command, [
      script,
      `${first},${second}`,
      JSON.stringify(message),
    ]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ eventId: expect.any(String) });
    for (const client of clients) {
      await expect.poll(() => client.received).toEqual([message]);
    }
  });

  test('an event refused by EventBridge: exit 1 with its error code', async () => {
    // Act: a bus the local stack does not have.
    const result = await runExample(command, [script, '42', '{}'], {
      env: { ...exampleEnv(), EVENT_BUS_NAME: 'no-such-bus' },
    });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ResourceNotFoundException');
  });
});

describe("examples/python/presence.py (Debian's boto3)", () => {
  test('prints the live connections of each user', async () => {
    // Prepare
    const [online, offline] = [uniqueUser('here'), uniqueUser('away')];
    await connectAs(online);
    await connectAs(online);

    // Act
    const result = await runExample(PYTHON, [
      'examples/python/presence.py',
      `${online},${offline}`,
    ]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ online: { [online]: 2, [offline]: 0 } });
  });

  test('a refused id: exit 1 with ValidationError naming it', async () => {
    // Act
    const result = await runExample(PYTHON, ['examples/python/presence.py', '42, 7']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'ValidationError: userIds[1]: must not start or end with whitespace',
    );
  });
});

describe('examples/cli/send.sh (AWS CLI)', () => {
  const debianCli = '/usr/bin/aws';

  test.each([
    { cli: "Debian's awscli (v2)", path: '/usr/bin:/bin' },
    { cli: 'the aws first on PATH', path: `${process.env.PATH}` },
  ])('$cli: delivers the message and prints the function answer alone', async ({ path }) => {
    // Prepare
    expect(existsSync(debianCli), `${debianCli} is missing: apt-get install awscli`).toBe(true);
    const userId = uniqueUser('cli');
    const client = await connectAs(userId);
    const message = { type: 'driver_near', minutes: 3 };

    // Act
    const result = await runExample(
      'bash',
      ['examples/cli/send.sh', userId, JSON.stringify(message)],
      {
        env: exampleEnv(path),
      },
    );

    // Assess: stdout is the function's answer and nothing of the CLI's own output.
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ delivered: 1, stale: 0, failed: 0, seq: 1 });
    await expect.poll(() => client.received).toEqual([message]);
  });

  test("a refused payload: exit 1, the function's error on stderr, nothing sent", async () => {
    // Prepare
    const userId = uniqueUser('cli-refused');
    const client = await connectAs(userId);

    // Act
    const result = await runExample('bash', ['examples/cli/send.sh', userId, '"text"']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: 'message: must be a JSON object, got string',
    });
    expect(client.received).toEqual([]);
  });
});

describe('examples/python/listen.py (websockets)', () => {
  test('connects with a minted token, says who it is, prints the notification and exits', async () => {
    // Prepare
    const userId = uniqueUser('listener');
    const listener = start(PYTHON, ['examples/python/listen.py', userId, '--count', '1']);
    await vi.waitFor(() => expect(listener.stdout(), listener.stderr()).toContain('\n'), {
      timeout: 10_000,
    });
    const message = { type: 'seat_taken', tripId: 't-7' };

    // Act
    const response = await lambda.send(
      new InvokeCommand({ FunctionName: 'send', Payload: JSON.stringify({ userId, message }) }),
    );

    // Assess
    expect(JSON.parse(new TextDecoder().decode(response.Payload))).toMatchObject({ delivered: 1 });
    expect((await listener.finished).code, listener.stderr()).toBe(0);
    const lines = listener
      .stdout()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([{ type: 'whoami', userId, connectionId: expect.any(String) }, message]);
  });
});

describe("npm start's banner", () => {
  test('states the local secret, and its AWS CLI and example commands deliver to the socket', async () => {
    // Prepare: the stack as `npm start` runs it, on free ports.
    const npmStart = start(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
      env: { ...exampleEnv(), PORT: '0', DYNAMODB_PORT: '0' },
    });
    const banner = () => npmStart.stdout();
    await vi.waitFor(() => expect(banner(), npmStart.stderr()).toContain('Ctrl-C stops'), {
      timeout: 20_000,
    });
    const token = /wscat -c '(ws:\/\/[^?]+)\?token=([^']+)'/.exec(banner());
    const client = await openClientAt(`${token?.[1]}?token=${token?.[2]}`);
    const lines = banner().split('\n');
    const from = lines.findIndex((line) => line.includes('export AWS_ACCESS_KEY_ID'));
    const to = lines.findIndex((line) => line.includes('cat out.json'));
    const cliCommands = lines.slice(from, to + 1).join('\n');
    const exampleCommand = lines.find((line) => line.includes('examples/typescript/send.ts')) ?? '';
    const scratch = mkdtempSync(join(tmpdir(), 'tripsync-banner-'));
    scratchDirs.push(scratch);

    // Act: each pasted into a shell, as a reader would.
    const cli = await runExample('bash', ['-c', cliCommands], { cwd: scratch });
    const example = await runExample('bash', ['-c', exampleCommand]);

    // Assess
    expect(banner()).toContain(
      `JWT secret     ${JSON.stringify(LOCAL_JWT_SECRET)}: the local default`,
    );
    expect(banner()).not.toContain('/dev/stdout');
    expect(cli.code, cli.stderr).toBe(0);
    expect(example.code, example.stderr).toBe(0);
    // The CLI prints its own metadata, then `cat out.json` the function's answer, apart.
    const answerAt = cli.stdout.lastIndexOf('{"delivered"');
    expect(JSON.parse(cli.stdout.slice(0, answerAt))).toMatchObject({ StatusCode: 200 });
    // Both went to the banner's user 42 (the first and second message of its log).
    expect(JSON.parse(cli.stdout.slice(answerAt))).toEqual({
      delivered: 1,
      stale: 0,
      failed: 0,
      seq: 1,
    });
    expect(JSON.parse(example.stdout)).toEqual({ delivered: 1, stale: 0, failed: 0, seq: 2 });
    await expect.poll(() => client.received).toEqual([{ type: 'hello' }, { type: 'hello' }]);
    npmStart.signal('SIGTERM');
    expect((await npmStart.finished).code).toBe(0);
  });
});
