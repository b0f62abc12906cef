/**
 * Messages between `bench/stack-process.ts` and its parent (the benchmark, the reliability
 * load test), over Node's IPC channel.
 */

/** How the stack process starts its stack; passed as JSON in its first argument. */
export interface StackProcessOptions {
  /** Write the stack's readable log lines to stdout. @default false */
  log?: boolean;
  /** `POWERTOOLS_LOG_LEVEL` of the handlers' JSON logs (on stdout). @default 'SILENT' */
  handlerLogLevel?: string;
  /** HS256 secret. @default the local default */
  jwtSecret?: string;
  idleTimeoutMs?: number;
  /** Raised by the benchmark to what it opens for one user (the check itself still runs). */
  maxConnectionsPerUser?: number;
  /** `SEND_SHARD_SIZE` of the send function. @default the deployed default */
  sendShardSize?: number;
}

/** What the parent asks the stack process. */
export type StackRequest =
  | { command: 'reset' }
  | { command: 'stats' }
  /** With `gc` (the default) after a full garbage collection. */
  | { command: 'memory'; gc?: boolean }
  | { command: 'rawBroadcast'; message: string }
  | { command: 'cpu' }
  /** New environment variables for a function (its workers start again with them). */
  | { command: 'setFunctionEnvironment'; name: string; variables: Record<string, string> }
  | { command: 'startProfile' }
  | { command: 'stopProfile'; file: string }
  | { command: 'stop' };

/** A reply, matched to its request by `id`; id 0 is the "ready" message with `StackInfo`. */
export type StackResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string };

/** Where the stack process's servers are, sent once when it is ready. */
export interface StackInfo {
  /** The gateway's WebSocket URL. */
  url: string;
  /** The origin of `@connections` and Lambda Invoke. */
  endpoint: string;
  dynamoDbEndpoint: string;
  tableName: string;
  /** The message log table. */
  messageTableName: string;
  region: string;
  jwtSecret: string;
  /** The raw `ws` server: frames written straight to sockets, the physical baseline. */
  rawUrl: string;
  /** `SEND_CONCURRENCY` as the send function read it. */
  sendConcurrency: number;
  /** `SEND_SHARD_SIZE` and `SEND_SHARDS_IN_FLIGHT` as the send function reads them. */
  sendShardSize: number;
  sendShardsInFlight: number;
}

/** Counters since the last `reset`. */
export interface StackStats {
  /** DynamoDB requests the handlers' clients sent, by operation, counted by SDK middleware. */
  sdkRequests: Record<string, number>;
  /** DynamoDB requests dynalite received, by operation (`X-Amz-Target`). */
  wireRequests: Record<string, number>;
  /** Completed invocations by function name. */
  invocations: Record<string, number>;
  /** Management API posts as the gateway received them: in flight, peak, how many arrived. */
  posts: { inFlight: number; peak: number; total: number };
  /**
   * The same posts as the send function's HTTP client wrote them: the most one worker had
   * written and not yet seen answered.
   */
  sent: { peak: number };
  /** From the first DynamoDB request's arrival to the last one's answer (NaN: none). */
  dynamodbMs: number;
  /** From the first Management API post's arrival to the last one's answer (NaN: none). */
  postsMs: number;
  /** Open connections on the gateway and on the raw server. */
  connections: number;
  rawConnections: number;
}

/** `process.memoryUsage()`, after a forced garbage collection unless asked otherwise, in bytes. */
export interface StackMemory {
  rss: number;
  heapUsed: number;
  external: number;
  /** The process's peak resident set size so far (getrusage's ru_maxrss). */
  peakRss: number;
}
