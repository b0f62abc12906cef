import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { AWS_LIMITS } from '../shared/limits';
import { ConnectionGoneError, PostFailedError, StoreUnavailableError } from './errors';
import type {
  ClientProtocol,
  ConnectionGateway,
  ConnectionStore,
  DeliveryKey,
  Log,
  MessageLog,
} from './ports';
import { type LogPosition, messageFrame } from './protocol-v2';
import { parseSendRequest, type SendRequest, type SendTarget } from './send-request';

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
  const outcomes = await Promise.all(
    deliveries.map((delivery) => limit(() => deliver(delivery, deps, run))),
  );
  const result = tally(request.target, deliveries, outcomes, positions);
  const summary = {
    target: request.target.kind,
    connections: deliveries.length,
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

async function deliver(delivery: Delivery, deps: SendDependencies, run: FanOutRun) {
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
async function removeStaleConnection(delivery: Delivery, { store, log }: SendDependencies) {
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

function tally(
  target: SendTarget,
  deliveries: Delivery[],
  outcomes: Outcome[],
  positions: Positions,
): SendResult {
  const totals: DeliveryCounts = { delivered: 0, stale: 0, failed: 0 };
  if (target.kind !== 'users') {
    for (const outcome of outcomes) totals[outcome]++;
    const seq = target.kind === 'user' ? positions.get(target.userId)?.seq : undefined;
    return seq === undefined ? totals : { ...totals, seq };
  }
  const users: Record<string, UserDeliveryCounts> = Object.create(null);
  for (const userId of target.userIds) {
    const seq = positions.get(userId)?.seq;
    users[userId] = { delivered: 0, stale: 0, failed: 0, ...(seq !== undefined && { seq }) };
  }
  outcomes.forEach((outcome, index) => {
    totals[outcome]++;
    const userId = deliveries[index]?.userId;
    if (userId !== undefined) (users[userId] as DeliveryCounts)[outcome]++;
  });
  return { ...totals, users: { ...users } };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
