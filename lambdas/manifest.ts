// Import-free but for types from another import-free module: the CDK app, the local stack, the
// benchmark and the tests read this without loading any function's code or the SDK.
import type { DeployedSetting } from './shared/limits';

/**
 * The backend's functions, in one place: each one's handler module, what starts it and what it
 * needs. The CDK construct (`lib/tripsync-realtime.ts`) builds each function, its route,
 * integration, role, environment and cdk-nag acknowledgements from this; the local stack
 * (`local/stack.ts`) runs and routes the same modules; the bundle benchmark and the tests
 * iterate it. Adding a function is: its handler, an entry here, and its tests
 * (docs/adding-a-function.md).
 *
 * The name is part of the deployed contract: the construct ids derive from it (`connect` →
 * `ConnectHandler`, `ConnectIntegration`), and renaming one replaces its resources.
 */

/** The identity source of the `$connect` authorizer: browsers cannot set headers on a WebSocket. */
export const TOKEN_IDENTITY_SOURCE = 'route.request.querystring.token';

/** What starts a function. */
export type FunctionTrigger =
  /** The REQUEST Lambda authorizer of `$connect`; API Gateway authorizes nothing else. */
  | { readonly kind: 'authorizer'; readonly routeKey: '$connect'; readonly identitySource: string }
  /**
   * A WebSocket route: `$connect`, `$disconnect`, `$default`, or a value of the frame's
   * `action` (the route selection expression is `$request.body.action`). A two-way route sends
   * the function's `body` back to the client.
   */
  | {
      readonly kind: 'route';
      readonly routeKey: string;
      readonly twoWay?: boolean;
      /**
       * `frames`: the route carries a client's own frames and gets the stage's lower frame
       * throttle (`frameThrottling*` props) instead of the stage-wide one `$connect` keeps.
       */
      readonly throttle?: 'frames';
    }
  /** Lambda `Invoke` by producers (other services, the Python backend). */
  | { readonly kind: 'invoke' }
  /**
   * The notification queue, through an event source mapping with partial batch responses
   * (`ReportBatchItemFailures`): producers send to the queue, or put EventBridge events the
   * construct's rule delivers into it.
   */
  | { readonly kind: 'queue' };

/** Part of the connection table a statement grants access to. */
export type TableResource = 'table' | 'connectionIdIndex';

/** One IAM statement on the connection table: its id, the DynamoDB actions, and where. */
export interface TableAccess {
  readonly sid: string;
  readonly actions: readonly `dynamodb:${string}`[];
  readonly on: readonly TableResource[];
}

/** One IAM statement on the message log table (it has no index): its id and DynamoDB actions. */
export interface MessageLogAccess {
  readonly sid: string;
  readonly actions: readonly `dynamodb:${string}`[];
}

/** What a function needs; the construct grants exactly this and sets the matching variables. */
export interface FunctionNeeds {
  /** The connection table: `TABLE_NAME`, and these statements (least privilege, by action). */
  readonly connectionTable?: readonly TableAccess[];
  /**
   * The message log: `MESSAGE_TABLE_NAME`, and these statements on its table (least privilege,
   * by action). `MESSAGE_RETENTION_SECONDS` comes with `settings`, for functions that append.
   */
  readonly messageLog?: readonly MessageLogAccess[];
  /** Construct props the function reads from its environment (`lambdas/shared/limits.ts`). */
  readonly settings?: readonly DeployedSetting[];
  /**
   * Token verification: `JWT_AUDIENCE` always; read access to the HS256 secret and
   * `JWT_SECRET_ARN` when there is one; `JWKS_URL` when a JWKS is configured; `JWT_ISSUER` when
   * issuers are.
   */
  readonly jwtSecret?: boolean;
  /**
   * The Management API (`@connections`) of this API's stage: `CONNECTIONS_ENDPOINT`, and
   * `execute-api:ManageConnections` for these verbs only, in one statement.
   */
  readonly managementApi?: { readonly sid: string; readonly verbs: readonly ManagementVerb[] };
  /**
   * Invokes itself (a sharded fan-out, one level deep): `lambda:InvokeFunction` on its own ARN
   * only, in one statement, and `SHARD_SIGNING_KEY`, the key that tells its own payloads from a
   * producer's. Lambda sets `AWS_LAMBDA_FUNCTION_NAME`; locally the stack sets it, and
   * `LAMBDA_ENDPOINT` to its own Invoke API.
   */
  readonly invokesItself?: { readonly sid: string };
  /**
   * Sending to the dead-letter queue (`sqs:SendMessage` on it alone, in one statement) and its
   * URL in `DEAD_LETTER_QUEUE_URL`: a queue consumer moves a bad payload there at once.
   */
  readonly deadLetterQueue?: { readonly sid: string };
  /** Publishes metrics (Powertools Metrics, EMF): `POWERTOOLS_METRICS_NAMESPACE`. */
  readonly metrics?: boolean;
  /**
   * Presence-change events, when the construct's `presenceEvents` prop is on: `events:PutEvents`
   * on the bus, `PRESENCE_EVENT_BUS`, and, with a `sid`, `dynamodb:Query` on the table in a
   * statement of that id, to read the user's live connections (without one, the function
   * already reads them). Off, the bundle carries no EventBridge client.
   */
  readonly presenceEvents?: { readonly sid?: string };
}

/**
 * The construct props that reserve a function's concurrency. Lambda's reservation is a guarantee
 * and a cap at once; what it is for is the function's {@link ReservedConcurrency}.
 */
export type ReservedConcurrencyProp =
  | 'authorizerReservedConcurrency'
  | 'defaultRouteReservedConcurrency'
  | 'sendReservedConcurrency'
  | 'disconnectReservedConcurrency';

/** Which prop reserves a function's concurrency, and why. */
export interface ReservedConcurrency {
  readonly prop: ReservedConcurrencyProp;
  /**
   * `ceiling`: clients start it, so a flood must not drain the account's concurrency; reserved
   * by default. `floor`: it must keep running when the account is busy; reserved only when the
   * prop is set, since the reservation also caps it.
   */
  readonly purpose: 'ceiling' | 'floor';
}

/** `POST` posts to a connection, `GET` reads its status, `DELETE` disconnects it. */
export type ManagementVerb = 'POST' | 'GET' | 'DELETE';

/** One function of the backend. */
export interface FunctionSpec {
  /** The handler module, relative to `lambdas/`; it exports `handler`. */
  readonly entry: string;
  /** The function's description on AWS and on its role. */
  readonly description: string;
  readonly trigger: FunctionTrigger;
  /**
   * The construct prop that sets its Lambda timeout: functions behind API Gateway answer within
   * its 29 s integration timeout (`handlerTimeoutSeconds`), as do quick reads; the functions
   * that fan out (`sendTimeoutSeconds`) may take longer.
   */
  readonly timeout: 'handlerTimeoutSeconds' | 'sendTimeoutSeconds';
  /** The construct prop that sets its memory: the functions that fan out have their own (it is CPU-bound). */
  readonly memory: 'memorySizeMiB' | 'sendMemorySizeMiB';
  /** Unreserved (the account's shared pool) when absent. */
  readonly reservedConcurrency?: ReservedConcurrency;
  readonly needs: FunctionNeeds;
}

/**
 * Every function, by name, in the order the construct creates them.
 *
 * @example
 * FUNCTIONS.send.trigger;        // { kind: 'invoke' }
 * FUNCTIONS.default.entry;       // 'default.ts'
 */
export const FUNCTIONS = {
  authorizer: {
    entry: 'authorizer.ts',
    description: 'TripSync realtime: verifies the token of a WebSocket $connect',
    trigger: { kind: 'authorizer', routeKey: '$connect', identitySource: TOKEN_IDENTITY_SOURCE },
    timeout: 'handlerTimeoutSeconds',
    memory: 'memorySizeMiB',
    // Every handshake with a token invokes it, valid or not.
    reservedConcurrency: { prop: 'authorizerReservedConcurrency', purpose: 'ceiling' },
    needs: { jwtSecret: true, settings: ['jwtMaxLifetimeSeconds'], metrics: true },
  },
  connect: {
    entry: 'connect.ts',
    description: 'TripSync realtime: records a connection ($connect)',
    trigger: { kind: 'route', routeKey: '$connect' },
    timeout: 'handlerTimeoutSeconds',
    memory: 'memorySizeMiB',
    needs: {
      connectionTable: [
        // The row, and adding it to the user's counter item (an ADD; a repair sets it).
        {
          sid: 'RecordConnection',
          actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
          on: ['table'],
        },
        // MAX_CONNECTIONS_PER_USER: count the user's live rows when the counter is over the
        // cap (a strongly consistent Query), and delete the row of a connect refused over it
        // (and the counter item, when that leaves it at zero).
        {
          sid: 'CapConnectionsPerUser',
          actions: ['dynamodb:Query', 'dynamodb:DeleteItem'],
          on: ['table'],
        },
      ],
      settings: ['connectionTtlSeconds', 'maxConnectionsPerUser'],
      metrics: true,
      // The cap's Query reads the live rows a first connection is told by: no grant of its own.
      presenceEvents: {},
    },
  },
  disconnect: {
    entry: 'disconnect.ts',
    description: 'TripSync realtime: removes a connection ($disconnect)',
    trigger: { kind: 'route', routeKey: '$disconnect' },
    timeout: 'handlerTimeoutSeconds',
    memory: 'memorySizeMiB',
    // A lost $disconnect leaves a row that counts against the user's cap until its TTL.
    reservedConcurrency: { prop: 'disconnectReservedConcurrency', purpose: 'floor' },
    needs: {
      connectionTable: [
        // The row, then taking it off the user's counter item (deleted once at zero).
        {
          sid: 'RemoveConnection',
          actions: ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
          on: ['table'],
        },
        // The owner of a connection whose $disconnect lacks the authorizer context.
        { sid: 'FindConnectionOwner', actions: ['dynamodb:Query'], on: ['connectionIdIndex'] },
      ],
      settings: ['connectionTtlSeconds'],
      metrics: true,
      presenceEvents: { sid: 'CountConnectionsForPresence' },
    },
  },
  default: {
    entry: 'default.ts',
    description: 'TripSync realtime: answers client frames ($default, two-way)',
    // Two-way: API Gateway sends the function's `body` back to the client.
    trigger: { kind: 'route', routeKey: '$default', twoWay: true, throttle: 'frames' },
    timeout: 'handlerTimeoutSeconds',
    memory: 'memorySizeMiB',
    // Every frame a client sends invokes it.
    reservedConcurrency: { prop: 'defaultRouteReservedConcurrency', purpose: 'ceiling' },
    needs: {},
  },
  send: {
    entry: 'send.ts',
    description: "TripSync realtime: posts a notification to a user's connections",
    trigger: { kind: 'invoke' },
    timeout: 'sendTimeoutSeconds',
    memory: 'sendMemorySizeMiB',
    reservedConcurrency: { prop: 'sendReservedConcurrency', purpose: 'floor' },
    needs: {
      connectionTable: [
        // A user's connections: one strongly consistent Query on the table; a connectionId
        // send's owner (on a 410) through the index.
        {
          sid: 'ListConnections',
          actions: ['dynamodb:Query'],
          on: ['table', 'connectionIdIndex'],
        },
        // Rows of connections that answered 410 Gone, each taken off its user's counter item.
        {
          sid: 'RemoveStaleConnections',
          actions: ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
          on: ['table'],
        },
      ],
      // Appending: read the head, put the message, move the head (lambdas/adapters/).
      messageLog: [
        {
          sid: 'AppendToMessageLog',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        },
      ],
      settings: [
        'sendConcurrency',
        'sendShardSize',
        'sendShardsInFlight',
        'postTimeoutMs',
        'postMaxAttempts',
        'messageRetentionSeconds',
      ],
      managementApi: { sid: 'PostToConnections', verbs: ['POST'] },
      // A send to more than SEND_SHARD_SIZE connections invokes itself once per extra shard.
      invokesItself: { sid: 'InvokeOwnShards' },
      metrics: true,
    },
  },
  sendQueue: {
    entry: 'send-queue.ts',
    description: 'TripSync realtime: delivers queued notifications (SQS, partial batch responses)',
    trigger: { kind: 'queue' },
    timeout: 'sendTimeoutSeconds',
    // It posts a queued send's whole fan-out itself (it does not shard): send's CPU.
    memory: 'sendMemorySizeMiB',
    needs: {
      // The same reads, writes and posts as send: it runs the same send logic per record.
      connectionTable: [
        {
          sid: 'ListConnections',
          actions: ['dynamodb:Query'],
          on: ['table', 'connectionIdIndex'],
        },
        {
          sid: 'RemoveStaleConnections',
          actions: ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'],
          on: ['table'],
        },
      ],
      // Appending as send does, under a claim of the record's message (a conditional put, and
      // an update to take over or release it), and a Query that finds the seq a redelivered
      // record's message was logged at (lambdas/adapters/dynamodb-message-log.ts).
      messageLog: [
        {
          sid: 'AppendToMessageLog',
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        },
        { sid: 'FindRedeliveredMessages', actions: ['dynamodb:Query'] },
      ],
      settings: ['sendConcurrency', 'postTimeoutMs', 'postMaxAttempts', 'messageRetentionSeconds'],
      managementApi: { sid: 'PostToConnections', verbs: ['POST'] },
      deadLetterQueue: { sid: 'RejectBadPayloads' },
      metrics: true,
    },
  },
  presence: {
    entry: 'presence.ts',
    description: 'TripSync realtime: counts the live connections of users (presence)',
    trigger: { kind: 'invoke' },
    // Up to 1,000 Queries: a fan-out of reads, with send's time.
    timeout: 'sendTimeoutSeconds',
    memory: 'memorySizeMiB',
    needs: {
      // One strongly consistent Query per user, on the table only.
      connectionTable: [{ sid: 'CountConnections', actions: ['dynamodb:Query'], on: ['table'] }],
    },
  },
  resume: {
    entry: 'resume.ts',
    description: "TripSync realtime: replays a user's missed messages to a connection (resume)",
    // Two-way: a refused resume is answered with an error frame, to the sender only.
    trigger: { kind: 'route', routeKey: 'resume', twoWay: true },
    timeout: 'handlerTimeoutSeconds',
    memory: 'memorySizeMiB',
    needs: {
      connectionTable: [
        // The connection's protocol and its resume rate limit, on its own row (a conditional
        // UpdateItem; a GetItem tells a refused resume from a missing row).
        {
          sid: 'LimitResumes',
          actions: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
          on: ['table'],
        },
      ],
      // The head (GetItem) and one Query per page.
      messageLog: [{ sid: 'ReadMessageLog', actions: ['dynamodb:GetItem', 'dynamodb:Query'] }],
      settings: ['postTimeoutMs', 'postMaxAttempts'],
      // Posts to the connection that asked, and to no other (the code posts to the event's own
      // connection id; IAM cannot name a connection id known only at runtime).
      managementApi: { sid: 'PostReplay', verbs: ['POST'] },
      metrics: true,
    },
  },
} as const satisfies Record<string, FunctionSpec>;

/**
 * A function's name: `authorizer`, `connect`, `disconnect`, `default`, `send`, `sendQueue`,
 * `presence`, `resume`.
 */
export type FunctionName = keyof typeof FUNCTIONS;

/** The names, in manifest order. */
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/**
 * A function's spec, typed as the general {@link FunctionSpec} (the literal types of
 * {@link FUNCTIONS} make optional fields awkward to read).
 *
 * @example
 * functionSpec('send').needs.managementApi?.verbs; // ['POST']
 */
export function functionSpec(name: FunctionName): FunctionSpec {
  return FUNCTIONS[name];
}

/**
 * The function a route key invokes, or undefined.
 *
 * @example
 * functionForRoute('$default'); // 'default'
 */
export function functionForRoute(routeKey: string): FunctionName | undefined {
  return FUNCTION_NAMES.find((name) => {
    const { trigger } = functionSpec(name);
    return trigger.kind === 'route' && trigger.routeKey === routeKey;
  });
}

/**
 * The route key of a function a route triggers, or undefined.
 *
 * @example
 * routeKeyOf('disconnect'); // '$disconnect'
 * routeKeyOf('send');       // undefined
 */
export function routeKeyOf(name: FunctionName): string | undefined {
  const { trigger } = functionSpec(name);
  return trigger.kind === 'route' ? trigger.routeKey : undefined;
}

/**
 * The functions with a trigger of this kind, in manifest order.
 *
 * @example
 * functionsTriggeredBy('invoke'); // ['send', 'presence']
 */
export function functionsTriggeredBy(kind: FunctionTrigger['kind']): FunctionName[] {
  return FUNCTION_NAMES.filter((name) => functionSpec(name).trigger.kind === kind);
}
