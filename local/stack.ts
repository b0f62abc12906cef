import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ConfigError } from '../lambdas/core/errors';
import { isShardPayload } from '../lambdas/core/shards';
import {
  FUNCTION_NAMES,
  FUNCTIONS,
  functionForRoute,
  functionSpec,
  functionsTriggeredBy,
  routeKeyOf,
} from '../lambdas/manifest';
import { NOTIFICATION_DETAIL_TYPE } from '../lambdas/shared/eventbridge';
import { AWS_LIMITS, QUEUE, SETTINGS } from '../lambdas/shared/limits';
import { METRICS_NAMESPACE_PREFIX } from '../lambdas/shared/metrics';
import {
  checkInteger,
  checkLogLevel,
  checkSecret,
  checkStage,
  DEFAULTS,
  LOCAL_JWT_SECRET,
  MAX_FUNCTION_CONCURRENCY,
  MAX_LOCAL_DURATION_MS,
  queueVisibilityTimeoutMs,
} from './config';
import { GATEWAY_CLOSES } from './connection';
import { serveDemo } from './demo';
import { displayHost, startLocalDynamoDb } from './dynamodb';
import {
  type BusEvent,
  type EventBridgeApiDeps,
  handleEventBridgeRequest,
  isEventBridgeRequest,
  type LocalRule,
} from './eventbridge-api';
import { FunctionWorkers } from './function-workers';
import { keepIdleConnections, sendJson } from './http';
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
import { QueueEventSource } from './queue-event-source';
import { ConnectionRegistry } from './registry';
import { handleSqsRequest, type SqsApiDeps, sqsProtocolOf } from './sqs-api';
import { LocalQueue, LocalQueues } from './sqs-queue';
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
  /** `SEND_SHARD_SIZE` of `send`: a send to more connections is sharded. @default 1000 */
  sendShardSize?: number;
  /** A route invocation slower than this answers "Endpoint request timed out". @default 29000 */
  integrationTimeoutMs?: number;
  /** Lambda timeout of the authorizer, `$connect`, `$disconnect` and route functions. @default 10000 */
  handlerTimeoutMs?: number;
  /** Lambda timeout of `send`, the queue consumer and `presence`. @default 30000 */
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
  /**
   * Given to every function worker as `workerData.preloadData` for the preloads to read: e.g.
   * a SharedArrayBuffer the benchmark's counters add to, which needs no message per count.
   */
  functionPreloadData?: unknown;
  /** Where readable log lines go; `false` for none. @default stdout */
  log?: LogSink | false;
  /**
   * Start one worker of every function with the stack, so that a handler that cannot load (a
   * configuration error, a syntax error) fails the start, and first invocations are warm.
   * Without it a function's first worker starts on its first invocation, as on Lambda.
   * `npm start` warms. @default false
   */
  warmFunctions?: boolean;
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
  /** The notification queue's visibility timeout. @default 6 × sendTimeoutMs, as deployed */
  queueVisibilityTimeoutMs?: number;
  /** Receives before a message moves to the dead-letter queue. @default 5 */
  queueMaxReceiveCount?: number;
  /** Records per invocation of the queue consumer. @default 10 */
  queueBatchSize?: number;
  /** How long the event source gathers records before invoking. @default 0 */
  queueMaxBatchingWindowMs?: number;
  /**
   * Deliver `TripSync Notification` events put on the local default bus into the notification
   * queue (the construct's `notificationRule`). @default true
   */
  notificationRule?: boolean;
  /** connect and disconnect put presence-change events on the local bus. @default false */
  presenceEvents?: boolean;
  /** Sees every event put on the local bus (presence changes, notifications). */
  onEvent?: (event: BusEvent) => void;
}

/** A running local stack. */
export interface LocalStack {
  /** The WebSocket URL, e.g. `ws://127.0.0.1:3001`. */
  url: string;
  /**
   * The HTTP origin of `@connections`, Lambda Invoke, SQS and EventBridge, e.g.
   * `http://127.0.0.1:3001`.
   */
  endpoint: string;
  /** The notification queue, e.g. `http://127.0.0.1:3001/000000000000/notifications`. */
  queueUrl: string;
  /** Its dead-letter queue. */
  deadLetterQueueUrl: string;
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
   * Sets environment variables of a function, as Lambda's `UpdateFunctionConfiguration`: idle
   * workers stop, busy ones after their invocation, and later invocations run with them.
   */
  updateFunctionEnvironment(name: FunctionName, variables: Record<string, string>): void;
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
 * Lambda Invoke API, SQS and EventBridge on one origin, and DynamoDB (embedded dynalite unless `dynamoDbEndpoint`),
 * running the handler modules CDK deploys, each function in worker threads of its own. Every
 * worker gets this process's environment plus the function's own (`TABLE_NAME`,
 * `MESSAGE_TABLE_NAME`, `DYNAMODB_ENDPOINT`, `CONNECTIONS_ENDPOINT`, `JWT_SECRET`,
 * `MAX_CONNECTIONS_PER_USER`, `DEAD_LETTER_QUEUE_URL`, the metrics namespace, `AWS_REGION`,
 * dummy credentials; `PRESENCE_EVENT_BUS` for connect and disconnect with `presenceEvents`)
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
  const eventSources: QueueEventSource[] = [];
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
  // With Node's default, a shard invocation (one attempt only, as it may have run) written on a
  // pooled socket as the server closed it counted its connections failed. stop() closes every
  // connection, idle or not.
  keepIdleConnections(server);
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
  const queues = createQueues(endpoint, api, config, log);
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
  /** The workers of a function's invocations of itself (see `LocalFunctionOptions`). */
  const ownWorkers = new Map<FunctionName, FunctionWorkers>();
  const envOverrides = new Map<FunctionName, Record<string, string>>();
  const stopWorkers = () =>
    Promise.all([...workers.values(), ...ownWorkers.values()].map((runner) => runner.stop()));
  let envOf: (name: FunctionName) => Record<string, string> = () => ({});
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
      DEAD_LETTER_QUEUE_URL: queues.deadLetters.url,
      // As Lambda sets it for on-demand functions: Powertools logs cold_start true only then.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      POWERTOOLS_METRICS_NAMESPACE: `${METRICS_NAMESPACE_PREFIX}/local`,
      // The metric lines are log lines: printed at every level but SILENT.
      POWERTOOLS_METRICS_DISABLED: String(config.handlerLogLevel === 'SILENT'),
    };
    if (credentials) delete functionEnv.AWS_SESSION_TOKEN;
    // Presence events go only to the functions that publish them, as the construct sets it;
    // never inherited from this process's environment.
    delete functionEnv.PRESENCE_EVENT_BUS;
    delete functionEnv.EVENTS_ENDPOINT;
    // One per stack, as one per deployment: only this stack's send accepts its shards.
    const shardSigningKey = randomBytes(32).toString('base64url');
    envOf = (name) => ({
      ...functionEnv,
      // Lambda sets it in every function's environment.
      AWS_LAMBDA_FUNCTION_NAME: name,
      ...(config.presenceEvents &&
        functionSpec(name).needs.presenceEvents && {
          PRESENCE_EVENT_BUS: 'default',
          EVENTS_ENDPOINT: endpoint,
        }),
      ...(functionSpec(name).needs.invokesItself && {
        // On AWS the Lambda client finds the regional endpoint; here it is this stack's.
        LAMBDA_ENDPOINT: endpoint,
        SHARD_SIGNING_KEY: shardSigningKey,
        [SETTINGS.sendShardSize.env]: String(config.sendShardSize),
      }),
      ...envOverrides.get(name),
    });
    const identity = { region: api.region, accountId: api.accountId };
    const pool = (name: FunctionName, logName?: string) =>
      new FunctionWorkers({
        ...identity,
        functionName: name,
        handlerModule: handlerModuleUrl(name),
        env: envOf(name),
        maxWorkers: config.functionConcurrency,
        idleTimeoutMs: config.functionIdleTimeoutMs,
        preload: options.functionPreload ?? [],
        preloadData: options.functionPreloadData,
        log,
        ...(logName !== undefined && { logName }),
      });
    for (const name of Object.keys(HANDLER_MODULES) as FunctionName[]) {
      workers.set(name, pool(name));
      if (functionSpec(name).needs.invokesItself) ownWorkers.set(name, pool(name, `${name}/own`));
    }
    const onInvoke = options.onInvoke && { onInvoke: options.onInvoke };
    const inProcessRunner = (name: string, handler: LambdaHandler) =>
      new InProcessHandler(
        { ...identity, functionName: name },
        handler,
        config.functionConcurrency,
      );
    const inProcess = (name: string, handler: LambdaHandler, timeoutMs: number) =>
      new LocalFunction(name, inProcessRunner(name, handler), { timeoutMs, ...onInvoke });
    // Every function of lambdas/manifest.ts, with the Lambda timeout its manifest entry names.
    const timeoutsMs = {
      handlerTimeoutSeconds: config.handlerTimeoutMs,
      sendTimeoutSeconds: config.sendTimeoutMs,
    };
    const functions = new Map(
      FUNCTION_NAMES.map((name) => {
        const timeoutMs = timeoutsMs[FUNCTIONS[name].timeout];
        const runner = workers.get(name) as FunctionWorkers;
        const own = ownWorkers.get(name);
        // The send core marks the payloads of a function's invocations of itself (its shards).
        const matches = isShardPayload;
        const deployedMain = workerHandler(runner);
        const deployedOwn = own && workerHandler(own);
        const deployed: LambdaHandler = deployedOwn
          ? (event, context) => (matches(event) ? deployedOwn : deployedMain)(event, context)
          : deployedMain;
        const replacement = options.wrapHandler?.(name, deployed) ?? deployed;
        const local =
          replacement === deployed
            ? new LocalFunction(name, runner, {
                timeoutMs,
                ...onInvoke,
                ...(own && { ownInvocations: { runner: own, matches } }),
              })
            : new LocalFunction(name, inProcessRunner(name, replacement), {
                timeoutMs,
                ...onInvoke,
                ...(own && {
                  ownInvocations: { runner: inProcessRunner(name, replacement), matches },
                }),
              });
        return [name, local] as const;
      }),
    );
    const fn = (name: FunctionName | undefined, role: string): LocalFunction => {
      const found = name === undefined ? undefined : functions.get(name);
      if (!found) throw new Error(`lambdas/manifest.ts names no ${role} function`);
      return found;
    };
    if (options.warmFunctions) {
      await Promise.all([...workers.values()].map((runner) => runner.warm()));
    }
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
    // The event source mapping of each queue-triggered function (one queue: notifications).
    for (const name of functionsTriggeredBy('queue')) {
      eventSources.push(
        new QueueEventSource(queues.notifications, fn(name, 'queue consumer'), {
          batchSize: config.queueBatchSize,
          maxBatchingWindowMs: config.queueMaxBatchingWindowMs,
          region: api.region,
          log,
        }),
      );
    }
    const rules: LocalRule[] = config.notificationRule
      ? [
          {
            name: 'notifications',
            matches: (event) => event['detail-type'] === NOTIFICATION_DETAIL_TYPE,
            // The construct's rule sends `$.detail` alone: the queue holds send payloads.
            deliver: (event) => {
              const body = JSON.stringify(event.detail);
              const sent = queues.notifications.send({ body, senderId: 'events.amazonaws.com' });
              log.line(
                'queue',
                `${queues.notifications.name} ← message ${sent.messageId} (event ${event.id})`,
              );
            },
          },
        ]
      : [];
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
      sqs: { queues: queues.all, log },
      events: {
        region: api.region,
        accountId: api.accountId,
        rules,
        log,
        ...(options.onEvent && { onEvent: options.onEvent }),
      },
    });
    for (const source of eventSources) source.start();
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
      // Batches in flight finish while their sockets are still open; nothing new is polled.
      await Promise.allSettled(eventSources.map((source) => source.stop()));
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
    queueUrl: queues.notifications.url,
    deadLetterQueueUrl: queues.deadLetters.url,
    port,
    dynamoDbEndpoint: db.endpoint,
    dynamoDbEmbedded: db.embedded,
    tableName: config.tableName,
    messageTableName: config.messageTableName,
    stage: config.stage,
    region: config.region,
    jwtSecret: config.jwtSecret,
    connectionCount: () => registry.size,
    updateFunctionEnvironment(name, variables) {
      envOverrides.set(name, { ...envOverrides.get(name), ...variables });
      for (const runner of [workers.get(name), ownWorkers.get(name)])
        runner?.reconfigure(envOf(name));
    },
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
  sqs: SqsApiDeps;
  events: EventBridgeApiDeps;
}

async function dispatch(req: IncomingMessage, res: ServerResponse, deps: Deps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  if (isEventBridgeRequest(req)) return handleEventBridgeRequest(req, res, deps.events);
  const sqsProtocol = sqsProtocolOf(req, url, deps.sqs.queues);
  if (sqsProtocol !== undefined) return handleSqsRequest(req, res, url, sqsProtocol, deps.sqs);
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

/** The options with an integer default in `DEFAULTS`. */
type IntegerOption = {
  [K in keyof LocalStackOptions & keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends number
    ? K
    : never;
}[keyof LocalStackOptions & keyof typeof DEFAULTS];

function resolveOptions(options: LocalStackOptions) {
  const routeKeys = Object.keys(options.routes ?? {});
  for (const key of routeKeys) {
    if (key === '' || key === '$connect' || key === '$disconnect') {
      throw new ConfigError('routes', `cannot define a message route ${JSON.stringify(key)}`);
    }
  }
  /** An integer option: given or its default, checked against its range (names the option). */
  const integer = (name: IntegerOption, min: number, max: number) =>
    checkInteger(name, options[name] ?? DEFAULTS[name], min, max);
  const duration = MAX_LOCAL_DURATION_MS;
  const lambdaTimeoutMs = AWS_LIMITS.maxLambdaTimeoutSeconds * 1000;
  return {
    host: options.host ?? DEFAULTS.host,
    port: integer('port', 0, 65535),
    dynamoDbPort: integer('dynamoDbPort', 0, 65535),
    dynamoDbEndpoint: options.dynamoDbEndpoint,
    tableName: options.tableName ?? DEFAULTS.tableName,
    messageTableName: options.messageTableName ?? DEFAULTS.messageTableName,
    messageRetentionSeconds: integer(
      'messageRetentionSeconds',
      SETTINGS.messageRetentionSeconds.min,
      SETTINGS.messageRetentionSeconds.max,
    ),
    stage: checkStage('stage', options.stage ?? DEFAULTS.stage),
    region: options.region ?? DEFAULTS.region,
    jwtSecret: checkSecret('jwtSecret', options.jwtSecret ?? LOCAL_JWT_SECRET),
    idleTimeoutMs: integer('idleTimeoutMs', 1, duration),
    maxConnectionDurationMs: integer('maxConnectionDurationMs', 1, duration),
    maxConnectionsPerUser: integer(
      'maxConnectionsPerUser',
      SETTINGS.maxConnectionsPerUser.min,
      SETTINGS.maxConnectionsPerUser.max,
    ),
    sendShardSize: integer('sendShardSize', SETTINGS.sendShardSize.min, SETTINGS.sendShardSize.max),
    integrationTimeoutMs: integer('integrationTimeoutMs', 1, duration),
    handlerTimeoutMs: integer('handlerTimeoutMs', 1, lambdaTimeoutMs),
    sendTimeoutMs: integer('sendTimeoutMs', 1, lambdaTimeoutMs),
    handlerLogLevel: checkLogLevel(
      'handlerLogLevel',
      options.handlerLogLevel ?? DEFAULTS.handlerLogLevel,
    ),
    functionConcurrency: integer('functionConcurrency', 1, MAX_FUNCTION_CONCURRENCY),
    functionIdleTimeoutMs: integer('functionIdleTimeoutMs', 1, duration),
    queueVisibilityTimeoutMs: checkInteger(
      'queueVisibilityTimeoutMs',
      options.queueVisibilityTimeoutMs ??
        queueVisibilityTimeoutMs(options.sendTimeoutMs ?? DEFAULTS.sendTimeoutMs),
      0,
      QUEUE.maxVisibilityTimeoutSeconds * 1000,
    ),
    queueMaxReceiveCount: integer(
      'queueMaxReceiveCount',
      QUEUE.maxReceiveCount.min,
      QUEUE.maxReceiveCount.max,
    ),
    queueBatchSize: integer('queueBatchSize', QUEUE.batchSize.min, QUEUE.batchSize.max),
    queueMaxBatchingWindowMs: integer(
      'queueMaxBatchingWindowMs',
      0,
      QUEUE.maxBatchingWindowSeconds.max * 1000,
    ),
    notificationRule: options.notificationRule ?? true,
    presenceEvents: options.presenceEvents ?? false,
  };
}

/**
 * The notification queue and its dead-letter queue, configured as the construct deploys them
 * (redrive after `maxReceiveCount` receives, 4 and 14 days of retention, 256 KiB messages).
 */
function createQueues(
  endpoint: string,
  api: { region: string; accountId: string },
  config: ReturnType<typeof resolveOptions>,
  log: StackLog,
) {
  const queue = (name: string) => ({
    name,
    url: `${endpoint}/${api.accountId}/${name}`,
    arn: `arn:aws:sqs:${api.region}:${api.accountId}:${name}`,
    visibilityTimeoutMs: config.queueVisibilityTimeoutMs,
    maxMessageBytes: QUEUE.maxMessageBytes,
  });
  const day = 24 * 60 * 60 * 1000;
  const deadLetters = new LocalQueue({
    ...queue(DEFAULTS.deadLetterQueueName),
    visibilityTimeoutMs: QUEUE.defaultVisibilityTimeoutSeconds * 1000,
    retentionMs: QUEUE.deadLetterRetentionDays * day,
  });
  const notifications = new LocalQueue({
    ...queue(DEFAULTS.queueName),
    retentionMs: QUEUE.retentionDays * day,
    redrive: { deadLetterQueue: deadLetters, maxReceiveCount: config.queueMaxReceiveCount },
    onRedrive: (message) =>
      log.line(
        'dead-letter',
        `message ${message.messageId} moved to ${deadLetters.name} after ${config.queueMaxReceiveCount} receive(s)`,
      ),
  });
  const all = new LocalQueues();
  all.add(notifications);
  all.add(deadLetters);
  return { notifications, deadLetters, all };
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
