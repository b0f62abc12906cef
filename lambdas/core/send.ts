import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { AWS_LIMITS, SEND_FINISH_MARGIN_MS } from '../shared/limits';
import {
  ConnectionGoneError,
  PostFailedError,
  ShardInvocationError,
  StoreUnavailableError,
} from './errors';
import type {
  ClientProtocol,
  ConnectionGateway,
  ConnectionStore,
  DeliveryKey,
  Log,
  MessageLog,
  ShardInvoker,
} from './ports';
import { type LogPosition, messageFrame } from './protocol-v2';
import { parseSendRequest, type SendRequest, type SendTarget } from './send-request';
import { planShards, readShard, type ShardBody, shardBody, signShard } from './shards';

/** How `send` fans out. Read from the environment once, in `lambdas/config/send.ts`. */
export interface FanOutOptions {
  /** Posts (and per-user lookups) in flight at once. */
  concurrency: number;
  /** Deadline of one post attempt: `PostToConnection` can hang past the SDK's own timeout. */
  postTimeoutMs: number;
  /** Attempts per post when API Gateway throttles (429) or fails (5xx). */
  maxAttempts: number;
  /** Full-jitter backoff: attempt n waits a random time in [0, min(max, base * 2^(n-1))). */
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** What happened to the posts of one `send`. */
export interface DeliveryCounts {
  /** Accepted by API Gateway for the connection. */
  delivered: number;
  /** The connection was gone (410); its row has been removed. Not an error. */
  stale: number;
  /** Not delivered after the allowed attempts (throttled, 5xx, timed out). */
  failed: number;
}

/** One user's part of a `userIds` send: the counts, and the message's seq in the user's log. */
export interface UserDeliveryCounts extends DeliveryCounts {
  /** The message's seq in this user's log; absent when it was not logged (`persist: false`). */
  seq?: number;
}

/**
 * The result of a `send` invocation. `seq` is the message's place in the user's log for a
 * logged `userId` send. `users` is present for a `userIds` send, with an entry for every
 * requested user (all zeros for a user with no open connection), each with its own `seq`.
 *
 * @example
 * { delivered: 3, stale: 1, failed: 0, users: { '42': { delivered: 2, stale: 1, failed: 0, seq: 17 },
 *                                               '7': { delivered: 1, stale: 0, failed: 0, seq: 4 } } }
 */
export interface SendResult extends DeliveryCounts {
  seq?: number;
  users?: Record<string, UserDeliveryCounts>;
}

/**
 * How a send too large for one invocation is sharded (`SEND_SHARD_SIZE`, `SHARD_SIGNING_KEY`):
 * given to a producer's send only, never to a shard.
 */
export interface Sharding {
  /** Invokes this function for one shard. */
  invoker: ShardInvoker;
  /** Most connections one invocation posts to; a send to more is sharded. */
  shardSize: number;
  /** Shard invocations in flight at once; the others wait for one to return. */
  shardsInFlight: number;
  /** Signs each shard payload, so that only this function's own shards are accepted. */
  signingKey: string;
}

export interface SendDependencies {
  store: ConnectionStore;
  /** Each user's message log (protocol v2 replays it after a reconnect). */
  messageLog: MessageLog;
  gateway: ConnectionGateway;
  log: Log;
  options: FanOutOptions;
  /** Epoch milliseconds; injectable so tests can move time. */
  now?: () => number;
  /** In [0, 1); injectable so tests can pin the backoff jitter. */
  random?: () => number;
  /**
   * Epoch milliseconds by which the send must be over (the Lambda timeout, less a margin). No
   * post attempt starts unless its deadline fits before it: the rest count `failed`, and the
   * invocation returns its counts rather than timing out, when an `Event` retry would repeat
   * messages to connections already reached.
   */
  finishBy?: number;
  /** Absent: one invocation posts to every connection, however many. */
  sharding?: Sharding;
  /**
   * The queued message this send delivers (the queue consumer's): a redelivery of it is posted
   * with the seq its first delivery logged, not logged again (see `MessageLog.append`).
   */
  delivery?: DeliveryKey;
  /** Called once per send that got as far as its posts, with what it did (for metrics). */
  report?: (report: SendReport) => void;
}

/** What one send did, for whoever measures it: the counts, and the posts never attempted. */
export interface SendReport extends DeliveryCounts {
  target: SendTarget['kind'];
  /** Live connections of the target. */
  connections: number;
  /** Posts not attempted because time ran out (counted in `failed` too). */
  notAttempted: number;
}

/**
 * What a shard invocation needs: what posting needs, and the key that verifies its payload. No
 * invoker: a shard posts what it was given and invokes nothing.
 */
export interface ShardDependencies extends PostDependencies {
  /** `SHARD_SIGNING_KEY`; without one every shard payload is refused. */
  signingKey: string | undefined;
}

/** What posting to connections needs (a send's own posts, and a shard's). */
type PostDependencies = Pick<
  SendDependencies,
  'store' | 'gateway' | 'log' | 'options' | 'now' | 'random' | 'finishBy'
>;

/**
 * What a shard invocation returns to the send that invoked it: its counts, and each user's.
 *
 * @example
 * { delivered: 999, stale: 1, failed: 0, notAttempted: 0,
 *   users: { '42': { delivered: 999, stale: 1, failed: 0 } } }
 */
export interface ShardResult extends DeliveryCounts {
  /** Posts not started because the sender's time was running out (counted in `failed` too). */
  notAttempted: number;
  users: Record<string, DeliveryCounts>;
}

export type Outcome = keyof DeliveryCounts;

/** Shared by the posts of one send. */
export interface FanOutRun {
  /** Posts (or retries) not started because the invocation's time was running out. */
  notAttempted: number;
}

interface Delivery {
  connectionId: string;
  /** Unknown for a `connectionId` send whose row the index does not show (yet). */
  userId?: string;
  protocol: ClientProtocol;
  /** The frame for this connection: the bare message (v1) or its v2 envelope. */
  data: Uint8Array;
}

/** Each target user's seq (when the message was logged for them). */
type Positions = Map<string, LogPosition & { redelivered?: boolean }>;

/**
 * Delivers one message to every live connection of its target. Validates first (throws
 * `ValidationError`); then, for each user, appends the message to the user's log (unless
 * `persist` is false) and reads the user's connections, and throws `StoreUnavailableError`
 * before anything is posted if any of that failed; then posts concurrently with retries: the
 * bare message to v1 connections, its v2 envelope (with the user's seq) to v2 ones.
 *
 * With `sharding`, a send to more than `shardSize` connections splits them into even shards,
 * posts the first one itself and invokes the function once per other shard, concurrently
 * (`postShard` runs there), then adds up their counts. A shard that fails, times out or whose
 * invocation fails counts all of its connections `failed` (logged as an error); one that Lambda
 * refused to start (throttled) is posted here instead.
 *
 * @example
 * const result = await sendNotification(
 *   { userId: 42, message: { type: 'seat_taken', seat: 3 } },
 *   { store, messageLog, gateway, log, options },
 * );
 * // { delivered: 2, stale: 0, failed: 0, seq: 17 }
 */
export async function sendNotification(
  payload: unknown,
  deps: SendDependencies,
): Promise<SendResult> {
  const request = parseSendRequest(payload);
  const limit = pLimit(deps.options.concurrency);
  const { deliveries, positions } = await resolveDeliveries(request, deps, limit);
  const run: FanOutRun = { notAttempted: 0 };
  const counts = new DeliveryTally(request.target.kind === 'users' ? request.target.userIds : []);
  const { sharding } = deps;
  let shards = 1;
  if (sharding && request.target.kind !== 'connection' && deliveries.length > sharding.shardSize) {
    shards = await postInShards(request, deliveries, positions, deps, sharding, limit, run, counts);
  } else {
    await postAll(deliveries, deps, limit, run, counts);
  }
  const result = resultOf(request.target, counts, positions);
  const summary = {
    target: request.target.kind,
    connections: deliveries.length,
    ...(shards > 1 && { shards }),
    logged: positions.size,
    ...(deps.delivery && {
      redelivered: [...positions.values()].filter((p) => p.redelivered).length,
    }),
    delivered: result.delivered,
    stale: result.stale,
    failed: result.failed,
  };
  deps.report?.({ ...summary, notAttempted: run.notAttempted });
  if (run.notAttempted > 0) {
    deps.log.warn('send ran out of time; some posts were not attempted', {
      ...summary,
      notAttempted: run.notAttempted,
    });
  } else {
    deps.log.info('send finished', summary);
  }
  return result;
}

/**
 * Posts one shard of a sharded send: the payload a send built and signed for it
 * (`lambdas/core/shards.ts`). Throws `ValidationError` for a payload this function did not sign
 * (a producer cannot send one) or whose sender has stopped waiting; posts nothing then. Starts
 * no post that could not finish before its sender stops waiting, and invokes nothing, whatever
 * the payload holds.
 *
 * @example
 * const result = await postShard(event, { store, gateway, log, options, finishBy, signingKey });
 * // { delivered: 834, stale: 0, failed: 0, users: { '42': { delivered: 834, stale: 0, failed: 0 } } }
 */
export async function postShard(payload: unknown, deps: ShardDependencies): Promise<ShardResult> {
  const body = readShard(payload, deps.signingKey, (deps.now ?? Date.now)());
  const finishBy =
    body.replyBy === undefined
      ? deps.finishBy
      : Math.min(deps.finishBy ?? Number.POSITIVE_INFINITY, body.replyBy - SEND_FINISH_MARGIN_MS);
  const messageBytes = encoder.encode(body.messageJson);
  const deliveries: Delivery[] = [];
  for (const { userId, position, v1, v2 } of body.users) {
    const v2Frame = v2.length > 0 ? encoder.encode(messageFrame(body.messageJson, position)) : [];
    for (const connectionId of v1) {
      deliveries.push({ userId, connectionId, protocol: 'v1', data: messageBytes });
    }
    for (const connectionId of v2) {
      deliveries.push({
        userId,
        connectionId,
        protocol: 'tripsync.v2',
        data: v2Frame as Uint8Array,
      });
    }
  }
  const run: FanOutRun = { notAttempted: 0 };
  const counts = new DeliveryTally(body.users.map((user) => user.userId));
  await postAll(deliveries, { ...deps, finishBy }, pLimit(deps.options.concurrency), run, counts);
  const summary = { connections: deliveries.length, users: body.users.length, ...counts.totals };
  if (run.notAttempted > 0) {
    deps.log.warn('shard ran out of time; some posts were not attempted', {
      ...summary,
      notAttempted: run.notAttempted,
    });
  } else {
    deps.log.info('shard finished', summary);
  }
  return { ...counts.totals, notAttempted: run.notAttempted, users: counts.byUser() };
}

/** Posts to every delivery, `limit` at a time, and counts each outcome. */
async function postAll(
  deliveries: readonly Delivery[],
  deps: PostDependencies,
  limit: ReturnType<typeof pLimit>,
  run: FanOutRun,
  counts: DeliveryTally,
): Promise<void> {
  await Promise.all(
    deliveries.map((delivery) =>
      limit(async () => counts.add(delivery.userId, await deliver(delivery, deps, run))),
    ),
  );
}

/**
 * Splits the deliveries into shards and works through them: this invocation posts one shard
 * after another itself while `shardsInFlight` invocations of the function post the others, each
 * taking the next shard when it is done, so that all of them finish together. Returns the
 * number of shards. The invocations are abandoned at `finishBy`, by when each shard has been
 * told to stop posting and reply.
 */
async function postInShards(
  request: SendRequest,
  deliveries: Delivery[],
  positions: Positions,
  deps: SendDependencies,
  sharding: Sharding,
  limit: ReturnType<typeof pLimit>,
  run: FanOutRun,
  counts: DeliveryTally,
): Promise<number> {
  // Every delivery of a user or users send has its user: only a connectionId send lacks one.
  const entries = deliveries as Array<Delivery & { userId: string }>;
  const shards = planShards(entries, sharding.shardSize, request.messageJson);
  const waiting = new AbortController();
  const now = deps.now ?? Date.now;
  const timer =
    deps.finishBy === undefined
      ? undefined
      : setTimeout(
          () => waiting.abort(new Error('the send ran out of time waiting for the shard')),
          Math.max(0, deps.finishBy - now()),
        );
  let next = 0;
  /** The next shard nobody has taken yet, and its index. */
  const take = (): [typeof entries, number] | undefined => {
    if (next >= shards.length) return undefined;
    const index = next++;
    return [shards[index] as typeof entries, index];
  };

  const postHere = async () => {
    for (let taken = take(); taken; taken = take()) {
      await postAll(taken[0], deps, limit, run, counts);
    }
  };
  const invokeShards = async () => {
    for (let taken = take(); taken; taken = take()) {
      const [shard, index] = taken;
      const body = shardBody(shard, request.messageJson, positions, deps.finishBy);
      const payload = JSON.stringify(signShard(body, sharding.signingKey));
      const context = { shard: index, of: shards.length, connections: shard.length };
      try {
        const result = await sharding.invoker.invoke(payload, waiting.signal);
        const { byUser, notAttempted } = shardCounts(result, body);
        for (const [userId, userCounts] of byUser) {
          for (const outcome of OUTCOMES) counts.add(userId, outcome, userCounts[outcome]);
        }
        // The shard's own posts that its time did not allow: reported with this send's.
        run.notAttempted += notAttempted;
      } catch (error) {
        if (error instanceof ShardInvocationError && error.notStarted && !waiting.signal.aborted) {
          // Lambda refused to start it (throttled): nothing was posted, so post it here.
          deps.log.warn('shard invocation refused; posting its connections here', {
            ...context,
            error: errorText(error),
          });
          await postAll(shard, deps, limit, run, counts);
          continue;
        }
        // Some of its posts may have been made: counted failed, never made again.
        deps.log.error('shard failed; its connections count as failed', {
          ...context,
          error: errorText(error),
        });
        for (const delivery of shard) counts.add(delivery.userId, 'failed');
      }
    }
  };
  try {
    // This invocation takes the first shard before any invocation starts.
    const invokers = Math.min(sharding.shardsInFlight, shards.length - 1);
    await Promise.all([postHere(), ...Array.from({ length: invokers }, invokeShards)]);
  } finally {
    clearTimeout(timer);
  }
  return shards.length;
}

const OUTCOMES: readonly Outcome[] = ['delivered', 'stale', 'failed'];

/**
 * A shard's counts by user, checked against what it was given, and its posts not attempted: a
 * result that does not account for each of its connections exactly once, or that says more
 * posts were not attempted than failed, is an error (the shard then counts failed).
 */
function shardCounts(
  result: unknown,
  body: ShardBody,
): { byUser: Map<string, DeliveryCounts>; notAttempted: number } {
  const users = (result as { users?: unknown } | null)?.users;
  if (typeof users !== 'object' || users === null) {
    throw new Error(`shard returned no per-user counts: ${JSON.stringify(result)?.slice(0, 200)}`);
  }
  const counts = new Map<string, DeliveryCounts>();
  for (const { userId, v1, v2 } of body.users) {
    const own = Object.hasOwn(users, userId)
      ? (users as Record<string, Record<string, unknown>>)[userId]
      : undefined;
    const values = OUTCOMES.map((outcome) => own?.[outcome]);
    const valid = values.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
    const total = valid ? (values as number[]).reduce((a, b) => a + b, 0) : -1;
    if (total !== v1.length + v2.length) {
      throw new Error(
        `shard returned counts for user ${userId} that do not add up to its ${v1.length + v2.length} connection(s)`,
      );
    }
    const [delivered, stale, failed] = values as number[];
    counts.set(userId, { delivered, stale, failed } as DeliveryCounts);
  }
  const failed = [...counts.values()].reduce((sum, c) => sum + c.failed, 0);
  const notAttempted = (result as { notAttempted?: unknown }).notAttempted;
  if (
    !Number.isSafeInteger(notAttempted) ||
    (notAttempted as number) < 0 ||
    (notAttempted as number) > failed
  ) {
    throw new Error(
      `shard returned notAttempted ${JSON.stringify(notAttempted)}, not a count of its ${failed} failed post(s)`,
    );
  }
  return { byUser: counts, notAttempted: notAttempted as number };
}

async function resolveDeliveries(
  request: SendRequest,
  deps: SendDependencies,
  limit: ReturnType<typeof pLimit>,
): Promise<{ deliveries: Delivery[]; positions: Positions }> {
  const nowMs = (deps.now ?? Date.now)();
  const nowSeconds = Math.floor(nowMs / 1000);
  const { target } = request;
  const positions: Positions = new Map();
  if (target.kind === 'connection') {
    // The connection's protocol decides its frame; only the index knows it from the id alone.
    const found = await deps.store.findConnection(target.connectionId);
    if (!found) {
      deps.log.warn('connectionId send to a connection the index does not show; posting as v1', {
        connectionId: target.connectionId,
      });
    }
    const protocol = found?.protocol ?? 'v1';
    return {
      deliveries: [
        {
          connectionId: target.connectionId,
          ...(found && { userId: found.userId }),
          protocol,
          data: frameFor(protocol, request),
        },
      ],
      positions,
    };
  }

  const userIds = target.kind === 'user' ? [target.userId] : target.userIds;
  // Connections first: if the table cannot be read, nothing has been logged yet either.
  const perUser = await Promise.all(
    userIds.map((userId) =>
      limit(async () => ({
        userId,
        connections: await deps.store.listConnections(userId, nowSeconds),
      })),
    ),
  );
  if (request.log) {
    const appended = await Promise.allSettled(
      userIds.map((userId) =>
        limit(() => deps.messageLog.append(userId, request.messageJson, nowMs, deps.delivery)),
      ),
    );
    const failures: unknown[] = [];
    appended.forEach((outcome, index) => {
      if (outcome.status === 'fulfilled') positions.set(userIds[index] as string, outcome.value);
      else failures.push(outcome.reason);
    });
    if (failures.length > 0) throw halfWayError(failures, userIds, positions, deps.delivery);
  } else if (request.persist) {
    deps.log.warn('message too large to log for protocol v2; sent to v1 connections only', {
      bytes: request.messageBytes.byteLength,
    });
  }

  const deliveries: Delivery[] = [];
  for (const { userId, connections } of perUser) {
    // One v2 frame per user (it carries the user's seq), encoded only if a v2 connection needs it.
    const needsV2 = connections.some((c) => c.protocol !== 'v1');
    const v2 = needsV2
      ? encoder.encode(messageFrame(request.messageJson, positions.get(userId)))
      : request.messageBytes;
    for (const { connectionId, protocol } of connections) {
      deliveries.push({
        userId,
        connectionId,
        protocol,
        data: protocol === 'v1' ? request.messageBytes : v2,
      });
    }
  }
  return { deliveries, positions };
}

const encoder = new TextEncoder();

function frameFor(protocol: ClientProtocol, request: SendRequest): Uint8Array {
  return protocol === 'v1'
    ? request.messageBytes
    : encoder.encode(messageFrame(request.messageJson));
}

/**
 * Nothing has been posted, but the message may already be in some users' logs: DynamoDB has no
 * transaction across users that dynalite also supports. A retry logs it again for them (they
 * may see it twice, never zero times), unless it is a redelivery of a queued message, which
 * keeps their seqs; the message names them so a producer can retry the rest.
 */
function halfWayError(
  failures: unknown[],
  userIds: string[],
  positions: Positions,
  delivery: DeliveryKey | undefined,
): Error {
  const [first] = failures;
  if (positions.size === 0) return first instanceof Error ? first : new Error(String(first));
  const logged = [...positions].map(([userId, { seq }]) => `${userId} (seq ${seq})`);
  const shown = logged.slice(0, 20).join(', ') + (logged.length > 20 ? ', …' : '');
  return new StoreUnavailableError(
    `append for ${userIds.length - positions.size} of ${userIds.length} user(s)`,
    first,
    'message log',
    `nothing was posted; already logged for ${positions.size} user(s), ${
      delivery ? 'whose seqs a redelivery keeps' : 'whom a retry logs again'
    }: ${shown}`,
  );
}

async function deliver(
  delivery: Delivery,
  deps: PostDependencies,
  run: FanOutRun,
): Promise<Outcome> {
  if (delivery.data.byteLength > AWS_LIMITS.maxMessageBytes) {
    // A message up to 128 KiB whose v2 envelope does not fit: API Gateway would refuse it (413).
    deps.log.warn('message too large for a protocol v2 connection; not posted', {
      connectionId: delivery.connectionId,
      bytes: delivery.data.byteLength,
    });
    return 'failed';
  }
  const outcome = await postWithRetry(delivery.connectionId, delivery.data, deps, run);
  if (outcome === 'stale') await removeStaleConnection(delivery, deps);
  return outcome;
}

/**
 * Posts one frame to one connection, retrying throttling and 5xx with full-jitter backoff, each
 * attempt with its own deadline, none started past `finishBy`.
 *
 * @example
 * const outcome = await postWithRetry('BFaT_fALIAMCKug=', bytes, deps, { notAttempted: 0 });
 */
export async function postWithRetry(
  connectionId: string,
  data: Uint8Array,
  {
    gateway,
    log,
    options,
    random = Math.random,
    now = Date.now,
    finishBy,
  }: Pick<SendDependencies, 'gateway' | 'log' | 'options' | 'random' | 'now' | 'finishBy'>,
  run: FanOutRun,
): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    if (finishBy !== undefined && now() + options.postTimeoutMs > finishBy) {
      run.notAttempted++;
      return 'failed';
    }
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`post timed out after ${options.postTimeoutMs} ms`)),
      options.postTimeoutMs,
    );
    try {
      await gateway.postToConnection(connectionId, data, deadline.signal);
      return 'delivered';
    } catch (error) {
      if (error instanceof ConnectionGoneError) return 'stale';
      const retryable = error instanceof PostFailedError && error.retryable;
      if (!retryable || attempt >= options.maxAttempts) {
        log.warn('post failed', { connectionId, attempts: attempt, error: errorText(error) });
        return 'failed';
      }
      const ceiling = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** (attempt - 1));
      await sleep(random() * ceiling);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A 410 means the client is gone for good: remove its row (the TTL is only the backstop). */
async function removeStaleConnection(delivery: Delivery, { store, log }: PostDependencies) {
  const { connectionId } = delivery;
  try {
    const userId = delivery.userId ?? (await store.findUserId(connectionId));
    if (userId === undefined) {
      log.info('stale connection had no row', { connectionId });
      return;
    }
    await store.deleteConnection(userId, connectionId);
    log.info('removed stale connection', { connectionId, userId });
  } catch (error) {
    // Delivery results stay true; the row's TTL removes it later.
    log.error('could not remove stale connection', { connectionId, error: errorText(error) });
  }
}

/** Counts outcomes, in all and for each of the users named up front. */
class DeliveryTally {
  readonly totals: DeliveryCounts = { delivered: 0, stale: 0, failed: 0 };
  // A user id may be any string, `__proto__` included.
  private readonly users: Record<string, DeliveryCounts> = Object.create(null);

  constructor(userIds: readonly string[]) {
    for (const userId of userIds) this.users[userId] = { delivered: 0, stale: 0, failed: 0 };
  }

  add(userId: string | undefined, outcome: Outcome, count = 1): void {
    this.totals[outcome] += count;
    if (userId !== undefined && Object.hasOwn(this.users, userId)) {
      (this.users[userId] as DeliveryCounts)[outcome] += count;
    }
  }

  /** Each named user's counts, as a plain object. */
  byUser(): Record<string, DeliveryCounts> {
    return { ...this.users };
  }
}

function resultOf(target: SendTarget, counts: DeliveryTally, positions: Positions): SendResult {
  const totals = { ...counts.totals };
  if (target.kind !== 'users') {
    const seq = target.kind === 'user' ? positions.get(target.userId)?.seq : undefined;
    return seq === undefined ? totals : { ...totals, seq };
  }
  const users: Record<string, UserDeliveryCounts> = Object.create(null);
  for (const [userId, userCounts] of Object.entries(counts.byUser())) {
    const seq = positions.get(userId)?.seq;
    users[userId] = { ...userCounts, ...(seq !== undefined && { seq }) };
  }
  return { ...totals, users: { ...users } };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
