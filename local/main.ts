/**
 * `npm start`: the local stack as a command. Reads the environment once (see `local/config.ts`),
 * starts the stack, prints a banner with ready-to-paste examples, and stops cleanly on
 * Ctrl-C / SIGINT / SIGTERM: every socket closed with 1001, `$disconnect` run for each, exit 0.
 *
 * `npm start` runs `exec node --import tsx local/main.ts`: the shell npm starts the script with
 * is replaced by this process (without `exec`, dash would stay in between and die of the
 * signal npm passes on, orphaning us), and tsx is a loader in it rather than a parent process
 * relaying signals. npm passes SIGINT and SIGTERM on to us and exits with our exit code.
 */
import { readClaimRules } from '../lambdas/config/auth';
import { ConfigError } from '../lambdas/core/errors';
import { type LocalStackEnvOptions, readLocalStackEnv } from './config';
import { PortInUseError } from './listen';
import { type LocalStack, startLocalStack } from './stack';
import { LOCAL_TOKEN_TTL_SECONDS, signLocalToken } from './tokens';

/** A stop that takes longer than this (a hung `$disconnect`) exits with 1. */
const STOP_TIMEOUT_MS = 10_000;

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function main(): Promise<void> {
  // Listening from the start: a signal while the stack starts stops it once it is up, and one
  // sent as soon as the banner shows cannot meet Node's default handler (which ends the
  // process without closing a socket or running a $disconnect).
  let stack: LocalStack | undefined;
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal !== undefined) {
      // Ctrl-C reaches us twice, from the terminal (to the whole group) and from npm passing
      // it on: one stop is enough.
      return;
    }
    stopSignal = signal;
    if (stack !== undefined) stop(stack, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const options = readLocalStackEnv(process.env);
  const { jwtSecretIsDefault: _, dynamoDbEndpoint, ...common } = options;
  stack = await startLocalStack({
    ...common,
    // A handler that cannot load stops `npm start` at once, not at its first invocation.
    warmFunctions: true,
    ...(dynamoDbEndpoint !== undefined && { dynamoDbEndpoint }),
  });
  if (stopSignal !== undefined) {
    stop(stack, stopSignal);
    return;
  }
  const text = await banner(stack, options);
  if (stopSignal === undefined) process.stdout.write(text);
}

/** Closes every socket with 1001, runs each `$disconnect`, then exits 0 (1 if that fails). */
function stop(stack: LocalStack, signal: NodeJS.Signals): void {
  process.stdout.write(`\n${signal}: stopping (${stack.connectionCount()} open connection(s))\n`);
  setTimeout(() => {
    process.stderr.write(`error: stopping took longer than ${STOP_TIMEOUT_MS / 1000} s; exiting\n`);
    process.exit(1);
  }, STOP_TIMEOUT_MS).unref();
  stack.stop().then(
    () => {
      process.stdout.write('stopped\n');
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`error: stopping failed: ${describe(error)}\n`);
      process.exit(1);
    },
  );
}

async function banner(stack: LocalStack, options: LocalStackEnvOptions): Promise<string> {
  // Signed as `npm run token` signs: the claims the authorizer reads from the same environment.
  const claims = readClaimRules(process.env);
  const token = await signLocalToken('42', {
    secret: stack.jwtSecret,
    ttlSeconds: Math.min(LOCAL_TOKEN_TTL_SECONDS, claims.maxLifetimeSeconds),
    audience: claims.audience,
    ...(claims.issuers && { issuer: claims.issuers[0] }),
  });
  const database = stack.dynamoDbEmbedded
    ? `${stack.dynamoDbEndpoint}  (dynalite in this process, in memory)`
    : `${stack.dynamoDbEndpoint}  (external)`;
  // Stated in full: a token signed elsewhere (PyJWT, jose) needs it, and it guards nothing.
  const secret = options.jwtSecretIsDefault
    ? `${JSON.stringify(stack.jwtSecret)}: the local default, npm run token's too (JWT_SECRET sets another)`
    : 'from JWT_SECRET';
  return `
TripSync Realtime: local stack (the handler modules in lambdas/, as CDK deploys them)

  WebSocket      ${stack.url}?token=<JWT>        (also ${stack.url}/${stack.stage})
  @connections   ${stack.endpoint}/@connections/{connectionId}
  Lambda Invoke  ${stack.endpoint}  functions "send" and "presence"
  SQS            ${stack.queueUrl}  (dead letters: ${stack.deadLetterQueueUrl})
  EventBridge    ${stack.endpoint}  PutEvents, detail type "TripSync Notification" into the queue
  Demo page      ${stack.endpoint}/?user=ann   (protocol v2: open it as two users, drop one, send)
  DynamoDB       ${database}
  Tables         ${stack.tableName}, ${stack.messageTableName} (messages kept ${options.messageRetentionSeconds} s)
  JWT secret     ${secret}
  Timeouts       idle ${options.idleTimeoutMs / 1000} s, maximum ${options.maxConnectionDurationMs / 1000} s
  Per user       at most ${options.maxConnectionsPerUser} live connections (MAX_CONNECTIONS_PER_USER)

Try it (a token for user 42, valid 4 hours; more with: npm run --silent token -- <userId>):

  npx wscat -c '${stack.url}?token=${token}'
      then type {"action":"whoami"} or {"action":"ping"}

  # The AWS CLI must sign, with any credentials: nothing here checks them.
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=${stack.region}
  aws lambda invoke --endpoint-url ${stack.endpoint} --function-name send \\
      --cli-binary-format raw-in-base64-out \\
      --payload '{"userId":"42","message":{"type":"hello"}}' out.json && cat out.json
      (the function's answer goes to out.json, the CLI's own to stdout;
       AWS CLI v1: leave out --cli-binary-format raw-in-base64-out)
  aws dynamodb scan --endpoint-url ${stack.dynamoDbEndpoint} --table-name ${stack.tableName}

  # Through the queue, and who is online:
  aws sqs send-message --endpoint-url ${stack.endpoint} --queue-url ${stack.queueUrl} \\
      --message-body '{"userId":"42","message":{"type":"queued"}}'
  AWS_ENDPOINT_URL=${stack.endpoint} /usr/bin/python3 examples/python/presence.py 42

  # The same from TypeScript, Python (boto3, PyJWT, websockets) and a script: examples/
  AWS_ENDPOINT_URL=${stack.endpoint} npx tsx examples/typescript/send.ts 42 '{"type":"hello"}'

Ctrl-C stops: every socket is closed with 1001 and gets its $disconnect.

`;
}

function describe(error: unknown): string {
  if (error instanceof ConfigError || error instanceof PortInUseError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${describe(error)}\n`);
  if (process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
