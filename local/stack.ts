import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ConfigError } from '../lambdas/core/errors';
import {
  FUNCTION_NAMES,
  FUNCTIONS,
  functionForRoute,
  functionsTriggeredBy,
  routeKeyOf,
} from '../lambdas/manifest';
import { AWS_LIMITS, SETTINGS } from '../lambdas/shared/limits';
import {
  checkInteger,
  checkLogLevel,
  checkSecret,
  checkStage,
  DEFAULTS,
  LOCAL_JWT_SECRET,
  MAX_FUNCTION_CONCURRENCY,
  MAX_LOCAL_DURATION_MS,
} from './config';
import { GATEWAY_CLOSES } from './connection';
import { serveDemo } from './demo';
import { displayHost, startLocalDynamoDb } from './dynamodb';
import { FunctionWorkers } from './function-workers';
import { sendJson } from './http';
import { handleInvokeRequest, invokedFunctionName } from './lambda-api';
import {
  type FunctionName,
  HANDLER_MODULES,
  handlerModuleUrl,
  InProcessHandler,
  type InvocationRecord,
  type LambdaHandler,
  LocalFunction,
  workerHandler,
} from './lambda-runtime';
import { listen } from './listen';
import { type LogSink, StackLog } from './log';
import { handleManagementRequest, managementConnectionId } from './management-api';
import { ConnectionRegistry } from './registry';
import { handleUpgrade, protocolFromConnect } from './upgrade';

/** Options of `startLocalStack`; every one has a default in `local/config.ts`. */
export interface LocalStackOptions {
  /** Bind address of every server. @default '127.0.0.1' */
  host?: string;
  /** Gateway port (WebSocket, `@connections`, Lambda Invoke); 0 picks a free one. @default 3001 */
  port?: number;
  /** Embedded dynalite's port; 0 picks a free one. @default 8000 */
  dynamoDbPort?: number;
  /** An external DynamoDB API (DynamoDB Local, AWS) instead of embedding dynalite. */
  dynamoDbEndpoint?: string;
  /** @default 'Connections' */
  tableName?: string;
  /** The message log table. @default 'MessageLog' */
  messageTableName?: string;
  /** `MESSAGE_RETENTION_SECONDS` of the functions: how long a logged message is replayed. @default 86400 */
  messageRetentionSeconds?: number;
  /** @default 'local' */
  stage?: string;
  /** @default 'us-east-1' */
  region?: string;
  /** HS256 secret, at least 32 bytes. @default LOCAL_JWT_SECRET */
  jwtSecret?: string;
  /** Closes a connection without data frames for this long (1001). @default 600000 */
  idleTimeoutMs?: number;
  /** Closes every connection at this age (1001). @default 7200000 */
  maxConnectionDurationMs?: number;
  /** `MAX_CONNECTIONS_PER_USER` of `$connect`: the next handshake gets 429. @default 20 */
  maxConnectionsPerUser?: number;
  /** A route invocation slower than this answers "Endpoint request timed out". @default 29000 */
  integrationTimeoutMs?: number;
  /** Lambda timeout of the authorizer, `$connect`, `$disconnect` and route functions. @default 10000 */
  handlerTimeoutMs?: number;
  /** Lambda timeout of `send`. @default 30000 */
  sendTimeoutMs?: number;
  /** `POWERTOOLS_LOG_LEVEL` for the handlers' JSON logs. @default 'WARN' */
  handlerLogLevel?: string;
  /** Workers per function, each running one invocation at a time. @default 2 */
  functionConcurrency?: number;
  /** An idle function worker stops after this long. @default 300000 */
  functionIdleTimeoutMs?: number;
  /**
   * Modules (file URLs) each function worker imports before its handler module: instrumentation
   * such as the benchmark's request counters, as a Lambda layer's wrapper script would load.
   */
  functionPreload?: string[];
  /** Where readable log lines go; `false` for none. @default stdout */
  log?: LogSink | false;
  /** Called after every invocation with the event the handler received and its outcome. */
  onInvoke?: (record: InvocationRecord) => void;
  /**
   * Replaces or wraps a deployed handler (tests: a Deny authorizer, a `$connect` subprotocol).
   * `handler` runs the deployed module in the function's workers; a replacement that is not
   * `handler` itself runs on the stack's thread, sharing the test's state.
   */
  wrapHandler?: (name: FunctionName, handler: LambdaHandler) => LambdaHandler;
  /** Custom routes by route key, selected by `$request.body.action`; run on the stack's thread. */
  routes?: Record<string, LambdaHandler>;
}

/** A running local stack. */
export interface LocalStack {
  /** The WebSocket URL, e.g. `ws://127.0.0.1:3001`. */
  url: string;
  /** The HTTP origin of `@connections` and Lambda Invoke, e.g. `http://127.0.0.1:3001`. */
  endpoint: string;
  port: number;
  dynamoDbEndpoint: string;
  /** True when dynalite runs in this process. */
  dynamoDbEmbedded: boolean;
  tableName: string;
  messageTableName: string;
  stage: string;
  region: string;
  jwtSecret: string;
  /** Open WebSocket connections. */
  connectionCount(): number;
  /**
   * Closes every socket with 1001, runs `$disconnect` for each, waits for background
   * invocations, then stops the servers. Safe to call twice.
   */
  stop(): Promise<void>;
}

/** Routes the handshake and the close run; every other route key selects a message route. */
const CONNECTION_ROUTE_KEYS: readonly string[] = ['$connect', '$disconnect'];

/** How long stop() waits for clients to answer the close frame before dropping them. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * Starts the whole backend in this process: the WebSocket gateway, the Management API and the
 * Lambda Invoke API on one origin, and DynamoDB (embedded dynalite unless `dynamoDbEndpoint`),
 * running the handler modules CDK deploys, each function in worker threads of its own. Every
 * worker gets this process's environment plus the function's own (`TABLE_NAME`,
 * `DYNAMODB_ENDPOINT`, `CONNECTIONS_ENDPOINT`, `JWT_SECRET`, `MAX_CONNECTIONS_PER_USER`,
 * `AWS_REGION`, dummy credentials)
 * as its `process.env`; this process's `process.env` is left as it was, so stacks started
 * side by side cannot read each other's endpoints. One worker per function starts with the
 * stack: a handler module that cannot load (a configuration error) fails the start.
 *
 * @example
 * const stack = await startLocalStack({ port: 0, dynamoDbPort: 0, idleTimeoutMs: 500, log: false });
 * const ws = new WebSocket(`${stack.url}?token=${await signLocalToken('42', { secret: stack.jwtSecret })}`);
 * // ...
 * await stack.stop();
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const config = resolveOptions(options);
  // Every AWS SDK client on Node 20 warns that Lambda runs a newer Node; noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const log = new StackLog(
    options.log === false
      ? () => {}
      : (options.log ?? ((line) => process.stdout.write(`${line}\n`))),
  );
  const api = {
    apiId: DEFAULTS.apiId,
    stage: config.stage,
    region: config.region,
    accountId: DEFAULTS.accountId,
  };
  const registry = new ConnectionRegistry();
  const background = new Set<Promise<void>>();
  const pendingUpgrades = new Set<Promise<void>>();
  let stopping = false;

  let markReady: (deps: Deps) => void = () => {};
  let markFailed: (error: unknown) => void = () => {};
  const ready = new Promise<Deps>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  ready.catch(() => {});

  const server = createServer((req, res) => {
    void ready
      .then((deps) => dispatch(req, res, deps))
      .catch((error: unknown) => {
        log.line(
          'error',
          `${req.method} ${req.url}: ${error instanceof Error ? error.stack : error}`,
        );
        if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' });
        else res.destroy();
      });
  });
  // Upgraded sockets leave the HTTP server's bookkeeping: closeAllConnections() misses them.
  const upgradedSockets = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    upgradedSockets.add(socket);
    socket.on('close', () => upgradedSockets.delete(socket));
    const upgrade = ready
      .then((deps) => handleUpgrade(req, socket, head, deps.upgrade))
      .catch((error: unknown) => {
        log.line('error', `upgrade: ${error instanceof Error ? error.stack : error}`);
        socket.destroy();
      });
    pendingUpgrades.add(upgrade);
    void upgrade.finally(() => pendingUpgrades.delete(upgrade));
  });

  await listen(server, config.port, config.host, 'PORT');
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://${displayHost(config.host)}:${port}`;
  const closeServer = async () => {
    for (const socket of upgradedSockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  let db: Awaited<ReturnType<typeof startLocalDynamoDb>>;
  const credentials = localCredentials(config.dynamoDbEndpoint);
  try {
    db = await startLocalDynamoDb({
      host: config.host,
      port: config.dynamoDbPort,
      ...(config.dynamoDbEndpoint !== undefined && { endpoint: config.dynamoDbEndpoint }),
      tableName: config.tableName,
      messageTableName: config.messageTableName,
      region: config.region,
      ...(credentials && { credentials }),
    });
  } catch (error) {
    markFailed(error);
    await closeServer();
    throw error;
  }

  // Every worker the stack starts, for stop() and for a start that fails half-way.
  const workers = new Map<FunctionName, FunctionWorkers>();
  const stopWorkers = () => Promise.all([...workers.values()].map((runner) => runner.stop()));
  try {
    const functionEnv: Record<string, string> = {
      ...definedEntries(process.env),
      ...(credentials && {
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      }),
      // Every AWS SDK client on Node 20 warns that Lambda runs a newer Node; noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      TABLE_NAME: config.tableName,
      MESSAGE_TABLE_NAME: config.messageTableName,
      [SETTINGS.messageRetentionSeconds.env]: String(config.messageRetentionSeconds),
      DYNAMODB_ENDPOINT: db.endpoint,
      CONNECTIONS_ENDPOINT: endpoint,
      JWT_SECRET: config.jwtSecret,
      MAX_CONNECTIONS_PER_USER: String(config.maxConnectionsPerUser),
      AWS_REGION: config.region,
      POWERTOOLS_LOG_LEVEL: config.handlerLogLevel,
    };
    if (credentials) delete functionEnv.AWS_SESSION_TOKEN;
    const identity = { region: api.region, accountId: api.accountId };
    for (const name of Object.keys(HANDLER_MODULES) as FunctionName[]) {
      workers.set(
        name,
        new FunctionWorkers({
          ...identity,
          functionName: name,
          handlerModule: handlerModuleUrl(name),
          env: functionEnv,
          maxWorkers: config.functionConcurrency,
          idleTimeoutMs: config.functionIdleTimeoutMs,
          preload: options.functionPreload ?? [],
          log,
        }),
      );
    }
    const onInvoke = options.onInvoke && { onInvoke: options.onInvoke };
    const inProcess = (name: string, handler: LambdaHandler, timeoutMs: number) =>
      new LocalFunction(
        name,
        new InProcessHandler(
          { ...identity, functionName: name },
          handler,
          config.functionConcurrency,
        ),
        { timeoutMs, ...onInvoke },
      );
    // Every function of lambdas/manifest.ts, with the Lambda timeout its manifest entry names.
    const timeoutsMs = {
      handlerTimeoutSeconds: config.handlerTimeoutMs,
      sendTimeoutSeconds: config.sendTimeoutMs,
    };
    const functions = new Map(
      FUNCTION_NAMES.map((name) => {
        const timeoutMs = timeoutsMs[FUNCTIONS[name].timeout];
        const runner = workers.get(name) as FunctionWorkers;
        const deployed = workerHandler(runner);
        const replacement = options.wrapHandler?.(name, deployed) ?? deployed;
        const local =
          replacement === deployed
            ? new LocalFunction(name, runner, { timeoutMs, ...onInvoke })
            : inProcess(name, replacement, timeoutMs);
        return [name, local] as const;
      }),
    );
    const fn = (name: FunctionName | undefined, role: string): LocalFunction => {
      const found = name === undefined ? undefined : functions.get(name);
      if (!found) throw new Error(`lambdas/manifest.ts names no ${role} function`);
      return found;
    };
    await Promise.all([...workers.values()].map((runner) => runner.warm()));
    // Message routes: every route of the manifest but $connect and $disconnect, which the
    // handshake and the close run; then the caller's own.
    const routes = new Map<string, LocalFunction>();
    for (const name of functionsTriggeredBy('route')) {
      const routeKey = routeKeyOf(name) as string;
      if (!CONNECTION_ROUTE_KEYS.includes(routeKey)) routes.set(routeKey, fn(name, routeKey));
    }
    for (const [routeKey, handler] of Object.entries(options.routes ?? {})) {
      routes.set(routeKey, inProcess(routeKey, handler, config.handlerTimeoutMs));
    }
    const connectionDeps = {
      api,
      routes,
      disconnect: fn(functionForRoute('$disconnect'), '$disconnect'),
      registry,
      log,
      maxFrameBytes: AWS_LIMITS.maxFrameBytes,
      integrationTimeoutMs: config.integrationTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnectionDurationMs: config.maxConnectionDurationMs,
    };
    markReady({
      upgrade: {
        ...connectionDeps,
        authorizer: fn(functionsTriggeredBy('authorizer')[0], '$connect authorizer'),
        connect: fn(functionForRoute('$connect'), '$connect'),
        wss: new WebSocketServer({
          noServer: true,
          clientTracking: false,
          // API Gateway negotiates no compression; frame sizes are what the client sent.
          perMessageDeflate: false,
          maxPayload: AWS_LIMITS.maxMessageBytes,
          handleProtocols: protocolFromConnect,
        }),
        serverPort: port,
        isStopping: () => stopping,
      },
      registry,
      invoke: {
        // What producers may invoke through the Lambda Invoke API.
        functions: new Map(
          functionsTriggeredBy('invoke').map((name) => [name, fn(name, 'invoked')] as const),
        ),
        region: api.region,
        accountId: api.accountId,
        log,
        background,
      },
      stage: api.stage,
      url: `ws://${displayHost(config.host)}:${port}`,
      jwtSecret: config.jwtSecret,
    });
  } catch (error) {
    markFailed(error);
    await stopWorkers();
    await closeServer();
    await db.stop();
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      await Promise.allSettled([...pendingUpgrades]);
      const open = registry.open();
      if (open.length > 0) log.line('stopping', `closing ${open.length} connection(s) with 1001`);
      for (const connection of open) connection.closeWith(GATEWAY_CLOSES.goingAway);
      const force = setTimeout(() => {
        for (const connection of registry.unfinishedConnections()) connection.terminate();
      }, SHUTDOWN_GRACE_MS);
      await registry.drained();
      clearTimeout(force);
      await Promise.allSettled([...background]);
      await stopWorkers();
      await closeServer();
      await db.stop();
    })();
    return stopped;
  };

  return {
    url: `ws://${displayHost(config.host)}:${port}`,
    endpoint,
    port,
    dynamoDbEndpoint: db.endpoint,
    dynamoDbEmbedded: db.embedded,
    tableName: config.tableName,
    messageTableName: config.messageTableName,
    stage: config.stage,
    region: config.region,
    jwtSecret: config.jwtSecret,
    connectionCount: () => registry.size,
    stop,
  };
}

interface Deps {
  upgrade: Parameters<typeof handleUpgrade>[3];
  registry: ConnectionRegistry;
  invoke: Parameters<typeof handleInvokeRequest>[4];
  stage: string;
  url: string;
  jwtSecret: string;
}

async function dispatch(req: IncomingMessage, res: ServerResponse, deps: Deps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const connectionId = managementConnectionId(url.pathname);
  if (connectionId !== undefined) {
    return handleManagementRequest(req, res, connectionId, deps.registry);
  }
  const functionName = invokedFunctionName(url.pathname);
  if (functionName !== undefined)
    return handleInvokeRequest(req, res, functionName, url, deps.invoke);
  if (await serveDemo(req, res, url, deps)) return;
  req.resume();
  if (url.pathname === '/' || url.pathname === `/${deps.stage}`) {
    return sendJson(res, 426, {
      message: `This is a WebSocket endpoint: connect to ${deps.url}?token=<JWT> (npm run token -- <userId>)`,
    });
  }
  sendJson(res, 404, { message: 'Not Found' });
}

function resolveOptions(options: LocalStackOptions) {
  const routeKeys = Object.keys(options.routes ?? {});
  for (const key of routeKeys) {
    if (key === '' || key === '$connect' || key === '$disconnect') {
      throw new ConfigError('routes', `cannot define a message route ${JSON.stringify(key)}`);
    }
  }
  const duration = MAX_LOCAL_DURATION_MS;
  const lambdaTimeoutMs = AWS_LIMITS.maxLambdaTimeoutSeconds * 1000;
  return {
    host: options.host ?? DEFAULTS.host,
    port: checkInteger('port', options.port ?? DEFAULTS.port, 0, 65535),
    dynamoDbPort: checkInteger(
      'dynamoDbPort',
      options.dynamoDbPort ?? DEFAULTS.dynamoDbPort,
      0,
      65535,
    ),
    dynamoDbEndpoint: options.dynamoDbEndpoint,
    tableName: options.tableName ?? DEFAULTS.tableName,
    messageTableName: options.messageTableName ?? DEFAULTS.messageTableName,
    messageRetentionSeconds: checkInteger(
      'messageRetentionSeconds',
      options.messageRetentionSeconds ?? DEFAULTS.messageRetentionSeconds,
      SETTINGS.messageRetentionSeconds.min,
      SETTINGS.messageRetentionSeconds.max,
    ),
    stage: checkStage('stage', options.stage ?? DEFAULTS.stage),
    region: options.region ?? DEFAULTS.region,
    jwtSecret: checkSecret('jwtSecret', options.jwtSecret ?? LOCAL_JWT_SECRET),
    idleTimeoutMs: checkInteger(
      'idleTimeoutMs',
      options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      1,
      duration,
    ),
    maxConnectionDurationMs: checkInteger(
      'maxConnectionDurationMs',
      options.maxConnectionDurationMs ?? DEFAULTS.maxConnectionDurationMs,
      1,
      duration,
    ),
    maxConnectionsPerUser: checkInteger(
      'maxConnectionsPerUser',
      options.maxConnectionsPerUser ?? DEFAULTS.maxConnectionsPerUser,
      SETTINGS.maxConnectionsPerUser.min,
      SETTINGS.maxConnectionsPerUser.max,
    ),
    integrationTimeoutMs: checkInteger(
      'integrationTimeoutMs',
      options.integrationTimeoutMs ?? DEFAULTS.integrationTimeoutMs,
      1,
      duration,
    ),
    handlerTimeoutMs: checkInteger(
      'handlerTimeoutMs',
      options.handlerTimeoutMs ?? DEFAULTS.handlerTimeoutMs,
      1,
      lambdaTimeoutMs,
    ),
    sendTimeoutMs: checkInteger(
      'sendTimeoutMs',
      options.sendTimeoutMs ?? DEFAULTS.sendTimeoutMs,
      1,
      lambdaTimeoutMs,
    ),
    handlerLogLevel: checkLogLevel(
      'handlerLogLevel',
      options.handlerLogLevel ?? DEFAULTS.handlerLogLevel,
    ),
    functionConcurrency: checkInteger(
      'functionConcurrency',
      options.functionConcurrency ?? DEFAULTS.functionConcurrency,
      1,
      MAX_FUNCTION_CONCURRENCY,
    ),
    functionIdleTimeoutMs: checkInteger(
      'functionIdleTimeoutMs',
      options.functionIdleTimeoutMs ?? DEFAULTS.functionIdleTimeoutMs,
      1,
      duration,
    ),
  };
}

/**
 * The SDK needs credentials to sign, even for dynalite: dummy ones, for the stack's own client
 * and the functions, except when an external non-loopback DynamoDB endpoint is used with
 * credentials already configured (a real table needs real credentials).
 */
function localCredentials(dynamoDbEndpoint: string | undefined) {
  const external =
    dynamoDbEndpoint !== undefined &&
    !['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(dynamoDbEndpoint).hostname);
  const configured = Boolean(process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE);
  if (external && configured) return undefined;
  return { accessKeyId: 'local', secretAccessKey: 'local' };
}

function definedEntries(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
